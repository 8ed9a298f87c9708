-- What an attack on the customer lifecycle found (the forty-second stop):
--   1. erase_customer failed (22023 "0 of 2 participants have signed the
--      waiver") for a customer with a booking under way whose service was
--      given a waiver since: the erasure's scrub of the booking's details
--      fired the waiver check;
--   2. a voucher issued to the customer, then made anyone's, kept the note
--      written about them through their erasure;
--   3. (later) a direct erasure's raw key errors.
BEGIN;
SELECT plan(9);

SELECT tests.create_supabase_user('e_owner') IS NOT NULL \g /dev/null
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a920000-0000-4000-8000-000000000000', 'E', 'erasure-edges');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('0a920000-0000-4000-8000-000000000000', tests.get_supabase_uid('e_owner'), 'owner', now());
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a920000-0000-4000-8000-0000000000a1', '0a920000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode, price)
VALUES ('0a920000-0000-4000-8000-0000000005a1', '0a920000-0000-4000-8000-000000000000', '0a920000-0000-4000-8000-0000000000a1',
		'S', '60 minutes', '60 minutes', '400 days', 10, 'shared', 100);
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a920000-0000-4000-8000-00000000c001', '0a920000-0000-4000-8000-000000000000', 'Carl Waiver', 'carl@example.com'),
	('0a920000-0000-4000-8000-00000000c002', '0a920000-0000-4000-8000-000000000000', 'Vera Voucher', 'vera@example.com');
-- Carl's booking under way, for two
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, party_size, status, details)
VALUES ('0a920000-0000-4000-8000-00000000b001', '0a920000-0000-4000-8000-000000000000', '0a920000-0000-4000-8000-0000000000a1',
		'0a920000-0000-4000-8000-0000000005a1', '0a920000-0000-4000-8000-00000000c001',
		tstzrange(now() - interval '10 minutes', now() + interval '50 minutes'), 2, 'confirmed', '{"note": "CARL uses a wheelchair"}');
SELECT tests.authenticate_as('e_owner');
UPDATE protector.bookings SET status = 'in_progress' WHERE id = '0a920000-0000-4000-8000-00000000b001';
SELECT protector.update_service('0a920000-0000-4000-8000-0000000005a1',
	jsonb_build_object('waiver_id', protector.create_waiver('0a920000-0000-4000-8000-000000000000', 'Safety', 'I agree.') ->> 'waiver_id'))
	IS NOT NULL \g /dev/null

-- 1.
SELECT lives_ok($$SELECT protector.erase_customer('0a920000-0000-4000-8000-00000000c001')$$,
	'a customer with a booking under way, its service given a waiver since, is erased');
SELECT is((SELECT details ->> 'note' FROM protector.bookings WHERE id = '0a920000-0000-4000-8000-00000000b001'), NULL,
	'... and the booking''s details are scrubbed');
SELECT throws_like($$UPDATE protector.bookings SET details = '{"participants": ["Ann", "Bo"]}' WHERE id = '0a920000-0000-4000-8000-00000000b001'$$,
	'%signed the waiver "Safety"%', '... while a change of its details that is no erasure still asks for the signatures');

-- 2.
SELECT protector.create_voucher('0a920000-0000-4000-8000-000000000000', 50, NULL, NULL, '0a920000-0000-4000-8000-00000000c002',
	'For VERA, sorry about the broken leg') ->> 'id' AS vid \gset
UPDATE protector.vouchers SET customer_id = NULL WHERE id = :'vid';
SELECT lives_ok($$SELECT protector.erase_customer('0a920000-0000-4000-8000-00000000c002')$$, 'Vera is erased');
SELECT is((SELECT note FROM protector.vouchers WHERE id = :'vid'), NULL,
	'... and the note of the voucher once hers, anyone''s since, goes');

-- 3. (a later review, the fifty-first stop) an erasure written directly
-- names what it refuses, as erase_customer does: no customer of the
-- organization (another tenant's, none), no customer at all (they were
-- the keys' raw 23503 and 23502)
SELECT tests.clear_authentication();
INSERT INTO protector.organizations (id, name, slug) VALUES ('0b920000-0000-4000-8000-000000000000', 'F', 'erasure-edges-f');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0b920000-0000-4000-8000-00000000c001', '0b920000-0000-4000-8000-000000000000', 'Fay Far');
SELECT tests.authenticate_as('e_owner');
SELECT is(tests.error_text($$INSERT INTO protector.customer_erasures (organization_id, customer_id)
							 VALUES ('0a920000-0000-4000-8000-000000000000', '0b920000-0000-4000-8000-00000000c001')$$),
	'P0002 | customer not found | customer_id is not a customer of the organization.',
	'a direct erasure of another organization''s customer is refused by name');
SELECT is(tests.error_text($$INSERT INTO protector.customer_erasures (organization_id, customer_id)
							 VALUES ('0a920000-0000-4000-8000-000000000000', '0a920000-0000-4000-8000-0000000fffff')$$),
	'P0002 | customer not found | customer_id is not a customer of the organization.', '... as of one nobody has');
SELECT is(tests.error_text($$INSERT INTO protector.customer_erasures (organization_id, customer_id)
							 VALUES ('0a920000-0000-4000-8000-000000000000', NULL)$$),
	'22023 | customer_id must not be null | An erasure names the customer to erase.', '... and of none');
SELECT throws_ok($$INSERT INTO protector.customer_erasures (organization_id, customer_id)
				   VALUES ('0b920000-0000-4000-8000-000000000000', '0b920000-0000-4000-8000-00000000c001')$$,
	'42501', NULL, 'another organization''s erasure is the policy''s to refuse, told nothing of its customer');

SELECT * FROM finish();
ROLLBACK;
