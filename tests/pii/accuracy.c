/* accuracy.c -- precision and recall of the built-in PII detectors on the labelled
 * corpora (tests/pii/corpus*.tsv), per entity type, compared with the recorded
 * baseline (tests/pii/baseline.tsv). A hit counts only when its type and its exact
 * byte span match a labelled entity. Fails when any type's precision or recall drops
 * below its baseline, or below the floor a type must keep whatever the baseline says
 * (PERSON and ADDRESS: precision 0.95, recall 0.85). Built and run by tests/pii/run.sh.
 *
 *   accuracy CORPUS[,CORPUS...] BASELINE            compare, print the table and misses
 *   accuracy CORPUS[,CORPUS...] BASELINE --write    record the numbers as the baseline
 *   accuracy CORPUS[,CORPUS...] BASELINE --markdown print the table as Markdown */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pii.h"

#define LINE_MAX_BYTES	65536
#define MAX_EXPECTED	16
#define NEWLINE_MARK	"\xe2\x8f\x8e"	/* U+23CE stands for a newline in the corpus */

static const char config_yaml[] =
    "server: {listen: /tmp/x.sock, run_dir: /tmp}\n"
    "database: {socket: /tmp/db.sock, name: aif}\n"
    "models: [{id: m, adapter: openai, replicas: [{url: 'http://127.0.0.1:1'}]}]\n"
    "roles: [{name: user}]\n"
    "pii: {enabled: true, default_action: mask}\n";

struct tally {
	unsigned	 tp, fp, fn;
};

struct span {
	char		 type[AIF_PII_TYPE_LEN];
	size_t		 start, end;
	int		 matched;
};

static struct tally	tally[AIF_PII_MAX_TYPES];

/* Floors no baseline may go under (issue 19: names and addresses). */
static const struct {
	const char	*type;
	double		 precision, recall;
} floors[] = {
	{ "PERSON", 0.95, 0.85 },
	{ "ADDRESS", 0.95, 0.85 },
};
static const struct aif_pii *engine;

static int
type_of(const char *name)
{
	int	 t;

	for (t = 0; t < AIF_PII_MAX_TYPES; t++) {
		const char *n = aif_pii_type_name(engine, t);
		if (strcmp(n, "?") == 0)
			return -1;
		if (strcmp(n, name) == 0)
			return t;
	}
	return -1;
}

/* Replaces each NEWLINE_MARK by '\n' in place. */
static void
unmark(char *s)
{
	char	*p;

	while ((p = strstr(s, NEWLINE_MARK)) != NULL) {
		*p = '\n';
		memmove(p + 1, p + 3, strlen(p + 3) + 1);
	}
}

/* Parses "TYPE=value ;; TYPE=value" into spans located in text, in order. */
static int
parse_expected(char *exp, const char *text, struct span *sp, size_t *n)
{
	char	*item, *save = NULL, *eq, *at;
	size_t	 from = 0;

	*n = 0;
	if (strcmp(exp, "-") == 0)
		return 0;
	for (item = strtok_r(exp, ";", &save); item != NULL;
	    item = strtok_r(NULL, ";", &save)) {
		while (*item == ' ')
			item++;
		if (*item == '\0')
			continue;
		if (*n == MAX_EXPECTED || (eq = strchr(item, '=')) == NULL)
			return -1;
		*eq = '\0';
		while (eq[1 + strlen(eq + 1) - 1] == ' ' && strlen(eq + 1) > 0)
			eq[strlen(eq + 1)] = '\0';
		unmark(eq + 1);
		if ((at = strstr(text + from, eq + 1)) == NULL)
			return -1;
		if (snprintf(sp[*n].type, sizeof(sp[*n].type), "%s", item) >=
		    (int)sizeof(sp[*n].type))
			return -1;
		sp[*n].start = (size_t)(at - text);
		sp[*n].end = sp[*n].start + strlen(eq + 1);
		sp[*n].matched = 0;
		from = sp[*n].end;
		(*n)++;
	}
	return 0;
}

static int
load_baseline(const char *path, double prec[], double rec[], int have[])
{
	FILE	*f = fopen(path, "r");
	char	 line[256], name[AIF_PII_TYPE_LEN];
	double	 p, r;
	int	 t;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%31s %lf %lf", name, &p, &r) != 3 ||
		    (t = type_of(name)) < 0)
			continue;
		prec[t] = p;
		rec[t] = r;
		have[t] = 1;
	}
	fclose(f);
	return 0;
}

static double
ratio(unsigned a, unsigned b)
{
	return b == 0 ? 1.0 : (double)a / (double)b;
}

/* Rounds to 4 decimals, as recorded. */
static double	r4(double x);

/* 1 when type t's precision and recall are at or above its floor (or it has none). */
static int
floor_ok(const struct aif_pii *pii, int t)
{
	const struct tally *y = &tally[t];
	size_t	 k;

	for (k = 0; k < sizeof(floors) / sizeof(floors[0]); k++)
		if (strcmp(floors[k].type, aif_pii_type_name(pii, t)) == 0 &&
		    (r4(ratio(y->tp, y->tp + y->fp)) < floors[k].precision ||
		    r4(ratio(y->tp, y->tp + y->fn)) < floors[k].recall))
			return 0;
	return 1;
}

/* 1 when every type is at or above its floor; else says which is not (stderr). */
static int
floors_ok(const struct aif_pii *pii)
{
	int	 t;

	for (t = 0; t < AIF_PII_NBUILTIN; t++)
		if (!floor_ok(pii, t)) {
			fprintf(stderr, "accuracy: %s is below its floor; no baseline written\n",
			    aif_pii_type_name(pii, t));
			return 0;
		}
	return 1;
}

/* Rounds to 4 decimals, as recorded. */
static double
r4(double x)
{
	return (double)(long)(x * 10000.0 + 0.5) / 10000.0;
}

/* Tallies the hits of one case against its labels, printing each false positive and
 * miss (unless markdown). Returns 1 all right, 0 with a mistake, -1 on a label of an
 * unknown type. */
static int
score_case(const struct aif_pii *pii, const char *id, const char *text, struct span *exp,
    size_t nexp, const struct aif_pii_hit *hits, size_t nhits, int markdown)
{
	size_t	 i, k;
	int	 ok = 1, t, found;

	for (i = 0; i < nhits; i++) {
		for (k = 0, found = 0; k < nexp && !found; k++)
			if (!exp[k].matched && exp[k].start == hits[i].start &&
			    exp[k].end == hits[i].end && type_of(exp[k].type) == hits[i].type)
				exp[k].matched = found = 1;
		if (found) {
			tally[hits[i].type].tp++;
			continue;
		}
		tally[hits[i].type].fp++;
		ok = 0;
		if (!markdown)
			printf("  case %s FP %s [%zu,%zu) \"%.*s\" in: %s\n", id,
			    aif_pii_type_name(pii, hits[i].type), hits[i].start, hits[i].end,
			    (int)(hits[i].end - hits[i].start), text + hits[i].start, text);
	}
	for (k = 0; k < nexp; k++) {
		if (exp[k].matched)
			continue;
		if ((t = type_of(exp[k].type)) < 0) {
			fprintf(stderr, "accuracy: case %s: unknown type %s\n", id, exp[k].type);
			return -1;
		}
		tally[t].fn++;
		ok = 0;
		if (!markdown)
			printf("  case %s FN %s \"%.*s\" in: %s\n", id, exp[k].type,
			    (int)(exp[k].end - exp[k].start), text + exp[k].start, text);
	}
	return ok;
}

/* Scans every case of one corpus file and adds to the tallies; 0, or 1 on an error
 * (said on stderr). */
static int
run_corpus(const char *path, const struct aif_pii_actions *actp, int markdown,
    unsigned *cases, unsigned *right, unsigned *wrong)
{
	static char	 line[LINE_MAX_BYTES];
	const struct aif_pii *pii = actp->pii;
	struct aif_pii_actions act = *actp;
	FILE		*f;

	if ((f = fopen(path, "r")) == NULL) {
		perror(path);
		return 1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		struct span	 exp[MAX_EXPECTED];
		struct aif_pii_hit *hits = NULL;
		size_t		 nexp = 0, nhits = 0;
		char		*id, *lang, *expected, *text, *save = NULL;
		int		 ok;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		id = strtok_r(line, "\t", &save);
		lang = strtok_r(NULL, "\t", &save);
		expected = strtok_r(NULL, "\t", &save);
		text = strtok_r(NULL, "", &save);
		if (id == NULL || lang == NULL || expected == NULL || text == NULL) {
			fprintf(stderr, "accuracy: bad line\n");
			return 1;
		}
		unmark(text);
		if (parse_expected(expected, text, exp, &nexp) != 0) {
			fprintf(stderr, "accuracy: case %s: bad expectation\n", id);
			return 1;
		}
		(*cases)++;
		if (aif_pii_scan(&act, text, strlen(text), &hits, &nhits) != AIF_OK) {
			fprintf(stderr, "accuracy: case %s: scan failed\n", id);
			return 1;
		}
		ok = score_case(pii, id, text, exp, nexp, hits, nhits, markdown);
		free(hits);
		if (ok < 0) {
			fclose(f);
			return 1;
		}
		if (ok)
			(*right)++;
		else
			(*wrong)++;
	}
	fclose(f);
	return 0;
}

/* One type's row: a baseline line (write), a Markdown row, or the table's line with
 * its baseline (bp < 0: none). */
static void
print_row(FILE *f, int write, int markdown, const struct aif_pii *pii, int t, double p,
    double r, double bp, double br, int ok)
{
	const struct tally *y = &tally[t];
	const char *name = aif_pii_type_name(pii, t);

	if (write)
		fprintf(f, "%s\t%.4f\t%.4f\t%u\n", name, p, r, y->tp + y->fn);
	else if (markdown)
		printf("| %s | %u | %u | %u | %u | %.3f | %.3f |\n", name, y->tp + y->fn,
		    y->tp, y->fp, y->fn, p, r);
	else {
		printf("%-18s %8u %6u %6u %6u %9.4f %9.4f", name, y->tp + y->fn, y->tp, y->fp,
		    y->fn, p, r);
		if (bp >= 0)
			printf("  %.4f/%.4f%s", bp, br, ok ? "" : "  BELOW BASELINE");
		printf("\n");
	}
}

int
main(int argc, char **argv)
{
	struct aif_config	*cfg = NULL;
	struct aif_pii		*pii = NULL;
	struct aif_pii_actions	 act;
	char			 errbuf[4096], *path, *psave = NULL;
	double			 bprec[AIF_PII_MAX_TYPES] = { 0 }, brec[AIF_PII_MAX_TYPES] = { 0 };
	int			 bhave[AIF_PII_MAX_TYPES] = { 0 };
	unsigned		 right = 0, wrong = 0, passed = 0, failed = 0, cases = 0;
	int			 write = 0, markdown = 0, t;
	FILE			*f = NULL;

	if (argc < 3)
		return 2;
	write = argc > 3 && strcmp(argv[3], "--write") == 0;
	markdown = argc > 3 && strcmp(argv[3], "--markdown") == 0;
	if (aif_cfg_load_string("accuracy.yaml", config_yaml, sizeof(config_yaml) - 1,
	    &cfg, errbuf, sizeof(errbuf)) != AIF_OK ||
	    aif_pii_new(cfg, 0, &pii, errbuf, sizeof(errbuf)) != AIF_OK) {
		fprintf(stderr, "accuracy: %s\n", errbuf);
		return 1;
	}
	engine = pii;
	aif_pii_actions_for(pii, "m", "user", &act);
	for (path = strtok_r(argv[1], ",", &psave); path != NULL;
	    path = strtok_r(NULL, ",", &psave))
		if (run_corpus(path, &act, markdown, &cases, &right, &wrong) != 0)
			return 1;
	if (!write)
		(void)load_baseline(argv[2], bprec, brec, bhave);
	if (write && !floors_ok(pii))
		return 1;
	if (write && (f = fopen(argv[2], "w")) == NULL) {
		perror(argv[2]);
		return 1;
	}
	if (write)
		fprintf(f, "# baseline.tsv -- precision and recall per type on tests/pii/corpus*.tsv, "
		    "recorded by tests/pii/run.sh --record\n# type\tprecision\trecall\t"
		    "support\n");
	if (markdown)
		printf("| type | labelled | found right | false positives | missed | "
		    "precision | recall |\n|---|---:|---:|---:|---:|---:|---:|\n");
	else if (!write)
		printf("\n%-18s %8s %6s %6s %6s %9s %9s %s\n", "type", "support", "tp", "fp",
		    "fn", "precision", "recall", "baseline p/r");
	for (t = 0; t < AIF_PII_NBUILTIN; t++) {
		struct tally *y = &tally[t];
		double p = r4(ratio(y->tp, y->tp + y->fp)), r = r4(ratio(y->tp, y->tp + y->fn));
		int ok = !bhave[t] || (p >= bprec[t] && r >= brec[t]);

		if (!floor_ok(pii, t)) {
			ok = 0;
			if (!markdown) {
				printf("%-18s below its floor (precision and recall of the "
				    "floors table in tests/pii/accuracy.c)\n",
				    aif_pii_type_name(pii, t));
				failed++;
			}
		}
		print_row(f, write, markdown, pii, t, p, r, bhave[t] ? bprec[t] : -1.0,
		    brec[t], ok);
		if (!write && !markdown && bhave[t]) {
			passed += (p >= bprec[t]) + (r >= brec[t]);
			failed += (p < bprec[t]) + (r < brec[t]);
		}
	}
	if (write) {
		fclose(f);
		printf("recorded %s\n", argv[2]);
	}
	if (!markdown)
		printf("\n%u cases: %u fully right, %u with a miss or a false positive "
		    "(listed above)\n%u passed, %u failed (precision and recall per type "
		    "against %s)\n", cases, right, wrong, passed, failed,
		    write ? "the new baseline" : argv[2]);
	aif_pii_free(pii);
	aif_cfg_free(cfg);
	aif_pii_thread_cleanup();
	return failed > 0 ? 1 : 0;
}
