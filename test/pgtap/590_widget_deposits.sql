-- What a review of the widget found (the thirty-third stop): a visitor
-- booking a service that asks for a deposit, at a venue that confirms at
-- once, got a pending booking and no word of the deposit it owed, and
-- the booking was cancelled when the deadline passed; the answer now
-- names the deposit and its deadline. And a promo code of 33.333 percent
-- was refused as "a positive amount in cents".
BEGIN;
SELECT plan(5);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user('d_owner') IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('d_owner');
SELECT protector.create_organization('Deposits', 'widget-deposits', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Bar', 'UTC') ->> 'id' AS venue \gset
-- a shared Bar, 10 + 5 per person, a 25% deposit due 2 hours after booking
SELECT protector.create_service(:'venue', 'Bar', '1 hour', p_slot_interval => '1 hour', p_mode => 'shared', p_capacity => 10,
								p_price => 10, p_price_per_person => 5) ->> 'id' AS bar \gset
SELECT protector.update_service(:'bar', '{"settings": {"deposit": {"percent": 25, "deadline_hours": 2}}}') IS NOT NULL \g /dev/null
SELECT protector.update_venue(:'venue', '{"widget_settings": {"auto_confirm": true}}') IS NOT NULL \g /dev/null
SELECT embed_key AS key FROM protector.venues WHERE id = :'venue' \gset
SELECT tests.authenticate_as_anon();

-- a party of 2: 10 + 5 x 2 = 20; the deposit 25% of 20 = 5.00, due now + 2 hours
SELECT protector.create_widget_booking(:'key', :'bar', 'Ana', 'ana@example.com', NULL,
									   date_trunc('hour', now()) + interval '5 days', 2) AS answer \gset
SELECT is((:'answer'::jsonb) ->> 'status', 'pending', 'a deposit service, auto-confirmed: the booking is pending');
SELECT is((:'answer'::jsonb) ->> 'total_price', '20.00', 'the total: 10 + 5 x 2 = 20');
SELECT is((:'answer'::jsonb) ->> 'deposit_amount', '5.00', 'the answer names the deposit: 25% of 20 = 5.00');
SELECT is(((:'answer'::jsonb) ->> 'payment_due_by')::timestamptz, now() + interval '2 hours',
	'... and its deadline, two hours after the booking');

SELECT tests.authenticate_as('d_owner');
SELECT throws_ok(format($$SELECT protector.create_promo_code(%L, 'percent', 33.333)$$, :'org'),
	'22023', 'p_discount_value must be a positive percent with at most two decimals',
	'a percent with three decimals is refused as a percent, not as an amount in cents');

SELECT * FROM finish();
ROLLBACK;
