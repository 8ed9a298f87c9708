-- protector_internal.lock_agent, which a booking's agent is looked up and
-- locked with (test/concurrency/leaving_agents.sh shows the lock: a member
-- leaving at that moment is waited for, then not found): it answers those
-- who see the staff list, and tells nobody else whether someone is a member.
-- An application's function running as protector's owner is trusted, as
-- before: it books with an agent for whoever calls it.
BEGIN;
SELECT plan(8);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['l_operator', 'l_agent', 'l_outsider']) u;
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('0a730000-0000-4000-8000-000000000000', 'L', 'agent-lookups', '{"staff": {"require_shifts": false}}');
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


-- an application's SECURITY DEFINER function, owned by protector's owner
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a730000-0000-4000-8000-0000000000a1', '0a730000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0a730000-0000-4000-8000-0000000005a1', '0a730000-0000-4000-8000-000000000000', '0a730000-0000-4000-8000-0000000000a1',
		'S', '60 minutes', '60 minutes', '400 days', 10, 'shared');
CREATE FUNCTION pg_temp.book_with_agent(p_agent uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
	RETURN protector.create_booking('0a730000-0000-4000-8000-0000000005a1', NULL,
		date_trunc('day', now()) + interval '3 days 10 hours', p_assigned_agent => p_agent);
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.book_with_agent(uuid) TO authenticated;
SELECT tests.authenticate_as('l_outsider');
SELECT is(pg_temp.book_with_agent(tests.get_supabase_uid('l_agent')) ->> 'assigned_agent', tests.get_supabase_uid('l_agent')::text,
	'an application''s function running as protector''s owner books with an agent for whoever calls it');
SELECT throws_ok($$SELECT pg_temp.book_with_agent(tests.get_supabase_uid('l_outsider'))$$,
	'P0002', 'agent not found', '... and is told a non-member is no agent');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
