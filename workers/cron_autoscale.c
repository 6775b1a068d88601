/* cron_autoscale.c -- `aif-cron autoscale`: reads queue depth and age from the
 * database, decides the number of workers (workers/autoscale.c) under the YAML policy
 * (autoscale:), and runs the configured start/stop command (default systemctl start|
 * stop aif-worker@{n}) for the instances to add or remove; per model, it calls the
 * engine scaling hook with the desired replica count. Every decision, hold included, is
 * a row in autoscale_decisions (shown by `aifctl workers`) and a log line. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "autoscale.h"
#include "cron.h"
#include "jobs.h"
#include "log.h"
#include "registry.h"
#include "scaling.h"
#include "util.h"

#define CMD_MAX			1024
#define AUTOSCALE_STALE_S	30	/* a worker without a heartbeat this long is gone */

/* Replaces {key} in tmpl by val (both borrowed) into out; -1 if it does not fit. */
static int
expand(const char *tmpl, const char *const *keys, const char *const *vals, size_t n,
    char *out, size_t cap)
{
	size_t o = 0;

	for (const char *p = tmpl; *p != '\0';) {
		size_t k;
		for (k = 0; k < n; k++) {
			size_t kl = strlen(keys[k]);
			if (strncmp(p, keys[k], kl) == 0)
				break;
		}
		if (k < n) {
			size_t vl = strlen(vals[k]);
			if (o + vl + 1 > cap)
				return -1;
			memcpy(out + o, vals[k], vl);
			o += vl;
			p += strlen(keys[k]);
		} else {
			if (o + 2 > cap)
				return -1;
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return 0;
}

static int
run(const char *cmd, int dry)
{
	int st;

	aif_info("msg=\"autoscale command\" cmd=\"%s\" dry_run=%d", cmd, dry);
	if (dry)
		return 0;
	st = system(cmd);
	return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void
record(struct aif_db *db, const char *scope, int current,
    const struct aif_scale_decision *d, int rc)
{
	const char *action = d->action > 0 ? "up" : d->action < 0 ? "down" : "hold";

	(void)aif_scaling_record(db, scope, current, d->desired, action, d->reason, rc);
	aif_info("msg=\"autoscale decision\" scope=%s current=%d desired=%d action=%s"
	    " reason=\"%s\"", scope, current, d->desired, action, d->reason);
}

/* The running instance numbers (running[n] = 1) and how many; -1 on a database error. */
static int
running_instances(struct aif_db *db, int running[1024])
{
	struct aif_dbrows *r = NULL;
	int current = 0;

	if (aif_registry_instances(db, AUTOSCALE_STALE_S, &r) != AIF_OK)
		return -1;
	for (size_t i = 0; i < r->nrows; i++) {
		int64_t n = 0;
		if (aif_parse_i64(aif_dbrows_get(r, i, AIF_IN_INSTANCE), 1, 1023, &n) == 0 &&
		    !running[n]) {
			running[n] = 1;
			current++;
		}
	}
	aif_dbrows_free(r);
	return current;
}

/* The queue in "worker units" (per-model targets where overridden) and the age of
 * the oldest queued job. */
static int
workers_needed(const struct aif_autoscale *a, struct aif_db *db, int64_t *needed,
    int64_t *age)
{
	int64_t depth = 0;

	if (aif_jobs_backlog(db, NULL, &depth, age) != AIF_OK)
		return -1;
	*needed = depth;
	for (size_t i = 0; i < a->nmodels; i++) {
		int64_t md = 0, ma = 0;
		if (aif_jobs_backlog(db, a->models[i].model, &md, &ma) != AIF_OK)
			return -1;
		/* rescale this model's jobs to the global target */
		*needed += md * a->target_queue_per_worker / a->models[i].target_queue_per_worker -
		    md;
	}
	return 0;
}

/* Starts the lowest free instance numbers, or stops the highest running ones, until
 * `current` reaches the decision; the last command's status in *cmd_rc. */
static int
apply_workers(const struct aif_autoscale *a, const struct aif_scale_decision *d,
    int running[1024], int current, int dry, int *cmd_rc)
{
	int rc = 0;

	for (int k = 0; k < 1024 && current != d->desired; k++) {
		int n = d->action > 0 ? k + 1 : 1023 - k;
		char num[16], cmd[CMD_MAX];
		const char *keys[] = { "{n}" }, *vals[] = { num };
		if (n < 1 || n > 1023 || running[n] == (d->action > 0))
			continue;
		snprintf(num, sizeof(num), "%d", n);
		if (expand(d->action > 0 ? a->start_command : a->stop_command, keys, vals, 1,
		    cmd, sizeof(cmd)) != 0)
			break;
		if ((*cmd_rc = run(cmd, dry)) != 0)
			rc = 1;
		current += d->action;
	}
	return rc;
}

/* The engine scaling hook of one model gets the replica count it should have. */
static int
scale_engine(const struct aif_config *cfg, const struct aif_autoscale_engine *e,
    struct aif_db *db, int dry)
{
	const struct aif_autoscale *a = &cfg->autoscale;
	const struct aif_model *m = aif_cfg_model(cfg, e->model);
	char scope[160], reps[16], cmd[CMD_MAX];
	const char *keys[] = { "{model}", "{replicas}" }, *vals[] = { e->model, reps };
	int cur = m != NULL ? (int)m->nreplicas : e->min_replicas, rc = 0;
	int cmd_rc = INT32_MIN;
	struct aif_scale_policy pol = { e->min_replicas, e->max_replicas,
	    e->target_queue_per_replica, 0, a->scale_up_cooldown_ms, a->scale_down_cooldown_ms };
	struct aif_scale_input in = { .current = cur };
	struct aif_scale_decision d;

	if (aif_jobs_backlog(db, e->model, &in.depth, &in.oldest_age_ms) != AIF_OK)
		return -1;
	snprintf(scope, sizeof(scope), "engine:%.140s", e->model);
	/* no decision, or a database error: "long ago" */
	(void)aif_scaling_since(db, scope, "up", &in.since_last_up_ms);
	(void)aif_scaling_since(db, scope, "down", &in.since_last_down_ms);
	aif_scale_decide(&pol, &in, &d);
	if (d.action != 0) {
		snprintf(reps, sizeof(reps), "%d", d.desired);
		if (expand(e->command, keys, vals, 2, cmd, sizeof(cmd)) == 0 &&
		    (cmd_rc = run(cmd, dry)) != 0)
			rc = 1;
	}
	record(db, scope, cur, &d, cmd_rc);
	return rc;
}

int
cron_autoscale(const struct aif_config *cfg, struct aif_db *db, int dry)
{
	const struct aif_autoscale *a = &cfg->autoscale;
	struct aif_scale_policy pol = { a->min_workers, a->max_workers,
	    a->target_queue_per_worker, a->max_queue_age_ms, a->scale_up_cooldown_ms,
	    a->scale_down_cooldown_ms };
	struct aif_scale_input in;
	struct aif_scale_decision d;
	int running[1024] = { 0 }, current, rc = 0, cmd_rc = INT32_MIN, e;
	int64_t needed = 0, age = 0;

	if (!a->enabled) {
		aif_info("msg=\"autoscale: no autoscale section in the config; nothing to do\"");
		return 0;
	}
	if ((current = running_instances(db, running)) < 0 ||
	    workers_needed(a, db, &needed, &age) != 0)
		return 1;
	in = (struct aif_scale_input){ current, needed > 0 ? needed : 0, age, 0, 0 };
	(void)aif_scaling_since(db, "workers", "up", &in.since_last_up_ms);
	(void)aif_scaling_since(db, "workers", "down", &in.since_last_down_ms);
	aif_scale_decide(&pol, &in, &d);
	if (d.action != 0)
		rc = apply_workers(a, &d, running, current, dry, &cmd_rc);
	record(db, "workers", in.current, &d, cmd_rc);
	for (size_t i = 0; i < a->nengines; i++)
		if ((e = scale_engine(cfg, &a->engines[i], db, dry)) != 0) {
			if (e < 0)
				return 1;
			rc = 1;
		}
	return rc;
}
