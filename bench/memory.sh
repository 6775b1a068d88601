#!/usr/bin/env bash
# memory.sh -- resident memory of the daemons under the loads the targets name:
#   one aif-api process with 1,000 sync requests waiting (each engine call takes 20 s),
#   and one aif-worker (256 slots) with 256 engine calls in flight (the rest queued).
# Prints VmRSS (now) and VmHWM (peak) of every aif-api and aif-worker process, idle and
# loaded. Brings up its own stack under var/bench-mem (ports 38480/39481), one worker
# with 256 slots, demo-chat's limits raised to 1,024 in a copy of the config, on a new
# database each time, and takes it down at the end.
# Usage: bench/memory.sh [waiting requests, default 1000]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${1:-1000}
VAR=$PWD/var/bench-mem
# a new database every time: no job of an earlier run may count or run
AIF_VAR_DIR=$VAR scripts/stack.sh down >/dev/null 2>&1 || true
rm -rf "$VAR"
mkdir -p "$VAR"
# demo-chat with room for everything in flight: max_in_flight 128 -> 1024
sed -e 's/^\(\s*max_in_flight:\) 128$/\1 1024/' config/aif.yaml > "$VAR/aif.yaml"
# one aif-api process holds all the waiting requests
export AIF_CONFIG=$VAR/aif.yaml AIF_WORKERS=1 AIF_WORKER_SLOTS=256 AIF_SYNC_TIMEOUT_MS=120000 AIF_API_PROCS=1
bench_stack mem 38480 39481

rss() { # api|worker -> one line per process: pid VmRSS VmHWM (kB)
	local pid
	for pid in $(bench_pids "$1"); do
		[ -r "/proc/$pid/status" ] || continue
		awk -v pid="$pid" '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } END { printf "%s %s %s\n", pid, r, h }' "/proc/$pid/status"
	done
}
show() { # label
	echo "| $1 | aif-api | $(rss api | awk '{ printf "%s%.1f MB", s, $2 / 1024; s = ", " }') | $(rss api | awk '{ printf "%s%.1f MB", s, $3 / 1024; s = ", " }') |"
	echo "| $1 | aif-worker | $(rss worker | awk '{ printf "%s%.1f MB", s, $2 / 1024; s = ", " }') | $(rss worker | awk '{ printf "%s%.1f MB", s, $3 / 1024; s = ", " }') |"
}
db() { mariadb --socket="$AIF_DB_SOCKET" "$AIF_DB_NAME" -N -B -e "$1"; }

wrk -t1 -c8 -d2s -s bench/chat.lua "$AIF_BASE_URL/chat/completions" >/dev/null 2>&1 || true
echo "| moment | process | VmRSS | VmHWM (peak) |"
echo "|---|---|---|---|"
show "idle, after a warm-up"
# N connections, each one request that waits 20 s at the engine; wrk stops after 12 s
AIF_BENCH_PROMPT='[[mock:latency=20000]] memory' \
    wrk -t2 -c"$N" -d12s --timeout 60s -s bench/chat.lua "$AIF_BASE_URL/chat/completions" >/dev/null 2>&1 &
load=$!
waiting=0 running=0
for _ in $(seq 1 80); do
	sleep 0.1
	# shellcheck disable=SC2046 # two numbers, split on purpose
	set -- $(db "SELECT COUNT(*), COALESCE(SUM(state = 'running'), 0) FROM jobs WHERE state IN ('queued', 'running')")
	waiting=$1 running=$2
	[ "$waiting" -ge "$N" ] && [ "$running" -ge 256 ] && break
done
sleep 1
show "$waiting requests waiting, $running engine calls in flight"
wait "$load" || true
echo
echo "waiting requests (jobs queued or running) at the loaded sample: $waiting; in flight: $running"
bench_machine
