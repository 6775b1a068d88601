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
#include "util.h"

static const char q_workers[] =
    "SELECT id, instance, host, pid, state, slots, in_flight,"
    " DATE_FORMAT(started_at, '%Y-%m-%d %H:%i:%s'),"
    " ROUND(TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6)) / 1000000, 1)"
    " FROM workers WHERE state <> 'stopped' OR stopped_at > NOW(6) - INTERVAL 10 MINUTE"
    " ORDER BY id";
static const char q_queue[] =
    "SELECT model, priority, state, COUNT(*),"
    " ROUND(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(6)) / 1000000, 1)"
    " FROM jobs WHERE state IN ('queued','running','compensating')"
    " GROUP BY model, priority, state ORDER BY model, priority DESC, state";
static const char q_replicas[] =
    "SELECT model, replica, SUM(in_flight), MAX(circuit_open) FROM replica_state"
    " WHERE updated_at > NOW(6) - INTERVAL 30 SECOND GROUP BY model, replica"
    " ORDER BY model, replica";
static const char q_decisions[] =
    "SELECT DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s'), scope, current, desired, action, reason"
    " FROM autoscale_decisions ORDER BY id DESC LIMIT 5";
static const char q_minute[] =
    "SELECT (SELECT COUNT(*) FROM `usage` WHERE created_at > NOW(6) - INTERVAL 1 MINUTE),"
    " (SELECT COUNT(*) FROM jobs WHERE state = 'failed'"
    "  AND finished_at > NOW(6) - INTERVAL 1 MINUTE)";

static void
usage(void)
{
	fprintf(stderr, "usage: aifctl workers|queue [--format table|json]\n"
	    "       aifctl top [--iterations N]\n");
	exit(2);
}

static const char *
c(const struct aif_dbrows *r, size_t row, size_t col)
{
	const char *s = aif_dbrows_get(r, row, col);
	return s != NULL ? s : "-";
}

/* Rows as a JSON array of objects with the given column names. */
static void
print_json(const struct aif_dbrows *r, const char *const *cols)
{
	json_t *a = json_array();
	char *s;

	for (size_t i = 0; i < r->nrows; i++) {
		json_t *o = json_object();
		for (size_t k = 0; k < r->ncols; k++)
			json_object_set_new(o, cols[k], aif_dbrows_get(r, i, k) ?
			    json_string(aif_dbrows_get(r, i, k)) : json_null());
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
	static const char *const cols[] = { "id", "instance", "host", "pid", "state", "slots",
	    "in_flight", "started_at", "heartbeat_age_s" };
	struct aif_dbrows *r = NULL, *rep = NULL, *dec = NULL;
	int rc = 1;

	if (aif_db_query(db, q_workers, NULL, 0, &r) != AIF_OK)
		goto out;
	if (json) {
		print_json(r, cols);
		rc = 0;
		goto out;
	}
	printf("%-6s %-9s %-20s %-8s %-9s %-6s %-9s %-20s %s\n", "ID", "INSTANCE", "HOST",
	    "PID", "STATE", "SLOTS", "IN_FLIGHT", "STARTED", "HEARTBEAT");
	for (size_t i = 0; i < r->nrows; i++)
		printf("%-6s %-9s %-20.20s %-8s %-9s %-6s %-9s %-20s %ss ago\n", c(r, i, 0),
		    c(r, i, 1), c(r, i, 2), c(r, i, 3), c(r, i, 4), c(r, i, 5), c(r, i, 6),
		    c(r, i, 7), c(r, i, 8));
	if (aif_db_query(db, q_replicas, NULL, 0, &rep) == AIF_OK && rep->nrows > 0) {
		printf("\n%-20s %-36s %-9s %s\n", "MODEL", "REPLICA", "IN_FLIGHT", "CIRCUIT");
		for (size_t i = 0; i < rep->nrows; i++)
			printf("%-20.20s %-36.36s %-9s %s\n", c(rep, i, 0), c(rep, i, 1),
			    c(rep, i, 2), strcmp(c(rep, i, 3), "1") == 0 ? "open" : "closed");
	}
	if (aif_db_query(db, q_decisions, NULL, 0, &dec) == AIF_OK && dec->nrows > 0) {
		printf("\n%-20s %-18s %-7s %-7s %-6s %s\n", "AUTOSCALE AT", "SCOPE", "CURRENT",
		    "DESIRED", "ACTION", "REASON");
		for (size_t i = 0; i < dec->nrows; i++)
			printf("%-20s %-18.18s %-7s %-7s %-6s %s\n", c(dec, i, 0), c(dec, i, 1),
			    c(dec, i, 2), c(dec, i, 3), c(dec, i, 4), c(dec, i, 5));
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
	static const char *const cols[] = { "model", "priority", "state", "jobs",
	    "oldest_age_s" };
	struct aif_dbrows *r = NULL;

	if (aif_db_query(db, q_queue, NULL, 0, &r) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot read the queue\n");
		return 1;
	}
	if (json) {
		print_json(r, cols);
	} else {
		printf("%-24s %-8s %-13s %-8s %s\n", "MODEL", "PRIORITY", "STATE", "JOBS",
		    "OLDEST");
		for (size_t i = 0; i < r->nrows; i++)
			printf("%-24.24s %-8s %-13s %-8s %ss\n", c(r, i, 0), c(r, i, 1), c(r, i, 2),
			    c(r, i, 3), c(r, i, 4));
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
		struct aif_dbrows *m = NULL;
		if (n > 0)
			sleep(1);
		printf("\033[H\033[2J");
		if (aif_db_query(db, q_minute, NULL, 0, &m) == AIF_OK && m->nrows == 1)
			printf("aif top -- last minute: %s jobs succeeded, %s failed\n\n", c(m, 0, 0),
			    c(m, 0, 1));
		aif_dbrows_free(m);
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
