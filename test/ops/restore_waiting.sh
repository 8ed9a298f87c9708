#!/usr/bin/env bash
# test/ops/restore_waiting.sh — a restore whose rows refer to rows it did
# not load.  A dump of protector's schema and the extension (pg_dump -n
# protector -e protector, docs/operations.md) restored into a Supabase
# database whose auth.users is still empty: the keys to auth.users exist from CREATE
# EXTENSION on, so the members and customers with accounts, and every row
# that refers to them, are set aside in restore_pending.  Nothing offered
# them again once the users were loaded, and the restore said nothing:
# rows were silently missing.  Now the restore warns, and
# protector.finish_restore(), run once the users are there, restores them:
# the database then equals the source (test/ops/fingerprint.sql); a
# backup taken before that keeps them (restore_pending is dumped).  A
# booking the database took meanwhile in the slot of one set aside keeps
# it: the restored one stays aside, named, until the slot is free.  Three
# COPYs in one query string are each recognized as a restore.
# Runs inside the throwaway cluster of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK=$(mktemp -d /tmp/protector-restore-waiting.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
SRC=protector_waiting_src
DST=protector_waiting_dst
problems=()

# SRC and DST afresh, each with the Supabase schemas and no protector
fresh_pair() {
	local db
	for db in "$SRC" "$DST"; do
		dropdb --if-exists "$db" >/dev/null 2>&1 || true
		createdb "$db"
		PGOPTIONS="-c client_min_messages=error" psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f test/fixtures/supabase.sql
	done
}
# SRC's protector (schema and extension) restored into DST, its auth.users
# dumped aside into $WORK/users.sql, not loaded
restore_without_users() {
	pg_dump -n protector -e protector -f "$WORK/extension.sql" "$SRC"
	pg_dump --data-only -t auth.users -f "$WORK/users.sql" "$SRC"
	psql -X -q -v ON_ERROR_STOP=1 -d "$DST" -c "CREATE EXTENSION btree_gist" -f "$WORK/extension.sql" >"$WORK/restore.log" 2>&1 \
		|| problems+=("the restore failed")
}

fresh_pair
psql -X -q -v ON_ERROR_STOP=1 -d "$SRC" -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector CASCADE"
psql -X -q -v ON_ERROR_STOP=1 -d "$SRC" -f test/ops/fixture.sql >/dev/null
# (protector's tables: the dump holds no other)
psql -X -A -t -d "$SRC" -f test/ops/fingerprint.sql | grep '^protector' >"$WORK/source.fp"

restore_without_users
grep -q "WARNING:  rows restored wait for rows outside protector's schemas that are not there" "$WORK/restore.log" \
	|| problems+=("no warning about the rows set aside")
! grep -q "the backup holds rows of a restore" "$WORK/restore.log" \
	|| problems+=("a warning about an unfinished restore in a backup that held none")
waiting=$(psql -X -A -t -d "$DST" -c "SELECT count(*) FROM protector_internal.restore_pending")
[ "$waiting" -gt 0 ] || problems+=("no rows waited (the test's premise): $waiting")
# a backup taken now (a nightly dump before finish_restore) keeps the rows
# set aside: a WARNING names them as its restore loads them elsewhere (into
# COPY, whose keys to auth.users come after the data: the rows then go
# into their tables, and the keys' WARNING says to link them once the
# users are there); with the users loaded and linked, the copy equals the
# source
COPY=protector_waiting_copy
dropdb --if-exists "$COPY" >/dev/null 2>&1 || true
createdb "$COPY"
pg_dump -f "$WORK/half.sql" "$DST"
psql -X -q -d "$COPY" -f "$WORK/half.sql" >"$WORK/copy.log" 2>&1
grep -q "WARNING:  the backup holds rows of a restore that was not finished ($waiting of protector.members)" "$WORK/copy.log" \
	|| problems+=("no warning about the unfinished restore the backup holds: $(grep -m1 WARNING "$WORK/copy.log")")
psql -X -q -v ON_ERROR_STOP=1 -d "$COPY" -f "$WORK/users.sql" -c "SELECT protector_internal.link_auth_users()" >/dev/null
left=$(psql -X -A -t -d "$COPY" -c "SELECT count(*) FROM protector.finish_restore()" 2>"$WORK/finish.log")
[ "$left" = 0 ] || problems+=("finish_restore left rows waiting in the copy: $left")
psql -X -A -t -d "$COPY" -f test/ops/fingerprint.sql 2>&1 | grep '^protector' >"$WORK/copy.fp" || true
diff -u "$WORK/source.fp" "$WORK/copy.fp" >"$WORK/copy.diff" || problems+=("the copy's data differs: $(grep -c '^[-+][^-+]' "$WORK/copy.diff") lines")
dropdb "$COPY"
# the same as Supabase's data-only recipe loads it (session_replication_role
# = replica: no trigger fires but those enabled ALWAYS): the rows wait in
# restore_pending under ids of the copy's, named by the WARNING, until
# finish_restore() once the users are there
createdb "$COPY"
PGOPTIONS="-c client_min_messages=error" psql -X -q -v ON_ERROR_STOP=1 -d "$COPY" -f test/fixtures/supabase.sql \
	-c "CREATE EXTENSION protector CASCADE"
pg_dump --data-only -f "$WORK/half-data.sql" "$DST"
PGOPTIONS="-c session_replication_role=replica" psql -X -q -d "$COPY" -f "$WORK/half-data.sql" >"$WORK/copy.log" 2>&1
grep -q "WARNING:  the backup holds rows of a restore that was not finished ($waiting of protector.members)" "$WORK/copy.log" \
	|| problems+=("no warning under replica: $(grep -m1 WARNING "$WORK/copy.log" || true)")
ids=$(psql -X -A -t -d "$COPY" -c "SELECT count(*) FILTER (WHERE id <= (SELECT last_value FROM protector_internal.restore_pending_id_seq)) || '/' || count(*) FROM protector_internal.restore_pending")
[ "$ids" = "$waiting/$waiting" ] || problems+=("under replica the rows kept the backup's ids: $ids of the copy's")
psql -X -q -v ON_ERROR_STOP=1 -d "$COPY" -f "$WORK/users.sql" >/dev/null
left=$(psql -X -A -t -d "$COPY" -c "SELECT count(*) FROM protector.finish_restore()" 2>"$WORK/finish.log")
[ "$left" = 0 ] || problems+=("finish_restore left rows waiting in the replica copy: $left")
members=$(psql -X -A -t -d "$COPY" -c "SELECT count(*) FROM protector.members")
[ "$members" = "$(psql -X -A -t -d "$SRC" -c "SELECT count(*) FROM protector.members")" ] || problems+=("the replica copy has $members members")
dropdb "$COPY"
psql -X -q -v ON_ERROR_STOP=1 -d "$DST" -f "$WORK/users.sql" >/dev/null
left=$(psql -X -A -t -d "$DST" -c "SELECT count(*) FROM protector.finish_restore()" 2>"$WORK/finish.log")
[ "$left" = 0 ] || problems+=("finish_restore left rows waiting: $left")
psql -X -A -t -d "$DST" -f test/ops/fingerprint.sql 2>&1 | grep '^protector' >"$WORK/restored.fp" || true
diff -u "$WORK/source.fp" "$WORK/restored.fp" >"$WORK/diff" || problems+=("data differs: $(grep -c '^[-+][^-+]' "$WORK/diff") lines")
# finish_restore is the restoring role's
answer=$(psql -X -A -t -d "$DST" -v VERBOSITY=sqlstate -c "SET ROLE authenticated" -c "SELECT * FROM protector.finish_restore()" 2>&1 | tail -1 || true)
[ "$answer" = "ERROR:  42501" ] || problems+=("finish_restore as authenticated: '$answer'")

dropdb "$SRC"
dropdb "$DST"
failed=0
if [ ${#problems[@]} -eq 0 ]; then
	echo "ok - a dump of protector's schema, restored before its users: warned ($waiting rows set aside), kept by a backup taken then, then restored exactly by finish_restore()"
else
	echo "not ok - a dump of protector's schema, restored before its users: ${problems[*]}"
	head -20 "$WORK/diff" 2>/dev/null || true
	failed=1
fi

# The database took a booking before finish_restore(), in the slot of a
# booking set aside (its customer has an account): finish_restore() does
# not store the two overlapping; the restored one stays aside, refused,
# with a WARNING naming it, until the new one is cancelled.  Past bookings
# of the backup that overlap each other are history and restore whole.  An
# erasure of the customer waits for the restore's end (23P01): the rows
# set aside are out of its reach.
problems=()
fresh_pair
psql -X -q -v ON_ERROR_STOP=1 -d "$SRC" -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector CASCADE" \
	-f test/fixtures/helpers.sql >/dev/null
ORG=0f790000-0000-4000-8000-000000000000
SLOT="tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours')"
PAST="tstzrange(date_trunc('day', now()) - interval '3 days 14 hours', date_trunc('day', now()) - interval '3 days 13 hours')"
psql -X -q -v ON_ERROR_STOP=1 -d "$SRC" >/dev/null <<SQL
SELECT tests.create_supabase_user('ana');
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Aside', 'aside');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f790000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0f790000-0000-4000-8000-0000000005a1', '$ORG', '0f790000-0000-4000-8000-0000000000a1', 'Room', '60 minutes', '60 minutes', '30 days', 6, 'exclusive');
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email)
VALUES ('0f790000-0000-4000-8000-00000000c001', '$ORG', tests.get_supabase_uid('ana'), 'Ana', 'ana@x.test');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0f790000-0000-4000-8000-0000000000b1', '$ORG', '0f790000-0000-4000-8000-0000000000a1',
		'0f790000-0000-4000-8000-0000000005a1', '0f790000-0000-4000-8000-00000000c001', $SLOT, 'confirmed');
-- history the backup holds as it is: two past bookings that overlap (written
-- with the checks off), one of them Ana's, set aside by the restore
INSERT INTO protector.customers (id, organization_id, full_name) VALUES ('0f790000-0000-4000-8000-00000000c003', '$ORG', 'Past guest');
SET session_replication_role = replica;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, currency)
SELECT ('0f790000-0000-4000-8000-0000000000b' || n)::uuid, '$ORG', '0f790000-0000-4000-8000-0000000000a1',
	   '0f790000-0000-4000-8000-0000000005a1', c::uuid, $PAST, 'completed', 'USD'
FROM (VALUES (3, '0f790000-0000-4000-8000-00000000c001'), (4, '0f790000-0000-4000-8000-00000000c003')) v(n, c);
SQL
restore_without_users
aside=$(psql -X -A -t -d "$DST" -c "SELECT count(*) FROM protector_internal.restore_pending WHERE relid = 'protector.bookings'::regclass")
[ "$aside" = 2 ] || problems+=("the two bookings of Ana were not set aside (the test's premise): $aside")
# the slot looks free: a walk-in is booked into it
psql -X -q -v ON_ERROR_STOP=1 -d "$DST" >/dev/null <<SQL || problems+=("the walk-in was refused")
INSERT INTO protector.customers (id, organization_id, full_name) VALUES ('0f790000-0000-4000-8000-00000000c002', '$ORG', 'Walk-in');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0f790000-0000-4000-8000-0000000000b2', '$ORG', '0f790000-0000-4000-8000-0000000000a1',
		'0f790000-0000-4000-8000-0000000005a1', '0f790000-0000-4000-8000-00000000c002', $SLOT, 'confirmed');
SQL
psql -X -q -v ON_ERROR_STOP=1 -d "$DST" -f "$WORK/users.sql" >/dev/null
# (asked with protector.http_errors on: the overlap is still told apart)
left=$(PGOPTIONS="-c protector.http_errors=on" psql -X -A -t -d "$DST" \
	-c "SELECT string_agg(table_name || ' ' || rows_waiting, ', ') FROM protector.finish_restore()" 2>"$WORK/finish.log")
# (the booking, refused, and its reminders, notification and task, waiting for it)
[ "$left" = "protector.booking_reminders 2, protector.bookings 1, protector.notifications 1, protector.tasks 1" ] \
	|| problems+=("finish_restore left '$left' (expected the booking and what refers to it)")
refused=$(psql -X -A -t -d "$DST" -c "SELECT string_agg(relid || ' ' || (refused IS NOT NULL) || ' ' || coalesce(waiting_for::text, '-'), ', ' ORDER BY relid::text) FROM protector_internal.restore_pending" || true)
[ "$refused" = "protector.booking_reminders false protector.bookings, protector.booking_reminders false protector.bookings, protector.bookings true protector.customers, protector.notifications false protector.bookings, protector.tasks false protector.bookings" ] \
	|| problems+=("what stays aside: '$refused'")
grep -q "WARNING:  1 restored rows conflict with rows written since the restore" "$WORK/finish.log" \
	|| problems+=("no warning about the overlap: $(head -3 "$WORK/finish.log")")
grep -q "0f790000-0000-4000-8000-0000000000b1" "$WORK/finish.log" || problems+=("the warning does not name the booking")
live=$(psql -X -A -t -d "$DST" -c "SELECT count(*) FROM protector.bookings WHERE during = $SLOT AND status <> 'cancelled'")
[ "$live" = 1 ] || problems+=("$live live bookings in one exclusive slot")
# Ana's erasure waits for the restore's end: the booking set aside would
# come back unerased
erase=$(psql -X -A -t -d "$DST" -v VERBOSITY=sqlstate -c "SELECT protector.erase_customer('0f790000-0000-4000-8000-00000000c001') IS NOT NULL" 2>&1 || true)
[ "$erase" = "ERROR:  23P01" ] || problems+=("an erasure while Ana's booking is set aside answered '$erase'")
# the walk-in cancelled, the restored booking goes in
psql -X -q -v ON_ERROR_STOP=1 -d "$DST" -c "UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0f790000-0000-4000-8000-0000000000b2'"
left=$(psql -X -A -t -d "$DST" -c "SELECT count(*) FROM protector.finish_restore()" 2>"$WORK/finish.log")
[ "$left" = 0 ] || problems+=("after the cancellation, finish_restore left $left rows: $(cat "$WORK/finish.log")")
back=$(psql -X -A -t -d "$DST" -c "SELECT string_agg(status::text, ' ' ORDER BY id) FROM protector.bookings WHERE id IN ('0f790000-0000-4000-8000-0000000000b1', '0f790000-0000-4000-8000-0000000000b3', '0f790000-0000-4000-8000-0000000000b4')")
[ "$back" = "confirmed completed completed" ] || problems+=("the restored bookings are '$back' (the future one, then the two past ones that overlap)")
erase=$(psql -X -A -t -d "$DST" -c "SELECT protector.erase_customer('0f790000-0000-4000-8000-00000000c001') IS NOT NULL" 2>&1 || true)
[ "$erase" = t ] || problems+=("the erasure after the restore's end answered '$erase'")
dropdb "$SRC"
dropdb "$DST"
if [ ${#problems[@]} -eq 0 ]; then
	echo "ok - a booking taken before finish_restore() in the slot of one set aside: that one stays aside, named, until the slot is free"
else
	echo "not ok - a booking taken before finish_restore() in the slot of one set aside: ${problems[*]}"
	failed=1
fi

# Three COPYs in one query string (a driver's, or psql -c), with
# row_security off as a restore sets it: all three tables' rows are
# history, none audited.  The COPY in the middle was taken for the first
# (its table resolved once per statement by the statement's address and
# the portal's start, both of which the statements of one string share):
# its venue was audited as a change.
problems=()
dropdb --if-exists "$DST" >/dev/null 2>&1 || true
createdb "$DST"
psql -X -q -v ON_ERROR_STOP=1 -d "$DST" -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector CASCADE"
printf '%s\n' '0f770000-0000-4000-8000-000000000000	Copies	copies' '\.' \
	'0f770000-0000-4000-8000-0000000000a1	0f770000-0000-4000-8000-000000000000	V	UTC' '\.' \
	'0f770000-0000-4000-8000-0000000005a1	0f770000-0000-4000-8000-000000000000	0f770000-0000-4000-8000-0000000000a1	Room	01:00:00	01:00:00	30 days' '\.' \
	| psql -X -q -v ON_ERROR_STOP=1 -d "$DST" -c "SET row_security = off; COPY protector.organizations (id, name, slug) FROM STDIN; COPY protector.venues (id, organization_id, name, timezone) FROM STDIN; COPY protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) FROM STDIN" \
	>"$WORK/copies.log" 2>&1 || problems+=("the copies failed: $(head -3 "$WORK/copies.log")")
audited=$(psql -X -A -t -d "$DST" -c "SELECT count(*) || ' audited, ' || (SELECT count(*) FROM protector.services) || ' service'
	FROM protector.audit_log")
[ "$audited" = "0 audited, 1 service" ] || problems+=("after three COPYs in one string: $audited")
dropdb "$DST"
if [ ${#problems[@]} -eq 0 ]; then
	echo "ok - three COPYs in one query string with row_security off restore history: nothing audited"
else
	echo "not ok - three COPYs in one query string: ${problems[*]}"
	failed=1
fi
exit $failed
