-- Memberships, as an attack review tried them:
-- 1. an owner may add any account by its id; deleting or deactivating
--    that membership withdrew the owner's own open invitations to the
--    account's sign-in address, so which of them went told the owner
--    another tenant's staff address (one guess per invitation); only a
--    membership its member confirmed now takes its sign-in address along;
-- 2. a sign-in activated every open invitation to the address in one go:
--    anyone may found organizations and invite any address, and 14,000
--    of them took Supabase Auth's hook past its 2-second
--    statement_timeout, whose cancellation the hook did not catch: the
--    sign-in failed; at most 100 a call now, the newest first, and a
--    cancellation is caught;
-- 3. a member who joined by an invitation and was deactivated before
--    confirming could never decline: their joining, which protector
--    records, counted as history of their own;
-- 4. an admin deleting themselves with others in one statement;
-- 5. what tells that writer from a fired one whose membership another
--    transaction deleted (membership_deleted_here): only a deletion by
--    this transaction counts, not one rolled back to a savepoint, not an
--    update (test/concurrency/invitation_races.sh has the race);
-- 6. an admin held an owner's membership locked through authorize_row's
--    p_lock with members.manage, which admins have: the owners' own
--    writes, which lock their rows, were told to retry for as long as the
--    admin liked.  Only members.manage_owners locks an owner's row;
-- 7. a shift written directly without a venue was told the member had
--    "no assignment to venue " (an empty id).
BEGIN;
SELECT plan(17);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['me_owner', 'me_victim', 'me_nina', 'me_flood']) u;
UPDATE auth.users SET email_confirmed_at = now();
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a986000-0000-4000-8000-000000000000', 'Attacker', 'member-edges-a'),
	('0a986000-0000-4000-8000-000000000001', 'Employer', 'member-edges-b');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at) VALUES
	('0a986000-0000-4000-8000-000000000000', tests.get_supabase_uid('me_owner'), 'owner', now()),
	('0a986000-0000-4000-8000-000000000001', tests.get_supabase_uid('me_victim'), 'agent', now());

-- 1. the attacker adds the victim's account by id, invites three guesses,
-- and deletes the membership; then again with a deactivation
SELECT tests.authenticate_as('me_owner');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a986000-0000-4000-8000-000000000000', tests.get_supabase_uid('me_victim'), 'viewer');
SELECT count(protector.create_staff_member('0a986000-0000-4000-8000-000000000000', e, 'viewer')) AS invited
FROM unnest('{alice@test.invalid,me_victim@test.invalid,bob@test.invalid}'::text[]) e \gset
DELETE FROM protector.members WHERE user_id = tests.get_supabase_uid('me_victim');
SELECT is((SELECT string_agg(email, ' ' ORDER BY email) FROM protector.staff_invitations WHERE accepted_at IS NULL),
	'alice@test.invalid bob@test.invalid me_victim@test.invalid',
	'a membership added by account id and deleted withdraws none of the owner''s invitations: the address is not told');
INSERT INTO protector.members (id, organization_id, user_id, role)
VALUES ('0a986000-0000-4000-8000-0000000000e1', '0a986000-0000-4000-8000-000000000000', tests.get_supabase_uid('me_victim'), 'viewer');
SELECT protector.deactivate_staff('0a986000-0000-4000-8000-0000000000e1') IS NOT NULL AS deactivated \gset
SELECT is((SELECT count(*)::int FROM protector.staff_invitations WHERE accepted_at IS NULL), 3,
	'... nor one deactivated');
SELECT tests.clear_authentication();

-- 2. 101 organizations invite the same address, the oldest invitation
-- first (minutes apart): a sign-in joins the newest 100, the next the last
INSERT INTO protector.organizations (id, name, slug)
SELECT ('0a986000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'Flood ' || n, 'member-edges-f' || n
FROM generate_series(100, 200) n;
INSERT INTO protector.staff_invitations (organization_id, email, role, created_at)
SELECT ('0a986000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'me_flood@test.invalid', 'viewer',
	   now() - (201 - n) * interval '1 minute'
FROM generate_series(100, 200) n;
SELECT is(protector.auth_access_token_hook(jsonb_build_object('user_id', tests.get_supabase_uid('me_flood'), 'claims', '{}'::jsonb))
		  ->> 'user_id', tests.get_supabase_uid('me_flood')::text, 'a sign-in with 101 open invitations goes through');
SELECT is((SELECT count(*)::int FROM protector.members WHERE user_id = tests.get_supabase_uid('me_flood')), 100,
	'... and joins 100 organizations');
SELECT is((SELECT organization_id FROM protector.staff_invitations WHERE email_key = 'me_flood@test.invalid' AND accepted_at IS NULL),
	'0a986000-0000-4000-8000-000000000100'::uuid, '... the newest: the oldest invitation is still open');
-- the 100 organizations invite the address again (newer, and to a member
-- already: they stay open); they held the window, and the oldest one was
-- never reached
INSERT INTO protector.staff_invitations (organization_id, email, role)
SELECT ('0a986000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'me_flood@test.invalid', 'viewer'
FROM generate_series(101, 200) n;
SELECT tests.authenticate_as('me_flood');
SELECT is(cardinality(protector.accept_staff_invitations()), 1,
	'... and accepting joins it, past 100 newer invitations to organizations it is a member of already');
SELECT tests.clear_authentication();
-- a hook that runs into Supabase Auth's statement_timeout (here a slow
-- membership insert) leaves the invitation open and the sign-in whole
CREATE FUNCTION pg_temp.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
CREATE TRIGGER zz_slow BEFORE INSERT ON protector.members FOR EACH ROW EXECUTE FUNCTION pg_temp.slow();
SELECT protector.create_staff_member('0a986000-0000-4000-8000-000000000000', 'me_nina@test.invalid', 'agent') IS NOT NULL AS invited \gset
SET LOCAL statement_timeout = '200ms';
SELECT is(protector.auth_access_token_hook(jsonb_build_object('user_id', tests.get_supabase_uid('me_nina'), 'claims', '{}'::jsonb))
		  ->> 'user_id', tests.get_supabase_uid('me_nina')::text,
	'a hook cancelled by its statement_timeout still returns the event: the sign-in goes through');
SET LOCAL statement_timeout = 0;
DROP TRIGGER zz_slow ON protector.members;
SELECT is((SELECT count(*)::int FROM protector.staff_invitations WHERE email_key = 'me_nina@test.invalid' AND accepted_at IS NULL), 1,
	'... and the invitation stays open for the next');

-- 3. Nina joins by the invitation (pending), is deactivated, and declines
SELECT protector.auth_access_token_hook(jsonb_build_object('user_id', tests.get_supabase_uid('me_nina'), 'claims', '{}'::jsonb))
	IS NOT NULL AS signed_in \gset
SELECT tests.authenticate_as('me_owner');
SELECT protector.deactivate_staff(id) IS NOT NULL AS deactivated FROM protector.members
WHERE user_id = tests.get_supabase_uid('me_nina') \gset
SELECT tests.authenticate_as('me_nina');
SELECT lives_ok($$SELECT protector.leave_organization('0a986000-0000-4000-8000-000000000000')$$,
	'a member who joined by an invitation and was deactivated before confirming declines it (their joining is no history of theirs)');
SELECT tests.clear_authentication();

-- 4. an admin deletes members, themselves among them, in one statement
-- (the writer's own row, gone first, was taken for "no member")
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
SELECT '0a986000-0000-4000-8000-000000000000', tests.get_supabase_uid(u), 'admin', now() FROM unnest(ARRAY['me_victim']) u
ON CONFLICT (organization_id, user_id) DO UPDATE SET role = 'admin', active = true, confirmed_at = now();
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a986000-0000-4000-8000-000000000000', tests.get_supabase_uid('me_flood'), 'agent');
SELECT tests.authenticate_as('me_victim');
SELECT lives_ok($$DELETE FROM protector.members WHERE organization_id = '0a986000-0000-4000-8000-000000000000' AND role IN ('admin', 'agent')$$,
	'an admin deleting admins and agents, themselves first, in one statement: done');
SELECT tests.clear_authentication();

-- 5. membership_deleted_here
SELECT tests.create_supabase_user('me_fifth');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at) VALUES
	('0a986000-0000-4000-8000-000000000000', tests.get_supabase_uid('me_fifth'), 'viewer', now());
UPDATE protector.members SET role = 'agent'
WHERE organization_id = '0a986000-0000-4000-8000-000000000000' AND user_id = tests.get_supabase_uid('me_fifth');
SELECT is(protector_internal.membership_deleted_here('0a986000-0000-4000-8000-000000000000', tests.get_supabase_uid('me_fifth')),
	false, 'a membership changed, not deleted, by this transaction: not deleted here');
SAVEPOINT gone;
DELETE FROM protector.members
WHERE organization_id = '0a986000-0000-4000-8000-000000000000' AND user_id = tests.get_supabase_uid('me_fifth');
ROLLBACK TO SAVEPOINT gone;
SELECT is(protector_internal.membership_deleted_here('0a986000-0000-4000-8000-000000000000', tests.get_supabase_uid('me_fifth')),
	false, 'a deletion rolled back to a savepoint: not deleted here');
DELETE FROM protector.members
WHERE organization_id = '0a986000-0000-4000-8000-000000000000' AND user_id = tests.get_supabase_uid('me_fifth');
SELECT is(protector_internal.membership_deleted_here('0a986000-0000-4000-8000-000000000000', tests.get_supabase_uid('me_fifth')),
	true, 'a deletion by this transaction: deleted here');

-- 6. authorize_row's lock of an owner's row
SELECT tests.create_supabase_user('me_admin6');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at) VALUES
	('0a986000-0000-4000-8000-000000000000', tests.get_supabase_uid('me_admin6'), 'admin', now()),
	('0a986000-0000-4000-8000-000000000000', tests.get_supabase_uid('me_fifth'), 'viewer', now());
SELECT id AS owner_member FROM protector.members
WHERE organization_id = '0a986000-0000-4000-8000-000000000000' AND user_id = tests.get_supabase_uid('me_owner') \gset
SELECT id AS viewer_member FROM protector.members
WHERE organization_id = '0a986000-0000-4000-8000-000000000000' AND user_id = tests.get_supabase_uid('me_fifth') \gset
SELECT tests.authenticate_as('me_admin6');
SELECT throws_ok(format($$SELECT protector_internal.authorize_row('protector.members', %L, 'members.manage', 'member', true)$$, :'owner_member'),
	'42501', 'your role may not manage owners', 'an admin may not lock an owner''s membership with members.manage');
SELECT lives_ok(format($$SELECT protector_internal.authorize_row('protector.members', %L, 'members.manage', 'member', true)$$, :'viewer_member'),
	'... and locks a viewer''s, whose row members.manage changes');
SELECT tests.authenticate_as('me_owner');
SELECT lives_ok(format($$SELECT protector_internal.authorize_row('protector.members', %L, 'members.manage', 'member', true)$$, :'owner_member'),
	'an owner locks an owner''s membership');
SELECT tests.clear_authentication();

-- 7. a shift without a venue
SELECT tests.authenticate_as('me_owner');
SELECT throws_ok(format($$INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during)
	VALUES ('0a986000-0000-4000-8000-000000000000', %L, NULL, tstzrange(now() + interval '1 day', now() + interval '1 day 2 hours'))$$,
	:'viewer_member'), '23502', NULL, 'a shift written without a venue is refused by its NOT NULL, naming the column');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
