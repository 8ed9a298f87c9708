#!/usr/bin/env bash
# test/concurrency/reservations.sh — real concurrent sessions racing for
# the same slots.  For each isolation level (READ COMMITTED, REPEATABLE
# READ, SERIALIZABLE) and each shape (hot: 3 services, 2 days; wide: 60
# services), 8 psql sessions fire overlapping bookings at once, half as
# direct INSERTs into protector.bookings, half through create_booking().
# Afterwards: no two occupying bookings of an exclusive service overlap
# (buffers included), no shared service exceeds its capacity at any
# instant, and the only errors seen are 23P01 and 40001.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail

CLIENTS=${CLIENTS:-8}
ATTEMPTS=${ATTEMPTS:-150}
. "$(dirname "$0")/../lib.sh"
fresh_database protector_concurrency

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
INSERT INTO protector.organizations (id, name, slug) VALUES ('0f000000-0000-4000-8000-000000000000', 'Race', 'race');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0f000000-0000-4000-8000-0000000000f1', '0f000000-0000-4000-8000-000000000000', 'Track', 'Europe/Berlin', '{}');
-- services 1..60: exclusive with a 10 minute buffer; every 10th is shared (capacity 5)
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party, duration,
								slot_interval, buffer_after, max_advance)
SELECT ('0f000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, '0f000000-0000-4000-8000-000000000000',
	   '0f000000-0000-4000-8000-0000000000f1', 'Service ' || i,
	   CASE WHEN i % 10 = 0 THEN 'shared' ELSE 'exclusive' END::protector.service_mode,
	   CASE WHEN i % 10 = 0 THEN 5 ELSE 4 END, 3, '60 minutes', '30 minutes', '10 minutes', '30 days'
FROM generate_series(1, 60) i;
SQL

# base: midnight two days ahead, so create_booking's notice rules pass
BASE=$(psql -X -A -t -d "$DB" -c "SELECT date_trunc('day', now()) + interval '2 days'")

gen_client() {	# $1 = client number, $2 = number of services, $3 = slots per service
	local c=$1 nsvc=$2 nslots=$3
	awk -v seed="$RANDOM$c" -v c="$c" -v n="$ATTEMPTS" -v nsvc="$nsvc" -v nslots="$nslots" -v base="$BASE" '
	BEGIN {
		srand(seed);
		print "\\set VERBOSITY sqlstate";
		print "\\set ON_ERROR_STOP 0";
		print "\\set SHOW_CONTEXT never";
		for (i = 0; i < n; i++) {
			svc = int(rand() * nsvc) + 1;
			if (nsvc == 3 && svc == 3) svc = 10;		# the hot set includes a shared service
			slot = int(rand() * nslots);
			party = int(rand() * 3) + 1;
			id = sprintf("0f000000-0000-4000-8000-%012x", svc);
			start = sprintf("(timestamptz '\''%s'\'' + interval '\''%d minutes'\'')", base, slot * 30);
			if (c % 2 == 0)
				printf("INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size) VALUES ('\''0f000000-0000-4000-8000-000000000000'\'', '\''0f000000-0000-4000-8000-0000000000f1'\'', '\''%s'\'', tstzrange(%s, %s + interval '\''60 minutes'\''), %d);\n", id, start, start, party);
			else
				printf("SELECT 1 FROM protector.create_booking('\''%s'\'', NULL, %s, %d);\n", id, start, party);
		}
	}' > "$WORK/client$c.sql"
}

check() {	# $1 = label
	psql -X -A -t -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
WITH occ AS (
	SELECT b.id, b.service_id, s.mode, s.capacity, b.party_size,
		   tstzrange(lower(b.during) - s.buffer_before, upper(b.during) + s.buffer_after) AS r
	FROM protector.bookings b JOIN protector.services s ON s.id = b.service_id
	WHERE b.status NOT IN ('cancelled', 'no_show') AND (b.status <> 'held' OR b.hold_expires_at > now())
)
SELECT 'exclusive overlaps: ' || (SELECT count(*) FROM occ a JOIN occ b
		ON a.service_id = b.service_id AND a.id < b.id AND a.r && b.r WHERE a.mode = 'exclusive')
	|| E'\nshared excess: ' || (SELECT count(*) FROM occ a
		WHERE a.mode = 'shared'
		  AND (SELECT sum(b.party_size) FROM occ b WHERE b.service_id = a.service_id
			   AND b.r @> lower(a.r)) > a.capacity)
	|| E'\nbookings: ' || (SELECT count(*) FROM occ);
SQL
}

failures=0
for level in "read committed" "repeatable read" "serializable"; do
	for shape in hot wide; do
		psql -X -q -d "$DB" -c "SET client_min_messages = warning" -c "TRUNCATE protector.bookings CASCADE" >/dev/null
		if [ "$shape" = hot ]; then nsvc=3; nslots=96; else nsvc=60; nslots=96; fi
		for c in $(seq 1 "$CLIENTS"); do gen_client "$c" "$nsvc" "$nslots"; done
		pids=()
		for c in $(seq 1 "$CLIENTS"); do
			PGOPTIONS="-c default_transaction_isolation=${level// /\\ } -c protector.lock_timeout=10s" \
				psql -X -q -d "$DB" -f "$WORK/client$c.sql" >"$WORK/out$c.log" 2>"$WORK/err$c.log" &
			pids+=($!)
		done
		for p in "${pids[@]}"; do
			if ! wait "$p"; then
				echo "a client session failed:"; cat "$WORK"/err*.log | head -5
				failures=$((failures + 1))
			fi
		done
		codes=$(cat "$WORK"/err*.log | grep -oE 'ERROR: +[0-9A-Z]{5}' | awk '{print $2}' | sort | uniq -c | tr '\n' ' ' || true)
		other=$(cat "$WORK"/err*.log | grep -vE 'ERROR: +(23P01|40001)$' | grep -v '^$' || true)
		result=$(check)
		echo "[$level / $shape] errors: ${codes:-none}; $(echo "$result" | tr '\n' ';')"
		if [ -n "$other" ]; then
			echo "unexpected output:"; echo "$other" | head -10
			failures=$((failures + 1))
		fi
		if ! grep -q '^exclusive overlaps: 0$' <<<"$result" || ! grep -q '^shared excess: 0$' <<<"$result"; then
			echo "INVARIANT BROKEN"; failures=$((failures + 1))
		fi
		if grep -q '^bookings: 0$' <<<"$result" || ! grep -q '23P01' <<<"$codes"; then
			echo "no race happened (no bookings or no refusals): the test proved nothing"
			failures=$((failures + 1))
		fi
	done
done
# the checker itself must be able to fail: force an overlap past the trigger
psql -X -q -d "$DB" -c "SET client_min_messages = warning" -c "TRUNCATE protector.bookings CASCADE" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
SET session_replication_role = replica;	-- no triggers: a deliberately broken import
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
SELECT '0f000000-0000-4000-8000-000000000000', '0f000000-0000-4000-8000-0000000000f1',
	   '0f000000-0000-4000-8000-000000000001', '[2030-01-01 10:00+00, 2030-01-01 11:00+00)'
FROM generate_series(1, 2);
SQL
if check | grep -q '^exclusive overlaps: 0$'; then
	echo "the invariant check missed a planted overlap"; failures=$((failures + 1))
else
	echo "[control] a planted overlap is detected"
fi
dropdb "$DB"
[ "$failures" -eq 0 ]
