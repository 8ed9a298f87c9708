#!/usr/bin/env bash
# bench/report_log.sh — runs inside the cluster of bench/run.sh
# (BENCH_PARTS=reportlog; not in the default parts).
#
# What the report-change log (src/report_changes.c: one row of
# protector_internal.report_changes per organization and transaction,
# which keeps cached reports from going stale) costs the reservation
# engine's throughput.  The engine alone (the booking's audit row, review
# task, desk notification and NOTIFY switched off, as in
# bench/inside.sh) books with the log and, by disabling its INSERT
# trigger, without it; both against (b), the exclusion constraint, which
# logs nothing.  Wide scenario, 8 clients, BENCH_SECONDS (default 8) per
# run, BENCH_REPEAT (default 7) rounds in alternating order; medians of
# the runs and of the per-round ratios.  Without the log, cached reports
# would answer stale: the second variant is a measurement, not a mode.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=bench/lib.sh
. ./lib.sh
SECS=${BENCH_SECONDS:-8}
REPEAT=${BENCH_REPEAT:-7}
DB=protector_report_log
bench_database "$DB"
psql -X -q -d "$DB" -c "SELECT bench.workflow(false)" >/dev/null

run() {	# $1 = excl, logged or unlogged -> attempts/s
	local script=protector
	case $1 in
	excl) script=excl ;;
	logged) psql -X -q -d "$DB" -c "ALTER TABLE protector.bookings ENABLE TRIGGER zz_report_change_insert" ;;
	unlogged) psql -X -q -d "$DB" -c "ALTER TABLE protector.bookings DISABLE TRIGGER zz_report_change_insert" ;;
	esac
	wide_attempts "$DB" "$script"
}

echo "== the report-change log's cost to the engine: attempts per second, wide, 8 clients, ${SECS}s per run,"
echo "   median of $REPEAT rounds (odd and even rounds in opposite order)"
alternate_rounds excl excl logged unlogged
# the trigger as installed, whatever the last run left
psql -X -q -d "$DB" -c "ALTER TABLE protector.bookings ENABLE TRIGGER zz_report_change_insert"
printf '%-40s %12s %10s\n' variant attempts/s "vs (b)"
printf '%-40s %12.1f %10s\n' "(b) exclude" "$(median <<<"${TPS[excl]}")" "1.00x"
printf '%-40s %12.1f %9.2fx\n' "engine, report-change log (as shipped)" "$(median <<<"${TPS[logged]}")" "$(median <<<"${RATIO[logged]}")"
printf '%-40s %12.1f %9.2fx\n' "engine, log trigger disabled" "$(median <<<"${TPS[unlogged]}")" "$(median <<<"${RATIO[unlogged]}")"
echo "   vs (b) = median of the per-round ratios; the log costs the engine 1 - (shipped / disabled)"
