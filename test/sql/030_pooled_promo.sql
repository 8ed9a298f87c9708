-- A promo code counts only in the transaction that set it
-- (protector.promo_code, src/booking_insert.c).  create_booking passes its
-- code to the insert's trigger in that setting, transaction-locally; a
-- plain SET one client left on a pooled connection (PostgREST behind
-- Supavisor or pgbouncer in transaction mode hands the backend to the next
-- client) discounted the next client's direct insert and used one of the
-- code's uses (an attack on pooled connections).  Each statement here is a
-- transaction of its own, as each request on a pooled backend is.
SET client_min_messages = warning;
INSERT INTO protector.organizations (id, name, slug, currency) VALUES ('0c030000-0000-4000-8000-000000000000', 'Pool', 'pooled-promo', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0c030000-0000-4000-8000-0000000000a1', '0c030000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, price)
VALUES ('0c030000-0000-4000-8000-0000000005a1', '0c030000-0000-4000-8000-000000000000', '0c030000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '30 days', 100);
INSERT INTO protector.promo_codes (id, organization_id, discount_kind, discount_value)
VALUES ('0c030000-0000-4000-8000-0000000000c1', '0c030000-0000-4000-8000-000000000000', 'percent', 50)
RETURNING code AS code \gset
-- one client's plain SET, left on the connection
SELECT set_config('protector.promo_code', :'code', false) IS NOT NULL AS left_on_the_connection;
-- the next client's direct insert, as service_role: no discount, no use
SET ROLE service_role;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, currency, unit_price, total_price)
VALUES ('0c030000-0000-4000-8000-00000000b001', '0c030000-0000-4000-8000-000000000000', '0c030000-0000-4000-8000-0000000000a1',
		'0c030000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('hour', now()) + interval '2 days', date_trunc('hour', now()) + interval '2 days 1 hour'),
		'EUR', 100, 100)
RETURNING promo_code_id, total_price, discount_amount;
-- nor when a SET LOCAL of this transaction, rolled back with its
-- savepoint, brought the left value back
BEGIN;
SAVEPOINT before_the_code;
SELECT set_config('protector.promo_code', '', true) = '' AS set_here;
ROLLBACK TO SAVEPOINT before_the_code;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, currency, unit_price, total_price)
VALUES ('0c030000-0000-4000-8000-00000000b003', '0c030000-0000-4000-8000-000000000000', '0c030000-0000-4000-8000-0000000000a1',
		'0c030000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('hour', now()) + interval '6 days', date_trunc('hour', now()) + interval '6 days 1 hour'),
		'EUR', 100, 100)
RETURNING promo_code_id, total_price, discount_amount;
COMMIT;
RESET ROLE;
SELECT times_used FROM protector.promo_codes WHERE id = '0c030000-0000-4000-8000-0000000000c1';
-- set in the insert's own transaction, as create_booking sets it: 100 less 50%
BEGIN;
SELECT set_config('protector.promo_code', :'code', true) IS NOT NULL AS set_here;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, currency, unit_price, total_price)
VALUES ('0c030000-0000-4000-8000-00000000b002', '0c030000-0000-4000-8000-000000000000', '0c030000-0000-4000-8000-0000000000a1',
		'0c030000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('hour', now()) + interval '3 days', date_trunc('hour', now()) + interval '3 days 1 hour'),
		'EUR', 100, 100)
RETURNING promo_code_id = '0c030000-0000-4000-8000-0000000000c1' AS with_the_code, total_price, discount_amount;
COMMIT;
-- and create_booking's own code, with the left value still on the connection
SELECT (protector.create_booking('0c030000-0000-4000-8000-0000000005a1', NULL,
		date_trunc('hour', now()) + interval '4 days', p_promo_code => :'code') ->> 'total_price')::numeric AS create_booking_total;
SELECT (protector.create_booking('0c030000-0000-4000-8000-0000000005a1', NULL,
		date_trunc('hour', now()) + interval '5 days') ->> 'total_price')::numeric AS without_a_code;
SELECT times_used FROM protector.promo_codes WHERE id = '0c030000-0000-4000-8000-0000000000c1';
RESET protector.promo_code;
