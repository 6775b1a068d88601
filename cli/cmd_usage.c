/* cmd_usage.c -- `aifctl usage [--since YYYY-MM-DD] [--until YYYY-MM-DD]
 * [--by key|tenant|model] [--format table|csv|json]`: metered usage from the `usage`
 * table, grouped, with integer micro-unit costs (and the same in currency units for
 * reading, computed from the integers as text, no floating point). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"
#include "db.h"
#include "esc.h"
#include "text.h"
#include "usage.h"
#include "util.h"

static void
usage(void)
{
	fprintf(stderr, "usage: aifctl usage [--since YYYY-MM-DD] [--until YYYY-MM-DD]"
	    " [--by key|tenant|model] [--format table|csv|json]\n");
	exit(2);
}

static int
valid_date(const char *s)
{
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	return 1;
}

/* micro-units as "12.345678" from the integer, exactly */
static void
money(const char *micros, char *buf, size_t cap)
{
	int64_t v = 0;

	(void)aif_parse_i64(micros, INT64_MIN, INT64_MAX, &v);
	snprintf(buf, cap, "%s%lld.%06lld", v < 0 ? "-" : "",
	    (long long)(v < 0 ? -(v / 1000000) : v / 1000000),
	    (long long)(v < 0 ? -(v % 1000000) : v % 1000000));
}

static void
print_json(const struct aif_dbrows *rows, const char *by)
{
	json_t *a = json_array();
	char *s;

	for (size_t r = 0; r < rows->nrows; r++)
		json_array_append_new(a, json_pack("{s:s?,s:I,s:I,s:I,s:I,s:I}", by,
		    aif_dbrows_get(rows, r, AIF_US_NAME),
		    "jobs", (json_int_t)aif_dbrows_i64(rows, r, AIF_US_JOBS),
		    "prompt_tokens", (json_int_t)aif_dbrows_i64(rows, r, AIF_US_PROMPT_TOKENS),
		    "completion_tokens",
		    (json_int_t)aif_dbrows_i64(rows, r, AIF_US_COMPLETION_TOKENS),
		    "total_tokens", (json_int_t)aif_dbrows_i64(rows, r, AIF_US_TOTAL_TOKENS),
		    "cost_micros", (json_int_t)aif_dbrows_i64(rows, r, AIF_US_COST_MICROS)));
	s = json_dumps(a, JSON_INDENT(2));
	printf("%s\n", s ? s : "[]");
	free(s);
	json_decref(a);
}

/* A table for people, or CSV (RFC 4180) for spreadsheets, its cells neutralised against
 * formula injection (core/base/text.h, aif_csv_cell). */
static void
print_rows(const struct aif_dbrows *rows, const char *by, int csv)
{
	if (csv)
		printf("%s,jobs,prompt_tokens,completion_tokens,total_tokens,cost_micros\n", by);
	else
		printf("%-34s %8s %12s %12s %12s %16s %14s\n", by, "JOBS", "PROMPT",
		    "COMPLETION", "TOTAL", "COST_MICROS", "COST");
	for (size_t r = 0; r < rows->nrows; r++) {
		const char *name = aif_dbrows_get(rows, r, AIF_US_NAME);
		const char *jobs = aif_dbrows_get(rows, r, AIF_US_JOBS);
		const char *in = aif_dbrows_get(rows, r, AIF_US_PROMPT_TOKENS);
		const char *out = aif_dbrows_get(rows, r, AIF_US_COMPLETION_TOKENS);
		const char *total = aif_dbrows_get(rows, r, AIF_US_TOTAL_TOKENS);
		const char *cost = aif_dbrows_get(rows, r, AIF_US_COST_MICROS);
		char m[40], q[AIFCTL_ESC_CAP];
		money(cost, m, sizeof(m));
		/* names and tenants come from outside: escaped, and no formula cells */
		if (csv)
			printf("%s,%s,%s,%s,%s,%s\n", aif_csv_cell(name, q, sizeof(q)), jobs,
			    in, out, total, cost);
		else
			printf("%-34.34s %8s %12s %12s %12s %16s %14s\n", aifctl_esc(name),
			    jobs, in, out, total, cost, m);
	}
}

int
aifctl_cmd_usage(const struct aif_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "by", required_argument, NULL, 'b' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *since = "1970-01-01", *until = "9999-12-30", *by = "key", *fmt = "table";
	enum aif_usage_by group = AIF_USAGE_BY_KEY;
	struct aif_db *db = NULL;
	struct aif_dbrows *rows = NULL;
	int ch, rc = 1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's': since = optarg; break;
		case 'u': until = optarg; break;
		case 'b': by = optarg; break;
		case 'f': fmt = optarg; break;
		default: usage();
		}
	}
	if (!valid_date(since) || !valid_date(until))
		usage();
	if (strcmp(by, "key") == 0)
		group = AIF_USAGE_BY_KEY;
	else if (strcmp(by, "tenant") == 0)
		group = AIF_USAGE_BY_TENANT;
	else if (strcmp(by, "model") == 0)
		group = AIF_USAGE_BY_MODEL;
	else
		usage();
	if (strcmp(fmt, "table") != 0 && strcmp(fmt, "csv") != 0 && strcmp(fmt, "json") != 0)
		usage();
	if (aif_db_open(cfg, &db) != AIF_OK ||
	    aif_usage_report(db, group, since, until, &rows) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot read usage\n");
		goto out;
	}
	if (strcmp(fmt, "json") == 0)
		print_json(rows, by);
	else
		print_rows(rows, by, strcmp(fmt, "csv") == 0);
	rc = 0;
out:
	aif_dbrows_free(rows);
	aif_db_close(db);
	return rc;
}
