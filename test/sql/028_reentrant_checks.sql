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

ALTER TABLE protector.tasks DROP CONSTRAINT rc_titles;
DROP CAST (public.rc_kind AS json);
DROP FUNCTION public.rc_kind_json(public.rc_kind);
DROP TYPE public.rc_kind;
DELETE FROM protector.organizations WHERE id = '00000000-0000-4000-8000-000000028a00';
