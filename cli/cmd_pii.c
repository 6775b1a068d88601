/* cmd_pii.c -- `aifctl pii mask [--explain] [--model M] [--role R]`: reads text on
 * stdin and prints it masked with the configured PII rules (core/pii/pii.h), so operators
 * can try rules before they deploy them. Needs only the config file: no database, no
 * running stack. An unreadable hash key is replaced by a random one for the run (with a
 * note), so hash tokens then differ from the server's.
 *
 * --explain lists every entity on stderr: byte offsets, type, action, confidence and
 * detector; never the value. Exit status: 0 printed, 1 error, 2 usage, 3 the text
 * holds an entity whose action is block (nothing is printed on stdout). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "pii.h"

#define STDIN_MAX	((size_t)AIF_PII_MAX_TEXT)

static int
pii_usage(void)
{
	fprintf(stderr, "usage: aifctl [--config FILE] pii mask [--explain] [--model M] "
	    "[--role R]   (text on stdin)\n");
	return 2;
}

/* Reads all of stdin (at most STDIN_MAX bytes) into *out (new, NUL-terminated). */
static int
read_stdin(char **out, size_t *len)
{
	size_t	 cap = 65536, n = 0, r;
	char	*buf = malloc(cap + 1), *nb;

	*out = NULL;
	if (buf == NULL)
		return -1;
	for (;;) {
		if (n == cap) {
			if (cap >= STDIN_MAX) {
				fprintf(stderr, "aifctl: input over %zu bytes\n", STDIN_MAX);
				free(buf);
				return -1;
			}
			cap = cap * 2 > STDIN_MAX ? STDIN_MAX : cap * 2;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				free(buf);
				return -1;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, stdin);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(stdin)) {
		fprintf(stderr, "aifctl: cannot read stdin\n");
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Prints the actions in force, one "TYPE=action[(partial)]" per type. */
static void
explain_actions(const struct aif_pii *pii, const struct aif_pii_actions *act,
    const char *model, const char *role)
{
	int	 t;

	fprintf(stderr, "# pii: model=%s role=%s\n# actions:", model != NULL ? model : "-",
	    role != NULL ? role : "-");
	for (t = 0; t < AIF_PII_MAX_TYPES; t++) {
		const char *name = aif_pii_type_name(pii, t);

		if (strcmp(name, "?") == 0)
			break;
		fprintf(stderr, " %s=%s%s", name, aif_pii_action_name(act->action[t]),
		    act->action[t] == AIF_PII_MASK && act->style[t] == AIF_PII_STYLE_PARTIAL ?
		    "(partial)" : "");
	}
	fputc('\n', stderr);
}

static void
explain_hits(const struct aif_pii *pii, const struct aif_pii_hit *hits, size_t n)
{
	unsigned per_type[AIF_PII_MAX_TYPES] = { 0 };
	size_t	 i;
	int	 t, first = 1;

	fprintf(stderr, "# start\tend\ttype\taction\tconfidence\tdetector\n");
	for (i = 0; i < n; i++) {
		fprintf(stderr, "%zu\t%zu\t%s\t%s\t%d\t%s%s\n", hits[i].start, hits[i].end,
		    aif_pii_type_name(pii, hits[i].type),
		    aif_pii_action_name(hits[i].action), hits[i].confidence,
		    hits[i].rule >= 0 ? "rule:" : "", aif_pii_hit_source(pii, &hits[i]));
		if (hits[i].type >= 0 && hits[i].type < AIF_PII_MAX_TYPES)
			per_type[hits[i].type]++;
	}
	fprintf(stderr, "# %zu entit%s", n, n == 1 ? "y" : "ies");
	for (t = 0; t < AIF_PII_MAX_TYPES; t++) {
		if (per_type[t] == 0)
			continue;
		fprintf(stderr, "%s %s %u", first ? ":" : ",", aif_pii_type_name(pii, t),
		    per_type[t]);
		first = 0;
	}
	fputc('\n', stderr);
}

/* The config and its masking engine, checking the model and role asked for. */
static int
load_engine(const char *config_path, const char *model, const char *role,
    struct aif_config **cfg, struct aif_pii **pii)
{
	char errbuf[16384];
	enum aif_err err;

	if ((*cfg = aifctl_load(config_path)) == NULL)
		return -1;
	if (model != NULL && aif_cfg_model(*cfg, model) == NULL) {
		fprintf(stderr, "aifctl: no model '%s' in %s\n", model, config_path);
		return -1;
	}
	if (role != NULL && aif_cfg_role(*cfg, role) == NULL) {
		fprintf(stderr, "aifctl: no role '%s' in %s\n", role, config_path);
		return -1;
	}
	err = aif_pii_new(*cfg, AIF_PII_EPHEMERAL_KEY, pii, errbuf, sizeof(errbuf));
	if (errbuf[0] != '\0')
		fprintf(stderr, "%s\n", errbuf);
	if (err != AIF_OK)
		return -1;
	if (!aif_pii_enabled(*pii))
		fprintf(stderr, "aifctl: note: PII masking is off in %s (no pii section, or "
		    "enabled: false)\n", config_path);
	return 0;
}

/* Masks text as the API would and writes it to stdout; 0, 1 on errors, 3 when the
 * API would block it. */
static int
mask_text(const struct aif_pii *pii, const struct aif_pii_actions *act, const char *text,
    size_t len, int explain, const char *model, const char *role)
{
	struct aif_pii_hit *hits = NULL;
	size_t nhits = 0, outlen = 0;
	char *out = NULL;
	enum aif_err err;
	int rc = 1;

	if ((err = aif_pii_scan(act, text, len, &hits, &nhits)) != AIF_OK) {
		fprintf(stderr, "aifctl: cannot scan the input: %s\n", aif_strerror(err));
		return 1;
	}
	if (explain) {
		explain_actions(pii, act, model, role);
		explain_hits(pii, hits, nhits);
	}
	for (size_t i = 0; i < nhits; i++)
		if (hits[i].action == AIF_PII_BLOCK) {
			fprintf(stderr, "aifctl: blocked: the text holds %s (action block); "
			    "the API would answer 400 pii_blocked\n",
			    aif_pii_type_name(pii, hits[i].type));
			rc = 3;
			goto out;
		}
	if (aif_pii_apply(act, text, len, hits, nhits, &out, &outlen) != AIF_OK)
		fprintf(stderr, "aifctl: out of memory\n");
	else if (fwrite(out, 1, outlen, stdout) != outlen || fflush(stdout) != 0)
		fprintf(stderr, "aifctl: cannot write stdout\n");
	else
		rc = 0;
out:
	free(out);
	free(hits);
	return rc;
}

static int
cmd_mask(const char *config_path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "explain", no_argument, NULL, 'e' },
		{ "model", required_argument, NULL, 'm' },
		{ "role", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct aif_config	*cfg = NULL;
	struct aif_pii		*pii = NULL;
	struct aif_pii_actions	 act;
	const char		*model = NULL, *role = NULL;
	char			*text = NULL;
	size_t			 len = 0, bad = 0;
	int			 ch, explain = 0, rc = 1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "em:r:", opts, NULL)) != -1) {
		switch (ch) {
		case 'e': explain = 1; break;
		case 'm': model = optarg; break;
		case 'r': role = optarg; break;
		default: return pii_usage();
		}
	}
	if (optind != argc)
		return pii_usage();
	if (load_engine(config_path, model, role, &cfg, &pii) != 0 ||
	    read_stdin(&text, &len) != 0)
		goto out;
	if (!aif_pii_utf8_valid(text, len, &bad)) {
		fprintf(stderr, "aifctl: the input is not valid UTF-8 (byte %zu)\n", bad);
		goto out;
	}
	aif_pii_actions_for(pii, model, role, &act);
	rc = mask_text(pii, &act, text, len, explain, model, role);
out:
	free(text);
	aif_pii_free(pii);
	aif_cfg_free(cfg);
	aif_pii_thread_cleanup();
	return rc;
}

int
aifctl_cmd_pii(const char *config_path, int argc, char **argv)
{
	/* argv[0] is "pii" */
	if (argc >= 2 && strcmp(argv[1], "mask") == 0)
		return cmd_mask(config_path, argc - 1, argv + 1);
	return pii_usage();
}
