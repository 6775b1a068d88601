/* test_routing.c -- unit tests of workers/routing.c: replica choice (fewest outstanding
 * calls, avoiding the last failed replica), the shares of max_in_flight between
 * workers, the circuit breaker (consecutive failures open it, a success closes it, a
 * refused connection opens it at once), fallbacks when every replica is open, the wait
 * a retry should make, and health probes of a replica nobody listens on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "http.h"
#include "routing.h"

/* Port 9 (discard) on loopback: nothing listens there in the test environment. */
static const char yaml[] =
    "server: {listen: /tmp/aif-utest.sock, run_dir: /tmp}\n"
    "database: {socket: /tmp/none.sock, name: none}\n"
    "models:\n"
    "  - id: main\n"
    "    adapter: openai\n"
    "    circuit_failures: 2\n"
    "    circuit_open_ms: 60000\n"
    "    fallbacks: [spare]\n"
    "    replicas:\n"
    "      - {url: 'http://127.0.0.1:9/a', max_in_flight: 5}\n"
    "      - {url: 'http://127.0.0.1:9/b', max_in_flight: 2}\n"
    "  - id: spare\n"
    "    adapter: openai\n"
    "    circuit_failures: 1\n"
    "    circuit_open_ms: 60000\n"
    "    replicas:\n"
    "      - {url: 'http://127.0.0.1:9/s', max_in_flight: 1}\n"
    "roles:\n  - name: user\n";

static struct aif_config *cfg;
static struct routing *rt;

static int
setup(void **state)
{
	char err[2048];

	(void)state;
	if (aif_cfg_load_string("routing.yaml", yaml, strlen(yaml), &cfg, err,
	    sizeof(err)) != AIF_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	rt = routing_new(cfg);
	return rt == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	routing_free(rt);
	aif_cfg_free(cfg);
	return 0;
}

static void
picks_the_replica_with_fewest_calls(void **state)
{
	size_t mi, ri;

	(void)state;
	assert_int_equal(routing_pick(rt, 0, NULL, &mi, &ri), 0);
	assert_int_equal(mi, 0);
	assert_int_equal(ri, 0);
	routing_acquire(rt, 0, 0);
	assert_int_equal(routing_pick(rt, 0, NULL, &mi, &ri), 0);
	assert_int_equal(ri, 1);
	routing_acquire(rt, 0, 1);
	routing_acquire(rt, 0, 1);	/* b is full (2) */
	assert_int_equal(routing_pick(rt, 0, NULL, &mi, &ri), 0);
	assert_int_equal(ri, 0);
	assert_int_equal(routing_in_flight(rt, 0, 1), 2);
	assert_int_equal(routing_room(rt, 0), 4 + 0);
}

static void
avoids_the_replica_of_the_last_attempt_when_it_can(void **state)
{
	size_t mi, ri;

	(void)state;
	assert_int_equal(routing_pick(rt, 0, "http://127.0.0.1:9/a", &mi, &ri), 0);
	assert_int_equal(ri, 1);
	routing_acquire(rt, 0, 1);
	routing_acquire(rt, 0, 1);
	/* the only one with room: taken anyway */
	assert_int_equal(routing_pick(rt, 0, "http://127.0.0.1:9/a", &mi, &ri), 0);
	assert_int_equal(ri, 0);
}

static void
shares_add_up_to_max_in_flight(void **state)
{
	int total = 0;

	(void)state;
	/* 5 and 2 over 3 workers: 2+2+1 and 1+1+0, 7 in all */
	for (int rank = 0; rank < 3; rank++) {
		routing_set_share(rt, rank, 3);
		total += routing_room(rt, 0);
	}
	assert_int_equal(total, 7);
	routing_set_share(rt, 0, 3);
	assert_int_equal(routing_room(rt, 0), 2 + 1);
	routing_set_share(rt, 2, 3);
	assert_int_equal(routing_room(rt, 0), 1 + 0);
	/* with more workers than slots some get none */
	routing_set_share(rt, 6, 7);
	assert_int_equal(routing_room(rt, 1), 0);
	/* a nonsense share falls back to all of it */
	routing_set_share(rt, 5, 3);
	assert_int_equal(routing_room(rt, 0), 7);
}

static void
consecutive_failures_open_the_circuit(void **state)
{
	size_t mi, ri;

	(void)state;
	routing_result(rt, 0, 0, 0);
	assert_false(routing_is_open(rt, 0, 0));
	routing_result(rt, 0, 0, 1);	/* a success resets the count */
	routing_result(rt, 0, 0, 0);
	assert_false(routing_is_open(rt, 0, 0));
	routing_result(rt, 0, 0, 0);
	assert_true(routing_is_open(rt, 0, 0));
	assert_false(routing_is_healthy(rt, 0, 0));
	assert_int_equal(routing_pick(rt, 0, NULL, &mi, &ri), 0);
	assert_int_equal(mi, 0);
	assert_int_equal(ri, 1);
	routing_result(rt, 0, 0, 1);	/* closes it */
	assert_false(routing_is_open(rt, 0, 0));
}

static void
every_replica_open_goes_to_the_fallback(void **state)
{
	size_t mi, ri;

	(void)state;
	routing_down(rt, 0, 0);
	routing_down(rt, 0, 1);
	assert_true(routing_is_open(rt, 0, 0));
	assert_true(routing_is_open(rt, 0, 1));
	assert_int_equal(routing_wait_ms(rt, 0), 0);	/* the fallback is closed */
	assert_int_equal(routing_pick(rt, 0, NULL, &mi, &ri), 0);
	assert_int_equal(mi, 1);
	assert_int_equal(ri, 0);
	/* a job of a kind the fallback does not serve (spare: chat, completion), or a
	   token count (no kind): no fallback */
	assert_int_equal(routing_pick_kind(rt, 0, AIF_KIND_CHAT, NULL, &mi, &ri), 0);
	assert_int_equal(mi, 1);
	assert_int_equal(routing_pick_kind(rt, 0, AIF_KIND_RESPONSES, NULL, &mi, &ri), -1);
	assert_int_equal(routing_pick_kind(rt, 0, 0, NULL, &mi, &ri), -1);
	routing_down(rt, 1, 0);
	assert_int_equal(routing_pick(rt, 0, NULL, &mi, &ri), -1);
	/* a retry should wait about circuit_open_ms for the first one to close */
	assert_true(routing_wait_ms(rt, 0) > 50000);
	assert_true(routing_wait_ms(rt, 0) <= 60000);
}

static void
a_probe_of_a_dead_replica_keeps_it_open_and_unhealthy(void **state)
{
	struct timespec ms20 = { 0, 20000000 };

	(void)state;
	routing_down(rt, 1, 0);
	for (int i = 0; i < 150; i++) {	/* the probe of a refused port ends fast */
		routing_probe(rt);
		nanosleep(&ms20, NULL);
	}
	assert_true(routing_is_open(rt, 1, 0));
	assert_false(routing_is_healthy(rt, 1, 0));
	assert_false(routing_is_healthy(rt, 0, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(picks_the_replica_with_fewest_calls, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(avoids_the_replica_of_the_last_attempt_when_it_can,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(shares_add_up_to_max_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(consecutive_failures_open_the_circuit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(every_replica_open_goes_to_the_fallback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(a_probe_of_a_dead_replica_keeps_it_open_and_unhealthy,
		    setup, teardown),
	};
	int rc;

	if (aif_http_init() != AIF_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	aif_http_cleanup();
	return rc;
}
