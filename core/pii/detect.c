/* detect.c -- the built-in PII detectors: one PCRE2 pattern each (byte mode, ASCII
 * only except Korean keywords, so every match starts and ends on an ASCII byte and
 * thus on a UTF-8 boundary) plus the validation its format allows: checksums (Luhn,
 * ISO 7064 mod 97, the RRN/FRN and BRN check digits), calendar dates, address syntax,
 * and keyword context for formats that are only ordinary digits without it.
 *
 * Boundaries: `\b` is useless next to Hangul, so numbers are bounded by look-arounds on
 * ASCII alphanumerics ("…1234567이야" matches); a JSON escape just before a value
 * (`\n010…`, `\ud638010…`) counts as a boundary. Fullwidth digits and dashes are
 * folded to ASCII by core/pii/pii.c before these patterns run.
 *
 * The table order is the priority: at one position the first detector whose pattern
 * matches and whose validator keeps the candidate wins. No state; thread-safe. */
#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "pii_int.h"

/* ---- pattern pieces -------------------------------------------------------------- */

/* A JSON escape right before: "\n", "\t", ... or "\uXXXX" (\x5c is a backslash). */
#define ESC_BEFORE	"(?<=\\x5c[nrtbf])|(?<=\\x5cu[0-9A-Fa-f]{4})"
/* Left and right edges of a number: no ASCII alphanumeric, '_' or '-' glued to it. */
#define LB_D		"(?:(?<![0-9A-Za-z_\\x5c-])|" ESC_BEFORE ")"
#define RB_D		"(?![0-9A-Za-z_]|[-.][0-9A-Za-z])"
/* Edges of an alphanumeric token. */
#define LB_A		"(?:(?<![0-9A-Za-z_\\x5c])|" ESC_BEFORE ")"
#define RB_A		"(?![0-9A-Za-z_])"

#define KR_AREA		"(?:2|3[1-3]|4[1-4]|5[1-5]|6[1-4])"
/* The value of "password: ...": printable ASCII up to a space, quote or bracket. */
#define KV_VALUE	"[^\\s\"'\\x5c\\x80-\\xff,;<>(){}\\[\\]`]{4,200}"

#define BIT(t)		(1u << (t))

/* ---- small helpers --------------------------------------------------------------- */

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Copies the digits of s[0..n) into out (at most cap - 1) and NUL-terminates it.
 * Returns the number of digits, or cap when there were too many. */
static size_t
digits_of(const char *s, size_t n, char *out, size_t cap)
{
	size_t	 i, k = 0;

	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			continue;
		if (k + 1 >= cap)
			return cap;
		out[k++] = s[i];
	}
	out[k] = '\0';
	return k;
}

static int
all_same(const char *d, size_t n)
{
	size_t	 i;

	for (i = 1; i < n; i++)
		if (d[i] != d[0])
			return 0;
	return 1;
}

/* ---- checksums (public for the tests; see pii.h) ------------------------------------ */

int
aif_pii_luhn_ok(const char *digits, size_t n)
{
	unsigned sum = 0, d;
	size_t	 i;
	int	 dbl = 0;

	if (n == 0)
		return 0;
	for (i = n; i-- > 0; dbl = !dbl) {
		if (!is_digit(digits[i]))
			return 0;
		d = (unsigned)(digits[i] - '0');
		if (dbl && (d *= 2) > 9)
			d -= 9;
		sum += d;
	}
	return sum % 10 == 0;
}

static const struct {
	char	 cc[3];
	unsigned char len;
} iban_lengths[] = {
	{ "AD", 24 }, { "AE", 23 }, { "AL", 28 }, { "AT", 20 }, { "AZ", 28 }, { "BA", 20 },
	{ "BE", 16 }, { "BG", 22 }, { "BH", 22 }, { "BR", 29 }, { "BY", 28 }, { "CH", 21 },
	{ "CR", 22 }, { "CY", 28 }, { "CZ", 24 }, { "DE", 22 }, { "DK", 18 }, { "DO", 28 },
	{ "EE", 20 }, { "EG", 29 }, { "ES", 24 }, { "FI", 18 }, { "FO", 18 }, { "FR", 27 },
	{ "GB", 22 }, { "GE", 22 }, { "GI", 23 }, { "GL", 18 }, { "GR", 27 }, { "GT", 28 },
	{ "HR", 21 }, { "HU", 28 }, { "IE", 22 }, { "IL", 23 }, { "IQ", 23 }, { "IS", 26 },
	{ "IT", 27 }, { "JO", 30 }, { "KW", 30 }, { "KZ", 20 }, { "LB", 28 }, { "LC", 32 },
	{ "LI", 21 }, { "LT", 20 }, { "LU", 20 }, { "LV", 21 }, { "MC", 27 }, { "MD", 24 },
	{ "ME", 22 }, { "MK", 19 }, { "MR", 27 }, { "MT", 31 }, { "MU", 30 }, { "NL", 18 },
	{ "NO", 15 }, { "PK", 24 }, { "PL", 28 }, { "PS", 29 }, { "PT", 25 }, { "QA", 29 },
	{ "RO", 24 }, { "RS", 22 }, { "SA", 24 }, { "SC", 31 }, { "SE", 24 }, { "SI", 19 },
	{ "SK", 24 }, { "SM", 27 }, { "ST", 25 }, { "SV", 28 }, { "TL", 23 }, { "TN", 24 },
	{ "TR", 26 }, { "UA", 29 }, { "VA", 22 }, { "VG", 24 }, { "XK", 20 },
};

/* ISO 13616: a known country's length, then ISO 7064 mod 97 == 1 over the string with
 * its first four characters moved to the end and letters as 10..35. */
int
aif_pii_iban_ok(const char *s, size_t n)
{
	unsigned rem = 0;
	size_t	 i, k;
	char	 c;

	if (n < 15 || n > 34)
		return 0;
	for (k = 0; k < sizeof(iban_lengths) / sizeof(iban_lengths[0]); k++)
		if (s[0] == iban_lengths[k].cc[0] && s[1] == iban_lengths[k].cc[1])
			break;
	if (k == sizeof(iban_lengths) / sizeof(iban_lengths[0]) ||
	    iban_lengths[k].len != n || !is_digit(s[2]) || !is_digit(s[3]))
		return 0;
	for (i = 0; i < n; i++) {
		c = s[(i + 4) % n];
		if (is_digit(c))
			rem = (rem * 10 + (unsigned)(c - '0')) % 97;
		else if (c >= 'A' && c <= 'Z')
			rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
		else
			return 0;
	}
	return rem == 1;
}

static unsigned
rrn_weighted_sum(const char *d)
{
	static const unsigned w[12] = { 2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5 };
	unsigned sum = 0;
	size_t	 i;

	for (i = 0; i < 12; i++)
		sum += (unsigned)(d[i] - '0') * w[i];
	return sum;
}

static int
thirteen_digits(const char *d)
{
	size_t	 i;

	for (i = 0; i < 13; i++)
		if (!is_digit(d[i]))
			return 0;
	return 1;
}

/* C = (11 - S mod 11) mod 10 (python-stdnum kr/rrn.py, Presidio). */
int
aif_pii_rrn_checksum_ok(const char *d)
{
	return thirteen_digits(d) &&
	    (11 - rrn_weighted_sum(d) % 11) % 10 == (unsigned)(d[12] - '0');
}

/* C = (13 - S mod 11) mod 10: the RRN formula plus 2 (Presidio kr_frn_recognizer). */
int
aif_pii_frn_checksum_ok(const char *d)
{
	return thirteen_digits(d) &&
	    (13 - rrn_weighted_sum(d) % 11) % 10 == (unsigned)(d[12] - '0');
}

/* YYMMDD is a real date in the century the 7th digit gives (1,2,5,6: 1900s; 3,4,7,8:
 * 2000s, not after this year; 9,0: 1800s) and the 7th digit is 1..8. */
int
aif_pii_rrn_date_ok(const char *d)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm tm;
	time_t	 now;
	int	 yy, mm, dd, year, g;

	if (!thirteen_digits(d))
		return 0;
	yy = (d[0] - '0') * 10 + (d[1] - '0');
	mm = (d[2] - '0') * 10 + (d[3] - '0');
	dd = (d[4] - '0') * 10 + (d[5] - '0');
	g = d[6] - '0';
	if (g < 1 || g > 8 || mm < 1 || mm > 12 || dd < 1 || dd > mdays[mm - 1])
		return 0;
	year = (g == 3 || g == 4 || g == 7 || g == 8 ? 2000 : 1900) + yy;
	if (mm == 2 && dd == 29 &&
	    !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return 0;
	if (year >= 2000) {
		now = time(NULL);
		if (gmtime_r(&now, &tm) != NULL && year > tm.tm_year + 1900)
			return 0;
	}
	return 1;
}

/* Weights 1,3,7,1,3,7,1,3,5; the 9th digit also adds floor(d9 * 5 / 10). */
int
aif_pii_brn_checksum_ok(const char *d)
{
	static const unsigned w[9] = { 1, 3, 7, 1, 3, 7, 1, 3, 5 };
	unsigned sum = 0;
	size_t	 i;

	for (i = 0; i < 10; i++)
		if (!is_digit(d[i]))
			return 0;
	for (i = 0; i < 9; i++)
		sum += (unsigned)(d[i] - '0') * w[i];
	sum += (unsigned)(d[8] - '0') * 5 / 10;
	return (10 - sum % 10) % 10 == (unsigned)(d[9] - '0');
}

/* ---- validators -------------------------------------------------------------------- */

/* Tokens with a known prefix: the part after it has a digit and a letter (so that
 * "sk-learn-is-a-python-library" is no key). JWTs and webhooks are kept as they are. */
static int
v_token(const struct pii_vctx *v, struct pii_cand *c)
{
	const char	*s = v->buf + c->s;
	size_t		 n = c->e - c->s, i, start;
	int		 digit = 0, alpha = 0;

	if ((n > 3 && memcmp(s, "eyJ", 3) == 0) || (n > 5 && memcmp(s, "https", 5) == 0))
		return 1;
	/* the body starts after the prefix: "sk-", "ghp_", "xoxb-", or AKIA/AIza */
	for (start = 0; start < n && start < 12 && s[start] != '-' && s[start] != '_';
	    start++)
		;
	if (start == n || start == 12)
		start = 4;
	for (i = start; i < n; i++) {
		digit |= is_digit(s[i]);
		alpha |= is_alpha(s[i]);
	}
	return digit && alpha;
}

/* password=..., api_key: ..., 비밀번호는 ...: refuse placeholders and code. */
static int
v_kv(const struct pii_vctx *v, struct pii_cand *c)
{
	static const char *const placeholders[] = {
		"null", "none", "nil", "true", "false", "undefined", "required",
		"optional", "string", "empty", "hidden", "redacted", "password",
		"secret", "changeit", "example", "xxxx", "****", "....", NULL,
	};
	const char	*s = v->buf + c->s;
	size_t		 n = c->e - c->s, i, k, dots = 0;
	int		 upper_only = 1, ident = 1;

	if (c->e < v->len && v->buf[c->e] == '(')
		return 0;			/* get_password(...) */
	if (all_same(s, n) || s[0] == '$' || s[0] == '%' || s[0] == '*')
		return 0;
	for (k = 0; placeholders[k] != NULL; k++)
		if (strlen(placeholders[k]) == n && strncasecmp(s, placeholders[k], n) == 0)
			return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.')
			dots++;
		else if (!(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_'))
			ident = 0;
		if (!(s[i] >= 'A' && s[i] <= 'Z') && s[i] != '_')
			upper_only = 0;
	}
	if (upper_only)
		return 0;			/* YOUR_API_KEY */
	if (ident && dots > 0 && !is_digit(s[0]) && s[n - 1] != '.')
		return 0;			/* os.environ, self.password */
	c->conf = 80;
	return 1;
}

static int
v_email(const struct pii_vctx *v, struct pii_cand *c)
{
	const char	*s = v->buf + c->s, *at;
	size_t		 n = c->e - c->s, i;

	if ((at = memchr(s, '@', n)) == NULL)
		return 0;
	for (i = 1; s + i < at; i++)
		if (s[i] == '.' && s[i - 1] == '.')
			return 0;
	/* icon@2x.png, image@3x.jpg */
	for (i = 1; at + i < s + n && is_digit(at[i]); i++)
		;
	if (i > 1 && at + i + 1 < s + n && (at[i] == 'x' || at[i] == 'X') && at[i + 1] == '.')
		return 0;
	return 1;
}

/* Drops trailing groups until a known country's length and the checksum fit. */
static int
v_iban(const struct pii_vctx *v, struct pii_cand *c)
{
	char	 buf[40];
	size_t	 i, k, end;

	for (end = c->e; end > c->s + 15; ) {
		for (i = c->s, k = 0; i < end && k < sizeof(buf); i++)
			if (v->buf[i] != ' ')
				buf[k++] = v->buf[i];
		if (k < sizeof(buf) && aif_pii_iban_ok(buf, k)) {
			c->e = end;
			return 1;
		}
		/* cut the last group (and the space before it) */
		while (end > c->s && v->buf[end - 1] != ' ')
			end--;
		if (end == c->s)
			break;
		end--;
	}
	return 0;
}

static int
v_e164(const struct pii_vctx *v, struct pii_cand *c)
{
	char	 d[24];
	size_t	 n, i;
	int	 open = 0;

	n = digits_of(v->buf + c->s, c->e - c->s, d, sizeof(d));
	if (n < 8 || n > 15 || all_same(d + 1, n - 1))
		return 0;
	for (i = c->s; i < c->e; i++) {
		if (v->buf[i] == '(' && open++)
			return 0;
		if (v->buf[i] == ')' && --open < 0)
			return 0;
	}
	c->conf = 85;
	return open == 0;
}

static int
v_rrn(const struct pii_vctx *v, struct pii_cand *c)
{
	char	 d[16];
	int	 frn, sum_ok, separated;

	if (digits_of(v->buf + c->s, c->e - c->s, d, sizeof(d)) != 13 ||
	    !aif_pii_rrn_date_ok(d))
		return 0;
	frn = d[6] >= '5';
	c->type = frn ? AIF_PII_T_KR_FRN : AIF_PII_T_KR_RRN;
	if (!pii_type_on(v, c->type))
		return 0;
	/* Sources disagree on the FRN formula; either one counts. */
	sum_ok = aif_pii_rrn_checksum_ok(d) || (frn && aif_pii_frn_checksum_ok(d));
	separated = c->e - c->s > 13;
	if (!separated && pii_ctx_near(v, CTX_CODE, c->s, c->e))
		return 0;	/* 바코드 8801234567893: a product code */
	if (sum_ok)
		c->conf = 100;
	else if (separated)
		c->conf = 70;	/* issued since Oct 2020: no check digit any more */
	else if (pii_ctx_near(v, CTX_RRN, c->s, c->e))
		c->conf = 60;
	else
		return 0;	/* 13 bare digits, no checksum, no keyword */
	return 1;
}

/* Issuer prefixes (IIN) of the networks in use, with their lengths. */
static int
card_iin_ok(const char *d, size_t n)
{
	int	 p2 = (d[0] - '0') * 10 + (d[1] - '0');
	int	 p4 = p2 * 100 + (d[2] - '0') * 10 + (d[3] - '0');

	if (d[0] == '4')
		return n == 13 || n == 16 || n == 19;		/* Visa */
	if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
		return n == 16;					/* Mastercard */
	if (p2 == 34 || p2 == 37)
		return n == 15;					/* Amex */
	if (p4 == 6011 || p2 == 65 || (p4 >= 6440 && p4 <= 6499))
		return n >= 16 && n <= 19;			/* Discover */
	if (p2 == 35)
		return n >= 16 && n <= 19;			/* JCB */
	if (p2 == 36 || p2 == 38 || (p4 >= 3000 && p4 <= 3059))
		return n >= 14 && n <= 19;			/* Diners */
	if (p2 == 62)
		return n >= 16 && n <= 19;			/* UnionPay */
	if (p2 == 94 || p2 == 95)
		return n == 16;					/* Korean domestic */
	return 0;
}

static int
v_card(const struct pii_vctx *v, struct pii_cand *c)
{
	char	 d[24];
	size_t	 n;

	n = digits_of(v->buf + c->s, c->e - c->s, d, sizeof(d));
	if (n < 13 || n > 19 || !card_iin_ok(d, n) || !aif_pii_luhn_ok(d, n) ||
	    all_same(d, n))
		return 0;
	c->conf = c->e - c->s > n ? 100 : 90;
	return 1;
}

static int
v_brn(const struct pii_vctx *v, struct pii_cand *c)
{
	char	 d[16];

	if (digits_of(v->buf + c->s, c->e - c->s, d, sizeof(d)) != 10 ||
	    !aif_pii_brn_checksum_ok(d) || (d[3] == '0' && d[4] == '0') ||
	    memcmp(d, "101", 3) < 0)
		return 0;
	c->conf = 100;
	return 1;
}

/* SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000; and not the
 * advertising numbers everybody knows. */
static int
ssn_ok(const char *d)
{
	if (memcmp(d, "000", 3) == 0 || memcmp(d, "666", 3) == 0 || d[0] == '9' ||
	    memcmp(d + 3, "00", 2) == 0 || memcmp(d + 5, "0000", 4) == 0 ||
	    all_same(d, 9) || memcmp(d, "123456789", 9) == 0 ||
	    memcmp(d, "078051120", 9) == 0 || memcmp(d, "219099999", 9) == 0)
		return 0;
	return 1;
}

static int
v_ssn(const struct pii_vctx *v, struct pii_cand *c)
{
	char	 d[16];

	if (digits_of(v->buf + c->s, c->e - c->s, d, sizeof(d)) != 9 || !ssn_ok(d))
		return 0;
	if (pii_ctx_near(v, CTX_SSN, c->s, c->e))
		c->conf = 100;
	else if (v->buf[c->s + 3] == '-')
		c->conf = 80;
	else
		return 0;	/* "123 45 6789" needs a keyword */
	return 1;
}

static int
v_dl(const struct pii_vctx *v, struct pii_cand *c)
{
	(void)v;
	c->conf = 90;
	return 1;
}

/* "서울 12-345678-90": licences since 2011 show the region's name before the number. */
static int
v_dl_region(const struct pii_vctx *v, struct pii_cand *c)
{
	static const char *const regions[] = {
		"서울", "부산", "경기", "강원", "충북", "충남", "전북", "전남", "경북", "경남",
		"제주", "대구", "인천", "광주", "대전", "울산", "세종", NULL,
	};
	size_t	 p = c->s, k;

	if (p > 0 && v->buf[p - 1] == ' ')
		p--;
	if (p < 6)
		return 0;
	for (k = 0; regions[k] != NULL; k++)
		if (memcmp(v->buf + p - 6, regions[k], 6) == 0) {
			c->conf = 95;
			return 1;
		}
	return 0;
}

/* A phone-shaped number labelled as a product, order or serial number is none. */
static int
v_phone(const struct pii_vctx *v, struct pii_cand *c)
{
	c->conf = 100;
	return !pii_ctx_near(v, CTX_CODE, c->s, c->e);
}

static int
v_mobile(const struct pii_vctx *v, struct pii_cand *c)
{
	if (!v_phone(v, c))
		return 0;
	c->conf = c->e - c->s > 11 ? 100 : 90;
	return 1;
}

/* An opaque credential after "Bearer", "token:" or "secret=": long, with letters
 * and digits, not a placeholder. */
static int
v_opaque(const struct pii_vctx *v, struct pii_cand *c)
{
	const char	*s = v->buf + c->s;
	size_t		 n = c->e - c->s, i;
	int		 digit = 0, alpha = 0;

	for (i = 0; i < n; i++) {
		digit |= is_digit(s[i]);
		alpha |= is_alpha(s[i]);
	}
	if (!digit || !alpha || !v_kv(v, c))
		return 0;
	c->conf = 85;
	return 1;
}

static int
v_nanp(const struct pii_vctx *v, struct pii_cand *c)
{
	char	 d[16];

	if (digits_of(v->buf + c->s, c->e - c->s, d, sizeof(d)) != 10 ||
	    d[0] < '2' || d[3] < '2' || (d[1] == '1' && d[2] == '1'))
		return 0;
	if (v->buf[c->s] == '(')
		c->conf = 90;
	else if (pii_ctx_near(v, CTX_PHONE, c->s, c->e))
		c->conf = 80;
	else
		return 0;	/* 555-123-4567 alone may be anything */
	return 1;
}

static int
v_passport_new(const struct pii_vctx *v, struct pii_cand *c)
{
	c->conf = pii_ctx_near(v, CTX_PASSPORT, c->s, c->e) ? 100 : 75;
	return 1;
}

static int
v_passport_old(const struct pii_vctx *v, struct pii_cand *c)
{
	c->conf = 70;
	return pii_ctx_near(v, CTX_PASSPORT, c->s, c->e);
}

static int
v_bank(const struct pii_vctx *v, struct pii_cand *c)
{
	char	 d[24];
	size_t	 n;

	n = digits_of(v->buf + c->s, c->e - c->s, d, sizeof(d));
	if (n < 10 || n > 14 || !pii_ctx_near(v, CTX_BANK, c->s, c->e))
		return 0;
	/* 2024-0315-001234: a date-based reference, not an account */
	if (v->buf[c->s + 4] == '-' && v->buf[c->s + 9] == '-' &&
	    (memcmp(d, "19", 2) == 0 || memcmp(d, "20", 2) == 0) &&
	    ((d[4] == '0' && d[5] >= '1') || (d[4] == '1' && d[5] <= '2')) &&
	    d[6] <= '3')
		return 0;
	c->conf = 80;
	return 1;
}

static int
v_ipv6(const struct pii_vctx *v, struct pii_cand *c)
{
	struct in6_addr	 a;
	char		 buf[64];
	size_t		 n = c->e - c->s, i, hex = 0;
	int		 digit = 0;

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, v->buf + c->s, n);
	buf[n] = '\0';
	for (i = 0; i < n; i++) {
		if (buf[i] == '.')
			break;		/* the embedded IPv4 part */
		if (buf[i] != ':')
			hex++;
		digit |= is_digit(buf[i]);
	}
	if (hex < 4 || !digit || inet_pton(AF_INET6, buf, &a) != 1)
		return 0;
	c->conf = 95;
	return 1;
}

static int
v_ipv4(const struct pii_vctx *v, struct pii_cand *c)
{
	if (pii_ctx_near(v, CTX_VERSION, c->s, c->e))
		return 0;
	c->conf = 90;
	return 1;
}

/* A Korean landline without separators: 02 + 7..8 digits, 0AA + 7..8 digits, 070. */
static int
kr_landline_digits(const char *d, size_t n)
{
	if (d[0] != '0' || n < 9 || n > 11)
		return 0;
	if (d[1] == '2')
		return n == 9 || n == 10;
	if ((d[1] >= '3' && d[1] <= '6' && d[2] >= '1' && d[2] <= '5') ||
	    (d[1] == '7' && d[2] == '0'))
		return n == 10 || n == 11;
	return 0;
}

/* Bare digit runs: each reading needs its keyword nearby (and its checksum). */
static int
v_bare(const struct pii_vctx *v, struct pii_cand *c)
{
	const char	*d = v->buf + c->s;
	size_t		 n = c->e - c->s;
	int		 region;

	if (n == 10 && pii_type_on(v, AIF_PII_T_KR_BRN) && aif_pii_brn_checksum_ok(d) &&
	    pii_ctx_near(v, CTX_BRN, c->s, c->e)) {
		c->type = AIF_PII_T_KR_BRN;
		c->conf = 90;
		return 1;
	}
	region = (d[0] - '0') * 10 + (d[1] - '0');
	if (n == 12 && pii_type_on(v, AIF_PII_T_KR_DRIVER_LICENSE) &&
	    ((region >= 11 && region <= 26) || region == 28) &&
	    pii_ctx_near(v, CTX_DL, c->s, c->e)) {
		c->type = AIF_PII_T_KR_DRIVER_LICENSE;
		c->conf = 80;
		return 1;
	}
	if (n == 9 && pii_type_on(v, AIF_PII_T_US_SSN) && ssn_ok(d) &&
	    pii_ctx_near(v, CTX_SSN, c->s, c->e)) {
		c->type = AIF_PII_T_US_SSN;
		c->conf = 80;
		return 1;
	}
	if (pii_type_on(v, AIF_PII_T_PHONE) && kr_landline_digits(d, n) &&
	    pii_ctx_near(v, CTX_PHONE, c->s, c->e)) {
		c->type = AIF_PII_T_PHONE;
		c->conf = 80;
		return 1;
	}
	if (n >= 10 && pii_type_on(v, AIF_PII_T_KR_BANK_ACCOUNT) &&
	    pii_ctx_near(v, CTX_BANK, c->s, c->e)) {
		c->type = AIF_PII_T_KR_BANK_ACCOUNT;
		c->conf = 70;
		return 1;
	}
	return 0;
}

/* ---- the table --------------------------------------------------------------------- */

const struct pii_builtin pii_builtins[] = {
	{ "private-key-block", PASS_PEM, AIF_PII_T_SECRET, BIT(AIF_PII_T_SECRET),
	  L_NONE, "-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----[\\s\\S]*?"
	  "(?:-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----|\\z)", NULL },
	{ "api-token", PASS_ALPHA, AIF_PII_T_SECRET, BIT(AIF_PII_T_SECRET),
	  L_ALPHA, "(?:sk-(?:proj-|svcacct-|admin-|ant-[a-z]{3,5}\\d{2}-)?[A-Za-z0-9_-]{20,}"
	  "|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
	  "|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}"
	  "|glpat-[A-Za-z0-9_-]{20,}|xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"
	  "|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}|AIza[0-9A-Za-z_-]{35}"
	  "|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36}|aif_[A-Za-z0-9]{38}"
	  "|eyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}"
	  "|https://hooks\\.slack\\.com/services/[A-Za-z0-9_/]{20,})" RB_A, v_token },
	{ "bearer-token", PASS_ALPHA, AIF_PII_T_SECRET, BIT(AIF_PII_T_SECRET),
	  L_ALPHA, "(?i:(?:bearer|token|secret)(?:\\x5c?[\"'])?[ \\t]{0,3}[:= ]"
	  "[ \\t]{0,3}(?:\\x5c?[\"'])?)\\K[A-Za-z0-9._~+/-]{16,512}=*" RB_A, v_opaque },
	{ "secret-assignment", PASS_ALPHA, AIF_PII_T_SECRET, BIT(AIF_PII_T_SECRET),
	  L_ALPHA, "(?i:(?:password|passwd|pwd|passphrase|secret[_-]?key"
	  "|client[_-]?secret|api[_-]?key|apikey|access[_-]?token|auth[_-]?token"
	  "|refresh[_-]?token|private[_-]?key|aws[_-]?secret[_-]?access[_-]?key))"
	  "(?:\\x5c?[\"'])?[ \\t]{0,3}[:=][ \\t]{0,3}(?:\\x5c?[\"'])?"
	  "\\K" KV_VALUE, v_kv },
	{ "secret-assignment-ko", PASS_KO, AIF_PII_T_SECRET, BIT(AIF_PII_T_SECRET),
	  L_NONE, "(?:비밀번호|비번|패스워드)(?:\\x5c?[\"'])?[ \\t]{0,3}(?:[:=]|는|은|가)?[ \\t]{0,3}"
	  "(?:\\x5c?[\"'])?\\K" KV_VALUE, v_kv },
	{ "email", PASS_EMAIL, AIF_PII_T_EMAIL, BIT(AIF_PII_T_EMAIL),
	  L_NONE, "(?:(?<![A-Za-z0-9._%+\\x5c-])|" ESC_BEFORE ")"
	  "[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@"
	  "(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.){1,8}[A-Za-z]{2,24}"
	  "(?![A-Za-z0-9_-]|\\.[A-Za-z0-9])", v_email },
	{ "iban", PASS_ALPHA, AIF_PII_T_IBAN, BIT(AIF_PII_T_IBAN),
	  L_ALPHA, "[A-Z]{2}\\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?" RB_A, v_iban },
	{ "kr-phone-intl", PASS_PUNCT, AIF_PII_T_PHONE, BIT(AIF_PII_T_PHONE),
	  L_NONE, "(?<![0-9+])\\+82[ .-]?(?:\\(0\\)[ .-]?)?(?:1[016789]|" KR_AREA "|70)"
	  "([ .-]?)\\d{3,4}\\g{-1}\\d{4}" RB_D, NULL },
	{ "e164", PASS_PUNCT, AIF_PII_T_PHONE, BIT(AIF_PII_T_PHONE),
	  L_NONE, "(?<![0-9+])\\+(?!82)[1-9]\\d{0,2}(?:[ .-]?\\(?\\d{1,4}\\)?){2,5}" RB_D, v_e164 },
	{ "kr-rrn", PASS_DIGIT, AIF_PII_T_KR_RRN,
	  BIT(AIF_PII_T_KR_RRN) | BIT(AIF_PII_T_KR_FRN),
	  L_DIGIT, "\\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\\d|3[01])(?:[ ]?-[ ]?|[ ])?[1-8]\\d{6}"
	  RB_D, v_rrn },
	{ "credit-card", PASS_DIGIT, AIF_PII_T_CREDIT_CARD, BIT(AIF_PII_T_CREDIT_CARD),
	  L_DIGIT, "(?:\\d{4}([ -]?)\\d{4}\\g{-1}\\d{4}\\g{-1}\\d{1,7}"
	  "|\\d{4}([ -]?)\\d{6}\\g{-1}\\d{4,5})" RB_D, v_card },
	{ "kr-brn", PASS_DIGIT, AIF_PII_T_KR_BRN, BIT(AIF_PII_T_KR_BRN),
	  L_DIGIT, "\\d{3}-\\d{2}-\\d{5}" RB_D, v_brn },
	{ "us-ssn", PASS_DIGIT, AIF_PII_T_US_SSN, BIT(AIF_PII_T_US_SSN),
	  L_DIGIT, "\\d{3}([ -])\\d{2}\\g{-1}\\d{4}" RB_D, v_ssn },
	{ "kr-driver-license", PASS_DIGIT, AIF_PII_T_KR_DRIVER_LICENSE,
	  BIT(AIF_PII_T_KR_DRIVER_LICENSE),
	  L_DIGIT, "(?:1[1-9]|2[0-6]|28)([ -])\\d{2}\\g{-1}\\d{6}\\g{-1}\\d{2}" RB_D, v_dl },
	{ "kr-driver-license-region", PASS_DIGIT, AIF_PII_T_KR_DRIVER_LICENSE,
	  BIT(AIF_PII_T_KR_DRIVER_LICENSE),
	  L_DIGIT, "\\d{2}-\\d{6}-\\d{2}" RB_D, v_dl_region },
	{ "kr-mobile", PASS_DIGIT, AIF_PII_T_PHONE, BIT(AIF_PII_T_PHONE),
	  L_DIGIT, "01[016789](?:([ .-]?)\\d{3,4}\\g{-1}|[ .-]\\d{3,4}[ .-])\\d{4}" RB_D,
	  v_mobile },
	{ "kr-landline", PASS_DIGIT, AIF_PII_T_PHONE, BIT(AIF_PII_T_PHONE),
	  L_DIGIT, "0(?:" KR_AREA "|70|50[2-8])([ .-])\\d{3,4}\\g{-1}\\d{4}" RB_D, v_phone },
	{ "kr-landline-paren", PASS_PUNCT, AIF_PII_T_PHONE, BIT(AIF_PII_T_PHONE),
	  L_NONE, "(?<![0-9])\\(0(?:" KR_AREA "|70)\\)[ ]?\\d{3,4}-\\d{4}" RB_D, NULL },
	{ "nanp-phone", PASS_DIGIT, AIF_PII_T_PHONE, BIT(AIF_PII_T_PHONE),
	  L_DIGIT, "(?:(?<![0-9A-Za-z_\\x5c(-])|" ESC_BEFORE ")"
	  "(?:\\(\\d{3}\\)[ ]?|\\d{3}[-.])\\d{3}[-.]\\d{4}" RB_D, v_nanp },
	{ "kr-passport", PASS_ALPHA, AIF_PII_T_KR_PASSPORT, BIT(AIF_PII_T_KR_PASSPORT),
	  L_ALPHA, "[MSRODmsrod]\\d{3}[A-Za-z]\\d{4}" RB_A, v_passport_new },
	{ "kr-passport-old", PASS_ALPHA, AIF_PII_T_KR_PASSPORT, BIT(AIF_PII_T_KR_PASSPORT),
	  L_ALPHA, "[MSROD]\\d{8}" RB_A, v_passport_old },
	{ "kr-bank-account", PASS_DIGIT, AIF_PII_T_KR_BANK_ACCOUNT,
	  BIT(AIF_PII_T_KR_BANK_ACCOUNT),
	  L_DIGIT, "\\d{2,6}-\\d{2,6}-\\d{2,7}(?:-\\d{1,3})?" RB_D, v_bank },
	{ "ipv6", PASS_HEX, AIF_PII_T_IPV6, BIT(AIF_PII_T_IPV6),
	  L_NONE, "(?<![0-9A-Za-z_:.\\x5c])(?:[0-9A-Fa-f]{0,4}:){2,7}"
	  "(?:(?:\\d{1,3}\\.){3}\\d{1,3}|[0-9A-Fa-f]{1,4})?(?![0-9A-Za-z_:]|\\.\\d)", v_ipv6 },
	{ "ipv4", PASS_DIGIT, AIF_PII_T_IPV4, BIT(AIF_PII_T_IPV4),
	  L_DIGIT, "(?:(?<![0-9A-Za-z_.\\x5c-])|" ESC_BEFORE ")"
	  "(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"
	  "(?:/(?:3[0-2]|[12]?\\d))?(?![0-9A-Za-z_]|\\.\\d)", v_ipv4 },
	{ "digits-with-keyword", PASS_DIGIT, AIF_PII_T_KR_BANK_ACCOUNT,
	  BIT(AIF_PII_T_KR_BRN) | BIT(AIF_PII_T_KR_DRIVER_LICENSE) | BIT(AIF_PII_T_US_SSN) |
	  BIT(AIF_PII_T_PHONE) | BIT(AIF_PII_T_KR_BANK_ACCOUNT),
	  L_DIGIT, "\\d{9,14}" RB_D, v_bare },
};
const size_t pii_nbuiltins = sizeof(pii_builtins) / sizeof(pii_builtins[0]);

const char *const pii_left_edges[L_COUNT] = {
	[L_NONE] = "", [L_DIGIT] = LB_D, [L_ALPHA] = LB_A,
};

/* Keyword groups (caseless; English words bounded on the left only, so plurals and
 * "account:" still count). */
#define W	"(?<![A-Za-z])"
const char *const pii_ctx_patterns[CTX_COUNT] = {
	[CTX_BANK] = "은행|뱅크|계좌|통장|입금|송금|이체|예금|적금|예금주|신한|농협|신협|수협"
	    "|새마을금고|우체국|" W "(?:bank|account|acct|deposit|transfer|wire|routing)"
	    "|" W "(?:a/c|kb|nh|ibk|sc)(?![A-Za-z])",
	[CTX_DL] = "운전면허|면허번호|면허증|" W "(?:driver'?s?[ _-]?licen[cs]e|driving[ _-]?"
	    "licen[cs]e|licen[cs]e (?:no|number)|dl(?![A-Za-z]))",
	[CTX_PASSPORT] = "여권|" W "passport",
	[CTX_BRN] = "사업자|" W "(?:brn(?![A-Za-z])|business (?:registration|reg|number|no)"
	    "|tax id)",
	[CTX_SSN] = "사회보장|" W "(?:ssn|social security|ssa(?![A-Za-z]))",
	[CTX_RRN] = "주민|외국인|등록번호|" W "(?:rrn|arn|frn|resident registration"
	    "|alien registration)(?![A-Za-z])",
	[CTX_PHONE] = "전화|연락처|휴대폰|핸드폰|휴대전화|폰번호|팩스|" W "(?:phone|tel|call"
	    "|cell|mobile|fax|contact|sms)",
	[CTX_CODE] = "(?:품번|제품번호|모델번호|부품번호|주문번호|송장번호|일련번호|시리얼|운송장"
	    "|바코드|상품코드|" W "(?:sku|p/n|part (?:no|number)|serial|order (?:no|number|id)"
	    "|tracking|barcode|ean|gtin"
	    "|invoice)|(?<![A-Za-z])(?:item|model) (?:no|number|code))(?:는|은)?[\\s:#.=-]{0,4}\\z",
	[CTX_VERSION] = "(?:" W "(?:v|ver|version|release|build|rev|firmware|fw)|버전|빌드"
	    "|펌웨어)[\\s.:=]*\\z",
};
#undef W
