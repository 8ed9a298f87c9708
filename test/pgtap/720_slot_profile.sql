-- Availability counts each slot's busiest instant from the service's
-- occupancy as steps, built once per list (src/occupancy.c
-- protector_busiest_in): every slot of three days, one of them the next
-- change of Berlin's clocks, against the count done in SQL, on a shared
-- and an exclusive service with buffers, over bookings of a minute to 31
-- days that start and end on the slots' edges, cancelled ones, no-shows,
-- live and expired holds.
BEGIN;
SELECT plan(8);

INSERT INTO protector.organizations (id, name, slug) VALUES ('0a720000-0000-4000-8000-000000000000', 'P', 'slot-profile');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a720000-0000-4000-8000-0000000000a1', '0a720000-0000-4000-8000-000000000000', 'V', 'Europe/Berlin');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance,
								capacity, min_party, max_party, mode, buffer_before, buffer_after)
VALUES ('0a720000-0000-4000-8000-0000000005a1', '0a720000-0000-4000-8000-000000000000', '0a720000-0000-4000-8000-0000000000a1',
		'Hall', '60 minutes', '15 minutes', '400 days', 150, 3, 10, 'shared', '10 minutes', '5 minutes'),
	   ('0a720000-0000-4000-8000-0000000005a2', '0a720000-0000-4000-8000-000000000000', '0a720000-0000-4000-8000-0000000000a1',
		'Room', '45 minutes', '15 minutes', '400 days', 1, 1, 4, 'exclusive', '10 minutes', '5 minutes');

-- the first local day from the day after tomorrow whose length is not 24
-- hours (Berlin's next change of clocks), and the days around it
CREATE TEMP TABLE days AS
SELECT d - 1 AS first_day, d + 1 AS last_day,
	   ((d - 1)::timestamp AT TIME ZONE 'Europe/Berlin') AS from_t,
	   ((d + 2)::timestamp AT TIME ZONE 'Europe/Berlin') AS to_t
FROM (SELECT min(d)::date AS d FROM generate_series(current_date + 3, current_date + 380, interval '1 day') d
	  WHERE ((d + interval '1 day')::timestamp AT TIME ZONE 'Europe/Berlin')
			- (d::timestamp AT TIME ZONE 'Europe/Berlin') <> interval '24 hours') x;

-- 1,160 bookings of the shared service and 40 of the exclusive one (written
-- as an import is: the reservation check is not what is tested, and
-- overlapping ones are the point) starting on 5-minute marks from a day
-- before the three days to their end; the shared service's a minute to 31
-- days long, mostly a few hours, the exclusive one's a minute to an hour;
-- parties 1 to 5
SELECT setseed(0.72);
SET LOCAL session_replication_role = replica;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, party_size, hold_expires_at, currency)
SELECT '0a720000-0000-4000-8000-000000000000', '0a720000-0000-4000-8000-0000000000a1', s, tstzrange(t, t + len),
	   st, p, CASE WHEN st = 'held' THEN now() + CASE WHEN random() < 0.5 THEN interval '1 hour' ELSE interval '-1 hour' END END, 'EUR'
FROM (SELECT CASE WHEN i % 30 <> 0 THEN '0a720000-0000-4000-8000-0000000005a1' ELSE '0a720000-0000-4000-8000-0000000005a2' END::uuid AS s,
			 (SELECT from_t FROM days) - interval '1 day' + 5 * floor(random() * 1152) * interval '1 minute' AS t,
			 CASE WHEN i % 30 = 0 THEN (1 + floor(random() * 60)) * interval '1 minute'
				  WHEN random() < 0.05 THEN interval '31 days' - floor(random() * 3) * interval '1 day'
				  WHEN random() < 0.1 THEN interval '1 minute'
				  ELSE 5 * (1 + floor(random() * 60)) * interval '1 minute' END AS len,
			 (ARRAY['confirmed', 'confirmed', 'confirmed', 'pending', 'held', 'cancelled', 'no_show'])[1 + floor(random() * 7)::int]::protector.booking_status AS st,
			 1 + floor(random() * 5)::int AS p
	  FROM generate_series(1, 1200) i) x;
SET LOCAL session_replication_role = origin;

-- what occupies a service at instant t, in SQL: the rule of
-- docs/availability.md, buffers included
CREATE FUNCTION pg_temp.present(svc uuid, t timestamptz, weigh_parties boolean) RETURNS bigint LANGUAGE sql STABLE AS $$
	SELECT coalesce(sum(CASE WHEN weigh_parties THEN k.party_size ELSE 1 END), 0)
	FROM protector.bookings k JOIN protector.services s ON s.id = k.service_id
	WHERE k.service_id = svc AND k.status NOT IN ('cancelled', 'no_show')
	  AND (k.status <> 'held' OR k.hold_expires_at > now())
	  AND lower(k.during) - s.buffer_before <= t AND upper(k.during) + s.buffer_after > t
$$;
-- the busiest instant of [a, b): at a, or where an occupied interval starts
CREATE FUNCTION pg_temp.busiest(svc uuid, a timestamptz, b timestamptz, weigh_parties boolean) RETURNS bigint LANGUAGE sql STABLE AS $$
	SELECT max(pg_temp.present(svc, t, weigh_parties))
	FROM (SELECT a AS t
		  UNION SELECT lower(k.during) - s.buffer_before FROM protector.bookings k JOIN protector.services s ON s.id = k.service_id
		  WHERE k.service_id = svc AND lower(k.during) - s.buffer_before > a AND lower(k.during) - s.buffer_before < b) x
$$;

CREATE TEMP TABLE hall AS
SELECT a.*, pg_temp.busiest('0a720000-0000-4000-8000-0000000005a1', a.slot_start - interval '10 minutes',
							a.slot_end + interval '5 minutes', true) AS busiest
FROM days, protector.get_available_slots('0a720000-0000-4000-8000-0000000005a1', first_day, last_day, true) a;
CREATE TEMP TABLE room AS
SELECT a.*, pg_temp.busiest('0a720000-0000-4000-8000-0000000005a2', a.slot_start - interval '10 minutes',
							a.slot_end + interval '5 minutes', false) AS overlapping
FROM days, protector.get_available_slots('0a720000-0000-4000-8000-0000000005a2', first_day, last_day, true) a;

-- 72 hours of slots every 15 minutes, one hour more or less on the
-- changing day (a venue open around the clock: slots run past midnight)
SELECT is((SELECT count(*)::int FROM hall), (SELECT (extract(epoch FROM to_t - from_t) / 900)::int FROM days),
	'every slot of the three days is listed for the shared service (full ones too)');
SELECT is((SELECT count(*)::int FROM room), (SELECT (extract(epoch FROM to_t - from_t) / 900)::int FROM days),
	'... and for the exclusive one');
SELECT ok((SELECT count(DISTINCT busiest) >= 10 AND max(busiest) > 150 AND min(busiest) < 147
				  AND bool_or(busiest BETWEEN 148 AND 150) FROM hall),
	'the shared service''s slots range from free to over its capacity of 150, some with fewer places than its min_party');
SELECT is((SELECT count(*)::int FROM hall
		   WHERE remaining_capacity <> CASE WHEN 150 - busiest >= 3 THEN 150 - busiest ELSE 0 END), 0,
	'every slot of the shared service has 150 less its busiest instant left, or none when fewer than its min_party of 3');
SELECT is((SELECT count(*)::int FROM room
		   WHERE remaining_capacity <> CASE WHEN overlapping = 0 THEN 4 ELSE 0 END), 0,
	'every slot of the exclusive service is free (its max_party of 4) exactly when no occupied interval meets its window');
SELECT ok((SELECT count(*) FILTER (WHERE overlapping = 0) >= 5 AND count(*) FILTER (WHERE overlapping > 0) >= 5 FROM room),
	'... and the exclusive service has both kinds');

-- the slots of the changing day alone, asked for by themselves, count the same
SELECT is((SELECT count(*)::int FROM days,
				  protector.get_available_slots('0a720000-0000-4000-8000-0000000005a1', first_day + 1, first_day + 1, true) a
		   JOIN hall h USING (slot_start, slot_end)
		   WHERE a.remaining_capacity = h.remaining_capacity),
		  (SELECT count(*)::int FROM days, hall WHERE slot_start >= ((first_day + 1)::timestamp AT TIME ZONE 'Europe/Berlin')
			   AND slot_start < ((first_day + 2)::timestamp AT TIME ZONE 'Europe/Berlin')),
	'the changing day''s slots alone have the places they have in the three days');
-- and a widget's answer (free slots only) is the same list without the full ones
SELECT is((SELECT count(*)::int FROM days,
				  protector.get_available_slots('0a720000-0000-4000-8000-0000000005a1', first_day, last_day)),
		  (SELECT count(*)::int FROM hall WHERE remaining_capacity > 0),
	'without p_include_full, the list is the slots with places left');

SELECT * FROM finish();
ROLLBACK;
