-- What an attack on the money side found (the thirty-ninth stop):
--   1. a cancellation gave back to an expired gift voucher what it paid,
--      where it could never be spent: the customer got nothing usable.
--      An expired voucher gets nothing back; its part is the pending
--      refund, for the desk to pay out.
--   2. a payment's details had no bound (8 MB in a call, 20 MB written
--      directly, twice more in the audit log): 64 kB, as a booking's.
-- The file runs in one transaction: now() is one instant, and a voucher
-- made to expire at now() has expired.
BEGIN;
SELECT plan(13);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user('x_owner') IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('x_owner');
SELECT protector.create_organization('Expired', 'expired-vouchers', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Vault', '1 hour', p_slot_interval => '1 hour', p_price => 20, p_price_per_person => 25,
								p_capacity => 8) ->> 'id' AS vault \gset

-- 1. Vault for 2: 20 + 25 x 2 = 70, all from a voucher of 100 (30 left);
-- the voucher expires, then the booking is cancelled 5 days ahead (no
-- fee: the refund policy gives everything back until 24 hours before)
SELECT protector.create_voucher(:'org', 100) ->> 'code' AS g100 \gset
SELECT protector.create_booking(:'vault', NULL, date_trunc('day', now()) + interval '5 days 10 hours', 2, p_voucher_code => :'g100') ->> 'id' AS a \gset
SELECT is((SELECT format('%s %s', total_price, amount_paid) FROM protector.bookings WHERE id = :'a'), '70.00 70.00',
	'the voucher pays all of 20 + 25 x 2 = 70');
UPDATE protector.vouchers SET expires_at = now() WHERE code = :'g100';
SELECT is((SELECT format('%s %s', x ->> 'refund_amount', x ->> 'refund_to_vouchers') FROM protector.cancel_booking(:'a') x), '70.00 0.00',
	'cancelled: all 70 comes back, none of it to the expired voucher');
SELECT is((SELECT balance FROM protector.vouchers WHERE code = :'g100'), 30.00::numeric(12, 2),
	'the expired voucher keeps its 100 - 70 = 30');
SELECT is((SELECT string_agg(format('%s %s', amount, status), ', ') FROM protector.payments WHERE booking_id = :'a' AND kind = 'refund'),
	'70.00 pending', 'the 70 is a pending refund, for the desk to pay out');

-- 2. Vault for 4: 20 + 25 x 4 = 120; 50 from one voucher, then 70 from
-- another; the first expires; cancelled, the 70 goes back to the second
-- (still good), the 50 is the pending refund
SELECT protector.create_voucher(:'org', 50) ->> 'code' AS g50 \gset
SELECT protector.create_voucher(:'org', 100) ->> 'code' AS g100b \gset
SELECT protector.create_booking(:'vault', NULL, date_trunc('day', now()) + interval '5 days 12 hours', 4, p_voucher_code => :'g50') ->> 'id' AS b \gset
SELECT is(protector.redeem_voucher(:'b', :'g100b') ->> 'amount', '70.00', 'the second voucher pays the other 120 - 50 = 70');
UPDATE protector.vouchers SET expires_at = now() WHERE code = :'g50';
SELECT is((SELECT format('%s %s', x ->> 'refund_amount', x ->> 'refund_to_vouchers') FROM protector.cancel_booking(:'b') x), '120.00 70.00',
	'cancelled: 120 back, 70 of it to the voucher still good');
SELECT is((SELECT string_agg(format('%s %s', amount, balance), ', ' ORDER BY amount) FROM protector.vouchers WHERE code IN (:'g50', :'g100b')),
	'50.00 0.00, 100.00 100.00', 'the good voucher is whole again (30 + 70 = 100); the expired one gets nothing back');
SELECT is((SELECT string_agg(format('%s %s', amount, status), ', ') FROM protector.payments
		   WHERE booking_id = :'b' AND kind = 'refund' AND voucher_id IS NULL),
	'50.00 pending', '... and its 50 is the pending refund');

-- 3. a payment's details: at most 64 kB
SELECT protector.create_booking(:'vault', NULL, date_trunc('day', now()) + interval '6 days 10 hours', 2) ->> 'id' AS c \gset
SELECT throws_ok(format($$SELECT protector.record_payment(%L, 10, p_details => jsonb_build_object('payload', repeat('x', 70000)))$$, :'c'),
	'22023', 'p_details is too large', 'record_payment refuses details of 70 kB');
SELECT throws_ok(format($$INSERT INTO protector.payments (organization_id, booking_id, amount, details)
						 VALUES (%L, %L, 10, jsonb_build_object('payload', repeat('x', 70000)))$$, :'org', :'c'),
	'22023', 'details is too large', '... and so does a direct write');

-- ... measured as text: a value taken from a table comes compressed (4 MB
-- stored in 45 kB passed a check of its stored size), for a booking's too
CREATE TEMP TABLE big AS SELECT jsonb_build_object('payload', repeat('x', 4000000)) AS d;
SELECT throws_ok(format($$INSERT INTO protector.payments (organization_id, booking_id, amount, details)
						 SELECT %L, %L, 10, d FROM big$$, :'org', :'c'),
	'22023', 'details is too large', 'a direct write of 4 MB taken from a table, stored compressed, is refused');
SELECT throws_ok(format($$UPDATE protector.bookings SET details = (SELECT d FROM big) WHERE id = %L$$, :'c'),
	'22023', 'details is too large', '... and so is a booking''s');
-- a replay stores nothing: the provider's webhook settling a pending
-- payment with a large payload settles it
SELECT protector.record_payment(:'c', 30, 'stripe', 'pi_750', p_status => 'pending') IS NOT NULL \g /dev/null
SELECT is((SELECT r ->> 'status' FROM protector.record_payment(:'c', 30, 'stripe', 'pi_750',
		   p_details => jsonb_build_object('payload', repeat('x', 70000))) r), 'succeeded',
	'the webhook of its outcome, with 70 kB of payload, settles a pending payment (its details are not stored)');

SELECT * FROM finish();
ROLLBACK;
