/* db.c -- MariaDB connections and prepared statements; see db.h.
 * Each connection caches its prepared statements by SQL text, so a hot statement costs
 * one round trip. Server-gone errors drop the connection; the next call reconnects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "db.h"
#include "log.h"
#include "secret.h"
#include "util.h"

#define STMT_CACHE	96
#define MAX_PARAMS	AIF_DB_PARAMS_MAX
#define PASSWORD_MAX	512

struct stmt_slot {
	char		*sql;
	MYSQL_STMT	*st;
	uint32_t	 hash;	/* of sql: one string compare per lookup, not one per slot */
};

struct aif_db {
	const struct aif_config *cfg;
	MYSQL		*my;
	int		 up;
	int		 in_tx;		/* inside START TRANSACTION .. COMMIT/ROLLBACK */
	int		 tx_only;	/* autocommit off: transactions only */
	int		 tx_fresh;	/* in_tx, and no statement of it has run yet */
	int		 tx_lost;	/* the connection died inside a transaction: its
					   statements fail until COMMIT/ROLLBACK */
	int		 once;		/* the statement runs at most once (no retry) */
	int		 want_names;	/* results carry their column names */
	unsigned	 last_errno;
	size_t		 next_evict;
	struct stmt_slot cache[STMT_CACHE];
};

static void
cache_clear(struct aif_db *db)
{
	for (size_t i = 0; i < STMT_CACHE; i++) {
		if (db->cache[i].st != NULL)
			mysql_stmt_close(db->cache[i].st);
		free(db->cache[i].sql);
		db->cache[i].st = NULL;
		db->cache[i].sql = NULL;
	}
}

static void
drop_connection(struct aif_db *db)
{
	cache_clear(db);
	if (db->my != NULL)
		mysql_close(db->my);
	db->my = NULL;
	db->up = 0;
	if (db->in_tx)
		db->tx_lost = 1;	/* the server rolled it back */
	db->in_tx = 0;
}

/* database.password_file through the one loader of secrets (core/base/secret.h: no
 * access for group or others, bounded), its trailing newline dropped. Returns 0, or -1
 * after logging why (the path and the reason, never the content). */
static int
read_password(const char *path, char *buf, size_t cap)
{
	unsigned char *raw = NULL;
	size_t len = 0, n;
	char why[AIF_SECRET_WHY_MAX];
	enum aif_err err;

	if ((err = aif_secret_load(path, &raw, &len)) != AIF_OK) {
		aif_error("msg=\"cannot use the database password file\" path=%s why=\"%s\"",
		    path, aif_secret_why(path, err, why, sizeof(why)));
		return -1;
	}
	n = aif_secret_line_len(raw, len);
	if (n >= cap || memchr(raw, '\0', n) != NULL) {
		aif_error("msg=\"cannot use the database password file\" path=%s why=\"%s\"",
		    path, "holds a NUL byte or is too long");
		aif_secret_free(raw, len);
		return -1;
	}
	memcpy(buf, raw, n);
	buf[n] = '\0';
	aif_secret_free(raw, len);
	return 0;
}

static const unsigned long client_packet_max = 1024ul << 20;

static enum aif_err
connect_db(struct aif_db *db)
{
	const struct aif_config *cfg = db->cfg;
	unsigned int cto = (unsigned)(cfg->database.connect_timeout_ms + 999) / 1000;
	unsigned int rwto = (unsigned)(cfg->database.rw_timeout_ms + 999) / 1000;
	char password[PASSWORD_MAX] = "";
	const char *pw = NULL;
	MYSQL *my;

	if (cfg->database.password_file != NULL) {
		if (read_password(cfg->database.password_file, password,
		    sizeof(password)) != 0)
			return AIF_UNAVAILABLE;
		pw = password;
	}
	if ((my = mysql_init(NULL)) == NULL)
		return AIF_NOMEM;
	mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &cto);
	mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &rwto);
	mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &rwto);
	mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* answers up to server.max_answer_bytes travel in one row (the server's own
	   max_allowed_packet still bounds what it takes) */
	mysql_options(my, MYSQL_OPT_MAX_ALLOWED_PACKET, &client_packet_max);
	mysql_options(my, MYSQL_INIT_COMMAND,
	    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
	mysql_options(my, MYSQL_INIT_COMMAND,
	    "SET SESSION innodb_lock_wait_timeout=5, time_zone='+00:00'");
	if (db->tx_only)
		mysql_options(my, MYSQL_INIT_COMMAND, "SET SESSION autocommit=0");
	if (mysql_real_connect(my, cfg->database.host, cfg->database.user, pw,
	    cfg->database.name, (unsigned)cfg->database.port, cfg->database.socket,
	    CLIENT_FOUND_ROWS) == NULL) {
		db->last_errno = mysql_errno(my);
		aif_warn("msg=\"database connect failed\" errno=%u error=\"%s\"",
		    mysql_errno(my), mysql_error(my));
		mysql_close(my);
		memset(password, 0, sizeof(password));
		return AIF_UNAVAILABLE;
	}
	memset(password, 0, sizeof(password));
	db->my = my;
	db->up = 1;
	return AIF_OK;
}

enum aif_err
aif_db_open(const struct aif_config *cfg, struct aif_db **out)
{
	struct aif_db *db = calloc(1, sizeof(*db));

	*out = NULL;
	if (db == NULL)
		return AIF_NOMEM;
	db->cfg = cfg;
	*out = db;
	return connect_db(db);
}

void
aif_db_close(struct aif_db *db)
{
	if (db == NULL)
		return;
	drop_connection(db);
	free(db);
}

enum aif_err
aif_db_ensure(struct aif_db *db)
{
	if (db->up)
		return AIF_OK;
	drop_connection(db);
	return connect_db(db);
}

int
aif_db_last_was_duplicate(const struct aif_db *db)
{
	return db->last_errno == ER_DUP_ENTRY;
}

void
aif_db_want_names(struct aif_db *db, int on)
{
	db->want_names = on != 0;
}

/* Maps a server/client error number to our enum, dropping dead connections. */
static enum aif_err
classify(struct aif_db *db, unsigned no, const char *msg, const char *sql)
{
	db->last_errno = no;
	switch (no) {
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_COMMANDS_OUT_OF_SYNC:
	case ER_CONNECTION_KILLED:
	case ER_SERVER_SHUTDOWN:
	case 4031:	/* ER_CLIENT_INTERACTION_TIMEOUT */
	case 2026:	/* CR_SSL_CONNECTION_ERROR */
		aif_warn("msg=\"database connection lost\" errno=%u", no);
		drop_connection(db);
		return AIF_UNAVAILABLE;
	case ER_LOCK_DEADLOCK:
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_DUP_ENTRY:
		return AIF_CONFLICT;
	case ER_NET_PACKET_TOO_LARGE:	/* over max_allowed_packet: the server hangs up */
		aif_warn("msg=\"statement larger than the server's max_allowed_packet\"");
		drop_connection(db);
		return AIF_TOOBIG;
	default:
		aif_error("msg=\"database error\" errno=%u error=\"%s\" sql=\"%.80s\"",
		    no, msg, sql);
		return AIF_DB;
	}
}

static MYSQL_STMT *
prepare_cached(struct aif_db *db, const char *sql, enum aif_err *err)
{
	MYSQL_STMT *st;
	size_t i, slot;
	uint32_t h = aif_fnv1a(AIF_FNV1A_INIT, sql, strlen(sql));

	for (i = 0; i < STMT_CACHE; i++)
		if (db->cache[i].sql != NULL && db->cache[i].hash == h &&
		    strcmp(db->cache[i].sql, sql) == 0)
			return db->cache[i].st;
	if ((st = mysql_stmt_init(db->my)) == NULL) {
		*err = AIF_NOMEM;
		return NULL;
	}
	if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
		unsigned no = mysql_stmt_errno(st);
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", mysql_stmt_error(st));
		mysql_stmt_close(st);
		*err = classify(db, no, msg, sql);
		return NULL;
	}
	for (slot = 0; slot < STMT_CACHE; slot++)
		if (db->cache[slot].sql == NULL)
			break;
	if (slot == STMT_CACHE) {
		slot = db->next_evict;
		db->next_evict = (db->next_evict + 1) % STMT_CACHE;
		mysql_stmt_close(db->cache[slot].st);
		free(db->cache[slot].sql);
	}
	db->cache[slot].sql = strdup(sql);
	db->cache[slot].st = st;
	db->cache[slot].hash = h;
	if (db->cache[slot].sql == NULL) {
		mysql_stmt_close(st);
		db->cache[slot].st = NULL;
		*err = AIF_NOMEM;
		return NULL;
	}
	return st;
}

static enum aif_err	stmt_failed(struct aif_db *, MYSQL_STMT *, const char *);

/* Prepares (cached), binds and executes. Returns the statement or NULL with *err. */
static MYSQL_STMT *
run_once(struct aif_db *db, const char *sql, const struct aif_dbp *params, size_t n,
    enum aif_err *err)
{
	MYSQL_BIND bind[MAX_PARAMS];
	long long ivals[MAX_PARAMS];
	unsigned long lens[MAX_PARAMS];
	MYSQL_STMT *st;

	if (n > MAX_PARAMS) {
		*err = AIF_TOOBIG;
		return NULL;
	}
	if (db->tx_lost) {	/* the rest of a transaction the server rolled back */
		*err = AIF_UNAVAILABLE;
		return NULL;
	}
	if ((*err = aif_db_ensure(db)) != AIF_OK)
		return NULL;
	if (db->tx_only && !db->in_tx) {
		aif_error("msg=\"a statement outside a transaction on a transactions-only"
		    " connection\" sql=\"%.80s\"", sql);
		*err = AIF_INVALID;
		return NULL;
	}
	if ((st = prepare_cached(db, sql, err)) == NULL)
		return NULL;
	if (mysql_stmt_param_count(st) != n) {
		aif_error("msg=\"parameter count mismatch\" sql=\"%.80s\"", sql);
		*err = AIF_DB;
		return NULL;
	}
	memset(bind, 0, sizeof(MYSQL_BIND) * (n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		switch (params[i].t) {
		case AIF_DBT_NULL:
			bind[i].buffer_type = MYSQL_TYPE_NULL;
			break;
		case AIF_DBT_I64:
			ivals[i] = params[i].i;
			bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
			bind[i].buffer = &ivals[i];
			break;
		case AIF_DBT_STR:
			lens[i] = (unsigned long)params[i].len;
			bind[i].buffer_type = MYSQL_TYPE_STRING;
			bind[i].buffer = (void *)(uintptr_t)params[i].s;
			bind[i].buffer_length = lens[i];
			bind[i].length = &lens[i];
			break;
		}
	}
	if ((n > 0 && mysql_stmt_bind_param(st, bind) != 0) ||
	    mysql_stmt_execute(st) != 0) {
		*err = stmt_failed(db, st, sql);
		return NULL;
	}
	*err = AIF_OK;
	return st;
}

/* run_once, retried once on a fresh connection when the server went away outside a
 * transaction (a restarted MariaDB costs no request). */
static MYSQL_STMT *
run(struct aif_db *db, const char *sql, const struct aif_dbp *params, size_t n,
    enum aif_err *err)
{
	/* the first statement of a transaction may go again too: nothing of it ran */
	int was_up = db->up, fresh = db->in_tx && db->tx_fresh;
	int again = !db->in_tx || fresh;
	MYSQL_STMT *st = run_once(db, sql, params, n, err);

	if (st == NULL && *err == AIF_UNAVAILABLE && was_up && again && !db->once &&
	    (*err = aif_db_ensure(db)) == AIF_OK) {
		db->in_tx = fresh;	/* dropped with the connection; reopened */
		db->tx_lost = 0;
		st = run_once(db, sql, params, n, err);
	}
	db->tx_fresh = 0;
	return st;
}

enum aif_err
aif_db_exec(struct aif_db *db, const char *sql, const struct aif_dbp *params,
    size_t n, uint64_t *affected, uint64_t *insert_id)
{
	enum aif_err err;
	MYSQL_STMT *st = run(db, sql, params, n, &err);

	if (st == NULL)
		return err;
	if (affected != NULL)
		*affected = (uint64_t)mysql_stmt_affected_rows(st);
	if (insert_id != NULL)
		*insert_id = (uint64_t)mysql_stmt_insert_id(st);
	if (mysql_stmt_field_count(st) > 0)
		mysql_stmt_free_result(st);
	return AIF_OK;
}

void
aif_dbrows_free(struct aif_dbrows *rows)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; rows->cells != NULL && i < rows->nrows * rows->ncols; i++)
		free(rows->cells[i]);
	for (size_t c = 0; rows->names != NULL && c < rows->ncols; c++)
		free(rows->names[c]);
	free(rows->names);
	free(rows->cells);
	free(rows->lens);
	free(rows);
}

int64_t
aif_dbrows_i64(const struct aif_dbrows *r, size_t row, size_t col)
{
	const char *s = aif_dbrows_get(r, row, col);
	int64_t v = 0;

	if (s != NULL && aif_parse_i64(s, INT64_MIN, INT64_MAX, &v) != 0)
		v = strtoll(s, NULL, 10);	/* "1712.345678": the integer part */
	return v;
}

void
aif_dbrows_copy(const struct aif_dbrows *r, size_t row, size_t col, char *dst, size_t cap)
{
	const char *s = aif_dbrows_get(r, row, col);

	aif_strlcpy(dst, s != NULL ? s : "", cap);
}

enum aif_err
aif_db_exec_plain(struct aif_db *db, const char *sql, uint64_t *affected)
{
	return aif_db_exec(db, sql, NULL, 0, affected, NULL);
}

enum aif_err
aif_db_query_plain(struct aif_db *db, const char *sql, struct aif_dbrows **out)
{
	return aif_db_query(db, sql, NULL, 0, out);
}

/* The result buffers of one statement: a bound buffer per column, sized by the
 * column's longest value when the statement stored its result. */
struct fetch {
	MYSQL_BIND	*rb;
	unsigned long	*lens;
	my_bool		*nulls;
	char		**bufs;
	size_t		 ncols;
};

static void
fetch_free(struct fetch *f)
{
	for (size_t c = 0; f->bufs != NULL && c < f->ncols; c++)
		free(f->bufs[c]);
	free(f->bufs);
	free(f->rb);
	free(f->lens);
	free(f->nulls);
}

static enum aif_err
fetch_bind(struct fetch *f, MYSQL_STMT *st, MYSQL_RES *meta, size_t ncols)
{
	f->ncols = ncols;
	f->rb = calloc(ncols, sizeof(*f->rb));
	f->lens = calloc(ncols, sizeof(*f->lens));
	f->nulls = calloc(ncols, sizeof(*f->nulls));
	f->bufs = calloc(ncols, sizeof(*f->bufs));
	if (f->rb == NULL || f->lens == NULL || f->nulls == NULL || f->bufs == NULL)
		return AIF_NOMEM;
	for (size_t c = 0; c < ncols; c++) {
		MYSQL_FIELD *fd = mysql_fetch_field_direct(meta, (unsigned)c);
		size_t sz = fd->max_length > 64 ? fd->max_length : 64;
		if ((f->bufs[c] = malloc(sz + 1)) == NULL)
			return AIF_NOMEM;
		f->rb[c].buffer_type = MYSQL_TYPE_STRING;
		f->rb[c].buffer = f->bufs[c];
		f->rb[c].buffer_length = sz + 1;
		f->rb[c].length = &f->lens[c];
		f->rb[c].is_null = &f->nulls[c];
	}
	return mysql_stmt_bind_result(st, f->rb) == 0 ? AIF_OK : AIF_DB;
}

/* Copies the fetched row into row r of rows (every non-NULL cell a new string). */
static enum aif_err
fetch_row(MYSQL_STMT *st, const struct fetch *f, struct aif_dbrows *rows, size_t r)
{
	for (size_t c = 0; c < f->ncols; c++) {
		size_t idx = r * f->ncols + c, len = f->lens[c];
		char *cell;
		if (f->nulls[c])
			continue;
		if ((cell = malloc(len + 1)) == NULL)
			return AIF_NOMEM;
		if (len < f->rb[c].buffer_length) {
			memcpy(cell, f->bufs[c], len);
		} else {	/* truncated: fetch the whole column */
			MYSQL_BIND b1;
			memset(&b1, 0, sizeof(b1));
			b1.buffer_type = MYSQL_TYPE_STRING;
			b1.buffer = cell;
			b1.buffer_length = len + 1;
			if (mysql_stmt_fetch_column(st, &b1, (unsigned)c, 0) != 0) {
				free(cell);
				return AIF_DB;
			}
		}
		cell[len] = '\0';
		rows->cells[idx] = cell;
		rows->lens[idx] = len;
	}
	return AIF_OK;
}

/* The column names of a result (its aliases). */
static enum aif_err
names_of(struct aif_dbrows *rows, MYSQL_RES *meta)
{
	if (rows->ncols == 0 || meta == NULL)
		return AIF_OK;
	if ((rows->names = calloc(rows->ncols, sizeof(char *))) == NULL)
		return AIF_NOMEM;
	for (size_t c = 0; c < rows->ncols; c++) {
		MYSQL_FIELD *f = mysql_fetch_field_direct(meta, (unsigned)c);
		if ((rows->names[c] = strdup(f->name != NULL ? f->name : "")) == NULL)
			return AIF_NOMEM;
	}
	return AIF_OK;
}

/* The error of a statement, classified (and logged) as aif_db_exec's. */
static enum aif_err
stmt_failed(struct aif_db *db, MYSQL_STMT *st, const char *sql)
{
	char msg[256];
	unsigned no = mysql_stmt_errno(st);

	snprintf(msg, sizeof(msg), "%s", mysql_stmt_error(st));
	return classify(db, no, msg, sql);
}

/* Fetches every row of a stored result into rows (cells and lens allocated). */
static enum aif_err
fetch_all(struct aif_db *db, MYSQL_STMT *st, MYSQL_RES *meta, struct aif_dbrows *rows,
    size_t nrows, const char *sql)
{
	struct fetch f = { 0 };
	enum aif_err err;
	size_t r = 0;

	rows->cells = calloc(nrows * rows->ncols, sizeof(char *));
	rows->lens = calloc(nrows * rows->ncols, sizeof(size_t));
	rows->nrows = nrows;	/* until the end: aif_dbrows_free frees every cell */
	if (rows->cells == NULL || rows->lens == NULL || meta == NULL) {
		err = AIF_NOMEM;
		goto out;
	}
	if ((err = fetch_bind(&f, st, meta, rows->ncols)) != AIF_OK)
		goto out;
	for (;;) {
		int rc = mysql_stmt_fetch(st);
		if (rc == MYSQL_NO_DATA || r >= nrows)
			break;
		if (rc == 1) {
			err = stmt_failed(db, st, sql);
			goto out;
		}
		if ((err = fetch_row(st, &f, rows, r)) != AIF_OK)
			goto out;
		r++;
	}
	rows->nrows = r;
out:
	fetch_free(&f);
	return err;
}

enum aif_err
aif_db_query_once(struct aif_db *db, const char *sql, const struct aif_dbp *params,
    size_t n, struct aif_dbrows **out)
{
	enum aif_err err;

	db->once = 1;
	err = aif_db_query(db, sql, params, n, out);
	db->once = 0;
	return err;
}

enum aif_err
aif_db_query(struct aif_db *db, const char *sql, const struct aif_dbp *params,
    size_t n, struct aif_dbrows **out)
{
	struct aif_dbrows *rows = NULL;
	MYSQL_RES *meta = NULL;
	MYSQL_STMT *st;
	enum aif_err err;
	size_t nrows;
	my_bool one = 1;

	*out = NULL;
	if ((st = run(db, sql, params, n, &err)) == NULL)
		return err;
	mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &one);
	if (mysql_stmt_store_result(st) != 0)
		return stmt_failed(db, st, sql);
	nrows = (size_t)mysql_stmt_num_rows(st);
	meta = mysql_stmt_result_metadata(st);
	if ((rows = calloc(1, sizeof(*rows))) == NULL) {
		err = AIF_NOMEM;
		goto out;
	}
	rows->ncols = mysql_stmt_field_count(st);
	err = db->want_names ? names_of(rows, meta) : AIF_OK;
	if (err == AIF_OK && rows->ncols > 0 && nrows > 0)
		err = fetch_all(db, st, meta, rows, nrows, sql);
out:
	if (db->up)
		mysql_stmt_free_result(st);
	if (meta != NULL)
		mysql_free_result(meta);
	if (err != AIF_OK) {
		aif_dbrows_free(rows);
		return err;
	}
	*out = rows;
	return AIF_OK;
}

enum aif_err
aif_db_query_i64(struct aif_db *db, const char *sql, const struct aif_dbp *params,
    size_t n, int64_t *out)
{
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*out = 0;
	if ((err = aif_db_query(db, sql, params, n, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 0 || rows->ncols == 0 || aif_dbrows_get(rows, 0, 0) == NULL)
		err = AIF_NOTFOUND;
	else
		*out = aif_dbrows_i64(rows, 0, 0);
	aif_dbrows_free(rows);
	return err;
}

static enum aif_err
simple(struct aif_db *db, const char *sql)
{
	enum aif_err err;

	if ((err = aif_db_ensure(db)) != AIF_OK)
		return err;
	if (mysql_real_query(db->my, sql, strlen(sql)) != 0)
		return classify(db, mysql_errno(db->my), mysql_error(db->my), sql);
	return AIF_OK;
}

void
aif_db_tx_only(struct aif_db *db)
{
	if (db->tx_only)
		return;
	db->tx_only = 1;
	drop_connection(db);	/* the next statement connects with autocommit off */
}

enum aif_err
aif_db_begin(struct aif_db *db)
{
	int was_up = db->up;
	enum aif_err err;

	db->tx_lost = 0;
	if (db->tx_only) {	/* the server starts one at the first statement */
		if ((err = aif_db_ensure(db)) != AIF_OK)
			return err;
		db->in_tx = db->tx_fresh = 1;
		return AIF_OK;
	}
	err = simple(db, "START TRANSACTION");

	if (err == AIF_UNAVAILABLE && was_up)
		err = simple(db, "START TRANSACTION");	/* server restarted: once more */
	db->in_tx = err == AIF_OK;
	return err;
}

enum aif_err
aif_db_commit(struct aif_db *db)
{
	if (!db->up || db->tx_lost) {
		db->tx_lost = 0;
		return AIF_UNAVAILABLE;
	}
	db->in_tx = db->tx_fresh = 0;
	if (mysql_commit(db->my) != 0)
		return classify(db, mysql_errno(db->my), mysql_error(db->my), "COMMIT");
	return AIF_OK;
}

void
aif_db_rollback(struct aif_db *db)
{
	db->in_tx = db->tx_fresh = db->tx_lost = 0;
	if (db->up && mysql_rollback(db->my) != 0)
		(void)classify(db, mysql_errno(db->my), mysql_error(db->my), "ROLLBACK");
}

enum aif_err
aif_db_finish(struct aif_db *db, enum aif_err err)
{
	if (err == AIF_OK && (err = aif_db_commit(db)) == AIF_OK)
		return AIF_OK;
	aif_db_rollback(db);
	return err;
}

enum aif_err
aif_db_exec_script(struct aif_db *db, const char *script, size_t len)
{
	enum aif_err err = AIF_OK;
	int status;

	if ((err = aif_db_ensure(db)) != AIF_OK)
		return err;
	if (mysql_set_server_option(db->my, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0)
		return classify(db, mysql_errno(db->my), mysql_error(db->my), "multi on");
	if (mysql_real_query(db->my, script, (unsigned long)len) != 0) {
		err = classify(db, mysql_errno(db->my), mysql_error(db->my), script);
		goto out;
	}
	do {
		MYSQL_RES *res = mysql_store_result(db->my);
		if (res != NULL)
			mysql_free_result(res);
		status = mysql_next_result(db->my);
		if (status > 0) {
			err = classify(db, mysql_errno(db->my), mysql_error(db->my), script);
			goto out;
		}
	} while (status == 0);
out:
	if (db->up)
		(void)mysql_set_server_option(db->my, MYSQL_OPTION_MULTI_STATEMENTS_OFF);
	return err == AIF_CONFLICT ? AIF_DB : err;
}
