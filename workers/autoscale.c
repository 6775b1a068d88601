/* autoscale.c -- the scaling decision; see autoscale.h. */
#include <stdio.h>

#include "autoscale.h"

static int
clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void
aif_scale_decide(const struct aif_scale_policy *p, const struct aif_scale_input *in,
    struct aif_scale_decision *out)
{
	int target = p->target_per_unit > 0 ? p->target_per_unit : 1;
	int64_t need = (in->depth + target - 1) / target;	/* ceil */
	int want, cur = in->current;

	if (need > p->max)
		need = p->max;
	want = clamp((int)need, p->min, p->max);
	if (p->max_age_ms > 0 && in->oldest_age_ms > p->max_age_ms && want <= cur)
		want = clamp(cur + 1, p->min, p->max);
	out->desired = cur;
	out->action = 0;
	if (cur < p->min || cur > p->max) {
		/* outside the bounds: fix it now, straight to what the queue needs */
		out->desired = cur < p->min ? want : p->max;
		out->action = out->desired > cur ? 1 : -1;
		snprintf(out->reason, sizeof(out->reason), "%d is outside [%d, %d]; depth %lld",
		    cur, p->min, p->max, (long long)in->depth);
		return;
	}
	if (want > cur) {
		if (in->since_last_up_ms < p->up_cooldown_ms) {
			snprintf(out->reason, sizeof(out->reason), "wants %d, up cooldown", want);
			return;
		}
		out->desired = want;
		out->action = 1;
		snprintf(out->reason, sizeof(out->reason), "depth %lld > %d per unit x %d%s",
		    (long long)in->depth, target, cur,
		    in->oldest_age_ms > p->max_age_ms && p->max_age_ms > 0 ? " or queue too old" : "");
		return;
	}
	if (want < cur) {
		if (in->since_last_down_ms < p->down_cooldown_ms ||
		    in->since_last_up_ms < p->down_cooldown_ms) {
			snprintf(out->reason, sizeof(out->reason), "wants %d, down cooldown", want);
			return;
		}
		out->desired = cur - 1;	/* one at a time */
		out->action = -1;
		snprintf(out->reason, sizeof(out->reason), "depth %lld needs %d", (long long)in->depth,
		    want);
		return;
	}
	snprintf(out->reason, sizeof(out->reason), "depth %lld fits %d", (long long)in->depth, cur);
}
