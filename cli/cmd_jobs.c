/* cmd_jobs.c -- `aifctl jobs show ID | list [--state S] [--model M] [--limit N] |
 * cancel ID`: a job and its timeline (every event with its time, attempt, worker,
 * replica and error) readable at a glance -- a workflow run also with its steps (state,
 * attempts, durations, errors, the branch taken, what a wait waits for) -- lists by
 * state, and cancellation (a queued
 * job at once; a running one is aborted by its worker, told through its doorbell). IDs
 * are public ids (job_...) or internal numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bell.h"
#include "commands.h"
#include "db.h"
#include "doorbell.h"
#include "esc.h"
#include "jobs.h"
#include "queue.h"
#include "runs.h"
#include "util.h"

static void
usage(void)
{
	fprintf(stderr, "usage: aifctl jobs show ID\n"
	    "       aifctl jobs list [--state S] [--model M] [--limit N]\n"
	    "       aifctl jobs cancel ID\n");
	exit(2);
}

/* A cell as printed: escaped (names, models, engine error texts come from outside). */
static const char *
v(const struct aif_dbrows *r, size_t row, size_t col)
{
	return aifctl_esc(aif_dbrows_get(r, row, col));
}

/* "1.2 s", "35 ms": the duration of a step, or "" when it has not started. */
static void
duration(int64_t from_ms, int64_t to_ms, char *buf, size_t cap)
{
	int64_t d;

	buf[0] = '\0';
	if (from_ms <= 0)
		return;
	d = (to_ms > 0 ? to_ms : aif_wall_ms()) - from_ms;
	if (d < 0)
		d = 0;
	if (d < 10000)
		snprintf(buf, cap, "%lld ms%s", (long long)d, to_ms > 0 ? "" : "+");
	else
		snprintf(buf, cap, "%lld.%lld s%s", (long long)(d / 1000),
		    (long long)(d % 1000 / 100), to_ms > 0 ? "" : "+");
}

/* The steps of workflow run id, in the order the run reached them: where it is, where
 * it stopped, which branch it took, what a wait waits for. */
static void
show_steps(struct aif_db *db, uint64_t id)
{
	struct aif_flow_step *s = NULL;
	size_t n = 0;
	const char *at = NULL;

	if (aif_flow_steps(db, id, &s, &n) != AIF_OK) {
		printf("\nsteps     (cannot be read)\n");
		return;
	}
	for (size_t i = 0; i < n && at == NULL; i++)
		if (strcmp(s[i].state, "scheduled") == 0 || strcmp(s[i].state, "running") == 0 ||
		    strcmp(s[i].state, "waiting") == 0)
			at = s[i].name;
	printf("\nsteps     %zu reached; %s%s\n", n, at ? "now at " : "none open",
	    at ? aifctl_esc(at) : "");
	printf("  %-3s %-24s %-9s %-10s %-7s %-10s %s\n", "#", "STEP", "KIND", "STATE",
	    "ATT", "TOOK", "DETAIL");
	for (size_t i = 0; i < n; i++) {
		char took[32], att[16], detail[1400] = "";
		duration(s[i].started_ms, s[i].finished_ms, took, sizeof(took));
		snprintf(att, sizeof(att), "%d/%d", s[i].attempts, s[i].max_attempts);
		if (s[i].branch_taken[0])
			snprintf(detail, sizeof(detail), "-> %s", s[i].branch_taken);
		else if (s[i].waiting_for[0] && s[i].wake_at_ms > 0)
			snprintf(detail, sizeof(detail), "waits for %s (until %lld s from now)",
			    s[i].waiting_for, (long long)((s[i].wake_at_ms - aif_wall_ms()) / 1000));
		else if (s[i].child_public_id[0])
			snprintf(detail, sizeof(detail), "job %s (%s)", s[i].child_public_id,
			    s[i].child_state[0] ? s[i].child_state : "?");
		if (s[i].error[0])
			snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
			    "%serror: %.1000s", detail[0] ? "; " : "", s[i].error);
		printf("  %-3d %-24.24s %-9s %-10s %-7s %-10s %s%s\n", s[i].seq,
		    aifctl_esc(s[i].name), aifctl_esc(s[i].kind), aifctl_esc(s[i].state), att,
		    took, strcmp(s[i].state, "failed") == 0 ? "<- stopped here: " : "",
		    aifctl_esc(detail));
	}
	aif_flow_steps_free(s, n);
}

static int
show(struct aif_db *db, uint64_t id)
{
	struct aif_dbrows *j = NULL, *e = NULL, *u = NULL;

	if (aif_jobs_detail(db, id, &j, &e, &u) != AIF_OK) {
		fprintf(stderr, "aifctl: no such job or database error\n");
		return 1;
	}
	printf("job       %s  (id %llu)\n", v(j, 0, AIF_JOB_PUBLIC_ID), (unsigned long long)id);
	printf("model     %s  kind %s%s  priority %s  key %s  tenant %s\n",
	    v(j, 0, AIF_JOB_MODEL), v(j, 0, AIF_JOB_KIND),
	    strcmp(v(j, 0, AIF_JOB_STREAM), "1") == 0 ? " (stream)" : "",
	    v(j, 0, AIF_JOB_PRIORITY), v(j, 0, AIF_JOB_API_KEY_ID), v(j, 0, AIF_JOB_TENANT));
	printf("state     %s  attempts %s/%s  http %s\n", v(j, 0, AIF_JOB_STATE),
	    v(j, 0, AIF_JOB_ATTEMPTS), v(j, 0, AIF_JOB_MAX_ATTEMPTS),
	    v(j, 0, AIF_JOB_HTTP_STATUS));
	printf("times     created %s  started %s  finished %s\n", v(j, 0, AIF_JOB_CREATED_AT),
	    v(j, 0, AIF_JOB_STARTED_AT), v(j, 0, AIF_JOB_FINISHED_AT));
	printf("budget    %s (hold %s micro-units)  pii %s\n", v(j, 0, AIF_JOB_BUDGET_STATE),
	    v(j, 0, AIF_JOB_BUDGET_HOLD), v(j, 0, AIF_JOB_PII_COUNTS));
	if (aif_dbrows_get(j, 0, AIF_JOB_ERROR_TYPE) != NULL)
		printf("error     %s %s: %s\n", v(j, 0, AIF_JOB_ERROR_TYPE),
		    v(j, 0, AIF_JOB_ERROR_CODE), v(j, 0, AIF_JOB_ERROR_MESSAGE));
	if (u->nrows == 1)
		printf("usage     %s prompt + %s completion tokens, %s micro-units, queue %s ms,"
		    " engine %s ms on %s %s\n", v(u, 0, AIF_JU_PROMPT_TOKENS),
		    v(u, 0, AIF_JU_COMPLETION_TOKENS), v(u, 0, AIF_JU_COST_MICROS),
		    v(u, 0, AIF_JU_QUEUE_MS), v(u, 0, AIF_JU_ENGINE_MS), v(u, 0, AIF_JU_ENGINE),
		    v(u, 0, AIF_JU_REPLICA));
	if (strcmp(v(j, 0, AIF_JOB_KIND), "pipeline") == 0)
		show_steps(db, id);
	printf("\n%-26s %-22s %-7s %-7s %-28s %s\n", "AT", "EVENT", "ATTEMPT", "WORKER",
	    "REPLICA", "DETAIL");
	for (size_t r = 0; r < e->nrows; r++)
		printf("%-26s %-22s %-7s %-7s %-28.28s %s\n", v(e, r, AIF_EV_AT),
		    v(e, r, AIF_EV_EVENT), v(e, r, AIF_EV_ATTEMPT), v(e, r, AIF_EV_WORKER_ID),
		    v(e, r, AIF_EV_REPLICA), v(e, r, AIF_EV_DETAIL));
	aif_dbrows_free(j);
	aif_dbrows_free(e);
	aif_dbrows_free(u);
	return 0;
}

static int
list(struct aif_db *db, const char *state, const char *model, int64_t limit)
{
	struct aif_dbrows *rows = NULL;

	if (aif_jobs_list(db, state, model, limit, &rows) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot read jobs\n");
		return 1;
	}
	printf("%-28s %-16s %-10s %-12s %-4s %-4s %-26s %-26s %s\n", "JOB", "MODEL", "KIND",
	    "STATE", "PRIO", "ATT", "CREATED", "FINISHED", "HTTP");
	for (size_t r = 0; r < rows->nrows; r++)
		printf("%-28s %-16.16s %-10s %-12s %-4s %-4s %-26s %-26s %s\n",
		    v(rows, r, AIF_JL_PUBLIC_ID), v(rows, r, AIF_JL_MODEL),
		    v(rows, r, AIF_JL_KIND), v(rows, r, AIF_JL_STATE),
		    v(rows, r, AIF_JL_PRIORITY), v(rows, r, AIF_JL_ATTEMPTS),
		    v(rows, r, AIF_JL_CREATED_AT), v(rows, r, AIF_JL_FINISHED_AT),
		    v(rows, r, AIF_JL_HTTP_STATUS));
	aif_dbrows_free(rows);
	return 0;
}

static int
cancel(struct aif_db *db, uint64_t id)
{
	char doorbell[AIF_DOORBELL_PATH_MAX] = "";
	struct aif_dbrows *j = NULL, *e = NULL, *u = NULL;
	enum aif_err err;

	/* a workflow run stops at its runner, which compensates what it did */
	if (aif_jobs_detail(db, id, &j, &e, &u) == AIF_OK &&
	    strcmp(v(j, 0, AIF_JOB_KIND), "pipeline") == 0) {
		uint64_t rid = 0;
		err = aif_flow_signal(db, aif_dbrows_get(j, 0, AIF_JOB_PUBLIC_ID), 0, "__cancel",
		    "null", &rid);
		aif_dbrows_free(j);
		aif_dbrows_free(e);
		aif_dbrows_free(u);
		if (err != AIF_OK) {
			fprintf(stderr, "aifctl: %s\n", err == AIF_CONFLICT ?
			    "the run is already final" : aif_strerror(err));
			return 1;
		}
		printf("cancel requested for run %llu: its runner stops it and compensates\n",
		    (unsigned long long)id);
		return 0;
	}
	aif_dbrows_free(j);
	aif_dbrows_free(e);
	aif_dbrows_free(u);

	err = aif_queue_cancel_doorbell(db, id, 0,
	    "cancelled by an operator (aifctl jobs cancel)", doorbell, sizeof(doorbell));
	if (err == AIF_OK && doorbell[0] != '\0') {
		char msg[64];
		int fd = aif_doorbell_sender();
		size_t n = aif_bell_cancel(msg, sizeof(msg), id);
		(void)aif_doorbell_ring(fd, doorbell, msg, n);
		if (fd >= 0)
			aif_doorbell_close(fd, NULL);
	}
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
	uint64_t id = 0;
	int rc = 1;

	if (argc < 2)
		usage();
	if (aif_db_open(cfg, &db) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot connect to the database\n");
		aif_db_close(db);
		return 1;
	}
	if ((strcmp(argv[1], "show") == 0 || strcmp(argv[1], "cancel") == 0) && argc == 3) {
		if (aif_jobs_resolve(db, argv[2], &id) != AIF_OK)
			fprintf(stderr, "aifctl: no job %s\n", aifctl_esc(argv[2]));
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
