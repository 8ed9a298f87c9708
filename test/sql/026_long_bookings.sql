-- The shared count's two reads (src/reserve.c, occupancy_taken): the
-- bookings starting from two hours before the new one's occupied time,
-- through the start index; the earlier ones, which reach it only when
-- longer than two hours, through the GiST index of long bookings
-- (bookings_long_during_idx, predicate booking_is_long(during)).  Every
-- booking is counted once: none missed, none twice.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- which bookings are long: more than two hours, to the microsecond
SELECT protector_internal.booking_is_long('[2030-07-01 10:00, 2030-07-01 12:00)') AS two_hours,
	   protector_internal.booking_is_long('[2030-07-01 10:00, 2030-07-01 12:00:00.000001)') AS a_microsecond_more,
	   protector_internal.booking_is_long('empty') AS empty,
	   protector_internal.booking_is_long('[2030-07-01 10:00,)') AS unbounded,
	   protector_internal.booking_is_long('[2030-07-01 10:00, infinity)') AS infinite,
	   protector_internal.booking_is_long('[1999-12-01 00:00+00, 294276-12-31 00:00+00)') AS wrapping_span;
SELECT protector_internal.booking_is_long(NULL) IS NULL AS strict;

INSERT INTO protector.organizations (id, name, slug) VALUES
	('26000000-0000-4000-8000-000000000000', 'Long', 'long');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('26000000-0000-4000-8000-0000000000a1', '26000000-0000-4000-8000-000000000000', 'Hall', 'UTC');
-- services 1 to 4: shared, 4 places; 4 with 30 minutes of buffer either side;
-- 5: exclusive
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, duration, buffer_before, buffer_after, max_party)
SELECT ('26000000-0000-4000-8000-00000000e00' || n)::uuid, '26000000-0000-4000-8000-000000000000',
	   '26000000-0000-4000-8000-0000000000a1', 'Tour ' || n, CASE WHEN n = 5 THEN 'exclusive' ELSE 'shared' END::protector.service_mode,
	   CASE WHEN n = 5 THEN 1 ELSE 4 END, '60 minutes',
	   CASE WHEN n = 4 THEN '30 minutes' ELSE '0' END::interval, CASE WHEN n = 4 THEN '30 minutes' ELSE '0' END::interval,
	   CASE WHEN n = 5 THEN 1 ELSE 4 END
FROM generate_series(1, 5) n;

CREATE FUNCTION pg_temp.book(p_service int, p_from timestamptz, p_to timestamptz, p_party int)
RETURNS text LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size)
	VALUES ('26000000-0000-4000-8000-000000000000', '26000000-0000-4000-8000-0000000000a1',
			('26000000-0000-4000-8000-00000000e00' || p_service)::uuid, tstzrange(p_from, p_to), p_party)
	RETURNING 'booked ' || p_party
$$;

-- 1. a three-day booking of 3 places, begun two days before: found through
-- the GiST index only (it starts long before the start index's window)
SELECT pg_temp.book(1, '2030-07-01 08:00', '2030-07-04 08:00', 3);
SELECT pg_temp.book(1, '2030-07-03 10:00', '2030-07-03 11:00', 2);   -- 3 + 2 = 5 > 4
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.book(1, '2030-07-03 10:00', '2030-07-03 11:00', 1);   -- 3 + 1 = 4
SELECT pg_temp.book(1, '2030-07-03 10:30', '2030-07-03 11:30', 1);   -- 3 + 1 + 1 = 5
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.book(1, '2030-07-03 11:00', '2030-07-03 12:00', 1);   -- 3 + 1 = 4: the hour after is free of the other

-- 2. a long booking that starts inside the window (1 h 30 before): both
-- reads meet it, one counts it
SELECT pg_temp.book(2, '2030-07-01 08:30', '2030-07-01 12:30', 2);
SELECT pg_temp.book(2, '2030-07-01 10:00', '2030-07-01 11:00', 2);   -- 2 + 2 = 4
SELECT pg_temp.book(2, '2030-07-01 10:00', '2030-07-01 11:00', 1);   -- 2 + 2 + 1 = 5
\echo :LAST_ERROR_SQLSTATE
-- ... and one that starts exactly where the window begins (2 h before)
SELECT pg_temp.book(2, '2030-07-02 08:00', '2030-07-02 12:00', 2);
SELECT pg_temp.book(2, '2030-07-02 10:00', '2030-07-02 11:00', 2);   -- 2 + 2 = 4
SELECT pg_temp.book(2, '2030-07-02 10:00', '2030-07-02 11:00', 1);   -- 5
\echo :LAST_ERROR_SQLSTATE

-- 3. a short booking (two hours exactly: not in the GiST index) reaching
-- the new one from the very start of the window
SELECT pg_temp.book(3, '2030-07-01 08:00:00.000001', '2030-07-01 10:00:00.000001', 3);
SELECT pg_temp.book(3, '2030-07-01 10:00', '2030-07-01 11:00', 2);   -- overlaps by a microsecond: 3 + 2 = 5
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.book(3, '2030-07-01 10:00:00.000001', '2030-07-01 11:00', 4);   -- touches its end: 4
SELECT pg_temp.book(3, '2030-07-01 09:00', '2030-07-01 09:30', 1);   -- 3 + 1 = 4
SELECT pg_temp.book(3, '2030-07-01 09:15', '2030-07-01 09:45', 1);   -- 3 + 1 + 1 = 5
\echo :LAST_ERROR_SQLSTATE

-- 4. buffers widen what the reads look for: Tour 4 keeps 30 minutes either
-- side, so bookings occupy [start - 30 min, end + 30 min)
SELECT pg_temp.book(4, '2030-07-01 07:10', '2030-07-01 09:10', 3);   -- 2 h, short: occupies 06:40-09:40
SELECT pg_temp.book(4, '2030-07-01 10:00', '2030-07-01 11:00', 2);   -- occupies 09:30-11:30: 3 + 2 = 5
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.book(4, '2030-07-01 04:00', '2030-07-01 06:20', 1);   -- 2 h 20, long: 03:30-06:50, 1 + 3 = 4
SELECT pg_temp.book(4, '2030-07-01 10:10', '2030-07-01 11:00', 4);   -- 09:40-11:30: touches the first's buffer
SELECT pg_temp.book(4, '2030-07-01 06:00', '2030-07-01 06:30', 1);   -- 05:30-07:00: 1 + 3 + 1 = 5 at 06:40-06:50
\echo :LAST_ERROR_SQLSTATE
-- a long booking ending two hours before the new one starts reaches it
-- through both buffers (found through the GiST index: it starts long before)
SELECT pg_temp.book(4, '2030-07-02 01:00', '2030-07-02 08:00', 3);   -- 00:30-08:30
SELECT pg_temp.book(4, '2030-07-02 08:55', '2030-07-02 10:00', 2);   -- 08:25-10:30: 3 + 2 = 5
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.book(4, '2030-07-02 09:00', '2030-07-02 10:00', 4);   -- 08:30-10:30: touches it

-- 5. an exclusive service's booking in the past (an import, a correction)
-- is counted as a shared service's is: a five-hour booking found through
-- the GiST index, a short one through the start index
SELECT pg_temp.book(5, '2020-03-01 08:00', '2020-03-01 13:00', 1);
SELECT pg_temp.book(5, '2020-03-01 12:00', '2020-03-01 12:30', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.book(5, '2020-03-01 14:00', '2020-03-01 15:00', 1);
SELECT pg_temp.book(5, '2020-03-01 14:30', '2020-03-01 14:45', 1);
\echo :LAST_ERROR_SQLSTATE

-- 6. moving a booking into a long one's time is refused as well
SELECT pg_temp.book(1, '2030-07-06 10:00', '2030-07-06 11:00', 2);
UPDATE protector.bookings SET during = tstzrange('2030-07-03 14:00', '2030-07-03 15:00')
WHERE service_id = '26000000-0000-4000-8000-00000000e001' AND during = tstzrange('2030-07-06 10:00', '2030-07-06 11:00');
\echo :LAST_ERROR_SQLSTATE

-- 7. an index that may leave long bookings out is refused (a damaged
-- installation), one without a predicate (every booking) is not
BEGIN;
DROP INDEX protector.bookings_long_during_idx;
SELECT pg_temp.book(1, '2030-08-01 10:00', '2030-08-01 11:00', 1);
ROLLBACK;
BEGIN;
DROP INDEX protector.bookings_long_during_idx;
CREATE INDEX bookings_long_during_idx ON protector.bookings USING gist (service_id, during)
	WHERE protector_internal.booking_is_long(during) AND party_size > 1;
SELECT pg_temp.book(1, '2030-08-01 10:00', '2030-08-01 11:00', 1);
ROLLBACK;
BEGIN;
DROP INDEX protector.bookings_long_during_idx;
CREATE INDEX bookings_long_during_idx ON protector.bookings USING gist (service_id, during);
SAVEPOINT refused;
SELECT pg_temp.book(1, '2030-07-03 10:00', '2030-07-03 11:00', 1);   -- 3 + 1 + 1: still refused
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO refused;
SELECT pg_temp.book(1, '2030-08-01 10:00', '2030-08-01 11:00', 1);
ROLLBACK;

DELETE FROM protector.bookings WHERE organization_id = '26000000-0000-4000-8000-000000000000';
DELETE FROM protector.services WHERE organization_id = '26000000-0000-4000-8000-000000000000';
DELETE FROM protector.venues WHERE organization_id = '26000000-0000-4000-8000-000000000000';
DELETE FROM protector.organizations WHERE id = '26000000-0000-4000-8000-000000000000';
