/* adapter_fixtures.h -- what the engine adapter unit tests (test_adapter_openai.c,
 * test_adapter_tgi.c, test_adapter_triton.c) share: parsing a body with an adapter, the
 * row of an engine error table and its checks, and the stream fixture (stream state,
 * chunks out, error out) with its cmocka setup and teardown. Each test is its own
 * program, so everything here is static; include it after cmocka.h, jansson.h and
 * adapter.h. */
#ifndef AIF_TEST_ADAPTER_FIXTURES_H
#define AIF_TEST_ADAPTER_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs adapter a's parse on `body` for model m into *out (zeroed first). */
static inline void
adapter_parse(const struct aif_adapter *a, const struct aif_model *m, enum aif_kind kind,
    long status, const char *body, struct aif_engine_result *out)
{
	memset(out, 0, sizeof(*out));
	a->parse(m, kind, status, body, strlen(body), out);
}

/* ------------------------------------------------------------------ error cases */

/* One engine answer and the error the client must get for it. */
struct err_case {
	const char	*what;
	long		 status;
	const char	*body;
	enum aif_failure failure;
	int		 client_status;
	const char	*type;
	const char	*code;
	const char	*msg_has;	/* substring the client message must contain, or NULL */
	const char	*msg_lacks;	/* substring it must not (engine text), or NULL */
};

/* Asserts res is c's failure class, client status, type and code, with no response. */
static inline void
check_error_class(const struct err_case *c, const struct aif_engine_result *res)
{
	if (res->failure != c->failure || res->error.status != c->client_status ||
	    strcmp(res->error.type, c->type) != 0 || strcmp(res->error.code, c->code) != 0)
		fail_msg("%s: got failure %d status %d %s/%s, want %d %d %s/%s", c->what,
		    res->failure, res->error.status, res->error.type, res->error.code,
		    c->failure, c->client_status, c->type, c->code);
	assert_null(res->response);
}

/* Asserts res's message has c->msg_has and lacks c->msg_lacks (either may be NULL). */
static inline void
check_error_message(const struct err_case *c, const struct aif_engine_result *res)
{
	if (c->msg_has != NULL && strstr(res->error.message, c->msg_has) == NULL)
		fail_msg("%s: message \"%s\" lacks \"%s\"", c->what, res->error.message, c->msg_has);
	if (c->msg_lacks != NULL && strstr(res->error.message, c->msg_lacks) != NULL)
		fail_msg("%s: message \"%s\" has \"%s\"", c->what, res->error.message, c->msg_lacks);
}

static inline void
check_error(const struct err_case *c, const struct aif_engine_result *res)
{
	check_error_class(c, res);
	check_error_message(c, res);
}

/* ------------------------------------------------------------------ streaming */

#define STREAM_CREATED	1790000000	/* created preset with a stream id */

struct stream_fixture {
	struct aif_stream_state	 st;
	json_t			*chunks;
	struct aif_engine_result err;
};

/* cmocka setup. *state on entry is the cmocka prestate: NULL for a stream that takes
 * its id and created from the engine's chunks, or the id to preset (the job's, as the
 * worker does for engines without one; created is then STREAM_CREATED). */
static inline int
setup_stream(void **state)
{
	const char *id = *state;
	struct stream_fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->chunks = json_array()) == NULL) {
		free(f);
		return -1;
	}
	if (id != NULL) {
		snprintf(f->st.id, sizeof(f->st.id), "%s", id);
		f->st.created = STREAM_CREATED;
	}
	*state = f;
	return 0;
}

static inline int
teardown_stream(void **state)
{
	struct stream_fixture *f = *state;

	json_decref(f->chunks);
	aif_engine_result_clear(&f->err);
	free(f);
	return 0;
}

/* Feeds one event's data to adapter a's parse_event. */
static inline enum aif_failure
stream_event(const struct aif_adapter *a, const struct aif_model *m, enum aif_kind kind,
    struct stream_fixture *f, const char *data)
{
	return a->parse_event(m, kind, data, strlen(data), &f->st, f->chunks, &f->err);
}

/* A test of a stream whose id and created come from the engine, or are preset. */
#define STREAM_TEST(f)		cmocka_unit_test_setup_teardown(f, setup_stream, \
				    teardown_stream)
#define STREAM_TEST_ID(f, id)	cmocka_unit_test_prestate_setup_teardown(f, \
				    setup_stream, teardown_stream, (void *)(id))

#endif
