/* address.c -- the ADDRESS detectors: Korean road-name (도로명) and lot-number (지번)
 * addresses, and English street addresses. Each is found from its most telling part
 * and read outwards a bounded number of words:
 *
 *   Korean road-name: a road word ending in 로 or 길 ("테헤란로", "수내로46번길"), an
 *     optional branch ("95번길"), a building number ("152", "235-1"); before it the
 *     administrative words (시/도, 시/군/구, 읍/면, 동/리), a postal code; after it the
 *     detail (", 12층", " 101동 1203호", " 강남빌딩 3층").
 *   Korean lot-number: a word ending in 동, 리 or 가 after a 시/군/구 or 시/도 word,
 *     then "123-45", "산 12", "123번지".
 *   English: a house number ("1600", "221B"), a street name of capitalised words or an
 *     ordinal and a street type ("Parkway", "St."), then an optional unit, city, state
 *     and ZIP code (or a UK, Canadian or Australian postcode).
 *
 * A road and number with no 시/군/구 before them count only when nothing but an end,
 * a particle or a detail follows ("테헤란로 152에"), so "버스로 3 시간" is none; a
 * number that reads as a year needs more than a street after it ("in 2019 Oxford
 * Street"). The word sets are hashed once (pthread_once); then read-only and
 * thread-safe. */
#include <pthread.h>
#include <string.h>

#include "pii_int.h"

#define KWORD_MAX	60	/* bytes of one Korean word looked at */
#define ADMIN_WORDS	5	/* administrative words read back from the road */

const char *const pii_cdet_names[CDET_COUNT] = {
	[CDET_KR_ADDRESS] = "kr-address", [CDET_EN_ADDRESS] = "en-address",
	[CDET_KR_PERSON] = "kr-person", [CDET_EN_PERSON] = "en-person",
};

/* 시/도, full and short. */
static const char *const kr_sido_words[] = {
	"서울특별시", "부산광역시", "대구광역시", "인천광역시", "광주광역시",
	"대전광역시", "울산광역시", "세종특별자치시", "경기도", "강원도",
	"강원특별자치도", "충청북도", "충청남도", "전라북도", "전북특별자치도",
	"전라남도", "경상북도", "경상남도", "제주특별자치도", "제주도", "서울시",
	"부산시", "대구시", "인천시", "광주시", "대전시", "울산시", "세종시", "서울",
	"부산", "대구", "인천", "광주", "대전", "울산", "세종", "경기", "강원", "충북",
	"충남", "전북", "전남", "경북", "경남", "제주", NULL,
};

/* Labels an address follows. */
static const char *const addr_labels_words[] = {
	"주소", "주소지", "배송지", "배송주소", "배송 주소", "거주지", "소재지",
	"도로명", "지번", "사업장", "근무지", "자택", "본사", "수령지", "현주소",
	"우편물", "주소란", "address", "addr", "adres", "ship to", "shipping",
	"billing", "located at", "deliver to", "mailing", NULL,
};

static const char *const en_street_types_words[] = {
	"Street", "St", "Avenue", "Ave", "Av", "Road", "Rd", "Boulevard", "Blvd",
	"Lane", "Ln", "Drive", "Dr", "Court", "Ct", "Place", "Pl", "Way", "Parkway",
	"Pkwy", "Terrace", "Ter", "Circle", "Cir", "Highway", "Hwy", "Square", "Sq",
	"Trail", "Trl", "Loop", "Row", "Alley", "Crescent", "Close", "Mews", "Grove",
	"Gardens", "Walk", "Plaza", "Plz", "Pike", "Path", "Crossing", "Expressway",
	"Expy", "Freeway", "Fwy", "Turnpike", "Causeway", "Embankment", "Hill", "Green",
	"Gate", "Broadway", "STREET", "ST", "AVE", "RD", "BLVD", "LN", "DR", "CT", NULL,
};

static const char *const en_directions_words[] = {
	"N", "S", "E", "W", "NE", "NW", "SE", "SW", "North", "South", "East", "West",
	NULL,
};

static const char *const en_units_words[] = {
	"Apt", "Apartment", "Suite", "Ste", "Unit", "Fl", "Floor", "Rm", "Room", "Bldg",
	"Building", "Flat", "#", NULL,
};

static const char *const us_states_words[] = {
	"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID",
	"IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO",
	"MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA",
	"RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR",
	"California", "Texas", "Florida", "New York", "Washington", "Oregon",
	"Illinois", "Massachusetts", "Virginia", "Georgia", "Ohio", "Michigan",
	"Colorado", "Arizona", "Nevada", "BC", "ON", "QC", "AB", "MB", "SK", "NS", "NB",
	"NL", "PE", "YT", "NT", "NU", "NSW", "VIC", "QLD", "TAS", "ACT", NULL,
};

/* The lists above, hashed once (tables_init). */
static struct pii_wordset kr_sido = PII_WORDSET(kr_sido_words, 128);
static struct pii_wordset addr_labels = PII_WORDSET(addr_labels_words, 64);
static struct pii_wordset en_street_types = PII_WORDSET(en_street_types_words, 128);
static struct pii_wordset en_directions = PII_WORDSET(en_directions_words, 32);
static struct pii_wordset en_units = PII_WORDSET(en_units_words, 32);
static struct pii_wordset us_states = PII_WORDSET(us_states_words, 256);

static pthread_once_t	 tables_once = PTHREAD_ONCE_INIT;

static void
tables_init(void)
{
	struct pii_wordset *const sets[] = {
		&kr_sido, &addr_labels, &en_street_types, &en_directions, &en_units,
		&us_states,
	};
	size_t	 k;

	for (k = 0; k < sizeof(sets) / sizeof(sets[0]); k++)
		pii_wordset_build(sets[k]);
}

/* Words a number is counted in, so "… 3 시간" or "… 2 명" is no building number. */
static const char kr_units[] = "분초개명대번회일주년월원차층배줄칸";

enum { LV_NONE, LV_SIDO, LV_SIGUNGU, LV_EUPMYEON, LV_DONG };

/* Administrative level of the Korean word buf[s, e), or LV_NONE. */
static int
admin_level(const char *buf, size_t s, size_t e)
{
	size_t	 n = e - s;

	if (n < 6 || !pii_hangul_at(buf, e, s))
		return LV_NONE;
	if (pii_word_in(&kr_sido, buf + s, n))
		return LV_SIDO;
	if (pii_syl_in(buf, e, e - 3, "시군구"))
		return LV_SIGUNGU;
	if (pii_syl_in(buf, e, e - 3, "읍면"))
		return LV_EUPMYEON;
	if (pii_syl_in(buf, e, e - 3, "동리가"))
		return LV_DONG;
	return LV_NONE;
}

static size_t
skip_digits(const char *buf, size_t len, size_t i, size_t max)
{
	size_t	 start = i;

	while (i < len && i - start < max && buf[i] >= '0' && buf[i] <= '9')
		i++;
	pii_match_work += i - start + 1;
	return i;
}

/* "152", "235-1": the end of a building or lot number at i, or i when none. */
static size_t
kr_number(const char *buf, size_t len, size_t i)
{
	size_t	 e = skip_digits(buf, len, i, 6), f;

	if (e == i || e - i > 5)
		return i;
	if (e + 1 < len && buf[e] == '-' && (f = skip_digits(buf, len, e + 1, 5)) > e + 1 &&
	    f - e - 1 <= 4)
		e = f;
	return e;
}

/* 1 when the Korean word at i is a unit a number is counted in ("시간", "명이"). */
static int
kr_unit_word(const char *buf, size_t len, size_t i)
{
	if (pii_syl_is(buf, len, i, "시") && pii_syl_is(buf, len, i + 3, "간"))
		return 1;
	if (pii_syl_is(buf, len, i, "개") && pii_syl_is(buf, len, i + 3, "월"))
		return 1;
	if (pii_syl_is(buf, len, i, "킬") || pii_syl_is(buf, len, i, "미"))
		return 1;
	if (!pii_syl_in(buf, len, i, kr_units))
		return 0;
	return !pii_hangul_at(buf, len, i + 3) ||
	    pii_syl_in(buf, len, i + 3, "이가을를은는의에도만째씩간쯤정");
}

/* What follows a building number at e: 2 an end, punctuation, a particle or 번지;
 * 1 a space and a word that is no unit; 0 a unit, a letter or more digits. */
static int
kr_after_number(const char *buf, size_t len, size_t e)
{
	if (e == len)
		return 2;
	if (pii_is_alnum((unsigned char)buf[e]) || buf[e] == '_' ||
	    (buf[e] == '.' && e + 1 < len && buf[e + 1] >= '0' && buf[e + 1] <= '9'))
		return 0;
	if (buf[e] == ',' && skip_digits(buf, len, e + 1, 4) == e + 4 &&
	    (e + 4 == len || buf[e + 4] != '-'))
		return 0;				/* "1,234": one number */
	if (pii_syl_is(buf, len, e, "번"))
		return pii_syl_is(buf, len, e + 3, "지") ? 2 : 0;
	if (pii_hangul_at(buf, len, e))
		return pii_syl_in(buf, len, e, "에의은는이가을를까부쪽입와과으로") &&
		    !kr_unit_word(buf, len, e) ? 2 : 0;
	if (buf[e] == ' ' && e + 1 < len && (kr_unit_word(buf, len, e + 1) ||
	    (e + 2 < len && buf[e + 1] == '-' && buf[e + 2] >= '0' && buf[e + 2] <= '9')))
		return 0;
	return buf[e] == ' ' ? 1 : 2;
}

/* One detail item at i: "12층", "101동", "1203호", "지하 1층", "B1층", "제3호".
 * Returns its end, or i. */
static size_t
kr_detail_item(const char *buf, size_t len, size_t i)
{
	size_t	 p = i, e;
	int	 basement = 0;

	if (pii_syl_is(buf, len, p, "지") && pii_syl_is(buf, len, p + 3, "하"))
		p += 6 + (p + 6 < len && buf[p + 6] == ' ');
	else if (pii_syl_is(buf, len, p, "제"))
		p += 3;
	else if (p < len && buf[p] >= 'A' && buf[p] <= 'Z' && pii_syl_is(buf, len, p + 1, "동"))
		return p + 4;				/* "B동" */
	else if (p < len && buf[p] == 'B')
		p++, basement = 1;
	e = skip_digits(buf, len, p, 5);
	if (e == p)
		return i;
	if (pii_syl_in(buf, len, e, "층동호") && pii_syl_in(buf, len, e + 3, "관선짜차"))
		return i;				/* "5호관", "3층짜리": no item */
	if (pii_syl_in(buf, len, e, "층동호"))
		return pii_syl_is(buf, len, e + 3, "실") ? e + 6 : e + 3;
	if (e < len && buf[e] == 'F' && (e + 1 == len ||
	    !pii_is_alnum((unsigned char)buf[e + 1])))
		return e + 1;
	return basement && (e == len || !pii_is_alnum((unsigned char)buf[e])) ? e : i;
}

/* The detail after a building number ending at e: up to four items, each after a
 * comma and/or a space, before them up to two building-name words ("을지트윈타워 동관
 * 3층", "공대 5호관 201호"). Returns the end. */
static size_t
kr_detail(const char *buf, size_t len, size_t e)
{
	size_t	 p, q, k, names = 0, at = e;

	for (k = 0; k < 6; k++) {
		p = at;
		if (p < len && buf[p] == ',')
			p++;
		if (p < len && buf[p] == ' ')
			p++;
		if (p == at)
			break;
		if ((q = kr_detail_item(buf, len, p)) > p) {
			e = at = q;
			names = 0;
			continue;
		}
		/* a building name: a word of Hangul, letters and digits */
		q = p;
		while (q < len && q - p < KWORD_MAX && (pii_hangul_at(buf, len, q) ||
		    pii_is_alnum((unsigned char)buf[q])))
			q += pii_hangul_at(buf, len, q) ? 3 : 1;
		if (q == p || ++names > 2)
			break;
		at = q;
	}
	return e;
}

/* Reads the administrative words before the word at s back (each after one space);
 * returns the start of the address and the highest level seen in *top (LV_NONE: none).
 * A postal code just before is taken in. */
static size_t
kr_admin_before(const char *buf, size_t s, int *top)
{
	size_t	 ws, we, k, start = s;
	int	 lv, last = LV_DONG + 1;

	*top = LV_NONE;
	for (k = 0; k < ADMIN_WORDS && start >= 2 && buf[start - 1] == ' '; k++) {
		we = start - 1;
		ws = pii_kword_start(buf, we, KWORD_MAX);
		if (ws == we || (lv = admin_level(buf, ws, we)) == LV_NONE || lv > last)
			break;
		/* 시/군/구 may come twice: "성남시 분당구" */
		last = lv == LV_SIGUNGU ? LV_SIGUNGU : lv - 1;
		if (*top == LV_NONE || lv < *top)
			*top = lv;
		start = ws;
	}
	/* "06236 서울특별시 …", "(06236) 서울특별시 …" */
	if (*top != LV_NONE && start >= 6 && buf[start - 1] == ' ') {
		size_t e = start - 1 - (buf[start - 2] == ')'), b = e;
		while (b > 0 && e - b < 6 && buf[b - 1] >= '0' && buf[b - 1] <= '9')
			b--;
		if (e - b == 5 && (b == 0 || !pii_is_alnum((unsigned char)buf[b - 1])))
			start = b > 0 && buf[b - 1] == '(' && e < start - 1 ? b - 1 : b;
	}
	return start;
}

/* A road-name address whose road word is buf[ws, we): its end, or 0. */
static size_t
kr_road(const struct pii_vctx *v, size_t ws, size_t we, size_t *start, int *conf)
{
	const char *buf = v->buf;
	size_t	 len = v->len, p = we, e, nsyl = 0, i;
	int	 top, after;

	for (i = ws; i < we; i += pii_hangul_at(buf, len, i) ? 3 : 1)
		nsyl += pii_hangul_at(buf, len, i);
	/* a branch written apart: "정자일로 95번길 12" */
	if (p + 1 < len && buf[p] == ' ' && (e = skip_digits(buf, len, p + 1, 4)) > p + 1 &&
	    (pii_syl_is(buf, len, e, "길") || (pii_syl_is(buf, len, e, "번") &&
	    pii_syl_is(buf, len, e + 3, "길"))))
		p = pii_syl_is(buf, len, e, "길") ? e + 3 : e + 6;
	if (p < len && buf[p] == ' ')
		p++;
	if ((e = kr_number(buf, len, p)) == p || (after = kr_after_number(buf, len, e)) == 0)
		return 0;
	*start = kr_admin_before(buf, ws, &top);
	if (top == LV_NONE && !pii_label_before(buf, ws, &addr_labels)) {
		/* no 시/군/구 and no label: a road of 3+ syllables and a clear end */
		if (nsyl < 3 || (after == 1 && kr_detail(buf, len, e) == e))
			return 0;
		*conf = 70;
	} else
		*conf = top == LV_NONE ? 80 : 90;
	if (pii_syl_is(buf, len, e, "번") && pii_syl_is(buf, len, e + 3, "지"))
		e += 6;
	return kr_detail(buf, len, e);
}

/* A lot-number address whose 동/리/가 word is buf[ws, we): its end, or 0. */
static size_t
kr_lot(const struct pii_vctx *v, size_t ws, size_t we, size_t *start, int *conf)
{
	const char *buf = v->buf;
	size_t	 len = v->len, p = we, e;
	int	 top;

	if (p >= len || buf[p] != ' ')
		return 0;
	p++;
	if (pii_syl_is(buf, len, p, "산"))
		p += 3 + (p + 3 < len && buf[p + 3] == ' ');
	if ((e = kr_number(buf, len, p)) == p)
		return 0;
	if (pii_syl_is(buf, len, e, "번") && pii_syl_is(buf, len, e + 3, "지"))
		e += 6;
	else if (kr_after_number(buf, len, e) == 0)
		return 0;
	*start = kr_admin_before(buf, ws, &top);
	if (top == LV_NONE || top == LV_DONG)
		return 0;
	*conf = 85;
	return kr_detail(buf, len, e);
}


size_t
pii_address_kr(const struct pii_vctx *v, size_t i, struct pii_hitvec *hv, enum aif_err *err)
{
	const char *buf = v->buf;
	size_t	 len = v->len, ws, we, s = 0, e = 0;
	int	 conf = 0;

	we = pii_kword_end(buf, len, i, KWORD_MAX);
	if (we - i < 3 || !pii_hangul_at(buf, len, we - 3))
		return 0;
	ws = pii_kword_start(buf, i, 12);	/* "46" of "46번길" */
	if (we - ws >= 6 && pii_syl_in(buf, len, we - 3, "로길"))
		e = kr_road(v, ws, we, &s, &conf);
	else if (we - ws >= 6 && pii_syl_in(buf, len, we - 3, "동리가") &&
	    pii_hangul_at(buf, len, ws))
		e = kr_lot(v, ws, we, &s, &conf);
	if (e == 0)
		return 0;
	if (pii_push_hit(hv, s, e, AIF_PII_T_ADDRESS, conf, PII_CDET_BASE + CDET_KR_ADDRESS,
	    -1) != 0) {
		*err = AIF_NOMEM;
		return 0;
	}
	return e;
}

/* ---- English ------------------------------------------------------------------------ */

/* i at a space (or ", "): the start of the next word, or 0. */
static size_t
next_word(const char *buf, size_t len, size_t i, int comma)
{
	if (comma && i < len && buf[i] == ',')
		i++;
	if (i >= len || buf[i] != ' ')
		return 0;
	while (i < len && buf[i] == ' ')
		i++;
	return i < len ? i : 0;
}

/* "12345" or "12345-6789" at i: its end, or i. */
static size_t
zip_at(const char *buf, size_t len, size_t i)
{
	size_t	 e = skip_digits(buf, len, i, 6), f;

	if (e - i != 5)
		return i;
	if (e + 5 <= len && buf[e] == '-' && (f = skip_digits(buf, len, e + 1, 5)) == e + 5)
		e = f;
	return e < len && pii_is_alnum((unsigned char)buf[e]) ? i : e;
}

/* A UK postcode at i ("SW1A 2AA"): its end, or i. */
static size_t
uk_postcode_at(const char *buf, size_t len, size_t i)
{
	size_t	 p = i, n;

#define UP(c)	((c) >= 'A' && (c) <= 'Z')
#define DG(c)	((c) >= '0' && (c) <= '9')
	for (n = 0; p < len && n < 2 && UP(buf[p]); p++, n++)
		;
	if (n == 0 || p >= len || !DG(buf[p]))
		return i;
	p++;
	if (p < len && (UP(buf[p]) || DG(buf[p])))
		p++;
	if (p + 4 > len || buf[p] != ' ' || !DG(buf[p + 1]) || !UP(buf[p + 2]) ||
	    !UP(buf[p + 3]) || (p + 4 < len && pii_is_alnum((unsigned char)buf[p + 4])))
		return i;
	return p + 4;
#undef UP
#undef DG
}

/* A unit after the street ending at e (", Apt 4B", " Suite 200", " #12"): its end,
 * or e. */
static size_t
en_unit(const char *buf, size_t len, size_t e)
{
	size_t	 p, w, c, k;

	if ((p = next_word(buf, len, e, 1)) == 0 ||
	    (k = pii_prefix_in(&en_units, buf + p, len - p)) == 0)
		return e;
	if (k > 1 && p + k < len && buf[p + k] != '.' && buf[p + k] != ' ')
		return e;			/* "Apartments", "Suites" */
	w = p + k + (p + k < len && buf[p + k] == '.');
	w += w < len && buf[w] == ' ';
	w += w < len && buf[w] == '#';
	c = pii_aword_end(buf, len, w);
	return c > w && c - w <= 6 ? c : e;
}

/* A Canadian postal code at i ("V6C 1T1"): its end, or i. */
static size_t
ca_postcode_at(const char *buf, size_t len, size_t i)
{
#define UP(c)	((c) >= 'A' && (c) <= 'Z')
#define DG(c)	((c) >= '0' && (c) <= '9')
	if (i + 7 > len || !UP(buf[i]) || !DG(buf[i + 1]) || !UP(buf[i + 2]) ||
	    buf[i + 3] != ' ' || !DG(buf[i + 4]) || !UP(buf[i + 5]) || !DG(buf[i + 6]) ||
	    (i + 7 < len && pii_is_alnum((unsigned char)buf[i + 7])))
		return i;
	return i + 7;
#undef UP
#undef DG
}

/* A ZIP code or postcode at q (an Australian one of 4 digits too): its end, or q. */
static size_t
code_at(const char *buf, size_t len, size_t q)
{
	size_t	 z;

	if ((z = zip_at(buf, len, q)) > q || (z = uk_postcode_at(buf, len, q)) > q)
		return z;
	if ((z = skip_digits(buf, len, q, 5)) == q + 4 &&
	    (z == len || !pii_is_alnum((unsigned char)buf[z])))
		return z;
	return ca_postcode_at(buf, len, q);
}

/* 1 when buf[s, e) is a two-letter state or province code. */
static int
state_code(const char *buf, size_t s, size_t e)
{
	return (e - s == 2 || e - s == 3) && buf[s + 1] >= 'A' && buf[s + 1] <= 'Z' &&
	    pii_word_in(&us_states, buf + s, e - s);
}

/* After the street (and unit) ending at e: ", City", ", ST 12345", ", City, ST",
 * ", City SW1A 2AA". Returns the new end, or e when none of them follows. */
static size_t
en_tail(const char *buf, size_t len, size_t e)
{
	size_t	 p, c, w, q, k, z;
	int	 nl;

	if (e >= len || (buf[e] != ',' && buf[e] != '\n'))
		return e;
	nl = buf[e] == '\n';			/* a second line: "Santa Clara, CA 95054" */
	if (nl ? (p = e + 1) >= len : (p = next_word(buf, len, e, 1)) == 0)
		return e;
	for (c = p, k = 0; k < 3; k++) {	/* the city: up to 3 capitalised words */
		w = pii_aword_end(buf, len, c);
		if (!pii_cap_word(buf, c, w) || state_code(buf, c, w))
			break;
		c = w;
		if (c + 1 >= len || buf[c] != ' ' || buf[c + 1] < 'A' || buf[c + 1] > 'Z')
			break;
		c++;
	}
	if (c > p && buf[c - 1] == ' ')
		c--;
	q = c == p ? p : c < len && buf[c] == ',' ? next_word(buf, len, c, 1) :
	    c < len && buf[c] == ' ' ? next_word(buf, len, c, 0) : 0;
	if (q > 0) {
		k = pii_aword_end(buf, len, q);
		if (pii_word_in(&us_states, buf + q, k - q)) {
			if ((z = next_word(buf, len, k, 0)) > 0 && code_at(buf, len, z) > z)
				return code_at(buf, len, z);
			return k;
		}
		if ((z = code_at(buf, len, q)) > q)
			return z;
	}
	/* a city alone counts at the end of a line or sentence */
	if (!nl && c > p && (c == len || memchr(".;)\n", buf[c], 4) != NULL))
		return c;
	return e;
}

/* A unit written before the house number ("Flat 3, 27 Elm Grove"): its start, or i. */
static size_t
en_unit_before(const char *buf, size_t i)
{
	size_t	 p = i, d, w;

	if (p < 4 || buf[p - 1] != ' ' || buf[p - 2] != ',')
		return i;
	p -= 2;
	for (d = p; d > 0 && p - d < 6 && pii_is_alnum((unsigned char)buf[d - 1]); d--)
		;
	if (d == p || d < 2 || buf[d - 1] != ' ')
		return i;
	for (w = d - 1; w > 0 && d - 1 - w < 10 && pii_is_alnum((unsigned char)buf[w - 1]); w--)
		;
	if ((w > 0 && pii_is_alnum((unsigned char)buf[w - 1])) ||
	    !pii_word_in(&en_units, buf + w, d - 1 - w))
		return i;
	return w;
}

/* The street after the house number: optional direction, 1..4 name words (capitalised
 * or ordinals), a street type. Returns its end, or 0. */
static size_t
en_street(const char *buf, size_t len, size_t p)
{
	size_t	 w, k, end = 0, words = 0;

	w = pii_aword_end(buf, len, p);
	if (pii_word_in(&en_directions, buf + p, w - p)) {
		w += w < len && buf[w] == '.';
		if ((p = next_word(buf, len, w, 0)) == 0)
			return 0;
	}
	for (k = 0; k < 5; k++) {
		w = pii_aword_end(buf, len, p);
		if (w == p)
			break;
		if (words == 0 && w - p == 8 && memcmp(buf + p, "Broadway", 8) == 0)
			end = w;
		else if (words > 0 && pii_word_in(&en_street_types, buf + p, w - p))
			end = w + (w < len && buf[w] == '.');
		else if (!pii_cap_word(buf, p, w) && !(w - p >= 3 && w - p <= 5 &&
		    buf[p] >= '0' && buf[p] <= '9' && buf[w - 1] >= 'a'))	/* "5th" */
			break;
		words++;
		if ((p = next_word(buf, len, w, 0)) == 0 || p > w + 1)
			break;
	}
	if (end == 0)
		return 0;
	/* a direction after: "… Street NW" */
	if (end + 2 <= len && buf[end] == ' ' &&
	    (w = pii_aword_end(buf, len, end + 1)) > end + 1 &&
	    pii_word_in(&en_directions, buf + end + 1, w - end - 1))
		end = w;
	return end;
}

/* An English street address whose house number starts at i: its end, or 0. */
static size_t
en_address(const struct pii_vctx *v, size_t i, size_t *start, int *conf)
{
	const char *buf = v->buf;
	size_t	 len = v->len, e, p, end, tail;
	int	 year;

	e = skip_digits(buf, len, i, 7);
	/* a number, maybe a letter ("221B"), a space and a capital or an ordinal */
	if (e - i > 6 || e + 2 >= len || (buf[e] != ' ' && buf[e + 1] != ' '))
		return 0;
	year = e - i == 4 && (memcmp(buf + i, "19", 2) == 0 || memcmp(buf + i, "20", 2) == 0);
	if (e < len && ((buf[e] >= 'A' && buf[e] <= 'Z') || (buf[e] >= 'a' && buf[e] <= 'z')) &&
	    (e + 1 == len || buf[e + 1] == ' '))
		e++;					/* "221B" */
	if ((p = next_word(buf, len, e, 0)) == 0 || p > e + 2 ||
	    (end = en_street(buf, len, p)) == 0)
		return 0;
	end = en_unit(buf, len, end);
	tail = en_tail(buf, len, end);
	if (tail == end && year && !pii_label_before(buf, i, &addr_labels))
		return 0;				/* "in 2019 Oxford Street" */
	*conf = tail > end ? 90 : 75;
	*start = en_unit_before(buf, i);
	return tail;
}

size_t
pii_address_en(const struct pii_vctx *v, size_t i, struct pii_hitvec *hv, enum aif_err *err)
{
	size_t	 s = i, e;
	int	 conf = 0;

	if ((e = en_address(v, i, &s, &conf)) == 0)
		return 0;
	if (pii_push_hit(hv, s, e, AIF_PII_T_ADDRESS, conf, PII_CDET_BASE + CDET_EN_ADDRESS,
	    -1) != 0) {
		*err = AIF_NOMEM;
		return 0;
	}
	return e;
}

int
pii_address_init(void)
{
	return pthread_once(&tables_once, tables_init) == 0 ? 0 : -1;
}

/* ---- the part a partial mask keeps ---------------------------------------------- */

/* Korean: the 시/도 and 시/군/구 words at the start (after a postal code). */
static int
kr_public_part(const char *p, size_t n, size_t *s, size_t *e)
{
	size_t	 i = 0, we;
	int	 lv;

	while (i < n && (p[i] == '(' || p[i] == ')' || (p[i] >= '0' && p[i] <= '9')))
		i++;				/* a postal code */
	while (i < n && p[i] == ' ')
		i++;
	*s = *e = i;
	while (i < n && pii_hangul_at(p, n, i)) {
		we = pii_kword_end(p, n, i, KWORD_MAX);
		lv = admin_level(p, i, we);
		if (lv != LV_SIDO && lv != LV_SIGUNGU)
			break;
		*e = we;
		i = we + (we < n && p[we] == ' ');
	}
	return *e > *s;
}

/* English: the city and state, without the code: the first part (after ',' or a line
 * break) that starts with neither a number (the street) nor a unit. */
static int
en_public_part(const char *p, size_t n, size_t *s, size_t *e)
{
	size_t	 i = 0, end, w, k;

	for (;;) {
		while (i < n && (p[i] == ' ' || p[i] == ','))
			i++;
		k = pii_prefix_in(&en_units, p + i, n - i);
		if (i < n && !(p[i] >= '0' && p[i] <= '9') && !(k > 0 && (i + k == n ||
		    p[i + k] == ' ' || p[i + k] == '.')))
			break;			/* not a street, not a unit: the city */
		while (i < n && p[i] != ',' && p[i] != '\n')
			i++;
		if (i >= n)
			return 0;
		i++;
	}
	*s = i;
	/* drop the words with digits at the end: "94043", "SW1A 2AA" */
	for (end = n;;) {
		for (w = end; w > *s && p[w - 1] != ' '; w--)
			;
		for (k = w; k < end && !(p[k] >= '0' && p[k] <= '9'); k++)
			;
		if (w == end || k == end)
			break;
		for (end = w; end > *s && p[end - 1] == ' '; end--)
			;
	}
	while (end > *s && (p[end - 1] == ' ' || p[end - 1] == ','))
		end--;
	*e = end;
	return *e > *s;
}

int
pii_address_public_part(const char *p, size_t n, size_t *s, size_t *e)
{
	size_t	 i;

	if (pthread_once(&tables_once, tables_init) != 0)
		return 0;
	for (i = 0; i + 3 <= n; i++)
		if (pii_hangul_at(p, n, i))
			return kr_public_part(p, n, s, e) ? 1 : 0;
	return en_public_part(p, n, s, e) ? 2 : 0;
}
