/* registry.h -- the `workers` and `replica_state` tables: each aif-worker registers
 * itself with its doorbell, heartbeats, publishes what it sees of each engine replica
 * (calls in flight, circuit breaker, health probe), and marks itself stopped. aif-api
 * reads the doorbells of live workers to wake them after an enqueue, and the published
 * replica health for /readyz; operators' views read both. */
#ifndef AIF_REGISTRY_H
#define AIF_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

/* Inserts a running worker row. On AIF_OK *id is its workers.id. Strings borrowed. */
enum aif_err	aif_registry_register(struct aif_db *db, const char *instance,
		    const char *host, long pid, const char *doorbell, int slots,
		    uint64_t *id);

/* Updates heartbeat_at, state ("running" or "draining") and in_flight. */
enum aif_err	aif_registry_heartbeat(struct aif_db *db, uint64_t id, const char *state,
		    int in_flight);

/* Marks the worker stopped. */
enum aif_err	aif_registry_stop(struct aif_db *db, uint64_t id);

/* Where worker `id` stands among the running workers with a heartbeat newer than
 * stale_s seconds, ordered by id: *rank (0-based) and *n. A worker not (yet) in that set
 * is counted as the last one. */
enum aif_err	aif_registry_rank(struct aif_db *db, uint64_t id, int stale_s, int *rank,
		    int *n);

/* Doorbells of running workers whose heartbeat is newer than stale_s seconds, in the
 * order of their ids. On AIF_OK *out is a new array of new strings
 * (aif_registry_doorbells_free) and, when ids is not NULL, *ids a new array (free) of
 * the workers' ids in the same order (NULL when n is 0). */
enum aif_err	aif_registry_doorbells(struct aif_db *db, int stale_s, char ***out,
		    uint64_t **ids, size_t *n);
void		aif_registry_doorbells_free(char **v, size_t n);

/* What one worker sees of one replica. Strings borrowed. */
struct aif_replica_report {
	const char	*model;
	const char	*replica;
	int		 in_flight;
	int		 circuit_open;
	int		 healthy;	/* its last health probe answered 200 and its
					   circuit is closed: it takes calls */
};

/* Upserts worker_id's view of n replicas (any n: in statements of a bounded size). */
enum aif_err	aif_registry_publish(struct aif_db *db, uint64_t worker_id,
		    const struct aif_replica_report *r, size_t n);

/* Every replica as the live workers (published within stale_s) see it: calls in flight
 * summed, circuit open when any worker's is, healthy when any worker reports it healthy
 * (aif_replica_report: its probe answered and its circuit is closed there). Ordered by
 * model and replica. */
enum aif_replica_col {
	AIF_RP_MODEL, AIF_RP_REPLICA, AIF_RP_IN_FLIGHT, AIF_RP_CIRCUIT_OPEN, AIF_RP_HEALTHY,
};
enum aif_err	aif_registry_replicas(struct aif_db *db, int stale_s,
		    struct aif_dbrows **out);

/* Workers for aifctl and the console: the live ones and those stopped in the last 10
 * minutes; live is 1 for a worker not stopped whose heartbeat is within stale_s. */
enum aif_worker_col {
	AIF_WK_ID, AIF_WK_INSTANCE, AIF_WK_HOST, AIF_WK_PID, AIF_WK_STATE, AIF_WK_SLOTS,
	AIF_WK_IN_FLIGHT, AIF_WK_STARTED_AT, AIF_WK_HEARTBEAT_AGE_S, AIF_WK_STARTED_MS,
	AIF_WK_LIVE,
};
enum aif_err	aif_registry_workers(struct aif_db *db, int stale_s,
		    struct aif_dbrows **out);

/* Live workers (heartbeat within stale_s, not stopped) by state, with their calls in
 * flight, for /metrics. */
enum aif_worker_state_col { AIF_WS_STATE, AIF_WS_WORKERS, AIF_WS_IN_FLIGHT };
enum aif_err	aif_registry_worker_states(struct aif_db *db, int stale_s,
		    struct aif_dbrows **out);

/* Instance names of the running workers (heartbeat within stale_s), by id. */
enum aif_instance_col { AIF_IN_INSTANCE };
enum aif_err	aif_registry_instances(struct aif_db *db, int stale_s,
		    struct aif_dbrows **out);

#endif
