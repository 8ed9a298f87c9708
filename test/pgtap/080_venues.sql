-- Venue management, schedules across DST, duplicate_service, analytics.
BEGIN;
SELECT plan(59);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['n_owner', 'n_manager', 'n_operator', 'n_finance', 'n_other']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a800000-0000-4000-8000-000000000000', 'A', 'venues-a'), ('0b800000-0000-4000-8000-000000000000', 'B', 'venues-b');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a800000-0000-4000-8000-000000000000', tests.get_supabase_uid('n_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'manager', 'operator', 'finance']) r;
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0b800000-0000-4000-8000-000000000000', tests.get_supabase_uid('n_other'), 'owner');
CREATE TEMP TABLE ids (name text PRIMARY KEY, id uuid);
GRANT ALL ON ids TO authenticated;

-- creating
SELECT tests.authenticate_as('n_manager');
INSERT INTO ids SELECT 'berlin', (protector.create_venue('0a800000-0000-4000-8000-000000000000', 'Lockbox Mitte', 'Europe/Berlin',
	p_address => 'Main St 1', p_country => 'DE',
	p_operating_hours => '{"mon": [["10:00", "22:00"]], "sat": [["18:00", "02:00"]], "sun": [["01:00", "04:00"]]}') ->> 'id')::uuid;
SELECT ok((SELECT id FROM ids WHERE name = 'berlin') IS NOT NULL, 'a manager creates a venue');
SELECT ok(protector.embed_key_is_well_formed((SELECT embed_key FROM protector.venues WHERE id = (SELECT id FROM ids WHERE name = 'berlin'))),
	'... which gets an embed key');
SELECT throws_ok($$SELECT protector.create_venue('0a800000-0000-4000-8000-000000000000', 'X', 'Mars/Olympus')$$,
	'22023', NULL, 'an unknown time zone');
SELECT throws_ok($$SELECT protector.create_venue('0a800000-0000-4000-8000-000000000000', 'X', 'CET')$$,
	'22023', 'p_timezone is a time zone abbreviation as well: "CET"',
	'CET, which AT TIME ZONE reads as UTC+1 all year while the zone keeps summer time: refused');
SELECT throws_ok($$UPDATE protector.venues SET timezone = 'WET' WHERE id = (SELECT id FROM ids WHERE name = 'berlin')$$,
	'22023', 'timezone is a time zone abbreviation as well: "WET"', '... and by a table write');
SELECT throws_ok($$SELECT protector.create_venue('0a800000-0000-4000-8000-000000000000', 'X', 'UTC', p_address => repeat('a', 501))$$,
	'22023', 'p_address must be 0 to 500 characters', 'an address of 501 characters, named (it was the table''s bare CHECK error)');
SELECT throws_ok($$SELECT protector.create_venue('0a800000-0000-4000-8000-000000000000', 'X', 'UTC', p_city => E'Ber\u202Elin')$$,
	'22023', 'p_city holds control or invisible direction characters', 'a city with a direction override');
SELECT throws_ok($$SELECT protector.update_venue((SELECT id FROM ids WHERE name = 'berlin'), jsonb_build_object('city', E'x\u0007y'))$$,
	'22023', 'p_changes.city holds control or invisible direction characters', '... or a bell, through update_venue');
SELECT throws_ok($$SELECT protector.create_venue('0a800000-0000-4000-8000-000000000000', 'X', 'UTC',
	p_operating_hours => '{"mon": [["10:00", "25:00"]]}')$$, '22023', 'operating_hours: "25:00" of "mon" is not a time of day', 'bad hours, named');
SELECT throws_ok($$SELECT protector.create_venue('0a800000-0000-4000-8000-000000000000', repeat('x', 201), 'UTC')$$,
	'22023', NULL, 'a name over 200 characters');
SELECT throws_ok($$SELECT protector.create_venue('0b800000-0000-4000-8000-000000000000', 'X', 'UTC')$$,
	'P0002', 'organization not found', 'another organization is not found (as a random id would be)');
SELECT tests.authenticate_as('n_operator');
SELECT throws_ok($$SELECT protector.create_venue('0a800000-0000-4000-8000-000000000000', 'X', 'UTC')$$,
	'42501', NULL, 'an operator may not create venues');

-- updating
SELECT tests.authenticate_as('n_manager');
SELECT is(protector.update_venue((SELECT id FROM ids WHERE name = 'berlin'), '{"city": "Berlin", "branding": {"color": "#123456"}}') ->> 'city',
	'Berlin', 'update_venue changes the given fields');
SELECT throws_ok($$SELECT protector.update_venue((SELECT id FROM ids WHERE name = 'berlin'), '{"embed_key": "pk_x"}')$$,
	'22023', NULL, 'fields that are not changed here are refused');
SELECT throws_ok($$SELECT protector.update_venue((SELECT id FROM ids WHERE name = 'berlin'), '{"country": "Germany"}')$$,
	'22023', NULL, 'a bad value is a 22023, not a constraint violation');
SELECT throws_ok($$SELECT protector.update_venue_schedule((SELECT id FROM ids WHERE name = 'berlin'), '{"funday": []}')$$,
	'22023', NULL, 'update_venue_schedule validates in C');
SELECT tests.authenticate_as('n_other');
SELECT throws_ok($$SELECT protector.update_venue((SELECT id FROM ids WHERE name = 'berlin'), '{"city": "X"}')$$,
	'P0002', NULL, 'another organization does not see the venue');

-- is it open?  Berlin: Monday 10-22, Saturday 18:00 to Sunday 02:00, Sunday 01-04
SELECT tests.authenticate_as('n_operator');
CREATE FUNCTION pg_temp.open_at(p text) RETURNS boolean LANGUAGE sql AS $$
	SELECT protector.is_venue_open((SELECT id FROM ids WHERE name = 'berlin'), (p::timestamp AT TIME ZONE 'Europe/Berlin'))
$$;
GRANT EXECUTE ON FUNCTION pg_temp.open_at(text) TO authenticated;
SELECT is(pg_temp.open_at('2027-03-22 10:00'), true, 'open at Monday''s opening');
SELECT is(pg_temp.open_at('2027-03-22 21:59'), true, '... and just before closing');
SELECT is(pg_temp.open_at('2027-03-22 22:00'), false, 'closed at closing time');
SELECT is(pg_temp.open_at('2027-03-23 12:00'), false, 'closed on a Tuesday');
SELECT is(pg_temp.open_at('2027-03-21 01:30'), true, 'Saturday''s late range runs past midnight into Sunday');
-- 2027-03-28: clocks go forward at 02:00 in Berlin; Saturday 27th 18:00 to 02:00 (= 03:00 CEST)
SELECT is(pg_temp.open_at('2027-03-28 01:59'), true, 'the DST night: open until the jump');
SELECT is(protector.is_venue_open((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-28 02:00+00'), false,
	'Sunday 01:00-04:00 closes at 04:00 summer time (02:00 UTC)');
SELECT is((SELECT count(*)::int FROM protector.get_venue_schedule((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-22', '2027-03-28')),
	3, 'a week''s schedule: Monday, Saturday (overnight), Sunday');
SELECT is((SELECT closes_at - opens_at FROM protector.get_venue_schedule((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-27', '2027-03-27')),
	interval '8 hours', 'Saturday 18:00 to "02:00" on the DST night closes at the jump, 8 elapsed hours (02:00 does not exist)');

-- closures and special hours
SELECT tests.clear_authentication();
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours) VALUES
	('0a800000-0000-4000-8000-000000000000', (SELECT id FROM ids WHERE name = 'berlin'), '2027-03-29', true, NULL),
	('0a800000-0000-4000-8000-000000000000', (SELECT id FROM ids WHERE name = 'berlin'), '2027-03-30', false, '[["12:00", "14:00"]]');
SELECT is(pg_temp.open_at('2027-03-29 12:00'), false, 'closed on a closure day');
SELECT is(pg_temp.open_at('2027-03-30 13:00'), true, 'open during special hours on a Tuesday');
SELECT is((SELECT array_agg(kind ORDER BY local_date) FROM protector.get_venue_schedule((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-29', '2027-03-30')),
	'{closed,special}'::text[], 'the schedule says why');
-- (a day's ranges in order, each once: they came as written, the
-- afternoon first and the morning twice: an attack review)
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours) VALUES
	('0a800000-0000-4000-8000-000000000000', (SELECT id FROM ids WHERE name = 'berlin'), '2027-03-31', false,
	 '[["13:00", "18:00"], ["09:00", "12:00"], ["09:00", "12:00"]]');
SELECT is((SELECT array_agg(to_char(opens_at AT TIME ZONE 'Europe/Berlin', 'HH24:MI') || '-' || to_char(closes_at AT TIME ZONE 'Europe/Berlin', 'HH24:MI'))
		   FROM protector.get_venue_schedule((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-31', '2027-03-31')),
	'{09:00-12:00,13:00-18:00}'::text[], 'a day''s openings in order of time, a range written twice listed once');
SELECT throws_ok($$SELECT * FROM protector.get_venue_schedule((SELECT id FROM ids WHERE name = 'berlin'), '4713-01-01 BC', '4713-01-10 BC')$$,
	'22008', 'p_from and p_to must be dates between the years 1 and 9999', 'a schedule before the year 1 is refused by name');
SELECT is((SELECT count(DISTINCT local_date)::int FROM protector.get_venue_schedule((SELECT id FROM ids WHERE name = 'berlin'), '9999-12-26')),
	2, 'the default week from Sunday 9999-12-26 ends with 9999-12-31: its Sunday and Monday open (it was refused naming a p_to nobody gave)');

-- duplicating a service
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, price, capacity, mode, max_party, settings)
VALUES ('0a800000-0000-4000-8000-0000000005a1', '0a800000-0000-4000-8000-000000000000', (SELECT id FROM ids WHERE name = 'berlin'),
		'Vault', '60 minutes', '60 minutes', 25, 6, 'shared', 6, '{"refund_policy": {"full_refund_hours": 48}}');
SELECT tests.authenticate_as('n_manager');
SELECT is((SELECT (d ->> 'name') || ' / ' || (d -> 'settings' -> 'refund_policy' ->> 'full_refund_hours') || ' / ' || (d ->> 'capacity')
		   FROM protector.duplicate_service('0a800000-0000-4000-8000-0000000005a1') d),
	'Vault (copy) / 48 / 6', 'duplicate_service copies a service with its settings');

-- analytics
SELECT tests.clear_authentication();
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size, status, total_price) VALUES
	('0a800000-0000-4000-8000-000000000000', (SELECT id FROM ids WHERE name = 'berlin'), '0a800000-0000-4000-8000-0000000005a1',
	 tstzrange('2027-03-22 10:00+01', '2027-03-22 11:00+01'), 3, 'confirmed', 75),
	('0a800000-0000-4000-8000-000000000000', (SELECT id FROM ids WHERE name = 'berlin'), '0a800000-0000-4000-8000-0000000005a1',
	 tstzrange('2027-03-22 12:00+01', '2027-03-22 13:00+01'), 2, 'cancelled', 50);
SELECT tests.authenticate_as('n_finance');
SELECT is((SELECT a ->> 'bookings' || '/' || (a ->> 'cancellations') || '/' || (a ->> 'revenue') || '/' || (a ->> 'open_hours')
		   FROM protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-22', '2027-03-22') a),
	'1/1/75.00/12.00', 'analytics: bookings, cancellations, revenue, open hours of a Monday');
SELECT is((SELECT (a ->> 'utilization')::numeric FROM protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-22', '2027-03-22') a),
	round(1 * 3 / 6.0 / (12 * 2), 4), 'utilization: booked service time (party / capacity) over open service time');
-- the Vault made smaller, then retired: its booking of 3 counts as full
-- (1 h, not 3 h of a 1-place service), and its open time still counts
-- while its bookings do: 1 h / (12 h x 2 services) = 0.0417, never 0.25
SELECT tests.clear_authentication();
UPDATE protector.services SET capacity = 1, max_party = 1 WHERE id = '0a800000-0000-4000-8000-0000000005a1';
SELECT tests.authenticate_as('n_finance');
SELECT is((SELECT (a ->> 'utilization')::numeric FROM protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-22', '2027-03-22') a),
	round(1 / (12 * 2.0), 4), 'a booking made before its service''s capacity was lowered counts as full, not as 3 slots');
SELECT tests.clear_authentication();
UPDATE protector.services SET active = false WHERE id = '0a800000-0000-4000-8000-0000000005a1';
SELECT tests.authenticate_as('n_finance');
SELECT is((SELECT (a ->> 'utilization')::numeric FROM protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-22', '2027-03-22') a),
	round(1 / (12 * 2.0), 4), '... and a retired service with bookings in the range keeps its open time in the denominator');
SELECT tests.clear_authentication();
UPDATE protector.services SET active = true, capacity = 6, max_party = 6 WHERE id = '0a800000-0000-4000-8000-0000000005a1';
-- a booking in another currency is not the organization's revenue (USD):
-- on Wednesday only a 10,000 JPY booking; it was counted as 10000.00
SELECT tests.clear_authentication();
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, price, currency, capacity, max_party, mode)
VALUES ('0a800000-0000-4000-8000-0000000005a9', '0a800000-0000-4000-8000-000000000000', (SELECT id FROM ids WHERE name = 'berlin'),
		'Yen room', '60 minutes', '60 minutes', 10000, 'JPY', 1, 1, 'exclusive');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, currency, total_price) VALUES
	('0a800000-0000-4000-8000-000000000000', (SELECT id FROM ids WHERE name = 'berlin'), '0a800000-0000-4000-8000-0000000005a9',
	 tstzrange('2027-03-24 10:00+01', '2027-03-24 11:00+01'), 'confirmed', 'JPY', 10000);
SELECT tests.authenticate_as('n_finance');
SELECT is((SELECT (a ->> 'bookings') || ' / ' || (a ->> 'revenue') || ' ' || (a ->> 'currency')
		   FROM protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-24', '2027-03-24') a),
	'1 / 0 USD', 'a JPY booking counts as a booking, not as USD revenue');
SELECT throws_ok($$SELECT protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'berlin'), '294276-12-01', '294276-12-31')$$,
	'22008', 'p_from and p_to must be dates between the years 1 and 9999',
	'dates past the year 9999: named (it was 22008 date out of range), as availability names them');
SELECT throws_ok($$SELECT protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'berlin'), '4714-11-24 BC', '4714-11-30 BC')$$,
	'22008', 'p_from and p_to must be dates between the years 1 and 9999', '... and before the year 1');
SELECT throws_ok($$SELECT protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'berlin'), '2026-01-01', 'infinity')$$,
	'22008', 'p_from and p_to must be finite dates',
	'... and an infinite end (it was a bare 22008 cannot subtract infinite dates; then 22023, where availability says 22008)');
-- overlapping ranges count each open hour once: on Tuesday 2027-03-23,
-- Monday's 22:00-02:00 gives 00:00-02:00 (Tuesday's 00:00-01:00 within it),
-- then 09:00-17:00 twice and 12:00-20:00 are 09:00-20:00: 2 + 11 = 13 hours
-- (summed per range it was 1 + 8 + 8 + 8 = 25, without Monday's part)
SELECT tests.authenticate_as('n_manager');
INSERT INTO ids SELECT 'overlap', (protector.create_venue('0a800000-0000-4000-8000-000000000000', 'Overlap', 'UTC',
	p_operating_hours => '{"mon": [["22:00", "02:00"]], "tue": [["00:00", "01:00"], ["09:00", "17:00"], ["09:00", "17:00"], ["12:00", "20:00"]]}')
	->> 'id')::uuid;
SELECT tests.authenticate_as('n_finance');
SELECT is((SELECT a ->> 'open_hours' FROM protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'overlap'), '2027-03-23', '2027-03-23') a),
	'13.00', 'open hours count overlapping ranges once, and the part of the day before''s range past midnight');
-- New York's spring-forward Sunday 2027-03-14: 02:30-03:00 does not exist
-- that day (02:00 is 03:00), so the range is no time open; 09:00-10:00 is
SELECT tests.authenticate_as('n_manager');
INSERT INTO ids SELECT 'gap', (protector.create_venue('0a800000-0000-4000-8000-000000000000', 'Gap', 'America/New_York',
	p_operating_hours => '{"sun": [["02:30", "03:00"], ["09:00", "10:00"]]}') ->> 'id')::uuid;
SELECT tests.authenticate_as('n_finance');
SELECT is((SELECT a ->> 'open_hours' FROM protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'gap'), '2027-03-14', '2027-03-14') a),
	'1.00', 'a range inside the spring-forward gap counts nothing (it failed the whole report)');
-- Monday and Tuesday: 22:00-24:00 Monday, then 13 hours on Tuesday
SELECT is((SELECT a ->> 'open_hours' FROM protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'overlap'), '2027-03-22', '2027-03-23') a),
	'15.00', '... over two days: 2 + 13');
-- a zone that names no place is not written through the RPCs, but a row
-- that has one (stored before, or by a table write) keeps working
SELECT tests.authenticate_as('n_manager');
SELECT throws_ok($$SELECT protector.create_venue('0a800000-0000-4000-8000-000000000000', 'Here', 'localtime')$$,
	'22023', 'p_timezone names no place: "localtime"', 'create_venue refuses localtime, which follows the server''s setting');
SELECT throws_ok($$SELECT protector.create_venue('0a800000-0000-4000-8000-000000000000', 'Here', 'posix/Europe/Berlin')$$,
	'22023', 'p_timezone is no IANA time zone name: "posix/Europe/Berlin"',
	'... and a zone under posix/, a copy the system installs, which browsers do not know');
-- a name of an ideographic space alone, named as the parameter (the
-- table's trigger refused it naming venues.name)
SELECT throws_ok($$SELECT protector.create_venue('0a800000-0000-4000-8000-000000000000', chr(12288), 'UTC')$$,
	'22023', 'p_name must be 1 to 200 characters', 'create_venue refuses a blank name, naming p_name');
SELECT throws_ok($$SELECT protector.update_venue((SELECT id FROM ids WHERE name = 'berlin'), jsonb_build_object('name', chr(12288)))$$,
	'22023', 'p_changes.name must be 1 to 200 characters', '... and update_venue, naming p_changes.name');
SELECT tests.clear_authentication();
INSERT INTO ids SELECT 'local', (protector.create_venue('0a800000-0000-4000-8000-000000000000', 'Local', 'UTC') ->> 'id')::uuid;
SELECT tests.authenticate_as('n_manager');
SELECT throws_ok($$UPDATE protector.venues SET timezone = 'localtime' WHERE id = (SELECT id FROM ids WHERE name = 'local')$$,
	'22023', 'timezone names no place: "localtime"', '... nor through a table write');
SELECT tests.clear_authentication();
-- (as an import or an older release stored it)
SET LOCAL session_replication_role = replica;
UPDATE protector.venues SET timezone = 'localtime' WHERE id = (SELECT id FROM ids WHERE name = 'local');
SET LOCAL session_replication_role = origin;
SELECT tests.authenticate_as('n_manager');
SELECT is(protector.update_venue((SELECT id FROM ids WHERE name = 'local'), '{"city": "Bonn"}') ->> 'timezone', 'localtime',
	'a venue stored with localtime takes other changes');
SELECT is(protector.update_venue((SELECT id FROM ids WHERE name = 'local'), '{"city": "Köln", "timezone": "localtime"}') ->> 'city', 'Köln',
	'... also when a form sends its zone back unchanged');
-- ... and its name, stored before names were checked, sent back unchanged
-- (update_venue's new name check refused it)
SELECT tests.clear_authentication();
SET LOCAL session_replication_role = replica;
UPDATE protector.venues SET name = 'Old' || chr(8238) || 'name' WHERE id = (SELECT id FROM ids WHERE name = 'local');
SET LOCAL session_replication_role = origin;
SELECT tests.authenticate_as('n_manager');
SELECT is(protector.update_venue((SELECT id FROM ids WHERE name = 'local'),
		jsonb_build_object('city', 'Bonn', 'name', 'Old' || chr(8238) || 'name')) ->> 'city', 'Bonn',
	'... also when a form sends its old name back unchanged');
SELECT tests.authenticate_as('n_owner');
SELECT throws_ok($$UPDATE protector.organizations SET timezone = 'posix/Factory' WHERE id = '0a800000-0000-4000-8000-000000000000'$$,
	'22023', 'timezone names no place: "posix/Factory"', 'an organization''s zone either');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.get_venue_schedule((SELECT id FROM ids WHERE name = 'local'), '2027-03-22', '2027-03-28')),
	7, 'a stored localtime venue''s schedule still reads: open around the clock, seven days');
SELECT tests.authenticate_as('n_operator');
SELECT throws_ok($$SELECT protector.get_venue_analytics((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-22', '2027-03-22')$$,
	'42501', NULL, 'an operator may not see analytics');

-- soft delete
SELECT tests.authenticate_as('n_manager');
SELECT throws_ok($$SELECT protector.delete_venue((SELECT id FROM ids WHERE name = 'berlin'))$$, '42501', NULL,
	'a manager may not delete a venue');
SELECT tests.authenticate_as('n_owner');
SELECT ok(protector.delete_venue((SELECT id FROM ids WHERE name = 'berlin')), 'the owner deletes it (softly)');
SELECT is(pg_temp.open_at('2027-03-22 10:00'), false, 'a deleted venue is never open');
SELECT is((SELECT count(*)::int FROM protector.get_venue_schedule((SELECT id FROM ids WHERE name = 'berlin'), '2027-03-22', '2027-03-28')),
	0, '... and its schedule has no opening (it listed its weekly hours)');

SELECT * FROM finish();
ROLLBACK;
