/* ledger.h -- the budget_balances and budget_ledger tables: monthly budgets in integer
 * micro-units. A hold for a job's worst-case cost is placed at admission (in the
 * enqueue transaction), captured at the actual cost when the job succeeds (in its
 * success transaction) with the rest released, and fully released when the job fails
 * or is cancelled (the first compensation). Balances per subject ("key:<id>",
 * "tenant:<name>") and month never let held + spent pass the limit at admission; every
 * movement is a budget_ledger row. All functions run inside the caller's transaction.
 * Which subjects and how much to hold is gate/budget.h. */
#ifndef AIF_LEDGER_H
#define AIF_LEDGER_H

#include <stdint.h>

#include "db.h"
#include "err.h"

#define AIF_BUDGET_SUBJECTS_MAX	2

struct aif_budget_subject {
	char	 subject[200];		/* "key:12", "tenant:team-a" */
	int64_t	 limit_micros;		/* monthly limit, >= 0 */
};

/* Holds amount for job_id on every subject (this month, UTC). AIF_OK when all holds
 * fit; AIF_FORBIDDEN when one does not (the caller rolls back or undoes: nothing held
 * for this job is left by this function then); AIF_DB/AIF_UNAVAILABLE/AIF_CONFLICT. */
enum aif_err	aif_ledger_hold(struct aif_db *db, uint64_t job_id,
		    const struct aif_budget_subject *s, size_t n, int64_t amount);

/* Captures `actual` of job_id's holds, never more than a hold, and releases the rest
 * (ledger + balances). Does nothing for a job without holds. */
enum aif_err	aif_ledger_capture(struct aif_db *db, uint64_t job_id, int64_t actual);

/* Releases every hold of job_id (failure, cancellation). Does nothing without holds. */
enum aif_err	aif_ledger_release(struct aif_db *db, uint64_t job_id);

/* What is left this month of the tightest of the n budgets s (limit - held - spent,
 * in micro-units; may be negative past a capture) into *remaining. AIF_NOTFOUND when
 * none of them has a balance row yet. Runs on its own (no transaction needed). */
enum aif_err	aif_ledger_remaining(struct aif_db *db, const struct aif_budget_subject *s,
		    size_t n, int64_t *remaining);

#endif
