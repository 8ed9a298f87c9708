-- Erasure and merges, as a second attack on them found them: erasing a
-- merged record alone answered "erased" and left the person's data in the
-- record it was merged into (refused now, with that record in the hint;
-- erased with it, or after it); the desk's notifications of an erased
-- customer's bookings kept what staff wrote into them (protector's own
-- keep what staff see on the booking, others lose their payload, in the
-- history too, and for a booking once theirs those made before it left
-- them); a merge of two records linked to different accounts handed one
-- signed-in person's bookings and messages to the other (refused).  A
-- review of the fix found chains and cycles of merges 0.1.0 made left
-- partly erased or not erasable, a direct insert of an erasure leaving
-- the records merged into it, free text kept under protector's keys, and
-- the erasure's broadcast of a booking once theirs naming their account.
BEGIN;
SELECT plan(31);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['e_admin', 'e_cora', 'e_jonas', 'e_dana']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a690000-0000-4000-8000-000000000000', 'E', 'erasure-edges');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a690000-0000-4000-8000-000000000000', tests.get_supabase_uid('e_admin'), 'admin');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a690000-0000-4000-8000-0000000000a1', '0a690000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a690000-0000-4000-8000-0000000005a1', '0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days', 10, 4, 'shared');
-- keep (k) and second (s) are one person; jonas (j) and cora (c) are two
-- people with accounts, and so is dana (d), whose e-mail is cora's; other
-- (o) takes over a booking of jonas's
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, notes, user_id) VALUES
	('0a690000-0000-4000-8000-00000000c0c1', '0a690000-0000-4000-8000-000000000000', 'Maria Keep', 'maria@example.com', NULL, NULL, NULL),
	('0a690000-0000-4000-8000-00000000c0c2', '0a690000-0000-4000-8000-000000000000', 'Maria Second', 'maria@example.com',
	 '+49 30 7777', 'Maria: wheelchair', NULL),
	('0a690000-0000-4000-8000-00000000c0c3', '0a690000-0000-4000-8000-000000000000', 'Jonas Weber', 'jonas@example.com',
	 '+49 30 1111', NULL, tests.get_supabase_uid('e_jonas')),
	('0a690000-0000-4000-8000-00000000c0c4', '0a690000-0000-4000-8000-000000000000', 'Cora Lind', 'cora@example.com',
	 NULL, NULL, tests.get_supabase_uid('e_cora')),
	('0a690000-0000-4000-8000-00000000c0c5', '0a690000-0000-4000-8000-000000000000', 'Otto Other', NULL, NULL, NULL, NULL),
	('0a690000-0000-4000-8000-00000000c0c6', '0a690000-0000-4000-8000-000000000000', 'Dana Lind', 'cora@example.com',
	 NULL, NULL, tests.get_supabase_uid('e_dana'));
-- b1: maria's second record's; b2, b3: jonas's
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, details)
SELECT ('0a690000-0000-4000-8000-00000000b00' || n)::uuid, '0a690000-0000-4000-8000-000000000000',
	   '0a690000-0000-4000-8000-0000000000a1', '0a690000-0000-4000-8000-0000000005a1',
	   ('0a690000-0000-4000-8000-00000000c0c' || CASE n WHEN 1 THEN 2 ELSE 3 END)::uuid,
	   tstzrange(date_trunc('day', now()) + interval '2 days' + n * interval '1 hour',
				 date_trunc('day', now()) + interval '2 days' + (n + 1) * interval '1 hour'),
	   'confirmed', jsonb_build_object('diet', 'insulin fridge ' || n)
FROM generate_series(1, 3) n;
SELECT protector.enable_audit('protector.notifications') \g /dev/null
-- what staff wrote to the desk about jonas, on b2 (his) and b3 (his until
-- it is handed to otto below, the note written before that)
INSERT INTO protector.notifications (organization_id, booking_id, kind, payload) VALUES
	('0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-00000000b002', 'desk.note',
	 '{"text": "Jonas Weber (jonas@example.com, +49 30 1111) asked for wheelchair access"}'),
	('0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-00000000b003', 'desk.note',
	 '{"text": "Jonas called about b3"}'),
	('0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-00000000b002', 'booking.created',
	 '{"service": "Room", "start": "2031-01-01T10:00:00+00:00", "timezone": "UTC", "status": "confirmed",
	   "party_size": 2, "confirm_by": null, "note": "Jonas prefers the back door"}');
UPDATE protector.bookings SET customer_id = '0a690000-0000-4000-8000-00000000c0c5'
WHERE id = '0a690000-0000-4000-8000-00000000b003';
-- (b3 was made by jonas's account: the erasure takes it off, and its
-- broadcast must not carry it as the old row)
UPDATE protector.bookings SET created_by = tests.get_supabase_uid('e_jonas') WHERE id = '0a690000-0000-4000-8000-00000000b003';

-- 1. a merged record alone
SELECT tests.authenticate_as('e_admin');
SELECT lives_ok($$SELECT protector.merge_customers('0a690000-0000-4000-8000-00000000c0c1', '0a690000-0000-4000-8000-00000000c0c2')$$,
	'maria''s second record is merged into the first');
SELECT throws_ok($$SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0c2')$$,
	'22023', 'customer 0a690000-0000-4000-8000-00000000c0c2 was merged into customer 0a690000-0000-4000-8000-00000000c0c1',
	'erasing the merged record alone is refused: the person''s data is the kept record''s now');
SELECT is(tests.error_text($$SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0c2')$$),
	'22023 | customer 0a690000-0000-4000-8000-00000000c0c2 was merged into customer 0a690000-0000-4000-8000-00000000c0c1'
	' | The merge moved its bookings, payments, messages and details to that record.'
	' | Erase customer 0a690000-0000-4000-8000-00000000c0c1: that erases the records merged into it too.',
	'the detail says why, the hint names the record to erase');
SELECT throws_ok($$INSERT INTO protector.customer_erasures (organization_id, customer_id)
				   VALUES ('0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-00000000c0c2')$$,
	'22023', NULL, 'so is a direct insert of its erasure');
SELECT tests.clear_authentication();
SELECT is((SELECT concat_ws(' ', phone, notes, (SELECT details ->> 'diet' FROM protector.bookings
												WHERE id = '0a690000-0000-4000-8000-00000000b001'))
		   FROM protector.customers WHERE id = '0a690000-0000-4000-8000-00000000c0c1'),
	'+49 30 7777 Maria: wheelchair insulin fridge 1', 'the kept record still holds what the merge gave it (nothing was said erased)');
SELECT tests.authenticate_as('e_admin');
SELECT is(protector.erase_customer('0a690000-0000-4000-8000-00000000c0c1') ->> 'already_erased', 'false',
	'the kept record is erased, and the merged one with it');
SELECT is(protector.erase_customer('0a690000-0000-4000-8000-00000000c0c2') ->> 'already_erased', 'true',
	'after that the merged one answers as erased');
SELECT tests.clear_authentication();
SELECT is_empty($$SELECT c.id FROM protector.customers c JOIN protector.bookings b ON b.customer_id = c.id
	WHERE c.id = '0a690000-0000-4000-8000-00000000c0c1' AND concat(c.phone, c.notes, b.details::text) ~ '(\+49 ?30 ?7777|wheelchair|insulin)'$$,
	'the person''s data is gone from the kept record and its bookings');

-- 2. the desk's notifications of an erased customer's bookings
DELETE FROM realtime.messages;		-- (what is broadcast from here on)
SELECT tests.authenticate_as('e_admin');
SELECT lives_ok($$SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0c3')$$, 'jonas is erased');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT kind, payload FROM protector.notifications
					WHERE booking_id IN ('0a690000-0000-4000-8000-00000000b002', '0a690000-0000-4000-8000-00000000b003')
					  AND (kind = 'desk.note' OR payload ->> 'start' = '2031-01-01T10:00:00+00:00')
					ORDER BY booking_id, kind$$,
	$$VALUES ('booking.created', '{"service": "Room", "start": "2031-01-01T10:00:00+00:00", "timezone": "UTC",
								   "status": "confirmed", "party_size": 2, "confirm_by": null}'::jsonb),
			 ('desk.note', '{}'),
			 ('desk.note', '{}')$$,
	'staff''s notes lose their payload (b3''s too, written before it left him); protector''s own keep its keys only');
SELECT is_empty(format($$SELECT id FROM realtime.messages WHERE payload::text ~ %L$$, tests.get_supabase_uid('e_jonas')),
	'the erasure''s change of b3, otto''s now, is broadcast without the old row that named his account');
SELECT is_empty($$SELECT id FROM protector.audit_log WHERE table_name = 'protector.notifications'
	AND concat(old_row::text, new_row::text) ~ '(Jonas|jonas@|\+49 ?30 ?1111|back door)'$$,
	'nor does their history hold it');

-- 3. two accounts
SELECT tests.authenticate_as('e_admin');
SELECT lives_ok($$SELECT protector.merge_customers('0a690000-0000-4000-8000-00000000c0c4', '0a690000-0000-4000-8000-00000000c0c5')$$,
	'a record with an account takes one without');
SELECT throws_ok($$SELECT protector.merge_customers('0a690000-0000-4000-8000-00000000c0c4', '0a690000-0000-4000-8000-00000000c0c6')$$,
	'22023', 'these customers are linked to different accounts', 'two records of two accounts are not merged');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.customers WHERE merged_into = '0a690000-0000-4000-8000-00000000c0c4'), 1,
	'nothing more was merged into cora''s record');

-- 4. chains and cycles 0.1.0 let merges make (written here as it wrote them)
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a690000-0000-4000-8000-00000000c0d1', '0a690000-0000-4000-8000-000000000000', 'Root R', 'root@example.com'),
	('0a690000-0000-4000-8000-00000000c0d2', '0a690000-0000-4000-8000-000000000000', 'Mid M', 'mid@example.com'),
	('0a690000-0000-4000-8000-00000000c0d3', '0a690000-0000-4000-8000-000000000000', 'Leaf L', 'leaf@example.com'),
	('0a690000-0000-4000-8000-00000000c0e1', '0a690000-0000-4000-8000-000000000000', 'Cycle A', 'cycle.a@example.com'),
	('0a690000-0000-4000-8000-00000000c0e2', '0a690000-0000-4000-8000-000000000000', 'Cycle B', 'cycle.b@example.com');
-- (merged_into as 0.1.0 let a caller write it: no trigger judges it)
CREATE FUNCTION pg_temp.merged_as_in_0_1_0(p_id uuid, p_into uuid) RETURNS void
LANGUAGE sql SET session_replication_role = replica
AS $$ UPDATE protector.customers SET merged_into = p_into WHERE id = p_id $$;
SELECT pg_temp.merged_as_in_0_1_0(m.id, m.target) FROM (VALUES
	('0a690000-0000-4000-8000-00000000c0d3'::uuid, '0a690000-0000-4000-8000-00000000c0d2'::uuid),
	('0a690000-0000-4000-8000-00000000c0d2', '0a690000-0000-4000-8000-00000000c0d1'),
	('0a690000-0000-4000-8000-00000000c0e1', '0a690000-0000-4000-8000-00000000c0e2'),
	('0a690000-0000-4000-8000-00000000c0e2', '0a690000-0000-4000-8000-00000000c0e1')) m (id, target) \g /dev/null
SELECT tests.authenticate_as('e_admin');
SELECT throws_ok($$SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0d3')$$,
	'22023', 'customer 0a690000-0000-4000-8000-00000000c0d3 was merged into customer 0a690000-0000-4000-8000-00000000c0d1',
	'the leaf of a chain is refused, naming the top of the chain');
SELECT lives_ok($$SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0d1')$$, 'the top of the chain is erased');
SELECT lives_ok($$SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0e1')$$, 'a record of a cycle is erased');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.customers WHERE id IN ('0a690000-0000-4000-8000-00000000c0d1',
		   '0a690000-0000-4000-8000-00000000c0d2', '0a690000-0000-4000-8000-00000000c0d3', '0a690000-0000-4000-8000-00000000c0e1',
		   '0a690000-0000-4000-8000-00000000c0e2') AND full_name = 'erased' AND email IS NULL), 5,
	'the whole chain and the whole cycle are erased (the leaf, two merges down, was left whole)');

-- 5. an erasure written directly erases the records merged into it too
INSERT INTO protector.customers (id, organization_id, full_name, email, phone) VALUES
	('0a690000-0000-4000-8000-00000000c0f1', '0a690000-0000-4000-8000-000000000000', 'Dora Keep', 'dora@example.com', NULL),
	('0a690000-0000-4000-8000-00000000c0f2', '0a690000-0000-4000-8000-000000000000', 'Dora Second', 'dora2@example.com', '+49 30 9999');
SELECT tests.authenticate_as('e_admin');
SELECT protector.merge_customers('0a690000-0000-4000-8000-00000000c0f1', '0a690000-0000-4000-8000-00000000c0f2') \g /dev/null
INSERT INTO protector.customer_erasures (organization_id, customer_id)
VALUES ('0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-00000000c0f1');
SELECT tests.clear_authentication();
SELECT is((SELECT string_agg(concat_ws(' ', full_name, email, phone), ', ' ORDER BY id) FROM protector.customers
		   WHERE id IN ('0a690000-0000-4000-8000-00000000c0f1', '0a690000-0000-4000-8000-00000000c0f2')),
	'erased, erased', 'a direct insert of the kept record''s erasure erases the merged one (it kept its name, e-mail and phone)');

-- 6. free text under protector's own keys goes: a value is kept only as
-- protector writes it (a service and a zone of the organization's, a
-- status, an ISO time)
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a690000-0000-4000-8000-00000000c0a1', '0a690000-0000-4000-8000-000000000000', 'Xaver');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a690000-0000-4000-8000-00000000b009', '0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-0000000000a1',
		'0a690000-0000-4000-8000-0000000005a1', '0a690000-0000-4000-8000-00000000c0a1',
		tstzrange(date_trunc('day', now()) + interval '9 days', date_trunc('day', now()) + interval '9 days 1 hour'), 'confirmed');
INSERT INTO protector.notifications (organization_id, booking_id, kind, payload) VALUES
	('0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-00000000b009', 'booking.cancelled',
	 '{"service": "Xaver, +49 30 2222, HIV positive", "status": "called: wife is pregnant", "start": "Hauptstr. 5",
	   "timezone": "back door", "confirm_by": "2031-01-01T10:00:00+00:00", "party_size": 2}');
SELECT tests.authenticate_as('e_admin');
SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0a1') \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT payload FROM protector.notifications WHERE booking_id = '0a690000-0000-4000-8000-00000000b009' AND kind = 'booking.cancelled'),
	'{"confirm_by": "2031-01-01T10:00:00+00:00", "party_size": 2}'::jsonb,
	'a booking.cancelled written by staff keeps only what protector would have written');

-- 7. erased again with 33 records merged into it (each authorized just
-- before its turn: authorized all first, the first permits were gone, 42501)
INSERT INTO protector.customers (id, organization_id, full_name)
SELECT ('0a690000-0000-4000-8000-0000000010' || lpad(g::text, 2, '0'))::uuid, '0a690000-0000-4000-8000-000000000000', 'Many ' || g
FROM generate_series(0, 33) g;
SELECT tests.authenticate_as('e_admin');
DO $$
BEGIN
	FOR g IN 1..33 LOOP
		PERFORM protector.merge_customers('0a690000-0000-4000-8000-000000001000',
										  ('0a690000-0000-4000-8000-0000000010' || lpad(g::text, 2, '0'))::uuid);
	END LOOP;
END
$$;
SELECT is(protector.erase_customer('0a690000-0000-4000-8000-000000001000') ->> 'already_erased', 'false', 'a record with 33 merged into it is erased');
SELECT is(protector.erase_customer('0a690000-0000-4000-8000-000000001000') ->> 'already_erased', 'true', '... and erased again');
SELECT tests.clear_authentication();

-- 8. a record merged into a cycle is not erased alone (the cycle holds
-- what its merge moved); with the cycle it is
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a690000-0000-4000-8000-00000000c0b1', '0a690000-0000-4000-8000-000000000000', 'Into Cycle', 'into@example.com'),
	('0a690000-0000-4000-8000-00000000c0b2', '0a690000-0000-4000-8000-000000000000', 'Cycle C', NULL),
	('0a690000-0000-4000-8000-00000000c0b3', '0a690000-0000-4000-8000-000000000000', 'Cycle D', NULL);
SELECT pg_temp.merged_as_in_0_1_0(m.id, m.target) FROM (VALUES
	('0a690000-0000-4000-8000-00000000c0b1'::uuid, '0a690000-0000-4000-8000-00000000c0b2'::uuid),
	('0a690000-0000-4000-8000-00000000c0b2', '0a690000-0000-4000-8000-00000000c0b3'),
	('0a690000-0000-4000-8000-00000000c0b3', '0a690000-0000-4000-8000-00000000c0b2')) m (id, target) \g /dev/null
SELECT tests.authenticate_as('e_admin');
SELECT throws_ok($$SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0b1')$$,
	'22023', 'customer 0a690000-0000-4000-8000-00000000c0b1 was merged into customer 0a690000-0000-4000-8000-00000000c0b2',
	'a record merged into a cycle is not erased alone');
SELECT lives_ok($$SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0b3')$$, '... the cycle is, and it with it');
SELECT tests.clear_authentication();
SELECT is((SELECT email FROM protector.customers WHERE id = '0a690000-0000-4000-8000-00000000c0b1'), NULL, '... its e-mail gone');

-- 9. a party size as protector writes it (a phone number there goes)
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a690000-0000-4000-8000-00000000c0a2', '0a690000-0000-4000-8000-000000000000', 'Yara');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a690000-0000-4000-8000-00000000b00a', '0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-0000000000a1',
		'0a690000-0000-4000-8000-0000000005a1', '0a690000-0000-4000-8000-00000000c0a2',
		tstzrange(date_trunc('day', now()) + interval '10 days', date_trunc('day', now()) + interval '10 days 1 hour'), 'confirmed');
INSERT INTO protector.notifications (organization_id, booking_id, kind, payload) VALUES
	('0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-00000000b00a', 'booking.rescheduled', '{"party_size": 4930123456}'),
	('0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-00000000b00a', 'booking.rescheduled', '{"party_size": 19.85}'),
	('0a690000-0000-4000-8000-000000000000', '0a690000-0000-4000-8000-00000000b00a', 'booking.created', '{"party_size": 100000}');
SELECT tests.authenticate_as('e_admin');
SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0a2') \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.notifications WHERE booking_id = '0a690000-0000-4000-8000-00000000b00a'
		   AND kind = 'booking.rescheduled' AND payload <> '{}'), 0, 'a party size no booking has goes');
SELECT is((SELECT payload FROM protector.notifications WHERE booking_id = '0a690000-0000-4000-8000-00000000b00a'
		   AND kind = 'booking.created' AND payload ? 'party_size' AND NOT payload ? 'service'), '{"party_size": 100000}',
	'... the largest a booking may have stays');

-- 10. a chain that ends in a cycle: the hint names a record of the cycle
-- (it named the next record of the chain, itself refused)
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a690000-0000-4000-8000-00000000c0c7', '0a690000-0000-4000-8000-000000000000', 'Tail Two'),
	('0a690000-0000-4000-8000-00000000c0c8', '0a690000-0000-4000-8000-000000000000', 'Tail One'),
	('0a690000-0000-4000-8000-00000000c0c9', '0a690000-0000-4000-8000-000000000000', 'Cycle E'),
	('0a690000-0000-4000-8000-00000000c0ca', '0a690000-0000-4000-8000-000000000000', 'Cycle F');
SELECT pg_temp.merged_as_in_0_1_0(m.id, m.target) FROM (VALUES
	('0a690000-0000-4000-8000-00000000c0c7'::uuid, '0a690000-0000-4000-8000-00000000c0c8'::uuid),
	('0a690000-0000-4000-8000-00000000c0c8', '0a690000-0000-4000-8000-00000000c0c9'),
	('0a690000-0000-4000-8000-00000000c0c9', '0a690000-0000-4000-8000-00000000c0ca'),
	('0a690000-0000-4000-8000-00000000c0ca', '0a690000-0000-4000-8000-00000000c0c9')) m (id, target) \g /dev/null
SELECT tests.authenticate_as('e_admin');
SELECT throws_ok($$SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0c7')$$,
	'22023', 'customer 0a690000-0000-4000-8000-00000000c0c7 was merged into customer 0a690000-0000-4000-8000-00000000c0c9',
	'the tail of a chain into a cycle is refused, naming a record of the cycle');
SELECT lives_ok($$SELECT protector.erase_customer('0a690000-0000-4000-8000-00000000c0c9')$$, '... which erases the whole');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.customers WHERE id IN ('0a690000-0000-4000-8000-00000000c0c7',
		   '0a690000-0000-4000-8000-00000000c0c8', '0a690000-0000-4000-8000-00000000c0c9', '0a690000-0000-4000-8000-00000000c0ca')
		   AND full_name = 'erased'), 4, '... chain and cycle');

SELECT * FROM finish();
ROLLBACK;
