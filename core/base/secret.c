/* secret.c -- secrets read from files; see secret.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secret.h"

enum aif_err
aif_secret_load(const char *path, unsigned char **out, size_t *len)
{
	unsigned char	 buf[AIF_SECRET_MAX + 1];
	struct stat	 st;
	size_t		 have = 0;
	ssize_t		 n;
	int		 fd;
	enum aif_err	 rc = AIF_OK;

	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO in its place must not hang startup; no effect on files. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1)
		return AIF_IO;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		rc = AIF_IO;
		goto out;
	}
	while (have < sizeof(buf)) {
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = AIF_IO;
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have == 0 || have > AIF_SECRET_MAX) {
		rc = AIF_INVALID;
		goto out;
	}
	if ((*out = malloc(have)) == NULL) {
		rc = AIF_NOMEM;
		goto out;
	}
	memcpy(*out, buf, have);
	*len = have;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

void
aif_secret_free(unsigned char *secret, size_t len)
{
	if (secret == NULL)
		return;
	OPENSSL_cleanse(secret, len);
	free(secret);
}
