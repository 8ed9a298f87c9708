-- A booking priced again (sql/75_bookings_api.sql, set_booking_price):
--   1. an update that writes its prices while changing its party keeps
--      them, also when they are the old ones (they were priced again: the
--      trigger compared values, not what the update wrote), for roles that
--      may set prices; an operator's written prices are priced again;
--   2. a booking not confirmed yet owes its service's deposit of the new
--      total (a percentage followed the total no more: 11.25 of 220
--      confirmed a booking whose deposit is 25%);
--   3. a move to a service in another currency takes that service's
--      deposit (30 EUR became 30 JPY);
--   4. a confirmed booking keeps its deposit, within the total;
--   5. the money settings: a fixed deposit in cents (0.004 was a deposit
--      of nothing), a deadline of more than 0 hours, one cancellation
--      tier per window; round_money exact for large amounts.
-- Every figure by hand: Vault 20 + 25 per person, 25% deposit; Yen room
-- 5000 + 1000 per person, 10% deposit.
BEGIN;
SELECT plan(21);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['rp_manager', 'rp_operator']) u;
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('0a790000-0000-4000-8000-000000000000', 'Reprice', 'reprice', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a790000-0000-4000-8000-000000000000', tests.get_supabase_uid('rp_manager'), 'manager'),
	('0a790000-0000-4000-8000-000000000000', tests.get_supabase_uid('rp_operator'), 'operator');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a790000-0000-4000-8000-0000000000a1', '0a790000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, currency, settings) VALUES
	('0a790000-0000-4000-8000-0000000005a1', '0a790000-0000-4000-8000-000000000000', '0a790000-0000-4000-8000-0000000000a1',
	 'Vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25, 'EUR', '{}'),
	('0a790000-0000-4000-8000-0000000005a2', '0a790000-0000-4000-8000-000000000000', '0a790000-0000-4000-8000-0000000000a1',
	 'Deposit vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25, 'EUR', '{"deposit": {"percent": 25}}'),
	('0a790000-0000-4000-8000-0000000005a3', '0a790000-0000-4000-8000-000000000000', '0a790000-0000-4000-8000-0000000000a1',
	 'Fixed vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25, 'EUR', '{"deposit": {"amount": 30}}'),
	('0a790000-0000-4000-8000-0000000005a4', '0a790000-0000-4000-8000-000000000000', '0a790000-0000-4000-8000-0000000000a1',
	 'Yen room', '60 minutes', '60 minutes', '400 days', 1, 8, 5000, 1000, 'JPY', '{"deposit": {"percent": 10}}'),
	('0a790000-0000-4000-8000-0000000005a5', '0a790000-0000-4000-8000-000000000000', '0a790000-0000-4000-8000-0000000000a1',
	 'Small room', '60 minutes', '60 minutes', '400 days', 1, 8, 10, 5, 'EUR', '{}');
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '6 days' + h * interval '1 hour'
$$;
CREATE TEMP TABLE r (name text PRIMARY KEY, id uuid);
GRANT ALL ON r TO authenticated;
CREATE FUNCTION pg_temp.id(p text) RETURNS uuid LANGUAGE sql AS $$ SELECT id FROM r WHERE name = p $$;

-- 1. written prices
SELECT tests.authenticate_as('rp_manager');
INSERT INTO r SELECT 'kept', (protector.create_booking('0a790000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(1), 4) ->> 'id')::uuid;
UPDATE protector.bookings SET party_size = 3, unit_price = 20, total_price = 120 WHERE id = pg_temp.id('kept');
SELECT results_eq($$SELECT party_size, total_price FROM protector.bookings WHERE id = pg_temp.id('kept')$$,
	$$VALUES (3, 120.00)$$, 'a manager writing party 3 with the old prices (20 + 25 x 4 = 120) keeps 120, not 20 + 25 x 3 = 95');
UPDATE protector.bookings SET party_size = 2 WHERE id = pg_temp.id('kept');
SELECT is((SELECT total_price FROM protector.bookings WHERE id = pg_temp.id('kept')), 70.00,
	'... and a later update of the party alone is priced again: 20 + 25 x 2 = 70');
SELECT tests.authenticate_as('rp_operator');
INSERT INTO r SELECT 'operator', (protector.create_booking('0a790000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(3), 4) ->> 'id')::uuid;
UPDATE protector.bookings SET service_id = '0a790000-0000-4000-8000-0000000005a5', total_price = 120 WHERE id = pg_temp.id('operator');
SELECT is((SELECT total_price FROM protector.bookings WHERE id = pg_temp.id('operator')), 30.00,
	'an operator, who may not set prices, moving it to the small room with the old total written is priced again: 10 + 5 x 4 = 30');

-- 2. a percentage deposit follows the total of a booking not confirmed yet
INSERT INTO r SELECT 'grows', (protector.create_booking('0a790000-0000-4000-8000-0000000005a2', NULL, pg_temp.t(5), 1) ->> 'id')::uuid;
SELECT results_eq($$SELECT status::text, total_price, deposit_amount FROM protector.bookings WHERE id = pg_temp.id('grows')$$,
	$$VALUES ('pending', 45.00, 11.25)$$, 'party 1: 20 + 25 = 45, deposit 25% = 11.25, pending');
SELECT tests.authenticate_as('rp_manager');
UPDATE protector.bookings SET party_size = 8 WHERE id = pg_temp.id('grows');
SELECT results_eq($$SELECT status::text, total_price, deposit_amount FROM protector.bookings WHERE id = pg_temp.id('grows')$$,
	$$VALUES ('pending', 220.00, 55.00)$$, 'party 8: 20 + 25 x 8 = 220, deposit 25% = 55.00, still pending');
SELECT tests.clear_authentication();
SELECT is(protector.record_payment(pg_temp.id('grows'), 11.25, 'stripe', 'pi_rp1') ->> 'booking_status', 'pending',
	'paying the old 11.25 does not confirm it');
SELECT is(protector.record_payment(pg_temp.id('grows'), 43.75, 'stripe', 'pi_rp2') ->> 'booking_status', 'confirmed',
	'11.25 + 43.75 = 55 does');
-- 4. a confirmed booking keeps its deposit
SELECT tests.authenticate_as('rp_manager');
UPDATE protector.bookings SET party_size = 4 WHERE id = pg_temp.id('grows');
SELECT results_eq($$SELECT status::text, total_price, deposit_amount FROM protector.bookings WHERE id = pg_temp.id('grows')$$,
	$$VALUES ('confirmed', 120.00, 55.00)$$, 'confirmed, party 4: 20 + 25 x 4 = 120, its deposit stays 55 (within the total)');

-- 3. another currency: the new service's deposit
SELECT tests.authenticate_as('rp_operator');
INSERT INTO r SELECT 'yen', (protector.create_booking('0a790000-0000-4000-8000-0000000005a3', NULL, pg_temp.t(7), 2) ->> 'id')::uuid;
SELECT results_eq($$SELECT status::text, currency, total_price, deposit_amount FROM protector.bookings WHERE id = pg_temp.id('yen')$$,
	$$VALUES ('pending', 'EUR', 70.00, 30.00)$$, 'party 2 in the fixed vault: 20 + 25 x 2 = 70 EUR, deposit 30 EUR');
SELECT results_eq($$SELECT r ->> 'currency', (r ->> 'total_price')::numeric, (r ->> 'deposit_amount')::numeric, r ->> 'status'
					FROM protector.reschedule_booking(pg_temp.id('yen'), pg_temp.t(9), '0a790000-0000-4000-8000-0000000005a4') r$$,
	$$VALUES ('JPY', 7000.00, 700.00, 'pending')$$,
	'moved to the yen room: 5000 + 1000 x 2 = 7000 JPY, deposit 10% = 700 JPY (not the 30 EUR read as yen), still pending');
SELECT tests.clear_authentication();
SELECT is(protector.record_payment(pg_temp.id('yen'), 30, 'stripe', 'pi_rp3', p_currency => 'JPY') ->> 'booking_status', 'pending',
	'paying 30 JPY does not confirm a booking of 7000 JPY');

-- ... a hold given a deposit waits for it once confirmed (it had no
-- deadline, and was confirmed unpaid)
SELECT tests.authenticate_as('rp_manager');
INSERT INTO r SELECT 'hold', (protector.hold_slot('0a790000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(11), 4, 30) ->> 'id')::uuid;
UPDATE protector.bookings SET service_id = '0a790000-0000-4000-8000-0000000005a2' WHERE id = pg_temp.id('hold');
SELECT results_eq($$SELECT status::text, total_price, deposit_amount, payment_due_by IS NOT NULL FROM protector.bookings WHERE id = pg_temp.id('hold')$$,
	$$VALUES ('held', 120.00, 30.00, true)$$, 'a hold moved to the deposit vault: 20 + 25 x 4 = 120, owes 25% = 30.00, by a deadline');
SELECT is(protector.confirm_booking(pg_temp.id('hold')) ->> 'status', 'pending', '... confirmed, it waits for the deposit');
-- ... a currency changed by hand with a fixed deposit of the service's
INSERT INTO r SELECT 'fixed', (protector.create_booking('0a790000-0000-4000-8000-0000000005a3', NULL, pg_temp.t(13), 2) ->> 'id')::uuid;
SELECT throws_ok($$UPDATE protector.bookings SET currency = 'JPY', total_price = 7000 WHERE id = pg_temp.id('fixed')$$,
	'22023', 'the deposit of service 0a790000-0000-4000-8000-0000000005a3 is a fixed amount in EUR: a booking in JPY cannot owe it',
	'a booking of the fixed vault (30 EUR deposit) is not moved to yen by hand');
SELECT throws_ok($$UPDATE protector.bookings SET currency = 'JPY' WHERE id = pg_temp.id('fixed')$$,
	'22023', NULL, '... nor by its currency alone');

-- 5. settings and rounding
SELECT throws_ok($$UPDATE protector.services SET settings = '{"deposit": {"amount": 0.004}}'
	WHERE id = '0a790000-0000-4000-8000-0000000005a1'$$, '22023', 'settings.deposit.amount must have at most two decimals',
	'a fixed deposit of 0.004 is refused');
SELECT throws_ok($$UPDATE protector.services SET settings = '{"deposit": {"percent": 10, "deadline_hours": 0}}'
	WHERE id = '0a790000-0000-4000-8000-0000000005a1'$$, '22023', 'settings.deposit.deadline_hours must be at least a minute (1/60)',
	'a deposit due at once is refused');
SELECT lives_ok($$UPDATE protector.services SET settings = '{"deposit": {"amount": 10.5, "deadline_hours": 0.5}}'
	WHERE id = '0a790000-0000-4000-8000-0000000005a1'$$, '10.50 due within half an hour is taken');
SELECT throws_ok($$UPDATE protector.services
	SET settings = '{"cancellation_fees": [{"within_hours": 48, "fee_percent": 10}, {"within_hours": 48, "fee_percent": 100}]}'
	WHERE id = '0a790000-0000-4000-8000-0000000005a1'$$, '22023', 'settings.cancellation_fees must not repeat a within_hours',
	'two tiers of one window are refused');
SELECT is(protector.round_money(99999999999999999999.125), 99999999999999999999.12,
	'round_money of a large amount keeps its cents: ...999.125 half to even is ...999.12');
SELECT throws_ok($$SELECT protector.round_money('NaN')$$, '22023', 'an amount of money is a finite number', 'round_money refuses NaN');

SELECT * FROM finish();
ROLLBACK;
