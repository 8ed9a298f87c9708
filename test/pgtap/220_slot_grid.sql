-- validate_slot() accepts a start exactly when get_available_slots() lists
-- it (include_full, so that bookings do not matter): the check of one start
-- (protector_is_slot_start, src/schedule.c) against the list of a day's
-- slots (protector_slots_between), for every 5 minutes of DST days and
-- ordinary days, around the clock (hourly, and every 45 minutes, which
-- does not divide a day), overnight ranges, split ranges, a closure and
-- special hours; around the clock, a slot runs past midnight only into a
-- day open then.
BEGIN;
SELECT plan(18);
CREATE FUNCTION pg_temp.detail(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
	EXECUTE q;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN d;
END $$;

INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a220000-0000-4000-8000-000000000000', 'Grid', 'slot-grid');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a220000-0000-4000-8000-0000000000b1', '0a220000-0000-4000-8000-000000000000', 'Berlin 24h', 'Europe/Berlin', '{}'),
	('0a220000-0000-4000-8000-0000000000b2', '0a220000-0000-4000-8000-000000000000', 'New York nights', 'America/New_York',
	 '{"sat": [["22:00", "04:00"]], "sun": [["22:00", "04:00"]]}'),
	('0a220000-0000-4000-8000-0000000000b3', '0a220000-0000-4000-8000-000000000000', 'Kolkata', 'Asia/Kolkata',
	 '{"mon": [["09:30", "13:00"], ["14:00", "18:00"]], "tue": [["09:30", "18:00"]], "wed": [["09:30", "18:00"]],
	   "thu": [["09:30", "18:00"]], "fri": [["09:30", "18:00"]], "sat": [["20:00", "02:00"]]}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) VALUES
	('0a220000-0000-4000-8000-00000000d001', '0a220000-0000-4000-8000-000000000000', '0a220000-0000-4000-8000-0000000000b1',
	 'Hourly', '60 minutes', '60 minutes', '1100 days'),
	('0a220000-0000-4000-8000-00000000d002', '0a220000-0000-4000-8000-000000000000', '0a220000-0000-4000-8000-0000000000b1',
	 'Every 45', '90 minutes', '45 minutes', '1100 days'),
	('0a220000-0000-4000-8000-00000000d003', '0a220000-0000-4000-8000-000000000000', '0a220000-0000-4000-8000-0000000000b2',
	 'Nights', '30 minutes', '30 minutes', '1100 days'),
	('0a220000-0000-4000-8000-00000000d004', '0a220000-0000-4000-8000-000000000000', '0a220000-0000-4000-8000-0000000000b3',
	 'Consultation', '45 minutes', '45 minutes', '1100 days');

-- next year's clock changes in Berlin and New York, and ordinary days
CREATE TEMP TABLE grid_day AS
SELECT d::date AS d FROM (VALUES
	(make_date(extract(year FROM now())::int + 1, 3, 31) - extract(dow FROM make_date(extract(year FROM now())::int + 1, 3, 31))::int),
	(make_date(extract(year FROM now())::int + 1, 10, 31) - extract(dow FROM make_date(extract(year FROM now())::int + 1, 10, 31))::int),
	(make_date(extract(year FROM now())::int + 1, 3, 1) + (7 - extract(dow FROM make_date(extract(year FROM now())::int + 1, 3, 1))::int) % 7 + 7),
	(make_date(extract(year FROM now())::int + 1, 11, 1) + (7 - extract(dow FROM make_date(extract(year FROM now())::int + 1, 11, 1))::int) % 7),
	(make_date(extract(year FROM now())::int + 1, 6, 15))) v(d)
UNION
SELECT make_date(extract(year FROM now())::int + 1, 6, 15) + k FROM generate_series(1, 6) k;

-- a closure and special hours in Kolkata
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours, reason)
SELECT '0a220000-0000-4000-8000-000000000000', '0a220000-0000-4000-8000-0000000000b3', d, closed, hours, 'test'
FROM (VALUES (make_date(extract(year FROM now())::int + 1, 6, 16), true, NULL::jsonb),
			 (make_date(extract(year FROM now())::int + 1, 6, 17), false, '[["12:00", "13:30"], ["23:00", "01:00"]]')) c(d, closed, hours);

-- Berlin, open around the clock: closed on June 17; special hours from
-- midnight on June 19, and from 00:30 on June 21
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours, reason)
SELECT '0a220000-0000-4000-8000-000000000000', '0a220000-0000-4000-8000-0000000000b1', d, closed, hours, 'test'
FROM (VALUES (make_date(extract(year FROM now())::int + 1, 6, 17), true, NULL::jsonb),
			 (make_date(extract(year FROM now())::int + 1, 6, 19), false, '[["00:00", "01:00"], ["10:00", "12:00"]]'),
			 (make_date(extract(year FROM now())::int + 1, 6, 21), false, '[["00:30", "12:00"]]')) c(d, closed, hours);

CREATE FUNCTION pg_temp.accepts(p_service uuid, p_start timestamptz)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM protector.validate_slot(p_service, p_start, 1);
	RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
	RETURN false;
END
$$;

-- every 5 minutes of each local day, asked one by one and listed
CREATE TEMP TABLE grid AS
SELECT s.id AS service, g.d, t,
	   pg_temp.accepts(s.id, t) AS accepted,
	   EXISTS (SELECT FROM protector.get_available_slots(s.id, g.d, g.d, true) a WHERE a.slot_start = t) AS listed
FROM protector.services s
JOIN protector.venues v ON v.id = s.venue_id
CROSS JOIN grid_day g
CROSS JOIN LATERAL generate_series(g.d::timestamp AT TIME ZONE v.timezone,
								   (g.d + 1)::timestamp AT TIME ZONE v.timezone - interval '1 minute',
								   interval '5 minutes') t
WHERE s.organization_id = '0a220000-0000-4000-8000-000000000000';

SELECT is((SELECT count(*) FROM grid WHERE accepted <> listed), 0::bigint,
	'validate_slot accepts exactly the starts get_available_slots lists');
SELECT ok((SELECT count(*) FILTER (WHERE accepted) > 100 AND count(*) FILTER (WHERE NOT accepted) > 100 FROM grid),
	'... over many accepted and many refused starts');
SELECT is((SELECT count(*) FROM grid WHERE service = '0a220000-0000-4000-8000-00000000d001' AND accepted
		   AND d = (SELECT min(d) FROM grid_day WHERE extract(month FROM d) = 3 AND extract(day FROM d) > 20)), 23::bigint,
	'Berlin''s spring-forward day has 23 hourly starts');
SELECT is((SELECT count(*) FROM grid WHERE service = '0a220000-0000-4000-8000-00000000d001' AND accepted
		   AND d = (SELECT min(d) FROM grid_day WHERE extract(month FROM d) = 10)), 25::bigint,
	'... and its fall-back day 25');
-- a Sunday's 00:00-04:00 starts come from Saturday's overnight range
SELECT ok((SELECT bool_and(accepted) FROM grid WHERE service = '0a220000-0000-4000-8000-00000000d003'
		   AND extract(dow FROM d) = 0
		   AND (t AT TIME ZONE 'America/New_York')::time IN ('00:00', '00:30', '03:30')),
	'a range that runs past midnight opens the next day''s early slots');
-- every 45 minutes around the clock: 32 starts a day, the last at 23:15
SELECT is((SELECT count(*) FROM grid WHERE service = '0a220000-0000-4000-8000-00000000d002' AND accepted
		   AND d = make_date(extract(year FROM now())::int + 1, 6, 15)), 32::bigint,
	'every 45 minutes, around the clock: 32 starts on an ordinary day');

-- around the clock, a slot runs past midnight only into a day open then:
-- every 45 minutes for 90, the 23:15 start ends at 00:45 the next day
CREATE FUNCTION pg_temp.starts(p_service uuid, p_day int) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM grid WHERE service = p_service AND accepted AND d = make_date(extract(year FROM now())::int + 1, 6, p_day)
$$;
SELECT is(pg_temp.starts('0a220000-0000-4000-8000-00000000d002', 16), 31::bigint,
	'the day before a closed day: 31 starts, none running into it (23:15 would)');
SELECT is(pg_temp.starts('0a220000-0000-4000-8000-00000000d002', 18), 32::bigint,
	'the day before special hours from 00:00 to 01:00: 32, 23:15 ends at 00:45 within them');
SELECT is(pg_temp.starts('0a220000-0000-4000-8000-00000000d002', 20), 31::bigint,
	'the day before special hours from 00:30: 31, 23:15 would run into 00:00-00:30, when it is closed');
-- hourly on June 19: 00:00 (ends 01:00), 10:00 and 11:00; June 21: 00:30 to 10:30, 11 starts
SELECT is(ARRAY[pg_temp.starts('0a220000-0000-4000-8000-00000000d001', 19), pg_temp.starts('0a220000-0000-4000-8000-00000000d001', 21),
				pg_temp.starts('0a220000-0000-4000-8000-00000000d001', 17)],
	ARRAY[3, 11, 0]::bigint[], 'special hours replace the day''s: 3 and 11 hourly starts; the closed day none');

-- a zone whose clocks go back over midnight (Atlantic/Azores, 2027-10-31:
-- 01:00 back to 00:00): Saturday's "24:00" is the first instant of Sunday,
-- not the second 00:00 an hour later, and Sunday's "00:00" opens then (it
-- offered 00:00 Sunday on a closed Sunday, and counted 3 open hours)
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a220000-0000-4000-8000-0000000000b9', '0a220000-0000-4000-8000-000000000000', 'Ponta Delgada', 'Atlantic/Azores',
	 '{"sat": [["22:00", "24:00"]], "sun": [["00:00", "02:00"]]}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) VALUES
	('0a220000-0000-4000-8000-00000000d009', '0a220000-0000-4000-8000-000000000000', '0a220000-0000-4000-8000-0000000000b9',
	 'Hourly', '60 minutes', '60 minutes', '1000 days');
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed) VALUES
	('0a220000-0000-4000-8000-000000000000', '0a220000-0000-4000-8000-0000000000b9', '2027-10-31', true);
SELECT results_eq($$SELECT to_char(slot_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
					FROM protector.get_available_slots('0a220000-0000-4000-8000-00000000d009', '2027-10-30', '2027-10-31')$$,
	$$VALUES ('2027-10-30 22:00'), ('2027-10-30 23:00')$$,
	'Saturday 22:00-24:00 local (UTC+0 until Sunday 01:00): slots at 22:00 and 23:00 UTC, none on the closed Sunday');
SELECT is((SELECT count(*)::int FROM protector.get_venue_schedule('0a220000-0000-4000-8000-0000000000b9', '2027-10-30', '2027-10-30')
		   WHERE closes_at > '2027-10-31 00:00+00'), 0, 'the schedule closes Saturday at Sunday''s first instant');
DELETE FROM protector.venue_closures WHERE venue_id = '0a220000-0000-4000-8000-0000000000b9';
SELECT results_eq($$SELECT to_char(slot_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
					FROM protector.get_available_slots('0a220000-0000-4000-8000-00000000d009', '2027-10-31', '2027-10-31')$$,
	$$VALUES ('2027-10-31 00:00'), ('2027-10-31 01:00'), ('2027-10-31 02:00')$$,
	'Sunday 00:00-02:00 local spans three hours of UTC (00:00 passes twice): three slots from its first instant');

-- a limit that is not a whole number of days or minutes is said as it is
-- (20 hours read "0 days", 30 seconds "0 minutes")
UPDATE protector.services SET max_advance = '20 hours', min_notice = '30 seconds'
WHERE id = '0a220000-0000-4000-8000-00000000d009';
SELECT throws_like($$SELECT protector.validate_slot('0a220000-0000-4000-8000-00000000d009', now() + interval '30 days', 1)$$,
	'%too far ahead%', 'too far ahead');
SELECT matches((SELECT pg_temp.detail($$SELECT protector.validate_slot('0a220000-0000-4000-8000-00000000d009', now() + interval '30 days', 1)$$)),
	'at most 20 hours ahead', '... at most 20 hours, not 0 days');

-- a day without slots: closed, or open but not for as long as a booking
-- takes (Kolkata's Mondays are 3.5 and 4 hours; its Sundays are open only
-- until 02:00, from Saturday's range)
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) VALUES
	('0a220000-0000-4000-8000-00000000d00a', '0a220000-0000-4000-8000-000000000000', '0a220000-0000-4000-8000-0000000000b3',
	 'Long session', '5 hours', '30 minutes', '1100 days');
CREATE TEMP TABLE next_monday AS
SELECT make_date(extract(year FROM now())::int + 1, 7, 1)
	   + (8 - extract(isodow FROM make_date(extract(year FROM now())::int + 1, 7, 1))::int) % 7 AS d;
SELECT throws_like(format($$SELECT protector.validate_slot('0a220000-0000-4000-8000-00000000d00a', %L, 1)$$,
						  ((SELECT d FROM next_monday) + time '09:30') AT TIME ZONE 'Asia/Kolkata'),
	'%"Long session" has no slot on that day%', 'an open Monday too short for the service has no slot; it is not closed');
SELECT throws_like(format($$SELECT protector.validate_slot('0a220000-0000-4000-8000-00000000d00a', %L, 1)$$,
						  ((SELECT d FROM next_monday) - 1 + time '00:30') AT TIME ZONE 'Asia/Kolkata'),
	'%has no slot on that day%', 'a Sunday open only by Saturday''s range past midnight is not closed either');
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, reason)
SELECT '0a220000-0000-4000-8000-000000000000', '0a220000-0000-4000-8000-0000000000b3', d + 1, true, 'test' FROM next_monday;
SELECT throws_like(format($$SELECT protector.validate_slot('0a220000-0000-4000-8000-00000000d00a', %L, 1)$$,
						  ((SELECT d FROM next_monday) + 1 + time '09:30') AT TIME ZONE 'Asia/Kolkata'),
	'%is closed on that day%', 'a Tuesday closed is closed');

SELECT * FROM finish();
ROLLBACK;
