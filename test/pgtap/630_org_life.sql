-- What a review of an organization's life found (the thirty-third stop):
-- an admin withdrew an owner's open invitation (which only owners may) by
-- writing the invitee's address on a member and deleting the member; and
-- get_audit_logs answered an empty list, not 42501, for an organization
-- the caller may not read the log of when they were an admin elsewhere.
BEGIN;
SELECT plan(9);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user(u) IS NOT NULL FROM unnest(ARRAY['ol_owner', 'ol_admin', 'ol_viewer', 'ol_other']) u \g /dev/null
SELECT tests.authenticate_as('ol_owner');
SELECT protector.create_organization('Life', 'org-life', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT tests.clear_authentication();
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	(:'org', tests.get_supabase_uid('ol_admin'), 'admin'), (:'org', tests.get_supabase_uid('ol_viewer'), 'viewer');
SELECT id AS viewer FROM protector.members WHERE user_id = tests.get_supabase_uid('ol_viewer') \gset
SELECT tests.authenticate_as('ol_owner');
SELECT protector.create_staff_member(:'org', 'co.owner@example.com', 'owner') IS NOT NULL AS invited \gset

-- 1. the admin gives the viewer the invitee's address and deletes the
-- viewer: refused (withdrawn, the admin replaced the owner's invitation;
-- kept, the deleted member came back as an owner at their next sign-in)
SELECT tests.authenticate_as('ol_admin');
UPDATE protector.members SET email = 'co.owner@example.com' WHERE id = :'viewer';
SELECT throws_ok(format($$DELETE FROM protector.members WHERE id = %L$$, :'viewer'), '42501',
	'an owner''s invitation to this member''s address is open',
	'an admin may not delete a member while an owner''s invitation to their address is open');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.staff_invitations WHERE email_key = 'co.owner@example.com' AND role = 'owner'), 1,
	'... and the owner''s invitation stays');
SELECT tests.authenticate_as('ol_owner');
DELETE FROM protector.members WHERE id = :'viewer';
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.staff_invitations WHERE email_key = 'co.owner@example.com'), 0,
	'an owner deletes the member, and the invitation to their address goes with them');

-- ... but a member deleting their account (Supabase's self-service
-- delete of auth.users, whose cascade runs with their sign-in) is not
-- kept by an owner's invitation to their address, and an expired one
-- blocks nobody
SELECT tests.create_supabase_user('ol_extra') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
INSERT INTO protector.members (organization_id, user_id, role, email)
VALUES (:'org', tests.get_supabase_uid('ol_viewer'), 'viewer', 'co.owner@example.com');
SELECT tests.authenticate_as('ol_owner');
SELECT protector.create_staff_member(:'org', 'co.owner@example.com', 'owner') IS NOT NULL AS invited_again \gset
SELECT tests.clear_authentication();
SELECT set_config('request.jwt.claims', json_build_object('sub', tests.get_supabase_uid('ol_viewer'))::text, true) IS NOT NULL AS claims \gset
SELECT lives_ok(format($$DELETE FROM auth.users WHERE id = %L$$, tests.get_supabase_uid('ol_viewer')),
	'a member deletes their account while an owner''s invitation to their address is open');
SELECT set_config('request.jwt.claims', '', true) IS NOT NULL AS claims \gset
INSERT INTO protector.members (organization_id, user_id, role, email)
VALUES (:'org', tests.get_supabase_uid('ol_extra'), 'viewer', 'extra@example.com') RETURNING id AS extra \gset
INSERT INTO protector.staff_invitations (organization_id, email, role) VALUES (:'org', 'extra@example.com', 'owner');
UPDATE protector.staff_invitations SET expires_at = now() - interval '1 day' WHERE email_key = 'extra@example.com';
SELECT tests.authenticate_as('ol_admin');
SELECT lives_ok(format($$DELETE FROM protector.members WHERE id = %L$$, :'extra'),
	'an expired owner''s invitation does not keep an admin from deleting the member');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.members WHERE user_id IN (tests.get_supabase_uid('ol_extra'))), 0, '... who is gone');

-- ... and an admin leaving with an owner's invitee's address written on
-- their own row leaves the owner's invitation as it was (it went with the
-- row, and the admin replaced it)
SELECT tests.create_supabase_user('ol_sock') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
INSERT INTO protector.members (organization_id, user_id, role, email)
VALUES (:'org', tests.get_supabase_uid('ol_sock'), 'admin', 'sock@example.com');
INSERT INTO protector.staff_invitations (organization_id, email, role) VALUES (:'org', 'invitee@example.com', 'owner');
SELECT tests.authenticate_as('ol_sock');
UPDATE protector.members SET email = 'invitee@example.com' WHERE user_id = tests.get_supabase_uid('ol_sock');
DELETE FROM protector.members WHERE user_id = tests.get_supabase_uid('ol_sock');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.staff_invitations WHERE email_key = 'invitee@example.com' AND role = 'owner'), 1,
	'an admin leaving with the invitee''s address on their row does not withdraw the owner''s invitation');

-- 2. a viewer of this organization who is an admin of another
SELECT tests.clear_authentication();
INSERT INTO protector.members (organization_id, user_id, role) VALUES (:'org', tests.get_supabase_uid('ol_other'), 'viewer');
SELECT tests.authenticate_as('ol_other');
SELECT protector.create_organization('Elsewhere', 'org-life-elsewhere', 'UTC', 'EUR') IS NOT NULL AS own \gset
SELECT throws_ok(format($$SELECT * FROM protector.get_audit_logs(p_organization_id => %L)$$, :'org'), '42501', NULL,
	'get_audit_logs of an organization the caller only views: 42501, whatever their role elsewhere');
SELECT lives_ok($$SELECT * FROM protector.get_audit_logs()$$, '... and their own organization''s log is theirs');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
