/* secret.c -- secrets read from files; see secret.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secret.h"

#define SECRET_OPEN_MODES	(S_IRWXG | S_IRWXO)	/* none allowed: 0600 at most */

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
	/* fstat of what was opened: no race between the check and the read */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		rc = AIF_IO;
		goto out;
	}
	if (st.st_mode & SECRET_OPEN_MODES) {
		rc = AIF_FORBIDDEN;
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

const char *
aif_secret_why(const char *path, enum aif_err rc, char *buf, size_t cap)
{
	struct stat	 st;

	if (cap == 0)
		return buf;
	switch (rc) {
	case AIF_OK:
		snprintf(buf, cap, "is usable");
		break;
	case AIF_FORBIDDEN:
		/* the mode again, for the message only */
		if (path != NULL && stat(path, &st) == 0)
			snprintf(buf, cap, "is readable or writable by group or others "
			    "(mode %04o): chmod 600 it", (unsigned)(st.st_mode & 07777));
		else
			snprintf(buf, cap, "is readable or writable by group or others: "
			    "chmod 600 it");
		break;
	case AIF_INVALID:
		snprintf(buf, cap, "is empty or longer than %d bytes", AIF_SECRET_MAX);
		break;
	case AIF_NOMEM:
		snprintf(buf, cap, "cannot be read: out of memory");
		break;
	default:
		snprintf(buf, cap, "cannot be read (missing, unreadable, or not a regular "
		    "file)");
		break;
	}
	return buf;
}

size_t
aif_secret_line_len(const unsigned char *s, size_t len)
{
	if (len > 0 && s[len - 1] == '\n') {
		len--;
		if (len > 0 && s[len - 1] == '\r')
			len--;
	}
	return len;
}

void
aif_secret_free(unsigned char *secret, size_t len)
{
	if (secret == NULL)
		return;
	OPENSSL_cleanse(secret, len);
	free(secret);
}
