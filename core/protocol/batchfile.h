/* batchfile.h -- a Batch API input file (OpenAI's JSONL, one request per line:
 * {"custom_id", "method": "POST", "url", "body"}), checked line by line at upload, and
 * the line of a batch being fed (docs/BATCH.md). Every problem names its line; the
 * first few go into one message. Thread-safe; no state. */
#ifndef AIF_BATCHFILE_H
#define AIF_BATCHFILE_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "kind.h"
#include "oai.h"

#define AIF_FILE_ID_LEN		29	/* "file-" + 24 */
#define AIF_BATCH_ID_LEN	30	/* "batch_" + 24 */
#define AIF_CUSTOM_ID_MAX	512	/* bytes of a line's custom_id */
#define AIF_FILENAME_MAX	255
#define AIF_BATCH_ENDPOINT_MAX	32

/* One line of a file: its bytes with the line break (borrowed) and a batch input
 * line's custom_id (borrowed, or NULL). */
struct aif_file_line {
	const char	*raw;
	size_t		 len;
	const char	*custom_id;
};

/* How many problems one refusal lists (the rest are counted). */
#define AIF_BATCHFILE_PROBLEMS	5

/* What the caller checks of each line's body beyond its shape: its model exists, may
 * be used by the uploader and serves `kind`. Returns 0, or -1 with a reason written to
 * why (cap bytes; e.g. `model "x" does not exist`). */
typedef int	(*aif_batchfile_model_fn)(void *arg, const char *model, enum aif_kind kind,
		    char *why, size_t cap);

/* A checked input file: its lines (raw borrowed from the data, each with its line
 * break; custom_id owned: the const is for the writer), the url they share and its kind. */
struct aif_batchfile {
	struct aif_file_line	*lines;		/* new */
	size_t			 n;
	char			 endpoint[AIF_BATCH_ENDPOINT_MAX + 1];
	enum aif_kind		 kind;
};

/* Checks data[0..len) (borrowed, may hold any bytes): at most max_lines lines; each a
 * JSON object with a custom_id (a non-empty string of at most AIF_CUSTOM_ID_MAX bytes,
 * unique in the file), method "POST", url /v1/chat/completions, /v1/completions or
 * /v1/embeddings (the same on every line), and a body that is a valid request of that
 * url (oai.h, within lim) without "stream": true, whose model passes model_ok. A final
 * line break is optional; CRLF is kept as it came. AIF_OK and *out filled (free with
 * aif_batchfile_free), or AIF_INVALID with the problems in why (cap bytes), or
 * AIF_NOMEM. */
enum aif_err	aif_batchfile_check(const char *data, size_t len, int max_lines,
		    const struct aif_oai_limits *lim, aif_batchfile_model_fn model_ok,
		    void *arg, struct aif_batchfile *out, char *why, size_t cap);
void		aif_batchfile_free(struct aif_batchfile *f);

/* The kind of a batch url, or 0 when it is not one a batch takes. */
enum aif_kind	aif_batchfile_kind(const char *url);

/* The body of one stored line (raw, len bytes) as JSON text (new, *blen set), or NULL
 * when the line is not what the upload checked (never, unless the row was changed). */
char		*aif_batchfile_body(const char *raw, size_t len, size_t *blen);

#endif
