/* scaling.h -- the autoscale_decisions table: every decision of `aif-cron autoscale`
 * (hold included), for its cooldowns and for operators (aifctl workers). */
#ifndef AIF_SCALING_H
#define AIF_SCALING_H

#include <stdint.h>

#include "db.h"
#include "err.h"

/* Milliseconds since the last decision of `action` ("up", "down") for `scope`
 * ("workers", "engine:<model>"); a large number when there was none. */
enum aif_err	aif_scaling_since(struct aif_db *db, const char *scope, const char *action,
		    int64_t *ms);

/* Records a decision; command_rc is the command's exit status, or INT32_MIN when no
 * command ran. Strings borrowed. */
enum aif_err	aif_scaling_record(struct aif_db *db, const char *scope, int current,
		    int desired, const char *action, const char *reason, int command_rc);

/* The last `limit` decisions, newest first. */
enum aif_decision_col {
	AIF_SD_AT, AIF_SD_SCOPE, AIF_SD_CURRENT, AIF_SD_DESIRED, AIF_SD_ACTION,
	AIF_SD_REASON,
};
enum aif_err	aif_scaling_recent(struct aif_db *db, int limit, struct aif_dbrows **out);

#endif
