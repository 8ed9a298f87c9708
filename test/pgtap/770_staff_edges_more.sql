-- What an attack on staff management found (the thirty-ninth stop):
--   1. a deactivated member left the organization, which deleted the
--      history deactivation keeps (their bookings lost their agent, their
--      shifts went);
--   2. a completed or cancelled booking was given to a deactivated member
--      (the active check ran only for live bookings), rewriting whose work
--      it was in the staff reports;
--   3. a member's e-mail took control and invisible direction characters,
--      which other staff then read in errors naming the member.
BEGIN;
SELECT plan(7);

SELECT tests.create_supabase_user(u) IS NOT NULL FROM unnest(ARRAY['s_owner', 's_operator', 's_agent']) u \g /dev/null
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('0a770000-0000-4000-8000-000000000000', 'S', 'staff-edges-more', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at) VALUES
	('0a770000-0000-4000-8000-000000000000', tests.get_supabase_uid('s_owner'), 'owner', now()),
	('0a770000-0000-4000-8000-000000000000', tests.get_supabase_uid('s_operator'), 'operator', now()),
	('0a770000-0000-4000-8000-000000000000', tests.get_supabase_uid('s_agent'), 'agent', now());
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a770000-0000-4000-8000-0000000000a1', '0a770000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0a770000-0000-4000-8000-0000000005a1', '0a770000-0000-4000-8000-000000000000', '0a770000-0000-4000-8000-0000000000a1',
		'S', '60 minutes', '60 minutes', '400 days', 10, 'shared');
-- a booking that took place, the agent's (written as history is)
SET LOCAL session_replication_role = replica;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent, currency)
VALUES ('0a770000-0000-4000-8000-0000000b0001', '0a770000-0000-4000-8000-000000000000', '0a770000-0000-4000-8000-0000000000a1',
		'0a770000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) - interval '2 days', date_trunc('day', now()) - interval '2 days' + interval '1 hour'),
		'completed', tests.get_supabase_uid('s_agent'), 'USD');
SET LOCAL session_replication_role = origin;

-- 1.
SELECT tests.authenticate_as('s_owner');
SELECT protector.deactivate_staff((SELECT id FROM protector.members WHERE user_id = tests.get_supabase_uid('s_agent')), 'left the company')
	IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('s_agent');
SELECT throws_ok($$SELECT protector.leave_organization('0a770000-0000-4000-8000-000000000000')$$,
	'42501', 'a deactivated membership is not left by its member', 'a deactivated member cannot leave (it would delete their history)');
RESET ROLE;
SELECT is((SELECT assigned_agent FROM protector.bookings WHERE id = '0a770000-0000-4000-8000-0000000b0001'),
	tests.get_supabase_uid('s_agent'), '... and their completed booking is still theirs');

-- ... while a pending membership, deactivated, is declined: it was never theirs
SELECT tests.create_supabase_user('s_pending') IS NOT NULL \g /dev/null
INSERT INTO protector.members (organization_id, user_id, role, active)
VALUES ('0a770000-0000-4000-8000-000000000000', tests.get_supabase_uid('s_pending'), 'viewer', false);
SELECT tests.authenticate_as('s_pending');
SELECT lives_ok($$SELECT protector.leave_organization('0a770000-0000-4000-8000-000000000000')$$,
	'a pending membership made inactive is declined (left) by its member');
RESET ROLE;

-- 2.
UPDATE protector.bookings SET assigned_agent = NULL WHERE id = '0a770000-0000-4000-8000-0000000b0001';
SELECT tests.authenticate_as('s_operator');
SELECT throws_ok($$UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('s_agent')
				   WHERE id = '0a770000-0000-4000-8000-0000000b0001'$$,
	'23P01', NULL, 'a completed booking is not given to a deactivated member');
SELECT lives_ok($$UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('s_operator')
				  WHERE id = '0a770000-0000-4000-8000-0000000b0001'$$,
	'... while an active one may take it (the desk corrects whose it was)');

-- 3.
SELECT tests.authenticate_as('s_owner');
SELECT throws_ok($$UPDATE protector.members SET email = E'ops\u202Egro.evil@example.com'
				   WHERE user_id = tests.get_supabase_uid('s_operator')$$,
	'22023', 'email holds control or invisible direction characters', 'a member''s e-mail with a direction override is refused');
SELECT lives_ok($$UPDATE protector.members SET email = 'ops@example.com' WHERE user_id = tests.get_supabase_uid('s_operator')$$,
	'... a plain one is taken');

SELECT * FROM finish();
ROLLBACK;
