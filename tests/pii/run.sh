#!/usr/bin/env bash
# run.sh -- builds tests/pii/accuracy.c and runs it on the labelled corpus: precision and
# recall per entity type against the recorded baseline. Prints the misses, the table and
# "N passed, M failed"; exits non-zero when a built-in detector drops below its baseline.
#
#   tests/pii/run.sh             compare with tests/pii/baseline.tsv
#   tests/pii/run.sh --record    record the current numbers as the new baseline
#   tests/pii/run.sh --markdown  print the table for docs/PII.md
# BUILD selects the build tree (default build), as for make.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/tests/pii_accuracy" >&2
case ${1:-} in
--record)	exec "$BUILD/tests/pii_accuracy" tests/pii/corpus.tsv tests/pii/baseline.tsv --write ;;
--markdown)	exec "$BUILD/tests/pii_accuracy" tests/pii/corpus.tsv tests/pii/baseline.tsv --markdown ;;
'')		exec "$BUILD/tests/pii_accuracy" tests/pii/corpus.tsv tests/pii/baseline.tsv ;;
*)		echo "usage: $0 [--record|--markdown]" >&2; exit 2 ;;
esac
