-- What a cancellation gives back to vouchers is what it decided, and a
-- promo code's validity is judged by the clock (an attack review):
-- 1. return_to_vouchers read protector.refund_on_cancel again at the end
--    of the statement: one that turned it off between the BEFORE trigger
--    (which reckoned 70 for the voucher and noted it in details.refund)
--    and the AFTER trigger gave nothing back, while the booking and its
--    cancellation terms said 70 went back;
-- 2. apply_promo_code compared valid_until with now(), the start of the
--    transaction: a code retired after a transaction began was still
--    accepted by a booking made after the retirement.
-- (test/concurrency/voucher_waits.sh case 5: a voucher retired while a
-- cancellation waits for its row.)
BEGIN;
SELECT plan(9);
SET LOCAL timezone = 'UTC';

SELECT tests.create_supabase_user('cv_owner');
INSERT INTO protector.organizations (id, name, slug, currency, timezone)
VALUES ('0a982000-0000-4000-8000-000000000000', 'Cancellation vouchers', 'cancellation-vouchers', 'EUR', 'UTC');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a982000-0000-4000-8000-000000000000', tests.get_supabase_uid('cv_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a982000-0000-4000-8000-0000000000a1', '0a982000-0000-4000-8000-000000000000', 'V', 'UTC');
-- Vault: 20 + 25 per person, no fee: a cancellation gives back all paid
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, currency, mode) VALUES
	('0a982000-0000-4000-8000-0000000005a1', '0a982000-0000-4000-8000-000000000000', '0a982000-0000-4000-8000-0000000000a1',
	 'Vault', '60 minutes', '60 minutes', '30 days', 10, 8, 20, 25, 'EUR', 'shared');

-- 1. b1: a party of 2, 20 + 25 x 2 = 70, paid by a voucher of 100 (30 left)
SELECT tests.authenticate_as('cv_owner');
SELECT protector.create_voucher('0a982000-0000-4000-8000-000000000000', 100) ->> 'code' AS v1 \gset
SELECT protector.create_booking('0a982000-0000-4000-8000-0000000005a1', NULL,
								date_trunc('hour', now()) + interval '50 hours', 2) ->> 'id' AS b1 \gset
SELECT protector.redeem_voucher(:'b1', :'v1') \g /dev/null
SELECT is((SELECT format('%s %s', b.total_price, b.amount_paid) FROM protector.bookings b WHERE b.id = :'b1'),
	'70.00 70.00', 'a booking of 20 + 25 x 2 = 70 is paid 70 by a voucher of 100');
-- cancelled by a statement that turns protector.refund_on_cancel off
-- after the booking's update, before the statement ends
WITH c AS (UPDATE protector.bookings SET status = 'cancelled' WHERE id = :'b1' RETURNING id)
SELECT set_config('protector.refund_on_cancel', 'off', true) FROM c \g /dev/null
SELECT set_config('protector.refund_on_cancel', 'on', true) \g /dev/null
SELECT is((SELECT format('%s %s', b.details #>> '{refund,to_vouchers}', b.amount_paid) FROM protector.bookings b WHERE b.id = :'b1'),
	'70.00 0.00', 'the cancellation noted 70 to the voucher, and the booking holds 70 - 70 = 0');
SELECT is((SELECT format('%s %s', count(*), sum(p.amount)) FROM protector.payments p
		   WHERE p.booking_id = :'b1' AND p.kind = 'refund' AND p.status = 'succeeded' AND p.voucher_id IS NOT NULL),
	'1 70.00', '... given back to the voucher as one succeeded refund of 70, as the cancellation decided');
SELECT is((SELECT v.balance FROM protector.vouchers v WHERE v.code = :'v1'), 100.00,
	'... whose balance is 30 + 70 = 100 again');

-- 1b. b2: 70 paid by a voucher that expires by the clock between the
-- cancellation's reckoning (its BEFORE trigger) and the giving back (the
-- AFTER trigger, at the statement's end): all 70 is a pending cash
-- refund, and the booking says none went to the voucher (it said 70)
SELECT protector.create_voucher('0a982000-0000-4000-8000-000000000000', 100) ->> 'code' AS v2 \gset
SELECT protector.create_booking('0a982000-0000-4000-8000-0000000005a1', NULL,
								date_trunc('hour', now()) + interval '54 hours', 2) ->> 'id' AS b2 \gset
SELECT protector.redeem_voucher(:'b2', :'v2') \g /dev/null
UPDATE protector.vouchers SET expires_at = clock_timestamp() + interval '1 second' WHERE code = :'v2';
WITH c AS (UPDATE protector.bookings SET status = 'cancelled' WHERE id = :'b2' RETURNING id)
SELECT pg_sleep(1.2) FROM c \g /dev/null
SELECT is((SELECT format('%s %s', b.details #>> '{refund,amount}', b.details #>> '{refund,to_vouchers}')
		   FROM protector.bookings b WHERE b.id = :'b2'),
	'70.00 0.00', 'a voucher expired within the cancelling statement: 70 refunded, 70 - 70 = 0 of it to vouchers, as the booking says');
SELECT is((SELECT format('%s %s', (SELECT sum(p.amount) FROM protector.payments p
									WHERE p.booking_id = :'b2' AND p.kind = 'refund' AND p.status = 'pending' AND p.voucher_id IS NULL),
						 (SELECT v.balance FROM protector.vouchers v WHERE v.code = :'v2'))),
	'70.00 30.00', '... all 70 a pending cash refund, the voucher''s balance 100 - 70 = 30');
SELECT is((SELECT string_agg(format('%s -> %s', l.old_row #>> '{details,refund,to_vouchers}', l.new_row #>> '{details,refund,to_vouchers}'), ', ')
		   FROM protector.audit_log l
		   WHERE l.table_name = 'protector.bookings' AND l.record_id = :'b2' AND l.op = 'UPDATE'
			 AND l.old_row #>> '{details,refund,to_vouchers}' IS NOT NULL),
	'70.00 -> 0.00', '... the cancellation reckoned 70 for the live voucher, and the note was corrected after (audited)');

-- 2. a code retired (valid_until = the clock) after this transaction
-- began: a booking made after that is refused
SELECT protector.create_promo_code('0a982000-0000-4000-8000-000000000000', 'percent', 50) ->> 'code' AS p1 \gset
SELECT pg_sleep(0.05) \g /dev/null
UPDATE protector.promo_codes SET valid_until = clock_timestamp() WHERE code = :'p1';
SELECT ok((SELECT valid_until > now() FROM protector.promo_codes WHERE code = :'p1'),
	'the code was retired after this transaction began');
SELECT throws_ok(format($$SELECT protector.create_booking('0a982000-0000-4000-8000-0000000005a1', NULL,
								date_trunc('hour', now()) + interval '52 hours', 2, p_promo_code => %L)$$, :'p1'),
	'22023', 'this promo code has expired', 'a booking made after the retirement is refused, as a voucher would be');

SELECT * FROM finish();
ROLLBACK;
