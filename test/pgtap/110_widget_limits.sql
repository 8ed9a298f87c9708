-- The widget as a greedy visitor would use it: per-visitor limits by
-- e-mail and by client address, holds that expire, guest records for
-- account holders' e-mails, and text with hidden characters.
BEGIN;
SELECT plan(66);

SELECT tests.create_supabase_user('l_owner');
SELECT tests.create_supabase_user('l_holder');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a110000-0000-4000-8000-000000000000', 'L', 'limits');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a110000-0000-4000-8000-000000000000', tests.get_supabase_uid('l_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone, widget_settings) VALUES
	('0a110000-0000-4000-8000-0000000000a1', '0a110000-0000-4000-8000-000000000000', 'Hall', 'UTC',
	 '{"visitor_bookings_per_hour": 2, "address_bookings_per_hour": 3, "bookings_per_minute": 100}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party) VALUES
	('0a110000-0000-4000-8000-0000000005a1', '0a110000-0000-4000-8000-000000000000', '0a110000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days', 1, 4);
INSERT INTO protector.customers (organization_id, full_name, email, user_id) VALUES
	('0a110000-0000-4000-8000-000000000000', 'Holder', 'holder@example.com', tests.get_supabase_uid('l_holder'));
CREATE TEMP TABLE k AS SELECT embed_key AS key FROM protector.venues WHERE id = '0a110000-0000-4000-8000-0000000000a1';
GRANT SELECT ON k TO anon;
-- hour h of the day after tomorrow
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '2 days' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int) TO anon;
CREATE FUNCTION pg_temp.book(p_name text, p_email text, p_hour int, p_details jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql AS $$
	SELECT protector.create_widget_booking((SELECT key FROM k), '0a110000-0000-4000-8000-0000000005a1',
		p_name, p_email, NULL, pg_temp.t(p_hour), 1, NULL, p_details)
$$;
GRANT EXECUTE ON FUNCTION pg_temp.book(text, text, int, jsonb) TO anon;

SELECT tests.authenticate_as_anon();

-- one e-mail: 2 bookings an hour
SELECT is(pg_temp.book('Greedy', 'greedy@example.com', 1) ->> 'status', 'held', 'a visitor''s first booking');
SELECT is(pg_temp.book('Greedy', 'GREEDY@example.com ', 2) ->> 'status', 'held', '... and second (the same e-mail, however written)');
SELECT throws_ok($$SELECT pg_temp.book('Greedy', 'greedy@example.com', 3)$$, '53400',
	'too many bookings from you through this widget; try again later', 'the third within the hour is refused');
SELECT throws_like($$SELECT pg_temp.book('Greedy', 'greedy@example.com', 3)$$,
	'%too many bookings from you%', '... with the limits in the detail');
-- (a review) a request refused anyway is refused for that, whatever the
-- address: a start in the past answered 53400 for an address that had
-- booked within the hour and 22023 for any other, an oracle that left no
-- trace
SELECT throws_ok($$SELECT protector.create_widget_booking((SELECT key FROM k), '0a110000-0000-4000-8000-0000000005a1',
	'Greedy', 'greedy@example.com', NULL, now() - interval '1 day', 1)$$, '22023', NULL,
	'a request for a past start is refused for it, not for the address''s limit: nothing told of who booked');
SELECT is(pg_temp.book('Other', 'other@example.com', 3) ->> 'status', 'held', 'another visitor still books: one visitor cannot exhaust the venue');
-- (an attack review) a visitor writes no refund's note, which is
-- protector's: one of 100% stood on a live booking for staff to read
SELECT throws_ok($$SELECT protector.create_widget_booking((SELECT key FROM k), '0a110000-0000-4000-8000-0000000005a1',
	'Ana', 'ana@example.com', NULL, date_trunc('hour', now()) + interval '2 days', 1, NULL,
	'{"refund": {"amount": 20.00, "percent": 100, "fee": 0}}')$$, '22023', 'p_details.refund is protector''s',
	'a visitor''s details carry no refund note');

-- one client address (PostgREST's request.headers): 3 bookings an hour
SELECT set_config('request.headers', '{"x-forwarded-for": "203.0.113.7, 10.0.0.1"}', true);
SELECT is(pg_temp.book('A1', 'a1@example.com', 4) ->> 'status', 'held', 'from 203.0.113.7: one');
SELECT is(pg_temp.book('A2', 'a2@example.com', 5) ->> 'status', 'held', '... two');
SELECT is(pg_temp.book('A3', 'a3@example.com', 6) ->> 'status', 'held', '... three (other e-mails each time)');
SELECT throws_ok($$SELECT pg_temp.book('A4', 'a4@example.com', 7)$$, '53400', NULL,
	'a fourth e-mail from the same address is refused (first hop of x-forwarded-for)');
SELECT set_config('request.headers', '{"x-forwarded-for": "198.51.100.9"}', true);
SELECT is(pg_temp.book('A4', 'a4@example.com', 7) ->> 'status', 'held', 'another address books');
-- an IPv6 client counts as its /64: three addresses of one, then a fourth
SELECT set_config('request.headers', '{"x-forwarded-for": "2001:db8:1:2::1"}', true);
SELECT is(pg_temp.book('V1', 'v1@example.com', 20) ->> 'status', 'held', 'from 2001:db8:1:2::1: one');
SELECT set_config('request.headers', '{"x-forwarded-for": "2001:db8:1:2::2"}', true);
SELECT is(pg_temp.book('V2', 'v2@example.com', 21) ->> 'status', 'held', 'from ::2 of the same /64: two');
SELECT set_config('request.headers', '{"x-forwarded-for": "2001:db8:1:2:ffff::3"}', true);
SELECT is(pg_temp.book('V3', 'v3@example.com', 22) ->> 'status', 'held', 'from another address of it: three');
SELECT set_config('request.headers', '{"x-forwarded-for": "2001:db8:1:2::4"}', true);
SELECT throws_ok($$SELECT pg_temp.book('V4', 'v4@example.com', 23)$$, '53400', NULL,
	'a fourth address of the same /64 is refused: one subscriber''s addresses are one client');
-- IPv4 clients a dual-stack proxy reports as ::ffff:a.b.c.d are IPv4
-- addresses, not one /64 (::/64) for all of them
SELECT tests.clear_authentication();
SELECT is((SELECT array_agg(host(protector_internal.request_client_address()) ORDER BY x)
		   FROM (VALUES ('::ffff:203.0.113.1'), ('2001:db8:1:2::9'), ('64:ff9b::198.51.100.2'), ('192.0.2.3/24')) v(x),
				LATERAL (SELECT set_config('request.headers', json_build_object('x-forwarded-for', v.x)::text, true)) s),
	'{192.0.2.3,2001:db8:1:2::,64:ff9b::c633:6402,203.0.113.1}',
	'client addresses: an IPv6 /64, an IPv4 address given with a mask, a mapped IPv4 address, a NAT64 one by itself');
SELECT is((SELECT array_agg(host(protector_internal.request_client_address()) ORDER BY x)
		   FROM (VALUES ('203.0.113.9:443'), ('[2001:db8:1:2::9]:8443'), ('[2001:db8:5::1]')) v(x),
				LATERAL (SELECT set_config('request.headers', json_build_object('x-forwarded-for', v.x)::text, true)) s),
	'{203.0.113.9,2001:db8:1:2::,2001:db8:5::}',
	'... also with a port, as some proxies write them (the limit went off with one)');
-- protector.client_address: which header, which entry of it (an attack
-- review: behind a gateway that appends to the header the client sent, as
-- Cloudflare and Kong do, the first entry is the visitor's own choice,
-- and each invented one was a fresh address)
SELECT set_config('request.headers', '{"x-forwarded-for": "203.0.113.1, 198.51.100.7", "cf-connecting-ip": "198.51.100.8"}', true);
SELECT is(host(protector_internal.request_client_address()), '203.0.113.1', 'by default the first entry of x-forwarded-for');
SET LOCAL protector.client_address = 'x-forwarded-for:-1';
SELECT is(host(protector_internal.request_client_address()), '198.51.100.7',
	'x-forwarded-for:-1: its last entry, the one an appending gateway wrote');
SET LOCAL protector.client_address = 'cf-connecting-ip';
SELECT is(host(protector_internal.request_client_address()), '198.51.100.8', 'cf-connecting-ip: the header Cloudflare overwrites');
SET LOCAL protector.client_address = 'x-forwarded-for:3';
SELECT is(protector_internal.request_client_address(), NULL, 'an entry the header does not have: no address');
SELECT throws_ok($$SET LOCAL protector.client_address = 'X-Forwarded-For:0'$$, '22023', NULL,
	'a setting that names no header in lower case, or hop 0, is refused');
RESET protector.client_address;
-- a NUL in another header (PostgREST writes it \u0000) failed the whole
-- read, 22P05, and the widget's booking with it (a review)
SELECT set_config('request.headers', '{"user-agent": "a\u0000b", "x-forwarded-for": "203.0.113.9"}', true);
SELECT is(host(protector_internal.request_client_address()), '203.0.113.9', 'a NUL in another header leaves the address read');
SELECT set_config('request.headers', '{"x-forwarded-for": "203.0.113.9\u0000"}', true);
SELECT is(protector_internal.request_client_address(), NULL, '... and one in the address is no address');
SELECT tests.authenticate_as_anon();
SELECT set_config('request.headers', '{"x-forwarded-for": "not an address"}', true);
SELECT is(pg_temp.book('A5', 'a5@example.com', 8) ->> 'status', 'held', 'a header that is no address is ignored');
SELECT set_config('request.headers', '', true);

-- hidden characters
SELECT throws_ok($$SELECT pg_temp.book(E'Ann\u202Egnp.exe', 'rlo@example.com', 9)$$, '22023',
	'the booking holds control or invisible direction characters', 'a right-to-left override in a name is refused');
SELECT throws_ok($$SELECT pg_temp.book(E'Ann\nBob', 'nl@example.com', 9)$$, '22023', NULL, 'a line break in a name is refused');
SELECT throws_ok($$SELECT pg_temp.book('Ann', 'det@example.com', 9, jsonb_build_object('note', E'a\u0007b'))$$, '22023', NULL,
	'... and control characters deep in the details');
SELECT throws_ok($$SELECT pg_temp.book('Ann', 'det@example.com', 9, jsonb_build_object(E'k\u2066', 'x'))$$, '22023', NULL,
	'... or in a details key');
SELECT throws_ok($$SELECT pg_temp.book(U&'\3164\3164\3164', 'filler@example.com', 9)$$, '22023', NULL,
	'a name of Hangul fillers (it renders blank) is refused');
SELECT throws_ok($$SELECT pg_temp.book(U&'Ana\+0E0041\+0E0042', 'tags@example.com', 9)$$, '22023', NULL,
	'... and one carrying hidden tag characters');
SELECT throws_ok($$SELECT pg_temp.book('Ana' || (SELECT string_agg(chr(917760 + ascii(c)), '') FROM regexp_split_to_table('refund', '') c),
										'vs-run@example.com', 9)$$, '22023', NULL,
	'... and one carrying hidden text in a run of variation selectors');
SELECT is(pg_temp.book(U&'\845B\+0E0100 Ana \2764\FE0F', 'ivs@example.com', 19) ->> 'status', 'held',
	'a variation selector after a character stays (an ideographic variation sequence, an emoji)');
SELECT throws_ok($$SELECT pg_temp.book(U&'An\180Ea', 'mvs@example.com', 9)$$, '22023', NULL,
	'... and one with the Mongolian vowel separator');
SELECT throws_ok($$SELECT pg_temp.book(U&'\2800\2800', 'braille@example.com', 9)$$, '22023', NULL,
	'... and one of braille blanks');
-- ... and names of spaces of other scripts, of variation selectors or of
-- combining marks alone, and invisible Egyptian format controls (a review
-- had them stored)
SELECT throws_ok($$SELECT pg_temp.book(U&'\3000\3000', 'wide@example.com', 9)$$, '22023',
	'p_customer_name must hold a visible character', 'a name of ideographic spaces renders blank: refused');
SELECT throws_ok($$SELECT pg_temp.book(U&'\2002\2003', 'em@example.com', 9)$$, '22023',
	'p_customer_name must hold a visible character', '... and one of en and em spaces');
SELECT throws_ok($$SELECT pg_temp.book(U&'\FE0F\FE0E', 'vs@example.com', 9)$$, '22023',
	'p_customer_name must hold a visible character', '... and one of variation selectors');
SELECT throws_ok($$SELECT pg_temp.book(U&'\0301\0308', 'marks@example.com', 9)$$, '22023',
	'p_customer_name must hold a visible character', '... and one of combining marks');
SELECT throws_ok($$SELECT pg_temp.book(U&'\0591\05B0\064B', 'points@example.com', 9)$$, '22023',
	'p_customer_name must hold a visible character', '... and one of Hebrew points and Arabic harakat');
SELECT throws_ok($$SELECT pg_temp.book(U&'\180B\180C', 'fvs@example.com', 9)$$, '22023',
	'p_customer_name must hold a visible character', '... and one of Mongolian variation selectors');
SELECT throws_ok($$SELECT pg_temp.book(U&'Ana\+013430', 'egypt@example.com', 9)$$, '22023', NULL,
	'... and a name hiding an Egyptian hieroglyph format control');
-- ... by Unicode category, not a list of ranges, which missed musical
-- and kana marks and the ideographic tone marks (a second review had
-- them stored), and the Syriac abbreviation mark, an invisible format
-- character
SELECT throws_ok($$SELECT pg_temp.book(U&'\+01D17B\+01D185', 'music@example.com', 9)$$, '22023',
	'p_customer_name must hold a visible character', '... and one of musical combining marks');
SELECT throws_ok($$SELECT pg_temp.book(U&'\3099\3099\302A', 'kana@example.com', 9)$$, '22023',
	'p_customer_name must hold a visible character', '... and one of kana voicing and ideographic tone marks');
SELECT throws_ok($$SELECT pg_temp.book(U&'\070F', 'sam@example.com', 9)$$, '22023',
	'p_customer_name must hold a visible character', '... and the Syriac abbreviation mark alone');
SELECT throws_ok($$SELECT pg_temp.book(U&'Ana\070F', 'sam2@example.com', 9)$$, '22023',
	'the booking holds control or invisible direction characters', '... which no name holds beside letters either');
SELECT is(pg_temp.book('Zoë Ölund-Ñúñez 李', 'zoe@example.com', 9) ->> 'status', 'held', 'letters of any script are fine');
-- zero-width (non-)joiners where scripts need them are part of the name
-- (a Persian surname, an emoji ZWJ sequence were refused)
SELECT is(pg_temp.book(U&'\062D\0633\06CC\0646\200C\0632\0627\062F\0647', 'hz@example.com', 16) ->> 'status', 'held',
	'a Persian name with its zero-width non-joiner books');
SELECT throws_ok($$SELECT pg_temp.book('Some' || U&'\200D' || 'one', 'zwj@example.com', 17)$$, '22023', NULL,
	'... a joiner between Latin letters, which no name needs, is still refused');
SELECT throws_ok($$SELECT pg_temp.book('Some' || U&'\FE0F\200D' || 'one', 'zwj2@example.com', 17)$$, '22023', NULL,
	'... also behind a variation selector (allowed after an emoji only)');
SELECT throws_ok($$SELECT pg_temp.book(U&'\FE0F\200D', 'vszwj@example.com', 17)$$, '22023',
	'p_customer_name must hold a visible character', '... and a name of a variation selector and a joiner renders blank');
SELECT is(pg_temp.book(U&'\0710\072A\200D\0710', 'syriac@example.com', 18) ->> 'status', 'held',
	'a Syriac name with its joiner books');

-- an account holder's e-mail books a guest record, never their account
SELECT is(pg_temp.book('Impostor', 'Holder@Example.com', 10) ->> 'status', 'held', 'someone books with an account holder''s e-mail');
SELECT tests.clear_authentication();
SELECT is((SELECT array_agg(user_id IS NULL ORDER BY user_id IS NULL) FROM protector.customers WHERE lower(email) = 'holder@example.com'),
	'{f,t}'::boolean[], '... the booking went to a new guest record beside the account holder''s');
SELECT tests.authenticate_as('l_holder');
SELECT is((SELECT count(*)::int FROM protector.bookings), 0, '... so the account holder does not see it as theirs');

-- holds expire unless confirmed
SELECT tests.clear_authentication();
SELECT ok((SELECT hold_expires_at BETWEEN now() + interval '14 minutes' AND now() + interval '16 minutes'
		   FROM protector.bookings WHERE lower(during) = pg_temp.t(1)), 'a widget hold lasts 15 minutes by default');
SELECT is((SELECT count(*)::int FROM protector.notifications WHERE kind = 'booking.awaiting_confirmation'), 16,
	'the desk is told of every booking awaiting confirmation');
UPDATE protector.bookings SET hold_expires_at = now() - interval '1 second' WHERE lower(during) = pg_temp.t(1);
SELECT tests.authenticate_as_anon();
SELECT is(pg_temp.book('Late', 'late@example.com', 1) ->> 'status', 'held', 'an expired hold frees its slot for the next visitor');
SELECT tests.authenticate_as('l_owner');
SELECT is((SELECT protector.confirm_booking(id) ->> 'status' FROM protector.bookings WHERE lower(during) = pg_temp.t(2)),
	'confirmed', 'staff confirm a widget hold');
SELECT is((SELECT count(*)::int FROM protector.tasks t JOIN protector.bookings b ON b.id = t.booking_id
		   WHERE lower(b.during) = pg_temp.t(2) AND t.kind = 'booking_review'), 1, '... which gets its review task then');

-- a returning guest is found as identity_key compares e-mails: the same
-- address in fullwidth letters is the same guest (it made a second one)
SELECT tests.authenticate_as_anon();
SELECT pg_temp.book('Casey', 'casey@example.com', 14) \g /dev/null
SELECT pg_temp.book('Casey', U&'\FF43\FF41sey@example.com', 15) \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.customers WHERE identity_key = 'casey@example.com'), 1,
	'a visitor''s e-mail in fullwidth letters books the guest record of the same address');

-- the rate-limit records (an e-mail key, an address) are kept a day:
-- the scheduled sweep deletes older ones of every venue, also of a venue
-- that takes no more widget bookings (they were kept for good)
SELECT tests.clear_authentication();
UPDATE protector_internal.widget_requests SET created_at = now() - interval '25 hours'
WHERE id = (SELECT min(id) FROM protector_internal.widget_requests);
SELECT tests.authenticate_as_service_role();
SELECT protector.expire_holds() \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector_internal.widget_requests WHERE created_at < now() - interval '1 day'), 0,
	'expire_holds deletes widget rate-limit records older than a day');
SELECT ok((SELECT count(*) FROM protector_internal.widget_requests) > 0, '... and keeps the day''s');

-- ... finding the old ones through an index: a sweep (every minute where
-- pg_cron runs it) read the whole day's requests of every venue
INSERT INTO protector_internal.widget_requests (organization_id, venue_id, identity_key, created_at)
SELECT '0a110000-0000-4000-8000-000000000000', '0a110000-0000-4000-8000-0000000000a1', 'bulk' || i || '@example.com',
	   now() - i * interval '10 seconds'
FROM generate_series(1, 5000) i;
INSERT INTO protector_internal.widget_requests (organization_id, venue_id, identity_key, created_at)
SELECT '0a110000-0000-4000-8000-000000000000', '0a110000-0000-4000-8000-0000000000a1', 'old' || i || '@example.com',
	   now() - interval '25 hours' - i * interval '1 minute'
FROM generate_series(1, 20) i;
ANALYZE protector_internal.widget_requests;
CREATE TEMP TABLE sweep_reads AS SELECT tests.rows_read('protector_internal.widget_requests') AS before;
SELECT is(protector_internal.prune_widget_requests(), 20, 'the sweep deletes the 20 requests of more than a day ago ...');
SELECT cmp_ok(tests.rows_read('protector_internal.widget_requests') - (SELECT before FROM sweep_reads), '<', 200::bigint,
	'... reading them, not the 5,000 of the day');

SELECT * FROM finish();
ROLLBACK;
