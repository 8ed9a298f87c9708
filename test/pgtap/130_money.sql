-- Money that adds up: the price formula on every path, currencies that
-- follow the organization, and the payments ledger deciding what is paid.
-- Every figure is computed by hand in the comment beside it.
BEGIN;
SELECT plan(76);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['m_owner', 'm_manager', 'm_finance', 'm_operator', 'm_other']) u;
INSERT INTO protector.organizations (id, name, slug, currency) VALUES
	('0a130000-0000-4000-8000-000000000000', 'Euro Escapes', 'money-eur', 'EUR'),
	('0b130000-0000-4000-8000-000000000000', 'Other', 'money-other', 'USD');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a130000-0000-4000-8000-000000000000', tests.get_supabase_uid('m_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'manager', 'finance', 'operator']) r;
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0b130000-0000-4000-8000-000000000000', tests.get_supabase_uid('m_other'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a130000-0000-4000-8000-0000000000a1', '0a130000-0000-4000-8000-000000000000', 'V', 'UTC');
-- no currency given: the organization's
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person) VALUES
	('0a130000-0000-4000-8000-0000000005a1', '0a130000-0000-4000-8000-000000000000', '0a130000-0000-4000-8000-0000000000a1',
	 'Group room', '60 minutes', '60 minutes', '400 days', 1, 8, 40, 15),
	('0a130000-0000-4000-8000-0000000005a2', '0a130000-0000-4000-8000-000000000000', '0a130000-0000-4000-8000-0000000000a1',
	 'Vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25);
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a130000-0000-4000-8000-00000000c001', '0a130000-0000-4000-8000-000000000000', 'Paula Payer', 'paula@example.com');
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '4 days' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int) TO anon, authenticated;
CREATE TEMP TABLE k AS SELECT embed_key AS key FROM protector.venues WHERE id = '0a130000-0000-4000-8000-0000000000a1';
GRANT SELECT ON k TO anon;

SELECT is((SELECT currency FROM protector.services WHERE id = '0a130000-0000-4000-8000-0000000005a1'), 'EUR',
	'a service inserted without a currency is in its organization''s (EUR, not USD)');

-- prices: price + price_per_person x party_size
-- the formula itself (C): 20 + 25 x 4 = 120; 0.005 + 0.001 x 3 = 0.008 (no
-- rounding, scale kept); 0 + 0 x 1 = 0; NULL anywhere is NULL (STRICT, as
-- the SQL expression); an overflow is numeric's own 22003
SELECT is(protector.booking_total(20, 25, 4), 120::numeric, 'booking_total(20, 25, 4) = 20 + 25 x 4 = 120');
SELECT is(protector.booking_total(0.005, 0.001, 3)::text, '0.008', 'booking_total(0.005, 0.001, 3) = 0.008, scale kept');
SELECT is(protector.booking_total(40, 15, 0)::text, '40', 'booking_total(40, 15, 0) = 40 + 15 x 0 = 40');
SELECT ok(protector.booking_total(NULL, 1, 1) IS NULL AND protector.booking_total(1, NULL, 1) IS NULL
	AND protector.booking_total(1, 1, NULL) IS NULL, 'booking_total of a NULL is NULL');
SELECT throws_ok($$SELECT protector.booking_total('-Infinity', 0, 1)$$, '22023', 'the booking''s total must be an amount of at least 0',
	'booking_total of -Infinity is refused (it answered -Infinity)');
SELECT throws_ok($$SELECT protector.booking_total(10, 5, -3)$$, '22023', 'p_party_size must be at least 0',
	'... and of a negative party (10 + 5 x -3 = -5 was answered)');
SELECT throws_ok($$SELECT protector.booking_total('NaN', 0, 1)$$, '22023', 'the booking''s total must be an amount of at least 0',
	'... and NaN is no amount (it was "above" the largest)');
SELECT throws_ok($$SELECT protector.booking_total(1, 9e131071, 10)$$, '22003', NULL,
	'booking_total: an overflow is numeric''s "value overflows numeric format"');
SELECT is(protector.booking_total(-5, 2.5, 2), 0.0, 'booking_total(-5, 2.5, 2) = -5 + 2.5 x 2 = 0.0 (the formula; prices are checked elsewhere)');
SELECT tests.authenticate_as_anon();
SELECT is((SELECT (protector.create_widget_booking(key, '0a130000-0000-4000-8000-0000000005a1', 'Wendy Widget',
			'wendy@example.com', NULL, pg_temp.t(9), 3) ->> 'total_price')::numeric FROM k),
	85.00, 'through the widget: 40 + 15 x 3 = 85 (not (40 + 15) x 3 = 165)');
SELECT tests.authenticate_as('m_operator');
CREATE TEMP TABLE b AS SELECT protector.create_booking('0a130000-0000-4000-8000-0000000005a2', '0a130000-0000-4000-8000-00000000c001',
	pg_temp.t(10), 4) AS j;
GRANT SELECT ON b TO authenticated;
SELECT is(((SELECT j FROM b) ->> 'total_price')::numeric, 120.00, 'from the desk: 20 + 25 x 4 = 120 (not 180)');
SELECT is((SELECT j ->> 'currency' FROM b), 'EUR', 'the booking is in its service''s currency');
SELECT is(((SELECT j FROM b) ->> 'balance_due')::numeric, 120.00, 'nothing paid yet: 120 - 0 = 120 due');
SELECT is((protector.reschedule_booking((SELECT (j ->> 'id')::uuid FROM b), pg_temp.t(11), '0a130000-0000-4000-8000-0000000005a1')
		   ->> 'total_price')::numeric, 100.00,
	'rescheduled to the other service: priced again, 40 + 15 x 4 = 100, by an operator who may not set prices');

-- the ledger
SELECT tests.authenticate_as('m_manager');
SELECT throws_ok($$SELECT protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 100, 'stripe', 'pi_1')$$, '42501',
	'your role may not record payments', 'managers do not record payments (payments.create: owners, admins, finance)');
SELECT tests.authenticate_as('m_other');
SELECT throws_ok($$SELECT protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 100, 'stripe', 'pi_1')$$, 'P0002',
	'booking not found', 'another organization finds no such booking');
SELECT tests.authenticate_as('m_finance');
SELECT is((protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 60, 'stripe', 'pi_1') ->> 'amount_paid')::numeric, 60.00,
	'finance records a webhook''s payment of 60: paid 60');
SELECT is((SELECT count(*)::int FROM generate_series(1, 10) i,
		   LATERAL protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 60, 'stripe', 'pi_1') r
		   WHERE (r ->> 'replayed')::boolean), 10, 'the same webhook ten times more: ten replays ...');
SELECT is((SELECT count(*)::int FROM protector.payments), 1, '... and one payment');
SELECT is((protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 40, 'stripe', 'pi_2') ->> 'balance_due')::numeric, 0.00,
	'a second payment of 40: paid 60 + 40 = 100 = the total, 0 due');
SELECT throws_ok($$SELECT protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 10, 'stripe', 'pi_3', p_currency => 'USD')$$,
	'22023', 'a payment in USD for a booking in EUR', 'a payment in another currency is refused');
SELECT throws_ok($$SELECT protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 100.01, 'stripe', 're_1', 'refund')$$,
	'22023', 'a refund cannot exceed what was paid', 'a refund of 100.01 when 100 was paid is refused');
SELECT is((protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 25, 'stripe', 're_2', 'refund') ->> 'amount_paid')::numeric,
	75.00, 'a refund of 25: paid 100 - 25 = 75');
SELECT throws_ok($$SELECT protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 0, 'stripe', 'pi_4')$$, '22023', NULL,
	'an amount of 0 is refused');
SELECT throws_ok($$SELECT protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 1.005, 'stripe', 'pi_5')$$, '22023', NULL,
	'fractions of a cent are refused');
SELECT throws_ok($$SELECT protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 10, repeat('s', 101), 'pi_6')$$, '22023',
	'p_provider must be at most 100 characters and p_provider_reference at most 200',
	'a provider name beyond 100 characters is refused as too long (it read "... go together")');
SELECT throws_ok($$SELECT protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 10, NULL, 'pi_7')$$, '22023',
	'p_provider_reference needs p_provider: whose reference it is', 'a reference without its provider is refused');
SELECT is((protector.record_payment((SELECT (j ->> 'id')::uuid FROM b), 30, 'cash', 'till-7', p_status => 'pending')
		   ->> 'amount_paid')::numeric, 75.00, 'a pending payment of 30 is not paid yet: still 75');
SELECT tests.clear_authentication();
UPDATE protector.payments SET status = 'succeeded' WHERE provider_reference = 'till-7';
SELECT results_eq($$SELECT amount_paid, balance_due FROM protector.bookings WHERE id = (SELECT (j ->> 'id')::uuid FROM b)$$,
	$$VALUES (105.00, -5.00)$$, 'it succeeds: paid 75 + 30 = 105 of 100, 5 overpaid (balance -5)');
DELETE FROM protector.payments WHERE provider_reference = 'till-7';
SELECT is((SELECT amount_paid FROM protector.bookings WHERE id = (SELECT (j ->> 'id')::uuid FROM b)), 75.00,
	'a payment deleted: 105 - 30 = 75');

-- nobody types amount_paid in
SELECT tests.authenticate_as('m_owner');
SELECT throws_ok($$UPDATE protector.bookings SET amount_paid = 1000$$, '42501', NULL, 'not even an owner sets amount_paid');
SELECT throws_ok($$INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status)
	SELECT organization_id, id, 5, 'GBP', 'succeeded' FROM protector.bookings LIMIT 1$$, '22023', NULL,
	'a direct payment row in another currency is refused too');

-- rounding: to cents, half to even
SELECT results_eq($$SELECT protector.round_money(v) FROM unnest(ARRAY[50.125, 50.135, 2.675, -0.125, 31.6825, 7]) v$$,
	$$VALUES (50.12), (50.14), (2.68), (-0.12), (31.68), (7.00)$$,
	'round_money: 50.125 -> 50.12, 50.135 -> 50.14, 2.675 -> 2.68, -0.125 -> -0.12, 31.6825 -> 31.68, 7 -> 7.00');

-- cancellation fees: the smallest window the time left falls into wins
-- (tiers given out of order on purpose); no-shows keep 20 percent
SELECT tests.clear_authentication();
UPDATE protector.services SET settings = settings || '{"cancellation_fees": [{"within_hours": 72, "fee_percent": 10},
	{"within_hours": 24, "fee_percent": 100}, {"within_hours": 48, "fee_percent": 50}], "no_show_fee_percent": 20}'
WHERE id = '0a130000-0000-4000-8000-0000000005a2';
-- Vault bookings starting h hours after the current hour began, so
-- h - 1 to h hours away
CREATE FUNCTION pg_temp.vault(h int, party int, paid numeric) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
	v_id uuid;
BEGIN
	PERFORM tests.authenticate_as('m_operator');
	v_id := protector.create_booking('0a130000-0000-4000-8000-0000000005a2', '0a130000-0000-4000-8000-00000000c001',
		date_trunc('hour', now()) + h * interval '1 hour', party) ->> 'id';
	PERFORM tests.authenticate_as('m_finance');
	PERFORM protector.record_payment(v_id, paid, 'stripe', 'pi_vault_' || h);
	PERFORM tests.clear_authentication();
	RETURN v_id;
END
$$;
CREATE TEMP TABLE c (h int, id uuid, j jsonb);
GRANT ALL ON c TO authenticated;
INSERT INTO c (h, id) SELECT h, pg_temp.vault(h, party, paid) FROM (VALUES (31, 4, 120), (11, 2, 35), (76, 1, 45)) v(h, party, paid);
SELECT tests.authenticate_as('m_operator');
UPDATE c SET j = protector.cancel_booking(id, 'plans changed');
SELECT results_eq($$SELECT (j ->> 'total_price')::numeric, (j ->> 'cancellation_fee')::numeric, (j ->> 'refund_amount')::numeric
					FROM c ORDER BY h DESC$$,
	$$VALUES (45.00, 0.00, 45.00), (120.00, 60.00, 60.00), (70.00, 70.00, 0.00)$$,
	'cancelled 75-76 hours ahead: no tier, fee 0, 45 paid back; 30-31 hours ahead: the 48-hour tier, '
	'fee 50% x 120 = 60, 120 - 60 = 60 back; 10-11 hours ahead: the 24-hour tier, fee 100% x 70 = 70, '
	'of the 35 paid nothing back');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT p.amount, p.status::text, p.details ->> 'reason' FROM protector.payments p JOIN c ON (c.j ->> 'id')::uuid = p.booking_id
					WHERE p.kind = 'refund' ORDER BY c.h DESC$$,
	$$VALUES (45.00, 'pending', 'cancelled'), (60.00, 'pending', 'cancelled')$$,
	'the refunds are pending rows of the ledger (none for the booking that keeps its whole fee)');
SELECT results_eq($$SELECT b.amount_paid FROM protector.bookings b JOIN c ON (c.j ->> 'id')::uuid = b.id ORDER BY c.h DESC$$,
	$$VALUES (45.00), (120.00), (35.00)$$, 'a pending refund is not paid back yet: 45, 120, 35 still paid');
UPDATE protector.payments SET status = 'succeeded' WHERE kind = 'refund';
SELECT results_eq($$SELECT b.amount_paid FROM protector.bookings b JOIN c ON (c.j ->> 'id')::uuid = b.id ORDER BY c.h DESC$$,
	$$VALUES (0.00), (60.00), (35.00)$$, 'the refunds succeed: each keeps its fee, 45 - 45 = 0, 120 - 60 = 60, 35 - 0 = 35');
SELECT tests.authenticate_as('m_operator');
SELECT is((SELECT protector.cancel_booking((j ->> 'id')::uuid) ->> 'refund_amount' FROM c WHERE h = 31), '0.00',
	'cancelling again refunds nothing more');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.payments p JOIN c ON (c.j ->> 'id')::uuid = p.booking_id WHERE p.kind = 'refund'), 2,
	'... and adds no refund row');

CREATE TEMP TABLE n AS SELECT pg_temp.vault(50, 4, 120) AS id;
GRANT SELECT ON n TO authenticated;
-- a no-show is recorded once the booking has started
UPDATE protector.bookings SET during = tstzrange(now() - interval '1 hour', now()) WHERE id = (SELECT id FROM n);
SELECT tests.authenticate_as('m_operator');
SELECT lives_ok($$SELECT protector.update_booking_status_batch(ARRAY[(SELECT id FROM n)], 'no_show')$$, 'a no-show is recorded');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT p.amount, p.details ->> 'reason' FROM protector.payments p WHERE p.booking_id = (SELECT id FROM n) AND p.kind = 'refund'$$,
	$$VALUES (96.00, 'no_show')$$, 'a no-show keeps 20% x 120 = 24 and refunds 120 - 24 = 96');
SELECT is((SELECT details #> '{refund,fee}' FROM protector.bookings WHERE id = (SELECT id FROM n)), '24.00'::jsonb,
	'the fee is noted on the booking');

-- without a no-show fee set, a no-show keeps everything
SELECT tests.clear_authentication();
UPDATE protector.services SET settings = settings - 'no_show_fee_percent' WHERE id = '0a130000-0000-4000-8000-0000000005a2';
UPDATE n SET id = pg_temp.vault(55, 1, 45);
UPDATE protector.bookings SET during = tstzrange(now() - interval '2 hours', now() - interval '1 hour') WHERE id = (SELECT id FROM n);
SELECT tests.authenticate_as('m_operator');
SELECT lives_ok($$SELECT protector.update_booking_status_batch(ARRAY[(SELECT id FROM n)], 'no_show')$$, 'another no-show');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.payments WHERE booking_id = (SELECT id FROM n) AND kind = 'refund'), 0,
	'with no no_show_fee_percent a no-show refunds nothing');
SELECT is((SELECT amount_paid FROM protector.bookings WHERE id = (SELECT id FROM n)), 45.00, 'and keeps the 45 paid');

-- cancelled after it started: what a no-show costs, when that is more
-- than the smallest tier (a customer who did not come cancelled
-- afterwards for the 50% tier's fee where a no-show keeps 80%)
UPDATE protector.services SET settings = settings || '{"cancellation_fees": [{"within_hours": 48, "fee_percent": 50}],
	"no_show_fee_percent": 80}' WHERE id = '0a130000-0000-4000-8000-0000000005a2';
UPDATE n SET id = pg_temp.vault(56, 4, 120);
UPDATE protector.bookings SET during = tstzrange(now() - interval '2 hours', now() - interval '1 hour') WHERE id = (SELECT id FROM n);
SELECT tests.authenticate_as('m_operator');
SELECT results_eq($$SELECT (j ->> 'cancellation_fee')::numeric, (j ->> 'refund_amount')::numeric
					FROM (SELECT protector.cancel_booking(id, 'did not come') AS j FROM n) x$$,
	$$VALUES (96.00, 24.00)$$, 'cancelled an hour after its end: the no-show fee 80% x 120 = 96, 120 - 96 = 24 back (the 48-hour tier gave 60 back)');
SELECT tests.clear_authentication();
-- one under way, whose guests came, keeps its tier: 50% x 120 = 60 back
UPDATE n SET id = pg_temp.vault(57, 4, 120);
UPDATE protector.bookings SET during = tstzrange(now() - interval '10 minutes', now() + interval '50 minutes'), status = 'in_progress'
WHERE id = (SELECT id FROM n);
SELECT tests.authenticate_as('m_operator');
SELECT results_eq($$SELECT (j ->> 'cancellation_fee')::numeric, (j ->> 'refund_amount')::numeric
					FROM (SELECT protector.cancel_booking(id, 'power cut') AS j FROM n) x$$,
	$$VALUES (60.00, 60.00)$$, 'a booking under way cancelled (the venue''s power cut): the tier''s 50% x 120 = 60, 60 back, not the no-show fee');
SELECT tests.clear_authentication();

-- settings written before they were checked (0.1.0 data, sql/62_settings.sql):
-- what is not a number is ignored, never a crash (a fee list without a
-- readable tier is none: the refund policy applies, not free cancellation)
SELECT tests.clear_authentication();
ALTER TABLE protector.services DISABLE TRIGGER check_settings, DISABLE TRIGGER check_service_row;
UPDATE protector.services SET settings = settings || '{"cancellation_fees": [{"within_hours": "soon", "fee_percent": 50}, 7]}'
WHERE id = '0a130000-0000-4000-8000-0000000005a2';
ALTER TABLE protector.services ENABLE TRIGGER check_settings, ENABLE TRIGGER check_service_row;
UPDATE n SET id = pg_temp.vault(12, 1, 45);
SELECT tests.authenticate_as('m_operator');
SELECT is((SELECT protector.cancel_booking(id) ->> 'refund_amount' FROM n), '0.00',
	'malformed tiers are no fee rule: the refund policy''s defaults keep the 45 paid 11 to 12 hours ahead (full refunds end 24 hours before; late_refund_percent 0)');

-- deposits: 25% of 20 + 25 x 4 = 120 is 30.00, due within 2 hours
SELECT tests.clear_authentication();
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, settings) VALUES
	('0a130000-0000-4000-8000-0000000005a3', '0a130000-0000-4000-8000-000000000000', '0a130000-0000-4000-8000-0000000000a1',
	 'Deposit room', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25, '{"deposit": {"percent": 25, "deadline_hours": 2}}');
CREATE TEMP TABLE d (label text, id uuid);
GRANT ALL ON d TO authenticated, service_role;
SELECT tests.authenticate_as('m_operator');
INSERT INTO d SELECT 'percent', (protector.create_booking('0a130000-0000-4000-8000-0000000005a3',
	'0a130000-0000-4000-8000-00000000c001', pg_temp.t(13), 4) ->> 'id')::uuid;
SELECT results_eq($$SELECT status::text, deposit_amount, tests.taken_in_transaction(payment_due_by - interval '2 hours') FROM protector.bookings
					WHERE id = (SELECT id FROM d WHERE label = 'percent')$$,
	$$VALUES ('pending', 30.00, true)$$,
	'a booking of a service with a 25% deposit: pending, 25% x 120 = 30 due within 2 hours');
SELECT tests.authenticate_as('m_finance');
SELECT is(protector.record_payment((SELECT id FROM d WHERE label = 'percent'), 20, 'stripe', 'pi_dep_1') ->> 'booking_status', 'pending',
	'20 of the 30 paid: still pending');
SELECT is((SELECT payment_due_by IS NOT NULL FROM protector.bookings WHERE id = (SELECT id FROM d WHERE label = 'percent')), true,
	'... and still due');
SELECT results_eq($$SELECT r ->> 'booking_status', (r ->> 'balance_due')::numeric
					FROM protector.record_payment((SELECT id FROM d WHERE label = 'percent'), 10, 'stripe', 'pi_dep_2') r$$,
	$$VALUES ('confirmed', 90.00)$$, '10 more: 20 + 10 = 30 = the deposit, confirmed, 120 - 30 = 90 left to pay');
SELECT is((SELECT payment_due_by FROM protector.bookings WHERE id = (SELECT id FROM d WHERE label = 'percent')), NULL,
	'nothing is due by a deadline any more');

-- a fixed deposit is at most the total: min(50, 20 + 25 x 1 = 45) = 45;
-- the deadline is never after the start
SELECT tests.clear_authentication();
UPDATE protector.services SET settings = '{"deposit": {"amount": 50, "deadline_hours": 24}}'
WHERE id = '0a130000-0000-4000-8000-0000000005a3';
SELECT tests.authenticate_as('m_operator');
INSERT INTO d SELECT 'fixed', (protector.create_booking('0a130000-0000-4000-8000-0000000005a3',
	'0a130000-0000-4000-8000-00000000c001', date_trunc('hour', now()) + interval '5 hours', 1) ->> 'id')::uuid;
SELECT results_eq($$SELECT deposit_amount, payment_due_by = date_trunc('hour', now()) + interval '5 hours'
					FROM protector.bookings WHERE id = (SELECT id FROM d WHERE label = 'fixed')$$,
	$$VALUES (45.00, true)$$, 'a fixed deposit of 50 on a total of 45 is 45, due by the start (5 hours) rather than in 24');

-- a hold confirmed (by an operator: bookings.confirm) before its deposit
-- is paid waits for it
INSERT INTO d SELECT 'held', (protector.hold_slot('0a130000-0000-4000-8000-0000000005a3',
	'0a130000-0000-4000-8000-00000000c001', pg_temp.t(15), 2) ->> 'id')::uuid;
SELECT results_eq($$SELECT j ->> 'status', (j ->> 'deposit_amount')::numeric
					FROM protector.confirm_booking((SELECT id FROM d WHERE label = 'held')) j$$,
	$$VALUES ('pending', 50.00)$$,
	'an operator confirming a hold whose deposit (min(50, 20 + 25 x 2 = 70) = 50) is unpaid leaves it pending');

-- nobody writes the deposit or its deadline
SELECT tests.authenticate_as('m_owner');
SELECT throws_ok($$UPDATE protector.bookings SET deposit_amount = 0 WHERE id = (SELECT id FROM d WHERE label = 'fixed')$$,
	'42501', NULL, 'not even an owner waives a deposit by hand');

-- the sweep: overdue and unpaid -> cancelled; paid or not yet due -> kept
SELECT tests.clear_authentication();
UPDATE protector.bookings SET payment_due_by = now() - interval '1 minute' WHERE id = (SELECT id FROM d WHERE label = 'fixed');
SELECT is(protector.expire_holds(100), 1, 'expire_holds cancels the one booking whose deposit is overdue');
SELECT results_eq($$SELECT d.label, b.status::text, b.cancellation_reason FROM d JOIN protector.bookings b ON b.id = d.id ORDER BY d.label$$,
	$$VALUES ('fixed', 'cancelled', 'deposit not paid'), ('held', 'pending', NULL), ('percent', 'confirmed', NULL)$$,
	'the overdue one is cancelled ("deposit not paid"), the paid and the not yet due ones are kept');
SELECT is(protector.expire_holds(100), 0, 'a second sweep finds nothing');
-- the pending one confirmed by hand (a deposit taken at the desk, not
-- recorded yet): its deadline goes, which no sweep acts on once it is
-- confirmed, and it still owes its deposit (a review: the deadline stayed,
-- and the booking said the deposit was due by then)
SELECT tests.authenticate_as('m_operator');
SELECT is(protector.confirm_booking((SELECT id FROM d WHERE label = 'held')) ->> 'status', 'confirmed',
	'the operator confirms the pending booking by hand');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT status::text, deposit_amount, amount_paid, payment_due_by FROM protector.bookings
					WHERE id = (SELECT id FROM d WHERE label = 'held')$$,
	$$VALUES ('confirmed', 50.00, 0.00, NULL::timestamptz)$$,
	'... it owes its deposit of 50.00 with nothing paid, and has no deadline');
-- the booking the sweep cancelled, brought back by a trusted caller, is
-- judged as it comes back (a review: it kept the passed deadline, and the
-- next sweep cancelled it again): confirmed, no deadline; pending and
-- unpaid, a new one from now, at the latest its start (5 hours away, the
-- service's 24 hours later)
UPDATE protector.bookings SET status = 'confirmed' WHERE id = (SELECT id FROM d WHERE label = 'fixed');
SELECT is((SELECT payment_due_by FROM protector.bookings WHERE id = (SELECT id FROM d WHERE label = 'fixed')), NULL,
	'a booking cancelled for its deposit, brought back confirmed, has no deadline');
UPDATE protector.bookings SET status = 'cancelled', payment_due_by = now() - interval '1 minute'
WHERE id = (SELECT id FROM d WHERE label = 'fixed');
-- (as service_role, who may: the trigger asked deposit_due_by as the
-- caller, whom it is not granted to, 42501; a money model test)
SELECT tests.authenticate_as_service_role();
UPDATE protector.bookings SET status = 'pending' WHERE id = (SELECT id FROM d WHERE label = 'fixed');
SELECT tests.clear_authentication();
SELECT is((SELECT payment_due_by FROM protector.bookings WHERE id = (SELECT id FROM d WHERE label = 'fixed')),
	date_trunc('hour', now()) + interval '5 hours', '... brought back pending, its deposit is due by its start again');
SELECT is(protector.expire_holds(100), 0, '... and the next sweep leaves it');
-- ... brought back held, the same: it kept none, and was confirmed unpaid
-- (wait_for_deposit asks for a deadline; a review)
UPDATE protector.bookings SET status = 'cancelled' WHERE id = (SELECT id FROM d WHERE label = 'fixed');
SELECT tests.authenticate_as_service_role();
UPDATE protector.bookings SET status = 'held', hold_expires_at = now() + interval '30 minutes'
WHERE id = (SELECT id FROM d WHERE label = 'fixed');
SELECT tests.clear_authentication();
SELECT is((SELECT payment_due_by FROM protector.bookings WHERE id = (SELECT id FROM d WHERE label = 'fixed')),
	date_trunc('hour', now()) + interval '5 hours', '... brought back held, its deposit is due by its start');
SELECT tests.authenticate_as('m_operator');
SELECT is(protector.confirm_booking((SELECT id FROM d WHERE label = 'fixed')) ->> 'status', 'pending',
	'... and confirmed, it waits for the deposit');
SELECT tests.clear_authentication();
-- ... also one that had no deadline when cancelled (its deposit paid, then
-- refunded): held again, it gets one (a review)
UPDATE protector.bookings SET status = 'cancelled', payment_due_by = NULL WHERE id = (SELECT id FROM d WHERE label = 'fixed');
UPDATE protector.bookings SET status = 'held', hold_expires_at = now() + interval '30 minutes'
WHERE id = (SELECT id FROM d WHERE label = 'fixed');
SELECT tests.authenticate_as('m_operator');
SELECT is(protector.confirm_booking((SELECT id FROM d WHERE label = 'fixed')) ->> 'status', 'pending',
	'a hold brought back from a cancellation without a deadline gets one, and waits for the deposit');
SELECT tests.clear_authentication();

-- a new booking's preparation (prepare_booking, src/booking_insert.c):
-- the service's currency when none is given, and no deposit where the
-- service asks for none, stored as the column stores money (0.00)
SELECT tests.clear_authentication();
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during) VALUES
	('0a130000-0000-4000-8000-0000000b0001', '0a130000-0000-4000-8000-000000000000', '0a130000-0000-4000-8000-0000000000a1',
	 '0a130000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(40), pg_temp.t(41)));
SELECT results_eq($$SELECT currency, deposit_amount::text, payment_due_by FROM protector.bookings
					WHERE id = '0a130000-0000-4000-8000-0000000b0001'$$,
	$$VALUES ('EUR', '0.00', NULL::timestamptz)$$,
	'no currency given: the service''s (EUR, the organization''s); no deposit asked: 0.00 due, by no date');
-- a service without a deposit sets what the caller wrote: none due, by no
-- date (and a row already saying so is kept as it is)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, deposit_amount, payment_due_by) VALUES
	('0a130000-0000-4000-8000-0000000b0004', '0a130000-0000-4000-8000-000000000000', '0a130000-0000-4000-8000-0000000000a1',
	 '0a130000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(48), pg_temp.t(49)), 7, now() + interval '1 day'),
	('0a130000-0000-4000-8000-0000000b0005', '0a130000-0000-4000-8000-000000000000', '0a130000-0000-4000-8000-0000000000a1',
	 '0a130000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(50), pg_temp.t(51)), 0, now() + interval '1 day');
SELECT results_eq($$SELECT deposit_amount::text, payment_due_by FROM protector.bookings
					WHERE id = '0a130000-0000-4000-8000-0000000b0004'$$,
	$$VALUES ('0.00', NULL::timestamptz)$$,
	'no deposit asked: a deposit of 7 and a due date written by the caller become 0.00 by no date');
SELECT results_eq($$SELECT deposit_amount::text, payment_due_by FROM protector.bookings
					WHERE id = '0a130000-0000-4000-8000-0000000b0005'$$,
	$$VALUES ('0.00', NULL::timestamptz)$$,
	'no deposit asked: a deposit of 0 with a due date loses the date');
-- an import under session_replication_role = replica gets the currency and
-- nothing else (the deposit trigger never ran for imports)
SET session_replication_role = replica;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, deposit_amount, payment_due_by) VALUES
	('0a130000-0000-4000-8000-0000000b0002', '0a130000-0000-4000-8000-000000000000', '0a130000-0000-4000-8000-0000000000a1',
	 '0a130000-0000-4000-8000-0000000005a3', tstzrange(pg_temp.t(42), pg_temp.t(43)), 'confirmed', 7, now() + interval '1 day');
RESET session_replication_role;
SELECT results_eq($$SELECT currency, status::text, deposit_amount, payment_due_by IS NOT NULL FROM protector.bookings
					WHERE id = '0a130000-0000-4000-8000-0000000b0002'$$,
	$$VALUES ('EUR', 'confirmed', 7.00, true)$$,
	'an import (replica) gets the service''s currency and keeps its own status and deposit');
-- a service that asks for a deposit still gets require_deposit's rule: the
-- room's fixed deposit (50, set above) on 20 + 25 x 2 = 70 is min(50, 70) =
-- 50, pending until paid
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, party_size, unit_price, total_price, status) VALUES
	('0a130000-0000-4000-8000-0000000b0003', '0a130000-0000-4000-8000-000000000000', '0a130000-0000-4000-8000-0000000000a1',
	 '0a130000-0000-4000-8000-0000000005a3', tstzrange(pg_temp.t(44), pg_temp.t(45)), 2, 20, 70, 'confirmed');
SELECT results_eq($$SELECT status::text, deposit_amount, payment_due_by IS NOT NULL FROM protector.bookings
					WHERE id = '0a130000-0000-4000-8000-0000000b0003'$$,
	$$VALUES ('pending', 50.00, true)$$,
	'a deposit service: min(50, 70) = 50.00 due, and the confirmed insert waits as pending');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, amount_paid) VALUES
	('0a130000-0000-4000-8000-000000000000', '0a130000-0000-4000-8000-0000000000a1',
	 '0a130000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(46), pg_temp.t(47)), -1)$$,
	'23514', NULL, 'a negative amount paid is refused by the table''s CHECK');
SELECT results_eq($$SELECT tgname::text COLLATE "default" FROM pg_trigger WHERE tgrelid = 'protector.bookings'::regclass
					AND NOT tgisinternal AND tgtype & 2 = 2 AND tgtype & 4 = 4 ORDER BY 1$$,
	$$VALUES ('prepare_booking')$$,
	'a new booking passes one BEFORE INSERT trigger: prepare_booking (which runs a restore''s ordering step itself)');

-- prepare_booking() fired on another schema's bookings reads that schema's
-- services as they are, not with the columns it found in protector's (a
-- cache of them kept across tables crashed the backend here)
CREATE SCHEMA pb_other;
CREATE TABLE pb_other.services (id uuid PRIMARY KEY, organization_id integer, currency integer, settings integer);
CREATE TABLE pb_other.bookings (LIKE protector.bookings INCLUDING DEFAULTS);
CREATE TRIGGER prepare_booking BEFORE INSERT ON pb_other.bookings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.prepare_booking();
INSERT INTO pb_other.services VALUES ('0a130000-0000-4000-8000-0000000005a1', 1, 2, 3);
SELECT throws_ok($$INSERT INTO pb_other.bookings (organization_id, venue_id, service_id, during) VALUES
	('0a130000-0000-4000-8000-000000000000', '0a130000-0000-4000-8000-0000000000a1',
	 '0a130000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(52), pg_temp.t(53)))$$,
	'42703', 'pb_other.services has no column "organization_id" of type uuid',
	'another table''s services are read by their own columns');

SELECT * FROM finish();
ROLLBACK;
