-- Documented rules no test held (a mutation audit of the suite: each rule
-- below was broken in a throwaway database and every test that names its
-- feature still passed).  Each assertion fails on that mutation.
BEGIN;
SELECT plan(10);
SET LOCAL TimeZone = 'UTC';

-- 1. an operator's direct insert is priced by the service, whatever prices
-- it writes (guard_booking_write): 40 + 15 x 2 = 70
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['u_operator', 'u_manager', 'u_owner', 'u_finance', 'u_admin']) u \g /dev/null
INSERT INTO protector.organizations (id, name, slug, currency, settings) VALUES
	('0a403000-0000-4000-8000-000000000000', 'U', 'untested-rules', 'EUR', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a403000-0000-4000-8000-000000000000', tests.get_supabase_uid('u_' || r), r::protector.member_role
FROM unnest(ARRAY['operator', 'manager', 'owner', 'finance', 'admin']) r;
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a403000-0000-4000-8000-0000000000a1', '0a403000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, mode, settings) VALUES
	('0a403000-0000-4000-8000-0000000005a1', '0a403000-0000-4000-8000-000000000000', '0a403000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days', 1, 8, 40, 15, 'exclusive', '{}'),
	('0a403000-0000-4000-8000-0000000005a2', '0a403000-0000-4000-8000-000000000000', '0a403000-0000-4000-8000-0000000000a1',
	 'Vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25, 'exclusive', '{}'),
	('0a403000-0000-4000-8000-0000000005a3', '0a403000-0000-4000-8000-000000000000', '0a403000-0000-4000-8000-0000000000a1',
	 'Policy', '3 hours', '60 minutes', '30 days', 10, 8, 20, 25, 'shared',
	 '{"refund_policy": {"full_refund_hours": 24, "late_refund_percent": 50}}');
SELECT tests.authenticate_as('u_operator');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, party_size, status, currency, unit_price, total_price)
VALUES ('0a403000-0000-4000-8000-00000000b001', '0a403000-0000-4000-8000-000000000000', '0a403000-0000-4000-8000-0000000000a1',
		'0a403000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'),
		2, 'confirmed', 'EUR', 1, 1);
SELECT tests.clear_authentication();
SELECT is((SELECT ARRAY[unit_price, total_price] FROM protector.bookings WHERE id = '0a403000-0000-4000-8000-00000000b001'),
	ARRAY[40.00, 70.00]::numeric[],
	'an operator''s direct insert is priced by the service: 40 + 15 x 2 = 70, not the 1 written');

-- 2. a voucher pays at most what the booking still owes, even in a
-- trusted payment row (check_voucher_payment): a booking of 40 + 15 = 55
SELECT tests.authenticate_as('u_manager');
SELECT protector.create_voucher('0a403000-0000-4000-8000-000000000000', 100) ->> 'id' AS voucher \gset
SELECT protector.create_booking('0a403000-0000-4000-8000-0000000005a1', NULL, date_trunc('day', now()) + interval '3 days 12 hours', 1)
	->> 'id' AS owes_55 \gset
SELECT tests.authenticate_as_service_role();
SELECT throws_ok(format($$INSERT INTO protector.payments (organization_id, booking_id, amount, status, voucher_id)
	VALUES ('0a403000-0000-4000-8000-000000000000', %L, 60, 'succeeded', %L)$$, :'owes_55', :'voucher'),
	'22023', 'a voucher pays at most what the booking still owes',
	'a trusted payment row takes no 60 from a voucher for a booking that owes 55');
SELECT is((SELECT balance FROM protector.vouchers WHERE id = :'voucher'), 100.00, '... and the voucher keeps its 100');

-- 3. a booking repriced onto a service its code does not cover loses the
-- code (promo_discount): on Room, 40 + 15 x 3 = 85 less 15 = 70; moved to
-- Vault, 20 + 25 x 3 = 95, no discount
SELECT tests.authenticate_as('u_manager');
SELECT protector.create_promo_code('0a403000-0000-4000-8000-000000000000', 'fixed', 15,
	p_service_ids => '{0a403000-0000-4000-8000-0000000005a1}') ->> 'code' AS room_code \gset
SELECT protector.create_promo_code('0a403000-0000-4000-8000-000000000000', 'fixed', 100) ->> 'code' AS big_code \gset
SELECT protector.create_booking('0a403000-0000-4000-8000-0000000005a1', NULL, date_trunc('day', now()) + interval '3 days 14 hours', 3,
	p_promo_code => :'room_code') ->> 'id' AS coded \gset
SELECT is((SELECT ARRAY[discount_amount, total_price] FROM protector.bookings WHERE id = :'coded'), ARRAY[15.00, 70.00]::numeric[],
	'a booking of Room under its code: 40 + 15 x 3 = 85, less 15 = 70');
UPDATE protector.bookings SET service_id = '0a403000-0000-4000-8000-0000000005a2' WHERE id = :'coded';
SELECT is((SELECT format('%s %s %s', discount_amount, total_price, promo_code_id IS NULL) FROM protector.bookings WHERE id = :'coded'),
	'0.00 95.00 t', '... moved to Vault, which the code does not cover: 20 + 25 x 3 = 95, the code off');

-- 4. a fixed discount is at most the price: 100 off 40 + 15 = 55 is free
SELECT is((protector.create_booking('0a403000-0000-4000-8000-0000000005a1', NULL, date_trunc('day', now()) + interval '3 days 16 hours', 1,
	p_promo_code => :'big_code') ->> 'total_price'), '0.00', 'a fixed code of 100 on a booking of 55 makes it free');

-- 5. completed and no_show are final (booking_transition_allowed)
SELECT tests.clear_authentication();
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status) VALUES
	('0a403000-0000-4000-8000-00000000b002', '0a403000-0000-4000-8000-000000000000', '0a403000-0000-4000-8000-0000000000a1',
	 '0a403000-0000-4000-8000-0000000005a3',
	 tstzrange(date_trunc('hour', now()) - interval '5 hours', date_trunc('hour', now()) - interval '2 hours'), 'completed'),
	('0a403000-0000-4000-8000-00000000b003', '0a403000-0000-4000-8000-000000000000', '0a403000-0000-4000-8000-0000000000a1',
	 '0a403000-0000-4000-8000-0000000005a3',
	 tstzrange(date_trunc('hour', now()) - interval '5 hours', date_trunc('hour', now()) - interval '2 hours'), 'no_show');
SELECT tests.authenticate_as('u_manager');
SELECT throws_ok($$UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0a403000-0000-4000-8000-00000000b002'$$,
	'22023', 'a completed booking cannot become confirmed', 'a completed booking is not reopened');
SELECT throws_ok($$UPDATE protector.bookings SET status = 'completed' WHERE id = '0a403000-0000-4000-8000-00000000b003'$$,
	'22023', 'a no_show booking cannot become completed', 'a no-show does not become completed');

-- 6. under the older refund_policy nothing comes back after the start: a
-- booking of 20 + 25 x 4 = 120, paid, cancelled an hour after it started
SELECT tests.clear_authentication();
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, party_size, status)
VALUES ('0a403000-0000-4000-8000-00000000b004', '0a403000-0000-4000-8000-000000000000', '0a403000-0000-4000-8000-0000000000a1',
		'0a403000-0000-4000-8000-0000000005a3',
		tstzrange(date_trunc('hour', now()) - interval '1 hour', date_trunc('hour', now()) + interval '2 hours'), 4, 'confirmed');
SELECT tests.authenticate_as('u_finance');
SELECT protector.record_payment('0a403000-0000-4000-8000-00000000b004', 120, 'stripe', 'pi_u403') IS NOT NULL AS paid \gset
SELECT tests.authenticate_as('u_owner');
SELECT is((SELECT j ->> 'refund_amount' FROM protector.cancel_booking('0a403000-0000-4000-8000-00000000b004') j), '0.00',
	'under the older refund_policy a booking of 120 cancelled after its start gets nothing back, not late_refund_percent''s 60');

-- 7. an erased customer keeps no country (docs/operations.md)
SELECT tests.clear_authentication();
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, country)
VALUES ('0a403000-0000-4000-8000-00000000c001', '0a403000-0000-4000-8000-000000000000', 'Eva', 'eva@example.com', '+4915112345678', 'DE');
SELECT tests.authenticate_as('u_admin');
SELECT protector.erase_customer('0a403000-0000-4000-8000-00000000c001') IS NOT NULL AS erased \gset
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT full_name, email, phone, country FROM protector.customers WHERE id = '0a403000-0000-4000-8000-00000000c001'$$,
	$$VALUES ('erased', NULL::text, NULL::text, NULL::text)$$, 'an erased customer keeps no e-mail, phone or country');

SELECT * FROM finish();
ROLLBACK;
