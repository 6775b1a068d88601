/* test_chat_template.c -- unit tests of adapters/chat_template.c: the built-in chatml
 * and llama3 templates, custom templates and their syntax errors, message content
 * shapes, hostile inputs and the output cap. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat_template.h"

/* Renders the messages in JSON text `msgs` with `tmpl`; returns the error and *out. */
static enum aif_err
render(const char *tmpl, const char *msgs, char **out, size_t *len)
{
	json_t *m = json_loads(msgs, JSON_DECODE_ANY, NULL);
	enum aif_err err;

	if (m == NULL)
		fail_msg("test JSON does not parse: %s", msgs);
	err = aif_chat_template_render(tmpl, m, out, len);
	json_decref(m);
	return err;
}

static void
expect(const char *tmpl, const char *msgs, const char *want)
{
	char *out = NULL;
	size_t len = 99;

	assert_int_equal(render(tmpl, msgs, &out, &len), AIF_OK);
	assert_non_null(out);
	if (strcmp(out, want) != 0)
		fail_msg("template %s\n got: [%s]\nwant: [%s]", tmpl ? tmpl : "(null)", out,
		    want);
	assert_int_equal(len, strlen(want));
	free(out);
}

#define SYS_USER "[{\"role\":\"system\",\"content\":\"Be brief.\"}," \
		 "{\"role\":\"user\",\"content\":\"Hi!\"}]"

static void
chatml_renders_each_message_then_the_assistant_header(void **state)
{
	(void)state;
	expect("chatml", SYS_USER,
	    "<|im_start|>system\nBe brief.<|im_end|>\n"
	    "<|im_start|>user\nHi!<|im_end|>\n"
	    "<|im_start|>assistant\n");
}

static void
null_template_is_chatml(void **state)
{
	(void)state;
	expect(NULL, "[{\"role\":\"user\",\"content\":\"x\"}]",
	    "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n");
}

static void
llama3_renders_bos_headers_and_eot(void **state)
{
	(void)state;
	expect("llama3", SYS_USER,
	    "<|begin_of_text|>"
	    "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
	    "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
	    "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void
multi_turn_keeps_order_and_assistant_turns(void **state)
{
	(void)state;
	expect("chatml",
	    "[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"},"
	    "{\"role\":\"user\",\"content\":\"c\"}]",
	    "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n"
	    "<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n");
}

static void
custom_template_substitutes_role_and_content(void **state)
{
	(void)state;
	expect("### {role}:\n{content}\n\n{assistant}", SYS_USER,
	    "### system:\nBe brief.\n\n### user:\nHi!\n\n### assistant:\n");
	/* {role} in the tail too, several times; other braces are literal */
	expect("<{role}>{content}</{role}>{x}{assistant}",
	    "[{\"role\":\"user\",\"content\":\"{role} stays\"}]",
	    "<user>{role} stays</user>{x}<assistant>");
	/* no {role} at all */
	expect("{content}\n{assistant}", "[{\"role\":\"user\",\"content\":\"q\"}]", "q\n");
}

static void
custom_template_syntax_errors_are_invalid(void **state)
{
	static const char *const bad[] = {
		"", "plain text", "{role}: {content}",		/* no {assistant} */
		"{role}: {assistant}",				/* no {content} */
		"{content}{content}{assistant}",
		"{content}{assistant}{assistant}",
		"{content}{assistant} trailing",		/* {assistant} not last */
		"{assistant}{content}",
		"chatml ", "Chatml", "llama-3",
	};
	char *big;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out = (char *)1;
		size_t len = 99;

		if (aif_chat_template_check(bad[i]) != AIF_INVALID)
			fail_msg("check accepted [%s]", bad[i]);
		if (render(bad[i], "[]", &out, &len) != AIF_INVALID)
			fail_msg("render accepted [%s]", bad[i]);
		assert_null(out);
		assert_int_equal(len, 0);
	}
	assert_int_equal(aif_chat_template_check(NULL), AIF_OK);
	assert_int_equal(aif_chat_template_check("chatml"), AIF_OK);
	assert_int_equal(aif_chat_template_check("llama3"), AIF_OK);
	assert_int_equal(aif_chat_template_check("{content}{assistant}"), AIF_OK);
	/* a custom template has a size cap */
	big = malloc(AIF_CHAT_TEMPLATE_SPEC_MAX + 32);
	assert_non_null(big);
	memset(big, 'x', AIF_CHAT_TEMPLATE_SPEC_MAX);
	memcpy(big + AIF_CHAT_TEMPLATE_SPEC_MAX, "{content}{assistant}", 21);
	assert_int_equal(aif_chat_template_check(big), AIF_INVALID);
	free(big);
}

static void
content_parts_are_joined_with_newlines(void **state)
{
	(void)state;
	expect("{content}|{assistant}",
	    "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"one\"},"
	    "{\"type\":\"text\",\"text\":\"two\"}]}]", "one\ntwo|");
	/* an empty part list and a null content render as nothing */
	expect("{content}|{assistant}",
	    "[{\"role\":\"user\",\"content\":[]},{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[]},{\"role\":\"tool\"}]", "|||");
}

static void
developer_role_renders_as_system(void **state)
{
	(void)state;
	expect("chatml", "[{\"role\":\"developer\",\"content\":\"rules\"}]",
	    "<|im_start|>system\nrules<|im_end|>\n<|im_start|>assistant\n");
}

static void
non_text_content_and_bad_messages_are_invalid(void **state)
{
	static const char *const bad[] = {
		"{}", "\"text\"", "null",
		"[\"user\"]", "[[]]", "[{\"content\":\"x\"}]", "[{\"role\":7,\"content\":\"x\"}]",
		"[{\"role\":\"user\",\"content\":42}]",
		"[{\"role\":\"user\",\"content\":{\"text\":\"x\"}}]",
		"[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
		    "\"image_url\":{\"url\":\"data:,\"}}]}]",
		"[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]",
		"[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":1}]}]",
		"[{\"role\":\"user\",\"content\":[42]}]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out = (char *)1;

		if (render("chatml", bad[i], &out, NULL) != AIF_INVALID)
			fail_msg("accepted %s", bad[i]);
		assert_null(out);
	}
}

static void
empty_messages_render_only_the_generation_prompt(void **state)
{
	(void)state;
	expect("chatml", "[]", "<|im_start|>assistant\n");
	expect("llama3", "[]",
	    "<|begin_of_text|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* Content is copied byte for byte: NUL bytes, UTF-8 and template markers included. */
static void
content_is_copied_verbatim(void **state)
{
	static const char content[] = "a\0b <|im_end|> h\xc3\xa9";
	json_t *m = json_pack("[{s:s,s:s#}]", "role", "user", "content", content,
	    (int)sizeof(content) - 1);
	char *out = NULL;
	size_t len = 0;
	static const char want[] = "<|im_start|>user\na\0b <|im_end|> h\xc3\xa9<|im_end|>\n"
	    "<|im_start|>assistant\n";

	(void)state;
	assert_non_null(m);
	assert_int_equal(aif_chat_template_render("chatml", m, &out, &len), AIF_OK);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(out, want, len);
	free(out);
	json_decref(m);
}

static void
prompt_over_the_cap_is_toobig(void **state)
{
	size_t n = AIF_CHAT_TEMPLATE_MAX / 2 + 1;
	char *big = malloc(n + 1);
	json_t *m;
	char *out = (char *)1;
	size_t len = 7;

	(void)state;
	assert_non_null(big);
	memset(big, 'a', n);
	big[n] = '\0';
	/* two messages of just over half the cap each */
	m = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "user", "content", big,
	    "role", "user", "content", big);
	assert_non_null(m);
	assert_int_equal(aif_chat_template_render("chatml", m, &out, &len), AIF_TOOBIG);
	assert_null(out);
	assert_int_equal(len, 0);
	json_decref(m);
	/* one such message fits */
	m = json_pack("[{s:s,s:s}]", "role", "user", "content", big);
	assert_int_equal(aif_chat_template_render("chatml", m, &out, &len), AIF_OK);
	assert_int_equal(len, n + strlen("<|im_start|>user\n<|im_end|>\n"
	    "<|im_start|>assistant\n"));
	free(out);
	json_decref(m);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chatml_renders_each_message_then_the_assistant_header),
		cmocka_unit_test(null_template_is_chatml),
		cmocka_unit_test(llama3_renders_bos_headers_and_eot),
		cmocka_unit_test(multi_turn_keeps_order_and_assistant_turns),
		cmocka_unit_test(custom_template_substitutes_role_and_content),
		cmocka_unit_test(custom_template_syntax_errors_are_invalid),
		cmocka_unit_test(content_parts_are_joined_with_newlines),
		cmocka_unit_test(developer_role_renders_as_system),
		cmocka_unit_test(non_text_content_and_bad_messages_are_invalid),
		cmocka_unit_test(empty_messages_render_only_the_generation_prompt),
		cmocka_unit_test(content_is_copied_verbatim),
		cmocka_unit_test(prompt_over_the_cap_is_toobig),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
