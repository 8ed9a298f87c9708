-- What a review of the audit log found (the thirty-third stop): masking a
-- customer's e-mail left it in clear as identity_key, the e-mail
-- normalized; enable_audit of a column whose name is not plain ASCII made
-- its triggers again on every call; and the desk's recent activity
-- trusted a log that did not grow (bookings not audited by the settings a
-- restore brought back, the trigger there) or could not name a booking
-- (ids masked: a 22P02 for everyone).
BEGIN;
SELECT plan(19);
SET LOCAL TimeZone = 'UTC';

-- 1. e-mail masked, identity_key with it
SELECT protector.enable_audit('protector.customers', '{email, phone}') AS changed \gset
SELECT is((SELECT masked FROM protector_internal.audit_settings WHERE table_name = 'protector.customers'::regclass),
	'{email,identity_key,phone}', 'masking the e-mail masks identity_key, the e-mail normalized');
INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0a570000-0000-4000-8000-000000000000', 'Audit', 'audit-edges', 'UTC', 'EUR');
INSERT INTO protector.customers (organization_id, full_name, email)
VALUES ('0a570000-0000-4000-8000-000000000000', 'Cora', 'Cora@Secret.example');
SELECT is((SELECT format('%s %s', new_row ->> 'email', new_row ->> 'identity_key') FROM protector.audit_log
		   WHERE table_name = 'protector.customers' AND organization_id = '0a570000-0000-4000-8000-000000000000'),
	'[masked] [masked]', 'the customer''s row leaves neither in the log (identity_key was cora@secret.example)');
SELECT is(protector.enable_audit('protector.customers', '{email, phone}'), false, 'the same masks again change nothing');
-- a settings row of a backup made before (restore_audit_setting passes it here)
SELECT protector_internal.remember_audit('protector.customers', true, '{email}');
SELECT is((SELECT masked FROM protector_internal.audit_settings WHERE table_name = 'protector.customers'::regclass),
	'{email,identity_key}', 'a restored row masking the e-mail masks identity_key too');

-- 2. a column name of more than ASCII: the second call is a no-op
CREATE TABLE public.contacts (id int PRIMARY KEY, "e-mail ü" text, "a\b" text);
SELECT protector.enable_audit('public.contacts', '{"e-mail ü", "a\\b"}') AS changed \gset
SELECT is(protector.enable_audit('public.contacts', '{"e-mail ü", "a\\b"}'), false,
	'masks named in more than ASCII, given again, change nothing (the triggers were made again)');

-- 3. the desk's recent activity: two bookings logged, then the bookings'
-- audit turned off by its settings while the trigger is there (as a
-- restore of such a backup leaves it): the booking made after is first
SELECT tests.create_supabase_user('ae_owner') IS NOT NULL \g /dev/null
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a570000-0000-4000-8000-000000000000', tests.get_supabase_uid('ae_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a570000-0000-4000-8000-0000000000a1', '0a570000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party)
VALUES ('0a570000-0000-4000-8000-0000000005a1', '0a570000-0000-4000-8000-000000000000', '0a570000-0000-4000-8000-0000000000a1',
		'Room', '1 hour', '1 hour', '30 days', 10, 4);
CREATE FUNCTION pg_temp.book(p_id text, p_hours int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, created_at)
	VALUES (('0a570000-0000-4000-8000-00000000b' || p_id)::uuid, '0a570000-0000-4000-8000-000000000000',
			'0a570000-0000-4000-8000-0000000000a1', '0a570000-0000-4000-8000-0000000005a1',
			tstzrange(date_trunc('day', now()) + make_interval(days => 2, hours => p_hours),
					  date_trunc('day', now()) + make_interval(days => 2, hours => p_hours + 1)), now())
$$;
SELECT pg_temp.book('001', 10);
SELECT pg_temp.book('002', 11);
SELECT tests.authenticate_as('ae_owner');
SELECT isnt(protector_internal.recent_booking_ids('0a570000-0000-4000-8000-000000000000', 1), NULL,
	'bookings audited: the log names the bookings changed last');
SELECT tests.clear_authentication();
UPDATE protector_internal.audit_settings SET audited = false WHERE table_name = 'protector.bookings'::regclass;
SELECT pg_temp.book('003', 12);
SELECT tests.authenticate_as('ae_owner');
SELECT is(protector_internal.recent_booking_ids('0a570000-0000-4000-8000-000000000000', 1), NULL,
	'bookings not audited by their settings: the log does not answer (the bookings are read)');
SELECT tests.clear_authentication();
UPDATE protector_internal.audit_settings SET audited = true WHERE table_name = 'protector.bookings'::regclass;
SELECT protector.enable_audit('protector.bookings', '{id}') AS changed \gset
SELECT pg_temp.book('004', 13);
SELECT tests.authenticate_as('ae_owner');
SELECT lives_ok($$SELECT * FROM protector.get_recent_booking_activity('0a570000-0000-4000-8000-000000000000', 1)$$,
	'bookings'' ids masked: the activity is read from the bookings, not "[masked]" cast to uuid');
SELECT is(protector_internal.recent_booking_ids('0a570000-0000-4000-8000-000000000000', 1), NULL,
	'... the log does not answer');
-- the mask taken off again: rows logged meanwhile name no booking, and
-- are passed over (a 22P02 for everyone until enough bookings changed)
SELECT tests.clear_authentication();
SELECT protector.enable_audit('protector.bookings') AS changed \gset
SELECT tests.authenticate_as('ae_owner');
SELECT lives_ok($$SELECT * FROM protector.get_recent_booking_activity('0a570000-0000-4000-8000-000000000000', 3)$$,
	'the ids unmasked again: rows logged while they were masked make the log give way to the bookings');
SELECT tests.clear_authentication();
-- (an attack review) a booking created and cancelled in one transaction
-- (a server client's; its stamps are equal) is "cancelled", not "created"
SELECT pg_temp.book('005', 14);
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a570000-0000-4000-8000-00000000b005';
SELECT tests.authenticate_as('ae_owner');
SELECT is((SELECT activity FROM protector.get_recent_booking_activity('0a570000-0000-4000-8000-000000000000', 10)
		   WHERE booking_id = '0a570000-0000-4000-8000-00000000b005'),
	'cancelled', 'a booking cancelled in the transaction that made it is listed as cancelled');
SELECT tests.clear_authentication();

-- 4. an invitation's e-mail masked, its email_key with it
SELECT protector.enable_audit('protector.staff_invitations', '{email}') AS changed \gset
INSERT INTO protector.staff_invitations (organization_id, email, role)
VALUES ('0a570000-0000-4000-8000-000000000000', 'Bob.Secret@Example.com', 'viewer');
SELECT is((SELECT format('%s %s', new_row ->> 'email', new_row ->> 'email_key') FROM protector.audit_log
		   WHERE table_name = 'protector.staff_invitations' AND organization_id = '0a570000-0000-4000-8000-000000000000'),
	'[masked] [masked]', 'an invitation''s email_key, the e-mail lower-cased, is masked with it');
SELECT throws_ok($$SELECT protector.enable_audit('protector.customers', '{{email},{phone}}')$$, '22023',
	'p_masked_columns must be an array of column names without nulls',
	'masks in two dimensions are refused in words (a bare 0A000 of array_position: make fuzz)');

-- audit_settings written directly (an attack review of caches): the
-- session that had read the row kept it, masks and all, until the next
-- enable_audit; its masks are derived as enable_audit derives them
SELECT tests.clear_authentication();
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a570000-0000-4000-8000-00000000c0d1', '0a570000-0000-4000-8000-000000000000', 'Dora', 'dora@example.com');
UPDATE protector.customers SET email = 'dora1@example.com' WHERE id = '0a570000-0000-4000-8000-00000000c0d1';
UPDATE protector_internal.audit_settings SET masked = '{email}' WHERE table_name = 'protector.customers'::regclass;
SELECT is((SELECT masked FROM protector_internal.audit_settings WHERE table_name = 'protector.customers'::regclass),
	'{email,identity_key}'::text[], 'masks written directly take the columns derived from them');
UPDATE protector.customers SET email = 'dora2@example.com' WHERE id = '0a570000-0000-4000-8000-00000000c0d1';
SELECT is((SELECT new_row ->> 'email' || ' ' || (new_row ->> 'identity_key') FROM protector.audit_log
		   WHERE record_id = '0a570000-0000-4000-8000-00000000c0d1' ORDER BY id DESC LIMIT 1),
	'[masked] [masked]', '... which mask the next change');
UPDATE protector_internal.audit_settings SET audited = false WHERE table_name = 'protector.customers'::regclass;
UPDATE protector.customers SET email = 'dora3@example.com' WHERE id = '0a570000-0000-4000-8000-00000000c0d1';
SELECT is((SELECT count(*)::int FROM protector.audit_log WHERE record_id = '0a570000-0000-4000-8000-00000000c0d1'),
	3, '... and a row saying "not audited" stops the next change''s audit');
-- (a review) a TRUNCATE of the settings is read again too, and a row of a
-- table dropped since can still be deleted
TRUNCATE protector_internal.audit_settings;
UPDATE protector.customers SET email = 'dora4@example.com' WHERE id = '0a570000-0000-4000-8000-00000000c0d1';
SELECT is((SELECT count(*)::int FROM protector.audit_log WHERE record_id = '0a570000-0000-4000-8000-00000000c0d1'),
	4, 'the settings truncated: the trigger''s own arguments audit the next change again');
CREATE TABLE public.gone_570 (id int PRIMARY KEY);
INSERT INTO protector_internal.audit_settings (table_name, audited) VALUES ('public.gone_570', true);
DROP TABLE public.gone_570;
SELECT lives_ok($$UPDATE protector_internal.audit_settings SET audited = false WHERE table_name::text ~ '^[0-9]+$'$$,
	'a row of a table dropped since is updated');
SELECT lives_ok($$DELETE FROM protector_internal.audit_settings WHERE table_name::text ~ '^[0-9]+$'$$,
	'... and deleted');

SELECT * FROM finish();
ROLLBACK;
