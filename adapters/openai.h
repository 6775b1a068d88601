/* openai.h -- the `openai` adapter: vLLM's OpenAI server, llama.cpp server, Ollama's /v1,
 * TGI's Messages API and any other OpenAI-compatible upstream. */
#ifndef AIF_ADAPTER_OPENAI_H
#define AIF_ADAPTER_OPENAI_H

#include "adapter.h"

extern const struct aif_adapter aif_adapter_openai;

#endif
