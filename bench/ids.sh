#!/usr/bin/env bash
# bench/ids.sh — runs inside the cluster of bench/run.sh.
# What time-ordered ids (protector_internal.random_uuid(), version 7) buy
# over random ones (gen_random_uuid(), version 4) once a table is large:
# two tables shaped like a tenant table's keys (a uuid primary key and
# UNIQUE (organization_id, id)), each prefilled with IDS_ROWS rows
# (default 2,000,000) made by its own id DEFAULT, then 8 clients insert
# single rows for IDS_SECONDS (default 8) per run, alternating, each run
# after a CHECKPOINT: the first change of a page after a checkpoint writes
# the whole page to the WAL, and a random id changes a different page
# nearly every time, so the figures are those of the seconds after a
# checkpoint (a production server checkpoints every few minutes); the
# longer the run, the more of the random leaves are already written and
# the smaller the difference (24 s runs: 1.43x the inserts, 0.37x the WAL).
set -euo pipefail
cd "$(dirname "$0")"
ROWS=${IDS_ROWS:-2000000}
SECS=${IDS_SECONDS:-8}
DB=protector_bench_ids
BIN=$(mktemp -d /tmp/protector-bench-ids.XXXXXX)
trap 'rm -rf "$BIN"' EXIT
dropdb --if-exists "$DB" >/dev/null 2>&1 || true
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -v rows="$ROWS" -d "$DB" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION protector CASCADE;
CREATE TABLE ids_v4 (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), organization_id uuid NOT NULL,
					 note text, UNIQUE (organization_id, id));
CREATE TABLE ids_v7 (id uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(), organization_id uuid NOT NULL,
					 note text, UNIQUE (organization_id, id));
INSERT INTO ids_v4 (organization_id, note) SELECT '0b000000-0000-4000-8000-000000000000', 'x' FROM generate_series(1, :rows);
INSERT INTO ids_v7 (organization_id, note) SELECT '0b000000-0000-4000-8000-000000000000', 'x' FROM generate_series(1, :rows);
ALTER TABLE ids_v4 SET (autovacuum_enabled = off);
ALTER TABLE ids_v7 SET (autovacuum_enabled = off);
VACUUM (ANALYZE) ids_v4;
VACUUM (ANALYZE) ids_v7;
SQL
for v in v4 v7; do
	echo "INSERT INTO ids_$v (organization_id, note) VALUES ('0b000000-0000-4000-8000-000000000000', 'x');" >"$BIN/$v.sql"
done
run() {	# $1 = v4 | v7 -> "inserts/s WAL-bytes/insert"
	psql -X -q -d "$DB" -c "CHECKPOINT"
	l0=$(psql -X -A -t -d "$DB" -c "SELECT pg_current_wal_lsn()")
	out=$(pgbench -n -c 8 -j 2 -T "$SECS" -f "$BIN/$1.sql" "$DB" 2>&1)
	l1=$(psql -X -A -t -d "$DB" -c "SELECT pg_current_wal_lsn()")
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	if [ -z "$n" ] || [ "$n" = 0 ]; then echo "pgbench failed:" >&2; echo "$out" >&2; exit 1; fi
	echo "$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out") $(psql -X -A -t -d "$DB" -c "SELECT round(pg_wal_lsn_diff('$l1', '$l0') / $n)")"
}
echo "== ids: single-row inserts/s into a table of $ROWS rows (uuid primary key and UNIQUE (organization_id, id)),"
echo "   8 clients, ${SECS}s per run after a CHECKPOINT, runs alternating (v4 v7 v7 v4) after one of each not counted"
printf '%-34s %12s %14s\n' "id" "inserts/s" "WAL per insert"
declare -A T=() W=()
run v4 >/dev/null	# (a first run of each, not counted: both tables warm)
run v7 >/dev/null
for v in v4 v7 v7 v4; do
	result=$(run $v)
	read -r tps wal <<<"$result"
	T[$v]="${T[$v]:-} $tps" W[$v]="${W[$v]:-} $wal"
done
mean() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.0f", s / NF }' <<<"$1"; }
printf '%-34s %12s %12s B\n' "gen_random_uuid() (version 4)" "$(mean "${T[v4]}")" "$(mean "${W[v4]}")" \
	"random_uuid() (version 7)" "$(mean "${T[v7]}")" "$(mean "${W[v7]}")"
printf 'version 7 / version 4: %.2fx the inserts, %.2fx the WAL per insert (runs:%s |%s)\n' \
	"$(echo "$(mean "${T[v7]}") / $(mean "${T[v4]}")" | bc -l)" "$(echo "$(mean "${W[v7]}") / $(mean "${W[v4]}")" | bc -l)" \
	"${T[v4]}" "${T[v7]}"
dropdb "$DB"
