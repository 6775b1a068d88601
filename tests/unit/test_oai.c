/* test_oai.c -- unit tests for core/protocol/oai.c: OpenAI request validation (tables of
 * {body, status, param, code}), limits (size, depth, messages, strings), the prompt
 * estimate, and the error object and reason phrases.
 * Bodies in the tables are written with ' for " to stay readable; q() swaps them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oai.h"

#define CHAT	AIF_KIND_CHAT
#define COMPL	AIF_KIND_COMPLETION
#define A64	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define MSGS	"'messages':[{'role':'user','content':'hi'}]"

static const struct aif_oai_limits lim = {
	.max_body_bytes = 4096,
	.max_depth = 8,
	.max_messages = 4,
	.max_string_bytes = 256,
};

/* Returns a new copy of `s` with every ' turned into " (free with free(3)). */
static char *
q(const char *s)
{
	char	*d = strdup(s);
	size_t	 i;

	assert_non_null(d);
	for (i = 0; d[i] != '\0'; i++)
		if (d[i] == '\'')
			d[i] = '"';
	return d;
}

/* Parses `body` (single-quoted) with `l`; returns the result code. */
static enum aif_err
parse_with(enum aif_kind kind, const char *body, const struct aif_oai_limits *l,
    struct aif_oai_req *req, struct aif_error *err)
{
	char		*b = q(body);
	enum aif_err	 rc;

	rc = aif_oai_parse(kind, b, strlen(b), l, req, err);
	free(b);
	return rc;
}

/* An expected rejection. param/code NULL mean JSON null (""). */
struct reject {
	enum aif_kind	 kind;
	const char	*body;
	int		 status;
	const char	*param;
	const char	*code;
	const char	*message;	/* substring of the message, or NULL */
};

static void
run_rejects(const struct reject *t, size_t n)
{
	struct aif_oai_req	 req;
	struct aif_error	 err;
	enum aif_err		 rc;
	size_t			 i;

	for (i = 0; i < n; i++) {
		memset(&err, 0, sizeof(err));
		rc = parse_with(t[i].kind, t[i].body, &lim, &req, &err);
		if (rc == AIF_OK) {
			aif_oai_req_free(&req);
			fail_msg("row %zu accepted: %s", i, t[i].body);
		}
		if (req.body != NULL)
			fail_msg("row %zu: body not released on error", i);
		if (err.status != t[i].status ||
		    strcmp(err.param, t[i].param ? t[i].param : "") != 0 ||
		    strcmp(err.code, t[i].code ? t[i].code : "") != 0 ||
		    strcmp(err.type, "invalid_request_error") != 0 ||
		    (t[i].message != NULL && strstr(err.message, t[i].message) == NULL))
			fail_msg("row %zu: %s\n  got %d param='%s' code='%s' message='%s'",
			    i, t[i].body, err.status, err.param, err.code, err.message);
		assert_int_equal(rc, err.status == 413 ? AIF_TOOBIG : AIF_INVALID);
	}
}

static void
run_accepts(enum aif_kind kind, const char *const *bodies, size_t n)
{
	struct aif_oai_req	 req;
	struct aif_error	 err;
	size_t			 i;

	for (i = 0; i < n; i++) {
		memset(&err, 0, sizeof(err));
		if (parse_with(kind, bodies[i], &lim, &req, &err) != AIF_OK)
			fail_msg("row %zu rejected: %s\n  %d param='%s' code='%s' %s", i,
			    bodies[i], err.status, err.param, err.code, err.message);
		aif_oai_req_free(&req);
	}
}

#define N(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- accepted requests ---- */

static void
test_minimal_chat_is_accepted(void **state)
{
	struct aif_oai_req	 req;
	struct aif_error	 err;

	(void)state;
	assert_int_equal(parse_with(CHAT, "{'model':'m1'," MSGS "}", &lim, &req, &err),
	    AIF_OK);
	assert_non_null(req.body);
	assert_int_equal(req.kind, CHAT);
	assert_string_equal(req.model, "m1");
	assert_int_equal(req.stream, 0);
	assert_int_equal(req.max_tokens, -1);
	aif_oai_req_free(&req);
}

static void
test_minimal_completion_is_accepted(void **state)
{
	struct aif_oai_req	 req;
	struct aif_error	 err;

	(void)state;
	assert_int_equal(parse_with(COMPL, "{'model':'m2','prompt':'Say this'}", &lim,
	    &req, &err), AIF_OK);
	assert_int_equal(req.kind, COMPL);
	assert_string_equal(req.model, "m2");
	aif_oai_req_free(&req);
}

static void
test_valid_chat_variants_are_accepted(void **state)
{
	static const char *const bodies[] = {
		"{'model':'m'," MSGS ",'temperature':1}",
		"{'model':'m'," MSGS ",'temperature':0.7,'top_p':1,'n':128}",
		"{'model':'m'," MSGS ",'temperature':null,'top_p':null,'n':null,"
		    "'max_tokens':null,'stop':null,'seed':null,'logprobs':null,"
		    "'stream':null,'stream_options':null,'logit_bias':null}",
		"{'model':'m'," MSGS ",'temperature':2,'presence_penalty':-2,"
		    "'frequency_penalty':2.0}",
		"{'model':'m'," MSGS ",'stop':'\\n'}",
		"{'model':'m'," MSGS ",'stop':['a','b','c','d']}",
		"{'model':'m'," MSGS ",'stop':[]}",
		"{'model':'m'," MSGS ",'seed':-9223372036854775808}",
		"{'model':'m'," MSGS ",'logprobs':true,'top_logprobs':20}",
		"{'model':'m'," MSGS ",'user':'u-1'}",
		"{'model':'m'," MSGS ",'logit_bias':{'50256':-100,'15':100,'7':0.5}}",
		"{'model':'m'," MSGS ",'response_format':{'type':'json_object'}}",
		"{'model':'m'," MSGS ",'response_format':{'type':'text'}}",
		"{'model':'m'," MSGS ",'response_format':{'type':'json_schema',"
		    "'json_schema':{'name':'answer_1','schema':{'type':'object'},"
		    "'strict':true}}}",
		"{'model':'m'," MSGS ",'tool_choice':'required'}",
		"{'model':'m'," MSGS ",'tools':[{'type':'function','function':"
		    "{'name':'f','parameters':{'type':'object'}}}],'tool_choice':'auto'}",
		"{'model':'m'," MSGS ",'tool_choice':{'type':'function',"
		    "'function':{'name':'f'}}}",
		"{'model':'m'," MSGS ",'stream':true,'stream_options':"
		    "{'include_usage':true}}",
		"{'model':'m'," MSGS ",'max_tokens':1,'max_completion_tokens':1}",
		"{'model':'m'," MSGS ",'vendor_extra':{'anything':[1,2]}}",
		"{'model':'m','messages':[{'role':'system','content':'s'},"
		    "{'role':'developer','content':'d'},{'role':'user','content':'u',"
		    "'name':'bob'},{'role':'assistant','content':'a'}]}",
		"{'model':'m','messages':[{'role':'assistant','content':null,"
		    "'tool_calls':[{'id':'c1','type':'function','function':{'name':'f',"
		    "'arguments':'{}'}}]},{'role':'tool','tool_call_id':'c1',"
		    "'content':'42'}]}",
		"{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'c1'}]}]}",
		"{'model':'m','messages':[{'role':'assistant','content':null,"
		    "'function_call':{'name':'f','arguments':'{}'}},"
		    "{'role':'function','name':'f','content':'1'}]}",
		("{'model':'m','messages':[{'role':'user','content':[{'type':'text',"
		    "'text':'look'},{'type':'image_url','image_url':{'url':'x'}}]}]}"),
		"{'model':'m','messages':[{'role':'user','content':''}]}",
	};

	(void)state;
	run_accepts(CHAT, bodies, N(bodies));
}

static void
test_valid_completion_variants_are_accepted(void **state)
{
	static const char *const bodies[] = {
		"{'model':'m','prompt':''}",
		"{'model':'m','prompt':['a','b']}",
		"{'model':'m','prompt':[1,2,3]}",
		"{'model':'m','prompt':[[1,2],[3]]}",
		"{'model':'m','prompt':'p','logprobs':5,'max_tokens':16,'echo':true}",
		"{'model':'m','prompt':'p','logprobs':0}",
		"{'model':'m','prompt':'p','n':2,'best_of':3}",
		"{'model':'m','prompt':'p','best_of':1,'stream':true}",
		"{'model':'m','prompt':'p','messages':'not checked for completions'}",
	};

	(void)state;
	run_accepts(COMPL, bodies, N(bodies));
}

static void
test_unknown_fields_are_passed_through(void **state)
{
	struct aif_oai_req	 req;
	struct aif_error	 err;

	(void)state;
	assert_int_equal(parse_with(CHAT, "{'model':'m'," MSGS ",'top_k':40}", &lim,
	    &req, &err), AIF_OK);
	assert_int_equal(json_integer_value(json_object_get(req.body, "top_k")), 40);
	aif_oai_req_free(&req);
}

/* What OpenAI refuses with 400 is refused before a job exists (issue 11.10). */
static void
test_openai_value_rules_are_enforced(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{'model':'m'," MSGS ",'response_format':{'type':'yaml'}}", 400,
		    "response_format.type", "invalid_value", "Invalid value: 'yaml'. "
		    "Supported values are: 'json_object', 'json_schema', and 'text'." },
		{ CHAT, "{'model':'m'," MSGS ",'response_format':{'type':'json_schema'}}",
		    400, "response_format.json_schema", "missing_required_parameter", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'response_format':{'type':'json_schema',"
		    "'json_schema':{'name':'a b'}}}", 400, "response_format.json_schema.name",
		    "invalid_value", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'tools':[{'type':'retrieval'}]}", 400,
		    "tools[0].type", "invalid_value", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'tools':[{'type':'function'}]}", 400,
		    "tools[0].function", "missing_required_parameter", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'tools':[{'type':'function','function':"
		    "{'name':''}}]}", 400, "tools[0].function.name", "invalid_value", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'tools':[{'type':'function','function':"
		    "{'name':'f','parameters':'x'}}]}", 400, "tools[0].function.parameters",
		    "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'tool_choice':'always'}", 400, "tool_choice",
		    "invalid_value", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'tool_choice':{'type':'function'}}", 400,
		    "tool_choice.function.name", "missing_required_parameter", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'top_logprobs':2}", 400, "top_logprobs",
		    "invalid_value", NULL },
		{ COMPL, "{'model':'m','prompt':'p','best_of':21}", 400, "best_of",
		    "integer_above_max_value", NULL },
		{ COMPL, "{'model':'m','prompt':'p','n':3,'best_of':2}", 400, "best_of",
		    "invalid_value", "best_of must be greater than or equal to n" },
		{ COMPL, "{'model':'m','prompt':'p','best_of':2,'stream':true}", 400,
		    "best_of", "invalid_value", "best_of cannot be used with stream" },
	};

	(void)state;
	run_rejects(t, N(t));
}

/* The counts a hold is computed from: prompts, choices per prompt, the limit the
 * engine applies (max_tokens on completions, whatever else is sent), the bounds. */
static void
test_cost_counts_follow_the_request(void **state)
{
	struct aif_oai_req	 req;
	struct aif_error	 err;

	(void)state;
	assert_int_equal(parse_with(COMPL, "{'model':'m','prompt':['a','b','c','d','e'],"
	    "'n':4,'best_of':6,'max_tokens':10,'max_completion_tokens':99}", &lim, &req,
	    &err), AIF_OK);
	assert_int_equal(req.prompts, 5);
	assert_int_equal(req.choices_per_prompt, 6);
	assert_int_equal(req.max_tokens, 10);	/* engines read max_tokens here */
	assert_int_equal(aif_oai_completion_bound(&req, req.max_tokens), 5 * 6 * 10);
	assert_int_equal(aif_oai_prompt_bound(&req, 1000), 1000 + 5 * AIF_OAI_FRAMING_TOKENS);
	aif_oai_req_free(&req);

	assert_int_equal(parse_with(CHAT, "{'model':'m','messages':[{'role':'system',"
	    "'content':'s'},{'role':'user','content':'u'}],'n':3,'max_tokens':7,"
	    "'max_completion_tokens':9}", &lim, &req, &err), AIF_OK);
	assert_int_equal(req.prompts, 1);
	assert_int_equal(req.prompt_parts, 2);
	assert_int_equal(req.choices_per_prompt, 3);
	assert_int_equal(req.max_tokens, 9);
	assert_int_equal(aif_oai_completion_bound(&req, 9), 27);
	aif_oai_req_free(&req);

	assert_int_equal(parse_with(COMPL, "{'model':'m','prompt':[1,2,3]}", &lim, &req,
	    &err), AIF_OK);
	assert_int_equal(req.prompts, 1);	/* one prompt of token ids */
	assert_int_equal(req.max_tokens, -1);
	/* saturates instead of wrapping */
	req.prompts = INT64_MAX / 2;
	req.choices_per_prompt = 128;
	assert_int_equal(aif_oai_completion_bound(&req, 1000), INT64_MAX);
	aif_oai_req_free(&req);
}

/* ---- field types and ranges ---- */

static void
test_wrong_field_types_are_invalid_type(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{'model':1," MSGS "}", 400, "model", "invalid_type",
		    "Invalid type for 'model': expected a string, but got an integer "
		    "instead." },
		{ CHAT, "{'model':null," MSGS "}", 400, "model", "invalid_type",
		    "but got null instead" },
		{ CHAT, "{'model':'m','messages':{}}", 400, "messages", "invalid_type",
		    "expected an array, but got an object" },
		{ CHAT, "{'model':'m'," MSGS ",'temperature':'1'}", 400, "temperature",
		    "invalid_type", "Invalid type for 'temperature': expected a number, "
		    "but got a string instead." },
		{ CHAT, "{'model':'m'," MSGS ",'top_p':true}", 400, "top_p",
		    "invalid_type", "but got a boolean instead" },
		{ CHAT, "{'model':'m'," MSGS ",'max_tokens':1.5}", 400, "max_tokens",
		    "invalid_type", "expected an integer, but got a decimal instead" },
		{ CHAT, "{'model':'m'," MSGS ",'max_completion_tokens':'9'}", 400,
		    "max_completion_tokens", "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'n':2.0}", 400, "n", "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'stream':'true'}", 400, "stream",
		    "invalid_type", "expected a boolean" },
		{ CHAT, "{'model':'m'," MSGS ",'stream':true,'stream_options':true}", 400,
		    "stream_options", "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'stop':5}", 400, "stop", "invalid_type",
		    NULL },
		{ CHAT, "{'model':'m'," MSGS ",'stop':['a',1]}", 400, "stop[1]",
		    "invalid_type", "Invalid type for 'stop[1]': expected a string" },
		{ CHAT, "{'model':'m'," MSGS ",'presence_penalty':[]}", 400,
		    "presence_penalty", "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'frequency_penalty':{}}", 400,
		    "frequency_penalty", "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'seed':0.5}", 400, "seed", "invalid_type",
		    NULL },
		{ CHAT, "{'model':'m'," MSGS ",'logprobs':1}", 400, "logprobs",
		    "invalid_type", "expected a boolean" },
		{ COMPL, "{'model':'m','prompt':'p','logprobs':true}", 400, "logprobs",
		    "invalid_type", "expected an integer" },
		{ CHAT, "{'model':'m'," MSGS ",'top_logprobs':'1'}", 400, "top_logprobs",
		    "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'user':7}", 400, "user", "invalid_type",
		    NULL },
		{ CHAT, "{'model':'m'," MSGS ",'logit_bias':[]}", 400, "logit_bias",
		    "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'logit_bias':{'1':'x'}}", 400,
		    "logit_bias.1", "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'response_format':'json'}", 400,
		    "response_format", "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'response_format':{'type':1}}", 400,
		    "response_format.type", "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'tools':{}}", 400, "tools", "invalid_type",
		    NULL },
		{ CHAT, "{'model':'m'," MSGS ",'tools':[{'type':'function','function':"
		    "{'name':'f'}},'f']}", 400, "tools[1]",
		    "invalid_type", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'tool_choice':1}", 400, "tool_choice",
		    "invalid_type", "expected a string or an object" },
		{ COMPL, "{'model':'m','prompt':7}", 400, "prompt", "invalid_type", NULL },
		{ COMPL, "{'model':'m','prompt':['a',1]}", 400, "prompt[1]",
		    "invalid_type", NULL },
		{ COMPL, "{'model':'m','prompt':[1,'a']}", 400, "prompt[1]",
		    "invalid_type", NULL },
		{ COMPL, "{'model':'m','prompt':[{}]}", 400, "prompt[0]", "invalid_type",
		    NULL },
		{ COMPL, "{'model':'m','prompt':[[1],2]}", 400, "prompt[1]",
		    "invalid_type", NULL },
		{ COMPL, "{'model':'m','prompt':[[1,'x']]}", 400, "prompt[0][1]",
		    "invalid_type", NULL },
	};

	(void)state;
	run_rejects(t, N(t));
}

static void
test_out_of_range_values_are_rejected(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{'model':'m'," MSGS ",'max_tokens':0}", 400, "max_tokens",
		    "integer_below_min_value", "Invalid value for 'max_tokens': integer "
		    "below minimum value. Expected a value >= 1, but got 0 instead." },
		{ CHAT, "{'model':'m'," MSGS ",'max_completion_tokens':-5}", 400,
		    "max_completion_tokens", "integer_below_min_value", "got -5 instead" },
		{ CHAT, "{'model':'m'," MSGS ",'temperature':2.5}", 400, "temperature",
		    "decimal_above_max_value", "Invalid value for 'temperature': decimal "
		    "above maximum value. Expected a value <= 2, but got 2.5 instead." },
		{ CHAT, "{'model':'m'," MSGS ",'temperature':3}", 400, "temperature",
		    "decimal_above_max_value", "but got 3 instead" },
		{ CHAT, "{'model':'m'," MSGS ",'temperature':-0.1}", 400, "temperature",
		    "decimal_below_min_value", "Expected a value >= 0, but got -0.1" },
		{ CHAT, "{'model':'m'," MSGS ",'top_p':1.0000001}", 400, "top_p",
		    "decimal_above_max_value", "but got 1.0000001 instead" },
		{ CHAT, "{'model':'m'," MSGS ",'n':0}", 400, "n",
		    "integer_below_min_value", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'n':129}", 400, "n",
		    "integer_above_max_value", "Expected a value <= 128, but got 129" },
		{ CHAT, "{'model':'m'," MSGS ",'presence_penalty':-2.01}", 400,
		    "presence_penalty", "decimal_below_min_value", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'frequency_penalty':2.5}", 400,
		    "frequency_penalty", "decimal_above_max_value", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'top_logprobs':21}", 400, "top_logprobs",
		    "integer_above_max_value", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'top_logprobs':-1}", 400, "top_logprobs",
		    "integer_below_min_value", NULL },
		{ COMPL, "{'model':'m','prompt':'p','logprobs':6}", 400, "logprobs",
		    "integer_above_max_value", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'logit_bias':{'50256':-101}}", 400,
		    "logit_bias.50256", "decimal_below_min_value", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'logit_bias':{'1':100.5}}", 400,
		    "logit_bias.1", "decimal_above_max_value", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'stop':['a','b','c','d','e']}", 400,
		    "stop", "array_above_max_length", "maximum length 4" },
		{ COMPL, "{'model':'m','prompt':[1,-1]}", 400, "prompt[1]",
		    "integer_below_min_value", NULL },
		{ COMPL, "{'model':'m','prompt':[]}", 400, "prompt", "empty_array", NULL },
		{ COMPL, "{'model':'m','prompt':[[]]}", 400, "prompt[0]", "empty_array",
		    NULL },
	};

	(void)state;
	run_rejects(t, N(t));
}

/* ---- required fields and message shapes ---- */

static void
test_missing_required_fields_are_named(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{" MSGS "}", 400, "model", "missing_required_parameter",
		    "'model' is a required property" },
		{ CHAT, "{'model':'m'}", 400, "messages", "missing_required_parameter",
		    "'messages' is a required property" },
		{ CHAT, "{}", 400, "model", "missing_required_parameter", NULL },
		{ COMPL, "{'model':'m'}", 400, "prompt", "missing_required_parameter",
		    "'prompt' is a required property" },
		{ COMPL, "{'model':'m'," MSGS "}", 400, "prompt",
		    "missing_required_parameter", NULL },
		{ CHAT, "{'model':'m','messages':[{'content':'x'}]}", 400,
		    "messages[0].role", "missing_required_parameter", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'user'}]}", 400,
		    "messages[0].content", "missing_required_parameter", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'assistant'}]}", 400,
		    "messages[0].content", "missing_required_parameter", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'tool','content':'4'}]}", 400,
		    "messages[0].tool_call_id", "missing_required_parameter", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'response_format':{}}", 400,
		    "response_format.type", "missing_required_parameter", NULL },
	};

	(void)state;
	run_rejects(t, N(t));
}

static void
test_empty_messages_is_empty_array(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{'model':'m','messages':[]}", 400, "messages", "empty_array",
		    "Invalid value for 'messages': empty array. Expected an array with "
		    "minimum length 1, but got an empty array instead." },
	};

	(void)state;
	run_rejects(t, N(t));
}

static void
test_bad_role_is_invalid_value(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':'a'},"
		    "{'role':'wizard','content':'b'}]}", 400, "messages[1].role",
		    "invalid_value", "Invalid value for 'messages[1].role': 'wizard'. "
		    "Supported values are: " },
		{ CHAT, "{'model':'m','messages':[{'role':'User','content':'b'}]}", 400,
		    "messages[0].role", "invalid_value", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':7,'content':'b'}]}", 400,
		    "messages[0].role", "invalid_type", NULL },
	};

	(void)state;
	run_rejects(t, N(t));
}

/* The roles the validator accepts are the ones the PII walk skips (core/pii/json.c). */
static void
test_known_roles_are_exact(void **state)
{
	static const char *const ok[] = { "system", "developer", "user", "assistant",
	    "tool", "function" };

	(void)state;
	for (size_t i = 0; i < N(ok); i++)
		assert_true(aif_oai_role_known(ok[i], strlen(ok[i])));
	assert_false(aif_oai_role_known("User", 4));
	assert_false(aif_oai_role_known("use", 3));
	assert_false(aif_oai_role_known("users", 5));
	assert_false(aif_oai_role_known("user\0x", 6));
	assert_false(aif_oai_role_known("", 0));
}

static void
test_long_bad_role_is_not_echoed_whole(void **state)
{
	char			 body[600];
	struct aif_oai_req	 req;
	struct aif_error	 err;
	int			 n;

	(void)state;
	n = snprintf(body, sizeof(body), "{'model':'m','messages':[{'role':'%0200d',"
	    "'content':'x'}]}", 0);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	assert_int_equal(parse_with(CHAT, body, &lim, &req, &err), AIF_INVALID);
	assert_string_equal(err.code, "invalid_value");
	assert_non_null(strstr(err.message, "...'"));
	assert_true(strlen(err.message) < 300);
}

static void
test_message_shapes_are_checked(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{'model':'m','messages':['hi']}", 400, "messages[0]",
		    "invalid_type", "expected an object, but got a string" },
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':'a'},null]}",
		    400, "messages[1]", "invalid_type", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':null}]}", 400,
		    "messages[0].content", "invalid_type", "but got null instead" },
		{ CHAT, "{'model':'m','messages':[{'role':'assistant','content':null}]}",
		    400, "messages[0].content", "invalid_type", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'assistant','content':null,"
		    "'tool_calls':[]}]}", 400, "messages[0].content", "invalid_type",
		    NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':null,"
		    "'tool_calls':[{}]}]}", 400, "messages[0].content", "invalid_type",
		    NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'assistant','content':'x',"
		    "'tool_calls':{}}]}", 400, "messages[0].tool_calls", "invalid_type",
		    NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':5}]}", 400,
		    "messages[0].content", "invalid_type",
		    "expected a string or an array of content parts" },
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':'a',"
		    "'name':1}]}", 400, "messages[0].name", "invalid_type", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'tool','content':'a',"
		    "'tool_call_id':1}]}", 400, "messages[0].tool_call_id",
		    "invalid_type", NULL },
	};

	(void)state;
	run_rejects(t, N(t));
}

static void
test_content_part_arrays_are_checked(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':[]}]}", 400,
		    "messages[0].content", "empty_array", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':['x']}]}", 400,
		    "messages[0].content[0]", "invalid_type", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':[{'text':"
		    "'x'}]}]}", 400, "messages[0].content[0].type",
		    "missing_required_parameter", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':[{'type':1}]}]}",
		    400, "messages[0].content[0].type", "invalid_type", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':'a'},"
		    "{'role':'user','content':[{'type':'text','text':'ok'},"
		    "{'type':'text'}]}]}", 400, "messages[1].content[1].text",
		    "missing_required_parameter", NULL },
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':[{'type':"
		    "'text','text':['x']}]}]}", 400, "messages[0].content[0].text",
		    "invalid_type", NULL },
	};

	(void)state;
	run_rejects(t, N(t));
}

static void
test_stream_options_without_stream_is_rejected(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{'model':'m'," MSGS ",'stream_options':{'include_usage':true}}",
		    400, "stream_options", "invalid_value", "only allowed when 'stream'" },
		{ CHAT, "{'model':'m'," MSGS ",'stream':false,'stream_options':{}}", 400,
		    "stream_options", "invalid_value", NULL },
	};

	(void)state;
	run_rejects(t, N(t));
}

static void
test_first_error_follows_documented_order(void **state)
{
	static const struct reject t[] = {
		/* required before types */
		{ CHAT, "{'temperature':'x'," MSGS "}", 400, "model",
		    "missing_required_parameter", NULL },
		/* types and ranges before message shapes */
		{ CHAT, "{'model':'m','messages':[{'role':'x'}],'n':0}", 400, "n",
		    "integer_below_min_value", NULL },
		/* shapes before string bounds */
		{ CHAT, "{'model':'m','user':'" A64 A64 A64 A64 A64 "','messages':[]}", 400,
		    "messages", "empty_array", NULL },
		{ CHAT, "{'model':'m','user':'" A64 A64 A64 A64 A64 "'," MSGS "}", 400,
		    "user", "string_above_max_length", NULL },
	};

	(void)state;
	run_rejects(t, N(t));
}

/* ---- syntax, encoding and limits ---- */

static void
test_invalid_utf8_is_reported_as_such(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{'model':'\xff'," MSGS "}", 400, NULL, "invalid_json",
		    "Request body is not valid UTF-8" },
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':'caf\xc3'}]}",
		    400, NULL, "invalid_json", "not valid UTF-8" },
		{ CHAT, "{'model':'m'," MSGS ",'x':'\x80'}", 400, NULL, "invalid_json",
		    "not valid UTF-8" },
		{ CHAT, "{'model':'m'," MSGS ",'x':'\xc0\xaf'}", 400, NULL,
		    "invalid_json", "not valid UTF-8" },		/* overlong '/' */
		{ CHAT, "{'model':'m'," MSGS ",'x':'\xed\xa0\x80'}", 400, NULL,
		    "invalid_json", "not valid UTF-8" },		/* surrogate */
		{ CHAT, "{'model':'m'," MSGS ",'x':'\xf4\x90\x80\x80'}", 400, NULL,
		    "invalid_json", "not valid UTF-8" },		/* > U+10FFFF */
		{ CHAT, "{'model':'m'," MSGS ",'k\xfe':1}", 400, NULL, "invalid_json",
		    "not valid UTF-8" },				/* in a key */
	};

	(void)state;
	run_rejects(t, N(t));
}

static void
test_valid_multibyte_utf8_is_accepted(void **state)
{
	static const char *const bodies[] = {
		"{'model':'m','messages':[{'role':'user','content':'caf\xc3\xa9 "
		    "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80'}]}",
		"{'model':'m','messages':[{'role':'user','content':'\\u00e9\\ud83d\\ude00'}]}",
	};

	(void)state;
	run_accepts(CHAT, bodies, N(bodies));
}

static void
test_malformed_json_is_invalid_json(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "", 400, NULL, "invalid_json",
		    "could not parse the JSON body of your request" },
		{ CHAT, "{", 400, NULL, "invalid_json", NULL },
		{ CHAT, "{'model':}", 400, NULL, "invalid_json", NULL },
		{ CHAT, "{'model':'m'," MSGS "} x", 400, NULL, "invalid_json", NULL },
		{ CHAT, "{'model':'m'," MSGS ",}", 400, NULL, "invalid_json", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'t':NaN}", 400, NULL, "invalid_json", NULL },
		{ CHAT, "{'model':'m'," MSGS ",'t':1e999}", 400, NULL, "invalid_json",
		    NULL },
		{ CHAT, "{'model':'m'," MSGS ",'t':99999999999999999999}", 400, NULL,
		    "invalid_json", NULL },
		{ CHAT, "{'model':'a\\u0000b'," MSGS "}", 400, NULL, "invalid_json",
		    NULL },
		{ CHAT, "{'model':'\\ud800'," MSGS "}", 400, NULL, "invalid_json", NULL },
	};

	(void)state;
	run_rejects(t, N(t));
}

static void
test_nul_byte_in_body_is_invalid_json(void **state)
{
	static const char	 body[] = "{\"model\":\"m\",\0\"messages\":[]}";
	struct aif_oai_req	 req;
	struct aif_error	 err;

	(void)state;
	assert_int_equal(aif_oai_parse(CHAT, body, sizeof(body) - 1, &lim, &req, &err),
	    AIF_INVALID);
	assert_string_equal(err.code, "invalid_json");
}

static void
test_top_level_non_object_is_invalid_type(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "[]", 400, NULL, "invalid_type", "expected an object, but got an "
		    "array instead" },
		{ CHAT, "'model'", 400, NULL, NULL, NULL },
		{ CHAT, "42", 400, NULL, NULL, NULL },
		{ CHAT, "null", 400, NULL, NULL, NULL },
	};
	struct reject	 r[N(t)];
	size_t		 i;

	(void)state;
	/* jansson refuses non-container roots (invalid_json); arrays get through. */
	memcpy(r, t, sizeof(t));
	for (i = 1; i < N(r); i++)
		r[i].code = "invalid_json";
	run_rejects(r, N(r));
}

static void
test_duplicate_keys_are_invalid_json(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{'model':'a','model':'b'," MSGS "}", 400, NULL, "invalid_json",
		    "duplicate" },
		{ CHAT, "{'model':'m','messages':[{'role':'user','role':'system',"
		    "'content':'x'}]}", 400, NULL, "invalid_json", "duplicate" },
	};

	(void)state;
	run_rejects(t, N(t));
}

static void
test_nesting_deeper_than_limit_is_rejected(void **state)
{
	static const struct reject t[] = {
		/* depth 9: object, x, and 7 arrays */
		{ CHAT, "{'model':'m'," MSGS ",'x':{'a':[[[[[[[1]]]]]]]}}", 400, NULL,
		    "invalid_json", "nested too deeply: at most 8 levels" },
	};

	(void)state;
	run_rejects(t, N(t));
}

static void
test_nesting_at_limit_is_accepted(void **state)
{
	static const char *const bodies[] = {
		/* depth 8 */
		"{'model':'m'," MSGS ",'x':{'a':[[[[[[1]]]]]]}}",
	};

	(void)state;
	run_accepts(CHAT, bodies, N(bodies));
}

static void
test_nesting_beyond_parser_limit_is_400(void **state)
{
	const struct aif_oai_limits	 big = { 1 << 20, 8, 4, 256 };
	struct aif_oai_req		 req;
	struct aif_error		 err;
	size_t				 depth = 100000, i;
	char				*b = malloc(2 * depth + 1);

	(void)state;
	assert_non_null(b);
	for (i = 0; i < depth; i++) {
		b[i] = '[';
		b[2 * depth - 1 - i] = ']';
	}
	b[2 * depth] = '\0';
	assert_int_equal(aif_oai_parse(CHAT, b, 2 * depth, &big, &req, &err),
	    AIF_INVALID);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.code, "invalid_json");
	free(b);
}

static void
test_too_many_messages_is_rejected(void **state)
{
	static const struct reject t[] = {
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':'1'},"
		    "{'role':'user','content':'2'},{'role':'user','content':'3'},"
		    "{'role':'user','content':'4'},{'role':'user','content':'5'}]}", 400,
		    "messages", "array_above_max_length", "Expected an array with maximum "
		    "length 4, but got an array with length 5 instead." },
	};

	(void)state;
	run_rejects(t, N(t));
}

static void
test_messages_at_limit_are_accepted(void **state)
{
	static const char *const bodies[] = {
		"{'model':'m','messages':[{'role':'user','content':'1'},"
		    "{'role':'user','content':'2'},{'role':'user','content':'3'},"
		    "{'role':'user','content':'4'}]}",
	};

	(void)state;
	run_accepts(CHAT, bodies, N(bodies));
}

static void
test_body_over_limit_is_413(void **state)
{
	const struct aif_oai_limits	 small = { 40, 8, 4, 256 };
	const char			*body = "{\"model\":\"m\",\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"hi\"}]}";
	struct aif_oai_req		 req;
	struct aif_error		 err;
	char				*json;

	(void)state;
	assert_true(strlen(body) > small.max_body_bytes);
	assert_int_equal(aif_oai_parse(CHAT, body, strlen(body), &small, &req, &err),
	    AIF_TOOBIG);
	assert_null(req.body);
	assert_int_equal(err.status, 413);
	assert_string_equal(err.type, "invalid_request_error");
	assert_string_equal(err.code, "request_too_large");
	assert_string_equal(err.param, "");
	json = aif_error_render(&err, AIF_SURFACE_OPENAI);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"code\":\"request_too_large\""));
	free(json);
}

static void
test_body_at_limit_is_parsed(void **state)
{
	const char		*body = "{\"model\":\"m\",\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"hi\"}]}";
	struct aif_oai_limits	 exact = lim;
	struct aif_oai_req	 req;
	struct aif_error	 err;

	(void)state;
	exact.max_body_bytes = strlen(body);
	assert_int_equal(aif_oai_parse(CHAT, body, strlen(body), &exact, &req, &err),
	    AIF_OK);
	aif_oai_req_free(&req);
}

static void
test_size_is_checked_before_syntax(void **state)
{
	const struct aif_oai_limits	 small = { 4, 8, 4, 256 };
	struct aif_oai_req		 req;
	struct aif_error		 err;

	(void)state;
	assert_int_equal(aif_oai_parse(CHAT, "not json at all", 15, &small, &req, &err),
	    AIF_TOOBIG);
	assert_int_equal(err.status, 413);
}

static void
test_long_strings_are_rejected_with_their_path(void **state)
{
	const struct aif_oai_limits	 l = { 4096, 8, 4, 8 };
	static const struct {
		const char *body, *param;
	} t[] = {
		{ "{'model':'m','messages':[{'role':'user','content':'123456789'}]}",
		    "messages[0].content" },
		{ "{'model':'m','messages':[{'role':'user','content':'1'},{'role':'user',"
		    "'content':[{'type':'text','text':'123456789'}]}]}",
		    "messages[1].content[0].text" },
		{ "{'model':'123456789','messages':[{'role':'user','content':'1'}]}",
		    "model" },
		{ "{'model':'m','messages':[{'role':'user','content':'1'}],"
		    "'stop':['a','123456789']}", "stop[1]" },
		{ "{'model':'m','messages':[{'role':'user','content':'1'}],"
		    "'x':{'123456789':1}}", "x" },
		{ "{'model':'m','messages':[{'role':'user','content':'1'}],"
		    "'123456789':1}", "" },
	};
	struct aif_oai_req	 req;
	struct aif_error	 err;
	size_t			 i;

	(void)state;
	for (i = 0; i < N(t); i++) {
		char *b = q(t[i].body);

		if (aif_oai_parse(CHAT, b, strlen(b), &l, &req, &err) != AIF_INVALID)
			fail_msg("row %zu accepted", i);
		free(b);
		assert_string_equal(err.code, "string_above_max_length");
		assert_string_equal(err.param, t[i].param);
	}
}

static void
test_string_at_limit_is_accepted(void **state)
{
	const struct aif_oai_limits	 l = { 4096, 8, 4, 8 };
	struct aif_oai_req		 req;
	struct aif_error		 err;

	(void)state;
	assert_int_equal(parse_with(CHAT, "{'model':'m','messages':[{'role':'user',"
	    "'content':'12345678'}]}", &l, &req, &err), AIF_OK);
	aif_oai_req_free(&req);
}

static void
test_long_param_path_is_cut_safely(void **state)
{
	/* 2-byte characters in 30-byte keys build a path longer than the param field;
	 * with a 1- or 2-byte lead one of the two cuts falls inside a character. */
	const struct aif_oai_limits	 l = { 8192, 16, 4, 30 };
	static const char		 e14[] = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9";
	const char			*lead[] = { "k", "kk" };
	char				 body[2048], *s;
	struct aif_oai_req		 req;
	struct aif_error		 err;
	json_error_t			 jerr;
	json_t				*o;
	size_t				 i;
	int				 n;

	(void)state;
	for (i = 0; i < N(lead); i++) {
		n = snprintf(body, sizeof(body), "{'model':'m'," MSGS ",'%s%s':{'%s%s':"
		    "{'%s%s':{'%s%s':{'%s%s':{'%s%s':'" A64 "'}}}}}}", lead[i], e14,
		    lead[i], e14, lead[i], e14, lead[i], e14, lead[i], e14, lead[i], e14);
		assert_true(n > 0 && (size_t)n < sizeof(body));
		assert_int_equal(parse_with(CHAT, body, &l, &req, &err), AIF_INVALID);
		assert_string_equal(err.code, "string_above_max_length");
		assert_int_equal(strlen(err.param), sizeof(err.param) - 1);
		assert_true(strncmp(err.param, lead[i], strlen(lead[i])) == 0);
		s = aif_error_render(&err, AIF_SURFACE_OPENAI);
		assert_non_null(s);
		assert_non_null(o = json_loads(s, 0, &jerr));	/* valid UTF-8 JSON */
		json_decref(o);
		free(s);
	}
}

/* ---- results ---- */

static void
test_stream_flag_is_parsed(void **state)
{
	static const struct {
		const char	*body;
		int		 stream;
	} t[] = {
		{ "{'model':'m'," MSGS ",'stream':true}", 1 },
		{ "{'model':'m'," MSGS ",'stream':false}", 0 },
		{ "{'model':'m'," MSGS ",'stream':null}", 0 },
		{ "{'model':'m'," MSGS "}", 0 },
	};
	struct aif_oai_req	 req;
	struct aif_error	 err;
	size_t			 i;

	(void)state;
	for (i = 0; i < N(t); i++) {
		assert_int_equal(parse_with(CHAT, t[i].body, &lim, &req, &err), AIF_OK);
		assert_int_equal(req.stream, t[i].stream);
		aif_oai_req_free(&req);
	}
}

static void
test_max_tokens_prefers_max_completion_tokens(void **state)
{
	static const struct {
		const char	*body;
		int64_t		 max_tokens;
	} t[] = {
		{ "{'model':'m'," MSGS ",'max_tokens':100}", 100 },
		{ "{'model':'m'," MSGS ",'max_completion_tokens':7}", 7 },
		{ "{'model':'m'," MSGS ",'max_tokens':100,'max_completion_tokens':7}", 7 },
		{ "{'model':'m'," MSGS ",'max_tokens':null}", -1 },
		{ "{'model':'m'," MSGS ",'max_tokens':9007199254740993}",
		    9007199254740993 },
	};
	struct aif_oai_req	 req;
	struct aif_error	 err;
	size_t			 i;

	(void)state;
	for (i = 0; i < N(t); i++) {
		assert_int_equal(parse_with(CHAT, t[i].body, &lim, &req, &err), AIF_OK);
		assert_int_equal(req.max_tokens, t[i].max_tokens);
		aif_oai_req_free(&req);
	}
}

static void
test_prompt_estimate(void **state)
{
	static const struct {
		enum aif_kind	 kind;
		const char	*body;
		int64_t		 estimate;
	} t[] = {
		/* 2 bytes -> 1, + 4 for the message */
		{ CHAT, "{'model':'m'," MSGS "}", 5 },
		/* 8 + 1 = 9 bytes -> 3, + 8 */
		{ CHAT, "{'model':'m','messages':[{'role':'system','content':'12345678'},"
		    "{'role':'user','content':'9'}]}", 11 },
		/* text parts count, images do not: 4 + 4 = 8 bytes -> 2, + 4 */
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':[{'type':'text',"
		    "'text':'abcd'},{'type':'image_url','image_url':{'url':'xxxxxxxx'}},"
		    "{'type':'text','text':'efgh'}]}]}", 6 },
		/* empty content: only the framing */
		{ CHAT, "{'model':'m','messages':[{'role':'user','content':''}]}", 4 },
		/* tool-call turn with null content */
		{ CHAT, "{'model':'m','messages':[{'role':'assistant','content':null,"
		    "'tool_calls':[{'id':'c'}]},{'role':'tool','tool_call_id':'c',"
		    "'content':'12345'}]}", 10 },
		/* 2 bytes -> 1 */
		{ COMPL, "{'model':'m','prompt':'hi'}", 1 },
		/* empty prompt: at least 1 */
		{ COMPL, "{'model':'m','prompt':''}", 1 },
		/* 5 + 4 = 9 bytes -> 3 */
		{ COMPL, "{'model':'m','prompt':['hello','abcd']}", 3 },
		/* token ids count one each */
		{ COMPL, "{'model':'m','prompt':[1,2,3]}", 3 },
		{ COMPL, "{'model':'m','prompt':[[1,2],[3,4,5]]}", 5 },
		/* multi-byte: bytes, not characters: 3 x 2 bytes -> 2 */
		{ COMPL, "{'model':'m','prompt':'\xc3\xa9\xc3\xa9\xc3\xa9'}", 2 },
	};
	struct aif_oai_req	 req;
	struct aif_error	 err;
	size_t			 i;

	(void)state;
	for (i = 0; i < N(t); i++) {
		if (parse_with(t[i].kind, t[i].body, &lim, &req, &err) != AIF_OK)
			fail_msg("row %zu rejected: %s", i, err.message);
		if (req.prompt_tokens_estimate != t[i].estimate)
			fail_msg("row %zu: estimate %" PRId64 ", want %" PRId64, i,
			    req.prompt_tokens_estimate, t[i].estimate);
		aif_oai_req_free(&req);
	}
}

static void
test_error_is_untouched_on_success(void **state)
{
	struct aif_oai_req	 req;
	struct aif_error	 err, before;

	(void)state;
	memset(&err, 0x5a, sizeof(err));
	before = err;
	assert_int_equal(parse_with(CHAT, "{'model':'m'," MSGS "}", &lim, &req, &err),
	    AIF_OK);
	assert_memory_equal(&err, &before, sizeof(err));
	aif_oai_req_free(&req);
}

static void
test_request_is_zeroed_on_error(void **state)
{
	struct aif_oai_req	 req, zero;
	struct aif_error	 err;

	(void)state;
	memset(&req, 0x5a, sizeof(req));
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(parse_with(CHAT, "{'model':'m'}", &lim, &req, &err),
	    AIF_INVALID);
	assert_memory_equal(&req, &zero, sizeof(req));
}

static void
test_req_free_accepts_zeroed_request(void **state)
{
	struct aif_oai_req req;

	(void)state;
	memset(&req, 0, sizeof(req));
	aif_oai_req_free(&req);
	aif_oai_req_free(&req);
	aif_oai_req_free(NULL);
}

/* ---- allocation failures ---- */

static long allocs_left = -1;	/* -1: never fail */

static void *
failing_malloc(size_t n)
{
	if (allocs_left == 0)
		return NULL;
	if (allocs_left > 0)
		allocs_left--;
	return malloc(n);
}

/* Restores jansson's allocator even when a failing assertion left the test early. */
static int
restore_allocator(void **state)
{
	(void)state;
	allocs_left = -1;
	json_set_alloc_funcs(malloc, free);
	return 0;
}

static void
test_parse_survives_every_allocation_failure(void **state)
{
	const char		*body = "{\"model\":\"m\",\"messages\":[{\"role\":"
	    "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],"
	    "\"stop\":[\"a\"],\"logit_bias\":{\"1\":2}}";
	struct aif_oai_req	 req;
	struct aif_error	 err;
	enum aif_err		 rc;
	char			*s;
	long			 n, nomem = 0;

	(void)state;
	json_set_alloc_funcs(failing_malloc, free);
	for (n = 0;; n++) {
		allocs_left = n;
		rc = aif_oai_parse(CHAT, body, strlen(body), &lim, &req, &err);
		if (rc == AIF_OK) {
			allocs_left = -1;
			aif_oai_req_free(&req);
			break;
		}
		/* jansson reports some failures as plain syntax errors (400) */
		assert_true(rc == AIF_NOMEM || rc == AIF_INVALID);
		assert_int_equal(err.status, rc == AIF_NOMEM ? 500 : 400);
		assert_null(req.body);
		nomem += rc == AIF_NOMEM;
		allocs_left = 0;
		s = aif_error_render(&err, AIF_SURFACE_OPENAI);	/* NULL: no memory */
		assert_null(s);
		allocs_left = -1;
		assert_true(n < 10000);
	}
	json_set_alloc_funcs(malloc, free);
	assert_true(n > 0);
	assert_true(nomem > 0);
}

/* ---- error objects ---- */

static void
test_error_json_has_null_param_and_code(void **state)
{
	struct aif_error	 err;
	char			*s;

	(void)state;
	aif_error_set(&err, 500, "server_error", NULL, NULL, "Sorry %d", 1);
	assert_int_equal(err.status, 500);
	s = aif_error_render(&err, AIF_SURFACE_OPENAI);
	assert_non_null(s);
	assert_string_equal(s, "{\"error\":{\"message\":\"Sorry 1\",\"type\":"
	    "\"server_error\",\"param\":null,\"code\":null}}");
	free(s);
}

static void
test_error_json_carries_param_and_code(void **state)
{
	struct aif_oai_req	 req;
	struct aif_error	 err;
	json_t			*o, *e;
	json_error_t		 jerr;
	char			*s;

	(void)state;
	assert_int_equal(parse_with(CHAT, "{'model':'m','messages':[{'role':'user',"
	    "'content':'a'},{'role':'user','content':'b'},{'role':'user','content':"
	    "[{'type':'text','text':1}]}]}", &lim, &req, &err), AIF_INVALID);
	s = aif_error_render(&err, AIF_SURFACE_OPENAI);
	assert_non_null(s);
	o = json_loads(s, 0, &jerr);
	assert_non_null(o);
	e = json_object_get(o, "error");
	assert_int_equal(json_object_size(o), 1);
	assert_int_equal(json_object_size(e), 4);
	assert_string_equal(json_string_value(json_object_get(e, "type")),
	    "invalid_request_error");
	assert_string_equal(json_string_value(json_object_get(e, "param")),
	    "messages[2].content[0].text");
	assert_string_equal(json_string_value(json_object_get(e, "code")),
	    "invalid_type");
	assert_string_equal(json_string_value(json_object_get(e, "message")),
	    "Invalid type for 'messages[2].content[0].text': expected a string, but got "
	    "an integer instead.");
	json_decref(o);
	free(s);
}

static void
test_error_set_truncates_long_message(void **state)
{
	struct aif_error	 err;
	char			 big[2000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	aif_error_set(&err, 400, big, big, big, "%s", big);
	assert_int_equal(strlen(err.message), sizeof(err.message) - 1);
	assert_int_equal(strlen(err.type), sizeof(err.type) - 1);
	assert_int_equal(strlen(err.code), sizeof(err.code) - 1);
	assert_int_equal(strlen(err.param), sizeof(err.param) - 1);
}

static void
test_error_set_never_leaves_broken_utf8(void **state)
{
	struct aif_error	 err;
	char			 big[600], *s;
	size_t			 i;

	(void)state;
	/* 2-byte characters from offset 2: the cut at 511 bytes splits one. */
	big[0] = 'a';
	big[1] = 'b';
	for (i = 2; i + 1 < sizeof(big) - 1; i += 2) {
		big[i] = '\xc3';
		big[i + 1] = '\xa9';
	}
	big[i] = '\0';
	aif_error_set(&err, 400, "t", NULL, "p\xff", "%s", big);
	s = aif_error_render(&err, AIF_SURFACE_OPENAI);
	assert_non_null(s);
	assert_string_equal(err.param, "p?");
	assert_int_equal(err.message[sizeof(err.message) - 2], '?');
	free(s);
}

static void
test_error_set_replaces_invalid_utf8(void **state)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "ok \xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80",
		    "ok \xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80" },
		{ "a\xff" "b", "a?b" },
		{ "\x80", "?" },
		{ "\xc0\xaf", "??" },			/* overlong */
		{ "\xe0\x80\xaf", "???" },		/* overlong */
		{ "\xed\xa0\x80", "???" },		/* surrogate */
		{ "\xf4\x90\x80\x80", "????" },	/* above U+10FFFF */
		{ "\xf5\x80\x80\x80", "????" },
		{ "x\xe6\x97", "x??" },		/* cut short */
	};
	struct aif_error	 err;
	size_t			 i;

	(void)state;
	for (i = 0; i < N(t); i++) {
		aif_error_set(&err, 400, NULL, NULL, t[i].in, "%s", t[i].in);
		if (strcmp(err.param, t[i].out) != 0 || strcmp(err.message, t[i].out) != 0)
			fail_msg("row %zu: got '%s'", i, err.param);
	}
}

static void
test_error_json_survives_hand_filled_struct(void **state)
{
	struct aif_error	 err;
	char			*s;

	(void)state;
	memset(&err, 'z', sizeof(err));		/* no NUL anywhere */
	err.status = 400;
	err.message[0] = '\xfe';
	s = aif_error_render(&err, AIF_SURFACE_OPENAI);
	assert_non_null(s);
	assert_non_null(strstr(s, "\"message\":\"?zzz"));
	free(s);
}

static void
test_http_reason_phrases(void **state)
{
	static const struct {
		int		 status;
		const char	*reason;
	} t[] = {
		{ 200, "OK" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 413, "Content Too Large" }, { 415, "Unsupported Media Type" },
		{ 429, "Too Many Requests" }, { 500, "Internal Server Error" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" }, { 799, "Unknown Status" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(t); i++)
		assert_string_equal(aif_http_reason(t[i].status), t[i].reason);
}

/* The engine-native kinds: rerank, score, tokenize, detokenize are validated like the
 * others (required fields, types, shapes), never generate (no completion bound, one
 * choice), and their prompt estimate counts every pair the engine scores. */
static void
test_native_kinds(void **state)
{
	static const char *const rerank_ok[] = {
		"{'model':'r','query':'q','documents':['a','b']}",
		"{'model':'r','query':'q','documents':[{'text':'a'}],'top_n':1,"
		    "'return_documents':false}",
	};
	static const char *const score_ok[] = {
		"{'model':'r','text_1':'a','text_2':'b'}",
		"{'model':'r','text_1':'a','text_2':['b','c']}",
		"{'model':'r','text_1':['a','b'],'text_2':['b','c']}",
	};
	static const struct reject rejects[] = {
		{ AIF_KIND_RERANK, "{'model':'r','documents':['a']}", 400, "query",
		    "missing_required_parameter", "query" },
		{ AIF_KIND_RERANK, "{'model':'r','query':'q','documents':[]}", 400, "documents",
		    "empty_array", NULL },
		{ AIF_KIND_RERANK, "{'model':'r','query':'q','documents':[7]}", 400,
		    "documents[0]", "invalid_type", NULL },
		{ AIF_KIND_RERANK, "{'model':'r','query':'q','documents':[{'txt':'a'}]}", 400,
		    "documents[0].text", "missing_required_parameter", NULL },
		{ AIF_KIND_RERANK, "{'model':'r','query':'q','documents':['a'],'top_n':0}", 400,
		    "top_n", "integer_below_min_value", NULL },
		{ AIF_KIND_SCORE, "{'model':'r','text_1':'a'}", 400, "text_2",
		    "missing_required_parameter", NULL },
		{ AIF_KIND_SCORE, "{'model':'r','text_1':['a','b'],'text_2':['c']}", 400,
		    "text_2", "invalid_value", "as many" },
		{ AIF_KIND_TOKENIZE, "{'model':'m'}", 400, "prompt", "invalid_value", "either" },
		{ AIF_KIND_TOKENIZE, "{'model':'m','prompt':'a','messages':[{'role':'user',"
		    "'content':'b'}]}", 400, "prompt",
		    "invalid_value", "either" },
		{ AIF_KIND_DETOKENIZE, "{'model':'m','tokens':[1,-2]}", 400, "tokens[1]",
		    "integer_below_min_value", NULL },
		{ AIF_KIND_DETOKENIZE, "{'model':'m'}", 400, "tokens",
		    "missing_required_parameter", NULL },
	};
	struct aif_oai_req req;
	struct aif_error err;

	(void)state;
	run_accepts(AIF_KIND_RERANK, rerank_ok, sizeof(rerank_ok) / sizeof(rerank_ok[0]));
	run_accepts(AIF_KIND_SCORE, score_ok, sizeof(score_ok) / sizeof(score_ok[0]));
	run_rejects(rejects, sizeof(rejects) / sizeof(rejects[0]));
	/* a rerank of 3 documents scores 3 pairs: the query counts 3 times */
	assert_int_equal(parse_with(AIF_KIND_RERANK, "{'model':'r','query':'abcdefgh',"
	    "'documents':['abcd','abcd','abcd']}", &lim, &req, &err), AIF_OK);
	assert_int_equal(req.prompt_tokens_estimate, (3 * 8 + 12 + 3) / 4);
	assert_int_equal(req.prompts, 3);
	assert_int_equal(req.choices_per_prompt, 1);
	assert_int_equal(aif_oai_completion_bound(&req, 100), 0);
	/* the prompt bound holds every pair, though the request is shorter than them */
	assert_int_equal(req.pair_bytes, 3 * 8 + 12);
	assert_true(aif_oai_prompt_bound(&req, 10) >= 3 * 8 + 12);
	aif_oai_req_free(&req);
	assert_int_equal(parse_with(AIF_KIND_DETOKENIZE, "{'model':'m','tokens':[1,2,3]}",
	    &lim, &req, &err), AIF_OK);
	assert_int_equal(req.prompt_tokens_estimate, 3);
	aif_oai_req_free(&req);
	assert_int_equal(parse_with(AIF_KIND_TOKENIZE, "{'model':'m','messages':[{'role':"
	    "'user','content':'hi'}]}", &lim, &req, &err), AIF_OK);
	aif_oai_req_free(&req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_chat_is_accepted),
		cmocka_unit_test(test_minimal_completion_is_accepted),
		cmocka_unit_test(test_valid_chat_variants_are_accepted),
		cmocka_unit_test(test_valid_completion_variants_are_accepted),
		cmocka_unit_test(test_unknown_fields_are_passed_through),
		cmocka_unit_test(test_openai_value_rules_are_enforced),
		cmocka_unit_test(test_cost_counts_follow_the_request),
		cmocka_unit_test(test_wrong_field_types_are_invalid_type),
		cmocka_unit_test(test_out_of_range_values_are_rejected),
		cmocka_unit_test(test_missing_required_fields_are_named),
		cmocka_unit_test(test_empty_messages_is_empty_array),
		cmocka_unit_test(test_bad_role_is_invalid_value),
		cmocka_unit_test(test_known_roles_are_exact),
		cmocka_unit_test(test_long_bad_role_is_not_echoed_whole),
		cmocka_unit_test(test_message_shapes_are_checked),
		cmocka_unit_test(test_content_part_arrays_are_checked),
		cmocka_unit_test(test_stream_options_without_stream_is_rejected),
		cmocka_unit_test(test_first_error_follows_documented_order),
		cmocka_unit_test(test_invalid_utf8_is_reported_as_such),
		cmocka_unit_test(test_valid_multibyte_utf8_is_accepted),
		cmocka_unit_test(test_malformed_json_is_invalid_json),
		cmocka_unit_test(test_nul_byte_in_body_is_invalid_json),
		cmocka_unit_test(test_top_level_non_object_is_invalid_type),
		cmocka_unit_test(test_duplicate_keys_are_invalid_json),
		cmocka_unit_test(test_nesting_deeper_than_limit_is_rejected),
		cmocka_unit_test(test_nesting_at_limit_is_accepted),
		cmocka_unit_test(test_nesting_beyond_parser_limit_is_400),
		cmocka_unit_test(test_too_many_messages_is_rejected),
		cmocka_unit_test(test_messages_at_limit_are_accepted),
		cmocka_unit_test(test_body_over_limit_is_413),
		cmocka_unit_test(test_body_at_limit_is_parsed),
		cmocka_unit_test(test_size_is_checked_before_syntax),
		cmocka_unit_test(test_long_strings_are_rejected_with_their_path),
		cmocka_unit_test(test_string_at_limit_is_accepted),
		cmocka_unit_test(test_long_param_path_is_cut_safely),
		cmocka_unit_test(test_stream_flag_is_parsed),
		cmocka_unit_test(test_max_tokens_prefers_max_completion_tokens),
		cmocka_unit_test(test_prompt_estimate),
		cmocka_unit_test(test_error_is_untouched_on_success),
		cmocka_unit_test(test_request_is_zeroed_on_error),
		cmocka_unit_test(test_req_free_accepts_zeroed_request),
		cmocka_unit_test_teardown(test_parse_survives_every_allocation_failure,
		    restore_allocator),
		cmocka_unit_test(test_error_json_has_null_param_and_code),
		cmocka_unit_test(test_error_json_carries_param_and_code),
		cmocka_unit_test(test_error_set_truncates_long_message),
		cmocka_unit_test(test_error_set_never_leaves_broken_utf8),
		cmocka_unit_test(test_error_set_replaces_invalid_utf8),
		cmocka_unit_test(test_error_json_survives_hand_filled_struct),
		cmocka_unit_test(test_http_reason_phrases),
		cmocka_unit_test(test_native_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
