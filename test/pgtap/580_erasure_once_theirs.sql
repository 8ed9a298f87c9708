-- What a review of reminders found (the thirty-third stop): erasing a
-- customer left their address in the worker's error text of a reminder,
-- and their name and address in a review task's description, of a
-- booking handed to another customer since, or moved into another record
-- by a merge: docs/operations.md has the erasure take rows once theirs.
BEGIN;
SELECT plan(37);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user('o_owner') IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_organization('Once', 'once-theirs', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Vault', '1 hour', p_slot_interval => '1 hour', p_mode => 'shared', p_capacity => 10) ->> 'id' AS vault \gset
SELECT protector.create_customer(:'org', 'Ann', 'ann@example.com') ->> 'id' AS ann \gset
SELECT protector.create_customer(:'org', 'Bob', 'bob@example.com') ->> 'id' AS bob \gset
SELECT protector.create_customer(:'org', 'Cy', 'cy@example.com') ->> 'id' AS cy \gset
SELECT protector.create_customer(:'org', 'Dee', 'dee@example.com') ->> 'id' AS dee \gset
SELECT protector.create_booking(:'vault', :'ann', date_trunc('hour', now()) + interval '3 days', 1) ->> 'id' AS handed \gset
SELECT protector.create_booking(:'vault', :'dee', date_trunc('hour', now()) + interval '4 days', 1) ->> 'id' AS merged \gset
SELECT tests.clear_authentication();
-- the worker's error quotes the address; staff describe the booking
UPDATE protector.booking_reminders SET last_error = '550 <ann@example.com>: mailbox unavailable' WHERE booking_id = :'handed';
UPDATE protector.booking_reminders SET last_error = '550 <dee@example.com>: mailbox unavailable' WHERE booking_id = :'merged';
UPDATE protector.tasks SET description = 'Ann (ann@example.com) asked for a cake' WHERE booking_id = :'handed';
UPDATE protector.tasks SET description = 'Dee (dee@example.com) asked for a cake' WHERE booking_id = :'merged';

-- 1. Ann's booking is handed to Bob an hour before Ann is erased (the
-- history made to say so: this test runs in one transaction); tasks are
-- audited, and the review task is marked done after the handover
SELECT protector.enable_audit('protector.tasks') AS changed \gset
SELECT tests.authenticate_as('o_owner');
UPDATE protector.bookings SET customer_id = :'bob' WHERE id = :'handed';
SELECT tests.clear_authentication();
UPDATE protector.audit_log SET occurred_at = occurred_at - interval '1 hour'
WHERE table_name = 'protector.bookings' AND record_id = :'handed';
-- (made three hours ago, with its review task two hours ago: while Ann's)
UPDATE protector.audit_log SET occurred_at = occurred_at - interval '2 hours'
WHERE table_name = 'protector.bookings' AND record_id = :'handed' AND op = 'INSERT';
UPDATE protector.tasks SET created_at = created_at - interval '2 hours' WHERE booking_id = :'handed';
UPDATE protector.tasks SET status = 'done' WHERE booking_id = :'handed';
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'ann') IS NOT NULL \g /dev/null
-- 2. Dee is merged into Cy, then Cy is erased, and Dee with it (a merged
-- record is not erased alone: pgTAP 690)
SELECT protector.merge_customers(:'cy', :'dee') IS NOT NULL \g /dev/null
SELECT protector.erase_customer(:'cy') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();

SELECT is((SELECT count(*)::int FROM protector.booking_reminders WHERE booking_id IN (:'handed', :'merged') AND last_error IS NOT NULL), 0,
	'the reminders'' error texts of bookings once theirs are gone');
SELECT ok((SELECT bool_and(status <> 'cancelled') FROM protector.booking_reminders WHERE booking_id = :'handed'),
	'... and the reminders of the booking handed over stay, for the customer they are for now');
SELECT is((SELECT count(*)::int FROM protector.tasks WHERE booking_id IN (:'handed', :'merged') AND description IS NOT NULL), 0,
	'the review tasks'' descriptions are gone');
SELECT is((SELECT count(*)::int FROM protector.audit_log
		   WHERE organization_id = :'org' AND table_name IN ('protector.booking_reminders', 'protector.tasks')
			 AND (COALESCE(old_row::text, '') || COALESCE(new_row::text, '')) ~ '(ann|dee)@example'), 0,
	'... in the history too');
SELECT is((SELECT count(*)::int FROM protector.audit_log
		   WHERE organization_id = :'org' AND (COALESCE(old_row::text, '') || COALESCE(new_row::text, '')) ~ '(ann|dee)@example'), 0,
	'no address of theirs is left anywhere in the history');
SELECT ok((SELECT count(*) FROM protector.booking_reminders WHERE booking_id = :'handed' AND status = 'pending') > 0,
	'Bob''s booking keeps its pending reminders');

-- 3. Xena, signed in, books with a request key and pays; the desk hands
-- the booking to Yvonne and writes Yvonne a task; Xena is erased: her
-- account goes from the booking, its key and its payment (it stayed on
-- them while their history lost it), Yvonne's task stays
SELECT tests.create_supabase_user('o_xena') IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Xena', 'xena@example.com') ->> 'id' AS xena \gset
SELECT protector.create_customer(:'org', 'Yvonne', 'yvonne@example.com') ->> 'id' AS yvonne \gset
SELECT tests.clear_authentication();
UPDATE protector.customers SET user_id = tests.get_supabase_uid('o_xena') WHERE id = :'xena';
SELECT tests.authenticate_as('o_xena');
SELECT protector.create_booking(:'vault', NULL, date_trunc('hour', now()) + interval '5 days', 1, 'k1') ->> 'id' AS xb \gset
SELECT tests.clear_authentication();
INSERT INTO protector.payments (organization_id, booking_id, amount, status, created_by)
VALUES (:'org', :'xb', 5, 'succeeded', tests.get_supabase_uid('o_xena'));
SELECT tests.authenticate_as('o_owner');
UPDATE protector.bookings SET customer_id = :'yvonne' WHERE id = :'xb';
SELECT tests.clear_authentication();
INSERT INTO protector.tasks (organization_id, booking_id, title, description, created_at)
VALUES (:'org', :'xb', 'Call Yvonne', 'Yvonne: nut allergy', now() + interval '1 minute') RETURNING id AS yvonne_task \gset
UPDATE protector.audit_log SET occurred_at = occurred_at + interval '1 minute'
WHERE table_name = 'protector.tasks' AND record_id = :'yvonne_task';
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'xena') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT format('%s %s', created_by, idempotency_key) FROM protector.bookings WHERE id = :'xb'), ' ',
	'the erased customer''s account goes from a booking once hers, and from its request key');
SELECT is((SELECT count(*)::int FROM protector.payments WHERE booking_id = :'xb' AND created_by IS NOT NULL), 0,
	'... and from its payment');
SELECT is((SELECT format('%s / %s', title, description) FROM protector.tasks WHERE booking_id = :'xb' AND kind <> 'booking_review'),
	'Call Yvonne / Yvonne: nut allergy', 'a task written for the next customer after the handover stays');

-- 4. tasks audited with their ids masked: the erasure still goes through
-- (it cast "[masked]" to a uuid and failed)
SELECT protector.enable_audit('protector.tasks', '{id}') AS changed \gset
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Zed', 'zed@example.com') ->> 'id' AS zed \gset
SELECT protector.create_booking(:'vault', :'zed', date_trunc('hour', now()) + interval '6 days', 1) ->> 'id' AS zb \gset
SELECT tests.clear_authentication();
INSERT INTO protector.tasks (organization_id, booking_id, title, description) VALUES (:'org', :'zb', 'Call Zed', 'zed@example.com');
SELECT tests.authenticate_as('o_owner');
UPDATE protector.bookings SET customer_id = :'bob' WHERE id = :'zb';
SELECT lives_ok(format($$SELECT protector.erase_customer(%L)$$, :'zed'), 'an erasure with the tasks'' ids masked in the history');
SELECT tests.clear_authentication();

-- 5. bookings audited with their ids masked: the erasure still goes
-- through (a row naming the customer with a masked id was cast to uuid)
SELECT protector.enable_audit('protector.bookings', '{id}') AS changed \gset
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Yul', 'yul@example.com') ->> 'id' AS yul \gset
SELECT protector.create_booking(:'vault', :'yul', date_trunc('hour', now()) + interval '7 days', 1) ->> 'id' AS yb \gset
UPDATE protector.bookings SET details = '{"note": "window seat"}' WHERE id = :'yb';
SELECT lives_ok(format($$SELECT protector.erase_customer(%L)$$, :'yul'), 'an erasure with the bookings'' ids masked in the history');
SELECT tests.clear_authentication();

-- 6. messages audited without their default mask: the erasure takes the
-- bodies from the history too (it took them from the rows only)
SELECT protector.enable_audit('protector.booking_messages') AS changed \gset
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Val', 'val@example.com') ->> 'id' AS val \gset
SELECT protector.create_booking(:'vault', :'val', date_trunc('hour', now()) + interval '8 days', 1) ->> 'id' AS vb \gset
SELECT protector.send_message(:'vb', 'Val, your code for val@example.com is 1234') IS NOT NULL AS sent \gset
SELECT protector.erase_customer(:'val') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.audit_log
		   WHERE table_name = 'protector.booking_messages' AND (COALESCE(old_row::text, '') || COALESCE(new_row::text, '')) ~ 'val@example'), 0,
	'a message''s body leaves the history with the erasure, whatever the masks');

-- 7. (an attack review) Wanda's widget booking, paid with a note naming
-- her, is handed to Bob an hour before she is erased; Bob pays after the
-- handover.  Her payment's details and the widget's request key, a hash
-- of her address, stayed on the booking and in its history
SELECT protector.enable_audit('protector.bookings') AS changed \gset
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Wanda', 'wanda@example.com') ->> 'id' AS wanda \gset
SELECT protector.create_booking(:'vault', :'wanda', date_trunc('hour', now()) + interval '9 days', 1) ->> 'id' AS wb \gset
SELECT tests.clear_authentication();
SELECT 'widget/' || md5('wanda@example.com') AS wanda_hash \gset
UPDATE protector.bookings SET idempotency_key = :'wanda_hash' || '/' || :'venue' || '/req-1' WHERE id = :'wb';
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details, created_at)
VALUES (:'org', :'wb', 5, 'succeeded', '{"note": "paid by Wanda, wanda@example.com", "fee": 1}', now() - interval '2 hours');
SELECT tests.authenticate_as('o_owner');
UPDATE protector.bookings SET customer_id = :'bob' WHERE id = :'wb';
SELECT tests.clear_authentication();
UPDATE protector.audit_log SET occurred_at = occurred_at - interval '1 hour'
WHERE (table_name = 'protector.bookings' AND record_id = :'wb')
   OR (table_name = 'protector.payments' AND new_row ->> 'booking_id' = :'wb');
-- (made three hours ago: her payment, two hours ago, was made while hers)
UPDATE protector.audit_log SET occurred_at = occurred_at - interval '2 hours'
WHERE table_name = 'protector.bookings' AND record_id = :'wb' AND op = 'INSERT';
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details, created_at)
VALUES (:'org', :'wb', 7, 'succeeded', '{"note": "Bob paid at the desk"}', now() + interval '1 minute') RETURNING id AS bob_payment \gset
UPDATE protector.audit_log SET occurred_at = occurred_at + interval '1 minute'
WHERE table_name = 'protector.payments' AND record_id = :'bob_payment';
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'wanda') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT string_agg(details::text, ' / ' ORDER BY amount) FROM protector.payments WHERE booking_id = :'wb'),
	'{"fee": 1} / {"note": "Bob paid at the desk"}',
	'the payment of a booking once hers, made before it left her, loses her details; Bob''s, made after, keeps his');
SELECT is((SELECT idempotency_key FROM protector.bookings WHERE id = :'wb'), NULL,
	'... and the widget''s request key, a hash of her address, goes from the booking');
SELECT is((SELECT count(*)::int FROM protector.audit_log
		   WHERE organization_id = :'org' AND (COALESCE(old_row::text, '') || COALESCE(new_row::text, '')) ~ ('wanda@example|' || md5('wanda@example.com'))),
	0, '... and from the history, with her payment''s note');

-- 8. (a review) only what was written while a booking was the erased
-- customer's goes: Bob's booking goes to Eve by mistake and back, to
-- Eve again and then to Dan; Eve is erased.  What was written for Bob
-- before Eve had it and between her two turns, and for Dan after, stays
-- (the erasure took all that came before the booking last left her).
-- Each step is dated an hour or half an hour apart (this test runs in
-- one transaction): pg_temp.step dates the rows written since the last.
CREATE FUNCTION pg_temp.step(p_ago interval) RETURNS void LANGUAGE sql AS $$
	UPDATE protector.audit_log SET occurred_at = now() - p_ago WHERE occurred_at = now();
	UPDATE protector.payments SET created_at = now() - p_ago WHERE created_at = now();
	UPDATE protector.tasks SET created_at = now() - p_ago WHERE created_at = now();
	UPDATE protector.notifications SET created_at = now() - p_ago WHERE created_at = now();
	UPDATE protector.audit_log SET occurred_at = now() - p_ago WHERE occurred_at = now();
$$;
SELECT pg_temp.step('1 year');		-- (everything of before out of the way)
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Eve', 'eve@example.com') ->> 'id' AS eve \gset
SELECT protector.create_customer(:'org', 'Dan', 'dan@example.com') ->> 'id' AS dan \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '10 days', 1) ->> 'id' AS eb \gset
SELECT tests.clear_authentication();
SELECT pg_temp.step('6 hours');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'eb', 1, 'succeeded', '{"note": "Bob paid by card"}');
INSERT INTO protector.tasks (organization_id, booking_id, title, description) VALUES (:'org', :'eb', 'Call Bob', 'Bob: window seat');
SELECT pg_temp.step('5 hours');
UPDATE protector.bookings SET customer_id = :'eve' WHERE id = :'eb';
SELECT pg_temp.step('4 hours');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'eb', 2, 'succeeded', '{"note": "Eve paid cash"}');
INSERT INTO protector.notifications (organization_id, booking_id, kind, payload)
VALUES (:'org', :'eb', 'desk.note', '{"text": "Eve asked for nuts"}');
SELECT pg_temp.step('3 hours 30 minutes');
UPDATE protector.bookings SET customer_id = :'bob' WHERE id = :'eb';
SELECT pg_temp.step('3 hours');
-- (Bob's second payment written in the transaction that gives the
-- booking to Eve again, before it does: Bob's, by the order of writing,
-- where the transaction's time is Eve's period's first instant)
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'eb', 3, 'succeeded', '{"note": "Bob paid again"}');
UPDATE protector.bookings SET customer_id = :'eve' WHERE id = :'eb';
SELECT pg_temp.step('2 hours');
INSERT INTO protector.tasks (organization_id, booking_id, title, description) VALUES (:'org', :'eb', 'Cake', 'Eve: birthday cake');
SELECT pg_temp.step('1 hour 30 minutes');
-- (Dan's payment written in the transaction that hands the booking to
-- him, after it does: Dan's)
UPDATE protector.bookings SET customer_id = :'dan' WHERE id = :'eb';
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'eb', 4, 'succeeded', '{"note": "Dan paid"}');
SELECT pg_temp.step('30 minutes');
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'eve') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT string_agg(format('%s %s', amount, details ->> 'note'), ' / ' ORDER BY amount) FROM protector.payments WHERE booking_id = :'eb'),
	'1.00 Bob paid by card / 2.00  / 3.00 Bob paid again / 4.00 Dan paid',
	'of a booking twice hers, only the payment made while it was Eve''s loses its details');
SELECT is((SELECT string_agg(format('%s: %s', title, description), ' / ' ORDER BY title) FROM protector.tasks
		   WHERE booking_id = :'eb' AND kind <> 'booking_review'),
	'Call Bob: Bob: window seat / [erased]: ',
	'... the task written in her second turn is erased, Bob''s of before hers stays');
SELECT is((SELECT payload FROM protector.notifications WHERE booking_id = :'eb' AND kind = 'desk.note'), '{}'::jsonb,
	'... the desk''s note of her first turn goes');
SELECT is((SELECT count(DISTINCT record_id)::int FROM protector.audit_log
		   WHERE organization_id = :'org' AND table_name = 'protector.payments' AND op = 'INSERT'
			 AND new_row ->> 'details' ~ '(Bob paid by card|Bob paid again|Dan paid)'),
	3, '... and the history keeps the others'' payments as they were');

-- 9. a walk-in, paid with a note naming her, then named Wes, then handed
-- to Bob: what was written of the walk-in was written of Wes
SELECT pg_temp.step('1 year');
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Wes', 'wes@example.com') ->> 'id' AS wes \gset
SELECT protector.create_booking(:'vault', NULL, date_trunc('hour', now()) + interval '11 days', 1) ->> 'id' AS walkin \gset
SELECT tests.clear_authentication();
SELECT pg_temp.step('4 hours');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'walkin', 1, 'succeeded', '{"note": "walk-in, Wes W., card"}');
SELECT pg_temp.step('3 hours');
UPDATE protector.bookings SET customer_id = :'wes' WHERE id = :'walkin';
SELECT pg_temp.step('2 hours');
UPDATE protector.bookings SET customer_id = :'bob' WHERE id = :'walkin';
SELECT pg_temp.step('1 hour');
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'wes') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT details FROM protector.payments WHERE booking_id = :'walkin'), '{}'::jsonb,
	'a payment of the walk-in before the booking was named Wes is his, and loses its note');

-- 10. (a review of 9) Bob's booking, paid by Bob, his name taken off and
-- Fay's put on, paid by Fay, handed to Dan; a transaction begun while it
-- was Fay's writes her a payment after the handover to Dan is written,
-- before it commits (made so: dated inside Fay's time, logged after the
-- handover).  Fay is erased: Bob's payment of before stays, Fay's two go
SELECT pg_temp.step('1 year');
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Fay', 'fay@example.com') ->> 'id' AS fay \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '12 days', 1) ->> 'id' AS fb \gset
SELECT tests.clear_authentication();
SELECT pg_temp.step('6 hours');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'fb', 1, 'succeeded', '{"note": "Bob paid for fb"}');
SELECT pg_temp.step('5 hours');
UPDATE protector.bookings SET customer_id = NULL WHERE id = :'fb';
SELECT pg_temp.step('4 hours');
UPDATE protector.bookings SET customer_id = :'fay' WHERE id = :'fb';
SELECT pg_temp.step('3 hours');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'fb', 2, 'succeeded', '{"note": "Fay paid"}');
SELECT pg_temp.step('2 hours');
UPDATE protector.bookings SET customer_id = :'dan' WHERE id = :'fb';
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'fb', 3, 'succeeded', '{"note": "Fay paid late"}');
SELECT pg_temp.step('1 hour');
UPDATE protector.payments SET created_at = now() - interval '90 minutes' WHERE booking_id = :'fb' AND amount = 3;
UPDATE protector.audit_log SET occurred_at = now() - interval '90 minutes'
WHERE table_name = 'protector.payments' AND op = 'INSERT' AND new_row ->> 'booking_id' = :'fb' AND (new_row ->> 'amount')::numeric = 3;
UPDATE protector.audit_log SET occurred_at = now() - interval '1 hour'
WHERE table_name = 'protector.bookings' AND record_id = :'fb' AND occurred_at = now() - interval '2 hours'
  AND new_row ->> 'customer_id' = :'dan';
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'fay') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT string_agg(format('%s %s', amount, details ->> 'note'), ' / ' ORDER BY amount) FROM protector.payments WHERE booking_id = :'fb'),
	'1.00 Bob paid for fb / 2.00  / 3.00 ',
	'Bob''s payment of before his name was taken off stays; Fay''s go, also one written by a transaction begun while it was hers');

-- 11. (left at the forty-ninth stop) a booking that is the erased
-- customer's now: what was written while it was another's stays.
-- Bob's booking, with Bob's payment, task and desk note, is handed to
-- Gil, who pays; Gil is erased (desk notes audited, and tasks with their
-- ids: the history tells when each was written; section 13 has a
-- history that does not)
SELECT protector.enable_audit('protector.notifications') AS changed \gset
SELECT protector.enable_audit('protector.tasks') AS changed \gset
SELECT pg_temp.step('1 year');
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Gil', 'gil@example.com') ->> 'id' AS gil \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '13 days', 1) ->> 'id' AS gb \gset
SELECT tests.clear_authentication();
SELECT pg_temp.step('5 hours');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'gb', 1, 'succeeded', '{"note": "Bob paid for gb"}');
INSERT INTO protector.tasks (organization_id, booking_id, title, description) VALUES (:'org', :'gb', 'Call Bob', 'Bob: aisle seat');
INSERT INTO protector.notifications (organization_id, booking_id, kind, payload)
VALUES (:'org', :'gb', 'desk.note', '{"text": "Bob wants tea"}');
SELECT pg_temp.step('4 hours');
UPDATE protector.bookings SET customer_id = :'gil' WHERE id = :'gb';
SELECT pg_temp.step('3 hours');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'gb', 2, 'succeeded', '{"note": "Gil paid"}');
INSERT INTO protector.tasks (organization_id, booking_id, title, description) VALUES (:'org', :'gb', 'Cake', 'Gil: birthday cake');
SELECT pg_temp.step('2 hours');
-- (and a walk-in with a payment naming her, named Hil, hers now: what was
-- written of the walk-in was written of her; Bob's booking, his name
-- taken off and Ivy's put on: his payment of before stays)
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Hil', 'hil@example.com') ->> 'id' AS hil \gset
SELECT protector.create_customer(:'org', 'Ivy', 'ivy@example.com') ->> 'id' AS ivy \gset
SELECT protector.create_booking(:'vault', NULL, date_trunc('hour', now()) + interval '14 days', 1) ->> 'id' AS hw \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '15 days', 1) ->> 'id' AS ib \gset
SELECT tests.clear_authentication();
SELECT pg_temp.step('90 minutes');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'hw', 1, 'succeeded', '{"note": "walk-in, Hil H., card"}'),
	   (:'org', :'ib', 1, 'succeeded', '{"note": "Bob paid for ib"}');
SELECT pg_temp.step('80 minutes');
UPDATE protector.bookings SET customer_id = NULL WHERE id = :'ib';
SELECT pg_temp.step('70 minutes');
UPDATE protector.bookings SET customer_id = :'hil' WHERE id = :'hw';
UPDATE protector.bookings SET customer_id = :'ivy' WHERE id = :'ib';
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'ib', 2, 'succeeded', '{"note": "Ivy paid"}');
SELECT pg_temp.step('1 hour');
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'gil') IS NOT NULL AS erased \gset
SELECT protector.erase_customer(:'hil') IS NOT NULL AS erased \gset
SELECT protector.erase_customer(:'ivy') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT string_agg(format('%s %s', amount, details ->> 'note'), ' / ' ORDER BY amount) FROM protector.payments WHERE booking_id = :'gb'),
	'1.00 Bob paid for gb / 2.00 ',
	'of a booking Gil''s now, the payment made while it was Bob''s keeps its details');
SELECT is((SELECT string_agg(format('%s: %s', title, description), ' / ' ORDER BY title) FROM protector.tasks
		   WHERE booking_id = :'gb' AND kind <> 'booking_review'),
	'Call Bob: Bob: aisle seat / [erased]: ',
	'... Bob''s task stays, Gil''s is erased');
SELECT is((SELECT payload ->> 'text' FROM protector.notifications WHERE booking_id = :'gb' AND kind = 'desk.note'), 'Bob wants tea',
	'... and so does the desk''s note of Bob''s time');
SELECT is((SELECT count(*)::int FROM protector.audit_log
		   WHERE organization_id = :'org' AND table_name IN ('protector.payments', 'protector.tasks')
			 AND op = 'INSERT' AND new_row::text ~ '(Bob paid for gb|Bob: aisle seat)'),
	2, '... in the history too (of payments and tasks; notifications are not audited by default)');
SELECT is((SELECT string_agg(format('%s %s', p.amount, p.details ->> 'note'), ' / ' ORDER BY b.id = :'hw' DESC, p.amount)
		   FROM protector.payments p JOIN protector.bookings b ON b.id = p.booking_id WHERE b.id IN (:'hw', :'ib')),
	'1.00  / 1.00 Bob paid for ib / 2.00 ',
	'a walk-in''s payment is Hil''s; of Bob''s booking with his name taken off and Ivy''s put on, Bob''s stays');

-- 12. (left at the forty-ninth stop) a row written before a booking was
-- the erased customer's, whose text was changed while it was theirs:
-- the text is theirs (the row's whole history goes, the safe side); a
-- row only marked done in their time is not.  Bob's booking with two
-- tasks and a payment is handed to Kim, who is written into one task
-- and the payment; the other task is marked done; then to Dan; Kim is
-- erased.
SELECT pg_temp.step('1 year');
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Kim', 'kim@example.com') ->> 'id' AS kim \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '16 days', 1) ->> 'id' AS kb \gset
SELECT tests.clear_authentication();
SELECT pg_temp.step('5 hours');
INSERT INTO protector.tasks (organization_id, booking_id, title, description)
VALUES (:'org', :'kb', 'Diet', 'Bob: none'), (:'org', :'kb', 'Seat', 'Bob: by the window');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'kb', 1, 'pending', '{"note": "Bob to pay"}');
SELECT pg_temp.step('4 hours');
UPDATE protector.bookings SET customer_id = :'kim' WHERE id = :'kb';
SELECT pg_temp.step('3 hours');
UPDATE protector.tasks SET description = 'Kim: vegan, allergic to nuts' WHERE booking_id = :'kb' AND title = 'Diet';
UPDATE protector.tasks SET status = 'done', completed_at = now() WHERE booking_id = :'kb' AND title = 'Seat';
UPDATE protector.payments SET details = '{"note": "Kim pays, card ending 4242"}' WHERE booking_id = :'kb';
SELECT pg_temp.step('2 hours');
UPDATE protector.bookings SET customer_id = :'dan' WHERE id = :'kb';
SELECT pg_temp.step('1 hour');
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'kim') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT string_agg(format('%s: %s', title, description), ' / ' ORDER BY title) FROM protector.tasks
		   WHERE booking_id = :'kb' AND kind <> 'booking_review'),
	'Seat: Bob: by the window / [erased]: ',
	'a task written for Bob and rewritten in Kim''s time is erased; one only marked done in her time stays');
SELECT is((SELECT details FROM protector.payments WHERE booking_id = :'kb'), '{}'::jsonb,
	'... as is a payment''s note rewritten in her time');
SELECT is((SELECT count(*)::int FROM protector.audit_log
		   WHERE organization_id = :'org' AND table_name IN ('protector.payments', 'protector.tasks')
			 AND (old_row::text ~ '(Kim: vegan|card ending 4242)' OR new_row::text ~ '(Kim: vegan|card ending 4242)')),
	0, '... in the history too');
SELECT is((SELECT count(*)::int FROM protector.audit_log
		   WHERE organization_id = :'org' AND table_name = 'protector.tasks' AND new_row::text ~ 'Bob: by the window'),
	3, '... and the task only marked done keeps its history (its insert, a test''s redating, its marking done)');

-- 13. (a review of 11 and 12) where the history does not log a table's
-- text (desk notes not audited, as by default; payments audited with
-- their details masked), what was written of a booking theirs now is
-- theirs whole, the safe side: Bob's booking handed to Lia, its note
-- and payment rewritten for her in her time, are erased with her (the
-- history could not tell the rewrite)
SELECT protector.disable_audit('protector.notifications') AS changed \gset
SELECT protector.enable_audit('protector.payments', '{details}') AS changed \gset
SELECT pg_temp.step('1 year');
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Lia', 'lia@example.com') ->> 'id' AS lia \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '17 days', 1) ->> 'id' AS lb \gset
SELECT tests.clear_authentication();
SELECT pg_temp.step('3 hours');
INSERT INTO protector.notifications (organization_id, booking_id, kind, payload)
VALUES (:'org', :'lb', 'desk.note', '{"text": "Bob wants tea"}');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'lb', 1, 'pending', '{"note": "Bob to pay"}');
SELECT pg_temp.step('2 hours');
UPDATE protector.bookings SET customer_id = :'lia' WHERE id = :'lb';
SELECT pg_temp.step('90 minutes');
UPDATE protector.notifications SET payload = '{"text": "Lia: allergic to nuts"}' WHERE booking_id = :'lb' AND kind = 'desk.note';
UPDATE protector.payments SET details = '{"note": "Lia pays, card ending 4242"}' WHERE booking_id = :'lb';
SELECT pg_temp.step('1 hour');
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'lia') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT format('%s %s', n.payload, p.details) FROM protector.notifications n, protector.payments p
		   WHERE n.booking_id = :'lb' AND n.kind = 'desk.note' AND p.booking_id = :'lb'),
	'{} {}', 'unlogged rewrites on a booking theirs now: the note and the payment''s details go');

-- 14. (a review of 13) the history turned on, or unmasked, after such a
-- rewrite has still not logged it: Mo's booking, Bob's before, its task
-- and note (not audited then) and payment (masked) rewritten for Mo;
-- then all three audited whole, and Mo erased: all three go
SELECT protector.disable_audit('protector.tasks') AS changed \gset
SELECT pg_temp.step('1 year');
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Mo', 'mo@example.com') ->> 'id' AS mo \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '18 days', 1) ->> 'id' AS mb \gset
SELECT tests.clear_authentication();
SELECT pg_temp.step('3 hours');
INSERT INTO protector.notifications (organization_id, booking_id, kind, payload)
VALUES (:'org', :'mb', 'desk.note', '{"text": "Bob wants tea"}');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'mb', 1, 'pending', '{"note": "Bob to pay"}');
INSERT INTO protector.tasks (organization_id, booking_id, title, description) VALUES (:'org', :'mb', 'Access', 'Bob: none');
SELECT pg_temp.step('2 hours');
UPDATE protector.bookings SET customer_id = :'mo' WHERE id = :'mb';
SELECT pg_temp.step('90 minutes');
UPDATE protector.notifications SET payload = '{"text": "Mo: allergic to nuts"}' WHERE booking_id = :'mb' AND kind = 'desk.note';
UPDATE protector.payments SET details = '{"note": "Mo pays, card ending 4242"}' WHERE booking_id = :'mb';
UPDATE protector.tasks SET description = 'Mo: wheelchair access' WHERE booking_id = :'mb' AND title = 'Access';
SELECT pg_temp.step('1 hour');
SELECT protector.enable_audit('protector.notifications') AS changed \gset
SELECT protector.enable_audit('protector.payments') AS changed \gset
SELECT protector.enable_audit('protector.tasks') AS changed \gset
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'mo') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT format('%s %s %s', n.payload, p.details, COALESCE(t.description, 'NULL'))
		   FROM protector.notifications n, protector.payments p, protector.tasks t
		   WHERE n.booking_id = :'mb' AND n.kind = 'desk.note' AND p.booking_id = :'mb' AND t.booking_id = :'mb'
			 AND t.kind = 'manual'),
	'{} {} NULL', 'rewrites the history did not log, audited since: the note, the payment''s details and the task''s text go');

-- 15. (a review of 14) a task written of Qin on her own booking and moved
-- by the desk onto one handed to her is hers (it kept its text, being
-- the text last logged for it: on another booking); and a reschedule in
-- Ray's time, which writes the review task's title again, does not make
-- Bob's description of it Ray's
SELECT pg_temp.step('1 year');
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Qin', 'qin@example.com') ->> 'id' AS qin \gset
SELECT protector.create_customer(:'org', 'Ray', 'ray@example.com') ->> 'id' AS ray \gset
SELECT protector.create_booking(:'vault', :'qin', date_trunc('hour', now()) + interval '19 days', 1) ->> 'id' AS q0 \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '20 days', 1) ->> 'id' AS q1 \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '21 days', 1) ->> 'id' AS r1 \gset
SELECT tests.clear_authentication();
SELECT pg_temp.step('3 hours');
INSERT INTO protector.tasks (organization_id, booking_id, title, description) VALUES (:'org', :'q0', 'Diet', 'Qin: severe nut allergy');
UPDATE protector.tasks SET description = 'Bob: wheelchair' WHERE booking_id = :'r1' AND kind = 'booking_review';
SELECT pg_temp.step('2 hours');
UPDATE protector.bookings SET customer_id = :'qin' WHERE id = :'q1';
UPDATE protector.bookings SET customer_id = :'ray' WHERE id = :'r1';
SELECT pg_temp.step('90 minutes');
UPDATE protector.tasks SET booking_id = :'q1' WHERE booking_id = :'q0' AND kind = 'manual';
UPDATE protector.bookings SET during = tstzrange(lower(during) + interval '1 hour', upper(during) + interval '1 hour') WHERE id = :'r1';
SELECT pg_temp.step('1 hour');
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'qin') IS NOT NULL AS erased \gset
SELECT protector.erase_customer(:'ray') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT format('%s: %s', title, COALESCE(description, 'NULL')) FROM protector.tasks WHERE booking_id = :'q1' AND kind = 'manual'),
	'[erased]: NULL', 'a task of hers moved onto a booking handed to her is erased with her');
SELECT is((SELECT description FROM protector.tasks WHERE booking_id = :'r1' AND kind = 'booking_review'), NULL,
	'a reschedule in Ray''s time, which writes the review task''s title again, makes the task Ray''s (staff may write a title of their own, and the history does not tell which wrote it): the safe side');

-- 16. (a review of 14) a history purged: a row of before the purge, of a
-- booking theirs now, has no history that shows it another's, as one of
-- a table never audited has none: it goes (the settings of now do not
-- tell a purged history from one never written, and a fallback to its
-- time kept rewrites of a table audited only since)
SELECT pg_temp.step('1 year');
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Pia', 'pia@example.com') ->> 'id' AS pia \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '22 days', 1) ->> 'id' AS pb \gset
SELECT tests.clear_authentication();
INSERT INTO protector.payments (organization_id, booking_id, amount, status, details)
VALUES (:'org', :'pb', 1, 'pending', '{"note": "Bob pays by card 1111"}');
SELECT pg_temp.step('2 hours');
SELECT tests.authenticate_as('o_owner');
SELECT protector.purge_audit_log(now() - interval '1 hour', :'org') IS NOT NULL AS purged \gset
SELECT tests.clear_authentication();
UPDATE protector.bookings SET customer_id = :'pia' WHERE id = :'pb';
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'pia') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT details FROM protector.payments WHERE booking_id = :'pb'), '{}'::jsonb,
	'Bob''s payment of before the purge, its history gone, goes with Pia''s erasure: the safe side');

-- 17. (a review of 15 and 16) a review task's title staff write in Tia's
-- time is hers, in the history too; and desk notes (not audited) of
-- before the purge, rewritten in Sam's time, are his: the purge took no
-- history of theirs, they never had any
SELECT protector.disable_audit('protector.notifications') AS changed \gset
SELECT tests.authenticate_as('o_owner');
SELECT protector.create_customer(:'org', 'Tia', 'tia@example.com') ->> 'id' AS tia \gset
SELECT protector.create_customer(:'org', 'Sam', 'sam@example.com') ->> 'id' AS sam \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '23 days', 1) ->> 'id' AS tb \gset
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '24 days', 1) ->> 'id' AS sb \gset
SELECT tests.clear_authentication();
INSERT INTO protector.notifications (organization_id, booking_id, kind, payload)
VALUES (:'org', :'sb', 'desk.note', '{"text": "Bob wants tea"}');
SELECT pg_temp.step('2 hours');
UPDATE protector.bookings SET customer_id = :'tia' WHERE id = :'tb';
UPDATE protector.bookings SET customer_id = :'sam' WHERE id = :'sb';
UPDATE protector.tasks SET title = 'Tia Smith (tia@example.com): wheelchair' WHERE booking_id = :'tb' AND kind = 'booking_review';
UPDATE protector.notifications SET payload = '{"text": "Sam: severe nut allergy"}' WHERE booking_id = :'sb' AND kind = 'desk.note';
-- (desk notes audited from now on: the rewrite, and the note, had none)
SELECT protector.enable_audit('protector.notifications') AS changed \gset
SELECT tests.authenticate_as('o_owner');
SELECT protector.erase_customer(:'tia') IS NOT NULL AS erased \gset
SELECT protector.erase_customer(:'sam') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.tasks WHERE title ~ 'tia@example' AND booking_id = :'tb')
		  + (SELECT count(*)::int FROM protector.audit_log WHERE table_name = 'protector.tasks' AND new_row::text ~ 'tia@example'),
	0, 'a review task''s title staff wrote in Tia''s time goes with her, in the history too');
SELECT is((SELECT payload FROM protector.notifications WHERE booking_id = :'sb' AND kind = 'desk.note'), '{}'::jsonb,
	'a desk note of before the purge, not audited then (audited since), rewritten in Sam''s time, goes with him');

SELECT * FROM finish();
ROLLBACK;
