/* flow_int.h -- the parts of the workflow runner shared between its files:
 *   flow.c        the thread: claiming runs, advancing them, their end (answer,
 *                 failure, compensations), waking whoever waits
 *   flow_steps.c  what each step kind does when the run reaches it
 * A struct flow_run lives while one runner advances one run; nothing is shared with
 * the worker's event loop but the kick. */
#ifndef AIF_WORKER_FLOW_INT_H
#define AIF_WORKER_FLOW_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "config.h"
#include "db.h"
#include "doorbell.h"
#include "flow.h"
#include "pii.h"
#include "runs.h"
#include "wfexpr.h"

#define FLOW_STEPS_MAX		64	/* steps of a workflow (the config's bound) */
#define FLOW_DEFS_CACHED	16	/* parsed definitions kept, by hash */
#define FLOW_TEXT_MAX		(1u << 20)	/* bytes of a rendered template */
#define FLOW_OUTPUT_MAX		(16u << 20)	/* bytes of a step's stored output */
#define FLOW_DETAIL_MAX		256	/* bytes of one event detail */

struct flow_runner {
	const struct aif_config	*cfg;
	uint64_t		 worker_id;
	char			 doorbell[AIF_DOORBELL_PATH_MAX];
	pthread_t		 thread;
	int			 started;
	int			 efd;		/* eventfd: kicks */
	atomic_int		 stop;
	struct aif_db		*db;		/* the thread's own connection */
	struct aif_pii		*pii;		/* the pool's, borrowed */
	int			 sender_fd;	/* doorbells */
	struct { char hash[AIF_FLOW_HASH_LEN + 1]; json_t *def; } defs[FLOW_DEFS_CACHED];
	size_t			 defs_next;
};

/* One transition being put together: step rows, events, and what becomes of the run. */
struct flow_tx {
	struct aif_flow_write	 w;
	char			 details[AIF_FLOW_EVENTS_MAX][FLOW_DETAIL_MAX];
	char			*owned[AIF_FLOW_WRITES_MAX * 2];	/* freed after */
	size_t			 nowned;
};

/* One run being advanced. */
struct flow_run {
	struct flow_runner	*fr;
	struct aif_flow_run	*run;
	json_t			*def;		/* borrowed from the cache */
	json_t			*steps_def;	/* def.steps, borrowed */
	json_t			*env;		/* the request envelope (new) */
	const char		*surface;	/* "chat" | "completion" | "run" */
	json_t			*root;		/* {"input", "steps", "run"} (new) */
	struct aif_flow_step	 rows[FLOW_STEPS_MAX];
	size_t			 nrows;
	int			 max_seq;
	struct aif_principal	 who;		/* as admitted */
	const struct aif_role	*role;		/* from the current config, or NULL */
	int64_t			 wake_ms;	/* earliest time something is due, 0 none */
	const char		*wait_sig[8];	/* signals waited for (borrowed) */
	size_t			 nwait_sig;
	struct flow_tx		 pend;		/* results of pure steps (transform, branch,
						   parallel, wait) not written yet: they go
						   with the next transition, before any call
						   leaves the runner */
	int			 npend;
	int			 over;		/* the run ended or is no longer ours */
	int			 called;	/* an http call was made since the last look
						   for a cancel */
};

/* flow.c: transitions. */
void		 flow_tx_init(struct flow_tx *t);
/* Adds the row of s (its current state) to t; output (borrowed) or NULL. */
void		 flow_tx_step(struct flow_tx *t, const struct aif_flow_step *s,
		    const char *output, int started, int finished);
void		 flow_tx_event(struct flow_tx *t, const char *event, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/* Schedules step `name` (a new row, seq after the others) in t and in fx. -1 when it
 * cannot (unknown, or too many). */
int		 flow_schedule(struct flow_run *fx, struct flow_tx *t, const char *name);
/* Writes t; 0, or -1 when the run is no longer ours or the database failed (fx->over
 * set). Frees what t owns. */
int		 flow_commit(struct flow_run *fx, struct flow_tx *t);
/* The step fails for good: the run fails with it (compensations of the steps that
 * succeeded run first, in reverse order). */
void		 flow_fail_run(struct flow_run *fx, struct aif_flow_step *s, const char *code,
		    const char *message);
/* Records step s succeeded with output (new reference taken) and schedules `next`
 * (may be NULL) in the same transaction. 0, or -1 (fx->over). */
int		 flow_step_done(struct flow_run *fx, struct aif_flow_step *s, json_t *output,
		    const char *next, const char *branch_taken);
/* flow_step_done for a wait step that took signal `signal` (job_signals.id, 0: none):
 * the signal is consumed in the same transaction. */
int		 flow_step_consumed(struct flow_run *fx, struct aif_flow_step *s,
		    json_t *output, const char *next, const char *branch_taken,
		    uint64_t signal);
/* The run's final answer from output (borrowed) and the step it came from. */
void		 flow_succeed_run(struct flow_run *fx, struct aif_flow_step *s,
		    const json_t *output, const char *finish_reason);
/* The retry delay of attempt n (1-based) under a definition's retry object. */
int64_t		 flow_backoff_ms(const json_t *retry, int attempt);
/* Row of step `name`, or NULL. */
struct aif_flow_step *flow_row(struct flow_run *fx, const char *name);
/* The worker's doorbell is rung: a child job waits to be claimed. */
void		 flow_wake_worker(struct flow_run *fx);

/* flow_steps.c: the URL of http call d (a step or a compensation): its base_url and
 * its path template rendered with URL encoding; new string, or NULL with why. */
char		*flow_url(struct flow_run *fx, const json_t *d, char *why, size_t whylen);

/* flow_steps.c: what an http step or a compensation sends is screened for personal
 * data as a request's free-form fields are (every string, keys included; the policy of
 * the workflow's name and the caller's role): *v is replaced by its masked copy. -1
 * with why when the policy blocks it or it cannot be screened. */
int		 flow_screen(struct flow_run *fx, json_t **v, char *why, size_t whylen);

/* flow_steps.c: advances step s as far as it can now. Returns 1 when something changed
 * (look again), 0 when it waits (fx->wake_ms / wait_sig set), -1 when the run is over
 * for this runner (fx->over). */
int		 flow_step_advance(struct flow_run *fx, struct aif_flow_step *s);

#endif
