/* test_fcgi_out.c -- unit tests of fcgi-app/fcgi_out.c, aif-api's non-blocking FastCGI
 * output, over a real Unix stream socket: gathered pieces become FCGI_STDOUT records
 * (one per 65535 bytes) holding the pieces in order, the end of a response is an empty
 * FCGI_STDOUT and an FCGI_END_REQUEST, and the queue's bound holds. The program links
 * only the libraries, so the file under test is compiled in here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi_out.c"

#define REQ_ID	0x1234

struct peer {
	int		 fd[2];
	FCGX_Request	 r;
	struct fcgi_out	 o;
};

static void
open_peer(struct peer *p, size_t max)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
	p->r.ipcFd = p->fd[0];
	p->r.requestId = REQ_ID;
	assert_int_equal(fcgi_out_init(&p->o, &p->r, max), 0);
}

static void
close_peer(struct peer *p)
{
	fcgi_out_close(&p->o, NULL);
	close(p->fd[1]);
}

/* Reads one record from the peer's side: its type, and its content into buf (cap). */
static size_t
read_record(struct peer *p, int *type, unsigned char *buf, size_t cap)
{
	unsigned char h[FCGI_HEADER_LEN];
	size_t len, got = 0;

	assert_int_equal(recv(p->fd[1], h, sizeof(h), MSG_WAITALL), (ssize_t)sizeof(h));
	assert_int_equal(h[0], FCGI_VERSION_1);
	assert_int_equal((h[2] << 8) | h[3], REQ_ID);
	assert_int_equal(h[6], 0);		/* no padding */
	*type = h[1];
	len = ((size_t)h[4] << 8) | h[5];
	assert_true(len <= cap);
	while (got < len) {
		ssize_t n = recv(p->fd[1], buf + got, len - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	return len;
}

static void
gathered_pieces_make_one_record(void **state)
{
	struct iovec v[] = {
		{ .iov_base = "data: ", .iov_len = 6 },
		{ .iov_base = "", .iov_len = 0 },
		{ .iov_base = "{\"x\":1}", .iov_len = 7 },
		{ .iov_base = "\n\n", .iov_len = 2 },
	};
	unsigned char buf[64];
	struct peer p;
	int type;

	(void)state;
	open_peer(&p, 1 << 20);
	assert_int_equal(fcgi_out_writev(&p.o, v, 4), 0);
	assert_int_equal(fcgi_out_pending(&p.o), 0);
	assert_int_equal(read_record(&p, &type, buf, sizeof(buf)), 15);
	assert_int_equal(type, FCGI_STDOUT);
	assert_memory_equal(buf, "data: {\"x\":1}\n\n", 15);
	close_peer(&p);
}

/* Pieces longer than a record split across records at 65535 bytes, in order. */
static void
large_pieces_split_at_the_record_limit(void **state)
{
	size_t n1 = 70000, n2 = 100000, total = n1 + n2 + 1, got = 0;
	unsigned char *a = malloc(n1), *b = malloc(n2), *all = malloc(total);
	unsigned char *buf = malloc(FCGI_MAX_LENGTH);
	struct iovec v[3];
	struct peer p;
	int type, records = 0;

	(void)state;
	assert_true(a != NULL && b != NULL && all != NULL && buf != NULL);
	for (size_t i = 0; i < n1; i++)
		a[i] = (unsigned char)(i % 253);
	for (size_t i = 0; i < n2; i++)
		b[i] = (unsigned char)(i % 241);
	memcpy(all, a, n1);
	memcpy(all + n1, b, n2);
	all[n1 + n2] = 'z';
	v[0] = (struct iovec){ .iov_base = a, .iov_len = n1 };
	v[1] = (struct iovec){ .iov_base = b, .iov_len = n2 };
	v[2] = (struct iovec){ .iov_base = "z", .iov_len = 1 };
	open_peer(&p, 1 << 20);
	assert_int_equal(fcgi_out_writev(&p.o, v, 3), 0);
	while (got < total) {
		size_t len = read_record(&p, &type, buf, FCGI_MAX_LENGTH);
		assert_int_equal(type, FCGI_STDOUT);
		assert_true(len == FCGI_MAX_LENGTH || got + len == total);
		assert_memory_equal(buf, all + got, len);
		got += len;
		records++;
		(void)fcgi_out_flush(&p.o);
	}
	assert_int_equal(records, 3);		/* 170001 bytes: 65535 + 65535 + 38931 */
	close_peer(&p);
	free(a);
	free(b);
	free(all);
	free(buf);
}

static void
the_end_is_an_empty_stdout_and_end_request(void **state)
{
	unsigned char buf[16];
	struct peer p;
	int type;

	(void)state;
	open_peer(&p, 1 << 20);
	assert_int_equal(fcgi_out_write(&p.o, "bye", 3), 0);
	assert_int_equal(fcgi_out_end(&p.o), 0);
	assert_int_equal(read_record(&p, &type, buf, sizeof(buf)), 3);
	assert_int_equal(read_record(&p, &type, buf, sizeof(buf)), 0);
	assert_int_equal(type, FCGI_STDOUT);
	assert_int_equal(read_record(&p, &type, buf, sizeof(buf)), 8);
	assert_int_equal(type, FCGI_END_REQUEST);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0", 8);	/* status 0, complete */
	/* nothing goes after the end */
	assert_int_equal(fcgi_out_write(&p.o, "late", 4), -1);
	assert_int_equal(fcgi_out_end(&p.o), -1);
	close_peer(&p);
}

/* A client that reads nothing: past the bound a write is refused, and the end of the
 * response still fits (a few bytes over the bound). */
static void
the_bound_holds_but_the_end_fits(void **state)
{
	static char chunk[4096];
	struct peer p;
	int rc = 0, writes = 0;

	(void)state;
	open_peer(&p, 64 * 1024);
	while (rc == 0 && writes < 100000) {
		rc = fcgi_out_write(&p.o, chunk, sizeof(chunk));
		writes++;
	}
	assert_int_equal(rc, -1);
	assert_true(fcgi_out_pending(&p.o) > 0);
	assert_true(fcgi_out_pending(&p.o) <= 64 * 1024);
	assert_int_equal(fcgi_out_end(&p.o), 0);
	assert_int_equal(fcgi_out_flush(&p.o), 0);
	assert_true(p.o.blocked_since > 0);
	close_peer(&p);
}

/* A client that reads slowly but steadily: each byte it takes restarts the stall
 * clock, so a long stream whose queue never empties is not taken for a stalled one. */
static void
progress_restarts_the_stall_clock(void **state)
{
	static char chunk[4096], sink[8192];
	struct peer p;
	int writes = 0;

	(void)state;
	open_peer(&p, 4 << 20);
	while (fcgi_out_pending(&p.o) == 0 && writes++ < 10000)
		assert_int_equal(fcgi_out_write(&p.o, chunk, sizeof(chunk)), 0);
	for (int i = 0; i < 64; i++)	/* more than the socket takes */
		assert_int_equal(fcgi_out_write(&p.o, chunk, sizeof(chunk)), 0);
	assert_int_equal(fcgi_out_flush(&p.o), 0);
	p.o.blocked_since = 1;		/* bytes have waited since long ago */
	assert_int_equal(fcgi_out_flush(&p.o), 0);
	assert_int_equal(p.o.blocked_since, 1);	/* no progress: the clock stands */
	assert_true(read(p.fd[1], sink, sizeof(sink)) > 0);
	assert_int_equal(fcgi_out_flush(&p.o), 0);	/* still bytes left */
	assert_true(p.o.blocked_since > 1);		/* progress: the clock restarts */
	close_peer(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gathered_pieces_make_one_record),
		cmocka_unit_test(large_pieces_split_at_the_record_limit),
		cmocka_unit_test(the_end_is_an_empty_stdout_and_end_request),
		cmocka_unit_test(the_bound_holds_but_the_end_fits),
		cmocka_unit_test(progress_restarts_the_stall_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
