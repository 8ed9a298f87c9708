-- The audit log hides what the audited tables hide (an attack review):
-- 1. a stored generated column added to an audited table after
--    enable_audit, computed from a masked column, was logged in clear
--    (upper(secret) logged the secret) until enable_audit ran again;
-- 2. with protector.notifications audited (docs/audit.md offers it), the
--    owners and admins who read the audit log read every notification
--    addressed to one member, which the table shows that member only.
-- 3. a row moved to another organization is logged under each as it is
--    there (a review of that fix: a row of no organization adopted by one
--    showed it what it held before; the copy under the organization a row
--    left named it by its new key when the key holds the organization).
-- 4. (a later review) a generated column masked at enable_audit became a
--    mask the table's writes required: dropping it failed every write
--    (42703), and renaming it was refused with a hint nobody could
--    follow; and the copy of a move under the organization a row left
--    listed every column that changed under the other.
BEGIN;
SELECT plan(12);

-- 1.
CREATE TABLE public.keys (id int PRIMARY KEY, secret text);
SELECT protector.enable_audit('public.keys', '{secret}') \g /dev/null
ALTER TABLE public.keys ADD COLUMN shout text GENERATED ALWAYS AS (upper(secret)) STORED;
ALTER TABLE public.keys ADD COLUMN note text GENERATED ALWAYS AS ('key ' || id) STORED;
INSERT INTO public.keys (id, secret) VALUES (1, 'hunter2');
SELECT is((SELECT new_row FROM protector.audit_log WHERE table_name = 'public.keys'),
	'{"id": 1, "note": "key 1", "shout": "[masked]", "secret": "[masked]"}'::jsonb,
	'a generated column added after enable_audit, computed from the masked secret, is masked; one of other columns is not');
UPDATE public.keys SET secret = 'swordfish';
SELECT is((SELECT old_row ->> 'shout' || ' ' || (new_row ->> 'shout') FROM protector.audit_log
		   WHERE table_name = 'public.keys' AND op = 'UPDATE'),
	'[masked] [masked]', '... in an update''s old and new rows too');

-- 2.
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['ap_owner', 'ap_admin', 'ap_manager']) u \g /dev/null
INSERT INTO protector.organizations (id, name, slug, timezone)
VALUES ('0a984000-0000-4000-8000-000000000000', 'Audit privacy', 'audit-privacy', 'UTC');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a984000-0000-4000-8000-000000000000', tests.get_supabase_uid('ap_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'admin', 'manager']) r;
SELECT protector.enable_audit('protector.notifications') \g /dev/null
SELECT tests.authenticate_as('ap_manager');
INSERT INTO protector.notifications (organization_id, recipient_id, kind, payload) VALUES
	('0a984000-0000-4000-8000-000000000000', tests.get_supabase_uid('ap_owner'), 'private.note', '{"text": "for the owner only"}'),
	('0a984000-0000-4000-8000-000000000000', NULL, 'desk.note', '{"text": "for the desk"}');
SELECT tests.authenticate_as('ap_admin');
SELECT is((SELECT count(*) FROM protector.notifications WHERE kind = 'private.note'), 0::bigint,
	'the admin does not see the owner''s notification');
SELECT is((SELECT string_agg(new_row ->> 'kind', ',' ORDER BY new_row ->> 'kind')
		   FROM protector.get_audit_logs(p_table => 'protector.notifications')),
	'desk.note', '... nor its audit rows: the desk''s notification only');
SELECT tests.authenticate_as('ap_owner');
SELECT is((SELECT string_agg(new_row ->> 'kind', ',' ORDER BY new_row ->> 'kind')
		   FROM protector.get_audit_logs(p_table => 'protector.notifications')),
	'desk.note,private.note', 'the owner reads the audit rows of the desk''s and of their own');
SELECT tests.clear_authentication();
UPDATE protector.notifications SET recipient_id = tests.get_supabase_uid('ap_admin') WHERE kind = 'desk.note';
SELECT tests.authenticate_as('ap_admin');
SELECT is((SELECT string_agg(op || ' ' || (new_row ->> 'kind'), ',' ORDER BY id)
		   FROM protector.get_audit_logs(p_table => 'protector.notifications')),
	'INSERT desk.note,UPDATE desk.note', 'a desk notification given to the admin: its history is the admin''s to read');
SELECT tests.clear_authentication();

-- 3.
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a984000-0000-4000-8000-00000000000a', 'A', 'audit-moves-a'), ('0a984000-0000-4000-8000-00000000000b', 'B', 'audit-moves-b');
CREATE TABLE public.drafts (organization_id uuid, id int PRIMARY KEY, body text);
SELECT protector.enable_audit('public.drafts') \g /dev/null
INSERT INTO public.drafts VALUES (NULL, 1, 'of nobody');
UPDATE public.drafts SET organization_id = '0a984000-0000-4000-8000-00000000000b', body = 'adopted';
SELECT results_eq($$SELECT organization_id, old_row ->> 'body', new_row ->> 'body' FROM protector.audit_log
					WHERE table_name = 'public.drafts' AND op = 'UPDATE' ORDER BY id$$,
	$$VALUES ('0a984000-0000-4000-8000-00000000000b'::uuid, NULL, 'adopted'), (NULL, 'of nobody', NULL)$$,
	'a row of no organization adopted by one: it reads the row as it is, not as it was');
CREATE TABLE public.pages (organization_id uuid, id int, body text, PRIMARY KEY (organization_id, id));
SELECT protector.enable_audit('public.pages') \g /dev/null
INSERT INTO public.pages VALUES ('0a984000-0000-4000-8000-00000000000a', 1, 'of A');
UPDATE public.pages SET organization_id = '0a984000-0000-4000-8000-00000000000b', body = 'of B';
SELECT results_eq($$SELECT organization_id, record_id COLLATE "default", old_row ->> 'body', new_row ->> 'body' FROM protector.audit_log
					WHERE table_name = 'public.pages' AND op = 'UPDATE' ORDER BY id$$,
	$$VALUES ('0a984000-0000-4000-8000-00000000000b'::uuid, '(0a984000-0000-4000-8000-00000000000b,1)'::text, NULL::text, 'of B'::text),
			 ('0a984000-0000-4000-8000-00000000000a', '(0a984000-0000-4000-8000-00000000000a,1)', 'of A', NULL)$$,
	'a row whose key holds its organization: the one it left keeps it under its own key, as it was there');

SELECT is((SELECT changed_columns::text FROM protector.audit_log
		   WHERE table_name = 'public.pages' AND op = 'UPDATE' AND organization_id = '0a984000-0000-4000-8000-00000000000a'),
	'{organization_id}', '... and is told the row moved, not which columns changed under the other');

-- 4.
CREATE TABLE public.keys2 (id int PRIMARY KEY, secret text, shout text GENERATED ALWAYS AS (upper(secret)) STORED,
						   loud text GENERATED ALWAYS AS (upper(secret) || '!') STORED);
SELECT protector.enable_audit('public.keys2', '{secret}') \g /dev/null
SELECT lives_ok($$ALTER TABLE public.keys2 DROP COLUMN shout$$, 'a generated column there at enable_audit is dropped');
SELECT lives_ok($$ALTER TABLE public.keys2 RENAME COLUMN loud TO louder$$, '... or renamed');
INSERT INTO public.keys2 (id, secret) VALUES (1, 'hunter2');
SELECT is((SELECT new_row FROM protector.audit_log WHERE table_name = 'public.keys2'),
	'{"id": 1, "louder": "[masked]", "secret": "[masked]"}'::jsonb, '... writes go on, and it is still masked under its new name');

SELECT * FROM finish();
ROLLBACK;
