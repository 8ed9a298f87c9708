-- BEFORE INSERT triggers that run as protector's owner run before the
-- insert policy refuses the row (an attack review):
-- 1. purge_audit_rows deleted the audit history a purge named, or every
--    tenant's (organization_id NULL), for anyone signed in, before the
--    policy refused the row and the deletion was rolled back: work and
--    WAL in the size of the log, locks on every tenant's rows, and its
--    time told how much history another tenant had before any moment;
-- 2. a booking written into another tenant was told that its service's
--    deposit is a fixed amount and in which currency (a random service id:
--    the policy's refusal);
-- 3. a service written into another tenant at a deleted venue was told
--    that the venue was deleted.
-- Each now runs only for those the policies let write the row.
BEGIN;
SELECT plan(8);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['rw_owner', 'rw_stranger']) u \g /dev/null
INSERT INTO protector.organizations (id, name, slug, currency, timezone)
VALUES ('0a981000-0000-4000-8000-000000000000', 'Refused writers', 'refused-writers', 'USD', 'UTC');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a981000-0000-4000-8000-000000000000', tests.get_supabase_uid('rw_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a981000-0000-4000-8000-0000000000a1', '0a981000-0000-4000-8000-000000000000', 'V', 'UTC'),
	('0a981000-0000-4000-8000-0000000000a2', '0a981000-0000-4000-8000-000000000000', 'Gone', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, currency, mode, settings) VALUES
	('0a981000-0000-4000-8000-0000000005a1', '0a981000-0000-4000-8000-000000000000', '0a981000-0000-4000-8000-0000000000a1',
	 'Deposit', '60 minutes', '60 minutes', '30 days', 10, 8, 100, 'USD', 'shared', '{"deposit": {"amount": 30}}');
SELECT tests.authenticate_as('rw_owner');
SELECT protector.delete_venue('0a981000-0000-4000-8000-0000000000a2') \g /dev/null
SELECT tests.clear_authentication();
-- two days of the tenant's history, 50 rows
INSERT INTO protector.audit_log (organization_id, table_name, record_id, op, occurred_at)
SELECT '0a981000-0000-4000-8000-000000000000', 'protector.bookings', g::text, 'INSERT', now() - interval '2 days'
FROM generate_series(1, 50) g;

-- 1. a stranger's purges: refused before anything is deleted
SELECT pg_stat_get_xact_tuples_deleted('protector.audit_log'::regclass) AS deleted0 \gset
SELECT tests.authenticate_as('rw_stranger');
SELECT throws_ok($$INSERT INTO protector.audit_purges (organization_id, purge_before)
				   VALUES ('0a981000-0000-4000-8000-000000000000', now() - interval '1 second')$$,
	'42501', 'new row violates row-level security policy for table "audit_purges"',
	'a stranger''s purge of a tenant''s history is refused');
SELECT throws_ok($$INSERT INTO protector.audit_purges (organization_id, purge_before) VALUES (NULL, now() - interval '1 second')$$,
	'42501', 'new row violates row-level security policy for table "audit_purges"',
	'... and of every tenant''s');
SELECT tests.clear_authentication();
SELECT is(pg_stat_get_xact_tuples_deleted('protector.audit_log'::regclass) - :deleted0, 0::bigint,
	'... and neither deleted a row before it was refused (a deletion rolled back still counts)');
-- (the count does see a purge: the owner's)
SELECT tests.authenticate_as('rw_owner');
SELECT is(protector.purge_audit_log(now() - interval '1 day', '0a981000-0000-4000-8000-000000000000'), 50::bigint,
	'the owner''s purge deletes the 50 rows');
SELECT tests.clear_authentication();
SELECT cmp_ok(pg_stat_get_xact_tuples_deleted('protector.audit_log'::regclass) - :deleted0, '>=', 50::bigint,
	'... which the count sees');

-- 2. and 3. a stranger's booking and service: answered as for random ids
SELECT tests.authenticate_as('rw_stranger');
SELECT is(tests.error_text($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, currency)
	VALUES ('0a981000-0000-4000-8000-000000000000', '0a981000-0000-4000-8000-0000000000a1', '0a981000-0000-4000-8000-0000000005a1',
			'[2031-03-01 10:00+00, 2031-03-01 11:00+00)', 'EUR')$$),
	tests.error_text($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, currency)
	VALUES ('0a981000-0000-4000-8000-000000000000', '0a981000-0000-4000-8000-0000000000a1', gen_random_uuid(),
			'[2031-03-01 10:00+00, 2031-03-01 11:00+00)', 'EUR')$$),
	'a stranger''s booking of a service with a fixed deposit in USD, written in EUR, is refused as one of a random service');
SELECT is(tests.error_text($$INSERT INTO protector.services (organization_id, venue_id, name, duration)
	VALUES ('0a981000-0000-4000-8000-000000000000', '0a981000-0000-4000-8000-0000000000a2', 'X', '1 hour')$$),
	tests.error_text($$INSERT INTO protector.services (organization_id, venue_id, name, duration)
	VALUES ('0a981000-0000-4000-8000-000000000000', gen_random_uuid(), 'X', '1 hour')$$),
	'a stranger''s service at a deleted venue is refused as one at a random venue');
SELECT tests.clear_authentication();
-- (the owner is still told)
SELECT tests.authenticate_as('rw_owner');
SELECT throws_ok($$INSERT INTO protector.services (organization_id, venue_id, name, duration)
	VALUES ('0a981000-0000-4000-8000-000000000000', '0a981000-0000-4000-8000-0000000000a2', 'X', '1 hour')$$,
	'P0002', 'venue not found', 'the owner''s service at the deleted venue is told it was deleted');

SELECT * FROM finish();
ROLLBACK;
