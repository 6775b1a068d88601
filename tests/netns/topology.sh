#!/usr/bin/env bash
# topology.sh -- several hosts, one truth (issue 18, point 2; docs/SCALE.md): the gateway
# spread over network namespaces that stand for hosts, each with its own address on a
# private bridge; each process in a mount namespace of its own over the one run_dir path
# (a private tmpfs at /run/aifn: no Unix socket is shared between hosts):
#
#   aifn-db   10.77.0.2   MariaDB, reached by everyone else over TCP only
#   aifn-eng  10.77.0.3   the mock vLLM engine
#   aifn-cli  10.77.0.5   the client: the official openai SDK (tests/e2e/netns-client.mjs)
#   aifn-f1   10.77.0.11  nginx + aif-api    aifn-f2  10.77.0.12  nginx + aif-api
#   aifn-w1   10.77.0.21  aif-worker         aifn-w2  10.77.0.22  aif-worker
#   aifn-sw               the bridge (a namespace of its own: the host's network is
#                         never touched; nothing is reachable from outside)
#
# Every process has `cluster.address` set to its host's address: doorbells are sealed UDP
# datagrams and stream relays TCP between hosts; the workers table holds only network
# addresses. Checks:
#   1. requests through both fronts are answered; a stream is relayed chunk by chunk
#      from a worker host to a front host; the workers table holds udp: addresses only;
#   2. a key limited to 20 requests a minute gets exactly 20 admitted out of 40 sent at
#      once through both fronts;
#   3. a key with a budget is never charged past it, whichever front admits;
#   4. cutting a worker host's link while it runs jobs loses nothing: its leased jobs
#      come back (aif-cron reap) and finish on the other worker, each exactly once;
#   5. cutting a front host's link fails only the requests sent there, the other front
#      goes on, the async jobs it had accepted (still running at the cut) all finish,
#      and no job is left open;
#   6. no job succeeded twice: one usage row per succeeded job, none for the others.
# Everything is created and removed by this script (EXIT trap), under $W and /run/aifn.
# Root only. Ends with "N passed, M failed"; exit 1 if anything failed.
#
# Usage: tests/netns/topology.sh [--keep]   (--keep: leave it running, print how to stop)
set -uo pipefail
NAME=topology
HOSTS=(db eng cli f1 f2 w1 w2)
declare -A IP=([db]=2 [eng]=3 [cli]=5 [f1]=11 [f2]=12 [w1]=21 [w2]=22)
NEEDS=()
DB_IP=10.77.0.2
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SQL_NS=aifn-db SQL_SOCK=$W/db/mysqld.sock
for h in f1 f2 w1 w2; do config "$h" >"$W/conf/$h.yaml"; done

# ---- bring it up --------------------------------------------------------------------------
net_up || die "cannot build the network"
log "network: ${HOSTS[*]} on $NET.0/24"

start_db
log "MariaDB on $DB_IP:3306, migrated from f1 over TCP"

start_engine
start_front f1
start_front f2
start_worker w1 1
start_worker w2 2
F1=$(front f1) F2=$(front f2)
wait_for 30 "front f1" healthy "$F1" && wait_for 30 "front f2" healthy "$F2" || die "fronts did not come up"
two_running() { test "$(sql "SELECT COUNT(*) FROM workers WHERE state='running'")" = 2; }
wait_for 30 "two workers" two_running || die "workers did not register"
KEY=$(key netns-main) && [ -n "$KEY" ] || die "cannot create a key"
log "up: fronts $F1 $F2, workers w1 w2, engine $NET.${IP[eng]}:9101"

# ---- 1. requests and streams across hosts ---------------------------------------------------
r=$(client sync "$KEY" 12 hello "$F1" "$F2")
[ "$(echo "$r" | json 'o[200]||0')" = 12 ] && ok "12 sync requests through both fronts answered ($r)" ||
	bad "sync requests: $r"
d=$(sql "SELECT doorbell FROM workers WHERE state='running'" | sort | tr '\n' ' ')
[[ $d =~ ^udp:10\.77\.0\.21:[0-9]+\ udp:10\.77\.0\.22:[0-9]+\ $ ]] &&
	ok "the workers table holds network doorbells only ($d)" || bad "workers' doorbells: $d"
rt=$(sql "SELECT DISTINCT SUBSTRING_INDEX(reply_to, ':', 2) FROM jobs WHERE reply_to IS NOT NULL" | sort | tr '\n' ' ')
[ "$rt" = "udp:10.77.0.11 udp:10.77.0.12 " ] && ok "jobs name the fronts' network doorbells ($rt)" ||
	bad "reply_to: $rt"
s=$(client stream "$KEY" "$F2")
if [ "$(echo "$s" | json 'o.chunks >= 5 && o.first < o.last / 3')" = true ]; then
	ok "a stream paced by the engine arrives chunk by chunk through f2 ($s)"
else
	bad "stream across hosts: $s"
fi

# ---- 2. a rate limit counted once across both fronts ----------------------------------------
RKEY=$(key netns-rpm --rpm 20)
r=$(client async "$RKEY" 40 0 rpm "$F1" "$F2" | json 'JSON.stringify(o.counts)')
[ "$(echo "$r" | json 'o[202]||0')" = 20 ] && [ "$(echo "$r" | json 'o[429]||0')" = 20 ] &&
	ok "rpm 20: 40 at once through both fronts, exactly 20 admitted ($r)" || bad "rate limit: $r"

# ---- 3. a budget never overspent ------------------------------------------------------------
BKEY=$(key netns-budget --budget 40)
BKID=$(sql "SELECT id FROM api_keys WHERE name='netns-budget'")
r=$(client async "$BKEY" 30 0 budget "$F1" "$F2" | json 'JSON.stringify(o.counts)')
settled() { test "$(sql "SELECT COUNT(*) FROM jobs WHERE api_key_id=$BKID AND state IN ('queued','running')")" = 0; }
wait_for 30 "the budget key's jobs" settled
spent=$(sql "SELECT COALESCE(SUM(cost_micros),0) FROM \`usage\` WHERE api_key_id=$BKID")
done_n=$(sql "SELECT COUNT(*) FROM jobs WHERE api_key_id=$BKID AND state='succeeded'")
if [ "$spent" -le 40 ] && [ "$done_n" -ge 1 ] && [ "$(echo "$r" | json 'o[202]||0')" = "$done_n" ] &&
	[ "$(echo "$r" | json 'o[202]||0')" -lt 30 ]; then
	ok "budget 40 micros, 30 at once through both fronts: $done_n admitted and run, $spent spent ($r)"
else
	bad "budget: $done_n succeeded, spent $spent of 40 ($r)"
fi

# ---- 4. a worker host cut off mid-load -------------------------------------------------------
start reaper f1 bash -c "while :; do '$BIN/aif-cron' --config '$W/conf/f1.yaml' reap; sleep 1; done"
a=$(client async "$KEY" 40 150 cut-worker "$F1" "$F2")
ids=$(echo "$a" | quoted_ids)
n=$(echo "$a" | json 'o.accepted.length')
on_w1() { sql "SELECT COUNT(*) FROM jobs j JOIN workers w ON w.id=j.worker_id WHERE j.state='running' AND w.doorbell LIKE 'udp:10.77.0.21:%'"; }
w1_busy() { test "$(on_w1)" -gt 0; }
wait_for 20 "w1 running jobs" w1_busy
running_w1=$(on_w1)
cut_link w1
log "w1 cut off with $running_w1 jobs running there"
final() { test "$(sql "SELECT COUNT(*) FROM jobs WHERE public_id IN ($ids) AND state IN ('succeeded','failed','cancelled','expired')")" = "$n"; }
wait_for 90 "the cut worker's jobs to finish elsewhere" final
states=$(sql "SELECT state, COUNT(*) FROM jobs WHERE public_id IN ($ids) GROUP BY state" | tr '\t\n' ': ')
if [ "$n" = 40 ] && [ "$running_w1" -gt 0 ] &&
	[ "$(sql "SELECT COUNT(*) FROM jobs WHERE public_id IN ($ids) AND state='succeeded'")" = 40 ]; then
	ok "w1 cut with $running_w1 jobs running: all 40 accepted jobs succeeded ($states)"
else
	bad "worker cut: $n accepted, $running_w1 on w1, states $states"
fi
moved=$(sql "SELECT COUNT(*) FROM jobs WHERE public_id IN ($ids) AND attempts > 1")
[ "$moved" -gt 0 ] && ok "$moved of them ran again after their lease on w1 ran out" ||
	bad "no job was taken over from w1"

# ---- 5. a front host cut off mid-load ----------------------------------------------------------
# f2 accepts 10 async jobs that take ~3 s each (under the model's 5 s timeout; they
# outlast the cut, and leave 6 of w2's 16 slots to the traffic), then sync traffic runs
# through both fronts and f2 is cut off 2 s into it
a=$(client async "$KEY" 10 700 cut-front "$F2")
ids2=$(echo "$a" | quoted_ids)
n2=$(echo "$a" | json 'o.accepted.length')
client rate "$KEY" 6000 4 0 steady "$F1" "$F2" | json 'JSON.stringify(o.per)' >"$W/steady.json" &
cpid=$!
sleep 2
open2=$(sql "SELECT COUNT(*) FROM jobs WHERE public_id IN ($ids2) AND state IN ('queued','running')")
cut_link f2
wait "$cpid"
st=$(cat "$W/steady.json")
final2() { test "$(sql "SELECT COUNT(*) FROM jobs WHERE public_id IN ($ids2) AND state='succeeded'")" = "$n2"; }
wait_for 90 "f2's accepted jobs" final2
if [ "$(echo "$st" | json "o['$F1'].failed === 0 && o['$F1'].ok > 0 && o['$F2'].failed > 0")" = true ] &&
	[ "$n2" = 10 ] && [ "$open2" -gt 0 ] && final2; then
	ok "f2 cut: requests sent there failed, f1 answered every one; f2's 10 accepted jobs, $open2 still open at the cut, all succeeded ($st)"
else
	bad "front cut: $st; $n2 accepted through f2, $open2 open at the cut, $(sql "SELECT COUNT(*) FROM jobs WHERE public_id IN ($ids2) AND state='succeeded'") succeeded"
fi
# and every job the cut front had in flight (sync requests whose client it lost) ended
idle() { test "$(sql "SELECT COUNT(*) FROM jobs WHERE state IN ('queued','running')")" = 0; }
wait_for 60 "every job final" idle && ok "no job left queued or running after the cuts" ||
	bad "jobs left open: $(sql "SELECT state, COUNT(*) FROM jobs WHERE state IN ('queued','running') GROUP BY state" | tr '\t\n' ': ')"

# ---- 6. exactly once -----------------------------------------------------------------------
exactly_once "across hosts"
summary
