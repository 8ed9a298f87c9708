-- What a customer's and a small organization's payment reads read,
-- counted in rows (not time).  The payments policy let a customer see
-- the payments of their bookings through a sub-select per payment, ORed
-- with the staff's arm: the planner could use no index, and every read of
-- payments that did not name the organization scanned every tenant's (an
-- attack at scale: 100 ms for a small organization's 50 payments among
-- 250,000).  The customer's arm is two arrays read once per statement now
-- (customer_organizations, current_customer_booking_ids), and both arms
-- go through payments_booking_idx.
BEGIN;
SELECT plan(6);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['pr_owner', 'pr_customer', 'pr_other_owner']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a401000-0000-4000-8000-000000000000', 'Small', 'payment-reads-small');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a401000-0000-4000-8000-000000000000', tests.get_supabase_uid('pr_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a401000-0000-4000-8000-0000000000a1', '0a401000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, mode, capacity) VALUES
	('0a401000-0000-4000-8000-0000000005a1', '0a401000-0000-4000-8000-000000000000', '0a401000-0000-4000-8000-0000000000a1',
	 'S', '30 minutes', '30 minutes', 'shared', 100000);
INSERT INTO protector.customers (id, organization_id, full_name, user_id) VALUES
	('0a401000-0000-4000-8000-00000000c001', '0a401000-0000-4000-8000-000000000000', 'Pat', tests.get_supabase_uid('pr_customer'));
-- the small organization: the customer's 2 bookings and 8 of others, a
-- payment each; 200 other organizations with 30 each (6,000 payments)
SET LOCAL session_replication_role = replica;
INSERT INTO protector.organizations (id, name, slug)
SELECT ('0a401000-0000-4000-8000-' || lpad(k::text, 12, '0'))::uuid, 'O' || k, 'payment-reads-' || k
FROM generate_series(1, 200) k;
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a401000-0000-4000-8000-000000000001', tests.get_supabase_uid('pr_other_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone)
SELECT o.id, o.id, 'V', 'UTC' FROM protector.organizations o WHERE o.slug ~ '^payment-reads-[0-9]';
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, mode, capacity)
SELECT o.id, o.id, o.id, 'S', '30 minutes', '30 minutes', 'shared', 100000
FROM protector.organizations o WHERE o.slug ~ '^payment-reads-[0-9]';
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, currency)
SELECT ('0a401000-0000-4000-8000-0000000b' || lpad(k::text, 4, '0'))::uuid, '0a401000-0000-4000-8000-000000000000',
	   '0a401000-0000-4000-8000-0000000000a1', '0a401000-0000-4000-8000-0000000005a1',
	   CASE WHEN k <= 2 THEN '0a401000-0000-4000-8000-00000000c001'::uuid END,
	   tstzrange(now() - k * interval '1 day', now() - k * interval '1 day' + interval '30 minutes'), 'completed', 'USD'
FROM generate_series(1, 10) k;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, currency)
SELECT o.id, o.id, o.id, tstzrange(now() - k * interval '1 hour', now() - k * interval '1 hour' + interval '30 minutes'), 'completed', 'USD'
FROM protector.organizations o, generate_series(1, 30) k WHERE o.slug ~ '^payment-reads-[0-9]';
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status)
SELECT b.organization_id, b.id, 10, 'USD', 'succeeded' FROM protector.bookings b
WHERE b.organization_id IN (SELECT o.id FROM protector.organizations o WHERE o.slug ~ '^payment-reads-');
SET LOCAL session_replication_role = origin;
ANALYZE protector.bookings, protector.payments;

CREATE TEMP TABLE counts (what text, n bigint);
GRANT ALL ON counts TO authenticated;

SELECT tests.authenticate_as('pr_customer');
INSERT INTO counts SELECT 'before', tests.rows_read('protector.payments');
INSERT INTO counts SELECT 'seen', count(*) FROM protector.payments;
INSERT INTO counts SELECT 'after', tests.rows_read('protector.payments');
SELECT tests.clear_authentication();
SELECT is((SELECT n FROM counts WHERE what = 'seen'), 2::bigint, 'the customer sees the payments of their 2 bookings');
SELECT cmp_ok((SELECT n FROM counts WHERE what = 'after') - (SELECT n FROM counts WHERE what = 'before'), '<', 100::bigint,
	'... reading fewer than 100 payment rows, not the 6,010 of all organizations');

TRUNCATE counts;
SELECT tests.authenticate_as('pr_owner');
INSERT INTO counts SELECT 'before', tests.rows_read('protector.payments');
INSERT INTO counts SELECT 'seen', count(*) FROM (SELECT * FROM protector.payments ORDER BY created_at DESC LIMIT 50) p;
INSERT INTO counts SELECT 'after', tests.rows_read('protector.payments');
SELECT tests.clear_authentication();
SELECT is((SELECT n FROM counts WHERE what = 'seen'), 10::bigint, 'the small organization''s owner lists its 10 payments');
SELECT cmp_ok((SELECT n FROM counts WHERE what = 'after') - (SELECT n FROM counts WHERE what = 'before'), '<', 100::bigint,
	'... reading fewer than 100 payment rows, not the others'' 6,000');

-- the arms still see what they saw: another owner their 30, the customer
-- none of another organization's
SELECT tests.authenticate_as('pr_other_owner');
SELECT is((SELECT count(*) FROM protector.payments), 30::bigint, 'another organization''s owner sees its 30 payments');
SELECT tests.authenticate_as('pr_customer');
SELECT is((SELECT count(*) FROM protector.payments WHERE organization_id <> '0a401000-0000-4000-8000-000000000000'), 0::bigint,
	'the customer sees none of another organization''s payments');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
