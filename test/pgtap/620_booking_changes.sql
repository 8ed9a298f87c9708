-- What a review of bookings changed after they are made found (the
-- thirty-third stop): a customer's retried request, whose booking the desk
-- had handed to another customer since, was told to retry (40001) for ever.
-- (The thirty-fourth) reschedule_booking of a booking in progress said
-- "a in_progress booking", without saying what the desk can do instead.
BEGIN;
SELECT plan(8);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user(u) IS NOT NULL FROM unnest(ARRAY['bc_manager', 'bc_cara', 'bc_dan']) u \g /dev/null
SELECT tests.authenticate_as('bc_manager');
SELECT protector.create_organization('Changes', 'booking-changes', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Room', '1 hour', p_slot_interval => '1 hour', p_mode => 'shared', p_capacity => 10) ->> 'id' AS room \gset
SELECT protector.create_customer(:'org', 'Cara', 'cara@example.com') ->> 'id' AS cara \gset
SELECT protector.create_customer(:'org', 'Dan', 'dan@example.com') ->> 'id' AS dan \gset
SELECT tests.clear_authentication();
UPDATE protector.customers SET user_id = tests.get_supabase_uid('bc_cara') WHERE id = :'cara';
UPDATE protector.customers SET user_id = tests.get_supabase_uid('bc_dan') WHERE id = :'dan';

SELECT tests.authenticate_as('bc_cara');
SELECT protector.create_booking(:'room', NULL, date_trunc('day', now()) + interval '5 days 10 hours', 1, 'order-1') ->> 'id' AS booking \gset
SELECT is(protector.create_booking(:'room', NULL, date_trunc('day', now()) + interval '5 days 10 hours', 1, 'order-1') ->> 'replayed',
	'true', 'a retry while the booking is hers replays it');
SELECT tests.authenticate_as('bc_manager');
UPDATE protector.bookings SET customer_id = :'dan' WHERE id = :'booking';
SELECT tests.authenticate_as('bc_cara');
SELECT throws_ok(format($$SELECT protector.create_booking(%L, NULL, date_trunc('day', now()) + interval '5 days 10 hours', 1, 'order-1')$$, :'room'),
	'23P01', 'this request key belongs to another booking',
	'handed to another customer since: a final answer, not a retry for ever');
-- the helper answers a customer about their own keys only: no probing of
-- the organization's other request keys
SELECT tests.authenticate_as('bc_manager');
SELECT protector.create_booking(:'room', :'dan', date_trunc('day', now()) + interval '6 days 10 hours', 1, 'invoice-42') IS NOT NULL AS made \gset
SELECT tests.authenticate_as('bc_cara');
SELECT is(protector_internal.idempotency_key_taken(:'org', 'invoice-42'), false, 'another''s request key is no answer to a customer');
SELECT tests.clear_authentication();

-- a trip in progress whose car broke down: reschedule_booking, which moves
-- bookings to a time still to come, says what the desk does instead; the
-- operator moves it to another car by updating its row
SELECT tests.create_supabase_user('bc_operator') IS NOT NULL \g /dev/null
INSERT INTO protector.members (organization_id, user_id, role) VALUES (:'org', tests.get_supabase_uid('bc_operator'), 'operator');
SELECT tests.authenticate_as('bc_manager');
SELECT protector.create_service(:'venue', 'Room 2', '1 hour', p_slot_interval => '1 hour', p_mode => 'shared', p_capacity => 10) ->> 'id' AS room2 \gset
SELECT tests.clear_authentication();
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
VALUES (:'org', :'venue', :'room', :'dan', tstzrange(date_trunc('hour', now()) - interval '1 hour', date_trunc('hour', now())), 'in_progress')
RETURNING id AS running \gset
SELECT tests.authenticate_as('bc_operator');
SELECT throws_ok(format($$SELECT protector.reschedule_booking(%L, %L, %L)$$, :'running', date_trunc('hour', now()) - interval '1 hour', :'room2'),
	'22023', 'an in_progress booking cannot be rescheduled', 'a booking in progress is not rescheduled, and the message reads');
SELECT lives_ok(format($$UPDATE protector.bookings SET service_id = %L WHERE id = %L$$, :'room2', :'running'),
	'... the operator moves it to another service by updating its row, as the hint says');
SELECT tests.clear_authentication();

-- (the sixtieth stop) a move to where the booking is changes nothing: the
-- row was written again and announced, with no audit row of the change
SELECT tests.authenticate_as('bc_manager');
SELECT ctid AS before_ctid FROM protector.bookings WHERE id = :'booking' \gset
SELECT is(protector.reschedule_booking(:'booking', date_trunc('day', now()) + interval '5 days 10 hours') ->> 'start',
	(SELECT protector.reschedule_booking(:'booking', date_trunc('day', now()) + interval '5 days 10 hours') ->> 'start'),
	'a move to its own start answers the booking as it is');
SELECT is((SELECT ctid FROM protector.bookings WHERE id = :'booking'), :'before_ctid'::tid,
	'... and leaves its row unwritten');
SELECT protector.reschedule_booking(:'booking', date_trunc('day', now()) + interval '5 days 11 hours') IS NOT NULL AS moved \gset
SELECT isnt((SELECT ctid FROM protector.bookings WHERE id = :'booking'), :'before_ctid'::tid,
	'a move to another start still writes it');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
