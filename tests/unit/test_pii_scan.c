/* test_pii_scan.c -- the PII scan's shortcut for its byte-by-byte passes (core/pii/scan.c,
 * scan_bytewise): looking at eight bytes together and only at a word's first byte must
 * find exactly the hits the plain byte-by-byte loop finds. Differential: random texts
 * built from identifiers, JSON escapes, Hangul and punctuation are scanned both ways.
 * Runs with cwd tests/unit; under a second. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pii.h"
#include "pii_int.h"

static const char config_yaml[] =
	"server: {listen: /tmp/x.sock, run_dir: /tmp}\n"
	"database: {socket: /tmp/db.sock, name: aif}\n"
	"models: [{id: m, adapter: openai, replicas: [{url: 'http://h:1'}]}]\n"
	"roles: [{name: user}]\n"
	"pii: {enabled: true}\n";

/* Pieces a text is made of: identifiers the byte-by-byte passes find, the same right
 * after a JSON escape (an edge inside a word), and bytes that make or break edges. */
static const char *const pieces[] = {
	"010-1234-5678", "\\n010-1234-5678", "\\u00e9010-2222-3333", "kim@example.com",
	"960101-1234563", "4111 1111 1111 1111", "4111111111111111", "116-82-00276",
	"192.168.0.10", "DE89 3704 0044 0532 0130 00", "신한은행 110-436-387740",
	"sk-proj-AbC123dEf456GhI789jKl012MnO345pQr678", "M12345678", "(02) 123-4567",
	"+82 10-2345-6789", "123-45-6789", "GB82WEST12345698765432", "2001:db8::1",
	"Bearer abcdefghijklmnop1234567890", "password=hunter2abc", "\\u0041", "\\t",
	"a", "1", "_", "-", "\\", "\\n", " ", "\n", "한", "글", "(", ")", "x", "Z", "9",
	"0", "AB12", "@", ".",
};

static unsigned long	seed = 20261207;

static size_t
rnd(size_t n)
{
	seed = seed * 6364136223846793005UL + 1442695040888963407UL;
	return (size_t)(seed >> 33) % n;
}

static size_t
make_text(char *buf, size_t cap)
{
	size_t	 n = 0, k = 1 + rnd(40), l;
	const char *p;

	while (k-- > 0) {
		p = pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))];
		if (n + (l = strlen(p)) >= cap)
			break;
		memcpy(buf + n, p, l);
		n += l;
	}
	return n;
}

static void
shortcut_finds_what_the_byte_loop_finds(void **state)
{
	struct aif_config	*cfg;
	struct aif_pii		*pii;
	struct aif_pii_actions	 act;
	struct aif_pii_hit	*h1, *h2;
	char			 err[4096], buf[600];
	size_t			 n, n1, n2, hits = 0, it;

	(void)state;
	if (aif_cfg_load_string("t.yaml", config_yaml, sizeof(config_yaml) - 1, &cfg, err,
	    sizeof(err)) != AIF_OK ||
	    aif_pii_new(cfg, AIF_PII_EPHEMERAL_KEY, &pii, err, sizeof(err)) != AIF_OK)
		fail_msg("%s", err);
	aif_pii_actions_for(pii, "m", "user", &act);
	/* the built-in passes qualify for the shortcut: else this test compares nothing */
	assert_int_equal(pii->bytewise_edged, 1);
	for (it = 0; it < 20000; it++) {
		n = make_text(buf, sizeof(buf));
		pii->bytewise_edged = 1;
		assert_int_equal(aif_pii_scan(&act, buf, n, &h1, &n1), AIF_OK);
		pii->bytewise_edged = 0;
		assert_int_equal(aif_pii_scan(&act, buf, n, &h2, &n2), AIF_OK);
		if (n1 != n2 || (n1 > 0 && memcmp(h1, h2, n1 * sizeof(*h1)) != 0))
			fail_msg("%zu hits with the shortcut, %zu without: %.*s",
			    n1, n2, (int)n, buf);
		hits += n1;
		free(h1);
		free(h2);
	}
	assert_true(hits > 20000);	/* the texts did hold identifiers */
	aif_pii_free(pii);
	aif_cfg_free(cfg);
	aif_pii_thread_cleanup();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shortcut_finds_what_the_byte_loop_finds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
