-- disable_realtime() with a Realtime publication that takes protector's
-- tables FOR ALL TABLES or with their schema (an attack review of live
-- updates): enable_realtime() accepted it, and disable_realtime() failed
-- bare ("publication is defined as FOR ALL TABLES", "relation is not part
-- of the publication"), rolled back whole, and kept the trigger and
-- policies that keep DROP EXTENSION from going through.  The tables stay
-- in such a publication (a NOTICE says so); the rest is undone.  And
-- enable_realtime() leaves the replica identity of a table a publication
-- lists the columns of.
BEGIN;
SELECT plan(5);

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

SELECT * FROM finish();
ROLLBACK;
