-- scripts/demo.sql — the protector demo scenario, run by `make demo`.
-- Requests are made the way PostgREST makes them: in a transaction,
-- SET LOCAL ROLE authenticated and the JWT claims in request.jwt.claims.
\set QUIET on
\pset footer off
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';

\echo
\echo '== 1. Installing protector into a plain PostgreSQL 15'
CREATE EXTENSION protector CASCADE;
SELECT extversion AS "protector version" FROM pg_extension WHERE extname = 'protector';
\echo 'The Supabase roles (anon, authenticated, service_role) did not exist, so protector created them:'
SELECT rolname AS role, rolbypassrls AS "bypasses RLS" FROM pg_roles
WHERE rolname IN ('anon', 'authenticated', 'service_role') ORDER BY 1;

\echo
\echo '== 2. Sample data: two businesses, their venues, services, staff and customers'
-- the auth users of the staff and of one customer (on Supabase: auth.users)
CREATE TEMP TABLE demo_user (name text PRIMARY KEY, id uuid);
INSERT INTO demo_user VALUES
	('olga (owner)',      'a0000000-0000-4000-8000-000000000001'),
	('adam (admin)',      'a0000000-0000-4000-8000-000000000002'),
	('mia (manager)',     'a0000000-0000-4000-8000-000000000003'),
	('otto (operator)',   'a0000000-0000-4000-8000-000000000004'),
	('alex (agent)',      'a0000000-0000-4000-8000-000000000005'),
	('fay (finance)',     'a0000000-0000-4000-8000-000000000006'),
	('vic (viewer)',      'a0000000-0000-4000-8000-000000000007'),
	('sam (owner of Shield)', 'b0000000-0000-4000-8000-000000000001'),
	('cora (customer)',   'c0000000-0000-4000-8000-000000000001');

INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES
	('0a000000-0000-4000-8000-000000000000', 'Lockbox Escapes', 'lockbox', 'Europe/Berlin', 'EUR'),
	('0b000000-0000-4000-8000-000000000000', 'Shield Protection', 'shield', 'America/New_York', 'USD');
INSERT INTO protector.members (organization_id, user_id, role, full_name)
SELECT '0a000000-0000-4000-8000-000000000000', id,
	   substring(name FROM '\((\w+)\)')::protector.member_role, split_part(name, ' ', 1)
FROM demo_user WHERE name ~ '^(olga|adam|mia|otto|alex|fay|vic) ';
INSERT INTO protector.members (organization_id, user_id, role, full_name) VALUES
	('0b000000-0000-4000-8000-000000000000', 'b0000000-0000-4000-8000-000000000001', 'owner', 'sam');
INSERT INTO protector.venues (id, organization_id, name, city, country, timezone) VALUES
	('0a000000-0000-4000-8000-0000000000a1', '0a000000-0000-4000-8000-000000000000', 'Lockbox Mitte', 'Berlin', 'DE', 'Europe/Berlin'),
	('0b000000-0000-4000-8000-0000000000b1', '0b000000-0000-4000-8000-000000000000', 'Shield HQ', 'New York', 'US', 'America/New_York');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, duration, capacity, max_party, price, price_per_person, currency) VALUES
	('0a000000-0000-4000-8000-0000000005a1', '0a000000-0000-4000-8000-000000000000', '0a000000-0000-4000-8000-0000000000a1',
	 'The Vault (escape room)', 'exclusive', '60 minutes', 6, 6, 0, 25, 'EUR'),
	('0a000000-0000-4000-8000-0000000005a2', '0a000000-0000-4000-8000-000000000000', '0a000000-0000-4000-8000-0000000000a1',
	 'Puzzle workshop', 'shared', '90 minutes', 12, 4, 0, 15, 'EUR'),
	('0b000000-0000-4000-8000-0000000005b1', '0b000000-0000-4000-8000-000000000000', '0b000000-0000-4000-8000-0000000000b1',
	 'Executive escort, 4h', 'exclusive', '4 hours', 1, 1, 800, 0, 'USD');
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email) VALUES
	('0a000000-0000-4000-8000-00000000c001', '0a000000-0000-4000-8000-000000000000', 'c0000000-0000-4000-8000-000000000001', 'Cora Klein', 'cora@example.com'),
	('0a000000-0000-4000-8000-00000000c002', '0a000000-0000-4000-8000-000000000000', NULL, 'Jonas Weber', 'jonas@example.com'),
	('0b000000-0000-4000-8000-00000000c001', '0b000000-0000-4000-8000-000000000000', NULL, 'Dana Price', 'dana@example.com');
-- Alex the agent works at Lockbox Mitte on the evening of 4 May 2030: a
-- booking is assigned only to someone on shift for all of it
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
SELECT m.organization_id, m.id, '0a000000-0000-4000-8000-0000000000a1' FROM protector.members m
WHERE m.user_id = 'a0000000-0000-4000-8000-000000000005';
INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during)
SELECT m.organization_id, m.id, '0a000000-0000-4000-8000-0000000000a1',
	   tstzrange('2030-05-04 16:00 Europe/Berlin', '2030-05-04 23:00 Europe/Berlin')
FROM protector.members m WHERE m.user_id = 'a0000000-0000-4000-8000-000000000005';
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, party_size, status, total_price, currency, assigned_agent) VALUES
	('0a000000-0000-4000-8000-000000000000', '0a000000-0000-4000-8000-0000000000a1', '0a000000-0000-4000-8000-0000000005a1',
	 '0a000000-0000-4000-8000-00000000c001', tstzrange('2030-05-04 18:00 Europe/Berlin', '2030-05-04 19:00 Europe/Berlin'),
	 4, 'confirmed', 100, 'EUR', 'a0000000-0000-4000-8000-000000000005'),
	('0a000000-0000-4000-8000-000000000000', '0a000000-0000-4000-8000-0000000000a1', '0a000000-0000-4000-8000-0000000005a1',
	 '0a000000-0000-4000-8000-00000000c002', tstzrange('2030-05-04 20:00 Europe/Berlin', '2030-05-04 21:00 Europe/Berlin'),
	 5, 'pending', 125, 'EUR', NULL),
	('0a000000-0000-4000-8000-000000000000', '0a000000-0000-4000-8000-0000000000a1', '0a000000-0000-4000-8000-0000000005a2',
	 '0a000000-0000-4000-8000-00000000c002', tstzrange('2030-05-05 10:00 Europe/Berlin', '2030-05-05 11:30 Europe/Berlin'),
	 2, 'confirmed', 30, 'EUR', NULL),
	('0b000000-0000-4000-8000-000000000000', '0b000000-0000-4000-8000-0000000000b1', '0b000000-0000-4000-8000-0000000005b1',
	 '0b000000-0000-4000-8000-00000000c001', tstzrange('2030-05-04 09:00 America/New_York', '2030-05-04 13:00 America/New_York'),
	 1, 'confirmed', 800, 'USD', NULL);

SELECT o.name AS organization, o.timezone,
	   (SELECT count(*) FROM protector.members m WHERE m.organization_id = o.id) AS staff,
	   (SELECT count(*) FROM protector.venues v WHERE v.organization_id = o.id) AS venues,
	   (SELECT count(*) FROM protector.services s WHERE s.organization_id = o.id) AS services,
	   (SELECT count(*) FROM protector.customers c WHERE c.organization_id = o.id) AS customers,
	   (SELECT count(*) FROM protector.bookings b WHERE b.organization_id = o.id) AS bookings
FROM protector.organizations o ORDER BY o.name;

\echo
\echo '== 3. Who sees what: the same query, "select * from bookings", as each user'
\echo 'Each request runs as PostgREST runs it: set local role authenticated + the JWT claims.'
CREATE TEMP TABLE demo_seen (who text, bookings_seen text, customers_seen int);
CREATE FUNCTION pg_temp.as_user(p_name text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	uid uuid := (SELECT id FROM demo_user WHERE name = p_name);
BEGIN
	PERFORM set_config('role', 'authenticated', true);
	PERFORM set_config('request.jwt.claims', json_build_object('sub', uid, 'role', 'authenticated')::text, true);
END $$;
DO $$
DECLARE
	u text;
	seen text;
	ncust int;
BEGIN
	FOR u IN SELECT name FROM demo_user ORDER BY id LOOP
		BEGIN
			PERFORM pg_temp.as_user(u);
			SELECT coalesce(string_agg(coalesce(c.full_name, '(unknown)') || ' ' ||
									   to_char(lower(b.during) AT TIME ZONE 'Europe/Berlin', 'DD Mon HH24:MI'),
									   ', ' ORDER BY lower(b.during)), '(nothing)')
			INTO seen
			FROM protector.bookings b LEFT JOIN protector.customers c ON c.id = b.customer_id;
			SELECT count(*) INTO ncust FROM protector.customers;
			-- end the "request": roll back its role and claims
			RAISE EXCEPTION USING ERRCODE = 'PTRBK';
		EXCEPTION WHEN SQLSTATE 'PTRBK' THEN NULL;
		END;
		INSERT INTO demo_seen VALUES (u, seen, ncust);
	END LOOP;
END $$;
SELECT who AS "signed in as", bookings_seen AS "bookings visible (customer, start in Berlin time)",
	   customers_seen AS "customers visible" FROM demo_seen;
\echo 'Staff see their organization by role; the agent only what is assigned to him; the viewer'
\echo 'no personal data; Sam (another business) only his own; Cora (a customer) only her booking.'

\echo
\echo '== 4. What is refused'
\set VERBOSITY terse
\echo 'Anonymous visitors read nothing:'
BEGIN;
SET LOCAL ROLE anon;
\set ON_ERROR_STOP off
SELECT count(*) FROM protector.bookings;
\set ON_ERROR_STOP on
ROLLBACK;
\echo 'The agent may update the booking assigned to him, but not its price:'
BEGIN;
SELECT pg_temp.as_user('alex (agent)') \g /dev/null
\set ON_ERROR_STOP off
UPDATE protector.bookings SET total_price = 1 WHERE assigned_agent = protector.current_user_id();
\set ON_ERROR_STOP on
ROLLBACK;
\echo 'The owner of another business cannot touch Lockbox bookings, even knowing their ids:'
BEGIN;
SELECT pg_temp.as_user('sam (owner of Shield)') \g /dev/null
WITH u AS (UPDATE protector.bookings SET status = 'cancelled' WHERE organization_id = '0a000000-0000-4000-8000-000000000000'
		   RETURNING 1)
SELECT count(*) AS "Lockbox bookings Sam cancelled" FROM u;
ROLLBACK;

\set VERBOSITY default
\echo
\echo '== 5. Booking: opening hours, free slots, an idempotent retry'
UPDATE protector.venues SET operating_hours = '{"mon": [["10:00", "22:00"]], "tue": [["10:00", "22:00"]],
	"wed": [["10:00", "22:00"]], "thu": [["10:00", "22:00"]], "fri": [["10:00", "24:00"]],
	"sat": [["10:00", "24:00"]], "sun": [["12:00", "20:00"]]}'
WHERE id = '0a000000-0000-4000-8000-0000000000a1';
UPDATE protector.services SET slot_interval = '90 minutes', buffer_after = '30 minutes'
WHERE id = '0a000000-0000-4000-8000-0000000005a1';
SELECT (date_trunc('week', current_date) + interval '15 days')::date::text AS day \gset
\echo 'The Vault (60 minutes + 30 minutes to reset the room, slots every 90 minutes) on Tuesday week, Berlin time:'
SELECT to_char(slot_start AT TIME ZONE 'Europe/Berlin', 'Dy DD Mon HH24:MI') AS "slot starts",
	   remaining_capacity AS "players possible"
FROM protector.get_available_slots('0a000000-0000-4000-8000-0000000005a1', :'day');
\echo 'Mia (manager) books the 10:00 game for Jonas from her phone; the network drops and the app retries:'
BEGIN;
SELECT pg_temp.as_user('mia (manager)') \g /dev/null
SELECT b ->> 'status' AS status, b ->> 'total_price' AS "total (EUR)", b ->> 'replayed' AS replayed
FROM protector.create_booking('0a000000-0000-4000-8000-0000000005a1', '0a000000-0000-4000-8000-00000000c002',
	(:'day' || ' 10:00')::timestamp AT TIME ZONE 'Europe/Berlin', 4, 'mia-phone/42') b;
SELECT b ->> 'status' AS status, b ->> 'total_price' AS "total (EUR)", b ->> 'replayed' AS replayed
FROM protector.create_booking('0a000000-0000-4000-8000-0000000005a1', '0a000000-0000-4000-8000-00000000c002',
	(:'day' || ' 10:00')::timestamp AT TIME ZONE 'Europe/Berlin', 4, 'mia-phone/42') b;
COMMIT;
\echo 'Still one booking for that request:'
SELECT count(*) AS bookings FROM protector.bookings WHERE idempotency_key = 'mia-phone/42';
\echo 'Starts that are not slots explain themselves:'
\set ON_ERROR_STOP off
SELECT protector.create_booking('0a000000-0000-4000-8000-0000000005a1', NULL, (:'day' || ' 10:15')::timestamp AT TIME ZONE 'Europe/Berlin', 4);
SELECT protector.create_booking('0a000000-0000-4000-8000-0000000005a1', NULL, (:'day' || ' 08:00')::timestamp AT TIME ZONE 'Europe/Berlin', 4);
\set ON_ERROR_STOP on

\echo
\echo '== 6. Availability on a day the clocks change'
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0b000000-0000-4000-8000-0000000000b2', '0b000000-0000-4000-8000-000000000000', 'Shield cabs (24/7)', 'America/New_York', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, currency) VALUES
	('0b000000-0000-4000-8000-0000000005b2', '0b000000-0000-4000-8000-000000000000', '0b000000-0000-4000-8000-0000000000b2',
	 'Airport cab', '60 minutes', '60 minutes', '400 days', 'USD');
-- the next first Sunday of November (New York falls back at 02:00)
SELECT d::date::text AS fallback FROM generate_series(current_date + 1, current_date + 400, '1 day') d
WHERE extract(month FROM d) = 11 AND extract(dow FROM d) = 0 AND extract(day FROM d) <= 7 LIMIT 1 \gset
\echo 'Hourly cab slots in New York on' :fallback '(clocks go back: 01:00 happens twice, 25 slots):'
SELECT count(*) AS slots,
	   string_agg(to_char(slot_start AT TIME ZONE 'America/New_York', 'HH24'), ' ' ORDER BY slot_start) AS "local hours"
FROM protector.get_available_slots('0b000000-0000-4000-8000-0000000005b2', :'fallback');

