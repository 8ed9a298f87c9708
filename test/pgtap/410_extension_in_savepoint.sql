-- The extension dropped and made again inside a savepoint that is then
-- rolled back (a superuser's doing, as a live-sessions review found it):
-- the report-change log's record of what this backend logged was reset
-- for the new table, and back on the old one it answered "not logged" for
-- an organization logged before the savepoint: the next booking ended on
-- a bare duplicate key of report_changes_pkey.
BEGIN;
SELECT plan(2);

INSERT INTO protector.organizations (id, name, slug) VALUES ('0a410000-0000-4000-8000-000000000000', 'S', 'savepoint-extension');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a410000-0000-4000-8000-0000000000a1', '0a410000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0a410000-0000-4000-8000-0000000005a1', '0a410000-0000-4000-8000-000000000000', '0a410000-0000-4000-8000-0000000000a1',
		'Hall', '60 minutes', '60 minutes', '400 days', 100, 'shared');
CREATE FUNCTION pg_temp.book(h int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
	VALUES ('0a410000-0000-4000-8000-000000000000', '0a410000-0000-4000-8000-0000000000a1', '0a410000-0000-4000-8000-0000000005a1',
			tstzrange(date_trunc('day', now()) + interval '3 days' + h * interval '1 hour',
					  date_trunc('day', now()) + interval '3 days' + (h + 1) * interval '1 hour'), 'confirmed')
$$;
SELECT pg_temp.book(9);
SAVEPOINT s;
SET LOCAL client_min_messages = warning;
DROP EXTENSION protector CASCADE;
CREATE EXTENSION protector;
INSERT INTO protector.organizations (name, slug) VALUES ('x', 'x-in-savepoint');
ROLLBACK TO s;
SELECT lives_ok($$SELECT pg_temp.book(10)$$,
	'a booking after the savepoint is rolled back is logged (it ended on report_changes_pkey)');
SELECT is((SELECT count(*)::int FROM protector_internal.report_changes
		   WHERE organization_id = '0a410000-0000-4000-8000-000000000000' AND xid = pg_current_xact_id()), 1,
	'... once for the organization in this transaction');

SELECT * FROM finish();
ROLLBACK;
