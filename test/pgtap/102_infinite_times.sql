-- An infinite time or date is 22008 wherever protector takes one, RPC or
-- table write (docs/bookings.md's error table): a review of the change
-- that made the RPCs say so found paths still answering 22023 ("must be a
-- date", "a shift ends after it starts"), and a voucher written directly
-- with an infinite expiry stored.  An attack review of special values found
-- more written directly: a manager's hold until infinity (it never lapsed,
-- and expire_holds never freed its slot), a cancellation at -infinity, a
-- task due or done then, a notification read then, a venue deleted then,
-- a deposit due at infinity, a membership confirmed at -infinity.
BEGIN;
SELECT plan(21);

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

-- the tables' times, written directly by the owner (whose role may write them all)
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0a102000-0000-4000-8000-0000000005a1', '0a102000-0000-4000-8000-000000000000', '0a102000-0000-4000-8000-0000000000f1',
		'S', '60 minutes', '60 minutes', '400 days', 10, 'shared');
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0a102000-0000-4000-8000-00000000c001', '0a102000-0000-4000-8000-000000000000', 'C');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, hold_expires_at)
VALUES ('0a102000-0000-4000-8000-0000000000b1', '0a102000-0000-4000-8000-000000000000', '0a102000-0000-4000-8000-0000000000f1',
		'0a102000-0000-4000-8000-0000000005a1', '0a102000-0000-4000-8000-00000000c001',
		tstzrange(date_trunc('hour', now()) + interval '3 days', date_trunc('hour', now()) + interval '3 days 1 hour'),
		'held', now() + interval '10 minutes');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, hold_expires_at)
	VALUES ('0a102000-0000-4000-8000-000000000000', '0a102000-0000-4000-8000-0000000000f1', '0a102000-0000-4000-8000-0000000005a1',
			'0a102000-0000-4000-8000-00000000c001',
			tstzrange(date_trunc('hour', now()) + interval '4 days', date_trunc('hour', now()) + interval '4 days 1 hour'), 'held', 'infinity')$$,
	'22008', 'hold_expires_at must be a finite time', 'a new hold until infinity is 22008, whoever writes it (prepare_booking)');
SELECT throws_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, cancelled_at)
	VALUES ('0a102000-0000-4000-8000-000000000000', '0a102000-0000-4000-8000-0000000000f1', '0a102000-0000-4000-8000-0000000005a1',
			'0a102000-0000-4000-8000-00000000c001',
			tstzrange(date_trunc('hour', now()) + interval '4 days', date_trunc('hour', now()) + interval '4 days 1 hour'), 'cancelled', '-infinity')$$,
	'22008', 'cancelled_at must be a finite time', '... and a new booking cancelled at -infinity');
SELECT tests.authenticate_as('it_owner');
SELECT throws_ok($$UPDATE protector.bookings SET hold_expires_at = 'infinity' WHERE id = '0a102000-0000-4000-8000-0000000000b1'$$,
	'22008', 'hold_expires_at must be a finite time', 'a hold made to last until infinity is 22008 (it was stored, and never lapsed)');
SELECT lives_ok($$UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0a102000-0000-4000-8000-0000000000b1'$$,
	'(the hold cancelled)');
SELECT throws_ok($$UPDATE protector.bookings SET cancelled_at = '-infinity' WHERE id = '0a102000-0000-4000-8000-0000000000b1'$$,
	'22008', 'cancelled_at must be a finite time', 'a cancellation at -infinity is 22008 (it was stored and exported)');
SELECT throws_ok($$INSERT INTO protector.tasks (organization_id, title, due_at) VALUES ('0a102000-0000-4000-8000-000000000000', 't', '-infinity')$$,
	'22008', 'due_at must be a finite time', 'a task due at -infinity is 22008');
SELECT throws_ok($$UPDATE protector.venues SET deleted_at = '-infinity' WHERE id = '0a102000-0000-4000-8000-0000000000f1'$$,
	'22008', 'deleted_at must be a finite time', 'a venue deleted at -infinity is 22008');
SELECT tests.clear_authentication();
INSERT INTO protector.notifications (organization_id, recipient_id, kind, payload)
VALUES ('0a102000-0000-4000-8000-000000000000', tests.get_supabase_uid('it_owner'), 'note', '{}');
SELECT tests.authenticate_as('it_owner');
SELECT throws_ok($$UPDATE protector.notifications SET read_at = '-infinity' WHERE organization_id = '0a102000-0000-4000-8000-000000000000'$$,
	'22008', 'read_at must be a finite time', 'a notification read at -infinity is 22008');
SELECT tests.clear_authentication();
SELECT throws_ok($$UPDATE protector.bookings SET payment_due_by = 'infinity' WHERE id = '0a102000-0000-4000-8000-0000000000b1'$$,
	'22008', 'payment_due_by must be a finite time', '... by a trusted writer too: a deposit due at infinity is 22008');
SELECT throws_ok($$INSERT INTO protector.tasks (organization_id, title, status, completed_at)
	VALUES ('0a102000-0000-4000-8000-000000000000', 't', 'done', '-infinity')$$,
	'22008', 'completed_at must be a finite time', 'a task done at -infinity (the stamp a trusted writer may give) is 22008');
SELECT throws_ok($$UPDATE protector.members SET confirmed_at = '-infinity' WHERE id = '0a102000-0000-4000-8000-0000000000e1'$$,
	'22008', 'confirmed_at must be a finite time', 'a membership confirmed at -infinity is 22008');

-- ... but a time stored before (by 0.1.0, or a restore) stays writable
-- around: a hold until infinity could not even be cancelled (a review)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, hold_expires_at)
VALUES ('0a102000-0000-4000-8000-0000000000b2', '0a102000-0000-4000-8000-000000000000', '0a102000-0000-4000-8000-0000000000f1',
		'0a102000-0000-4000-8000-0000000005a1', '0a102000-0000-4000-8000-00000000c001',
		tstzrange(date_trunc('hour', now()) + interval '5 days', date_trunc('hour', now()) + interval '5 days 1 hour'),
		'held', now() + interval '10 minutes');
SET LOCAL session_replication_role = replica;
UPDATE protector.bookings SET hold_expires_at = 'infinity', payment_due_by = 'infinity' WHERE id = '0a102000-0000-4000-8000-0000000000b2';
UPDATE protector.tasks SET due_at = 'infinity' WHERE booking_id = '0a102000-0000-4000-8000-0000000000b2';
INSERT INTO protector.tasks (organization_id, booking_id, title, due_at)
VALUES ('0a102000-0000-4000-8000-000000000000', '0a102000-0000-4000-8000-0000000000b2', 'legacy', 'infinity');
RESET session_replication_role;
SELECT tests.authenticate_as('it_owner');
SELECT lives_ok($$SELECT protector.cancel_booking('0a102000-0000-4000-8000-0000000000b2', 'stuck')$$,
	'a hold stored until infinity before 0.2.0, its deposit due then and a task of it due then, is cancelled');
SELECT is((SELECT status::text FROM protector.bookings WHERE id = '0a102000-0000-4000-8000-0000000000b2'), 'cancelled',
	'... and is cancelled');
SELECT lives_ok($$UPDATE protector.tasks SET title = 'legacy, renamed' WHERE title = 'legacy'$$,
	'... and its task due at infinity is written around');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
