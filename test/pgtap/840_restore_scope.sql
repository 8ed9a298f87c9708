-- What a restore writes is history only where the restoring statement
-- loads it (src/capabilities.c, restore_target): a superuser's INSERT or
-- COPY into protector's tables with row_security off (as pg_dump's output
-- sets it) writes rows as they were, past the reservation check and
-- without audit rows; an RPC called inside such a statement (INSERT INTO
-- a table of one's own SELECT protector.create_booking(...)) made a
-- booking past the reservation check and audited nowhere.  It is a change
-- now: checked and audited.  And only a superuser restores: service_role
-- bypasses RLS, and may set the settings a restore's own code sets (any
-- role may set a protector_internal.* placeholder): with row_security off
-- and protector_internal.reoffering on, its direct inserts were taken for
-- rows a restore had set aside, and booked past the reservation check,
-- unaudited, with the ledger off.
BEGIN;
SELECT plan(12);

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

-- service_role, row_security off, the reoffering flag forged: a change
SELECT tests.authenticate_as_service_role();
SET LOCAL row_security = off;
SET LOCAL protector_internal.reoffering = on;
CREATE TEMP TABLE seen_as_service AS SELECT protector_internal.restoring() AS restoring;
SELECT is((SELECT restoring FROM seen_as_service), false,
	'service_role with row_security off and protector_internal.reoffering on is no restore');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, party_size)
	VALUES ('0a840000-0000-4000-8000-000000000000', '0a840000-0000-4000-8000-0000000000a1',
			'0a840000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(12), pg_temp.t(13)), 'confirmed', 2)$$,
	'23P01', NULL, '... its insert into a taken slot is refused by the reservation check');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, party_size)
VALUES ('0a840000-0000-4000-8000-0000000b0002', '0a840000-0000-4000-8000-000000000000', '0a840000-0000-4000-8000-0000000000a1',
		'0a840000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(14), pg_temp.t(15)), 'confirmed', 2);
SELECT is((SELECT count(*) FROM protector.audit_log WHERE table_name = 'protector.bookings'
		   AND record_id = '0a840000-0000-4000-8000-0000000b0002' AND op = 'INSERT'), 1::bigint,
	'... its insert into a free one is audited');
SELECT is((SELECT count(*) FROM protector.tasks WHERE booking_id = '0a840000-0000-4000-8000-0000000b0002'), 1::bigint,
	'... and given its review task');
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status, provider)
SELECT organization_id, id, 5, currency, 'succeeded', 'test' FROM protector.bookings
WHERE service_id = '0a840000-0000-4000-8000-0000000005a1' AND during = tstzrange(pg_temp.t(12), pg_temp.t(13));
SELECT is((SELECT count(*) FROM protector.audit_log l JOIN protector.payments p ON l.record_id = p.id::text
		   WHERE l.table_name = 'protector.payments' AND p.provider = 'test'), 1::bigint,
	'... its payment is audited');
SELECT is((SELECT amount_paid FROM protector.bookings
		   WHERE service_id = '0a840000-0000-4000-8000-0000000005a1' AND during = tstzrange(pg_temp.t(12), pg_temp.t(13))),
	5.00, '... and counted by the ledger');

SELECT * FROM finish();
ROLLBACK;
