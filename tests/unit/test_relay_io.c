/* test_relay_io.c -- unit tests of core/ipc/relay_io.c over real Unix stream sockets:
 * frames cross whole whatever the socket splits, a listener accepts, an oversized frame
 * closes the connection, the outgoing buffer is bounded, and a closed peer is seen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay_io.h"
#include "relay_proto.h"

struct seen {
	int		 n;
	uint64_t	 job[64];
	uint32_t	 type[64];
	size_t		 len[64];
	char		 first[64];	/* first bytes of the last payload */
};

static void
on_frame(void *arg, uint64_t job, uint32_t type, const char *payload, uint32_t len)
{
	struct seen *s = arg;

	if (s->n < 64) {
		s->job[s->n] = job;
		s->type[s->n] = type;
		s->len[s->n] = len;
		s->n++;
	}
	snprintf(s->first, sizeof(s->first), "%.*s", (int)(len < 63 ? len : 63), payload);
}

/* A connected pair of relay connections. */
static void
pair(struct aif_relay_conn *a, struct aif_relay_conn *b)
{
	int fd[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0);
	aif_relay_init(a);
	aif_relay_init(b);
	a->fd = fd[0];
	b->fd = fd[1];
}

/* Receives on c until `want` frames arrived or the peer closed. */
static int
recv_until(struct aif_relay_conn *c, struct seen *s, int want)
{
	for (int i = 0; i < 200 && s->n < want; i++) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		(void)poll(&p, 1, 20);
		if (aif_relay_recv(c, on_frame, s) != 0)
			return -1;
	}
	return 0;
}

static void
frames_cross_whole(void **state)
{
	struct aif_relay_conn a, b;
	struct seen s = { 0 };

	(void)state;
	pair(&a, &b);
	assert_int_equal(aif_relay_send(&a, 7, AIF_RELAY_BEGIN, "{\"attempt\":1}", 13), 0);
	assert_int_equal(aif_relay_send(&a, 7, AIF_RELAY_CHUNK, "hello", 5), 0);
	assert_int_equal(aif_relay_send(&a, 8, AIF_RELAY_CANCEL, NULL, 0), 0);
	assert_int_equal(recv_until(&b, &s, 3), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.job[0], 7);
	assert_int_equal(s.type[1], AIF_RELAY_CHUNK);
	assert_int_equal(s.len[1], 5);
	assert_int_equal(s.job[2], 8);
	assert_int_equal(s.len[2], 0);
	aif_relay_close(&a);
	aif_relay_close(&b);
}

static void
a_large_frame_arrives_in_pieces_and_whole(void **state)
{
	struct aif_relay_conn a, b;
	struct seen s = { 0 };
	size_t big = 900000;
	char *payload = malloc(big);

	(void)state;
	assert_non_null(payload);
	memset(payload, 'z', big);
	memcpy(payload, "start", 5);
	pair(&a, &b);
	assert_int_equal(aif_relay_send(&a, 9, AIF_RELAY_CHUNK, payload, big), 0);
	/* the socket buffer is smaller than the frame: flush and read in turns */
	for (int i = 0; i < 500 && s.n == 0; i++) {
		(void)aif_relay_flush(&a);
		assert_int_equal(aif_relay_recv(&b, on_frame, &s), 0);
	}
	assert_int_equal(s.n, 1);
	assert_int_equal(s.len[0], big);
	assert_memory_equal(s.first, payload, 63);
	free(payload);
	aif_relay_close(&a);
	aif_relay_close(&b);
}

static void
an_oversized_frame_closes_the_connection(void **state)
{
	struct aif_relay_conn a, b;
	struct seen s = { 0 };
	unsigned char h[AIF_RELAY_HEADER];

	(void)state;
	pair(&a, &b);
	/* a sender refuses to queue one */
	assert_int_equal(aif_relay_send(&a, 1, AIF_RELAY_CHUNK, "x",
	    (size_t)AIF_RELAY_PAYLOAD_MAX + 1), -1);
	assert_int_equal(a.fd, -1);
	/* a receiver drops a peer that announces one */
	aif_relay_put_header(h, 1, AIF_RELAY_CHUNK, AIF_RELAY_PAYLOAD_MAX + 1);
	{
		int fd[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0);
		aif_relay_init(&a);
		a.fd = fd[0];
		aif_relay_close(&b);
		aif_relay_init(&b);
		b.fd = fd[1];
		assert_int_equal(write(a.fd, h, sizeof(h)), (ssize_t)sizeof(h));
	}
	assert_int_equal(recv_until(&b, &s, 1), -1);
	assert_int_equal(b.fd, -1);
	assert_int_equal(s.n, 0);
	aif_relay_close(&a);
}

static void
the_outgoing_buffer_is_bounded(void **state)
{
	struct aif_relay_conn a, b;
	char *chunk = calloc(1, AIF_RELAY_PAYLOAD_MAX);
	int rc = 0, sent = 0;

	(void)state;
	assert_non_null(chunk);
	pair(&a, &b);
	/* nobody reads b: after AIF_RELAY_OUT_MAX bytes queued the sender gives up */
	while (rc == 0 && sent < 64) {
		rc = aif_relay_send(&a, 1, AIF_RELAY_CHUNK, chunk, AIF_RELAY_PAYLOAD_MAX);
		sent++;
	}
	assert_int_equal(rc, -1);
	assert_true((size_t)sent * AIF_RELAY_PAYLOAD_MAX > AIF_RELAY_OUT_MAX);
	assert_int_equal(a.fd, -1);
	free(chunk);
	aif_relay_close(&b);
}

static void
a_closed_peer_is_seen(void **state)
{
	struct aif_relay_conn a, b;
	struct seen s = { 0 };

	(void)state;
	pair(&a, &b);
	aif_relay_close(&a);
	assert_int_equal(recv_until(&b, &s, 1), -1);
	assert_int_equal(b.fd, -1);
	assert_int_equal(aif_relay_send(&b, 1, AIF_RELAY_END, "{}", 2), -1);
}

static void
listen_accept_connect(void **state)
{
	char path[108];
	struct aif_relay_conn srv, cli;
	struct seen s = { 0 };
	int lfd = -1;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/aif-utest-relay-%ld.relay", (long)getpid());
	assert_int_equal(aif_relay_listen(path, &lfd), AIF_OK);
	aif_relay_init(&cli);
	assert_int_equal(aif_relay_connect(&cli, path), AIF_OK);
	{
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		(void)poll(&p, 1, 1000);
	}
	assert_int_equal(aif_relay_accept(lfd, &srv), AIF_OK);
	{	/* nobody else is waiting */
		struct aif_relay_conn none;
		assert_int_equal(aif_relay_accept(lfd, &none), AIF_UNAVAILABLE);
	}
	assert_int_equal(aif_relay_send(&cli, 5, AIF_RELAY_END, "{\"status\":200}", 14), 0);
	assert_int_equal(recv_until(&srv, &s, 1), 0);
	assert_int_equal(s.job[0], 5);
	assert_string_equal(s.first, "{\"status\":200}");
	aif_relay_close(&cli);
	aif_relay_close(&srv);
	close(lfd);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames_cross_whole),
		cmocka_unit_test(a_large_frame_arrives_in_pieces_and_whole),
		cmocka_unit_test(an_oversized_frame_closes_the_connection),
		cmocka_unit_test(the_outgoing_buffer_is_bounded),
		cmocka_unit_test(a_closed_peer_is_seen),
		cmocka_unit_test(listen_accept_connect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
