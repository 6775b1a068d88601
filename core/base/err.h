/* err.h -- the one error enum of the project, with its strings from one X-macro.
 * Values are append-only. Fallible functions return enum aif_err and hand results
 * through out-pointers; on error the out-pointers are NULL and nothing changed. */
#ifndef AIF_ERR_H
#define AIF_ERR_H

#define AIF_ERR_MAP(X)                                   \
	X(OK, "ok")                                      \
	X(NOMEM, "out of memory")                        \
	X(TOOBIG, "input over its limit")                \
	X(INVALID, "invalid input")                      \
	X(DB, "database error")                          \
	X(ENGINE, "engine error")                        \
	X(TIMEOUT, "timed out")                          \
	X(NOTFOUND, "not found")                         \
	X(AUTH, "authentication failed")                 \
	X(FORBIDDEN, "forbidden")                        \
	X(IO, "input/output error")                      \
	X(CONFIG, "configuration error")                 \
	X(CONFLICT, "conflict")                          \
	X(UNAVAILABLE, "temporarily unavailable")

enum aif_err {
#define AIF_ERR_ENUM(name, str) AIF_##name,
	AIF_ERR_MAP(AIF_ERR_ENUM)
#undef AIF_ERR_ENUM
	AIF_ERR__COUNT
};

/* Returns a static string describing `e` (never NULL). */
const char *aif_strerror(enum aif_err e);

#endif
