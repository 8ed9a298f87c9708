-- Names stay plain text whoever writes them: table writes under RLS (an
-- admin's rename of the organization, a manager's of a venue or service,
-- an operator's customer, an admin's of a member) are refused with
-- direction overrides, zero-width or control characters, as the RPCs
-- refuse them; clean names and other columns pass.
BEGIN;
SELECT plan(16);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['q_admin', 'q_manager', 'q_operator', 'q_newbie']) u \g /dev/null
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a300000-0000-4000-8000-000000000000', 'Q', 'clean-names'),
	('0a300000-0000-4000-8000-0000000000ff', 'R', 'clean-names-r');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a300000-0000-4000-8000-000000000000', tests.get_supabase_uid('q_' || r), r::protector.member_role
FROM unnest(ARRAY['admin', 'manager', 'operator']) r;
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a300000-0000-4000-8000-0000000000a1', '0a300000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration) VALUES
	('0a300000-0000-4000-8000-0000000005a1', '0a300000-0000-4000-8000-000000000000', '0a300000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes');

SELECT tests.authenticate_as('q_admin');
SELECT throws_ok($$UPDATE protector.organizations SET name = 'Acme' || U&'\202E' || 'exe.gpj'
				   WHERE id = '0a300000-0000-4000-8000-000000000000'$$,
	'22023', 'name holds control or invisible direction characters', 'an admin''s rename with a right-to-left override');
SELECT lives_ok($$UPDATE protector.organizations SET name = 'Acme Escapes'
				  WHERE id = '0a300000-0000-4000-8000-000000000000'$$, '... a plain rename passes');
SELECT tests.authenticate_as('q_manager');
SELECT throws_ok($$UPDATE protector.venues SET name = 'Main' || U&'\200B' WHERE id = '0a300000-0000-4000-8000-0000000000a1'$$,
	'22023', 'name holds control or invisible direction characters', 'a venue renamed with a zero-width space');
SELECT throws_ok($$INSERT INTO protector.services (organization_id, venue_id, name, duration)
				   VALUES ('0a300000-0000-4000-8000-000000000000', '0a300000-0000-4000-8000-0000000000a1', E'Room\n2', '60 minutes')$$,
	'22023', 'name holds control or invisible direction characters', 'a service inserted with a line break in its name');
SELECT lives_ok($$UPDATE protector.services SET description = 'Two rooms' WHERE id = '0a300000-0000-4000-8000-0000000005a1'$$,
	'a change of other columns is not checked (nor slowed) by it');
SELECT tests.authenticate_as('q_operator');
SELECT throws_ok($$INSERT INTO protector.customers (organization_id, full_name)
				   VALUES ('0a300000-0000-4000-8000-000000000000', U&'\2066' || 'Ann' || U&'\2069')$$,
	'22023', 'full_name holds control or invisible direction characters', 'an operator''s customer named within isolates');
SELECT lives_ok($$INSERT INTO protector.customers (organization_id, full_name)
				  VALUES ('0a300000-0000-4000-8000-000000000000', 'Zoë O''Brien 李')$$,
	'accents, apostrophes and other scripts are plain text');
SELECT tests.authenticate_as('q_admin');
SELECT throws_ok($$UPDATE protector.members SET full_name = 'Op' || U&'\00AD' || 'erator'
				   WHERE user_id = tests.get_supabase_uid('q_operator')$$,
	'22023', 'full_name holds control or invisible direction characters', 'a member''s name, by an admin, with a soft hyphen');
SELECT throws_ok($$INSERT INTO protector.staff_invitations (organization_id, email, role, full_name)
				   VALUES ('0a300000-0000-4000-8000-000000000000', 'someone@example.com', 'operator', 'Some' || U&'\200D' || 'one')$$,
	'22023', 'full_name holds control or invisible direction characters', 'an invitation''s name, which the membership takes');

SELECT tests.clear_authentication();
SELECT throws_ok($$INSERT INTO protector.waivers (organization_id, name)
				   VALUES ('0a300000-0000-4000-8000-000000000000', 'Waiver' || U&'\202E' || 'evil')$$,
	'22023', 'name holds control or invisible direction characters', 'a waiver''s name, shown with every signature');
INSERT INTO protector.waivers (organization_id, name) VALUES ('0a300000-0000-4000-8000-000000000000', '  Spaced  ');
SELECT is((SELECT name FROM protector.waivers WHERE organization_id = '0a300000-0000-4000-8000-000000000000'), 'Spaced',
	'a name written with outer spaces is stored trimmed, as the RPCs store it');
SELECT tests.authenticate_as('q_admin');

-- names stored before they were checked (an import: no trigger of
-- protector's runs under replica) stay writable, and join nobody out
SELECT tests.clear_authentication();
SET LOCAL session_replication_role = replica;
UPDATE protector.venues SET name = 'Old' || U&'\00AD' || 'name' WHERE id = '0a300000-0000-4000-8000-0000000000a1';
INSERT INTO protector.staff_invitations (organization_id, email, email_key, role, full_name) VALUES
	('0a300000-0000-4000-8000-000000000000', 'q_newbie@test.invalid', 'q_newbie@test.invalid', 'operator', 'New' || U&'\200B' || 'bie');
SET LOCAL session_replication_role = origin;
INSERT INTO protector.staff_invitations (organization_id, email, role, full_name) VALUES
	('0a300000-0000-4000-8000-0000000000ff', 'q_newbie@test.invalid', 'viewer', 'Newbie');
SELECT tests.authenticate_as('q_manager');
SELECT is(protector.update_venue('0a300000-0000-4000-8000-0000000000a1', '{"city": "Berlin"}') ->> 'city', 'Berlin',
	'a venue whose old name is no longer plain text still takes other changes (update_venue writes its name as it is)');
SELECT throws_ok($$UPDATE protector.venues SET name = name || '!' WHERE id = '0a300000-0000-4000-8000-0000000000a1'$$,
	'22023', 'name holds control or invisible direction characters', '... a new name is checked');
SELECT tests.clear_authentication();
UPDATE auth.users SET email_confirmed_at = now() WHERE id = tests.get_supabase_uid('q_newbie');
SELECT tests.authenticate_as('q_newbie');
SELECT is(cardinality(protector.accept_staff_invitations()), 2,
	'an invitation with an old unclean name does not keep its user out of either organization');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT organization_id::text, full_name FROM protector.members
					WHERE user_id = tests.get_supabase_uid('q_newbie') ORDER BY organization_id$$,
	$$VALUES ('0a300000-0000-4000-8000-000000000000', NULL::text), ('0a300000-0000-4000-8000-0000000000ff', 'Newbie')$$,
	'... the membership of the unclean one has no name');
SELECT is((SELECT count(*)::int FROM protector.organizations o WHERE NOT protector_internal.text_is_clean(o.name))
		  + (SELECT count(*)::int FROM protector.venues v WHERE NOT protector_internal.text_is_clean(v.name) AND v.name <> 'Old' || U&'\00AD' || 'name')
		  + (SELECT count(*)::int FROM protector.services s WHERE NOT protector_internal.text_is_clean(s.name))
		  + (SELECT count(*)::int FROM protector.customers c WHERE NOT protector_internal.text_is_clean(c.full_name)),
	0, 'no unclean name was stored but the imported one');

SELECT * FROM finish();
ROLLBACK;
