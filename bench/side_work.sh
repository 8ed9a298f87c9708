#!/usr/bin/env bash
# bench/side_work.sh — runs inside the cluster of bench/run.sh
# (BENCH_PARTS=sidework; not in the default parts).
#
# What each part of a full booking's side work costs its throughput: the
# full booking (protector.notify = off), the same without the workflow's
# review task and desk notification (trigger booking_workflow disabled),
# the same with those rows written after commit by a session beside the
# clients ("deferred": would a worker writing them meet the target?),
# without the audit row (protector_audit disabled), and the engine alone,
# each against (b), the exclusion constraint.  Wide scenario, 8 clients,
# BENCH_SECONDS (default 8) per run, BENCH_REPEAT (default 7) rounds in
# alternating order; medians of the runs and of the per-round ratios.  A
# variant without a part is a measurement, not a mode: the product writes
# them all.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=bench/lib.sh
. ./lib.sh
SECS=${BENCH_SECONDS:-8}
REPEAT=${BENCH_REPEAT:-7}
DB=protector_side_work
bench_database "$DB"

VARIANTS="excl full no_workflow deferred no_audit engine"
run() {	# $1 = a variant -> attempts/s
	local script=protector beside=
	psql -X -q -d "$DB" -c "SELECT bench.workflow($([ "$1" = engine ] && echo false || echo true))" >/dev/null
	case $1 in
	excl) script=excl ;;
	no_workflow | deferred) psql -X -q -d "$DB" -c "ALTER TABLE protector.bookings DISABLE TRIGGER booking_workflow" ;;
	no_audit) psql -X -q -d "$DB" -c "ALTER TABLE protector.bookings DISABLE TRIGGER protector_audit" ;;
	esac
	# the task and notification written after commit, beside the clients
	# (bench.catch_up in setup.sql), with them on the same two cores
	if [ "$1" = deferred ]; then beside="CALL bench.catch_up($SECS)"; fi
	PGOPTIONS="-c protector.notify=off" wide_attempts "$DB" "$script" "$beside"
	if [ "$1" = deferred ]; then
		# bookings of the run's last 5 ms are left for a next pass
		psql -X -A -t -q -d "$DB" -c "INSERT INTO bench.catch_up_runs
			SELECT max(rows), (SELECT count(*) FROM protector.bookings), (SELECT count(*) FROM protector.tasks)
			  FROM bench.catch_up_batches" >/dev/null
	fi
}

echo "== a full booking's side work, part by part: attempts per second, wide, 8 clients, notify off,"
echo "   ${SECS}s per run, median of $REPEAT rounds (odd and even rounds in opposite order)"
# shellcheck disable=SC2086 # (the variants, one word each)
alternate_rounds excl $VARIANTS
# the triggers as installed, whatever the last run left
psql -X -q -d "$DB" -c "SELECT bench.workflow(true)" >/dev/null
printf '%-52s %12s %10s\n' variant attempts/s "vs (b)"
for v in $VARIANTS; do
	case $v in
	excl) label="(b) exclude" ;;
	full) label="full booking (audit, task, notification)" ;;
	no_workflow) label="... without the task and notification" ;;
	deferred) label="... with them written after commit, beside" ;;
	no_audit) label="... without the audit row" ;;
	engine) label="the engine alone" ;;
	esac
	printf '%-52s %12.1f %9.2fx\n' "$label" "$(median <<<"${TPS[$v]}")" "$(median <<<"${RATIO[$v]}")"
done
echo "   vs (b) = median of the per-round ratios"
echo "   written after commit: per run, the largest pass's tasks (one pass every 5 ms), bookings, tasks:" \
	"$(psql -X -A -t -q -F ' ' -R ', ' -d "$DB" -c "SELECT * FROM bench.catch_up_runs")"
