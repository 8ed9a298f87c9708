-- A signed-in customer booking and cancelling in a loop (an attack review
-- of staff operations: 300 rounds in 1.4 s left 600 desk notifications and
-- 300 review tasks; settings.customers.open_requests counts only bookings
-- still open): at most settings.customers.bookings_per_hour of their own
-- bookings in the last hour, cancelled ones included.
BEGIN;
SELECT plan(6);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['cr_owner', 'cr_customer']) u;
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('0a996000-0000-4000-8000-000000000000', 'Rate', 'customer-rate', '{"customers": {"bookings_per_hour": 3}}');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a996000-0000-4000-8000-000000000000', tests.get_supabase_uid('cr_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a996000-0000-4000-8000-0000000000a1', '0a996000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party)
VALUES ('0a996000-0000-4000-8000-0000000005a1', '0a996000-0000-4000-8000-000000000000', '0a996000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days', 1, 8);
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email) VALUES
	('0a996000-0000-4000-8000-00000000c001', '0a996000-0000-4000-8000-000000000000', tests.get_supabase_uid('cr_customer'), 'Cara', 'c@x.test');
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '5 days' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int) TO authenticated;
CREATE FUNCTION pg_temp.book_and_cancel(h int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE b jsonb;
BEGIN
	b := protector.create_booking('0a996000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(h));
	PERFORM protector.cancel_booking((b ->> 'id')::uuid, 'changed my mind');
	RETURN 'cancelled';
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.book_and_cancel(int) TO authenticated;

SELECT tests.authenticate_as('cr_customer');
SELECT is(pg_temp.book_and_cancel(10), 'cancelled', 'a customer books and cancels once ...');
SELECT is(pg_temp.book_and_cancel(11), 'cancelled', '... twice ...');
SELECT is(pg_temp.book_and_cancel(12), 'cancelled', '... three times');
SELECT throws_ok($$SELECT pg_temp.book_and_cancel(13)$$, '53400',
	'you have made too many bookings with this organization in the last hour',
	'a fourth booking within the hour is refused, although none is open');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.tasks WHERE organization_id = '0a996000-0000-4000-8000-000000000000'), 3,
	'three review tasks, not more');
-- the desk books for them still
SELECT tests.authenticate_as('cr_owner');
SELECT is(protector.create_booking('0a996000-0000-4000-8000-0000000005a1', '0a996000-0000-4000-8000-00000000c001', pg_temp.t(14)) ->> 'status',
	'confirmed', 'the desk''s bookings for the customer are not counted');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
