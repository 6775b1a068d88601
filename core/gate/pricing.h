/* pricing.h -- cost of a job in integer micro-units of currency from the model's YAML
 * prices (micro-units per million tokens). No floating point touches money. */
#ifndef AIF_PRICING_H
#define AIF_PRICING_H

#include <stdint.h>

#include "config.h"

/* Returns ceil((prompt * input_per_mtok + completion * output_per_mtok) / 1e6),
 * computed exactly in 128-bit arithmetic; negative token counts count as 0 and the
 * result saturates at INT64_MAX. */
int64_t	aif_price_micros(const struct aif_pricing *p, int64_t prompt_tokens,
	    int64_t completion_tokens);

#endif
