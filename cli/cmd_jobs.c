/* cmd_jobs.c -- `aifctl jobs show ID | list [filters] | cancel ID`: a job and its
 * timeline (every event with its time, attempt, worker, replica, error and the admin
 * key of an operator's action) readable at a glance -- a workflow run also with its
 * steps (state, attempts, durations, errors, the branch taken, what a wait waits for)
 * and compensations -- searches by state, model, key, tenant and time, and
 * cancellation (a queued job at once; a running one is aborted by its worker, told
 * through its doorbell). show and list print the documents of core/store/console.h,
 * which GET /admin/jobs/{id} and GET /admin/jobs answer (--format json prints them as
 * they are). IDs are public ids (job_...) or internal numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bell.h"
#include "commands.h"
#include "console.h"
#include "db.h"
#include "doorbell.h"
#include "esc.h"
#include "jobs.h"
#include "netbell.h"
#include "queue.h"
#include "runs.h"
#include "util.h"

static void
usage(void)
{
	fprintf(stderr, "usage: aifctl jobs show ID [--format table|json]\n"
	    "       aifctl jobs list [--state S] [--model M] [--key PREFIX] [--tenant T]\n"
	    "                        [--since MS] [--until MS] [--before N] [--limit 1-200]\n"
	    "                        [--format table|json]\n"
	    "       aifctl jobs cancel ID\n"
	    "(show and list print what GET /admin/jobs/{id} and GET /admin/jobs answer;\n"
	    " --since/--until: Unix milliseconds)\n");
	exit(2);
}

/* Field key of object o as printed: strings escaped (names, models, engine error texts
 * come from outside), integers and booleans as such, null and absent as "-". */
static const char *
f(const json_t *o, const char *key)
{
	static char num[AIFCTL_ESC_SLOTS][32];
	static unsigned slot;
	const json_t *v = json_object_get(o, key);
	char *b = num[slot++ % AIFCTL_ESC_SLOTS];

	if (json_is_string(v))
		return aifctl_esc(json_string_value(v));
	if (json_is_integer(v))
		snprintf(b, 32, "%lld", (long long)json_integer_value(v));
	else if (json_is_boolean(v))
		snprintf(b, 32, "%s", json_is_true(v) ? "yes" : "no");
	else
		return "-";
	return b;
}

static int64_t
ms_of(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* A time in Unix ms as "2026-12-07 10:00:00.123" (UTC), or "-". */
static const char *
when(const json_t *o, const char *key)
{
	static char buf[AIFCTL_ESC_SLOTS][40];
	static unsigned slot;
	int64_t ms = ms_of(o, key);
	char *b = buf[slot++ % AIFCTL_ESC_SLOTS];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL)
		return "-";
	snprintf(b, 40, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return b;
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

/* What a step's row says beyond its state: the branch taken, what a wait waits for,
 * the job of a model step, its error. */
static void
step_detail(const json_t *st, char *detail, size_t cap)
{
	const char *branch = json_string_value(json_object_get(st, "branch_taken"));
	const char *waits = json_string_value(json_object_get(st, "waiting_for"));
	const char *child = json_string_value(json_object_get(st, "child"));
	const char *error = json_string_value(json_object_get(st, "error"));
	const char *cs = json_string_value(json_object_get(st, "child_state"));
	int64_t wake = ms_of(st, "wake_at_ms");

	detail[0] = '\0';
	if (branch != NULL)
		snprintf(detail, cap, "-> %s", branch);
	else if (waits != NULL && wake > 0)
		snprintf(detail, cap, "waits for %s (until %lld s from now)", waits,
		    (long long)((wake - aif_wall_ms()) / 1000));
	else if (child != NULL)
		snprintf(detail, cap, "job %s (%s)", child, cs != NULL ? cs : "?");
	if (error != NULL)
		snprintf(detail + strlen(detail), cap - strlen(detail), "%serror: %.1000s",
		    detail[0] ? "; " : "", error);
}

/* The steps of a workflow run, in the order the run reached them: where it is, where
 * it stopped, which branch it took, what a wait waits for. */
static void
show_steps(const json_t *steps)
{
	const char *at = NULL;
	size_t i;
	json_t *st;

	json_array_foreach(steps, i, st) {
		const char *state = json_string_value(json_object_get(st, "state"));
		if (at == NULL && state != NULL && (strcmp(state, "scheduled") == 0 ||
		    strcmp(state, "running") == 0 || strcmp(state, "waiting") == 0))
			at = f(st, "name");
	}
	printf("\nsteps     %zu reached; %s%s\n", json_array_size(steps),
	    at ? "now at " : "none open", at ? at : "");
	printf("  %-3s %-24s %-9s %-10s %-7s %-10s %s\n", "#", "STEP", "KIND", "STATE",
	    "ATT", "TOOK", "DETAIL");
	json_array_foreach(steps, i, st) {
		char took[32], att[48], detail[1400];
		duration(ms_of(st, "started_ms"), ms_of(st, "finished_ms"), took, sizeof(took));
		snprintf(att, sizeof(att), "%s/%s", f(st, "attempts"), f(st, "max_attempts"));
		step_detail(st, detail, sizeof(detail));
		printf("  %-3s %-24.24s %-9s %-10s %-7s %-10s %s%s\n", f(st, "seq"),
		    f(st, "name"), f(st, "kind"), f(st, "state"), att, took,
		    strcmp(f(st, "state"), "failed") == 0 ? "<- stopped here: " : "",
		    aifctl_esc(detail));
	}
}

/* The compensations of a job, in the order they run. */
static void
show_compensations(const json_t *comps)
{
	size_t i;
	json_t *c;

	if (json_array_size(comps) == 0)
		return;
	printf("\ncompensations\n  %-3s %-24s %-8s %-7s %s\n", "#", "NAME", "STATE", "ATT",
	    "LAST ERROR");
	json_array_foreach(comps, i, c)
		printf("  %-3s %-24.24s %-8s %-7s %s\n", f(c, "step_no"), f(c, "name"),
		    f(c, "state"), f(c, "attempts"), f(c, "last_error"));
}

/* The job's header lines. */
static void
show_head(const json_t *j, const json_t *u)
{
	const json_t *e = json_object_get(j, "error");
	char *pii;

	printf("job       %s  (id %s)\n", f(j, "id"), f(j, "number"));
	printf("model     %s  kind %s%s  priority %s  key %s (%s)  tenant %s\n", f(j, "model"),
	    f(j, "kind"), json_is_true(json_object_get(j, "stream")) ? " (stream)" : "",
	    f(j, "priority"), f(j, "key_id"), f(j, "key_prefix"), f(j, "tenant"));
	printf("state     %s  attempts %s/%s  http %s\n", f(j, "state"), f(j, "attempts"),
	    f(j, "max_attempts"), f(j, "http_status"));
	printf("times     created %s  started %s  finished %s\n", when(j, "created_ms"),
	    when(j, "started_ms"), when(j, "finished_ms"));
	pii = json_dumps(json_object_get(j, "pii_counts"), JSON_COMPACT | JSON_ENCODE_ANY);
	printf("budget    %s (hold %s micro-units)  pii %s\n", f(j, "budget_state"),
	    f(j, "budget_hold_micros"), aifctl_esc(pii != NULL ? pii : "-"));
	free(pii);
	if (json_is_object(e))
		printf("error     %s %s: %s\n", f(e, "type"), f(e, "code"), f(e, "message"));
	if (json_is_object(u))
		printf("usage     %s prompt + %s completion tokens, %s micro-units, queue %s ms,"
		    " engine %s ms on %s %s\n", f(u, "prompt_tokens"),
		    f(u, "completion_tokens"), f(u, "cost_micros"), f(u, "queue_ms"),
		    f(u, "engine_ms"), f(u, "engine"), f(u, "replica"));
}

/* Prints doc as indented JSON (what GET /admin/... answers). */
static void
print_doc(const json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);

	printf("%s\n", s != NULL ? s : "null");
	free(s);
}

/* aifctl jobs show: the document of GET /admin/jobs/{id}, as JSON or read at a glance. */
static int
show(struct aif_db *db, uint64_t id, int json)
{
	json_t *doc = NULL, *ev;
	size_t i;

	if (aif_console_job(db, id, &doc) != AIF_OK) {
		fprintf(stderr, "aifctl: no such job or database error\n");
		return 1;
	}
	if (json) {
		print_doc(doc);
		json_decref(doc);
		return 0;
	}
	show_head(json_object_get(doc, "job"), json_object_get(doc, "usage"));
	if (json_array_size(json_object_get(doc, "steps")) > 0)
		show_steps(json_object_get(doc, "steps"));
	show_compensations(json_object_get(doc, "compensations"));
	printf("\n%-23s %-22s %-7s %-7s %-28s %s\n", "AT (UTC)", "EVENT", "ATTEMPT",
	    "WORKER", "REPLICA", "DETAIL");
	json_array_foreach(json_object_get(doc, "events"), i, ev)
		printf("%-23s %-22s %-7s %-7s %-28.28s %s%s%s\n", when(ev, "at_ms"),
		    f(ev, "event"), f(ev, "attempt"), f(ev, "worker_id"), f(ev, "replica"),
		    f(ev, "detail"), json_is_integer(json_object_get(ev, "actor_key_id")) ?
		    " by admin key " : "", json_is_integer(json_object_get(ev,
		    "actor_key_id")) ? f(ev, "actor_key_id") : "");
	json_decref(doc);
	return 0;
}

/* aifctl jobs list: the document of GET /admin/jobs, as JSON or a table. */
static int
list(struct aif_db *db, const struct aif_console_filter *flt, int json)
{
	json_t *doc = NULL, *j;
	size_t i;

	if (aif_console_jobs(db, flt, &doc) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot read jobs\n");
		return 1;
	}
	if (json) {
		print_doc(doc);
		json_decref(doc);
		return 0;
	}
	printf("%-28s %-16s %-10s %-12s %-4s %-4s %-12s %-23s %-23s %s\n", "JOB", "MODEL",
	    "KIND", "STATE", "PRIO", "ATT", "KEY", "CREATED (UTC)", "FINISHED (UTC)", "HTTP");
	json_array_foreach(json_object_get(doc, "data"), i, j)
		printf("%-28s %-16.16s %-10s %-12s %-4s %-4s %-12s %-23s %-23s %s\n",
		    f(j, "id"), f(j, "model"), f(j, "kind"), f(j, "state"), f(j, "priority"),
		    f(j, "attempts"), f(j, "key_prefix"), when(j, "created_ms"),
		    when(j, "finished_ms"), f(j, "http_status"));
	if (json_is_integer(json_object_get(doc, "next_before")))
		fprintf(stderr, "aifctl: more jobs: --before %s\n", f(doc, "next_before"));
	json_decref(doc);
	return 0;
}

static int
cancel(const struct aif_config *cfg, struct aif_db *db, uint64_t id)
{
	char doorbell[AIF_DOORBELL_PATH_MAX] = "";
	struct aif_console_retry t;
	enum aif_err err;

	/* a workflow run stops at its runner, which compensates what it did */
	if (aif_console_retry_source(db, id, 0, &t) == AIF_OK &&
	    strcmp(t.kind, "pipeline") == 0) {
		uint64_t rid = 0;
		free(t.request);
		err = aif_flow_signal(db, t.public_id, 0, "__cancel", "null", &rid);
		if (err != AIF_OK) {
			fprintf(stderr, "aifctl: %s\n", err == AIF_CONFLICT ?
			    "the run is already final" : aif_strerror(err));
			return 1;
		}
		printf("cancel requested for run %llu: its runner stops it and compensates\n",
		    (unsigned long long)id);
		return 0;
	}
	free(t.request);

	err = aif_queue_cancel_doorbell(db, id, 0,
	    "cancelled by an operator (aifctl jobs cancel)", doorbell, sizeof(doorbell));
	if (err == AIF_OK && doorbell[0] != '\0') {
		char msg[64], why[256];
		int fd = aif_doorbell_sender();
		size_t n = aif_bell_cancel(msg, sizeof(msg), id);

		/* a worker on another host: the ring is sealed with the cluster secret (a
		 * ring that cannot be sent costs the worker's slow poll only) */
		if (aif_netbell_is_net(doorbell))
			(void)aif_netbell_setup(cfg, why, sizeof(why));
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

/* A list option into flt (strings borrowed from argv); -1 when unknown or bad. */
static int
list_option(struct aif_console_filter *flt, const char *opt, const char *v, int *json)
{
	int64_t n;

	if (strcmp(opt, "--state") == 0)
		flt->state = v;
	else if (strcmp(opt, "--model") == 0)
		flt->model = v;
	else if (strcmp(opt, "--key") == 0)
		flt->key_prefix = v;
	else if (strcmp(opt, "--tenant") == 0)
		flt->tenant = v;
	else if (strcmp(opt, "--format") == 0 && (strcmp(v, "json") == 0 ||
	    strcmp(v, "table") == 0))
		*json = v[0] == 'j';
	else if (aif_parse_i64(v, 1, INT64_MAX / 2, &n) != 0)
		return -1;
	else if (strcmp(opt, "--limit") == 0 && n <= AIF_CONSOLE_LIST_MAX)
		flt->limit = (int)n;
	else if (strcmp(opt, "--before") == 0)
		flt->before = (uint64_t)n;
	else if (strcmp(opt, "--since") == 0)
		flt->since_ms = n;
	else if (strcmp(opt, "--until") == 0)
		flt->until_ms = n;
	else
		return -1;
	return 0;
}

int
aifctl_cmd_jobs(const struct aif_config *cfg, int argc, char **argv)
{
	struct aif_console_filter flt = { .limit = 50 };
	struct aif_db *db = NULL;
	uint64_t id = 0;
	int rc = 1, json = 0;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "show") == 0 && argc == 5 && strcmp(argv[3], "--format") == 0 &&
	    (strcmp(argv[4], "json") == 0 || strcmp(argv[4], "table") == 0))
		json = argv[4][0] == 'j';
	else if (strcmp(argv[1], "list") == 0) {
		if ((argc - 2) % 2 != 0)
			usage();
		for (int i = 2; i + 1 < argc; i += 2)
			if (list_option(&flt, argv[i], argv[i + 1], &json) != 0)
				usage();
	} else if (!((strcmp(argv[1], "show") == 0 || strcmp(argv[1], "cancel") == 0) &&
	    argc == 3))
		usage();
	if (aif_db_open(cfg, &db) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot connect to the database\n");
		aif_db_close(db);
		return 1;
	}
	if (strcmp(argv[1], "list") == 0)
		rc = list(db, &flt, json);
	else if (aif_jobs_resolve(db, argv[2], &id) != AIF_OK)
		fprintf(stderr, "aifctl: no job %s\n", aifctl_esc(argv[2]));
	else
		rc = argv[1][0] == 's' ? show(db, id, json) : cancel(cfg, db, id);
	aif_db_close(db);
	return rc;
}
