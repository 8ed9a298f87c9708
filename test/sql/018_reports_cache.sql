-- The reports cache (docs/dashboards.md#reports): what it keeps, what it
-- evicts, and when it does not store.  Each statement is its own
-- transaction unless a BEGIN says otherwise: only a transaction that has
-- written nothing stores.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY terse
\set SHOW_CONTEXT never

INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES
	('0d180000-0000-4000-8000-000000000000', 'Cache', 'cache', 'UTC', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0d180000-0000-4000-8000-0000000000a1', '0d180000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party, duration)
VALUES ('0d180000-0000-4000-8000-0000000005a1', '0d180000-0000-4000-8000-000000000000', '0d180000-0000-4000-8000-0000000000a1',
		'Hall', 'shared', 10, 10, '1 hour');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0d180000-0000-4000-8000-0000000000c1', '0d180000-0000-4000-8000-000000000000', 'Cora');
-- Cora's one booking, two days ago
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, currency, total_price)
VALUES ('0d180000-0000-4000-8000-000000000000', '0d180000-0000-4000-8000-0000000000a1', '0d180000-0000-4000-8000-0000000005a1',
		'0d180000-0000-4000-8000-0000000000c1',
		tstzrange(date_trunc('day', now()) - interval '2 days', date_trunc('day', now()) - interval '2 days' + interval '1 hour'),
		'completed', 'EUR', 30);
CREATE FUNCTION pg_temp.entries(p_report text DEFAULT NULL) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM protector_internal.reports_cache
	WHERE organization_id = '0d180000-0000-4000-8000-000000000000' AND (p_report IS NULL OR report = p_report)
$$;

-- The customer report: new and returning are cached; the RFM segments,
-- which move with the clock (a start passing, a day more since the last
-- booking), are computed every call, as get_customer_segments has them.
-- Cora booked in the range and never before: 1 new, 0 returning.
SELECT category, label, customers FROM protector.generate_customer_report('0d180000-0000-4000-8000-000000000000',
	current_date - 7, current_date) WHERE category <> 'segment';
SELECT pg_temp.entries('customers') AS stored,
	   (SELECT rows FROM protector_internal.reports_cache WHERE report = 'customers'
		AND organization_id = '0d180000-0000-4000-8000-000000000000') AS what_is_stored;
SELECT (SELECT array_agg(label || ' ' || customers ORDER BY label) FROM protector.generate_customer_report(
			'0d180000-0000-4000-8000-000000000000', current_date - 7, current_date) WHERE category = 'segment')
	 = (SELECT array_agg(segment || ' ' || customers ORDER BY segment)
		FROM protector.get_customer_segments('0d180000-0000-4000-8000-000000000000')) AS segments_as_of_now;

-- Eviction: when an entry is stored, the organization's entries that can
-- no longer answer go (a change they could not see is logged; computed
-- before today, UTC), and all but the newest 100.
SELECT count(*) AS reports FROM protector.generate_booking_report('0d180000-0000-4000-8000-000000000000',
	current_date - 7, current_date);
SELECT pg_temp.entries() AS entries;							-- customers + bookings
UPDATE protector.customers SET full_name = 'Cora B' WHERE id = '0d180000-0000-4000-8000-0000000000c1';
SELECT count(*) AS reports FROM protector.generate_revenue_report('0d180000-0000-4000-8000-000000000000',
	current_date - 7, current_date);
SELECT report FROM protector_internal.reports_cache
WHERE organization_id = '0d180000-0000-4000-8000-000000000000' ORDER BY report;	-- only revenue: the others missed the change
UPDATE protector_internal.reports_cache SET computed_at = computed_at - interval '1 day'
WHERE organization_id = '0d180000-0000-4000-8000-000000000000';
SELECT count(*) AS reports FROM protector.generate_booking_report('0d180000-0000-4000-8000-000000000000',
	current_date - 8, current_date);
SELECT report FROM protector_internal.reports_cache
WHERE organization_id = '0d180000-0000-4000-8000-000000000000' ORDER BY report;	-- yesterday's revenue entry is gone
-- 105 questions, one transaction each: the newest 100 stay
-- (from current_date - 101 to - 205, in that order; the newest 100 are
-- those from - 106 to - 205, and the entry from - 8 goes too)
\set ECHO none
\o /dev/null
SELECT format('SELECT count(*) FROM protector.generate_booking_report(%L, current_date - %s, current_date)',
			  '0d180000-0000-4000-8000-000000000000', 100 + g)
FROM generate_series(1, 105) g \gexec
\o
\set ECHO all
SELECT count(*) AS entries, min((params ->> 'from')::date) = current_date - 205 AS earliest_from,
	   max((params ->> 'from')::date) = current_date - 106 AS latest_from
FROM protector_internal.reports_cache WHERE organization_id = '0d180000-0000-4000-8000-000000000000';

-- Not stored under a transaction snapshot (storing and pruning there fail
-- with 40001 beside a concurrent store): computed, answered, not kept
DELETE FROM protector_internal.reports_cache;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) AS reports FROM protector.generate_booking_report('0d180000-0000-4000-8000-000000000000',
	current_date - 7, current_date);
COMMIT;
SELECT pg_temp.entries() AS stored_under_repeatable_read;
SELECT protector_internal.prune_report_changes(-1);

-- TRUNCATE of a report table names no rows: it logs every organization,
-- so every cached entry that could not see it stops counting (a DELETE of
-- the cache missed entries committed after a REPEATABLE READ snapshot)
BEGIN;
TRUNCATE protector.tasks;
SELECT count(*) = (SELECT count(*) FROM protector.organizations) AS every_organization_logged
FROM protector_internal.report_changes WHERE xid = pg_current_xact_id();
ROLLBACK;
-- ... and so does a TRUNCATE of the change log itself (by a superuser):
-- the entries stored before it no longer saw any change after them, and a
-- report cached before a booking answered without it (an attack on
-- maintenance).  One booking more than the cached report counted.
SELECT sum(bookings) AS bookings_cached FROM protector.generate_booking_report('0d180000-0000-4000-8000-000000000000',
	current_date - 7, current_date + 7);
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, currency, total_price)
VALUES ('0d180000-0000-4000-8000-000000000000', '0d180000-0000-4000-8000-0000000000a1', '0d180000-0000-4000-8000-0000000005a1',
		'0d180000-0000-4000-8000-0000000000c1',
		tstzrange(date_trunc('day', now()) + interval '2 days', date_trunc('day', now()) + interval '2 days 1 hour'),
		'confirmed', 'EUR', 30);
TRUNCATE protector_internal.report_changes;
SELECT sum(bookings) AS bookings_after_truncate FROM protector.generate_booking_report('0d180000-0000-4000-8000-000000000000',
	current_date - 7, current_date + 7);

-- One entry per question: dates and venue ids are keyed in their canonical
-- text, so '2026-1-1' (or 'today', a date of the caller's session) and
-- '2026-01-01' are one entry, not two that could disagree
SELECT jsonb_array_length(protector_internal.cached_report('0d180000-0000-4000-8000-000000000000', 'bookings',
	'{"from": "2026-1-1", "to": "2026-01-02"}')) AS rows_first;
SELECT jsonb_array_length(protector_internal.cached_report('0d180000-0000-4000-8000-000000000000', 'bookings',
	'{"from": "2026-01-01", "to": "2026-01-02"}')) AS rows_again;
SELECT params FROM protector_internal.reports_cache
WHERE organization_id = '0d180000-0000-4000-8000-000000000000' AND report = 'bookings' AND params ->> 'to' = '2026-01-02';
SELECT protector_internal.cached_report('0d180000-0000-4000-8000-000000000000', 'bookings',
	'{"from": "first of May", "to": "2026-01-02"}');
