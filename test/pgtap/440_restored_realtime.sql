-- A restored realtime_state row that could not apply itself (another
-- session held protector's published tables) is applied at a later
-- load's end (insert_restored_pending).  The end of a published table's
-- own load cannot: its COPY keeps the table open, and ALTER TABLE refused
-- (55006), which ended that load, bookings and all.  Since the tables keep
-- their default replica identity (realtime.md), nothing alters the table
-- there, and the end of its own load applies the publication.  The loads here are
-- top-level INSERTs with row_security off, as pg_dump --inserts writes
-- them (a restore is recognized by its statement).
BEGIN;
SELECT plan(4);

SELECT protector.disable_realtime() IS NOT NULL AS realtime_off;
SELECT is((SELECT count(*)::int FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = 'protector'),
	0, 'Realtime off');
-- the state restored while the tables were held: kept, not applied
INSERT INTO protector_internal.realtime_state VALUES (true);
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a440000-0000-4000-8000-000000000000', 'R', 'restored-realtime');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a440000-0000-4000-8000-0000000000a1', '0a440000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0a440000-0000-4000-8000-0000000000b1', '0a440000-0000-4000-8000-000000000000', '0a440000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days');

SET LOCAL row_security = off;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('0a440000-0000-4000-8000-0000000000c1', '0a440000-0000-4000-8000-000000000000',
		'0a440000-0000-4000-8000-0000000000a1', '0a440000-0000-4000-8000-0000000000b1',
		tstzrange(date_trunc('day', now()) + interval '2 days', date_trunc('day', now()) + interval '2 days 1 hour'), 'confirmed');
SELECT ok(EXISTS (SELECT FROM protector.bookings WHERE id = '0a440000-0000-4000-8000-0000000000c1'),
	'a booking loaded while Realtime waits is kept (its load ended on 55006)');
SELECT is((SELECT count(*)::int FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = 'protector'),
	4, '... and its own load''s end puts protector back into Realtime (no ALTER TABLE of the open table: the identity stays DEFAULT)');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a440000-0000-4000-8000-0000000000a2', '0a440000-0000-4000-8000-000000000000', 'V2', 'UTC');
SELECT is((SELECT count(*)::int FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = 'protector'),
	4, 'the next load''s end keeps it there');
RESET row_security;

SELECT * FROM finish();
ROLLBACK;
