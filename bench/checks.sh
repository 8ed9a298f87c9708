#!/usr/bin/env bash
# bench/checks.sh — runs inside the cluster of bench/run.sh.
#
# What protector.bookings' CHECK constraints cost a single-row insert, in
# CPU instructions (callgrind; see bench/instructions.sh for why not
# seconds).  PostgreSQL reads every CHECK of the table from its node string
# and compiles it once per statement, so for one-row inserts the size of
# those trees is paid per booking.  Three copies of the table's columns:
# without CHECKs (none), with the two time rules written in SQL as 0.1.0
# had them (sql), and with the installed constraints, those two in C
# (src/constraints.c).  CHECK_ROWS (default 2000) one-row INSERTs each, in
# a single-user backend; the session's own cost cancels out of the
# differences.
set -euo pipefail
ROWS=${CHECK_ROWS:-2000}
DB=protector_checks
cd "$(dirname "$0")"
. ./callgrind.sh checks

dropdb --if-exists "$DB" >/dev/null 2>&1 || true
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION protector CASCADE;
CREATE TABLE checks_none (LIKE protector.bookings INCLUDING DEFAULTS);
CREATE TABLE checks_c (LIKE protector.bookings INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE checks_sql (LIKE protector.bookings INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE checks_sql
	DROP CONSTRAINT bookings_during_check, DROP CONSTRAINT bookings_length_check,
	ADD CONSTRAINT bookings_during_check CHECK (NOT isempty(during) AND NOT lower_inf(during) AND NOT upper_inf(during)
		AND lower_inc(during) AND NOT upper_inc(during) AND isfinite(lower(during)) AND isfinite(upper(during))),
	ADD CONSTRAINT bookings_length_check CHECK (upper(during) - lower(during) <= interval '31 days');
SQL
node_bytes() {
	psql -X -A -t -d "$DB" -c "SELECT sum(length(conbin::text)) FROM pg_constraint WHERE conrelid = '$1'::regclass AND contype = 'c'"
}
for t in none c sql; do
	for i in $(seq "$ROWS"); do
		echo "INSERT INTO checks_$t (organization_id, venue_id, service_id, during, currency) VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003', '[2030-01-01 10:00+00, 2030-01-01 11:00+00)', 'EUR');"
	done >"$WORK/$t.sql"
done
bytes_c=$(node_bytes checks_c)
bytes_sql=$(node_bytes checks_sql)
callgrind_begin
declare -A IR
for t in none c sql; do
	IR[$t]=$(callgrind_count "$DB" "$WORK/$t.sql")
done
callgrind_end
dropdb "$DB"
per() { echo "(${IR[$1]} - ${IR[none]}) / $ROWS" | bc; }
echo "== CHECK constraints of protector.bookings, one-row INSERTs ($ROWS each), instructions per insert beyond no CHECK at all"
printf '%-40s %12s %14s\n' "" "instr/insert" "node bytes"
printf '%-40s %12s %14s\n' "time rules in SQL (0.1.0)" "$(per sql)" "$bytes_sql"
printf '%-40s %12s %14s\n' "time rules in C (src/constraints.c)" "$(per c)" "$bytes_c"
printf 'C / SQL: %.2fx the CHECKs'"'"' instructions; the whole insert %.2fx\n' \
	"$(echo "$(per c) / $(per sql)" | bc -l)" \
	"$(echo "${IR[c]} / ${IR[sql]}" | bc -l)"
