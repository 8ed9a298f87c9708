-- What an attack review of bookings found: the early slot check that a
-- connection makes after refusals for a service (src/reserve.c,
-- protector_reservation_precheck) ran before PostgreSQL's conflict check,
-- so an application's import keyed on its own unique column, re-run with
-- INSERT ... ON CONFLICT (its key) DO NOTHING or DO UPDATE, was refused
-- with 23P01 by the slot of the very row the clause would have matched;
-- and only on a connection that had seen refusals.  With such a key on
-- the table there is no early check.
BEGIN;
SELECT plan(10);

INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0a993000-0000-4000-8000-000000000000', 'Imports', 'upsert-arbiters', 'UTC', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a993000-0000-4000-8000-0000000000a1', '0a993000-0000-4000-8000-000000000000', 'Hall', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0a993000-0000-4000-8000-0000000005a1', '0a993000-0000-4000-8000-000000000000', '0a993000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '30 days');
ALTER TABLE protector.bookings ADD COLUMN ext_ref text UNIQUE;
CREATE FUNCTION pg_temp.import(p_ref text, p_conflict text DEFAULT '') RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format($q$INSERT INTO protector.bookings (organization_id, service_id, during, status, ext_ref)
		VALUES ('0a993000-0000-4000-8000-000000000000', '0a993000-0000-4000-8000-0000000005a1',
				tstzrange(date_trunc('day', now()) + interval '2 days 10 hours', date_trunc('day', now()) + interval '2 days 11 hours'),
				'confirmed', %L) %s$q$, p_ref, p_conflict);
END
$$;
SELECT pg_temp.import('crm-1');
-- refusals for the service make this connection check early
SELECT throws_ok($$SELECT pg_temp.import('crm-' || g) FROM generate_series(2, 6) g$$, '23P01', NULL,
	'another row for the slot is refused');
SELECT throws_ok($$SELECT pg_temp.import('crm-7')$$, '23P01', NULL, '... and again');
SELECT lives_ok($$SELECT pg_temp.import('crm-1', 'ON CONFLICT (ext_ref) DO NOTHING')$$,
	'the import re-run with ON CONFLICT on the application''s key does nothing, after refusals too');
SELECT lives_ok($$SELECT pg_temp.import('crm-1', 'ON CONFLICT (ext_ref) DO UPDATE SET details = ''{"synced": true}''')$$,
	'... and DO UPDATE updates');

-- (a review) the key may hold the idempotency key with NULLs equal, or be
-- an exclusion constraint: the early check took both for protector's own
ALTER TABLE protector.bookings DROP CONSTRAINT bookings_ext_ref_key;
CREATE UNIQUE INDEX bookings_ext_ref_nnd ON protector.bookings (ext_ref, idempotency_key) NULLS NOT DISTINCT;
SELECT throws_ok($$SELECT pg_temp.import('crm-8')$$, '23P01', NULL, 'refusals again ...');
SELECT throws_ok($$SELECT pg_temp.import('crm-9')$$, '23P01', NULL, '... and again');
SELECT lives_ok($$SELECT pg_temp.import('crm-1', 'ON CONFLICT (ext_ref, idempotency_key) DO NOTHING')$$,
	'a key with the idempotency key, NULLs not distinct: the clause answers');
DROP INDEX protector.bookings_ext_ref_nnd;
ALTER TABLE protector.bookings ADD CONSTRAINT bookings_ext_ref_excl EXCLUDE USING gist (ext_ref WITH =, id WITH <>);
SELECT throws_ok($$SELECT pg_temp.import('crm-10')$$, '23P01', NULL, 'refusals again ...');
SELECT throws_ok($$SELECT pg_temp.import('crm-11')$$, '23P01', NULL, '... and again');
SELECT lives_ok($$SELECT pg_temp.import('crm-1', 'ON CONFLICT DO NOTHING')$$,
	'an exclusion constraint of the application''s, id among its columns: the clause answers');

SELECT * FROM finish();
ROLLBACK;
