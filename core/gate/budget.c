/* budget.c -- the budgets a job is held against; see budget.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "budget.h"
#include "pricing.h"

void
aif_budget_plan(const struct aif_principal *who, const struct aif_role *role,
    const struct aif_tenant *t, const struct aif_model *m, int64_t prompt_tokens,
    int64_t max_output_tokens, struct aif_budget_plan *out)
{
	int64_t key_budget = who->monthly_budget_micros >= 0 ? who->monthly_budget_micros :
	    role->monthly_budget_micros;

	memset(out, 0, sizeof(*out));
	out->hold_micros = aif_price_micros(&m->pricing, prompt_tokens, max_output_tokens);
	if (key_budget >= 0) {
		struct aif_budget_subject *s = &out->subject[out->n++];
		/* the lineage: a rotated key keeps spending the same budget */
		snprintf(s->subject, sizeof(s->subject), "key:%" PRIu64,
		    who->lineage_id);
		s->limit_micros = key_budget;
	}
	if (t != NULL && t->monthly_budget_micros >= 0) {
		struct aif_budget_subject *s = &out->subject[out->n++];
		snprintf(s->subject, sizeof(s->subject), "tenant:%.150s", who->tenant);
		s->limit_micros = t->monthly_budget_micros;
	}
	if (out->n == 0 || out->hold_micros == 0) {
		/* nothing to hold (no budget, or a free model) */
		out->n = 0;
		out->hold_micros = 0;
	}
}
