#!/usr/bin/env bash
# test/concurrency/stale_holds.sh — a hold occupies its time until it
# expires, and each transaction judges expiry by its own start.  A
# transaction that began while a hold was alive must not confirm it (or
# extend it) after the hold expired and another booking took its time: the
# update that turned the hold into a booking skipped the check as one that
# "adds no occupancy", and the slot was booked twice.  Session A begins
# while the hold H is alive and waits at a gate; H expires; session B books
# the slot (H no longer occupies it); then A confirms H, and in a second
# round extends a second hold's expiry: both must be refused (23P01), and
# no two occupying bookings may overlap.  Round 3: A books next to the
# expired hold, inside a later booking that contains the hold.  Round 4:
# a hold made behind a table lock lasts its minutes from its writing.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_stale_holds

ORG=0f420000-0000-4000-8000-000000000000
V=0f420000-0000-4000-8000-0000000000f1
S=0f420000-0000-4000-8000-0000000005a1
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES ('$ORG', 'Holds', 'stale-holds', 'UTC');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES ('$V', '$ORG', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('$S', '$ORG', '$V', 'Room', '60 minutes', '60 minutes', '30 days');
CREATE TABLE gate (round int);
-- the slot of hour h, two days ahead
CREATE FUNCTION slot(h int) RETURNS tstzrange LANGUAGE sql AS \$\$
	SELECT tstzrange(date_trunc('day', now()) + interval '2 days' + h * interval '1 hour',
					 date_trunc('day', now()) + interval '2 days' + (h + 1) * interval '1 hour')
\$\$;
SQL

# round 1: A confirms an expired hold; round 2: A extends one
round() {	# $1 round, $2 hour, $3 A's update
	local hold=0f420000-0000-4000-8000-0000000000b$1
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector.bookings
		(id, organization_id, venue_id, service_id, during, status, hold_expires_at)
		VALUES ('$hold', '$ORG', '$V', '$S', slot($2), 'held', clock_timestamp() + interval '1 second')"
	psql -X -d "$DB" >"$WORK/a$1.log" 2>&1 <<SQL &
BEGIN;
SELECT 'A began while the hold was alive: ' || (now() < (SELECT hold_expires_at FROM protector.bookings WHERE id = '$hold'));
DO \$\$ BEGIN WHILE NOT EXISTS (SELECT FROM gate WHERE round = $1) LOOP PERFORM pg_sleep(0.01); END LOOP; END \$\$;
$3 WHERE id = '$hold';
COMMIT;
SQL
	local a=$!
	# B begins after the hold expired: for B it no longer occupies its slot
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" \
		-c "SELECT pg_sleep(extract(epoch FROM hold_expires_at - clock_timestamp()) + 0.2)
			FROM protector.bookings WHERE id = '$hold'" \
		-c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
			VALUES ('$ORG', '$V', '$S', slot($2), 'confirmed')" >/dev/null
	psql -X -q -d "$DB" -c "INSERT INTO gate VALUES ($1)"
	wait "$a" || true
}
round 1 10 "UPDATE protector.bookings SET status = 'confirmed', hold_expires_at = NULL"
round 2 12 "UPDATE protector.bookings SET hold_expires_at = now() + interval '1 hour'"

# round 3: B's booking [13:00, 16:00) contains the expired hold H [14:00,
# 15:00); A, which still counts H, books [15:00, 16:00).  The exclusive
# service's check steps back from 16:00 to the last booking starting
# before it: that is H, which ends at 15:00, and behind it lies B's
# booking.  (A review found A's booking stored: a hold A counts but that
# has expired by now may be contained in a later booking, so it decides
# nothing.)
hold3=0f420000-0000-4000-8000-0000000000b3
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector.bookings
	(id, organization_id, venue_id, service_id, during, status, hold_expires_at)
	VALUES ('$hold3', '$ORG', '$V', '$S', slot(14), 'held', clock_timestamp() + interval '1 second')"
psql -X -d "$DB" >"$WORK/a3.log" 2>&1 <<SQL &
BEGIN;
SELECT 'A began while the hold was alive: ' || (now() < (SELECT hold_expires_at FROM protector.bookings WHERE id = '$hold3'));
DO \$\$ BEGIN WHILE NOT EXISTS (SELECT FROM gate WHERE round = 3) LOOP PERFORM pg_sleep(0.01); END LOOP; END \$\$;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
VALUES ('$ORG', '$V', '$S', slot(15), 'confirmed');
COMMIT;
SQL
a3=$!
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" \
	-c "SELECT pg_sleep(extract(epoch FROM hold_expires_at - clock_timestamp()) + 0.2)
		FROM protector.bookings WHERE id = '$hold3'" \
	-c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
		VALUES ('$ORG', '$V', '$S', tstzrange(lower(slot(13)), upper(slot(15))), 'confirmed')" >/dev/null
psql -X -q -d "$DB" -c "INSERT INTO gate VALUES (3)"
wait "$a3" || true

# round 4: a hold made while the table is locked (DDL on bookings) lasts
# its minute from its row's writing, after the wait: its end was counted
# before the wait, and a wait of a minute stored a hold already over
# (a clock review)
PGAPPNAME=locker psql -X -q -d "$DB" -c "BEGIN" -c "LOCK TABLE protector.bookings IN SHARE MODE" \
	-c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null &
locker=$!
wait_session locker "query LIKE 'SELECT pg_sleep%'"
held_after_wait=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
SELECT protector.hold_slot('$S', NULL, lower(slot(18)), 1, 1) ->> 'id' AS hold, statement_timestamp() AS asked \gset
SELECT hold_expires_at - :'asked'::timestamptz >= interval '1 minute 2 seconds' FROM protector.bookings WHERE id = :'hold';
SQL
)
wait "$locker"

fail=0
if [ "$held_after_wait" != t ]; then
	echo "round 4: a hold made behind a table lock was counted from before the wait ($held_after_wait)"; fail=1
fi
for r in 1 2 3; do
	if ! grep -q "A began while the hold was alive: true" "$WORK/a$r.log"; then
		echo "round $r: A did not begin while the hold was alive:"; cat "$WORK/a$r.log"; fail=1
	fi
	if ! grep -q "ERROR:  .*already booked\|ERROR:  .*conflict\|23P01" "$WORK/a$r.log"; then
		echo "round $r: A's write over B's booking was not refused:"; cat "$WORK/a$r.log"; fail=1
	fi
done
overlaps=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings a JOIN protector.bookings b
	ON a.service_id = b.service_id AND a.id < b.id AND a.during && b.during
	WHERE a.status NOT IN ('cancelled', 'no_show') AND b.status NOT IN ('cancelled', 'no_show')
	  AND (a.status <> 'held' OR a.hold_expires_at > now()) AND (b.status <> 'held' OR b.hold_expires_at > now())")
if [ "$overlaps" != 0 ]; then
	echo "$overlaps pairs of occupying bookings overlap:"
	psql -X -d "$DB" -c "SELECT id, status, during, hold_expires_at FROM protector.bookings ORDER BY lower(during), id"
	fail=1
fi
[ "$fail" = 0 ] && echo "stale holds: an expired hold is neither confirmed nor extended over a later booking, nor hides one"
exit "$fail"
