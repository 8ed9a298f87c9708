#!/usr/bin/env bash
# test/concurrency/service_mode.sh — making a shared service exclusive
# races a booking that overlaps one it already has, from two sessions, in
# both orders and under READ COMMITTED and REPEATABLE READ.  Whichever
# takes the service's lock first wins and the other is refused with 23P01
# (or, a booking under REPEATABLE READ, told to retry with 40001, and
# refused on the retry): never an exclusive service left with overlapping
# bookings.  And a booking arriving while the desk holds the service row
# FOR UPDATE to change its mode waits without deadlocking.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
fresh_database protector_service_mode

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
INSERT INTO protector.organizations (id, name, slug) VALUES ('0f200000-0000-4000-8000-000000000000', 'Mode', 'mode');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0f200000-0000-4000-8000-0000000000f1', '0f200000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party, duration)
VALUES ('0f200000-0000-4000-8000-0000000000a1', '0f200000-0000-4000-8000-000000000000',
		'0f200000-0000-4000-8000-0000000000f1', 'Tour', 'shared', 5, 1, '60 minutes');
SQL

SERVICE=0f200000-0000-4000-8000-0000000000a1
BOOK_SQL="INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	VALUES ('0f200000-0000-4000-8000-000000000000', '0f200000-0000-4000-8000-0000000000f1', '$SERVICE',
			tstzrange(date_trunc('day', now()) + interval '2 days 10:30', date_trunc('day', now()) + interval '2 days 11:30'));"
MODE_SQL="UPDATE protector.services SET mode = 'exclusive' WHERE id = '$SERVICE';"

reset() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SET client_min_messages = warning" \
		-c "UPDATE protector.services SET mode = 'shared' WHERE id = '$SERVICE'" \
		-c "TRUNCATE protector.bookings CASCADE" \
		-c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
			VALUES ('0f200000-0000-4000-8000-000000000000', '0f200000-0000-4000-8000-0000000000f1', '$SERVICE',
					tstzrange(date_trunc('day', now()) + interval '2 days 10:00', date_trunc('day', now()) + interval '2 days 11:00'))" >/dev/null
}

# runs $2 in a transaction at isolation $1 that holds on for 3 s after it;
# prints its SQLSTATE (or "ok") to $3
hold() {
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >"$3" 2>&1 <<SQL || true
\set VERBOSITY sqlstate
BEGIN ISOLATION LEVEL $1;
$2
SELECT pg_sleep(3);
COMMIT;
SQL
}

# runs $2 at isolation $1 and prints "ok" or its SQLSTATE (its message
# and detail, without the SQL, go to $WORK/message)
run() {
	if out=$(psql -X -q -d "$DB" -v ON_ERROR_STOP=1 2>&1 <<SQL
\set VERBOSITY verbose
BEGIN ISOLATION LEVEL $1;
$2
COMMIT;
SQL
	); then echo ok; else
		grep -E '^(ERROR|DETAIL)' <<<"$out" | sed 's/^ERROR:  [0-9A-Z]\{5\}: /ERROR:  /' >"$WORK/message"
		grep -oE '^ERROR:  [0-9A-Z]{5}' <<<"$out" | grep -oE '[0-9A-Z]{5}$' | tail -1
	fi
}

# waits until some session holds the service's reservation lock
wait_for_lock() {
	for _ in $(seq 1 100); do
		held=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
			AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = protector.service_lock_key('$SERVICE') AND granted")
		[ "$held" = 1 ] && return 0
		sleep 0.05
	done
	echo "no session took the service's lock" >&2
	return 1
}

state() {
	psql -X -A -t -d "$DB" -c "SELECT s.mode || ' ' || count(b.id) FROM protector.services s
		LEFT JOIN protector.bookings b ON b.service_id = s.id WHERE s.id = '$SERVICE' GROUP BY s.mode"
}

failures=0
check() {	# $1 what, $2 expected, $3 got
	if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAILED: $1: expected '$2', got '$3'"; failures=$((failures + 1)); fi
}

for level in "read committed" "repeatable read"; do
	# the mode change first: the booking waits for it, then meets an exclusive service
	reset
	hold "$level" "$MODE_SQL" "$WORK/first" &
	wait_for_lock
	got=$(run "$level" "$BOOK_SQL")
	wait
	if [ "$level" = "read committed" ]; then
		check "$level, mode change first: the booking is refused" 23P01 "$got"
	else
		# its snapshot still shows a shared service: retry, and then refused
		check "$level, mode change first: the booking is told to retry" 40001 "$got"
		# ... naming the service's change, not a booking alone: that one was
		# there before the transaction began
		check "$level, mode change first: the retry names the service's change" \
			"ERROR:  service \"Tour\" was changed or booked concurrently" "$(grep '^ERROR' "$WORK/message")"
		check "$level, mode change first: the retried booking is refused" 23P01 "$(run "$level" "$BOOK_SQL")"
	fi
	check "$level, mode change first: the mode change commits" "" "$(grep -oE '[0-9A-Z]{5}' "$WORK/first" || true)"
	check "$level, mode change first: exclusive with one booking" "exclusive 1" "$(state)"

	# the booking first: the mode change waits for it, then sees the overlap
	reset
	hold "$level" "$BOOK_SQL" "$WORK/first" &
	wait_for_lock
	got=$(run "$level" "$MODE_SQL")
	wait
	check "$level, booking first: the mode change is refused" 23P01 "$got"
	check "$level, booking first: the booking commits" "" "$(grep -oE '[0-9A-Z]{5}' "$WORK/first" || true)"
	check "$level, booking first: shared with two bookings" "shared 2" "$(state)"
done

# The desk's way (update_service): the service row locked FOR UPDATE, then
# the mode change, which takes the service's lock.  A booking arriving in
# between waits for the row (its foreign key) before it takes the
# service's lock, so nobody deadlocks (40P01): the booking then meets an
# exclusive service (23P01), or under REPEATABLE READ a changed one
# (40001).  (A precheck that took the service's lock before the insert
# would deadlock here.)
DESK_SQL="SELECT 1 FROM protector.services WHERE id = '$SERVICE' FOR UPDATE;
SELECT pg_sleep(2);
$MODE_SQL"
for level in "read committed" "repeatable read"; do
	reset
	hold "$level" "$DESK_SQL" "$WORK/desk" &
	for _ in $(seq 1 100); do
		[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(2);' AND wait_event = 'PgSleep'")" = 1 ] && break
		sleep 0.05
	done
	run "$level" "$BOOK_SQL" >"$WORK/booking" &
	waited=no
	for _ in $(seq 1 30); do
		if [ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%INSERT INTO protector.bookings%' AND wait_event_type = 'Lock'")" = 1 ]; then
			waited=yes; break
		fi
		sleep 0.05
	done
	wait
	check "$level, desk holds the service row: the booking waited for it" yes "$waited"
	check "$level, desk holds the service row: the mode change commits" "" "$(grep -oE '[0-9A-Z]{5}' "$WORK/desk" || true)"
	if [ "$level" = "read committed" ]; then
		check "$level, desk holds the service row: the booking is refused" 23P01 "$(cat "$WORK/booking")"
	else
		check "$level, desk holds the service row: the booking is told to retry" 40001 "$(cat "$WORK/booking")"
	fi
	check "$level, desk holds the service row: exclusive with one booking" "exclusive 1" "$(state)"
done

dropdb "$DB"
[ "$failures" -eq 0 ]
