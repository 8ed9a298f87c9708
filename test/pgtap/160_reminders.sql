-- The reminders outbox: confirmed bookings get their reminders (24 h and
-- 1 h before by default, the organization's offsets otherwise) in the
-- customer's channel, and keep them right when rescheduled, cancelled or
-- confirmed again; the worker claims and completes them with retries and
-- backoff; staff send one now; who may do what by the capability map.
-- Every time below is worked out by hand in the comment beside it; the
-- whole file runs in one transaction, so now() is one instant.
-- Concurrent claimers: test/concurrency/reminders.sh.
BEGIN;
SELECT plan(88);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['r_owner', 'r_operator', 'r_agent', 'r_finance', 'r_viewer',
														'r_other']) u;
INSERT INTO protector.organizations (id, name, slug, currency, settings) VALUES
	('0a160000-0000-4000-8000-000000000000', 'Remind', 'remind', 'EUR', '{}'),
	('0b160000-0000-4000-8000-000000000000', 'Other', 'remind-other', 'EUR',
	 '{"reminders": {"offsets_minutes": [2880], "max_attempts": 2}}');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a160000-0000-4000-8000-000000000000', tests.get_supabase_uid('r_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'operator', 'agent', 'finance', 'viewer']) r;
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0b160000-0000-4000-8000-000000000000', tests.get_supabase_uid('r_other'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a160000-0000-4000-8000-0000000000a1', '0a160000-0000-4000-8000-000000000000', 'V', 'UTC'),
	('0b160000-0000-4000-8000-0000000000a1', '0b160000-0000-4000-8000-000000000000', 'W', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity,
								max_party, mode) VALUES
	('0a160000-0000-4000-8000-0000000005a1', '0a160000-0000-4000-8000-000000000000', '0a160000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days', 100, 8, 'shared'),
	('0b160000-0000-4000-8000-0000000005b1', '0b160000-0000-4000-8000-000000000000', '0b160000-0000-4000-8000-0000000000a1',
	 'Elsewhere', '60 minutes', '60 minutes', '400 days', 100, 8, 'shared');
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, reminder_channel) VALUES
	('0a160000-0000-4000-8000-00000000c001', '0a160000-0000-4000-8000-000000000000', 'Ann', 'ann@example.com', NULL, NULL),
	('0a160000-0000-4000-8000-00000000c002', '0a160000-0000-4000-8000-000000000000', 'Bob', NULL, '+4930123', NULL),
	('0a160000-0000-4000-8000-00000000c003', '0a160000-0000-4000-8000-000000000000', 'Cy', 'cy@example.com', '+4930456', 'sms'),
	('0a160000-0000-4000-8000-00000000c004', '0a160000-0000-4000-8000-000000000000', 'Dee', 'dee@example.com', NULL, 'none'),
	('0a160000-0000-4000-8000-00000000c005', '0a160000-0000-4000-8000-000000000000', 'Eve', NULL, NULL, NULL),
	('0b160000-0000-4000-8000-00000000c001', '0b160000-0000-4000-8000-000000000000', 'Fay', 'fay@example.com', NULL, NULL);
-- t(h): h hours into the day five days from now (well beyond every offset)
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '5 days' + h * interval '1 hour'
$$;
CREATE FUNCTION pg_temp.book(id text, customer text, h int, status text DEFAULT 'confirmed', org text DEFAULT '0a16')
RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
	VALUES (('0a160000-0000-4000-8000-0000000b00' || id)::uuid, (org || '0000-0000-4000-8000-000000000000')::uuid,
			(org || '0000-0000-4000-8000-0000000000a1')::uuid,
			CASE org WHEN '0a16' THEN '0a160000-0000-4000-8000-0000000005a1'::uuid ELSE '0b160000-0000-4000-8000-0000000005b1'::uuid END,
			(org || '0000-0000-4000-8000-00000000c' || customer)::uuid,
			tstzrange(pg_temp.t(h), pg_temp.t(h) + interval '1 hour'), status::protector.booking_status)
$$;
-- a booking's reminders: "offset channel status starts-hour due-offset-from-start"
CREATE FUNCTION pg_temp.reminders(p_id text) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT format('%s %s %s %s %s', COALESCE(r.offset_minutes::text, 'manual'), r.channel, r.status,
				  extract(hour FROM r.starts_at AT TIME ZONE 'UTC'), r.starts_at - r.due_at)
	FROM protector.booking_reminders r WHERE r.booking_id = ('0a160000-0000-4000-8000-0000000b00' || p_id)::uuid
	ORDER BY r.starts_at, r.offset_minutes DESC NULLS LAST, r.status
$$;

-- 1. confirmed bookings get one reminder per offset, in the customer's channel
SELECT pg_temp.book('01', '001', 10);		-- Ann: e-mail only
SELECT pg_temp.book('02', '002', 11);		-- Bob: phone only
SELECT pg_temp.book('03', '003', 12);		-- Cy: both, prefers SMS
SELECT pg_temp.book('04', '004', 13);		-- Dee: chose none
SELECT pg_temp.book('05', '005', 14);		-- Eve: no address
SELECT pg_temp.book('06', '001', 15, 'pending');
-- 24 h = 1 day before and 1 h before
SELECT results_eq($$SELECT * FROM pg_temp.reminders('01')$$,
	ARRAY['1440 email pending 10 1 day', '60 email pending 10 01:00:00'], 'Ann: 24 h and 1 h before, by e-mail');
SELECT results_eq($$SELECT * FROM pg_temp.reminders('02')$$,
	ARRAY['1440 sms pending 11 1 day', '60 sms pending 11 01:00:00'], 'Bob, who has only a phone: by SMS');
SELECT results_eq($$SELECT * FROM pg_temp.reminders('03')$$,
	ARRAY['1440 sms pending 12 1 day', '60 sms pending 12 01:00:00'], 'Cy chose SMS');
SELECT is_empty($$SELECT * FROM pg_temp.reminders('04')$$, 'Dee chose no reminders: none');
SELECT is_empty($$SELECT * FROM pg_temp.reminders('05')$$, 'Eve has no address: none');
SELECT is_empty($$SELECT * FROM pg_temp.reminders('06')$$, 'a pending booking has none');
SELECT is((SELECT due_at = pg_temp.t(10) - interval '24 hours' AND next_attempt_at = due_at AND attempts = 0
		   FROM protector.booking_reminders WHERE booking_id = '0a160000-0000-4000-8000-0000000b0001' AND offset_minutes = 1440),
	true, 'due and first claimable 24 hours before the start, not yet tried');

-- 2. they follow the booking
UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0a160000-0000-4000-8000-0000000b0006';
SELECT results_eq($$SELECT * FROM pg_temp.reminders('06')$$,
	ARRAY['1440 email pending 15 1 day', '60 email pending 15 01:00:00'], 'confirming a booking makes its reminders');
UPDATE protector.bookings SET during = tstzrange(pg_temp.t(17), pg_temp.t(18)) WHERE id = '0a160000-0000-4000-8000-0000000b0006';
SELECT results_eq($$SELECT * FROM pg_temp.reminders('06')$$,
	ARRAY['1440 email cancelled 15 1 day', '60 email cancelled 15 01:00:00',
		  '1440 email pending 17 1 day', '60 email pending 17 01:00:00'],
	'a reschedule cancels the reminders of the old start and makes those of the new one');
SELECT is((SELECT string_agg(DISTINCT cancelled_reason, ', ') FROM protector.booking_reminders
		   WHERE booking_id = '0a160000-0000-4000-8000-0000000b0006' AND status = 'cancelled'),
	'booking rescheduled', 'with the reason');
UPDATE protector.bookings SET during = tstzrange(pg_temp.t(15), pg_temp.t(16)) WHERE id = '0a160000-0000-4000-8000-0000000b0006';
SELECT results_eq($$SELECT * FROM pg_temp.reminders('06')$$,
	ARRAY['1440 email pending 15 1 day', '60 email pending 15 01:00:00',
		  '1440 email cancelled 17 1 day', '60 email cancelled 17 01:00:00'],
	'moved back: the reminders of the first start come back');
UPDATE protector.bookings SET status = 'cancelled', cancelled_at = now() WHERE id = '0a160000-0000-4000-8000-0000000b0006';
SELECT is((SELECT count(*) FILTER (WHERE status = 'pending') || ' pending, '
				  || string_agg(DISTINCT cancelled_reason, ', ') FILTER (WHERE starts_at = pg_temp.t(15))
		   FROM protector.booking_reminders WHERE booking_id = '0a160000-0000-4000-8000-0000000b0006'),
	'0 pending, booking cancelled', 'a cancellation cancels them');
-- a booking confirmed less than a day before it starts: only the 1-hour one
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a160000-0000-4000-8000-0000000b0007', '0a160000-0000-4000-8000-000000000000', '0a160000-0000-4000-8000-0000000000a1',
		'0a160000-0000-4000-8000-0000000005a1', '0a160000-0000-4000-8000-00000000c001',
		tstzrange(now() + interval '3 hours', now() + interval '4 hours'), 'confirmed');
SELECT results_eq($$SELECT offset_minutes, due_at - now() FROM protector.booking_reminders
					WHERE booking_id = '0a160000-0000-4000-8000-0000000b0007'$$,
	$$VALUES (60, interval '2 hours')$$, 'three hours ahead: only the 1-hour reminder, due in 3 - 1 = 2 hours');
-- the organization's own offsets: 2880 minutes = 2 days
SELECT pg_temp.book('08', '001', 10, 'confirmed', '0b16');
SELECT results_eq($$SELECT offset_minutes, starts_at - due_at FROM protector.booking_reminders
					WHERE organization_id = '0b160000-0000-4000-8000-000000000000'$$,
	$$VALUES (2880, interval '2 days')$$, 'another organization''s offsets: 2880 minutes before');
UPDATE protector.organizations SET settings = '{"reminders": {"offsets_minutes": []}}'
WHERE id = '0b160000-0000-4000-8000-000000000000';
SELECT pg_temp.book('09', '001', 11, 'confirmed', '0b16');
SELECT is_empty($$SELECT FROM protector.booking_reminders WHERE booking_id = '0a160000-0000-4000-8000-0000000b0009'$$,
	'no offsets: no reminders');
-- ... while a booking confirmed before keeps its own, also when it is
-- given another customer (the offsets apply to bookings confirmed or
-- rescheduled afterwards: the change cancelled them as "offset no longer
-- configured")
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0b160000-0000-4000-8000-00000000c002', '0b160000-0000-4000-8000-000000000000', 'Hal', 'hal@example.com');
UPDATE protector.bookings SET customer_id = '0b160000-0000-4000-8000-00000000c002' WHERE id = '0a160000-0000-4000-8000-0000000b0008';
SELECT results_eq($$SELECT offset_minutes, status::text FROM protector.booking_reminders
					WHERE booking_id = '0a160000-0000-4000-8000-0000000b0008'$$,
	$$VALUES (2880, 'pending')$$, 'a booking given another customer keeps its reminder though the offsets changed since');
UPDATE protector.bookings SET customer_id = '0b160000-0000-4000-8000-00000000c001' WHERE id = '0a160000-0000-4000-8000-0000000b0008';
UPDATE protector.organizations SET settings = '{"reminders": {"offsets_minutes": [2880], "max_attempts": 2}}'
WHERE id = '0b160000-0000-4000-8000-000000000000';
-- ... and a booking whose customer was erased gets its reminders back
-- when it is given another (they were cancelled as "customer erased")
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0b160000-0000-4000-8000-00000000c003', '0b160000-0000-4000-8000-000000000000', 'Ida', 'ida@example.com');
SELECT pg_temp.book('20', '003', 17, 'confirmed', '0b16');
-- (the offsets changed since it was confirmed: its own come back, not these)
UPDATE protector.organizations SET settings = '{"reminders": {"offsets_minutes": [90], "max_attempts": 2}}'
WHERE id = '0b160000-0000-4000-8000-000000000000';
SELECT protector.erase_customer('0b160000-0000-4000-8000-00000000c003') \g /dev/null
UPDATE protector.bookings SET customer_id = '0b160000-0000-4000-8000-00000000c002' WHERE id = '0a160000-0000-4000-8000-0000000b0020';
SELECT results_eq($$SELECT offset_minutes, status::text FROM protector.booking_reminders
					WHERE booking_id = '0a160000-0000-4000-8000-0000000b0020'$$,
	$$VALUES (2880, 'pending')$$, 'an erased customer''s booking given to Hal has its reminder again, of its own offsets');
UPDATE protector.organizations SET settings = '{"reminders": {"offsets_minutes": [2880], "max_attempts": 2}}'
WHERE id = '0b160000-0000-4000-8000-000000000000';
DELETE FROM protector.bookings WHERE id = '0a160000-0000-4000-8000-0000000b0020';	-- (the worker's tests below count the other's)

-- 3. the settings are checked
SELECT throws_ok($$UPDATE protector.organizations SET settings = '{"reminders": {"offsets_minutes": [0]}}'
				   WHERE id = '0a160000-0000-4000-8000-000000000000'$$, '22023',
	'settings.reminders.offsets_minutes[0] must be an integer from 1 to 43200', 'an offset of 0 minutes');
SELECT throws_ok($$UPDATE protector.organizations SET settings = '{"reminders": {"offsets_minutes": [60, 90.5]}}'
				   WHERE id = '0a160000-0000-4000-8000-000000000000'$$, '22023',
	'settings.reminders.offsets_minutes[1] must be an integer from 1 to 43200', 'a fraction of a minute');
SELECT throws_ok($$UPDATE protector.organizations SET settings = '{"reminders": {"offsets_minutes": [60, 60]}}'
				   WHERE id = '0a160000-0000-4000-8000-000000000000'$$, '22023',
	'settings.reminders.offsets_minutes must not repeat an offset', 'an offset twice');
SELECT throws_ok($$UPDATE protector.organizations SET settings = '{"reminders": {"offsets_minutes": 60}}'
				   WHERE id = '0a160000-0000-4000-8000-000000000000'$$, '22023',
	'settings.reminders.offsets_minutes must be an array of at most 10 offsets', 'not an array');
SELECT throws_ok($$UPDATE protector.organizations SET settings = '{"reminders": {"max_attempts": 21}}'
				   WHERE id = '0a160000-0000-4000-8000-000000000000'$$, '22023',
	'settings.reminders.max_attempts must be an integer from 1 to 20', 'too many attempts');
SELECT throws_ok($$UPDATE protector.organizations SET settings = '{"reminders": {"channel": "sms"}}'
				   WHERE id = '0a160000-0000-4000-8000-000000000000'$$, '22023',
	'settings.reminders.channel is not a setting', 'an unknown key');
SELECT throws_ok($$UPDATE protector.customers SET reminder_channel = 'fax' WHERE id = '0a160000-0000-4000-8000-00000000c001'$$,
	'22023', 'reminder_channel must be email, sms or none', 'a customer''s channel is email, sms or none, by name');

-- 4. staff see them by the map; nobody writes them but the worker
SELECT tests.authenticate_as('r_operator');
SELECT is((SELECT count(*)::int FROM protector.booking_reminders), 11,
	'the desk sees its organization''s reminders: bookings 1, 2, 3, 6, 7: 2 + 2 + 2 + 4 + 1 = 11');
SELECT is((SELECT count(*)::int FROM protector.booking_reminders
		   WHERE organization_id = '0b160000-0000-4000-8000-000000000000'), 0, 'and none of another organization');
UPDATE protector.booking_reminders SET status = 'sent', sent_at = now();
SELECT is((SELECT count(*)::int FROM protector.booking_reminders WHERE status = 'sent'), 0, 'an operator cannot mark one sent');
SELECT throws_ok($$INSERT INTO protector.booking_reminders (organization_id, booking_id, kind, offset_minutes, starts_at, due_at, next_attempt_at)
				   VALUES ('0a160000-0000-4000-8000-000000000000', '0a160000-0000-4000-8000-0000000b0001', 'scheduled', 5,
						   now(), now(), now())$$, '42501', NULL, 'nor make a scheduled one');
SELECT tests.authenticate_as('r_viewer');
SELECT is((SELECT count(*)::int FROM protector.booking_reminders), 0, 'a viewer sees none');
SELECT tests.authenticate_as('r_agent');
SELECT is((SELECT count(*)::int FROM protector.booking_reminders), 0, 'nor does an agent');

-- 5. sending one now
SELECT tests.authenticate_as('r_operator');
SELECT is((SELECT format('%s %s %s %s', kind, channel, status, due_at = now() AND starts_at = pg_temp.t(10))
		   FROM protector.send_booking_reminder('0a160000-0000-4000-8000-0000000b0001')),
	'manual email pending t', 'an operator sends Ann a reminder now: by e-mail, due now');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a160000-0000-4000-8000-0000000b0001')$$, '53400',
	'a reminder for this booking was sent less than 10 minutes ago', 'one in 10 minutes');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a160000-0000-4000-8000-0000000b0002', 'email')$$, '22023',
	'the customer has no e-mail address for reminders', 'Bob has no e-mail address');
SELECT is((SELECT channel FROM protector.send_booking_reminder('0a160000-0000-4000-8000-0000000b0003', 'email')),
	'email', 'Cy prefers SMS, but e-mail when asked');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a160000-0000-4000-8000-0000000b0006')$$, '22023',
	'only a confirmed booking that has not started gets reminders', 'not of a cancelled booking');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a160000-0000-4000-8000-0000000b0004')$$, '22023',
	'the customer chose not to get reminders', 'not to Dee, who chose none');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a160000-0000-4000-8000-0000000b0002', 'fax')$$, '22023',
	'p_channel must be email or sms', 'no fax');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a160000-0000-4000-8000-0000000b0008')$$, 'P0002',
	'booking not found', 'not of another organization');
SELECT lives_ok($$INSERT INTO protector.booking_reminders (organization_id, booking_id, status, attempts, due_at, starts_at, next_attempt_at,
																 offset_minutes)
				  VALUES ('0a160000-0000-4000-8000-000000000000', '0a160000-0000-4000-8000-0000000b0002', 'sent', 9,
						  now() + interval '1 year', now(), now() + interval '1 year', 60)$$,
	'a direct insert of a manual reminder (with an offset: it was a bare CHECK error)');
SELECT is((SELECT format('%s %s %s %s', status, attempts, next_attempt_at = now() AND starts_at = pg_temp.t(11), offset_minutes IS NULL)
		   FROM protector.booking_reminders WHERE booking_id = '0a160000-0000-4000-8000-0000000b0002' AND kind = 'manual'),
	'pending 0 t t', 'is made what a manual reminder is: pending, untried, due now, about no offset');
SELECT tests.authenticate_as('r_finance');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a160000-0000-4000-8000-0000000b0002')$$, '42501',
	'your role may not send a booking reminder now', 'finance sees bookings but sends no reminders');
SELECT tests.authenticate_as('r_agent');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a160000-0000-4000-8000-0000000b0002')$$, 'P0002',
	'booking not found', 'an agent does not see a booking not assigned to them');

-- 6. the worker
SELECT throws_ok($$SELECT * FROM protector.claim_due_reminders()$$, '42501', NULL, 'a member cannot claim reminders');
SELECT tests.authenticate_as_service_role();
-- due: the three manual ones (now), then nothing else yet
SELECT results_eq($$SELECT kind, channel, recipient, customer_name, attempt, tests.taken_since(lease_until - interval '2 minutes', statement_timestamp()), idempotency_key = reminder_id::text
					FROM protector.claim_due_reminders(10, '2 minutes')$$,
	$$VALUES ('manual', 'email', 'ann@example.com', 'Ann', 1, true, true),
			 ('manual', 'sms', '+4930123', 'Bob', 1, true, true),
			 ('manual', 'email', 'cy@example.com', 'Cy', 1, true, true)$$,
	'the due ones, by start (hours 10, 11, 12), each with its address, attempt 1, a 2-minute lease');
SELECT is_empty($$SELECT * FROM protector.claim_due_reminders(10)$$, 'claimed ones are not handed out again');
SELECT is((SELECT status || ' ' || tests.taken_in_transaction(sent_at)
		   FROM protector.complete_reminder((SELECT id FROM protector.booking_reminders
											 WHERE booking_id = '0a160000-0000-4000-8000-0000000b0001' AND kind = 'manual'), true)),
	'sent true', 'Ann''s was sent');
SELECT throws_ok($$SELECT protector.complete_reminder((SELECT id FROM protector.booking_reminders
													  WHERE booking_id = '0a160000-0000-4000-8000-0000000b0001' AND kind = 'manual'), false)$$,
	'23P01', 'the reminder is not being sent', 'a sent reminder is not completed again');
SELECT throws_ok($$SELECT protector.complete_reminder((SELECT id FROM protector.booking_reminders
													  WHERE booking_id = '0a160000-0000-4000-8000-0000000b0002' AND kind = 'manual'), false, 'x', 2)$$,
	'23P01', 'this claim of the reminder has run out', 'a claim that is not the current one');
SELECT is((SELECT format('%s %s %s %s', status, attempts, tests.taken_in_transaction(next_attempt_at - interval '1 minute'), last_error)
		   FROM protector.complete_reminder((SELECT id FROM protector.booking_reminders
											 WHERE booking_id = '0a160000-0000-4000-8000-0000000b0002' AND kind = 'manual'),
											false, '  gateway timeout ', 1)),
	'pending 1 t gateway timeout', 'Bob''s failed: retried after 2^0 = 1 minute');
SELECT throws_ok($$SELECT protector.complete_reminder(NULL, true)$$, '22023', 'p_id must not be null', 'p_id is required');
SELECT throws_ok($$SELECT protector.complete_reminder(gen_random_uuid(), true)$$, 'P0002', 'reminder not found', 'an unknown id');
SELECT throws_ok($$SELECT * FROM protector.claim_due_reminders(0)$$, '22023', 'p_limit must be between 1 and 1000', 'p_limit');
SELECT throws_ok($$SELECT * FROM protector.claim_due_reminders(1, '1 second')$$, '22023',
	'p_lease must be between 10 seconds and 1 hour', 'p_lease');
-- (months and days compare as 30 and 24 hours, but last as the calendar
-- says: these "10 seconds" leased for 524 days, or for none)
SELECT throws_ok($$SELECT * FROM protector.claim_due_reminders(1, '1200 mon -3110399990 seconds')$$, '22023',
	'p_lease must be between 10 seconds and 1 hour', 'a lease of months less seconds, 524 days as it runs, is refused');
SELECT throws_ok($$SELECT * FROM protector.claim_due_reminders(1, '-1200 mon +3110400010 seconds')$$, '22023',
	'p_lease must be between 10 seconds and 1 hour', '... and so is one that has run out when it is given');
-- the clock moves on: Bob's retry is due, and so is Cy's lease running out
RESET ROLE;
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second'
WHERE booking_id = '0a160000-0000-4000-8000-0000000b0002' AND kind = 'manual';
UPDATE protector.booking_reminders SET lease_until = now() - interval '1 second'
WHERE booking_id = '0a160000-0000-4000-8000-0000000b0003' AND kind = 'manual';
SELECT tests.authenticate_as_service_role();
SELECT results_eq($$SELECT customer_name, attempt FROM protector.claim_due_reminders(10)$$,
	$$VALUES ('Bob', 2)$$, 'Bob''s second attempt is handed out; Cy''s ran-out lease waits for its backoff');
SELECT is((SELECT format('%s %s %s %s', status, attempts, tests.taken_in_transaction(next_attempt_at - interval '1 minute'), last_error)
		   FROM protector.booking_reminders WHERE booking_id = '0a160000-0000-4000-8000-0000000b0003' AND kind = 'manual'),
	'pending 1 t lease expired: the worker did not report', 'a lease that ran out is a failed attempt');
SELECT throws_ok($$SELECT protector.complete_reminder((SELECT id FROM protector.booking_reminders
													  WHERE booking_id = '0a160000-0000-4000-8000-0000000b0002' AND kind = 'manual'), true)$$,
	'23P01', 'this reminder was claimed more than once: p_attempt must say which claim reports',
	'a report without p_attempt could be a late one of claim 1');
SELECT is((SELECT format('%s %s', status, tests.taken_in_transaction(next_attempt_at - interval '2 minutes'))
		   FROM protector.complete_reminder((SELECT id FROM protector.booking_reminders
											 WHERE booking_id = '0a160000-0000-4000-8000-0000000b0002' AND kind = 'manual'),
											false, NULL, 2)),
	'pending t', 'failed again: retried after 2^1 = 2 minutes');
SELECT is(protector_internal.reminder_backoff(5) || ' ' || protector_internal.reminder_backoff(7) || ' '
		  || protector_internal.reminder_backoff(20), '00:16:00 01:00:00 01:00:00', 'backoff: 2^4 = 16 minutes, then at most 60');
-- the other organization tries twice only
RESET ROLE;
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second'
WHERE organization_id = '0b160000-0000-4000-8000-000000000000';
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT count(*)::int FROM protector.claim_due_reminders(10) WHERE customer_name = 'Fay'), 1, 'Fay''s is due');
SELECT is((SELECT status FROM protector.complete_reminder((SELECT id FROM protector.booking_reminders
														   WHERE organization_id = '0b160000-0000-4000-8000-000000000000'),
														  false, 'bounced')), 'pending', 'first of two attempts failed');
RESET ROLE;
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second'
WHERE organization_id = '0b160000-0000-4000-8000-000000000000';
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT attempt FROM protector.claim_due_reminders(10) WHERE customer_name = 'Fay'), 2, 'the second try');
SELECT is((SELECT status || ' ' || attempts FROM protector.complete_reminder((SELECT id FROM protector.booking_reminders
														   WHERE organization_id = '0b160000-0000-4000-8000-000000000000'),
														  false, 'bounced', 2)), 'failed 2', 'max_attempts 2: failed for good');
-- at claim time the address is read again: Cy now prefers e-mail, Ann opted out
RESET ROLE;
UPDATE protector.customers SET reminder_channel = 'email' WHERE id = '0a160000-0000-4000-8000-00000000c003';
UPDATE protector.customers SET reminder_channel = 'none' WHERE id = '0a160000-0000-4000-8000-00000000c001';
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 second'
WHERE booking_id IN ('0a160000-0000-4000-8000-0000000b0001', '0a160000-0000-4000-8000-0000000b0003') AND kind = 'scheduled';
SELECT tests.authenticate_as_service_role();
SELECT results_eq($$SELECT customer_name, offset_minutes, channel, recipient FROM protector.claim_due_reminders(10)
					WHERE customer_name <> 'Bob'$$,
	$$VALUES ('Cy', 1440, 'email', 'cy@example.com'), ('Cy', 60, 'email', 'cy@example.com')$$,
	'Cy''s by e-mail now; Ann''s not handed out');
SELECT is((SELECT string_agg(status || ': ' || cancelled_reason, ', ') FROM protector.booking_reminders
		   WHERE booking_id = '0a160000-0000-4000-8000-0000000b0001' AND kind = 'scheduled'),
	'cancelled: customer has no address for reminders, cancelled: customer has no address for reminders',
	'Ann''s are cancelled, saying why');
SELECT is((SELECT channel FROM protector.booking_reminders
		   WHERE booking_id = '0a160000-0000-4000-8000-0000000b0003' AND offset_minutes = 60), 'email',
	'the row says the channel it went by');
-- a reminder whose booking started before anyone sent it expires
RESET ROLE;
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '2 hours', starts_at = now() - interval '1 minute'
WHERE booking_id = '0a160000-0000-4000-8000-0000000b0007';
SELECT tests.authenticate_as_service_role();
SELECT is_empty($$SELECT * FROM protector.claim_due_reminders(10) WHERE customer_name = 'Ann'$$, 'too late to remind');
SELECT is((SELECT status FROM protector.booking_reminders WHERE booking_id = '0a160000-0000-4000-8000-0000000b0007'),
	'expired', 'it expired');
-- a reschedule while a reminder was due but not yet sent (the worker is
-- late): a booking 90 minutes ahead has its 1-hour reminder due in 30;
-- the worker is 5 minutes behind, and the booking moves to 50 minutes
-- ahead, whose 1-hour time (10 minutes ago) has passed: due now, not lost
RESET ROLE;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a160000-0000-4000-8000-0000000b0010', '0a160000-0000-4000-8000-000000000000', '0a160000-0000-4000-8000-0000000000a1',
		'0a160000-0000-4000-8000-0000000005a1', '0a160000-0000-4000-8000-00000000c002',
		tstzrange(now() + interval '90 minutes', now() + interval '150 minutes'), 'confirmed');
SELECT is((SELECT string_agg(offset_minutes || ' due in ' || (due_at - now()), ', ') FROM protector.booking_reminders
		   WHERE booking_id = '0a160000-0000-4000-8000-0000000b0010'), '60 due in 00:30:00', 'only the 1-hour one, due in 90 - 60 = 30 minutes');
UPDATE protector.booking_reminders SET due_at = now() - interval '5 minutes', next_attempt_at = now() - interval '5 minutes'
WHERE booking_id = '0a160000-0000-4000-8000-0000000b0010';
UPDATE protector.bookings SET during = tstzrange(now() + interval '50 minutes', now() + interval '110 minutes')
WHERE id = '0a160000-0000-4000-8000-0000000b0010';
SELECT results_eq($$SELECT offset_minutes, status, due_at - now(), starts_at - now()
					FROM protector.booking_reminders WHERE booking_id = '0a160000-0000-4000-8000-0000000b0010'
					ORDER BY status$$,
	$$VALUES (60, 'cancelled', interval '-5 minutes', interval '90 minutes'), (60, 'pending', interval '0', interval '50 minutes')$$,
	'moved while the 1-hour reminder was overdue: the new one is due now');
SELECT pg_temp.book('13', '002', 20);
UPDATE protector.bookings SET during = tstzrange(pg_temp.t(21), pg_temp.t(22)) WHERE id = '0a160000-0000-4000-8000-0000000b0013';
SELECT is((SELECT count(*)::int FROM protector.booking_reminders WHERE booking_id = '0a160000-0000-4000-8000-0000000b0013'
		   AND status = 'pending' AND due_at > now()), 2, 'a reschedule with nothing overdue: both at their times');
-- a customer who gets an address gets the reminders of their bookings
SELECT pg_temp.book('11', '005', 23);
SELECT is((SELECT count(*)::int FROM protector.booking_reminders WHERE booking_id = '0a160000-0000-4000-8000-0000000b0011'), 0,
	'Eve has no address: no reminders');
UPDATE protector.customers SET email = 'eve@example.com' WHERE id = '0a160000-0000-4000-8000-00000000c005';
SELECT is((SELECT string_agg(offset_minutes || ' ' || channel, ', ' ORDER BY offset_minutes)
		   FROM protector.booking_reminders WHERE booking_id = '0a160000-0000-4000-8000-0000000b0011'),
	'60 email, 1440 email', 'given an e-mail address, she gets both');
-- 60.0 is the integer 60 in the settings schema; the reminders read it so
UPDATE protector.organizations SET settings = '{"reminders": {"offsets_minutes": [90.0], "max_attempts": 3.0}}'
WHERE id = '0b160000-0000-4000-8000-000000000000';
SELECT pg_temp.book('12', '001', 12, 'confirmed', '0b16');
SELECT is((SELECT offset_minutes || ' ' || (starts_at - due_at) FROM protector.booking_reminders
		   WHERE booking_id = '0a160000-0000-4000-8000-0000000b0012'), '90 01:30:00', 'an offset written 90.0: 90 minutes');
SELECT is(protector_internal.reminder_max_attempts('0b160000-0000-4000-8000-000000000000'), 3, 'max_attempts 3.0: 3');
-- no answer about another organization's bookings but "not found"
SELECT tests.authenticate_as('r_other');
SELECT throws_ok($$INSERT INTO protector.booking_reminders (organization_id, booking_id)
				   VALUES ('0a160000-0000-4000-8000-000000000000', '0a160000-0000-4000-8000-0000000b0006')$$, 'P0002',
	'booking not found', 'another tenant''s cancelled booking: not found, like any other id');
-- an erased customer: nothing more is sent, the worker's errors go
RESET ROLE;
SELECT tests.authenticate_as('r_owner');
SELECT is(protector.erase_customer('0a160000-0000-4000-8000-00000000c002') ->> 'already_erased', 'false', 'the owner erases Bob');
RESET ROLE;
SELECT is((SELECT count(*) FILTER (WHERE r.status = 'pending') || ' pending, ' || count(r.last_error) || ' errors'
		   FROM protector.booking_reminders r JOIN protector.bookings b ON b.id = r.booking_id
		   WHERE b.customer_id = '0a160000-0000-4000-8000-00000000c002'),
	'0 pending, 0 errors', 'Bob erased: his reminders cancelled, the errors gone');
SELECT is((SELECT count(*)::int FROM protector.audit_log WHERE table_name = 'protector.booking_reminders'
		   AND (new_row ? 'last_error' OR old_row ? 'last_error')
		   AND COALESCE(new_row, old_row) ->> 'booking_id' IN ('0a160000-0000-4000-8000-0000000b0002', '0a160000-0000-4000-8000-0000000b0010')),
	0, 'and from the history');
-- every change is audited
RESET ROLE;
SELECT is((SELECT string_agg(l.op || ' ' || COALESCE(l.new_row ->> 'status', '') || ' ' || COALESCE(l.actor_role, ''), ', ' ORDER BY l.id)
		   FROM protector.audit_log l JOIN protector.booking_reminders r ON l.record_id = r.id::text
		   WHERE l.table_name = 'protector.booking_reminders' AND r.booking_id = '0a160000-0000-4000-8000-0000000b0001'
			 AND r.kind = 'manual'),
	'INSERT pending authenticated, UPDATE sending service_role, UPDATE sent service_role',
	'reminders are audited: Ann''s manual one was queued, claimed and sent');
SELECT tests.clear_authentication();

-- 7. schema
SELECT col_is_fk('protector', 'booking_reminders', ARRAY['organization_id', 'booking_id'], 'reminders belong to a booking');
SELECT has_index('protector', 'booking_reminders', 'booking_reminders_booking_idx', 'and the key is indexed');
SELECT policies_are('protector', 'booking_reminders', ARRAY['booking_reminders_select', 'booking_reminders_insert']);
SELECT function_privs_are('protector', 'claim_due_reminders', ARRAY['integer', 'interval'], 'authenticated', '{}',
	'the worker''s functions are not for signed-in users');

-- a customer erased while the worker holds their reminder: the worker's
-- error, which may quote the erased address, is not kept (it was, in the
-- reminder and its audit rows)
SELECT tests.clear_authentication();
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a160000-0000-4000-8000-00000000c0a9', '0a160000-0000-4000-8000-000000000000', 'Gus', 'gus@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a160000-0000-4000-8000-0000000b00a9', '0a160000-0000-4000-8000-000000000000', '0a160000-0000-4000-8000-0000000000a1',
		'0a160000-0000-4000-8000-0000000005a1', '0a160000-0000-4000-8000-00000000c0a9',
		tstzrange(date_trunc('hour', now()) + interval '3 days', date_trunc('hour', now()) + interval '3 days 1 hour'), 'confirmed');
UPDATE protector.booking_reminders SET due_at = now(), next_attempt_at = now()
WHERE booking_id = '0a160000-0000-4000-8000-0000000b00a9';
SELECT tests.authenticate_as_service_role();
CREATE TEMP TABLE gus AS SELECT reminder_id, attempt FROM protector.claim_due_reminders(1000) WHERE customer_name = 'Gus' LIMIT 1;
SELECT protector.erase_customer('0a160000-0000-4000-8000-00000000c0a9') \g /dev/null
SELECT protector.complete_reminder((SELECT reminder_id FROM gus), false, '550 mailbox gus@example.com unavailable',
								   (SELECT attempt FROM gus)) \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT last_error FROM protector.booking_reminders WHERE id = (SELECT reminder_id FROM gus)), 'failed (customer erased)',
	'a failure reported after the erasure keeps no error text');
SELECT is_empty($$SELECT id FROM protector.audit_log WHERE concat(old_row::text, new_row::text) LIKE '%gus@example.com%'$$,
	'... and no audit row holds the erased address');

-- a booking moved, to start in 50 minutes, while the worker holds its due
-- reminders: those offsets' reminders for the new start are made, due at
-- once (they were lost when the held ones then failed: the next claim
-- cancelled them as of another time)
SELECT tests.clear_authentication();
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a160000-0000-4000-8000-00000000c0b9', '0a160000-0000-4000-8000-000000000000', 'Hal', 'hal@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a160000-0000-4000-8000-0000000b00b9', '0a160000-0000-4000-8000-000000000000', '0a160000-0000-4000-8000-0000000000a1',
		'0a160000-0000-4000-8000-0000000005a1', '0a160000-0000-4000-8000-00000000c0b9',
		tstzrange(date_trunc('hour', now()) + interval '4 days', date_trunc('hour', now()) + interval '4 days 1 hour'), 'confirmed');
UPDATE protector.booking_reminders SET due_at = now(), next_attempt_at = now()
WHERE booking_id = '0a160000-0000-4000-8000-0000000b00b9';
SELECT tests.authenticate_as_service_role();
CREATE TEMP TABLE hal AS SELECT reminder_id, attempt FROM protector.claim_due_reminders(1000) WHERE customer_name = 'Hal';
SELECT tests.clear_authentication();
UPDATE protector.bookings SET during = tstzrange(date_trunc('minute', now()) + interval '50 minutes',
												 date_trunc('minute', now()) + interval '110 minutes')
WHERE id = '0a160000-0000-4000-8000-0000000b00b9';
SELECT tests.authenticate_as_service_role();
SELECT protector.complete_reminder(h.reminder_id, false, 'smtp timeout', h.attempt) FROM hal h \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.booking_reminders
		   WHERE booking_id = '0a160000-0000-4000-8000-0000000b00b9' AND kind = 'scheduled' AND status = 'pending'
			 AND starts_at = date_trunc('minute', now()) + interval '50 minutes' AND due_at <= now()),
	(SELECT count(*)::int FROM hal),
	'each reminder the worker held when the booking moved has one for the new start, due at once');

SELECT * FROM finish();
ROLLBACK;
