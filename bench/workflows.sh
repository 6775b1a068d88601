#!/usr/bin/env bash
# workflows.sh -- the workflow benchmark (issue 12): what a 4-step run of zero-latency
# steps adds over its engine calls at 8 clients, and steps/s at 32 clients. Brings up
# its own stack under var/bench-workflows and takes it down.
# Usage: bench/workflows.sh [runs, default 200]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_stack workflows 38280 39301
node bench/workflows.mjs "$AIF_BASE_URL" "$AIF_API_KEY" "$AIF_DB_SOCKET" "$AIF_DB_NAME" "${1:-200}"
bench_machine
