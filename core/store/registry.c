/* registry.c -- the workers table; see registry.h. */
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "util.h"

enum aif_err
aif_registry_register(struct aif_db *db, const char *instance, const char *host,
    long pid, const char *doorbell, int slots, uint64_t *id)
{
	static const char sql[] =
	    "INSERT INTO workers (instance, host, pid, state, doorbell, slots)"
	    " VALUES (?, ?, ?, 'running', ?, ?)";
	struct aif_dbp p[] = {
		AIF_P_STR(instance), AIF_P_STR(host), AIF_P_I64(pid),
		AIF_P_STR(doorbell), AIF_P_I64(slots),
	};

	*id = 0;
	return aif_db_exec(db, sql, p, 5, NULL, id);
}

enum aif_err
aif_registry_heartbeat(struct aif_db *db, uint64_t id, const char *state, int in_flight)
{
	static const char sql[] =
	    "UPDATE workers SET heartbeat_at = NOW(6), state = ?, in_flight = ?"
	    " WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_STR(state), AIF_P_I64(in_flight), AIF_P_I64(id) };

	return aif_db_exec(db, sql, p, 3, NULL, NULL);
}

enum aif_err
aif_registry_stop(struct aif_db *db, uint64_t id)
{
	static const char sql[] =
	    "UPDATE workers SET state = 'stopped', stopped_at = NOW(6), in_flight = 0"
	    " WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };

	return aif_db_exec(db, sql, p, 1, NULL, NULL);
}

void
aif_registry_doorbells_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

enum aif_err
aif_registry_doorbells(struct aif_db *db, int stale_s, char ***out, size_t *n)
{
	static const char sql[] =
	    "SELECT doorbell FROM workers WHERE state = 'running'"
	    " AND heartbeat_at > NOW(6) - INTERVAL ? SECOND AND doorbell IS NOT NULL"
	    " ORDER BY id LIMIT 256";
	struct aif_dbp p[] = { AIF_P_I64(stale_s) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;
	char **v;

	*out = NULL;
	*n = 0;
	if ((err = aif_db_query(db, sql, p, 1, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 0) {
		aif_dbrows_free(rows);
		return AIF_OK;
	}
	if ((v = calloc(rows->nrows, sizeof(*v))) == NULL) {
		aif_dbrows_free(rows);
		return AIF_NOMEM;
	}
	for (size_t r = 0; r < rows->nrows; r++) {
		v[r] = rows->cells[r];	/* steal */
		rows->cells[r] = NULL;
	}
	*n = rows->nrows;
	*out = v;
	aif_dbrows_free(rows);
	return AIF_OK;
}

enum aif_err
aif_registry_rank(struct aif_db *db, uint64_t id, int stale_s, int *rank, int *n)
{
	static const char sql[] =
	    "SELECT COUNT(*), COALESCE(SUM(id < ?), 0), COALESCE(SUM(id = ?), 0)"
	    " FROM workers WHERE state = 'running'"
	    " AND heartbeat_at > NOW(6) - INTERVAL ? SECOND";
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_I64(id), AIF_P_I64(stale_s) };
	struct aif_dbrows *rows = NULL;
	int64_t total = 0, below = 0, self = 0;
	enum aif_err err;

	if ((err = aif_db_query(db, sql, p, 3, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 1) {
		(void)aif_parse_i64(aif_dbrows_get(rows, 0, 0), 0, INT32_MAX, &total);
		(void)aif_parse_i64(aif_dbrows_get(rows, 0, 1), 0, INT32_MAX, &below);
		(void)aif_parse_i64(aif_dbrows_get(rows, 0, 2), 0, 1, &self);
	}
	aif_dbrows_free(rows);
	if (!self)
		total++;	/* not registered as running (draining): count it last */
	*n = (int)total;
	*rank = self ? (int)below : (int)total - 1;
	return AIF_OK;
}
