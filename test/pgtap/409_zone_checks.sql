-- What an attack on memory found (the sixtieth stop): checking a time zone
-- name loaded the zone with pg_tzset(), which PostgreSQL keeps for the
-- backend's life, some 24 kB a name; a signed-in user asking
-- /rpc/timezone_is_valid (or check_timezone, or create_organization) of
-- every zone grew each pooled connection by some 30 MB.  A name is checked
-- by the zone file's headers now (the names found valid are kept, no zone
-- loaded), and every answer is as before (pg_timezone_names lists the
-- zones that are valid).  check_timezone still loads the few zones that
-- are also abbreviations (CET, EST, ...), to compare their offsets.
BEGIN;
SELECT plan(5);

SELECT sum(total_bytes) AS zones_before FROM pg_backend_memory_contexts WHERE name = 'Timezones' \gset
SELECT is((SELECT count(*) FILTER (WHERE protector.timezone_is_valid(name))::int FROM pg_timezone_names),
	(SELECT count(*)::int FROM pg_timezone_names), 'every zone pg_timezone_names lists is valid');
SELECT is((SELECT count(*)::int FROM unnest(ARRAY['europe/berlin', 'right/UTC', 'America', 'zone.tab', 'tzdata.zi',
												   'leap-seconds.list', 'Nowhere/City', 'XYZ5', 'right/Europe/Berlin']) n
		   WHERE protector.timezone_is_valid(n)), 0,
	'... and no name that is no zone of it: another spelling, a zone counting leap seconds, a directory, a data file');
SELECT is(tests.error_text($$SELECT protector.check_timezone('america/new_york', 'p_timezone')$$),
	'22023 | p_timezone is not a valid time zone: "america/new_york" | Did you mean "America/New_York"?',
	'a name spelled otherwise is told the spelling');
SELECT is((SELECT sum(total_bytes) FROM pg_backend_memory_contexts WHERE name = 'Timezones'), :'zones_before'::numeric,
	'... and the checks kept none of the zones loaded');
CREATE FUNCTION pg_temp.check_every_zone() RETURNS void LANGUAGE plpgsql AS $f$
DECLARE z text;
BEGIN
	FOR z IN SELECT name FROM pg_timezone_names LOOP
		BEGIN
			PERFORM protector.check_timezone(z, 'p_timezone');
		EXCEPTION WHEN invalid_parameter_value THEN
			NULL;
		END;
	END LOOP;
END
$f$;
SELECT pg_temp.check_every_zone();
SELECT cmp_ok((SELECT sum(total_bytes) FROM pg_backend_memory_contexts WHERE name = 'Timezones') - :'zones_before'::numeric, '<', 2000000::numeric,
	'check_timezone of every zone loads only the few that are abbreviations too (under 2 MB; it was some 28 MB)');

SELECT * FROM finish();
ROLLBACK;
