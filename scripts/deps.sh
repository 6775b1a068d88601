#!/usr/bin/env bash
# deps.sh -- install the Debian 12 packages that building, running and testing need.
#
# Quiet when everything is there. As root: `apt-get update` once, then install what is
# missing without starting any system service (a policy-rc.d guard refuses service
# starts for the duration; the local stack runs its own MariaDB and nginx and must never
# touch the system's). As another user: print the one sudo line to run, exit 1.
#
# Usage: scripts/deps.sh [--check]     (--check: only report, never install; exit 1 if missing)
set -euo pipefail

case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac

PACKAGES=(
	build-essential pkg-config
	libfcgi-dev libcurl4-openssl-dev libjansson-dev libyaml-dev libmariadb-dev
	libpcre2-dev libssl-dev libcmocka-dev
	mariadb-server mariadb-client
	curl wrk clang valgrind zstd
	systemd-container debootstrap iproute2 socat
	galera-4 haproxy rsync
	chromium prometheus
)

check_only=0
case ${1:-} in
--check) check_only=1 ;;
'') ;;
*) echo "usage: scripts/deps.sh [--check]" >&2; exit 2 ;;
esac

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

missing=()
for p in "${PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done
# Any nginx binary will do (nginx, nginx-light, nginx-full, a local build).
command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
# Node.js may come from elsewhere (e.g. NodeSource, which bundles npm): only add
# Debian's when there is no node, and npm alone when only npm is missing.
if ! command -v node >/dev/null 2>&1; then
	missing+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
	missing+=(npm)
fi

[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$check_only" = 1 ]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages; install them with:" >&2
	echo "sudo apt-get install -y --no-install-recommends ${missing[*]}"
	echo "deps: (the local stack runs its own MariaDB and nginx: the system services" >&2
	echo "deps:  that these packages enable can be stopped and disabled afterwards)" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}" >&2

# Refuse service starts while installing, unless the host already has such a guard.
guard=/usr/sbin/policy-rc.d
guard_ours=0
cleanup() {
	if [ "$guard_ours" = 1 ]; then rm -f "$guard"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ ! -e "$guard" ]; then
	printf '#!/bin/sh\n# written by AI Foundation scripts/deps.sh for the duration of an install\nexit 101\n' >"$guard"
	chmod 755 "$guard"
	guard_ours=1
fi

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
timeout 900 apt-get "${apt_opts[@]}" update -q
timeout 1800 apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}" </dev/null
echo "deps: done" >&2
