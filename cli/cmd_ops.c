/* cmd_ops.c -- operators' views: `aifctl workers` (instances, heartbeats, in-flight,
 * replica circuits, the autoscaler's last decisions), `aifctl queue` (depth and age by
 * model, priority and state) and `aifctl top` (both, plus the last minute's throughput
 * and failures, refreshed every second), each with --format table|json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "db.h"
#include "esc.h"
#include "jobs.h"
#include "registry.h"
#include "scaling.h"
#include "util.h"

#define REPLICA_STALE_S	30	/* replicas no live worker reported since are not shown */

static void
usage(void)
{
	fprintf(stderr, "usage: aifctl workers|queue [--format table|json]\n"
	    "       aifctl top [--iterations N]\n");
	exit(2);
}

/* A cell as printed: escaped (hosts, models, replicas, reasons come from outside). */
static const char *
c(const struct aif_dbrows *r, size_t row, size_t col)
{
	return aifctl_esc(aif_dbrows_get(r, row, col));
}

/* Rows as a JSON array of objects keyed by the statement's column names, each renamed
 * where `rename` says so ({"from", "to"} pairs, NULL-terminated). */
static void
print_json(const struct aif_dbrows *r, const char *const *rename)
{
	json_t *a = json_array();
	char *s;

	for (size_t i = 0; i < r->nrows; i++) {
		json_t *o = json_object();
		for (size_t k = 0; k < r->ncols; k++) {
			const char *name = r->names != NULL ? r->names[k] : "?";
			for (size_t x = 0; rename != NULL && rename[x] != NULL; x += 2)
				if (strcmp(rename[x], name) == 0)
					name = rename[x + 1];
			json_object_set_new(o, name, aif_dbrows_get(r, i, k) ?
			    json_string(aif_dbrows_get(r, i, k)) : json_null());
		}
		json_array_append_new(a, o);
	}
	s = json_dumps(a, JSON_INDENT(2));
	printf("%s\n", s ? s : "[]");
	free(s);
	json_decref(a);
}

static int
show_workers(struct aif_db *db, int json)
{
	struct aif_dbrows *r = NULL, *rep = NULL, *dec = NULL;
	int rc = 1;

	if (aif_registry_workers(db, REPLICA_STALE_S, &r) != AIF_OK)
		goto out;
	if (json) {
		print_json(r, NULL);
		rc = 0;
		goto out;
	}
	printf("%-6s %-9s %-20s %-8s %-9s %-6s %-9s %-20s %s\n", "ID", "INSTANCE", "HOST",
	    "PID", "STATE", "SLOTS", "IN_FLIGHT", "STARTED", "HEARTBEAT");
	for (size_t i = 0; i < r->nrows; i++)
		printf("%-6s %-9s %-20.20s %-8s %-9s %-6s %-9s %-20s %ss ago\n",
		    c(r, i, AIF_WK_ID), c(r, i, AIF_WK_INSTANCE), c(r, i, AIF_WK_HOST),
		    c(r, i, AIF_WK_PID), c(r, i, AIF_WK_STATE), c(r, i, AIF_WK_SLOTS),
		    c(r, i, AIF_WK_IN_FLIGHT), c(r, i, AIF_WK_STARTED_AT),
		    c(r, i, AIF_WK_HEARTBEAT_AGE_S));
	if (aif_registry_replicas(db, REPLICA_STALE_S, &rep) == AIF_OK && rep->nrows > 0) {
		printf("\n%-20s %-36s %-9s %-8s %s\n", "MODEL", "REPLICA", "IN_FLIGHT",
		    "CIRCUIT", "HEALTH");
		for (size_t i = 0; i < rep->nrows; i++)
			printf("%-20.20s %-36.36s %-9s %-8s %s\n", c(rep, i, AIF_RP_MODEL),
			    c(rep, i, AIF_RP_REPLICA), c(rep, i, AIF_RP_IN_FLIGHT),
			    strcmp(c(rep, i, AIF_RP_CIRCUIT_OPEN), "1") == 0 ? "open" : "closed",
			    strcmp(c(rep, i, AIF_RP_HEALTHY), "1") == 0 ? "healthy" : "unhealthy");
	}
	if (aif_scaling_recent(db, 5, &dec) == AIF_OK && dec->nrows > 0) {
		printf("\n%-20s %-18s %-7s %-7s %-6s %s\n", "AUTOSCALE AT", "SCOPE", "CURRENT",
		    "DESIRED", "ACTION", "REASON");
		for (size_t i = 0; i < dec->nrows; i++)
			printf("%-20s %-18.18s %-7s %-7s %-6s %s\n", c(dec, i, AIF_SD_AT),
			    c(dec, i, AIF_SD_SCOPE), c(dec, i, AIF_SD_CURRENT),
			    c(dec, i, AIF_SD_DESIRED), c(dec, i, AIF_SD_ACTION),
			    c(dec, i, AIF_SD_REASON));
	}
	rc = 0;
out:
	aif_dbrows_free(r);
	aif_dbrows_free(rep);
	aif_dbrows_free(dec);
	if (rc != 0)
		fprintf(stderr, "aifctl: cannot read the workers\n");
	return rc;
}

static int
show_queue(struct aif_db *db, int json)
{
	struct aif_dbrows *r = NULL;

	if (aif_jobs_queue_depth(db, &r) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot read the queue\n");
		return 1;
	}
	/* ages in seconds with one decimal, as operators read them */
	for (size_t i = 0; i < r->nrows; i++) {
		char age[32], **cell = &r->cells[i * r->ncols + AIF_QD_OLDEST_AGE_US];
		int64_t us = aif_dbrows_i64(r, i, AIF_QD_OLDEST_AGE_US);
		snprintf(age, sizeof(age), "%lld.%lld", (long long)(us / 1000000),
		    (long long)(us % 1000000 / 100000));
		free(*cell);
		*cell = strdup(age);
	}
	if (json) {
		static const char *const rename[] = { "oldest_age_us", "oldest_age_s", NULL };
		print_json(r, rename);
	} else {
		printf("%-24s %-8s %-13s %-8s %s\n", "MODEL", "PRIORITY", "STATE", "JOBS",
		    "OLDEST");
		for (size_t i = 0; i < r->nrows; i++)
			printf("%-24.24s %-8s %-13s %-8s %ss\n", c(r, i, AIF_QD_MODEL),
			    c(r, i, AIF_QD_PRIORITY), c(r, i, AIF_QD_STATE), c(r, i, AIF_QD_JOBS),
			    c(r, i, AIF_QD_OLDEST_AGE_US));
		if (r->nrows == 0)
			printf("(empty)\n");
	}
	aif_dbrows_free(r);
	return 0;
}

static int
top(struct aif_db *db, int64_t iterations)
{
	for (int64_t n = 0; iterations == 0 || n < iterations; n++) {
		int64_t ok = 0, failed = 0;
		if (n > 0)
			sleep(1);
		printf("\033[H\033[2J");
		if (aif_jobs_last_minute(db, &ok, &failed) == AIF_OK)
			printf("aif top -- last minute: %lld jobs succeeded, %lld failed\n\n",
			    (long long)ok, (long long)failed);
		printf("QUEUE\n");
		if (show_queue(db, 0) != 0)
			return 1;
		printf("\nWORKERS\n");
		if (show_workers(db, 0) != 0)
			return 1;
		fflush(stdout);
	}
	return 0;
}

int
aifctl_cmd_ops(const struct aif_config *cfg, int argc, char **argv)
{
	struct aif_db *db = NULL;
	int json = 0, rc = 1;
	int64_t iterations = 0;

	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--format") == 0 && strcmp(argv[i + 1], "json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--format") == 0 && strcmp(argv[i + 1], "table") == 0)
			json = 0;
		else if (strcmp(argv[i], "--iterations") == 0 &&
		    aif_parse_i64(argv[i + 1], 1, 1000000, &iterations) == 0)
			;
		else
			usage();
	}
	if (aif_db_open(cfg, &db) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot connect to the database\n");
		aif_db_close(db);
		return 1;
	}
	aif_db_want_names(db, 1);	/* --format json keys rows by column name */
	if (strcmp(argv[0], "workers") == 0)
		rc = show_workers(db, json);
	else if (strcmp(argv[0], "queue") == 0)
		rc = show_queue(db, json);
	else if (strcmp(argv[0], "top") == 0 && !json)
		rc = top(db, iterations);
	else
		usage();
	aif_db_close(db);
	return rc;
}
