-- enable_audit on a table whose audit trigger was disabled, enabled for
-- replicas only, or replaced by a trigger of the user's under its name:
-- it attaches protector's trigger again and says so (true).  It answered
-- "already audited" (false) from the trigger's name and arguments alone,
-- and the table's changes went unaudited (sql/80_audit.sql).  And a
-- stored generated column computed from a masked column is masked too.
BEGIN;
SELECT plan(8);

CREATE TABLE public.guests (id int PRIMARY KEY, name text, note text);
SELECT is(protector.enable_audit('public.guests', '{note}'), true, 'a table audited');
SELECT is(protector.enable_audit('public.guests', '{note}'), false, '... again: nothing to do');
ALTER TABLE public.guests DISABLE TRIGGER protector_audit;
SELECT is(protector.enable_audit('public.guests', '{note}'), true, 'its audit trigger disabled: attached again');
INSERT INTO public.guests VALUES (1, 'Carl', 'x');
SELECT is((SELECT count(*) FROM protector.audit_log WHERE table_name = 'public.guests'), 1::bigint, '... and a change is audited');
ALTER TABLE protector.customers ENABLE REPLICA TRIGGER protector_audit;
SELECT is(protector.enable_audit('protector.customers'), true, 'protector''s own table, its trigger for replicas only: attached again');
CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
DROP TRIGGER protector_audit ON public.guests;
CREATE TRIGGER protector_audit AFTER INSERT OR UPDATE OR DELETE ON public.guests FOR EACH ROW EXECUTE FUNCTION public.noop('note');
SELECT is(protector.enable_audit('public.guests', '{note}'), true, 'a trigger of the user''s under its name: replaced by protector''s');

CREATE TABLE public.keys (id int PRIMARY KEY, secret text, shout text GENERATED ALWAYS AS (upper(secret)) STORED);
SELECT protector.enable_audit('public.keys', '{secret}');
INSERT INTO public.keys (id, secret) VALUES (1, 'k1');
SELECT is((SELECT new_row ->> 'shout' FROM protector.audit_log WHERE table_name = 'public.keys'), '[masked]',
	'a generated column computed from a masked one is masked');
SELECT is((SELECT new_row ->> 'secret' FROM protector.audit_log WHERE table_name = 'public.keys'), '[masked]',
	'... as is the masked column');

SELECT * FROM finish();
ROLLBACK;
