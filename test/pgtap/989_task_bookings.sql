-- A booking's task and the agents who may finish it (a review of the
-- rule that gives a booking's task to an agent only while the booking is
-- theirs, docs/workflow.md): a task moved to another agent's booking is
-- checked as a new one is; a member made an agent gives back the open
-- tasks of bookings not theirs.  And a late start of a booking in
-- progress is still recorded by the desk (the correction of a started
-- booking ends no later than it did or than now unless it keeps part of
-- its own time), and messages say "an in_progress booking".  Races with
-- a booking's handover: test/concurrency/task_handovers.sh.
BEGIN;
SELECT plan(7);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['t_owner', 't_operator', 't_manager', 't_ann', 't_ben']) u;
INSERT INTO protector.organizations (id, name, slug, timezone, settings)
VALUES ('0a989000-0000-4000-8000-000000000000', 'Task bookings', 'task-bookings', 'UTC', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role, full_name)
SELECT '0a989000-0000-4000-8000-000000000000', tests.get_supabase_uid('t_' || r), k::protector.member_role, initcap(r)
FROM unnest(ARRAY['owner', 'operator', 'manager', 'ann', 'ben'], ARRAY['owner', 'operator', 'manager', 'agent', 'agent']) u(r, k);
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a989000-0000-4000-8000-0000000000a1', '0a989000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a989000-0000-4000-8000-0000000005a1', '0a989000-0000-4000-8000-000000000000', '0a989000-0000-4000-8000-0000000000a1',
		'S', '60 minutes', '60 minutes', '400 days', 10, 4, 'shared');
-- b1 Ann's, b2 Ben's, b3 under way (started half an hour ago), nobody's
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent) VALUES
	('0a989000-0000-4000-8000-0000000000b1', '0a989000-0000-4000-8000-000000000000', '0a989000-0000-4000-8000-0000000000a1',
	 '0a989000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('hour', now()) + interval '3 days', date_trunc('hour', now()) + interval '3 days 1 hour'),
	 'confirmed', tests.get_supabase_uid('t_ann')),
	('0a989000-0000-4000-8000-0000000000b2', '0a989000-0000-4000-8000-000000000000', '0a989000-0000-4000-8000-0000000000a1',
	 '0a989000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('hour', now()) + interval '4 days', date_trunc('hour', now()) + interval '4 days 1 hour'),
	 'confirmed', tests.get_supabase_uid('t_ben')),
	('0a989000-0000-4000-8000-0000000000b3', '0a989000-0000-4000-8000-000000000000', '0a989000-0000-4000-8000-0000000000a1',
	 '0a989000-0000-4000-8000-0000000005a1', tstzrange(now() - interval '30 minutes', now() + interval '30 minutes'),
	 'in_progress', NULL);
INSERT INTO protector.tasks (id, organization_id, booking_id, title, assignee) VALUES
	('0a989000-0000-4000-8000-0000000000d1', '0a989000-0000-4000-8000-000000000000', '0a989000-0000-4000-8000-0000000000b1',
	 'Ann''s task', tests.get_supabase_uid('t_ann')),
	('0a989000-0000-4000-8000-0000000000d2', '0a989000-0000-4000-8000-000000000000', '0a989000-0000-4000-8000-0000000000b2',
	 'The manager''s task on Ben''s booking', tests.get_supabase_uid('t_manager'));

-- 1. a task moved to another agent's booking: checked (it stayed Ann's,
-- who could not finish it, on a booking Ben's)
SELECT tests.authenticate_as('t_operator');
SELECT throws_ok($$UPDATE protector.tasks SET booking_id = '0a989000-0000-4000-8000-0000000000b2'
				   WHERE id = '0a989000-0000-4000-8000-0000000000d1'$$,
	'22023', 'the assignee works only on the tasks of their own bookings',
	'Ann''s task moved to Ben''s booking: refused, as giving it to her there is');
SELECT lives_ok($$UPDATE protector.tasks SET title = 'Ann''s task (checked)' WHERE id = '0a989000-0000-4000-8000-0000000000d1'$$,
	'... while an edit of it that keeps its booking and assignee goes through');

-- 2. the manager made an agent: the open task of Ben's booking goes back
-- to the desk (they could finish none of it); one of their own stays
SELECT tests.authenticate_as('t_owner');
UPDATE protector.members SET role = 'agent'
WHERE organization_id = '0a989000-0000-4000-8000-000000000000' AND user_id = tests.get_supabase_uid('t_manager');
SELECT is((SELECT assignee FROM protector.tasks WHERE id = '0a989000-0000-4000-8000-0000000000d2'), NULL,
	'a member made an agent gives back the open task of a booking not theirs');
SELECT is((SELECT assignee FROM protector.tasks WHERE id = '0a989000-0000-4000-8000-0000000000d1'), tests.get_supabase_uid('t_ann'),
	'... and nobody else''s task moves');

-- 3. a late start recorded: the booking under way moved 15 minutes later
-- keeps part of its own time (yesterday's moved to now does not:
-- test/pgtap/260_booking_edges.sql)
SELECT tests.authenticate_as('t_operator');
SELECT lives_ok($$UPDATE protector.bookings SET during = tstzrange(lower(during) + interval '15 minutes', upper(during) + interval '15 minutes')
				  WHERE id = '0a989000-0000-4000-8000-0000000000b3'$$,
	'the desk records a late start of a booking in progress (15 minutes, its length kept)');
-- (and messages name its status with its article: "a in_progress")
SELECT throws_ok($$SELECT protector.confirm_booking('0a989000-0000-4000-8000-0000000000b3')$$,
	'22023', 'an in_progress booking cannot be confirmed', 'a booking in progress is not confirmed, and the message reads');
SELECT throws_ok($$UPDATE protector.bookings SET status = 'held' WHERE id = '0a989000-0000-4000-8000-0000000000b3'$$,
	'22023', 'an in_progress booking cannot become held', '... nor held again');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
