-- Customer communications, from an attack review (forty-first stop):
--   1. a merge with a record that opted out of reminders
--      (reminder_channel none) keeps it out: the kept record had no
--      choice, the merge moved the bookings and reminders went to the
--      address that opted out (sql/68_customers_api.sql);
--   2. an SMS reminder's recipient is the number written out in full from
--      the customer's country: a national number went to the worker as
--      stored, its country untold; one that cannot be written out (no
--      country) is no SMS address (sql/84_reminders.sql);
--   3. a signature with the digest of the text shown (p_body_sha256) is
--      refused when the text changed since: a correction between showing
--      and signing bound the signature to a text nobody showed;
--   4. a customer's messages across all their threads are at most three
--      times messages_per_hour: booking and cancelling in a loop gave a
--      fresh thread, and its whole count, each time.
BEGIN;
SELECT plan(13);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['cc_owner', 'cc_customer']) u;
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('0a890000-0000-4000-8000-000000000000', 'Comms', 'customer-comms', '{"customers": {"messages_per_hour": 2}}');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a890000-0000-4000-8000-000000000000', tests.get_supabase_uid('cc_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a890000-0000-4000-8000-0000000000a1', '0a890000-0000-4000-8000-000000000000', 'V', 'Europe/Berlin');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a890000-0000-4000-8000-0000000005a1', '0a890000-0000-4000-8000-000000000000', '0a890000-0000-4000-8000-0000000000a1',
		'Ride', '60 minutes', '60 minutes', '400 days', 100, 4, 'shared');
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email, phone, country, reminder_channel) VALUES
	('0a890000-0000-4000-8000-00000000c001', '0a890000-0000-4000-8000-000000000000', NULL, 'Kim Walkin', NULL, NULL, NULL, NULL),
	('0a890000-0000-4000-8000-00000000c002', '0a890000-0000-4000-8000-000000000000', NULL, 'Mia Walkin', 'mia@x.test', NULL, NULL, 'none'),
	('0a890000-0000-4000-8000-00000000c003', '0a890000-0000-4000-8000-000000000000', NULL, 'Hana Sato', NULL, '090-1234-5678', 'JP', 'sms'),
	('0a890000-0000-4000-8000-00000000c004', '0a890000-0000-4000-8000-000000000000', NULL, 'Ned Local', NULL, '030 1234567', NULL, 'sms'),
	('0a890000-0000-4000-8000-00000000c005', '0a890000-0000-4000-8000-000000000000', tests.get_supabase_uid('cc_customer'),
	 'Cara', 'cara@x.test', NULL, NULL, NULL);
-- b(n, customer, hours from now): a confirmed booking
CREATE FUNCTION pg_temp.b(n int, customer text, h int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
	VALUES (('0a890000-0000-4000-8000-00000000b00' || n)::uuid, '0a890000-0000-4000-8000-000000000000',
			'0a890000-0000-4000-8000-0000000000a1', '0a890000-0000-4000-8000-0000000005a1',
			('0a890000-0000-4000-8000-00000000c00' || customer)::uuid,
			tstzrange(date_trunc('minute', now()) + h * interval '1 hour', date_trunc('minute', now()) + (h + 1) * interval '1 hour'),
			'confirmed')
$$;

-- 1. Mia opted out; Kim, kept, had no choice and no address
SELECT pg_temp.b(1, '2', 48);
SELECT is((SELECT count(*) FROM protector.booking_reminders WHERE booking_id = '0a890000-0000-4000-8000-00000000b001'),
	0::bigint, '(Mia, who opted out, has no reminders)');
SELECT tests.authenticate_as('cc_owner');
SELECT protector.merge_customers('0a890000-0000-4000-8000-00000000c001', '0a890000-0000-4000-8000-00000000c002') IS NOT NULL AS merged \gset
RESET ROLE;
SELECT is((SELECT format('%s %s', email, reminder_channel) FROM protector.customers WHERE id = '0a890000-0000-4000-8000-00000000c001'),
	'mia@x.test none', 'the kept record takes her address and her choice of no reminders');
SELECT is((SELECT count(*) FROM protector.booking_reminders WHERE booking_id = '0a890000-0000-4000-8000-00000000b001'
		   AND status = 'pending'), 0::bigint, '... and her booking, now Kim''s, still has none pending');

-- 2. bookings two days ahead, their reminders made due now
SELECT pg_temp.b(2, '3', 48);
SELECT pg_temp.b(3, '4', 49);
UPDATE protector.booking_reminders SET due_at = now() - interval '1 minute', next_attempt_at = now() - interval '1 minute'
WHERE booking_id IN ('0a890000-0000-4000-8000-00000000b002', '0a890000-0000-4000-8000-00000000b003');
SELECT tests.authenticate_as_service_role();
CREATE TEMP TABLE claimed AS SELECT * FROM protector.claim_due_reminders(10);
RESET ROLE;
SELECT is((SELECT string_agg(DISTINCT channel || ' ' || recipient, ', ') FROM claimed WHERE booking_id = '0a890000-0000-4000-8000-00000000b002'),
	'sms +819012345678', 'Hana''s national number in Japan goes to the worker written out in full');
SELECT is((SELECT count(*) FROM claimed WHERE booking_id = '0a890000-0000-4000-8000-00000000b003'), 0::bigint,
	'Ned''s national number without a country is no SMS address: nothing claimed');
SELECT is((SELECT count(*) FROM protector.booking_reminders WHERE booking_id = '0a890000-0000-4000-8000-00000000b003'
		   AND status = 'pending'), 0::bigint, '... and none waits for it');

-- 3. a waiver; the text shown, then corrected before the signature
SELECT tests.authenticate_as('cc_owner');
SELECT (protector.create_waiver('0a890000-0000-4000-8000-000000000000', 'Ride waiver', 'I agree.')) ->> 'waiver_id' AS waiver,
	   protector_internal.sha256_hex('I agree.') AS shown \gset
SELECT protector.update_service('0a890000-0000-4000-8000-0000000005a1', jsonb_build_object('waiver_id', :'waiver')) IS NOT NULL AS asks \gset
UPDATE protector.waiver_versions SET body = 'I agree. I also waive every claim.' WHERE waiver_id = :'waiver';
SELECT pg_temp.b(4, '5', 72);
SELECT tests.authenticate_as('cc_customer');
SELECT throws_ok(format($$SELECT protector.submit_waiver(%L, 'Cara', '1990-01-01', 'Cara', 'Cara',
	'0a890000-0000-4000-8000-00000000b004', NULL, %L)$$, :'waiver', :'shown'),
	'40001', 'the waiver''s text has changed since it was shown', 'a signature of the text shown, corrected since, is refused');
SELECT is((SELECT count(*) FROM protector.waiver_submissions WHERE booking_id = '0a890000-0000-4000-8000-00000000b004'),
	0::bigint, '... and nothing is recorded');
SELECT is((protector.submit_waiver(:'waiver', 'Cara', '1990-01-01', 'Cara', 'Cara', '0a890000-0000-4000-8000-00000000b004', NULL,
		   protector_internal.sha256_hex('I agree. I also waive every claim.'))).participant_name, 'Cara',
	'with the digest of the text now shown it is recorded');

-- 4. messages_per_hour 2, so 6 across threads: three threads of two
RESET ROLE;
SELECT pg_temp.b(n, '5', 72 + n) FROM generate_series(5, 8) n;
SELECT tests.authenticate_as('cc_customer');
SELECT lives_ok($$SELECT protector.send_message(('0a890000-0000-4000-8000-00000000b00' || n)::uuid, 'hello ' || m)
	FROM generate_series(5, 7) n, generate_series(1, 2) m$$, 'six messages, two in each of three threads');
SELECT throws_ok($$SELECT protector.send_message('0a890000-0000-4000-8000-00000000b008', 'one more')$$,
	'53400', 'too many messages; try again later', 'a seventh, the first in a fourth thread, is refused (3 x 2)');
SELECT is(tests.error_text($$SELECT protector.send_message('0a890000-0000-4000-8000-00000000b008', 'one more')$$),
	'53400 | too many messages; try again later | The organization takes at most 6 messages of a customer per hour across their bookings. | Wait for a reply, or call the organization.',
	'... saying the limit');
SELECT is((SELECT count(*) FROM protector.booking_messages WHERE customer_id = '0a890000-0000-4000-8000-00000000c005'),
	6::bigint, 'six stored');

SELECT * FROM finish();
ROLLBACK;
