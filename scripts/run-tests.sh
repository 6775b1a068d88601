#!/usr/bin/env bash
# run-tests.sh -- the body of `make test` (make builds everything first).
#
# Suites, in order; a failing suite does not stop the next, and the exit status is
# non-zero if any failed:
#   mock-engine  node --test tests/mock-engine/           (when it has tests)
#   mock-http    node --test tests/mock-http/             (the workflows' HTTP service)
#   stack        a private test stack: scripts/stack.sh down (leftovers), up
#   unit         make check: cmocka unit tests, then again under ASan/UBSan (the store
#                tests use a database of the test stack's MariaDB, and fail without it)
#   layers       make check-layers: scripts/check-layers.sh
#   pii-accuracy tests/pii/run.sh: detector precision/recall vs tests/pii/baseline.tsv
#   e2e-deps     npm ci (or npm install) in tests/e2e     (when it has package.json)
#   e2e          node --test --test-concurrency=1 tests/e2e/, with stack.env exported
#   valgrind     tests/valgrind/daemons.sh: aif-api and aif-worker under memcheck
#   fault        node --test tests/fault/: kill -9, SIGTERM, MariaDB down, engine down or
#                hanging, clients leaving, aif-api restart, bursts; nothing lost or twice
#   nginx        nginx -t on nginx/aif.conf (production) and the rendered local conf
#   systemd      tests/systemd/verify.sh
#   systemd-boot tests/systemd/boot.sh: install and run the units under systemd-nspawn
#   fuzz         tests/fuzz/run.sh 30: the libFuzzer targets (clang), 30 s each
#
# The test stack lives in var/test on its own ports (18080 nginx, 19101 mock, 19190
# mock-http) and database (aif_test), so it runs beside a developer's `make up`. It starts from an
# empty database each run (AIF_TEST_KEEP=1 keeps the previous one) and is always
# brought down at the end; on failure the tail of every log is printed and the logs
# are copied to var/test-logs/. Every step is bounded by a timeout.
set -uo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AIF_LOG_PREFIX='test: '
cd "$AIF_REPO" || exit 1

export AIF_VAR_DIR=${AIF_TEST_VAR_DIR:-$AIF_REPO/var/test}
export AIF_PORT=${AIF_TEST_PORT:-18080}
export AIF_MOCK_PORT=${AIF_TEST_MOCK_PORT:-19101}
export AIF_MOCK_HTTP_PORT=${AIF_TEST_MOCK_HTTP_PORT:-19190}
export AIF_DB_NAME=${AIF_TEST_DB_NAME:-aif_test}
# The gateway's spans go to tests/e2e/otel.test.mjs's OTLP receiver (nothing listens there
# otherwise: exports fail, counted, and requests do not notice).
export AIF_OTLP_ENDPOINT=${AIF_TEST_OTLP_ENDPOINT:-http://127.0.0.1:19417/v1/traces}
# The test stack reads its own copy of config/aif.yaml (made by stack_up below), so
# tests may edit it and reload.
export AIF_CONFIG=$AIF_VAR_DIR/aif.yaml
export AIF_WORKERS=${AIF_TEST_WORKERS:-2}
# A short sync timeout so the e2e test of the 504 path takes seconds, not a minute.
export AIF_SYNC_TIMEOUT_MS=${AIF_TEST_SYNC_TIMEOUT_MS:-5000}
LOG_SAVE=$AIF_REPO/var/test-logs

# Bounds, in seconds.
T_UNIT=2400 T_MOCK_TESTS=900 T_STACK=300 T_NPM=900 T_E2E=2400 T_NGINX=60 T_SYSTEMD=300

names=() results=() times=()
failed=0 stack_used=0

# record NAME RESULT SECONDS
record() { names+=("$1"); results+=("$2"); times+=("$3"); [ "$2" = FAIL ] && failed=1; return 0; }

# suite NAME TIMEOUT COMMAND...: run one suite with a bound; record PASS/FAIL.
suite() {
	local name=$1 limit=$2; shift 2
	local t0 rc
	t0=$(now_ms)
	printf '\n%s\n' "===== $name: $* =====" >&2
	# In the background so that an interrupt reaches the trap at once (see finish);
	# timeout(1) gives the command its own process group and default signal actions.
	timeout --kill-after=30 "$limit" "$@" </dev/null &
	CUR_PID=$!
	wait "$CUR_PID"
	rc=$?
	CUR_PID=
	local secs=$(( ($(now_ms) - t0) / 1000 ))
	if [ "$rc" -eq 0 ]; then
		record "$name" PASS "$secs"
	else
		[ "$rc" -eq 124 ] && err "$name: timed out after ${limit}s"
		err "$name: failed (exit $rc)"
		record "$name" FAIL "$secs"
	fi
	return "$rc"
}

skip() { printf '\n%s\n' "===== $1: skipped ($2) =====" >&2; record "$1" SKIP 0; }

# count_tests DIR: how many files node --test would pick up under DIR.
count_tests() {
	find "$1" -name node_modules -prune -o -type f \
		\( -name '*.test.[cm]js' -o -name '*.test.js' -o -name '*-test.[cm]js' -o -name '*-test.js' \
		-o -name '*_test.[cm]js' -o -name '*_test.js' -o -name 'test-*.[cm]js' -o -name 'test-*.js' \
		-o -name 'test.[cm]js' -o -name 'test.js' \) -print 2>/dev/null | wc -l
}

print_logs() {
	local f
	[ -d "$AIF_VAR_DIR/log" ] || return 0
	# only the stack's logs: other suites (systemd-boot) keep theirs beside them
	rm -rf "$LOG_SAVE/stack" && mkdir -p "$LOG_SAVE/stack" &&
		cp -a "$AIF_VAR_DIR/log/." "$LOG_SAVE/stack/" 2>/dev/null
	printf '\n%s\n' "===== logs of the test stack (copied to $LOG_SAVE/stack) =====" >&2
	for f in "$AIF_VAR_DIR"/log/*.log; do
		[ -s "$f" ] || continue
		printf '\n----- %s (last 60 lines) -----\n' "$f" >&2
		tail -n 60 "$f" >&2
	done
}

summary() {
	local i p=0 f=0 s=0
	printf '\n%s\n' "===== summary =====" >&2
	for i in "${!names[@]}"; do
		printf '  %-5s %-12s %5ss\n' "${results[$i]}" "${names[$i]}" "${times[$i]}"
		case ${results[$i]} in PASS) p=$((p + 1)) ;; FAIL) f=$((f + 1)) ;; SKIP) s=$((s + 1)) ;; esac
	done
	echo "suites: $p passed, $f failed, $s skipped"
}

finish() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$stack_used" = 1 ]; then
		printf '\n%s\n' "===== stopping the test stack =====" >&2
		timeout 180 scripts/stack.sh down || { err "stack.sh down failed"; failed=1; }
	fi
	[ "$rc" -ne 0 ] && [ "$rc" -ne 130 ] && failed=1
	if [ "$failed" = 1 ] && [ "$stack_used" = 1 ]; then print_logs; fi
	summary
	[ "$rc" -eq 130 ] && exit 130
	[ "$failed" = 0 ] || exit 1
	exit 0
}
CUR_PID=
interrupted() {
	err "interrupted"
	if [ -n "$CUR_PID" ]; then
		kill -TERM "$CUR_PID" 2>/dev/null
		wait_pid_exit "$CUR_PID" 40 || kill -KILL "$CUR_PID" 2>/dev/null
	fi
	exit 130
}
trap finish EXIT
trap interrupted INT TERM

# --- mock engine's own tests ------------------------------------------------------------
if [ -d tests/mock-engine ] && [ "$(count_tests tests/mock-engine)" -gt 0 ]; then
	suite mock-engine "$T_MOCK_TESTS" node --test tests/mock-engine/
else
	skip mock-engine "no test files in tests/mock-engine"
fi

# --- the mock HTTP service's own tests (what the workflow tests' http steps call) ---------
if [ -d tests/mock-http ] && [ "$(count_tests tests/mock-http)" -gt 0 ]; then
	suite mock-http "$T_MOCK_TESTS" node --test tests/mock-http/
else
	skip mock-http "no test files in tests/mock-http"
fi

# --- the test stack ---------------------------------------------------------------------
stack_up() {
	scripts/stack.sh down || return 1
	if [ "${AIF_TEST_KEEP:-0}" != 1 ] && [ -d "$AIF_VAR_DIR" ]; then
		log "starting from an empty test stack (rm -rf $AIF_VAR_DIR; AIF_TEST_KEEP=1 keeps it)"
		rm -rf "$AIF_VAR_DIR"
	fi
	# The stack reads its own copy of the config, so tests may edit it and reload.
	mkdir -p "$AIF_VAR_DIR" && cp config/aif.yaml "$AIF_CONFIG" || return 1
	scripts/stack.sh up
}
stack_used=1
stack_ok=0
export -f stack_up log
suite stack "$T_STACK" bash -c stack_up && stack_ok=1

# --- unit -------------------------------------------------------------------------------
# The store's unit tests need a real MariaDB: they get their own database on the test
# stack's server. AIF_TEST_REQUIRE_DB=1: without it they fail, they do not skip.
if [ "$stack_ok" = 1 ] && mariadb --socket="$AIF_VAR_DIR/run/mysqld.sock" \
	-e 'CREATE DATABASE IF NOT EXISTS aif_unit' 2>/dev/null; then
	export AIF_TEST_DB_SOCKET=$AIF_VAR_DIR/run/mysqld.sock AIF_TEST_DB_NAME=aif_unit
fi
export AIF_TEST_REQUIRE_DB=1
suite unit "$T_UNIT" make check

# --- the layers hold (include paths, SQL only in the store, what each program links) ---
suite layers 120 make -s check-layers

# --- PII detectors: precision/recall per type against the recorded baseline ---------------
suite pii-accuracy 300 tests/pii/run.sh

# --- end-to-end ---------------------------------------------------------------------------
if [ -f tests/e2e/package.json ]; then
	if [ -f tests/e2e/package-lock.json ]; then
		suite e2e-deps "$T_NPM" npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
	else
		suite e2e-deps "$T_NPM" npm install --prefix tests/e2e --no-audit --no-fund --loglevel=error
	fi
fi
if [ ! -d tests/e2e ] || [ "$(count_tests tests/e2e)" -eq 0 ]; then
	skip e2e "no test files in tests/e2e"
elif [ "$stack_ok" != 1 ]; then
	err "e2e: not run, the test stack did not come up"
	record e2e FAIL 0
else
	# shellcheck disable=SC1091
	suite e2e "$T_E2E" bash -c 'set -a; . "$AIF_VAR_DIR/stack.env"; set +a; exec node --test --test-concurrency=1 tests/e2e/'
fi

# --- the daemons under valgrind -------------------------------------------------------------
if [ "$stack_ok" = 1 ]; then
	suite valgrind "$T_E2E" bash -c 'set -a; . "$AIF_VAR_DIR/stack.env"; set +a; exec tests/valgrind/daemons.sh'
else
	err "valgrind: not run, the test stack did not come up"; record valgrind FAIL 0
fi

# --- the fault suite: processes, database and engine fail under load (docs/FAULTS.md) -------
# Last on the stack: it kills and restarts the stack's processes.
if [ "$stack_ok" = 1 ]; then
	suite fault 900 bash -c 'set -a; . "$AIF_VAR_DIR/stack.env"; set +a; exec node --test --test-concurrency=1 tests/fault/'
else
	err "fault: not run, the test stack did not come up"; record fault FAIL 0
fi

# --- several hosts: the gateway spread over network namespaces (docs/SCALE.md) -------------
# Its own MariaDB, nginx, aif-api and workers, each "host" a namespace; root only.
# galera: a three-node Galera cluster behind haproxy, the writer killed under load.
netns_ok() { [ "$(id -u)" = 0 ] && ip netns add aifn-probe 2>/dev/null && ip netns del aifn-probe; }
if netns_ok; then
	suite netns 600 tests/netns/topology.sh
	suite galera 600 tests/netns/galera.sh
else
	skip netns "network namespaces unavailable (they need root)"
	skip galera "network namespaces unavailable (they need root)"
fi

# --- nginx configs ------------------------------------------------------------------------
nginx_check() {
	local d rc=0
	d=$(mktemp -d "${TMPDIR:-/tmp}/aif-nginx.XXXXXX")
	# Production site as Debian includes it: inside http { }, log paths redirected.
	sed -e "s|/var/log/nginx/|$d/|g" nginx/aif.conf >"$d/aif.conf"
	cat >"$d/nginx.conf" <<-EOF
	pid $d/nginx.pid;
	error_log $d/error.log;
	events { }
	http {
	    client_body_temp_path $d/body; fastcgi_temp_path $d/fastcgi; proxy_temp_path $d/proxy;
	    uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
	    include $d/aif.conf;
	}
	EOF
	echo "nginx -t: nginx/aif.conf (production site)"
	nginx -t -q -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" || rc=1
	if [ -f "$AIF_VAR_DIR/nginx/nginx.conf" ]; then
		echo "nginx -t: $AIF_VAR_DIR/nginx/nginx.conf (local stack)"
		nginx -t -q -p "$AIF_VAR_DIR/nginx/" -c "$AIF_VAR_DIR/nginx/nginx.conf" -e "$d/error.log" || rc=1
	fi
	rm -rf "$d"
	return "$rc"
}
if command -v nginx >/dev/null 2>&1; then
	export -f nginx_check
	suite nginx "$T_NGINX" bash -c nginx_check
else
	err "nginx: not installed (scripts/deps.sh)"; record nginx FAIL 0
fi

# --- systemd units ------------------------------------------------------------------------
suite systemd "$T_SYSTEMD" tests/systemd/verify.sh

# --- the units under a real systemd (PID 1 in a container), tests/systemd/boot.sh ------------
suite systemd-boot 900 tests/systemd/boot.sh

# --- libFuzzer: masker, request parser + masker, config loader; 30 s each, 2 at a time -------
suite fuzz 600 tests/fuzz/run.sh 30
