#!/usr/bin/env bash
# bench/realtime.sh — commit-to-notification latency of live updates.
# Runs inside a throwaway cluster (bench/run.sh): builds
# bench/listen_latency.c against libpq, then books REALTIME_BOOKINGS
# (default 1000) slots one transaction each while a second connection
# LISTENs, and prints median and p99 against the COMMIT round trip.
set -euo pipefail
cd "$(dirname "$0")"
N=${REALTIME_BOOKINGS:-1000}
DB=protector_bench_rt
BIN=$(mktemp -d /tmp/protector-bench-rt.XXXXXX)
trap 'rm -rf "$BIN"' EXIT
gcc -O2 -Wall -Wextra -Werror -I"$(pg_config --includedir)" -o "$BIN/listen_latency" listen_latency.c \
	-L"$(pg_config --libdir)" -lpq
dropdb --if-exists "$DB" >/dev/null 2>&1 || true
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION protector CASCADE;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0c000000-0000-4000-8000-000000000000', 'RT', 'rt');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0c000000-0000-4000-8000-0000000000f1', '0c000000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0c000000-0000-4000-8000-0000000000a1', '0c000000-0000-4000-8000-000000000000',
		'0c000000-0000-4000-8000-0000000000f1', 'Room', '60 minutes', '60 minutes', '400 days');
SQL
echo "== live updates: $N bookings, one transaction each, a second connection LISTENing"
"$BIN/listen_latency" "dbname=$DB" 0c000000-0000-4000-8000-000000000000 \
	0c000000-0000-4000-8000-0000000000a1 0c000000-0000-4000-8000-0000000000f1 "$N"
dropdb "$DB"

# Under load: the same measurement while 8 clients make full bookings
# (engine, audit row, review task, desk notification, announcements) as
# fast as they can, wide scenario, in the same organization, so the
# listener's channel carries the load's announcements too.  Once through
# the outbox worker (the default), once with each transaction notifying at
# its own commit (protector.notify_worker = off).
LOAD_DB=protector_bench_rt_load
LOAD_N=${REALTIME_LOAD_BOOKINGS:-300}
# the latency is measured once the load has run this long: the outbox is a
# queue whose table grows under load until autovacuum comes, and its first
# seconds hide what a sustained load costs (a drain that read the whole
# table: p99 97 ms after 30 s, 12-18 ms in the first seconds)
WARM_SECS=${REALTIME_WARM_SECONDS:-30}
LOAD_SECS=${REALTIME_LOAD_SECONDS:-$((WARM_SECS + 15))}
dropdb --if-exists "$LOAD_DB" >/dev/null 2>&1 || true
createdb "$LOAD_DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$LOAD_DB" -f setup.sql
psql -X -q -v ON_ERROR_STOP=1 -d "$LOAD_DB" -c "SELECT bench.workflow(true)" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$LOAD_DB" <<'SQL'
-- the listener's own service (the load books services 1 to 200)
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES (bench.svc(201), '0b000000-0000-4000-8000-000000000000', '0b000000-0000-4000-8000-0000000000b1',
		'Latency', '60 minutes', '60 minutes', '1100 days');
SQL
for mode in on off; do
	psql -X -q -d "$LOAD_DB" -c "SET client_min_messages = warning" \
		-c "TRUNCATE protector.bookings, protector.audit_log CASCADE" -c "CHECKPOINT" >/dev/null
	echo "== live updates under load: $LOAD_N bookings as above while 8 clients book (wide), notify_worker = $mode," \
		"after ${WARM_SECS}s of that load"
	PGOPTIONS="-c protector.notify_worker=$mode" pgbench -n -c 8 -j 2 -T "$LOAD_SECS" -D nsvc=200 -D nslots=17520 \
		-f attempt_protector.pgbench "$LOAD_DB" >"$BIN/load.out" 2>&1 &
	load=$!
	sleep "$WARM_SECS"
	PGOPTIONS="-c protector.notify_worker=$mode" "$BIN/listen_latency" "dbname=$LOAD_DB" \
		0b000000-0000-4000-8000-000000000000 0b000000-0000-4000-8000-0000000000c9 \
		0b000000-0000-4000-8000-0000000000b1 "$LOAD_N"
	if ! kill -0 "$load" 2>/dev/null; then echo "   (the load ended before the last measurement: raise REALTIME_LOAD_SECONDS)"; fi
	wait "$load"
	echo "   the load: $(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$BIN/load.out") attempts/s," \
		"$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$BIN/load.out") failed"
done
dropdb "$LOAD_DB"
