/* unix_addr.h -- the address of a Unix socket by path, shared by the doorbells and the
 * relays (core/ipc). */
#ifndef AIF_UNIX_ADDR_H
#define AIF_UNIX_ADDR_H

#include <sys/un.h>

/* Fills *sa with an AF_UNIX address for `path`. Returns 0, or -1 when the path is
 * empty or does not fit sun_path (with its NUL). */
int	aif_unix_addr(struct sockaddr_un *sa, const char *path);

#endif /* AIF_UNIX_ADDR_H */
