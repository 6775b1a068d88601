#!/usr/bin/env bash
# run.sh -- builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined)
# and runs each for a bounded time; fails on any crash, leak, sanitizer report, timeout
# or broken invariant (the targets abort when an output is not valid UTF-8).
#
#   tests/fuzz/run.sh [seconds per target, default 30] [target...]
#
# Targets: fuzz_pii (the masker), fuzz_oai (aif_oai_parse + masking what it accepts),
# fuzz_config (the YAML loader + aif_pii_new), fuzz_upload (the multipart form and the
# batch input file of POST /v1/files). At most AIF_FUZZ_JOBS (default 2, the
# CI's cores) run at once. The checked-in seeds (tests/fuzz/corpus/<target>/) are read,
# never written: new inputs go to a scratch corpus under build/fuzz/, findings to
# build/fuzz/artifacts/. Exit 0 when every target ran its time clean.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
SECS=${1:-30}
shift 2>/dev/null || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(fuzz_pii fuzz_oai fuzz_config fuzz_upload)
JOBS=${AIF_FUZZ_JOBS:-2}
CC=${AIF_FUZZ_CC:-clang}
OUT=build/fuzz
ART=$OUT/artifacts

case $SECS in ''|*[!0-9]*) echo "usage: $0 [seconds] [target...]" >&2; exit 2;; esac
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found" >&2; exit 1; }

# The library as the Makefile builds it (core/*/ and adapters/), instrumented once.
PKGS="fcgi libcurl jansson yaml-0.1 libmariadb libpcre2-8 libcrypto"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror \
  $(for d in core/*/; do printf -- '-I%s ' "${d%/}"; done) -Iadapters $(pkg-config --cflags $PKGS 2>/dev/null || echo -I/usr/include/mariadb)"
LIBS="$(pkg-config --libs $PKGS 2>/dev/null ||
  echo -lfcgi -lcurl -ljansson -lyaml -lmariadb -lpcre2-8 -lcrypto) -lpthread -lm"

mkdir -p "$OUT/obj" "$ART"
objs=()
for src in core/*/*.c adapters/*.c; do
	obj=$OUT/obj/$(echo "${src%.c}" | tr / _).o
	if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find core adapters -name '*.h' -newer "$obj" 2>/dev/null | head -1)" ]; then
		# shellcheck disable=SC2086
		$CC $CFLAGS $SAN -fsanitize=fuzzer-no-link -c -o "$obj" "$src" ||
		    { echo "fuzz: $src does not build" >&2; exit 1; }
	fi
	objs+=("$obj")
done
# the PII engine's English name lists, generated as the Makefile does
obj=$OUT/obj/pii_names.o
if [ ! -f "$obj" ] || [ -n "$(find core/pii/data scripts/gen-wordlist.sh -newer "$obj" 2>/dev/null | head -1)" ]; then
	scripts/gen-wordlist.sh core/pii/data > "$OUT/obj/pii_names.c"
	# shellcheck disable=SC2086
	$CC $CFLAGS $SAN -fsanitize=fuzzer-no-link -c -o "$obj" "$OUT/obj/pii_names.c" ||
	    { echo "fuzz: the name lists do not build" >&2; exit 1; }
fi
objs+=("$obj")
for t in "${TARGETS[@]}"; do
	[ -f "tests/fuzz/$t.c" ] || { echo "fuzz: no target $t" >&2; exit 2; }
	echo "fuzz: building $t" >&2
	# shellcheck disable=SC2086
	if ! $CC $CFLAGS $SAN -fsanitize=fuzzer -o "$OUT/$t" "tests/fuzz/$t.c" "${objs[@]}" \
	    $LIBS; then
		echo "fuzz: $t does not build" >&2
		exit 1
	fi
done

# run_one TARGET: runs it for SECS seconds; the status is libFuzzer's.
run_one() {
	local t=$1 seeds=tests/fuzz/corpus/${1#fuzz_} scratch=$OUT/corpus-${1#fuzz_}
	local dict=()
	mkdir -p "$scratch"
	[ "$t" = fuzz_pii ] && dict=(-dict=tests/fuzz/pii.dict)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$OUT/$t" "${dict[@]}" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
	    -max_len=65536 -print_final_stats=1 -artifact_prefix="$ART/$t-" \
	    "$scratch" "$seeds" >"$OUT/$t.log" 2>&1
}

pids=() names=() failed=0
for t in "${TARGETS[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
	echo "fuzz: running $t for ${SECS}s" >&2
	run_one "$t" &
	pids+=($!) names+=("$t")
done
for i in "${!pids[@]}"; do
	if wait "${pids[$i]}"; then
		runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/${names[$i]}.log" |
		    grep -o '[0-9]*$')
		echo "fuzz: ${names[$i]}: ok (${runs:-?} runs)" >&2
	else
		failed=1
		echo "fuzz: ${names[$i]}: FAILED; tail of $OUT/${names[$i]}.log:" >&2
		tail -40 "$OUT/${names[$i]}.log" >&2
		ls -1 "$ART"/"${names[$i]}"-* 2>/dev/null | sed 's/^/fuzz: reproducer: /' >&2
	fi
done
exit $failed
