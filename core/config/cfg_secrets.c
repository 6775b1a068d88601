/* cfg_secrets.c -- the secret files a configuration names, read or checked through the
 * one loader (core/base/secret.h): engine credentials into the replicas for aif-worker,
 * and every other secret file for `aifctl config check` (see aif_cfg_load_secrets in
 * config.h). Messages name the key, the path and what is wrong, never the content. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pii_types.h"
#include "secret.h"
#include "walk.h"

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
load_key(struct loader *ld, size_t i, size_t k, struct aif_replica *r)
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
		aif_walk_error_line(ld, r->api_key_line, r->api_key_column,
		    "models[%zu].replicas[%zu].api_key_file: %s %s", i, k, r->api_key_file,
		    aif_secret_why(r->api_key_file, rc, why, sizeof(why)));
		return AIF_OK;
	}
	line = aif_secret_line_len(raw, len);
	if (!header_value_ok(raw, line)) {
		aif_walk_error_line(ld, r->api_key_line, r->api_key_column,
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
check_file(struct loader *ld, const char *what, const char *path)
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
		aif_walk_error_plain(ld, "%s: %s %s", what, path,
		    aif_secret_why(path, rc, why, sizeof(why)));
	aif_secret_free(raw, len);
	return AIF_OK;
}

/* The secret header files of workflow w's http steps and compensations, each checked
 * as check_file does ("workflows[i].steps.<step>.headers.<name>: <path> <why>"). */
static enum aif_err
check_workflow_files(struct loader *ld, size_t i, const struct aif_workflow *w)
{
	const char *step, *name;
	json_t *d, *h, *v;
	char what[AIF_CFG_MAX_PATH + 128];
	enum aif_err rc = AIF_OK;

	json_object_foreach(json_object_get(w->def, "steps"), step, d) {
		for (int comp = 0; comp < 2 && rc == AIF_OK; comp++) {
			h = json_object_get(comp ? json_object_get(d, "compensation") : d,
			    "headers");
			json_object_foreach(h, name, v) {
				const char *file = json_string_value(json_object_get(v, "file"));
				if (file == NULL)
					continue;
				snprintf(what, sizeof(what), "workflows[%zu].steps.%s.%sheaders.%s",
				    i, step, comp ? "compensation." : "", name);
				if ((rc = check_file(ld, what, file)) != AIF_OK)
					break;
			}
		}
		if (rc != AIF_OK)
			break;
	}
	return rc;
}

enum aif_err
aif_pii_hash_key_read(const struct aif_config *cfg, unsigned char **key, size_t *len,
    const char **what, char *why, size_t cap)
{
	const char	*path = cfg->pii.hash_key_file != NULL ? cfg->pii.hash_key_file :
			    cfg->auth.pepper_file;
	char		 phrase[AIF_SECRET_WHY_MAX];
	enum aif_err	 rc;

	*key = NULL;
	*len = 0;
	*what = cfg->pii.hash_key_file != NULL ? "pii.hash_key_file" :
	    "auth.pepper_file (pii hash key)";
	if (path == NULL) {
		snprintf(why, cap, "is not set: the hash action needs a key");
		return AIF_IO;
	}
	if ((rc = aif_secret_load(path, key, len)) != AIF_OK) {
		snprintf(why, cap, "%s %s", path, aif_secret_why(path, rc, phrase,
		    sizeof(phrase)));
		return rc;
	}
	if (*len < AIF_PII_HASH_KEY_MIN) {
		aif_secret_free(*key, *len);
		*key = NULL;
		*len = 0;
		snprintf(why, cap, "%s is shorter than %d bytes: a hash key needs %d to "
		    "%d", path, AIF_PII_HASH_KEY_MIN, AIF_PII_HASH_KEY_MIN, AIF_SECRET_MAX);
		return AIF_INVALID;
	}
	return AIF_OK;
}

/* The hash action's key, as the servers read it (aif_pii_hash_key_read), then wiped;
 * a problem points at pii.hash_key_file, else at the first hash action. */
static enum aif_err
check_hash_key(struct loader *ld, const struct aif_config *cfg)
{
	unsigned char	*raw = NULL;
	size_t		 len = 0;
	const char	*what;
	char		 why[AIF_PII_KEY_WHY_MAX];
	enum aif_err	 rc;

	rc = aif_pii_hash_key_read(cfg, &raw, &len, &what, why, sizeof(why));
	if (rc == AIF_NOMEM)
		return rc;
	if (rc != AIF_OK)
		aif_walk_error_line(ld, cfg->pii.hash_line, cfg->pii.hash_column,
		    "%s: %s", what, why);
	aif_secret_free(raw, len);
	return AIF_OK;
}

enum aif_err
aif_cfg_load_secrets(struct aif_config *cfg, unsigned flags, char *errbuf, size_t errlen)
{
	struct loader	 ld;
	int		 pepper_is_key = cfg->pii.uses_hash &&
			    cfg->pii.hash_key_file == NULL;
	unsigned	 before;
	enum aif_err	 rc = AIF_OK;

	aif_walk_errors(&ld, cfg->path, errbuf, errlen);
	for (size_t i = 0; i < cfg->nmodels && rc == AIF_OK; i++)
		for (size_t k = 0; k < cfg->models[i].nreplicas && rc == AIF_OK; k++)
			if (cfg->models[i].replicas[k].api_key_file != NULL)
				rc = load_key(&ld, i, k, &cfg->models[i].replicas[k]);
	if (rc == AIF_OK && (flags & AIF_CFG_SECRETS_ALL)) {
		rc = check_file(&ld, "database.password_file",
		    cfg->database.password_file);
		before = ld.nerrors;
		if (rc == AIF_OK)
			rc = check_file(&ld, "auth.pepper_file", cfg->auth.pepper_file);
		if (rc == AIF_OK && cfg->cluster.address != NULL)
			rc = check_file(&ld, "cluster.secret_file", cfg->cluster.secret_file);
		/* read only then; a pepper that cannot be read is named once, as itself */
		if (rc == AIF_OK && cfg->pii.uses_hash &&
		    !(pepper_is_key && ld.nerrors > before))
			rc = check_hash_key(&ld, cfg);
		for (size_t i = 0; i < cfg->nworkflows && rc == AIF_OK; i++)
			rc = check_workflow_files(&ld, i, &cfg->workflows[i]);
	}
	if (rc == AIF_NOMEM) {
		aif_walk_errors(&ld, cfg->path, errbuf, errlen);
		aif_walk_error_plain(&ld, "out of memory");
		return rc;
	}
	return ld.nerrors > 0 ? AIF_CONFIG : AIF_OK;
}
