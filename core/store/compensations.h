/* compensations.h -- the job_compensations table: the saga steps of failed jobs.
 * A due step whose earlier steps are done is claimed under a lease (a crash mid-call
 * hands it to the next runner), then recorded as done, as due again later, or as given
 * up; a job whose steps are all finished becomes `failed`. Running the steps (HTTP) is
 * workers/compensate.h. */
#ifndef AIF_COMPENSATIONS_H
#define AIF_COMPENSATIONS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"
#include "queue.h"

/* A claimed step, with what its body template may use of its job. */
struct aif_comp_step {
	uint64_t	 job_id;
	int		 step_no;
	char		 name[65];
	char		 method[9];
	char		*url;			/* new */
	char		*body_template;		/* new, or NULL for the default body */
	long		 timeout_ms;
	int		 attempts;		/* including this one */
	int		 max_attempts;		/* 0: until done */
	int64_t		 initial_ms, backoff_pct, max_ms;
	char		 public_id[AIF_JOB_ID_LEN + 1];
	char		 model[AIF_MODEL_ID_MAX + 1];
	uint64_t	 api_key_id;
	char		 tenant[AIF_TENANT_MAX + 1];
	char		*headers;		/* new JSON object (workflow steps: name ->
						   {"value"} or {"file","prefix"}), or NULL */
	char		*idempotency_key;	/* new, or NULL: "<job>:<step_no>:undo" */
};

/* Claims up to `limit` due steps (their lease: the step's timeout + 30 s). On AIF_OK
 * *out is a new array (aif_comp_steps_free) of *n steps. */
enum aif_err	aif_comp_claim(struct aif_db *db, int limit, struct aif_comp_step **out,
		    size_t *n);
void		aif_comp_steps_free(struct aif_comp_step *s, size_t n);

/* The step succeeded. */
enum aif_err	aif_comp_done(struct aif_db *db, const struct aif_comp_step *s);

/* The step failed: due again in delay_ms, or given up (give_up = 1). `why` borrowed. */
enum aif_err	aif_comp_failed(struct aif_db *db, const struct aif_comp_step *s,
		    int give_up, const char *why, int64_t delay_ms);

/* Sets job `job` failed when none of its steps is pending or running; *finished = 1
 * when it did. */
enum aif_err	aif_comp_finish_job(struct aif_db *db, uint64_t job, int *finished);

#endif
