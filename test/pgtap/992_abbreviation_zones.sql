-- What an attack review of analytics found: a zone stored before 0.2.0
-- refused names that are also time zone abbreviations (CET, EET, MET,
-- WET, EST, MST, HST), kept by an update or a restore, was read as the
-- zone file for the dashboards' and reports' days and as the
-- abbreviation (CET: UTC+1 all year) for their hours and dates: in
-- summer the hourly chart of 15 July began at "23:00 +01:00", an export
-- wrote a 12:00 booking as 11:00, and a payment at 00:30 local time went
-- into the day before, outside the range asked for.  Every local time is
-- read from the zone file (protector_internal.local_time).
BEGIN;
SELECT plan(6);

SELECT tests.create_supabase_user('az_owner') IS NOT NULL \g /dev/null
SET LOCAL session_replication_role = replica;
INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0a992000-0000-4000-8000-000000000000', 'Zones', 'abbreviation-zones', 'CET', 'EUR');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('0a992000-0000-4000-8000-000000000000', tests.get_supabase_uid('az_owner'), 'owner', now());
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a992000-0000-4000-8000-0000000000a1', '0a992000-0000-4000-8000-000000000000', 'Hall', 'CET');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0a992000-0000-4000-8000-0000000005a1', '0a992000-0000-4000-8000-000000000000', '0a992000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days');
-- a booking at 12:00 local time (CEST, UTC+2) on 15 July 2027, paid
-- 20.00 at 00:30 local time that day
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, currency)
VALUES ('0a992000-0000-4000-8000-0000000b0001', '0a992000-0000-4000-8000-000000000000', '0a992000-0000-4000-8000-0000000000a1',
		'0a992000-0000-4000-8000-0000000005a1', '[2027-07-15 10:00+00, 2027-07-15 11:00+00)', 'confirmed', 'EUR');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, created_at)
VALUES ('0a992000-0000-4000-8000-000000000000', '0a992000-0000-4000-8000-0000000b0001', 20, 'succeeded', '2027-07-14 22:30+00');
SET LOCAL session_replication_role = origin;
SET LOCAL TimeZone = 'UTC';

SELECT tests.authenticate_as('az_owner');
SELECT is((SELECT format('%s %s %s', hour_start, local_hour, utc_offset)
		   FROM protector.get_todays_bookings_by_hour('0a992000-0000-4000-8000-000000000000', NULL, '2027-07-15')
		   ORDER BY hour_start LIMIT 1),
	'2027-07-14 22:00:00+00 00:00 +02:00', 'the hourly chart of a day in CET begins at local midnight, UTC+2 in summer');
SELECT is((SELECT format('%s %s %s', hour_start, local_hour, bookings)
		   FROM protector.get_todays_bookings_by_hour('0a992000-0000-4000-8000-000000000000', NULL, '2027-07-15')
		   WHERE bookings > 0),
	'2027-07-15 10:00:00+00 12:00 1', '... and the booking is in the hour its clocks call 12:00');
SELECT is((SELECT format('%s %s', local_start, local_end)
		   FROM protector.export_bookings('0a992000-0000-4000-8000-000000000000', '2027-07-15', '2027-07-15')),
	'2027-07-15 12:00:00 2027-07-15 13:00:00', 'the export writes its local times from the zone file');
SELECT is((SELECT format('%s %s', period_start, revenue)
		   FROM protector.generate_revenue_report('0a992000-0000-4000-8000-000000000000', '2027-07-15', '2027-07-15')),
	'2027-07-15 20.00', 'a payment at 00:30 local time is the revenue of the day asked for');
SELECT is((SELECT count(*)::int
		   FROM protector.generate_revenue_report('0a992000-0000-4000-8000-000000000000', '2027-07-14', '2027-07-14')),
	0, '... and not of the day before');
-- (under a set of abbreviations in which the name is another place's)
SET LOCAL timezone_abbreviations = 'Australia';
SELECT is((SELECT format('%s %s', local_start, local_end)
		   FROM protector.export_bookings('0a992000-0000-4000-8000-000000000000', '2027-07-15', '2027-07-15')),
	'2027-07-15 12:00:00 2027-07-15 13:00:00', '... whatever the session''s abbreviations');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
