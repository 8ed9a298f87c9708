-- A reminder's claims are numbered across the times it is brought back
-- (sql/84_reminders.sql, earlier_claims): a reminder cancelled and made
-- pending again (its booking confirmed again, moved back, or given another
-- customer) starts its tries again, and its claim numbers started again
-- with them, so a very late report of a claim before that was taken for
-- the new claim's of the same number (a reminder never sent was marked
-- sent).  The message after it also gets another idempotency key: it may
-- be of another time or to another customer, which a provider must not
-- drop as the one before.
-- The file runs in one transaction: now() is one instant.
BEGIN;
SELECT plan(40);

INSERT INTO protector.organizations (id, name, slug) VALUES ('0a740000-0000-4000-8000-000000000000', 'R', 'reminder-claims');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a740000-0000-4000-8000-0000000000a1', '0a740000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a740000-0000-4000-8000-0000000005a1', '0a740000-0000-4000-8000-000000000000', '0a740000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days', 10, 4, 'shared');
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a740000-0000-4000-8000-00000000c001', '0a740000-0000-4000-8000-000000000000', 'Ann', 'ann@example.com'),
	   ('0a740000-0000-4000-8000-00000000c002', '0a740000-0000-4000-8000-000000000000', 'Bo', 'bo@example.com');
-- booked_reminder(booking, customer, days): a confirmed booking of an hour
-- that many days from today's start, and its earliest reminder's id
CREATE FUNCTION pg_temp.booked_reminder(p_booking uuid, p_customer uuid, p_days integer) RETURNS uuid LANGUAGE sql AS $$
	INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
	VALUES (p_booking, '0a740000-0000-4000-8000-000000000000', '0a740000-0000-4000-8000-0000000000a1',
			'0a740000-0000-4000-8000-0000000005a1', p_customer,
			tstzrange(date_trunc('day', now()) + make_interval(days => p_days),
					  date_trunc('day', now()) + make_interval(days => p_days, hours => 1)), 'confirmed');
	SELECT r.id FROM protector.booking_reminders r
	WHERE r.booking_id = p_booking ORDER BY r.offset_minutes DESC LIMIT 1
$$;
SELECT pg_temp.booked_reminder('0a740000-0000-4000-8000-0000000b0001', '0a740000-0000-4000-8000-00000000c001', 5) AS rid \gset

-- claims it when due, as the worker does: attempt and key
CREATE FUNCTION pg_temp.claim(p_id uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
	UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second' WHERE id = p_id;
	PERFORM set_config('role', 'service_role', true);
	SELECT format('%s %s', c.attempt, c.idempotency_key) INTO v
	FROM protector.claim_due_reminders(10, '10 seconds') c WHERE c.reminder_id = p_id;
	RESET ROLE;
	RETURN v;
END $$;

-- claim 1; its lease runs out and another claim settles it; the booking
-- goes back to pending (the reminder is cancelled) and is confirmed again
SELECT is(pg_temp.claim(:'rid'), format('1 %s', :'rid'), 'the first claim is attempt 1, keyed by the reminder''s id');
UPDATE protector.booking_reminders SET lease_until = now() - interval '1 second' WHERE id = :'rid';
SET LOCAL ROLE service_role;
SELECT protector.claim_due_reminders(10) \g /dev/null
RESET ROLE;
UPDATE protector.bookings SET status = 'pending' WHERE id = '0a740000-0000-4000-8000-0000000b0001';
SELECT is((SELECT format('%s %s', status, cancelled_reason) FROM protector.booking_reminders WHERE id = :'rid'),
	'cancelled booking pending', 'a booking no longer confirmed cancels its reminder');
UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0a740000-0000-4000-8000-0000000b0001';
SELECT is((SELECT format('%s %s %s', status, attempts, earlier_claims) FROM protector.booking_reminders WHERE id = :'rid'),
	'pending 0 1', 'confirmed again, it is brought back: its tries start again, one claim before them');

-- claim 2: numbered on, with another key
SELECT is(pg_temp.claim(:'rid'), format('2 %s/1', :'rid'), 'the next claim is attempt 2, keyed <id>/1: another message');
SET LOCAL ROLE service_role;
SELECT throws_ok(format($$SELECT protector.complete_reminder(%L, true, NULL, 1)$$, :'rid'),
	'23P01', 'this claim of the reminder has run out',
	'a very late report of claim 1 is refused, not taken for claim 2''s (it was of the booking before it came back)');
SELECT throws_ok(format($$SELECT protector.complete_reminder(%L, true)$$, :'rid'),
	'23P01', 'this reminder was claimed more than once: p_attempt must say which claim reports',
	'... as is a report without p_attempt');
SELECT is((SELECT format('%s %s', status, attempts) FROM protector.complete_reminder(:'rid', true, NULL, 2)),
	'sent 1', 'claim 2''s report is taken');
RESET ROLE;

-- another customer brings back a reminder cancelled for the last one
-- (no address): numbered on again
SELECT r.id AS rid2 FROM protector.booking_reminders r
WHERE r.booking_id = '0a740000-0000-4000-8000-0000000b0001' AND r.id <> :'rid' ORDER BY r.offset_minutes DESC LIMIT 1 \gset
SELECT is(pg_temp.claim(:'rid2'), format('1 %s', :'rid2'), 'another reminder''s first claim');
UPDATE protector.booking_reminders SET lease_until = now() - interval '1 second' WHERE id = :'rid2';
SET LOCAL ROLE service_role;
SELECT protector.claim_due_reminders(10) \g /dev/null
RESET ROLE;
-- (claim 2 finds no address: it cancels the reminder)
UPDATE protector.customers SET email = NULL WHERE id = '0a740000-0000-4000-8000-00000000c001';
SELECT is(pg_temp.claim(:'rid2'), NULL, 'the customer has no address any more: the second claim hands nothing out');
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c002' WHERE id = '0a740000-0000-4000-8000-0000000b0001';
SELECT is((SELECT format('%s %s %s', status, attempts, earlier_claims) FROM protector.booking_reminders WHERE id = :'rid2'),
	'pending 0 2', 'cancelled for lack of an address, then given another customer, it comes back after its 2 claims');
SELECT is(pg_temp.claim(:'rid2'), format('3 %s/2', :'rid2'), '... and its next claim is attempt 3, keyed <id>/2');

-- a reminder whose booking changes hands while it waits for a retry (its
-- lease ran out): the next claim, for the new customer, starts its tries
-- again, numbered on and keyed anew, and the last customer's late report
-- is refused
RESET ROLE;
UPDATE protector.customers SET email = 'ann@example.com' WHERE id = '0a740000-0000-4000-8000-00000000c001';
SELECT pg_temp.booked_reminder('0a740000-0000-4000-8000-0000000b0002', '0a740000-0000-4000-8000-00000000c001', 6) AS rid3 \gset
SELECT is(pg_temp.claim(:'rid3'), format('1 %s', :'rid3'), 'a third reminder''s first claim, for Ann');
UPDATE protector.booking_reminders SET lease_until = now() - interval '1 second' WHERE id = :'rid3';
SET LOCAL ROLE service_role;
SELECT protector.claim_due_reminders(10) \g /dev/null
RESET ROLE;
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c002' WHERE id = '0a740000-0000-4000-8000-0000000b0002';
SELECT is(pg_temp.claim(:'rid3'), format('2 %s/1', :'rid3'), 'the claim for Bo, who has the booking now, is attempt 2, keyed <id>/1');
SELECT is((SELECT format('%s %s %s', attempts, earlier_claims, claimed_for) FROM protector.booking_reminders WHERE id = :'rid3'),
	'1 1 0a740000-0000-4000-8000-00000000c002', '... its first try for Bo, after one claim for Ann');
SET LOCAL ROLE service_role;
SELECT throws_ok(format($$SELECT protector.complete_reminder(%L, true, NULL, 1)$$, :'rid3'),
	'23P01', 'this claim of the reminder has run out', 'Ann''s late report is not taken for Bo''s');
RESET ROLE;

-- the last customer's late report after the hand-over, before the next
-- claim: that message went to Ann; the reminder starts again for Bo (it
-- was taken as the reminder's, marked sent, and Bo was never reminded)
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a740000-0000-4000-8000-00000000c003', '0a740000-0000-4000-8000-000000000000', 'Cy', 'cy@example.com');
SELECT pg_temp.booked_reminder('0a740000-0000-4000-8000-0000000b0003', '0a740000-0000-4000-8000-00000000c001', 7) AS rid4 \gset
SELECT is(pg_temp.claim(:'rid4'), format('1 %s', :'rid4'), 'a fourth reminder''s first claim, for Ann');
UPDATE protector.booking_reminders SET lease_until = now() - interval '1 second' WHERE id = :'rid4';
SET LOCAL ROLE service_role;
SELECT protector.claim_due_reminders(10) \g /dev/null
RESET ROLE;
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c002' WHERE id = '0a740000-0000-4000-8000-0000000b0003';
SET LOCAL ROLE service_role;
SELECT is((SELECT format('%s %s %s %s', status, attempts, earlier_claims, claimed_for IS NULL) FROM protector.complete_reminder(:'rid4', true, NULL, 1)),
	'pending 0 1 t', 'Ann''s late report after the booking went to Bo: the reminder starts again for Bo, not marked sent');
RESET ROLE;
SELECT is(pg_temp.claim(:'rid4'), format('2 %s/1', :'rid4'), '... and Bo''s claim is attempt 2, keyed <id>/1');

-- a reminder that failed for good for Ann (max_attempts 1) goes to Cy,
-- who takes the booking over
UPDATE protector.organizations SET settings = '{"reminders": {"max_attempts": 1}}' WHERE id = '0a740000-0000-4000-8000-000000000000';
SET LOCAL ROLE service_role;
SELECT is((SELECT status FROM protector.complete_reminder(:'rid4', false, 'mailbox full', 2)), 'failed', 'it fails for good for Bo');
RESET ROLE;
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c003' WHERE id = '0a740000-0000-4000-8000-0000000b0003';
SELECT is((SELECT format('%s %s %s %s', status, attempts, earlier_claims, last_error IS NULL) FROM protector.booking_reminders WHERE id = :'rid4'),
	'pending 0 2 t', 'handed to Cy, it is pending again: Bo''s failure is not Cy''s');
SELECT is(pg_temp.claim(:'rid4'), format('3 %s/2', :'rid4'), '... and Cy''s claim is attempt 3, keyed <id>/2');

-- a merge is the same person: Cy's record merged into Bo's, the next claim
-- numbers on in the same series with the same key
UPDATE protector.organizations SET settings = '{}' WHERE id = '0a740000-0000-4000-8000-000000000000';
UPDATE protector.booking_reminders SET lease_until = now() - interval '1 second' WHERE id = :'rid4';
SET LOCAL ROLE service_role;
SELECT protector.claim_due_reminders(10) \g /dev/null
RESET ROLE;
SELECT protector.merge_customers('0a740000-0000-4000-8000-00000000c002', '0a740000-0000-4000-8000-00000000c003') IS NOT NULL \g /dev/null
SELECT is(pg_temp.claim(:'rid4'), format('4 %s/2', :'rid4'), 'after Cy''s record is merged into Bo''s, the claim goes on: attempt 4, keyed <id>/2');

-- handed on and then cancelled: nobody is left to remind, so the last
-- customer's report is taken as it is (the message went out)
SELECT pg_temp.booked_reminder('0a740000-0000-4000-8000-0000000b0004', '0a740000-0000-4000-8000-00000000c001', 8) AS rid5 \gset
SELECT is(pg_temp.claim(:'rid5'), format('1 %s', :'rid5'), 'a fifth reminder''s first claim, for Ann');
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c002' WHERE id = '0a740000-0000-4000-8000-0000000b0004';
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a740000-0000-4000-8000-0000000b0004';
SET LOCAL ROLE service_role;
SELECT is((SELECT format('%s %s', status, sent_at IS NOT NULL) FROM protector.complete_reminder(:'rid5', true, NULL, 1)), 'sent t',
	'handed to Bo and then cancelled: Ann''s report that it was sent is taken');
RESET ROLE;

-- a message that reached Ann before the booking went to Bo is not sent
-- to her again when it comes back to her before Bo's claim (sent_to)
SELECT pg_temp.booked_reminder('0a740000-0000-4000-8000-0000000b0005', '0a740000-0000-4000-8000-00000000c001', 9) AS rid6 \gset
SELECT is(pg_temp.claim(:'rid6'), format('1 %s', :'rid6'), 'a sixth reminder''s first claim, for Ann');
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c002' WHERE id = '0a740000-0000-4000-8000-0000000b0005';
SET LOCAL ROLE service_role;
SELECT is((SELECT format('%s %s', status, sent_to) FROM protector.complete_reminder(:'rid6', true, NULL, 1)),
	'pending {0a740000-0000-4000-8000-00000000c001}', 'Ann''s report after the hand-over: it starts again for Bo, remembering it reached Ann');
RESET ROLE;
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c001' WHERE id = '0a740000-0000-4000-8000-0000000b0005';
SELECT is(pg_temp.claim(:'rid6'), NULL, 'back with Ann before Bo''s claim: nothing is handed out');
SELECT is((SELECT format('%s %s %s', status, sent_at IS NOT NULL, attempts) FROM protector.booking_reminders WHERE id = :'rid6'),
	'sent t 0', '... it is marked sent: Ann had it');
-- Bo reached too, after Ann, and the booking back with Ann: neither
-- gets it twice
SELECT pg_temp.booked_reminder('0a740000-0000-4000-8000-0000000b0006', '0a740000-0000-4000-8000-00000000c001', 10) AS rid7 \gset
SELECT pg_temp.claim(:'rid7') \g /dev/null
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c002' WHERE id = '0a740000-0000-4000-8000-0000000b0006';
SET LOCAL ROLE service_role;
SELECT protector.complete_reminder(:'rid7', true, NULL, 1) \g /dev/null
RESET ROLE;
SELECT is(pg_temp.claim(:'rid7'), format('2 %s/1', :'rid7'), 'started again, Bo''s claim is attempt 2');
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c001' WHERE id = '0a740000-0000-4000-8000-0000000b0006';
SET LOCAL ROLE service_role;
SELECT is((SELECT format('%s %s', status, sent_to) FROM protector.complete_reminder(:'rid7', true, NULL, 2)),
	'pending {0a740000-0000-4000-8000-00000000c001,0a740000-0000-4000-8000-00000000c002}',
	'Bo''s report after the booking went back to Ann: both are remembered');
RESET ROLE;
SELECT is(pg_temp.claim(:'rid7'), NULL, '... and Ann, who had it first, does not get it again');
-- a failure reached nobody: Ann, the booking hers again, gets it
SELECT pg_temp.booked_reminder('0a740000-0000-4000-8000-0000000b0007', '0a740000-0000-4000-8000-00000000c001', 11) AS rid8 \gset
SELECT pg_temp.claim(:'rid8') \g /dev/null
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c002' WHERE id = '0a740000-0000-4000-8000-0000000b0007';
SET LOCAL ROLE service_role;
SELECT protector.complete_reminder(:'rid8', false, 'mailbox full', 1) \g /dev/null
RESET ROLE;
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c001' WHERE id = '0a740000-0000-4000-8000-0000000b0007';
SELECT is(pg_temp.claim(:'rid8'), format('2 %s/1', :'rid8'), 'a failed message to Ann reached nobody: back with her, she gets it (attempt 2)');

-- a reached reminder takes no place of p_limit: the oldest due one is
-- reached, the next one is handed out by a claim of one (it answered none)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0a740000-0000-4000-8000-0000000b000' || n)::uuid, '0a740000-0000-4000-8000-000000000000', '0a740000-0000-4000-8000-0000000000a1',
		'0a740000-0000-4000-8000-0000000005a1', '0a740000-0000-4000-8000-00000000c001',
		tstzrange(date_trunc('day', now()) + make_interval(days => 4 + n), date_trunc('day', now()) + make_interval(days => 4 + n, hours => 1)), 'confirmed'
FROM generate_series(8, 9) n;
SELECT r.id AS rid9 FROM protector.booking_reminders r
WHERE r.booking_id = '0a740000-0000-4000-8000-0000000b0008' ORDER BY r.offset_minutes DESC LIMIT 1 \gset
SELECT r.id AS rid10 FROM protector.booking_reminders r
WHERE r.booking_id = '0a740000-0000-4000-8000-0000000b0009' ORDER BY r.offset_minutes DESC LIMIT 1 \gset
SELECT pg_temp.claim(:'rid9') \g /dev/null
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c002' WHERE id = '0a740000-0000-4000-8000-0000000b0008';
SET LOCAL ROLE service_role;
SELECT protector.complete_reminder(:'rid9', true, NULL, 1) \g /dev/null
RESET ROLE;
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c001' WHERE id = '0a740000-0000-4000-8000-0000000b0008';
UPDATE protector.booking_reminders SET next_attempt_at = now() + interval '1 day' WHERE status = 'pending';
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '2 seconds' WHERE id = :'rid9';
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second' WHERE id = :'rid10';
SET LOCAL ROLE service_role;
SELECT is((SELECT array_agg(c.reminder_id) FROM protector.claim_due_reminders(1) c), ARRAY[:'rid10'::uuid],
	'a claim of one: the reached reminder, due first, is marked sent and the next is handed out');
RESET ROLE;
SELECT is((SELECT format('%s %s', status, last_error IS NULL) FROM protector.booking_reminders WHERE id = :'rid9'), 'sent t',
	'... the reached one sent, without an error');

-- earlier_claims is bounded, and a revival stops at the bound (a trusted
-- write of it near the integer limit made every worker's claim fail)
UPDATE protector.booking_reminders SET earlier_claims = 1000000000, status = 'cancelled', lease_until = NULL,
	cancelled_reason = 'customer has no address for reminders' WHERE id = :'rid4';
UPDATE protector.bookings SET customer_id = '0a740000-0000-4000-8000-00000000c001' WHERE id = '0a740000-0000-4000-8000-0000000b0003';
SELECT is((SELECT format('%s %s', status, earlier_claims) FROM protector.booking_reminders WHERE id = :'rid4'),
	'pending 1000000000', 'brought back at the bound, it stays there');

-- a late report of a claim whose booking was cancelled after its lease ran
-- out (another claim settled it) is taken: the message went out, and the
-- booking confirmed again brought the reminder back, due now under a new
-- key, so the customer was reminded twice (a reminder protocol attack)
SELECT pg_temp.booked_reminder('0a740000-0000-4000-8000-0000000b0010', '0a740000-0000-4000-8000-00000000c002', 9) AS rid11 \gset
SELECT pg_temp.claim(:'rid11') \g /dev/null
UPDATE protector.booking_reminders SET lease_until = now() - interval '1 second' WHERE id = :'rid11';
UPDATE protector.booking_reminders SET next_attempt_at = now() + interval '1 day' WHERE status = 'pending';
SET LOCAL ROLE service_role;
SELECT protector.claim_due_reminders(10) \g /dev/null
RESET ROLE;
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a740000-0000-4000-8000-0000000b0010';
SET LOCAL ROLE service_role;
SELECT is((SELECT status FROM protector.complete_reminder(:'rid11', true, NULL, 1)), 'sent',
	'a late report of a reminder sent, its booking cancelled since, is taken');
RESET ROLE;
UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0a740000-0000-4000-8000-0000000b0010';
SELECT is((SELECT status FROM protector.booking_reminders WHERE id = :'rid11'), 'sent',
	'... and the booking confirmed again does not bring it back');
SET LOCAL ROLE service_role;
SELECT is((SELECT count(*)::int FROM protector.claim_due_reminders(10) c WHERE c.reminder_id = :'rid11'), 0,
	'... so no claim hands it out again');
RESET ROLE;

-- (its review) ... and brings nothing back: a manual reminder cancelled
-- with its booking, the booking confirmed again for another customer, a
-- late failure report of the last customer's claim revived it, due now,
-- beside the desk's new one for them (reminded twice)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a740000-0000-4000-8000-0000000b0011', '0a740000-0000-4000-8000-000000000000', '0a740000-0000-4000-8000-0000000000a1',
		'0a740000-0000-4000-8000-0000000005a1', '0a740000-0000-4000-8000-00000000c001',
		tstzrange(date_trunc('day', now()) + interval '10 days', date_trunc('day', now()) + interval '10 days 1 hour'), 'confirmed');
SELECT (protector.send_booking_reminder('0a740000-0000-4000-8000-0000000b0011')).id AS rid12 \gset
UPDATE protector.booking_reminders SET next_attempt_at = now() + interval '1 day' WHERE status = 'pending' AND id <> :'rid12';
SET LOCAL ROLE service_role;
SELECT protector.claim_due_reminders(10) \g /dev/null
RESET ROLE;
UPDATE protector.booking_reminders SET lease_until = now() - interval '1 second' WHERE id = :'rid12';
SET LOCAL ROLE service_role;
SELECT protector.claim_due_reminders(10) \g /dev/null
RESET ROLE;
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a740000-0000-4000-8000-0000000b0011';
UPDATE protector.bookings SET status = 'confirmed', customer_id = '0a740000-0000-4000-8000-00000000c002'
WHERE id = '0a740000-0000-4000-8000-0000000b0011';
SET LOCAL ROLE service_role;
SELECT is((SELECT format('%s %s', status, last_error) FROM protector.complete_reminder(:'rid12', false, 'smtp 550', 1)),
	'cancelled smtp 550', 'a late failure report of a reminder cancelled since records the error and leaves it cancelled');
SELECT is((SELECT count(*)::int FROM protector.claim_due_reminders(10) c WHERE c.reminder_id = :'rid12'), 0,
	'... and no claim hands it out again, to the booking''s new customer');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
