-- disable_realtime() with a Realtime publication that takes protector's
-- tables FOR ALL TABLES or with their schema (an attack review of live
-- updates): enable_realtime() accepted it, and disable_realtime() failed
-- bare ("publication is defined as FOR ALL TABLES", "relation is not part
-- of the publication"), rolled back whole, and kept the trigger and
-- policies that keep DROP EXTENSION from going through.  The tables stay
-- in such a publication (a NOTICE says so); the rest is undone.  And
-- enable_realtime() leaves the replica identity of a table a publication
-- lists the columns of.  And it sets a FULL replica identity (0.1.0's
-- choice) back to DEFAULT: Supabase Realtime sent an update's whole old
-- row to whoever may read the row now (a booking handed to another
-- customer showed them the first one's notes) and matched a delete's
-- filters against the whole old row (an attack review).
BEGIN;
SELECT plan(8);

DROP PUBLICATION IF EXISTS supabase_realtime;
CREATE PUBLICATION supabase_realtime FOR ALL TABLES;
SELECT protector.enable_realtime() IS NOT NULL AS enabled \gset
SELECT lives_ok($$SELECT protector.disable_realtime()$$,
	'disable_realtime() with a FOR ALL TABLES publication goes through');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'protector.bookings'::regclass AND tgname = 'broadcast_booking_change'),
	0, '... and takes the broadcast trigger');

DROP PUBLICATION supabase_realtime;
CREATE PUBLICATION supabase_realtime FOR TABLES IN SCHEMA protector;
SELECT protector.enable_realtime() IS NOT NULL AS enabled \gset
SELECT lives_ok($$SELECT protector.disable_realtime()$$,
	'... and with a publication of the schema');
SELECT is((SELECT count(*)::int FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND tablename = 'bookings'),
	1, '... whose tables stay in it (it takes the schema)');

-- a publication that lists bookings' columns: enable_realtime() keeps the
-- table's replica identity (FULL, which the list does not cover, made
-- PostgreSQL refuse every update of a booking, cancel_booking's too)
DROP PUBLICATION supabase_realtime;
ALTER TABLE protector.bookings REPLICA IDENTITY DEFAULT;
CREATE PUBLICATION supabase_realtime FOR TABLE protector.bookings (id, organization_id, status, during);
SELECT protector.enable_realtime() IS NOT NULL AS enabled \gset
SELECT is((SELECT relreplident::text FROM pg_class WHERE oid = 'protector.bookings'::regclass), 'd',
	'a publication listing the columns of bookings keeps their default replica identity');

-- FULL, set by 0.1.0 or by hand, is set back, with a NOTICE
DROP PUBLICATION supabase_realtime;
CREATE PUBLICATION supabase_realtime;
ALTER TABLE protector.bookings REPLICA IDENTITY FULL;
ALTER TABLE protector.booking_messages REPLICA IDENTITY FULL;
SELECT protector.enable_realtime() IS NOT NULL AS enabled \gset
SELECT is((SELECT array_agg(relname::text || ':' || relreplident::text ORDER BY relname) FROM pg_class
		   WHERE relnamespace = 'protector'::regnamespace AND relname IN ('bookings', 'tasks', 'notifications', 'booking_messages')),
	ARRAY['booking_messages:d', 'bookings:d', 'notifications:d', 'tasks:d'],
	'enable_realtime() sets a FULL replica identity back to DEFAULT: the WAL carries an old row''s primary key alone');
SELECT is((SELECT count(*)::int FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = 'protector'),
	4, '... and the four tables are in the publication');
SELECT is((SELECT count(*)::int FROM pg_class WHERE relnamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
		   AND relkind = 'r' AND relreplident = 'f'),
	0, '... and no table of protector''s has a FULL identity');

SELECT * FROM finish();
ROLLBACK;
