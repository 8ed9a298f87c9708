-- A membership made owner is pending again (owner_needs_confirmation), and
-- a pending membership may leave even deactivated ("it was never
-- theirs").  A viewer who had worked under a confirmed membership, made
-- owner and then deactivated, left, and leaving deleted or unlinked the
-- history the organization keeps of deactivated members (an attack review
-- of the forty-second stop): a pending membership with history stays.
BEGIN;
SELECT plan(5);

SELECT tests.create_supabase_user(u) IS NOT NULL FROM unnest(ARRAY['h_owner', 'h_viewer', 'h_fresh']) u \g /dev/null
INSERT INTO protector.organizations (id, name, slug)
VALUES ('0a900000-0000-4000-8000-000000000000', 'H', 'pending-history');
INSERT INTO protector.members (id, organization_id, user_id, role, confirmed_at) VALUES
	('0a900000-0000-4000-8000-0000000000e1', '0a900000-0000-4000-8000-000000000000', tests.get_supabase_uid('h_owner'), 'owner', now()),
	('0a900000-0000-4000-8000-0000000000e2', '0a900000-0000-4000-8000-000000000000', tests.get_supabase_uid('h_viewer'), 'viewer', now());
INSERT INTO protector.members (id, organization_id, user_id, role) VALUES
	('0a900000-0000-4000-8000-0000000000e3', '0a900000-0000-4000-8000-000000000000', tests.get_supabase_uid('h_fresh'), 'viewer');

-- the viewer works under their confirmed membership
SELECT tests.authenticate_as('h_viewer');
SELECT protector.log_staff_activity('0a900000-0000-4000-8000-000000000000', 'desk.check_in') IS NOT NULL \g /dev/null
-- made owner (pending again), then deactivated
SELECT tests.authenticate_as('h_owner');
SELECT protector.update_staff_permissions('0a900000-0000-4000-8000-0000000000e2', 'owner') IS NOT NULL \g /dev/null
SELECT protector.deactivate_staff('0a900000-0000-4000-8000-0000000000e2', 'gone') IS NOT NULL \g /dev/null
RESET ROLE;
SELECT is((SELECT confirmed_at IS NULL AND NOT active FROM protector.members WHERE id = '0a900000-0000-4000-8000-0000000000e2'),
	true, 'the premise: the membership is pending and deactivated');

SELECT tests.authenticate_as('h_viewer');
SELECT throws_ok($$SELECT protector.leave_organization('0a900000-0000-4000-8000-000000000000')$$,
	'42501', 'a deactivated membership is not left by its member',
	'a pending, deactivated membership with history is not left by its member');
RESET ROLE;
SELECT is((SELECT count(*)::integer FROM protector.staff_activity
		   WHERE member_id = '0a900000-0000-4000-8000-0000000000e2' AND action = 'desk.check_in'),
	1, '... and their activity still names their membership');

-- one that never did anything is still declined, deactivated or not
SELECT tests.authenticate_as('h_owner');
SELECT protector.deactivate_staff('0a900000-0000-4000-8000-0000000000e3', 'never started') IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('h_fresh');
SELECT lives_ok($$SELECT protector.leave_organization('0a900000-0000-4000-8000-000000000000')$$,
	'a pending, deactivated membership without history is declined (left)');
RESET ROLE;
SELECT is((SELECT count(*)::integer FROM protector.members WHERE id = '0a900000-0000-4000-8000-0000000000e3'),
	0, '... and is gone');

SELECT * FROM finish();
ROLLBACK;
