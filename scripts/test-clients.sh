#!/usr/bin/env bash
# test-clients.sh -- `make test-clients`: today's coding agents against the local stack,
# non-interactively: Claude Code (@anthropic-ai/claude-code, the Anthropic Messages API)
# and the Codex CLI (@openai/codex, the Responses API), installed from npm into
# build/clients. Each runs one prompt against the mock engine behind a private stack
# (its own MariaDB, nginx, aif-api and workers under var/clients); what each did, its
# exit status, the end of its output and the gateway's jobs for it are written to
# build/clients/RESULTS.md. Each client runs twice: on demo-agent (bridged) and on
# demo-agent-native (passed through to the engine's own APIs). Not part of `make test` (it downloads the clients and its
# outcome depends on their versions): it records what worked, it does not gate.
#
# Usage: scripts/test-clients.sh            (AIF_CLIENTS_TIMEOUT=seconds per client, 180)
set -u
. "$(dirname "$0")/lib.sh"

OUT="$AIF_REPO/build/clients"
export AIF_VAR_DIR="${AIF_CLIENTS_VAR_DIR:-$AIF_REPO/var/clients}"
export AIF_PORT="${AIF_CLIENTS_PORT:-18680}" AIF_MOCK_PORT=19601 AIF_MOCK_HTTP_PORT=19690
export AIF_DB_NAME=aif_clients AIF_WORKERS=2
TIMEOUT="${AIF_CLIENTS_TIMEOUT:-180}"
RESULTS="$OUT/RESULTS.md"
REDACT='s/aif_[0-9A-Za-z]{38}/aif_<key>/g'	# no key in what is recorded

mkdir -p "$OUT" "$AIF_VAR_DIR" || die "cannot create $OUT"
command -v npm >/dev/null || die "npm is missing: run scripts/deps.sh"
log "installing the clients into $OUT (npm)"
npm install --prefix "$OUT" --no-save --no-audit --no-fund \
	@anthropic-ai/claude-code @openai/codex >"$OUT/npm.log" 2>&1 ||
	die "npm install failed: see $OUT/npm.log"

# the demo config, and two models with room for an agent's prompt (mock-qwen-0.5b:
# 32k): demo-agent (the surfaces bridged through chat completions) and
# demo-agent-native (the engine serves them itself: passed through; its tokenizer
# counts count_tokens)
if ! grep -q demo-agent-native "$AIF_VAR_DIR/aif.yaml" 2>/dev/null; then
	awk '/^roles:/ && !done {
		for (i = 0; i < 2; i++) {
			print "  - id: demo-agent" (i ? "-native" : "")
			print "    adapter: openai"
			print "    upstream_model: mock-qwen-0.5b"
			print "    owned_by: aif-demo"
			if (i) print "    kinds: [chat, responses, messages, tokenize]"
			print "    replicas:"
			print "      - url: http://127.0.0.1:${AIF_MOCK_PORT:-9101}"
			print "    max_output_tokens: 4096"
			print "    timeout_ms: 30000"
			print "    pricing: {input_per_mtok: 150000, output_per_mtok: 600000}"
			print ""
		}
		done = 1
	} { print }' "$AIF_REPO/config/aif.yaml" >"$AIF_VAR_DIR/aif.yaml" || die "cannot write the config"
fi
export AIF_CONFIG="$AIF_VAR_DIR/aif.yaml"
"$AIF_REPO/scripts/stack.sh" up >"$OUT/stack.log" 2>&1 || die "the stack did not start: see $OUT/stack.log"
trap '"$AIF_REPO/scripts/stack.sh" down >>"$OUT/stack.log" 2>&1' EXIT
set -a
# shellcheck disable=SC1091
. "$AIF_VAR_DIR/stack.env"
set +a
ORIGIN="${AIF_BASE_URL%/v1}"

# jobs_since ID: the gateway's jobs after job id ID, one line each.
jobs_since() {
	mariadb --socket="$AIF_DB_SOCKET" "$AIF_DB_NAME" -N -B -e \
		"SELECT public_id, model, state, COALESCE(error_code, '-'), COALESCE(LEFT(error_message, 160), '')
		 FROM jobs WHERE id > $1 ORDER BY id" 2>/dev/null
}
last_job() {
	mariadb --socket="$AIF_DB_SOCKET" "$AIF_DB_NAME" -N -B -e "SELECT COALESCE(MAX(id), 0) FROM jobs" 2>/dev/null
}

# run NAME CMD...: runs one client with the timeout, records it.
run() {
	local name=$1 before rc out
	shift
	before=$(last_job)
	out="$OUT/$name.log"
	log "running $name"
	( cd "$OUT" && timeout "$TIMEOUT" "$@" ) >"$out" 2>&1 </dev/null
	rc=$?
	{
		printf '## %s\n\n' "$name"
		printf -- '- command: `%s`\n' "$(printf '%s ' "$@" | sed -E "$REDACT")"
		printf -- '- exit status: %s%s\n' "$rc" "$([ "$rc" = 124 ] && echo ' (timed out)')"
		printf -- '- gateway jobs (public id, model, state, error code, error):\n\n```\n'
		jobs_since "$before"
		printf '```\n\n- last lines of its output:\n\n```\n'
		tail -n 25 "$out" | sed -E "$REDACT"
		printf '```\n\n'
	} >>"$RESULTS"
	[ "$rc" = 0 ] && ok "$name: exit 0" || warn "$name: exit $rc (see $RESULTS)"
}

{
	printf '# Clients against the local stack\n\n'
	printf 'Written by `make test-clients` on %s; versions: ' "$(date -u +%Y-%m-%dT%H:%MZ)"
	npm ls --prefix "$OUT" --depth=0 2>/dev/null | grep -E 'claude-code|codex' | tr -d '\n'
	printf '\n\nThe engine is the mock (it answers "Mock answer to: ..." and calls a tool only when\n'
	printf 'asked with [[mock:use-tool]]), so this shows the protocol working, not answers.\n\n'
} >"$RESULTS"

mkdir -p "$OUT/home/.codex"
for model in demo-agent demo-agent-native; do
	suffix=${model#demo-agent}
	# Claude Code: the Messages API, non-interactive print mode
	run "claude-code$suffix" env ANTHROPIC_BASE_URL="$ORIGIN" ANTHROPIC_API_KEY="$AIF_API_KEY" \
		DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
		DISABLE_AUTOUPDATER=1 CLAUDE_CODE_MAX_OUTPUT_TOKENS=2048 HOME="$OUT/home" \
		"$OUT/node_modules/.bin/claude" -p "Say hello in five words." --model "$model" \
		--output-format text
	# Codex: the Responses API through a model provider of its config
	run "codex$suffix" env HOME="$OUT/home" CODEX_HOME="$OUT/home/.codex" \
		AIF_API_KEY="$AIF_API_KEY" "$OUT/node_modules/.bin/codex" exec --skip-git-repo-check \
		-c model_provider=aif -c model="$model" \
		-c "model_providers.aif={name=\"aif\",base_url=\"$AIF_BASE_URL\",env_key=\"AIF_API_KEY\",wire_api=\"responses\"}" \
		"Say hello in five words."
done

ok "results: $RESULTS"
