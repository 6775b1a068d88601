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
	static const char lock[] = "SELECT GET_LOCK(?, 60)";
	struct aif_dbp p[] = { AIF_P_STR("aif_migrate") };
	int64_t got = 0;
	enum aif_err err;

	if ((err = aif_db_exec_plain(db, create, NULL)) != AIF_OK)
		return err;
	/* 0 after the timeout, NULL on an error */
	if (((err = AIF_DB_QUERY_I64(db, lock, p, &got)) == AIF_OK && got != 1) ||
	    err == AIF_NOTFOUND)
		err = AIF_TIMEOUT;
	return err;
}

enum aif_err
aif_migrate_applied(struct aif_db *db, int version, int *applied)
{
	static const char sql[] = "SELECT version FROM schema_migrations WHERE version = ?";
	struct aif_dbp p[] = { AIF_P_I64(version) };
	int64_t v = 0;
	enum aif_err err = AIF_DB_QUERY_I64(db, sql, p, &v);

	*applied = err == AIF_OK;
	return err == AIF_NOTFOUND ? AIF_OK : err;
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
