-- The report-change log across transactions (src/report_changes.c; in
-- one transaction: pgTAP 310).  A booking skips the probe of
-- report_changes only for an organization its backend has not logged in
-- the transaction, and only while nothing else can have written the
-- table: report_changes_written() in force (BEFORE each statement that
-- writes it, ENABLE ALWAYS), no statement fired it, the table's
-- definition unchanged, no lock taken on it as trigger DDL takes one.
-- Each case writes a row behind the backend's back and then books: the
-- count is this transaction's rows for the organization, 1 every time (a
-- skipped probe would fail on the duplicate key), and each fails on the
-- mutant that misses its way in.
\set VERBOSITY terse
\set SHOW_CONTEXT never

INSERT INTO protector.organizations (id, name, slug) VALUES
	('0d210000-0000-4000-8000-000000000001', 'Log 1', 'report-log-1'),
	('0d210000-0000-4000-8000-000000000002', 'Log 2', 'report-log-2');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
SELECT ('0d210000-0000-4000-8000-0000000000a' || n)::uuid, ('0d210000-0000-4000-8000-00000000000' || n)::uuid, 'V', 'UTC', '{}'
FROM generate_series(1, 2) n;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
SELECT ('0d210000-0000-4000-8000-0000000005a' || n)::uuid, ('0d210000-0000-4000-8000-00000000000' || n)::uuid,
	   ('0d210000-0000-4000-8000-0000000000a' || n)::uuid, 'Room', '60 minutes', '60 minutes', '400 days'
FROM generate_series(1, 2) n;
-- a session of its own: nothing logged in it yet
\c -
\set VERBOSITY terse
\set SHOW_CONTEXT never
-- a booking of organization n, h hours into the day after tomorrow
CREATE FUNCTION pg_temp.book(n int, h int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	VALUES (('0d210000-0000-4000-8000-00000000000' || n)::uuid, ('0d210000-0000-4000-8000-0000000000a' || n)::uuid,
			('0d210000-0000-4000-8000-0000000005a' || n)::uuid,
			tstzrange(date_trunc('day', now()) + interval '2 days' + h * interval '1 hour',
					  date_trunc('day', now()) + interval '2 days' + (h + 1) * interval '1 hour'))
$$;
-- a row for organization n, written by a statement
CREATE FUNCTION pg_temp.log(n int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector_internal.report_changes (organization_id)
	VALUES (('0d210000-0000-4000-8000-00000000000' || n)::uuid)
$$;
CREATE FUNCTION pg_temp.logged(n int) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM protector_internal.report_changes
	WHERE organization_id = ('0d210000-0000-4000-8000-00000000000' || n)::uuid AND xid = pg_current_xact_id()
$$;

-- a booking logs its organization
BEGIN;
SELECT pg_temp.book(1, 1) \g /dev/null
SELECT pg_temp.logged(1) AS booked;
COMMIT;

-- a statement logs first: the organization's own change (PL/pgSQL)
BEGIN;
UPDATE protector.organizations SET name = 'Log 1 renamed' WHERE id = '0d210000-0000-4000-8000-000000000001';
SELECT pg_temp.book(1, 3) \g /dev/null
SELECT pg_temp.logged(1) AS organization_changed_first;
COMMIT;

-- the trigger not in force from the transaction's start (disabled; the
-- same as a database without it)
ALTER TABLE protector_internal.report_changes DISABLE TRIGGER written;
BEGIN;
SELECT pg_temp.log(1) \g /dev/null
SELECT pg_temp.book(1, 4) \g /dev/null
SELECT pg_temp.logged(1) AS trigger_disabled;
COMMIT;
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;

-- ... or narrowed by a WHEN
DROP TRIGGER written ON protector_internal.report_changes;
CREATE TRIGGER written BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON protector_internal.report_changes
	FOR EACH STATEMENT WHEN (false) EXECUTE FUNCTION protector_internal.report_changes_written();
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;
BEGIN;
SELECT pg_temp.log(1) \g /dev/null
SELECT pg_temp.book(1, 13) \g /dev/null
SELECT pg_temp.logged(1) AS trigger_narrowed;
COMMIT;
DROP TRIGGER written ON protector_internal.report_changes;
CREATE TRIGGER written BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON protector_internal.report_changes
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.report_changes_written();
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;

-- ... or for some columns only: an UPDATE of others makes an old row this
-- transaction's
DROP TRIGGER written ON protector_internal.report_changes;
CREATE TRIGGER written BEFORE INSERT OR UPDATE OF organization_id OR DELETE OR TRUNCATE ON protector_internal.report_changes
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.report_changes_written();
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;
INSERT INTO protector_internal.report_changes (organization_id, xid) VALUES ('0d210000-0000-4000-8000-000000000001', '1');
BEGIN;
UPDATE protector_internal.report_changes SET xid = pg_current_xact_id() WHERE xid = '1';
SELECT pg_temp.book(1, 14) \g /dev/null
SELECT pg_temp.logged(1) AS trigger_for_some_columns;
COMMIT;

-- ... or for some statements only
DROP TRIGGER written ON protector_internal.report_changes;
CREATE TRIGGER written BEFORE UPDATE OR DELETE OR TRUNCATE ON protector_internal.report_changes
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.report_changes_written();
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;
BEGIN;
SELECT pg_temp.log(1) \g /dev/null
SELECT pg_temp.book(1, 15) \g /dev/null
SELECT pg_temp.logged(1) AS trigger_for_some_statements;
COMMIT;

-- ... or not ALWAYS, in a replication-role session
DROP TRIGGER written ON protector_internal.report_changes;
CREATE TRIGGER written BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON protector_internal.report_changes
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.report_changes_written();
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT pg_temp.log(1) \g /dev/null
SELECT pg_temp.book(1, 16) \g /dev/null
SELECT pg_temp.logged(1) AS trigger_not_always;
COMMIT;
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;

-- its function given another body
BEGIN;
CREATE OR REPLACE FUNCTION protector_internal.report_changes_written() RETURNS trigger
LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
SELECT pg_temp.log(1) \g /dev/null
SELECT pg_temp.book(1, 17) \g /dev/null
SELECT pg_temp.logged(1) AS function_replaced;
ROLLBACK;

-- the table given a parent: an UPDATE through it fires none of the
-- table's triggers
CREATE TABLE public.report_log_parent (organization_id uuid NOT NULL, xid xid8 NOT NULL);
ALTER TABLE protector_internal.report_changes INHERIT public.report_log_parent;
INSERT INTO protector_internal.report_changes (organization_id, xid) VALUES ('0d210000-0000-4000-8000-000000000001', '2');
BEGIN;
UPDATE public.report_log_parent SET xid = pg_current_xact_id() WHERE xid = '2';
SELECT pg_temp.book(1, 18) \g /dev/null
SELECT pg_temp.logged(1) AS table_with_a_parent;
COMMIT;
ALTER TABLE protector_internal.report_changes NO INHERIT public.report_log_parent;
DROP TABLE public.report_log_parent;

-- the trigger disabled and enabled again in the transaction, before its
-- first booking ...
BEGIN;
ALTER TABLE protector_internal.report_changes DISABLE TRIGGER written;
SELECT pg_temp.log(1) \g /dev/null
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;
SELECT pg_temp.book(1, 5) \g /dev/null
SELECT pg_temp.logged(1) AS disabled_before_first_booking;
COMMIT;

-- ... and after it
BEGIN;
SELECT pg_temp.book(1, 6) \g /dev/null
ALTER TABLE protector_internal.report_changes DISABLE TRIGGER written;
SELECT pg_temp.log(2) \g /dev/null
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;
SELECT pg_temp.book(2, 6) \g /dev/null
SELECT pg_temp.logged(2) AS disabled_after_first_booking;
COMMIT;

-- one statement that logs and books (WITH): the trigger fires before it
BEGIN;
WITH logs AS (INSERT INTO protector_internal.report_changes (organization_id)
			  VALUES ('0d210000-0000-4000-8000-000000000001') RETURNING 1)
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
VALUES ('0d210000-0000-4000-8000-000000000001', '0d210000-0000-4000-8000-0000000000a1', '0d210000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '2 days' + 7 * interval '1 hour',
				  date_trunc('day', now()) + interval '2 days' + 8 * interval '1 hour'));
SELECT pg_temp.logged(1) AS logged_and_booked_in_one_statement;
COMMIT;

-- a replication-role session (imports, restores)
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT pg_temp.log(1) \g /dev/null
SELECT pg_temp.book(1, 8) \g /dev/null
SELECT pg_temp.logged(1) AS replica;
COMMIT;

-- TRUNCATE, once DDL has closed the table protector writes directly
BEGIN;
SELECT pg_temp.book(1, 11) \g /dev/null
CREATE TEMP TABLE closes_direct_tables (x int);
TRUNCATE protector_internal.report_changes;
SELECT pg_temp.book(1, 12) \g /dev/null
SELECT pg_temp.logged(1) AS truncated;
ROLLBACK;

DELETE FROM protector.organizations WHERE id IN ('0d210000-0000-4000-8000-000000000001', '0d210000-0000-4000-8000-000000000002');
