/* err.c -- strings for enum aif_err, generated from the same X-macro as the enum. */
#include "err.h"

static const char *const err_strings[] = {
#define AIF_ERR_STR(name, str) str,
	AIF_ERR_MAP(AIF_ERR_STR)
#undef AIF_ERR_STR
};

const char *
aif_strerror(enum aif_err e)
{
	if ((unsigned)e >= AIF_ERR__COUNT)
		return "unknown error";
	return err_strings[e];
}
