/* ledger.c -- budget holds, captures and releases; see ledger.h. */
#include <string.h>

#include "ledger.h"

#define MONTH	"DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m')"

enum aif_err
aif_ledger_hold(struct aif_db *db, uint64_t job_id, const struct aif_budget_subject *s,
    size_t n, int64_t amount)
{
	static const char ensure[] =
	    "INSERT INTO budget_balances (subject, month, limit_micros) VALUES (?, " MONTH ", ?)"
	    " ON DUPLICATE KEY UPDATE limit_micros = VALUES(limit_micros)";
	static const char hold[] =
	    "UPDATE budget_balances SET held_micros = held_micros + ?"
	    " WHERE subject = ? AND month = " MONTH
	    " AND held_micros + spent_micros + ? <= limit_micros";
	static const char undo[] =
	    "UPDATE budget_balances SET held_micros = held_micros - ?"
	    " WHERE subject = ? AND month = " MONTH;
	static const char ledger[] =
	    "INSERT INTO budget_ledger (job_id, subject, month, entry, amount_micros)"
	    " VALUES (?, ?, " MONTH ", 'hold', ?)";
	enum aif_err err;
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t affected = 0;
		struct aif_dbp pe[] = { AIF_P_STR(s[i].subject), AIF_P_I64(s[i].limit_micros) };
		struct aif_dbp ph[] = { AIF_P_I64(amount), AIF_P_STR(s[i].subject),
		    AIF_P_I64(amount) };
		if ((err = AIF_DB_EXEC(db, ensure, pe, NULL, NULL)) != AIF_OK ||
		    (err = AIF_DB_EXEC(db, hold, ph, &affected, NULL)) != AIF_OK)
			goto undo;
		if (affected != 1) {
			err = AIF_FORBIDDEN;
			goto undo;
		}
	}
	for (i = 0; i < n; i++) {
		struct aif_dbp pl[] = { AIF_P_I64(job_id), AIF_P_STR(s[i].subject),
		    AIF_P_I64(amount) };
		if ((err = AIF_DB_EXEC(db, ledger, pl, NULL, NULL)) != AIF_OK)
			return err;	/* the caller's transaction rolls everything back */
	}
	return AIF_OK;
undo:
	while (i-- > 0) {
		struct aif_dbp pu[] = { AIF_P_I64(amount), AIF_P_STR(s[i].subject) };
		(void)AIF_DB_EXEC(db, undo, pu, NULL, NULL);
	}
	return err;
}

/* Moves hold -> spent (capture) or hold -> nothing (release) for every subject. */
static enum aif_err
settle(struct aif_db *db, uint64_t job_id, int capture, int64_t actual)
{
	/* a capture never passes its hold (the caller records an overage) */
	static const char bal[] =
	    "UPDATE budget_balances b JOIN budget_ledger l"
	    " ON l.subject = b.subject AND l.month = b.month"
	    " SET b.held_micros = GREATEST(b.held_micros - l.amount_micros, 0),"
	    " b.spent_micros = b.spent_micros + LEAST(?, l.amount_micros)"
	    " WHERE l.job_id = ? AND l.entry = 'hold'";
	static const char cap[] =
	    "INSERT INTO budget_ledger (job_id, subject, month, entry, amount_micros)"
	    " SELECT job_id, subject, month, 'capture', LEAST(?, amount_micros)"
	    " FROM budget_ledger WHERE job_id = ? AND entry = 'hold'";
	static const char rel[] =
	    "INSERT INTO budget_ledger (job_id, subject, month, entry, amount_micros)"
	    " SELECT job_id, subject, month, 'release', GREATEST(amount_micros - ?, 0)"
	    " FROM budget_ledger WHERE job_id = ? AND entry = 'hold'";
	struct aif_dbp pb[] = { AIF_P_I64(capture ? actual : 0), AIF_P_I64(job_id) };
	struct aif_dbp pc[] = { AIF_P_I64(actual), AIF_P_I64(job_id) };
	struct aif_dbp pr[] = { AIF_P_I64(capture ? actual : 0), AIF_P_I64(job_id) };
	enum aif_err err;

	if ((err = AIF_DB_EXEC(db, bal, pb, NULL, NULL)) != AIF_OK)
		return err;
	if (capture && (err = AIF_DB_EXEC(db, cap, pc, NULL, NULL)) != AIF_OK)
		return err;
	return AIF_DB_EXEC(db, rel, pr, NULL, NULL);
}

enum aif_err
aif_ledger_capture(struct aif_db *db, uint64_t job_id, int64_t actual)
{
	return settle(db, job_id, 1, actual < 0 ? 0 : actual);
}

enum aif_err
aif_ledger_release(struct aif_db *db, uint64_t job_id)
{
	return settle(db, job_id, 0, 0);
}

enum aif_err
aif_ledger_remaining(struct aif_db *db, const struct aif_budget_subject *s, size_t n,
    int64_t *remaining)
{
	static const char sql[] =
	    "SELECT MIN(limit_micros - held_micros - spent_micros) FROM budget_balances"
	    " WHERE subject IN (?, ?) AND month = " MONTH;
	_Static_assert(AIF_BUDGET_SUBJECTS_MAX == 2, "one marker per subject");
	struct aif_dbp p[] = { AIF_P_STR(n > 0 ? s[0].subject : NULL),
	    AIF_P_STR(n > 1 ? s[1].subject : NULL) };
	struct aif_dbrows *r = NULL;
	enum aif_err err;

	*remaining = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &r)) != AIF_OK)
		return err;
	if (r->nrows != 1 || aif_dbrows_get(r, 0, 0) == NULL)
		err = AIF_NOTFOUND;
	else
		*remaining = aif_dbrows_i64(r, 0, 0);
	aif_dbrows_free(r);
	return err;
}
