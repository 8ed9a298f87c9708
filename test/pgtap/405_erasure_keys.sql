-- An erasure takes every request key of the person's bookings, not only
-- the widget's and a signed-in customer's: a key the desk typed may name
-- them too (an attack searching every table after an erasure found
-- 'zephyrine.q@example.org/phone-42' on her booking, while the erasure
-- had already taken it from the booking's history).
BEGIN;
SELECT plan(3);

SELECT tests.create_supabase_user('ek_admin');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a405000-0000-4000-8000-000000000000', 'Keys', 'erasure-keys');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a405000-0000-4000-8000-000000000000', tests.get_supabase_uid('ek_admin'), 'admin');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a405000-0000-4000-8000-0000000000a1', '0a405000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, capacity, mode) VALUES
	('0a405000-0000-4000-8000-0000000005a1', '0a405000-0000-4000-8000-000000000000', '0a405000-0000-4000-8000-0000000000a1',
	 'Room', '30 minutes', '30 minutes', 100, 'shared');
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a405000-0000-4000-8000-00000000c001', '0a405000-0000-4000-8000-000000000000', 'Zephyrine Quackenbush', 'zephyrine.q@example.org'),
	('0a405000-0000-4000-8000-00000000c002', '0a405000-0000-4000-8000-000000000000', 'Other Person', 'other@example.org');
SELECT tests.authenticate_as('ek_admin');
SELECT protector.create_booking('0a405000-0000-4000-8000-0000000005a1', '0a405000-0000-4000-8000-00000000c001',
	date_trunc('day', now()) + interval '3 days 10 hours', 1, 'zephyrine.q@example.org/phone-42') ->> 'id' AS hers \gset
SELECT protector.create_booking('0a405000-0000-4000-8000-0000000005a1', '0a405000-0000-4000-8000-00000000c002',
	date_trunc('day', now()) + interval '3 days 11 hours', 1, 'other@example.org/phone-43') ->> 'id' AS theirs \gset
SELECT is((protector.erase_customer('0a405000-0000-4000-8000-00000000c001') ->> 'already_erased'), 'false', 'the admin erases her');
SELECT tests.clear_authentication();
SELECT is((SELECT idempotency_key FROM protector.bookings WHERE id = :'hers'), NULL,
	'her booking keeps no request key, the one the desk typed with her address included');
SELECT is((SELECT idempotency_key FROM protector.bookings WHERE id = :'theirs'), 'other@example.org/phone-43',
	'... another customer''s booking keeps its own');

SELECT * FROM finish();
ROLLBACK;
