-- Who may call the booking RPCs, exercised as PostgREST requests.
BEGIN;
SELECT plan(20);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['b_owner', 'b_manager', 'b_operator', 'b_agent',
	'b_viewer', 'b_customer', 'b_other', 'b_stranger']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a100000-0000-4000-8000-000000000000', 'A', 'access-a'),
	('0b100000-0000-4000-8000-000000000000', 'B', 'access-b');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a100000-0000-4000-8000-000000000000', tests.get_supabase_uid('b_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'manager', 'operator', 'agent', 'viewer']) r;
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0b100000-0000-4000-8000-000000000000', tests.get_supabase_uid('b_other'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a100000-0000-4000-8000-0000000000a1', '0a100000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party) VALUES
	('0a100000-0000-4000-8000-0000000005a1', '0a100000-0000-4000-8000-000000000000', '0a100000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days', 4, 4);
INSERT INTO protector.customers (id, organization_id, user_id, full_name) VALUES
	('0a100000-0000-4000-8000-00000000c001', '0a100000-0000-4000-8000-000000000000', tests.get_supabase_uid('b_customer'), 'Cora'),
	('0a100000-0000-4000-8000-00000000c002', '0a100000-0000-4000-8000-000000000000', NULL, 'Otto');
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '3 days' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int) TO authenticated;

SELECT tests.authenticate_as('b_manager');
SELECT is((protector.create_booking('0a100000-0000-4000-8000-0000000005a1', '0a100000-0000-4000-8000-00000000c002',
	pg_temp.t(10), 2) ->> 'status'), 'confirmed', 'a manager books for a customer');
SELECT is((SELECT count(*)::int FROM protector.get_available_slots('0a100000-0000-4000-8000-0000000005a1',
	(pg_temp.t(0))::date) WHERE slot_start = pg_temp.t(10)), 0, 'the booked slot is no longer offered');

SELECT tests.authenticate_as('b_customer');
SELECT is((protector.create_booking('0a100000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12), 1) ->> 'status'),
	'pending', 'a customer books for themselves (pending until staff confirm)');
SELECT throws_ok($$SELECT protector.create_booking('0a100000-0000-4000-8000-0000000005a1',
	'0a100000-0000-4000-8000-00000000c002', pg_temp.t(13), 1)$$, 'P0002', NULL,
	'a customer cannot book in someone else''s name');
SELECT throws_ok($$SELECT protector.create_booking('0a100000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12), 1)$$,
	'23P01', NULL, 'the slot taken by the customer is taken for everyone');
SELECT is((SELECT count(*)::int FROM protector.bookings), 1, 'the customer sees only their own booking');
SELECT throws_ok($$SELECT protector.confirm_booking(id) FROM protector.bookings$$, '22023', NULL,
	'a customer cannot confirm their own pending booking');
SELECT is((SELECT (protector.cancel_booking(id, 'changed plans') ->> 'status') FROM protector.bookings),
	'cancelled', 'a customer cancels their own booking');

SELECT tests.authenticate_as('b_operator');
SELECT is((protector.create_booking('0a100000-0000-4000-8000-0000000005a1',
	'0a100000-0000-4000-8000-00000000c002', pg_temp.t(14), 1, p_source => 'phone') ->> 'source'), 'phone',
	'an operator books a phone customer');
SELECT is((SELECT lower((protector.reschedule_booking(id, pg_temp.t(15)) ->> 'during')::tstzrange)
		   FROM protector.bookings WHERE lower(during) = pg_temp.t(14)), pg_temp.t(15),
	'... and reschedules it');
SELECT is((SELECT protector.update_booking_status_batch(array_agg(id), 'cancelled') ->> 'updated'
		   FROM protector.bookings WHERE lower(during) = pg_temp.t(15)), '1', 'an operator moves bookings along');

SELECT tests.authenticate_as('b_agent');
SELECT throws_ok($$SELECT protector.update_booking_status_batch(ARRAY(SELECT id FROM protector.bookings), 'completed')$$,
	'22023', NULL, 'an agent sees no unassigned bookings: an empty batch is refused');
SELECT throws_ok($$SELECT protector.update_booking_status_batch(ARRAY['0a100000-0000-4000-8000-0000000000ff'::uuid], 'completed')$$,
	'P0002', NULL, 'an agent cannot touch bookings not assigned to them');

SELECT tests.authenticate_as('b_viewer');
SELECT is((SELECT count(*)::int FROM protector.get_available_slots('0a100000-0000-4000-8000-0000000005a1', (pg_temp.t(0))::date)) > 0,
	true, 'a viewer sees availability (no personal data in it)');
SELECT throws_ok($$SELECT protector.create_booking('0a100000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(15), 1)$$,
	'42501', NULL, 'a viewer may not book');

SELECT tests.authenticate_as('b_other');
SELECT throws_ok($$SELECT * FROM protector.get_available_slots('0a100000-0000-4000-8000-0000000005a1', current_date)$$,
	'P0002', NULL, 'another organization cannot even see the service');
SELECT throws_ok($$SELECT protector.create_booking('0a100000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(15), 1)$$,
	'P0002', NULL, '... nor book it');

SELECT tests.authenticate_as('b_stranger');
SELECT throws_ok($$SELECT protector.cancel_booking(id) FROM (SELECT '0a100000-0000-4000-8000-0000000000ff'::uuid AS id) x$$,
	'P0002', NULL, 'a stranger gets "not found" for any booking');

SELECT tests.authenticate_as_anon();
SELECT throws_ok($$SELECT protector.create_booking('0a100000-0000-4000-8000-0000000005a1', NULL, now(), 1)$$,
	'42501', NULL, 'anon may not call create_booking');
SELECT throws_ok($$SELECT * FROM protector.get_available_slots('0a100000-0000-4000-8000-0000000005a1', current_date)$$,
	'42501', NULL, 'anon may not call get_available_slots (the widget will offer it by embed key)');

SELECT * FROM finish();
ROLLBACK;
