-- What a review of customers and identity found (the thirty-second stop):
-- an erasure left the account of a record merged into the customer (or
-- unlinked from it) on their bookings, messages and history, and every
-- account on their payments; an operator linked any account to a record
-- by a direct insert; a merge took the merged record's national phone
-- number without its country; and a written identity_key stayed as
-- written.
BEGIN;
SELECT plan(29);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user(u) IS NOT NULL FROM unnest(ARRAY['i_owner', 'i_operator', 'i_kim', 'i_eve', 'i_stranger', 'i_staff', 'i_bob', 'i_zoe', 'i_zed', 'i_xena']) u \g /dev/null
SELECT tests.authenticate_as('i_owner');
SELECT protector.create_organization('Identity', 'customer-identity', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Vault', '1 hour', p_slot_interval => '1 hour', p_mode => 'shared', p_capacity => 10) ->> 'id' AS vault \gset
SELECT protector.create_customer(:'org', 'Kim', 'kim@example.com') ->> 'id' AS kim \gset
SELECT protector.create_customer(:'org', 'Kim B', 'kim.b@example.com') ->> 'id' AS kim_b \gset
SELECT tests.clear_authentication();
INSERT INTO protector.members (organization_id, user_id, role) VALUES (:'org', tests.get_supabase_uid('i_operator'), 'operator');
UPDATE protector.customers SET user_id = tests.get_supabase_uid('i_kim') WHERE id = :'kim';
UPDATE protector.customers SET user_id = tests.get_supabase_uid('i_eve') WHERE id = :'kim_b';

-- 1. Eve's account books and writes as Kim B; a payment is stamped with it
SELECT tests.authenticate_as('i_eve');
SELECT protector.create_booking(:'vault', NULL, date_trunc('hour', now()) + interval '3 days', 1) ->> 'id' AS eve_booking \gset
SELECT protector.send_message(:'eve_booking', 'See you then') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
INSERT INTO protector.payments (organization_id, booking_id, amount, status, created_by)
VALUES (:'org', :'eve_booking', 5, 'succeeded', tests.get_supabase_uid('i_eve')) RETURNING id AS eve_payment \gset
-- Kim B is unlinked (records of two accounts are not merged) and merged
-- into Kim (whose own account stays), then Kim is erased
SELECT tests.authenticate_as('i_owner');
UPDATE protector.customers SET user_id = NULL WHERE id = :'kim_b';
SELECT protector.merge_customers(:'kim', :'kim_b') IS NOT NULL \g /dev/null
SELECT protector.erase_customer(:'kim') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT created_by FROM protector.bookings WHERE id = :'eve_booking'), NULL,
	'the erasure takes the merged record''s account off the booking it made');
SELECT is((SELECT count(*)::int FROM protector.booking_messages WHERE sender_user_id = tests.get_supabase_uid('i_eve')), 0,
	'... off the message it wrote');
SELECT is((SELECT created_by FROM protector.payments WHERE id = :'eve_payment'), NULL, '... off the payment it is stamped on');
SELECT is((SELECT count(*)::int FROM protector.audit_log
		   WHERE organization_id = :'org'
			 AND (actor_uid = tests.get_supabase_uid('i_eve')
				  OR tests.get_supabase_uid('i_eve')::text IN (old_row ->> 'created_by', new_row ->> 'created_by',
															  old_row ->> 'sender_user_id', new_row ->> 'sender_user_id',
															  old_row ->> 'user_id', new_row ->> 'user_id'))), 0,
	'... and out of the history: as actor and in every row');

-- 2. an account unlinked before the erasure is still the customer's to lose
SELECT tests.authenticate_as('i_owner');
SELECT protector.create_customer(:'org', 'Lee', 'lee@example.com') ->> 'id' AS lee \gset
SELECT tests.clear_authentication();
UPDATE protector.customers SET user_id = tests.get_supabase_uid('i_stranger') WHERE id = :'lee';
SELECT tests.authenticate_as('i_stranger');
SELECT protector.create_booking(:'vault', NULL, date_trunc('hour', now()) + interval '4 days', 1) ->> 'id' AS lee_booking \gset
SELECT tests.clear_authentication();
UPDATE protector.customers SET user_id = NULL WHERE id = :'lee';
SELECT tests.authenticate_as('i_owner');
SELECT protector.erase_customer(:'lee') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT created_by FROM protector.bookings WHERE id = :'lee_booking'), NULL,
	'an account unlinked before the erasure is taken off the booking it made');

-- ... but not a member's account linked by mistake and undone, nor one
-- linked now to another customer: Sam (staff) and Bob's account were
-- linked to Lou and unlinked; Sam records Bob's booking, Bob books; Lou
-- is erased: their stamps on Bob's rows and in the history stay
SELECT tests.clear_authentication();
INSERT INTO protector.members (organization_id, user_id, role) VALUES (:'org', tests.get_supabase_uid('i_staff'), 'operator');
SELECT tests.authenticate_as('i_owner');
SELECT protector.create_customer(:'org', 'Lou', 'lou@example.com') ->> 'id' AS lou \gset
SELECT protector.create_customer(:'org', 'Bob', 'bob@example.com') ->> 'id' AS bob \gset
SELECT tests.clear_authentication();
UPDATE protector.customers SET user_id = tests.get_supabase_uid('i_staff') WHERE id = :'lou';
UPDATE protector.customers SET user_id = tests.get_supabase_uid('i_bob') WHERE id = :'lou';
UPDATE protector.customers SET user_id = NULL WHERE id = :'lou';
UPDATE protector.customers SET user_id = tests.get_supabase_uid('i_bob') WHERE id = :'bob';
SELECT tests.authenticate_as('i_staff');
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '5 days', 1) ->> 'id' AS staff_booking \gset
SELECT tests.authenticate_as('i_bob');
SELECT protector.create_booking(:'vault', NULL, date_trunc('hour', now()) + interval '6 days', 1) ->> 'id' AS bob_booking \gset
SELECT tests.authenticate_as('i_owner');
SELECT protector.erase_customer(:'lou') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT format('%s %s', created_by = tests.get_supabase_uid('i_staff'), (SELECT created_by = tests.get_supabase_uid('i_bob')
		   FROM protector.bookings WHERE id = :'bob_booking')) FROM protector.bookings WHERE id = :'staff_booking'), 't t',
	'erasing Lou leaves the staff member''s and Bob''s own stamps on Bob''s bookings');
SELECT cmp_ok((SELECT count(*)::int FROM protector.audit_log
			   WHERE organization_id = :'org' AND tests.get_supabase_uid('i_bob')::text IN (new_row ->> 'created_by', old_row ->> 'created_by')),
	'>', 0, '... and in the history');

-- a staff member with a customer record of their own: erasing that record
-- leaves their desk work for others attributed, in the history too
SELECT tests.authenticate_as('i_owner');
SELECT protector.create_customer(:'org', 'Sam as a guest', 'sam@example.com') ->> 'id' AS sam_record \gset
SELECT tests.clear_authentication();
UPDATE protector.customers SET user_id = tests.get_supabase_uid('i_staff') WHERE id = :'sam_record';
SELECT tests.authenticate_as('i_staff');
SELECT protector.create_booking(:'vault', :'bob', date_trunc('hour', now()) + interval '8 days', 1) ->> 'id' AS desk_booking \gset
SELECT tests.authenticate_as('i_owner');
SELECT protector.erase_customer(:'sam_record') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.audit_log
		   WHERE record_id = :'desk_booking' AND new_row ->> 'created_by' = tests.get_supabase_uid('i_staff')::text
			 AND actor_uid = tests.get_supabase_uid('i_staff')), 1,
	'erasing a staff member''s own customer record leaves the booking they made at the desk for Bob attributed in the history');

-- the erasure takes the merged record's account off the rows the merge
-- moved: Zoe B (account i_zoe) books, is unlinked and merged into Zoe
-- (account i_zed, which she keeps; records of two accounts are not
-- merged, and a merged record is erased with the one it was merged into)
SELECT tests.authenticate_as('i_owner');
SELECT protector.create_customer(:'org', 'Zoe', 'zoe@example.com') ->> 'id' AS zoe \gset
SELECT protector.create_customer(:'org', 'Zoe B', 'zoe.b@example.com') ->> 'id' AS zoe_b \gset
SELECT tests.clear_authentication();
UPDATE protector.customers SET user_id = tests.get_supabase_uid('i_zoe') WHERE id = :'zoe_b';
UPDATE protector.customers SET user_id = tests.get_supabase_uid('i_zed') WHERE id = :'zoe';
SELECT tests.authenticate_as('i_zoe');
SELECT protector.create_booking(:'vault', NULL, date_trunc('hour', now()) + interval '7 days', 1,
								p_idempotency_key => 'zoe-1') ->> 'id' AS zoe_booking \gset
SELECT protector.send_message(:'zoe_booking', 'Is there parking?') IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('i_owner');
UPDATE protector.customers SET user_id = NULL WHERE id = :'zoe_b';
SELECT protector.merge_customers(:'zoe', :'zoe_b') IS NOT NULL \g /dev/null
SELECT protector.erase_customer(:'zoe') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT created_by FROM protector.bookings WHERE id = :'zoe_booking'), NULL,
	'the erasure takes the merged record''s account off the booking the merge moved');
SELECT is((SELECT count(*)::int FROM protector.booking_messages WHERE sender_user_id = tests.get_supabase_uid('i_zoe')), 0,
	'... and off the message of the thread the merge moved (the erasure is not refused as a change of the message)');
SELECT is((SELECT idempotency_key FROM protector.bookings WHERE id = :'zoe_booking'), NULL,
	'... and its request key, which held the account');

-- a booking handed to another customer since: the erased person's message
-- on it loses their account in its history too
SELECT tests.authenticate_as('i_owner');
SELECT protector.create_customer(:'org', 'Xena', 'xena@example.com') ->> 'id' AS xena \gset
SELECT tests.clear_authentication();
UPDATE protector.customers SET user_id = tests.get_supabase_uid('i_xena') WHERE id = :'xena';
SELECT tests.authenticate_as('i_xena');
SELECT protector.create_booking(:'vault', NULL, date_trunc('hour', now()) + interval '9 days', 1) ->> 'id' AS xena_booking \gset
SELECT protector.send_message(:'xena_booking', 'Running late') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
UPDATE protector.bookings SET customer_id = :'bob' WHERE id = :'xena_booking';
SELECT tests.authenticate_as('i_owner');
SELECT protector.erase_customer(:'xena') IS NOT NULL \g /dev/null
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.audit_log
		   WHERE table_name = 'protector.booking_messages' AND organization_id = :'org'
			 AND (actor_uid = tests.get_supabase_uid('i_xena') OR new_row ->> 'sender_user_id' = tests.get_supabase_uid('i_xena')::text)), 0,
	'the history of the erased person''s message on a booking handed to Bob keeps no trace of their account');

-- 3. only those who manage customers link a record to an account
SELECT tests.authenticate_as('i_operator');
SELECT throws_ok(format($$INSERT INTO protector.customers (organization_id, full_name, user_id)
						  VALUES (%L, 'Mallory', tests.get_supabase_uid('i_stranger'))$$, :'org'),
	'42501', 'your role may not link a customer record to an account', 'an operator links no account to a new record');
SELECT lives_ok(format($$INSERT INTO protector.customers (organization_id, full_name) VALUES (%L, 'Walk-in')$$, :'org'),
	'... and creates records without one as before');

-- 4. a merge takes a phone with its country: Ann (US, no phone) keeps her
-- country; Ann B's Berlin number 030 1234567 comes written out in full
SELECT tests.authenticate_as('i_owner');
SELECT protector.create_customer(:'org', 'Ann', 'ann@example.com', p_country => 'US') ->> 'id' AS ann \gset
SELECT protector.create_customer(:'org', 'Ann B', 'ann.b@example.com', '030 1234567', p_country => 'DE') ->> 'id' AS ann_b \gset
SELECT protector.merge_customers(:'ann', :'ann_b') IS NOT NULL \g /dev/null
SELECT is((SELECT format('%s %s', phone, country) FROM protector.customers WHERE id = :'ann'), '+49301234567 US',
	'the kept record takes the merged national number written out in full, and keeps its country');
SELECT is((SELECT protector.normalize_phone(phone, country) FROM protector.customers WHERE id = :'ann'), '+49301234567',
	'... so the number still means Berlin, not +1 301 234 567');
-- a number of a country protector does not complete stays national: not taken
SELECT protector.create_customer(:'org', 'Ana', 'ana@example.com', p_country => 'US') ->> 'id' AS ana \gset
SELECT protector.create_customer(:'org', 'Ana B', 'ana.b@example.com', '011 4123 4567', p_country => 'AR') ->> 'id' AS ana_b \gset
SELECT protector.merge_customers(:'ana', :'ana_b') IS NOT NULL \g /dev/null
SELECT is((SELECT format('%s %s', phone, country) FROM protector.customers WHERE id = :'ana'), ' US',
	'a national Argentine number is not taken beside a US country: it cannot be written out in full');

-- 5. identity_key is the e-mail's, whoever writes it
SELECT tests.authenticate_as_service_role();
SELECT protector.create_customer(:'org', 'Mallory', 'mallory@example.com') ->> 'id' AS mallory \gset
UPDATE protector.customers SET identity_key = 'victim@example.com' WHERE id = :'mallory';
SELECT is((SELECT identity_key FROM protector.customers WHERE id = :'mallory'), 'mallory@example.com',
	'a written identity_key is the e-mail''s again, so a visitor typing the victim''s address is not attached to it');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM protector.customers WHERE organization_id = :'org' AND identity_key = 'victim@example.com'), 0,
	'... and no record carries the victim''s key');

-- national numbers of countries without a trunk 0, and international
-- prefixes other than 00 (an attack review: Danish and Spanish numbers
-- were never completed, so their duplicates went unseen, and "011" with
-- US was read as a national number)
SELECT results_eq($$SELECT protector.normalize_phone(p, c) FROM (VALUES
		(1, '12 34 56 78', 'DK'), (2, '912 345 678', 'ES'), (3, '512 345 678', 'PL'), (4, '(11) 91234-5678', 'BR'),
		(5, '210 123 4567', 'GR'), (6, '602 123 456', 'CZ')) v(i, p, c) ORDER BY i$$,
	$$VALUES ('+4512345678'), ('+34912345678'), ('+48512345678'), ('+5511912345678'), ('+302101234567'), ('+420602123456')$$,
	'a national number of a country without a trunk 0, of its length, gets the country''s code');
SELECT results_eq($$SELECT protector.normalize_phone(p, c) FROM (VALUES
		(1, '1234567', 'DK'), (2, '0123 4567', 'DK')) v(i, p, c) ORDER BY i$$,
	$$VALUES ('1234567'), ('01234567')$$, '... and one of another length, or with a 0 there, keeps its digits');
SELECT results_eq($$SELECT protector.normalize_phone(p, c) FROM (VALUES
		(1, '011 49 30 1234567', 'US'), (2, '0011 49 30 1234567', 'AU'), (3, '010 49 30 1234567', 'JP'),
		(4, '0049 30 1234567', 'US'), (5, '02 1234 5678', 'AU'), (6, '03-1234-5678', 'JP')) v(i, p, c) ORDER BY i$$,
	$$VALUES ('+49301234567'), ('+49301234567'), ('+49301234567'), ('+49301234567'), ('+61212345678'), ('+81312345678')$$,
	'011 from North America, 0011 from Australia and 010 from Japan dial abroad, as 00 does; trunk 0s stay national');
-- (a 0 before the national number, as Brazil dials it and Poland did: a
-- review of the change found "(011) 98765-4321" with BR no longer completed;
-- Singapore's 001 abroad)
SELECT results_eq($$SELECT protector.normalize_phone(p, c) FROM (VALUES
		(1, '(011) 98765-4321', 'BR'), (2, '(0-22) 123 45 67', 'PL'), (3, '001 49 30 1234567', 'SG'), (4, '001 1 415 555 0100', 'SG')) v(i, p, c) ORDER BY i$$,
	$$VALUES ('+5511987654321'), ('+48221234567'), ('+49301234567'), ('+14155550100')$$,
	'... also after a 0 dialled before it; 001 from Singapore dials abroad');
INSERT INTO protector.customers (organization_id, full_name, phone, country) VALUES
	(:'org', 'Dan National', '12 34 56 78', 'DK'), (:'org', 'Dan Abroad', '+45 12 34 56 78', NULL);
SELECT tests.authenticate_as('i_operator');
SELECT is((SELECT array_length(customer_ids, 1) FROM protector.find_duplicate_customers(:'org')
		   WHERE reason = 'same phone' AND 'Dan National' = ANY (full_names)), 2,
	'a Danish number written nationally and internationally is one phone to the duplicate search');
SELECT tests.clear_authentication();

-- a restore keeps the backup's key, but only for the rows it loads: a
-- customer an RPC writes inside an INSERT ... SELECT a superuser runs
-- with row_security off (as after a dump's script) is keyed as always (a
-- review: the trigger skipped every write of such a statement)
CREATE TEMP TABLE rpc_log (r jsonb);
SET LOCAL row_security = off;
INSERT INTO rpc_log SELECT protector.create_customer(:'org', 'Nina', 'Nina@Example.com');
SET LOCAL row_security = on;
SELECT is((SELECT identity_key FROM protector.customers WHERE full_name = 'Nina'), 'nina@example.com',
	'a customer an RPC writes inside an INSERT with row_security off gets its identity key');
-- ... and the same statement's payment reaches its booking (every PL/pgSQL
-- trigger took such a statement for a restore's: a review)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, unit_price, total_price)
VALUES ('0a540000-0000-4000-8000-0000000000f1', :'org', :'venue', (SELECT id FROM protector.services WHERE venue_id = :'venue' LIMIT 1),
		tstzrange(date_trunc('day', now()) + interval '9 days', date_trunc('day', now()) + interval '9 days 1 hour'), 'confirmed', 40, 40);
SET LOCAL row_security = off;
INSERT INTO rpc_log SELECT protector.record_payment('0a540000-0000-4000-8000-0000000000f1', 15);
SET LOCAL row_security = on;
SELECT is((SELECT amount_paid FROM protector.bookings WHERE id = '0a540000-0000-4000-8000-0000000000f1'), 15.00,
	'a payment an RPC records inside an INSERT with row_security off reaches its booking''s amount_paid');
-- ... also when the statement loads one of protector's tables: a load of
-- tasks is no restore of the payment (every trigger asked whether any of
-- protector's tables was loaded, not its own: a review)
SET LOCAL row_security = off;
INSERT INTO protector.tasks (organization_id, title, description)
SELECT :'org', 'imported', protector.record_payment('0a540000-0000-4000-8000-0000000000f1', 7)::text;
SET LOCAL row_security = on;
SELECT is((SELECT amount_paid FROM protector.bookings WHERE id = '0a540000-0000-4000-8000-0000000000f1'), 22.00,
	'a payment an RPC records inside a load of tasks reaches amount_paid: 15 + 7 = 22');
-- ... because every trigger asks whether a restore loads its own table
SELECT is((SELECT string_agg(g.tgrelid::regclass || '.' || g.tgname, ', ') FROM pg_trigger g
		   JOIN pg_class c ON c.oid = g.tgrelid
		   WHERE c.relnamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
			 AND pg_get_triggerdef(g.oid) LIKE '%protector_internal.restoring()%'), NULL,
	'no trigger''s WHEN asks restoring() (whether any load runs) rather than restoring_into() its table');
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p
		   WHERE p.pronamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
			 AND p.prorettype = 'trigger'::regtype AND p.prosrc LIKE '%protector_internal.restoring()%'), NULL,
	'... nor a trigger function''s body');

SELECT * FROM finish();
ROLLBACK;
