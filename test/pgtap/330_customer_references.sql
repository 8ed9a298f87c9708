-- What refers to a customer, as an attack review found it: a message's
-- or a signed waiver's customer changes with a merge only (a manager
-- handed one customer's thread and signature to another by an UPDATE);
-- a voucher, message or signature names no merged customer (one did, and
-- the kept customer could never be merged again); a merge moves what the
-- merging manager cannot see too, and never another role's table (a
-- merge ran such a table's triggers as the superuser).  The race of a new reference against a
-- merge: test/concurrency/customer_races.sh.
BEGIN;
SELECT plan(10);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['r_manager', 'r_cu1', 'r_cu2']) u;
INSERT INTO protector.organizations (id, name, slug, currency, settings) VALUES
	('0a330000-0000-4000-8000-000000000000', 'R', 'customer-refs', 'EUR', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a330000-0000-4000-8000-000000000000', tests.get_supabase_uid('r_manager'), 'manager');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a330000-0000-4000-8000-0000000000a1', '0a330000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a330000-0000-4000-8000-0000000005a1', '0a330000-0000-4000-8000-000000000000', '0a330000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days', 100, 4, 'shared');
INSERT INTO protector.customers (id, organization_id, user_id, full_name) VALUES
	('0a330000-0000-4000-8000-00000000c001', '0a330000-0000-4000-8000-000000000000', tests.get_supabase_uid('r_cu1'), 'Cara One'),
	('0a330000-0000-4000-8000-00000000c002', '0a330000-0000-4000-8000-000000000000', tests.get_supabase_uid('r_cu2'), 'Dirk Two');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status) VALUES
	('0a330000-0000-4000-8000-0000000000b1', '0a330000-0000-4000-8000-000000000000', '0a330000-0000-4000-8000-0000000000a1',
	 '0a330000-0000-4000-8000-0000000005a1', '0a330000-0000-4000-8000-00000000c001',
	 tstzrange(date_trunc('hour', now()) + interval '2 days', date_trunc('hour', now()) + interval '2 days 1 hour'), 'confirmed');
CREATE TEMP TABLE w (id uuid);
GRANT SELECT, INSERT ON w TO authenticated;
SELECT tests.authenticate_as('r_manager');
INSERT INTO w SELECT (protector.create_waiver('0a330000-0000-4000-8000-000000000000', 'W', 'I agree.') ->> 'waiver_id')::uuid;
SELECT protector.update_service('0a330000-0000-4000-8000-0000000005a1', jsonb_build_object('waiver_id', (SELECT id FROM w))) \g /dev/null
-- Cara writes on her booking and signs its waiver
SELECT tests.authenticate_as('r_cu1');
SELECT protector.send_message('0a330000-0000-4000-8000-0000000000b1', 'my door code is 4711') \g /dev/null
SELECT protector.submit_waiver((SELECT id FROM w), 'Cara One', '1980-01-01', 'Cara One', 'Cara One',
							   '0a330000-0000-4000-8000-0000000000b1') \g /dev/null

-- 1. a manager does not hand Cara's thread or signature to Dirk
SELECT tests.authenticate_as('r_manager');
SELECT throws_ok($$UPDATE protector.booking_messages SET customer_id = '0a330000-0000-4000-8000-00000000c002'
				   WHERE booking_id = '0a330000-0000-4000-8000-0000000000b1'$$,
	'22023', 'a message cannot be changed', 'a manager re-pointing a customer''s message to another customer: refused');
SELECT throws_ok($$UPDATE protector.waiver_submissions SET customer_id = '0a330000-0000-4000-8000-00000000c002'
				   WHERE booking_id = '0a330000-0000-4000-8000-0000000000b1'$$,
	'22023', 'a signed waiver cannot be changed', '... or her signature');
SELECT tests.authenticate_as('r_cu2');
SELECT is((SELECT count(*)::int FROM protector.booking_messages) + (SELECT count(*)::int FROM protector.waiver_submissions), 0,
	'Dirk reads nothing of Cara''s');

-- 2. a merge moves them (Cara's record merged into Dirk's: one person
-- after all); a table of another role's that references customers is not
-- touched (its trigger would run as protector's owner, a superuser)
SELECT tests.clear_authentication();
CREATE ROLE r_app NOLOGIN;
CREATE SCHEMA r_app AUTHORIZATION r_app;
GRANT USAGE ON SCHEMA protector TO r_app;
GRANT REFERENCES (id) ON protector.customers TO r_app;
SET LOCAL ROLE r_app;
CREATE TABLE r_app.loyalty (customer_id uuid REFERENCES protector.customers (id));
CREATE TABLE r_app.fired (who text);
CREATE FUNCTION r_app.mark() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN INSERT INTO r_app.fired VALUES (current_user); RETURN NULL; END $f$;
CREATE TRIGGER mark BEFORE UPDATE ON r_app.loyalty FOR EACH STATEMENT EXECUTE FUNCTION r_app.mark();
RESET ROLE;
-- (Cara's record unlinked first: records of two accounts are not merged)
UPDATE protector.customers SET user_id = NULL WHERE id = '0a330000-0000-4000-8000-00000000c001';
SELECT tests.authenticate_as('r_manager');
SELECT is(protector.merge_customers('0a330000-0000-4000-8000-00000000c002', '0a330000-0000-4000-8000-00000000c001') -> 'moved',
	'{"protector.bookings.customer_id": 1, "protector.vouchers.customer_id": 0, "protector.booking_messages.customer_id": 1, "protector.waiver_submissions.customer_id": 1}'::jsonb,
	'merge_customers moves the booking, the message and the signature, and names no table of another role''s');
SELECT tests.clear_authentication();
SELECT is_empty($$SELECT who FROM r_app.fired$$, 'the other role''s trigger did not run (as the owner or at all)');
SELECT tests.authenticate_as('r_manager');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT (SELECT customer_id FROM protector.booking_messages), (SELECT customer_id FROM protector.waiver_submissions)$$,
	$$VALUES ('0a330000-0000-4000-8000-00000000c002'::uuid, '0a330000-0000-4000-8000-00000000c002'::uuid)$$,
	'... to the kept customer');

-- 3. nothing new names the merged customer
SELECT tests.authenticate_as('r_manager');
SELECT throws_ok($$SELECT protector.create_voucher('0a330000-0000-4000-8000-000000000000', 25,
												   p_customer_id => '0a330000-0000-4000-8000-00000000c001')$$,
	'22023', 'customer 0a330000-0000-4000-8000-00000000c001 was merged into 0a330000-0000-4000-8000-00000000c002',
	'a voucher for the merged customer: refused (it was issued, to nobody''s account)');
SELECT lives_ok($$SELECT protector.create_voucher('0a330000-0000-4000-8000-000000000000', 25,
												  p_customer_id => '0a330000-0000-4000-8000-00000000c002')$$,
	'... for the kept one: issued');
SELECT tests.clear_authentication();
SELECT throws_ok($$INSERT INTO protector.waiver_submissions (organization_id, waiver_id, waiver_version_id, customer_id,
															  participant_name, participant_birth_date, signer_name, signature)
				   SELECT v.organization_id, v.waiver_id, v.id, '0a330000-0000-4000-8000-00000000c001',
						  'Cara One', '1980-01-01', 'Cara One', 'Cara One'
				   FROM protector.waiver_versions v WHERE v.waiver_id = (SELECT id FROM w)$$,
	'22023', 'customer 0a330000-0000-4000-8000-00000000c001 was merged into 0a330000-0000-4000-8000-00000000c002',
	'a signature written for the merged customer, even by a trusted role: refused');
SELECT tests.authenticate_as('r_manager');
SELECT lives_ok($$SELECT protector.merge_customers(
	(SELECT (protector.create_customer('0a330000-0000-4000-8000-000000000000', 'Third') ->> 'id')::uuid),
	'0a330000-0000-4000-8000-00000000c002')$$,
	'and the kept customer can be merged into another in turn (a voucher left on Cara failed it: still referenced)');

SELECT * FROM finish();
ROLLBACK;
