-- What a parallel restore offers again (sql/98_restore.sql): a row set
-- aside records the table of its first missing reference, and is offered
-- again when that table has had rows, not after every table's load (a
-- restore with -j 2 took 15-25 times a serial one when every load offered
-- every row again).  A row waiting for a table that itself went in from
-- restore_pending is offered in the same load.  Inserts into
-- restore_pending are counted with pg_stat_xact_user_tables: every offer
-- that fails sets the row aside anew.
BEGIN;
SELECT plan(8);

INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a450000-0000-4000-8000-000000000000', 'Restore waits', 'restore-waits');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a450000-0000-4000-8000-0000000000a1', '0a450000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');

SET LOCAL row_security = off;
CREATE FUNCTION pg_temp.set_aside() RETURNS bigint LANGUAGE sql AS $$
	SELECT COALESCE((SELECT n_tup_ins FROM pg_catalog.pg_stat_xact_user_tables
					 WHERE relid = 'protector_internal.restore_pending'::regclass), 0)
$$;

-- a booking loaded before its customer and its service: it waits for the
-- customer (bookings' keys in name order: assigned agent, customer, ...)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, currency, status) VALUES
	('0a450000-0000-4000-8000-0000000b0001', '0a450000-0000-4000-8000-000000000000', '0a450000-0000-4000-8000-0000000000a1',
	 '0a450000-0000-4000-8000-0000000005a1', '0a450000-0000-4000-8000-0000000c0001',
	 '[2031-02-03 10:00+00, 2031-02-03 11:00+00)', 'EUR', 'confirmed');
SELECT is((SELECT waiting_for::text FROM protector_internal.restore_pending
		   WHERE row_data ->> 'id' = '0a450000-0000-4000-8000-0000000b0001'),
	'protector.customers', 'a booking without its customer and service is set aside, waiting for the customer');

-- loads of tables it does not wait for (one may offer it once more: a
-- load offers what it set aside itself, whose tables may have loaded beside)
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a450000-0000-4000-8000-000000000001', 'Other 1', 'restore-waits-1');
SELECT pg_temp.set_aside() AS before_loads \gset
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a450000-0000-4000-8000-000000000002', 'Other 2', 'restore-waits-2');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a450000-0000-4000-8000-0000000000a2', '0a450000-0000-4000-8000-000000000000', 'V2', 'UTC', '{}');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a450000-0000-4000-8000-0000000000a3', '0a450000-0000-4000-8000-000000000000', 'V3', 'UTC', '{}');
SELECT is(pg_temp.set_aside() - :before_loads, 0::bigint,
	'three loads of tables it does not wait for do not offer it again');

-- its customer's load: offered, it now waits for its service
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a450000-0000-4000-8000-0000000c0001', '0a450000-0000-4000-8000-000000000000', 'Cleo');
SELECT results_eq($$SELECT waiting_for::text, reoffered FROM protector_internal.restore_pending
					WHERE row_data ->> 'id' = '0a450000-0000-4000-8000-0000000b0001'$$,
	$$VALUES ('protector.services', true)$$, 'its customer''s load offers it again; it then waits for its service');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) VALUES
	('0a450000-0000-4000-8000-0000000005a1', '0a450000-0000-4000-8000-000000000000', '0a450000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days');
SELECT results_eq($$SELECT status::text FROM protector.bookings WHERE id = '0a450000-0000-4000-8000-0000000b0001'$$,
	$$VALUES ('confirmed')$$, 'its service''s load brings it in');
SELECT is((SELECT count(*) FROM protector_internal.restore_pending), 0::bigint, 'nothing is left aside');

-- a chain: a task loaded before its booking, the booking before its
-- customer; the customer's load brings in the booking, and the booking
-- brings in the task in the same load
INSERT INTO protector.tasks (id, organization_id, booking_id, title) VALUES
	('0a450000-0000-4000-8000-0000000d0001', '0a450000-0000-4000-8000-000000000000',
	 '0a450000-0000-4000-8000-0000000b0002', 'Review');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, currency, status) VALUES
	('0a450000-0000-4000-8000-0000000b0002', '0a450000-0000-4000-8000-000000000000', '0a450000-0000-4000-8000-0000000000a1',
	 '0a450000-0000-4000-8000-0000000005a1', '0a450000-0000-4000-8000-0000000c0002',
	 '[2031-02-03 12:00+00, 2031-02-03 13:00+00)', 'EUR', 'confirmed');
SELECT results_eq($$SELECT relid::text, waiting_for::text FROM protector_internal.restore_pending ORDER BY relid::text$$,
	$$VALUES ('protector.bookings', 'protector.customers'), ('protector.tasks', 'protector.bookings')$$,
	'the task waits for its booking, the booking for its customer');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a450000-0000-4000-8000-0000000c0002', '0a450000-0000-4000-8000-000000000000', 'Dora');
SELECT is((SELECT title FROM protector.tasks WHERE id = '0a450000-0000-4000-8000-0000000d0001'), 'Review',
	'the customer''s load brings in the booking, and the booking the task');
SELECT is((SELECT count(*) FROM protector_internal.restore_pending), 0::bigint, 'nothing is left aside');

SELECT * FROM finish();
ROLLBACK;
