#!/usr/bin/env bash
# batch.sh -- the Batch API benchmark (issue 17, bench/batch.mjs): a 10,000-line batch's
# lines/s beside the sync path's req/s in the same run, and interactive p50 with and
# without a batch running. Brings up its own stack under var/bench-batch and takes it
# down. Usage: bench/batch.sh [lines, default 10000] [sync requests, default 3000]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_stack batch 38380 39391
node bench/batch.mjs "$AIF_BASE_URL" "$AIF_API_KEY" "${1:-10000}" "${2:-3000}"
bench_machine
