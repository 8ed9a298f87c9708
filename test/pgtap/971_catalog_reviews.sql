-- What attack reviews of the catalog and of settings found (the
-- fifty-fourth stop):
--   1. update_venue refused a 0.1.0 country or description sent back
--      unchanged, which a table write and update_service take;
--   2. descriptions of several lines, which 0.1.0 took, were refused as
--      control characters;
--   3. names of combining marks alone, which render as nothing, named
--      venues, services, organizations and customers;
--   4. a closure's reason took control characters and direction overrides;
--   5. a deposit deadline stored before settings were checked (0 hours)
--      made a deposit due at once, and its booking was cancelled at the
--      next expire_holds;
--   6. (a review of a waiver fix) a trusted role's signatures took a lock
--      per booking, and a bulk write ran out of lock memory;
--   7. a shift on a venue's 1999-12-31 (west of UTC), which shifts take,
--      was in no week get_staff_schedule showed;
--   8. a record merged into another could be linked to an account again,
--      beside that person's live record;
--   9. tags were stored with their spaces ('vip', ' vip' three tags) and a
--      tag of spaces alone was taken;
--  10. (the widget, and every plain text) Mongolian variation selectors
--      with joiners, and code points kept unassigned beside the tag
--      characters, carried hidden text;
--  11. an agent's signature for their booking took no lock, and a
--      customer's at the same moment went past the party;
--  12. tasks took titles and descriptions with control characters, a
--      title of an ideographic space alone, and a message a combining mark
--      alone;
--  13. (a review of those) the task check refused protector's own review
--      title of a service named in 0.1.0 with a zero-width space, and a
--      confirmation failed; a Mongolian letter, its variation selector
--      and a joiner were refused; a merge counted 't1' and 't1 ' twice;
--  14. (a review of those) a joiner passed after a Mongolian selector after
--      a Latin letter; a 0.1.0 tag protector refuses now, with a space at
--      its end, made every write of the tags fail.
BEGIN;
SELECT plan(37);

SELECT tests.create_supabase_user('cr_owner') \g /dev/null
INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES
	('0a971000-0000-4000-8000-00000000000a', 'Catalog reviews', 'catalog-reviews', 'UTC', 'EUR');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a971000-0000-4000-8000-00000000000a', tests.get_supabase_uid('cr_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a971000-0000-4000-8000-0000000000a1', '0a971000-0000-4000-8000-00000000000a', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode, price)
VALUES ('0a971000-0000-4000-8000-0000000005a1', '0a971000-0000-4000-8000-00000000000a', '0a971000-0000-4000-8000-0000000000a1',
		'S', '60 minutes', '60 minutes', '400 days', 10, 'shared', 40);
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a971000-0000-4000-8000-0000000000c1', '0a971000-0000-4000-8000-00000000000a', 'Cora', 'cora@example.com');
-- a venue as 0.1.0 left it: a country 0.2.0 does not take, a description
-- of two lines
SET LOCAL session_replication_role = replica;
UPDATE protector.venues SET country = 'UK', description = E'Open daily.\nBring ID.' WHERE id = '0a971000-0000-4000-8000-0000000000a1';
RESET session_replication_role;

SELECT tests.authenticate_as('cr_owner');
-- 1.
SELECT is(protector.update_venue('0a971000-0000-4000-8000-0000000000a1',
		  '{"name": "V2", "country": "UK", "description": "Open daily.\nBring ID."}') ->> 'name', 'V2',
	'update_venue takes a 0.1.0 country and description sent back unchanged');
SELECT throws_ok($$SELECT protector.update_venue('0a971000-0000-4000-8000-0000000000a1', '{"country": "XX"}')$$,
	'22023', NULL, '... while a new country is still checked');
-- 2.
SELECT is(protector.update_venue('0a971000-0000-4000-8000-0000000000a1', '{"description": "Line one.\r\nLine two.\tEnd."}') ->> 'description',
	E'Line one.\r\nLine two.\tEnd.', 'a venue''s description takes line breaks and tabs');
SELECT is(protector.update_service('0a971000-0000-4000-8000-0000000005a1', '{"description": "Up to four.\nNo pets."}') ->> 'description',
	E'Up to four.\nNo pets.', '... and so does a service''s');
SELECT throws_ok($$SELECT protector.update_service('0a971000-0000-4000-8000-0000000005a1', '{"description": "Bad \u202e text"}')$$,
	'22023', 'p_changes.description holds control or invisible direction characters', '... not a direction override');
-- 3.
SELECT throws_ok($$SELECT protector.create_venue('0a971000-0000-4000-8000-00000000000a', E'\u0301', 'UTC')$$,
	'22023', 'p_name must hold a visible character', 'a venue named by a combining mark alone is refused');
SELECT throws_ok($$SELECT protector.create_service('0a971000-0000-4000-8000-0000000000a1', E'\u20dd\u20dd', '1 hour')$$,
	'22023', 'p_name must hold a visible character', '... and a service');
SELECT throws_ok($$SELECT protector.create_customer('0a971000-0000-4000-8000-00000000000a', E' \u0301 ')$$,
	'22023', NULL, '... and a customer');
SELECT throws_ok($$UPDATE protector.venues SET name = E'\u0301' WHERE id = '0a971000-0000-4000-8000-0000000000a1'$$,
	'22023', 'name must hold a visible character', '... and a direct rename');
SELECT is(protector.create_venue('0a971000-0000-4000-8000-00000000000a', E'Cafe\u0301', 'UTC') ->> 'name', E'Cafe\u0301',
	'... while a mark after a letter is a name');
-- 4.
SELECT throws_ok($$INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, reason)
				   VALUES ('0a971000-0000-4000-8000-00000000000a', '0a971000-0000-4000-8000-0000000000a1', '2027-12-24',
						   E'Holiday\u001b[2J\u202eevil')$$,
	'22023', 'reason holds control or invisible direction characters', 'a closure''s reason takes no control characters');
SELECT lives_ok($$INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, reason)
				  VALUES ('0a971000-0000-4000-8000-00000000000a', '0a971000-0000-4000-8000-0000000000a1', '2027-12-24',
						  E'Holiday.\nBack on the 27th.')$$, '... and takes lines');
-- 5.
SELECT tests.clear_authentication();
SET LOCAL session_replication_role = replica;
UPDATE protector.services SET settings = '{"deposit": {"percent": 50, "deadline_hours": 0}}'
WHERE id = '0a971000-0000-4000-8000-0000000005a1';
RESET session_replication_role;
SELECT tests.authenticate_as('cr_owner');
SELECT protector.create_booking('0a971000-0000-4000-8000-0000000005a1', '0a971000-0000-4000-8000-0000000000c1',
	date_trunc('hour', now()) + interval '48 hours') ->> 'id' AS bid \gset
SELECT is((SELECT tests.taken_in_transaction(payment_due_by - interval '1 minute') FROM protector.bookings WHERE id = :'bid'), true,
	'a 0.1.0 deposit deadline of 0 hours is held to the least, a minute');
SELECT tests.clear_authentication();
SELECT protector.expire_holds() \g /dev/null
SELECT is((SELECT status::text FROM protector.bookings WHERE id = :'bid'), 'pending', '... and the booking is not cancelled at once');

-- 6.
SELECT tests.clear_authentication();
UPDATE protector.services SET settings = '{}', waiver_id = (protector.create_waiver('0a971000-0000-4000-8000-00000000000a', 'Risk', 'I accept.') ->> 'waiver_id')::uuid
WHERE id = '0a971000-0000-4000-8000-0000000005a1';
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, party_size)
SELECT '0a971000-0000-4000-8000-00000000000a', '0a971000-0000-4000-8000-0000000000a1', '0a971000-0000-4000-8000-0000000005a1',
	   '0a971000-0000-4000-8000-0000000000c1',
	   tstzrange(date_trunc('hour', now()) + make_interval(days => 3, hours => n), date_trunc('hour', now()) + make_interval(days => 3, hours => n + 1)),
	   'confirmed', 1
FROM generate_series(1, 3) n;
SELECT tests.authenticate_as_service_role();
CREATE TEMP TABLE locks_before AS SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
INSERT INTO protector.waiver_submissions (organization_id, waiver_version_id, booking_id, participant_name, participant_birth_date,
										  signer_name, signature)
SELECT b.organization_id, (SELECT v.id FROM protector.waiver_versions v WHERE v.organization_id = b.organization_id), b.id,
	   'Pat Doe', '1990-01-01', 'Pat Doe', 'Pat Doe'
FROM protector.bookings b WHERE b.organization_id = '0a971000-0000-4000-8000-00000000000a' AND b.party_size = 1;
SELECT is((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) - (SELECT n FROM locks_before), 1::bigint,
	'a trusted role''s signatures of three bookings take the version''s lock alone, none per booking');

-- 7.
SELECT tests.clear_authentication();
SELECT tests.create_supabase_user('cr_agent') \g /dev/null
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a971000-0000-4000-8000-0000000000a2', '0a971000-0000-4000-8000-00000000000a', 'West', 'America/New_York');
INSERT INTO protector.members (id, organization_id, user_id, role) VALUES
	('0a971000-0000-4000-8000-0000000000e4', '0a971000-0000-4000-8000-00000000000a', tests.get_supabase_uid('cr_agent'), 'agent');
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
VALUES ('0a971000-0000-4000-8000-00000000000a', '0a971000-0000-4000-8000-0000000000e4', '0a971000-0000-4000-8000-0000000000a2');
SELECT tests.authenticate_as('cr_owner');
SELECT protector.create_staff_schedule('0a971000-0000-4000-8000-0000000000e4', '0a971000-0000-4000-8000-0000000000a2',
	'1999-12-31 20:00 America/New_York', '1999-12-31 23:00 America/New_York', 'New Year''s Eve') \g /dev/null
SELECT is((SELECT count(*) FROM protector.get_staff_schedule('0a971000-0000-4000-8000-0000000000a2', '1999-12-27')
		   WHERE note = 'New Year''s Eve'), 1::bigint,
	'a shift on a venue''s 1999-12-31, taken as of the year 2000 in UTC, is in the week that reaches it');

-- 8.
SELECT tests.clear_authentication();
SELECT tests.create_supabase_user('cr_customer') \g /dev/null
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a971000-0000-4000-8000-0000000000c2', '0a971000-0000-4000-8000-00000000000a', 'Cora Two', 'cora2@example.com');
SELECT tests.authenticate_as('cr_owner');
SELECT protector.merge_customers('0a971000-0000-4000-8000-0000000000c1', '0a971000-0000-4000-8000-0000000000c2') \g /dev/null
SELECT throws_ok($$UPDATE protector.customers SET user_id = tests.get_supabase_uid('cr_customer')
				   WHERE id = '0a971000-0000-4000-8000-0000000000c2'$$,
	'22023', 'a customer merged into another is linked to no account', 'a merged record is linked to no account');
SELECT lives_ok($$UPDATE protector.customers SET user_id = tests.get_supabase_uid('cr_customer')
				  WHERE id = '0a971000-0000-4000-8000-0000000000c1'$$, '... the record it was merged into is');
-- 9.
SELECT is(protector.create_customer('0a971000-0000-4000-8000-00000000000a', 'Tag Test', p_tags => ARRAY['vip', 'vip ', E' vip\u3000', 'gold']) -> 'tags',
	'["vip", "gold"]'::jsonb, 'tags are trimmed, each once');
SELECT is(protector.create_customer('0a971000-0000-4000-8000-00000000000a', 'Tag Test Two', p_tags => ARRAY['vip', E'\u3000']) -> 'tags',
	'["vip"]'::jsonb, '... and a tag of spaces alone is none');
SELECT throws_ok($$SELECT protector.create_customer('0a971000-0000-4000-8000-00000000000a', 'Tag Test Three', p_tags => ARRAY['vip', E'\u0301'])$$,
	'22023', 'p_tags must be at most 100 tags of 1 to 50 plain characters', '... while one with nothing visible is refused');
-- (a review of that: tags stored before, of spaces alone, failed a merge)
SELECT tests.clear_authentication();
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a971000-0000-4000-8000-0000000000c3', '0a971000-0000-4000-8000-00000000000a', 'Old Tags'),
	('0a971000-0000-4000-8000-0000000000c4', '0a971000-0000-4000-8000-00000000000a', 'Old Tags Two');
SET LOCAL session_replication_role = replica;
UPDATE protector.customers SET tags = '{" ", "vip"}' WHERE id = '0a971000-0000-4000-8000-0000000000c3';
UPDATE protector.customers SET tags = ARRAY['  ', 'x', E'\u0301'] WHERE id = '0a971000-0000-4000-8000-0000000000c4';
RESET session_replication_role;
SELECT tests.authenticate_as('cr_owner');
SELECT protector.merge_customers('0a971000-0000-4000-8000-0000000000c3', '0a971000-0000-4000-8000-0000000000c4') \g /dev/null
SELECT is((SELECT tags FROM protector.customers WHERE id = '0a971000-0000-4000-8000-0000000000c3'), '{vip,x}'::text[],
	'a merge of records with tags stored before the rules keeps those it takes');

-- 10.
SELECT is(protector_internal.text_is_clean('Ana' || U&'\180B' || repeat(U&'\200D\180B', 5)), false,
	'Mongolian variation selectors with joiners between them are hidden text');
SELECT is(protector_internal.text_is_clean('x' || repeat(U&'\+0E0200', 4)), false, '... and so are unassigned code points beside the tags');
SELECT is(protector_internal.text_is_clean('x' || U&'\FFF0'), false, '... and U+FFF0');
SELECT is(protector_internal.text_is_clean(U&'\1820\200D\1821'), true, '... while a joiner between Mongolian letters stays');
-- 11.
SELECT tests.clear_authentication();
UPDATE protector.organizations SET settings = '{"staff": {"require_shifts": false}}' WHERE id = '0a971000-0000-4000-8000-00000000000a';
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, party_size, assigned_agent)
VALUES ('0a971000-0000-4000-8000-0000000000b9', '0a971000-0000-4000-8000-00000000000a', '0a971000-0000-4000-8000-0000000000a1',
		'0a971000-0000-4000-8000-0000000005a1', '0a971000-0000-4000-8000-0000000000c1',
		tstzrange(date_trunc('hour', now()) + interval '6 days', date_trunc('hour', now()) + interval '6 days 1 hour'), 'confirmed', 2,
		tests.get_supabase_uid('cr_agent'));
SELECT tests.authenticate_as('cr_agent');
CREATE TEMP TABLE agent_locks_before AS
	SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND mode = 'ShareLock';
SELECT protector.submit_waiver((SELECT waiver_id FROM protector.services WHERE id = '0a971000-0000-4000-8000-0000000005a1'),
	'Ann Agent', '1990-01-01', 'Ann Agent', 'Ann Agent', '0a971000-0000-4000-8000-0000000000b9') \g /dev/null
SELECT is((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND mode = 'ShareLock')
		  - (SELECT n FROM agent_locks_before), 1::bigint,
	'an agent''s signature for their booking takes the booking''s lock, shared (the version''s is held already)');
-- 12.
SELECT tests.authenticate_as('cr_owner');
SELECT throws_ok($$INSERT INTO protector.tasks (organization_id, title) VALUES ('0a971000-0000-4000-8000-00000000000a', E'call \u202eback\u0001')$$,
	'22023', 'title holds control or invisible direction characters', 'a task''s title takes no control characters');
SELECT throws_ok($$INSERT INTO protector.tasks (organization_id, title) VALUES ('0a971000-0000-4000-8000-00000000000a', E'\u3000')$$,
	'22023', 'title must not be blank', '... nor is it an ideographic space alone');
SELECT throws_ok($$INSERT INTO protector.tasks (organization_id, title, description)
				   VALUES ('0a971000-0000-4000-8000-00000000000a', 'Call back', E'about \u202ethis')$$,
	'22023', 'description holds control or invisible direction characters', '... nor a description a direction override');
SELECT throws_ok($$SELECT protector.send_message('0a971000-0000-4000-8000-0000000000b9', E'\u0301')$$,
	'22023', 'a message must hold a visible character', 'a message of a combining mark alone is refused');

-- 13.
SELECT tests.clear_authentication();
SET LOCAL session_replication_role = replica;
UPDATE protector.services SET name = E'Yoga\u200bclass' WHERE id = '0a971000-0000-4000-8000-0000000005a1';
RESET session_replication_role;
SELECT tests.authenticate_as('cr_owner');
SELECT protector.hold_slot('0a971000-0000-4000-8000-0000000005a1', '0a971000-0000-4000-8000-0000000000c1',
	date_trunc('hour', now()) + interval '8 days', 1) ->> 'id' AS hid \gset
SELECT lives_ok(format($$SELECT protector.confirm_booking(%L)$$, :'hid'),
	'a hold of a service named in 0.1.0 with a zero-width space is confirmed, its review task written');
SELECT is(protector_internal.text_is_clean(U&'\182D\180B\200D\1820'), true,
	'a Mongolian letter, its variation selector and a joiner are text');
SELECT is(protector_internal.text_is_clean(U&'\182D\180B\200D\180B'), false, '... a selector after the joiner is not');
SELECT tests.clear_authentication();
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a971000-0000-4000-8000-0000000000e1', '0a971000-0000-4000-8000-00000000000a', 'Many Tags'),
	('0a971000-0000-4000-8000-0000000000e2', '0a971000-0000-4000-8000-00000000000a', 'Many Tags Two');
SET LOCAL session_replication_role = replica;
UPDATE protector.customers SET tags = ARRAY(SELECT 't' || g FROM generate_series(1, 60) g) WHERE id = '0a971000-0000-4000-8000-0000000000e1';
UPDATE protector.customers SET tags = ARRAY(SELECT 't' || g || ' ' FROM generate_series(1, 60) g) WHERE id = '0a971000-0000-4000-8000-0000000000e2';
RESET session_replication_role;
SELECT tests.authenticate_as('cr_owner');
SELECT lives_ok($$SELECT protector.merge_customers('0a971000-0000-4000-8000-0000000000e1', '0a971000-0000-4000-8000-0000000000e2')$$,
	'a merge counts tags as stored, trimmed: 60 and the same 60 with a space are 60');

-- 14.
SELECT is(protector_internal.text_is_clean(U&'Ana\180B\200Cb'), false, 'a joiner after a Mongolian selector after a Latin letter is refused');
SELECT tests.clear_authentication();
SET LOCAL session_replication_role = replica;
UPDATE protector.customers SET tags = ARRAY[E'vip\u200b '] WHERE id = '0a971000-0000-4000-8000-0000000000e1';
RESET session_replication_role;
SELECT tests.authenticate_as('cr_owner');
SELECT is(protector.update_customer('0a971000-0000-4000-8000-0000000000e1', jsonb_build_object('tags', ARRAY[E'vip\u200b ', 'gold'])) -> 'tags',
	jsonb_build_array(E'vip\u200b', 'gold'), 'a 0.1.0 tag refused now, with a space at its end, stays writable around it');

SELECT * FROM finish();
ROLLBACK;
