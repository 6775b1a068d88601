/* gcra.h -- the rate_limits table: requests-per-minute and tokens-per-minute limits
 * shared by every aif-api process and host, as GCRA whose state is one row per limited
 * subject, checked and advanced by ONE statement for all of a request's subjects
 * (INSERT ... ON DUPLICATE KEY UPDATE ... RETURNING, evaluated on the row under its
 * lock). A limit of N per minute admits a burst of N from idle, then one every 60/N s.
 * The database clock is the clock, so hosts need no synchronisation. Which limits
 * apply to a request is gate/ratelimit.h.
 * Thread-safe: no state beyond the caller's db handle. */
#ifndef AIF_GCRA_H
#define AIF_GCRA_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

#define AIF_GCRA_SUBJECTS_MAX	4
#define AIF_GCRA_SUBJECT_MAX	200

struct aif_gcra_check {
	char	 subject[AIF_GCRA_SUBJECT_MAX];	/* "key:12:rpm", "tenant:t:tpm" */
	int64_t	 limit;				/* per minute, >= 0 (0 refuses all) */
	int64_t	 cost;				/* requests (1) or tokens */
	/* results */
	int	 allowed;
	int64_t	 remaining;			/* what is left after this request */
	int64_t	 reset_ms;			/* until the bucket is full again */
	int64_t	 retry_after_ms;		/* when denied: until it would pass */
};

/* Checks and charges every check in one statement (a transaction when n > 1, rolled back
 * when any is denied, so a refused request charges nothing). *allowed = 1 when all
 * passed. A cost larger than its limit is refused without touching the database, and
 * n == 0 allows without it (db may then be NULL). Returns AIF_OK, or AIF_UNAVAILABLE/AIF_DB (the caller answers 503). */
enum aif_err	aif_gcra_charge(struct aif_db *db, struct aif_gcra_check *checks, size_t n,
		    int *allowed);

/* One correction of a tokens-per-minute subject. */
struct aif_gcra_delta {
	char	 subject[AIF_GCRA_SUBJECT_MAX];
	int64_t	 tokens;	/* actual - charged: negative gives capacity back */
};

/* Corrects token charges when jobs finish: adds d[i].tokens tokens to the state of
 * subject d[i].subject, for every i. The corrections of one subject are summed first
 * (d is sorted by subject and merged in place: *n gets the number left); a statement
 * then corrects up to 32 subjects at once, which it locks in index order, so that
 * concurrent corrections (and admissions, which lock a key's subjects before its
 * tenant's) do not deadlock. Run inside the jobs' success transaction. Subjects
 * without a row are left alone. */
enum aif_err	aif_gcra_correct_each(struct aif_db *db, struct aif_gcra_delta *d,
		    size_t *n);

/* aif_gcra_correct_each of n subjects (borrowed) by the same delta_tokens. */
enum aif_err	aif_gcra_correct(struct aif_db *db, const char *const *subjects, size_t n,
		    int64_t delta_tokens);

#endif
