-- What an erasure reads of payments and notifications, counted in rows
-- (not time).  erase_customer scrubbed the payments of the customer's
-- bookings and those once theirs in one UPDATE whose OR read every payment
-- of the organization, and found notifications by their ids as text (no
-- index): an attack at scale measured 1.3 s of 2.6 s in the payments alone
-- for a customer of 8 bookings among 400,000.  Each goes through an index
-- now (scrub_customer_rows, sql/97_lifecycle.sql).
BEGIN;
SELECT plan(4);

INSERT INTO protector.organizations (id, name, slug) VALUES ('0a402000-0000-4000-8000-000000000000', 'E', 'erasure-reads');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a402000-0000-4000-8000-0000000000a1', '0a402000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, mode, capacity)
VALUES ('0a402000-0000-4000-8000-0000000005a1', '0a402000-0000-4000-8000-000000000000', '0a402000-0000-4000-8000-0000000000a1',
		'S', '30 minutes', '30 minutes', 'shared', 100000);
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a402000-0000-4000-8000-00000000c001', '0a402000-0000-4000-8000-000000000000', 'Erin Erased', 'erin@example.com');
-- the customer's 2 bookings, 3,000 of others; a payment and a desk
-- notification each
SET LOCAL session_replication_role = replica;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, currency)
SELECT ('0a402000-0000-4000-8000-0000000' || lpad(k::text, 5, '0'))::uuid, '0a402000-0000-4000-8000-000000000000',
	   '0a402000-0000-4000-8000-0000000000a1', '0a402000-0000-4000-8000-0000000005a1',
	   CASE WHEN k <= 2 THEN '0a402000-0000-4000-8000-00000000c001'::uuid END,
	   tstzrange(now() - k * interval '1 hour', now() - k * interval '1 hour' + interval '30 minutes'), 'completed', 'USD'
FROM generate_series(1, 3002) k;
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status, details)
SELECT b.organization_id, b.id, 10, 'USD', 'succeeded', '{"payer": "someone"}' FROM protector.bookings b
WHERE b.organization_id = '0a402000-0000-4000-8000-000000000000';
INSERT INTO protector.notifications (organization_id, booking_id, kind, payload)
SELECT b.organization_id, b.id, 'booking.created', '{}' FROM protector.bookings b
WHERE b.organization_id = '0a402000-0000-4000-8000-000000000000';
SET LOCAL session_replication_role = origin;
ANALYZE protector.bookings, protector.payments, protector.notifications;

CREATE TEMP TABLE counts (what text, n bigint);
INSERT INTO counts SELECT 'payments', tests.rows_read('protector.payments');
INSERT INTO counts SELECT 'notifications', tests.rows_read('protector.notifications');
SELECT is(protector.erase_customer('0a402000-0000-4000-8000-00000000c001') ->> 'already_erased', 'false',
	'the customer is erased');
SELECT cmp_ok(tests.rows_read('protector.payments') - (SELECT n FROM counts WHERE what = 'payments'), '<', 300::bigint,
	'... reading fewer than 300 payment rows, not the organization''s 3,002');
SELECT cmp_ok(tests.rows_read('protector.notifications') - (SELECT n FROM counts WHERE what = 'notifications'), '<', 300::bigint,
	'... and fewer than 300 notification rows');
SELECT is((SELECT string_agg(p.details::text, ' ' ORDER BY p.booking_id) FROM protector.payments p
		   WHERE p.booking_id IN ('0a402000-0000-4000-8000-000000000001', '0a402000-0000-4000-8000-000000000002')),
	(SELECT string_agg(protector_internal.erased_payment_details('{"payer": "someone"}')::text, ' ') FROM generate_series(1, 2)),
	'... and their 2 payments are scrubbed');

SELECT * FROM finish();
ROLLBACK;
