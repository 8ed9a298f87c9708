-- What running the documentation against the code found (the
-- thirty-third stop): a trusted role could merge two customers into each
-- other (each then refused every booking, its hint naming the other) or
-- chain merges; the open-requests limit told a customer to wait for a
-- confirmation that frees nothing; enable_audit of a sequence hinted at
-- views; special hours beyond 16 ranges named "special_hours" twice;
-- the normalizers returned '' and untrimmed text, and "+0" for "000".
BEGIN;
SELECT plan(19);
SET LOCAL TimeZone = 'UTC';

INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0a610000-0000-4000-8000-000000000000', 'Docs', 'docs-review', 'UTC', 'EUR');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a610000-0000-4000-8000-00000000c00a', '0a610000-0000-4000-8000-000000000000', 'A'),
	('0a610000-0000-4000-8000-00000000c00b', '0a610000-0000-4000-8000-000000000000', 'B'),
	('0a610000-0000-4000-8000-00000000c00c', '0a610000-0000-4000-8000-000000000000', 'C');

-- 1. merges of a trusted role: one step, no cycle, no chain
SET LOCAL ROLE service_role;
UPDATE protector.customers SET merged_into = '0a610000-0000-4000-8000-00000000c00b' WHERE id = '0a610000-0000-4000-8000-00000000c00a';
SELECT throws_ok($$UPDATE protector.customers SET merged_into = '0a610000-0000-4000-8000-00000000c00a'
				   WHERE id = '0a610000-0000-4000-8000-00000000c00b'$$,
	'22023', 'customer 0a610000-0000-4000-8000-00000000c00b cannot be merged into 0a610000-0000-4000-8000-00000000c00a, which was merged into 0a610000-0000-4000-8000-00000000c00b',
	'a cycle is refused, also for a trusted role');
SELECT throws_ok($$UPDATE protector.customers SET merged_into = '0a610000-0000-4000-8000-00000000c00a'
				   WHERE id = '0a610000-0000-4000-8000-00000000c00c'$$,
	'22023', 'customer 0a610000-0000-4000-8000-00000000c00c cannot be merged into 0a610000-0000-4000-8000-00000000c00a, which was merged into 0a610000-0000-4000-8000-00000000c00b',
	'... and so is a chain onto a merged record');
SELECT throws_ok($$UPDATE protector.customers SET merged_into = '0a610000-0000-4000-8000-00000000c00c'
				   WHERE id = '0a610000-0000-4000-8000-00000000c00b'$$,
	'22023', 'customer 0a610000-0000-4000-8000-00000000c00b cannot be merged: customer 0a610000-0000-4000-8000-00000000c00a was merged into it',
	'... or a merge of a record others were merged into');
SELECT lives_ok($$UPDATE protector.customers SET merged_into = NULL WHERE id = '0a610000-0000-4000-8000-00000000c00a'$$,
	'a trusted role may clear a merge (a correction)');
RESET ROLE;
-- a chain 0.1.0 let merges make (A into B after B was merged into C) is
-- flattened by the next merge of its end: every record below goes to the
-- one kept (the merge was refused: "customer B cannot be merged")
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a610000-0000-4000-8000-00000000c00d', '0a610000-0000-4000-8000-000000000000', 'D');
ALTER TABLE protector.customers DISABLE TRIGGER check_merged_unreferenced;
UPDATE protector.customers SET merged_into = '0a610000-0000-4000-8000-00000000c00b' WHERE id = '0a610000-0000-4000-8000-00000000c00a';
UPDATE protector.customers SET merged_into = '0a610000-0000-4000-8000-00000000c00c' WHERE id = '0a610000-0000-4000-8000-00000000c00b';
ALTER TABLE protector.customers ENABLE TRIGGER check_merged_unreferenced;
SELECT tests.create_supabase_user('dr_owner') IS NOT NULL \g /dev/null
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a610000-0000-4000-8000-000000000000', tests.get_supabase_uid('dr_owner'), 'owner');
SELECT tests.authenticate_as('dr_owner');
SELECT lives_ok($$SELECT protector.merge_customers('0a610000-0000-4000-8000-00000000c00d', '0a610000-0000-4000-8000-00000000c00c')$$,
	'the end of a 0.1.0 chain is merged');
SELECT tests.clear_authentication();
SELECT is((SELECT string_agg(full_name || '>' || (SELECT x.full_name FROM protector.customers x WHERE x.id = c.merged_into), ' ' ORDER BY full_name)
		   FROM protector.customers c WHERE c.organization_id = '0a610000-0000-4000-8000-000000000000' AND c.merged_into IS NOT NULL),
	'A>D B>D C>D', '... and the whole chain goes to the record kept');
UPDATE protector.customers SET merged_into = NULL WHERE organization_id = '0a610000-0000-4000-8000-000000000000';

-- 2. enable_audit of a sequence: no hint about views
CREATE SEQUENCE public.docs_seq;
SELECT is(tests.error_text($$SELECT protector.enable_audit('public.docs_seq')$$),
	'22023 | public.docs_seq is not a table | Its relkind is ''S''; only ordinary and partitioned tables can be audited.',
	'a sequence is told it is no table, without a hint meant for views');
-- (an attack review) disable_audit takes what enable_audit takes: it
-- answered a sequence with a bare 42809, and locked a system catalog
-- before it said "not audited"
SELECT is(tests.error_text($$SELECT protector.disable_audit('public.docs_seq')$$),
	'22023 | public.docs_seq is not a table | Its relkind is ''S''; only ordinary and partitioned tables can be audited.',
	'disable_audit of a sequence says it is no table');
SELECT throws_ok($$SELECT protector.disable_audit('pg_catalog.pg_class')$$, '22023',
	'pg_catalog.pg_class is a system catalog and cannot be audited', '... and refuses a system catalog');
SELECT is((SELECT count(*)::int FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'pg_catalog.pg_class'::regclass
		   AND mode = 'ShareRowExclusiveLock'), 0, '... without locking it');
SELECT throws_ok($$SELECT protector.disable_audit(NULL)$$, '22023', 'p_table must not be null', '... and a null');

-- 3. special hours beyond 16 ranges name what they are once
SELECT throws_ok($$SELECT protector.check_special_hours((SELECT jsonb_agg(jsonb_build_array(
					   to_char(make_time(h, 0, 0), 'HH24:MI'), to_char(make_time(h, 30, 0), 'HH24:MI')))
				   FROM generate_series(0, 16) h))$$,
	'22023', 'special_hours has more than 16 ranges', 'seventeen special ranges: named once');

-- 4. the open-requests hint: confirmed bookings count too, so it asks
-- for a cancellation or the end of one
SELECT tests.create_supabase_user('dr_cora') IS NOT NULL \g /dev/null
UPDATE protector.organizations SET settings = '{"customers": {"open_requests": 1}}' WHERE id = '0a610000-0000-4000-8000-000000000000';
UPDATE protector.customers SET user_id = tests.get_supabase_uid('dr_cora') WHERE id = '0a610000-0000-4000-8000-00000000c00c';
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a610000-0000-4000-8000-0000000000a1', '0a610000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party)
VALUES ('0a610000-0000-4000-8000-0000000005a1', '0a610000-0000-4000-8000-000000000000', '0a610000-0000-4000-8000-0000000000a1',
		'Room', '1 hour', '1 hour', '30 days', 10, 4);
SELECT tests.authenticate_as('dr_cora');
SELECT protector.create_booking('0a610000-0000-4000-8000-0000000005a1', NULL, date_trunc('hour', now()) + interval '3 days', 1) IS NOT NULL
	AS booked \gset
SELECT is(tests.error_text($$SELECT protector.create_booking('0a610000-0000-4000-8000-0000000005a1', NULL,
																date_trunc('hour', now()) + interval '4 days', 1)$$),
	'53400 | you have too many open booking requests with this organization | '
	'The organization takes at most 1 booking(s) of yours that have not ended (held, pending or confirmed) at once. | '
	'Cancel one you no longer need, or wait until one has ended.',
	'the limit''s hint names what frees a place');
SELECT tests.clear_authentication();

-- 5. the normalizers as customers.md describes them: trimmed, and NULL
-- with nothing left to compare (a fold that drops ignorables or makes
-- spaces left '' and ' zoe@example.com '; "000" was "+0")
SELECT is(protector.normalize_email(U&'\200B'), NULL, 'an address of an ignorable alone normalizes to NULL');
SELECT is(protector.normalize_email(U&'\2003zoe@example.com\2003'), 'zoe@example.com', 'an em space around an address is trimmed');
SELECT is(protector.normalize_phone('000'), NULL, 'a phone of an international prefix and one digit is no number');
SELECT is(protector.normalize_phone('+49(0'), NULL, '... nor a country code and a trunk zero');

-- 6. a listed participant's name padded with 1,300 spaces is the name
-- (spacing is ignored), and one of 1,300 letters is named as not signed,
-- cut: both were refused as "name must be at most 1280 bytes", and the
-- booking could never start
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, party_size, details)
VALUES ('0a610000-0000-4000-8000-00000000b0e1', '0a610000-0000-4000-8000-000000000000', '0a610000-0000-4000-8000-0000000000a1',
		'0a610000-0000-4000-8000-0000000005a1', tstzrange(now() - interval '10 minutes', now() + interval '50 minutes'),
		'confirmed', 1, jsonb_build_object('participants', jsonb_build_array('Bob Lee' || repeat(' ', 1300))));
SELECT tests.authenticate_as('dr_owner');
SELECT protector.create_waiver('0a610000-0000-4000-8000-000000000000', 'W', 'I take part at my own risk.') ->> 'waiver_id' AS waiver \gset
SELECT protector.update_service('0a610000-0000-4000-8000-0000000005a1', jsonb_build_object('waiver_id', :'waiver')) IS NOT NULL AS asks \gset
SELECT protector.submit_waiver(:'waiver', 'Bob Lee', '1990-01-01', 'Bob Lee', 'Bob Lee', '0a610000-0000-4000-8000-00000000b0e1') IS NOT NULL AS signed \gset
SELECT lives_ok($$UPDATE protector.bookings SET status = 'in_progress' WHERE id = '0a610000-0000-4000-8000-00000000b0e1'$$,
	'a listed name padded with spaces matches its signature');
SELECT throws_ok($$UPDATE protector.bookings SET details = jsonb_build_object('participants', jsonb_build_array(repeat('x', 1300)))
				   WHERE id = '0a610000-0000-4000-8000-00000000b0e1'$$,
	'22023', 'not every participant listed has signed the waiver "W"', 'a listed name too long for any signature is named as not signed');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
