/* migrate.h -- the schema_migrations table: which numbered sql/NNN_name.sql files have
 * been applied, and applying one (run by `aifctl migrate`, serialised by a named
 * lock so that two runs never apply the same file). */
#ifndef AIF_MIGRATE_H
#define AIF_MIGRATE_H

#include <stddef.h>

#include "db.h"
#include "err.h"

/* Creates schema_migrations when missing and takes the migration lock (waits up to
 * 60 s; held until the connection closes). */
enum aif_err	aif_migrate_begin(struct aif_db *db);

/* *applied = 1 when migration `version` is recorded. */
enum aif_err	aif_migrate_applied(struct aif_db *db, int version, int *applied);

/* Runs the migration's script (trusted text from the repository, borrowed) and records
 * it under version and name. */
enum aif_err	aif_migrate_apply(struct aif_db *db, int version, const char *name,
		    const char *script, size_t len);

#endif
