-- Edges of the organizations' and members' life found by an attack review:
-- 1. a deactivation withdraws the open invitations to the member's
--    sign-in address, not only to the e-mail written on their row (a
--    member added by account id has none): a fired agent with an open
--    invitation as admin deleted their account, the membership with it,
--    signed up again with the address and came back an admin;
-- 2. an owner's invitation is read by owners only, in its audit rows and
--    the staff activity too (admins read its address, name and role in
--    the audit log);
-- 3. a name of no-break or ideographic spaces is refused by the RPC,
--    naming its parameter.
BEGIN;
SELECT plan(9);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['le_owner', 'le_admin', 'le_agent']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a970000-0000-4000-8000-000000000000', 'Life', 'life-edges');
INSERT INTO protector.members (id, organization_id, user_id, role, confirmed_at) VALUES
	('0a970000-0000-4000-8000-0000000000e1', '0a970000-0000-4000-8000-000000000000', tests.get_supabase_uid('le_owner'), 'owner', now()),
	('0a970000-0000-4000-8000-0000000000e2', '0a970000-0000-4000-8000-000000000000', tests.get_supabase_uid('le_admin'), 'admin', now()),
	-- added by account id: no e-mail on the row
	('0a970000-0000-4000-8000-0000000000e3', '0a970000-0000-4000-8000-000000000000', tests.get_supabase_uid('le_agent'), 'agent', now());

-- 1. the agent's sign-in address is le_agent@test.invalid
SELECT tests.authenticate_as('le_owner');
SELECT is(protector.create_staff_member('0a970000-0000-4000-8000-000000000000', 'le_agent@test.invalid', 'admin') ->> 'role',
	'admin', 'an invitation as admin to the agent''s address (a member already: it stays open)');
SELECT protector.deactivate_staff('0a970000-0000-4000-8000-0000000000e3', 'fired') IS NOT NULL AS fired \gset
SELECT tests.clear_authentication();
SELECT is((SELECT count(*) FROM protector.staff_invitations WHERE email_key = 'le_agent@test.invalid' AND accepted_at IS NULL),
	0::bigint, 'the agent fired, the invitation to their sign-in address goes (their row has no e-mail)');

-- 2. an owner's invitation and an operator's
SELECT tests.authenticate_as('le_owner');
SELECT protector.create_staff_member('0a970000-0000-4000-8000-000000000000', 'heir@x.invalid', 'owner', 'Secret Heir') IS NOT NULL AS heir \gset
SELECT protector.create_staff_member('0a970000-0000-4000-8000-000000000000', 'desk@x.invalid', 'operator') IS NOT NULL AS desk \gset
SELECT is((SELECT count(*) FROM protector.get_audit_logs('protector.staff_invitations'::regclass)
		   WHERE new_row ->> 'email' = 'heir@x.invalid'), 1::bigint, 'an owner reads an owner''s invitation in the audit log');
SELECT tests.authenticate_as('le_admin');
SELECT is((SELECT count(*) FROM protector.get_audit_logs('protector.staff_invitations'::regclass)
		   WHERE 'owner' IN (new_row ->> 'role', old_row ->> 'role')), 0::bigint,
	'an admin, who does not see owners'' invitations, reads none of their audit rows');
SELECT is((SELECT count(*) FROM protector.get_audit_logs('protector.staff_invitations'::regclass)
		   WHERE new_row ->> 'email' = 'desk@x.invalid'), 1::bigint, '... and reads an operator''s invitation''s');
SELECT is((SELECT count(*) FROM protector.staff_activity WHERE action = 'staff.invited' AND details ->> 'role' = 'owner'), 0::bigint,
	'... nor the owner''s invitation in the staff activity');
SELECT is((SELECT count(*) FROM protector.staff_activity WHERE action = 'staff.invited' AND details ->> 'role' = 'operator'), 1::bigint,
	'... where the operator''s shows');

-- 3. blank names
SELECT tests.authenticate_as('le_owner');
SELECT is(split_part(tests.error_text(format($$SELECT protector.create_organization(%L, 'blank-ideographic')$$, chr(12288))), ' | ', 2),
	'p_name must be 1 to 200 characters', 'an organization named with an ideographic space is refused, naming p_name');
SELECT is(split_part(tests.error_text(format($$SELECT protector.create_staff_member('0a970000-0000-4000-8000-000000000000', 'a@x.invalid', 'viewer', %L)$$,
											 chr(160) || chr(160))), ' | ', 2),
	'p_full_name must be 1 to 200 characters', '... and an invitee named with no-break spaces, naming p_full_name');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
