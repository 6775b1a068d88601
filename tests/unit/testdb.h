/* testdb.h -- the scratch MariaDB of the unit tests that need one (queue, store, rate
 * limits, budgets, keys). It comes from the environment: AIF_TEST_DB_SOCKET (a unix
 * socket) and AIF_TEST_DB_NAME (a scratch database); the migrations sql/NNN_*.sql are
 * applied first (each is idempotent). Without them the tests of a program are skipped
 * with one line saying why -- unless AIF_TEST_REQUIRE_DB=1 (as `make test` sets), in
 * which case a missing database fails the program: `make test` cannot pass by
 * skipping. Each program includes this once (static functions), after cmocka.h. Runs
 * with cwd tests/unit.
 *
 * It also names what a run writes, so that runs and tests never see each other's rows:
 * testdb_name gives names "<prefix><tag>-<n><suffix>", testdb_id ids far above
 * AUTO_INCREMENT ones, and testdb_purge deletes this run's rows at the end. */
#ifndef AIF_TESTDB_H
#define AIF_TESTDB_H

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "util.h"

#define TESTDB_SCHEMA	"../../sql/[0-9][0-9][0-9]_*.sql"

struct testdb {
	const char		*skip_reason;	/* set when the DB tests cannot run */
	struct aif_config	*cfg;
	struct aif_db		*db;
	char			 tag[48];	/* "utest-<pid>-<random>": names of this run */
	uint64_t		 id_base;	/* ids of this run: id_base + 1 .. */
	unsigned		 seq;		/* last n of testdb_name / testdb_id */
};

/* Runs every migration, in order. 0 or -1 (said on stderr). */
static __attribute__((unused)) int
testdb_migrate(struct aif_db *db, const char *prog)
{
	glob_t gl = { 0 };
	int rc = -1;

	if (glob(TESTDB_SCHEMA, 0, NULL, &gl) != 0 || gl.gl_pathc == 0) {
		fprintf(stderr, "%s: no migrations match %s (run from tests/unit)\n", prog,
		    TESTDB_SCHEMA);
		goto out;
	}
	for (size_t i = 0; i < gl.gl_pathc; i++) {
		FILE *f = fopen(gl.gl_pathv[i], "rb");
		char *script = NULL;
		long len = 0;
		int ok = f != NULL && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 &&
		    fseek(f, 0, SEEK_SET) == 0 && (script = malloc((size_t)len)) != NULL &&
		    fread(script, 1, (size_t)len, f) == (size_t)len &&
		    aif_db_exec_script(db, script, (size_t)len) == AIF_OK;
		if (f != NULL)
			fclose(f);
		free(script);
		if (!ok) {
			fprintf(stderr, "%s: %s failed\n", prog, gl.gl_pathv[i]);
			goto out;
		}
	}
	rc = 0;
out:
	globfree(&gl);
	return rc;
}

/* Decides whether the tests can run; call first in main(). Returns 0, or -1 when the
 * database is required and missing (main returns non-zero then). */
static __attribute__((unused)) int
testdb_check(struct testdb *t, const char *prog)
{
	const char *sock = getenv("AIF_TEST_DB_SOCKET"), *name = getenv("AIF_TEST_DB_NAME");
	const char *req = getenv("AIF_TEST_REQUIRE_DB");

	if (sock != NULL && *sock != '\0' && name != NULL && *name != '\0')
		return 0;
	t->skip_reason = "AIF_TEST_DB_SOCKET and AIF_TEST_DB_NAME must name a MariaDB "
	    "socket and a scratch database";
	if (req != NULL && strcmp(req, "1") == 0) {
		fprintf(stderr, "%s: FAILED: the database is required (AIF_TEST_REQUIRE_DB=1): "
		    "%s\n", prog, t->skip_reason);
		return -1;
	}
	printf("%s: database tests skipped: %s\n", prog, t->skip_reason);
	return 0;
}

/* Connects (config with one model and one role, plus `extra_yaml` appended, may be
 * ""), migrates, and picks this run's tag and ids: the group setup of a program. When
 * the tests are skipped it only sets the tag ("utest-nodb"). 0, or -1 with everything
 * closed again. */
static __attribute__((unused)) int
testdb_open(struct testdb *t, const char *prog, const char *extra_yaml)
{
	const char *sock = getenv("AIF_TEST_DB_SOCKET"), *name = getenv("AIF_TEST_DB_NAME");
	char yaml[4096], err[4096];
	unsigned char rnd[7];
	int n;

	if (t->skip_reason != NULL) {
		snprintf(t->tag, sizeof(t->tag), "utest-nodb");
		return 0;
	}
	n = snprintf(yaml, sizeof(yaml),
	    "server:\n  listen: /tmp/aif-utest-api.sock\n  run_dir: /tmp\n"
	    "database:\n  socket: \"%s\"\n  name: \"%s\"\n"
	    "models:\n  - id: utest\n    adapter: openai\n"
	    "    replicas:\n      - url: http://127.0.0.1:9101\n"
	    "roles:\n  - name: user\n%s", sock, name, extra_yaml);
	if (n < 0 || (size_t)n >= sizeof(yaml))
		return -1;
	if (aif_cfg_load_string(prog, yaml, strlen(yaml), &t->cfg, err, sizeof(err)) !=
	    AIF_OK) {
		fprintf(stderr, "%s: config: %s\n", prog, err);
		return -1;
	}
	if (aif_db_open(t->cfg, &t->db) != AIF_OK || aif_db_ensure(t->db) != AIF_OK) {
		fprintf(stderr, "%s: cannot connect to %s (database %s)\n", prog, sock, name);
		goto fail;
	}
	if (testdb_migrate(t->db, prog) != 0 || aif_random_bytes(rnd, sizeof(rnd)) != AIF_OK)
		goto fail;
	snprintf(t->tag, sizeof(t->tag), "utest-%ld-%02x%02x%02x%02x", (long)getpid(),
	    rnd[0], rnd[1], rnd[2], rnd[3]);
	/* ids far above AUTO_INCREMENT ones (worker, job and key ids that no row
	   holds), distinct per run */
	t->id_base = ((uint64_t)1 << 40) +
	    (((uint64_t)rnd[4] << 16 | (uint64_t)rnd[5] << 8 | rnd[6]) << 12) +
	    ((uint64_t)getpid() & 0xf) * 256;
	return 0;
fail:
	aif_db_close(t->db);
	aif_cfg_free(t->cfg);
	t->db = NULL;
	t->cfg = NULL;
	return -1;
}

static __attribute__((unused)) void
testdb_close(struct testdb *t)
{
	aif_db_close(t->db);
	aif_cfg_free(t->cfg);
	t->db = NULL;
	t->cfg = NULL;
}

/* A name of this run, "<prefix><tag>-<n><suffix>" (n counts up): testdb_purge deletes
 * the rows so named. Fails the test when it does not fit. */
static __attribute__((unused)) void
testdb_name(struct testdb *t, char *buf, size_t cap, const char *prefix,
    const char *suffix)
{
	int n = snprintf(buf, cap, "%s%s-%u%s", prefix, t->tag, ++t->seq, suffix);

	if (n <= 0 || (size_t)n >= cap)
		fail_msg("name \"%s%s-%u%s\" does not fit in %zu bytes", prefix, t->tag,
		    t->seq, suffix, cap);
}

/* An id of this run that no AUTO_INCREMENT row has. */
static __attribute__((unused)) uint64_t
testdb_id(struct testdb *t)
{
	return t->id_base + ++t->seq;
}

/* Runs the cleanup statement `sql`, whose one parameter is the LIKE pattern `like`;
 * nothing without a database, and a failure is ignored (the next run's names differ). */
static __attribute__((unused)) void
testdb_delete_like(struct testdb *t, const char *sql, const char *like)
{
	struct aif_dbp p[] = { AIF_P_STR(like) };

	if (t->db != NULL)
		(void)AIF_DB_EXEC(t->db, sql, p, NULL, NULL);
}

/* Deletes this run's rows: `sql` with the pattern "<prefix><tag>-%" (testdb_name). */
static __attribute__((unused)) void
testdb_purge(struct testdb *t, const char *sql, const char *prefix)
{
	char like[128];

	snprintf(like, sizeof(like), "%s%s-%%", prefix, t->tag);
	testdb_delete_like(t, sql, like);
}

/* One integer a query gives (its first cell), or -1. */
static __attribute__((unused)) int64_t
testdb_i64(struct testdb *t, const char *sql, const struct aif_dbp *p, size_t n)
{
	struct aif_dbrows *rows = NULL;
	int64_t v = -1;

	if (aif_db_query(t->db, sql, p, n, &rows) == AIF_OK && rows->nrows == 1 &&
	    aif_dbrows_get(rows, 0, 0) != NULL)
		v = aif_dbrows_i64(rows, 0, 0);
	aif_dbrows_free(rows);
	return v;
}

/* testdb_i64 of a query with one string parameter. */
static __attribute__((unused)) int64_t
testdb_i64_str(struct testdb *t, const char *sql, const char *s)
{
	struct aif_dbp p[] = { AIF_P_STR(s) };

	return testdb_i64(t, sql, p, AIF_NELEM(p));
}

#define TESTDB_NEED(t)	do { if ((t)->db == NULL) skip(); } while (0)

#endif
