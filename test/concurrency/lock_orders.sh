#!/usr/bin/env bash
# test/concurrency/lock_orders.sh — RPCs that take a customer's or a
# member's row and then rows of their bookings, against RPCs that take
# the bookings first: each side takes the bookings first now, so the
# second waits for the first and nobody deadlocks (40P01), as an attack
# review of the fortieth stop found they did (one run in three):
#   1. update_customer (a new e-mail: its reminders' addresses) against
#      merge_customers of the same customer;
#   2. the same against erase_customer;
#   3. leave_organization of an agent against reschedule_booking of a
#      booking assigned to them;
#   4. the same against confirm_booking of their hold;
#   5. reschedule_booking of a booking under a promo code to a service the
#      code does not apply to (the booking gives the code's use back)
#      against create_booking with that code on the booking's old service:
#      the create took the code's row and then the service's lock, the
#      reschedule the services' locks and then the code's row (the
#      reschedule locks the booking's code first now,
#      lock_booking_promo_code: a new booking's order, which the widget,
#      direct writes and the other RPCs keep);
#   6. create_booking with a promo code against update_service making the
#      service exclusive (the row, then the service's lock): the create's
#      foreign key waits for the row;
#   7. the same without a code, paused after its foreign keys and before
#      the reservation check: update_service waits for nothing the create
#      holds (a fix that had update_service take the service's lock
#      before its row deadlocked here);
#   8. update_service making a service exclusive, paused after its update,
#      against reschedule_booking into that service, which takes the
#      service's lock and then its foreign key's lock of the service's row:
#      update_service holds the row FOR NO KEY UPDATE, which that key-share
#      lock does not wait for (FOR UPDATE, and the mode's check waiting for
#      the service's lock, deadlocked, one run in four without a pause).
# Each pair made deterministic: a test-only trigger pauses the first RPC
# for a second after it holds its locks, and the second starts meanwhile.
# Both must go through (READ COMMITTED).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_lock_orders
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f840000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SET client_min_messages = warning;
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['olga', 'adam', 'otto', 'mia', 'ag1', 'ag2']) u;
INSERT INTO protector.organizations (id, name, slug, settings) VALUES ('$ORG', 'Orders', 'lock-orders', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role, full_name, confirmed_at)
SELECT '$ORG', tests.get_supabase_uid(u), r::protector.member_role, u, now()
FROM (VALUES ('olga', 'owner'), ('adam', 'admin'), ('otto', 'operator'), ('mia', 'manager'), ('ag1', 'agent'), ('ag2', 'agent')) v(u, r);
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f840000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, duration, slot_interval, max_advance, capacity, max_party)
VALUES ('0f840000-0000-4000-8000-0000000005a1', '$ORG', '0f840000-0000-4000-8000-0000000000a1', 'S', 'shared', '60 minutes', '60 minutes', '400 days', 100, 6),
	('0f840000-0000-4000-8000-0000000005a2', '$ORG', '0f840000-0000-4000-8000-0000000000a1', 'T', 'shared', '60 minutes', '60 minutes', '400 days', 100, 6),
	('0f840000-0000-4000-8000-0000000005a3', '$ORG', '0f840000-0000-4000-8000-0000000000a1', 'U', 'shared', '60 minutes', '60 minutes', '400 days', 100, 6);
UPDATE protector.services SET price = 40 WHERE organization_id = '$ORG';
INSERT INTO protector.promo_codes (organization_id, discount_kind, discount_value, currency, service_ids)
VALUES ('$ORG', 'percent', 10, 'EUR', ARRAY['0f840000-0000-4000-8000-0000000005a2'::uuid]);
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0f840000-0000-4000-8000-00000000c001', '$ORG', 'Kim', 'kim@example.com'),
	('0f840000-0000-4000-8000-00000000c002', '$ORG', 'Max', 'max@example.com'),
	('0f840000-0000-4000-8000-00000000c003', '$ORG', 'Cleo', 'cleo@example.com'),
	('0f840000-0000-4000-8000-00000000c004', '$ORG', 'Dora', 'dora@example.com'),
	('0f840000-0000-4000-8000-00000000c005', '$ORG', 'Ed', 'ed@example.com');
CREATE FUNCTION public.book(p_customer uuid, p_agent text, p_hold int, p_hour int) RETURNS uuid LANGUAGE sql AS \$\$
	SELECT (protector.create_booking('0f840000-0000-4000-8000-0000000005a1', p_customer,
		date_trunc('day', now()) + interval '3 days' + p_hour * interval '1 hour', 2,
		p_assigned_agent => CASE WHEN p_agent IS NOT NULL THEN tests.get_supabase_uid(p_agent) END,
		p_hold_minutes => p_hold) ->> 'id')::uuid
\$\$;
-- (test-only: a pause, after the first RPC holds its locks)
CREATE FUNCTION public.pause() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF current_setting('test.pause', true) = 'on' THEN PERFORM pg_sleep(1); END IF;
	RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END \$\$;
CREATE TRIGGER a_pause BEFORE UPDATE ON protector.customers FOR EACH ROW EXECUTE FUNCTION public.pause();
CREATE TRIGGER a_pause BEFORE DELETE ON protector.members FOR EACH ROW EXECUTE FUNCTION public.pause();
CREATE TRIGGER a_pause BEFORE UPDATE ON protector.bookings FOR EACH ROW
	WHEN (current_setting('test.pause_bookings', true) = 'on') EXECUTE FUNCTION public.pause();
-- (after prepare_booking, the last of protector's BEFORE INSERT triggers)
CREATE TRIGGER zz_pause BEFORE INSERT ON protector.bookings FOR EACH ROW
	WHEN (current_setting('test.pause_bookings', true) = 'on') EXECUTE FUNCTION public.pause();
-- (after the foreign keys' checks, RI_ConstraintTrigger_*, before
-- reservation_check: AFTER triggers fire in name order too)
CREATE TRIGGER a_pause AFTER UPDATE ON protector.services FOR EACH ROW
	WHEN (current_setting('test.pause_services', true) = 'on') EXECUTE FUNCTION public.pause();
CREATE TRIGGER a_pause_after_insert AFTER INSERT ON protector.bookings FOR EACH ROW
	WHEN (current_setting('test.pause_after_insert', true) = 'on') EXECUTE FUNCTION public.pause();
SQL
failures=0
book() { psql -X -A -t -q -d "$DB" -c "SELECT public.book($1, $2, $3, $4)"; }
BK=$(book "'0f840000-0000-4000-8000-00000000c001'" NULL NULL 1)
BC=$(book "'0f840000-0000-4000-8000-00000000c003'" NULL NULL 2)
BD=$(book "'0f840000-0000-4000-8000-00000000c004'" NULL NULL 21)
B3=$(book NULL "'ag1'" NULL 3)
H4=$(book NULL "'ag2'" 60 4)
PROMO=$(psql -X -A -t -q -d "$DB" -c "SELECT code FROM protector.promo_codes WHERE organization_id = '$ORG'")
P5=$(psql -X -A -t -q -d "$DB" -c "SELECT protector.create_booking('0f840000-0000-4000-8000-0000000005a2', NULL,
	date_trunc('day', now()) + interval '3 days 6 hours', 2, p_promo_code => '$PROMO') ->> 'id'")

# pair NAME USER1 SQL1 USER2 SQL2: the first paused, the second once it sleeps there
pair() {
	local name=$1 a b
	PGAPPNAME=first psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "SET test.pause = on" -c "BEGIN" \
		-c "SELECT tests.authenticate_as('$2')" -c "$3" -c "COMMIT" >/dev/null 2>"$WORK/first.err" &
	local first=$!
	wait_session first "wait_event = 'PgSleep'"
	b=$(sqlstate_as "$4" "$5")
	wait "$first" || true
	a=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' "$WORK/first.err" | head -1)
	a=${a:-ok}
	if [ "$a $b" = "ok ok" ]; then
		echo "ok - $name: both go through, the second after the first"
	else
		echo "not ok - $name: answered $a and $b"
		failures=$((failures + 1))
	fi
}
pair "update_customer against merge_customers" \
	mia "SELECT protector.update_customer('0f840000-0000-4000-8000-00000000c001', '{\"email\": \"kim2@example.com\"}')" \
	adam "SELECT protector.merge_customers('0f840000-0000-4000-8000-00000000c001', '0f840000-0000-4000-8000-00000000c002')"
# (an attack review: the country alone changes where an SMS goes, and
# the reminders' trigger fires on it; update_customer locked the
# customer first, then the bookings, and deadlocked with a merge)
pair "update_customer of the country alone against merge_customers" \
	mia "SELECT protector.update_customer('0f840000-0000-4000-8000-00000000c004', '{\"country\": \"FR\"}')" \
	adam "SELECT protector.merge_customers('0f840000-0000-4000-8000-00000000c004', '0f840000-0000-4000-8000-00000000c005')"
pair "update_customer against erase_customer" \
	mia "SELECT protector.update_customer('0f840000-0000-4000-8000-00000000c003', '{\"email\": \"cleo2@example.com\"}')" \
	adam "SELECT protector.erase_customer('0f840000-0000-4000-8000-00000000c003')"
pair "leave_organization against reschedule_booking of the agent's booking" \
	ag1 "SELECT protector.leave_organization('$ORG')" \
	otto "SELECT protector.reschedule_booking('$B3', date_trunc('day', now()) + interval '3 days 5 hours')"
pair "leave_organization against confirm_booking of the agent's hold" \
	ag2 "SELECT protector.leave_organization('$ORG')" \
	otto "SELECT protector.confirm_booking('$H4')"
pair "reschedule_booking away from a promo code against create_booking with the code" \
	otto "SET test.pause_bookings = on; SELECT protector.reschedule_booking('$P5', date_trunc('day', now()) + interval '3 days 7 hours', '0f840000-0000-4000-8000-0000000005a1')" \
	mia "SELECT protector.create_booking('0f840000-0000-4000-8000-0000000005a2', NULL, date_trunc('day', now()) + interval '3 days 8 hours', 2, p_promo_code => '$PROMO')"
pair "create_booking with a promo code against update_service making the service exclusive" \
	otto "SET test.pause_bookings = on; SELECT protector.create_booking('0f840000-0000-4000-8000-0000000005a2', NULL, date_trunc('day', now()) + interval '3 days 9 hours', 2, p_promo_code => '$PROMO')" \
	mia "SELECT protector.update_service('0f840000-0000-4000-8000-0000000005a2', '{\"mode\": \"exclusive\"}')"
pair "create_booking paused after its foreign keys against update_service making the service exclusive" \
	otto "SET test.pause_after_insert = on; SELECT protector.create_booking('0f840000-0000-4000-8000-0000000005a1', NULL, date_trunc('day', now()) + interval '3 days 10 hours', 2)" \
	mia "SELECT protector.update_service('0f840000-0000-4000-8000-0000000005a1', '{\"mode\": \"exclusive\"}')"
pair "update_service making a service exclusive against reschedule_booking into it" \
	mia "SET test.pause_services = on; SELECT protector.update_service('0f840000-0000-4000-8000-0000000005a3', '{\"mode\": \"exclusive\"}')" \
	otto "SELECT protector.reschedule_booking('$BC', date_trunc('day', now()) + interval '3 days 11 hours', '0f840000-0000-4000-8000-0000000005a3')"
# (the moved booking gave its use back; the two new ones took one each)
used=$(psql -X -A -t -q -d "$DB" -c "SELECT times_used || ' ' || (SELECT count(*) FROM protector.bookings WHERE promo_code_id = p.id)
	FROM protector.promo_codes p WHERE code = '$PROMO'")
if [ "$used" = "2 2" ]; then
	echo "ok - the code counts two uses, its two bookings'"
else
	echo "not ok - the code counts uses and bookings: $used (want 2 2)"
	failures=$((failures + 1))
fi

dropdb "$DB"
echo "# lock_orders: $failures failed"
[ "$failures" -eq 0 ]
