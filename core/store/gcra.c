/* gcra.c -- GCRA limits in MariaDB; see gcra.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "gcra.h"
#include "sqlbuf.h"
#include "util.h"

#define PERIOD_US	60000000LL

/* The columns RETURNING gives back per subject. */
enum { RL_SUBJECT, RL_ALLOWED, RL_AHEAD_US, RL_UNIT_US };

/* now in epoch microseconds, from the database clock (constant within a statement) */
#define NOW_US	"CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)"

/* Resets the results of every check and refuses at once what can never pass (a limit
 * of 0, or a cost over the whole burst). Returns 1 when some was refused. */
static int
refuse_impossible(struct aif_gcra_check *c, size_t n)
{
	int refused = 0;

	for (size_t i = 0; i < n; i++) {
		c[i].allowed = 1;
		c[i].remaining = c[i].limit;
		c[i].reset_ms = 0;
		c[i].retry_after_ms = 0;
		if (c[i].limit == 0 || c[i].cost > c[i].limit) {
			c[i].allowed = 0;
			c[i].retry_after_ms = 60000;
			refused = 1;
		}
	}
	return refused;
}

/* The one statement that checks and advances every subject (p: 4 per subject). */
static void
charge_statement(struct aif_sqlbuf *sql, struct aif_dbp *p,
    const struct aif_gcra_check *c, size_t n)
{
	aif_sqlbuf_add(sql, "INSERT INTO rate_limits (subject, tat_us, unit_us, period_us)"
	    " VALUES ");
	for (size_t i = 0; i < n; i++) {
		int64_t unit = PERIOD_US / c[i].limit;
		aif_sqlbuf_add(sql, i ? ",(?, " NOW_US " + ?, ?, ?)" : "(?, " NOW_US " + ?, ?, ?)");
		p[4 * i] = AIF_P_STR(c[i].subject);
		p[4 * i + 1] = AIF_P_I64(unit * c[i].cost);
		p[4 * i + 2] = AIF_P_I64(unit);
		p[4 * i + 3] = AIF_P_I64(PERIOD_US);
	}
	/* allowed is computed on the old tat (assignments run left to right), then tat
	 * moves only when allowed; a new row is always allowed (cost <= limit above) */
	aif_sqlbuf_add(sql, " ON DUPLICATE KEY UPDATE"
	    " allowed = (GREATEST(tat_us, " NOW_US ") + (VALUES(tat_us) - " NOW_US ")"
	    " - VALUES(period_us) <= " NOW_US "),"
	    " tat_us = IF(allowed, GREATEST(tat_us, " NOW_US ") + (VALUES(tat_us) - "
	    NOW_US "), tat_us),"
	    " unit_us = VALUES(unit_us), period_us = VALUES(period_us)"
	    " RETURNING subject, allowed, tat_us - " NOW_US ", unit_us");
}

/* Fills the checks from the statement's rows; returns 1 when all passed. */
static int
read_results(const struct aif_dbrows *rows, struct aif_gcra_check *c, size_t n)
{
	int all = 1;

	for (size_t r = 0; r < rows->nrows; r++) {
		const char *subject = aif_dbrows_get(rows, r, RL_SUBJECT);
		int ok = aif_dbrows_i64(rows, r, RL_ALLOWED) == 1;
		int64_t ahead = aif_dbrows_i64(rows, r, RL_AHEAD_US);
		int64_t unit = aif_dbrows_i64(rows, r, RL_UNIT_US);
		if (unit < 1)
			unit = 1;
		if (ahead < 0)
			ahead = 0;
		for (size_t i = 0; i < n; i++) {
			if (subject == NULL || strcmp(subject, c[i].subject) != 0)
				continue;
			c[i].allowed = ok;
			c[i].reset_ms = (ahead + 999) / 1000;
			c[i].remaining = (PERIOD_US - ahead) / unit;
			if (c[i].remaining < 0)
				c[i].remaining = 0;
			if (!ok) {
				/* it passes once ahead + cost*unit - period <= 0 */
				int64_t wait = ahead + c[i].cost * unit - PERIOD_US;
				c[i].retry_after_ms = wait > 0 ? (wait + 999) / 1000 : 1;
				all = 0;
			}
		}
	}
	return all;
}

enum aif_err
aif_gcra_charge(struct aif_db *db, struct aif_gcra_check *c, size_t n, int *allowed)
{
	struct aif_sqlbuf sql = { 0 };
	struct aif_dbp p[AIF_GCRA_SUBJECTS_MAX * 4];
	struct aif_dbrows *rows = NULL;
	enum aif_err err;
	int all;

	*allowed = 1;
	if (n == 0)
		return AIF_OK;
	if (n > AIF_GCRA_SUBJECTS_MAX)
		return AIF_TOOBIG;
	for (size_t i = 0; i < n; i++)
		if (c[i].limit < 0)
			return AIF_INVALID;
	if (refuse_impossible(c, n)) {
		*allowed = 0;
		return AIF_OK;
	}
	charge_statement(&sql, p, c, n);
	if ((err = aif_sqlbuf_status(&sql)) != AIF_OK)
		goto out;
	if (n > 1 && (err = aif_db_begin(db)) != AIF_OK)
		goto out;
	if ((err = aif_db_query(db, aif_sqlbuf_get(&sql), p, 4 * n, &rows)) != AIF_OK) {
		if (n > 1)
			aif_db_rollback(db);
		goto out;
	}
	all = read_results(rows, c, n);
	if (n > 1 && !all)
		aif_db_rollback(db);	/* a refused request charges nothing */
	else if (n > 1 && (err = aif_db_commit(db)) != AIF_OK) {
		aif_db_rollback(db);
		goto out;
	}
	*allowed = all;
out:
	aif_dbrows_free(rows);
	aif_sqlbuf_free(&sql);
	return err;
}

enum aif_err
aif_gcra_correct(struct aif_db *db, const char *const *subjects, size_t n,
    int64_t delta_tokens)
{
	static const char sql[] =
	    "UPDATE rate_limits SET tat_us = tat_us + ? * unit_us WHERE subject = ?";
	enum aif_err err;

	if (delta_tokens == 0)
		return AIF_OK;
	for (size_t i = 0; i < n; i++) {
		struct aif_dbp p[] = { AIF_P_I64(delta_tokens), AIF_P_STR(subjects[i]) };
		if ((err = AIF_DB_EXEC(db, sql, p, NULL, NULL)) != AIF_OK)
			return err;
	}
	return AIF_OK;
}
