-- Edges of the communication side found by an attack review:
-- 1. a booking confirmed by a change of currency (set_booking_price: the
--    deposit its service no longer asks for is paid) gets its reminders;
--    the triggers that follow a status change fire on every column that
--    fires set_booking_price (an UPDATE OF list names what the statement
--    sets, not what a BEFORE trigger changes);
-- 2. a customer whose national number becomes an SMS address by gaining
--    a country gets the reminders of their confirmed bookings;
-- 3. an import (service_role, which skips lock_agent) gives no live
--    booking to an agent whose role sees no tasks: its review task was
--    theirs, unseen;
-- 4. texts of 1 to N characters count the spaces at their ends against
--    the most (a waiver's body of "I agree." and 20 MB of spaces passed);
-- 5. a signer or guardian named "." names nobody;
-- 6. a digest that is none is bad input, not "the text has changed";
-- 7. normalize_phone drops the "(0)" after 00 as after +.
BEGIN;
SELECT plan(23);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['ce_owner', 'ce_viewer', 'ce_finance', 'ce_operator', 'ce_agent']) u;
INSERT INTO protector.organizations (id, name, slug, currency) VALUES
	('0a940000-0000-4000-8000-000000000000', 'Comms', 'comms-edges', 'USD');
UPDATE protector.organizations SET settings = settings || '{"staff": {"require_shifts": false}}'
WHERE id = '0a940000-0000-4000-8000-000000000000';
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a940000-0000-4000-8000-000000000000', tests.get_supabase_uid('ce_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'viewer', 'finance', 'operator']) r;
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a940000-0000-4000-8000-000000000000', tests.get_supabase_uid('ce_agent'), 'agent');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a940000-0000-4000-8000-0000000000a1', '0a940000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity,
								max_party, mode, price, currency, settings) VALUES
	('0a940000-0000-4000-8000-0000000005a1', '0a940000-0000-4000-8000-000000000000', '0a940000-0000-4000-8000-0000000000a1',
	 'Ride', '60 minutes', '60 minutes', '400 days', 100, 8, 'shared', 100, 'USD', '{"deposit": {"percent": 50}}');
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, reminder_channel) VALUES
	('0a940000-0000-4000-8000-00000000c001', '0a940000-0000-4000-8000-000000000000', 'Dirk', 'dirk@example.com', NULL, NULL),
	('0a940000-0000-4000-8000-00000000c002', '0a940000-0000-4000-8000-000000000000', 'Ned', NULL, '030 1234567', 'sms');
-- t(d, h): h hours into the day d days from now
CREATE FUNCTION pg_temp.t(d int, h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + d * interval '1 day' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int, int) TO authenticated, service_role;

-- 1. confirmed by a change of currency
SELECT tests.authenticate_as('ce_owner');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, unit_price, total_price)
VALUES ('0a940000-0000-4000-8000-0000000000d1', '0a940000-0000-4000-8000-000000000000', '0a940000-0000-4000-8000-0000000000a1',
		'0a940000-0000-4000-8000-0000000005a1', '0a940000-0000-4000-8000-00000000c001',
		tstzrange(pg_temp.t(6, 10), pg_temp.t(6, 11)), 'confirmed', 100, 100);
SELECT tests.clear_authentication();
SELECT is((SELECT format('%s %s %s', status, deposit_amount, (SELECT count(*) FROM protector.booking_reminders r WHERE r.booking_id = b.id))
		   FROM protector.bookings b WHERE id = '0a940000-0000-4000-8000-0000000000d1'),
	'pending 50.00 0', 'a booking owing half of 100 waits for it: pending, no reminders yet');
UPDATE protector.services SET settings = '{}' WHERE id = '0a940000-0000-4000-8000-0000000005a1';
SELECT tests.authenticate_as('ce_owner');
UPDATE protector.bookings SET currency = 'EUR' WHERE id = '0a940000-0000-4000-8000-0000000000d1';
SELECT tests.clear_authentication();
SELECT is((SELECT format('%s %s %s', status, currency, deposit_amount) FROM protector.bookings
		   WHERE id = '0a940000-0000-4000-8000-0000000000d1'),
	'confirmed EUR 0.00', 'in another currency, its service asking no deposit any more, it is confirmed');
-- (6 days ahead: both default offsets, 1440 and 60 minutes, are still ahead)
SELECT results_eq($$SELECT offset_minutes, channel::text FROM protector.booking_reminders
					WHERE booking_id = '0a940000-0000-4000-8000-0000000000d1' ORDER BY offset_minutes DESC$$,
	$$VALUES (1440, 'email'), (60, 'email')$$, '... and gets its reminders, as one confirmed through its status does');

-- 2. a national number with its country
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a940000-0000-4000-8000-0000000000d2', '0a940000-0000-4000-8000-000000000000', '0a940000-0000-4000-8000-0000000000a1',
		'0a940000-0000-4000-8000-0000000005a1', '0a940000-0000-4000-8000-00000000c002',
		tstzrange(pg_temp.t(4, 10), pg_temp.t(4, 11)), 'confirmed');
SELECT is((SELECT count(*) FROM protector.booking_reminders WHERE booking_id = '0a940000-0000-4000-8000-0000000000d2'),
	0::bigint, 'a national number without a country is no SMS address: no reminders');
SELECT tests.authenticate_as('ce_owner');
UPDATE protector.customers SET country = 'DE' WHERE id = '0a940000-0000-4000-8000-00000000c002';
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT offset_minutes, channel::text FROM protector.booking_reminders
					WHERE booking_id = '0a940000-0000-4000-8000-0000000000d2' ORDER BY offset_minutes DESC$$,
	$$VALUES (1440, 'sms'), (60, 'sms')$$, 'given its country (+49301234567), the customer''s confirmed booking gets its SMS reminders');
SELECT is((SELECT recipient FROM protector_internal.reminder_address('0a940000-0000-4000-8000-000000000000',
																	   '0a940000-0000-4000-8000-00000000c002')),
	'+49301234567', '... to the number written out');

-- 3. imports and agents who see no tasks
SELECT tests.authenticate_as_service_role();
SELECT throws_ok(format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, assigned_agent)
	VALUES ('0a940000-0000-4000-8000-000000000000', '0a940000-0000-4000-8000-0000000000a1', '0a940000-0000-4000-8000-0000000005a1',
			tstzrange(pg_temp.t(3, 10), pg_temp.t(3, 11)), 'confirmed', %L)$$, tests.get_supabase_uid('ce_viewer')),
	'22023', 'the agent''s role sees no tasks', 'an import gives no confirmed booking to a viewer');
SELECT throws_ok(format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, assigned_agent)
	VALUES ('0a940000-0000-4000-8000-000000000000', '0a940000-0000-4000-8000-0000000000a1', '0a940000-0000-4000-8000-0000000005a1',
			tstzrange(pg_temp.t(3, 10), pg_temp.t(3, 11)), 'pending', %L)$$, tests.get_supabase_uid('ce_finance')),
	'22023', 'the agent''s role sees no tasks', '... nor a pending one to finance');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
VALUES ('0a940000-0000-4000-8000-0000000000d3', '0a940000-0000-4000-8000-000000000000', '0a940000-0000-4000-8000-0000000000a1',
		'0a940000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(-30, 10), pg_temp.t(-30, 11)), 'completed',
		tests.get_supabase_uid('ce_viewer'));
SELECT is((SELECT count(*) FROM protector.bookings WHERE id = '0a940000-0000-4000-8000-0000000000d3'), 1::bigint,
	'history is history: a completed booking of someone now a viewer is imported as it was');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
VALUES ('0a940000-0000-4000-8000-0000000000d4', '0a940000-0000-4000-8000-000000000000', '0a940000-0000-4000-8000-0000000000a1',
		'0a940000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(3, 10), pg_temp.t(3, 11)), 'confirmed',
		tests.get_supabase_uid('ce_operator'));
SELECT is((SELECT assignee FROM protector.tasks WHERE booking_id = '0a940000-0000-4000-8000-0000000000d4'),
	tests.get_supabase_uid('ce_operator'), 'an operator''s imported booking gives them its review task');
-- a booking that has ended, still confirmed, stays its agent's when they
-- are made a viewer (release_on_role_change releases what has not ended):
-- it is corrected, and imported, as history
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
VALUES ('0a940000-0000-4000-8000-0000000000d6', '0a940000-0000-4000-8000-000000000000', '0a940000-0000-4000-8000-0000000000a1',
		'0a940000-0000-4000-8000-0000000005a1', tstzrange(now() - interval '26 hours', now() - interval '25 hours'), 'confirmed',
		tests.get_supabase_uid('ce_agent'));
SELECT tests.clear_authentication();
UPDATE protector.members SET role = 'viewer' WHERE user_id = tests.get_supabase_uid('ce_agent');
SELECT tests.authenticate_as('ce_owner');
UPDATE protector.bookings SET during = tstzrange(lower(during) - interval '1 hour', upper(during) - interval '1 hour')
WHERE id = '0a940000-0000-4000-8000-0000000000d6';
SELECT is((SELECT format('%s %s', assigned_agent = tests.get_supabase_uid('ce_agent'), upper(during) = now() - interval '26 hours')
		   FROM protector.bookings WHERE id = '0a940000-0000-4000-8000-0000000000d6'),
	't t', 'a past booking of an agent made a viewer is corrected an hour earlier, theirs still');
SELECT tests.authenticate_as_service_role();
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
VALUES ('0a940000-0000-4000-8000-0000000000d7', '0a940000-0000-4000-8000-000000000000', '0a940000-0000-4000-8000-0000000000a1',
		'0a940000-0000-4000-8000-0000000005a1', tstzrange(now() - interval '50 hours', now() - interval '49 hours'), 'confirmed',
		tests.get_supabase_uid('ce_agent'));
SELECT is((SELECT count(*) FROM protector.bookings WHERE id = '0a940000-0000-4000-8000-0000000000d7'), 1::bigint,
	'... and a past confirmed booking of theirs is imported as it was');
SELECT tests.clear_authentication();

-- 4. the most counts every character
SELECT tests.authenticate_as('ce_owner');
SELECT throws_ok($$SELECT protector.create_waiver('0a940000-0000-4000-8000-000000000000', 'Big', 'I agree.' || repeat(' ', 100000))$$,
	'22023', 'p_body must be 1 to 100000 characters', 'a body of 8 characters and 100,000 spaces is no body of at most 100,000');
SELECT throws_ok($$SELECT protector.create_waiver('0a940000-0000-4000-8000-000000000000', 'Big', 'I agree.', 'T' || repeat(' ', 200))$$,
	'22023', 'p_title must be 1 to 200 characters', '... nor a title of "T" and 200 spaces one of at most 200');
SELECT is((SELECT w ->> 'version' FROM protector.create_waiver('0a940000-0000-4000-8000-000000000000', 'Small',
																 '  I agree.  ', '  T  ') w),
	'1', 'spaces at the ends of a short text are fine');
SELECT throws_ok($$INSERT INTO protector.tasks (organization_id, title) VALUES ('0a940000-0000-4000-8000-000000000000', 'X' || repeat(' ', 300))$$,
	'22023', 'title must be 1 to 300 characters', 'a task''s title of "X" and 300 spaces is over its 300 characters');
SELECT throws_ok($$UPDATE protector.waiver_versions SET title = 'T' || repeat(' ', 200) WHERE organization_id = '0a940000-0000-4000-8000-000000000000'$$,
	'22023', 'title must be 1 to 200 characters', '... and a waiver title written directly over its 200');

-- 5. signers and guardians with a name
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('0a940000-0000-4000-8000-0000000000d5', '0a940000-0000-4000-8000-000000000000', '0a940000-0000-4000-8000-0000000000a1',
		'0a940000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(2, 10), pg_temp.t(2, 11)), 'confirmed');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM protector.waivers WHERE name = 'Small'), 'Mia Kid',
				   (current_date - interval '10 years')::date, '.', '.', NULL, '.')$$,
	'22023', 'signer_name has no letters or digits', 'a child''s waiver signed by "." for "." is refused');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM protector.waivers WHERE name = 'Small'), 'Mia Kid',
				   (current_date - interval '10 years')::date, 'Mum', 'Mum', NULL, '!')$$,
	'22023', 'guardian_name has no letters or digits', '... and so is a guardian named "!"');

-- 6. the digest's form
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM protector.waivers WHERE name = 'Small'), 'Ann Adult',
				   '1990-01-01', 'Ann Adult', 'Ann Adult', NULL, NULL, 'not-a-digest')$$,
	'22023', 'p_body_sha256 must be 64 hexadecimal digits', 'a digest that is none is bad input (22023), not 40001');
SELECT is((SELECT participant_name FROM protector.submit_waiver((SELECT id FROM protector.waivers WHERE name = 'Small'), 'Ann Adult',
		   '1990-01-01', 'Ann Adult', 'Ann Adult', NULL, NULL,
		   upper((SELECT body_sha256 FROM protector.waiver_versions v JOIN protector.waivers w ON w.id = v.waiver_id WHERE w.name = 'Small')))),
	'Ann Adult', 'the digest of the text shown, in capitals, signs it');
SELECT tests.clear_authentication();

-- 7. "(0)" after 00
SELECT is(protector.normalize_phone('0049 (0)171 1234567'), '+491711234567', '0049 (0)171 1234567 is +491711234567');
SELECT is(protector.normalize_phone('0044 (0)20 7946 0000'), '+442079460000', '0044 (0)20 7946 0000 is +442079460000');

SELECT * FROM finish();
ROLLBACK;
