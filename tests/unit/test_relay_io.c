/* test_relay_io.c -- unit tests of core/ipc/relay_io.c over real Unix stream sockets
 * and of the frame tags of core/protocol/relay_proto.c: frames cross whole whatever the
 * socket splits, a listener accepts (a peer of this user only), an oversized frame
 * closes the connection, the outgoing buffer is bounded, a closed peer is seen, a
 * frame's tag proves its job, attempt, type and payload under the attempt's key, and a
 * socket file is removed only by its owner (unix_addr.c). */
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
#include "unix_addr.h"

struct seen {
	int		 n;
	uint64_t	 job[64];
	uint32_t	 type[64];
	size_t		 len[64];
	int		 verified[64];	/* the tag checked out under KEY */
	char		 first[64];	/* first bytes of the last payload */
};

static const unsigned char SECRET[AIF_RELAY_SECRET_BYTES] = "0123456789abcdef";
static unsigned char KEY[AIF_RELAY_KEY_LEN];	/* of job 7 attempt 1 (setup) */

static void
on_frame(void *arg, const struct aif_relay_frame *f)
{
	struct seen *s = arg;

	if (s->n < 64) {
		s->job[s->n] = f->h.job;
		s->type[s->n] = f->h.type;
		s->len[s->n] = f->h.len;
		s->verified[s->n] = aif_relay_verify(KEY, &f->h, f->payload);
		s->n++;
	}
	snprintf(s->first, sizeof(s->first), "%.*s", (int)(f->h.len < 63 ? f->h.len : 63),
	    f->payload);
}

/* Sends with the test's key, attempt 1. */
static int
send_frame(struct aif_relay_conn *c, uint64_t job, uint32_t type, const void *p, size_t n)
{
	return aif_relay_send(c, job, type, 1, KEY, p, n);
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
	assert_int_equal(send_frame(&a, 7, AIF_RELAY_BEGIN, "{\"attempt\":1}", 13), 0);
	assert_int_equal(send_frame(&a, 7, AIF_RELAY_CHUNK, "hello", 5), 0);
	assert_int_equal(send_frame(&a, 8, AIF_RELAY_CANCEL, NULL, 0), 0);
	assert_int_equal(recv_until(&b, &s, 3), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.job[0], 7);
	assert_int_equal(s.type[1], AIF_RELAY_CHUNK);
	assert_int_equal(s.len[1], 5);
	assert_int_equal(s.job[2], 8);
	assert_int_equal(s.len[2], 0);
	assert_true(s.verified[0] && s.verified[1] && s.verified[2]);
	aif_relay_close(&a);
	aif_relay_close(&b);
}

/* A tag covers the job, the type, the attempt and every payload byte, under a key that
 * only the job's secret gives: changing any of them, or another attempt's or job's
 * key, fails the check. */
static void
tags_prove_job_attempt_type_and_payload(void **state)
{
	struct aif_relay_header h = { .job = 7, .type = AIF_RELAY_CHUNK, .len = 5,
	    .attempt = 1 };
	unsigned char other[AIF_RELAY_KEY_LEN], secret2[AIF_RELAY_SECRET_BYTES];
	char payload[] = "hello";

	(void)state;
	aif_relay_sign(KEY, &h, payload);
	assert_true(aif_relay_verify(KEY, &h, payload));
	payload[0] = 'j';
	assert_false(aif_relay_verify(KEY, &h, payload));
	payload[0] = 'h';
	h.type = AIF_RELAY_END;
	assert_false(aif_relay_verify(KEY, &h, payload));
	h.type = AIF_RELAY_CHUNK;
	h.job = 8;
	assert_false(aif_relay_verify(KEY, &h, payload));
	h.job = 7;
	h.attempt = 2;
	assert_false(aif_relay_verify(KEY, &h, payload));
	h.attempt = 1;
	aif_relay_key(SECRET, 7, 2, other);		/* the next attempt's key */
	assert_false(aif_relay_verify(other, &h, payload));
	memcpy(secret2, SECRET, sizeof(secret2));
	secret2[0] ^= 1;				/* another job's secret */
	aif_relay_key(secret2, 7, 1, other);
	assert_false(aif_relay_verify(other, &h, payload));
	assert_true(aif_relay_verify(KEY, &h, payload));
}

/* The key depends on the secret, the job and the attempt, not on ids alone. */
static void
keys_differ_per_job_and_attempt(void **state)
{
	unsigned char k1[AIF_RELAY_KEY_LEN], k2[AIF_RELAY_KEY_LEN], k3[AIF_RELAY_KEY_LEN];

	(void)state;
	aif_relay_key(SECRET, 7, 1, k1);
	aif_relay_key(SECRET, 7, 2, k2);
	aif_relay_key(SECRET, 8, 1, k3);
	assert_memory_equal(k1, KEY, sizeof(k1));
	assert_memory_not_equal(k1, k2, sizeof(k1));
	assert_memory_not_equal(k1, k3, sizeof(k1));
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
	assert_int_equal(send_frame(&a, 9, AIF_RELAY_CHUNK, payload, big), 0);
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
	assert_int_equal(send_frame(&a, 1, AIF_RELAY_CHUNK, "x",
	    (size_t)AIF_RELAY_PAYLOAD_MAX + 1), -1);
	assert_int_equal(a.fd, -1);
	/* a receiver drops a peer that announces one */
	{
		struct aif_relay_header oh = { .job = 1, .type = AIF_RELAY_CHUNK,
		    .len = AIF_RELAY_PAYLOAD_MAX + 1, .attempt = 1 };
		aif_relay_put_header(h, &oh);
	}
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
	while (rc == 0 && sent < 2 * (int)(AIF_RELAY_OUT_MAX / AIF_RELAY_PAYLOAD_MAX)) {
		rc = send_frame(&a, 1, AIF_RELAY_CHUNK, chunk, AIF_RELAY_PAYLOAD_MAX);
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
	assert_int_equal(send_frame(&b, 1, AIF_RELAY_END, "{}", 2), -1);
}

static void
listen_accept_connect(void **state)
{
	char path[108];
	struct aif_relay_conn srv, cli;
	struct aif_unix_file file;
	struct seen s = { 0 };
	int lfd = -1;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/aif-utest-relay-%ld.relay", (long)getpid());
	assert_int_equal(aif_unix_bind(path, SOCK_STREAM, 16, &lfd, &file), AIF_OK);
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
	assert_int_equal(send_frame(&cli, 5, AIF_RELAY_END, "{\"status\":200}", 14), 0);
	assert_int_equal(recv_until(&srv, &s, 1), 0);
	assert_int_equal(s.job[0], 5);
	assert_string_equal(s.first, "{\"status\":200}");
	aif_relay_close(&cli);
	aif_relay_close(&srv);
	close(lfd);
	aif_unix_unlink_owned(path, &file);
	assert_int_equal(access(path, F_OK), -1);
}

/* A socket file is removed only by the process whose bind made it: one that took the
 * path over keeps it. */
static void
only_the_owner_unlinks_its_socket(void **state)
{
	char path[108];
	struct aif_unix_file first, second;
	int a = -1, b = -1;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/aif-utest-owned-%ld.relay", (long)getpid());
	assert_int_equal(aif_unix_bind(path, SOCK_STREAM, 4, &a, &first), AIF_OK);
	assert_int_equal(aif_unix_bind(path, SOCK_STREAM, 4, &b, &second), AIF_OK);
	assert_true(first.ino != 0 && second.ino != 0);
	aif_unix_unlink_owned(path, &first);
	assert_int_equal(access(path, F_OK), 0);
	aif_unix_unlink_owned(path, &second);
	assert_int_equal(access(path, F_OK), -1);
	close(a);
	close(b);
}

static int
setup(void **state)
{
	(void)state;
	aif_relay_key(SECRET, 7, 1, KEY);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames_cross_whole),
		cmocka_unit_test(tags_prove_job_attempt_type_and_payload),
		cmocka_unit_test(keys_differ_per_job_and_attempt),
		cmocka_unit_test(a_large_frame_arrives_in_pieces_and_whole),
		cmocka_unit_test(an_oversized_frame_closes_the_connection),
		cmocka_unit_test(the_outgoing_buffer_is_bounded),
		cmocka_unit_test(a_closed_peer_is_seen),
		cmocka_unit_test(listen_accept_connect),
		cmocka_unit_test(only_the_owner_unlinks_its_socket),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
