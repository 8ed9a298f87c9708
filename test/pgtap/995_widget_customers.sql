-- The widget's guest records against merges and erasures, found by an
-- attack review of customers:
-- 1. after a merge, a visitor booking with the merged record's address got
--    a new record of their own (the merge said they are one person, and
--    the duplicate search passes over merged records);
-- 2. an erasure took the widget's one-day record of the customer's current
--    address only: one booked under an address changed since stayed;
-- 3. that visitor's retry with the same request key was refused (23P01
--    "this request key belongs to another booking": the booking's record
--    is not the address's), and a new key, as the hint said, booked twice.
BEGIN;
SELECT plan(20);

SELECT tests.create_supabase_user('wc_admin');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a995000-0000-4000-8000-000000000000', 'WC', 'widget-customers');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a995000-0000-4000-8000-000000000000', tests.get_supabase_uid('wc_admin'), 'admin');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a995000-0000-4000-8000-0000000000a1', '0a995000-0000-4000-8000-000000000000', 'Hall', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party) VALUES
	('0a995000-0000-4000-8000-0000000005a1', '0a995000-0000-4000-8000-000000000000', '0a995000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days', 1, 4);
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a995000-0000-4000-8000-0000000000c1', '0a995000-0000-4000-8000-000000000000', 'Ann Kept', 'ann.work@example.com'),
	('0a995000-0000-4000-8000-0000000000c2', '0a995000-0000-4000-8000-000000000000', 'Ann Guest', 'ann.home@example.com');
CREATE TEMP TABLE k AS SELECT embed_key AS key FROM protector.venues WHERE id = '0a995000-0000-4000-8000-0000000000a1';
GRANT SELECT ON k TO anon;
CREATE FUNCTION pg_temp.book(p_name text, p_email text, p_hour int) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT protector.create_widget_booking((SELECT key FROM k), '0a995000-0000-4000-8000-0000000005a1',
		p_name, p_email, NULL, date_trunc('day', now()) + interval '2 days' + p_hour * interval '1 hour', 1)
$$;
GRANT EXECUTE ON FUNCTION pg_temp.book(text, text, int) TO anon;

-- 1. a merged record's address
SELECT tests.authenticate_as('wc_admin');
SELECT protector.merge_customers('0a995000-0000-4000-8000-0000000000c1', '0a995000-0000-4000-8000-0000000000c2') \g /dev/null
SELECT tests.authenticate_as_anon();
CREATE TEMP TABLE booked AS SELECT (pg_temp.book('Ann', 'Ann.Home@example.com', 10) ->> 'id')::uuid AS id;
SELECT tests.clear_authentication();
SELECT is((SELECT customer_id FROM protector.bookings WHERE id = (SELECT id FROM booked)),
	'0a995000-0000-4000-8000-0000000000c1'::uuid, 'a visitor with a merged record''s address books for the record it was merged into');
SELECT is((SELECT count(*)::int FROM protector.customers WHERE organization_id = '0a995000-0000-4000-8000-000000000000'), 2,
	'... and no third record of the person is made');

-- 3. the same visitor's retry
SELECT tests.authenticate_as_anon();
SELECT protector.create_widget_booking((SELECT key FROM k), '0a995000-0000-4000-8000-0000000005a1', 'Ann', 'ann.home@example.com', NULL,
		date_trunc('day', now()) + interval '2 days 11 hours', 1, 'req-ann') ->> 'id' AS ann_booking \gset
SELECT is(protector.create_widget_booking((SELECT key FROM k), '0a995000-0000-4000-8000-0000000005a1', 'Ann', 'ann.home@example.com', NULL,
		date_trunc('day', now()) + interval '2 days 11 hours', 1, 'req-ann') ->> 'id', :'ann_booking',
	'the retry of a visitor whose address''s record was merged is answered with their booking');
SELECT tests.clear_authentication();
SELECT is((SELECT format('%s %s', count(*), min(customer_id::text)) FROM protector.bookings WHERE idempotency_key LIKE '%/req-ann'),
	'1 0a995000-0000-4000-8000-0000000000c1', '... booked once, for the record it was merged into');

-- (an attack review of catalog edits: a retried request whose service was
-- retired since was told "service not found", where create_booking
-- answers its retry with the booking)
SELECT tests.authenticate_as_anon();
SELECT is(protector.create_widget_booking((SELECT key FROM k), '0a995000-0000-4000-8000-0000000005a1', 'Rob', 'rob@example.com', NULL,
		date_trunc('day', now()) + interval '2 days 15 hours', 1, 'req-1') ->> 'replayed', 'false', 'a visitor books with a request key');
SELECT tests.clear_authentication();
UPDATE protector.services SET active = false WHERE id = '0a995000-0000-4000-8000-0000000005a1';
SELECT tests.authenticate_as_anon();
SELECT is(protector.create_widget_booking((SELECT key FROM k), '0a995000-0000-4000-8000-0000000005a1', 'Rob', 'rob@example.com', NULL,
		date_trunc('day', now()) + interval '2 days 15 hours', 1, 'req-1') ->> 'replayed', 'true',
	'... and the retry after the service was retired is answered with the booking');
SELECT tests.clear_authentication();
UPDATE protector.services SET active = true WHERE id = '0a995000-0000-4000-8000-0000000005a1';

-- 2. an address changed before the erasure
SELECT tests.authenticate_as_anon();
SELECT pg_temp.book('Zelda Quxworth', 'zelda.old@example.com', 12) \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector_internal.widget_requests WHERE identity_key = 'zelda.old@example.com'), 1,
	'the widget keeps a day''s record of the visitor''s address');
SELECT tests.authenticate_as('wc_admin');
SELECT protector.update_customer((SELECT id FROM protector.customers WHERE full_name = 'Zelda Quxworth'),
	'{"email": "zelda.new@example.com"}') \g /dev/null
SELECT is((protector.erase_customer((SELECT id FROM protector.customers WHERE full_name = 'Zelda Quxworth')) ->> 'already_erased')::boolean,
	false, 'the customer, at a new address since, is erased');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector_internal.widget_requests WHERE identity_key = 'zelda.old@example.com'), 0,
	'... and the day''s record of the address they booked with goes too');
SELECT is((SELECT count(*)::int FROM protector_internal.widget_requests), 3, '... and only theirs (Ann''s two and Rob''s stay)');

-- 4. an address with a character drawn as nothing (an attack review of the
-- widget): b + a variation selector + ob@example.com reads bob@example.com
-- and folds to his identity key, so a visitor's guest record took Bob's
-- later bookings and his reminders went to it; refused wherever an
-- address is taken (22023)
SELECT tests.authenticate_as_anon();
SELECT throws_ok(format($$SELECT pg_temp.book('Mallory', %L, 14)$$, 'b' || chr(65024) || 'ob@example.com'),
	'22023', 'p_customer_email is not an email address', 'the widget refuses an address with a variation selector');
SELECT throws_ok(format($$SELECT pg_temp.book('Mallory', %L, 14)$$, 'bob@exa' || chr(8205) || 'mple.com'),
	'22023', 'p_customer_email is not an email address', '... and one with a joiner in its domain');
SELECT tests.authenticate_as('wc_admin');
SELECT throws_ok(format($$SELECT protector.create_customer('0a995000-0000-4000-8000-000000000000', 'Mallory', %L)$$,
						'bo' || chr(917760) || 'b@example.com'),
	'22023', 'p_email is not an email address', 'the desk''s customers refuse one too (a supplementary variation selector)');
SELECT lives_ok($$SELECT protector.create_customer('0a995000-0000-4000-8000-000000000000', 'Zoë', 'zoë@example.com')$$,
	'a letter with its accent is an address');
-- ... and compatibility forms, which fold the same way (a review of the fix)
SELECT throws_ok(format($$SELECT protector.create_customer('0a995000-0000-4000-8000-000000000000', 'Mallory', %L)$$, x),
	'22023', 'p_email is not an email address', 'an address with ' || what || ' is refused')
FROM (VALUES (chr(8490) || 'ate@example.com', 'the Kelvin sign for K'), ('ja' || chr(383) || 'on@example.com', 'the long s'),
			 (chr(65349) || 've@example.com', 'a full-width letter')) v(x, what);
SELECT tests.clear_authentication();
-- a guest record 0.1.0 stored with such an address (unchecked) takes
-- nobody's widget bookings: a visitor with the plain address gets one of
-- their own
SET LOCAL session_replication_role = replica;
INSERT INTO protector.customers (id, organization_id, full_name, email, identity_key)
VALUES ('0a995000-0000-4000-8000-0000000000c9', '0a995000-0000-4000-8000-000000000000', 'Mallory',
		'b' || chr(65024) || 'ob@example.com', 'bob@example.com');
SET LOCAL session_replication_role = origin;
SELECT tests.authenticate_as_anon();
CREATE TEMP TABLE bob AS SELECT (pg_temp.book('Bob', 'bob@example.com', 20) ->> 'id')::uuid AS id;
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT c.full_name, c.email FROM protector.bookings b JOIN protector.customers c ON c.id = b.customer_id
					WHERE b.id = (SELECT id FROM bob)$$,
	$$VALUES ('Bob'::text, 'bob@example.com'::text)$$,
	'Bob''s widget booking goes to a record of his own, not to the lookalike 0.1.0 stored');
-- the desk merging Bob's record into the lookalike one: the kept record
-- takes Bob's address in place of the one protector would not take (it
-- kept the lookalike, and reminders went nowhere: a review of the upgrade)
SELECT customer_id AS bob_customer FROM protector.bookings WHERE id = (SELECT id FROM bob) \gset
SELECT tests.authenticate_as('wc_admin');
SELECT protector.merge_customers('0a995000-0000-4000-8000-0000000000c9', :'bob_customer') \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT email FROM protector.customers WHERE id = '0a995000-0000-4000-8000-0000000000c9'), 'bob@example.com',
	'a merge into a record with a 0.1.0 lookalike address gives it the merged record''s address');
-- the widget writes a visitor's address in NFKC: the Kelvin sign is a K
SELECT tests.authenticate_as_anon();
CREATE TEMP TABLE kate AS SELECT (pg_temp.book('Kate', chr(8490) || 'ate@example.com', 21) ->> 'id')::uuid AS id;
SELECT tests.clear_authentication();
SELECT is((SELECT c.email FROM protector.bookings b JOIN protector.customers c ON c.id = b.customer_id WHERE b.id = (SELECT id FROM kate)),
	'Kate@example.com', 'a visitor''s address with the Kelvin sign is written as the address it folds to, which reminders reach');

SELECT * FROM finish();
ROLLBACK;
