-- Venue and organization time zones must be real IANA zones.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

SELECT name, protector.timezone_is_valid(name) AS valid
FROM unnest(ARRAY[
	'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'UTC', 'Etc/GMT+5',
	'America/Argentina/Buenos_Aires',
	-- wrong case, POSIX specs, abbreviations, paths, junk
	'europe/berlin', 'EUROPE/BERLIN', 'XYZ5', 'EST5EDT,M3.2.0,M11.1.0', '<+03>-3',
	'CEST', 'Mars/Olympus_Mons', '', ' Europe/Berlin', 'Europe/Berlin ', '../etc/passwd',
	'/usr/share/zoneinfo/UTC', 'Europe//Berlin', 'Europe/Berlin/'
]) AS name;

-- every name pg_timezone_names lists is accepted
SELECT count(*) FILTER (WHERE NOT protector.timezone_is_valid(name)) AS rejected
FROM pg_timezone_names;
SELECT protector.timezone_is_valid(repeat('A', 10000));
SELECT protector.timezone_is_valid(NULL) IS NULL AS strict;

-- the checking variant explains itself
SELECT protector.check_timezone('Europe/Berlin');
SELECT protector.check_timezone('europe/berlin', 'p_timezone');
SELECT protector.check_timezone('Mars/Olympus_Mons', 'p_timezone');
SELECT protector.check_timezone(NULL, 'p_timezone');
SELECT protector.check_timezone(repeat('x', 500));
