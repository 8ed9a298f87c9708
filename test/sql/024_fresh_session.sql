-- RPCs as a connection's first call.  protector's settings
-- (protector.refund_on_cancel, protector.promo_code) are defined by
-- protector.so, which a connection loads at its first call of a C
-- function; an RPC that reads one before calling any, as PostgREST's
-- fresh pooled connections do, must not fail on an unknown setting.
-- pg_regress, not pgTAP: each case needs a connection of its own.
\set VERBOSITY terse
\set SHOW_CONTEXT never

INSERT INTO protector.organizations (id, name, slug) VALUES
	('0d240000-0000-4000-8000-000000000000', 'Fresh', 'fresh-session');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0d240000-0000-4000-8000-000000000000', '0d240000-0000-4000-8000-0000000000a1', 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0d240000-0000-4000-8000-0000000000b1', '0d240000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, price) VALUES
	('0d240000-0000-4000-8000-0000000000c1', '0d240000-0000-4000-8000-000000000000',
	 '0d240000-0000-4000-8000-0000000000b1', 'Room', '60 minutes', '60 minutes', '400 days', 80);
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
SELECT ('0d240000-0000-4000-8000-0000000000d' || n)::uuid, '0d240000-0000-4000-8000-000000000000',
	   '0d240000-0000-4000-8000-0000000000b1', '0d240000-0000-4000-8000-0000000000c1',
	   tstzrange(date_trunc('day', now()) + interval '10 days' + n * interval '1 hour',
				 date_trunc('day', now()) + interval '10 days' + (n + 1) * interval '1 hour'), 'confirmed'
FROM generate_series(1, 3) n;
INSERT INTO protector.payments (organization_id, booking_id, kind, amount, status)
SELECT '0d240000-0000-4000-8000-000000000000', ('0d240000-0000-4000-8000-0000000000d' || n)::uuid, 'payment', 80, 'succeeded'
FROM generate_series(1, 3) n;

-- the owner cancels, as the connection's first call: ten days ahead, the
-- default refund policy gives back all that was paid (80)
\c -
\set VERBOSITY terse
\set SHOW_CONTEXT never
BEGIN;
SELECT set_config('role', 'authenticated', true) IS NOT NULL AS as_owner,
	   set_config('request.jwt.claims', '{"sub": "0d240000-0000-4000-8000-0000000000a1", "role": "authenticated"}', true)
	   IS NOT NULL AS claims;
SELECT j ->> 'status' AS status, j ->> 'refund_amount' AS refund_amount
FROM protector.cancel_booking('0d240000-0000-4000-8000-0000000000d1', 'first call') j;
COMMIT;
SELECT kind, amount, status FROM protector.payments
WHERE booking_id = '0d240000-0000-4000-8000-0000000000d1' ORDER BY kind;

-- the same, with the setting SET before protector.so was loaded to 'of',
-- which PostgreSQL reads as off: cancel_booking refunds (its default) and
-- then puts the caller's setting back as off (it was read as on)
\c -
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET protector.refund_on_cancel = 'of';
BEGIN;
SELECT set_config('role', 'authenticated', true) IS NOT NULL AS as_owner,
	   set_config('request.jwt.claims', '{"sub": "0d240000-0000-4000-8000-0000000000a1", "role": "authenticated"}', true)
	   IS NOT NULL AS claims;
SELECT j ->> 'status' AS status, j ->> 'refund_amount' AS refund_amount
FROM protector.cancel_booking('0d240000-0000-4000-8000-0000000000d2', 'first call') j;
SHOW protector.refund_on_cancel;
COMMIT;
SELECT kind, amount, status FROM protector.payments
WHERE booking_id = '0d240000-0000-4000-8000-0000000000d2' ORDER BY kind;

-- a SET LOCAL of the setting, ended before protector.so was loaded, leaves
-- a placeholder holding '' (pooled connections: a transaction before this
-- request's): the default, not a failed cancellation ("requires a Boolean
-- value")
\c -
\set VERBOSITY terse
\set SHOW_CONTEXT never
BEGIN;
SET LOCAL protector.refund_on_cancel = off;
COMMIT;
BEGIN;
SELECT set_config('role', 'authenticated', true) IS NOT NULL AS as_owner,
	   set_config('request.jwt.claims', '{"sub": "0d240000-0000-4000-8000-0000000000a1", "role": "authenticated"}', true)
	   IS NOT NULL AS claims;
SELECT j ->> 'status' AS status, j ->> 'refund_amount' AS refund_amount
FROM protector.cancel_booking('0d240000-0000-4000-8000-0000000000d3', 'after a SET LOCAL') j;
COMMIT;
SHOW protector.refund_on_cancel;
