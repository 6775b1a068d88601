/* test_batches.c -- unit tests of core/store/batches.c against the scratch MariaDB
 * (testdb.h): files stored line by line and scoped to their owner; a batch's lease
 * held by one feeder at a time (renewed, lapsed, taken over); the unfed lines of a batch
 * (neither a job nor a refusal), one job per line whatever inserts it twice; a file a
 * batch reads cannot be deleted; finalizing under the lease, locked, finished; the lane
 * counted by state. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testdb.h"

#include "batches.h"
#include "queue.h"

static struct {
	struct testdb	 t;
} g;

#define TOKEN_A	0x1111111111ULL
#define TOKEN_B	0x2222222222ULL

/* A file of n lines of this run (tenant: a name of this run), owned by owner. */
static uint64_t
new_file(uint64_t owner, size_t n, struct aif_file_row *f)
{
	static const char line[] = "{\"custom_id\":\"c\",\"method\":\"POST\",\"url\":"
	    "\"/v1/chat/completions\",\"body\":{\"model\":\"m\",\"messages\":[]}}\n";
	struct aif_file_line l[8];

	assert_true(n <= 8);
	memset(f, 0, sizeof(*f));
	f->api_key_id = owner;
	testdb_name(&g.t, f->tenant, sizeof(f->tenant), "", "");
	snprintf(f->purpose, sizeof(f->purpose), "batch");
	snprintf(f->filename, sizeof(f->filename), "in.jsonl");
	snprintf(f->endpoint, sizeof(f->endpoint), "/v1/chat/completions");
	f->bytes = (int64_t)(n * (sizeof(line) - 1));
	f->lines = (int64_t)n;
	for (size_t i = 0; i < n; i++)
		l[i] = (struct aif_file_line){ .raw = line, .len = sizeof(line) - 1,
		    .custom_id = "c" };
	assert_int_equal(aif_db_begin(g.t.db), AIF_OK);
	assert_int_equal(aif_files_create(g.t.db, f), AIF_OK);
	assert_int_equal(aif_files_add_lines(g.t.db, f->id, 1, l, n), AIF_OK);
	assert_int_equal(aif_db_commit(g.t.db), AIF_OK);
	return f->id;
}

/* A batch of file f (validating). */
static uint64_t
new_batch(const struct aif_file_row *f, struct aif_batch_row *b)
{
	memset(b, 0, sizeof(*b));
	b->api_key_id = f->api_key_id;
	snprintf(b->tenant, sizeof(b->tenant), "%s", f->tenant);
	b->input_file_id = f->id;
	snprintf(b->endpoint, sizeof(b->endpoint), "%s", f->endpoint);
	snprintf(b->window, sizeof(b->window), "24h");
	b->total = f->lines;
	assert_int_equal(aif_batches_create(g.t.db, b, 86400), AIF_OK);
	return b->id;
}

static int
holds(uint64_t token, uint64_t id)
{
	uint64_t ids[64];
	size_t n = 0;

	assert_int_equal(aif_batches_lease(g.t.db, token, 15, ids, 64, &n), AIF_OK);
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

static void
files_are_their_owners(void **state)
{
	struct aif_file_row f, got;
	struct aif_dbrows *rows = NULL;
	uint64_t owner = testdb_id(&g.t);

	(void)state;
	TESTDB_NEED(&g.t);
	new_file(owner, 3, &f);
	assert_int_equal(aif_files_get(g.t.db, f.public_id, owner, &got), AIF_OK);
	assert_int_equal(got.lines, 3);
	assert_string_equal(got.endpoint, "/v1/chat/completions");
	assert_int_equal(aif_files_get(g.t.db, f.public_id, owner + 1, &got), AIF_NOTFOUND);
	assert_int_equal(aif_files_get(g.t.db, f.public_id, 0, &got), AIF_OK);
	assert_int_equal(aif_files_lines(g.t.db, f.id, 1, 10, &rows), AIF_OK);
	assert_int_equal(rows->nrows, 2);
	assert_int_equal(aif_dbrows_i64(rows, 0, FL_LINE), 2);
	aif_dbrows_free(rows);
}

static void
lease_renew_lapse_take_over(void **state)
{
	struct aif_file_row f;
	struct aif_batch_row b;

	(void)state;
	TESTDB_NEED(&g.t);
	new_file(testdb_id(&g.t), 2, &f);
	new_batch(&f, &b);
	assert_true(holds(TOKEN_A, b.id));
	assert_false(holds(TOKEN_B, b.id));		/* held: not taken */
	assert_int_equal(aif_batches_renew(g.t.db, b.id, TOKEN_B, 15), AIF_NOTFOUND);
	assert_int_equal(aif_batches_renew(g.t.db, b.id, TOKEN_A, 15), AIF_OK);
	/* A's lease lapses: B takes it, A's next step is not taken */
	{
		struct aif_dbp p[] = { AIF_P_I64(b.id) };
		assert_int_equal(AIF_DB_EXEC(g.t.db, "UPDATE batches SET feeder_until ="
		    " NOW(6) - INTERVAL 1 SECOND WHERE id = ?", p, NULL, NULL), AIF_OK);
	}
	assert_true(holds(TOKEN_B, b.id));
	assert_int_equal(aif_batches_renew(g.t.db, b.id, TOKEN_A, 15), AIF_NOTFOUND);
	assert_int_equal(aif_batches_move(g.t.db, b.id, TOKEN_A, "validating",
	    "in_progress"), AIF_NOTFOUND);
	assert_int_equal(aif_batches_move(g.t.db, b.id, TOKEN_B, "validating",
	    "in_progress"), AIF_OK);
	/* B stops: its leases go at once, A takes the batch without waiting them out */
	assert_int_equal(aif_batches_release(g.t.db, TOKEN_B), AIF_OK);
	assert_int_equal(aif_batches_renew(g.t.db, b.id, TOKEN_B, 15), AIF_NOTFOUND);
	assert_true(holds(TOKEN_A, b.id));
}

/* A job of line `line` of batch b (model: a name of this run). */
static enum aif_err
line_job(const struct aif_batch_row *b, uint32_t line)
{
	char model[64], pid[AIF_JOB_ID_LEN + 1];
	uint64_t id = 0;
	struct aif_job_new j = { .api_key_id = b->api_key_id, .tenant = b->tenant,
	    .kind = AIF_KIND_CHAT, .priority = AIF_BATCH_PRIORITY, .max_attempts = 1,
	    .max_tokens = -1, .request_body = "{}", .request_len = 2, .batch_id = b->id,
	    .batch_line = line };

	testdb_name(&g.t, model, sizeof(model), "", "");
	j.model = model;
	return aif_queue_enqueue(g.t.db, &j, &id, pid);
}

static void
unfed_lines_have_neither_job_nor_refusal(void **state)
{
	struct aif_file_row f;
	struct aif_batch_row b;
	struct aif_dbrows *rows = NULL;
	struct aif_batch_lane lane;

	(void)state;
	TESTDB_NEED(&g.t);
	new_file(testdb_id(&g.t), 5, &f);
	new_batch(&f, &b);
	assert_int_equal(line_job(&b, 2), AIF_OK);
	assert_int_equal(line_job(&b, 2), AIF_CONFLICT);	/* one job per line */
	assert_int_equal(aif_batches_refuse(g.t.db, b.id, 4, 429, "{}"), AIF_OK);
	assert_int_equal(aif_batches_refuse(g.t.db, b.id, 4, 500, "{}"), AIF_OK); /* kept */
	assert_int_equal(aif_batches_unfed(g.t.db, b.id, f.id, 0, 10, &rows), AIF_OK);
	assert_int_equal(rows->nrows, 3);
	assert_int_equal(aif_dbrows_i64(rows, 0, FL_LINE), 1);
	assert_int_equal(aif_dbrows_i64(rows, 1, FL_LINE), 3);
	assert_int_equal(aif_dbrows_i64(rows, 2, FL_LINE), 5);
	aif_dbrows_free(rows);
	assert_int_equal(aif_batches_unfed(g.t.db, b.id, f.id, 3, 10, &rows), AIF_OK);
	assert_int_equal(rows->nrows, 1);
	aif_dbrows_free(rows);
	assert_int_equal(aif_batches_lane(g.t.db, b.id, &lane), AIF_OK);
	assert_int_equal(lane.queued, 1);
	assert_int_equal(lane.refused, 1);
	assert_int_equal(lane.succeeded, 0);
}

static void
a_file_a_batch_reads_stays_until_it_ends(void **state)
{
	struct aif_file_row f;
	struct aif_batch_row b, now;
	char batch[AIF_BATCH_ID_LEN + 1] = "";
	int open = 1;

	(void)state;
	TESTDB_NEED(&g.t);
	new_file(testdb_id(&g.t), 1, &f);
	new_batch(&f, &b);
	assert_int_equal(aif_files_delete(g.t.db, f.id, batch), AIF_CONFLICT);
	assert_string_equal(batch, b.public_id);
	/* it ends: in progress, finalizing (locked under its lease), completed */
	assert_true(holds(TOKEN_A, b.id));
	assert_int_equal(aif_batches_move(g.t.db, b.id, TOKEN_A, "validating",
	    "in_progress"), AIF_OK);
	assert_int_equal(aif_batches_open(g.t.db, b.id, &open), AIF_OK);
	assert_false(open);
	assert_int_equal(aif_batches_finalize(g.t.db, b.id, TOKEN_A, "in_progress",
	    "expired"), AIF_OK);
	assert_int_equal(aif_batches_get_id(g.t.db, b.id, &now), AIF_OK);
	assert_string_equal(now.status, "finalizing");
	assert_string_equal(now.ending, "expired");
	aif_batch_row_clear(&now);
	assert_int_equal(aif_db_begin(g.t.db), AIF_OK);
	assert_int_equal(aif_batches_lock(g.t.db, b.id, TOKEN_B), AIF_NOTFOUND);
	assert_int_equal(aif_batches_lock(g.t.db, b.id, TOKEN_A), AIF_OK);
	assert_int_equal(aif_batches_finish(g.t.db, b.id, TOKEN_A, "expired", 0, 1, 0, 0),
	    AIF_OK);
	assert_int_equal(aif_db_commit(g.t.db), AIF_OK);
	assert_int_equal(aif_batches_get_id(g.t.db, b.id, &now), AIF_OK);
	assert_string_equal(now.status, "expired");
	assert_int_equal(now.failed, 1);
	assert_true(now.expired_at > 0);
	aif_batch_row_clear(&now);
	assert_false(holds(TOKEN_A, b.id));		/* an ended batch is nobody's */
	assert_int_equal(aif_files_delete(g.t.db, f.id, batch), AIF_OK);
	assert_int_equal(aif_files_get_id(g.t.db, f.id, &f), AIF_NOTFOUND);
}

static int
group_setup(void **state)
{
	(void)state;
	return testdb_open(&g.t, "test_batches", "");
}

static int
group_teardown(void **state)
{
	(void)state;
	testdb_purge(&g.t, "DELETE r FROM batch_refusals r JOIN batches b ON b.id = r.batch_id"
	    " WHERE b.tenant LIKE ?", "");
	testdb_purge(&g.t, "DELETE l FROM file_lines l JOIN files f ON f.id = l.file_id"
	    " WHERE f.tenant LIKE ?", "");
	testdb_purge(&g.t, "DELETE FROM files WHERE tenant LIKE ?", "");
	testdb_purge(&g.t, "DELETE FROM batches WHERE tenant LIKE ?", "");
	testdb_purge(&g.t, "DELETE FROM jobs WHERE model LIKE ?", "");
	testdb_close(&g.t);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(files_are_their_owners),
		cmocka_unit_test(lease_renew_lapse_take_over),
		cmocka_unit_test(unfed_lines_have_neither_job_nor_refusal),
		cmocka_unit_test(a_file_a_batch_reads_stays_until_it_ends),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
