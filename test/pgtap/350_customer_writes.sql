-- What a customer writes, as an attack review found it: a new signature
-- takes the waiver's latest version (a customer signed a replaced version
-- by naming it, and it counted toward the booking's signatures); a
-- cancellation's reason and time come with the cancellation, the time the
-- database's (a customer stamped a live booking cancelled in 2001, and
-- rewrote and backdated the venue's own cancellation); an e-mail with a
-- no-break space inside is no e-mail address (it was taken, and its
-- identity key then held a plain space).
BEGIN;
SELECT plan(27);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['w_owner', 'w_cara']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a350000-0000-4000-8000-000000000000', 'W', 'customer-writes');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a350000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a350000-0000-4000-8000-0000000000a1', '0a350000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a350000-0000-4000-8000-0000000005a1', '0a350000-0000-4000-8000-000000000000', '0a350000-0000-4000-8000-0000000000a1',
		'Wall', '60 minutes', '60 minutes', '400 days', 10, 4, 'shared');
INSERT INTO protector.customers (id, organization_id, full_name, email, user_id) VALUES
	('0a350000-0000-4000-8000-00000000c001', '0a350000-0000-4000-8000-000000000000', 'Cara', 'cara@example.com',
	 tests.get_supabase_uid('w_cara'));
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status) VALUES
	('0a350000-0000-4000-8000-00000000b001', '0a350000-0000-4000-8000-000000000000', '0a350000-0000-4000-8000-0000000000a1',
	 '0a350000-0000-4000-8000-0000000005a1', '0a350000-0000-4000-8000-00000000c001',
	 tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'), 'confirmed'),
	('0a350000-0000-4000-8000-00000000b002', '0a350000-0000-4000-8000-000000000000', '0a350000-0000-4000-8000-0000000000a1',
	 '0a350000-0000-4000-8000-0000000005a1', '0a350000-0000-4000-8000-00000000c001',
	 tstzrange(date_trunc('day', now()) + interval '4 days 10 hours', date_trunc('day', now()) + interval '4 days 11 hours'), 'confirmed');

-- 1. a replaced waiver version is not signed
SELECT tests.authenticate_as('w_owner');
SELECT protector.create_waiver('0a350000-0000-4000-8000-000000000000', 'W', 'Old text.') \g /dev/null
SELECT protector.create_waiver('0a350000-0000-4000-8000-000000000000', 'W', 'New text with more risks.') \g /dev/null
SELECT tests.clear_authentication();
UPDATE protector.services SET waiver_id = (SELECT waiver_id FROM protector.waiver_versions WHERE version = 2)
WHERE id = '0a350000-0000-4000-8000-0000000005a1';
SELECT tests.authenticate_as('w_cara');
SELECT throws_ok($$INSERT INTO protector.waiver_submissions (organization_id, waiver_version_id, booking_id,
					 participant_name, participant_birth_date, signer_name, signature)
				   SELECT organization_id, id, '0a350000-0000-4000-8000-00000000b001', 'Cara', '1990-01-01', 'Cara', 'Cara'
				   FROM protector.waiver_versions WHERE version = 1$$,
	'22023', 'a signature takes the waiver''s latest version', 'version 1, replaced by version 2, is refused');
SELECT lives_ok($$INSERT INTO protector.waiver_submissions (organization_id, waiver_version_id, booking_id,
					participant_name, participant_birth_date, signer_name, signature)
				  SELECT organization_id, id, '0a350000-0000-4000-8000-00000000b001', 'Cara', '1990-01-01', 'Cara', 'Cara'
				  FROM protector.waiver_versions WHERE version = 2$$,
	'version 2 is signed');

-- 2. a customer's cancellation stamps
SELECT throws_ok($$UPDATE protector.bookings SET cancellation_reason = 'cancelled by the venue', cancelled_at = '2001-01-01'
				   WHERE id = '0a350000-0000-4000-8000-00000000b001'$$,
	'42501', 'customers may only confirm their own holds or cancel their bookings',
	'a live booking is not stamped cancelled');
SELECT tests.authenticate_as('w_owner');
SELECT protector.cancel_booking('0a350000-0000-4000-8000-00000000b002', 'customer rude on the phone') \g /dev/null
SELECT tests.authenticate_as('w_cara');
SELECT throws_ok($$UPDATE protector.bookings SET cancellation_reason = 'venue closed without notice', cancelled_at = now() - interval '60 days'
				   WHERE id = '0a350000-0000-4000-8000-00000000b002'$$,
	'42501', 'customers may only confirm their own holds or cancel their bookings',
	'nor is the venue''s cancellation rewritten or backdated');
SELECT lives_ok($$UPDATE protector.bookings SET status = 'cancelled', cancellation_reason = 'ill', cancelled_at = '2001-01-01'
				  WHERE id = '0a350000-0000-4000-8000-00000000b001'$$,
	'the customer cancels their own booking, with a reason');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT cancellation_reason, cancelled_at = now() FROM protector.bookings WHERE id = '0a350000-0000-4000-8000-00000000b001'$$,
	$$VALUES ('ill', true)$$, '... stamped now, not when they said');
SELECT is((SELECT cancellation_reason FROM protector.bookings WHERE id = '0a350000-0000-4000-8000-00000000b002'),
	'customer rude on the phone', 'the venue''s reason stays');

-- 3. an e-mail with a Unicode space inside, wherever an address is taken
CREATE TEMP TABLE k AS SELECT embed_key AS key FROM protector.venues WHERE id = '0a350000-0000-4000-8000-0000000000a1';
GRANT SELECT ON k TO anon;
SELECT tests.authenticate_as_anon();
SELECT throws_ok($$SELECT protector.create_widget_booking((SELECT key FROM k), '0a350000-0000-4000-8000-0000000005a1', 'Dy',
					 E'd\u00a0y@example.com', NULL, date_trunc('day', now()) + interval '5 days 10 hours', 1)$$,
	'22023', 'p_customer_email is not an email address', 'the widget refuses it');
SELECT tests.authenticate_as('w_owner');
SELECT throws_ok($$SELECT protector.create_customer('0a350000-0000-4000-8000-000000000000', 'Dy', E'd\u00a0y@example.com')$$,
	'22023', 'p_email is not an email address', 'so does the desk');
SELECT throws_ok($$SELECT protector.create_staff_member('0a350000-0000-4000-8000-000000000000', E'n\u00a0a@example.com', 'agent')$$,
	'22023', NULL, 'and an invitation');
SELECT tests.clear_authentication();

-- 4. a reason is checked however it is written: a customer's direct
-- cancellation with a direction override is refused as cancel_booking
-- refuses it (a review of the cancellation stamps' fix); a deactivation's
-- reason with trailing spaces is recorded trimmed, not dropped (within
-- its 500 characters: spaces count against the most)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status) VALUES
	('0a350000-0000-4000-8000-00000000b003', '0a350000-0000-4000-8000-000000000000', '0a350000-0000-4000-8000-0000000000a1',
	 '0a350000-0000-4000-8000-0000000005a1', '0a350000-0000-4000-8000-00000000c001',
	 tstzrange(date_trunc('day', now()) + interval '6 days 10 hours', date_trunc('day', now()) + interval '6 days 11 hours'), 'confirmed');
SELECT tests.authenticate_as('w_cara');
SELECT throws_ok($$UPDATE protector.bookings SET status = 'cancelled', cancellation_reason = E'ill \u202egnirb lliw I'
				   WHERE id = '0a350000-0000-4000-8000-00000000b003'$$,
	'22023', 'cancellation_reason must be at most 2000 characters without control or invisible direction characters',
	'a direct cancellation''s reason with a direction override');
SELECT tests.clear_authentication();
SELECT tests.create_supabase_user('w_agent') \g /dev/null
INSERT INTO protector.members (id, organization_id, user_id, role)
VALUES ('0a350000-0000-4000-8000-0000000000e1', '0a350000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_agent'), 'agent');
SELECT tests.authenticate_as('w_owner');
SELECT throws_ok($$SELECT protector.deactivate_staff('0a350000-0000-4000-8000-0000000000e1', 'Left the company' || repeat(' ', 490))$$,
	'22023', 'p_reason must be 1 to 500 characters', 'a reason padded past 500 characters is refused (its spaces count against the most)');
SELECT protector.deactivate_staff('0a350000-0000-4000-8000-0000000000e1', 'Left the company' || repeat(' ', 400)) \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT details ->> 'reason' FROM protector.staff_activity WHERE action = 'staff.deactivated'
		   AND details ->> 'member_id' = '0a350000-0000-4000-8000-0000000000e1'),
	'Left the company', 'a padded reason deactivate_staff takes is recorded, trimmed');

-- 5. names are stored trimmed of every kind of space (ideographic spaces
-- at the ends stayed: a padded copy of a name looked like another)
SELECT tests.authenticate_as('w_owner');
SELECT is(protector.create_customer('0a350000-0000-4000-8000-000000000000', E'\u3000Dy\u00a0') ->> 'full_name', 'Dy',
	'a customer''s name padded with U+3000 and U+00A0');
SELECT is(protector.update_venue('0a350000-0000-4000-8000-0000000000a1', jsonb_build_object('name', E'\u2003Hall\u3000')) ->> 'name',
	'Hall', 'a venue''s name padded with U+2003 and U+3000');
SELECT throws_ok($$UPDATE protector.services SET name = E'\u3000\u3000' WHERE id = '0a350000-0000-4000-8000-0000000005a1'$$,
	'22023', 'name must not be blank', 'a name of spaces only is refused by name');
SELECT tests.clear_authentication();

-- a customer's own hold, written directly, lasts at most a day
SELECT tests.authenticate_as('w_cara');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, hold_expires_at)
				   VALUES ('0a350000-0000-4000-8000-000000000000', '0a350000-0000-4000-8000-0000000000a1',
						   '0a350000-0000-4000-8000-0000000005a1', '0a350000-0000-4000-8000-00000000c001',
						   tstzrange(date_trunc('day', now()) + interval '5 days 10 hours', date_trunc('day', now()) + interval '5 days 11 hours'),
						   'held', now() + interval '2 days')$$,
	'22023', 'a hold lasts at most a day', 'a customer''s direct hold of two days is refused');
SELECT tests.clear_authentication();

-- one customer cannot fill the calendar: pending requests never expire,
-- and 168 of them took a week of a venue (organizations.settings
-- customers.open_requests, here 2; confirmed bookings do not count)
UPDATE protector.organizations SET settings = settings || '{"customers": {"open_requests": 2}}'
WHERE id = '0a350000-0000-4000-8000-000000000000';
CREATE TEMP TABLE asked (n int, id uuid);
GRANT ALL ON asked TO authenticated;
SELECT tests.authenticate_as('w_cara');
INSERT INTO asked SELECT n, (protector.create_booking('0a350000-0000-4000-8000-0000000005a1', NULL,
	date_trunc('day', now()) + interval '6 days' + n * interval '1 hour') ->> 'id')::uuid FROM generate_series(10, 11) n;
SELECT is((SELECT count(*)::int FROM asked WHERE id IS NOT NULL), 2, 'a customer asks for two bookings (pending)');
SELECT throws_ok($$SELECT protector.hold_slot('0a350000-0000-4000-8000-0000000005a1', NULL,
	date_trunc('day', now()) + interval '6 days 12 hours')$$, '53400', 'you have too many open booking requests with this organization',
	'... a third open one, a hold, is refused: at most 2 held or pending');
SELECT protector.cancel_booking((SELECT id FROM asked WHERE n = 10)) \g /dev/null
SELECT lives_ok($$SELECT protector.create_booking('0a350000-0000-4000-8000-0000000005a1', NULL,
	date_trunc('day', now()) + interval '6 days 12 hours')$$, '... and taken once one of them is cancelled');
-- confirmed ones count as long as they have not ended (a customer confirms
-- their own hold: hold, confirm, hold again filled the calendar)
SELECT tests.authenticate_as('w_owner');
SELECT protector.confirm_booking((SELECT id FROM asked WHERE n = 11)) \g /dev/null
SELECT tests.authenticate_as('w_cara');
SELECT throws_ok($$SELECT protector.hold_slot('0a350000-0000-4000-8000-0000000005a1', NULL,
	date_trunc('day', now()) + interval '6 days 13 hours')$$, '53400', 'you have too many open booking requests with this organization',
	'... a booking of theirs that was confirmed still counts until it ends');
SELECT tests.clear_authentication();
SELECT throws_ok($$UPDATE protector.organizations SET settings = settings || '{"customers": {"open_requests": 0}}'
				   WHERE id = '0a350000-0000-4000-8000-000000000000'$$, '22023', NULL, 'the limit is at least 1');

-- (an attack review) a customer's own booking carries no refund note,
-- which is protector's
SELECT tests.authenticate_as('w_cara');
SELECT throws_ok($$SELECT protector.create_booking('0a350000-0000-4000-8000-0000000005a1', '0a350000-0000-4000-8000-00000000c001',
	date_trunc('day', now()) + interval '8 days 10 hours', 1, p_details => '{"refund": {"amount": 20, "percent": 100}}')$$,
	'22023', 'details.refund is protector''s', 'a customer''s details carry no refund note');
SELECT tests.clear_authentication();
-- (an attack review) tags are a set: a list of repeats was stored as
-- given and used up the 100 a record takes; and a merge whose notes
-- together are over 10,000 characters is refused, where it cut the
-- merged record's notes without a word
SELECT tests.authenticate_as('w_owner');
SELECT is(protector.create_customer('0a350000-0000-4000-8000-000000000000', 'Tags', p_tags => '{vip,vip,late,vip}') -> 'tags',
	'["vip", "late"]', 'a customer''s tags given twice are stored once, in the order first given');
SELECT is(jsonb_array_length(protector.create_customer('0a350000-0000-4000-8000-000000000000', 'Tags 2',
												   p_tags => array_fill('vip'::text, ARRAY[101])) -> 'tags'), 1,
	'... and a hundred and one repeats are one tag, not too many');
-- (a review) a record of before, its tags repeated, keeps them when a
-- change names no tags (a value of before a rule stays unjudged)
SELECT tests.clear_authentication();
SET LOCAL session_replication_role = replica;
INSERT INTO protector.customers (id, organization_id, full_name, tags)
VALUES ('0a350000-0000-4000-8000-00000000c0d1', '0a350000-0000-4000-8000-000000000000', 'Old', '{vip,vip,late}');
SET LOCAL session_replication_role = origin;
SELECT tests.authenticate_as('w_owner');
SELECT is(protector.update_customer('0a350000-0000-4000-8000-00000000c0d1', '{"notes": "likes tea"}') -> 'tags',
	'["vip", "vip", "late"]', 'a change of notes leaves the tags of before as they are');
SELECT protector.create_customer('0a350000-0000-4000-8000-000000000000', 'Keep', p_notes => repeat('k', 9990)) ->> 'id' AS keep \gset
SELECT protector.create_customer('0a350000-0000-4000-8000-000000000000', 'Merge', p_notes => 'severe nut allergy') ->> 'id' AS mrg \gset
SELECT throws_ok(format($$SELECT protector.merge_customers(%L, %L)$$, :'keep', :'mrg'), '22023',
	'the merged customer''s notes would be 10009 characters', 'a merge whose notes together are too long is refused');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
