/* cmd_jobs.c -- `aifctl jobs show ID | list [--state S] [--model M] [--limit N] |
 * cancel ID`: a job and its timeline (every event with its time, attempt, worker,
 * replica and error) readable at a glance, lists by state, and cancellation (a queued
 * job at once; a running one is aborted by its worker, told through its doorbell). IDs
 * are public ids (job_...) or internal numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "db.h"
#include "doorbell.h"
#include "queue.h"
#include "util.h"

static void
usage(void)
{
	fprintf(stderr, "usage: aifctl jobs show ID\n"
	    "       aifctl jobs list [--state S] [--model M] [--limit N]\n"
	    "       aifctl jobs cancel ID\n");
	exit(2);
}

static const char *
v(const struct aif_dbrows *r, size_t row, size_t col)
{
	const char *s = aif_dbrows_get(r, row, col);
	return s != NULL ? s : "-";
}

/* Resolves a public or numeric id to the internal id; 0 when unknown. */
static uint64_t
resolve(struct aif_db *db, const char *arg)
{
	static const char sql[] = "SELECT id FROM jobs WHERE public_id = ? OR id = ?";
	int64_t n = 0;
	struct aif_dbrows *rows = NULL;
	uint64_t id = 0;

	(void)aif_parse_i64(arg, 1, INT64_MAX, &n);
	struct aif_dbp p[] = { AIF_P_STR(arg), AIF_P_I64(n) };
	if (aif_db_query(db, sql, p, 2, &rows) == AIF_OK && rows->nrows == 1)
		id = strtoull(aif_dbrows_get(rows, 0, 0), NULL, 10);
	aif_dbrows_free(rows);
	return id;
}

static int
show(struct aif_db *db, uint64_t id)
{
	static const char job[] =
	    "SELECT public_id, model, kind, state, priority, attempts, max_attempts,"
	    " api_key_id, tenant, created_at, started_at, finished_at, http_status,"
	    " error_type, error_code, error_message, replica, budget_state,"
	    " budget_hold_micros, COALESCE(pii_counts, '-'), stream FROM jobs WHERE id = ?";
	static const char ev[] =
	    "SELECT at, event, attempt, COALESCE(worker_id, '-'), COALESCE(replica, '-'),"
	    " COALESCE(detail, '') FROM job_events WHERE job_id = ? ORDER BY id";
	static const char use[] =
	    "SELECT prompt_tokens, completion_tokens, cost_micros, queue_ms, engine_ms,"
	    " engine, replica FROM `usage` WHERE job_id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *j = NULL, *e = NULL, *u = NULL;
	int rc = 1;

	if (aif_db_query(db, job, p, 1, &j) != AIF_OK || j->nrows != 1 ||
	    aif_db_query(db, ev, p, 1, &e) != AIF_OK || aif_db_query(db, use, p, 1, &u) != AIF_OK) {
		fprintf(stderr, "aifctl: no such job or database error\n");
		goto out;
	}
	printf("job       %s  (id %llu)\n", v(j, 0, 0), (unsigned long long)id);
	printf("model     %s  kind %s%s  priority %s  key %s  tenant %s\n", v(j, 0, 1),
	    v(j, 0, 2), strcmp(v(j, 0, 20), "1") == 0 ? " (stream)" : "", v(j, 0, 4),
	    v(j, 0, 7), v(j, 0, 8));
	printf("state     %s  attempts %s/%s  http %s\n", v(j, 0, 3), v(j, 0, 5), v(j, 0, 6),
	    v(j, 0, 12));
	printf("times     created %s  started %s  finished %s\n", v(j, 0, 9), v(j, 0, 10),
	    v(j, 0, 11));
	printf("budget    %s (hold %s micro-units)  pii %s\n", v(j, 0, 17), v(j, 0, 18),
	    v(j, 0, 19));
	if (aif_dbrows_get(j, 0, 13) != NULL)
		printf("error     %s %s: %s\n", v(j, 0, 13), v(j, 0, 14), v(j, 0, 15));
	if (u->nrows == 1)
		printf("usage     %s prompt + %s completion tokens, %s micro-units, queue %s ms,"
		    " engine %s ms on %s %s\n", v(u, 0, 0), v(u, 0, 1), v(u, 0, 2), v(u, 0, 3),
		    v(u, 0, 4), v(u, 0, 5), v(u, 0, 6));
	printf("\n%-26s %-22s %-7s %-7s %-28s %s\n", "AT", "EVENT", "ATTEMPT", "WORKER",
	    "REPLICA", "DETAIL");
	for (size_t r = 0; r < e->nrows; r++)
		printf("%-26s %-22s %-7s %-7s %-28.28s %s\n", v(e, r, 0), v(e, r, 1), v(e, r, 2),
		    v(e, r, 3), v(e, r, 4), v(e, r, 5));
	rc = 0;
out:
	aif_dbrows_free(j);
	aif_dbrows_free(e);
	aif_dbrows_free(u);
	return rc;
}

static int
list(struct aif_db *db, const char *state, const char *model, int64_t limit)
{
	static const char sql[] =
	    "SELECT public_id, model, kind, state, priority, attempts, created_at,"
	    " COALESCE(finished_at, '-'), COALESCE(http_status, '-') FROM jobs"
	    " WHERE (? IS NULL OR state = ?) AND (? IS NULL OR model = ?)"
	    " ORDER BY id DESC LIMIT ?";
	struct aif_dbp p[] = { AIF_P_STR(state), AIF_P_STR(state), AIF_P_STR(model),
	    AIF_P_STR(model), AIF_P_I64(limit) };
	struct aif_dbrows *rows = NULL;

	if (aif_db_query(db, sql, p, 5, &rows) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot read jobs\n");
		return 1;
	}
	printf("%-28s %-16s %-10s %-12s %-4s %-4s %-26s %-26s %s\n", "JOB", "MODEL", "KIND",
	    "STATE", "PRIO", "ATT", "CREATED", "FINISHED", "HTTP");
	for (size_t r = 0; r < rows->nrows; r++)
		printf("%-28s %-16.16s %-10s %-12s %-4s %-4s %-26s %-26s %s\n", v(rows, r, 0),
		    v(rows, r, 1), v(rows, r, 2), v(rows, r, 3), v(rows, r, 4), v(rows, r, 5),
		    v(rows, r, 6), v(rows, r, 7), v(rows, r, 8));
	aif_dbrows_free(rows);
	return 0;
}

static int
cancel(struct aif_db *db, uint64_t id)
{
	static const char doorbell[] =
	    "SELECT w.doorbell FROM jobs j JOIN workers w ON w.id = j.worker_id"
	    " WHERE j.id = ? AND j.state = 'running'";
	struct aif_dbp p[] = { AIF_P_I64(id) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	(void)aif_db_query(db, doorbell, p, 1, &rows);
	err = aif_queue_cancel(db, id, 0, "cancelled by an operator (aifctl jobs cancel)");
	if (err == AIF_OK && rows != NULL && rows->nrows == 1 && aif_dbrows_get(rows, 0, 0)) {
		char msg[64];
		int fd = aif_doorbell_sender();
		int n = snprintf(msg, sizeof(msg), "cancel %llu\n", (unsigned long long)id);
		(void)aif_doorbell_ring(fd, aif_dbrows_get(rows, 0, 0), msg, (size_t)n);
		if (fd >= 0)
			aif_doorbell_close(fd, NULL);
	}
	aif_dbrows_free(rows);
	if (err == AIF_NOTFOUND) {
		fprintf(stderr, "aifctl: the job is not queued or running\n");
		return 1;
	}
	if (err != AIF_OK) {
		fprintf(stderr, "aifctl: %s\n", aif_strerror(err));
		return 1;
	}
	printf("cancelled job %llu\n", (unsigned long long)id);
	return 0;
}

int
aifctl_cmd_jobs(const struct aif_config *cfg, int argc, char **argv)
{
	struct aif_db *db = NULL;
	const char *state = NULL, *model = NULL;
	int64_t limit = 50;
	uint64_t id;
	int rc = 1;

	if (argc < 2)
		usage();
	if (aif_db_open(cfg, &db) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot connect to the database\n");
		aif_db_close(db);
		return 1;
	}
	if ((strcmp(argv[1], "show") == 0 || strcmp(argv[1], "cancel") == 0) && argc == 3) {
		if ((id = resolve(db, argv[2])) == 0)
			fprintf(stderr, "aifctl: no job %s\n", argv[2]);
		else
			rc = argv[1][0] == 's' ? show(db, id) : cancel(db, id);
	} else if (strcmp(argv[1], "list") == 0) {
		for (int i = 2; i + 1 < argc; i += 2) {
			if (strcmp(argv[i], "--state") == 0)
				state = argv[i + 1];
			else if (strcmp(argv[i], "--model") == 0)
				model = argv[i + 1];
			else if (strcmp(argv[i], "--limit") == 0) {
				if (aif_parse_i64(argv[i + 1], 1, 100000, &limit) != 0)
					usage();
			} else
				usage();
		}
		if ((argc - 2) % 2 != 0)
			usage();
		rc = list(db, state, model, limit);
	} else {
		usage();
	}
	aif_db_close(db);
	return rc;
}
