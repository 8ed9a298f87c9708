-- What reckons over rows a restore set aside waits for finish_restore()
-- (an attack review of restores): a restore into a database whose
-- auth.users was not loaded yet sets aside rows that refer to accounts
-- and everything that refers to them (sql/98_restore.sql), and
-- finish_restore() inserts them later as they were, unchecked.  Meanwhile
-- 1. a voucher whose payment was set aside paid again what that payment
--    had spent: its balance, reckoned from the ledger, did not count it
--    (a voucher of 50 paid 80 in all);
-- 2. a merge of the organization's customers went through, and a booking
--    of the merged record set aside came back on it, missing from the
--    kept record's history;
-- 3. a voucher's amount lowered below what its set-aside payment spent:
--    finish_restore() then stored more spent than its amount.
-- Both are refused (23P01) while such rows wait, as an erasure was.
BEGIN;
SELECT plan(7);
SET LOCAL timezone = 'UTC';

SELECT tests.create_supabase_user('ur_owner');
INSERT INTO protector.organizations (id, name, slug, currency, timezone)
VALUES ('0a988000-0000-4000-8000-000000000000', 'Unfinished restore', 'unfinished-restore', 'EUR', 'UTC');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a988000-0000-4000-8000-000000000000', tests.get_supabase_uid('ur_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a988000-0000-4000-8000-0000000000a1', '0a988000-0000-4000-8000-000000000000', 'V', 'UTC');
-- Room: a flat 30
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, currency, mode) VALUES
	('0a988000-0000-4000-8000-0000000005a1', '0a988000-0000-4000-8000-000000000000', '0a988000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '30 days', 10, 8, 30, 0, 'EUR', 'shared');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a988000-0000-4000-8000-0000000c0001', '0a988000-0000-4000-8000-000000000000', 'Yan'),
	('0a988000-0000-4000-8000-0000000c0002', '0a988000-0000-4000-8000-000000000000', 'Yan Y');

SELECT tests.authenticate_as('ur_owner');
SELECT protector.create_voucher('0a988000-0000-4000-8000-000000000000', 50) ->> 'code' AS v_code \gset
SELECT id AS v_id FROM protector.vouchers WHERE code = :'v_code' \gset
SELECT protector.create_booking('0a988000-0000-4000-8000-0000000005a1', NULL,
								date_trunc('hour', now()) + interval '50 hours', 2) ->> 'id' AS b1 \gset
SELECT tests.clear_authentication();

-- 1. a payment of 30 by the voucher set aside by a restore (as
-- restore_pending holds it: the row's columns as JSON)
INSERT INTO protector_internal.restore_pending (relid, row_data, waiting_for) VALUES
	('protector.payments', jsonb_build_object('id', gen_random_uuid(), 'organization_id', '0a988000-0000-4000-8000-000000000000',
		'booking_id', gen_random_uuid(), 'voucher_id', :'v_id', 'kind', 'payment', 'amount', 30, 'status', 'succeeded'),
	 'protector.bookings');
SELECT tests.authenticate_as('ur_owner');
SELECT throws_ok(format($$SELECT protector.redeem_voucher(%L, %L)$$, :'b1', :'v_code'), '23P01',
	'a restore of this organization is not finished',
	'a voucher whose payment a restore set aside pays nothing until finish_restore()');
SELECT is((SELECT amount_paid FROM protector.bookings WHERE id = :'b1'), 0.00, '... and the booking is not paid by it');
SELECT throws_ok(format($$UPDATE protector.vouchers SET amount = 10 WHERE code = %L$$, :'v_code'), '23P01',
	'a restore of this organization is not finished', '... nor is its amount lowered (under the 30 set aside)');
SELECT tests.clear_authentication();
-- another voucher of the organization pays
SELECT tests.authenticate_as('ur_owner');
SELECT protector.create_voucher('0a988000-0000-4000-8000-000000000000', 50) ->> 'code' AS other_code \gset
SELECT is(protector.redeem_voucher(:'b1', :'other_code') ->> 'amount', '30.00',
	'a voucher with no payment set aside pays the booking''s 30');
SELECT tests.clear_authentication();

-- 2. a merge while a booking of the organization waits
SELECT tests.authenticate_as('ur_owner');
SELECT throws_ok($$SELECT protector.merge_customers('0a988000-0000-4000-8000-0000000c0001', '0a988000-0000-4000-8000-0000000c0002')$$,
	'23P01', 'a restore of this organization is not finished',
	'a merge waits for finish_restore() while rows of the organization are set aside');
SELECT tests.clear_authentication();
DELETE FROM protector_internal.restore_pending;
SELECT tests.authenticate_as('ur_owner');
SELECT lives_ok($$SELECT protector.merge_customers('0a988000-0000-4000-8000-0000000c0001', '0a988000-0000-4000-8000-0000000c0002')$$,
	'... and goes through once none wait');
SELECT is(protector.redeem_voucher(
			(protector.create_booking('0a988000-0000-4000-8000-0000000005a1', NULL, date_trunc('hour', now()) + interval '52 hours', 1) ->> 'id')::uuid,
			:'v_code') ->> 'amount', '30.00',
	'the voucher pays again once none of its payments wait: 30 of its 50');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
