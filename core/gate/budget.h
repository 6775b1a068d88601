/* budget.h -- which monthly budgets a job is held against and for how much: the
 * caller's key (its own budget, else its role's default) and its tenant (YAML
 * tenants[]); the hold is the job's worst-case cost at the model's prices. The holds
 * themselves are store/ledger.h. Thread-safe; no state. */
#ifndef AIF_BUDGET_H
#define AIF_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "ledger.h"

/* What to hold for one job. */
struct aif_budget_plan {
	struct aif_budget_subject subject[AIF_BUDGET_SUBJECTS_MAX];
	size_t		 n;		/* 0: nothing to hold (no budget, or a free model) */
	int64_t		 hold_micros;	/* the worst-case cost, 0 when n is 0 */
};

/* The plan for a job of model m by `who` under `role` and tenant t (NULL: unlisted),
 * whose prompt is `prompt_tokens` and whose answer may take `max_output_tokens`. */
void	aif_budget_plan(const struct aif_principal *who, const struct aif_role *role,
	    const struct aif_tenant *t, const struct aif_model *m, int64_t prompt_tokens,
	    int64_t max_output_tokens, struct aif_budget_plan *out);

#endif
