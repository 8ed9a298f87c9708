-- Shifts and the bookings they cover, and the review task of a booking of
-- history (an attack review of staff):
--  - a shift change answers for the bookings at its venue: an agent's
--    booking at another venue with no shift (assigned while
--    staff.require_shifts was false) blocked every change of their
--    overlapping shift ("would be left without a shift"), and the hint's
--    way out (a shift covering it) overlapped that very shift; one
--    statement removing two shifts that cover a booking together is still
--    refused (a review of the first fix, which asked whether each shift
--    alone had covered it, let it through);
--  - a booking that has ended may name an agent whose role sees no tasks
--    (history, an import); its review task went to them, open, where they
--    could never see it. It is the desk's now, also when such a booking
--    is handed to them.
BEGIN;
SELECT plan(12);
SET LOCAL timezone = 'UTC';

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['sc_manager', 'sc_agent', 'sc_finance']) u;
INSERT INTO protector.organizations (id, name, slug, timezone, settings) VALUES
	('0a994000-0000-4000-8000-000000000000', 'Shifts', 'shift-coverage', 'UTC', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (id, organization_id, user_id, role, full_name, confirmed_at) VALUES
	('0a994000-0000-4000-8000-0000000000e1', '0a994000-0000-4000-8000-000000000000', tests.get_supabase_uid('sc_manager'), 'owner', 'Manager', now()),
	('0a994000-0000-4000-8000-0000000000e2', '0a994000-0000-4000-8000-000000000000', tests.get_supabase_uid('sc_agent'), 'agent', 'Agent', now()),
	('0a994000-0000-4000-8000-0000000000e3', '0a994000-0000-4000-8000-000000000000', tests.get_supabase_uid('sc_finance'), 'finance', 'Fin', now());
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a994000-0000-4000-8000-0000000000a1', '0a994000-0000-4000-8000-000000000000', 'HQ', 'UTC'),
	('0a994000-0000-4000-8000-0000000000a2', '0a994000-0000-4000-8000-000000000000', 'Annex', 'UTC');
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
SELECT '0a994000-0000-4000-8000-000000000000', '0a994000-0000-4000-8000-0000000000e2', v
FROM unnest('{0a994000-0000-4000-8000-0000000000a1,0a994000-0000-4000-8000-0000000000a2}'::uuid[]) v;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a994000-0000-4000-8000-0000000005a1', '0a994000-0000-4000-8000-000000000000', '0a994000-0000-4000-8000-0000000000a1',
		'Room', '2 hours', '60 minutes', '400 days', 10, 4, 'shared');

-- with the rule off: the agent's HQ booking at 10:00-12:00 in two days,
-- no shift under it; a shift at the Annex 09:00-18:00 that day
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
VALUES ('0a994000-0000-4000-8000-0000000000b1', '0a994000-0000-4000-8000-000000000000', '0a994000-0000-4000-8000-0000000000a1',
		'0a994000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '2 days 10 hours', date_trunc('day', now()) + interval '2 days 12 hours'),
		'confirmed', tests.get_supabase_uid('sc_agent'));
INSERT INTO protector.staff_shifts (id, organization_id, member_id, venue_id, during)
VALUES ('0a994000-0000-4000-8000-0000000000f1', '0a994000-0000-4000-8000-000000000000', '0a994000-0000-4000-8000-0000000000e2',
		'0a994000-0000-4000-8000-0000000000a2',
		tstzrange(date_trunc('day', now()) + interval '2 days 9 hours', date_trunc('day', now()) + interval '2 days 18 hours'));
-- the rule on again
UPDATE protector.organizations SET settings = '{}' WHERE id = '0a994000-0000-4000-8000-000000000000';

SELECT tests.authenticate_as('sc_manager');
SELECT lives_ok($$UPDATE protector.staff_shifts
				  SET during = tstzrange(date_trunc('day', now()) + interval '2 days 9 hours', date_trunc('day', now()) + interval '2 days 17 hours')
				  WHERE id = '0a994000-0000-4000-8000-0000000000f1'$$,
	'an Annex shift over the time of an HQ booking it never covered is shortened');
SELECT lives_ok($$DELETE FROM protector.staff_shifts WHERE id = '0a994000-0000-4000-8000-0000000000f1'$$,
	'... and deleted');
-- now the HQ booking gets its shift, 09:00-13:00; it holds the shift
SELECT lives_ok($$SELECT protector.create_staff_schedule('0a994000-0000-4000-8000-0000000000e2', '0a994000-0000-4000-8000-0000000000a1',
				  date_trunc('day', now()) + interval '2 days 9 hours', date_trunc('day', now()) + interval '2 days 13 hours')$$,
	'the shift the hint asks for is made at HQ');
SELECT throws_ok($$UPDATE protector.staff_shifts
				   SET during = tstzrange(date_trunc('day', now()) + interval '2 days 9 hours', date_trunc('day', now()) + interval '2 days 11 hours')
				   WHERE venue_id = '0a994000-0000-4000-8000-0000000000a1'$$,
	'23P01', NULL, 'a shift that covered the booking is not shortened under it');
SELECT throws_ok($$DELETE FROM protector.staff_shifts WHERE venue_id = '0a994000-0000-4000-8000-0000000000a1'$$,
	'23P01', NULL, '... nor deleted');
SELECT tests.clear_authentication();
-- two shifts back to back, 13:00-15:00 and 15:00-17:00, under a booking
-- 14:00-16:00: one statement removing both is refused
UPDATE protector.organizations SET settings = '{"staff": {"require_shifts": false}}' WHERE id = '0a994000-0000-4000-8000-000000000000';
INSERT INTO protector.staff_shifts (id, organization_id, member_id, venue_id, during)
SELECT ('0a994000-0000-4000-8000-0000000000f' || n)::uuid, '0a994000-0000-4000-8000-000000000000', '0a994000-0000-4000-8000-0000000000e2',
	   '0a994000-0000-4000-8000-0000000000a1',
	   tstzrange(date_trunc('day', now()) + interval '2 days 11 hours' + n * interval '2 hours',
				 date_trunc('day', now()) + interval '2 days 13 hours' + n * interval '2 hours')
FROM generate_series(1, 2) n;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
VALUES ('0a994000-0000-4000-8000-0000000000b2', '0a994000-0000-4000-8000-000000000000', '0a994000-0000-4000-8000-0000000000a1',
		'0a994000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '2 days 14 hours', date_trunc('day', now()) + interval '2 days 16 hours'),
		'confirmed', tests.get_supabase_uid('sc_agent'));
UPDATE protector.organizations SET settings = '{}' WHERE id = '0a994000-0000-4000-8000-000000000000';
SELECT tests.authenticate_as('sc_manager');
SELECT throws_ok($$DELETE FROM protector.staff_shifts
				   WHERE id IN ('0a994000-0000-4000-8000-0000000000f1', '0a994000-0000-4000-8000-0000000000f2')$$,
	'23P01', NULL, 'two shifts covering a booking together are not deleted in one statement');
SELECT tests.clear_authentication();

-- an import of history: two bookings that ended an hour ago, one with the
-- finance member as its agent, one with the agent
UPDATE protector.organizations SET settings = '{"staff": {"require_shifts": false}}' WHERE id = '0a994000-0000-4000-8000-000000000000';
SELECT tests.authenticate_as_service_role();
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
SELECT ('0a994000-0000-4000-8000-0000000000c' || n)::uuid, '0a994000-0000-4000-8000-000000000000', '0a994000-0000-4000-8000-0000000000a1',
	   '0a994000-0000-4000-8000-0000000005a1',
	   tstzrange(date_trunc('hour', now()) - interval '3 hours', date_trunc('hour', now()) - interval '1 hour'),
	   'confirmed', tests.get_supabase_uid(u)
FROM (VALUES (1, 'sc_finance'), (2, 'sc_agent')) v(n, u);
SELECT tests.clear_authentication();
SELECT is((SELECT status || ' ' || COALESCE(assignee::text, 'desk') FROM protector.tasks
		   WHERE booking_id = '0a994000-0000-4000-8000-0000000000c1' AND kind = 'booking_review'),
	'open desk', 'the review task of a past booking whose agent is in finance is the desk''s');
SELECT is((SELECT assignee FROM protector.tasks
		   WHERE booking_id = '0a994000-0000-4000-8000-0000000000c2' AND kind = 'booking_review'),
	tests.get_supabase_uid('sc_agent'), '... one whose agent sees tasks is the agent''s, as before');
SELECT is((SELECT count(*)::int FROM protector.tasks t JOIN protector.members m ON m.user_id = t.assignee
		   WHERE t.organization_id = '0a994000-0000-4000-8000-000000000000' AND m.role = 'finance'),
	0, 'no task is assigned to the finance member');
-- a booking not ended still refuses such an agent (agent_shift_check)
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, assigned_agent)
				   VALUES ('0a994000-0000-4000-8000-000000000000', '0a994000-0000-4000-8000-0000000000a1', '0a994000-0000-4000-8000-0000000005a1',
						   tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 12 hours'),
						   'confirmed', tests.get_supabase_uid('sc_finance'))$$,
	'22023', 'the agent''s role sees no tasks', 'a booking ahead is not given the finance member as its agent');
-- a past booking with an open task handed to the finance member by a
-- trusted caller: its task goes to the desk (the task's check refused the
-- whole handover, "the assignee's role sees no tasks"; a workflow review)
SELECT tests.authenticate_as_service_role();
SELECT lives_ok($$UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('sc_finance')
				  WHERE id = '0a994000-0000-4000-8000-0000000000c2'$$,
	'a trusted caller hands a past booking with an open task to the finance member');
SELECT tests.clear_authentication();
SELECT is((SELECT status || ' ' || COALESCE(assignee::text, 'desk') FROM protector.tasks
		   WHERE booking_id = '0a994000-0000-4000-8000-0000000000c2' AND kind = 'booking_review'),
	'open desk', '... and its open review task is the desk''s');

SELECT * FROM finish();
ROLLBACK;
