/* flow.h -- the workflow runner of aif-worker: one thread with its own database
 * connection that claims due workflow runs (store/flow.h), advances each as far as it
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

struct flow_runner;

/* Starts the runner thread for worker worker_id (cfg borrowed, outlives the runner;
 * doorbell: the worker's own, rung when a step enqueues a child job). On 0 *out is
 * new (flow_runner_stop). */
int	flow_runner_start(const struct aif_config *cfg, uint64_t worker_id,
	    const char *doorbell, struct flow_runner **out);

/* Wakes the runner: a run may be due (a bell, a child job ended). Async-signal-unsafe,
 * thread-safe, never blocks. Accepts NULL. */
void	flow_runner_kick(struct flow_runner *fr);

/* Asks the thread to stop after the step it is in, without waiting (a drain: the
 * worker's loop goes on meanwhile). Accepts NULL. */
void	flow_runner_quit(struct flow_runner *fr);

/* Stops the thread after the step it is in (bounded by that step's timeout) and frees
 * the runner; runs it held go back to the queue. Accepts NULL. */
void	flow_runner_stop(struct flow_runner *fr);

#endif
