/* config.h -- the YAML configuration (libyaml), loaded once, validated strictly and
 * immutable afterwards. Unknown keys, wrong types, out-of-range values and missing
 * required fields are errors reported as `file:line:column: message`; every error in
 * the file is collected before the load fails. Scalars may use ${NAME} and
 * ${NAME:-default} environment expansion (before type conversion), so the one checked-in
 * config/aif.yaml serves both `make up` and `make test`.
 * Reload (SIGHUP) builds a new struct aif_config and swaps it; nothing here is shared. */
#ifndef AIF_CONFIG_H
#define AIF_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "kind.h"

struct aif_replica {
	char	*url;		/* base URL, e.g. http://127.0.0.1:9101 (required) */
	int	 max_in_flight;	/* 1..4096, default 64 */
	char	*api_key_file;	/* the engine's credential (a secret file,
				   core/base/secret.h), or NULL: none sent */
	char	*api_key_header; /* NULL: sent as "Authorization: Bearer <key>" (vLLM
				   --api-key, OpenAI-compatible servers); else a header
				   name (RFC 9110 token), sent as "<name>: <key>" */
	int	 api_key_line, api_key_column; /* of api_key_file (1-based) */
	unsigned char *api_key;	/* the credential, read by aif_cfg_load_secrets (one
				   line: printable ASCII, no trailing newline); NULL
				   until then, and in programs that never call it */
	size_t	 api_key_len;
};

struct aif_pricing {		/* integer micro-units of currency per million tokens */
	int64_t	 input_per_mtok;	/* >= 0, default 0 */
	int64_t	 output_per_mtok;	/* >= 0, default 0 */
};

/* Temporal-style retry policy of a model's engine calls (YAML models[].retry). */
struct aif_retry_policy {
	int	 initial_interval_ms;	/* "500ms", "1s", ... at most 1h; default 500ms */
	int	 backoff_coefficient_pct; /* "2.0" -> 200; 100..1000, default 200 */
	int	 maximum_interval_ms;	/* at most 1d; default 10s */
	int	 maximum_attempts;	/* 1..100; default queue.max_attempts */
	unsigned non_retryable;		/* mask of AIF_FAILCLASS_* never retried */
	int	 jitter_pct;		/* +-, "0.1" -> 10; 0..100, default 10 */
	char	**non_retryable_names;	/* as written in YAML (owned) */
	size_t	 nnon_retryable;
};

/* Failure classes a retry policy can name in non_retryable. */
#define AIF_FAILCLASS_RETRYABLE	(1u << 0)	/* transport errors, 5xx */
#define AIF_FAILCLASS_OVERLOADED (1u << 1)	/* 429/503 from the engine */
#define AIF_FAILCLASS_TIMEOUT	(1u << 2)	/* engine call timed out */

/* models[].compensations[]: an HTTP call that undoes a side effect of the job (saga),
 * run in reverse order of declaration when the job fails for good. */
struct aif_compensation {
	char	*name;		/* required */
	char	*url;		/* required, http:// or https:// */
	char	*method;	/* POST (default), PUT, DELETE, GET */
	char	*body;		/* template: {job_id} {public_id} {model} {api_key_id}
				   {tenant}; default a JSON object of them */
	int	 timeout_ms;	/* 100..60000, default 5000 */
	struct aif_retry_policy retry;	/* maximum_attempts 0 (default): until done */
};

/* One setting of a model's adapter section, as written (after ${ENV} expansion). */
struct aif_cfg_option {
	char	*key;
	char	*value;
	int	 line, column;	/* of the value (1-based), for messages */
};

struct aif_model {
	char	*id;		/* public model id clients send (required, unique) */
	char	*adapter;	/* "openai" (required; which names are valid is the
				   adapters' business: struct aif_cfg_adapters) */
	char	*engine;	/* free-form engine label for usage rows, default = adapter */
	char	*upstream_model; /* model name sent to the engine, default = id */
	char	*owned_by;	/* shown in /v1/models, default "aif" */
	char	**aliases;	/* other names clients may send for it (resolved at
				   admission: jobs, usage and roles see the id); each
				   unique among ids, aliases and workflow names; none
				   by default */
	size_t	 naliases;
	unsigned kinds;		/* enum aif_kind mask; YAML `kinds: [chat, completion]`,
				   default chat|completion */
	struct aif_replica *replicas;	/* at least one (required) */
	size_t	 nreplicas;
	int	 max_in_flight;	/* per model across a worker's calls, 1..65536, default 64 */
	int	 timeout_ms;	/* engine call timeout, 100..3600000, default 60000 */
	int	 max_attempts;	/* 1..100, default queue.max_attempts */
	int	 max_output_tokens; /* cap on max_tokens, 1..1048576, default 4096 */
	struct aif_pricing pricing;
	struct aif_retry_policy retry;
	struct aif_compensation *compensations;	/* optional, in declaration order */
	size_t	 ncompensations;
	char	**fallbacks;	/* model ids tried, in order, when no replica of this
				   model is healthy; each must be a configured model;
				   default none */
	size_t	 nfallbacks;
	int	 circuit_failures; /* consecutive failures that open a replica's
				   circuit breaker, 1..1000, default 3 */
	int	 circuit_open_ms; /* how long it stays open before it is probed,
				   100..600000, default 5000 */
	char	*chat_template;	/* adapters that take a prompt (tgi, triton) render chat
				   messages with it: "chatml" (default), "llama3", or a
				   template string with {role} and {content} per message
				   and {assistant} where the answer starts */
	struct aif_cfg_option *options;	/* the mapping named after the adapter
					   (`triton:` for adapter triton): scalars,
					   meaning and checks the adapter's */
	size_t	 noptions;
	int	 optional;	/* bool, default false: without a healthy replica it does
				   not make the gateway unready (/readyz) */
	int	 zero_retention; /* bool, default false: no request or answer body of
				   its jobs is stored (rows keep counts and usage) */
	void	*adapter_state;	/* not YAML: what the adapter reads on every call,
				   built once at load (aif_cfg_adapters.prepare_model),
				   opaque here; NULL without */
	const struct aif_cfg_adapters *adapter_hooks; /* whose state it is (frees it) */
};

struct aif_role {
	char	*name;		/* required, unique */
	int	 admin;		/* bool, default false */
	int	 max_priority;	/* 0..9, default queue.default_priority */
	char	**models;	/* glob patterns (fnmatch), default ["*"] */
	size_t	 nmodels;
	char	**endpoints;	/* e.g. "chat", "completions", "models", "jobs"; default ["*"] */
	size_t	 nendpoints;
	int64_t	 rpm;		/* default requests per minute of its keys; -1 unlimited */
	int64_t	 tpm;		/* default tokens per minute; -1 unlimited */
	int64_t	 monthly_budget_micros;	/* default monthly budget of a key; -1 none */
	int	 zero_retention; /* bool, default false: as models[].zero_retention, for
				   every job of the role's keys */
};

/* A team or project keys bill to (YAML tenants[]); a tenant not listed is unlimited. */
struct aif_tenant {
	char	*name;
	int64_t	 rpm;		/* -1 unlimited */
	int64_t	 tpm;
	int64_t	 monthly_budget_micros;	/* -1 none */
	int	 max_queued;	/* queued jobs at most; -1: queue.max_queued_per_tenant */
};

/* ---- PII masking: YAML `pii:` (docs/PII.md; the engine is core/pii/pii.h) ---- */

/* What is done with an entity found in a text. */
enum aif_pii_action {
	AIF_PII_UNSET = 0,	/* not given at this level: the next level decides */
	AIF_PII_ALLOW,		/* left as it is */
	AIF_PII_MASK,		/* replaced by "[EMAIL]", or partially: "010-****-5678" */
	AIF_PII_REDACT,		/* removed */
	AIF_PII_HASH,		/* "[EMAIL:3f9a1c2b]": keyed HMAC-SHA256, equal values give
				   equal tokens */
	AIF_PII_BLOCK,		/* the request is refused (400 naming the type) */
};

enum aif_pii_mask_style {
	AIF_PII_STYLE_UNSET = 0,
	AIF_PII_STYLE_PLACEHOLDER,	/* "[EMAIL]" */
	AIF_PII_STYLE_PARTIAL,		/* keeps a few characters: "010-****-5678" */
};

enum aif_pii_validation {
	AIF_PII_VALIDATE_NONE = 0,	/* the regex alone decides */
	AIF_PII_VALIDATE_LUHN,		/* the match's digits pass Luhn */
	AIF_PII_VALIDATE_MOD97,		/* the match is an IBAN passing ISO 7064 mod 97 */
};

/* pii.detectors[]: a built-in detector switched on or off, with its own action. */
struct aif_pii_detector {
	char	*entity;	/* a built-in type name (required, unique) */
	int	 enabled;	/* bool, default true */
	char	*action_name;	/* allow|mask|redact|hash|block; default pii.default_action */
	char	*mask_style_name; /* placeholder|partial; default pii.mask_style */
	int	 action;	/* enum aif_pii_action of action_name, UNSET when absent */
	int	 mask_style;	/* enum aif_pii_mask_style, UNSET when absent */
	int	 line, column;	/* of the entry (1-based), for messages */
};

/* pii.rules[]: a custom regex rule. */
struct aif_pii_rule {
	char	*name;		/* required, unique */
	char	*entity;	/* type it reports, [A-Z][A-Z0-9_]* (required); a built-in
				   name adds a pattern to that type */
	char	*pattern;	/* PCRE2 on UTF-8 text; the whole match is the entity;
				   must not match the empty string (required) */
	int	 enabled;	/* bool, default true */
	int	 case_insensitive; /* bool, default false */
	char	*validation_name; /* none (default), luhn, mod97 */
	int	 validation;	/* enum aif_pii_validation, derived */
	char	**context;	/* keywords, one of which must occur within 64 bytes
				   before or 32 after the match (caseless); default none */
	size_t	 ncontext;
	char	*action_name;	/* as in detectors[]; rules of one entity must agree */
	char	*mask_style_name;
	int	 action;	/* derived, UNSET when absent */
	int	 mask_style;	/* derived, UNSET when absent */
	int	 line, column;	/* of the pattern (1-based) */
};

/* pii.policies[].actions[]: what a policy does with one type (or a glob of types). */
struct aif_pii_override {
	char	*entity;	/* type name, or fnmatch pattern over type names such as
				   "KR_*" or "*" (required) */
	char	*action_name;	/* required */
	char	*mask_style_name; /* optional */
	int	 action;	/* derived */
	int	 mask_style;	/* derived, UNSET when absent */
	int	 line, column;	/* of the entry (1-based) */
};

/* pii.policies[]: overrides for requests whose model and role both match. Every
 * matching policy applies, in file order; a later one wins for the same type, and
 * within one policy a later entry wins. */
struct aif_pii_policy {
	char	*name;		/* optional, shown by `aifctl pii mask --explain` */
	char	**models;	/* fnmatch over the model id, default ["*"] */
	size_t	 nmodels;
	char	**roles;	/* fnmatch over the key's role name, default ["*"] */
	size_t	 nroles;
	struct aif_pii_override *actions; /* at least one (required) */
	size_t	 nactions;
};

/* guardrails[].pre_call / post_call: a webhook (docs/GUARDRAILS.md). */
struct aif_guard_hook {
	char	*url;		/* http(s) URL; NULL: no hook in this phase */
	int64_t	 timeout_ms;	/* YAML timeout: 50ms..1m, default 2s */
	char	*on_error;	/* "allow" (fail open, the default) or "block" (closed) */
	int	 fail_closed;	/* derived from on_error */
};

/* guardrails[]: moderation and prompt-injection checks beside PII masking: a
 * built-in keyword/regex block list and pre-call / post-call webhooks, for the models
 * and roles it names. */
struct aif_guardrail {
	char	*name;		/* required, unique: shown in job events and metrics */
	char	**models;	/* fnmatch over the model id, default ["*"] */
	size_t	 nmodels;
	char	**roles;	/* fnmatch over the key's role name, default ["*"] */
	size_t	 nroles;
	char	**keywords;	/* block: case-insensitive substrings of a text */
	size_t	 nkeywords;
	char	**patterns;	/* block: PCRE2 patterns (UTF) */
	size_t	 npatterns;
	char	*message;	/* the reason a block gives, default "blocked by
				   guardrail <name>" */
	int	 check_answers;	/* bool: the block list also reads answers */
	struct aif_guard_hook pre_call, post_call;
};
#define AIF_CFG_MAX_GUARDRAILS	32

/* autoscale.models[]: a per-model override of the queue each worker should carry. */
struct aif_autoscale_model {
	char	*model;
	int	 target_queue_per_worker;
};

/* autoscale.engines[]: the engine scaling hook of one model. */
struct aif_autoscale_engine {
	char	*model;
	int	 min_replicas;		/* default 1 */
	int	 max_replicas;		/* default 1 */
	int	 target_queue_per_replica; /* default 32 */
	char	*command;		/* run with {model} and {replicas} replaced */
};

/* YAML `autoscale:` -- the policy of `aif-cron autoscale` (docs/OPERATIONS.md). */
struct aif_autoscale {
	int	 enabled;		/* set when the section is present */
	int	 min_workers;		/* default 1 */
	int	 max_workers;		/* default 4 */
	int	 target_queue_per_worker; /* queued + running jobs per worker, default 64 */
	int64_t	 max_queue_age_ms;	/* an older oldest queued job adds a worker; 0
					   (default, or empty) off; at most 1d */
	int64_t	 scale_up_cooldown_ms;	/* at most 1d, default 30s */
	int64_t	 scale_down_cooldown_ms; /* at most 1d, default 5m */
	char	*start_command;		/* {n}: worker number; default
					   "systemctl start aif-worker@{n}" */
	char	*stop_command;		/* default "systemctl stop aif-worker@{n}" */
	struct aif_autoscale_model *models;
	size_t	 nmodels;
	struct aif_autoscale_engine *engines;
	size_t	 nengines;
};

/* workflows[]: a durable workflow (docs/CONFIG.md, `workflows:`), validated at load
 * into its canonical JSON definition, which is what the runtime reads and stores. */
struct aif_workflow {
	char	*name;
	char	*description;	/* or NULL */
	unsigned kinds;		/* enum aif_kind mask (chat|completion), default chat */
	json_t	*def;		/* canonical definition, owned (json_decref) */
	char	*def_text;	/* json_dumps(def, JSON_COMPACT|JSON_SORT_KEYS), owned */
	char	 hash[65];	/* hex SHA-256 of def_text */
	int	 line, column;	/* of the entry (1-based) */
};

struct aif_config {
	char	*path;		/* the file this came from */

	struct {
		char	*listen;	/* FastCGI socket path, or "fd:0" / "systemd"
					   (required) */
		int	 threads;	/* acceptor threads, 1..256, default 4 */
		size_t	 max_body_bytes; /* 1024..67108864, default 1048576 */
		int	 sync_timeout_ms; /* 100..3600000, default 120000 */
		char	*run_dir;	/* doorbell sockets live here (required) */
		int	 poll_interval_ms; /* slow-poll fallback, 50..60000, default 1000 */
		int	 max_waiting;	/* parked sync requests, 1..1000000, default 4096 */
		int	 max_messages;	/* per request, 1..100000, default 2048 */
		int	 max_json_depth; /* 2..512, default 64 */
		char	*stream_disconnect; /* a streaming client went away: "finish"
					   (default: the job completes and is stored) or
					   "cancel" (the engine call is aborted) */
		int	 stream_disconnect_cancel; /* derived: 1 for "cancel" */
		size_t	 max_answer_bytes; /* an engine answer or a stream's assembled
					   result, 65536..1073741824, default 16777216 */
		int	 max_choices;	/* choices a request may ask for (prompts x
					   max(n, best_of)), 1..100000, default 128 */
	} server;

	struct {
		char	*socket;	/* unix socket path; or host+port */
		char	*host;		/* default NULL */
		int	 port;		/* 0..65535, default 3306 */
		char	*user;		/* default NULL (connector uses the OS user) */
		char	*password_file;	/* default NULL */
		char	*name;		/* database name (required) */
		int	 connect_timeout_ms; /* 100..60000, default 2000 */
		int	 rw_timeout_ms;	/* 100..600000, default 10000 */
	} database;

	struct {
		int	 default_priority; /* 0..9, default 4 */
		int	 max_attempts;	/* 1..100, default 3 */
		int	 lease_seconds;	/* 2..3600, default 30 */
		int	 claim_batch;	/* 1..1000, default 16 */
		int	 poll_interval_ms; /* 50..60000, default 1000 */
		int64_t	 idempotency_window_ms; /* YAML idempotency_window: a duration,
					   1m..30d, default 24h */
		int64_t	 idempotency_window_s; /* the same in seconds, derived */
		int	 max_queued_per_tenant; /* queued jobs of one tenant (of one key
					   when it has no tenant), 0 (default) no cap */
	} queue;

	struct {
		int	 slots;		/* concurrent engine calls per worker, 1..4096,
					   default 64 */
		int	 drain_timeout_ms; /* 0..3600000, default 30000 */
		int	 heartbeat_ms;	/* 100..60000, default 2000 */
	} worker;

	struct {
		char	*pepper_file;	/* HMAC key for key hashes; NULL = plain SHA-256 */
	} auth;

	struct {			/* YAML `cluster:`, see docs/SCALE.md */
		char	*address;	/* an IP literal of this host: doorbells are UDP
					   and stream relays TCP there (free ports);
					   NULL: Unix sockets in run_dir (one host) */
		char	*secret_file;	/* the key sealing datagrams between hosts, the
					   same file everywhere (required with address,
					   >= 32 bytes) */
	} cluster;

	struct {			/* YAML `tracing:`, see docs/OPERATIONS.md */
		char	*otlp_endpoint;	/* OTLP/HTTP JSON URL the spans are POSTed to
					   (a collector's .../v1/traces); NULL: the
					   gateway records no spans of its own */
		char	*service_name;	/* resource service.name, default "aif-gateway" */
		int64_t	 timeout_ms;	/* YAML timeout: one export, 100ms..1m,
					   default 2s */
		int64_t	 flush_interval_ms; /* YAML flush_interval: 50ms..1m, default 1s */
		int	 batch_size;	/* spans per export, 1..10000, default 256 */
		int	 queue_size;	/* spans a worker holds at most, 16..1000000,
					   default 2048 (more are dropped, counted) */
	} tracing;

	struct {			/* YAML `batch:`, see docs/BATCH.md */
		size_t	 max_file_bytes; /* an upload's limit, 1 KiB..1 GiB, default
					   100 MiB (nginx's client_max_body_size of
					   /v1/files is the outer one) */
		int	 max_lines;	/* requests in one input file, 1..1000000,
					   default 50000 */
		int64_t	 file_retention_ms; /* YAML file_retention: files without an
					   expires_after are deleted this long after
					   upload, 1h..3650d, default 30d */
		int64_t	 min_window_ms;	/* YAML min_completion_window: the shortest
					   completion_window accepted, 1s..24h,
					   default 24h (only "24h", as OpenAI) */
		int	 lane_depth;	/* lines of one batch kept queued ahead of
					   the workers, 1..100000, default 512 */
		int64_t	 poll_ms;	/* YAML poll_interval: how often a feeder
					   looks at its batches, 10ms..10s,
					   default 100ms */
		int	 uploads;	/* uploads one aif-api reads at once, 1..64,
					   default 2 (each is held in memory) */
		int64_t	 yield_ms;	/* YAML yield: a worker that started an
					   interactive job within this long takes a
					   batch's lines only at yield_rate, 0..1m,
					   default 1s (0: never yields) */
		int	 yield_rate;	/* lines a second per worker while yielding,
					   1..1000, default 20 */
		int	 max_share;	/* percent of a worker's slots and of each
					   model's max_in_flight batch lines may hold,
					   1..100, default 50 */
	} batch;

	struct aif_model *models;	/* at least one (required) */
	size_t	 nmodels;
	struct aif_role	*roles;		/* at least one (required) */
	size_t	 nroles;
	struct aif_autoscale autoscale;	/* optional */
	struct aif_tenant *tenants;	/* optional */
	size_t	 ntenants;
	struct aif_guardrail *guardrails; /* optional, at most AIF_CFG_MAX_GUARDRAILS */
	size_t	 nguardrails;
	struct aif_workflow *workflows;	/* optional, at most 64 */
	size_t	 nworkflows;

	struct {			/* YAML `pii:`, see docs/PII.md */
		int	 enabled;	/* 1 on (the default once the section is
					   present), 0 `enabled: false`, -1 no section
					   (off) */
		int	 mask_responses; /* bool, default false */
		char	*default_action_name; /* default "mask" */
		int	 default_action; /* derived, never UNSET once loaded */
		char	*mask_style_name; /* default "placeholder" */
		int	 mask_style;	/* derived, never UNSET once loaded */
		char	*hash_key_file;	/* key of the hash action; NULL: a key derived
					   from auth.pepper_file (one of the two is
					   required when any action is hash) */
		int	 hash_length;	/* hex digits of a hash token, 8..64 even,
					   default 8 */
		int	 uses_hash;	/* derived: some action is hash */
		int	 hash_line, hash_column; /* of hash_key_file, else of the first
					   hash action: where key errors point */
		struct aif_pii_detector *detectors; /* optional, one per type */
		size_t	 ndetectors;
		struct aif_pii_rule *rules;	/* optional */
		size_t	 nrules;
		struct aif_pii_policy *policies; /* optional */
		size_t	 npolicies;
	} pii;
};

/* Returns the tenant named `name` (borrowed), or NULL (unlimited). */
const struct aif_tenant *aif_cfg_tenant(const struct aif_config *cfg, const char *name);

/* Parses a duration "250ms", "2s", "5m", "1h", "1d" (a bare number is ms) into
 * milliseconds. Returns 0, or -1 when malformed or over max_ms. */
int		aif_cfg_duration_ms(const char *text, int64_t max_ms, int64_t *out);

/* The engine adapters' part of checking a configuration. Core knows no adapter: every
 * program passes the adapters' table (adapters/adapter.h or its catalogue, as
 * aif_adapters_cfg) to aif_cfg_load_with, so aif-api, aif-worker, aif-cron and aifctl
 * refuse the same files; without it (NULL) models[].adapter and the adapter sections
 * are left unchecked. */
struct aif_cfg_adapters {
	/* The names models[].adapter may use: the i-th, NULL past the last. */
	const char	*(*name_at)(size_t i);
	/* Checks model m's adapter settings (its section, its chat template); calls
	 * report(ctx, key, message) per problem, key being "chat_template",
	 * "<adapter>" or "<adapter>.<option>". */
	void	(*check_model)(const struct aif_model *m,
		    void (*report)(void *ctx, const char *key, const char *message),
		    void *ctx);
	/* Builds m->adapter_state once check_model found no problem (NULL: none).
	 * Returns AIF_OK or AIF_NOMEM (the load fails). */
	enum aif_err	(*prepare_model)(struct aif_model *m);
	/* Frees m->adapter_state (aif_cfg_free). */
	void	(*free_model)(struct aif_model *m);
};

/* Loads and validates the YAML file at `path` (borrowed).
 * On AIF_OK *out is new (free with aif_cfg_free) and errbuf is "".
 * On error *out is NULL and errbuf holds every error found, one per line, each
 * "file:line:column: message" (truncated to errlen, always NUL-terminated).
 * Returns AIF_CONFIG for invalid content, AIF_IO when the file cannot be read. */
enum aif_err	aif_cfg_load(const char *path, struct aif_config **out,
		    char *errbuf, size_t errlen);

/* Same, from a string already in memory; `name` is used in error messages. */
enum aif_err	aif_cfg_load_string(const char *name, const char *yaml, size_t len,
		    struct aif_config **out, char *errbuf, size_t errlen);

/* The same with the adapters' checks (`adapters` borrowed, may be NULL). */
enum aif_err	aif_cfg_load_with(const char *path, const struct aif_cfg_adapters *adapters,
		    struct aif_config **out, char *errbuf, size_t errlen);
enum aif_err	aif_cfg_load_string_with(const char *name, const char *yaml, size_t len,
		    const struct aif_cfg_adapters *adapters, struct aif_config **out,
		    char *errbuf, size_t errlen);

/* The value of option `key` of model m's adapter section (borrowed), or `def`. */
const char	*aif_cfg_option(const struct aif_model *m, const char *key, const char *def);

/* Reads every secret file the configuration names into it or checks it, through the
 * one loader (core/base/secret.h: a regular file no group or other may access, bounded,
 * never shown): each replica's api_key_file into replica->api_key (wiped by
 * aif_cfg_free); with AIF_CFG_SECRETS_ALL also database.password_file,
 * auth.pepper_file, pii.hash_key_file when a hash action uses it, and the secret
 * header files of workflow steps (read, checked, wiped: `aifctl config check`).
 * aif-worker calls it after each load (boot and SIGHUP: a reload reads the files
 * again); aif-api never does (it sends nothing to engines). Returns AIF_OK, or
 * AIF_CONFIG with every problem in errbuf, one per line, "file:line:column: key: path
 * <why>" (no line for keys without a recorded position); AIF_NOMEM. */
#define AIF_CFG_SECRETS_ALL	0x1
enum aif_err	aif_cfg_load_secrets(struct aif_config *cfg, unsigned flags, char *errbuf,
		    size_t errlen);

/* The keys a running aif-api reads only when it starts (server.listen, threads,
 * run_dir, ..., database.*, auth.pepper_file: docs/OPERATIONS.md): fills names (at most
 * cap, static strings) with those whose value differs between `running` (the config it
 * started with) and `next` (a reload), in a fixed order. Returns how many differ (may
 * exceed cap). */
size_t		aif_cfg_api_boot_changes(const struct aif_config *running,
		    const struct aif_config *next, const char **names, size_t cap);

/* Returns the model whose id or one of whose aliases is `id` (borrowed from cfg), or
 * NULL. What is stored and checked afterwards is the model's id. */
const struct aif_model *aif_cfg_model(const struct aif_config *cfg, const char *id);
/* 1 when `name` is model m's id or one of its aliases. */
int		 aif_cfg_model_has_name(const struct aif_model *m, const char *name);
/* Index of model `id` in cfg->models, or SIZE_MAX if it is not configured. */
size_t		 aif_cfg_model_index(const struct aif_config *cfg, const char *id);

/* Returns the workflow named `name` (borrowed from cfg), or NULL. */
const struct aif_workflow *aif_cfg_workflow(const struct aif_config *cfg,
		    const char *name);

/* Returns the role named `name` (borrowed from cfg), or NULL. */
const struct aif_role *aif_cfg_role(const struct aif_config *cfg, const char *name);

/* Returns 1 when `role` may use model `model_id` (fnmatch over role->models). */
int		aif_cfg_role_allows_model(const struct aif_role *role, const char *model_id);

/* Returns 1 when `role` may use endpoint `endpoint` ("chat", "completions", ...). */
int		aif_cfg_role_allows_endpoint(const struct aif_role *role,
		    const char *endpoint);

/* Frees everything; accepts NULL. */
void		aif_cfg_free(struct aif_config *cfg);

#endif
