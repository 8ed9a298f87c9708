-- A restore's ordering (sql/98_restore.sql, docs/operations.md): while
-- restoring (row_security = off, as pg_dump's output sets it, by a role
-- that bypasses RLS) a row whose references have not been loaded yet is
-- set aside in restore_pending, and goes in after an INSERT statement of
-- another table has loaded what it refers to.  Bookings do it in their C
-- trigger prepare_booking(), the tables reports read in report_change();
-- the other tables in triggers of their own.  Under
-- session_replication_role = replica (Supabase's data-only recipe) nothing
-- is set aside: foreign keys do not fire either.
BEGIN;
SELECT plan(19);

INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a200000-0000-4000-8000-000000000000', 'Restore order', 'restore-order');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a200000-0000-4000-8000-0000000000a1', '0a200000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');

SET LOCAL row_security = off;
CREATE TEMP TABLE restore_seen (restoring boolean);
GRANT INSERT ON restore_seen TO service_role;
-- (an INSERT of one of protector's tables, as a restore's; the probe row
-- goes again below)
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('0a200000-0000-4000-8000-0000000000ff', 'Probe', 'restore-probe',
		jsonb_build_object('custom', jsonb_build_object('restoring', protector_internal.restoring())));
SELECT ok((SELECT (settings #>> '{custom,restoring}')::boolean FROM protector.organizations WHERE slug = 'restore-probe'),
	'row_security = off by a superuser is a restore in the INSERT (or COPY) statements of protector''s tables a restore runs');
DELETE FROM protector.organizations WHERE slug = 'restore-probe';
INSERT INTO restore_seen SELECT protector_internal.restoring();
SELECT ok(NOT (SELECT restoring FROM restore_seen) AND NOT protector_internal.restoring(),
	'... and not in any other statement: an INSERT into a table of another schema (an RPC called in it), an RPC''s SELECT, an UPDATE or a DELETE is a change, audited and checked');

-- a booking loaded before its service (bookings: prepare_booking)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, currency, status) VALUES
	('0a200000-0000-4000-8000-0000000b0001', '0a200000-0000-4000-8000-000000000000', '0a200000-0000-4000-8000-0000000000a1',
	 '0a200000-0000-4000-8000-0000000005a1', '[2031-01-06 10:00+00, 2031-01-06 11:00+00)', 'EUR', 'confirmed');
SELECT is((SELECT count(*) FROM protector.bookings WHERE id = '0a200000-0000-4000-8000-0000000b0001'), 0::bigint,
	'a booking whose service has not been loaded is not stored yet');
SELECT is((SELECT row_data ->> 'id' FROM protector_internal.restore_pending WHERE relid = 'protector.bookings'::regclass),
	'0a200000-0000-4000-8000-0000000b0001', 'it waits in restore_pending');

-- the service's load brings it in (services: report_change)
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) VALUES
	('0a200000-0000-4000-8000-0000000005a1', '0a200000-0000-4000-8000-000000000000', '0a200000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days');
SELECT results_eq($$SELECT currency, status::text FROM protector.bookings WHERE id = '0a200000-0000-4000-8000-0000000b0001'$$,
	$$VALUES ('EUR', 'confirmed')$$, 'after the service''s INSERT statement the booking is stored as it was dumped');
SELECT is((SELECT count(*) FROM protector_internal.restore_pending), 0::bigint, 'nothing is left aside');

-- a venue loaded before its organization (venues: a trigger of its own;
-- organizations: insert_restored_pending's own trigger)
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a200000-0000-4000-8000-0000000000a2', '0a200000-0000-4000-8000-000000000001', 'Later', 'UTC', '{}');
SELECT is((SELECT count(*) FROM protector_internal.restore_pending WHERE relid = 'protector.venues'::regclass), 1::bigint,
	'a venue whose organization has not been loaded waits');
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a200000-0000-4000-8000-000000000001', 'Later', 'restore-order-later');
SELECT is((SELECT name FROM protector.venues WHERE id = '0a200000-0000-4000-8000-0000000000a2'), 'Later',
	'the organization''s load brings it in');
SELECT is((SELECT count(*) FROM protector_internal.restore_pending), 0::bigint, 'nothing is left aside');

-- (a review) a booking set aside in a session whose DateStyle is not ISO
-- comes back at its time: its range was kept as text in the session's
-- style, "Fri Jan 10 18:00:00 2031 CST" in Shanghai, and CST read back as
-- the US's (fourteen hours later); a parallel restore's sessions take the
-- database's settings
SET LOCAL DateStyle = 'Postgres, MDY';
SET LOCAL TimeZone = 'Asia/Shanghai';
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, currency, status) VALUES
	('0a200000-0000-4000-8000-0000000b00d5', '0a200000-0000-4000-8000-000000000000', '0a200000-0000-4000-8000-0000000000a1',
	 '0a200000-0000-4000-8000-0000000005d5', '[2031-01-10 10:00+00, 2031-01-10 11:00+00)', 'EUR', 'confirmed');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) VALUES
	('0a200000-0000-4000-8000-0000000005d5', '0a200000-0000-4000-8000-000000000000', '0a200000-0000-4000-8000-0000000000a1',
	 'Room 2', '60 minutes', '60 minutes', '400 days');
SELECT is((SELECT during FROM protector.bookings WHERE id = '0a200000-0000-4000-8000-0000000b00d5'),
	'[2031-01-10 10:00+00, 2031-01-10 11:00+00)'::tstzrange, 'a booking set aside under another DateStyle keeps its time');
RESET DateStyle;
RESET TimeZone;

-- Supabase's recipe: no ordering, no foreign keys
SET LOCAL session_replication_role = replica;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, currency, status) VALUES
	('0a200000-0000-4000-8000-0000000b0002', '0a200000-0000-4000-8000-000000000000', '0a200000-0000-4000-8000-0000000000a1',
	 '0a200000-0000-4000-8000-0000000005a9', '[2031-01-06 12:00+00, 2031-01-06 13:00+00)', 'EUR', 'confirmed');
SELECT is((SELECT count(*) FROM protector.bookings WHERE id = '0a200000-0000-4000-8000-0000000b0002'), 1::bigint,
	'under session_replication_role = replica a row is stored as it comes');
SELECT is((SELECT count(*) FROM protector_internal.restore_pending), 0::bigint, '... and nothing is set aside');
RESET session_replication_role;

-- the tables whose C triggers do it have no trigger of their own for it
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'protector.bookings'::regclass
		   AND tgname IN ('a_restore_order', 'z_insert_restored_pending')), 0::bigint,
	'bookings: the ordering step and the pending inserts run in its C triggers');

-- an UPDATE or DELETE with row_security off is no restore: service_role
-- moved a booking onto another, changed a payment and deleted a customer
-- with no audit row, the reservation check and the ledger off
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, currency, status, total_price) VALUES
	('0a200000-0000-4000-8000-0000000b0003', '0a200000-0000-4000-8000-000000000000', '0a200000-0000-4000-8000-0000000000a1',
	 '0a200000-0000-4000-8000-0000000005a1', '[2031-01-06 14:00+00, 2031-01-06 15:00+00)', 'EUR', 'confirmed', 10);
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status)
VALUES ('0a200000-0000-4000-8000-000000000000', '0a200000-0000-4000-8000-0000000b0003', 10, 'EUR', 'succeeded');
SELECT tests.authenticate_as_service_role();
SELECT throws_ok($$UPDATE protector.bookings SET during = '[2031-01-06 10:00+00, 2031-01-06 11:00+00)'
				   WHERE id = '0a200000-0000-4000-8000-0000000b0003'$$, '23P01', NULL,
	'service_role with row_security off cannot move a booking onto another');
UPDATE protector.payments SET amount = 4 WHERE booking_id = '0a200000-0000-4000-8000-0000000b0003';
SELECT results_eq($$SELECT amount_paid FROM protector.bookings WHERE id = '0a200000-0000-4000-8000-0000000b0003'$$,
	$$VALUES (4.00::numeric)$$, '... a payment it changes moves the booking''s amount paid: 10 -> 4');
SELECT is((SELECT count(*) FROM protector.audit_log WHERE table_name = 'protector.payments' AND op = 'UPDATE'), 1::bigint,
	'... and is audited (it left no audit row)');
-- nor inside an INSERT: a writable CTE is a change too
SELECT throws_ok($$WITH u AS (UPDATE protector.bookings SET during = '[2031-01-06 10:00+00, 2031-01-06 11:00+00)'
						   WHERE id = '0a200000-0000-4000-8000-0000000b0003' RETURNING true)
				   INSERT INTO restore_seen SELECT * FROM u$$, '23P01', NULL,
	'... nor through a writable CTE of an INSERT (the INSERT was taken for a restore)');
WITH u AS (UPDATE protector.payments SET amount = 3 WHERE booking_id = '0a200000-0000-4000-8000-0000000b0003' RETURNING true)
INSERT INTO restore_seen SELECT * FROM u;
SELECT results_eq($$SELECT b.amount_paid, (SELECT count(*) FROM protector.audit_log WHERE table_name = 'protector.payments' AND op = 'UPDATE')
					FROM protector.bookings b WHERE b.id = '0a200000-0000-4000-8000-0000000b0003'$$,
	$$VALUES (3.00::numeric, 2::bigint)$$, '... whose payment change moves the amount paid and is audited');
SELECT tests.clear_authentication();

-- restore_pending is dumped (a backup taken before finish_restore keeps
-- what waits, test/ops/restore_waiting.sh); a row of it a restore loads
-- takes an id of this database's sequence, which the rows set aside here
-- draw from too (the backup's id met them: duplicate key)
SET LOCAL client_min_messages = error;
INSERT INTO protector_internal.restore_pending (id, relid, row_data) OVERRIDING SYSTEM VALUE
VALUES (1, 'protector.venues', '{"id": "0a200000-0000-4000-8000-0000000000a9"}');
RESET client_min_messages;
SELECT isnt((SELECT id FROM protector_internal.restore_pending WHERE row_data ->> 'id' = '0a200000-0000-4000-8000-0000000000a9'),
	1::bigint, 'a restored row of restore_pending takes an id of this database''s');
SELECT * FROM finish();
ROLLBACK;
