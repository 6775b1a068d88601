#!/usr/bin/env bash
# stream.sh -- the streaming benchmark (issue 3): time to first token and tokens/s
# relayed through the gateway versus straight to the mock engine, same run. Brings up
# its own stack under var/bench-stream and takes it down.
# Usage: bench/stream.sh [streams, default 200] [concurrency, default 16] [ms per token, 5]
set -euo pipefail
cd "$(dirname "$0")/.."
export AIF_VAR_DIR=$PWD/var/bench-stream AIF_PORT=${AIF_BENCH_PORT:-38180} \
       AIF_MOCK_PORT=${AIF_BENCH_MOCK_PORT:-39201} AIF_DB_NAME=aif_bench_stream
trap 'scripts/stack.sh down >/dev/null 2>&1 || true' EXIT
scripts/stack.sh up >/dev/null 2>&1
set -a; . "$AIF_VAR_DIR/stack.env"; set +a
node bench/stream.mjs "$AIF_BASE_URL" "$AIF_API_KEY" "$AIF_MOCK_URL/v1" "${1:-200}" "${2:-16}" "${3:-5}"
echo "machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME")"
