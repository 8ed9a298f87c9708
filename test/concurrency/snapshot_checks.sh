#!/usr/bin/env bash
# test/concurrency/snapshot_checks.sh — checks that wait for a lock, or run
# after another transaction committed, under REPEATABLE READ.  Session A
# takes its snapshot, session B commits a change A's check must see, and
# then A makes its change.  A's snapshot does not show B's row, so each
# check asks again under the latest snapshot and A is told to retry
# (40001) rather than:
#   * changing a waiver version that B signed (a signature no longer
#     matching its text);
#   * deactivating a member B gave an open task (a deactivated member
#     left with work);
#   * booking through the widget as the visitor B just booked for (a
#     second customer record, the visitor's limits not counted), also when
#     B's booking pruned an old request and left the count as it was;
#   * sending a second manual reminder within 10 minutes of B's.
# Under READ COMMITTED A sees B's row and is refused as usual (or, for
# the deactivation, releases the task too).  And a member's shift and
# their venue's unassignment, written at the same moment under READ
# COMMITTED, wait for each other (the member's lock): the second is
# refused, never a shift left at a venue the member no longer works at;
# and of two invitations of one address at the same moment the second is
# told to retry; a booking for a customer deleted meanwhile is told the
# customer is not found.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
fresh_database protector_snapshot_checks

ORG=0f300000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
SET client_min_messages = warning;
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Snap', 'snap');
INSERT INTO protector.members (id, organization_id, user_id, role)
VALUES ('0f300000-0000-4000-8000-0000000000d1', '$ORG', '0f300000-0000-4000-8000-0000000000e1', 'operator');
INSERT INTO protector.members (id, organization_id, user_id, role)
VALUES ('0f300000-0000-4000-8000-0000000000d2', '$ORG', '0f300000-0000-4000-8000-0000000000e2', 'operator'),
	   ('0f300000-0000-4000-8000-0000000000d3', '$ORG', '0f300000-0000-4000-8000-0000000000e3', 'operator');
INSERT INTO protector.venues (id, organization_id, name, timezone, widget_settings)
VALUES ('0f300000-0000-4000-8000-0000000000f1', '$ORG', 'V', 'UTC', '{"visitor_bookings_per_hour": 1}'),
	   ('0f300000-0000-4000-8000-0000000000f2', '$ORG', 'W', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0f300000-0000-4000-8000-0000000000a1', '$ORG', '0f300000-0000-4000-8000-0000000000f1', 'Room',
		'60 minutes', '60 minutes', '30 days'),
	   ('0f300000-0000-4000-8000-0000000000a2', '$ORG', '0f300000-0000-4000-8000-0000000000f2', 'Hall',
		'60 minutes', '60 minutes', '30 days');
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0f300000-0000-4000-8000-0000000000c1', '$ORG', 'Ann', 'ann@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0f300000-0000-4000-8000-0000000000b' || h)::uuid, '$ORG', '0f300000-0000-4000-8000-0000000000f1',
	   '0f300000-0000-4000-8000-0000000000a1', '0f300000-0000-4000-8000-0000000000c1',
	   tstzrange(date_trunc('day', now()) + interval '3 days' + h * interval '1 hour',
				 date_trunc('day', now()) + interval '3 days' + (h + 1) * interval '1 hour'), 'confirmed'
FROM generate_series(1, 2) h;
SELECT protector.create_waiver('$ORG', 'W', 'Original text');
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
VALUES ('$ORG', '0f300000-0000-4000-8000-0000000000d2', '0f300000-0000-4000-8000-0000000000f1'),
	   ('$ORG', '0f300000-0000-4000-8000-0000000000d3', '0f300000-0000-4000-8000-0000000000f1');
SQL
KEY=$(psql -X -A -t -d "$DB" -c "SELECT embed_key FROM protector.venues WHERE name = 'V'")
KEY2=$(psql -X -A -t -d "$DB" -c "SELECT embed_key FROM protector.venues WHERE name = 'W'")

failures=0
check() {	# $1 what, $2 expected, $3 got
	if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAILED: $1: expected '$2', got '$3'"; failures=$((failures + 1)); fi
}
q() { psql -X -A -t -d "$DB" -c "$1"; }
# waits until the one session whose query matches $1 sleeps in pg_sleep
asleep() {
	for _ in $(seq 1 100); do
		[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND $1")" = 1 ] && return
		sleep 0.02
	done
	return 1
}

# race <level> <A's change> <B's change>: A takes its snapshot at <level>,
# waits while B commits, then makes its change; prints A's SQLSTATE or ok
race() {
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >"$WORK/a" 2>&1 <<SQL &
\set VERBOSITY sqlstate
BEGIN ISOLATION LEVEL $1;
SELECT count(*) FROM protector.organizations;
SELECT pg_sleep(1.5);
$2
COMMIT;
SQL
	# (a session that never got there tested nothing: said, not passed)
	if ! asleep "query = 'SELECT pg_sleep(1.5);'"; then
		wait || true
		echo "A never reached its sleep"
		return
	fi
	if ! psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "$3" >/dev/null 2>"$WORK/b"; then
		wait || true
		echo "B failed: $(head -1 "$WORK/b")"
		return
	fi
	wait || true
	grep -oE '^ERROR: +[0-9A-Z]{5}' "$WORK/a" | grep -oE '[0-9A-Z]{5}$' || echo ok
}

SIGN="SELECT protector.submit_waiver((SELECT id FROM protector.waivers), 'Ann Adult', '1980-01-01', 'Ann Adult', 'Ann Adult')"
EDIT="UPDATE protector.waiver_versions SET body = 'Changed text';"
check "repeatable read: a version signed since the snapshot is not changed: retry" 40001 "$(race "repeatable read" "$EDIT" "$SIGN")"
check "... the signed text stays" "Original text" "$(q "SELECT body FROM protector.waiver_versions")"
check "read committed: the signed version is refused by name" 22023 "$(race "read committed" "$EDIT" "$SIGN")"

TASK="INSERT INTO protector.tasks (organization_id, title, assignee) VALUES ('$ORG', 'call back', '0f300000-0000-4000-8000-0000000000e1')"
OFF="UPDATE protector.members SET active = false WHERE id = '0f300000-0000-4000-8000-0000000000d1';"
check "repeatable read: a member given a task since the snapshot is not deactivated: retry" 40001 "$(race "repeatable read" "$OFF" "$TASK")"
check "... the member stays active" t "$(q "SELECT active FROM protector.members WHERE id = '0f300000-0000-4000-8000-0000000000d1'")"
check "read committed: the deactivation releases the task it sees" ok "$(race "read committed" "$OFF" "$TASK")"
check "... no open task is left the deactivated member's" 0 \
	"$(q "SELECT count(*) FROM protector.tasks WHERE assignee = '0f300000-0000-4000-8000-0000000000e1' AND status <> 'done'")"

widget() {	# <visitor> <hour>
	echo "SELECT protector.create_widget_booking('$KEY', '0f300000-0000-4000-8000-0000000000a1', 'Vis', '$1@example.com',
		NULL, date_trunc('day', now()) + interval '4 days' + interval '$2 hours');"
}
check "repeatable read: a widget booking of the visitor since the snapshot: retry" 40001 \
	"$(race "repeatable read" "$(widget vis1 10)" "$(widget vis1 12)")"
check "... one customer record for the visitor" 1 "$(q "SELECT count(*) FROM protector.customers WHERE email = 'vis1@example.com'")"
check "read committed: the visitor's limit of 1 an hour counts it" 53400 \
	"$(race "read committed" "$(widget vis2 14)" "$(widget vis2 16)")"
# B's booking at the other venue prunes that venue's request older than
# a day and writes its own: the organization's count of requests stays as
# A's snapshot had it
q "INSERT INTO protector_internal.widget_requests (organization_id, venue_id, identity_key, created_at)
   VALUES ('$ORG', '0f300000-0000-4000-8000-0000000000f2', 'old', now() - interval '25 hours')" >/dev/null
check "repeatable read: ... also when that booking pruned an old request: retry" 40001 \
	"$(race "repeatable read" "$(widget vis3 18)" "SELECT protector.create_widget_booking('$KEY2', '0f300000-0000-4000-8000-0000000000a2',
		'Vis', 'vis3@example.com', NULL, date_trunc('day', now()) + interval '4 days 20 hours');")"
check "... one customer record for that visitor" 1 "$(q "SELECT count(*) FROM protector.customers WHERE email = 'vis3@example.com'")"

remind() { echo "SELECT protector.send_booking_reminder('0f300000-0000-4000-8000-0000000000b$1');"; }
check "repeatable read: a reminder sent since the snapshot: retry" 40001 "$(race "repeatable read" "$(remind 1)" "$(remind 1)")"
check "... one manual reminder" 1 \
	"$(q "SELECT count(*) FROM protector.booking_reminders WHERE kind = 'manual' AND booking_id = '0f300000-0000-4000-8000-0000000000b1'")"
check "read committed: the 10-minute rule refuses the second" 53400 "$(race "read committed" "$(remind 2)" "$(remind 2)")"

# hold <A's change>, then <B's change> while A holds on, both READ
# COMMITTED; prints B's SQLSTATE or ok
hold() {
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >"$WORK/a" 2>&1 <<SQL &
BEGIN;
$1
SELECT pg_sleep(1.5);
COMMIT;
SQL
	if ! asleep "query = 'SELECT pg_sleep(1.5);'"; then
		wait || true
		echo "A never reached its sleep"
		return
	fi
	out=$(psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c '\set VERBOSITY sqlstate' -c "$2" 2>&1 >/dev/null) || true
	wait || true
	grep -q ERROR "$WORK/a" && echo "A failed: $(grep ERROR "$WORK/a")"
	grep -oE 'ERROR: +[0-9A-Z]{5}' <<<"$out" | grep -oE '[0-9A-Z]{5}$' || echo ok
}
SHIFT="INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during)
	VALUES ('$ORG', '0f300000-0000-4000-8000-0000000000d2', '0f300000-0000-4000-8000-0000000000f1',
			tstzrange(date_trunc('day', now()) + interval '5 days 09:00', date_trunc('day', now()) + interval '5 days 17:00'));"
UNASSIGN="DELETE FROM protector.staff_venues WHERE member_id = '0f300000-0000-4000-8000-0000000000d2';"
ASSIGN="INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
	VALUES ('$ORG', '0f300000-0000-4000-8000-0000000000d2', '0f300000-0000-4000-8000-0000000000f1');"
stray() {
	q "SELECT count(*) FROM protector.staff_shifts s WHERE NOT EXISTS (SELECT FROM protector.staff_venues v
		WHERE v.member_id = s.member_id AND v.venue_id = s.venue_id)"
}
check "unassignment first: the shift written meanwhile waits and is refused" 22023 "$(hold "$UNASSIGN" "$SHIFT")"
check "... no shift at a venue the member left" 0 "$(stray)"
q "$ASSIGN" >/dev/null
check "shift first: the unassignment written meanwhile waits and is refused" 22023 "$(hold "$SHIFT" "$UNASSIGN")"
check "... no shift at a venue the member left" 0 "$(stray)"

# two invitations of one address at the same moment: the second is told to
# retry (it read "an open invitation you may not replace", an owner's rule)
INVITE="SELECT protector.create_staff_member('$ORG', 'new@example.com', 'viewer');"
check "an invitation made at the same moment: retry" 40001 "$(hold "$INVITE" "$INVITE")"
check "... and the retry replaces it" ok "$(psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "$INVITE" >/dev/null 2>&1 && echo ok)"

# a booking for a customer deleted while it was being made: the customer
# is not found, by name (it ended on the bookings' foreign key, 23503)
q "INSERT INTO protector.customers (id, organization_id, full_name) VALUES ('0f300000-0000-4000-8000-0000000000c9', '$ORG', 'Gone')" >/dev/null
GONE="DELETE FROM protector.customers WHERE id = '0f300000-0000-4000-8000-0000000000c9';"
BOOK_GONE="SELECT protector.create_booking('0f300000-0000-4000-8000-0000000000a1', '0f300000-0000-4000-8000-0000000000c9',
	date_trunc('day', now()) + interval '7 days 10:00');"
check "a booking for a customer deleted meanwhile: not found" P0002 "$(hold "$GONE" "$BOOK_GONE")"

# two moves of shifts between two members at once: the member check takes
# both members' locks in the order shift_check() takes them (it took the
# new member's alone, and a multi-row move deadlocked, 40P01)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.staff_shifts (id, organization_id, member_id, venue_id, during)
SELECT ('0f300000-0000-4000-8000-000000000' || s)::uuid, '$ORG', ('0f300000-0000-4000-8000-0000000000' || m)::uuid,
	   '0f300000-0000-4000-8000-0000000000f1',
	   tstzrange(date_trunc('day', now()) + interval '8 days' + h * interval '1 hour',
				 date_trunc('day', now()) + interval '8 days' + (h + 1) * interval '1 hour')
FROM (VALUES (501, 'd2', 9), (502, 'd3', 11), (503, 'd3', 13)) v(s, m, h);
SQL
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >"$WORK/move1" 2>&1 <<SQL &
\set VERBOSITY sqlstate
UPDATE protector.staff_shifts SET member_id = '0f300000-0000-4000-8000-0000000000d3'
WHERE id = '0f300000-0000-4000-8000-000000000501'
   OR (id = '0f300000-0000-4000-8000-000000000503' AND (SELECT false FROM pg_sleep(1.5)));
SQL
asleep "query LIKE 'UPDATE protector.staff_shifts%'"
move2=$(psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c '\set VERBOSITY sqlstate' -c "UPDATE protector.staff_shifts
	SET member_id = '0f300000-0000-4000-8000-0000000000d2' WHERE id = '0f300000-0000-4000-8000-000000000502'" 2>&1 >/dev/null || true)
wait || true
check "two moves of shifts between two members: no deadlock" "" "$(cat "$WORK/move1"; echo "$move2")"
check "... both moved (501 to d3, 502 to d2)" "d3 d2" "$(q "SELECT string_agg(right(member_id::text, 2), ' ' ORDER BY id) FROM protector.staff_shifts
	WHERE id IN ('0f300000-0000-4000-8000-000000000501', '0f300000-0000-4000-8000-000000000502')" | sed 's/^//')"

[ "$failures" = 0 ] || exit 1
