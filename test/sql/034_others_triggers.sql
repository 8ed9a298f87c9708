-- The rows protector writes directly (direct_insert.c: audit rows, review
-- tasks, desk notifications, the outbox, report changes) fire the AFTER ROW
-- INSERT triggers that are not protector's, as an INSERT would: pg_repack
-- rebuilds a table by copying it and replaying what its AFTER ROW trigger
-- logged meanwhile, and a row protector wrote during the rebuild was lost
-- at the swap (an audit row, a review task, a desk notification, a
-- report's change: an attack on maintenance).  BEFORE ROW and statement
-- triggers of others do not fire for them, nor do protector's own, nor one
-- whose WHEN clause is false.
SET client_min_messages = warning;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0c034000-0000-4000-8000-000000000000', 'Others', 'others-triggers');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0c034000-0000-4000-8000-0000000000a1', '0c034000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval)
VALUES ('0c034000-0000-4000-8000-0000000005a1', '0c034000-0000-4000-8000-000000000000', '0c034000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes');
CREATE TABLE public.seen (tbl text, op text, timing text, at_level text);
CREATE FUNCTION public.seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.seen VALUES (TG_TABLE_NAME, TG_OP, TG_WHEN, TG_LEVEL);
	RETURN NULL;
END $$;
CREATE FUNCTION public.dropped() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.seen VALUES (TG_TABLE_NAME, TG_OP, TG_WHEN, TG_LEVEL);
	RETURN NULL;	-- a BEFORE trigger's NULL would drop the row
END $$;
-- an AFTER ROW INSERT trigger of another on each table written directly
CREATE TRIGGER seen AFTER INSERT ON protector.audit_log FOR EACH ROW EXECUTE FUNCTION public.seen();
CREATE TRIGGER seen AFTER INSERT ON protector.tasks FOR EACH ROW EXECUTE FUNCTION public.seen();
CREATE TRIGGER seen AFTER INSERT ON protector.notifications FOR EACH ROW EXECUTE FUNCTION public.seen();
CREATE TRIGGER seen AFTER INSERT ON protector_internal.outbox FOR EACH ROW EXECUTE FUNCTION public.seen();
CREATE TRIGGER seen AFTER INSERT ON protector_internal.report_changes FOR EACH ROW EXECUTE FUNCTION public.seen();
-- ... and those that do not fire: a BEFORE ROW one (its NULL would drop
-- the task), a statement one, and one whose WHEN is false
CREATE TRIGGER dropped BEFORE INSERT ON protector.tasks FOR EACH ROW EXECUTE FUNCTION public.dropped();
CREATE TRIGGER seen_statement AFTER INSERT ON protector.notifications FOR EACH STATEMENT EXECUTE FUNCTION public.seen();
CREATE TRIGGER never AFTER INSERT ON protector.audit_log FOR EACH ROW WHEN (NEW.table_name = 'no such table')
	EXECUTE FUNCTION public.seen();
-- one booking, committed: its audit row, review task, desk notification,
-- report change and outbox row
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
VALUES ('0c034000-0000-4000-8000-000000000000', '0c034000-0000-4000-8000-0000000000a1', '0c034000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'));
SELECT tbl, op, timing, at_level, count(*) FROM public.seen GROUP BY 1, 2, 3, 4 ORDER BY 1;
-- (a review) a trigger function with a SET clause, or SECURITY DEFINER
-- (pg_repack's is), keeps a cache in its lookup's memory: looked up in
-- the writer's short-lived memory, the second row of a transaction read
-- it freed and crashed the server.  Three bookings in one transaction.
-- And a deferrable constraint trigger fires at once: the outbox's row is
-- written at commit, after deferred events fired, and it was dropped.
TRUNCATE public.seen;
CREATE FUNCTION public.seen_pinned() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
	INSERT INTO public.seen VALUES (TG_TABLE_NAME, TG_OP, 'pinned', TG_LEVEL);
	RETURN NULL;
END $$;
CREATE TRIGGER seen_pinned AFTER INSERT ON protector.audit_log FOR EACH ROW EXECUTE FUNCTION public.seen_pinned();
CREATE CONSTRAINT TRIGGER seen_deferred AFTER INSERT ON protector_internal.outbox DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION public.seen();
-- ... and a foreign key's checks, PostgreSQL's internal triggers, do not
-- fire: protector's own keys are proven as it writes (checked, each task
-- and notification locked its organization's row, and cost a booking
-- 185,000 instructions); one of yours is not checked for these rows
CREATE TABLE public.known_tables (name text PRIMARY KEY);
ALTER TABLE protector.audit_log ADD CONSTRAINT audit_log_known_table
	FOREIGN KEY (table_name) REFERENCES public.known_tables (name) NOT VALID;
BEGIN;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
SELECT '0c034000-0000-4000-8000-000000000000', '0c034000-0000-4000-8000-0000000000a1', '0c034000-0000-4000-8000-0000000005a1',
	   tstzrange(date_trunc('day', now()) + interval '4 days' + i * interval '1 hour',
				 date_trunc('day', now()) + interval '4 days' + (i + 1) * interval '1 hour')
FROM generate_series(1, 3) i;
COMMIT;
SELECT tbl, op, timing, at_level, count(*) FROM public.seen GROUP BY 1, 2, 3, 4 ORDER BY 1, 3;
-- (a review) a trigger's error caught (a savepoint rolled back, an
-- EXCEPTION block): the next booking in the transaction is written and
-- its triggers fire (the firing kept a buffer pin the rollback had let go,
-- and every later booking of the transaction failed "buffer ... is not
-- owned by resource owner")
CREATE TABLE public.boom (armed boolean);
INSERT INTO public.boom VALUES (false);
CREATE FUNCTION public.boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT armed FROM public.boom) THEN
		RAISE EXCEPTION 'the operator''s trigger failed';
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER boom AFTER INSERT ON protector.audit_log FOR EACH ROW EXECUTE FUNCTION public.boom();
BEGIN;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
VALUES ('0c034000-0000-4000-8000-000000000000', '0c034000-0000-4000-8000-0000000000a1', '0c034000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '5 days 10 hours', date_trunc('day', now()) + interval '5 days 11 hours'));
SAVEPOINT s;
UPDATE public.boom SET armed = true;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
VALUES ('0c034000-0000-4000-8000-000000000000', '0c034000-0000-4000-8000-0000000000a1', '0c034000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '5 days 12 hours', date_trunc('day', now()) + interval '5 days 13 hours'));
ROLLBACK TO SAVEPOINT s;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
VALUES ('0c034000-0000-4000-8000-000000000000', '0c034000-0000-4000-8000-0000000000a1', '0c034000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '5 days 14 hours', date_trunc('day', now()) + interval '5 days 15 hours'));
COMMIT;
DROP TRIGGER boom ON protector.audit_log;
DROP FUNCTION public.boom();
DROP TABLE public.boom;
-- (a review) what a trigger on the outbox queues as deferred is checked:
-- the outbox row is written at commit, after the transaction's deferred
-- events fired, and a deferrable foreign key of a table the trigger
-- wrote was dropped unchecked.  The booking's commit fails on it now.
CREATE TABLE public.parent (id int PRIMARY KEY);
CREATE TABLE public.child (parent_id int REFERENCES public.parent DEFERRABLE INITIALLY DEFERRED);
CREATE FUNCTION public.orphan() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.child VALUES (42);
	RETURN NULL;
END $$;
CREATE TRIGGER orphan AFTER INSERT ON protector_internal.outbox FOR EACH ROW EXECUTE FUNCTION public.orphan();
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
VALUES ('0c034000-0000-4000-8000-000000000000', '0c034000-0000-4000-8000-0000000000a1', '0c034000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '6 days 10 hours', date_trunc('day', now()) + interval '6 days 11 hours'));
SELECT count(*) AS orphans FROM public.child;
DROP TRIGGER orphan ON protector_internal.outbox;
DROP FUNCTION public.orphan();
DROP TABLE public.child, public.parent;
-- every row is there, the task too (the BEFORE trigger that would drop it
-- did not run): six bookings' rows (one, three, and the two kept around
-- the savepoint)
SELECT (SELECT count(*) FROM protector.audit_log WHERE organization_id = '0c034000-0000-4000-8000-000000000000' AND table_name = 'protector.bookings') AS audit_rows,
	   (SELECT count(*) FROM protector.tasks WHERE organization_id = '0c034000-0000-4000-8000-000000000000') AS tasks,
	   (SELECT count(*) FROM protector.notifications WHERE organization_id = '0c034000-0000-4000-8000-000000000000') AS notifications;
DROP TRIGGER seen ON protector.audit_log;
DROP TRIGGER seen_pinned ON protector.audit_log;
DROP TRIGGER seen_deferred ON protector_internal.outbox;
ALTER TABLE protector.audit_log DROP CONSTRAINT audit_log_known_table;
DROP TABLE public.known_tables;
DROP TRIGGER never ON protector.audit_log;
DROP TRIGGER seen ON protector.tasks;
DROP TRIGGER dropped ON protector.tasks;
DROP TRIGGER seen ON protector.notifications;
DROP TRIGGER seen_statement ON protector.notifications;
DROP TRIGGER seen ON protector_internal.outbox;
DROP TRIGGER seen ON protector_internal.report_changes;
DROP FUNCTION public.seen(), public.dropped(), public.seen_pinned();
DROP TABLE public.seen;
DELETE FROM protector.organizations WHERE id = '0c034000-0000-4000-8000-000000000000';
