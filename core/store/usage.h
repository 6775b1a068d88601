/* usage.h -- the `usage` table beyond the row each success writes (store/queue.h):
 * daily rollups into usage_daily, and reports of metered usage for aifctl. */
#ifndef AIF_USAGE_H
#define AIF_USAGE_H

#include <stdint.h>

#include "db.h"
#include "err.h"

/* Folds `usage` into usage_daily for today and yesterday (idempotent); *rows gets the
 * number of rows written. */
enum aif_err	aif_usage_rollup(struct aif_db *db, uint64_t *rows);

/* What a report groups by. */
enum aif_usage_by { AIF_USAGE_BY_KEY, AIF_USAGE_BY_TENANT, AIF_USAGE_BY_MODEL };

/* Usage between the days since and until (YYYY-MM-DD, both included), grouped, most
 * expensive first. */
enum aif_usage_col {
	AIF_US_NAME, AIF_US_JOBS, AIF_US_PROMPT_TOKENS, AIF_US_COMPLETION_TOKENS,
	AIF_US_TOTAL_TOKENS, AIF_US_COST_MICROS,
};
enum aif_err	aif_usage_report(struct aif_db *db, enum aif_usage_by by,
		    const char *since, const char *until, struct aif_dbrows **out);

#endif
