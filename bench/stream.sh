#!/usr/bin/env bash
# stream.sh -- the streaming benchmark (issue 3): time to first token and tokens/s
# relayed through the gateway versus straight to the mock engine, same run. Brings up
# its own stack under var/bench-stream and takes it down.
# Usage: bench/stream.sh [streams, default 200] [concurrency, default 16] [ms per token, 5]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_stack stream 38180 39201
node bench/stream.mjs "$AIF_BASE_URL" "$AIF_API_KEY" "$AIF_MOCK_URL/v1" "${1:-200}" "${2:-16}" "${3:-5}"
bench_machine
