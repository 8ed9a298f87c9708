-- protector_internal.lock_agent, which a booking's agent is looked up and
-- locked with (test/concurrency/leaving_agents.sh shows the lock: a member
-- leaving at that moment is waited for, then not found): it answers those
-- who see the staff list, and tells nobody else whether someone is a member.
BEGIN;
SELECT plan(6);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['l_operator', 'l_agent', 'l_outsider']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a730000-0000-4000-8000-000000000000', 'L', 'agent-lookups');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a730000-0000-4000-8000-000000000000', tests.get_supabase_uid('l_operator'), 'operator'),
	('0a730000-0000-4000-8000-000000000000', tests.get_supabase_uid('l_agent'), 'agent');

SELECT tests.authenticate_as('l_operator');
SELECT is(protector_internal.lock_agent('0a730000-0000-4000-8000-000000000000', tests.get_supabase_uid('l_agent')), true,
	'the desk (members.read) finds a member');
SELECT is(protector_internal.lock_agent('0a730000-0000-4000-8000-000000000000', tests.get_supabase_uid('l_outsider')), false,
	'... and not someone who is none');
SELECT tests.authenticate_as('l_agent');
SELECT throws_ok($$SELECT protector_internal.lock_agent('0a730000-0000-4000-8000-000000000000', tests.get_supabase_uid('l_operator'))$$,
	'42501', NULL, 'an agent (no members.read) is refused');
SELECT tests.authenticate_as('l_outsider');
SELECT throws_ok($$SELECT protector_internal.lock_agent('0a730000-0000-4000-8000-000000000000', tests.get_supabase_uid('l_operator'))$$,
	'P0002', 'organization not found', 'someone outside is told the organization is not found ...');
SELECT throws_ok($$SELECT protector_internal.lock_agent('0a730000-0000-4000-8000-0000000000ff', tests.get_supabase_uid('l_operator'))$$,
	'P0002', 'organization not found', '... as for one that does not exist');
SELECT tests.clear_authentication();
SELECT is(protector_internal.lock_agent('0a730000-0000-4000-8000-000000000000', tests.get_supabase_uid('l_agent')), true,
	'a trusted role is answered');

SELECT * FROM finish();
ROLLBACK;
