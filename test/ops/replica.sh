#!/usr/bin/env bash
# test/ops/replica.sh — reads scale out on streaming replicas (DESIGN.md,
# "Scale"; docs/operations.md).  A primary of its own (a cluster beside
# the suite's, so that the base backup is small) is filled through the
# RPCs (test/ops/fixture.sql and fixture_current.sql), copied by
# pg_basebackup and started as a hot standby.  Then:
#   - every read RPC answers on the standby, as the role that calls it,
#     exactly as on the primary (test/ops/replica_reads.sql: none writes,
#     none needs a transaction id, none fails in a read-only transaction);
#   - a report cached on the primary is not answered stale on the standby
#     once a booking changed it;
#   - a booking RPC on the standby is refused as read-only (25006), as
#     PostgreSQL refuses any write there.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${REPLICA_PRIMARY:-}" ]; then
	exec env REPLICA_PRIMARY=1 bash scripts/pg-cluster.sh bash "$0"
fi

BINDIR=$(pg_config --bindir)
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
STANDBY=$PGHOST/standby
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }

createdb app
PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d app -f test/fixtures/supabase.sql
psql -X -q -v ON_ERROR_STOP=1 -d app -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector CASCADE"
psql -X -q -v ON_ERROR_STOP=1 -d app -f test/ops/fixture.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d app -f test/ops/fixture_current.sql >/dev/null

as_owner "$BINDIR/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -D "$STANDBY" -R -X stream -c fast
echo "port = 5433" | as_owner tee -a "$STANDBY/postgresql.conf" >/dev/null
as_owner "$BINDIR/pg_ctl" -D "$STANDBY" -l "$PGHOST/standby.log" -w start >/dev/null
trap 'as_owner "$BINDIR/pg_ctl" -D "$STANDBY" -m immediate -w stop >/dev/null 2>&1' EXIT

# waits until the standby has replayed everything the primary wrote
caught_up() {
	local lsn
	lsn=$(psql -X -A -t -d app -c "SELECT pg_current_wal_lsn()")
	for _ in $(seq 1 100); do
		[ "$(psql -X -A -t -p 5433 -d app -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && return 0
		sleep 0.1
	done
	fail "the standby did not catch up with $lsn"
}
caught_up
[ "$(psql -X -A -t -p 5433 -d app -c "SELECT pg_is_in_recovery()")" = t ] || fail "the standby is not in recovery"

# every read, on both
psql -X -q -d app -f test/ops/replica_reads.sql >"$PGHOST/primary.out" 2>&1 || true
psql -X -q -p 5433 -d app -f test/ops/replica_reads.sql >"$PGHOST/standby.out" 2>&1 || true
reads=$(grep -c '^[a-z_]* [0-9]* [0-9a-f]\{32\}$' "$PGHOST/primary.out" || true)
expected=$(grep -c "^SELECT '" test/ops/replica_reads.sql)
[ "$reads" -eq "$expected" ] || { fail "the primary answered $reads reads of $expected"; grep -v '^[a-z_]* [0-9]* [0-9a-f]*$' "$PGHOST/primary.out" | head -10; }
if ! diff -u "$PGHOST/primary.out" "$PGHOST/standby.out"; then
	fail "the standby's reads differ from the primary's"
fi
# answers that must not be empty
for name in get_available_slots get_widget_slots get_audit_logs bookings tasks notifications; do
	grep -q "^$name [1-9]" "$PGHOST/standby.out" || fail "$name answered nothing on the standby"
done

# a report cached on the primary, then a booking: the standby answers the
# new figures, not the cached ones
report="SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{\"sub\": \"00000000-0000-4000-8000-00000000aa01\", \"role\": \"authenticated\"}', false) IS NULL;
SELECT md5(string_agg(r::text, ',' ORDER BY r::text))
FROM protector.organizations o, protector.generate_booking_report(o.id, current_date - 30, current_date + 30, NULL) r
WHERE o.slug = 'lockbox'"
before=$(psql -X -A -t -d app -c "$report" | tail -1)
[ "$(psql -X -A -t -d app -c "SELECT count(*) FROM protector_internal.reports_cache WHERE report = 'bookings'")" -ge 1 ] ||
	fail "the primary did not cache the report"
psql -X -q -v ON_ERROR_STOP=1 -d app -c "SELECT protector.create_booking('0c000000-0000-4000-8000-0000000005a1',
	'0c000000-0000-4000-8000-00000000c001', date_trunc('day', now()) + interval '12 days 10 hours', 2, 'replica/1')" >/dev/null
caught_up
on_standby=$(psql -X -A -t -p 5433 -d app -c "$report" | tail -1)
after=$(psql -X -A -t -d app -c "$report" | tail -1)
[ "$before" != "$after" ] || fail "the booking did not change the report (the check proves nothing)"
[ "$on_standby" = "$after" ] || fail "the standby answered the report stale ($on_standby; the primary $after)"

# a write on the standby is PostgreSQL's read-only refusal, nothing worse
refusal=$(psql -X -A -t -p 5433 -d app -c "\set VERBOSITY sqlstate" -c "SELECT protector.create_booking('0c000000-0000-4000-8000-0000000005a1',
	'0c000000-0000-4000-8000-00000000c001', date_trunc('day', now()) + interval '13 days 10 hours', 2, 'replica/2')" 2>&1 || true)
[ "$refusal" = "ERROR:  25006" ] || fail "a booking on the standby: '$refusal'"

echo "$reads reads equal on the standby; report not stale; writes refused"
[ "$failures" -eq 0 ]
