/* migrate.c -- the schema_migrations table; see migrate.h. */
#include "migrate.h"
#include "util.h"

enum aif_err
aif_migrate_begin(struct aif_db *db)
{
	static const char create[] =
	    "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version INT UNSIGNED NOT NULL PRIMARY KEY,"
	    " name VARCHAR(255) NOT NULL,"
	    " applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
	    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
	enum { LK_GOT };
	static const char lock[] = "SELECT GET_LOCK(?, 60)";
	struct aif_dbp p[] = { AIF_P_STR("aif_migrate") };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	if ((err = aif_db_exec_plain(db, create, NULL)) != AIF_OK)
		return err;
	if ((err = AIF_DB_QUERY(db, lock, p, &rows)) == AIF_OK &&
	    (rows->nrows != 1 || aif_dbrows_i64(rows, 0, LK_GOT) != 1))
		err = AIF_TIMEOUT;
	aif_dbrows_free(rows);
	return err;
}

enum aif_err
aif_migrate_applied(struct aif_db *db, int version, int *applied)
{
	static const char sql[] = "SELECT version FROM schema_migrations WHERE version = ?";
	struct aif_dbp p[] = { AIF_P_I64(version) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;

	*applied = 0;
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) == AIF_OK)
		*applied = rows->nrows > 0;
	aif_dbrows_free(rows);
	return err;
}

enum aif_err
aif_migrate_apply(struct aif_db *db, int version, const char *name, const char *script,
    size_t len)
{
	static const char sql[] = "INSERT INTO schema_migrations (version, name) VALUES (?, ?)";
	struct aif_dbp p[] = { AIF_P_I64(version), AIF_P_STR(name) };
	enum aif_err err;

	if ((err = aif_db_exec_script(db, script, len)) != AIF_OK)
		return err;
	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}
