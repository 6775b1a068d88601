/* fuzz_upload.c -- libFuzzer target for what POST /v1/files reads: the multipart form
 * (aif_multipart_parse, core/protocol/multipart.h) and the batch input file in it, checked
 * line by line (aif_batchfile_check, batchfile.h), and a stored line's body read back
 * (aif_batchfile_body). The first input byte picks: even, the rest is a multipart body
 * under boundary "B" whose `file` part is then checked; odd, the rest is checked as the
 * file itself. Checks: no crash or leak; every part lies inside the body; an accepted
 * file's lines cover it exactly, in order, each with a custom_id; a refusal says why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchfile.h"
#include "multipart.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const struct aif_oai_limits lim = { .max_body_bytes = 1 << 20, .max_depth = 64,
	.max_messages = 2048, .max_string_bytes = 1 << 20 };

/* Models "m" (chat, completions) and "e" (embeddings) exist. */
static int
model_ok(void *arg, const char *model, enum aif_kind kind, char *why, size_t cap)
{
	(void)arg;
	if ((strcmp(model, "m") == 0 && kind != AIF_KIND_EMBEDDING) ||
	    (strcmp(model, "e") == 0 && kind == AIF_KIND_EMBEDDING))
		return 0;
	snprintf(why, cap, "model \"%.64s\" does not exist", model);
	return -1;
}

static void
check_file(const char *data, size_t len)
{
	struct aif_batchfile f;
	char why[2048];
	size_t at = 0;

	if (aif_batchfile_check(data, len, 1000, &lim, model_ok, NULL, &f, why,
	    sizeof(why)) != AIF_OK) {
		if (why[0] == '\0')
			abort();	/* a refusal says why */
		return;
	}
	for (size_t i = 0; i < f.n; i++) {
		size_t blen = 0;
		char *body;
		if (f.lines[i].raw != data + at || f.lines[i].custom_id == NULL ||
		    f.lines[i].custom_id[0] == '\0')
			abort();
		at += f.lines[i].len;
		if ((body = aif_batchfile_body(f.lines[i].raw, f.lines[i].len, &blen)) == NULL)
			abort();	/* an accepted line has a body to feed */
		free(body);
	}
	if (at != len)
		abort();
	aif_batchfile_free(&f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	struct aif_mp_part parts[AIF_MP_MAX_PARTS];
	const struct aif_mp_part *file;
	const char *body = (const char *)in + 1, *why = NULL;
	size_t len = n > 0 ? n - 1 : 0, np = 0;

	if (n == 0)
		return 0;
	if (in[0] & 1) {
		check_file(body, len);
		return 0;
	}
	if (aif_multipart_parse("multipart/form-data; boundary=B", body, len, parts,
	    AIF_MP_MAX_PARTS, &np, &why) != AIF_OK) {
		if (why == NULL)
			abort();
		return 0;
	}
	for (size_t i = 0; i < np; i++)
		if (parts[i].data < body || parts[i].data + parts[i].len > body + len)
			abort();
	if ((file = aif_multipart_find(parts, np, "file")) != NULL)
		check_file(file->data, file->len);
	return 0;
}
