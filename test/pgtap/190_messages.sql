-- Booking messages: one thread per booking between the organization and
-- the customer; the desk, the booking's agent and its customer read and
-- write, nobody else; bodies checked; read receipts; live delivery on the
-- organization's channel and the customer's own private topic (Supabase
-- Realtime fixture); audit without bodies; reply times for staff
-- performance, worked out by hand.
BEGIN;
SELECT plan(49);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['m_owner', 'm_operator', 'm_agent', 'm_agent2', 'm_finance',
														'm_customer', 'm_customer2', 'm_other']) u;
INSERT INTO protector.organizations (id, name, slug, settings) VALUES
	('0a190000-0000-4000-8000-000000000000', 'Talk', 'talk', '{"staff": {"require_shifts": false}}'),
	('0b190000-0000-4000-8000-000000000000', 'Other', 'talk-other', '{}');
INSERT INTO protector.members (organization_id, user_id, role, full_name)
SELECT '0a190000-0000-4000-8000-000000000000', tests.get_supabase_uid('m_' || r), regexp_replace(r, '[0-9]', '')::protector.member_role,
	   initcap(r)
FROM unnest(ARRAY['owner', 'operator', 'agent', 'agent2', 'finance']) r;
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0b190000-0000-4000-8000-000000000000', tests.get_supabase_uid('m_other'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a190000-0000-4000-8000-0000000000a1', '0a190000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a190000-0000-4000-8000-0000000005a1', '0a190000-0000-4000-8000-000000000000', '0a190000-0000-4000-8000-0000000000a1',
		'Ride', '60 minutes', '60 minutes', '400 days', 100, 4, 'shared');
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email) VALUES
	('0a190000-0000-4000-8000-00000000c001', '0a190000-0000-4000-8000-000000000000', tests.get_supabase_uid('m_customer'), 'Cara', 'c@x.test'),
	('0a190000-0000-4000-8000-00000000c002', '0a190000-0000-4000-8000-000000000000', tests.get_supabase_uid('m_customer2'), 'Dirk', 'd@x.test');
-- b1: Cara's, assigned to Agent; b2: Dirk's, nobody's
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, assigned_agent) VALUES
	('0a190000-0000-4000-8000-0000000000b1', '0a190000-0000-4000-8000-000000000000', '0a190000-0000-4000-8000-0000000000a1',
	 '0a190000-0000-4000-8000-0000000005a1', '0a190000-0000-4000-8000-00000000c001',
	 tstzrange(now() + interval '2 days', now() + interval '2 days 1 hour'), 'confirmed', tests.get_supabase_uid('m_agent')),
	('0a190000-0000-4000-8000-0000000000b2', '0a190000-0000-4000-8000-000000000000', '0a190000-0000-4000-8000-0000000000a1',
	 '0a190000-0000-4000-8000-0000000005a1', '0a190000-0000-4000-8000-00000000c002',
	 tstzrange(now() + interval '3 days', now() + interval '3 days 1 hour'), 'confirmed', NULL);
SELECT protector.enable_realtime() IS NOT NULL AS realtime;

-- 1. writing
SELECT tests.authenticate_as('m_customer');
SELECT is((SELECT format('%s %s %s', sender_kind, body, read_at IS NULL)
		   FROM protector.send_message('0a190000-0000-4000-8000-0000000000b1', E'  Can we come at 10?\n  ')),
	'customer Can we come at 10? t', 'Cara writes on her booking (trimmed), as the customer, unread');
SELECT throws_ok($$SELECT protector.send_message('0a190000-0000-4000-8000-0000000000b2', 'hi')$$, 'P0002', 'booking not found',
	'not on Dirk''s');
SELECT throws_ok($$SELECT protector.send_message('0a190000-0000-4000-8000-0000000000b1', repeat('x', 4001))$$, '22023',
	'a message is 1 to 4000 characters', 'at most 4000 characters');
SELECT throws_ok($$SELECT protector.send_message('0a190000-0000-4000-8000-0000000000b1', ' ')$$, '22023',
	'a message is 1 to 4000 characters', 'not empty');
SELECT throws_ok($$SELECT protector.send_message('0a190000-0000-4000-8000-0000000000b1', E' \r ')$$, '22023',
	'a message is 1 to 4000 characters', 'a carriage return alone is no message');
SELECT throws_ok($$SELECT protector.send_message('0a190000-0000-4000-8000-0000000000b1', E'\u00a0\u3000')$$, '22023',
	'a message is 1 to 4000 characters', 'nor are no-break and wide spaces');
SELECT throws_ok($$SELECT protector.send_message('0a190000-0000-4000-8000-0000000000b1', E'bell\007')$$, '22023',
	'a message holds control or invisible direction characters', 'no control characters');
SELECT lives_ok($$SELECT protector.send_message('0a190000-0000-4000-8000-0000000000b1', E'Line one\n\tLine two')$$,
	'line breaks and tabs are fine');
SELECT tests.authenticate_as('m_agent');
SELECT is((SELECT sender_kind FROM protector.send_message('0a190000-0000-4000-8000-0000000000b1', 'Sure, 10 works.')), 'staff',
	'the booking''s agent answers, as staff');
SELECT throws_ok($$SELECT protector.send_message('0a190000-0000-4000-8000-0000000000b2', 'hi')$$, 'P0002', 'booking not found',
	'an agent not on the booking does not see it');
SELECT tests.authenticate_as('m_finance');
SELECT throws_ok($$SELECT protector.send_message('0a190000-0000-4000-8000-0000000000b1', 'pay up')$$, '42501',
	'your role may not message customers', 'finance sees the booking but messages nobody');
SELECT is((SELECT count(*)::int FROM protector.booking_messages), 0, 'nor reads the thread');
SELECT throws_ok($$SELECT * FROM protector.get_booking_messages('0a190000-0000-4000-8000-0000000000b1')$$, '42501',
	'your role may not read this booking''s messages', 'and is refused it, not shown an empty thread');
SELECT tests.authenticate_as('m_operator');
SELECT lives_ok($$SELECT protector.send_message('0a190000-0000-4000-8000-0000000000b2', 'Dirk, your ride is confirmed.')$$,
	'the desk writes on any booking');
SELECT tests.authenticate_as_anon();
SELECT throws_ok($$SELECT protector.send_message('0a190000-0000-4000-8000-0000000000b1', 'hi')$$, '42501', NULL, 'anon never');
SELECT tests.authenticate_as('m_other');
SELECT throws_ok($$SELECT * FROM protector.get_booking_messages('0a190000-0000-4000-8000-0000000000b1')$$, 'P0002',
	'booking not found', 'another organization: not found');
SELECT throws_ok($$INSERT INTO protector.booking_messages (organization_id, booking_id, sender_kind, body)
				   VALUES ('0a190000-0000-4000-8000-000000000000', '0a190000-0000-4000-8000-0000000000b1', 'staff', 'x')$$,
	'42501', NULL, 'nor a direct insert');

-- one transaction, one now(): the messages get the times of a real
-- conversation (Cara at t0 and t0 + 10 s, the agent at t0 + 25 min, the
-- desk to Dirk at t0 + 30 min; t0 an hour ago), past the triggers
RESET ROLE;
SET LOCAL session_replication_role = replica;
UPDATE protector.booking_messages SET created_at = now() - interval '1 hour' WHERE body = 'Can we come at 10?';
UPDATE protector.booking_messages SET created_at = now() - interval '1 hour' + interval '10 seconds' WHERE body LIKE 'Line one%';
UPDATE protector.booking_messages SET created_at = now() - interval '35 minutes' WHERE body = 'Sure, 10 works.';
UPDATE protector.booking_messages SET created_at = now() - interval '30 minutes' WHERE body LIKE 'Dirk%';
SET LOCAL session_replication_role = origin;

-- 2. reading, and who sees what
SELECT tests.authenticate_as('m_customer');
SELECT results_eq($$SELECT sender_kind, body FROM protector.get_booking_messages('0a190000-0000-4000-8000-0000000000b1')$$,
	$$VALUES ('customer', 'Can we come at 10?'), ('customer', E'Line one\n\tLine two'), ('staff', 'Sure, 10 works.')$$,
	'Cara reads her thread, oldest first');
SELECT is((SELECT count(*)::int FROM protector.booking_messages), 3, 'and nothing of Dirk''s');
SELECT tests.authenticate_as('m_customer2');
SELECT is((SELECT string_agg(body, ' | ') FROM protector.booking_messages), 'Dirk, your ride is confirmed.', 'Dirk reads his');
SELECT tests.authenticate_as('m_agent');
SELECT is((SELECT count(*)::int FROM protector.booking_messages), 3, 'the agent reads the thread of their booking only');
SELECT tests.authenticate_as('m_operator');
SELECT is((SELECT count(*)::int FROM protector.booking_messages), 4, 'the desk reads every thread');

-- 3. read receipts
SELECT tests.authenticate_as('m_agent');
SELECT is(protector.mark_messages_read('0a190000-0000-4000-8000-0000000000b1'), 2, 'the agent reads Cara''s two messages');
SELECT is(protector.mark_messages_read('0a190000-0000-4000-8000-0000000000b1'), 0, 'again: nothing new');
SELECT tests.authenticate_as('m_customer');
SELECT is((SELECT string_agg(sender_kind || ' ' || (read_at IS NOT NULL), ', ' ORDER BY created_at, body)
		   FROM protector.booking_messages), 'customer true, customer true, staff false', 'Cara sees hers were read');
SELECT is(protector.mark_messages_read('0a190000-0000-4000-8000-0000000000b1'), 1, 'and reads the answer');
SELECT throws_ok($$UPDATE protector.booking_messages SET body = 'I never said that' WHERE sender_kind = 'customer'$$, '22023',
	'a message cannot be changed', 'a message is never edited');
SELECT throws_ok($$UPDATE protector.booking_messages SET read_at = now() - interval '1 day' WHERE sender_kind = 'staff'$$, '22023',
	'a message cannot be changed', 'nor its read receipt, once set');

-- 4. live delivery: the organization's topic without the body, the
-- customer's own topic with it; a customer subscribes to their own only
RESET ROLE;
SELECT is((SELECT count(*)::int FROM realtime.messages WHERE topic = 'protector:0a190000-0000-4000-8000-000000000000'
		   AND event = 'message'), 7, 'the organization''s topic: 4 messages and 3 read receipts');
SELECT is((SELECT count(*)::int FROM realtime.messages WHERE event = 'message' AND payload ? 'body'
		   AND topic LIKE 'protector:0a19%'), 0, 'without a body');
SELECT is((SELECT count(*)::int FROM realtime.messages
		   WHERE topic = 'protector:customer:' || tests.get_supabase_uid('m_customer') AND payload ->> 'body' = 'Sure, 10 works.'),
	2, 'Cara''s own topic carries the answer (sent, then read)');
SELECT tests.authenticate_as('m_customer2');
SELECT set_config('realtime.topic', 'protector:customer:' || tests.get_supabase_uid('m_customer'), true);
-- (Realtime asks the policies whether a user may join the topic)
SELECT is((SELECT count(*)::int FROM realtime.messages), 0, 'Dirk cannot join Cara''s topic');
SELECT set_config('realtime.topic', 'protector:customer:' || tests.get_supabase_uid('m_customer2'), true);
SELECT ok((SELECT count(*) FROM realtime.messages) > 0, 'but joins his own');

-- 5. audit without bodies; reply times
RESET ROLE;
SELECT is((SELECT string_agg(DISTINCT COALESCE(new_row ->> 'body', old_row ->> 'body'), ', ')
		   FROM protector.audit_log WHERE table_name = 'protector.booking_messages'), '[masked]',
	'the audit log records every message, its body masked');
-- Cara wrote at t0 and t0 + 10 s; the agent replied at t0 + 25 min: one
-- reply, 25 minutes after the first unanswered message
SELECT is(protector_internal.median_response_minutes('0a190000-0000-4000-8000-000000000000', tests.get_supabase_uid('m_agent'),
		  now() - interval '1 day', now()), 25.0, 'the agent''s median reply time: 25 minutes (one reply)');
SELECT is(protector_internal.median_response_minutes('0a190000-0000-4000-8000-000000000000', tests.get_supabase_uid('m_operator'),
		  now() - interval '1 day', now()), NULL, 'the operator replied to nobody: no figure');

-- what review found: a booking moved to another customer does not take
-- its earlier messages along; receipts are the other side's, at now
SELECT tests.authenticate_as('m_customer');
SELECT throws_ok($$UPDATE protector.booking_messages SET read_at = '2000-01-01' WHERE sender_kind = 'customer'$$, '22023',
	'a message cannot be changed', 'the sender cannot forge a receipt of their own message');
RESET ROLE;
UPDATE protector.bookings SET customer_id = '0a190000-0000-4000-8000-00000000c002' WHERE id = '0a190000-0000-4000-8000-0000000000b1';
SELECT tests.authenticate_as('m_customer2');
SELECT is((SELECT count(*)::int FROM protector.get_booking_messages('0a190000-0000-4000-8000-0000000000b1')), 0,
	'Dirk, the booking''s new customer, does not read Cara''s thread');
SELECT tests.authenticate_as('m_customer');
SELECT is((SELECT count(*)::int FROM protector.booking_messages), 3, 'Cara keeps reading what she wrote and was answered');
-- an erasure blanks the customer's thread
SELECT tests.authenticate_as('m_owner');
SELECT isnt(protector.erase_customer('0a190000-0000-4000-8000-00000000c001'), NULL, 'the owner erases Cara');
RESET ROLE;
SELECT is((SELECT string_agg(DISTINCT body, ', ') FROM protector.booking_messages WHERE customer_id = '0a190000-0000-4000-8000-00000000c001'),
	'[erased]', 'her thread''s bodies are gone');

-- (a review) a message written after the reader's transaction began, as
-- this one, dated a minute on: its receipt is not dated before it
RESET ROLE;
SET LOCAL session_replication_role = replica;
SELECT booking_id AS dirk_booking FROM protector.booking_messages WHERE body = 'Dirk, your ride is confirmed.' \gset
INSERT INTO protector.booking_messages (organization_id, booking_id, sender_kind, customer_id, body, created_at)
SELECT organization_id, booking_id, 'staff', customer_id, 'One more thing.', now() + interval '1 minute'
FROM protector.booking_messages WHERE body = 'Dirk, your ride is confirmed.';
RESET session_replication_role;
SELECT tests.authenticate_as('m_customer2');
SELECT protector.mark_messages_read(:'dirk_booking') AS read \gset
SELECT is((SELECT read_at - created_at FROM protector.booking_messages WHERE body = 'One more thing.'), interval '0',
	'a receipt is never earlier than its message: the message''s own time when that is later than now()');

-- a member on a booking of their own is its customer, as for its waivers
-- (an attack review: the agent's question was a staff message, which the
-- desk had no customer message to answer, nor the agent a reply to mark read)
SELECT tests.clear_authentication();
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email) VALUES
	('0a190000-0000-4000-8000-00000000c0a9', '0a190000-0000-4000-8000-000000000000', tests.get_supabase_uid('m_agent'), 'Agnes', 'a@x.test');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, assigned_agent) VALUES
	('0a190000-0000-4000-8000-0000000000e1', '0a190000-0000-4000-8000-000000000000', '0a190000-0000-4000-8000-0000000000a1',
	 '0a190000-0000-4000-8000-0000000005a1', '0a190000-0000-4000-8000-00000000c0a9',
	 tstzrange(now() + interval '4 days', now() + interval '4 days 1 hour'), 'confirmed', tests.get_supabase_uid('m_agent'));
SELECT tests.authenticate_as('m_agent');
SELECT is((SELECT sender_kind::text FROM protector.send_message('0a190000-0000-4000-8000-0000000000e1', 'Can I bring my dog?')),
	'customer', 'an agent writing on their own booking writes as its customer');
-- (a later review: the agent, who may message on the booking as staff
-- too, marked their own question read with a PATCH of read_at)
SELECT throws_ok($$UPDATE protector.booking_messages SET read_at = 'now'
				   WHERE booking_id = '0a190000-0000-4000-8000-0000000000e1' AND sender_kind = 'customer'$$,
	'22023', 'a message cannot be changed', '... and does not mark their own question read, as the desk would');
SELECT tests.authenticate_as('m_operator');
SELECT is(protector.mark_messages_read('0a190000-0000-4000-8000-0000000000e1'), 1, '... which the desk reads as a customer''s');
SELECT protector.send_message('0a190000-0000-4000-8000-0000000000e1', 'No dogs, sorry.') \g /dev/null
SELECT tests.authenticate_as('m_agent');
SELECT is(protector.mark_messages_read('0a190000-0000-4000-8000-0000000000e1'), 1, '... and the agent reads the desk''s reply');
SELECT throws_ok($$INSERT INTO protector.booking_messages (organization_id, booking_id, sender_kind, body)
				   VALUES ('0a190000-0000-4000-8000-000000000000', '0a190000-0000-4000-8000-0000000000e1', 'staff', 'as the desk')$$,
	'22023', 'on a booking of your own you write as its customer', '... nor writes a staff message on it directly');
SELECT tests.authenticate_as('m_operator');
SELECT throws_ok($$INSERT INTO protector.booking_messages (organization_id, booking_id, sender_kind, body)
				   VALUES ('0a190000-0000-4000-8000-000000000000', '0a190000-0000-4000-8000-0000000000b1', 'customer', 'as Cara')$$,
	'42501', 'you write on this booking as staff', 'the desk writing a customer''s message on a booking is told it writes as staff');
SELECT tests.authenticate_as('m_finance');
SELECT throws_ok($$INSERT INTO protector.booking_messages (organization_id, booking_id, sender_kind, body)
				   VALUES ('0a190000-0000-4000-8000-000000000000', '0a190000-0000-4000-8000-0000000000b1', 'customer', 'as Cara')$$,
	'42501', 'your role may not message customers', '... and finance, who see the booking, that they may not message');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
