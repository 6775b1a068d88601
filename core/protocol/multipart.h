/* multipart.h -- a bounded parser of a whole multipart/form-data request body held in
 * memory (RFC 7578 over RFC 2046), as `POST /v1/files` receives it: the official SDKs
 * send the fields `purpose` and `file` (with a filename and a Content-Type), and maybe
 * `expires_after[anchor]` and `expires_after[seconds]`. The body is binary: nothing is
 * read past its length and the data of a part may hold any byte. Parts are described
 * in place (the data is borrowed from the body); nothing is allocated. Thread-safe; no
 * state. */
#ifndef AIF_MULTIPART_H
#define AIF_MULTIPART_H

#include <stddef.h>

#include "err.h"

#define AIF_MP_MAX_PARTS	16	/* parts of a request to /v1/files, at most */
#define AIF_MP_BOUNDARY_MAX	70	/* RFC 2046's limit */
#define AIF_MP_LINE_MAX		1024	/* bytes of a part header line, no CRLF */
#define AIF_MP_HEAD_MAX		8192	/* bytes of a part's header lines, CRLFs in */
/* The buffers of struct aif_mp_part, with their NUL. */
#define AIF_MP_NAME_MAX		128
#define AIF_MP_FILENAME_MAX	256
#define AIF_MP_TYPE_MAX		128

struct aif_mp_part {
	/* the form field name: the name parameter of Content-Disposition */
	char		name[AIF_MP_NAME_MAX];
	/* its filename parameter, "" when none (filename* is ignored); like name, a
	   quoted-string with \" and \\ unescaped (percent-encodings, as browsers and
	   undici write a quote, are kept as sent) */
	char		filename[AIF_MP_FILENAME_MAX];
	/* the part's Content-Type header, "" when none */
	char		content_type[AIF_MP_TYPE_MAX];
	const char	*data;		/* borrowed from the body: len bytes, any */
	size_t		len;
};

/* Parses body[0..len) (borrowed, binary, no NUL needed), the body of a request whose
 * Content-Type header is content_type (NUL-terminated, borrowed): multipart/form-data
 * with a boundary parameter (quoted or not; type and parameter names
 * case-insensitive; 1..AIF_MP_BOUNDARY_MAX characters of RFC 2046). The preamble
 * before the first boundary line and the epilogue after the closing one are ignored;
 * a body of the closing boundary only has no parts (AIF_OK, *n 0), an empty one is
 * refused.
 * Each part needs `Content-Disposition: form-data` with a name parameter; a value that
 * does not fit its buffer in struct aif_mp_part is an error, not cut.
 * Fills parts[0..*n) (cap entries; more parts is an error); their data points into
 * body. Returns AIF_OK with *why NULL, or AIF_INVALID with *why (when why is not NULL)
 * a short static English reason ("the closing boundary is missing"); on failure *n
 * is 0 and parts[0..cap) may have been written. */
enum aif_err	aif_multipart_parse(const char *content_type, const char *body,
		    size_t len, struct aif_mp_part *parts, size_t cap, size_t *n,
		    const char **why);

/* The first of parts[0..n) named name (NUL-terminated; exact bytes), or NULL.
 * Borrowed from parts. */
const struct aif_mp_part *aif_multipart_find(const struct aif_mp_part *parts,
		    size_t n, const char *name);

#endif
