-- What a review of the catalog changing under bookings found (the
-- thirty-second stop): an organization's currency changed under its
-- bookings and payments, which then dropped out of every report; a waiver
-- services ask for was retired (their bookings could never start) or
-- deleted with a bare foreign-key error; a paid booking whose service's
-- currency changed was told it "cannot move" when only its party grew;
-- a service made shared was told "max_party must be from 1 to 6"; and a
-- promo code listing a service deleted since could not be edited.
BEGIN;
SELECT plan(37);
SET LOCAL TimeZone = 'UTC';

SELECT count(tests.create_supabase_user(u)) IS NOT NULL FROM unnest(ARRAY['k_owner', 'k_stranger']) u \g /dev/null
SELECT tests.authenticate_as('k_owner');
SELECT protector.create_organization('Catalog', 'catalog-changes', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Room', '1 hour', p_slot_interval => '1 hour', p_price => 20,
								p_price_per_person => 25, p_capacity => 6) ->> 'id' AS room \gset
SELECT protector.create_service(:'venue', 'Spare', '1 hour', p_slot_interval => '1 hour') ->> 'id' AS spare \gset
SELECT protector.create_service(:'venue', 'Third', '1 hour', p_slot_interval => '1 hour') ->> 'id' AS third \gset
SELECT protector.create_waiver(:'org', 'Climbing', 'I climb at my own risk.') ->> 'waiver_id' AS waiver \gset
SELECT protector.create_booking(:'room', NULL, date_trunc('day', now()) + interval '3 days 10 hours', 2) ->> 'id' AS booking \gset
SELECT tests.clear_authentication();
INSERT INTO protector.payments (organization_id, booking_id, amount, status) VALUES (:'org', :'booking', 70, 'succeeded');
SELECT tests.authenticate_as('k_owner');

-- 1. the organization's currency stays while money is in it
SELECT throws_ok(format($$UPDATE protector.organizations SET currency = 'USD' WHERE id = %L$$, :'org'),
	'22023', 'currency cannot change from EUR: the organization has services, bookings, payments or vouchers with a balance in it',
	'a currency change that would drop 70 EUR out of every report is refused');
-- ... and its hint says what would let it (it said to change the
-- services' currency first, which never sufficed while bookings or
-- payments are in EUR)
SELECT is((SELECT split_part(tests.error_text(format($$UPDATE protector.organizations SET currency = 'USD' WHERE id = %L$$, :'org')), ' | ', 4)),
	'Bookings and payments keep the currency they were made in: an organization that has them in EUR keeps it; another currency needs an organization of its own.',
	'... its hint: the bookings and payments keep EUR');
SELECT protector.create_organization('Fresh', 'catalog-fresh', 'UTC', 'EUR') ->> 'id' AS fresh \gset
SELECT protector.create_venue(:'fresh', 'Annex', 'UTC') ->> 'id' AS fresh_venue \gset
SELECT protector.create_service(:'fresh_venue', 'Den', '1 hour', p_slot_interval => '1 hour') ->> 'id' AS den \gset
SELECT throws_ok(format($$UPDATE protector.organizations SET currency = 'USD' WHERE id = %L$$, :'fresh'),
	'22023', 'currency cannot change from EUR: the organization has services, bookings, payments or vouchers with a balance in it',
	'nor while a service is priced in it (its bookings would drop out after the change)');
SELECT is((SELECT split_part(tests.error_text(format($$UPDATE protector.organizations SET currency = 'USD' WHERE id = %L$$, :'fresh')), ' | ', 4)),
	'Change the services'' currency first (update_service).', '... whose hint then is to move the services');
SELECT protector.update_service(:'den', '{"currency": "USD"}') IS NOT NULL \g /dev/null
-- a voucher's balance in EUR keeps it too: it paid for nothing after the
-- change, and moving the voucher kept the number (100 EUR became 100 USD)
SELECT protector.create_voucher(:'fresh', 100) ->> 'id' AS fresh_voucher \gset
SELECT is(tests.error_text(format($$UPDATE protector.organizations SET currency = 'USD' WHERE id = %L$$, :'fresh')),
	'22023 | currency cannot change from EUR: the organization has services, bookings, payments or vouchers with a balance in it | '
	'Reports, dashboards and analytics count money in the organization''s currency; what is in EUR would drop out of them, and so would the bookings of services still priced in it. | '
	'Vouchers hold money in the currency they were sold in: spend or refund their balance in EUR first (an expired one: lower its amount to what was spent).',
	'nor while a voucher holds a balance in it');
DELETE FROM protector.vouchers WHERE id = :'fresh_voucher';
SELECT lives_ok(format($$UPDATE protector.organizations SET currency = 'USD' WHERE id = %L$$, :'fresh'),
	'an organization whose services moved to USD, without bookings, payments or vouchers holding money in EUR, changes its currency');
SELECT is((SELECT currency FROM protector.organizations WHERE id = :'fresh'), 'USD', '... to USD');

-- 2. a waiver services ask for stays in use
SELECT protector.update_service(:'room', jsonb_build_object('waiver_id', :'waiver')) IS NOT NULL \g /dev/null
SELECT throws_ok(format($$UPDATE protector.waivers SET active = false WHERE id = %L$$, :'waiver'),
	'22023', 'waiver "Climbing" cannot be retired while services ask for it', 'a required waiver is not retired');
SET LOCAL protector.http_errors = on;
SELECT throws_ok(format($$UPDATE protector.waivers SET active = false WHERE id = %L$$, :'waiver'),
	'PT422', 'waiver "Climbing" cannot be retired while services ask for it', '... as an invalid parameter (422 through PostgREST)');
RESET protector.http_errors;
SELECT throws_ok(format($$DELETE FROM protector.waivers WHERE id = %L$$, :'waiver'),
	'23503', 'waiver "Climbing" cannot be deleted while services ask for it', '... nor deleted, in words');
SELECT protector.update_service(:'room', '{"waiver_id": null}') IS NOT NULL \g /dev/null
SELECT lives_ok(format($$UPDATE protector.waivers SET active = false WHERE id = %L$$, :'waiver'),
	'once no service asks for it, it is retired');
SELECT throws_ok(format($$SELECT protector.update_service(%L, jsonb_build_object('waiver_id', %L::text))$$, :'spare', :'waiver'),
	'22023', 'a service cannot ask for a retired waiver', 'and no service is pointed at it then');
-- (the thirty-sixth stop) a stranger writing a service into the
-- organization meets the insert policy, whether the waiver it names is
-- retired or made up: it was told the waiver is retired
SELECT tests.authenticate_as('k_stranger');
SELECT throws_ok(format($$INSERT INTO protector.services (organization_id, venue_id, name, duration, slot_interval, waiver_id)
						  VALUES (%L, %L, 'Sneak', '1 hour', '1 hour', %L)$$, :'org', :'venue', :'waiver'),
	'42501', 'new row violates row-level security policy for table "services"',
	'a stranger''s service naming the retired waiver meets the insert policy');
SELECT throws_ok(format($$INSERT INTO protector.services (organization_id, venue_id, name, duration, slot_interval, waiver_id)
						  VALUES (%L, %L, 'Sneak', '1 hour', '1 hour', gen_random_uuid())$$, :'org', :'venue'),
	'42501', 'new row violates row-level security policy for table "services"',
	'... as one naming a made-up waiver does');
SELECT tests.authenticate_as('k_owner');

-- 3. a paid booking of a service whose currency changed since
SELECT protector.update_service(:'room', '{"currency": "USD"}') IS NOT NULL \g /dev/null
SELECT throws_ok(format($$UPDATE protector.bookings SET party_size = 3 WHERE id = %L$$, :'booking'),
	'22023', 'a booking with payments cannot be priced again in another currency',
	'a party grown under a new service currency is told what happened, not that it moves');
-- 20 + 25 x 3 = 95, set in the same update: the booking keeps EUR
SELECT lives_ok(format($$UPDATE protector.bookings SET party_size = 3, unit_price = 20, total_price = 95 WHERE id = %L$$, :'booking'),
	'... and, with its prices set in the same update, grows');
SELECT is((SELECT format('%s %s %s', party_size, total_price, currency) FROM protector.bookings WHERE id = :'booking'), '3 95.00 EUR',
	'3 guests, 95.00, still in EUR');
-- a service made shared over a max_party above its capacity is told the rule
SELECT protector.update_service(:'third', '{"max_party": 8, "capacity": 6}') IS NOT NULL \g /dev/null
SELECT throws_ok(format($$SELECT protector.update_service(%L, '{"mode": "shared"}')$$, :'third'),
	'22023', 'p_changes.max_party must be at most the capacity of a shared service',
	'a service made shared is told its max_party of 8 exceeds its capacity of 6');
SELECT throws_ok(format($$SELECT protector.update_service(%L, '{"mode": "shared", "min_party": 8, "max_party": 9}')$$, :'third'),
	'22023', 'p_changes.min_party must be at most the capacity of a shared service',
	'... and a min_party above it first, not "max_party must be from 8 to 6"');

-- 4. a promo code listing a service deleted since stays editable
SELECT protector.create_promo_code(:'org', 'percent', 10, p_service_ids => ARRAY[:'room', :'spare']::uuid[]) ->> 'id' AS promo \gset
DELETE FROM protector.services WHERE id = :'spare';
SELECT lives_ok(format($$UPDATE protector.promo_codes SET service_ids = service_ids || %L::uuid WHERE id = %L$$, :'third', :'promo'),
	'a code listing a service deleted since takes another service');
SELECT throws_ok(format($$UPDATE protector.promo_codes SET service_ids = service_ids || protector_internal.random_uuid() WHERE id = %L$$,
						:'promo'),
	'22023', 'service_ids names a service that is not the organization''s', '... while a service added to it is still checked');

-- 4b. a fixed promo code has the currency of every booking that used it:
-- its discount is in it, and a booking repriced after the code's currency
-- changed lost the discount silently (an attack on currencies), as after a
-- percent code it used became fixed in another currency (its review); a
-- percent code, or one no booking used, may change
SELECT currency AS room_currency FROM protector.services WHERE id = :'room' \gset
SELECT protector.create_promo_code(:'org', 'fixed', 15, p_currency => :'room_currency') ->> 'code' AS fixed_code \gset
SELECT protector.create_promo_code(:'org', 'fixed', 5, p_currency => :'room_currency') ->> 'code' AS unused_code \gset
SELECT protector.create_promo_code(:'org', 'percent', 10, p_currency => 'EUR') ->> 'code' AS percent_code \gset
SELECT protector.create_booking(:'room', NULL, date_trunc('day', now()) + interval '4 days 10 hours', 2,
	p_promo_code => :'fixed_code') IS NOT NULL AS booked \gset
SELECT protector.create_booking(:'room', NULL, date_trunc('day', now()) + interval '4 days 12 hours', 2,
	p_promo_code => :'percent_code') IS NOT NULL AS booked \gset
SELECT is(tests.error_text(format($$UPDATE protector.promo_codes SET currency = 'EUR' WHERE code = %L$$, :'fixed_code')),
	'22023 | a fixed promo code keeps the currency of the bookings that used it | '
	'A booking used it in USD; the update asks for a fixed discount in EUR. | '
	'Deactivate it and create another code in the new currency.',
	'a fixed promo code that bookings used keeps their currency');
SELECT is(tests.error_text(format($$UPDATE protector.promo_codes SET discount_kind = 'fixed', discount_value = 15 WHERE code = %L$$,
								  :'percent_code')),
	'22023 | a fixed promo code keeps the currency of the bookings that used it | '
	'A booking used it in USD; the update asks for a fixed discount in EUR. | '
	'Deactivate it and create another code in the new currency.',
	'... nor does a percent code in EUR that a booking in USD used become fixed in EUR');
SELECT lives_ok(format($$UPDATE protector.promo_codes SET discount_kind = 'percent', discount_value = 10, currency = 'EUR' WHERE code = %L$$,
					   :'fixed_code'),
	'... while a used fixed code may become a percent code, in any currency');
SELECT lives_ok(format($$UPDATE protector.promo_codes SET currency = 'EUR' WHERE code = %L OR id = %L$$, :'unused_code', :'promo'),
	'... and one no booking used, or a percent code, changes it');

-- 4c. ... and so does the booking: one under a fixed code whose currency is
-- written by hand, or given a fixed code in another currency by a trusted
-- write, is refused (it kept a discount of money in another currency);
-- the code taken off in the same update, or a percent code, lets it change
SELECT protector.create_promo_code(:'org', 'fixed', 7, p_currency => :'room_currency') AS usd_promo \gset
SELECT (:'usd_promo'::jsonb) ->> 'id' AS usd_promo_id, (:'usd_promo'::jsonb) ->> 'code' AS usd_code \gset
SELECT protector.create_booking(:'room', NULL, date_trunc('day', now()) + interval '5 days 10 hours', 2,
	p_promo_code => :'usd_code') ->> 'id' AS fixed_booking \gset
SELECT is(tests.error_text(format($$UPDATE protector.bookings SET currency = 'EUR' WHERE id = %L$$, :'fixed_booking')),
	format('22023 | a booking under a fixed promo code keeps the code''s currency | '
		   'Promo code %s takes off 7.00 USD; booking %s would be in EUR. | '
		   'Keep the booking in the code''s currency; a trusted role may take the code off in the same update (promo_code_id = NULL).',
		   :'usd_promo_id', :'fixed_booking'),
	'a booking under a fixed code in USD is not written into EUR by hand');
SELECT is((SELECT format('%s %s %s', currency, total_price, promo_code_id) FROM protector.bookings WHERE id = :'fixed_booking'),
	format('USD 63.00 %s', :'usd_promo_id'), '... and stays as it was: (20 + 25 x 2) - 7 = 63.00 USD under the code');
SELECT lives_ok(format($$UPDATE protector.bookings SET currency = 'EUR'
						 WHERE promo_code_id = (SELECT id FROM protector.promo_codes WHERE code = %L)$$, :'percent_code'),
	'... as a booking under a percent code changes currency');
-- (its review: a customer over a per-customer limit lowered since keeps
-- the bookings they have, whose currency still changes: the limit is not
-- judged again when no use is counted)
SELECT protector.create_customer(:'org', 'Ann Limit', 'ann.limit@example.com') ->> 'id' AS ann \gset
SELECT protector.create_promo_code(:'org', 'percent', 10, p_max_uses_per_customer => 2) ->> 'code' AS limit_code \gset
SELECT protector.create_booking(:'room', :'ann', date_trunc('day', now()) + interval '6 days 10 hours', 2,
	p_promo_code => :'limit_code') ->> 'id' AS ann1 \gset
SELECT protector.create_booking(:'room', :'ann', date_trunc('day', now()) + interval '6 days 12 hours', 2,
	p_promo_code => :'limit_code') IS NOT NULL AS booked \gset
UPDATE protector.promo_codes SET max_uses_per_customer = 1 WHERE code = :'limit_code';
SELECT lives_ok(format($$UPDATE protector.bookings SET currency = 'EUR' WHERE id = %L$$, :'ann1'),
	'... a booking of a customer over a per-customer limit lowered since changes currency under a percent code');
SELECT is((SELECT format('%s %s', currency, total_price) FROM protector.bookings WHERE id = :'ann1'), 'EUR 63.00',
	'... its prices as they were: (20 + 25 x 2) less 10% = 63.00');
SELECT tests.authenticate_as_service_role();
SELECT lives_ok(format($$UPDATE protector.bookings SET currency = 'EUR', promo_code_id = NULL WHERE id = %L$$, :'fixed_booking'),
	'... and the code taken off in the same update (service_role) lets it change');
SELECT is((SELECT times_used FROM protector.promo_codes WHERE id = :'usd_promo_id'), 0, '... the code''s use given back');
SELECT is(tests.error_text(format($$UPDATE protector.bookings SET promo_code_id = %L WHERE id = %L$$, :'usd_promo_id', :'fixed_booking')),
	format('22023 | a booking under a fixed promo code keeps the code''s currency | '
		   'Promo code %s takes off 7.00 USD; booking %s would be in EUR. | '
		   'Keep the booking in the code''s currency; a trusted role may take the code off in the same update (promo_code_id = NULL).',
		   :'usd_promo_id', :'fixed_booking'),
	'service_role gives a booking in EUR no fixed code in USD');
-- (a chaos run) a trusted update that moves a booking to a service in
-- another currency and gives it a code in the same statement left the
-- booking marked as priced again under a kept code; a later hand-written
-- currency in the same transaction was then told to retry, for ever
SELECT tests.authenticate_as('k_owner');
SELECT protector.create_booking(:'room', NULL, date_trunc('day', now()) + interval '7 days 10 hours', 2) ->> 'id' AS marked \gset
SELECT tests.authenticate_as_service_role();
UPDATE protector.services SET currency = 'EUR' WHERE id = :'third';
SELECT protector.create_promo_code(:'org', 'fixed', 3, p_currency => 'EUR') ->> 'id' AS eur_promo \gset
SELECT lives_ok(format($$UPDATE protector.bookings SET service_id = %L, promo_code_id = %L WHERE id = %L$$,
					   :'third', :'eur_promo', :'marked'),
	'service_role moves a booking to a service in EUR and gives it a fixed code in EUR in one update');
SELECT is(tests.error_text(format($$UPDATE protector.bookings SET currency = 'USD' WHERE id = %L$$, :'marked')),
	format('22023 | a booking under a fixed promo code keeps the code''s currency | '
		   'Promo code %s takes off 3.00 EUR; booking %s would be in USD. | '
		   'Keep the booking in the code''s currency; a trusted role may take the code off in the same update (promo_code_id = NULL).',
		   :'eur_promo', :'marked'),
	'... and then writing its currency by hand is refused as such, not told to retry');
-- (its review) ... nor one a later BEFORE trigger of the application's
-- skipped: the row was never written, the mark stayed
SELECT protector.create_promo_code(:'org', 'percent', 10) ->> 'code' AS skip_code \gset
SELECT tests.authenticate_as('k_owner');
SELECT protector.create_booking(:'room', NULL, date_trunc('day', now()) + interval '7 days 12 hours', 2,
	p_promo_code => :'skip_code') ->> 'id' AS skipped \gset
SELECT tests.clear_authentication();
CREATE FUNCTION pg_temp.app_skip() RETURNS trigger LANGUAGE plpgsql AS
	$f$ BEGIN IF current_setting('test.skip', true) = 'on' THEN RETURN NULL; END IF; RETURN NEW; END $f$;
CREATE TRIGGER zzz_app_skip BEFORE UPDATE ON protector.bookings FOR EACH ROW EXECUTE FUNCTION pg_temp.app_skip();
SET LOCAL test.skip = 'on';
UPDATE protector.bookings SET service_id = :'third' WHERE id = :'skipped';
SET LOCAL test.skip = 'off';
DROP TRIGGER zzz_app_skip ON protector.bookings;
UPDATE protector.promo_codes SET discount_kind = 'fixed', discount_value = 5, currency = 'USD' WHERE code = :'skip_code';
SELECT alike(tests.error_text(format($$UPDATE protector.bookings SET currency = 'EUR' WHERE id = %L$$, :'skipped')),
	'22023 | a booking under a fixed promo code keeps the code''s currency | %',
	'a reprice an application''s trigger skipped leaves no mark: a later currency change is refused as such');
SELECT tests.authenticate_as('k_owner');

-- 5. an organization's deletion takes its waivers with the services that ask for them
SELECT protector.create_waiver(:'org', 'Zip line', 'I slide at my own risk.') ->> 'waiver_id' AS zip \gset
SELECT protector.update_service(:'room', jsonb_build_object('waiver_id', :'zip')) IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
DELETE FROM protector.payments WHERE organization_id = :'org';
SELECT tests.authenticate_as('k_owner');
SELECT lives_ok(format($$DELETE FROM protector.organizations WHERE id = %L$$, :'org'),
	'the owner deletes the organization, required waiver and all');

SELECT * FROM finish();
ROLLBACK;
