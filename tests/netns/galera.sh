#!/usr/bin/env bash
# galera.sh -- MariaDB failover on MariaDB's own clustering (issue 18, point 3;
# docs/SCALE.md): a three-node Galera cluster (Debian's galera-4) used with one writer,
# which every process of the gateway reaches through Debian's haproxy: g1 is the server,
# g2 and g3 are backups, so all hosts agree on the writer. Hosts are network namespaces
# (tests/netns/lib.sh):
#
#   aifn-g1 10.77.0.31  aifn-g2 10.77.0.32  aifn-g3 10.77.0.33   Galera nodes (rsync SST)
#   aifn-px 10.77.0.4   haproxy: 3306 -> g1, else g2, else g3 (TCP checks every 300 ms)
#   aifn-eng 10.77.0.3  mock engine      aifn-cli 10.77.0.5  the client (openai SDK)
#   aifn-f1 10.77.0.11  nginx + aif-api  aifn-w1 / w2 10.77.0.21 / .22  workers
#
# Why one writer: a job claim is SELECT ... FOR UPDATE SKIP LOCKED, which locks rows on
# the node that runs it only; two writers would both claim a job and one of them would
# fail at commit on a certification conflict (Galera's deadlock error) again and again.
# Checks, with async jobs submitted 4 at a time through the front while g1's mariadbd is
# killed (SIGKILL) and g2 takes over:
#   1. the cluster is three synced nodes and the schema is migrated through haproxy;
#   2. every job whose 202 the client got is in the database afterwards, and succeeded;
#   3. no job succeeded twice (one usage row per succeeded job, none for the others);
#   4. the time without service: the longest gap between two accepted submissions around
#      the kill (printed; a check that it ended, not a timed assertion).
# Root only. Ends with "N passed, M failed"; exit 1 if anything failed.
#
# Usage: tests/netns/galera.sh [--keep]
set -uo pipefail
NAME=galera
HOSTS=(g1 g2 g3 px eng cli f1 w1 w2)
declare -A IP=([g1]=31 [g2]=32 [g3]=33 [px]=4 [eng]=3 [cli]=5 [f1]=11 [w1]=21 [w2]=22)
NEEDS=(haproxy rsync)
id mysql >/dev/null 2>&1 || { echo "galera: no mysql user (Debian's mariadb-server makes it)" >&2; exit 1; }
DB_IP=10.77.0.4
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PROVIDER=/usr/lib/galera/libgalera_smm.so
# How soon the survivors give up on a node that went silent (Galera's defaults: suspect
# after 5 s, declare inactive after 15 s); AIF_GALERA_EVS="" runs with the defaults.
EVS=${AIF_GALERA_EVS-evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S;evs.inactive_check_period=PT0.5S;evs.keepalive_period=PT0.5S}
[ -f "$PROVIDER" ] || die "$PROVIDER is missing (Debian's galera-4; scripts/deps.sh)"
SQL_NS=aifn-g1 SQL_SOCK=$W/g1/mysqld.sock
for h in f1 w1 w2; do config "$h" >"$W/conf/$h.yaml"; done

synced() { [ "$(db_sql "$1" "SHOW STATUS LIKE 'wsrep_local_state_comment'" | cut -f2)" = Synced ]; }
size_is() { [ "$(db_sql "$1" "SHOW STATUS LIKE 'wsrep_cluster_size'" | cut -f2)" = "$2" ]; }

# start_node N [--wsrep-new-cluster]: a Galera node, as the mysql user, not root: rsync's
# daemon for the state transfer would switch to "nobody" as root, and could not read the
# data directory
start_node() {
	local n=$1 ip=$NET.${IP[$1]}; shift
	mariadb_start "$n" mysql --innodb-autoinc-lock-mode=2 --binlog-format=ROW \
		--default-storage-engine=InnoDB \
		--wsrep-on=ON --wsrep-provider="$PROVIDER" --wsrep-cluster-name=aif-test \
		--wsrep-cluster-address="gcomm://$NET.31,$NET.32,$NET.33" \
		--wsrep-node-name="$n" --wsrep-node-address="$ip" \
		--wsrep-sst-method=rsync --wsrep-sst-receive-address="$ip:4444" \
		--wsrep-provider-options="gmcast.listen_addr=tcp://$ip:4567;ist.recv_addr=$ip:4568;$EVS" \
		"$@"
}

# ---- the cluster -----------------------------------------------------------------------------
net_up || die "cannot build the network"
start_node g1 --wsrep-new-cluster
wait_for 60 "g1 synced" synced g1 || die "g1 did not bootstrap the cluster"
db_account g1
start_node g2
wait_for 90 "g2 synced" synced g2 || die "g2 did not join"
start_node g3
wait_for 90 "g3 synced" synced g3 || die "g3 did not join"
size_is g1 3 && ok "Galera: g1, g2, g3 synced, cluster size 3" || bad "cluster size: $(db_sql g1 "SHOW STATUS LIKE 'wsrep_cluster_size'")"
log "cluster up"

cat >"$W/haproxy.cfg" <<EOF
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
listen mariadb
    bind $DB_IP:3306
    default-server inter 300ms fall 2 rise 3 on-marked-down shutdown-sessions
    server g1 $NET.31:3306 check
    server g2 $NET.32:3306 check backup
    server g3 $NET.33:3306 check backup
EOF
start haproxy px haproxy -db -f "$W/haproxy.cfg"
wait_for 20 "haproxy" on f1 "$BIN/aifctl" --config "$W/conf/f1.yaml" migrate \
	>"$W/log/migrate.log" 2>&1 || die "aifctl migrate through haproxy failed"
n_tables=$(db_sql g3 "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='aif'")
[ "$n_tables" -gt 10 ] && ok "migrated through haproxy; g3 has the $n_tables tables too" ||
	bad "tables on g3: $n_tables"

start_engine
start_front f1
start_worker w1 1
start_worker w2 2
F1=$(front f1)
wait_for 30 "front f1" healthy "$F1" || die "the front did not come up"
two_running() { test "$(sql "SELECT COUNT(*) FROM workers WHERE state='running'")" = 2; }
wait_for 30 "two workers" two_running || die "workers did not register"
KEY=$(key galera-main) && [ -n "$KEY" ] || die "cannot create a key"
log "gateway up: front $F1, workers w1 w2, database through haproxy $DB_IP:3306"

# ---- kill the writer under load ------------------------------------------------------------
t_client=$(date +%s%N)
client submit "$KEY" 12000 failover "$F1" >"$W/submit.json" &
cpid=$!
sleep 4
kill -KILL "$(cat "$W/g1/mariadb.pid")"
t_kill=$(( ($(date +%s%N) - t_client) / 1000000 ))	# about the client's time
log "g1's mariadbd killed, ${t_kill} ms into the load"
wait "$cpid"
SQL_NS=aifn-g2 SQL_SOCK=$W/g2/mysqld.sock
r=$(cat "$W/submit.json")
ids=$(echo "$r" | quoted_ids)
n=$(echo "$r" | json 'o.accepted.length')
gap=$(echo "$r" | json 'o.gap_ms')
size_is g2 2 && ok "g2 and g3 go on as a cluster of 2" || bad "after the kill: $(db_sql g2 "SHOW STATUS LIKE 'wsrep_cluster_size'")"
final() { test "$(sql "SELECT COUNT(*) FROM jobs WHERE public_id IN ($ids) AND state IN ('succeeded','failed','cancelled','expired')")" = "$n"; }
wait_for 90 "the accepted jobs to finish" final
found=$(sql "SELECT COUNT(*) FROM jobs WHERE public_id IN ($ids)")
succ=$(sql "SELECT COUNT(*) FROM jobs WHERE public_id IN ($ids) AND state='succeeded'")
[ "$n" -gt 50 ] && [ "$found" = "$n" ] && [ "$succ" = "$n" ] &&
	ok "all $n accepted jobs are on the new writer and succeeded ($(echo "$r" | json 'o.failed') submissions refused or cut during the failover)" ||
	bad "after failover: $n accepted, $found found, $succ succeeded"
exactly_once "across the failover"
# the longest gap spans the kill, and submissions were accepted again before the end
span=$(echo "$r" | json "o.gap_from_ms <= $t_kill + 500 && o.gap_from_ms + o.gap_ms >= $t_kill && o.gap_from_ms + o.gap_ms < 11000")
[ "$span" = true ] &&
	ok "service came back: ${gap} ms without an accepted submission, from the kill at ${t_kill} ms" ||
	bad "service after the kill at ${t_kill} ms: $(echo "$r" | json 'JSON.stringify({gap:o.gap_ms,from:o.gap_from_ms})')"
echo "time without service (longest gap between accepted submissions): ${gap} ms"

summary
