-- Edges of availability found by an attack review:
-- 1. a booking that is over (completed, no-show) takes no time still to
--    come: an operator moved a completed booking to start a second ago,
--    and its hour then held the next slot for everyone (the rule checked
--    the start only); one completed early keeps the rest of its own time;
-- 2. a day "open" at special hours with an empty list of them was taken,
--    and then read as closed everywhere.
BEGIN;
SELECT plan(7);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['oc_admin', 'oc_operator']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a950000-0000-4000-8000-000000000000', 'Over', 'over-closed');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a950000-0000-4000-8000-000000000000', tests.get_supabase_uid('oc_' || r), r::protector.member_role
FROM unnest(ARRAY['admin', 'operator']) r;
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a950000-0000-4000-8000-0000000000a1', '0a950000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0a950000-0000-4000-8000-0000000005a1', '0a950000-0000-4000-8000-000000000000', '0a950000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '30 days', 1, 'exclusive');
-- b1 ran from 3 to 2 hours ago; b2 runs from 20 minutes ago for an hour,
-- completed early
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status) VALUES
	('0a950000-0000-4000-8000-0000000000b1', '0a950000-0000-4000-8000-000000000000', '0a950000-0000-4000-8000-0000000000a1',
	 '0a950000-0000-4000-8000-0000000005a1', tstzrange(now() - interval '3 hours', now() - interval '2 hours'), 'completed'),
	('0a950000-0000-4000-8000-0000000000b2', '0a950000-0000-4000-8000-000000000000', '0a950000-0000-4000-8000-0000000000a1',
	 '0a950000-0000-4000-8000-0000000005a1', tstzrange(now() - interval '20 minutes', now() + interval '40 minutes'), 'completed');

-- 1. over is over
SELECT tests.authenticate_as('oc_operator');
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(now() - interval '1 second', now() + interval '59 minutes 59 seconds')
				   WHERE id = '0a950000-0000-4000-8000-0000000000b1'$$,
	'22023', 'a completed booking cannot be moved to a time still to come',
	'an operator does not move a completed booking to end in the hour to come (its start a second ago)');
SELECT tests.authenticate_as('oc_admin');
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(now() - interval '2 hours', now() + interval '1 hour')
				   WHERE id = '0a950000-0000-4000-8000-0000000000b1'$$,
	'22023', 'a completed booking cannot be moved to a time still to come',
	'... nor does an admin stretch it into the hour to come');
UPDATE protector.bookings SET during = tstzrange(now() - interval '4 hours', now() - interval '3 hours')
WHERE id = '0a950000-0000-4000-8000-0000000000b1';
SELECT is((SELECT upper(during) FROM protector.bookings WHERE id = '0a950000-0000-4000-8000-0000000000b1'),
	now() - interval '3 hours', 'it is corrected within the past');
UPDATE protector.bookings SET during = tstzrange(now() - interval '25 minutes', now() + interval '35 minutes')
WHERE id = '0a950000-0000-4000-8000-0000000000b2';
SELECT is((SELECT upper(during) FROM protector.bookings WHERE id = '0a950000-0000-4000-8000-0000000000b2'),
	now() + interval '35 minutes', 'one completed early is moved within its own time, 5 minutes earlier');
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(now() - interval '15 minutes', now() + interval '45 minutes')
				   WHERE id = '0a950000-0000-4000-8000-0000000000b2'$$,
	'22023', 'a completed booking cannot be moved to a time still to come',
	'... not past its end');
SELECT tests.clear_authentication();

-- 2. special hours, none
SELECT throws_ok($$INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours)
				   VALUES ('0a950000-0000-4000-8000-000000000000', '0a950000-0000-4000-8000-0000000000a1', current_date + 7, false, '[]')$$,
	'22023', 'special_hours must be given when closed is false', 'a day open at an empty list of special hours is refused');
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours)
VALUES ('0a950000-0000-4000-8000-000000000000', '0a950000-0000-4000-8000-0000000000a1', current_date + 7, false, '[["10:00", "14:00"]]');
SELECT throws_ok($$UPDATE protector.venue_closures SET special_hours = '[]' WHERE closed_on = current_date + 7$$,
	'22023', 'special_hours must be given when closed is false', '... and so is emptying the list of a day open');

SELECT * FROM finish();
ROLLBACK;
