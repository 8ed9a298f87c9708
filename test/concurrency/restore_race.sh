#!/usr/bin/env bash
# test/concurrency/restore_race.sh — a parallel restore's row set aside
# while the table it waits for loads beside it (sql/98_restore.sql).  Two
# sessions restore as pg_restore -j does (row_security = off, each table's
# load its own transaction): A loads three bookings, a second apart, whose
# customer is not there when A checks the first; B loads that customer and
# commits while A is still loading.  B's load finds nothing waiting for the
# customer (A's first booking is not committed); A's own load must offer
# it again at its end, when the customer is there.  Expected: all three
# bookings stored, nothing left in restore_pending.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_restore_race

ORG=0f460000-0000-4000-8000-000000000000
VENUE=0f460000-0000-4000-8000-0000000000f1
SERVICE=0f460000-0000-4000-8000-0000000000a1
CUSTOMER=0f460000-0000-4000-8000-0000000000c1
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Race', 'restore-race');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES ('$VENUE', '$ORG', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('$SERVICE', '$ORG', '$VENUE', 'Room', '60 minutes', '60 minutes', '400 days');
SQL

# A: three bookings of the customer, one a second (the rows are checked as
# they come)
PGAPPNAME=loader psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/a.log" 2>&1 <<SQL &
SET row_security = off;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, currency, status)
SELECT format('0f460000-0000-4000-8000-%s', lpad(g::text, 12, '0'))::uuid, '$ORG', '$VENUE', '$SERVICE', '$CUSTOMER',
	tstzrange(timestamptz '2031-03-03 10:00+00' + g * interval '1 hour', timestamptz '2031-03-03 11:00+00' + g * interval '1 hour'),
	'EUR', 'confirmed'
FROM generate_series(1, 3) g, LATERAL (SELECT pg_sleep(CASE WHEN g = 1 THEN 0 ELSE 1 END)) s;
SQL
a=$!
# (until it sleeps before the second row: the first is stored)
wait_session loader "wait_event = 'PgSleep'"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SET row_security = off" \
	-c "INSERT INTO protector.customers (id, organization_id, full_name) VALUES ('$CUSTOMER', '$ORG', 'Rae')"
wait "$a" || { cat "$WORK/a.log"; exit 1; }

failures=0
expect() {	# $1 = description, $2 = expected, $3 = actual
	if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (expected $2, got $3)"; failures=$((failures + 1)); fi
}
expect "the first booking was set aside (its customer came later)" 1 \
	"$(psql -X -A -t -d "$DB" -c "SELECT n_tup_ins > 0 FROM pg_stat_user_tables WHERE relid = 'protector_internal.restore_pending'::regclass" | sed 's/t/1/;s/f/0/')"
expect "all three bookings stored" 3 "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings WHERE customer_id = '$CUSTOMER'")"
expect "nothing left in restore_pending" 0 "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector_internal.restore_pending")"
[ "$failures" -eq 0 ]
