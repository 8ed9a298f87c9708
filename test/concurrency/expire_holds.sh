#!/usr/bin/env bash
# test/concurrency/expire_holds.sh — four workers sweep 200 expired holds
# at once, 7 at a time (SKIP LOCKED): every hold is cancelled exactly once
# (200 cancellations in the audit log, the workers' counts add up to 200),
# nothing else is touched, and no worker fails or waits on another.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
fresh_database protector_expire
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
INSERT INTO protector.organizations (id, name, slug) VALUES ('0f300000-0000-4000-8000-000000000000', 'X', 'expire');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0f300000-0000-4000-8000-0000000000f1', '0f300000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0f300000-0000-4000-8000-0000000000a1', '0f300000-0000-4000-8000-000000000000',
		'0f300000-0000-4000-8000-0000000000f1', 'Room', '60 minutes', '60 minutes', '30 days');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, hold_expires_at)
SELECT '0f300000-0000-4000-8000-000000000000', '0f300000-0000-4000-8000-0000000000f1', '0f300000-0000-4000-8000-0000000000a1',
	   tstzrange(date_trunc('day', now()) + interval '2 days' + h * interval '1 hour',
				 date_trunc('day', now()) + interval '2 days' + (h + 1) * interval '1 hour'),
	   CASE WHEN h <= 200 THEN 'held' ELSE 'confirmed' END::protector.booking_status,
	   CASE WHEN h <= 200 THEN now() - interval '1 minute' END
FROM generate_series(1, 210) h;
CREATE TABLE gate (open boolean);
SQL

for w in 1 2 3 4; do
	cat >"$WORK/worker$w.sql" <<'SQL'
\set ON_ERROR_STOP on
DO $$ BEGIN WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.005); END LOOP; END $$;
DO $$
DECLARE n integer; total integer := 0;
BEGIN
	LOOP
		n := protector.expire_holds(7);
		EXIT WHEN n = 0;
		total := total + n;
		PERFORM pg_sleep(0.001);
	END LOOP;
	RAISE NOTICE 'expired %', total;
END $$;
SQL
done
pids=()
for w in 1 2 3 4; do
	PGAPPNAME=worker$w psql -X -q -d "$DB" -f "$WORK/worker$w.sql" >"$WORK/out$w" 2>"$WORK/err$w" &
	pids+=($!)
done
# (until all four wait at the gate)
for w in 1 2 3 4; do
	wait_session "worker$w" "query LIKE '%FROM gate)%'"
done
psql -X -q -d "$DB" -c "INSERT INTO gate VALUES (true)"
failures=0
for p in "${pids[@]}"; do wait "$p" || failures=$((failures + 1)); done

sum=$(cat "$WORK"/err* | sed -n 's/.*expired \([0-9]*\).*/\1/p' | paste -sd+ | bc)
workers=$(cat "$WORK"/err* | grep -c 'expired [1-9]' || true)
unexpected=$(cat "$WORK"/err* | grep -v 'NOTICE:  expired' | grep -v '^$' || true)
read -r cancelled audited untouched < <(psql -X -A -t -F' ' -d "$DB" -c "SELECT
	(SELECT count(*) FROM protector.bookings WHERE status = 'cancelled' AND cancellation_reason = 'hold expired'),
	(SELECT count(*) FROM protector.audit_log WHERE table_name = 'protector.bookings' AND new_row ->> 'status' = 'cancelled'),
	(SELECT count(*) FROM protector.bookings WHERE status = 'confirmed')")
echo "workers reported $sum expiries ($workers of 4 workers found work); $cancelled cancelled, $audited cancellations audited, $untouched confirmed left alone"
[ -z "$unexpected" ] || { echo "unexpected output:"; echo "$unexpected" | head -5; failures=$((failures + 1)); }
if [ "$sum" -ne 200 ] || [ "$cancelled" -ne 200 ] || [ "$audited" -ne 200 ] || [ "$untouched" -ne 10 ]; then
	echo "EXPIRY BROKEN: want 200 reported, 200 cancelled once each, 10 untouched"; failures=$((failures + 1))
fi
dropdb "$DB"
[ "$failures" -eq 0 ]
