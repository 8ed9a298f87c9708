#!/usr/bin/env bash
# test/concurrency/index_interrupts.sh — a booking whose audit row waits
# for an index of audit_log that another session holds, and runs out of
# lock_timeout (or statement_timeout) while protector opens the table's
# indexes, fails with that timeout; the server and the session carry on
# (an attack on interruptions: the executor's ExecOpenIndices counts
# every index before it opens them, and closing after its error closed
# pointers never opened, a crash of the whole server; direct_insert.c now
# opens them itself, counting each as it opens it).
# The booking session books three times first (the tables' indexes
# opened and closed in earlier transactions, as in a pooled connection),
# then waits until the holder has the index, then books under the timeout,
# then books again once the holder is gone.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_index_interrupts

ORG=0f900000-0000-4000-8000-000000000000
S=0f900000-0000-4000-8000-0000000005a1
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES ('$ORG', 'Interrupted', 'index-interrupts', 'UTC');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f900000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('$S', '$ORG', '0f900000-0000-4000-8000-0000000000a1', 'Room', '1 hour', '1 hour', '400 days', 10, 'shared');
SQL

fail=0
held="EXISTS (SELECT FROM pg_locks WHERE relation = 'protector.audit_log_occurred_brin'::regclass AND granted AND pid <> pg_backend_pid())"
for timeout in lock_timeout statement_timeout; do
	# the booker: three bookings, then (once the index is held) one under
	# the timeout, then (once it is free) one more
	PGAPPNAME=booker psql -X -q -A -t -d "$DB" -v VERBOSITY=sqlstate >"$WORK/$timeout.out" 2>&1 <<SQL &
SET ROLE service_role;
SELECT protector.create_booking('$S', NULL, date_trunc('day', now()) + interval '2 days' + h * interval '1 hour') IS NOT NULL
FROM generate_series(9, 11) h;
DO \$\$ BEGIN FOR i IN 1..200 LOOP EXIT WHEN $held; PERFORM pg_sleep(0.1); END LOOP; END \$\$;
BEGIN;
SET LOCAL $timeout = '300ms';
SELECT protector.create_booking('$S', NULL, date_trunc('day', now()) + interval '2 days 12 hours') IS NOT NULL;
ROLLBACK;
SELECT 'alive';
DO \$\$ BEGIN FOR i IN 1..200 LOOP EXIT WHEN NOT $held; PERFORM pg_sleep(0.1); END LOOP; END \$\$;
SELECT protector.create_booking('$S', NULL, date_trunc('day', now()) + interval '2 days 13 hours') ->> 'status';
SQL
	booker=$!
	wait_session booker "query LIKE 'DO%'" || fail=1
	psql -X -q -d "$DB" -c "BEGIN" -c "ALTER INDEX protector.audit_log_occurred_brin SET (pages_per_range = 64)" \
		-c "SELECT pg_sleep(2)" -c "ROLLBACK" >/dev/null 2>&1 || true
	wait "$booker" || true
	got=$(tr '\n' ' ' <"$WORK/$timeout.out" | tr -s ' ' | sed 's/ *$//')
	want="t t t ERROR: 55P03 alive confirmed"
	[ "$timeout" = statement_timeout ] && want="t t t ERROR: 57014 alive confirmed"
	if [ "$got" != "$want" ]; then
		echo "not ok - a booking meeting $timeout on an audit index: the session printed \"$got\", expected \"$want\""
		fail=1
	else
		echo "ok - a booking meeting $timeout on an audit index fails with it; the session books again"
	fi
done
[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings" 2>&1)" = 8 ] || { echo "not ok - 8 bookings expected"; fail=1; }
[ "$fail" = 0 ] && echo "index interrupts: a timeout while protector opens an audit index fails the booking, nothing else"
exit "$fail"
