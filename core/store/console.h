/* console.h -- the admin views of the console (docs/CONSOLE.md) and of aifctl: one
 * store function per view, each answering the JSON document that GET /admin/... sends
 * and `aifctl ... --json` prints, so that the page and the CLI never read the database
 * two ways. Also what an operator's action leaves behind: an event with the admin
 * key's id, and the stored request a retry sends again. */
#ifndef AIF_CONSOLE_H
#define AIF_CONSOLE_H

#include <jansson.h>
#include <stdint.h>

#include "db.h"

#define AIF_CONSOLE_LIST_MAX	200	/* jobs in one page of the list */
#define AIF_CONSOLE_BODY_MAX	65536	/* characters of a stored body shown */
#define AIF_CONSOLE_EVENTS_MAX	2000	/* events of one job shown */

/* GET /admin/overview: queue depth and oldest age by model, priority and state;
 * replicas (in flight, circuit, health) reported within stale_s; workers (live:
 * heartbeat within stale_s); the last hour per minute (succeeded, failed, p50 and p95
 * of queue + engine time) and its totals. On AIF_OK *out is new (json_decref). */
enum aif_err	aif_console_overview(struct aif_db *db, int stale_s, json_t **out);

/* A search of GET /admin/jobs; strings borrowed, NULL (or 0) for "any". */
struct aif_console_filter {
	uint64_t	 number;	/* one job by number */
	const char	*public_id;	/* one job by public id */
	const char	*key_prefix;	/* jobs of keys whose prefix starts so */
	const char	*tenant;
	const char	*model;
	const char	*state;
	int64_t		 since_ms;	/* created at or after (Unix ms), 0: any */
	int64_t		 until_ms;	/* created before, 0: any */
	uint64_t	 before;	/* only jobs numbered below (the next page) */
	int		 limit;		/* 1..AIF_CONSOLE_LIST_MAX */
};

/* GET /admin/jobs: a page of jobs, newest first ({"object":"list","data":[...],
 * "has_more","next_before"}). On AIF_OK *out is new (json_decref). */
enum aif_err	aif_console_jobs(struct aif_db *db, const struct aif_console_filter *f,
		    json_t **out);

/* GET /admin/jobs/{id}: the job, its timeline (the newest AIF_CONSOLE_EVENTS_MAX
 * events), its steps and compensations (a run), its usage and its stored (masked)
 * request and answer, cut at AIF_CONSOLE_BODY_MAX.
 * On AIF_OK *out is new (json_decref); AIF_NOTFOUND when there is no job id. */
enum aif_err	aif_console_job(struct aif_db *db, uint64_t id, json_t **out);

/* Records an operator's action on job id: an event `event` (attempt: the job's) with
 * detail (borrowed, may be NULL) and the admin key that acted. */
enum aif_err	aif_console_note(struct aif_db *db, uint64_t id, const char *event,
		    uint64_t actor_key_id, const char *detail);

/* What an action needs of a job; for a retry, what it sends again: the job's key (its
 * lineage: the first key of its rotation chain), kind, priority, state and stored
 * request. */
struct aif_console_retry {
	uint64_t	 id;
	uint64_t	 actor_key_id;	/* the admin key acting: set by the caller */
	uint64_t	 api_key_id;
	char		 public_id[32];
	char		 kind[16];
	char		 state[16];
	int		 priority;
	uint64_t	 parent_job_id;	/* a workflow step's job: its run, else 0 */
	char		*request;	/* new (free(3)), NULL when not kept */
	size_t		 request_len;
};
/* On AIF_OK r->request is new (free(3)) when with_request and it was kept, else NULL
 * (not asked; zero retention, the retention policy); AIF_NOTFOUND when there is no job
 * id. */
enum aif_err	aif_console_retry_source(struct aif_db *db, uint64_t id, int with_request,
		    struct aif_console_retry *r);

#endif
