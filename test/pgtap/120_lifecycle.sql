-- Data that ends: expired holds, audit retention, erasure.
BEGIN;
SELECT plan(36);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['e_owner', 'e_admin', 'e_manager', 'e_other', 'e_customer']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a120000-0000-4000-8000-000000000000', 'E', 'lifecycle-e'), ('0b120000-0000-4000-8000-000000000000', 'F', 'lifecycle-f');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a120000-0000-4000-8000-000000000000', tests.get_supabase_uid('e_owner'), 'owner'),
	('0a120000-0000-4000-8000-000000000000', tests.get_supabase_uid('e_admin'), 'admin'),
	('0a120000-0000-4000-8000-000000000000', tests.get_supabase_uid('e_manager'), 'manager'),
	('0b120000-0000-4000-8000-000000000000', tests.get_supabase_uid('e_other'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a120000-0000-4000-8000-0000000000a1', '0a120000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party) VALUES
	('0a120000-0000-4000-8000-0000000005a1', '0a120000-0000-4000-8000-000000000000', '0a120000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days', 1, 4);
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, notes, tags, user_id) VALUES
	('0a120000-0000-4000-8000-00000000c001', '0a120000-0000-4000-8000-000000000000', 'Erin Erase', 'erin@example.com',
	 '+49 30 5555', 'prefers mornings', '{vip}', tests.get_supabase_uid('e_customer')),
	('0a120000-0000-4000-8000-00000000c002', '0a120000-0000-4000-8000-000000000000', 'Kim Keep', 'kim@example.com', NULL, NULL, '{}', NULL);
-- hours 1..5 of the day after tomorrow: 3 holds, 2 confirmed bookings
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, hold_expires_at, details, total_price)
SELECT '0a120000-0000-4000-8000-000000000000', '0a120000-0000-4000-8000-0000000000a1', '0a120000-0000-4000-8000-0000000005a1',
	   CASE WHEN h <= 2 THEN '0a120000-0000-4000-8000-00000000c001'::uuid ELSE '0a120000-0000-4000-8000-00000000c002'::uuid END,
	   tstzrange(date_trunc('day', now()) + interval '2 days' + h * interval '1 hour',
				 date_trunc('day', now()) + interval '2 days' + (h + 1) * interval '1 hour'),
	   CASE WHEN h <= 3 THEN 'held' ELSE 'confirmed' END::protector.booking_status,
	   CASE WHEN h <= 3 THEN now() + interval '10 minutes' END,
	   jsonb_build_object('allergies', 'nuts', 'guest', 'Erin Erase'), 80
FROM generate_series(1, 5) h;
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status)
SELECT organization_id, id, 80, 'USD', 'succeeded' FROM protector.bookings WHERE status = 'confirmed';

-- expire_holds
SELECT is(protector.expire_holds(), 0, 'nothing to do while the holds last');
UPDATE protector.bookings SET hold_expires_at = now() - interval '1 second' WHERE status = 'held';
SELECT is(protector.expire_holds(2), 2, 'p_limit bounds a call');
SELECT is(protector.expire_holds(2), 1, '... the next call takes the rest');
SELECT is(protector.expire_holds(), 0, '... and then there is nothing left: idempotent');
SELECT results_eq($$SELECT status::text, cancellation_reason, count(*)::int FROM protector.bookings GROUP BY 1, 2 ORDER BY 1$$,
	$$VALUES ('cancelled', 'hold expired', 3), ('confirmed', NULL, 2)$$, 'expired holds are cancelled with a reason; the rest is untouched');
SELECT is((SELECT count(*)::int FROM protector.audit_log WHERE table_name = 'protector.bookings' AND op = 'UPDATE'
		   AND new_row ->> 'status' = 'cancelled'), 3, 'each expiry is audited');
SELECT throws_ok($$SELECT protector.expire_holds(0)$$, '22023', NULL, 'p_limit 0 is refused');
SELECT ok(NOT has_function_privilege('authenticated', 'protector.expire_holds(integer)', 'EXECUTE'),
	'expire_holds crosses tenants: a job''s, not an API user''s (service_role, pg_cron)');

-- purge_audit_log
SELECT tests.authenticate_as('e_manager');
SELECT throws_ok($$SELECT protector.purge_audit_log(now() - interval '1 second', '0a120000-0000-4000-8000-000000000000')$$, '42501',
	'your role may not purge old audit history', 'a manager may not purge');
SELECT tests.authenticate_as('e_other');
SELECT throws_ok($$SELECT protector.purge_audit_log(now() - interval '1 second', '0a120000-0000-4000-8000-000000000000')$$, 'P0002',
	'organization not found', 'another organization''s owner finds nothing to purge');
SELECT tests.authenticate_as('e_owner');
SELECT throws_ok($$SELECT protector.purge_audit_log(now() + interval '1 day')$$, '22023', NULL, 'not the future');
SELECT throws_ok($$SELECT protector.purge_audit_log('-infinity')$$, '22008', 'p_before must be a finite time',
	'an infinite time is 22008, as every infinite time (it was 22023)');
SELECT throws_ok($$INSERT INTO protector.audit_purges (organization_id, purge_before)
	VALUES ('0a120000-0000-4000-8000-000000000000', '-infinity')$$, '22008', 'purge_before must be a finite time',
	'... also written to the table');
SELECT throws_ok($$DELETE FROM protector.audit_log$$, '42501', NULL, 'the log stays append-only for everyone, owners included');
SELECT tests.clear_authentication();
-- the transaction's rows are all "now": back-date both organizations' history
UPDATE protector.audit_log SET occurred_at = occurred_at - interval '1 year'
WHERE organization_id IN ('0a120000-0000-4000-8000-000000000000', '0b120000-0000-4000-8000-000000000000');
CREATE TEMP TABLE history AS SELECT organization_id, count(*) AS n FROM protector.audit_log GROUP BY 1;
GRANT SELECT ON history TO authenticated;
SELECT is(protector.purge_audit_log(now() - interval '1 day', '0b120000-0000-4000-8000-000000000000'),
	(SELECT n FROM history WHERE organization_id = '0b120000-0000-4000-8000-000000000000'),
	'service_role purges one organization''s history (every row of it, 2 here)');
SELECT tests.authenticate_as('e_owner');
SELECT is(protector.purge_audit_log(now() - interval '1 day'),
	(SELECT n FROM history WHERE organization_id = '0a120000-0000-4000-8000-000000000000'),
	'the owner purges their organization''s history older than a day: the other''s purge left it whole');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.audit_log WHERE organization_id = '0a120000-0000-4000-8000-000000000000'
		   AND occurred_at < now() - interval '1 day'), 0, '... all of it');
SELECT is((SELECT count(*)::int FROM protector.audit_log WHERE table_name = 'protector.audit_purges'
		   AND new_row ->> 'organization_id' = '0a120000-0000-4000-8000-000000000000'), 1, '... and the purge itself is audited');
-- a purge of every organization (service_role) leaves each organization
-- whose history went a purge row its owners read (it was one row of no
-- organization, which no tenant sees)
INSERT INTO protector.audit_log (organization_id, occurred_at, table_name, record_id, op)
VALUES ('0a120000-0000-4000-8000-000000000000', now() - interval '1 year', 'protector.bookings', 'x', 'INSERT'),
	   ('0a120000-0000-4000-8000-000000000000', now() - interval '1 year', 'protector.bookings', 'y', 'INSERT'),
	   (NULL, now() - interval '1 year', 'public.other', 'z', 'INSERT');
SELECT tests.authenticate_as_service_role();
SELECT is(protector.purge_audit_log(now() - interval '1 day'), 3::bigint, 'service_role purges everyone''s history: 2 + 1 rows');
-- a deleted organization's history (its rows' DELETE audit rows keep the
-- old values: customers' names) goes by its id alone
SELECT tests.clear_authentication();
INSERT INTO protector.organizations (id, name, slug) VALUES ('0c120000-0000-4000-8000-000000000000', 'G', 'lifecycle-g');
INSERT INTO protector.customers (organization_id, full_name) VALUES ('0c120000-0000-4000-8000-000000000000', 'Gone Guest');
DELETE FROM protector.organizations WHERE id = '0c120000-0000-4000-8000-000000000000';
UPDATE protector.audit_log SET occurred_at = occurred_at - interval '1 year'
WHERE organization_id = '0c120000-0000-4000-8000-000000000000';
CREATE TEMP TABLE left_over AS SELECT count(*) AS n FROM protector.audit_log WHERE organization_id <> '0c120000-0000-4000-8000-000000000000';
SELECT tests.authenticate_as_service_role();
SELECT is(protector.purge_audit_log(now() - interval '1 day', '0c120000-0000-4000-8000-000000000000'), 4::bigint,
	'service_role purges a deleted organization''s history by its id: the inserts and deletes of it and its customer, 4 rows (it ended on the purges'' foreign key)');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*) FROM protector.audit_log WHERE organization_id <> '0c120000-0000-4000-8000-000000000000'),
	(SELECT n FROM left_over), '... and nobody else''s');
SELECT tests.authenticate_as('e_owner');
SELECT results_eq($$SELECT rows_purged FROM protector.audit_purges ORDER BY rows_purged$$,
	$$SELECT n FROM (SELECT 2::bigint AS n UNION ALL SELECT n FROM history WHERE organization_id = '0a120000-0000-4000-8000-000000000000') x
	  ORDER BY n$$,
	'the owner reads both purges of their organization: service_role''s (2 rows) and their own (its whole history)');
SELECT tests.clear_authentication();

-- erase_customer
-- (request keys that name a customer: the widget's hold a hash of the
-- e-mail, a signed-in customer's their user id; set without an audit row,
-- the erasure's own update of the bookings writes one with them)
SET LOCAL session_replication_role = replica;
UPDATE protector.bookings b SET idempotency_key = k.key
FROM (SELECT id, CASE row_number() OVER (ORDER BY lower(during))
					 WHEN 1 THEN 'widget/' || md5('erin@example.com') || '/r1'
					 WHEN 2 THEN 'customer/' || tests.get_supabase_uid('e_customer') || '/r2'
					 WHEN 3 THEN 'widget/' || md5('kim@example.com') || '/r3' END AS key
	  FROM protector.bookings WHERE organization_id = '0a120000-0000-4000-8000-000000000000') k
WHERE b.id = k.id AND k.key IS NOT NULL;
RESET session_replication_role;
-- what the customer did themselves is in the history under their account
-- (a booking they asked for, a message they sent), what staff did under
-- the staff's
INSERT INTO protector.audit_log (organization_id, table_name, record_id, op, actor_uid, actor_role) VALUES
	('0a120000-0000-4000-8000-000000000000', 'protector.bookings', 'c1', 'UPDATE', tests.get_supabase_uid('e_customer'), 'authenticated'),
	('0a120000-0000-4000-8000-000000000000', 'protector.bookings', 'c2', 'UPDATE', tests.get_supabase_uid('e_manager'), 'authenticated');
SELECT tests.authenticate_as('e_manager');
SELECT throws_ok($$SELECT protector.erase_customer('0a120000-0000-4000-8000-00000000c001')$$, '42501',
	'your role may not erase a customer''s personal data', 'a manager may not erase');
SELECT tests.authenticate_as('e_admin');
SELECT is(protector.erase_customer('0a120000-0000-4000-8000-00000000c001') ->> 'already_erased', 'false', 'an admin erases a customer');
SELECT is(protector.erase_customer('0a120000-0000-4000-8000-00000000c001') ->> 'already_erased', 'true', '... once');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT full_name, email, phone, notes, tags, user_id, identity_key FROM protector.customers
					WHERE id = '0a120000-0000-4000-8000-00000000c001'$$,
	$$VALUES ('erased', NULL::text, NULL::text, NULL::text, '{}'::text[], NULL::uuid, NULL::text)$$, 'the customer is a tombstone');
SELECT results_eq($$SELECT count(*)::int, sum(total_price), bool_and(details - 'refund' = '{}'), bool_and(details ? 'refund')
					FROM protector.bookings WHERE customer_id = '0a120000-0000-4000-8000-00000000c001'$$,
	$$VALUES (2, 160::numeric, true, true)$$,
	'their bookings stay for the books, without their details but for the refund note of their cancellation (two expired holds)');
SELECT is((SELECT count(*)::int FROM protector.payments p JOIN protector.bookings b ON b.id = p.booking_id), 2, 'payments stay');
SELECT results_eq($$SELECT customer_id = '0a120000-0000-4000-8000-00000000c001', idempotency_key IS NULL FROM protector.bookings
					WHERE idempotency_key IS NOT NULL OR customer_id = '0a120000-0000-4000-8000-00000000c001' ORDER BY lower(during)$$,
	$$VALUES (true, true), (true, true), (false, false)$$,
	'the erased customer''s request keys that name them go; another customer''s stays');
SELECT is_empty(format($$SELECT id FROM protector.audit_log WHERE concat(old_row::text, new_row::text) ~ '(%s|%s)'$$,
	md5('erin@example.com'), tests.get_supabase_uid('e_customer')),
	'... in the audit history too (the hash of the e-mail, the user id)');
SELECT is_empty($$SELECT id FROM protector.audit_log
	WHERE concat(old_row::text, new_row::text) ~ '(Erin|erin@example|\+49 ?30 ?5555|mornings|nuts)'$$,
	'no audit row holds the erased data any more (old and new rows, customers and bookings)');
SELECT results_eq($$SELECT e.created_by, l.actor_uid FROM protector.customer_erasures e
					JOIN protector.audit_log l ON l.table_name = 'protector.customer_erasures' AND l.record_id = e.id::text$$,
	$$SELECT tests.get_supabase_uid('e_admin'), tests.get_supabase_uid('e_admin')$$,
	'that it happened is recorded (who and when), and audited');
SELECT results_eq($$SELECT record_id = 'c1', actor_uid IS NULL FROM protector.audit_log WHERE record_id IN ('c1', 'c2') ORDER BY record_id$$,
	$$VALUES (true, true), (false, false)$$,
	'the history no longer names the erased customer''s account as the actor of what they did; staff stay named');

-- a trusted correction bringing a cancelled booking back: it is live, and
-- has no cancellation time or reason (they stayed on it); cancelled again
-- without a time, it is stamped now, not with the first cancellation's
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, cancelled_at, cancellation_reason)
VALUES ('0a120000-0000-4000-8000-00000000b0c1', '0a120000-0000-4000-8000-000000000000', '0a120000-0000-4000-8000-0000000000a1',
		'0a120000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '9 days 10 hours', date_trunc('day', now()) + interval '9 days 11 hours'),
		'cancelled', now() - interval '1 day', 'first reason');
SET LOCAL ROLE service_role;
UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0a120000-0000-4000-8000-00000000b0c1';
SELECT is((SELECT concat_ws('/', status, COALESCE(cancelled_at::text, 'no time'), COALESCE(cancellation_reason, 'no reason'))
		   FROM protector.bookings WHERE id = '0a120000-0000-4000-8000-00000000b0c1'), 'confirmed/no time/no reason',
	'a cancelled booking a trusted role brings back keeps no cancellation time or reason');
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a120000-0000-4000-8000-00000000b0c1';
SELECT is((SELECT cancelled_at = now() FROM protector.bookings WHERE id = '0a120000-0000-4000-8000-00000000b0c1'), true,
	'... and cancelled again without a time, it is stamped now (not with the first cancellation''s time)');
-- (a live booking written with a cancellation time, taken as written from
-- a trusted insert: cancelled later without a time, it is stamped now)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, cancelled_at)
VALUES ('0a120000-0000-4000-8000-00000000b0c2', '0a120000-0000-4000-8000-000000000000', '0a120000-0000-4000-8000-0000000000a1',
		'0a120000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '9 days 12 hours', date_trunc('day', now()) + interval '9 days 13 hours'),
		'confirmed', now() - interval '1 day');
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a120000-0000-4000-8000-00000000b0c2';
SELECT is((SELECT cancelled_at = now() FROM protector.bookings WHERE id = '0a120000-0000-4000-8000-00000000b0c2'), true,
	'... as is a booking cancelled without a time that carried one unwritten by the update');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
