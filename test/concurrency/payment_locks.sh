#!/usr/bin/env bash
# test/concurrency/payment_locks.sh — an inserted payment is judged after
# the insert policy, and the booking's lock is taken as before, in one
# mode, where the writer is one the policy passes.
# 1. While the desk holds a booking (an open transaction locking it), a
#    signed-in stranger inserting a refund on it directly, under a
#    lock_timeout, is refused by the policy (42501) at once, as for a
#    made-up booking id: the judgement's lock waited for the desk and
#    answered 55P03 (or told the booking's ledger) before.
# 2. A transaction records a payment of a booking directly and then calls
#    record_payment; meanwhile another inserts a task of that booking (its
#    foreign key takes the booking KEY SHARE) and a payment: both commit.
#    Every write of a booking's payments locks it FOR UPDATE, as the RPCs
#    do; a weaker lock let the task in, whose KEY SHARE the RPC's FOR
#    UPDATE then waited for while the task's transaction waited for the
#    booking: a deadlock (the mutant locking FOR NO KEY UPDATE runs too).
# 3. A webhook batch (service_role) records two events of a booking in one
#    transaction; meanwhile the desk's sync writes the second event's row
#    directly (ON CONFLICT DO NOTHING), as service_role or through an app's
#    SECURITY DEFINER function of a role that bypasses RLS, called by anon:
#    the sync waits for the booking before its row goes in, and then finds
#    the event recorded.
# 4. A transaction records a payment of a booking directly, then calls
#    record_payment (which locks it FOR UPDATE); meanwhile an owner
#    inserts a payment of it: both commit.
#    Without lock_payment_booking (the booking locked before the row goes
#    in) 3 and 4 deadlock, the row waiting for the booking with its KEY
#    SHARE and its unique reference held: that mutant runs too.
# 5. Under REPEATABLE READ, a booking's currency changed, directly or by a
#    move to a service in another currency, after a pending payment of it
#    was recorded since the transaction's snapshot: 40001.  A pending
#    payment leaves the booking's row as it was, so the update raised no
#    serialization failure, and the check on the snapshot saw no payment:
#    the booking went to EUR with its payment in USD.
# (Two transactions that each insert a task of a booking and then record
# a payment of it can still deadlock, as before: docs/payments.md.)
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_payment_locks
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
failures=0

ORG=0f690000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['owner', 'stranger']) u;
INSERT INTO protector.organizations (id, name, slug, currency) VALUES ('$ORG', 'L', 'payment-locks', 'USD');
INSERT INTO protector.members (organization_id, user_id, role) VALUES ('$ORG', tests.get_supabase_uid('owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f690000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, price)
VALUES ('0f690000-0000-4000-8000-0000000005a1', '$ORG', '0f690000-0000-4000-8000-0000000000a1', 'S',
		'60 minutes', '60 minutes', '30 days', 80);
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
SELECT ('0f690000-0000-4000-8000-0000000000b' || n)::uuid, '$ORG', '0f690000-0000-4000-8000-0000000000a1',
	'0f690000-0000-4000-8000-0000000005a1',
	tstzrange(date_trunc('day', now()) + make_interval(days => 2, hours => n), date_trunc('day', now()) + make_interval(days => 2, hours => n + 1)),
	'confirmed'
FROM generate_series(1, 9) n;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('0f690000-0000-4000-8000-0000000000c1', '$ORG', '0f690000-0000-4000-8000-0000000000a1',
	'0f690000-0000-4000-8000-0000000005a1',
	tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'), 'confirmed');
-- an app's function that writes payments, of a role that bypasses RLS
CREATE ROLE payment_locks_app NOLOGIN BYPASSRLS;
GRANT service_role TO payment_locks_app;
CREATE FUNCTION public.app_sync(p_booking uuid, p_amount numeric, p_reference text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS \$f\$
	INSERT INTO protector.payments (organization_id, booking_id, amount, status, currency, provider, provider_reference)
	VALUES ('$ORG', p_booking, p_amount, 'succeeded', 'USD', 'stripe', p_reference) ON CONFLICT DO NOTHING
\$f\$;
ALTER FUNCTION public.app_sync(uuid, numeric, text) OWNER TO payment_locks_app;
GRANT EXECUTE ON FUNCTION public.app_sync(uuid, numeric, text) TO anon;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, price, currency)
VALUES ('0f690000-0000-4000-8000-0000000005a2', '$ORG', '0f690000-0000-4000-8000-0000000000a1', 'Euro',
		'60 minutes', '60 minutes', '30 days', 70, 'EUR');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, currency)
VALUES ('$ORG', '0f690000-0000-4000-8000-0000000000b1', 37.50, 'succeeded', 'USD');
SQL

# 1. the stranger beside the desk's open transaction
stranger_refund() {
	psql -X -A -t -q -d "$DB" 2>&1 <<SQL | grep -oE '^(ERROR|INSERT)[^"]*' | head -1 || true
BEGIN;
SET LOCAL lock_timeout = '500ms';
SELECT tests.authenticate_as('stranger') \g /dev/null
INSERT INTO protector.payments (organization_id, booking_id, amount, kind, status, currency)
VALUES ('$ORG', '$1', 5000, 'refund', 'succeeded', 'USD');
ROLLBACK;
SQL
}
PGAPPNAME=desk psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL &
BEGIN;
SELECT 1 FROM protector.bookings WHERE id = '0f690000-0000-4000-8000-0000000000b1' FOR UPDATE;
SELECT pg_sleep(1.5);
COMMIT;
SQL
desk=$!
wait_session desk "query LIKE 'SELECT pg_sleep%'"
held=$(stranger_refund 0f690000-0000-4000-8000-0000000000b1)
wait $desk
madeup=$(stranger_refund 0f690000-0000-4000-8000-0000000000ff)
if [ "$held" = "$madeup" ] && [[ "$held" == *"row-level security"* ]]; then
	echo "ok: a stranger's refund on a booking the desk holds: $held (as for a made-up id)"
else
	echo "FAILED: a stranger's refund on a booking the desk holds answered \"$held\"; on a made-up id \"$madeup\""
	failures=$((failures + 1))
fi

# 2, 3 and 4: two sessions, the second once the first sleeps between its
# statements; prints the errors they met and the booking's amount_paid (and
# a session that never got there: the line is then not the one expected)
pair() {
	local booking=$1 first=$2 second=$3
	PGAPPNAME=first psql -X -q -d "$DB" >"$WORK/first" 2>&1 <<SQL &
BEGIN;
$first
COMMIT;
SQL
	wait_session first "query LIKE 'SELECT pg_sleep%'"
	psql -X -q -d "$DB" >"$WORK/second" 2>&1 <<SQL
BEGIN;
$second
COMMIT;
SQL
	wait
	echo "$(cat "$WORK/first" "$WORK/second" | grep -c 'ERROR') errors ($(cat "$WORK/first" "$WORK/second" | grep -c 'deadlock detected') deadlocks);" \
		"paid $(psql -X -A -t -q -d "$DB" -c "SELECT amount_paid FROM protector.bookings WHERE id = '$booking'")"
}
webhooks() {
	local b=0f690000-0000-4000-8000-0000000000b$1
	pair "$b" "SELECT tests.authenticate_as_service_role() \\g /dev/null
SELECT protector.record_payment('$b', 10, 'stripe', 'pi_a$1') \\g /dev/null
SELECT pg_sleep(1.5);
SELECT protector.record_payment('$b', 10, 'stripe', 'pi_x$1') \\g /dev/null" \
		"SELECT tests.authenticate_as_service_role() \\g /dev/null
INSERT INTO protector.payments (organization_id, booking_id, amount, status, currency, provider, provider_reference)
VALUES ('$ORG', '$b', 10, 'succeeded', 'USD', 'stripe', 'pi_x$1') ON CONFLICT DO NOTHING;"
}
desk() {
	local b=0f690000-0000-4000-8000-0000000000b$1
	pair "$b" "SELECT tests.authenticate_as_service_role() \\g /dev/null
INSERT INTO protector.payments (organization_id, booking_id, amount, status) VALUES ('$ORG', '$b', 10, 'succeeded');
SELECT pg_sleep(1.5);
SELECT protector.record_payment('$b', 5, 'stripe', 'pi_d$1') \\g /dev/null" \
		"SELECT tests.authenticate_as('owner') \\g /dev/null
INSERT INTO protector.payments (organization_id, booking_id, amount, status) VALUES ('$ORG', '$b', 7, 'succeeded');"
}
app_webhooks() {
	local b=0f690000-0000-4000-8000-0000000000$1
	pair "$b" "SELECT tests.authenticate_as_service_role() \\g /dev/null
SELECT protector.record_payment('$b', 10, 'stripe', 'pi_a$1') \\g /dev/null
SELECT pg_sleep(1.5);
SELECT protector.record_payment('$b', 10, 'stripe', 'pi_x$1') \\g /dev/null" \
		"SET LOCAL ROLE anon;
SELECT public.app_sync('$b', 10, 'pi_x$1');"
}
# 2: the desk's direct payment, then record_payment, beside a task and a payment
task_then_pay() {
	local b=0f690000-0000-4000-8000-0000000000b$1
	pair "$b" "SELECT tests.authenticate_as('owner') \\g /dev/null
INSERT INTO protector.payments (organization_id, booking_id, amount, status) VALUES ('$ORG', '$b', 10, 'succeeded');
SELECT pg_sleep(1.5);
SELECT protector.record_payment('$b', 5) \\g /dev/null" \
		"SELECT tests.authenticate_as('owner') \\g /dev/null
INSERT INTO protector.tasks (organization_id, booking_id, title) VALUES ('$ORG', '$b', 'call');
INSERT INTO protector.payments (organization_id, booking_id, amount, status) VALUES ('$ORG', '$b', 7, 'succeeded');"
}
want="0 errors (0 deadlocks); paid 22.00"
got=$(task_then_pay 2)
if [ "$got" = "$want" ]; then
	echo "ok: a direct payment and then record_payment, beside a task and a payment: $got"
else
	echo "FAILED: a direct payment and then record_payment, beside a task and a payment: $got, expected $want"
	failures=$((failures + 1))
fi
want="0 errors (0 deadlocks); paid 20.00 / 0 errors (0 deadlocks); paid 22.00 / 0 errors (0 deadlocks); paid 20.00"
got="$(webhooks 4) / $(desk 5) / $(app_webhooks c1)"
if [ "$got" = "$want" ]; then
	echo "ok: a webhook batch beside a direct write of its event (also through an app's function), a desk beside a payer: $got"
else
	echo "FAILED: a webhook batch beside a direct write of its event (also through an app's function), a desk beside a payer: $got," \
		"expected $want"
	failures=$((failures + 1))
fi

# 5. a currency change under REPEATABLE READ beside a pending payment
rr_currency() {
	local b=0f690000-0000-4000-8000-0000000000b$1
	PGAPPNAME=rr psql -X -q -d "$DB" >"$WORK/rr" 2>&1 <<SQL &
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM protector.payments;
SELECT pg_sleep(1);
$2 WHERE id = '$b';
COMMIT;
SQL
	wait_session rr "query LIKE 'SELECT pg_sleep%'"
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector.payments (organization_id, booking_id, amount, status, currency)
		VALUES ('$ORG', '$b', 10, 'pending', 'USD')" >/dev/null
	wait
	echo "$(grep -oE 'ERROR: +[^(]*' "$WORK/rr" | head -1 | sed 's/ *$//')," \
		"$(psql -X -A -t -q -d "$DB" -c "SELECT currency FROM protector.bookings WHERE id = '$b'")"
}
got="$(rr_currency 8 "UPDATE protector.bookings SET currency = 'EUR'") / $(rr_currency 9 "UPDATE protector.bookings SET service_id = '0f690000-0000-4000-8000-0000000005a2'")"
want="ERROR:  a payment of this booking was recorded or changed concurrently, USD"
if [ "$got" = "$want / $want" ]; then
	echo "ok: under repeatable read, a booking's currency changed beside a pending payment: $got"
else
	echo "FAILED: under repeatable read, a booking's currency changed beside a pending payment: $got, expected $want (twice)"
	failures=$((failures + 1))
fi

# the mutants: the booking's lock before the insert in the weaker mode,
# and none
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
DO $$
DECLARE
	v_src text := pg_get_functiondef('protector_internal.lock_payment_booking()'::regprocedure);
BEGIN
	IF strpos(v_src, 'FOR UPDATE') = 0 THEN
		RAISE EXCEPTION 'lock_payment_booking no longer locks FOR UPDATE: update this mutant';
	END IF;
	EXECUTE replace(v_src, 'FOR UPDATE', 'FOR NO KEY UPDATE');
END
$$;
SQL
got=$(task_then_pay 3)
if [[ "$got" == "1 errors (1 deadlocks);"* ]]; then
	echo "ok: the mutant locking FOR NO KEY UPDATE deadlocks: $got"
else
	echo "FAILED: the mutant locking FOR NO KEY UPDATE was not caught: $got"
	failures=$((failures + 1))
fi
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "DROP TRIGGER a_lock_payment_booking ON protector.payments" >/dev/null
got="$(webhooks 6) / $(desk 7)"
if [[ "$got" == "1 errors (1 deadlocks);"*" / 1 errors (1 deadlocks);"* ]]; then
	echo "ok: the mutant locking only after the insert deadlocks: $got"
else
	echo "FAILED: the mutant locking only after the insert was not caught: $got"
	failures=$((failures + 1))
fi

[ "$failures" -eq 0 ]
