-- Audit trail as PostgREST requests see it, the work a booking creates
-- (review task, desk notifications), and Supabase Realtime wiring.
BEGIN;
SELECT plan(67);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['w_owner', 'w_admin', 'w_manager', 'w_operator',
	'w_agent', 'w_agent2', 'w_customer', 'w_other']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a500000-0000-4000-8000-000000000000', 'A', 'workflow-a'),
	('0b500000-0000-4000-8000-000000000000', 'B', 'workflow-b');
-- agents are assigned here without shifts (docs/staff.md)
UPDATE protector.organizations SET settings = settings || '{"staff": {"require_shifts": false}}';
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a500000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'admin', 'manager', 'operator', 'agent']) r;
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a500000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_agent2'), 'agent'),
	('0b500000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_other'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a500000-0000-4000-8000-0000000000a1', '0a500000-0000-4000-8000-000000000000', 'V', 'Europe/Berlin', '{}'),
	('0b500000-0000-4000-8000-0000000000a1', '0b500000-0000-4000-8000-000000000000', 'W', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, max_party) VALUES
	('0a500000-0000-4000-8000-0000000005a1', '0a500000-0000-4000-8000-000000000000', '0a500000-0000-4000-8000-0000000000a1',
	 'Vault', '60 minutes', '60 minutes', '400 days', 4),
	('0b500000-0000-4000-8000-0000000005a1', '0b500000-0000-4000-8000-000000000000', '0b500000-0000-4000-8000-0000000000a1',
	 'Other', '60 minutes', '60 minutes', '400 days', 4);
INSERT INTO protector.customers (id, organization_id, user_id, full_name) VALUES
	('0a500000-0000-4000-8000-00000000c001', '0a500000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_customer'), 'Cora'),
	('0b500000-0000-4000-8000-00000000c001', '0b500000-0000-4000-8000-000000000000', NULL, 'Bea');
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '3 days' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int) TO authenticated;
CREATE TEMP TABLE ids (name text PRIMARY KEY, id uuid);
GRANT ALL ON ids TO authenticated;

-- a booking made through the API, as the manager
SELECT tests.authenticate_as('w_manager');
INSERT INTO ids SELECT 'b1', (protector.create_booking('0a500000-0000-4000-8000-0000000005a1',
	'0a500000-0000-4000-8000-00000000c001', pg_temp.t(10), 2, p_assigned_agent => tests.get_supabase_uid('w_agent')) ->> 'id')::uuid;
SELECT tests.clear_authentication();

-- audit: who, what, where
SELECT is((SELECT actor_uid FROM protector.audit_log WHERE table_name = 'protector.bookings'
		   AND record_id = (SELECT id::text FROM ids WHERE name = 'b1') AND op = 'INSERT'),
	tests.get_supabase_uid('w_manager'), 'the audit row names the user from the JWT');
SELECT is((SELECT actor_role FROM protector.audit_log WHERE table_name = 'protector.bookings'
		   AND record_id = (SELECT id::text FROM ids WHERE name = 'b1') AND op = 'INSERT'),
	'authenticated', '... and the database role of the request, though create_booking is SECURITY DEFINER');
SELECT is((SELECT organization_id FROM protector.audit_log WHERE table_name = 'protector.bookings'
		   AND record_id = (SELECT id::text FROM ids WHERE name = 'b1') AND op = 'INSERT'),
	'0a500000-0000-4000-8000-000000000000'::uuid, '... and the row''s organization');
SELECT is((SELECT (new_row ->> 'party_size')::int FROM protector.audit_log WHERE table_name = 'protector.bookings'
		   AND record_id = (SELECT id::text FROM ids WHERE name = 'b1') AND op = 'INSERT'),
	2, '... and the new row');

-- tasks and notifications
SELECT is((SELECT count(*)::int FROM protector.tasks t JOIN ids ON ids.id = t.booking_id
		   WHERE ids.name = 'b1' AND t.kind = 'booking_review' AND t.status = 'open'), 1,
	'a new booking gets one open review task');
SELECT is((SELECT t.assignee FROM protector.tasks t JOIN ids ON ids.id = t.booking_id WHERE ids.name = 'b1'),
	tests.get_supabase_uid('w_agent'), '... assigned to the booking''s agent');
SELECT ok((SELECT t.due_at < pg_temp.t(10) AND t.due_at >= now() FROM protector.tasks t JOIN ids ON ids.id = t.booking_id
		   WHERE ids.name = 'b1'), '... due before the booking starts');
SELECT matches((SELECT t.title FROM protector.tasks t JOIN ids ON ids.id = t.booking_id WHERE ids.name = 'b1'),
	'^Review booking: Vault, \d{4}-\d\d-\d\d \d\d:00 \(Europe/Berlin\)$', '... titled with the service and local time');
SELECT is((SELECT array_agg(kind ORDER BY created_at)::text FROM protector.notifications n JOIN ids ON ids.id = n.booking_id
		   WHERE ids.name = 'b1' AND n.recipient_id IS NULL), '{booking.created}', 'the desk is notified of the new booking');

-- a hold creates nothing until it is confirmed
SELECT tests.authenticate_as('w_customer');
INSERT INTO ids SELECT 'h1', (protector.hold_slot('0a500000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12), 1) ->> 'id')::uuid;
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.tasks t JOIN ids ON ids.id = t.booking_id WHERE ids.name = 'h1'), 0,
	'a hold creates no task');
SELECT tests.authenticate_as('w_customer');
SELECT lives_ok($$SELECT protector.confirm_booking(id) FROM ids WHERE name = 'h1'$$, 'the customer confirms the hold');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.tasks t JOIN ids ON ids.id = t.booking_id WHERE ids.name = 'h1'), 1,
	'the confirmed hold gets its review task');

-- agents see their own tasks only
SELECT tests.authenticate_as('w_agent');
SELECT is((SELECT count(*)::int FROM protector.tasks), 1, 'the agent sees the task assigned to them');
SELECT tests.authenticate_as('w_agent2');
SELECT is((SELECT count(*)::int FROM protector.tasks), 0, 'another agent sees none');
SELECT tests.authenticate_as('w_operator');
SELECT is((SELECT count(*)::int FROM protector.tasks), 2, 'the desk sees all of the organization''s tasks');
SELECT tests.authenticate_as('w_other');
SELECT is((SELECT count(*)::int FROM protector.tasks), 0, 'another organization sees none');
SELECT is((SELECT count(*)::int FROM protector.notifications), 0, '... and none of its notifications');

-- handing the booking to another agent hands over its open task
SELECT tests.authenticate_as('w_operator');
UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('w_agent2')
WHERE id = (SELECT id FROM ids WHERE name = 'b1');
SELECT tests.authenticate_as('w_agent2');
SELECT is((SELECT count(*)::int FROM protector.tasks), 1, 'the new agent now sees the task');

-- a reschedule moves the task and tells the desk
SELECT tests.authenticate_as('w_manager');
SELECT lives_ok($$SELECT protector.reschedule_booking(id, pg_temp.t(30)) FROM ids WHERE name = 'b1'$$, 'the manager reschedules');
SELECT tests.clear_authentication();
SELECT ok((SELECT t.due_at < pg_temp.t(30) AND t.due_at > pg_temp.t(10) FROM protector.tasks t JOIN ids ON ids.id = t.booking_id
		   WHERE ids.name = 'b1'), 'the review task is due before the new start');
SELECT is((SELECT array_agg(kind ORDER BY created_at, kind)::text FROM protector.notifications n JOIN ids ON ids.id = n.booking_id
		   WHERE ids.name = 'b1'), '{booking.created,booking.rescheduled}', 'the desk is told of the reschedule');

-- a cancellation closes the open tasks and tells the desk
SELECT tests.authenticate_as('w_customer');
SELECT lives_ok($$SELECT protector.cancel_booking(id, 'ill') FROM ids WHERE name = 'b1'$$, 'the customer cancels');
SELECT tests.clear_authentication();
SELECT is((SELECT t.status::text FROM protector.tasks t JOIN ids ON ids.id = t.booking_id WHERE ids.name = 'b1'), 'done',
	'cancelling closes the booking''s open task');
SELECT is((SELECT count(*)::int FROM protector.notifications n JOIN ids ON ids.id = n.booking_id
		   WHERE ids.name = 'b1' AND n.kind = 'booking.cancelled'), 1, 'the desk is told of the cancellation');
SELECT is((SELECT changed_columns @> '{status}' FROM protector.audit_log WHERE table_name = 'protector.bookings'
		   AND record_id = (SELECT id::text FROM ids WHERE name = 'b1') AND op = 'UPDATE'
		   ORDER BY id DESC LIMIT 1), true, 'the cancellation is audited with its changed columns');

-- reading the audit log
SELECT tests.authenticate_as('w_owner');
SELECT ok((SELECT count(*) > 0 FROM protector.get_audit_logs('protector.bookings')), 'the owner reads the booking history');
SELECT is((SELECT count(*)::int FROM protector.get_audit_logs(p_limit => 10000)
		   WHERE organization_id <> '0a500000-0000-4000-8000-000000000000'), 0, '... of their organization only');
SELECT tests.authenticate_as('w_admin');
SELECT is((SELECT count(*)::int FROM protector.get_audit_logs('protector.bookings', p_limit => 1)), 1, 'an admin reads it too, limited');
SELECT tests.authenticate_as('w_manager');
SELECT throws_ok($$SELECT * FROM protector.get_audit_logs()$$, '42501', 'only owners and admins can read the audit log',
	'a manager may not read the audit log');
SELECT is((SELECT count(*)::int FROM protector.audit_log), 0, '... nor see it through the table');
SELECT tests.authenticate_as('w_owner');
SELECT throws_ok($$SELECT * FROM protector.get_audit_logs(p_limit => 0)$$, '22023', NULL, 'p_limit is checked');
SELECT throws_ok($$SELECT * FROM protector.get_audit_logs(p_from => now(), p_to => now() - interval '1 day')$$, '22023', NULL,
	'an empty time range is refused');
SELECT throws_ok($$SELECT * FROM protector.get_audit_logs(p_to => 'infinity')$$, '22008', 'p_to must be a finite time',
	'an infinite bound is 22008, as every infinite time (it was 22023)');
SELECT throws_ok($$DELETE FROM protector.audit_log$$, '42501', NULL, 'history cannot be deleted through the API');
SELECT tests.clear_authentication();

-- Supabase Realtime: broadcast on the organization's private topic
SELECT is((SELECT count(*)::int FROM realtime.messages m JOIN ids ON m.payload -> 'record' ->> 'id' = ids.id::text
		   WHERE ids.name = 'b1' AND m.topic = 'protector:0a500000-0000-4000-8000-000000000000'), 4,
	'each change of the booking (insert, new agent, reschedule, cancel) is broadcast on its organization''s topic');
SELECT tests.authenticate_as('w_operator');
SELECT set_config('realtime.topic', 'protector:0a500000-0000-4000-8000-000000000000', true);
SELECT ok((SELECT count(*) > 0 FROM realtime.messages), 'the desk may receive their organization''s topic');
SELECT tests.authenticate_as('w_agent');
SELECT set_config('realtime.topic', 'protector:0a500000-0000-4000-8000-000000000000', true);
SELECT is((SELECT count(*)::int FROM realtime.messages), 0,
	'an agent may not: the topic carries every booking row (bookings.read)');
SELECT tests.authenticate_as('w_other');
SELECT set_config('realtime.topic', 'protector:0a500000-0000-4000-8000-000000000000', true);
SELECT is((SELECT count(*)::int FROM realtime.messages), 0, 'another organization''s member may not');

-- the kinds of tasks and notifications: a lower-case letter, then letters,
-- digits and _ (notifications also .), 64 characters at most
SELECT tests.clear_authentication();
SELECT lives_ok($$INSERT INTO protector.tasks (organization_id, kind, title)
	VALUES ('0a500000-0000-4000-8000-000000000000', 'k' || repeat('x_9', 21), 'T')$$, 'a task kind of 64 characters');
SELECT throws_ok($$INSERT INTO protector.tasks (organization_id, kind, title)
	VALUES ('0a500000-0000-4000-8000-000000000000', 'k' || repeat('x_9', 21) || 'z', 'T')$$, '23514', NULL, '... not 65');
SELECT throws_ok($$INSERT INTO protector.tasks (organization_id, kind, title)
	VALUES ('0a500000-0000-4000-8000-000000000000', '9lives', 'T')$$, '23514', NULL, '... starting with a letter');
SELECT lives_ok($$INSERT INTO protector.notifications (organization_id, kind)
	VALUES ('0a500000-0000-4000-8000-000000000000', 'b' || repeat('.x', 31) || '9')$$, 'a notification kind of 64 characters');
SELECT throws_ok($$INSERT INTO protector.notifications (organization_id, kind)
	VALUES ('0a500000-0000-4000-8000-000000000000', 'b' || repeat('.x', 32))$$, '23514', NULL, '... not 65');
SELECT throws_ok($$INSERT INTO protector.notifications (organization_id, kind)
	VALUES ('0a500000-0000-4000-8000-000000000000', 'booking.Created')$$, '23514', NULL, '... in lower case');

-- a move to another service at the same times is a reschedule: the review
-- task names the new service, its venue's local time and zone, and the
-- desk is told; a new agent takes the booking's open tasks that were the
-- old agent's or nobody's
SELECT tests.clear_authentication();
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a500000-0000-4000-8000-0000000000a2', '0a500000-0000-4000-8000-000000000000', 'NY', 'America/New_York', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, max_party) VALUES
	('0a500000-0000-4000-8000-0000000005a2', '0a500000-0000-4000-8000-000000000000', '0a500000-0000-4000-8000-0000000000a2',
	 'Crypt', '60 minutes', '60 minutes', '400 days', 4);
SELECT tests.authenticate_as('w_manager');
INSERT INTO ids SELECT 'b3', (protector.create_booking('0a500000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(40), 2,
	p_assigned_agent => tests.get_supabase_uid('w_agent')) ->> 'id')::uuid;
INSERT INTO protector.tasks (organization_id, booking_id, title)
SELECT '0a500000-0000-4000-8000-000000000000', id, 'Call the customer' FROM ids WHERE name = 'b3';
SELECT lives_ok($$SELECT protector.reschedule_booking(id, pg_temp.t(40), '0a500000-0000-4000-8000-0000000005a2') FROM ids WHERE name = 'b3'$$,
	'the manager moves the booking to the New York room at the same time');
SELECT is((SELECT t.title FROM protector.tasks t JOIN ids ON ids.id = t.booking_id WHERE ids.name = 'b3' AND t.kind = 'booking_review'),
	format('Review booking: Crypt, %s (America/New_York)', to_char(pg_temp.t(40) AT TIME ZONE 'America/New_York', 'YYYY-MM-DD HH24:MI')),
	'the review task names the new service, at its local time and zone');
SELECT is((SELECT array_agg(kind ORDER BY created_at, kind)::text FROM protector.notifications n JOIN ids ON ids.id = n.booking_id
		   WHERE ids.name = 'b3'), '{booking.created,booking.rescheduled}', 'the desk is told of the move');
UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('w_agent2') WHERE id = (SELECT id FROM ids WHERE name = 'b3');
SELECT is((SELECT array_agg(t.title ORDER BY t.title) FILTER (WHERE t.assignee = tests.get_supabase_uid('w_agent2'))::text
		   FROM protector.tasks t JOIN ids ON ids.id = t.booking_id WHERE ids.name = 'b3'),
	(SELECT array_agg(t.title ORDER BY t.title)::text FROM protector.tasks t JOIN ids ON ids.id = t.booking_id WHERE ids.name = 'b3'),
	'the new agent takes both open tasks: the old agent''s and nobody''s');
-- a notification's recipient is a member, named
SELECT tests.authenticate_as('w_operator');
SELECT throws_ok($$INSERT INTO protector.notifications (organization_id, recipient_id, kind)
				   VALUES ('0a500000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_other'), 'note')$$,
	'P0002', 'recipient not found', 'a notification to a stranger is refused by name');
-- ... and a task's or notification's booking is one of the organization's
-- (it was the composite foreign key's bare 23503)
SELECT throws_ok($$INSERT INTO protector.notifications (organization_id, booking_id, kind)
				   VALUES ('0a500000-0000-4000-8000-000000000000', '00000000-0000-4000-8000-00000000dead', 'note')$$,
	'P0002', 'booking not found', 'a notification about no booking is refused by name');
SELECT throws_ok($$INSERT INTO protector.tasks (organization_id, booking_id, title)
				   VALUES ('0a500000-0000-4000-8000-000000000000', '00000000-0000-4000-8000-00000000dead', 'Call back')$$,
	'P0002', 'booking not found', '... and so is a task');
SELECT lives_ok($$INSERT INTO protector.tasks (organization_id, booking_id, title)
				  SELECT '0a500000-0000-4000-8000-000000000000', id, 'Call back' FROM ids WHERE name = 'b3'$$,
	'a task about a booking of the organization is taken');

SELECT tests.clear_authentication();

-- a row moved to another organization is the history of both
SELECT tests.authenticate_as_service_role();
UPDATE protector.customers SET organization_id = '0a500000-0000-4000-8000-000000000000'
WHERE id = '0b500000-0000-4000-8000-00000000c001';
SELECT tests.authenticate_as('w_owner');
SELECT is((SELECT count(*)::int FROM protector.get_audit_logs('protector.customers')
		   WHERE record_id = '0b500000-0000-4000-8000-00000000c001' AND op = 'UPDATE'), 1,
	'a customer moved into the organization: its owner reads the move');
SELECT is((SELECT array_agg(ARRAY[old_row IS NULL, new_row ->> 'organization_id' = '0a500000-0000-4000-8000-000000000000'])::text
		   FROM protector.get_audit_logs('protector.customers')
		   WHERE record_id = '0b500000-0000-4000-8000-00000000c001' AND op = 'UPDATE'), '{{t,t}}',
	'... as the customer is now, not as it was in the organization it left');
SELECT tests.authenticate_as('w_other');
SELECT is((SELECT array_agg(op ORDER BY id)::text FROM protector.get_audit_logs('protector.customers')
		   WHERE record_id = '0b500000-0000-4000-8000-00000000c001'), '{INSERT,UPDATE}',
	'... and so does the owner of the organization it left');
SELECT is((SELECT array_agg(ARRAY[new_row IS NULL, old_row ->> 'organization_id' = '0b500000-0000-4000-8000-000000000000'])::text
		   FROM protector.get_audit_logs('protector.customers')
		   WHERE record_id = '0b500000-0000-4000-8000-00000000c001' AND op = 'UPDATE'), '{{t,t}}',
	'... as the customer was there, not as it is in the organization it went to');
SELECT tests.clear_authentication();

-- the workflow trigger finds its columns again after the table's
-- definition changes in the same session (a relcache invalidation): a
-- title column made anew gets the review title, not the old one's place
ALTER TABLE protector.tasks RENAME COLUMN title TO title_before;
ALTER TABLE protector.tasks ALTER COLUMN title_before DROP NOT NULL, ADD COLUMN title text;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during) VALUES
	('0a500000-0000-4000-8000-0000000b0099', '0a500000-0000-4000-8000-000000000000', '0a500000-0000-4000-8000-0000000000a1',
	 '0a500000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(60), pg_temp.t(61)));
SELECT results_eq($$SELECT title LIKE 'Review booking: Vault, %', title_before IS NULL FROM protector.tasks
					WHERE booking_id = '0a500000-0000-4000-8000-0000000b0099'$$,
	$$VALUES (true, true)$$, 'a column renamed and made anew: the review title goes to the new one');

-- The audit of protector's own tables is data (audit_settings): pg_dump
-- leaves out their triggers, a restore brings the rows back, and the audit
-- trigger reads them beside its arguments (src/audit_settings.c).
SELECT is((SELECT masked FROM protector_internal.audit_settings WHERE table_name = 'protector.booking_messages'::regclass),
	'{body}', 'the install records its defaults (booking_messages'' body masked)');
SELECT protector.enable_audit('protector.customers', '{phone}');
SELECT protector.disable_audit('protector.vouchers');
SELECT results_eq($$SELECT table_name::text, audited, masked FROM protector_internal.audit_settings
					WHERE table_name IN ('protector.customers'::regclass, 'protector.vouchers'::regclass) ORDER BY 1$$,
	$$VALUES ('protector.customers', true, '{phone}'::text[]), ('protector.vouchers', false, '{}')$$,
	'enable_audit and disable_audit record protector''s own tables');
CREATE TABLE public.audit_probe (id int PRIMARY KEY, secret text);
SELECT protector.enable_audit('public.audit_probe', '{secret}');
SELECT is((SELECT count(*)::int FROM protector_internal.audit_settings WHERE table_name = 'public.audit_probe'::regclass), 0,
	'... not a user''s table (its triggers are in a dump)');
-- as a restore leaves it: the triggers as CREATE EXTENSION made them, the rows as they were
SELECT protector.enable_audit('protector.customers');
UPDATE protector_internal.audit_settings SET masked = '{phone,notes}' WHERE table_name = 'protector.customers'::regclass;
SELECT protector_internal.audit_settings_changed('protector.customers');
UPDATE protector.customers SET phone = '+4915550001', notes = 'VIP', full_name = 'Cora R' WHERE id = '0a500000-0000-4000-8000-00000000c001';
SELECT is((SELECT (new_row ->> 'phone') || ' ' || (new_row ->> 'notes') || ' ' || (new_row ->> 'full_name') FROM protector.audit_log
		   WHERE table_name = 'protector.customers' ORDER BY id DESC LIMIT 1), '[masked] [masked] Cora R',
	'a column the row masks is masked though the trigger''s arguments do not name it');
SELECT throws_ok($$ALTER TABLE protector.customers RENAME COLUMN notes TO remarks$$, '2BP01',
	'cannot rename column "notes" of table "customers": the audit trigger masks it', '... and cannot be renamed');
UPDATE protector_internal.audit_settings SET audited = false WHERE table_name = 'protector.customers'::regclass;
SELECT protector_internal.audit_settings_changed('protector.customers');
UPDATE protector.customers SET full_name = 'Cora S' WHERE id = '0a500000-0000-4000-8000-00000000c001';
SELECT is((SELECT count(*)::int FROM protector.audit_log WHERE table_name = 'protector.customers' AND new_row ->> 'full_name' = 'Cora S'), 0,
	'a table its row says is not audited writes no audit row, its triggers there or not');
UPDATE protector_internal.audit_settings SET audited = true, masked = '{gone}' WHERE table_name = 'protector.customers'::regclass;
SELECT protector_internal.audit_settings_changed('protector.customers');
SELECT throws_ok($$UPDATE protector.customers SET full_name = 'Cora T' WHERE id = '0a500000-0000-4000-8000-00000000c001'$$, '42703',
	'column "gone" masked by the audit trigger of table "customers" does not exist', 'a masked column that is not there refuses writes, as ever');
SELECT throws_ok($$SELECT protector_internal.audit_settings_changed(NULL)$$, '22023', 'p_table must not be null',
	'audit_settings_changed: a table is required');
-- enable_audit says it changed something when it changes the row only
-- (its triggers as they were: it answered false, "nothing changes")
UPDATE protector_internal.audit_settings SET audited = true, masked = '{phone}' WHERE table_name = 'protector.customers'::regclass;
SELECT protector_internal.audit_settings_changed('protector.customers');
SELECT is(protector.enable_audit('protector.customers'), true, 'enable_audit unmasking what only the row masked answers true');
SELECT is(protector.enable_audit('protector.customers'), false, '... and false the second time');

SELECT * FROM finish();
ROLLBACK;
