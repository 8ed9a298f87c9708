-- What a review of vouchers as money found (the thirty-second stop): an
-- owner who lowered or deleted a voucher's payment after a cancellation
-- refunded it to the voucher turned the booking's card money into voucher
-- credit; and of two vouchers used in one transaction, the refund went
-- first to the one created first, not the one used last.  (A deadlock of
-- two cancellations of bookings paid by the same two vouchers, in
-- opposite orders, is closed by locking a booking's vouchers in one
-- order; see sql/78_vouchers.sql, return_to_vouchers.)
BEGIN;
SELECT plan(9);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user('v_owner') IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('v_owner');
SELECT protector.create_organization('Gifts', 'voucher-edges', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Vault', '1 hour', p_slot_interval => '1 hour', p_price => 20, p_price_per_person => 25,
								p_capacity => 8) ->> 'id' AS vault \gset
SELECT protector.update_service(:'vault', '{"settings": {"cancellation_fees": [{"within_hours": 500, "fee_percent": 50}]}}') IS NOT NULL \g /dev/null
SELECT protector.create_voucher(:'org', 200) ->> 'code' AS gift \gset

-- 1. Vault for 4: 20 + 25 x 4 = 120; 60 by card, then 60 from the voucher.
-- Cancelled with a 50% fee: 60 kept, 60 back, all to the voucher
-- (balance 200 - 60 + 60 = 200)
SELECT protector.create_booking(:'vault', NULL, date_trunc('day', now()) + interval '5 days 10 hours', 4) ->> 'id' AS a \gset
SELECT protector.record_payment(:'a', 60, 'stripe', 'pi_edges_a') IS NOT NULL \g /dev/null
SELECT is(protector.redeem_voucher(:'a', :'gift') ->> 'amount', '60.00', 'the voucher pays the other 60 of 120');
SELECT is((SELECT format('%s %s', x ->> 'refund_amount', x ->> 'refund_to_vouchers') FROM protector.cancel_booking(:'a') x), '60.00 60.00',
	'a 50% fee on 120 keeps 60 and gives 60 back, to the voucher');
SELECT throws_ok(format($$UPDATE protector.payments SET amount = 10 WHERE booking_id = %L AND kind = 'payment' AND voucher_id IS NOT NULL$$, :'a'),
	'22023', 'a voucher''s payment cannot be lowered or removed below what was refunded to the voucher',
	'the owner cannot lower the voucher''s payment of 60 to 10 under its refund of 60 (50 of card money would become credit)');
SELECT throws_ok(format($$DELETE FROM protector.payments WHERE booking_id = %L AND kind = 'payment' AND voucher_id IS NOT NULL$$, :'a'),
	'22023', 'a voucher''s payment cannot be lowered or removed below what was refunded to the voucher', '... nor delete it');
-- (nor through a trigger of the owner's own: the check told an
-- organization's deletion apart by pg_trigger_depth() = 1, and a payment
-- changed one level down passed; the bulk-SQL attack, thirty-fifth stop)
CREATE TEMP TABLE corrections (payment_id uuid, amount numeric);
CREATE FUNCTION pg_temp.apply_correction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE protector.payments SET amount = NEW.amount WHERE id = NEW.payment_id;
	RETURN NULL;
END $$;
CREATE TRIGGER apply_correction AFTER INSERT ON corrections FOR EACH ROW EXECUTE FUNCTION pg_temp.apply_correction();
SELECT throws_ok(format($$INSERT INTO corrections SELECT id, 10 FROM protector.payments
						 WHERE booking_id = %L AND kind = 'payment' AND voucher_id IS NOT NULL$$, :'a'),
	'22023', 'a voucher''s payment cannot be lowered or removed below what was refunded to the voucher',
	'... nor lower it through a trigger of the owner''s own');
SELECT is((SELECT balance FROM protector.vouchers WHERE code = :'gift'), 200.00::numeric(12, 2), 'the voucher holds 200 - 60 + 60 = 200');

-- 2. two vouchers used in one transaction: 20 from the first, then 100
-- from the second; cancelled with the 50% fee, 60 back goes to the one
-- used last (the second), none to the first
SELECT protector.create_voucher(:'org', 20) ->> 'code' AS g20 \gset
SELECT protector.create_voucher(:'org', 100) ->> 'code' AS g100 \gset
SELECT protector.create_booking(:'vault', NULL, date_trunc('day', now()) + interval '5 days 12 hours', 4, p_voucher_code => :'g20') ->> 'id' AS b \gset
SELECT protector.redeem_voucher(:'b', :'g100') IS NOT NULL \g /dev/null
SELECT protector.cancel_booking(:'b') IS NOT NULL \g /dev/null
SELECT is((SELECT string_agg(format('%s %s', amount, balance), ', ' ORDER BY amount) FROM protector.vouchers WHERE code IN (:'g20', :'g100')),
	'20.00 0.00, 100.00 60.00', 'the second voucher, used last, gets the 60 back (0 + 60); the first keeps nothing back');

-- 3. (a money review) a voucher given by a direct write to a customer of
-- another organization, or to none, is refused by name, as create_voucher
-- refuses it (it was the foreign key's raw 23503); its own customer is taken
SELECT tests.clear_authentication();
SELECT tests.create_supabase_user('v_other') IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('v_other');
SELECT protector.create_organization('Elsewhere', 'voucher-edges-other', 'UTC', 'EUR') ->> 'id' AS other \gset
SELECT protector.create_customer(:'other', 'Olga Other', 'olga@example.com') ->> 'id' AS olga \gset
SELECT tests.clear_authentication();
SELECT tests.authenticate_as('v_owner');
SELECT protector.create_customer(:'org', 'Gina Gift', 'gina@example.com') ->> 'id' AS gina \gset
SELECT is(tests.error_text(format($$UPDATE protector.vouchers SET customer_id = %L WHERE code = %L$$, :'olga', :'g20')),
	'P0002 | customer not found | customer_id is not a customer of the voucher''s organization.',
	'a voucher given directly to another organization''s customer is refused by name');
SELECT lives_ok(format($$UPDATE protector.vouchers SET customer_id = %L WHERE code = %L$$, :'gina', :'g20'),
	'... and given to its own organization''s customer');

SELECT * FROM finish();
ROLLBACK;
