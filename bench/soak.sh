#!/usr/bin/env bash
# soak.sh -- a long run at half the peak rate: first the peak (32 clients, 10 s), then
# minute after minute at about half of it (16 paced connections), printing each minute's
# req/s, p50, p99 and errors, and the resident memory (VmRSS, summed over the processes
# of each kind: 2 aif-api, 2 aif-worker) after it. The last line compares the last
# minute's memory with the first's. The pacing ignores service time beyond the p50 at
# 4 clients, so the rate comes out somewhat under half the peak.
# Brings up its own stack under var/bench-soak (ports 38580/39581) and takes it down.
# Usage: bench/soak.sh [minutes, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
MIN=${1:-30}
bench_stack soak 38580 39581
URL="$AIF_BASE_URL/chat/completions"
field() { echo "$1" | grep -o "$2=[0-9.]*" | cut -d= -f2; }
rss_mb() { # api|worker -> total VmRSS of its processes, MB
	local t=0 pid
	for pid in $(bench_pids "$1"); do
		[ -r "/proc/$pid/status" ] || continue
		t=$((t + $(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")))
	done
	awk -v t="$t" 'BEGIN { printf "%.1f", t / 1024 }'
}

wrk -t1 -c8 -d3s -s bench/chat.lua "$URL" >/dev/null 2>&1 || true
peak=$(wrk -t2 -c32 -d10s --latency -s bench/chat.lua "$URL" | grep '^RESULT')
low=$(wrk -t1 -c4 -d5s --latency -s bench/chat.lua "$URL" | grep '^RESULT')
rate=$(awk -v r="$(field "$peak" rps)" 'BEGIN { printf "%d", r / 2 }')
# 16 connections, each pausing so that 16 of them make `rate` requests per second
pause=$(awk -v r="$rate" -v l="$(field "$low" p50_ms)" 'BEGIN { d = 16000 / r - l; printf "%d", d < 1 ? 1 : d }')
echo "peak: $(field "$peak" rps) req/s at 32 clients; target $rate req/s: 16 connections pausing $pause ms"
echo
echo "| minute | req/s | p50 ms | p99 ms | errors | aif-api RSS MB | aif-worker RSS MB |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
first_api='' first_wk='' api='' wk=''
for m in $(seq 1 "$MIN"); do
	r=$(AIF_BENCH_DELAY_MS=$pause wrk -t1 -c16 -d60s --latency -s bench/chat.lua "$URL" | grep '^RESULT')
	api=$(rss_mb api) wk=$(rss_mb worker)
	[ -z "$first_api" ] && first_api=$api first_wk=$wk
	echo "| $m | $(field "$r" rps) | $(field "$r" p50_ms) | $(field "$r" p99_ms) | $(field "$r" errors) | $api | $wk |"
done
echo
awk -v a0="$first_api" -v a1="$api" -v w0="$first_wk" -v w1="$wk" 'BEGIN {
	printf "RSS growth from minute 1 to the last: aif-api %+.1f %%, aif-worker %+.1f %%\n",
	    (a1 - a0) * 100 / a0, (w1 - w0) * 100 / w0 }'
echo "jobs (total, succeeded): $(mariadb --socket="$AIF_DB_SOCKET" "$AIF_DB_NAME" -N -B -e "SELECT COUNT(*), SUM(state = 'succeeded') FROM jobs")"
bench_machine
