-- The busiest instant of a window on a shared service, counted by a sweep
-- once 32 or more bookings overlap it (src/occupancy.c; the pairwise count
-- took seconds a slot with tens of thousands, and a cancel waited for it):
-- availability and the reservation check against the same count done in
-- SQL, over bookings that start together, end where others start, and pile
-- up 40 to 80 deep.
BEGIN;
SELECT plan(9);

INSERT INTO protector.organizations (id, name, slug) VALUES ('0a370000-0000-4000-8000-000000000000', 'S', 'occupancy-sweep');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a370000-0000-4000-8000-0000000000a1', '0a370000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a370000-0000-4000-8000-0000000005a1', '0a370000-0000-4000-8000-000000000000', '0a370000-0000-4000-8000-0000000000a1',
		'Hall', '30 minutes', '5 minutes', '400 days', 100000, 10, 'shared');
CREATE FUNCTION pg_temp.at(m int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '5 days 10 hours' + m * interval '1 minute'
$$;
-- 300 bookings starting on 5-minute marks in [10:00, 13:00), 5 to 90
-- minutes long, parties of 1 to 5, through the reservation check
SELECT setseed(0.37);
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, party_size)
SELECT '0a370000-0000-4000-8000-000000000000', '0a370000-0000-4000-8000-0000000000a1', '0a370000-0000-4000-8000-0000000005a1',
	   tstzrange(pg_temp.at(s), pg_temp.at(s + d)), 'confirmed', p
FROM (SELECT 5 * floor(random() * 36)::int AS s, 5 * (1 + floor(random() * 18)::int) AS d, 1 + floor(random() * 5)::int AS p
	  FROM generate_series(1, 300)) x;

-- and one booking of two days across the window, which every slot's
-- window overlaps (slots took the whole month's bookings into each count
-- after one long booking; now only those overlapping the window)
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, party_size)
VALUES ('0a370000-0000-4000-8000-000000000000', '0a370000-0000-4000-8000-0000000000a1', '0a370000-0000-4000-8000-0000000005a1',
		tstzrange(pg_temp.at(-600), pg_temp.at(-600 + 2880)), 'confirmed', 7);

-- the busiest instant of [a, b), in SQL: at a, or where a booking starts
CREATE FUNCTION pg_temp.busiest(a timestamptz, b timestamptz) RETURNS int LANGUAGE sql STABLE AS $$
	SELECT coalesce(max((SELECT sum(party_size) FROM protector.bookings k
						 WHERE k.service_id = '0a370000-0000-4000-8000-0000000005a1'
						   AND lower(k.during) <= t AND upper(k.during) > t)), 0)::int
	FROM (SELECT a AS t
		  UNION SELECT lower(during) FROM protector.bookings
		  WHERE service_id = '0a370000-0000-4000-8000-0000000005a1' AND lower(during) > a AND lower(during) < b) x
$$;
CREATE TEMP TABLE slots AS
SELECT slot_start, slot_end, remaining_capacity, pg_temp.busiest(slot_start, slot_end) AS busiest,
	   (SELECT count(*) FROM protector.bookings
		WHERE service_id = '0a370000-0000-4000-8000-0000000005a1'
		  AND during && tstzrange(slot_start, slot_end))::int AS overlapping
FROM protector.get_available_slots('0a370000-0000-4000-8000-0000000005a1',
								   (now() + interval '5 days')::date, (now() + interval '5 days')::date, true)
WHERE slot_start >= pg_temp.at(-30) AND slot_start < pg_temp.at(210);

SELECT is((SELECT count(*)::int FROM slots), 48, 'the 48 slots starting from 09:30 to 13:25 (every 5 minutes)');
SELECT ok((SELECT max(overlapping) FROM slots) >= 80 AND (SELECT count(*) FROM slots WHERE overlapping >= 32) >= 30,
	'the windows overlap up to 80 or more bookings, and 30 or more of them 32 or more (the sweep''s count)');
SELECT is((SELECT count(*)::int FROM slots WHERE remaining_capacity <> 100000 - busiest), 0,
	'every slot''s remaining capacity is 100000 less its busiest instant as SQL counts it');
SELECT is((SELECT count(*)::int FROM slots WHERE overlapping = 0 AND remaining_capacity <> 100000), 0,
	'... and an empty slot has all 100000 places');

-- the reservation check counts the same: the busiest slot, made full, takes
-- nobody more; one place more, and it takes exactly one
CREATE TEMP TABLE full_slot AS SELECT slot_start, slot_end, busiest FROM slots ORDER BY busiest DESC, slot_start LIMIT 1;
UPDATE protector.services SET capacity = (SELECT busiest FROM full_slot), max_party = 1
WHERE id = '0a370000-0000-4000-8000-0000000005a1';
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
	SELECT '0a370000-0000-4000-8000-000000000000', '0a370000-0000-4000-8000-0000000000a1', '0a370000-0000-4000-8000-0000000005a1',
		   tstzrange(slot_start, slot_end), 'confirmed' FROM full_slot$$,
	'23P01', NULL, 'with capacity set to the busiest slot''s count, a party of 1 more is refused there');
UPDATE protector.services SET capacity = (SELECT busiest + 1 FROM full_slot)
WHERE id = '0a370000-0000-4000-8000-0000000005a1';
SELECT lives_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
	SELECT '0a370000-0000-4000-8000-000000000000', '0a370000-0000-4000-8000-0000000000a1', '0a370000-0000-4000-8000-0000000005a1',
		   tstzrange(slot_start, slot_end), 'confirmed' FROM full_slot$$,
	'with one place more, one party of 1 is taken ...');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
	SELECT '0a370000-0000-4000-8000-000000000000', '0a370000-0000-4000-8000-0000000000a1', '0a370000-0000-4000-8000-0000000005a1',
		   tstzrange(slot_start, slot_end), 'confirmed' FROM full_slot$$,
	'23P01', NULL, '... and a second is refused');

-- an exclusive service with a booking of three days: no slot listed
-- overlaps it; the 19 before it (00:00 to 09:00, an hour each) are
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0a370000-0000-4000-8000-0000000005a2', '0a370000-0000-4000-8000-000000000000', '0a370000-0000-4000-8000-0000000000a1',
		'Suite', '60 minutes', '30 minutes', '400 days', 1, 'exclusive');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
VALUES ('0a370000-0000-4000-8000-000000000000', '0a370000-0000-4000-8000-0000000000a1', '0a370000-0000-4000-8000-0000000005a2',
		tstzrange(pg_temp.at(0), pg_temp.at(4320)), 'confirmed');
CREATE TEMP TABLE suite AS
SELECT * FROM protector.get_available_slots('0a370000-0000-4000-8000-0000000005a2',
											(now() + interval '5 days')::date, (now() + interval '8 days')::date);
SELECT is((SELECT count(*)::int FROM suite WHERE tstzrange(slot_start, slot_end) && tstzrange(pg_temp.at(0), pg_temp.at(4320))),
	0, 'no slot of the exclusive service overlaps its three-day booking');
SELECT is((SELECT count(*)::int FROM suite WHERE slot_end <= pg_temp.at(0)), 19,
	'... and the 19 slots of its first day that end by 10:00 are free');

SELECT * FROM finish();
ROLLBACK;
