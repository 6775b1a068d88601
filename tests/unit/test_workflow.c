/* test_workflow.c -- unit tests of the workflow definition language: core/config/
 * workflow.c (the `workflows:` section parsed and validated into its canonical JSON
 * definition and hash, every error at its file:line:column) and core/config/wfexpr.c
 * (templates, var paths, conditions, truncation, the input text of a request). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "wfexpr.h"

/* Two models (m1 chat and completion, c1 completion only) and a role: lines 1-18;
 * then `workflows:` (19), `  - name: w` (20), `    steps:` (21), steps from 22. */
#define BASE								\
	"server:\n"							\
	"  listen: /run/aif/api.sock\n"					\
	"  run_dir: /run/aif\n"						\
	"database:\n"							\
	"  socket: /run/mysqld/mysqld.sock\n"				\
	"  name: aif\n"							\
	"models:\n"							\
	"  - id: m1\n"							\
	"    adapter: openai\n"						\
	"    replicas:\n"						\
	"      - url: http://127.0.0.1:9101\n"				\
	"  - id: c1\n"							\
	"    adapter: openai\n"						\
	"    kinds: [completion]\n"					\
	"    replicas:\n"						\
	"      - url: http://127.0.0.1:9101\n"				\
	"roles:\n"							\
	"  - name: user\n"
#define WF_HEAD	BASE "workflows:\n  - name: w\n    steps:\n"
/* A final step to end a test's steps with. */
#define DONE	"      - name: done\n        kind: final\n        output: ok\n"

static char errbuf[16384];

static enum aif_err
load(const char *yaml, struct aif_config **cfg)
{
	return aif_cfg_load_string("t.yaml", yaml, strlen(yaml), cfg, errbuf,
	    sizeof(errbuf));
}

/* Loads yaml, expecting AIF_CONFIG with exactly the message `want`. */
static void
expect_error(const char *yaml, const char *want)
{
	struct aif_config *cfg = (struct aif_config *)1;

	assert_int_equal(load(yaml, &cfg), AIF_CONFIG);
	assert_null(cfg);
	assert_string_equal(errbuf, want);
}

/* Loads yaml, expecting AIF_CONFIG with `want` as one of the lines. */
static void
expect_line(const char *yaml, const char *want)
{
	struct aif_config *cfg = (struct aif_config *)1;
	const char *p;
	size_t n = strlen(want);

	assert_int_equal(load(yaml, &cfg), AIF_CONFIG);
	assert_null(cfg);
	for (p = errbuf; p != NULL; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, want, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return;
	fail_msg("no line '%s' in:\n%s", want, errbuf);
}

static struct aif_config *
load_ok(const char *yaml)
{
	struct aif_config *cfg = NULL;

	if (load(yaml, &cfg) != AIF_OK)
		fail_msg("%s", errbuf);
	assert_non_null(cfg);
	return cfg;
}

/* ---- canonical definition ---------------------------------------------------------- */

#define VALID_STEPS							\
	"      - name: retrieve\n"					\
	"        kind: http\n"						\
	"        base_url: http://127.0.0.1:29190/\n"			\
	"        path: /search\n"					\
	"        headers:\n"						\
	"          X-Trace: \"{{run.id}}\"\n"				\
	"          Authorization: {file: /etc/aif/s.key, prefix: \"Bearer \"}\n" \
	"        body: {q: \"{{input.text}}\", n: 3}\n"			\
	"        timeout: 5s\n"						\
	"        retry: {maximum_attempts: 2, initial_interval: 200ms}\n" \
	"        compensation:\n"					\
	"          base_url: http://127.0.0.1:29190\n"			\
	"          path: /refund\n"					\
	"          body: {id: \"{{steps.retrieve.output.body.id}}\"}\n"	\
	"        next: decide\n"					\
	"      - name: decide\n"					\
	"        kind: branch\n"					\
	"        cases:\n"						\
	"          - when: {path: steps.retrieve.output.body.hits, gt: 0}\n" \
	"            next: a\n"						\
	"        default: p\n"						\
	"      - name: a\n"						\
	"        kind: model\n"						\
	"        model: m1\n"						\
	"        messages:\n"						\
	"          - {role: user, content: \"{{steps.retrieve.output.body}}\"}\n" \
	"        max_tokens: 64\n"					\
	"        next: done\n"						\
	"      - name: p\n"						\
	"        kind: parallel\n"					\
	"        branches: [x, y]\n"					\
	"        next: m\n"						\
	"      - name: x\n"						\
	"        kind: transform\n"					\
	"        op: truncate\n"					\
	"        text: \"{{input.text}}\"\n"				\
	"        max_tokens: 10\n"					\
	"      - name: y\n"						\
	"        kind: model\n"						\
	"        model: c1\n"						\
	"        prompt: hi\n"						\
	"      - name: m\n"						\
	"        kind: transform\n"					\
	"        op: format\n"						\
	"        template: \"{{steps.x.output.text}} {{steps.y.output.text}}\"\n" \
	"        next: w\n"						\
	"      - name: w\n"						\
	"        kind: wait\n"						\
	"        signal: approval\n"					\
	"        on_timeout: continue\n"				\
	"        next: done2\n"						\
	"      - name: done\n"						\
	"        kind: final\n"						\
	"        from: a\n"						\
	"      - name: done2\n"						\
	"        kind: final\n"						\
	"        output: {answer: \"{{steps.m.output.text}}\", n: 1}\n"

static const char valid_def[] =
    "{\"name\":\"rag\",\"order\":[\"retrieve\",\"decide\",\"a\",\"p\",\"x\",\"y\",\"m\","
    "\"w\",\"done\",\"done2\"],\"start\":\"retrieve\",\"steps\":{"
    "\"a\":{\"kind\":\"model\",\"max_tokens\":64,\"messages\":[{\"content\":"
    "\"{{steps.retrieve.output.body}}\",\"role\":\"user\"}],\"model\":\"m1\","
    "\"next\":\"done\",\"retry\":{\"coefficient_pct\":200,\"initial_ms\":500,"
    "\"jitter_pct\":10,\"max_attempts\":3,\"max_ms\":10000},\"timeout_ms\":60000},"
    "\"decide\":{\"cases\":[{\"next\":\"a\",\"when\":{\"op\":\"gt\",\"path\":"
    "\"steps.retrieve.output.body.hits\",\"value\":0}}],\"default\":\"p\","
    "\"kind\":\"branch\"},"
    "\"done\":{\"from\":\"a\",\"kind\":\"final\"},"
    "\"done2\":{\"kind\":\"final\",\"output\":{\"answer\":\"{{steps.m.output.text}}\","
    "\"n\":1}},"
    "\"m\":{\"kind\":\"transform\",\"next\":\"w\",\"op\":\"format\",\"retry\":"
    "{\"coefficient_pct\":200,\"initial_ms\":500,\"jitter_pct\":10,\"max_attempts\":1,"
    "\"max_ms\":10000},\"template\":\"{{steps.x.output.text}} {{steps.y.output.text}}\","
    "\"timeout_ms\":60000},"
    "\"p\":{\"branches\":[\"x\",\"y\"],\"kind\":\"parallel\",\"next\":\"m\","
    "\"wait\":\"all\"},"
    "\"retrieve\":{\"base_url\":\"http://127.0.0.1:29190\",\"body\":{\"n\":3,"
    "\"q\":\"{{input.text}}\"},\"compensation\":{\"base_url\":"
    "\"http://127.0.0.1:29190\",\"body\":{\"id\":\"{{steps.retrieve.output.body.id}}\"},"
    "\"headers\":{},\"method\":\"POST\",\"path\":\"/refund\",\"retry\":"
    "{\"coefficient_pct\":200,\"initial_ms\":500,\"jitter_pct\":10,\"max_attempts\":0,"
    "\"max_ms\":10000},\"timeout_ms\":60000},\"headers\":{\"Authorization\":"
    "{\"file\":\"/etc/aif/s.key\",\"prefix\":\"Bearer \"},\"X-Trace\":"
    "{\"value\":\"{{run.id}}\"}},\"kind\":\"http\",\"method\":\"POST\",\"next\":"
    "\"decide\",\"path\":\"/search\",\"response_max\":1048576,\"retry\":"
    "{\"coefficient_pct\":200,\"initial_ms\":200,\"jitter_pct\":10,\"max_attempts\":2,"
    "\"max_ms\":10000},\"timeout_ms\":5000},"
    "\"w\":{\"kind\":\"wait\",\"next\":\"done2\",\"on_timeout\":\"continue\","
    "\"signal\":\"approval\",\"timeout_ms\":86400000},"
    "\"x\":{\"kind\":\"transform\",\"max_tokens\":10,\"op\":\"truncate\",\"retry\":"
    "{\"coefficient_pct\":200,\"initial_ms\":500,\"jitter_pct\":10,\"max_attempts\":1,"
    "\"max_ms\":10000},\"text\":\"{{input.text}}\",\"timeout_ms\":60000},"
    "\"y\":{\"kind\":\"model\",\"model\":\"c1\",\"prompt\":\"hi\",\"retry\":"
    "{\"coefficient_pct\":200,\"initial_ms\":500,\"jitter_pct\":10,\"max_attempts\":3,"
    "\"max_ms\":10000},\"timeout_ms\":60000}},"
    "\"stream_step\":\"a\",\"timeout_ms\":3600000}";

static void
valid_workflow_gives_the_canonical_definition(void **state)
{
	struct aif_config *cfg;
	const struct aif_workflow *w;

	(void)state;
	cfg = load_ok(BASE "workflows:\n  - name: rag\n    description: RAG\n"
	    "    kinds: [chat, completion]\n    steps:\n" VALID_STEPS);
	assert_int_equal(cfg->nworkflows, 1);
	assert_non_null(w = aif_cfg_workflow(cfg, "rag"));
	assert_null(aif_cfg_workflow(cfg, "m1"));
	assert_string_equal(w->name, "rag");
	assert_string_equal(w->description, "RAG");
	assert_int_equal(w->kinds, AIF_KIND_CHAT | AIF_KIND_COMPLETION);
	assert_int_equal(w->line, 20);
	assert_int_equal(w->column, 5);
	assert_string_equal(w->def_text, valid_def);
	assert_int_equal(strlen(w->hash), 64);
	assert_int_equal(strspn(w->hash, "0123456789abcdef"), 64);
	assert_string_equal(json_string_value(json_object_get(w->def, "stream_step")), "a");
	aif_cfg_free(cfg);
}

static void
kinds_default_to_chat_and_start_to_the_first_step(void **state)
{
	struct aif_config *cfg;

	(void)state;
	cfg = load_ok(WF_HEAD DONE);
	assert_int_equal(cfg->workflows[0].kinds, AIF_KIND_CHAT);
	assert_null(cfg->workflows[0].description);
	assert_string_equal(cfg->workflows[0].def_text,
	    "{\"name\":\"w\",\"order\":[\"done\"],\"start\":\"done\",\"steps\":{\"done\":"
	    "{\"kind\":\"final\",\"output\":\"ok\"}},\"timeout_ms\":3600000}");
	aif_cfg_free(cfg);
}

static void
hash_ignores_comments_and_layout_but_not_values(void **state)
{
	struct aif_config *a, *b, *c;

	(void)state;
	a = load_ok(WF_HEAD VALID_STEPS);
	b = load_ok(BASE "# comment\nworkflows:\n\n  - name: w   # the name\n"
	    "    steps:\n" VALID_STEPS "# trailing\n");
	c = load_ok(BASE "workflows:\n  - name: w\n    timeout: 2h\n    steps:\n"
	    VALID_STEPS);
	assert_string_equal(a->workflows[0].hash, b->workflows[0].hash);
	assert_string_equal(a->workflows[0].def_text, b->workflows[0].def_text);
	assert_string_not_equal(a->workflows[0].hash, c->workflows[0].hash);
	aif_cfg_free(a);
	aif_cfg_free(b);
	aif_cfg_free(c);
	a = load_ok(WF_HEAD DONE);
	b = load_ok(BASE "workflows:\n  - name: w\n    steps:\n      - name: done\n"
	    "        kind: final\n        output: ok2\n");
	assert_string_not_equal(a->workflows[0].hash, b->workflows[0].hash);
	aif_cfg_free(a);
	aif_cfg_free(b);
}

static void
config_without_workflows_has_none(void **state)
{
	struct aif_config *cfg;

	(void)state;
	cfg = load_ok(BASE);
	assert_int_equal(cfg->nworkflows, 0);
	assert_null(cfg->workflows);
	assert_null(aif_cfg_workflow(cfg, "w"));
	aif_cfg_free(cfg);
	assert_int_equal(aif_cfg_load("../../config/aif.yaml", &cfg, errbuf,
	    sizeof(errbuf)), AIF_OK);
	aif_cfg_free(cfg);
}

static void
stream_step_needs_a_model_step_leading_to_the_final(void **state)
{
	struct aif_config *cfg;

	(void)state;
	cfg = load_ok(WF_HEAD
	    "      - name: a\n        kind: model\n        model: m1\n"
	    "        prompt: hi\n        next: t\n"
	    "      - name: t\n        kind: transform\n        op: format\n"
	    "        template: x\n        next: done\n"
	    "      - name: done\n        kind: final\n        from: a\n");
	assert_null(json_object_get(cfg->workflows[0].def, "stream_step"));
	aif_cfg_free(cfg);
}

/* ---- errors ------------------------------------------------------------------------ */

static void
unknown_step_kind_is_reported_at_the_kind(void **state)
{
	(void)state;
	expect_line(WF_HEAD "      - name: s\n        kind: foo\n" DONE,
	    "t.yaml:23:15: workflows[0].steps[0].kind: unknown step kind 'foo' (model, "
	    "http, transform, branch, parallel, wait, final)");
}

static void
unknown_model_is_reported_at_the_model(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: a\n        kind: model\n        model: nope\n"
	    "        prompt: hi\n        next: done\n" DONE,
	    "t.yaml:24:16: workflows[0].steps[0].model: unknown model 'nope' (not in "
	    "models[])");
}

static void
model_must_serve_the_kind_of_its_input(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: a\n        kind: model\n        model: c1\n"
	    "        messages: [{role: user, content: hi}]\n        next: done\n" DONE,
	    "t.yaml:24:16: workflows[0].steps[0].model: model 'c1' does not serve chat "
	    "completion (it has messages)");
}

static void
unknown_next_step_is_reported_at_the_value(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: a\n        kind: transform\n"
	    "        op: format\n        template: x\n        next: nowhere\n" DONE,
	    "t.yaml:26:15: workflows[0].steps[0].next: unknown step 'nowhere'\n"
	    "t.yaml:27:15: workflows[0].steps[1].name: step 'done' is not reachable from "
	    "start step 'a'\n"
	    "t.yaml:22:7: workflows[0].steps: no final step is reachable from start step 'a'");
}

static void
unknown_start_is_reported_at_the_value(void **state)
{
	(void)state;
	expect_error(BASE "workflows:\n  - name: w\n    start: zz\n    steps:\n" DONE,
	    "t.yaml:21:12: workflows[0].start: unknown step 'zz'");
}

static void
cycle_is_reported_where_it_closes(void **state)
{
	(void)state;
	expect_error(WF_HEAD
	    "      - name: a\n        kind: wait\n        for: 1s\n        next: b\n"
	    "      - name: b\n        kind: branch\n"
	    "        cases: [{when: {path: input.x, exists: true}, next: a}]\n"
	    "        default: done\n" DONE,
	    "t.yaml:28:61: workflows[0].steps[1].cases[0].next: 'a' closes a cycle: "
	    "a -> b -> a");
}

static void
unreachable_step_is_reported_at_its_name(void **state)
{
	(void)state;
	expect_error(WF_HEAD DONE "      - name: lost\n        kind: final\n"
	    "        output: x\n",
	    "t.yaml:25:15: workflows[0].steps[1].name: step 'lost' is not reachable from "
	    "start step 'done'");
}

/* a -> branch -> (b | c) -> d: d may read a, not b. */
#define DIAMOND(ref)							\
	WF_HEAD								\
	"      - name: a\n        kind: transform\n        op: format\n"	\
	"        template: x\n        next: br\n"				\
	"      - name: br\n        kind: branch\n"			\
	"        cases: [{when: {path: steps.a.output.text, equals: x}, next: b}]\n" \
	"        default: c\n"						\
	"      - name: b\n        kind: transform\n        op: format\n"	\
	"        template: x\n        next: d\n"				\
	"      - name: c\n        kind: transform\n        op: format\n"	\
	"        template: x\n        next: d\n"				\
	"      - name: d\n        kind: transform\n        op: format\n"	\
	"        template: \"" ref "\"\n        next: done\n" DONE

static void
template_may_read_only_steps_run_on_every_path(void **state)
{
	struct aif_config *cfg;

	(void)state;
	cfg = load_ok(DIAMOND("{{steps.a.output.text}} {{steps.br.output.taken}}"));
	aif_cfg_free(cfg);
	expect_error(DIAMOND("{{ steps.b.output.text }}"),
	    "t.yaml:44:19: workflows[0].steps[4].template: steps.b is not run on every "
	    "path to step 'd'");
}

static void
template_naming_no_step_is_an_error(void **state)
{
	(void)state;
	expect_error(DIAMOND("{{steps.zz.output}}"),
	    "t.yaml:44:19: workflows[0].steps[4].template: unknown step 'zz'");
}

static void
step_reads_its_own_output_only_in_its_compensation(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: a\n        kind: transform\n"
	    "        op: format\n        template: \"{{steps.a.output.text}}\"\n"
	    "        next: done\n" DONE,
	    "t.yaml:25:19: workflows[0].steps[0].template: steps.a is not run on every "
	    "path to step 'a'");
}

/* p runs x and y in parallel, then n reads x. */
#define PARALLEL(wait)							\
	WF_HEAD								\
	"      - name: p\n        kind: parallel\n        branches: [x, y]\n" \
	"        wait: " wait "\n        next: n\n"			\
	"      - name: x\n        kind: transform\n        op: format\n"	\
	"        template: \"{{input.text}}\"\n"				\
	"      - name: y\n        kind: transform\n        op: format\n"	\
	"        template: x\n"						\
	"      - name: n\n        kind: transform\n        op: format\n"	\
	"        template: \"{{steps.x.output.text}}\"\n        next: done\n" DONE

static void
parallel_members_run_before_next_only_when_waiting_for_all(void **state)
{
	struct aif_config *cfg;

	(void)state;
	cfg = load_ok(PARALLEL("all"));
	aif_cfg_free(cfg);
	expect_error(PARALLEL("first"),
	    "t.yaml:38:19: workflows[0].steps[3].template: steps.x is not run on every "
	    "path to step 'n'");
}

static void
parallel_member_has_no_next_and_one_parent(void **state)
{
	(void)state;
	expect_error(WF_HEAD
	    "      - name: p\n        kind: parallel\n        branches: [x, y]\n"
	    "        next: done\n"
	    "      - name: x\n        kind: transform\n        op: format\n"
	    "        template: a\n        next: done\n"
	    "      - name: y\n        kind: final\n        output: b\n" DONE,
	    "t.yaml:30:15: workflows[0].steps[1].next: step 'x' is a branch of parallel "
	    "step 'p' and has no next\n"
	    "t.yaml:24:23: workflows[0].steps[0].branches[1]: step 'y' is a final step "
	    "(the branches of a parallel step are model, http or transform steps)");
}

static void
bad_regex_is_reported_at_the_pattern(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: br\n        kind: branch\n"
	    "        cases: [{when: {path: input.text, matches: \"a(b\"}, next: done}]\n"
	    "        default: done\n" DONE,
	    "t.yaml:24:52: workflows[0].steps[0].cases[0].when.matches: bad regex: "
	    "missing closing parenthesis at offset 3");
}

static void
condition_has_exactly_one_form(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: br\n        kind: branch\n"
	    "        cases: [{when: {path: input.text, equals: a, exists: true}, "
	    "next: done}]\n        default: done\n" DONE,
	    "t.yaml:24:24: workflows[0].steps[0].cases[0].when: a condition is {path, and "
	    "exactly one of equals, not_equals, contains, matches, gt, ge, lt, le, exists},"
	    " or {all}, {any}, {not}");
}

static void
wait_needs_exactly_one_of_for_and_signal(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: w\n        kind: wait\n        for: 5s\n"
	    "        signal: go\n        next: done\n" DONE,
	    "t.yaml:24:14: workflows[0].steps[0]: exactly one of 'for' or 'signal' is "
	    "required");
	expect_error(WF_HEAD "      - name: w\n        kind: wait\n        next: done\n" DONE,
	    "t.yaml:22:9: workflows[0].steps[0]: exactly one of 'for' or 'signal' is "
	    "required");
}

static void
final_needs_exactly_one_of_from_and_output(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: done\n        kind: final\n",
	    "t.yaml:22:9: workflows[0].steps[0]: exactly one of 'from' or 'output' is "
	    "required");
}

static void
final_from_must_have_run(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: br\n        kind: branch\n"
	    "        cases: [{when: {path: input.a, exists: true}, next: a}]\n"
	    "        default: done\n"
	    "      - name: a\n        kind: transform\n        op: format\n"
	    "        template: x\n        next: done\n"
	    "      - name: done\n        kind: final\n        from: a\n",
	    "t.yaml:33:15: workflows[0].steps[2].from: step 'a' is not run on every path "
	    "to step 'done'");
}

static void
workflow_name_must_not_be_a_model_id(void **state)
{
	(void)state;
	expect_error(BASE "workflows:\n  - name: m1\n    steps:\n" DONE,
	    "t.yaml:20:11: workflows[0].name: 'm1' is a model id or alias: a workflow needs "
	    "a name of its own");
}

static void
duplicate_names_are_errors(void **state)
{
	(void)state;
	expect_error(WF_HEAD DONE DONE,
	    "t.yaml:25:15: workflows[0].steps[1].name: duplicate step name 'done' (first "
	    "at line 22)");
	expect_error(WF_HEAD DONE "  - name: w\n    steps:\n" DONE,
	    "t.yaml:25:11: workflows[1].name: duplicate workflow name 'w' (first at line "
	    "20)");
}

/* `aifctl config check` reads the secret header files of http steps and of their
 * compensations: a missing one is named with its step, header and path. */
static void
secret_header_files_are_checked(void **state)
{
	struct aif_config *cfg;

	(void)state;
	cfg = load_ok(WF_HEAD "      - name: h\n        kind: http\n"
	    "        base_url: http://h.example\n"
	    "        headers: {Authorization: {file: /nonexistent/aif-key, prefix: \"Bearer \"}}\n"
	    "        compensation:\n          base_url: http://h.example\n"
	    "          headers: {X-Key: {file: /nonexistent/aif-undo}}\n"
	    "        next: done\n" DONE);
	/* the servers read them when a step calls: only the operator's check reads all */
	assert_int_equal(aif_cfg_load_secrets(cfg, 0, errbuf, sizeof(errbuf)), AIF_OK);
	assert_int_equal(aif_cfg_load_secrets(cfg, AIF_CFG_SECRETS_ALL, errbuf,
	    sizeof(errbuf)), AIF_CONFIG);
	assert_non_null(strstr(errbuf,
	    "workflows[0].steps.h.headers.Authorization: /nonexistent/aif-key"));
	assert_non_null(strstr(errbuf,
	    "workflows[0].steps.h.compensation.headers.X-Key: /nonexistent/aif-undo"));
	aif_cfg_free(cfg);
}

/* A kind that is no scalar is reported as such (it used to be read from whatever the
 * name left in a buffer: an out-of-bounds index, found by fuzz_config). */
static void
kind_that_is_a_mapping_is_an_error(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(WF_HEAD "      - name: ab\n        kind: {listen: x}\n"
	    "        next: done\n" DONE, &cfg), AIF_CONFIG);
	assert_null(cfg);
	assert_non_null(strstr(errbuf, "t.yaml:23:15: workflows[0].steps[0].kind: "));
}

static void
gateway_headers_are_refused(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: h\n        kind: http\n"
	    "        base_url: http://h.example\n        headers: {idempotency-key: x}\n"
	    "        next: done\n" DONE,
	    "t.yaml:25:19: workflows[0].steps[0].headers: header 'idempotency-key' is set by "
	    "the gateway itself");
}

static void
template_syntax_errors_are_reported(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: done\n        kind: final\n"
	    "        output: {a: \"x {{input.text\"}\n",
	    "t.yaml:24:21: workflows[0].steps[0].output.a: unterminated '{{' at byte 2");
	expect_error(WF_HEAD "      - name: done\n        kind: final\n"
	    "        output: \"{{env.HOME}}\"\n",
	    "t.yaml:24:17: workflows[0].steps[0].output: bad path 'env.HOME' (expected "
	    "input..., steps.<name>.output..., run.id or run.workflow)");
}

static void
unknown_key_and_missing_next_are_reported(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: a\n        kind: transform\n        op: format\n"
	    "        template: x\n        colour: red\n" DONE,
	    "t.yaml:26:9: workflows[0].steps[0]: unknown key 'colour'\n"
	    "t.yaml:22:9: workflows[0].steps[0]: missing required key 'next'\n"
	    "t.yaml:27:15: workflows[0].steps[1].name: step 'done' is not reachable from "
	    "start step 'a'\n"
	    "t.yaml:22:7: workflows[0].steps: no final step is reachable from start step 'a'");
}

static void
base_url_is_a_fixed_origin(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: h\n        kind: http\n"
	    "        base_url: http://h.example/x?y=1\n        next: done\n" DONE,
	    "t.yaml:24:19: workflows[0].steps[0].base_url: must be a literal URL without "
	    "userinfo, query, fragment or template");
}

static void
retry_uses_the_model_retry_rules(void **state)
{
	(void)state;
	expect_error(WF_HEAD "      - name: h\n        kind: http\n"
	    "        base_url: http://h.example\n        retry: {backoff_coefficient: 20}\n"
	    "        next: done\n" DONE,
	    "t.yaml:25:38: workflows[0].steps[0].retry.backoff_coefficient: expected a "
	    "number from 1.0 to 10.0 (at most 2 decimals), got '20'");
}

/* A YAML alias may name its own ancestor: the walk stops at 64 levels (it recursed
 * until the stack overflowed). */
static void
self_referencing_alias_is_bounded(void **state)
{
	struct aif_config *cfg = NULL;

	(void)state;
	assert_int_equal(load(WF_HEAD "      - &a {name: a, kind: final, output: {x: *a}}\n",
	    &cfg), AIF_CONFIG);
	assert_null(cfg);
	assert_true(strncmp(errbuf, "t.yaml:22:19: workflows[0].steps[0].output.x.output.x",
	    53) == 0);
	assert_non_null(strstr(errbuf, ": nested deeper than 64 levels\n"));
	assert_int_equal(load(WF_HEAD "      - name: b\n        kind: branch\n"
	    "        cases: [{when: &c {not: *c}, next: done}]\n        default: done\n"
	    DONE, &cfg), AIF_CONFIG);
	assert_non_null(strstr(errbuf, "workflows[0].steps[0].cases[0].when.not.not.not"));
	assert_non_null(strstr(errbuf, ": nested deeper than 64 levels"));
}

/* Builds a workflow of n steps s0 -> s1 -> ... -> final. */
static char *
chain(int n)
{
	size_t cap = (size_t)n * 128 + sizeof(WF_HEAD) + 256, len;
	char *y = malloc(cap);

	assert_non_null(y);
	len = (size_t)snprintf(y, cap, "%s", WF_HEAD);
	for (int i = 0; i < n - 1; i++)
		len += (size_t)snprintf(y + len, cap - len, "      - name: s%d\n"
		    "        kind: wait\n        for: 1s\n        next: s%d\n", i, i + 1);
	(void)snprintf(y + len, cap - len, "      - name: s%d\n        kind: final\n"
	    "        output: x\n", n - 1);
	return y;
}

static void
limits_are_enforced(void **state)
{
	struct aif_config *cfg;
	char *y;
	size_t len, cap = 65 * 80 + sizeof(BASE) + 64;

	(void)state;
	y = chain(64);
	cfg = load_ok(y);
	aif_cfg_free(cfg);
	free(y);
	y = chain(65);
	expect_error(y, "t.yaml:22:7: workflows[0].steps: expected a sequence of 1 to 64 "
	    "steps");
	free(y);
	assert_non_null(y = malloc(cap));
	len = (size_t)snprintf(y, cap, "%s", BASE "workflows:\n");
	for (int i = 0; i < 65; i++)
		len += (size_t)snprintf(y + len, cap - len, "  - name: w%d\n    steps:\n"
		    "      - {name: f, kind: final, output: x}\n", i);
	expect_error(y, "t.yaml:20:3: workflows: expected a sequence of at most 64 "
	    "workflows");
	free(y);
	assert_non_null(y = malloc(4096));
	len = (size_t)snprintf(y, 4096, "%s", WF_HEAD "      - name: b\n        kind: branch\n"
	    "        default: done\n        cases:\n");
	for (int i = 0; i < 33; i++)
		len += (size_t)snprintf(y + len, 4096 - len, "          - {when: {path: input,"
		    " exists: true}, next: done}\n");
	(void)snprintf(y + len, 4096 - len, "%s", DONE);
	expect_error(y, "t.yaml:26:11: workflows[0].steps[0].cases: expected a sequence of 1 "
	    "to 32 cases");
	free(y);
	expect_error(WF_HEAD "      - name: p\n        kind: parallel\n"
	    "        branches: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q]\n"
	    "        next: done\n" DONE,
	    "t.yaml:24:19: workflows[0].steps[0].branches: expected a sequence of 2 to 16 "
	    "step names");
	expect_error(WF_HEAD "      - name: p\n        kind: parallel\n"
	    "        branches: [a]\n        next: done\n" DONE,
	    "t.yaml:24:19: workflows[0].steps[0].branches: expected a sequence of 2 to 16 "
	    "step names");
}

/* ---- wfexpr --------------------------------------------------------------------------- */

static json_t *
root(void)
{
	json_t *r = json_loads("{\"input\":{\"text\":\"a b/c\",\"n\":3,\"messages\":"
	    "[{\"role\":\"user\",\"content\":\"hi\"}]},\"steps\":{\"s\":{\"output\":"
	    "{\"body\":{\"items\":[{\"title\":\"T0\"},{\"title\":\"T1\"}],\"ok\":true,"
	    "\"tags\":[\"x\",\"y\"],\"score\":0.5}}}},\"run\":{\"id\":\"job_1\","
	    "\"workflow\":\"w\"}}", 0, NULL);

	assert_non_null(r);
	return r;
}

static void
get_follows_keys_and_indexes(void **state)
{
	json_t *r = root();

	(void)state;
	assert_string_equal(json_string_value(aif_wfx_get(r,
	    "steps.s.output.body.items[1].title")), "T1");
	assert_string_equal(json_string_value(aif_wfx_get(r, "input.messages[0].content")),
	    "hi");
	assert_string_equal(json_string_value(aif_wfx_get(r, "run.id")), "job_1");
	assert_null(aif_wfx_get(r, "steps.s.output.body.items[2]"));
	assert_null(aif_wfx_get(r, "steps.s.output.body.items.title"));
	assert_null(aif_wfx_get(r, "input.text[0]"));
	assert_null(aif_wfx_get(r, "input..text"));
	assert_null(aif_wfx_get(r, "input.te xt"));
	assert_string_equal(json_string_value(aif_wfx_lookup(
	    aif_wfx_get(r, "steps.s.output.body"), "items[0].title")), "T0");
	assert_string_equal(json_string_value(aif_wfx_lookup(
	    aif_wfx_get(r, "steps.s.output.body.tags"), "[1]")), "y");
	json_decref(r);
}

static void
path_check_knows_the_roots_and_bounds(void **state)
{
	char why[128], big[600];

	(void)state;
	assert_int_equal(aif_wfx_path_check("input", why, sizeof(why)), 0);
	assert_int_equal(aif_wfx_path_check("steps.a.output.b[0]", why, sizeof(why)), 0);
	assert_int_equal(aif_wfx_path_check("run.workflow", why, sizeof(why)), 0);
	assert_int_equal(aif_wfx_path_check("steps.a", why, sizeof(why)), -1);
	assert_string_equal(why, "bad path 'steps.a' (expected steps.<name>.output...)");
	assert_int_equal(aif_wfx_path_check("run.other", why, sizeof(why)), -1);
	assert_int_equal(aif_wfx_path_check("input[x]", why, sizeof(why)), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "input.", 6);
	assert_int_equal(aif_wfx_path_check(big, why, sizeof(why)), -1);
	assert_string_equal(why, "path longer than 512 bytes");
	assert_int_equal(aif_wfx_path_check("input.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a."
	    "a.a.a.a.a.a.a.a.a.a.a.a", why, sizeof(why)), -1);
	assert_string_equal(why, "path of more than 32 segments");
}

static void
collect(void *ctx, const char *path)
{
	char *acc = ctx;	/* 256 bytes */
	size_t n = strlen(acc);

	snprintf(acc + n, 256 - n, "%s;", path);
}

static void
template_refs_lists_every_path(void **state)
{
	char acc[256] = "", why[128];
	json_t *t = json_loads("{\"a\":[\"{{input.x}}\",{\"b\":\"{{ run.id }}\"}],\"n\":1}",
	    0, NULL);

	(void)state;
	assert_int_equal(aif_wfx_template_refs("a {{input.text}} b {{  steps.x.output }}}",
	    collect, acc, why, sizeof(why)), 0);
	assert_string_equal(acc, "input.text;steps.x.output;");
	acc[0] = '\0';
	assert_int_equal(aif_wfx_json_refs(t, collect, acc, why, sizeof(why)), 0);
	assert_string_equal(acc, "input.x;run.id;");
	assert_int_equal(aif_wfx_template_refs("{{input}} {{input", collect, acc, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "unterminated '{{' at byte 10");
	json_decref(t);
}

static void
render_text_inserts_strings_raw_and_others_as_json(void **state)
{
	json_t *r = root();
	char why[64], *s;

	(void)state;
	s = aif_wfx_render("t={{input.text}} n={{ input.n }} ok={{steps.s.output.body.ok}} "
	    "tags={{steps.s.output.body.tags}} none=[{{input.none}}] x={{steps.s.output."
	    "body.score}}", r, AIF_WFX_TEXT, 1024, why, sizeof(why));
	assert_non_null(s);
	assert_string_equal(s, "t=a b/c n=3 ok=true tags=[\"x\",\"y\"] none=[] x=0.5");
	free(s);
	s = aif_wfx_render("/search/{{input.text}}?q={{steps.s.output.body.tags}}", r,
	    AIF_WFX_URL, 1024, why, sizeof(why));
	assert_string_equal(s, "/search/a%20b%2Fc?q=%5B%22x%22%2C%22y%22%5D");
	free(s);
	assert_null(aif_wfx_render("{{input.text}}{{input.text}}", r, AIF_WFX_TEXT, 9, why,
	    sizeof(why)));
	assert_string_equal(why, "too large");
	s = aif_wfx_render("{{input.text}}{{input.text}}", r, AIF_WFX_TEXT, 10, why,
	    sizeof(why));
	assert_string_equal(s, "a b/ca b/c");
	free(s);
	s = aif_wfx_render("", r, AIF_WFX_TEXT, 0, why, sizeof(why));
	assert_string_equal(s, "");
	free(s);
	json_decref(r);
}

static void
render_json_replaces_whole_values(void **state)
{
	json_t *r = root(), *t, *out;
	char why[64], *txt;

	(void)state;
	t = json_loads("{\"body\":\" {{steps.s.output.body.items}} \",\"q\":\"q={{input.n}}\","
	    "\"gone\":\"{{input.none}}\",\"n\":[1,true,null]}", 0, NULL);
	out = aif_wfx_render_json(t, r, 4096, why, sizeof(why));
	assert_non_null(out);
	txt = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(txt, "{\"body\":[{\"title\":\"T0\"},{\"title\":\"T1\"}],"
	    "\"gone\":null,\"n\":[1,true,null],\"q\":\"q=3\"}");
	free(txt);
	json_decref(out);
	assert_null(aif_wfx_render_json(t, r, 20, why, sizeof(why)));
	assert_string_equal(why, "too large");
	json_decref(t);
	json_decref(r);
}

static int
cond_of(const char *c, const json_t *r)
{
	char why[128];
	json_t *j = json_loads(c, 0, NULL);
	int rc;

	assert_non_null(j);
	rc = aif_wfx_cond(j, r, why, sizeof(why));
	json_decref(j);
	return rc;
}

static void
conditions_evaluate_every_op(void **state)
{
	json_t *r = root();

	(void)state;
	assert_int_equal(cond_of("{\"path\":\"input.n\",\"op\":\"equals\",\"value\":3}", r), 1);
	assert_int_equal(cond_of("{\"path\":\"input.n\",\"op\":\"equals\",\"value\":3.0}", r),
	    1);
	assert_int_equal(cond_of("{\"path\":\"input.n\",\"op\":\"equals\",\"value\":\"3\"}",
	    r), 0);
	assert_int_equal(cond_of("{\"path\":\"input.n\",\"op\":\"not_equals\",\"value\":4}",
	    r), 1);
	assert_int_equal(cond_of("{\"path\":\"input.text\",\"op\":\"contains\",\"value\":"
	    "\"b/\"}", r), 1);
	assert_int_equal(cond_of("{\"path\":\"steps.s.output.body.tags\",\"op\":\"contains\","
	    "\"value\":\"y\"}", r), 1);
	assert_int_equal(cond_of("{\"path\":\"steps.s.output.body.tags\",\"op\":\"contains\","
	    "\"value\":\"z\"}", r), 0);
	assert_int_equal(cond_of("{\"path\":\"input.text\",\"op\":\"matches\",\"value\":"
	    "\"^a\\\\s+b\"}", r), 1);
	assert_int_equal(cond_of("{\"path\":\"input.text\",\"op\":\"matches\",\"value\":"
	    "\"^b\"}", r), 0);
	assert_int_equal(cond_of("{\"path\":\"input.text\",\"op\":\"matches\",\"value\":"
	    "\"(\"}", r), -1);
	assert_int_equal(cond_of("{\"path\":\"input.n\",\"op\":\"gt\",\"value\":2}", r), 1);
	assert_int_equal(cond_of("{\"path\":\"input.n\",\"op\":\"gt\",\"value\":3}", r), 0);
	assert_int_equal(cond_of("{\"path\":\"input.n\",\"op\":\"ge\",\"value\":3}", r), 1);
	assert_int_equal(cond_of("{\"path\":\"input.n\",\"op\":\"lt\",\"value\":3}", r), 0);
	assert_int_equal(cond_of("{\"path\":\"input.n\",\"op\":\"le\",\"value\":3}", r), 1);
	assert_int_equal(cond_of("{\"path\":\"input.text\",\"op\":\"gt\",\"value\":1}", r), 0);
	assert_int_equal(cond_of("{\"path\":\"input.n\",\"op\":\"exists\",\"value\":true}",
	    r), 1);
	assert_int_equal(cond_of("{\"path\":\"input.n\",\"op\":\"exists\",\"value\":false}",
	    r), 0);
	assert_int_equal(cond_of("{\"all\":[{\"path\":\"input.n\",\"op\":\"equals\","
	    "\"value\":3},{\"path\":\"run.id\",\"op\":\"equals\",\"value\":\"job_1\"}]}", r),
	    1);
	assert_int_equal(cond_of("{\"all\":[{\"path\":\"input.n\",\"op\":\"equals\","
	    "\"value\":3},{\"path\":\"run.id\",\"op\":\"equals\",\"value\":\"x\"}]}", r), 0);
	assert_int_equal(cond_of("{\"any\":[{\"path\":\"input.n\",\"op\":\"equals\","
	    "\"value\":4},{\"path\":\"run.id\",\"op\":\"equals\",\"value\":\"job_1\"}]}", r),
	    1);
	assert_int_equal(cond_of("{\"any\":[{\"path\":\"input.n\",\"op\":\"equals\","
	    "\"value\":4}]}", r), 0);
	assert_int_equal(cond_of("{\"not\":{\"path\":\"input.n\",\"op\":\"equals\","
	    "\"value\":4}}", r), 1);
	json_decref(r);
}

static void
missing_path_is_false_but_for_not_equals_and_not_exists(void **state)
{
	static const char *ops[] = { "equals", "contains", "matches", "gt", "ge", "lt",
	    "le" };
	json_t *r = root();
	char c[128];

	(void)state;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		(void)snprintf(c, sizeof(c), "{\"path\":\"input.none\",\"op\":\"%s\","
		    "\"value\":%s}", ops[i], strcmp(ops[i], "matches") == 0 ||
		    strcmp(ops[i], "contains") == 0 ? "\"x\"" : "1");
		assert_int_equal(cond_of(c, r), 0);
	}
	assert_int_equal(cond_of("{\"path\":\"input.none\",\"op\":\"not_equals\","
	    "\"value\":1}", r), 1);
	assert_int_equal(cond_of("{\"path\":\"input.none\",\"op\":\"exists\","
	    "\"value\":false}", r), 1);
	assert_int_equal(cond_of("{\"path\":\"input.none\",\"op\":\"exists\","
	    "\"value\":true}", r), 0);
	json_decref(r);
}

static void
truncate_never_cuts_a_utf8_sequence(void **state)
{
	const char *s = "abcd\xc3\xa9\xc3\xa9xyz";	/* "abcdééxyz": 11 bytes */

	(void)state;
	assert_int_equal(aif_wfx_truncate_len(s, 11, 100), 11);
	assert_int_equal(aif_wfx_truncate_len(s, 11, 1), 4);
	assert_int_equal(aif_wfx_truncate_len(s, 11, 2), 8);
	assert_int_equal(aif_wfx_truncate_len("abcde\xc3\xa9", 7, 1), 4);
	assert_int_equal(aif_wfx_truncate_len("a\xe2\x82\xac" "bcdef", 9, 1), 4);
	assert_int_equal(aif_wfx_truncate_len("\xe2\x82\xac\xe2\x82\xac", 6, 1), 3);
	assert_int_equal(aif_wfx_truncate_len(s, 11, 0), 0);
}

static void
input_text_of_chat_and_completion(void **state)
{
	static const struct { const char *req, *want; } cases[] = {
		{ "{\"messages\":[{\"role\":\"user\",\"content\":\"first\"},{\"role\":"
		  "\"assistant\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"last\"},"
		  "{\"role\":\"assistant\",\"content\":\"b\"}]}", "last" },
		{ "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
		  "\"one\"},{\"type\":\"image_url\",\"image_url\":{}},{\"type\":\"text\","
		  "\"text\":\"two\"}]}]}", "one\ntwo" },
		{ "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"}]}", "" },
		{ "{\"prompt\":\"p\"}", "p" },
		{ "{\"prompt\":[\"p1\",\"p2\"]}", "p1" },
		{ "{\"model\":\"x\"}", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = json_loads(cases[i].req, 0, NULL);
		char *t = aif_wfx_input_text(j);
		assert_non_null(t);
		assert_string_equal(t, cases[i].want);
		free(t);
		json_decref(j);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_workflow_gives_the_canonical_definition),
		cmocka_unit_test(kinds_default_to_chat_and_start_to_the_first_step),
		cmocka_unit_test(hash_ignores_comments_and_layout_but_not_values),
		cmocka_unit_test(config_without_workflows_has_none),
		cmocka_unit_test(stream_step_needs_a_model_step_leading_to_the_final),
		cmocka_unit_test(unknown_step_kind_is_reported_at_the_kind),
		cmocka_unit_test(unknown_model_is_reported_at_the_model),
		cmocka_unit_test(model_must_serve_the_kind_of_its_input),
		cmocka_unit_test(unknown_next_step_is_reported_at_the_value),
		cmocka_unit_test(unknown_start_is_reported_at_the_value),
		cmocka_unit_test(cycle_is_reported_where_it_closes),
		cmocka_unit_test(unreachable_step_is_reported_at_its_name),
		cmocka_unit_test(template_may_read_only_steps_run_on_every_path),
		cmocka_unit_test(template_naming_no_step_is_an_error),
		cmocka_unit_test(step_reads_its_own_output_only_in_its_compensation),
		cmocka_unit_test(parallel_members_run_before_next_only_when_waiting_for_all),
		cmocka_unit_test(parallel_member_has_no_next_and_one_parent),
		cmocka_unit_test(bad_regex_is_reported_at_the_pattern),
		cmocka_unit_test(condition_has_exactly_one_form),
		cmocka_unit_test(wait_needs_exactly_one_of_for_and_signal),
		cmocka_unit_test(final_needs_exactly_one_of_from_and_output),
		cmocka_unit_test(final_from_must_have_run),
		cmocka_unit_test(workflow_name_must_not_be_a_model_id),
		cmocka_unit_test(duplicate_names_are_errors),
		cmocka_unit_test(gateway_headers_are_refused),
		cmocka_unit_test(kind_that_is_a_mapping_is_an_error),
		cmocka_unit_test(secret_header_files_are_checked),
		cmocka_unit_test(template_syntax_errors_are_reported),
		cmocka_unit_test(unknown_key_and_missing_next_are_reported),
		cmocka_unit_test(base_url_is_a_fixed_origin),
		cmocka_unit_test(retry_uses_the_model_retry_rules),
		cmocka_unit_test(limits_are_enforced),
		cmocka_unit_test(self_referencing_alias_is_bounded),
		cmocka_unit_test(get_follows_keys_and_indexes),
		cmocka_unit_test(path_check_knows_the_roots_and_bounds),
		cmocka_unit_test(template_refs_lists_every_path),
		cmocka_unit_test(render_text_inserts_strings_raw_and_others_as_json),
		cmocka_unit_test(render_json_replaces_whole_values),
		cmocka_unit_test(conditions_evaluate_every_op),
		cmocka_unit_test(missing_path_is_false_but_for_not_equals_and_not_exists),
		cmocka_unit_test(truncate_never_cuts_a_utf8_sequence),
		cmocka_unit_test(input_text_of_chat_and_completion),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
