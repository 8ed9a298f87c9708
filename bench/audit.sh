#!/usr/bin/env bash
# bench/audit.sh — audit trigger overhead.  Runs inside a throwaway cluster
# (bench/run.sh).  For each variant — no trigger, PL/pgSQL audit trigger,
# protector's C trigger — it inserts AUDIT_ROWS (default 100k) rows in one
# statement and then updates all of them, AUDIT_REPEAT (default 5) rounds
# interleaved across variants, and prints medians and each trigger's
# overhead over no trigger, then the C/PL/pgSQL ratio of overheads
# (target: at most 0.5).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=bench/lib.sh
. ./lib.sh
ROWS=${AUDIT_ROWS:-100000}
REPEAT=${AUDIT_REPEAT:-5}
DB=protector_bench_audit
dropdb --if-exists "$DB" >/dev/null 2>&1 || true
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f audit_setup.sql >/dev/null

declare -A times
for r in $(seq 1 "$REPEAT"); do
	for v in none plpgsql c; do
		for phase in insert update; do
			ms=$(psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" <<SQL
SET request.jwt.claims = '{"sub": "0a000000-0000-4000-8000-0000000000e1", "role": "authenticated"}';
SELECT round(bench_audit.run('$v', '$phase', $ROWS)::numeric, 1);
SQL
)
			times[$v,$phase]="${times[$v,$phase]:-} $ms"
		done
		psql -X -q -d "$DB" -c "TRUNCATE bench_audit.t_$v, bench_audit.log; DELETE FROM protector.audit_log" \
			-c "CHECKPOINT" >/dev/null
	done
done

echo "== audit trigger overhead: $ROWS rows inserted in one statement, then all updated;"
echo "   median of $REPEAT rounds (interleaved); overhead = extra time over no trigger"
printf '%-10s %-8s %12s %12s\n' phase variant "ms" "overhead"
for phase in insert update; do
	base=$(echo "${times[none,$phase]}" | median)
	for v in none plpgsql c; do
		m=$(echo "${times[$v,$phase]}" | median)
		printf '%-10s %-8s %12s %11.2fx\n' "$phase" "$v" "$m" "$(echo "($m - $base) / $base" | bc -l)"
	done
	p=$(echo "${times[plpgsql,$phase]}" | median)
	c=$(echo "${times[c,$phase]}" | median)
	printf '%-10s C overhead / PL/pgSQL overhead: %.2f (target <= 0.50)\n' "$phase" \
		"$(echo "($c - $base) / ($p - $base)" | bc -l)"
done
dropdb "$DB"
