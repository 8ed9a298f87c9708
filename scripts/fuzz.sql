-- scripts/fuzz.sql — the hostile calls of `make fuzz` (scripts/fuzz.sh).
-- Run as superuser in a database that holds protector and the data of
-- test/ops/fixture.sql, with the psql variables calls (random calls per
-- function) and seed (0 .. 2^31-1: the same seed, the same calls).  It
-- creates the schema fuzz:
--
--   fuzz.pool       hostile values per argument type, as SQL expressions
--   fuzz.plausible  values by argument name that get a call past its first
--                   checks (the fixture's rows, a valid time zone, ...)
--   fuzz.functions  what is called: every function of protector and
--                   protector_internal but triggers, event triggers and
--                   those taking a pseudo-type
--   fuzz.calls      the calls: each value of the pool at each position of
--                   each function once, the other arguments plausible;
--                   then `calls` random ones per function
--   fuzz.results    what each call did, per pass (superuser, authenticated)
--   fuzz.run()      runs one call in a subtransaction that is always rolled
--                   back (the data stays the fixture's for every call) and
--                   records its SQLSTATE, '00000' when it returned
--
-- scripts/fuzz.sh runs `SELECT fuzz.run(pass, id)` once per call as its own
-- statement, so that statement_timeout (10 s) bounds each call.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET statement_timeout = 0;		-- the calls are bounded, not their making

DROP SCHEMA IF EXISTS fuzz CASCADE;
CREATE SCHEMA fuzz;

-- expr: an SQL expression of the pool's type (cast to it by the call);
-- small: non-NULL and cheap, usable as the element of generated arrays
CREATE TABLE fuzz.pool (
	typ regtype NOT NULL,
	expr text NOT NULL,
	small boolean NOT NULL DEFAULT false,
	UNIQUE (typ, expr)
);

-- two rows of every table of protector with a uuid id, and the auth users
CREATE TEMP TABLE fixture_ids (id uuid PRIMARY KEY);
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT c.oid::regclass AS rel FROM pg_class c
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'id' AND a.atttypid = 'uuid'::regtype
		WHERE c.relnamespace = 'protector'::regnamespace AND c.relkind IN ('r', 'p')
		ORDER BY 1::text
	LOOP
		EXECUTE format('INSERT INTO fixture_ids SELECT id FROM %s ORDER BY id LIMIT 2 ON CONFLICT DO NOTHING', r.rel);
	END LOOP;
	IF to_regclass('auth.users') IS NOT NULL THEN
		INSERT INTO fixture_ids SELECT id FROM auth.users ORDER BY id LIMIT 3 ON CONFLICT DO NOTHING;
	END IF;
END $$;

INSERT INTO fuzz.pool (typ, expr, small) VALUES
	-- text
	('text', 'NULL', false),
	('text', $$''$$, true),
	('text', $$repeat('x', 1048576)$$, false),
	('text', $$repeat('ä', 524288)$$, false),
	('text', $$E'\x01\x02\x1b[31m\x7f'$$, true),
	('text', $$E'\u202Eevil\u202C \u200B\uFEFF\u2066x\u2069'$$, true),
	('text', $$'   '$$, true),
	('text', $$'Europe/Nowhere'$$, true),
	('text', $$'Europe/Berlin'$$, true),
	('text', $$'UTC'$$, true),
	('text', $$'+14:00'$$, true),
	('text', $$'{{'$$, true),
	('text', $$'{"a":'$$, true),
	('text', $$'not-a-uuid'$$, true),
	('text', $$'00000000-0000-0000-0000-00000000000g'$$, true),
	('text', $$'''); DROP TABLE protector.bookings; --'$$, true),
	('text', $$'%s%n%x\\'$$, true),
	('text', $$'lockbox'$$, true),
	('text', $$'EUR'$$, true),
	('text', $$'+49 (30) 1234-5678'$$, true),
	('text', $$'a@b.c'$$, true),
	('text', $$'conflict'$$, true),
	('text', $$'not_found'$$, true),
	('text', $$'owner'$$, true),
	-- uuid (the fixture's ids are added below)
	('uuid', 'NULL', false),
	('uuid', $$'00000000-0000-0000-0000-000000000000'$$, true),
	('uuid', $$'ffffffff-ffff-ffff-ffff-ffffffffffff'$$, true),
	('uuid', 'gen_random_uuid()', true),
	-- integers
	('integer', 'NULL', false),
	('integer', '0', true),
	('integer', '1', true),
	('integer', '2', true),
	('integer', '-1', true),
	('integer', '2147483647', true),
	('integer', '-2147483648', true),
	('smallint', 'NULL', false),
	('smallint', '0', true),
	('smallint', '-1', true),
	('smallint', '32767', true),
	('smallint', '-32768', true),
	('bigint', 'NULL', false),
	('bigint', '0', true),
	('bigint', '-1', true),
	('bigint', '2147483647', true),
	('bigint', '9223372036854775807', true),
	('bigint', '-9223372036854775808', true),
	-- numbers that are not integers
	('numeric', 'NULL', false),
	('numeric', $$'NaN'$$, true),
	('numeric', $$'Infinity'$$, true),
	('numeric', $$'-Infinity'$$, true),
	('numeric', $$'1e300'$$, true),
	('numeric', $$'1e-300'$$, true),
	('numeric', '-1', true),
	('numeric', '0', true),
	('numeric', '19.99', true),
	('double precision', 'NULL', false),
	('double precision', $$'NaN'$$, true),
	('double precision', $$'Infinity'$$, true),
	('double precision', $$'-Infinity'$$, true),
	('double precision', '1e308', true),
	('double precision', '-1', true),
	('double precision', '0', true),
	('real', 'NULL', false),
	('real', $$'NaN'$$, true),
	('real', $$'Infinity'$$, true),
	('real', '-1', true),
	('real', '3.4e38', true),
	('boolean', 'NULL', false),
	('boolean', 'true', true),
	('boolean', 'false', true),
	-- time
	('timestamp with time zone', 'NULL', false),
	('timestamp with time zone', $$'-infinity'$$, true),
	('timestamp with time zone', $$'infinity'$$, true),
	('timestamp with time zone', $$'0001-01-01 00:00 UTC'$$, true),
	('timestamp with time zone', $$'4713-11-24 00:00 UTC BC'$$, true),
	('timestamp with time zone', $$'294276-12-31 23:59 UTC'$$, true),
	('timestamp with time zone', 'now()', true),
	-- on the hour of the fixture's bookings (a conflict), and a free hour
	('timestamp with time zone', $$date_trunc('day', now()) + interval '3 days 10 hours'$$, true),
	('timestamp with time zone', $$date_trunc('day', now()) + interval '12 days 10 hours'$$, true),
	('timestamp with time zone', $$date_trunc('day', now()) + interval '12 days 10 hours 17 minutes 0.5 seconds'$$, true),
	-- in the gap of a daylight saving change
	('timestamp with time zone', $$'2031-03-30 02:30 Europe/Berlin'$$, true),
	('timestamp without time zone', 'NULL', false),
	('timestamp without time zone', $$'-infinity'$$, true),
	('timestamp without time zone', $$'infinity'$$, true),
	('timestamp without time zone', $$'0001-01-01 00:00'$$, true),
	('timestamp without time zone', $$'294276-12-31 23:59'$$, true),
	('timestamp without time zone', 'localtimestamp', true),
	('date', 'NULL', false),
	('date', $$'-infinity'$$, true),
	('date', $$'infinity'$$, true),
	('date', $$'0001-01-01'$$, true),
	('date', $$'4713-01-01 BC'$$, true),
	('date', $$'5874897-12-31'$$, true),
	('date', 'current_date', true),
	('date', 'current_date + 3', true),
	('date', 'current_date + 400', true),
	('date', 'current_date - 1', true),
	('interval', 'NULL', false),
	('interval', $$'0'$$, true),
	('interval', $$'-1 day'$$, true),
	('interval', $$'1 microsecond'$$, true),
	('interval', $$'178000000 years'$$, true),
	('interval', $$'-178000000 years'$$, true),
	('time without time zone', 'NULL', false),
	('time without time zone', $$'00:00'$$, true),
	('time without time zone', $$'24:00'$$, true),
	('time without time zone', $$'23:59:59.999999'$$, true),
	-- ranges: empty, unbounded, infinite, inverted (an error of the caller)
	('tstzrange', 'NULL', false),
	('tstzrange', $$'empty'$$, true),
	('tstzrange', $$'(,)'$$, true),
	('tstzrange', $$'[-infinity,infinity]'$$, true),
	('tstzrange', $$'[2030-01-01,2030-01-02)'$$, true),
	('tstzrange', $$'[2030-01-02,2030-01-01)'$$, false),
	('tstzrange', $$tstzrange(now(), now(), '[]')$$, true),
	('daterange', 'NULL', false),
	('daterange', $$'empty'$$, true),
	('daterange', $$'(,)'$$, true),
	('daterange', $$'[0001-01-01,5874897-12-31)'$$, true),
	('daterange', $$'[2030-01-02,2030-01-01)'$$, false),
	-- jsonb: scalars, deep, huge, and shapes near the ones protector reads
	('jsonb', 'NULL', false),
	('jsonb', $$'{}'$$, true),
	('jsonb', $$'[]'$$, true),
	('jsonb', $$'null'$$, true),
	('jsonb', $$'"x"'$$, true),
	('jsonb', $$'-0.0e-7'$$, true),
	('jsonb', $$'true'$$, true),
	('jsonb', $$(repeat('{"a":', 5000) || '1' || repeat('}', 5000))$$, false),
	('jsonb', $$(repeat('[', 5000) || repeat(']', 5000))$$, false),
	('jsonb', $$(SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 100000) i)$$, false),
	('jsonb', $$jsonb_build_object('mon', jsonb_build_array(jsonb_build_array('09:00', repeat('9', 1048576))))$$, false),
	('jsonb', $$'{"mon": [["09:00", "17:00"]], "sat": [["22:00", "02:00"]]}'$$, true),
	('jsonb', $$'{"mon": [["25:00", "09:00"], ["17:00", "09:00"]], "xyz": 1, "tue": "x"}'$$, true),
	('jsonb', $$'{"mon": [["24:00", "24:00"], ["00:00", "00:00"], [null, null], ["9", "-1:00"]]}'$$, true),
	('jsonb', $$'{"mon": [["09:00"]], "tue": [[]], "wed": [["09:00", "10:00", "11:00"]], "thu": [[1, 2]]}'$$, true),
	('jsonb', $$'[["09:00", "17:00"], ["16:00", "18:00"]]'$$, true),
	('jsonb', $$'[["23:59:60", "00:00:00.000001"], ["x"]]'$$, true),
	('jsonb', $$'{"timezone": "Europe/Nowhere", "name": "", "capacity": -1, "active": "maybe"}'$$, true),
	('jsonb', $$'{"capacity": 2147483648, "name": null, "timezone": null, "branding": [], "widget_settings": "x"}'$$, true),
	('jsonb', $$'{"bookings_per_minute": 0, "confirmation_minutes": 1e300, "auto_confirm": "true", "visitor_bookings_per_hour": -1e-300}'$$, true),
	('jsonb', $$'{"refund_policy": {"full_refund_hours": -1}, "id": "not-a-uuid", "organization_id": "00000000-0000-0000-0000-000000000000"}'$$, true),
	-- json (only if some function takes it)
	('json', 'NULL', false),
	('json', $$'{}'$$, true),
	('json', $$'{"a": 1, "a": 2}'$$, true),
	('json', $$(repeat('[', 5000) || repeat(']', 5000))$$, false),
	-- relations: system catalog, protector's, a user table, a view, a
	-- sequence, an index, a TOAST table, an oid that is no relation
	('regclass', 'NULL', false),
	('regclass', $$'pg_class'$$, true),
	('regclass', $$'pg_stat_activity'$$, true),
	('regclass', $$'protector.bookings'$$, true),
	('regclass', $$'protector.audit_log'$$, true),
	('regclass', $$'public.guests'$$, true),
	('regclass', $$'public.guests_id_seq'$$, true),
	('regclass', $$'pg_class_oid_index'$$, true),
	('regclass', $$(SELECT reltoastrelid FROM pg_class WHERE oid = 'protector.venues'::regclass)$$, true),
	('regclass', '0::oid', true),
	('regclass', '4294967295::oid', true),
	('inet', 'NULL', false),
	('inet', $$'0.0.0.0/0'$$, true),
	('inet', $$'::1'$$, true),
	('inet', $$'255.255.255.255'$$, true);

-- the fixture's ids, its embed key, its capability names
INSERT INTO fuzz.pool (typ, expr, small)
SELECT 'uuid', quote_literal(id), true FROM fixture_ids
ON CONFLICT DO NOTHING;
INSERT INTO fuzz.pool (typ, expr, small)
SELECT 'text', quote_literal(embed_key), true FROM protector.venues
ON CONFLICT DO NOTHING;
INSERT INTO fuzz.pool (typ, expr, small)
SELECT 'text', quote_literal(action), true
FROM (SELECT action FROM protector.capability_map() ORDER BY action LIMIT 3) a
ON CONFLICT DO NOTHING;

-- every type an argument of a function to call has (arrays' element
-- types included); pseudo-types cannot be constructed, such functions are
-- left out below
CREATE TEMP TABLE arg_types AS
SELECT DISTINCT t.oid AS typ
FROM pg_proc p
CROSS JOIN LATERAL unnest(p.proargtypes::oid[]) a(typ)
JOIN pg_type t ON t.oid = a.typ
WHERE p.pronamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
  AND t.typtype <> 'p';
INSERT INTO arg_types
SELECT t.typelem FROM arg_types a JOIN pg_type t ON t.oid = a.typ
WHERE t.typelem <> 0 AND t.typcategory = 'A'
EXCEPT SELECT typ FROM arg_types;

-- enums: every label
INSERT INTO fuzz.pool (typ, expr, small)
SELECT a.typ, e.expr, e.small
FROM arg_types a JOIN pg_type t ON t.oid = a.typ AND t.typtype = 'e'
CROSS JOIN LATERAL (
	SELECT 'NULL', false
	UNION ALL
	SELECT quote_literal(enumlabel), true FROM pg_enum WHERE enumtypid = t.oid
) e(expr, small)
ON CONFLICT DO NOTHING;

-- domains: the values of their base type
INSERT INTO fuzz.pool (typ, expr, small)
SELECT a.typ, p.expr, p.small
FROM arg_types a JOIN pg_type t ON t.oid = a.typ AND t.typtype = 'd'
JOIN fuzz.pool p ON p.typ = t.typbasetype
ON CONFLICT DO NOTHING;

-- composites (row types of tables included): NULL, all fields NULL, a
-- stranger's id, and a row of the table when there is one
INSERT INTO fuzz.pool (typ, expr, small)
SELECT a.typ, e.expr, e.small
FROM arg_types a JOIN pg_type t ON t.oid = a.typ AND t.typtype = 'c'
CROSS JOIN LATERAL (VALUES
	('NULL', false),
	(format('jsonb_populate_record(NULL::%s, %L)', a.typ::regtype, '{}'), true),
	(format('jsonb_populate_record(NULL::%s, jsonb_build_object(%L, gen_random_uuid()))', a.typ::regtype, 'id'), true)
) e(expr, small)
ON CONFLICT DO NOTHING;
INSERT INTO fuzz.pool (typ, expr, small)
SELECT a.typ, format('(SELECT r FROM %s r LIMIT 1)', c.oid::regclass), true
FROM arg_types a JOIN pg_class c ON c.reltype = a.typ AND c.relkind IN ('r', 'p', 'v')
ON CONFLICT DO NOTHING;

-- arrays of any element type with a pool: NULL, empty, {NULL}, all the
-- small values, the same value twice, 100,000 elements, two dimensions,
-- a lower bound that is not 1
INSERT INTO fuzz.pool (typ, expr, small)
SELECT a.typ, e.expr, false
FROM arg_types a
JOIN pg_type t ON t.oid = a.typ AND t.typcategory = 'A' AND t.typelem <> 0
CROSS JOIN LATERAL (
	SELECT (array_agg(p.expr ORDER BY p.expr ~ 'random' DESC, p.expr))[1] AS one,	-- random uuids, if any
		   (array_agg(p.expr ORDER BY p.expr DESC))[1] AS other,
		   string_agg('(' || p.expr || ')::' || format_type(t.typelem, NULL), ', ' ORDER BY p.expr) AS all_small
	FROM fuzz.pool p WHERE p.typ = t.typelem AND p.small
) s
CROSS JOIN LATERAL (
	SELECT 'NULL'
	UNION ALL SELECT $$'{}'$$
	UNION ALL SELECT format('ARRAY[NULL]::%s', a.typ::regtype)
	UNION ALL SELECT format('ARRAY[%s]', s.all_small) WHERE s.one IS NOT NULL
	UNION ALL SELECT format('ARRAY[(%1$s)::%2$s, (%1$s)::%2$s]', s.one, format_type(t.typelem, NULL)) WHERE s.one IS NOT NULL
	UNION ALL SELECT format('ARRAY(SELECT (%s)::%s FROM generate_series(1, 100000))', s.one, format_type(t.typelem, NULL)) WHERE s.one IS NOT NULL
	UNION ALL SELECT format('ARRAY[[(%1$s)::%3$s, (%2$s)::%3$s], [(%2$s)::%3$s, (%1$s)::%3$s]]', s.one, s.other, format_type(t.typelem, NULL)) WHERE s.one IS NOT NULL
	UNION ALL SELECT format('array_fill((%s)::%s, ARRAY[2], ARRAY[-7])', s.one, format_type(t.typelem, NULL)) WHERE s.one IS NOT NULL
) e(expr)
ON CONFLICT DO NOTHING;
-- and some that only make sense for text[] (protector names columns in them)
INSERT INTO fuzz.pool (typ, expr, small) VALUES
	('text[]', $$'{note}'$$, false),
	('text[]', $$'{id,"no such column",note}'$$, false),
	('text[]', $$ARRAY[repeat('x', 1048576)]$$, false),
	('text[]', $$(SELECT array_agg(attname::text) FROM pg_attribute WHERE attrelid = 'protector.bookings'::regclass)$$, false)
ON CONFLICT DO NOTHING;
-- the fixture's ids together
INSERT INTO fuzz.pool (typ, expr, small)
SELECT 'uuid[]', quote_literal(array_agg(id ORDER BY id)), false FROM fixture_ids
ON CONFLICT DO NOTHING;

-- any other type: NULL only
INSERT INTO fuzz.pool (typ, expr, small)
SELECT typ, 'NULL', false FROM arg_types
WHERE typ NOT IN (SELECT typ FROM fuzz.pool)
ON CONFLICT DO NOTHING;

-- plausible values by argument name (a regular expression on it), so that
-- calls get past the first checks: the fixture's rows of the right kind, a
-- valid time zone, a free hour.  A position with none takes the small
-- values of its type's pool.
CREATE TABLE fuzz.plausible (
	arg text NOT NULL,
	typ regtype NOT NULL,
	expr text NOT NULL,
	UNIQUE (arg, typ, expr)
);
INSERT INTO fuzz.plausible (arg, typ, expr)
SELECT '^p_(new_)?service_id$', 'uuid'::regtype, quote_literal(id) FROM protector.services
UNION ALL SELECT '^p_service_ids$', 'uuid[]'::regtype, quote_literal(array_agg(id)) FROM protector.services
UNION ALL SELECT '^p_(target_)?venue_id$', 'uuid'::regtype, quote_literal(id) FROM protector.venues
UNION ALL SELECT '^p_(customer_id|keep_id|merge_id)$', 'uuid'::regtype, quote_literal(id) FROM protector.customers
UNION ALL SELECT '^p_booking_id$', 'uuid'::regtype, quote_literal(min(id::text)) FROM protector.bookings GROUP BY status
UNION ALL SELECT '^p_booking_ids$', 'uuid[]'::regtype, quote_literal(array_agg(id)) FROM protector.bookings
UNION ALL SELECT '^p_organization_id$', 'uuid'::regtype, quote_literal(id) FROM protector.organizations
UNION ALL SELECT '^p_(assigned_agent|id)$', 'uuid'::regtype, quote_literal(user_id) FROM protector.members
UNION ALL SELECT '^p_id$', 'uuid'::regtype, quote_literal(id) FROM fixture_ids
UNION ALL SELECT '^p_(embed_)?key$', 'text'::regtype, quote_literal(embed_key) FROM protector.venues
UNION ALL SELECT '^p_action$', 'text'::regtype, quote_literal(action) FROM protector.capability_map()
UNION ALL SELECT arg, typ::regtype, expr FROM (VALUES
	('^p_timezone$', 'text', $$'Europe/Berlin'$$),
	('^p_timezone$', 'text', $$'America/St_Johns'$$),
	('^p_currency$', 'text', $$'EUR'$$),
	('^p_slug$', 'text', $$'fuzz-' || substr(md5(random()::text), 1, 8)$$),
	('^p_(full_|customer_)?name$', 'text', $$'Fuzz Fuzzer'$$),
	('^p_(customer_)?email$', 'text', $$'fuzz@example.com'$$),
	('^p_(customer_)?phone$', 'text', $$'+49 30 1234567'$$),
	('^p_idempotency_key$', 'text', $$'fuzz-' || gen_random_uuid()$$),
	('^p_kind$', 'text', $$'conflict'$$),
	('^p_kind$', 'text', $$'not_found'$$),
	('^p_entity$', 'text', $$'booking'$$),
	('^p_prefix$', 'text', $$'pk'$$),
	('^p_country$', 'text', $$'DE'$$),
	('^p_key$', 'text', $$'bookings_per_minute'$$),
	('^p_param$', 'text', $$'p_timezone'$$),
	('^p_(start|new_start|at)$', 'timestamp with time zone', $$date_trunc('day', now()) + interval '3 days 16 hours'$$),
	('^p_(start|new_start|at)$', 'timestamp with time zone', $$date_trunc('day', now()) + interval '20 days 11 hours'$$),
	('^p_(start|new_start|at)$', 'timestamp with time zone', $$date_trunc('day', now()) + interval '4 days 10 hours'$$),
	('^p_(from|before)$', 'timestamp with time zone', $$now() - interval '1 day'$$),
	('^p_(to|before)$', 'timestamp with time zone', $$now() + interval '30 days'$$),
	('^p_from$', 'date', 'current_date'),
	('^p_to$', 'date', 'current_date + 14'),
	('^p_party_size$', 'integer', '2'),
	('^p_hold_minutes$', 'integer', '15'),
	('^p_limit$', 'integer', '10'),
	('^p_[rfm]$', 'integer', '3'),
	('^p_(default|min)$', 'integer', '1'),
	('^p_max$', 'integer', '100'),
	('^p_price(_per_person)?$', 'numeric', '19.99'),
	('^p_(operating_)?hours$', 'jsonb', $$'{"mon": [["09:00", "17:00"]], "sat": [["22:00", "02:00"]]}'$$),
	('^p_hours$', 'jsonb', $$'[["09:00", "12:00"], ["13:00", "17:00"]]'$$),
	('^p_changes$', 'jsonb', $$'{"name": "Fuzz Mitte", "timezone": "Europe/Paris", "capacity": 3}'$$),
	('^p_(details|branding|widget_settings|settings)$', 'jsonb', $$'{}'$$),
	('^p_table$', 'regclass', $$'protector.bookings'$$),
	('^p_table$', 'regclass', $$'protector.customers'$$),
	('^p_table$', 'regclass', $$'public.guests'$$),
	('^p_masked_columns$', 'text[]', $$'{note}'$$)
) v(arg, typ, expr)
ON CONFLICT DO NOTHING;

-- the functions to call: every function of the two schemas but triggers,
-- event triggers, aggregates and window functions, and those with an
-- argument of a pseudo-type; argtypes and argnames of the input arguments,
-- from 1
CREATE TABLE fuzz.functions AS
SELECT p.oid::regprocedure AS fn, p.prokind,
	   ARRAY(SELECT t FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, n) ORDER BY n) AS argtypes,
	   ARRAY(SELECT coalesce(nm, '') FROM unnest(p.proargnames, p.proargmodes) WITH ORDINALITY u(nm, mode, n)
			 WHERE coalesce(mode, 'i') IN ('i', 'b', 'v') ORDER BY n) AS argnames,
	   p.pronargdefaults AS ndefaults
FROM pg_proc p
WHERE p.pronamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
  AND p.prokind IN ('f', 'p')
  AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
  AND NOT EXISTS (SELECT FROM unnest(p.proargtypes::oid[]) a(typ) JOIN pg_type t ON t.oid = a.typ WHERE t.typtype = 'p');

CREATE TABLE fuzz.calls (
	id integer PRIMARY KEY,
	fn regprocedure NOT NULL,
	sql text NOT NULL
);

-- the statement of a call: each argument cast to its type, and the
-- result cast to text so that its output function runs too
CREATE FUNCTION pg_temp.call_sql(p_name text, p_kind "char", p_types oid[], p_args text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT format(CASE WHEN p_kind = 'p' THEN 'CALL %s(%s)' ELSE 'SELECT count(r) FROM (SELECT (%s(%s))::text AS r) s' END,
				  p_name,
				  (SELECT string_agg(format('(%s)::%s', a, format_type(p_types[n], NULL)), ', ' ORDER BY n)
				   FROM unnest(p_args) WITH ORDINALITY u(a, n)))
$$;
-- The calls of a function: first, for every position, one call per value
-- of its type's pool with plausible values at the other positions (every
-- hostile value comes at every position at least once, where it gets
-- furthest); then as many calls as asked for of three kinds: one hostile
-- value among plausible ones (two in five), only plausible values (one in
-- five), values of the pools at random (the rest); in those, now and then
-- the defaulted arguments are left out.
SELECT setseed(:seed / 2147483648.0), set_config('fuzz.calls', :'calls', false) \g /dev/null
CREATE FUNCTION pg_temp.plausible(p_typ regtype, p_name text) RETURNS text
LANGUAGE sql VOLATILE AS $$
	SELECT coalesce(
		(SELECT expr FROM fuzz.plausible WHERE typ = p_typ AND p_name ~ arg ORDER BY random() LIMIT 1),
		(SELECT expr FROM fuzz.pool WHERE typ = p_typ AND small ORDER BY random() LIMIT 1),
		'NULL')
$$;
CREATE FUNCTION pg_temp.hostile(p_typ regtype) RETURNS text
LANGUAGE sql VOLATILE AS $$
	SELECT coalesce((SELECT expr FROM fuzz.pool WHERE typ = p_typ ORDER BY random() LIMIT 1), 'NULL')
$$;
DO $$
DECLARE
	v_calls integer := current_setting('fuzz.calls')::integer;
	f record;
	v_args text[];
	v_nargs integer;
	v_value text;
	v_name text;
	v_mode float8;
	v_hostile integer;
BEGIN
	FOR f IN SELECT * FROM fuzz.functions ORDER BY fn::text LOOP
		v_nargs := coalesce(array_length(f.argtypes, 1), 0);
		v_name := format('%I.%I', (SELECT nspname FROM pg_namespace n JOIN pg_proc p ON p.pronamespace = n.oid WHERE p.oid = f.fn),
						 (SELECT proname FROM pg_proc WHERE oid = f.fn));
		-- every value of the pool at every position
		FOR j IN 1 .. v_nargs LOOP
			FOR v_value IN SELECT expr FROM fuzz.pool WHERE typ = f.argtypes[j] ORDER BY expr LOOP
				v_args := '{}';
				FOR k IN 1 .. v_nargs LOOP
					v_args := v_args || CASE WHEN k = j THEN v_value ELSE pg_temp.plausible(f.argtypes[k], f.argnames[k]) END;
				END LOOP;
				INSERT INTO fuzz.calls SELECT coalesce(max(id), 0) + 1, f.fn, pg_temp.call_sql(v_name, f.prokind, f.argtypes, v_args) FROM fuzz.calls;
			END LOOP;
		END LOOP;
		-- and at random
		FOR i IN 1 .. v_calls LOOP
			v_args := '{}';
			v_mode := random();
			v_hostile := 1 + floor(random() * v_nargs)::integer;
			FOR k IN 1 .. v_nargs LOOP
				v_args := v_args || CASE WHEN v_mode < 0.6 AND NOT (v_mode < 0.4 AND k = v_hostile)
										 THEN pg_temp.plausible(f.argtypes[k], f.argnames[k])
										 ELSE pg_temp.hostile(f.argtypes[k]) END;
			END LOOP;
			IF f.ndefaults > 0 AND random() < 0.2 THEN
				v_args := v_args[1 : v_nargs - 1 - floor(random() * f.ndefaults)::integer];
			END IF;
			INSERT INTO fuzz.calls SELECT coalesce(max(id), 0) + 1, f.fn, pg_temp.call_sql(v_name, f.prokind, f.argtypes, v_args) FROM fuzz.calls;
		END LOOP;
	END LOOP;
END $$;

-- SQLSTATE '00000': the call returned (its effects are rolled back all the
-- same); message and sql are cut to keep the report readable
CREATE TABLE fuzz.results (
	pass text NOT NULL,
	call_id integer NOT NULL,
	sqlstate text NOT NULL,
	message text,
	ms numeric NOT NULL,
	PRIMARY KEY (pass, call_id)
);

CREATE FUNCTION fuzz.run(p_pass text, p_id integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v_sql text;
	v_state text;
	v_msg text;
	v_t0 timestamptz := clock_timestamp();
BEGIN
	SELECT sql INTO STRICT v_sql FROM fuzz.calls WHERE id = p_id;
	BEGIN
		BEGIN
			EXECUTE v_sql;
			RAISE SQLSTATE 'FZ000';		-- undo what the call did
		EXCEPTION WHEN OTHERS OR query_canceled OR assert_failure THEN
			GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
		END;
		-- a statement timeout that struck while the call was failing of
		-- something else is raised at the next check for interrupts
		PERFORM pg_catalog.pg_sleep(0);
	EXCEPTION WHEN query_canceled THEN
		v_msg := format('canceling statement due to statement timeout (noticed after the call ended with %s%s)',
						coalesce(nullif(v_state, 'FZ000'), '00000'), ': ' || v_msg);
		v_state := '57014';
	END;
	IF v_state = 'FZ000' THEN
		v_state := '00000';
		v_msg := NULL;
	END IF;
	INSERT INTO fuzz.results VALUES (p_pass, p_id, v_state, left(v_msg, 300),
		round(extract(epoch FROM clock_timestamp() - v_t0) * 1000, 1));
END $$;

GRANT USAGE ON SCHEMA fuzz TO PUBLIC;
GRANT SELECT ON fuzz.calls, fuzz.pool TO PUBLIC;
GRANT INSERT ON fuzz.results TO PUBLIC;

SELECT count(*) AS calls, count(DISTINCT fn) AS functions FROM fuzz.calls;
