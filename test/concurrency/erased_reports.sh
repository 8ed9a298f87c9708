#!/usr/bin/env bash
# test/concurrency/erased_reports.sh — a reminder worker reports a failure
# while its customer is being erased (complete_reminder, sql/84_reminders.sql;
# scrub_customer_rows, sql/97_lifecycle.sql).  The booking was handed to
# another customer after the claim, so the reminder is no longer the erased
# customer's; the worker's error may still quote their address.  The
# report compared the erasure's time with the claim's, and kept the text
# where the erasure had not committed yet.  The erasure marks the reminder
# it finds being sent and holds it until it commits: the report waits, and
# keeps no text.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_erased_reports
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f730000-0000-4000-8000-000000000000
ANN=0f730000-0000-4000-8000-00000000c001
BKG=0f730000-0000-4000-8000-0000000b0001
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user('olga');
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Erased reports', 'erased-reports');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('$ORG', tests.get_supabase_uid('olga'), 'owner', now());
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0f730000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0f730000-0000-4000-8000-0000000005a1', '$ORG', '0f730000-0000-4000-8000-0000000000a1', 'Room',
		'60 minutes', '60 minutes', '400 days', 10, 4, 'shared');
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('$ANN', '$ORG', 'Ann', 'ann@example.com'),
	('0f730000-0000-4000-8000-00000000c002', '$ORG', 'Bob', 'bob@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('$BKG', '$ORG', '0f730000-0000-4000-8000-0000000000a1', '0f730000-0000-4000-8000-0000000005a1', '$ANN',
		tstzrange(date_trunc('day', now()) + interval '5 days', date_trunc('day', now()) + interval '5 days 1 hour'),
		'confirmed');
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second'
WHERE booking_id = '$BKG' AND offset_minutes = 1440;
SET ROLE service_role;
SELECT protector.claim_due_reminders(10);
RESET ROLE;
UPDATE protector.bookings SET customer_id = '0f730000-0000-4000-8000-00000000c002' WHERE id = '$BKG';
SQL
REM=$(psql -X -A -t -d "$DB" -c "SELECT id FROM protector.booking_reminders WHERE booking_id = '$BKG' AND status = 'sending'")

# the erasure holds its transaction open for a second; the worker's report
# comes meanwhile
PGAPPNAME=eraser psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
	-c "SELECT protector.erase_customer('$ANN')" -c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null &
eraser=$!
wait_session eraser "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "SET ROLE service_role" \
	-c "SELECT protector.complete_reminder('$REM', false, 'smtp 550 ann@example.com: no such user', 1)" >/dev/null
wait "$eraser"
kept=$(psql -X -A -t -d "$DB" -c "SELECT last_error FROM protector.booking_reminders WHERE id = '$REM'")
quoted=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.audit_log
	WHERE table_name = 'protector.booking_reminders' AND (old_row::text LIKE '%ann@example%' OR new_row::text LIKE '%ann@example%')")
failures=0
# (the booking is Bob's now: the report of Ann's claim starts the
# reminder again for him, with no text at all)
if [ -z "$kept" ] && [ "$quoted" = 0 ]; then
	echo "ok - a failure reported during the erasure keeps no error text, nor does the audit log"
else
	echo "not ok - a failure reported during the erasure kept \"$kept\" ($quoted audit rows quote the address)"
	failures=1
fi
# the same, the worker reporting under REPEATABLE READ: its snapshot is
# older than the erasure, which it waits for; it is told to retry (the
# erasure wrote the reminder), and stores nothing
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0f730000-0000-4000-8000-00000000c003', '$ORG', 'Cleo', 'cleo@example.com');
UPDATE protector.bookings SET customer_id = '0f730000-0000-4000-8000-00000000c003' WHERE id = '$BKG';
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second' WHERE id = '$REM';
SET ROLE service_role;
SELECT protector.claim_due_reminders(10);
RESET ROLE;
UPDATE protector.bookings SET customer_id = '0f730000-0000-4000-8000-00000000c002' WHERE id = '$BKG';
SQL
PGAPPNAME=eraser psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
	-c "SELECT protector.erase_customer('0f730000-0000-4000-8000-00000000c003')" -c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null &
eraser=$!
wait_session eraser "query LIKE 'SELECT pg_sleep%'"
answer=$(psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "SET LOCAL ROLE service_role" \
	-c "SELECT 1 FROM protector.complete_reminder('$REM', false, 'smtp 550 cleo@example.com: no such user', 2)" -c "COMMIT" 2>&1 >/dev/null \
	| sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | head -1) || true
wait "$eraser"
quoted=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.booking_reminders WHERE last_error LIKE '%cleo@example%'")
quoted_audit=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.audit_log
	WHERE table_name = 'protector.booking_reminders' AND (old_row::text LIKE '%cleo@example%' OR new_row::text LIKE '%cleo@example%')")
if [ "$answer" = 40001 ] && [ "$quoted" = 0 ] && [ "$quoted_audit" = 0 ]; then
	echo "ok - a REPEATABLE READ report during the erasure is told to retry and stores nothing"
else
	echo "not ok - a REPEATABLE READ report during the erasure answered ${answer:-ok}; $quoted reminders, $quoted_audit audit rows quote the address"
	failures=$((failures + 1))
fi

# in transactions of their own, as a worker and the desk make them:
# 3. a booking once Dora's, claimed for Bob, its lease run out: Dora's
#    erasure leaves the lease's text (it quotes nobody), and Bob's worker's
#    late report is taken (it was refused, and Bob reminded twice);
# 4. a claim for Eve, the booking handed to Bob with the bookings' history
#    off: the report's audit row quoting Eve goes by the claim's customer
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0f730000-0000-4000-8000-00000000c004', '$ORG', 'Dora', 'dora@example.com'),
	('0f730000-0000-4000-8000-00000000c005', '$ORG', 'Eve', 'eve@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0f730000-0000-4000-8000-0000000b000' || n)::uuid, '$ORG', '0f730000-0000-4000-8000-0000000000a1',
	   '0f730000-0000-4000-8000-0000000005a1', ('0f730000-0000-4000-8000-00000000c00' || n + 2)::uuid,
	   tstzrange(date_trunc('day', now()) + interval '6 days' + n * interval '1 hour',
				 date_trunc('day', now()) + interval '6 days' + (n + 1) * interval '1 hour'), 'confirmed'
FROM unnest(ARRAY[2, 3]) n;
SQL
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "UPDATE protector.bookings SET customer_id = '0f730000-0000-4000-8000-00000000c002'
	WHERE id = '0f730000-0000-4000-8000-0000000b0002'" >/dev/null
R3=$(psql -X -q -A -t -d "$DB" -c "UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second'
	WHERE booking_id = '0f730000-0000-4000-8000-0000000b0002' AND offset_minutes = 1440 RETURNING id")
psql -X -q -d "$DB" -c "SET ROLE service_role" -c "SELECT protector.claim_due_reminders(10, '10 seconds')" >/dev/null
psql -X -q -d "$DB" -c "UPDATE protector.booking_reminders SET lease_until = now() - interval '1 second' WHERE id = '$R3'" >/dev/null
psql -X -q -d "$DB" -c "SET ROLE service_role" -c "SELECT protector.claim_due_reminders(10, '10 seconds')" >/dev/null
psql -X -q -d "$DB" -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
	-c "SELECT protector.erase_customer('0f730000-0000-4000-8000-00000000c004')" -c "COMMIT" >/dev/null
answer=$(psql -X -q -A -t -d "$DB" -v VERBOSITY=sqlstate -c "SET ROLE service_role" \
	-c "SELECT status FROM protector.complete_reminder('$R3', true, NULL, 1)" 2>&1 | tail -1) || true
if [ "$answer" = sent ]; then
	echo "ok - an erasure of a booking's former customer leaves the late report of a claim for its customer now"
else
	echo "not ok - an erasure of a booking's former customer: the late report of Bob's claim answered $answer"
	failures=$((failures + 1))
fi
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT protector.disable_audit('protector.bookings')" >/dev/null
R4=$(psql -X -q -A -t -d "$DB" -c "UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second'
	WHERE booking_id = '0f730000-0000-4000-8000-0000000b0003' AND offset_minutes = 1440 RETURNING id")
psql -X -q -d "$DB" -c "SET ROLE service_role" -c "SELECT protector.claim_due_reminders(10)" >/dev/null
psql -X -q -d "$DB" -c "UPDATE protector.bookings SET customer_id = '0f730000-0000-4000-8000-00000000c002'
	WHERE id = '0f730000-0000-4000-8000-0000000b0003'" >/dev/null
psql -X -q -d "$DB" -c "SET ROLE service_role" \
	-c "SELECT protector.complete_reminder('$R4', false, 'smtp 550 eve@example.com: no such user', 1)" >/dev/null
psql -X -q -d "$DB" -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
	-c "SELECT protector.erase_customer('0f730000-0000-4000-8000-00000000c005')" -c "COMMIT" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT protector.enable_audit('protector.bookings')" >/dev/null
quoted=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.audit_log WHERE table_name = 'protector.booking_reminders'
	AND (old_row::text LIKE '%eve@example%' OR new_row::text LIKE '%eve@example%')")
if [ "$quoted" = 0 ]; then
	echo "ok - the audit rows of a claim for an erased customer lose its error text, whatever the bookings' history says"
else
	echo "not ok - $quoted audit rows of a claim for an erased customer still quote her address"
	failures=$((failures + 1))
fi

# 5. the worker's report of a claim for Dana, whose booking (made by her
# account) went to Bob, while Dana's erasure waits for a desk holding her
# message: the report locks the booking, then the reminder; the erasure
# locked the reminder, then wrote the booking (its creator): a deadlock
# (40P01), the erasure undone.  The erasure locks that booking first now.
DANA=0f730000-0000-4000-8000-00000000c009
B5=0f730000-0000-4000-8000-0000000b0009
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user('dana');
INSERT INTO protector.customers (id, organization_id, full_name, email, user_id)
VALUES ('$DANA', '$ORG', 'Dana', 'dana@example.com', tests.get_supabase_uid('dana'));
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, created_by)
VALUES ('$B5', '$ORG', '0f730000-0000-4000-8000-0000000000a1', '0f730000-0000-4000-8000-0000000005a1', '$DANA',
		tstzrange(date_trunc('day', now()) + interval '9 days', date_trunc('day', now()) + interval '9 days 1 hour'),
		'confirmed', tests.get_supabase_uid('dana'));
INSERT INTO protector.booking_messages (id, organization_id, booking_id, sender_kind, customer_id, body)
VALUES ('0f730000-0000-4000-8000-0000000e0009', '$ORG', '$B5', 'customer', '$DANA', 'hello');
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second'
WHERE booking_id = '$B5' AND offset_minutes = 1440;
SET ROLE service_role;
SELECT protector.claim_due_reminders(10);
RESET ROLE;
UPDATE protector.bookings SET customer_id = '0f730000-0000-4000-8000-00000000c002' WHERE id = '$B5';
SQL
R5=$(psql -X -A -t -d "$DB" -c "SELECT id FROM protector.booking_reminders WHERE booking_id = '$B5' AND status = 'sending'")
PGAPPNAME=desk psql -X -q -d "$DB" -c "BEGIN" -c "UPDATE protector.booking_messages SET read_at = now() WHERE id = '0f730000-0000-4000-8000-0000000e0009'" \
	-c "SELECT pg_sleep(1.5)" -c "COMMIT" >/dev/null &
desk=$!
wait_session desk "query LIKE 'SELECT pg_sleep%'"
erasure=$(PGAPPNAME=eraser sqlstate_as olga "SELECT protector.erase_customer('$DANA')") &
erased=$!
wait_session eraser "wait_event_type = 'Lock'"
report=$(psql -X -q -A -t -d "$DB" -v VERBOSITY=sqlstate -c "SET ROLE service_role" \
	-c "SELECT status FROM protector.complete_reminder('$R5', true, NULL, 1)" 2>&1 | tail -1 || true)
wait "$desk" "$erased" || true
done_erasure=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.customer_erasures WHERE customer_id = '$DANA'")
if [ "$done_erasure" = 1 ] && [ "$report" = pending ]; then
	echo "ok - a report during an erasure of the customer it was claimed for, the booking handed on: both go through (no deadlock)"
else
	echo "not ok - a report during an erasure, the booking handed on: erasures recorded $done_erasure, the report answered '$report'"
	failures=$((failures + 1))
fi

dropdb "$DB"
echo "# erased_reports: $failures failed"
[ "$failures" -eq 0 ]
