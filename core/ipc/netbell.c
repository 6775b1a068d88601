/* netbell.c -- sealed doorbell datagrams between hosts, their addresses and sockets; see
 * netbell.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"
#include "netbell.h"
#include "relay_proto.h"
#include "secret.h"
#include "util.h"

#define KEY_LABEL	"aif-netbell-v1"
#define MAGIC		"AFB1"
#define WORDS		(AIF_NETBELL_WINDOW / 64)

struct peer {
	uint64_t	 id;		/* 0: a free slot */
	uint64_t	 top;		/* highest counter accepted */
	uint64_t	 seen_ms;	/* when it was last heard from */
	uint64_t	 win[WORDS];	/* bit d: counter top - d was accepted */
};

#define PROBE		32	/* slots a sender may be found in, from its hash */

static struct {
	pthread_mutex_t	 mu;
	int		 ready;
	unsigned char	 key[AIF_HMAC_LEN];
	uint64_t	 sender;
	uint64_t	 counter;	/* __atomic */
	uint64_t	 refused;	/* __atomic */
	int		 fd4, fd6;	/* unbound sockets that send, made on first use */
	struct peer	 peers[AIF_NETBELL_SENDERS];
} nb = { .mu = PTHREAD_MUTEX_INITIALIZER, .fd4 = -1, .fd6 = -1 };

/* The key and this process's sender id; 0 when no secret is set. */
static int
key_of(unsigned char key[AIF_HMAC_LEN], uint64_t *sender)
{
	int ready;

	pthread_mutex_lock(&nb.mu);
	ready = nb.ready;
	memcpy(key, nb.key, AIF_HMAC_LEN);
	*sender = nb.sender;
	pthread_mutex_unlock(&nb.mu);
	return ready;
}

enum aif_err
aif_netbell_set_secret(const unsigned char *secret, size_t len)
{
	unsigned char key[AIF_HMAC_LEN];
	uint64_t id = 0;

	if (len < AIF_NETBELL_SECRET_MIN)
		return AIF_INVALID;
	if (aif_hmac_sha256(secret, len, KEY_LABEL, sizeof(KEY_LABEL) - 1, NULL, 0,
	    key) != 0)
		return AIF_NOMEM;
	while (id == 0)
		if (aif_random_bytes(&id, sizeof(id)) != AIF_OK)
			return AIF_IO;
	pthread_mutex_lock(&nb.mu);
	memcpy(nb.key, key, sizeof(key));
	nb.sender = id;
	memset(nb.peers, 0, sizeof(nb.peers));
	nb.ready = 1;
	pthread_mutex_unlock(&nb.mu);
	OPENSSL_cleanse(key, sizeof(key));
	return AIF_OK;
}

enum aif_err
aif_netbell_setup(const struct aif_config *cfg, char *why, size_t cap)
{
	unsigned char *raw = NULL;
	size_t len = 0;
	enum aif_err rc;
	char phrase[AIF_SECRET_WHY_MAX];

	if (cfg->cluster.address == NULL)
		return AIF_OK;
	if ((rc = aif_secret_load(cfg->cluster.secret_file, &raw, &len)) != AIF_OK) {
		snprintf(why, cap, "cluster.secret_file: %s %s", cfg->cluster.secret_file,
		    aif_secret_why(cfg->cluster.secret_file, rc, phrase, sizeof(phrase)));
		return AIF_CONFIG;
	}
	rc = aif_netbell_set_secret(raw, len);
	aif_secret_free(raw, len);
	if (rc == AIF_INVALID)
		snprintf(why, cap, "cluster.secret_file: %s holds fewer than %d bytes",
		    cfg->cluster.secret_file, AIF_NETBELL_SECRET_MIN);
	else if (rc != AIF_OK)
		snprintf(why, cap, "cluster.secret_file: cannot derive the key");
	return rc == AIF_OK ? AIF_OK : AIF_CONFIG;
}

int
aif_netbell_is_net(const char *addr)
{
	return addr != NULL &&
	    (strncmp(addr, "udp:", 4) == 0 || strncmp(addr, "tcp:", 4) == 0);
}

int
aif_netbell_sockaddr(const char *addr, struct sockaddr_storage *sa, socklen_t *salen)
{
	char host[INET6_ADDRSTRLEN + 2], *end;
	const char *h, *colon;
	unsigned long port;
	size_t hl;

	if (!aif_netbell_is_net(addr))
		return -1;
	h = addr + 4;
	if (h[0] == '[') {
		if ((colon = strchr(h, ']')) == NULL || colon[1] != ':')
			return -1;
		h++;
		hl = (size_t)(colon - h);
		colon++;
	} else {
		/* an IPv6 address needs its brackets */
		if ((colon = strchr(h, ':')) == NULL || strchr(colon + 1, ':') != NULL)
			return -1;
		hl = (size_t)(colon - h);
	}
	if (hl == 0 || hl >= sizeof(host) || colon[1] < '0' || colon[1] > '9')
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || errno != 0 || port == 0 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)sa)->sin_addr) == 1) {
		((struct sockaddr_in *)sa)->sin_family = AF_INET;
		((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
		*salen = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)sa)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)sa)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
		*salen = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -1;
}

/* A socket of `type` bound at host:port (port 0: a free one) and its address in *sa;
 * -1 on failure. */
static int
bound_socket(const char *host, int type, uint16_t port, struct sockaddr_storage *sa)
{
	socklen_t salen;
	char addr[AIF_NETBELL_ADDR_MAX];
	int fd, one = 1;

	snprintf(addr, sizeof(addr), strchr(host, ':') ? "udp:[%s]:1" : "udp:%s:1", host);
	if (aif_netbell_sockaddr(addr, sa, &salen) != 0)
		return -1;
	if (sa->ss_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
	if ((fd = socket(sa->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (type == SOCK_STREAM)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)sa, salen) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) != 0) ||
	    getsockname(fd, (struct sockaddr *)sa, &salen) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

enum aif_err
aif_netbell_bind(const char *host, char *addr, size_t cap, int *udp_fd, int *tcp_fd)
{
	struct sockaddr_storage sa, tcp;
	int rcvbuf = 1 << 20, t = -1;
	uint16_t port;

	/* a free UDP port, then TCP on the same number: another process may hold that
	 * one for TCP, so a few tries */
	for (int tries = 0; tries < 32; tries++) {
		if ((*udp_fd = bound_socket(host, SOCK_DGRAM, 0, &sa)) < 0)
			break;
		port = ntohs(sa.ss_family == AF_INET ? ((struct sockaddr_in *)&sa)->sin_port :
		    ((struct sockaddr_in6 *)&sa)->sin6_port);
		if (tcp_fd == NULL || (t = bound_socket(host, SOCK_STREAM, port, &tcp)) >= 0)
			break;
		close(*udp_fd);
		*udp_fd = -1;
	}
	/* published as the receiver formats its own address (aif_netbell_hostport) */
	if (*udp_fd < 0 || cap < 5 || aif_netbell_hostport(&sa, addr + 4, cap - 4) != 0) {
		if (*udp_fd >= 0)
			close(*udp_fd);
		if (t >= 0)
			close(t);
		*udp_fd = -1;
		return AIF_IO;
	}
	memcpy(addr, "udp:", 4);
	(void)setsockopt(*udp_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (tcp_fd != NULL)
		*tcp_fd = t;
	return AIF_OK;
}

size_t
aif_netbell_seal(const void *msg, size_t len, const char *to, unsigned char *out,
    size_t cap)
{
	unsigned char mac[AIF_HMAC_LEN], key[AIF_HMAC_LEN];
	uint64_t sender;
	int rc;

	if (cap < AIF_NETBELL_OVERHEAD || len > cap - AIF_NETBELL_OVERHEAD ||
	    !key_of(key, &sender))
		return 0;
	memcpy(out, MAGIC, 4);
	aif_relay_put_u64(out + 4, sender);
	aif_relay_put_u64(out + 12, __atomic_add_fetch(&nb.counter, 1, __ATOMIC_RELAXED));
	aif_relay_put_u64(out + 20, (uint64_t)aif_wall_ms());
	memcpy(out + AIF_NETBELL_HEAD, msg, len);
	/* the receiver's address is signed, not sent: a datagram opens only where it
	 * was sent to */
	rc = aif_hmac_sha256(key, sizeof(key), out, AIF_NETBELL_HEAD + len, to, strlen(to),
	    mac);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc != 0)
		return 0;
	memcpy(out + AIF_NETBELL_HEAD + len, mac, AIF_NETBELL_TAG);
	return AIF_NETBELL_OVERHEAD + len;
}

/* Moves the window of p up by n counters (bit d becomes bit d + n). */
static void
window_shift(struct peer *p, uint64_t n)
{
	size_t ws = (size_t)(n / 64), bs = (size_t)(n % 64);

	if (n >= AIF_NETBELL_WINDOW) {
		memset(p->win, 0, sizeof(p->win));
		return;
	}
	for (size_t i = WORDS; i-- > 0;) {
		uint64_t v = i >= ws ? p->win[i - ws] << bs : 0;
		if (bs != 0 && i > ws)
			v |= p->win[i - ws - 1] >> (64 - bs);
		p->win[i] = v;
	}
}

/* 1 when counter c of sender p is new (and records it), 0 for a replay or one too old. */
static int
window_take(struct peer *p, uint64_t c)
{
	uint64_t d;

	if (c > p->top) {
		window_shift(p, c - p->top);
		p->top = c;
		p->win[0] |= 1;
		return 1;
	}
	if ((d = p->top - c) >= AIF_NETBELL_WINDOW ||
	    (p->win[d / 64] & (UINT64_C(1) << (d % 64))) != 0)
		return 0;
	p->win[d / 64] |= UINT64_C(1) << (d % 64);
	return 1;
}

/* The slot of sender id among the PROBE slots from its hash: its own, else a free one
 * or one not heard from for two skews (a datagram of it that is still fresh cannot be
 * older than its last), else NULL (refused: it costs latency only). Under nb.mu. */
static struct peer *
peer_of(uint64_t id, uint64_t now)
{
	struct peer *spare = NULL;
	size_t h = (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) %
	    AIF_NETBELL_SENDERS;

	for (size_t k = 0; k < PROBE; k++) {
		struct peer *p = &nb.peers[(h + k) % AIF_NETBELL_SENDERS];
		if (p->id == id)
			return p;
		if (spare == NULL && (p->id == 0 ||
		    p->seen_ms + 2 * (uint64_t)AIF_NETBELL_SKEW_MS < now))
			spare = p;
	}
	if (spare != NULL) {
		memset(spare, 0, sizeof(*spare));
		spare->id = id;
	}
	return spare;
}

/* 1 when the datagram's sender and counter are fresh (recorded), 0 otherwise. */
static int
fresh(uint64_t sender, uint64_t counter, uint64_t sent, uint64_t now)
{
	struct peer *p;
	int ok;

	if (sent + AIF_NETBELL_SKEW_MS < now || sent > now + AIF_NETBELL_SKEW_MS ||
	    sender == 0 || counter == 0)
		return 0;
	pthread_mutex_lock(&nb.mu);
	/* a new slot (top 0, empty window) takes its first counter whatever it is */
	if ((ok = (p = peer_of(sender, now)) != NULL && window_take(p, counter)))
		p->seen_ms = now;
	pthread_mutex_unlock(&nb.mu);
	return ok;
}

ssize_t
aif_netbell_open(const unsigned char *in, size_t len, const char *to, char *msg,
    size_t cap)
{
	unsigned char mac[AIF_HMAC_LEN], key[AIF_HMAC_LEN];
	uint64_t self;
	size_t mlen;
	int good;

	good = key_of(key, &self) && len >= AIF_NETBELL_OVERHEAD && memcmp(in, MAGIC, 4) == 0 &&
	    (mlen = len - AIF_NETBELL_OVERHEAD) < cap &&
	    aif_hmac_sha256(key, sizeof(key), in, len - AIF_NETBELL_TAG, to, strlen(to),
	    mac) == 0 &&
	    CRYPTO_memcmp(mac, in + len - AIF_NETBELL_TAG, AIF_NETBELL_TAG) == 0 &&
	    fresh(aif_relay_get_u64(in + 4), aif_relay_get_u64(in + 12),
	    aif_relay_get_u64(in + 20), (uint64_t)aif_wall_ms());
	OPENSSL_cleanse(key, sizeof(key));
	if (!good) {
		__atomic_add_fetch(&nb.refused, 1, __ATOMIC_RELAXED);
		return -1;
	}
	memcpy(msg, in + AIF_NETBELL_HEAD, mlen);
	msg[mlen] = '\0';
	return (ssize_t)mlen;
}

int
aif_netbell_hostport(const struct sockaddr_storage *sa, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (sa->ss_family == AF_INET &&
	    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip)))
		n = snprintf(out, cap, "%s:%u", ip,
		    (unsigned)ntohs(((const struct sockaddr_in *)sa)->sin_port));
	else if (sa->ss_family == AF_INET6 && inet_ntop(AF_INET6,
	    &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip)))
		n = snprintf(out, cap, "[%s]:%u", ip,
		    (unsigned)ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	else
		return -1;
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* The process's sending socket for a family, made on first use; -1 if none. */
static int
sender_for(int family)
{
	int *fd = family == AF_INET ? &nb.fd4 : &nb.fd6, s;

	pthread_mutex_lock(&nb.mu);
	if (*fd < 0)
		*fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s = *fd;
	pthread_mutex_unlock(&nb.mu);
	return s;
}

int
aif_netbell_ring(const char *addr, const void *msg, size_t len)
{
	unsigned char out[4096 + AIF_NETBELL_OVERHEAD];
	struct sockaddr_storage sa;
	socklen_t salen;
	char to[AIF_NETBELL_ADDR_MAX];
	size_t n;
	int fd;

	if (strncmp(addr, "udp:", 4) != 0 || aif_netbell_sockaddr(addr, &sa, &salen) != 0 ||
	    aif_netbell_hostport(&sa, to, sizeof(to)) != 0 ||
	    (n = aif_netbell_seal(msg, len, to, out, sizeof(out))) == 0 ||
	    (fd = sender_for(sa.ss_family)) < 0)
		return -1;
	return sendto(fd, out, n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
	    salen) == (ssize_t)n ? 0 : -1;
}

void
aif_netbell_log_refusal(const char *what, const char *peer)
{
	static int64_t next_ms;		/* racy across threads: at worst two lines */
	int64_t now = aif_now_ms();

	if (now < next_ms)
		return;
	next_ms = now + 60000;
	aif_warn("msg=\"%s refused: not sealed with the cluster secret for this socket, "
	    "stale or replayed\" peer=%s refused_total=%llu", what, peer,
	    (unsigned long long)aif_netbell_refused());
}

uint64_t
aif_netbell_refused(void)
{
	return __atomic_load_n(&nb.refused, __ATOMIC_RELAXED);
}
