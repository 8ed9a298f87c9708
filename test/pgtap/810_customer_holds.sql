-- A signed-in customer's holds and details (sql/75_bookings_api.sql,
-- guard_booking_write), as an attack review of the customer surface found
-- them:
--   1. a customer confirms a hold only while it lasts: an expired one
--      occupies nothing and counts against no limit, and confirmed it was
--      a booking past settings.customers.open_requests, for a day since
--      closed, a service since retired, at the old price;
--   2. a customer does not write a hold that is already over;
--   3. a customer's booking details are plain text, as a widget
--      visitor's are (control characters and direction overrides were
--      taken through create_booking and direct inserts).
-- Staff still confirm an expired hold whose slot is free (bookings.md).
BEGIN;
SELECT plan(14);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['ch_owner', 'ch_customer']) u;
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('0a810000-0000-4000-8000-000000000000', 'Holds', 'customer-holds', '{"customers": {"open_requests": 2}}');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a810000-0000-4000-8000-000000000000', tests.get_supabase_uid('ch_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a810000-0000-4000-8000-0000000000a1', '0a810000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, price)
VALUES ('0a810000-0000-4000-8000-0000000005a1', '0a810000-0000-4000-8000-000000000000', '0a810000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days', 1, 8, 50);
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email) VALUES
	('0a810000-0000-4000-8000-00000000c001', '0a810000-0000-4000-8000-000000000000', tests.get_supabase_uid('ch_customer'), 'Cara', 'c@x.test');
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '5 days' + h * interval '1 hour'
$$;
CREATE TEMP TABLE r (name text PRIMARY KEY, id uuid);
GRANT ALL ON r TO authenticated;
CREATE FUNCTION pg_temp.id(p text) RETURNS uuid LANGUAGE sql AS $$ SELECT id FROM r WHERE name = p $$;

-- 1. two holds, both run out (as the clock would have it), two more
SELECT tests.authenticate_as('ch_customer');
INSERT INTO r SELECT 'h' || h, (protector.hold_slot('0a810000-0000-4000-8000-0000000005a1', '0a810000-0000-4000-8000-00000000c001',
	pg_temp.t(h), 2, 5) ->> 'id')::uuid FROM generate_series(1, 2) h;
RESET ROLE;
UPDATE protector.bookings SET hold_expires_at = now() - interval '1 minute' WHERE id IN (pg_temp.id('h1'), pg_temp.id('h2'));
SELECT tests.authenticate_as('ch_customer');
SELECT lives_ok($$INSERT INTO r SELECT 'h' || h, (protector.hold_slot('0a810000-0000-4000-8000-0000000005a1',
	'0a810000-0000-4000-8000-00000000c001', pg_temp.t(h), 2, 5) ->> 'id')::uuid FROM generate_series(3, 4) h$$,
	'the expired holds count against no limit: two more holds are taken');
SELECT throws_ok($$SELECT protector.confirm_booking(pg_temp.id('h1'))$$, '22023', 'the hold has expired',
	'the customer does not confirm an expired hold (it would be a third booking past open_requests 2)');
SELECT throws_ok($$UPDATE protector.bookings SET status = 'confirmed' WHERE id = pg_temp.id('h2')$$, '22023', 'the hold has expired',
	'... nor by writing its status');
SELECT lives_ok($$SELECT protector.confirm_booking(pg_temp.id('h3'))$$, 'a live hold is confirmed');
SELECT is((SELECT count(*) FROM protector.bookings WHERE customer_id = '0a810000-0000-4000-8000-00000000c001' AND status = 'confirmed'),
	1::bigint, 'one confirmed booking of the customer''s, none past the limit');

-- 2. a hold already over
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, party_size, status, hold_expires_at)
	VALUES ('0a810000-0000-4000-8000-000000000000', '0a810000-0000-4000-8000-0000000000a1', '0a810000-0000-4000-8000-0000000005a1',
			'0a810000-0000-4000-8000-00000000c001', tstzrange(pg_temp.t(8), pg_temp.t(9)), 2, 'held', now() - interval '1 hour')$$,
	'22023', 'a hold ends after now', 'a customer does not write a hold that is already over');

-- 3. details
SELECT throws_ok($$SELECT protector.create_booking('0a810000-0000-4000-8000-0000000005a1', '0a810000-0000-4000-8000-00000000c001',
	pg_temp.t(10), 1, NULL, jsonb_build_object('note', E'\u202Eevil'))$$,
	'22023', 'the booking''s details hold control or invisible direction characters', 'a right-to-left override in a value is refused');
SELECT throws_ok($$SELECT protector.create_booking('0a810000-0000-4000-8000-0000000005a1', '0a810000-0000-4000-8000-00000000c001',
	pg_temp.t(10), 1, NULL, jsonb_build_object(E'na\u0007me', 'x'))$$,
	'22023', 'the booking''s details hold control or invisible direction characters', '... as is a control character in a key');
-- (a review) details nested 12,000 deep (24 kB, within the 64 kB a
-- customer may send): the check walked every subtree again, and ran out
-- of stack (54001); one pass takes any depth
RESET ROLE;
UPDATE protector.organizations SET settings = '{"customers": {"open_requests": 10}}' WHERE id = '0a810000-0000-4000-8000-000000000000';
SELECT tests.authenticate_as('ch_customer');
SELECT lives_ok(format($$SELECT protector.create_booking('0a810000-0000-4000-8000-0000000005a1', '0a810000-0000-4000-8000-00000000c001',
	pg_temp.t(10), 1, NULL, %L::jsonb)$$, '{"a":' || repeat('[', 12000) || '"ok"' || repeat(']', 12000) || '}'),
	'details nested 12,000 deep are taken');
SELECT throws_ok(format($$SELECT protector.create_booking('0a810000-0000-4000-8000-0000000005a1', '0a810000-0000-4000-8000-00000000c001',
	pg_temp.t(11), 1, NULL, %L::jsonb)$$, '{"a":' || repeat('[', 12000) || '{"k": "' || E'\u202E' || '"}' || repeat(']', 12000) || '}'),
	'22023', 'the booking''s details hold control or invisible direction characters', '... and an override at the bottom is found');

-- staff still confirm an expired hold whose slot is free
SELECT tests.authenticate_as('ch_owner');
SELECT is(protector.confirm_booking(pg_temp.id('h1')) ->> 'status', 'confirmed', 'the owner confirms the expired hold, its slot free');
SELECT lives_ok($$SELECT protector.create_booking('0a810000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12), 1, NULL,
	jsonb_build_object('note', E'line one\nline two'))$$, 'staff details are not held to the customer''s rule');

-- what json_is_clean asks: every string and key, at any depth
SELECT results_eq($$SELECT protector_internal.json_is_clean(v) FROM (VALUES
		(NULL::jsonb), ('{}'), ('[1, true, null, "plain"]'), ('"plain"'),
		(jsonb_build_object('k', jsonb_build_array(1, jsonb_build_object('x', E'a\u200Fb')))),
		(jsonb_build_array(jsonb_build_object(E'\u2066k', 1))), (to_jsonb(E'tab\there'::text))) t(v)$$,
	$$VALUES (true), (true), (true), (true), (false), (false), (false)$$,
	'json_is_clean: NULL, numbers, booleans and plain strings are clean; a mark in a nested value or key, or a tab, is not');
SELECT ok(protector_internal.json_is_clean(jsonb_build_object('emoji', E'\U0001F469\u200D\U0001F4BB', 'fa', E'\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645')),
	'... an emoji''s joiner and a Persian non-joiner are clean, as in text_is_clean');

SELECT * FROM finish();
ROLLBACK;
