/* test_pii.c -- unit tests of the PII engine (core/pii*.c) and of the `pii:` config
 * section: checksums, detectors (a data-driven table of positives, hard cases and hard
 * negatives), actions and mask styles, hashing, policies, custom rules, request and
 * response walking, counts, UTF-8 safety, limits, threads, and config errors at their
 * file:line:column. Runs with cwd tests/unit; a few seconds at most. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pii.h"

/* Four lines; a pii section starts on line 5. */
#define BASE								\
	"server: {listen: /tmp/x.sock, run_dir: /tmp}\n"		\
	"database: {socket: /tmp/db.sock, name: aif}\n"			\
	"models: [{id: ext-gpt, adapter: openai, replicas: [{url: 'http://h:1'}]},"\
	" {id: internal-llm, adapter: openai, replicas: [{url: 'http://h:1'}]}]\n" \
	"roles: [{name: user}, {name: admin}]\n"

static char	errbuf[8192];

struct fixture {
	struct aif_config	*cfg;
	struct aif_pii		*pii;
};

/* Loads BASE + pii_yaml and builds the engine; fails the test on any error. */
static void
setup(struct fixture *f, const char *pii_yaml, unsigned flags)
{
	char	 yaml[16384];
	int	 n;

	n = snprintf(yaml, sizeof(yaml), "%s%s", BASE, pii_yaml);
	assert_true(n > 0 && (size_t)n < sizeof(yaml));
	if (aif_cfg_load_string("t.yaml", yaml, (size_t)n, &f->cfg, errbuf,
	    sizeof(errbuf)) != AIF_OK)
		fail_msg("config: %s", errbuf);
	if (aif_pii_new(f->cfg, flags, &f->pii, errbuf, sizeof(errbuf)) != AIF_OK)
		fail_msg("engine: %s", errbuf);
}

static void
teardown(struct fixture *f)
{
	aif_pii_free(f->pii);
	aif_cfg_free(f->cfg);
	f->pii = NULL;
	f->cfg = NULL;
}

/* Masks `in` for model/role; returns the new output (free it) or NULL on error. */
static char *
mask(const struct fixture *f, const char *model, const char *role, const char *in,
    enum aif_err *rc, char *blocked)
{
	struct aif_pii_actions act;
	char	*out = NULL;
	size_t	 outlen = 0;
	enum aif_err e;

	aif_pii_actions_for(f->pii, model, role, &act);
	e = aif_pii_mask_text(&act, in, strlen(in), &out, &outlen, NULL, blocked,
	    blocked != NULL ? AIF_PII_TYPE_LEN : 0);
	if (rc != NULL)
		*rc = e;
	if (e == AIF_OK) {
		assert_int_equal(strlen(out), outlen);
		assert_true(aif_pii_utf8_valid(out, outlen, NULL));
	}
	return out;
}

static void
expect_mask(const struct fixture *f, const char *model, const char *role,
    const char *in, const char *want)
{
	enum aif_err rc;
	char	*out = mask(f, model, role, in, &rc, NULL);

	if (rc != AIF_OK)
		fail_msg("mask(\"%s\"): %s", in, aif_strerror(rc));
	if (strcmp(out, want) != 0)
		fail_msg("mask(\"%s\")\n  got  \"%s\"\n  want \"%s\"", in, out, want);
	free(out);
}

/* ---- checksums ------------------------------------------------------------------- */

static void
luhn_accepts_valid_and_refuses_changed_digits(void **state)
{
	(void)state;
	assert_true(aif_pii_luhn_ok("4111111111111111", 16));
	assert_true(aif_pii_luhn_ok("378282246310005", 15));
	assert_true(aif_pii_luhn_ok("5500000000000004", 16));
	assert_false(aif_pii_luhn_ok("4111111111111112", 16));
	assert_false(aif_pii_luhn_ok("41111111111x1111", 16));
	assert_false(aif_pii_luhn_ok("", 0));
}

static void
iban_needs_known_length_and_mod97(void **state)
{
	(void)state;
	assert_true(aif_pii_iban_ok("DE89370400440532013000", 22));
	assert_true(aif_pii_iban_ok("GB82WEST12345698765432", 22));
	assert_true(aif_pii_iban_ok("FR1420041010050500013M02606", 27));
	assert_false(aif_pii_iban_ok("DE89370400440532013001", 22));	/* check */
	assert_false(aif_pii_iban_ok("DE8937040044053201300", 21));	/* length */
	assert_false(aif_pii_iban_ok("KR89370400440532013000", 22));	/* no KR IBAN */
}

static void
rrn_frn_checksums_and_dates(void **state)
{
	(void)state;
	assert_true(aif_pii_rrn_checksum_ok("9101011234565"));
	assert_true(aif_pii_rrn_checksum_ok("9711011234565"));
	assert_false(aif_pii_rrn_checksum_ok("9101011234567"));
	/* FRN: Presidio's PR #1825 vectors pass the +2 formula, not the RRN one */
	assert_true(aif_pii_frn_checksum_ok("9111245678906"));
	assert_true(aif_pii_frn_checksum_ok("0509126000012"));
	assert_false(aif_pii_rrn_checksum_ok("9111245678906"));
	/* dates, with the century of the 7th digit */
	assert_true(aif_pii_rrn_date_ok("0002293000000"));	/* 2000-02-29 */
	assert_false(aif_pii_rrn_date_ok("0102293000000"));	/* 2001: no 29th */
	assert_false(aif_pii_rrn_date_ok("9002301000000"));	/* Feb 30 */
	assert_false(aif_pii_rrn_date_ok("9013011000000"));	/* month 13 */
	assert_false(aif_pii_rrn_date_ok("9001019000000"));	/* 7th digit 9 */
	assert_false(aif_pii_rrn_date_ok("9901013000000"));	/* born 2099 */
}

static void
brn_checksum(void **state)
{
	(void)state;
	assert_true(aif_pii_brn_checksum_ok("1168200276"));
	assert_true(aif_pii_brn_checksum_ok("1348672683"));
	assert_false(aif_pii_brn_checksum_ok("1234567890"));
}

/* ---- detectors: one table ------------------------------------------------------------ */

static const struct {
	const char *in, *want;
} detect_cases[] = {
	/* e-mail */
	{ "메일은 kim@example.com으로 보내주세요.", "메일은 [EMAIL]으로 보내주세요." },
	{ "Jane.Doe+x@Mail.Example.ORG!", "[EMAIL]!" },
	{ "{\"email\":\"lee@example.com\"}", "{\"email\":\"[EMAIL]\"}" },
	{ "a\\nlee@example.com", "a\\n[EMAIL]" },
	{ "ｋｉｍ＠ｅｘａｍｐｌｅ．ｃｏｍ 입니다", "[EMAIL] 입니다" },
	{ "icon@2x.png @user admin@localhost", "icon@2x.png @user admin@localhost" },
	/* phones */
	{ "제 번호는 010-1234-5678이에요.", "제 번호는 [PHONE]이에요." },
	{ "01012345678로 문자", "[PHONE]로 문자" },
	{ "010 9876 5432 / 010.2345.6789", "[PHONE] / [PHONE]" },
	{ "011-123-4567", "[PHONE]" },
	{ "02-123-4567, 031-987-6543", "[PHONE], [PHONE]" },
	{ "(02) 345-6789", "[PHONE]" },
	{ "+82 10-1234-5678 +82-2-123-4567 +821012345678",
	  "[PHONE] [PHONE] [PHONE]" },
	{ "+1 415-555-2671, +44 20 7946 0958", "[PHONE], [PHONE]" },
	{ "(415) 555-2671", "[PHONE]" },
	{ "phone: 212-555-0199", "phone: [PHONE]" },
	{ "０１０－１２３４－５６７８", "[PHONE]" },
	{ "010‐1234‐5678", "[PHONE]" },			/* U+2010 hyphens */
	{ "010\xe2\x80\x8b" "1234\xe2\x80\x8b" "5678 끝", "[PHONE] 끝" },	/* ZWSP */
	{ "x\\n010-3333-4444\\ny", "x\\n[PHONE]\\ny" },
	{ "\\ud638010-5555-6666", "\\ud638[PHONE]" },
	{ "전화번호 0212345678 로", "전화번호 [PHONE] 로" },
	{ "1588-1234 080-123-4567", "1588-1234 080-123-4567" },
	{ "부품번호 010-1234-5678-A1", "부품번호 010-1234-5678-A1" },
	{ "SKU KT-010-1234-5678", "SKU KT-010-1234-5678" },
	{ "품번 01012345678 재고", "품번 01012345678 재고" },
	{ "Ticket 123-456-7890", "Ticket 123-456-7890" },
	/* resident and foreigner registration numbers */
	{ "주민번호 910101-1234567이야", "주민번호 [KR_RRN]이야" },
	{ "주민등록번호: 9101011234567", "주민등록번호: [KR_RRN]" },
	{ "9101011234565 저장", "[KR_RRN] 저장" },		/* checksum: no keyword needed */
	{ "960101-1234563 (no check digit since 2020)", "[KR_RRN] (no check digit since 2020)" },
	{ "9101011234568 저장", "9101011234568 저장" },
	{ "주민 9101011234568", "주민 [KR_RRN]" },
	{ "외국인등록번호 911124-5678906", "외국인등록번호 [KR_FRN]" },
	{ "９１０１０１－１２３４５６７", "[KR_RRN]" },
	{ "901301-1234567 900230-1234567 900101-9234567",
	  "901301-1234567 900230-1234567 900101-9234567" },
	{ "바코드 8803142547653", "바코드 8803142547653" },
	{ "ts 1712345678901", "ts 1712345678901" },
	/* business numbers, cards, IBAN */
	{ "사업자 116-82-00276", "사업자 [KR_BRN]" },
	{ "사업자등록번호 1168200276", "사업자등록번호 [KR_BRN]" },
	{ "123-45-67890", "123-45-67890" },
	{ "카드 4111 1111 1111 1111, 5500-0000-0000-0004",
	  "카드 [CREDIT_CARD], [CREDIT_CARD]" },
	{ "card=4111111111111111&", "card=[CREDIT_CARD]&" },
	{ "Amex 3782 822463 10005", "Amex [CREDIT_CARD]" },
	{ "4111 1111 1111 1112 1234 5678 9012 3456",
	  "4111 1111 1111 1112 1234 5678 9012 3456" },
	{ "IBAN DE89 3704 0044 0532 0130 00.", "IBAN [IBAN]." },
	{ "GB82WEST12345698765432 ABCD", "[IBAN] ABCD" },
	{ "GB00 TEST 1234 5678 9012 34", "GB00 TEST 1234 5678 9012 34" },
	/* passport, licence, bank account */
	{ "여권 M123A4567", "여권 [KR_PASSPORT]" },
	{ "여권번호 M12345678", "여권번호 [KR_PASSPORT]" },
	{ "part M12345678", "part M12345678" },
	{ "운전면허 11-12-123456-12", "운전면허 [KR_DRIVER_LICENSE]" },
	{ "면허증 서울 12-345678-90", "면허증 서울 [KR_DRIVER_LICENSE]" },
	{ "운전면허 111212345612", "운전면허 [KR_DRIVER_LICENSE]" },
	{ "29-12-123456-12", "29-12-123456-12" },
	{ "신한은행 110-436-387740 입금", "신한은행 [KR_BANK_ACCOUNT] 입금" },
	{ "bank account 123-456789-01-012", "bank account [KR_BANK_ACCOUNT]" },
	{ "110-436-387740", "110-436-387740" },
	{ "계좌이체 거래번호 2024-0315-001234", "계좌이체 거래번호 2024-0315-001234" },
	/* addresses */
	{ "ip 192.168.0.1.", "ip [IPV4]." },
	{ "allow 10.0.0.0/8", "allow [IPV4]" },
	{ "version 1.2.3.4, v1.2.3.4, 10.0.0.256, 1.2.3.4.5",
	  "version 1.2.3.4, v1.2.3.4, 10.0.0.256, 1.2.3.4.5" },
	{ "fe80::1ff:fe23:4567:890a 2001:db8::1", "[IPV6] [IPV6]" },
	{ "::ffff:192.0.2.128", "[IPV6]" },
	{ "12:30:45 00:1A:2B:3C:4D:5E std::vector dead::beef",
	  "12:30:45 00:1A:2B:3C:4D:5E std::vector dead::beef" },
	/* US SSN */
	{ "SSN 536-22-1784", "SSN [US_SSN]" },
	{ "social security 536221784", "social security [US_SSN]" },
	{ "123-45-6789 000-12-3456 12345-6789", "123-45-6789 000-12-3456 12345-6789" },
	/* secrets */
	{ "key sk-proj-AbC123dEf456GhI789jKl012 end", "key [SECRET] end" },
	{ "AKIAIOSFODNN7EXAMPLE", "[SECRET]" },
	{ "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "[SECRET]" },
	{ "aif_0123456789abcdefghijklmnopqrstuvwxyzAB", "[SECRET]" },
	{ "xoxb-123456789012-abcdefghij", "[SECRET]" },
	{ "password: hunter22", "password: [SECRET]" },
	{ "비밀번호는 qwer1234! 입니다", "비밀번호는 [SECRET] 입니다" },
	{ "Authorization: Bearer 8f7a6b5c4d3e2f1a0b9c8d7e", "Authorization: Bearer [SECRET]" },
	{ "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nok",
	  "[SECRET]\nok" },
	{ "cut: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r", "cut: [SECRET]" },
	{ "scikit-learn sk-learn-is-great-for-ml task-1234567890abcdefghij",
	  "scikit-learn sk-learn-is-great-for-ml task-1234567890abcdefghij" },
	{ "password: ******** api_key: YOUR_API_KEY password = os.environ.get",
	  "password: ******** api_key: YOUR_API_KEY password = os.environ.get" },
	{ "비밀번호를 변경하세요 max tokens: 4096", "비밀번호를 변경하세요 max tokens: 4096" },
	/* ordinary numbers */
	{ "2024-03-15 14:30, 2024.03.15, 20240315", "2024-03-15 14:30, 2024.03.15, 20240315" },
	{ "1,234,567원 ₩12,000,000 $1,299.99", "1,234,567원 ₩12,000,000 $1,299.99" },
	{ "v2.14.0 Python 3.11.4 Chrome 120.0.6099.109",
	  "v2.14.0 Python 3.11.4 Chrome 120.0.6099.109" },
	{ "123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000" },
	{ "주문번호 ORD-20240315-0001, Order 2024031512345678",
	  "주문번호 ORD-20240315-0001, Order 2024031512345678" },
	{ "1234567이야 ISBN 978-3-16-148410-0", "1234567이야 ISBN 978-3-16-148410-0" },
	{ "", "" },
};

static void
detectors_table(void **state)
{
	struct fixture	 f;
	size_t		 i;

	(void)state;
	setup(&f, "pii: {enabled: true}\n", 0);
	for (i = 0; i < sizeof(detect_cases) / sizeof(detect_cases[0]); i++)
		expect_mask(&f, NULL, NULL, detect_cases[i].in, detect_cases[i].want);
	teardown(&f);
}

static void
hits_carry_offsets_types_and_confidence(void **state)
{
	struct fixture		 f;
	struct aif_pii_actions	 act;
	struct aif_pii_hit	*hits = NULL;
	size_t			 n = 0;
	const char		*in = "전화 010-1234-5678 주민 960101-1234563";

	(void)state;
	setup(&f, "pii: {enabled: true}\n", 0);
	aif_pii_actions_for(f.pii, NULL, NULL, &act);
	assert_int_equal(aif_pii_scan(&act, in, strlen(in), &hits, &n), AIF_OK);
	assert_int_equal(n, 2);
	assert_int_equal(hits[0].start, strlen("전화 "));
	assert_int_equal(hits[0].end, strlen("전화 010-1234-5678"));
	assert_string_equal(aif_pii_type_name(f.pii, hits[0].type), "PHONE");
	assert_string_equal(aif_pii_hit_source(f.pii, &hits[0]), "kr-mobile");
	assert_int_equal(hits[0].rule, -1);
	assert_string_equal(aif_pii_type_name(f.pii, hits[1].type), "KR_RRN");
	assert_int_equal(hits[1].confidence, 70);	/* date ok, checksum not */
	assert_int_equal(hits[1].action, AIF_PII_MASK);
	free(hits);
	teardown(&f);
}

static void
disabled_detector_finds_nothing_of_its_type(void **state)
{
	struct fixture f;

	(void)state;
	setup(&f, "pii:\n  detectors:\n    - {entity: PHONE, enabled: false}\n"
	    "    - {entity: KR_FRN, enabled: false}\n", 0);
	expect_mask(&f, NULL, NULL, "010-1234-5678 kim@example.com 911124-5678906",
	    "010-1234-5678 [EMAIL] 911124-5678906");
	teardown(&f);
}

/* ---- actions and styles ------------------------------------------------------------- */

static void
partial_masks_keep_a_little(void **state)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "010-1234-5678", "010-****-5678" },
		{ "01012345678", "010****5678" },
		{ "+82 10-1234-5678", "+82 10-****-5678" },
		{ "(02) 345-6789", "(02) ***-6789" },
		{ "０１０－１２３４－５６７８", "010-****-5678" },
		{ "kim@example.com", "k***@example.com" },
		{ "910101-1234567", "910101-1******" },
		{ "4111 1111 1111 1111", "**** **** **** 1111" },
		{ "192.168.0.1", "192.168.*.*" },
		{ "sk-proj-AbC123dEf456GhI789jKl012", "sk-****" },
		{ "AKIAIOSFODNN7EXAMPLE", "AKIA****" },
		{ "사업자 116-82-00276", "사업자 ***-**-*0276" },
		{ "ip fe80::1", "ip fe80:****" },
	};
	struct fixture	 f;
	size_t		 i;

	(void)state;
	setup(&f, "pii: {mask_style: partial}\n", 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_mask(&f, NULL, NULL, cases[i].in, cases[i].want);
	teardown(&f);
}

static void
redact_removes_and_allow_keeps(void **state)
{
	struct fixture f;

	(void)state;
	setup(&f, "pii:\n  default_action: redact\n  detectors:\n"
	    "    - {entity: IPV4, action: allow}\n", 0);
	expect_mask(&f, NULL, NULL, "메일 kim@example.com 로, ip 10.1.2.3",
	    "메일  로, ip 10.1.2.3");
	teardown(&f);
}

static void
hash_tokens_are_keyed_stable_and_spelling_blind(void **state)
{
	struct fixture	 f, g;
	char		 path[] = "/tmp/aif-pii-key-XXXXXX", *a, *b, *c, *d;
	int		 fd;
	char		 yaml[512];

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, "0123456789abcdef0123456789abcdef", 32), 32);
	close(fd);
	snprintf(yaml, sizeof(yaml), "pii:\n  default_action: hash\n  hash_key_file: %s\n",
	    path);
	setup(&f, yaml, 0);
	a = mask(&f, NULL, NULL, "010-1234-5678", NULL, NULL);
	b = mask(&f, NULL, NULL, "+82 10 1234 5678", NULL, NULL);
	c = mask(&f, NULL, NULL, "01012345678로", NULL, NULL);
	d = mask(&f, NULL, NULL, "010-1234-5679", NULL, NULL);
	assert_int_equal(strlen(a), strlen("[PHONE:12345678]"));
	assert_memory_equal(a, "[PHONE:", 7);
	assert_string_equal(a, b);
	assert_int_equal(strncmp(a, c, strlen(a)), 0);
	assert_string_equal(c + strlen(a), "로");
	assert_string_not_equal(a, d);
	free(b);
	free(c);
	free(d);
	/* the same key gives the same token in another engine; emails ignore case */
	snprintf(yaml, sizeof(yaml), "pii:\n  default_action: hash\n  hash_key_file: %s\n"
	    "  hash_length: 16\n", path);
	setup(&g, yaml, 0);
	b = mask(&g, NULL, NULL, "010-1234-5678", NULL, NULL);
	assert_int_equal(strlen(b), strlen("[PHONE:]") + 16);
	assert_memory_equal(a, b, strlen(a) - 1);	/* a prefix of the longer one */
	free(a);
	free(b);
	a = mask(&g, NULL, NULL, "Kim@Example.com", NULL, NULL);
	b = mask(&g, NULL, NULL, "kim@example.com", NULL, NULL);
	assert_string_equal(a, b);
	free(a);
	free(b);
	teardown(&g);
	teardown(&f);
	unlink(path);
}

static void
hash_without_key_file_falls_back_or_fails_clearly(void **state)
{
	struct aif_config	*cfg = NULL;
	struct aif_pii		*pii = NULL;
	char			 yaml[1024];

	(void)state;
	/* hash configured, pepper named but missing: AIF_IO at the hash action */
	snprintf(yaml, sizeof(yaml), "%s%s", BASE, "auth: {pepper_file: /nonexistent/p}\n"
	    "pii:\n  detectors:\n    - {entity: EMAIL, action: hash}\n");
	assert_int_equal(aif_cfg_load_string("t.yaml", yaml, strlen(yaml), &cfg, errbuf,
	    sizeof(errbuf)), AIF_OK);
	assert_int_equal(aif_pii_new(cfg, 0, &pii, errbuf, sizeof(errbuf)), AIF_IO);
	assert_null(pii);
	assert_string_equal(errbuf, "t.yaml:8:31: auth.pepper_file (pii hash key): "
	    "/nonexistent/p cannot be read (missing, unreadable, or not a regular file)");
	/* aifctl's flag: a random key for the run, and a note */
	assert_int_equal(aif_pii_new(cfg, AIF_PII_EPHEMERAL_KEY, &pii, errbuf,
	    sizeof(errbuf)), AIF_OK);
	assert_non_null(strstr(errbuf, "random key"));
	aif_pii_free(pii);
	aif_cfg_free(cfg);
}

static void
block_refuses_and_names_the_type(void **state)
{
	struct fixture		 f;
	struct aif_error	 err;
	char			 blocked[AIF_PII_TYPE_LEN], *out;
	enum aif_err		 rc;

	(void)state;
	setup(&f, "pii:\n  detectors:\n    - {entity: KR_RRN, action: block}\n", 0);
	out = mask(&f, NULL, NULL, "메일 kim@example.com 주민 910101-1234567", &rc, blocked);
	assert_int_equal(rc, AIF_FORBIDDEN);
	assert_null(out);
	assert_string_equal(blocked, "KR_RRN");
	aif_pii_block_error(blocked, &err);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.code, "pii_blocked");
	assert_non_null(strstr(err.message, "KR_RRN"));
	assert_null(strstr(err.message, "910101"));
	teardown(&f);
}

/* ---- policies ------------------------------------------------------------------------ */

static void
policies_match_model_and_role_and_layer_in_order(void **state)
{
	static const char yaml[] =
	    "pii:\n"
	    "  detectors:\n"
	    "    - {entity: KR_RRN, action: block}\n"
	    "  hash_key_file: /dev/null\n"
	    "  policies:\n"
	    "    - name: internal\n"
	    "      models: [\"internal-*\"]\n"
	    "      actions:\n"
	    "        - {entity: KR_RRN, action: allow}\n"
	    "    - name: admins\n"
	    "      roles: [admin]\n"
	    "      actions:\n"
	    "        - {entity: \"KR_*\", action: mask, mask_style: partial}\n"
	    "        - {entity: EMAIL, action: redact}\n";
	struct fixture	 f;
	char		 blocked[AIF_PII_TYPE_LEN], *out;
	enum aif_err	 rc;

	(void)state;
	setup(&f, yaml, 0);
	out = mask(&f, "ext-gpt", "user", "910101-1234567", &rc, blocked);
	assert_int_equal(rc, AIF_FORBIDDEN);
	assert_null(out);
	expect_mask(&f, "internal-llm", "user", "910101-1234567 a@b.co",
	    "910101-1234567 [EMAIL]");
	expect_mask(&f, "ext-gpt", "admin", "910101-1234567 a@b.co", "910101-1****** ");
	/* both match: the later policy wins */
	expect_mask(&f, "internal-llm", "admin", "910101-1234567", "910101-1******");
	/* no model or role: only "*" patterns match */
	out = mask(&f, NULL, NULL, "910101-1234567", &rc, blocked);
	assert_int_equal(rc, AIF_FORBIDDEN);
	assert_null(out);
	teardown(&f);
}

/* ---- custom rules --------------------------------------------------------------------- */

static void
custom_rules_add_types_validate_and_need_context(void **state)
{
	static const char yaml[] =
	    "pii:\n"
	    "  rules:\n"
	    "    - {name: emp, entity: EMPLOYEE_ID, pattern: 'EMP-[0-9]{6}'}\n"
	    "    - {name: proj, entity: PROJECT, pattern: 'project[ -]?x',"
	    " case_insensitive: true, action: redact}\n"
	    "    - {name: card16, entity: CREDIT_CARD, pattern: '(?<![0-9])[0-9]{4}/[0-9]{4}"
	    "/[0-9]{4}/[0-9]{4}(?![0-9])', validation: luhn}\n"
	    "    - {name: member, entity: MEMBER_NO, pattern: '(?<![0-9])[0-9]{8}(?![0-9])',"
	    " context: [회원번호, member]}\n"
	    "    - {name: name, entity: PERSON, pattern: '(?<=고객 )[가-힣]{2,4}(?=님| 님)'}\n"
	    "    - {name: off, entity: OFF, pattern: 'zzz', enabled: false}\n";
	struct fixture f;

	(void)state;
	setup(&f, yaml, 0);
	expect_mask(&f, NULL, NULL, "사번 EMP-123456 입니다", "사번 [EMPLOYEE_ID] 입니다");
	expect_mask(&f, NULL, NULL, "the PROJECT X plan", "the  plan");
	expect_mask(&f, NULL, NULL, "4111/1111/1111/1111 4111/1111/1111/1112",
	    "[CREDIT_CARD] 4111/1111/1111/1112");
	expect_mask(&f, NULL, NULL, "회원번호 12345678, member 23456789",
	    "회원번호 [MEMBER_NO], member [MEMBER_NO]");
	expect_mask(&f, NULL, NULL, "주문 87654321", "주문 87654321");
	expect_mask(&f, NULL, NULL, "고객 홍길동님 zzz", "고객 [PERSON]님 zzz");
	teardown(&f);
}

static void
custom_rule_wins_an_overlap(void **state)
{
	struct fixture f;

	(void)state;
	setup(&f, "pii:\n  rules:\n    - {name: ord, entity: ORDER_NO, "
	    "pattern: 'ORD 010-[0-9]{4}-[0-9]{4}'}\n", 0);
	expect_mask(&f, NULL, NULL, "ORD 010-1234-5678 / 010-1234-5678",
	    "[ORDER_NO] / [PHONE]");
	teardown(&f);
}

static void
runaway_custom_regex_hits_the_match_limit(void **state)
{
	struct fixture		 f;
	struct aif_pii_actions	 act;
	struct aif_pii_hit	*hits = (struct aif_pii_hit *)1;
	size_t			 n = 1;
	char			 in[64];

	(void)state;
	setup(&f, "pii:\n  rules:\n    - {name: bad, entity: BAD, pattern: '(a|aa)+$'}\n", 0);
	memset(in, 'a', sizeof(in) - 2);
	in[sizeof(in) - 2] = '!';
	in[sizeof(in) - 1] = '\0';
	aif_pii_actions_for(f.pii, NULL, NULL, &act);
	assert_int_equal(aif_pii_scan(&act, in, strlen(in), &hits, &n), AIF_TOOBIG);
	assert_null(hits);
	assert_int_equal(n, 0);
	teardown(&f);
}

/* Scans `text` with the default actions of f; returns the matcher work it took
 * (aif_pii_thread_work() before and after, on this thread). */
static uint64_t
scan_work(const struct fixture *f, const char *text, size_t len)
{
	struct aif_pii_actions	 act;
	struct aif_pii_hit	*hits;
	size_t			 n;
	uint64_t		 w0;

	aif_pii_actions_for(f->pii, NULL, NULL, &act);
	w0 = aif_pii_thread_work();
	assert_int_equal(aif_pii_scan(&act, text, len, &hits, &n), AIF_OK);
	free(hits);
	return aif_pii_thread_work() - w0;
}

/* The work counter charges a pcre2 search the bytes from its start to the end of its
 * match, or to the end of the text when it finds nothing: a custom rule adds exactly one
 * sweep of the text to a scan, whether it matches midway or not at all. */
static void
matcher_work_counts_one_sweep_per_rule_search(void **state)
{
	struct fixture	 plain, rule;
	char		 text[1000];
	uint64_t	 w_plain, w_rule;

	(void)state;
	setup(&plain, "pii: {}\n", 0);
	setup(&rule, "pii:\n  rules:\n    - {name: q, entity: QNO, pattern: 'QQQ[0-9]'}\n",
	    0);
	memset(text, 'z', sizeof(text));
	w_plain = scan_work(&plain, text, sizeof(text));
	w_rule = scan_work(&rule, text, sizeof(text));
	assert_true(w_plain > 0);
	assert_int_equal(w_rule - w_plain, sizeof(text));
	memcpy(text + 500, "QQQ1", 4);
	w_plain = scan_work(&plain, text, sizeof(text));
	w_rule = scan_work(&rule, text, sizeof(text));
	assert_int_equal(w_rule - w_plain, sizeof(text));
	teardown(&rule);
	teardown(&plain);
}

/* Inputs that once made a pass quadratic (pcre2 looking ahead for a required character
 * on every call) stay linear: the matcher work of a scan (aif_pii_thread_work; counted,
 * not timed) is at most WORK_PER_BYTE times the length of the text. A linear scan does
 * a bounded amount per byte: one sweep per pass that pcre2 searches (7 passes at most),
 * a few anchored attempts per place a pass's start filter lets through, and the bytes
 * of matches and of the keyword windows around candidates (64 + 32 bytes); these units
 * measure 3 to 4 per byte, and 128 leaves room for new detectors and a keyword window
 * at every byte. A scan that may re-read the rest of the text on each call (the
 * anchoring undone, or a search started at every candidate) costs about a quarter of
 * the text per byte on these units: ~131072 per byte at 512 KiB, 1000 times the bound.
 * A throughput figure belongs to bench/ (make bench-pii), not here. */
#define WORK_PER_BYTE	128

static void
pathological_inputs_stay_linear(void **state)
{
	static const char *const units[] = {
		"회의록 meeting 2024-03-15 14:30 v2.1 ", "a@", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@", "1.",
		"1 ", ":", "0", "(02)", "+1 ", "비밀번호 abcd", "password: ", "\\n", "a.b@c",
		"-----BEGIN PRIVATE KEY-----", "김민지 님 ", "이름: 김", "김", "가", "서울특별시 강남구 ",
		"테헤란로 1 ", "테헤란로 1, 1층 ", "강남구 역삼동 1 ", "1 Main Street, ", "1 A B C ",
		"Mr. ", "John ", "John Smith, ", "Dear ", "참석자: 김민지, ", "김민지, ",
		"Regards,\n", "1 Main St, Apt 1, ", "@김민지 ", "가中", "가·", "김민지😀", "가é",
	};
	struct fixture		 f;
	size_t			 i, len, ul, over = 0;
	char			*in;
	uint64_t		 w;

	(void)state;
	setup(&f, "pii: {}\n", 0);
	assert_non_null(in = malloc((1 << 19) + 64));
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		ul = strlen(units[i]);
		for (len = 0; len + ul <= (1 << 19); len += ul)
			memcpy(in + len, units[i], ul);
		w = scan_work(&f, in, len);
		if (w > (uint64_t)WORK_PER_BYTE * len) {
			print_error("512 KiB of \"%s\": matcher work %llu, %.1f per byte\n",
			    units[i], (unsigned long long)w, (double)w / (double)len);
			over++;
		}
	}
	free(in);
	teardown(&f);
	if (over > 0)
		fail_msg("%zu of %zu inputs took more than %d per byte", over,
		    sizeof(units) / sizeof(units[0]), WORK_PER_BYTE);
}


/* ---- names and addresses (person.c, address.c) -------------------------------------- */

/* Names with a cue are masked, the cue and particles stay; words that only look like
 * names (a surname syllable first) are left alone. */
static void
korean_names_need_a_cue(void **state)
{
	struct fixture	 f;

	(void)state;
	setup(&f, "pii: {}\n", 0);
	expect_mask(&f, NULL, NULL, "담당자 김민지 님께", "담당자 [PERSON] 님께");
	expect_mask(&f, NULL, NULL, "고객명: 박서준", "고객명: [PERSON]");
	expect_mask(&f, NULL, NULL, "정우진과장님이 오셨다", "[PERSON]과장님이 오셨다");
	expect_mask(&f, NULL, NULL, "강다은에게 전달", "[PERSON]에게 전달");
	expect_mask(&f, NULL, NULL, "남궁민수 님", "[PERSON] 님");
	expect_mask(&f, NULL, NULL, "@주현민 확인 부탁", "@[PERSON] 확인 부탁");
	expect_mask(&f, NULL, NULL, "참석자: 김민지, 박서준, 이하늘",
	    "참석자: [PERSON], [PERSON], [PERSON]");
	expect_mask(&f, NULL, NULL, "홍길동 010-1234-5678", "[PERSON] [PHONE]");
	/* 지연 is a word ("delay") and a usual given name: the cue decides */
	expect_mask(&f, NULL, NULL, "지연 씨에게 연락해 주세요", "[PERSON] 씨에게 연락해 주세요");
	expect_mask(&f, NULL, NULL, "이름: 지연", "이름: [PERSON]");
	/* no cue, or words that are no names */
	expect_mask(&f, NULL, NULL, "담당자가 지시 사항, 고객 지정 번호, 고객 지식 공유",
	    "담당자가 지시 사항, 고객 지정 번호, 고객 지식 공유");
	expect_mask(&f, NULL, NULL, "김민지", "김민지");
	expect_mask(&f, NULL, NULL, "이사회 대표가 정보 담당자에게 문의했다",
	    "이사회 대표가 정보 담당자에게 문의했다");
	expect_mask(&f, NULL, NULL, "김치찌개와 최대 한국어 조회", "김치찌개와 최대 한국어 조회");
	expect_mask(&f, NULL, NULL, "사용자가 관리자 권한이 필요합니다",
	    "사용자가 관리자 권한이 필요합니다");
	expect_mask(&f, NULL, NULL, "과장님께 보고", "과장님께 보고");
	teardown(&f);
}

static void
english_names_need_lists_or_a_cue(void **state)
{
	struct fixture	 f;

	(void)state;
	setup(&f, "pii: {}\n", 0);
	expect_mask(&f, NULL, NULL, "John Smith in accounting", "[PERSON] in accounting");
	expect_mask(&f, NULL, NULL, "Dear Mr. Thompson,", "Dear Mr. [PERSON],");
	expect_mask(&f, NULL, NULL, "my name is Priya Ramaswamy", "my name is [PERSON]");
	expect_mask(&f, NULL, NULL, "Best regards,\nEmily Carter", "Best regards,\n[PERSON]");
	expect_mask(&f, NULL, NULL, "Dr. Mohammed Al Farsi", "Dr. [PERSON]");
	/* places, brands and words */
	expect_mask(&f, NULL, NULL, "Virginia Beach, Chase Bank and Morgan Stanley",
	    "Virginia Beach, Chase Bank and Morgan Stanley");
	expect_mask(&f, NULL, NULL, "Will do. Mark the grace period.",
	    "Will do. Mark the grace period.");
	expect_mask(&f, NULL, NULL, "Mr. Clean and Dr Pepper", "Mr. Clean and Dr Pepper");
	expect_mask(&f, NULL, NULL, "Contact Jane.Doe@example.com", "Contact [EMAIL]");
	teardown(&f);
}

static void
addresses_korean_and_english(void **state)
{
	struct fixture	 f;

	(void)state;
	setup(&f, "pii: {}\n", 0);
	expect_mask(&f, NULL, NULL, "배송지: 서울특별시 강남구 테헤란로 152, 12층입니다",
	    "배송지: [ADDRESS]입니다");
	expect_mask(&f, NULL, NULL, "06236 서울특별시 강남구 테헤란로 152 (역삼동)",
	    "[ADDRESS] (역삼동)");
	expect_mask(&f, NULL, NULL, "경기도 성남시 분당구 정자일로 95번길 12, 101동 1203호로",
	    "[ADDRESS]로");
	expect_mask(&f, NULL, NULL, "강원도 춘천시 효자동 123-4번지", "[ADDRESS]");
	expect_mask(&f, NULL, NULL, "1600 Amphitheatre Parkway, Mountain View, CA 94043.",
	    "[ADDRESS].");
	expect_mask(&f, NULL, NULL, "Flat 3, 27 Elm Grove, Bristol BS6 5JQ", "[ADDRESS]");
	/* streets in general, numbers with units, years */
	expect_mask(&f, NULL, NULL, "테헤란로는 강남의 중심 도로다", "테헤란로는 강남의 중심 도로다");
	expect_mask(&f, NULL, NULL, "도산대로 3개 차선, 버스로 3 시간, 2호선",
	    "도산대로 3개 차선, 버스로 3 시간, 2호선");
	expect_mask(&f, NULL, NULL, "서울특별시 강남구에 사무실이 있다",
	    "서울특별시 강남구에 사무실이 있다");
	expect_mask(&f, NULL, NULL, "In 2019 Oxford Street was busy; Main Street is closed.",
	    "In 2019 Oxford Street was busy; Main Street is closed.");
	teardown(&f);
}

/* The partial style keeps what analytics may use: the district of an address, the
 * city and state of an English one, a name's surname or initials. */
static void
partial_names_and_addresses(void **state)
{
	struct fixture	 f;

	(void)state;
	setup(&f, "pii:\n  detectors:\n    - {entity: ADDRESS, mask_style: partial}\n"
	    "    - {entity: PERSON, mask_style: partial}\n", 0);
	expect_mask(&f, NULL, NULL, "배송지: 서울특별시 강남구 테헤란로 152, 12층",
	    "배송지: 서울특별시 강남구 [ADDRESS]");
	expect_mask(&f, NULL, NULL, "06236 경기도 성남시 분당구 판교역로 235",
	    "경기도 성남시 분당구 [ADDRESS]");
	expect_mask(&f, NULL, NULL, "at 350 Fifth Avenue, Suite 3300, New York, NY 10118",
	    "at [ADDRESS], New York, NY");
	expect_mask(&f, NULL, NULL, "고객명: 박서준", "고객명: 박**");
	expect_mask(&f, NULL, NULL, "John Smith in accounting", "J. S. in accounting");
	/* the street never stays, whether a unit comes first or the city on a new line */
	expect_mask(&f, NULL, NULL, "Flat 3, 27 Elm Grove, London SW1A 2AA",
	    "[ADDRESS], London");
	expect_mask(&f, NULL, NULL, "1600 Amphitheatre Parkway\nSanta Clara, CA 95054",
	    "[ADDRESS], Santa Clara, CA");
	teardown(&f);
	/* a custom rule's name that starts with a letter outside Hangul stays UTF-8 */
	setup(&f, "pii:\n  mask_style: partial\n  rules:\n    - {name: ru, entity: PERSON, "
	    "pattern: 'Иван Petrov'}\n", 0);
	expect_mask(&f, NULL, NULL, "Call Иван Petrov", "Call **** **trov");
	teardown(&f);
}

/* A detector switched off finds nothing; the others still run. */
static void
names_and_addresses_can_be_switched_off(void **state)
{
	struct fixture	 f;

	(void)state;
	setup(&f, "pii:\n  detectors:\n    - {entity: PERSON, enabled: false}\n", 0);
	expect_mask(&f, NULL, NULL, "고객명: 박서준, 서울특별시 강남구 테헤란로 152",
	    "고객명: 박서준, [ADDRESS]");
	teardown(&f);
	setup(&f, "pii:\n  detectors:\n    - {entity: ADDRESS, enabled: false}\n", 0);
	expect_mask(&f, NULL, NULL, "고객명: 박서준, 서울특별시 강남구 테헤란로 152",
	    "고객명: [PERSON], 서울특별시 강남구 테헤란로 152");
	teardown(&f);
}

/* ---- UTF-8 --------------------------------------------------------------------------- */

static void
invalid_utf8_is_refused(void **state)
{
	static const char *bad[] = {
		"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"010-1234-5678 \xe2\x82", "\xe0\x80\xaf",
	};
	struct fixture	 f;
	char		*out;
	enum aif_err	 rc;
	size_t		 i, at = 99;

	(void)state;
	setup(&f, "pii: {}\n", 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(aif_pii_utf8_valid(bad[i], strlen(bad[i]), NULL));
		out = mask(&f, NULL, NULL, bad[i], &rc, NULL);
		assert_int_equal(rc, AIF_INVALID);
		assert_null(out);
	}
	assert_false(aif_pii_utf8_valid("ab\xff", 3, &at));
	assert_int_equal(at, 2);
	assert_true(aif_pii_utf8_valid("가나다 \xf0\x9f\x98\x80 é",
	    strlen("가나다 \xf0\x9f\x98\x80 é"), NULL));
	teardown(&f);
}

/* Random valid UTF-8 built from pieces that are entities, parts of them and Korean:
 * every output must be valid UTF-8 and keep the Korean around the entities. */
static void
random_mixtures_stay_valid_utf8(void **state)
{
	static const char *pieces[] = {
		"010", "-", "1234", "5678", "가", "나", "이야", "@", "kim", "example.com", ".",
		"０", "－", "\xe2\x80\x8b", " ", "\\n", "\\u", "ac00", "4111", "+82", ":",
		"fe80", "sk-", "proj", "password", "=", "비밀번호", "DE89", "\xc2\xa0", "é",
	};
	struct fixture	 f;
	unsigned long	 seed = 7;
	char		 in[512], *out;
	size_t		 i, n, k;
	enum aif_err	 rc;

	(void)state;
	setup(&f, "pii: {mask_style: partial}\n", 0);
	for (i = 0; i < 3000; i++) {
		n = 0;
		for (k = 0; k < 24; k++) {
			const char *p;
			seed = seed * 6364136223846793005UL + 1442695040888963407UL;
			p = pieces[(seed >> 33) % (sizeof(pieces) / sizeof(pieces[0]))];
			memcpy(in + n, p, strlen(p));
			n += strlen(p);
		}
		in[n] = '\0';
		out = mask(&f, NULL, NULL, in, &rc, NULL);
		assert_int_equal(rc, AIF_OK);
		free(out);
	}
	teardown(&f);
}

/* ---- requests and responses ----------------------------------------------------------- */

static json_t *
parse(const char *s)
{
	json_error_t	 e;
	json_t		*j = json_loads(s, 0, &e);

	if (j == NULL)
		fail_msg("bad test json: %s", e.text);
	return j;
}

static void
expect_json(json_t *j, const char *want)
{
	char	*got = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_t	*w = parse(want);
	char	*ws = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);

	if (strcmp(got, ws) != 0)
		fail_msg("json\n  got  %s\n  want %s", got, ws);
	free(got);
	free(ws);
	json_decref(w);
}

static void
chat_request_every_text_is_masked(void **state)
{
	struct fixture		 f;
	struct aif_pii_counts	 c;
	char			 blocked[AIF_PII_TYPE_LEN], *counts = NULL;
	json_t			*body;

	(void)state;
	setup(&f, "pii: {}\n", 0);
	body = parse("{\"model\":\"ext-gpt\",\"user\":\"kim@example.com\",\"messages\":["
	    "{\"role\":\"system\",\"content\":\"전화 010-1234-5678이야\"},"
	    "{\"role\":\"user\",\"name\":\"lee@example.com\",\"content\":["
	    "{\"type\":\"text\",\"text\":\"카드 4111 1111 1111 1111\"},"
	    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/a.png\"}}]},"
	    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\","
	    "\"type\":\"function\",\"function\":{\"name\":\"send\",\"arguments\":"
	    "\"{\\\"to\\\": \\\"park@example.com\\\", \\\"card\\\": 4111111111111111, "
	    "\\\"n\\\": 3}\"}}]},"
	    "{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"f\","
	    "\"arguments\":\"not json 010-9999-8888\"}},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sent to 10.0.0.1\"}]}");
	aif_pii_counts_init(&c);
	assert_int_equal(aif_pii_mask_request(f.pii, "ext-gpt", "user", AIF_KIND_CHAT, body,
	    &c, blocked, sizeof(blocked)), AIF_OK);
	expect_json(body, "{\"model\":\"ext-gpt\",\"user\":\"[EMAIL]\",\"messages\":["
	    "{\"role\":\"system\",\"content\":\"전화 [PHONE]이야\"},"
	    "{\"role\":\"user\",\"name\":\"[EMAIL]\",\"content\":["
	    "{\"type\":\"text\",\"text\":\"카드 [CREDIT_CARD]\"},"
	    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/a.png\"}}]},"
	    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\","
	    "\"type\":\"function\",\"function\":{\"name\":\"send\",\"arguments\":"
	    "\"{\\\"to\\\":\\\"[EMAIL]\\\",\\\"card\\\":\\\"[CREDIT_CARD]\\\",\\\"n\\\":3}\"}}]},"
	    "{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"f\","
	    "\"arguments\":\"not json [PHONE]\"}},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sent to [IPV4]\"}]}");
	assert_string_equal(blocked, "");
	assert_int_equal(aif_pii_counts_json(&c, &counts), AIF_OK);
	/* types in the order first seen (the body's order: "user" first); counts only */
	assert_string_equal(counts, "{\"EMAIL\":3,\"PHONE\":2,\"CREDIT_CARD\":2,\"IPV4\":1}");
	free(counts);
	json_decref(body);
	teardown(&f);
}

static void
completion_and_embedding_inputs_are_masked(void **state)
{
	struct fixture	 f;
	char		 blocked[AIF_PII_TYPE_LEN];
	json_t		*body;

	(void)state;
	setup(&f, "pii: {}\n", 0);
	body = parse("{\"model\":\"m\",\"prompt\":[\"a 010-1234-5678\",\"b\"],"
	    "\"suffix\":\"kim@example.com\"}");
	assert_int_equal(aif_pii_mask_request(f.pii, "m", "user", AIF_KIND_COMPLETION, body,
	    NULL, blocked, sizeof(blocked)), AIF_OK);
	expect_json(body, "{\"model\":\"m\",\"prompt\":[\"a [PHONE]\",\"b\"],"
	    "\"suffix\":\"[EMAIL]\"}");
	json_decref(body);
	body = parse("{\"model\":\"m\",\"prompt\":[[1,2,3],[4]]}");
	assert_int_equal(aif_pii_mask_request(f.pii, "m", "user", AIF_KIND_COMPLETION, body,
	    NULL, blocked, sizeof(blocked)), AIF_OK);
	expect_json(body, "{\"model\":\"m\",\"prompt\":[[1,2,3],[4]]}");
	json_decref(body);
	body = parse("{\"model\":\"m\",\"input\":\"주민 910101-1234567\"}");
	assert_int_equal(aif_pii_mask_request(f.pii, "m", "user", AIF_KIND_EMBEDDING, body,
	    NULL, blocked, sizeof(blocked)), AIF_OK);
	expect_json(body, "{\"model\":\"m\",\"input\":\"주민 [KR_RRN]\"}");
	json_decref(body);
	teardown(&f);
}

static void
request_block_stops_with_the_type(void **state)
{
	struct fixture		 f;
	struct aif_pii_counts	 c;
	char			 blocked[AIF_PII_TYPE_LEN], *counts = NULL;
	json_t			*body;

	(void)state;
	setup(&f, "pii:\n  detectors:\n    - {entity: SECRET, action: block}\n"
	    "    - {entity: IPV4, action: allow}\n", 0);
	body = parse("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"ip 10.0.0.1 key AKIAIOSFODNN7EXAMPLE\"}]}");
	aif_pii_counts_init(&c);
	assert_int_equal(aif_pii_mask_request(f.pii, "m", "user", AIF_KIND_CHAT, body, &c,
	    blocked, sizeof(blocked)), AIF_FORBIDDEN);
	assert_string_equal(blocked, "SECRET");
	assert_int_equal(aif_pii_counts_json(&c, &counts), AIF_OK);
	assert_string_equal(counts, "{\"SECRET\":1,\"allowed\":{\"IPV4\":1}}");
	free(counts);
	json_decref(body);
	teardown(&f);
}

/* EMAIL hashed, with a random key (the file does not exist). */
#define HASH_EMAIL	"pii:\n  hash_key_file: /nonexistent/aif-pii-key\n"		\
			"  detectors:\n    - {entity: EMAIL, action: hash}\n"

/* Screens the body `js` for model_id (role "user"); *body is the tree (caller frees). */
static enum aif_err
screen(const struct fixture *f, const char *model_id, const char *js, json_t **body,
    struct aif_pii_refusal *why, struct aif_pii_counts *c)
{
	*body = parse(js);
	if (c != NULL)
		aif_pii_counts_init(c);
	return aif_pii_screen_request(f->pii, model_id, "user", AIF_KIND_CHAT, *body, c,
	    why);
}

/* Every string at any depth is screened: metadata values and keys, unknown top-level
 * fields, documents, tool-call argument keys; keys that hold an entity are renamed. */
static void
every_string_and_data_key_is_masked(void **state)
{
	struct fixture		 f;
	struct aif_pii_refusal	 why;
	struct aif_pii_counts	 c;
	char			*counts = NULL;
	json_t			*body;

	(void)state;
	setup(&f, "pii: {}\n", 0);
	assert_int_equal(screen(&f, "m", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
	    "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"send\","
	    "\"arguments\":\"{\\\"park@example.com\\\":{\\\"n\\\":1}}\"}}]}],"
	    "\"metadata\":{\"customer\":\"kim@example.com\",\"lee@example.com\":\"vip\","
	    "\"nested\":{\"list\":[\"010-1234-5678\"]}},"
	    "\"x_vendor\":{\"deep\":[{\"note\":\"card 4111 1111 1111 1111\"}]},"
	    "\"10.0.0.3\":true,"
	    "\"documents\":[{\"title\":\"notes of 10.0.0.2\"}],"
	    "\"seed\":4111111111111111}", &body, &why, &c), AIF_OK);
	expect_json(body, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
	    "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"send\","
	    "\"arguments\":\"{\\\"[EMAIL]\\\":{\\\"n\\\":1}}\"}}]}],"
	    "\"metadata\":{\"customer\":\"[EMAIL]\",\"[EMAIL]\":\"vip\","
	    "\"nested\":{\"list\":[\"[PHONE]\"]}},"
	    "\"x_vendor\":{\"deep\":[{\"note\":\"card [CREDIT_CARD]\"}]},"
	    "\"[IPV4]\":true,"
	    "\"documents\":[{\"title\":\"notes of [IPV4]\"}],"
	    "\"seed\":4111111111111111}");
	assert_int_equal(aif_pii_counts_json(&c, &counts), AIF_OK);
	assert_string_equal(counts, "{\"EMAIL\":3,\"PHONE\":1,\"CREDIT_CARD\":1,\"IPV4\":2}");
	free(counts);
	json_decref(body);
	teardown(&f);
}

/* An entity to mask in a field that steers the engine refuses the request with the
 * field's path and the type, never the value; the body keeps its control fields. */
static void
control_fields_refuse_entities_to_mask(void **state)
{
	static const struct {
		const char *body, *path, *type;
	} cases[] = {
		{ "{\"stop\":[\"END\",\"kim@example.com\"]}", "stop[1]", "EMAIL" },
		{ "{\"stop\":\"kim@example.com\"}", "stop", "EMAIL" },
		{ "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"send\","
		    "\"description\":\"Mail\",\"parameters\":{\"description\":"
		    "\"kim@example.com\"}}}]}",
		    "tools[0].function.parameters.description", "EMAIL" },
		{ "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
		    "\"kim@example.com\"}}]}", "tools[0].function.name", "EMAIL" },
		{ "{\"tools\":[\"kim@example.com\"]}", "tools[0]", "EMAIL" },
		{ "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"send\","
		    "\"parameters\":{\"type\":\"object\",\"properties\":{\"to\":{\"type\":"
		    "\"string\",\"default\":\"010-1234-5678\"}}}}}]}",
		    "tools[0].function.parameters.properties.to.default", "PHONE" },
		{ "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"send\","
		    "\"parameters\":{\"properties\":{\"kim@example.com\":{}}}}}]}",
		    "tools[0].function.parameters.properties.<key>", "EMAIL" },
		{ "{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":"
		    "\"r\",\"schema\":{\"enum\":[\"10.0.0.1\"]}}}}",
		    "response_format.json_schema.schema.enum[0]", "IPV4" },
		{ "{\"logit_bias\":{\"01012345678\":5}}", "logit_bias.<key>", "PHONE" },
		{ "{\"chat_template_kwargs\":{\"persona\":\"kim@example.com\"}}",
		    "chat_template_kwargs.persona", "EMAIL" },
		{ "{\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":"
		    "\"kim@example.com\"}}}", "tool_choice.function.name", "EMAIL" },
		{ "{\"guided_choice\":[\"yes\",\"kim@example.com\"]}", "guided_choice[1]",
		    "EMAIL" },
		{ "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
		    "\"x\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
		    "\"https://x/?to=kim@example.com\"}}]}]}",
		    "messages[0].content[1].image_url.url", "EMAIL" },
		{ "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
		    "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
		    "\"kim@example.com\",\"arguments\":\"{}\"}}]}]}",
		    "messages[0].tool_calls[0].function.name", "EMAIL" },
		{ "{\"model\":\"kim@example.com\"}", "model", "EMAIL" },
	};
	struct fixture		 f;
	struct aif_pii_refusal	 why;
	struct aif_error	 err;
	json_t			*body;
	size_t			 i;

	(void)state;
	setup(&f, HASH_EMAIL, AIF_PII_EPHEMERAL_KEY);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum aif_err rc = screen(&f, "m", cases[i].body, &body, &why, NULL);

		if (rc != AIF_FORBIDDEN)
			fail_msg("%s: %s", cases[i].body, aif_strerror(rc));
		assert_int_equal(why.control, 1);
		assert_string_equal(why.type, cases[i].type);
		assert_string_equal(why.path, cases[i].path);
		aif_pii_refusal_error(&why, &err);
		assert_int_equal(err.status, 400);
		assert_string_equal(err.type, "invalid_request_error");
		assert_string_equal(err.code, "pii_in_control_field");
		assert_string_equal(err.param, cases[i].path);
		assert_non_null(strstr(err.message, cases[i].type));
		assert_non_null(strstr(err.message, cases[i].path));
		assert_null(strstr(err.message, "example"));
		assert_null(strstr(err.message, "1234"));
		json_decref(body);
	}
	/* control fields without entities, and known values, pass untouched */
	assert_int_equal(screen(&f, "m", "{\"model\":\"m\",\"stop\":[\"\\n\\n\"],"
	    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"send\","
	    "\"description\":\"Send a mail\",\"parameters\":{\"type\":\"object\","
	    "\"properties\":{\"to\":{\"type\":\"string\"}}}}}],\"logit_bias\":{\"50256\":-100},"
	    "\"seed\":4111111111111111}", &body, &why, NULL), AIF_OK);
	json_decref(body);
	teardown(&f);
}

/* A tool's own description is prose the model reads: masked, not refused (Claude
 * Code's tools describe a mail address); its name still refuses. */
static void
tool_descriptions_are_masked_as_text(void **state)
{
	struct fixture		 f;
	struct aif_pii_refusal	 why;
	json_t			*body;

	(void)state;
	setup(&f, HASH_EMAIL, AIF_PII_EPHEMERAL_KEY);
	assert_int_equal(screen(&f, "m", "{\"tools\":[{\"type\":\"function\",\"function\":"
	    "{\"name\":\"send\",\"description\":\"Mail kim@example.com\"}}]}", &body, &why,
	    NULL), AIF_OK);
	assert_null(strstr(json_string_value(json_object_get(json_object_get(json_array_get(
	    json_object_get(body, "tools"), 0), "function"), "description")), "kim@"));
	json_decref(body);
	teardown(&f);
}

/* The Messages and Responses APIs passed through (kinds messages, responses) read as
 * their bridges do: a flat tool's description and a tool result's content are masked,
 * its input schema, the text format and stop sequences refuse. */
static void
surfaces_passed_through_read_as_their_bridges(void **state)
{
	struct fixture		 f;
	struct aif_pii_refusal	 why;
	json_t			*body;
	char			*dump;

	(void)state;
	setup(&f, HASH_EMAIL, AIF_PII_EPHEMERAL_KEY);
	assert_int_equal(screen(&f, "m", "{\"tools\":[{\"name\":\"send\",\"description\":"
	    "\"Mail kim@example.com\",\"input_schema\":{\"type\":\"object\"}}],"
	    "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
	    "\"tool_use_id\":\"t1\",\"content\":\"from lee@example.com\"}]}]}", &body, &why,
	    NULL), AIF_OK);
	dump = json_dumps(body, JSON_COMPACT);
	assert_null(strstr(dump, "kim@"));
	assert_null(strstr(dump, "lee@"));
	free(dump);
	json_decref(body);
	assert_int_equal(screen(&f, "m", "{\"tools\":[{\"type\":\"function\",\"name\":\"f\","
	    "\"parameters\":{\"description\":\"kim@example.com\"}}]}", &body, &why, NULL),
	    AIF_FORBIDDEN);
	assert_string_equal(why.path, "tools[0].parameters.description");
	json_decref(body);
	assert_int_equal(screen(&f, "m", "{\"text\":{\"format\":{\"type\":\"json_schema\","
	    "\"schema\":{\"const\":\"kim@example.com\"}}}}", &body, &why, NULL),
	    AIF_FORBIDDEN);
	json_decref(body);
	assert_int_equal(screen(&f, "m", "{\"stop_sequences\":[\"kim@example.com\"]}", &body,
	    &why, NULL), AIF_FORBIDDEN);
	json_decref(body);
	teardown(&f);
}

/* A refusal's path names array elements by their index (numbers and nulls skipped
 * by the walk still count), hides long keys, and is cut at 127 bytes with "...", also
 * when the body nests deeper than the path can show. */
static void
refusal_paths_index_hide_and_cut(void **state)
{
	struct fixture		 f;
	struct aif_pii_refusal	 why;
	json_t			*body, *v;
	char			 full[4096], want[AIF_PII_PATH_LEN], key[64];
	size_t			 used;
	int			 i;

	(void)state;
	setup(&f, HASH_EMAIL, AIF_PII_EPHEMERAL_KEY);
	assert_int_equal(screen(&f, "m", "{\"guided_choice\":[1,2.5,null,true,[7],"
	    "\"kim@example.com\"]}", &body, &why, NULL), AIF_FORBIDDEN);
	assert_string_equal(why.path, "guided_choice[5]");
	json_decref(body);
	memset(key, 'k', 49);
	key[49] = '\0';
	body = json_pack("{s:{s:s}}", "chat_template_kwargs", key, "kim@example.com");
	assert_int_equal(aif_pii_screen_request(f.pii, "m", "user", AIF_KIND_CHAT, body,
	    NULL, &why), AIF_FORBIDDEN);
	assert_string_equal(why.path, "chat_template_kwargs.<key>");
	json_decref(body);
	/* 20 keys deep: cut */
	v = json_string("kim@example.com");
	used = (size_t)snprintf(full, sizeof(full), "response_format");
	for (i = 0; i < 20; i++) {
		v = json_pack("{s:o}", "abcdefghij", v);
		used += (size_t)snprintf(full + used, sizeof(full) - used, ".abcdefghij");
	}
	body = json_pack("{s:o}", "response_format", v);
	assert_int_equal(aif_pii_screen_request(f.pii, "m", "user", AIF_KIND_CHAT, body,
	    NULL, &why), AIF_FORBIDDEN);
	snprintf(want, sizeof(want), "%.124s...", full);
	assert_string_equal(why.path, want);
	assert_int_equal(strlen(why.path), AIF_PII_PATH_LEN - 1);
	json_decref(body);
	/* 300 arrays deep, more than the walk keeps of a path */
	v = json_string("kim@example.com");
	used = (size_t)snprintf(full, sizeof(full), "stop");
	for (i = 0; i < 300; i++) {
		v = json_pack("[o]", v);
		if (used < 1000)
			used += (size_t)snprintf(full + used, sizeof(full) - used, "[0]");
	}
	body = json_pack("{s:o}", "stop", v);
	assert_int_equal(aif_pii_screen_request(f.pii, "m", "user", AIF_KIND_CHAT, body,
	    NULL, &why), AIF_FORBIDDEN);
	snprintf(want, sizeof(want), "%.124s...", full);
	assert_string_equal(why.path, want);
	json_decref(body);
	teardown(&f);
}

/* block refuses wherever the value is, control field or key; allow passes a control
 * field (and is counted). */
static void
block_blocks_everywhere_and_allow_passes(void **state)
{
	static const char *const blocked[] = {
		"{\"stop\":\"900101-1234568\"}",
		"{\"metadata\":{\"900101-1234568\":1}}",
		"{\"x_unknown\":[[{\"a\":\"주민 900101-1234568\"}]]}",
		/* a block and an entity to mask in one control field: the block wins */
		"{\"stop\":\"kim@example.com 900101-1234568\"}",
		"{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{"
		    "\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\","
		    "\"arguments\":\"{\\\"900101-1234568\\\":1}\"}}]}]}",
	};
	struct fixture		 f;
	struct aif_pii_refusal	 why;
	struct aif_pii_counts	 c;
	struct aif_error	 err;
	char			*counts = NULL;
	json_t			*body;
	size_t			 i;

	(void)state;
	setup(&f, "pii:\n  detectors:\n    - {entity: KR_RRN, action: block}\n"
	    "    - {entity: IPV4, action: allow}\n", 0);
	for (i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
		if (screen(&f, "m", blocked[i], &body, &why, NULL) != AIF_FORBIDDEN)
			fail_msg("not blocked: %s", blocked[i]);
		assert_int_equal(why.control, 0);
		assert_string_equal(why.type, "KR_RRN");
		aif_pii_refusal_error(&why, &err);
		assert_string_equal(err.code, "pii_blocked");
		json_decref(body);
	}
	assert_int_equal(screen(&f, "m", "{\"stop\":[\"at 10.0.0.1\"]}", &body, &why, &c),
	    AIF_OK);
	expect_json(body, "{\"stop\":[\"at 10.0.0.1\"]}");
	assert_int_equal(aif_pii_counts_json(&c, &counts), AIF_OK);
	assert_string_equal(counts, "{\"allowed\":{\"IPV4\":1}}");
	free(counts);
	json_decref(body);
	teardown(&f);
}

/* Two keys masked into one name cannot both stay: the request is refused (a tool
 * call's arguments fall back to masking as text); hashed keys stay apart. */
static void
masked_keys_that_collide_are_refused(void **state)
{
	struct fixture		 f;
	struct aif_pii_refusal	 why;
	json_t			*body, *args;

	(void)state;
	setup(&f, "pii: {}\n", 0);
	assert_int_equal(screen(&f, "m", "{\"metadata\":{\"a@example.com\":1,"
	    "\"b@example.com\":2}}", &body, &why, NULL), AIF_FORBIDDEN);
	assert_int_equal(why.control, 1);
	assert_string_equal(why.path, "metadata.<key>");
	json_decref(body);
	assert_int_equal(screen(&f, "m", "{\"metadata\":{\"[EMAIL]\":0,"
	    "\"b@example.com\":2}}", &body, &why, NULL), AIF_FORBIDDEN);
	json_decref(body);
	assert_int_equal(screen(&f, "m", "{\"messages\":[{\"role\":\"assistant\","
	    "\"content\":null,\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
	    "\"function\":{\"name\":\"f\",\"arguments\":"
	    "\"{\\\"a@example.com\\\":1,\\\"b@example.com\\\":2}\"}}]}]}", &body, &why, NULL),
	    AIF_OK);
	args = json_object_get(json_object_get(json_array_get(json_object_get(
	    json_array_get(json_object_get(body, "messages"), 0), "tool_calls"), 0),
	    "function"), "arguments");
	assert_string_equal(json_string_value(args), "{\"[EMAIL]\":1,\"[EMAIL]\":2}");
	json_decref(body);
	teardown(&f);
	setup(&f, HASH_EMAIL, AIF_PII_EPHEMERAL_KEY);
	assert_int_equal(screen(&f, "m", "{\"metadata\":{\"a@example.com\":1,"
	    "\"b@example.com\":2}}", &body, &why, NULL), AIF_OK);
	assert_int_equal(json_object_size(json_object_get(body, "metadata")), 2);
	assert_null(json_object_get(json_object_get(body, "metadata"), "a@example.com"));
	json_decref(body);
	teardown(&f);
}

/* The model id, roles and content-part types are skipped when they are the known
 * values (a rule that matches them changes nothing), screened as control otherwise. */
static void
known_values_are_skipped(void **state)
{
	struct fixture		 f;
	struct aif_pii_refusal	 why;
	struct aif_pii_counts	 c;
	char			*counts = (char *)1;
	json_t			*body;
	const char		*js = "{\"model\":\"ext-gpt\",\"messages\":[{\"role\":"
	    "\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}]}";

	(void)state;
	setup(&f, "pii:\n  rules:\n    - {name: words, entity: WORD, "
	    "pattern: 'ext-gpt|assistant|text'}\n", 0);
	assert_int_equal(screen(&f, "ext-gpt", js, &body, &why, &c), AIF_OK);
	expect_json(body, js);
	assert_int_equal(aif_pii_counts_json(&c, &counts), AIF_OK);
	assert_null(counts);
	json_decref(body);
	assert_int_equal(screen(&f, "internal-llm", js, &body, &why, NULL), AIF_FORBIDDEN);
	assert_string_equal(why.path, "model");
	json_decref(body);
	teardown(&f);
}

/* Words of the schemas (JSON Schema keywords, type names, field names) are not scanned
 * while no word holds an entity for the engine; a rule that finds one turns the skip
 * off, so skipping never changes a result. */
static void
schema_words_are_skipped_only_when_that_changes_nothing(void **state)
{
	struct fixture		 f;
	struct aif_pii_refusal	 why;
	json_t			*body;
	uint64_t		 w0;
	const char		*js = "{\"response_format\":{\"type\":\"json_schema\","
	    "\"json_schema\":{\"name\":\"r\",\"schema\":{\"type\":\"object\","
	    "\"properties\":{\"id\":{\"type\":\"string\"}},\"required\":[\"id\"]}}}}";

	(void)state;
	setup(&f, "pii: {}\n", 0);
	w0 = aif_pii_thread_work();
	assert_int_equal(screen(&f, "m", js, &body, &why, NULL), AIF_OK);
	w0 = aif_pii_thread_work() - w0;
	/* of all its strings and keys, only "r" was scanned */
	assert_int_equal(w0, scan_work(&f, "r", 1));
	json_decref(body);
	teardown(&f);
	setup(&f, "pii:\n  rules:\n    - {name: obj, entity: OBJ, pattern: 'object'}\n", 0);
	assert_int_equal(screen(&f, "m", js, &body, &why, NULL), AIF_FORBIDDEN);
	assert_string_equal(why.path, "response_format.json_schema.schema.type");
	assert_string_equal(why.type, "OBJ");
	json_decref(body);
	teardown(&f);
}

/* A body is screened at any depth the validator lets through (server.max_json_depth,
 * up to 512), not refused past 64; tool-call arguments deeper than 64 are masked as
 * text. The walk is linear: twice the fields, twice the matcher work. */
static void
deep_bodies_are_screened_and_the_walk_is_linear(void **state)
{
	struct fixture		 f;
	struct aif_pii_refusal	 why;
	json_t			*body, *leaf, *md, *call;
	uint64_t		 work[2];
	char			 k[64], v[64], args[1024];
	const char		*s;
	int			 i, round, depth;

	(void)state;
	setup(&f, HASH_EMAIL, AIF_PII_EPHEMERAL_KEY);
	for (depth = 70; depth <= 600; depth += 530) {
		leaf = json_string("kim@example.com");
		for (i = 0; i < depth; i++)
			leaf = json_pack("{s:o}", "d", leaf);
		body = json_pack("{s:o}", "metadata", leaf);
		assert_int_equal(aif_pii_screen_request(f.pii, "m", "user", AIF_KIND_CHAT,
		    body, NULL, &why), AIF_OK);
		for (leaf = json_object_get(body, "metadata"); json_is_object(leaf);)
			leaf = json_object_get(leaf, "d");
		assert_true(json_is_string(leaf));
		assert_memory_equal(json_string_value(leaf), "[EMAIL:", 7);
		json_decref(body);
	}
	/* arguments 70 deep: masked as text, still one string */
	for (i = 0, s = args; i < 70; i++)
		args[i] = '[';
	snprintf(args + 70, sizeof(args) - 70, "\"kim@example.com\"");
	for (i = (int)strlen(args); i < 70 + 17 + 70; i++)
		args[i] = ']';
	args[i] = '\0';
	body = json_pack("{s:[{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]}]}", "messages", "role",
	    "assistant", "content", "tool_calls", "id", "c", "type", "function",
	    "function", "name", "f", "arguments", args);
	assert_int_equal(aif_pii_screen_request(f.pii, "m", "user", AIF_KIND_CHAT, body,
	    NULL, &why), AIF_OK);
	call = json_object_get(json_array_get(json_object_get(json_array_get(
	    json_object_get(body, "messages"), 0), "tool_calls"), 0), "function");
	s = json_string_value(json_object_get(call, "arguments"));
	assert_null(strstr(s, "kim@example.com"));
	assert_non_null(strstr(s, "[[[[\"[EMAIL:"));
	json_decref(body);
	for (round = 0; round < 2; round++) {
		uint64_t w0;

		md = json_object();
		for (i = 0; i < 2000 * (round + 1); i++) {
			snprintf(k, sizeof(k), "u%d@example.com", i);
			snprintf(v, sizeof(v), "call 010-1234-%04d", i % 10000);
			json_object_set_new(md, k, json_string(v));
		}
		body = json_pack("{s:o,s:[s]}", "metadata", md, "stop", "END");
		w0 = aif_pii_thread_work();
		assert_int_equal(aif_pii_screen_request(f.pii, "m", "user", AIF_KIND_CHAT,
		    body, NULL, &why), AIF_OK);
		work[round] = aif_pii_thread_work() - w0;
		assert_int_equal(json_object_size(md), 2000 * (round + 1));
		assert_null(json_object_get(md, "u1@example.com"));
		json_decref(body);
	}
	assert_true(work[0] > 0);
	if (work[1] > work[0] * 21 / 10 || work[1] < work[0] * 19 / 10)
		fail_msg("matcher work %llu for 2000 fields, %llu for 4000",
		    (unsigned long long)work[0], (unsigned long long)work[1]);
	teardown(&f);
}

static void
responses_are_masked_only_when_configured(void **state)
{
	struct fixture	 f;
	json_t		*resp;
	const char	*r = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
	    "\"content\":\"call 010-1234-5678\"}},{\"index\":1,\"text\":\"910101-1234567\"}]}";

	(void)state;
	setup(&f, "pii: {}\n", 0);
	resp = parse(r);
	assert_int_equal(aif_pii_mask_response(f.pii, "m", "user", AIF_KIND_CHAT, resp,
	    NULL), AIF_OK);
	expect_json(resp, r);
	json_decref(resp);
	teardown(&f);
	setup(&f, "pii:\n  mask_responses: true\n  detectors:\n"
	    "    - {entity: KR_RRN, action: block}\n", 0);
	resp = parse(r);
	assert_int_equal(aif_pii_mask_response(f.pii, "m", "user", AIF_KIND_COMPLETION,
	    resp, NULL), AIF_OK);
	expect_json(resp, "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
	    "\"content\":\"call [PHONE]\"}},{\"index\":1,\"text\":\"[KR_RRN]\"}]}");
	json_decref(resp);
	teardown(&f);
}

static void
no_section_means_off(void **state)
{
	struct fixture	 f;
	char		 blocked[AIF_PII_TYPE_LEN], *counts = (char *)1;
	struct aif_pii_counts c;
	json_t		*body;

	(void)state;
	setup(&f, "", 0);
	assert_false(aif_pii_enabled(f.pii));
	assert_int_equal(f.cfg->pii.enabled, -1);
	expect_mask(&f, NULL, NULL, "kim@example.com", "kim@example.com");
	body = parse("{\"messages\":[{\"role\":\"user\",\"content\":\"kim@example.com\"}]}");
	aif_pii_counts_init(&c);
	assert_int_equal(aif_pii_mask_request(f.pii, "m", "u", AIF_KIND_CHAT, body, &c,
	    blocked, sizeof(blocked)), AIF_OK);
	assert_int_equal(aif_pii_counts_json(&c, &counts), AIF_OK);
	assert_null(counts);
	json_decref(body);
	teardown(&f);
	setup(&f, "pii: {enabled: false}\n", 0);
	assert_false(aif_pii_enabled(f.pii));
	teardown(&f);
}

/* ---- threads ---------------------------------------------------------------------------- */

static struct fixture	shared;

static void *
worker(void *arg)
{
	int	 i;
	char	*out;

	(void)arg;
	for (i = 0; i < 300; i++) {
		out = mask(&shared, NULL, NULL, "전화 010-1234-5678, 메일 kim@example.com",
		    NULL, NULL);
		if (out == NULL || strcmp(out, "전화 [PHONE], 메일 [EMAIL]") != 0) {
			free(out);
			return (void *)1;
		}
		free(out);
	}
	aif_pii_thread_cleanup();
	return NULL;
}

static void
one_engine_serves_many_threads(void **state)
{
	pthread_t	 t[4];
	void		*r;
	int		 i;

	(void)state;
	setup(&shared, "pii: {}\n", 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
	teardown(&shared);
}

/* ---- config ------------------------------------------------------------------------------- */

static void
expect_config_error(const char *pii_yaml, const char *want)
{
	struct aif_config	*cfg = (struct aif_config *)1;
	char			 yaml[8192];

	snprintf(yaml, sizeof(yaml), "%s%s", BASE, pii_yaml);
	assert_int_equal(aif_cfg_load_string("t.yaml", yaml, strlen(yaml), &cfg, errbuf,
	    sizeof(errbuf)), AIF_CONFIG);
	assert_null(cfg);
	if (strcmp(errbuf, want) != 0)
		fail_msg("config error\n  got  %s\n  want %s", errbuf, want);
}

static void
config_errors_point_at_their_place(void **state)
{
	(void)state;
	expect_config_error("pii:\n  colour: red\n",
	    "t.yaml:6:3: pii: unknown key 'colour'");
	expect_config_error("pii:\n  default_action: scramble\n",
	    "t.yaml:6:19: pii.default_action: 'scramble' is not one of: allow, mask, "
	    "redact, hash, block");
	expect_config_error("pii:\n  detectors:\n    - {entity: FAX}\n",
	    "t.yaml:7:16: pii.detectors[0].entity: 'FAX' is not one of: EMAIL, PHONE, "
	    "KR_RRN, KR_FRN, KR_BRN, CREDIT_CARD, IBAN, KR_PASSPORT, KR_DRIVER_LICENSE, "
	    "KR_BANK_ACCOUNT, IPV4, IPV6, US_SSN, S");	/* config.c cuts the list */
	expect_config_error("pii:\n  detectors:\n    - {entity: EMAIL}\n"
	    "    - {entity: EMAIL, action: block}\n",
	    "t.yaml:8:16: pii.detectors[1].entity: duplicate entity 'EMAIL' (first at "
	    "line 7)");
	expect_config_error("pii:\n  rules:\n    - name: r\n      entity: X\n"
	    "      pattern: 'a(b'\n",
	    "t.yaml:9:16: pii.rules[0].pattern: missing closing parenthesis (at offset 3 "
	    "of the pattern)");
	expect_config_error("pii:\n  rules:\n    - {name: r, entity: X, pattern: 'a*'}\n",
	    "t.yaml:7:37: pii.rules[0].pattern: the pattern can match the empty string "
	    "(at offset 0 of the pattern)");
	expect_config_error("pii:\n  rules:\n    - {name: r, entity: lower, pattern: x}\n",
	    "t.yaml:7:25: pii.rules[0].entity: 'lower' is not a type name "
	    "([A-Z][A-Z0-9_]*, at most 31 characters)");
	expect_config_error("pii:\n  rules:\n    - {name: r, entity: A, pattern: x}\n"
	    "    - {name: r, entity: A, pattern: y, action: block}\n"
	    "    - {name: s, entity: A, pattern: z, action: hash}\n",
	    "t.yaml:8:14: pii.rules[1].name: duplicate rule name 'r' (first at line 7)\n"
	    "t.yaml:9:48: pii.rules[2].action: rules of entity 'A' disagree on the action "
	    "(see line 8); actions are per entity type\n"
	    "t.yaml:9:48: pii: the hash action needs a key: set pii.hash_key_file (or "
	    "auth.pepper_file, from which a key is derived)");
	expect_config_error("pii:\n  policies:\n    - actions:\n"
	    "        - {entity: KR_RNN, action: allow}\n",
	    "t.yaml:8:20: pii.policies[0].actions[0].entity: 'KR_RNN' is neither a "
	    "built-in type nor the entity of a rule");
	expect_config_error("pii:\n  policies:\n    - models: [x]\n",
	    "t.yaml:7:7: pii.policies[0]: missing required key 'actions'");
	expect_config_error("pii:\n  hash_length: 9\n",
	    "t.yaml:6:16: pii.hash_length: must be even (whole bytes of the HMAC)");
}

static void
config_accepts_the_documented_schema(void **state)
{
	static const char yaml[] =
	    "auth: {pepper_file: /some/pepper}\n"
	    "pii:\n"
	    "  enabled: true\n"
	    "  default_action: mask\n"
	    "  mask_style: partial\n"
	    "  mask_responses: true\n"
	    "  hash_length: 12\n"
	    "  detectors:\n"
	    "    - {entity: CREDIT_CARD, action: hash}\n"
	    "    - {entity: IPV6, enabled: false}\n"
	    "  rules:\n"
	    "    - {name: emp, entity: EMPLOYEE_ID, pattern: 'EMP-\\d{6}', action: mask,"
	    " mask_style: placeholder, validation: none, context: [사번]}\n"
	    "  policies:\n"
	    "    - name: p\n"
	    "      models: [\"internal-*\"]\n"
	    "      roles: [admin]\n"
	    "      actions:\n"
	    "        - {entity: \"*\", action: allow}\n";
	struct aif_config *cfg = NULL;
	char	 full[4096];

	(void)state;
	snprintf(full, sizeof(full), "%s%s", BASE, yaml);
	assert_int_equal(aif_cfg_load_string("t.yaml", full, strlen(full), &cfg, errbuf,
	    sizeof(errbuf)), AIF_OK);
	assert_int_equal(cfg->pii.enabled, 1);
	assert_int_equal(cfg->pii.default_action, AIF_PII_MASK);
	assert_int_equal(cfg->pii.mask_style, AIF_PII_STYLE_PARTIAL);
	assert_true(cfg->pii.mask_responses);
	assert_true(cfg->pii.uses_hash);
	assert_int_equal(cfg->pii.hash_line, 13);	/* the card's action: hash */
	assert_int_equal(cfg->pii.ndetectors, 2);
	assert_int_equal(cfg->pii.detectors[0].action, AIF_PII_HASH);
	assert_false(cfg->pii.detectors[1].enabled);
	assert_int_equal(cfg->pii.nrules, 1);
	assert_int_equal(cfg->pii.rules[0].ncontext, 1);
	assert_int_equal(cfg->pii.npolicies, 1);
	assert_string_equal(cfg->pii.policies[0].models[0], "internal-*");
	assert_int_equal(cfg->pii.policies[0].actions[0].action, AIF_PII_ALLOW);
	aif_cfg_free(cfg);
}

static void
repo_config_pii_section_works(void **state)
{
	struct aif_config	*cfg = NULL;
	struct aif_pii		*pii = NULL;
	struct fixture		 f;
	char			 blocked[AIF_PII_TYPE_LEN], *out;
	enum aif_err		 rc;

	(void)state;
	unsetenv("AIF_VAR_DIR");
	assert_int_equal(aif_cfg_load("../../config/aif.yaml", &cfg, errbuf,
	    sizeof(errbuf)), AIF_OK);
	assert_int_equal(cfg->pii.enabled, 1);
	assert_int_equal(aif_pii_new(cfg, AIF_PII_EPHEMERAL_KEY, &pii, errbuf,
	    sizeof(errbuf)), AIF_OK);
	f.cfg = cfg;
	f.pii = pii;
	out = mask(&f, "demo-chat", "user", "주민 910101-1234567", &rc, blocked);
	assert_int_equal(rc, AIF_FORBIDDEN);
	assert_null(out);
	assert_string_equal(blocked, "KR_RRN");
	expect_mask(&f, "demo-chat", "user", "전화 010-1234-5678", "전화 010-****-5678");
	teardown(&f);
}

static void
free_and_names_accept_edge_values(void **state)
{
	(void)state;
	aif_pii_free(NULL);
	assert_string_equal(aif_pii_type_name(NULL, 0), "?");
	assert_string_equal(aif_pii_action_name(99), "?");
	assert_false(aif_pii_enabled(NULL));
	assert_true(aif_pii_type_name_ok("EMPLOYEE_ID"));
	assert_false(aif_pii_type_name_ok("1X"));
	assert_false(aif_pii_type_name_ok("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(luhn_accepts_valid_and_refuses_changed_digits),
		cmocka_unit_test(iban_needs_known_length_and_mod97),
		cmocka_unit_test(rrn_frn_checksums_and_dates),
		cmocka_unit_test(brn_checksum),
		cmocka_unit_test(detectors_table),
		cmocka_unit_test(hits_carry_offsets_types_and_confidence),
		cmocka_unit_test(disabled_detector_finds_nothing_of_its_type),
		cmocka_unit_test(partial_masks_keep_a_little),
		cmocka_unit_test(redact_removes_and_allow_keeps),
		cmocka_unit_test(hash_tokens_are_keyed_stable_and_spelling_blind),
		cmocka_unit_test(hash_without_key_file_falls_back_or_fails_clearly),
		cmocka_unit_test(block_refuses_and_names_the_type),
		cmocka_unit_test(policies_match_model_and_role_and_layer_in_order),
		cmocka_unit_test(custom_rules_add_types_validate_and_need_context),
		cmocka_unit_test(custom_rule_wins_an_overlap),
		cmocka_unit_test(runaway_custom_regex_hits_the_match_limit),
		cmocka_unit_test(matcher_work_counts_one_sweep_per_rule_search),
		cmocka_unit_test(pathological_inputs_stay_linear),
		cmocka_unit_test(korean_names_need_a_cue),
		cmocka_unit_test(english_names_need_lists_or_a_cue),
		cmocka_unit_test(addresses_korean_and_english),
		cmocka_unit_test(partial_names_and_addresses),
		cmocka_unit_test(names_and_addresses_can_be_switched_off),
		cmocka_unit_test(invalid_utf8_is_refused),
		cmocka_unit_test(random_mixtures_stay_valid_utf8),
		cmocka_unit_test(chat_request_every_text_is_masked),
		cmocka_unit_test(completion_and_embedding_inputs_are_masked),
		cmocka_unit_test(request_block_stops_with_the_type),
		cmocka_unit_test(every_string_and_data_key_is_masked),
		cmocka_unit_test(control_fields_refuse_entities_to_mask),
		cmocka_unit_test(tool_descriptions_are_masked_as_text),
		cmocka_unit_test(surfaces_passed_through_read_as_their_bridges),
		cmocka_unit_test(refusal_paths_index_hide_and_cut),
		cmocka_unit_test(block_blocks_everywhere_and_allow_passes),
		cmocka_unit_test(masked_keys_that_collide_are_refused),
		cmocka_unit_test(known_values_are_skipped),
		cmocka_unit_test(schema_words_are_skipped_only_when_that_changes_nothing),
		cmocka_unit_test(deep_bodies_are_screened_and_the_walk_is_linear),
		cmocka_unit_test(responses_are_masked_only_when_configured),
		cmocka_unit_test(no_section_means_off),
		cmocka_unit_test(one_engine_serves_many_threads),
		cmocka_unit_test(config_errors_point_at_their_place),
		cmocka_unit_test(config_accepts_the_documented_schema),
		cmocka_unit_test(repo_config_pii_section_works),
		cmocka_unit_test(free_and_names_accept_edge_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
