/* cmd_keys.c -- `aifctl keys create|list|show|revoke|rotate`: the API key lifecycle
 * (core/gate/keys.c) for operators. `create` and `rotate` print the new secret alone on the
 * first line of stdout (it is shown once), the details on stderr. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "esc.h"
#include "keys.h"
#include "util.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: aifctl keys create --name N --role R [--tenant T] [--rpm N] [--tpm N]\n"
	    "                          [--budget MICROS] [--max-priority P] [--expires-in S]\n"
	    "       aifctl keys list [--format table|json]\n"
	    "       aifctl keys show ID\n"
	    "       aifctl keys revoke ID\n"
	    "       aifctl keys rotate ID [--grace S]\n");
	exit(2);
}

static int64_t
num(const char *s, int64_t min, int64_t max)
{
	int64_t v;

	if (aif_parse_i64(s, min, max, &v) != 0)
		usage();
	return v;
}

static void
print_secret(json_t *k)
{
	printf("%s\n", json_string_value(json_object_get(k, "key")));
	json_object_del(k, "key");
	char *s = json_dumps(k, JSON_COMPACT);
	fprintf(stderr, "created %s (the secret above is shown once; only its hash is "
	    "stored)\n", s ? s : "");
	free(s);
}

static const char *
cell(json_t *o, const char *k, char *buf, size_t cap)
{
	json_t *v = json_object_get(o, k);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	return "-";
}

/* aifctl keys create --name N --role R [--tenant T] [--rpm ...]: the secret, once. */
static enum aif_err
create(const struct aif_config *cfg, struct aif_auth *auth, struct aif_db *db, int argc,
    char **argv, json_t **out)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' },
		{ "tenant", required_argument, NULL, 't' },
		{ "rpm", required_argument, NULL, 'R' },
		{ "tpm", required_argument, NULL, 'T' },
		{ "budget", required_argument, NULL, 'b' },
		{ "max-priority", required_argument, NULL, 'p' },
		{ "expires-in", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct aif_key_attrs a = { .rpm = -1, .tpm = -1, .monthly_budget_micros = -1,
	    .max_priority = -1 };
	const char *field = NULL, *why = NULL;
	enum aif_err err;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': a.name = optarg; break;
		case 'r': a.role = optarg; break;
		case 't': a.tenant = optarg; break;
		case 'R': a.rpm = num(optarg, 0, AIF_KEYS_RPM_MAX); break;
		case 'T': a.tpm = num(optarg, 0, AIF_KEYS_TPM_MAX); break;
		case 'b': a.monthly_budget_micros = num(optarg, 0, AIF_KEYS_BUDGET_MAX); break;
		case 'p': a.max_priority = (int)num(optarg, 0, AIF_KEYS_PRIORITY_MAX); break;
		case 'e': a.expires_in_s = num(optarg, 1, AIF_KEYS_EXPIRY_MAX_S); break;
		default: usage();
		}
	}
	if (a.name == NULL || a.role == NULL)
		usage();
	/* the options parsed in range: what is left to refuse is a name or the role */
	if (aif_keys_attrs_check(cfg, &a, &field, &why) != AIF_OK) {
		if (why != NULL)	/* names and tenants: core/base/text.h */
			fprintf(stderr, "aifctl: the %s %s (1 to 128 bytes of UTF-8 without "
			    "control or invisible characters, no space at either end)\n",
			    field, why);
		else if (strcmp(field, "role") == 0)
			fprintf(stderr, "aifctl: no role '%s' in %s\n", aifctl_esc(a.role),
			    cfg->path);
		else
			fprintf(stderr, "aifctl: %s is out of range\n", field);
		return AIF_CONFIG;
	}
	if ((err = aif_keys_create(auth, db, &a, out)) == AIF_OK)
		print_secret(*out);
	return err;
}

/* aifctl keys list [--format json]: every key, no secrets. */
static enum aif_err
list(struct aif_db *db, int json, json_t **out)
{
	enum aif_err err;
	char b[9][32];
	json_t *k;
	size_t i;

	if ((err = aif_keys_list(db, 100000, out)) != AIF_OK)
		return err;
	if (json) {
		char *s = json_dumps(*out, JSON_INDENT(2));
		printf("%s\n", s ? s : "[]");
		free(s);
		return AIF_OK;
	}
	printf("%-6s %-12s %-20s %-10s %-16s %-8s %-8s %-12s %s\n", "ID", "PREFIX", "NAME",
	    "ROLE", "TENANT", "RPM", "TPM", "BUDGET", "ACTIVE");
	json_array_foreach(*out, i, k)
		printf("%-6s %-12s %-20.20s %-10s %-16.16s %-8s %-8s %-12s %s\n",
		    cell(k, "id", b[0], 32), cell(k, "key_prefix", b[1], 32),
		    aifctl_esc(cell(k, "name", b[2], 32)),
		    aifctl_esc(cell(k, "role", b[3], 32)),
		    aifctl_esc(cell(k, "tenant", b[4], 32)), cell(k, "rpm", b[5], 32),
		    cell(k, "tpm", b[6], 32), cell(k, "monthly_budget_micros", b[7], 32),
		    json_is_true(json_object_get(k, "active")) ? "yes" : "no");
	return AIF_OK;
}

/* aifctl keys rotate ID [--grace S]: the new secret, once. A key that is revoked or
 * expired, or that already has a live successor, is refused with a message saying so
 * (AIF_FORBIDDEN, AIF_CONFLICT: already said). */
static enum aif_err
rotate(struct aif_auth *auth, struct aif_db *db, int argc, char **argv, json_t **out)
{
	int64_t grace = 0;
	uint64_t id, next = 0;
	enum aif_err err;

	if (argc == 5) {
		if (strcmp(argv[3], "--grace") != 0)
			usage();
		grace = num(argv[4], 0, 30LL * 86400);
	}
	id = (uint64_t)num(argv[2], 1, INT64_MAX);
	err = aif_keys_rotate(auth, db, id, grace, out, &next);
	if (err == AIF_OK)
		print_secret(*out);
	else if (err == AIF_FORBIDDEN)
		fprintf(stderr, "aifctl: key %" PRIu64 " is revoked or expired; only a live "
		    "key can be rotated (create a new key instead)\n", id);
	else if (err == AIF_CONFLICT)
		fprintf(stderr, "aifctl: key %" PRIu64 " already has a live successor, key %"
		    PRIu64 ": rotate that key, or revoke it first\n", id, next);
	return err;
}

int
aifctl_cmd_keys(const struct aif_config *cfg, int argc, char **argv)
{
	struct aif_auth *auth = NULL;
	struct aif_db *db = NULL;
	json_t *out = NULL;
	enum aif_err err = AIF_OK;
	int rc = 1;

	if (argc < 2)
		usage();
	if (aif_auth_new(cfg, &auth) != AIF_OK)
		return 1;
	if (aif_db_open(cfg, &db) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot connect to the database\n");
		goto out;
	}
	if (strcmp(argv[1], "create") == 0) {
		if ((err = create(cfg, auth, db, argc - 1, argv + 1, &out)) == AIF_CONFIG)
			goto out;
	} else if (strcmp(argv[1], "list") == 0) {
		err = list(db, argc >= 4 && strcmp(argv[2], "--format") == 0 &&
		    strcmp(argv[3], "json") == 0, &out);
	} else if (strcmp(argv[1], "show") == 0 && argc == 3) {
		if ((err = aif_keys_show(db, (uint64_t)num(argv[2], 1, INT64_MAX), &out)) ==
		    AIF_OK) {
			char *s = json_dumps(out, JSON_INDENT(2));
			printf("%s\n", s ? s : "{}");
			free(s);
		}
	} else if (strcmp(argv[1], "revoke") == 0 && argc == 3) {
		if ((err = aif_keys_revoke(db, (uint64_t)num(argv[2], 1, INT64_MAX))) == AIF_OK)
			printf("revoked key %s (every aif-api refuses it within 2 s)\n", argv[2]);
	} else if (strcmp(argv[1], "rotate") == 0 && (argc == 3 || argc == 5)) {
		if ((err = rotate(auth, db, argc, argv, &out)) == AIF_FORBIDDEN ||
		    err == AIF_CONFLICT)
			goto out;
	} else {
		usage();
	}
	if (err == AIF_NOTFOUND)
		fprintf(stderr, "aifctl: no such key\n");
	else if (err != AIF_OK)
		fprintf(stderr, "aifctl: %s\n", aif_strerror(err));
	else
		rc = 0;
out:
	json_decref(out);
	aif_db_close(db);
	aif_auth_free(auth);
	return rc;
}
