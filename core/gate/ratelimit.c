/* ratelimit.c -- GCRA limits in MariaDB; see ratelimit.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ratelimit.h"
#include "util.h"

#define PERIOD_US	60000000LL

/* now in epoch microseconds, from the database clock (constant within a statement) */
#define NOW_US	"CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)"

enum aif_err
aif_rl_check(struct aif_db *db, struct aif_rl_check *c, size_t n, int *allowed)
{
	char sql[4096];
	struct aif_dbp p[AIF_RL_SUBJECTS_MAX * 4];
	struct aif_dbrows *rows = NULL;
	size_t off = 0;
	enum aif_err err;
	int m, all = 1;

	*allowed = 1;
	if (n == 0)
		return AIF_OK;
	if (n > AIF_RL_SUBJECTS_MAX)
		return AIF_TOOBIG;
	for (size_t i = 0; i < n; i++) {
		if (c[i].limit < 0)
			return AIF_INVALID;
		c[i].allowed = 1;
		c[i].remaining = c[i].limit;
		c[i].reset_ms = 0;
		c[i].retry_after_ms = 0;
		if (c[i].cost > c[i].limit) {	/* larger than the whole burst (or a
						   limit of 0): never */
			c[i].allowed = 0;
			c[i].retry_after_ms = 60000;
			*allowed = 0;
		}
	}
	if (!*allowed)
		return AIF_OK;
	m = snprintf(sql, sizeof(sql), "INSERT INTO rate_limits (subject, tat_us, unit_us,"
	    " period_us) VALUES ");
	if (m < 0)
		return AIF_TOOBIG;
	off = (size_t)m;
	for (size_t i = 0; i < n; i++) {
		int64_t unit = PERIOD_US / c[i].limit;
		m = snprintf(sql + off, sizeof(sql) - off, "%s(?, " NOW_US " + ?, ?, %lld)",
		    i ? "," : "", (long long)PERIOD_US);
		if (m < 0 || (size_t)m >= sizeof(sql) - off)
			return AIF_TOOBIG;
		off += (size_t)m;
		p[3 * i] = AIF_P_STR(c[i].subject);
		p[3 * i + 1] = AIF_P_I64(unit * c[i].cost);
		p[3 * i + 2] = AIF_P_I64(unit);
	}
	/* allowed is computed on the old tat (assignments run left to right), then tat
	 * moves only when allowed; a new row is always allowed (cost <= limit above) */
	m = snprintf(sql + off, sizeof(sql) - off,
	    " ON DUPLICATE KEY UPDATE"
	    " allowed = (GREATEST(tat_us, " NOW_US ") + (VALUES(tat_us) - " NOW_US ")"
	    " - VALUES(period_us) <= " NOW_US "),"
	    " tat_us = IF(allowed, GREATEST(tat_us, " NOW_US ") + (VALUES(tat_us) - "
	    NOW_US "), tat_us),"
	    " unit_us = VALUES(unit_us), period_us = VALUES(period_us)"
	    " RETURNING subject, allowed, tat_us - " NOW_US ", unit_us");
	if (m < 0 || (size_t)m >= sizeof(sql) - off)
		return AIF_TOOBIG;
	if (n > 1 && (err = aif_db_begin(db)) != AIF_OK)
		return err;
	if ((err = aif_db_query(db, sql, p, 3 * n, &rows)) != AIF_OK)
		goto fail;
	for (size_t r = 0; r < rows->nrows; r++) {
		const char *subject = aif_dbrows_get(rows, r, 0);
		int64_t ok = 0, ahead = 0, unit = 1;
		(void)aif_parse_i64(aif_dbrows_get(rows, r, 1), 0, 1, &ok);
		(void)aif_parse_i64(aif_dbrows_get(rows, r, 2), INT64_MIN, INT64_MAX, &ahead);
		(void)aif_parse_i64(aif_dbrows_get(rows, r, 3), 1, INT64_MAX, &unit);
		for (size_t i = 0; i < n; i++) {
			if (subject == NULL || strcmp(subject, c[i].subject) != 0)
				continue;
			if (ahead < 0)
				ahead = 0;
			c[i].allowed = (int)ok;
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
	aif_dbrows_free(rows);
	rows = NULL;
	if (n > 1) {
		if (!all) {
			aif_db_rollback(db);	/* a refused request charges nothing */
		} else if ((err = aif_db_commit(db)) != AIF_OK) {
			goto fail;
		}
	}
	*allowed = all;
	return AIF_OK;
fail:
	if (n > 1)
		aif_db_rollback(db);
	aif_dbrows_free(rows);
	return err;
}

enum aif_err
aif_rl_correct_tokens(struct aif_db *db, const char *const *subjects, size_t n,
    int64_t delta_tokens)
{
	static const char sql[] =
	    "UPDATE rate_limits SET tat_us = tat_us + ? * unit_us WHERE subject = ?";
	enum aif_err err;

	if (delta_tokens == 0)
		return AIF_OK;
	for (size_t i = 0; i < n; i++) {
		struct aif_dbp p[] = { AIF_P_I64(delta_tokens), AIF_P_STR(subjects[i]) };
		if ((err = aif_db_exec(db, sql, p, 2, NULL, NULL)) != AIF_OK)
			return err;
	}
	return AIF_OK;
}

void
aif_rl_go_duration(int64_t ms, char *buf, size_t cap)
{
	int64_t h, m, s, rest;

	if (ms <= 0) {
		snprintf(buf, cap, "0s");
		return;
	}
	if (ms < 1000) {
		snprintf(buf, cap, "%" PRId64 "ms", ms);
		return;
	}
	h = ms / 3600000;
	m = (ms / 60000) % 60;
	s = (ms / 1000) % 60;
	rest = ms % 1000;
	char sec[32];
	if (rest == 0)
		snprintf(sec, sizeof(sec), "%" PRId64 "s", s);
	else if (rest % 100 == 0)
		snprintf(sec, sizeof(sec), "%" PRId64 ".%01" PRId64 "s", s, rest / 100);
	else if (rest % 10 == 0)
		snprintf(sec, sizeof(sec), "%" PRId64 ".%02" PRId64 "s", s, rest / 10);
	else
		snprintf(sec, sizeof(sec), "%" PRId64 ".%03" PRId64 "s", s, rest);
	if (h > 0)
		snprintf(buf, cap, "%" PRId64 "h%" PRId64 "m%s", h, m, sec);
	else if (m > 0)
		snprintf(buf, cap, "%" PRId64 "m%s", m, sec);
	else
		snprintf(buf, cap, "%s", sec);
}
