/* test_netbell.c -- doorbells and relays between hosts (core/ipc/netbell.c, doorbell.c,
 * relay_io.c) over real sockets on 127.0.0.1: a sealed datagram is opened once and only
 * once, and only by the receiver it was sealed for (a replay, a changed byte, another
 * receiver, another cluster's key, a stale clock, an unsealed datagram are refused),
 * counters may arrive out of order within the window, a doorbell bound on the network
 * delivers sealed rings and drops the rest, a TCP relay connection
 * proves itself with a sealed HELLO (for that listener, with the cluster's key) before
 * any frame counts, and addresses parse.
 * Runs with cwd tests/unit; under a second. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "doorbell.h"
#include "netbell.h"
#include "relay_io.h"
#include "relay_proto.h"
#include "util.h"

static const unsigned char SECRET[] = "0123456789abcdef0123456789abcdef-cluster";
static const char TO[] = "10.77.0.1:7001";	/* the receiver a datagram is for */
static const unsigned char OTHER[] = "another cluster's secret, 32+ bytes long";

static int
setup(void **state)
{
	(void)state;
	return aif_netbell_set_secret(SECRET, sizeof(SECRET) - 1) == AIF_OK ? 0 : -1;
}

/* A datagram sealed by hand (the wire format of netbell.h) for TO with any sender,
 * counter and time: what another host, or an attacker holding the secret, would send. */
static size_t
hand_seal(const unsigned char *secret, size_t slen, uint64_t sender, uint64_t counter,
    uint64_t ms, const char *msg, unsigned char *out)
{
	unsigned char key[AIF_HMAC_LEN], mac[AIF_HMAC_LEN];
	size_t n = strlen(msg);

	assert_int_equal(aif_hmac_sha256(secret, slen, "aif-netbell-v1", 14, NULL, 0, key),
	    0);
	memcpy(out, "AFB1", 4);
	aif_relay_put_u64(out + 4, sender);
	aif_relay_put_u64(out + 12, counter);
	aif_relay_put_u64(out + 20, ms);
	memcpy(out + AIF_NETBELL_HEAD, msg, n);
	assert_int_equal(aif_hmac_sha256(key, sizeof(key), out, AIF_NETBELL_HEAD + n, TO,
	    strlen(TO), mac), 0);
	memcpy(out + AIF_NETBELL_HEAD + n, mac, AIF_NETBELL_TAG);
	return AIF_NETBELL_OVERHEAD + n;
}

static void
sealed_opens_once_and_only_sealed(void **state)
{
	unsigned char d[256];
	char msg[64];
	size_t n;
	uint64_t before = aif_netbell_refused();

	(void)state;
	assert_true((n = aif_netbell_seal("job 42\n", 7, TO, d, sizeof(d))) > 0);
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), 7);
	assert_string_equal(msg, "job 42\n");
	/* replayed */
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), -1);
	assert_true((n = aif_netbell_seal("wake\n", 5, TO, d, sizeof(d))) > 0);
	d[AIF_NETBELL_HEAD] ^= 1;				/* "vake" */
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), -1);
	d[AIF_NETBELL_HEAD] ^= 1;
	assert_int_equal(aif_netbell_open(d, n - 1, TO, msg, sizeof(msg)), -1);	/* cut */
	assert_int_equal(aif_netbell_open(d, n, TO, msg, 5), -1);	/* no room: NUL */
	/* still fresh */
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), 5);
	n = hand_seal(OTHER, sizeof(OTHER) - 1, 99, 1, (uint64_t)aif_wall_ms(), "wake\n",
	    d);
	/* another cluster's key */
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), -1);
	assert_int_equal(aif_netbell_open((const unsigned char *)"wake\n", 5, TO, msg,
	    sizeof(msg)), -1);					/* not sealed at all */
	/* sealed for TO, replayed to another receiver: the tag covers the address */
	assert_true((n = aif_netbell_seal("take 9\n", 7, TO, d, sizeof(d))) > 0);
	assert_int_equal(aif_netbell_open(d, n, "10.77.0.2:7001", msg, sizeof(msg)), -1);
	assert_int_equal(aif_netbell_open(d, n, "10.77.0.1:7002", msg, sizeof(msg)), -1);
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), 7);
	assert_int_equal(aif_netbell_refused() - before, 8);
	assert_int_equal(aif_netbell_set_secret(OTHER, 31), AIF_INVALID);	/* short */
}

static void
clock_and_counters_bound_replays(void **state)
{
	const size_t sl = sizeof(SECRET) - 1;
	unsigned char d[256];
	char msg[64];
	uint64_t t = (uint64_t)aif_wall_ms();
	size_t n;

	(void)state;
	/* a time more than the skew away, either side */
	n = hand_seal(SECRET, sl, 1001, 1, t - AIF_NETBELL_SKEW_MS - 5000, "wake\n", d);
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), -1);
	n = hand_seal(SECRET, sl, 1001, 2, t + AIF_NETBELL_SKEW_MS + 5000, "wake\n", d);
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), -1);
	/* counters out of order are taken once each within the window ... */
	n = hand_seal(SECRET, sl, 1002, 500, t, "a", d);
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), 1);
	n = hand_seal(SECRET, sl, 1002, 400, t, "b", d);
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), 1);
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), -1);
	n = hand_seal(SECRET, sl, 1002, 2000, t, "c", d);	/* the window moves up */
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), 1);
	/* ... and one older than the window is refused, as is 500 again */
	n = hand_seal(SECRET, sl, 1002, 2000 - AIF_NETBELL_WINDOW, t, "d", d);
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), -1);
	n = hand_seal(SECRET, sl, 1002, 500, t, "a", d);
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), -1);
	n = hand_seal(SECRET, sl, 1002, 1999, t, "e", d);	/* inside: new */
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), 1);
	/* another sender keeps its own window */
	n = hand_seal(SECRET, sl, 1003, 500, t, "f", d);
	assert_int_equal(aif_netbell_open(d, n, TO, msg, sizeof(msg)), 1);
}

static void
addresses_parse(void **state)
{
	struct sockaddr_storage sa;
	socklen_t sl;
	char out[AIF_NETBELL_ADDR_MAX];

	(void)state;
	assert_int_equal(aif_netbell_sockaddr("udp:10.1.2.3:7001", &sa, &sl), 0);
	assert_int_equal(sa.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), 7001);
	assert_int_equal(aif_netbell_sockaddr("tcp:[fd00::2]:80", &sa, &sl), 0);
	assert_int_equal(sa.ss_family, AF_INET6);
	assert_int_equal(aif_netbell_sockaddr("udp:host.example:7001", &sa, &sl), -1);
	assert_int_equal(aif_netbell_sockaddr("udp:10.1.2.3:0", &sa, &sl), -1);
	assert_int_equal(aif_netbell_sockaddr("udp:10.1.2.3:70000", &sa, &sl), -1);
	assert_int_equal(aif_netbell_sockaddr("udp:10.1.2.3:7x", &sa, &sl), -1);
	assert_int_equal(aif_netbell_sockaddr("udp:[fd00::2:80", &sa, &sl), -1);
	assert_int_equal(aif_netbell_sockaddr("udp:fd00::2:80", &sa, &sl), -1);	/* [ ] */
	assert_int_equal(aif_netbell_sockaddr("/run/aif/api-1.sock", &sa, &sl), -1);
	assert_true(aif_netbell_is_net("udp:1.2.3.4:5"));
	assert_false(aif_netbell_is_net("/run/aif/api-1.sock"));
	assert_int_equal(aif_relay_path("udp:10.1.2.3:7001", out, sizeof(out)), 0);
	assert_string_equal(out, "tcp:10.1.2.3:7001");
	assert_int_equal(aif_relay_path("/run/aif/api-1.sock", out, sizeof(out)), 0);
	assert_string_equal(out, "/run/aif/api-1.relay");
}

/* Waits for a datagram on fd and returns aif_doorbell_recv's result. */
static ssize_t
recv_bell(int fd, char *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	(void)poll(&p, 1, 1000);
	return aif_doorbell_recv(fd, buf, cap);
}

static void
network_doorbell_takes_sealed_rings_only(void **state)
{
	struct aif_doorbell_file file;
	struct sockaddr_storage sa;
	socklen_t sl;
	char addr[AIF_NETBELL_ADDR_MAX], buf[128];
	int fd, relay, raw;

	(void)state;
	assert_int_equal(aif_doorbell_open("127.0.0.1", "/nonexistent/x.sock", addr,
	    sizeof(addr), &fd, &relay, &file), AIF_OK);
	assert_true(strncmp(addr, "udp:127.0.0.1:", 14) == 0);
	assert_true(relay >= 0);
	assert_int_equal(aif_doorbell_ring(-1, addr, "job 7\n", 6), 0);
	assert_int_equal(recv_bell(fd, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "job 7\n");
	/* an unsealed datagram to the same port is dropped; the next sealed one comes */
	assert_int_equal(aif_netbell_sockaddr(addr, &sa, &sl), 0);
	raw = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(sendto(raw, "wake\n", 5, 0, (struct sockaddr *)&sa, sl), 5);
	assert_int_equal(recv_bell(fd, buf, sizeof(buf)), 0);
	assert_int_equal(aif_doorbell_ring_patient(-1, addr, "wake\n", 5, 20), 0);
	assert_int_equal(recv_bell(fd, buf, sizeof(buf)), 5);
	close(raw);
	close(relay);
	aif_doorbell_close_owned(fd, addr, &file);
}

struct got {
	int		 n;
	uint32_t	 type;
	char		 payload[32];
};

static void
on_frame(void *arg, const struct aif_relay_frame *f)
{
	struct got *g = arg;

	g->n++;
	g->type = f->h.type;
	snprintf(g->payload, sizeof(g->payload), "%.*s", (int)f->h.len, f->payload);
}

/* Accepts on l, then reads c's frames into g until `want` came or it closed: 0 or -1. */
static int
serve(int l, struct aif_relay_conn *srv, struct got *g, int want)
{
	struct pollfd p = { .fd = l, .events = POLLIN };

	(void)poll(&p, 1, 1000);
	if (aif_relay_accept(l, srv) != AIF_OK)
		return -2;
	for (int i = 0; i < 100 && g->n < want; i++) {
		struct pollfd q = { .fd = srv->fd, .events = POLLIN };
		(void)poll(&q, 1, 20);
		if (aif_relay_recv(srv, on_frame, g) != 0)
			return -1;
	}
	return 0;
}

/* Writes what c has queued (a connection that is still opening takes it later). */
static void
flush_all(struct aif_relay_conn *c)
{
	for (int i = 0; i < 50 && aif_relay_pending(c) > 0; i++) {
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		(void)poll(&p, 1, 20);
		(void)aif_relay_flush(c);
	}
}

/* Opens a raw TCP connection to the relay `rel` and sends a HELLO frame: sealed now when
 * `fresh`, else the one recorded by the last fresh call, byte for byte; then a CHUNK.
 * What serve() said of it: 0 (the CHUNK delivered), -1 (closed, nothing delivered). */
static int
send_hello(const struct sockaddr_storage *sa, socklen_t sl, const char *rel,
    struct aif_relay_conn *srv, int l, int fresh)
{
	static unsigned char rec[2 * AIF_RELAY_HEADER + 64 + 5];
	static size_t reclen;
	struct aif_relay_header h = { .job = 0, .type = AIF_RELAY_HELLO };
	struct aif_relay_header c = { .job = 7, .type = AIF_RELAY_CHUNK, .len = 5 };
	struct got g = { 0 };
	int raw, rc;

	if (fresh) {
		size_t n = aif_netbell_seal("relay", 5, rel + 4, rec + AIF_RELAY_HEADER,
		    64);
		assert_true(n > 0);
		h.len = (uint32_t)n;
		aif_relay_put_header(rec, &h);
		aif_relay_put_header(rec + AIF_RELAY_HEADER + n, &c);
		reclen = AIF_RELAY_HEADER + n + AIF_RELAY_HEADER;
		memcpy(rec + reclen, "again", 5);
		reclen += 5;
	}
	raw = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(raw, (const struct sockaddr *)sa, sl), 0);
	assert_int_equal(write(raw, rec, reclen), (ssize_t)reclen);
	rc = serve(l, srv, &g, 1);
	aif_relay_close(srv);
	close(raw);
	return rc == 0 && g.n == 1 && strcmp(g.payload, "again") == 0 ? 0 : -1;
}

static void
tcp_relay_proves_itself_first(void **state)
{
	static const unsigned char key[AIF_RELAY_KEY_LEN] = "k";
	struct aif_doorbell_file file;
	struct aif_relay_conn cli, srv;
	struct sockaddr_storage sa;
	socklen_t sl;
	char addr[AIF_NETBELL_ADDR_MAX], rel[AIF_NETBELL_ADDR_MAX];
	unsigned char frame[AIF_RELAY_HEADER + 5];
	struct aif_relay_header h = { .job = 7, .type = AIF_RELAY_CHUNK, .len = 5 };
	struct got g = { 0 };
	int fd, l, raw;

	(void)state;
	assert_int_equal(aif_doorbell_open("127.0.0.1", "/nonexistent/x.sock", addr,
	    sizeof(addr), &fd, &l, &file), AIF_OK);
	assert_int_equal(aif_relay_path(addr, rel, sizeof(rel)), 0);
	/* a worker: HELLO first, then its frames */
	aif_relay_init(&cli);
	assert_int_equal(aif_relay_connect(&cli, rel), AIF_OK);
	assert_int_equal(aif_relay_send(&cli, 7, AIF_RELAY_CHUNK, 1, key, "hello", 5), 0);
	flush_all(&cli);
	assert_int_equal(serve(l, &srv, &g, 1), 0);
	assert_int_equal(g.n, 1);			/* the HELLO is not a frame */
	assert_int_equal(g.type, AIF_RELAY_CHUNK);
	assert_string_equal(g.payload, "hello");
	aif_relay_close(&srv);
	aif_relay_close(&cli);
	/* a peer that sends a frame without the HELLO is cut off, the frame unread */
	memset(&g, 0, sizeof(g));
	aif_relay_put_header(frame, &h);
	memcpy(frame + AIF_RELAY_HEADER, "spoof", 5);
	assert_int_equal(aif_netbell_sockaddr(rel, &sa, &sl), 0);
	raw = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(raw, (struct sockaddr *)&sa, sl), 0);
	assert_int_equal(write(raw, frame, sizeof(frame)), (ssize_t)sizeof(frame));
	assert_int_equal(serve(l, &srv, &g, 1), -1);
	assert_int_equal(g.n, 0);
	close(raw);
	/* a HELLO sealed with another cluster's key is refused */
	memset(&g, 0, sizeof(g));
	assert_int_equal(aif_netbell_set_secret(OTHER, sizeof(OTHER) - 1), AIF_OK);
	aif_relay_init(&cli);
	assert_int_equal(aif_relay_connect(&cli, rel), AIF_OK);
	assert_int_equal(aif_netbell_set_secret(SECRET, sizeof(SECRET) - 1), AIF_OK);
	assert_int_equal(aif_relay_send(&cli, 7, AIF_RELAY_CHUNK, 1, key, "hello", 5), 0);
	flush_all(&cli);
	assert_int_equal(serve(l, &srv, &g, 1), -1);
	assert_int_equal(g.n, 0);
	aif_relay_close(&cli);
	/* a good HELLO recorded and replayed on a second connection is refused */
	assert_int_equal(send_hello(&sa, sl, rel, &srv, l, 1), 0);
	assert_int_equal(send_hello(&sa, sl, rel, &srv, l, 0), -1);
	close(l);
	aif_doorbell_close_owned(fd, addr, &file);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sealed_opens_once_and_only_sealed),
		cmocka_unit_test(clock_and_counters_bound_replays),
		cmocka_unit_test(addresses_parse),
		cmocka_unit_test(network_doorbell_takes_sealed_rings_only),
		cmocka_unit_test(tcp_relay_proves_itself_first),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
