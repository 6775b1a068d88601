/* fuzz_pii.c -- libFuzzer target for the PII masker (core/pii*.c). The first input
 * byte picks the engine (placeholder masks, or partial masks with hashes and custom
 * rules) and the model/role policy; the rest is the text. Checks: invalid UTF-8 is
 * refused, everything else is masked or blocked; hits are sorted, disjoint, inside the
 * text and on character boundaries; the output is valid UTF-8; an allow-all policy
 * gives the input back unchanged. Any violation aborts (a crash for libFuzzer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pii.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

#define BASE								\
	"server: {listen: /tmp/x.sock, run_dir: /tmp}\n"		\
	"database: {socket: /tmp/db.sock, name: aif}\n"			\
	"models: [{id: m, adapter: openai, replicas: [{url: 'http://h:1'}]}]\n" \
	"roles: [{name: user}, {name: admin}]\n"

static const char *const configs[] = {
	BASE "pii: {enabled: true}\n",
	BASE "auth: {pepper_file: /nonexistent}\n"
	"pii:\n"
	"  mask_style: partial\n"
	"  detectors:\n"
	"    - {entity: CREDIT_CARD, action: hash}\n"
	"    - {entity: EMAIL, action: redact}\n"
	"    - {entity: KR_RRN, action: block}\n"
	"  rules:\n"
	"    - {name: name, entity: PERSON, pattern: '(?<=고객 )[가-힣]{2,4}'}\n"
	"    - {name: emp, entity: EMPLOYEE_ID, pattern: 'EMP-[0-9]{6}', action: hash}\n"
	"    - {name: card, entity: CREDIT_CARD, pattern: '[0-9]{4}(?:/[0-9]{4}){3}',"
	" validation: luhn}\n"
	"    - {name: iban, entity: IBAN, pattern: '[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}',"
	" validation: mod97}\n"
	"    - {name: member, entity: MEMBER, pattern: '[0-9]{8}', context: [회원, member]}\n"
	"  policies:\n"
	"    - roles: [admin]\n"
	"      actions: [{entity: '*', action: allow}]\n",
};
#define NCONFIGS (sizeof(configs) / sizeof(configs[0]))

static struct aif_config *cfg[NCONFIGS];
static struct aif_pii	 *pii[NCONFIGS];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 err[4096];
	size_t	 i;

	(void)argc;
	(void)argv;
	for (i = 0; i < NCONFIGS; i++)
		if (aif_cfg_load_string("fuzz.yaml", configs[i], strlen(configs[i]), &cfg[i],
		    err, sizeof(err)) != AIF_OK || aif_pii_new(cfg[i], AIF_PII_EPHEMERAL_KEY,
		    &pii[i], err, sizeof(err)) != AIF_OK) {
			fprintf(stderr, "fuzz_pii: %s\n", err);
			abort();
		}
	return 0;
}

static int
is_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aif_pii_actions	 act;
	struct aif_pii_hit	*hits = NULL;
	struct aif_pii_counts	 counts;
	const char		*text;
	char			*out = NULL, blocked[AIF_PII_TYPE_LEN];
	size_t			 len, nhits = 0, outlen = 0, i, which;
	int			 valid, admin;
	enum aif_err		 rc;

	if (size == 0)
		return 0;
	which = data[0] % NCONFIGS;
	admin = (data[0] >> 4) & 1;
	text = (const char *)data + 1;
	len = size - 1;
	valid = aif_pii_utf8_valid(text, len, NULL);
	aif_pii_actions_for(pii[which], "m", admin ? "admin" : "user", &act);

	rc = aif_pii_scan(&act, text, len, &hits, &nhits);
	if (!valid) {
		if (rc != AIF_INVALID || hits != NULL)
			abort();
		return 0;
	}
	if (rc == AIF_TOOBIG)
		return 0;		/* a pattern over its match limit: refused */
	if (rc != AIF_OK)
		abort();
	for (i = 0; i < nhits; i++) {
		if (hits[i].start >= hits[i].end || hits[i].end > len ||
		    (i > 0 && hits[i].start < hits[i - 1].end))
			abort();
		if (is_cont((unsigned char)text[hits[i].start]) ||
		    (hits[i].end < len && is_cont((unsigned char)text[hits[i].end])))
			abort();
	}
	free(hits);

	aif_pii_counts_init(&counts);
	rc = aif_pii_mask_text(&act, text, len, &out, &outlen, &counts, blocked,
	    sizeof(blocked));
	if (rc == AIF_FORBIDDEN) {
		if (out != NULL || blocked[0] == '\0')
			abort();
		return 0;
	}
	if (rc == AIF_TOOBIG)
		return 0;
	if (rc != AIF_OK || out == NULL || out[outlen] != '\0' ||
	    !aif_pii_utf8_valid(out, outlen, NULL))
		abort();
	if (which == 1 && admin && (outlen != len || memcmp(out, text, len) != 0))
		abort();		/* allow everything: nothing changes */
	free(out);
	return 0;
}
