-- Deposits and refunds (sql/77_payments.sql):
--   1. a hold paid up to its deposit and paid back below it (a refund, a
--      chargeback) owes it again by a deadline: sum_payments cleared the
--      deadline when it was paid and never set it again, so the hold was
--      confirmed with nothing paid (wait_for_deposit fires on a deadline)
--      and expire_holds never cancelled it;
--   2. a booking written directly in another currency than its service's
--      fixed deposit is refused (require_deposit took the amount as one of
--      the booking's currency: 30 JPY confirmed a 7000 JPY booking), as a
--      move to another currency is (set_booking_price);
--   3. a booking under way is not cancelled by its customer: mid-session
--      they got back what the closest tier left (60 of 120 paid), where staying
--      away cost everything (the no-show fee, 100%): staff settle it.
-- Figures by hand: Vault 20 + 25 per person, party 2: 20 + 25 x 2 = 70;
-- 50% deposit: 35.00, due 2 hours after it is asked (deadline_hours 2).
BEGIN;
SELECT plan(15);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['dr_manager', 'dr_finance', 'dr_customer']) u;
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('0a880000-0000-4000-8000-000000000000', 'Deposits', 'deposit-refunds', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a880000-0000-4000-8000-000000000000', tests.get_supabase_uid('dr_manager'), 'manager'),
	('0a880000-0000-4000-8000-000000000000', tests.get_supabase_uid('dr_finance'), 'finance');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a880000-0000-4000-8000-0000000000a1', '0a880000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, currency, settings) VALUES
	('0a880000-0000-4000-8000-0000000005a1', '0a880000-0000-4000-8000-000000000000', '0a880000-0000-4000-8000-0000000000a1',
	 'Vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25, 'EUR', '{"deposit": {"percent": 50, "deadline_hours": 2}}'),
	('0a880000-0000-4000-8000-0000000005a2', '0a880000-0000-4000-8000-000000000000', '0a880000-0000-4000-8000-0000000000a1',
	 'Fixed vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25, 'EUR', '{"deposit": {"amount": 30}}');
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '6 days' + h * interval '1 hour'
$$;
CREATE TEMP TABLE r (name text PRIMARY KEY, id uuid);
GRANT ALL ON r TO authenticated;
CREATE FUNCTION pg_temp.id(p text) RETURNS uuid LANGUAGE sql AS $$ SELECT id FROM r WHERE name = p $$;
CREATE FUNCTION pg_temp.money(p text) RETURNS text LANGUAGE sql AS $$
	SELECT format('%s paid %s of %s, deposit %s, %s', status, amount_paid, total_price, deposit_amount,
				  CASE WHEN payment_due_by IS NULL THEN 'no deadline'
					   WHEN tests.taken_in_transaction(payment_due_by - interval '2 hours') THEN 'due in 2 hours'
					   ELSE 'due ' || payment_due_by END)
	FROM protector.bookings WHERE id = pg_temp.id(p)
$$;

-- 1.
SELECT tests.authenticate_as('dr_manager');
INSERT INTO r SELECT 'hold', (protector.create_booking('0a880000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(1), 2,
														p_hold_minutes => 60) ->> 'id')::uuid;
SELECT is(pg_temp.money('hold'), 'held paid 0.00 of 70.00, deposit 35.00, due in 2 hours', 'a hold owes 35.00 of 70.00 in 2 hours');
SELECT tests.authenticate_as('dr_finance');
SELECT protector.record_payment(pg_temp.id('hold'), 35, 'stripe', 'pi_1') IS NOT NULL AS paid \gset
SELECT is(pg_temp.money('hold'), 'held paid 35.00 of 70.00, deposit 35.00, no deadline', '... paid 35.00: nothing more is due by a date');
SELECT protector.record_payment(pg_temp.id('hold'), 35, 'stripe', 're_1', 'refund') IS NOT NULL AS refunded \gset
SELECT is(pg_temp.money('hold'), 'held paid 0.00 of 70.00, deposit 35.00, due in 2 hours',
	'... refunded 35.00: it owes its deposit again, in 2 hours');
SELECT tests.authenticate_as('dr_manager');
SELECT is(protector.confirm_booking(pg_temp.id('hold')) ->> 'status', 'pending', '... confirmed, it waits for the deposit (pending)');
SELECT tests.authenticate_as('dr_finance');
SELECT protector.record_payment(pg_temp.id('hold'), 35, 'stripe', 'pi_2') IS NOT NULL AS paid_again \gset
SELECT is(pg_temp.money('hold'), 'confirmed paid 35.00 of 70.00, deposit 35.00, no deadline', '... and is confirmed once paid again');
RESET ROLE;
-- the deadline passed: expire_holds cancels a hold refunded below its deposit
SELECT tests.authenticate_as('dr_manager');
INSERT INTO r SELECT 'late', (protector.create_booking('0a880000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(3), 2,
														p_hold_minutes => 600) ->> 'id')::uuid;
SELECT tests.authenticate_as('dr_finance');
SELECT protector.record_payment(pg_temp.id('late'), 35, 'stripe', 'pi_3') IS NOT NULL AS paid_late \gset
SELECT protector.record_payment(pg_temp.id('late'), 35, 'stripe', 're_3', 'refund') IS NOT NULL AS refunded_late \gset
SELECT tests.authenticate_as('dr_manager');
SELECT protector.confirm_booking(pg_temp.id('late')) ->> 'status' AS late_status \gset
RESET ROLE;
UPDATE protector.bookings SET payment_due_by = now() - interval '1 minute' WHERE id = pg_temp.id('late');
SELECT is(protector.expire_holds() >= 1, true, 'expire_holds cancels such a booking, confirmed and waiting, once its deadline passes');
SELECT is((SELECT status FROM protector.bookings WHERE id = pg_temp.id('late')), 'cancelled'::protector.booking_status,
	'... it is cancelled');

-- 2.
SELECT tests.authenticate_as('dr_manager');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size, status, currency,
												   unit_price, total_price)
	VALUES ('0a880000-0000-4000-8000-000000000000', '0a880000-0000-4000-8000-0000000000a1', '0a880000-0000-4000-8000-0000000005a2',
			tstzrange(pg_temp.t(5), pg_temp.t(6)), 2, 'confirmed', 'JPY', 5000, 7000)$$,
	'22023', 'the deposit of service 0a880000-0000-4000-8000-0000000005a2 is a fixed amount in EUR: a booking in JPY cannot owe it',
	'a booking written in JPY for a service whose deposit is 30 EUR is refused');
WITH b AS (
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size, status, unit_price, total_price)
	VALUES ('0a880000-0000-4000-8000-000000000000', '0a880000-0000-4000-8000-0000000000a1', '0a880000-0000-4000-8000-0000000005a2',
			tstzrange(pg_temp.t(7), pg_temp.t(8)), 2, 'confirmed', 25, 70) RETURNING id)
INSERT INTO r SELECT 'eur', id FROM b;
SELECT is((SELECT format('%s %s %s %s', status, currency, total_price, deposit_amount) FROM protector.bookings WHERE id = pg_temp.id('eur')),
	'pending EUR 70.00 30.00', '... in EUR it owes 30.00 of 70.00 and waits for it');
SELECT throws_ok(format($$UPDATE protector.bookings SET currency = 'JPY' WHERE id = %L$$, pg_temp.id('eur')),
	'22023', 'the deposit of service 0a880000-0000-4000-8000-0000000005a2 is a fixed amount in EUR: a booking in JPY cannot owe it',
	'(a manager''s move of it to JPY is refused the same way: set_booking_price)');
SELECT is((SELECT count(*) FROM protector.bookings WHERE currency = 'JPY' AND organization_id = '0a880000-0000-4000-8000-000000000000'),
	0::bigint, 'no booking in JPY owes the EUR deposit');

-- 3. Vault with a 50% fee within 48 hours, no no_show_fee_percent (100);
-- two bookings of party 4 (20 + 25 x 4 = 120) started 30 minutes ago
RESET ROLE;
UPDATE protector.services SET settings = '{"cancellation_fees": [{"within_hours": 48, "fee_percent": 50}]}'
WHERE id = '0a880000-0000-4000-8000-0000000005a1';
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email) VALUES
	('0a880000-0000-4000-8000-00000000c001', '0a880000-0000-4000-8000-000000000000', tests.get_supabase_uid('dr_customer'), 'Cara', 'c@x.test');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, party_size, status, unit_price, total_price)
SELECT ('0a880000-0000-4000-8000-00000000b00' || n)::uuid, '0a880000-0000-4000-8000-000000000000', '0a880000-0000-4000-8000-0000000000a1',
	   '0a880000-0000-4000-8000-0000000005a1', '0a880000-0000-4000-8000-00000000c001',
	   tstzrange(date_trunc('minute', now()) - interval '30 minutes' + n * interval '2 hours',
				 date_trunc('minute', now()) + interval '30 minutes' + n * interval '2 hours'),
	   4, 'confirmed', 25, 120
FROM generate_series(0, 1) n;
UPDATE protector.bookings SET status = 'in_progress' WHERE id = '0a880000-0000-4000-8000-00000000b000';
SELECT tests.authenticate_as('dr_customer');
SELECT throws_ok($$SELECT protector.cancel_booking('0a880000-0000-4000-8000-00000000b000')$$,
	'42501', 'a booking under way is not cancelled by its customer', 'a customer cannot cancel their booking under way');
SELECT throws_ok($$UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a880000-0000-4000-8000-00000000b000'$$,
	'42501', 'a booking under way is not cancelled by its customer', '... nor written cancelled directly');
SELECT is(protector.cancel_booking('0a880000-0000-4000-8000-00000000b001') ->> 'status', 'cancelled',
	'... their booking to come they cancel');
SELECT tests.authenticate_as('dr_manager');
SELECT is(protector.cancel_booking('0a880000-0000-4000-8000-00000000b000') ->> 'status', 'cancelled',
	'staff cancel the booking under way');

SELECT * FROM finish();
ROLLBACK;
