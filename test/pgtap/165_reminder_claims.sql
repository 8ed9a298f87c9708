-- A claim's places go to reminders it hands out (found by a review of
-- reminders): claim_due_reminders took the oldest p_limit due reminders
-- and only then dropped those it could not send (a customer who opted
-- out, a booking no longer confirmed for that time), so a claim whose
-- first p_limit were all dropped answered none while others were due,
-- and the documented worker, which stops at an empty claim, stopped.
-- Now it claims again for the places left, in rounds.
-- And a customer's new address brings back the reminders their bookings
-- were confirmed with, not the organization's offsets of now.
BEGIN;
SELECT plan(6);

INSERT INTO protector.organizations (id, name, slug) VALUES ('0a165000-0000-4000-8000-000000000000', 'Claims', 'reminder-claims');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a165000-0000-4000-8000-0000000000a1', '0a165000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a165000-0000-4000-8000-0000000005a1', '0a165000-0000-4000-8000-000000000000', '0a165000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days', 100, 8, 'shared');
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a165000-0000-4000-8000-00000000c001', '0a165000-0000-4000-8000-000000000000', 'Opal', 'opal@example.com'),
	('0a165000-0000-4000-8000-00000000c002', '0a165000-0000-4000-8000-000000000000', 'Ann', 'ann@example.com');
-- one confirmed booking each, five days ahead: two reminders each (24 h
-- and 1 h before, the default offsets), not due yet
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
SELECT '0a165000-0000-4000-8000-000000000000', '0a165000-0000-4000-8000-0000000000a1', '0a165000-0000-4000-8000-0000000005a1',
	   c, tstzrange(date_trunc('hour', now()) + interval '5 days' + h * interval '1 hour',
					date_trunc('hour', now()) + interval '5 days' + (h + 1) * interval '1 hour'), 'confirmed'
FROM (VALUES ('0a165000-0000-4000-8000-00000000c001'::uuid, 1), ('0a165000-0000-4000-8000-00000000c002'::uuid, 2)) x(c, h);
-- Opal opts out; the clock is made to say all four are due, Opal's first
UPDATE protector.customers SET reminder_channel = 'none' WHERE id = '0a165000-0000-4000-8000-00000000c001';
UPDATE protector.booking_reminders r SET next_attempt_at = now() - CASE WHEN b.customer_id = '0a165000-0000-4000-8000-00000000c001'
																		THEN interval '2 minutes' ELSE interval '1 minute' END
FROM protector.bookings b WHERE b.id = r.booking_id AND b.organization_id = '0a165000-0000-4000-8000-000000000000';
SELECT is((SELECT count(*)::int FROM protector.booking_reminders WHERE organization_id = '0a165000-0000-4000-8000-000000000000'
		   AND status = 'pending' AND next_attempt_at <= now()), 4, 'four reminders are due, Opal''s two first');

SELECT tests.authenticate_as_service_role();
SELECT results_eq($$SELECT recipient, offset_minutes FROM protector.claim_due_reminders(2) ORDER BY offset_minutes$$,
	$$VALUES ('ann@example.com', 60), ('ann@example.com', 1440)$$,
	'a claim of two hands out Ann''s two, past Opal''s, which it drops (it answered none)');
SELECT tests.clear_authentication();
SELECT is((SELECT string_agg(DISTINCT r.status || ': ' || r.cancelled_reason, ', ') FROM protector.booking_reminders r
		   WHERE r.organization_id = '0a165000-0000-4000-8000-000000000000' AND r.status <> 'sending'),
	'cancelled: customer has no address for reminders', '... Opal''s are cancelled: she has no address for reminders now');

-- the organization's offsets change to 2 hours; Opal gives an address
-- again: her booking's reminders come back with the offsets it was
-- confirmed with (a 120 was added as well)
UPDATE protector.organizations SET settings = '{"reminders": {"offsets_minutes": [120]}}'
WHERE id = '0a165000-0000-4000-8000-000000000000';
UPDATE protector.customers SET reminder_channel = 'email' WHERE id = '0a165000-0000-4000-8000-00000000c001';
SELECT is((SELECT string_agg(format('%s %s', r.offset_minutes, r.status), ', ' ORDER BY r.offset_minutes)
		   FROM protector.booking_reminders r JOIN protector.bookings b ON b.id = r.booking_id
		   WHERE b.customer_id = '0a165000-0000-4000-8000-00000000c001'),
	'60 pending, 1440 pending', 'a customer''s new address brings back the offsets the booking was confirmed with, no others');

-- (a review of that) Opal's booking moved a day on and back: rescheduled,
-- it has the organization's 120 now; a new address then brings back no
-- reminder the reschedule cancelled
UPDATE protector.bookings SET during = tstzrange(lower(during) + interval '1 day', upper(during) + interval '1 day')
WHERE customer_id = '0a165000-0000-4000-8000-00000000c001';
UPDATE protector.bookings SET during = tstzrange(lower(during) - interval '1 day', upper(during) - interval '1 day')
WHERE customer_id = '0a165000-0000-4000-8000-00000000c001';
UPDATE protector.customers SET email = 'opal.new@example.com' WHERE id = '0a165000-0000-4000-8000-00000000c001';
SELECT is((SELECT string_agg(format('%s %s', r.offset_minutes, r.status), ', ' ORDER BY r.offset_minutes)
		   FROM protector.booking_reminders r JOIN protector.bookings b ON b.id = r.booking_id AND r.starts_at = lower(b.during)
		   WHERE b.customer_id = '0a165000-0000-4000-8000-00000000c001'),
	'60 cancelled, 120 pending, 1440 cancelled', '... a reminder a reschedule cancelled stays cancelled');

-- (a review) a phone 0.1.0 stored with letters or an extension is no SMS
-- address ("+1 800 FLOWERS" read +1800)
SET LOCAL session_replication_role = replica;
UPDATE protector.customers SET phone = '+1 800 FLOWERS', email = NULL WHERE id = '0a165000-0000-4000-8000-00000000c002';
RESET session_replication_role;
SELECT is((SELECT a.recipient FROM protector_internal.reminder_address('0a165000-0000-4000-8000-000000000000',
																		  '0a165000-0000-4000-8000-00000000c002', 'sms') a),
	NULL, 'a phone with letters is no address for SMS');

SELECT * FROM finish();
ROLLBACK;
