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
#define CORRECT_ROWS	32	/* subjects per correcting statement */

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

static int
delta_cmp(const void *a, const void *b)
{
	return strcmp(((const struct aif_gcra_delta *)a)->subject,
	    ((const struct aif_gcra_delta *)b)->subject);
}

/* Sorts d by subject and sums the corrections of each subject into one, dropping those
 * that sum to nothing. Returns how many are left. */
static size_t
merge_deltas(struct aif_gcra_delta *d, size_t n)
{
	size_t k = 0, left = 0;

	qsort(d, n, sizeof(*d), delta_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && strcmp(d[k - 1].subject, d[i].subject) == 0)
			d[k - 1].tokens = aif_sat_add(d[k - 1].tokens, d[i].tokens);
		else
			d[k++] = d[i];
	}
	for (size_t i = 0; i < k; i++)
		if (d[i].tokens != 0)
			d[left++] = d[i];
	return left;
}

/* One statement for d[0..k): each row gets the sum of the corrections whose subject
 * it matches -- under the column's collation, so two subjects that differ only where
 * the collation does not (letter case) both reach their one row. */
static enum aif_err
correct_some(struct aif_db *db, const struct aif_gcra_delta *d, size_t k)
{
	struct aif_dbp p[CORRECT_ROWS * 3];
	struct aif_sqlbuf sql = { 0 };
	size_t np = 0;
	enum aif_err err;

	aif_sqlbuf_add(&sql, "UPDATE rate_limits SET tat_us = tat_us + (");
	for (size_t i = 0; i < k; i++) {
		aif_sqlbuf_add(&sql, i ? " + IF(subject = ?, ?, 0)" : "IF(subject = ?, ?, 0)");
		p[np++] = AIF_P_STR(d[i].subject);
		p[np++] = AIF_P_I64(d[i].tokens);
	}
	aif_sqlbuf_add(&sql, ") * unit_us WHERE subject IN (");
	aif_sqlbuf_marks(&sql, k);
	aif_sqlbuf_add(&sql, ")");
	for (size_t i = 0; i < k; i++)
		p[np++] = AIF_P_STR(d[i].subject);
	if ((err = aif_sqlbuf_status(&sql)) == AIF_OK)
		err = aif_db_exec(db, aif_sqlbuf_get(&sql), p, np, NULL, NULL);
	aif_sqlbuf_free(&sql);
	return err;
}

enum aif_err
aif_gcra_correct_each(struct aif_db *db, struct aif_gcra_delta *d, size_t *n)
{
	enum aif_err err = AIF_OK;

	*n = merge_deltas(d, *n);
	for (size_t base = 0; base < *n && err == AIF_OK; base += CORRECT_ROWS)
		err = correct_some(db, d + base,
		    *n - base < CORRECT_ROWS ? *n - base : CORRECT_ROWS);
	return err;
}

enum aif_err
aif_gcra_correct(struct aif_db *db, const char *const *subjects, size_t n,
    int64_t delta_tokens)
{
	struct aif_gcra_delta d[AIF_GCRA_SUBJECTS_MAX];
	size_t k = 0;

	if (n > AIF_GCRA_SUBJECTS_MAX)
		return AIF_TOOBIG;
	for (size_t i = 0; i < n; i++) {
		if (aif_strlcpy(d[k].subject, subjects[i], sizeof(d[k].subject)) != 0)
			return AIF_TOOBIG;
		d[k++].tokens = delta_tokens;
	}
	return aif_gcra_correct_each(db, d, &k);
}
