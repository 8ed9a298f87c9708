#!/usr/bin/env bash
# scripts/test.sh — `make test`: provision, build with warnings as errors,
# install, then run every suite against throwaway PostgreSQL 15 clusters
# that scripts/pg-cluster.sh creates and drops around each part.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== build (-Wall -Wextra -Werror)"
make -s clean >/dev/null
make -s -j2 >/dev/null
echo "== install"
make -s install >/dev/null

# Each part in its own throwaway cluster.  The concurrency and operations
# scripts (sessions mostly waiting on each other's locks and sleeps; the
# restores and upgrades mostly CPU) run in two lanes at once, each taking
# the next script the other has not (scripts/run-suites.sh, LANE_CLAIMS):
# one after another they took 520 s of the ten minutes the whole run may
# take on a 2-core machine.
export LOGDIR=${LOGDIR:-$(mktemp -d /tmp/protector-test.XXXXXX)}
part() {
	SUITES=$1 bash scripts/pg-cluster.sh -o "max_connections=120" -o "max_prepared_transactions=4" bash scripts/run-suites.sh
}
lane() {
	LANE_CLAIMS="$LOGDIR/claims" part "concurrency ops" >"$LOGDIR/part-lane$1.out" 2>&1
	echo $? >"$LOGDIR/rc-lane$1"
}
declare -A rc
echo "== throwaway clusters"
set +e
part "cppcheck regress pgtap docs" | tee "$LOGDIR/part-checks.out"
rc[checks]=${PIPESTATUS[0]}
[ "${rc[checks]}" -ne 130 ] || exit 130		# Ctrl-C (scripts/pg-cluster.sh's status)
rm -rf "$LOGDIR/claims" "$LOGDIR"/rc-lane*
: >"$LOGDIR/part-lane1.out"
: >"$LOGDIR/part-lane2.out"
(lane 1 & lane 2 & wait) &
lanes=$!
# both lanes' lines as they come
tail -q -n +1 -f --pid="$lanes" "$LOGDIR/part-lane1.out" "$LOGDIR/part-lane2.out" | grep --line-buffered -v '^logs: '
wait "$lanes"
rc[lane1]=$(cat "$LOGDIR/rc-lane1" 2>/dev/null || echo 1)
rc[lane2]=$(cat "$LOGDIR/rc-lane2" 2>/dev/null || echo 1)
set -e

# one summary over the parts (a part that printed none, or that failed
# with no failure counted, failed as a whole)
passed=0
failed=0
for f in checks lane1 lane2; do
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOGDIR/part-$f.out" | tail -1 || true)
	if [ -z "$line" ]; then
		echo "$f: no summary (see $LOGDIR/part-$f.out)"
		failed=$((failed + 1))
		continue
	fi
	passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
	failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
	if [ "${rc[$f]}" -ne 0 ] && [ "$(echo "$line" | cut -d' ' -f3)" -eq 0 ]; then
		echo "$f: exited with ${rc[$f]} (see $LOGDIR/part-$f.out)"
		failed=$((failed + 1))
	fi
done
echo "logs: $LOGDIR"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
