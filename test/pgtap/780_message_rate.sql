-- A customer cannot flood a booking's thread: at most
-- settings.customers.messages_per_hour (default 20) customer messages in
-- one thread in the last hour (sql/84_messages.sql,
-- check_customer_message_rate); one more is 53400.  Staff are not
-- limited; another thread has its own count; messages older than an hour
-- no longer count; the setting is checked; the helper is for the
-- booking's own customer.  (Messages at the same moment:
-- test/concurrency/message_rate.sh.)
BEGIN;
SELECT plan(17);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['mr_owner', 'mr_customer', 'mr_other']) u;
INSERT INTO protector.organizations (id, name, slug, settings) VALUES
	('0a780000-0000-4000-8000-000000000000', 'Rate', 'message-rate', '{"customers": {"messages_per_hour": 3}}');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a780000-0000-4000-8000-000000000000', tests.get_supabase_uid('mr_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a780000-0000-4000-8000-0000000000a1', '0a780000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a780000-0000-4000-8000-0000000005a1', '0a780000-0000-4000-8000-000000000000', '0a780000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days', 100, 4, 'shared');
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email) VALUES
	('0a780000-0000-4000-8000-00000000c001', '0a780000-0000-4000-8000-000000000000', tests.get_supabase_uid('mr_customer'), 'Cara', 'c@x.test'),
	('0a780000-0000-4000-8000-00000000c002', '0a780000-0000-4000-8000-000000000000', tests.get_supabase_uid('mr_other'), 'Dirk', 'd@x.test');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status) VALUES
	('0a780000-0000-4000-8000-0000000000b1', '0a780000-0000-4000-8000-000000000000', '0a780000-0000-4000-8000-0000000000a1',
	 '0a780000-0000-4000-8000-0000000005a1', '0a780000-0000-4000-8000-00000000c001',
	 tstzrange(now() + interval '2 days', now() + interval '2 days 1 hour'), 'confirmed'),
	('0a780000-0000-4000-8000-0000000000b2', '0a780000-0000-4000-8000-000000000000', '0a780000-0000-4000-8000-0000000000a1',
	 '0a780000-0000-4000-8000-0000000005a1', '0a780000-0000-4000-8000-00000000c001',
	 tstzrange(now() + interval '3 days', now() + interval '3 days 1 hour'), 'confirmed'),
	('0a780000-0000-4000-8000-0000000000b3', '0a780000-0000-4000-8000-000000000000', '0a780000-0000-4000-8000-0000000000a1',
	 '0a780000-0000-4000-8000-0000000005a1', '0a780000-0000-4000-8000-00000000c002',
	 tstzrange(now() + interval '3 days', now() + interval '3 days 1 hour'), 'confirmed');

-- three of Cara's go through, the fourth is refused
SELECT tests.authenticate_as('mr_customer');
SELECT lives_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b1', 'one')$$, 'a customer''s first message');
SELECT lives_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b1', 'two')$$, '... second');
SELECT lives_ok($$INSERT INTO protector.booking_messages (organization_id, booking_id, sender_kind, body)
	VALUES ('0a780000-0000-4000-8000-000000000000', '0a780000-0000-4000-8000-0000000000b1', 'customer', 'three')$$,
	'... third, written to the table as PostgREST does');
SELECT throws_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b1', 'four')$$,
	'53400', 'too many messages in this thread; try again later', 'the fourth within the hour is refused (messages_per_hour 3)');
SELECT is(tests.error_text($$INSERT INTO protector.booking_messages (organization_id, booking_id, sender_kind, body)
	VALUES ('0a780000-0000-4000-8000-000000000000', '0a780000-0000-4000-8000-0000000000b1', 'customer', 'four')$$),
	'53400 | too many messages in this thread; try again later | The organization takes at most 3 messages of a customer in one booking''s thread per hour. | Wait for a reply, or call the organization.',
	'... also written to the table, saying the limit');
SELECT lives_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b2', 'other booking')$$,
	'another booking''s thread has its own count');

-- staff are not limited
SELECT tests.authenticate_as('mr_owner');
SELECT lives_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b1', m::text) FROM generate_series(1, 5) g(m)$$,
	'staff write five more to the thread');
SELECT tests.authenticate_as('mr_customer');
SELECT throws_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b1', 'four')$$,
	'53400', NULL, 'staff messages do not give the customer more');

-- an hour later the first ones no longer count
-- (a message's time is the database's: its guard is set aside here)
RESET ROLE;
SET LOCAL session_replication_role = replica;
UPDATE protector.booking_messages SET created_at = created_at - interval '61 minutes'
WHERE booking_id = '0a780000-0000-4000-8000-0000000000b1' AND body IN ('one', 'two');
SET LOCAL session_replication_role = origin;
SELECT tests.authenticate_as('mr_customer');
SELECT lives_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b1', 'four')$$,
	'two written more than an hour ago no longer count: a fourth goes through');
SELECT lives_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b1', 'five')$$,
	'... and a fifth (three, four, five in the last hour)');
SELECT throws_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b1', 'six')$$,
	'53400', NULL, '... and a sixth is refused');

-- a booking handed to another customer: their thread is their own, and
-- so is its count (Cara's three did not count against Dirk)
RESET ROLE;
UPDATE protector.bookings SET customer_id = '0a780000-0000-4000-8000-00000000c002' WHERE id = '0a780000-0000-4000-8000-0000000000b1';
SELECT tests.authenticate_as('mr_other');
SELECT lives_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b1', 'first of mine')$$,
	'the booking given to Dirk: his first message goes through, whatever Cara wrote');
SELECT tests.authenticate_as('mr_customer');

-- the helper is the booking's own customer's
SELECT throws_ok($$SELECT protector_internal.check_customer_message_rate('0a780000-0000-4000-8000-000000000000',
	'0a780000-0000-4000-8000-0000000000b3')$$, 'P0002', 'booking not found', 'not for another customer''s booking');

-- the setting
RESET ROLE;
SELECT throws_ok($$UPDATE protector.organizations SET settings = '{"customers": {"messages_per_hour": 0}}'
	WHERE id = '0a780000-0000-4000-8000-000000000000'$$, '22023', NULL, 'messages_per_hour 0 is refused');
SELECT throws_ok($$UPDATE protector.organizations SET settings = '{"customers": {"messages_per_hour": 2.5}}'
	WHERE id = '0a780000-0000-4000-8000-000000000000'$$, '22023', NULL, '... as is 2.5');
-- the default is 20: 1 + 19 more in another thread of Cara's
UPDATE protector.organizations SET settings = '{}' WHERE id = '0a780000-0000-4000-8000-000000000000';
SELECT tests.authenticate_as('mr_customer');
SELECT lives_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b2', m::text) FROM generate_series(1, 19) g(m)$$,
	'by default, 20 messages within the hour go through');
SELECT throws_ok($$SELECT protector.send_message('0a780000-0000-4000-8000-0000000000b2', '21st')$$,
	'53400', 'too many messages in this thread; try again later', '... and a 21st is refused');

SELECT * FROM finish();
ROLLBACK;
