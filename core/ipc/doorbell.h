/* doorbell.h -- latency hints between processes over Unix datagram sockets.
 * aif-api rings workers when it enqueued a job; workers ring the aif-api process named
 * in a job's reply_to when the job reached a final state. A lost or refused datagram only
 * costs latency: the database stays the truth and every waiter also polls slowly.
 * An address is a socket path, or "udp:<host>:<port>" between hosts (netbell.h: sealed
 * datagrams; recv drops any that is not).
 * Messages are small text lines: "job <id> [<id> ...]\n" (jobs reached a final state)
 * or "wake\n". Linux queues only net.unix.max_dgram_qlen (often 10) datagrams per
 * socket, so senders batch ids into one datagram and may retry briefly when full. */
#ifndef AIF_DOORBELL_H
#define AIF_DOORBELL_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "unix_addr.h"

#define AIF_DOORBELL_PATH_MAX	108	/* sun_path */
#define AIF_DOORBELL_MSG_MAX	4096

/* Binds a non-blocking datagram socket at `path` (replacing a stale file), mode 0660.
 * On AIF_OK *fd is the socket. AIF_TOOBIG if the path does not fit, AIF_IO otherwise. */
enum aif_err	aif_doorbell_bind(const char *path, int *fd);

/* Opens an unbound non-blocking datagram socket for ringing. Returns the fd or -1. */
int		aif_doorbell_sender(void);

/* Sends msg (len bytes) to the doorbell at `path` without blocking.
 * Returns 0 when sent, -1 otherwise (peer gone, full queue): callers ignore it. */
int		aif_doorbell_ring(int sender_fd, const char *path, const void *msg,
		    size_t len);

/* Like aif_doorbell_ring, but when the receiver's queue is full retries for up to
 * max_wait_ms (1 ms steps) before giving up. For notifications worth a short wait. */
int		aif_doorbell_ring_patient(int sender_fd, const char *path, const void *msg,
		    size_t len, int max_wait_ms);

/* Receives one datagram into buf (cap bytes, NUL-terminated, truncated).
 * Returns its length, 0 when none is pending, -1 on error. */
ssize_t		aif_doorbell_recv(int fd, char *buf, size_t cap);

/* Like aif_doorbell_recv on a Unix doorbell (bound by this module), read straight into
 * buf (cap bytes, NUL-terminated): *own is 1 when the kernel vouches that the sender
 * runs as this process's user (SCM_CREDENTIALS) and the datagram was not cut short,
 * so its content may be believed beyond its first line (handoff.h); else 0. */
ssize_t		aif_doorbell_recv_local(int fd, char *buf, size_t cap, int *own);

/* Closes fd and unlinks path (either may be -1 / NULL). */
void		aif_doorbell_close(int fd, const char *path);

/* The file a doorbell was bound to, so that only its owner removes it. */
struct aif_doorbell_file {
	struct aif_unix_file	 sock;
};

/* This process's doorbell: with `host` (cluster.address), a UDP socket there on a free
 * port and, when relay_fd is not NULL, the TCP stream-relay listener on the same port
 * (netbell.h); with host NULL, the Unix socket at unix_path (*relay_fd -1). The address
 * others ring ("udp:<host>:<port>" or the path) goes to addr (cap bytes); *file records
 * a socket file made (for aif_doorbell_close_owned). AIF_OK, AIF_TOOBIG, AIF_IO. */
enum aif_err	aif_doorbell_open(const char *host, const char *unix_path, char *addr,
		    size_t cap, int *fd, int *relay_fd, struct aif_doorbell_file *file);

/* aif_doorbell_bind, also recording the socket file it created in *file. */
enum aif_err	aif_doorbell_bind_owned(const char *path, int *fd,
		    struct aif_doorbell_file *file);

/* Closes fd, and unlinks path only while it is still the file bound then: a process
 * that took the path over (another instance started by mistake) keeps its socket. */
void		aif_doorbell_close_owned(int fd, const char *path,
		    const struct aif_doorbell_file *file);

#endif
