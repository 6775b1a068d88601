/* aifctl.c -- the operator's command line: configuration checks, schema migrations and
 * API keys. The config is --config FILE, else $AIF_CONFIG, else config/aif.yaml when
 * run from a checkout, else /etc/aif/aif.yaml.
 *
 *   aifctl [--config FILE] config check [FILE]
 *   aifctl [--config FILE] migrate [--sql-dir DIR]
 *   aifctl [--config FILE] keys create|list|show|revoke|rotate ...  (cmd_keys.c)
 *   aifctl [--config FILE] jobs show ID | list [--state S] | cancel ID  (cmd_jobs.c)
 *   aifctl [--config FILE] workers | queue | top [--format table|json]  (cmd_ops.c)
 *   aifctl [--config FILE] usage [--since DATE] [--by key|tenant|model] [--format F]
 *   aifctl [--config FILE] batches list [filters] | show BATCH  (cmd_batches.c)
 *   aifctl [--config FILE] pii mask [--explain] [--model M] [--role R]   (cmd_pii.c)
 *   aifctl version | --version
 */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter.h"
#include "commands.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "util.h"
#include "version.h"

#define SCRIPT_MAX	(1u << 20)
#define MIGRATIONS_MAX	1000

static const char *
default_config(void)
{
	const char *env = getenv("AIF_CONFIG");
	struct stat st;

	if (env != NULL && *env != '\0')
		return env;
	if (stat("config/aif.yaml", &st) == 0)
		return "config/aif.yaml";
	return "/etc/aif/aif.yaml";
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: aifctl [--config FILE] config check [FILE]\n"
	    "       aifctl [--config FILE] migrate [--sql-dir DIR]\n"
	    "       aifctl [--config FILE] keys create|list|show|revoke|rotate ...\n"
	    "       aifctl [--config FILE] jobs show ID | list [--state S] | cancel ID\n"
	    "       aifctl [--config FILE] workers | queue [--format table|json] | top\n"
	    "       aifctl [--config FILE] usage [--since DATE] [--by key|tenant|model]\n"
	    "                                    [--format table|csv|json]\n"
	    "       aifctl [--config FILE] batches list [--all-keys | --key ID]\n"
	    "                              [--status S] [--limit N] [--format table|json]\n"
	    "       aifctl [--config FILE] batches show BATCH [--format table|json]\n"
	    "       aifctl [--config FILE] pii mask [--explain] [--model M] [--role R]\n"
	    "       aifctl version\n");
	exit(2);
}

struct aif_config *
aifctl_load(const char *path)
{
	struct aif_config *cfg = NULL;
	char errbuf[16384];

	/* with the adapters' checks: what a worker would refuse is refused here too */
	if (aif_cfg_load_with(path, &aif_adapters_cfg, &cfg, errbuf, sizeof(errbuf)) !=
	    AIF_OK) {
		fputs(errbuf, stderr);
		if (errbuf[0] != '\0' && errbuf[strlen(errbuf) - 1] != '\n')
			fputc('\n', stderr);
		return NULL;
	}
	return cfg;
}

/* The file loads as the programs load it, and every secret file it names passes the
 * loader's checks (core/base/secret.h): what aif-worker or aif-api would refuse at
 * start or reload is refused here, with the path and the reason, never the content. */
static int
cmd_config_check(const char *path)
{
	struct aif_config *cfg = aifctl_load(path);
	char errbuf[16384];

	if (cfg == NULL)
		return 1;
	if (aif_cfg_load_secrets(cfg, AIF_CFG_SECRETS_ALL, errbuf, sizeof(errbuf)) !=
	    AIF_OK) {
		fprintf(stderr, "%s\n", errbuf);
		aif_cfg_free(cfg);
		return 1;
	}
	printf("%s: ok (%zu models, %zu roles)\n", path, cfg->nmodels, cfg->nroles);
	aif_cfg_free(cfg);
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	if ((buf = malloc(SCRIPT_MAX + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, SCRIPT_MAX + 1, f);
	fclose(f);
	if (n > SCRIPT_MAX) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Applies every sql/NNN_name.sql not yet recorded in schema_migrations, in order. */
static int
cmd_migrate(const struct aif_config *cfg, const char *dir)
{
	struct aif_db *db = NULL;
	struct dirent *de;
	char *names[MIGRATIONS_MAX];
	size_t n = 0, applied = 0;
	DIR *d;
	int rc = 1;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "aifctl: cannot open %s\n", dir);
		return 1;
	}
	while ((de = readdir(d)) != NULL && n < MIGRATIONS_MAX) {
		size_t len = strlen(de->d_name);
		if (len > 8 && de->d_name[0] >= '0' && de->d_name[0] <= '9' &&
		    de->d_name[1] >= '0' && de->d_name[1] <= '9' &&
		    de->d_name[2] >= '0' && de->d_name[2] <= '9' && de->d_name[3] == '_' &&
		    strcmp(de->d_name + len - 4, ".sql") == 0)
			if ((names[n] = strdup(de->d_name)) != NULL)
				n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	if (aif_db_open(cfg, &db) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot connect to the database\n");
		goto out;
	}
	if (aif_migrate_begin(db) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot take the migration lock\n");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char path[4096], num[4] = { names[i][0], names[i][1], names[i][2], 0 };
		int64_t version = 0;
		int done = 0, pn;
		size_t len = 0;
		char *script;

		(void)aif_parse_i64(num, 0, 999, &version);
		if (aif_migrate_applied(db, (int)version, &done) != AIF_OK)
			goto out;
		if (done)
			continue;
		pn = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (pn < 0 || (size_t)pn >= sizeof(path) ||
		    (script = read_file(path, &len)) == NULL) {
			fprintf(stderr, "aifctl: cannot read %s/%s\n", dir, names[i]);
			goto out;
		}
		enum aif_err err = aif_migrate_apply(db, (int)version, names[i], script, len);
		free(script);
		if (err != AIF_OK) {
			fprintf(stderr, "aifctl: migration %s failed\n", names[i]);
			goto out;
		}
		printf("applied %s\n", names[i]);
		applied++;
	}
	printf("schema up to date (%zu applied now, %zu known)\n", applied, n);
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	aif_db_close(db);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *config_path = NULL, *sql_dir = NULL;
	struct aif_config *cfg;
	int rc, i = 1;

	aif_log_init("aifctl");
	while (i < argc && strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i], "--version") != 0) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config_path = argv[i + 1];
			i += 2;
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();
	if (strcmp(argv[i], "version") == 0 || strcmp(argv[i], "--version") == 0) {
		printf("aifctl %s\n", AIF_VERSION);
		return 0;
	}
	if (config_path == NULL)
		config_path = default_config();
	if (strcmp(argv[i], "config") == 0) {
		if (i + 1 >= argc || strcmp(argv[i + 1], "check") != 0)
			usage();
		return cmd_config_check(i + 2 < argc ? argv[i + 2] : config_path);
	}
	if (strcmp(argv[i], "pii") == 0)
		return aifctl_cmd_pii(config_path, argc - i, argv + i);
	if ((cfg = aifctl_load(config_path)) == NULL)
		return 1;
	if (strcmp(argv[i], "migrate") == 0) {
		if (i + 2 < argc && strcmp(argv[i + 1], "--sql-dir") == 0)
			sql_dir = argv[i + 2];
		else if (i + 1 < argc)
			usage();
		if (sql_dir == NULL)
			sql_dir = getenv("AIF_SQL_DIR");
		if (sql_dir == NULL)
			sql_dir = access("sql/001_init.sql", R_OK) == 0 ? "sql" :
			    "/usr/share/aif/sql";
		rc = cmd_migrate(cfg, sql_dir);
	} else if (strcmp(argv[i], "keys") == 0) {
		rc = aifctl_cmd_keys(cfg, argc - i, argv + i);
	} else if (strcmp(argv[i], "workers") == 0 || strcmp(argv[i], "queue") == 0 ||
	    strcmp(argv[i], "top") == 0) {
		rc = aifctl_cmd_ops(cfg, argc - i, argv + i);
	} else if (strcmp(argv[i], "jobs") == 0) {
		rc = aifctl_cmd_jobs(cfg, argc - i, argv + i);
	} else if (strcmp(argv[i], "usage") == 0) {
		rc = aifctl_cmd_usage(cfg, argc - i, argv + i);
	} else if (strcmp(argv[i], "batches") == 0) {
		rc = aifctl_cmd_batches(cfg, argc - i, argv + i);
	} else {
		aif_cfg_free(cfg);
		usage();
	}
	aif_cfg_free(cfg);
	return rc;
}
