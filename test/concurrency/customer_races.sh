#!/usr/bin/env bash
# test/concurrency/customer_races.sh — a booking for a customer being
# merged or erased at the same moment: the booking waits for the merge or
# the erasure (check_booking_customer locks the customer's row as the
# foreign key will) and is then refused, under READ COMMITTED and
# REPEATABLE READ (40001 there, the retry a client makes, which is then
# refused by name). The other order under REPEATABLE READ: the merge or
# erasure retries (40001). No booking of a merged or erased customer is
# left, nor a voucher or signed waiver of a merged one; two trusted
# sessions merging two records into each other make no cycle; a merge
# beside a booking made for the kept customer meanwhile and cancelled
# while the merge goes on makes none either.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_customer_races

ORG=0f450000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'R', 'customer-races');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0f450000-0000-4000-8000-0000000000f1', '$ORG', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, capacity, max_party, mode)
VALUES ('0f450000-0000-4000-8000-0000000005a1', '$ORG', '0f450000-0000-4000-8000-0000000000f1', 'S', '1 hour', 100, 4, 'shared');
INSERT INTO protector.customers (id, organization_id, full_name)
SELECT ('0f450000-0000-4000-8000-00000000c00' || n)::uuid, '$ORG', 'C' || n FROM generate_series(1, 9) n;
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0f450000-0000-4000-8000-00000000c010', '$ORG', 'C10'), ('0f450000-0000-4000-8000-00000000c011', '$ORG', 'C11');
SQL

failures=0
# race <level> <the first session's statement> <the customer booked meanwhile>
race() {
	local level=$1 first=$2 customer=$3
	PGAPPNAME=first psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/first.log" 2>&1 <<SQL &
BEGIN;
$first;
SELECT pg_sleep(1.5);
COMMIT;
SQL
	local pid=$!
	wait_session first "query LIKE 'SELECT pg_sleep%'"
	PGOPTIONS="-c default_transaction_isolation=${level// /\\ }" psql -X -q -d "$DB" >"$WORK/second.log" 2>&1 <<SQL || true
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('$ORG', '0f450000-0000-4000-8000-0000000000f1', '0f450000-0000-4000-8000-0000000005a1', '$customer',
		tstzrange(date_trunc('day', now()) + interval '3 days', date_trunc('day', now()) + interval '3 days 1 hour'), 'confirmed');
SQL
	wait "$pid" || { echo "the merge or erasure failed:"; cat "$WORK/first.log"; failures=$((failures + 1)); }
	local answer
	answer=$(grep -oE 'ERROR: +[^,]*(was merged into|was erased|could not serialize access)[^.]*' "$WORK/second.log" | head -1 || true)
	echo "[$level] $first, then a booking for $customer: ${answer:-stored}"
	if [ -z "$answer" ]; then failures=$((failures + 1)); fi
}
race "read committed" "SELECT protector.merge_customers('0f450000-0000-4000-8000-00000000c001', '0f450000-0000-4000-8000-00000000c002')" \
	0f450000-0000-4000-8000-00000000c002
race "read committed" "SELECT protector.erase_customer('0f450000-0000-4000-8000-00000000c003')" 0f450000-0000-4000-8000-00000000c003
race "repeatable read" "SELECT protector.merge_customers('0f450000-0000-4000-8000-00000000c004', '0f450000-0000-4000-8000-00000000c005')" \
	0f450000-0000-4000-8000-00000000c005
race "repeatable read" "SELECT protector.erase_customer('0f450000-0000-4000-8000-00000000c006')" 0f450000-0000-4000-8000-00000000c006
# the other order: a booking for the customer first, then a REPEATABLE
# READ merge or erasure whose snapshot is older than it; it waits for the
# booking's lock on the customer and then retries (40001) instead of
# leaving the booking on the merged customer, or unscrubbed (a key-share
# lock changes no row, so PostgreSQL raised no serialization failure)
reverse() {
	local first=$1 customer=$2
	PGAPPNAME=booker psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/first.log" 2>&1 <<SQL &
BEGIN;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, details)
VALUES ('$ORG', '0f450000-0000-4000-8000-0000000000f1', '0f450000-0000-4000-8000-0000000005a1', '$customer',
		tstzrange(date_trunc('day', now()) + interval '4 days', date_trunc('day', now()) + interval '4 days 1 hour'), 'confirmed',
		'{"note": "secret of $customer"}');
SELECT pg_sleep(1.5);
COMMIT;
SQL
	local pid=$!
	# (the booking made, not committed, before the snapshot is taken)
	wait_session booker "query LIKE 'SELECT pg_sleep%'"
	psql -X -q -d "$DB" >"$WORK/second.log" 2>&1 <<SQL || true
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 1;
$first;
COMMIT;
SQL
	wait "$pid" || { echo "the booking failed:"; cat "$WORK/first.log"; failures=$((failures + 1)); }
	local answer
	answer=$(grep -oE 'ERROR: +[^,]*referred to concurrently' "$WORK/second.log" | head -1 || true)
	echo "[repeatable read] a booking for $customer, then $first: ${answer:-committed}"
	if [ -z "$answer" ]; then failures=$((failures + 1)); fi
}
reverse "SELECT protector.merge_customers('0f450000-0000-4000-8000-00000000c008', '0f450000-0000-4000-8000-00000000c007')" \
	0f450000-0000-4000-8000-00000000c007
reverse "SELECT protector.erase_customer('0f450000-0000-4000-8000-00000000c009')" 0f450000-0000-4000-8000-00000000c009
left=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings b JOIN protector.customer_erasures e ON e.customer_id = b.customer_id
	WHERE b.details::text ~ 'secret'")
echo "bookings of erased customers with their details: $left"
[ "$left" = 0 ] || failures=$((failures + 1))
# an erasure written directly (customer_erasures is granted to staff):
# its scrub locks the customer as erase_customer does, so it is waited for
race "read committed" "INSERT INTO protector.customer_erasures (organization_id, customer_id)
	VALUES ('$ORG', '0f450000-0000-4000-8000-00000000c010')" 0f450000-0000-4000-8000-00000000c010

# a voucher for a customer being merged (vouchers, messages and signed
# waivers are checked as bookings are): it waits for the merge, then is
# refused by name (it was issued to the merged record, which then kept the
# kept customer from ever being merged again)
PGAPPNAME=merger psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/first.log" 2>&1 <<SQL &
BEGIN;
SELECT protector.merge_customers('0f450000-0000-4000-8000-00000000c007', '0f450000-0000-4000-8000-00000000c008');
SELECT pg_sleep(1.5);
COMMIT;
SQL
merger=$!
wait_session merger "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" >"$WORK/voucher.log" 2>&1 <<SQL || true
SELECT protector.create_voucher('$ORG', 25, p_customer_id => '0f450000-0000-4000-8000-00000000c008');
SQL
wait "$merger" || { echo "the merge failed:"; cat "$WORK/first.log"; failures=$((failures + 1)); }
answer=$(grep -oE 'ERROR: +[^,]*was merged into[^.]*' "$WORK/voucher.log" | head -1 || true)
echo "[read committed] a merge, then a voucher for the merged customer: ${answer:-stored}"
[ -n "$answer" ] || failures=$((failures + 1))

# a signed waiver linked to a booking whose customer is being merged away:
# the link takes the booking's customer, waits for the merge, and is then
# refused (it stored the merged customer, out of the kept one's sight)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
CREATE TABLE waiver_ids AS SELECT (protector.create_waiver('$ORG', 'W', 'I agree.') ->> 'waiver_id')::uuid AS waiver;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, capacity, max_party, mode, waiver_id)
SELECT '0f450000-0000-4000-8000-0000000005a2', '$ORG', '0f450000-0000-4000-8000-0000000000f1', 'W', '1 hour', 100, 4, 'shared', waiver
FROM waiver_ids;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0f450000-0000-4000-8000-0000000000b9', '$ORG', '0f450000-0000-4000-8000-0000000000f1',
		'0f450000-0000-4000-8000-0000000005a2', '0f450000-0000-4000-8000-00000000c009',
		tstzrange(date_trunc('day', now()) + interval '5 days', date_trunc('day', now()) + interval '5 days 1 hour'), 'confirmed');
ALTER TABLE waiver_ids ADD COLUMN id uuid;
UPDATE waiver_ids SET id = (protector.submit_waiver(waiver, 'Cara Nine', '1980-01-01', 'Cara Nine', 'Cara Nine')).id;
SQL
PGAPPNAME=merger psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/first.log" 2>&1 <<SQL &
BEGIN;
SELECT protector.merge_customers('0f450000-0000-4000-8000-00000000c007', '0f450000-0000-4000-8000-00000000c009');
SELECT pg_sleep(1.5);
COMMIT;
SQL
merger=$!
wait_session merger "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" >"$WORK/link.log" 2>&1 <<SQL || true
SELECT protector.link_waiver_to_booking((SELECT id FROM waiver_ids), '0f450000-0000-4000-8000-0000000000b9');
SQL
wait "$merger" || { echo "the merge failed:"; cat "$WORK/first.log"; failures=$((failures + 1)); }
answer=$(grep -oE 'ERROR: +[^,]*(was merged into|could not serialize access)[^.]*' "$WORK/link.log" | head -1 || true)
echo "[read committed] a merge, then a signed waiver linked to the merged customer's booking: ${answer:-stored}"
[ -n "$answer" ] || failures=$((failures + 1))

# a customer created and erased while a booking statement waits on another
# row: the second row's check reads the customer as a statement of its own
# would, not on the waiting statement's older snapshot
PGAPPNAME=holder psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/holder.log" 2>&1 <<SQL &
BEGIN;
SELECT FROM protector.customers WHERE id = '0f450000-0000-4000-8000-00000000c011' FOR UPDATE;
SELECT pg_sleep(1.5);
COMMIT;
SQL
holder=$!
wait_session holder "query LIKE 'SELECT pg_sleep%'"
PGAPPNAME=booker psql -X -q -d "$DB" >"$WORK/two_rows.log" 2>&1 <<SQL &
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
SELECT '$ORG', '0f450000-0000-4000-8000-0000000000f1', '0f450000-0000-4000-8000-0000000005a1', c::uuid,
	   tstzrange(date_trunc('day', now()) + interval '4 days', date_trunc('day', now()) + interval '4 days 1 hour'), 'confirmed'
FROM unnest(ARRAY['0f450000-0000-4000-8000-00000000c011', '0f450000-0000-4000-8000-00000000c012']) WITH ORDINALITY u(c, n) ORDER BY n;
SQL
booker=$!
# (until the statement waits for its first row's customer, held above)
wait_session booker "wait_event_type = 'Lock'"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/late.log" 2>&1 <<SQL
INSERT INTO protector.customers (id, organization_id, full_name) VALUES ('0f450000-0000-4000-8000-00000000c012', '$ORG', 'Late');
INSERT INTO protector.customer_erasures (organization_id, customer_id) VALUES ('$ORG', '0f450000-0000-4000-8000-00000000c012');
SQL
wait "$holder" "$booker" || true
answer=$(grep -oE 'ERROR: +[^,]*was erased' "$WORK/two_rows.log" | head -1 || true)
echo "[read committed] a customer created and erased while the booking statement waited: ${answer:-stored}"
[ -n "$answer" ] || failures=$((failures + 1))

# two trusted sessions merging C10 into C11 and C11 into C10 directly at
# the same moment: the second waits for the first (the check locks the
# target) and is refused, never a cycle of two records that each refuse
# every booking; under REPEATABLE READ the second retries (40001)
for level in "read committed" "repeatable read"; do
	psql -X -q -d "$DB" -c "UPDATE protector.customers SET merged_into = NULL WHERE id IN
		('0f450000-0000-4000-8000-00000000c010', '0f450000-0000-4000-8000-00000000c011')" >/dev/null
	PGAPPNAME=first psql -X -q -d "$DB" >"$WORK/cycle_a.log" 2>&1 <<SQL &
BEGIN ISOLATION LEVEL $level;
UPDATE protector.customers SET merged_into = '0f450000-0000-4000-8000-00000000c011' WHERE id = '0f450000-0000-4000-8000-00000000c010';
SELECT pg_sleep(1);
COMMIT;
SQL
	first=$!
	wait_session first "query LIKE 'SELECT pg_sleep%'"
	psql -X -q -d "$DB" >"$WORK/cycle_b.log" 2>&1 <<SQL
BEGIN ISOLATION LEVEL $level;
UPDATE protector.customers SET merged_into = '0f450000-0000-4000-8000-00000000c010' WHERE id = '0f450000-0000-4000-8000-00000000c011';
COMMIT;
SQL
	wait $first
	cycles=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.customers a JOIN protector.customers b
		ON a.merged_into = b.id AND b.merged_into = a.id")
	answer=$(grep -oE 'ERROR: +.*' "$WORK/cycle_b.log" | head -1 || true)
	echo "[$level] two merges into each other at once: cycles $cycles, the second: ${answer:-stored}"
	[ "$cycles" = 0 ] && [ -n "$answer" ] || failures=$((failures + 1))
done

# an erasure of a customer whose two bookings were handed to another
# (one with a widget key, one with a payment naming her), beside a batch
# over both: the erasure locks the bookings it writes in one pass, in id
# order, as the batch does (two passes, each in id order, deadlocked with
# it).  A session holding the payment's row keeps the erasure between
# its locks until the batch waits.
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0f450000-0000-4000-8000-00000000c020', '$ORG', 'C20'), ('0f450000-0000-4000-8000-00000000c021', '$ORG', 'C21');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, idempotency_key)
VALUES ('0f450000-0000-4000-8000-0000000e0001', '$ORG', '0f450000-0000-4000-8000-0000000000f1', '0f450000-0000-4000-8000-0000000005a1',
		'0f450000-0000-4000-8000-00000000c020',
		tstzrange(date_trunc('day', now()) + interval '5 days', date_trunc('day', now()) + interval '5 days 1 hour'), 'pending',
		'widget/' || md5('c20@example.com') || '/r1'),
	   ('0f450000-0000-4000-8000-0000000e0002', '$ORG', '0f450000-0000-4000-8000-0000000000f1', '0f450000-0000-4000-8000-0000000005a1',
		'0f450000-0000-4000-8000-00000000c020',
		tstzrange(date_trunc('day', now()) + interval '6 days', date_trunc('day', now()) + interval '6 days 1 hour'), 'pending', NULL);
INSERT INTO protector.payments (id, organization_id, booking_id, amount, status, details)
VALUES ('0f450000-0000-4000-8000-0000000d0001', '$ORG', '0f450000-0000-4000-8000-0000000e0002', 5, 'succeeded',
		'{"note": "C20, 1 Main St, paid cash"}');
UPDATE protector.bookings SET customer_id = '0f450000-0000-4000-8000-00000000c021'
WHERE id IN ('0f450000-0000-4000-8000-0000000e0001', '0f450000-0000-4000-8000-0000000e0002');
SQL
PGAPPNAME=payment_holder psql -X -q -d "$DB" -c "BEGIN" \
	-c "SELECT FROM protector.payments WHERE id = '0f450000-0000-4000-8000-0000000d0001' FOR UPDATE" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
wait_session payment_holder "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
PGAPPNAME=eraser psql -X -q -d "$DB" -c "SELECT protector.erase_customer('0f450000-0000-4000-8000-00000000c020') IS NOT NULL" \
	>"$WORK/eraser.log" 2>&1 &
eraser=$!
wait_session eraser "wait_event_type = 'Lock'" || failures=$((failures + 1))
PGAPPNAME=batch psql -X -q -d "$DB" -c "SELECT protector.update_booking_status_batch(
	'{0f450000-0000-4000-8000-0000000e0001,0f450000-0000-4000-8000-0000000e0002}', 'confirmed') ->> 'updated'" \
	>"$WORK/batch.log" 2>&1 &
batch=$!
wait_session batch "wait_event_type = 'Lock'" || failures=$((failures + 1))
end_session payment_holder
wait "$eraser" || true
wait "$batch" || true
erased=$(grep -o 'ERROR:.*' "$WORK/eraser.log" | head -1 || true)
batched=$(grep -o 'ERROR:.*' "$WORK/batch.log" | head -1 || true)
echo "an erasure of once-theirs bookings beside a batch over them: erasure ${erased:-ok}, batch ${batched:-ok}"
[ -z "$erased" ] && [ -z "$batched" ] || failures=$((failures + 1))

# a merge beside a booking made for the kept customer while the merge
# waits for the customer's row (its maker holds the row's key share), and
# then cancelled while the merge goes on (found by a chaos run): the
# merge had locked the customers' bookings before that one was there,
# and later locked it for the kept record's new address
# (customer_reminders); the cancellation, whose refund to a voucher
# updates the booking twice, then waited for the customer (the foreign
# key's check): 40P01.  The merge takes the customers' bookings again
# once it has the customers.  A session holding the merged record's
# voucher, which the merge moves, keeps the merge going until the
# cancellation has begun.
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, capacity, max_party, mode, price)
VALUES ('0f450000-0000-4000-8000-0000000005a3', '$ORG', '0f450000-0000-4000-8000-0000000000f1', 'Paid', '1 hour', 10, 4, 'shared', 40);
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0f450000-0000-4000-8000-00000000c030', '$ORG', 'Kay Kept', NULL),
	('0f450000-0000-4000-8000-00000000c031', '$ORG', 'Kay Merged', 'kay@example.com');
INSERT INTO protector.vouchers (id, organization_id, amount, customer_id) VALUES
	('0f450000-0000-4000-8000-0000000000e1', '$ORG', 50, NULL),
	('0f450000-0000-4000-8000-0000000000e2', '$ORG', 50, '0f450000-0000-4000-8000-00000000c031');
SQL
PGAPPNAME=booker psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/booker.log" 2>&1 <<SQL &
BEGIN;
SELECT protector.create_booking('0f450000-0000-4000-8000-0000000005a3', '0f450000-0000-4000-8000-00000000c030',
								date_trunc('day', now()) + interval '7 days 10 hours', p_idempotency_key => 'kay-1') \g /dev/null
SELECT protector.redeem_voucher((SELECT id FROM protector.bookings WHERE idempotency_key = 'kay-1'),
								(SELECT code FROM protector.vouchers WHERE id = '0f450000-0000-4000-8000-0000000000e1')) \g /dev/null
SELECT pg_sleep(2);
COMMIT;
SQL
booker=$!
wait_session booker "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
PGAPPNAME=voucher_holder psql -X -q -d "$DB" -c "BEGIN" \
	-c "SELECT FROM protector.vouchers WHERE id = '0f450000-0000-4000-8000-0000000000e2' FOR UPDATE" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
wait_session voucher_holder "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
PGAPPNAME=merger psql -X -q -d "$DB" -v VERBOSITY=sqlstate \
	-c "SELECT protector.merge_customers('0f450000-0000-4000-8000-00000000c030', '0f450000-0000-4000-8000-00000000c031') IS NOT NULL" \
	>"$WORK/merger.log" 2>&1 &
merger=$!
wait "$booker" || failures=$((failures + 1))
# (the merge now waits for the merged record's voucher)
wait_session merger "wait_event_type = 'Lock' AND query LIKE '%merge_customers%'" || failures=$((failures + 1))
PGAPPNAME=canceller psql -X -q -d "$DB" -v VERBOSITY=sqlstate \
	-c "SELECT protector.cancel_booking((SELECT id FROM protector.bookings WHERE idempotency_key = 'kay-1'), 'plans changed') IS NOT NULL" \
	>"$WORK/canceller.log" 2>&1 &
canceller=$!
sleep 1
end_session voucher_holder
wait "$merger" || true
wait "$canceller" || true
merged=$(grep -o 'ERROR:.*' "$WORK/merger.log" | head -1 || true)
cancelled=$(grep -o 'ERROR:.*' "$WORK/canceller.log" | head -1 || true)
echo "a merge beside a booking of the kept customer made and cancelled meanwhile: merge ${merged:-ok}, cancellation ${cancelled:-ok}"
case "$merged $cancelled" in *40P01*) failures=$((failures + 1)) ;; esac

left=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings b JOIN protector.customers c ON c.id = b.customer_id
	WHERE c.merged_into IS NOT NULL OR EXISTS (SELECT FROM protector.customer_erasures e WHERE e.customer_id = c.id)")
echo "bookings of merged or erased customers: $left"
[ "$left" = 0 ] || failures=$((failures + 1))
left=$(psql -X -A -t -d "$DB" -c "SELECT (SELECT count(*) FROM protector.vouchers v JOIN protector.customers c ON c.id = v.customer_id
	WHERE c.merged_into IS NOT NULL) + (SELECT count(*) FROM protector.waiver_submissions w JOIN protector.customers c ON c.id = w.customer_id
	WHERE c.merged_into IS NOT NULL)")
echo "vouchers and signed waivers of merged customers: $left"
[ "$left" = 0 ] || failures=$((failures + 1))
dropdb "$DB"
[ "$failures" -eq 0 ]
