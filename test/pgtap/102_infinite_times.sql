-- An infinite time or date is 22008 wherever protector takes one, RPC or
-- table write (docs/bookings.md's error table): a review of the change
-- that made the RPCs say so found paths still answering 22023 ("must be a
-- date", "a shift ends after it starts"), and a voucher written directly
-- with an infinite expiry stored.
BEGIN;
SELECT plan(7);

SELECT tests.create_supabase_user('it_owner');
INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0a102000-0000-4000-8000-000000000000', 'Infinite', 'infinite-times', 'Europe/Berlin', 'EUR');
INSERT INTO protector.members (id, organization_id, user_id, role, full_name)
VALUES ('0a102000-0000-4000-8000-0000000000e1', '0a102000-0000-4000-8000-000000000000', tests.get_supabase_uid('it_owner'), 'owner', 'Owner');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a102000-0000-4000-8000-0000000000f1', '0a102000-0000-4000-8000-000000000000', 'V', 'Europe/Berlin');
INSERT INTO protector.vouchers (id, organization_id, amount, currency)
VALUES ('0a102000-0000-4000-8000-0000000000c1', '0a102000-0000-4000-8000-000000000000', 10, 'EUR');

SELECT tests.authenticate_as('it_owner');
SELECT throws_ok($$SELECT * FROM protector.get_staff_schedule('0a102000-0000-4000-8000-0000000000f1', 'infinity')$$,
	'22008', 'p_week_start must be a finite date', 'a week of infinity is 22008 (it was 22023, "must be a date from ...")');
SELECT throws_ok($$INSERT INTO protector.staff_shifts (organization_id, venue_id, member_id, during)
	VALUES ('0a102000-0000-4000-8000-000000000000', '0a102000-0000-4000-8000-0000000000f1', '0a102000-0000-4000-8000-0000000000e1',
			'[2030-01-01, infinity)')$$,
	'22008', 'during''s end must be a finite time', 'a shift written to the table with an infinite end is 22008, as create_staff_schedule answers');
SELECT throws_ok($$INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, closed)
	VALUES ('0a102000-0000-4000-8000-000000000000', '0a102000-0000-4000-8000-0000000000f1', 'infinity', true)$$,
	'22008', 'closed_on must be a finite date', 'a closure on an infinite day is 22008 (it was 22023)');
SELECT throws_ok($$INSERT INTO protector.vouchers (organization_id, amount, currency, expires_at)
	VALUES ('0a102000-0000-4000-8000-000000000000', 10, 'EUR', '-infinity')$$,
	'22008', 'expires_at must be a finite time', 'a voucher written with an infinite expiry is refused as create_voucher refuses it (it was stored)');
SELECT throws_ok($$UPDATE protector.vouchers SET expires_at = 'infinity' WHERE id = '0a102000-0000-4000-8000-0000000000c1'$$,
	'22008', 'expires_at must be a finite time', '... and so is an expiry changed to infinity');
SELECT lives_ok($$UPDATE protector.vouchers SET expires_at = now() + interval '1 year' WHERE id = '0a102000-0000-4000-8000-0000000000c1'$$,
	'a finite expiry is written');
SELECT tests.clear_authentication();
-- a 0.1.0 voucher stored with an infinite expiry keeps its other columns writable
SET LOCAL session_replication_role = replica;
UPDATE protector.vouchers SET expires_at = 'infinity' WHERE id = '0a102000-0000-4000-8000-0000000000c1';
RESET session_replication_role;
SELECT lives_ok($$UPDATE protector.vouchers SET note = 'kept' WHERE id = '0a102000-0000-4000-8000-0000000000c1'$$,
	'a voucher stored with an infinite expiry before 0.2.0 has its note written');

SELECT * FROM finish();
ROLLBACK;
