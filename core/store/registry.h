/* registry.h -- the `workers` table: each aif-worker registers itself with its doorbell,
 * heartbeats, and marks itself stopped; aif-api reads the doorbells of live workers to
 * wake them after an enqueue. */
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

/* Doorbells of running workers whose heartbeat is newer than stale_s seconds.
 * On AIF_OK *out is a new array of new strings (aif_registry_doorbells_free). */
enum aif_err	aif_registry_doorbells(struct aif_db *db, int stale_s, char ***out,
		    size_t *n);
void		aif_registry_doorbells_free(char **v, size_t n);

#endif
