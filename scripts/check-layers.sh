#!/usr/bin/env bash
# check-layers.sh -- the layering rules of CONTRIBUTING.md, checked on the tree and on
# the built programs (`make check-layers`, run by `make test`). Each rule prints the
# lines that break it; the exit status is non-zero when any does.
#
#   1. Every #include "x.h" of a folder names a header of that folder or of a layer
#      below it (core/base <- config <- protocol <- pii, ipc, store <- gate; adapters
#      and http sit on core; the programs on top; aif-api uses no adapter and no http,
#      only the adapters' catalogue, adapters/catalog.h, to check the YAML).
#   2. libcurl only in http/ and workers/; MariaDB's headers only in core/store/db.c;
#      no sockets in adapters/.
#   3. SQL only in core/store/: no statement text anywhere else in production code.
#   4. No literal parameter count: the store passes arrays (AIF_DB_EXEC/AIF_DB_QUERY)
#      or counts it computed.
#   5. No literal HTTP error status, type or code in aif-api's route files: errors come
#      from the table of core/protocol/apierr.h.
#   6. aif-api links no libcurl and no adapter; aifctl links no libcurl.
#   7. Nothing cites notes that are not in the repository.
#   8. The version of core/base/version.h is CHANGELOG.md's newest release.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

fail=0
bad() { printf 'check-layers: %s\n' "$1" >&2; fail=1; }

# ---- 1. includes ---------------------------------------------------------------------
# allowed[folder] = the folders whose headers it may include
declare -A allowed=(
	[core/base]="core/base"
	[core/config]="core/base core/config"
	[core/protocol]="core/base core/config core/protocol"
	[core/pii]="core/base core/config core/protocol core/pii"
	[core/ipc]="core/base core/config core/protocol core/ipc"
	[core/store]="core/base core/config core/protocol core/store"
	[core/gate]="core/base core/config core/protocol core/store core/gate"
	[adapters]="core/base core/config core/protocol adapters"
	[http]="core/base http"
	[fcgi-app]="core/base core/config core/protocol core/pii core/ipc core/store core/gate fcgi-app"
	[workers]="core/base core/config core/protocol core/pii core/ipc core/store core/gate adapters http workers"
	[cli]="core/base core/config core/protocol core/pii core/ipc core/store core/gate adapters cli"
)
declare -A home=()	# header name -> its folder
for d in "${!allowed[@]}"; do
	for h in "$d"/*.h; do
		[ -e "$h" ] || continue
		name=${h##*/}
		[ -n "${home[$name]:-}" ] && bad "two headers named $name: ${home[$name]} and $d"
		home[$name]=$d
	done
done
for d in "${!allowed[@]}"; do
	for f in "$d"/*.c "$d"/*.h; do
		[ -e "$f" ] || continue
		while IFS= read -r inc; do
			h=$(printf '%s' "$inc" | sed -E 's/^#include "([^"]+)".*/\1/')
			where=${home[$h]:-}
			if [ -z "$where" ]; then
				bad "$f includes \"$h\", which is no header of the project"
				continue
			fi
			case " ${allowed[$d]} " in
			*" $where "*) ;;
			*) [ "$d/$h" = "fcgi-app/catalog.h" ] ||
				bad "$f includes \"$h\" of $where: $d may use ${allowed[$d]}" ;;
			esac
		done < <(grep -E '^#include "' "$f")
	done
done

# ---- 2. system headers -------------------------------------------------------------
while IFS= read -r l; do bad "libcurl outside http/ and workers/: $l"; done < <(
	grep -rn '#include <curl/' --include='*.c' --include='*.h' core adapters fcgi-app cli)
while IFS= read -r l; do bad "MariaDB headers outside core/store/db.c: $l"; done < <(
	grep -rnE '#include <(mysql|errmsg|mysqld_error)\.h>' --include='*.c' --include='*.h' \
	    core adapters http fcgi-app workers cli | grep -v '^core/store/db\.c:')
while IFS= read -r l; do bad "sockets in an adapter: $l"; done < <(
	grep -rnE '#include <(sys/socket|sys/un|netinet/[a-z]+|arpa/inet)\.h>' adapters)

# ---- 3. SQL only in the store --------------------------------------------------------
sql_re='"[[:space:]]*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP)[[:space:]]'
while IFS= read -r l; do bad "SQL outside core/store: $l"; done < <(
	grep -rnE "$sql_re" --include='*.c' --include='*.h' core adapters http fcgi-app workers cli |
	    grep -v '^core/store/')

# ---- 4. no literal parameter counts -------------------------------------------------
while IFS= read -r l; do bad "a literal parameter count: $l"; done < <(
	grep -rnE 'aif_db_(exec|query)\([^;]*,[[:space:]]*[0-9]+[[:space:]]*,' \
	    --include='*.c' core fcgi-app workers cli | grep -vE 'NULL,[[:space:]]*0,')

# ---- 5. no literal errors in aif-api's routes --------------------------------------
err_re='"(invalid_request_error|server_error|permission_denied|insufficient_quota|rate_limit_exceeded|database_unavailable|model_not_found|not_found_error)"'
while IFS= read -r l; do bad "a literal error in a route file: $l"; done < <(
	grep -rnE "$err_re" fcgi-app/*.c)
while IFS= read -r l; do bad "a literal HTTP error status in a route file: $l"; done < <(
	grep -rnE '(reply_send|reply_json)\([^,]+,[[:space:]]*[45][0-9][0-9][[:space:]]*,' fcgi-app/*.c)

# ---- 6. what the programs link --------------------------------------------------------
for p in bin/aif-api bin/aifctl; do
	[ -x "$p" ] || { bad "$p is not built (run make first)"; continue; }
	if nm -u "$p" 2>/dev/null | grep -q ' curl_'; then bad "$p links libcurl"; fi
done
if [ -x bin/aif-api ] && nm bin/aif-api 2>/dev/null |
    grep -qE ' [TUDR] aif_adapter_(find|fail|chunk|option|[a-z]+_(build|parse))'; then
	bad "bin/aif-api links an engine adapter"
fi

# ---- 7. the repository stands alone ------------------------------------------------
while IFS= read -r l; do bad "cites notes outside the repository: $l"; done < <(
	git ls-files | grep -vE '^(tests/e2e/package-lock\.json)$' |
	    xargs grep -nE '(\.\./shared/|/work/shared|shared/[a-z-]+\.md|protocols\.md|(queue|perf|security|pii|systemd|workflow)-notes)' 2>/dev/null |
	    grep -v '^scripts/check-layers\.sh:')

# ---- 8. one version ------------------------------------------------------------------
v=$(sed -nE 's/^#define AIF_VERSION[[:space:]]+"([^"]+)".*/\1/p' core/base/version.h)
c=$(sed -nE 's/^## \[?([0-9]+\.[0-9]+\.[0-9]+)\]?.*/\1/p' CHANGELOG.md 2>/dev/null | head -1)
[ -n "$v" ] && [ "$v" = "$c" ] ||
    bad "core/base/version.h says ${v:-nothing}, CHANGELOG.md's newest release ${c:-nothing}"

if [ "$fail" = 0 ]; then
	echo "check-layers: ok"
fi
exit "$fail"
