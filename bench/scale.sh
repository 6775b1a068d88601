#!/usr/bin/env bash
# scale.sh -- several hosts, measured (issue 18, point 4): the gateway spread over network
# namespaces as in tests/netns/topology.sh (a database host, an engine host, two fronts,
# up to four worker hosts, `cluster.address` on every process), then
#
#   1. added latency when the worker is on another host: sync requests one at a time
#      (the engine answers at once) with the only worker on the front's host, then with
#      the only worker on a host of its own, twice in turn; p50 and p99 side by side;
#   2. throughput with 1, 2 and 4 worker hosts (16 engine calls each at most) against an
#      engine that takes 100 ms a request, 192 clients through both fronts: the figure
#      shows concurrency (slots x hosts / 100 ms), not this machine's two cores.
#
# Everything runs on this one machine: "another host" is a veth pair and a bridge away,
# so a real network adds its round trips on top (see docs/SCALE.md). Prints a Markdown
# table for bench/RESULTS.md. Root only.
#
# Usage: bench/scale.sh [seconds per measurement, default 15]
set -uo pipefail
NAME=scale
HOSTS=(db eng cli f1 f2 w1 w2 w3 w4)
declare -A IP=([db]=2 [eng]=3 [cli]=5 [f1]=11 [f2]=12 [w1]=21 [w2]=22 [w3]=23 [w4]=24)
NEEDS=()
DB_IP=10.77.0.2
SECS=${1:-15}
set --
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/netns/lib.sh"
SQL_NS=aifn-db SQL_SOCK=$W/db/mysqld.sock
for h in f1 f2 w1 w2 w3 w4; do config "$h" >"$W/conf/$h.yaml"; done

net_up || die "cannot build the network"
start_db
start_engine
start_front f1
start_front f2
F1=$(front f1) F2=$(front f2)
wait_for 30 "fronts" healthy "$F1" && wait_for 30 "fronts" healthy "$F2" || die "fronts did not come up"
KEY=$(key scale-main) && [ -n "$KEY" ] || die "cannot create a key"
running() { test "$(sql "SELECT COUNT(*) FROM workers WHERE state='running'")" = "$1"; }

# worker NAME HOST ID: a worker process on HOST (its pid in WPID[NAME])
declare -A WPID
worker() {
	start "worker-$1" "$2" "$BIN/aif-worker" --config "$W/conf/$2.yaml" --id "$3"
	WPID[$1]=$STARTED
}
stop_worker() {
	kill -TERM "${WPID[$1]}" 2>/dev/null
	for _ in $(seq 100); do kill -0 "${WPID[$1]}" 2>/dev/null || break; sleep 0.1; done
}
rate() { client rate "$KEY" "$((SECS * 1000))" "$@"; }
field() { echo "$1" | json "$2"; }

echo "| setup | clients | engine ms | req/s | p50 ms | p99 ms | failed |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row() {	# row SETUP CLIENTS LAT JSON
	printf '| %s | %s | %s | %.1f | %.2f | %.2f | %s |\n' "$1" "$2" "$3" \
		"$(field "$4" o.rps)" "$(field "$4" o.p50)" "$(field "$4" o.p99)" "$(field "$4" o.failed)"
}

# ---- 1. a worker beside the front, then on a host of its own, alternated twice ---------
for round in 1 2; do
	worker local f1 9
	wait_for 30 "the local worker" running 1 || die "the worker on f1 did not register"
	rate 1 0 warm "$F1" >/dev/null
	r=$(rate 1 0 local "$F1"); row "round $round: worker on the front's host (f1)" 1 0 "$r"
	stop_worker local
	worker w1 w1 1
	wait_for 30 "w1" running 1 || die "w1 did not register"
	rate 1 0 warm "$F1" >/dev/null
	r=$(rate 1 0 remote "$F1"); row "round $round: worker on another host (w1)" 1 0 "$r"
	[ "$round" = 2 ] || stop_worker w1
done

# ---- 2. one, two, four worker hosts against a 100 ms engine ----------------------------------
r=$(rate 192 100 one "$F1" "$F2"); row "1 worker host (16 slots)" 192 100 "$r"
worker w2 w2 2
wait_for 30 "w2" running 2 || die "w2 did not register"
r=$(rate 192 100 two "$F1" "$F2"); row "2 worker hosts" 192 100 "$r"
worker w3 w3 3
worker w4 w4 4
wait_for 30 "w3, w4" running 4 || die "w3, w4 did not register"
r=$(rate 192 100 four "$F1" "$F2"); row "4 worker hosts" 192 100 "$r"
