#!/usr/bin/env bash
# run.sh -- the request-path benchmark: requests/s and p50/p99 latency of
#   (a) client -> nginx -> aif-api -> MariaDB -> aif-worker -> mock engine   (the gateway)
#   (b) client -> nginx -> mock engine                                        (the baseline)
# measured in one run on the same machine, at 32 and at 8 concurrent clients.
# Brings up its own stack under var/bench (ports 38080/39101/38081) and takes it down.
# Usage: bench/run.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
export AIF_VAR_DIR=$PWD/var/bench AIF_PORT=${AIF_BENCH_PORT:-38080} \
       AIF_MOCK_PORT=${AIF_BENCH_MOCK_PORT:-39101} AIF_DB_NAME=aif_bench AIF_WORKERS=${AIF_BENCH_WORKERS:-2}
DIRECT_PORT=${AIF_BENCH_DIRECT_PORT:-38081}

cleanup() {
  [ -f "$AIF_VAR_DIR/run/bench-direct-nginx.pid" ] && kill "$(cat "$AIF_VAR_DIR/run/bench-direct-nginx.pid")" 2>/dev/null || true
  scripts/stack.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

scripts/stack.sh up >/dev/null
set -a; . "$AIF_VAR_DIR/stack.env"; set +a
mkdir -p "$AIF_VAR_DIR/nginx" "$AIF_VAR_DIR/log"
sed -e "s|@VAR@|$AIF_VAR_DIR|g" -e "s|@MOCK_PORT@|$AIF_MOCK_PORT|g" \
    -e "s|@DIRECT_PORT@|$DIRECT_PORT|g" bench/direct-nginx.conf.in > "$AIF_VAR_DIR/nginx/direct.conf"
if [ "$(id -u)" = 0 ]; then nginx -c "$AIF_VAR_DIR/nginx/direct.conf" -g 'user root;'
else nginx -c "$AIF_VAR_DIR/nginx/direct.conf"; fi

run() { # name url clients
  local out
  out=$(AIF_BENCH_MODEL=$4 wrk -t2 -c"$3" -d"${DUR}s" --latency -s bench/chat.lua "$2" | grep '^RESULT')
  echo "$1 c=$3 $out"
}
warm() { wrk -t1 -c8 -d2s -s bench/chat.lua "$1" >/dev/null 2>&1 || true; }

warm "$AIF_BASE_URL/chat/completions"
warm "http://127.0.0.1:$DIRECT_PORT/v1/chat/completions"
jobs_before=$(mariadb --socket="$AIF_DB_SOCKET" "$AIF_DB_NAME" -N -B -e 'SELECT COUNT(*) FROM jobs')
results=()
for c in 32 8; do
  results+=("$(run gateway "$AIF_BASE_URL/chat/completions" "$c" demo-chat)")
  results+=("$(run direct "http://127.0.0.1:$DIRECT_PORT/v1/chat/completions" "$c" mock-llama-3-8b)")
done
jobs_after=$(mariadb --socket="$AIF_DB_SOCKET" "$AIF_DB_NAME" -N -B -e \
  "SELECT COUNT(*), SUM(state='succeeded') FROM jobs")
usage_rows=$(mariadb --socket="$AIF_DB_SOCKET" "$AIF_DB_NAME" -N -B -e 'SELECT COUNT(*) FROM `usage`')

echo
echo "| path | clients | req/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|"
for r in "${results[@]}"; do
  name=$(echo "$r" | awk '{print $1}'); c=$(echo "$r" | awk '{print $2}' | cut -d= -f2)
  rps=$(echo "$r" | grep -o 'rps=[0-9.]*' | cut -d= -f2)
  p50=$(echo "$r" | grep -o 'p50_ms=[0-9.]*' | cut -d= -f2)
  p99=$(echo "$r" | grep -o 'p99_ms=[0-9.]*' | cut -d= -f2)
  err=$(echo "$r" | grep -o 'errors=[0-9]*' | cut -d= -f2)
  echo "| $name | $c | $rps | $p50 | $p99 | $err |"
done
g8=$(printf '%s\n' "${results[@]}" | grep '^gateway c=8' | grep -o 'p50_ms=[0-9.]*' | cut -d= -f2)
d8=$(printf '%s\n' "${results[@]}" | grep '^direct c=8' | grep -o 'p50_ms=[0-9.]*' | cut -d= -f2)
g32=$(printf '%s\n' "${results[@]}" | grep '^gateway c=32' | grep -o 'rps=[0-9.]*' | cut -d= -f2)
d32=$(printf '%s\n' "${results[@]}" | grep '^direct c=32' | grep -o 'rps=[0-9.]*' | cut -d= -f2)
echo
echo "added p50 at 8 clients: $(awk -v g="$g8" -v d="$d8" 'BEGIN{printf "%.2f ms", g-d}')"
echo "gateway/direct throughput at 32 clients: $(awk -v g="$g32" -v d="$d32" 'BEGIN{printf "%.3f", g/d}')"
echo "jobs: before=$jobs_before after(total, succeeded)=$(echo $jobs_after) usage_rows=$usage_rows"
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), $(uname -r)"
