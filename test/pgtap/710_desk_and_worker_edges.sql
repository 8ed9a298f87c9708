-- Two edges an attack on the workflow found:
--   1. a task of kind booking_review written by hand (the desk may write
--      tasks) on a hold kept the hold's confirmation from the desk and its
--      agent: the workflow took it for the booking's own review task.
--      Only the workflow (and trusted callers) write that kind now.
--   2. a reminder worker's late report of its claim was refused when any
--      other claim ran meanwhile and settled the lease that ran out (the
--      reminder sent went out again, or stayed failed with max_attempts
--      1); without a claim between, the same report was taken.  A late
--      report of the last claim is taken until another claim takes it.
--   3. owners and admins deleted members' private notifications they do
--      not see (a DELETE that reads no column is not held to the SELECT
--      policy): they delete the desk's and their own.
--   4. (a review of the docs) a service's empty cancellation_fees list
--      made cancellation free: it is no fees, and the refund policy's
--      rule applies, as settings.md says.
-- The file runs in one transaction: now() is one instant.
BEGIN;
SELECT plan(30);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['w_operator', 'w_agent', 'w_admin']) u;
-- (agents are assigned here without shifts, docs/staff.md)
INSERT INTO protector.organizations (id, name, slug, settings) VALUES
	('0a710000-0000-4000-8000-000000000000', 'W', 'desk-worker', '{"staff": {"require_shifts": false}}'),
	('0b710000-0000-4000-8000-000000000000', 'W1', 'desk-worker-once', '{"reminders": {"max_attempts": 1}}');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a710000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_operator'), 'operator'),
	('0a710000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_agent'), 'agent'),
	('0a710000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_admin'), 'admin');
INSERT INTO protector.venues (id, organization_id, name, timezone)
SELECT ('0' || o || '710000-0000-4000-8000-0000000000a1')::uuid, ('0' || o || '710000-0000-4000-8000-000000000000')::uuid, 'V', 'UTC'
FROM unnest(ARRAY['a', 'b']) o;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
SELECT ('0' || o || '710000-0000-4000-8000-0000000005a1')::uuid, ('0' || o || '710000-0000-4000-8000-000000000000')::uuid,
	   ('0' || o || '710000-0000-4000-8000-0000000000a1')::uuid, 'Room', '60 minutes', '60 minutes', '400 days', 10, 4, 'shared'
FROM unnest(ARRAY['a', 'b']) o;
INSERT INTO protector.customers (id, organization_id, full_name, email)
SELECT ('0' || o || '710000-0000-4000-8000-00000000c001')::uuid, ('0' || o || '710000-0000-4000-8000-000000000000')::uuid,
	   'Ann', 'ann@example.com'
FROM unnest(ARRAY['a', 'b']) o;

-- 1. a hold, and a task of the workflow's kind written by hand
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, hold_expires_at, assigned_agent)
VALUES ('0a710000-0000-4000-8000-0000000b0001', '0a710000-0000-4000-8000-000000000000', '0a710000-0000-4000-8000-0000000000a1',
		'0a710000-0000-4000-8000-0000000005a1', '0a710000-0000-4000-8000-00000000c001',
		tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'),
		'held', now() + interval '10 minutes', tests.get_supabase_uid('w_agent'));
SELECT tests.authenticate_as('w_operator');
SELECT throws_ok($$INSERT INTO protector.tasks (organization_id, booking_id, kind, title, status)
				   VALUES ('0a710000-0000-4000-8000-000000000000', '0a710000-0000-4000-8000-0000000b0001',
						   'booking_review', 'nothing to see', 'done')$$,
	'42501', 'booking_review tasks are written by the booking workflow', 'the desk writes no booking_review task');
INSERT INTO protector.tasks (organization_id, booking_id, kind, title)
VALUES ('0a710000-0000-4000-8000-000000000000', '0a710000-0000-4000-8000-0000000b0001', 'manual', 'call the customer');
SELECT throws_ok($$UPDATE protector.tasks SET kind = 'booking_review' WHERE title = 'call the customer'$$,
	'42501', 'booking_review tasks are written by the booking workflow', '... nor makes one of its own task');
RESET ROLE;
UPDATE protector.bookings SET status = 'confirmed', hold_expires_at = NULL WHERE id = '0a710000-0000-4000-8000-0000000b0001';
SELECT is((SELECT string_agg(kind || ' ' || (assignee IS NOT DISTINCT FROM tests.get_supabase_uid('w_agent'))::text, ', ' ORDER BY kind)
		   FROM protector.tasks WHERE booking_id = '0a710000-0000-4000-8000-0000000b0001'),
	'booking_review true, manual false', 'the confirmed hold gets its review task, for its agent');
SELECT is((SELECT string_agg(kind, ', ') FROM protector.notifications WHERE booking_id = '0a710000-0000-4000-8000-0000000b0001'),
	'booking.created', '... and the desk hears of it');
SELECT tests.authenticate_as('w_operator');
SELECT throws_ok($$UPDATE protector.tasks SET kind = 'manual' WHERE kind = 'booking_review'$$,
	'42501', 'booking_review tasks are written by the booking workflow', 'the workflow''s task keeps its kind');
SELECT throws_ok($$UPDATE protector.tasks SET booking_id = NULL WHERE kind = 'booking_review'$$,
	'42501', 'booking_review tasks are written by the booking workflow',
	'... and stays with its booking (moved onto another hold, it kept that one''s confirmation from the desk)');
SELECT lives_ok($$UPDATE protector.tasks SET status = 'done' WHERE kind = 'booking_review'$$, '... and is worked as any task');
SELECT lives_ok($$INSERT INTO protector.tasks (id, organization_id, booking_id, kind, title, status)
				  SELECT id, organization_id, booking_id, kind, title, 'open' FROM protector.tasks WHERE kind = 'booking_review'
				  ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status$$,
	'... also by an upsert, as supabase-js writes a change');
RESET ROLE;

-- 2. late reports: a confirmed booking's reminders, one made due, claimed
-- with a lease that then runs out, settled by another claim
CREATE FUNCTION pg_temp.due_claim(o text, p_meanwhile text DEFAULT NULL, p_lapse boolean DEFAULT true)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE v uuid;
BEGIN
	INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
	VALUES (('0' || o || '710000-0000-4000-8000-0000000b0002')::uuid, ('0' || o || '710000-0000-4000-8000-000000000000')::uuid,
			('0' || o || '710000-0000-4000-8000-0000000000a1')::uuid, ('0' || o || '710000-0000-4000-8000-0000000005a1')::uuid,
			('0' || o || '710000-0000-4000-8000-00000000c001')::uuid,
			tstzrange(date_trunc('day', now()) + interval '5 days', date_trunc('day', now()) + interval '5 days 1 hour'), 'confirmed');
	SELECT r.id INTO v FROM protector.booking_reminders r
	WHERE r.booking_id = ('0' || o || '710000-0000-4000-8000-0000000b0002')::uuid ORDER BY r.offset_minutes DESC LIMIT 1;
	UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second' WHERE id = v;
	PERFORM set_config('role', 'service_role', true);
	PERFORM protector.claim_due_reminders(10, '10 seconds');
	RESET ROLE;
	IF p_meanwhile IS NOT NULL THEN
		EXECUTE p_meanwhile;
	END IF;
	IF NOT p_lapse THEN
		RETURN v;
	END IF;
	-- (its lease runs out; another worker's claim settles it)
	UPDATE protector.booking_reminders SET lease_until = now() - interval '1 second' WHERE id = v;
	PERFORM set_config('role', 'service_role', true);
	PERFORM protector.claim_due_reminders(10, '10 seconds');
	RESET ROLE;
	RETURN v;
END $$;
SELECT pg_temp.due_claim('a') AS ra \gset
SELECT is((SELECT format('%s %s %s', status, attempts, last_error) FROM protector.booking_reminders WHERE id = :'ra'),
	'pending 1 lease expired: the worker did not report', 'the lease ran out and another claim settled it');
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT format('%s %s %s', status, attempts, last_error IS NULL) FROM protector.complete_reminder(:'ra', true, NULL, 1)),
	'sent 1 t', 'the worker''s late report that it sent the reminder is taken: it is not sent again');
SELECT throws_ok(format($$SELECT protector.complete_reminder(%L, true, NULL, 1)$$, :'ra'),
	'23P01', 'the reminder is not being sent', 'a second report is refused');
SELECT throws_ok(format($$SELECT protector.complete_reminder(r.id, true) FROM protector.booking_reminders r
						  WHERE r.booking_id = %L AND r.id <> %L$$, '0a710000-0000-4000-8000-0000000b0002', :'ra'),
	'23P01', 'the reminder is not being sent', '... and so is a report of a reminder never claimed');
RESET ROLE;
SELECT pg_temp.due_claim('b') AS rb \gset
SELECT is((SELECT status FROM protector.booking_reminders WHERE id = :'rb'), 'failed',
	'with max_attempts 1 the settled lease failed the reminder');
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT format('%s %s', status, attempts) FROM protector.complete_reminder(:'rb', true, NULL, 1)),
	'sent 1', '... and the late report that it was sent is taken');
RESET ROLE;
-- a late report of a failure keeps the retry the lease's end set, with
-- the worker's error
DELETE FROM protector.bookings WHERE id = '0a710000-0000-4000-8000-0000000b0002';
SELECT pg_temp.due_claim('a') AS rc \gset
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT format('%s %s %s %s', status, attempts, tests.taken_in_transaction(next_attempt_at - interval '1 minute'), last_error)
		   FROM protector.complete_reminder(:'rc', false, 'lease expired: the worker did not report', 1)),
	'pending 1 t failed (no error given)',
	'a late failure: retried after 2^0 = 1 minute, as the lease''s end set (an error reading as the lease''s is none)');
SELECT throws_ok(format($$SELECT protector.complete_reminder(%L, true, NULL, 1)$$, :'rc'),
	'23P01', 'the reminder is not being sent', '... and reported once');
-- a customer erased while the late report was on its way: its error
-- may quote the address the erasure removed
RESET ROLE;
DELETE FROM protector.bookings WHERE id = '0b710000-0000-4000-8000-0000000b0002';
UPDATE protector.organizations SET settings = '{}' WHERE id = '0b710000-0000-4000-8000-000000000000';
SELECT pg_temp.due_claim('b', $$SELECT protector.erase_customer('0b710000-0000-4000-8000-00000000c001')$$) AS re \gset
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT last_error FROM protector.complete_reminder(:'re', false, 'smtp 550 ann@example.com unknown', 1)),
	'failed (customer erased)', 'a late failure of an erased customer''s reminder keeps no error text');
RESET ROLE;
-- once another claim took it, the late report is refused as before
RESET ROLE;
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second' WHERE id = :'rc';
SELECT tests.authenticate_as_service_role();
SELECT protector.claim_due_reminders(10) \g /dev/null
SELECT throws_ok(format($$SELECT protector.complete_reminder(%L, true, NULL, 1)$$, :'rc'),
	'23P01', 'this claim of the reminder has run out', 'a late report after another claim took it is refused');

-- an error reported in time that reads as the lease's takes no second report
RESET ROLE;
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second'
WHERE booking_id = '0a710000-0000-4000-8000-0000000b0002' AND status = 'pending' AND attempts = 0;
SELECT tests.authenticate_as_service_role();
SELECT protector.claim_due_reminders(10) \g /dev/null
SELECT r.id AS rs FROM protector.booking_reminders r
WHERE r.booking_id = '0a710000-0000-4000-8000-0000000b0002' AND r.status = 'sending' AND r.id <> :'rc' \gset
SELECT is((SELECT last_error FROM protector.complete_reminder(:'rs', false, 'lease expired: the worker did not report', 1)),
	'failed (no error given)', 'an error reading as the lease''s is kept as none');
SELECT throws_ok(format($$SELECT protector.complete_reminder(%L, true, NULL, 1)$$, :'rs'),
	'23P01', 'the reminder is not being sent', '... and the claim is reported once');

-- a booking handed to another customer while its reminder was out, and
-- its first customer erased: the worker's error may quote the first
-- customer's address, and goes too
RESET ROLE;
DELETE FROM protector.bookings WHERE id = '0a710000-0000-4000-8000-0000000b0002';
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a710000-0000-4000-8000-00000000c002', '0a710000-0000-4000-8000-000000000000', 'Bob', 'bob@example.com');
SELECT pg_temp.due_claim('a', $$UPDATE protector.bookings SET customer_id = '0a710000-0000-4000-8000-00000000c002'
							   WHERE id = '0a710000-0000-4000-8000-0000000b0002';
							   SELECT protector.erase_customer('0a710000-0000-4000-8000-00000000c001')$$, false) AS rv \gset
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT format('%s %s', status, last_error IS NULL) FROM protector.complete_reminder(:'rv', false, 'smtp 550 ann@example.com unknown', 1)),
	'pending t', 'a customer erased since the claim, the booking now another''s: no error text kept (it starts again for Bob)');
RESET ROLE;
-- ... also where its lease ran out meanwhile: the late report is taken,
-- without its text (the reminder names the customer it was claimed for)
DELETE FROM protector.bookings WHERE id = '0a710000-0000-4000-8000-0000000b0002';
DELETE FROM protector.customer_erasures WHERE customer_id = '0a710000-0000-4000-8000-00000000c001';
UPDATE protector.customers SET full_name = 'Ann', email = 'ann@example.com' WHERE id = '0a710000-0000-4000-8000-00000000c001';
SELECT pg_temp.due_claim('a', $$UPDATE protector.bookings SET customer_id = '0a710000-0000-4000-8000-00000000c002'
							   WHERE id = '0a710000-0000-4000-8000-0000000b0002';
							   SELECT protector.erase_customer('0a710000-0000-4000-8000-00000000c001')$$) AS rw \gset
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT format('%s %s', status, last_error IS NULL)
		   FROM protector.complete_reminder(:'rw', false, 'smtp 550 ann@example.com unknown', 1)),
	'pending t', '... and where its lease ran out meanwhile, the late report keeps no text either');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM protector.audit_log WHERE table_name = 'protector.booking_reminders'
		   AND (old_row::text LIKE '%ann@example%' OR new_row::text LIKE '%ann@example%')),
	0, '... nor does the audit log quote the address');
-- the booking's next claim is Bob's: his worker's error is his to keep
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second' WHERE id = :'rw';
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT recipient FROM protector.claim_due_reminders(10) WHERE reminder_id = :'rw'), 'bob@example.com',
	'the next claim is for Bob, the booking''s customer');
SELECT is((SELECT format('%s %s', last_error IS NULL, claimed_for) FROM protector.booking_reminders WHERE id = :'rw'),
	't 0a710000-0000-4000-8000-00000000c002', '... for whom it is claimed, the last customer''s error cleared');
SELECT is((SELECT last_error FROM protector.complete_reminder(:'rw', false, 'smtp 452 bob@example.com mailbox full', 2)),
	'smtp 452 bob@example.com mailbox full', '... and his worker''s error is kept (only the erased customer''s claims lose theirs)');
RESET ROLE;
-- a customer erased while the booking was still theirs, handed to Bob
-- before the report: the claim was theirs, its error goes
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a710000-0000-4000-8000-00000000c003', '0a710000-0000-4000-8000-000000000000', 'Cleo', 'cleo@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a710000-0000-4000-8000-0000000b0005', '0a710000-0000-4000-8000-000000000000', '0a710000-0000-4000-8000-0000000000a1',
		'0a710000-0000-4000-8000-0000000005a1', '0a710000-0000-4000-8000-00000000c003',
		tstzrange(date_trunc('day', now()) + interval '6 days', date_trunc('day', now()) + interval '6 days 1 hour'), 'confirmed');
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second'
WHERE booking_id = '0a710000-0000-4000-8000-0000000b0005' AND offset_minutes = 1440;
SELECT tests.authenticate_as_service_role();
SELECT reminder_id AS rx FROM protector.claim_due_reminders(10) WHERE booking_id = '0a710000-0000-4000-8000-0000000b0005' \gset
RESET ROLE;
SELECT protector.erase_customer('0a710000-0000-4000-8000-00000000c003') \g /dev/null
UPDATE protector.bookings SET customer_id = '0a710000-0000-4000-8000-00000000c002' WHERE id = '0a710000-0000-4000-8000-0000000b0005';
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT format('%s %s', status, last_error IS NULL) FROM protector.complete_reminder(:'rx', false, 'smtp 550 cleo@example.com unknown', 1)),
	'pending t', 'a customer erased while the booking was theirs, then handed on: the claim''s error goes (it starts again for Bob)');
RESET ROLE;
-- 3. an admin's DELETE without a filter
RESET ROLE;
INSERT INTO protector.notifications (organization_id, recipient_id, kind) VALUES
	('0a710000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_agent'), 'note.private'),
	('0a710000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_admin'), 'note.mine');
SELECT tests.authenticate_as('w_admin');
DELETE FROM protector.notifications;
RESET ROLE;
SELECT is((SELECT string_agg(kind, ', ' ORDER BY kind) FROM protector.notifications
		   WHERE organization_id = '0a710000-0000-4000-8000-000000000000'),
	'note.private', 'an admin deletes the desk''s notifications and their own, not the agent''s private one');

-- 4. two services priced 50, one without settings, one with an empty fee
-- list; each booked 14.5 hours ahead, paid in full and cancelled: the
-- default refund policy (everything back until 24 hours before, then
-- late_refund_percent 0) gives back 0 of 50 in both
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode,
								price, currency, settings)
VALUES ('0a710000-0000-4000-8000-0000000005a2', '0a710000-0000-4000-8000-000000000000', '0a710000-0000-4000-8000-0000000000a1',
		'Plain', '60 minutes', '30 minutes', '400 days', 10, 4, 'shared', 50, 'USD', '{}'),
	   ('0a710000-0000-4000-8000-0000000005a3', '0a710000-0000-4000-8000-000000000000', '0a710000-0000-4000-8000-0000000000a1',
		'No tiers', '60 minutes', '30 minutes', '400 days', 10, 4, 'shared', 50, 'USD', '{"cancellation_fees": []}');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, currency, unit_price, total_price)
SELECT ('0a710000-0000-4000-8000-0000000b010' || n)::uuid, '0a710000-0000-4000-8000-000000000000', '0a710000-0000-4000-8000-0000000000a1',
	   ('0a710000-0000-4000-8000-0000000005a' || n)::uuid, '0a710000-0000-4000-8000-00000000c002',
	   tstzrange(date_trunc('hour', now()) + interval '14 hours 30 minutes', date_trunc('hour', now()) + interval '15 hours 30 minutes'),
	   'confirmed', 'USD', 50, 50
FROM unnest(ARRAY[2, 3]) n;
SELECT tests.authenticate_as_service_role();
SELECT protector.record_payment(('0a710000-0000-4000-8000-0000000b010' || n)::uuid, 50, 'stripe', 'pi_710_' || n) FROM unnest(ARRAY[2, 3]) n \g /dev/null
SELECT is((SELECT string_agg(format('%s %s', n, protector.cancel_booking(('0a710000-0000-4000-8000-0000000b010' || n)::uuid) ->> 'refund_amount'), ', ' ORDER BY n)
		   FROM unnest(ARRAY[2, 3]) n),
	'2 0.00, 3 0.00', 'an empty fee list is no fees: the refund policy keeps 50 of 50 paid within 24 hours, as without settings');
RESET ROLE;
-- ... and so is a list of tiers protector cannot read, written before
-- settings were checked (0.1.0; here past the checks, as a replica's
-- apply would write it)
SET LOCAL session_replication_role = replica;
UPDATE protector.services SET settings = '{"cancellation_fees": [{"hours": 24, "percent": 50}]}'
WHERE id = '0a710000-0000-4000-8000-0000000005a3';
SET LOCAL session_replication_role = origin;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, currency, unit_price, total_price)
VALUES ('0a710000-0000-4000-8000-0000000b0104', '0a710000-0000-4000-8000-000000000000', '0a710000-0000-4000-8000-0000000000a1',
		'0a710000-0000-4000-8000-0000000005a3', '0a710000-0000-4000-8000-00000000c002',
		tstzrange(date_trunc('hour', now()) + interval '16 hours 30 minutes', date_trunc('hour', now()) + interval '17 hours 30 minutes'),
		'confirmed', 'USD', 50, 50);
SELECT tests.authenticate_as_service_role();
SELECT protector.record_payment('0a710000-0000-4000-8000-0000000b0104', 50, 'stripe', 'pi_710_4') \g /dev/null
SELECT is(protector.cancel_booking('0a710000-0000-4000-8000-0000000b0104') ->> 'refund_amount', '0.00',
	'... and so is a list of tiers it cannot read (a 0.1.0 row): the refund policy''s 0 of 50, not all of it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
