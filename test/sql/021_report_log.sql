-- The report-change log across transactions (src/report_changes.c; in
-- one transaction: pgTAP 310).  What a backend remembers of the
-- organizations it logged is its transaction's only; it trusts it only
-- while report_changes_written() is in force (BEFORE each statement that
-- writes report_changes, ENABLE ALWAYS) and no statement wrote the table,
-- a TRUNCATE and a statement that also changes bookings (WITH) included.
-- Each count below is this transaction's rows for the organization: 1
-- whenever it changed a booking, whatever happened before.
\set VERBOSITY terse
\set SHOW_CONTEXT never

INSERT INTO protector.organizations (id, name, slug) VALUES ('0d210000-0000-4000-8000-000000000000', 'Log', 'report-log');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0d210000-0000-4000-8000-0000000000a1', '0d210000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) VALUES
	('0d210000-0000-4000-8000-0000000005a1', '0d210000-0000-4000-8000-000000000000', '0d210000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days');
-- a session of its own: nothing logged in it yet
\c -
\set VERBOSITY terse
\set SHOW_CONTEXT never
-- a booking h hours into the day after tomorrow
CREATE FUNCTION pg_temp.book(h int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	VALUES ('0d210000-0000-4000-8000-000000000000', '0d210000-0000-4000-8000-0000000000a1', '0d210000-0000-4000-8000-0000000005a1',
			tstzrange(date_trunc('day', now()) + interval '2 days' + h * interval '1 hour',
					  date_trunc('day', now()) + interval '2 days' + (h + 1) * interval '1 hour'))
$$;
CREATE FUNCTION pg_temp.logged() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM protector_internal.report_changes
	WHERE organization_id = '0d210000-0000-4000-8000-000000000000' AND xid = pg_current_xact_id()
$$;

-- two transactions of one session: the second logs again
BEGIN;
SELECT pg_temp.book(1) \g /dev/null
SELECT pg_temp.logged() AS first_transaction;
COMMIT;
BEGIN;
SELECT pg_temp.book(2) \g /dev/null
SELECT pg_temp.logged() AS second_transaction;
COMMIT;

-- a statement logs first (the organization's own change, in PL/pgSQL):
-- the booking after it finds the row
BEGIN;
UPDATE protector.organizations SET name = 'Log 1' WHERE id = '0d210000-0000-4000-8000-000000000000';
SELECT pg_temp.book(13) \g /dev/null
SELECT pg_temp.logged() AS organization_changed_first;
COMMIT;

-- the trigger not in force from the transaction's start (disabled; the same
-- as a database without it): the organization's own change logs it in
-- PL/pgSQL, and the booking after it finds the row; a row removed is
-- logged again
ALTER TABLE protector_internal.report_changes DISABLE TRIGGER written;
BEGIN;
UPDATE protector.organizations SET name = 'Log 2' WHERE id = '0d210000-0000-4000-8000-000000000000';
SELECT pg_temp.book(3) \g /dev/null
SELECT pg_temp.logged() AS trigger_disabled;
DELETE FROM protector_internal.report_changes WHERE xid = pg_current_xact_id();
SELECT pg_temp.book(4) \g /dev/null
SELECT pg_temp.logged() AS trigger_disabled_row_removed;
COMMIT;
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;

-- the trigger disabled and enabled again inside a transaction, a row
-- removed meanwhile
BEGIN;
SELECT pg_temp.book(11) \g /dev/null
ALTER TABLE protector_internal.report_changes DISABLE TRIGGER written;
DELETE FROM protector_internal.report_changes WHERE xid = pg_current_xact_id();
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;
SELECT pg_temp.book(12) \g /dev/null
SELECT pg_temp.logged() AS disabled_meanwhile;
COMMIT;

-- a statement that removes the row and books, together
BEGIN;
SELECT pg_temp.book(5) \g /dev/null
WITH gone AS (DELETE FROM protector_internal.report_changes WHERE xid = pg_current_xact_id() RETURNING 1)
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
VALUES ('0d210000-0000-4000-8000-000000000000', '0d210000-0000-4000-8000-0000000000a1', '0d210000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '2 days' + 6 * interval '1 hour',
				  date_trunc('day', now()) + interval '2 days' + 7 * interval '1 hour'));
SELECT pg_temp.logged() AS removed_and_booked_in_one_statement;
COMMIT;

-- a replication-role session (imports, restores) removes the row
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT pg_temp.book(7) \g /dev/null
DELETE FROM protector_internal.report_changes WHERE xid = pg_current_xact_id();
SELECT pg_temp.book(8) \g /dev/null
SELECT pg_temp.logged() AS replica_row_removed;
COMMIT;

-- TRUNCATE, once DDL has closed the table protector writes directly
BEGIN;
SELECT pg_temp.book(9) \g /dev/null
CREATE TEMP TABLE closes_direct_tables (x int);
TRUNCATE protector_internal.report_changes;
SELECT pg_temp.book(10) \g /dev/null
SELECT pg_temp.logged() AS truncated;
ROLLBACK;

DELETE FROM protector.organizations WHERE id = '0d210000-0000-4000-8000-000000000000';
