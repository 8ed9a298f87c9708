-- The check of an exclusive service's future booking steps back from its
-- end through the service's bookings in start order to the last one that
-- occupies time (src/reserve.c, exclusive_taken).  It went back without a
-- bound: a long run of bookings that occupy nothing (holds that lapsed, a
-- mass cancellation, an import of cancelled history) before the last live
-- one was read through, row by row, by every booking after it, under the
-- service's lock (an attack review: 1.9 s a booking behind a million
-- cancelled rows).  A booking lasts at most 31 days, so one starting
-- earlier than that before the new booking's occupied time ends before
-- it: the walk stops there.  Counted in index entries read (no timing).
BEGIN;
SET LOCAL timezone = 'UTC';
SELECT plan(4);

INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0a975000-0000-4000-8000-000000000000', 'Walk', 'exclusive-walk', 'UTC', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0a975000-0000-4000-8000-0000000000a1', '0a975000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, duration, slot_interval, max_advance,
								buffer_before, buffer_after)
VALUES ('0a975000-0000-4000-8000-0000000005a1', '0a975000-0000-4000-8000-000000000000', '0a975000-0000-4000-8000-0000000000a1',
		'Room', 'exclusive', '30 minutes', '30 minutes', '400 days', '15 minutes', '15 minutes');
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0a975000-0000-4000-8000-0000000000c1', '0a975000-0000-4000-8000-000000000000', 'Ann');

-- day d from now, at hour h (UTC)
CREATE FUNCTION pg_temp.t(d int, h numeric DEFAULT 0) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + d * interval '1 day' + h * interval '1 hour'
$$;
-- index entries of the service's start index read so far in this transaction
CREATE FUNCTION pg_temp.entries_read() RETURNS bigint LANGUAGE sql AS $$
	SELECT pg_stat_get_xact_tuples_returned('protector.bookings_service_start_idx'::regclass)
$$;

-- 3,000 cancelled bookings, every half hour from day 10 (to day 72)
SET LOCAL session_replication_role = replica;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, currency, cancelled_at)
SELECT '0a975000-0000-4000-8000-000000000000', '0a975000-0000-4000-8000-0000000000a1', '0a975000-0000-4000-8000-0000000005a1',
	   '0a975000-0000-4000-8000-0000000000c1', tstzrange(pg_temp.t(10, i / 2.0), pg_temp.t(10, i / 2.0 + 0.5)), 'cancelled', 'EUR', now()
FROM generate_series(0, 2999) i;
SET LOCAL session_replication_role = origin;

CREATE TEMP TABLE read_before AS SELECT pg_temp.entries_read() AS n;
SELECT lives_ok($$SELECT protector.create_booking('0a975000-0000-4000-8000-0000000005a1', '0a975000-0000-4000-8000-0000000000c1',
												  pg_temp.t(110, 10))$$,
	'a booking after a long run of cancelled ones is taken');
SELECT cmp_ok(pg_temp.entries_read() - (SELECT n FROM read_before), '<', 100::bigint,
	'... reading none of the 3,000 cancelled ones, which all ended over 31 days before it');

-- the bound is a booking's longest length before the new one's occupied
-- time, buffers included: a 31-day booking (written directly, starting
-- 31 days and 15 minutes before the slot's buffer begins) ending 15
-- minutes before a slot still takes it
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a975000-0000-4000-8000-000000000000', '0a975000-0000-4000-8000-0000000000a1', '0a975000-0000-4000-8000-0000000005a1',
		'0a975000-0000-4000-8000-0000000000c1', tstzrange(pg_temp.t(150, 0.75) - interval '31 days', pg_temp.t(150, 0.75)), 'confirmed');
SELECT throws_ok($$SELECT protector.create_booking('0a975000-0000-4000-8000-0000000005a1', '0a975000-0000-4000-8000-0000000000c1',
												   pg_temp.t(150, 1))$$,
	'23P01', NULL, 'a 31-day booking ending 15 minutes before a slot takes it (the buffers need 30)');
SELECT lives_ok($$SELECT protector.create_booking('0a975000-0000-4000-8000-0000000005a1', '0a975000-0000-4000-8000-0000000000c1',
												  pg_temp.t(150, 1.5))$$,
	'... and the slot after, 45 minutes after its end, is free');

SELECT * FROM finish();
ROLLBACK;
