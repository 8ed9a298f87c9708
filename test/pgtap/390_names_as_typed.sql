-- Text beyond ASCII, as an attack review found it: a waiver's participants
-- were told apart by their transliterated names, so 张伟 and 张薇 (both
-- "zhang wei") were one person: the second could not sign, and 章伟 listed
-- passed the gate on 张伟's signature.  The widget lower-cased an e-mail
-- before the desk's key folded it (İ became a plain i: a second customer,
-- and the address stored changed).  A phone saved before phones were
-- checked stopped find_duplicate_customers for the whole organization.
BEGIN;
SELECT plan(16);

SELECT tests.create_supabase_user('nt_owner');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a390000-0000-4000-8000-000000000000', 'N', 'names-as-typed');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a390000-0000-4000-8000-000000000000', tests.get_supabase_uid('nt_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone, widget_settings) VALUES
	('0a390000-0000-4000-8000-0000000000a1', '0a390000-0000-4000-8000-000000000000', 'V', 'UTC', '{"auto_confirm": true}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a390000-0000-4000-8000-0000000005a1', '0a390000-0000-4000-8000-000000000000', '0a390000-0000-4000-8000-0000000000a1',
		'Hall', '60 minutes', '60 minutes', '400 days', 100, 6, 'shared');
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '3 days' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int) TO anon, authenticated;
CREATE TEMP TABLE k AS SELECT embed_key AS key FROM protector.venues WHERE id = '0a390000-0000-4000-8000-0000000000a1';
GRANT SELECT ON k TO anon;
CREATE TEMP TABLE ids (name text PRIMARY KEY, id uuid);
GRANT SELECT, INSERT ON ids TO authenticated;

-- waivers: two participants whose names transliterate alike
SELECT tests.authenticate_as('nt_owner');
INSERT INTO ids SELECT 'waiver', (protector.create_waiver('0a390000-0000-4000-8000-000000000000', 'W', 'Body') ->> 'waiver_id')::uuid;
SELECT tests.clear_authentication();
UPDATE protector.services SET waiver_id = (SELECT id FROM ids WHERE name = 'waiver') WHERE id = '0a390000-0000-4000-8000-0000000005a1';
SELECT tests.authenticate_as('nt_owner');
INSERT INTO ids SELECT 'booking', (protector.create_booking('0a390000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(14), 2) ->> 'id')::uuid;
SELECT lives_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), '张伟', '1990-05-01', '张伟', '张伟',
												(SELECT id FROM ids WHERE name = 'booking'))$$, '张伟 signs');
SELECT lives_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), '张薇', '1990-05-01', '张薇', '张薇',
												(SELECT id FROM ids WHERE name = 'booking'))$$,
	'张薇, born the same day, signs too: another person (it read "张薇 has already signed")');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), ' 张伟 ', '1990-05-01', '张伟', '张伟',
												 (SELECT id FROM ids WHERE name = 'booking'))$$,
	'22023', '张伟 has already signed the waiver of this booking',
	'... while 张伟 again (spaces aside) is one participant, who has signed');
SELECT tests.clear_authentication();
-- the gate: 章伟 listed, 张伟 and 张薇 signed
UPDATE protector.bookings SET details = '{"participants": ["张伟", "章伟"]}', during = tstzrange(now() - interval '5 minutes', now() + interval '55 minutes')
WHERE id = (SELECT id FROM ids WHERE name = 'booking');
SELECT throws_ok($$UPDATE protector.bookings SET status = 'in_progress' WHERE id = (SELECT id FROM ids WHERE name = 'booking')$$,
	'22023', 'not every participant listed has signed the waiver "W"',
	'章伟 listed has not signed: 张伟''s signature is not theirs (the booking went in_progress)');

-- a participant name of marks only (U+0301; a variation selector alone is
-- refused before, as hidden text) has nothing to tell participants apart
-- by: refused to sign, and counted missing when listed
SELECT tests.authenticate_as('nt_owner');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), E'\u0301', '1990-05-01', 'Pat Roe', 'Pat Roe',
												 (SELECT id FROM ids WHERE name = 'booking'))$$,
	-- (since the fifty-fourth stop the text check itself says it: nothing
	-- visible; "." still meets the comparison's, pgTAP 510)
	'22023', 'participant_name must hold a visible character',
	'a participant named only U+0301 is refused (each such signature was a participant of its own)');
SELECT tests.clear_authentication();
UPDATE protector.bookings SET details = jsonb_build_object('participants', jsonb_build_array('张伟', E'\u0301'))
WHERE id = (SELECT id FROM ids WHERE name = 'booking');
SELECT throws_ok($$UPDATE protector.bookings SET status = 'in_progress' WHERE id = (SELECT id FROM ids WHERE name = 'booking')$$,
	'22023', 'not every participant listed has signed the waiver "W"',
	'a listed participant named only U+0301 matches no signature: the booking does not start');
SELECT is(tests.error_text($$UPDATE protector.bookings SET status = 'in_progress', details = '{"participants": ["张伟", " ", "?"]}'
							  WHERE id = (SELECT id FROM ids WHERE name = 'booking')$$),
	'22023 | not every participant listed has signed the waiver "W" | Not signed: entry 2 ("", no letter or digit: nobody can sign it), '
	|| 'entry 3 ("?", no letter or digit: nobody can sign it). | A booking whose service asks for a waiver goes in_progress, or completed, once every participant has signed it (submit_waiver).',
	'... and the error names such entries by their place (it read "Not signed: , ?.")');

-- e-mail: the desk's key and the widget's are one
SELECT tests.authenticate_as('nt_owner');
SELECT protector.create_customer('0a390000-0000-4000-8000-000000000000', 'Ali Desk', 'ALİ@example.com');
SELECT tests.authenticate_as_anon();
SELECT protector.create_widget_booking((SELECT key FROM k), '0a390000-0000-4000-8000-0000000005a1', 'Ali Web',
									   'ALİ@example.com', NULL, pg_temp.t(10), 1);
SELECT protector.create_widget_booking((SELECT key FROM k), '0a390000-0000-4000-8000-0000000005a1', 'Zoe Web',
									   'Zoe.Web@Example.com', NULL, pg_temp.t(11), 1);
SELECT tests.clear_authentication();
SELECT is((SELECT array_agg(full_name) FROM protector.customers
		   WHERE organization_id = '0a390000-0000-4000-8000-000000000000' AND full_name LIKE 'Ali %'),
	'{"Ali Desk"}', 'the widget''s ALİ@example.com is the desk''s customer, no second one');
SELECT is((SELECT array_agg(email ORDER BY email) FROM protector.customers
		   WHERE organization_id = '0a390000-0000-4000-8000-000000000000' AND email IS NOT NULL),
	'{ALİ@example.com,Zoe.Web@Example.com}', 'a new widget customer''s address is stored as typed (it was lower-cased: zoe.web@example.com)');

-- a widget retry across the update of the replay key (it hashed the
-- lower()-cased address): the booking made under the old key, for the
-- visitor's customer record (as every widget booking is), replays
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a390000-0000-4000-8000-0000000000c5', '0a390000-0000-4000-8000-000000000000', 'Hans', 'Straße@example.de');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, source, idempotency_key)
SELECT '0a390000-0000-4000-8000-000000000000', '0a390000-0000-4000-8000-0000000000a1', '0a390000-0000-4000-8000-0000000005a1',
	   '0a390000-0000-4000-8000-0000000000c5', tstzrange(pg_temp.t(15), pg_temp.t(16)), 'confirmed', 'widget',
	   'widget/' || md5(lower('Straße@example.de')) || '/0a390000-0000-4000-8000-0000000000a1/retry-1';
SELECT tests.authenticate_as_anon();
SELECT is((protector.create_widget_booking((SELECT key FROM k), '0a390000-0000-4000-8000-0000000005a1', 'Hans',
										   'Straße@example.de', NULL, pg_temp.t(15), 1, 'retry-1') ->> 'replayed'), 'true',
	'a retry with the same request key replays the booking made under the old key (it booked again)');
SELECT tests.clear_authentication();

-- a phone from before phones were checked (over 100 bytes: 40 full-width
-- digits), loaded as an import is, past today's checks
SET LOCAL session_replication_role = replica;
INSERT INTO protector.customers (organization_id, full_name, phone) VALUES
	('0a390000-0000-4000-8000-000000000000', 'Old Row', repeat('１', 40)),
	('0a390000-0000-4000-8000-000000000000', 'Ana', '+49 30 1234'),
	('0a390000-0000-4000-8000-000000000000', 'Ana', '0049 30 1234');
SET LOCAL session_replication_role = origin;
SELECT tests.authenticate_as('nt_owner');
SELECT is((SELECT array_agg(reason ORDER BY reason) FROM protector.find_duplicate_customers('0a390000-0000-4000-8000-000000000000')),
	'{"same name and phone ending","same phone"}',
	'find_duplicate_customers passes over the legacy phone and finds the two Anas (it failed for the whole organization)');
SELECT tests.clear_authentication();
SELECT throws_ok($$SELECT protector.normalize_phone(repeat('１', 34))$$, '22023', 'phone must be at most 100 bytes',
	'normalize_phone says what it counts: 34 full-width digits are 102 bytes (it said "100 characters")');
SELECT tests.authenticate_as('nt_owner');
SELECT is((SELECT array_agg((protector.create_waiver('0a390000-0000-4000-8000-000000000000', n, 'Body') ->> 'version')::int ORDER BY o)
		   FROM (VALUES (1, E'Caf\u00e9 waiver'), (2, E'Cafe\u0301 waiver')) v(o, n)),
	'{1,2}', 'Café typed composed, then decomposed: one waiver, versions 1 and 2 (it made a second waiver)');
SELECT tests.clear_authentication();
INSERT INTO protector.waivers (organization_id, name) VALUES ('0a390000-0000-4000-8000-000000000000', E'Tea\u0301 waiver');
SELECT is((SELECT name FROM protector.waivers WHERE organization_id = '0a390000-0000-4000-8000-000000000000' AND name LIKE 'Te%'),
	E'Te\u00e1 waiver', 'a waiver name written directly, decomposed, is stored composed (NFC)');
SELECT is(protector_internal.typed_name(' Zoë  ÅNGSTRÖM '), protector_internal.typed_name('zoe angstrom'),
	'typed_name is names_match''s key: case, spacing and Latin accents aside');

-- (and every space a name may hold is a space: U+1680, the one the NFKC
-- fold keeps, refused a signature typed with it; an encodings attack)
SELECT is(ARRAY[protector_internal.names_match('Anna Schmidt', 'Anna' || chr(5760) || 'Schmidt'),
				protector_internal.names_match('Anna Schmidt', 'Anna' || chr(12288) || 'Schmidt'),
				protector_internal.typed_name('Anna' || chr(5760) || chr(5760) || 'Schmidt') = protector_internal.typed_name('anna schmidt')],
	ARRAY[true, true, true], 'an Ogham space mark between two names is a space, as an ideographic one is');

SELECT * FROM finish();
ROLLBACK;
