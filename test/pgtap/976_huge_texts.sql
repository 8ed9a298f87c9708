-- A text far over its limit is refused by its length (22023), not by the
-- memory its trimming asks for (an attack review of messages and
-- waivers): btrim with a set of several characters, as trim_spaces was,
-- makes arrays of 12 bytes per byte of the text in a UTF8 database, and
-- 134 million characters or more failed with XX000 "invalid memory alloc
-- request size" in send_message, create_waiver's body, every parameter
-- check_text checks and an invitation's e-mail (120 MB took 1.9 GB of
-- memory before it was refused).  trim_spaces reads the text in place now
-- (C), and the others count a text's length before they trim it.
BEGIN;
SELECT plan(10);

SELECT tests.create_supabase_user('huge_owner');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a976000-0000-4000-8000-000000000000', 'Huge', 'huge-texts');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a976000-0000-4000-8000-000000000000', tests.get_supabase_uid('huge_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a976000-0000-4000-8000-0000000000a1', '0a976000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, max_advance)
VALUES ('0a976000-0000-4000-8000-0000000005a1', '0a976000-0000-4000-8000-000000000000', '0a976000-0000-4000-8000-0000000000a1',
		'Room', '1 hour', '400 days');
INSERT INTO protector.bookings (id, organization_id, service_id, during, status)
VALUES ('0a976000-0000-4000-8000-0000000000b1', '0a976000-0000-4000-8000-000000000000', '0a976000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '3 days', date_trunc('day', now()) + interval '3 days 1 hour'), 'confirmed');
-- 140 million characters (140 MB: btrim's array of pointers to them alone
-- was over 1 GB)
CREATE TEMP TABLE huge AS SELECT repeat('x', 140000000) AS t;
GRANT SELECT ON huge TO authenticated;

-- trim_spaces as it was: Unicode's spaces at the ends, nothing else
SELECT is(protector_internal.trim_spaces(chr(12288) || E' \t a  b\n' || chr(160) || chr(8232)), 'a  b',
	'trim_spaces takes ideographic, no-break and ASCII spaces, tabs and line breaks off the ends');
SELECT is(protector_internal.trim_spaces(chr(160) || ' ' || chr(8239)), '', '... all of a text of spaces');
SELECT is(protector_internal.trim_spaces('a' || chr(8203)), 'a' || chr(8203), '... not a zero-width space, which is no White_Space');
SELECT is(protector_internal.trim_spaces(NULL), NULL, '... NULL for NULL');
SELECT is(length(protector_internal.trim_spaces(' ' || (SELECT t FROM huge) || ' ')), 140000000,
	'... and 140 million characters in a moment');

SELECT tests.authenticate_as('huge_owner');
SELECT throws_ok($$SELECT protector.send_message('0a976000-0000-4000-8000-0000000000b1', (SELECT t FROM huge))$$,
	'22023', 'a message is 1 to 4000 characters', 'a message of 140 million characters is refused by its length');
SELECT throws_ok($$SELECT protector.create_waiver('0a976000-0000-4000-8000-000000000000', 'W', (SELECT t FROM huge))$$,
	'22023', 'p_body must be 1 to 100000 characters', '... a waiver''s body');
SELECT throws_ok($$SELECT protector.create_customer('0a976000-0000-4000-8000-000000000000', (SELECT t FROM huge))$$,
	'22023', 'p_full_name must be 1 to 200 characters', '... a parameter check_text checks');
SELECT throws_ok($$SELECT protector.create_staff_member('0a976000-0000-4000-8000-000000000000', (SELECT t FROM huge), 'agent')$$,
	'22023', 'p_email is not an email address', '... an invitation''s e-mail');
SELECT throws_ok($$INSERT INTO protector.staff_invitations (organization_id, email, role)
				   VALUES ('0a976000-0000-4000-8000-000000000000', (SELECT t FROM huge), 'agent')$$,
	'22023', 'email is not an email address', '... and one written directly');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
