#!/usr/bin/env bash
# peers.sh -- aif side by side with its peers, in one run on one machine, against the
# same zero-latency engine (an nginx `return 200` with a fixed chat completion,
# bench/peers.conf.in):
#   direct   wrk -> nginx proxy_pass -> engine                       (no gateway at all)
#   portkey  wrk -> Portkey's gateway (@portkey-ai/gateway from npm, its own start
#            script, headless) -> engine; nothing durable
#   aif      wrk -> nginx -> aif-api -> MariaDB -> aif-worker -> engine (auth, limits,
#            PII, a durable job row, claim, result and usage row; durable commits on)
# Interleaved (direct, portkey, aif at 32 clients, then at 8) and twice, so a drift of
# the machine shows in both; the synced-write latency of the disk under the database is
# measured at the start and the end (dd oflag=dsync, 4 KiB writes).
# Brings up its own stack under var/bench-peers and takes everything down at the end.
# Usage: bench/peers.sh [seconds per run, default 10]
# Env: PORTKEY_VERSION (1.15.2), AIF_BENCH_PEERS_PORT (38280; +1 engine, +2 direct,
#      +3 Portkey, +4 mock engine).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DUR=${1:-10}
BASE=${AIF_BENCH_PEERS_PORT:-38280}
ENGINE_PORT=$((BASE + 1)) DIRECT_PORT=$((BASE + 2)) PORTKEY_PORT=$((BASE + 3))
PORTKEY_VERSION=${PORTKEY_VERSION:-1.15.2}
VAR=$PWD/var/bench-peers
mkdir -p "$VAR/run" "$VAR/log" "$VAR/nginx" "$VAR/portkey"

# --- Portkey, from npm, once -----------------------------------------------------------
PK=$VAR/portkey/node_modules/@portkey-ai/gateway
if [ "$(node -p "try{require('$PK/package.json').version}catch(e){''}")" != "$PORTKEY_VERSION" ]; then
	echo "installing @portkey-ai/gateway@$PORTKEY_VERSION (npm) ..." >&2
	npm install --prefix "$VAR/portkey" --no-audit --no-fund --loglevel=error \
	    "@portkey-ai/gateway@$PORTKEY_VERSION" >&2
fi

pk_pid=
cleanup() {
	[ -n "$pk_pid" ] && kill "$pk_pid" 2>/dev/null || true
	[ -f "$VAR/run/peers-nginx.pid" ] && kill "$(cat "$VAR/run/peers-nginx.pid")" 2>/dev/null || true
	AIF_VAR_DIR=$VAR scripts/stack.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- the engine and direct -------------------------------------------------------------
sed -e "s|@VAR@|$VAR|g" -e "s|@ENGINE_PORT@|$ENGINE_PORT|g" -e "s|@DIRECT_PORT@|$DIRECT_PORT|g" \
    bench/peers.conf.in > "$VAR/nginx/peers.conf"
if [ "$(id -u)" = 0 ]; then nginx -c "$VAR/nginx/peers.conf" -g 'user root;'
else nginx -c "$VAR/nginx/peers.conf"; fi

# --- Portkey with its own start script -------------------------------------------------
node "$PK/build/start-server.js" --port="$PORTKEY_PORT" --headless > "$VAR/log/portkey.log" 2>&1 &
pk_pid=$!

# --- aif: its stack, with a model on the fixed-body engine -----------------------------
export AIF_VAR_DIR=$VAR AIF_PORT=$BASE AIF_MOCK_PORT=$((BASE + 4)) AIF_DB_NAME=aif_bench_peers \
       AIF_CONFIG=$VAR/aif.yaml AIF_WORKERS=${AIF_BENCH_WORKERS:-2}
awk -v port="$ENGINE_PORT" '
	{ print }
	/^models:/ && !done {
		print "  - id: demo-fixed"
		print "    adapter: openai"
		print "    engine: vllm"
		print "    upstream_model: mock-llama-3-8b"
		print "    owned_by: aif-bench"
		print "    kinds: [chat]"
		print "    replicas:"
		print "      - url: http://127.0.0.1:" port
		print "        max_in_flight: 256"
		print "    max_in_flight: 256"
		print "    timeout_ms: 30000"
		print "    pricing: {input_per_mtok: 150000, output_per_mtok: 600000}"
		done = 1
	}' config/aif.yaml > "$VAR/aif.yaml"
scripts/stack.sh up >/dev/null
set -a; . "$VAR/stack.env"; set +a

for _ in $(seq 1 100); do
	curl -s -o /dev/null "http://127.0.0.1:$PORTKEY_PORT/" && break
	sleep 0.1
done

fsync_us() { # the mean latency of one synced 4 KiB write in the database's directory, µs
	local f=$VAR/db/.fsync-probe t0 t1
	t0=$(date +%s%N)
	dd if=/dev/zero of="$f" bs=4k count=500 oflag=dsync status=none
	t1=$(date +%s%N)
	rm -f "$f"
	echo $(((t1 - t0) / 500 / 1000))
}

run() { # name clients url [portkey-host]
	local out
	out=$(AIF_BENCH_MODEL=$4 AIF_BENCH_PORTKEY_HOST=${5:-} wrk -t2 -c"$2" -d"${DUR}s" --latency \
	    -s bench/chat.lua "$3" | grep '^RESULT')
	echo "$1 $2 $(echo "$out" | sed 's/^RESULT //')"
}
DIRECT_URL="http://127.0.0.1:$DIRECT_PORT/v1/chat/completions"
PK_URL="http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions"
AIF_URL="$AIF_BASE_URL/chat/completions"
ENGINE_BASE="http://127.0.0.1:$ENGINE_PORT/v1"

# every path answers before anything is timed
curl -sf -o /dev/null "$DIRECT_URL" -d '{}' || { echo "peers: direct does not answer" >&2; exit 1; }
curl -sf -o /dev/null "$PK_URL" -H 'x-portkey-provider: openai' -H "x-portkey-custom-host: $ENGINE_BASE" \
    -H 'Authorization: Bearer sk-bench' -H 'Content-Type: application/json' \
    -d '{"model":"mock-llama-3-8b","messages":[{"role":"user","content":"hi"}]}' ||
	{ echo "peers: Portkey does not answer (log: $VAR/log/portkey.log)" >&2; exit 1; }
curl -sf -o /dev/null "$AIF_URL" -H "Authorization: Bearer $AIF_API_KEY" -H 'Content-Type: application/json' \
    -d '{"model":"demo-fixed","messages":[{"role":"user","content":"hi"}]}' ||
	{ echo "peers: aif does not answer" >&2; exit 1; }
for u in "$DIRECT_URL mock-llama-3-8b" "$PK_URL mock-llama-3-8b $ENGINE_BASE" "$AIF_URL demo-fixed"; do
	set -- $u
	AIF_BENCH_MODEL=$2 AIF_BENCH_PORTKEY_HOST=${3:-} wrk -t1 -c8 -d2s -s bench/chat.lua "$1" >/dev/null 2>&1 || true
done

fs0=$(fsync_us)
results=()
for round in 1 2; do
	for c in 32 8; do
		results+=("$round $(run direct "$c" "$DIRECT_URL" mock-llama-3-8b)")
		results+=("$round $(run portkey "$c" "$PK_URL" mock-llama-3-8b "$ENGINE_BASE")")
		results+=("$round $(run aif "$c" "$AIF_URL" demo-fixed)")
	done
done
fs1=$(fsync_us)
usage=$(mariadb --socket="$AIF_DB_SOCKET" "$AIF_DB_NAME" -N -B -e \
    "SELECT COUNT(*), SUM(state='succeeded'), (SELECT COUNT(*) FROM \`usage\` u JOIN jobs j ON j.id = u.job_id WHERE j.model = 'demo-fixed') FROM jobs WHERE model = 'demo-fixed'")

field() { echo "$1" | grep -o "$2=[0-9.]*" | cut -d= -f2; }
echo "| round | path | clients | req/s | p50 ms | p99 ms | errors |"
echo "|---|---|---:|---:|---:|---:|---:|"
for r in "${results[@]}"; do
	set -- $r
	echo "| $1 | $2 | $3 | $(field "$r" rps) | $(field "$r" p50_ms) | $(field "$r" p99_ms) | $(field "$r" errors) |"
done
echo
pick() { printf '%s\n' "${results[@]}" | awk -v r="$1" -v p="$2" -v c="$3" '$1==r && $2==p && $3==c' ; }
for round in 1 2; do
	d32=$(field "$(pick $round direct 32)" rps) k32=$(field "$(pick $round portkey 32)" rps)
	a32=$(field "$(pick $round aif 32)" rps)
	d8=$(field "$(pick $round direct 8)" p50_ms) a8=$(field "$(pick $round aif 8)" p50_ms)
	dp99=$(field "$(pick $round direct 32)" p99_ms) kp99=$(field "$(pick $round portkey 32)" p99_ms)
	ap99=$(field "$(pick $round aif 32)" p99_ms)
	awk -v r="$round" -v d="$d32" -v k="$k32" -v a="$a32" -v d8="$d8" -v a8="$a8" \
	    -v dp="$dp99" -v kp="$kp99" -v ap="$ap99" 'BEGIN {
		printf "round %d: aif/portkey req/s %.2fx, aif/direct req/s %.3f, aif p99/portkey p99 %.2f (32 clients); added p50 at 8 clients %.2f ms; added p99 at 32 clients %.2f ms\n",
		    r, a / k, a / d, ap / kp, a8 - d8, ap - dp }'
done
echo "synced 4 KiB write under $VAR/db: ${fs0} µs at the start, ${fs1} µs at the end"
echo "aif jobs on demo-fixed (total, succeeded, usage rows in the database): $(echo $usage)"
echo "Portkey $PORTKEY_VERSION, $(nginx -v 2>&1 | sed 's/.*: //'), node $(node -v), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
bench_machine
