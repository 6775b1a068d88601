/* netbell.h -- doorbells and relays between hosts (issue 18): when `cluster.address` is
 * set, a process publishes "udp:<address>:<port>" as its doorbell instead of a Unix
 * socket in run_dir, and an aif-api process listens for stream relays on TCP at the same
 * address and port ("tcp:<address>:<port>", aif_relay_path).
 *
 * Every datagram between hosts is sealed with a key derived from the cluster secret
 * (`cluster.secret_file`, the same file on every host):
 *     "AFB1" | u64 sender | u64 counter | u64 time (ms, wall clock) | message | tag
 * where the tag is the first 16 bytes of HMAC-SHA256(key, everything before it). A
 * receiver drops a datagram whose tag is wrong (the tag also covers the receiver's
 * address, which is not sent: a datagram opens only at the socket it was sealed for),
 * whose time is more than AIF_NETBELL_SKEW_MS away from its own clock (hosts keep time
 * with NTP), or whose (sender, counter) it has seen already (a sliding window of
 * AIF_NETBELL_WINDOW counters per sender, in AIF_NETBELL_SENDERS slots kept two skews
 * after a sender's last datagram and found by hash; a new sender whose slots are all
 * taken is refused): a captured datagram replayed is refused, here or anywhere else. A dropped or lost doorbell
 * only costs latency (the waiter's slow poll), never a job. A TCP relay connection
 * starts with one such sealed message ("relay") from the connecting worker, so a
 * recorded connection cannot be replayed either; its frames carry their own per-job
 * tags (relay_proto.h).
 *
 * The state is per process: aif_netbell_setup once at start (thread-safe afterwards). */
#ifndef AIF_NETBELL_H
#define AIF_NETBELL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "config.h"
#include "err.h"

#define AIF_NETBELL_SECRET_MIN	32	/* bytes of cluster.secret_file */
#define AIF_NETBELL_HEAD	28	/* magic, sender, counter, time */
#define AIF_NETBELL_TAG		16
#define AIF_NETBELL_OVERHEAD	(AIF_NETBELL_HEAD + AIF_NETBELL_TAG)
#define AIF_NETBELL_SKEW_MS	30000
#define AIF_NETBELL_WINDOW	1024
#define AIF_NETBELL_SENDERS	1024
#define AIF_NETBELL_ADDR_MAX	64	/* "udp:[ipv6]:port" with its NUL */
#define AIF_NETBELL_HELLO	"relay"

/* Reads cfg->cluster.secret_file when cfg->cluster.address is set and makes this
 * process able to seal and open datagrams; nothing to do otherwise. AIF_OK, or
 * AIF_CONFIG with why (cap bytes) saying what is wrong with the file (never its
 * content). */
enum aif_err	aif_netbell_setup(const struct aif_config *cfg, char *why, size_t cap);

/* Sets the key from a secret directly (tests); AIF_INVALID if shorter than
 * AIF_NETBELL_SECRET_MIN. A new sender id is drawn each time. */
enum aif_err	aif_netbell_set_secret(const unsigned char *secret, size_t len);

/* 1 when addr is a network address ("udp:" or "tcp:"), 0 for a Unix socket path. */
int		aif_netbell_is_net(const char *addr);

/* Parses "udp:<ipv4>:<port>", "udp:[<ipv6>]:<port>" (or "tcp:...") into *sa (*salen
 * set). 0, or -1 when it is not one. */
int		aif_netbell_sockaddr(const char *addr, struct sockaddr_storage *sa,
		    socklen_t *salen);

/* Binds a non-blocking UDP socket at `host` (an IP literal) on a free port and, when
 * tcp_fd is not NULL, a listening TCP socket (backlog 128) on the same port; writes
 * "udp:<host>:<port>" into addr (cap bytes). AIF_OK; AIF_IO (nothing left open). */
enum aif_err	aif_netbell_bind(const char *host, char *addr, size_t cap, int *udp_fd,
		    int *tcp_fd);

/* Seals msg (len bytes), for the receiver at `to` ("<ip>:<port>", aif_netbell_hostport),
 * into out (cap bytes): the datagram's length, or 0 when no secret is set or it does not
 * fit. The tag covers `to` without sending it. */
size_t		aif_netbell_seal(const void *msg, size_t len, const char *to,
		    unsigned char *out, size_t cap);

/* Opens a sealed datagram received at `to` (the receiving socket's own address): its
 * message, NUL-terminated, in msg (cap bytes), and its length; -1 when refused (bad
 * tag, sealed for another receiver, stale time, replay, no secret, too long). Takes a
 * lock on the shared replay window. */
ssize_t		aif_netbell_open(const unsigned char *in, size_t len, const char *to,
		    char *msg, size_t cap);

/* "<ipv4>:<port>" or "[<ipv6>]:<port>" of an address into out (cap bytes). 0 or -1. */
int		aif_netbell_hostport(const struct sockaddr_storage *sa, char *out,
		    size_t cap);

/* Seals msg and sends it to the UDP address `addr` without blocking. 0 or -1. */
int		aif_netbell_ring(const char *addr, const void *msg, size_t len);

/* Says in the log, at most once a minute per process, that a sealed message was
 * refused: `what` names it ("doorbell datagram", "relay connection"), `peer` the other
 * end; never the content. */
void		aif_netbell_log_refusal(const char *what, const char *peer);

/* Datagrams refused since the start (bad tag, stale, replayed): for logs and tests. */
uint64_t	aif_netbell_refused(void);

#endif
