#!/usr/bin/env bash
# test/concurrency/widget_retries.sh — a visitor's retry racing its first
# request. Two sessions send the same 1,000 visitors' requests, each with its
# own request key, in the same order at the same time, at a venue that
# takes one booking an hour from a visitor: every visitor gets exactly one
# booking, and every second request is answered with it (replayed), never
# refused. Before, a retry whose first request committed between the
# widget's lock-free replay and its lock-free count was refused (53400):
# about 1 to 4 in 2,000 such requests (so a run of the old code
# did not always catch it). Runs inside the throwaway cluster of
# scripts/test.sh.
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
fresh_database protector_widget_retries

ORG=0f670000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'R', 'widget-retries');
INSERT INTO protector.venues (id, organization_id, name, timezone, widget_settings)
VALUES ('0f670000-0000-4000-8000-0000000000f1', '$ORG', 'V', 'UTC',
		'{"auto_confirm": true, "visitor_bookings_per_hour": 1, "bookings_per_minute": 100000}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, mode, capacity, max_party)
VALUES ('0f670000-0000-4000-8000-0000000005a1', '$ORG', '0f670000-0000-4000-8000-0000000000f1', 'S', '60 minutes', '60 minutes',
		'30 days', 'shared', 100000, 4);
CREATE TABLE gate (open boolean);
CREATE TABLE answers (session int, visitor int, answer text);
SQL
KEY=$(psql -X -A -t -d "$DB" -c "SELECT embed_key FROM protector.venues")

session() {
	PGAPPNAME=session$1 psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/s$1.out" 2>&1 <<SQL
DO \$\$ BEGIN WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.005); END LOOP; END \$\$;
DO \$\$
DECLARE
	v jsonb;
BEGIN
	FOR i IN 1..1000 LOOP
		BEGIN
			v := protector.create_widget_booking('$KEY', '0f670000-0000-4000-8000-0000000005a1', 'Visitor',
				'visitor' || i || '@example.com', NULL, date_trunc('day', now()) + interval '2 days 10 hours', 1, 'order-' || i);
			INSERT INTO answers VALUES ($1, i, CASE WHEN (v ->> 'replayed')::boolean THEN 'replayed' ELSE 'booked' END);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO answers VALUES ($1, i, SQLSTATE || ' ' || SQLERRM);
		END;
		COMMIT;
	END LOOP;
END
\$\$;
SQL
}
session 1 & one=$!
session 2 & two=$!
# (until both wait at the gate)
wait_session session1 "query LIKE '%FROM gate)%'"
wait_session session2 "query LIKE '%FROM gate)%'"
psql -X -q -d "$DB" -c "INSERT INTO gate VALUES (true)"
wait "$one" "$two"

failures=0
refused=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM answers WHERE answer NOT IN ('booked', 'replayed')")
shapes=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM (SELECT visitor FROM answers GROUP BY visitor
	HAVING count(*) FILTER (WHERE answer = 'booked') <> 1 OR count(*) FILTER (WHERE answer = 'replayed') <> 1) x")
bookings=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings")
echo "2,000 requests of 1,000 visitors: $refused refused, $shapes visitors not booked once and replayed once, $bookings bookings"
psql -X -A -t -d "$DB" -c "SELECT answer FROM answers WHERE answer NOT IN ('booked', 'replayed') LIMIT 3"
[ "$refused" = 0 ] && [ "$shapes" = 0 ] && [ "$bookings" = 1000 ] || failures=$((failures + 1))
dropdb "$DB"
[ "$failures" -eq 0 ]
