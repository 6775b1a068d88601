/* kind.h -- the kinds of work a job is, defined once: the enum, the name stored in
 * jobs.kind and written in YAML models[].kinds, and the words error messages use.
 * Thread-safe; no state. */
#ifndef AIF_KIND_H
#define AIF_KIND_H

/* X(NAME, bit, "stored name", "what a model serves") */
#define AIF_KIND_MAP(X)							\
	X(CHAT, 1u << 0, "chat", "chat completion")			\
	X(COMPLETION, 1u << 1, "completion", "completion")		\
	X(EMBEDDING, 1u << 2, "embedding", "embeddings")			\
	X(RERANK, 1u << 3, "rerank", "rerank")				\
	X(SCORE, 1u << 4, "score", "score")				\
	X(TOKENIZE, 1u << 5, "tokenize", "tokenize")			\
	X(DETOKENIZE, 1u << 6, "detokenize", "detokenize")		\
	X(RESPONSES, 1u << 7, "responses", "native Responses API")	\
	X(MESSAGES, 1u << 8, "messages", "native Messages API")

/* Every kind, as a mask. */
#define AIF_KIND_BIT(name, bit, str, noun)	| (bit)
#define AIF_KIND_ALL	(0u AIF_KIND_MAP(AIF_KIND_BIT))

/* The API surfaces an engine may serve itself (docs/ADAPTERS.md "Pass-through"): a
 * model listing one gets the surface's requests as they came (masked), not bridged
 * through chat completions; its answers and events are the engine's. */
#define AIF_KIND_SURFACES	(AIF_KIND_RESPONSES | AIF_KIND_MESSAGES)

/* The kinds that generate text (streams, completion limits, choices). */
#define AIF_KIND_GENERATES	(AIF_KIND_CHAT | AIF_KIND_COMPLETION | AIF_KIND_SURFACES)

/* A kind is one bit, so that a model's kinds are a mask (struct aif_model.kinds). */
enum aif_kind {
#define AIF_KIND_ENUM(name, bit, str, noun) AIF_KIND_##name = (int)(bit),
	AIF_KIND_MAP(AIF_KIND_ENUM)
#undef AIF_KIND_ENUM
};

/* How many kinds there are. */
enum {
#define AIF_KIND_PLUS1(name, bit, str, noun) + 1
	AIF_KIND_COUNT = 0 AIF_KIND_MAP(AIF_KIND_PLUS1)
#undef AIF_KIND_PLUS1
};

/* "chat", "completion", "embedding", "rerank", "score", "tokenize", "detokenize",
 * "responses" or "messages": the name in jobs.kind and in YAML. Static,
 * never NULL ("chat" for a value that is not a kind). */
const char	*aif_kind_name(enum aif_kind kind);

/* "chat completion", "completion", "embeddings": what a model serving the kind serves,
 * for messages. Static, never NULL. */
const char	*aif_kind_noun(enum aif_kind kind);

/* Parses a stored or YAML name. Returns 0 with *out set, or -1 for an unknown name
 * (*out untouched). */
int		 aif_kind_parse(const char *name, enum aif_kind *out);

/* The names of every kind, comma-separated ("chat, completion, embedding"), for
 * messages. Static. */
const char	*aif_kind_list(void);

#endif
