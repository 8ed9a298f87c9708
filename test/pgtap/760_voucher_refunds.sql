-- refund_to_vouchers: money gift vouchers paid for a booking given back to
-- them without a cancellation (a party made smaller, a cheaper service, a
-- gesture), the voucher used last first, as a cancellation gives back
-- (an attack on the money side found it could only go back as cash: a
-- voucher's money paid out over the counter).  At most what vouchers that
-- have not expired paid and were not given back; payments.create only.
-- The file runs in one transaction: now() is one instant.
BEGIN;
SELECT plan(21);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user(u) IS NOT NULL FROM unnest(ARRAY['y_owner', 'y_finance', 'y_operator', 'y_other']) u \g /dev/null
SELECT tests.authenticate_as('y_owner');
SELECT protector.create_organization('Refunds', 'voucher-refunds', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Vault', '1 hour', p_slot_interval => '1 hour', p_price => 20, p_price_per_person => 25,
								p_capacity => 8) ->> 'id' AS vault \gset
RESET ROLE;
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	(:'org', tests.get_supabase_uid('y_finance'), 'finance'),
	(:'org', tests.get_supabase_uid('y_operator'), 'operator');
SELECT tests.authenticate_as('y_other');
SELECT protector.create_organization('Other', 'voucher-refunds-other', 'UTC', 'EUR') IS NOT NULL \g /dev/null

-- 1. Vault for 2: 20 + 25 x 2 = 70, all from a voucher of 100 (30 left);
-- the party becomes 1: 20 + 25 = 45, so 25 was paid too much
SELECT tests.authenticate_as('y_owner');
SELECT protector.create_voucher(:'org', 100) ->> 'code' AS g100 \gset
SELECT protector.create_booking(:'vault', NULL, date_trunc('day', now()) + interval '5 days 10 hours', 2, p_voucher_code => :'g100') ->> 'id' AS a \gset
UPDATE protector.bookings SET party_size = 1 WHERE id = :'a';
SELECT is((SELECT format('%s %s %s', total_price, amount_paid, balance_due) FROM protector.bookings WHERE id = :'a'), '45.00 70.00 -25.00',
	'the party of 1 costs 45 of the 70 the voucher paid: 25 too much');
SELECT tests.authenticate_as('y_operator');
SELECT throws_ok(format($$SELECT protector.refund_to_vouchers(%L, 25)$$, :'a'), '42501', NULL,
	'the front desk (no payments.create) may not');
SELECT tests.authenticate_as('y_other');
SELECT throws_ok(format($$SELECT protector.refund_to_vouchers(%L, 25)$$, :'a'), 'P0002', 'booking not found',
	'another organization''s owner is told the booking is not found');
SELECT tests.authenticate_as('y_finance');
SELECT is((SELECT format('%s %s %s', x ->> 'refunded', x ->> 'amount_paid', x ->> 'balance_due')
		   FROM protector.refund_to_vouchers(:'a', 25) x), '25.00 45.00 0.00',
	'finance gives the 25 back to the voucher: 45 paid, nothing due');
SELECT is((SELECT balance FROM protector.vouchers WHERE code = :'g100'), 55.00::numeric(12, 2), 'the voucher holds 30 + 25 = 55');
SELECT is((SELECT format('%s %s %s', amount, status, voucher_id IS NOT NULL) FROM protector.payments WHERE booking_id = :'a' AND kind = 'refund'),
	'25.00 succeeded t', '... a succeeded refund to it in the ledger');
SELECT throws_ok(format($$SELECT protector.refund_to_vouchers(%L, 45.01)$$, :'a'), '22023',
	'p_amount is more than the booking''s vouchers can take back', 'more than the 70 - 25 = 45 it paid is refused');
SELECT throws_ok(format($$SELECT protector.refund_to_vouchers(%L, 0)$$, :'a'), '22023',
	'p_amount must be a positive amount with at most two decimals', '... and so is nothing');

-- 2. cancelled afterwards (5 days ahead: everything paid comes back),
-- the 45 left goes back too: the voucher is whole
SELECT tests.authenticate_as('y_owner');
SELECT is((SELECT format('%s %s', x ->> 'refund_amount', x ->> 'refund_to_vouchers') FROM protector.cancel_booking(:'a') x), '45.00 45.00',
	'a cancellation afterwards gives back the 45 left, to the voucher');
SELECT is((SELECT balance FROM protector.vouchers WHERE code = :'g100'), 100.00::numeric(12, 2), '... which holds 55 + 45 = 100 again');

-- 3. Vault for 4: 20 + 25 x 4 = 120; 50 from one voucher, then 70 from
-- another; 80 given back: 70 to the one used last, 10 to the first
SELECT protector.create_voucher(:'org', 50) ->> 'code' AS g50 \gset
SELECT protector.create_voucher(:'org', 100) ->> 'code' AS g100b \gset
SELECT protector.create_booking(:'vault', NULL, date_trunc('day', now()) + interval '5 days 12 hours', 4, p_voucher_code => :'g50') ->> 'id' AS b \gset
SELECT protector.redeem_voucher(:'b', :'g100b') IS NOT NULL \g /dev/null
SELECT is((SELECT protector.refund_to_vouchers(:'b', 80) ->> 'amount_paid'), '40.00', '80 of 120 given back: 40 paid');
SELECT is((SELECT string_agg(format('%s %s', amount, balance), ', ' ORDER BY amount) FROM protector.vouchers WHERE code IN (:'g50', :'g100b')),
	'50.00 10.00, 100.00 100.00', 'the voucher used last gets its 70 (30 + 70 = 100), the first 10 (0 + 10)');
-- an expired voucher takes nothing back
UPDATE protector.vouchers SET expires_at = now() WHERE code = :'g50';
SELECT throws_ok(format($$SELECT protector.refund_to_vouchers(%L, 10)$$, :'b'), '22023',
	'p_amount is more than the booking''s vouchers can take back', 'the 40 left was paid by a voucher that has expired: none goes back');

-- 4. a retry with the call's request key gives nothing more (a retry
-- after a lost answer gave the money back twice: an attack on retries).
-- Vault for 2: 70 from a voucher of 100 (30 left); 25 back twice with
-- one key: 30 + 25 = 55, not 80
SELECT tests.authenticate_as('y_owner');
SELECT protector.create_voucher(:'org', 100) ->> 'code' AS g100c \gset
SELECT protector.create_booking(:'vault', NULL, date_trunc('day', now()) + interval '5 days 14 hours', 2, p_voucher_code => :'g100c') ->> 'id' AS c \gset
SELECT is((SELECT format('%s %s %s', x ->> 'refunded', x ->> 'amount_paid', x ->> 'replayed')
		   FROM protector.refund_to_vouchers(:'c', 25, 'desk-7') x), '25.00 45.00 false',
	'25 of the 70 given back with a request key: 45 paid');
SELECT is((SELECT format('%s %s %s', x ->> 'refunded', x ->> 'amount_paid', x ->> 'replayed')
		   FROM protector.refund_to_vouchers(:'c', 25, 'desk-7') x), '25.00 45.00 true',
	'... the retry answers the same and gives nothing more');
SELECT is((SELECT balance FROM protector.vouchers WHERE code = :'g100c'), 55.00::numeric(12, 2), '... the voucher holds 30 + 25 = 55');
SELECT throws_ok(format($$SELECT protector.refund_to_vouchers(%L, 10, 'desk-7')$$, :'c'), '23P01',
	'this request key was used for another refund to vouchers', '... the key with another amount is refused');
SELECT is((SELECT protector.refund_to_vouchers(:'c', 10, 'desk-8') ->> 'amount_paid'), '35.00',
	'... another key is another refund: 45 - 10 = 35 paid');
SELECT throws_ok(format($$SELECT protector.refund_to_vouchers(%L, 10, E'desk\x01')$$, :'c'), '22023',
	'p_request_key holds control or invisible direction characters', 'a key is plain text');
-- ... and the key's digest outlives an erasure of the customer (an
-- erasure took the key, and the retry gave back again: a review)
SELECT protector.create_customer(:'org', 'Ann Smith') ->> 'id' AS ann \gset
UPDATE protector.bookings SET customer_id = :'ann' WHERE id = :'c';
SELECT protector.erase_customer(:'ann') IS NOT NULL \g /dev/null
SELECT is((SELECT format('%s %s', x ->> 'amount_paid', x ->> 'replayed') FROM protector.refund_to_vouchers(:'c', 25, 'desk-7') x),
	'35.00 true', '... a retry after the customer''s erasure still gives nothing more');

-- an erasure of the booking's customer keeps the refund's reason: it is
-- protector's, as a cancellation's
RESET ROLE;
SELECT is(protector_internal.erased_payment_details('{"reason": "refund to vouchers", "note": "for Ann Smith"}'),
	'{"reason": "refund to vouchers"}'::jsonb, 'an erasure keeps the reason protector wrote, not what staff added');

SELECT * FROM finish();
ROLLBACK;
