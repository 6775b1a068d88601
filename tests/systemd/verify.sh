#!/usr/bin/env bash
# verify.sh -- static checks of the systemd units in systemd/, on a host whose PID 1 need
# not be systemd.
#
# `systemd-analyze verify` checks ExecStart= paths and needs sysinit.target & co, so it
# runs with --root on a throwaway root: the host's stock units under usr/lib/systemd/system,
# our units under etc/systemd/system, and stub executables for exactly the binaries the
# units may name (/usr/bin/aif-api, /usr/bin/aif-worker, ...), so a misspelt path fails.
# It only warns about unknown keys (exit 0), so its output is searched as well.
#
# Checks, one line each: verify per unit (the socket, the services, the aif-cron timers
# and their oneshot services, and a template instance), offline `systemd-analyze
# security` exposure of every service, the directives the design requires, the
# sysusers.d/tmpfiles.d snippets applied to a scratch root, `sh -n` of aif-setup, and
# self-tests that deliberately broken copies are rejected. The units under a real
# systemd: tests/systemd/boot.sh.
#
# Usage: tests/systemd/verify.sh [UNIT_DIR]   (default: systemd/ of this repo)
# Ends with "N passed, M failed"; exit 1 if anything failed.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
UNIT_DIR=${1:-$REPO/systemd}
CRON_JOBS=(reap rollup retention compensate autoscale)
UNITS=(aif-api.socket aif-api.service aif-worker@.service)
for j in "${CRON_JOBS[@]}"; do UNITS+=("aif-cron-$j.service" "aif-cron-$j.timer"); done
# Long-running services (run as aif) and every service (the oneshots of the timers too).
DAEMONS=(aif-api.service aif-worker@.service)
SERVICES=("${DAEMONS[@]}")
for j in "${CRON_JOBS[@]}"; do SERVICES+=("aif-cron-$j.service"); done
# Binaries the units may name; anything else in an Exec*= line is an error.
STUBS=(/usr/bin/aif-api /usr/bin/aif-worker /usr/bin/aifctl /usr/bin/aif-cron /bin/kill /usr/bin/kill /usr/bin/install)
# systemd-analyze security: overall exposure ×10 must not exceed this (20 = "2.0 OK").
SECURITY_THRESHOLD=20
# Output lines of systemd-analyze verify that mean the unit is wrong.
BAD_LINE='[Uu]nknown|[Ii]nvalid|[Ff]ailed|ignoring|not executable|[Nn]o such file|[Mm]issing|deprecated|obsolete|[Ee]rror|[Ww]arning|not found|[Nn]ot supported'

pass=0 fail=0
ok()  { pass=$((pass + 1)); printf 'ok     %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL   %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/         /'; return 0; }

command -v systemd-analyze >/dev/null 2>&1 || {
	echo "verify: systemd-analyze not found (Debian package systemd; scripts/deps.sh installs it with systemd-container)" >&2
	echo "0 passed, 1 failed"; exit 1; }
for u in "${UNITS[@]}"; do
	[ -f "$UNIT_DIR/$u" ] || { echo "verify: $UNIT_DIR/$u is missing" >&2; echo "0 passed, 1 failed"; exit 1; }
done
HOST_UNITS=
for d in /usr/lib/systemd/system /lib/systemd/system; do
	[ -f "$d/sysinit.target" ] && { HOST_UNITS=$d; break; }
done
[ -n "$HOST_UNITS" ] || { echo "verify: no stock systemd units on this host (package systemd)" >&2; echo "0 passed, 1 failed"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/aif-verify.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# make_root DIR UNITSRC: a verification root holding the units of UNITSRC.
make_root() {
	local root=$1 src=$2 s u
	mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd"
	cp -a "$HOST_UNITS" "$root/usr/lib/systemd/system"
	for u in "${UNITS[@]}"; do cp "$src/$u" "$root/etc/systemd/system/$u"; done
	for s in "${STUBS[@]}"; do
		mkdir -p "$root$(dirname "$s")"
		printf '#!/bin/sh\nexit 0\n' >"$root$s"
		chmod 755 "$root$s"
	done
}

# verify_unit ROOT UNIT: run systemd-analyze verify; print its output; 0 if clean.
verify_unit() {
	local root=$1 unit=$2 out rc
	out=$(timeout 60 systemd-analyze verify --root="$root" --man=no --generators=no \
		--recursive-errors=no "/etc/systemd/system/$unit" 2>&1)
	rc=$?
	printf '%s' "$out"
	[ "$rc" -eq 0 ] && ! grep -Eq "$BAD_LINE" <<<"$out"
}

ROOT=$TMP/root
make_root "$ROOT" "$UNIT_DIR"

# 1. systemd-analyze verify, each unit and one template instance.
for u in "${UNITS[@]}" aif-worker@3.service; do
	if out=$(verify_unit "$ROOT" "$u"); then
		ok "systemd-analyze verify $u"
	else
		bad "systemd-analyze verify $u" "${out:-exit status non-zero, no output}"
	fi
done

# 2. Offline exposure score of the services.
for u in "${SERVICES[@]}"; do
	out=$(timeout 60 systemd-analyze security --offline=yes --root="$ROOT" \
		--threshold="$SECURITY_THRESHOLD" "/etc/systemd/system/$u" 2>&1)
	rc=$?
	level=$(grep -o 'Overall exposure level for [^:]*: [0-9.]* [A-Z]*' <<<"$out" | sed 's/.*: //')
	if [ "$rc" -eq 0 ] && [ -n "$level" ]; then
		ok "systemd-analyze security $u: exposure $level (limit $((SECURITY_THRESHOLD / 10)).$((SECURITY_THRESHOLD % 10)))"
	else
		bad "systemd-analyze security $u: exposure ${level:-unknown} (limit $((SECURITY_THRESHOLD / 10)).$((SECURITY_THRESHOLD % 10)))" \
			"$(grep -E '✗|Overall|rror' <<<"$out" | head -20)"
	fi
done

# 3. Directives the design requires (a unit can verify cleanly and still lack them).
# require UNIT REGEX DESCRIPTION
require() {
	if grep -Eq "^$2\$" "$UNIT_DIR/$1"; then ok "$1: $3"; else bad "$1: $3" "no line matching ^$2\$"; fi
}
HARDENING=(
	'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes'
	'PrivateDevices=yes' 'ProtectKernelTunables=yes' 'ProtectControlGroups=yes'
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallFilter=@system-service'
	'SystemCallArchitectures=native' 'MemoryMax=[0-9]+[KMGT]?' 'LimitNOFILE=65536'
	'CapabilityBoundingSet=' 'UMask=0027'
)
for u in "${SERVICES[@]}"; do
	for h in "${HARDENING[@]}"; do require "$u" "$h" "${h%%=*}"; done
done
# The unprivileged user; the autoscaler alone runs as root without capabilities (it
# asks PID 1 to start and stop aif-worker@N).
for u in "${SERVICES[@]}"; do
	case $u in
	aif-cron-autoscale.service) require "$u" 'User=root' 'User=root (no capabilities)' ;;
	*) require "$u" 'User=aif' 'User=aif'; require "$u" 'Group=aif' 'Group=aif' ;;
	esac
done
for u in "${DAEMONS[@]}"; do
	require "$u" 'Type=notify' 'Type=notify (readiness from the program)'
	require "$u" 'NotifyAccess=main' 'NotifyAccess=main'
	require "$u" 'ExecReload=/bin/kill -HUP \$MAINPID' 'reload is SIGHUP'
	require "$u" 'StateDirectory=aif' 'StateDirectory=aif'
done
require aif-api.socket 'ListenStream=/run/aif/api.sock' 'listens on /run/aif/api.sock'
require aif-api.socket 'SocketUser=aif' 'socket owned by aif'
require aif-api.socket 'SocketGroup=www-data' 'socket group www-data (nginx)'
require aif-api.socket 'SocketMode=0660' 'socket mode 0660'
require aif-api.socket 'ExecStartPre=/usr/bin/install -d -o aif -g aif -m 0755 /run/aif' '/run/aif belongs to aif before the socket is made'
require aif-api.service 'ExecStart=/usr/bin/aif-api --config /etc/aif/aif.yaml' 'ExecStart'
require aif-api.service 'Requires=aif-api\.socket' 'requires its socket'
require aif-api.service 'RuntimeDirectory=aif' 'RuntimeDirectory=aif'
require aif-worker@.service 'ExecStart=/usr/bin/aif-worker --config /etc/aif/aif\.yaml --id %i' 'ExecStart with --id %i'
require aif-worker@.service 'KillSignal=SIGTERM' 'drains on SIGTERM'
require aif-worker@.service 'TimeoutStopSec=[0-9]+(s|min)?' 'bounded TimeoutStopSec'
require aif-worker@.service 'Restart=on-failure' 'Restart=on-failure'
# Both services share /run/aif: neither may delete it when it stops.
for u in aif-api.service aif-worker@.service; do
	require "$u" 'RuntimeDirectoryPreserve=yes' 'keeps the shared /run/aif on stop'
done
# The timers and their oneshot services.
for j in "${CRON_JOBS[@]}"; do
	require "aif-cron-$j.service" 'Type=oneshot' 'Type=oneshot'
	require "aif-cron-$j.service" "ExecStart=/usr/bin/aif-cron --config /etc/aif/aif\\.yaml $j" "ExecStart aif-cron $j"
	require "aif-cron-$j.service" 'TimeoutStartSec=[0-9]+(s|min|h)?' 'bounded run time'
	require "aif-cron-$j.timer" 'WantedBy=timers\.target' 'WantedBy=timers.target'
	require "aif-cron-$j.timer" 'AccuracySec=[0-9]+(ms|s|min)?' 'AccuracySec set (the default is 1 min)'
done
require aif-cron-reap.timer 'OnUnitActiveSec=30s' 'reap every 30 s'
require aif-cron-autoscale.timer 'OnUnitActiveSec=30s' 'autoscale every 30 s'
require aif-cron-compensate.timer 'OnUnitActiveSec=30s' 'compensate every 30 s'
require aif-cron-rollup.timer 'OnUnitActiveSec=5min' 'rollup every 5 min'
require aif-cron-retention.timer 'OnCalendar=.+' 'retention daily (OnCalendar)'
require aif-cron-retention.timer 'Persistent=true' 'retention catches up after downtime'
for j in reap rollup compensate autoscale; do
	require "aif-cron-$j.timer" 'OnActiveSec=[0-9]+(s|min)?' 'OnActiveSec anchors OnUnitActiveSec'
done

# 3b. sysusers.d and tmpfiles.d snippets and aif-setup, applied to a scratch root.
SR=$TMP/sysroot
mkdir -p "$SR/etc"
for f in passwd group shadow gshadow; do
	[ -f "/etc/$f" ] && grep -v '^aif:' "/etc/$f" >"$SR/etc/$f"
done
if out=$(systemd-sysusers --root="$SR" "$UNIT_DIR/aif.sysusers" 2>&1) &&
	grep -q '^aif:x:[0-9]*:[0-9]*:.*:/var/lib/aif:/usr/sbin/nologin$' "$SR/etc/passwd" &&
	grep -q '^aif:x:' "$SR/etc/group"; then
	ok "sysusers.d/aif.conf creates the system user and group aif"
else
	bad "sysusers.d/aif.conf creates the system user and group aif" "$out"
fi
uid=$(awk -F: '$1 == "aif" { print $3 }' "$SR/etc/passwd")
if out=$(systemd-tmpfiles --root="$SR" --create "$UNIT_DIR/aif.tmpfiles" 2>&1) &&
	[ "$(stat -c %u:%a "$SR/run/aif" 2>/dev/null)" = "$uid:755" ] &&
	[ "$(stat -c %u:%a "$SR/var/lib/aif" 2>/dev/null)" = "$uid:750" ]; then
	ok "tmpfiles.d/aif.conf makes /run/aif (aif 0755) and /var/lib/aif (aif 0750)"
else
	bad "tmpfiles.d/aif.conf makes /run/aif (aif 0755) and /var/lib/aif (aif 0750)" \
		"$out$(ls -ld "$SR/run/aif" "$SR/var/lib/aif" 2>&1)"
fi
if out=$(sh -n "$UNIT_DIR/aif-setup" 2>&1); then ok "aif-setup: sh -n"; else bad "aif-setup: sh -n" "$out"; fi

# 4. Self-test: the checks above must reject broken copies.
# self_test NAME UNIT SED-EXPR: break UNIT with SED-EXPR; verify must now fail.
self_test() {
	local name=$1 unit=$2 expr=$3 src=$TMP/broken-$RANDOM root
	mkdir -p "$src"
	cp "$UNIT_DIR"/* "$src/"
	sed -i "$expr" "$src/$unit"
	if cmp -s "$src/$unit" "$UNIT_DIR/$unit"; then
		bad "self-test ($name): the sed expression changed nothing"; return
	fi
	root=$TMP/root-$RANDOM
	make_root "$root" "$src"
	if verify_unit "$root" "$unit" >/dev/null; then
		bad "self-test: a unit with $name passes verify (the checks are blind)"
	else
		ok "self-test: a unit with $name is rejected"
	fi
	rm -rf "$src" "$root"
}
self_test 'an unknown key' aif-api.service 's/^\[Service\]$/[Service]\nFrobnicate=yes/'
self_test 'a misspelt ExecStart binary' 'aif-worker@.service' 's|^ExecStart=/usr/bin/aif-worker|ExecStart=/usr/bin/aif-wroker|'
self_test 'an invalid value' aif-api.socket 's/^SocketMode=0660$/SocketMode=banana/'
self_test 'a bad timer value' aif-cron-reap.timer 's/^OnUnitActiveSec=30s$/OnUnitActiveSec=30 parsecs/'

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
