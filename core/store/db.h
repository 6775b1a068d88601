/* db.h -- MariaDB access for every binary: one connection per thread, prepared
 * statements only (cached per connection), READ COMMITTED, bounded timeouts, and lazy
 * reconnect after the server went away. Results are fetched as text cells.
 * A struct aif_db is used by one thread at a time. */
#ifndef AIF_DB_H
#define AIF_DB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "util.h"

struct aif_db;

enum aif_dbt { AIF_DBT_NULL, AIF_DBT_I64, AIF_DBT_STR };

/* One statement parameter; strings are borrowed for the duration of the call. */
struct aif_dbp {
	enum aif_dbt	 t;
	int64_t		 i;
	const char	*s;
	size_t		 len;
};

/* Parameters one statement may bind at most. */
#define AIF_DB_PARAMS_MAX	768

#define AIF_P_NULL()	((struct aif_dbp){ .t = AIF_DBT_NULL })
#define AIF_P_I64(v)	((struct aif_dbp){ .t = AIF_DBT_I64, .i = (int64_t)(v) })
#define AIF_P_STR(v)	aif_dbp_str(v)
#define AIF_P_STRN(v, n) ((struct aif_dbp){ .t = AIF_DBT_STR, .s = (v), .len = (n) })

/* A string parameter, or NULL for SQL NULL. */
static inline struct aif_dbp
aif_dbp_str(const char *s)
{
	struct aif_dbp p = { .t = s != NULL ? AIF_DBT_STR : AIF_DBT_NULL, .s = s,
	    .len = s != NULL ? strlen(s) : 0 };
	return p;
}

/* Rows of a result, every cell as a NUL-terminated string (NULL for SQL NULL).
 * Columns are read by named constants (an enum next to each statement), never by
 * literal positions; names[c] is the column's name (its alias in the statement), kept
 * only on a connection that asked for them (aif_db_want_names), else names is NULL. */
struct aif_dbrows {
	size_t	  nrows;
	size_t	  ncols;
	char	**cells;	/* nrows * ncols */
	size_t	 *lens;
	char	**names;	/* ncols, or NULL */
};

static inline const char *
aif_dbrows_get(const struct aif_dbrows *r, size_t row, size_t col)
{
	return r->cells[row * r->ncols + col];
}

/* Takes cell (row, col) out of r: the caller owns it (free(3)); NULL for SQL NULL. */
static inline char *
aif_dbrows_steal(struct aif_dbrows *r, size_t row, size_t col)
{
	char *s = r->cells[row * r->ncols + col];

	r->cells[row * r->ncols + col] = NULL;
	return s;
}

/* Integer value of a cell (0 for NULL or non-numbers; decimals keep their integer
 * part, as UNIX_TIMESTAMP(DATETIME(6)) has them). */
int64_t		aif_dbrows_i64(const struct aif_dbrows *r, size_t row, size_t col);

/* Copies a cell into dst (cap bytes, truncated, "" for NULL). */
void		aif_dbrows_copy(const struct aif_dbrows *r, size_t row, size_t col,
		    char *dst, size_t cap);

/* Opens a connection with the settings of cfg->database (borrowed; must outlive db).
 * On AIF_OK *out is new (aif_db_close). On failure *out is still new but not connected:
 * every call retries the connection first and returns AIF_UNAVAILABLE while the server
 * is unreachable. Returns AIF_NOMEM only when nothing could be allocated. */
enum aif_err	aif_db_open(const struct aif_config *cfg, struct aif_db **out);

/* Closes the connection and frees everything; accepts NULL. */
void		aif_db_close(struct aif_db *db);

/* Makes sure the connection is up (reconnecting if needed). AIF_OK or AIF_UNAVAILABLE. */
enum aif_err	aif_db_ensure(struct aif_db *db);

/* The statement helpers take the parameter count from the array itself:
 *   struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_STR(s) };
 *   err = AIF_DB_EXEC(db, sql, p, &affected, NULL);
 * Only statements built at run time (IN lists, multi-row inserts) pass a computed
 * count to aif_db_exec / aif_db_query themselves; none passes a literal. */
#define AIF_DB_EXEC(db, sql, p, affected, insert_id) \
	aif_db_exec((db), (sql), (p), AIF_NELEM(p), (affected), (insert_id))
#define AIF_DB_QUERY(db, sql, p, out) \
	aif_db_query((db), (sql), (p), AIF_NELEM(p), (out))
#define AIF_DB_QUERY_I64(db, sql, p, out) \
	aif_db_query_i64((db), (sql), (p), AIF_NELEM(p), (out))

/* Executes a statement with n parameters. *affected (may be NULL) gets the affected row
 * count, *insert_id (may be NULL) the AUTO_INCREMENT id.
 * Returns AIF_OK, AIF_UNAVAILABLE (server unreachable; connection dropped),
 * AIF_CONFLICT (deadlock / lock wait timeout / duplicate key: retry or report),
 * or AIF_DB (anything else; logged once here). */
enum aif_err	aif_db_exec(struct aif_db *db, const char *sql,
		    const struct aif_dbp *params, size_t n, uint64_t *affected,
		    uint64_t *insert_id);

/* Runs a query; on AIF_OK *out is new (aif_dbrows_free), possibly with nrows 0.
 * Errors as aif_db_exec; *out is NULL then. */
enum aif_err	aif_db_query(struct aif_db *db, const char *sql,
		    const struct aif_dbp *params, size_t n, struct aif_dbrows **out);

/* As aif_db_query, but never run a second time on a new connection when the server
 * went away outside a transaction (aif_db_exec and aif_db_query do that once): for a
 * statement that changes rows and commits by itself, whose first run may have
 * committed though its answer was lost (an INSERT ... RETURNING). */
enum aif_err	aif_db_query_once(struct aif_db *db, const char *sql,
		    const struct aif_dbp *params, size_t n, struct aif_dbrows **out);

void		aif_dbrows_free(struct aif_dbrows *rows);

/* Runs a query whose answer is one integer: *out gets the first cell of its first row
 * (as aif_dbrows_i64). AIF_NOTFOUND when there is no row or that cell is NULL (*out is
 * 0 then); other errors as aif_db_query. */
enum aif_err	aif_db_query_i64(struct aif_db *db, const char *sql,
		    const struct aif_dbp *params, size_t n, int64_t *out);

/* Whether the results of later queries on db carry their column names (aif_dbrows
 * names): off by default, since only reports that print rows by name need them. */
void		aif_db_want_names(struct aif_db *db, int on);

/* A statement without parameters (DDL, reports): as aif_db_exec / aif_db_query. */
enum aif_err	aif_db_exec_plain(struct aif_db *db, const char *sql, uint64_t *affected);
enum aif_err	aif_db_query_plain(struct aif_db *db, const char *sql,
		    struct aif_dbrows **out);

/* Transactions (the connection runs with autocommit on between them, except a
 * transactions-only one). When the connection dies inside a transaction, its further
 * statements and its commit fail with AIF_UNAVAILABLE until aif_db_rollback (or
 * aif_db_finish): none runs on a new connection outside the transaction. */
enum aif_err	aif_db_begin(struct aif_db *db);
/* Makes db a connection for transactions only: it runs with autocommit off, so that
 * aif_db_begin sends nothing (the server opens the transaction at its first
 * statement): one round trip less a transaction. A statement outside aif_db_begin ..
 * aif_db_finish is then refused (AIF_INVALID). Drops the connection: the next
 * aif_db_begin opens it with autocommit off. */
void		aif_db_tx_only(struct aif_db *db);
enum aif_err	aif_db_commit(struct aif_db *db);
void		aif_db_rollback(struct aif_db *db);

/* Ends the transaction by the outcome of its work: commits when err is AIF_OK, else
 * rolls back. Returns err, or the commit's error (rolled back then). */
enum aif_err	aif_db_finish(struct aif_db *db, enum aif_err err);

/* Runs a trusted multi-statement script (a migration file: DDL, no user data) as one
 * batch. Never pass anything built from input here. AIF_OK or AIF_DB (logged). */
enum aif_err	aif_db_exec_script(struct aif_db *db, const char *script, size_t len);

/* 1 when the last failed statement on db (an AIF_CONFLICT) hit a duplicate key, 0 when
 * it was a deadlock or a lock wait timeout. */
int		aif_db_last_was_duplicate(const struct aif_db *db);


#endif
