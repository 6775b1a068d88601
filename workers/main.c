/* main.c -- aif-worker: claims jobs by priority, drives many engine calls at once with
 * libcurl multi, and commits outcomes. One thread, one event loop:
 *   wait (curl_multi_poll on the transfers, the doorbell and the stream relays, bounded
 *   by the next timer)
 *   -> take the jobs handed here at insert that a bell named (take.c), then claim
 *      while slots are free and there was a ring (or the slow poll came due)
 *      (dispatch.c)
 *   -> finish transfers: each becomes a result (outcome.c); successes are committed in
 *      one batch transaction with their usage rows, failures retried or failed, and the
 *      waiting aif-api processes rung (commit.c)
 *   -> timers: heartbeat (leases, this worker's share of the replicas, metrics, the
 *      replicas' health for /readyz) and opportunistic reaping.
 * SIGTERM drains: no new claims, in-flight calls finish within worker.drain_timeout_ms,
 * whatever is left is released back to the queue. SIGHUP checks the new config, then
 * drains and re-executes itself on it. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "bell.h"
#include "compensate.h"
#include "counters.h"
#include "handoff.h"
#include "http.h"
#include "log.h"
#include "netbell.h"
#include "otel.h"
#include "pii.h"
#include "registry.h"
#include "sdnotify.h"
#include "spans.h"
#include "version.h"
#include "worker.h"

#define REAP_INTERVAL_MS	5000
#define RELAYS_POLLED		32

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: aif-worker --config FILE --id N [--slots K]\n"
	    "       aif-worker --version\n");
	exit(2);
}

/* Seconds after which a worker that has not heartbeat no longer counts as live. */
static int
stale_s(const struct worker *w)
{
	return 3 * w->cfg->worker.heartbeat_ms / 1000 + 1;
}

/* ---- finished transfers ---- */

/* Collects finished transfers: failures are recorded one by one, successes committed
 * in one batch. */
static void
finish_transfers(struct worker *w)
{
	struct engine_call *ok[WORKER_BATCH];
	struct aif_job_success succ[WORKER_BATCH];
	size_t ns = 0;
	CURLMsg *msg;
	int left;

	while (ns < WORKER_BATCH && (msg = curl_multi_info_read(w->multi, &left)) != NULL) {
		struct engine_call *c = NULL;
		struct aif_engine_result res;
		CURLcode done;

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg belongs to the multi handle: read it before the handle leaves */
		done = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		curl_multi_remove_handle(w->multi, c->easy);
		dispatch_release(w, c);
		if (c->hook) {		/* a guardrail's webhook */
			guard_hook_done(w, c, done);
			continue;
		}
		if (c->count) {		/* a token count: no job to commit */
			count_finish(w, c, done);
			continue;
		}
		if (!outcome_of(w, c, done, &res)) {
			spans_attempt(c, &res);
			commit_failure(w, c, &res);
			aif_engine_result_clear(&res);
			engine_call_free(c);
			continue;
		}
		spans_attempt(c, &res);
		if (guard_post(w, c, &res)) {	/* blocked, or held for its hooks */
			aif_engine_result_clear(&res);
			continue;
		}
		outcome_success_row(w, c, &res, &succ[ns]);
		aif_engine_result_clear(&res);
		ok[ns++] = c;
	}
	commit_successes(w, ok, succ, ns);
}

/* ---- doorbell, peers, heartbeat ---- */

/* Replica limits are shared by the live workers: take this worker's share. */
static void
update_share(struct worker *w)
{
	int rank = 0, n = 1;

	if (aif_registry_rank(w->db, w->id, stale_s(w), &rank, &n) == AIF_OK)
		routing_set_share(w->rt, rank, n);
	wakeup_peers(w, stale_s(w));
}

/* A "take <id>" bell: its job when it carries one from a process of our own user
 * (handoff.h), else the id alone (the row is read). */
static void
take_bell(struct worker *w, uint64_t id, const char *msg, size_t len, int own)
{
	struct aif_claimed *job;

	if (own && memchr(msg, '\n', len) != NULL && (job = malloc(sizeof(*job))) != NULL) {
		if (aif_handoff_decode(msg, len, id, w->id, job) == AIF_OK) {
			take_note_job(w, job);
			return;
		}
		free(job);
	}
	take_note(w, id);
}

/* Bells: "wake [<hops>]" (new jobs), "run" (a workflow run is due: the runners look),
 * "take <job id>" (a job handed here at insert: take.c), "count <n>" (a token count:
 * count.c), "cancel <job id>" (abort that
 * call) or "share" (the set of live workers changed:
 * recompute this worker's share of the replicas and re-read the peers). */
static void
drain_doorbell(struct worker *w, int *woken)
{
	/* a "take" may carry its job (handoff.h); only the main loop reads the bell */
	static char buf[AIF_HANDOFF_BELL_MAX + 1];
	int net = aif_netbell_is_net(w->doorbell_path), own = 0;
	uint64_t id;
	size_t n;
	ssize_t len;
	int hops;

	while ((len = net ? aif_doorbell_recv(w->doorbell_fd, buf, AIF_BELL_MAX) :
	    aif_doorbell_recv_local(w->doorbell_fd, buf, sizeof(buf), &own)) > 0) {
		switch (aif_bell_parse(buf, &id, 1, &n)) {
		case AIF_BELL_CANCEL:
			dispatch_cancel(w, id);
			take_cancelled(w, id);
			break;
		case AIF_BELL_SHARE:
			update_share(w);
			break;
		case AIF_BELL_RUN:
			flow_pool_kick(w->flows);
			break;
		case AIF_BELL_TAKE:
			take_bell(w, id, buf, (size_t)len, own);
			break;
		case AIF_BELL_COUNT:
			count_start(w, id);
			break;
		default:	/* a wake: the smallest hop count of those pending counts */
			hops = n == 1 && id < (uint64_t)INT_MAX ? (int)id : 0;
			if (!*woken || w->wake_hops < 0 || hops < w->wake_hops)
				w->wake_hops = hops;
			*woken = 1;
			break;
		}
	}
}

/* A worker started or stopped: ring the others ("share") so that they take their new
 * share of the replica limits now, not at their next heartbeat. */
static void
ring_peers_share(struct worker *w)
{
	wakeup_peers(w, stale_s(w));	/* the peers now, not at the last beat */
	for (size_t i = 0; i < w->npeers; i++)
		(void)aif_doorbell_ring_patient(w->sender_fd, w->peers[i], AIF_BELL_SHARE_MSG,
		    sizeof(AIF_BELL_SHARE_MSG) - 1, 20);
}

/* This worker's view of each replica (calls in flight, circuit, health) for /readyz,
 * /metrics and aifctl. */
static void
publish_replicas(struct worker *w)
{
	const struct aif_config *cfg = w->cfg;
	struct aif_replica_report *r;
	size_t n = 0, k = 0;

	for (size_t i = 0; i < cfg->nmodels; i++)
		n += cfg->models[i].nreplicas;
	if (n == 0 || (r = calloc(n, sizeof(*r))) == NULL)
		return;
	for (size_t i = 0; i < cfg->nmodels; i++)
		for (size_t j = 0; j < cfg->models[i].nreplicas; j++, k++) {
			r[k].model = cfg->models[i].id;
			r[k].replica = cfg->models[i].replicas[j].url;
			r[k].in_flight = routing_in_flight(w->rt, i, j);
			r[k].circuit_open = routing_is_open(w->rt, i, j);
			r[k].healthy = routing_is_healthy(w->rt, i, j);
		}
	(void)aif_registry_publish(w->db, w->id, r, n);
	free(r);
}

/* Renews the leases of the jobs whose calls are in flight here, and only those: a job
 * whose call ended without a commit is left to the reaper. */
static enum aif_err
extend_leases(struct worker *w)
{
	uint64_t *ids = calloc((size_t)w->in_flight + 1, sizeof(*ids));
	size_t n = 0;
	enum aif_err err;

	if (ids == NULL)
		return AIF_NOMEM;
	for (struct engine_call *c = w->calls; c != NULL && n < (size_t)w->in_flight;
	    c = c->next)
		ids[n++] = c->job.id;
	err = aif_queue_extend_leases(w->db, w->id, ids, n, w->cfg->queue.lease_seconds);
	free(ids);
	return err;
}

/* Returns 1 when jobs went back to the queue (handed to a stopped worker): claim now. */
static int
heartbeat(struct worker *w)
{
	enum aif_err err;
	int requeued = 0;

	err = aif_registry_heartbeat(w->db, w->id, w->draining ? "draining" : "running",
	    w->in_flight);
	if (err == AIF_OK) {
		update_share(w);
		(void)aif_counters_flush(w->db);
		publish_replicas(w);
	}
	if (err == AIF_OK && w->in_flight > 0)
		err = extend_leases(w);
	if (err == AIF_OK)
		requeued = take_orphans(w);
	if (err != AIF_OK)
		aif_warn("msg=\"heartbeat failed\" error=\"%s\"", aif_strerror(err));
	return requeued;
}

static void
reap(struct worker *w)
{
	size_t n = 0;

	if (aif_queue_reap(w->db, w->cfg, 100, &n) == AIF_OK && n > 0)
		aif_info("msg=\"requeued jobs with expired leases\" count=%zu", n);
	/* a few due saga steps too (blocking, each bounded by its own timeout) */
	(void)aif_compensate_run(w->db, 2);
}

/* ---- setup and teardown ---- */

/* One process per worker id: an exclusive lock on run_dir/worker-<id>.lock, held until
 * the process ends (a second `aif-worker --id N` would take over worker N's doorbell). */
static int
lock_instance(struct worker *w)
{
	char path[AIF_DOORBELL_PATH_MAX + 8];
	int n = snprintf(path, sizeof(path), "%s/worker-%s.lock", w->cfg->server.run_dir,
	    w->instance);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	if ((w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		aif_error("msg=\"cannot open the worker's lock file\" path=%s", path);
		return -1;
	}
	if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		aif_error("msg=\"another aif-worker runs with this id; exiting\" id=%s",
		    w->instance);
		close(w->lock_fd);
		w->lock_fd = -1;
		return -1;
	}
	return 0;
}

static int
setup(struct worker *w, const char *instance, int slots_override)
{
	const struct aif_config *cfg = w->cfg;
	char host[256] = "localhost", errbuf[4096], unix_path[AIF_DOORBELL_PATH_MAX];
	enum aif_err err;
	int n;

	aif_strlcpy(w->instance, instance, sizeof(w->instance));
	w->wake_hops = -1;
	w->slots = slots_override > 0 ? slots_override : cfg->worker.slots;
	w->model_in_flight = calloc(cfg->nmodels, sizeof(int));
	w->model_hooks = calloc(cfg->nmodels, sizeof(int));
	w->model_batch = calloc(cfg->nmodels, sizeof(int));
	w->batch_free = calloc(cfg->nmodels, sizeof(int));
	w->rt = routing_new(cfg);
	w->model_ids = calloc(cfg->nmodels, sizeof(char *));
	w->model_free = calloc(cfg->nmodels, sizeof(int));
	if (!w->model_in_flight || !w->model_hooks || !w->model_batch || !w->batch_free ||
	    !w->rt || !w->model_ids || !w->model_free)
		return -1;
	if (aif_pii_new(cfg, 0, &w->pii, errbuf, sizeof(errbuf)) != AIF_OK) {
		fputs(errbuf, stderr);
		return -1;
	}
	n = snprintf(unix_path, sizeof(unix_path), "%s/worker-%s.sock", cfg->server.run_dir,
	    instance);
	if (n < 0 || (size_t)n >= sizeof(unix_path)) {
		aif_error("msg=\"doorbell path too long\" run_dir=%s", cfg->server.run_dir);
		return -1;
	}
	if (aif_netbell_setup(cfg, errbuf, sizeof(errbuf)) != AIF_OK) {
		aif_error("msg=\"%s\"", errbuf);
		return -1;
	}
	if (lock_instance(w) != 0)
		return -1;
	/* with cluster.address: a UDP doorbell there (aif-api processes ring it) */
	if ((err = aif_doorbell_open(cfg->cluster.address, unix_path, w->doorbell_path,
	    sizeof(w->doorbell_path), &w->doorbell_fd, NULL, &w->doorbell_file)) != AIF_OK) {
		aif_error("msg=\"cannot bind doorbell\" path=%s error=\"%s\"",
		    cfg->cluster.address ? cfg->cluster.address : unix_path,
		    aif_strerror(err));
		return -1;
	}
	if ((w->sender_fd = aif_doorbell_sender()) < 0 ||
	    (w->multi = curl_multi_init()) == NULL)
		return -1;
	curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)w->slots + 16);
	(void)aif_db_open(cfg, &w->db);
	(void)aif_db_open(cfg, &w->commit_db);
	if (w->db == NULL || w->commit_db == NULL)
		return -1;
	aif_db_tx_only(w->commit_db);
	(void)gethostname(host, sizeof(host) - 1);
	/* The database may be starting: retry registration for a while. */
	for (int i = 0; i < 100 && !stop_requested; i++) {
		err = aif_registry_register(w->db, w->instance, host, (long)getpid(),
		    w->doorbell_path, w->slots, &w->id);
		if (err == AIF_OK)
			break;
		usleep(200000);
	}
	if (w->id == 0) {
		aif_error("msg=\"cannot register in the workers table\"");
		return -1;
	}
	if (otel_start(cfg, w->instance, &w->otel) != 0 ||
	    aif_guards_new(cfg, &w->guards) != AIF_OK)
		return -1;
	if (flow_pool_start(cfg, w->id, w->doorbell_path, &w->flows) != 0) {
		aif_error("msg=\"cannot start the workflow runners\"");
		return -1;
	}
	(void)heartbeat(w);	/* learn this worker's share of the replicas at once */
	ring_peers_share(w);	/* and let the others give up theirs */
	(void)aif_sd_notify("READY=1");
	aif_info("msg=\"worker started\" version=%s worker_id=%" PRIu64 " instance=%s slots=%d"
	    " doorbell=%s", AIF_VERSION, w->id, w->instance, w->slots, w->doorbell_path);
	return 0;
}

static void
teardown(struct worker *w)
{
	flow_pool_stop(w->flows);
	w->flows = NULL;
	otel_stop(w->otel);	/* the last spans go out (within tracing.timeout) */
	w->otel = NULL;
	aif_guards_free(w->guards);
	w->guards = NULL;
	relay_close_all(&w->relays);
	if (w->multi != NULL)
		curl_multi_cleanup(w->multi);
	aif_doorbell_close_owned(w->doorbell_fd, w->doorbell_path[0] ? w->doorbell_path :
	    NULL, &w->doorbell_file);
	if (w->lock_fd >= 0)
		close(w->lock_fd);	/* releases the id */
	if (w->sender_fd >= 0)
		close(w->sender_fd);
	aif_db_close(w->db);
	aif_db_close(w->commit_db);
	routing_free(w->rt);
	aif_pii_free(w->pii);
	free(w->model_in_flight);
	free(w->model_hooks);
	free(w->model_batch);
	free(w->batch_free);
	free(w->model_ids);
	free(w->model_free);
	wakeup_free(w);
	take_forget(w);
}

/* ---- the loop ---- */

/* Loads the config file at path with the adapters' checks, and the engines'
 * credentials it names: *out is the config (new, aif_cfg_free), or NULL after an error
 * whose lines are in errbuf. */
static enum aif_err
load_config(const char *path, struct aif_config **out, char *errbuf, size_t cap)
{
	enum aif_err err;

	*out = NULL;
	err = aif_cfg_load_with(path, &aif_adapters_cfg, out, errbuf, cap);
	if (err == AIF_OK)
		err = aif_cfg_load_secrets(*out, 0, errbuf, cap);
	if (err != AIF_OK) {
		aif_cfg_free(*out);
		*out = NULL;
	}
	return err;
}

/* SIGHUP: a good new file means drain and start again on it (in-flight calls finish on
 * the config they started with); a bad one is refused with its errors. */
static void
check_reload(struct worker *w)
{
	struct aif_config *next = NULL;
	char errbuf[8192];

	reload_requested = 0;
	(void)aif_sd_notify("RELOADING=1");
	/* the engines' credentials are read again: a bad file refuses the reload too */
	if (load_config(w->config_path, &next, errbuf, sizeof(errbuf)) != AIF_OK) {
		char *save = NULL;
		for (char *l = strtok_r(errbuf, "\n", &save); l != NULL;
		    l = strtok_r(NULL, "\n", &save))
			aif_error("msg=\"reload refused; keeping the running config\""
			    " error=\"%s\"", l);
		(void)aif_sd_notify("READY=1");
		return;
	}
	aif_cfg_free(next);
	w->reexec = 1;
	stop_requested = 1;
}

/* Waits for transfers, the doorbell and the stream relays, at most wait_ms. */
static void
wait_events(struct worker *w, int64_t wait_ms, int *woken)
{
	struct curl_waitfd extra[1 + RELAYS_POLLED];
	struct relay_conn *polled[RELAYS_POLLED];
	unsigned nextra = 1, np = 0;
	int numfds = 0;

	extra[0].fd = w->doorbell_fd;
	extra[0].events = CURL_WAIT_POLLIN;
	extra[0].revents = 0;
	for (struct relay_conn *rc = w->relays.conns; rc && np < RELAYS_POLLED;
	    rc = rc->next) {
		if (rc->io.fd < 0)
			continue;
		extra[nextra].fd = rc->io.fd;
		extra[nextra].events = CURL_WAIT_POLLIN |
		    (rc->io.out_len > 0 ? CURL_WAIT_POLLOUT : 0);
		extra[nextra].revents = 0;
		polled[np++] = rc;
		nextra++;
	}
	curl_multi_poll(w->multi, extra, nextra, (int)wait_ms, &numfds);
	if (extra[0].revents != 0)
		drain_doorbell(w, woken);
	for (unsigned i = 0; i < np; i++) {
		if (extra[1 + i].revents & CURL_WAIT_POLLOUT)
			(void)aif_relay_flush(&polled[i]->io);
		if (extra[1 + i].revents & CURL_WAIT_POLLIN)
			(void)aif_relay_recv(&polled[i]->io, dispatch_relay_frame, w);
	}
}

/* Claims what there is room for; 1 when the claim found work (there may be more). A
 * wake that found nothing here goes on: the job may be one this worker has no share
 * left for. */
static int
claim(struct worker *w, int woken, int *more)
{
	int found = dispatch_claim(w, more) > 0;

	if (!found && woken)
		wakeup_forward(w, w->wake_hops);
	w->wake_hops = -1;
	return found;
}

static void
run(struct worker *w)
{
	const struct aif_config *cfg = w->cfg;
	int64_t now = aif_now_ms();
	int64_t next_poll = now, next_beat = now + cfg->worker.heartbeat_ms;
	int64_t next_reap = now + REAP_INTERVAL_MS, drain_deadline = 0, wait;
	int woken = 1, more = 0, running = 0, backlog = 0, before;

	for (;;) {
		now = aif_now_ms();
		if (reload_requested && !w->draining)
			check_reload(w);
		if (stop_requested && !w->draining) {
			w->draining = 1;
			/* no new runs; the one in hand stops after its step (joined at the end) */
			flow_pool_quit(w->flows);
			drain_deadline = now + cfg->worker.drain_timeout_ms;
			aif_info("msg=\"draining\" in_flight=%d reload=%d", w->in_flight, w->reexec);
			(void)aif_sd_notify(w->reexec ? "STATUS=reloading: draining" : "STOPPING=1");
			(void)heartbeat(w);
		}
		if (w->draining && (w->in_flight == 0 || now >= drain_deadline))
			break;
		if (w->ntake > 0) {
			int requeued = 0;	/* handed at insert: no claim needed */
			(void)take_run(w, &requeued);
			woken |= requeued;
		}
		if (woken && (w->draining || w->in_flight >= w->slots)) {
			wakeup_forward(w, w->wake_hops);	/* a peer may have room */
			w->wake_hops = -1;
		}
		if (!w->draining && w->in_flight < w->slots &&
		    (woken || more || now >= next_poll)) {
			backlog = claim(w, woken, &more);
			woken = 0;
			next_poll = now + cfg->queue.poll_interval_ms;
		}
		before = w->in_flight;
		curl_multi_perform(w->multi, &running);
		finish_transfers(w);
		/* a claim that found work may have left more (a model at its cap, a batch's
		   lane): a freed place looks again at once instead of at the next poll */
		more |= !w->draining && backlog && w->in_flight < before;
		routing_probe(w->rt);
		if (now >= next_beat) {
			if (heartbeat(w))
				next_poll = now;
			next_beat = now + cfg->worker.heartbeat_ms;
		}
		if (now >= next_reap) {
			reap(w);
			next_reap = now + REAP_INTERVAL_MS;
		}
		if (more && !w->draining && w->in_flight < w->slots)
			continue;
		now = aif_now_ms();
		wait = next_poll < next_beat ? next_poll - now : next_beat - now;
		if (w->draining)
			wait = 50;
		wait = wait < 0 ? 0 : wait > 1000 ? 1000 : wait;
		wait_events(w, wait, &woken);
	}
	if (w->in_flight > 0) {
		size_t n = 0;
		aif_warn("msg=\"drain timed out; releasing jobs\" in_flight=%d", w->in_flight);
		dispatch_abort_all(w);
		if (aif_queue_release(w->db, w->id, &n) == AIF_OK)
			aif_info("msg=\"released jobs back to the queue\" count=%zu", n);
	}
	/* the doorbell closes first: a "take" rung from now on fails and its aif-api gives
	   the job back itself; a row handed before that (its bell rung after its insert
	   committed) is found and given back here */
	aif_doorbell_close_owned(w->doorbell_fd, w->doorbell_path, &w->doorbell_file);
	w->doorbell_fd = -1;
	take_give_back_all(w);
	(void)aif_registry_stop(w->db, w->id);
	ring_peers_share(w);
	aif_info("msg=\"worker stopped\" claimed=%" PRIu64 " succeeded=%" PRIu64,
	    w->claimed_total, w->done_total);
}

/* Blocks (SIG_BLOCK) or unblocks the signals that steer the worker. A reload
 * re-executes with them blocked: what comes meanwhile is delivered to the new image's
 * handlers instead of ending it. */
static void
control_signals(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(how, &set, NULL);
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	control_signals(SIG_UNBLOCK);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "id", required_argument, NULL, 'i' },
		{ "slots", required_argument, NULL, 's' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *instance = NULL;
	struct aif_config *cfg = NULL;
	struct worker w;
	char errbuf[8192];
	int64_t slots = 0;
	int ch, rc = 1;

	aif_log_init("aif-worker");
	while ((ch = getopt_long(argc, argv, "c:i:s:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'i':
			instance = optarg;
			break;
		case 's':
			if (aif_parse_i64(optarg, 1, 4096, &slots) != 0)
				usage();
			break;
		case 'V':
			printf("aif-worker %s\n", AIF_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (config_path == NULL || instance == NULL || strlen(instance) > 16)
		usage();
	if (load_config(config_path, &cfg, errbuf, sizeof(errbuf)) != AIF_OK) {
		fprintf(stderr, "%s\n", errbuf);
		return 1;
	}
	install_signals();
	if (aif_http_init() != AIF_OK) {
		aif_cfg_free(cfg);
		return 1;
	}
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.config_path = config_path;
	w.doorbell_fd = -1;
	w.lock_fd = -1;
	w.sender_fd = -1;
	if (setup(&w, instance, (int)slots) == 0) {
		run(&w);
		rc = 0;
	}
	teardown(&w);
	aif_http_cleanup();
	aif_cfg_free(cfg);
	if (rc == 0 && w.reexec) {
		/* same pid, same arguments, the new config (systemd keeps tracking us) */
		aif_info("msg=\"restarting on the reloaded config\"");
		control_signals(SIG_BLOCK);
		execv("/proc/self/exe", argv);
		aif_error("msg=\"exec for reload failed\"");
		return 1;
	}
	return rc;
}
