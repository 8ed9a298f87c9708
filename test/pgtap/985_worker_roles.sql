-- Operations as docs/operations.md and docs/security.md describe them
-- (an attack review):
-- 1. expire_holds run by a member of service_role that is not
--    service_role (a pg_cron job of a database owner who is not a
--    superuser): BYPASSRLS is not inherited, row-level security hid every
--    booking, and it answered 0 with nothing swept; now 42501, and the
--    documented job (SET ROLE service_role) sweeps;
-- 2. with EXECUTE on the pg_advisory_* functions revoked from PUBLIC, as
--    security.md advises where untrusted roles have SQL connections,
--    update_booking_status_batch, send_booking_reminder and submit_waiver
--    failed with "permission denied for function pg_advisory_xact_lock":
--    they called it with the caller's rights; their locks are now taken in
--    C, over rows the caller reaches.
BEGIN;
SELECT plan(15);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['wr_owner', 'wr_cara']) u;
INSERT INTO protector.organizations (id, name, slug, timezone, settings)
VALUES ('0a985000-0000-4000-8000-000000000000', 'Worker roles', 'worker-roles', 'UTC', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a985000-0000-4000-8000-000000000000', tests.get_supabase_uid('wr_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a985000-0000-4000-8000-0000000000a1', '0a985000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party) VALUES
	('0a985000-0000-4000-8000-0000000005a1', '0a985000-0000-4000-8000-000000000000', '0a985000-0000-4000-8000-0000000000a1',
	 'S', '60 minutes', '60 minutes', '30 days', 4, 4);
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a985000-0000-4000-8000-00000000c001', '0a985000-0000-4000-8000-000000000000', 'Cara', 'cara@example.com');

INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, hold_expires_at) VALUES
	('0a985000-0000-4000-8000-0000000000b1', '0a985000-0000-4000-8000-000000000000', '0a985000-0000-4000-8000-0000000000a1',
	 '0a985000-0000-4000-8000-0000000005a1', '0a985000-0000-4000-8000-00000000c001',
	 tstzrange(date_trunc('hour', now()) + interval '3 days', date_trunc('hour', now()) + interval '3 days 1 hour'), 'held',
	 now() + interval '10 minutes'),
	('0a985000-0000-4000-8000-0000000000b2', '0a985000-0000-4000-8000-000000000000', '0a985000-0000-4000-8000-0000000000a1',
	 '0a985000-0000-4000-8000-0000000005a1', '0a985000-0000-4000-8000-00000000c001',
	 tstzrange(date_trunc('hour', now()) + interval '4 days', date_trunc('hour', now()) + interval '4 days 1 hour'), 'held',
	 now() + interval '10 minutes'),
	('0a985000-0000-4000-8000-0000000000b3', '0a985000-0000-4000-8000-000000000000', '0a985000-0000-4000-8000-0000000000a1',
	 '0a985000-0000-4000-8000-0000000005a1', '0a985000-0000-4000-8000-00000000c001',
	 tstzrange(date_trunc('hour', now()) + interval '5 days', date_trunc('hour', now()) + interval '5 days 1 hour'), 'confirmed', NULL);
-- another tenant's booking
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a985000-0000-4000-8000-000000000001', 'Other', 'worker-roles-other');
-- ... and customer, which wr_owner does not see
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a985000-0000-4000-8000-00000000c999', '0a985000-0000-4000-8000-000000000001', 'Olga');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a985000-0000-4000-8000-0000000001a1', '0a985000-0000-4000-8000-000000000001', 'W', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance) VALUES
	('0a985000-0000-4000-8000-0000000015a1', '0a985000-0000-4000-8000-000000000001', '0a985000-0000-4000-8000-0000000001a1',
	 'T', '60 minutes', '60 minutes', '30 days');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status) VALUES
	('0a985000-0000-4000-8000-0000000001b1', '0a985000-0000-4000-8000-000000000001', '0a985000-0000-4000-8000-0000000001a1',
	 '0a985000-0000-4000-8000-0000000015a1',
	 tstzrange(date_trunc('hour', now()) + interval '3 days', date_trunc('hour', now()) + interval '3 days 1 hour'), 'confirmed');
-- b1's hold ran out
UPDATE protector.bookings SET hold_expires_at = now() - interval '1 minute' WHERE id = '0a985000-0000-4000-8000-0000000000b1';

-- 1. a database owner of its own, a member of service_role
CREATE ROLE wr_dbowner NOLOGIN;
GRANT service_role TO wr_dbowner;
SET LOCAL ROLE wr_dbowner;
SELECT throws_ok($$SELECT protector.expire_holds(1000)$$, '42501', 'expire_holds is for the scheduled sweep',
	'a member of service_role that is not service_role (no BYPASSRLS: it would see no booking) is refused, not told 0');
SET LOCAL ROLE service_role;
SELECT is(protector.expire_holds(1000) >= 1, true, '... and, having set the role as the documented job does, sweeps');
RESET ROLE;
SELECT is((SELECT status::text FROM protector.bookings WHERE id = '0a985000-0000-4000-8000-0000000000b1'), 'cancelled',
	'... the hold that ran out is cancelled');

-- 2. pg_advisory_* revoked from PUBLIC (undone with the transaction)
DO $$
DECLARE f regprocedure;
BEGIN
	FOR f IN SELECT p.oid FROM pg_proc p WHERE p.proname ~ '^pg_(try_)?advisory.*lock' LOOP
		EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END $$;
SELECT protector.create_waiver('0a985000-0000-4000-8000-000000000000', 'Waiver', 'I take the risk.') ->> 'waiver_id' AS waiver \gset
UPDATE protector.services SET waiver_id = :'waiver' WHERE id = '0a985000-0000-4000-8000-0000000005a1';
SELECT id AS waiver_version FROM protector.waiver_versions WHERE waiver_id = :'waiver' \gset
SELECT tests.authenticate_as('wr_owner');
SELECT throws_ok($$SELECT pg_advisory_xact_lock(1)$$, '42501', NULL, 'the signed-in owner may not take an advisory lock of its own');
SELECT is(protector.update_booking_status_batch('{0a985000-0000-4000-8000-0000000000b2}', 'confirmed') ->> 'updated', '1',
	'update_booking_status_batch confirms a hold all the same (its services'' locks taken in C)');
SELECT is((SELECT status FROM protector.send_booking_reminder('0a985000-0000-4000-8000-0000000000b3')), 'pending',
	'send_booking_reminder queues a reminder (its booking''s lock taken in C)');
SELECT is((SELECT participant_name FROM protector.submit_waiver(:'waiver', 'Cara', '1990-01-01', 'Cara', 'cara',
																'0a985000-0000-4000-8000-0000000000b3')), 'Cara',
	'submit_waiver signs (its version''s shared lock taken in C)');
SELECT tests.clear_authentication();
-- a lock only over rows the caller reaches: another tenant's booking
-- locks nothing, an unknown class is refused
SELECT tests.authenticate_as('wr_owner');
SELECT count(*) AS held FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() \gset
SELECT protector_internal.lock_seen(1886547718, '0a985000-0000-4000-8000-0000000001b1', false);
SELECT is((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) - :held, 0::bigint,
	'lock_seen over another tenant''s booking takes no lock');
SELECT protector_internal.lock_seen(1886547718, '0a985000-0000-4000-8000-0000000000b1', false);
SELECT is((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) - :held, 1::bigint,
	'... over one of its own, one');
-- (a customer's erasures and merges take turns: the lock of those only
-- over a customer the caller sees)
SELECT protector_internal.lock_seen(1886547725, '0a985000-0000-4000-8000-00000000c999', false);
SELECT is((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) - :held, 1::bigint,
	'lock_seen over another tenant''s customer takes no lock of its erasures');
SELECT protector_internal.lock_seen(1886547725, '0a985000-0000-4000-8000-00000000c001', false);
SELECT is((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) - :held, 2::bigint,
	'... over its own customer, one');
SELECT tests.clear_authentication();
-- the booking's customer sees it, but may not send its reminders: their
-- exclusive lock made the desk's reminders fail
UPDATE protector.customers SET user_id = tests.get_supabase_uid('wr_cara') WHERE id = '0a985000-0000-4000-8000-00000000c001';
SELECT tests.authenticate_as('wr_cara');
SELECT is((SELECT count(*) FROM protector.bookings WHERE id = '0a985000-0000-4000-8000-0000000000b2'), 1::bigint,
	'Cara sees her booking');
SELECT count(*) AS held FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() \gset
SELECT protector_internal.lock_seen(1886547718, '0a985000-0000-4000-8000-0000000000b2', false);
SELECT is((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) - :held, 0::bigint,
	'... but takes no lock of its reminders (reminders.send is the desk''s)');
SELECT tests.authenticate_as('wr_owner');
SELECT throws_ok(format($$SELECT protector_internal.lock_seen(1886547720, %L, false)$$, :'waiver_version'), '22023',
	'the lock of class 1886547720 is taken shared here',
	'a waiver version''s lock is not taken exclusively by a signer (it made every other signature wait)');
SELECT throws_ok($$SELECT protector_internal.lock_seen(1886547713, '0a985000-0000-4000-8000-0000000005a1', false)$$, '22023',
	'p_class 1886547713 is not a lock taken over a row the caller sees', 'lock_seen takes only its three classes');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
