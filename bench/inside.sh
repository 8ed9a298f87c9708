#!/usr/bin/env bash
# bench/inside.sh — runs inside the cluster of bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=bench/lib.sh
. ./lib.sh
SECS=${BENCH_SECONDS:-8}
DB=protector_bench
dropdb --if-exists "$DB" >/dev/null 2>&1 || true
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f setup.sql

# "protector" measures the reservation engine: the booking's other work
# (audit row, review task, desk notification, NOTIFY) is switched off, as
# the baselines do none of it; "full" is the same insert with all of it;
# "quiet" is "full" with protector.notify = off; "direct" is "full" with
# protector.notify_worker = off (each booking NOTIFYs at its own commit, as
# before the outbox worker).
workflow() {	# $1 = true (with the booking's other work) or false (the engine alone)
	psql -X -q -d "$DB" -c "SELECT bench.workflow($1)" >/dev/null
}
# "0.9 1.1" -> "0.90 1.10"
ratios() { for x in $1; do printf ' %.2f' "$x"; done; }

run() {	# $1 variant, $2 nsvc, $3 nslots -> prints "tps failed booked"
	psql -X -q -d "$DB" -c "SET client_min_messages = warning" \
		-c "TRUNCATE bench.plain, bench.excl, bench.plpg, protector.bookings, protector.audit_log CASCADE" >/dev/null
	script=$1
	if [ "$1" = protector ]; then workflow false; fi
	if [ "$1" = full ] || [ "$1" = quiet ] || [ "$1" = direct ]; then workflow true; script=protector; fi
	opts=$(case $1 in quiet) echo "-c protector.notify=off";; direct) echo "-c protector.notify_worker=off";; esac)
	# dirty buffers of the previous run are written now, not during this one
	psql -X -q -d "$DB" -c "CHECKPOINT" >/dev/null
	out=$(PGOPTIONS="$opts" pgbench -n -c 8 -j 2 -T "$SECS" -D nsvc="$2" -D nslots="$3" -f "attempt_$script.pgbench" "$DB" 2>&1)
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
	table=$(case $1 in protector|full|quiet|direct) echo protector.bookings;; *) echo "bench.$1";; esac)
	booked=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM $table")
	overlaps=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM $table a JOIN $table b
		ON a.service_id = b.service_id AND a.id < b.id AND a.during && b.during")
	echo "$tps ${failed:-0} $booked $overlaps"
}

REPEAT=${BENCH_REPEAT:-7}
echo "== throughput: booking attempts per second (refusals included), 8 clients, ${SECS}s per run,"
echo "   median of $REPEAT rounds per variant (each round runs every variant; odd and even rounds in opposite order)"
printf '%-6s %-12s %12s %8s %9s %9s %10s %10s\n' scenario variant attempts/s failed booked overlaps "vs (b)" "vs (a)"
for scenario in wide hot; do
	if [ "$scenario" = wide ]; then nsvc=200; nslots=17520; else nsvc=4; nslots=96; fi
	declare -A TPS=() FAILED=() BOOKED=() OVERLAPS=() ROUND=()
	for r in $(seq 1 "$REPEAT"); do
		# the variants compared run back to back, in alternating order
		# (ABC CBA ...), so a steady drift of the host's speed cancels
		if [ $((r % 2)) = 1 ]; then order="plain excl protector plpg full quiet direct"
		else order="direct protector excl plain quiet full plpg"; fi
		for v in $order; do
			read -r tps failed booked overlaps <<<"$(run "$v" "$nsvc" "$nslots")"
			TPS[$v]="${TPS[$v]:-} $tps"
			ROUND[$v]=$tps
			FAILED[$v]=$(( ${FAILED[$v]:-0} + failed ))
			BOOKED[$v]=$booked
			OVERLAPS[$v]=$(( ${OVERLAPS[$v]:-0} + overlaps ))
		done
		# the same round's runs ran minutes apart at most: their ratio
		# is less exposed to the host's drift than a ratio of medians
		PB="${PB:-} $(echo "${ROUND[protector]} / ${ROUND[excl]}" | bc -l)"
		PA="${PA:-} $(echo "${ROUND[protector]} / ${ROUND[plain]}" | bc -l)"
	done
	a=$(median <<<"${TPS[plain]}")
	b=$(median <<<"${TPS[excl]}")
	for v in plain excl plpg protector full quiet direct; do
		tps=$(median <<<"${TPS[$v]}")
		case $v in plain) label="(a) plain";; excl) label="(b) exclude";; plpg) label="(c) plpgsql";;
			full) label="protector+";; quiet) label="+ no NOTIFY";; direct) label="+ own NOTIFY";; *) label=$v;; esac
		printf '%-6s %-12s %12.1f %8s %9s %9s %9.2fx %9.2fx\n' "$scenario" "$label" "$tps" "${FAILED[$v]}" \
			"${BOOKED[$v]}" "${OVERLAPS[$v]}" "$(echo "$tps / $b" | bc -l)" "$(echo "$tps / $a" | bc -l)"
	done
	printf '%-6s protector / (b) and / (a) within each round:%s |%s; medians %.2fx and %.2fx\n' "$scenario" \
		"$(ratios "$PB")" "$(ratios "$PA")" \
		"$(median <<<"$PB")" "$(median <<<"$PA")"
	unset TPS FAILED BOOKED OVERLAPS ROUND PB PA
done
echo "   failed = failed transactions summed over the runs; booked = rows of the last run;"
echo "   overlaps = double bookings summed over the runs ((a) checks nothing)"
echo "   protector = the reservation engine alone; protector+ = the same booking with its audit row,"
echo "   review task, desk notification and NOTIFY (sent by the outbox worker); + no NOTIFY = protector+"
echo "   with protector.notify = off; + own NOTIFY = protector+ with protector.notify_worker = off"

echo
echo "== get_available_slots, 31 days, same bookings in the window, table of ~10k vs ~1M bookings"
echo "   (two databases, measured in alternation: 5 passes of 300 calls each after a warm-up;"
echo "   medians of the passes and of the per-pass ratios)"
# The two table sizes live in two databases and are measured in turn, so a
# drift of the host's speed between the measurements cannot pass for a
# difference between the sizes (it did once: 1.76x, then 1.01x-1.54x).
DB10K=${DB}_10k
dropdb --if-exists "$DB10K" >/dev/null 2>&1 || true
createdb "$DB10K"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB10K" -f setup.sql
load_10k() {	# services 1..27: every other hour of the 31 days from tomorrow (~10k)
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SET client_min_messages = warning;
TRUNCATE protector.bookings CASCADE;
SET session_replication_role = replica;	-- bulk load of rows known not to overlap
INSERT INTO protector.bookings (organization_id, currency, venue_id, service_id, during)
SELECT '0b000000-0000-4000-8000-000000000000', 'USD', '0b000000-0000-4000-8000-0000000000b1', bench.svc(s),
	   tstzrange(date_trunc('day', now()) + interval '1 day' + h * interval '2 hours',
				 date_trunc('day', now()) + interval '1 day' + h * interval '2 hours' + interval '60 minutes')
FROM generate_series(1, 27) s, generate_series(0, 31 * 12 - 1) h;
VACUUM (ANALYZE) protector.bookings;
SQL
}
load_10k "$DB10K"
load_10k "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
SET client_min_messages = warning;
SET session_replication_role = replica;
-- ~990k more, on the other 173 services
INSERT INTO protector.bookings (organization_id, currency, venue_id, service_id, during)
SELECT '0b000000-0000-4000-8000-000000000000', 'USD', '0b000000-0000-4000-8000-0000000000b1', bench.svc(s),
	   tstzrange(date_trunc('day', now()) + h * interval '2 hours',
				 date_trunc('day', now()) + h * interval '2 hours' + interval '60 minutes')
FROM generate_series(28, 200) s, generate_series(0, 5724) h;
VACUUM (ANALYZE) protector.bookings;
SQL
FROM=$(psql -X -A -t -d "$DB" -c "SELECT (current_date + 1)::text")
pass() {	# $1 database, $2 calls -> mean latency in ms
	pgbench -n -c 1 -t "$2" -D from_day="'$FROM'::date" -f availability.pgbench "$1" 2>&1 |
		sed -n 's/^latency average = \([0-9.]*\) ms/\1/p'
}
pass "$DB10K" 100 >/dev/null
pass "$DB" 100 >/dev/null
L10K="" L1M="" LR=""
for _ in 1 2 3 4 5; do
	a=$(pass "$DB10K" 300)
	b=$(pass "$DB" 300)
	L10K="$L10K $a" L1M="$L1M $b" LR="$LR $(echo "$b / $a" | bc -l)"
done
n10k=$(psql -X -A -t -d "$DB10K" -c "SELECT count(*) FROM protector.bookings")
n1m=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings")
printf '%-24s %10s ms   (passes:%s)\n' "$n10k bookings:" "$(median <<<"$L10K")" "$L10K" \
	"$n1m bookings:" "$(median <<<"$L1M")" "$L1M"
printf 'ratio 1M / 10k: %.2fx (median of the per-pass ratios:%s)\n' "$(median <<<"$LR")" \
	"$(ratios "$LR")"
dropdb "$DB10K"
dropdb "$DB"
