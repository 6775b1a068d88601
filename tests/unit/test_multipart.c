/* test_multipart.c -- unit tests of core/protocol/multipart.c: a body as undici's
 * FormData sends it to POST /v1/files, boundaries quoted or not, binary data that holds
 * NULs and boundary look-alikes, the preamble and the epilogue, and the bodies refused
 * (no boundary, no closing boundary, too many parts, headers too long or cut short).
 * Every body is parsed from a heap block of exactly its length, so that AddressSanitizer
 * sees a read past it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

#define B	"----formdata-undici-0123456789"
#define CT	"multipart/form-data; boundary=" B
#define DISP	"Content-Disposition: form-data; name="

/* One parse: its parts, its reason, and the heap copy of the body they point into. */
struct got {
	struct aif_mp_part	parts[AIF_MP_MAX_PARTS];
	size_t			n;
	const char		*why;
	char			*copy;
};

/* Parses body[0..len) copied to a heap block of exactly len bytes (NULL for 0). */
static enum aif_err
parse_cap(struct got *g, const char *ct, const char *body, size_t len, size_t cap)
{
	g->copy = NULL;
	if (len > 0) {
		g->copy = malloc(len);
		assert_non_null(g->copy);
		memcpy(g->copy, body, len);
	}
	g->n = 99;
	g->why = "unset";
	return aif_multipart_parse(ct, g->copy, len, g->parts, cap, &g->n, &g->why);
}

static enum aif_err
parse(struct got *g, const char *ct, const char *body, size_t len)
{
	return parse_cap(g, ct, body, len, AIF_MP_MAX_PARTS);
}

/* A literal body: its size without the literal's NUL. */
#define PARSE(g, ct, lit)	parse((g), (ct), (lit), sizeof(lit) - 1)

static void
done(struct got *g)
{
	free(g->copy);
	g->copy = NULL;
}

/* Asserts that part p is named name and holds the len bytes at data. */
static void
assert_part(const struct aif_mp_part *p, const char *name, const char *data,
    size_t len)
{
	assert_string_equal(p->name, name);
	assert_int_equal(p->len, len);
	if (len > 0)
		assert_memory_equal(p->data, data, len);
}

/* Asserts that body (a literal) under Content-Type ct is refused with reason why. */
#define ASSERT_REFUSED(ct, lit, reason) do {					\
	struct got g_;								\
	assert_int_equal(PARSE(&g_, (ct), (lit)), AIF_INVALID);			\
	assert_string_equal(g_.why, (reason));					\
	assert_int_equal(g_.n, 0);						\
	done(&g_);								\
} while (0)

static void
a_files_upload_as_undici_sends_it(void **state)
{
	static const char body[] =
	    "--" B "\r\n" DISP "\"purpose\"\r\n\r\nbatch\r\n"
	    "--" B "\r\n" DISP "\"file\"; filename=\"in.jsonl\"\r\n"
	    "Content-Type: application/octet-stream\r\n\r\n"
	    "{\"custom_id\":\"a\"}\n{\"custom_id\":\"b\"}\n\r\n"
	    "--" B "\r\n" DISP "\"expires_after[anchor]\"\r\n\r\ncreated_at\r\n"
	    "--" B "\r\n" DISP "\"expires_after[seconds]\"\r\n\r\n3600\r\n"
	    "--" B "--\r\n";
	const struct aif_mp_part *f;
	struct got g;

	(void)state;
	assert_int_equal(PARSE(&g, CT, body), AIF_OK);
	assert_null(g.why);
	assert_int_equal(g.n, 4);
	assert_part(&g.parts[0], "purpose", "batch", 5);
	assert_string_equal(g.parts[0].filename, "");
	assert_string_equal(g.parts[0].content_type, "");
	f = aif_multipart_find(g.parts, g.n, "file");
	assert_ptr_equal(f, &g.parts[1]);
	assert_part(f, "file", "{\"custom_id\":\"a\"}\n{\"custom_id\":\"b\"}\n", 36);
	assert_string_equal(f->filename, "in.jsonl");
	assert_string_equal(f->content_type, "application/octet-stream");
	assert_true(f->data >= g.copy && f->data + f->len <= g.copy + sizeof(body) - 1);
	assert_part(&g.parts[2], "expires_after[anchor]", "created_at", 10);
	assert_part(&g.parts[3], "expires_after[seconds]", "3600", 4);
	assert_null(aif_multipart_find(g.parts, g.n, "nope"));
	assert_null(aif_multipart_find(g.parts, g.n, "fil"));
	done(&g);
}

static void
quoted_unquoted_and_any_case_boundaries(void **state)
{
	static const char body[] = "--a b=c/d?\r\n" DISP "x\r\n\r\n1\r\n--a b=c/d?--";
	static const char plain[] = "--xyz\r\n" DISP "x\r\n\r\n22\r\n--xyz--";
	struct got g;

	(void)state;
	assert_int_equal(PARSE(&g, "multipart/form-data; boundary=\"a b=c/d?\"", body),
	    AIF_OK);
	assert_int_equal(g.n, 1);
	assert_part(&g.parts[0], "x", "1", 1);
	done(&g);
	assert_int_equal(PARSE(&g,
	    " Multipart/Form-Data ;charset=utf-8;  BOUNDARY = xyz ;", plain), AIF_OK);
	assert_part(&g.parts[0], "x", "22", 2);
	done(&g);
	assert_int_equal(PARSE(&g, "multipart/form-data; boundary=\"xyz\"", plain),
	    AIF_OK);
	assert_part(&g.parts[0], "x", "22", 2);
	done(&g);
	/* the boundary is case-sensitive in the body */
	ASSERT_REFUSED("multipart/form-data; boundary=XYZ", plain,
	    "no boundary in the body");
}

static void
binary_data_with_nuls_and_boundary_look_alikes(void **state)
{
	/* a NUL, the boundary not at a line start, after a lone LF or CR, cut short,
	   with one dash, and a CR LF at the very end of the data */
	static const char data[] =
	    "\0\x01\xff--" B "\r\nx\n--" B "\r--" B "\r\n--" "----formdata-undici"
	    "\r\n-" B "\0\r\n";
	static const char body[] =
	    "--" B "\r\n" DISP "\"file\"; filename=\"b.bin\"\r\n\r\n"
	    "\0\x01\xff--" B "\r\nx\n--" B "\r--" B "\r\n--" "----formdata-undici"
	    "\r\n-" B "\0\r\n"
	    "\r\n--" B "--";
	struct got g;

	(void)state;
	assert_int_equal(PARSE(&g, CT, body), AIF_OK);
	assert_int_equal(g.n, 1);
	assert_part(&g.parts[0], "file", data, sizeof(data) - 1);
	done(&g);
}

static void
a_body_without_its_closing_boundary_is_refused(void **state)
{
	(void)state;
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "a\r\n\r\nfile data",
	    "the closing boundary is missing");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "a\r\n\r\ndata\r\n--" B,
	    "the closing boundary is missing");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "a\r\n\r\ndata\r\n--" B "-",
	    "the closing boundary is missing");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "a\r\n\r\ndata\r\n--" B "\r\n",
	    "the body ends inside a part's headers");
	ASSERT_REFUSED(CT, "--" B, "the closing boundary is missing");
	ASSERT_REFUSED(CT, "preamble only\r\n", "no boundary in the body");
}

static void
a_content_type_without_a_boundary_is_refused(void **state)
{
	static const char body[] = "--b\r\n" DISP "a\r\n\r\n1\r\n--b--";
	char ct[128];

	(void)state;
	ASSERT_REFUSED("multipart/form-data", body, "no boundary in Content-Type");
	ASSERT_REFUSED("multipart/form-data; charset=utf-8", body,
	    "no boundary in Content-Type");
	ASSERT_REFUSED(NULL, body, "no Content-Type");
	ASSERT_REFUSED("application/json", body,
	    "the Content-Type is not multipart/form-data");
	ASSERT_REFUSED("multipart/form-datax; boundary=b", body,
	    "the Content-Type is not multipart/form-data");
	ASSERT_REFUSED("multipart/form-data; boundary=", body,
	    "a malformed Content-Type");
	ASSERT_REFUSED("multipart/form-data; boundary=\"b", body,
	    "a malformed Content-Type");
	ASSERT_REFUSED("multipart/form-data; boundary=\"\"", body,
	    "the boundary in Content-Type is not valid");
	ASSERT_REFUSED("multipart/form-data; boundary=\"b \"", body,
	    "the boundary in Content-Type is not valid");
	ASSERT_REFUSED("multipart/form-data; boundary=b; boundary=b", body,
	    "two boundaries in Content-Type");
	/* 71 characters: one over RFC 2046's limit */
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%071d", 0);
	ASSERT_REFUSED(ct, body, "the boundary in Content-Type is not valid");
}

static void
a_boundary_of_70_characters_is_read(void **state)
{
	char ct[128], body[256];
	int len;
	struct got g;

	(void)state;
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%070d", 7);
	len = snprintf(body, sizeof(body), "--%070d\r\n" DISP "a\r\n\r\nok\r\n--%070d--",
	    7, 7);
	assert_int_equal(parse(&g, ct, body, (size_t)len), AIF_OK);
	assert_int_equal(g.n, 1);
	assert_part(&g.parts[0], "a", "ok", 2);
	done(&g);
}

/* Writes a body of n parts named p0.. into buf (cap); returns its length. */
static size_t
body_of_parts(char *buf, size_t cap, int n)
{
	size_t len = 0;

	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len,
		    "--" B "\r\n" DISP "\"p%d\"\r\n\r\n%d\r\n", i, i);
	len += (size_t)snprintf(buf + len, cap - len, "--" B "--\r\n");
	assert_true(len < cap);
	return len;
}

static void
more_parts_than_the_array_holds_are_refused(void **state)
{
	char body[4096];
	size_t len;
	struct got g;

	(void)state;
	len = body_of_parts(body, sizeof(body), AIF_MP_MAX_PARTS);
	assert_int_equal(parse(&g, CT, body, len), AIF_OK);
	assert_int_equal(g.n, AIF_MP_MAX_PARTS);
	assert_part(&g.parts[AIF_MP_MAX_PARTS - 1], "p15", "15", 2);
	done(&g);
	len = body_of_parts(body, sizeof(body), AIF_MP_MAX_PARTS + 1);
	assert_int_equal(parse(&g, CT, body, len), AIF_INVALID);
	assert_string_equal(g.why, "too many parts");
	assert_int_equal(g.n, 0);
	done(&g);
	len = body_of_parts(body, sizeof(body), 2);
	assert_int_equal(parse_cap(&g, CT, body, len, 1), AIF_INVALID);
	assert_string_equal(g.why, "too many parts");
	done(&g);
}

/* Writes a body of one part whose header block (its lines with their CRLFs, not the
 * blank line) is exactly block bytes: Content-Disposition, then X-Pad lines of at
 * most line bytes. Returns its length. */
static size_t
body_with_headers(char *buf, size_t cap, size_t block, size_t line)
{
	static const char disp[] = DISP "\"f\"\r\n";
	size_t len, left = block - (sizeof(disp) - 1);

	len = (size_t)snprintf(buf, cap, "--" B "\r\n%s", disp);
	while (left > 0) {
		/* "X-Pad:" + filler + CRLF; a last short line takes what is left */
		size_t n = left < line + 2 ? left : line + 2;

		if (left - n > 0 && left - n < 8)
			n -= 8;		/* leave room for one more whole line */
		assert_true(n >= 8 && len + n < cap);
		memcpy(buf + len, "X-Pad:", 6);
		memset(buf + len + 6, 'x', n - 8);
		memcpy(buf + len + n - 2, "\r\n", 2);
		len += n;
		left -= n;
	}
	len += (size_t)snprintf(buf + len, cap - len, "\r\nD\r\n--" B "--");
	assert_true(len < cap);
	return len;
}

static void
a_header_block_over_its_limit_is_refused(void **state)
{
	char body[AIF_MP_HEAD_MAX + 256];
	size_t len;
	struct got g;

	(void)state;
	len = body_with_headers(body, sizeof(body), AIF_MP_HEAD_MAX, 1000);
	assert_int_equal(parse(&g, CT, body, len), AIF_OK);
	assert_part(&g.parts[0], "f", "D", 1);
	done(&g);
	len = body_with_headers(body, sizeof(body), AIF_MP_HEAD_MAX + 1, 1000);
	assert_int_equal(parse(&g, CT, body, len), AIF_INVALID);
	assert_string_equal(g.why, "a part's headers are too long");
	done(&g);
}

static void
a_header_line_over_its_limit_is_refused(void **state)
{
	char body[4096];
	size_t len;
	struct got g;

	(void)state;
	len = body_with_headers(body, sizeof(body), 100 + AIF_MP_LINE_MAX + 2,
	    AIF_MP_LINE_MAX);
	assert_int_equal(parse(&g, CT, body, len), AIF_OK);
	done(&g);
	len = body_with_headers(body, sizeof(body), 100 + AIF_MP_LINE_MAX + 3,
	    AIF_MP_LINE_MAX + 1);
	assert_int_equal(parse(&g, CT, body, len), AIF_INVALID);
	assert_string_equal(g.why, "a part header line is too long");
	done(&g);
}

static void
a_body_cut_inside_a_header_is_refused(void **state)
{
	(void)state;
	ASSERT_REFUSED(CT, "--" B "\r\nContent-Disp",
	    "the body ends inside a part's headers");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "\"a\"\r\n",
	    "the body ends inside a part's headers");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "\"a\"\r\n\r",
	    "the body ends inside a part's headers");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "\"a\"\r\n\r\n", "the closing boundary is "
	    "missing");
}

static void
a_filename_with_escapes_and_params_in_any_order(void **state)
{
	static const char body[] =
	    "--" B "\r\ncontent-disposition: FORM-DATA ; "
	    "filename=\"a\\\"b\\\\c %22.jsonl\";name=file\r\n"
	    "CONTENT-TYPE:  text/plain ; charset=utf-8 \r\n"
	    "X-Other: ignored\r\n\r\nx\r\n--" B "--";
	struct got g;

	(void)state;
	assert_int_equal(PARSE(&g, CT, body), AIF_OK);
	assert_int_equal(g.n, 1);
	assert_part(&g.parts[0], "file", "x", 1);
	assert_string_equal(g.parts[0].filename, "a\"b\\c %22.jsonl");
	assert_string_equal(g.parts[0].content_type, "text/plain ; charset=utf-8");
	done(&g);
}

static void
names_and_filenames_over_their_buffers_are_refused(void **state)
{
	char body[1024], name[AIF_MP_NAME_MAX + 1];
	int len;
	struct got g;

	(void)state;
	memset(name, 'n', sizeof(name) - 2);
	name[sizeof(name) - 2] = '\0';	/* 127 bytes: fits */
	len = snprintf(body, sizeof(body),
	    "--" B "\r\n" DISP "\"%s\"\r\n\r\n\r\n--" B "--", name);
	assert_int_equal(parse(&g, CT, body, (size_t)len), AIF_OK);
	assert_string_equal(g.parts[0].name, name);
	done(&g);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';	/* 128 bytes: one too many */
	len = snprintf(body, sizeof(body),
	    "--" B "\r\n" DISP "\"%s\"\r\n\r\n\r\n--" B "--", name);
	assert_int_equal(parse(&g, CT, body, (size_t)len), AIF_INVALID);
	assert_string_equal(g.why, "a part name is too long");
	done(&g);
	len = snprintf(body, sizeof(body), "--" B "\r\n" DISP "f; filename=\"%s%s\"\r\n"
	    "\r\n\r\n--" B "--", name, name);	/* 256 bytes */
	assert_int_equal(parse(&g, CT, body, (size_t)len), AIF_INVALID);
	assert_string_equal(g.why, "a filename is too long");
	done(&g);
	len = snprintf(body, sizeof(body), "--" B "\r\n" DISP "f; filename=\"%s%.127s\""
	    "\r\n\r\n\r\n--" B "--", name, name);	/* 255 bytes: fits */
	assert_int_equal(parse(&g, CT, body, (size_t)len), AIF_OK);
	assert_int_equal(strlen(g.parts[0].filename), AIF_MP_FILENAME_MAX - 1);
	done(&g);
}

static void
a_part_with_empty_data(void **state)
{
	/* an empty body (blank line, CRLF, delimiter), then no body at all (the blank
	   line's CRLF is the delimiter's) */
	static const char body[] =
	    "--" B "\r\n" DISP "\"e\"\r\n\r\n\r\n"
	    "--" B "\r\n" DISP "\"f\"\r\n\r\n"
	    "--" B "\r\n" DISP "\"g\"\r\n\r\nG\r\n"
	    "--" B "--";
	struct got g;

	(void)state;
	assert_int_equal(PARSE(&g, CT, body), AIF_OK);
	assert_int_equal(g.n, 3);
	assert_part(&g.parts[0], "e", "", 0);
	assert_part(&g.parts[1], "f", "", 0);
	assert_part(&g.parts[2], "g", "G", 1);
	done(&g);
}

static void
the_preamble_and_the_epilogue_are_ignored(void **state)
{
	static const char body[] =
	    "a preamble, with --" B " inside\r\n"
	    "--" B " \t\r\n" DISP "\"a\"\r\n\r\nA\r\n"
	    "--" B "--\r\nan epilogue\r\n--" B "\r\nContent-Type: x\r\n\r\n";
	struct got g;

	(void)state;
	assert_int_equal(PARSE(&g, CT, body), AIF_OK);
	assert_int_equal(g.n, 1);
	assert_part(&g.parts[0], "a", "A", 1);
	done(&g);
}

static void
an_empty_body_is_refused_and_no_parts_is_read(void **state)
{
	struct got g;

	(void)state;
	assert_int_equal(parse(&g, CT, NULL, 0), AIF_INVALID);
	assert_string_equal(g.why, "the body is empty");
	assert_int_equal(g.n, 0);
	assert_int_equal(PARSE(&g, CT, "--" B "--"), AIF_OK);
	assert_int_equal(g.n, 0);
	done(&g);
}

static void
parts_without_form_data_disposition_are_refused(void **state)
{
	(void)state;
	ASSERT_REFUSED(CT, "--" B "\r\nContent-Type: text/plain\r\n\r\nx\r\n--" B "--",
	    "part without Content-Disposition: form-data");
	ASSERT_REFUSED(CT, "--" B "\r\n\r\nx\r\n--" B "--",
	    "part without Content-Disposition: form-data");
	ASSERT_REFUSED(CT, "--" B "\r\nContent-Disposition: attachment; name=a\r\n"
	    "\r\nx\r\n--" B "--", "part without Content-Disposition: form-data");
	ASSERT_REFUSED(CT, "--" B "\r\nContent-Disposition: form-data; filename=a\r\n"
	    "\r\nx\r\n--" B "--", "part without a name in its Content-Disposition");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "a; name=b\r\n\r\nx\r\n--" B "--",
	    "two names in a Content-Disposition");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "a\r\n" DISP "b\r\n\r\nx\r\n--" B "--",
	    "two Content-Disposition headers in a part");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "\"a\r\n\r\nx\r\n--" B "--",
	    "a malformed Content-Disposition");
}

static void
malformed_header_lines_are_refused(void **state)
{
	(void)state;
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "a\r\n folded\r\n\r\nx\r\n--" B "--",
	    "a folded part header");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "a\r\nno colon\r\n\r\nx\r\n--" B "--",
	    "a part header without a name and a colon");
	ASSERT_REFUSED(CT, "--" B "\r\nBad Name: 1\r\n" DISP "a\r\n\r\nx\r\n--" B "--",
	    "a part header name is not valid");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "a\nX: 1\r\n\r\nx\r\n--" B "--",
	    "a control character in a part header");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "\"a\0b\"\r\n\r\nx\r\n--" B "--",
	    "a control character in a part header");
}

static void
a_boundary_line_with_more_after_it_is_refused(void **state)
{
	(void)state;
	ASSERT_REFUSED(CT, "--" B "x\r\n" DISP "a\r\n\r\nx\r\n--" B "--",
	    "a boundary line with more after the boundary");
	ASSERT_REFUSED(CT, "--" B "\r\n" DISP "a\r\n\r\nx\r\n--" B "0\r\n--" B "--",
	    "a boundary line with more after the boundary");
}

static void
a_null_why_is_allowed(void **state)
{
	static const char body[] = "--" B "\r\n" DISP "a\r\n\r\nx\r\n--" B "--";
	struct aif_mp_part parts[1];
	size_t n = 5;

	(void)state;
	assert_int_equal(aif_multipart_parse(CT, body, sizeof(body) - 1, parts, 1, &n,
	    NULL), AIF_OK);
	assert_int_equal(n, 1);
	assert_int_equal(aif_multipart_parse("text/plain", body, sizeof(body) - 1, parts,
	    1, &n, NULL), AIF_INVALID);
	assert_int_equal(n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_files_upload_as_undici_sends_it),
		cmocka_unit_test(quoted_unquoted_and_any_case_boundaries),
		cmocka_unit_test(binary_data_with_nuls_and_boundary_look_alikes),
		cmocka_unit_test(a_body_without_its_closing_boundary_is_refused),
		cmocka_unit_test(a_content_type_without_a_boundary_is_refused),
		cmocka_unit_test(a_boundary_of_70_characters_is_read),
		cmocka_unit_test(more_parts_than_the_array_holds_are_refused),
		cmocka_unit_test(a_header_block_over_its_limit_is_refused),
		cmocka_unit_test(a_header_line_over_its_limit_is_refused),
		cmocka_unit_test(a_body_cut_inside_a_header_is_refused),
		cmocka_unit_test(a_filename_with_escapes_and_params_in_any_order),
		cmocka_unit_test(names_and_filenames_over_their_buffers_are_refused),
		cmocka_unit_test(a_part_with_empty_data),
		cmocka_unit_test(the_preamble_and_the_epilogue_are_ignored),
		cmocka_unit_test(an_empty_body_is_refused_and_no_parts_is_read),
		cmocka_unit_test(parts_without_form_data_disposition_are_refused),
		cmocka_unit_test(malformed_header_lines_are_refused),
		cmocka_unit_test(a_boundary_line_with_more_after_it_is_refused),
		cmocka_unit_test(a_null_why_is_allowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
