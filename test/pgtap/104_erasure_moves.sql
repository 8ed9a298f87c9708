-- An erasure follows the person's rows where they were moved (an attack
-- review of erasures):
-- - a customer a trusted writer moved to another organization, erased
--   there, kept their name, address and notes in the history of the
--   organization they left, and what its staff logged of them: the
--   erasure reaches the organizations the record was moved out of, as
--   protector_internal.customer_moves records them (organizations_left);
-- - a task or desk notification written on the customer's booking and
--   moved by the desk to another booking kept their text, in the table and
--   in the move's history (rows_logged_on).
BEGIN;
SELECT plan(27);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['em_a_owner', 'em_b_owner', 'em_person']) u \g /dev/null
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES
	('0a104000-0000-4000-8000-00000000000a', 'Left', 'erasure-moves-a', 'UTC'),
	('0b104000-0000-4000-8000-00000000000b', 'Reached', 'erasure-moves-b', 'UTC');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a104000-0000-4000-8000-00000000000a', tests.get_supabase_uid('em_a_owner'), 'owner'),
	('0b104000-0000-4000-8000-00000000000b', tests.get_supabase_uid('em_b_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a104000-0000-4000-8000-0000000000a1', '0a104000-0000-4000-8000-00000000000a', 'VA', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode, price)
VALUES ('0a104000-0000-4000-8000-0000000005a1', '0a104000-0000-4000-8000-00000000000a', '0a104000-0000-4000-8000-0000000000a1',
		'Room', '1 hour', '1 hour', '400 days', 10, 'shared', 100);

-- 1. moved from A to B by a trusted writer, erased in B
SELECT tests.authenticate_as('em_a_owner');
INSERT INTO protector.customers (id, organization_id, full_name, email, notes)
VALUES ('0a104000-0000-4000-8000-0000000000c1', '0a104000-0000-4000-8000-00000000000a', 'Tina Mover', 'tina@a.test', 'no alcohol');
SELECT protector.log_staff_activity('0a104000-0000-4000-8000-00000000000a', 'customer.called',
	'{"customer_id": "0a104000-0000-4000-8000-0000000000c1", "summary": "Tina asked about her divorce"}') \g /dev/null
-- (a customer of A that never moved, with the same address: A's own)
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a104000-0000-4000-8000-0000000000c2', '0a104000-0000-4000-8000-00000000000a', 'Tina Stays', 'tina@a.test');
-- (the widget's one-day record of the address in A)
SELECT tests.clear_authentication();
INSERT INTO protector_internal.widget_requests (organization_id, venue_id, identity_key, client_address, customer_id)
VALUES ('0a104000-0000-4000-8000-00000000000a', '0a104000-0000-4000-8000-0000000000a1', protector.normalize_email('tina@a.test'),
		'192.0.2.1', '0a104000-0000-4000-8000-0000000000c2');
SELECT tests.authenticate_as_service_role();
UPDATE protector.customers SET organization_id = '0b104000-0000-4000-8000-00000000000b'
WHERE id = '0a104000-0000-4000-8000-0000000000c1';
SELECT tests.authenticate_as('em_b_owner');
SELECT protector.erase_customer('0a104000-0000-4000-8000-0000000000c1') \g /dev/null
SELECT tests.clear_authentication();

SELECT is((SELECT string_agg(format('%s %s', l.op, COALESCE(l.new_row, l.old_row) ?| '{full_name,email,notes}'), ', ' ORDER BY l.id)
		   FROM protector.audit_log l
		   WHERE l.table_name = 'protector.customers' AND l.record_id = '0a104000-0000-4000-8000-0000000000c1'
			 AND l.organization_id = '0a104000-0000-4000-8000-00000000000a'),
	'INSERT f, UPDATE f',
	'the history of the organization a customer was moved out of loses their data (it kept it all)');
SELECT is((SELECT string_agg(s.details::text, ', ') FROM protector.staff_activity s
		   WHERE s.organization_id = '0a104000-0000-4000-8000-00000000000a'),
	'{"customer_id": "0a104000-0000-4000-8000-0000000000c1"}',
	'... and so does what its staff logged of them');
SELECT is((SELECT email FROM protector.customers WHERE id = '0a104000-0000-4000-8000-0000000000c2'), 'tina@a.test',
	'... not another customer there');
SELECT is((SELECT count(*)::int FROM protector.customer_erasures WHERE customer_id = '0a104000-0000-4000-8000-0000000000c1'), 1,
	'... and the erasure is recorded once, where the customer is');
SELECT is((SELECT count(*)::int FROM protector_internal.widget_requests
		   WHERE organization_id = '0a104000-0000-4000-8000-00000000000a' AND client_address = '192.0.2.1'), 0,
	'... and the widget''s record of their address there goes, as an erasure there takes it (read before the record is)');

-- 1b. moved in, then merged into a record of B: erasing that one erases both
SELECT tests.authenticate_as('em_a_owner');
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a104000-0000-4000-8000-0000000000d1', '0a104000-0000-4000-8000-00000000000a', 'Mia Moved', 'mia@a.test');
SELECT tests.authenticate_as_service_role();
UPDATE protector.customers SET organization_id = '0b104000-0000-4000-8000-00000000000b'
WHERE id = '0a104000-0000-4000-8000-0000000000d1';
SELECT tests.authenticate_as('em_b_owner');
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0b104000-0000-4000-8000-0000000000d2', '0b104000-0000-4000-8000-00000000000b', 'Mia Kept', 'mia@b.test');
SELECT protector.merge_customers('0b104000-0000-4000-8000-0000000000d2', '0a104000-0000-4000-8000-0000000000d1') \g /dev/null
SELECT lives_ok($$SELECT protector.erase_customer('0b104000-0000-4000-8000-0000000000d2')$$,
	'a record merged into one moved in from another organization is erased with it (it was refused as merged)');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.audit_log l
		   WHERE l.table_name = 'protector.customers' AND l.record_id = '0a104000-0000-4000-8000-0000000000d1'
			 AND COALESCE(l.new_row, l.old_row) ?| '{full_name,email}'), 0,
	'... in both organizations'' history');

-- 1c. moved A -> B -> A, deleted in A; B makes a record of that id and
-- erases it: A's history is of another person, and stays
SELECT tests.authenticate_as('em_a_owner');
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a104000-0000-4000-8000-0000000000e9', '0a104000-0000-4000-8000-00000000000a', 'Rita Returned', 'rita@a.test');
SELECT tests.authenticate_as_service_role();
UPDATE protector.customers SET organization_id = '0b104000-0000-4000-8000-00000000000b' WHERE id = '0a104000-0000-4000-8000-0000000000e9';
UPDATE protector.customers SET organization_id = '0a104000-0000-4000-8000-00000000000a' WHERE id = '0a104000-0000-4000-8000-0000000000e9';
SELECT tests.authenticate_as('em_a_owner');
DELETE FROM protector.customers WHERE id = '0a104000-0000-4000-8000-0000000000e9';
SELECT tests.authenticate_as('em_b_owner');
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0a104000-0000-4000-8000-0000000000e9', '0b104000-0000-4000-8000-00000000000b', 'Decoy');
SELECT protector.erase_customer('0a104000-0000-4000-8000-0000000000e9') \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT string_agg(l.op || ' ' || (COALESCE(l.new_row, l.old_row) ->> 'email'), ', ' ORDER BY l.id)
		   FROM protector.audit_log l
		   WHERE l.table_name = 'protector.customers' AND l.record_id = '0a104000-0000-4000-8000-0000000000e9'
			 AND l.organization_id = '0a104000-0000-4000-8000-00000000000a'),
	'INSERT rita@a.test, UPDATE rita@a.test, UPDATE rita@a.test, DELETE rita@a.test',
	'a record made with the id of one that was moved and deleted reaches none of its history');

-- 2. a task and a desk notification moved off the customer's booking
SELECT protector.enable_audit('protector.tasks') \g /dev/null
SELECT protector.enable_audit('protector.notifications') \g /dev/null
SELECT tests.authenticate_as('em_a_owner');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a104000-0000-4000-8000-0000000000e1', '0a104000-0000-4000-8000-00000000000a', 'Erin Erased'),
	('0a104000-0000-4000-8000-0000000000e2', '0a104000-0000-4000-8000-00000000000a', 'Yuri Other');
SELECT protector.create_booking('0a104000-0000-4000-8000-0000000005a1', '0a104000-0000-4000-8000-0000000000e1',
	date_trunc('hour', now()) + interval '2 days') ->> 'id' AS erin_booking \gset
SELECT protector.create_booking('0a104000-0000-4000-8000-0000000005a1', '0a104000-0000-4000-8000-0000000000e2',
	date_trunc('hour', now()) + interval '3 days') ->> 'id' AS yuri_booking \gset
INSERT INTO protector.tasks (id, organization_id, booking_id, title, description) VALUES
	('0a104000-0000-4000-8000-0000000007a1', '0a104000-0000-4000-8000-00000000000a', :'erin_booking',
	 'Call Erin re allergy', 'Erin Erased is allergic to nuts'),
	('0a104000-0000-4000-8000-0000000007a2', '0a104000-0000-4000-8000-00000000000a', :'yuri_booking',
	 'Call Yuri', 'Yuri wants a cake');
INSERT INTO protector.notifications (id, organization_id, booking_id, kind, payload) VALUES
	('0a104000-0000-4000-8000-0000000008a1', '0a104000-0000-4000-8000-00000000000a', :'erin_booking',
	 'desk.note', '{"text": "Erin Erased called"}');
INSERT INTO protector.tasks (id, organization_id, booking_id, title, description) VALUES
	('0a104000-0000-4000-8000-0000000007a3', '0a104000-0000-4000-8000-00000000000a', :'erin_booking',
	 'Erin''s cake', 'Erin Erased wants a cake');
UPDATE protector.tasks SET booking_id = NULL WHERE id = '0a104000-0000-4000-8000-0000000007a3';
-- (Yuri's task, moved onto Erin's booking by mistake and back)
UPDATE protector.tasks SET booking_id = :'erin_booking' WHERE id = '0a104000-0000-4000-8000-0000000007a2';
UPDATE protector.tasks SET booking_id = :'yuri_booking' WHERE id = '0a104000-0000-4000-8000-0000000007a2';
UPDATE protector.tasks SET booking_id = :'yuri_booking' WHERE id = '0a104000-0000-4000-8000-0000000007a1';
UPDATE protector.notifications SET booking_id = :'yuri_booking' WHERE id = '0a104000-0000-4000-8000-0000000008a1';
SELECT protector.erase_customer('0a104000-0000-4000-8000-0000000000e1') \g /dev/null
SELECT tests.clear_authentication();

SELECT is((SELECT format('%s | %s', title, description) FROM protector.tasks WHERE id = '0a104000-0000-4000-8000-0000000007a1'),
	'[erased] | ',
	'a task moved off the erased customer''s booking loses their text');
SELECT is((SELECT format('%s | %s', title, description) FROM protector.tasks WHERE id = '0a104000-0000-4000-8000-0000000007a3'),
	'[erased] | ',
	'... and one taken off any booking (it kept them: the erasure joined it to its booking)');
SELECT is((SELECT payload FROM protector.notifications WHERE id = '0a104000-0000-4000-8000-0000000008a1'), '{}'::jsonb,
	'... and so does a desk notification');
SELECT is((SELECT count(*)::int FROM protector.audit_log l
		   WHERE l.record_id IN ('0a104000-0000-4000-8000-0000000007a1', '0a104000-0000-4000-8000-0000000008a1')
			 AND (COALESCE(l.new_row, l.old_row) ? 'description' OR COALESCE(l.new_row, l.old_row) ? 'title'
				  OR COALESCE(l.new_row, l.old_row) -> 'payload' <> '{}')), 0,
	'... in all their history, the moves'' rows included');
SELECT is((SELECT count(*)::int FROM protector.audit_log l
		   WHERE l.record_id IN ('0a104000-0000-4000-8000-0000000007a1', '0a104000-0000-4000-8000-0000000008a1')
			 AND l.op = 'UPDATE' AND l.changed_columns = '{booking_id}'), 2,
	'(the moves were logged)');
SELECT is((SELECT format('%s | %s', title, description) FROM protector.tasks WHERE id = '0a104000-0000-4000-8000-0000000007a2'),
	'Call Yuri | Yuri wants a cake',
	'the other customer''s own task keeps its text, though the desk moved it through the erased customer''s booking');
SELECT is((SELECT count(*)::int FROM protector.audit_log l
		   WHERE l.record_id = '0a104000-0000-4000-8000-0000000007a2' AND COALESCE(l.new_row, l.old_row) ? 'description'), 2,
	'... in its history but the row logged while it lay on that booking (the safe side, as for any row logged there)');

-- 3. reviews of the passes in the organization left:
-- 3a. an account B links to the moved record, which A links to another
-- of its customers, keeps its acts in A's history (the pass took the link
-- of now as the person's alone there)
SELECT tests.authenticate_as('em_a_owner');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a104000-0000-4000-8000-0000000000f1', '0a104000-0000-4000-8000-00000000000a', 'Rita Mover'),
	('0a104000-0000-4000-8000-0000000000f2', '0a104000-0000-4000-8000-00000000000a', 'Xavier Stays');
SELECT tests.clear_authentication();
UPDATE protector.customers SET user_id = tests.get_supabase_uid('em_person') WHERE id = '0a104000-0000-4000-8000-0000000000f2';
SELECT tests.authenticate_as('em_person');
SELECT protector.create_booking('0a104000-0000-4000-8000-0000000005a1', NULL, date_trunc('hour', now()) + interval '4 days') ->> 'id' AS xavier_booking \gset
SELECT tests.authenticate_as_service_role();
UPDATE protector.customers SET organization_id = '0b104000-0000-4000-8000-00000000000b' WHERE id = '0a104000-0000-4000-8000-0000000000f1';
SELECT tests.clear_authentication();
UPDATE protector.customers SET user_id = tests.get_supabase_uid('em_person') WHERE id = '0a104000-0000-4000-8000-0000000000f1';
SELECT tests.authenticate_as('em_b_owner');
SELECT protector.erase_customer('0a104000-0000-4000-8000-0000000000f1') \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT format('%s %s', actor_uid = tests.get_supabase_uid('em_person'), new_row ->> 'created_by' = tests.get_supabase_uid('em_person')::text)
		   FROM protector.audit_log WHERE table_name = 'protector.bookings' AND record_id = :'xavier_booking' AND op = 'INSERT'),
	't t', 'an account the organization left links to another of its customers keeps its acts there');
-- 3b. moved out, then merged into a record of B that is erased: what A's
-- staff logged of it goes (the pass looked for it among B's merges in A)
SELECT tests.authenticate_as('em_a_owner');
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0a104000-0000-4000-8000-0000000000f3', '0a104000-0000-4000-8000-00000000000a', 'Rita Merged');
SELECT protector.log_staff_activity('0a104000-0000-4000-8000-00000000000a', 'customer.called',
	'{"customer_id": "0a104000-0000-4000-8000-0000000000f3", "summary": "Rita asked about her divorce"}') \g /dev/null
SELECT tests.authenticate_as_service_role();
UPDATE protector.customers SET organization_id = '0b104000-0000-4000-8000-00000000000b' WHERE id = '0a104000-0000-4000-8000-0000000000f3';
SELECT tests.authenticate_as('em_b_owner');
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0b104000-0000-4000-8000-0000000000f4', '0b104000-0000-4000-8000-00000000000b', 'Rita Top');
SELECT protector.merge_customers('0b104000-0000-4000-8000-0000000000f4', '0a104000-0000-4000-8000-0000000000f3') \g /dev/null
SELECT protector.erase_customer('0b104000-0000-4000-8000-0000000000f4') \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.staff_activity
		   WHERE organization_id = '0a104000-0000-4000-8000-00000000000a' AND details ? 'summary'
			 AND details ->> 'customer_id' = '0a104000-0000-4000-8000-0000000000f3'), 0,
	'a record moved out and merged into an erased one loses what the organization it left logged of it');
-- 3c. a task moved onto the customer's booking and rewritten there while
-- its description is masked in the history, then moved away, is theirs
SELECT protector.enable_audit('protector.tasks', '{description}') \g /dev/null
SELECT tests.authenticate_as('em_a_owner');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a104000-0000-4000-8000-0000000000f5', '0a104000-0000-4000-8000-00000000000a', 'Erin Masked');
SELECT protector.create_booking('0a104000-0000-4000-8000-0000000005a1', '0a104000-0000-4000-8000-0000000000f5',
	date_trunc('hour', now()) + interval '5 days') ->> 'id' AS masked_booking \gset
INSERT INTO protector.tasks (id, organization_id, booking_id, title, description) VALUES
	('0a104000-0000-4000-8000-0000000007a5', '0a104000-0000-4000-8000-00000000000a', :'yuri_booking', 'Call', 'about the cake');
UPDATE protector.tasks SET booking_id = :'masked_booking' WHERE id = '0a104000-0000-4000-8000-0000000007a5';
UPDATE protector.tasks SET description = 'Erin Masked is allergic to nuts' WHERE id = '0a104000-0000-4000-8000-0000000007a5';
UPDATE protector.tasks SET booking_id = :'yuri_booking' WHERE id = '0a104000-0000-4000-8000-0000000007a5';
SELECT protector.erase_customer('0a104000-0000-4000-8000-0000000000f5') \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT format('%s | %s', title, description) FROM protector.tasks WHERE id = '0a104000-0000-4000-8000-0000000007a5'),
	'[erased] | ', 'a task rewritten on the customer''s booking while its description is masked in the history is theirs');

-- 3d. the same on a booking once theirs: a task written for the customer
-- before them, rewritten in their time while its description is masked,
-- and the booking handed on, is theirs (rows_while_theirs saw only the
-- rewrites whose logged values differ: a read of the change)
SELECT tests.authenticate_as('em_a_owner');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a104000-0000-4000-8000-0000000000f8', '0a104000-0000-4000-8000-00000000000a', 'Xena Before'),
	('0a104000-0000-4000-8000-0000000000f9', '0a104000-0000-4000-8000-00000000000a', 'Erik Between'),
	('0a104000-0000-4000-8000-0000000000fa', '0a104000-0000-4000-8000-00000000000a', 'Yara After');
SELECT protector.create_booking('0a104000-0000-4000-8000-0000000005a1', '0a104000-0000-4000-8000-0000000000f8',
	date_trunc('hour', now()) + interval '6 days') ->> 'id' AS passed_booking \gset
INSERT INTO protector.tasks (id, organization_id, booking_id, title, description) VALUES
	('0a104000-0000-4000-8000-0000000007a6', '0a104000-0000-4000-8000-00000000000a', :'passed_booking', 'Call', 'about the seats');
UPDATE protector.bookings SET customer_id = '0a104000-0000-4000-8000-0000000000f9' WHERE id = :'passed_booking';
UPDATE protector.tasks SET description = 'Erik Between uses a wheelchair' WHERE id = '0a104000-0000-4000-8000-0000000007a6';
UPDATE protector.bookings SET customer_id = '0a104000-0000-4000-8000-0000000000fa' WHERE id = :'passed_booking';
SELECT protector.erase_customer('0a104000-0000-4000-8000-0000000000f9') \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT description FROM protector.tasks WHERE id = '0a104000-0000-4000-8000-0000000007a6'), NULL,
	'a task rewritten in a once-theirs booking''s time while its description is masked is theirs');

-- 4. the moves are the database's own record, not the audit history's:
-- a move made while customers were not audited (an owner may also purge
-- the history) is followed (the erasure read the moves from the history:
-- a review)
SELECT protector.disable_audit('protector.customers') \g /dev/null
SELECT tests.authenticate_as('em_a_owner');
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0a104000-0000-4000-8000-0000000000f6', '0a104000-0000-4000-8000-00000000000a', 'Dora Unaudited');
SELECT protector.log_staff_activity('0a104000-0000-4000-8000-00000000000a', 'customer.called',
	'{"customer_id": "0a104000-0000-4000-8000-0000000000f6", "summary": "Dora called"}') \g /dev/null
SELECT tests.authenticate_as_service_role();
UPDATE protector.customers SET organization_id = '0b104000-0000-4000-8000-00000000000b' WHERE id = '0a104000-0000-4000-8000-0000000000f6';
SELECT tests.clear_authentication();
SELECT protector.enable_audit('protector.customers') \g /dev/null
SELECT tests.authenticate_as('em_b_owner');
SELECT protector.erase_customer('0a104000-0000-4000-8000-0000000000f6') \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.staff_activity
		   WHERE details ->> 'customer_id' = '0a104000-0000-4000-8000-0000000000f6' AND details ? 'summary'), 0,
	'a move the history did not log is followed too');
SELECT is((SELECT count(*)::int FROM protector_internal.customer_moves WHERE customer_id = '0a104000-0000-4000-8000-0000000000e9'), 0,
	'a deleted record''s moves go with it (the decoy of its id above started with none)');

-- 5. the moves go with the record whatever deletes it (a review: a
-- DELETE under session_replication_role = replica, a data import's, and
-- a TRUNCATE kept them, and an id taken again reached the old history)
SELECT tests.authenticate_as_service_role();
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0a104000-0000-4000-8000-0000000000f7', '0a104000-0000-4000-8000-00000000000a', 'Ivo Imported');
UPDATE protector.customers SET organization_id = '0b104000-0000-4000-8000-00000000000b' WHERE id = '0a104000-0000-4000-8000-0000000000f7';
SELECT tests.clear_authentication();
SET LOCAL session_replication_role = replica;
DELETE FROM protector.customers WHERE id = '0a104000-0000-4000-8000-0000000000f7';
SET LOCAL session_replication_role = origin;
SELECT is((SELECT count(*)::int FROM protector_internal.customer_moves WHERE customer_id = '0a104000-0000-4000-8000-0000000000f7'), 0,
	'a record deleted under session_replication_role = replica takes its moves with it');
SELECT throws_ok($$SELECT protector.enable_audit('protector_internal.customer_moves')$$, '22023',
	'protector_internal.customer_moves is one of protector''s internal tables and cannot be audited',
	'protector''s internal tables are not audited (logged under the organization a customer went to, the row named the one it left)');
SET LOCAL client_min_messages = error;	-- (its NOTICE, the restore's WARNING, TRUNCATE's)
SELECT is(protector.disable_audit('protector_internal.customer_moves'), false,
	'... disable_audit takes one (the update from 0.1.0 turned off any audited; it refused them too, a review)');
SELECT is((SELECT count(*)::int FROM protector_internal.audit_settings WHERE table_name = 'protector_internal.customer_moves'::regclass), 0,
	'... and records nothing of it (a row saying "not audited" went into every backup, and every restore warned of it)');
-- (a restore of a backup naming one leaves its setting out, and restores
-- the others: the COPY of every setting failed)
SET LOCAL row_security = off;
INSERT INTO protector_internal.audit_settings (table_name, audited) VALUES ('protector_internal.widget_requests', true);
SET LOCAL row_security = on;
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'protector_internal.widget_requests'::regclass AND tgname = 'protector_audit'), 0,
	'... and a restored setting naming one is left out');
TRUNCATE protector.customers CASCADE;
SELECT is((SELECT count(*)::int FROM protector_internal.customer_moves), 0, 'a TRUNCATE of the customers takes every move');

SELECT * FROM finish();
ROLLBACK;
