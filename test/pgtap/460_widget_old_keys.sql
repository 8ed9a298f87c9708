-- A widget retry with a request key of before 0.2.0's identity keys: a
-- booking keyed by its visitor's lower()-cased address (what the update
-- from 0.1.0 keeps, adding the venue), or by 0.1.0's key without the venue
-- (written by a request in flight during the update), is replayed for its
-- own visitor.  Two addresses the desk keeps apart can lower() alike
-- (C.UTF-8: 'İnes@x.com' and 'ines@x.com'): the other one's request with
-- that key is refused (23P01, a conflict), neither answered with this booking nor booked
-- under its key.  Arguments of collation "C" change nothing: the function
-- keeps the database's collation for its own text handling.
BEGIN;
SELECT plan(7);

INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a460000-0000-4000-8000-000000000000', 'Old keys', 'widget-old-keys');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a460000-0000-4000-8000-0000000000a1', '0a460000-0000-4000-8000-000000000000', 'Keys', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode) VALUES
	('0a460000-0000-4000-8000-0000000005a1', '0a460000-0000-4000-8000-000000000000', '0a460000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days', 20, 6, 'shared');
SELECT embed_key AS key FROM protector.venues WHERE id = '0a460000-0000-4000-8000-0000000000a1' \gset
CREATE TEMP TABLE r (name text, result jsonb);
GRANT ALL ON r TO anon;
SELECT is(lower('İnes@x.com'), lower('ines@x.com'), 'two addresses lower() alike (the database is C.UTF-8)');

SELECT tests.authenticate_as_anon();
INSERT INTO r SELECT 'first', protector.create_widget_booking(:'key', '0a460000-0000-4000-8000-0000000005a1',
	'Ines A', 'İnes@x.com', NULL, date_trunc('day', now()) + interval '3 days 10 hours', 1, 'k1');
SELECT tests.clear_authentication();

-- the key as the update from 0.1.0 leaves it: the lower()-cased address's, with the venue
SET LOCAL session_replication_role = replica;
UPDATE protector.bookings SET idempotency_key = 'widget/' || md5(lower('İnes@x.com')) || '/0a460000-0000-4000-8000-0000000000a1/k1'
WHERE id = (SELECT (result ->> 'id')::uuid FROM r WHERE name = 'first');
RESET session_replication_role;
SELECT tests.authenticate_as_anon();
INSERT INTO r SELECT 'same', protector.create_widget_booking(:'key', '0a460000-0000-4000-8000-0000000005a1',
	'Ines A', 'İnes@x.com', NULL, date_trunc('day', now()) + interval '3 days 10 hours', 1, 'k1');
SELECT throws_ok(format($$SELECT protector.create_widget_booking(%L, '0a460000-0000-4000-8000-0000000005a1',
	'Ines B', 'ines@x.com', NULL, date_trunc('day', now()) + interval '3 days 12 hours', 1, 'k1')$$, :'key'),
	'23P01', 'this request key belongs to another booking',
	'... another visitor whose address lower()s alike is not answered with that booking, nor booked under its key');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT r.result ->> 'replayed', r.result ->> 'id' = f.result ->> 'id' FROM r, r f
					WHERE r.name = 'same' AND f.name = 'first'$$,
	$$VALUES ('true', true)$$, 'the visitor''s retry replays the booking keyed by the lower()-cased address');

-- the key as a 0.1.0 request in flight during the update wrote it: no venue
SET LOCAL session_replication_role = replica;
UPDATE protector.bookings SET idempotency_key = 'widget/' || md5(lower('İnes@x.com')) || '/k1'
WHERE id = (SELECT (result ->> 'id')::uuid FROM r WHERE name = 'first');
RESET session_replication_role;
SELECT tests.authenticate_as_anon();
INSERT INTO r SELECT 'same 0.1.0', protector.create_widget_booking(:'key', '0a460000-0000-4000-8000-0000000005a1',
	'Ines A', 'İnes@x.com', NULL, date_trunc('day', now()) + interval '3 days 10 hours', 1, 'k1');
INSERT INTO r SELECT 'other 0.1.0', protector.create_widget_booking(:'key', '0a460000-0000-4000-8000-0000000005a1',
	'Ines B', 'ines@x.com', NULL, date_trunc('day', now()) + interval '3 days 14 hours', 1, 'k2');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT r.result ->> 'replayed', r.result ->> 'id' = f.result ->> 'id' FROM r, r f
					WHERE r.name = 'same 0.1.0' AND f.name = 'first'$$,
	$$VALUES ('true', true)$$, 'the visitor''s retry replays the booking with 0.1.0''s key');
-- ... and the other visitor's request with that key (k1) is refused too
-- (it booked again: only the key with the venue was looked for)
SELECT tests.authenticate_as_anon();
SELECT throws_ok(format($$SELECT protector.create_widget_booking(%L, '0a460000-0000-4000-8000-0000000005a1',
	'Ines B', 'ines@x.com', NULL, date_trunc('day', now()) + interval '3 days 16 hours', 1, 'k1')$$, :'key'),
	'23P01', 'this request key belongs to another booking',
	'another visitor whose address lower()s alike, with the key of 0.1.0''s form: refused, not booked again');
SELECT tests.clear_authentication();
-- the same retry with an argument of collation "C" (a column's, say): the
-- function's own text handling keeps the database's collation
SELECT tests.authenticate_as_anon();
INSERT INTO r SELECT 'same, C', protector.create_widget_booking(:'key' COLLATE "C", '0a460000-0000-4000-8000-0000000005a1',
	'Ines A', 'İnes@x.com' COLLATE "C", NULL, date_trunc('day', now()) + interval '3 days 10 hours', 1, 'k1');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT r.result ->> 'replayed', r.result ->> 'id' = f.result ->> 'id' FROM r, r f
					WHERE r.name = 'same, C' AND f.name = 'first'$$,
	$$VALUES ('true', true)$$, '... also when its arguments carry the collation "C"');
SELECT is((SELECT count(*) FROM protector.bookings WHERE organization_id = '0a460000-0000-4000-8000-000000000000'), 2::bigint,
	'... and two bookings in all: the first, and the other visitor''s with a key of their own');

SELECT * FROM finish();
ROLLBACK;
