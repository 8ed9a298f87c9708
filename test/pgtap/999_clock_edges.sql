-- Opening hours on days the clocks change (an attack review; the days
-- are next year's, within a service's max_advance):
-- 1. a range opening in the hour the clocks pass twice opened at its
--    second reading: Berlin, Sunday 02:30-04:00 on the last Sunday of
--    October (03:00 CEST back to 02:00 CET at 01:00 UTC) opened at 02:30
--    CET (01:30 UTC), an hour after its clock first showed 02:30 (00:30
--    UTC), and the first 02:30 was refused as "not a slot"; Havana's
--    00:30-02:00 on the first Sunday of November (01:00 CDT back to 00:00
--    CST) opened 90 minutes late, not 30;
-- 2. a time the clocks skip was read as PostgreSQL reads it, with the
--    offset before the jump (Berlin's last Sunday of March, 02:00 jumps to
--    03:00): a range 02:10-02:50, which holds no time, opened 03:10-03:50,
--    and 02:30-03:15 (03:00-03:15) closed before it opened and came back
--    so from get_venue_schedule (a review, and a fuzzing of the fix); a
--    skipped time is the jump over it now;
-- 3. a day the zone skipped (Pacific/Apia, 2011-12-30, a Friday) had its
--    Friday hours, read as the next day's: the closed Saturday was open.
BEGIN;
SELECT plan(14);
SET LOCAL timezone = 'UTC';
SELECT make_date(y, 10, 31) - extract(dow FROM make_date(y, 10, 31))::int AS fall,
	   make_date(y, 3, 31) - extract(dow FROM make_date(y, 3, 31))::int AS spring,
	   make_date(y, 11, 1) + (7 - extract(dow FROM make_date(y, 11, 1))::int) % 7 AS havana,
	   make_date(y, 9, 2) + (7 - extract(dow FROM make_date(y, 9, 2))::int) % 7 AS santiago
FROM (SELECT extract(year FROM now())::int + 1 AS y) n \gset

INSERT INTO protector.organizations (id, name, slug) VALUES ('0a999000-0000-4000-8000-000000000000', 'Clocks', 'clock-edges');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a999000-0000-4000-8000-0000000000a1', '0a999000-0000-4000-8000-000000000000', 'Berlin night', 'Europe/Berlin', '{"sun": [["02:30", "04:00"]]}'),
	('0a999000-0000-4000-8000-0000000000a2', '0a999000-0000-4000-8000-000000000000', 'Berlin gap', 'Europe/Berlin', '{"sun": [["02:10", "02:50"]]}'),
	('0a999000-0000-4000-8000-0000000000a5', '0a999000-0000-4000-8000-000000000000', 'Berlin jump', 'Europe/Berlin', '{"sun": [["02:30", "03:15"]]}'),
	('0a999000-0000-4000-8000-0000000000a3', '0a999000-0000-4000-8000-000000000000', 'Apia', 'Pacific/Apia', '{"fri": [["08:00", "20:00"]]}'),
	('0a999000-0000-4000-8000-0000000000a4', '0a999000-0000-4000-8000-000000000000', 'Havana', 'America/Havana', '{"sun": [["00:30", "02:00"]]}'),
	('0a999000-0000-4000-8000-0000000000a6', '0a999000-0000-4000-8000-000000000000', 'Apia night', 'Pacific/Apia', '{"thu": [["20:00", "03:00"]]}'),
	('0a999000-0000-4000-8000-0000000000a7', '0a999000-0000-4000-8000-000000000000', 'Santiago', 'America/Santiago', '{"sat": [["22:00", "00:30"]]}'),
	('0a999000-0000-4000-8000-0000000000a8', '0a999000-0000-4000-8000-000000000000', 'Berlin always', 'Europe/Berlin', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) VALUES
	('0a999000-0000-4000-8000-0000000005a1', '0a999000-0000-4000-8000-000000000000', '0a999000-0000-4000-8000-0000000000a1',
	 'Night', '30 minutes', '30 minutes', '1100 days'),
	('0a999000-0000-4000-8000-0000000005a2', '0a999000-0000-4000-8000-000000000000', '0a999000-0000-4000-8000-0000000000a2',
	 'Gap', '15 minutes', '15 minutes', '1100 days'),
	('0a999000-0000-4000-8000-0000000005a7', '0a999000-0000-4000-8000-000000000000', '0a999000-0000-4000-8000-0000000000a7',
	 'Late', '30 minutes', '30 minutes', '1100 days'),
	('0a999000-0000-4000-8000-0000000005a8', '0a999000-0000-4000-8000-000000000000', '0a999000-0000-4000-8000-0000000000a8',
	 'Long', '4 hours 30 minutes', '60 minutes', '1100 days');

-- 1. the first 02:30 is 00:30 UTC (CEST, +2); 04:00 CET (+1) is 03:00
-- UTC: 2.5 hours, five 30-minute slots
SELECT results_eq(format($$SELECT slot_start FROM protector.get_available_slots('0a999000-0000-4000-8000-0000000005a1', %L)$$, :'fall'),
	format($$SELECT (%L::date + t)::timestamptz FROM unnest('{00:30,01:00,01:30,02:00,02:30}'::time[]) t$$, :'fall'),
	'Berlin, 02:30-04:00 on the night the clocks go back: open from the first 02:30 (00:30 UTC) to 04:00 CET (03:00 UTC), five slots');
SELECT is(protector.is_venue_open('0a999000-0000-4000-8000-0000000000a1', :'fall'::date + time '00:45'), true,
	'... open at the first 02:45 (00:45 UTC)');
SELECT is(protector.is_venue_open('0a999000-0000-4000-8000-0000000000a1', :'fall'::date + time '00:25'), false,
	'... and not at 02:25 CEST, before it opens');
SELECT is(protector.create_booking('0a999000-0000-4000-8000-0000000005a1', NULL, :'fall'::date + time '00:30', 1) ->> 'status', 'confirmed',
	'... and the first 02:30 is booked');
-- a start between slots is told the slots around it with their offsets:
-- the slot after the first 02:45 (00:45 UTC) is 02:00 CET (01:00 UTC),
-- which without them read as before the first 02:30 (a review)
SELECT is(tests.error_text(format($$SELECT protector.validate_slot('0a999000-0000-4000-8000-0000000005a1', %L, 1)$$,
								  :'fall'::date + time '00:45')),
	format('22023 | p_start is not a slot of service "Night" | Requested %1$s 02:45:00+02 local time (Europe/Berlin); '
		   'the slot before starts %1$s 02:30:00+02; the slot after starts %1$s 02:00:00+01.', :'fall')
	|| ' | Slots start at opening time and then every slot interval, and must end by closing time; get_available_slots() (get_widget_slots() in the widget) lists them.',
	'... and a start between slots is told the slots around it with their UTC offsets');
-- Havana: 00:30 CDT (-4) is 04:30 UTC, 02:00 CST (-5) is 07:00 UTC
SELECT results_eq(format($$SELECT opens_at, closes_at FROM protector.get_venue_schedule('0a999000-0000-4000-8000-0000000000a4', %L, %1$L)$$, :'havana'),
	format($$VALUES ((%L::date + time '04:30')::timestamptz, (%1$L::date + time '07:00')::timestamptz)$$, :'havana'),
	'Havana, 00:30-02:00 on the night the clocks go back: from 00:30 CDT (04:30 UTC) to 02:00 CST (07:00 UTC), 2.5 hours');

-- 2. nothing of 02:10-02:50 exists on that day in Berlin; of 02:30-03:15,
-- 03:00-03:15 CEST (+2), 01:00-01:15 UTC
SELECT is_empty(format($$SELECT * FROM protector.get_venue_schedule('0a999000-0000-4000-8000-0000000000a2', %L, %1$L)$$, :'spring'),
	'Berlin, 02:10-02:50 on the night the clocks skip 02:00-03:00: no opening (it opened 03:10-03:50)');
SELECT results_eq(format($$SELECT opens_at, closes_at FROM protector.get_venue_schedule('0a999000-0000-4000-8000-0000000000a5', %L, %1$L)$$, :'spring'),
	format($$VALUES ((%L::date + time '01:00')::timestamptz, (%1$L::date + time '01:15')::timestamptz)$$, :'spring'),
	'... and 02:30-03:15 opens at the jump: 03:00-03:15 CEST, 01:00-01:15 UTC (it closed before it opened)');
SELECT is_empty(format($$SELECT * FROM protector.get_available_slots('0a999000-0000-4000-8000-0000000005a2', %L)$$, :'spring'),
	'... and no slot');

-- 3. Apia's Fridays 08:00-20:00: 2011-12-23 (-10: 18:00 to 06:00 UTC),
-- no 2011-12-30, 2012-01-06 (+14: 18:00 to 06:00 UTC the day before)
SELECT results_eq($$SELECT local_date, opens_at FROM protector.get_venue_schedule('0a999000-0000-4000-8000-0000000000a3', '2011-12-22', '2012-01-07')$$,
	$$VALUES ('2011-12-23'::date, '2011-12-23 18:00+00'::timestamptz), ('2012-01-06', '2012-01-05 18:00+00')$$,
	'Apia''s Fridays around the day it skipped: 2011-12-23 and 2012-01-06, not 2011-12-30');
SELECT is(protector.is_venue_open('0a999000-0000-4000-8000-0000000000a3', '2011-12-31 09:00+14'), false,
	'... and the Saturday after the skipped Friday is closed');
-- Thursday 20:00-03:00 on 2011-12-29 runs into the skipped Friday: it
-- closes at the jump (Thursday's 24:00 at -10, 10:00 UTC; it ran on to
-- Saturday 03:00)
SELECT results_eq($$SELECT opens_at, closes_at FROM protector.get_venue_schedule('0a999000-0000-4000-8000-0000000000a6', '2011-12-29', '2011-12-29')$$,
	$$VALUES ('2011-12-30 06:00+00'::timestamptz, '2011-12-30 10:00+00'::timestamptz)$$,
	'Apia, Thursday 20:00-03:00 into the skipped day: closes at the jump (a jump of a whole day)');

-- 3b. open around the clock, with special hours 00:00-02:30 on the
-- spring-forward Sunday: Saturday's slots reach into them only until the
-- jump (01:00 UTC), so the last 4.5-hour slot starts 20:00 UTC and ends
-- 00:30 UTC (02:30 read with the offset before the jump let one run to
-- 01:30 UTC, past the venue's closing)
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours)
SELECT '0a999000-0000-4000-8000-000000000000', '0a999000-0000-4000-8000-0000000000a8', :'spring'::date, false, '[["00:00", "02:30"]]';
SELECT is((SELECT max(slot_end) FROM protector.get_available_slots('0a999000-0000-4000-8000-0000000005a8', :'spring'::date - 1)),
	(:'spring'::date + time '00:30')::timestamptz,
	'open around the clock into special hours closing in the skipped hour: Saturday''s slots end by the jump');

-- 4. Santiago's Saturday 22:00-00:30 on the night Sunday's 00:00 jumps to
-- 01:00 closes at the jump, Sunday's first instant: Sunday has no hours,
-- and a booking then is told the venue is closed (it was "open that day,
-- but not long enough")
SELECT throws_ok(format($$SELECT protector.validate_slot('0a999000-0000-4000-8000-0000000005a7',
		(%L::date + time '10:00') AT TIME ZONE 'America/Santiago', 1)$$, :'santiago'),
	'22023', 'the venue of service "Late" is closed on that day',
	'Santiago: a Sunday whose only hours are the night before''s, ending at the jump over its midnight, is closed');

SELECT * FROM finish();
ROLLBACK;
