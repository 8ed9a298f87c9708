-- An agent cannot learn who is a member by assigning tasks
-- (sql/81_staff.sql, check_task_assignee and check_task_reassignment):
-- agents only update the tasks assigned to them, so a task they insert or
-- hand to someone else is refused by the policy or by
-- restrict_update_columns, the same way whoever they name: an active
-- member, a deactivated one, or nobody.  The assignee check ran first, and
-- answered "<e-mail> is no active member" (23P01) for a deactivated
-- member, "assignee not found" (P0002) for a stranger, and locked the
-- member's row.  Staff who assign tasks are still told, also that finance
-- and viewers are given no tasks (their roles see none).
BEGIN;
SELECT plan(15);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['ap_owner', 'ap_agent', 'ap_gone', 'ap_finance', 'ap_viewer']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a800000-0000-4000-8000-000000000000', 'Probe', 'assignee-probe');
INSERT INTO protector.members (organization_id, user_id, role, email, active) VALUES
	('0a800000-0000-4000-8000-000000000000', tests.get_supabase_uid('ap_owner'), 'owner', 'owner@example.org', true),
	('0a800000-0000-4000-8000-000000000000', tests.get_supabase_uid('ap_agent'), 'agent', 'agent@example.org', true),
	('0a800000-0000-4000-8000-000000000000', tests.get_supabase_uid('ap_gone'), 'manager', 'private.person@example.org', false),
	('0a800000-0000-4000-8000-000000000000', tests.get_supabase_uid('ap_finance'), 'finance', 'finance@example.org', true),
	('0a800000-0000-4000-8000-000000000000', tests.get_supabase_uid('ap_viewer'), 'viewer', 'viewer@example.org', true);
INSERT INTO protector.tasks (id, organization_id, title, assignee) VALUES
	('0a800000-0000-4000-8000-0000000007a1', '0a800000-0000-4000-8000-000000000000', 'Mine', tests.get_supabase_uid('ap_agent'));

CREATE FUNCTION pg_temp.state(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE p_sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;

SELECT tests.authenticate_as('ap_agent');
SELECT is(pg_temp.state(format($$INSERT INTO protector.tasks (organization_id, title, assignee)
	VALUES ('0a800000-0000-4000-8000-000000000000', 'x', %L)$$, u)), '42501',
	format('an agent inserting a task for %s is refused by the policy (42501)', who))
FROM (VALUES (tests.get_supabase_uid('ap_gone'), 'a deactivated member'), (tests.get_supabase_uid('ap_owner'), 'an active member'),
			 ('0a800000-0000-4000-8000-00000000dead'::uuid, 'nobody')) v(u, who);
SELECT is(pg_temp.state(format($$UPDATE protector.tasks SET assignee = %L WHERE id = '0a800000-0000-4000-8000-0000000007a1'$$, u)),
	'42501', format('an agent handing their task to %s is refused (42501)', who))
FROM (VALUES (tests.get_supabase_uid('ap_gone'), 'a deactivated member'), (tests.get_supabase_uid('ap_owner'), 'an active member'),
			 ('0a800000-0000-4000-8000-00000000dead'::uuid, 'nobody')) v(u, who);
SELECT lives_ok($$UPDATE protector.tasks SET status = 'done' WHERE id = '0a800000-0000-4000-8000-0000000007a1'$$,
	'the agent still completes their own task');

-- staff who assign are told
SELECT tests.authenticate_as('ap_owner');
SELECT throws_ok($$UPDATE protector.tasks SET assignee = tests.get_supabase_uid('ap_gone'), status = 'open'
	WHERE id = '0a800000-0000-4000-8000-0000000007a1'$$,
	'23P01', 'private.person@example.org is no active member', 'the owner assigning it to the deactivated member is told why');
SELECT throws_ok($$INSERT INTO protector.tasks (organization_id, title, assignee)
	VALUES ('0a800000-0000-4000-8000-000000000000', 'x', '0a800000-0000-4000-8000-00000000dead')$$,
	'P0002', 'assignee not found', '... and naming nobody');

-- a task goes to someone whose role sees tasks (the map's tasks.read or
-- tasks.assigned): finance and viewers saw none of theirs, and were
-- credited with them in the staff reports
SELECT throws_ok(format($$INSERT INTO protector.tasks (organization_id, title, assignee)
	VALUES ('0a800000-0000-4000-8000-000000000000', 'x', %L)$$, tests.get_supabase_uid(u)),
	'22023', 'the assignee''s role sees no tasks', format('a task for a %s member is refused', r))
FROM (VALUES ('ap_finance', 'finance'), ('ap_viewer', 'viewer')) v(u, r);
SELECT lives_ok($$INSERT INTO protector.tasks (organization_id, title, assignee)
	VALUES ('0a800000-0000-4000-8000-000000000000', 'x', tests.get_supabase_uid('ap_agent'))$$, 'a task for the agent is taken');

-- a booking's agent is given its review task: one whose role sees no
-- tasks is refused (the workflow wrote the task past the check); an agent
-- made a viewer after the hold leaves the task to the desk, and the hold
-- is still confirmed
RESET ROLE;
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a800000-0000-4000-8000-0000000000a1', '0a800000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0a800000-0000-4000-8000-0000000005a1', '0a800000-0000-4000-8000-000000000000', '0a800000-0000-4000-8000-0000000000a1',
		'Ride', '60 minutes', '60 minutes', '400 days', 10, 'shared');
UPDATE protector.organizations SET settings = '{"staff": {"require_shifts": false}}' WHERE id = '0a800000-0000-4000-8000-000000000000';
SELECT tests.authenticate_as('ap_owner');
SELECT throws_ok($$SELECT protector.create_booking('0a800000-0000-4000-8000-0000000005a1', NULL,
	date_trunc('hour', now()) + interval '3 days', p_assigned_agent => tests.get_supabase_uid('ap_viewer'))$$,
	'22023', 'the agent''s role sees no tasks', 'a viewer is not made a booking''s agent');
CREATE TEMP TABLE h AS SELECT (protector.create_booking('0a800000-0000-4000-8000-0000000005a1', NULL,
	date_trunc('hour', now()) + interval '4 days', p_assigned_agent => tests.get_supabase_uid('ap_agent'), p_hold_minutes => 30) ->> 'id')::uuid AS id;
RESET ROLE;
UPDATE protector.members SET role = 'viewer' WHERE user_id = tests.get_supabase_uid('ap_agent');
SELECT tests.authenticate_as('ap_owner');
SELECT is((SELECT protector.confirm_booking(h.id) ->> 'status' FROM h), 'confirmed',
	'the agent made a viewer since the hold: it is still confirmed');
SELECT is((SELECT t.assignee FROM protector.tasks t, h WHERE t.booking_id = h.id AND t.kind = 'booking_review'), NULL,
	'... its review task left to the desk');

SELECT * FROM finish();
ROLLBACK;
