# lib.sh -- shell helpers shared by scripts/stack.sh, scripts/run-tests.sh and
# tests/systemd/verify.sh. Sourced, never run. Bash only.
#
# shellcheck shell=bash
# Contract: every wait here is bounded; every helper that fails says why on stderr.
# Nothing here kills a process it cannot tie to a pid file of ours.

# Debian keeps mariadbd, nginx and friends in /usr/sbin, which a non-root PATH lacks.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin" ;; esac
case ":$PATH:" in *:/sbin:*) ;; *) PATH="$PATH:/sbin" ;; esac
export PATH

AIF_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then
	_c_red=$'\e[31m' _c_grn=$'\e[32m' _c_yel=$'\e[33m' _c_off=$'\e[0m'
else
	_c_red='' _c_grn='' _c_yel='' _c_off=''
fi

log()  { printf '%s\n' "${AIF_LOG_PREFIX:-}$*" >&2; }
ok()   { printf '%s%s%s\n' "$_c_grn" "${AIF_LOG_PREFIX:-}$*" "$_c_off" >&2; }
warn() { printf '%s%s%s\n' "$_c_yel" "${AIF_LOG_PREFIX:-}warning: $*" "$_c_off" >&2; }
err()  { printf '%s%s%s\n' "$_c_red" "${AIF_LOG_PREFIX:-}error: $*" "$_c_off" >&2; }
die()  { err "$*"; exit 1; }

# now_ms: wall clock in milliseconds (bash 5 EPOCHREALTIME, no fork).
now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	printf '%s\n' "$((t / 1000))"
}

# tail_log FILE [LINES]: print the end of a log, framed, to stderr: the lines since the
# last "=== ... starting" marker written by start_bg, at most LINES (default 40).
tail_log() {
	local f=$1 n=${2:-40} from
	if [ -s "$f" ]; then
		from=$(grep -n '^=== ' "$f" 2>/dev/null | tail -n 1 | cut -d: -f1)
		printf '%s\n' "----- $f (last run, at most $n lines) -----" >&2
		tail -n "+${from:-1}" "$f" | tail -n "$n" >&2
		printf '%s\n' "----- end of $f -----" >&2
	else
		printf '%s\n' "(log $f is empty or missing)" >&2
	fi
}

# pid_alive PID: true if PID exists and is not a zombie.
pid_alive() {
	local pid=$1 stat
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[ -r "/proc/$pid/stat" ] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# pid_cmd_matches PID PATTERN: /proc/PID/cmdline contains PATTERN (guards against
# signalling a recycled pid that is no longer ours).
pid_cmd_matches() {
	local pid=$1 pat=$2 cmd
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *"$pat"* ]]
}

# read_pid FILE: print the pid stored in FILE (first line), or nothing.
read_pid() {
	local f=$1 pid=''
	[ -r "$f" ] && IFS= read -r pid <"$f" 2>/dev/null
	[[ $pid =~ ^[0-9]+$ ]] && printf '%s\n' "$pid"
	return 0
}

# pidfile_alive FILE PATTERN: the pid in FILE is alive and its command line matches.
pidfile_alive() {
	local pid
	pid=$(read_pid "$1")
	[ -n "$pid" ] && pid_alive "$pid" && pid_cmd_matches "$pid" "$2"
}

# wait_until TIMEOUT_S DESCRIPTION COMMAND...: poll COMMAND every 100 ms until it
# succeeds (return 0) or TIMEOUT_S seconds pass (return 1). If WAIT_GUARD_PID is set
# and that process dies, give up at once (return 2).
wait_until() {
	local timeout=$1 desc=$2; shift 2
	local deadline=$(( $(now_ms) + timeout * 1000 ))
	while :; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		if [ -n "${WAIT_GUARD_PID:-}" ] && ! pid_alive "$WAIT_GUARD_PID"; then
			err "$desc: the process (pid $WAIT_GUARD_PID) exited while waiting"
			return 2
		fi
		if [ "$(now_ms)" -ge "$deadline" ]; then
			err "$desc: not ready after ${timeout}s"
			return 1
		fi
		sleep 0.1
	done
}

# wait_pid_exit PID TIMEOUT_S: wait for PID to go away; 0 if gone, 1 if still there.
wait_pid_exit() {
	local pid=$1 timeout=$2
	local deadline=$(( $(now_ms) + timeout * 1000 ))
	while pid_alive "$pid"; do
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
	return 0
}

# stop_pidfile NAME FILE PATTERN SIGNAL TIMEOUT_S: send SIGNAL to the process in FILE
# (if alive and matching PATTERN), wait TIMEOUT_S, then SIGTERM and after 5 s more
# SIGKILL. Removes FILE. Returns 0 when the process is gone.
stop_pidfile() {
	local name=$1 file=$2 pat=$3 sig=$4 timeout=$5 pid
	pid=$(read_pid "$file")
	if [ -z "$pid" ] || ! pid_alive "$pid" || ! pid_cmd_matches "$pid" "$pat"; then
		rm -f "$file"
		return 0
	fi
	log "stopping $name (pid $pid, SIG$sig)"
	kill "-$sig" "$pid" 2>/dev/null || true
	if ! wait_pid_exit "$pid" "$timeout"; then
		if [ "$sig" != TERM ]; then
			warn "$name (pid $pid) still running after ${timeout}s; sending SIGTERM"
			kill -TERM "$pid" 2>/dev/null || true
			wait_pid_exit "$pid" 5 && { rm -f "$file"; return 0; }
		fi
		warn "$name (pid $pid) still running; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		if ! wait_pid_exit "$pid" 5; then
			err "$name (pid $pid) survived SIGKILL"
			return 1
		fi
	fi
	rm -f "$file"
	return 0
}

# start_bg NAME PIDFILE LOGFILE COMMAND...: start COMMAND detached (own session,
# stdin /dev/null, stdout+stderr appended to LOGFILE), record its pid in PIDFILE and
# print it. The lock fd 9 is not inherited.
start_bg() {
	local name=$1 pidfile=$2 logfile=$3; shift 3
	printf '=== %s: starting %s: %s\n' "$(date '+%F %T')" "$name" "$*" >>"$logfile"
	# In a non-interactive shell the background child is not a process-group leader,
	# so setsid(1) calls setsid() and execs in place: $! is the daemon's own pid.
	setsid "$@" </dev/null >>"$logfile" 2>&1 9>&- &
	local pid=$!
	printf '%s\n' "$pid" >"$pidfile"
	STARTED_PID=$pid
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# http_code URL: print the HTTP status of a GET (000 if no answer), bounded to 3 s.
http_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true
}

# sh_quote VALUE: VALUE as one shell word (bare if safe, else single-quoted).
sh_quote() {
	local v=$1
	if [[ $v =~ ^[A-Za-z0-9_./:@%+=,-]*$ ]]; then
		printf '%s' "$v"
	else
		printf "'%s'" "${v//\'/\'\\\'\'}"
	fi
}
