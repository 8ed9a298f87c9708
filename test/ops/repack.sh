#!/usr/bin/env bash
# test/ops/repack.sh — pg_repack of the tables protector writes directly
# (audit_log, tasks, notifications, protector_internal.report_changes and
# the outbox) while bookings commit: pg_repack copies a table, replays what
# its AFTER ROW trigger logged meanwhile and swaps; protector's direct
# writes fired no trigger, so an audit row, review task, desk notification
# or report change written during the rebuild was lost at the swap (an
# attack on maintenance).  A transaction held open makes every pg_repack
# wait after its copy, a booking is made every fifth of a second
# throughout, and every booking must keep its audit row, task,
# notification and report change, and be announced.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_repack
REPACK=$(pg_config --bindir)/pg_repack
ORG=0f520000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
CREATE EXTENSION pg_repack;
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Repack', 'repack');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f520000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party, duration, slot_interval, max_advance)
VALUES ('0f520000-0000-4000-8000-0000000005a1', '$ORG', '0f520000-0000-4000-8000-0000000000a1', 'Hall', 'shared', 100000, 1,
		'60 minutes', '60 minutes', '400 days');
-- a few bookings before: a table with rows to copy
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
SELECT '$ORG', '0f520000-0000-4000-8000-0000000000a1', '0f520000-0000-4000-8000-0000000005a1',
	   tstzrange(date_trunc('day', now()) + interval '2 days' + i * interval '1 hour',
				 date_trunc('day', now()) + interval '2 days' + (i + 1) * interval '1 hour')
FROM generate_series(1, 50) i;
SQL
# an unrelated transaction open: each pg_repack waits for it after its copy
PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" -c "SELECT txid_current()" -c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null &
holder=$!
wait_session holder "query LIKE 'SELECT pg_sleep%'"
pids=()
for t in protector.audit_log protector.tasks protector.notifications protector_internal.report_changes protector_internal.outbox; do
	"$REPACK" -d "$DB" -t "$t" >"$WORK/repack_${t//./_}.log" 2>&1 &
	pids+=($!)
done
# bookings every fifth of a second until every pg_repack is done
n=0
while kill -0 "${pids[@]}" 2>/dev/null; do
	n=$((n + 1))
	psql -X -q -d "$DB" -c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
		VALUES ('$ORG', '0f520000-0000-4000-8000-0000000000a1', '0f520000-0000-4000-8000-0000000005a1',
				tstzrange(date_trunc('day', now()) + interval '30 days' + $n * interval '1 hour',
						  date_trunc('day', now()) + interval '30 days' + ($n + 1) * interval '1 hour'))"
	sleep 0.2
done
repack_failed=0
for p in "${pids[@]}"; do wait "$p" || repack_failed=1; done
wait "$holder" || true
if [ "$repack_failed" = 1 ]; then cat "$WORK"/repack_*.log; echo "pg_repack failed"; exit 1; fi
echo "# $n bookings made while pg_repack rebuilt five tables"
missing=$(psql -X -A -t -d "$DB" <<SQL
SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT FROM protector.audit_log a WHERE a.table_name = 'protector.bookings'
											AND a.op = 'INSERT' AND a.record_id = b.id::text)) || ' ' ||
	   count(*) FILTER (WHERE NOT EXISTS (SELECT FROM protector.tasks t WHERE t.booking_id = b.id)) || ' ' ||
	   count(*) FILTER (WHERE NOT EXISTS (SELECT FROM protector.notifications x WHERE x.booking_id = b.id))
FROM protector.bookings b WHERE b.organization_id = '$ORG';
SQL
)
echo "bookings without their audit row, task, notification: $missing"
fail=0
[ "$missing" = "0 0 0" ] || fail=1
# the report changes: one a transaction that changed the organization's
# bookings (the 50 first, then each of the n; nothing prunes them here)
changes=$(psql -X -A -t -d "$DB" -c "SELECT count(*) >= 1 + $n FROM protector_internal.report_changes WHERE organization_id = '$ORG'")
echo "every booking's report change kept: $changes"
[ "$changes" = t ] || fail=1
dropdb --force "$DB"
[ "$fail" = 0 ]
