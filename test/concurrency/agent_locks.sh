#!/usr/bin/env bash
# test/concurrency/agent_locks.sh — a booking with an agent takes its
# service's lock before its agent's, the order a reschedule takes them in
# (lock_services, then the shift check under its UPDATE).  A new booking
# took the agent's lock in its shift check (AFTER INSERT, booking_workflow)
# and the service's in its reservation check after; a reschedule of
# another booking of that agent and service took the service's first:
# the two deadlocked (40P01; an attack review, 13 of 100 with pgbench).
# Here the insert pauses between its shift check and its reservation
# check (a trigger of this test's, named to fire between them) while the
# reschedule runs: both must go through.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_agent_locks
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f990000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['desk', 'agent']) u;
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES ('$ORG', 'Agents', 'agent-locks', 'UTC');
INSERT INTO protector.members (id, organization_id, user_id, role, confirmed_at) VALUES
	('0f990000-0000-4000-8000-0000000000e1', '$ORG', tests.get_supabase_uid('desk'), 'operator', now()),
	('0f990000-0000-4000-8000-0000000000e2', '$ORG', tests.get_supabase_uid('agent'), 'agent', now());
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f990000-0000-4000-8000-0000000000a1', '$ORG', 'HQ', 'UTC');
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
VALUES ('$ORG', '0f990000-0000-4000-8000-0000000000e2', '0f990000-0000-4000-8000-0000000000a1');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0f990000-0000-4000-8000-0000000005a1', '$ORG', '0f990000-0000-4000-8000-0000000000a1', 'Escort', '1 hour', '60 minutes',
		'30 days', 100, 4, 'shared');
INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during)
VALUES ('$ORG', '0f990000-0000-4000-8000-0000000000e2', '0f990000-0000-4000-8000-0000000000a1',
		tstzrange(date_trunc('day', now()) + interval '3 days 8 hours', date_trunc('day', now()) + interval '3 days 20 hours'));
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
VALUES ('0f990000-0000-4000-8000-0000000000b1', '$ORG', '0f990000-0000-4000-8000-0000000000a1', '0f990000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'),
		'confirmed', tests.get_supabase_uid('agent'));
-- the pause: after booking_workflow (the shift check), before
-- reservation_check, for the booking this test marks
CREATE FUNCTION public.pause_marked() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF NEW.details ->> 'pause' = 'yes' THEN
		PERFORM pg_sleep(1.5);
	END IF;
	RETURN NULL;
END \$\$;
CREATE TRIGGER c_pause AFTER INSERT ON protector.bookings FOR EACH ROW EXECUTE FUNCTION public.pause_marked();
SQL
failures=0

PGAPPNAME=inserting psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" \
	-c "SELECT tests.authenticate_as('desk')" \
	-c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, assigned_agent, details)
		VALUES ('$ORG', '0f990000-0000-4000-8000-0000000000a1', '0f990000-0000-4000-8000-0000000005a1',
				tstzrange(date_trunc('day', now()) + interval '3 days 14 hours', date_trunc('day', now()) + interval '3 days 15 hours'),
				'confirmed', tests.get_supabase_uid('agent'), '{\"pause\": \"yes\"}')" \
	-c "COMMIT" >"$WORK/insert.log" 2>&1 &
inserting=$!
wait_session inserting "wait_event = 'PgSleep'" || { cat "$WORK/insert.log"; exit 1; }
psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('desk')" \
	-c "SELECT protector.reschedule_booking('0f990000-0000-4000-8000-0000000000b1', date_trunc('day', now()) + interval '3 days 11 hours') IS NOT NULL" \
	-c "COMMIT" >"$WORK/reschedule.log" 2>&1 || true
wait "$inserting" || true
errors=$(cat "$WORK/insert.log" "$WORK/reschedule.log" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | tr '\n' ' ')
booked=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings WHERE organization_id = '$ORG'
	AND lower(during) IN (date_trunc('day', now()) + interval '3 days 11 hours', date_trunc('day', now()) + interval '3 days 14 hours')")
if [ -z "$errors" ] && [ "$booked" = 2 ]; then
	echo "ok - a new booking of an agent and a reschedule of the agent's booking of the same service at once: both go through"
else
	echo "not ok - a new booking of an agent and a reschedule at once: errors '$errors', $booked of 2 in place"
	failures=$((failures + 1))
fi

dropdb "$DB"
echo "# agent_locks: $failures failed"
[ "$failures" -eq 0 ]
