-- What an attack of costs callers can impose found (the thirty-fourth
-- stop), counted in work done, not time: the waiver gate compared every
-- listed participant with every signature through the ICU name folding
-- (participants x signatures calls: a customer's list of 2,400 beside
-- 1,000 signatures on their own booking kept the desk's in_progress
-- update running for 92 s).
BEGIN;
SELECT plan(7);
SET LOCAL track_functions = 'all';

SELECT tests.create_supabase_user('cc_manager') IS NOT NULL AS made \gset
INSERT INTO protector.organizations (id, name, slug, timezone, settings)
VALUES ('0a650000-0000-4000-8000-000000000000', 'Costs', 'caller-costs', 'UTC', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a650000-0000-4000-8000-000000000000', tests.get_supabase_uid('cc_manager'), 'manager');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a650000-0000-4000-8000-0000000000a1', '0a650000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, capacity, max_party, mode)
VALUES ('0a650000-0000-4000-8000-0000000005a1', '0a650000-0000-4000-8000-000000000000', '0a650000-0000-4000-8000-0000000000a1',
		'Game', '1 hour', '1 hour', 100, 100, 'shared');
-- a booking of 60 listing 60 participants by name, 40 of whom have signed
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, party_size, details)
VALUES ('0a650000-0000-4000-8000-0000000000b1', '0a650000-0000-4000-8000-000000000000', '0a650000-0000-4000-8000-0000000000a1',
		'0a650000-0000-4000-8000-0000000005a1', tstzrange(now() - interval '10 minutes', now() + interval '50 minutes'),
		'confirmed', 60,
		jsonb_build_object('participants', (SELECT jsonb_agg('Player ' || n ORDER BY n) FROM generate_series(1, 60) n)));
SELECT tests.authenticate_as('cc_manager');
SELECT (protector.create_waiver('0a650000-0000-4000-8000-000000000000', 'Game waiver', 'I play at my own risk.') ->> 'waiver_id') AS waiver \gset
UPDATE protector.services SET waiver_id = :'waiver' WHERE id = '0a650000-0000-4000-8000-0000000005a1';
SELECT count(*) AS signed FROM generate_series(1, 40) n,
	LATERAL protector.submit_waiver(:'waiver', 'Player ' || n, '1990-01-01', 'Player ' || n, 'Player ' || n,
									'0a650000-0000-4000-8000-0000000000b1') s \gset
SELECT tests.clear_authentication();

CREATE FUNCTION pg_temp.folds() RETURNS bigint LANGUAGE sql AS $$
	SELECT COALESCE(pg_stat_get_xact_function_calls('protector_internal.typed_name(text)'::regprocedure), 0)
$$;
SELECT pg_temp.folds() AS before \gset
SELECT throws_ok($$UPDATE protector.bookings SET status = 'in_progress' WHERE id = '0a650000-0000-4000-8000-0000000000b1'$$,
	'22023', '40 of 60 participants have signed the waiver "Game waiver"',
	'40 of 60 listed have signed: the gate refuses');
SELECT cmp_ok(pg_temp.folds() - :before, '<=', 200::bigint,
	'... folding each name once (60 listed + 40 signed, twice each at most), not each pair (60 x 40 = 2,400)');
CREATE FUNCTION pg_temp.gate_detail() RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
	UPDATE protector.bookings SET status = 'in_progress' WHERE id = '0a650000-0000-4000-8000-0000000000b1';
	RETURN 'passed';
EXCEPTION WHEN invalid_parameter_value THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN d;
END $$;
SELECT is(pg_temp.gate_detail(),
	'Not signed: ' || (SELECT string_agg('Player ' || n, ', ' ORDER BY n) FROM generate_series(41, 50) n) || '.',
	'... and names the first ten who have not, in the list''s order');

-- a signature's duplicate check folds its own name once, not once per
-- signature of the booking beside it (40 share this birth date)
SELECT pg_temp.folds() AS before \gset
SELECT tests.authenticate_as('cc_manager');
SELECT protector.submit_waiver(:'waiver', 'Player 41', '1990-01-01', 'Player 41', 'Player 41',
							   '0a650000-0000-4000-8000-0000000000b1') IS NOT NULL AS signed \gset
SELECT tests.clear_authentication();
SELECT cmp_ok(pg_temp.folds() - :before, '<=', 45::bigint,
	'a 41st signature folds its name once and each of the 40 beside it once (83 folds when its own was folded per row)');

-- a refused time zone leaves nothing behind in the backend: the hint's
-- lookup kept the POSIX reading of each name that could be one (about
-- 24 kB) for the session's life, 192 MB after 8,000 refused requests of one
-- pooled connection (a memory attack review, the thirty-fifth stop)
CREATE FUNCTION pg_temp.zone_cache() RETURNS bigint LANGUAGE sql AS $$
	SELECT COALESCE(sum(total_bytes), 0)::bigint FROM pg_backend_memory_contexts WHERE name = 'Timezones'
$$;
CREATE FUNCTION pg_temp.refuse_zones(n integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	refused integer := 0;
BEGIN
	FOR i IN 1 .. n LOOP
		BEGIN
			PERFORM protector.check_timezone('QRS' || i || 'TUV', 'p_timezone');
		EXCEPTION WHEN invalid_parameter_value THEN
			refused := refused + 1;
		END;
	END LOOP;
	RETURN refused;
END $$;
CREATE FUNCTION pg_temp.zone_hint(p_name text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	h text;
BEGIN
	PERFORM protector.check_timezone(p_name, 'p_timezone');
	RETURN 'accepted';
EXCEPTION WHEN invalid_parameter_value THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN h;
END $$;
SELECT pg_temp.zone_cache() AS zones_before \gset
SELECT is(pg_temp.refuse_zones(200), 200, '200 names that read as POSIX zone specs are refused');
SELECT cmp_ok(pg_temp.zone_cache() - :zones_before, '<', 200000::bigint,
	'... and the backend''s zone cache keeps none of them (about 4.8 MB before)');
SELECT is(pg_temp.zone_hint('etc/gmt+5'), 'Did you mean "Etc/GMT+5"?',
	'a zone file spelled in another case is still named in the hint');

SELECT * FROM finish();
ROLLBACK;
