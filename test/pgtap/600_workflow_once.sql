-- What a review of the workflow found (the thirty-third stop): a booking
-- inserted confirmed with an expiry written on it (a trusted import) was
-- announced to the desk with a "confirm by" time it did not need; and a
-- confirmed booking a trusted caller held again and confirmed again got
-- a second review task and a second booking.created notification (a
-- review task is made once per booking, DESIGN).
BEGIN;
SELECT plan(8);
SET LOCAL TimeZone = 'UTC';

INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0a600000-0000-4000-8000-000000000000', 'Once', 'workflow-once', 'UTC', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a600000-0000-4000-8000-0000000000a1', '0a600000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party)
VALUES ('0a600000-0000-4000-8000-0000000005a1', '0a600000-0000-4000-8000-000000000000', '0a600000-0000-4000-8000-0000000000a1',
		'Room', '1 hour', '1 hour', '30 days', 10, 4);
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, hold_expires_at)
VALUES ('0a600000-0000-4000-8000-00000000b001', '0a600000-0000-4000-8000-000000000000', '0a600000-0000-4000-8000-0000000000a1',
		'0a600000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('hour', now()) + interval '2 days', date_trunc('hour', now()) + interval '2 days 1 hour'),
		'confirmed', now() + interval '10 minutes');
SELECT is((SELECT payload -> 'confirm_by' FROM protector.notifications
		   WHERE booking_id = '0a600000-0000-4000-8000-00000000b001' AND kind = 'booking.created'), 'null'::jsonb,
	'a booking inserted confirmed has nothing to confirm by, whatever expiry was written on it');

UPDATE protector.bookings SET status = 'held', hold_expires_at = now() + interval '5 minutes'
WHERE id = '0a600000-0000-4000-8000-00000000b001';
UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0a600000-0000-4000-8000-00000000b001';
SELECT is((SELECT count(*)::int FROM protector.tasks WHERE booking_id = '0a600000-0000-4000-8000-00000000b001' AND kind = 'booking_review'), 1,
	'held again and confirmed again: still one review task');
SELECT is((SELECT count(*)::int FROM protector.notifications
		   WHERE booking_id = '0a600000-0000-4000-8000-00000000b001' AND kind = 'booking.created'), 1,
	'... and one booking.created notification');

-- a widget-style hold confirmed for the first time still gets its task
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, hold_expires_at)
VALUES ('0a600000-0000-4000-8000-00000000b002', '0a600000-0000-4000-8000-000000000000', '0a600000-0000-4000-8000-0000000000a1',
		'0a600000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('hour', now()) + interval '3 days', date_trunc('hour', now()) + interval '3 days 1 hour'),
		'held', now() + interval '10 minutes');
UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0a600000-0000-4000-8000-00000000b002';
SELECT is((SELECT count(*)::int FROM protector.tasks WHERE booking_id = '0a600000-0000-4000-8000-00000000b002' AND kind = 'booking_review'), 1,
	'a hold confirmed for the first time gets its review task');

-- a trusted correction: a cancelled booking set back to confirmed and
-- moved in the same update is not news (it told the desk "rescheduled"
-- of a booking it last heard was cancelled)
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a600000-0000-4000-8000-00000000b001';
UPDATE protector.bookings SET status = 'confirmed', during = tstzrange(lower(during) + interval '1 hour', upper(during) + interval '1 hour')
WHERE id = '0a600000-0000-4000-8000-00000000b001';
SELECT is((SELECT string_agg(kind, ',' ORDER BY kind) FROM protector.notifications
		   WHERE booking_id = '0a600000-0000-4000-8000-00000000b001'),
	'booking.cancelled,booking.created', 'a cancelled booking set back and moved at once tells the desk nothing more');
-- a lapsed hold (cancelled by expire_holds) set back to confirmed was
-- never announced: it got no review task and no booking.created
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, hold_expires_at)
VALUES ('0a600000-0000-4000-8000-00000000b003', '0a600000-0000-4000-8000-000000000000', '0a600000-0000-4000-8000-0000000000a1',
		'0a600000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('hour', now()) + interval '4 days', date_trunc('hour', now()) + interval '4 days 1 hour'),
		'held', now() + interval '10 minutes');
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a600000-0000-4000-8000-00000000b003';
UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0a600000-0000-4000-8000-00000000b003';
SELECT is((SELECT count(*)::int FROM protector.tasks WHERE booking_id = '0a600000-0000-4000-8000-00000000b003' AND kind = 'booking_review'), 1,
	'a lapsed hold set back to confirmed gets its review task');
SELECT is((SELECT string_agg(kind, ',' ORDER BY kind) FROM protector.notifications
		   WHERE booking_id = '0a600000-0000-4000-8000-00000000b003'),
	'booking.created', '... and the desk is told of it once, as created');
-- a booking announced, its review task deleted since (housekeeping),
-- cancelled and set back: a correction, not news (no review task was read
-- as never announced)
DELETE FROM protector.tasks WHERE booking_id = '0a600000-0000-4000-8000-00000000b002';
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a600000-0000-4000-8000-00000000b002';
UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0a600000-0000-4000-8000-00000000b002';
SELECT is((SELECT string_agg(kind, ',' ORDER BY kind) || ' ' || (SELECT count(*) FROM protector.tasks t WHERE t.booking_id = n.booking_id)
		   FROM protector.notifications n WHERE booking_id = '0a600000-0000-4000-8000-00000000b002' GROUP BY booking_id),
	'booking.cancelled,booking.created 0', 'a booking set back whose review task was deleted is not announced again');

SELECT * FROM finish();
ROLLBACK;
