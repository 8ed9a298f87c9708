-- What a review of the widget found (the thirty-third stop): a visitor
-- booking a service that asks for a deposit, at a venue that confirms at
-- once, got a pending booking and no word of the deposit it owed, and
-- the booking was cancelled when the deadline passed; the answer now
-- names the deposit and its deadline. A taken slot was refused after the
-- guest record was looked up or made, and so more slowly for an address
-- the organization did not know. And a promo code of 33.333 percent was
-- refused as "a positive amount in cents".
BEGIN;
SELECT plan(11);
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
SELECT is(tests.taken_in_transaction(((:'answer'::jsonb) ->> 'payment_due_by')::timestamptz - interval '2 hours'), true,
	'... and its deadline, two hours after the booking');

-- a taken slot is refused before the guest record is looked up or made:
-- the refusal took longer for an address the organization did not know
-- (a customer was made, then rolled back), which told a prober which
-- addresses are its guests. A test trigger counts customer inserts in a
-- sequence, which no rollback takes back.
SELECT tests.clear_authentication();
UPDATE protector.services SET capacity = 2, max_party = 2 WHERE id = :'bar';
CREATE SEQUENCE public.guest_inserts;
GRANT USAGE ON SEQUENCE public.guest_inserts TO PUBLIC;
CREATE FUNCTION public.count_guest_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM nextval('public.guest_inserts');
	RETURN NEW;
END $$;
CREATE TRIGGER count_guest_insert BEFORE INSERT ON protector.customers FOR EACH ROW EXECUTE FUNCTION public.count_guest_insert();
CREATE FUNCTION pg_temp.customer_scans() RETURNS bigint LANGUAGE sql AS $$
	SELECT pg_stat_get_xact_numscans('protector.customers'::regclass)
		   + (SELECT sum(pg_stat_get_xact_numscans(i.indexrelid)) FROM pg_index i WHERE i.indrelid = 'protector.customers'::regclass)
$$;
SELECT pg_temp.customer_scans() AS scans_before \gset
SELECT tests.authenticate_as_anon();
SELECT throws_ok(format($$SELECT protector.create_widget_booking(%L, %L, 'Stranger', 'stranger@example.com', NULL,
													   date_trunc('hour', now()) + interval '5 days', 2)$$, :'key', :'bar'),
	'23P01', 'service "Bar" has no room for a party of 2 at the requested time',
	'a taken slot is refused with create_booking''s own error');
-- (and so is a party the service does not take, in a slot with room)
SELECT tests.clear_authentication();
UPDATE protector.services SET capacity = 10 WHERE id = :'bar';
SELECT tests.authenticate_as_anon();
SELECT throws_ok(format($$SELECT protector.create_widget_booking(%L, %L, 'Stranger', 'stranger@example.com', NULL,
													   date_trunc('hour', now()) + interval '7 days', 3)$$, :'key', :'bar'),
	'22023', NULL, 'a party above the service''s largest is refused');
SELECT tests.clear_authentication();
SELECT is((SELECT last_value FROM public.guest_inserts WHERE is_called), NULL,
	'... before any guest record is made for the unknown address');
SELECT is(pg_temp.customer_scans() - :scans_before, 0::bigint, '... or any is looked up');
SELECT tests.authenticate_as_anon();
SELECT is(protector.create_widget_booking(:'key', :'bar', 'Ana', 'ana@example.com', NULL,
										  date_trunc('hour', now()) + interval '6 days', 1) ->> 'status', 'pending',
	'a slot with room is booked as before');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.customers WHERE email = 'ana@example.com'), 1, '... for the one guest record of the address');

SELECT tests.authenticate_as('d_owner');
SELECT throws_ok(format($$SELECT protector.create_promo_code(%L, 'percent', 33.333)$$, :'org'),
	'22023', 'p_discount_value must be a positive percent with at most two decimals',
	'a percent with three decimals is refused as a percent, not as an amount in cents');

SELECT * FROM finish();
ROLLBACK;
