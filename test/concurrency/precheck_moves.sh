#!/usr/bin/env bash
# test/concurrency/precheck_moves.sh — the early refusal (reserve.c's
# precheck) and a booking being moved away.  A session that has found a
# service contended refuses a taken slot before the insert, without a
# lock.  While another transaction, holding the service's lock, moves the
# booking that takes the slot away, the precheck concludes nothing: the
# new booking waits for the lock, as the check after the insert does, and
# books the time the move frees.  A slot taken by a booking nobody is
# changing is still refused at once while the service's lock is held
# (no row written, no wait), and so is one whose booking a transaction
# changes without that lock (a note, a cancellation not yet committed:
# the check after the insert would not wait for it either).  Exclusive
# and shared services.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_precheck_moves

ORG=0f470000-0000-4000-8000-000000000000
VENUE=0f470000-0000-4000-8000-0000000000f1
ROOM=0f470000-0000-4000-8000-0000000005e1	# exclusive
TOUR=0f470000-0000-4000-8000-0000000005e2	# shared, 2 places
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Moves', 'moves');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('$VENUE', '$ORG', 'Hall', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party, duration)
VALUES ('$ROOM', '$ORG', '$VENUE', 'Room', 'exclusive', 1, 4, '1 hour'),
	   ('$TOUR', '$ORG', '$VENUE', 'Tour', 'shared', 2, 2, '1 hour');
SQL
DAY=$(psql -X -A -t -d "$DB" -c "SELECT date_trunc('day', now()) + interval '2 days'")
at() { echo "tstzrange(timestamptz '$DAY' + interval '$1 hours', timestamptz '$DAY' + interval '$(($1 + 1)) hours')"; }

failures=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (expected '$2', got '$3')"; failures=$((failures + 1)); fi; }

# case_of SERVICE MOVED_AT LABEL [CHANGE]: SERVICE full at 10:00 (the
# room: one booking; the tour: two of one place), the booking b009 at
# MOVED_AT (10:00 is among them); a session finds the service contended
# (two refusals at 10:00), then, while the mover sleeps with b009 changed
# by CHANGE (default: moved to 15:00, which takes the service's lock),
# books one place at 10:00.  LABEL receives what the booking answered, how
# many rows it wrote, and whether the mover was still asleep then; waited:
# whether the booking waited for a lock.
case_of() {
	local service=$1 moved_at=$2 label=$3 change=${4:-"during = $(at 15)"} stayers
	stayers=$([ "$service" = "$TOUR" ] && echo 2 || echo 1)
	[ "$moved_at" = 10 ] && stayers=$((stayers - 1))
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
DELETE FROM protector.bookings;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, party_size)
SELECT ('0f470000-0000-4000-8000-00000000b00' || n)::uuid, '$ORG', '$VENUE', '$service',
	   CASE WHEN n = 9 THEN $(at "$moved_at") ELSE $(at 10) END, 1
FROM (SELECT generate_series(1, $stayers) UNION ALL SELECT 9) v(n);
SQL
	local booking="INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size)
VALUES ('$ORG', '$VENUE', '$service', $(at 10), 1)"
	PGAPPNAME=booker psql -X -q -A -t -d "$DB" >"$WORK/$label" 2>&1 <<SQL &
DO \$\$ BEGIN $booking; EXCEPTION WHEN exclusion_violation THEN NULL; END \$\$;
DO \$\$ BEGIN $booking; EXCEPTION WHEN exclusion_violation THEN NULL; END \$\$;
SET application_name = 'primed';
DO \$\$
BEGIN
	FOR i IN 1..400 LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'mover' AND query LIKE 'SELECT pg_sleep%');
		PERFORM pg_sleep(0.05);
	END LOOP;
END \$\$;
SET application_name = 'booking';
DO \$\$
DECLARE
	n0 bigint := pg_stat_get_xact_tuples_inserted('protector.bookings'::regclass);
	v_outcome text := 'booked';
BEGIN
	BEGIN
		$booking;
	EXCEPTION WHEN OTHERS THEN
		v_outcome := SQLSTATE;
	END;
	PERFORM pg_stat_clear_snapshot();
	RAISE NOTICE 'outcome % % %', v_outcome, pg_stat_get_xact_tuples_inserted('protector.bookings'::regclass) - n0,
		CASE WHEN EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'mover' AND query LIKE 'SELECT pg_sleep%')
			 THEN 'mover asleep' ELSE 'mover done' END;
END \$\$;
SQL
	local booker=$!
	wait_session primed "true"
	PGAPPNAME=mover psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL &
BEGIN;
UPDATE protector.bookings SET $change WHERE id = '0f470000-0000-4000-8000-00000000b009';
SELECT pg_sleep(2);
COMMIT;
SQL
	local mover=$!
	waited=no
	if [ "$moved_at" = 10 ] && [ -z "${4:-}" ]; then
		wait_session booking "wait_event_type = 'Lock'" && waited=yes
	fi
	wait "$booker" "$mover"
}
outcome() { sed -n 's/^NOTICE: *outcome //p' "$WORK/$1"; }

# the booking in the slot is being moved away: wait, then book it
for service in "$ROOM" "$TOUR"; do
	name=$([ "$service" = "$ROOM" ] && echo exclusive || echo shared)
	case_of "$service" 10 "$name-moving"
	check "$name, slot being freed: the booking waited for the move" yes "$waited"
	check "$name, slot being freed: booked once the move committed" "booked 1 mover done" "$(outcome "$name-moving")"
	check "$name, slot being freed: 10:00 holds the new booking" \
		"$([ "$name" = shared ] && echo 2 || echo 1)" \
		"$(psql -X -A -t -d "$DB" -c "SELECT sum(party_size) FROM protector.bookings WHERE lower(during) = timestamptz '$DAY' + interval '10 hours'")"
done

# another booking of the service is being moved (the lock is held), the
# slot's stays: refused at once, nothing written
for service in "$ROOM" "$TOUR"; do
	name=$([ "$service" = "$ROOM" ] && echo exclusive || echo shared)
	case_of "$service" 12 "$name-staying"
	check "$name, slot taken by a booking that stays: refused before the insert, while the mover slept" \
		"23P01 0 mover asleep" "$(outcome "$name-staying")"
done

# the slot's booking is being changed without the service's lock (a note,
# a cancellation not yet committed): the check after the insert would not
# wait for it either, so the precheck still refuses at once
for service in "$ROOM" "$TOUR"; do
	name=$([ "$service" = "$ROOM" ] && echo exclusive || echo shared)
	case_of "$service" 10 "$name-noted" "details = '{\"note\": \"vip\"}'"
	check "$name, slot's booking being noted: refused before the insert, while the writer slept" \
		"23P01 0 mover asleep" "$(outcome "$name-noted")"
	case_of "$service" 10 "$name-cancelling" "status = 'cancelled', cancelled_at = now()"
	check "$name, slot's booking being cancelled: refused before the insert, as the check after it would" \
		"23P01 0 mover asleep" "$(outcome "$name-cancelling")"
done

dropdb "$DB"
[ "$failures" -eq 0 ]
