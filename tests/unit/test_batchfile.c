/* test_batchfile.c -- unit tests of core/protocol/batchfile.c: a Batch API input file
 * checked line by line (every problem names its line, the first five are listed and
 * the rest counted), the lines kept as they came (CRLF, no final break), and a stored
 * line's body read back; and of core/gate/ratelimit.c's batch lane (its buckets apart
 * from the caller's). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchfile.h"
#include "ratelimit.h"

#define LINE(cid, url, model) \
	"{\"custom_id\":\"" cid "\",\"method\":\"POST\",\"url\":\"" url "\",\"body\":" \
	"{\"model\":\"" model "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}"
#define CHAT	"/v1/chat/completions"

static const struct aif_oai_limits lim = { .max_body_bytes = 1 << 20, .max_depth = 64,
	.max_messages = 2048, .max_string_bytes = 1 << 20 };

/* The test's models: "m" serves chat and completions, "e" embeddings; others do not
 * exist. Counts its calls. */
static int calls;

static int
model_ok(void *arg, const char *model, enum aif_kind kind, char *why, size_t cap)
{
	(void)arg;
	calls++;
	if (strcmp(model, "m") == 0 && (kind & (AIF_KIND_CHAT | AIF_KIND_COMPLETION)))
		return 0;
	if (strcmp(model, "e") == 0 && kind == AIF_KIND_EMBEDDING)
		return 0;
	snprintf(why, cap, "model \"%s\" does not exist", model);
	return -1;
}

static enum aif_err
check(const char *text, int max_lines, struct aif_batchfile *f, char *why, size_t cap)
{
	return aif_batchfile_check(text, strlen(text), max_lines, &lim, model_ok, NULL, f,
	    why, cap);
}

static void
a_good_file_keeps_its_lines_as_they_came(void **state)
{
	const char *text = LINE("a", CHAT, "m") "\r\n" LINE("b", CHAT, "m") "\n"
	    LINE("c", CHAT, "m");
	struct aif_batchfile f;
	char why[512];

	(void)state;
	assert_int_equal(check(text, 10, &f, why, sizeof(why)), AIF_OK);
	assert_int_equal(f.n, 3);
	assert_string_equal(f.endpoint, CHAT);
	assert_int_equal(f.kind, AIF_KIND_CHAT);
	assert_string_equal(f.lines[0].custom_id, "a");
	assert_string_equal(f.lines[2].custom_id, "c");
	/* each line with its own break: together, the bytes uploaded */
	assert_int_equal(f.lines[0].len, strlen(LINE("a", CHAT, "m")) + 2);
	assert_memory_equal(f.lines[0].raw + f.lines[0].len - 2, "\r\n", 2);
	assert_int_equal(f.lines[0].len + f.lines[1].len + f.lines[2].len, strlen(text));
	assert_ptr_equal(f.lines[2].raw + f.lines[2].len, text + strlen(text));
	aif_batchfile_free(&f);
}

static void
each_problem_names_its_line(void **state)
{
	const char *text = LINE("a", CHAT, "m") "\n"
	    "not json\n"
	    "{\"custom_id\":\"b\",\"method\":\"GET\",\"url\":\"" CHAT "\",\"body\":{}}\n"
	    LINE("c", "/v1/embeddings", "e") "\n"
	    LINE("d", CHAT, "nope") "\n"
	    LINE("a", CHAT, "m") "\n";
	struct aif_batchfile f;
	char why[1024];

	(void)state;
	assert_int_equal(check(text, 10, &f, why, sizeof(why)), AIF_INVALID);
	assert_null(f.lines);
	assert_non_null(strstr(why, "line 2: not JSON"));
	assert_non_null(strstr(why, "line 3: method must be \"POST\""));
	assert_non_null(strstr(why, "line 4: url must be " CHAT " like line 1"));
	assert_non_null(strstr(why, "line 5: model \"nope\" does not exist"));
	assert_non_null(strstr(why, "line 6: custom_id \"a\" repeats line 1"));
	assert_null(strstr(why, "line 1:"));
}

static void
a_body_is_checked_as_its_route_checks_it(void **state)
{
	const char *stream = "{\"custom_id\":\"s\",\"method\":\"POST\",\"url\":\"" CHAT
	    "\",\"body\":{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
	    "\"content\":\"x\"}]}}\n";
	const char *shape = "{\"custom_id\":\"s\",\"method\":\"POST\",\"url\":\"" CHAT
	    "\",\"body\":{\"model\":\"m\",\"messages\":\"not a list\"}}\n";
	struct aif_batchfile f;
	char why[512];

	(void)state;
	assert_int_equal(check(stream, 10, &f, why, sizeof(why)), AIF_INVALID);
	assert_non_null(strstr(why, "line 1: body: \"stream\": true is not allowed"));
	assert_int_equal(check(shape, 10, &f, why, sizeof(why)), AIF_INVALID);
	assert_non_null(strstr(why, "line 1: body: "));
}

static void
many_problems_list_five_and_count_the_rest(void **state)
{
	char text[4096] = "", why[2048];
	struct aif_batchfile f;

	(void)state;
	for (int i = 0; i < 8; i++)
		strcat(text, "[]\n");
	assert_int_equal(check(text, 10, &f, why, sizeof(why)), AIF_INVALID);
	assert_non_null(strstr(why, "line 5: not a JSON object"));
	assert_null(strstr(why, "line 6:"));
	assert_non_null(strstr(why, "and 3 more"));
}

static void
empty_files_and_too_many_lines_are_refused(void **state)
{
	struct aif_batchfile f;
	char why[512];
	const char *three = LINE("a", CHAT, "m") "\n" LINE("b", CHAT, "m") "\n"
	    LINE("c", CHAT, "m") "\n";

	(void)state;
	assert_int_equal(check("", 10, &f, why, sizeof(why)), AIF_INVALID);
	assert_non_null(strstr(why, "no requests"));
	assert_int_equal(check("\n", 10, &f, why, sizeof(why)), AIF_INVALID);
	assert_non_null(strstr(why, "line 1: an empty line"));
	calls = 0;
	assert_int_equal(check(three, 2, &f, why, sizeof(why)), AIF_INVALID);
	assert_non_null(strstr(why, "at most 2"));
	assert_int_equal(calls, 0);	/* counted before any line is read */
	assert_int_equal(check(three, 3, &f, why, sizeof(why)), AIF_OK);
	aif_batchfile_free(&f);
}

static void
invalid_utf8_and_odd_custom_ids_are_refused(void **state)
{
	const char *bad = "{\"custom_id\":\"\xff\",\"method\":\"POST\",\"url\":\"" CHAT "\"}\n";
	const char *empty = "{\"custom_id\":\"\",\"method\":\"POST\",\"url\":\"" CHAT "\"}\n";
	const char *number = "{\"custom_id\":7,\"method\":\"POST\",\"url\":\"" CHAT "\"}\n";
	struct aif_batchfile f;
	char why[512];

	(void)state;
	assert_int_equal(check(bad, 10, &f, why, sizeof(why)), AIF_INVALID);
	assert_non_null(strstr(why, "line 1: not JSON"));
	assert_int_equal(check(empty, 10, &f, why, sizeof(why)), AIF_INVALID);
	assert_non_null(strstr(why, "custom_id must be"));
	assert_int_equal(check(number, 10, &f, why, sizeof(why)), AIF_INVALID);
	assert_non_null(strstr(why, "custom_id must be"));
}

static void
a_stored_line_gives_its_body_back(void **state)
{
	const char *line = LINE("a", CHAT, "m") "\r\n";
	size_t len = 0;
	char *body;

	(void)state;
	body = aif_batchfile_body(line, strlen(line), &len);
	assert_non_null(body);
	assert_int_equal(len, strlen(body));
	assert_string_equal(body, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"}]}");
	free(body);
	assert_null(aif_batchfile_body("{\"body\":1}", 10, &len));
	assert_int_equal(len, 0);
	assert_int_equal(aif_batchfile_kind("/v1/embeddings"), AIF_KIND_EMBEDDING);
	assert_int_equal(aif_batchfile_kind("/v1/responses"), 0);
}

static void
the_batch_lane_counts_apart(void **state)
{
	struct aif_principal who;
	struct aif_role role;
	struct aif_tenant t;
	struct aif_rl_plan p;

	(void)state;
	memset(&who, 0, sizeof(who));
	memset(&role, 0, sizeof(role));
	memset(&t, 0, sizeof(t));
	who.lineage_id = 12;
	who.rpm = 60;
	who.tpm = 1000;
	snprintf(who.tenant, sizeof(who.tenant), "acme");
	t.rpm = 600;
	t.tpm = -1;
	aif_rl_plan(&who, &role, &t, 100, &p);
	assert_int_equal(p.n, 3);
	aif_rl_batch_lane(&p);
	assert_string_equal(p.c[0].subject, "key:12:batch:rpm");
	assert_string_equal(p.c[1].subject, "key:12:batch:tpm");
	assert_string_equal(p.c[2].subject, "tenant:acme:batch:rpm");
	/* the same limits; still told apart as the caller's requests and tokens */
	assert_int_equal(p.c[1].limit, 1000);
	assert_true(aif_rl_is_requests(&p.c[0]));
	assert_false(aif_rl_is_requests(&p.c[1]));
	assert_true(aif_rl_is_key(&p.c[1]));
	assert_false(aif_rl_is_key(&p.c[2]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_good_file_keeps_its_lines_as_they_came),
		cmocka_unit_test(each_problem_names_its_line),
		cmocka_unit_test(a_body_is_checked_as_its_route_checks_it),
		cmocka_unit_test(many_problems_list_five_and_count_the_rest),
		cmocka_unit_test(empty_files_and_too_many_lines_are_refused),
		cmocka_unit_test(invalid_utf8_and_odd_custom_ids_are_refused),
		cmocka_unit_test(a_stored_line_gives_its_body_back),
		cmocka_unit_test(the_batch_lane_counts_apart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
