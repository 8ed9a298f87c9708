-- Which address a reminder goes to, and why one cannot go (an attack
-- review of reminders):
--  - a manual reminder sent without a channel goes, when claimed, by the
--    address the customer has then (it was held to the channel of the
--    moment it was sent, and cancelled as "no address" when that address
--    went though the customer had the other); one asked for stays so;
--  - an e-mail address 0.1.0 stored without today's checks (anna@gmail, a
--    no-break space) is no address when a reminder is claimed or sent by
--    hand: it was handed to the worker ahead of a valid phone;
--  - send_booking_reminder names why a customer cannot be reminded: erased,
--    opted out, a national phone without a country, a 0.1.0 e-mail address;
--  - smaller ones: a worker's error of spaces and line breaks only is none
--    given, complete_reminder's and get_booking_messages' refusals say what
--    they refused.
BEGIN;
SELECT plan(24);

SELECT tests.create_supabase_user('rc_admin');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a991000-0000-4000-8000-000000000000', 'Channels', 'reminder-channels');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('0a991000-0000-4000-8000-000000000000', tests.get_supabase_uid('rc_admin'), 'admin', now());
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a991000-0000-4000-8000-0000000000a1', '0a991000-0000-4000-8000-000000000000', 'V', 'Europe/Berlin');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a991000-0000-4000-8000-0000000005a1', '0a991000-0000-4000-8000-000000000000', '0a991000-0000-4000-8000-0000000000a1',
		'Ride', '60 minutes', '60 minutes', '400 days', 100, 4, 'shared');
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, country, reminder_channel) VALUES
	('0a991000-0000-4000-8000-00000000c001', '0a991000-0000-4000-8000-000000000000', 'Dirk', 'd@example.com', '0151 2345678', 'DE', NULL),
	('0a991000-0000-4000-8000-00000000c002', '0a991000-0000-4000-8000-000000000000', 'Nat', NULL, '0151 2345678', NULL, NULL),
	('0a991000-0000-4000-8000-00000000c003', '0a991000-0000-4000-8000-000000000000', 'Opt', 'o@example.com', NULL, NULL, 'none'),
	('0a991000-0000-4000-8000-00000000c004', '0a991000-0000-4000-8000-000000000000', 'Era', 'e@example.com', NULL, NULL, NULL),
	('0a991000-0000-4000-8000-00000000c007', '0a991000-0000-4000-8000-000000000000', 'Ida', 'i@example.com', '0151 7654321', 'DE', NULL),
	('0a991000-0000-4000-8000-00000000c008', '0a991000-0000-4000-8000-000000000000', 'Short', NULL, '123', 'DE', NULL),
	('0a991000-0000-4000-8000-00000000c010', '0a991000-0000-4000-8000-000000000000', 'Plus', NULL, '+0151 2345678', 'DE', NULL),
	('0a991000-0000-4000-8000-00000000c011', '0a991000-0000-4000-8000-000000000000', 'Few', NULL, '+49 (0)', 'DE', NULL),
	('0a991000-0000-4000-8000-00000000c012', '0a991000-0000-4000-8000-000000000000', 'Zero', NULL, '00 0151 2345678', NULL, NULL),
	('0a991000-0000-4000-8000-00000000c013', '0a991000-0000-4000-8000-000000000000', 'Usa', NULL, '011 0151 1234', 'US', NULL);
-- as 0.1.0 stored them, before the customers' checks of 0.2.0
ALTER TABLE protector.customers DISABLE TRIGGER check_customer_row;
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, country) VALUES
	('0a991000-0000-4000-8000-00000000c005', '0a991000-0000-4000-8000-000000000000', 'Anna', 'anna@gmail', '+49 151 2345678', 'DE'),
	('0a991000-0000-4000-8000-00000000c006', '0a991000-0000-4000-8000-000000000000', 'Bea', E'bea@ex\u00a0ample.com', NULL, NULL);
-- (a country 0.1.0 took as two capitals; no CHECK of 0.2.0's is in its way)
SET LOCAL session_replication_role = replica;
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, country) VALUES
	('0a991000-0000-4000-8000-00000000c009', '0a991000-0000-4000-8000-000000000000', 'Xan', NULL, '0151 2345678', 'XX');
SET LOCAL session_replication_role = origin;
ALTER TABLE protector.customers ENABLE TRIGGER check_customer_row;
-- booking n (customer n) in three days at 10:00 + n hours
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0a991000-0000-4000-8000-' || lpad('b' || n, 12, '0'))::uuid, '0a991000-0000-4000-8000-000000000000', '0a991000-0000-4000-8000-0000000000a1',
	   '0a991000-0000-4000-8000-0000000005a1', ('0a991000-0000-4000-8000-' || lpad('c' || lpad(n::text, 3, '0'), 12, '0'))::uuid,
	   tstzrange(date_trunc('day', now()) + interval '3 days 10 hours' + n * interval '1 hour',
				 date_trunc('day', now()) + interval '3 days 11 hours' + n * interval '1 hour'), 'confirmed'
FROM generate_series(1, 13) n;

SELECT tests.authenticate_as('rc_admin');
SELECT protector.erase_customer('0a991000-0000-4000-8000-00000000c004') IS NOT NULL AS erased \gset
SELECT is((SELECT channel || ' ' || COALESCE(asked_channel, '-') FROM protector.send_booking_reminder('0a991000-0000-4000-8000-0000000000b1')),
	'email -', 'Dirk''s reminder sent without a channel: by e-mail, none asked');
SELECT is((SELECT channel || ' ' || asked_channel FROM protector.send_booking_reminder('0a991000-0000-4000-8000-0000000000b7', 'email')),
	'email email', 'Ida''s sent asking for e-mail');
SELECT is((SELECT channel FROM protector.send_booking_reminder('0a991000-0000-4000-8000-0000000000b5')),
	'sms', 'Anna''s (an e-mail address 0.1.0 took, anna@gmail): by SMS, to her valid phone');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-0000000000b5', 'email')$$, '22023',
	'the customer''s e-mail address is not one reminders go to', '... and not by e-mail when asked');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-0000000000b6')$$, '22023',
	'the customer''s e-mail address is not one reminders go to', 'Bea (a no-break space in her address, no phone): refused, naming it');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-0000000000b2', 'sms')$$, '22023',
	'the customer''s phone number cannot be used for SMS', 'Nat (a national number, no country): refused, naming the phone');
SELECT is(tests.error_text($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-0000000000b2')$$),
	'22023 | the customer''s phone number cannot be used for SMS | It is a national number and the customer has no country: it means something only in its country. | Write the number with its country code (+...), or set the customer''s country.',
	'... also with no channel asked, with what to do');
SELECT is(tests.error_text($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-0000000000b8')$$),
	'22023 | the customer''s phone number cannot be used for SMS | It cannot be written out in full as a number of the customer''s country (DE). | Write the number with its country code (+...).',
	'Short (123, in Germany): the country is not what is missing');
SELECT is(tests.error_text($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-0000000000b9')$$),
	'22023 | the customer''s phone number cannot be used for SMS | It is a national number, and the customer''s country (XX, stored before protector checked countries) is no country code. | Correct the customer''s country, or write the number with its country code (+...).',
	'Xan (a 0.1.0 country XX): the country is named as what to correct');
SELECT is(tests.error_text($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-000000000b10')$$),
	'22023 | the customer''s phone number cannot be used for SMS | What follows its + (or its international prefix, 00) is no country code (none begins with 0). | Write the number with its country code after the + (+49 30 ...), or as a national number without it.',
	'Plus (+0151 ...): told that what follows the + is no country code');
SELECT is(tests.error_text($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-000000000b12')$$),
	'22023 | the customer''s phone number cannot be used for SMS | What follows its + (or its international prefix, 00) is no country code (none begins with 0). | Write the number with its country code after the + (+49 30 ...), or as a national number without it.',
	'Zero (00 0151 ..., no country): the same, not blamed on the missing country');
SELECT is(tests.error_text($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-000000000b11')$$),
	'22023 | the customer''s phone number cannot be used for SMS | It has too few digits to be a phone number. | Correct the number in the customer''s record.',
	'Few (+49 (0), two digits once the trunk 0 goes): too few digits');
SELECT is(tests.error_text($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-000000000b13')$$),
	'22023 | the customer''s phone number cannot be used for SMS | What follows its + (or its international prefix, 00) is no country code (none begins with 0). | Write the number with its country code after the + (+49 30 ...), or as a national number without it.',
	'Usa (011 0151 ... in the US, 011 its international prefix): the same');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-0000000000b3')$$, '22023',
	'the customer chose not to get reminders', 'Opt (reminder_channel none): refused as opted out');
SELECT throws_ok($$SELECT protector.send_booking_reminder('0a991000-0000-4000-8000-0000000000b4')$$, '22023',
	'the customer was erased', 'Era (erased): refused as erased');
SELECT tests.clear_authentication();

-- Dirk and Ida lose their e-mail addresses; every reminder is due
UPDATE protector.customers SET email = NULL
WHERE id IN ('0a991000-0000-4000-8000-00000000c001', '0a991000-0000-4000-8000-00000000c007');
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 minute', due_at = now() - interval '1 minute'
WHERE organization_id = '0a991000-0000-4000-8000-000000000000';
SELECT tests.authenticate_as_service_role();
CREATE TEMP TABLE claimed AS SELECT * FROM protector.claim_due_reminders(100);
SELECT tests.clear_authentication();
SELECT is((SELECT channel || ' ' || recipient FROM claimed WHERE kind = 'manual' AND customer_name = 'Dirk'),
	'sms +491512345678', 'Dirk''s manual reminder goes by SMS once he has no e-mail address (none was asked)');
SELECT is((SELECT status || ': ' || cancelled_reason FROM protector.booking_reminders
		   WHERE booking_id = '0a991000-0000-4000-8000-0000000000b7' AND kind = 'manual'),
	'cancelled: customer has no address for reminders', 'Ida''s, asked by e-mail, is cancelled: she has none now');
SELECT is((SELECT string_agg(DISTINCT channel || ' ' || recipient, ', ') FROM claimed WHERE customer_name = 'Anna'),
	'sms +491512345678', 'Anna''s reminders are all handed out by SMS, none to anna@gmail');
SELECT is((SELECT count(*)::int FROM claimed WHERE customer_name = 'Bea'), 0, 'none of Bea''s is handed out');
SELECT is((SELECT string_agg(DISTINCT status || ': ' || cancelled_reason, ', ') FROM protector.booking_reminders
		   WHERE booking_id = '0a991000-0000-4000-8000-0000000000b6'),
	'cancelled: customer has no address for reminders', '... they are cancelled as without an address');

-- the worker's report of a failure whose error is only line breaks and
-- spaces (btrim left them): none given; a missing id is named as the id
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT last_error FROM protector.complete_reminder(
			  (SELECT reminder_id FROM claimed WHERE kind = 'manual' AND customer_name = 'Dirk'), false, E'\n\u00a0\t\n', 1)),
	'failed (no error given)', 'an error of line breaks and spaces only is none given');
-- a failure reported for a reminder of a booking cancelled while it was
-- out is not tried again (it went back to pending, a chaos run found)
SELECT tests.clear_authentication();
SELECT tests.authenticate_as('rc_admin');
SELECT protector.cancel_booking('0a991000-0000-4000-8000-0000000000b5') IS NOT NULL AS cancelled \gset
SELECT tests.clear_authentication();
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT status || ': ' || cancelled_reason FROM protector.complete_reminder(
			  (SELECT reminder_id FROM claimed WHERE customer_name = 'Anna' ORDER BY reminder_id LIMIT 1), false, 'smtp timeout', 1)),
	'cancelled: booking no longer confirmed for this time', 'a failure reported after the booking''s cancellation cancels the reminder');
SELECT is(tests.error_text($$SELECT protector.complete_reminder(NULL, true)$$),
	'22023 | p_id must not be null | p_id is the reminder_id claim_due_reminders handed out.',
	'complete_reminder without an id says what the id is');
SELECT tests.clear_authentication();
SELECT tests.authenticate_as('rc_admin');
SELECT is(tests.error_text($$SELECT * FROM protector.get_booking_messages('0a991000-0000-4000-8000-0000000000b1', 0)$$),
	'22023 | p_limit must be between 1 and 1000 | Got 0.', 'get_booking_messages names the p_limit it refused');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
