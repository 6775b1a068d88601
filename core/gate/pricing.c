/* pricing.c -- integer cost arithmetic; see pricing.h. */
#include "pricing.h"

int64_t
aif_price_micros(const struct aif_pricing *p, int64_t prompt_tokens,
    int64_t completion_tokens)
{
	__int128 in = prompt_tokens > 0 ? prompt_tokens : 0;
	__int128 out = completion_tokens > 0 ? completion_tokens : 0;
	__int128 ip = p->input_per_mtok > 0 ? p->input_per_mtok : 0;
	__int128 op = p->output_per_mtok > 0 ? p->output_per_mtok : 0;
	__int128 total = in * ip + out * op;
	__int128 cost = (total + 999999) / 1000000;

	if (cost > INT64_MAX)
		return INT64_MAX;
	return (int64_t)cost;
}
