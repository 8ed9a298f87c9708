#!/usr/bin/env bash
# bench/crowded.sh — runs inside the cluster of bench/run.sh
# (BENCH_PARTS=crowded; not in the default parts).
#
# Availability of a crowded shared service: what one day of slots costs
# when 30,000 bookings overlap one hour, against the same day of a service
# with 300 there (measured in alternation, in the same database).  The
# busiest instant of a slot's window was counted pairwise (n^2 per slot):
# 11.5 s for that day, and a cancel waited for it; src/occupancy.c counts
# it with a sweep (n log n) from 32 intervals up.  A shared service, 60
# minutes, a slot every minute, capacity 100000; the bookings start on
# the minutes of 10:00-10:59 UTC, ten days ahead; 5 passes of 5 calls
# each, medians of the passes.
#
# Then the longest list an anonymous visitor may ask for: 93 days of
# 1-minute slots (133,920) of a service with 4,000 bookings of 31 days
# spread over the first 60 days (about 2,000 overlap every slot), against
# the same list of its twin without bookings.  Each slot's busiest instant
# was counted afresh from the bookings overlapping it (1.05 s, 45x the
# empty list, on the build before the change); src/occupancy.c builds the
# occupancy's steps once per list (1.1x).  5 passes of 1 call each.
set -euo pipefail
cd "$(dirname "$0")"
DB=protector_crowded
dropdb --if-exists "$DB" >/dev/null 2>&1 || true
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION protector CASCADE;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0c000000-0000-4000-8000-000000000000', 'Crowded', 'crowded');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0c000000-0000-4000-8000-0000000000a1', '0c000000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
SELECT ('0c000000-0000-4000-8000-00000000000' || n)::uuid, '0c000000-0000-4000-8000-000000000000',
	   '0c000000-0000-4000-8000-0000000000a1', 'S' || n, '60 minutes', '1 minute', '400 days', 100000, 10, 'shared'
FROM generate_series(1, 4) n;
-- (loaded as an import is: the reservation check is not what is measured)
SET session_replication_role = replica;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, currency)
SELECT '0c000000-0000-4000-8000-000000000000', '0c000000-0000-4000-8000-0000000000a1',
	   ('0c000000-0000-4000-8000-00000000000' || s)::uuid, tstzrange(t, t + interval '1 hour'), 'confirmed', 'USD'
FROM (VALUES (1, 300), (2, 30000)) v(s, n), generate_series(1, n) i,
	 LATERAL (SELECT date_trunc('day', now()) + interval '10 days 10 hours' + (i % 60) * interval '1 minute' AS t) x;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, currency, party_size)
SELECT '0c000000-0000-4000-8000-000000000000', '0c000000-0000-4000-8000-0000000000a1',
	   '0c000000-0000-4000-8000-000000000004', tstzrange(t, t + interval '31 days'), 'confirmed', 'USD', 1 + i % 5
FROM generate_series(1, 4000) i,
	 LATERAL (SELECT date_trunc('day', now()) + interval '2 days' + (i * 7919 % 86400) * interval '1 minute' AS t) x;
SET session_replication_role = origin;
VACUUM ANALYZE protector.bookings;
CREATE FUNCTION pg_temp.day_ms(s int, calls int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	n int;
BEGIN
	FOR k IN 1 .. calls LOOP
		SELECT count(*) INTO n FROM protector.get_available_slots(('0c000000-0000-4000-8000-00000000000' || s)::uuid,
			(now() + interval '10 days')::date, (now() + interval '10 days')::date, true);
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000 / calls;
END $$;
CREATE TEMP TABLE passes (pass int, sparse float8, crowded float8);
DO $$
BEGIN
	PERFORM pg_temp.day_ms(1, 1), pg_temp.day_ms(2, 1);	-- warm-up
	FOR p IN 1 .. 5 LOOP
		IF p % 2 = 1 THEN
			INSERT INTO passes SELECT p, pg_temp.day_ms(1, 5), NULL;
			UPDATE passes SET crowded = pg_temp.day_ms(2, 5) WHERE pass = p;
		ELSE
			INSERT INTO passes SELECT p, NULL, pg_temp.day_ms(2, 5);
			UPDATE passes SET sparse = pg_temp.day_ms(1, 5) WHERE pass = p;
		END IF;
	END LOOP;
END $$;
\echo == get_available_slots, one day of 1-minute slots (1,440), a shared service with 300 vs 30,000 bookings in one hour
\echo    (5 passes of 5 calls, alternating; medians of the passes and of the per-pass ratios)
SELECT format('300 bookings in the hour:    %s ms', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY sparse)::numeric, 3)) AS sparse,
	   format('30,000 bookings in the hour: %s ms', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY crowded)::numeric, 3)) AS crowded,
	   format('ratio 30,000 / 300: %sx (100x the bookings)',
			  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY crowded / sparse)::numeric, 1)) AS ratio
FROM passes \gx
CREATE FUNCTION pg_temp.list_ms(s int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	n int;
BEGIN
	SELECT count(*) INTO n FROM protector.get_available_slots(('0c000000-0000-4000-8000-00000000000' || s)::uuid,
		(now() + interval '2 days')::date, (now() + interval '94 days')::date, true);
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
CREATE TEMP TABLE long_passes (pass int, empty float8, busy float8);
DO $$
BEGIN
	PERFORM pg_temp.list_ms(3), pg_temp.list_ms(4);	-- warm-up
	FOR p IN 1 .. 5 LOOP
		IF p % 2 = 1 THEN
			INSERT INTO long_passes SELECT p, pg_temp.list_ms(3), NULL;
			UPDATE long_passes SET busy = pg_temp.list_ms(4) WHERE pass = p;
		ELSE
			INSERT INTO long_passes SELECT p, NULL, pg_temp.list_ms(4);
			UPDATE long_passes SET empty = pg_temp.list_ms(3) WHERE pass = p;
		END IF;
	END LOOP;
END $$;
\echo == get_available_slots, 93 days of 1-minute slots (133,920), a shared service with 4,000 bookings of 31 days vs none
\echo    (5 passes of 1 call, alternating; medians of the passes and of the per-pass ratios)
SELECT format('no bookings:               %s ms', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY empty)::numeric, 1)) AS empty,
	   format('4,000 bookings of 31 days: %s ms', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY busy)::numeric, 1)) AS busy,
	   format('ratio: %sx', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY busy / empty)::numeric, 2)) AS ratio
FROM long_passes \gx
SQL
dropdb "$DB"
