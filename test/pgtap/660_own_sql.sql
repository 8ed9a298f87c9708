-- What an attack with an operator's own SQL found (the thirty-fifth stop):
-- a BEFORE UPDATE trigger of the operator's own that moved a booking was
-- not followed by the capacity check (it fired UPDATE OF the columns it
-- reads, which PostgreSQL decides from the statement's SET list), and a
-- promo code set or changed on a live booking by service_role was not
-- counted, so its later cancellation gave back a use never taken and the
-- code was used beyond max_uses.  And from an encodings attack: one
-- customer whose name carried more spaces than the name folding takes
-- (0.1.0's CHECK measured names trimmed; 0.2.0's counts every character) made
-- find_duplicate_customers fail for the whole organization, and a logo's
-- URL was judged by the database's ctype (a right-to-left override taken
-- everywhere, a no-break space in one database and not another).
BEGIN;
SELECT plan(11);
SET LOCAL TimeZone = 'UTC';

INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0a660000-0000-4000-8000-000000000000', 'Own SQL', 'own-sql', 'UTC', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a660000-0000-4000-8000-0000000000a1', '0a660000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, duration, slot_interval, max_advance, capacity, price, price_per_person)
VALUES ('0a660000-0000-4000-8000-0000000005a1', '0a660000-0000-4000-8000-000000000000', '0a660000-0000-4000-8000-0000000000a1',
		'Room', 'exclusive', '1 hour', '1 hour', '365 days', 4, 100, 0);
CREATE FUNCTION pg_temp.book(h integer, code uuid) RETURNS uuid LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, promo_code_id)
	VALUES ('0a660000-0000-4000-8000-000000000000', '0a660000-0000-4000-8000-0000000000a1', '0a660000-0000-4000-8000-0000000005a1',
			tstzrange(date_trunc('day', now()) + interval '10 days' + h * interval '1 hour',
					  date_trunc('day', now()) + interval '10 days' + (h + 1) * interval '1 hour'),
			'confirmed', code)
	RETURNING id
$$;

-- 1. the operator's trigger moves a booking onto its neighbour's hour
SELECT pg_temp.book(10, NULL) AS first \gset
SELECT pg_temp.book(11, NULL) AS second \gset
CREATE FUNCTION pg_temp.apply_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.details ? 'move_to' THEN
		NEW.during := tstzrange((NEW.details ->> 'move_to')::timestamptz,
								(NEW.details ->> 'move_to')::timestamptz + (upper(OLD.during) - lower(OLD.during)));
		NEW.details := NEW.details - 'move_to';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER a_apply_move BEFORE UPDATE ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION pg_temp.apply_move();
SELECT throws_ok(format($$UPDATE protector.bookings SET details = jsonb_build_object('move_to', lower(during) + interval '1 hour')
						 WHERE id = %L$$, :'first'),
	'23P01', NULL, 'a booking moved by the operator''s own BEFORE UPDATE trigger is checked: refused onto a taken hour');
SELECT lives_ok(format($$UPDATE protector.bookings SET details = jsonb_build_object('move_to', lower(during) - interval '1 hour')
						WHERE id = %L$$, :'first'),
	'... and moved onto a free one');
SELECT is((SELECT count(*) FROM protector.bookings a JOIN protector.bookings b ON a.id < b.id AND a.during && b.during
		   WHERE a.service_id = '0a660000-0000-4000-8000-0000000005a1' AND b.service_id = a.service_id),
	0::bigint, '... no two bookings of the room overlap');
DROP TRIGGER a_apply_move ON protector.bookings;

-- 2. service_role sets and changes promo codes on live bookings
INSERT INTO protector.promo_codes (id, organization_id, discount_kind, discount_value, currency, max_uses)
VALUES ('0a660000-0000-4000-8000-0000000000d1', '0a660000-0000-4000-8000-000000000000', 'percent', 10, 'EUR', 2),
	   ('0a660000-0000-4000-8000-0000000000d2', '0a660000-0000-4000-8000-000000000000', 'percent', 5, 'EUR', NULL);
SELECT pg_temp.book(1, '0a660000-0000-4000-8000-0000000000d1') AS p1 \gset
SELECT pg_temp.book(2, NULL) AS p2 \gset
SELECT pg_temp.book(3, NULL) AS p3 \gset
CREATE FUNCTION pg_temp.uses() RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(format('%s: %s used, %s live', right(c.id::text, 2), c.times_used,
		(SELECT count(*) FROM protector.bookings b WHERE b.promo_code_id = c.id AND b.status <> 'cancelled')), '; ' ORDER BY c.id)
	FROM protector.promo_codes c WHERE c.organization_id = '0a660000-0000-4000-8000-000000000000'
$$;
SET LOCAL ROLE service_role;
UPDATE protector.bookings SET promo_code_id = '0a660000-0000-4000-8000-0000000000d1' WHERE id = :'p2';
UPDATE protector.bookings SET promo_code_id = '0a660000-0000-4000-8000-0000000000d2' WHERE id = :'p1';
UPDATE protector.bookings SET status = 'cancelled' WHERE id = :'p2';
RESET ROLE;
SELECT is(pg_temp.uses(), 'd1: 0 used, 0 live; d2: 1 used, 1 live',
	'a code set on a live booking counts, one changed gives its use back, a cancellation the use it took');
SET LOCAL ROLE service_role;
UPDATE protector.bookings SET promo_code_id = '0a660000-0000-4000-8000-0000000000d1' WHERE id = :'p1';
UPDATE protector.bookings SET promo_code_id = '0a660000-0000-4000-8000-0000000000d1' WHERE id = :'p3';
SELECT throws_ok(format($$UPDATE protector.bookings SET status = 'confirmed' WHERE id = %L$$, :'p2'),
	'22023', 'this promo code has been used up', 'the code''s limit holds for a booking brought back under it');
RESET ROLE;
SELECT is(pg_temp.uses(), 'd1: 2 used, 2 live; d2: 0 used, 0 live', '... the uses are its live bookings');
SELECT throws_ok($$SELECT pg_temp.book(5, '0a660000-0000-4000-8000-0000000000d1')$$,
	'22023', 'this promo code has been used up', '... and a new booking with it is refused (3 live bookings on a code of 2 before)');

-- 3. a logo's URL is printable ASCII, whatever the database's ctype
SELECT throws_ok(format($$SELECT protector_internal.check_settings('branding', %L, 'p_changes.branding')$$,
						jsonb_build_object('logo_url', 'https://good.example/' || chr(8238) || 'gnp.exe')),
	'22023', 'p_changes.branding.logo_url must be an https:// URL of at most 2000 characters',
	'a logo URL with a right-to-left override is refused');
SELECT lives_ok($$SELECT protector_internal.check_settings('branding',
	'{"logo_url": "https://cdn.example.com/logos/M%C3%BCller%20%26%20Co.png?v=2#x"}', 'p_changes.branding')$$,
	'... a percent-encoded one is taken');

-- 4. a name padded past what normalize_name takes is no name of 1 to 200
-- characters (0.1.0's CHECK measured it trimmed; 0.2.0's counts every
-- character, and the update trims such names, test/ops/upgrade.sh), also
-- where nothing but the CHECK runs (a data-only restore under replica, as
-- operations.md's recipe runs it); one padded within them is matched by
-- its letters beside its twin
SET LOCAL session_replication_role = replica;
SELECT throws_ok($$INSERT INTO protector.customers (id, organization_id, full_name, phone)
	VALUES ('0a660000-0000-4000-8000-0000000000c1', '0a660000-0000-4000-8000-000000000000',
			repeat(' ', 1300) || 'Old Name', '+49 30 1234 5678')$$,
	'23514', NULL, 'a name of 8 letters and 1,300 spaces is refused, also under replica');
INSERT INTO protector.customers (id, organization_id, full_name, phone)
VALUES ('0a660000-0000-4000-8000-0000000000c1', '0a660000-0000-4000-8000-000000000000',
		repeat(' ', 150) || 'Old Name', '+49 30 1234 5678'),
	   ('0a660000-0000-4000-8000-0000000000c2', '0a660000-0000-4000-8000-000000000000', 'old name', '030 9999 5678');
RESET session_replication_role;
SELECT is((SELECT string_agg(reason || ' ' || cardinality(customer_ids), ', ')
		   FROM protector.find_duplicate_customers('0a660000-0000-4000-8000-000000000000')),
	'same name and phone ending 2',
	'a padded name is matched by its letters');

SELECT * FROM finish();
ROLLBACK;
