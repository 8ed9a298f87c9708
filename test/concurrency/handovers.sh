#!/usr/bin/env bash
# test/concurrency/handovers.sh — rows handed over while another session
# counts or names them:
# 1. a booking under a promo code of one use per customer handed to a
#    customer while another session books that customer with the code,
#    both REPEATABLE READ: the later one fails with 40001 (the handover
#    only locked the code's row, and the booking counted the customer's
#    bookings from its snapshot: two uses by one customer);
# 2. a member deleted while a staff_venues row and a notification naming
#    them are inserted: the inserts wait for the deletion and name the
#    member ("member not found", "recipient not found"), not the foreign
#    key's bare 23503;
# 3. a customer's e-mail changed while another session reschedules one of
#    their bookings and cancels another: the reminders the reschedule and
#    the cancellation cancelled stay cancelled (the address change read
#    the bookings from its snapshot and brought them back as pending).
# 4. two customers merged while another session hands a booking of the
#    kept one to the merged one: no deadlock (the merge's address change
#    waited for the booking, which waited for the merged customer), the
#    merge commits and the handover is refused by name.
# 5. a customer given an address while another session holds one of their
#    bookings for an unrelated change: once both commit, that booking has
#    its reminders too (passing over the locked booking left it without).
# 6. while a booking of a customer is held for a note, that customer is
#    merged into two others at once, and merged and erased at once: no
#    deadlock (both take the customers' bookings before the customers, in
#    one order); the second merge is refused by name, the erasure waits.
# 7. two erasures of one customer, a booking handed to it between them:
#    no deadlock, the second answers already_erased.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_handovers
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
failures=0

ORG=0f480000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['owner', 'manager', 'staff']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'H', 'handovers');
INSERT INTO protector.members (id, organization_id, user_id, role) VALUES
	('0f480000-0000-4000-8000-0000000000e1', '$ORG', tests.get_supabase_uid('owner'), 'owner'),
	('0f480000-0000-4000-8000-0000000000e2', '$ORG', tests.get_supabase_uid('manager'), 'manager'),
	('0f480000-0000-4000-8000-0000000000e3', '$ORG', tests.get_supabase_uid('staff'), 'viewer');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f480000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode, price)
VALUES ('0f480000-0000-4000-8000-0000000005a1', '$ORG', '0f480000-0000-4000-8000-0000000000a1', 'Tour',
		'60 minutes', '60 minutes', '30 days', 100, 10, 'shared', 40);
INSERT INTO protector.customers (id, organization_id, full_name)
SELECT ('0f480000-0000-4000-8000-00000000c00' || n)::uuid, '$ORG', 'C' || n FROM generate_series(1, 3) n;
SQL

# 1. the handover and the booking, REPEATABLE READ, the booking second
CODE=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL | tail -1
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
SELECT j ->> 'code' AS code FROM protector.create_promo_code('$ORG', 'percent', 10, p_max_uses_per_customer => 1) j \gset
SELECT protector.create_booking('0f480000-0000-4000-8000-0000000005a1', '0f480000-0000-4000-8000-00000000c001',
	date_trunc('day', now()) + interval '2 days 10 hours', p_promo_code => :'code') \g /dev/null
COMMIT;
SELECT :'code';
SQL
)
PGAPPNAME=handover psql -X -q -d "$DB" >"$WORK/handover.log" 2>&1 <<'SQL' &
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT tests.authenticate_as('manager') \g /dev/null
UPDATE protector.bookings SET customer_id = '0f480000-0000-4000-8000-00000000c002'
WHERE customer_id = '0f480000-0000-4000-8000-00000000c001';
SELECT pg_sleep(1.2) \g /dev/null
COMMIT;
SQL
# (the booking's snapshot taken once the handover is made, uncommitted)
wait_session handover "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" >"$WORK/booking.log" 2>&1 <<SQL &
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT tests.authenticate_as('manager') \g /dev/null
\set VERBOSITY sqlstate
SELECT protector.create_booking('0f480000-0000-4000-8000-0000000005a1', '0f480000-0000-4000-8000-00000000c002',
	date_trunc('day', now()) + interval '2 days 12 hours', p_promo_code => '$CODE') \g /dev/null
COMMIT;
SQL
wait
uses=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings
	WHERE customer_id = '0f480000-0000-4000-8000-00000000c002' AND promo_code_id IS NOT NULL AND status <> 'cancelled'")
echo "[handover, repeatable read] the customer's live bookings under the one-use code: $uses; the booking: $(grep -E '^ERROR' "$WORK/booking.log" | tr '\n' ' ')"
if [ "$uses" != 1 ] || ! grep -q '^ERROR:  40001' "$WORK/booking.log"; then
	echo "A CUSTOMER USED A ONE-USE CODE TWICE (or the refusal was not a serialization failure):"
	cat "$WORK/handover.log" "$WORK/booking.log"; failures=$((failures + 1))
fi

# 2. the deletion first, the inserts while it is in flight
PGAPPNAME=deleter psql -X -q -d "$DB" >/dev/null 2>&1 <<'SQL' &
BEGIN;
SELECT tests.authenticate_as('owner') \g /dev/null
DELETE FROM protector.members WHERE id = '0f480000-0000-4000-8000-0000000000e3';
SELECT pg_sleep(1.2) \g /dev/null
COMMIT;
SQL
wait_session deleter "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" >"$WORK/venue.log" 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
VALUES ('$ORG', '0f480000-0000-4000-8000-0000000000e3', '0f480000-0000-4000-8000-0000000000a1');
COMMIT;
SQL
psql -X -q -d "$DB" >"$WORK/note.log" 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
INSERT INTO protector.notifications (organization_id, recipient_id, kind) VALUES ('$ORG', tests.get_supabase_uid('staff'), 'note');
COMMIT;
SQL
wait
echo "[member deleted meanwhile] staff_venues: $(grep -E '^ERROR' "$WORK/venue.log" | tr '\n' ' ')notification: $(grep -E '^ERROR' "$WORK/note.log" | tr '\n' ' ')"
if ! grep -q '^ERROR:  member not found' "$WORK/venue.log" || ! grep -q '^ERROR:  recipient not found' "$WORK/note.log"; then
	echo "A DELETED MEMBER WAS NOT NAMED:"; cat "$WORK/venue.log" "$WORK/note.log"; failures=$((failures + 1))
fi

# 3. the reschedule and cancellation first, the address change meanwhile
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
UPDATE protector.customers SET email = 'c3@example.com' WHERE id = '0f480000-0000-4000-8000-00000000c003';
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0f480000-0000-4000-8000-0000000000b' || n)::uuid, '$ORG', '0f480000-0000-4000-8000-0000000000a1',
	   '0f480000-0000-4000-8000-0000000005a1', '0f480000-0000-4000-8000-00000000c003',
	   tstzrange(date_trunc('day', now()) + (n + 3) * interval '1 day', date_trunc('day', now()) + (n + 3) * interval '1 day' + interval '1 hour'),
	   'confirmed'
FROM generate_series(1, 2) n;
SQL
PGAPPNAME=mover psql -X -q -d "$DB" >"$WORK/move.log" 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
SELECT protector.reschedule_booking('0f480000-0000-4000-8000-0000000000b1', date_trunc('day', now()) + interval '9 days 10 hours') \g /dev/null
SELECT protector.cancel_booking('0f480000-0000-4000-8000-0000000000b2') \g /dev/null
SELECT pg_sleep(1.2) \g /dev/null
COMMIT;
SQL
wait_session mover "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" >"$WORK/address.log" 2>&1 <<'SQL' &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
SELECT protector.update_customer('0f480000-0000-4000-8000-00000000c003', '{"email": "c3.new@example.com"}') \g /dev/null
COMMIT;
SQL
wait
stale=$(psql -X -A -t -q -d "$DB" -c "SELECT count(*) FROM protector.booking_reminders r JOIN protector.bookings b ON b.id = r.booking_id
	WHERE b.customer_id = '0f480000-0000-4000-8000-00000000c003' AND r.status = 'pending'
	  AND (b.status <> 'confirmed' OR r.starts_at <> lower(b.during))")
live=$(psql -X -A -t -q -d "$DB" -c "SELECT count(*) FROM protector.booking_reminders r JOIN protector.bookings b ON b.id = r.booking_id
	WHERE b.id = '0f480000-0000-4000-8000-0000000000b1' AND r.status = 'pending' AND r.starts_at = lower(b.during)")
echo "[address changed meanwhile] pending reminders of a cancelled booking or an old start: $stale; of the new start: $live"
if [ "$stale" != 0 ] || [ "$live" = 0 ] || grep -q '^ERROR' "$WORK/move.log" "$WORK/address.log"; then
	echo "REMINDERS CANCELLED BY A CHANGE CAME BACK:"; cat "$WORK/move.log" "$WORK/address.log"; failures=$((failures + 1))
fi

# 4. the merge holds both customers; the handover comes meanwhile
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0f480000-0000-4000-8000-00000000c0a1', '$ORG', 'Keep', NULL),
	('0f480000-0000-4000-8000-00000000c0a2', '$ORG', 'Merge', 'merge@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0f480000-0000-4000-8000-0000000000b9', '$ORG', '0f480000-0000-4000-8000-0000000000a1',
		'0f480000-0000-4000-8000-0000000005a1', '0f480000-0000-4000-8000-00000000c0a1',
		tstzrange(date_trunc('day', now()) + interval '6 days', date_trunc('day', now()) + interval '6 days 1 hour'), 'confirmed');
SQL
# (the merge made slow where it holds the customers: a test trigger on
# its mark, before it completes the kept record's address)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
CREATE FUNCTION public.slow_mark() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
CREATE TRIGGER zz_slow_mark BEFORE UPDATE OF merged_into ON protector.customers
	FOR EACH ROW WHEN (NEW.merged_into IS NOT NULL) EXECUTE FUNCTION public.slow_mark();
SQL
PGAPPNAME=merger psql -X -q -d "$DB" >"$WORK/merge.log" 2>&1 <<'SQL' &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
SELECT protector.merge_customers('0f480000-0000-4000-8000-00000000c0a1', '0f480000-0000-4000-8000-00000000c0a2') \g /dev/null
COMMIT;
SQL
# (until the merge sleeps in that trigger)
wait_session merger "wait_event = 'PgSleep'"
psql -X -q -d "$DB" >"$WORK/handover2.log" 2>&1 <<'SQL' &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
UPDATE protector.bookings SET customer_id = '0f480000-0000-4000-8000-00000000c0a2' WHERE id = '0f480000-0000-4000-8000-0000000000b9';
COMMIT;
SQL
wait
psql -X -q -d "$DB" -c "DROP TRIGGER zz_slow_mark ON protector.customers" >/dev/null
merged=$(psql -X -A -t -q -d "$DB" -c "SELECT merged_into IS NOT NULL FROM protector.customers WHERE id = '0f480000-0000-4000-8000-00000000c0a2'")
echo "[merge meanwhile] merged: $merged; handover: $(grep -E '^ERROR' "$WORK/handover2.log" | tr '\n' ' ')merge: $(grep -E '^ERROR' "$WORK/merge.log" | tr '\n' ' ')"
if [ "$merged" != t ] || grep -qi 'deadlock' "$WORK/merge.log" "$WORK/handover2.log" || ! grep -q 'was merged into' "$WORK/handover2.log"; then
	echo "A MERGE AND A HANDOVER DID NOT END AS THEY SHOULD:"; cat "$WORK/merge.log" "$WORK/handover2.log"; failures=$((failures + 1))
fi

# 5. a note written on a booking, the address given meanwhile
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.customers (id, organization_id, full_name) VALUES ('0f480000-0000-4000-8000-00000000c0b1', '$ORG', 'Late');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0f480000-0000-4000-8000-0000000000c' || n)::uuid, '$ORG', '0f480000-0000-4000-8000-0000000000a1',
	   '0f480000-0000-4000-8000-0000000005a1', '0f480000-0000-4000-8000-00000000c0b1',
	   tstzrange(date_trunc('day', now()) + (n + 10) * interval '1 day', date_trunc('day', now()) + (n + 10) * interval '1 day' + interval '1 hour'),
	   'confirmed'
FROM generate_series(1, 2) n;
SQL
PGAPPNAME=noter psql -X -q -d "$DB" >"$WORK/note5.log" 2>&1 <<'SQL' &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
UPDATE protector.bookings SET details = '{"note": "window seat"}' WHERE id = '0f480000-0000-4000-8000-0000000000c1';
SELECT pg_sleep(1.2) \g /dev/null
COMMIT;
SQL
wait_session noter "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" >"$WORK/address5.log" 2>&1 <<'SQL' &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
SELECT protector.update_customer('0f480000-0000-4000-8000-00000000c0b1', '{"email": "late@example.com"}') \g /dev/null
COMMIT;
SQL
wait
per=$(psql -X -A -t -q -d "$DB" -c "SELECT string_agg(n::text, ',' ORDER BY b) FROM (SELECT b.id AS b, count(r.id) AS n
	FROM protector.bookings b LEFT JOIN protector.booking_reminders r ON r.booking_id = b.id AND r.status = 'pending'
	WHERE b.customer_id = '0f480000-0000-4000-8000-00000000c0b1' GROUP BY b.id) x")
echo "[address given while a booking is held] pending reminders per booking: $per"
if [ "$per" != "2,2" ] || grep -q '^ERROR' "$WORK/note5.log" "$WORK/address5.log"; then
	echo "A BOOKING HELD MEANWHILE WAS LEFT WITHOUT REMINDERS:"; cat "$WORK/note5.log" "$WORK/address5.log"; failures=$((failures + 1))
fi

# 6. two rounds: merge + merge, merge + erase, a note held meanwhile
race6() {
	local round=$1 second=$2 c=0f480000-0000-4000-8000-00000000c0$1
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('${c}1', '$ORG', 'Keep $round', NULL), ('${c}2', '$ORG', 'Merged $round', 'm$round@example.com'),
	('${c}3', '$ORG', 'Other $round', NULL);
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0f480000-0000-4000-8000-0000000000$round' || n)::uuid, '$ORG', '0f480000-0000-4000-8000-0000000000a1',
	   '0f480000-0000-4000-8000-0000000005a1', '${c}2',
	   tstzrange(date_trunc('day', now()) + (n + 20) * interval '1 day', date_trunc('day', now()) + (n + 20) * interval '1 day' + interval '1 hour'),
	   'confirmed'
FROM generate_series(1, 2) n;
SQL
	PGAPPNAME=noter psql -X -q -d "$DB" >/dev/null 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
UPDATE protector.bookings SET details = '{"note": "x"}' WHERE id = '0f480000-0000-4000-8000-0000000000${round}2';
SELECT pg_sleep(1.5) \g /dev/null
COMMIT;
SQL
	wait_session noter "query LIKE 'SELECT pg_sleep%'"
	PGAPPNAME=merger psql -X -q -d "$DB" >"$WORK/first$round.log" 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('owner') \g /dev/null
SELECT protector.merge_customers('${c}1', '${c}2') \g /dev/null
COMMIT;
SQL
	# (until the first merge waits for the held booking)
	wait_session merger "wait_event_type = 'Lock'"
	psql -X -q -d "$DB" >"$WORK/second$round.log" 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('owner') \g /dev/null
SELECT $second \g /dev/null
COMMIT;
SQL
	wait
	echo "[round $round, a note held] first merge: $(grep -E '^ERROR' "$WORK/first$round.log" | tr '\n' ' ')second: $(grep -E '^ERROR' "$WORK/second$round.log" | tr '\n' ' ')"
	if grep -qi 'deadlock' "$WORK/first$round.log" "$WORK/second$round.log" || grep -q '^ERROR' "$WORK/first$round.log"; then
		echo "MERGES AND ERASURES DEADLOCKED:"; cat "$WORK/first$round.log" "$WORK/second$round.log"; failures=$((failures + 1))
	fi
}
race6 d "protector.merge_customers('0f480000-0000-4000-8000-00000000c0d3', '0f480000-0000-4000-8000-00000000c0d2')"
race6 e "protector.erase_customer('0f480000-0000-4000-8000-00000000c0e2')"

# 7. two erasures of one customer (a retry, a second click), a booking
# handed to that customer between their starts, a note held on its last
# booking: the first erasure locked its bookings b1 and waited for b2, the
# second locked the handed-over b0 (the lowest id) and waited for b1, and
# the first, going on, waited for b0: 40P01 (an attack on mixed loads).
# Erasures and merges of one customer take turns now; the second answers
# already_erased.
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0f480000-0000-4000-8000-00000000c0f1', '$ORG', 'Carl', 'carl@example.com'),
	('0f480000-0000-4000-8000-00000000c0f2', '$ORG', 'Dora', 'dora@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0f480000-0000-4000-8000-000000000f7' || n)::uuid, '$ORG', '0f480000-0000-4000-8000-0000000000a1',
	   '0f480000-0000-4000-8000-0000000005a1',
	   CASE WHEN n = 0 THEN '0f480000-0000-4000-8000-00000000c0f2' ELSE '0f480000-0000-4000-8000-00000000c0f1' END::uuid,
	   tstzrange(date_trunc('day', now()) + (n + 25) * interval '1 day', date_trunc('day', now()) + (n + 25) * interval '1 day' + interval '1 hour'),
	   'confirmed'
FROM generate_series(0, 2) n;
SQL
PGAPPNAME=noter7 psql -X -q -d "$DB" >/dev/null 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
UPDATE protector.bookings SET details = '{"note": "window seat"}' WHERE id = '0f480000-0000-4000-8000-000000000f72';
SELECT pg_sleep(2) \g /dev/null
COMMIT;
SQL
wait_session noter7 "query LIKE 'SELECT pg_sleep%'"
erase7() {	# $1 = which
	PGAPPNAME=eraser7$1 psql -X -q -A -t -d "$DB" >"$WORK/erase7$1.log" 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('owner') \g /dev/null
SELECT 'already_erased ' || (protector.erase_customer('0f480000-0000-4000-8000-00000000c0f1') ->> 'already_erased');
COMMIT;
SQL
}
erase7 a
wait_session eraser7a "wait_event_type = 'Lock'"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
BEGIN;
SELECT tests.authenticate_as('owner') \g /dev/null
UPDATE protector.bookings SET customer_id = '0f480000-0000-4000-8000-00000000c0f1' WHERE id = '0f480000-0000-4000-8000-000000000f70';
COMMIT;
SQL
erase7 b
wait_session eraser7b "wait_event_type = 'Lock'"
wait
answers="$(grep -h 'already_erased\|ERROR' "$WORK/erase7a.log" "$WORK/erase7b.log" | tr '\n' ' ')"
echo "[7] two erasures of one customer around a handover: $answers"
if [ "$answers" != "already_erased false already_erased true " ]; then
	echo "TWO ERASURES OF ONE CUSTOMER DID NOT END AS THEY SHOULD:"; cat "$WORK/erase7a.log" "$WORK/erase7b.log"; failures=$((failures + 1))
fi
dropdb "$DB"
[ "$failures" -eq 0 ]
