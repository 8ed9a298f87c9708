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

# Each part in its own throwaway cluster: the operations suite (restores,
# upgrades: mostly CPU) runs beside the concurrency suite (mostly sessions
# waiting on each other's locks and sleeps), which saves a minute of the
# ten the whole run may take on a 2-core machine.
export LOGDIR=${LOGDIR:-$(mktemp -d /tmp/protector-test.XXXXXX)}
part() {
	SUITES=$1 bash scripts/pg-cluster.sh -o "max_connections=120" bash scripts/run-suites.sh
}
declare -A rc
echo "== throwaway clusters"
set +e
part "cppcheck regress pgtap docs" | tee "$LOGDIR/part-checks.out"
rc[checks]=${PIPESTATUS[0]}
[ "${rc[checks]}" -ne 130 ] || exit 130		# Ctrl-C (scripts/pg-cluster.sh's status)
part ops >"$LOGDIR/part-ops.out" 2>&1 &
ops=$!
part concurrency | tee "$LOGDIR/part-concurrency.out"
rc[concurrency]=${PIPESTATUS[0]}
wait "$ops"
rc[ops]=$?
set -e
cat "$LOGDIR/part-ops.out"

# one summary over the parts (a part that printed none, or that failed
# with no failure counted, failed as a whole)
passed=0
failed=0
for f in checks concurrency ops; do
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
