-- A compiled CHECK of protector's tables (src/compiled_table.c) is shared
-- by the backend's statements and direct inserts, but evaluated by one of
-- them at a time: built-in functions do run users' code (to_jsonb runs a
-- user's cast to json), which may write the same table while the CHECK is
-- being evaluated.  Evaluating the same compiled states inside that
-- evaluation would overwrite its steps' values: the OR below keeps a flag
-- "an arm was NULL" that a nested row passing by NULL would leave set for
-- the outer row, which then passed too (and a pointer to a value freed
-- meanwhile crashed the server).  Every row below must get its own verdict.
SET TimeZone = 'UTC';
\set VERBOSITY terse

INSERT INTO protector.organizations (id, name, slug) VALUES ('00000000-0000-4000-8000-000000028a00', 'Reentrant', 'reentrant');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('00000000-0000-4000-8000-000000028af1', '00000000-0000-4000-8000-000000028a00', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('00000000-0000-4000-8000-000000028a51', '00000000-0000-4000-8000-000000028a00',
		'00000000-0000-4000-8000-000000028af1', 'Room', '60 minutes', '60 minutes', '400 days');
CREATE FUNCTION pg_temp.book(h int) RETURNS boolean LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	VALUES ('00000000-0000-4000-8000-000000028a00', '00000000-0000-4000-8000-000000028af1',
			'00000000-0000-4000-8000-000000028a51',
			tstzrange(date_trunc('day', now()) + interval '3 days' + h * interval '1 hour',
					  date_trunc('day', now()) + interval '3 days' + (h + 1) * interval '1 hour'))
	RETURNING true
$$;

-- the user's code: a cast to json that, once, writes a task titled
-- 'ok nested' (x.nest = task) or books (x.nest = booking)
CREATE TYPE public.rc_kind AS ENUM ('booking_review', 'manual');
CREATE FUNCTION public.rc_kind_json(public.rc_kind) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
	v_nest text := current_setting('x.nest', true);
BEGIN
	PERFORM set_config('x.nest', '', false);
	IF v_nest = 'task' THEN
		INSERT INTO protector.tasks (organization_id, title, kind)
		VALUES ('00000000-0000-4000-8000-000000028a00', 'ok nested', 'manual');
	ELSIF v_nest = 'booking' THEN
		PERFORM pg_temp.book(5);
	END IF;
	RETURN to_json($1::text);
END $$;
CREATE CAST (public.rc_kind AS json) WITH FUNCTION public.rc_kind_json(public.rc_kind);
-- a task passes by NULL when its title starts with x.ok, and is refused
-- otherwise: the second arm, which runs the cast, is never true
ALTER TABLE protector.tasks ADD CONSTRAINT rc_titles CHECK (
	(CASE WHEN title LIKE current_setting('x.ok') || '%' THEN NULL ELSE false END)
	OR to_jsonb(kind::public.rc_kind) IS NULL) NOT VALID;

-- without nesting: a review task passes when x.ok says so, else not
SELECT set_config('x.ok', 'Review', false), set_config('x.nest', '', false);
SELECT pg_temp.book(1);
SELECT set_config('x.ok', 'ok', false);
SELECT pg_temp.book(2);

-- a booking's review task (a direct insert) is being judged when the cast
-- writes a task that passes: the booking is still refused
SELECT set_config('x.nest', 'task', false);
SELECT pg_temp.book(3);

-- a task written by an INSERT is being judged when the cast writes one
-- that passes: still refused
SELECT set_config('x.nest', 'task', false);
INSERT INTO protector.tasks (organization_id, title, kind)
VALUES ('00000000-0000-4000-8000-000000028a00', 'outer', 'manual');

-- a task written by an INSERT is being judged when the cast books, whose
-- review task (a direct insert) passes: still refused
SELECT set_config('x.ok', 'Review', false), set_config('x.nest', 'booking', false);
INSERT INTO protector.tasks (organization_id, title, kind)
VALUES ('00000000-0000-4000-8000-000000028a00', 'outer', 'manual');

-- a nested row that passes is kept when its outer row passes too
SELECT set_config('x.ok', '', false), set_config('x.nest', 'task', false);
INSERT INTO protector.tasks (organization_id, title, kind)
VALUES ('00000000-0000-4000-8000-000000028a00', 'outer, passing', 'manual');

-- what is there: the first booking's review task, the last two tasks
SELECT regexp_replace(title, '\d{4}-\d\d-\d\d \d\d:\d\d', '<start>') AS title, kind FROM protector.tasks
WHERE organization_id = '00000000-0000-4000-8000-000000028a00' ORDER BY title;
SELECT count(*) AS bookings FROM protector.bookings
WHERE organization_id = '00000000-0000-4000-8000-000000028a00';

-- The same for a partial index's predicate, handed over at an INSERT's
-- first row: a hold taken for the INSERT lasts as long as the INSERT, even
-- when the hand-over happens inside a PL/pgSQL block's subtransaction
-- (a BEFORE trigger's CTE INSERT into bookings, before prepare_booking
-- runs for the outer row).  A range type's btree comparison in PL/pgSQL
-- is user code run by immutable built-in range functions: it books while
-- the outer row's predicate is evaluated, and once invalidates while the
-- table is compiled (so that the INSERT holds nothing at its start).  The
-- outer row (party of 3) satisfies the predicate and must be in the index
-- (it was missing: the nested row left the AND's "a NULL" flag set).
\c
SET TimeZone = 'UTC';
\set VERBOSITY terse
CREATE EXTENSION amcheck;
CREATE FUNCTION public.rc_nothing() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION public.rc_cmp(a int, b int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('x.inval', true) = 'yes' THEN
		PERFORM set_config('x.inval', '', false);
		EXECUTE format('ALTER FUNCTION public.rc_nothing() COST %s', 2 + (random() * 1000)::int);
	ELSIF (a = 3 OR b = 3) AND current_setting('x.book', true) = 'yes' THEN
		PERFORM set_config('x.book', '', false);
		INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size)
		VALUES ('00000000-0000-4000-8000-000000028a00', '00000000-0000-4000-8000-000000028af1',
				'00000000-0000-4000-8000-000000028a51',
				tstzrange(date_trunc('day', now()) + interval '4 days 9 hours', date_trunc('day', now()) + interval '4 days 10 hours'), 99);
	END IF;
	RETURN btint4cmp(a, b);
END $$;
CREATE OPERATOR CLASS public.rc_int_ops FOR TYPE int4 USING btree AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 public.rc_cmp(int4, int4);
CREATE TYPE public.rc_range AS RANGE (subtype = int4, subtype_opclass = public.rc_int_ops);
ALTER TABLE protector.bookings ADD CONSTRAINT rc_fold CHECK ('[1,10)'::public.rc_range @> 5) NOT VALID;
CREATE INDEX rc_pred ON protector.bookings (id)
	WHERE ((CASE WHEN party_size = 99 THEN NULL ELSE true END) AND party_size <@ '[1,50)'::public.rc_range) IS TRUE;
CREATE FUNCTION public.rc_first() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	v_n int;
BEGIN
	IF current_setting('x.trg', true) = 'yes' THEN
		PERFORM set_config('x.trg', '', false);
		BEGIN
			WITH x AS (INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size)
					   VALUES (NEW.organization_id, NEW.venue_id, NEW.service_id,
							   tstzrange(lower(NEW.during) + interval '10 hours', upper(NEW.during) + interval '10 hours'), 7)
					   RETURNING 1)
			SELECT count(*) INTO v_n FROM x;
		EXCEPTION WHEN others THEN RAISE;
		END;
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER a_rc_first BEFORE INSERT ON protector.bookings FOR EACH ROW EXECUTE FUNCTION public.rc_first();
-- a new session, protector loaded (its ExecutorStart hook in place) and
-- bookings not compiled yet
\c
SET TimeZone = 'UTC';
\set VERBOSITY terse
LOAD 'protector';
CREATE FUNCTION pg_temp.book_party(h int, party int) RETURNS boolean LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size)
	VALUES ('00000000-0000-4000-8000-000000028a00', '00000000-0000-4000-8000-000000028af1',
			'00000000-0000-4000-8000-000000028a51',
			tstzrange(date_trunc('day', now()) + interval '4 days' + h * interval '1 hour',
					  date_trunc('day', now()) + interval '4 days' + (h + 1) * interval '1 hour'), party)
	RETURNING true
$$;
SELECT set_config('x.ok', '', false), set_config('x.inval', 'yes', false),
	   set_config('x.trg', 'yes', false), set_config('x.book', 'yes', false);
SELECT pg_temp.book_party(1, 3);
SELECT party_size, ((CASE WHEN party_size = 99 THEN NULL ELSE true END) AND party_size <@ '[1,50)'::public.rc_range) IS TRUE AS predicate
FROM protector.bookings WHERE organization_id = '00000000-0000-4000-8000-000000028a00' AND party_size IN (3, 7, 99)
ORDER BY 1;
SELECT bt_index_check('protector.rc_pred', true);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS in_rc_pred FROM protector.bookings
WHERE ((CASE WHEN party_size = 99 THEN NULL ELSE true END) AND party_size <@ '[1,50)'::public.rc_range) IS TRUE
  AND organization_id = '00000000-0000-4000-8000-000000028a00';
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP TRIGGER a_rc_first ON protector.bookings;
DROP FUNCTION public.rc_first();
DROP INDEX protector.rc_pred;
ALTER TABLE protector.bookings DROP CONSTRAINT rc_fold;
DROP TYPE public.rc_range;
DROP OPERATOR CLASS public.rc_int_ops USING btree;
DROP FUNCTION public.rc_cmp(int, int);
DROP FUNCTION public.rc_nothing();
DROP EXTENSION amcheck;

ALTER TABLE protector.tasks DROP CONSTRAINT rc_titles;
DROP CAST (public.rc_kind AS json);
DROP FUNCTION public.rc_kind_json(public.rc_kind);
DROP TYPE public.rc_kind;
DELETE FROM protector.organizations WHERE id = '00000000-0000-4000-8000-000000028a00';
