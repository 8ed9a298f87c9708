-- Supabase Realtime's functions and realtime.messages may belong to a role
-- that is no superuser (Supabase gives them to supabase_realtime_admin,
-- whom a project's postgres role may act as).  The broadcast triggers run
-- as protector's owner, a superuser, and called them as such: that role
-- redefined realtime.broadcast_changes, or put a trigger on
-- realtime.messages, and became a superuser the next time a manager
-- booked (an attack review).  They are called as their owner now, in a
-- security-restricted operation (src/realtime_call.c).
BEGIN;
SELECT plan(27);

CREATE ROLE rt_admin_979 NOLOGIN;
GRANT ALL ON SCHEMA realtime TO rt_admin_979;
-- Supabase's own layout first: the functions a superuser's, the table
-- another role's, whose trigger ran as the function's superuser owner
-- (a review of the first fix)
ALTER TABLE realtime.messages OWNER TO rt_admin_979;
CREATE TABLE realtime.ran_as (what text, who name, super boolean);
ALTER TABLE realtime.ran_as OWNER TO rt_admin_979;
SET ROLE rt_admin_979;
CREATE FUNCTION realtime.note_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO realtime.ran_as SELECT 'messages trigger', current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
	RETURN NULL;
END
$$;
CREATE TRIGGER note_message AFTER INSERT ON realtime.messages FOR EACH ROW EXECUTE FUNCTION realtime.note_message();
RESET ROLE;

SELECT tests.create_supabase_user('ro_manager');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a979000-0000-4000-8000-000000000000', 'Owners', 'realtime-owner');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a979000-0000-4000-8000-000000000000', tests.get_supabase_uid('ro_manager'), 'manager');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a979000-0000-4000-8000-0000000000a1', '0a979000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0a979000-0000-4000-8000-0000000005a1', '0a979000-0000-4000-8000-000000000000', '0a979000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days');
DELETE FROM realtime.messages;

SELECT tests.authenticate_as('ro_manager');
SELECT lives_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												  date_trunc('day', now()) + interval '2 days 10 hours')$$,
	'the manager books while the table is another role''s than the functions');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT what COLLATE "default", who::text COLLATE "default", super FROM realtime.ran_as$$,
	$$VALUES ('messages trigger', 'rt_admin_979', false)$$,
	'... and the table''s trigger ran as the table''s owner, no superuser');
DELETE FROM realtime.ran_as;
DELETE FROM realtime.messages;

-- then all of it that role's, and its function rewritten
ALTER FUNCTION realtime.send(jsonb, text, text, boolean) OWNER TO rt_admin_979;
ALTER FUNCTION realtime.broadcast_changes(text, text, text, text, text, record, record, text) OWNER TO rt_admin_979;
SET ROLE rt_admin_979;
CREATE OR REPLACE FUNCTION realtime.broadcast_changes(topic_name text, event_name text, operation text,
													  table_name text, table_schema text, new record, old record,
													  level text DEFAULT 'ROW')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO realtime.ran_as SELECT 'broadcast_changes', current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
	PERFORM realtime.send(jsonb_build_object('operation', operation, 'record', to_jsonb(new)), event_name, topic_name, true);
END
$$;
RESET ROLE;

SELECT tests.authenticate_as('ro_manager');
SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL, date_trunc('day', now()) + interval '3 days 10 hours')
	->> 'id' AS booking \gset
SELECT lives_ok(format($$SELECT protector.send_message(%L, 'See you then')$$, :'booking'), 'the manager writes on the booking');
SELECT tests.clear_authentication();

SELECT results_eq($$SELECT what COLLATE "default", who::text COLLATE "default", super FROM realtime.ran_as ORDER BY what$$,
	$$VALUES ('broadcast_changes', 'rt_admin_979', false), ('messages trigger', 'rt_admin_979', false),
			 ('messages trigger', 'rt_admin_979', false)$$,
	'realtime''s function and the trigger on its table ran as their owner, no superuser (a booking, a message)');
SELECT is((SELECT string_agg(event, ' ' ORDER BY event) FROM realtime.messages
		   WHERE topic = 'protector:0a979000-0000-4000-8000-000000000000'), 'INSERT message',
	'... and the booking and the message were broadcast on the organization''s topic');
-- settings made inside are undone, and a restricted operation makes no
-- temporary objects for later superuser code to find
SET ROLE rt_admin_979;
CREATE OR REPLACE FUNCTION realtime.broadcast_changes(topic_name text, event_name text, operation text,
													  table_name text, table_schema text, new record, old record,
													  level text DEFAULT 'ROW')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('search_path', 'realtime, pg_catalog', false);
	CREATE TEMP TABLE planted (x int);
END
$$;
RESET ROLE;
SELECT tests.authenticate_as('ro_manager');
SELECT throws_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												   date_trunc('day', now()) + interval '4 days 10 hours')$$,
	'42501', 'cannot create temporary table within security-restricted operation',
	'realtime''s function may not make temporary objects');
SELECT tests.clear_authentication();
SET ROLE rt_admin_979;
CREATE OR REPLACE FUNCTION realtime.broadcast_changes(topic_name text, event_name text, operation text,
													  table_name text, table_schema text, new record, old record,
													  level text DEFAULT 'ROW')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('protector_test.planted', 'yes', false);
END
$$;
RESET ROLE;
SELECT tests.authenticate_as('ro_manager');
SELECT lives_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												  date_trunc('day', now()) + interval '5 days 10 hours')$$,
	'a booking whose broadcast sets a setting');
SELECT tests.clear_authentication();
SELECT is(COALESCE(current_setting('protector_test.planted', true), ''), '', '... leaves the setting as it was (not "yes")');

-- objects of two roles that are no superusers: either could plant code
-- that runs as the other; refused by name
CREATE ROLE rt_other_979 NOLOGIN;
ALTER FUNCTION realtime.broadcast_changes(text, text, text, text, text, record, record, text) OWNER TO rt_other_979;
SELECT tests.authenticate_as('ro_manager');
SELECT throws_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												   date_trunc('day', now()) + interval '6 days 10 hours')$$,
	'42501', 'Supabase Realtime''s objects belong to more than one role that is not a superuser',
	'realtime''s objects of two roles are refused');
SELECT tests.clear_authentication();

-- the functions' owners both count (broadcast_changes calls send): send
-- of another role's, the rest a superuser's, ran as the superuser (a
-- review of the fix)
ALTER FUNCTION realtime.broadcast_changes(text, text, text, text, text, record, record, text) OWNER TO CURRENT_USER;
CREATE OR REPLACE FUNCTION realtime.broadcast_changes(topic_name text, event_name text, operation text,
													  table_name text, table_schema text, new record, old record,
													  level text DEFAULT 'ROW')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM realtime.send(jsonb_build_object('operation', operation, 'record', to_jsonb(new)), event_name, topic_name, true);
END
$$;
ALTER TABLE realtime.messages OWNER TO CURRENT_USER;
SET ROLE rt_admin_979;
CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO realtime.ran_as SELECT 'send', current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
END
$$;
RESET ROLE;
DELETE FROM realtime.ran_as;
SELECT tests.authenticate_as('ro_manager');
SELECT lives_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												  date_trunc('day', now()) + interval '7 days 10 hours')$$,
	'a booking while only send is another role''s');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT what COLLATE "default", who::text COLLATE "default", super FROM realtime.ran_as$$,
	$$VALUES ('send', 'rt_admin_979', false)$$, '... send ran as its owner, called by the superuser''s broadcast_changes');
-- a superuser's SECURITY DEFINER send beside another role's table would
-- switch back to the superuser inside the call, and the table's trigger
-- with it: refused
ALTER FUNCTION realtime.send(jsonb, text, text, boolean) OWNER TO CURRENT_USER;
ALTER FUNCTION realtime.send(jsonb, text, text, boolean) SECURITY DEFINER;
ALTER TABLE realtime.messages OWNER TO rt_admin_979;
SELECT tests.authenticate_as('ro_manager');
SELECT throws_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												   date_trunc('day', now()) + interval '8 days 10 hours')$$,
	'42501', NULL, 'a superuser''s SECURITY DEFINER send beside another role''s table is refused');
SELECT tests.clear_authentication();
-- no realtime.messages (renamed away): nothing to broadcast to, and no
-- call as the functions' superuser owner, which the table could come back
-- under before the insert (a review)
ALTER FUNCTION realtime.send(jsonb, text, text, boolean) SECURITY INVOKER;
ALTER TABLE realtime.messages RENAME TO messages_away;
SELECT tests.authenticate_as('ro_manager');
SELECT lives_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												  date_trunc('day', now()) + interval '9 days 10 hours')$$,
	'without realtime.messages a booking goes through, not broadcast (a WARNING)');
SELECT tests.clear_authentication();
ALTER TABLE realtime.messages_away RENAME TO messages;

-- (a send that writes the message, for what follows)
CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO realtime.messages (payload, event, topic, private, extension)
	VALUES (payload, event, topic, private, 'broadcast')
$$;
-- all of it a superuser's, but a trigger there of another role's (or one
-- it may add: Supabase grants ALL on the table to postgres) would run as
-- the superuser: nothing is broadcast, with a WARNING (a review)
ALTER TABLE realtime.messages OWNER TO CURRENT_USER;
DELETE FROM realtime.messages;
DELETE FROM realtime.ran_as;
SELECT tests.authenticate_as('ro_manager');
SELECT lives_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												  date_trunc('day', now()) + interval '11 days 10 hours')$$,
	'a booking while a superuser''s realtime.messages has a trigger of another role''s');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM realtime.messages) + (SELECT count(*)::int FROM realtime.ran_as), 0,
	'... is not broadcast, and the trigger did not run as the superuser');
DROP TRIGGER note_message ON realtime.messages;
CREATE ROLE rt_granted_979 NOLOGIN;
GRANT TRIGGER ON realtime.messages TO rt_granted_979;
SELECT tests.authenticate_as('ro_manager');
SELECT lives_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												  date_trunc('day', now()) + interval '12 days 10 hours')$$,
	'nor while another role may add one');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM realtime.messages), 0, '... nothing broadcast');
-- ... nor once TRIGGER is taken back from it, while a trigger it made
-- calls its own function in WHEN (a review)
GRANT USAGE ON SCHEMA realtime TO rt_granted_979;
GRANT CREATE ON SCHEMA public TO rt_granted_979;
SET ROLE rt_granted_979;
CREATE TABLE public.watch_979 (who name, super boolean);
CREATE FUNCTION public.watch_979() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.watch_979 SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
	RETURN false;
END
$$;
CREATE TRIGGER planted AFTER INSERT ON realtime.messages FOR EACH ROW WHEN (public.watch_979())
	EXECUTE FUNCTION suppress_redundant_updates_trigger();
RESET ROLE;
REVOKE TRIGGER ON realtime.messages FROM rt_granted_979;
SELECT tests.authenticate_as('ro_manager');
SELECT lives_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												  date_trunc('day', now()) + interval '13 days 10 hours')$$,
	'nor while a trigger calls its function in WHEN');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM realtime.messages) + (SELECT count(*)::int FROM public.watch_979), 0,
	'... nothing broadcast, and its function not run as the superuser');
DROP TRIGGER planted ON realtime.messages;
-- ... nor while every role may add one (TRIGGER to PUBLIC, whose grantee
-- id is 0: read as no grantee at first)
GRANT TRIGGER ON realtime.messages TO PUBLIC;
SELECT tests.authenticate_as('ro_manager');
SELECT lives_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												  date_trunc('day', now()) + interval '14 days 10 hours')$$,
	'nor while every role may add one');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM realtime.messages), 0, '... nothing broadcast');
REVOKE TRIGGER ON realtime.messages FROM PUBLIC;
-- ... nor while it has a trigger at all: what a trigger's function or WHEN
-- reaches (a domain's CHECK, SQL text a superuser's function runs) cannot
-- be told from the catalog (a review)
CREATE TRIGGER any_trigger AFTER INSERT ON realtime.messages FOR EACH ROW
	EXECUTE FUNCTION suppress_redundant_updates_trigger();
SELECT tests.authenticate_as('ro_manager');
SELECT lives_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												  date_trunc('day', now()) + interval '15 days 10 hours')$$,
	'nor while a superuser''s realtime.messages has any trigger');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM realtime.messages), 0, '... nothing broadcast');
DROP TRIGGER any_trigger ON realtime.messages;
SELECT tests.authenticate_as('ro_manager');
SELECT lives_ok($$SELECT protector.create_booking('0a979000-0000-4000-8000-0000000005a1', NULL,
												  date_trunc('day', now()) + interval '16 days 10 hours')$$,
	'without triggers or grantees');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM realtime.messages), 1, '... the booking is broadcast');

-- without the signatures protector calls, it does not broadcast: every
-- booking would fail with the call
DROP FUNCTION realtime.send(jsonb, text, text, boolean);
SELECT is((protector.enable_realtime() ->> 'broadcast')::boolean, false,
	'without realtime.send(jsonb, text, text, boolean) enable_realtime does not broadcast');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgname IN ('broadcast_booking_change', 'broadcast_message')), 0,
	'... and takes the broadcast triggers off');

SELECT * FROM finish();
ROLLBACK;
