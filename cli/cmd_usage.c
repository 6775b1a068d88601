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
#include "util.h"

/* A CSV field (RFC 4180): in double quotes, a quote inside doubled; cut to fit cap. */
static const char *
csv_quote(const char *v, char *buf, size_t cap)
{
	size_t o = 0;

	buf[o++] = '"';
	for (; v != NULL && *v != '\0' && o + 4 < cap; v++) {
		if (*v == '"')
			buf[o++] = '"';
		buf[o++] = *v;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

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
	const char *sql;
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
		sql = "SELECT CONCAT(k.key_prefix, ' ', k.name), COUNT(*), SUM(u.prompt_tokens),"
		    " SUM(u.completion_tokens), SUM(u.total_tokens), SUM(u.cost_micros)"
		    " FROM `usage` u LEFT JOIN api_keys k ON k.id = u.api_key_id"
		    " WHERE u.created_at >= ? AND u.created_at < ? + INTERVAL 1 DAY"
		    " GROUP BY u.api_key_id, k.key_prefix, k.name ORDER BY 6 DESC";
	else if (strcmp(by, "tenant") == 0)
		sql = "SELECT u.tenant, COUNT(*), SUM(u.prompt_tokens), SUM(u.completion_tokens),"
		    " SUM(u.total_tokens), SUM(u.cost_micros) FROM `usage` u"
		    " WHERE u.created_at >= ? AND u.created_at < ? + INTERVAL 1 DAY"
		    " GROUP BY u.tenant ORDER BY 6 DESC";
	else if (strcmp(by, "model") == 0)
		sql = "SELECT u.model, COUNT(*), SUM(u.prompt_tokens), SUM(u.completion_tokens),"
		    " SUM(u.total_tokens), SUM(u.cost_micros) FROM `usage` u"
		    " WHERE u.created_at >= ? AND u.created_at < ? + INTERVAL 1 DAY"
		    " GROUP BY u.model ORDER BY 6 DESC";
	else
		usage();
	if (strcmp(fmt, "table") != 0 && strcmp(fmt, "csv") != 0 && strcmp(fmt, "json") != 0)
		usage();
	struct aif_dbp p[] = { AIF_P_STR(since), AIF_P_STR(until) };
	if (aif_db_open(cfg, &db) != AIF_OK || aif_db_query(db, sql, p, 2, &rows) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot read usage\n");
		goto out;
	}
	if (strcmp(fmt, "json") == 0) {
		json_t *a = json_array();
		for (size_t r = 0; r < rows->nrows; r++) {
			int64_t v[5] = { 0 };
			for (int c = 0; c < 5; c++)
				(void)aif_parse_i64(aif_dbrows_get(rows, r, (size_t)c + 1), INT64_MIN,
				    INT64_MAX, &v[c]);
			json_array_append_new(a, json_pack("{s:s?,s:I,s:I,s:I,s:I,s:I}", by,
			    aif_dbrows_get(rows, r, 0), "jobs", (json_int_t)v[0],
			    "prompt_tokens", (json_int_t)v[1], "completion_tokens", (json_int_t)v[2],
			    "total_tokens", (json_int_t)v[3], "cost_micros", (json_int_t)v[4]));
		}
		char *s = json_dumps(a, JSON_INDENT(2));
		printf("%s\n", s ? s : "[]");
		free(s);
		json_decref(a);
	} else {
		int csv = strcmp(fmt, "csv") == 0;
		if (csv)
			printf("%s,jobs,prompt_tokens,completion_tokens,total_tokens,cost_micros\n", by);
		else
			printf("%-34s %8s %12s %12s %12s %16s %14s\n", by, "JOBS", "PROMPT",
			    "COMPLETION", "TOTAL", "COST_MICROS", "COST");
		for (size_t r = 0; r < rows->nrows; r++) {
			const char *name = aif_dbrows_get(rows, r, 0);
			char m[40], q[600];
			money(aif_dbrows_get(rows, r, 5), m, sizeof(m));
			if (csv)
				printf("%s,%s,%s,%s,%s,%s\n", csv_quote(name, q, sizeof(q)),
				    aif_dbrows_get(rows, r, 1), aif_dbrows_get(rows, r, 2),
				    aif_dbrows_get(rows, r, 3), aif_dbrows_get(rows, r, 4),
				    aif_dbrows_get(rows, r, 5));
			else
				printf("%-34.34s %8s %12s %12s %12s %16s %14s\n", name ? name : "-",
				    aif_dbrows_get(rows, r, 1), aif_dbrows_get(rows, r, 2),
				    aif_dbrows_get(rows, r, 3), aif_dbrows_get(rows, r, 4),
				    aif_dbrows_get(rows, r, 5), m);
		}
	}
	rc = 0;
out:
	aif_dbrows_free(rows);
	aif_db_close(db);
	return rc;
}
