-- A bulk status change reads each booking's own rows by index, whatever
-- the planner's statistics say (a bulk-load attack): the reminders' sync
-- read the partial index of every pending reminder per confirmed booking
-- when booking_reminders had no statistics yet (a new project, a restore
-- before ANALYZE), and the cancellation's terms were read by sequential
-- scans after cancellation_terms was analyzed while empty; the plan, made
-- once, served the whole statement, so each row read what the rows before
-- it wrote: 10,000 confirmations read 100 million index entries, 20,000
-- cancellations 200 million rows.  Counted in rows read, not time: 200
-- bookings read 79,800 and 19,900 of them before.
BEGIN;
SELECT plan(4);

INSERT INTO protector.organizations (id, name, slug) VALUES ('0a404000-0000-4000-8000-000000000000', 'Bulk', 'bulk-plans');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a404000-0000-4000-8000-0000000000a1', '0a404000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (organization_id, venue_id, name, duration, slot_interval, currency)
SELECT '0a404000-0000-4000-8000-000000000000', '0a404000-0000-4000-8000-0000000000a1', 'S' || i, '60 minutes', '60 minutes', 'USD'
FROM generate_series(1, 10) i;
INSERT INTO protector.customers (organization_id, full_name, email)
SELECT '0a404000-0000-4000-8000-000000000000', 'C ' || i, 'bulk' || i || '@example.com' FROM generate_series(1, 200) i;
INSERT INTO protector.bookings (organization_id, currency, venue_id, service_id, customer_id, during, status, source)
SELECT '0a404000-0000-4000-8000-000000000000', 'USD', '0a404000-0000-4000-8000-0000000000a1', s.id, c.id,
	   tstzrange(date_trunc('day', now()) + interval '30 days' + (c.rn / 10) * interval '1 hour',
				 date_trunc('day', now()) + interval '30 days' + (c.rn / 10 + 1) * interval '1 hour'), 'pending', 'import'
FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rn FROM protector.customers
	  WHERE organization_id = '0a404000-0000-4000-8000-000000000000') c
JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rn FROM protector.services
	  WHERE organization_id = '0a404000-0000-4000-8000-000000000000') s ON s.rn = c.rn % 10;

-- 1. confirmations, booking_reminders as a table never analyzed
UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = 'protector.booking_reminders'::regclass;
CREATE TEMP TABLE reads AS
SELECT pg_stat_get_xact_tuples_fetched('protector.booking_reminders_due_idx'::regclass) AS due_idx,
	   pg_stat_get_xact_tuples_returned('protector_internal.cancellation_terms'::regclass) AS terms;
UPDATE protector.bookings SET status = 'confirmed' WHERE organization_id = '0a404000-0000-4000-8000-000000000000';
SELECT is((SELECT count(*)::int FROM protector.booking_reminders WHERE organization_id = '0a404000-0000-4000-8000-000000000000'
		   AND status = 'pending'), 400, '200 bookings confirmed in one statement, 400 reminders pending');
SELECT cmp_ok(pg_stat_get_xact_tuples_fetched('protector.booking_reminders_due_idx'::regclass) - (SELECT due_idx FROM reads),
	'<', 1000::bigint, '... read through the booking''s index, not each through every pending reminder (79,800)');

-- 2. cancellations, cancellation_terms analyzed while empty
DELETE FROM protector_internal.cancellation_terms;
ANALYZE protector_internal.cancellation_terms;
UPDATE protector.bookings SET status = 'cancelled' WHERE organization_id = '0a404000-0000-4000-8000-000000000000';
SELECT is((SELECT count(*)::int FROM protector_internal.cancellation_terms WHERE organization_id = '0a404000-0000-4000-8000-000000000000'),
	200, '200 bookings cancelled in one statement, each with its terms');
SELECT cmp_ok(pg_stat_get_xact_tuples_returned('protector_internal.cancellation_terms'::regclass) - (SELECT terms FROM reads),
	'<', 400::bigint, '... each read by its key, not by scanning those the statement wrote before it (19,900)');

SELECT * FROM finish();
ROLLBACK;
