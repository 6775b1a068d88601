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
#include "log.h"
#include "util.h"

#define CMD_MAX	1024

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

static int64_t
ms_since(struct aif_db *db, const char *scope, const char *action)
{
	static const char sql[] =
	    "SELECT COALESCE(TIMESTAMPDIFF(MICROSECOND, MAX(at), NOW(6)) DIV 1000, 1000000000)"
	    " FROM autoscale_decisions WHERE scope = ? AND action = ?";
	struct aif_dbp p[] = { AIF_P_STR(scope), AIF_P_STR(action) };
	struct aif_dbrows *r = NULL;
	int64_t v = 1000000000;

	if (aif_db_query(db, sql, p, 2, &r) == AIF_OK && r->nrows == 1)
		(void)aif_parse_i64(aif_dbrows_get(r, 0, 0), INT64_MIN, INT64_MAX, &v);
	aif_dbrows_free(r);
	return v;
}

static void
record(struct aif_db *db, const char *scope, int current,
    const struct aif_scale_decision *d, int rc)
{
	static const char sql[] =
	    "INSERT INTO autoscale_decisions (scope, current, desired, action, reason,"
	    " command_rc) VALUES (?, ?, ?, ?, ?, ?)";
	struct aif_dbp p[] = {
		AIF_P_STR(scope), AIF_P_I64(current), AIF_P_I64(d->desired),
		AIF_P_STR(d->action > 0 ? "up" : d->action < 0 ? "down" : "hold"),
		AIF_P_STR(d->reason), rc == INT32_MIN ? AIF_P_NULL() : AIF_P_I64(rc),
	};

	(void)aif_db_exec(db, sql, p, 6, NULL, NULL);
	aif_info("msg=\"autoscale decision\" scope=%s current=%d desired=%d action=%s"
	    " reason=\"%s\"", scope, current, d->desired,
	    d->action > 0 ? "up" : d->action < 0 ? "down" : "hold", d->reason);
}

/* Queued + running jobs and the oldest queued age (ms), for one model or all (NULL). */
static int
queue_of(struct aif_db *db, const char *model, int64_t *depth, int64_t *age)
{
	static const char sql[] =
	    "SELECT COUNT(*), COALESCE(MAX(IF(state = 'queued',"
	    " TIMESTAMPDIFF(MICROSECOND, created_at, NOW(6)) DIV 1000, 0)), 0)"
	    " FROM jobs WHERE state IN ('queued','running') AND (? IS NULL OR model = ?)";
	struct aif_dbp p[] = { AIF_P_STR(model), AIF_P_STR(model) };
	struct aif_dbrows *r = NULL;

	*depth = *age = 0;
	if (aif_db_query(db, sql, p, 2, &r) != AIF_OK || r->nrows != 1) {
		aif_dbrows_free(r);
		return -1;
	}
	(void)aif_parse_i64(aif_dbrows_get(r, 0, 0), 0, INT64_MAX, depth);
	(void)aif_parse_i64(aif_dbrows_get(r, 0, 1), 0, INT64_MAX, age);
	aif_dbrows_free(r);
	return 0;
}

int
cron_autoscale(const struct aif_config *cfg, struct aif_db *db, int dry)
{
	static const char q_running[] =
	    "SELECT instance FROM workers WHERE state = 'running'"
	    " AND heartbeat_at > NOW(6) - INTERVAL 30 SECOND ORDER BY id";
	const struct aif_autoscale *a = &cfg->autoscale;
	struct aif_scale_policy pol;
	struct aif_scale_input in;
	struct aif_scale_decision d;
	struct aif_dbrows *r = NULL;
	int running[1024] = { 0 }, current = 0, rc = 0, cmd_rc = INT32_MIN;
	int64_t depth = 0, age = 0, needed = 0;

	if (!a->enabled) {
		aif_info("msg=\"autoscale: no autoscale section in the config; nothing to do\"");
		return 0;
	}
	if (aif_db_query(db, q_running, NULL, 0, &r) != AIF_OK)
		return 1;
	for (size_t i = 0; i < r->nrows; i++) {
		int64_t n = 0;
		if (aif_parse_i64(aif_dbrows_get(r, i, 0), 1, 1023, &n) == 0 && !running[n]) {
			running[n] = 1;
			current++;
		}
	}
	aif_dbrows_free(r);
	/* depth in "worker units": per-model targets where overridden */
	if (queue_of(db, NULL, &depth, &age) != 0)
		return 1;
	needed = depth;
	for (size_t i = 0; i < a->nmodels; i++) {
		int64_t md = 0, ma = 0;
		if (queue_of(db, a->models[i].model, &md, &ma) != 0)
			return 1;
		/* rescale this model's jobs to the global target */
		needed += md * a->target_queue_per_worker / a->models[i].target_queue_per_worker - md;
	}
	pol = (struct aif_scale_policy){ a->min_workers, a->max_workers,
	    a->target_queue_per_worker, a->max_queue_age_ms, a->scale_up_cooldown_ms,
	    a->scale_down_cooldown_ms };
	in = (struct aif_scale_input){ current, needed > 0 ? needed : 0, age,
	    ms_since(db, "workers", "up"), ms_since(db, "workers", "down") };
	aif_scale_decide(&pol, &in, &d);
	if (d.action != 0) {
		/* start the lowest free instance numbers, stop the highest running ones */
		for (int k = 0; k < 1024 && current != d.desired; k++) {
			int n = d.action > 0 ? k + 1 : 1023 - k;
			char num[16], cmd[CMD_MAX];
			const char *keys[] = { "{n}" }, *vals[] = { num };
			if (n < 1 || n > 1023 || running[n] == (d.action > 0))
				continue;
			snprintf(num, sizeof(num), "%d", n);
			if (expand(d.action > 0 ? a->start_command : a->stop_command, keys, vals, 1,
			    cmd, sizeof(cmd)) != 0)
				break;
			cmd_rc = run(cmd, dry);
			if (cmd_rc != 0)
				rc = 1;
			current += d.action;
		}
	}
	record(db, "workers", in.current, &d, cmd_rc);
	/* engines: the hook of each model gets the replica count it should have */
	for (size_t i = 0; i < a->nengines; i++) {
		const struct aif_autoscale_engine *e = &a->engines[i];
		char scope[160], reps[16], cmd[CMD_MAX];
		const struct aif_model *m = aif_cfg_model(cfg, e->model);
		const char *keys[] = { "{model}", "{replicas}" }, *vals[] = { e->model, reps };
		int cur = m != NULL ? (int)m->nreplicas : e->min_replicas;
		if (queue_of(db, e->model, &depth, &age) != 0)
			return 1;
		snprintf(scope, sizeof(scope), "engine:%.140s", e->model);
		pol = (struct aif_scale_policy){ e->min_replicas, e->max_replicas,
		    e->target_queue_per_replica, 0, a->scale_up_cooldown_ms,
		    a->scale_down_cooldown_ms };
		in = (struct aif_scale_input){ cur, depth, age, ms_since(db, scope, "up"),
		    ms_since(db, scope, "down") };
		aif_scale_decide(&pol, &in, &d);
		cmd_rc = INT32_MIN;
		if (d.action != 0) {
			snprintf(reps, sizeof(reps), "%d", d.desired);
			if (expand(e->command, keys, vals, 2, cmd, sizeof(cmd)) == 0 &&
			    (cmd_rc = run(cmd, dry)) != 0)
				rc = 1;
		}
		record(db, scope, cur, &d, cmd_rc);
	}
	return rc;
}
