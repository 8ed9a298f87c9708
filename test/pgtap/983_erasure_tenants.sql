-- An erasure scrubs its own organization's history only.  Customer ids
-- may be chosen on insert: once another tenant's customer was deleted,
-- an admin could make a customer of their own with its id and erase it,
-- and the erasure took the names, addresses and notes out of the other
-- tenant's audit rows of that id (an attack review).
BEGIN;
SELECT plan(3);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['et_a_owner', 'et_b_owner']) u \g /dev/null
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES
	('0a983000-0000-4000-8000-00000000000a', 'Erasing tenant', 'erasing-tenant', 'UTC'),
	('0a983000-0000-4000-8000-00000000000b', 'Other tenant', 'other-tenant', 'UTC');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a983000-0000-4000-8000-00000000000a', tests.get_supabase_uid('et_a_owner'), 'owner'),
	('0a983000-0000-4000-8000-00000000000b', tests.get_supabase_uid('et_b_owner'), 'owner');

-- B's customer, written and deleted: its history keeps the data
SELECT tests.authenticate_as('et_b_owner');
INSERT INTO protector.customers (id, organization_id, full_name, email, notes)
VALUES ('0a983000-0000-4000-8000-0000000000c1', '0a983000-0000-4000-8000-00000000000b', 'Victor Victim', 'victor@b.test', 'VIP');
DELETE FROM protector.customers WHERE id = '0a983000-0000-4000-8000-0000000000c1';
-- A's customer of the same id, erased
SELECT tests.authenticate_as('et_a_owner');
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a983000-0000-4000-8000-0000000000c1', '0a983000-0000-4000-8000-00000000000a', 'Decoy', 'decoy@a.test');
SELECT protector.erase_customer('0a983000-0000-4000-8000-0000000000c1') \g /dev/null
SELECT tests.clear_authentication();

SELECT is((SELECT string_agg(format('%s %s %s', l.op, COALESCE(l.new_row, l.old_row) ->> 'full_name',
									COALESCE(l.new_row, l.old_row) ->> 'email'), ', ' ORDER BY l.id)
		   FROM protector.audit_log l
		   WHERE l.table_name = 'protector.customers' AND l.record_id = '0a983000-0000-4000-8000-0000000000c1'
			 AND l.organization_id = '0a983000-0000-4000-8000-00000000000b'),
	'INSERT Victor Victim victor@b.test, DELETE Victor Victim victor@b.test',
	'the other tenant''s history of a customer with that id keeps its data');
SELECT is((SELECT count(*) FROM protector.audit_log l
		   WHERE l.table_name = 'protector.customers' AND l.record_id = '0a983000-0000-4000-8000-0000000000c1'
			 AND l.organization_id = '0a983000-0000-4000-8000-00000000000a'
			 AND (COALESCE(l.new_row, l.old_row) ->> 'email') IS NOT NULL), 0::bigint,
	'the erasing tenant''s own history of it keeps no address');
SELECT is((SELECT full_name FROM protector.customers WHERE id = '0a983000-0000-4000-8000-0000000000c1'), 'erased',
	'the erasing tenant''s customer is erased');

SELECT * FROM finish();
ROLLBACK;
