#!/usr/bin/env bash
# test/ops/logical.sh — logical replication of protector's tables to a
# database with protector installed (docs/operations.md, "Logical
# replication").  A publisher and a subscriber in a cluster of their own
# (wal_level = logical): the publication is schema protector only, as the
# docs say; protector_internal holds each database's own bookkeeping (its
# rows made at install met the copy's, and a customer's move the
# subscriber records itself met the publisher's record of it: 23505, and
# the subscription stopped for good, an attack on replication).  The
# publisher is filled through the RPCs before the subscription (the first
# copy) and after it (the stream, with a customer moved between
# organizations); then every table of schema protector is equal on both,
# and the subscriber recorded the move in its own customer_moves.  At the
# cutover, operations.md's block moves the subscriber's identities past the
# copied rows (sequences are not replicated: every audited write failed on
# audit_log_pkey, the review of this test), and a booking goes through.
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
psql -X -q -v ON_ERROR_STOP=1 -d pub -c "CREATE PUBLICATION protector_tables FOR TABLES IN SCHEMA protector" \
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

# every table of schema protector, row for row
tables=$(psql -X -A -t -d pub -c "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c
	WHERE c.relnamespace = 'protector'::regnamespace AND c.relkind IN ('r', 'p')")
compared=0
for t in $tables; do
	digest="SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM protector.$t r"
	on_pub=$(psql -X -A -t -d pub -c "SET row_security = off" -c "$digest" | tail -1)
	on_sub=$(psql -X -A -t -d sub -c "SET row_security = off" -c "$digest" | tail -1)
	[ "$on_pub" = "$on_sub" ] || fail "protector.$t differs: publisher $on_pub, subscriber $on_sub"
	compared=$((compared + 1))
done
[ "$compared" -ge 20 ] || fail "only $compared tables compared"
[ "$(psql -X -A -t -d pub -c "SELECT count(*) FROM protector.bookings")" -gt 0 ] || fail "the publisher has no bookings (the check proves nothing)"
moves="SELECT string_agg(customer_id || ' ' || from_organization_id || ' ' || organization_id, ',') FROM protector_internal.customer_moves"
[ -n "$(psql -X -A -t -d pub -c "$moves")" ] || fail "the publisher moved no customer (the check proves nothing)"
[ "$(psql -X -A -t -d sub -c "$moves")" = "$(psql -X -A -t -d pub -c "$moves")" ] ||
	fail "the subscriber did not record the customer's move itself"

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

[ "$failures" -eq 0 ] && echo "$compared tables equal on the subscriber; the move recorded there"
