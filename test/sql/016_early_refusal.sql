-- A new booking its service has no room for is refused before it is
-- stored (reserve.c's precheck, called by prepare_booking) with the error
-- of the reservation check, once the service is contended, and only where
-- answering early changes no other answer: the reservation check after
-- the insert still checks every row stored.  "rows written" counts the
-- heap tuples the attempt wrote into bookings
-- (pg_stat_get_xact_tuples_inserted counts rolled-back ones too): 0 for an
-- early refusal, 1 per row for a refusal after the insert.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY default
\set SHOW_CONTEXT never

INSERT INTO protector.organizations (id, name, slug) VALUES
	('16000000-0000-4000-8000-000000000000', 'Early', 'early'),
	('16000000-0000-4000-8000-00000000000b', 'Other', 'other');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('16000000-0000-4000-8000-0000000000a1', '16000000-0000-4000-8000-000000000000', 'Hall', 'UTC'),
	('16000000-0000-4000-8000-0000000000b1', '16000000-0000-4000-8000-00000000000b', 'Other hall', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, duration, max_party) VALUES
	('16000000-0000-4000-8000-00000000e001', '16000000-0000-4000-8000-000000000000', '16000000-0000-4000-8000-0000000000a1',
	 'Room', 'exclusive', 1, '60 minutes', 6),
	('16000000-0000-4000-8000-00000000e002', '16000000-0000-4000-8000-000000000000', '16000000-0000-4000-8000-0000000000a1',
	 'Tour', 'shared', 4, '60 minutes', 4),
	('16000000-0000-4000-8000-00000000e00b', '16000000-0000-4000-8000-00000000000b', '16000000-0000-4000-8000-0000000000b1',
	 'Other room', 'exclusive', 1, '60 minutes', 6);

-- an insert of org's booking of service from .. to; its outcome and the
-- bookings rows it wrote
CREATE FUNCTION pg_temp.try(p_org text, p_service text, p_from timestamptz, p_to timestamptz,
							p_party int DEFAULT 1, p_key text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	n0 bigint := pg_stat_get_xact_tuples_inserted('protector.bookings'::regclass);
	v_outcome text := 'booked';
BEGIN
	BEGIN
		INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size, idempotency_key)
		VALUES (('16000000-0000-4000-8000-00000000000' || p_org)::uuid,
				CASE p_org WHEN '0' THEN '16000000-0000-4000-8000-0000000000a1'::uuid ELSE '16000000-0000-4000-8000-0000000000b1' END,
				('16000000-0000-4000-8000-00000000e00' || p_service)::uuid, tstzrange(p_from, p_to), p_party, p_key);
	EXCEPTION WHEN OTHERS THEN
		v_outcome := SQLSTATE || ' ' || SQLERRM;
	END;
	RETURN v_outcome || '; rows written: ' || (pg_stat_get_xact_tuples_inserted('protector.bookings'::regclass) - n0);
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text, text, timestamptz, timestamptz, int, text) TO authenticated;

SELECT pg_temp.try('0', '1', '2030-03-01 10:00', '2030-03-01 11:00');
SELECT pg_temp.try('0', '2', '2030-03-01 10:00', '2030-03-01 11:00', 3);
SELECT pg_temp.try('b', 'b', '2030-03-01 10:00', '2030-03-01 11:00');
SELECT pg_temp.try('0', '1', '2030-03-01 12:00', '2030-03-01 13:00', 1, 'request-1');

-- the precheck runs for a service this connection has found contended
-- lately (a fifth or more of its recent checks refused): its first
-- refusals are made after the insert, then before it
CREATE FUNCTION pg_temp.six(p_org text, p_service text, p_from timestamptz, p_to timestamptz,
							p_party int DEFAULT 1) RETURNS text
LANGUAGE sql AS $$
	SELECT string_agg(regexp_replace(pg_temp.try(p_org, p_service, p_from, p_to, p_party), '^.*rows written: ', ''), ' ')
	FROM generate_series(1, 6)
$$;
SELECT pg_temp.six('0', '1', '2030-03-01 10:30', '2030-03-01 11:30') AS rows_written;
SELECT pg_temp.six('0', '2', '2030-03-01 10:00', '2030-03-01 11:00', 2) AS rows_written;
SELECT pg_temp.six('b', 'b', '2030-03-01 10:00', '2030-03-01 11:00') AS rows_written;

-- refused before it is stored, with the reservation check's error
SELECT pg_temp.try('0', '1', '2030-03-01 10:30', '2030-03-01 11:30');
SELECT pg_temp.try('0', '2', '2030-03-01 10:00', '2030-03-01 11:00', 2);
SELECT pg_temp.try('0', '2', '2030-03-01 10:00', '2030-03-01 11:00', 1);	-- the 4th place is free
-- the error in full, as the reservation check has always given it
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
VALUES ('16000000-0000-4000-8000-000000000000', '16000000-0000-4000-8000-0000000000a1',
		'16000000-0000-4000-8000-00000000e001', '[2030-03-01 10:59, 2030-03-01 11:59)');

-- two rows of one statement that overlap each other: the second row's
-- precheck sees the first, stored just before it, and refuses it (1 row
-- written); rows it does not check (here: with idempotency keys) are
-- refused by the check after the insert, which sees both (2 rows written)
CREATE FUNCTION pg_temp.two_rows(p_keys text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE n0 bigint := pg_stat_get_xact_tuples_inserted('protector.bookings'::regclass);
BEGIN
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, idempotency_key)
	VALUES ('16000000-0000-4000-8000-000000000000', '16000000-0000-4000-8000-0000000000a1',
			'16000000-0000-4000-8000-00000000e001', '[2030-03-02 10:00, 2030-03-02 11:00)', p_keys[1]),
		   ('16000000-0000-4000-8000-000000000000', '16000000-0000-4000-8000-0000000000a1',
			'16000000-0000-4000-8000-00000000e001', '[2030-03-02 10:30, 2030-03-02 11:30)', p_keys[2]);
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE '% %; rows written: %', SQLSTATE, SQLERRM,
		pg_stat_get_xact_tuples_inserted('protector.bookings'::regclass) - n0;
END $$;
SELECT pg_temp.two_rows('{NULL, NULL}');
SELECT pg_temp.two_rows('{a, b}');
-- the first row prechecked and let through, the second not prechecked:
-- the checks after the insert see both
SELECT pg_temp.two_rows('{NULL, b}');

-- where refusing early would change the answer, the other answer stands:
-- a replayed request with an idempotency key meets the unique index
SELECT pg_temp.try('0', '1', '2030-03-01 12:00', '2030-03-01 13:00', 1, 'request-1');
-- a service of another organization: the foreign key, not the other
-- organization's taken slot
SELECT pg_temp.try('0', 'b', '2030-03-01 10:00', '2030-03-01 11:00');
-- a service of the organization at another venue: refused by name (the
-- venue is the service's), not by the slot it would take
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
VALUES ('16000000-0000-4000-8000-000000000000', '16000000-0000-4000-8000-0000000000b1',
		'16000000-0000-4000-8000-00000000e001', '[2030-03-01 10:00, 2030-03-01 11:00)');
-- an upsert of a booking that exists: its ON CONFLICT clause, not the slot
-- its new values would take (here: cancelled, its slot taken since)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('16000000-0000-4000-8000-0000000000d1', '16000000-0000-4000-8000-000000000000',
		'16000000-0000-4000-8000-0000000000a1', '16000000-0000-4000-8000-00000000e001',
		'[2030-03-03 10:00, 2030-03-03 11:00)', 'cancelled');
SELECT pg_temp.try('0', '1', '2030-03-03 10:00', '2030-03-03 11:00');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('16000000-0000-4000-8000-0000000000d1', '16000000-0000-4000-8000-000000000000',
		'16000000-0000-4000-8000-0000000000a1', '16000000-0000-4000-8000-00000000e001',
		'[2030-03-03 10:00, 2030-03-03 11:00)', 'confirmed')
ON CONFLICT (id) DO NOTHING;
-- a BEFORE INSERT trigger of the operator's that fires after prepare_booking
-- may still change the row (here: a waitlist entry is stored cancelled)
CREATE FUNCTION pg_temp.waitlist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.status := 'cancelled';
	RETURN NEW;
END $$;
CREATE TRIGGER z_waitlist BEFORE INSERT ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION pg_temp.waitlist();
SELECT pg_temp.try('0', '1', '2030-03-01 10:30', '2030-03-01 11:30');
DROP TRIGGER z_waitlist ON protector.bookings;
-- rows the table's rules refuse: their CHECK
SELECT pg_temp.try('0', '1', '2030-03-01 10:00', '2030-04-11 10:00');
SELECT pg_temp.try('0', '1', '2030-03-01 10:00', '2030-03-01 11:00', 0);
-- a caller row-level security applies to: the policy is checked after the
-- BEFORE triggers, and a caller it refuses learns nothing of the slot
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('16000000-0000-4000-8000-000000000000', '16000000-0000-4000-8000-0000000000c1', 'manager');
BEGIN;
SELECT (set_config('role', 'authenticated', true) ||
		set_config('request.jwt.claims', '{"sub": "16000000-0000-4000-8000-0000000000c1", "role": "authenticated"}', true))
	   IS NOT NULL AS as_the_manager;
SELECT pg_temp.try('b', 'b', '2030-03-01 10:00', '2030-03-01 11:00');
-- ... and in its own organization it is refused by the check after the insert
SELECT pg_temp.try('0', '1', '2030-03-01 10:30', '2030-03-01 11:30');
ROLLBACK;
-- with the reservation check disabled (a DBA's choice), nothing refuses early
BEGIN;
ALTER TABLE protector.bookings DISABLE TRIGGER reservation_check;
SELECT pg_temp.try('0', '1', '2030-03-01 10:30', '2030-03-01 11:30');
ROLLBACK;
SELECT status, count(*) AS bookings FROM protector.bookings WHERE organization_id IN
	('16000000-0000-4000-8000-000000000000', '16000000-0000-4000-8000-00000000000b')
GROUP BY status ORDER BY status;
