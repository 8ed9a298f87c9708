-- Money that adds up at its edges (found by an attack on the ledger):
-- currencies that stay with what was paid in them, refunds that never
-- exceed what was paid whichever row changes, deposits within the total
-- after a booking is priced again, and promo code uses that cannot be
-- burned.  Every figure is computed by hand beside it.  The race of a
-- deleted payment with a concurrent one: test/concurrency/payments.sh.
BEGIN;
SELECT plan(32);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['e_owner', 'e_admin', 'e_manager', 'e_finance', 'e_operator']) u;
INSERT INTO protector.organizations (id, name, slug, currency) VALUES
	('0a230000-0000-4000-8000-000000000000', 'Edges', 'money-edges', 'EUR');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a230000-0000-4000-8000-000000000000', tests.get_supabase_uid('e_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'admin', 'manager', 'finance', 'operator']) r;
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a230000-0000-4000-8000-0000000000a1', '0a230000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a230000-0000-4000-8000-00000000c001', '0a230000-0000-4000-8000-000000000000', 'Rita Reminded', 'rita@example.com');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, settings) VALUES
	('0a230000-0000-4000-8000-0000000005a1', '0a230000-0000-4000-8000-000000000000', '0a230000-0000-4000-8000-0000000000a1',
	 'Vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25, '{}'),
	('0a230000-0000-4000-8000-0000000005a2', '0a230000-0000-4000-8000-000000000000', '0a230000-0000-4000-8000-0000000000a1',
	 'Deposit vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25, '{"deposit": {"amount": 50, "deadline_hours": 24}}'),
	('0a230000-0000-4000-8000-0000000005a3', '0a230000-0000-4000-8000-000000000000', '0a230000-0000-4000-8000-0000000000a1',
	 'Cheap', '60 minutes', '60 minutes', '400 days', 1, 8, 10, 0, '{}');
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '6 days' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int) TO authenticated;
CREATE TEMP TABLE r (name text PRIMARY KEY, j jsonb);
GRANT SELECT, INSERT ON r TO authenticated;
CREATE FUNCTION pg_temp.id(n text) RETURNS uuid LANGUAGE sql AS $$ SELECT (j ->> 'id')::uuid FROM r WHERE name = n $$;
GRANT EXECUTE ON FUNCTION pg_temp.id(text) TO authenticated;

-- a paid booking keeps its currency -------------------------------------
SELECT tests.authenticate_as('e_operator');
INSERT INTO r SELECT 'paid', protector.create_booking('0a230000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(10), 4);
INSERT INTO r SELECT 'unpaid', protector.create_booking('0a230000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12), 1);
SELECT tests.authenticate_as('e_finance');
SELECT is((protector.record_payment(pg_temp.id('paid'), 120, 'stripe', 'pi_e1') ->> 'amount_paid')::numeric, 120.00,
	'20 + 25 x 4 = 120 paid in full');
SELECT tests.authenticate_as('e_manager');
SELECT throws_ok($$UPDATE protector.bookings SET currency = 'USD' WHERE id = pg_temp.id('paid')$$,
	'22023', 'a booking with payments keeps its currency', 'a paid booking''s currency does not change');
UPDATE protector.bookings SET currency = 'USD' WHERE id = pg_temp.id('unpaid');
SELECT is((SELECT currency FROM protector.bookings WHERE id = pg_temp.id('unpaid')), 'USD',
	'... one without payments may change it');

-- refunds never exceed what was paid, whichever row changes --------------
SELECT tests.authenticate_as('e_finance');
SELECT is((protector.record_payment(pg_temp.id('paid'), 100, 'stripe', 're_e1', 'refund') ->> 'amount_paid')::numeric, 20.00,
	'a refund of 100: 120 - 100 = 20 kept');
SELECT tests.authenticate_as('e_admin');
SELECT throws_ok($$UPDATE protector.payments SET amount = 10 WHERE provider_reference = 'pi_e1'$$,
	'22023', 'a payment cannot be lowered or removed below what was refunded',
	'the 120 lowered to 10 under a refund of 100 is refused (10 - 100 < 0)');
SELECT throws_ok($$UPDATE protector.payments SET status = 'failed' WHERE provider_reference = 'pi_e1'$$,
	'22023', 'a payment cannot be lowered or removed below what was refunded', '... and so is marking it failed');
SELECT throws_ok($$DELETE FROM protector.payments WHERE provider_reference = 'pi_e1'$$,
	'22023', 'a payment cannot be lowered or removed below what was refunded', '... and deleting it');
UPDATE protector.payments SET amount = 100 WHERE provider_reference = 'pi_e1';
SELECT is((SELECT amount_paid FROM protector.bookings WHERE id = pg_temp.id('paid')), 0.00,
	'lowered to 100, what was refunded: 100 - 100 = 0 kept, allowed');
SELECT throws_ok($$UPDATE protector.payments SET booking_id = pg_temp.id('unpaid') WHERE provider_reference = 're_e1'$$,
	'22023', 'a payment stays with its booking', 'a payment row does not move to another booking');

-- a booking priced again owes the deposit of its new service and total ------
SELECT tests.authenticate_as('e_operator');
INSERT INTO r SELECT 'deposit', protector.create_booking('0a230000-0000-4000-8000-0000000005a2', NULL, pg_temp.t(14), 4);
SELECT results_eq($$SELECT status::text, deposit_amount FROM protector.bookings WHERE id = pg_temp.id('deposit')$$,
	$$VALUES ('pending', 50.00)$$, 'a deposit of min(50, 20 + 25 x 4 = 120) = 50, pending until paid');
SELECT results_eq($$SELECT r ->> 'status', (r ->> 'total_price')::numeric, (r ->> 'deposit_amount')::numeric
					FROM protector.reschedule_booking(pg_temp.id('deposit'), pg_temp.t(15), '0a230000-0000-4000-8000-0000000005a3') r$$,
	$$VALUES ('confirmed', 10.00, 0.00)$$,
	'moved to Cheap, 10 + 0 x 4 = 10, which asks no deposit: it owes none, and is confirmed (expire_holds no longer cancels it)');
SELECT tests.authenticate_as('e_finance');
SELECT results_eq($$SELECT r ->> 'booking_status', (r ->> 'balance_due')::numeric
					FROM protector.record_payment(pg_temp.id('deposit'), 10, 'stripe', 'pi_e2') r$$,
	$$VALUES ('confirmed', 0.00)$$, 'paying the 10 leaves 10 - 10 = 0 due');

-- ... whatever sets the new total: a direct service change confirms a
-- booking already paid its new deposit, and its reminders follow
SELECT tests.authenticate_as('e_operator');
INSERT INTO r SELECT 'deposit2', protector.create_booking('0a230000-0000-4000-8000-0000000005a2',
	'0a230000-0000-4000-8000-00000000c001', pg_temp.t(20), 4);
SELECT tests.authenticate_as('e_finance');
SELECT protector.record_payment(pg_temp.id('deposit2'), 20, 'stripe', 'pi_e3') \g /dev/null
SELECT tests.clear_authentication();
UPDATE protector.bookings SET service_id = '0a230000-0000-4000-8000-0000000005a3' WHERE id = pg_temp.id('deposit2');
SELECT results_eq($$SELECT b.status::text, b.deposit_amount, (SELECT count(*) FROM protector.booking_reminders x WHERE x.booking_id = b.id)
					FROM protector.bookings b WHERE b.id = pg_temp.id('deposit2')$$,
	$$VALUES ('confirmed', 0.00, 2::bigint)$$,
	'paid 20 of a deposit of 50, moved directly to Cheap, which asks none: deposit 0, confirmed, its 2 reminders (1440 and 60 minutes) made');
-- ... and a total set by hand: 120 set to 40 under a deposit of 50
SELECT tests.authenticate_as('e_operator');
INSERT INTO r SELECT 'deposit3', protector.create_booking('0a230000-0000-4000-8000-0000000005a2', NULL, pg_temp.t(22), 4);
SELECT tests.authenticate_as('e_owner');
UPDATE protector.bookings SET total_price = 40 WHERE id = pg_temp.id('deposit3');
SELECT is((SELECT deposit_amount FROM protector.bookings WHERE id = pg_temp.id('deposit3')), 40.00,
	'an owner setting the total to 40 leaves a deposit of min(50, 40) = 40');
SELECT tests.authenticate_as('e_finance');
SELECT is(protector.record_payment(pg_temp.id('deposit3'), 40, 'stripe', 'pi_e4') ->> 'booking_status', 'confirmed',
	'paying the 40 confirms it');

-- a refund's webhook retried answers with the refund (its check would
-- count the refund it recorded the first time)
SELECT tests.authenticate_as('e_finance');
SELECT protector.record_payment(pg_temp.id('deposit3'), 40, 'stripe', 're_e4', 'refund') \g /dev/null
SELECT is((protector.record_payment(pg_temp.id('deposit3'), 40, 'stripe', 're_e4', 'refund') ->> 'replayed')::boolean, true,
	'refund 40 of 40 paid, the same webhook again: replayed, not "a refund cannot exceed what was paid"');
SELECT is((SELECT count(*) FROM protector.payments WHERE provider_reference = 're_e4'), 1::bigint, '... one refund');

-- gift vouchers keep their currency once used ------------------------------
SELECT tests.authenticate_as('e_manager');
INSERT INTO r SELECT 'gift', protector.create_voucher('0a230000-0000-4000-8000-000000000000', 100);
SELECT tests.authenticate_as('e_operator');
INSERT INTO r SELECT 'by_gift', protector.create_booking('0a230000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(16), 2,
	p_voucher_code => (SELECT j ->> 'code' FROM r WHERE name = 'gift'));
SELECT tests.authenticate_as('e_manager');
SELECT throws_ok($$UPDATE protector.vouchers SET currency = 'USD' WHERE id = pg_temp.id('gift')$$,
	'22023', 'a voucher with payments keeps its currency', 'a voucher that paid 20 + 25 x 2 = 70 keeps its currency');

-- a promo code's use cannot be burned by a booking written as cancelled ----
SELECT tests.authenticate_as('e_manager');
INSERT INTO r SELECT 'promo', protector.create_promo_code('0a230000-0000-4000-8000-000000000000', 'percent', 10, p_max_uses => 1);
SELECT tests.authenticate_as('e_operator');
SELECT set_config('protector.promo_code', (SELECT j ->> 'code' FROM r WHERE name = 'promo'), true);
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
	VALUES ('0a230000-0000-4000-8000-000000000000', '0a230000-0000-4000-8000-0000000000a1',
			'0a230000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(18), pg_temp.t(19)), 'cancelled')$$,
	'22023', 'a promo code cannot be used by a booking written as cancelled',
	'a booking written as cancelled does not take (and keep) a promo code''s use');
SELECT set_config('protector.promo_code', '', true);

-- NaN is no amount: numeric orders it above every number, so ">= 0" let
-- it through, and a NaN payment made amount_paid NaN and passed any refund,
-- a NaN voucher paid every booking in full (an attack on the ledger)
RESET role;
SELECT tests.authenticate_as('e_finance');
SELECT throws_ok($$INSERT INTO protector.payments (organization_id, booking_id, kind, amount, status)
	VALUES ('0a230000-0000-4000-8000-000000000000', pg_temp.id('paid'), 'refund', 'NaN', 'succeeded')$$,
	'23514', NULL, 'a NaN refund written directly is refused');
SELECT tests.authenticate_as('e_manager');
SELECT throws_ok($$INSERT INTO protector.vouchers (organization_id, amount) VALUES ('0a230000-0000-4000-8000-000000000000', 'NaN')$$,
	'22023', 'amount must be a positive amount with at most two decimals', 'a NaN voucher is refused, by name');
SELECT throws_ok($$UPDATE protector.services SET price = 'NaN' WHERE id = '0a230000-0000-4000-8000-0000000005a3'$$,
	'22023', 'price must be an amount from 0 with at most two decimals', 'a NaN price is refused, by name');
SELECT throws_ok($$INSERT INTO protector.promo_codes (organization_id, discount_kind, discount_value, currency)
	VALUES ('0a230000-0000-4000-8000-000000000000', 'fixed', 'NaN', 'EUR')$$, '22023',
	'discount_value must be a positive amount with at most two decimals', 'a NaN discount is refused, by name');
-- an amount is told its units, as a price is ("in cents" invited 1234 for
-- 12.34), and a long one is quoted cut
SELECT tests.authenticate_as('e_finance');
SELECT is(tests.error_text($$SELECT protector.record_payment(pg_temp.id('paid'), 12.345, 'stripe', 'pi_units')$$),
	'22023 | p_amount must be a positive amount with at most two decimals | Got 12.345. | Amounts are in the currency''s units (12.34, not 1234 cents), above 0 and below 10000000000.',
	'an amount with three decimals is told its units and bounds');
SELECT is(tests.error_text($$SELECT protector.record_payment(pg_temp.id('paid'), 1e200, 'stripe', 'pi_units')$$),
	'22023 | p_amount must be a positive amount with at most two decimals | Got ' || '1' || repeat('0', 99) || '.... | Amounts are in the currency''s units (12.34, not 1234 cents), above 0 and below 10000000000.',
	'... and a 201-digit one is quoted in its first 100 characters');
SELECT is(tests.error_text($$SELECT protector.record_payment(pg_temp.id('paid'), -5, 'stripe', 'pi_units')$$),
	'22023 | p_amount must be a positive amount with at most two decimals | Got -5. | Amounts are above 0; money paid back is recorded as a refund, not as a negative amount.',
	'... and a negative one is pointed to a refund');
-- (a review) every refused value is quoted cut, not whole: a percent of
-- 301 digits or of 300 decimals (a kind and a grouping: pgTAP 520)
SELECT tests.authenticate_as('e_owner');
SELECT is(tests.error_text($$SELECT protector.create_promo_code('0a230000-0000-4000-8000-000000000000', 'percent', ('1' || repeat('0', 300))::numeric)$$),
	'22023 | a percent discount is at most 100 | Got 1' || repeat('0', 99) || '....',
	'a percent of 301 digits is quoted in its first 100 characters');
SELECT is(tests.error_text($$SELECT protector.create_promo_code('0a230000-0000-4000-8000-000000000000', 'percent', 1e-300)$$),
	'22023 | p_discount_value must be a positive percent with at most two decimals | Got 0.' || repeat('0', 98) || '....',
	'... and one of 300 decimals');
RESET role;
SELECT throws_ok($$UPDATE protector.bookings SET total_price = 'NaN' WHERE id = pg_temp.id('paid')$$,
	'23514', 'new row for relation "bookings" violates check constraint "bookings_total_price_check"',
	'a NaN total on a booking is refused, under its rule''s name');
SELECT throws_ok($$UPDATE protector.bookings SET total_price = -5 WHERE id = pg_temp.id('paid')$$,
	'23514', 'new row for relation "bookings" violates check constraint "bookings_total_price_check"',
	'a negative total is refused under its own rule, not the deposit''s (the deposit followed it below zero)');

-- A customer's booking is pending until staff confirm it: paying its
-- deposit does not confirm it (it did: the deposit's deadline made it a
-- booking "waiting for its deposit").  Deposit vault, one guest: 20 + 25 x
-- 1 = 45, the fixed deposit of 50 capped at the total: 45.
SELECT tests.create_supabase_user('e_customer');
INSERT INTO protector.customers (id, organization_id, full_name, email, user_id) VALUES
	('0a230000-0000-4000-8000-00000000c002', '0a230000-0000-4000-8000-000000000000', 'Cass Customer', 'cass@example.com',
	 tests.get_supabase_uid('e_customer'));
SELECT tests.authenticate_as('e_customer');
INSERT INTO r SELECT 'customer', protector.create_booking('0a230000-0000-4000-8000-0000000005a2', NULL, pg_temp.t(30), 1);
RESET role;
SELECT results_eq($$SELECT status::text, total_price, deposit_amount, payment_due_by IS NULL FROM protector.bookings WHERE id = pg_temp.id('customer')$$,
	$$VALUES ('pending', 45.00, 45.00, true)$$, 'a customer''s booking: pending, owing 45, without a deadline');
SELECT tests.authenticate_as('e_finance');
SELECT is(protector.record_payment(pg_temp.id('customer'), 45, 'stripe', 'pi_cass') ->> 'booking_status', 'pending',
	'... and still pending once the deposit is paid: staff confirm it');

SELECT * FROM finish();
ROLLBACK;
