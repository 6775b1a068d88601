/* ratelimit.c -- the rate limits of a request and their headers; see ratelimit.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"

/* The key's own limit when it has one (>= 0), else the role's default. */
static int64_t
key_limit(int64_t own, int64_t role_default)
{
	return own >= 0 ? own : role_default;
}

/* Adds a check of `limit` per minute (< 0: unlimited, nothing added) on subject
 * "<scope>:<who>:<unit>" costing `cost`. */
static void
add_check(struct aif_rl_plan *p, const char *scope, const char *who, const char *unit,
    int64_t limit, int64_t cost)
{
	struct aif_gcra_check *c;

	if (limit < 0 || p->n >= AIF_GCRA_SUBJECTS_MAX)
		return;
	c = &p->c[p->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->subject, sizeof(c->subject), "%s:%.150s:%s", scope, who, unit);
	c->limit = limit;
	c->cost = cost > 0 ? cost : 1;
}

void
aif_rl_plan(const struct aif_principal *who, const struct aif_role *role,
    const struct aif_tenant *t, int64_t tokens, struct aif_rl_plan *out)
{
	char keyid[32];

	memset(out, 0, sizeof(*out));
	/* the lineage: every live key of a rotation chain fills the same buckets */
	snprintf(keyid, sizeof(keyid), "%" PRIu64, who->lineage_id);
	add_check(out, "key", keyid, "rpm", key_limit(who->rpm, role->rpm), 1);
	add_check(out, "key", keyid, "tpm", key_limit(who->tpm, role->tpm), tokens);
	if (t != NULL) {
		add_check(out, "tenant", who->tenant, "rpm", t->rpm, 1);
		add_check(out, "tenant", who->tenant, "tpm", t->tpm, tokens);
	}
}

enum aif_err
aif_rl_apply(struct aif_db *db, struct aif_rl_plan *plan, int *allowed)
{
	/* an empty plan allows without a round trip (gcra.h) */
	return aif_gcra_charge(db, plan->c, plan->n, allowed);
}

const struct aif_gcra_check *
aif_rl_refused(const struct aif_rl_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++)
		if (!plan->c[i].allowed)
			return &plan->c[i];
	return NULL;
}

int
aif_rl_is_requests(const struct aif_gcra_check *c)
{
	size_t n = strlen(c->subject);

	return n >= 4 && strcmp(c->subject + n - 4, ":rpm") == 0;
}

int
aif_rl_is_key(const struct aif_gcra_check *c)
{
	return strncmp(c->subject, "key:", 4) == 0;
}

/* Appends the three x-ratelimit-*-<what> lines of c to buf at *off unless they do not
 * fit whole. */
static void
put(char *buf, size_t cap, size_t *off, const char *what,
    const struct aif_gcra_check *c)
{
	char dur[32];
	int m;

	aif_rl_go_duration(c->reset_ms, dur, sizeof(dur));
	m = snprintf(buf + *off, cap - *off, "x-ratelimit-limit-%s: %" PRId64 "\r\n"
	    "x-ratelimit-remaining-%s: %" PRId64 "\r\n"
	    "x-ratelimit-reset-%s: %s\r\n", what, c->limit, what, c->remaining, what, dur);
	if (m > 0 && (size_t)m < cap - *off)
		*off += (size_t)m;
	else
		buf[*off] = '\0';
}

void
aif_rl_headers(const struct aif_rl_plan *plan, char *buf, size_t cap)
{
	const struct aif_gcra_check *req = NULL, *tok = NULL;
	size_t off = strlen(buf);

	for (size_t i = 0; i < plan->n; i++) {
		const struct aif_gcra_check *c = &plan->c[i];
		if (aif_rl_is_requests(c) && (req == NULL || aif_rl_is_key(c)))
			req = c;
		if (!aif_rl_is_requests(c) && (tok == NULL || aif_rl_is_key(c)))
			tok = c;
	}
	if (req != NULL)
		put(buf, cap, &off, "requests", req);
	if (tok != NULL)
		put(buf, cap, &off, "tokens", tok);
}

void
aif_rl_retry_headers(const struct aif_gcra_check *c, char *buf, size_t cap)
{
	size_t off = strlen(buf);
	int m = snprintf(buf + off, cap - off, "Retry-After: %" PRId64 "\r\n"
	    "retry-after-ms: %" PRId64 "\r\n", (c->retry_after_ms + 999) / 1000,
	    c->retry_after_ms);

	if (m < 0 || (size_t)m >= cap - off)
		buf[off] = '\0';
}

void
aif_rl_go_duration(int64_t ms, char *buf, size_t cap)
{
	int64_t h, m, s, rest;
	char sec[32];

	if (ms <= 0) {
		snprintf(buf, cap, "0s");
		return;
	}
	if (ms < 1000) {
		snprintf(buf, cap, "%" PRId64 "ms", ms);
		return;
	}
	h = ms / 3600000;
	m = (ms / 60000) % 60;
	s = (ms / 1000) % 60;
	rest = ms % 1000;
	if (rest == 0)
		snprintf(sec, sizeof(sec), "%" PRId64 "s", s);
	else if (rest % 100 == 0)
		snprintf(sec, sizeof(sec), "%" PRId64 ".%01" PRId64 "s", s, rest / 100);
	else if (rest % 10 == 0)
		snprintf(sec, sizeof(sec), "%" PRId64 ".%02" PRId64 "s", s, rest / 10);
	else
		snprintf(sec, sizeof(sec), "%" PRId64 ".%03" PRId64 "s", s, rest);
	if (h > 0)
		snprintf(buf, cap, "%" PRId64 "h%" PRId64 "m%s", h, m, sec);
	else if (m > 0)
		snprintf(buf, cap, "%" PRId64 "m%s", m, sec);
	else
		snprintf(buf, cap, "%s", sec);
}

void
aif_rl_batch_lane(struct aif_rl_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		char *subject = plan->c[i].subject, *unit = strrchr(subject, ':');
		char moved[8];
		size_t at;

		if (unit == NULL || strlen(unit + 1) >= sizeof(moved))
			continue;
		at = (size_t)(unit - subject) + 1;
		if (at + 6 + strlen(unit + 1) >= sizeof(plan->c[i].subject))
			continue;	/* no room: never with the 150-byte names above */
		snprintf(moved, sizeof(moved), "%s", unit + 1);
		snprintf(subject + at, sizeof(plan->c[i].subject) - at, "batch:%s", moved);
	}
}
