-- What a review of the staff side found (the thirty-second stop): an
-- agent set their task's completion time to any date, which staff
-- performance counts by; direct writes of invitations and shifts skipped
-- the checks of create_staff_member and create_staff_schedule; an
-- expired owner's invitation kept its address from admins for good; a
-- participant named "." signed a waiver; and a customer signing without a
-- booking was told the waiver was not found.  A shift of another
-- organization's member was said to be of an inactive one, and staff
-- wrote to an erased customer's thread and addressed notifications to
-- deactivated members.
BEGIN;
SELECT plan(23);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user(u) IS NOT NULL
FROM unnest(ARRAY['s_owner', 's_admin', 's_manager', 's_agent', 's_customer', 's_other', 's_former']) u \g /dev/null
SELECT tests.authenticate_as('s_other');
SELECT protector.create_organization('Elsewhere', 'staff-side-elsewhere', 'UTC', 'EUR') ->> 'id' AS other_org \gset
SELECT tests.authenticate_as('s_owner');
SELECT protector.create_organization('Staff side', 'staff-side-edges', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Room', '1 hour', p_slot_interval => '1 hour') ->> 'id' AS room \gset
SELECT protector.create_waiver(:'org', 'Climbing', 'I climb at my own risk.') ->> 'waiver_id' AS waiver \gset
SELECT protector.update_service(:'room', jsonb_build_object('waiver_id', :'waiver')) IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
INSERT INTO protector.members (organization_id, user_id, role, full_name)
SELECT :'org', tests.get_supabase_uid('s_' || r), r::protector.member_role, initcap(r)
FROM unnest(ARRAY['admin', 'manager', 'agent']) r;
SELECT id AS agent_member FROM protector.members WHERE user_id = tests.get_supabase_uid('s_agent') \gset
SELECT id AS other_member FROM protector.members WHERE user_id = tests.get_supabase_uid('s_other') \gset
INSERT INTO protector.members (organization_id, user_id, role, full_name, active)
VALUES (:'org', tests.get_supabase_uid('s_former'), 'agent', 'Former', false);
INSERT INTO protector.customers (organization_id, user_id, full_name, email)
VALUES (:'org', tests.get_supabase_uid('s_customer'), 'Cara', 'cara@example.com') RETURNING id AS cara \gset
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, party_size, status)
VALUES (:'org', :'venue', :'room', :'cara', tstzrange(date_trunc('day', now()) + interval '2 days 10 hours',
												   date_trunc('day', now()) + interval '2 days 11 hours'), 2, 'confirmed')
RETURNING id AS booking \gset
INSERT INTO protector.tasks (organization_id, title, assignee)
VALUES (:'org', 'Check the ropes', tests.get_supabase_uid('s_agent')) RETURNING id AS task \gset

-- 1. a task's completion time is the database's
SELECT tests.authenticate_as('s_agent');
UPDATE protector.tasks SET status = 'done', completed_at = '2020-06-01' WHERE id = :'task';
SELECT is((SELECT completed_at FROM protector.tasks WHERE id = :'task'), now(),
	'a task done now is completed now, not in the 2020 its agent wrote');
SELECT tests.authenticate_as('s_owner');
SELECT is((SELECT sum(tasks_done)::int FROM protector.get_staff_performance(:'org', '2020-01-01', '2020-12-31')), 0,
	'staff performance of 2020 counts no task of the agent''s');
SELECT tests.authenticate_as('s_agent');
UPDATE protector.tasks SET completed_at = '2999-01-01' WHERE id = :'task';
SELECT is((SELECT completed_at FROM protector.tasks WHERE id = :'task'), now(), 'and keeps that time while it stays done');
UPDATE protector.tasks SET status = 'open' WHERE id = :'task';
SELECT is((SELECT completed_at FROM protector.tasks WHERE id = :'task'), NULL, 'a reopened task has no completion time');
SELECT tests.clear_authentication();
INSERT INTO protector.tasks (organization_id, title, status, completed_at)
VALUES (:'org', 'Imported', 'done', '2026-01-05 12:00+00') RETURNING id AS imported \gset
SELECT is((SELECT completed_at FROM protector.tasks WHERE id = :'imported'), '2026-01-05 12:00+00'::timestamptz,
	'a trusted import of a done task keeps the time it gives');

-- 2. invitations written directly are checked as create_staff_member checks them
SELECT tests.authenticate_as('s_admin');
SELECT throws_ok(format($$INSERT INTO protector.staff_invitations (organization_id, email, role) VALUES (%L, 'x@y', 'agent')$$, :'org'),
	'22023', 'email is not an email address', 'a direct invitation to no address is refused');
SELECT throws_ok(format($$INSERT INTO protector.staff_invitations (organization_id, email, role)
						  VALUES (%L, E'ab\u202emoc.elpmaxe@x.com', 'agent')$$, :'org'),
	'22023', 'email is not an email address', '... as is one whose address hides a direction override');
-- an owner's invitation that expired no longer keeps its address from admins
SELECT tests.authenticate_as('s_owner');
SELECT protector.create_staff_member(:'org', 'boss@example.com', 'owner') IS NOT NULL \g /dev/null
SELECT protector.create_staff_member(:'org', 'chief@example.com', 'owner') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
UPDATE protector.staff_invitations SET expires_at = now() - interval '1 day' WHERE email = 'boss@example.com';
SELECT tests.authenticate_as('s_admin');
SELECT lives_ok(format($$SELECT protector.create_staff_member(%L, 'boss@example.com', 'agent')$$, :'org'),
	'an admin invites the address of an expired owner''s invitation');
SELECT is((SELECT string_agg(role::text, ', ') FROM protector.staff_invitations WHERE email = 'boss@example.com'), 'agent',
	'... which goes');
SELECT throws_ok(format($$SELECT protector.create_staff_member(%L, 'chief@example.com', 'agent')$$, :'org'),
	'23P01', 'this address has an open invitation you may not replace', 'an open one of an owner''s still stays');

-- 3. shifts written directly are checked as create_staff_schedule checks them
SELECT tests.authenticate_as('s_manager');
SELECT protector.assign_staff_to_venue(:'agent_member', :'venue') IS NOT NULL \g /dev/null
SELECT throws_ok(format($$INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during)
						  VALUES (%L, %L, %L, '[9000-01-01 08:00+00, 9000-01-01 16:00+00)')$$, :'org', :'agent_member', :'venue'),
	'22023', 'a shift ends after it starts, within 31 days, between the years 2000 and 2200',
	'a shift in the year 9000, which no schedule shows, is refused');
SELECT throws_ok(format($$INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during, note)
						  VALUES (%L, %L, %L, tstzrange(date_trunc('day', now()) + interval '2 days 8 hours',
														date_trunc('day', now()) + interval '2 days 16 hours'), E'bell\007')$$,
						:'org', :'agent_member', :'venue'),
	'22023', 'note holds control or invisible direction characters', 'a note with control characters is refused');
SELECT throws_ok(format($$INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during)
						  VALUES (%L, %L, %L, tstzrange(date_trunc('day', now()) + interval '2 days 8 hours',
														date_trunc('day', now()) + interval '2 days 16 hours'))$$,
						:'org', :'other_member', :'venue'),
	'P0002', 'member not found', 'a shift of another organization''s member: not found, as staff_venues says it');
SELECT lives_ok(format($$INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during, note)
						 VALUES (%L, %L, %L, tstzrange(date_trunc('day', now()) + interval '3 days 8 hours',
													   date_trunc('day', now()) + interval '3 days 16 hours'), 'Ropes')$$,
						:'org', :'agent_member', :'venue'),
	'a shift of this year with a plain note is written');
-- who may not write shifts or invitations learns nothing from the values
-- checked: the policy refuses them, whatever the note or address says
SELECT tests.authenticate_as('s_other');
SELECT throws_ok(format($$INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during, note)
						  VALUES (%L, %L, %L, tstzrange(date_trunc('day', now()) + interval '4 days 8 hours',
														date_trunc('day', now()) + interval '4 days 16 hours'), E'bell\007')$$,
						:'org', :'agent_member', :'venue'),
	'42501', NULL, 'another organization''s owner writing a bad note is refused by the policy, not told about the note');
SELECT throws_ok(format($$INSERT INTO protector.staff_invitations (organization_id, email, role) VALUES (%L, 'x@y', 'agent')$$, :'org'),
	'42501', NULL, '... nor about an invitation''s address');

-- 4. waivers: a participant's name tells them apart; a customer is told what to do
SELECT tests.authenticate_as('s_customer');
SELECT throws_ok(format($$SELECT protector.submit_waiver(%L, '.', '1990-01-01', '.', '.', %L)$$, :'waiver', :'booking'),
	'22023', 'participant_name has no letters or digits to compare', 'a participant named "." is refused');
SELECT throws_ok(format($$SELECT protector.submit_waiver(%L, E'\u02bc', '1990-01-01', E'\u02bc', E'\u02bc', %L)$$, :'waiver', :'booking'),
	'22023', 'participant_name has no letters or digits to compare',
	'... as is one named U+02BC, a modifier letter compared as the apostrophe it stands for');
SELECT lives_ok(format($$SELECT protector.submit_waiver(%L, '张伟', '1990-01-01', '张伟', '张伟', %L)$$, :'waiver', :'booking'),
	'a participant named in Han characters signs');
SELECT throws_ok(format($$SELECT protector.submit_waiver(%L, 'Cara', '1990-01-01', 'Cara', 'Cara')$$, :'waiver'),
	'42501', 'a waiver without a booking is collected by the desk', 'a customer without a booking is told to pass one');

-- a deactivated member is addressed no notification, as they are assigned no task
SELECT tests.authenticate_as('s_manager');
SELECT throws_ok(format($$INSERT INTO protector.notifications (organization_id, recipient_id, kind, payload)
						  VALUES (%L, tests.get_supabase_uid('s_former'), 'note', '{}')$$, :'org'),
	'23P01', 'Former is no active member', 'a notification to a deactivated member is refused');
SELECT tests.clear_authentication();
INSERT INTO protector.notifications (organization_id, recipient_id, kind)
VALUES (:'org', tests.get_supabase_uid('s_agent'), 'note') RETURNING id AS agent_note \gset
UPDATE protector.members SET active = false WHERE id = :'agent_member';
SELECT lives_ok(format($$UPDATE protector.notifications SET read_at = now(), recipient_id = recipient_id WHERE id = %L$$, :'agent_note'),
	'... but one of a member deactivated since is still written back, keeping its recipient');
UPDATE protector.members SET active = true WHERE id = :'agent_member';

-- 5. an erased customer's thread takes no new message (nobody reads it,
-- and the erasure would not have blanked its body)
SELECT tests.authenticate_as('s_owner');
SELECT protector.erase_customer(:'cara') IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('s_manager');
SELECT throws_ok(format($$SELECT protector.send_message(%L, 'Your booking is confirmed')$$, :'booking'),
	'22023', format('customer %s was erased', :'cara'), 'a message to an erased customer''s booking is refused');

SELECT * FROM finish();
ROLLBACK;
