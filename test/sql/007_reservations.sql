-- The reservation invariant, enforced by the C trigger for every path into
-- bookings: here plain INSERT/UPDATE statements, as an import or admin SQL
-- would write them.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY default
\set SHOW_CONTEXT never

INSERT INTO protector.organizations (id, name, slug, timezone) VALUES
	('0e000000-0000-4000-8000-000000000000', 'Engine', 'engine', 'Europe/Berlin');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0e000000-0000-4000-8000-0000000000a1', '0e000000-0000-4000-8000-000000000000', 'Hall', 'Europe/Berlin');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, duration, buffer_before, buffer_after, max_party) VALUES
	('0e000000-0000-4000-8000-00000000e001', '0e000000-0000-4000-8000-000000000000', '0e000000-0000-4000-8000-0000000000a1',
	 'Room 1', 'exclusive', 8, '60 minutes', '0', '15 minutes', 8),
	('0e000000-0000-4000-8000-00000000e002', '0e000000-0000-4000-8000-000000000000', '0e000000-0000-4000-8000-0000000000a1',
	 'Room 2', 'exclusive', 8, '60 minutes', '10 minutes', '0', 8),
	('0e000000-0000-4000-8000-00000000e003', '0e000000-0000-4000-8000-000000000000', '0e000000-0000-4000-8000-0000000000a1',
	 'City tour', 'shared', 10, '90 minutes', '0', '0', 6);

CREATE FUNCTION pg_temp.book(p_service text, p_from text, p_to text, p_party int DEFAULT 1,
							 p_status protector.booking_status DEFAULT 'confirmed',
							 p_hold timestamptz DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size, status, hold_expires_at)
	VALUES ('0e000000-0000-4000-8000-000000000000', '0e000000-0000-4000-8000-0000000000a1',
			('0e000000-0000-4000-8000-00000000e00' || p_service)::uuid,
			tstzrange(('2030-06-01 ' || p_from)::timestamptz, ('2030-06-01 ' || p_to)::timestamptz),
			p_party, p_status, p_hold)
	RETURNING 'booked ' || p_from || '-' || p_to
$$;

-- exclusive: one booking at a time
SELECT pg_temp.book('1', '10:00', '11:00');
SELECT pg_temp.book('1', '10:30', '11:30');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.book('1', '09:00', '10:00');          -- touching the start is fine
SELECT pg_temp.book('1', '11:00', '12:00');          -- inside the 15 minute buffer after 10:00-11:00
SELECT pg_temp.book('1', '11:15', '12:15');          -- right after the buffer
-- the other room is independent; its 10 minute buffer before counts
SELECT pg_temp.book('2', '10:00', '11:00');
SELECT pg_temp.book('2', '11:05', '12:00');
SELECT pg_temp.book('2', '11:10', '12:00');

-- cancelled bookings, no-shows and expired holds do not occupy; live holds do
SELECT pg_temp.book('1', '14:00', '15:00', 1, 'cancelled');
SELECT pg_temp.book('1', '14:00', '15:00', 1, 'no_show');
SELECT pg_temp.book('1', '14:00', '15:00', 1, 'held', now() - interval '1 minute');
SELECT pg_temp.book('1', '14:00', '15:00', 1, 'held', now() + interval '10 minutes');
SELECT pg_temp.book('1', '14:00', '15:00');
-- a hold that expired stops occupying without any job running
UPDATE protector.bookings SET hold_expires_at = now() - interval '1 second'
WHERE status = 'held' AND hold_expires_at > now();
SELECT pg_temp.book('1', '14:00', '15:00');
-- and reviving the expired hold is checked again
UPDATE protector.bookings SET hold_expires_at = now() + interval '1 hour' WHERE status = 'held';
UPDATE protector.bookings SET status = 'confirmed' WHERE status = 'held';

-- updates are checked too: moving, growing, re-activating
UPDATE protector.bookings SET during = tstzrange('2030-06-01 11:30+00', '2030-06-01 12:30+00')
WHERE during = tstzrange('2030-06-01 09:00+00', '2030-06-01 10:00+00');
UPDATE protector.bookings SET status = 'confirmed'
WHERE service_id = '0e000000-0000-4000-8000-00000000e001' AND status = 'cancelled';
UPDATE protector.bookings SET service_id = '0e000000-0000-4000-8000-00000000e002'
WHERE during = tstzrange('2030-06-01 14:00+00', '2030-06-01 15:00+00') AND status = 'confirmed';
-- shrinking a booking or cancelling it never needs room
UPDATE protector.bookings SET during = tstzrange('2030-06-01 10:00+00', '2030-06-01 10:45+00')
WHERE service_id = '0e000000-0000-4000-8000-00000000e001' AND during = tstzrange('2030-06-01 10:00+00', '2030-06-01 11:00+00');
SELECT pg_temp.book('1', '11:00', '11:15');
-- a statement of several rows is checked row by row against the others
-- (the second row meets the first, which is taken, before it is stored)
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
SELECT '0e000000-0000-4000-8000-000000000000', '0e000000-0000-4000-8000-0000000000a1',
	   '0e000000-0000-4000-8000-00000000e001', tstzrange(t, t + interval '30 minutes')
FROM generate_series(timestamptz '2030-06-02 10:00+00', '2030-06-02 10:30+00', '30 minutes') t;

-- shared: party sizes add up to capacity at every instant
SELECT pg_temp.book('3', '10:00', '11:30', 6);
SELECT pg_temp.book('3', '10:00', '11:30', 4);
SELECT pg_temp.book('3', '10:00', '11:30', 1);
\echo :LAST_ERROR_SQLSTATE
-- two bookings that overlap the new one but not each other are not summed
SELECT pg_temp.book('3', '12:00', '13:00', 6);
SELECT pg_temp.book('3', '13:00', '14:00', 6);
SELECT pg_temp.book('3', '12:30', '13:30', 4);
SELECT pg_temp.book('3', '12:30', '13:30', 1);
-- growing a party is checked
UPDATE protector.bookings SET party_size = 7
WHERE service_id = '0e000000-0000-4000-8000-00000000e003' AND party_size = 6
  AND during = tstzrange('2030-06-01 10:00+00', '2030-06-01 11:30+00');
-- one place taken is one place (it said "1 places"); the whole party of
-- 10 does not fit beside it
SELECT pg_temp.book('3', '06:00', '07:30', 1);
SELECT pg_temp.book('3', '06:00', '07:30', 10);

-- with protector.http_errors the conflict is PT409 for PostgREST
SET protector.http_errors = on;
SELECT pg_temp.book('1', '10:00', '11:00');
\echo :LAST_ERROR_SQLSTATE
RESET protector.http_errors;

-- the lock is transaction-level: nothing is left behind after commit
SELECT count(*) AS advisory_locks_held FROM pg_locks WHERE locktype = 'advisory';
BEGIN;
SELECT pg_temp.book('1', '18:00', '19:00');
SELECT count(*) AS advisory_locks_in_transaction FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1
  AND ((classid::bigint << 32) | objid::bigint) = protector.service_lock_key('0e000000-0000-4000-8000-00000000e001');
COMMIT;
SELECT count(*) AS advisory_locks_after_commit FROM pg_locks WHERE locktype = 'advisory';

-- the invariant holds over everything above
SELECT s.name, count(*) AS overlapping_pairs
FROM protector.bookings a
JOIN protector.bookings b ON a.service_id = b.service_id AND a.id < b.id
JOIN protector.services s ON s.id = a.service_id
WHERE s.mode = 'exclusive'
  AND tstzrange(lower(a.during) - s.buffer_before, upper(a.during) + s.buffer_after)
	  && tstzrange(lower(b.during) - s.buffer_before, upper(b.during) + s.buffer_after)
  AND a.status NOT IN ('cancelled', 'no_show') AND b.status NOT IN ('cancelled', 'no_show')
  AND (a.status <> 'held' OR a.hold_expires_at > now()) AND (b.status <> 'held' OR b.hold_expires_at > now())
GROUP BY s.name;
SELECT lower(during) AS starts, sum(party_size) AS party FROM protector.bookings
WHERE service_id = '0e000000-0000-4000-8000-00000000e003' AND status = 'confirmed'
GROUP BY 1 ORDER BY 1;

-- under REPEATABLE READ a conflict committed after our snapshot is 40001
CREATE EXTENSION dblink;
SELECT 'dbname=' || current_database() || ' port=' || current_setting('port')
	   || ' host=' || split_part(current_setting('unix_socket_directories'), ',', 1) AS connstr \gset
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) > 0 AS snapshot_taken FROM protector.bookings;
SELECT dblink_exec(:'connstr',
	$$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	  VALUES ('0e000000-0000-4000-8000-000000000000', '0e000000-0000-4000-8000-0000000000a1',
			  '0e000000-0000-4000-8000-00000000e002', '[2030-06-01 16:00+00, 2030-06-01 17:00+00)')$$);
SELECT pg_temp.book('2', '16:30', '17:30');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- the same under SERIALIZABLE
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) > 0 AS snapshot_taken FROM protector.bookings;
SELECT dblink_exec(:'connstr',
	$$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	  VALUES ('0e000000-0000-4000-8000-000000000000', '0e000000-0000-4000-8000-0000000000a1',
			  '0e000000-0000-4000-8000-00000000e002', '[2030-06-01 17:30+00, 2030-06-01 18:30+00)')$$);
SELECT pg_temp.book('2', '18:00', '19:00');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a conflict our snapshot already saw is a plain 23P01
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.book('2', '10:30', '11:30');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a wait for a busy service's lock is bounded and retryable
SELECT dblink_connect('holder', :'connstr');
SELECT dblink_exec('holder', 'BEGIN');
SELECT * FROM dblink('holder', $$SELECT 'locked' FROM pg_advisory_xact_lock(
	protector.service_lock_key('0e000000-0000-4000-8000-00000000e002'))$$) AS t(state text);
SET protector.lock_timeout = '200ms';
SELECT pg_temp.book('2', '20:00', '21:00');
\echo :LAST_ERROR_SQLSTATE
RESET protector.lock_timeout;
SELECT dblink_exec('holder', 'ROLLBACK');
SELECT dblink_disconnect('holder');
SELECT pg_temp.book('2', '20:00', '21:00');
DROP EXTENSION dblink;
