/* cron.c -- aif-cron: one run of a periodic maintenance job, started by a systemd timer
 * (or by hand, or by tests):
 *   reap       requeue (or fail, when out of attempts) running jobs whose lease expired;
 *              fail (model_not_found) the jobs queued for more than --grace S (default
 *              60) seconds for a model the configuration no longer has
 *   rollup     fold `usage` into usage_daily for today and yesterday (idempotent)
 *   retention  drop request/response payloads of jobs finished more than
 *              --days N (default 30) days ago, and their events past 3*N days; delete
 *              the Batch API's files past their expires_at (docs/BATCH.md)
 *   compensate run the due saga steps of failed jobs (workers/compensate.c)
 *   autoscale  see cron_autoscale.c
 * Exit status 0 on success. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batches.h"
#include "catalog.h"
#include "compensate.h"
#include "config.h"
#include "cron.h"
#include "db.h"
#include "http.h"
#include "jobs.h"
#include "log.h"
#include "queue.h"
#include "usage.h"
#include "util.h"
#include "version.h"

static void
usage(void)
{
	fprintf(stderr, "usage: aif-cron [--config FILE] reap [--grace S] | rollup"
	    " | retention [--days N]"
	    " | compensate | autoscale [--dry-run]\n"
	    "       aif-cron --version\n");
	exit(2);
}

#define UNCONFIGURED_GRACE_S	60	/* default: a reload reaches every process by then */

/* Queued jobs of a model a reload removed fail (model_not_found), their holds
 * released: no worker would ever claim them. */
static int
fail_unconfigured(const struct aif_config *cfg, struct aif_db *db, int grace_s)
{
	const char **ids = calloc(cfg->nmodels + 1, sizeof(*ids));
	size_t n = 0, failed = 0, total = 0;
	enum aif_err err;

	if (ids == NULL)
		return 1;
	for (size_t i = 0; i < cfg->nmodels; i++)
		ids[n++] = cfg->models[i].id;
	do {
		if ((err = aif_queue_fail_unconfigured(db, ids, n, grace_s, 200,
		    &failed)) != AIF_OK) {
			aif_error("msg=\"failing jobs of removed models failed\" error=\"%s\"",
			    aif_strerror(err));
			free(ids);
			return 1;
		}
		total += failed;
	} while (failed == 200);
	free(ids);
	if (total > 0)
		aif_info("msg=\"failed queued jobs of models no longer configured\" jobs=%zu",
		    total);
	return 0;
}

static int
reap(const struct aif_config *cfg, struct aif_db *db, int grace_s)
{
	size_t n = 0, total = 0;
	enum aif_err err;

	do {
		if ((err = aif_queue_reap(db, cfg, 200, &n)) != AIF_OK) {
			aif_error("msg=\"reap failed\" error=\"%s\"", aif_strerror(err));
			return 1;
		}
		total += n;
	} while (n == 200);
	aif_info("msg=\"reap done\" requeued_or_failed=%zu", total);
	return fail_unconfigured(cfg, db, grace_s);
}

static int
rollup(struct aif_db *db)
{
	uint64_t n = 0;
	enum aif_err err;

	if ((err = aif_usage_rollup(db, &n)) != AIF_OK) {
		aif_error("msg=\"rollup failed\" error=\"%s\"", aif_strerror(err));
		return 1;
	}
	aif_info("msg=\"rollup done\" rows=%llu", (unsigned long long)n);
	return 0;
}

#define FILE_ROUND	100	/* files deleted per look */
#define FILE_ROUNDS_MAX	100	/* looks per run: the next run goes on */

static int
retention(struct aif_db *db, int64_t days)
{
	uint64_t payloads = 0, events = 0, files = 0;
	enum aif_err err;

	if ((err = aif_jobs_retention(db, days, &payloads, &events)) != AIF_OK) {
		aif_error("msg=\"retention failed\" error=\"%s\"", aif_strerror(err));
		return 1;
	}
	/* batch files past their expires_at (not the input of a batch still open) */
	for (int round = 0; round < FILE_ROUNDS_MAX; round++) {
		size_t n = 0;
		if ((err = aif_files_expire(db, FILE_ROUND, &n)) != AIF_OK) {
			aif_error("msg=\"file retention failed\" error=\"%s\"",
			    aif_strerror(err));
			return 1;
		}
		files += n;
		if (n < FILE_ROUND)
			break;
	}
	aif_info("msg=\"retention done\" days=%lld payloads_dropped=%llu events_deleted=%llu"
	    " files_deleted=%llu", (long long)days, (unsigned long long)payloads,
	    (unsigned long long)events, (unsigned long long)files);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *config_path = getenv("AIF_CONFIG");
	struct aif_config *cfg = NULL;
	struct aif_db *db = NULL;
	char errbuf[8192];
	int i = 1, rc = 1;

	aif_log_init("aif-cron");
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("aif-cron %s\n", AIF_VERSION);
		return 0;
	}
	if (i + 1 < argc && strcmp(argv[i], "--config") == 0) {
		config_path = argv[i + 1];
		i += 2;
	}
	if (i >= argc)
		usage();
	if (config_path == NULL)
		config_path = "/etc/aif/aif.yaml";
	if (aif_cfg_load_with(config_path, &aif_adapters_cfg, &cfg, errbuf,
	    sizeof(errbuf)) != AIF_OK) {
		fputs(errbuf, stderr);
		return 1;
	}
	if (aif_db_open(cfg, &db) != AIF_OK) {
		aif_error("msg=\"database unreachable\"");
		goto out;
	}
	if (strcmp(argv[i], "reap") == 0) {
		int64_t grace = UNCONFIGURED_GRACE_S;
		if (i + 3 == argc && strcmp(argv[i + 1], "--grace") == 0) {
			if (aif_parse_i64(argv[i + 2], 0, 86400, &grace) != 0)
				usage();
		} else if (i + 1 != argc) {
			usage();
		}
		rc = reap(cfg, db, (int)grace);
	} else if (strcmp(argv[i], "rollup") == 0 && i + 1 == argc) {
		rc = rollup(db);
	} else if (strcmp(argv[i], "retention") == 0) {
		int64_t days = 30;
		if (i + 3 == argc && strcmp(argv[i + 1], "--days") == 0) {
			if (aif_parse_i64(argv[i + 2], 1, 3650, &days) != 0)
				usage();
		} else if (i + 1 != argc) {
			usage();
		}
		rc = retention(db, days);
	} else if (strcmp(argv[i], "compensate") == 0 && i + 1 == argc) {
		int n = 0, total = 0;
		if (aif_http_init() == AIF_OK) {
			while ((n = aif_compensate_run(db, 16)) > 0)
				total += n;
			aif_http_cleanup();
		} else {
			n = -1;
		}
		aif_info("msg=\"compensate done\" steps=%d", total);
		rc = n < 0;
	} else if (strcmp(argv[i], "autoscale") == 0) {
		int dry = i + 2 == argc && strcmp(argv[i + 1], "--dry-run") == 0;
		if (i + 1 != argc && !dry)
			usage();
		rc = cron_autoscale(cfg, db, dry);
	} else {
		usage();
	}
out:
	aif_db_close(db);
	aif_cfg_free(cfg);
	return rc;
}
