-- A hold moved to another service, or given another party, and confirmed
-- in the same UPDATE owes the deposit of its new total, as the same two
-- changes made one after the other do (an attack review of money:
-- set_booking_price asked the booking's new status, already confirmed,
-- whether it still owed a deposit).  Hall: 20 + 25 per person, a 25%
-- deposit; Plain: 40 + 15 per person, none.  And a currency refused names
-- what it got.
BEGIN;
SELECT plan(5);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['cr_owner', 'cr_operator']) u;
INSERT INTO protector.organizations (id, name, slug, currency)
VALUES ('0a977000-0000-4000-8000-000000000000', 'Repriced', 'confirmed-while-repriced', 'EUR');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a977000-0000-4000-8000-000000000000', tests.get_supabase_uid('cr_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'operator']) r;
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a977000-0000-4000-8000-0000000000a1', '0a977000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, mode, settings) VALUES
	('0a977000-0000-4000-8000-0000000005a1', '0a977000-0000-4000-8000-000000000000', '0a977000-0000-4000-8000-0000000000a1',
	 'Hall', '60 minutes', '60 minutes', '400 days', 100, 10, 20, 25, 'shared', '{"deposit": {"percent": 25}}'),
	('0a977000-0000-4000-8000-0000000005a2', '0a977000-0000-4000-8000-000000000000', '0a977000-0000-4000-8000-0000000000a1',
	 'Plain', '60 minutes', '60 minutes', '400 days', 100, 10, 40, 15, 'shared', '{}');
-- hour h, five days ahead
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '5 days' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int) TO authenticated;

SELECT tests.authenticate_as('cr_owner');
-- a: a hold of 2 on Plain (40 + 15 x 2 = 70, no deposit)
SELECT (protector.hold_slot('0a977000-0000-4000-8000-0000000005a2', NULL, pg_temp.t(10), 2, p_hold_minutes => 30) ->> 'id') AS a \gset
-- b: a hold of 1 on Hall (20 + 25 = 45, deposit 11.25), its deposit paid
SELECT (protector.hold_slot('0a977000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(11), 1, p_hold_minutes => 30) ->> 'id') AS b \gset
SELECT protector.record_payment(:'b', 11.25) IS NOT NULL AS paid \g /dev/null
-- c: a hold of 2 on Hall (20 + 25 x 2 = 70, deposit 17.50, a deadline)
SELECT (protector.hold_slot('0a977000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12), 2, p_hold_minutes => 30) ->> 'id') AS c \gset
-- d: a hold of 2 on Plain (70, no deposit), to be moved to Hall and made pending
SELECT (protector.hold_slot('0a977000-0000-4000-8000-0000000005a2', NULL, pg_temp.t(13), 2, p_hold_minutes => 30) ->> 'id') AS d \gset

-- (the operator moves and confirms; a party's size is the owner's to change)
SELECT tests.authenticate_as('cr_operator');
UPDATE protector.bookings SET service_id = '0a977000-0000-4000-8000-0000000005a1', status = 'confirmed' WHERE id = :'a';
UPDATE protector.bookings SET service_id = '0a977000-0000-4000-8000-0000000005a2', status = 'confirmed' WHERE id = :'c';
SELECT tests.authenticate_as('cr_owner');
UPDATE protector.bookings SET party_size = 8, status = 'confirmed' WHERE id = :'b';
UPDATE protector.bookings SET service_id = '0a977000-0000-4000-8000-0000000005a1', status = 'pending' WHERE id = :'d';
SELECT protector.record_payment(:'d', 17.50) IS NOT NULL AS paid \g /dev/null
SELECT tests.clear_authentication();

SELECT results_eq(format($$SELECT status::text, total_price, deposit_amount, payment_due_by IS NOT NULL FROM protector.bookings WHERE id = %L$$, :'a'),
	$$VALUES ('pending', 70.00::numeric, 17.50::numeric, true)$$,
	'a hold moved to a service asking a deposit and confirmed at once waits for 25% of 20 + 25 x 2 = 70: 17.50 (it was confirmed owing none)');
SELECT results_eq(format($$SELECT status::text, total_price, deposit_amount, amount_paid FROM protector.bookings WHERE id = %L$$, :'b'),
	$$VALUES ('pending', 220.00::numeric, 55.00::numeric, 11.25::numeric)$$,
	'a hold made a party of 8 and confirmed at once owes 25% of 20 + 25 x 8 = 220: 55.00, not the 11.25 paid');
SELECT results_eq(format($$SELECT status::text, total_price, deposit_amount, payment_due_by IS NULL FROM protector.bookings WHERE id = %L$$, :'c'),
	$$VALUES ('confirmed', 70.00::numeric, 0.00::numeric, true)$$,
	'a hold moved to a service asking none and confirmed at once is confirmed, owing no deposit (it waited on the old one''s 17.50)');
SELECT results_eq(format($$SELECT status::text, deposit_amount, amount_paid FROM protector.bookings WHERE id = %L$$, :'d'),
	$$VALUES ('confirmed', 17.50::numeric, 17.50::numeric)$$,
	'a hold moved to Hall and made pending at once gets a deadline, and its 17.50 paid confirms it (it stayed pending)');

-- (and a currency refused says what it got: money's review)
SELECT tests.authenticate_as('cr_owner');
SELECT is(tests.error_text(format($$SELECT protector.record_payment(%L, 10, p_currency => 'eur')$$, :'a')),
	'22023 | p_currency must be an ISO 4217 code | Got "eur". | Use three upper-case letters, e.g. "EUR".',
	'a payment''s currency in lower case is refused, naming it');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
