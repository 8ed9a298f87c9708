#!/usr/bin/env bash
# test/concurrency/prepared_locks.sh — a booking transaction prepared for
# two-phase commit (protector.notify off) keeps its service's lock until it
# is resolved: every other booking of the service waits protector.lock_timeout
# and is refused 40001 "the service is busy".  The refusal names the prepared
# transaction, which no retry gets past (it said "Another booking of the
# same service held its lock for more than 300 ms", and a client retried
# until someone ran COMMIT PREPARED); an ordinary holder is still told as
# before.  Also one holding a lock shared that a request queued before
# the caller's waits for, and one holding a row the booking waits for.  Needs max_prepared_transactions > 0 (scripts/test.sh sets it).
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

# (a review) a prepared signature holds its waiver version's lock shared;
# the version's change waits for it exclusively, and a new signature,
# which would share the lock, queues behind the change: the prepared one
# is named, not the change, which holds nothing
answer() {	# $1 SQL: "ok" or SQLSTATE | message | detail | hint
	psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "SET protector.lock_timeout = 300" -c "$1" \
		>/dev/null 2>"$WORK/answer.err" && { echo ok; return; }
	sed -n 's/^ERROR: *\([0-9A-Z]*\): \(.*\)/\1 | \2/p; s/^DETAIL: *\(.*\)/ | \1/p; s/^HINT: *\(.*\)/ | \1/p' "$WORK/answer.err" | tr -d '\n'
	echo
}
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
INSERT INTO protector.waivers (id, organization_id, name)
VALUES ('0c170000-0000-4000-8000-00000000aa01', '0c170000-0000-4000-8000-000000000000', 'W');
INSERT INTO protector.waiver_versions (id, organization_id, waiver_id, title, body)
VALUES ('0c170000-0000-4000-8000-00000000ab01', '0c170000-0000-4000-8000-000000000000', '0c170000-0000-4000-8000-00000000aa01', 'T', 'B');
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0c170000-0000-4000-8000-0000000000c1', '0c170000-0000-4000-8000-000000000000', 'Cora');
SQL
sign="SELECT protector_internal.lock_waiver_version('0c170000-0000-4000-8000-000000000000', '0c170000-0000-4000-8000-00000000ab01')"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -c "$sign" -c "PREPARE TRANSACTION 'prepared_signature'" >/dev/null
xid=$(psql -X -A -t -d "$DB" -c "SELECT transaction FROM pg_prepared_xacts WHERE gid = 'prepared_signature'")
PGAPPNAME=changer psql -X -q -d "$DB" -c "SET lock_timeout = '10s'" \
	-c "UPDATE protector.waiver_versions SET title = 'T2' WHERE id = '0c170000-0000-4000-8000-00000000ab01'" >/dev/null 2>&1 &
changer=$!
wait_session changer "wait_event_type = 'Lock'" || fail=1
queued=$(answer "$sign")
end_session changer
wait "$changer" 2>/dev/null || true
psql -X -q -d "$DB" -c "ROLLBACK PREPARED 'prepared_signature'" >/dev/null
echo "a signature queued behind a change that waits for a prepared one: $queued"
if [ "$queued" != "40001 | the waiver is busy, try again | The prepared transaction $xid holds its lock until COMMIT PREPARED or ROLLBACK PREPARED. | Resolve it (pg_prepared_xacts names it by transaction), then retry the request." ]; then
	echo "A PREPARED HOLDER AHEAD OF A QUEUED REQUEST WAS NOT NAMED"; fail=1
fi

# a row a prepared transaction deletes: the row's xmax names it, and the
# wait for its row names it as the holder; also when it deleted the row in
# a savepoint (the row's xmax is the subtransaction's, the lock its top
# transaction's: a review)
deleted_customer() {	# $1 = gid, $2 = the deletion (in a savepoint or not)
	local xid row
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -c "SET LOCAL protector.notify = off" -c "$2" \
		-c "PREPARE TRANSACTION '$1'" >/dev/null
	xid=$(psql -X -A -t -d "$DB" -c "SELECT transaction FROM pg_prepared_xacts WHERE gid = '$1'")
	row=$(answer "INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, status, during)
		VALUES ('0c170000-0000-4000-8000-000000000000', '0c170000-0000-4000-8000-0000000000a1',
				'0c170000-0000-4000-8000-0000000005a1', '0c170000-0000-4000-8000-0000000000c1', 'confirmed',
				tstzrange(date_trunc('day', now()) + interval '2 days 13 hours', date_trunc('day', now()) + interval '2 days 14 hours'))")
	psql -X -q -d "$DB" -c "ROLLBACK PREPARED '$1'" >/dev/null
	echo "a booking of a customer a prepared transaction deletes ($1): $row"
	if [ "$row" != "40001 | the customer's record is busy, try again | The prepared transaction $xid holds its lock until COMMIT PREPARED or ROLLBACK PREPARED. | Resolve it (pg_prepared_xacts names it by transaction), then retry the request." ]; then
		echo "A PREPARED TRANSACTION HOLDING A ROW WAS NOT NAMED ($1)"; fail=1
	fi
}
delete_customer="DELETE FROM protector.customers WHERE id = '0c170000-0000-4000-8000-0000000000c1'"
deleted_customer prepared_customer "$delete_customer"
deleted_customer prepared_customer_savepoint "SAVEPOINT s; $delete_customer; RELEASE s"

# a booking's row waited for where its holder is not known (a batch's
# FOR UPDATE): a prepared transaction that changed a booking may be it,
# the hint says; one that only read the table is not named (a review: it
# was, and an operator would have rolled back an innocent transaction)
booking=$(psql -X -A -t -q -d "$DB" -c "SELECT id FROM protector.bookings ORDER BY id LIMIT 1")
batch="SET ROLE service_role; SELECT protector.update_booking_status_batch(ARRAY['$booking']::uuid[], 'completed')"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -c "SELECT count(*) FROM protector.bookings" \
	-c "PREPARE TRANSACTION 'prepared_reader'" >/dev/null
PGAPPNAME=row_holder psql -X -q -d "$DB" -c "BEGIN" -c "SELECT FROM protector.bookings WHERE id = '$booking' FOR UPDATE" \
	-c "SELECT pg_sleep(5)" -c "ROLLBACK" >/dev/null 2>&1 &
row_holder=$!
wait_session row_holder "query LIKE 'SELECT pg_sleep%'" || fail=1
behind_reader=$(answer "$batch")
end_session row_holder
wait "$row_holder" 2>/dev/null || true
psql -X -q -d "$DB" -c "ROLLBACK PREPARED 'prepared_reader'" >/dev/null
echo "a booking held by a session, a prepared reader beside: $behind_reader"
if [ "$behind_reader" != "40001 | the booking is busy, try again | Another request changing it held its lock for more than 300 ms. | Retry the request; protector.lock_timeout sets how long to wait." ]; then
	echo "A PREPARED READER WAS NAMED AS A ROW'S HOLDER"; fail=1
fi
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -c "SET LOCAL protector.notify = off" \
	-c "UPDATE protector.bookings SET details = '{\"note\": \"prepared\"}' WHERE id = '$booking'" \
	-c "PREPARE TRANSACTION 'prepared_writer'" >/dev/null
xid=$(psql -X -A -t -d "$DB" -c "SELECT transaction FROM pg_prepared_xacts WHERE gid = 'prepared_writer'")
behind_writer=$(answer "$batch")
psql -X -q -d "$DB" -c "ROLLBACK PREPARED 'prepared_writer'" >/dev/null
echo "a booking a prepared transaction changed: $behind_writer"
if [ "$behind_writer" != "40001 | the booking is busy, try again | Another request changing it held its lock for more than 300 ms. | The prepared transaction $xid holds locks on this table until COMMIT PREPARED or ROLLBACK PREPARED and may be what holds it: resolve it (pg_prepared_xacts names it by transaction), or retry the request." ]; then
	echo "A PREPARED WRITER WAS NOT NAMED AS WHAT MAY HOLD A ROW"; fail=1
fi
dropdb "$DB"
[ "$fail" = 0 ]
