-- The report-change log (src/report_changes.c) records each organization
-- once per transaction, and its record of what this backend logged never
-- stands in for a row that is not there (after a rolled-back
-- subtransaction, nested or not, the row is probed for and logged again)
-- nor says "not logged" past the organizations it can list (pg_regress
-- 021: the cases that take more than one transaction).
-- report_changes_written() belongs on report_changes alone.
BEGIN;
SELECT plan(8);

-- the setup logs nothing: from here on this transaction's rows are the
-- ones the tests make
ALTER TABLE protector.organizations DISABLE TRIGGER zz_report_change_insert;
ALTER TABLE protector.venues DISABLE TRIGGER zz_report_change_insert;
ALTER TABLE protector.services DISABLE TRIGGER zz_report_change_insert;
-- organization n: its id, with venue and service n
CREATE FUNCTION pg_temp.org(n int) RETURNS uuid LANGUAGE sql AS $$
	SELECT format('0a310000-0000-4000-8000-%s', lpad(n::text, 12, '0'))::uuid
$$;
INSERT INTO protector.organizations (id, name, slug)
SELECT pg_temp.org(n), 'R' || n, 'report-log-' || n FROM generate_series(1, 20) n;
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
SELECT pg_temp.org(n + 100), pg_temp.org(n), 'V', 'UTC', '{}' FROM generate_series(1, 20) n;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
SELECT pg_temp.org(n + 200), pg_temp.org(n), pg_temp.org(n + 100), 'Room', '60 minutes', '60 minutes', '400 days'
FROM generate_series(1, 20) n;
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

SAVEPOINT a;
SELECT pg_temp.book(1, 1) \g /dev/null
SELECT is(pg_temp.logged(1), 1::bigint, 'a booking logs its organization');
ROLLBACK TO SAVEPOINT a;
SELECT pg_temp.book(1, 2) \g /dev/null
SELECT is(pg_temp.logged(1), 1::bigint, 'after a rolled-back subtransaction that logged it, the next change logs the organization again');
SELECT pg_temp.book(1, 3) \g /dev/null
SELECT is(pg_temp.logged(1), 1::bigint, '... once: a second booking adds no row');

SAVEPOINT a;
SAVEPOINT b;
SELECT pg_temp.book(2, 1) \g /dev/null
RELEASE SAVEPOINT b;
ROLLBACK TO SAVEPOINT a;
SELECT pg_temp.book(2, 2) \g /dev/null
SELECT is(pg_temp.logged(2), 1::bigint, '... and the next change logs the organization again');

-- organizations 1 and 2 are listed; 3 to 16 fill the list, 17 and 18 are
-- logged past it
SELECT pg_temp.book(n, 1) FROM generate_series(3, 18) n \g /dev/null
SELECT pg_temp.book(n, 5) FROM generate_series(1, 18) n \g /dev/null
SELECT is(array_agg(pg_temp.logged(n) ORDER BY n), array_fill(1::bigint, ARRAY[18]),
	'past the organizations the backend lists, each is still logged once')
FROM generate_series(1, 18) n;

CREATE TABLE pg_temp.other (x int);
CREATE TRIGGER written BEFORE INSERT ON pg_temp.other
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.report_changes_written();
SELECT throws_ok($$INSERT INTO pg_temp.other VALUES (1)$$, '39P01', 'report_changes_written() fired on other',
	'report_changes_written() on another table: refused');
CREATE TRIGGER written_row BEFORE INSERT ON protector_internal.report_changes
	FOR EACH ROW EXECUTE FUNCTION protector_internal.report_changes_written();
SELECT throws_ok($$INSERT INTO protector_internal.report_changes (organization_id) VALUES (pg_temp.org(20))$$, '39P01', NULL,
	'... and for each row: refused');

SELECT * FROM finish();
ROLLBACK;
