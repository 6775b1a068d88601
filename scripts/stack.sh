#!/usr/bin/env bash
# stack.sh -- the local stack: one private MariaDB, the mock engines (vLLM, TGI and
# Triton wire formats), aif-api, N workers and nginx, all rooted at $AIF_VAR_DIR, run as
# the calling user, no systemd needed.
#
# Usage: scripts/stack.sh COMMAND
#   up                      start everything that is not running yet (idempotent)
#   down                    stop everything the stack started; data is kept (idempotent)
#   status                  what runs, with pids; exit 0 if all up, 3 otherwise
#   env                     print stack.env as `export` lines (eval "$(stack.sh env)")
#   restart-db              stop and start MariaDB only
#   stop-db | start-db      stop or start MariaDB only (fault tests)
#   restart-api | restart-nginx | restart-mock (every mock engine) | restart-mock-http
#   start-worker N [--slots K] | stop-worker N | stop-workers
#   start COMPONENT | stop COMPONENT   (mariadb, mock, mock-tgi, mock-triton, mock-auth,
#                                       mock-http, api, nginx, worker-N)
#
# Environment (defaults): AIF_VAR_DIR ($PWD/var), AIF_PORT (8080), AIF_MOCK_PORT (9101),
# AIF_TGI_PORT (AIF_MOCK_PORT+1), AIF_TRITON_PORT (AIF_MOCK_PORT+2), AIF_AUTH_PORT
# (AIF_MOCK_PORT+3: a vLLM mock behind an API key, for demo-auth), AIF_MOCK_HTTP_PORT
# (AIF_MOCK_PORT+89: tests/mock-http, the HTTP service the example workflows call),
# AIF_DB_NAME (aif), AIF_WORKERS (2), AIF_API_PROCS (2), AIF_WORKER_SLOTS (config's), AIF_CONFIG
# (config/aif.yaml), AIF_SYNC_TIMEOUT_MS (config's), AIF_BIN_DIR (bin/),
# AIF_MOCK_JS (tests/mock-engine/server.mjs), AIF_OTLP_ENDPOINT (none: the config's
# tracing.otlp_endpoint). See docs/STACK.md.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AIF_LOG_PREFIX='stack: '

# --- settings -------------------------------------------------------------------------
AIF_VAR_DIR=${AIF_VAR_DIR:-$PWD/var}
case $AIF_VAR_DIR in /*) ;; *) AIF_VAR_DIR=$PWD/$AIF_VAR_DIR ;; esac
AIF_VAR_DIR=$(realpath -m -- "$AIF_VAR_DIR")
AIF_PORT=${AIF_PORT:-8080}
AIF_MOCK_PORT=${AIF_MOCK_PORT:-9101}
# The TGI and Triton mocks sit next to the vLLM one, so a stack on another
# AIF_MOCK_PORT (the test stack's 19101) does not collide with the default one.
if [[ $AIF_MOCK_PORT =~ ^[0-9]+$ ]]; then
	AIF_TGI_PORT=${AIF_TGI_PORT:-$((AIF_MOCK_PORT + 1))}
	AIF_TRITON_PORT=${AIF_TRITON_PORT:-$((AIF_MOCK_PORT + 2))}
	AIF_AUTH_PORT=${AIF_AUTH_PORT:-$((AIF_MOCK_PORT + 3))}
	AIF_MOCK2_PORT=${AIF_MOCK2_PORT:-$((AIF_MOCK_PORT + 10))}	# demo-ha's 2nd replica (tests start it)
	AIF_MOCK_HTTP_PORT=${AIF_MOCK_HTTP_PORT:-$((AIF_MOCK_PORT + 89))}	# tests/mock-http (workflows)
fi
AIF_TGI_PORT=${AIF_TGI_PORT:-}
AIF_TRITON_PORT=${AIF_TRITON_PORT:-}
AIF_AUTH_PORT=${AIF_AUTH_PORT:-}
AIF_MOCK2_PORT=${AIF_MOCK2_PORT:-}
AIF_MOCK_HTTP_PORT=${AIF_MOCK_HTTP_PORT:-}
AIF_DB_NAME=${AIF_DB_NAME:-aif}
AIF_WORKERS=${AIF_WORKERS:-2}
AIF_API_PROCS=${AIF_API_PROCS:-2}
[[ $AIF_API_PROCS =~ ^[1-8]$ ]] || { echo "stack: AIF_API_PROCS must be 1..8" >&2; exit 2; }
AIF_CONFIG=${AIF_CONFIG:-$AIF_REPO/config/aif.yaml}
case $AIF_CONFIG in /*) ;; *) AIF_CONFIG=$PWD/$AIF_CONFIG ;; esac
AIF_OTLP_ENDPOINT=${AIF_OTLP_ENDPOINT:-}
export AIF_OTLP_ENDPOINT AIF_VAR_DIR AIF_PORT AIF_MOCK_PORT AIF_TGI_PORT AIF_TRITON_PORT AIF_AUTH_PORT AIF_MOCK2_PORT AIF_MOCK_HTTP_PORT AIF_DB_NAME AIF_CONFIG
[ -n "${AIF_SYNC_TIMEOUT_MS:-}" ] && export AIF_SYNC_TIMEOUT_MS

BIN=$(realpath -m -- "${AIF_BIN_DIR:-$AIF_REPO/bin}")
MOCK_JS=$(realpath -m -- "${AIF_MOCK_JS:-$AIF_REPO/tests/mock-engine/server.mjs}")
MOCK_HTTP_JS=$AIF_REPO/tests/mock-http/server.mjs

# Relative paths given above are resolved; everything below runs from the repo root
# (aifctl finds sql/ there).
cd "$AIF_REPO" || exit 1

RUN=$AIF_VAR_DIR/run
LOGD=$AIF_VAR_DIR/log
DATADIR=$AIF_VAR_DIR/db
NGX=$AIF_VAR_DIR/nginx
SECRETS=$AIF_VAR_DIR/secrets
DB_SOCKET=$RUN/mysqld.sock
API_SOCKET=$RUN/api.sock
PEPPER=$SECRETS/key-pepper
ENGINE_KEY=$SECRETS/engine-key	# demo-auth's replica api_key_file, and mock-auth's key
STACK_ENV=$AIF_VAR_DIR/stack.env
OS_USER=$(id -un)
IS_ROOT=0; [ "$(id -u)" -eq 0 ] && IS_ROOT=1

# Bounds of every wait, in seconds.
T_DB_START=60 T_DB_STOP=60 T_MOCK=20 T_API=30 T_NGINX=20 T_WORKER_STOP=20 T_STOP=10

validate_settings() {
	local p
	local q
	for p in AIF_PORT AIF_MOCK_PORT AIF_TGI_PORT AIF_TRITON_PORT AIF_AUTH_PORT AIF_MOCK_HTTP_PORT; do
		[[ ${!p} =~ ^[0-9]+$ ]] && [ "${!p}" -ge 1 ] && [ "${!p}" -le 65535 ] ||
			die "$p=${!p} is not a TCP port"
	done
	for p in AIF_PORT AIF_MOCK_PORT AIF_TGI_PORT AIF_TRITON_PORT AIF_AUTH_PORT; do
		for q in AIF_MOCK_PORT AIF_TGI_PORT AIF_TRITON_PORT AIF_AUTH_PORT AIF_MOCK_HTTP_PORT; do
			[ "$p" = "$q" ] || [ "${!p}" != "${!q}" ] || die "$p and $q are both ${!p}"
		done
	done
	[[ $AIF_DB_NAME =~ ^[A-Za-z0-9_]{1,64}$ ]] ||
		die "AIF_DB_NAME=$AIF_DB_NAME: use letters, digits and _ only"
	[[ $AIF_WORKERS =~ ^[0-9]+$ ]] && [ "$AIF_WORKERS" -le 64 ] ||
		die "AIF_WORKERS=$AIF_WORKERS: want 0..64"
	# The path goes into YAML, SQL-free shell and nginx.conf: keep it plain.
	[[ $AIF_VAR_DIR =~ ^[A-Za-z0-9_./+@-]+$ ]] ||
		die "AIF_VAR_DIR=$AIF_VAR_DIR: use a path without spaces or shell/nginx metacharacters"
	# sun_path holds 107 bytes plus NUL.
	[ "${#DB_SOCKET}" -le 107 ] ||
		die "socket path $DB_SOCKET is ${#DB_SOCKET} bytes; unix sockets allow 107: use a shorter AIF_VAR_DIR"
	[[ $OS_USER =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$ ]] ||
		die "OS user name '$OS_USER' cannot be a MariaDB user name"
}

ensure_dirs() {
	mkdir -p "$RUN" "$LOGD" "$NGX/tmp" "$AIF_VAR_DIR/tmp"
	(umask 077 && mkdir -p "$SECRETS")
	chmod 700 "$SECRETS"
}

# One stack command at a time per var dir. Children never inherit fd 9 (start_bg).
take_lock() {
	mkdir -p "$AIF_VAR_DIR"
	exec 9>"$AIF_VAR_DIR/.stack.lock"
	flock -w 120 9 || die "another stack.sh holds $AIF_VAR_DIR/.stack.lock for 120s"
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || die "'$c' not found: run scripts/deps.sh (or make deps)"
	done
}

need_bin() {
	local b
	for b in "$@"; do
		[ -x "$BIN/$b" ] || die "$BIN/$b is missing: build it first with 'make' (or use 'make up')"
	done
}

# --- MariaDB --------------------------------------------------------------------------
DB_ADMIN=(mariadb-admin --no-defaults "--socket=$DB_SOCKET" "--user=$OS_USER" --connect-timeout=2)
DB_CLI=(mariadb --no-defaults "--socket=$DB_SOCKET" "--user=$OS_USER" --connect-timeout=5 --batch --skip-column-names)

db_ping() { timeout 5 "${DB_ADMIN[@]}" ping >/dev/null 2>&1; }
db_sql() { timeout 30 "${DB_CLI[@]}" -e "$1"; }

mariadb_alive() { pidfile_alive "$RUN/mariadb.pid" mariadbd; }

mariadbd_args() {
	local a=(--no-defaults
		"--datadir=$DATADIR"
		"--socket=$DB_SOCKET"
		--skip-networking
		"--pid-file=$RUN/mariadb.pid"
		"--log-error=$LOGD/mariadb.log"
		"--tmpdir=$AIF_VAR_DIR/tmp"
		--innodb-buffer-pool-size=256M
		--innodb-log-file-size=256M
		--innodb-flush-log-at-trx-commit=1
		--max-connections=1000
		--max-allowed-packet=256M
		--transaction-isolation=READ-COMMITTED
		--character-set-server=utf8mb4
		--collation-server=utf8mb4_unicode_ci)
	[ "$IS_ROOT" = 1 ] && a+=("--user=$OS_USER")
	printf '%s\n' "${a[@]}"
}

db_install() {
	local owner
	if [ -d "$DATADIR/mysql" ]; then
		owner=$(stat -c %U "$DATADIR")
		[ "$owner" = "$OS_USER" ] ||
			die "$DATADIR belongs to '$owner', not '$OS_USER': run the stack as '$owner' or use another AIF_VAR_DIR"
		return 0
	fi
	need_cmd mariadb-install-db
	log "initialising MariaDB data directory $DATADIR"
	local tmp=$DATADIR.init
	rm -rf "$tmp"
	mkdir -p "$tmp"
	local args=(--no-defaults "--datadir=$tmp" --skip-test-db --skip-name-resolve
		--auth-root-authentication-method=socket "--auth-root-socket-user=$OS_USER"
		"--tmpdir=$AIF_VAR_DIR/tmp"
		--innodb-log-file-size=256M --character-set-server=utf8mb4
		--collation-server=utf8mb4_unicode_ci)
	[ "$IS_ROOT" = 1 ] && args+=("--user=$OS_USER")
	if ! timeout 180 mariadb-install-db "${args[@]}" >"$LOGD/mariadb-install.log" 2>&1; then
		tail_log "$LOGD/mariadb-install.log"
		rm -rf "$tmp"
		die "mariadb-install-db failed (full log: $LOGD/mariadb-install.log)"
	fi
	# Only a complete data directory gets the real name: a crash above leaves none.
	if [ -d "$DATADIR" ]; then rmdir "$DATADIR" 2>/dev/null || true; fi
	if [ -e "$DATADIR" ]; then
		rm -rf "$tmp"
		die "$DATADIR exists but holds no mysql/ schema: move it away"
	fi
	mv "$tmp" "$DATADIR"
	DB_FRESH=1
}

start_mariadb() {
	need_cmd mariadbd mariadb-admin mariadb
	if mariadb_alive; then
		log "mariadb already running (pid $(read_pid "$RUN/mariadb.pid"))"
	else
		db_install
		if [ -S "$DB_SOCKET" ] && db_ping; then
			die "a MariaDB not started by this stack answers on $DB_SOCKET: stop it first"
		fi
		mapfile -t args < <(mariadbd_args)
		start_bg mariadb "$RUN/mariadb.pid" "$LOGD/mariadb.log" mariadbd "${args[@]}"
		local rc=0
		WAIT_GUARD_PID=$STARTED_PID wait_until "$T_DB_START" "MariaDB on $DB_SOCKET" db_ping || rc=$?
		if [ "$rc" -ne 0 ]; then
			tail_log "$LOGD/mariadb.log"
			die "MariaDB did not start (log: $LOGD/mariadb.log)"
		fi
		ok "mariadb up (pid $STARTED_PID, socket $DB_SOCKET)"
	fi
	db_setup
}

# Database and (for a non-root OS user) an account identified by unix_socket, so that
# `mariadb --socket=$DB_SOCKET $AIF_DB_NAME` works for this user. Idempotent.
db_setup() {
	local have out
	if ! have=$(db_sql "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='$AIF_DB_NAME'" 2>&1); then
		printf '%s\n' "$have" >&2
		die "cannot query MariaDB on $DB_SOCKET as '$OS_USER'"
	fi
	[ "$have" = 0 ] && DB_FRESH=1
	local sql="CREATE DATABASE IF NOT EXISTS \`$AIF_DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
	if [ "$IS_ROOT" = 0 ]; then
		sql+=" CREATE USER IF NOT EXISTS '$OS_USER'@'localhost' IDENTIFIED VIA unix_socket;"
		sql+=" GRANT ALL PRIVILEGES ON \`$AIF_DB_NAME\`.* TO '$OS_USER'@'localhost';"
	fi
	if ! out=$(db_sql "$sql" 2>&1); then
		printf '%s\n' "$out" >&2
		die "could not create database $AIF_DB_NAME"
	fi
}

stop_mariadb() {
	local pid
	pid=$(read_pid "$RUN/mariadb.pid")
	if ! mariadb_alive; then
		rm -f "$RUN/mariadb.pid"
		return 0
	fi
	log "stopping mariadb (pid $pid)"
	timeout "$T_DB_STOP" "${DB_ADMIN[@]}" shutdown >>"$LOGD/mariadb.log" 2>&1 ||
		warn "mariadb-admin shutdown failed; falling back to signals"
	if ! wait_pid_exit "$pid" "$T_DB_STOP"; then
		stop_pidfile mariadb "$RUN/mariadb.pid" mariadbd TERM 30 || return 1
	fi
	rm -f "$RUN/mariadb.pid"
}

# --- pepper, migrations, keys -----------------------------------------------------------
ensure_pepper() {
	if [ ! -s "$PEPPER" ]; then
		(umask 077 && head -c 32 /dev/urandom >"$PEPPER.tmp" && mv -f "$PEPPER.tmp" "$PEPPER")
		PEPPER_FRESH=1
		log "generated key pepper $PEPPER"
	fi
	chmod 600 "$PEPPER"
	[ "$(stat -c %s "$PEPPER")" -ge 32 ] || warn "$PEPPER is shorter than 32 bytes"
}

# The engine credential of demo-auth (config/aif.yaml): a secret file, 0600, that the
# workers send as "Authorization: Bearer <key>" and mock-auth expects. Made once.
ensure_engine_key() {
	if [ ! -s "$ENGINE_KEY" ]; then
		(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$ENGINE_KEY.tmp" &&
			mv -f "$ENGINE_KEY.tmp" "$ENGINE_KEY")
		log "generated engine key $ENGINE_KEY"
	fi
	chmod 600 "$ENGINE_KEY"
}

run_migrate() {
	need_bin aifctl
	log "applying migrations (aifctl migrate)"
	printf '=== %s: aifctl migrate\n' "$(date '+%F %T')" >>"$LOGD/aifctl.log"
	if ! timeout 120 "$BIN/aifctl" --config "$AIF_CONFIG" migrate </dev/null >>"$LOGD/aifctl.log" 2>&1; then
		tail_log "$LOGD/aifctl.log"
		die "aifctl migrate failed (log: $LOGD/aifctl.log)"
	fi
}

# create_key NAME ROLE: print the new secret (first line of aifctl's stdout).
create_key() {
	local name=$1 role=$2 out key
	printf '=== %s: aifctl keys create --name %s --role %s\n' "$(date '+%F %T')" "$name" "$role" >>"$LOGD/aifctl.log"
	if ! out=$(timeout 60 "$BIN/aifctl" --config "$AIF_CONFIG" keys create --name "$name" --role "$role" </dev/null 2>>"$LOGD/aifctl.log"); then
		tail_log "$LOGD/aifctl.log"
		die "aifctl keys create --name $name --role $role failed"
	fi
	key=${out%%$'\n'*}
	[[ $key =~ ^[^[:space:]]{16,}$ ]] || { tail_log "$LOGD/aifctl.log"; die "aifctl keys create printed no key on its first line"; }
	printf '%s\n' "$key"
}

# env_get NAME: the value of NAME in an existing stack.env, or nothing (never the
# value this process inherited).
env_get() {
	[ -r "$STACK_ENV" ] || return 0
	# shellcheck disable=SC1090,SC2030,SC2034
	( set +u; unset AIF_API_KEY AIF_ADMIN_KEY AIF_DB_NAME
	  . "$STACK_ENV" >/dev/null 2>&1; printf '%s\n' "${!1:-}" )
}

write_stack_env() {
	local tmp=$STACK_ENV.tmp
	(
		umask 077
		{
			echo "# stack.env -- written by scripts/stack.sh up; load with: set -a; . $STACK_ENV; set +a"
			printf 'AIF_BASE_URL=%s\n' "$(sh_quote "http://127.0.0.1:$AIF_PORT/v1")"
			printf 'AIF_API_KEY=%s\n' "$(sh_quote "$1")"
			printf 'AIF_ADMIN_KEY=%s\n' "$(sh_quote "$2")"
			printf 'AIF_DB_SOCKET=%s\n' "$(sh_quote "$DB_SOCKET")"
			printf 'AIF_DB_NAME=%s\n' "$(sh_quote "$AIF_DB_NAME")"
			printf 'AIF_CONFIG=%s\n' "$(sh_quote "$AIF_CONFIG")"
			printf 'AIF_VAR_DIR=%s\n' "$(sh_quote "$AIF_VAR_DIR")"
			printf 'AIF_PORT=%s\n' "$(sh_quote "$AIF_PORT")"
			printf 'AIF_MOCK_PORT=%s\n' "$(sh_quote "$AIF_MOCK_PORT")"
			printf 'AIF_MOCK_URL=%s\n' "$(sh_quote "http://127.0.0.1:$AIF_MOCK_PORT")"
			printf 'AIF_TGI_PORT=%s\n' "$(sh_quote "$AIF_TGI_PORT")"
			printf 'AIF_TGI_URL=%s\n' "$(sh_quote "http://127.0.0.1:$AIF_TGI_PORT")"
			printf 'AIF_TRITON_PORT=%s\n' "$(sh_quote "$AIF_TRITON_PORT")"
			printf 'AIF_TRITON_URL=%s\n' "$(sh_quote "http://127.0.0.1:$AIF_TRITON_PORT")"
			printf 'AIF_AUTH_PORT=%s\n' "$(sh_quote "$AIF_AUTH_PORT")"
			printf 'AIF_AUTH_URL=%s\n' "$(sh_quote "http://127.0.0.1:$AIF_AUTH_PORT")"
			printf 'AIF_MOCK2_PORT=%s\n' "$(sh_quote "$AIF_MOCK2_PORT")"
			printf 'AIF_MOCK_HTTP_PORT=%s\n' "$(sh_quote "$AIF_MOCK_HTTP_PORT")"
			printf 'AIF_MOCK_HTTP_URL=%s\n' "$(sh_quote "http://127.0.0.1:$AIF_MOCK_HTTP_PORT")"
			printf 'AIF_OTLP_ENDPOINT=%s\n' "$(sh_quote "$AIF_OTLP_ENDPOINT")"
			printf 'AIF_REPO=%s\n' "$(sh_quote "$AIF_REPO")"
			printf 'AIF_BIN_DIR=%s\n' "$(sh_quote "$BIN")"
		} >"$tmp"
	)
	chmod 600 "$tmp"
	mv -f "$tmp" "$STACK_ENV"
}

ensure_keys() {
	local user_key admin_key reuse=1 code
	user_key=$(env_get AIF_API_KEY)
	admin_key=$(env_get AIF_ADMIN_KEY)
	if [ -z "$user_key" ] || [ -z "$admin_key" ]; then reuse=0
	elif [ "${DB_FRESH:-0}" = 1 ] || [ "${PEPPER_FRESH:-0}" = 1 ]; then
		log "database or pepper is new: the keys in stack.env are void"; reuse=0
	elif [ "$(env_get AIF_DB_NAME)" != "$AIF_DB_NAME" ]; then
		log "stack.env names another database: new keys"; reuse=0
	else
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
			-H "Authorization: Bearer $user_key" "http://127.0.0.1:$AIF_PORT/v1/models" || true)
		if [ "$code" = 401 ]; then
			log "the demo key in stack.env is refused (401): new keys"; reuse=0
		fi
	fi
	if [ "$reuse" = 0 ]; then
		log "creating the demo (role user) and admin (role admin) keys"
		user_key=$(create_key demo user)
		admin_key=$(create_key admin admin)
	fi
	write_stack_env "$user_key" "$admin_key"
}

# --- mock engines -------------------------------------------------------------------------
# One server.mjs per wire protocol. A mock is named by its pid/log file stem:
#   mock         --protocol vllm    on AIF_MOCK_PORT    health /health
#   mock-tgi     --protocol tgi     on AIF_TGI_PORT     health /health
#   mock-triton  --protocol triton  on AIF_TRITON_PORT  health /v2/health/ready
#   mock-auth    --protocol vllm    on AIF_AUTH_PORT    health /health, --api-key-file
#                                                       $ENGINE_KEY (vllm serve --api-key)
MOCKS=(mock mock-tgi mock-triton mock-auth)

# mock_spec NAME: sets M_PROTO, M_PORT, M_PORTVAR, M_HEALTH for that mock.
mock_spec() {
	case $1 in
	mock) M_PROTO=vllm M_PORTVAR=AIF_MOCK_PORT M_HEALTH=/health ;;
	mock-tgi) M_PROTO=tgi M_PORTVAR=AIF_TGI_PORT M_HEALTH=/health ;;
	mock-triton) M_PROTO=triton M_PORTVAR=AIF_TRITON_PORT M_HEALTH=/v2/health/ready ;;
	mock-auth) M_PROTO=vllm M_PORTVAR=AIF_AUTH_PORT M_HEALTH=/health ;;
	*) die "unknown mock engine '$1'" ;;
	esac
	M_PORT=${!M_PORTVAR}
}

mock_alive() { pidfile_alive "$RUN/${1:-mock}.pid" "${MOCK_JS##*/}"; }
mock_ready() { [ "$(http_code "http://127.0.0.1:$1$2")" = 200 ]; }

# start_mock [NAME]: start one mock engine (default: the vLLM one), wait for its health.
start_mock() {
	local name=${1:-mock}
	mock_spec "$name"
	need_cmd node
	[ -f "$MOCK_JS" ] || die "$MOCK_JS is missing"
	if mock_alive "$name"; then log "$name engine already running (pid $(read_pid "$RUN/$name.pid"))"; return 0; fi
	port_open "$M_PORT" && die "port $M_PORT ($M_PORTVAR) is taken by another process"
	local extra=()
	[ "$name" = mock-auth ] && { ensure_engine_key; extra=(--api-key-file "$ENGINE_KEY"); }
	start_bg "$name" "$RUN/$name.pid" "$LOGD/$name.log" node "$MOCK_JS" --protocol "$M_PROTO" --port "$M_PORT" "${extra[@]}"
	local rc=0
	WAIT_GUARD_PID=$STARTED_PID wait_until "$T_MOCK" "$name engine on 127.0.0.1:$M_PORT$M_HEALTH" \
		mock_ready "$M_PORT" "$M_HEALTH" || rc=$?
	[ "$rc" -eq 0 ] || { tail_log "$LOGD/$name.log"; die "$name engine did not start (log: $LOGD/$name.log)"; }
	ok "$name engine up ($M_PROTO, pid $STARTED_PID, http://127.0.0.1:$M_PORT)"
}

stop_mock() { stop_pidfile "${1:-mock} engine" "$RUN/${1:-mock}.pid" "${MOCK_JS##*/}" TERM "$T_STOP"; }

start_mocks() { local m; for m in "${MOCKS[@]}"; do start_mock "$m"; done; }
stop_mocks() { local m rc=0; for m in "${MOCKS[@]}"; do stop_mock "$m" || rc=1; done; return "$rc"; }

# --- mock HTTP service (tests/mock-http: what the example workflows' http steps call) ------
mock_http_alive() { pidfile_alive "$RUN/mock-http.pid" mock-http/server.mjs; }

start_mock_http() {
	need_cmd node
	[ -f "$MOCK_HTTP_JS" ] || die "$MOCK_HTTP_JS is missing"
	if mock_http_alive; then log "mock-http already running (pid $(read_pid "$RUN/mock-http.pid"))"; return 0; fi
	port_open "$AIF_MOCK_HTTP_PORT" && die "port $AIF_MOCK_HTTP_PORT (AIF_MOCK_HTTP_PORT) is taken by another process"
	start_bg mock-http "$RUN/mock-http.pid" "$LOGD/mock-http.log" node "$MOCK_HTTP_JS" --port "$AIF_MOCK_HTTP_PORT"
	local rc=0
	WAIT_GUARD_PID=$STARTED_PID wait_until "$T_MOCK" "mock-http on 127.0.0.1:$AIF_MOCK_HTTP_PORT/health" \
		mock_ready "$AIF_MOCK_HTTP_PORT" /health || rc=$?
	[ "$rc" -eq 0 ] || { tail_log "$LOGD/mock-http.log"; die "mock-http did not start (log: $LOGD/mock-http.log)"; }
	ok "mock-http up (pid $STARTED_PID, http://127.0.0.1:$AIF_MOCK_HTTP_PORT)"
}

stop_mock_http() { stop_pidfile mock-http "$RUN/mock-http.pid" mock-http/server.mjs TERM "$T_STOP"; }

# --- aif-api ------------------------------------------------------------------------------
# AIF_API_PROCS processes (default 2), like a production host behind one nginx: the
# first on the config's socket (api.sock, api.pid), the others on api-N.sock (--listen).
api_sock() { if [ "$1" = 1 ]; then echo "$API_SOCKET"; else echo "$RUN/api-$1.sock"; fi; }
api_pidf() { if [ "$1" = 1 ]; then echo "$RUN/api.pid"; else echo "$RUN/api-$1.pid"; fi; }
api_logf() { if [ "$1" = 1 ]; then echo "$LOGD/api.log"; else echo "$LOGD/api-$1.log"; fi; }
api_alive() {
	local n
	for n in $(seq 1 "$AIF_API_PROCS"); do pidfile_alive "$(api_pidf "$n")" aif-api || return 1; done
}

start_api() {
	need_bin aif-api
	local n sock rc
	for n in $(seq 1 "$AIF_API_PROCS"); do
		sock=$(api_sock "$n")
		if pidfile_alive "$(api_pidf "$n")" aif-api; then
			log "aif-api $n already running (pid $(read_pid "$(api_pidf "$n")"))"
			continue
		fi
		# A socket left by a crashed aif-api would make the wait below succeed at once.
		rm -f "$sock"
		if [ "$n" = 1 ]; then
			start_bg "aif-api $n" "$(api_pidf "$n")" "$(api_logf "$n")" "$BIN/aif-api" --config "$AIF_CONFIG"
		else
			start_bg "aif-api $n" "$(api_pidf "$n")" "$(api_logf "$n")" "$BIN/aif-api" --config "$AIF_CONFIG" --listen "$sock"
		fi
		rc=0
		WAIT_GUARD_PID=$STARTED_PID wait_until "$T_API" "aif-api socket $sock" test -S "$sock" || rc=$?
		[ "$rc" -eq 0 ] || { tail_log "$(api_logf "$n")"; die "aif-api $n did not start (log: $(api_logf "$n"))"; }
		ok "aif-api $n up (pid $STARTED_PID, socket $sock)"
	done
}

stop_api() {
	local n rc=0
	# also any process beyond AIF_API_PROCS left by an earlier run with more of them
	for n in $(seq 1 16); do
		[ -f "$(api_pidf "$n")" ] || [ "$n" -le "$AIF_API_PROCS" ] || continue
		stop_pidfile "aif-api $n" "$(api_pidf "$n")" aif-api TERM 15 || rc=1
		pidfile_alive "$(api_pidf "$n")" aif-api || rm -f "$(api_sock "$n")"
	done
	return "$rc"
}

# --- workers ------------------------------------------------------------------------------
worker_alive() { pidfile_alive "$RUN/worker-$1.pid" aif-worker; }

# start_worker N [SLOTS]: start worker N; checks it is still alive after a moment.
start_worker() {
	local id=$1 slots=${2:-${AIF_WORKER_SLOTS:-}}
	[[ $id =~ ^[1-9][0-9]{0,3}$ ]] || die "worker id '$id': want a positive integer"
	[ -z "$slots" ] || [[ $slots =~ ^[1-9][0-9]{0,4}$ ]] || die "--slots '$slots': want a positive integer"
	need_bin aif-worker
	if worker_alive "$id"; then log "worker $id already running (pid $(read_pid "$RUN/worker-$id.pid"))"; return 0; fi
	local cmd=("$BIN/aif-worker" --config "$AIF_CONFIG" --id "$id")
	[ -n "$slots" ] && cmd+=(--slots "$slots")
	start_bg "worker $id" "$RUN/worker-$id.pid" "$LOGD/worker-$id.log" "${cmd[@]}"
	STARTED_WORKERS+=("$id:$STARTED_PID")
}

# check_workers: every worker started by this run is still alive after a grace period.
check_workers() {
	local w id pid
	[ "${#STARTED_WORKERS[@]}" -gt 0 ] || return 0
	sleep 1
	for w in "${STARTED_WORKERS[@]}"; do
		id=${w%%:*} pid=${w#*:}
		if ! pid_alive "$pid"; then
			tail_log "$LOGD/worker-$id.log"
			die "worker $id exited right after start (log: $LOGD/worker-$id.log)"
		fi
		ok "worker $id up (pid $pid)"
	done
	STARTED_WORKERS=()
}

# stop_workers [N...]: SIGTERM the named (default: all) workers at once so that they
# drain in parallel, wait bounded, then SIGKILL what is left.
stop_workers() {
	local ids=("$@") f id pid pids=() deadline
	if [ "${#ids[@]}" -eq 0 ]; then
		for f in "$RUN"/worker-*.pid; do
			[ -e "$f" ] || continue
			id=${f##*/worker-}; ids+=("${id%.pid}")
		done
	fi
	for id in "${ids[@]}"; do
		if worker_alive "$id"; then
			pid=$(read_pid "$RUN/worker-$id.pid")
			log "stopping worker $id (pid $pid, SIGTERM: drain)"
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$id:$pid")
		else
			rm -f "$RUN/worker-$id.pid"
		fi
	done
	deadline=$(( $(now_ms) + T_WORKER_STOP * 1000 ))
	for w in "${pids[@]}"; do
		id=${w%%:*} pid=${w#*:}
		while pid_alive "$pid" && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.1; done
		if pid_alive "$pid"; then
			warn "worker $id (pid $pid) did not drain in ${T_WORKER_STOP}s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			wait_pid_exit "$pid" 5 || err "worker $id (pid $pid) survived SIGKILL"
		fi
		rm -f "$RUN/worker-$id.pid"
	done
}

# --- nginx --------------------------------------------------------------------------------
nginx_alive() { pidfile_alive "$RUN/nginx-master.pid" nginx; }

# The upstream lines of the aif-api processes, for nginx. max_fails=0: a process that
# refused a connection while it restarted is tried again at once, not shunned for
# fail_timeout (10 s) after it is back; a refused connect still moves on to the next one.
api_servers() {
	local n out=""
	for n in $(seq 1 "$AIF_API_PROCS"); do out+="server unix:$(api_sock "$n") max_fails=0; "; done
	printf '%s' "$out"
}

render_nginx() {
	local user_line='# (not root: no user directive)' drop=()
	[ "$IS_ROOT" = 1 ] && user_line="user $OS_USER;"
	local v
	v=$(nginx -V 2>&1 || true)
	[[ $v == *--without-http_uwsgi_module* ]] && drop+=(-e '/# @if-uwsgi/d')
	[[ $v == *--without-http_scgi_module* ]] && drop+=(-e '/# @if-scgi/d')
	mkdir -p "$NGX/tmp"
	{
		echo "# Generated by scripts/stack.sh from nginx/local.conf.in; edit that file instead."
		# Drop the template's own header comment (up to its first blank line).
		sed "${drop[@]}" -e '1,/^$/d' \
		-e 's/[[:space:]]*# @if-[a-z]*$//' \
		-e "s|@AIF_PORT@|$AIF_PORT|g" \
		-e "s|@API_SOCKET@|$API_SOCKET|g" \
		-e "s|@API_SERVERS@|$(api_servers)|g" \
		-e "s|@NGINX_DIR@|$NGX|g" \
		-e "s|@RUN_DIR@|$RUN|g" \
		-e "s|@LOG_DIR@|$LOGD|g" \
		-e "s|@CONSOLE_DIR@|$AIF_REPO/console|g" \
		-e "s|@USER_LINE@|$user_line|g" \
		"$AIF_REPO/nginx/local.conf.in"
	} >"$NGX/nginx.conf.tmp"
	if grep -n '@[A-Z_]*@' "$NGX/nginx.conf.tmp" >&2; then
		die "nginx/local.conf.in has placeholders stack.sh does not know"
	fi
	mv -f "$NGX/nginx.conf.tmp" "$NGX/nginx.conf"
}

NGINX_CMD=(nginx -p "$NGX/" -c "$NGX/nginx.conf" -e "$LOGD/nginx-error.log")

nginx_answers() { [ "$(http_code "http://127.0.0.1:$AIF_PORT/healthz")" != 000 ]; }
api_via_nginx() {
	local c
	c=$(http_code "http://127.0.0.1:$AIF_PORT/healthz")
	[ "$c" != 000 ] && [ "$c" != 502 ] && [ "$c" != 504 ]
}

start_nginx() {
	need_cmd nginx curl
	if nginx_alive; then log "nginx already running (pid $(read_pid "$RUN/nginx-master.pid"))"; return 0; fi
	render_nginx
	if ! "${NGINX_CMD[@]}" -t -q >>"$LOGD/nginx.log" 2>&1; then
		tail_log "$LOGD/nginx.log" 20
		die "nginx -t rejected $NGX/nginx.conf"
	fi
	port_open "$AIF_PORT" && die "port $AIF_PORT (AIF_PORT) is taken by another process"
	start_bg nginx "$RUN/nginx-master.pid" "$LOGD/nginx.log" "${NGINX_CMD[@]}"
	local rc=0
	WAIT_GUARD_PID=$STARTED_PID wait_until "$T_NGINX" "nginx on 127.0.0.1:$AIF_PORT" nginx_answers || rc=$?
	[ "$rc" -eq 0 ] || { tail_log "$LOGD/nginx.log" 20; tail_log "$LOGD/nginx-error.log" 20; die "nginx did not start"; }
	ok "nginx up (pid $STARTED_PID, http://127.0.0.1:$AIF_PORT)"
}

stop_nginx() {
	# SIGQUIT: graceful (finishes requests in flight), bounded; then TERM, then KILL.
	stop_pidfile nginx "$RUN/nginx-master.pid" nginx QUIT "$T_STOP"
}

# --- commands -----------------------------------------------------------------------------
cmd_up() {
	need_cmd curl flock setsid
	need_bin aifctl aif-api aif-worker
	[ -f "$MOCK_JS" ] || die "$MOCK_JS is missing"
	[ -r "$AIF_CONFIG" ] || die "config $AIF_CONFIG is missing"
	ensure_dirs
	# A thousand waiting requests need fds in nginx, aif-api and MariaDB.
	local hard; hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] && hard=65536
	[ "$hard" -gt 65536 ] && hard=65536
	ulimit -Sn "$hard" 2>/dev/null || true
	# Fail before starting anything when a port is taken by someone else.
	if ! nginx_alive && port_open "$AIF_PORT"; then
		die "port $AIF_PORT (AIF_PORT) is taken by another process: pick another AIF_PORT"
	fi
	local m
	for m in "${MOCKS[@]}"; do
		mock_spec "$m"
		if ! mock_alive "$m" && port_open "$M_PORT"; then
			die "port $M_PORT ($M_PORTVAR) is taken by another process: pick another $M_PORTVAR"
		fi
	done
	if ! mock_http_alive && port_open "$AIF_MOCK_HTTP_PORT"; then
		die "port $AIF_MOCK_HTTP_PORT (AIF_MOCK_HTTP_PORT) is taken by another process: pick another AIF_MOCK_HTTP_PORT"
	fi

	start_mariadb
	ensure_pepper
	ensure_engine_key
	run_migrate
	start_mocks
	start_mock_http
	start_api
	local i
	for ((i = 1; i <= AIF_WORKERS; i++)); do start_worker "$i"; done
	check_workers
	start_nginx
	local rc=0
	wait_until "$T_API" "aif-api through nginx (GET /healthz)" api_via_nginx || rc=$?
	[ "$rc" -eq 0 ] || { tail_log "$LOGD/api.log"; tail_log "$LOGD/nginx-error.log" 20; die "nginx cannot reach aif-api"; }
	local hc; hc=$(http_code "http://127.0.0.1:$AIF_PORT/healthz")
	[ "$hc" = 200 ] || warn "GET /healthz answered $hc, not 200"
	ensure_keys
	print_usage
}

print_usage() {
	local key; key=$(env_get AIF_API_KEY)
	cat >&2 <<EOF

${_c_grn}AI Foundation stack is up${_c_off} (var: $AIF_VAR_DIR)
  API       http://127.0.0.1:$AIF_PORT/v1        (nginx -> $API_SOCKET)
  console   http://127.0.0.1:$AIF_PORT/console/  (paste \$AIF_ADMIN_KEY from $STACK_ENV)
  mock      http://127.0.0.1:$AIF_MOCK_PORT              vLLM engine for demo-chat / demo-small / demo-embed
  mock-tgi  http://127.0.0.1:$AIF_TGI_PORT              TGI engine for demo-tgi
  mock-triton http://127.0.0.1:$AIF_TRITON_PORT            Triton engine for demo-triton / demo-triton-embed
  mock-auth http://127.0.0.1:$AIF_AUTH_PORT              vLLM engine behind an API key for demo-auth
  mock-http http://127.0.0.1:$AIF_MOCK_HTTP_PORT              HTTP service the example workflows call
  MariaDB   mariadb --socket=$DB_SOCKET $AIF_DB_NAME
  logs      $LOGD/

Load the settings and keys into your shell:
  set -a; . $STACK_ENV; set +a

Try it:
  curl -s http://127.0.0.1:$AIF_PORT/v1/chat/completions -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{"model":"demo-chat","messages":[{"role":"user","content":"Hello"}]}'

Stop it with: scripts/stack.sh down   (data and keys are kept)
EOF
}

cmd_down() {
	if [ ! -d "$RUN" ]; then log "nothing to stop under $AIF_VAR_DIR"; return 0; fi
	local rc=0
	stop_nginx || rc=1
	stop_workers || rc=1
	stop_api || rc=1
	stop_mocks || rc=1
	stop_mock_http || rc=1
	stop_mariadb || rc=1
	[ "$rc" -eq 0 ] && ok "stack under $AIF_VAR_DIR is down" || err "some processes could not be stopped"
	return "$rc"
}

cmd_status() {
	local down=0 name f pid id
	line() { # NAME ALIVE [PIDFILE EXTRA]
		pid=$(read_pid "${3:-/nonexistent}")
		if [ "$2" = 1 ]; then printf '  %-11s %srunning%s  pid %-8s %s\n' "$1" "$_c_grn" "$_c_off" "$pid" "${4:-}"
		else printf '  %-11s %sstopped%s\n' "$1" "$_c_red" "$_c_off"; down=1; fi
	}
	echo "stack under $AIF_VAR_DIR"
	mariadb_alive && line mariadb 1 "$RUN/mariadb.pid" "$DB_SOCKET" || line mariadb 0
	local m
	for m in "${MOCKS[@]}"; do
		mock_spec "$m"
		mock_alive "$m" && line "$m" 1 "$RUN/$m.pid" "http://127.0.0.1:$M_PORT ($M_PROTO)" || line "$m" 0
	done
	mock_http_alive && line mock-http 1 "$RUN/mock-http.pid" "http://127.0.0.1:$AIF_MOCK_HTTP_PORT" || line mock-http 0
	api_alive && line aif-api 1 "$RUN/api.pid" "$API_SOCKET" || line aif-api 0
	local any=0
	for f in "$RUN"/worker-*.pid; do
		[ -e "$f" ] || continue
		any=1; id=${f##*/worker-}; id=${id%.pid}
		worker_alive "$id" && line "worker-$id" 1 "$f" "" || line "worker-$id" 0
	done
	[ "$any" = 1 ] || { printf '  %-11s %snone%s\n' workers "$_c_red" "$_c_off"; down=1; }
	if nginx_alive; then
		line nginx 1 "$RUN/nginx-master.pid" "http://127.0.0.1:$AIF_PORT (GET /healthz -> $(http_code "http://127.0.0.1:$AIF_PORT/healthz"))"
	else line nginx 0; fi
	[ -r "$STACK_ENV" ] && echo "  env        $STACK_ENV"
	[ "$down" = 0 ] || return 3
}

cmd_env() {
	[ -r "$STACK_ENV" ] || die "$STACK_ENV does not exist: run scripts/stack.sh up"
	sed -n 's/^\(AIF_[A-Z_]*=\)/export \1/p' "$STACK_ENV"
}

start_component() {
	case ${1:-} in
	mariadb|db) ensure_dirs; start_mariadb ;;
	mock|mock-tgi|mock-triton|mock-auth) ensure_dirs; start_mock "$1" ;;
	mock-http) ensure_dirs; start_mock_http ;;
	api|aif-api) ensure_dirs; start_api ;;
	nginx) ensure_dirs; start_nginx ;;
	worker-*) ensure_dirs; STARTED_WORKERS=(); start_worker "${1#worker-}" "${2:-}"; check_workers ;;
	*) die "unknown component '${1:-}' (mariadb, mock, mock-tgi, mock-triton, mock-auth, mock-http, api, nginx, worker-N)" ;;
	esac
}

stop_component() {
	case ${1:-} in
	mariadb|db) stop_mariadb ;;
	mock|mock-tgi|mock-triton|mock-auth) stop_mock "$1" ;;
	mock-http) stop_mock_http ;;
	api|aif-api) stop_api ;;
	nginx) stop_nginx ;;
	worker-*) stop_workers "${1#worker-}" ;;
	*) die "unknown component '${1:-}' (mariadb, mock, mock-tgi, mock-triton, mock-auth, mock-http, api, nginx, worker-N)" ;;
	esac
}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

main() {
	local verb=${1:-}; shift || true
	STARTED_WORKERS=()
	case $verb in
	-h|--help|help|'') usage; [ -n "$verb" ]; return ;;
	esac
	validate_settings
	case $verb in
	up)           take_lock; cmd_up ;;
	down)         take_lock; cmd_down ;;
	status)       cmd_status ;;
	env)          cmd_env ;;
	restart-db)   take_lock; ensure_dirs; stop_mariadb; start_mariadb ;;
	stop-db)      take_lock; stop_mariadb ;;
	start-db)     take_lock; ensure_dirs; start_mariadb ;;
	restart-api)  take_lock; ensure_dirs; stop_api; start_api ;;
	restart-nginx) take_lock; ensure_dirs; stop_nginx; start_nginx ;;
	restart-mock) take_lock; ensure_dirs; stop_mocks; start_mocks ;;
	restart-mock-http) take_lock; ensure_dirs; stop_mock_http; start_mock_http ;;
	start-worker)
		local id=${1:-} slots=''
		[ -n "$id" ] || die "usage: stack.sh start-worker N [--slots K]"
		shift
		while [ $# -gt 0 ]; do
			case $1 in
			--slots) slots=${2:-}; [ -n "$slots" ] || die "--slots needs a value"; shift 2 ;;
			--slots=*) slots=${1#--slots=}; shift ;;
			*) die "start-worker: unknown argument '$1'" ;;
			esac
		done
		take_lock; start_component "worker-$id" "$slots" ;;
	stop-worker)
		[ -n "${1:-}" ] || die "usage: stack.sh stop-worker N"
		[[ $1 =~ ^[1-9][0-9]*$ ]] || die "worker id '$1': want a positive integer"
		take_lock; stop_workers "$1" ;;
	stop-workers) take_lock; stop_workers ;;
	start)        take_lock; start_component "$@" ;;
	stop)         take_lock; stop_component "$@" ;;
	*) usage >&2; die "unknown command '$verb'" ;;
	esac
}

main "$@"
