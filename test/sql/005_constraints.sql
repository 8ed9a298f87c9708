-- Rules a row can check alone are CHECK constraints; references never
-- cross tenants (composite foreign keys on organization_id).
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY terse

INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES
	('00000000-0000-4000-8000-00000000000a', 'Lockbox Escapes', 'lockbox', 'Europe/Berlin', 'EUR'),
	('00000000-0000-4000-8000-00000000000b', 'Shield Protection', 'shield', 'America/New_York', 'USD');
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
INSERT INTO protector.organizations (name, slug, timezone) VALUES ('Bad Zone', 'bad-zone', 'Mars/Base');
INSERT INTO protector.organizations (name, slug, currency) VALUES ('Bad Cur', 'bad-cur', 'euro');
INSERT INTO protector.organizations (name, slug, settings) VALUES ('Bad Set', 'bad-set', '[]');

-- venues
INSERT INTO protector.venues (organization_id, name, timezone)
VALUES ('00000000-0000-4000-8000-00000000000a', 'No zone', 'CEST');
INSERT INTO protector.venues (organization_id, name, timezone, capacity)
VALUES ('00000000-0000-4000-8000-00000000000a', 'Zero', 'UTC', 0);
INSERT INTO protector.venues (organization_id, name, timezone, operating_hours)
VALUES ('00000000-0000-4000-8000-00000000000a', 'Hours', 'UTC', '"always"');

-- services
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
INSERT INTO protector.customers (organization_id, full_name, email)
VALUES ('00000000-0000-4000-8000-00000000000a', 'No At', 'not-an-email');
INSERT INTO protector.customers (organization_id, full_name, country)
VALUES ('00000000-0000-4000-8000-00000000000a', 'Country', 'Germany');
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed, special_hours)
VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1', '2030-12-24', true, '[]');
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
