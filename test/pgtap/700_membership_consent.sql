-- Memberships are confirmed by their members.  An owner could add any
-- account as owner (its id is seen as a message's sender or a booking's
-- agent) and leave: that account then owned an organization it never
-- asked for and could not be deleted.  A membership someone else made is
-- pending until its member confirms it (confirm_membership); a pending
-- owner does not count as the owner who keeps the organization; any member
-- may leave (leave_organization), a pending owner always while another
-- owner stays.
BEGIN;
SELECT plan(37);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['c_founder', 'c_victim', 'c_viewer', 'c_stranger', 'c_nora']) u;
SELECT tests.authenticate_as('c_founder');
SELECT protector.create_organization('Consent', 'consent-test') \g /dev/null
RESET ROLE;
CREATE TEMP TABLE ids AS SELECT id AS org FROM protector.organizations WHERE slug = 'consent-test';
GRANT SELECT ON ids TO authenticated, service_role;
CREATE FUNCTION pg_temp.confirmed(p_user text) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN m.confirmed_at IS NULL THEN 'pending' ELSE 'confirmed' END
	FROM protector.members m JOIN ids ON m.organization_id = ids.org
	WHERE m.user_id = tests.get_supabase_uid(p_user) $$;

-- 1. who made it: the founder asked; an owner's insert and an invitation did not
SELECT is(pg_temp.confirmed('c_founder'), 'confirmed', 'the founder''s membership is confirmed');
SELECT tests.authenticate_as('c_founder');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT org, tests.get_supabase_uid('c_victim'), 'owner' FROM ids;
INSERT INTO protector.members (organization_id, user_id, role)
SELECT org, tests.get_supabase_uid('c_viewer'), 'viewer' FROM ids;
RESET ROLE;
SELECT is(pg_temp.confirmed('c_victim'), 'pending', 'an owner added by another owner is pending');
SELECT tests.authenticate_as('c_founder');
SELECT throws_ok($$INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
				   SELECT org, tests.get_supabase_uid('c_stranger'), 'owner', now() FROM ids$$,
	'42501', 'permission denied for table members', 'nobody confirms for the member when adding them');
SELECT throws_ok($$UPDATE protector.members SET confirmed_at = now() WHERE user_id = tests.get_supabase_uid('c_victim')$$,
	'42501', 'permission denied for table members', '... nor afterwards');
SELECT protector.create_staff_member(org, 'nora@example.com', 'manager') FROM ids \g /dev/null
RESET ROLE;
UPDATE auth.users SET email = 'nora@example.com', email_confirmed_at = now() WHERE id = tests.get_supabase_uid('c_nora');
SELECT tests.authenticate_as('c_nora');
SELECT is(protector.accept_staff_invitations(), ARRAY[(SELECT org FROM ids)], 'Nora''s invitation becomes a membership');
RESET ROLE;
SELECT is(pg_temp.confirmed('c_nora'), 'pending', '... a pending one: her sign-in is not her consent');

-- 2. the owner who made another owner cannot leave them the organization
SELECT tests.authenticate_as('c_founder');
SELECT throws_ok($$SELECT protector.leave_organization(org) FROM ids$$,
	'22023', 'an organization must keep at least one active owner',
	'the founder cannot leave while the other owner has not confirmed');
SELECT is(tests.error_text($$UPDATE protector.members SET role = 'admin' WHERE user_id = tests.get_supabase_uid('c_founder')$$),
	format('22023 | an organization must keep at least one active owner | Member %s is the last active owner of organization %s who confirmed the membership; the other owners have not confirmed theirs. | Another owner confirms their membership first (protector.confirm_membership).',
		   (SELECT m.id FROM protector.members m WHERE m.user_id = tests.get_supabase_uid('c_founder')), (SELECT org FROM ids)),
	'... nor step down to admin (the detail says why)');
SELECT throws_ok($$SELECT protector.deactivate_staff(m.id) FROM protector.members m WHERE m.user_id = tests.get_supabase_uid('c_founder')$$,
	'22023', 'an organization must keep at least one active owner', '... nor deactivate themselves');
RESET ROLE;
SELECT throws_ok($$DELETE FROM auth.users WHERE id = tests.get_supabase_uid('c_founder')$$,
	'22023', 'an organization must keep at least one active owner', '... nor delete their account');

-- 3. the pending owner may decline; their account goes whatever was made of it
SELECT tests.authenticate_as('c_victim');
SELECT lives_ok($$SELECT protector.leave_organization(org) FROM ids$$, 'the pending owner leaves');
SELECT is(pg_temp.confirmed('c_victim'), NULL, '... and is no member');
SELECT tests.authenticate_as('c_founder');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT org, tests.get_supabase_uid('c_victim'), 'owner' FROM ids;
RESET ROLE;
SELECT lives_ok($$DELETE FROM auth.users WHERE id = tests.get_supabase_uid('c_victim')$$,
	'added again, the pending owner deletes their account');
SELECT is((SELECT count(*) FROM protector.members m JOIN ids ON m.organization_id = ids.org WHERE m.role = 'owner'), 1::bigint,
	'... and the founder is the owner again');

-- 4. a member confirms, once; then the founder may go
SELECT tests.create_supabase_user('c_heir') \g /dev/null
SELECT tests.authenticate_as('c_founder');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT org, tests.get_supabase_uid('c_heir'), 'owner' FROM ids;
SELECT tests.authenticate_as('c_heir');
CREATE TEMP TABLE first_confirmation AS SELECT protector.confirm_membership(org, 'owner') AS at FROM ids;
SELECT isnt((SELECT at FROM first_confirmation), NULL, 'the heir confirms their membership');
SELECT is((SELECT protector.confirm_membership(org, 'owner') FROM ids), (SELECT at FROM first_confirmation),
	'confirming again changes nothing');
SELECT tests.authenticate_as('c_founder');
SELECT lives_ok($$SELECT protector.leave_organization(org) FROM ids$$, 'now the founder leaves');
RESET ROLE;
SELECT is((SELECT format('%s %s %s', a.action, a.member_id IS NULL, a.created_by = tests.get_supabase_uid('c_founder'))
		   FROM protector.staff_activity a JOIN ids ON a.organization_id = ids.org WHERE a.action = 'staff.invited'),
	'staff.invited t t', 'the founder''s entries keep their author when the membership goes');
SELECT tests.authenticate_as('c_heir');
SELECT throws_ok($$SELECT protector.leave_organization(org) FROM ids$$,
	'22023', 'an organization must keep at least one active owner', 'the heir, the last owner, cannot');

-- 5. confirmed as a viewer is not confirmed as an owner: made owner, or an
-- owner made active again, by someone else, a membership is pending again
SELECT tests.create_supabase_user('c_promoted') \g /dev/null
INSERT INTO protector.members (organization_id, user_id, role)
SELECT org, tests.get_supabase_uid('c_promoted'), 'viewer' FROM ids;
SELECT tests.authenticate_as('c_promoted');
SELECT protector.confirm_membership(org, 'viewer') FROM ids \g /dev/null
SELECT tests.authenticate_as('c_heir');
SELECT protector.update_staff_permissions(m.id, 'owner') FROM protector.members m
WHERE m.user_id = tests.get_supabase_uid('c_promoted') \g /dev/null
RESET ROLE;
SELECT is(pg_temp.confirmed('c_promoted'), 'pending', 'a confirmed viewer made owner is pending again');
SELECT tests.authenticate_as('c_heir');
SELECT throws_ok($$SELECT protector.leave_organization(org) FROM ids$$,
	'22023', 'an organization must keep at least one active owner', '... so the heir cannot leave them the organization');
SELECT tests.authenticate_as('c_promoted');
SELECT throws_ok($$SELECT protector.confirm_membership(org, 'viewer') FROM ids$$,
	'23P01', 'your membership has another role', 'confirming the viewer''s role they saw, they are told they are owner now');
SELECT protector.confirm_membership(org, 'owner') FROM ids \g /dev/null
SELECT tests.authenticate_as('c_heir');
SELECT protector.deactivate_staff(m.id) FROM protector.members m WHERE m.user_id = tests.get_supabase_uid('c_promoted') \g /dev/null
UPDATE protector.members SET active = true WHERE user_id = tests.get_supabase_uid('c_promoted');
RESET ROLE;
SELECT is(pg_temp.confirmed('c_promoted'), 'pending', 'a confirmed owner deactivated and made active again is pending again');
SELECT tests.authenticate_as('c_promoted');
SELECT protector.confirm_membership(org, 'owner') FROM ids \g /dev/null
UPDATE protector.members SET full_name = 'Pia' WHERE user_id = tests.get_supabase_uid('c_promoted');
RESET ROLE;
SELECT is(pg_temp.confirmed('c_promoted'), 'confirmed', 'other changes keep the confirmation');
DELETE FROM protector.members WHERE user_id = tests.get_supabase_uid('c_promoted');

-- 6. anyone leaves; nobody confirms or leaves what is not theirs
SELECT tests.authenticate_as('c_viewer');
SELECT lives_ok($$SELECT protector.leave_organization(org) FROM ids$$, 'a viewer leaves (they may not delete member rows)');
RESET ROLE;
SELECT is((SELECT format('%s %s %s', a.op, a.actor_uid = tests.get_supabase_uid('c_viewer'), a.actor_role)
		   FROM protector.audit_log a WHERE a.table_name = 'protector.members' AND a.op = 'DELETE'
			 AND a.old_row ->> 'user_id' = tests.get_supabase_uid('c_viewer')::text),
	'DELETE t authenticated', '... in the audit log, by them');
SELECT tests.authenticate_as('c_stranger');
SELECT throws_ok($$SELECT protector.confirm_membership(org, 'viewer') FROM ids$$,
	'P0002', 'membership not found', 'a stranger has no membership to confirm');
SELECT throws_ok($$SELECT protector.leave_organization(org) FROM ids$$,
	'P0002', 'membership not found', '... or to leave');
SELECT throws_ok($$SELECT protector.confirm_membership(NULL, 'viewer')$$,
	'22023', 'p_organization_id is required', 'an organization is required');
SELECT throws_ok($$SELECT protector.confirm_membership(org, NULL) FROM ids$$,
	'22023', 'p_role is required', '... and the role confirmed');
SELECT is(tests.error_text($$SELECT protector.confirm_membership(gen_random_uuid(), 'viewer')$$) ~ '^P0002 \| membership not found', true,
	'an organization that does not exist answers the same');

-- 7. trusted writers: an owner row given to another account is that
-- account's to confirm (the last confirmed owner's given away is refused);
-- a confirmation a backend took is recorded as given
SELECT tests.create_supabase_user('c_new') \g /dev/null
SELECT tests.authenticate_as_service_role();
SELECT throws_ok($$UPDATE protector.members SET user_id = tests.get_supabase_uid('c_new')
				   WHERE user_id = tests.get_supabase_uid('c_heir')$$,
	'22023', 'an organization must keep at least one active owner',
	'the last confirmed owner''s row is not handed to an account that never confirmed it');
UPDATE protector.members SET user_id = tests.get_supabase_uid('c_new'), confirmed_at = '2026-01-02 03:04:05+00'
WHERE user_id = tests.get_supabase_uid('c_heir');
RESET ROLE;
SELECT is(pg_temp.confirmed('c_new'), 'confirmed', '... but is with a confirmation the backend took');
SELECT tests.authenticate_as_service_role();
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
SELECT org, tests.get_supabase_uid('c_stranger'), 'owner', '2026-01-02 03:04:05+00' FROM ids;
RESET ROLE;
SELECT is(pg_temp.confirmed('c_stranger'), 'confirmed', 'service_role records a confirmation it took');
-- a pending owner counts as an owner where no confirmed owner is at stake:
-- an organization of pending owners keeps one of them
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a700000-0000-4000-8000-000000000000', 'P', 'consent-pending');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a700000-0000-4000-8000-000000000000', tests.get_supabase_uid('c_nora'), 'owner');
SELECT tests.authenticate_as('c_nora');
SELECT throws_ok($$SELECT protector.leave_organization('0a700000-0000-4000-8000-000000000000')$$,
	'22023', 'an organization must keep at least one active owner', 'the only owner, pending, stays the owner');
-- (an attack review) a membership made deactivated is not confirmed:
-- confirmed, it gave no access and its member could no longer decline it
SELECT tests.clear_authentication();
SELECT tests.create_supabase_user('c_idle') IS NOT NULL \g /dev/null
INSERT INTO protector.members (organization_id, user_id, role, active)
VALUES ('0a700000-0000-4000-8000-000000000000', tests.get_supabase_uid('c_idle'), 'agent', false);
SELECT tests.authenticate_as('c_idle');
SELECT throws_ok($$SELECT protector.confirm_membership('0a700000-0000-4000-8000-000000000000', 'agent')$$,
	'22023', 'your membership is deactivated', 'a deactivated membership is not confirmed by its member');
SELECT lives_ok($$SELECT protector.leave_organization('0a700000-0000-4000-8000-000000000000')$$,
	'... and its member declines it');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
