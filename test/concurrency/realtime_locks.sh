#!/usr/bin/env bash
# test/concurrency/realtime_locks.sh — a booking's Supabase Realtime
# broadcast waits for realtime.messages no longer than protector.lock_timeout.
# Another session holds the table (a migration's SHARE lock, as a partition
# change of Realtime's would): a booking with protector.lock_timeout =
# 300 ms is refused with a retryable 40001 naming the table, within a few
# seconds (it waited without end: a review); no booking, task or message is
# left of it.  Once the holder commits, the same booking goes through and
# is broadcast.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
fresh_database protector_realtime_locks
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "DROP EXTENSION protector" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SET client_min_messages = warning" \
	-f "$(dirname "$0")/../fixtures/supabase.sql" -c "CREATE EXTENSION protector CASCADE" \
	-c "SELECT protector.enable_realtime()" >/dev/null 2>"$WORK/setup.err" || { cat "$WORK/setup.err"; exit 1; }
ORG=0f700000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'A', 'a');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0f700000-0000-4000-8000-0000000000f1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0f700000-0000-4000-8000-0000000000a1', '$ORG', '0f700000-0000-4000-8000-0000000000f1',
		'Room', '60 minutes', '60 minutes', '30 days');
SQL
book() {	# one booking, as the superuser; prints its error or "ok"
	psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=default \
		-c "SET protector.lock_timeout = 300" \
		-c "INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during)
			VALUES ('0f700000-0000-4000-8000-00000000b001', '$ORG', '0f700000-0000-4000-8000-0000000000f1',
					'0f700000-0000-4000-8000-0000000000a1',
					tstzrange(date_trunc('hour', now()) + interval '2 days', date_trunc('hour', now()) + interval '2 days 1 hour'))" \
		2>&1 >/dev/null | head -1 || true
}

PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" -c "LOCK realtime.messages IN SHARE MODE" \
	-c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
holder=$!
wait_session holder "query LIKE 'SELECT pg_sleep%'"

failures=0
expect() {	# $1 = description, $2 = expected, $3 = actual
	if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (expected $2, got $3)"; failures=$((failures + 1)); fi
}
started=$(date +%s)
out=$(timeout 20 bash -c "$(declare -f book); DB=$DB ORG=$ORG book" || echo "timed out")
took=$(($(date +%s) - started))
expect "a booking while realtime.messages is held is refused with the busy error" \
	"ERROR:  Supabase Realtime's table realtime.messages is busy, try again" "$out"
expect "... within 5 s (it waited ${took} s; the holder holds 30 s)" 1 "$([ "$took" -lt 5 ] && echo 1 || echo 0)"
expect "... and left no booking, task or message" "0 0 0" "$(psql -X -A -t -d "$DB" -c "SELECT
	(SELECT count(*) FROM protector.bookings) || ' ' || (SELECT count(*) FROM protector.tasks) || ' ' ||
	(SELECT count(*) FROM realtime.messages)")"
state=$(psql -X -A -t -d "$DB" -v VERBOSITY=sqlstate -c "SET protector.lock_timeout = 300" -c "INSERT INTO protector.bookings
	(organization_id, venue_id, service_id, during) VALUES ('$ORG', '0f700000-0000-4000-8000-0000000000f1',
	'0f700000-0000-4000-8000-0000000000a1', tstzrange(date_trunc('hour', now()) + interval '3 days',
	date_trunc('hour', now()) + interval '3 days 1 hour'))" 2>&1 >/dev/null | head -1 || true)
expect "... as a retryable 40001" "ERROR:  40001" "$state"

end_session holder
wait "$holder" || true
expect "once the holder is gone, the same booking goes through" "" "$(book)"
expect "... and is broadcast" 1 "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM realtime.messages
	WHERE payload::text LIKE '%0f700000-0000-4000-8000-00000000b001%'")"
dropdb "$DB"
[ "$failures" -eq 0 ]
