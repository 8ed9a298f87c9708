-- balance_due = total_price - amount_paid, kept by prepare_booking on
-- INSERT and the zz_balance_due trigger on UPDATE, and held by
-- bookings_balance_due_check (src/balance_due.c): it
-- was a stored generated column, whose expression PostgreSQL parsed again
-- for every INSERT and UPDATE of a booking.  Every figure is computed by
-- hand in the comment beside it.
BEGIN;
SELECT plan(13);

SELECT tests.create_supabase_user('bd_finance');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a360000-0000-4000-8000-000000000000', 'B', 'balance-due');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a360000-0000-4000-8000-000000000000', tests.get_supabase_uid('bd_finance'), 'finance');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a360000-0000-4000-8000-0000000000a1', '0a360000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0a360000-0000-4000-8000-0000000005a1', '0a360000-0000-4000-8000-000000000000', '0a360000-0000-4000-8000-0000000000a1',
		'Hall', '60 minutes', '60 minutes', '400 days', 100, 'shared');
CREATE FUNCTION pg_temp.book(p_id text, p_total numeric, p_hour int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, total_price)
	VALUES (('0a360000-0000-4000-8000-000000b' || p_id)::uuid, '0a360000-0000-4000-8000-000000000000',
			'0a360000-0000-4000-8000-0000000000a1', '0a360000-0000-4000-8000-0000000005a1',
			tstzrange(date_trunc('day', now()) + interval '3 days' + p_hour * interval '1 hour',
					  date_trunc('day', now()) + interval '3 days' + (p_hour + 1) * interval '1 hour'),
			'confirmed', p_total)
$$;
CREATE FUNCTION pg_temp.due(p_id text) RETURNS text LANGUAGE sql AS $$
	SELECT balance_due::text FROM protector.bookings WHERE id = ('0a360000-0000-4000-8000-000000b' || p_id)::uuid
$$;

-- on INSERT
SELECT pg_temp.book('00001', 120, 9);
SELECT is(pg_temp.due('00001'), '120.00', 'a booking of 120, nothing paid: 120 - 0 = 120.00 due');
SELECT lives_ok($$INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, total_price, balance_due)
	VALUES ('0a360000-0000-4000-8000-000000b00002', '0a360000-0000-4000-8000-000000000000',
			'0a360000-0000-4000-8000-0000000000a1', '0a360000-0000-4000-8000-0000000005a1',
			tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'),
			'confirmed', 50, 999)$$,
	'a balance written by hand is taken (as a generated column refused it: 428C9) ...');
SELECT is(pg_temp.due('00002'), '50.00', '... and replaced by the computed one: 50 - 0 = 50.00, not 999');
SELECT pg_temp.book('00003', 10.005, 11);
SELECT is(pg_temp.due('00003'), '10.01', 'as numeric(12,2) stores it: total 10.005 is 10.01, so 10.01 due');

-- on UPDATE, through the payments ledger's own UPDATE of amount_paid
SELECT tests.authenticate_as('bd_finance');
SELECT is((protector.record_payment('0a360000-0000-4000-8000-000000b00001', 40, 'stripe', 'pi_bd1') ->> 'balance_due')::numeric, 80.00,
	'a payment of 40 on 120: 120 - 40 = 80 due');
SELECT tests.clear_authentication();
UPDATE protector.bookings SET balance_due = 1 WHERE id = '0a360000-0000-4000-8000-000000b00001';
SELECT is(pg_temp.due('00001'), '80.00', 'an UPDATE writing balance_due by hand leaves the computed 80.00');
UPDATE protector.bookings SET total_price = 30 WHERE id = '0a360000-0000-4000-8000-000000b00001';
SELECT is(pg_temp.due('00001'), '-10.00', 'the total lowered to 30 after 40 was paid: 30 - 40 = -10.00 (overpaid)');

-- after every other BEFORE trigger: one that moves the price is followed
SELECT is((SELECT max(tgname::text) FROM pg_trigger
		   WHERE tgrelid = 'protector.bookings'::regclass AND NOT tgisinternal AND tgtype & 2 = 2 AND tgtype & 16 = 16),
	'zz_balance_due', 'zz_balance_due is the last BEFORE UPDATE trigger of bookings by name, so it fires last');
CREATE FUNCTION pg_temp.add_one() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.total_price := NEW.total_price + 1;
	RETURN NEW;
END $$;
CREATE TRIGGER y_add_one BEFORE UPDATE ON protector.bookings FOR EACH ROW EXECUTE FUNCTION pg_temp.add_one();
UPDATE protector.bookings SET details = '{"note": 1}' WHERE id = '0a360000-0000-4000-8000-000000b00002';
SELECT is(pg_temp.due('00002'), '51.00', 'a BEFORE trigger that fires earlier adds 1 to the total of 50: 51 - 0 = 51.00 due');
DROP TRIGGER y_add_one ON protector.bookings;

-- what the trigger cannot see, the CHECK refuses
CREATE TRIGGER zzz_add_one BEFORE UPDATE ON protector.bookings FOR EACH ROW EXECUTE FUNCTION pg_temp.add_one();
SELECT throws_ok($$UPDATE protector.bookings SET details = '{"note": 2}' WHERE id = '0a360000-0000-4000-8000-000000b00002'$$,
	'23514', NULL, 'a trigger firing after it changes the total: the CHECK refuses the row (52 - 0 is not 51)');
DROP TRIGGER zzz_add_one ON protector.bookings;
ALTER TABLE protector.bookings DISABLE TRIGGER zz_balance_due;
SELECT throws_ok($$UPDATE protector.bookings SET total_price = 200 WHERE id = '0a360000-0000-4000-8000-000000b00003'$$,
	'23514', 'new row for relation "bookings" violates check constraint "bookings_balance_due_check"',
	'with the trigger disabled, a new total without its balance is refused, never stored');
ALTER TABLE protector.bookings ENABLE ALWAYS TRIGGER zz_balance_due;

-- imports under session_replication_role = replica: prepare_booking fires ALWAYS
SET LOCAL session_replication_role = replica;
SELECT pg_temp.book('00004', 70, 12);
SET LOCAL session_replication_role = origin;
SELECT is(pg_temp.due('00004'), '70.00', 'a booking imported under session_replication_role = replica: 70 - 0 = 70.00 due');
SELECT is((SELECT count(*)::int FROM protector.bookings
		   WHERE organization_id = '0a360000-0000-4000-8000-000000000000' AND balance_due <> total_price - amount_paid),
	0, 'every booking written here has balance_due = total_price - amount_paid');

SELECT * FROM finish();
ROLLBACK;
