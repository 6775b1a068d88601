/* main.c -- aif-api: the FastCGI front of the gateway. Loads the config, opens the
 * FastCGI listener (a socket path, fd 0, or a systemd socket), binds its doorbell,
 * starts the completer and N acceptor threads, and on SIGTERM/SIGINT stops accepting,
 * gives parked requests a short grace period, and exits. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>

#include "api.h"
#include "log.h"
#include "pii.h"
#include "sdnotify.h"

#define STOP_GRACE_MS	10000

static pthread_mutex_t accept_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cfg_mu = PTHREAD_MUTEX_INITIALIZER;

struct cfg_holder *
api_cfg_acquire(struct api *api)
{
	struct cfg_holder *h;

	pthread_mutex_lock(&cfg_mu);
	h = api->current;
	h->refs++;
	pthread_mutex_unlock(&cfg_mu);
	return h;
}

void
api_cfg_release(struct cfg_holder *h)
{
	int last;

	pthread_mutex_lock(&cfg_mu);
	last = --h->refs == 0;
	pthread_mutex_unlock(&cfg_mu);
	if (last) {
		aif_pii_free(h->pii);
		if (h->owned)
			aif_cfg_free(h->cfg);
		free(h);
	}
}

/* SIGHUP: a new config for new requests; in-flight ones finish on theirs. An invalid
 * file is refused, its errors logged with file:line:column, the old one stays. */
static void
reload(struct api *api, const char *path)
{
	struct aif_config *cfg = NULL;
	struct cfg_holder *h, *old;
	char errbuf[8192];

	(void)aif_sd_notify("RELOADING=1");
	if (aif_cfg_load(path, &cfg, errbuf, sizeof(errbuf)) != AIF_OK) {
		char *save = NULL;
		for (char *line = strtok_r(errbuf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			aif_error("msg=\"reload refused; keeping the running config\" error=\"%s\"",
			    line);
		(void)aif_sd_notify("READY=1");
		return;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		aif_cfg_free(cfg);
		(void)aif_sd_notify("READY=1");
		return;
	}
	if (aif_pii_new(cfg, 0, &h->pii, errbuf, sizeof(errbuf)) != AIF_OK) {
		char *save = NULL;
		for (char *line = strtok_r(errbuf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			aif_error("msg=\"reload refused; keeping the running config\" error=\"%s\"",
			    line);
		free(h);
		aif_cfg_free(cfg);
		(void)aif_sd_notify("READY=1");
		return;
	}
	h->cfg = cfg;
	h->refs = 1;
	h->owned = 1;
	pthread_mutex_lock(&cfg_mu);
	old = api->current;
	api->current = h;
	pthread_mutex_unlock(&cfg_mu);
	api_cfg_release(old);
	aif_info("msg=\"config reloaded\" path=%s models=%zu roles=%zu", path, cfg->nmodels,
	    cfg->nroles);
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

static void
usage(void)
{
	fprintf(stderr, "usage: aif-api --config FILE [--listen PATH]\n");
	exit(2);
}

static void *
acceptor(void *arg)
{
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
		pthread_mutex_lock(&accept_mu);
		rc = api->stopping ? -1 : FCGX_Accept_r(fr);
		pthread_mutex_unlock(&accept_mu);
		if (rc < 0) {
			FCGX_Free(fr, 1);
			free(fr);
			if (api->stopping)
				break;
			continue;
		}
		struct cfg_holder *h = api_cfg_acquire(api);
		memset(&r, 0, sizeof(r));
		r.api = api;
		r.cfg = h->cfg;
		r.pii = h->pii;
		r.db = db;
		r.reply.fcgi = fr;
		api_handle(&r);
		api_cfg_release(h);
		if (!r.parked && r.reply.fcgi != NULL) {
			/* every route answers; this is a safety net */
			reply_fail(&r.reply, 500, "server_error", NULL, NULL,
			    "The request was not answered.");
		}
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

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *listen = NULL;
	struct aif_config *cfg = NULL;
	struct api api;
	pthread_t *threads = NULL;
	char errbuf[8192];
	sigset_t set;
	int ch, sig, rc = 1, nthreads = 0;

	aif_log_init("aif-api");
	while ((ch = getopt_long(argc, argv, "c:l:", opts, NULL)) != -1) {
		if (ch == 'c')
			config_path = optarg;
		else if (ch == 'l')
			listen = optarg;	/* one more process beside the first: own socket */
		else
			usage();
	}
	if (config_path == NULL)
		usage();
	if (aif_cfg_load(config_path, &cfg, errbuf, sizeof(errbuf)) != AIF_OK) {
		fprintf(stderr, "%s", errbuf);
		return 1;
	}
	memset(&api, 0, sizeof(api));
	api.cfg = cfg;
	if ((api.current = calloc(1, sizeof(*api.current))) == NULL)
		return 1;
	api.current->cfg = cfg;
	api.current->refs = 1;
	if (aif_pii_new(cfg, 0, &api.current->pii, errbuf, sizeof(errbuf)) != AIF_OK) {
		fprintf(stderr, "%s", errbuf);
		free(api.current);
		aif_cfg_free(cfg);
		return 1;
	}
	api.listen_fd = -1;
	api.doorbell_fd = -1;
	api.sender_fd = -1;

	/* Signals go to the main thread only (sigwait below). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	{
		struct sigaction wake;
		memset(&wake, 0, sizeof(wake));
		wake.sa_handler = on_wake;	/* no SA_RESTART: accept(2) returns EINTR */
		sigaction(SIGUSR2, &wake, NULL);
	}

	if (FCGX_Init() != 0 || aif_auth_new(cfg, &api.auth) != AIF_OK)
		goto out;
	int n = snprintf(api.doorbell_path, sizeof(api.doorbell_path), "%s/api-%ld.sock",
	    cfg->server.run_dir, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(api.doorbell_path) ||
	    aif_doorbell_bind(api.doorbell_path, &api.doorbell_fd) != AIF_OK ||
	    (api.sender_fd = aif_doorbell_sender()) < 0) {
		aif_error("msg=\"cannot bind doorbell\" path=%s", api.doorbell_path);
		goto out;
	}
	if (listen == NULL)
		listen = cfg->server.listen;
	if ((api.listen_fd = open_listener(listen)) < 0)
		goto out;
	if (waiters_start(&api) != 0 || enqueuer_start(&api) != 0 ||
	    streams_start(&api) != 0) {
		aif_error("msg=\"cannot start the completer or the enqueuer\"");
		goto stop;
	}
	if ((threads = calloc((size_t)cfg->server.threads, sizeof(*threads))) == NULL)
		goto stop;
	for (; nthreads < cfg->server.threads; nthreads++)
		if (pthread_create(&threads[nthreads], NULL, acceptor, &api) != 0)
			break;
	/* ready only once config, database and listener are: until the database answers,
	 * wait (systemd's start timeout bounds it), still heeding a stop */
	{
		struct aif_db *probe = NULL;
		struct timespec pause = { 0, 200000000 };
		int warned = 0;
		while (aif_db_open(cfg, &probe) != AIF_OK) {
			aif_db_close(probe);
			probe = NULL;
			if (!warned++)
				aif_warn("msg=\"waiting for the database before reporting ready\"");
			if ((sig = sigtimedwait(&set, NULL, &pause)) == SIGTERM || sig == SIGINT)
				goto stop_now;
		}
		aif_db_close(probe);
	}
	aif_info("msg=\"aif-api ready\" listen=%s threads=%d doorbell=%s models=%zu",
	    listen, nthreads, api.doorbell_path, cfg->nmodels);
	(void)aif_sd_notify("READY=1");
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(&api, config_path);
			continue;
		}
		break;
	}
stop_now:
	aif_info("msg=\"stopping\" signal=%d", sig);
	(void)aif_sd_notify("STOPPING=1");
	api.stopping = 1;
	stop_acceptors(&api, listen, threads, nthreads);
	rc = 0;
stop:
	enqueuer_stop();
	streams_stop(STOP_GRACE_MS);
	waiters_stop(&api, STOP_GRACE_MS);
out:
	free(threads);
	if (api.listen_fd > 2)
		close(api.listen_fd);
	if (listen != NULL && strcmp(listen, "systemd") != 0 && strcmp(listen, "fd:0") != 0)
		(void)unlink(listen);
	aif_doorbell_close(api.doorbell_fd, api.doorbell_fd >= 0 ? api.doorbell_path : NULL);
	if (api.sender_fd >= 0)
		close(api.sender_fd);
	aif_auth_free(api.auth);
	if (api.current != NULL)
		api_cfg_release(api.current);	/* frees a reloaded config */
	aif_cfg_free(cfg);
	return rc;
}
