-- The rows protector writes directly (src/direct_insert.c: a booking's
-- audit row, review task, desk notification, report-change row, outbox
-- row) under an operator's DDL on those tables: each is what an INSERT
-- would have written or is refused as an INSERT would be; then the
-- outbox row's own edges.  Each case fails on the build before its fix.
\set VERBOSITY terse
\set SHOW_CONTEXT never

INSERT INTO protector.organizations (id, name, slug) VALUES
	('0d220000-0000-4000-8000-000000000001', 'Side tables', 'side-table-ddl');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0d220000-0000-4000-8000-0000000000a1', '0d220000-0000-4000-8000-000000000001', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) VALUES
	('0d220000-0000-4000-8000-0000000005a1', '0d220000-0000-4000-8000-000000000001',
	 '0d220000-0000-4000-8000-0000000000a1', 'Room', '60 minutes', '60 minutes', '400 days');
-- a booking h hours into the day after tomorrow (UTC: no DST shift)
CREATE FUNCTION pg_temp.book(h int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	VALUES ('0d220000-0000-4000-8000-000000000001', '0d220000-0000-4000-8000-0000000000a1',
			'0d220000-0000-4000-8000-0000000005a1',
			tstzrange(date_trunc('day', now(), 'UTC') + interval '2 days' + h * interval '1 hour',
					  date_trunc('day', now(), 'UTC') + interval '2 days' + (h + 1) * interval '1 hour'))
$$;
-- the hours booked, in order
CREATE FUNCTION pg_temp.booked() RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(extract(hour FROM lower(during) AT TIME ZONE 'UTC')::text, ',' ORDER BY lower(during)), '-')
	FROM protector.bookings WHERE organization_id = '0d220000-0000-4000-8000-000000000001'
$$;

-- a column of a NOT NULL domain without a default (the rows there get
-- one, which is then dropped): the desk notification would hold NULL
-- there, so the booking is refused, as an INSERT naming no such column is
-- (it was stored with NULL)
CREATE DOMAIN public.required_note AS text NOT NULL;
ALTER TABLE protector.notifications ADD COLUMN note public.required_note DEFAULT 'earlier';
ALTER TABLE protector.notifications ALTER COLUMN note DROP DEFAULT;
SELECT pg_temp.book(1);
ALTER TABLE protector.notifications DROP COLUMN note;
SELECT pg_temp.booked() AS none_yet;

-- a domain's default changed, and a CHECK added to it, in the same
-- session: the next review task takes the new default, and the CHECK
-- judges it (ALTER DOMAIN invalidates no table: the compiled default
-- stayed the old one)
CREATE DOMAIN public.review_lane AS text DEFAULT 'first';
ALTER TABLE protector.tasks ADD COLUMN lane public.review_lane;
SELECT pg_temp.book(2);
ALTER DOMAIN public.review_lane SET DEFAULT 'second';
SELECT pg_temp.book(3);
SELECT t.lane, extract(hour FROM lower(b.during) AT TIME ZONE 'UTC') AS hour
FROM protector.tasks t JOIN protector.bookings b ON b.id = t.booking_id
WHERE b.organization_id = '0d220000-0000-4000-8000-000000000001' ORDER BY 2;
ALTER DOMAIN public.review_lane ADD CONSTRAINT not_second CHECK (VALUE <> 'second') NOT VALID;
SELECT pg_temp.book(4);
ALTER TABLE protector.tasks DROP COLUMN lane;
SELECT pg_temp.booked() AS two_and_three;

-- tasks made a partition, of tasks created before now: the new review
-- task is outside its bounds, and the booking is refused (it was stored
-- where the partitioned table never finds it)
CREATE TABLE public.tasks_by_time (LIKE protector.tasks) PARTITION BY RANGE (created_at);
DO $$
BEGIN
	EXECUTE format('ALTER TABLE public.tasks_by_time ATTACH PARTITION protector.tasks FOR VALUES FROM (MINVALUE) TO (%L)',
				   clock_timestamp());
END $$;
SELECT pg_temp.book(5);
ALTER TABLE public.tasks_by_time DETACH PARTITION protector.tasks;
DROP TABLE public.tasks_by_time;
SELECT pg_temp.booked() AS still_two_and_three;

-- the outbox with a column added and dropped: its columns are found by
-- name, and the booking commits with its announcement (its commit failed,
-- and every later one, the outbox "not (id, organization_id, payloads)")
ALTER TABLE protector_internal.outbox ADD COLUMN note text;
ALTER TABLE protector_internal.outbox DROP COLUMN note;
SELECT pg_temp.book(6);
SELECT pg_temp.booked() AS six_committed;

-- the outbox with a column whose DEFAULT runs a query: the row is written
-- at commit, where no statement's snapshot is active, and gets one as an
-- INSERT would (PL/pgSQL's query failed the commit, "cannot execute SQL
-- without an outer snapshot or portal"; a SQL function's crashed the
-- server)
CREATE FUNCTION public.side_org_pl() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN (SELECT max(name) FROM protector.organizations);
END $$;
CREATE FUNCTION public.side_org_sql() RETURNS text LANGUAGE sql STABLE AS $$
	SELECT max(name) FROM protector.organizations
$$;
ALTER TABLE protector_internal.outbox ADD COLUMN note text DEFAULT public.side_org_pl();
SELECT pg_temp.book(15);
ALTER TABLE protector_internal.outbox ALTER COLUMN note SET DEFAULT public.side_org_sql();
SELECT pg_temp.book(16);
ALTER TABLE protector_internal.outbox DROP COLUMN note;
DROP FUNCTION public.side_org_pl();
DROP FUNCTION public.side_org_sql();
SELECT pg_temp.booked() AS fifteen_sixteen_committed;

-- an index on tasks created in a savepoint that a booking then used:
-- rolling back to the savepoint closes the open tables first (it warned
-- "cannot remove relcache entry ... because it has nonzero refcount")
BEGIN;
SAVEPOINT before_index;
CREATE INDEX tasks_title_idx ON protector.tasks (title);
SELECT pg_temp.book(7);
ROLLBACK TO SAVEPOINT before_index;
SELECT pg_temp.book(8);
COMMIT;
SELECT pg_temp.booked() AS eight_not_seven;
SELECT count(*) AS review_tasks FROM protector.tasks
WHERE organization_id = '0d220000-0000-4000-8000-000000000001';

DROP DOMAIN public.required_note;
DROP DOMAIN public.review_lane;

-- a transaction made read-only after its booking commits, as PostgreSQL
-- lets it, announcing at its own commit (its outbox row failed the commit:
-- "cannot execute nextval() in a read-only transaction")
BEGIN;
SELECT pg_temp.book(9);
SET TRANSACTION READ ONLY;
COMMIT;
SELECT pg_temp.booked() AS nine_committed;

-- PREPARE TRANSACTION of a transaction that announces: refused, saying
-- why and what to do (it was PostgreSQL's "has executed LISTEN, UNLISTEN,
-- or NOTIFY", which the caller never ran)
BEGIN;
SELECT pg_temp.book(10);
PREPARE TRANSACTION 'side_table_ddl';
SELECT pg_temp.booked() AS nine_still;

-- a column of tasks whose DEFAULT calls a SQL function that names another
-- unqualified: the review task takes it as an INSERT under the booking's
-- search_path would (the first compilation was shared by every later
-- booking of the session, under whatever search_path it had)
CREATE SCHEMA side_a;
CREATE SCHEMA side_b;
CREATE FUNCTION side_a.tag() RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'A'$$;
CREATE FUNCTION side_b.tag() RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'B'$$;
SET check_function_bodies = off;
CREATE FUNCTION public.side_team_tag() RETURNS text LANGUAGE sql STABLE AS $$SELECT tag()$$;
RESET check_function_bodies;
SET search_path = side_a, public;
ALTER TABLE protector.tasks ADD COLUMN team text DEFAULT public.side_team_tag();
SELECT pg_temp.book(11);
SET search_path = side_b, public;
SELECT pg_temp.book(12);
RESET search_path;
-- ... and within one transaction too
BEGIN;
SET LOCAL search_path = side_a, public;
SELECT pg_temp.book(13);
SET LOCAL search_path = side_b, public;
SELECT pg_temp.book(14);
COMMIT;
SELECT extract(hour FROM lower(b.during) AT TIME ZONE 'UTC') AS hour, t.team
FROM protector.tasks t JOIN protector.bookings b ON b.organization_id = t.organization_id AND b.id = t.booking_id
WHERE t.organization_id = '0d220000-0000-4000-8000-000000000001'
  AND extract(hour FROM lower(b.during) AT TIME ZONE 'UTC') IN (11, 12, 13, 14)
ORDER BY 1;
ALTER TABLE protector.tasks DROP COLUMN team;
DROP FUNCTION public.side_team_tag();
DROP FUNCTION side_a.tag(), side_b.tag();
DROP SCHEMA side_a, side_b;

-- audit_log.id without its identity (a default of another sequence
-- instead): an audited change is refused, saying what is wrong (it was an
-- internal "no owned sequence found"); rolled back
BEGIN;
ALTER EXTENSION protector DROP SEQUENCE protector.audit_log_id_seq;
ALTER TABLE protector.audit_log ALTER COLUMN id DROP IDENTITY;
CREATE SEQUENCE pg_temp.side_audit_ids;
ALTER TABLE protector.audit_log ALTER COLUMN id SET DEFAULT nextval('pg_temp.side_audit_ids');
SELECT pg_temp.book(18);
ROLLBACK;
SELECT pg_temp.book(18);
SELECT count(*) AS audited_once FROM protector.audit_log
WHERE table_name = 'protector.bookings' AND op = 'INSERT'
  AND new_row ->> 'organization_id' = '0d220000-0000-4000-8000-000000000001'
  AND extract(hour FROM lower((new_row ->> 'during')::tstzrange) AT TIME ZONE 'UTC') = 18;

-- Code run by an outbox DEFAULT at commit that changes an announced
-- table: refused, saying why (its announcements were appended to the list
-- being written, its rows past the budget never summed up, and a DEFAULT
-- announcing again would run for its own row).  One that writes an
-- audited table only: the booking commits, and the audit log opened after
-- protector closed its tables for commit is closed too (it warned of
-- relcache and tuple descriptor reference leaks when the session's first
-- announcement came before its first direct insert).  A new session: the
-- manual task is its first announcement.
\c
\set VERBOSITY terse
\set SHOW_CONTEXT never
-- (only while x.at_commit says what: adding the column evaluates its
-- DEFAULT for rows the worker has not taken yet)
CREATE FUNCTION public.side_outbox_write() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('x.at_commit', true) = 'task' THEN
		INSERT INTO protector.tasks (organization_id, title) VALUES ('0d220000-0000-4000-8000-000000000001', 'written at commit');
	ELSIF current_setting('x.at_commit', true) = 'customer' THEN
		INSERT INTO protector.customers (organization_id, full_name) VALUES ('0d220000-0000-4000-8000-000000000001', 'Written At Commit');
	END IF;
	RETURN NULL;
END $$;
INSERT INTO protector.tasks (organization_id, title) VALUES ('0d220000-0000-4000-8000-000000000001', 'first announcement');
ALTER TABLE protector_internal.outbox ADD COLUMN note text DEFAULT public.side_outbox_write();
SET x.at_commit = task;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
VALUES ('0d220000-0000-4000-8000-000000000001', '0d220000-0000-4000-8000-0000000000a1', '0d220000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now(), 'UTC') + interval '2 days 19 hours', date_trunc('day', now(), 'UTC') + interval '2 days 20 hours'));
SET x.at_commit = customer;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
VALUES ('0d220000-0000-4000-8000-000000000001', '0d220000-0000-4000-8000-0000000000a1', '0d220000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now(), 'UTC') + interval '2 days 20 hours', date_trunc('day', now(), 'UTC') + interval '2 days 21 hours'));
RESET x.at_commit;
ALTER TABLE protector_internal.outbox DROP COLUMN note;
SELECT (SELECT count(*) FROM protector.tasks WHERE title = 'written at commit') AS tasks_written_at_commit,
	   (SELECT count(*) FROM protector.customers WHERE full_name = 'Written At Commit') AS customers_written_at_commit,
	   (SELECT string_agg(extract(hour FROM lower(during) AT TIME ZONE 'UTC')::text, ',' ORDER BY lower(during))
		  FROM protector.bookings WHERE organization_id = '0d220000-0000-4000-8000-000000000001'
		   AND extract(hour FROM lower(during) AT TIME ZONE 'UTC') IN (19, 20)) AS booked;
DROP FUNCTION public.side_outbox_write();
