#!/usr/bin/env bash
# test/concurrency/prepared_locks.sh — a booking transaction prepared for
# two-phase commit (protector.notify off) keeps its service's lock until it
# is resolved: every other booking of the service waits protector.lock_timeout
# and is refused 40001 "the service is busy".  The refusal names the prepared
# transaction, which no retry gets past (it said "Another booking of the
# same service held its lock for more than 300 ms", and a client retried
# until someone ran COMMIT PREPARED); an ordinary holder is still told as
# before.  Needs max_prepared_transactions > 0 (scripts/test.sh sets it).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_prepared_locks

if [ "$(psql -X -A -t -d "$DB" -c "SHOW max_prepared_transactions")" = 0 ]; then
	echo "max_prepared_transactions is 0: this cluster cannot prepare a transaction"; exit 1
fi
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
INSERT INTO protector.organizations (id, name, slug) VALUES ('0c170000-0000-4000-8000-000000000000', 'Prepared', 'prepared');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0c170000-0000-4000-8000-0000000000a1', '0c170000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0c170000-0000-4000-8000-0000000005a1', '0c170000-0000-4000-8000-000000000000', '0c170000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '30 days');
SQL
book() {	# $1 hour: the booking's answer, "ok" or SQLSTATE | detail | hint
	psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "SET protector.lock_timeout = 300" \
		-c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, status, during)
			VALUES ('0c170000-0000-4000-8000-000000000000', '0c170000-0000-4000-8000-0000000000a1',
					'0c170000-0000-4000-8000-0000000005a1', 'confirmed',
					tstzrange(date_trunc('day', now()) + interval '2 days' + $1 * interval '1 hour',
							  date_trunc('day', now()) + interval '2 days' + ($1 + 1) * interval '1 hour'))" \
		>/dev/null 2>"$WORK/book.err" && { echo ok; return; }
	sed -n 's/^ERROR: *\([0-9A-Z]*\): \(.*\)/\1 | \2/p; s/^DETAIL: *\(.*\)/ | \1/p; s/^HINT: *\(.*\)/ | \1/p' "$WORK/book.err" | tr -d '\n'
	echo
}
fail=0

# an ordinary holder: told as before
PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" -c "SET LOCAL protector.notify = off" \
	-c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, status, during)
		VALUES ('0c170000-0000-4000-8000-000000000000', '0c170000-0000-4000-8000-0000000000a1',
				'0c170000-0000-4000-8000-0000000005a1', 'confirmed',
				tstzrange(date_trunc('day', now()) + interval '2 days 9 hours', date_trunc('day', now()) + interval '2 days 10 hours'))" \
	-c "SELECT pg_sleep(5)" -c "ROLLBACK" >/dev/null 2>&1 &
holder=$!
wait_session holder "query LIKE 'SELECT pg_sleep%'" || fail=1
ordinary=$(book 11)
end_session holder
wait "$holder" 2>/dev/null || true
echo "behind a session's booking: $ordinary"
if [ "$ordinary" != "40001 | the service is busy, try again | Another booking of the same service held its lock for more than 300 ms. | Retry the request; protector.lock_timeout sets how long to wait." ]; then
	echo "AN ORDINARY HOLDER WAS NOT TOLD AS BEFORE"; fail=1
fi

# a prepared holder: named, with what resolves it
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -c "SET LOCAL protector.notify = off" \
	-c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, status, during)
		VALUES ('0c170000-0000-4000-8000-000000000000', '0c170000-0000-4000-8000-0000000000a1',
				'0c170000-0000-4000-8000-0000000005a1', 'confirmed',
				tstzrange(date_trunc('day', now()) + interval '2 days 9 hours', date_trunc('day', now()) + interval '2 days 10 hours'))" \
	-c "PREPARE TRANSACTION 'prepared_locks'" >/dev/null
xid=$(psql -X -A -t -d "$DB" -c "SELECT transaction FROM pg_prepared_xacts WHERE gid = 'prepared_locks'")
prepared=$(book 11)
echo "behind a prepared booking: $prepared"
if [ "$prepared" != "40001 | the service is busy, try again | The prepared transaction $xid holds its lock until COMMIT PREPARED or ROLLBACK PREPARED. | Resolve it (pg_prepared_xacts names it by transaction), then retry the request." ]; then
	echo "A PREPARED HOLDER WAS NOT NAMED"; fail=1
fi
psql -X -q -d "$DB" -c "ROLLBACK PREPARED 'prepared_locks'" >/dev/null
after=$(book 11)
echo "once it is rolled back: $after"
[ "$after" = ok ] || { echo "THE SERVICE STAYED BUSY AFTER ROLLBACK PREPARED"; fail=1; }
dropdb "$DB"
[ "$fail" = 0 ]
