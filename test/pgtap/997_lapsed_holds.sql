-- A hold that lapsed or was cancelled never became a booking, and counts
-- nowhere, as a hold does (an attack review of reports: each checkout the
-- sweep expired became a booking and a cancellation in every count, the
-- dashboard's cancellation rate 8.3 -> 15.4 % for one abandoned checkout).
-- A hold cancelled keeps its hold_expires_at; one made a booking loses it;
-- no other booking has one (a review of the fix: staff wrote an expiry on
-- a confirmed booking, cancelled it, and it left every count).
BEGIN;
-- (today as the organization's zone, UTC, has it)
SET LOCAL timezone = 'UTC';
SELECT plan(17);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['lh_owner', 'lh_operator']) u;
INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0a997000-0000-4000-8000-000000000000', 'Lapsed', 'lapsed-holds', 'UTC', 'EUR');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a997000-0000-4000-8000-000000000000', tests.get_supabase_uid('lh_owner'), 'owner'),
	   ('0a997000-0000-4000-8000-000000000000', tests.get_supabase_uid('lh_operator'), 'operator');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a997000-0000-4000-8000-0000000000a1', '0a997000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, price)
VALUES ('0a997000-0000-4000-8000-0000000005a1', '0a997000-0000-4000-8000-000000000000', '0a997000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '30 days', 1, 40);
-- today (UTC, the organization's zone), from 01:00 on: a confirmed booking, a hold that
-- lapsed a minute ago (cancelled by the sweep below), a hold made a booking
-- (its expiry cleared), and one cancelled by the desk
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, hold_expires_at, unit_price, total_price) VALUES
	('0a997000-0000-4000-8000-0000000000b1', '0a997000-0000-4000-8000-000000000000', '0a997000-0000-4000-8000-0000000000a1',
	 '0a997000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('day', now()) + interval '1 hour', date_trunc('day', now()) + interval '2 hours'),
	 'confirmed', NULL, 40, 40),
	('0a997000-0000-4000-8000-0000000000b2', '0a997000-0000-4000-8000-000000000000', '0a997000-0000-4000-8000-0000000000a1',
	 '0a997000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('day', now()) + interval '2 hours', date_trunc('day', now()) + interval '3 hours'),
	 'held', now() - interval '1 minute', 40, 40),
	('0a997000-0000-4000-8000-0000000000b3', '0a997000-0000-4000-8000-000000000000', '0a997000-0000-4000-8000-0000000000a1',
	 '0a997000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('day', now()) + interval '3 hours', date_trunc('day', now()) + interval '4 hours'),
	 'held', now() + interval '10 minutes', 40, 40);
SELECT protector.expire_holds(1000) \g /dev/null
SELECT is((SELECT status || ' ' || (hold_expires_at IS NOT NULL) FROM protector.bookings WHERE id = '0a997000-0000-4000-8000-0000000000b2'),
	'cancelled true', 'the sweep cancels the lapsed hold, which keeps its expiry');
UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0a997000-0000-4000-8000-0000000000b3';
SELECT tests.authenticate_as('lh_owner');
SELECT results_eq($$SELECT metric, value FROM protector.get_dashboard_stats('0a997000-0000-4000-8000-000000000000')
					WHERE metric IN ('bookings', 'cancellation_rate') ORDER BY metric$$,
	$$VALUES ('bookings', 2::numeric), ('cancellation_rate', 0::numeric)$$,
	'the dashboard counts the two bookings, and no cancellation (the lapsed hold made it 3 and 33.3)');
SELECT is((SELECT sum(cancelled)::int FROM protector.get_weekly_bookings_trend('0a997000-0000-4000-8000-000000000000', NULL, 1)), 0,
	'... and so does the weekly trend');
SELECT results_eq($$SELECT status::text, bookings::int FROM protector.generate_booking_report('0a997000-0000-4000-8000-000000000000', current_date, current_date + 1)$$,
	$$VALUES ('confirmed', 2)$$, '... and the booking report');
SELECT is((protector.get_venue_analytics('0a997000-0000-4000-8000-0000000000a1', current_date, current_date + 1) ->> 'cancellations')::int, 0,
	'... and the venue''s analytics');
SELECT results_eq($$SELECT booking_id, status::text FROM protector.export_bookings('0a997000-0000-4000-8000-000000000000', current_date, current_date)$$,
	$$VALUES ('0a997000-0000-4000-8000-0000000000b1'::uuid, 'confirmed'), ('0a997000-0000-4000-8000-0000000000b3', 'confirmed')$$,
	'... and the export (it listed the lapsed hold as a cancelled booking)');
-- a booking cancelled by the desk is a cancellation
SELECT protector.cancel_booking('0a997000-0000-4000-8000-0000000000b3', 'customer called') \g /dev/null
SELECT results_eq($$SELECT metric, value FROM protector.get_dashboard_stats('0a997000-0000-4000-8000-000000000000')
					WHERE metric IN ('bookings', 'cancellation_rate') ORDER BY metric$$,
	$$VALUES ('bookings', 2::numeric), ('cancellation_rate', 50::numeric)$$,
	'a booking cancelled is a cancellation: 1 of 2 = 50 %');
SELECT is((protector.get_venue_analytics('0a997000-0000-4000-8000-0000000000a1', current_date, current_date + 1) ->> 'cancellations')::int, 1,
	'... in the venue''s analytics too');
SELECT tests.clear_authentication();

-- an expiry is a hold's
SELECT tests.authenticate_as('lh_operator');
UPDATE protector.bookings SET hold_expires_at = now() WHERE id = '0a997000-0000-4000-8000-0000000000b1';
SELECT is((SELECT hold_expires_at FROM protector.bookings WHERE id = '0a997000-0000-4000-8000-0000000000b1'), NULL,
	'an expiry written on a confirmed booking is not kept');
SELECT protector.cancel_booking('0a997000-0000-4000-8000-0000000000b1', 'storm') \g /dev/null
SELECT is((SELECT value FROM protector.get_dashboard_stats('0a997000-0000-4000-8000-000000000000') WHERE metric = 'cancellation_rate'),
	100::numeric, '... so its cancellation counts: 2 of 2');
INSERT INTO protector.bookings (id, organization_id, service_id, during, status, hold_expires_at)
VALUES ('0a997000-0000-4000-8000-0000000000b4', '0a997000-0000-4000-8000-000000000000', '0a997000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '3 days', date_trunc('day', now()) + interval '3 days 1 hour'), 'pending', now() + interval '1 hour');
SELECT is((SELECT hold_expires_at FROM protector.bookings WHERE id = '0a997000-0000-4000-8000-0000000000b4'), NULL,
	'nor one written on a new pending booking');
UPDATE protector.bookings SET hold_expires_at = NULL WHERE id = '0a997000-0000-4000-8000-0000000000b2';
SELECT isnt((SELECT hold_expires_at FROM protector.bookings WHERE id = '0a997000-0000-4000-8000-0000000000b2'), NULL,
	'a cancelled hold keeps its expiry: the update leaves it');
INSERT INTO protector.bookings (id, organization_id, service_id, during, status, hold_expires_at)
VALUES ('0a997000-0000-4000-8000-0000000000b5', '0a997000-0000-4000-8000-000000000000', '0a997000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '4 days', date_trunc('day', now()) + interval '4 days 1 hour'), 'cancelled', now());
SELECT is((SELECT hold_expires_at FROM protector.bookings WHERE id = '0a997000-0000-4000-8000-0000000000b5'), NULL,
	'staff writing a new cancelled booking give it no expiry (it would count nowhere)');
SELECT tests.clear_authentication();
-- (an expiry written and dropped changes nothing: the row keeps its stamp)
ALTER TABLE protector.bookings DISABLE TRIGGER USER;
UPDATE protector.bookings SET updated_at = '2020-01-01' WHERE id = '0a997000-0000-4000-8000-0000000000b4';
ALTER TABLE protector.bookings ENABLE TRIGGER USER;
SELECT tests.authenticate_as('lh_operator');
UPDATE protector.bookings SET hold_expires_at = now() WHERE id = '0a997000-0000-4000-8000-0000000000b4';
SELECT tests.clear_authentication();
SELECT is((SELECT updated_at FROM protector.bookings WHERE id = '0a997000-0000-4000-8000-0000000000b4'), '2020-01-01'::timestamptz,
	'an expiry written on a pending booking and dropped leaves its updated_at as it was');
-- a trusted caller's un-cancellation of the lapsed hold
SELECT tests.authenticate_as_service_role();
UPDATE protector.bookings SET status = 'confirmed', cancelled_at = NULL, cancellation_reason = NULL
WHERE id = '0a997000-0000-4000-8000-0000000000b2';
SELECT tests.clear_authentication();
SELECT is((SELECT hold_expires_at FROM protector.bookings WHERE id = '0a997000-0000-4000-8000-0000000000b2'), NULL,
	'a lapsed hold made a booking again by a trusted caller has no expiry left');
-- a trusted caller may clear a cancelled hold's expiry (a correction)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, hold_expires_at, unit_price, total_price)
VALUES ('0a997000-0000-4000-8000-0000000000b6', '0a997000-0000-4000-8000-000000000000', '0a997000-0000-4000-8000-0000000000a1',
		'0a997000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('day', now()) + interval '5 days', date_trunc('day', now()) + interval '5 days 1 hour'),
		'held', now() - interval '1 minute', 40, 40);
SELECT protector.expire_holds(1000) \g /dev/null
SELECT tests.authenticate_as_service_role();
UPDATE protector.bookings SET hold_expires_at = NULL WHERE id = '0a997000-0000-4000-8000-0000000000b6';
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT status::text, hold_expires_at FROM protector.bookings WHERE id = '0a997000-0000-4000-8000-0000000000b6'$$,
	$$VALUES ('cancelled', NULL::timestamptz)$$, 'a trusted caller clears a cancelled hold''s expiry, a correction');

-- ... but a hold that took money before it was cancelled stays in the
-- export: the revenue report counts its payment (a review of that fix)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, hold_expires_at, unit_price, total_price)
VALUES ('0a997000-0000-4000-8000-0000000000b7', '0a997000-0000-4000-8000-000000000000', '0a997000-0000-4000-8000-0000000000a1',
		'0a997000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('day', now()) + interval '6 hours', date_trunc('day', now()) + interval '7 hours'),
		'held', now() + interval '10 minutes', 40, 40);
SELECT protector.record_payment('0a997000-0000-4000-8000-0000000000b7', 40) \g /dev/null
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a997000-0000-4000-8000-0000000000b7';
-- (and one whose card was refused at checkout took none: it goes)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, hold_expires_at, unit_price, total_price)
VALUES ('0a997000-0000-4000-8000-0000000000b8', '0a997000-0000-4000-8000-000000000000', '0a997000-0000-4000-8000-0000000000a1',
		'0a997000-0000-4000-8000-0000000005a1', tstzrange(date_trunc('day', now()) + interval '8 hours', date_trunc('day', now()) + interval '9 hours'),
		'held', now() + interval '10 minutes', 40, 40);
SELECT protector.record_payment('0a997000-0000-4000-8000-0000000000b8', 40, 'stripe', 'pi_refused', p_status => 'failed') \g /dev/null
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a997000-0000-4000-8000-0000000000b8';
SELECT tests.authenticate_as('lh_owner');
SELECT results_eq($$SELECT booking_id, status::text FROM protector.export_bookings('0a997000-0000-4000-8000-000000000000', current_date, current_date)
					WHERE booking_id IN ('0a997000-0000-4000-8000-0000000000b7', '0a997000-0000-4000-8000-0000000000b8')$$,
	$$VALUES ('0a997000-0000-4000-8000-0000000000b7'::uuid, 'cancelled')$$,
	'a cancelled hold that took money stays in the export; one whose payment failed does not');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
