#!/usr/bin/env bash
# test/concurrency/promo_handovers.sh — a change of a booking under a promo
# code that gives the code's use back or takes one (here: a handover to
# another customer and an agent in one UPDATE, as a PATCH sends it) and a
# new booking under the same code for the same agent (found by a chaos run
# of concurrent sessions): the update took the agent's schedule lock (its
# shift check) and then the code's row (release_promo_use, AFTER), the new
# booking the code's row (apply_promo_code), then its service's lock, then
# the agent's; the two deadlocked (40P01).  The code's trigger fires first
# of the update's AFTER triggers now (adjust_promo_use): the new booking
# waits for it, and both go through.  A test-only AFTER trigger that
# sleeps between the update's shift check and the code's trigger as it
# was named (release_promo_use) holds the window open.  Reviews of two
# earlier forms of the fix, which locked the code in a BEFORE trigger:
# a confirmation of a hold under the code, which leaves its count alone,
# does not wait for a new booking holding the code open; and a handover of
# two bookings, one of which a batch is cancelling, does not hold the code
# while it waits for that booking's row (it deadlocked with the batch).
# Two batches cancelling bookings under two codes in opposite orders take
# the codes in one order (update_booking_status_batch locks them first).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_promo_handovers
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null

ORG=0f480000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['manager', 'agent1']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Promo', 'promo-handovers');
INSERT INTO protector.members (id, organization_id, user_id, role, confirmed_at) VALUES
	('0f480000-0000-4000-8000-0000000000e1', '$ORG', tests.get_supabase_uid('manager'), 'manager', now()),
	('0f480000-0000-4000-8000-0000000000e2', '$ORG', tests.get_supabase_uid('agent1'), 'agent', now());
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f480000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, price) VALUES
	('0f480000-0000-4000-8000-0000000005a1', '$ORG', '0f480000-0000-4000-8000-0000000000a1', 'S1', '1 hour', 30),
	('0f480000-0000-4000-8000-0000000005a2', '$ORG', '0f480000-0000-4000-8000-0000000000a1', 'S2', '1 hour', 30);
INSERT INTO protector.customers (id, organization_id, full_name)
SELECT ('0f480000-0000-4000-8000-00000000c00' || n)::uuid, '$ORG', 'C' || n FROM generate_series(1, 5) n;
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
VALUES ('$ORG', '0f480000-0000-4000-8000-0000000000e2', '0f480000-0000-4000-8000-0000000000a1');
INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during)
VALUES ('$ORG', '0f480000-0000-4000-8000-0000000000e2', '0f480000-0000-4000-8000-0000000000a1',
		tstzrange(date_trunc('day', now()) + interval '1 day 8 hours', date_trunc('day', now()) + interval '1 day 20 hours'));
INSERT INTO protector.promo_codes (organization_id, description, discount_kind, discount_value)
VALUES ('$ORG', 'X', 'percent', 10), ('$ORG', 'Y', 'percent', 10);
-- (test only) the window: a sleep between the update's AFTER triggers
-- agent_shift_check_update and release_promo_use (b_ sorts between them)
CREATE FUNCTION public.hold_the_window() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN PERFORM pg_sleep(2); RETURN NULL; END \$\$;
CREATE TRIGGER b_hold_the_window AFTER UPDATE ON protector.bookings
	FOR EACH ROW WHEN (current_setting('test.hold', true) = 'on') EXECUTE FUNCTION public.hold_the_window();
SQL
CODE=$(psql -X -A -t -d "$DB" -c "SELECT code FROM protector.promo_codes WHERE description = 'X'")
CODE_Y=$(psql -X -A -t -d "$DB" -c "SELECT code FROM protector.promo_codes WHERE description = 'Y'")
# C1's booking under the code, no agent yet
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
BEGIN;
SELECT tests.authenticate_as('manager');
SELECT protector.create_booking('0f480000-0000-4000-8000-0000000005a1', '0f480000-0000-4000-8000-00000000c001',
								date_trunc('day', now()) + interval '1 day 10 hours', p_promo_code => '$CODE');
COMMIT;
SQL

failures=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (expected '$2', got '$3')"; failures=$((failures + 1)); fi; }
outcome() { local e; e=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' "$1" | head -1); echo "${e:-ok}"; }

# the handover: C1's booking to C2 and to agent1, in one update
PGAPPNAME=handover psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" >"$WORK/handover" 2>&1 <<SQL &
SET test.hold = on;
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
UPDATE protector.bookings SET customer_id = '0f480000-0000-4000-8000-00000000c002', assigned_agent = tests.get_supabase_uid('agent1')
WHERE customer_id = '0f480000-0000-4000-8000-00000000c001';
COMMIT;
SQL
handover=$!
wait_session handover "query LIKE 'UPDATE protector.bookings%' AND wait_event = 'PgSleep'"
# the new booking under the same code, for agent1, on the other service
psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" >"$WORK/booking" 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
SELECT protector.create_booking('0f480000-0000-4000-8000-0000000005a2', '0f480000-0000-4000-8000-00000000c003',
								date_trunc('day', now()) + interval '1 day 14 hours', p_promo_code => '$CODE',
								p_assigned_agent => tests.get_supabase_uid('agent1')) \g /dev/null
COMMIT;
SQL
booking=$!
wait "$handover" "$booking" || true

check "the handover of a booking under the code goes through" ok "$(outcome "$WORK/handover")"
check "the new booking under the same code for the same agent goes through" ok "$(outcome "$WORK/booking")"
check "the code counts both (times_used)" 2 \
	"$(psql -X -A -t -d "$DB" -c "SELECT times_used FROM protector.promo_codes WHERE description = 'X'")"
check "the handed-over booking is C2's and agent1's" 1 \
	"$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings WHERE customer_id = '0f480000-0000-4000-8000-00000000c002'
		AND assigned_agent = (SELECT user_id FROM protector.members WHERE id = '0f480000-0000-4000-8000-0000000000e2')")"
[ "$failures" -eq 0 ] || { cat "$WORK/handover" "$WORK/booking"; }

# hold_code CODE CUSTOMER WHEN: a new booking of S2 under CODE for the
# customer (c00N) at WHEN from today, left open (session code_holder)
hold_code() {
	PGAPPNAME=code_holder psql -X -q -d "$DB" >/dev/null 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('manager');
SELECT protector.create_booking('0f480000-0000-4000-8000-0000000005a2', '0f480000-0000-4000-8000-00000000$2',
								date_trunc('day', now()) + interval '$3', p_promo_code => '$1');
SELECT pg_sleep(30);
SQL
	wait_session code_holder "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
}

# a hold under the code, confirmed while a new booking under the code is
# open: no wait for the code (protector.lock_timeout 1 s would say busy)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
BEGIN;
SELECT tests.authenticate_as('manager');
SELECT protector.create_booking('0f480000-0000-4000-8000-0000000005a1', '0f480000-0000-4000-8000-00000000c003',
								date_trunc('day', now()) + interval '1 day 16 hours', p_hold_minutes => 60, p_promo_code => '$CODE');
COMMIT;
SQL
hold_code "$CODE" c001 '1 day 17 hours'
psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" >"$WORK/confirm" 2>&1 <<SQL || true
SET protector.lock_timeout = 1000;
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
SELECT protector.update_booking_status_batch(ARRAY(SELECT id FROM protector.bookings WHERE status = 'held'), 'confirmed') \g /dev/null
COMMIT;
SQL
check "a hold under the code is confirmed while a new booking holds the code open" ok "$(outcome "$WORK/confirm")"
end_session code_holder
wait || true

# C4's two bookings under X, C5's under Y, two days ahead; a new booking
# holds Y open; a batch cancels C5's and C4's second (it locks both rows,
# then waits for Y); a handover of C4's two to C5 locks the first and
# waits for the second's row; Y is let go: both go through
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
BEGIN;
SELECT tests.authenticate_as('manager');
SELECT protector.create_booking('0f480000-0000-4000-8000-0000000005a2', '0f480000-0000-4000-8000-00000000c005',
								date_trunc('day', now()) + interval '2 days 9 hours', p_promo_code => '$CODE_Y');
SELECT protector.create_booking('0f480000-0000-4000-8000-0000000005a1', '0f480000-0000-4000-8000-00000000c004',
								date_trunc('day', now()) + interval '2 days' + h * interval '1 hour', p_promo_code => '$CODE')
FROM (VALUES (9), (11)) v(h);
COMMIT;
SQL
hold_code "$CODE_Y" c003 '2 days 14 hours'
PGAPPNAME=canceller psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" >"$WORK/cancel" 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
SELECT protector.update_booking_status_batch(ARRAY(
	SELECT id FROM protector.bookings WHERE customer_id = '0f480000-0000-4000-8000-00000000c005'
	UNION ALL (SELECT id FROM protector.bookings WHERE customer_id = '0f480000-0000-4000-8000-00000000c004' ORDER BY id DESC LIMIT 1)),
	'cancelled') \g /dev/null
COMMIT;
SQL
canceller=$!
wait_session canceller "wait_event_type = 'Lock'" || failures=$((failures + 1))
PGAPPNAME=handover2 psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" >"$WORK/handover2" 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
UPDATE protector.bookings SET customer_id = '0f480000-0000-4000-8000-00000000c005'
WHERE customer_id = '0f480000-0000-4000-8000-00000000c004';
COMMIT;
SQL
handover2=$!
wait_session handover2 "wait_event_type = 'Lock'" || failures=$((failures + 1))
end_session code_holder
wait "$canceller" "$handover2" || true
check "a batch cancelling a booking of a handover under way goes through" ok "$(outcome "$WORK/cancel")"
check "... and the handover of both, the cancelled one included" ok "$(outcome "$WORK/handover2")"
wait || true

# two batches cancelling bookings under two codes met in opposite orders
# (found by the review of the last stop's fix): each code was locked by
# its booking's trigger in the order of the rows; the first batch took the
# higher code then waited for the lower, which the second held while it
# waited for the higher (40P01).  The batch locks its codes in id order
# before its update now.  Four bookings of S1 on day 3 whose ids sort as
# they were written: b1 under HI, b2 under LO (batch 1), b3 under LO, b4
# under HI (batch 2); a new booking holds HI open until both batches wait
LO=$(psql -X -A -t -d "$DB" -c "SELECT code FROM protector.promo_codes ORDER BY id LIMIT 1")
HI=$(psql -X -A -t -d "$DB" -c "SELECT code FROM protector.promo_codes ORDER BY id DESC LIMIT 1")
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.bookings (id, organization_id, service_id, customer_id, during, status, promo_code_id)
SELECT ('0f480000-0000-4000-8000-000000000b0' || n)::uuid, '$ORG', '0f480000-0000-4000-8000-0000000005a1',
	   '0f480000-0000-4000-8000-00000000c001',
	   tstzrange(date_trunc('day', now()) + interval '3 days' + (8 + n) * interval '1 hour',
				 date_trunc('day', now()) + interval '3 days' + (9 + n) * interval '1 hour'), 'confirmed',
	   (SELECT id FROM protector.promo_codes WHERE code = CASE WHEN n IN (1, 4) THEN '$HI' ELSE '$LO' END)
FROM generate_series(1, 4) n ORDER BY n;
SQL
hold_code "$HI" c003 '3 days 16 hours'
# cancel_batch NAME FIRST SECOND: a batch cancelling b<FIRST> and b<SECOND>
cancel_batch() {
	PGAPPNAME=$1 psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" >"$WORK/$1" 2>&1 <<SQL &
BEGIN;
SELECT tests.authenticate_as('manager') \g /dev/null
SELECT protector.update_booking_status_batch(ARRAY['0f480000-0000-4000-8000-000000000b0$2',
													'0f480000-0000-4000-8000-000000000b0$3']::uuid[], 'cancelled') \g /dev/null
COMMIT;
SQL
}
cancel_batch batch1 1 2
batch1=$!
wait_session batch1 "wait_event_type = 'Lock'" || failures=$((failures + 1))
cancel_batch batch2 3 4
batch2=$!
wait_session batch2 "wait_event_type = 'Lock'" || failures=$((failures + 1))
end_session code_holder
wait "$batch1" "$batch2" || true
check "a batch cancelling bookings under two codes goes through" ok "$(outcome "$WORK/batch1")"
check "... and another meeting the codes in the other order" ok "$(outcome "$WORK/batch2")"
check "... and each code counts the live bookings under it (times_used)" t \
	"$(psql -X -A -t -d "$DB" -c "SELECT bool_and(p.times_used = (SELECT count(*) FROM protector.bookings b
		WHERE b.promo_code_id = p.id AND b.status <> 'cancelled')) FROM protector.promo_codes p")"
wait || true

# a percent code made fixed (in its currency) while a booking under it is
# written into another currency: the code's change (keep_used_currency)
# read the bookings without waiting for the uncommitted one, and the
# booking's change never looked at the code; both went through and left a
# booking in EUR under a fixed discount in the code's currency.  The
# booking's change writes the code's row (release_promo_use) and so waits
# for the code's change, then reads it: refused
# booking_under CODE CUSTOMER WHEN: the id of a new booking of S1 under
# CODE for the customer (c00N), committed; code_made_fixed CODE: a session
# (code_change, in $code_change) that makes CODE a fixed 5 and holds its
# row for 2 s
booking_under() {
	psql -X -A -t -q -d "$DB" -v ON_ERROR_STOP=1 <<SQL | tail -1
SELECT tests.authenticate_as('manager') \g /dev/null
SELECT protector.create_booking('0f480000-0000-4000-8000-0000000005a1', '0f480000-0000-4000-8000-00000000$2',
								date_trunc('day', now()) + interval '$3', p_promo_code => '$1') ->> 'id';
SQL
}
code_made_fixed() {
	PGAPPNAME=code_change psql -X -q -d "$DB" >/dev/null 2>&1 <<SQL &
BEGIN;
UPDATE protector.promo_codes SET discount_kind = 'fixed', discount_value = 5 WHERE code = '$1';
SELECT pg_sleep(2);
COMMIT;
SQL
	code_change=$!
	wait_session code_change "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
}
ZCODE=$(psql -X -A -t -q -d "$DB" -c "INSERT INTO protector.promo_codes (organization_id, description, discount_kind, discount_value)
	VALUES ('$ORG', 'Z', 'percent', 10) RETURNING code")
ZBOOKING=$(booking_under "$ZCODE" c004 '4 days 10 hours')
code_made_fixed "$ZCODE"
PGAPPNAME=currency_change psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" >"$WORK/currency_change" 2>&1 <<SQL &
UPDATE protector.bookings SET currency = 'EUR' WHERE id = '$ZBOOKING';
SQL
currency_change=$!
wait "$code_change" "$currency_change" || true
check "a booking written into EUR while its code becomes fixed in its currency is refused" 22023 \
	"$(outcome "$WORK/currency_change")"
check "... and every live booking under a fixed code is in the code's currency" 0 \
	"$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings b JOIN protector.promo_codes p ON p.id = b.promo_code_id
		WHERE p.discount_kind = 'fixed' AND b.status <> 'cancelled' AND b.currency <> p.currency")"

# (its review) a booking that keeps its code and changes currency waits for
# the code's row at most protector.lock_timeout (it waited without end for
# a new booking under the code left open), and one priced again in another
# currency on a code that became fixed meanwhile (read without a lock in
# set_booking_price) is told to retry, not that its currency was written by hand
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, price, currency) VALUES
	('0f480000-0000-4000-8000-0000000005a3', '$ORG', '0f480000-0000-4000-8000-0000000000a1', 'S3', '1 hour', 40, 'EUR');
INSERT INTO protector.promo_codes (organization_id, description, discount_kind, discount_value) VALUES ('$ORG', 'W', 'percent', 10);
SQL
WCODE=$(psql -X -A -t -d "$DB" -c "SELECT code FROM protector.promo_codes WHERE description = 'W'")
WBOOKING=$(booking_under "$WCODE" c005 '5 days 10 hours')
hold_code "$WCODE" c005 '5 days 16 hours'
started=$(date +%s)
psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" >"$WORK/bounded" 2>&1 <<SQL || true
SET protector.lock_timeout = 1000;
UPDATE protector.bookings SET currency = 'EUR' WHERE id = '$WBOOKING';
SQL
check "a currency change under a code held open is told to retry (40001) ..." 40001 "$(outcome "$WORK/bounded")"
check "... within protector.lock_timeout" t "$([ $(( $(date +%s) - started )) -lt 5 ] && echo t || echo f)"
end_session code_holder
wait || true
code_made_fixed "$WCODE"
psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" >"$WORK/repriced" 2>&1 <<SQL || true
UPDATE protector.bookings SET service_id = '0f480000-0000-4000-8000-0000000005a3' WHERE id = '$WBOOKING';
SQL
wait "$code_change" || true
check "a booking moved into EUR while its code became fixed in USD is told to retry (40001)" 40001 "$(outcome "$WORK/repriced")"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/retried" 2>&1 \
	-c "UPDATE protector.bookings SET service_id = '0f480000-0000-4000-8000-0000000005a3' WHERE id = '$WBOOKING'" || true
check "... and its retry moves it, priced at 40.00 EUR without the code" "40.00 EUR " \
	"$(psql -X -A -t -d "$DB" -c "SELECT total_price || ' ' || currency || ' ' || coalesce(promo_code_id::text, '') FROM protector.bookings WHERE id = '$WBOOKING'")"

dropdb "$DB"
echo "# promo_handovers: $failures failed"
[ "$failures" -eq 0 ]
