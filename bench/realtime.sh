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
