#!/usr/bin/env bash
# test/concurrency/reminder_handover.sh — a worker's report of a claim
# while the booking is being handed to another customer
# (sql/84_reminders.sql, complete_reminder): the report read the booking
# without waiting, took the claim's "sent" for the reminder, and the new
# customer was never reminded.  It waits for the change now, and the
# reminder starts again for the new customer (their claim keyed anew).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_reminder_handover
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f750000-0000-4000-8000-000000000000
BKG=0f750000-0000-4000-8000-0000000b0001
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Handover', 'reminder-handover');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f750000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0f750000-0000-4000-8000-0000000005a1', '$ORG', '0f750000-0000-4000-8000-0000000000a1', 'S',
		'60 minutes', '60 minutes', '400 days', 10, 4, 'shared');
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0f750000-0000-4000-8000-00000000c001', '$ORG', 'Ann', 'ann@example.com'),
	('0f750000-0000-4000-8000-00000000c002', '$ORG', 'Bo', 'bo@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('$BKG', '$ORG', '0f750000-0000-4000-8000-0000000000a1', '0f750000-0000-4000-8000-0000000005a1',
		'0f750000-0000-4000-8000-00000000c001',
		tstzrange(date_trunc('day', now()) + interval '5 days', date_trunc('day', now()) + interval '5 days 1 hour'), 'confirmed');
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second'
WHERE booking_id = '$BKG' AND offset_minutes = 1440;
SET ROLE service_role;
SELECT protector.claim_due_reminders(10);
SQL
REM=$(psql -X -A -t -d "$DB" -c "SELECT id FROM protector.booking_reminders WHERE booking_id = '$BKG' AND status = 'sending'")
failures=0

# the desk hands the booking to Bo in a transaction held open for a
# second; the worker reports Ann's claim sent meanwhile
PGAPPNAME=desk psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" \
	-c "UPDATE protector.bookings SET customer_id = '0f750000-0000-4000-8000-00000000c002' WHERE id = '$BKG'" \
	-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null &
desk=$!
wait_session desk "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "SET ROLE service_role" \
	-c "SELECT protector.complete_reminder('$REM', true, NULL, 1)" >/dev/null
wait "$desk"
state=$(psql -X -A -t -d "$DB" -c "SELECT status FROM protector.booking_reminders WHERE id = '$REM'")
psql -X -q -d "$DB" -c "UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second' WHERE id = '$REM'"
claim=$(psql -X -A -t -d "$DB" -c "SET ROLE service_role" \
	-c "SELECT recipient || ' ' || attempt || ' ' || (idempotency_key = reminder_id || '/1') FROM protector.claim_due_reminders(10)
		WHERE reminder_id = '$REM'" | tail -1)
if [ "$state" = pending ] && [ "$claim" = "bo@example.com 2 true" ]; then
	echo "ok - Ann's report during the hand-over waits for it; the reminder starts again for Bo, keyed anew"
else
	echo "not ok - Ann's report during the hand-over: the reminder is $state, the next claim '$claim'"
	failures=$((failures + 1))
fi

# 2. the same under REPEATABLE READ: the report waits, then is told to
# retry (the hand-over wrote the reminder; its retry sees Bo's booking),
# where a lock alone let it take Ann's claim for the reminder
psql -X -q -d "$DB" -c "UPDATE protector.bookings SET customer_id = '0f750000-0000-4000-8000-00000000c001' WHERE id = '$BKG'" \
	-c "UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second' WHERE id = '$REM'" >/dev/null
psql -X -q -d "$DB" -c "SET ROLE service_role" -c "SELECT protector.claim_due_reminders(10)" >/dev/null
PGAPPNAME=desk psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" \
	-c "UPDATE protector.bookings SET customer_id = '0f750000-0000-4000-8000-00000000c002' WHERE id = '$BKG'" \
	-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null &
desk=$!
wait_session desk "query LIKE 'SELECT pg_sleep%'"
answer=$(psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "SET LOCAL ROLE service_role" -c "SELECT status FROM protector.complete_reminder('$REM', true, NULL, 3)" -c "COMMIT" 2>&1 \
	| sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p;s/^\(sent\|pending\)$/\1/p' | head -1 || true)
wait "$desk"
state=$(psql -X -A -t -d "$DB" -c "SELECT status FROM protector.booking_reminders WHERE id = '$REM'")
if [ "$answer" = 40001 ] && [ "$state" = sending ]; then
	echo "ok - a REPEATABLE READ report during the hand-over is told to retry, the reminder still out"
else
	echo "not ok - a REPEATABLE READ report during the hand-over answered '$answer'; the reminder is $state"
	failures=$((failures + 1))
fi

dropdb "$DB"
echo "# reminder_handover: $failures failed"
[ "$failures" -eq 0 ]
