#!/usr/bin/env bash
# test/ops/logical.sh — logical replication of protector's tables to a
# database with protector installed (docs/operations.md, "Logical
# replication").  A publisher and a subscriber in a cluster of their own
# (wal_level = logical), published as the page says (its statement, run
# from the page): schema protector and protector_internal's two tables of
# data, cancellation_terms and customer_moves.  The rest of
# protector_internal is each database's own bookkeeping (its rows made at
# install met the copy's, and the subscription stopped for good, an attack
# on replication).  The publisher is filled through the RPCs before the
# subscription (the first copy, a cancellation among it) and after it (the
# stream, with a customer moved between organizations); then every
# published table is equal on both (the subscriber recorded no move of its
# own beside the publisher's).  At the cutover, the page's block moves the
# subscriber's identities past the copied rows (sequences are not
# replicated: every audited write failed on audit_log_pkey, a review), a
# booking goes through there, and a payment for the booking cancelled on
# the publisher is refunded as the publisher refunds it (without the
# cancellation's terms the copy kept the money, the review of the page).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${LOGICAL_CLUSTER:-}" ]; then
	exec env LOGICAL_CLUSTER=1 bash scripts/pg-cluster.sh -o wal_level=logical bash "$0"
fi
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }

for db in pub sub; do
	createdb "$db"
	PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f test/fixtures/supabase.sql
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector CASCADE"
done
psql -X -q -v ON_ERROR_STOP=1 -d pub -f test/ops/fixture.sql >/dev/null
sed -n '/<!-- logical-publication:begin -->/,/<!-- logical-publication:end -->/p' docs/operations.md |
	grep -v '^<!--' | grep -v '^```' >"$PGHOST/publication.sql"
grep -q 'CREATE PUBLICATION protector_tables' "$PGHOST/publication.sql" || fail "operations.md's publication was not found"
psql -X -q -v ON_ERROR_STOP=1 -d pub -f "$PGHOST/publication.sql" \
	-c "SELECT pg_create_logical_replication_slot('protector_tables', 'pgoutput')" >/dev/null
# (the slot made beforehand: a subscription in the publisher's own cluster
# cannot create it)
psql -X -q -v ON_ERROR_STOP=1 -d sub -c "CREATE SUBSCRIPTION protector_tables
	CONNECTION 'host=$PGHOST port=$PGPORT dbname=pub' PUBLICATION protector_tables
	WITH (create_slot = false, slot_name = 'protector_tables')"
trap 'psql -X -q -d sub -c "ALTER SUBSCRIPTION protector_tables DISABLE" \
	-c "ALTER SUBSCRIPTION protector_tables SET (slot_name = NONE)" -c "DROP SUBSCRIPTION protector_tables" >/dev/null 2>&1' EXIT

# until every table's first copy is done and the stream has caught up
caught_up() {
	local lsn
	lsn=$(psql -X -A -t -d pub -c "SELECT pg_current_wal_lsn()")
	for _ in $(seq 1 300); do
		[ "$(psql -X -A -t -d sub -c "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ] &&
			[ "$(psql -X -A -t -d pub -c "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots
				WHERE slot_name = 'protector_tables'")" = t ] && return 0
		sleep 0.1
	done
	fail "the subscriber did not catch up with $lsn"
	grep -h "ERROR" "$PGHOST"/*.log 2>/dev/null | sort -u | head -5 || true
}
caught_up
psql -X -q -v ON_ERROR_STOP=1 -d pub -f test/ops/fixture_current.sql >/dev/null
caught_up

# every published table, row for row
tables=$(psql -X -A -t -d pub -c "SELECT string_agg(schemaname || '.' || tablename, ' ' ORDER BY 1)
	FROM pg_publication_tables WHERE pubname = 'protector_tables'")
compared=0
for t in $tables; do
	digest="SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM $t r"
	on_pub=$(psql -X -A -t -d pub -c "SET row_security = off" -c "$digest" | tail -1)
	on_sub=$(psql -X -A -t -d sub -c "SET row_security = off" -c "$digest" | tail -1)
	[ "$on_pub" = "$on_sub" ] || fail "$t differs: publisher $on_pub, subscriber $on_sub"
	compared=$((compared + 1))
done
[ "$compared" -ge 22 ] || fail "only $compared tables compared"
for t in protector.bookings protector_internal.cancellation_terms protector_internal.customer_moves; do
	[ "$(psql -X -A -t -d pub -c "SELECT count(*) FROM $t")" -gt 0 ] || fail "the publisher has no rows in $t (the check proves nothing)"
done

# the cutover: the subscription off, the identities moved past the
# copied rows (operations.md's block, as written there), then a booking on
# the subscriber (without the block: 23505 on audit_log_pkey)
psql -X -q -v ON_ERROR_STOP=1 -d sub -c "ALTER SUBSCRIPTION protector_tables DISABLE"
unmoved=$(psql -X -A -t -d sub -c "SELECT (SELECT max(id) FROM protector.audit_log) > (SELECT last_value FROM protector.audit_log_id_seq)")
[ "$unmoved" = t ] || fail "the copy's audit ids are not past the subscriber's sequence (the check proves nothing)"
sed -n '/<!-- identities:begin -->/,/<!-- identities:end -->/p' docs/operations.md | grep -v '^<!--' | grep -v '^```' >"$PGHOST/identities.sql"
psql -X -q -v ON_ERROR_STOP=1 -d sub -f "$PGHOST/identities.sql" || fail "operations.md's identity block failed"
booked=$(psql -X -A -t -d sub -v ON_ERROR_STOP=1 -c "SELECT protector.create_booking('0c000000-0000-4000-8000-0000000005a1',
	'0c000000-0000-4000-8000-00000000c001', date_trunc('day', now()) + interval '14 days 10 hours', 2, 'logical/1') ->> 'status'" 2>&1 || true)
[ "$booked" = confirmed ] || [ "$booked" = pending ] || fail "a booking on the subscriber after the cutover: $booked"
# money for the booking cancelled before the subscription, arriving late:
# refunded on the subscriber as on the publisher
late="BEGIN;
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status)
SELECT organization_id, id, 30, currency, 'succeeded' FROM protector.bookings WHERE idempotency_key = 'fixture/4';
SELECT string_agg(kind || ' ' || amount || ' ' || status, ', ' ORDER BY kind) FROM protector.payments
WHERE booking_id = (SELECT id FROM protector.bookings WHERE idempotency_key = 'fixture/4') AND amount = 30;
ROLLBACK;"
on_pub=$(psql -X -A -t -q -d pub -c "$late" 2>&1)
on_sub=$(psql -X -A -t -q -d sub -c "$late" 2>&1)
case "$on_pub" in *refund*) ;; *) fail "the publisher refunded no late payment ($on_pub: the check proves nothing)" ;; esac
[ "$on_sub" = "$on_pub" ] || fail "a late payment on the subscriber: '$on_sub', on the publisher '$on_pub'"

[ "$failures" -eq 0 ] && echo "$compared tables equal on the subscriber; a booking and a late refund there after the cutover"
