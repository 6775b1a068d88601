/* main.c -- aif-api: the FastCGI front of the gateway. Loads the config, opens the
 * FastCGI listener (a socket path, fd 0, or a systemd socket), binds its doorbell,
 * starts its subsystems (the table below) and N acceptor threads, and on SIGTERM/SIGINT
 * stops accepting, gives parked requests a short grace period, and exits. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "api.h"
#include "catalog.h"
#include "log.h"
#include "netbell.h"
#include "pii.h"
#include "sdnotify.h"
#include "version.h"

#define STOP_GRACE_MS	10000

struct cfg_holder *
api_cfg_acquire(struct api *api)
{
	struct cfg_holder *h;

	pthread_mutex_lock(&api->cfg_mu);
	h = api->current;
	h->refs++;
	pthread_mutex_unlock(&api->cfg_mu);
	return h;
}

void
api_cfg_release(struct api *api, struct cfg_holder *h)
{
	int last;

	pthread_mutex_lock(&api->cfg_mu);
	last = --h->refs == 0;
	pthread_mutex_unlock(&api->cfg_mu);
	if (last) {
		aif_pii_free(h->pii);
		aif_guards_free(h->guards);
		if (h->owned)
			aif_cfg_free(h->cfg);
		free(h);
	}
}

/* A holder of the config at path with its masking engine (owned: 1 to free the config
 * with it). NULL when it does not load, with every error in errbuf, one per line. */
static struct cfg_holder *
holder_load(const char *path, int owned, char *errbuf, size_t errlen)
{
	struct cfg_holder *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	if (aif_cfg_load_with(path, &aif_adapters_cfg, &h->cfg, errbuf, errlen) != AIF_OK ||
	    aif_pii_new(h->cfg, 0, &h->pii, errbuf, errlen) != AIF_OK ||
	    aif_guards_new(h->cfg, &h->guards) != AIF_OK) {
		if (h->pii != NULL && h->guards == NULL)
			snprintf(errbuf, errlen, "cannot compile the guardrails' block lists");
		aif_pii_free(h->pii);
		aif_cfg_free(h->cfg);
		free(h);
		return NULL;
	}
	h->refs = 1;
	h->owned = owned;
	return h;
}

/* Keys read only at start (config_diff.c) keep their running value through a reload:
 * say so, one line per key that the new file changes. */
static void
warn_boot_only(const struct api *api, const struct aif_config *next)
{
	const char *keys[32];
	size_t n = aif_cfg_api_boot_changes(api->cfg, next, keys, AIF_NELEM(keys));

	for (size_t i = 0; i < n && i < AIF_NELEM(keys); i++)
		aif_warn("msg=\"reload cannot change this key; restart aif-api to apply it\""
		    " key=%s", keys[i]);
}

/* SIGHUP: a new config for new requests; in-flight ones finish on theirs. An invalid
 * file is refused, its errors logged with file:line:column, the old one stays. */
static void
reload(struct api *api, const char *path)
{
	struct cfg_holder *h, *old;
	char errbuf[8192], *save = NULL;

	(void)aif_sd_notify("RELOADING=1");
	if ((h = holder_load(path, 1, errbuf, sizeof(errbuf))) == NULL) {
		for (char *line = strtok_r(errbuf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			aif_error("msg=\"reload refused; keeping the running config\" "
			    "error=\"%s\"", line);
		(void)aif_sd_notify("READY=1");
		return;
	}
	pthread_mutex_lock(&api->cfg_mu);
	old = api->current;
	api->current = h;
	pthread_mutex_unlock(&api->cfg_mu);
	api_cfg_release(api, old);
	aif_info("msg=\"config reloaded\" path=%s models=%zu roles=%zu", path,
	    h->cfg->nmodels, h->cfg->nroles);
	warn_boot_only(api, h->cfg);
	(void)aif_sd_notify("READY=1");
}

static void
on_wake(int sig)
{
	(void)sig;	/* only interrupts accept(2) */
}

/* Wakes the acceptor threads blocked in accept(2) and joins them. A socket of our own
 * is shut down; one passed by systemd (or on fd 0) outlives us and must keep listening
 * for the next start, so the threads are interrupted with SIGUSR2 instead (they accept
 * with FCGI_FAIL_ACCEPT_ON_INTR). */
static void
stop_acceptors(struct api *api, const char *listen, pthread_t *threads, int n)
{
	int inherited = strcmp(listen, "systemd") == 0 || strcmp(listen, "fd:0") == 0 ||
	    api->listen_fd < 3;
	char joined[256] = { 0 };
	int left = n;

	if (!inherited) {
		(void)shutdown(api->listen_fd, SHUT_RDWR);
		for (int i = 0; i < n; i++)
			pthread_join(threads[i], NULL);
		return;
	}
	for (int round = 0; left > 0 && round < 500; round++) {
		struct timespec ms10 = { 0, 10000000 };
		for (int i = 0; i < n && i < 256; i++) {
			if (joined[i])
				continue;
			if (pthread_tryjoin_np(threads[i], NULL) == 0) {
				joined[i] = 1;
				left--;
			} else {
				(void)pthread_kill(threads[i], SIGUSR2);
			}
		}
		nanosleep(&ms10, NULL);
	}
	if (left > 0)
		aif_warn("msg=\"acceptor threads did not stop\" count=%d", left);
}

/* The subsystems, started in this order and stopped in the reverse one. */
static const struct subsystem {
	const char	*name;
	int		(*start)(struct api *);
	void		(*stop)(struct api *, int grace_ms);
} subsystems[] = {
	{ "spans", spans_start, spans_stop },
	{ "parked", parked_start, parked_stop },
	{ "wake", wake_start, wake_stop },
	{ "enqueuer", enqueuer_start, enqueuer_stop },
	{ "completer", completer_start, completer_stop },
	{ "streams", streams_start, streams_stop },
	{ "counts", count_start, count_stop },
	{ "batcher", batcher_start, batcher_stop },
};

/* Starts every subsystem; returns how many started (all: AIF_NELEM(subsystems)). */
static size_t
start_all(struct api *api)
{
	size_t i;

	for (i = 0; i < AIF_NELEM(subsystems); i++)
		if (subsystems[i].start(api) != 0) {
			aif_error("msg=\"cannot start a subsystem\" subsystem=%s",
			    subsystems[i].name);
			break;
		}
	return i;
}

/* Stops the first n subsystems, the last started first. */
static void
stop_all(struct api *api, size_t n, int grace_ms)
{
	while (n-- > 0)
		subsystems[n].stop(api, grace_ms);
}

static void
usage(void)
{
	fprintf(stderr, "usage: aif-api --config FILE [--listen PATH]\n"
	    "       aif-api --version\n");
	exit(2);
}

static void *
acceptor(void *arg)
{
	static const struct timeval send_timeout = { 10, 0 };
	struct api *api = arg;
	struct aif_db *db = NULL;

	(void)aif_db_open(api->cfg, &db);
	if (db == NULL) {
		aif_error("msg=\"out of memory opening a database handle\"");
		return NULL;
	}
	while (!api->stopping) {
		FCGX_Request *fr = calloc(1, sizeof(*fr));
		struct req r;
		int rc;

		if (fr == NULL)
			break;
		FCGX_InitRequest(fr, api->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
		/* Every acceptor waits in accept(2) at once, without a lock: on Linux
		   libfcgi's accept takes none (accept(2) hands each connection to one
		   waiting thread), and FCGX_Accept_r reads only its own request and what
		   FCGX_Init set. A shared lock would also be held through libfcgi's wait
		   for the new connection's first bytes, one connection at a time. */
		rc = api->stopping ? -1 : FCGX_Accept_r(fr);
		if (rc < 0) {
			FCGX_Free(fr, 1);
			free(fr);
			if (api->stopping)
				break;
			continue;
		}
		/* a write to nginx never waits long: nginx buffers answers, and a stream's
		   output is non-blocking (fcgi_out.h); this bounds any other case */
		(void)setsockopt(fr->ipcFd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
		    sizeof(send_timeout));
		struct cfg_holder *h = api_cfg_acquire(api);
		memset(&r, 0, sizeof(r));
		r.api = api;
		r.cfg = h->cfg;
		r.pii = h->pii;
		r.guards = h->guards;
		r.db = db;
		r.reply.fcgi = fr;
		api_handle(&r);
		json_decref(r.reply.meta);	/* a parked copy holds its own reference */
		api_cfg_release(api, h);
		if (!r.parked && r.reply.fcgi != NULL)	/* every route answers: a net */
			REFUSE0(&r.reply, AIF_E_NOT_ANSWERED, NULL);
	}
	aif_db_close(db);
	return NULL;
}

static int
open_listener(const char *listen)
{
	const char *lfds = getenv("LISTEN_FDS");
	const char *lpid = getenv("LISTEN_PID");
	int fd;

	/* Sockets passed by systemd are ours only if LISTEN_PID names this process. */
	if (lpid != NULL && strtol(lpid, NULL, 10) != (long)getpid())
		lfds = NULL;

	if (strcmp(listen, "systemd") == 0 || (lfds != NULL && strcmp(lfds, "1") == 0)) {
		if (lfds == NULL || strcmp(lfds, "1") != 0) {
			aif_error("msg=\"listen: systemd but LISTEN_FDS is not 1\"");
			return -1;
		}
		return 3;	/* SD_LISTEN_FDS_START */
	}
	if (strcmp(listen, "fd:0") == 0)
		return 0;
	(void)unlink(listen);
	fd = FCGX_OpenSocket(listen, 1024);
	if (fd < 0) {
		aif_error("msg=\"cannot open FastCGI socket\" path=%s", listen);
		return -1;
	}
	(void)chmod(listen, 0660);
	return fd;
}

/* Signals go to the main thread only (sigwait); SIGUSR2 only interrupts accept(2). */
static void
block_signals(sigset_t *set)
{
	struct sigaction wake;

	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
	memset(&wake, 0, sizeof(wake));
	wake.sa_handler = on_wake;	/* no SA_RESTART: accept(2) returns EINTR */
	sigaction(SIGUSR2, &wake, NULL);
}

/* FastCGI, the key authenticator, this process's doorbell and the listener. */
static int
open_endpoints(struct api *api, const char *listen)
{
	char unix_path[AIF_DOORBELL_PATH_MAX], why[512];
	int n;

	if (FCGX_Init() != 0 || aif_auth_new(api->cfg, &api->auth) != AIF_OK)
		return -1;
	if (aif_netbell_setup(api->cfg, why, sizeof(why)) != AIF_OK) {
		aif_error("msg=\"%s\"", why);
		return -1;
	}
	n = snprintf(unix_path, sizeof(unix_path), "%s/api-%ld.sock",
	    api->cfg->server.run_dir, (long)getpid());
	/* with cluster.address: UDP there, and the stream relay on TCP (streams.c) */
	if (n < 0 || (size_t)n >= sizeof(unix_path) ||
	    aif_doorbell_open(api->cfg->cluster.address, unix_path, api->doorbell_path,
	    sizeof(api->doorbell_path), &api->doorbell_fd, &api->relay_listen_fd,
	    &api->doorbell_file) != AIF_OK ||
	    (api->sender_fd = aif_doorbell_sender()) < 0 ||
	    (api->take_fd = aif_doorbell_sender()) < 0) {
		aif_error("msg=\"cannot bind doorbell\" path=%s",
		    api->cfg->cluster.address ? api->cfg->cluster.address : unix_path);
		return -1;
	}
	if ((api->listen_fd = open_listener(listen)) < 0)
		return -1;
	reply_close_init(api->listen_fd);
	return 0;
}

/* Ready only once config, database and listener are: until the database answers,
 * wait (systemd's start timeout bounds it), still heeding a stop. Returns 0, or the
 * signal that stopped the wait. */
static int
wait_database(const struct aif_config *cfg, const sigset_t *set)
{
	struct aif_db *probe = NULL;
	struct timespec pause = { 0, 200000000 };
	int warned = 0, sig;

	while (aif_db_open(cfg, &probe) != AIF_OK) {
		aif_db_close(probe);
		probe = NULL;
		if (!warned++)
			aif_warn("msg=\"waiting for the database before reporting ready\"");
		if ((sig = sigtimedwait(set, NULL, &pause)) == SIGTERM || sig == SIGINT)
			return sig;
	}
	aif_db_close(probe);
	return 0;
}

/* Serves until SIGTERM or SIGINT (returned); SIGHUP reloads. */
static int
serve(struct api *api, const sigset_t *set, const char *config_path)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			return sig;
		reload(api, config_path);
	}
}

static void
close_endpoints(struct api *api, const char *listen)
{
	if (api->listen_fd > 2)
		close(api->listen_fd);
	if (listen != NULL && strcmp(listen, "systemd") != 0 && strcmp(listen, "fd:0") != 0)
		(void)unlink(listen);
	aif_doorbell_close_owned(api->doorbell_fd, api->doorbell_fd >= 0 ?
	    api->doorbell_path : NULL, &api->doorbell_file);
	if (api->relay_listen_fd >= 0)		/* streams.c never took it */
		close(api->relay_listen_fd);
	if (api->sender_fd >= 0)
		close(api->sender_fd);
	if (api->take_fd >= 0)
		close(api->take_fd);
	aif_auth_free(api->auth);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *listen = NULL;
	char errbuf[8192];
	struct aif_config *boot_cfg;
	struct cfg_holder *boot;
	struct api api;
	pthread_t *threads = NULL;
	sigset_t set;
	int ch, sig = 0, rc = 1, nthreads = 0;
	size_t started = 0;

	aif_log_init("aif-api");
	while ((ch = getopt_long(argc, argv, "c:l:", opts, NULL)) != -1) {
		if (ch == 'c')
			config_path = optarg;
		else if (ch == 'l')
			listen = optarg;	/* one more process beside the first: own socket */
		else if (ch == 'V') {
			printf("aif-api %s\n", AIF_VERSION);
			return 0;
		} else
			usage();
	}
	if (config_path == NULL)
		usage();
	/* the boot config outlives its holder: api.cfg (server, database, auth) is read
	 * until the end, whatever reloads came */
	if ((boot = holder_load(config_path, 0, errbuf, sizeof(errbuf))) == NULL) {
		fprintf(stderr, "%s\n", errbuf);
		return 1;
	}
	boot_cfg = boot->cfg;
	memset(&api, 0, sizeof(api));
	pthread_mutex_init(&api.cfg_mu, NULL);
	api.cfg = boot->cfg;
	api.current = boot;
	api.listen_fd = api.doorbell_fd = api.sender_fd = api.take_fd = -1;
	api.relay_listen_fd = -1;
	if (listen == NULL)
		listen = api.cfg->server.listen;
	block_signals(&set);
	if (open_endpoints(&api, listen) != 0)
		goto out;
	if ((started = start_all(&api)) < AIF_NELEM(subsystems) ||
	    (threads = calloc((size_t)api.cfg->server.threads, sizeof(*threads))) == NULL)
		goto stop;
	for (; nthreads < api.cfg->server.threads; nthreads++)
		if (pthread_create(&threads[nthreads], NULL, acceptor, &api) != 0)
			break;
	if ((sig = wait_database(api.cfg, &set)) == 0) {
		aif_info("msg=\"aif-api ready\" version=%s listen=%s threads=%d doorbell=%s"
		    " models=%zu", AIF_VERSION, listen, nthreads, api.doorbell_path,
		    api.cfg->nmodels);
		(void)aif_sd_notify("READY=1");
		sig = serve(&api, &set, config_path);
	}
	aif_info("msg=\"stopping\" signal=%d", sig);
	(void)aif_sd_notify("STOPPING=1");
	api.stopping = 1;
	stop_acceptors(&api, listen, threads, nthreads);
	rc = 0;
stop:
	stop_all(&api, started, STOP_GRACE_MS);
out:
	free(threads);
	close_endpoints(&api, listen);
	api_cfg_release(&api, api.current);	/* frees a reloaded config with it */
	aif_cfg_free(boot_cfg);
	pthread_mutex_destroy(&api.cfg_mu);
	return rc;
}
