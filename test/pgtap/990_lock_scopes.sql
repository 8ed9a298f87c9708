-- Locks a member may take, found by an attack review of authorization:
-- 1. authorize_row(..., p_lock => true) locked any row the caller could
--    read, for any action of theirs: a viewer named venues.read and held a
--    service FOR UPDATE, new bookings' foreign keys waiting on it past
--    protector.lock_timeout;
-- 2. lock_booking_promo_code took the action to check from its caller (a
--    viewer named organizations.read and held a booking's promo code), and
--    told another tenant's booking with a code from one without;
-- 3. lock_services let an agent lock every service of the organization,
--    not only those of bookings assigned to them.
BEGIN;
SELECT plan(10);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['ls_viewer', 'ls_operator', 'ls_agent', 'ls_outsider']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a990000-0000-4000-8000-000000000000', 'Locks', 'lock-scopes'),
	('0a990000-0000-4000-8000-000000000001', 'Other', 'lock-scopes-other');
UPDATE protector.organizations SET settings = settings || '{"staff": {"require_shifts": false}}'
WHERE id = '0a990000-0000-4000-8000-000000000000';
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a990000-0000-4000-8000-000000000000', tests.get_supabase_uid('ls_viewer'), 'viewer'),
	('0a990000-0000-4000-8000-000000000000', tests.get_supabase_uid('ls_operator'), 'operator'),
	('0a990000-0000-4000-8000-000000000000', tests.get_supabase_uid('ls_agent'), 'agent'),
	('0a990000-0000-4000-8000-000000000001', tests.get_supabase_uid('ls_outsider'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a990000-0000-4000-8000-0000000000a1', '0a990000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, price) VALUES
	('0a990000-0000-4000-8000-0000000005a1', '0a990000-0000-4000-8000-000000000000', '0a990000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '30 days', 40),
	('0a990000-0000-4000-8000-0000000005a2', '0a990000-0000-4000-8000-000000000000', '0a990000-0000-4000-8000-0000000000a1',
	 'Hall', '60 minutes', '60 minutes', '30 days', 40);
INSERT INTO protector.promo_codes (id, organization_id, discount_kind, discount_value) VALUES
	('0a990000-0000-4000-8000-0000000000d1', '0a990000-0000-4000-8000-000000000000', 'percent', 10);
-- c1 uses the code, c2 does not; c1 is the agent's
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, promo_code_id, assigned_agent, unit_price, total_price) VALUES
	('0a990000-0000-4000-8000-0000000000c1', '0a990000-0000-4000-8000-000000000000', '0a990000-0000-4000-8000-0000000000a1',
	 '0a990000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('hour', now()) + interval '1 day', date_trunc('hour', now()) + interval '25 hours'),
	 '0a990000-0000-4000-8000-0000000000d1', tests.get_supabase_uid('ls_agent'), 40, 36),
	('0a990000-0000-4000-8000-0000000000c2', '0a990000-0000-4000-8000-000000000000', '0a990000-0000-4000-8000-0000000000a1',
	 '0a990000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('hour', now()) + interval '2 days', date_trunc('hour', now()) + interval '49 hours'),
	 NULL, NULL, 40, 40);

-- 1. a lock for an action that changes the table
SELECT tests.authenticate_as('ls_viewer');
SELECT throws_ok($$SELECT protector_internal.authorize_row('protector.services', '0a990000-0000-4000-8000-0000000005a1', 'venues.read', 'service', true)$$,
	'42501', 'venues.read does not lock rows of services', 'a viewer does not lock a service by naming an action of theirs');
SELECT lives_ok($$SELECT protector_internal.authorize_row('protector.services', '0a990000-0000-4000-8000-0000000005a1', 'venues.read', 'service')$$,
	'... and still asks the action without a lock');
SELECT tests.authenticate_as('ls_operator');
SELECT throws_ok($$SELECT protector_internal.authorize_row('protector.members',
					(SELECT id FROM protector.members WHERE user_id = tests.get_supabase_uid('ls_viewer')), 'members.read', 'member', true)$$,
	'42501', 'members.read does not lock rows of members', 'an operator does not lock a member''s row');
SELECT lives_ok($$SELECT protector_internal.authorize_row('protector.bookings', '0a990000-0000-4000-8000-0000000000c2', 'bookings.cancel', 'booking', true)$$,
	'an operator locks a booking to cancel it, as cancel_booking does');

-- 2. the promo code's lock is reschedule_booking's
SELECT tests.authenticate_as('ls_viewer');
SELECT throws_ok($$SELECT protector_internal.lock_booking_promo_code('0a990000-0000-4000-8000-0000000000c1')$$,
	'42501', 'your role may not reschedule bookings', 'a viewer does not lock a booking''s promo code');
SELECT tests.authenticate_as('ls_outsider');
SELECT throws_ok($$SELECT protector_internal.lock_booking_promo_code('0a990000-0000-4000-8000-0000000000c1')$$,
	'P0002', 'booking not found', 'another tenant''s booking with a code is not found ...');
SELECT throws_ok($$SELECT protector_internal.lock_booking_promo_code('0a990000-0000-4000-8000-0000000000c2')$$,
	'P0002', 'booking not found', '... as is one without');
SELECT throws_ok($$SELECT protector_internal.lock_booking_promo_code(gen_random_uuid())$$,
	'P0002', 'booking not found', '... and a random id');

-- 3. an agent's services are those of their bookings
SELECT tests.authenticate_as('ls_agent');
SELECT lives_ok($$SELECT protector.lock_services(ARRAY['0a990000-0000-4000-8000-0000000005a1']::uuid[])$$,
	'an agent locks the service of a booking assigned to them');
SELECT throws_ok($$SELECT protector.lock_services(ARRAY['0a990000-0000-4000-8000-0000000005a2']::uuid[])$$,
	'P0002', 'service not found', '... and not a service they have no booking of');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
