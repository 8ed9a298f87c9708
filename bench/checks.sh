#!/usr/bin/env bash
# bench/checks.sh — runs inside the cluster of bench/run.sh.
#
# What protector.bookings' CHECK constraints cost a single-row insert, in
# CPU instructions (callgrind; see bench/instructions.sh for why not
# seconds).  PostgreSQL reads every CHECK of the table from its node string
# and compiles it once per statement, so for one-row inserts the size of
# those trees is paid per booking.  Three copies of the table's columns:
# without CHECKs (none), with the thirteen rules written in SQL as 0.1.0
# had them (sql), and with the installed constraint, one C call for all
# of them (bookings_row_check, src/constraints.c).  CHECK_ROWS (default 2000) one-row INSERTs each, in
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
	DROP CONSTRAINT bookings_row_check,
	ADD CONSTRAINT bookings_amount_paid_check CHECK (amount_paid >= 0),
	ADD CONSTRAINT bookings_cancellation_reason_check CHECK (length(cancellation_reason) <= 2000),
	ADD CONSTRAINT bookings_check CHECK (status <> 'held' OR hold_expires_at IS NOT NULL),
	ADD CONSTRAINT bookings_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
	ADD CONSTRAINT bookings_deposit_amount_check CHECK (deposit_amount >= 0),
	ADD CONSTRAINT bookings_details_check CHECK (jsonb_typeof(details) = 'object'),
	ADD CONSTRAINT bookings_discount_amount_check CHECK (discount_amount >= 0),
	ADD CONSTRAINT bookings_during_check CHECK (NOT isempty(during) AND NOT lower_inf(during) AND NOT upper_inf(during)
		AND lower_inc(during) AND NOT upper_inc(during) AND isfinite(lower(during)) AND isfinite(upper(during))),
	ADD CONSTRAINT bookings_idempotency_key_check CHECK (length(idempotency_key) BETWEEN 1 AND 200),
	ADD CONSTRAINT bookings_length_check CHECK (upper(during) - lower(during) <= interval '31 days'),
	ADD CONSTRAINT bookings_party_size_check CHECK (party_size BETWEEN 1 AND 100000),
	ADD CONSTRAINT bookings_total_price_check CHECK (total_price >= 0),
	ADD CONSTRAINT bookings_unit_price_check CHECK (unit_price >= 0);
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
printf '%-40s %12s %14s\n' "13 CHECKs in SQL (0.1.0)" "$(per sql)" "$bytes_sql"
printf '%-40s %12s %14s\n' "bookings_row_check (src/constraints.c)" "$(per c)" "$bytes_c"
printf 'C / SQL: %.2fx the CHECKs'"'"' instructions; the whole insert %.2fx\n' \
	"$(echo "$(per c) / $(per sql)" | bc -l)" \
	"$(echo "${IR[c]} / ${IR[sql]}" | bc -l)"
