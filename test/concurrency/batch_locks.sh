#!/usr/bin/env bash
# test/concurrency/batch_locks.sh — two update_booking_status_batch calls
# over the same two services, a customer confirming their own holds and
# the desk confirming its pending bookings, whose rows come in opposite
# lock-key order: both take every service's lock first, in key order, so
# neither waits for the other in a cycle.  (The customer's batch took its
# locks row by row, in id order, and the two deadlocked: 40P01.)  A third
# session holds the reminders table for a moment so that the customer's
# batch pauses in the middle, after its first row.  Waits are bounded by
# protector.lock_timeout or a stricter lock_timeout (also when protector's
# is 0), for a service's lock and for a booking's row (authorize_row).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_batch_locks
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null

ORG=0f460000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['desk', 'cara']) u;
INSERT INTO protector.organizations (id, name, slug, settings) VALUES ('$ORG', 'L', 'batch-locks', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role) VALUES ('$ORG', tests.get_supabase_uid('desk'), 'operator');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f460000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party)
SELECT ('0f460000-0000-4000-8000-0000000005a' || n)::uuid, '$ORG', '0f460000-0000-4000-8000-0000000000a1', 'S' || n,
	   '60 minutes', '60 minutes', '400 days', 1, 4
FROM generate_series(1, 2) n;
INSERT INTO protector.customers (id, organization_id, full_name, email, user_id)
VALUES ('0f460000-0000-4000-8000-00000000c001', '$ORG', 'Cara', 'cara@example.com', tests.get_supabase_uid('cara'));
SQL
# the service with the lower lock key, and the other
read -r LO HI < <(psql -X -A -t -F ' ' -d "$DB" -c "SELECT (array_agg(id ORDER BY protector.service_lock_key(id)))[1],
	(array_agg(id ORDER BY protector.service_lock_key(id)))[2] FROM protector.services WHERE organization_id = '$ORG'")
# Cara's holds in id order: the higher key first; the desk's: the lower first
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, hold_expires_at)
VALUES ('0f460000-0000-4000-8000-000000000e01', '$ORG', '0f460000-0000-4000-8000-0000000000a1', '$HI',
		'0f460000-0000-4000-8000-00000000c001', tstzrange(date_trunc('day', now()) + interval '5 days 10 hours',
														 date_trunc('day', now()) + interval '5 days 11 hours'), 'held', now() + interval '1 hour'),
	   ('0f460000-0000-4000-8000-000000000e02', '$ORG', '0f460000-0000-4000-8000-0000000000a1', '$LO',
		'0f460000-0000-4000-8000-00000000c001', tstzrange(date_trunc('day', now()) + interval '5 days 10 hours',
														 date_trunc('day', now()) + interval '5 days 11 hours'), 'held', now() + interval '1 hour'),
	   ('0f460000-0000-4000-8000-000000000f01', '$ORG', '0f460000-0000-4000-8000-0000000000a1', '$LO', NULL,
		tstzrange(date_trunc('day', now()) + interval '7 days 10 hours', date_trunc('day', now()) + interval '7 days 11 hours'), 'pending', NULL),
	   ('0f460000-0000-4000-8000-000000000f02', '$ORG', '0f460000-0000-4000-8000-0000000000a1', '$HI', NULL,
		tstzrange(date_trunc('day', now()) + interval '7 days 10 hours', date_trunc('day', now()) + interval '7 days 11 hours'), 'pending', NULL);
SQL

PGAPPNAME=holder psql -X -q -d "$DB" >/dev/null 2>&1 <<'SQL' &
BEGIN;
LOCK TABLE protector.booking_reminders IN EXCLUSIVE MODE;
SELECT pg_sleep(2);
COMMIT;
SQL
holder=$!
wait_session holder "query LIKE 'SELECT pg_sleep%'"
PGAPPNAME=cara psql -X -q -d "$DB" >"$WORK/cara.log" 2>&1 <<'SQL' &
BEGIN;
SELECT tests.authenticate_as('cara');
SELECT protector.update_booking_status_batch('{0f460000-0000-4000-8000-000000000e01,0f460000-0000-4000-8000-000000000e02}', 'confirmed');
COMMIT;
SQL
cara=$!
# (until her batch, past its first row, waits for the reminders table)
wait_session cara "wait_event_type = 'Lock'"
psql -X -q -d "$DB" >"$WORK/desk.log" 2>&1 <<'SQL' &
BEGIN;
SELECT tests.authenticate_as('desk');
SELECT protector.update_booking_status_batch('{0f460000-0000-4000-8000-000000000f01,0f460000-0000-4000-8000-000000000f02}', 'confirmed');
COMMIT;
SQL
desk=$!
wait "$holder" "$cara" "$desk" || true

failures=0
# a stricter lock_timeout of the caller bounds the batch's wait, as it
# bounds a booking's: 300 ms against a service held until the holder is
# ended (a busy error is the bound: a batch that waited for the service
# would wait here for ever)
PGAPPNAME=holder2 psql -X -q -d "$DB" >/dev/null 2>&1 <<SQL &
BEGIN;
SELECT pg_advisory_xact_lock(protector.service_lock_key('$LO'));
SELECT pg_sleep(60);
COMMIT;
SQL
holder2=$!
wait_session holder2 "query LIKE 'SELECT pg_sleep%'"
started=$(date +%s%N)
psql -X -q -d "$DB" >"$WORK/strict.log" 2>&1 <<'SQL' || true
SET lock_timeout = '300ms';
BEGIN;
SELECT tests.authenticate_as('desk');
SELECT protector.update_booking_status_batch('{0f460000-0000-4000-8000-000000000f01}', 'in_progress');
COMMIT;
SQL
waited=$(( ($(date +%s%N) - started) / 1000000 ))
end_session holder2
wait "$holder2" || true
answer=$(grep -o 'ERROR: .*busy' "$WORK/strict.log" || true)
echo "[read committed] a batch with lock_timeout 300ms behind a service held open: ${answer:-no busy error} after ${waited} ms"
if [ -z "$answer" ]; then failures=$((failures + 1)); fi

# a booking behind its service's lock where protector.lock_timeout is 0
# and the caller's lock_timeout 300 ms: 40001 busy (it ended in 55P03
# "canceling statement due to lock timeout")
PGAPPNAME=holder3 psql -X -q -d "$DB" >/dev/null 2>&1 <<SQL &
BEGIN;
SELECT pg_advisory_xact_lock(protector.service_lock_key('$LO'));
SELECT pg_sleep(60);
COMMIT;
SQL
holder3=$!
wait_session holder3 "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" >"$WORK/zero.log" 2>&1 <<SQL || true
SET lock_timeout = '300ms';
SET protector.lock_timeout = 0;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
VALUES ('$ORG', '0f460000-0000-4000-8000-0000000000a1', '$LO',
		tstzrange(date_trunc('day', now()) + interval '9 days 10 hours', date_trunc('day', now()) + interval '9 days 11 hours'), 'confirmed');
SQL
end_session holder3
wait "$holder3" || true
answer=$(grep -o 'ERROR: .*' "$WORK/zero.log" || true)
echo "[read committed] a booking with protector.lock_timeout = 0 and lock_timeout 300ms: ${answer:-no error}"
if ! echo "$answer" | grep -q 'the service is busy'; then failures=$((failures + 1)); fi

# a booking's row held by another request (here a cancellation in a
# transaction that goes on): cancel_booking (and every RPC that changes the
# booking: record_payment, redeem_voucher, refund_to_vouchers, a batch)
# waits protector.lock_timeout
# for it and then answers 40001 (it waited until the other committed, or
# its statement_timeout ended it with 57014)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null -c "SELECT protector.record_payment('0f460000-0000-4000-8000-000000000f02', 10, 'cash', 'ref-replay')"
PGAPPNAME=holder4 psql -X -q -d "$DB" >/dev/null 2>&1 <<'SQL' &
BEGIN;
SELECT tests.authenticate_as('desk');
SELECT protector.cancel_booking('0f460000-0000-4000-8000-000000000f02');
SELECT pg_sleep(60);
ROLLBACK;
SQL
holder4=$!
wait_session holder4 "query LIKE 'SELECT pg_sleep%'"
started=$(date +%s%N)
psql -X -q -d "$DB" >"$WORK/row.log" 2>&1 <<'SQL' || true
SET protector.lock_timeout = 300;
BEGIN;
SELECT tests.authenticate_as('desk');
SELECT protector.cancel_booking('0f460000-0000-4000-8000-000000000f02');
COMMIT;
SQL
waited=$(( ($(date +%s%N) - started) / 1000000 ))
# ... and record_payment (it waited in check_payment's own lock, unbounded)
started=$(date +%s%N)
psql -X -q -d "$DB" >"$WORK/pay.log" 2>&1 <<'SQL' || true
SET protector.lock_timeout = 300;
SELECT protector.record_payment('0f460000-0000-4000-8000-000000000f02', 10, 'cash', 'ref-busy');
SQL
paid_wait=$(( ($(date +%s%N) - started) / 1000000 ))
# ... while a webhook's replay of a payment recorded before answers at once
replay=$(psql -X -A -t -q -d "$DB" -c "SET protector.lock_timeout = 300" \
	-c "SELECT protector.record_payment('0f460000-0000-4000-8000-000000000f02', 10, 'cash', 'ref-replay') ->> 'replayed'" 2>&1 || true)
# ... and a voucher's redemption, a refund to vouchers, a batch's no-show
# and the batch's lock of its bookings' services called directly (each
# waited for the row without bound: here statement_timeout ends such a
# wait)
code=$(psql -X -A -t -q -d "$DB" -c "SELECT protector.create_voucher('$ORG', 50) ->> 'code'")
for call in "protector.redeem_voucher('0f460000-0000-4000-8000-000000000f02', '$code')" \
	"protector.refund_to_vouchers('0f460000-0000-4000-8000-000000000f02', 10)" \
	"protector.update_booking_status_batch('{0f460000-0000-4000-8000-000000000f02}', 'no_show')" \
	"protector_internal.lock_booking_services('{0f460000-0000-4000-8000-000000000f02}')"; do
	answer=$(psql -X -A -t -q -d "$DB" -c "SET protector.lock_timeout = 300" -c "SET statement_timeout = '4s'" \
		-c "SELECT $call IS NOT NULL" 2>&1 | grep -o 'ERROR: .*' || true)
	echo "[read committed] ${call%%(*} behind the same row: ${answer:-no error}"
	case "$answer" in *"the booking is busy"*) ;; *) failures=$((failures + 1)) ;; esac
done
end_session holder4
wait "$holder4" || true
answer=$(grep -o 'ERROR: .*' "$WORK/row.log" || true)
echo "[read committed] cancel_booking behind the booking's row held open (protector.lock_timeout 300 ms): ${answer:-no error} after ${waited} ms"
if ! echo "$answer" | grep -q 'the booking is busy'; then failures=$((failures + 1)); fi
answer=$(grep -o 'ERROR: .*' "$WORK/pay.log" || true)
echo "[read committed] record_payment behind the same row: ${answer:-no error} after ${paid_wait} ms"
if ! echo "$answer" | grep -q 'the booking is busy'; then failures=$((failures + 1)); fi

echo "[read committed] a webhook's replay behind the same row: replayed = ${replay}"
if [ "$replay" != "true" ]; then failures=$((failures + 1)); fi

# a venue deleted outright while a booking of one of its services is being
# made: the deletion waits for the booking and refuses by name (the
# cascade to its services waited instead, and failed on the foreign key)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f460000-0000-4000-8000-0000000000a2', '$ORG', 'W2', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party)
VALUES ('0f460000-0000-4000-8000-0000000005b1', '$ORG', '0f460000-0000-4000-8000-0000000000a2', 'S3', '60 minutes', '60 minutes', '400 days', 1, 4);
SQL
PGAPPNAME=booker psql -X -q -d "$DB" >/dev/null 2>&1 <<SQL &
BEGIN;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
VALUES ('$ORG', '0f460000-0000-4000-8000-0000000000a2', '0f460000-0000-4000-8000-0000000005b1',
		tstzrange(date_trunc('day', now()) + interval '6 days 10 hours', date_trunc('day', now()) + interval '6 days 11 hours'), 'confirmed');
SELECT pg_sleep(1.5);
COMMIT;
SQL
booker=$!
wait_session booker "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" >"$WORK/venue.log" 2>&1 -c "DELETE FROM protector.venues WHERE id = '0f460000-0000-4000-8000-0000000000a2'" || true
wait "$booker" || true
answer=$(grep -o 'ERROR: .*' "$WORK/venue.log" || true)
echo "[read committed] a venue deleted while a booking of it is made: ${answer:-deleted}"
if ! echo "$answer" | grep -q 'venue "W2" has bookings'; then failures=$((failures + 1)); fi

errors=$(cat "$WORK/cara.log" "$WORK/desk.log" | grep -o 'ERROR: .*' || true)
confirmed=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings WHERE organization_id = '$ORG' AND status = 'confirmed'
	AND venue_id = '0f460000-0000-4000-8000-0000000000a1'")
echo "[read committed] a customer's batch and the desk's over two services in opposite order: $confirmed of 4 confirmed${errors:+; $errors}"
if [ -n "$errors" ] || [ "$confirmed" != 4 ]; then
	failures=$((failures + 1))
fi
dropdb "$DB"
[ "$failures" -eq 0 ]
