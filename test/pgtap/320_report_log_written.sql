-- The report-change log (src/report_changes.c) when a statement wrote
-- report_changes first in the transaction (log_report_change(), for an
-- organization's own changes): a booking of that organization then finds
-- the row instead of trusting that it logged nothing (a transaction of its
-- own: once a statement wrote the table, 310_report_log.sql's cases would
-- all probe).
BEGIN;
SELECT plan(5);

-- the setup logs nothing: from here on this transaction's rows are the
-- ones the tests make
ALTER TABLE protector.organizations DISABLE TRIGGER zz_report_change_insert;
ALTER TABLE protector.venues DISABLE TRIGGER zz_report_change_insert;
ALTER TABLE protector.services DISABLE TRIGGER zz_report_change_insert;
-- organization n: its id, with venue and service n
CREATE FUNCTION pg_temp.org(n int) RETURNS uuid LANGUAGE sql AS $$
	SELECT format('0a320000-0000-4000-8000-%s', lpad(n::text, 12, '0'))::uuid
$$;
INSERT INTO protector.organizations (id, name, slug)
SELECT pg_temp.org(n), 'R' || n, 'report-log-w-' || n FROM generate_series(1, 2) n;
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
SELECT pg_temp.org(n + 100), pg_temp.org(n), 'V', 'UTC', '{}' FROM generate_series(1, 2) n;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
SELECT pg_temp.org(n + 200), pg_temp.org(n), pg_temp.org(n + 100), 'Room', '60 minutes', '60 minutes', '400 days'
FROM generate_series(1, 2) n;
ALTER TABLE protector.organizations ENABLE ALWAYS TRIGGER zz_report_change_insert;
ALTER TABLE protector.venues ENABLE ALWAYS TRIGGER zz_report_change_insert;
ALTER TABLE protector.services ENABLE ALWAYS TRIGGER zz_report_change_insert;

-- a booking of organization n, h hours into the day after tomorrow
CREATE FUNCTION pg_temp.book(n int, h int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	VALUES (pg_temp.org(n), pg_temp.org(n + 100), pg_temp.org(n + 200),
			tstzrange(date_trunc('day', now()) + interval '2 days' + h * interval '1 hour',
					  date_trunc('day', now()) + interval '2 days' + (h + 1) * interval '1 hour'))
$$;
-- this transaction's rows of organization n
CREATE FUNCTION pg_temp.logged(n int) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM protector_internal.report_changes
	WHERE organization_id = pg_temp.org(n) AND xid = pg_current_xact_id()
$$;

SELECT is(count(*), 0::bigint, 'the setup logged nothing')
FROM protector_internal.report_changes WHERE xid = pg_current_xact_id();
SELECT pg_temp.book(1, 1) \g /dev/null
UPDATE protector.organizations SET name = 'R2 renamed' WHERE id = pg_temp.org(2);
SELECT is(pg_temp.logged(2), 1::bigint, 'an organization''s own change is logged by log_report_change()');
SELECT lives_ok($$SELECT pg_temp.book(2, 1)$$, '... and a booking of it after that finds the row');
SELECT is(pg_temp.logged(2), 1::bigint, '... and adds none');
SELECT pg_temp.book(1, 2) \g /dev/null
SELECT is(pg_temp.logged(1), 1::bigint, 'an organization logged before the statement is still logged once');

SELECT * FROM finish();
ROLLBACK;
