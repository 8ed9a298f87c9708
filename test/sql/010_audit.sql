-- The audit trigger on a user's own table: every change recorded with the
-- same jsonb as to_jsonb(), composite keys, masked columns, no-op updates,
-- TRUNCATE, partitions; bad input to enable_audit / disable_audit; the log
-- is append-only for every API role.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY terse

CREATE DOMAIN public.posint AS int CHECK (VALUE > 0);
CREATE TYPE public.mood AS ENUM ('calm', 'tense');
CREATE TABLE public.exotic (
	a int, b text, arr text[], j jsonb, bin bytea, f float8, n numeric,
	secret text, ts timestamp, iv interval, p public.posint, m public.mood,
	r int4range, g int GENERATED ALWAYS AS (a * 2) STORED,
	PRIMARY KEY (a, b));
SELECT protector.enable_audit('public.exotic', '{secret}');
-- the same masks again: nothing to do
SELECT protector.enable_audit('public.exotic', '{secret}');

SET request.jwt.claims = '{"sub": "00000000-0000-4000-8000-0000000000e1", "role": "authenticated"}';
INSERT INTO public.exotic VALUES
	(1, 'x', '{x,"y z"}', '{"k": [1, 2]}', '\x0102', 'NaN', 1.50, 'hunter2', '2026-01-01 10:00', '1 day', 5, 'calm', '[1,5)'),
	(2, 'a,b (c)', NULL, '"scalar"', NULL, 1.5, 'Infinity', NULL, NULL, NULL, NULL, NULL, NULL);
RESET request.jwt.claims;
UPDATE public.exotic SET secret = 'correct horse' WHERE a = 1;
UPDATE public.exotic SET a = a, b = b;			-- changes nothing: no audit row
UPDATE public.exotic SET n = n + 1 WHERE a = 1;
DELETE FROM public.exotic WHERE a = 2;
TRUNCATE public.exotic;

SELECT organization_id, actor_uid, actor_role, table_name, record_id, op, changed_columns
FROM protector.audit_log WHERE table_name = 'public.exotic' ORDER BY id;
SELECT record_id, op, new_row, old_row FROM protector.audit_log
WHERE table_name = 'public.exotic' ORDER BY id;

-- the values are exactly what to_jsonb() makes of the row (masks aside)
-- in PostgreSQL's default output settings, whatever the writer's: this
-- session's IntervalStyle is pg_regress's postgres_verbose ("@ 1 day"
-- above is written "1 day")
INSERT INTO public.exotic (a, b, arr, j, bin, f, n, ts, iv, p, m, r)
VALUES (3, 'q', '{{1,2},{3,4}}', '[null]', '\xff', -0.5, 0.0001, '2026-03-29 02:30', '-2 hours', 7, 'tense', 'empty');
SET IntervalStyle = 'postgres';
SELECT l.new_row = to_jsonb(e) - 'secret' || '{"secret": null}' AS same_as_to_jsonb
FROM protector.audit_log l, public.exotic e
WHERE l.table_name = 'public.exotic' AND l.op = 'INSERT' AND l.record_id = '(3,q)' AND e.a = 3;
RESET IntervalStyle;
-- record_id is what ROW(...)::text prints, so lookups can be written with it
SELECT count(*) FROM protector.audit_log WHERE record_id = ROW(2, 'a,b (c)')::text;
-- ... also with a vertical tab in a key, which ROW() quotes (record_out's
-- isspace()) and the record_id did not
INSERT INTO public.exotic (a, b) VALUES (5, 'x' || chr(11) || 'y');
SELECT count(*) FROM protector.audit_log WHERE record_id = ROW(5, 'x' || chr(11) || 'y')::text;
DELETE FROM public.exotic WHERE a = 5;
-- a key printed by the session's settings (a date, a time) has one
-- record_id whoever writes it: ISO dates, UTC (it was (1,05.01.2027,...)
-- under DateStyle German, another id for the same row)
CREATE TABLE public.dated (id int, at date, t timestamptz, note text, PRIMARY KEY (id, at, t));
SELECT protector.enable_audit('public.dated');
INSERT INTO public.dated VALUES (1, '2027-01-05', '2027-01-05 10:00+00', 'a');
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Asia/Tokyo';
UPDATE public.dated SET note = 'b';
SET DateStyle = 'German';
UPDATE public.dated SET note = 'c';
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'UTC';
SELECT op, record_id FROM protector.audit_log WHERE table_name = 'public.dated' ORDER BY id;
-- (a regclass key too, whatever the writer's search_path)
CREATE SCHEMA app;
CREATE TABLE app.things (id int);
CREATE TABLE public.by_class (t regclass PRIMARY KEY, note text);
SELECT protector.enable_audit('public.by_class');
INSERT INTO public.by_class VALUES ('app.things', 'x');
SET search_path = app, public;
UPDATE public.by_class SET note = 'y';
RESET search_path;
SELECT op, record_id FROM protector.audit_log WHERE table_name = 'public.by_class' ORDER BY id;

-- the transaction id is the writer's
BEGIN;
INSERT INTO public.exotic (a, b) VALUES (4, 'tx');
SELECT txid = txid_current() AS same_transaction, occurred_at = now() AS at_transaction_start
FROM protector.audit_log WHERE record_id = '(4,tx)';
COMMIT;

-- a masked column cannot be renamed (its values would be logged in clear
-- under the new name); unmasked, renamed and masked again in one
-- transaction, it stays masked
ALTER TABLE public.exotic RENAME COLUMN secret TO pin;
-- (also under session_replication_role = replica, a load tool's DDL)
SET session_replication_role = replica;
ALTER TABLE public.exotic RENAME COLUMN secret TO pin;
RESET session_replication_role;
BEGIN;
SELECT protector.enable_audit('public.exotic', '{}');
ALTER TABLE public.exotic RENAME COLUMN secret TO pin;
SELECT protector.enable_audit('public.exotic', '{pin}');
COMMIT;
INSERT INTO public.exotic (a, b, pin) VALUES (9, 'z', '1234');
SELECT new_row ->> 'pin' AS pin FROM protector.audit_log WHERE record_id = '(9,z)';
-- a masked column dropped: writes are refused until the list is set again
ALTER TABLE public.exotic ADD COLUMN note text;
SELECT protector.enable_audit('public.exotic', '{pin,note}');
ALTER TABLE public.exotic DROP COLUMN note;
INSERT INTO public.exotic (a, b, pin) VALUES (10, 'y', '1');
SELECT protector.enable_audit('public.exotic', '{pin}');

-- bad input: clear errors or documented no-ops
SELECT protector.enable_audit(NULL);
SELECT protector.enable_audit('public.exotic', NULL);
SELECT protector.enable_audit('public.exotic', '{NULL}');
SELECT protector.enable_audit('public.exotic', '{nope}');
SELECT protector.enable_audit(12345::regclass);
CREATE TABLE public.nopk (a int);
SELECT protector.enable_audit('public.nopk');
CREATE VIEW public.v AS SELECT 1 AS one;
SELECT protector.enable_audit('public.v');
SELECT protector.enable_audit('pg_class');
SELECT protector.enable_audit('information_schema.sql_features');
SELECT protector.enable_audit('protector.audit_log');
SELECT protector.disable_audit(NULL);
SELECT protector.disable_audit('public.nopk');
-- the trigger refuses to be attached the wrong way
CREATE TRIGGER wrong BEFORE INSERT ON public.nopk FOR EACH ROW EXECUTE FUNCTION protector.audit_trigger();
INSERT INTO public.nopk VALUES (1);
DROP TRIGGER wrong ON public.nopk;
CREATE TRIGGER wrong AFTER INSERT ON public.nopk FOR EACH STATEMENT EXECUTE FUNCTION protector.audit_trigger();
INSERT INTO public.nopk VALUES (1);
DROP TRIGGER wrong ON public.nopk;
SELECT protector.audit_trigger();
-- attached by hand to a table without a key: recorded without record_id
CREATE TRIGGER by_hand AFTER INSERT ON public.nopk FOR EACH ROW EXECUTE FUNCTION protector.audit_trigger();
INSERT INTO public.nopk VALUES (2);
SELECT table_name, record_id, new_row FROM protector.audit_log WHERE table_name = 'public.nopk';

-- disabling twice: the second is a no-op with a notice
SELECT protector.disable_audit('public.exotic');
SELECT protector.disable_audit('public.exotic');
INSERT INTO public.exotic (a, b) VALUES (10, 'not audited');
SELECT count(*) FROM protector.audit_log WHERE record_id = '(10,"not audited")';

-- dropping an audited table breaks nothing; its history stays
SELECT protector.enable_audit('public.exotic');
DROP TABLE public.exotic;
SELECT count(*) AS history_kept FROM protector.audit_log WHERE table_name = 'public.exotic';

-- partitioned tables: rows are recorded under the partition they land in
CREATE TABLE public.part (id int PRIMARY KEY, x text) PARTITION BY RANGE (id);
CREATE TABLE public.part1 PARTITION OF public.part FOR VALUES FROM (0) TO (100);
SELECT protector.enable_audit('public.part');
INSERT INTO public.part VALUES (1, 'a');
TRUNCATE public.part;
SELECT table_name, record_id, op FROM protector.audit_log WHERE table_name LIKE 'public.part%' ORDER BY id;
-- a partition is audited through its partitioned table: enable_audit and
-- disable_audit refuse it by name (the DDL's own error was bare), and a
-- partitioned table whose partition was audited before it was attached is
-- named too
SELECT protector.enable_audit('public.part1');
SELECT protector.disable_audit('public.part1');
CREATE TABLE public.part_loose (id int PRIMARY KEY, x text) PARTITION BY RANGE (id);
CREATE TABLE public.part_early (id int PRIMARY KEY, x text);
SELECT protector.enable_audit('public.part_early');
ALTER TABLE public.part_loose ATTACH PARTITION public.part_early FOR VALUES FROM (0) TO (100);
SELECT protector.enable_audit('public.part_loose');
DROP TRIGGER protector_audit ON public.part_early;
SELECT protector.enable_audit('public.part_loose');
DROP TABLE public.part_loose;

-- the trigger keeps audit_log open for the transaction: savepoints,
-- errors, DDL on audit_log and DROP TABLE in the same transaction all work
CREATE TABLE public.t (id int PRIMARY KEY, v text);
SELECT protector.enable_audit('public.t');
BEGIN;
SAVEPOINT s;
INSERT INTO public.t VALUES (1, 'rolled back');
ROLLBACK TO s;
INSERT INTO public.t VALUES (2, 'kept');
COMMIT;
BEGIN;
INSERT INTO public.t VALUES (3, 'lost');
SELECT 1 / 0;
ROLLBACK;
BEGIN;
INSERT INTO public.t VALUES (4, 'before the index');
CREATE INDEX audit_log_test_idx ON protector.audit_log (record_id) WHERE table_name = 'public.t';
INSERT INTO public.t VALUES (5, 'after the index');
COMMIT;
SET enable_seqscan = off;
SELECT record_id, new_row ->> 'v' AS v FROM protector.audit_log WHERE table_name = 'public.t' ORDER BY record_id;
RESET enable_seqscan;
DROP INDEX protector.audit_log_test_idx;
BEGIN;
INSERT INTO public.t VALUES (6, 'then dropped');
DROP TABLE public.t;
COMMIT;
SELECT count(*) AS t_history FROM protector.audit_log WHERE table_name = 'public.t';

-- protector's own tables are audited from the start
SELECT tgrelid::regclass AS audited FROM pg_trigger WHERE tgname = 'protector_audit'
  AND tgrelid::regclass::text LIKE 'protector.%' ORDER BY 1;

-- append-only: no API role may write, change or delete history
SET ROLE authenticated;
INSERT INTO protector.audit_log (table_name, op) VALUES ('x', 'INSERT');
UPDATE protector.audit_log SET op = 'DELETE';
DELETE FROM protector.audit_log;
RESET ROLE;
SET ROLE service_role;
SELECT count(*) > 0 AS service_role_reads FROM protector.audit_log;
UPDATE protector.audit_log SET op = 'DELETE';
DELETE FROM protector.audit_log;
TRUNCATE protector.audit_log;
RESET ROLE;
SET ROLE anon;
SELECT count(*) FROM protector.audit_log;
RESET ROLE;

-- audit rows are written past the executor (src/direct_insert.c), but
-- they still pass audit_log's constraints: a CHECK added to audit_log
-- refuses the change that would log a DELETE, and the change with it; in
-- the same transaction, once the CHECK is gone, the next change is logged
-- through a writer reopened for the new definition
CREATE TABLE public.checked (a int PRIMARY KEY);
SELECT protector.enable_audit('public.checked');
INSERT INTO public.checked VALUES (7);
BEGIN;
ALTER TABLE protector.audit_log ADD CONSTRAINT no_deletes_logged CHECK (op <> 'DELETE') NOT VALID;
SAVEPOINT s;
DELETE FROM public.checked WHERE a = 7;
ROLLBACK TO SAVEPOINT s;
ALTER TABLE protector.audit_log DROP CONSTRAINT no_deletes_logged;
DELETE FROM public.checked WHERE a = 7;
COMMIT;
SELECT op, record_id, new_row, old_row FROM protector.audit_log WHERE table_name = 'public.checked' ORDER BY id;
DROP TABLE public.checked;

DROP TABLE public.nopk, public.part;
DROP VIEW public.v;
DROP TYPE public.mood;
DROP DOMAIN public.posint;

-- A table inheriting from an audited one keeps its own triggers: its rows
-- are not audited through the parent, and enable_audit of the parent says
-- which are not (they were left out in silence); once audited, it is not
-- named again.
CREATE TABLE public.par (id int PRIMARY KEY, s text);
CREATE TABLE public.chi (PRIMARY KEY (id)) INHERITS (public.par);
CREATE TABLE public.grandchi (PRIMARY KEY (id)) INHERITS (public.chi);
SELECT protector.enable_audit('public.par');
SELECT protector.enable_audit('public.chi');
SELECT protector.disable_audit('public.par');
SELECT protector.enable_audit('public.par');
-- (the same call again changes nothing, and still names it)
SELECT protector.enable_audit('public.par');
INSERT INTO public.chi VALUES (1, 'a');
UPDATE public.par SET s = 'b';
SELECT table_name, op FROM protector.audit_log WHERE table_name IN ('public.par', 'public.chi', 'public.grandchi') ORDER BY id;
DROP TABLE public.par, public.chi, public.grandchi;
