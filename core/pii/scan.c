/* scan.c -- finds the PII in a text (aif_pii_scan): folds it (fold.c), runs each pass
 * of the engine (pii.c) over it and each custom rule, validates candidates with their
 * detector's checks and the keywords around them, and resolves overlaps.
 *
 * Speed: a start filter per pass (which first bytes and byte pairs can begin a match,
 * worked out at build time by partial matching, so it is exact) and the pass's shared
 * left edge checked in C let most positions go by without calling pcre2; the e-mail
 * and IPv6 passes only look around '@' and ':'. bench/RESULTS.md has the numbers.
 *
 * Thread-safety: pcre2 match data and the JIT stack are per thread (pthread
 * thread-specific data, created on first use and freed at thread exit); the shared
 * match context only carries limits and a callback that returns the calling thread's
 * JIT stack (aif_pii_jit_stack). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pii_int.h"

#define JIT_STACK_MIN	(32u * 1024)
#define JIT_STACK_MAX	(1024u * 1024)
#define CTX_BEFORE	64		/* bytes of context looked at before a hit */
#define CTX_AFTER	32		/* and after */

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
pcre2_jit_stack *
aif_pii_jit_stack(void *unused)
{
	struct scratch *sc;

	(void)unused;
	sc = scratch_key_ok ? pthread_getspecific(scratch_key) : NULL;
	return sc != NULL ? sc->js : NULL;
}

/* ---- matcher work -------------------------------------------------------------------- */

/* Every pcre2 call of a scan goes through counted_match(), which adds the subject bytes
 * the call could look at to the calling thread's counter (aif_pii_thread_work): from
 * the start offset to the end of the match when there is one; with no match (or an
 * error), to the end of the subject, since a search or pcre2's start optimisations
 * (the look-ahead for a required character) may read that far -- except for a pattern
 * compiled with PCRE2_ANCHORED and PCRE2_NO_START_OPTIMIZE (ANCHORED above), which
 * tries its one start position only: 1. A scan is linear when this sum is a bounded
 * multiple of the length of its text. Thread-local: no locking, no shared cache line.
 * The detectors written in C (person.c, address.c) add the bytes their word readers
 * step over (words.c) and one per byte of each of their passes. */
_Thread_local uint64_t	pii_match_work;

uint64_t
aif_pii_thread_work(void)
{
	return pii_match_work;
}

/* `anchored`: re was compiled with ANCHORED (the call site knows; asking pcre2 on
 * every failed match would cost more than the counting). */
static int
counted_match(const pcre2_code *re, int anchored, const char *subj, size_t len,
    size_t start, uint32_t opts, pcre2_match_data *md, pcre2_match_context *mctx)
{
	int	 rc = pcre2_match(re, (PCRE2_SPTR)subj, len, start, opts, md, mctx);
	size_t	 end;

	if (rc >= 0) {
		end = pcre2_get_ovector_pointer(md)[1];
		pii_match_work += end > start ? end - start : 1;
	} else if (anchored)
		pii_match_work += 1;
	else
		pii_match_work += len > start ? len - start : 1;
	return rc;
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

/* ---- scanning ------------------------------------------------------------------------- */

int
pii_push_hit(struct pii_hitvec *hv, size_t s, size_t e, int type, int conf, int det,
    int rule)
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
	rc = counted_match(re, 0, text + from, to - from, 0, opts, sc->md, pii->mctx);
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
	size_t from = s > before ? s - before : 0, to = e + after < len ? e + after : len;

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
	if (!(pii_is_alnum(prev) || prev == '_' || prev == '\\' ||
	        (left == L_DIGIT && prev == '-')))
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
    size_t len, struct pii_hitvec *hv, size_t *end, enum aif_err *err)
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
	if (pii_push_hit(hv, c.s, c.e, c.type, c.conf, (int)det, -1) != 0) {
		*err = AIF_NOMEM;
		return -1;
	}
	*end = c.e;
	return 1;
}

/* Pass p at `at` (a byte it may start with): the start filter's second byte, the
 * left edge, then its anchored alternation. Sets *next past a hit (the pass resumes
 * there) or past a digit run too short for any match. 0, or -1 with *err set. */
static int
pass_at(const struct aif_pii *pii, size_t p, struct scratch *sc, const char *buf,
    size_t len, struct pii_hitvec *hv, size_t at, size_t *next, enum aif_err *err)
{
	const unsigned char *u = (const unsigned char *)buf;
	size_t		 run, end;
	int		 rc;

	if (at + 1 < len && !(pii->passes[p].second[u[at]][u[at + 1] >> 3] &
	    (1u << (u[at + 1] & 7))))
		return 0;
	if (!left_edge_ok(pii->passes[p].left, u, at))
		return 0;
	if (p == PASS_DIGIT) {
		/* too short a run of digits and separators for any match */
		for (run = 0; at + run < len && run < pii->passes[p].minlen &&
		    u[at + run] < 128 && digit_run[u[at + run]]; run++)
			;
		if (run < pii->passes[p].minlen) {
			*next = at + (run > 0 ? run : 1);
			return 0;
		}
	}
	rc = counted_match(pii->passes[p].re_at, 1, buf, len, at, 0, sc->md, pii->mctx);
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc < 0) {
		*err = match_error(rc);
		return -1;
	}
	if ((rc = resolve_match(pii, p, sc, buf, len, hv, &end, err)) < 0)
		return -1;
	if (rc > 0)
		*next = end;
	return 0;
}

/* Eight bytes at a time (SWAR), little-endian only (the lowest set bit is the first
 * byte): between8 sets the high bit of each byte of w that lies strictly between m
 * and n, exactly for ASCII bytes and never for a byte >= 0x80 ("hasbetween", Sean
 * Eron Anderson's Bit Twiddling Hacks). */
#define ONES8	UINT64_C(0x0101010101010101)
#define HIGHS8	UINT64_C(0x8080808080808080)
#define SWAR_LE	(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

static inline uint64_t
between8(uint64_t w, uint64_t m, uint64_t n)
{
	return (ONES8 * (127 + n) - (w & ONES8 * 127)) & ~w &
	    ((w & ONES8 * 127) + ONES8 * (127 - m)) & HIGHS8;
}

/* Letters, digits and '_': a byte after one of them is no left edge. */
static inline uint64_t
word8(uint64_t w)
{
	return between8(w, '/', ':') | between8(w, '@', '[') | between8(w, '`', '{') |
	    between8(w, '^', '`');
}

/* The passes of bit mask m (bytewise_first of u[at]) at `at`. 0, or -1 with *err. */
static int
bytewise_at(const struct aif_pii *pii, struct scratch *sc, const char *buf, size_t len,
    struct pii_hitvec *hv, size_t at, size_t *next, enum aif_err *err)
{
	unsigned m = pii->bytewise_first[(unsigned char)buf[at]];

	for (size_t p = 0; m != 0; p++, m >>= 1)
		if ((m & 1) && at >= next[p] &&
		    pass_at(pii, p, sc, buf, len, hv, at, &next[p], err) != 0)
			return -1;
	return 0;
}

/* The passes found byte by byte, all in one loop over the text: at each byte the
 * start filter tells which of them may start there (most bytes: none). When every
 * such pass has a left edge and starts with a printable ASCII byte (bytewise_edged),
 * eight bytes are looked at together and only the printable ones whose left
 * neighbour is no letter, digit or '_' go to the filter: a word's first byte, never
 * its inside, never Hangul. Eight bytes near a backslash are read one by one, since
 * JSON escapes ("\nJohn", "\u00e9John") leave edges inside a word. */
static enum aif_err
scan_bytewise(const struct aif_pii *pii, struct scratch *sc, const char *buf,
    size_t len, struct pii_hitvec *hv)
{
	const unsigned char *u = (const unsigned char *)buf;
	size_t		 at = 0, next[PASS_COUNT] = { 0 };
	enum aif_err	 err = AIF_OK;
	uint64_t	 w, pw, bw, c;
	size_t		 head = SWAR_LE && pii->bytewise_edged && len >= 16 ? 8 : len;

	for (; at < head; at++)		/* all of a short text; else the first 8 */
		if (bytewise_at(pii, sc, buf, len, hv, at, next, &err) != 0)
			return err;
	for (; at + 8 <= len; at += 8) {
		memcpy(&w, u + at, 8);
		memcpy(&pw, u + at - 1, 8);
		memcpy(&bw, u + at - 6, 8);
		if ((between8(w, '[', ']') | between8(bw, '[', ']')) != 0)
			c = HIGHS8;		/* a backslash: each byte */
		else
			c = between8(w, ' ', 0x7F) & ~word8(pw);
		for (; c != 0; c &= c - 1)
			if (bytewise_at(pii, sc, buf, len, hv,
			    at + ((size_t)__builtin_ctzll(c) >> 3), next, &err) != 0)
				return err;
	}
	for (; at < len; at++)		/* the tail */
		if (bytewise_at(pii, sc, buf, len, hv, at, next, &err) != 0)
			return err;
	return AIF_OK;
}

/* A pass whose matches begin with one of a few bytes: the JIT's own search (memchr
 * for one byte) finds the starts faster than a loop here could. Otherwise as
 * scan_pass. */
static enum aif_err
scan_pass_jit(const struct aif_pii *pii, size_t p, struct scratch *sc, const char *buf,
    size_t len, struct pii_hitvec *hv)
{
	PCRE2_SIZE	*ov = pcre2_get_ovector_pointer(sc->md);
	size_t		 pos = 0, s, end;
	enum aif_err	 err = AIF_OK;
	int		 rc;

	while (pos < len) {
		rc = counted_match(pii->passes[p].re, 0, buf, len, pos, 0, sc->md,
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

	rc = counted_match(pii->anchored[det], 1, buf, len, at, 0, sc->md, pii->mctx);
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
	return pii_is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' ||
	    c == '-';
}

static int
is_v6_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

/* The e-mail pass, driven by the '@' signs: an address can only start within the 64
 * local-part characters before one, so only those places are tried. */
static enum aif_err
scan_at_signs(const struct aif_pii *pii, size_t det, struct scratch *sc,
    const char *buf, size_t len, struct pii_hitvec *hv)
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
			if (pii_push_hit(hv, c.s, c.e, c.type, c.conf, (int)det, -1) != 0)
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
    const char *buf, size_t len, struct pii_hitvec *hv)
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
			if (pii_push_hit(hv, c.s, c.e, c.type, c.conf, (int)det, -1) != 0)
				return AIF_NOMEM;
			pos = c.e > pos ? c.e : pos;
		}
	}
	return AIF_OK;
}

/* The bytes a word detector may start at: ASCII digits 1-9 (an English house
 * number), capitals (an English name) and the lead bytes of Hangul syllables. */
enum { W_DIGIT = 1, W_UPPER = 2, W_HANGUL = 4, W_ALNUM = 8 };
static const uint8_t word_start[256] = {
	['0'] = W_ALNUM, ['1' ... '9'] = W_DIGIT | W_ALNUM, ['A' ... 'Z'] = W_UPPER | W_ALNUM,
	['a' ... 'z'] = W_ALNUM, [0xEA ... 0xED] = W_HANGUL,
};

/* Characters that glue a word to the one before it: no English house number starts
 * after these ("$12", "x-1", "3.5"), no name after those of G_NAME ("a.Smith"). */
enum { G_NUMBER = 1, G_NAME = 2 };
static const uint8_t glue[256] = {
	['.'] = G_NUMBER | G_NAME, [','] = G_NUMBER, ['$'] = G_NUMBER | G_NAME,
	['#'] = G_NUMBER | G_NAME, ['-'] = G_NUMBER | G_NAME, ['/'] = G_NUMBER | G_NAME,
	[':'] = G_NUMBER, ['+'] = G_NUMBER, ['_'] = G_NUMBER | G_NAME,
	['\\'] = G_NUMBER | G_NAME, ['@'] = G_NAME, ['\''] = G_NAME,
};

/* 1 when an English word detector of `kind` may start at i: no letter, digit or
 * glue of that kind right before it. */
static inline int
ascii_word_start(const unsigned char *u, size_t i, int kind)
{
	return i == 0 || (!(word_start[u[i - 1]] & W_ALNUM) && !(glue[u[i - 1]] & kind));
}

/* The first byte at or after i where a word detector may start, or len. */
static inline size_t
next_start(const unsigned char *u, size_t len, size_t i)
{
	uint64_t w, m;

	/* bytes >= 0x80, digits 1-9 and capitals, eight at a time; the table below
	 * looks at each again */
	while (SWAR_LE && i + 8 <= len) {
		memcpy(&w, u + i, 8);
		m = (w & HIGHS8) | between8(w, '0', ':') | between8(w, '@', '[');
		if (m != 0)
			return i + ((size_t)__builtin_ctzll(m) >> 3);
		i += 8;
	}
	while (i < len && (word_start[u[i]] | W_ALNUM) == W_ALNUM)
		i++;
	return i;
}

/* The end of the run of Hangul lead bytes (3 bytes each) that starts at i (valid
 * UTF-8: a lead byte EA..ED always starts three bytes). */
static inline size_t
hangul_run_end(const unsigned char *u, size_t len, size_t i)
{
	size_t	 we;

	for (we = i + 3; we + 3 <= len && (word_start[u[we]] & W_HANGUL); we += 3)
		;
	pii_match_work += we - i;
	return we;
}

/* One pass for the word detectors (person.c, address.c): at each Korean word and
 * each ASCII word starting with a digit or a capital, the detectors that are on; a
 * found address is stepped over. Lower-case and other bytes are skipped fast. */
static enum aif_err
scan_words(const struct aif_pii *pii, const struct pii_vctx *v, struct pii_hitvec *hv)
{
	const unsigned char *u = (const unsigned char *)v->buf;
	const int	 addr = pii->builtin_on[AIF_PII_T_ADDRESS];
	const int	 person = pii->builtin_on[AIF_PII_T_PERSON];
	struct pii_person ps;
	size_t		 len = v->len, i = 0, e, we;
	enum aif_err	 err = AIF_OK;
	uint8_t		 cls;

	if ((addr && pii_address_init() != 0) ||
	    (person && pii_person_begin(&ps, v, hv) != AIF_OK))
		return AIF_NOMEM;
	pii_match_work += len;
	while (i < len && err == AIF_OK) {
		if ((i = next_start(u, len, i)) >= len)
			break;
		cls = word_start[u[i]];
		if ((cls | W_ALNUM) == W_ALNUM) {
			i++;			/* a byte the fast test let through */
			continue;
		}
		e = 0;
		if (cls & W_HANGUL) {
			if (!pii_hangul_at(v->buf, len, i)) {
				i++;
				continue;
			}
			/* Korean words one after the other, a space apart */
			for (;;) {
				we = hangul_run_end(u, len, i);
				e = addr && pii_address_kr_may(v->buf, len, i, we) ?
				    pii_address_kr(v, i, hv, &err) : 0;
				if (e == 0 && person && we - i >= 6 &&
				    pii_person_kr_may(v->buf + i))
					err = err != AIF_OK ? err : pii_person_kr(&ps, i, we);
				i = e > we ? e : we;
				if (e > 0 || err != AIF_OK || i + 4 > len || u[i] != ' ' ||
				    !(word_start[u[i + 1]] & W_HANGUL) ||
				    !pii_hangul_at(v->buf, len, i + 1))
					break;
				i++;
			}
			continue;
		}
		if (addr && (cls & W_DIGIT) && ascii_word_start(u, i, G_NUMBER))
			e = pii_address_en(v, i, hv, &err);
		else if (person && (cls & W_UPPER) && ascii_word_start(u, i, G_NAME))
			e = pii_person_en(&ps, i, &err);
		for (we = i + 1; we < len && (word_start[u[we]] & W_ALNUM); we++)
			;
		i = e > we ? e : we;
	}
	if (person)
		pii_person_end(&ps);
	return err;
}

static enum aif_err
scan_builtins(const struct aif_pii *pii, struct scratch *sc, const char *buf,
    size_t len, struct pii_hitvec *hv)
{
	struct pii_vctx	 v = { pii, buf, len };
	size_t		 p;
	enum aif_err	 rc;

	for (p = 0; p < PASS_COUNT; p++) {
		if (pii->passes[p].re == NULL)
			continue;
		/* passes of one detector that a character marks are driven by it */
		if (p == PASS_EMAIL && pii->passes[p].ndet == 1)
			rc = scan_at_signs(pii, pii->passes[p].det[0], sc, buf, len, hv);
		else if (p == PASS_HEX && pii->passes[p].ndet == 1)
			rc = scan_colon_runs(
			    pii, pii->passes[p].det[0], sc, buf, len, hv);
		else if (pii->passes[p].nfirst <= 4)
			rc = scan_pass_jit(pii, p, sc, buf, len, hv);
		else
			continue;		/* bytewise, below */
		if (rc != AIF_OK)
			return rc;
	}
	if (pii->bytewise != 0 && (rc = scan_bytewise(pii, sc, buf, len, hv)) != AIF_OK)
		return rc;
	/* names and addresses read the words around them, after the patterns */
	if (pii->builtin_on[AIF_PII_T_ADDRESS] || pii->builtin_on[AIF_PII_T_PERSON])
		return scan_words(pii, &v, hv);
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
    struct pii_hitvec *hv)
{
	const struct pii_rule *r;
	PCRE2_SIZE	*ov = pcre2_get_ovector_pointer(sc->md);
	size_t		 i, pos, s, e;
	int		 rc, ok;

	for (i = 0; i < pii->nrules; i++) {
		r = &pii->rules[i];
		for (pos = 0; pos < len; ) {
			rc = counted_match(r->re, 0, buf, len, pos, PCRE2_NO_UTF_CHECK,
			    sc->md, pii->mctx);
			if (rc == PCRE2_ERROR_NOMATCH)
				break;
			if (rc < 0)
				return match_error(rc);
			s = ov[0];
			e = ov[1];
			if (e <= s) { /* \K tricks: step one character */
				pos = (s > pos ? s : pos) + 1;
				while (
				    pos < len && ((unsigned char)buf[pos] & 0xC0) == 0x80)
					pos++;
				continue;
			}
			ok = r->validation == AIF_PII_VALIDATE_LUHN ? rule_luhn(buf, s, e)
			    : r->validation == AIF_PII_VALIDATE_MOD97
			    ? rule_mod97(buf, s, e)
			    : 1;
			if (ok && r->ctx != NULL)
				ok = near(r->ctx, PCRE2_NO_UTF_CHECK, buf, len, s, e,
				    CTX_BEFORE, CTX_AFTER, pii) == 1;
			if (ok && pii_push_hit(hv, s, e, r->type, 100, -1, (int)i) != 0)
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
	struct pii_hitvec	 hv = { NULL, 0, 0 };
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
	if (aif_pii_needs_fold(text, len)) {
		if ((rc = aif_pii_fold_text(text, len, &fbuf, &blen, &map)) != AIF_OK)
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
