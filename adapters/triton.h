/* triton.h -- the `triton` adapter: NVIDIA Triton / KServe v2 (POST
 * /v2/models/{m}/infer, and Triton's generate extension /generate, /generate_stream;
 * docs/ADAPTERS.md). Tensor names and the mode come from the model's `triton:`
 * section (the adapter's options, triton.c). */
#ifndef AIF_ADAPTER_TRITON_H
#define AIF_ADAPTER_TRITON_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"

extern const struct aif_adapter aif_adapter_triton;

/* The approximate token count the adapter reports for Triton, which counts none: a
 * maximal run of ASCII letters, digits, '_' and non-ASCII bytes is one token, every
 * other non-space character is one more. `s` is borrowed, n bytes. */
int64_t	aif_triton_count_tokens(const char *s, size_t n);

#endif
