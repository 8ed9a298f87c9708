-- A booking's customer, checked in C (src/booking_customer.c) on insert
-- and when a booking is given another customer: merged and erased
-- customers are refused by name, to callers who may know them; a customer
-- that is not there or of another organization is the foreign key's to
-- refuse; an erasure earlier in the same transaction counts; a damaged
-- installation is named, not guessed around.  (concurrency/
-- customer_races.sh: merges and erasures running at the same moment.)
BEGIN;
SELECT plan(15);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['k_admin', 'k_manager', 'k_other']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a290000-0000-4000-8000-000000000000', 'K', 'customer-k'),
	('0a290000-0000-4000-8000-0000000000ff', 'Other', 'customer-other');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a290000-0000-4000-8000-000000000000', tests.get_supabase_uid('k_admin'), 'admin'),
	('0a290000-0000-4000-8000-000000000000', tests.get_supabase_uid('k_manager'), 'manager'),
	('0a290000-0000-4000-8000-0000000000ff', tests.get_supabase_uid('k_other'), 'admin');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a290000-0000-4000-8000-0000000000a1', '0a290000-0000-4000-8000-000000000000', 'V', 'UTC'),
	('0a290000-0000-4000-8000-0000000000a2', '0a290000-0000-4000-8000-0000000000ff', 'W', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, capacity, max_party, mode) VALUES
	('0a290000-0000-4000-8000-0000000005a1', '0a290000-0000-4000-8000-000000000000', '0a290000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', 10, 4, 'shared'),
	('0a290000-0000-4000-8000-0000000005a2', '0a290000-0000-4000-8000-0000000000ff', '0a290000-0000-4000-8000-0000000000a2',
	 'Hall', '60 minutes', 10, 4, 'shared');
-- k1 keeps, k2 is merged into k1, k3 is erased, k4 is plain; o1 is the other organization's
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a290000-0000-4000-8000-00000000c001', '0a290000-0000-4000-8000-000000000000', 'K One'),
	('0a290000-0000-4000-8000-00000000c002', '0a290000-0000-4000-8000-000000000000', 'K Two'),
	('0a290000-0000-4000-8000-00000000c003', '0a290000-0000-4000-8000-000000000000', 'K Three'),
	('0a290000-0000-4000-8000-00000000c004', '0a290000-0000-4000-8000-000000000000', 'K Four'),
	('0a290000-0000-4000-8000-00000000c005', '0a290000-0000-4000-8000-000000000000', 'K Five'),
	('0a290000-0000-4000-8000-00000000c006', '0a290000-0000-4000-8000-000000000000', 'K Six'),
	('0a290000-0000-4000-8000-0000000000f1', '0a290000-0000-4000-8000-0000000000ff', 'O One');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a290000-0000-4000-8000-00000000b001', '0a290000-0000-4000-8000-000000000000', '0a290000-0000-4000-8000-0000000000a1',
		'0a290000-0000-4000-8000-0000000005a1', '0a290000-0000-4000-8000-00000000c004',
		tstzrange(date_trunc('day', now()) + interval '2 days', date_trunc('day', now()) + interval '2 days 1 hour'), 'confirmed');
SELECT tests.authenticate_as('k_manager');
SELECT protector.merge_customers('0a290000-0000-4000-8000-00000000c001', '0a290000-0000-4000-8000-00000000c002') \g /dev/null
SELECT tests.authenticate_as('k_admin');
SELECT protector.erase_customer('0a290000-0000-4000-8000-00000000c003') \g /dev/null
SELECT tests.clear_authentication();

-- a booking in K's room for the customer
CREATE FUNCTION pg_temp.book(p_customer uuid) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
	VALUES ('0a290000-0000-4000-8000-000000000000', '0a290000-0000-4000-8000-0000000000a1', '0a290000-0000-4000-8000-0000000005a1',
			p_customer,
			tstzrange(date_trunc('day', now()) + interval '3 days', date_trunc('day', now()) + interval '3 days 1 hour'), 'confirmed')
$$;

-- 1. a booking given another customer (UPDATE OF customer_id)
SELECT throws_ok($$UPDATE protector.bookings SET customer_id = '0a290000-0000-4000-8000-00000000c002'
				   WHERE id = '0a290000-0000-4000-8000-00000000b001'$$,
	'22023', 'customer 0a290000-0000-4000-8000-00000000c002 was merged into 0a290000-0000-4000-8000-00000000c001',
	'a booking is not moved to a merged customer');
SELECT throws_ok($$UPDATE protector.bookings SET customer_id = '0a290000-0000-4000-8000-00000000c003'
				   WHERE id = '0a290000-0000-4000-8000-00000000b001'$$,
	'22023', 'customer 0a290000-0000-4000-8000-00000000c003 was erased', 'nor to an erased one');
SELECT lives_ok($$UPDATE protector.bookings SET customer_id = '0a290000-0000-4000-8000-00000000c001'
				  WHERE id = '0a290000-0000-4000-8000-00000000b001'$$, 'to the kept customer it is');

-- 2. customers the check does not know: the foreign key refuses them
SELECT throws_ok($$SELECT pg_temp.book('0a290000-0000-4000-8000-0000000000f1')$$,
	'23503', NULL, 'a customer of another organization: the foreign key''s error');
SELECT throws_ok($$UPDATE protector.bookings SET customer_id = '0a290000-0000-4000-8000-0000000000f1'
				   WHERE id = '0a290000-0000-4000-8000-00000000b001'$$,
	'23503', NULL, '... also when a booking is given one');
SELECT throws_ok($$SELECT pg_temp.book('0a290000-0000-4000-8000-00000000dead')$$,
	'23503', NULL, 'a customer that does not exist: the same');

-- 3. who learns that a customer was merged or erased
SELECT tests.authenticate_as('k_other');
SELECT throws_ok($$SELECT pg_temp.book('0a290000-0000-4000-8000-00000000c002')$$,
	'42501', NULL, 'another organization''s admin learns nothing of K''s merged customer: refused by the policies');
SELECT tests.authenticate_as('k_manager');
SELECT throws_ok($$SELECT pg_temp.book('0a290000-0000-4000-8000-00000000c003')$$,
	'22023', 'customer 0a290000-0000-4000-8000-00000000c003 was erased', 'K''s manager is told');

-- 4. an erasure earlier in the same transaction counts
SELECT tests.authenticate_as('k_admin');
SELECT protector.erase_customer('0a290000-0000-4000-8000-00000000c004') \g /dev/null
SELECT throws_ok($$SELECT pg_temp.book('0a290000-0000-4000-8000-00000000c004')$$,
	'22023', 'customer 0a290000-0000-4000-8000-00000000c004 was erased', 'erased and then booked in one transaction: refused');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.bookings b
		   WHERE b.customer_id IN (SELECT e.customer_id FROM protector.customer_erasures e)
			  OR b.customer_id IN (SELECT c.id FROM protector.customers c WHERE c.merged_into IS NOT NULL)),
	0, 'no booking of a merged or erased customer was stored');

-- 5. a customer changed earlier in the same statement: read as it is now
-- (this statement's change included), not refused as an internal error
SELECT lives_ok($$WITH u AS (UPDATE protector.customers SET notes = 'vip' WHERE id = '0a290000-0000-4000-8000-00000000c005' RETURNING id)
				  INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
				  SELECT '0a290000-0000-4000-8000-000000000000', '0a290000-0000-4000-8000-0000000000a1',
						 '0a290000-0000-4000-8000-0000000005a1', u.id,
						 tstzrange(date_trunc('day', now()) + interval '5 days', date_trunc('day', now()) + interval '5 days 1 hour'),
						 'confirmed'
				  FROM u$$,
	'a customer updated by the same statement is booked');
SELECT lives_ok($$WITH u AS (UPDATE protector.customers SET notes = 'vip too' WHERE id = '0a290000-0000-4000-8000-00000000c001' RETURNING id)
				  UPDATE protector.bookings b SET customer_id = u.id FROM u WHERE b.customer_id = '0a290000-0000-4000-8000-00000000c005'$$,
	'... and given to a booking by an update');
SELECT throws_ok($$WITH m AS (UPDATE protector.customers SET merged_into = '0a290000-0000-4000-8000-00000000c001'
							  WHERE id = '0a290000-0000-4000-8000-00000000c006' RETURNING id)
				   INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
				   SELECT '0a290000-0000-4000-8000-000000000000', '0a290000-0000-4000-8000-0000000000a1',
						  '0a290000-0000-4000-8000-0000000005a1', m.id,
						  tstzrange(date_trunc('day', now()) + interval '6 days', date_trunc('day', now()) + interval '6 days 1 hour'),
						  'confirmed'
				   FROM m$$,
	'22023', 'customer 0a290000-0000-4000-8000-00000000c006 was merged into 0a290000-0000-4000-8000-00000000c001',
	'a customer merged by the same statement (a trusted role''s write) is refused by name');

-- 6. a damaged installation is named
SAVEPOINT damaged;
ALTER TABLE protector.customer_erasures DROP CONSTRAINT customer_erasures_organization_id_customer_id_key CASCADE;
SELECT throws_ok($$SELECT pg_temp.book('0a290000-0000-4000-8000-00000000c001')$$,
	'55000', 'table customer_erasures has no unique index on the columns protector reads it by',
	'customer_erasures without its key: 55000, no guess');
ROLLBACK TO SAVEPOINT damaged;
SELECT lives_ok($$SELECT pg_temp.book('0a290000-0000-4000-8000-00000000c001')$$,
	'with the key back, k1 is booked');

SELECT * FROM finish();
ROLLBACK;
