#!/usr/bin/env bash
# test/concurrency/moved_rows.sh — a row an UPDATE moves to another
# organization leaves the old one's view: its channel hears a DELETE of the
# row, the new one's the UPDATE (docs/realtime.md).  A booking without a
# review task (a completed one, recorded afterwards) is moved from A to B
# while a session LISTENs on both channels; a booking staying in A is
# updated in the same statement and announced to A as an UPDATE only.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_moved_rows

A=0f430000-0000-4000-8000-00000000000a
B=0f430000-0000-4000-8000-00000000000b
MOVED=0f430000-0000-4000-8000-0000000000b1
STAYS=0f430000-0000-4000-8000-0000000000b2
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES ('$A', 'A', 'moved-a', 'UTC'), ('$B', 'B', 'moved-b', 'UTC');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0f430000-0000-4000-8000-0000000000fa', '$A', 'VA', 'UTC', '{}'), ('0f430000-0000-4000-8000-0000000000fb', '$B', 'VB', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration) VALUES
	('0f430000-0000-4000-8000-0000000005aa', '$A', '0f430000-0000-4000-8000-0000000000fa', 'SA', '1 hour'),
	('0f430000-0000-4000-8000-0000000005ab', '$B', '0f430000-0000-4000-8000-0000000000fb', 'SB', '1 hour');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
SELECT b, '$A', '0f430000-0000-4000-8000-0000000000fa', '0f430000-0000-4000-8000-0000000005aa',
	   tstzrange(date_trunc('day', now()) - interval '2 days' + h * interval '1 hour',
				 date_trunc('day', now()) - interval '2 days' + (h + 1) * interval '1 hour'), 'completed'
FROM (VALUES ('$MOVED'::uuid, 1), ('$STAYS'::uuid, 3)) v(b, h);
SQL
[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.tasks")" = 0 ] || { echo "the completed bookings got tasks"; exit 1; }

PGAPPNAME=listener psql -X -d "$DB" >"$WORK/listener.log" 2>&1 <<SQL &
LISTEN protector_${A//-/};
LISTEN protector_${B//-/};
SELECT pg_sleep(4);
SQL
listener=$!
# (until the listener sleeps: its LISTENs are done)
wait_session listener "query LIKE 'SELECT pg_sleep%'"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "UPDATE protector.bookings SET
	organization_id = CASE WHEN id = '$MOVED' THEN '$B'::uuid ELSE organization_id END,
	venue_id = CASE WHEN id = '$MOVED' THEN '0f430000-0000-4000-8000-0000000000fb'::uuid ELSE venue_id END,
	service_id = CASE WHEN id = '$MOVED' THEN '0f430000-0000-4000-8000-0000000005ab'::uuid ELSE service_id END,
	details = jsonb_build_object('moved', true)
	WHERE id IN ('$MOVED', '$STAYS')"
wait "$listener"

heard() {	# $1 channel org, $2 op, $3 id -> count
	grep -c "^Asynchronous notification \"protector_${1//-/}\" with payload \"{\"op\":\"$2\",\"table\":\"bookings\",\"id\":\"$3\"" "$WORK/listener.log" || true
}
failures=0
expect() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (expected $2, got $3)"; failures=$((failures + 1)); fi; }
expect "A hears the moved booking's DELETE" 1 "$(heard "$A" DELETE "$MOVED")"
expect "B hears the moved booking's UPDATE" 1 "$(heard "$B" UPDATE "$MOVED")"
expect "A hears no UPDATE of the moved booking" 0 "$(heard "$A" UPDATE "$MOVED")"
expect "A hears the booking that stayed as an UPDATE" 1 "$(heard "$A" UPDATE "$STAYS")"
expect "... and no DELETE of it" 0 "$(heard "$A" DELETE "$STAYS")"
expect "B hears nothing of the booking that stayed" 0 "$(grep -c "protector_${B//-/}.*$STAYS" "$WORK/listener.log" || true)"
[ "$failures" -eq 0 ] || cat "$WORK/listener.log"
dropdb "$DB"
[ "$failures" -eq 0 ]
