-- get_available_slots(): slots in the venue's time zone, DST days included.
-- Dates are computed relative to today (next year's DST days), so only
-- local times and counts are printed.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY default
\set SHOW_CONTEXT never

INSERT INTO protector.organizations (id, name, slug) VALUES
	('0d000000-0000-4000-8000-000000000000', 'Clocks', 'clocks');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0d000000-0000-4000-8000-0000000000b1', '0d000000-0000-4000-8000-000000000000', 'Berlin 24h', 'Europe/Berlin', '{}'),
	('0d000000-0000-4000-8000-0000000000b2', '0d000000-0000-4000-8000-000000000000', 'New York nights', 'America/New_York',
	 '{"sat": [["22:00", "04:00"]], "sun": [["22:00", "04:00"]]}'),
	('0d000000-0000-4000-8000-0000000000b3', '0d000000-0000-4000-8000-000000000000', 'Kolkata', 'Asia/Kolkata',
	 '{"mon": [["09:30", "13:00"], ["14:00", "18:00"]], "tue": [["09:30", "18:00"]], "wed": [["09:30", "18:00"]],
	   "thu": [["09:30", "18:00"]], "fri": [["09:30", "18:00"]]}');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, duration, slot_interval, max_party, max_advance, buffer_after) VALUES
	('0d000000-0000-4000-8000-00000000d001', '0d000000-0000-4000-8000-000000000000', '0d000000-0000-4000-8000-0000000000b1',
	 'Hourly room', 'exclusive', 4, '60 minutes', '60 minutes', 4, '1100 days', '0'),
	('0d000000-0000-4000-8000-00000000d002', '0d000000-0000-4000-8000-000000000000', '0d000000-0000-4000-8000-0000000000b2',
	 'Night escort', 'exclusive', 2, '30 minutes', '30 minutes', 2, '1100 days', '0'),
	('0d000000-0000-4000-8000-00000000d003', '0d000000-0000-4000-8000-000000000000', '0d000000-0000-4000-8000-0000000000b3',
	 'Consultation', 'shared', 3, '45 minutes', '45 minutes', 3, '1100 days', '15 minutes');

-- next year's clock changes
SELECT extract(year FROM now())::int + 1 AS y \gset
CREATE TEMP TABLE day AS SELECT * FROM (VALUES
	('berlin spring forward', (make_date(:y, 3, 31) - extract(dow FROM make_date(:y, 3, 31))::int)),
	('berlin fall back', (make_date(:y, 10, 31) - extract(dow FROM make_date(:y, 10, 31))::int)),
	('berlin ordinary day', (make_date(:y, 6, 15))),
	('new york spring forward', (make_date(:y, 3, 1) + (7 - extract(dow FROM make_date(:y, 3, 1))::int) % 7 + 7)),
	('new york fall back', (make_date(:y, 11, 1) + (7 - extract(dow FROM make_date(:y, 11, 1))::int) % 7))
) AS t(name, d);
SELECT name, to_char(d, 'Dy') AS weekday FROM day ORDER BY name;

-- Berlin, open around the clock, hourly: 23 slots when clocks go forward
-- (no 02:00), 25 when they go back (02:00 twice)
SELECT day.name, count(*) AS slots,
	   string_agg(to_char(slot_start AT TIME ZONE 'Europe/Berlin', 'HH24'), ' ' ORDER BY slot_start) AS local_hours
FROM day, protector.get_available_slots('0d000000-0000-4000-8000-00000000d001', day.d) s
WHERE day.name LIKE 'berlin%'
GROUP BY day.name ORDER BY day.name;
-- the two 02:00 slots of the fall-back night are an hour apart in real time
SELECT count(DISTINCT slot_start) AS distinct_instants, min(slot_end - slot_start) AS each_lasts
FROM day, protector.get_available_slots('0d000000-0000-4000-8000-00000000d001', day.d) s
WHERE day.name = 'berlin fall back' AND to_char(slot_start AT TIME ZONE 'Europe/Berlin', 'HH24') = '02';

-- New York, Saturday and Sunday nights 22:00-04:00 in half hours: the
-- night into the change day; slots belong to the local day they start on
SELECT day.name, to_char(s.slot_start AT TIME ZONE 'America/New_York', 'Dy HH24:MI') AS local_start,
	   to_char(s.slot_start, 'HH24:MI') AS utc_start
FROM day, protector.get_available_slots('0d000000-0000-4000-8000-00000000d002', day.d) s
WHERE day.name LIKE 'new york%'
ORDER BY day.name, s.slot_start;

-- Kolkata (UTC+05:30, no DST): two ranges on Mondays, 45 minute slots,
-- a 15 minute buffer after each; shared capacity 3
SELECT to_char(slot_start AT TIME ZONE 'Asia/Kolkata', 'Dy HH24:MI') AS local_start,
	   to_char(slot_start, 'HH24:MI') AS utc_start, remaining_capacity
FROM protector.get_available_slots('0d000000-0000-4000-8000-00000000d003',
	(make_date(:y, 6, 15) - extract(dow FROM make_date(:y, 6, 15))::int + 1))
ORDER BY slot_start;

-- bookings and their buffers take places; cancelled ones give them back
SELECT (make_date(:y, 6, 15) - extract(dow FROM make_date(:y, 6, 15))::int + 1) AS monday \gset
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size, status) VALUES
	('0d000000-0000-4000-8000-000000000000', '0d000000-0000-4000-8000-0000000000b3', '0d000000-0000-4000-8000-00000000d003',
	 tstzrange((:'monday' || ' 09:30')::timestamp AT TIME ZONE 'Asia/Kolkata', (:'monday' || ' 10:15')::timestamp AT TIME ZONE 'Asia/Kolkata'), 2, 'confirmed'),
	('0d000000-0000-4000-8000-000000000000', '0d000000-0000-4000-8000-0000000000b3', '0d000000-0000-4000-8000-00000000d003',
	 tstzrange((:'monday' || ' 10:15')::timestamp AT TIME ZONE 'Asia/Kolkata', (:'monday' || ' 11:00')::timestamp AT TIME ZONE 'Asia/Kolkata'), 1, 'confirmed'),
	('0d000000-0000-4000-8000-000000000000', '0d000000-0000-4000-8000-0000000000b3', '0d000000-0000-4000-8000-00000000d003',
	 tstzrange((:'monday' || ' 14:00')::timestamp AT TIME ZONE 'Asia/Kolkata', (:'monday' || ' 14:45')::timestamp AT TIME ZONE 'Asia/Kolkata'), 3, 'cancelled');
SELECT to_char(slot_start AT TIME ZONE 'Asia/Kolkata', 'HH24:MI') AS local_start, remaining_capacity
FROM protector.get_available_slots('0d000000-0000-4000-8000-00000000d003', :'monday', NULL, true)
WHERE slot_start < (:'monday' || ' 13:00')::timestamp AT TIME ZONE 'Asia/Kolkata'
ORDER BY slot_start;

-- closures and special hours
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours, reason) VALUES
	('0d000000-0000-4000-8000-000000000000', '0d000000-0000-4000-8000-0000000000b3', :'monday', true, NULL, 'Holiday'),
	('0d000000-0000-4000-8000-000000000000', '0d000000-0000-4000-8000-0000000000b3', (:'monday'::date + 1), false, '[["12:00", "13:30"]]', 'Short day');
SELECT to_char(slot_start AT TIME ZONE 'Asia/Kolkata', 'Dy HH24:MI') AS local_start
FROM protector.get_available_slots('0d000000-0000-4000-8000-00000000d003', :'monday', (:'monday'::date + 1))
ORDER BY slot_start;

-- bad input
SELECT * FROM protector.get_available_slots(NULL, current_date);
SELECT * FROM protector.get_available_slots('0d000000-0000-4000-8000-00000000d001', NULL);
SELECT * FROM protector.get_available_slots('0d000000-0000-4000-8000-00000000d001', '2030-01-10', '2030-01-09');
SELECT * FROM protector.get_available_slots('0d000000-0000-4000-8000-00000000d001', '2030-01-01', '2030-12-31');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM protector.get_available_slots('0d000000-0000-4000-8000-00000000d001', 'infinity', 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM protector.get_available_slots('0d000000-0000-4000-8000-0000000fffff', current_date);
\echo :LAST_ERROR_SQLSTATE
UPDATE protector.services SET active = false WHERE id = '0d000000-0000-4000-8000-00000000d001';
SELECT * FROM protector.get_available_slots('0d000000-0000-4000-8000-00000000d001', current_date);
-- malformed opening hours never reach the table: the CHECK (C) names the fault
UPDATE protector.venues SET operating_hours = '{"mon": [["9:00", "17:00"]]}' WHERE id = '0d000000-0000-4000-8000-0000000000b2';
UPDATE protector.venues SET operating_hours = '{"monday": [["09:00", "17:00"]]}' WHERE id = '0d000000-0000-4000-8000-0000000000b2';
UPDATE protector.venues SET operating_hours = '{"mon": ["09:00", "17:00"]}' WHERE id = '0d000000-0000-4000-8000-0000000000b2';
UPDATE protector.venues SET operating_hours = '{"mon": [["09:00", "25:00"]]}' WHERE id = '0d000000-0000-4000-8000-0000000000b2';
UPDATE protector.venue_closures SET closed = false, special_hours = '[["10:00"]]';
-- days beyond the year 9999 are refused by name (the slots ended in a
-- message naming nothing, or in none, by the venue's hours), as
-- get_venue_schedule refuses them; the last day of 9999 is answered
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval)
VALUES ('0d000000-0000-4000-8000-00000000d009', '0d000000-0000-4000-8000-000000000000', '0d000000-0000-4000-8000-0000000000b1',
		'Far room', '60 minutes', '60 minutes');
SELECT count(*) FROM protector.get_available_slots('0d000000-0000-4000-8000-00000000d009', '10000-01-01', '10000-01-02');
SELECT count(*) FROM protector.get_available_slots('0d000000-0000-4000-8000-00000000d009', '294276-12-20', '294276-12-31');
SELECT count(*) >= 0 AS answered FROM protector.get_available_slots('0d000000-0000-4000-8000-00000000d009', '9999-12-31');
SELECT protector.is_venue_open('0d000000-0000-4000-8000-0000000000b1', '294276-12-31 23:00+00');
SELECT protector.is_venue_open('0d000000-0000-4000-8000-0000000000b1', '9999-12-31 23:00+00') IS NOT NULL AS answered,
	   protector.is_venue_open('0d000000-0000-4000-8000-0000000000b1', '0001-01-01 00:00+00') IS NOT NULL AS answered_too;
SELECT protector.is_venue_open('0d000000-0000-4000-8000-0000000000b1', '10000-01-01 00:00+00');
-- a schedule from a day past 9999 without p_to: refused for its p_from (its
-- default p_to, capped at the last day, came first and was blamed)
SELECT count(*) FROM protector.get_venue_schedule('0d000000-0000-4000-8000-0000000000b1', '10000-01-01');
