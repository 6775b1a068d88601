/* unix_addr.h -- Unix sockets by path, shared by the doorbells and the relays (core/ipc):
 * the address of a path, binding a socket there, and removing its file only while it is
 * still the one this process bound. */
#ifndef AIF_UNIX_ADDR_H
#define AIF_UNIX_ADDR_H

#include <sys/types.h>
#include <sys/un.h>

#include "err.h"

/* Fills *sa with an AF_UNIX address for `path`. Returns 0, or -1 when the path is
 * empty or does not fit sun_path (with its NUL). */
int	aif_unix_addr(struct sockaddr_un *sa, const char *path);

/* The socket file a bind created, so that only its owner removes it. */
struct aif_unix_file {
	dev_t	 dev;
	ino_t	 ino;		/* 0: unknown (never removed) */
};

/* Binds a non-blocking, close-on-exec Unix socket of `type` (SOCK_DGRAM, SOCK_STREAM)
 * at `path`, replacing a stale file, mode 0660; a stream or seqpacket socket listens
 * with `backlog`.
 * On AIF_OK *fd is the socket and *file (when not NULL) the file it made. AIF_TOOBIG
 * when the path does not fit, AIF_IO otherwise (*fd is -1 then). */
enum aif_err	aif_unix_bind(const char *path, int type, int backlog, int *fd,
		    struct aif_unix_file *file);

/* Unlinks path only while it is still `file` (a process that took the path over, such
 * as another instance started by mistake, keeps its socket). */
void		aif_unix_unlink_owned(const char *path, const struct aif_unix_file *file);

#endif /* AIF_UNIX_ADDR_H */
