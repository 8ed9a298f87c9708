-- A member given a role that sees no tasks (finance, viewer) loses their
-- open tasks and the bookings assigned to them that have not ended, as a
-- deactivated member does, however the role is written
-- (release_on_role_change, sql/81_staff.sql): tasks and agents go only to
-- members whose role sees tasks, and a former agent made a viewer kept
-- their bookings, credited to them in staff reports.  History stays: a
-- done task, a booking that has ended.  Shifts stay.  Concurrency:
-- test/concurrency/leaving_agents.sh case 6.
BEGIN;
SELECT plan(14);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['rr_admin', 'rr_agent', 'rr_agent2', 'rr_agent3']) u;
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('0a860000-0000-4000-8000-000000000000', 'Roles', 'role-release', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (id, organization_id, user_id, role, full_name, confirmed_at) VALUES
	('0a860000-0000-4000-8000-0000000000e1', '0a860000-0000-4000-8000-000000000000', tests.get_supabase_uid('rr_admin'), 'admin', 'Ada', now()),
	('0a860000-0000-4000-8000-0000000000e2', '0a860000-0000-4000-8000-000000000000', tests.get_supabase_uid('rr_agent'), 'agent', 'Abe', now()),
	('0a860000-0000-4000-8000-0000000000e3', '0a860000-0000-4000-8000-000000000000', tests.get_supabase_uid('rr_agent2'), 'agent', 'Bea', now()),
	('0a860000-0000-4000-8000-0000000000e4', '0a860000-0000-4000-8000-000000000000', tests.get_supabase_uid('rr_agent3'), 'agent', 'Cy', now());
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a860000-0000-4000-8000-0000000000a1', '0a860000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, duration, slot_interval, max_advance, capacity, max_party)
VALUES ('0a860000-0000-4000-8000-0000000005a1', '0a860000-0000-4000-8000-000000000000', '0a860000-0000-4000-8000-0000000000a1',
		'S', 'shared', '60 minutes', '60 minutes', '400 days', 100, 6);
-- each agent: a booking to come, a booking that has ended (written
-- directly, as history), an open task and a done one
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, party_size, status, assigned_agent)
SELECT ('0a860000-0000-4000-8000-00000000b0' || n || k)::uuid, '0a860000-0000-4000-8000-000000000000',
	   '0a860000-0000-4000-8000-0000000000a1', '0a860000-0000-4000-8000-0000000005a1',
	   tstzrange(date_trunc('hour', now()) + (CASE k WHEN 1 THEN 48 ELSE -48 END + n) * interval '1 hour',
				 date_trunc('hour', now()) + (CASE k WHEN 1 THEN 49 ELSE -47 END + n) * interval '1 hour'),
	   2, CASE k WHEN 1 THEN 'confirmed' ELSE 'completed' END::protector.booking_status, tests.get_supabase_uid(u)
FROM (VALUES (1, 'rr_agent'), (2, 'rr_agent2'), (3, 'rr_agent3')) a(n, u), generate_series(1, 2) k;
INSERT INTO protector.tasks (id, organization_id, title, assignee, status)
SELECT ('0a860000-0000-4000-8000-0000000007' || n || k)::uuid, '0a860000-0000-4000-8000-000000000000', 'T',
	   tests.get_supabase_uid(u), CASE k WHEN 1 THEN 'open' ELSE 'done' END::protector.task_status
FROM (VALUES (1, 'rr_agent'), (2, 'rr_agent2'), (3, 'rr_agent3')) a(n, u), generate_series(1, 2) k;

CREATE FUNCTION pg_temp.work(p_user text) RETURNS text LANGUAGE sql AS $$
	SELECT format('bookings: %s to come, %s ended; tasks: %s open, %s done',
		(SELECT count(*) FROM protector.bookings b WHERE b.assigned_agent = tests.get_supabase_uid(p_user) AND b.status = 'confirmed'),
		(SELECT count(*) FROM protector.bookings b WHERE b.assigned_agent = tests.get_supabase_uid(p_user) AND b.status = 'completed'),
		(SELECT count(*) FROM protector.tasks t WHERE t.assignee = tests.get_supabase_uid(p_user) AND t.status <> 'done'),
		(SELECT count(*) FROM protector.tasks t WHERE t.assignee = tests.get_supabase_uid(p_user) AND t.status = 'done'))
$$;
-- (the bookings' own review tasks went to their agents as well)
SELECT is(pg_temp.work('rr_agent'), 'bookings: 1 to come, 1 ended; tasks: 2 open, 1 done', '(before: an agent''s work)');

SELECT tests.authenticate_as('rr_admin');
SELECT is(protector.update_staff_permissions('0a860000-0000-4000-8000-0000000000e2', 'viewer') ->> 'role', 'viewer',
	'an admin makes an agent a viewer');
SELECT is(pg_temp.work('rr_agent'), 'bookings: 0 to come, 1 ended; tasks: 0 open, 1 done',
	'... who loses the booking to come and the open tasks; what has ended stays theirs');
SELECT is((SELECT assigned_agent FROM protector.bookings WHERE id = '0a860000-0000-4000-8000-00000000b011'), NULL,
	'... the booking goes back to the desk');
SELECT is((SELECT count(*) FROM protector.tasks WHERE assignee IS NULL AND organization_id = '0a860000-0000-4000-8000-000000000000'
		   AND status <> 'done'), 2::bigint, '... as do its review task and the open task');
SELECT is(protector.update_staff_permissions('0a860000-0000-4000-8000-0000000000e3', 'operator') ->> 'role', 'operator',
	'an agent made an operator');
SELECT is(pg_temp.work('rr_agent2'), 'bookings: 1 to come, 1 ended; tasks: 2 open, 1 done',
	'... keeps everything (operators see tasks)');
UPDATE protector.members SET role = 'finance' WHERE id = '0a860000-0000-4000-8000-0000000000e4';
SELECT is(pg_temp.work('rr_agent3'), 'bookings: 0 to come, 1 ended; tasks: 0 open, 1 done',
	'a role written directly to the row (finance) releases the same');
SELECT is((SELECT details ->> 'to' FROM protector.staff_activity WHERE action = 'staff.role_changed'
		   AND details ->> 'member_id' = '0a860000-0000-4000-8000-0000000000e4'), 'finance',
	'... and the change is recorded');
-- a viewer made an agent again gets nothing back by itself, and may be given work
SELECT is(protector.update_staff_permissions('0a860000-0000-4000-8000-0000000000e2', 'agent') ->> 'role', 'agent',
	'the viewer made an agent again');
SELECT is(pg_temp.work('rr_agent'), 'bookings: 0 to come, 1 ended; tasks: 0 open, 1 done', '... gets nothing back by itself');
SELECT lives_ok($$UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('rr_agent')
	WHERE id = '0a860000-0000-4000-8000-00000000b011'$$, '... and may be given the booking again');
RESET ROLE;
-- an inactive member's role change releases nothing (they have nothing)
UPDATE protector.members SET active = false WHERE id = '0a860000-0000-4000-8000-0000000000e3';
SELECT is(pg_temp.work('rr_agent2'), 'bookings: 0 to come, 1 ended; tasks: 0 open, 1 done', '(a deactivation releases the operator''s work)');
UPDATE protector.members SET role = 'viewer' WHERE id = '0a860000-0000-4000-8000-0000000000e3';
SELECT is((SELECT role FROM protector.members WHERE id = '0a860000-0000-4000-8000-0000000000e3'), 'viewer'::protector.member_role,
	'an inactive member''s role changes');

SELECT * FROM finish();
ROLLBACK;
