#!/usr/bin/env bash
# scripts/check-sanitize.sh — `make check-sanitize`: builds protector with
# AddressSanitizer and UndefinedBehaviorSanitizer, installs it, runs the
# pg_regress and pgTAP suites against a throwaway cluster that loads it,
# and fails on any sanitizer report.  Then puts the normal build back.
#
# What works with Debian's PostgreSQL 15: the instrumented library loaded
# through shared_preload_libraries (LD_PRELOAD of libasan deadlocks the
# server at start), ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0
# (the server binary is not instrumented, so libasan cannot come first),
# and --param asan-stack=0 (PostgreSQL's error handling longjmps out of
# frames, which stack instrumentation reports falsely).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/install-deps.sh sanitize

REPORTS=$(mktemp -d /tmp/protector-sanitize.XXXXXX)
chmod 777 "$REPORTS"
restore_build() {
	echo "== putting the normal build back"
	make -s clean >/dev/null
	make -s >/dev/null && make -s install >/dev/null
}
trap restore_build EXIT

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer --param asan-stack=0"
echo "== build ($SAN)"
make -s clean >/dev/null
make -s COPT="$SAN" LDFLAGS_SL="-fsanitize=address,undefined" >/dev/null
make -s install >/dev/null

export ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0:abort_on_error=0:log_path=$REPORTS/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$REPORTS/ubsan"
echo "== suites (pg_regress, pgTAP) with the instrumented library preloaded"
rc=0
SUITES="cppcheck regress pgtap" bash scripts/pg-cluster.sh -o "shared_preload_libraries=protector" \
	-o "max_connections=120" bash scripts/run-suites.sh || rc=$?

reports=$(grep -lE 'ERROR: AddressSanitizer|runtime error:' "$REPORTS"/* 2>/dev/null || true)
if [ -n "$reports" ]; then
	echo "sanitizer reports:"
	for r in $reports; do echo "--- $r"; head -40 "$r"; done
	echo "check-sanitize: FAILED ($(echo "$reports" | wc -w) reports)"
	exit 1
fi
if [ "$rc" -ne 0 ]; then
	echo "check-sanitize: the suites failed under the sanitizers"
	exit "$rc"
fi
echo "check-sanitize: no AddressSanitizer or UndefinedBehaviorSanitizer report"
