/* pii.c -- the PII masking engine: compiles the built-in detectors (core/pii/detect.c)
 * and the custom rules of the config once, with JIT; scans a text in a few passes, each
 * one alternation of the detectors whose matches start with the same kind of character
 * (digits, letters, '+'/'(', ...; the detector that matched is told by its capture
 * group), plus one pass per custom rule; resolves overlaps; and renders each hit by
 * its action: placeholder, partial mask, removal or keyed hash.
 *
 * Speed: a start filter per pass (which first bytes and byte pairs can begin a match,
 * worked out at build time by partial matching, so it is exact) and the pass's shared
 * left edge checked in C let most positions go by without calling pcre2; the e-mail
 * and IPv6 passes only look around '@' and ':'. bench/RESULTS.md has the numbers.
 *
 * Texts are folded before matching: fullwidth digits, letters and punctuation,
 * Unicode dashes and spaces to ASCII, zero-width characters dropped; hits are mapped
 * back to the caller's bytes, so the output keeps everything around them as it was.
 *
 * Thread-safety: the engine is immutable after aif_pii_new. pcre2 match data and the
 * JIT stack are per thread (pthread thread-specific data, created on first use and
 * freed at thread exit); the shared match context only carries limits and a callback
 * that returns the calling thread's JIT stack. */
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "apikey.h"
#include "pii_int.h"

#define MATCH_LIMIT	10000000u	/* pcre2 match limit per match call */
#define DEPTH_LIMIT	10000u		/* interpreter backtracking depth */
#define HEAP_LIMIT_KB	20480u		/* interpreter heap */
#define JIT_STACK_MIN	(32u * 1024)
#define JIT_STACK_MAX	(1024u * 1024)
#define CTX_BEFORE	64		/* bytes of context looked at before a hit */
#define CTX_AFTER	32		/* and after */
#define TOKEN_MAX	(2 + AIF_PII_TYPE_LEN + 64)	/* "[TYPE:hex]" */
#define HASH_KEY_MIN	16		/* bytes of a usable hash key file */
#define HASH_LABEL	"aif-pii-hash-v1"	/* domain of the derived key */
#define MD_PAIRS	64		/* ovector pairs: capture groups of a pass + 1 */
/* Patterns tried at one place at a time. No start optimisation: pcre2 would look for
 * a required character (e-mail's '.') up to 5000 bytes ahead on every call, which is
 * quadratic on "a@a@a@..." and the like. */
#define ANCHORED	(PCRE2_ANCHORED | PCRE2_NO_START_OPTIMIZE)

/* ---- names and small checks ------------------------------------------------------- */

static const char *const builtin_names[] = {
#define NAME(n) #n,
	AIF_PII_BUILTIN_TYPES(NAME)
#undef NAME
};

static int
is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

int
aif_pii_type_name_ok(const char *name)
{
	size_t	 i;

	if (name == NULL || !(name[0] >= 'A' && name[0] <= 'Z'))
		return 0;
	for (i = 1; name[i] != '\0'; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return 0;
	return i < AIF_PII_TYPE_LEN;
}

static uint32_t
rule_options(int caseless)
{
	return PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C | (caseless ? PCRE2_CASELESS : 0);
}

int
aif_pii_rule_check(const char *pattern, int caseless, char *msg, size_t cap,
    size_t *offset)
{
	pcre2_code	*re;
	PCRE2_SIZE	 off = 0;
	uint32_t	 minlen = 0;
	int		 err = 0;

	*offset = 0;
	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	    rule_options(caseless), &err, &off, NULL);
	if (re == NULL) {
		if (pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, cap) < 0 && cap > 0)
			msg[0] = '\0';
		*offset = off;
		return -1;
	}
	if (pcre2_pattern_info(re, PCRE2_INFO_MINLENGTH, &minlen) != 0 || minlen == 0) {
		(void)snprintf(msg, cap, "the pattern can match the empty string");
		pcre2_code_free(re);
		return -1;
	}
	pcre2_code_free(re);
	return 0;
}

/* Length of the valid UTF-8 sequence at s (n > 0 bytes available), or 0: no overlong
 * forms, no surrogates, nothing over U+10FFFF (as jansson). */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))
			return 0;
		return 3;
	}
	if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		if ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

int
aif_pii_utf8_valid(const char *text, size_t n, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t	 i = 0, l;
	uint64_t w;

	while (i < n) {
		/* ASCII runs 8 bytes at a time */
		while (i + 8 <= n) {
			memcpy(&w, s + i, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		/* the common 3-byte case (Hangul, CJK): E1..EC and EE..EF need no range
		 * check beyond two continuation bytes */
		if (((s[i] >= 0xE1 && s[i] <= 0xEC) || s[i] >= 0xEE) && s[i] <= 0xEF &&
		    i + 2 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80) {
			i += 3;
			continue;
		}
		if ((l = utf8_len(s + i, n - i)) == 0) {
			if (bad != NULL)
				*bad = i;
			return 0;
		}
		i += l;
	}
	return 1;
}

const char *
aif_pii_action_name(int action)
{
	switch (action) {
	case AIF_PII_ALLOW:	return "allow";
	case AIF_PII_MASK:	return "mask";
	case AIF_PII_REDACT:	return "redact";
	case AIF_PII_HASH:	return "hash";
	case AIF_PII_BLOCK:	return "block";
	default:		return "?";
	}
}

const char *
aif_pii_type_name(const struct aif_pii *pii, int type)
{
	if (pii == NULL || type < 0 || (size_t)type >= pii->ntypes)
		return "?";
	return pii->types[type];
}

const char *
aif_pii_hit_source(const struct aif_pii *pii, const struct aif_pii_hit *h)
{
	if (h->rule >= 0 && (size_t)h->rule < pii->nrules)
		return pii->rules[h->rule].name;
	if (h->detector >= 0 && (size_t)h->detector < pii_nbuiltins)
		return pii_builtins[h->detector].name;
	return "?";
}

int
aif_pii_enabled(const struct aif_pii *pii)
{
	return pii != NULL && pii->enabled;
}

int
aif_pii_masks_responses(const struct aif_pii *pii)
{
	return pii != NULL && pii->enabled && pii->mask_responses;
}

/* ---- per-thread scratch --------------------------------------------------------- */

struct scratch {
	pcre2_match_data	*md;
	pcre2_jit_stack		*js;
};

static pthread_key_t	scratch_key;
static pthread_once_t	scratch_once = PTHREAD_ONCE_INIT;
static int		scratch_key_ok;

static void
scratch_destroy(void *p)
{
	struct scratch *sc = p;

	if (sc == NULL)
		return;
	pcre2_match_data_free(sc->md);
	pcre2_jit_stack_free(sc->js);
	free(sc);
}

static void
scratch_init(void)
{
	scratch_key_ok = pthread_key_create(&scratch_key, scratch_destroy) == 0;
}

/* The calling thread's scratch, created on first use; NULL without memory. */
static struct scratch *
scratch_get(void)
{
	struct scratch *sc;

	if (pthread_once(&scratch_once, scratch_init) != 0 || !scratch_key_ok)
		return NULL;
	if ((sc = pthread_getspecific(scratch_key)) != NULL)
		return sc;
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return NULL;
	sc->md = pcre2_match_data_create(MD_PAIRS, NULL);
	sc->js = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
	if (sc->md == NULL || sc->js == NULL ||
	    pthread_setspecific(scratch_key, sc) != 0) {
		scratch_destroy(sc);
		return NULL;
	}
	return sc;
}

void
aif_pii_thread_cleanup(void)
{
	struct scratch *sc;

	if (pthread_once(&scratch_once, scratch_init) != 0 || !scratch_key_ok)
		return;
	if ((sc = pthread_getspecific(scratch_key)) != NULL) {
		(void)pthread_setspecific(scratch_key, NULL);
		scratch_destroy(sc);
	}
}

/* pcre2 asks for the JIT stack through the shared match context. */
static pcre2_jit_stack *
jit_stack_cb(void *unused)
{
	struct scratch *sc;

	(void)unused;
	sc = scratch_key_ok ? pthread_getspecific(scratch_key) : NULL;
	return sc != NULL ? sc->js : NULL;
}

/* Maps a pcre2 match error to ours. */
static enum aif_err
match_error(int rc)
{
	switch (rc) {
	case PCRE2_ERROR_NOMEMORY:
		return AIF_NOMEM;
	case PCRE2_ERROR_MATCHLIMIT:
	case PCRE2_ERROR_DEPTHLIMIT:
	case PCRE2_ERROR_HEAPLIMIT:
	case PCRE2_ERROR_JIT_STACKLIMIT:
		return AIF_TOOBIG;
	default:
		return AIF_INVALID;
	}
}

/* ---- building the engine ---------------------------------------------------------- */

static void	errf(char *errbuf, size_t errlen, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* Appends one line to errbuf (truncating, always NUL-terminated). */
static void
errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 used;
	int	 n;

	if (errbuf == NULL || errlen == 0)
		return;
	used = strnlen(errbuf, errlen - 1);
	if (used > 0 && used + 1 < errlen) {
		errbuf[used++] = '\n';
		errbuf[used] = '\0';
	}
	if (used + 1 >= errlen)
		return;
	va_start(ap, fmt);
	n = vsnprintf(errbuf + used, errlen - used, fmt, ap);
	va_end(ap);
	if (n < 0)
		errbuf[used] = '\0';
	/* n >= room: cut on purpose, the message is still useful */
}

/* Index of type `name`, adding it when `add` and there is room; -1 otherwise. */
static int
type_index(struct aif_pii *pii, const char *name, int add)
{
	size_t	 i;

	for (i = 0; i < pii->ntypes; i++)
		if (strcmp(pii->types[i], name) == 0)
			return (int)i;
	if (!add || pii->ntypes >= AIF_PII_MAX_TYPES ||
	    strlen(name) >= AIF_PII_TYPE_LEN)
		return -1;
	memcpy(pii->types[pii->ntypes], name, strlen(name) + 1);
	return (int)pii->ntypes++;
}

static pcre2_code *
compile(const char *pattern, uint32_t options, int *err, size_t *off)
{
	pcre2_code	*re;
	PCRE2_SIZE	 eoff = 0;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options, err,
	    &eoff, NULL);
	*off = eoff;
	/* AIF_PII_NO_JIT=1 keeps the interpreter: the JIT's vector loads read up to 15
	 * bytes past a subject's end (harmless, same page), which valgrind reports */
	if (re != NULL && getenv("AIF_PII_NO_JIT") == NULL)
		(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);	/* else interpreted */
	return re;
}

/* Quotes a keyword for a pattern: ASCII punctuation escaped, the rest as is. */
static int
append_quoted(char *dst, size_t cap, size_t *used, const char *kw)
{
	for (; *kw != '\0'; kw++) {
		unsigned char c = (unsigned char)*kw;
		int punct = c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c == ' ');

		if (*used + 3 >= cap)
			return -1;
		if (punct)
			dst[(*used)++] = '\\';
		dst[(*used)++] = (char)c;
	}
	dst[*used] = '\0';
	return 0;
}

static enum aif_err
compile_rules(struct aif_pii *pii, const struct aif_config *cfg, char *errbuf,
    size_t errlen)
{
	const struct aif_pii_rule *cr;
	struct pii_rule	*r;
	char		 msg[256], *kw = NULL;
	size_t		 i, k, off, used, cap;
	int		 err, t;

	if (cfg->pii.nrules == 0)
		return AIF_OK;
	if ((pii->rules = calloc(cfg->pii.nrules, sizeof(*pii->rules))) == NULL)
		return AIF_NOMEM;
	for (i = 0; i < cfg->pii.nrules; i++) {
		cr = &cfg->pii.rules[i];
		if (!cr->enabled)
			continue;
		r = &pii->rules[pii->nrules];
		if ((t = type_index(pii, cr->entity, 1)) < 0) {
			errf(errbuf, errlen, "%s:%d:%d: pii.rules[%zu]: too many entity types",
			    cfg->path, cr->line, cr->column, i);
			return AIF_CONFIG;
		}
		r->type = t;
		r->validation = cr->validation;
		if ((r->name = strdup(cr->name)) == NULL)
			return AIF_NOMEM;
		pii->nrules++;
		if ((r->re = compile(cr->pattern, rule_options(cr->case_insensitive),
		    &err, &off)) == NULL) {
			if (pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof(msg)) < 0)
				msg[0] = '\0';
			errf(errbuf, errlen, "%s:%d:%d: pii.rules[%zu].pattern: %s (at "
			    "offset %zu of the pattern)", cfg->path, cr->line, cr->column,
			    i, msg, off);
			return AIF_CONFIG;
		}
		if (cr->ncontext == 0)
			continue;
		for (cap = 16, k = 0; k < cr->ncontext; k++)
			cap += 2 * strlen(cr->context[k]) + 1;
		if ((kw = malloc(cap)) == NULL)
			return AIF_NOMEM;
		memcpy(kw, "(?:", 4);
		used = 3;
		for (k = 0; k < cr->ncontext; k++) {
			if (k > 0)
				kw[used++] = '|';
			if (append_quoted(kw, cap, &used, cr->context[k]) != 0)
				break;
		}
		kw[used++] = ')';
		kw[used] = '\0';
		r->ctx = compile(kw, PCRE2_UTF | PCRE2_CASELESS, &err, &off);
		free(kw);
		kw = NULL;
		if (r->ctx == NULL) {
			errf(errbuf, errlen, "%s:%d:%d: pii.rules[%zu].context: cannot "
			    "compile the keywords", cfg->path, cr->line, cr->column, i);
			return AIF_CONFIG;
		}
	}
	return AIF_OK;
}

/* Appends "%s" to all[cap] at *used; -1 when it does not fit. */
static int
append(char *all, size_t cap, size_t *used, const char *s)
{
	int	 n = snprintf(all + *used, cap - *used, "%s", s);

	if (n < 0 || (size_t)n >= cap - *used)
		return -1;
	*used += (size_t)n;
	return 0;
}

/* Appends the detectors of pass p whose left edge is `left`, as
 * "|edge(?:(body a)|(body b))" (no edge and no (?:) for L_NONE; no leading '|' at the
 * start), recording each alternative's detector and capture group number. */
static int
append_pass(struct aif_pii *pii, size_t p, int left, char *all, size_t cap,
    size_t *used, unsigned *group)
{
	size_t	 i;
	uint32_t ncap;
	int	 any = 0, grouped = left != L_NONE;

	for (i = 0; i < pii_nbuiltins; i++) {
		if (!pii->det_on[i] || pii_builtins[i].pass != (int)p ||
		    pii_builtins[i].left != left)
			continue;
		if (!any && *used > 0 && append(all, cap, used, "|") != 0)
			return -1;
		if (!any && grouped && (append(all, cap, used, pii_left_edges[left]) != 0 ||
		    append(all, cap, used, "(?:") != 0))
			return -1;
		if ((any && append(all, cap, used, "|") != 0) ||
		    append(all, cap, used, "(") != 0 ||
		    append(all, cap, used, pii_builtins[i].body) != 0 ||
		    append(all, cap, used, ")") != 0)
			return -1;
		ncap = 0;
		(void)pcre2_pattern_info(pii->anchored[i], PCRE2_INFO_CAPTURECOUNT, &ncap);
		if (*group + ncap >= MD_PAIRS)
			return -1;
		pii->passes[p].det[pii->passes[p].ndet] = (uint8_t)i;
		pii->passes[p].group[pii->passes[p].ndet++] = (uint16_t)*group;
		*group += 1 + ncap;
		any = 1;
	}
	return any && grouped ? append(all, cap, used, ")") : 0;
}

/* The left edge every detector of pass p has, or L_NONE. */
static int
pass_left(const struct aif_pii *pii, size_t p)
{
	size_t	 k;
	int	 left = -1;

	for (k = 0; k < pii->passes[p].ndet; k++) {
		int l = pii_builtins[pii->passes[p].det[k]].left;
		if (left != -1 && l != left)
			return L_NONE;
		left = l;
	}
	return left < 0 ? L_NONE : left;
}

/* Works out which first bytes, and which pairs of first ASCII bytes, can begin a
 * match of pass p, by partial matching (the interpreter) of every one- and two-byte
 * subject. Exact for the pattern as written, so it never loses a match; the scan then
 * runs the anchored alternation only where the filter lets it. */
static int
start_filter(struct aif_pii *pii, size_t p)
{
	pcre2_match_data *md = pcre2_match_data_create(MD_PAIRS, NULL);
	unsigned char	 subj[2];
	unsigned	 b1, b2;
	uint32_t	 minlen = 0;
	int		 rc;

	if (md == NULL)
		return -1;
	(void)pcre2_pattern_info(pii->passes[p].re_at, PCRE2_INFO_MINLENGTH, &minlen);
	pii->passes[p].minlen = minlen;
	for (b1 = 0; b1 < 256; b1++) {
		subj[0] = (unsigned char)b1;
		rc = pcre2_match(pii->passes[p].re_at, subj, 1, 0,
		    PCRE2_PARTIAL_HARD | PCRE2_NO_JIT, md, NULL);
		pii->passes[p].first[b1] = rc >= 0 || rc == PCRE2_ERROR_PARTIAL;
		if (!pii->passes[p].first[b1])
			continue;
		pii->passes[p].nfirst++;
		for (b2 = 0; b2 < 256; b2++) {
			subj[1] = (unsigned char)b2;
			rc = pcre2_match(pii->passes[p].re_at, subj, 2, 0,
			    PCRE2_PARTIAL_HARD | PCRE2_NO_JIT, md, NULL);
			if (rc >= 0 || rc == PCRE2_ERROR_PARTIAL)
				pii->passes[p].second[b1][b2 >> 3] |=
				    (uint8_t)(1u << (b2 & 7));
		}
	}
	pcre2_match_data_free(md);
	return 0;
}

static enum aif_err
compile_builtins(struct aif_pii *pii, char *errbuf, size_t errlen)
{
	char		*all, one[4096];
	size_t		 i, cap = 256, used, off = 0, p;
	uint32_t	 t;
	unsigned	 group;
	int		 err, n, left;

	if (pii_nbuiltins > sizeof(pii->anchored) / sizeof(pii->anchored[0]))
		return AIF_CONFIG;	/* the table outgrew det_on and anchored */
	for (i = 0; i < pii_nbuiltins; i++) {
		for (t = 0; t < AIF_PII_NBUILTIN; t++)
			if ((pii_builtins[i].types & (1u << t)) && pii->builtin_on[t])
				pii->det_on[i] = 1;
		if (!pii->det_on[i])
			continue;
		n = snprintf(one, sizeof(one), "%s%s",
		    pii_left_edges[pii_builtins[i].left], pii_builtins[i].body);
		cap += (size_t)(n > 0 ? n : 0) + 16;
		if (n < 0 || (size_t)n >= sizeof(one) ||
		    (pii->anchored[i] = compile(one, ANCHORED, &err, &off)) == NULL) {
			errf(errbuf, errlen, "pii: built-in detector %s does not compile "
			    "(offset %zu)", pii_builtins[i].name, off);
			return AIF_CONFIG;
		}
	}
	if ((all = malloc(cap)) == NULL)
		return AIF_NOMEM;
	for (p = 0; p < PASS_COUNT; p++) {
		used = 0;
		group = 1;
		all[0] = '\0';
		for (left = 0; left < L_COUNT; left++)
			if (append_pass(pii, p, left, all, cap, &used, &group) != 0) {
				free(all);
				return AIF_NOMEM;
			}
		if (used == 0)
			continue;
		if ((pii->passes[p].re = compile(all, 0, &err, &off)) == NULL ||
		    (pii->passes[p].re_at = compile(all, ANCHORED, &err,
		    &off)) == NULL) {
			errf(errbuf, errlen, "pii: detector pass %zu does not compile "
			    "(offset %zu)", p, off);
			free(all);
			return AIF_CONFIG;
		}
		pii->passes[p].left = pass_left(pii, p);
		if (start_filter(pii, p) != 0) {
			free(all);
			return AIF_NOMEM;
		}
	}
	free(all);
	for (i = 0; i < CTX_COUNT; i++)
		if ((pii->ctx[i] = compile(pii_ctx_patterns[i], PCRE2_CASELESS, &err,
		    &off)) == NULL) {
			errf(errbuf, errlen, "pii: context pattern %zu does not compile "
			    "(offset %zu)", i, off);
			return AIF_CONFIG;
		}
	return AIF_OK;
}

static char **
copy_list(char *const *src, size_t n)
{
	char	**dst;
	size_t	 i;

	if ((dst = calloc(n + 1, sizeof(*dst))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if ((dst[i] = strdup(src[i])) == NULL)
			return dst;	/* caller sees the hole and fails */
	return dst;
}

static enum aif_err
copy_policies(struct aif_pii *pii, const struct aif_config *cfg)
{
	const struct aif_pii_policy *cp;
	struct pii_policy *p;
	size_t	 i, k;

	if (cfg->pii.npolicies == 0)
		return AIF_OK;
	if ((pii->policies = calloc(cfg->pii.npolicies, sizeof(*p))) == NULL)
		return AIF_NOMEM;
	pii->npolicies = cfg->pii.npolicies;
	for (i = 0; i < cfg->pii.npolicies; i++) {
		cp = &cfg->pii.policies[i];
		p = &pii->policies[i];
		p->nmodels = cp->nmodels;
		p->nroles = cp->nroles;
		if ((p->models = copy_list(cp->models, cp->nmodels)) == NULL ||
		    (p->roles = copy_list(cp->roles, cp->nroles)) == NULL)
			return AIF_NOMEM;
		for (k = 0; k < cp->nmodels; k++)
			if (p->models[k] == NULL)
				return AIF_NOMEM;
		for (k = 0; k < cp->nroles; k++)
			if (p->roles[k] == NULL)
				return AIF_NOMEM;
		if ((p->over = calloc(cp->nactions, sizeof(*p->over))) == NULL)
			return AIF_NOMEM;
		p->nover = cp->nactions;
		for (k = 0; k < cp->nactions; k++) {
			if ((p->over[k].entity = strdup(cp->actions[k].entity)) == NULL)
				return AIF_NOMEM;
			p->over[k].action = (uint8_t)cp->actions[k].action;
			p->over[k].style = (uint8_t)cp->actions[k].mask_style;
		}
	}
	return AIF_OK;
}

/* Reads the hash key (file or pepper) and derives the engine's HMAC key from it. */
static enum aif_err
load_hash_key(struct aif_pii *pii, const struct aif_config *cfg, unsigned flags,
    char *errbuf, size_t errlen)
{
	const char	*path = cfg->pii.hash_key_file != NULL ? cfg->pii.hash_key_file :
			    cfg->auth.pepper_file;
	const char	*what = cfg->pii.hash_key_file != NULL ? "pii.hash_key_file" :
			    "auth.pepper_file (pii hash key)";
	unsigned char	*raw = NULL;
	unsigned int	 mdlen = 0;
	size_t		 len = 0;
	enum aif_err	 rc;

	if (!cfg->pii.uses_hash)
		return AIF_OK;
	rc = path != NULL ? aif_apikey_load_pepper(path, &raw, &len) : AIF_IO;
	if (rc == AIF_OK && len < HASH_KEY_MIN) {
		rc = AIF_INVALID;
	}
	if (rc == AIF_OK) {
		if (HMAC(EVP_sha256(), raw, (int)len, (const unsigned char *)HASH_LABEL,
		    sizeof(HASH_LABEL) - 1, pii->hash_key, &mdlen) == NULL ||
		    mdlen != PII_HASH_KEY_LEN)
			rc = AIF_NOMEM;
		aif_apikey_pepper_free(raw, len);
		return rc;
	}
	if (rc == AIF_NOMEM)
		return rc;
	if (flags & AIF_PII_EPHEMERAL_KEY) {
		errf(errbuf, errlen, "%s:%d:%d: note: %s %s is %s; hash tokens use a "
		    "random key for this run and differ from the server's", cfg->path,
		    cfg->pii.hash_line, cfg->pii.hash_column, what,
		    path != NULL ? path : "(not set)",
		    rc == AIF_INVALID ? "empty, too short or too long" : "unreadable");
		return RAND_bytes(pii->hash_key, sizeof(pii->hash_key)) == 1 ? AIF_OK :
		    AIF_IO;
	}
	errf(errbuf, errlen, "%s:%d:%d: %s: cannot use %s as the hash key: %s",
	    cfg->path, cfg->pii.hash_line, cfg->pii.hash_column, what,
	    path != NULL ? path : "(not set)", rc == AIF_INVALID ?
	    "it must hold 16 to 1024 bytes" : "cannot read it (a regular file)");
	return AIF_IO;
}

enum aif_err
aif_pii_new(const struct aif_config *cfg, unsigned flags, struct aif_pii **out,
    char *errbuf, size_t errlen)
{
	struct aif_pii	*pii;
	uint8_t		 explicit_action[AIF_PII_MAX_TYPES] = { 0 };
	uint8_t		 explicit_style[AIF_PII_MAX_TYPES] = { 0 };
	size_t		 i;
	int		 t;
	enum aif_err	 rc;

	*out = NULL;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if ((pii = calloc(1, sizeof(*pii))) == NULL)
		return AIF_NOMEM;
	for (i = 0; i < AIF_PII_NBUILTIN; i++)
		(void)type_index(pii, builtin_names[i], 1);
	pii->enabled = cfg->pii.enabled == 1;
	if (!pii->enabled) {
		*out = pii;
		return AIF_OK;
	}
	pii->mask_responses = cfg->pii.mask_responses;
	pii->hash_hex = cfg->pii.hash_length;
	for (i = 0; i < AIF_PII_MAX_TYPES; i++) {
		pii->base_action[i] = (uint8_t)cfg->pii.default_action;
		pii->base_style[i] = (uint8_t)cfg->pii.mask_style;
		pii->builtin_on[i] = i < AIF_PII_NBUILTIN;
	}
	for (i = 0; i < cfg->pii.ndetectors; i++) {
		const struct aif_pii_detector *d = &cfg->pii.detectors[i];

		if ((t = type_index(pii, d->entity, 0)) < 0)
			continue;	/* config.c only lets built-in names through */
		pii->builtin_on[t] = (uint8_t)(d->enabled != 0);
		if (d->action != AIF_PII_UNSET) {
			pii->base_action[t] = (uint8_t)d->action;
			explicit_action[t] = 1;
		}
		if (d->mask_style != AIF_PII_STYLE_UNSET) {
			pii->base_style[t] = (uint8_t)d->mask_style;
			explicit_style[t] = 1;
		}
	}
	if ((rc = compile_rules(pii, cfg, errbuf, errlen)) != AIF_OK)
		goto fail;
	for (i = 0; i < cfg->pii.nrules; i++) {
		const struct aif_pii_rule *r = &cfg->pii.rules[i];

		if ((t = type_index(pii, r->entity, 1)) < 0)
			continue;
		if (r->action != AIF_PII_UNSET && !explicit_action[t]) {
			pii->base_action[t] = (uint8_t)r->action;
			explicit_action[t] = 1;
		}
		if (r->mask_style != AIF_PII_STYLE_UNSET && !explicit_style[t]) {
			pii->base_style[t] = (uint8_t)r->mask_style;
			explicit_style[t] = 1;
		}
	}
	rc = AIF_NOMEM;
	if ((pii->mctx = pcre2_match_context_create(NULL)) == NULL)
		goto fail;
	(void)pcre2_set_match_limit(pii->mctx, MATCH_LIMIT);
	(void)pcre2_set_depth_limit(pii->mctx, DEPTH_LIMIT);
	(void)pcre2_set_heap_limit(pii->mctx, HEAP_LIMIT_KB);
	pcre2_jit_stack_assign(pii->mctx, jit_stack_cb, NULL);
	if ((rc = compile_builtins(pii, errbuf, errlen)) != AIF_OK ||
	    (rc = copy_policies(pii, cfg)) != AIF_OK ||
	    (rc = load_hash_key(pii, cfg, flags, errbuf, errlen)) != AIF_OK)
		goto fail;
	*out = pii;
	return AIF_OK;
fail:
	if (rc == AIF_NOMEM)
		errf(errbuf, errlen, "%s: pii: out of memory", cfg->path);
	aif_pii_free(pii);
	return rc;
}

void
aif_pii_free(struct aif_pii *pii)
{
	size_t	 i, k;

	if (pii == NULL)
		return;
	for (i = 0; i < PASS_COUNT; i++) {
		pcre2_code_free(pii->passes[i].re);
		pcre2_code_free(pii->passes[i].re_at);
	}
	for (i = 0; i < sizeof(pii->anchored) / sizeof(pii->anchored[0]); i++)
		pcre2_code_free(pii->anchored[i]);
	for (i = 0; i < CTX_COUNT; i++)
		pcre2_code_free(pii->ctx[i]);
	pcre2_match_context_free(pii->mctx);
	for (i = 0; i < pii->nrules; i++) {
		free(pii->rules[i].name);
		pcre2_code_free(pii->rules[i].re);
		pcre2_code_free(pii->rules[i].ctx);
	}
	free(pii->rules);
	for (i = 0; i < pii->npolicies; i++) {
		struct pii_policy *p = &pii->policies[i];

		for (k = 0; p->models != NULL && k < p->nmodels; k++)
			free(p->models[k]);
		for (k = 0; p->roles != NULL && k < p->nroles; k++)
			free(p->roles[k]);
		free(p->models);
		free(p->roles);
		for (k = 0; p->over != NULL && k < p->nover; k++)
			free(p->over[k].entity);
		free(p->over);
	}
	free(pii->policies);
	OPENSSL_cleanse(pii->hash_key, sizeof(pii->hash_key));
	free(pii);
}

/* ---- actions in force ---------------------------------------------------------------- */

static int
any_fnmatch(char *const *patterns, size_t n, const char *s)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (fnmatch(patterns[i], s, 0) == 0)
			return 1;
	return 0;
}

void
aif_pii_actions_for(const struct aif_pii *pii, const char *model_id, const char *role,
    struct aif_pii_actions *out)
{
	const struct pii_policy *p;
	size_t	 i, k, t;

	memset(out, 0, sizeof(*out));
	out->pii = pii;
	memcpy(out->action, pii->base_action, sizeof(out->action));
	memcpy(out->style, pii->base_style, sizeof(out->style));
	for (i = 0; i < pii->npolicies; i++) {
		p = &pii->policies[i];
		if (!any_fnmatch(p->models, p->nmodels, model_id != NULL ? model_id : "") ||
		    !any_fnmatch(p->roles, p->nroles, role != NULL ? role : ""))
			continue;
		for (k = 0; k < p->nover; k++)
			for (t = 0; t < pii->ntypes; t++) {
				if (fnmatch(p->over[k].entity, pii->types[t], 0) != 0)
					continue;
				out->action[t] = p->over[k].action;
				if (p->over[k].style != AIF_PII_STYLE_UNSET)
					out->style[t] = p->over[k].style;
			}
	}
}

/* ---- folding the text ------------------------------------------------------------- */

/* If the character at p (n bytes left, valid UTF-8) folds, sets *len to its length and
 * returns its ASCII replacement, or 0 when it is dropped; returns -1 otherwise. */
static int
fold(const unsigned char *p, size_t n, size_t *len)
{
	if (p[0] == 0xC2 && n >= 2 && (p[1] == 0xA0 || p[1] == 0xAD)) {
		*len = 2;
		return p[1] == 0xA0 ? ' ' : 0;			/* NBSP, soft hyphen */
	}
	if (n < 3)
		return -1;
	*len = 3;
	if (p[0] == 0xEF && p[1] == 0xBC) {			/* U+FF00..FF3F */
		if (p[2] >= 0x90 && p[2] <= 0x99)
			return '0' + (p[2] - 0x90);
		if (p[2] >= 0xA1 && p[2] <= 0xBA)
			return 'A' + (p[2] - 0xA1);
		switch (p[2]) {
		case 0x8B: return '+';
		case 0x8D: return '-';
		case 0x8E: return '.';
		case 0x88: return '(';
		case 0x89: return ')';
		case 0x9A: return ':';
		case 0xA0: return '@';
		case 0xBF: return '_';
		default: return -1;
		}
	}
	if (p[0] == 0xEF && p[1] == 0xBD && p[2] >= 0x81 && p[2] <= 0x9A)
		return 'a' + (p[2] - 0x81);			/* fullwidth a-z */
	if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
		return 0;					/* BOM / ZWNBSP */
	if (p[0] == 0xE2 && p[1] == 0x80) {
		if (p[2] <= 0x8A || p[2] == 0xAF)
			return ' ';				/* U+2000..200A, 202F */
		if (p[2] >= 0x8B && p[2] <= 0x8D)
			return 0;				/* ZWSP, ZWNJ, ZWJ */
		if (p[2] >= 0x90 && p[2] <= 0x95)
			return '-';				/* hyphens, dashes */
		return -1;
	}
	if (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0xA0)
		return 0;					/* word joiner */
	if (p[0] == 0xE2 && p[1] == 0x88 && p[2] == 0x92)
		return '-';					/* minus sign */
	if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
		return ' ';					/* ideographic space */
	return -1;
}

/* 1 when some character of text folds: only bytes C2, E2, E3 and EF start one, so
 * memchr finds the few places worth a look. */
static int
needs_fold(const char *text, size_t len)
{
	static const unsigned char leads[] = { 0xEF, 0xE2, 0xE3, 0xC2 };
	const unsigned char *s = (const unsigned char *)text, *p;
	size_t	 k, l;

	for (k = 0; k < sizeof(leads); k++)
		for (p = s; (p = memchr(p, leads[k], len - (size_t)(p - s))) != NULL; p++)
			if (fold(p, len - (size_t)(p - s), &l) >= 0)
				return 1;
	return 0;
}

/* Writes the folded text into *buf (new) and, for each of its bytes and one past the
 * end, the offset of the byte it came from into *map (new). */
static enum aif_err
fold_text(const char *text, size_t len, char **buf, size_t *blen, uint32_t **map)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t	 i = 0, o = 0, l;
	int	 c;

	*buf = malloc(len + 1);
	*map = malloc((len + 1) * sizeof(**map));
	if (*buf == NULL || *map == NULL) {
		free(*buf);
		free(*map);
		*buf = NULL;
		*map = NULL;
		return AIF_NOMEM;
	}
	while (i < len) {
		if (s[i] >= 0xC2 && (c = fold(s + i, len - i, &l)) >= 0) {
			if (c > 0) {
				(*map)[o] = (uint32_t)i;
				(*buf)[o++] = (char)c;
			}
			i += l;
			continue;
		}
		(*map)[o] = (uint32_t)i;
		(*buf)[o++] = text[i++];
	}
	(*map)[o] = (uint32_t)len;
	(*buf)[o] = '\0';
	*blen = o;
	return AIF_OK;
}

/* ---- scanning ------------------------------------------------------------------------- */

struct hitvec {
	struct aif_pii_hit	*v;
	size_t			 n, cap;
};

static int
push_hit(struct hitvec *hv, size_t s, size_t e, int type, int conf, int det, int rule)
{
	struct aif_pii_hit *nv;
	size_t	 ncap;

	if (hv->n == hv->cap) {
		ncap = hv->cap == 0 ? 16 : hv->cap * 2;
		if ((nv = realloc(hv->v, ncap * sizeof(*nv))) == NULL)
			return -1;
		hv->v = nv;
		hv->cap = ncap;
	}
	memset(&hv->v[hv->n], 0, sizeof(hv->v[0]));
	hv->v[hv->n].start = s;
	hv->v[hv->n].end = e;
	hv->v[hv->n].type = type;
	hv->v[hv->n].confidence = conf;
	hv->v[hv->n].detector = det;
	hv->v[hv->n].rule = rule;
	hv->n++;
	return 0;
}

int
pii_type_on(const struct pii_vctx *v, int type)
{
	return type >= 0 && type < AIF_PII_MAX_TYPES && v->pii->builtin_on[type];
}

/* 1 when `re` matches in text[from, to) (a subject of its own: lookbehinds do not see
 * past `from`); -1 on a match error. */
static int
match_in(pcre2_code *re, uint32_t opts, const char *text, size_t from, size_t to,
    const struct aif_pii *pii)
{
	struct scratch *sc = scratch_get();
	int	 rc;

	if (sc == NULL || to <= from)
		return sc == NULL ? -1 : 0;
	rc = pcre2_match(re, (PCRE2_SPTR)text + from, to - from, 0, opts, sc->md,
	    pii->mctx);
	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* A window of at most `before` bytes before s and `after` bytes after e, cut to
 * character boundaries, searched for `re`. */
static int
near(pcre2_code *re, uint32_t opts, const char *buf, size_t len, size_t s, size_t e,
    size_t before, size_t after, const struct aif_pii *pii)
{
	size_t	 from = s > before ? s - before : 0, to = e + after < len ? e + after : len;

	while (from < s && ((unsigned char)buf[from] & 0xC0) == 0x80)
		from++;
	while (to > e && to < len && ((unsigned char)buf[to] & 0xC0) == 0x80)
		to--;
	if (match_in(re, opts, buf, from, s, pii) == 1)
		return 1;
	return after > 0 && match_in(re, opts, buf, e, to, pii) == 1;
}

int
pii_ctx_near(const struct pii_vctx *v, int ctx, size_t s, size_t e)
{
	if (ctx < 0 || ctx >= CTX_COUNT)
		return 0;
	return near(v->pii->ctx[ctx], 0, v->buf, v->len, s, e, CTX_BEFORE,
	    ctx == CTX_VERSION || ctx == CTX_CODE ? 0 : CTX_AFTER, v->pii);
}

/* Runs validator of detector `det` on [s, e); on success fills *c. */
static int
try_detector(const struct pii_vctx *v, size_t det, size_t s, size_t e,
    struct pii_cand *c)
{
	const struct pii_builtin *b = &pii_builtins[det];

	c->s = s;
	c->e = e;
	c->type = b->type;
	c->conf = 100;
	if (b->validate != NULL && !b->validate(v, c))
		return 0;
	return c->e > c->s && c->e <= e && c->s >= s && pii_type_on(v, c->type);
}

/* One pass: leftmost matches of the pass's alternation; when the validator of the
 * alternative that matched refuses, the later detectors of the pass get their turn at
 * the same place before the scan moves on by one byte. */
static int
is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The shared left edges in C (detect.c's LB_D and LB_A): 1 when a match may start
 * at `at`. A JSON escape right before ("\n", "\u00e9") counts as an edge. */
static int
left_edge_ok(int left, const unsigned char *u, size_t at)
{
	unsigned char prev;

	if (left == L_NONE || at == 0)
		return 1;
	prev = u[at - 1];
	if (!(is_alnum(prev) || prev == '_' || prev == '\\' || (left == L_DIGIT && prev == '-')))
		return 1;
	if (at >= 2 && u[at - 2] == '\\' && (prev == 'n' || prev == 'r' || prev == 't' ||
	    prev == 'b' || prev == 'f'))
		return 1;
	return at >= 6 && u[at - 6] == '\\' && u[at - 5] == 'u' && is_hex(u[at - 4]) &&
	    is_hex(u[at - 3]) && is_hex(u[at - 2]) && is_hex(prev);
}

/* The characters a match of PASS_DIGIT is made of (see pii_int.h). */
static const uint8_t digit_run[128] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1, [' '] = 1, ['.'] = 1, ['/'] = 1, ['('] = 1,
	[')'] = 1, ['-'] = 1,
};

static int	try_anchored(const struct aif_pii *pii, struct scratch *sc, size_t det,
		    const char *buf, size_t len, size_t at, struct pii_cand *c,
		    enum aif_err *err);

/* Pass p has just matched (sc->md): the detector whose group matched, else another
 * detector of the pass that reads the same place differently, is validated and its hit
 * pushed. Returns 1 with *end just past the hit, 0 when no detector keeps the match,
 * -1 with *err set on an error. Shared by both ways of finding a pass's starts. */
static int
resolve_match(const struct aif_pii *pii, size_t p, struct scratch *sc, const char *buf,
    size_t len, struct hitvec *hv, size_t *end, enum aif_err *err)
{
	struct pii_vctx	 v = { pii, buf, len };
	struct pii_cand	 c;
	PCRE2_SIZE	*ov = pcre2_get_ovector_pointer(sc->md);
	size_t		 s = ov[0], e = ov[1], k, det;
	int		 found;

	for (k = 0; k < pii->passes[p].ndet; k++)
		if (ov[2 * pii->passes[p].group[k]] != PCRE2_UNSET)
			break;
	if (e <= s || k == pii->passes[p].ndet)
		return 0;
	det = pii->passes[p].det[k];
	found = try_detector(&v, det, s, e, &c);
	for (size_t j = k + 1; found == 0 && j < pii->passes[p].ndet; j++) {
		det = pii->passes[p].det[j];
		found = try_anchored(pii, sc, det, buf, len, s, &c, err);
	}
	if (found <= 0)
		return found;
	if (push_hit(hv, c.s, c.e, c.type, c.conf, (int)det, -1) != 0) {
		*err = AIF_NOMEM;
		return -1;
	}
	*end = c.e;
	return 1;
}

static enum aif_err
scan_pass(const struct aif_pii *pii, size_t p, struct scratch *sc, const char *buf,
    size_t len, struct hitvec *hv)
{
	const unsigned char *u = (const unsigned char *)buf;
	size_t		 at, run, end;
	enum aif_err	 err = AIF_OK;
	int		 rc;

	for (at = 0; at < len; at++) {
		/* the start filter: most bytes cannot begin a match of this pass */
		if (!pii->passes[p].first[u[at]])
			continue;
		if (at + 1 < len &&
		    !(pii->passes[p].second[u[at]][u[at + 1] >> 3] & (1u << (u[at + 1] & 7))))
			continue;
		if (!left_edge_ok(pii->passes[p].left, u, at))
			continue;
		if (p == PASS_DIGIT) {
			/* too short a run of digits and separators for any match */
			for (run = 0; at + run < len && run < pii->passes[p].minlen &&
			    u[at + run] < 128 && digit_run[u[at + run]]; run++)
				;
			if (run < pii->passes[p].minlen) {
				at += run > 0 ? run - 1 : 0;
				continue;
			}
		}
		rc = pcre2_match(pii->passes[p].re_at, (PCRE2_SPTR)buf, len, at, 0, sc->md,
		    pii->mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			continue;
		if (rc < 0)
			return match_error(rc);
		rc = resolve_match(pii, p, sc, buf, len, hv, &end, &err);
		if (rc < 0)
			return err;
		if (rc > 0)
			at = end - 1;		/* the loop steps past the hit */
	}
	return AIF_OK;
}

/* A pass whose matches begin with one of a few bytes: the JIT's own search (memchr
 * for one byte) finds the starts faster than a loop here could. Otherwise as
 * scan_pass. */
static enum aif_err
scan_pass_jit(const struct aif_pii *pii, size_t p, struct scratch *sc, const char *buf,
    size_t len, struct hitvec *hv)
{
	PCRE2_SIZE	*ov = pcre2_get_ovector_pointer(sc->md);
	size_t		 pos = 0, s, end;
	enum aif_err	 err = AIF_OK;
	int		 rc;

	while (pos < len) {
		rc = pcre2_match(pii->passes[p].re, (PCRE2_SPTR)buf, len, pos, 0, sc->md,
		    pii->mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0)
			return match_error(rc);
		s = ov[0];		/* before resolve_match reuses the match data */
		rc = resolve_match(pii, p, sc, buf, len, hv, &end, &err);
		if (rc < 0)
			return err;
		pos = rc > 0 ? end : (s > pos ? s : pos) + 1;
	}
	return AIF_OK;
}

/* Tries detector `det` anchored at `at`: 1 and *c filled when it matches and its
 * validator keeps it, 0 when not, -1 on a match error (rc in *err). */
static int
try_anchored(const struct aif_pii *pii, struct scratch *sc, size_t det, const char *buf,
    size_t len, size_t at, struct pii_cand *c, enum aif_err *err)
{
	struct pii_vctx	 v = { pii, buf, len };
	PCRE2_SIZE	*ov = pcre2_get_ovector_pointer(sc->md);
	int		 rc;

	rc = pcre2_match(pii->anchored[det], (PCRE2_SPTR)buf, len, at, 0, sc->md,
	    pii->mctx);
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc < 0) {
		*err = match_error(rc);
		return -1;
	}
	return ov[1] > ov[0] && try_detector(&v, det, ov[0], ov[1], c);
}

static int
is_local_char(unsigned char c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static int
is_v6_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	    c == ':' || c == '.';
}

/* The e-mail pass, driven by the '@' signs: an address can only start within the 64
 * local-part characters before one, so only those places are tried. */
static enum aif_err
scan_at_signs(const struct aif_pii *pii, size_t det, struct scratch *sc,
    const char *buf, size_t len, struct hitvec *hv)
{
	struct pii_cand	 c;
	const char	*at;
	size_t		 pos = 0, a, from;
	enum aif_err	 err = AIF_OK;
	int		 rc;

	while (pos < len && (at = memchr(buf + pos, '@', len - pos)) != NULL) {
		a = (size_t)(at - buf);
		for (from = a; from > pos && a - from < 64 &&
		    is_local_char((unsigned char)buf[from - 1]); from--)
			;
		for (rc = 0; from < a && rc == 0; from++)
			rc = try_anchored(pii, sc, det, buf, len, from, &c, &err);
		if (rc < 0)
			return err;
		if (rc > 0) {
			if (push_hit(hv, c.s, c.e, c.type, c.conf, (int)det, -1) != 0)
				return AIF_NOMEM;
			pos = c.e;
		} else
			pos = a + 1;
	}
	return AIF_OK;
}

/* The IPv6 pass, driven by the colons: an address is one run of hex digits, colons and
 * dots with two colons or more, and it starts where the run starts. */
static enum aif_err
scan_colon_runs(const struct aif_pii *pii, size_t det, struct scratch *sc,
    const char *buf, size_t len, struct hitvec *hv)
{
	struct pii_cand	 c;
	const char	*colon;
	size_t		 pos = 0, a, b, i, ncolons;
	enum aif_err	 err = AIF_OK;
	int		 rc;

	while (pos < len && (colon = memchr(buf + pos, ':', len - pos)) != NULL) {
		for (a = (size_t)(colon - buf); a > pos &&
		    is_v6_char((unsigned char)buf[a - 1]); a--)
			;
		for (b = (size_t)(colon - buf), ncolons = 0; b < len &&
		    is_v6_char((unsigned char)buf[b]); b++)
			ncolons += buf[b] == ':';
		pos = b;
		if (ncolons < 2)
			continue;
		for (i = a, rc = 0; i < b && rc == 0; i++) {
			if (i > a && buf[i - 1] != ':' && buf[i - 1] != '.')
				continue;	/* the left edge needs a run start */
			rc = try_anchored(pii, sc, det, buf, len, i, &c, &err);
		}
		if (rc < 0)
			return err;
		if (rc > 0) {
			if (push_hit(hv, c.s, c.e, c.type, c.conf, (int)det, -1) != 0)
				return AIF_NOMEM;
			pos = c.e > pos ? c.e : pos;
		}
	}
	return AIF_OK;
}

static enum aif_err
scan_builtins(const struct aif_pii *pii, struct scratch *sc, const char *buf,
    size_t len, struct hitvec *hv)
{
	size_t		 p;
	enum aif_err	 rc;

	for (p = 0; p < PASS_COUNT; p++) {
		if (pii->passes[p].re == NULL)
			continue;
		/* passes of one detector that a character marks are driven by it */
		if (p == PASS_EMAIL && pii->passes[p].ndet == 1)
			rc = scan_at_signs(pii, pii->passes[p].det[0], sc, buf, len, hv);
		else if (p == PASS_HEX && pii->passes[p].ndet == 1)
			rc = scan_colon_runs(pii, pii->passes[p].det[0], sc, buf, len, hv);
		else if (pii->passes[p].nfirst <= 4)
			rc = scan_pass_jit(pii, p, sc, buf, len, hv);
		else
			rc = scan_pass(pii, p, sc, buf, len, hv);
		if (rc != AIF_OK)
			return rc;
	}
	return AIF_OK;
}

/* Digits of [s, e) pass Luhn (12..19 of them). */
static int
rule_luhn(const char *buf, size_t s, size_t e)
{
	char	 d[20];
	size_t	 n = 0;

	for (; s < e; s++) {
		if (buf[s] < '0' || buf[s] > '9')
			continue;
		if (n == sizeof(d))
			return 0;
		d[n++] = buf[s];
	}
	return n >= 12 && aif_pii_luhn_ok(d, n);
}

static int
rule_mod97(const char *buf, size_t s, size_t e)
{
	char	 d[36];
	size_t	 n = 0;

	for (; s < e; s++) {
		if (buf[s] == ' ')
			continue;
		if (n == sizeof(d))
			return 0;
		d[n++] = buf[s];
	}
	return aif_pii_iban_ok(d, n);
}

static enum aif_err
scan_rules(const struct aif_pii *pii, struct scratch *sc, const char *buf, size_t len,
    struct hitvec *hv)
{
	const struct pii_rule *r;
	PCRE2_SIZE	*ov = pcre2_get_ovector_pointer(sc->md);
	size_t		 i, pos, s, e;
	int		 rc, ok;

	for (i = 0; i < pii->nrules; i++) {
		r = &pii->rules[i];
		for (pos = 0; pos < len; ) {
			rc = pcre2_match(r->re, (PCRE2_SPTR)buf, len, pos,
			    PCRE2_NO_UTF_CHECK, sc->md, pii->mctx);
			if (rc == PCRE2_ERROR_NOMATCH)
				break;
			if (rc < 0)
				return match_error(rc);
			s = ov[0];
			e = ov[1];
			if (e <= s) {			/* \K tricks: step one character */
				pos = (s > pos ? s : pos) + 1;
				while (pos < len && ((unsigned char)buf[pos] & 0xC0) == 0x80)
					pos++;
				continue;
			}
			ok = r->validation == AIF_PII_VALIDATE_LUHN ? rule_luhn(buf, s, e) :
			    r->validation == AIF_PII_VALIDATE_MOD97 ? rule_mod97(buf, s, e) :
			    1;
			if (ok && r->ctx != NULL)
				ok = near(r->ctx, PCRE2_NO_UTF_CHECK, buf, len, s, e,
				    CTX_BEFORE, CTX_AFTER, pii) == 1;
			if (ok && push_hit(hv, s, e, r->type, 100, -1, (int)i) != 0)
				return AIF_NOMEM;
			pos = e;
		}
	}
	return AIF_OK;
}

static int
hit_cmp(const void *a, const void *b)
{
	const struct aif_pii_hit *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if ((x->rule >= 0) != (y->rule >= 0))
		return x->rule >= 0 ? -1 : 1;		/* custom rules first */
	if (x->detector != y->detector)
		return x->detector < y->detector ? -1 : 1;	/* then by priority */
	if (x->end != y->end)
		return x->end > y->end ? -1 : 1;	/* then the longer */
	return 0;
}

enum aif_err
aif_pii_scan(const struct aif_pii_actions *act, const char *text, size_t len,
    struct aif_pii_hit **hits, size_t *nhits)
{
	const struct aif_pii *pii = act->pii;
	struct hitvec	 hv = { NULL, 0, 0 };
	struct scratch	*sc;
	char		*fbuf = NULL;
	uint32_t	*map = NULL;
	const char	*buf = text;
	size_t		 blen = len, i, k, last;
	enum aif_err	 rc;

	*hits = NULL;
	*nhits = 0;
	if (len > AIF_PII_MAX_TEXT)
		return AIF_TOOBIG;
	if (text == NULL && len > 0)
		return AIF_INVALID;
	if (len > 0 && !aif_pii_utf8_valid(text, len, NULL))
		return AIF_INVALID;
	if (!pii->enabled || len == 0)
		return AIF_OK;
	if ((sc = scratch_get()) == NULL)
		return AIF_NOMEM;
	if (needs_fold(text, len)) {
		if ((rc = fold_text(text, len, &fbuf, &blen, &map)) != AIF_OK)
			return rc;
		buf = fbuf;
	}
	if ((rc = scan_builtins(pii, sc, buf, blen, &hv)) != AIF_OK ||
	    (rc = scan_rules(pii, sc, buf, blen, &hv)) != AIF_OK)
		goto out;
	if (hv.n > 1)
		qsort(hv.v, hv.n, sizeof(hv.v[0]), hit_cmp);
	/* Keep the first of overlapping hits; map back; set the actions. */
	for (i = 0, k = 0, last = 0; i < hv.n; i++) {
		struct aif_pii_hit h = hv.v[i];

		if (k > 0 && h.start < last)
			continue;
		last = h.end;
		if (map != NULL) {
			h.start = map[h.start];
			h.end = map[h.end];
		}
		h.action = act->action[h.type];
		h.style = act->style[h.type];
		hv.v[k++] = h;
	}
	hv.n = k;
	*hits = hv.v;
	*nhits = hv.n;
	hv.v = NULL;
	rc = AIF_OK;
out:
	free(hv.v);
	free(fbuf);
	free(map);
	return rc;
}

/* ---- rendering ----------------------------------------------------------------------- */

struct outbuf {
	char	*p;
	size_t	 n, cap;	/* cap includes room for the NUL */
};

/* Appends; the buffer was sized for the worst case, so running out is a bug caught
 * here rather than an overflow. */
static int
put(struct outbuf *o, const char *s, size_t n)
{
	if (n >= o->cap - o->n)
		return -1;
	memcpy(o->p + o->n, s, n);
	o->n += n;
	return 0;
}

static int
putc_(struct outbuf *o, char c)
{
	return put(o, &c, 1);
}

/* Folds span text[s, e) like the scan did (for partial masks and hashes): new, NUL-
 * terminated, *n bytes. */
static char *
folded_span(const char *text, size_t s, size_t e, size_t *n)
{
	char	*fb = NULL;
	uint32_t *map = NULL;

	if (!needs_fold(text + s, e - s)) {
		if ((fb = malloc(e - s + 1)) == NULL)
			return NULL;
		memcpy(fb, text + s, e - s);
		fb[e - s] = '\0';
		*n = e - s;
		return fb;
	}
	if (fold_text(text + s, e - s, &fb, n, &map) != AIF_OK)
		return NULL;
	free(map);
	return fb;
}

/* Generic partial mask: keeps the last 4 of 6+ ASCII alphanumerics (separators
 * stay), else the first character; every other character becomes '*'. */
static int
partial_generic(struct outbuf *o, const char *p, size_t n)
{
	size_t	 i, alnum = 0, seen = 0, l;

	for (i = 0; i < n; i++)
		alnum += is_alnum((unsigned char)p[i]);
	if (alnum >= 6) {
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)p[i];
			if (is_alnum(c)) {
				if (putc_(o, ++seen > alnum - 4 ? (char)c : '*') != 0)
					return -1;
			} else if (c < 0x80) {
				if (putc_(o, (char)c) != 0)
					return -1;
			} else {
				l = utf8_len((const unsigned char *)p + i, n - i);
				i += (l > 0 ? l : 1) - 1;
				if (putc_(o, '*') != 0)
					return -1;
			}
		}
		return 0;
	}
	for (i = 0; i < n; i += l) {
		l = utf8_len((const unsigned char *)p + i, n - i);
		if (l == 0)
			l = 1;
		if (i == 0 ? put(o, p, l) : putc_(o, '*'))
			return -1;
	}
	return 0;
}

/* Keeps the digits at positions < keep_head and >= ndigits - keep_tail. */
static int
partial_digits(struct outbuf *o, const char *p, size_t n, size_t keep_head,
    size_t keep_tail)
{
	size_t	 i, nd = 0, k = 0;

	for (i = 0; i < n; i++)
		nd += p[i] >= '0' && p[i] <= '9';
	for (i = 0; i < n; i++) {
		char c = p[i];
		if (c >= '0' && c <= '9') {
			if (k >= keep_head && k + keep_tail < nd)
				c = '*';
			k++;
		}
		if (putc_(o, c) != 0)
			return -1;
	}
	return 0;
}

static int
partial(struct outbuf *o, int type, const char *p, size_t n)
{
	size_t	 i, head = 0, groups = 0;
	const char *at;

	switch (type) {
	case AIF_PII_T_EMAIL:
		if ((at = memchr(p, '@', n)) == NULL)
			break;
		return putc_(o, p[0]) || put(o, "***", 3) ||
		    put(o, at, (size_t)(p + n - at));
	case AIF_PII_T_PHONE:
		/* the first group (and the country's, after '+') and the last 4 digits */
		for (i = 0; i < n; i++) {
			if (p[i] >= '0' && p[i] <= '9') {
				head++;
				continue;
			}
			if (head > 0 && ++groups == (p[0] == '+' ? 2u : 1u))
				break;
			if (head > 0 && p[0] != '+')
				break;
		}
		if (i == n)
			head = p[0] == '+' ? 4 : 3;
		return partial_digits(o, p, n, head, 4);
	case AIF_PII_T_KR_RRN:
	case AIF_PII_T_KR_FRN:
		return partial_digits(o, p, n, 7, 0);
	case AIF_PII_T_IPV4:
		for (i = 0; i < n && groups < 2; i++)
			groups += p[i] == '.';
		if (put(o, p, i) != 0)
			return -1;
		for (; i < n; i++)
			if (putc_(o, p[i] >= '0' && p[i] <= '9' ? '*' : p[i]) != 0)
				return -1;
		return 0;
	case AIF_PII_T_IPV6:
		for (i = 0; i < n && p[i] != ':'; i++)
			;
		return put(o, p, i) || put(o, ":****", 5);
	case AIF_PII_T_SECRET:
		if (n > 10 && memcmp(p, "-----", 5) == 0)
			return put(o, "[SECRET]", 8);
		for (i = 0; i < n && i < 8 && p[i] != '-' && p[i] != '_'; i++)
			;
		if (i == n || i == 8)
			i = n > 8 ? 4 : 0;
		else
			i++;
		return put(o, p, i) || put(o, "****", 4);
	default:
		break;
	}
	return partial_generic(o, p, n);
}

/* Canonical form of a value for its hash, so spellings of one value agree. */
static size_t
canonical(int type, const char *p, size_t n, char *out)
{
	size_t	 i, k = 0;

	switch (type) {
	case AIF_PII_T_EMAIL:
		for (i = 0; i < n; i++)
			out[k++] = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] - 'A' + 'a') : p[i];
		return k;
	case AIF_PII_T_IBAN:
		for (i = 0; i < n; i++)
			if (is_alnum((unsigned char)p[i]))
				out[k++] = p[i] >= 'a' && p[i] <= 'z' ?
				    (char)(p[i] - 'a' + 'A') : p[i];
		return k;
	case AIF_PII_T_PHONE:
	case AIF_PII_T_KR_RRN:
	case AIF_PII_T_KR_FRN:
	case AIF_PII_T_KR_BRN:
	case AIF_PII_T_CREDIT_CARD:
	case AIF_PII_T_KR_DRIVER_LICENSE:
	case AIF_PII_T_KR_BANK_ACCOUNT:
	case AIF_PII_T_US_SSN:
		for (i = 0; i < n; i++)
			if (p[i] >= '0' && p[i] <= '9')
				out[k++] = p[i];
		/* +82 10-... and 010-... are one number */
		if (type == AIF_PII_T_PHONE && n > 0 && p[0] == '+' && k > 2 &&
		    out[0] == '8' && out[1] == '2') {
			out[0] = '0';
			memmove(out + 1, out + 2, k - 2);
			k--;
		}
		return k;
	default:
		memcpy(out, p, n);
		return n;
	}
}

static int
render_hash(struct outbuf *o, const struct aif_pii *pii, int type, const char *p,
    size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	const char	*name = pii->types[type];
	size_t		 nlen = strlen(name), clen, i;
	char		*msg;
	int		 rc = -1;

	if ((msg = malloc(nlen + 1 + n + 1)) == NULL)
		return -1;
	memcpy(msg, name, nlen + 1);			/* the type and a NUL */
	clen = canonical(type, p, n, msg + nlen + 1);
	if (HMAC(EVP_sha256(), pii->hash_key, sizeof(pii->hash_key),
	    (const unsigned char *)msg, nlen + 1 + clen, md, &mdlen) == NULL ||
	    mdlen * 2 < (unsigned)pii->hash_hex)
		goto out;
	if (putc_(o, '[') || put(o, name, nlen) || putc_(o, ':'))
		goto out;
	for (i = 0; i < (size_t)pii->hash_hex / 2; i++)
		if (putc_(o, hex[md[i] >> 4]) || putc_(o, hex[md[i] & 15]))
			goto out;
	rc = putc_(o, ']');
out:
	OPENSSL_cleanse(msg, nlen + 1 + n + 1);
	free(msg);
	OPENSSL_cleanse(md, sizeof(md));
	return rc;
}

static int
render(struct outbuf *o, const struct aif_pii_actions *act, const char *text,
    const struct aif_pii_hit *h)
{
	const struct aif_pii *pii = act->pii;
	const char	*name = pii->types[h->type];
	char		*p;
	size_t		 n = 0;
	int		 rc;

	switch (h->action) {
	case AIF_PII_ALLOW:
		return put(o, text + h->start, h->end - h->start);
	case AIF_PII_REDACT:
		return 0;
	case AIF_PII_HASH:
	case AIF_PII_MASK:
	case AIF_PII_BLOCK:
	default:
		break;
	}
	if (h->action != AIF_PII_HASH && h->style != AIF_PII_STYLE_PARTIAL)
		return putc_(o, '[') || put(o, name, strlen(name)) || putc_(o, ']');
	if ((p = folded_span(text, h->start, h->end, &n)) == NULL)
		return -1;
	rc = h->action == AIF_PII_HASH ? render_hash(o, pii, h->type, p, n) :
	    partial(o, h->type, p, n);
	OPENSSL_cleanse(p, n);
	free(p);
	return rc;
}

enum aif_err
aif_pii_apply(const struct aif_pii_actions *act, const char *text, size_t len,
    const struct aif_pii_hit *hits, size_t nhits, char **out, size_t *outlen)
{
	struct outbuf	 o = { NULL, 0, 0 };
	size_t		 i, pos = 0, span;

	*out = NULL;
	*outlen = 0;
	o.cap = len + 1;
	for (i = 0; i < nhits; i++) {
		if (hits[i].start < pos || hits[i].end > len || hits[i].end < hits[i].start)
			return AIF_INVALID;
		span = hits[i].end - hits[i].start;
		o.cap += TOKEN_MAX + span + 8;	/* the worst of every rendering */
		pos = hits[i].end;
	}
	if ((o.p = malloc(o.cap)) == NULL)
		return AIF_NOMEM;
	for (i = 0, pos = 0; i < nhits; i++) {
		if (put(&o, text + pos, hits[i].start - pos) != 0 ||
		    render(&o, act, text, &hits[i]) != 0)
			goto fail;
		pos = hits[i].end;
	}
	if (put(&o, text + pos, len - pos) != 0)
		goto fail;
	o.p[o.n] = '\0';
	*out = o.p;
	*outlen = o.n;
	return AIF_OK;
fail:
	free(o.p);
	return AIF_NOMEM;
}

/* ---- counts ------------------------------------------------------------------------- */

void
aif_pii_counts_init(struct aif_pii_counts *c)
{
	memset(c, 0, sizeof(*c));
}

void
pii_count(struct aif_pii_counts *c, const char *type, int acted)
{
	size_t	 i;

	for (i = 0; i < c->ntypes; i++)
		if (strcmp(c->by[i].type, type) == 0)
			break;
	if (i == c->ntypes) {
		if (i == AIF_PII_MAX_TYPES)
			return;
		(void)snprintf(c->by[i].type, sizeof(c->by[i].type), "%s", type);
		c->ntypes++;
	}
	if (c->by[i].found < UINT32_MAX)
		c->by[i].found++;
	if (acted && c->by[i].acted < UINT32_MAX)
		c->by[i].acted++;
}

enum aif_err
aif_pii_counts_json(const struct aif_pii_counts *c, char **out)
{
	json_t	*o = NULL, *allowed = NULL;
	size_t	 i;
	enum aif_err rc = AIF_NOMEM;

	*out = NULL;
	if (c == NULL || c->ntypes == 0)
		return AIF_OK;
	if ((o = json_object()) == NULL)
		goto out;
	for (i = 0; i < c->ntypes; i++) {
		if (c->by[i].acted > 0 && json_object_set_new(o, c->by[i].type,
		    json_integer(c->by[i].acted)) != 0)
			goto out;
		if (c->by[i].found == c->by[i].acted)
			continue;
		if (allowed == NULL &&
		    (allowed = json_object()) == NULL)
			goto out;
		if (json_object_set_new(allowed, c->by[i].type,
		    json_integer(c->by[i].found - c->by[i].acted)) != 0)
			goto out;
	}
	if (allowed != NULL && json_object_set(o, "allowed", allowed) != 0)
		goto out;
	if ((*out = json_dumps(o, JSON_COMPACT)) != NULL)
		rc = AIF_OK;
out:
	json_decref(allowed);
	json_decref(o);
	return rc;
}

void
aif_pii_block_error(const char *type, struct aif_oai_error *err)
{
	aif_oai_error_set(err, 400, "invalid_request_error", "pii_blocked", NULL,
	    "The request contains personal data of type %s, which this model does not "
	    "accept. Remove it and try again.", type != NULL ? type : "?");
}

/* ---- the text API ------------------------------------------------------------------- */

enum aif_err
aif_pii_mask_text(const struct aif_pii_actions *act, const char *text, size_t len,
    char **out, size_t *outlen, struct aif_pii_counts *counts, char *blocked,
    size_t cap)
{
	struct aif_pii_hit *hits = NULL;
	size_t		 nhits = 0, i;
	enum aif_err	 rc;

	*out = NULL;
	*outlen = 0;
	if (blocked != NULL && cap > 0)
		blocked[0] = '\0';
	if ((rc = aif_pii_scan(act, text, len, &hits, &nhits)) != AIF_OK)
		return rc;
	for (i = 0; i < nhits; i++) {
		if (counts != NULL)
			pii_count(counts, act->pii->types[hits[i].type],
			    hits[i].action != AIF_PII_ALLOW);
		if (hits[i].action == AIF_PII_BLOCK && rc == AIF_OK) {
			rc = AIF_FORBIDDEN;
			if (blocked != NULL && cap > 0)
				(void)snprintf(blocked, cap, "%s",
				    act->pii->types[hits[i].type]);
		}
	}
	if (rc == AIF_OK)
		rc = aif_pii_apply(act, text, len, hits, nhits, out, outlen);
	free(hits);
	return rc;
}
