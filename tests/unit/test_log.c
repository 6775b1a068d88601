/* test_log.c -- unit tests of core/base/log.c: a record is one line on stderr, bytes a
 * client or an engine chose (control characters, invisible and direction-changing
 * ones, invalid UTF-8) are written as \xNN, other UTF-8 is kept, and a record is
 * bounded. stderr is redirected to a pipe per test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Runs the logging in fn with stderr on a pipe; returns what was written (new). */
static char *
capture(void (*fn)(void))
{
	int fd[2], saved = dup(STDERR_FILENO);
	char *out = calloc(1, 8192);
	ssize_t n;

	assert_non_null(out);
	assert_int_equal(pipe(fd), 0);
	assert_int_equal(dup2(fd[1], STDERR_FILENO), STDERR_FILENO);
	fn();
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	close(fd[1]);
	n = read(fd[0], out, 8191);
	close(fd[0]);
	assert_true(n > 0);
	out[n] = '\0';
	return out;
}

static void
log_hostile(void)
{
	aif_warn("msg=\"database error\" error=\"Incorrect string value: '%s'\"",
	    "\xff" "A\x1b[31m\r\nforged=1");
}

static void
hostile_bytes_are_escaped(void **state)
{
	char *out = capture(log_hostile);

	(void)state;
	assert_non_null(strstr(out, "'\\xffA\\x1b[31m\\x0d\\x0aforged=1'"));
	/* one record, one line */
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	free(out);
}

static void
log_utf8(void)
{
	aif_info("msg=\"모델 준비\" note=\"café\" bad=\"\xed\xa0\x80\"");
}

static void
valid_utf8_is_kept_and_invalid_is_escaped(void **state)
{
	char *out = capture(log_utf8);

	(void)state;
	assert_non_null(strstr(out, "msg=\"모델 준비\" note=\"café\""));
	assert_non_null(strstr(out, "bad=\"\\xed\\xa0\\x80\""));	/* a surrogate */
	free(out);
}

static void
log_invisible(void)
{
	/* C1 CSI, right-to-left override, zero-width space, BOM; then a plain Hangul */
	aif_warn("msg=\"x\" v=\"a\xc2\x9b" "b\xe2\x80\xae" "c\xe2\x80\x8b" "d\xef\xbb\xbf"
	    "e\xea\xb0\x80\"");
}

/* Characters that change what a terminal shows (C1 controls, bidi overrides, invisible
 * ones) are escaped byte by byte like control bytes; other characters stay. */
static void
c1_and_invisible_characters_are_escaped(void **state)
{
	char *out = capture(log_invisible);

	(void)state;
	assert_non_null(strstr(out, "v=\"a\\xc2\\x9bb\\xe2\\x80\\xaec\\xe2\\x80\\x8b"
	    "d\\xef\\xbb\\xbfe\xea\xb0\x80\""));
	free(out);
}

static void
log_long(void)
{
	char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	aif_error("msg=\"long\" v=%s", big);
}

static void
records_are_bounded(void **state)
{
	char *out = capture(log_long);

	(void)state;
	assert_true(strlen(out) <= 2048);
	assert_int_equal(out[strlen(out) - 1], '\n');
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hostile_bytes_are_escaped),
		cmocka_unit_test(valid_utf8_is_kept_and_invalid_is_escaped),
		cmocka_unit_test(c1_and_invisible_characters_are_escaped),
		cmocka_unit_test(records_are_bounded),
	};

	aif_log_init("test_log");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
