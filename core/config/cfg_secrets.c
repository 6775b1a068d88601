/* cfg_secrets.c -- the secret files a configuration names, read or checked through the
 * one loader (core/base/secret.h): engine credentials into the replicas for aif-worker,
 * and every other secret file for `aifctl config check` (see aif_cfg_load_secrets in
 * config.h). Messages name the key, the path and what is wrong, never the content. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "secret.h"

/* Where the problems go: the caller's buffer, one line each. */
struct report {
	const char	*file;		/* cfg->path */
	char		*buf;
	size_t		 cap, used;
	unsigned	 n;
};

static void	problem(struct report *, int, int, const char *, ...)
		    __attribute__((format(printf, 4, 5)));

/* Appends "file:line:column: message" (or "file: message" with line 0); cut to fit. */
static void
problem(struct report *r, int line, int column, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;
	int	 n;

	r->n++;
	if (r->buf == NULL || r->cap == 0 || r->used + 1 >= r->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (line > 0)
		n = snprintf(r->buf + r->used, r->cap - r->used, "%s%s:%d:%d: %s",
		    r->used > 0 ? "\n" : "", r->file, line, column, msg);
	else
		n = snprintf(r->buf + r->used, r->cap - r->used, "%s%s: %s",
		    r->used > 0 ? "\n" : "", r->file, msg);
	if (n < 0 || (size_t)n >= r->cap - r->used)
		r->used = r->cap - 1;
	else
		r->used += (size_t)n;
}

/* 1 when the key is one line of printable ASCII (what an HTTP header can carry):
 * 0x20..0x7e, neither starting nor ending with a space. */
static int
header_value_ok(const unsigned char *s, size_t len)
{
	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* Reads replica r's credential (model i, replica k). Returns AIF_NOMEM or AIF_OK. */
static enum aif_err
load_key(struct report *rep, size_t i, size_t k, struct aif_replica *r)
{
	unsigned char	*raw = NULL;
	size_t		 len = 0, line;
	char		 why[AIF_SECRET_WHY_MAX];
	enum aif_err	 rc;

	aif_secret_free(r->api_key, r->api_key_len);
	r->api_key = NULL;
	r->api_key_len = 0;
	if ((rc = aif_secret_load(r->api_key_file, &raw, &len)) == AIF_NOMEM)
		return rc;
	if (rc != AIF_OK) {
		problem(rep, r->api_key_line, r->api_key_column,
		    "models[%zu].replicas[%zu].api_key_file: %s %s", i, k, r->api_key_file,
		    aif_secret_why(r->api_key_file, rc, why, sizeof(why)));
		return AIF_OK;
	}
	line = aif_secret_line_len(raw, len);
	if (!header_value_ok(raw, line)) {
		problem(rep, r->api_key_line, r->api_key_column,
		    "models[%zu].replicas[%zu].api_key_file: %s must hold one line of "
		    "printable ASCII (it is sent in an HTTP header): it has a line break, a "
		    "control character, a byte over 0x7e or a space at an end", i, k,
		    r->api_key_file);
		aif_secret_free(raw, len);
		return AIF_OK;
	}
	/* the trailing newline is not sent; it is not wiped either (it is no secret) */
	r->api_key = raw;
	r->api_key_len = line;
	return AIF_OK;
}

/* Reads the secret file `path` of key `what` to check it, and wipes it. */
static enum aif_err
check_file(struct report *rep, const char *what, const char *path)
{
	unsigned char	*raw = NULL;
	size_t		 len = 0;
	char		 why[AIF_SECRET_WHY_MAX];
	enum aif_err	 rc;

	if (path == NULL)
		return AIF_OK;
	if ((rc = aif_secret_load(path, &raw, &len)) == AIF_NOMEM)
		return rc;
	if (rc != AIF_OK)
		problem(rep, 0, 0, "%s: %s %s", what, path,
		    aif_secret_why(path, rc, why, sizeof(why)));
	aif_secret_free(raw, len);
	return AIF_OK;
}

enum aif_err
aif_cfg_load_secrets(struct aif_config *cfg, unsigned flags, char *errbuf, size_t errlen)
{
	struct report	 rep = { cfg->path, errbuf, errlen, 0, 0 };
	enum aif_err	 rc = AIF_OK;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	for (size_t i = 0; i < cfg->nmodels && rc == AIF_OK; i++)
		for (size_t k = 0; k < cfg->models[i].nreplicas && rc == AIF_OK; k++)
			if (cfg->models[i].replicas[k].api_key_file != NULL)
				rc = load_key(&rep, i, k, &cfg->models[i].replicas[k]);
	if (rc == AIF_OK && (flags & AIF_CFG_SECRETS_ALL)) {
		rc = check_file(&rep, "database.password_file",
		    cfg->database.password_file);
		if (rc == AIF_OK)
			rc = check_file(&rep, "auth.pepper_file", cfg->auth.pepper_file);
		if (rc == AIF_OK && cfg->pii.uses_hash)	/* read only then */
			rc = check_file(&rep, "pii.hash_key_file", cfg->pii.hash_key_file);
	}
	if (rc == AIF_NOMEM) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: out of memory", cfg->path);
		return rc;
	}
	return rep.n > 0 ? AIF_CONFIG : AIF_OK;
}
