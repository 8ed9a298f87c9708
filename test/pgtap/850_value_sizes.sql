-- The 8 kB limits of a notification's payload and a staff activity's
-- details, and merge_patch's 256 kB, count a value's size uncompressed
-- (protector_internal.value_size, src/constraints.c).  They measured it
-- with pg_column_size(), which answers a compressed value's stored size:
-- a 200 kB payload copied from a stored row passed as 2 kB.
BEGIN;
SELECT plan(15);

SELECT tests.create_supabase_user('z_sizes_op');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a850000-0000-4000-8000-000000000000', 'Sizes', 'sizes');
INSERT INTO protector.members (organization_id, user_id, role, full_name, confirmed_at)
VALUES ('0a850000-0000-4000-8000-000000000000', tests.get_supabase_uid('z_sizes_op'), 'operator', 'Op', now());
-- stored rows: 200 kB of one letter, compressed on the way in
CREATE TABLE public.stored (id int PRIMARY KEY, v jsonb);
INSERT INTO public.stored VALUES (1, jsonb_build_object('x', repeat('a', 200000))),
	(2, jsonb_build_object('x', repeat('b', 300000)));
GRANT SELECT ON public.stored TO authenticated;

SELECT cmp_ok((SELECT pg_column_size(v) FROM public.stored WHERE id = 1), '<', 8192,
	'(the premise: a stored 200 kB value measures under 8 kB as stored)');
SELECT is((SELECT protector_internal.value_size(v) FROM public.stored WHERE id = 1),
	(SELECT pg_column_size(jsonb_build_object('x', repeat('a', 200000)))),
	'value_size of the stored value is its size uncompressed');
SELECT is(protector_internal.value_size(jsonb_build_object('x', repeat('c', 5000))),
	pg_column_size(jsonb_build_object('x', repeat('c', 5000))),
	'... and of a value never compressed, what pg_column_size says');
SELECT is(protector_internal.value_size(NULL), NULL, '... NULL for NULL');

-- notifications: the limit is 8192 bytes, whatever the value's origin
SELECT lives_ok($$INSERT INTO protector.notifications (organization_id, kind, payload)
	VALUES ('0a850000-0000-4000-8000-000000000000', 'desk.note',
			jsonb_build_object('x', repeat('a', 8192 - pg_column_size(jsonb_build_object('x', '')))))$$,
	'a payload of exactly 8192 bytes is stored');
SELECT throws_ok($$INSERT INTO protector.notifications (organization_id, kind, payload)
	VALUES ('0a850000-0000-4000-8000-000000000000', 'desk.note',
			jsonb_build_object('x', repeat('a', 8193 - pg_column_size(jsonb_build_object('x', '')))))$$,
	'23514', NULL, '... one of 8193 is not');
SELECT throws_ok($$INSERT INTO protector.notifications (organization_id, kind, payload)
	SELECT '0a850000-0000-4000-8000-000000000000', 'desk.note', v FROM public.stored WHERE id = 1$$,
	'23514', 'new row for relation "notifications" violates check constraint "notifications_payload_check"',
	'a 200 kB payload copied from a stored row is refused');
SELECT throws_ok($$INSERT INTO protector.staff_activity (organization_id, member_id, action, details)
	SELECT '0a850000-0000-4000-8000-000000000000', m.id, 'desk.note', s.v
	FROM protector.members m, public.stored s WHERE m.organization_id = '0a850000-0000-4000-8000-000000000000' AND s.id = 1$$,
	'22023', 'details must be a JSON object of at most 8 kB',
	'... as are a staff activity''s 200 kB details, in words');

SELECT tests.authenticate_as('z_sizes_op');
SELECT throws_ok($$SELECT protector.log_staff_activity('0a850000-0000-4000-8000-000000000000', 'desk.note',
	(SELECT v FROM public.stored WHERE id = 1))$$,
	'22023', 'p_details must be a JSON object of at most 8 kB', 'log_staff_activity refuses 200 kB of stored details');
SELECT throws_ok($$SELECT protector.merge_patch('{}', (SELECT v FROM public.stored WHERE id = 2))$$,
	'22023', 'the patch is too large', 'merge_patch refuses a stored 300 kB patch');
RESET ROLE;
SELECT is((SELECT count(*) FROM protector.notifications WHERE organization_id = '0a850000-0000-4000-8000-000000000000'),
	1::bigint, 'only the 8192-byte notification was stored');

-- settings objects: at most 64 kB each, however written (an attack review:
-- custom took 50 MB, and the widget's public venue call sent it to every
-- visitor); one stored larger before stays writable while not grown
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a850000-0000-4000-8000-0000000000a1', '0a850000-0000-4000-8000-000000000000', 'V', 'UTC');
SELECT throws_ok($$UPDATE protector.venues SET branding = jsonb_build_object('custom', jsonb_build_object('x', repeat('a', 70000)))
				   WHERE id = '0a850000-0000-4000-8000-0000000000a1'$$,
	'22023', 'branding is too large', 'a branding of 70 kB is refused');
SELECT throws_ok($$UPDATE protector.organizations SET settings = jsonb_build_object('custom', (SELECT v FROM public.stored WHERE id = 1))
				   WHERE id = '0a850000-0000-4000-8000-000000000000'$$,
	'22023', 'settings is too large', '... an organization''s settings of a stored 200 kB value');
SELECT protector.update_venue('0a850000-0000-4000-8000-0000000000a1',
	jsonb_build_object('widget_settings', jsonb_build_object('custom', jsonb_build_object('y', repeat('c', 40000))))) \g /dev/null
SELECT throws_ok($$SELECT protector.update_venue('0a850000-0000-4000-8000-0000000000a1',
	jsonb_build_object('widget_settings', jsonb_build_object('custom', jsonb_build_object('z', repeat('c', 40000)))))$$,
	'22023', 'widget_settings is too large', '... and patches that add up past it, each under the patch''s limit');
SET LOCAL session_replication_role = replica;
UPDATE protector.venues SET branding = jsonb_build_object('custom', jsonb_build_object('x', repeat('a', 70000)))
WHERE id = '0a850000-0000-4000-8000-0000000000a1';
SET LOCAL session_replication_role = origin;
SELECT lives_ok($$UPDATE protector.venues SET branding = jsonb_set(branding, '{custom,x}', to_jsonb(repeat('b', 70000)))
				   WHERE id = '0a850000-0000-4000-8000-0000000000a1'$$,
	'a branding stored larger before stays writable by a change that does not grow it');

SELECT * FROM finish();
ROLLBACK;
