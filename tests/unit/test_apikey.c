/* test_apikey.c -- unit tests for core/gate/apikey.c: key format and checksum, hashing
 * against vectors computed with `openssl dgst`, constant-time comparison, the pepper
 * loader's bounds and the Authorization header parser. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apikey.h"
#include "secret.h"

/* Random parts and keys computed independently: python3 zlib.crc32 + base62. */
#define KNOWN_KEY	"aif_0123456789ABCDEFGHIJKLMNOPQRSTUV1ggZdL"	/* crc 0x5c339a43 */
#define KNOWN_KEY2	"aif_abcdefghijklmnopqrstuvwxyzABCDEF1mVgZW"	/* crc 0x6154d22a */
#define KNOWN_KEY3	"aif_000000000000000000000000000000002wjyrI"	/* crc 0xa0f292d0 */

/* printf '%s' KNOWN_KEY | openssl dgst -sha256 [-hmac pepper-v1] */
static const char sha256_hex[] =
    "1e810cf9fbf48fe21b607d748541eca47562dae4412e824d9d6a75d5e8ee5dae";
static const char hmac_hex[] =
    "d6a137e219a976f06631b9ea86d20611860d97989f4e8d9a90d3a326b65ef6fe";

static const char base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void
to_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
well_formed(const char *key)
{
	return aif_apikey_well_formed(key, strlen(key));
}

/* ---- format ---- */

static void
test_generated_key_is_well_formed(void **state)
{
	char	key[AIF_KEY_LEN + 1];
	int	i;

	(void)state;
	for (i = 0; i < 200; i++) {
		assert_int_equal(aif_apikey_generate(key), AIF_OK);
		assert_int_equal(strlen(key), AIF_KEY_LEN);
		assert_memory_equal(key, AIF_KEY_PREFIX, 4);
		assert_true(well_formed(key));
	}
}

static void
test_generated_keys_differ(void **state)
{
	char a[AIF_KEY_LEN + 1], b[AIF_KEY_LEN + 1];

	(void)state;
	assert_int_equal(aif_apikey_generate(a), AIF_OK);
	assert_int_equal(aif_apikey_generate(b), AIF_OK);
	assert_string_not_equal(a, b);
}

static void
test_generated_characters_cover_the_alphabet(void **state)
{
	char	key[AIF_KEY_LEN + 1];
	int	seen[62] = { 0 }, i, j, missing = 0;

	(void)state;
	/* 300 keys * 32 chars: every one of 62 characters shows up unless biased. */
	for (i = 0; i < 300; i++) {
		assert_int_equal(aif_apikey_generate(key), AIF_OK);
		for (j = 4; j < 4 + AIF_KEY_RANDOM_LEN; j++)
			seen[strchr(base62, key[j]) - base62] = 1;
	}
	for (i = 0; i < 62; i++)
		missing += !seen[i];
	assert_int_equal(missing, 0);
}

static void
test_known_vectors_are_well_formed(void **state)
{
	(void)state;
	assert_true(well_formed(KNOWN_KEY));
	assert_true(well_formed(KNOWN_KEY2));
	assert_true(well_formed(KNOWN_KEY3));
}

static void
test_any_flipped_character_is_not_well_formed(void **state)
{
	char	key[] = KNOWN_KEY;
	size_t	pos;
	int	k;

	(void)state;
	for (pos = 4; pos < AIF_KEY_LEN; pos++) {
		char orig = key[pos];

		for (k = 0; k < 62; k++) {
			if (base62[k] == orig)
				continue;
			key[pos] = base62[k];
			if (well_formed(key))
				fail_msg("substituting '%c' at %zu still passes", base62[k], pos);
		}
		key[pos] = orig;
	}
	assert_true(well_formed(key));
}

static void
test_swapped_characters_are_not_well_formed(void **state)
{
	char	key[] = KNOWN_KEY;
	char	t;

	(void)state;
	t = key[10];
	key[10] = key[11];
	key[11] = t;
	assert_false(well_formed(key));
}

static void
test_malformed_keys_are_rejected(void **state)
{
	static const struct {
		const char *what, *key;
	} cases[] = {
		{ "empty", "" },
		{ "prefix only", "aif_" },
		{ "wrong prefix", "sk__0123456789ABCDEFGHIJKLMNOPQRSTUV1ggZdL" },
		{ "uppercase prefix", "AIF_0123456789ABCDEFGHIJKLMNOPQRSTUV1ggZdL" },
		{ "one short", "aif_0123456789ABCDEFGHIJKLMNOPQRSTUV1ggZd" },
		{ "one long", "aif_0123456789ABCDEFGHIJKLMNOPQRSTUV1ggZdLx" },
		{ "dash in random", "aif_0123456789ABCDEFGHIJ-LMNOPQRSTUV1ggZdL" },
		{ "underscore in random", "aif_0123456789ABCDEFGHIJ_LMNOPQRSTUV1ggZdL" },
		{ "space in check", "aif_0123456789ABCDEFGHIJKLMNOPQRSTUV1gg dL" },
		{ "non-ASCII byte", "aif_0123456789ABCDEFGHIJ\xc3LMNOPQRSTUV1ggZdL" },
		{ "checksum over 32 bits", "aif_0123456789ABCDEFGHIJKLMNOPQRSTUVzzzzzz" },
		/* crc + 2^32 and crc + 5 * 2^32: equal to the crc modulo 2^32 */
		{ "non-canonical checksum", "aif_0123456789ABCDEFGHIJKLMNOPQRSTUV6NLopP" },
		{ "non-canonical checksum 2", "aif_0123456789ABCDEFGHIJKLMNOPQRSTUVP80nbf" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (well_formed(cases[i].key))
			fail_msg("accepted: %s", cases[i].what);
}

static void
test_nul_inside_key_is_rejected(void **state)
{
	char key[] = KNOWN_KEY;

	(void)state;
	key[20] = '\0';
	assert_false(aif_apikey_well_formed(key, AIF_KEY_LEN));
}

static void
test_null_key_is_not_well_formed(void **state)
{
	(void)state;
	assert_false(aif_apikey_well_formed(NULL, AIF_KEY_LEN));
}

static void
test_well_formed_reads_only_len_bytes(void **state)
{
	char *exact = malloc(AIF_KEY_LEN);	/* no NUL: ASan/valgrind catch overreads */

	(void)state;
	assert_non_null(exact);
	memcpy(exact, KNOWN_KEY, AIF_KEY_LEN);
	assert_true(aif_apikey_well_formed(exact, AIF_KEY_LEN));
	assert_false(aif_apikey_well_formed(exact, 10));
	free(exact);
}

static void
test_display_is_public_prefix(void **state)
{
	char out[AIF_KEY_DISPLAY_LEN + 1];

	(void)state;
	aif_apikey_display(KNOWN_KEY, out);
	assert_string_equal(out, "aif_01234567");
}

/* ---- hashing ---- */

static void
test_sha256_matches_openssl_dgst(void **state)
{
	unsigned char	 h[AIF_KEY_HASH_LEN];
	char		 hex[2 * AIF_KEY_HASH_LEN + 1];

	(void)state;
	aif_apikey_hash(NULL, 0, KNOWN_KEY, strlen(KNOWN_KEY), h);
	to_hex(h, sizeof(h), hex);
	assert_string_equal(hex, sha256_hex);
}

static void
test_hmac_matches_openssl_dgst_hmac(void **state)
{
	const char	*pepper = "pepper-v1";
	unsigned char	 h[AIF_KEY_HASH_LEN];
	char		 hex[2 * AIF_KEY_HASH_LEN + 1];

	(void)state;
	aif_apikey_hash((const unsigned char *)pepper, strlen(pepper), KNOWN_KEY,
	    strlen(KNOWN_KEY), h);
	to_hex(h, sizeof(h), hex);
	assert_string_equal(hex, hmac_hex);
}

static void
test_hash_differs_with_and_without_pepper(void **state)
{
	const unsigned char	 pepper[] = "p";
	unsigned char		 plain[AIF_KEY_HASH_LEN], peppered[AIF_KEY_HASH_LEN];

	(void)state;
	aif_apikey_hash(NULL, 0, KNOWN_KEY, AIF_KEY_LEN, plain);
	aif_apikey_hash(pepper, 1, KNOWN_KEY, AIF_KEY_LEN, peppered);
	assert_false(aif_apikey_hash_equal(plain, peppered));
}

static void
test_hash_differs_between_peppers(void **state)
{
	unsigned char a[AIF_KEY_HASH_LEN], b[AIF_KEY_HASH_LEN];

	(void)state;
	aif_apikey_hash((const unsigned char *)"v1", 2, KNOWN_KEY, AIF_KEY_LEN, a);
	aif_apikey_hash((const unsigned char *)"v2", 2, KNOWN_KEY, AIF_KEY_LEN, b);
	assert_false(aif_apikey_hash_equal(a, b));
}

static void
test_hash_is_deterministic(void **state)
{
	unsigned char a[AIF_KEY_HASH_LEN], b[AIF_KEY_HASH_LEN];

	(void)state;
	aif_apikey_hash((const unsigned char *)"v1", 2, KNOWN_KEY, AIF_KEY_LEN, a);
	aif_apikey_hash((const unsigned char *)"v1", 2, KNOWN_KEY, AIF_KEY_LEN, b);
	assert_true(aif_apikey_hash_equal(a, b));
}

static void
test_hash_equal_detects_first_and_last_byte(void **state)
{
	unsigned char a[AIF_KEY_HASH_LEN], b[AIF_KEY_HASH_LEN];

	(void)state;
	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_true(aif_apikey_hash_equal(a, b));
	b[0] ^= 1;
	assert_false(aif_apikey_hash_equal(a, b));
	b[0] ^= 1;
	b[AIF_KEY_HASH_LEN - 1] ^= 0x80;
	assert_false(aif_apikey_hash_equal(a, b));
}

/* ---- pepper file ---- */

/* Writes n bytes of `fill` to a new temporary file; returns its path (static). */
static const char *
temp_file(size_t n, int fill)
{
	static char	 path[64];
	unsigned char	*buf;
	int		 fd;

	snprintf(path, sizeof(path), "/tmp/aif-pepper-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	buf = malloc(n + 1);
	assert_non_null(buf);
	memset(buf, fill, n);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	free(buf);
	close(fd);
	return path;
}

static void
test_pepper_loads_raw_bytes(void **state)
{
	const char	*path = temp_file(32, 'k');
	unsigned char	*p = NULL;
	size_t		 len = 0;
	enum aif_err	 rc;

	(void)state;
	rc = aif_secret_load(path, &p, &len);
	unlink(path);
	assert_int_equal(rc, AIF_OK);
	assert_int_equal(len, 32);
	assert_non_null(p);
	assert_int_equal(p[0], 'k');
	assert_int_equal(p[31], 'k');
	aif_secret_free(p, len);
}

static void
test_pepper_of_exactly_max_bytes_loads(void **state)
{
	const char	*path = temp_file(AIF_SECRET_MAX, 0);
	unsigned char	*p = NULL;
	size_t		 len = 0;
	enum aif_err	 rc;

	(void)state;
	rc = aif_secret_load(path, &p, &len);
	unlink(path);
	assert_int_equal(rc, AIF_OK);
	assert_int_equal(len, AIF_SECRET_MAX);
	aif_secret_free(p, len);
}

static void
test_pepper_over_max_is_invalid(void **state)
{
	const char	*path = temp_file(AIF_SECRET_MAX + 1, 'x');
	unsigned char	*p = (unsigned char *)"sentinel";
	size_t		 len = 7;
	enum aif_err	 rc;

	(void)state;
	rc = aif_secret_load(path, &p, &len);
	unlink(path);
	assert_int_equal(rc, AIF_INVALID);
	assert_null(p);
}

static void
test_empty_pepper_is_invalid(void **state)
{
	const char	*path = temp_file(0, 0);
	unsigned char	*p = (unsigned char *)"sentinel";
	size_t		 len = 7;
	enum aif_err	 rc;

	(void)state;
	rc = aif_secret_load(path, &p, &len);
	unlink(path);
	assert_int_equal(rc, AIF_INVALID);
	assert_null(p);
}

static void
test_missing_pepper_is_io(void **state)
{
	unsigned char	*p = (unsigned char *)"sentinel";
	size_t		 len = 7;

	(void)state;
	assert_int_equal(aif_secret_load("/nonexistent/aif-pepper", &p, &len),
	    AIF_IO);
	assert_null(p);
}

static void
test_directory_as_pepper_is_io(void **state)
{
	unsigned char	*p = (unsigned char *)"sentinel";
	size_t		 len = 7;

	(void)state;
	assert_int_equal(aif_secret_load("/tmp", &p, &len), AIF_IO);
	assert_null(p);
}

static void
test_pepper_free_accepts_null(void **state)
{
	(void)state;
	aif_secret_free(NULL, 0);
	aif_secret_free(NULL, 10);
}

/* ---- Authorization header ---- */

static void
test_bearer_header_parsing(void **state)
{
	static const struct {
		const char *what, *header, *key;	/* key NULL: rejected */
	} cases[] = {
		{ "plain", "Bearer " KNOWN_KEY, KNOWN_KEY },
		{ "lowercase scheme", "bearer " KNOWN_KEY, KNOWN_KEY },
		{ "uppercase scheme", "BEARER " KNOWN_KEY, KNOWN_KEY },
		{ "several spaces", "Bearer    abc", "abc" },
		{ "trailing whitespace", "Bearer abc \t", "abc" },
		{ "leading whitespace", " Bearer abc", "abc" },
		{ "any token chars", "Bearer sk-x.y~z/+=", "sk-x.y~z/+=" },
		{ "empty", "", NULL },
		{ "scheme only", "Bearer", NULL },
		{ "scheme and space", "Bearer ", NULL },
		{ "scheme and spaces", "Bearer     ", NULL },
		{ "no space", "Bearerabc", NULL },
		{ "tab separator", "Bearer\tabc", NULL },
		{ "other scheme", "Basic dXNlcjpwYXNz", NULL },
		{ "scheme prefix", "Bear abc", NULL },
		{ "longer scheme", "Bearers abc", NULL },
		{ "two tokens", "Bearer abc def", NULL },
		{ "control char", "Bearer ab\x01" "c", NULL },
		{ "non-ASCII", "Bearer ab\xc3\xa9", NULL },
		{ "key without scheme", KNOWN_KEY, NULL },
	};
	const char	*got;
	size_t		 i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = aif_apikey_from_bearer(cases[i].header, &len);
		if (cases[i].key == NULL) {
			if (got != NULL)
				fail_msg("%s: accepted", cases[i].what);
			continue;
		}
		if (got == NULL)
			fail_msg("%s: rejected", cases[i].what);
		if (len != strlen(cases[i].key) ||
		    memcmp(got, cases[i].key, len) != 0)
			fail_msg("%s: got '%.*s'", cases[i].what, (int)len, got);
	}
}

static void
test_bearer_result_points_into_header(void **state)
{
	const char	*h = "Bearer " KNOWN_KEY;
	size_t		 len;

	(void)state;
	assert_ptr_equal(aif_apikey_from_bearer(h, &len), h + 7);
	assert_int_equal(len, AIF_KEY_LEN);
}

static void
test_bearer_missing_header_is_null(void **state)
{
	size_t len;

	(void)state;
	assert_null(aif_apikey_from_bearer(NULL, &len));
}

static void
test_bearer_over_512_bytes_is_rejected(void **state)
{
	char	h[600];
	size_t	len;

	(void)state;
	memcpy(h, "Bearer ", 7);
	memset(h + 7, 'a', sizeof(h) - 7);
	h[512] = '\0';		/* exactly 512 bytes: accepted */
	assert_non_null(aif_apikey_from_bearer(h, &len));
	assert_int_equal(len, 512 - 7);
	h[512] = 'a';
	h[513] = '\0';		/* 513 bytes: rejected */
	assert_null(aif_apikey_from_bearer(h, &len));
	h[513] = 'a';
	h[sizeof(h) - 1] = '\0';
	assert_null(aif_apikey_from_bearer(h, &len));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generated_key_is_well_formed),
		cmocka_unit_test(test_generated_keys_differ),
		cmocka_unit_test(test_generated_characters_cover_the_alphabet),
		cmocka_unit_test(test_known_vectors_are_well_formed),
		cmocka_unit_test(test_any_flipped_character_is_not_well_formed),
		cmocka_unit_test(test_swapped_characters_are_not_well_formed),
		cmocka_unit_test(test_malformed_keys_are_rejected),
		cmocka_unit_test(test_nul_inside_key_is_rejected),
		cmocka_unit_test(test_null_key_is_not_well_formed),
		cmocka_unit_test(test_well_formed_reads_only_len_bytes),
		cmocka_unit_test(test_display_is_public_prefix),
		cmocka_unit_test(test_sha256_matches_openssl_dgst),
		cmocka_unit_test(test_hmac_matches_openssl_dgst_hmac),
		cmocka_unit_test(test_hash_differs_with_and_without_pepper),
		cmocka_unit_test(test_hash_differs_between_peppers),
		cmocka_unit_test(test_hash_is_deterministic),
		cmocka_unit_test(test_hash_equal_detects_first_and_last_byte),
		cmocka_unit_test(test_pepper_loads_raw_bytes),
		cmocka_unit_test(test_pepper_of_exactly_max_bytes_loads),
		cmocka_unit_test(test_pepper_over_max_is_invalid),
		cmocka_unit_test(test_empty_pepper_is_invalid),
		cmocka_unit_test(test_missing_pepper_is_io),
		cmocka_unit_test(test_directory_as_pepper_is_io),
		cmocka_unit_test(test_pepper_free_accepts_null),
		cmocka_unit_test(test_bearer_header_parsing),
		cmocka_unit_test(test_bearer_result_points_into_header),
		cmocka_unit_test(test_bearer_missing_header_is_null),
		cmocka_unit_test(test_bearer_over_512_bytes_is_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
