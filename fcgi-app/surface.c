/* surface.c -- answers in the API surface the client speaks (struct reply.surface):
 * OpenAI's as the job stored them; Anthropic's Messages (core/protocol/anthropic.h)
 * and OpenAI's Responses (core/protocol/responses.h, from the Response the admission
 * put in reply.meta) converted from the stored chat completion; a surface an engine
 * serves itself (reply.native) as the engine answered. Streams are converted
 * chunk by chunk by the stream thread (streams.c). */
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "api.h"
#include "responses.h"

void
reply_answer(struct reply *rp, const char *body, size_t len)
{
	json_t *completion, *out;

	if (rp->surface == AIF_SURFACE_OPENAI || rp->native) {
		reply_send(rp, 200, NULL, body, len);
		return;
	}
	if (rp->surface == AIF_SURFACE_RESPONSES && rp->meta == NULL) {
		REFUSE0(rp, AIF_E_NOT_ANSWERED, NULL);	/* admission always sets it */
		return;
	}
	completion = json_loadb(body, len, 0, NULL);
	if (rp->surface == AIF_SURFACE_RESPONSES) {
		out = completion != NULL ? json_deep_copy(rp->meta) : NULL;
		if (out != NULL)
			aif_resp_complete(out, completion);
	} else {
		out = completion != NULL ? aif_anth_message(completion, rp->job_id) : NULL;
	}
	json_decref(completion);
	if (out == NULL) {
		REFUSE0(rp, AIF_E_OUT_OF_MEMORY, NULL);
		return;
	}
	reply_json(rp, 200, NULL, out);
	json_decref(out);
}
