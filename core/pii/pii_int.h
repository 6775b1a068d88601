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
	/* The passes whose starts are found byte by byte (scan.c, scan_bytewise): one
	 * loop over the text serves them all; bit p of bytewise_first[b]: pass p may
	 * start with byte b. bytewise_edged: every such pass has a left edge and starts
	 * with a printable ASCII byte only, so the loop may look at a word's first byte
	 * only. */
	uint8_t		 bytewise;		/* bit per pass */
	uint8_t		 bytewise_edged;
	uint8_t		 bytewise_first[256];
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

/* ---- detectors written in C (person.c, address.c) -------------------------------- */

/* Names and addresses are not one pattern each: they are words looked up in lists and
 * read with the words around them. They run after the pattern passes (so they can see
 * the phones and e-mails already found) and their hits carry detector
 * PII_CDET_BASE + enum pii_cdet, after every pattern detector in priority. */
enum pii_cdet {
	CDET_KR_ADDRESS, CDET_EN_ADDRESS, CDET_KR_PERSON, CDET_EN_PERSON, CDET_COUNT
};
#define PII_CDET_BASE	64
extern const char *const pii_cdet_names[CDET_COUNT];	/* "kr-address", ... */

/* The hits of one scan so far (scan.c). */
struct pii_hitvec {
	struct aif_pii_hit	*v;
	size_t			 n, cap;
};

/* Appends a hit; -1 without memory. */
int		pii_push_hit(struct pii_hitvec *hv, size_t s, size_t e, int type, int conf,
		    int det, int rule);

/* The word detectors are driven by one pass over the text (scan.c, scan_words):
 * at each Korean word and at each ASCII word that starts with a digit or a capital.
 * Each looks at a bounded number of bytes around the word (linear in the text) and
 * adds its hits to hv, next to the pattern detectors' ones, which it may read. */

/* pii_address_init() once before the others (0, or -1). At the Korean word starting
 * at i, or the digit at i: the end of the address found there (its hit pushed), or 0;
 * *err is set to AIF_NOMEM when the hit could not be pushed. */
int		pii_address_init(void);
/* 1 when an address may be read from the Korean word whose Hangul run is [ws, we):
 * it ends in 로, 길, 동, 리 or 가, or digits follow it ("강남대로110길"). */
static inline int
pii_address_kr_may(const char *buf, size_t len, size_t ws, size_t we)
{
	const unsigned char *u = (const unsigned char *)buf + we - 3;

	if (we - ws < 6)
		return 0;
	if (we < len && buf[we] >= '0' && buf[we] <= '9')
		return 1;
	/* 로 EB A1 9C, 길 EA B8 B8, 동 EB 8F 99, 리 EB A6 AC, 가 EA B0 80 */
	return (u[0] == 0xEB && ((u[1] == 0xA1 && u[2] == 0x9C) ||
	    (u[1] == 0x8F && u[2] == 0x99) || (u[1] == 0xA6 && u[2] == 0xAC))) ||
	    (u[0] == 0xEA && ((u[1] == 0xB8 && u[2] == 0xB8) ||
	    (u[1] == 0xB0 && u[2] == 0x80)));
}
size_t		pii_address_kr(const struct pii_vctx *v, size_t i, struct pii_hitvec *hv,
		    enum aif_err *err);
size_t		pii_address_en(const struct pii_vctx *v, size_t i, struct pii_hitvec *hv,
		    enum aif_err *err);

/* The name detector's state over one text (person.c): the identifiers found by the
 * patterns (a cue), the names of a list waiting for theirs. Fill with
 * pii_person_begin(), release with pii_person_end(). */
#define PII_PENDING_MAX	8
struct pii_ident;
struct pii_person {
	const struct pii_vctx	*v;
	struct pii_hitvec	*hv;
	struct pii_ident	*ids;		/* phones, e-mails, RRNs: sorted, owned */
	size_t			 nids;
	size_t			 en_last;	/* end of the last English name, or 0 */
	size_t			 pend_s[PII_PENDING_MAX], pend_e[PII_PENDING_MAX];
	size_t			 npend, pend_end;
	int			 chained;	/* the last word was a name of a list */
};
enum aif_err	pii_person_begin(struct pii_person *c, const struct pii_vctx *v,
		    struct pii_hitvec *hv);
void		pii_person_end(struct pii_person *c);
/* 1 when a name may start with the Hangul syllable at p (a surname's first): a
 * bit of pii_name_first (filled by pii_person_begin). */
#define PII_NSYL	(0xD7A4 - 0xAC00)
extern uint8_t		pii_name_first[PII_NSYL / 8 + 1];
static inline int
pii_person_kr_may(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	unsigned i = ((((unsigned)u[0] & 0x0F) << 12) | (((unsigned)u[1] & 0x3F) << 6) |
	    (u[2] & 0x3F)) - 0xAC00;

	return i < PII_NSYL && (pii_name_first[i >> 3] & (1u << (i & 7)));
}
/* The Hangul run [ws, we) (its names pushed): AIF_OK or AIF_NOMEM. Runs that
 * pii_person_kr_may() refuses may be left out. */
enum aif_err	pii_person_kr(struct pii_person *c, size_t ws, size_t we);
/* The capitalised ASCII word at i: the end of the name found there, or 0. */
size_t		pii_person_en(struct pii_person *c, size_t i, enum aif_err *err);

/* The part of an address a partial mask keeps (address.c): Korean, its 시/도 and
 * 시/군/구 (1: shown before the placeholder); English, its city and state (2: shown
 * after it). Sets [*s, *e) within p[0..n); 0 when there is none. */
int		pii_address_public_part(const char *p, size_t n, size_t *s, size_t *e);

/* The English name lists (core/pii/data/, compiled in by scripts/gen-wordlist.sh):
 * NUL-terminated names one after the other, sorted for strcmp, and where each
 * starts. */
extern const char		pii_en_given_text[];
extern const unsigned		pii_en_given_off[];
extern const unsigned long	pii_en_given_count;
extern const char		pii_en_surname_text[];
extern const unsigned		pii_en_surname_off[];
extern const unsigned long	pii_en_surname_count;

/* Matcher work of the calling thread (aif_pii_thread_work): scan.c's pcre2 calls and
 * the C detectors' word readers add to it. */
extern _Thread_local uint64_t	pii_match_work;

/* Words (words.c). A Korean word is a run of Hangul syllables and ASCII digits. */
/* End of the Korean word that starts at i, after at most max bytes. */
size_t		pii_kword_end(const char *buf, size_t len, size_t i, size_t max);
/* Start of the Korean word that ends at i, at most max bytes back. */
size_t		pii_kword_start(const char *buf, size_t i, size_t max);
/* 1 when the syllable at i is syl (3 bytes of UTF-8). */
int		pii_syl_is(const char *buf, size_t len, size_t i, const char *syl);
/* 1 when the syllable at i is one of syls[0..n) (syllables one after the other);
 * pii_syl_in takes a string literal or array. */
int		pii_syl_in_n(const char *buf, size_t len, size_t i, const char *syls,
		    size_t n);
#define pii_syl_in(buf, len, i, syls)	\
	pii_syl_in_n((buf), (len), (i), (syls), sizeof(syls) - 1)
/* A word list with a hash table built once (pii_wordset_build, before any lookup;
 * the detectors build theirs under pthread_once): lookups are a hash and a compare.
 * A list fills at most half of its slots (pii_wordset_build drops the rest);
 * labels are written in lower case. */
struct pii_wordset {
	const char *const	*list;		/* NULL-terminated, borrowed */
	uint16_t		*slot;		/* index + 1 into list, 0: empty */
	size_t			 mask;		/* slots - 1 (a power of two) */
	uint8_t			 maxlen;	/* bytes of the longest word */
};
/* A word set of `slots` (a power of two, at least twice the list's words). */
#define PII_WORDSET(list, slots)	\
	{ (list), (uint16_t[slots]){ 0 }, (slots) - 1, 0 }
void		pii_wordset_build(struct pii_wordset *ws);
/* 1 when w[0..n) is a word of ws. */
int		pii_word_in(const struct pii_wordset *ws, const char *w, size_t n);
/* Length of the longest word of ws that w[0..n) starts with (ending on a character
 * boundary), or 0. */
size_t		pii_prefix_in(const struct pii_wordset *ws, const char *w, size_t n);
/* End of the ASCII word (letters, digits, inner ' and -) that starts at i. */
size_t		pii_aword_end(const char *buf, size_t len, size_t i);
/* 1 when buf[s, e) is a capitalised word: "Smith", "McDonald", "O'Brien". */
int		pii_cap_word(const char *buf, size_t s, size_t e);
/* 1 when a label of `labels` (one to three words, ASCII compared in lower case)
 * ends just before s, with at most a few of " \t:=\"'>[(-," between, or a Korean
 * one with its particle ("이름은 "). */
int		pii_label_before(const char *buf, size_t s, const struct pii_wordset *labels);

/* 1 when c may stand between a label and its value: " \t:=\"'>[(-,". */
static inline int
pii_label_gap(unsigned char c)
{
	switch (c) {
	case ' ': case '\t': case ':': case '=': case '"': case '\'': case '>': case '[':
	case '(': case '-': case ',':
		return 1;
	default:
		return 0;
	}
}

/* Hangul syllables (U+AC00..U+D7A3) are three bytes EA B0 80 .. ED 9E A3 in UTF-8. */
static inline int
pii_hangul_at(const char *buf, size_t len, size_t i)
{
	const unsigned char *u = (const unsigned char *)buf;
	unsigned cp;

	if (i + 3 > len || u[i] < 0xEA || u[i] > 0xED)
		return 0;
	cp = ((unsigned)(u[i] & 0x0F) << 12) | ((unsigned)(u[i + 1] & 0x3F) << 6) |
	    (u[i + 2] & 0x3F);
	return cp >= 0xAC00 && cp <= 0xD7A3;
}

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
