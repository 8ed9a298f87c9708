-- Reminders at their edges (an attack review of reminders):
--  - a manual reminder that failed (or expired) reached nobody: the desk
--    sending again, to an address put right, was refused as if one "was
--    sent"; nor does one sent to the booking's last customer count for
--    its new one;
--  - a scheduled reminder sent to a booking's customer a moment before a
--    handover stayed theirs, while one whose report came a moment after
--    went to the new customer (complete_reminder): a handover now sends
--    it to the new customer either way;
--  - a booking confirmed again lost the reminders that came due while it
--    was not confirmed (a reschedule's are due at once); now they are too.
-- One transaction: now() is one instant; a reminder that came due is
-- written as the worker would have left it.
BEGIN;
SELECT plan(12);

SELECT tests.create_supabase_user('re_operator') IS NOT NULL AS made \gset
INSERT INTO protector.organizations (id, name, slug, currency, settings) VALUES
	('0a973000-0000-4000-8000-000000000000', 'Edges', 'reminder-edges', 'EUR',
	 '{"reminders": {"offsets_minutes": [60], "max_attempts": 1}}');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a973000-0000-4000-8000-000000000000', tests.get_supabase_uid('re_operator'), 'operator');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a973000-0000-4000-8000-0000000000a1', '0a973000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a973000-0000-4000-8000-0000000005a1', '0a973000-0000-4000-8000-000000000000', '0a973000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '15 minutes', '400 days', 100, 8, 'shared');
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a973000-0000-4000-8000-00000000c001', '0a973000-0000-4000-8000-000000000000', 'Ann', 'ann@example.com'),
	('0a973000-0000-4000-8000-00000000c002', '0a973000-0000-4000-8000-000000000000', 'Bob', 'bob@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0a973000-0000-4000-8000-0000000b000' || n)::uuid, '0a973000-0000-4000-8000-000000000000',
	   '0a973000-0000-4000-8000-0000000000a1', '0a973000-0000-4000-8000-0000000005a1', '0a973000-0000-4000-8000-00000000c001',
	   tstzrange(date_trunc('hour', now()) + n * interval '1 day', date_trunc('hour', now()) + n * interval '1 day 1 hour'), 'confirmed'
FROM generate_series(1, 2) n;

-- 1. a manual reminder that failed counts for nothing
SELECT tests.authenticate_as('re_operator');
SELECT (protector.send_booking_reminder('0a973000-0000-4000-8000-0000000b0001')).id IS NOT NULL AS queued \gset
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a973000-0000-4000-8000-0000000b0001')$$, '53400',
	'a reminder for this booking was sent less than 10 minutes ago', 'one on its way holds the next for 10 minutes');
SELECT tests.clear_authentication();
UPDATE protector.booking_reminders SET status = 'failed', attempts = 1, last_error = '550 no such mailbox',
	claimed_for = '0a973000-0000-4000-8000-00000000c001'
WHERE booking_id = '0a973000-0000-4000-8000-0000000b0001' AND kind = 'manual';
SELECT tests.authenticate_as('re_operator');
SELECT lives_ok($$SELECT protector.send_booking_reminder('0a973000-0000-4000-8000-0000000b0001')$$,
	'one that failed does not: the desk sends again');
SELECT tests.clear_authentication();
-- ... nor one sent to the last customer, once the booking is another's
-- (the failed one expired meanwhile: a handover would send it again)
UPDATE protector.booking_reminders SET status = 'expired'
WHERE booking_id = '0a973000-0000-4000-8000-0000000b0001' AND kind = 'manual' AND status = 'failed';
UPDATE protector.booking_reminders SET status = 'sent', sent_at = now(), attempts = 1, claimed_for = '0a973000-0000-4000-8000-00000000c001'
WHERE booking_id = '0a973000-0000-4000-8000-0000000b0001' AND kind = 'manual' AND status = 'pending';
UPDATE protector.bookings SET customer_id = '0a973000-0000-4000-8000-00000000c002' WHERE id = '0a973000-0000-4000-8000-0000000b0001';
SELECT tests.authenticate_as('re_operator');
SELECT lives_ok($$SELECT protector.send_booking_reminder('0a973000-0000-4000-8000-0000000b0001')$$,
	'one sent to Ann does not hold Bob''s, once the booking is his');
SELECT tests.clear_authentication();

-- 2. the scheduled one sent to Ann, then the booking handed to Bob: his
SELECT is((SELECT status || ' ' || (claimed_for IS NULL) FROM protector.booking_reminders
		   WHERE booking_id = '0a973000-0000-4000-8000-0000000b0002' AND kind = 'scheduled'), 'pending true',
	'(the one-hour reminder of the second booking is pending, claimed for nobody)');
UPDATE protector.booking_reminders SET status = 'sent', sent_at = now(), attempts = 1, claimed_for = '0a973000-0000-4000-8000-00000000c001'
WHERE booking_id = '0a973000-0000-4000-8000-0000000b0002' AND kind = 'scheduled';
UPDATE protector.bookings SET customer_id = '0a973000-0000-4000-8000-00000000c002' WHERE id = '0a973000-0000-4000-8000-0000000b0002';
SELECT is((SELECT status || ' ' || channel || ' ' || (claimed_for IS NULL) FROM protector.booking_reminders
		   WHERE booking_id = '0a973000-0000-4000-8000-0000000b0002' AND kind = 'scheduled'), 'pending email true',
	'a reminder sent to Ann just before the handover goes to Bob, as one whose report came after it does');

-- 3. confirmed again: the reminder that came due while pending is due now
-- (a booking starting in 30 minutes, whose one-hour reminder came due
-- while it was pending: written as the worker found it)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a973000-0000-4000-8000-0000000b0003', '0a973000-0000-4000-8000-000000000000', '0a973000-0000-4000-8000-0000000000a1',
		'0a973000-0000-4000-8000-0000000005a1', '0a973000-0000-4000-8000-00000000c001',
		tstzrange(now() + interval '30 minutes', now() + interval '90 minutes'), 'pending');
INSERT INTO protector.booking_reminders (organization_id, booking_id, kind, offset_minutes, channel, starts_at, due_at,
										 next_attempt_at, status, cancelled_reason)
VALUES ('0a973000-0000-4000-8000-000000000000', '0a973000-0000-4000-8000-0000000b0003', 'scheduled', 60, 'email',
		now() + interval '30 minutes', now() - interval '30 minutes', now() - interval '30 minutes', 'cancelled', 'booking pending');
UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0a973000-0000-4000-8000-0000000b0003';
SELECT is((SELECT status || ' ' || (next_attempt_at <= now()) FROM protector.booking_reminders
		   WHERE booking_id = '0a973000-0000-4000-8000-0000000b0003' AND kind = 'scheduled'), 'pending true',
	'a booking confirmed again gets the reminder that came due meanwhile, due now');

-- 4. of many manual reminders that failed, a handover sends the newest
-- only (each came back, and the new customer got them all: a review)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a973000-0000-4000-8000-0000000b0004', '0a973000-0000-4000-8000-000000000000', '0a973000-0000-4000-8000-0000000000a1',
		'0a973000-0000-4000-8000-0000000005a1', '0a973000-0000-4000-8000-00000000c001',
		tstzrange(date_trunc('hour', now()) + interval '4 days', date_trunc('hour', now()) + interval '4 days 1 hour'), 'confirmed');
CREATE FUNCTION pg_temp.send_and_fail() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM tests.authenticate_as('re_operator');
	PERFORM protector.send_booking_reminder('0a973000-0000-4000-8000-0000000b0004');
	PERFORM tests.clear_authentication();
	UPDATE protector.booking_reminders SET status = 'failed', attempts = 1, claimed_for = '0a973000-0000-4000-8000-00000000c001'
	WHERE booking_id = '0a973000-0000-4000-8000-0000000b0004' AND kind = 'manual' AND status = 'pending';
END
$$;
SELECT pg_temp.send_and_fail() FROM generate_series(1, 3);
UPDATE protector.bookings SET customer_id = '0a973000-0000-4000-8000-00000000c002' WHERE id = '0a973000-0000-4000-8000-0000000b0004';
SELECT is((SELECT count(*)::int FROM protector.booking_reminders
		   WHERE booking_id = '0a973000-0000-4000-8000-0000000b0004' AND kind = 'manual' AND status = 'pending'), 1,
	'three manual reminders failed for Ann: one goes to Bob');
-- ... and that one, on its way, holds the desk's next, however old
UPDATE protector.booking_reminders SET created_at = now() - interval '1 hour'
WHERE booking_id = '0a973000-0000-4000-8000-0000000b0004' AND kind = 'manual';
SELECT tests.authenticate_as('re_operator');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a973000-0000-4000-8000-0000000b0004')$$, '53400', NULL,
	'... and holds the desk''s next while it is on its way, however old');
SELECT tests.clear_authentication();
-- ... and a failed one beside a newer one on its way stays failed: the
-- newer goes to the new customer (a review)
UPDATE protector.booking_reminders SET status = 'failed', attempts = 1, claimed_for = '0a973000-0000-4000-8000-00000000c002'
WHERE booking_id = '0a973000-0000-4000-8000-0000000b0004' AND kind = 'manual' AND status = 'pending';
SELECT tests.authenticate_as('re_operator');
SELECT (protector.send_booking_reminder('0a973000-0000-4000-8000-0000000b0004')).id IS NOT NULL AS queued_again \gset
SELECT tests.clear_authentication();
UPDATE protector.bookings SET customer_id = '0a973000-0000-4000-8000-00000000c001' WHERE id = '0a973000-0000-4000-8000-0000000b0004';
SELECT is((SELECT count(*)::int FROM protector.booking_reminders
		   WHERE booking_id = '0a973000-0000-4000-8000-0000000b0004' AND kind = 'manual' AND status = 'pending'), 1,
	'handed back to Ann with one on its way: no failed one comes back beside it');

-- 5. another customer in the same change as a status: the reminder sent
-- to the last one goes to the new one too (it was left behind: a review)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a973000-0000-4000-8000-0000000b0005', '0a973000-0000-4000-8000-000000000000', '0a973000-0000-4000-8000-0000000000a1',
		'0a973000-0000-4000-8000-0000000005a1', '0a973000-0000-4000-8000-00000000c001',
		tstzrange(date_trunc('hour', now()) + interval '5 days', date_trunc('hour', now()) + interval '5 days 1 hour'), 'confirmed');
UPDATE protector.booking_reminders SET status = 'sent', sent_at = now(), attempts = 1, claimed_for = '0a973000-0000-4000-8000-00000000c001'
WHERE booking_id = '0a973000-0000-4000-8000-0000000b0005' AND kind = 'scheduled';
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a973000-0000-4000-8000-0000000b0005';
UPDATE protector.bookings SET status = 'confirmed', customer_id = '0a973000-0000-4000-8000-00000000c002'
WHERE id = '0a973000-0000-4000-8000-0000000b0005';
SELECT is((SELECT status || ' ' || (claimed_for IS NULL) FROM protector.booking_reminders
		   WHERE booking_id = '0a973000-0000-4000-8000-0000000b0005' AND kind = 'scheduled'), 'pending true',
	'confirmed again and handed to Bob in one change: the reminder Ann had goes to Bob');

-- 5. the 10 minutes count from when a manual reminder was sent, not from
-- when it was queued (a docs review: one queued 15 minutes ago and sent a
-- moment ago, after retries or a late worker, let the desk send another
-- at once)
SELECT tests.authenticate_as('re_operator');
SELECT (protector.send_booking_reminder('0a973000-0000-4000-8000-0000000b0002')).id AS late \gset
SELECT tests.clear_authentication();
UPDATE protector.booking_reminders SET created_at = now() - interval '15 minutes', status = 'sent', sent_at = now(), attempts = 3,
	claimed_for = '0a973000-0000-4000-8000-00000000c002'
WHERE id = :'late';
SELECT tests.authenticate_as('re_operator');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a973000-0000-4000-8000-0000000b0002')$$, '53400',
	'a reminder for this booking was sent less than 10 minutes ago', 'one queued 15 minutes ago and sent a moment ago holds the next');
SELECT tests.clear_authentication();
UPDATE protector.booking_reminders SET sent_at = now() - interval '11 minutes' WHERE id = :'late';
SELECT tests.authenticate_as('re_operator');
SELECT lives_ok($$SELECT protector.send_booking_reminder('0a973000-0000-4000-8000-0000000b0002')$$,
	'... and 11 minutes after it was sent, the desk sends another');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
