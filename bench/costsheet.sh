#!/usr/bin/env bash
# costsheet.sh -- what one sync chat completion costs, measured, not estimated:
#   from MariaDB's status counters (SHOW GLOBAL STATUS before and after a run):
#     statements by kind, rows written (Handler_write/_update/_delete: rows inserted,
#     updated, deleted, temporary tables included),
#     transactions committed, InnoDB fsyncs (Innodb_data_fsyncs);
#   from /proc of every process of the stack (nginx, aif-api, aif-worker, mariadbd,
#     the engine): CPU µs (utime+stime, all threads) and context switches (all threads);
#   at one client, where nothing overlaps, fsyncs per request = durable commits the
#     request waits for in sequence;
#   from a perf profile (call graphs, DWARF) of aif-api and aif-worker at 8 clients:
#     each process's CPU split over the stages of the path (inclusive time of the
#     functions that do them), in µs per request.
# Brings up its own stack under var/bench-cost (ports 38380/39381) and takes it down.
# Usage: bench/costsheet.sh [seconds per run, default 8]
# Env: AIF_BIN_DIR (bin/): the binaries to measure, e.g. another revision's build
#      (`git worktree add /tmp/old REV && make -C /tmp/old all`, then
#      AIF_BIN_DIR=/tmp/old/bin), for a before/after side by side on one machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DUR=${1:-8}
export AIF_WORKERS=${AIF_BENCH_WORKERS:-2}
bench_stack cost 38380 39381
V=$AIF_VAR_DIR
URL="$AIF_BASE_URL/chat/completions"
db() { mariadb --socket="$AIF_DB_SOCKET" "$AIF_DB_NAME" -N -B -e "$1"; }

# pids of each part of the stack, from its pid files
declare -A PIDS
for p in nginx api worker mariadb engine; do PIDS[$p]=$(bench_pids "$p"); done
PARTS="nginx api worker mariadb engine"
[ -n "${PIDS[api]}" ] && [ -n "${PIDS[worker]}" ] || { echo "costsheet: stack processes not found" >&2; exit 1; }

TCK=$(getconf CLK_TCK)
proc_sample() { # part -> "cpu_us ctxsw"
	local cpu=0 cs=0 pid t
	for pid in ${PIDS[$1]}; do
		[ -r "/proc/$pid/stat" ] || continue
		t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")
		cpu=$((cpu + t))
		for t in /proc/"$pid"/task/*/status; do
			cs=$((cs + $(awk '/ctxt_switches/ { s += $2 } END { print s + 0 }' "$t" 2>/dev/null || echo 0)))
		done
	done
	echo "$((cpu * 1000000 / TCK)) $cs"
}
STATUS_VARS="'Com_select','Com_insert','Com_update','Com_delete','Com_insert_select','Com_stmt_execute','Com_stmt_prepare','Com_commit','Handler_commit','Handler_write','Handler_update','Handler_delete','Innodb_data_fsyncs','Questions'"
db_sample() { db "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ($(echo "$STATUS_VARS" | tr 'a-z' 'A-Z'))" | sort; }
succeeded() { db "SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'"; }

run_load() { # clients
	wrk -t1 -c"$1" -d"${DUR}s" --latency -s bench/chat.lua "$URL" | grep '^RESULT' | sed 's/^RESULT //'
}

wrk -t1 -c8 -d2s -s bench/chat.lua "$URL" >/dev/null 2>&1 || true	# warm-up

sheet() { # clients
	local c=$1 before after s0 s1 n res
	declare -A P0
	for p in $PARTS; do P0[$p]=$(proc_sample "$p"); done
	before=$(db_sample); s0=$(succeeded)
	res=$(run_load "$c")
	sleep 0.5	# the last commits and replies
	after=$(db_sample); s1=$(succeeded)
	n=$((s1 - s0))
	echo "### $c client(s): $n requests in ${DUR} s ($res)"
	echo
	echo "| per request | value |"
	echo "|---|---:|"
	join <(echo "$before") <(echo "$after") | awk -v n="$n" '{ printf "| %s | %.2f |\n", tolower($1), ($3 - $2) / n }'
	echo
	echo "| process | CPU µs / request | context switches / request |"
	echo "|---|---:|---:|"
	for p in $PARTS; do
		# shellcheck disable=SC2046 # two numbers each, split on purpose
		set -- ${P0[$p]} $(proc_sample "$p")
		awk -v p="$p" -v n="$n" -v c0="$1" -v x0="$2" -v c1="$3" -v x1="$4" \
		    'BEGIN { printf "| %s | %.0f | %.1f |\n", p, (c1 - c0) / n, (x1 - x0) / n }'
	done
	echo
}

profile() { # clients: perf over aif-api and aif-worker, CPU by stage
	local c=$1 out=$V/tmp/perf.data pids n s0 s1
	command -v perf >/dev/null || { echo "(perf not installed: no stage split)"; return; }
	pids=$(echo ${PIDS[api]} ${PIDS[worker]} | tr ' ' ',')
	s0=$(succeeded)
	declare -A P0
	for p in api worker; do P0[$p]=$(proc_sample "$p"); done
	perf record -q -F 499 --call-graph dwarf,16384 -o "$out" -p "$pids" -- sleep "$DUR" >/dev/null 2>&1 &
	local perf_pid=$!
	run_load "$c" >/dev/null
	wait "$perf_pid" || true
	s1=$(succeeded); n=$((s1 - s0))
	echo "### CPU by stage at $c clients (perf, inclusive time; µs per request)"
	echo
	echo "| process | stage | functions | share of the process | µs / request |"
	echo "|---|---|---|---:|---:|"
	for p in api worker; do
		local comm cpu
		comm=$([ "$p" = api ] && echo aif-api || echo aif-worker)
		# shellcheck disable=SC2046 # two numbers each, split on purpose
		set -- ${P0[$p]} $(proc_sample "$p")
		cpu=$(( ($3 - $1) / (n > 0 ? n : 1) ))
		perf report -i "$out" --comm "$comm" --children --stdio -g none --sort sym \
		    --percent-limit 0 2>/dev/null | awk -v p="$p" -v cpu="$cpu" -f bench/costsheet-stages.awk
	done
	echo
}

echo "## Cost sheet ($(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%F)," \
    "binaries ${AIF_BIN_DIR:-bin/})"
echo
sheet 1
sheet 8
profile 8
echo "synced 4 KiB write: $(t0=$(date +%s%N); dd if=/dev/zero of="$V/db/.fsync-probe" bs=4k count=300 oflag=dsync status=none; t1=$(date +%s%N); rm -f "$V/db/.fsync-probe"; echo $(((t1 - t0) / 300 / 1000))) µs"
bench_machine
