/* test_outq.c -- unit tests of core/ipc/outq.c, the bounded output queue of the relays
 * and of aif-api's streams, over real Unix stream sockets: bytes leave in order, what
 * the socket does not take waits (room is made by sliding before growing), the bound
 * holds (a refused append changes nothing), and a failed socket is reported. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "outq.h"

static void
pair(int fd[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0);
}

static void
put(struct aif_outq *q, const char *s)
{
	unsigned char *p = aif_outq_append(q, strlen(s));

	assert_non_null(p);
	memcpy(p, s, strlen(s));
}

static void
bytes_leave_in_order(void **state)
{
	struct aif_outq q;
	char buf[64];
	int fd[2];

	(void)state;
	pair(fd);
	aif_outq_init(&q, 1024);
	put(&q, "hello, ");
	put(&q, "world");
	assert_int_equal(aif_outq_pending(&q), 12);
	assert_int_equal(aif_outq_flush(&q, fd[0]), 1);
	assert_int_equal(aif_outq_pending(&q), 0);
	assert_int_equal(read(fd[1], buf, sizeof(buf)), 12);
	assert_memory_equal(buf, "hello, world", 12);
	aif_outq_free(&q);
	close(fd[0]);
	close(fd[1]);
}

/* A peer that does not read: what the socket refuses waits, in order; bytes appended
 * meanwhile use the room written bytes left at the front (no growth); all of it leaves
 * once the peer reads. */
static void
what_the_socket_refuses_waits(void **state)
{
	size_t big = 4u << 20, got = 0, taken, cap;
	struct aif_outq q;
	unsigned char *p;
	char *buf = malloc(65536);
	int fd[2];

	(void)state;
	assert_non_null(buf);
	pair(fd);
	aif_outq_init(&q, big);
	assert_non_null(p = aif_outq_append(&q, big));
	for (size_t i = 0; i < big; i++)
		p[i] = (unsigned char)(i % 251);
	assert_int_equal(aif_outq_flush(&q, fd[0]), 0);
	taken = big - aif_outq_pending(&q);
	assert_true(taken > 0 && taken < big);
	cap = q.cap;
	assert_non_null(p = aif_outq_append(&q, taken));
	for (size_t i = 0; i < taken; i++)
		p[i] = (unsigned char)((big + i) % 251);
	assert_int_equal(q.cap, cap);
	assert_int_equal(aif_outq_pending(&q), big);
	assert_null(aif_outq_append(&q, 1));
	while (got < big + taken) {
		ssize_t n = read(fd[1], buf, 65536);
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				assert_int_equal((unsigned char)buf[i], (got + (size_t)i) % 251);
			got += (size_t)n;
		}
		(void)aif_outq_flush(&q, fd[0]);
	}
	assert_int_equal(aif_outq_pending(&q), 0);
	assert_int_equal(aif_outq_flush(&q, fd[0]), 1);
	free(buf);
	aif_outq_free(&q);
	close(fd[0]);
	close(fd[1]);
}

static void
the_bound_holds(void **state)
{
	struct aif_outq q;

	(void)state;
	aif_outq_init(&q, 100);
	assert_non_null(aif_outq_append(&q, 60));
	assert_null(aif_outq_append(&q, 41));
	assert_int_equal(aif_outq_pending(&q), 60);
	assert_non_null(aif_outq_append(&q, 40));
	assert_null(aif_outq_append(&q, 1));
	assert_null(aif_outq_append(&q, SIZE_MAX));
	assert_int_equal(aif_outq_pending(&q), 100);
	aif_outq_free(&q);
	assert_int_equal(aif_outq_pending(&q), 0);
	assert_int_equal(q.max, 100);
}

/* A queue written out keeps its buffer: it does not grow for what fits. */
static void
a_written_queue_reuses_its_buffer(void **state)
{
	struct aif_outq q;
	char buf[8192];
	size_t cap;
	int fd[2];

	(void)state;
	pair(fd);
	aif_outq_init(&q, 1u << 20);
	assert_non_null(aif_outq_append(&q, 3000));
	cap = q.cap;
	assert_int_equal(aif_outq_flush(&q, fd[0]), 1);
	assert_int_equal(read(fd[1], buf, sizeof(buf)), 3000);
	for (int i = 0; i < 100; i++) {
		assert_non_null(aif_outq_append(&q, 3000));
		assert_int_equal(aif_outq_flush(&q, fd[0]), 1);
		assert_int_equal(read(fd[1], buf, sizeof(buf)), 3000);
	}
	assert_int_equal(q.cap, cap);
	aif_outq_free(&q);
	close(fd[0]);
	close(fd[1]);
}

static void
a_failed_socket_is_reported(void **state)
{
	struct aif_outq q;
	int fd[2];

	(void)state;
	pair(fd);
	close(fd[1]);
	aif_outq_init(&q, 1024);
	put(&q, "nobody hears this");
	assert_int_equal(aif_outq_flush(&q, fd[0]), -1);
	assert_int_equal(aif_outq_pending(&q), 17);
	aif_outq_free(&q);
	close(fd[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bytes_leave_in_order),
		cmocka_unit_test(what_the_socket_refuses_waits),
		cmocka_unit_test(the_bound_holds),
		cmocka_unit_test(a_written_queue_reuses_its_buffer),
		cmocka_unit_test(a_failed_socket_is_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
