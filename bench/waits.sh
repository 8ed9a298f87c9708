#!/usr/bin/env bash
# bench/waits.sh — runs inside the cluster of bench/run.sh; not in the
# default parts (BENCH_PARTS=waits make bench).
# What a full booking waits on, against the exclusion-constraint baseline
# (b): for 2 and 8 clients (wide scenario; the full booking with
# protector.notify = off) each variant books for WAITS_SECONDS (default 8)
# while another session samples pg_stat_activity every 2 ms in the middle
# of the run: the share of the clients' samples per wait event ("CPU" when
# none).  Then, for one booking of each in a session that has booked
# before, the relation locks its transaction holds, in the backend's
# 16 fast-path slots and in the shared lock table: every lock past the
# slots costs a shared hash lookup and a partition lock to take and to
# release.
set -euo pipefail
cd "$(dirname "$0")"
SECS=${WAITS_SECONDS:-8}
DB=protector_bench_waits
if [ "$SECS" -lt 6 ]; then
	echo "WAITS_SECONDS must be at least 6 (the samples are taken from the 2nd second on)" >&2
	exit 2
fi
WORK=$(mktemp -d /tmp/protector-bench-waits.XXXXXX)
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
# samples: about (SECS - 3) s of them, every 2 ms
SAMPLES=$(( (SECS - 3) * 400 ))

prepare() {
	psql -X -q -d "$DB" -c "SET client_min_messages = warning" \
		-c "TRUNCATE bench.excl, protector.bookings, protector.audit_log CASCADE" \
		-c "SELECT bench.workflow($([ "$1" = full ] && echo true || echo false))" -c "CHECKPOINT" >/dev/null
}

echo "== what the clients wait on (share of samples of active clients; wide)"
for clients in 2 8; do
	for v in excl full; do
		prepare "$v"
		script=$([ "$v" = full ] && echo protector || echo excl)
		PGOPTIONS="$([ "$v" = full ] && echo "-c protector.notify=off")" pgbench -n -c "$clients" -j 2 -T "$SECS" \
			-D nsvc=200 -D nslots=17520 -f "attempt_$script.pgbench" "$DB" >"$WORK/$v$clients.out" 2>&1 &
		load=$!
		sleep 2
		psql -X -q -A -t -F ' ' -d "$DB" >"$WORK/$v$clients.waits" <<SQL
CREATE TEMP TABLE s (t text);
DO \$\$
BEGIN
	FOR i IN 1..$SAMPLES LOOP
		INSERT INTO s SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU')
		FROM pg_stat_activity WHERE application_name = 'pgbench' AND state = 'active';
		PERFORM pg_stat_clear_snapshot();
		PERFORM pg_sleep(0.002);
	END LOOP;
END \$\$;
SELECT t, round(100.0 * count(*) / sum(count(*)) OVER (), 1) FROM s GROUP BY t;
SQL
		if ! wait "$load"; then
			load=
			echo "pgbench failed:" >&2
			cat "$WORK/$v$clients.out" >&2
			exit 1
		fi
		load=
	done
	python3 - "$WORK" "$clients" <<'PY'
import sys
work, clients = sys.argv[1], sys.argv[2]
def load(v):
	d = {}
	for line in open(f"{work}/{v}{clients}.waits"):
		parts = line.split()
		if len(parts) == 2:
			d[parts[0]] = float(parts[1])
	tps = float(open(f"{work}/{v}{clients}.out").read().split("tps = ")[1].split()[0])
	return d, tps
(b, tb), (f, tf) = load("excl"), load("full")
print(f"   {clients} clients: (b) {tb:,.0f} attempts/s, full booking {tf:,.0f} ({tf / tb:.2f}x (b))")
print("   %-28s %8s %8s" % ("wait event", "(b) %", "full %"))
for k in sorted(set(b) | set(f), key=lambda k: -max(b.get(k, 0), f.get(k, 0)))[:8]:
	print("   %-28s %8.1f %8.1f" % (k, b.get(k, 0), f.get(k, 0)))
PY
done

echo "== relation locks one booking's transaction holds (after 20 bookings in the session)"
for v in excl full; do
	prepare "$v"
	fn=$([ "$v" = full ] && echo attempt_protector || echo attempt_excl)
	psql -X -q -A -t -d "$DB" <<SQL | sed "s/^/   $v: /"
SET protector.notify = off;
SELECT count(bench.$fn(i % 100 + 1, i)) FROM generate_series(1, 20) i \g /dev/null
BEGIN;
SELECT bench.$fn(7, 4000) \g /dev/null
SELECT format('%s in fast-path slots, %s in the shared lock table',
			  count(*) FILTER (WHERE fastpath), count(*) FILTER (WHERE NOT fastpath))
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
  AND c.relnamespace <> 'pg_catalog'::regnamespace;	-- (not this query's own)
COMMIT;
SQL
done
