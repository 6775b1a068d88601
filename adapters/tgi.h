/* tgi.h -- the `tgi` adapter: Hugging Face text-generation-inference's native API
 * (POST /generate, /generate_stream; docs/ADAPTERS.md). Chat requests are
 * rendered to a prompt with the model's chat_template (chat_template.h). */
#ifndef AIF_ADAPTER_TGI_H
#define AIF_ADAPTER_TGI_H

#include "adapter.h"

extern const struct aif_adapter aif_adapter_tgi;

#endif
