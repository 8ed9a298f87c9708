-- Customer records that are kept (sql/68_customers_api.sql,
-- keep_booked_customers): a record merged into another is not deleted
-- (deleted, it escaped the erasure of the one it was merged into, and its
-- name, e-mail and phone stayed in its audit history), nor an erased one
-- (its row in customer_erasures went with it).  An organization's
-- deletion still takes them all; a plain record is still deleted.
-- And scrub_customer_rows is planned for each call (a generic plan
-- scanned its arrays row by row from a session's sixth erasure on).
BEGIN;
SELECT plan(11);

SELECT tests.create_supabase_user('kc_owner');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a820000-0000-4000-8000-000000000000', 'Kept', 'kept-customers');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a820000-0000-4000-8000-000000000000', tests.get_supabase_uid('kc_owner'), 'owner');
INSERT INTO protector.customers (id, organization_id, full_name, email, phone) VALUES
	('0a820000-0000-4000-8000-00000000c001', '0a820000-0000-4000-8000-000000000000', 'Kim New', 'kim@example.com', NULL),
	('0a820000-0000-4000-8000-00000000c002', '0a820000-0000-4000-8000-000000000000', 'Kimberly Oldname', 'kim.old@example.com', '+49 30 1234567'),
	('0a820000-0000-4000-8000-00000000c003', '0a820000-0000-4000-8000-000000000000', 'Erin', 'erin@example.com', NULL),
	('0a820000-0000-4000-8000-00000000c004', '0a820000-0000-4000-8000-000000000000', 'Plain', 'plain@example.com', NULL);

SELECT tests.authenticate_as('kc_owner');
SELECT protector.merge_customers('0a820000-0000-4000-8000-00000000c001', '0a820000-0000-4000-8000-00000000c002') IS NOT NULL AS merged \gset
SELECT throws_ok($$DELETE FROM protector.customers WHERE id = '0a820000-0000-4000-8000-00000000c002'$$,
	'23503', 'customer 0a820000-0000-4000-8000-00000000c002 was merged into customer 0a820000-0000-4000-8000-00000000c001 and cannot be deleted',
	'a record merged into another is not deleted');
SELECT throws_ok($$DELETE FROM protector.customers WHERE id = '0a820000-0000-4000-8000-00000000c001'$$,
	'23503', 'customer 0a820000-0000-4000-8000-00000000c001 has records merged into it and cannot be deleted',
	'... nor the record it was merged into (deleted, it set the merged one free to be deleted)');
SELECT protector.erase_customer('0a820000-0000-4000-8000-00000000c001') IS NOT NULL AS erased \gset
RESET ROLE;
SELECT is((SELECT count(*) FROM protector.audit_log
		   WHERE (old_row::text || new_row::text) ~ '(Kimberly|kim\.old@|1234567)'), 0::bigint,
	'... so erasing the record it was merged into erases its history too');
SELECT tests.authenticate_as('kc_owner');
SELECT protector.erase_customer('0a820000-0000-4000-8000-00000000c003') IS NOT NULL AS erased \gset
SELECT throws_ok($$DELETE FROM protector.customers WHERE id = '0a820000-0000-4000-8000-00000000c003'$$,
	'23503', 'customer 0a820000-0000-4000-8000-00000000c003 was erased and cannot be deleted',
	'an erased record is not deleted');
SELECT is((SELECT count(*) FROM protector.customer_erasures WHERE organization_id = '0a820000-0000-4000-8000-000000000000'),
	3::bigint, '... and the three erasures (Kim, her merged record, Erin) stay listed');
SELECT lives_ok($$DELETE FROM protector.customers WHERE id = '0a820000-0000-4000-8000-00000000c004'$$,
	'a plain record without bookings is still deleted');
-- a former manager's work stays theirs: a record linked to their account
-- and erased does not take their acts from the history (an admin could
-- link a decoy to any account and erase it)
RESET ROLE;
SELECT tests.create_supabase_user('kc_mia');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a820000-0000-4000-8000-00000000c006', '0a820000-0000-4000-8000-000000000000', 'Other');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a820000-0000-4000-8000-000000000000', tests.get_supabase_uid('kc_mia'), 'manager');
SELECT tests.authenticate_as('kc_mia');
UPDATE protector.customers SET notes = 'called back' WHERE id = '0a820000-0000-4000-8000-00000000c006';
RESET ROLE;
DELETE FROM protector.members WHERE user_id = tests.get_supabase_uid('kc_mia');
SELECT tests.authenticate_as('kc_owner');
INSERT INTO protector.customers (id, organization_id, full_name, user_id)
VALUES ('0a820000-0000-4000-8000-00000000c005', '0a820000-0000-4000-8000-000000000000', 'Decoy', tests.get_supabase_uid('kc_mia'));
SELECT protector.erase_customer('0a820000-0000-4000-8000-00000000c005') IS NOT NULL AS erased \gset
RESET ROLE;
SELECT is((SELECT count(*) FROM protector.audit_log WHERE actor_uid = tests.get_supabase_uid('kc_mia')
		   AND table_name = 'protector.customers' AND record_id = '0a820000-0000-4000-8000-00000000c006'), 1::bigint,
	'a former manager''s edit of another customer stays theirs after a record linked to their account is erased');
SELECT is(protector_internal.staff_account('0a820000-0000-4000-8000-000000000000', tests.get_supabase_uid('kc_mia')), true,
	'... who is a staff account by the members'' history');
SELECT tests.authenticate_as('kc_owner');

-- an organization's deletion takes them all
SELECT lives_ok($$DELETE FROM protector.organizations WHERE id = '0a820000-0000-4000-8000-000000000000'$$,
	'the owner deletes the organization, its merged and erased records with it');
RESET ROLE;
SELECT is((SELECT count(*) FROM protector.customers WHERE organization_id = '0a820000-0000-4000-8000-000000000000'), 0::bigint,
	'... none is left');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'protector_internal.scrub_customer_rows(uuid, uuid, boolean)'::regprocedure),
	'{"search_path=pg_catalog, pg_temp",plan_cache_mode=force_custom_plan}'::text[],
	'an erasure is planned for its own arrays, whichever call of the session it is');

SELECT * FROM finish();
ROLLBACK;
