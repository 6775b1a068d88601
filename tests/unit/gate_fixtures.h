/* gate_fixtures.h -- who the unit tests of the gate's plans (test_ratelimit.c,
 * test_budget.c) plan for: an authenticated key, its role and its tenant, each with its
 * rate limits (rpm, tpm; -1: unlimited) and monthly budget (micros; -1: none), nothing
 * else set. Each program includes this once (static functions). */
#ifndef AIF_GATE_FIXTURES_H
#define AIF_GATE_FIXTURES_H

#include <stdint.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "util.h"

/* Key key_id of `tenant` with role "user", never rotated (its own lineage). */
static __attribute__((unused)) struct aif_principal
gate_principal(uint64_t key_id, const char *tenant, int64_t rpm, int64_t tpm,
    int64_t budget)
{
	struct aif_principal who;

	memset(&who, 0, sizeof(who));
	who.key_id = key_id;
	who.lineage_id = key_id;
	aif_strlcpy(who.tenant, tenant, sizeof(who.tenant));
	aif_strlcpy(who.role, "user", sizeof(who.role));
	who.max_priority = -1;
	who.rpm = rpm;
	who.tpm = tpm;
	who.monthly_budget_micros = budget;
	return who;
}

/* Role "user" with these defaults for its keys. */
static __attribute__((unused)) struct aif_role
gate_role(int64_t rpm, int64_t tpm, int64_t budget)
{
	struct aif_role r;

	memset(&r, 0, sizeof(r));
	r.name = (char *)"user";
	r.rpm = rpm;
	r.tpm = tpm;
	r.monthly_budget_micros = budget;
	return r;
}

/* A tenant listed in the config (`name` is borrowed). */
static __attribute__((unused)) struct aif_tenant
gate_tenant(const char *name, int64_t rpm, int64_t tpm, int64_t budget)
{
	struct aif_tenant t;

	memset(&t, 0, sizeof(t));
	t.name = (char *)name;
	t.rpm = rpm;
	t.tpm = tpm;
	t.monthly_budget_micros = budget;
	return t;
}

#endif
