-- Digital waivers: templates with versions that never change once signed,
-- signatures checked (typed name, age on the venue's local date, minimum
-- age, a guardian for minors), digests that verify_waiver_signature
-- recomputes, linking, the in_progress gate naming who is missing, the
-- export, and who may do what by the capability map.  Ages are built from
-- the venue's local date so that every one is exact; each is worked out
-- in the comment beside it.  Hashing and the age rules on fixed dates:
-- test/sql/015_waivers.sql.
BEGIN;
SELECT plan(92);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['w_owner', 'w_manager', 'w_operator', 'w_agent', 'w_finance',
														'w_viewer', 'w_customer', 'w_other']) u;
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES
	('0a170000-0000-4000-8000-000000000000', 'Climb', 'climb', 'Europe/Berlin'),
	('0b170000-0000-4000-8000-000000000000', 'Other', 'climb-other', 'UTC');
-- agents are assigned here without shifts (docs/staff.md)
UPDATE protector.organizations SET settings = settings || '{"staff": {"require_shifts": false}}';
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a170000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'manager', 'operator', 'agent', 'finance', 'viewer']) r;
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0b170000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_other'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a170000-0000-4000-8000-0000000000a1', '0a170000-0000-4000-8000-000000000000', 'Wall', 'Europe/Berlin');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity,
								max_party, mode) VALUES
	('0a170000-0000-4000-8000-0000000005a1', '0a170000-0000-4000-8000-000000000000', '0a170000-0000-4000-8000-0000000000a1',
	 'Climbing', '60 minutes', '60 minutes', '400 days', 100, 8, 'shared'),
	('0a170000-0000-4000-8000-0000000005a2', '0a170000-0000-4000-8000-000000000000', '0a170000-0000-4000-8000-0000000000a1',
	 'Tour', '60 minutes', '60 minutes', '400 days', 100, 8, 'shared');
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email) VALUES
	('0a170000-0000-4000-8000-00000000c001', '0a170000-0000-4000-8000-000000000000', tests.get_supabase_uid('w_customer'),
	 'Cara', 'cara@example.com');
-- b1: climbing now, party of 3, listed by name, Cara's, the agent's;
-- b2: climbing, party of 1; b3: the tour (no waiver)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, party_size,
								details, assigned_agent) VALUES
	('0a170000-0000-4000-8000-0000000000b1', '0a170000-0000-4000-8000-000000000000', '0a170000-0000-4000-8000-0000000000a1',
	 '0a170000-0000-4000-8000-0000000005a1', '0a170000-0000-4000-8000-00000000c001',
	 tstzrange(now() - interval '10 minutes', now() + interval '50 minutes'), 'confirmed', 3,
	 '{"participants": [{"name": "Ann Adult"}, {"name": "Ben Minor"}, "Cy Third"]}', tests.get_supabase_uid('w_agent')),
	('0a170000-0000-4000-8000-0000000000b2', '0a170000-0000-4000-8000-000000000000', '0a170000-0000-4000-8000-0000000000a1',
	 '0a170000-0000-4000-8000-0000000005a1', NULL, tstzrange(now() + interval '1 day', now() + interval '1 day 1 hour'),
	 'confirmed', 1, '{}', NULL),
	('0a170000-0000-4000-8000-0000000000b3', '0a170000-0000-4000-8000-000000000000', '0a170000-0000-4000-8000-0000000000a1',
	 '0a170000-0000-4000-8000-0000000005a2', NULL, tstzrange(now() + interval '1 day', now() + interval '1 day 1 hour'),
	 'confirmed', 1, '{}', NULL);
-- today at the venue (Berlin), and a birth date making someone exactly n
-- years old there today (n - 1 if born tomorrow)
CREATE FUNCTION pg_temp.born(n int, days int DEFAULT 0) RETURNS date LANGUAGE sql AS $$
	SELECT ((now() AT TIME ZONE 'Europe/Berlin')::date - make_interval(years => n))::date + days
$$;
GRANT EXECUTE ON FUNCTION pg_temp.born(int, int) TO authenticated;
CREATE TEMP TABLE ids (name text PRIMARY KEY, id uuid);
GRANT SELECT, INSERT ON ids TO authenticated;

-- 1. templates and versions
SELECT tests.authenticate_as('w_manager');
INSERT INTO ids SELECT 'waiver', (w ->> 'waiver_id')::uuid FROM protector.create_waiver('0a170000-0000-4000-8000-000000000000',
	'Climbing waiver', E'I climb at my own risk.\nI follow the staff.', p_minimum_age => 8) w;
SELECT is((SELECT version || ' ' || body_sha256 FROM protector.waiver_versions WHERE waiver_id = (SELECT id FROM ids WHERE name = 'waiver')),
	'1 ' || encode(sha256(convert_to(E'I climb at my own risk.\nI follow the staff.', 'UTF8')), 'hex'),
	'version 1, with the SHA-256 of its text');
SELECT is((SELECT (w ->> 'version') || ' ' || (w ->> 'minimum_age') || ' ' || (w ->> 'guardian_under')
		   FROM protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'Climbing waiver',
										E'I climb at my own risk.\nI follow the staff.\nI wear a helmet.', 'Climbing', 8) w),
	'2 8 18', 'the same name again: version 2 (minimum age 8, a guardian under 18)');
SELECT throws_ok($$SELECT protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'X', '   ')$$, '22023',
	'p_body must be 1 to 100000 characters', 'an empty text');
SELECT throws_ok($$SELECT protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'X', 'text', p_minimum_age => 130)$$,
	'22023', 'p_minimum_age must be from 0 to 120', 'an impossible age');
SELECT throws_ok($$SELECT protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'X', 'text', p_title => repeat('t', 201))$$,
	'22023', 'p_title must be 1 to 200 characters', 'a title too long, named as the parameter (it read "title must be ...")');
SELECT throws_ok($$SELECT protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'X', E'bell\007')$$, '22023',
	'body must be text without control characters other than line breaks and tabs', 'a control character');
SELECT throws_ok($$SELECT protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'X', E'\n\n\t')$$, '22023',
	'body must hold visible text', 'line breaks alone are no text to sign');
SELECT throws_ok($$SELECT protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'X', E' \u00a0\u3000\n')$$, '22023',
	'body must hold visible text', 'nor are no-break and wide spaces');
-- (an attack review) nor are combining marks on nothing, which show
-- nothing; and a name spaced otherwise, with a no-break or wide space,
-- looks the same and is the same waiver (at the end of this file)
SELECT throws_ok($$SELECT protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'X', E'\u0301 \u20dd\u05b0\u0483\u3099\n')$$, '22023',
	'body must hold visible text', 'nor are combining marks alone (Latin, Hebrew, Cyrillic, kana)');
-- (a later one) a waiver's text of any length up to the limit: the check
-- for a letter stopped every body over 1,280 bytes as a "name"; and one
-- of 99,999 marks before its first letter is still found to hold it
SAVEPOINT long_texts;
SELECT is((protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'Long',
			   repeat('I accept the risks of this activity. ', 2700)) ->> 'version')::int, 1, 'a waiver text of 99,900 characters is taken');
SELECT is((protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'Marks',
			   repeat(E'\u0301', 99999) || 'x') ->> 'version')::int, 1, '... and one whose first letter comes after 99,999 marks');
ROLLBACK TO SAVEPOINT long_texts;
-- Windows' line breaks are line breaks; a version not yet signed may be
-- corrected directly, within the ages create_waiver takes
SAVEPOINT crlf;
SELECT lives_ok($$SELECT protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'Pasted', E'Line one.\r\nLine two.')$$,
	'a text pasted from Windows (\r\n) is signable');
SELECT throws_ok($$UPDATE protector.waiver_versions SET minimum_age = 500
				   WHERE waiver_id = (SELECT id FROM protector.waivers WHERE name = 'Pasted')$$,
	'22023', 'minimum_age must be from 0 to 120', 'a direct correction of the age is checked as create_waiver checks it');
ROLLBACK TO SAVEPOINT crlf;
SELECT throws_ok($$SELECT protector.link_waiver_to_booking(NULL, NULL)$$, '22023',
	'p_submission_id must not be null', 'linking names the missing parameter');
SELECT throws_ok($$SELECT protector.verify_waiver_signature(NULL)$$, '22023',
	'p_submission_id must not be null', 'so does verifying');
SELECT lives_ok($$SELECT protector.update_service('0a170000-0000-4000-8000-0000000005a1',
					jsonb_build_object('waiver_id', (SELECT id FROM ids WHERE name = 'waiver')))$$,
	'the climbing service asks for the waiver');
SELECT tests.authenticate_as('w_operator');
SELECT throws_ok($$SELECT protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'Mine', 'text')$$, '42501',
	'your role may not create and change waiver templates', 'an operator writes no templates');
SELECT tests.authenticate_as('w_other');
SELECT is((SELECT count(*)::int FROM protector.waivers), 0, 'another organization sees none');
SELECT tests.authenticate_as('w_customer');
SELECT is((SELECT count(*)::int FROM protector.waiver_versions), 2, 'a customer of the organization reads its waivers');

-- 2. signing
SELECT tests.authenticate_as('w_operator');
SELECT is((SELECT format('%s %s %s %s', participant_age, signed_on = (now() AT TIME ZONE 'Europe/Berlin')::date,
						 customer_id = '0a170000-0000-4000-8000-00000000c001', length(submission_sha256))
		   FROM protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Ann Adult', pg_temp.born(30, -2),
										'Ann Adult', 'ann adult', '0a170000-0000-4000-8000-0000000000b1')),
	'30 t t 64', 'Ann, born 30 years and 2 days ago, signs: 30, on Berlin''s date, for Cara''s booking');
SELECT is((SELECT v.version FROM protector.waiver_submissions s JOIN protector.waiver_versions v ON v.id = s.waiver_version_id
		   WHERE s.participant_name = 'Ann Adult'), 2, 'the latest version is the one signed');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Ben Minor', pg_temp.born(10),
				   'Ben Minor', 'Ben Minor', '0a170000-0000-4000-8000-0000000000b1')$$, '22023',
	'Ben Minor is 10: a parent or guardian must sign for them', 'a 10-year-old does not sign alone (born 10 years ago today)');
SELECT is((SELECT participant_age || ' ' || guardian_name
		   FROM protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Ben Minor', pg_temp.born(10),
										'Gina Guardian', 'Gina Guardian', '0a170000-0000-4000-8000-0000000000b1',
										'Gina Guardian')),
	'10 Gina Guardian', 'his guardian signs for him');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Tim Tiny', pg_temp.born(8, 1),
				   'Gina Guardian', 'Gina Guardian', '0a170000-0000-4000-8000-0000000000b1', 'Gina Guardian')$$, '22023',
	'Tim Tiny is 7; this waiver is for participants of at least 8', 'eight tomorrow is seven today: too young');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Cy Third', pg_temp.born(18),
				   'Cy Third', 'C. Third', '0a170000-0000-4000-8000-0000000000b1')$$, '22023',
	'the typed signature must be the signer''s name', 'a signature that is not the signer''s name');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Cy Third', pg_temp.born(18),
				   'Gina Guardian', 'Gina Guardian', '0a170000-0000-4000-8000-0000000000b1', 'Gina Guardian')$$, '22023',
	'Cy Third is 18 and signs for themselves', 'eighteen today: an adult, no guardian');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'ANN  adult', pg_temp.born(30, -2),
				   'Ann Adult', 'Ann Adult', '0a170000-0000-4000-8000-0000000000b1')$$, '22023',
	'ANN  adult has already signed the waiver of this booking', 'one signature per participant (names compared as normalized)');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Zed', pg_temp.born(-1),
				   'Zed', 'Zed', '0a170000-0000-4000-8000-0000000000b1')$$, '22023',
	'participant_birth_date must be a date of the last 150 years, not in the future', 'born next year');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Zed', pg_temp.born(30),
				   'Zed', 'Zed', '0a170000-0000-4000-8000-0000000000b3')$$, '22023',
	'this booking''s service does not ask for this waiver', 'not for the tour');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), E'Zed\u202E', pg_temp.born(30),
				   'Zed', 'Zed', '0a170000-0000-4000-8000-0000000000b1')$$, '22023',
	'participant_name holds control or invisible direction characters', 'no direction tricks in names');
-- typed names are compared as written, case, spacing, the accents of Latin
-- and Greek letters, ё's diaeresis and stress marks aside: 张伟 and 章伟 are
-- two names (normalize_name reads both as "zhang wei"), so are कुमार and
-- कमार, Андрей and Андреи
SELECT is(ARRAY[protector_internal.names_match('Zoë  Ångström', 'ZOE ANGSTROM'), protector_internal.names_match('Straße', 'STRASSE'),
				protector_internal.names_match('Зоя', 'ЗОЯ'), protector_internal.names_match('张伟', ' 张伟 '),
				protector_internal.names_match('Οδυσσεύς', 'ΟΔΥΣΣΕΥΣ'), protector_internal.names_match('Пётр Семёнов', 'Петр Семенов'),
				protector_internal.names_match('ᴀɴɴᴀ', 'Anna'), protector_internal.names_match('Ива́н', 'Иван'),
				protector_internal.names_match('张伟', '章伟'), protector_internal.names_match('कुमार', 'कमार'),
				protector_internal.names_match('Андрей', 'Андреи'), protector_internal.names_match('Їжак', 'Іжак'),
				protector_internal.names_match('Зоя', 'Zoya'), protector_internal.names_match(' ', ' ')],
	ARRAY[true, true, true, true, true, true, true, true, false, false, false, false, false, false],
	'names_match: case, spacing, Latin and Greek accents, ё and stress marks aside; й, ї and other scripts as written');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), '张伟', pg_temp.born(30),
				   '张伟', '章伟')$$, '22023',
	'the typed signature must be the signer''s name', 'a signature that only sounds like the signer''s name');
SELECT is((SELECT guardian_name FROM protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), '张炜', pg_temp.born(10),
										'张伟', '张伟', NULL, '张伟')),
	'张伟', 'a father signs for his son whose name reads the same in Latin letters');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), '张炜', pg_temp.born(10),
				   '张炜', '张炜', NULL, '张炜')$$, '22023',
	'张炜 is 10: a parent or guardian must sign for them', '... but not himself as his own guardian');
-- (his signature goes again: the checks below count the others)
RESET ROLE;
DELETE FROM protector.waiver_submissions WHERE participant_name = '张炜';
SELECT tests.authenticate_as('w_operator');

-- 3. the gate: in_progress once every participant has signed
RESET ROLE;
SELECT throws_ok($$UPDATE protector.bookings SET status = 'in_progress' WHERE id = '0a170000-0000-4000-8000-0000000000b1'$$,
	'22023', '2 of 3 participants have signed the waiver "Climbing waiver"', 'two of three have signed: not yet');
CREATE FUNCTION pg_temp.gate_detail() RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
	UPDATE protector.bookings SET status = 'in_progress' WHERE id = '0a170000-0000-4000-8000-0000000000b1';
	RETURN 'passed';
EXCEPTION WHEN invalid_parameter_value THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN d;
END $$;
SELECT is(pg_temp.gate_detail(), 'Not signed: Cy Third.', 'the error names who is missing, from the booking''s list');
UPDATE protector.bookings SET details = '{}' WHERE id = '0a170000-0000-4000-8000-0000000000b1';
SELECT is(pg_temp.gate_detail(), 'Signed: Ann Adult, Ben Minor; 1 more must sign.', 'or, without a list, how many');
SELECT tests.authenticate_as('w_customer');
SELECT is((SELECT participant_age FROM protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Cy Third',
											pg_temp.born(18), 'Cy Third', 'Cy Third', '0a170000-0000-4000-8000-0000000000b1')),
	18, 'Cara signs for Cy on her own booking: eighteen today');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Dee Fourth', pg_temp.born(30),
				   'Dee Fourth', 'Dee Fourth', '0a170000-0000-4000-8000-0000000000b1')$$, '22023',
	'every participant of this booking has signed this waiver',
	'a fourth signature of Cara''s on her party of three is refused (a customer wrote a thousand, which nobody could delete)');
RESET ROLE;
-- ... nor linked: a walk-in signature the desk wrote with Cara's record
-- (an attack review: linked by her to her booking, a fourth on the party)
INSERT INTO protector.waiver_submissions (organization_id, waiver_version_id, participant_name, participant_birth_date,
										  signer_name, signature, customer_id)
SELECT '0a170000-0000-4000-8000-000000000000', v.id, 'Eve Walkin', pg_temp.born(30), 'Eve Walkin', 'Eve Walkin',
	   '0a170000-0000-4000-8000-00000000c001'
FROM protector.waiver_versions v WHERE v.waiver_id = (SELECT id FROM ids WHERE name = 'waiver') ORDER BY v.version DESC LIMIT 1;
SELECT tests.authenticate_as('w_customer');
SELECT throws_ok($$SELECT protector.link_waiver_to_booking((SELECT id FROM protector.waiver_submissions WHERE participant_name = 'Eve Walkin'),
														   '0a170000-0000-4000-8000-0000000000b1')$$, '22023',
	'every participant of this booking has signed this waiver',
	'... nor is a walk-in signature of Cara''s record linked by her to the booking beyond its party');
RESET ROLE;
DELETE FROM protector.waiver_submissions WHERE participant_name = 'Eve Walkin';
SELECT ok((SELECT signed_at > now() FROM protector.waiver_submissions WHERE participant_name = 'Cy Third'),
	'signed_at is when the signature was written, not when its transaction began (which can be before its version existed)');
SELECT is(pg_temp.gate_detail(), 'passed', 'three of three: the booking goes in_progress');
SELECT is((SELECT status::text FROM protector.bookings WHERE id = '0a170000-0000-4000-8000-0000000000b1'), 'in_progress',
	'and is in progress');

-- 4. who may collect and see signatures
SELECT tests.authenticate_as('w_finance');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Fin', pg_temp.born(30),
				   'Fin', 'Fin', '0a170000-0000-4000-8000-0000000000b2')$$, '42501',
	'your role may not collect waiver signatures (agents: for their bookings)', 'finance collects no signatures');
SELECT is((SELECT count(*)::int FROM protector.waiver_submissions), 0, 'nor sees them');
SELECT tests.authenticate_as('w_viewer');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Vi', pg_temp.born(30),
				   'Vi', 'Vi', '0a170000-0000-4000-8000-0000000000b2')$$, 'P0002', 'booking not found',
	'a viewer does not see bookings');
SELECT tests.authenticate_as('w_agent');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Al', pg_temp.born(30),
				   'Al', 'Al', '0a170000-0000-4000-8000-0000000000b2')$$, 'P0002', 'booking not found',
	'an agent collects only for bookings assigned to them');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Al', pg_temp.born(30), 'Al', 'Al')$$,
	'42501', 'a waiver without a booking is collected by the desk', 'nor without a booking');
SELECT is((SELECT count(*)::int FROM protector.get_waiver_submissions('0a170000-0000-4000-8000-000000000000',
																	   '0a170000-0000-4000-8000-0000000000b1')),
	3, 'the agent sees the three of their booking');
SELECT tests.authenticate_as('w_finance');
SELECT throws_ok($$SELECT * FROM protector.get_waiver_submissions('0a170000-0000-4000-8000-000000000000',
																   '0a170000-0000-4000-8000-0000000000b1')$$, '42501',
	'your role may not see this booking''s signed waivers', 'finance sees the booking but is refused its signatures, not shown none');
SELECT tests.authenticate_as('w_customer');
SELECT is((SELECT count(*)::int FROM protector.get_waiver_submissions('0a170000-0000-4000-8000-000000000000',
																	   '0a170000-0000-4000-8000-0000000000b1')),
	3, 'Cara reads the three of her booking through the RPC');
SELECT is((SELECT string_agg(participant_name, ', ' ORDER BY participant_name) FROM protector.waiver_submissions),
	'Ann Adult, Ben Minor, Cy Third', 'Cara sees those of her booking');
SELECT throws_ok($$SELECT * FROM protector.get_waiver_submissions('0a170000-0000-4000-8000-000000000000')$$, 'P0002',
	'organization not found', 'but not the organization''s list (she is no member)');
SELECT tests.authenticate_as('w_other');
SELECT throws_ok($$SELECT * FROM protector.get_waiver_submissions('0a170000-0000-4000-8000-000000000000')$$, 'P0002',
	'organization not found', 'another organization''s owner: not found');

-- 5. signed things never change
SELECT tests.authenticate_as('w_manager');
SELECT throws_ok($$UPDATE protector.waiver_versions SET body = 'changed' WHERE version = 2$$, '22023',
	'version 2 of this waiver has been signed and cannot be changed', 'a signed version is never edited');
SELECT throws_ok($$DELETE FROM protector.waiver_versions WHERE version = 2$$, '22023',
	'version 2 of this waiver has been signed and cannot be deleted', 'nor deleted');
UPDATE protector.waiver_versions SET body = 'Corrected.' WHERE version = 1;
SELECT is((SELECT body_sha256 FROM protector.waiver_versions WHERE version = 1), encode(sha256('Corrected.'::bytea), 'hex'),
	'an unsigned version may be corrected, its digest follows');
SELECT throws_ok($$DELETE FROM protector.waivers$$, '23503', 'waiver "Climbing waiver" cannot be deleted while services ask for it',
	'a waiver the climbing service asks for cannot be deleted');
UPDATE protector.services SET waiver_id = NULL WHERE id = '0a170000-0000-4000-8000-0000000005a1';
SELECT throws_ok($$DELETE FROM protector.waivers$$, '22023', 'version 2 of this waiver has been signed and cannot be deleted',
	'nor, asked for by none, a signed one');
UPDATE protector.services SET waiver_id = (SELECT id FROM ids WHERE name = 'waiver') WHERE id = '0a170000-0000-4000-8000-0000000005a1';
SELECT tests.authenticate_as('w_operator');
SELECT throws_ok($$UPDATE protector.waiver_submissions SET participant_name = 'Someone Else'$$, '22023',
	'a signed waiver cannot be changed', 'a signature is never edited');
SELECT is((SELECT count(*)::int FROM protector.waiver_submissions WHERE (protector.verify_waiver_signature(id) ->> 'valid')::boolean),
	3, 'all three verify');
-- tampering past the triggers (as a superuser can) is found
RESET ROLE;
SET LOCAL session_replication_role = replica;
UPDATE protector.waiver_versions SET body = body || ' ' WHERE version = 2;
UPDATE protector.waiver_submissions SET signature = 'ANN ADULT' WHERE participant_name = 'Ann Adult';
SET LOCAL session_replication_role = origin;
SELECT tests.authenticate_as('w_operator');
SELECT results_eq($$SELECT participant_name, (v ->> 'text_unchanged')::boolean, (v ->> 'submission_unchanged')::boolean,
						   (v ->> 'valid')::boolean
					FROM protector.waiver_submissions s, protector.verify_waiver_signature(s.id) v ORDER BY 1$$,
	$$VALUES ('Ann Adult', false, false, false), ('Ben Minor', false, true, false), ('Cy Third', false, true, false)$$,
	'a changed text and a changed signature are found');
RESET ROLE;
SET LOCAL session_replication_role = replica;
UPDATE protector.waiver_versions SET body = rtrim(body, ' ') WHERE version = 2;
UPDATE protector.waiver_submissions SET signature = 'ann adult' WHERE participant_name = 'Ann Adult';
SET LOCAL session_replication_role = origin;
SELECT tests.authenticate_as('w_operator');
SELECT is((SELECT count(*)::int FROM protector.waiver_submissions WHERE (protector.verify_waiver_signature(id) ->> 'valid')::boolean),
	3, 'put back, all three verify again');
SELECT throws_ok($$SELECT protector.verify_waiver_signature(gen_random_uuid())$$, 'P0002', 'waiver submission not found',
	'an unknown submission');

-- 6. signed at the desk first, linked later
INSERT INTO ids SELECT 'dan', id FROM protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Dan Desk',
															   pg_temp.born(40), 'Dan Desk', 'Dan Desk');
SELECT is((SELECT booking_id FROM protector.waiver_submissions WHERE id = (SELECT id FROM ids WHERE name = 'dan')), NULL,
	'signed without a booking');
SELECT throws_ok($$SELECT protector.link_waiver_to_booking((SELECT id FROM ids WHERE name = 'dan'),
				   '0a170000-0000-4000-8000-0000000000b3')$$, '22023', 'this booking''s service does not ask for this waiver',
	'not to the tour');
SELECT is((SELECT booking_id FROM protector.link_waiver_to_booking((SELECT id FROM ids WHERE name = 'dan'),
																   '0a170000-0000-4000-8000-0000000000b2')),
	'0a170000-0000-4000-8000-0000000000b2'::uuid, 'linked to a climbing booking');
SELECT lives_ok($$SELECT protector.link_waiver_to_booking((SELECT id FROM ids WHERE name = 'dan'),
				  '0a170000-0000-4000-8000-0000000000b2')$$, 'linking again is a retry');
SELECT throws_ok($$SELECT protector.link_waiver_to_booking((SELECT id FROM ids WHERE name = 'dan'),
				   '0a170000-0000-4000-8000-0000000000b1')$$, '22023', 'this waiver is already linked to a booking',
	'but it is linked once');
SELECT is((SELECT (protector.verify_waiver_signature((SELECT id FROM ids WHERE name = 'dan')) ->> 'valid')::boolean), true,
	'linking does not touch the signature');

-- 6b. what review found: nobody outside learns anything; the gate holds
SELECT tests.authenticate_as('w_other');
SELECT throws_ok($$INSERT INTO protector.waiver_submissions (organization_id, waiver_version_id, booking_id, participant_name,
					participant_birth_date, signer_name, signature)
				   SELECT '0a170000-0000-4000-8000-000000000000', (SELECT id FROM protector.waiver_versions LIMIT 1),
						  '0a170000-0000-4000-8000-0000000000b3', 'X', pg_temp.born(5), 'X', 'X'$$,
	'P0002', 'waiver not found', 'another tenant''s version and booking: "waiver not found" before any check');
SELECT throws_ok($$INSERT INTO protector.waiver_submissions (organization_id, waiver_version_id, booking_id, participant_name,
					participant_birth_date, signer_name, signature)
				   VALUES ('0a170000-0000-4000-8000-000000000000', gen_random_uuid(), gen_random_uuid(), 'X', pg_temp.born(5), 'X', 'X')$$,
	'P0002', 'waiver not found', 'the same answer as for random ids');
RESET ROLE;
-- inserted in_progress without signatures, or growing the party later
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, party_size)
				   VALUES ('0a170000-0000-4000-8000-000000000000', '0a170000-0000-4000-8000-0000000000a1',
						   '0a170000-0000-4000-8000-0000000005a1', tstzrange(now(), now() + interval '1 hour'), 'in_progress', 2)$$,
	'22023', '0 of 2 participants have signed the waiver "Climbing waiver"', 'a booking inserted in progress is checked too');
SELECT throws_ok($$UPDATE protector.bookings SET party_size = 4 WHERE id = '0a170000-0000-4000-8000-0000000000b1'$$,
	'22023', '3 of 4 participants have signed the waiver "Climbing waiver"', 'an in-progress party that grows is checked again');
-- a listed participant must sign, whatever the count: b2 lists Dan and Eve,
-- party 2, Dan signed (linked above) and "dan desk" of another birth date
INSERT INTO protector.waiver_submissions (organization_id, waiver_version_id, booking_id, participant_name, participant_birth_date,
										  signer_name, signature)
SELECT '0a170000-0000-4000-8000-000000000000', v.id, '0a170000-0000-4000-8000-0000000000b2', 'dan desk', pg_temp.born(41),
	   'dan desk', 'dan desk'
FROM protector.waiver_versions v WHERE v.version = 2;
UPDATE protector.bookings SET party_size = 2, details = '{"participants": ["Dan Desk", "Eve Late"]}'
WHERE id = '0a170000-0000-4000-8000-0000000000b2';
SELECT throws_ok($$UPDATE protector.bookings SET status = 'in_progress' WHERE id = '0a170000-0000-4000-8000-0000000000b2'$$,
	'22023', 'not every participant listed has signed the waiver "Climbing waiver"', 'two signatures of name variants do not sign for Eve');
-- an entry without a name names nobody (its JSON text was taken for a name)
SAVEPOINT unnamed;
UPDATE protector.bookings SET details = '{"participants": ["Dan Desk", {"first_name": "Eve", "last_name": "Late"}]}'
WHERE id = '0a170000-0000-4000-8000-0000000000b2';
SELECT lives_ok($$UPDATE protector.bookings SET status = 'in_progress' WHERE id = '0a170000-0000-4000-8000-0000000000b2'$$,
	'a participant listed without a name is not waited for: two of two signed');
ROLLBACK TO SAVEPOINT unnamed;
-- the service asks for another waiver: the same people sign it
SELECT lives_ok($$SELECT protector.create_waiver('0a170000-0000-4000-8000-000000000000', 'Second waiver', 'Also this.')$$,
	'a second waiver');
UPDATE protector.services SET waiver_id = (SELECT id FROM protector.waivers WHERE name = 'Second waiver')
WHERE id = '0a170000-0000-4000-8000-0000000005a1';
SELECT is((SELECT participant_name FROM protector.submit_waiver((SELECT id FROM protector.waivers WHERE name = 'Second waiver'),
		   'Dan Desk', pg_temp.born(40), 'Dan Desk', 'Dan Desk', '0a170000-0000-4000-8000-0000000000b2')),
	'Dan Desk', 'Dan signs the new waiver too: a signature of the first does not count as a duplicate');
UPDATE protector.services SET waiver_id = (SELECT id FROM ids WHERE name = 'waiver') WHERE id = '0a170000-0000-4000-8000-0000000005a1';
-- a version's number is always the database's
INSERT INTO protector.waiver_versions (organization_id, waiver_id, version, title, body)
VALUES ('0a170000-0000-4000-8000-000000000000', (SELECT id FROM ids WHERE name = 'waiver'), 100000, 'T', 'Third.');
SELECT is((SELECT max(version) FROM protector.waiver_versions WHERE waiver_id = (SELECT id FROM ids WHERE name = 'waiver')), 3,
	'an insert asking for version 100000 gets 3, the next one');
-- a walk-in signature linked to Cara's booking is hers
SELECT is((SELECT count(*)::int FROM protector.waiver_submissions WHERE customer_id = '0a170000-0000-4000-8000-00000000c001'), 3,
	'the three of Cara''s booking carry her as customer');
SELECT tests.authenticate_as('w_operator');

-- 7. export and retirement
SELECT tests.authenticate_as('w_manager');
SELECT results_eq($$SELECT participant_name, participant_age, guardian_name, waiver, version, service
					FROM protector.export_waivers('0a170000-0000-4000-8000-000000000000',
												  (now() AT TIME ZONE 'Europe/Berlin')::date, (now() AT TIME ZONE 'Europe/Berlin')::date)
					ORDER BY participant_name COLLATE "C", waiver$$,
	$$VALUES ('Ann Adult', 30, NULL::text, 'Climbing waiver', 2, 'Climbing'), ('Ben Minor', 10, 'Gina Guardian', 'Climbing waiver', 2, 'Climbing'),
			 ('Cy Third', 18, NULL, 'Climbing waiver', 2, 'Climbing'), ('Dan Desk', 40, NULL, 'Climbing waiver', 2, 'Climbing'),
			 ('Dan Desk', 40, NULL, 'Second waiver', 1, 'Climbing'), ('dan desk', 41, NULL, 'Climbing waiver', 2, 'Climbing')$$,
	'today''s six signatures, for the records');
SELECT is((SELECT split_part(protector.csv_agg(e), E'\r\n', 1) FROM protector.export_waivers('0a170000-0000-4000-8000-000000000000',
		   current_date - 1, current_date + 1) e),
	'submission_id,signed_at,signed_on,waiver,version,title,participant_name,participant_birth_date,participant_age,signer_name,guardian_name,booking_id,booking_start,service,customer_name,text_sha256,submission_sha256',
	'as CSV, with a header');
SELECT throws_ok($$SELECT * FROM protector.export_waivers('0a170000-0000-4000-8000-000000000000', current_date, current_date - 1)$$,
	'22023', 'p_to must be from p_from to ten years after it', 'a backwards range');
SELECT throws_ok($$SELECT * FROM protector.export_waivers('0a170000-0000-4000-8000-000000000000', '-infinity', current_date)$$,
	'22008', 'p_from and p_to must be finite dates', 'an infinite date is refused by name');
SELECT throws_ok($$SELECT * FROM protector.export_waivers('0a170000-0000-4000-8000-000000000000', '294276-01-01', '294276-01-02')$$,
	'22008', 'p_from and p_to must be dates between the years 1 and 9999', 'so is one past the year 9999 (it overflowed unnamed)');
-- (retired once no service asks for it: sql/83_waivers.sql)
UPDATE protector.services SET waiver_id = NULL WHERE waiver_id IS NOT NULL;
UPDATE protector.waivers SET active = false;
SELECT tests.authenticate_as('w_operator');
SELECT throws_ok($$SELECT protector.submit_waiver((SELECT id FROM ids WHERE name = 'waiver'), 'Eve', pg_temp.born(30),
				   'Eve', 'Eve')$$, '22023', 'this waiver is no longer in use',
	'a retired waiver takes no signatures');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM protector.audit_log WHERE table_name = 'protector.waiver_submissions' AND op = 'INSERT'), 8,
	'every signature is audited: Ann, Ben, 张炜, Cy, Eve Walkin (deleted since), Dan, Dan again (second waiver), dan');
SELECT tests.clear_authentication();

-- an organization with signed waivers can still be deleted, whole
RESET ROLE;
SELECT lives_ok($$DELETE FROM protector.organizations WHERE id = '0a170000-0000-4000-8000-000000000000'$$,
	'deleting the organization takes its waivers and signatures with it');

-- 8. schema
SELECT col_is_fk('protector', 'waiver_submissions', ARRAY['organization_id', 'waiver_version_id'], 'a signature is of a version');
SELECT col_is_fk('protector', 'services', ARRAY['organization_id', 'waiver_id'], 'a service asks for a waiver of its organization');
SELECT policies_are('protector', 'waiver_submissions',
	ARRAY['waiver_submissions_select', 'waiver_submissions_insert', 'waiver_submissions_update']);

-- (the same waiver spaced otherwise: section 1's attack review; as the
-- superuser, whom every check trusts, in an organization of its own)
SELECT tests.clear_authentication();
INSERT INTO protector.organizations (id, name, slug) VALUES ('0d170000-0000-4000-8000-000000000000', 'Kayaks', 'waiver-kayaks');
SELECT is((SELECT string_agg((w ->> 'version') || ' ' || (w ->> 'name'), ', ' ORDER BY n)
		   FROM unnest(ARRAY['Kayak waiver', E'Kayak\u00a0\u3000waiver', E'Kayak  waiver']) WITH ORDINALITY x(name, n),
				protector.create_waiver('0d170000-0000-4000-8000-000000000000', x.name, 'Paddle.') w),
	'1 Kayak waiver, 2 Kayak waiver, 3 Kayak waiver',
	'a name with a no-break and a wide space, or two spaces, between its words is the same waiver');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
