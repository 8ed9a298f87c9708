-- Gift vouchers and promo codes: codes checked before any look-up,
-- discounts by the documented formula (price + price_per_person x party,
-- less a percentage rounded half-even to cents or a fixed amount), voucher
-- balances kept by the ledger and given back on cancellation, and who may
-- do what by the capability map.  Every figure is computed by hand in the
-- comment beside it.  Concurrency: test/concurrency/redemptions.sh.
BEGIN;
SELECT plan(90);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['g_owner', 'g_manager', 'g_finance', 'g_operator', 'g_viewer',
														'g_customer', 'g_other']) u;
INSERT INTO protector.organizations (id, name, slug, currency) VALUES
	('0a140000-0000-4000-8000-000000000000', 'Gift Escapes', 'gift-eur', 'EUR'),
	('0b140000-0000-4000-8000-000000000000', 'Other', 'gift-other', 'EUR');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a140000-0000-4000-8000-000000000000', tests.get_supabase_uid('g_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'manager', 'finance', 'operator', 'viewer']) r;
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0b140000-0000-4000-8000-000000000000', tests.get_supabase_uid('g_other'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a140000-0000-4000-8000-0000000000a1', '0a140000-0000-4000-8000-000000000000', 'V', 'UTC'),
	('0b140000-0000-4000-8000-0000000000a1', '0b140000-0000-4000-8000-000000000000', 'W', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person) VALUES
	('0a140000-0000-4000-8000-0000000005a1', '0a140000-0000-4000-8000-000000000000', '0a140000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days', 1, 8, 40, 15),
	('0a140000-0000-4000-8000-0000000005a2', '0a140000-0000-4000-8000-000000000000', '0a140000-0000-4000-8000-0000000000a1',
	 'Vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25),
	('0b140000-0000-4000-8000-0000000005b1', '0b140000-0000-4000-8000-000000000000', '0b140000-0000-4000-8000-0000000000a1',
	 'Elsewhere', '60 minutes', '60 minutes', '400 days', 1, 8, 10, 0);
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email) VALUES
	('0a140000-0000-4000-8000-00000000c001', '0a140000-0000-4000-8000-000000000000', NULL, 'Ann', 'ann@example.com'),
	('0a140000-0000-4000-8000-00000000c002', '0a140000-0000-4000-8000-000000000000', NULL, 'Ben', 'ben@example.com'),
	('0a140000-0000-4000-8000-00000000c003', '0a140000-0000-4000-8000-000000000000', NULL, 'Cat', 'cat@example.com'),
	('0a140000-0000-4000-8000-00000000c004', '0a140000-0000-4000-8000-000000000000',
	 tests.get_supabase_uid('g_customer'), 'Dee', 'dee@example.com');
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '5 days' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int) TO anon, authenticated, service_role;
CREATE FUNCTION pg_temp.c(n int) RETURNS uuid LANGUAGE sql AS $$
	SELECT ('0a140000-0000-4000-8000-00000000c00' || n)::uuid
$$;
GRANT EXECUTE ON FUNCTION pg_temp.c(int) TO anon, authenticated, service_role;
-- results by name, written under whichever role made them
CREATE TEMP TABLE r (name text PRIMARY KEY, j jsonb);
GRANT SELECT, INSERT ON r TO anon, authenticated, service_role;
CREATE FUNCTION pg_temp.r(n text) RETURNS jsonb LANGUAGE sql AS $$ SELECT j FROM r WHERE name = n $$;
CREATE FUNCTION pg_temp.code(n text) RETURNS text LANGUAGE sql AS $$ SELECT j ->> 'code' FROM r WHERE name = n $$;
CREATE FUNCTION pg_temp.id(n text) RETURNS uuid LANGUAGE sql AS $$ SELECT (j ->> 'id')::uuid FROM r WHERE name = n $$;
GRANT EXECUTE ON FUNCTION pg_temp.r(text), pg_temp.code(text), pg_temp.id(text) TO anon, authenticated, service_role;
CREATE TEMP TABLE k AS SELECT embed_key AS key FROM protector.venues WHERE id = '0a140000-0000-4000-8000-0000000000a1';
GRANT SELECT ON k TO anon;

-- issuing: managers and above, by the capability map ----------------------
SELECT tests.authenticate_as('g_manager');
INSERT INTO r SELECT 'gift100', protector.create_voucher('0a140000-0000-4000-8000-000000000000', 100);
INSERT INTO r SELECT 'gift_dee', protector.create_voucher('0a140000-0000-4000-8000-000000000000', 50,
	p_customer_id => pg_temp.c(4));
INSERT INTO r SELECT 'gift_usd', protector.create_voucher('0a140000-0000-4000-8000-000000000000', 20, 'USD');
INSERT INTO r SELECT 'pct10', protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'percent', 10,
	p_max_uses => 2, p_max_uses_per_customer => 1);
INSERT INTO r SELECT 'fix15', protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'fixed', 15,
	p_service_ids => '{0a140000-0000-4000-8000-0000000005a1}', p_min_party_size => 3);
INSERT INTO r SELECT 'pct12_5', protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'percent', 12.5);
INSERT INTO r SELECT 'later', protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'percent', 5,
	p_valid_from => now() + interval '1 day');
SELECT ok(pg_temp.code('gift100') ~ '^gift_[0-9A-Za-z]{24}$' AND protector.embed_key_is_well_formed(pg_temp.code('gift100')),
	'a voucher gets a generated, checksummed gift_ code');
SELECT ok(pg_temp.code('pct10') ~ '^promo_[0-9A-Za-z]{24}$', 'a promo code gets a generated promo_ code');
SELECT is((pg_temp.r('gift100') ->> 'balance')::numeric, 100.00, 'a new voucher''s balance is its amount: 100');
SELECT is(pg_temp.r('gift100') ->> 'currency', 'EUR', 'a voucher without a currency is in the organization''s');
SELECT throws_ok($$SELECT protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'percent', 120)$$, '22023',
	'a percent discount is at most 100', 'a discount of more than 100 percent is refused');
SELECT throws_ok($$SELECT protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'half', 10)$$, '22023',
	'p_discount_kind must be percent or fixed', 'an unknown kind of discount is refused');
SELECT throws_ok($$SELECT protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'percent', 10,
	p_valid_from => 'infinity')$$, '22008', 'p_valid_from must be a finite time',
	'an infinite validity is refused as such, 22008 as every infinite time (it read "p_valid_until must be later than p_valid_from" with no p_valid_until; then 22023)');
SELECT throws_ok($$SELECT protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'percent', 10,
	p_valid_until => '-infinity')$$, '22008', 'p_valid_until must be a finite time', '... so is an end of -infinity');
SELECT throws_ok($$SELECT protector.create_voucher('0a140000-0000-4000-8000-000000000000', 10.001)$$, '22023',
	'p_amount must be a positive amount with at most two decimals', 'a voucher amount below a cent is refused');
SELECT throws_ok($$SELECT protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'fixed', 5,
	p_service_ids => '{0b140000-0000-4000-8000-0000000005b1}')$$, '22023',
	'service_ids names a service that is not the organization''s', 'a promo code for another organization''s service is refused');
SELECT throws_ok($$UPDATE protector.vouchers SET balance = 1000$$, '42501', NULL,
	'nobody writes a voucher''s balance: the ledger does');
SELECT tests.authenticate_as('g_operator');
SELECT throws_ok($$SELECT protector.create_voucher('0a140000-0000-4000-8000-000000000000', 100)$$, '42501',
	'your role may not issue, change or delete gift vouchers', 'operators do not issue vouchers');
SELECT throws_ok($$SELECT protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'percent', 5)$$, '42501',
	'your role may not create, change or delete promo codes', 'operators do not create promo codes');
SELECT is((SELECT count(*) FROM protector.vouchers) + (SELECT count(*) FROM protector.promo_codes), 0::bigint,
	'operators see no vouchers or promo codes');
SELECT tests.authenticate_as('g_viewer');
SELECT is((SELECT count(*) FROM protector.vouchers), 0::bigint, 'viewers see no vouchers');
SELECT tests.authenticate_as('g_finance');
SELECT is((SELECT count(*) FROM protector.vouchers) + (SELECT count(*) FROM protector.promo_codes), 7::bigint,
	'finance sees the organization''s 3 vouchers and 4 promo codes');
SELECT tests.authenticate_as('g_other');
SELECT is((SELECT count(*) FROM protector.vouchers), 0::bigint, 'another organization sees none of them');

-- codes: a typo is "not a valid code" before any look-up ------------------
SELECT tests.authenticate_as('g_operator');
SELECT throws_ok(format($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a1', %L, %L, 1, p_promo_code => %L)$$,
	pg_temp.c(1), pg_temp.t(0), overlay(pg_temp.code('pct10') PLACING
		CASE WHEN substr(pg_temp.code('pct10'), 8, 1) = 'A' THEN 'B' ELSE 'A' END FROM 8 FOR 1)), '22023',
	'p_promo_code is not a valid code', 'a promo code with one character mistyped is not a valid code');
SELECT throws_ok(format($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a1', %L, %L, 1, p_voucher_code => %L)$$,
	pg_temp.c(1), pg_temp.t(0), left(pg_temp.code('gift100'), -1)), '22023',
	'p_voucher_code is not a valid code', 'a voucher code cut short is not a valid code');
SELECT throws_ok(format($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a1', %L, %L, 1, p_promo_code => %L)$$,
	pg_temp.c(1), pg_temp.t(0), pg_temp.code('gift100')), '22023',
	'p_promo_code is not a valid code', 'a voucher''s code is not a promo code');
SELECT throws_ok(format($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a1', %L, %L, 1, p_promo_code => %L)$$,
	pg_temp.c(1), pg_temp.t(0), protector.generate_embed_key('promo')), 'P0002',
	'promo code not found', 'a well-formed code nobody issued is not found');
SELECT is((SELECT count(*) FROM protector.bookings WHERE organization_id = '0a140000-0000-4000-8000-000000000000'), 0::bigint,
	'none of the refused bookings was made');

-- promo codes -----------------------------------------------------------------
-- Room, party 4: 40 + 15 x 4 = 100; 10 percent off: 10; total 90
INSERT INTO r SELECT 'b_pct_ann', protector.create_booking('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(1), pg_temp.t(1), 4,
	p_promo_code => pg_temp.code('pct10'));
SELECT is((pg_temp.r('b_pct_ann') ->> 'discount_amount')::numeric, 10.00, '10 percent of 40 + 15 x 4 = 100 is 10');
SELECT is((pg_temp.r('b_pct_ann') ->> 'total_price')::numeric, 90.00, 'the booking costs 100 - 10 = 90');
SELECT throws_ok(format($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a1', %L, %L, 1, p_promo_code => %L)$$,
	pg_temp.c(1), pg_temp.t(2), pg_temp.code('pct10')), '22023',
	'this customer has used this promo code as often as it allows', 'at most one use per customer');
INSERT INTO r SELECT 'b_pct_ben', protector.create_booking('0a140000-0000-4000-8000-0000000005a2', pg_temp.c(2), pg_temp.t(2), 2,
	p_promo_code => pg_temp.code('pct10'));
-- Vault, party 2: 20 + 25 x 2 = 70; 10 percent: 7; total 63
SELECT is((pg_temp.r('b_pct_ben') ->> 'total_price')::numeric, 63.00, 'another customer: 20 + 25 x 2 = 70, less 7, is 63');
SELECT throws_ok(format($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a1', %L, %L, 1, p_promo_code => %L)$$,
	pg_temp.c(3), pg_temp.t(3), pg_temp.code('pct10')), '22023',
	'this promo code has been used up', 'the third use of a code with max_uses 2 is refused');
SELECT lives_ok(format($$SELECT protector.cancel_booking(%L)$$, pg_temp.id('b_pct_ben')),
	'cancelling a booking gives its use back');
INSERT INTO r SELECT 'b_pct_cat', protector.create_booking('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(3), pg_temp.t(3), 1,
	p_promo_code => pg_temp.code('pct10'));
-- Room, party 1: 40 + 15 = 55; 10 percent: 5.5; total 49.5
SELECT is((pg_temp.r('b_pct_cat') ->> 'total_price')::numeric, 49.50, 'so a third customer may use it: 55 - 5.50 = 49.50');
SELECT throws_ok(format($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a2', %L, %L, 3, p_promo_code => %L)$$,
	pg_temp.c(1), pg_temp.t(4), pg_temp.code('fix15')), '22023',
	'this promo code does not apply to this service', 'a code for the Room does not apply to the Vault');
SELECT throws_ok(format($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a1', %L, %L, 2, p_promo_code => %L)$$,
	pg_temp.c(1), pg_temp.t(4), pg_temp.code('fix15')), '22023',
	'this promo code needs a larger party', 'a party of 2 is below the code''s minimum of 3');
INSERT INTO r SELECT 'b_fix', protector.create_booking('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(1), pg_temp.t(4), 3,
	p_promo_code => pg_temp.code('fix15'));
SELECT is((pg_temp.r('b_fix') ->> 'total_price')::numeric, 70.00, 'fixed: 40 + 15 x 3 = 85, less 15, is 70');
SELECT throws_ok(format($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a1', %L, %L, 1, p_promo_code => %L)$$,
	pg_temp.c(1), pg_temp.t(5), pg_temp.code('later')), '22023',
	'this promo code is not valid yet', 'a code valid from tomorrow is refused today');
-- half to even: 12.5 percent of 55 = 6.875 -> 6.88 (687.5 cents, 687 is odd);
-- of 85 = 10.625 -> 10.62 (1062.5 cents, 1062 is even)
INSERT INTO r SELECT 'b_half1', protector.create_booking('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(2), pg_temp.t(5), 1,
	p_promo_code => pg_temp.code('pct12_5'));
INSERT INTO r SELECT 'b_half3', protector.create_booking('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(2), pg_temp.t(6), 3,
	p_promo_code => pg_temp.code('pct12_5'));
SELECT is(ARRAY[(pg_temp.r('b_half1') ->> 'discount_amount')::numeric, (pg_temp.r('b_half1') ->> 'total_price')::numeric,
				(pg_temp.r('b_half3') ->> 'discount_amount')::numeric, (pg_temp.r('b_half3') ->> 'total_price')::numeric],
	ARRAY[6.88, 48.12, 10.62, 74.38],
	'12.5 percent rounds half to even: 55 - 6.88 = 48.12 and 85 - 10.62 = 74.38');
SELECT tests.authenticate_as('g_manager');
UPDATE protector.bookings SET party_size = 2 WHERE id = pg_temp.id('b_pct_ann');
SELECT is((SELECT ARRAY[discount_amount, total_price] FROM protector.bookings WHERE id = pg_temp.id('b_pct_ann')),
	ARRAY[7.00, 63.00], 'a party changed from 4 to 2 is priced again with its code: 40 + 15 x 2 = 70, less 7, is 63');
SELECT is((SELECT times_used FROM protector.promo_codes WHERE id = pg_temp.id('pct10')), 2,
	'the code counts its uses that are not cancelled: Ann and Cat');
UPDATE protector.bookings SET party_size = 2 WHERE id = pg_temp.id('b_fix');
SELECT is((SELECT ARRAY[discount_amount, total_price] FROM protector.bookings WHERE id = pg_temp.id('b_fix')),
	ARRAY[0.00, 70.00], 'a party of 2 is below the fixed code''s minimum of 3: it loses the code, 40 + 15 x 2 = 70');
SELECT is((SELECT times_used FROM protector.promo_codes WHERE id = pg_temp.id('fix15')), 0,
	'... and the code gets its use back');
UPDATE protector.bookings SET party_size = 3 WHERE id = pg_temp.id('b_fix');
UPDATE protector.promo_codes SET active = false WHERE id = pg_temp.id('pct12_5');
SELECT tests.authenticate_as('g_operator');
SELECT throws_ok(format($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a1', %L, %L, 1, p_promo_code => %L)$$,
	pg_temp.c(3), pg_temp.t(7), pg_temp.code('pct12_5')), '22023',
	'this promo code is no longer active', 'a code switched off is refused');

-- vouchers ----------------------------------------------------------------------
-- Vault, party 2: 70, all paid from the 100 voucher; 30 left
INSERT INTO r SELECT 'b_v1', protector.create_booking('0a140000-0000-4000-8000-0000000005a2', pg_temp.c(1), pg_temp.t(8), 2,
	p_voucher_code => pg_temp.code('gift100'));
SELECT is(ARRAY[(pg_temp.r('b_v1') ->> 'amount_paid')::numeric, (pg_temp.r('b_v1') ->> 'balance_due')::numeric],
	ARRAY[70.00, 0.00], 'a voucher pays the whole 20 + 25 x 2 = 70: 70 paid, 0 due');
-- Room, party 1: 55, of which the 30 left
INSERT INTO r SELECT 'b_v2', protector.create_booking('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(2), pg_temp.t(8), 1,
	p_voucher_code => pg_temp.code('gift100'));
SELECT is(ARRAY[(pg_temp.r('b_v2') ->> 'amount_paid')::numeric, (pg_temp.r('b_v2') ->> 'balance_due')::numeric],
	ARRAY[30.00, 25.00], 'the voucher''s remaining 100 - 70 = 30 pays part of 55: 25 due');
SELECT throws_ok(format($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a1', %L, %L, 1, p_voucher_code => %L)$$,
	pg_temp.c(3), pg_temp.t(9), pg_temp.code('gift100')), '22023',
	'this voucher has no balance left', 'a used-up voucher pays nothing more, and the booking is not made');
SELECT throws_ok(format($$SELECT protector.redeem_voucher(%L, %L)$$, pg_temp.id('b_fix'), pg_temp.code('gift_usd')), '22023',
	'a voucher in USD for a booking in EUR', 'a voucher pays bookings in its own currency only (named as a voucher''s, not a payment''s: the caller gave a code)');
SELECT tests.authenticate_as('g_finance');
SELECT is((SELECT balance FROM protector.vouchers WHERE id = pg_temp.id('gift100')), 0.00,
	'the ledger says the voucher is spent: 100 - 70 - 30 = 0');
SELECT is((SELECT count(*) FROM protector.payments WHERE voucher_id = pg_temp.id('gift100') AND provider = 'voucher'), 2::bigint,
	'each redemption is a payment of the ledger, from the voucher');
SELECT throws_ok(format($$INSERT INTO protector.payments (organization_id, booking_id, amount, status, voucher_id)
	VALUES ('0a140000-0000-4000-8000-000000000000', %L, 5, 'succeeded', %L)$$, pg_temp.id('b_fix'), pg_temp.id('gift100')),
	'42501', NULL, 'nobody writes voucher payments by the voucher''s id: the code is what spends it');
SELECT tests.authenticate_as_service_role();
SELECT throws_ok(format($$INSERT INTO protector.payments (organization_id, booking_id, amount, status, voucher_id)
	VALUES ('0a140000-0000-4000-8000-000000000000', %L, 5, 'succeeded', %L)$$, pg_temp.id('b_fix'), pg_temp.id('gift100')),
	'22023', 'the voucher''s balance is less than the payment', 'even a trusted payment row cannot overdraw a voucher');
SELECT tests.authenticate_as('g_finance');
SELECT lives_ok(format($$SELECT protector.record_payment(%L, 25, 'cash', 'till-1')$$, pg_temp.id('b_v2')),
	'the rest of the second booking is paid in cash: 30 + 25 = 55');
SELECT tests.authenticate_as_service_role();
SELECT throws_ok(format($$INSERT INTO protector.payments (organization_id, booking_id, kind, amount, status, voucher_id)
	VALUES ('0a140000-0000-4000-8000-000000000000', %L, 'refund', 31, 'succeeded', %L)$$, pg_temp.id('b_v2'), pg_temp.id('gift100')),
	'22023', 'a refund to a voucher cannot exceed what it paid for the booking',
	'nor give a voucher back more than it paid: 31 > 30 (of the 55 paid)');
SELECT tests.authenticate_as('g_finance');
SELECT throws_ok(format($$SELECT protector.record_payment(%L, 30, 'cash', 'till-1')$$, pg_temp.id('b_fix')), '23P01',
	'this provider reference was recorded for another payment', 'a provider reference replays only the payment it named');

-- cancelling gives back to the vouchers first
SELECT tests.authenticate_as('g_operator');
INSERT INTO r SELECT 'c_v1', protector.cancel_booking(pg_temp.id('b_v1'));
SELECT is(ARRAY[(pg_temp.r('c_v1') ->> 'refund_amount')::numeric, (pg_temp.r('c_v1') ->> 'refund_to_vouchers')::numeric,
				(pg_temp.r('c_v1') ->> 'amount_paid')::numeric],
	ARRAY[70.00, 70.00, 0.00], 'cancelled without a fee: all 70 goes back to the voucher, nothing stays paid');
SELECT tests.authenticate_as_service_role();
UPDATE protector.services SET settings = settings || '{"cancellation_fees": [{"within_hours": 1000, "fee_percent": 20}]}'
WHERE id = '0a140000-0000-4000-8000-0000000005a1';
SELECT tests.authenticate_as('g_operator');
INSERT INTO r SELECT 'c_v2', protector.cancel_booking(pg_temp.id('b_v2'));
-- fee 20 percent of 55 = 11; refund 55 - 11 = 44: 30 to the voucher, 14 in cash
SELECT is(ARRAY[(pg_temp.r('c_v2') ->> 'cancellation_fee')::numeric, (pg_temp.r('c_v2') ->> 'refund_amount')::numeric,
				(pg_temp.r('c_v2') ->> 'refund_to_vouchers')::numeric],
	ARRAY[11.00, 44.00, 30.00], 'with a 20 percent fee: 11 kept of 55, 44 refunded, 30 of it to the voucher');
SELECT tests.authenticate_as('g_finance');
SELECT is((SELECT balance FROM protector.vouchers WHERE id = pg_temp.id('gift100')), 100.00,
	'the voucher has its 70 + 30 = 100 back');
SELECT tests.authenticate_as_service_role();
SELECT throws_ok(format($$INSERT INTO protector.payments (organization_id, booking_id, amount, status, voucher_id)
	VALUES ('0a140000-0000-4000-8000-000000000000', %L, 5, 'succeeded', %L)$$, pg_temp.id('b_v1'), pg_temp.id('gift100')),
	'22023', 'a voucher pays only a held, pending or confirmed booking',
	'even a trusted payment row cannot spend a voucher on a cancelled booking (its money would be kept there)');
SELECT tests.authenticate_as('g_finance');
SELECT is((SELECT array_agg(ARRAY[amount, (voucher_id IS NOT NULL)::int] ORDER BY amount) FROM protector.payments
		   WHERE booking_id = pg_temp.id('b_v2') AND kind = 'refund'),
	ARRAY[ARRAY[14.00, 0], ARRAY[30.00, 1]], 'the refunds: 30 to the voucher, 44 - 30 = 14 pending in cash');
SELECT is((SELECT amount_paid FROM protector.bookings WHERE id = pg_temp.id('b_v2')), 25.00,
	'paid: 30 + 25 - 30 given back to the voucher = 25 (the cash refund is still pending)');

-- a hold that expires keeps no fee: the voucher gets everything back
SELECT tests.authenticate_as('g_operator');
INSERT INTO r SELECT 'h_v', protector.hold_slot('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(3), pg_temp.t(10), 1,
	p_voucher_code => pg_temp.code('gift100'));
SELECT is((pg_temp.r('h_v') ->> 'amount_paid')::numeric, 55.00, 'a hold is paid from the voucher: 55');
SELECT tests.authenticate_as_service_role();
UPDATE protector.bookings SET hold_expires_at = now() - interval '1 second' WHERE id = pg_temp.id('h_v');
SELECT is(protector.expire_holds(), 1, 'the sweep cancels the expired hold');
SELECT is((SELECT balance FROM protector.vouchers WHERE id = pg_temp.id('gift100')), 100.00,
	'its 55 goes back to the voucher although the Room charges 20 percent: 100 again');

-- expiry, other organizations, customers, the widget
SELECT tests.authenticate_as('g_manager');
UPDATE protector.vouchers SET expires_at = now() - interval '1 second' WHERE id = pg_temp.id('gift100');
SELECT tests.authenticate_as('g_operator');
SELECT throws_ok(format($$SELECT protector.redeem_voucher(%L, %L)$$, pg_temp.id('b_fix'), pg_temp.code('gift100')), '22023',
	'this voucher has expired', 'an expired voucher pays nothing');
SELECT tests.authenticate_as('g_other');
INSERT INTO r SELECT 'b_other', protector.create_booking('0b140000-0000-4000-8000-0000000005b1', NULL, pg_temp.t(1), 1);
SELECT throws_ok(format($$SELECT protector.redeem_voucher(%L, %L)$$, pg_temp.id('b_other'), pg_temp.code('gift_dee')), 'P0002',
	'voucher not found', 'a voucher of another organization is not found');
SELECT tests.authenticate_as('g_customer');
SELECT is((SELECT array_agg(balance) FROM protector.vouchers), ARRAY[50.00],
	'a customer sees their own voucher''s balance, and no other voucher');
INSERT INTO r SELECT 'b_dee', protector.create_booking('0a140000-0000-4000-8000-0000000005a2', NULL, pg_temp.t(11), 1,
	p_voucher_code => pg_temp.code('gift_dee'));
-- Vault, party 1: 20 + 25 = 45, from the 50 voucher; 5 left
SELECT is(ARRAY[(pg_temp.r('b_dee') ->> 'amount_paid')::numeric, (SELECT balance FROM protector.vouchers)],
	ARRAY[45.00, 5.00], 'a customer pays their own booking with their voucher: 45 of 50, 5 left');
SELECT throws_ok(format($$INSERT INTO protector.payments (organization_id, booking_id, amount, status)
	VALUES ('0a140000-0000-4000-8000-000000000000', %L, 5, 'succeeded')$$, pg_temp.id('b_dee')),
	'42501', NULL, 'but records no other payment');
SELECT throws_ok(format($$INSERT INTO protector.payments (organization_id, booking_id, amount, status, provider, voucher_id)
	VALUES ('0a140000-0000-4000-8000-000000000000', %L, 5, 'succeeded', 'voucher', %L)$$, pg_temp.id('b_dee'), pg_temp.id('gift100')),
	'42501', NULL, '... nor pays with a voucher whose id it has seen');
SELECT throws_ok(format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status,
		hold_expires_at, promo_code_id)
	VALUES ('0a140000-0000-4000-8000-000000000000', '0a140000-0000-4000-8000-0000000000a1', '0a140000-0000-4000-8000-0000000005a1',
		%L, tstzrange(pg_temp.t(20), pg_temp.t(21)), 'held', now() + interval '1 hour', %L)$$, pg_temp.c(4), pg_temp.id('pct12_5')),
	'42501', NULL, '... nor books under a promo code by its id');
-- pay_with_voucher runs as the owner: it pays only what redeem_voucher
-- authorized in the same transaction (a permit), whoever calls it
SELECT throws_ok(format($$SELECT protector_internal.pay_with_voucher(%L, %L)$$, pg_temp.id('b_fix'), pg_temp.code('gift_dee')),
	'42501', 'your role may not pay bookings with gift vouchers',
	'the helper called directly pays no booking the caller may not (a booking of another customer)');
SELECT throws_ok(format($$SELECT protector_internal.permit('protector.bookings', %L, 'vouchers.redeem')$$, pg_temp.id('b_fix')),
	'42501', NULL, 'nor does a signed-in caller give themselves a permit');
SELECT tests.authenticate_as('g_other');
SELECT throws_ok(format($$SELECT protector_internal.pay_with_voucher(%L, %L)$$, pg_temp.id('b_dee'), pg_temp.code('gift_dee')),
	'42501', 'your role may not pay bookings with gift vouchers',
	'a permit is its requester''s: another user in the same transaction gets none (the customer was authorized for this booking)');
-- ... of one table's row: authorizing a venue of theirs that has a
-- booking's id gives no permit for the booking
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES (pg_temp.id('b_fix'), '0b140000-0000-4000-8000-000000000000', 'Same id', 'UTC');
SELECT protector_internal.authorize_row('protector.venues', pg_temp.id('b_fix'), 'vouchers.redeem', 'venue') \g /dev/null
SELECT throws_ok(format($$SELECT protector_internal.pay_with_voucher(%L, %L)$$, pg_temp.id('b_fix'), pg_temp.code('gift_dee')),
	'42501', 'your role may not pay bookings with gift vouchers', 'a permit is for a row of one table');
-- ... and goes with a rolled-back subtransaction
SAVEPOINT permit;
SELECT protector_internal.authorize_row('protector.bookings', pg_temp.id('b_other'), 'vouchers.redeem', 'booking') \g /dev/null
ROLLBACK TO SAVEPOINT permit;
SELECT throws_ok(format($$SELECT protector_internal.pay_with_voucher(%L, %L)$$, pg_temp.id('b_other'), pg_temp.code('gift_dee')),
	'42501', 'your role may not pay bookings with gift vouchers', 'a permit given in a rolled-back subtransaction is gone');
SELECT protector_internal.authorize_row('protector.bookings', pg_temp.id('b_other'), 'vouchers.redeem', 'booking') \g /dev/null
SELECT throws_ok(format($$SELECT protector_internal.pay_with_voucher(%L, %L)$$, pg_temp.id('b_other'), pg_temp.code('gift_dee')),
	'P0002', 'voucher not found', '... and one kept lets the helper go on (to a voucher of another organization: not found)');
SELECT tests.authenticate_as('g_customer');
SELECT tests.clear_authentication();
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, currency)
VALUES ('0a140000-0000-4000-8000-0000000005a9', '0a140000-0000-4000-8000-000000000000', '0a140000-0000-4000-8000-0000000000a1',
		'Dollar room', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 'USD');
SELECT tests.authenticate_as('g_operator');
SELECT throws_ok(format($$SELECT protector.reschedule_booking(%L, %L, '0a140000-0000-4000-8000-0000000005a9')$$,
	pg_temp.id('b_dee'), pg_temp.t(13)), '22023', 'a booking with payments cannot move to a service in another currency',
	'a booking paid in EUR (from a voucher) does not move to a USD service');
SELECT tests.authenticate_as_anon();
INSERT INTO r SELECT 'w', protector.create_widget_booking(key, '0a140000-0000-4000-8000-0000000005a1', 'Wendy Widget',
	'wendy@example.com', NULL, pg_temp.t(12), 3, NULL, '{}', pg_temp.code('fix15'), pg_temp.code('gift_dee')) FROM k;
-- Room, party 3: 85 - 15 = 70; the voucher's 5 paid; 65 due
SELECT is(ARRAY[(pg_temp.r('w') ->> 'total_price')::numeric, (pg_temp.r('w') ->> 'discount_amount')::numeric,
				(pg_temp.r('w') ->> 'amount_paid')::numeric, (pg_temp.r('w') ->> 'balance_due')::numeric],
	ARRAY[70.00, 15.00, 5.00, 65.00], 'through the widget: 40 + 15 x 3 = 85, less 15 = 70, 5 from a voucher, 65 due');
SELECT throws_ok($$SELECT protector.redeem_voucher('0a140000-0000-4000-8000-000000000000', 'gift_x')$$, '42501', NULL,
	'anon redeems only through the widget');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*) FROM protector.audit_log WHERE table_name IN ('protector.vouchers', 'protector.promo_codes')) > 0, true,
	'vouchers and promo codes are audited');
SELECT is((SELECT sum(CASE WHEN kind = 'payment' THEN amount ELSE -amount END) FROM protector.payments
		   WHERE voucher_id = pg_temp.id('gift100') AND status = 'succeeded'), 0.00,
	'the ledger and the balance agree: payments 70 + 30 + 55 less refunds 70 + 30 + 55 = 0 spent, balance 100');

-- a promo code and a deposit on one booking: the deposit is worked out on
-- the discounted price (prepare_booking applies the code, then the
-- deposit).  Deposit room, party 2: 40 + 15 x 2 = 70; 12.5 percent off:
-- 8.75; 61.25 to pay; half of it as deposit: 30.625, rounded half to even
-- (round_money) to 30.62; pending until paid
SELECT tests.clear_authentication();
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, settings) VALUES
	('0a140000-0000-4000-8000-0000000005a3', '0a140000-0000-4000-8000-000000000000', '0a140000-0000-4000-8000-0000000000a1',
	 'Deposit room', '60 minutes', '60 minutes', '400 days', 1, 8, 40, 15, '{"deposit": {"percent": 50}}');
SELECT tests.authenticate_as('g_manager');
INSERT INTO r SELECT 'pct_dep', protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'percent', 12.5);
SELECT tests.authenticate_as('g_operator');
INSERT INTO r SELECT 'promo_deposit', protector.create_booking('0a140000-0000-4000-8000-0000000005a3', pg_temp.c(3), pg_temp.t(30), 2,
	p_promo_code => pg_temp.code('pct_dep'));
SELECT results_eq($$SELECT discount_amount, total_price FROM protector.bookings WHERE id = pg_temp.id('promo_deposit')$$,
	$$VALUES (8.75, 61.25)$$, '12.5 percent off 40 + 15 x 2 = 70 is 8.75: 61.25 to pay');
SELECT results_eq($$SELECT status::text, deposit_amount FROM protector.bookings WHERE id = pg_temp.id('promo_deposit')$$,
	$$VALUES ('pending', 30.62)$$,
	'the deposit is half of the discounted 61.25: 30.625, half to even 30.62; pending until paid');

-- a voucher that paid, or a promo code a booking used, is not deleted:
-- it is expired or deactivated (it was the foreign key's bare error)
SELECT tests.authenticate_as('g_manager');
SELECT throws_ok($$DELETE FROM protector.vouchers WHERE id = pg_temp.id('gift100')$$, '23503',
	'a voucher that paid for bookings cannot be deleted', 'a voucher with payments stays');
SELECT throws_ok($$DELETE FROM protector.promo_codes WHERE id = pg_temp.id('pct12_5')$$, '23503',
	'a promo code that bookings used cannot be deleted', 'a promo code on bookings stays');
SELECT lives_ok($$DELETE FROM protector.promo_codes WHERE id = pg_temp.id('later')$$, 'an unused promo code is deleted');
SELECT tests.clear_authentication();

-- edges found by a review ---------------------------------------------------
-- a voucher payment of a cancelled booking is not raised (an owner drained
-- 45 of a voucher into a cancelled booking: Room for 1 = 40 + 15 = 55, paid
-- by the voucher, cancelled and given back, then "corrected" to 100)
SELECT tests.authenticate_as('g_manager');
INSERT INTO r SELECT 'v_edge', protector.create_voucher('0a140000-0000-4000-8000-000000000000', 100);
INSERT INTO r SELECT 'once', protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'percent', 10, p_max_uses => 1);
INSERT INTO r SELECT 'per1', protector.create_promo_code('0a140000-0000-4000-8000-000000000000', 'percent', 10,
	p_max_uses_per_customer => 1);
SELECT tests.authenticate_as('g_owner');
INSERT INTO r SELECT 'b_edge', protector.create_booking('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(1), pg_temp.t(300), 1,
	p_voucher_code => pg_temp.code('v_edge'));
SELECT protector.cancel_booking(pg_temp.id('b_edge'));
SELECT throws_ok(format($$UPDATE protector.payments SET amount = 100 WHERE booking_id = %L AND kind = 'payment'$$, pg_temp.id('b_edge')),
	'22023', 'a voucher pays only a held, pending or confirmed booking',
	'a voucher payment of a cancelled booking is not raised');
-- a booking brought back from cancelled uses its code again
INSERT INTO r SELECT 'b_once', protector.create_booking('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(2), pg_temp.t(302), 1,
	p_promo_code => pg_temp.code('once'));
SELECT protector.cancel_booking(pg_temp.id('b_once'));
SELECT tests.authenticate_as_service_role();
UPDATE protector.bookings SET status = 'confirmed', cancelled_at = NULL WHERE id = pg_temp.id('b_once');
SELECT is((SELECT times_used FROM protector.promo_codes WHERE id = pg_temp.id('once')), 1,
	'a booking brought back from cancelled counts its use again');
SELECT tests.authenticate_as('g_owner');
SELECT throws_ok($$SELECT protector.create_booking('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(3), pg_temp.t(303), 1,
					p_promo_code => pg_temp.code('once'))$$,
	'22023', 'this promo code has been used up', '... so a code of one use is used up');
-- a booking handed to another customer counts toward their limit
INSERT INTO r SELECT 'b_per_a', protector.create_booking('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(1), pg_temp.t(304), 1,
	p_promo_code => pg_temp.code('per1'));
INSERT INTO r SELECT 'b_per_c', protector.create_booking('0a140000-0000-4000-8000-0000000005a1', pg_temp.c(3), pg_temp.t(305), 1,
	p_promo_code => pg_temp.code('per1'));
SELECT throws_ok(format($$UPDATE protector.bookings SET customer_id = %L WHERE id = %L$$, pg_temp.c(1), pg_temp.id('b_per_c')),
	'22023', 'this customer has used this promo code as often as it allows',
	'a booking under a code of one use per customer is not handed to a customer who used it');
SELECT tests.authenticate_as('g_manager');
UPDATE protector.promo_codes SET max_uses = 1 WHERE id = pg_temp.id('per1');
SELECT tests.authenticate_as('g_owner');
SELECT lives_ok(format($$UPDATE protector.bookings SET customer_id = %L WHERE id = %L$$, pg_temp.c(2), pg_temp.id('b_per_c')),
	'a code closed by lowering max_uses below its 2 uses keeps its bookings: one handed to a customer who never used it');
-- direct edits are refused by name, not by the table's CHECK
SELECT tests.authenticate_as('g_manager');
SELECT throws_ok(format($$UPDATE protector.promo_codes SET discount_value = 150 WHERE id = %L$$, pg_temp.id('pct10')),
	'22023', 'a percent discount is at most 100', 'a direct edit of a percent code above 100 is named');
SELECT throws_ok(format($$UPDATE protector.promo_codes SET max_uses = 0 WHERE id = %L$$, pg_temp.id('pct10')),
	'22023', 'max_uses and max_uses_per_customer must be positive when given', '... and a use limit of 0');
SELECT throws_ok(format($$UPDATE protector.vouchers SET amount = 0 WHERE id = %L$$, pg_temp.id('v_edge')),
	'22023', 'amount must be a positive amount with at most two decimals', '... and a voucher of nothing');

SELECT * FROM finish();
ROLLBACK;
