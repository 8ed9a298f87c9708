#!/usr/bin/env bash
# test/concurrency/widget_visitors.sh — many visitors at the widget at once.
# One greedy visitor fires from 6 sessions (same e-mail, 4 attempts each,
# half of them from one client address), while 4 other visitors book 2
# slots each from their own sessions and addresses, all released by one
# gate.  The greedy visitor must end with exactly the per-visitor limit
# (3 an hour) and 53400 for every other attempt; every other visitor gets
# every booking; nothing else fails.  Then 5 visitors with different
# e-mails behind one address: exactly the per-address limit (4) gets
# through.  Runs inside the throwaway cluster of scripts/test.sh.
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
fresh_database protector_widget_visitors

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
INSERT INTO protector.organizations (id, name, slug) VALUES ('0f200000-0000-4000-8000-000000000000', 'W', 'widget-race');
INSERT INTO protector.venues (id, organization_id, name, timezone, widget_settings)
VALUES ('0f200000-0000-4000-8000-0000000000f1', '0f200000-0000-4000-8000-000000000000', 'V', 'UTC',
		'{"visitor_bookings_per_hour": 3, "address_bookings_per_hour": 4, "bookings_per_minute": 1000}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0f200000-0000-4000-8000-0000000000a1', '0f200000-0000-4000-8000-000000000000',
		'0f200000-0000-4000-8000-0000000000f1', 'Room', '60 minutes', '60 minutes', '30 days');
CREATE TABLE gate (open boolean);
GRANT SELECT ON gate TO anon;
SQL
KEY=$(psql -X -A -t -d "$DB" -c "SELECT embed_key FROM protector.venues")

# client <n> <email> <address> <first hour> <attempts>: every attempt at its
# own hour (no slot conflicts), as anon with PostgREST's request.headers
client() {
	{
		echo '\set VERBOSITY sqlstate'
		echo '\pset tuples_only on'
		echo "SET ROLE anon;"
		echo "DO \$\$ BEGIN WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.005); END LOOP; END \$\$;"
		for a in $(seq 0 $(($5 - 1))); do
			echo "BEGIN;"
			echo "SELECT set_config('request.headers', '{\"x-forwarded-for\": \"$3\"}', true);"
			echo "SELECT 'booked ' || (protector.create_widget_booking('$KEY', '0f200000-0000-4000-8000-0000000000a1',
				'Visitor', '$2', NULL, date_trunc('day', now()) + interval '2 days' + interval '$(($4 + a)) hours') ->> 'id');"
			echo "COMMIT;"
		done
	} >"$WORK/client$1.sql"
}

run_round() {
	local pids=()
	for f in "$WORK"/client*.sql; do
		n=$(basename "$f" .sql)
		PGAPPNAME=$n psql -X -q -d "$DB" -f "$f" >"$WORK/$n.out" 2>"$WORK/$n.err" &
		pids+=($!)
	done
	# (until every client waits at the gate)
	for f in "$WORK"/client*.sql; do
		wait_session "$(basename "$f" .sql)" "query LIKE '%FROM gate)%'"
	done
	psql -X -q -d "$DB" -c "INSERT INTO gate VALUES (true)"
	for p in "${pids[@]}"; do wait "$p" || true; done
}

count() { cat "$WORK"/client"$1"*.out 2>/dev/null | grep -c 'booked ' || true; }
refused() { cat "$WORK"/client"$1"*.err 2>/dev/null | grep -cE 'ERROR: +53400$' || true; }

failures=0
# round 1: one greedy visitor against four ordinary ones
for s in 1 2 3 4 5 6; do
	addr=$([ "$s" -le 3 ] && echo "203.0.113.1" || echo "203.0.113.$((10 + s))")
	client "g$s" "greedy@example.com" "$addr" $((s * 10)) 4
done
for v in 1 2 3 4; do
	client "v$v" "visitor$v@example.com" "198.51.100.$v" $((100 + v * 10)) 2
done
run_round
greedy=$(count g)
greedy_refused=$(refused g)
others=$(count v)
unexpected=$(cat "$WORK"/client*.err | grep -vE 'ERROR: +53400$' | grep -v '^$' || true)
echo "greedy visitor: $greedy booked, $greedy_refused refused (24 attempts); others: $others booked (8 attempts)"
if [ "$greedy" -ne 3 ] || [ "$greedy_refused" -ne 21 ]; then
	echo "PER-VISITOR LIMIT BROKEN: want 3 booked and 21 refused"; failures=$((failures + 1))
fi
if [ "$others" -ne 8 ]; then
	echo "ONE VISITOR EXHAUSTED THE VENUE: the others booked $others of 8"; failures=$((failures + 1))
fi
if [ -n "$unexpected" ]; then echo "unexpected errors:"; echo "$unexpected" | head -5; failures=$((failures + 1)); fi

# round 2: five e-mails behind one address, at once
rm -f "$WORK"/client*
psql -X -q -d "$DB" -c "TRUNCATE gate"
for e in 1 2 3 4 5; do
	client "a$e" "shared$e@example.com" "192.0.2.55" $((200 + e * 10)) 1
done
run_round
shared=$(count a)
echo "one address, five e-mails: $shared booked"
if [ "$shared" -ne 4 ] || [ "$(refused a)" -ne 1 ]; then
	echo "PER-ADDRESS LIMIT BROKEN: want 4 booked and 1 refused"; failures=$((failures + 1))
fi
dropdb "$DB"
[ "$failures" -eq 0 ]
