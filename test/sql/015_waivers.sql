-- Waiver hashing and the local-date age rules (docs/waivers.md).
-- The digests are SHA-256 of the UTF-8 bytes; every expected digest below
-- was computed independently (Python's hashlib) before it was written
-- here.  Ages are whole years on the local date of signing in the venue's
-- time zone.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY terse
\set SHOW_CONTEXT never

-- 1. SHA-256: the FIPS 180-2 vectors "" and "abc", a non-ASCII letter (two
-- UTF-8 bytes c3 a9) and a text with a line break
SELECT t, protector_internal.sha256_hex(t) AS sha256
FROM unnest(ARRAY['', 'abc', 'é', E'Ich verzichte.\nDatum: 1.12.2026']) t;

-- 2. the local date of a signature, and the age on it
--   23:30 UTC on 1 December is already 2 December in Berlin (UTC+1) and
--   still 1 December in New York (UTC-5); 10:30 UTC is 2 December in
--   Kiritimati (UTC+14).  Born 2 December 2008: 18 on 2 December 2026.
SELECT tz, (protector_internal.signing_age('2008-12-02', '2026-12-01 23:30+00', tz)).*
FROM unnest(ARRAY['Europe/Berlin', 'America/New_York', 'UTC']) tz;
SELECT (protector_internal.signing_age('2008-12-02', '2026-12-01 10:30+00', 'Pacific/Kiritimati')).*;
--   born 29 February 2008: 15 on 28 February 2024 and 16 on 29 February
--   2024 (a leap year: the birthday itself); 17 on 28 February 2026 and 18
--   on 1 March 2026 (no 29th: a year older on 1 March)
SELECT on_date, (protector_internal.signing_age('2008-02-29', (on_date || ' 12:00+00')::timestamptz, 'UTC')).age
FROM unnest(ARRAY['2024-02-28', '2024-02-29', '2026-02-28', '2026-03-01']) on_date;
--   the day before a birthday and the birthday itself, across a year end
SELECT (protector_internal.signing_age('2010-01-01', '2027-12-31 12:00+00', 'UTC')).age AS day_before,
	   (protector_internal.signing_age('2010-01-01', '2028-01-01 12:00+00', 'UTC')).age AS birthday;

-- 3. a submission's digest covers what was signed: changing any signed
-- field changes it, linking a booking or a customer does not
CREATE TEMP TABLE sub AS
SELECT jsonb_populate_record(NULL::protector.waiver_submissions, jsonb_build_object(
	'id', '0f150000-0000-4000-8000-000000000001', 'organization_id', '0f150000-0000-4000-8000-000000000000',
	'waiver_version_id', '0f150000-0000-4000-8000-000000000002', 'participant_name', 'Ann Adult',
	'participant_birth_date', '1990-05-17', 'participant_age', 36, 'signer_name', 'Ann Adult', 'signature', 'ann adult',
	'signed_at', '2026-12-01 09:15:30.123456+00', 'signed_on', '2026-12-01',
	'text_sha256', protector_internal.sha256_hex('abc'))) AS v;
-- the documented form, field by field (docs/waivers.md)
SELECT protector_internal.waiver_submission_digest(v)
	   = protector_internal.sha256_hex(E'protector waiver submission 1\n0f150000-0000-4000-8000-000000000001\n'
		   || E'0f150000-0000-4000-8000-000000000000\n0f150000-0000-4000-8000-000000000002\n'
		   || E'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n'
		   || E'Ann Adult\n1990-05-17\n36\nAnn Adult\nann adult\n\n2026-12-01T09:15:30.123456Z\n2026-12-01') AS documented_form
FROM sub;
-- six variants (the original, then one signed field changed each): six digests
SELECT count(DISTINCT protector_internal.waiver_submission_digest(jsonb_populate_record(v, c))) AS distinct_digests,
	   count(*) AS variants
FROM sub, unnest(ARRAY['{}', '{"participant_name": "Ann AdulT"}', '{"participant_birth_date": "1990-05-18"}',
					   '{"guardian_name": "G"}', '{"signed_at": "2026-12-01 09:15:30.123457+00"}',
					   '{"text_sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae"}']::jsonb[]) c;
SELECT protector_internal.waiver_submission_digest(v)
	   = protector_internal.waiver_submission_digest(jsonb_populate_record(v,
			'{"booking_id": "0f150000-0000-4000-8000-0000000000b1", "customer_id": "0f150000-0000-4000-8000-0000000000c1"}'))
	   AS booking_and_customer_not_signed
FROM sub;
DROP TABLE sub;
