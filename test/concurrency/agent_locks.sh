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
# 2. a booking handed to another agent while its agent reopens its done
#    review task: the task goes along, open (the handover's update read it
#    done on its snapshot and skipped it without waiting: an open task of
#    the new agent's booking stayed the old agent's, whom it no longer
#    let work it, and the new agent did not see it).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_agent_locks
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f990000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['desk', 'agent', 'agent2']) u;
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES ('$ORG', 'Agents', 'agent-locks', 'UTC');
INSERT INTO protector.members (id, organization_id, user_id, role, confirmed_at) VALUES
	('0f990000-0000-4000-8000-0000000000e1', '$ORG', tests.get_supabase_uid('desk'), 'operator', now()),
	('0f990000-0000-4000-8000-0000000000e2', '$ORG', tests.get_supabase_uid('agent'), 'agent', now()),
	('0f990000-0000-4000-8000-0000000000e3', '$ORG', tests.get_supabase_uid('agent2'), 'agent', now());
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f990000-0000-4000-8000-0000000000a1', '$ORG', 'HQ', 'UTC');
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
SELECT '$ORG', m::uuid, '0f990000-0000-4000-8000-0000000000a1'
FROM unnest('{0f990000-0000-4000-8000-0000000000e2,0f990000-0000-4000-8000-0000000000e3}'::text[]) m;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0f990000-0000-4000-8000-0000000005a1', '$ORG', '0f990000-0000-4000-8000-0000000000a1', 'Escort', '1 hour', '60 minutes',
		'30 days', 100, 4, 'shared');
INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during)
SELECT '$ORG', m::uuid, '0f990000-0000-4000-8000-0000000000a1',
	   tstzrange(date_trunc('day', now()) + interval '3 days 8 hours', date_trunc('day', now()) + interval '3 days 20 hours')
FROM unnest('{0f990000-0000-4000-8000-0000000000e2,0f990000-0000-4000-8000-0000000000e3}'::text[]) m;
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

# 2. the review task of b1 done by its agent; reopened by them (held
# open) while the desk hands b1 to agent2
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -c "SELECT tests.authenticate_as('agent')" \
	-c "UPDATE protector.tasks SET status = 'done' WHERE booking_id = '0f990000-0000-4000-8000-0000000000b1'" -c "COMMIT" >/dev/null
PGAPPNAME=reopening psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('agent')" \
	-c "UPDATE protector.tasks SET status = 'open' WHERE booking_id = '0f990000-0000-4000-8000-0000000000b1'" \
	-c "SELECT pg_sleep(1)" -c "COMMIT" >"$WORK/reopen.log" 2>&1 &
reopening=$!
wait_session reopening "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('desk')" \
	-c "UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('agent2') WHERE id = '0f990000-0000-4000-8000-0000000000b1'" \
	-c "COMMIT" >"$WORK/handover.log" 2>&1 || true
wait "$reopening" || true
state=$(psql -X -A -t -d "$DB" -c "SELECT t.status || ' ' || (t.assignee = tests.get_supabase_uid('agent2'))::text::char(1)
	FROM protector.tasks t WHERE t.booking_id = '0f990000-0000-4000-8000-0000000000b1' AND t.kind = 'booking_review'")
errors=$(cat "$WORK/reopen.log" "$WORK/handover.log" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | tr '\n' ' ')
if [ -z "$errors" ] && [ "$state" = "open t" ]; then
	echo "ok - a booking handed over while its agent reopens its review task: the task goes along, open"
else
	echo "not ok - a booking handed over while its agent reopens its review task: '$state' (expected 'open t'), errors '$errors'"
	failures=$((failures + 1))
fi

dropdb "$DB"
echo "# agent_locks: $failures failed"
[ "$failures" -eq 0 ]
