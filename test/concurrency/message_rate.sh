#!/usr/bin/env bash
# test/concurrency/message_rate.sh — a customer's messages at the same
# moment against the thread's hourly limit (sql/84_messages.sql,
# check_customer_message_rate): CLIENTS sessions of the same customer each
# write one message to one thread whose limit is LIMIT, all released at
# once, at READ COMMITTED, REPEATABLE READ and SERIALIZABLE.  Afterwards
# the thread holds at most LIMIT customer messages (exactly LIMIT at READ
# COMMITTED, where nobody is told to retry); every refusal is 53400 or
# 40001.  Then the same race against a mutant check without the thread's
# lock: it must overshoot, so this test can fail.  A message waiting for
# that lock while its booking is handed over is told P0002, not 42501.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail

CLIENTS=${CLIENTS:-8}
LIMIT=3
. "$(dirname "$0")/../lib.sh"
fresh_database protector_message_rate
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f780000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user('cara');
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('$ORG', 'Rate', 'rate', '{"customers": {"messages_per_hour": $LIMIT}}');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f780000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0f780000-0000-4000-8000-0000000005a1', '$ORG', '0f780000-0000-4000-8000-0000000000a1', 'S', '60 minutes', '60 minutes', '400 days', 100, 'shared');
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email)
VALUES ('0f780000-0000-4000-8000-00000000c001', '$ORG', tests.get_supabase_uid('cara'), 'Cara', 'c@x.test');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0f780000-0000-4000-8000-0000000000b' || n)::uuid, '$ORG', '0f780000-0000-4000-8000-0000000000a1',
	   '0f780000-0000-4000-8000-0000000005a1', '0f780000-0000-4000-8000-00000000c001',
	   tstzrange(date_trunc('day', now()) + make_interval(days => 2 + n), date_trunc('day', now()) + make_interval(days => 2 + n, hours => 1)),
	   'confirmed'
FROM generate_series(1, 4) n;
SQL
failures=0

# race LEVEL BOOKING: CLIENTS messages at once; prints "accepted refused other"
race() {
	local level=$1 booking=$2 c pids=()
	# (each waits on a lock the script holds, released once all of them
	# wait for it, or after 30 s: a fixed second let late sessions arrive
	# after the first had committed, and the mutant's race went unseen)
	PGAPPNAME=gate psql -X -q -d "$DB" -c "BEGIN" -c "LOCK TABLE protector.venues IN ACCESS EXCLUSIVE MODE" -c "
		DO \$\$ BEGIN
			FOR i IN 1..300 LOOP
				EXIT WHEN (SELECT count(*) FROM pg_locks WHERE relation = 'protector.venues'::regclass AND NOT granted) >= $CLIENTS;
				PERFORM pg_sleep(0.1);
			END LOOP;
		END \$\$" -c "COMMIT" >/dev/null &
	local gate=$!
	# (until it holds the lock, in its loop; race runs in a command
	# substitution, where a failure does not end the test: a gate that
	# never gets there makes the first line "0 0 1", which every check refuses)
	wait_session gate "query LIKE '%pg_locks%'" >&2 || echo "0 0 1"
	for c in $(seq 1 "$CLIENTS"); do
		PGOPTIONS="-c default_transaction_isolation=${level// /\\ }" psql -X -q -A -t -d "$DB" -v VERBOSITY=sqlstate \
			-c "BEGIN" -c "SELECT tests.authenticate_as('cara')" \
			-c "SELECT count(*) FROM protector.venues" \
			-c "SELECT protector.send_message('$booking', 'hello $c')" -c "COMMIT" >"$WORK/out$c.log" 2>&1 &
		pids+=($!)
	done
	wait "$gate"
	for p in "${pids[@]}"; do wait "$p" || true; done
	local accepted refused other
	accepted=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.booking_messages WHERE booking_id = '$booking' AND sender_kind = 'customer'")
	refused=$(cat "$WORK"/out*.log | grep -c -E '^ERROR: +(53400|40001)' || true)
	other=$(cat "$WORK"/out*.log | grep '^ERROR' | grep -v -c -E '^ERROR: +(53400|40001)' || true)
	rm -f "$WORK"/out*.log
	echo "$accepted $refused $other"
}

n=0
for level in "read committed" "repeatable read" "serializable"; do
	n=$((n + 1))
	read -r accepted refused other <<<"$(race "$level" "0f780000-0000-4000-8000-0000000000b$n")"
	if [ "$other" -eq 0 ] && [ "$accepted" -le "$LIMIT" ] && [ $((accepted + refused)) -eq "$CLIENTS" ] \
		&& { [ "$level" != "read committed" ] || [ "$accepted" -eq "$LIMIT" ]; }; then
		echo "ok - [$level] $CLIENTS messages at once, limit $LIMIT: $accepted taken, $refused refused (53400/40001)"
	else
		echo "not ok - [$level] $CLIENTS messages at once, limit $LIMIT: $accepted taken, $refused refused, $other other errors"
		failures=$((failures + 1))
	fi
done

# a customer's message waiting for the customer's rate lock (their other
# tab's message holds it) while the desk hands the booking to another
# customer (found by a chaos run): told "booking not found", as after the
# handover, not the insert policy's bare 42501
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0f780000-0000-4000-8000-00000000c002', '$ORG', 'Dee', 'd@x.test');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0f780000-0000-4000-8000-0000000000b5', '$ORG', '0f780000-0000-4000-8000-0000000000a1', '0f780000-0000-4000-8000-0000000005a1',
		'0f780000-0000-4000-8000-00000000c001', tstzrange(date_trunc('day', now()) + interval '9 days', date_trunc('day', now()) + interval '9 days 1 hour'),
		'confirmed');
SQL
PGAPPNAME=first_tab psql -X -q -d "$DB" -c "BEGIN" -c "SELECT tests.authenticate_as('cara')" \
	-c "SELECT protector.send_message('0f780000-0000-4000-8000-0000000000b5', 'first')" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
wait_session first_tab "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
PGAPPNAME=second_tab psql -X -q -A -t -d "$DB" -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('cara')" \
	-c "SELECT protector.send_message('0f780000-0000-4000-8000-0000000000b5', 'second') IS NOT NULL" -c "COMMIT" >"$WORK/second.log" 2>&1 &
second=$!
wait_session second_tab "wait_event_type = 'Lock'" || failures=$((failures + 1))
psql -X -q -d "$DB" -c "UPDATE protector.bookings SET customer_id = '0f780000-0000-4000-8000-00000000c002'
	WHERE id = '0f780000-0000-4000-8000-0000000000b5'" >/dev/null
end_session first_tab
wait "$second" || true
got=$(grep -o 'ERROR: *[0-9A-Z]*' "$WORK/second.log" | head -1 || true)
if [ "$got" = "ERROR:  P0002" ]; then
	echo "ok - a message waiting while its booking is handed to another customer: P0002 booking not found"
else
	echo "not ok - a message waiting while its booking is handed to another customer: '$(cat "$WORK/second.log")' (want P0002)"
	failures=$((failures + 1))
fi

# the mutant: the same count without the customer's lock
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
CREATE OR REPLACE FUNCTION protector_internal.check_customer_message_rate(p_organization_id uuid, p_booking_id uuid)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF (SELECT count(*) FROM protector.booking_messages m WHERE m.booking_id = p_booking_id AND m.sender_kind = 'customer'
		  AND m.created_at > now() - interval '1 hour') >= 3 THEN
		PERFORM protector.raise('rate_limited', 'too many messages in this thread; try again later');
	END IF;
	-- (a second between the count and the commit: eight new sessions on
	-- two cores reach the count up to half a second apart)
	PERFORM pg_sleep(1);
END $$;
SQL
read -r accepted refused other <<<"$(race "read committed" "0f780000-0000-4000-8000-0000000000b4")"
if [ "$accepted" -gt "$LIMIT" ]; then
	echo "ok - [mutant without the customer's lock] $accepted taken: the race is caught"
else
	echo "not ok - [mutant without the customer's lock] only $accepted taken: this test could not fail"
	failures=$((failures + 1))
fi

dropdb "$DB"
echo "# message_rate: $failures failed"
[ "$failures" -eq 0 ]
