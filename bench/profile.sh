#!/usr/bin/env bash
# bench/profile.sh — runs inside the cluster of bench/run.sh; not in the
# default parts (BENCH_PARTS=profile make bench; needs perf and the right
# to sample every process, as root).
# Where a full booking's CPU goes, against the exclusion-constraint
# baseline (b): 8 clients book (wide scenario) for PROFILE_SECONDS
# (default 8) per variant while `perf record -a -g` samples every process
# for 4 s in the middle; the samples whose stack passes through a function
# of interest are divided by the attempts made meanwhile (the run's rate).  Both CPUs are
# busy throughout, so the figures are CPU time per attempt.
set -euo pipefail
cd "$(dirname "$0")"
SECS=${PROFILE_SECONDS:-8}
DB=protector_bench_profile
if [ "$SECS" -lt 8 ]; then
	echo "PROFILE_SECONDS must be at least 8 (4 s sampled in the middle of the run)" >&2
	exit 2
fi
if ! perf record -q -a -N -o /dev/null -- true >/dev/null 2>&1; then
	echo "bench/profile.sh needs perf and the right to sample every process (root)" >&2
	exit 2
fi
WORK=$(mktemp -d /tmp/protector-bench-profile.XXXXXX)
load=
cleanup() {
	if [ -n "$load" ]; then kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; fi
	dropdb --if-exists "$DB" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
dropdb --if-exists "$DB" >/dev/null 2>&1 || true
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f setup.sql
echo "== where a booking's CPU goes: perf samples of every process, per attempt (8 clients, wide)"
for v in excl full; do
	psql -X -q -d "$DB" -c "SET client_min_messages = warning" \
		-c "TRUNCATE bench.excl, protector.bookings, protector.audit_log CASCADE" \
		-c "SELECT bench.workflow($([ $v = full ] && echo true || echo false))" -c "CHECKPOINT" >/dev/null
	script=$([ $v = full ] && echo protector || echo excl)
	PGOPTIONS="$([ $v = full ] && echo "-c protector.notify=off")" pgbench -n -c 8 -j 2 -T "$SECS" \
		-D nsvc=200 -D nslots=17520 -f "attempt_$script.pgbench" "$DB" >"$WORK/$v.out" 2>&1 &
	load=$!
	sleep $((SECS / 2 - 2))
	# (-N: no copies of the sampled binaries in ~/.debug)
	perf record -q -a -g -N -o "$WORK/$v.data" -- sleep 4 >/dev/null 2>&1
	if ! wait "$load"; then
		load=
		echo "pgbench failed:" >&2
		cat "$WORK/$v.out" >&2
		exit 1
	fi
	load=
	# the attempts made during the 4 s sampled: the run's steady rate x 4 s
	# (pg_stat_database's counters reach the reader up to a second late)
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/$v.out")
	echo "$tps * 4" | bc -l >"$WORK/$v.attempts"
	perf script -i "$WORK/$v.data" -F comm,ip,sym >"$WORK/$v.script" 2>/dev/null
	echo "   $v: $tps attempts/s"
done
python3 - "$WORK" <<'PY'
import sys
work = sys.argv[1]
# (label, a sample counts if its stack passes through all of `within` and,
# when given, through one of `any_of`, and through none of `unless`)
rows = [
	("all CPU (every process)", [], None, []),
	("of which PostgreSQL's processes", ["comm:postgres"], None, []),
	("the side rows' heap inserts", ["protector_direct_insert"], {"heap_insert"}, []),
	("their index entries", ["protector_direct_insert"],
	 {"ExecInsertIndexTuples", "btinsert", "brininsert", "_bt_doinsert"}, ["heap_insert"]),
	("the direct inserts' other work", ["protector_direct_insert"], None,
	 ["heap_insert", "ExecInsertIndexTuples", "btinsert", "brininsert", "_bt_doinsert"]),
	("the side work's own logic", [], {"protector_booking_workflow_insert", "protector_audit_trigger",
									   "protector_report_change"}, ["protector_direct_insert"]),
	("the reservation engine's checks", [], {"protector_reservation_check", "protector_prepare_booking"}, []),
	("commits (lock release, WAL flush)", ["CommitTransactionCommand"], None, []),
]
def stacks(path):
	cur = None
	for line in open(path, errors="replace"):
		if not line.strip():
			if cur is not None:
				yield cur
			cur = None
		elif line[0] not in " \t":
			cur = {"comm:" + line.split()[0]}
		elif cur is not None:
			parts = line.split(None, 1)
			cur.add(parts[1].strip() if len(parts) > 1 else "?")
	if cur is not None:
		yield cur
figures = {}
for v in ("excl", "full"):
	attempts = float(open(f"{work}/{v}.attempts").read())
	counts = [0] * len(rows)
	for s in stacks(f"{work}/{v}.script"):
		for i, (label, within, any_of, unless) in enumerate(rows):
			if all(f in s for f in within) and (any_of is None or s & any_of) and not any(f in s for f in unless):
				counts[i] += 1
	# perf's default sampling: 4,000 Hz per CPU, 250 us a sample
	figures[v] = [c * 250.0 / attempts for c in counts]
print("%-36s %14s %18s" % ("per attempt (us of CPU)", "(b) exclusion", "full, notify off"))
for i, (label, *_rest) in enumerate(rows):
	print("%-36s %14.1f %18.1f" % (label, figures["excl"][i], figures["full"][i]))
b, full = figures["excl"][0], figures["full"][0]
side = figures["full"][2] + figures["full"][3]
logic = figures["full"][4] + figures["full"][5]
commit = max(figures["full"][7] - figures["excl"][7], 0)
print("full booking / (b) by CPU: %.2fx; at most, with the engine at (b)'s cost and the side work no more than "
	  "its rows: %.2fx (b) = %.0f / (%.0f + %.0f rows + %.0f commit); with its logic as measured: %.2fx (b)"
	  % (b / full, b / (b + side + commit), b, b, side, commit, b / (b + side + commit + logic)))
PY
