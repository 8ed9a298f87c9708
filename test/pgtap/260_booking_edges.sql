-- Booking writes at their edges, as an attack on the life cycle found
-- them: request keys under the widget's and another customer's prefix are
-- protector's; a customer's key fits its prefix; a move by a caller who may
-- not set prices is to a slot; an agent does not make a hold permanent;
-- what happens at the venue is not written before the start; a deposit is
-- due by the start after a move earlier; a batch takes a list of ids.
BEGIN;
SELECT plan(65);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['k_operator', 'k_agent', 'k_customer', 'k_customer2']) u;
INSERT INTO protector.organizations (id, name, slug, settings) VALUES
	('0a260000-0000-4000-8000-000000000000', 'K', 'booking-edges', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a260000-0000-4000-8000-000000000000', tests.get_supabase_uid('k_' || r), r::protector.member_role
FROM unnest(ARRAY['operator', 'agent']) r;
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a260000-0000-4000-8000-0000000000a1', '0a260000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.customers (id, organization_id, full_name, user_id) VALUES
	('0a260000-0000-4000-8000-00000000c001', '0a260000-0000-4000-8000-000000000000', 'Cara', tests.get_supabase_uid('k_customer')),
	('0a260000-0000-4000-8000-00000000c002', '0a260000-0000-4000-8000-000000000000', 'Dan', tests.get_supabase_uid('k_customer2'));
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, settings) VALUES
	('0a260000-0000-4000-8000-0000000005a1', '0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days', 1, 4, 20, 25, '{}'),
	('0a260000-0000-4000-8000-0000000005a2', '0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
	 'Deposit room', '60 minutes', '60 minutes', '400 days', 1, 4, 20, 25, '{"deposit": {"percent": 50, "deadline_hours": 48}}');
-- t(d, h): hour h of the day d days from today (UTC)
CREATE FUNCTION pg_temp.t(d int, h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + d * interval '1 day' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int, int) TO authenticated;
CREATE TEMP TABLE r (name text PRIMARY KEY, j jsonb);
GRANT SELECT, INSERT ON r TO authenticated;
CREATE FUNCTION pg_temp.id(n text) RETURNS uuid LANGUAGE sql AS $$ SELECT (j ->> 'id')::uuid FROM r WHERE name = n $$;
GRANT EXECUTE ON FUNCTION pg_temp.id(text) TO authenticated;

-- 1. request keys
SELECT tests.authenticate_as('k_customer');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, idempotency_key)
				   VALUES ('0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
						   '0a260000-0000-4000-8000-0000000005a1', '0a260000-0000-4000-8000-00000000c001',
						   tstzrange(pg_temp.t(10, 10), pg_temp.t(10, 11)), 'pending', 'order-42')$$,
	'42501', 'a customer''s idempotency key starts with customer/<their user id>/',
	'a customer''s direct insert cannot take the desk''s key order-42 (the desk''s retry would answer with it)');
SELECT throws_ok(format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, idempotency_key)
				   VALUES ('0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
						   '0a260000-0000-4000-8000-0000000005a1', '0a260000-0000-4000-8000-00000000c001',
						   tstzrange(pg_temp.t(10, 10), pg_temp.t(10, 11)), 'pending', 'customer/%s/k1')$$,
						tests.get_supabase_uid('k_customer2')),
	'42501', 'idempotency keys under widget/ and another''s customer/ are protector''s', 'nor another customer''s key');
SELECT throws_ok(format($$SELECT protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(10, 10), 1, %L)$$,
						repeat('k', 180)),
	'22023', 'p_idempotency_key must be 1 to 154 characters', 'a customer''s key of 180 characters: refused by name (46 go to the prefix)');
SELECT lives_ok($$INSERT INTO r SELECT 'mine', protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(10, 10), 1,
											 repeat('k', 154))$$, '... 154 fit');
-- (a later review, the fifty-fourth stop: a customer's key was stored
-- with direction overrides and control characters, which staff read)
SELECT throws_ok($$SELECT protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(10, 12), 1,
											 E'order-1\u202Egnp.exe')$$,
	'22023', 'idempotency_key holds control or invisible direction characters',
	'a customer''s key with a direction override is refused');
SELECT throws_ok($$SELECT protector.hold_slot('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(10, 12), 1, 10, E'k\u0001')$$,
	'22023', 'idempotency_key holds control or invisible direction characters', '... and one with a control character, in a hold');
SELECT throws_ok(format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, idempotency_key)
				   VALUES ('0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
						   '0a260000-0000-4000-8000-0000000005a1', '0a260000-0000-4000-8000-00000000c001',
						   tstzrange(pg_temp.t(10, 12), pg_temp.t(10, 13)), 'pending', 'customer/%s/k' || E'\u2066')$$,
						tests.get_supabase_uid('k_customer')),
	'22023', 'idempotency_key holds control or invisible direction characters', '... and in a direct insert of theirs');
SELECT tests.authenticate_as('k_operator');
SELECT throws_ok(format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, idempotency_key)
				   VALUES ('0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
						   '0a260000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(11, 10), pg_temp.t(11, 11)), 'confirmed',
						   'widget/%s/r1')$$, md5('visitor@example.com')),
	'42501', 'idempotency keys under widget/ and another''s customer/ are protector''s', 'the desk cannot take a widget visitor''s key');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, idempotency_key)
				   VALUES ('0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
						   '0a260000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(11, 12), pg_temp.t(11, 13)), 'confirmed',
						   E'desk-\u200Fkey')$$,
	'22023', 'idempotency_key holds control or invisible direction characters', 'nor does the desk write a key with a direction mark');

-- 2. an operator moves a booking to a slot, of the slot's length
INSERT INTO r SELECT 'room', protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12, 10), 1);
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(pg_temp.t(12, 10) + interval '7 minutes', pg_temp.t(42, 10))
				   WHERE id = pg_temp.id('room')$$,
	'22023', NULL, 'a start off the hourly grid is no slot');
UPDATE protector.bookings SET during = tstzrange(pg_temp.t(12, 11), pg_temp.t(42, 11)) WHERE id = pg_temp.id('room');
SELECT is((SELECT format('%s %s', lower(during) = pg_temp.t(12, 11), upper(during) - lower(during)) FROM protector.bookings
		   WHERE id = pg_temp.id('room')), 't 01:00:00',
	'a booking stretched to 30 days is the one-hour slot at its start (at 20 + 25 x 1 = 45, the price of an hour)');

-- ... and a booking that has started keeps its length
SELECT tests.clear_authentication();
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('0a260000-0000-4000-8000-00000000b0a1', '0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
		'0a260000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(-2, 10), pg_temp.t(-2, 11)), 'completed'),
	   ('0a260000-0000-4000-8000-00000000b0c1', '0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
		'0a260000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(-1, 10), pg_temp.t(-1, 11)), 'confirmed');
SELECT tests.authenticate_as('k_operator');
SELECT lives_ok($$UPDATE protector.bookings SET during = tstzrange(pg_temp.t(-2, 11), pg_temp.t(-2, 12))
				  WHERE id = '0a260000-0000-4000-8000-00000000b0a1'$$,
	'an operator corrects the time of a booking two days ago (same length)');
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(pg_temp.t(-2, 11), pg_temp.t(-2, 15))
				   WHERE id = '0a260000-0000-4000-8000-00000000b0a1'$$,
	'42501', 'your role may not change the length of a booking that has started', '... but does not make it four hours long');
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(now() - interval '1 microsecond', now() + interval '1 hour' - interval '1 microsecond')
				   WHERE id = '0a260000-0000-4000-8000-00000000b0c1'$$,
	'42501', 'your role may correct a booking that has started only within the past',
	'... nor moves yesterday''s confirmed booking to start a moment ago, where it held the next hour off the grid (same length)');
-- ... nor moves one that has not started into the past (off the grid, in
-- closed hours, and then a no-show fee)
INSERT INTO r SELECT 'ahead', protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(3, 10), 1);
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(pg_temp.t(-1, 3) + interval '17 minutes', pg_temp.t(-1, 4) + interval '17 minutes')
				   WHERE id = pg_temp.id('ahead')$$,
	'22023', 'during is in the past', 'a booking three days ahead moved to yesterday 03:17 (same length): refused, as reschedule_booking refuses it');

-- 3. what happens at the venue is not written before the start
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
				   VALUES ('0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
						   '0a260000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(13, 10), pg_temp.t(13, 11)), 'completed')$$,
	'22023', 'a booking cannot be completed before it starts', 'a future booking is not inserted completed');

-- 4. an agent does not make a hold permanent
INSERT INTO r SELECT 'hold', protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(14, 10), 1,
						p_assigned_agent => tests.get_supabase_uid('k_agent'), p_hold_minutes => 30);
SELECT tests.authenticate_as('k_agent');
SELECT throws_ok($$UPDATE protector.bookings SET status = 'pending' WHERE id = pg_temp.id('hold')$$,
	'42501', 'your role may not confirm bookings', 'an agent''s hold made pending would occupy for good: refused');
SELECT throws_ok($$UPDATE protector.bookings SET hold_expires_at = '2100-01-01' WHERE id = pg_temp.id('hold')$$,
	'42501', 'your role may not confirm bookings', 'so is holding it until 2100');
SELECT throws_ok($$UPDATE protector.bookings SET hold_expires_at = now() + interval '1 minute' WHERE id = pg_temp.id('hold')$$,
	'42501', 'your role may not cancel bookings', '... and ending it sooner frees the slot: a cancellation, which agents may not');

-- 5. a deposit is due by the start after a move earlier
SELECT tests.authenticate_as('k_operator');
INSERT INTO r SELECT 'deposit', protector.create_booking('0a260000-0000-4000-8000-0000000005a2', NULL, pg_temp.t(10, 12), 2);
SELECT is((SELECT tests.taken_in_transaction(payment_due_by - interval '48 hours') FROM protector.bookings WHERE id = pg_temp.id('deposit')), true,
	'a deposit of 50% of 20 + 25 x 2 = 70 is due in 48 hours (before the start in 10 days)');
SELECT lives_ok($$SELECT protector.reschedule_booking(pg_temp.id('deposit'), pg_temp.t(2, 0))$$, 'moved to the day after tomorrow, 00:00');
SELECT is((SELECT payment_due_by = lower(during) FROM protector.bookings WHERE id = pg_temp.id('deposit')), true,
	'the deposit is due by the new start, not 48 hours from booking (later than it when the day after tomorrow starts within 48 hours)');

-- 6. a batch takes a list
SELECT throws_ok($$SELECT protector.update_booking_status_batch(ARRAY[[pg_temp.id('room'), pg_temp.id('hold')],
																 [pg_temp.id('room'), pg_temp.id('hold')]], 'cancelled')$$,
	'22023', 'p_booking_ids must be a list of ids', 'a two-dimensional array is refused by name');
SELECT is(tests.error_text($$SELECT protector.update_booking_status_batch(ARRAY[pg_temp.id('room'),
																 '0e260000-0000-4000-8000-00000000dead'], 'cancelled')$$),
	'P0002 | some bookings were not found | Not found or not visible: 0e260000-0000-4000-8000-00000000dead.',
	'a batch names the ids it does not find, and only those');
SELECT is(tests.error_text($$SELECT protector.update_booking_status_batch(
								  ARRAY(SELECT pg_temp.id('room') FROM generate_series(1, 10001)), 'cancelled')$$),
	'22023 | p_booking_ids must hold 1 to 1000 ids | Got 10001 entries.',
	'a list of over 10,000 entries is refused before its ids are told apart (a million took seconds)');

-- 7. what create_booking names, not the foreign key: an empty key of a
-- customer (was "1 to 200", where a customer's are 1 to 154), an agent who
-- is nobody of the organization (was the raw 23503 of the foreign key)
SELECT tests.authenticate_as('k_customer');
SELECT throws_ok($$SELECT protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12, 10), 1, '')$$,
	'22023', 'p_idempotency_key must be 1 to 154 characters', 'a customer''s empty key: the customer''s limits');
SELECT tests.authenticate_as('k_operator');
SELECT throws_ok($$SELECT protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12, 10), 1,
												   p_assigned_agent => '00000000-0000-4000-8000-0000000000ff')$$,
	'P0002', 'agent not found', 'an agent who is no member of the organization: not found, by name');
CREATE FUNCTION pg_temp.hint_of(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	h text;
BEGIN
	EXECUTE q;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN h;
END $f$;
SELECT is(pg_temp.hint_of(format($$SELECT protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12, 10), 1,
		p_assigned_agent => %L)$$, (SELECT id FROM protector.members WHERE user_id = tests.get_supabase_uid('k_agent')))),
	'p_assigned_agent takes the member''s user id (members.user_id), not members.id.',
	'... and an agent named by their membership''s id is told which id the parameter takes');
SELECT lives_ok(format($$SELECT protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12, 10), 1,
														p_assigned_agent => %L)$$, tests.get_supabase_uid('k_agent')),
	'... a member is assigned');

-- 8. an expired hold is not moved: it occupies nothing, so a move met no
-- booking at the new time and was refused only at confirm_booking
SELECT tests.authenticate_as('k_operator');
INSERT INTO r SELECT 'stale', protector.hold_slot('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(13, 9), 1, 10);
SELECT tests.clear_authentication();
UPDATE protector.bookings SET hold_expires_at = now() - interval '1 minute' WHERE id = pg_temp.id('stale');
SELECT tests.authenticate_as('k_operator');
SELECT throws_ok($$SELECT protector.reschedule_booking(pg_temp.id('stale'), pg_temp.t(13, 11))$$,
	'22023', 'the hold has expired', 'an expired hold: refused by name');

-- a customer's direct insert of a live booking with a cancellation stamped
-- on it (a review found both stored): the stamp is dropped
SELECT tests.authenticate_as('k_customer');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, cancelled_at, cancellation_reason)
VALUES ('0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1', '0a260000-0000-4000-8000-0000000005a1',
		'0a260000-0000-4000-8000-00000000c001', tstzrange(pg_temp.t(12, 8), pg_temp.t(12, 9)), 'pending', now(), 'x');
SELECT tests.clear_authentication();
SELECT is((SELECT format('%s %s %s', status, cancelled_at IS NULL, cancellation_reason IS NULL) FROM protector.bookings
		   WHERE lower(during) = pg_temp.t(12, 8)), 'pending t t',
	'a customer''s new pending booking carries no cancelled_at or cancellation_reason');

-- 9. a save that changes nothing keeps updated_at, as the audit trigger
-- writes nothing for it (the dashboards' recent activity read one or the
-- other and disagreed: a form saved unchanged moved a booking to the top
-- of one list and not the other)
SELECT tests.clear_authentication();
ALTER TABLE protector.bookings DISABLE TRIGGER set_updated_at;
UPDATE protector.bookings SET updated_at = '2020-01-01 00:00+00' WHERE id = pg_temp.id('ahead');
ALTER TABLE protector.bookings ENABLE TRIGGER set_updated_at;
SELECT tests.authenticate_as('k_operator');
UPDATE protector.bookings SET status = status, party_size = party_size, details = details WHERE id = pg_temp.id('ahead');
SELECT is((SELECT updated_at FROM protector.bookings WHERE id = pg_temp.id('ahead')), '2020-01-01 00:00+00'::timestamptz,
	'a booking saved with nothing changed keeps its updated_at');
UPDATE protector.bookings SET details = '{"note": "gate code 12"}' WHERE id = pg_temp.id('ahead');
SELECT is((SELECT updated_at FROM protector.bookings WHERE id = pg_temp.id('ahead')), now(),
	'... a change stamps it');

-- 10. a booking something happened to stays in its time (an operator moved
-- a completed booking to next week, and an in-progress one, freeing its
-- slot now); a move to a service of another venue takes the venue along
-- (it was the foreign key's bare error); a second cancel answers with
-- every key of the first
SELECT tests.authenticate_as('k_operator');
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(pg_temp.t(3, 10), pg_temp.t(3, 11))
				   WHERE id = '0a260000-0000-4000-8000-00000000b0a1'$$,
	'22023', 'a completed booking cannot be moved to a time still to come',
	'a booking completed two days ago moved to three days ahead: refused');
SELECT tests.clear_authentication();
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a260000-0000-4000-8000-0000000000a2', '0a260000-0000-4000-8000-000000000000', 'V2', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person) VALUES
	('0a260000-0000-4000-8000-0000000005a3', '0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a2',
	 'Annex room', '60 minutes', '60 minutes', '400 days', 1, 4, 20, 25);
SELECT tests.authenticate_as('k_operator');
INSERT INTO r SELECT 'moving', protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(4, 10), 1);
UPDATE protector.bookings SET service_id = '0a260000-0000-4000-8000-0000000005a3' WHERE id = pg_temp.id('moving');
SELECT is((SELECT venue_id FROM protector.bookings WHERE id = pg_temp.id('moving')), '0a260000-0000-4000-8000-0000000000a2'::uuid,
	'a booking moved to a service of another venue is at that venue');
SELECT ok((SELECT c ?& ARRAY['refund_to_vouchers', 'cancellation_fee'] FROM protector.cancel_booking(pg_temp.id('moving'), 'first') c),
	'a first cancel names its fee and what went back to vouchers');
SELECT ok((SELECT c ?& ARRAY['already_cancelled', 'refund_amount', 'refund_percent', 'refund_to_vouchers', 'cancellation_fee']
		   FROM protector.cancel_booking(pg_temp.id('moving'), 'again') c),
	'... and a second answers with the same keys (it lacked refund_to_vouchers and cancellation_fee)');

-- 11. a batch over more services than lock_services takes at once (100):
-- 101 services, a hold on each, confirmed in one call (it failed: "p_service_ids
-- must name at most 100 services"); and a customer confirming their own
-- hold through the batch (it failed: "service not found")
SELECT tests.clear_authentication();
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party)
SELECT ('0a260000-0000-4000-8000-00000001' || lpad(i::text, 4, '0'))::uuid, '0a260000-0000-4000-8000-000000000000',
	   '0a260000-0000-4000-8000-0000000000a1', 'Pod ' || i, '60 minutes', '60 minutes', '400 days', 1, 4
FROM generate_series(1, 101) i;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, hold_expires_at, details)
SELECT '0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
	   ('0a260000-0000-4000-8000-00000001' || lpad(i::text, 4, '0'))::uuid,
	   tstzrange(pg_temp.t(6, 10), pg_temp.t(6, 11)), 'held', now() + interval '1 hour', '{"pod": true}'
FROM generate_series(1, 101) i;
SELECT tests.authenticate_as('k_operator');
SELECT is(protector.update_booking_status_batch(ARRAY(SELECT id FROM protector.bookings WHERE details ? 'pod'), 'confirmed') ->> 'updated',
	'101', 'the desk confirms 101 holds of 101 services in one batch');
SELECT tests.authenticate_as('k_customer');
INSERT INTO r SELECT 'own_hold', protector.hold_slot('0a260000-0000-4000-8000-0000000005a1', '0a260000-0000-4000-8000-00000000c001',
												   pg_temp.t(7, 10), 1, 60);
SELECT is(protector.update_booking_status_batch(ARRAY[pg_temp.id('own_hold')], 'confirmed') ->> 'updated', '1',
	'a customer confirms their own hold through the batch');

-- 12. the venue follows the service for every role (service_role got the
-- foreign key's bare error), and a service of another organization is not
-- found
SELECT tests.clear_authentication();
INSERT INTO protector.organizations (id, name, slug) VALUES ('0b260000-0000-4000-8000-000000000000', 'Kb', 'booking-edges-b');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0b260000-0000-4000-8000-0000000000a1', '0b260000-0000-4000-8000-000000000000', 'W', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party)
VALUES ('0b260000-0000-4000-8000-0000000005a1', '0b260000-0000-4000-8000-000000000000', '0b260000-0000-4000-8000-0000000000a1',
		'Elsewhere', '60 minutes', '60 minutes', '400 days', 1, 4);
SELECT tests.authenticate_as('k_operator');
INSERT INTO r SELECT 'moving2', protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(8, 10), 1);
SELECT tests.clear_authentication();
GRANT SELECT ON r TO service_role;
SELECT tests.authenticate_as_service_role();
UPDATE protector.bookings SET service_id = '0a260000-0000-4000-8000-0000000005a3'
WHERE id = (SELECT (j ->> 'id')::uuid FROM r WHERE name = 'moving2');
SELECT tests.clear_authentication();
SELECT is((SELECT venue_id FROM protector.bookings WHERE id = (SELECT (j ->> 'id')::uuid FROM r WHERE name = 'moving2')),
	'0a260000-0000-4000-8000-0000000000a2'::uuid, 'service_role''s move to a service of another venue takes the venue along');
SELECT throws_ok($$UPDATE protector.bookings SET service_id = '0b260000-0000-4000-8000-0000000005a1'
				   WHERE id = (SELECT (j ->> 'id')::uuid FROM r WHERE name = 'moving2')$$,
	'P0002', 'service not found', 'a move to another organization''s service: not found (it was the foreign key''s error)');
SELECT throws_ok($$UPDATE protector.bookings SET venue_id = '0a260000-0000-4000-8000-0000000000a1'
				   WHERE id = (SELECT (j ->> 'id')::uuid FROM r WHERE name = 'moving2')$$,
	'22023', 'a booking''s venue is its service''s', '... and a venue set by hand that is not the service''s is refused by name');

-- 13. a cancellation's reason is shown to staff as written: line breaks
-- pass, a direction override does not
SELECT tests.authenticate_as('k_operator');
SELECT throws_ok($$SELECT protector.cancel_booking((SELECT (j ->> 'id')::uuid FROM r WHERE name = 'moving2'), E'ill \u202egnorw')$$,
	'22023', 'p_reason holds control or invisible direction characters', 'a reason with a right-to-left override is refused');
SELECT is(protector.cancel_booking((SELECT (j ->> 'id')::uuid FROM r WHERE name = 'moving2'), E'ill\nsee you next week') ->> 'status',
	'cancelled', 'a reason on two lines cancels');

-- 14. a cancelled booking is not moved (re-priced after its refund), and
-- a hold made a booking waits no more, however it is confirmed
INSERT INTO r SELECT 'gone', protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(21, 10), 1);
SELECT lives_ok($$SELECT protector.cancel_booking(pg_temp.id('gone'))$$, 'a booking cancelled');
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(pg_temp.t(22, 10), pg_temp.t(22, 11)) WHERE id = pg_temp.id('gone')$$,
	'22023', 'a cancelled booking cannot be rescheduled', '... is not moved by a direct update, as reschedule_booking refuses it');
INSERT INTO r SELECT 'h1', protector.hold_slot('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(23, 10), 1, 10);
INSERT INTO r SELECT 'h2', protector.hold_slot('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(24, 10), 1, 10);
SELECT lives_ok($$SELECT protector.update_booking_status_batch(ARRAY[pg_temp.id('h1')], 'confirmed')$$, 'a hold confirmed by a batch');
UPDATE protector.bookings SET status = 'confirmed' WHERE id = pg_temp.id('h2');
INSERT INTO r SELECT 'h3', protector.hold_slot('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(25, 10), 1, 10);
SELECT tests.authenticate_as_service_role();
UPDATE protector.bookings SET status = 'confirmed' WHERE id = pg_temp.id('h3');
SELECT tests.authenticate_as('k_operator');
SELECT is((SELECT array_agg(format('%s %s', status, hold_expires_at IS NULL) ORDER BY lower(during)) FROM protector.bookings
		   WHERE id IN (pg_temp.id('h1'), pg_temp.id('h2'), pg_temp.id('h3'))), '{"confirmed t","confirmed t","confirmed t"}',
	'... and one confirmed by a direct update, by staff or by service_role (a webhook), keep no hold expiry (as confirm_booking)');
-- a no-show, its fee written, is not moved to another service and priced again either
SELECT tests.clear_authentication();
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('0a260000-0000-4000-8000-00000000b0a2', '0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
		'0a260000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(-2, 14), pg_temp.t(-2, 15)), 'no_show');
SELECT tests.authenticate_as('k_operator');
SELECT throws_ok($$UPDATE protector.bookings SET service_id = '0a260000-0000-4000-8000-0000000005a2'
				   WHERE id = '0a260000-0000-4000-8000-00000000b0a2'$$,
	'22023', 'a no_show booking cannot be rescheduled', 'a no-show of two days ago is not moved to another service');

-- details of at most 64 kB, whoever writes them directly (staff stored
-- 19 MB, and the audit log a copy per change)
SELECT tests.authenticate_as('k_operator');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, details)
				   VALUES ('0a260000-0000-4000-8000-000000000000', '0a260000-0000-4000-8000-0000000000a1',
						   '0a260000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(30, 10), pg_temp.t(30, 11)), 'confirmed',
						   jsonb_build_object('x', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 3000) g)))$$,
	'22023', 'details is too large', 'an operator''s direct insert with 96 kB of details is refused');
INSERT INTO r SELECT 'sized', protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(30, 12), 1);
SELECT throws_ok($$UPDATE protector.bookings SET details = jsonb_build_object('x', (SELECT string_agg(md5(g::text), '')
																				  FROM generate_series(1, 3000) g))
				   WHERE id = pg_temp.id('sized')$$,
	'22023', 'details is too large', '... and so is an update to them');
UPDATE protector.bookings SET details = jsonb_build_object('note', repeat('n', 1000)) WHERE id = pg_temp.id('sized');
SELECT is((SELECT length(details ->> 'note') FROM protector.bookings WHERE id = pg_temp.id('sized')), 1000,
	'... while details within the limit are written');
-- a payment of 0.00 is no money that moved, as record_payment says
SELECT tests.clear_authentication();
SELECT throws_ok($$INSERT INTO protector.payments (organization_id, booking_id, amount, status)
				   VALUES ('0a260000-0000-4000-8000-000000000000', pg_temp.id('sized'), 0, 'succeeded')$$,
	'22023', 'a payment or refund must be a positive amount', 'a direct payment of 0.00 is refused');
-- a booking with payments is not deleted: named, with what to do instead
-- (it was the foreign key's bare error, naming the constraint)
INSERT INTO protector.payments (organization_id, booking_id, amount, status)
VALUES ('0a260000-0000-4000-8000-000000000000', pg_temp.id('sized'), 5, 'succeeded');
SELECT throws_ok($$DELETE FROM protector.bookings WHERE id = pg_temp.id('sized')$$,
	'23503', 'a booking with payments cannot be deleted', 'a paid booking is not deleted, by name');
INSERT INTO r SELECT 'unpaid2', protector.create_booking('0a260000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(31, 12), 1);
DELETE FROM protector.bookings WHERE id = pg_temp.id('unpaid2');
SELECT is((SELECT count(*)::int FROM protector.bookings WHERE id = pg_temp.id('unpaid2')), 0, '... one without payments is');
-- free texts shown to others hold line breaks and tabs, nothing else
-- invisible, as every other one: a voucher's note (read by whoever holds
-- the code), a customer's notes, a promo code's description, a payment's
-- provider (stored as given)
SELECT tests.clear_authentication();
SELECT throws_ok($$SELECT protector.create_voucher('0a260000-0000-4000-8000-000000000000', 10, p_note => 'Thanks ' || chr(8238) || 'gnp.exe')$$,
	'22023', 'p_note holds control or invisible direction characters', 'a voucher''s note with a direction override is refused');
SELECT lives_ok($$SELECT protector.create_voucher('0a260000-0000-4000-8000-000000000000', 10, p_note => E'Happy birthday,\n\tAnn')$$,
	'... one with line breaks and tabs is written');
SELECT throws_ok($$SELECT protector.create_voucher('0a260000-0000-4000-8000-000000000000', 10, p_expires_at => 'infinity')$$,
	'22008', 'p_expires_at must be a finite time', 'an infinite expiry is named as such, 22008 as every infinite time (it was "must be in the future"; then 22023)');
SELECT throws_ok($$SELECT protector.create_voucher('0a260000-0000-4000-8000-000000000000', 10, p_expires_at => now() - interval '1 day')$$,
	'22023', 'p_expires_at must be in the future', '... a past expiry is out of range, 22023');
SELECT throws_ok($$UPDATE protector.customers SET notes = E'a\x01b' WHERE id = '0a260000-0000-4000-8000-00000000c001'$$,
	'22023', 'notes holds control or invisible direction characters', 'a customer''s notes with a control character are refused');
SELECT throws_ok($$SELECT protector.create_promo_code('0a260000-0000-4000-8000-000000000000', 'percent', 10,
												   p_description => chr(8238) || 'x')$$,
	'22023', 'p_description holds control or invisible direction characters', 'a promo code''s description likewise');
SELECT throws_ok($$SELECT protector.record_payment(pg_temp.id('sized'), 1, chr(8238) || 'stripe', 'pi_x')$$,
	'22023', 'p_provider and p_provider_reference hold control or invisible direction characters', 'a payment''s provider likewise');
SELECT throws_ok($$INSERT INTO protector.payments (organization_id, booking_id, amount, status, provider, provider_reference)
				   VALUES ('0a260000-0000-4000-8000-000000000000', pg_temp.id('sized'), 1, 'succeeded', E'str\u0007ipe', 'pi_y')$$,
	'22023', 'provider and provider_reference hold control or invisible direction characters', '... also when the row is written directly');
-- a note 0.1.0 stored with an invisible mark (a right-to-left mark pasted
-- with Arabic) does not keep two customers from being merged: it stays on
-- the merged record, as an old phone does
SET LOCAL session_replication_role = replica;
-- (unlinked from its account: records of two accounts are not merged)
UPDATE protector.customers SET notes = E'prefers the Arabic \u200f name', user_id = NULL WHERE id = '0a260000-0000-4000-8000-00000000c002';
UPDATE protector.customers SET notes = 'regular' WHERE id = '0a260000-0000-4000-8000-00000000c001';
RESET session_replication_role;
SELECT lives_ok($$SELECT protector.merge_customers('0a260000-0000-4000-8000-00000000c001', '0a260000-0000-4000-8000-00000000c002')$$,
	'customers are merged beside a 0.1.0 note with an invisible mark');
SELECT is((SELECT notes FROM protector.customers WHERE id = '0a260000-0000-4000-8000-00000000c001'), 'regular',
	'... the kept record keeps its own note');

SELECT * FROM finish();
ROLLBACK;
