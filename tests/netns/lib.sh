# lib.sh -- what the network-namespace tests share (tests/netns/topology.sh,
# tests/netns/galera.sh, bench/scale.sh): hosts as namespaces on a bridge in a namespace
# of its own; each process started in its host's namespace and a mount namespace of its
# own with a private tmpfs at /run/aifn (its run_dir; aif-api and nginx of a front share
# one): no Unix socket is shared, not even between two processes of one host. Processes
# started and always stopped, the YAML of a host, nginx's config, the client, checks.
# The caller sets NAME, HOSTS (names), IP (name -> last octet), NEEDS (more commands),
# DB_IP (what the gateway's processes connect to), then sources this file.
# shellcheck shell=bash
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
BIN=${AIF_BIN_DIR:-$REPO/bin}
W=${AIF_NETNS_DIR:-$REPO/var/netns-$NAME}
NET=10.77.0
RUN=/run/aifn
keep=0
[ "${1:-}" = --keep ] && keep=1

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok     $*"; }
bad() { fail=$((fail + 1)); echo "FAIL   $*"; }
log() { echo "[$(( ($(date +%s%N) - T0) / 1000000 )) ms] $*"; }
die() { echo "$NAME: $*" >&2; exit 1; }
T0=$(date +%s%N)

[ "$(id -u)" = 0 ] || die "root only (network namespaces)"
for c in ip unshare mariadbd mariadb-install-db mariadb nginx node "${NEEDS[@]}"; do
	command -v "$c" >/dev/null || die "$c is missing (scripts/deps.sh installs it)"
done
for b in aif-api aif-worker aifctl aif-cron; do [ -x "$BIN/$b" ] || die "$BIN/$b: run make first"; done
[ -d "$REPO/tests/e2e/node_modules/openai" ] || die "npm ci --prefix tests/e2e first"

# ---- teardown ---------------------------------------------------------------------------
# Every process in a namespace of these tests (ours or one a killed run left: every aifn-
# namespace, whichever script made it), then the namespaces. Processes are found by
# namespace, never by a pid kept from earlier (it may belong to someone else by now).
ns_all() { ip netns list 2>/dev/null | awk '/^aifn-/ { print $1 }'; }
ns_pids() { local ns; for ns in $(ns_all); do ip netns pids "$ns" 2>/dev/null; done; }
cleanup() {
	local p ns
	for p in $(ns_pids); do kill -TERM "$p" 2>/dev/null; done
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -z "$(ns_pids)" ] && break; sleep 0.3; done
	for p in $(ns_pids); do kill -KILL "$p" 2>/dev/null; done
	for ns in $(ns_all); do ip netns del "$ns" 2>/dev/null; done
	umount -l "$RUN" 2>/dev/null; rmdir "$RUN" 2>/dev/null
	return 0
}
on_exit() {
	local rc=$?
	if [ "$keep" = 1 ] && [ "$fail" = 0 ]; then
		echo "left running; stop with: for ns in \$(ip netns list | awk '/^aifn-/{print \$1}'); do kill \$(ip netns pids \$ns); ip netns del \$ns; done"
		return
	fi
	if [ "$fail" != 0 ] || [ "$rc" != 0 ]; then
		for f in "$W"/log/*.log "$W"/*/mariadb.log; do
			[ -s "$f" ] || continue
			echo "----- $f (last 25 lines)"
			tail -n 25 "$f"
		done
	fi
	cleanup
}
# one run of these tests at a time on a machine (the names, addresses and /run/aifn)
exec 9>/run/aifn.lock
flock -w 900 9 || die "another network-namespace test holds /run/aifn.lock"
trap on_exit EXIT
cleanup		# what an interrupted run left

# ---- network: a bridge in its own namespace, one veth per host ---------------------------
net_up() {
	ip netns add aifn-sw || return 1
	ip -n aifn-sw link add br0 type bridge && ip -n aifn-sw link set br0 up &&
		ip -n aifn-sw link set lo up || return 1
	for h in "${HOSTS[@]}"; do
		ip netns add "aifn-$h" &&
			ip -n aifn-sw link add "p-$h" type veth peer name eth0 netns "aifn-$h" &&
			ip -n aifn-sw link set "p-$h" master br0 up &&
			ip -n "aifn-$h" addr add "$NET.${IP[$h]}/24" dev eth0 &&
			ip -n "aifn-$h" link set eth0 up && ip -n "aifn-$h" link set lo up || return 1
	done
}
cut_link() { ip -n aifn-sw link set "p-$1" down; }

# host_cmd HOST: in HOSTCMD, the words that run a command in the host's network
# namespace and a mount namespace of its own, where /run/aifn is a private tmpfs (its
# run_dir); every one of them execs the next.
host_cmd() {
	HOSTCMD=(ip netns exec "aifn-$1" unshare --mount --propagation private
		bash -c "mount -t tmpfs -o mode=0755 tmpfs $RUN && exec \"\$@\"" _)
}
# on HOST CMD...: runs CMD there and waits for it.
on() { host_cmd "$1"; shift; "${HOSTCMD[@]}" "$@"; }
# start NAME HOST CMD...: on HOST in the background, logs in $W/log/NAME.log; its pid
# (the program's own: everything execs down) in STARTED.
start() {
	local name=$1; host_cmd "$2"; shift 2
	(exec "${HOSTCMD[@]}" "$@") >"$W/log/$name.log" 2>&1 &
	STARTED=$!
	disown	# no job notices when a test kills one on purpose
}
# sql QUERY: on the database the caller names (SQL_NS, SQL_SOCK: its local socket)
# (the query on stdin: a list of thousands of job ids is longer than one argument may be)
sql() { ip netns exec "$SQL_NS" mariadb --socket="$SQL_SOCK" -N -B aif <<<"$1"; }
wait_for() {	# wait_for SECONDS WHAT CMD...
	local t=$1 what=$2; shift 2
	for ((i = 0; i < t * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
	echo "timed out waiting for $what" >&2
	return 1
}
client() { ip netns exec aifn-cli node "$REPO/tests/e2e/netns-client.mjs" "$@"; }
json() { node -e 'const o=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log(eval(process.argv[1]))' "$1"; }

# ---- files --------------------------------------------------------------------------------
rm -rf "$W" && mkdir -p "$W"/{log,secrets,conf,nginx} "$RUN" || die "cannot make $W"
head -c 48 /dev/urandom | base64 >"$W/secrets/cluster"
head -c 32 /dev/urandom | base64 >"$W/secrets/pepper"
DBPASS=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
printf '%s' "$DBPASS" >"$W/secrets/dbpass"
chmod 600 "$W"/secrets/*

config() {	# config HOST: the YAML of one host (the database at $DB_IP)
	cat <<EOF
server:
  listen: $RUN/api.sock
  run_dir: $RUN
  threads: 8
  sync_timeout_ms: 30000
  poll_interval_ms: 1000
database:
  host: $DB_IP
  port: 3306
  user: aif
  password_file: $W/secrets/dbpass
  name: aif
queue:
  lease_seconds: 4
  poll_interval_ms: 500
  max_attempts: 5
worker:
  slots: 16
  heartbeat_ms: 500
  drain_timeout_ms: 2000
auth:
  pepper_file: $W/secrets/pepper
cluster:
  address: $NET.${IP[$1]}
  secret_file: $W/secrets/cluster
models:
  - id: demo-chat
    adapter: openai
    engine: vllm
    upstream_model: mock-llama-3-8b
    kinds: [chat, completion]
    replicas:
      - url: http://$NET.${IP[eng]}:9101
    timeout_ms: 5000
    pricing:
      input_per_mtok: 150000
      output_per_mtok: 600000
roles:
  - name: user
    max_priority: 6
    models: ["demo-*"]
    endpoints: [chat, completions, models, jobs]
  - name: admin
    admin: true
    models: ["*"]
    endpoints: ["*"]
EOF
}

nginx_conf() {	# nginx_conf HOST
	sed -e '1,/^$/d' -e 's/[[:space:]]*# @if-[a-z]*$//' \
		-e "s|listen 127.0.0.1:@AIF_PORT@|listen $NET.${IP[$1]}:8080|" \
		-e "s|@API_SERVERS@|server unix:$RUN/api.sock max_fails=0;|g" \
		-e "s|@API_SOCKET@|$RUN/api.sock|g" \
		-e "s|@NGINX_DIR@|$W/nginx/$1|g" -e "s|@RUN_DIR@|$RUN|g" \
		-e "s|@LOG_DIR@|$W/log/nginx-$1|g" -e "s|@CONSOLE_DIR@|$REPO/console|g" \
		-e "s|@USER_LINE@|user root;|g" "$REPO/nginx/local.conf.in"
}

# mariadb_start HOST USER [mariadbd options]: a MariaDB on HOST's address, run as USER,
# with durable commits; its data directory (made the first time), socket mysqld.sock,
# pid file and log mariadb.log in $W/HOST.
mariadb_start() {
	local h=$1 user=$2 dir=$W/$1; shift 2
	mkdir -p "$dir" && chown "$user": "$dir" || die "cannot make $dir"
	[ -d "$dir/data/mysql" ] || mariadb-install-db --no-defaults --datadir="$dir/data" \
		--user="$user" --skip-test-db --skip-name-resolve \
		--auth-root-authentication-method=socket >"$W/log/install-$h.log" 2>&1 ||
		die "mariadb-install-db ($h) failed"
	start "mariadb-$h" "$h" mariadbd --no-defaults --datadir="$dir/data" --user="$user" \
		--socket="$dir/mysqld.sock" --bind-address="$NET.${IP[$h]}" --port=3306 \
		--skip-name-resolve --pid-file="$dir/mariadb.pid" --log-error="$dir/mariadb.log" \
		--innodb-flush-log-at-trx-commit=1 --innodb-buffer-pool-size=64M \
		--max-connections=400 --transaction-isolation=READ-COMMITTED \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci "$@"
}
# db_sql HOST SQL: as root on HOST's own MariaDB (its socket)
db_sql() { ip netns exec "aifn-$1" mariadb --socket="$W/$1/mysqld.sock" -N -B -e "$2"; }
# db_account HOST: the database and the account the gateway uses over TCP
db_account() {
	db_sql "$1" "CREATE DATABASE aif CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
		CREATE USER 'aif'@'$NET.%' IDENTIFIED BY '$DBPASS';
		GRANT ALL PRIVILEGES ON aif.* TO 'aif'@'$NET.%';" || die "cannot create the database"
}
# start_db: MariaDB alone on host db, the gateway's account, the schema migrated from host
# f1 over TCP (so f1's config must exist).
start_db() {
	mariadb_start db root
	wait_for 60 "MariaDB" db_sql db 'SELECT 1' || die "MariaDB did not start"
	db_account db
	on f1 "$BIN/aifctl" --config "$W/conf/f1.yaml" migrate >"$W/log/migrate.log" 2>&1 ||
		die "aifctl migrate over TCP failed"
}
# quoted_ids: the accepted job ids of a client's JSON (stdin) as a SQL list
quoted_ids() { json 'o.accepted.map(x=>"\x27"+x+"\x27").join(",")'; }

# exactly_once WHAT: one usage row per succeeded job in the database, none for the others
exactly_once() {
	local dup miss extra total
	dup=$(sql "SELECT COUNT(*) FROM (SELECT job_id FROM \`usage\` GROUP BY job_id HAVING COUNT(*) > 1) d")
	miss=$(sql "SELECT COUNT(*) FROM jobs j WHERE j.state='succeeded' AND NOT EXISTS (SELECT 1 FROM \`usage\` u WHERE u.job_id=j.id)")
	extra=$(sql "SELECT COUNT(*) FROM \`usage\` u JOIN jobs j ON j.id=u.job_id WHERE j.state <> 'succeeded'")
	total=$(sql "SELECT COUNT(*) FROM jobs WHERE state='succeeded'")
	if [ "$dup" = 0 ] && [ "$miss" = 0 ] && [ "$extra" = 0 ] && [ "$total" -gt 0 ]; then
		ok "exactly once $1: $total succeeded jobs, one usage row each, none for the others"
	else
		bad "usage rows $1: $dup jobs with several, $miss succeeded without, $extra for jobs not succeeded"
	fi
}
# summary: the last line, and the exit status
summary() {
	echo
	echo "$pass passed, $fail failed ($(( ($(date +%s%N) - T0) / 1000000000 )) s)"
	[ "$fail" = 0 ]
}

# ---- the gateway's processes --------------------------------------------------------------
# start_front HOST: aif-api and nginx (on HOST:8080), sharing the host's mount namespace
start_front() {
	local h=$1
	mkdir -p "$W/nginx/$h/tmp" "$W/log/nginx-$h"
	nginx_conf "$h" >"$W/nginx/$h/nginx.conf"
	start "front-$h" "$h" bash -c "
		'$BIN/aif-api' --config '$W/conf/$h.yaml' >'$W/log/api-$h.log' 2>&1 &
		for i in \$(seq 50); do [ -S $RUN/api.sock ] && break; sleep 0.1; done
		exec nginx -p '$W/nginx/$h/' -c '$W/nginx/$h/nginx.conf' \
			-e '$W/log/nginx-$h/error.log'"
}
start_worker() { start "worker-$1" "$1" "$BIN/aif-worker" --config "$W/conf/$1.yaml" --id "$2"; }
start_engine() {
	start mock eng node "$REPO/tests/mock-engine/server.mjs" --protocol vllm \
		--host "$NET.${IP[eng]}" --port 9101 "$@"
}
front() { echo "http://$NET.${IP[$1]}:8080"; }
healthy() { ip netns exec aifn-cli curl -fsS -o /dev/null "$1/healthz"; }
# key NAME [aifctl keys create options]: a new key of role user, made from host f1
key() { on f1 "$BIN/aifctl" --config "$W/conf/f1.yaml" keys create --name "$1" --role user \
	"${@:2}" 2>>"$W/log/keys.log" | head -1; }
