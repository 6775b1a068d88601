/* test_relay_proto.c -- unit tests of core/protocol/relay_proto.c: frame tags are
 * HMAC-SHA256 of the signed header and the payload (computed where they lie, equal to
 * the one-shot HMAC of the two joined), any change to either fails the check, keys
 * differ per attempt; and the END payload round-trips (success, error, malformed). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "relay_proto.h"

static const unsigned char secret[AIF_RELAY_SECRET_BYTES] = "0123456789abcdef";

/* The tag by the book: HMAC-SHA256 over a joined copy of header and payload. */
static void
reference_tag(const unsigned char key[AIF_RELAY_KEY_LEN], const struct aif_relay_header *h,
    const void *payload, unsigned char tag[AIF_RELAY_TAG_LEN])
{
	unsigned char *buf = malloc(AIF_RELAY_SIGNED + (size_t)h->len + 1), full[32];
	unsigned int n = sizeof(full);

	assert_non_null(buf);
	aif_relay_put_signed(buf, h);
	if (h->len > 0)
		memcpy(buf + AIF_RELAY_SIGNED, payload, h->len);
	assert_non_null(HMAC(EVP_sha256(), key, AIF_RELAY_KEY_LEN, buf,
	    AIF_RELAY_SIGNED + (size_t)h->len, full, &n));
	memcpy(tag, full, AIF_RELAY_TAG_LEN);
	free(buf);
}

static void
tag_is_hmac_of_header_and_payload(void **state)
{
	static const size_t sizes[] = { 0, 1, 200, 4096, 4097, 70000, AIF_RELAY_PAYLOAD_MAX };
	unsigned char key[AIF_RELAY_KEY_LEN], want[AIF_RELAY_TAG_LEN];
	char *payload = malloc(AIF_RELAY_PAYLOAD_MAX);

	(void)state;
	assert_non_null(payload);
	for (size_t i = 0; i < AIF_RELAY_PAYLOAD_MAX; i++)
		payload[i] = (char)('a' + i % 26);
	aif_relay_key(secret, 42, 1, key);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct aif_relay_header h = { .job = 42, .type = AIF_RELAY_CHUNK,
		    .len = (uint32_t)sizes[i], .attempt = 1 };
		aif_relay_sign(key, &h, payload);
		reference_tag(key, &h, payload, want);
		assert_memory_equal(h.tag, want, AIF_RELAY_TAG_LEN);
		assert_true(aif_relay_verify(key, &h, payload));
	}
	free(payload);
}

static void
any_change_fails_the_check(void **state)
{
	unsigned char key[AIF_RELAY_KEY_LEN], other[AIF_RELAY_KEY_LEN];
	char payload[] = "{\"choices\":[]}";
	struct aif_relay_header h = { .job = 7, .type = AIF_RELAY_CHUNK,
	    .len = sizeof(payload) - 1, .attempt = 2 }, x;

	(void)state;
	aif_relay_key(secret, 7, 2, key);
	aif_relay_sign(key, &h, payload);
	assert_true(aif_relay_verify(key, &h, payload));
	x = h;
	x.job = 8;
	assert_false(aif_relay_verify(key, &x, payload));
	x = h;
	x.type = AIF_RELAY_END;
	assert_false(aif_relay_verify(key, &x, payload));
	x = h;
	x.attempt = 3;
	assert_false(aif_relay_verify(key, &x, payload));
	x = h;
	x.tag[0] ^= 1;
	assert_false(aif_relay_verify(key, &x, payload));
	payload[3] ^= 1;
	assert_false(aif_relay_verify(key, &h, payload));
	payload[3] ^= 1;
	/* another attempt's key */
	aif_relay_key(secret, 7, 3, other);
	assert_memory_not_equal(key, other, AIF_RELAY_KEY_LEN);
	assert_false(aif_relay_verify(other, &h, payload));
	/* a length over the cap is never valid */
	x = h;
	x.len = AIF_RELAY_PAYLOAD_MAX + 1;
	assert_false(aif_relay_verify(key, &x, payload));
}

/* aif_hmac_sha256 (core/base/hmac.c) equals OpenSSL's HMAC for keys shorter than,
 * as long as and longer than SHA-256's 64-byte block, with the message in one or two
 * parts. */
static void
hmac_matches_openssl_for_any_key(void **state)
{
	static const size_t keylens[] = { 0, 1, 16, 32, 63, 64, 65, 200 };
	unsigned char key[200], msg[300], want[32], got[32];
	unsigned int n;

	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 13 + 5);
	for (size_t i = 0; i < sizeof(keylens) / sizeof(keylens[0]); i++) {
		n = sizeof(want);
		assert_non_null(HMAC(EVP_sha256(), key, (int)keylens[i], msg, sizeof(msg),
		    want, &n));
		assert_int_equal(aif_hmac_sha256(key, keylens[i], msg, sizeof(msg), NULL, 0,
		    got), 0);
		assert_memory_equal(got, want, 32);
		memset(got, 0, sizeof(got));
		assert_int_equal(aif_hmac_sha256(key, keylens[i], msg, 100, msg + 100,
		    sizeof(msg) - 100, got), 0);
		assert_memory_equal(got, want, 32);
	}
	assert_int_equal(aif_sha256(msg, sizeof(msg), got), 0);
	assert_non_null(SHA256(msg, sizeof(msg), want));
	assert_memory_equal(got, want, 32);
}

/* The key is HMAC-SHA256(secret, "aif-relay-v1" | job | attempt), little-endian. */
static void
key_is_hmac_of_label_job_and_attempt(void **state)
{
	unsigned char key[AIF_RELAY_KEY_LEN], want[32];
	unsigned char msg[12 + 12] = "aif-relay-v1";
	unsigned int n = sizeof(want);

	(void)state;
	msg[12] = 0x01;
	msg[13] = 0x02;
	memset(msg + 14, 0, 6);
	msg[20] = 5;
	memset(msg + 21, 0, 3);
	assert_non_null(HMAC(EVP_sha256(), secret, sizeof(secret), msg, sizeof(msg), want,
	    &n));
	aif_relay_key(secret, 0x0201, 5, key);
	assert_memory_equal(key, want, AIF_RELAY_KEY_LEN);
}

static void
end_ok_round_trips(void **state)
{
	struct aif_relay_end end;
	size_t len;
	char *p = aif_relay_end_ok("chatcmpl-job_x", 1790000000, "demo-chat", 12, 34, 7, &len);

	(void)state;
	assert_non_null(p);
	assert_int_equal(len, strlen(p));
	assert_int_equal(aif_relay_end_parse(p, len, &end), 0);
	assert_int_equal(end.status, 200);
	assert_string_equal(end.id, "chatcmpl-job_x");
	assert_int_equal(end.created, 1790000000);
	assert_string_equal(end.model, "demo-chat");
	assert_int_equal(end.prompt_tokens, 12);
	assert_int_equal(end.completion_tokens, 34);
	assert_non_null(strstr(p, "\"total_tokens\":46"));
	assert_int_equal(end.chunks, 7);
	assert_int_equal(end.bytes, -1);
	free(p);
	/* a synchronous answer's END says the status and the answer's length */
	p = aif_relay_end_result(1234, &len);
	assert_string_equal(p, "{\"status\":200,\"bytes\":1234}");
	assert_int_equal(len, strlen(p));
	assert_int_equal(aif_relay_end_parse(p, len, &end), 0);
	assert_int_equal(end.status, 200);
	assert_int_equal(end.bytes, 1234);
	assert_int_equal(end.chunks, -1);
	free(p);
	/* an END of an older sender says no count: -1, nothing checked */
	assert_int_equal(aif_relay_end_parse("{\"status\":200}", 14, &end), 0);
	assert_int_equal(end.chunks, -1);
	assert_int_equal(end.bytes, -1);
}

static void
end_error_round_trips(void **state)
{
	struct aif_error e;
	struct aif_relay_end end;
	size_t len;
	char *p;

	(void)state;
	AIF_ERROR0(&e, AIF_E_ANSWER_TOO_LARGE, NULL);
	assert_non_null(p = aif_relay_end_error(&e, &len));
	assert_int_equal(len, strlen(p));
	assert_int_equal(aif_relay_end_parse(p, len, &end), 0);
	assert_int_equal(end.status, e.status);
	assert_int_equal(end.error.status, e.status);
	assert_string_equal(end.error.type, e.type);
	assert_string_equal(end.error.code, e.code);
	assert_string_equal(end.error.message, e.message);
	free(p);
	/* an error without a code: null on the wire, "" again */
	AIF_ERROR0(&e, AIF_E_JOB_FAILED, NULL);
	assert_non_null(p = aif_relay_end_error(&e, &len));
	assert_non_null(strstr(p, "\"code\":null"));
	assert_non_null(strstr(p, "\"param\":null"));
	assert_int_equal(aif_relay_end_parse(p, len, &end), 0);
	assert_string_equal(end.error.code, "");
	assert_string_equal(end.error.message, e.message);
	free(p);
}

/* What aif-api makes of an END that is not one: the job failed, 502. */
static void
malformed_end_is_a_502_job_failure(void **state)
{
	static const char *const bad[] = { "", "not json", "[]", "{\"status\":\"200\"}",
	    "{\"status\":302}", "{\"status\":200" };
	struct aif_relay_end end;
	struct aif_error want;

	(void)state;
	AIF_ERROR0(&want, AIF_E_JOB_FAILED, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = aif_relay_end_parse(bad[i], strlen(bad[i]), &end);
		if (strcmp(bad[i], "{\"status\":302}") == 0)
			assert_int_equal(rc, 0);	/* an END, but no error status */
		else
			assert_int_equal(rc, -1);
		assert_int_equal(end.status, 502);
		assert_int_equal(end.error.status, 502);
		assert_string_equal(end.error.type, want.type);
		assert_string_equal(end.error.message, want.message);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tag_is_hmac_of_header_and_payload),
		cmocka_unit_test(any_change_fails_the_check),
		cmocka_unit_test(hmac_matches_openssl_for_any_key),
		cmocka_unit_test(key_is_hmac_of_label_job_and_attempt),
		cmocka_unit_test(end_ok_round_trips),
		cmocka_unit_test(end_error_round_trips),
		cmocka_unit_test(malformed_end_is_a_502_job_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
