/* autoscale.h -- the autoscaler's decision, kept pure so it can be tested: from the
 * queue (depth of queued + running jobs, age of the oldest queued one), the current
 * number of workers (or engine replicas) and the policy, how many there should be.
 * Scale up fast (as soon as the queue per unit exceeds the target, after the up
 * cooldown), down slowly (only after the down cooldown and one unit at a time), and
 * always stay within [min, max]. */
#ifndef AIF_AUTOSCALE_H
#define AIF_AUTOSCALE_H

#include <stdint.h>

struct aif_scale_policy {
	int	 min;			/* units (workers or replicas) */
	int	 max;
	int	 target_per_unit;	/* queued + running jobs one unit should carry */
	int64_t	 max_age_ms;		/* an older oldest queued job forces +1 (0: off) */
	int64_t	 up_cooldown_ms;
	int64_t	 down_cooldown_ms;
};

struct aif_scale_input {
	int	 current;
	int64_t	 depth;			/* queued + running */
	int64_t	 oldest_age_ms;		/* of the oldest queued job, 0 if none */
	int64_t	 since_last_up_ms;	/* since the last scale-up (large if never) */
	int64_t	 since_last_down_ms;
};

struct aif_scale_decision {
	int	 desired;
	int	 action;		/* +1 up, -1 down, 0 hold */
	char	 reason[160];
};

void	aif_scale_decide(const struct aif_scale_policy *p, const struct aif_scale_input *in,
	    struct aif_scale_decision *out);

#endif
