/* unix_addr.c -- Unix sockets by path; see unix_addr.h. */
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unix_addr.h"

int
aif_unix_addr(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(sa->sun_path))
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

enum aif_err
aif_unix_bind(const char *path, int type, int backlog, int *fd, struct aif_unix_file *file)
{
	struct sockaddr_un sa;
	struct stat st;
	int s;

	*fd = -1;
	if (file != NULL)
		memset(file, 0, sizeof(*file));
	if (aif_unix_addr(&sa, path) != 0)
		return AIF_TOOBIG;
	s = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return AIF_IO;
	(void)unlink(path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    ((type == SOCK_STREAM || type == SOCK_SEQPACKET) && listen(s, backlog) != 0)) {
		close(s);
		return AIF_IO;
	}
	(void)chmod(path, 0660);
	if (file != NULL && stat(path, &st) == 0) {
		file->dev = st.st_dev;
		file->ino = st.st_ino;
	}
	*fd = s;
	return AIF_OK;
}

void
aif_unix_unlink_owned(const char *path, const struct aif_unix_file *file)
{
	struct stat st;

	if (path != NULL && file->ino != 0 && stat(path, &st) == 0 &&
	    st.st_dev == file->dev && st.st_ino == file->ino)
		(void)unlink(path);
}
