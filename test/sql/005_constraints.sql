-- Rules a row can check alone are CHECK constraints; references never
-- cross tenants (composite foreign keys on organization_id).
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY terse

INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES
	('00000000-0000-4000-8000-00000000000a', 'Lockbox Escapes', 'lockbox', 'Europe/Berlin', 'EUR'),
	('00000000-0000-4000-8000-00000000000b', 'Shield Protection', 'shield', 'America/New_York', 'USD');
-- agents are assigned here without shifts (docs/staff.md)
UPDATE protector.organizations SET settings = settings || '{"staff": {"require_shifts": false}}' WHERE id IN ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-00000000000a', 'Lockbox Mitte', 'Europe/Berlin'),
	('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-00000000000b', 'Shield HQ', 'America/New_York');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, capacity, max_party, currency) VALUES
	('00000000-0000-4000-8000-0000000a1001', '00000000-0000-4000-8000-00000000000a',
	 '00000000-0000-4000-8000-0000000000a1', 'The Vault', '60 minutes', 6, 6, 'EUR');
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('00000000-0000-4000-8000-00000000c0a1', '00000000-0000-4000-8000-00000000000a', 'Zoë Ångström', 'zoe@example.com'),
	('00000000-0000-4000-8000-00000000c0b1', '00000000-0000-4000-8000-00000000000b', 'Sam Guard', 'sam@example.com');

-- organizations
INSERT INTO protector.organizations (name, slug) VALUES ('', 'empty-name');
INSERT INTO protector.organizations (name, slug) VALUES ('Bad Slug', 'Bad Slug');
INSERT INTO protector.organizations (name, slug) VALUES ('Dup', 'lockbox');
-- (a zone that is none is named by check_zone first, a slug by check_slug:
-- the CHECKs and the unique key under replica)
SET session_replication_role = replica;
INSERT INTO protector.organizations (name, slug, timezone) VALUES ('Bad Zone', 'bad-zone', 'Mars/Base');
INSERT INTO protector.organizations (name, slug) VALUES ('Bad Slug', 'Bad Slug');
INSERT INTO protector.organizations (name, slug) VALUES ('Dup', 'lockbox');
RESET session_replication_role;
INSERT INTO protector.organizations (name, slug, timezone) VALUES ('Bad Zone', 'bad-zone', 'Mars/Base');
INSERT INTO protector.organizations (name, slug, currency) VALUES ('Bad Cur', 'bad-cur', 'euro');
INSERT INTO protector.organizations (name, slug, settings) VALUES ('Bad Set', 'bad-set', '[]');

-- venues
SET session_replication_role = replica;
INSERT INTO protector.venues (organization_id, name, timezone)
VALUES ('00000000-0000-4000-8000-00000000000a', 'No zone', 'CEST');
RESET session_replication_role;
INSERT INTO protector.venues (organization_id, name, timezone)
VALUES ('00000000-0000-4000-8000-00000000000a', 'No zone', 'CEST');
INSERT INTO protector.venues (organization_id, name, timezone, capacity)
VALUES ('00000000-0000-4000-8000-00000000000a', 'Zero', 'UTC', 0);
INSERT INTO protector.venues (organization_id, name, timezone, operating_hours)
VALUES ('00000000-0000-4000-8000-00000000000a', 'Hours', 'UTC', '"always"');

-- services (under replica, as an import writes them: there the triggers
-- that name these first, check_service_row and check_customer_row, do not
-- run, and the CHECKs still hold)
SET session_replication_role = replica;
INSERT INTO protector.services (organization_id, venue_id, name, duration)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', 'Zero', '0');
INSERT INTO protector.services (organization_id, venue_id, name, duration, min_party, max_party)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', 'Party', '1 hour', 4, 2);
INSERT INTO protector.services (organization_id, venue_id, name, duration, mode, capacity, max_party)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', 'Shared', '1 hour', 'shared', 10, 12);
INSERT INTO protector.services (organization_id, venue_id, name, duration, price)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', 'Neg', '1 hour', -5);
INSERT INTO protector.services (organization_id, venue_id, name, duration, buffer_after)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', 'Buf', '1 hour', '-5 minutes');
RESET session_replication_role;
-- a service of org A at org B's venue
INSERT INTO protector.services (organization_id, venue_id, name, duration)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000b1', 'Cross', '1 hour');

-- bookings
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, party_size) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', '00000000-0000-4000-8000-00000000c0a1',
	 '[2030-01-05 10:00+00, 2030-01-05 11:00+00)', 4);
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', '[2030-01-05 10:00+00, 2030-01-05 11:00+00)', 0);
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', 'empty');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', '[2030-01-05 10:00+00,)');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', '[2030-01-05 10:00+00, infinity)');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', '(2030-01-05 10:00+00, 2030-01-05 11:00+00]');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', '[2030-01-05 12:00+00, 2030-01-05 13:00+00)', 'held');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, total_price) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', '[2030-01-05 12:00+00, 2030-01-05 13:00+00)', -1);
-- a booking lasts at most 31 days
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', '[2030-01-05 12:00+00, 2030-02-05 12:01+00)');
-- ... also where the span is more microseconds than int64 holds (from
-- before 1999-12-24 to near the last timestamp): it wrapped negative and
-- passed, and availability, which takes every booking to last at most 31
-- days, showed the service free while it was booked for good (staff
-- shifts' CHECK is the same function)
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', '[1999-12-01 00:00+00, 294276-12-31 00:00+00)');
SELECT protector_internal.during_within_31_days('[1999-12-01 00:00+00, 294276-12-31 00:00+00)') AS wrapping_span,
	   protector_internal.during_within_31_days('[294276-11-30 00:00+00, 294276-12-31 00:00+00)') AS last_31_days;
-- org A's booking for org B's customer
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', '00000000-0000-4000-8000-00000000c0b1',
	 '[2030-01-05 12:00+00, 2030-01-05 13:00+00)');
-- venue of the booking must be the venue of the service
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during) VALUES
	('00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-0000000000b1',
	 '00000000-0000-4000-8000-0000000a1001', '[2030-01-05 12:00+00, 2030-01-05 13:00+00)');
-- an agent who is not a member of the organization
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, assigned_agent) VALUES
	('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1',
	 '00000000-0000-4000-8000-0000000a1001', '[2030-01-05 12:00+00, 2030-01-05 13:00+00)',
	 '99999999-9999-4999-8999-999999999999');

-- payments and other tables
INSERT INTO protector.payments (organization_id, booking_id, amount)
SELECT organization_id, id, -10 FROM protector.bookings LIMIT 1;
INSERT INTO protector.payments (organization_id, booking_id, amount)
SELECT '00000000-0000-4000-8000-00000000000b', id, 10 FROM protector.bookings LIMIT 1;
SET session_replication_role = replica;
INSERT INTO protector.customers (organization_id, full_name, email)
VALUES ('00000000-0000-4000-8000-00000000000a', 'No At', 'not-an-email');
INSERT INTO protector.customers (organization_id, full_name, country)
VALUES ('00000000-0000-4000-8000-00000000000a', 'Country', 'Germany');
RESET session_replication_role;
-- a closed day with special hours: the CHECK under replica, the trigger's
-- name for it otherwise (and for the other way round)
SET session_replication_role = replica;
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '2030-12-24', true, '[]');
RESET session_replication_role;
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '2030-12-24', true, '[]');
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '2030-12-24', false);
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, reason)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '2030-12-24', repeat('x', 501));
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', 'infinity');
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '2030-12-24', NULL);
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000dead', '2030-12-24');
-- special hours that are no list: the hint shows a day's list, not a week
\set VERBOSITY default
\set SHOW_CONTEXT never
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '2030-12-24', false,
		'{"mon": [["09:00", "12:00"]]}');
\set VERBOSITY terse
-- one entry per venue and day: a second is the unique key's conflict,
-- which an upsert resolves; a date moved onto another entry's is named
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, reason)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '2030-12-24', 'Christmas Eve'),
	   ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '2030-12-25', 'Christmas');
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, reason)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '2030-12-24', 'Eve')
ON CONFLICT (organization_id, venue_id, closed_on) DO UPDATE SET reason = EXCLUDED.reason;
SELECT closed_on, reason FROM protector.venue_closures WHERE closed_on >= '2030-12-24' ORDER BY closed_on;
UPDATE protector.venue_closures SET closed_on = '2030-12-25' WHERE closed_on = '2030-12-24';
INSERT INTO protector.notifications (organization_id, kind) VALUES ('00000000-0000-4000-8000-00000000000a', 'New Booking!');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('00000000-0000-4000-8000-00000000000a', '99999999-9999-4999-8999-999999999999', 'janitor');

-- updated_at is stamped on update
UPDATE protector.bookings SET party_size = 5, updated_at = '2000-01-01'
WHERE party_size = 4
RETURNING updated_at = now() AS stamped_now, updated_at > created_at OR updated_at = created_at AS not_before_creation;

-- the last owner of an organization cannot leave it
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('00000000-0000-4000-8000-00000000000a', '99999999-9999-4999-8999-999999999991', 'owner'),
	('00000000-0000-4000-8000-00000000000a', '99999999-9999-4999-8999-999999999992', 'owner');
UPDATE protector.members SET role = 'admin' WHERE user_id = '99999999-9999-4999-8999-999999999991';
UPDATE protector.members SET active = false WHERE user_id = '99999999-9999-4999-8999-999999999992';
DELETE FROM protector.members WHERE user_id = '99999999-9999-4999-8999-999999999992';
-- ... but the whole organization can go, members and all
BEGIN;
DELETE FROM protector.bookings WHERE organization_id = '00000000-0000-4000-8000-00000000000a';
DELETE FROM protector.organizations WHERE id = '00000000-0000-4000-8000-00000000000a';
SELECT count(*) FROM protector.members WHERE organization_id = '00000000-0000-4000-8000-00000000000a';
ROLLBACK;

-- leave the database as we found it for the next tests
DELETE FROM protector.bookings;
DELETE FROM protector.organizations;

-- the C CHECKs (src/constraints.c) say what the SQL rules they replaced
-- said, for every kind of range: 3 lower ends (unbounded, -infinity, t0)
-- x 6 upper ends (unbounded, infinity, t0, t0 + 1 hour, + 31 days, + 31
-- days and a microsecond) x 4 kinds of bounds = 72 ranges; bounded are the
-- three "[)" ones from t0 to a later finite end, and of those two last at
-- most 31 days.  (The length rule is compared where the during rule holds:
-- it runs second, and in SQL it fails on an infinite bound.)
SELECT count(*) AS ranges,
	   count(*) FILTER (WHERE protector_internal.during_is_bounded(r)) AS bounded,
	   count(*) FILTER (WHERE protector_internal.during_is_bounded(r) AND protector_internal.during_within_31_days(r)) AS within_31_days,
	   count(*) FILTER (WHERE protector_internal.during_is_bounded(r) IS DISTINCT FROM
						(NOT isempty(r) AND NOT lower_inf(r) AND NOT upper_inf(r) AND lower_inc(r) AND NOT upper_inc(r)
						 AND isfinite(lower(r)) AND isfinite(upper(r)))) AS during_rule_differs,
	   count(*) FILTER (WHERE protector_internal.during_is_bounded(r) AND
						protector_internal.during_within_31_days(r) IS DISTINCT FROM (upper(r) - lower(r) <= interval '31 days'))
		   AS length_rule_differs
FROM (SELECT tstzrange(lo, hi, b) AS r
	  FROM (VALUES (NULL::timestamptz), ('-infinity'), ('2030-03-01 00:00+00')) l(lo),
		   (VALUES (NULL::timestamptz), ('infinity'), ('2030-03-01 00:00+00'), ('2030-03-01 01:00+00'), ('2030-04-01 00:00+00'),
				   ('2030-04-01 00:00:00.000001+00')) h(hi),
		   (VALUES ('[)'), ('(]'), ('[]'), ('()')) k(b)) x;
-- bookings_row_check, the bookings' one CHECK, against the thirteen SQL
-- rules it stands for (sql/30_tables.sql), which PostgreSQL checked in the
-- order of their names: a valid row, then each column through valid and
-- invalid values with the others valid (5 + 6 + 4 + 8 + 4 + 6 + 3 + 11 +
-- 6 + 6 + 3 + 3 = 65 rows), then rows breaking two or all rules (4).  The
-- verdict is the name of the first rule broken, from the error the
-- function raises, or ok.
CREATE FUNCTION pg_temp.verdict(a numeric, cr text, st protector.booking_status, he timestamptz, cu text, dep numeric,
								det jsonb, dis numeric, du tstzrange, ik text, ps integer, tp numeric, up numeric)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	c text;
BEGIN
	PERFORM protector_internal.bookings_row_check(a, cr, st, he, cu, dep, det, dis, du, ik, ps, tp, up);
	RETURN 'ok';
EXCEPTION WHEN check_violation THEN
	GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME;
	RETURN c;
END $$;
CREATE FUNCTION pg_temp.rules(a numeric, cr text, st protector.booking_status, he timestamptz, cu text, dep numeric,
							  det jsonb, dis numeric, du tstzrange, ik text, ps integer, tp numeric, up numeric)
RETURNS text LANGUAGE sql AS $$
	SELECT coalesce((SELECT name FROM (VALUES
		('bookings_amount_paid_check', a >= 0 AND a <> 'NaN'),
		('bookings_cancellation_reason_check', length(cr) <= 2000),
		('bookings_check', st <> 'held' OR he IS NOT NULL),
		('bookings_currency_check', cu ~ '^[A-Z]{3}$'),
		('bookings_deposit_amount_check', dep >= 0 AND dep <> 'NaN'),
		('bookings_details_check', jsonb_typeof(det) = 'object'),
		('bookings_discount_amount_check', dis >= 0 AND dis <> 'NaN'),
		('bookings_during_check', NOT isempty(du) AND NOT lower_inf(du) AND NOT upper_inf(du) AND lower_inc(du)
								  AND NOT upper_inc(du) AND isfinite(lower(du)) AND isfinite(upper(du))),
		('bookings_idempotency_key_check', length(ik) BETWEEN 1 AND 200),
		-- (the SQL rule raised on an infinite bound; bookings_during_check,
		-- first by name, refuses those)
		('bookings_length_check', CASE WHEN isfinite(lower(du)) AND isfinite(upper(du))
									   THEN upper(du) - lower(du) <= interval '31 days' END),
		('bookings_party_size_check', ps BETWEEN 1 AND 100000),
		('bookings_total_price_check', tp >= 0 AND tp <> 'NaN'),
		('bookings_unit_price_check', up >= 0 AND up <> 'NaN')) r(name, ok)
		WHERE ok IS FALSE ORDER BY name COLLATE "C" LIMIT 1), 'ok')
$$;
CREATE TEMP TABLE base AS
SELECT 0::numeric AS a, NULL::text AS cr, 'pending'::protector.booking_status AS st, NULL::timestamptz AS he,
	   'EUR'::text AS cu, 0::numeric AS dep, '{}'::jsonb AS det, 0::numeric AS dis,
	   '[2030-01-05 10:00+00, 2030-01-05 11:00+00)'::tstzrange AS du, NULL::text AS ik, 1 AS ps,
	   0::numeric AS tp, 0::numeric AS up;
CREATE TEMP TABLE grid AS
SELECT * FROM base
UNION ALL SELECT v, cr, st, he, cu, dep, det, dis, du, ik, ps, tp, up FROM base, unnest('{-0.01,0,5,NaN,NULL}'::numeric[]) v
UNION ALL SELECT a, v, st, he, cu, dep, det, dis, du, ik, ps, tp, up FROM base,
	unnest(ARRAY[repeat('x', 2000), repeat('x', 2001), repeat('é', 2000), repeat('é', 2001), '', NULL]) v
UNION ALL SELECT a, cr, s, h, cu, dep, det, dis, du, ik, ps, tp, up FROM base,
	(VALUES ('held'::protector.booking_status, NULL::timestamptz), ('held', '2030-01-01 00:00+00'), ('pending', NULL),
			(NULL, NULL)) x(s, h)
UNION ALL SELECT a, cr, st, he, v, dep, det, dis, du, ik, ps, tp, up FROM base,
	unnest(ARRAY['EUR', 'eur', 'EU', 'EURO', 'ÉUR', 'E1R', '', NULL]) v
UNION ALL SELECT a, cr, st, he, cu, v, det, dis, du, ik, ps, tp, up FROM base, unnest('{-1,0,NaN,NULL}'::numeric[]) v
UNION ALL SELECT a, cr, st, he, cu, dep, v, dis, du, ik, ps, tp, up FROM base,
	unnest(ARRAY['{}', '[]', '1', 'null', '"x"', NULL]::jsonb[]) v
UNION ALL SELECT a, cr, st, he, cu, dep, det, v, du, ik, ps, tp, up FROM base, unnest('{-1,0,NULL}'::numeric[]) v
UNION ALL SELECT a, cr, st, he, cu, dep, det, dis, v, ik, ps, tp, up FROM base,
	unnest(ARRAY['[2030-01-05 10:00+00, 2030-01-05 11:00+00)', 'empty', '[2030-01-05 10:00+00,)',
				 '(2030-01-05 10:00+00, 2030-01-05 11:00+00]', '[2030-01-05 10:00+00, 2030-01-05 11:00+00]',
				 '[2030-01-05 10:00+00, infinity)', '[-infinity, 2030-01-05 11:00+00)',
				 '[2030-01-05 00:00+00, 2030-02-05 00:00+00)', '[2030-01-05 00:00+00, 2030-02-05 00:00:00.000001+00)',
				 '[2030-01-05 00:00+00, 2030-02-06 00:00+00)', NULL]::tstzrange[]) v
UNION ALL SELECT a, cr, st, he, cu, dep, det, dis, du, v, ps, tp, up FROM base,
	unnest(ARRAY['', 'k', repeat('k', 200), repeat('k', 201), repeat('é', 200), NULL]) v
UNION ALL SELECT a, cr, st, he, cu, dep, det, dis, du, ik, v, tp, up FROM base, unnest('{0,1,100000,100001,-5,NULL}'::int[]) v
UNION ALL SELECT a, cr, st, he, cu, dep, det, dis, du, ik, ps, v, up FROM base, unnest('{-1,0,NULL}'::numeric[]) v
UNION ALL SELECT a, cr, st, he, cu, dep, det, dis, du, ik, ps, tp, v FROM base, unnest('{-1,0,NULL}'::numeric[]) v
-- two rules broken: the first by name wins (during before idempotency_key,
-- length before party_size, total_price before unit_price); all broken
UNION ALL SELECT a, cr, st, he, cu, dep, det, dis, 'empty', '', ps, tp, up FROM base
UNION ALL SELECT a, cr, st, he, cu, dep, det, dis, '[2030-01-05 00:00+00, 2030-03-05 00:00+00)', ik, 0, tp, up FROM base
UNION ALL SELECT a, cr, st, he, cu, dep, det, dis, du, ik, ps, -1, -1 FROM base
UNION ALL SELECT -1, repeat('x', 2001), 'held', NULL, 'eu', -1, '[]', -1, 'empty', '', 0, -1, -1;
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE pg_temp.verdict(a, cr, st, he, cu, dep, det, dis, du, ik, ps, tp, up)
						IS DISTINCT FROM pg_temp.rules(a, cr, st, he, cu, dep, det, dis, du, ik, ps, tp, up)) AS disagreements
FROM grid;
SELECT verdict, count(*)
FROM (SELECT pg_temp.verdict(a, cr, st, he, cu, dep, det, dis, du, ik, ps, tp, up) AS verdict FROM grid) g
GROUP BY verdict ORDER BY verdict COLLATE "C";
