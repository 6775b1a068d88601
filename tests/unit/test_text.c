/* test_text.c -- unit tests of core/base/text.c: which names are valid (key, tenant and
 * role names), how text is escaped for a terminal (aifctl's tables), and how a CSV cell
 * is quoted and neutralised against spreadsheet formulas. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "text.h"

static void
printable_names_are_valid(void **state)
{
	static const char *ok[] = { "demo", "team-e2e", "a", "Alice's laptop",
	    "=1+1", "@ops", "팀-결제", "naïve café", "a\"b,c", "x y",
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4567890123456789012345678901234567890123456789012345678901234567" };
	const char *why = "unset";

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_true(aif_name_valid(ok[i], &why));
		assert_string_equal(why, "unset");	/* untouched when valid */
	}
	assert_int_equal(strlen(ok[sizeof(ok) / sizeof(ok[0]) - 1]), AIF_NAME_MAX);
}

static void
bad_names_say_why(void **state)
{
	static const struct { const char *name, *why; } bad[] = {
		{ "", "is empty" },
		{ "tab\there", "contains a control character" },
		{ "esc\x1b[31mred", "contains a control character" },
		{ "line\nbreak", "contains a control character" },
		{ "del\x7f", "contains a control character" },
		{ "c1\xc2\x9b" "31m", "contains a control character" },
		{ "rlo\xe2\x80\xae" "txt", "contains an invisible or direction-changing "
		    "character" },
		{ "zw\xe2\x80\x8bsp", "contains an invisible or direction-changing "
		    "character" },
		{ "bom\xef\xbb\xbf", "contains an invisible or direction-changing "
		    "character" },
		{ "bad\xff", "is not valid UTF-8" },
		{ "overlong\xc0\xaf", "is not valid UTF-8" },
		{ "surrogate\xed\xa0\x80", "is not valid UTF-8" },
		{ "cut\xe2\x80", "is not valid UTF-8" },
		{ " lead", "starts or ends with a space" },
		{ "trail ", "starts or ends with a space" },
	};
	const char *why;
	char long_name[AIF_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_false(aif_name_valid(bad[i].name, &why));
		assert_string_equal(why, bad[i].why);
	}
	memset(long_name, 'n', AIF_NAME_MAX + 1);
	long_name[AIF_NAME_MAX + 1] = '\0';
	assert_false(aif_name_valid(long_name, &why));
	assert_string_equal(why, "is longer than 128 bytes");
	assert_false(aif_name_valid(NULL, NULL));
	assert_false(aif_name_valid("a\x01", NULL));	/* why may be NULL */
}

static void
escape_shows_control_bytes_as_escapes(void **state)
{
	char buf[128];

	(void)state;
	assert_string_equal(aif_text_escape("plain text", buf, sizeof(buf)), "plain text");
	assert_string_equal(aif_text_escape("\x1b[2J\x1b]0;pwned\x07", buf, sizeof(buf)),
	    "\\x1b[2J\\x1b]0;pwned\\x07");
	assert_string_equal(aif_text_escape("a\nb\rc\td", buf, sizeof(buf)),
	    "a\\nb\\rc\\td");
	assert_string_equal(aif_text_escape("back\\slash", buf, sizeof(buf)),
	    "back\\\\slash");
	assert_string_equal(aif_text_escape("del\x7f", buf, sizeof(buf)), "del\\x7f");
	/* C1 controls and hidden direction changes as code points, bad bytes as bytes */
	assert_string_equal(aif_text_escape("csi\xc2\x9b" "2J", buf, sizeof(buf)),
	    "csi\\u009b2J");
	assert_string_equal(aif_text_escape("rlo\xe2\x80\xae", buf, sizeof(buf)),
	    "rlo\\u202e");
	assert_string_equal(aif_text_escape("bad\xff\xc3", buf, sizeof(buf)),
	    "bad\\xff\\xc3");
	/* printable UTF-8 stays as it is */
	assert_string_equal(aif_text_escape("팀 café", buf, sizeof(buf)), "팀 café");
	assert_string_equal(aif_text_escape(NULL, buf, sizeof(buf)), "-");
}

/* What names refuse, escapes and the log escape (aif_text_unsafe_cp): controls and
 * hidden format characters, nothing else. */
static void
unsafe_code_points_are_controls_and_hidden_formats(void **state)
{
	static const uint32_t unsafe[] = { 0x00, 0x1b, 0x1f, 0x7f, 0x80, 0x9b, 0x9f, 0x200b,
	    0x200f, 0x2028, 0x202e, 0x2060, 0x2069, 0xfeff };
	static const uint32_t safe[] = { 0x20, 0x41, 0x7e, 0xa0, 0xe9, 0x200a, 0x2010,
	    0x2027, 0x202f, 0x205f, 0x206a, 0xac00, 0xfefe, 0x1f600 };

	(void)state;
	for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++)
		assert_true(aif_text_unsafe_cp(unsafe[i]));
	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		assert_false(aif_text_unsafe_cp(safe[i]));
}

static void
escape_is_bounded_and_never_cuts_an_escape(void **state)
{
	char buf[12];

	(void)state;
	/* 8 bytes + "..." + NUL: whole escapes only */
	assert_string_equal(aif_text_escape("abcdefghijklmnop", buf, sizeof(buf)),
	    "abcdefgh...");
	assert_string_equal(aif_text_escape("ab\x1b\x1b\x1b", buf, sizeof(buf)),
	    "ab\\x1b...");
	assert_string_equal(aif_text_escape("ab\x1b", buf, sizeof(buf)), "ab\\x1b");
	assert_string_equal(aif_text_escape("팀팀팀팀", buf, sizeof(buf)), "팀팀...");
	assert_string_equal(aif_text_escape("abc", buf, 3), "");
}

static void
csv_cells_are_quoted_escaped_and_neutralised(void **state)
{
	char buf[128];

	(void)state;
	assert_string_equal(aif_csv_cell("team-a", buf, sizeof(buf)), "\"team-a\"");
	assert_string_equal(aif_csv_cell("say \"hi\", ok", buf, sizeof(buf)),
	    "\"say \"\"hi\"\", ok\"");
	/* OWASP CSV injection: = + - @ tab CR at the start get a leading ' */
	assert_string_equal(aif_csv_cell("=HYPERLINK(\"http://x\")", buf, sizeof(buf)),
	    "\"'=HYPERLINK(\"\"http://x\"\")\"");
	assert_string_equal(aif_csv_cell("+1", buf, sizeof(buf)), "\"'+1\"");
	assert_string_equal(aif_csv_cell("-2+3", buf, sizeof(buf)), "\"'-2+3\"");
	assert_string_equal(aif_csv_cell("@SUM(A1)", buf, sizeof(buf)), "\"'@SUM(A1)\"");
	assert_string_equal(aif_csv_cell("\t=1", buf, sizeof(buf)), "\"'\\t=1\"");
	assert_string_equal(aif_csv_cell("\r=1", buf, sizeof(buf)), "\"'\\r=1\"");
	assert_string_equal(aif_csv_cell("a=1", buf, sizeof(buf)), "\"a=1\"");
	assert_string_equal(aif_csv_cell("x\x1b[0m", buf, sizeof(buf)), "\"x\\x1b[0m\"");
	assert_string_equal(aif_csv_cell(NULL, buf, sizeof(buf)), "\"\"");
}

static void
csv_cell_is_bounded(void **state)
{
	char buf[12];

	(void)state;
	assert_string_equal(aif_csv_cell("abcdefghijklmnop", buf, sizeof(buf)),
	    "\"abcdef...\"");
	assert_string_equal(aif_csv_cell("=abcdefghijklmnop", buf, sizeof(buf)),
	    "\"'=abcd...\"");
	assert_string_equal(aif_csv_cell("\"\"\"\"\"\"", buf, sizeof(buf)),
	    "\"\"\"\"\"\"\"...\"");
	assert_int_equal(strlen(aif_csv_cell("abcdefghijklmnop", buf, sizeof(buf))), 11);
}

static void
tokens_are_letters_digits_and_the_extras(void **state)
{
	(void)state;
	assert_true(aif_token_ok("X-API-Key", 64, "!#$%&'*+-.^_`|~"));
	assert_true(aif_token_ok("approval.v2_x-1", 64, "_.-"));
	assert_false(aif_token_ok("", 64, "_.-"));
	assert_false(aif_token_ok("two words", 64, "_.-"));
	assert_false(aif_token_ok("x:y", 64, "_.-"));
	assert_false(aif_token_ok("\xc3\xa9", 64, "_.-"));	/* not ASCII */
	assert_true(aif_token_ok("abcd", 4, ""));
	assert_false(aif_token_ok("abcde", 4, ""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tokens_are_letters_digits_and_the_extras),
		cmocka_unit_test(printable_names_are_valid),
		cmocka_unit_test(bad_names_say_why),
		cmocka_unit_test(escape_shows_control_bytes_as_escapes),
		cmocka_unit_test(unsafe_code_points_are_controls_and_hidden_formats),
		cmocka_unit_test(escape_is_bounded_and_never_cuts_an_escape),
		cmocka_unit_test(csv_cells_are_quoted_escaped_and_neutralised),
		cmocka_unit_test(csv_cell_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
