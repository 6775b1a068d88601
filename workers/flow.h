/* flow.h -- the workflow runners of aif-worker: threads, each with its own database
 * connection, that claim due workflow runs (store/flow.h), advances each as far as it
 * can -- transforms, branches and the final answer at once, http steps as blocking
 * calls bounded by their timeouts, model steps as child jobs the worker's event loop
 * runs like any job, waits as durable timers and signal inboxes -- and releases it until
 * the next thing it waits for. Every step transition is one transaction fenced by the
 * run's lease, so a runner that dies leaves the run to the next one at the step that
 * was running (docs/WORKFLOWS.md). */
#ifndef AIF_WORKER_FLOW_H
#define AIF_WORKER_FLOW_H

#include <stdint.h>

#include "config.h"

#define FLOW_RUNNERS	4	/* runner threads per worker: runs advance in parallel */

struct flow_pool;

/* Starts FLOW_RUNNERS runner threads for worker worker_id (cfg borrowed, outlives
 * them; doorbell: the worker's own, rung when a step enqueues a child job), each with
 * its own database connection. On 0 *out is new (flow_pool_stop). */
int	flow_pool_start(const struct aif_config *cfg, uint64_t worker_id,
	    const char *doorbell, struct flow_pool **out);

/* Wakes the runners: a run may be due (a bell, a child job ended). Thread-safe, never
 * blocks. Accepts NULL. */
void	flow_pool_kick(struct flow_pool *p);

/* Asks the runners to stop after the step each is in, without waiting (a drain: the
 * worker's loop goes on meanwhile); a run in hand is handed on at once. Accepts NULL. */
void	flow_pool_quit(struct flow_pool *p);

/* Stops the runners (each after the step it is in, bounded by that step's timeout) and
 * frees them. Accepts NULL. */
void	flow_pool_stop(struct flow_pool *p);

#endif
