# shellcheck shell=bash
# bench/lib.sh -- sourced by the benchmark scripts that run against their own private
# stack: bench_stack brings one up under var/bench-NAME on the given ports (overridable
# with AIF_BENCH_PORT / AIF_BENCH_MOCK_PORT), loads its stack.env and takes it down
# when the script exits; bench_machine prints the line RESULTS.md quotes with a run.

# bench_stack NAME PORT MOCK_PORT
bench_stack() {
	export AIF_VAR_DIR=$PWD/var/bench-$1 AIF_PORT=${AIF_BENCH_PORT:-$2} \
	       AIF_MOCK_PORT=${AIF_BENCH_MOCK_PORT:-$3} AIF_DB_NAME=aif_bench_${1//-/_}
	trap 'scripts/stack.sh down >/dev/null 2>&1 || true' EXIT
	scripts/stack.sh up >/dev/null 2>&1
	set -a
	# shellcheck disable=SC1091
	. "$AIF_VAR_DIR/stack.env"
	set +a
}

# bench_pids api|worker|mariadb|engine|nginx: the pids of that part of the stack under
# $AIF_VAR_DIR, from its pid files (nginx: the master and its workers), one per word.
bench_pids() {
	local r=$AIF_VAR_DIR/run f
	case $1 in
	api) set -- "$r"/api.pid "$r"/api-[0-9]*.pid ;;
	worker) set -- "$r"/worker-[0-9]*.pid ;;
	mariadb) set -- "$r/mariadb.pid" ;;
	engine) set -- "$r/mock.pid" ;;
	nginx) set -- "$r/nginx.pid" ;;
	esac
	for f in "$@"; do
		[ -f "$f" ] || continue
		cat "$f"
		if [ "$f" = "$r/nginx.pid" ]; then pgrep -P "$(cat "$f")" || true; fi
	done | tr '\n' ' '
}

bench_machine() {
	echo "machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME")"
}
