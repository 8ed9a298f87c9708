-- What Supabase's database advisors (splinter) check, held for protector's
-- own objects: every view runs as its caller (0010 security_definer_view;
-- customer_references ran as its owner), and btree_gist may live in the
-- schema extensions (0014 extension_in_public), where Supabase keeps
-- extensions and README.md says to put it: bookings, the no-overlap rule
-- and availability then work for callers whose search_path lacks it.
BEGIN;
SELECT plan(6);
SET LOCAL TimeZone = 'UTC';

SELECT is((SELECT coalesce(array_agg(c.oid::regclass::text ORDER BY c.oid::regclass::text), '{}')
		   FROM pg_class c
		   WHERE c.relkind IN ('v', 'm')
			 AND c.relnamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
			 AND NOT coalesce(c.reloptions @> '{security_invoker=on}'
							  OR c.reloptions @> '{security_invoker=true}', false)),
	'{}'::text[], 'every view of protector''s runs as its caller (security_invoker)');

-- the rest of this file's transaction (rolled back at its end, pgTAP's
-- record of the tests with it) runs on the extension made anew
SET LOCAL client_min_messages = warning;
DROP EXTENSION protector CASCADE;
DROP EXTENSION btree_gist;
CREATE SCHEMA extensions;
CREATE EXTENSION btree_gist SCHEMA extensions;
CREATE EXTENSION protector;
RESET client_min_messages;

SELECT is((SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'btree_gist'), 'extensions',
	'protector installs beside btree_gist in the schema extensions');

SELECT tests.create_supabase_user('owner430');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a430000-0000-4000-8000-000000000000', 'E', 'extensions-schema');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a430000-0000-4000-8000-000000000000', tests.get_supabase_uid('owner430'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a430000-0000-4000-8000-0000000000a1', '0a430000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0a430000-0000-4000-8000-0000000000b1', '0a430000-0000-4000-8000-000000000000', '0a430000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days');

SELECT tests.authenticate_as('owner430');
SET LOCAL search_path = public;
SELECT lives_ok($$SELECT protector.create_booking('0a430000-0000-4000-8000-0000000000b1', NULL,
												 date_trunc('day', now()) + interval '3 days 10 hours')$$,
	'a signed-in owner books where the search_path holds neither protector nor extensions');
SELECT throws_ok($$SELECT protector.create_booking('0a430000-0000-4000-8000-0000000000b1', NULL,
												  date_trunc('day', now()) + interval '3 days 10 hours')$$,
	'23P01', NULL, '... and a second booking of its hour is refused');
SELECT is((SELECT count(*)::int FROM protector.get_available_slots('0a430000-0000-4000-8000-0000000000b1',
																   (now() + interval '3 days')::date)
		   WHERE slot_start = date_trunc('day', now()) + interval '3 days 10 hours'),
	0, '... and availability no longer offers its hour');
SELECT is((SELECT count(*)::int FROM protector.tasks t JOIN protector.bookings b ON b.id = t.booking_id
		   WHERE b.organization_id = '0a430000-0000-4000-8000-000000000000'),
	1, '... and its side rows are written');
SELECT tests.clear_authentication();
RESET search_path;

SELECT * FROM finish();
ROLLBACK;
