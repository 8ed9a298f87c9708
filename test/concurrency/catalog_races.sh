#!/usr/bin/env bash
# test/concurrency/catalog_races.sh — the catalog's rules hold between
# sessions, as a review of the thirty-second stop found they did not:
#   - a waiver retired while a service is pointed at it: round 1 retires
#     first, round 2 points first; either way no service may end up asking
#     for a retired waiver (the service share-locks the waiver's row);
#   - an organization's currency changed while a service in it is being
#     created (round 3): the change waits for the service's foreign-key
#     lock, then sees the service and is refused;
#   - a venue deleted while it is being updated (round 4) or given a
#     service (round 5): each waits for the deletion and is told the venue
#     is not found (they went on, and brought the deleted venue back
#     active, with a new service; the row's lock re-checked only its id);
#   - the same written directly to the tables: a venue deleted while it is
#     set active (round 6) or given a service (round 7): refused after the
#     wait (keep_deleted_venue), 22023 and P0002;
#   - (an attack review of the fifty-fourth stop) an organization without
#     services changing its currency while its first service is created
#     without one (round 8): the service read the old currency, its key
#     then waited for the change, and it kept the old currency, left out
#     of every report; it now waits for the change and takes the new one.
# Each round holds the first session's transaction open at a gate while
# the second starts, then lets it commit.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_catalog_races

ORG=0f550000-0000-4000-8000-000000000000
V=0f550000-0000-4000-8000-0000000000f1
S=0f550000-0000-4000-8000-0000000005a1
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES ('$ORG', 'Races', 'catalog-races', 'UTC', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES ('$V', '$ORG', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, currency)
VALUES ('$S', '$ORG', '$V', 'Room', '60 minutes', '60 minutes', 'USD');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0f550000-0000-4000-8000-0000000000f2', '$ORG', 'Going', 'UTC', '{}'),
	('0f550000-0000-4000-8000-0000000000f3', '$ORG', 'Going too', 'UTC', '{}'),
	('0f550000-0000-4000-8000-0000000000f4', '$ORG', 'Going three', 'UTC', '{}'),
	('0f550000-0000-4000-8000-0000000000f5', '$ORG', 'Going four', 'UTC', '{}');
INSERT INTO protector.waivers (id, organization_id, name) VALUES
	('0f550000-0000-4000-8000-0000000000a1', '$ORG', 'One'), ('0f550000-0000-4000-8000-0000000000a2', '$ORG', 'Two');
INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0f550000-0000-4000-8000-00000000000b', 'Races too', 'catalog-races-too', 'UTC', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0f550000-0000-4000-8000-0000000000fb', '0f550000-0000-4000-8000-00000000000b', 'W', 'UTC', '{}');
CREATE TABLE gate (round int);
SQL

# $1 round, $2 the first session's statement (held open), $3 the second's
race() {
	psql -X -d "$DB" >"$WORK/first$1.log" 2>&1 <<SQL &
BEGIN;
$2;
DO \$\$ BEGIN WHILE NOT EXISTS (SELECT FROM gate WHERE round IN ($1, 0)) LOOP PERFORM pg_sleep(0.01); END LOOP; END \$\$;
COMMIT;
SQL
	local first=$!
	# the second starts once the first holds its row locks (waiting at
	# the gate), and the gate opens once the second waits for them: a
	# round whose sessions did not meet fails, rather than pass untested
	wait_for "round $1: the first session at the gate" \
		"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%FROM gate%'
			AND state = 'active' AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
	psql -X -d "$DB" >"$WORK/second$1.log" 2>&1 -c "$3" &
	local second=$!
	wait_for "round $1: the second session waiting for the first's lock" \
		"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
			AND pid <> pg_backend_pid()"
	psql -X -q -d "$DB" -c "INSERT INTO gate VALUES ($1)"
	wait "$first" || true
	wait "$second" || true
}
# wait_for WHAT QUERY: until the count QUERY answers is not 0, at most 30 s
wait_for() {
	local i
	for i in $(seq 1 600); do
		if [ "$(psql -X -A -t -d "$DB" -c "$2")" != 0 ]; then
			return 0
		fi
		sleep 0.05
	done
	echo "$1: not seen within 30 s"
	psql -X -q -d "$DB" -c "INSERT INTO gate VALUES (0)" -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()" >/dev/null 2>&1 || true
	exit 1
}
race 1 "UPDATE protector.waivers SET active = false WHERE name = 'One'" \
	"UPDATE protector.services SET waiver_id = '0f550000-0000-4000-8000-0000000000a1' WHERE id = '$S'"
race 2 "UPDATE protector.services SET waiver_id = '0f550000-0000-4000-8000-0000000000a2' WHERE id = '$S'" \
	"UPDATE protector.waivers SET active = false WHERE name = 'Two'"
race 3 "INSERT INTO protector.services (organization_id, venue_id, name, duration, slot_interval)
		VALUES ('$ORG', '$V', 'Late', '60 minutes', '60 minutes')" \
	"UPDATE protector.organizations SET currency = 'GBP' WHERE id = '$ORG'"
race 4 "SELECT protector.delete_venue('0f550000-0000-4000-8000-0000000000f2')" \
	"SELECT protector.update_venue('0f550000-0000-4000-8000-0000000000f2', '{\"active\": true}')"
race 5 "SELECT protector.delete_venue('0f550000-0000-4000-8000-0000000000f3')" \
	"SELECT protector.create_service('0f550000-0000-4000-8000-0000000000f3', 'Born late', '60 minutes')"
race 6 "SELECT protector.delete_venue('0f550000-0000-4000-8000-0000000000f4')" \
	"UPDATE protector.venues SET active = true WHERE id = '0f550000-0000-4000-8000-0000000000f4'"
race 7 "SELECT protector.delete_venue('0f550000-0000-4000-8000-0000000000f5')" \
	"INSERT INTO protector.services (organization_id, venue_id, name, duration, slot_interval)
		VALUES ('$ORG', '0f550000-0000-4000-8000-0000000000f5', 'Born late', '60 minutes', '60 minutes')"
race 8 "UPDATE protector.organizations SET currency = 'USD' WHERE id = '0f550000-0000-4000-8000-00000000000b'" \
	"INSERT INTO protector.services (organization_id, venue_id, name, duration, slot_interval)
		VALUES ('0f550000-0000-4000-8000-00000000000b', '0f550000-0000-4000-8000-0000000000fb', 'First', '60 minutes', '60 minutes')"

fail=0
stuck=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.services s JOIN protector.waivers w ON w.id = s.waiver_id
	WHERE NOT w.active")
if [ "$stuck" != 0 ]; then
	echo "a service asks for a retired waiver:"
	psql -X -d "$DB" -c "SELECT s.name, w.name, w.active FROM protector.services s JOIN protector.waivers w ON w.id = s.waiver_id"
	cat "$WORK"/first1.log "$WORK"/second1.log "$WORK"/first2.log "$WORK"/second2.log; fail=1
fi
for r in 1 2; do
	if ! grep -q "ERROR:  .*retired" "$WORK/second$r.log"; then
		echo "round $r: the second session was not refused:"; cat "$WORK/first$r.log" "$WORK/second$r.log"; fail=1
	fi
done
mixed=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.services s JOIN protector.organizations o ON o.id = s.organization_id
	WHERE s.currency <> o.currency AND s.currency = 'EUR'")
if [ "$mixed" != 0 ] || ! grep -q "ERROR:  .*currency cannot change from EUR" "$WORK/second3.log"; then
	echo "round 3: the currency changed under a service being created in it:"
	cat "$WORK/first3.log" "$WORK/second3.log"; fail=1
fi
for r in 4 5; do
	if ! grep -q "ERROR:  venue not found" "$WORK/second$r.log"; then
		echo "round $r: the second session went on with a venue being deleted:"; cat "$WORK/first$r.log" "$WORK/second$r.log"; fail=1
	fi
done
if ! grep -q "ERROR:  a deleted venue stays inactive" "$WORK/second6.log"; then
	echo "round 6: a venue being deleted was set active:"; cat "$WORK/first6.log" "$WORK/second6.log"; fail=1
fi
if ! grep -q "ERROR:  venue not found" "$WORK/second7.log"; then
	echo "round 7: a venue being deleted was given a service:"; cat "$WORK/first7.log" "$WORK/second7.log"; fail=1
fi
back=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.venues v WHERE v.deleted_at IS NOT NULL
	AND (v.active OR EXISTS (SELECT FROM protector.services s WHERE s.venue_id = v.id))")
if [ "$back" != 0 ]; then
	echo "rounds 4 to 7: a deleted venue is active or has a service"; fail=1
fi
took=$(psql -X -A -t -d "$DB" -c "SELECT s.currency || ' ' || o.currency FROM protector.services s
	JOIN protector.organizations o ON o.id = s.organization_id WHERE s.name = 'First'")
if [ "$took" != "USD USD" ]; then
	echo "round 8: a service created during its organization's currency change took '$took' (service, organization):"
	cat "$WORK/first8.log" "$WORK/second8.log"; fail=1
fi
[ "$fail" = 0 ] && echo "catalog races: no service asks for a retired waiver; no currency changes under a service going in; a deleted venue is not changed"
exit "$fail"
