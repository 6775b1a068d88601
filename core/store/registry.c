/* registry.c -- the workers and replica_state tables; see registry.h. */
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "sqlbuf.h"
#include "util.h"

#define PUBLISH_ROWS	64	/* replicas per upsert */

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
	return AIF_DB_EXEC(db, sql, p, NULL, id);
}

enum aif_err
aif_registry_heartbeat(struct aif_db *db, uint64_t id, const char *state, int in_flight)
{
	static const char sql[] =
	    "UPDATE workers SET heartbeat_at = NOW(6), state = ?, in_flight = ?"
	    " WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_STR(state), AIF_P_I64(in_flight), AIF_P_I64(id) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_registry_stop(struct aif_db *db, uint64_t id)
{
	static const char sql[] =
	    "UPDATE workers SET state = 'stopped', stopped_at = NOW(6), in_flight = 0"
	    " WHERE id = ?";
	struct aif_dbp p[] = { AIF_P_I64(id) };

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
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
aif_registry_doorbells(struct aif_db *db, int stale_s, char ***out, uint64_t **ids,
    size_t *n)
{
	enum { DB_ID, DB_DOORBELL };
	static const char sql[] =
	    "SELECT id, doorbell FROM workers WHERE state = 'running'"
	    " AND heartbeat_at > NOW(6) - INTERVAL ? SECOND AND doorbell IS NOT NULL"
	    " ORDER BY id LIMIT 256";
	struct aif_dbp p[] = { AIF_P_I64(stale_s) };
	struct aif_dbrows *rows = NULL;
	enum aif_err err;
	uint64_t *iv = NULL;
	char **v;

	*out = NULL;
	*n = 0;
	if (ids != NULL)
		*ids = NULL;
	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 0) {
		aif_dbrows_free(rows);
		return AIF_OK;
	}
	if ((v = calloc(rows->nrows, sizeof(*v))) == NULL ||
	    (ids != NULL && (iv = calloc(rows->nrows, sizeof(*iv))) == NULL)) {
		free(v);
		aif_dbrows_free(rows);
		return AIF_NOMEM;
	}
	for (size_t r = 0; r < rows->nrows; r++) {
		v[r] = aif_dbrows_steal(rows, r, DB_DOORBELL);
		if (iv != NULL)
			iv[r] = (uint64_t)aif_dbrows_i64(rows, r, DB_ID);
	}
	*n = rows->nrows;
	*out = v;
	if (ids != NULL)
		*ids = iv;
	aif_dbrows_free(rows);
	return AIF_OK;
}

enum aif_err
aif_registry_rank(struct aif_db *db, uint64_t id, int stale_s, int *rank, int *n)
{
	enum { RK_TOTAL, RK_BELOW, RK_SELF };
	static const char sql[] =
	    "SELECT COUNT(*), COALESCE(SUM(id < ?), 0), COALESCE(SUM(id = ?), 0)"
	    " FROM workers WHERE state = 'running'"
	    " AND heartbeat_at > NOW(6) - INTERVAL ? SECOND";
	struct aif_dbp p[] = { AIF_P_I64(id), AIF_P_I64(id), AIF_P_I64(stale_s) };
	struct aif_dbrows *rows = NULL;
	int64_t total = 0, below = 0, self = 0;
	enum aif_err err;

	if ((err = AIF_DB_QUERY(db, sql, p, &rows)) != AIF_OK)
		return err;
	if (rows->nrows == 1) {
		total = aif_dbrows_i64(rows, 0, RK_TOTAL);
		below = aif_dbrows_i64(rows, 0, RK_BELOW);
		self = aif_dbrows_i64(rows, 0, RK_SELF) > 0;
	}
	aif_dbrows_free(rows);
	if (total < 0 || total > INT32_MAX)
		total = 0;
	if (!self)
		total++;	/* not registered as running (draining): count it last */
	*n = (int)total;
	*rank = self ? (int)below : (int)total - 1;
	return AIF_OK;
}

enum aif_err
aif_registry_publish(struct aif_db *db, uint64_t worker_id,
    const struct aif_replica_report *r, size_t n)
{
	enum { RCOLS = 6 };
	struct aif_dbp p[RCOLS * PUBLISH_ROWS];
	struct aif_sqlbuf sql = { 0 };
	enum aif_err err = AIF_OK;

	for (size_t base = 0; base < n && err == AIF_OK; base += PUBLISH_ROWS) {
		size_t k = n - base < PUBLISH_ROWS ? n - base : PUBLISH_ROWS;
		aif_sqlbuf_reset(&sql);
		aif_sqlbuf_add(&sql, "INSERT INTO replica_state (worker_id, model, replica,"
		    " in_flight, circuit_open, healthy) VALUES ");
		aif_sqlbuf_rows(&sql, k, RCOLS);
		aif_sqlbuf_add(&sql, " ON DUPLICATE KEY UPDATE in_flight = VALUES(in_flight),"
		    " circuit_open = VALUES(circuit_open), healthy = VALUES(healthy),"
		    " updated_at = NOW(6)");
		for (size_t i = 0; i < k; i++) {
			const struct aif_replica_report *x = &r[base + i];
			struct aif_dbp row[] = { AIF_P_I64(worker_id), AIF_P_STR(x->model),
			    AIF_P_STR(x->replica), AIF_P_I64(x->in_flight),
			    AIF_P_I64(x->circuit_open != 0), AIF_P_I64(x->healthy != 0) };
			_Static_assert(sizeof(row) / sizeof(row[0]) == RCOLS, "columns");
			memcpy(&p[i * RCOLS], row, sizeof(row));
		}
		if ((err = aif_sqlbuf_status(&sql)) == AIF_OK)
			err = aif_db_exec(db, aif_sqlbuf_get(&sql), p, k * RCOLS, NULL, NULL);
	}
	aif_sqlbuf_free(&sql);
	return err;
}

enum aif_err
aif_registry_replicas(struct aif_db *db, int stale_s, struct aif_dbrows **out)
{
	static const char sql[] =
	    "SELECT model, replica, SUM(in_flight) AS in_flight,"
	    " MAX(circuit_open) AS circuit_open,"
	    " MAX(healthy) AS healthy FROM replica_state"
	    " WHERE updated_at > NOW(6) - INTERVAL ? SECOND GROUP BY model, replica"
	    " ORDER BY model, replica";
	struct aif_dbp p[] = { AIF_P_I64(stale_s) };

	return AIF_DB_QUERY(db, sql, p, out);
}

enum aif_err
aif_registry_workers(struct aif_db *db, int stale_s, struct aif_dbrows **out)
{
	static const char sql[] =
	    "SELECT id, instance, host, pid, state, slots, in_flight,"
	    " DATE_FORMAT(started_at, '%Y-%m-%d %H:%i:%s') AS started_at,"
	    " ROUND(TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6)) / 1000000, 1)"
	    " AS heartbeat_age_s,"
	    " ROUND(UNIX_TIMESTAMP(started_at) * 1000) AS started_ms,"
	    " state <> 'stopped' AND heartbeat_at > NOW(6) - INTERVAL ? SECOND AS live"
	    " FROM workers"
	    " WHERE state <> 'stopped' OR stopped_at > NOW(6) - INTERVAL 10 MINUTE"
	    " ORDER BY id";
	struct aif_dbp p[] = { AIF_P_I64(stale_s) };

	return AIF_DB_QUERY(db, sql, p, out);
}

enum aif_err
aif_registry_worker_states(struct aif_db *db, int stale_s, struct aif_dbrows **out)
{
	static const char sql[] =
	    "SELECT state, COUNT(*) AS workers, COALESCE(SUM(in_flight), 0) AS in_flight"
	    " FROM workers WHERE state <> 'stopped'"
	    " AND heartbeat_at > NOW(6) - INTERVAL ? SECOND GROUP BY state";
	struct aif_dbp p[] = { AIF_P_I64(stale_s) };

	return AIF_DB_QUERY(db, sql, p, out);
}

enum aif_err
aif_registry_instances(struct aif_db *db, int stale_s, struct aif_dbrows **out)
{
	static const char sql[] =
	    "SELECT instance FROM workers WHERE state = 'running'"
	    " AND heartbeat_at > NOW(6) - INTERVAL ? SECOND ORDER BY id";
	struct aif_dbp p[] = { AIF_P_I64(stale_s) };

	return AIF_DB_QUERY(db, sql, p, out);
}
