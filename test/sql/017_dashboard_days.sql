-- Where local days begin, for the dashboards and reports: the first
-- instant of the day, also where the clocks go back over midnight
-- (America/Havana on 2026-11-01: 01:00 CDT back to 00:00 CST, so midnight
-- is at 04:00 UTC and again at 05:00 UTC; Atlantic/Azores on 2026-10-25:
-- 01:00 back to 00:00, midnight at 00:00 UTC and again at 01:00 UTC).
-- Every instant below is worked out by hand from the zones' offsets.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY terse
\set SHOW_CONTEXT never

SELECT tz, d, protector_internal.local_midnight(tz, d) AS first_instant,
	   timezone(tz, d::timestamp) AS core_reads_midnight_as
FROM (VALUES
	-- the day the clocks go back over midnight: the earlier midnight
	('America/Havana', '2026-11-01'::date),	-- 00:00 CDT (-4) = 04:00 UTC; core: 00:00 CST (-5) = 05:00
	('America/Havana', '2026-11-02'),			-- 00:00 CST (-5) = 05:00 UTC
	('Atlantic/Azores', '2026-10-25'),			-- 00:00 (+0) = 00:00 UTC; core: 00:00 (-1) = 01:00
	-- midnight skipped (00:00 -> 01:00 CDT): the day begins at 01:00 CDT = 05:00 UTC
	('America/Havana', '2026-03-08'),
	-- the clocks go back at 03:00 / 02:00, not over midnight: one midnight
	('Europe/Berlin', '2026-10-25'),			-- 00:00 CEST (+2) = 2026-10-24 22:00 UTC
	('America/New_York', '2026-11-01'),		-- 00:00 EDT (-4) = 04:00 UTC
	('America/New_York', '2026-03-08'),		-- 00:00 EST (-5) = 05:00 UTC
	('Asia/Kolkata', '2026-06-01'),			-- 00:00 (+5:30) = 2026-05-31 18:30 UTC
	('UTC', '2026-06-01')) x(tz, d)
ORDER BY tz, d;

-- days whose start the clocks jumped over: America/Toronto went from
-- 23:30 EST (-5) to 00:30 EDT (-4) on 1919-03-31, at 04:30 UTC, so the
-- 31st began at 00:30; Pacific/Apia skipped 2011-12-30 altogether (from
-- 2011-12-29 24:00 at -10, 2011-12-30 10:00 UTC, to 2011-12-31 00:00 at
-- +14), so the 30th begins (and ends) where the 31st begins
SELECT tz, d, protector_internal.local_midnight(tz, d) AS first_instant
FROM (VALUES ('America/Toronto', '1919-03-31'::date), ('Pacific/Apia', '2011-12-30'), ('Pacific/Apia', '2011-12-31')) x(tz, d)
ORDER BY tz, d;

-- bad input: named, never an internal error
SELECT protector_internal.local_midnight(NULL, '2026-11-01');
SELECT protector_internal.local_midnight('America/Havana', NULL);
SELECT protector_internal.local_midnight('Mars/Olympus', '2026-11-01');
SELECT protector_internal.local_midnight('America/Havana', 'infinity');

-- A desk in Havana: one ride at 00:30 CDT on 2026-11-01 (04:30 UTC, the
-- first 00:30 of the day), paid at 00:40 CDT (04:40 UTC); one at 00:30 CST
-- (05:30 UTC, the second).  Both are on 2026-11-01, which has 25 hours.
INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES
	('0d170000-0000-4000-8000-000000000000', 'Havana', 'days-havana', 'America/Havana', 'USD');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0d170000-0000-4000-8000-0000000000a1', '0d170000-0000-4000-8000-000000000000', 'Malecon', 'America/Havana', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party, duration)
VALUES ('0d170000-0000-4000-8000-0000000005a1', '0d170000-0000-4000-8000-000000000000', '0d170000-0000-4000-8000-0000000000a1',
		'Ride', 'shared', 10, 4, '20 minutes');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, party_size, status, currency, total_price)
SELECT id::uuid, '0d170000-0000-4000-8000-000000000000', '0d170000-0000-4000-8000-0000000000a1',
	   '0d170000-0000-4000-8000-0000000005a1', tstzrange(t, t + interval '20 minutes'), p, 'confirmed', 'USD', 20
FROM (VALUES ('0d170000-0000-4000-8000-00000000b001', '2026-11-01 04:30+00'::timestamptz, 1),
			 ('0d170000-0000-4000-8000-00000000b002', '2026-11-01 05:30+00', 2)) x(id, t, p);
INSERT INTO protector.payments (organization_id, booking_id, amount, status, created_at)
VALUES ('0d170000-0000-4000-8000-000000000000', '0d170000-0000-4000-8000-00000000b001', 20, 'succeeded', '2026-11-01 04:40+00');

-- the hourly chart: 25 hours from 04:00 UTC, 00:00 twice (1 guest in the
-- first, 2 in the second); the day before ends at 04:00 UTC with 24 hours
SELECT hour_start, local_hour, utc_offset, bookings, guests
FROM protector.get_todays_bookings_by_hour('0d170000-0000-4000-8000-000000000000', p_date => '2026-11-01')
WHERE local_hour IN ('00:00', '01:00') OR hour_start = '2026-11-02 04:00+00';
SELECT d, count(*) AS hours, min(hour_start) AS first_hour, sum(bookings) AS bookings
FROM (VALUES ('2026-10-31'::date), ('2026-11-01'), ('2026-11-02')) x(d),
	 protector.get_todays_bookings_by_hour('0d170000-0000-4000-8000-000000000000', p_date => d)
GROUP BY d ORDER BY d;
-- reports of 2026-11-01 count both rides and the payment (20.00); of
-- 2026-10-31, nothing
SELECT period_start, revenue FROM protector.generate_revenue_report('0d170000-0000-4000-8000-000000000000', '2026-10-31', '2026-11-01');
SELECT count(*) AS rides FROM protector.export_bookings('0d170000-0000-4000-8000-000000000000', '2026-11-01', '2026-11-01');
SELECT count(*) AS rides FROM protector.export_bookings('0d170000-0000-4000-8000-000000000000', '2026-10-31', '2026-10-31');
-- a venue's analytics and its staff's week count days the same way: both
-- rides on 2026-11-01, none on 2026-10-31 (they began at the later
-- midnight, 05:00 UTC: the first ride was counted on the 31st)
SELECT d, protector.get_venue_analytics('0d170000-0000-4000-8000-0000000000a1', d, d) ->> 'bookings' AS bookings
FROM (VALUES ('2026-10-31'::date), ('2026-11-01')) x(d) ORDER BY d;
-- a ride over midnight counts on the day it starts, not on every day it
-- touches: 23:50 CST (-5) on 2026-11-02 is 04:50 UTC on the 3rd, to 05:10
-- UTC; the 3rd begins at 05:00 UTC.  The 2nd: 1 booking, 3 guests, 20.00;
-- the 3rd: none, so 0, 0 and 0; the two days together: 1, 3 and 20.00
BEGIN;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size, status, currency, total_price)
VALUES ('0d170000-0000-4000-8000-000000000000', '0d170000-0000-4000-8000-0000000000a1', '0d170000-0000-4000-8000-0000000005a1',
		tstzrange('2026-11-03 04:50+00', '2026-11-03 05:10+00'), 3, 'confirmed', 'USD', 20);
SELECT f, t, a ->> 'bookings' AS bookings, a ->> 'guests' AS guests, a ->> 'revenue' AS revenue
FROM (VALUES ('2026-11-02'::date, '2026-11-02'::date), ('2026-11-03', '2026-11-03'), ('2026-11-02', '2026-11-03')) x(f, t),
	 protector.get_venue_analytics('0d170000-0000-4000-8000-0000000000a1', f, t) a
ORDER BY f, t;
ROLLBACK;
-- a shift from the first midnight (04:00 UTC) to 04:45 UTC is on the
-- 1st, in the week from the 1st, not in the week to the 31st
INSERT INTO protector.members (id, organization_id, user_id, role, full_name) VALUES
	('0d170000-0000-4000-8000-0000000000e1', '0d170000-0000-4000-8000-000000000000', '0d170000-0000-4000-8000-0000000000f1',
	 'agent', 'Nocturna');
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id) VALUES
	('0d170000-0000-4000-8000-000000000000', '0d170000-0000-4000-8000-0000000000e1', '0d170000-0000-4000-8000-0000000000a1');
INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during) VALUES
	('0d170000-0000-4000-8000-000000000000', '0d170000-0000-4000-8000-0000000000e1', '0d170000-0000-4000-8000-0000000000a1',
	 tstzrange('2026-11-01 04:00+00', '2026-11-01 04:45+00'));
SELECT w AS week_start, s.local_date, s.local_start
FROM (VALUES ('2026-10-25'::date), ('2026-11-01')) x(w)
	 LEFT JOIN LATERAL protector.get_staff_schedule('0d170000-0000-4000-8000-0000000000a1', w) s ON true
ORDER BY w;

-- Occupancy's open time counts an overnight opening from the day before:
-- New York, 18:00-02:00 every day, one service.  2026-11-10 (EST, -5) is
-- open 00:00-02:00 (the 9th's opening) and 18:00-24:00 (its own, until
-- the next midnight): 2 + 6 = 8 hours = 28,800 s
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES
	('0d170000-0000-4000-8000-0000000000b0', 'Night', 'days-night', 'America/New_York');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0d170000-0000-4000-8000-0000000000b1', '0d170000-0000-4000-8000-0000000000b0', 'Late', 'America/New_York',
	 '{"mon": [["18:00", "02:00"]], "tue": [["18:00", "02:00"]], "wed": [["18:00", "02:00"]], "thu": [["18:00", "02:00"]],
	   "fri": [["18:00", "02:00"]], "sat": [["18:00", "02:00"]], "sun": [["18:00", "02:00"]]}');
INSERT INTO protector.services (organization_id, venue_id, name, duration)
VALUES ('0d170000-0000-4000-8000-0000000000b0', '0d170000-0000-4000-8000-0000000000b1', 'Bar table', '1 hour');
SELECT protector_internal.open_service_seconds('0d170000-0000-4000-8000-0000000000b0', NULL,
	'2026-11-10 05:00+00', '2026-11-11 05:00+00') AS open_seconds;

-- Hours are the local clock's: Australia/Lord_Howe goes back half an hour
-- on 2026-04-05, from 02:00 (+11) to 01:30 (+10:30).  Its day begins at
-- 00:00 +11 = 2026-04-04 13:00 UTC; 01:00 is 14:00 UTC; 02:00 comes at
-- +10:30 = 15:30 UTC, so the 01:00 hour lasts 90 minutes; 23:00 is 12:30
-- UTC on the 5th, and the day ends at 00:00 +10:30 = 13:30 UTC: 24 hours
-- with labels on the hour, 24.5 hours long.
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES
	('0d170000-0000-4000-8000-0000000000c0', 'Lord Howe', 'days-lord-howe', 'Australia/Lord_Howe');
SELECT hour_start, local_hour, utc_offset
FROM protector.get_todays_bookings_by_hour('0d170000-0000-4000-8000-0000000000c0', p_date => '2026-04-05')
WHERE local_hour IN ('00:00', '01:00', '02:00', '03:00', '23:00');
SELECT count(*) AS hours, count(*) FILTER (WHERE local_hour NOT LIKE '%:00') AS off_the_hour
FROM protector.get_todays_bookings_by_hour('0d170000-0000-4000-8000-0000000000c0', p_date => '2026-04-05');
-- Where the clocks jump or go back into another hour, that hour starts
-- where they land, so a booking counts in its own local hour (it counted
-- in the hour before: a review).  Lord Howe springs forward on 2026-10-04
-- from 02:00 (+10:30) to 02:30 (+11) at 15:30 UTC on the 3rd: the day
-- begins at 00:00 +10:30 = 13:30 UTC; 01:00 is 14:30 UTC; 02:30 is 15:30
-- UTC, an hour of 30 minutes to 03:00 (+11) = 16:00 UTC; 23:00 (+11) is
-- 12:00 UTC on the 4th and the day ends at 13:00 UTC: 24 rows, 23.5 hours.
-- A booking at 15:40 UTC (02:40 local) counts at 02:30.
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0d170000-0000-4000-8000-0000000000c1', '0d170000-0000-4000-8000-0000000000c0', 'Island', 'Australia/Lord_Howe', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration)
VALUES ('0d170000-0000-4000-8000-0000000005c1', '0d170000-0000-4000-8000-0000000000c0', '0d170000-0000-4000-8000-0000000000c1',
		'Dive', '10 minutes');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
VALUES ('0d170000-0000-4000-8000-0000000000c0', '0d170000-0000-4000-8000-0000000000c1', '0d170000-0000-4000-8000-0000000005c1',
		'[2026-10-03 15:40+00, 2026-10-03 15:50+00)', 'confirmed');
SELECT hour_start, local_hour, utc_offset, bookings
FROM protector.get_todays_bookings_by_hour('0d170000-0000-4000-8000-0000000000c0', p_date => '2026-10-04')
WHERE hour_start <= '2026-10-03 16:00+00';
SELECT count(*) AS hours, sum(bookings) AS bookings
FROM protector.get_todays_bookings_by_hour('0d170000-0000-4000-8000-0000000000c0', p_date => '2026-10-04');
-- Pacific/Chatham goes back on 2027-04-04 from 03:45 (+13:45) to 02:45
-- (+12:45) at 14:00 UTC on the 3rd: the day begins at 00:00 +13:45 =
-- 10:15 UTC; 03:00 (+13:45) is 13:15 UTC, an hour of 45 minutes; 02:45
-- (+12:45) is 14:00 UTC, one of 15 minutes to 03:00 (+12:45) = 14:15 UTC;
-- 04:00 is 15:15 UTC ... 23:00 is 10:15 UTC on the 4th; the day ends at
-- 00:00 +12:45 = 11:15 UTC: 26 rows, 25 hours.  A booking at 13:20 UTC
-- (03:05 +13:45) counts at the first 03:00, one at 14:05 UTC (02:50
-- +12:45) at 02:45.  Chatham springs forward on 2027-09-26 from 02:45
-- (+12:45) to 03:45 (+13:45) at 14:00 UTC on the 25th: the day begins at
-- 11:15 UTC; 02:00 is 13:15 UTC, 45 minutes long; 03:45 (+13:45) is 14:00
-- UTC, 15 minutes to 04:00 = 14:15 UTC; 23:00 is 09:15 UTC on the 26th,
-- the day ends at 10:15 UTC: 24 rows, 23 hours.  A booking at 14:05 UTC
-- (03:50 +13:45) counts at 03:45.
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES
	('0d170000-0000-4000-8000-0000000000f0', 'Chatham', 'days-chatham', 'Pacific/Chatham');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0d170000-0000-4000-8000-0000000000f1', '0d170000-0000-4000-8000-0000000000f0', 'Harbour', 'Pacific/Chatham', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration)
VALUES ('0d170000-0000-4000-8000-0000000005f1', '0d170000-0000-4000-8000-0000000000f0', '0d170000-0000-4000-8000-0000000000f1',
		'Boat', '10 minutes');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
SELECT '0d170000-0000-4000-8000-0000000000f0', '0d170000-0000-4000-8000-0000000000f1', '0d170000-0000-4000-8000-0000000005f1',
	   tstzrange(t, t + interval '10 minutes'), 'confirmed'
FROM (VALUES ('2027-04-03 13:20+00'::timestamptz), ('2027-04-03 14:05+00'), ('2027-09-25 14:05+00')) x(t);
SELECT hour_start, local_hour, utc_offset, bookings
FROM protector.get_todays_bookings_by_hour('0d170000-0000-4000-8000-0000000000f0', p_date => '2027-04-04')
WHERE hour_start BETWEEN '2027-04-03 12:15+00' AND '2027-04-03 15:15+00';
SELECT hour_start, local_hour, utc_offset, bookings
FROM protector.get_todays_bookings_by_hour('0d170000-0000-4000-8000-0000000000f0', p_date => '2027-09-26')
WHERE hour_start BETWEEN '2027-09-25 13:15+00' AND '2027-09-25 14:15+00';
SELECT d, count(*) AS hours, min(hour_start) AS day_start, sum(bookings) AS bookings
FROM (VALUES ('2027-04-04'::date), ('2027-09-26')) x(d),
	 protector.get_todays_bookings_by_hour('0d170000-0000-4000-8000-0000000000f0', p_date => d)
GROUP BY d ORDER BY d;
-- a day the zone skipped has no hours (Apia, 2011-12-30)
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES
	('0d170000-0000-4000-8000-0000000000d0', 'Apia', 'days-apia', 'Pacific/Apia');
SELECT count(*) AS hours FROM protector.get_todays_bookings_by_hour('0d170000-0000-4000-8000-0000000000d0', p_date => '2011-12-30');
-- Africa/Monrovia went from -0:44:30 to GMT at its local midnight of
-- 1972-01-07: the day began at 00:00 -0:44:30 = 00:44:30 UTC, which the
-- new clock showed as 00:44; its other hours are 01:00 ... 23:00 GMT: 24
-- hours, the first 15.5 minutes long.  (Steps of a quarter hour from the
-- day's start met no full hour: the day was one bucket.)
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES
	('0d170000-0000-4000-8000-0000000000e0', 'Monrovia', 'days-monrovia', 'Africa/Monrovia');
SELECT count(*) AS hours, min(hour_start) AS day_start,
	   string_agg(local_hour || ' ' || utc_offset, ', ' ORDER BY hour_start) FILTER (WHERE hour_start < '1972-01-07 03:00+00') AS first_hours,
	   max(local_hour) AS last_hour
FROM protector.get_todays_bookings_by_hour('0d170000-0000-4000-8000-0000000000e0', p_date => '1972-01-07');
-- Newfoundland went back from 00:01 NDT (-2:30) to 23:01 NST (-3:30) on
-- 2010-11-07: the day began at 00:00 NDT = 02:30 UTC, a minute before the
-- clocks took it back to the 6th (which began at 00:00 NDT on the 6th,
-- 2010-11-06 02:30 UTC)
SELECT protector_internal.local_midnight('America/St_Johns', '2010-11-07') AS st_johns_day_start,
	   protector_internal.local_midnight('America/St_Johns', '2010-11-06') AS st_johns_day_before;
