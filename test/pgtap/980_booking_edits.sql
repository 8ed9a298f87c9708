-- Staff's direct edits of a booking, found by an attack review of the
-- booking life cycle:
-- 1. a booking of a service that asks for a waiver went confirmed ->
--    completed in one step with no signature (only in_progress checked);
-- 2. a PATCH to cancelled by staff left cancelled_at empty (export_bookings
--    showed no time), and staff stamped a live booking cancelled a year ago;
-- 3. a manager's PATCH made a party of 50 in a room for 8 (and one of 1 in
--    a room for 2 to 6), which the booking's own reschedule then refused;
-- 4. a direct insert at a venue other than its service's got the
--    composite foreign key's bare 23503.
-- And what a review of those fixes found: the same through an insert, a
-- change of service, a trusted caller's PATCH, a time blanked, and a
-- completed booking's party grown past its signatures.
BEGIN;
SELECT plan(32);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['be_manager', 'be_operator', 'be_agent', 'be_outsider', 'be_customer']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a980000-0000-4000-8000-000000000000', 'Edits', 'booking-edits'),
	('0a980000-0000-4000-8000-000000000001', 'Other', 'booking-edits-other');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a980000-0000-4000-8000-000000000000', tests.get_supabase_uid('be_manager'), 'manager'),
	('0a980000-0000-4000-8000-000000000000', tests.get_supabase_uid('be_operator'), 'operator'),
	('0a980000-0000-4000-8000-000000000000', tests.get_supabase_uid('be_agent'), 'agent'),
	('0a980000-0000-4000-8000-000000000001', tests.get_supabase_uid('be_outsider'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a980000-0000-4000-8000-0000000000a1', '0a980000-0000-4000-8000-000000000000', 'North', 'UTC'),
	('0a980000-0000-4000-8000-0000000000a2', '0a980000-0000-4000-8000-000000000000', 'South', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode,
								min_party, max_party, price, price_per_person)
VALUES ('0a980000-0000-4000-8000-0000000005a1', '0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a1',
		'Vault', '60 minutes', '60 minutes', '30 days', 1, 'exclusive', 1, 8, 20, 25),
	   ('0a980000-0000-4000-8000-0000000005a2', '0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a1',
		'Shared', '60 minutes', '60 minutes', '30 days', 10, 'shared', 2, 6, 0, 15);
-- w1 started an hour ago (confirmed, a party of 2); b1 is tomorrow
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, party_size, unit_price, total_price) VALUES
	('0a980000-0000-4000-8000-0000000000c1', '0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a1',
	 '0a980000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('hour', now()) - interval '1 hour', date_trunc('hour', now())),
	 'confirmed', 2, 20, 70),
	('0a980000-0000-4000-8000-0000000000b1', '0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a1',
	 '0a980000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('hour', now()) + interval '1 day', date_trunc('hour', now()) + interval '25 hours'),
	 'confirmed', 4, 20, 120),
	('0a980000-0000-4000-8000-0000000000b2', '0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a1',
	 '0a980000-0000-4000-8000-0000000005a2', tstzrange(date_trunc('hour', now()) + interval '2 days', date_trunc('hour', now()) + interval '49 hours'),
	 'confirmed', 3, 0, 45);

-- 1. straight to completed
SELECT tests.authenticate_as('be_manager');
SELECT protector.update_service('0a980000-0000-4000-8000-0000000005a1',
	jsonb_build_object('waiver_id', protector.create_waiver('0a980000-0000-4000-8000-000000000000', 'Vault waiver', 'I play at my own risk.') ->> 'waiver_id'))
\g /dev/null
SELECT tests.authenticate_as('be_operator');
SELECT throws_ok($$SELECT protector.update_booking_status_batch(ARRAY['0a980000-0000-4000-8000-0000000000c1']::uuid[], 'completed')$$,
	'22023', '0 of 2 participants have signed the waiver "Vault waiver"',
	'a booking nobody signed for is not completed straight from confirmed');
SELECT throws_ok($$UPDATE protector.bookings SET status = 'completed' WHERE id = '0a980000-0000-4000-8000-0000000000c1'$$,
	'22023', '0 of 2 participants have signed the waiver "Vault waiver"', '... nor by a direct update');
SELECT lives_ok($$UPDATE protector.bookings SET status = 'no_show' WHERE id = '0a980000-0000-4000-8000-0000000000c1'$$,
	'nobody came: a no-show needs no signature');
SELECT tests.clear_authentication();
-- c2 in progress with its 2 signatures, then completed: its party does
-- not grow past them
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, party_size, unit_price, total_price) VALUES
	('0a980000-0000-4000-8000-0000000000c2', '0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a1',
	 '0a980000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('hour', now()) - interval '3 hours', date_trunc('hour', now()) - interval '2 hours'),
	 'confirmed', 2, 20, 70);
SELECT tests.authenticate_as('be_operator');
SELECT protector.submit_waiver((SELECT id FROM protector.waivers WHERE name = 'Vault waiver'), n, '1990-01-01', n, lower(n),
	'0a980000-0000-4000-8000-0000000000c2') FROM unnest(ARRAY['Ann Player', 'Ben Player']) n \g /dev/null
UPDATE protector.bookings SET status = 'in_progress' WHERE id = '0a980000-0000-4000-8000-0000000000c2';
UPDATE protector.bookings SET status = 'completed' WHERE id = '0a980000-0000-4000-8000-0000000000c2';
SELECT tests.authenticate_as('be_manager');
SELECT throws_ok($$UPDATE protector.bookings SET party_size = 8 WHERE id = '0a980000-0000-4000-8000-0000000000c2'$$,
	'22023', '2 of 8 participants have signed the waiver "Vault waiver"', 'a completed booking''s party does not grow past its signatures');
SELECT tests.clear_authentication();

-- (a completed booking handed to an agent who was not on shift then moved
-- its work, and its revenue in the staff figures, to them)
SELECT tests.authenticate_as('be_operator');
SELECT throws_ok($$UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('be_agent')
				   WHERE id = '0a980000-0000-4000-8000-0000000000c2'$$,
	'23P01', NULL, 'a completed booking is not handed to an agent who was not on shift for it');
SELECT tests.clear_authentication();

-- 2. a cancellation's time
SELECT tests.authenticate_as('be_operator');
SELECT throws_ok($$UPDATE protector.bookings SET cancelled_at = now() - interval '1 year', cancellation_reason = 'no'
				   WHERE id = '0a980000-0000-4000-8000-0000000000b1'$$,
	'22023', 'only a cancelled booking has a cancellation time', 'staff do not stamp a live booking cancelled');
UPDATE protector.bookings SET status = 'cancelled', cancelled_at = now() - interval '1 year'
WHERE id = '0a980000-0000-4000-8000-0000000000b1';
SELECT tests.clear_authentication();
SELECT is((SELECT cancelled_at FROM protector.bookings WHERE id = '0a980000-0000-4000-8000-0000000000b1'), now(),
	'staff''s PATCH to cancelled is stamped with the database''s time');
SELECT is((SELECT cancelled_at FROM protector.export_bookings('0a980000-0000-4000-8000-000000000000', current_date, current_date + 3)
		   WHERE booking_id = '0a980000-0000-4000-8000-0000000000b1'), now(), '... which the export shows');
SELECT tests.authenticate_as('be_operator');
SELECT throws_ok($$UPDATE protector.bookings SET cancelled_at = NULL WHERE id = '0a980000-0000-4000-8000-0000000000b1'$$,
	'22023', 'a cancelled booking keeps its cancellation time', 'nor do they blank a cancellation''s time');
SELECT throws_ok($$UPDATE protector.bookings SET cancelled_at = now() + interval '1 day' WHERE id = '0a980000-0000-4000-8000-0000000000b1'$$,
	'22023', 'a cancellation time is not in the future', '... or set it to come');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, service_id, during, party_size, cancelled_at)
				   VALUES ('0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000005a1',
						   tstzrange(date_trunc('hour', now()) + interval '5 days', date_trunc('hour', now()) + interval '121 hours'), 2, now() - interval '1 year')$$,
	'22023', 'only a cancelled booking has a cancellation time', 'a new live booking comes with no cancellation time');
INSERT INTO protector.bookings (id, organization_id, service_id, during, party_size, status)
VALUES ('0a980000-0000-4000-8000-0000000000b4', '0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('hour', now()) + interval '5 days', date_trunc('hour', now()) + interval '121 hours'), 2, 'cancelled');
SELECT tests.clear_authentication();
SELECT is((SELECT cancelled_at FROM protector.bookings WHERE id = '0a980000-0000-4000-8000-0000000000b4'), now(),
	'one written as cancelled without a time is stamped now');
-- a trusted caller's PATCH (a webhook's, service_role)
SAVEPOINT before_b2;
SELECT tests.authenticate_as_service_role();
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a980000-0000-4000-8000-0000000000b2';
SELECT tests.clear_authentication();
SELECT is((SELECT cancelled_at FROM protector.bookings WHERE id = '0a980000-0000-4000-8000-0000000000b2'), now(),
	'a webhook''s PATCH to cancelled is stamped too');
ROLLBACK TO SAVEPOINT before_b2;

-- 3. a party the service takes
SELECT tests.authenticate_as('be_manager');
SELECT throws_ok($$UPDATE protector.bookings SET party_size = 50 WHERE id = '0a980000-0000-4000-8000-0000000000b2'$$,
	'22023', 'the booking''s party of 50 is not allowed for service "Shared"',
	'a manager does not make a party of 50 in a service for 2 to 6');
SELECT throws_ok($$UPDATE protector.bookings SET party_size = 1 WHERE id = '0a980000-0000-4000-8000-0000000000b2'$$,
	'22023', 'the booking''s party of 1 is not allowed for service "Shared"', '... nor one of 1');
UPDATE protector.bookings SET party_size = 6 WHERE id = '0a980000-0000-4000-8000-0000000000b2';
SELECT tests.clear_authentication();
-- 0 + 15 x 6 = 90
SELECT results_eq($$SELECT party_size, total_price FROM protector.bookings WHERE id = '0a980000-0000-4000-8000-0000000000b2'$$,
	$$VALUES (6, 90.00::numeric)$$, 'a party of 6 is taken, and priced 0 + 15 x 6 = 90');
SELECT tests.authenticate_as('be_manager');
SELECT throws_ok($$UPDATE protector.bookings SET service_id = '0a980000-0000-4000-8000-0000000005a2', party_size = 1
				   WHERE id = '0a980000-0000-4000-8000-0000000000b4'$$,
	'22023', 'the booking''s party of 1 is not allowed for service "Shared"', 'nor is a party moved to a service that does not take it');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, service_id, during, party_size)
				   VALUES ('0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000005a1',
						   tstzrange(date_trunc('hour', now()) + interval '6 days', date_trunc('hour', now()) + interval '145 hours'), 50)$$,
	'22023', 'the booking''s party of 50 is not allowed for service "Vault"', 'nor is a new booking''s party of 50 in a room for 8');
SELECT tests.clear_authentication();

-- 4. a venue other than the service's
SELECT tests.authenticate_as('be_operator');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size)
				   VALUES ('0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a2', '0a980000-0000-4000-8000-0000000005a1',
						   tstzrange(date_trunc('hour', now()) + interval '3 days', date_trunc('hour', now()) + interval '73 hours'), 2)$$,
	'22023', 'a booking''s venue is its service''s', 'a direct insert at another venue than its service''s is named');
SELECT lives_ok($$INSERT INTO protector.bookings (id, organization_id, service_id, during, party_size)
				  VALUES ('0a980000-0000-4000-8000-0000000000b3', '0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000005a1',
						  tstzrange(date_trunc('hour', now()) + interval '3 days', date_trunc('hour', now()) + interval '73 hours'), 2)$$,
	'one that leaves the venue out is booked ...');
SELECT tests.clear_authentication();
SELECT is((SELECT venue_id FROM protector.bookings WHERE id = '0a980000-0000-4000-8000-0000000000b3'),
	'0a980000-0000-4000-8000-0000000000a1'::uuid, '... at its service''s venue');
-- a customer of the organization sees its venues and services: told so too
-- (a review found them given the bare foreign key, and no venue filled in)
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email)
VALUES ('0a980000-0000-4000-8000-00000000cc01', '0a980000-0000-4000-8000-000000000000', tests.get_supabase_uid('be_customer'), 'Cara', 'cara@x.test');
SELECT tests.authenticate_as('be_customer');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
				   VALUES ('0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a2', '0a980000-0000-4000-8000-0000000005a1',
						   '0a980000-0000-4000-8000-00000000cc01',
						   tstzrange(date_trunc('hour', now()) + interval '7 days', date_trunc('hour', now()) + interval '169 hours'), 'pending')$$,
	'22023', 'a booking''s venue is its service''s', 'a customer''s direct insert at another venue is named');
SELECT lives_ok($$INSERT INTO protector.bookings (organization_id, service_id, customer_id, during, status)
				  VALUES ('0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000005a1', '0a980000-0000-4000-8000-00000000cc01',
						  tstzrange(date_trunc('hour', now()) + interval '7 days', date_trunc('hour', now()) + interval '169 hours'), 'pending')$$,
	'... and one that leaves the venue out is booked');
SELECT tests.clear_authentication();
-- another tenant's service is answered as a random id is
SELECT tests.authenticate_as('be_outsider');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size)
				   VALUES ('0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a2', '0a980000-0000-4000-8000-0000000005a1',
						   tstzrange(date_trunc('hour', now()) + interval '4 days', date_trunc('hour', now()) + interval '97 hours'), 2)$$,
	'42501', NULL, 'an outsider naming another tenant''s service and venue is refused by the policy ...');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size)
				   VALUES ('0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a2', gen_random_uuid(),
						   tstzrange(date_trunc('hour', now()) + interval '4 days', date_trunc('hour', now()) + interval '97 hours'), 2)$$,
	'42501', NULL, '... as for a service that does not exist');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, service_id, during, party_size)
				   VALUES ('0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000005a1',
						   tstzrange(date_trunc('hour', now()) + interval '4 days', date_trunc('hour', now()) + interval '97 hours'), 2)$$,
	'42501', NULL, '... also leaving the venue out (not given the service''s)');
SELECT tests.clear_authentication();

-- (a later attack review) an operator's direct move of an expired hold,
-- which reschedule_booking refuses, went through (and a manager's, and
-- one ending a live hold in the same update); a customer's own
-- cancellation with p_issue_refund => false, or with
-- protector.refund_on_cancel off, forfeited the refund the terms owe
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, hold_expires_at)
VALUES ('0a980000-0000-4000-8000-0000000000e1', '0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a1',
		'0a980000-0000-4000-8000-0000000005a2',
		tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'),
		'held', now() - interval '1 minute');
SELECT tests.authenticate_as('be_operator');
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(lower(during) + interval '2 hours', upper(during) + interval '2 hours')
				   WHERE id = '0a980000-0000-4000-8000-0000000000e1'$$,
	'22023', 'the hold has expired', 'an operator''s direct move of an expired hold is refused, as reschedule_booking refuses it');
SELECT tests.authenticate_as('be_manager');
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(lower(during) + interval '2 hours', upper(during) + interval '2 hours')
				   WHERE id = '0a980000-0000-4000-8000-0000000000e1'$$,
	'22023', 'the hold has expired', '... and a manager''s, who may correct any column');
RESET ROLE;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, hold_expires_at)
VALUES ('0a980000-0000-4000-8000-0000000000e2', '0a980000-0000-4000-8000-000000000000', '0a980000-0000-4000-8000-0000000000a1',
		'0a980000-0000-4000-8000-0000000005a2',
		tstzrange(date_trunc('day', now()) + interval '3 days 14 hours', date_trunc('day', now()) + interval '3 days 15 hours'),
		'held', now() + interval '10 minutes');
SELECT tests.authenticate_as('be_operator');
SELECT throws_ok($$UPDATE protector.bookings SET hold_expires_at = now(),
					   during = tstzrange(lower(during) + interval '2 hours', upper(during) + interval '2 hours')
				   WHERE id = '0a980000-0000-4000-8000-0000000000e2'$$,
	'22023', 'the hold has expired', '... and so is a hold ended and moved in one update');
-- (Shared: 0 + 15 per person, no fee: a party of 2 pays 15 x 2 = 30, all
-- of it owed back on cancellation)
SELECT tests.authenticate_as('be_customer');
SELECT protector.create_booking('0a980000-0000-4000-8000-0000000005a2', '0a980000-0000-4000-8000-00000000cc01',
								date_trunc('day', now()) + interval '5 days 10 hours', 2) ->> 'id' AS cb1 \gset
SELECT protector.create_booking('0a980000-0000-4000-8000-0000000005a2', '0a980000-0000-4000-8000-00000000cc01',
								date_trunc('day', now()) + interval '5 days 12 hours', 2) ->> 'id' AS cb2 \gset
SELECT tests.authenticate_as('be_operator');
SELECT protector.create_booking('0a980000-0000-4000-8000-0000000005a2', '0a980000-0000-4000-8000-00000000cc01',
								date_trunc('day', now()) + interval '5 days 14 hours', 2) ->> 'id' AS cb3 \gset
SELECT tests.clear_authentication();
SELECT protector.record_payment(b, 30, 'cash', 'cv-' || b) IS NOT NULL FROM unnest(ARRAY[:'cb1', :'cb2', :'cb3']::uuid[]) b \g /dev/null
SELECT tests.authenticate_as('be_customer');
SELECT is((SELECT j ->> 'refund_amount' FROM protector.cancel_booking(:'cb1', NULL, false) j), '30.00',
	'a customer''s cancellation with p_issue_refund => false is refunded by the terms all the same: 30 of 30');
SELECT set_config('protector.refund_on_cancel', 'off', true) \g /dev/null
UPDATE protector.bookings SET status = 'cancelled' WHERE id = :'cb2';
SELECT set_config('protector.refund_on_cancel', 'on', true) \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT sum(amount) FROM protector.payments WHERE booking_id = :'cb2' AND kind = 'refund' AND status = 'pending'), 30.00,
	'... and so is one cancelled directly with protector.refund_on_cancel off: 30 pending');
SELECT tests.authenticate_as('be_operator');
SELECT is((SELECT j ->> 'refund_amount' FROM protector.cancel_booking(:'cb3', NULL, false) j), '0.00',
	'the desk cancels without the refund (one handled otherwise)');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
