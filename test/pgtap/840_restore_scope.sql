-- What a restore writes is history only where the restoring statement
-- loads it (src/capabilities.c, restore_target): a superuser's INSERT or
-- COPY into protector's tables with row_security off (as pg_dump's output
-- sets it) writes rows as they were, past the reservation check and
-- without audit rows; an RPC called inside such a statement (INSERT INTO
-- a table of one's own SELECT protector.create_booking(...)) made a
-- booking past the reservation check and audited nowhere.  It is a change
-- now: checked and audited.
BEGIN;
SELECT plan(6);

INSERT INTO protector.organizations (id, name, slug) VALUES ('0a840000-0000-4000-8000-000000000000', 'Scope', 'restore-scope');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a840000-0000-4000-8000-0000000000a1', '0a840000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a840000-0000-4000-8000-0000000005a1', '0a840000-0000-4000-8000-000000000000', '0a840000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days', 1, 8, 'exclusive');
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '5 days' + h * interval '1 hour'
$$;
SELECT protector.create_booking('0a840000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(10), 2) IS NOT NULL AS booked \gset
CREATE TEMP TABLE answers (j jsonb);

SET LOCAL row_security = off;
SELECT throws_ok($$INSERT INTO answers SELECT protector.create_booking('0a840000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(10), 2)$$,
	'23P01', NULL, 'create_booking inside an INSERT with row_security off: the taken slot is refused');
INSERT INTO answers SELECT protector.create_booking('0a840000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(12), 2);
SELECT is((SELECT count(*) FROM protector.audit_log l, answers a
		   WHERE l.table_name = 'protector.bookings' AND l.record_id = a.j ->> 'id' AND l.op = 'INSERT'),
	1::bigint, '... a free one is booked, and audited');
SELECT is((SELECT count(*) FROM protector.tasks t, answers a WHERE t.booking_id = (a.j ->> 'id')::uuid), 1::bigint,
	'... with its review task');
-- what the statement loads itself is history, as a restore's rows are
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, party_size)
VALUES ('0a840000-0000-4000-8000-0000000b0001', '0a840000-0000-4000-8000-000000000000', '0a840000-0000-4000-8000-0000000000a1',
		'0a840000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(10), pg_temp.t(11)), 'confirmed', 2);
SELECT is((SELECT count(*) FROM protector.bookings WHERE service_id = '0a840000-0000-4000-8000-0000000005a1'
		   AND during && tstzrange(pg_temp.t(10), pg_temp.t(11)) AND status = 'confirmed'), 2::bigint,
	'a row loaded by the statement itself is history: restored as it was, overlap and all');
SELECT is((SELECT count(*) FROM protector.audit_log WHERE table_name = 'protector.bookings'
		   AND record_id = '0a840000-0000-4000-8000-0000000b0001'), 0::bigint, '... with no audit row of its own');
RESET row_security;
SELECT throws_ok($$UPDATE protector.bookings SET status = 'confirmed', party_size = 3 WHERE id = '0a840000-0000-4000-8000-0000000b0001'$$,
	'23P01', NULL, 'and every write after it is checked again');

SELECT * FROM finish();
ROLLBACK;
