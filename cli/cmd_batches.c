/* cmd_batches.c -- `aifctl batches list | show ID`: the Batch API's batches as an
 * operator sees them (docs/OPERATIONS.md, "Batches"). list: newest first, every key's or
 * one key lineage's, optionally of one status, with their progress (the final counts of
 * a batch that ended; counted from its jobs and refusals while it runs), open jobs and
 * an ETA. show: one batch's row whole (status, each transition time, files, window,
 * metadata, errors), its counts and ETA, and its lane: its jobs by state and the lines
 * refused at admission. Both --format table|json. Reads only, through the store's batch
 * API (core/store/batches.h): the filters the store lacks are applied here. Exit status:
 * 0, 1 (no such batch or key, the database), 2 (usage). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "batches.h"
#include "commands.h"
#include "db.h"
#include "esc.h"
#include "keystore.h"
#include "util.h"

#define LIST_DEFAULT	50
#define LIST_MAX	1000
#define LIST_PAGE	200	/* batches read at a time */
#define LIST_SCAN_MAX	20000	/* batches a status filter looks through at most */
#define ETA_MAX_S	INT32_MAX

static void
usage(void)
{
	fprintf(stderr, "usage: aifctl batches list [--all-keys | --key ID] [--status S]"
	    " [--limit 1-%d]\n"
	    "                          [--format table|json]\n"
	    "       aifctl batches show BATCH [--format table|json]\n"
	    "(--key: an API key id, its lineage's batches; S: validating, in_progress,\n"
	    " finalizing, completed, failed, expired, cancelling, cancelled;\n"
	    " BATCH: batch_... or the internal number)\n", LIST_MAX);
	exit(2);
}

/* ---- the ETA (pure) ---------------------------------------------------------------- */

int64_t
aifctl_batch_eta(const char *status, int64_t total, int64_t done, int64_t in_progress_at,
    int64_t now_ms)
{
	int64_t elapsed_ms = now_ms - in_progress_at * 1000, left = total - done;
	double eta;

	if (status == NULL || strcmp(status, "in_progress") != 0 || in_progress_at <= 0 ||
	    done <= 0 || elapsed_ms <= 0)
		return -1;
	if (left <= 0)
		return 0;
	/* left / (done / elapsed): in doubles, as left * elapsed_ms may not fit */
	eta = ceil((double)left * (double)elapsed_ms / (double)done / 1000.0);
	return eta >= (double)ETA_MAX_S ? ETA_MAX_S : (int64_t)eta;
}

void
aifctl_duration(int64_t s, char *buf, size_t cap)
{
	if (s < 0)
		snprintf(buf, cap, "-");
	else if (s < 60)
		snprintf(buf, cap, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, cap, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, cap, "%lldh%02lldm", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else
		snprintf(buf, cap, "%lldd%02lldh", (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
}

/* ---- counts ------------------------------------------------------------------------ */

/* A batch's progress: lines done and failed (refusals included), jobs open. */
struct counts {
	int64_t	 done, failed, open;
};

static int
ended(const struct aif_batch_row *b)
{
	return strcmp(b->status, "completed") == 0 || strcmp(b->status, "failed") == 0 ||
	    strcmp(b->status, "expired") == 0 || strcmp(b->status, "cancelled") == 0;
}

/* The final counts of a batch that ended (no job of it is open then), else its
 * progress now. */
static enum aif_err
counts_of(struct aif_db *db, const struct aif_batch_row *b, struct counts *c)
{
	memset(c, 0, sizeof(*c));
	if (ended(b)) {
		c->done = b->completed;
		c->failed = b->failed;
		return AIF_OK;
	}
	return aif_batches_progress(db, b->id, &c->done, &c->failed, &c->open);
}

/* ---- printing ---------------------------------------------------------------------- */

/* A unix time as "2026-12-07 10:00:00" (UTC), or "-" for 0; borrowed (a ring). */
static const char *
ts(int64_t t)
{
	static char buf[AIFCTL_ESC_SLOTS][80];
	static unsigned slot;
	char *b = buf[slot++ % AIFCTL_ESC_SLOTS];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		return "-";
	snprintf(b, 80, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return b;
}

/* Percent of b's lines processed (done or failed), or -1 when it has none. */
static int64_t
percent(const struct aif_batch_row *b, const struct counts *c)
{
	return b->total > 0 ? (c->done + c->failed) * 100 / b->total : -1;
}

static int64_t
eta_of(const struct aif_batch_row *b, const struct counts *c)
{
	return aifctl_batch_eta(b->status, b->total, c->done + c->failed, b->in_progress_at,
	    b->now_ms);
}

static json_t *
int_or_null(int64_t v, int64_t none)
{
	return v != none ? json_integer(v) : json_null();
}

/* JSON text kept in a row (metadata, errors) as JSON: new; null when none or not JSON. */
static json_t *
json_of(const char *text)
{
	json_t *j = text != NULL ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

	return j != NULL ? j : json_null();
}

/* b with counts c as a JSON object (the Batch object's fields, with the key, the open
 * jobs, percent and ETA): new, or NULL (no memory, text that is not UTF-8). */
static json_t *
batch_doc(const struct aif_batch_row *b, const struct counts *c)
{
	return json_pack("{s:s,s:I,s:s,s:I,s:s,s:s,s:s,s:s?,s:s?,s:s?,s:{s:I,s:I,s:I},"
	    "s:I,s:I,s:o,s:o,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
	    "id", b->public_id, "number", (json_int_t)b->id, "status", b->status,
	    "key_id", (json_int_t)b->api_key_id, "tenant", b->tenant,
	    "endpoint", b->endpoint, "completion_window", b->window,
	    "input_file_id", b->input_file[0] ? b->input_file : NULL,
	    "output_file_id", b->output_file[0] ? b->output_file : NULL,
	    "error_file_id", b->error_file[0] ? b->error_file : NULL,
	    "request_counts", "total", (json_int_t)b->total, "completed",
	    (json_int_t)c->done, "failed", (json_int_t)c->failed,
	    "fed", (json_int_t)b->fed, "open_jobs", (json_int_t)c->open,
	    "progress_pct", int_or_null(percent(b, c), -1),
	    "eta_s", int_or_null(eta_of(b, c), -1),
	    "created_at", (json_int_t)b->created_at, "expires_at", (json_int_t)b->expires_at,
	    "in_progress_at", int_or_null(b->in_progress_at, 0),
	    "finalizing_at", int_or_null(b->finalizing_at, 0),
	    "completed_at", int_or_null(b->completed_at, 0),
	    "failed_at", int_or_null(b->failed_at, 0),
	    "expired_at", int_or_null(b->expired_at, 0),
	    "cancelling_at", int_or_null(b->cancelling_at, 0),
	    "cancelled_at", int_or_null(b->cancelled_at, 0),
	    "paused_until_ms", int_or_null(b->paused_until_ms, 0),
	    "metadata", json_of(b->metadata), "errors", json_of(b->errors));
}

/* Prints doc (borrowed) as indented JSON. */
static void
print_doc(const json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);

	printf("%s\n", s != NULL ? s : "null");
	free(s);
}

#define LIST_HEAD	"%-30s %-11s %6s %-20s %7s %7s %7s %6s %5s %-8s %s\n"

/* One row of `batches list`. */
static void
list_row(const struct aif_batch_row *b, const struct counts *c)
{
	char key[24], pct[8], eta[24];
	int64_t p = percent(b, c);

	snprintf(key, sizeof(key), "%" PRIu64, b->api_key_id);
	if (p < 0)
		snprintf(pct, sizeof(pct), "-");
	else
		snprintf(pct, sizeof(pct), "%d%%", (int)p);
	aifctl_duration(eta_of(b, c), eta, sizeof(eta));
	printf("%-30s %-11s %6s %-20.20s %7lld %7lld %7lld %6lld %5s %-8s %s\n",
	    aifctl_esc(b->public_id), aifctl_esc(b->status), key, aifctl_esc(b->endpoint),
	    (long long)b->total, (long long)c->done, (long long)c->failed,
	    (long long)c->open, pct, eta, ts(b->created_at));
}

/* metadata as "key: value" lines (escaped: the client wrote them). */
static void
show_metadata(const char *text)
{
	json_t *md = json_of(text), *v;
	const char *k;

	if (!json_is_object(md) || json_object_size(md) == 0) {
		printf("metadata  %s\n", text == NULL ? "-" : aifctl_esc(text));
		json_decref(md);
		return;
	}
	printf("metadata\n");
	json_object_foreach(md, k, v)
		printf("  %s: %s\n", aifctl_esc(k), json_is_string(v) ?
		    aifctl_esc(json_string_value(v)) : "?");
	json_decref(md);
}

/* The errors of a batch that failed validation ({"data": [{code, message, line}]}). */
static void
show_errors(const char *text)
{
	json_t *errs = json_of(text), *e;
	size_t i;

	if (text == NULL) {
		json_decref(errs);
		return;
	}
	printf("errors\n");
	if (!json_is_array(json_object_get(errs, "data")))
		printf("  %s\n", aifctl_esc(text));
	json_array_foreach(json_object_get(errs, "data"), i, e) {
		json_int_t line = json_integer_value(json_object_get(e, "line"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		printf("  %s", aifctl_esc(json_string_value(json_object_get(e, "code"))));
		if (line > 0)
			printf(" (line %lld)", (long long)line);
		printf(": %s\n", aifctl_esc(msg));
	}
	json_decref(errs);
}

/* The transition times that are set, in the order a batch passes them. */
static void
show_times(const struct aif_batch_row *b)
{
	const struct { const char *name; int64_t t; } times[] = {
		{ "created", b->created_at }, { "in_progress", b->in_progress_at },
		{ "cancelling", b->cancelling_at }, { "finalizing", b->finalizing_at },
		{ "completed", b->completed_at }, { "failed", b->failed_at },
		{ "expired", b->expired_at }, { "cancelled", b->cancelled_at },
	};

	printf("times (UTC)\n");
	for (size_t i = 0; i < AIF_NELEM(times); i++)
		if (times[i].t > 0)
			printf("  %-12s %s\n", times[i].name, ts(times[i].t));
	printf("  %-12s %s%s\n", "expires", ts(b->expires_at), b->now_ms >=
	    b->expires_at * 1000 ? " (window ended)" : "");
	if (b->paused_until_ms > b->now_ms)
		printf("  %-12s %s (its next lines wait: a rate limit)\n", "paused until",
		    ts(b->paused_until_ms / 1000));
}

/* `batches show` as a table. */
static void
show_table(const struct aif_batch_row *b, const struct counts *c,
    const struct aif_batch_lane *l)
{
	char eta[24], pct[8];
	int64_t p = percent(b, c);

	if (p < 0)
		snprintf(pct, sizeof(pct), "-");
	else
		snprintf(pct, sizeof(pct), "%d%%", (int)p);
	aifctl_duration(eta_of(b, c), eta, sizeof(eta));
	printf("batch     %s  (number %" PRIu64 ")\n", aifctl_esc(b->public_id), b->id);
	printf("status    %s\n", aifctl_esc(b->status));
	printf("key       %" PRIu64 "  tenant %s\n", b->api_key_id, aifctl_esc(b->tenant));
	printf("endpoint  %s  window %s\n", aifctl_esc(b->endpoint), aifctl_esc(b->window));
	printf("files     input %s  output %s  error %s\n",
	    b->input_file[0] ? aifctl_esc(b->input_file) : "- (deleted)",
	    b->output_file[0] ? aifctl_esc(b->output_file) : "-",
	    b->error_file[0] ? aifctl_esc(b->error_file) : "-");
	show_times(b);
	printf("requests  total %lld  fed %lld  completed %lld  failed %lld  open %lld"
	    "  progress %s  eta %s%s\n", (long long)b->total, (long long)b->fed,
	    (long long)c->done, (long long)c->failed, (long long)c->open, pct, eta,
	    ended(b) ? "  (final counts)" : "");
	printf("lane      queued %lld  running %lld  succeeded %lld  failed %lld"
	    "  cancelled %lld  refused %lld\n", (long long)l->queued,
	    (long long)l->running, (long long)l->succeeded, (long long)l->failed,
	    (long long)l->cancelled, (long long)l->refused);
	show_metadata(b->metadata);
	show_errors(b->errors);
}

/* The lane as JSON (new). */
static json_t *
lane_doc(const struct aif_batch_lane *l)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "queued", (json_int_t)l->queued,
	    "running", (json_int_t)l->running, "succeeded", (json_int_t)l->succeeded,
	    "failed", (json_int_t)l->failed, "cancelled", (json_int_t)l->cancelled,
	    "refused", (json_int_t)l->refused);
}

/* ---- the commands ------------------------------------------------------------------ */

/* A batch by public id or number into b (b cleared first). */
static enum aif_err
find(struct aif_db *db, const char *ref, struct aif_batch_row *b)
{
	int64_t num;

	memset(b, 0, sizeof(*b));
	if (aif_parse_i64(ref, 1, INT64_MAX, &num) == 0)
		return aif_batches_get_id(db, (uint64_t)num, b);
	if (strlen(ref) > AIF_BATCH_ID_LEN)
		return AIF_NOTFOUND;
	return aif_batches_get(db, ref, 0, b);
}

static int
show(struct aif_db *db, const char *ref, int json)
{
	struct aif_batch_row b;
	struct counts c;
	struct aif_batch_lane l;
	json_t *doc;
	enum aif_err err = find(db, ref, &b);

	if (err == AIF_NOTFOUND) {
		fprintf(stderr, "aifctl: no batch %s\n", aifctl_esc(ref));
		return 1;
	}
	if (err == AIF_OK && (err = counts_of(db, &b, &c)) == AIF_OK)
		err = aif_batches_lane(db, b.id, &l);
	if (err != AIF_OK) {
		fprintf(stderr, "aifctl: cannot read the batch: %s\n", aif_strerror(err));
		aif_batch_row_clear(&b);
		return 1;
	}
	if (!json) {
		show_table(&b, &c, &l);
	} else if ((doc = batch_doc(&b, &c)) != NULL) {
		json_object_set_new(doc, "lane", lane_doc(&l));
		print_doc(doc);
		json_decref(doc);
	} else {
		fprintf(stderr, "aifctl: cannot print the batch as JSON\n");
		err = AIF_NOMEM;
	}
	aif_batch_row_clear(&b);
	return err == AIF_OK ? 0 : 1;
}

/* What `batches list` was asked. */
struct list_opts {
	uint64_t	 key;		/* an API key id (its lineage's batches), 0: all */
	const char	*status;	/* borrowed from argv; NULL: any */
	int64_t		 limit;
	int		 json;
};

/* The owner (key lineage) the batches of key id belong to; 0, or 1 after a message. */
static int
owner_of(struct aif_db *db, uint64_t id, uint64_t *owner)
{
	struct aif_key_row k;
	enum aif_err err = aif_keystore_get(db, id, &k);

	if (err == AIF_NOTFOUND)
		fprintf(stderr, "aifctl: no key %" PRIu64 "\n", id);
	else if (err != AIF_OK)
		fprintf(stderr, "aifctl: cannot read key %" PRIu64 ": %s\n", id,
		    aif_strerror(err));
	if (err != AIF_OK)
		return 1;
	*owner = k.lineage_id != 0 ? k.lineage_id : k.id;
	return 0;
}

/* Prints one listed batch (table), or appends it to docs (json). */
static enum aif_err
list_one(struct aif_db *db, const struct aif_batch_row *b, json_t *docs)
{
	struct counts c;
	enum aif_err err = counts_of(db, b, &c);
	json_t *doc;

	if (err != AIF_OK)
		return err;
	if (docs == NULL) {
		list_row(b, &c);
		return AIF_OK;
	}
	if ((doc = batch_doc(b, &c)) == NULL)
		return AIF_NOMEM;
	return json_array_append_new(docs, doc) == 0 ? AIF_OK : AIF_NOMEM;
}

/* aifctl batches list: newest first, a page of the store's list at a time; with a
 * status, through at most LIST_SCAN_MAX batches (the store filters by owner only). */
static int
list(struct aif_db *db, const struct list_opts *o)
{
	char after[AIF_BATCH_ID_LEN + 1] = "";
	json_t *docs = o->json ? json_array() : NULL;
	size_t shown = 0, scanned = 0, n = 0, want;
	enum aif_err err = AIF_OK;
	uint64_t owner = 0;

	if (o->key != 0 && owner_of(db, o->key, &owner) != 0) {
		json_decref(docs);
		return 1;
	}
	if (!o->json)
		printf(LIST_HEAD, "BATCH", "STATUS", "KEY", "ENDPOINT", "TOTAL", "DONE",
		    "FAILED", "OPEN", "PROG", "ETA", "CREATED (UTC)");
	do {
		struct aif_batch_row *rows = NULL;
		want = o->status != NULL ? LIST_PAGE : (size_t)o->limit - shown;
		err = aif_batches_list(db, owner, after[0] ? after : NULL, want, &rows, &n);
		for (size_t i = 0; err == AIF_OK && i < n && shown < (size_t)o->limit; i++) {
			scanned++;
			if (o->status != NULL && strcmp(rows[i].status, o->status) != 0)
				continue;
			if ((err = list_one(db, &rows[i], docs)) == AIF_OK)
				shown++;
		}
		if (n > 0)
			aif_strlcpy(after, rows[n - 1].public_id, sizeof(after));
		aif_batch_rows_free(rows, n);
	} while (err == AIF_OK && n == want && shown < (size_t)o->limit &&
	    scanned < LIST_SCAN_MAX);
	if (err != AIF_OK) {
		fprintf(stderr, "aifctl: cannot read the batches: %s\n", aif_strerror(err));
		json_decref(docs);
		return 1;
	}
	if (o->json) {
		json_t *doc = json_pack("{s:s,s:o}", "object", "list", "data", docs);
		print_doc(doc);
		json_decref(doc);
	} else if (shown == 0) {
		printf("(no batches)\n");
	}
	if (n == want && shown < (size_t)o->limit && scanned >= LIST_SCAN_MAX)
		fprintf(stderr, "aifctl: looked through the newest %d batches only\n",
		    LIST_SCAN_MAX);
	return 0;
}

/* --format's value: 0 table, 1 json, -1 neither. */
static int
format_of(const char *v)
{
	return strcmp(v, "json") == 0 ? 1 : strcmp(v, "table") == 0 ? 0 : -1;
}

static int
status_known(const char *s)
{
	static const char *const known[] = { "validating", "in_progress", "finalizing",
	    "completed", "failed", "expired", "cancelling", "cancelled" };

	for (size_t i = 0; i < AIF_NELEM(known); i++)
		if (strcmp(known[i], s) == 0)
			return 1;
	return 0;
}

/* The options of `batches list` (argv[2...]) into o; usage() when one is wrong. */
static void
list_options(int argc, char **argv, struct list_opts *o)
{
	int all = 0;
	int64_t v;

	for (int i = 2; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(opt, "--all-keys") == 0) {
			all = 1;
			continue;
		}
		if (val == NULL)
			usage();
		i++;
		if (strcmp(opt, "--key") == 0 && aif_parse_i64(val, 1, INT64_MAX, &v) == 0)
			o->key = (uint64_t)v;
		else if (strcmp(opt, "--status") == 0 && status_known(val))
			o->status = val;
		else if (strcmp(opt, "--limit") == 0 &&
		    aif_parse_i64(val, 1, LIST_MAX, &o->limit) == 0)
			;
		else if (strcmp(opt, "--format") == 0 && format_of(val) >= 0)
			o->json = format_of(val);
		else
			usage();
	}
	if (all && o->key != 0)
		usage();
}

int
aifctl_cmd_batches(const struct aif_config *cfg, int argc, char **argv)
{
	struct list_opts o = { .limit = LIST_DEFAULT };
	struct aif_db *db = NULL;
	int rc, json = 0;

	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		list_options(argc, argv, &o);
	else if (argc >= 3 && strcmp(argv[1], "show") == 0 && argv[2][0] != '-' &&
	    (argc == 3 || (argc == 5 && strcmp(argv[3], "--format") == 0 &&
	    (json = format_of(argv[4])) >= 0)))
		;
	else
		usage();
	if (aif_db_open(cfg, &db) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot connect to the database\n");
		aif_db_close(db);
		return 1;
	}
	rc = argv[1][0] == 'l' ? list(db, &o) : show(db, argv[2], json);
	aif_db_close(db);
	return rc;
}
