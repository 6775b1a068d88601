/* pii_int.h -- private to core/pii*.c: the engine's layout, the built-in detector table
 * (core/pii/detect.c) and the helpers the detectors call back into (core/pii/scan.c).
 * Nothing here is part of the public API (core/pii/pii.h). */
#ifndef AIF_PII_INT_H
#define AIF_PII_INT_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "pii.h"
#include "util.h"

#define PII_HASH_KEY_LEN	32	/* bytes of the derived HMAC key */
#define MD_PAIRS	64		/* ovector pairs: capture groups of a pass + 1 */
/* Patterns tried at one place at a time. No start optimisation: pcre2 would look for
 * a required character (e-mail's '.') up to 5000 bytes ahead on every call, which is
 * quadratic on "a@a@a@..." and the like. */
#define ANCHORED	(PCRE2_ANCHORED | PCRE2_NO_START_OPTIMIZE)

/* Keyword groups looked for around a candidate (caseless, byte mode). */
enum pii_ctx {
	CTX_BANK, CTX_DL, CTX_PASSPORT, CTX_BRN, CTX_SSN, CTX_RRN, CTX_PHONE,
	CTX_CODE,		/* just before: "품번 01012345678" is no phone */
	CTX_VERSION,		/* just before: "version 1.2.3.4" is no IP */
	CTX_COUNT
};

/* A candidate a validator looks at and may change: it may shrink `e`, pick the
 * type among those its detector reports and set the confidence. */
struct pii_cand {
	size_t	 s, e;		/* bytes of the (normalised) text */
	int	 type;
	int	 conf;
};

/* What a validator sees: the whole normalised text, for checksums and context. */
struct pii_vctx {
	const struct aif_pii	*pii;
	const char		*buf;
	size_t			 len;
};

/* Returns 1 to keep the candidate (possibly changed), 0 to drop it. */
typedef int (*pii_validate_fn)(const struct pii_vctx *, struct pii_cand *);

/* Built-in detectors are matched in a few passes, each one alternation of the
 * detectors whose matches start with the same kind of character, so that pcre2's
 * start-of-match bitmap skips the rest of the text (Hangul, for the digit pass). */
/* Every match of PASS_DIGIT consists of digits and " ./()-" only (core/pii/scan.c skips
 * runs of them shorter than the pass's shortest match): keep it so when adding a
 * detector to that pass. */
enum pii_pass {
	PASS_DIGIT, PASS_ALPHA, PASS_EMAIL, PASS_PUNCT, PASS_HEX, PASS_KO, PASS_PEM,
	PASS_COUNT
};

/* The left edge a detector's pattern starts with; shared by its pass's alternation so
 * that the lookbehind runs once per position, not once per detector. A detector whose
 * body adds a stricter edge of its own (ipv4, nanp-phone) still names the shared one:
 * the scan checks the shared edge in C before it runs the pattern. Every detector of
 * PASS_DIGIT has L_DIGIT and every one of PASS_ALPHA L_ALPHA. */
enum pii_left {
	L_NONE, L_DIGIT, L_ALPHA, L_COUNT
};

struct pii_builtin {
	const char	*name;		/* shown by --explain: "kr-mobile" */
	int		 pass;		/* enum pii_pass */
	int		 type;		/* default type (enum aif_pii_builtin) */
	uint32_t	 types;		/* every type it may report (bit per type) */
	int		 left;		/* enum pii_left, put before body */
	const char	*body;		/* PCRE2, byte mode, ASCII-bounded matches */
	pii_validate_fn	 validate;	/* NULL: the regex decides */
};

extern const struct pii_builtin	pii_builtins[];
extern const size_t		pii_nbuiltins;
extern const char *const	pii_ctx_patterns[CTX_COUNT];
extern const char *const	pii_left_edges[L_COUNT];

struct pii_rule {			/* a compiled custom rule */
	char		*name;
	int		 type;
	int		 validation;	/* enum aif_pii_validation */
	pcre2_code	*re;
	pcre2_code	*ctx;		/* keywords, or NULL */
};

struct pii_policy {			/* a compiled policy */
	char		**models, **roles;
	size_t		 nmodels, nroles;
	size_t		 nover;
	struct {
		char	*entity;	/* name or fnmatch pattern */
		uint8_t	 action, style;	/* style UNSET: unchanged */
	} *over;
};

struct aif_pii {
	int		 enabled;
	int		 mask_responses;
	size_t		 ntypes;
	char		 types[AIF_PII_MAX_TYPES][AIF_PII_TYPE_LEN];
	uint8_t		 base_action[AIF_PII_MAX_TYPES];
	uint8_t		 base_style[AIF_PII_MAX_TYPES];
	uint8_t		 builtin_on[AIF_PII_MAX_TYPES];	/* built-in detection on */

	pcre2_match_context *mctx;	/* limits and the per-thread JIT stack */
	struct {
		pcre2_code *re;		/* "(det a)|(det b)|...": one alternation */
		pcre2_code *re_at;	/* the same, anchored */
		uint8_t	 first[256];	/* a match may start with this byte */
		uint8_t	 second[256][32]; /* ... with b1 then b2 (bit set) */
		size_t	 nfirst;	/* bytes set in first[] */
		size_t	 minlen;	/* shortest match */
		int	 left;		/* enum pii_left every detector shares, or
					   L_NONE */
		size_t	 ndet;
		uint8_t	 det[64];	/* detector of each alternative */
		uint16_t group[64];	/* its capture group number */
	} passes[PASS_COUNT];
	pcre2_code	*anchored[64];	/* each built-in alone, anchored (retries) */
	uint8_t		 det_on[64];	/* built-in detector i is in its pass */
	pcre2_code	*ctx[CTX_COUNT];

	struct pii_rule	*rules;
	size_t		 nrules;
	struct pii_policy *policies;
	size_t		 npolicies;

	int		 hash_hex;	/* hex digits of a token */
	int		 vocab_clean;	/* no schema word holds an entity (json.c) */
	unsigned char	 hash_key[PII_HASH_KEY_LEN];
};

/* 1 when a keyword of group `ctx` occurs within the window around [s, e) (64 bytes
 * before and, except CTX_VERSION, 32 after). */
int		pii_ctx_near(const struct pii_vctx *v, int ctx, size_t s, size_t e);

/* 1 when no word of the request schemas' vocabulary (core/pii/json.c) holds an entity
 * for this engine, so the walk may skip them; 0 otherwise or on error. */
int		pii_vocab_clean(const struct aif_pii *pii);

/* Adds one entity of `type` to *c (acted: not allowed); a full table drops it. */
void		pii_count(struct aif_pii_counts *c, const char *type, int acted);

/* What pii_mask found in a text. */
struct pii_found {
	size_t	 n;		/* entities, allowed ones included */
	int	 blocked;	/* type of the first one blocked, or -1 */
	int	 acted;		/* type of the first one masked, redacted, hashed or
				   blocked, or -1 */
};

/* Scans text (len bytes, borrowed) under act, adds its entities to counts (may be
 * NULL) and says what it found in *f. When out is not NULL, nothing is blocked and
 * something is acted on, *out is the masked text (new, *outlen bytes); otherwise it is
 * left NULL. Errors as aif_pii_scan (nothing found, nothing counted). The one core of
 * aif_pii_mask_text and the request walk (json.c). */
enum aif_err	pii_mask(const struct aif_pii_actions *act, const char *text, size_t len,
		    struct aif_pii_counts *counts, struct pii_found *f, char **out,
		    size_t *outlen);

/* 1 when the built-in detection of `type` is on. */
int		pii_type_on(const struct pii_vctx *v, int type);

/* ---- shared by the engine's files (pii.c, scan.c, fold.c, render.c) ----------- */

static inline int
pii_is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* 1 when some character of text folds (fold.c). */
int		 aif_pii_needs_fold(const char *text, size_t len);

/* Writes the folded text into *buf (new) and, for each of its bytes and one past the
 * end, the offset of the byte it came from into *map (new). */
enum aif_err	 aif_pii_fold_text(const char *text, size_t len, char **buf, size_t *blen,
		    uint32_t **map);

/* pcre2's JIT stack callback: the calling thread's stack (scan.c). */
pcre2_jit_stack	*aif_pii_jit_stack(void *unused);

#endif /* AIF_PII_INT_H */
