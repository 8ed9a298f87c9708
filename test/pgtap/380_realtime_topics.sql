-- Supabase Realtime Broadcast, as an attack review found it: the policies
-- on realtime.messages asked only which topic the session joined, so one
-- joined topic read every topic's messages straight from the table (other
-- organizations' booking rows, other customers' message bodies); and a
-- booking moved to another organization was announced on the new one's
-- topic with the old organization's row, and not at all on the old one's.
BEGIN;
SELECT plan(17);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['rt_operator', 'rt_customer', 'rt_other_customer']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a380000-0000-4000-8000-000000000000', 'A', 'realtime-a'),
	('0b380000-0000-4000-8000-000000000000', 'B', 'realtime-b');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a380000-0000-4000-8000-000000000000', tests.get_supabase_uid('rt_operator'), 'operator');
INSERT INTO protector.customers (id, organization_id, full_name, user_id) VALUES
	('0a380000-0000-4000-8000-00000000c001', '0a380000-0000-4000-8000-000000000000', 'Cora', tests.get_supabase_uid('rt_customer'));
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a380000-0000-4000-8000-0000000000a1', '0a380000-0000-4000-8000-000000000000', 'VA', 'UTC'),
	('0b380000-0000-4000-8000-0000000000a1', '0b380000-0000-4000-8000-000000000000', 'VB', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0a380000-0000-4000-8000-0000000005a1', '0a380000-0000-4000-8000-000000000000', '0a380000-0000-4000-8000-0000000000a1',
		'SA', '60 minutes', '60 minutes', '400 days'),
	   ('0b380000-0000-4000-8000-0000000005a1', '0b380000-0000-4000-8000-000000000000', '0b380000-0000-4000-8000-0000000000a1',
		'SB', '60 minutes', '60 minutes', '400 days');

-- one message on each of four topics
DELETE FROM realtime.messages;
SELECT realtime.send('{"n": "a"}', 'x', 'protector:0a380000-0000-4000-8000-000000000000');
SELECT realtime.send('{"n": "b"}', 'x', 'protector:0b380000-0000-4000-8000-000000000000');
SELECT realtime.send('{"n": "c"}', 'x', 'protector:customer:' || tests.get_supabase_uid('rt_customer'));
SELECT realtime.send('{"n": "d"}', 'x', 'protector:customer:' || tests.get_supabase_uid('rt_other_customer'));

SELECT tests.authenticate_as('rt_operator');
SELECT set_config('realtime.topic', 'protector:0a380000-0000-4000-8000-000000000000', true);
SELECT is((SELECT array_agg(payload ->> 'n' ORDER BY payload ->> 'n') FROM realtime.messages), '{a}',
	'a member who joined their organization''s topic reads its message only (not B''s, not the customers'')');
SELECT set_config('realtime.topic', 'protector:0b380000-0000-4000-8000-000000000000', true);
SELECT is((SELECT count(*)::int FROM realtime.messages), 0, '... and joining another organization''s topic reads nothing');
SELECT tests.authenticate_as('rt_customer');
SELECT set_config('realtime.topic', 'protector:customer:' || tests.get_supabase_uid('rt_customer'), true);
SELECT is((SELECT array_agg(payload ->> 'n' ORDER BY payload ->> 'n') FROM realtime.messages), '{c}',
	'a customer who joined their own topic reads its message only (not another customer''s, not the organizations'')');
SELECT tests.clear_authentication();

-- a booking moved from A to B (a trusted writer's change)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, details)
VALUES ('0a380000-0000-4000-8000-0000000b0001', '0a380000-0000-4000-8000-000000000000', '0a380000-0000-4000-8000-0000000000a1',
		'0a380000-0000-4000-8000-0000000005a1', '0a380000-0000-4000-8000-00000000c001',
		tstzrange(date_trunc('hour', now()) + interval '2 days', date_trunc('hour', now()) + interval '2 days 1 hour'),
		'confirmed', '{"note": "A-PRIVATE"}');
DELETE FROM protector.tasks WHERE booking_id = '0a380000-0000-4000-8000-0000000b0001';
DELETE FROM protector.notifications WHERE booking_id = '0a380000-0000-4000-8000-0000000b0001';
DELETE FROM protector.booking_reminders WHERE booking_id = '0a380000-0000-4000-8000-0000000b0001';
DELETE FROM realtime.messages;
UPDATE protector.bookings
SET organization_id = '0b380000-0000-4000-8000-000000000000', venue_id = '0b380000-0000-4000-8000-0000000000a1',
	service_id = '0b380000-0000-4000-8000-0000000005a1', customer_id = NULL, details = '{}'
WHERE id = '0a380000-0000-4000-8000-0000000b0001';
SELECT is((SELECT count(*)::int FROM realtime.messages WHERE topic = 'protector:0a380000-0000-4000-8000-000000000000'), 1,
	'the move is announced on the old organization''s topic ...');
SELECT is((SELECT ARRAY[event, payload ->> 'operation', payload -> 'old_record' ->> 'id', (payload -> 'record' IS NULL
			 OR payload -> 'record' = 'null')::text]
		   FROM realtime.messages WHERE topic = 'protector:0a380000-0000-4000-8000-000000000000'),
	ARRAY['DELETE', 'DELETE', '0a380000-0000-4000-8000-0000000b0001', 'true'],
	'... as a DELETE with the row as it was');
SELECT is((SELECT count(*)::int FROM realtime.messages WHERE topic = 'protector:0b380000-0000-4000-8000-000000000000'), 1,
	'and on the new organization''s topic ...');
SELECT is((SELECT ARRAY[event, payload -> 'record' ->> 'organization_id']
		   FROM realtime.messages WHERE topic = 'protector:0b380000-0000-4000-8000-000000000000'),
	ARRAY['UPDATE', '0b380000-0000-4000-8000-000000000000'], '... as an UPDATE with the new row');
SELECT ok((SELECT payload -> 'old_record' IS NULL OR payload -> 'old_record' = 'null'
		   FROM realtime.messages WHERE topic = 'protector:0b380000-0000-4000-8000-000000000000'),
	'... without the old organization''s row (its customer, its details)');
SELECT is((SELECT count(*)::int FROM realtime.messages WHERE payload::text LIKE '%A-PRIVATE%'
		   AND topic <> 'protector:0a380000-0000-4000-8000-000000000000'), 0,
	'the old details reach no topic but the old organization''s');

-- (an attack review) policies on realtime.messages add up: one of the
-- application's that lets anyone signed in receive and send every
-- private broadcast (Supabase's guide has it) opened protector's topics
-- to strangers, booking rows and all, and let them send forged changes
-- on them.  Protector's restrictive policy keeps its topics to their
-- readers, and to its own triggers' messages
CREATE POLICY "authenticated can receive broadcasts" ON realtime.messages FOR SELECT TO authenticated USING (true);
CREATE POLICY "authenticated can send broadcasts" ON realtime.messages FOR INSERT TO authenticated WITH CHECK (true);
SELECT tests.create_supabase_user('rt_stranger') IS NOT NULL \g /dev/null
SELECT realtime.send('{"n": "lobby"}', 'x', 'room:lobby');
SELECT tests.authenticate_as('rt_stranger');
SELECT set_config('realtime.topic', 'protector:0a380000-0000-4000-8000-000000000000', true);
SELECT is((SELECT count(*)::int FROM realtime.messages WHERE topic LIKE 'protector:%'), 0,
	'a stranger reads no message of protector''s topics, whatever other policy lets them read the table');
SELECT set_config('realtime.topic', 'room:lobby', true);
SELECT is((SELECT array_agg(payload ->> 'n') FROM realtime.messages), '{lobby}',
	'... and reads the application''s own topics as its policy says');
SELECT throws_ok($$SELECT realtime.send('{"operation": "INSERT"}', 'INSERT', 'protector:0a380000-0000-4000-8000-000000000000')$$,
	'42501', NULL, '... may not send on an organization''s topic');
SELECT lives_ok($$SELECT realtime.send('{"n": "hello"}', 'x', 'room:lobby')$$, '... and sends on the application''s');
SELECT tests.authenticate_as('rt_operator');
SELECT set_config('realtime.topic', 'protector:0a380000-0000-4000-8000-000000000000', true);
SELECT is((SELECT count(*)::int FROM realtime.messages WHERE topic LIKE 'protector:%'), 1,
	'a member who may read the bookings still reads their organization''s topic');
SELECT tests.clear_authentication();
-- (a review) anon, granted the table as many projects grant it, reads
-- the application's topics as its policy says, and no topic of
-- protector's (the restrictive policy called a function anon may not
-- execute, and every query of anon's on the table failed)
GRANT SELECT, INSERT ON realtime.messages TO anon;
CREATE POLICY "anon reads the lobby" ON realtime.messages FOR SELECT TO anon USING (true);
CREATE POLICY "anon sends anywhere" ON realtime.messages FOR INSERT TO anon WITH CHECK (true);
SET LOCAL ROLE anon;
SELECT set_config('realtime.topic', 'room:lobby', true);
SELECT is((SELECT count(*)::int FROM realtime.messages WHERE topic = 'room:lobby'), 2,
	'anon reads the application''s topic as its policy says');
SELECT is((SELECT count(*)::int FROM realtime.messages WHERE topic LIKE 'protector:%'), 0, '... and no topic of protector''s');
SELECT throws_ok($$SELECT realtime.send('{"operation": "INSERT"}', 'INSERT', 'protector:0a380000-0000-4000-8000-000000000000')$$,
	'42501', NULL, '... and may not send on one');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
