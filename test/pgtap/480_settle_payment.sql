-- A pending payment or refund that has no provider reference to be
-- settled by: the refund a cancellation leaves pending, a payment recorded
-- pending without one.  Finance (payments.create) settles it once with
-- settle_payment; before, only owners and admins could (a direct UPDATE,
-- payments.manage), and finance's refund of the same money was refused as
-- a second refund.  Figures worked out beside them.
BEGIN;
SELECT plan(25);

SELECT tests.create_supabase_user(u) IS NOT NULL FROM unnest(ARRAY['s_owner', 's_finance', 's_manager', 's_operator']) u \g /dev/null
INSERT INTO protector.organizations (id, name, slug, currency) VALUES
	('0a480000-0000-4000-8000-000000000000', 'S', 'settle-payment', 'EUR');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a480000-0000-4000-8000-000000000000', tests.get_supabase_uid('s_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'finance', 'manager', 'operator']) r;
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a480000-0000-4000-8000-0000000000a1', '0a480000-0000-4000-8000-000000000000', 'V', 'UTC');
-- a room of 100 whose cancellation within 30 days costs 10%
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, price, settings) VALUES
	('0a480000-0000-4000-8000-0000000005a1', '0a480000-0000-4000-8000-000000000000', '0a480000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days', 100, '{"cancellation_fees": [{"within_hours": 720, "fee_percent": 10}]}');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, total_price) VALUES
	('0a480000-0000-4000-8000-00000000b001', '0a480000-0000-4000-8000-000000000000', '0a480000-0000-4000-8000-0000000000a1',
	 '0a480000-0000-4000-8000-0000000005a1',
	 tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'),
	 'confirmed', 100),
	('0a480000-0000-4000-8000-00000000b002', '0a480000-0000-4000-8000-000000000000', '0a480000-0000-4000-8000-0000000000a1',
	 '0a480000-0000-4000-8000-0000000005a1',
	 tstzrange(date_trunc('day', now()) + interval '3 days 12 hours', date_trunc('day', now()) + interval '3 days 13 hours'),
	 'confirmed', 100);
CREATE TEMP TABLE r (name text PRIMARY KEY, j jsonb);
GRANT SELECT, INSERT ON r TO authenticated;

-- paid 100, cancelled: the fee is 10% of 100 = 10, so 100 - 10 = 90 comes
-- back as a pending refund
SELECT tests.authenticate_as('s_finance');
SELECT protector.record_payment('0a480000-0000-4000-8000-00000000b001', 100, 'stripe', 'pi_1') IS NOT NULL AS paid \gset
SELECT tests.authenticate_as('s_owner');
SELECT protector.cancel_booking('0a480000-0000-4000-8000-00000000b001') IS NOT NULL AS cancelled \gset
SELECT tests.clear_authentication();
SELECT id AS refund FROM protector.payments
WHERE booking_id = '0a480000-0000-4000-8000-00000000b001' AND kind = 'refund' \gset
SELECT results_eq(format($$SELECT amount, status::text, provider FROM protector.payments WHERE id = %L$$, :'refund'),
	$$VALUES (90.00, 'pending', NULL::text)$$, 'the cancellation left a refund of 100 - 10% x 100 = 90 pending, with no provider');

SELECT tests.authenticate_as('s_finance');
SELECT is(regexp_replace(tests.error_text($$SELECT protector.record_payment('0a480000-0000-4000-8000-00000000b001', 90, 'stripe', 're_1', p_kind => 'refund')$$),
				 'Refund [0-9a-f-]{36} ', 'Refund <id> '),
	'22023 | the cancellation''s refund is pending | Refund <id> of 90.00 EUR waits to be paid out; with this change the booking would keep 0 of the 10.00 EUR its cancellation kept. | '
	'Record its outcome with settle_payment(); a further refund once it is settled.',
	'the same 90 recorded as a new refund counts twice: refused, with the way to settle it');
SELECT throws_ok(format($$SELECT protector.settle_payment(%L, 'pending')$$, :'refund'),
	'22023', 'p_status must be succeeded or failed', 'a settlement is succeeded or failed');
SELECT throws_ok(format($$SELECT protector.settle_payment(%L, 'succeeded', NULL, 're_1')$$, :'refund'),
	'22023', 'p_provider_reference needs p_provider: whose reference it is', 'a reference needs its provider, as record_payment says');
INSERT INTO r SELECT 'settled', protector.settle_payment(:'refund', 'succeeded', 'stripe', 're_1');
SELECT results_eq($$SELECT j ->> 'status', j ->> 'provider_reference', j ->> 'replayed', j ->> 'amount_paid', j ->> 'balance_due'
					FROM r WHERE name = 'settled'$$,
	$$VALUES ('succeeded', 're_1', 'false', '10.00', '90.00')$$,
	'finance settles it: paid 100 - refunded 90 = 10, and the balance 100 - 10 = 90');
INSERT INTO r SELECT 'again', protector.settle_payment(:'refund');
SELECT results_eq($$SELECT j ->> 'status', j ->> 'replayed', j ->> 'amount_paid' FROM r WHERE name = 'again'$$,
	$$VALUES ('succeeded', 'true', '10.00')$$, 'the same settlement again answers with it, nothing counted twice');
SELECT results_eq($$SELECT (protector.record_payment('0a480000-0000-4000-8000-00000000b001', 90, 'stripe', 're_1', p_kind => 'refund')) ->> 'replayed'$$,
	$$VALUES ('true')$$, 'the provider''s webhook of that refund, later, replays it');
SELECT throws_ok(format($$SELECT protector.settle_payment(%L, 'failed')$$, :'refund'),
	'23P01', 'this payment was recorded as succeeded', 'a settled payment does not change its outcome');
SELECT throws_ok(format($$SELECT protector.settle_payment(%L, 'succeeded', 'paypal')$$, :'refund'),
	'23P01', 'this payment has another provider reference', 'nor its provider');
SELECT is(tests.error_text($$SELECT protector.record_payment('0a480000-0000-4000-8000-00000000b002', 5, p_kind => 'refund')$$),
	'22023 | a refund cannot exceed what was paid | Paid 0 EUR; refunded or to be refunded 0; this refund 5.00.', 'a refund of what was never paid has no pending refund to point to');

-- a payment recorded pending without a reference (a bank transfer on its
-- way): settled with the provider's reference, which a webhook then finds
SELECT (protector.record_payment('0a480000-0000-4000-8000-00000000b002', 40, p_status => 'pending')) ->> 'id' AS transfer \gset
SELECT throws_ok(format($$SELECT protector.settle_payment(%L, 'succeeded', 'stripe', 'pi_1')$$, :'transfer'),
	'23P01', 'this provider reference was recorded for another payment', 'a reference another payment holds is refused');
INSERT INTO r SELECT 'transfer', protector.settle_payment(:'transfer', 'succeeded', 'bank', 'tr-7');
SELECT results_eq($$SELECT j ->> 'provider', j ->> 'provider_reference', j ->> 'amount_paid', j ->> 'balance_due', j ->> 'booking_status'
					FROM r WHERE name = 'transfer'$$,
	$$VALUES ('bank', 'tr-7', '40.00', '60.00', 'confirmed')$$, 'the transfer arrives: paid 40 of 100, 60 due');
SELECT results_eq($$SELECT (protector.record_payment('0a480000-0000-4000-8000-00000000b002', 40, 'bank', 'tr-7')) ->> 'replayed'$$,
	$$VALUES ('true')$$, 'the bank''s notice of it, later, replays it');
SELECT (protector.record_payment('0a480000-0000-4000-8000-00000000b002', 20, 'stripe', 'pi_card', p_status => 'pending')) ->> 'id' AS card \gset
SELECT throws_ok(format($$SELECT protector.settle_payment(%L, 'failed')$$, :'card'),
	'23P01', 'this payment is settled by its provider''s webhook', 'a card payment the provider will settle is not the desk''s to settle');
SELECT (protector.record_payment('0a480000-0000-4000-8000-00000000b002', 20, 'bank', p_status => 'pending')) ->> 'id' AS wire \gset
SELECT results_eq(format($$SELECT r ->> 'provider', r ->> 'provider_reference'
						   FROM protector.settle_payment(%L, 'failed', p_provider_reference => 'tr-8') r$$, :'wire'),
	$$VALUES ('bank', 'tr-8')$$, 'a reference given alone is of the payment''s own provider');
-- (0.1.0 took a reference without a provider, a transfer noted as such:
-- no webhook names it and record_payment takes no such reference, so it
-- was nobody's to settle; an attack on legacy rows)
-- legacy(id, reference): such a pending payment of 10 on the booking
-- b002, written as 0.1.0 took it (as the superuser, without protector's
-- triggers)
CREATE FUNCTION pg_temp.legacy(p_id uuid, p_reference text) RETURNS void LANGUAGE sql AS $f$
	SELECT set_config('session_replication_role', 'replica', true);
	INSERT INTO protector.payments (id, organization_id, booking_id, amount, currency, status, provider_reference)
	SELECT p_id, b.organization_id, b.id, 10, b.currency, 'pending', p_reference
	FROM protector.bookings b WHERE b.id = '0a480000-0000-4000-8000-00000000b002';
	SELECT set_config('session_replication_role', 'origin', true);
$f$;
SELECT tests.clear_authentication();
SELECT pg_temp.legacy('0a480000-0000-4000-8000-0000000f0018', 'transfer-18') \g /dev/null
SELECT tests.authenticate_as('s_finance');
SELECT throws_ok($$SELECT protector.settle_payment('0a480000-0000-4000-8000-0000000f0018', 'failed')$$,
	'22023', 'p_provider is required for a payment with a reference and no provider',
	'a 0.1.0 pending payment with a reference and no provider is settled with its provider named ...');
SELECT is((SELECT format('%s %s %s', r ->> 'status', r ->> 'provider', r ->> 'provider_reference')
		   FROM protector.settle_payment('0a480000-0000-4000-8000-0000000f0018', 'failed', 'bank') r),
	'failed bank transfer-18', '... which it records with the outcome');
-- (its review: settled without a provider, the same money recorded by the
-- provider's webhook counted twice; named, the webhook's record meets it)
SELECT tests.clear_authentication();
SELECT pg_temp.legacy('0a480000-0000-4000-8000-0000000f0019', 'pi_legacy') \g /dev/null
SELECT tests.authenticate_as('s_finance');
SELECT protector.record_payment('0a480000-0000-4000-8000-00000000b002', 10, 'stripe', 'pi_legacy', p_status => 'failed')
	IS NOT NULL AS webhook \gset
SELECT throws_ok($$SELECT protector.settle_payment('0a480000-0000-4000-8000-0000000f0019', 'succeeded', 'stripe')$$,
	'23P01', 'this provider reference was recorded for another payment',
	'... and where the provider''s webhook recorded that money already, settling it again is refused');
SELECT is(tests.error_text($$SELECT protector.settle_payment('0a480000-0000-4000-8000-0000000f0019', 'succeeded', ' Stripe')$$),
	'22023 | p_provider is spelled otherwise by the organization''s payments | They name it ''stripe''; p_provider is '' Stripe''. | '
	'Spell the provider as its webhook does: record_payment matches it exactly.',
	'... nor is it settled under another spelling of a provider the organization''s payments name (the webhook''s would not match it)');
SELECT (protector.record_payment('0a480000-0000-4000-8000-00000000b002', 5, 'cash')) ->> 'id' AS cash \gset
SELECT throws_ok(format($$SELECT protector.settle_payment(%L, 'succeeded', 'cash', 'r-1')$$, :'cash'),
	'23P01', 'this payment has another provider reference',
	'a settled payment keeps what it has: a reference added later is refused as such, not as a change of outcome');
SELECT tests.clear_authentication();

-- who settles: as who records payments (payments.create)
SELECT tests.authenticate_as('s_finance');
SELECT (protector.record_payment('0a480000-0000-4000-8000-00000000b002', 10, p_status => 'pending')) ->> 'id' AS small \gset
SELECT tests.authenticate_as('s_manager');
SELECT throws_ok(format($$SELECT protector.settle_payment(%L)$$, :'small'), '42501', NULL,
	'a manager, who sees payments, may not settle one');
SELECT tests.authenticate_as('s_operator');
SELECT throws_ok(format($$SELECT protector.settle_payment(%L)$$, :'small'), 'P0002', 'payment not found',
	'an operator, who does not see payments, is told it is not found');
SELECT throws_ok($$SELECT protector.settle_payment('0a480000-0000-4000-8000-0000000000ff')$$, 'P0002', 'payment not found',
	'nor is a payment that does not exist');
SELECT tests.authenticate_as('s_owner');
SELECT results_eq(format($$SELECT (protector.settle_payment(%L, 'failed')) ->> 'amount_paid'$$, :'small'),
	$$VALUES ('45.00')$$, 'an owner settles one as failed: nothing more paid (40 + 5 cash)');
SELECT tests.clear_authentication();

SELECT results_eq($$SELECT b.amount_paid, (SELECT sum(CASE p.kind WHEN 'payment' THEN p.amount ELSE -p.amount END)
										   FROM protector.payments p WHERE p.booking_id = b.id AND p.status = 'succeeded')
					FROM protector.bookings b WHERE b.organization_id = '0a480000-0000-4000-8000-000000000000' ORDER BY b.id$$,
	$$VALUES (10.00, 10.00), (45.00, 45.00)$$, 'amount_paid is the ledger''s sum: 100 - 90 = 10, and 40 + 5 = 45');

SELECT * FROM finish();
ROLLBACK;
