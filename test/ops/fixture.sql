-- test/ops/fixture.sql: a small but complete protector database, made the
-- way users make it (RPCs as signed-in users and as a widget visitor),
-- with payments, a cancellation with its refund, review tasks, desk
-- notifications, audit rows, and a user table audited by enable_audit.
-- Uses only functions every release has, so it can fill the previous
-- release before an upgrade.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.as_user(p_uid uuid) RETURNS void LANGUAGE sql AS $$
	SELECT set_config('request.jwt.claims', json_build_object('sub', p_uid, 'role', 'authenticated')::text, true),
		   set_config('role', 'authenticated', true)
$$;
CREATE FUNCTION pg_temp.at(p_days int, p_hour int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + p_days * interval '1 day' + p_hour * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.at(int, int) TO authenticated, anon;

-- on Supabase (or its fixture) members are auth users
DO $$ BEGIN
	IF to_regclass('auth.users') IS NOT NULL THEN
		INSERT INTO auth.users (id, email) VALUES
			('00000000-0000-4000-8000-00000000aa01', 'olga@lockbox.test'),
			('00000000-0000-4000-8000-00000000aa02', 'otto@lockbox.test');
	END IF;
END $$;

BEGIN;
SELECT pg_temp.as_user('00000000-0000-4000-8000-00000000aa01');
SELECT protector.create_organization('Lockbox Escapes', 'lockbox', 'Europe/Berlin', 'EUR', 'Olga Owner') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Lockbox Mitte', 'Europe/Berlin') ->> 'id' AS venue \gset
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance,
								capacity, max_party, price, price_per_person, currency, settings)
VALUES ('0c000000-0000-4000-8000-0000000005a1', :'org', :'venue', 'The Vault', '60 minutes', '60 minutes', '400 days',
		6, 6, 20, 25, 'EUR', '{"refund_policy": {"full_refund_hours": 48}}');
INSERT INTO protector.customers (id, organization_id, full_name, email, phone) VALUES
	('0c000000-0000-4000-8000-00000000c001', :'org', 'Jonas Weber', 'jonas@example.com', '+49 30 1111'),
	('0c000000-0000-4000-8000-00000000c002', :'org', 'Cora Klein', 'cora@example.com', '+49 30 2222');
INSERT INTO protector.members (organization_id, user_id, role, full_name)
VALUES (:'org', '00000000-0000-4000-8000-00000000aa02', 'operator', 'Otto Operator');
SELECT protector.create_booking('0c000000-0000-4000-8000-0000000005a1', '0c000000-0000-4000-8000-00000000c001',
	pg_temp.at(d, 10), 4, 'fixture/' || d) FROM generate_series(3, 8) d;
SELECT protector.hold_slot('0c000000-0000-4000-8000-0000000005a1', '0c000000-0000-4000-8000-00000000c002', pg_temp.at(3, 14), 2);
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status, provider, provider_reference)
SELECT :'org', b.id, b.total_price, 'EUR', 'succeeded', 'stripe', 'pi_' || b.idempotency_key
FROM protector.bookings b WHERE b.idempotency_key IN ('fixture/3', 'fixture/4');
SELECT protector.cancel_booking(b.id, 'changed plans') FROM protector.bookings b WHERE b.idempotency_key = 'fixture/4';
UPDATE protector.tasks SET status = 'done', completed_at = now()
WHERE booking_id = (SELECT id FROM protector.bookings WHERE idempotency_key = 'fixture/5');
COMMIT;

-- a visitor through the widget
SELECT embed_key AS key FROM protector.venues \gset
BEGIN;
SET LOCAL ROLE anon;
SELECT protector.create_widget_booking(:'key', '0c000000-0000-4000-8000-0000000005a1',
	'Lena Visitor', 'lena@example.com', NULL, pg_temp.at(9, 18), 3, 'visit-1') IS NOT NULL AS widget;
COMMIT;

-- a table of the application's own, audited by protector
CREATE TABLE IF NOT EXISTS public.guests (id serial PRIMARY KEY, name text NOT NULL, note text);
SELECT protector.enable_audit('public.guests', '{note}');
INSERT INTO public.guests (name, note) VALUES ('Ada', 'allergic to nuts'), ('Ben', NULL);
UPDATE public.guests SET name = 'Benjamin' WHERE name = 'Ben';
