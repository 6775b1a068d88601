#!/usr/bin/env bash
# boot.sh -- the units under a real systemd as PID 1: a systemd-nspawn container booted
# from a cached Debian rootfs (docs/OPERATIONS.md, "Testing the units", says why).
#
#   1. rootfs: debootstrap bookworm minbase + systemd, dbus, then (second stage, service
#      starts refused by policy-rc.d) MariaDB, nginx-light, curl and the runtime libraries
#      of the binaries. Cached under $AIF_SYSTEMD_CACHE (default var/systemd-rootfs) as a
#      tarball named after a hash of the recipe (suite + package list), extracted next to
#      it; later runs reuse it. The first build takes ~45 s (~520 MB, 113 MB packed).
#   2. `make install DESTDIR=<stage> PREFIX=/usr` (builds first), boot the container
#      (--volatile=overlay: the cached rootfs stays pristine; --private-network: loopback
#      only), copy the stage into it, start MariaDB, run aif-setup (user, tmpfiles,
#      pepper, database, account aif@localhost, migrate).
#   3. The mock engine: the host's node runs tests/mock-engine/server.mjs inside the
#      container's network namespace (nsenter -n), so the rootfs needs no Node.js; it
#      serves the model of config/aif.production.yaml on 127.0.0.1:8000 as vLLM would.
#   4. Checks: the units start (socket, api, workers 1 and 2, Type=notify readiness);
#      a request through nginx with the production site; stopping a worker while async
#      jobs arrive loses none; a third worker adds capacity; reload and restart; the
#      hardening the processes really run under; logfmt in the journal; the timers
#      listed and firing; the autoscaler starting a worker; socket activation after a
#      stop; no prompt text or key secret anywhere in the journal. ~15 s once cached.
#   The container is always stopped (EXIT trap; setpriv --pdeathsig if this script is
#   killed); on failure its journal, the units' status and the logs are saved in
#   var/test-logs/systemd-boot/ and the end of the journal is printed.
#
# Usage: tests/systemd/boot.sh [--rootfs] [--keep]
#   --rootfs  only build (or check) the cached rootfs, then exit
#   --keep    leave the container running at the end (prints how to enter and stop it)
# Environment: AIF_SYSTEMD_CACHE (rootfs cache dir), AIF_DEBIAN_MIRROR (default: the
# host's apt source for Debian, else http://deb.debian.org/debian), AIF_INSTALL_ARGS
# (more arguments for `make install`, e.g. "-o all BIN=/elsewhere/bin" to install
# binaries built elsewhere without building).
# Ends with "N passed, M failed"; exit 1 if anything failed. Root only.
set -uo pipefail
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
CACHE=${AIF_SYSTEMD_CACHE:-$REPO/var/systemd-rootfs}
LOG_SAVE=$REPO/var/test-logs/systemd-boot
SUITE=bookworm
# Bump when the recipe below changes in a way the package list does not show.
RECIPE=3
# Second stage: everything the units and the test need inside the container. The
# runtime libraries are those `ldd bin/aif-api bin/aif-worker bin/aifctl` shows.
PACKAGES=(
	mariadb-server mariadb-client nginx-light curl procps
	libfcgi0ldbl libcurl4 libjansson4 libyaml-0-2 libmariadb3 libpcre2-8-0 libssl3
)

only_rootfs=0 keep=0
for a in "$@"; do
	case $a in
	--rootfs) only_rootfs=1 ;;
	--keep) keep=1 ;;
	*) echo "usage: tests/systemd/boot.sh [--rootfs] [--keep]" >&2; exit 2 ;;
	esac
done

T0=$(date +%s%N)
say() { printf '[%6.1fs] %s\n' "$(( ($(date +%s%N) - T0) / 1000000 ))e-3" "$*" >&2; }
pass=0 fail=0 summary=0
ok()  { pass=$((pass + 1)); printf 'ok     %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL   %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/         /'; return 0; }
# die MESSAGE: a failure that ends the test (the EXIT trap prints the summary).
die() { bad "$*"; [ "$trapped" = 1 ] || summarize; exit 1; }
trapped=0
summarize() { [ "$summary" = 1 ] && return; summary=1; echo; echo "$pass passed, $fail failed"; }

[ "$(id -u)" -eq 0 ] || die "must run as root (systemd-nspawn)"
for c in systemd-nspawn debootstrap nsenter setpriv flock tar node make; do
	command -v "$c" >/dev/null 2>&1 || die "$c not found (scripts/deps.sh installs systemd-container debootstrap)"
done
if command -v zstd >/dev/null 2>&1; then ZEXT=zst ZFLAG=--zstd; else ZEXT=gz ZFLAG=--gzip; fi

# --- cgroups -----------------------------------------------------------------------------
# nspawn started outside a systemd unit creates payload/ and supervisor/ in the cgroup it
# runs in; at the root of the hierarchy parallel runs would clash, so move this script
# into cgroups of its own (each hierarchy nspawn uses) and remove them at the end.
CG_NAME=aif-boot-$$
CG_DIRS=()
cg_enter() {
	local h d s
	for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
		[ -f "$h/cgroup.procs" ] || continue
		# pure cgroup v2 mounts /sys/fs/cgroup itself; skip it when the hybrid ones exist
		[ "$h" = /sys/fs/cgroup ] && [ "${#CG_DIRS[@]}" -gt 0 ] && continue
		d=$h$(awk -F: -v h="$h" '
			(h ~ /systemd$/ && $2 == "name=systemd") || (h !~ /systemd$/ && $1 == "0") { print $3; exit }' /proc/self/cgroup)
		d=${d%/}
		# Leftovers of runs that were killed (their script's pid is gone): empty now.
		for s in "$d"/aif-boot-*; do
			[ -d "$s" ] && ! kill -0 "${s##*-}" 2>/dev/null &&
				find "$s" -depth -type d -exec rmdir {} + 2>/dev/null
		done
		d=$d/$CG_NAME
		mkdir -p "$d" 2>/dev/null && echo $$ >"$d/cgroup.procs" 2>/dev/null && CG_DIRS+=("$d")
	done
}
cg_leave() {
	local d sub
	for d in "${CG_DIRS[@]}"; do
		echo $$ >"$(dirname "$d")/cgroup.procs" 2>/dev/null
		# children first (payload/, supervisor/ and what systemd made below them)
		find "$d" -mindepth 1 -depth -type d 2>/dev/null | while read -r sub; do
			rmdir "$sub" 2>/dev/null
		done
		rmdir "$d" 2>/dev/null
	done
}

# --- the rootfs ----------------------------------------------------------------------------
mirror() {
	local m=${AIF_DEBIAN_MIRROR:-}
	if [ -z "$m" ]; then
		m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /debian\/?$/ && $i !~ /security/) { print $i; exit } }' \
			/etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
		[ -n "$m" ] || m=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}
KEY=$(printf '%s\n' "$RECIPE" "$SUITE" "$(uname -m)" "${PACKAGES[@]}" | sha256sum | cut -c1-12)
TARBALL=$CACHE/rootfs-$SUITE-$KEY.tar.$ZEXT
ROOTFS=$CACHE/$KEY/rootfs

build_rootfs() {
	local tmp=$CACHE/$KEY.build m
	m=$(mirror)
	rm -rf "$tmp" && mkdir -p "$tmp" || return 1
	say "rootfs: debootstrap $SUITE minbase from $m (first run only; ~1 min)"
	if ! timeout 900 debootstrap --variant=minbase --include=systemd,dbus,systemd-sysv \
		"$SUITE" "$tmp/rootfs" "$m" >"$tmp/debootstrap.log" 2>&1; then
		tail -n 30 "$tmp/debootstrap.log" >&2
		return 1
	fi
	# Second stage inside a (non-booted) container with the host's network: package
	# scripts may not start services (policy-rc.d), MariaDB's initialises its datadir.
	printf '#!/bin/sh\nexit 101\n' >"$tmp/rootfs/usr/sbin/policy-rc.d"
	chmod 755 "$tmp/rootfs/usr/sbin/policy-rc.d"
	say "rootfs: installing ${PACKAGES[*]}"
	if ! timeout 900 systemd-nspawn --quiet -D "$tmp/rootfs" --register=no --keep-unit \
		--resolv-conf=copy-host --timezone=off --link-journal=no --pipe \
		env DEBIAN_FRONTEND=noninteractive sh -c '
			set -e
			apt-get -q update
			apt-get -q install -y --no-install-recommends "$@"
			apt-get clean
			rm -rf /var/lib/apt/lists/*
		' sh "${PACKAGES[@]}" >"$tmp/stage2.log" 2>&1 </dev/null; then
		tail -n 30 "$tmp/stage2.log" >&2
		return 1
	fi
	rm -f "$tmp/rootfs/usr/sbin/policy-rc.d"
	# Boot quickly and quietly: nothing starts that the test does not start itself.
	systemctl --root="$tmp/rootfs" disable mariadb.service nginx.service >/dev/null 2>&1
	systemctl --root="$tmp/rootfs" mask apt-daily.timer apt-daily-upgrade.timer \
		e2scrub_all.timer fstrim.timer man-db.timer dpkg-db-backup.timer \
		systemd-timesyncd.service getty@.service console-getty.service >/dev/null 2>&1
	: >"$tmp/rootfs/etc/machine-id"
	echo aif-test >"$tmp/rootfs/etc/hostname"
	say "rootfs: packing $TARBALL"
	tar -C "$tmp/rootfs" $ZFLAG --numeric-owner --xattrs -cf "$TARBALL.tmp" . || return 1
	mv -f "$TARBALL.tmp" "$TARBALL"
	mkdir -p "$CACHE/$KEY"
	rm -rf "$ROOTFS"
	mv "$tmp/rootfs" "$ROOTFS" && touch "$CACHE/$KEY/complete"
	rm -rf "$tmp"
}

ensure_rootfs() {
	mkdir -p "$CACHE" || return 1
	exec 8>"$CACHE/.lock"
	flock -w 1200 8 || { say "rootfs: cache lock $CACHE/.lock busy"; return 1; }
	if [ -f "$CACHE/$KEY/complete" ] && [ -x "$ROOTFS/lib/systemd/systemd" ]; then
		say "rootfs: cached $ROOTFS"
	elif [ -s "$TARBALL" ]; then
		say "rootfs: extracting $TARBALL"
		rm -rf "${CACHE:?}/$KEY" && mkdir -p "$ROOTFS" &&
			tar -C "$ROOTFS" $ZFLAG --numeric-owner --xattrs -xf "$TARBALL" &&
			touch "$CACHE/$KEY/complete" || { rm -rf "${CACHE:?}/$KEY"; return 1; }
	else
		build_rootfs || { rm -rf "$CACHE/$KEY.build"; return 1; }
	fi
	# Other recipes' caches are stale.
	find "$CACHE" -mindepth 1 -maxdepth 1 ! -name "$KEY" ! -name "${TARBALL##*/}" ! -name .lock \
		-exec rm -rf {} + 2>/dev/null
	exec 8>&-
	return 0
}


# --- checks --------------------------------------------------------------------------------
# check DESCRIPTION COMMAND...: ok if COMMAND succeeds, else FAIL with its output.
check() {
	local d=$1 out; shift
	if out=$("$@" 2>&1); then ok "$d"; else bad "$d" "$(tail -n 20 <<<"$out")"; fi
}

# --- the container ---------------------------------------------------------------------------
MACHINE=aif-boot-$$
TMP=
NSPAWN_PID='' LEADER='' MOCK_PID=''
MODEL=llama-3-8b-instruct
UPSTREAM=meta-llama/Meta-Llama-3-8B-Instruct
MOCK_PORT=8000
PATH_IN=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# cx [COMMAND...]: run a command inside the container (all its namespaces), bounded.
cx() { timeout --kill-after=5 "${CXT:-60}" nsenter -t "$LEADER" -a -- env -i PATH=$PATH_IN LANG=C.UTF-8 "$@"; }
# q SQL: one query on the container's MariaDB, tab-separated, no headers.
q() { cx mariadb --batch --skip-column-names aif -e "$1"; }
# wait_for SECONDS COMMAND...: poll every 0.2 s until COMMAND succeeds.
wait_for() {
	local limit=$(( $1 * 5 )) i=0; shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1)); [ "$i" -ge "$limit" ] && return 1
		sleep 0.2
	done
}
fails() { ! "$@"; }
# eq DESCRIPTION ACTUAL EXPECTED
eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got:      $2"$'\n'"expected: $3"; fi; }
# has_str NEEDLE HAYSTACK / no_str NEEDLE HAYSTACK: fixed-string search, any size.
has_str() { grep -qF -- "$1" <<<"$2"; }
no_str() { ! grep -qF -- "$1" <<<"$2"; }
unit_prop() { cx systemctl show -p "$2" --value "$1"; }
main_pid() { unit_prop "$1" MainPID; }

save_logs() {
	rm -rf "$LOG_SAVE" && mkdir -p "$LOG_SAVE" || return 0
	cp -a "$TMP"/*.log "$LOG_SAVE/" 2>/dev/null
	if [ -n "$LEADER" ] && kill -0 "$LEADER" 2>/dev/null; then
		CXT=30 cx journalctl --no-pager -o short-precise >"$LOG_SAVE/journal.txt" 2>&1
		CXT=30 cx systemctl --no-pager --all status 'aif-*' nginx mariadb >"$LOG_SAVE/status.txt" 2>&1
		CXT=30 cx systemctl --no-pager list-units --failed >"$LOG_SAVE/failed-units.txt" 2>&1
		printf '\n----- container journal, aif units (last 60 lines) -----\n' >&2
		grep -E ' (aif-[a-z@0-9-]+|systemd)\[[0-9]+\]: .*(aif|level=)' "$LOG_SAVE/journal.txt" | tail -n 60 >&2
	fi
	say "logs saved in $LOG_SAVE"
}

stop_all() {
	if [ -n "$MOCK_PID" ]; then
		kill -TERM "$MOCK_PID" 2>/dev/null
		wait "$MOCK_PID" 2>/dev/null
		MOCK_PID=
	fi
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		kill -TERM "$NSPAWN_PID" 2>/dev/null
		local i
		for i in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
		kill -0 "$NSPAWN_PID" 2>/dev/null && { say "nspawn did not stop in 20 s: SIGKILL"; kill -KILL "$NSPAWN_PID" 2>/dev/null; }
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	NSPAWN_PID=
}

finish() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$keep" = 1 ] && [ -n "$LEADER" ]; then
		say "--keep: container $MACHINE left running; enter it with: nsenter -t $LEADER -a"
		say "--keep: stop it with: kill $NSPAWN_PID"
		[ -n "$MOCK_PID" ] && say "--keep: mock engine pid $MOCK_PID"
	else
		{ [ "$fail" -gt 0 ] || [ "$rc" -ne 0 ]; } && [ -n "$TMP" ] && save_logs
		stop_all
	fi
	cg_leave
	[ -n "$TMP" ] && [ "$keep" != 1 ] && rm -rf "$TMP"
	[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && [ "$only_rootfs" != 1 ] && bad "exit status $rc"
	[ "$only_rootfs" = 1 ] && [ "$rc" -eq 0 ] || summarize
	exit "$rc"
}
trap finish EXIT
trap 'say "interrupted"; exit 130' INT TERM
trapped=1

cg_enter
ensure_rootfs || die "could not build the rootfs"
if [ "$only_rootfs" = 1 ]; then
	du -sh "$ROOTFS" "$TARBALL" >&2
	exit 0
fi
T_READY=$(date +%s%N)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/aif-boot.XXXXXX")
STAGE=$TMP/stage
mkdir -m 0755 "$STAGE"

# 1. make install into a stage (the binaries are built by `make install` if needed).
say "== install"
say "make install DESTDIR=$STAGE PREFIX=/usr ${AIF_INSTALL_ARGS:-}"
# shellcheck disable=SC2086
if timeout 900 make -C "$REPO" --no-print-directory install DESTDIR="$STAGE" PREFIX=/usr \
	${AIF_INSTALL_ARGS:-} >"$TMP/install.log" 2>&1; then
	ok "make install DESTDIR=… PREFIX=/usr"
else
	bad "make install DESTDIR=… PREFIX=/usr" "$(tail -n 20 "$TMP/install.log")"
	exit 1
fi
expect_files=(usr/bin/aif-api usr/bin/aif-worker usr/bin/aif-cron usr/bin/aifctl usr/sbin/aif-setup
	usr/lib/systemd/system/aif-api.socket usr/lib/systemd/system/aif-api.service
	'usr/lib/systemd/system/aif-worker@.service' usr/lib/systemd/system/aif-cron-reap.timer
	usr/lib/sysusers.d/aif.conf usr/lib/tmpfiles.d/aif.conf usr/share/aif/sql/001_init.sql
	etc/aif/aif.yaml etc/nginx/sites-available/aif.conf usr/share/aif/console/index.html
	usr/share/aif/console/app.js usr/share/aif/console/app.css)
missing=()
for f in "${expect_files[@]}"; do [ -e "$STAGE/$f" ] || missing+=("$f"); done
if [ "${#missing[@]}" -eq 0 ]; then ok "make install puts binaries, units, sysusers/tmpfiles, sql, /etc/aif/aif.yaml, the nginx site, the console"
else bad "make install puts every file in place" "missing: ${missing[*]}"; fi

# 2. Boot.

say "booting $ROOTFS (volatile overlay, private network)"
# setpriv --pdeathsig: the container halts if this script dies (not with --keep).
# --rlimit: a host's systemd starts with a hard RLIMIT_NOFILE of 512Ki; a container
# inherits the runner's (often lower), which LimitNOFILE=65536 could not exceed.
DEATHSIG=(setpriv --pdeathsig TERM)
[ "$keep" = 1 ] && DEATHSIG=(setsid)
"${DEATHSIG[@]}" systemd-nspawn --quiet --boot -D "$ROOTFS" --machine="$MACHINE" \
	--register=no --keep-unit --volatile=overlay --private-network --console=read-only \
	--resolv-conf=off --timezone=off --link-journal=no --rlimit=RLIMIT_NOFILE=1024:524288 \
	>"$TMP/console.log" 2>&1 </dev/null &
NSPAWN_PID=$!
find_leader() {
	local c g
	for c in $(pgrep -P "$NSPAWN_PID"); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && { LEADER=$c; return 0; }
		for g in $(pgrep -P "$c"); do
			[ "$(cat "/proc/$g/comm" 2>/dev/null)" = systemd ] && { LEADER=$g; return 0; }
		done
	done
	return 1
}
wait_for 20 find_leader || { tail -n 30 "$TMP/console.log" >&2; die "the container's systemd did not appear"; }
find_leader
# Until PID 1 has its private socket, systemctl cannot connect: retry that, bounded.
booted() { state=$(CXT=30 cx systemctl is-system-running --wait 2>&1); case $state in running | degraded) return 0 ;; esac; return 1; }
state=
wait_for 30 booted
case $state in
running) ok "container booted: systemd is PID 1, system $state" ;;
degraded) ok "container booted: systemd is PID 1, system $state"
	cx systemctl --no-pager --failed --plain --no-legend >&2 ;;
*) bad "container booted" "is-system-running: $state"; exit 1 ;;
esac
say "booted (leader pid $LEADER)"

# 3. Install the stage into it, as a package would, and set it up.
say "== setup inside"
if tar -C "$STAGE" -cf - . | cx tar -C / --keep-directory-symlink --no-overwrite-dir -xf - >"$TMP/copy.log" 2>&1; then
	ok "staged install copied into the container"
else
	bad "staged install copied into the container" "$(cat "$TMP/copy.log")"; exit 1
fi
check "systemctl start mariadb" cx systemctl start mariadb.service
if out=$(CXT=120 cx aif-setup 2>&1); then
	ok "aif-setup: user, tmpfiles, pepper, database, account aif@localhost, migrate"
else
	bad "aif-setup" "$out"; exit 1
fi
AIF_UID=$(cx id -u aif 2>/dev/null)
check "user aif is a system user with no login shell" \
	bash -c '[ -n "$1" ] && [ "$1" -lt 1000 ] && [ "$2" = /usr/sbin/nologin ]' _ "$AIF_UID" "$(cx getent passwd aif | cut -d: -f7)"
eq "/var/lib/aif/key-pepper: 32 bytes, aif, 0600" "$(cx stat -c '%s %U %a' /var/lib/aif/key-pepper)" "32 aif 600"
eq "/etc/aif/aif.yaml: root:aif 0640" "$(cx stat -c '%U:%G %a' /etc/aif/aif.yaml)" "root:aif 640"
check "aif-setup is idempotent (second run)" cx aif-setup

# 4. The mock engine, in the container's network namespace (the host's node).
say "== mock engine"
"${DEATHSIG[@]}" nsenter -t "$LEADER" -n -- node "$REPO/tests/mock-engine/server.mjs" \
	--port "$MOCK_PORT" --models "$UPSTREAM" >"$TMP/mock.log" 2>&1 </dev/null &
MOCK_PID=$!
if wait_for 20 cx curl -sf "http://127.0.0.1:$MOCK_PORT/health"; then ok "mock engine answers on 127.0.0.1:$MOCK_PORT inside"
else bad "mock engine answers inside" "$(tail -n 20 "$TMP/mock.log")"; exit 1; fi

KEY=$(cx aifctl --config /etc/aif/aif.yaml keys create --name boot-test --role user 2>"$TMP/keys.log")
if [ -n "$KEY" ]; then ok "aifctl keys create"; else bad "aifctl keys create" "$(cat "$TMP/keys.log")"; exit 1; fi

# 5. nginx with the production site, then the units.
say "== nginx and units"
check "nginx: production site enabled, nginx -t" cx sh -c \
	'ln -sf ../sites-available/aif.conf /etc/nginx/sites-enabled/aif.conf && rm -f /etc/nginx/sites-enabled/default && nginx -t -q'
check "systemctl start nginx" cx systemctl start nginx.service

t=$(date +%s%N)
if out=$(CXT=90 cx systemctl start aif-api.socket aif-api.service aif-worker@1.service aif-worker@2.service 2>&1); then
	ok "systemctl start aif-api.socket aif-api.service aif-worker@1 aif-worker@2 ($(( ($(date +%s%N) - t) / 1000000 )) ms)"
else
	bad "systemctl start aif-api.socket aif-api.service aif-worker@1 aif-worker@2" \
		"$out$(printf '\n'; cx journalctl --no-pager -o cat -n 30 -u aif-api -u aif-worker@1 -u aif-worker@2)"
fi
for u in aif-api.socket aif-api.service aif-worker@1.service aif-worker@2.service; do
	eq "$u is active" "$(unit_prop "$u" ActiveState)" active
done
# Type=notify: `systemctl start` returned only after READY=1 (else it would time out).
for u in aif-api.service aif-worker@1.service; do
	eq "$u: Type=notify, NotifyAccess=main, ready" "$(cx systemctl show -p Type,NotifyAccess,SubState --value "$u" | tr '\n' ' ')" "notify main running "
done
eq "/run/aif/api.sock: aif:www-data 0660 (nginx can connect, nobody else)" "$(cx stat -c '%U:%G %a %F' /run/aif/api.sock)" "aif:www-data 660 socket"
eq "aif-api runs as aif" "$(cx ps -o user= -p "$(main_pid aif-api)")" aif
eq "aif-worker@1 runs as aif" "$(cx ps -o user= -p "$(main_pid aif-worker@1)")" aif

# 6. A request through nginx.
say "== request"
CANARY=boot-canary-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
chat_body() { printf '{"model":"%s","messages":[{"role":"user","content":"%s"}]}' "$MODEL" "$1"; }
# chat PROMPT [EXTRA-CURL-ARGS...]: POST a chat through nginx; prints body then the status.
chat() {
	local p=$1; shift
	cx curl -s -m 30 -w '\n%{http_code}' http://127.0.0.1/v1/chat/completions \
		-H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$@" -d "$(chat_body "$p")"
}
resp=$(chat "Say hello to $CANARY")
code=${resp##*$'\n'}
if [ "$code" = 200 ] && grep -q '"choices"' <<<"$resp"; then ok "chat completion through nginx → aif-api → queue → worker → engine: 200"
else bad "chat completion through nginx: 200" "$resp"; fi
eq "GET /v1/models through nginx: 200" "$(cx curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" http://127.0.0.1/v1/models)" 200
eq "GET /console/ through the production site: 200" "$(cx curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/console/)" 200

# 7. Stopping a worker drains it: jobs enqueued before and while it stops all succeed.
say "== drain"
jobs_total() { q "SELECT COUNT(*) FROM jobs"; }
base=$(jobs_total)
W1_ID=$(q "SELECT id FROM workers WHERE instance='1' AND state='running' ORDER BY id DESC LIMIT 1")
N_STREAM=40
# 40 async jobs of 300 ms each, one every 100 ms, from inside the container.
CXT=120 cx env KEY="$KEY" BODY="$(chat_body "[[mock:latency=300]] drain $CANARY")" N=$N_STREAM sh -c '
	for i in $(seq "$N"); do
		curl -s -m 20 -o /dev/null -w "%{http_code}\n" http://127.0.0.1/v1/chat/completions \
			-H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
			-H "Prefer: respond-async" -d "$BODY" >>/tmp/drain-codes &
		sleep 0.1
	done
	wait' >/dev/null 2>&1 &
STREAM_PID=$!
held() { [ "$(q "SELECT COUNT(*) FROM jobs WHERE state='running' AND worker_id=$W1_ID")" -gt 0 ]; }
if [ -n "$W1_ID" ] && wait_for 10 held; then
	ok "aif-worker@1 holds jobs when it is told to stop ($(q "SELECT COUNT(*) FROM jobs WHERE state='running' AND worker_id=$W1_ID") running)"
else
	bad "aif-worker@1 holds jobs when it is told to stop" "worker id ${W1_ID:-none}; $(q "SELECT state, worker_id, COUNT(*) FROM jobs GROUP BY 1, 2")"
fi
t=$(date +%s%N)
stop_out=$(CXT=90 cx systemctl stop aif-worker@1.service 2>&1)
stop_ms=$(( ($(date +%s%N) - t) / 1000000 ))
wait "$STREAM_PID"
if [ -z "$stop_out" ] && [ "$stop_ms" -lt 45000 ]; then ok "systemctl stop aif-worker@1 returned in $stop_ms ms (TimeoutStopSec=45)"
else bad "systemctl stop aif-worker@1 within TimeoutStopSec" "$stop_ms ms: $stop_out"; fi
eq "aif-worker@1 exited cleanly (Result=success, status 0)" "$(cx systemctl show -p Result,ExecMainStatus --value aif-worker@1 | tr '\n' ' ')" "success 0 "
codes=$(cx cat /tmp/drain-codes 2>/dev/null | sort | uniq -c | tr -s ' ' | tr '\n' ';')
eq "$N_STREAM async jobs accepted while the worker stopped (202)" "$(cx grep -c '^202$' /tmp/drain-codes)" "$N_STREAM"
want=$((base + N_STREAM))
all_final() { [ "$(q "SELECT COUNT(*) FROM jobs WHERE state IN ('succeeded','failed','cancelled')")" -ge "$want" ]; }
wait_for 60 all_final
states=$(q "SELECT state, COUNT(*) FROM jobs GROUP BY state" | tr '\t\n' '= ')
if [ "$(q "SELECT COUNT(*) FROM jobs WHERE state='succeeded'")" = "$(jobs_total)" ] && [ "$(jobs_total)" -ge "$want" ]; then
	ok "no job lost: all $(jobs_total) jobs succeeded ($states)"
else
	bad "no job lost: every job succeeded" "jobs: $states; curl codes: $codes"
fi
eq "workers table: instance 1 stopped" "$(q "SELECT state FROM workers WHERE id=$W1_ID")" stopped

# 8. A third worker adds capacity.
say "== capacity"
check "systemctl start aif-worker@3" cx systemctl start aif-worker@3.service
w3_running() { [ "$(q "SELECT COUNT(*) FROM workers WHERE instance='3' AND state='running'")" = 1 ]; }
if wait_for 10 w3_running; then ok "workers table: instance 3 running ($(q "SELECT GROUP_CONCAT(instance ORDER BY instance) FROM workers WHERE state='running'") running)"
else bad "workers table: instance 3 running" "$(q "SELECT instance, state, heartbeat_at FROM workers")"; fi
# With @2 gone, @3 alone must serve.
check "systemctl stop aif-worker@2" cx systemctl stop aif-worker@2.service
resp=$(chat "served by three $CANARY")
if [ "${resp##*$'\n'}" = 200 ]; then ok "aif-worker@3 alone serves a request (200)"; else bad "aif-worker@3 alone serves a request" "$resp"; fi
check "systemctl start aif-worker@2 again" cx systemctl start aif-worker@2.service

# 9. Reload and restart.
say "== reload, restart"
pid=$(main_pid aif-api)
check "systemctl reload aif-api (SIGHUP, RELOADING=1 … READY=1)" cx systemctl reload aif-api.service
eq "aif-api still active with the same pid after reload" "$(unit_prop aif-api ActiveState) $(main_pid aif-api)" "active $pid"
check "systemctl reload aif-worker@3" cx systemctl reload aif-worker@3.service
check "systemctl restart aif-api" cx systemctl restart aif-api.service
resp=$(chat "after the restart $CANARY")
if [ "${resp##*$'\n'}" = 200 ]; then ok "a request after reload and restart: 200"
else
	bad "a request after reload and restart: 200 (the socket outlives aif-api and must keep accepting)" \
		"$resp$(printf '\nnginx error log:\n'; cx tail -n 3 /var/log/nginx/aif.error.log)"
fi
eq "/run/aif/api.sock still aif:www-data 0660 after the restart" "$(cx stat -c '%U:%G %a' /run/aif/api.sock)" "aif:www-data 660"

# 10. Hardening the services really run under.
say "== hardening"
PID1_NOFILE=$(cx cat /proc/1/limits | awk '/^Max open files/ { print $5 }')
for u in aif-api.service aif-worker@3.service; do
	pid=$(main_pid "$u")
	st=$(cx cat "/proc/$pid/status")
	check "$u: uid aif, NoNewPrivs, seccomp filter, no capabilities" bash -c '
		grep -Eq "^Uid:[[:space:]]+$2[[:space:]]+$2[[:space:]]+$2[[:space:]]+$2\$" <<<"$1" &&
		grep -q "^NoNewPrivs:[[:space:]]*1\$" <<<"$1" && grep -q "^Seccomp:[[:space:]]*2\$" <<<"$1" &&
		grep -q "^CapEff:[[:space:]]*0*\$" <<<"$1" && grep -q "^CapBnd:[[:space:]]*0*\$" <<<"$1"' _ "$st" "$AIF_UID"
	# LimitNOFILE=65536, capped by PID 1's own hard limit: a runner without
	# CAP_SYS_RESOURCE cannot give the container more than it has itself.
	nofile=$(( PID1_NOFILE < 65536 ? PID1_NOFILE : 65536 ))
	eq "$u: LimitNOFILE=65536 in force (effective $nofile: PID 1's hard limit is $PID1_NOFILE)" \
		"$(unit_prop "$u" LimitNOFILE) $(cx cat "/proc/$pid/limits" | awk '/^Max open files/ { print $4, $5 }')" "65536 $nofile $nofile"
	props=$(cx systemctl show -p ProtectSystem,ProtectHome,PrivateTmp,NoNewPrivileges,MemoryMax,RestrictAddressFamilies,PrivateDevices "$u" | sort | tr '\n' ' ')
	eq "$u: systemctl show ProtectSystem=strict ProtectHome PrivateTmp NoNewPrivileges MemoryMax RestrictAddressFamilies" "$props" "MemoryMax=1073741824 NoNewPrivileges=yes PrivateDevices=yes PrivateTmp=yes ProtectHome=yes ProtectSystem=strict RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX "
	check "$u: SystemCallFilter set" bash -c '[ -n "$1" ]' _ "$(unit_prop "$u" SystemCallFilter)"
	# Inside the service's own mount namespace: even root cannot write /usr or /etc
	# (read-only mounts); aif can write its state and runtime dirs and a private /tmp.
	ns() { cx nsenter -t "$pid" -m "$@"; }
	for path in /usr/aif-probe /etc/aif/probe /var/aif-probe /boot-probe; do
		check "$u: $path is not writable in its namespace, even by root" \
			fails cx nsenter -t "$pid" -m touch "$path"
	done
	check "$u: /home is inaccessible (ProtectHome)" fails cx nsenter -t "$pid" -m -S "$AIF_UID" -G "$AIF_UID" ls /root /home/
	for path in /var/lib/aif/probe /run/aif/probe /tmp/probe; do
		check "$u: aif can write $path" ns -S "$AIF_UID" -G "$AIF_UID" sh -c "touch $path && rm -f $path"
	done
	ns sh -c 'echo x >/tmp/aif-private-probe' >/dev/null 2>&1
	check "$u: its /tmp is private (PrivateTmp)" fails cx test -e /tmp/aif-private-probe
	ns rm -f /tmp/aif-private-probe >/dev/null 2>&1
done
check "a transient unit with the same ProtectSystem=strict cannot write /usr as aif" fails \
	cx systemd-run --quiet --wait --pipe -p User=aif -p ProtectSystem=strict -p NoNewPrivileges=yes touch /usr/aif-transient-probe

# 11. Logs: structured, and neither prompts nor keys.
say "== logs"
logs=$(cx journalctl --no-pager -o cat -u aif-api -u aif-worker@1 -u aif-worker@2 -u aif-worker@3)
check "journalctl -u aif-api: logfmt lines (level=… prog=aif-api)" grep -Eq '(^| )level=[a-z]+ prog=aif-api( |$)' <<<"$logs"
check "journalctl -u aif-worker@1: logfmt lines (level=… prog=aif-worker)" grep -Eq '(^| )level=[a-z]+ prog=aif-worker( |$)' \
	<<<"$(cx journalctl --no-pager -o cat -u aif-worker@1)"
prog_lines=$(cx journalctl --no-pager -o cat _COMM=aif-api + _COMM=aif-worker)
nonlogfmt=$(grep -Ev '^ts=[0-9TZ:.-]+ level=[a-z]+ prog=[a-z-]+ ' <<<"$prog_lines" | grep -v '^$' | head -5)
check "every line aif-api and aif-worker write is logfmt ($(wc -l <<<"$prog_lines") lines)" test -z "$nonlogfmt"
[ -n "$nonlogfmt" ] && printf '         %s\n' "$nonlogfmt"

# 12. Timers: listed and firing (test drop-ins: every 2 s, 100 ms accuracy; an empty
# OnCalendar= resets every trigger of the timer, the OnActiveSec= ones too).
say "== timers"
JOBS=(reap rollup retention compensate autoscale)
for j in "${JOBS[@]}"; do
	cx sh -c "mkdir -p /run/systemd/system/aif-cron-$j.timer.d && cat >/run/systemd/system/aif-cron-$j.timer.d/test.conf" <<-'EOT'
	[Timer]
	OnCalendar=
	OnActiveSec=1s
	OnUnitActiveSec=2s
	RandomizedDelaySec=0
	Persistent=false
	AccuracySec=100ms
	EOT
done
check "daemon-reload with the test timer drop-ins" cx systemctl daemon-reload
# shellcheck disable=SC2046
check "systemctl enable --now the ${#JOBS[@]} aif-cron timers" \
	cx systemctl enable --now $(printf "aif-cron-%s.timer " "${JOBS[@]}")
timers=$(cx systemctl list-timers --all --no-pager --plain)
for j in "${JOBS[@]}"; do
	check "systemctl list-timers lists aif-cron-$j.timer" grep -q "aif-cron-$j.timer" <<<"$timers"
done
runs() { cx journalctl --no-pager -o cat -u "aif-cron-$1.service" | grep -c 'Deactivated successfully'; }
reap_twice() { [ "$(runs reap)" -ge 2 ]; }
if wait_for 20 reap_twice; then ok "aif-cron-reap.timer fires: aif-cron-reap.service ran $(runs reap) times successfully"
else bad "aif-cron-reap.timer fires twice" "$(cx journalctl --no-pager -o cat -n 20 -u aif-cron-reap.service)"; fi
check "journalctl -u aif-cron-reap shows aif-cron's own logfmt lines" \
	grep -Eq 'level=[a-z]+ prog=aif-cron' <<<"$(cx journalctl --no-pager -o cat -u aif-cron-reap.service)"
for j in rollup retention compensate autoscale; do
	once() { [ "$(runs "$1")" -ge 1 ]; }
	if wait_for 15 once "$j"; then ok "aif-cron-$j.timer fires: aif-cron-$j.service ran successfully"
	else bad "aif-cron-$j.timer fires: aif-cron-$j.service succeeds" "$(cx journalctl --no-pager -o cat -n 20 -u "aif-cron-$j.service")"; fi
done
failed_runs=$(cx journalctl --no-pager -o cat -u 'aif-cron-*' | grep -E 'Failed with result|code=exited, status=[1-9]' | head -5)
check "no aif-cron run failed" test -z "$failed_runs"
[ -n "$failed_runs" ] && printf '         %s\n' "$failed_runs"
# The autoscaler runs as root without capabilities: enough to ask PID 1 for
# `systemctl start aif-worker@N` (as aif it would get "Access denied").
running_workers() { cx systemctl list-units --plain --no-legend --state=active 'aif-worker@*.service' | wc -l; }
before=$(running_workers)
cx sh -c "printf '\nautoscale:\n  min_workers: %s\n  max_workers: %s\n' $((before + 1)) $((before + 1)) >>/etc/aif/aif.yaml"
scaled() { [ "$(running_workers)" -gt "$before" ]; }
if wait_for 20 scaled; then
	ok "aif-cron-autoscale (root, no capabilities) started a worker: $before → $(running_workers) active aif-worker@ units"
else
	bad "aif-cron-autoscale starts a worker when below min_workers" \
		"$(cx journalctl --no-pager -o cat -n 10 -u aif-cron-autoscale.service)"
fi
eq "autoscale_decisions: the scale-up is recorded with command_rc 0" \
	"$(q "SELECT action, command_rc FROM autoscale_decisions WHERE scope='workers' AND action='up' ORDER BY id DESC LIMIT 1" | tr '\t' ' ')" "up 0"
# shellcheck disable=SC2046
cx systemctl stop $(printf 'aif-cron-%s.timer ' "${JOBS[@]}") >/dev/null 2>&1

# 13. Clean stop: STOPPING=1, finish in flight, exit 0.
say "== stop"
check "systemctl stop aif-api.service (the socket stays)" cx systemctl stop aif-api.service
eq "aif-api stopped cleanly (Result=success)" "$(unit_prop aif-api Result)" success
sleep 0.5
sock_state=$(unit_prop aif-api.socket ActiveState)
if [ "$sock_state" = active ]; then ok "aif-api.socket still listening after aif-api stopped"
else
	bad "aif-api.socket still listening after aif-api stopped" \
		"ActiveState=$sock_state$(printf '\n'; cx journalctl --no-pager -o cat -n 3 -u aif-api.socket)"
fi
resp=$(chat "socket activation $CANARY")
if [ "${resp##*$'\n'}" = 200 ] && [ "$(unit_prop aif-api ActiveState)" = active ]; then
	ok "a request starts the stopped aif-api through its socket (socket activation): 200"
else
	bad "a request starts the stopped aif-api through its socket (socket activation): 200" \
		"$resp$(printf '\naif-api.service: '; unit_prop aif-api ActiveState)"
fi
check "systemctl stop aif-api.socket aif-api.service and every worker" \
	cx systemctl stop aif-api.socket aif-api.service 'aif-worker@*.service'
eq "aif-api stopped cleanly again (Result=success)" "$(unit_prop aif-api Result)" success
check "/run/aif kept for the next start (RuntimeDirectoryPreserve)" cx test -d /run/aif

# Last, over everything the run logged (every unit, MariaDB and nginx included): the
# prompts sent (all carry the canary) and the key's secret part appear nowhere.
all_journal=$(cx journalctl --no-pager -o cat)
check "the whole journal ($(wc -l <<<"$all_journal") lines) holds no prompt text ($CANARY)" no_str "$CANARY" "$all_journal"
if [ "${#KEY}" -gt 20 ]; then
	check "the whole journal holds no API key secret" no_str "${KEY:12}" "$all_journal"
else
	bad "the API key looks too short to search for (${#KEY} characters)"
fi
check "nginx's access log holds no API key secret" no_str "${KEY:12}" "$(cx cat /var/log/nginx/aif.access.log)"

say "done: $(( ($(date +%s%N) - T_READY) / 1000000000 )) s after the rootfs was ready"
[ "$fail" -eq 0 ]
