#!/usr/bin/env bash
# test/concurrency/tenant_moves.sh — a trusted writer moving a row to
# another organization at the moment another writer names it leaves no
# row of the old organization pointing into the new one (a review of the
# checks that refuse such moves, sql/68_customers_api.sql and
# sql/78_vouchers.sql: neither side waited for the other, and both went
# through):
#  1. a promo code naming a service, written while the service moves: the
#     code's check locks the service (lock_organization_services), so the
#     move waits for the code and sees it, or the code for the move and
#     finds the service gone;
#  2. a customer merged into another while that one moves: the merge's
#     check reads its target under the lock, and finds it gone; a move
#     waits for a merge into the moved customer and sees it.
# Each first writer holds its transaction open two seconds; the second is
# refused once it commits.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_tenant_moves
A=0a104000-0000-4000-8000-000000000000
B=0b104000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.organizations (id, name, slug) VALUES ('$A', 'A', 'tenant-moves-a'), ('$B', 'B', 'tenant-moves-b');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a104000-0000-4000-8000-0000000000a1', '$A', 'VA', 'UTC'), ('0b104000-0000-4000-8000-0000000000b1', '$B', 'VB', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration) VALUES
	('0a104000-0000-4000-8000-0000000005a1', '$A', '0a104000-0000-4000-8000-0000000000a1', 'S1', '1 hour'),
	('0a104000-0000-4000-8000-0000000005a2', '$A', '0a104000-0000-4000-8000-0000000000a1', 'S2', '1 hour');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a104000-0000-4000-8000-00000000c001', '$A', 'C1'), ('0a104000-0000-4000-8000-00000000c002', '$A', 'C2'),
	('0a104000-0000-4000-8000-00000000c003', '$A', 'C3'), ('0a104000-0000-4000-8000-00000000c004', '$A', 'C4');
SQL
failures=0
check() {	# $1 = description, $2 = answer, $3 = expected
	if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1: answered $2, expected $3"; failures=$((failures + 1)); fi
}
# hold APP SQL: SQL in a transaction kept open two seconds, then committed
hold() {
	PGAPPNAME=$1 psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "$2" -c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null 2>&1 &
	wait_session "$1" "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
}
# the SQLSTATE of SQL, or ok
answer() {
	local out
	out=$(psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "$1" 2>&1 >/dev/null) || true
	if [ -z "$out" ]; then echo ok; else echo "$out" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | head -1; fi
}
move_service="UPDATE protector.services SET organization_id = '$B', venue_id = '0b104000-0000-4000-8000-0000000000b1' WHERE id = '%s'"
code="INSERT INTO protector.promo_codes (organization_id, discount_kind, discount_value, service_ids) VALUES ('$A', 'percent', 10, '{%s}')"

# 1. the code first, then the move; the move first, then the code
# shellcheck disable=SC2059
hold code_first "$(printf "$code" 0a104000-0000-4000-8000-0000000005a1)"
# shellcheck disable=SC2059
check "a service moved while a code naming it is written waits for the code and is refused" \
	"$(answer "$(printf "$move_service" 0a104000-0000-4000-8000-0000000005a1)")" 23503
wait
# shellcheck disable=SC2059
hold move_first "$(printf "$move_service" 0a104000-0000-4000-8000-0000000005a2)"
# shellcheck disable=SC2059
check "a code naming a service that is moving waits for the move and is refused" \
	"$(answer "$(printf "$code" 0a104000-0000-4000-8000-0000000005a2)")" 22023
wait
check "no promo code names another organization's service" "$(psql -X -A -t -d "$DB" -c "SELECT count(*)
	FROM protector.promo_codes p, unnest(p.service_ids) x JOIN protector.services s ON s.id = x
	WHERE s.organization_id <> p.organization_id")" 0

# 2. the target moves first, then the merge; the merge first, then the move
hold target_moves "UPDATE protector.customers SET organization_id = '$B' WHERE id = '0a104000-0000-4000-8000-00000000c002'"
check "a customer merged into one that is moving waits for the move and is refused" \
	"$(answer "UPDATE protector.customers SET merged_into = '0a104000-0000-4000-8000-00000000c002' WHERE id = '0a104000-0000-4000-8000-00000000c001'")" 23503
wait
hold merge_first "UPDATE protector.customers SET merged_into = '0a104000-0000-4000-8000-00000000c004' WHERE id = '0a104000-0000-4000-8000-00000000c003'"
check "a customer moved while another is merged into it waits for the merge and is refused" \
	"$(answer "UPDATE protector.customers SET organization_id = '$B' WHERE id = '0a104000-0000-4000-8000-00000000c004'")" 23503
wait
check "no merged record names another organization's customer" "$(psql -X -A -t -d "$DB" -c "SELECT count(*)
	FROM protector.customers c JOIN protector.customers t ON t.id = c.merged_into WHERE t.organization_id <> c.organization_id")" 0

dropdb "$DB"
echo "# tenant_moves: $failures failed"
[ "$failures" -eq 0 ]
