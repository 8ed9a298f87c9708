-- A deactivated membership the organization keeps is not deleted by the
-- deletion of its member's account (docs/staff.md): leave_organization
-- refuses it, since leaving deletes the member's history (shifts, staff
-- activity, bookings as agent), but the foreign key from members to
-- auth.users cascaded, and a fired member deleting their account deleted
-- all of it (an attack on the Supabase Auth lifecycle).
BEGIN;
SELECT plan(6);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['da_owner', 'da_agent', 'da_pending']) u \g /dev/null
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a106000-0000-4000-8000-000000000000', 'Keeps', 'deactivated-accounts');
INSERT INTO protector.members (id, organization_id, user_id, role, confirmed_at) VALUES
	('0a106000-0000-4000-8000-0000000000e1', '0a106000-0000-4000-8000-000000000000', tests.get_supabase_uid('da_owner'), 'owner', now()),
	('0a106000-0000-4000-8000-0000000000e2', '0a106000-0000-4000-8000-000000000000', tests.get_supabase_uid('da_agent'), 'agent', now()),
	('0a106000-0000-4000-8000-0000000000e3', '0a106000-0000-4000-8000-000000000000', tests.get_supabase_uid('da_pending'), 'agent', NULL);
SELECT tests.authenticate_as('da_agent');
SELECT protector.log_staff_activity('0a106000-0000-4000-8000-000000000000', 'desk.check_in', '{}') \g /dev/null
SELECT tests.authenticate_as('da_owner');
SELECT protector.deactivate_staff('0a106000-0000-4000-8000-0000000000e2', 'left the company') \g /dev/null
SELECT protector.deactivate_staff('0a106000-0000-4000-8000-0000000000e3', 'never started') \g /dev/null
SELECT tests.clear_authentication();

SELECT throws_ok($$DELETE FROM auth.users WHERE id = tests.get_supabase_uid('da_agent')$$, '42501',
	'a deactivated member''s account is not deleted while the organization keeps their membership',
	'a deactivated member''s account is not deleted with the history the organization keeps');
SELECT is((SELECT count(*)::int FROM protector.staff_activity WHERE member_id = '0a106000-0000-4000-8000-0000000000e2'), 1,
	'... which stays');
SELECT lives_ok($$DELETE FROM auth.users WHERE id = tests.get_supabase_uid('da_pending')$$,
	'a deactivated membership never confirmed and without history goes with its account (as it may be declined)');
-- (a membership orphaned without the key, as operations.md's mending
-- finds one, is deleted directly: a review found it refused for good)
SAVEPOINT orphaned;
ALTER TABLE protector.members DROP CONSTRAINT members_user_id_fkey;
DELETE FROM auth.users WHERE id = tests.get_supabase_uid('da_agent');
SELECT lives_ok($$DELETE FROM protector.members WHERE id = '0a106000-0000-4000-8000-0000000000e2'$$,
	'a deactivated membership whose account is gone without the key is deleted directly');
ROLLBACK TO SAVEPOINT orphaned;
SELECT lives_ok($$DELETE FROM protector.organizations WHERE id = '0a106000-0000-4000-8000-000000000000'$$,
	'the organization''s deletion deletes its deactivated memberships as ever');
SELECT lives_ok($$DELETE FROM auth.users WHERE id = tests.get_supabase_uid('da_agent')$$,
	'... and then the account goes');

SELECT * FROM finish();
ROLLBACK;
