/* pii.c -- the PII masking engine: compiles the built-in detectors (core/pii/detect.c)
 * and the custom rules of the config once, with JIT, into passes (each one
 * alternation of the detectors whose matches start with the same kind of character:
 * digits, letters, '+'/'(', ...; the detector that matched is told by its capture
 * group) with a start filter each; derives the keyed-hash key; picks the actions in
 * force for a model and role; counts hits. Scanning is scan.c, folding fold.c and
 * rendering render.c.
 *
 * Thread-safety: the engine is immutable after aif_pii_new; the per-thread pcre2
 * state lives in scan.c. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "secret.h"
#include "pii_int.h"
#include "walk.h"

#define MATCH_LIMIT	10000000u	/* pcre2 match limit per match call */
#define DEPTH_LIMIT	10000u		/* interpreter backtracking depth */
#define HEAP_LIMIT_KB	20480u		/* interpreter heap */
#define HASH_LABEL	"aif-pii-hash-v1"	/* domain of the derived key */

/* ---- names and small checks ------------------------------------------------------- */

static const char *const builtin_names[] = {
#define NAME(n) #n,
	AIF_PII_BUILTIN_TYPES(NAME)
#undef NAME
};

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
	if (h->detector >= PII_CDET_BASE && h->detector < PII_CDET_BASE + CDET_COUNT)
		return pii_cdet_names[h->detector - PII_CDET_BASE];
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

/* ---- building the engine ---------------------------------------------------------- */

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
		(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* else interpreted */
	return re;
}

/* Quotes a keyword for a pattern: ASCII punctuation escaped, the rest as is. */
static int
append_quoted(char *dst, size_t cap, size_t *used, const char *kw)
{
	for (; *kw != '\0'; kw++) {
		unsigned char c = (unsigned char)*kw;
		int punct = c < 0x80 &&
		    !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
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
compile_rules(struct aif_pii *pii, const struct aif_config *cfg, struct loader *ld)
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
			aif_walk_error_line(ld, cr->line, cr->column,
			    "pii.rules[%zu]: too many entity types", i);
			return AIF_CONFIG;
		}
		r->type = t;
		r->validation = cr->validation;
		if ((r->name = strdup(cr->name)) == NULL)
			return AIF_NOMEM;
		pii->nrules++;
		if ((r->re = compile(cr->pattern,
		         aif_pii_rule_options(cr->case_insensitive), &err, &off)) ==
		    NULL) {
			if (pcre2_get_error_message(
			        err, (PCRE2_UCHAR *)msg, sizeof(msg)) < 0)
				msg[0] = '\0';
			aif_walk_error_line(ld, cr->line, cr->column, "pii.rules[%zu]."
			    "pattern: %s (at offset %zu of the pattern)", i, msg, off);
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
			aif_walk_error_line(ld, cr->line, cr->column, "pii.rules[%zu]."
			    "context: cannot compile the keywords", i);
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
		if (!any && grouped &&
		    (append(all, cap, used, pii_left_edges[left]) != 0 ||
		        append(all, cap, used, "(?:") != 0))
			return -1;
		if ((any && append(all, cap, used, "|") != 0) ||
		    append(all, cap, used, "(") != 0 ||
		    append(all, cap, used, pii_builtins[i].body) != 0 ||
		    append(all, cap, used, ")") != 0)
			return -1;
		ncap = 0;
		(void)pcre2_pattern_info(
		    pii->anchored[i], PCRE2_INFO_CAPTURECOUNT, &ncap);
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
compile_builtins(struct aif_pii *pii, struct loader *ld)
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
			aif_walk_error_plain(ld, "pii: built-in detector %s does not "
			    "compile (offset %zu)", pii_builtins[i].name, off);
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
			aif_walk_error_plain(ld, "pii: detector pass %zu does not "
			    "compile (offset %zu)", p, off);
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
	pii->bytewise_edged = 1;
	for (p = 0; p < PASS_COUNT; p++) {
		if (pii->passes[p].re == NULL || pii->passes[p].nfirst <= 4 ||
		    ((p == PASS_EMAIL || p == PASS_HEX) && pii->passes[p].ndet == 1))
			continue;
		pii->bytewise |= (uint8_t)(1u << p);
		if (pii->passes[p].left == L_NONE)
			pii->bytewise_edged = 0;
		for (i = 0; i < 256; i++)
			if (pii->passes[p].first[i]) {
				pii->bytewise_first[i] |= (uint8_t)(1u << p);
				if (i <= ' ' || i >= 0x7F)
					pii->bytewise_edged = 0;
			}
	}
	for (i = 0; i < CTX_COUNT; i++)
		if ((pii->ctx[i] = compile(pii_ctx_patterns[i], PCRE2_CASELESS, &err,
		    &off)) == NULL) {
			aif_walk_error_plain(ld, "pii: context pattern %zu does not "
			    "compile (offset %zu)", i, off);
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

/* Reads the hash key (aif_pii_hash_key_read: file or pepper) and derives the engine's
 * HMAC key from it. */
static enum aif_err
load_hash_key(struct aif_pii *pii, const struct aif_config *cfg, unsigned flags,
    struct loader *ld)
{
	unsigned char	*raw = NULL;
	unsigned int	 mdlen = 0;
	size_t		 len = 0;
	const char	*what;
	char		 why[AIF_PII_KEY_WHY_MAX];
	enum aif_err	 rc;

	if (!cfg->pii.uses_hash)
		return AIF_OK;
	rc = aif_pii_hash_key_read(cfg, &raw, &len, &what, why, sizeof(why));
	if (rc == AIF_OK) {
		if (HMAC(EVP_sha256(), raw, (int)len, (const unsigned char *)HASH_LABEL,
		    sizeof(HASH_LABEL) - 1, pii->hash_key, &mdlen) == NULL ||
		    mdlen != PII_HASH_KEY_LEN)
			rc = AIF_NOMEM;
		aif_secret_free(raw, len);
		return rc;
	}
	if (rc == AIF_NOMEM)
		return rc;
	if (flags & AIF_PII_EPHEMERAL_KEY) {
		aif_walk_error_line(ld, cfg->pii.hash_line, cfg->pii.hash_column,
		    "note: %s: %s; hash tokens use a random key for this run and differ "
		    "from the server's", what, why);
		return RAND_bytes(pii->hash_key, sizeof(pii->hash_key)) == 1 ? AIF_OK :
		    AIF_IO;
	}
	aif_walk_error_line(ld, cfg->pii.hash_line, cfg->pii.hash_column, "%s: %s", what,
	    why);
	return AIF_IO;
}

enum aif_err
aif_pii_new(const struct aif_config *cfg, unsigned flags, struct aif_pii **out,
    char *errbuf, size_t errlen)
{
	struct aif_pii	*pii;
	struct loader	 ld;
	uint8_t		 explicit_action[AIF_PII_MAX_TYPES] = { 0 };
	uint8_t		 explicit_style[AIF_PII_MAX_TYPES] = { 0 };
	size_t		 i;
	int		 t;
	enum aif_err	 rc;

	*out = NULL;
	aif_walk_errors(&ld, cfg->path, errbuf, errlen);
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
	if ((rc = compile_rules(pii, cfg, &ld)) != AIF_OK)
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
	pcre2_jit_stack_assign(pii->mctx, aif_pii_jit_stack, NULL);
	if ((rc = compile_builtins(pii, &ld)) != AIF_OK ||
	    (rc = copy_policies(pii, cfg)) != AIF_OK ||
	    (rc = load_hash_key(pii, cfg, flags, &ld)) != AIF_OK)
		goto fail;
	pii->vocab_clean = pii_vocab_clean(pii);
	*out = pii;
	return AIF_OK;
fail:
	if (rc == AIF_NOMEM)
		aif_walk_error_plain(&ld, "pii: out of memory");
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
		if (!any_fnmatch(
		        p->models, p->nmodels, model_id != NULL ? model_id : "") ||
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
aif_pii_block_error(const char *type, struct aif_error *err)
{
	AIF_ERROR(err, AIF_E_PII_BLOCKED, NULL, type != NULL ? type : "?");
}

/* ---- the text API ------------------------------------------------------------------- */

enum aif_err
pii_mask(const struct aif_pii_actions *act, const char *text, size_t len,
    struct aif_pii_counts *counts, struct pii_found *f, char **out, size_t *outlen)
{
	struct aif_pii_hit *hits = NULL;
	size_t		 i;
	enum aif_err	 rc;

	f->n = 0;
	f->blocked = f->acted = -1;
	if (out != NULL) {
		*out = NULL;
		*outlen = 0;
	}
	if ((rc = aif_pii_scan(act, text, len, &hits, &f->n)) != AIF_OK || f->n == 0)
		return rc;
	for (i = 0; i < f->n; i++) {
		if (counts != NULL)
			pii_count(counts, aif_pii_type_name(act->pii, hits[i].type),
			    hits[i].action != AIF_PII_ALLOW);
		if (hits[i].action == AIF_PII_BLOCK && f->blocked < 0)
			f->blocked = hits[i].type;
		if (hits[i].action != AIF_PII_ALLOW && f->acted < 0)
			f->acted = hits[i].type;
	}
	if (out != NULL && f->blocked < 0 && f->acted >= 0)
		rc = aif_pii_apply(act, text, len, hits, f->n, out, outlen);
	free(hits);
	return rc;
}

enum aif_err
aif_pii_mask_text(const struct aif_pii_actions *act, const char *text, size_t len,
    char **out, size_t *outlen, struct aif_pii_counts *counts, char *blocked,
    size_t cap)
{
	struct pii_found f;
	enum aif_err	 rc;

	if (blocked != NULL && cap > 0)
		blocked[0] = '\0';
	if ((rc = pii_mask(act, text, len, counts, &f, out, outlen)) != AIF_OK)
		return rc;
	if (f.blocked >= 0) {
		if (blocked != NULL && cap > 0)
			(void)snprintf(blocked, cap, "%s",
			    aif_pii_type_name(act->pii, f.blocked));
		return AIF_FORBIDDEN;
	}
	if (*out == NULL)	/* nothing to change: a copy */
		return aif_pii_apply(act, text, len, NULL, 0, out, outlen);
	return AIF_OK;
}
