/* kind.c -- names of the job kinds, from the X-macro of kind.h. */
#include <string.h>

#include "kind.h"
#include "util.h"

static const struct kind_row {
	enum aif_kind	 kind;
	const char	*name;
	const char	*noun;
} kinds[] = {
#define AIF_KIND_ROW(n, bit, str, noun) { AIF_KIND_##n, str, noun },
	AIF_KIND_MAP(AIF_KIND_ROW)
#undef AIF_KIND_ROW
};

_Static_assert(AIF_NELEM(kinds) == AIF_KIND_COUNT, "one row per kind");

/* The row of `kind`; the first for a value that is not a kind. */
static const struct kind_row *
row_of(enum aif_kind kind)
{
	for (size_t i = 0; i < AIF_KIND_COUNT; i++)
		if (kinds[i].kind == kind)
			return &kinds[i];
	return &kinds[0];
}

const char *
aif_kind_name(enum aif_kind kind)
{
	return row_of(kind)->name;
}

const char *
aif_kind_noun(enum aif_kind kind)
{
	return row_of(kind)->noun;
}

int
aif_kind_parse(const char *name, enum aif_kind *out)
{
	for (size_t i = 0; name != NULL && i < AIF_KIND_COUNT; i++)
		if (strcmp(kinds[i].name, name) == 0) {
			*out = kinds[i].kind;
			return 0;
		}
	return -1;
}

const char *
aif_kind_list(void)
{
#define AIF_KIND_STR(n, bit, str, noun) ", " str
	static const char all[] = AIF_KIND_MAP(AIF_KIND_STR);
#undef AIF_KIND_STR
	return all + 2;
}
