-- A hold that ran out holds nothing, swept or not (an attack review): an
-- agent's expired hold, not yet cancelled by expire_holds, kept the
-- shift under it from being deleted ("would be left without a shift")
-- and counted in get_staff_schedule's assigned bookings.
BEGIN;
SELECT plan(5);
SET LOCAL timezone = 'UTC';

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['eh_manager', 'eh_agent']) u;
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES ('0a987000-0000-4000-8000-000000000000', 'Holds', 'expired-hold-agents', 'UTC');
INSERT INTO protector.members (id, organization_id, user_id, role, confirmed_at) VALUES
	('0a987000-0000-4000-8000-0000000000e1', '0a987000-0000-4000-8000-000000000000', tests.get_supabase_uid('eh_manager'), 'manager', now()),
	('0a987000-0000-4000-8000-0000000000e2', '0a987000-0000-4000-8000-000000000000', tests.get_supabase_uid('eh_agent'), 'agent', now());
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a987000-0000-4000-8000-0000000000a1', '0a987000-0000-4000-8000-000000000000', 'HQ', 'UTC');
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
VALUES ('0a987000-0000-4000-8000-000000000000', '0a987000-0000-4000-8000-0000000000e2', '0a987000-0000-4000-8000-0000000000a1');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a987000-0000-4000-8000-0000000005a1', '0a987000-0000-4000-8000-000000000000', '0a987000-0000-4000-8000-0000000000a1',
		'Escort', '1 hour', '60 minutes', '30 days', 10, 4, 'shared');
-- a shift the day after tomorrow 08:00-20:00, two of the agent's holds in it
INSERT INTO protector.staff_shifts (id, organization_id, member_id, venue_id, during)
VALUES ('0a987000-0000-4000-8000-0000000000f1', '0a987000-0000-4000-8000-000000000000', '0a987000-0000-4000-8000-0000000000e2',
		'0a987000-0000-4000-8000-0000000000a1',
		tstzrange(date_trunc('day', now()) + interval '2 days 8 hours', date_trunc('day', now()) + interval '2 days 20 hours'));
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, hold_expires_at, assigned_agent)
SELECT ('0a987000-0000-4000-8000-0000000000b' || n)::uuid, '0a987000-0000-4000-8000-000000000000', '0a987000-0000-4000-8000-0000000000a1',
	   '0a987000-0000-4000-8000-0000000005a1',
	   tstzrange(date_trunc('day', now()) + interval '2 days 10 hours' + n * interval '1 hour',
				 date_trunc('day', now()) + interval '2 days 11 hours' + n * interval '1 hour'),
	   'held', now() + interval '10 minutes', tests.get_supabase_uid('eh_agent')
FROM generate_series(1, 2) n;
-- the first hold ran out (no sweep has run)
UPDATE protector.bookings SET hold_expires_at = now() - interval '1 minute' WHERE id = '0a987000-0000-4000-8000-0000000000b1';

SELECT tests.authenticate_as('eh_manager');
SELECT is((SELECT assigned_bookings FROM protector.get_staff_schedule('0a987000-0000-4000-8000-0000000000a1',
																	   (date_trunc('week', now() + interval '2 days'))::date)),
	1, 'the agent''s schedule counts the live hold, not the one that ran out');
SELECT throws_ok($$DELETE FROM protector.staff_shifts WHERE id = '0a987000-0000-4000-8000-0000000000f1'$$, '23P01', NULL,
	'the shift under the live hold is not deleted');
SELECT tests.clear_authentication();
UPDATE protector.bookings SET status = 'cancelled', cancelled_at = now() WHERE id = '0a987000-0000-4000-8000-0000000000b2';
SELECT tests.authenticate_as('eh_manager');
SELECT lives_ok($$DELETE FROM protector.staff_shifts WHERE id = '0a987000-0000-4000-8000-0000000000f1'$$,
	'... with only the hold that ran out under it, it is (that hold holds nothing)');
SELECT is((SELECT count(*)::int FROM protector.staff_shifts WHERE id = '0a987000-0000-4000-8000-0000000000f1'), 0, '... and gone');
-- ... and the hold that ran out, confirmed by staff now, is checked as a
-- booking that becomes active again: its agent has no shift left
SELECT tests.clear_authentication();
SELECT throws_ok($$UPDATE protector.bookings SET status = 'confirmed', hold_expires_at = NULL
				   WHERE id = '0a987000-0000-4000-8000-0000000000b1'$$, '23P01', NULL,
	'a hold that ran out, confirmed once its agent''s shift is gone, is refused (its agent is not on shift)');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
