-- What an attack with harmless session settings found (the thirty-fourth
-- stop): what protector stores read differently by the writer's settings.
-- An audited booking's "during" under DateStyle 'SQL, DMY' read back a
-- month off under the default MDY, its intervals followed IntervalStyle,
-- and its timestamps (and the desk notification's start) the writer's
-- TimeZone. Under standard_conforming_strings = off a phone number, an
-- amount written as text and a second enable_audit failed (literals with
-- backslashes read as escapes), and PL/pgSQL's cached plans kept failing
-- after the setting was turned back on. Error details quoted dates and
-- times in the caller's DateStyle and TimeZone (02/01/2027 for 2 January).
-- Claims nested 32,000 levels deep ran out of stack (54001)
-- rather than being refused as bad input.
BEGIN;
SELECT plan(32);

INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0a640000-0000-4000-8000-000000000000', 'Styles', 'session-settings', 'Europe/Berlin', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a640000-0000-4000-8000-0000000000a1', '0a640000-0000-4000-8000-000000000000', 'V', 'Europe/Berlin');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party)
VALUES ('0a640000-0000-4000-8000-0000000005a1', '0a640000-0000-4000-8000-000000000000', '0a640000-0000-4000-8000-0000000000a1',
		'Room', '1 hour', '1 hour', '1000 days', 10, 4);

-- a writer in St. John's (-02:30 in May), day-first dates, SQL intervals,
-- fewer float digits
SET LOCAL TimeZone = 'America/St_Johns';
SET LOCAL DateStyle = 'SQL, DMY';
SET LOCAL IntervalStyle = 'sql_standard';
SET LOCAL extra_float_digits = -3;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('0a640000-0000-4000-8000-00000000b001', '0a640000-0000-4000-8000-000000000000', '0a640000-0000-4000-8000-0000000000a1',
		'0a640000-0000-4000-8000-0000000005a1', tstzrange('2029-05-04 18:00+00', '2029-05-04 19:00+00'), 'confirmed');
UPDATE protector.services SET buffer_after = '15 minutes' WHERE id = '0a640000-0000-4000-8000-0000000005a1';
RESET DateStyle;
RESET IntervalStyle;
RESET extra_float_digits;
SET LOCAL TimeZone = 'UTC';

SELECT is((SELECT new_row ->> 'during' FROM protector.audit_log
		   WHERE table_name = 'protector.bookings' AND record_id = '0a640000-0000-4000-8000-00000000b001'),
	'["2029-05-04 18:00:00+00","2029-05-04 19:00:00+00")',
	'the audited range is ISO and UTC whoever wrote it (it was "[04/05/2029 15:30:00 NDT,...)")');
SELECT is((SELECT (new_row ->> 'during')::tstzrange FROM protector.audit_log
		   WHERE table_name = 'protector.bookings' AND record_id = '0a640000-0000-4000-8000-00000000b001'),
	tstzrange('2029-05-04 18:00+00', '2029-05-04 19:00+00'), '... and reads back as the booking''s own time, not a month off');
SELECT is((SELECT new_row ->> 'created_at' FROM protector.audit_log
		   WHERE table_name = 'protector.bookings' AND record_id = '0a640000-0000-4000-8000-00000000b001') LIKE '%+00:00',
	true, 'its timestamps are written in UTC (it was the writer''s -02:30)');
SELECT is((SELECT format('%s %s', new_row ->> 'buffer_after', old_row ->> 'buffer_after') FROM protector.audit_log
		   WHERE table_name = 'protector.services' AND op = 'UPDATE'
			 AND record_id = '0a640000-0000-4000-8000-0000000005a1'),
	'00:15:00 00:00:00', 'intervals are written as PostgreSQL''s default style prints them (it was "0:15:00")');
SELECT is((SELECT payload ->> 'start' FROM protector.notifications
		   WHERE booking_id = '0a640000-0000-4000-8000-00000000b001' AND kind = 'booking.created'),
	'2029-05-04T18:00:00+00:00', 'the desk notification''s start is in UTC beside its venue''s zone (it was 15:30:00-02:30)');

-- so is a change's: the cancellation's notification, written by the
-- PL/pgSQL trigger (it was 15:30:00-02:30 too)
SET LOCAL TimeZone = 'America/St_Johns';
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a640000-0000-4000-8000-00000000b001';
SET LOCAL TimeZone = 'UTC';
SELECT is((SELECT payload ->> 'start' FROM protector.notifications
		   WHERE booking_id = '0a640000-0000-4000-8000-00000000b001' AND kind = 'booking.cancelled'),
	'2029-05-04T18:00:00+00:00', '... and a cancellation''s notification too');

-- a writer under the default settings writes the same text
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('0a640000-0000-4000-8000-00000000b002', '0a640000-0000-4000-8000-000000000000', '0a640000-0000-4000-8000-0000000000a1',
		'0a640000-0000-4000-8000-0000000005a1', tstzrange('2029-05-04 20:00+00', '2029-05-04 21:00+00'), 'confirmed');
SELECT is((SELECT new_row ->> 'during' FROM protector.audit_log
		   WHERE table_name = 'protector.bookings' AND record_id = '0a640000-0000-4000-8000-00000000b002'),
	'["2029-05-04 20:00:00+00","2029-05-04 21:00:00+00")', 'a writer under the defaults writes the same style');

-- backslashes in literals read as escapes under standard_conforming_strings = off
SET LOCAL standard_conforming_strings = off;
SELECT is(protector_internal.phone_is_valid('+49 30 1234567'), true,
	'a phone number is a phone number under standard_conforming_strings = off (invalid regular expression)');
SELECT is(protector_internal.json_amount('"12x50"'), NULL, '... an amount of "12x50" is no amount (a numeric cast error)');
CREATE TABLE public.ss_notes (id int PRIMARY KEY, note text);
SELECT protector.enable_audit('public.ss_notes') AS first \gset
SELECT is(protector.enable_audit('public.ss_notes'), false, '... enable_audit a second time is a no-op (invalid byte sequence 0x00)');
RESET standard_conforming_strings;
SELECT is(protector_internal.phone_is_valid('+49 30 1234567'), true, '... and nothing of it stays once it is on again');

-- a table's name in the log, and a regclass in its rows, read the same
-- under quote_all_identifiers and any search_path (the name was cached as
-- "protector"."customers" for the session, which the erasure's lookup of
-- protector.customers never found)
SET LOCAL quote_all_identifiers = on;
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0a640000-0000-4000-8000-00000000c001', '0a640000-0000-4000-8000-000000000000', 'Quoted', 'quoted@example.com');
RESET quote_all_identifiers;
UPDATE protector.customers SET full_name = 'Quoted again' WHERE id = '0a640000-0000-4000-8000-00000000c001';
SELECT is((SELECT string_agg(DISTINCT table_name, ', ') FROM protector.audit_log WHERE record_id = '0a640000-0000-4000-8000-00000000c001'),
	'protector.customers', 'a customer''s rows are logged as protector.customers under quote_all_identifiers too');
CREATE TABLE public.ss_classes (id regclass PRIMARY KEY, kind regtype, note text);
SELECT protector.enable_audit('public.ss_classes') AS audited \gset
SET LOCAL search_path = public;
INSERT INTO public.ss_classes VALUES ('public.ss_classes', 'public.ss_classes', 'a');
SET LOCAL search_path = '';
SET LOCAL quote_all_identifiers = on;
UPDATE public.ss_classes SET note = 'b';
RESET quote_all_identifiers;
RESET search_path;
SELECT is((SELECT string_agg(DISTINCT format('%s %s %s', record_id, new_row ->> 'id', new_row ->> 'kind'), '; ')
		   FROM protector.audit_log WHERE table_name = 'public.ss_classes'),
	'public.ss_classes public.ss_classes public.ss_classes', '... and a regclass in its key and rows is one text whoever wrote it');
SELECT is((SELECT count(*)::int FROM protector.audit_log WHERE table_name = 'public.ss_classes'), 2, '... (two rows)');

-- (a regclass is pinned for its own column only: a user's cast of another
-- column to json, which runs their SQL, keeps the writer's search_path)
CREATE TYPE public.ss_mood AS ENUM ('ok');
CREATE FUNCTION public.ss_mood_label(m public.ss_mood) RETURNS text LANGUAGE sql AS $$ SELECT upper(m::text) $$;
CREATE FUNCTION public.ss_mood_json(m public.ss_mood) RETURNS json LANGUAGE sql AS $$ SELECT to_json(ss_mood_label(m)) $$;
CREATE CAST (public.ss_mood AS json) WITH FUNCTION public.ss_mood_json(public.ss_mood);
CREATE TABLE public.ss_moods (id int PRIMARY KEY, m public.ss_mood, cls regclass);
SELECT protector.enable_audit('public.ss_moods') AS audited \gset
INSERT INTO public.ss_moods VALUES (1, 'ok', 'public.ss_moods');
SELECT is((SELECT new_row FROM protector.audit_log WHERE table_name = 'public.ss_moods'),
	'{"id": 1, "m": "OK", "cls": "public.ss_moods"}'::jsonb,
	'... beside a column a user''s cast converts with their own SQL');
-- the audit RPC finds a table's rows under quote_all_identifiers too
SELECT tests.create_supabase_user('ss_owner') IS NOT NULL AS made \gset
INSERT INTO protector.members (organization_id, user_id, role) VALUES ('0a640000-0000-4000-8000-000000000000', tests.get_supabase_uid('ss_owner'), 'owner');
SELECT tests.authenticate_as('ss_owner');
SET LOCAL quote_all_identifiers = on;
SELECT cmp_ok((SELECT count(*)::int FROM protector.get_audit_logs('protector.customers', p_organization_id => '0a640000-0000-4000-8000-000000000000')),
	'>=', 2, 'get_audit_logs of protector.customers finds its rows under quote_all_identifiers (it found none)');
RESET quote_all_identifiers;
SELECT tests.clear_authentication();

-- dates and times in error details read the same under any DateStyle
SET LOCAL DateStyle = 'SQL, DMY';
SET LOCAL TimeZone = 'America/St_Johns';
SELECT is(tests.error_text($$SELECT * FROM protector.generate_booking_report('0a640000-0000-4000-8000-000000000000', '2027-01-02', '2031-01-01')$$),
	'22023 | p_from to p_to must be a range of at most 1101 days between 0001-01-02 and 9999-12-30 | Got 2027-01-02 to 2031-01-01.',
	'a report''s range is quoted as ISO dates (it read 02/01/2027 to 01/01/2031)');
SELECT is(tests.error_text($$SELECT * FROM protector.get_staff_performance('0a640000-0000-4000-8000-000000000000', '2027-01-02', '2040-01-01')$$),
	'22023 | p_from and p_to must be dates, p_to from p_from to ten years after it | Got 2027-01-02 to 2040-01-01 (between 0001-01-02 and 9999-12-30).',
	'... so is the staff performance''s');
SELECT is(tests.error_text($$SELECT protector.create_promo_code('0a640000-0000-4000-8000-000000000000', 'percent', 10,
													p_valid_from => '2027-01-02 10:00+00', p_valid_until => '2027-01-01 10:00+00')$$),
	'22023 | p_valid_until must be later than p_valid_from | Got 2027-01-02 10:00:00+00 to 2027-01-01 10:00:00+00.',
	'... and a promo code''s times, in UTC (they read 02/01/2027 06:30:00 NST)');
SELECT is(protector_internal.iso_text('2027-01-02 10:00:00.7+00'::timestamptz) || ' ' || protector_internal.iso_text('2027-01-02 10:00:00.25+00'::timestamptz),
	'2027-01-02 10:00:00.7+00 2027-01-02 10:00:00.25+00', '... with the fraction of a second two times may differ by');
INSERT INTO protector.promo_codes (organization_id, discount_kind, discount_value, valid_from)
VALUES ('0a640000-0000-4000-8000-000000000000', 'percent', 10, '2029-01-02 10:00+00') RETURNING code AS later_code \gset
SELECT is(tests.error_text(format($$SELECT protector.create_booking('0a640000-0000-4000-8000-0000000005a1', NULL,
	'2028-06-01 10:00+00', 1, p_promo_code => %L)$$, :'later_code')),
	'22023 | this promo code is not valid yet | It is valid from 2029-01-02 10:00:00+00.',
	'... and a promo code''s start as the widget''s visitor is told it');
INSERT INTO protector.vouchers (organization_id, amount, balance, currency, expires_at)
VALUES ('0a640000-0000-4000-8000-000000000000', 100, 100, 'EUR', now() + interval '1 day') RETURNING code AS old_gift \gset
UPDATE protector.vouchers SET expires_at = '2026-01-02 10:00:00.25+00' WHERE code = :'old_gift';
UPDATE protector.services SET price = 50 WHERE id = '0a640000-0000-4000-8000-0000000005a1';
SELECT is(tests.error_text(format($$SELECT protector.create_booking('0a640000-0000-4000-8000-0000000005a1', NULL,
	'2028-06-01 11:00+00', 1, p_voucher_code => %L)$$, :'old_gift')) ~ 'It expired at 2026-01-02 10:00:00.25\+00', true,
	'... and a voucher''s expiry');
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed) VALUES
	('0a640000-0000-4000-8000-000000000000', '0a640000-0000-4000-8000-0000000000a1', '2030-12-25', true),
	('0a640000-0000-4000-8000-000000000000', '0a640000-0000-4000-8000-0000000000a1', '2030-12-26', true);
SELECT throws_ok($$UPDATE protector.venue_closures SET closed_on = '2030-12-25' WHERE closed_on = '2030-12-26'$$,
	'23505', 'the venue has an entry for 2030-12-25 already', '... and a closure''s date (it read 25/12/2030)');
SELECT is(tests.error_text($$SELECT * FROM protector.get_available_slots('0a640000-0000-4000-8000-0000000005a1',
	'2027-01-02', '10000-01-02', false)$$),
	'22008 | p_from and p_to must be dates between the years 1 and 9999 | Got 2027-01-02 to 10000-01-02.',
	'... and days beyond the years 1 to 9999 (it read 02/01/10000)');
SELECT is(tests.error_text($$SELECT * FROM protector.get_todays_bookings_by_hour('0a640000-0000-4000-8000-000000000000',
	NULL, '10000-01-02')$$),
	'22008 | p_date must be a date between 0001-01-02 and 9999-12-30 | Got 10000-01-02.', '... in the dashboards too');
SELECT is(tests.error_text($$SELECT * FROM protector.get_available_slots('0a640000-0000-4000-8000-0000000005a1',
	'0001-01-01 BC', '2027-01-02', false)$$),
	'22008 | p_from and p_to must be dates between the years 1 and 9999 | Got 0001-01-01 BC to 2027-01-02.',
	'... and before the year 1');
RESET DateStyle;
SET LOCAL TimeZone = 'UTC';

-- a booking's Supabase Realtime broadcast: Realtime's to_jsonb() of the
-- row printed "during" in the writer's settings, and a writer under
-- 'Postgres, MDY' in UTC-14 (+14:00) sent a range that read back 14 hours
-- off (an attack on session settings)
SET LOCAL client_min_messages = warning;
SELECT protector.enable_realtime() IS NOT NULL AS realtime_on \gset
DELETE FROM realtime.messages;
SET LOCAL DateStyle = 'Postgres, MDY';
SET LOCAL TimeZone = 'UTC-14';
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('0a640000-0000-4000-8000-00000000b0b5', '0a640000-0000-4000-8000-000000000000', '0a640000-0000-4000-8000-0000000000a1',
		'0a640000-0000-4000-8000-0000000005a1', tstzrange('2029-05-04 18:00+00', '2029-05-04 19:00+00'), 'confirmed');
SELECT is(current_setting('DateStyle') || ' ' || current_setting('TimeZone'), 'Postgres, MDY UTC-14',
	'the writer''s settings are as they were after the broadcast');
RESET DateStyle;
SET LOCAL TimeZone = 'UTC';
SELECT is((SELECT payload -> 'record' ->> 'during' FROM realtime.messages
		   WHERE payload -> 'record' ->> 'id' = '0a640000-0000-4000-8000-00000000b0b5'),
	'["2029-05-04 18:00:00+00","2029-05-04 19:00:00+00")',
	'a booking''s Realtime broadcast prints "during" in UTC and ISO whoever writes it');
SELECT is((SELECT payload -> 'record' ->> 'created_at' ~ '\+00:00$' FROM realtime.messages
		   WHERE payload -> 'record' ->> 'id' = '0a640000-0000-4000-8000-00000000b0b5'), true,
	'... and its timestamps in UTC');

-- claims too deep to be a token are bad input, refused where they are met
SELECT tests.create_supabase_user('ss_user') IS NOT NULL AS made \gset
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "' || tests.get_supabase_uid('ss_user') || '", "x": '
				  || repeat('[', 32000) || repeat(']', 32000) || '}', true) IS NOT NULL AS deep \gset
SELECT throws_ok('SELECT protector.current_user_id()', '22023', 'request.jwt.claims is nested too deeply',
	'claims nested 32,000 levels deep are refused (they ran out of stack: 54001)');
SELECT set_config('request.jwt.claims', '{"sub": "' || tests.get_supabase_uid('ss_user') || '", "x": '
				  || repeat('{"a": ', 99) || '1' || repeat('}', 99) || '}', true) IS NOT NULL AS deep \gset
SELECT is(protector.current_user_id(), tests.get_supabase_uid('ss_user'), '... while 100 levels are read');
SELECT set_config('request.jwt.claims', '{"sub": "' || tests.get_supabase_uid('ss_user') || '", "x": '
				  || repeat('{"a": ', 100) || '1' || repeat('}', 100) || '}', true) IS NOT NULL AS deep \gset
SELECT throws_ok('SELECT protector.current_user_id()', '22023', 'request.jwt.claims is nested too deeply', '... and 101 are not');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
