-- Erasure and merges, as an attack on them found them: the records merged
-- into an erased customer are erased with it; an erasure runs again when
-- asked again, and nothing writes personal data into an erased record;
-- bookings are for customers neither merged nor erased; merged_into is
-- written by merge_customers only (no chains, cycles or second targets);
-- a merge moves a signature without a booking; more than 100 tags are
-- refused by name; an erasure's own change is broadcast without the data
-- it erases; what people wrote about the customer elsewhere (a voucher's
-- note, a payment's provider details, their bookings' tasks) goes with
-- it, protector's refund note stays.
BEGIN;
SELECT plan(38);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['x_admin', 'x_manager', 'x_operator', 'x_customer']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a250000-0000-4000-8000-000000000000', 'X', 'erasure-x');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a250000-0000-4000-8000-000000000000', tests.get_supabase_uid('x_' || r), r::protector.member_role
FROM unnest(ARRAY['admin', 'manager', 'operator']) r;
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a250000-0000-4000-8000-0000000000a1', '0a250000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a250000-0000-4000-8000-0000000005a1', '0a250000-0000-4000-8000-000000000000', '0a250000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days', 10, 4, 'shared');
-- c1 and c2 are one person (c2 is merged into c1); d1..d3 and e1, e2
-- without bookings; aa and ab with 60 tags each, 120 together
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, notes, tags, user_id) VALUES
	('0a250000-0000-4000-8000-00000000c001', '0a250000-0000-4000-8000-000000000000', 'Alice Smith', 'alice@example.com',
	 '030 1234567', 'kept notes', '{a}', tests.get_supabase_uid('x_customer')),
	('0a250000-0000-4000-8000-00000000c002', '0a250000-0000-4000-8000-000000000000', 'Alice S', 'ALICE@example.com',
	 '030 7654321', 'dup notes', '{x}', NULL),
	('0a250000-0000-4000-8000-00000000c003', '0a250000-0000-4000-8000-000000000000', 'Bob Other', 'bob@example.com',
	 NULL, NULL, '{}', NULL);
INSERT INTO protector.customers (id, organization_id, full_name, tags)
SELECT ('0a250000-0000-4000-8000-0000000000' || n)::uuid, '0a250000-0000-4000-8000-000000000000', upper(n),
	   CASE n WHEN 'aa' THEN ARRAY(SELECT 'p' || i FROM generate_series(1, 60) i)
			  WHEN 'ab' THEN ARRAY(SELECT 'q' || i FROM generate_series(1, 60) i) ELSE '{}' END
FROM unnest(ARRAY['d1', 'd2', 'd3', 'e1', 'e2', 'aa', 'ab']) n;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, details)
SELECT ('0a250000-0000-4000-8000-00000000b00' || h)::uuid, '0a250000-0000-4000-8000-000000000000',
	   '0a250000-0000-4000-8000-0000000000a1', '0a250000-0000-4000-8000-0000000005a1',
	   ('0a250000-0000-4000-8000-00000000c00' || h)::uuid,
	   tstzrange(date_trunc('day', now()) + interval '2 days' + h * interval '1 hour',
				 date_trunc('day', now()) + interval '2 days' + (h + 1) * interval '1 hour'),
	   'confirmed', jsonb_build_object('note', 'secret of ' || h)
FROM generate_series(1, 2) h;
SELECT protector.enable_realtime() \g /dev/null

-- 1. the kept customer's erasure erases what was merged into it
SELECT tests.authenticate_as('x_manager');
SELECT lives_ok($$SELECT protector.merge_customers('0a250000-0000-4000-8000-00000000c001', '0a250000-0000-4000-8000-00000000c002')$$,
	'c2 is merged into c1');
SELECT tests.authenticate_as('x_admin');
SELECT is(protector.erase_customer('0a250000-0000-4000-8000-00000000c001') ->> 'already_erased', 'false', 'c1 is erased');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT full_name, email, phone, notes, tags FROM protector.customers
					WHERE id IN ('0a250000-0000-4000-8000-00000000c001', '0a250000-0000-4000-8000-00000000c002') ORDER BY id$$,
	$$VALUES ('erased', NULL::text, NULL::text, NULL::text, '{}'::text[]), ('erased', NULL, NULL, NULL, '{}')$$,
	'both records are tombstones: the merged one kept its name, e-mail, phone, notes and tags before');
SELECT is((SELECT count(*)::int FROM protector.customer_erasures), 2, 'both erasures are recorded');
SELECT is_empty($$SELECT id FROM protector.audit_log
	WHERE concat(old_row::text, new_row::text) ~ '(Alice|alice@|1234567|7654321|kept notes|dup notes|secret of)'$$,
	'no audit row holds their data, those written before the merge (which name c2) included');
SELECT is_empty($$SELECT id FROM realtime.messages
	WHERE payload ->> 'operation' = 'UPDATE' AND payload -> 'record' -> 'details' = '{}' AND payload::text ~ 'secret of'$$,
	'the erasure''s own changes are broadcast without the details they erase');

-- 2. an erased record stays erased
SELECT tests.authenticate_as('x_manager');
SELECT throws_ok($$UPDATE protector.customers SET full_name = 'Alice Again', email = 'alice2@example.com'
				   WHERE id = '0a250000-0000-4000-8000-00000000c001'$$,
	'22023', 'customer 0a250000-0000-4000-8000-00000000c001 was erased', 'nobody writes personal data into it again');
SELECT throws_ok($$SELECT protector.merge_customers('0a250000-0000-4000-8000-00000000c001', '0a250000-0000-4000-8000-00000000c003')$$,
	'22023', 'an erased customer cannot be merged', 'nor merges another customer''s details into it');
SELECT throws_ok($$SELECT protector.merge_customers('0a250000-0000-4000-8000-00000000c003', '0a250000-0000-4000-8000-00000000c001')$$,
	'22023', 'an erased customer cannot be merged', 'nor its bookings into another customer');
SELECT tests.clear_authentication();
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
				   VALUES ('0a250000-0000-4000-8000-000000000000', '0a250000-0000-4000-8000-0000000000a1',
						   '0a250000-0000-4000-8000-0000000005a1', '0a250000-0000-4000-8000-00000000c001',
						   tstzrange(date_trunc('day', now()) + interval '3 days', date_trunc('day', now()) + interval '3 days 1 hour'),
						   'confirmed')$$,
	'22023', 'customer 0a250000-0000-4000-8000-00000000c001 was erased', 'an erased customer takes no new booking');
SELECT tests.clear_authentication();
SELECT throws_ok($$INSERT INTO protector.vouchers (organization_id, customer_id, amount, currency, note)
				   VALUES ('0a250000-0000-4000-8000-000000000000', '0a250000-0000-4000-8000-00000000c001', 10, 'EUR',
						   'For the customer, at their address')$$,
	'22023', 'customer 0a250000-0000-4000-8000-00000000c001 was erased', '... nor a new voucher (its note would be new data of theirs)');
SELECT tests.authenticate_as('x_manager');
-- what was written since (the desk's note on a booking) goes at the next call
UPDATE protector.bookings SET details = '{"note": "late secret"}' WHERE id = '0a250000-0000-4000-8000-00000000b001';
SELECT tests.authenticate_as('x_admin');
SELECT is(protector.erase_customer('0a250000-0000-4000-8000-00000000c001') ->> 'already_erased', 'true', 'asked again');
SELECT tests.clear_authentication();
SELECT is_empty($$SELECT id::text FROM protector.bookings WHERE details::text ~ 'late secret'
				  UNION ALL SELECT id::text FROM protector.audit_log WHERE concat(old_row::text, new_row::text) ~ 'late secret'$$,
	'... the erasure runs again: the booking and its history lose what was written since');

-- 3. merged customers: no booking, no second target, no cycle
SELECT tests.authenticate_as('x_manager');
SELECT lives_ok($$SELECT protector.merge_customers('0a250000-0000-4000-8000-0000000000d1', '0a250000-0000-4000-8000-0000000000d2')$$,
	'd2 is merged into d1');
SELECT throws_ok($$UPDATE protector.customers SET merged_into = '0a250000-0000-4000-8000-0000000000d3'
				   WHERE id = '0a250000-0000-4000-8000-0000000000d2'$$,
	'42501', 'merged_into is written by merge_customers only', 'a merge is not pointed elsewhere by hand');
SELECT throws_ok($$UPDATE protector.customers SET merged_into = '0a250000-0000-4000-8000-0000000000d2'
				   WHERE id = '0a250000-0000-4000-8000-0000000000d1'$$,
	'42501', 'merged_into is written by merge_customers only', 'nor made a cycle');
SELECT tests.clear_authentication();
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
				   VALUES ('0a250000-0000-4000-8000-000000000000', '0a250000-0000-4000-8000-0000000000a1',
						   '0a250000-0000-4000-8000-0000000005a1', '0a250000-0000-4000-8000-0000000000d2',
						   tstzrange(date_trunc('day', now()) + interval '3 days', date_trunc('day', now()) + interval '3 days 1 hour'),
						   'confirmed')$$,
	'22023', 'customer 0a250000-0000-4000-8000-0000000000d2 was merged into 0a250000-0000-4000-8000-0000000000d1',
	'a merged customer takes no new booking (it would be lost to the kept one''s history)');

-- permits from earlier merges do not let mark_merged chain them
SELECT tests.authenticate_as('x_manager');
SELECT lives_ok($$SELECT protector.merge_customers('0a250000-0000-4000-8000-00000000c003', '0a250000-0000-4000-8000-0000000000d3')$$,
	'd3 is merged into c3 (the transaction now holds permits for d1, d2, c3 and d3)');
SELECT throws_ok($$SELECT protector_internal.mark_merged('0a250000-0000-4000-8000-0000000000d3', '0a250000-0000-4000-8000-0000000000d1')$$,
	'22023', 'these customers cannot be merged', 'd1 is not merged into d3, which is merged itself: no chain');
SELECT tests.clear_authentication();

-- 4. a signature without a booking moves with its customer
INSERT INTO protector.waivers (id, organization_id, name) VALUES
	('0a250000-0000-4000-8000-0000000000f1', '0a250000-0000-4000-8000-000000000000', 'W');
INSERT INTO protector.waiver_versions (id, organization_id, waiver_id, title, body) VALUES
	('0a250000-0000-4000-8000-0000000000f2', '0a250000-0000-4000-8000-000000000000', '0a250000-0000-4000-8000-0000000000f1',
	 'W', 'I take the risk.');
INSERT INTO protector.waiver_submissions (organization_id, waiver_version_id, customer_id, participant_name, participant_birth_date,
										  signer_name, signature) VALUES
	('0a250000-0000-4000-8000-000000000000', '0a250000-0000-4000-8000-0000000000f2', '0a250000-0000-4000-8000-0000000000e2',
	 'Eve', '1990-01-01', 'Eve', 'Eve');
SELECT tests.authenticate_as('x_manager');
SELECT lives_ok($$SELECT protector.merge_customers('0a250000-0000-4000-8000-0000000000e1', '0a250000-0000-4000-8000-0000000000e2')$$,
	'e2, who signed a waiver without a booking, is merged into e1');
SELECT tests.clear_authentication();
SELECT is((SELECT customer_id FROM protector.waiver_submissions WHERE participant_name = 'Eve'),
	'0a250000-0000-4000-8000-0000000000e1'::uuid, 'and the signature is e1''s now');

-- 5. tags
SELECT tests.authenticate_as('x_manager');
SELECT throws_ok($$SELECT protector.merge_customers('0a250000-0000-4000-8000-0000000000aa', '0a250000-0000-4000-8000-0000000000ab')$$,
	'22023', 'the merged customer would have 120 tags', 'more than 100 tags together: refused by name (60 + 60 distinct)');

-- 6. scrub_customer (erase_customer's "erase again", a helper the caller
-- may execute) erases again only: with the permit for a customer, not a
-- customer never erased (no erasure on record), and not in an
-- organization that is not the customer's (its rows, say the widget's
-- visitor limits, keyed by that organization and the customer's identity)
SELECT tests.authenticate_as('x_admin');
SELECT protector_internal.authorize_row('protector.customers', '0a250000-0000-4000-8000-00000000c003', 'customers.erase', 'customer') \g /dev/null
SELECT throws_ok($$SELECT protector_internal.scrub_customer('0a250000-0000-4000-8000-000000000000', '0a250000-0000-4000-8000-00000000c003')$$,
	'P0002', NULL, 'a customer never erased is not scrubbed behind erase_customer''s record');
SELECT protector_internal.authorize_row('protector.customers', '0a250000-0000-4000-8000-00000000c001', 'customers.erase', 'customer') \g /dev/null
SELECT throws_ok($$SELECT protector_internal.scrub_customer('0a250000-0000-4000-8000-00000000ffff', '0a250000-0000-4000-8000-00000000c001')$$,
	'P0002', NULL, 'an organization not the customer''s is refused');
SELECT protector_internal.authorize_row('protector.customers', '0a250000-0000-4000-8000-00000000c001', 'customers.erase', 'customer') \g /dev/null
SELECT lives_ok($$SELECT protector_internal.scrub_customer('0a250000-0000-4000-8000-000000000000', '0a250000-0000-4000-8000-00000000c001')$$,
	'the customer''s own recorded erasure runs again');
SELECT tests.clear_authentication();
SELECT is((SELECT full_name FROM protector.customers WHERE id = '0a250000-0000-4000-8000-00000000c003'), 'Bob Other',
	'the customer never erased keeps its data');

-- 7. the free text written about them beside their record goes, in the
-- history too; what protector wrote (the refund note, the ledger's keys,
-- the review task's title) stays
UPDATE protector.services SET price = 40 WHERE id = '0a250000-0000-4000-8000-0000000005a1';
SELECT tests.authenticate_as('x_admin');
CREATE TEMP TABLE dora AS
SELECT (protector.create_booking('0a250000-0000-4000-8000-0000000005a1', '0a250000-0000-4000-8000-0000000000d1',
		date_trunc('day', now()) + interval '3 days 10 hours', 1, NULL, '{"note": "Dora is late"}', 'dashboard') ->> 'id')::uuid AS id;
SELECT protector.record_payment((SELECT id FROM dora), 40, 'stripe', 'pi_1001', 'payment', 'succeeded', NULL,
	'{"receipt_email": "dora@example.com", "billing_name": "Dora D"}') \g /dev/null
SELECT protector.cancel_booking((SELECT id FROM dora), 'Dora is ill') \g /dev/null
SELECT protector.create_voucher('0a250000-0000-4000-8000-000000000000', 20, NULL, NULL,
	'0a250000-0000-4000-8000-0000000000d1', 'gift for Dora, dora@example.com') \g /dev/null
UPDATE protector.tasks SET description = 'call Dora on 0170 5550001', title = 'Review booking: call Dora'
WHERE booking_id = (SELECT id FROM dora);
-- text written into protector's own keys goes too (staff may edit details)
UPDATE protector.bookings SET details = jsonb_set(details, '{refund,note}', '"Dora called"') WHERE id = (SELECT id FROM dora);
SELECT protector.record_payment((SELECT id FROM dora), 5, 'cash', NULL, 'payment', 'succeeded', NULL,
	'{"fee": "paid by Dora", "refund_percent": 10, "paid_after_cancellation": "Dora"}') \g /dev/null
INSERT INTO protector.tasks (organization_id, booking_id, title)
SELECT '0a250000-0000-4000-8000-000000000000', id, 'Call Dora back' FROM dora;
SELECT is(protector.erase_customer('0a250000-0000-4000-8000-0000000000d1') ->> 'already_erased', 'false', 'd1 is erased');
SELECT tests.clear_authentication();
SELECT is_empty($$SELECT 'voucher' FROM protector.vouchers WHERE note ~* 'dora'
	UNION ALL SELECT 'payment' FROM protector.payments WHERE details::text ~* 'dora'
	UNION ALL SELECT 'task' FROM protector.tasks WHERE concat(title, description) ~* 'dora|5550001'
	UNION ALL SELECT 'booking' FROM protector.bookings WHERE concat(details::text, cancellation_reason) ~* 'dora'
	UNION ALL SELECT 'audit ' || table_name FROM protector.audit_log
		WHERE concat(old_row::text, new_row::text) ~* 'dora|5550001'$$,
	'no voucher note, payment detail, task, booking or audit row names her any more');
SELECT is((SELECT details - 'refund' FROM protector.bookings WHERE id = (SELECT id FROM dora)), '{}'::jsonb,
	'her booking''s details are emptied but for protector''s refund note ...');
SELECT is((SELECT details #>> '{refund,amount}' FROM protector.bookings WHERE id = (SELECT id FROM dora)), '40.00',
	'... which still says 40 were refunded (100% of 40 paid, no fee)');
-- (the 5 paid after the cancellation was refunded by its terms: 100%)
SELECT results_eq($$SELECT kind::text, amount, details - 'paid_after_cancellation', details ? 'paid_after_cancellation'
					FROM protector.payments WHERE booking_id = (SELECT id FROM dora) ORDER BY kind, amount$$,
	$$VALUES ('payment', 5.00, '{"refund_percent": 10}'::jsonb, false), ('payment', 40.00, '{}', false),
			 ('refund', 5.00, '{"fee": null, "reason": "paid after cancellation", "refund_percent": 100}', true),
			 ('refund', 40.00, '{"fee": null, "reason": "cancelled", "refund_percent": 100}', false)$$,
	'payments lose their provider details and text in the ledger''s keys ("Dora" where a payment id belongs); refunds keep the ledger''s');
SELECT is((SELECT details -> 'refund' FROM protector.bookings WHERE id = (SELECT id FROM dora)),
	'{"fee": null, "amount": 40.00, "percent": 100.00, "to_vouchers": 0}'::jsonb,
	'the refund note keeps its numbers only (the staff''s note in it goes)');
SELECT results_eq($$SELECT title, description FROM protector.tasks WHERE booking_id = (SELECT id FROM dora) ORDER BY 1$$,
	$$SELECT t, NULL::text FROM (VALUES ('[erased]'),
		('Review booking: Room, ' || to_char(date_trunc('day', now()) + interval '3 days 10 hours', 'YYYY-MM-DD HH24:MI') || ' (UTC)')) v(t)
	  ORDER BY 1$$,
	'the staff''s task is [erased]; the review task''s title is protector''s again (a staff edit named her), its description gone');
SELECT is((SELECT count(*)::int FROM protector.payments p JOIN protector.bookings b ON b.id = p.booking_id
		   WHERE b.id = (SELECT id FROM dora)), 4, 'no payment is lost (two payments, two refunds)');

-- 8. the history of rows that became theirs later (a walk-in booking and a
-- voucher named for them afterwards: their first audit rows held no
-- customer_id and kept the note), and their account where it stamped their
-- booking and message (created_by, sender_user_id)
SELECT tests.create_supabase_user('x_dee') \g /dev/null
INSERT INTO protector.customers (id, organization_id, full_name, email, user_id) VALUES
	('0a250000-0000-4000-8000-0000000000f9', '0a250000-0000-4000-8000-000000000000', 'Dee', 'dee@example.com',
	 tests.get_supabase_uid('x_dee'));
SELECT tests.authenticate_as('x_manager');
CREATE TEMP TABLE walkin AS
SELECT (protector.create_booking('0a250000-0000-4000-8000-0000000005a1', NULL, date_trunc('day', now()) + interval '7 days 10 hours',
		1, NULL, '{"note": "walk-in Dee, nuts"}', 'dashboard') ->> 'id')::uuid AS id;
UPDATE protector.bookings SET customer_id = '0a250000-0000-4000-8000-0000000000f9' WHERE id = (SELECT id FROM walkin);
SELECT tests.authenticate_as('x_admin');
CREATE TEMP TABLE gift AS
SELECT (protector.create_voucher('0a250000-0000-4000-8000-000000000000', 20, NULL, NULL, NULL, 'gift for Dee') ->> 'id')::uuid AS id;
UPDATE protector.vouchers SET customer_id = '0a250000-0000-4000-8000-0000000000f9' WHERE id = (SELECT id FROM gift);
SELECT tests.authenticate_as('x_dee');
CREATE TEMP TABLE own AS
SELECT (protector.create_booking('0a250000-0000-4000-8000-0000000005a1', '0a250000-0000-4000-8000-0000000000f9',
		date_trunc('day', now()) + interval '8 days 10 hours') ->> 'id')::uuid AS id;
SELECT protector.send_message((SELECT id FROM own), 'hello from Dee') \g /dev/null
SELECT tests.authenticate_as('x_admin');
SELECT is(protector.erase_customer('0a250000-0000-4000-8000-0000000000f9') ->> 'already_erased', 'false', 'Dee is erased');
SELECT tests.clear_authentication();
-- ('dee' as a word: ids are hexadecimal, and one in twenty runs wrote a
-- reminder whose ids held "dee")
SELECT is_empty($$SELECT table_name, op FROM protector.audit_log WHERE concat(old_row::text, new_row::text) ~* '\mdee\M'$$,
	'no audit row holds the walk-in''s note or the voucher''s, written before they were hers');
SELECT is_empty($$SELECT 'booking' FROM protector.bookings WHERE created_by = tests.get_supabase_uid('x_dee')
	UNION ALL SELECT 'message' FROM protector.booking_messages WHERE sender_user_id = tests.get_supabase_uid('x_dee')
	UNION ALL SELECT 'audit ' || table_name FROM protector.audit_log
		WHERE concat(old_row::text, new_row::text) ~ tests.get_supabase_uid('x_dee')::text$$,
	'nor does any booking, message or audit row keep her account''s id');

-- a merge searches and moves one customer's references within the
-- organization's index range (every key to customers is composite), not
-- through every tenant's rows
SELECT set_eq($$SELECT tbl::text || '.' || col || ' ' || COALESCE(org_col::text, '-') FROM protector_internal.customer_references$$,
	$$VALUES ('protector.booking_messages.customer_id organization_id'), ('protector.bookings.customer_id organization_id'),
			 ('protector.vouchers.customer_id organization_id'), ('protector.waiver_submissions.customer_id organization_id')$$,
	'every reference to a customer names its organization column');

SELECT * FROM finish();
ROLLBACK;
