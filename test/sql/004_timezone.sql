-- Venue and organization time zones must be real IANA zones.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

SELECT name, protector.timezone_is_valid(name) AS valid
FROM unnest(ARRAY[
	'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'UTC', 'Etc/GMT+5',
	'America/Argentina/Buenos_Aires',
	-- zone files whose names could also be POSIX specs, or have a '-'
	'EST5EDT', 'GMT0', 'GMT', 'W-SU', 'GB-Eire',
	-- wrong case, POSIX specs, abbreviations, paths, junk
	'europe/berlin', 'EUROPE/BERLIN', 'XYZ5', 'EST5EDT,M3.2.0,M11.1.0', '<+03>-3',
	-- POSIX specs with a '/' in their abbreviation
	'A/B5', 'ETC/GMT+15', 'EUROPE/BERLIN5',
	'CEST', 'Mars/Olympus_Mons', '', ' Europe/Berlin', 'Europe/Berlin ', '../etc/passwd',
	'/usr/share/zoneinfo/UTC', 'Europe//Berlin', 'Europe/Berlin/'
]) AS name;

-- every name pg_timezone_names lists is accepted
SELECT count(*) FILTER (WHERE NOT protector.timezone_is_valid(name)) AS rejected
FROM pg_timezone_names;
-- and only as the directory spells it (one zone loaded per name: the
-- list of all names is read only for names that could be POSIX specs)
SELECT count(*) FILTER (WHERE protector.timezone_is_valid(lower(name))) AS lower_accepted,
	   count(*) FILTER (WHERE protector.timezone_is_valid(upper(name))) AS upper_accepted
FROM pg_timezone_names
WHERE lower(name) <> name AND upper(name) <> name;
SELECT protector.timezone_is_valid(repeat('A', 10000));
SELECT protector.timezone_is_valid(NULL) IS NULL AS strict;

-- the checking variant explains itself
SELECT protector.check_timezone('Europe/Berlin');
SELECT protector.check_timezone('europe/berlin', 'p_timezone');
SELECT protector.check_timezone('Mars/Olympus_Mons', 'p_timezone');
SELECT protector.check_timezone(NULL, 'p_timezone');
SELECT protector.check_timezone(repeat('x', 500));
-- zone files of no place: valid for the table CHECKs (older rows restore),
-- refused where a zone is written
SELECT protector.timezone_is_valid('localtime') AS localtime_restores;
SELECT protector.check_timezone('localtime', 'p_timezone');
SELECT protector.check_timezone('Factory', 'p_changes.timezone');
SELECT protector.check_timezone('POSIXRULES');
SELECT protector.check_timezone('posix/Factory', 'p_timezone');
-- and the posix/ copy of a place's zone, which browsers do not know (a
-- widget's Intl.DateTimeFormat threw on it): valid for the CHECKs too
SELECT protector.timezone_is_valid('posix/Europe/Berlin') AS posix_copy_restores;
SELECT protector.check_timezone('posix/Europe/Berlin', 'p_timezone');
-- its hints name a zone the check takes: the place's own spelling, or
-- none for a copy of an abbreviation; a name of no zone is no zone
SELECT protector.check_timezone('posix/europe/berlin', 'p_timezone');
SELECT protector.check_timezone('posix/CET', 'p_timezone');
SELECT protector.check_timezone('posix/Nowhere', 'p_timezone');
-- zone files that are also abbreviations of the session's set: AT TIME
-- ZONE reads CET as UTC+1 all year, while the zone CET keeps summer time,
-- so local times would be an hour apart from April to October; and a
-- session may choose a set in which a name means another place (EST is
-- UTC-5 under Default, UTC+10 under Australia).  Refused where a zone is
-- written (stored rows keep working), but for UTC and GMT, the same under
-- every set (Zulu is no abbreviation).
SELECT protector.timezone_is_valid('CET') AS cet_restores;
SELECT protector.check_timezone('CET', 'p_timezone');
SELECT protector.check_timezone('WET', 'p_changes.timezone');
SELECT protector.check_timezone('met');
SELECT protector.check_timezone('EET');
SELECT protector.check_timezone('EST');
SELECT protector.check_timezone('UTC'), protector.check_timezone('GMT'), protector.check_timezone('Zulu');
SET timezone_abbreviations = 'Australia';
SELECT protector.check_timezone('EST');
SELECT protector.check_timezone('UTC'), protector.check_timezone('GMT');
RESET timezone_abbreviations;

-- local times in what protector writes come from the zone file, in ISO
-- form, whatever the session's abbreviations and DateStyle: a venue of
-- 0.1.0 stored as "EST" (UTC-5 all year), a booking at 09:45 local
INSERT INTO protector.organizations (id, name, slug) VALUES ('0d040000-0000-4000-8000-000000000000', 'Zones', 'zones');
SET session_replication_role = replica;	-- (as a restore writes it)
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0d040000-0000-4000-8000-0000000000a1', '0d040000-0000-4000-8000-000000000000', 'Old', 'EST');
RESET session_replication_role;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) VALUES
	('0d040000-0000-4000-8000-0000000005a1', '0d040000-0000-4000-8000-000000000000', '0d040000-0000-4000-8000-0000000000a1',
	 'Room', '1 hour', '15 minutes', '1100 days');
SET timezone_abbreviations = 'Australia';
SET DateStyle = 'German';
SELECT protector.create_booking('0d040000-0000-4000-8000-0000000005a1', NULL, '2027-06-14 09:45-05', 1)
	   ->> 'local_start' AS local_start;
-- (the slot taken: the refusal names it in local time, ISO)
\set SHOW_CONTEXT never
SELECT protector.create_booking('0d040000-0000-4000-8000-0000000005a1', NULL, '2027-06-14 10:00-05', 1);
-- ... and so do its review task's title and a refusal written in SQL
SELECT title FROM protector.tasks WHERE organization_id = '0d040000-0000-4000-8000-000000000000';
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0d040000-0000-4000-8000-000000000000', '0d040000-0000-4000-8000-0000000000e1', 'owner');
BEGIN;
SELECT set_config('role', 'authenticated', true) IS NOT NULL AS as_the_owner,
	   set_config('request.jwt.claims', '{"sub": "0d040000-0000-4000-8000-0000000000e1", "role": "authenticated"}', true) IS NOT NULL;
DO $$
DECLARE
	d text;
BEGIN
	UPDATE protector.bookings SET status = 'completed' WHERE organization_id = '0d040000-0000-4000-8000-000000000000';
EXCEPTION WHEN invalid_parameter_value THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RAISE NOTICE '%', regexp_replace(d, '[0-9a-f-]{36}', '<id>');
END
$$;
ROLLBACK;
RESET DateStyle;
RESET timezone_abbreviations;
