-- update_booking_status_batch and expire_holds lock the promo codes and
-- vouchers their cancellations give back first, in id order
-- (protector_internal.lock_give_backs, src/locks.c).  It read the vouchers
-- by the payments' booking id alone, which leads no index of payments
-- (organization_id comes first): every call read every tenant's payments,
-- under the bookings' locks (a review: 10-48 ms a call at 900,000
-- payments).  It reads them through the bookings now.  Counted in rows
-- and index entries of payments read (no timing).
BEGIN;
SET LOCAL timezone = 'UTC';
SELECT plan(2);

INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES
	('0a978000-0000-4000-8000-000000000000', 'Mine', 'give-back-mine', 'UTC', 'EUR'),
	('0a978000-0000-4000-8000-000000000001', 'Busy', 'give-back-busy', 'UTC', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
SELECT ('0a978000-0000-4000-8000-0000000000a' || n)::uuid, ('0a978000-0000-4000-8000-00000000000' || n)::uuid, 'V', 'UTC', '{}'
FROM generate_series(0, 1) n;
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, duration, slot_interval, max_advance, capacity, max_party)
SELECT ('0a978000-0000-4000-8000-0000000005a' || n)::uuid, ('0a978000-0000-4000-8000-00000000000' || n)::uuid,
	   ('0a978000-0000-4000-8000-0000000000a' || n)::uuid, 'Hall', 'shared', '60 minutes', '60 minutes', '400 days', 100000, 10
FROM generate_series(0, 1) n;

-- the other tenant's history: 3,000 bookings, each paid with a voucher
-- (written as an import, under replica)
SET LOCAL session_replication_role = replica;
INSERT INTO protector.vouchers (id, organization_id, amount, currency)
VALUES ('0a978000-0000-4000-8000-0000000000f1', '0a978000-0000-4000-8000-000000000001', 100000, 'EUR');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, currency, total_price, amount_paid)
SELECT ('0a978000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, '0a978000-0000-4000-8000-000000000001',
	   '0a978000-0000-4000-8000-0000000000a1', '0a978000-0000-4000-8000-0000000005a1',
	   tstzrange(date_trunc('day', now()) - interval '30 days', date_trunc('day', now()) - interval '30 days' + interval '1 hour'),
	   'completed', 'EUR', 10, 10
FROM generate_series(4096, 4096 + 2999) i;
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status, voucher_id)
SELECT organization_id, id, 10, 'EUR', 'succeeded', '0a978000-0000-4000-8000-0000000000f1' FROM protector.bookings
WHERE organization_id = '0a978000-0000-4000-8000-000000000001';
SET LOCAL session_replication_role = origin;
ANALYZE protector.bookings, protector.payments;

SELECT protector.create_booking('0a978000-0000-4000-8000-0000000005a0', NULL, date_trunc('day', now()) + interval '3 days 10 hours')
	->> 'id' AS booking \gset

-- rows and index entries of payments read so far in this transaction
CREATE FUNCTION pg_temp.payments_read() RETURNS bigint LANGUAGE sql AS $$
	SELECT pg_stat_get_xact_tuples_returned('protector.payments'::regclass)
		   + COALESCE((SELECT sum(pg_stat_get_xact_tuples_returned(i.indexrelid)) FROM pg_index i
					   WHERE i.indrelid = 'protector.payments'::regclass), 0)
$$;
CREATE TEMP TABLE read_before AS SELECT pg_temp.payments_read() AS n;
GRANT SELECT ON read_before TO service_role;
GRANT EXECUTE ON FUNCTION pg_temp.payments_read() TO service_role;

SELECT tests.authenticate_as_service_role();
SELECT lives_ok(format($$SELECT protector_internal.lock_give_backs('{%s}', true)$$, :'booking'),
	'the give-backs of one booking are locked');
SELECT cmp_ok(pg_temp.payments_read() - (SELECT n FROM read_before), '<', 100::bigint,
	'... reading none of the other tenant''s 3,000 payments');

SELECT * FROM finish();
ROLLBACK;
