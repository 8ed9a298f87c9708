-- The public API as a contract: every function anon or authenticated may
-- execute, with its argument names and defaults, result, volatility and
-- security, and the keys of the booking shape.  A change here is a change
-- of the API: it fails this test until its expected output is updated, and
-- it needs a line in CHANGELOG.md.
SET client_min_messages = warning;
\pset format unaligned
\pset footer off

SELECT p.proname AS function,
	   pg_get_function_arguments(p.oid) AS arguments,
	   pg_get_function_result(p.oid) AS result,
	   CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END AS volatility,
	   CASE WHEN p.prosecdef THEN 'definer' ELSE 'invoker' END AS security,
	   concat_ws(',', CASE WHEN has_function_privilege('anon', p.oid, 'EXECUTE') THEN 'anon' END,
				 CASE WHEN has_function_privilege('authenticated', p.oid, 'EXECUTE') THEN 'authenticated' END) AS callers
FROM pg_proc p
WHERE p.pronamespace = 'protector'::regnamespace
  AND (has_function_privilege('anon', p.oid, 'EXECUTE') OR has_function_privilege('authenticated', p.oid, 'EXECUTE'))
ORDER BY 1, 2;

-- the booking shape every booking RPC answers with, and the widget's part
BEGIN;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0c120000-0000-4000-8000-000000000000', 'Contract', 'contract');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0c120000-0000-4000-8000-0000000000a1', '0c120000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0c120000-0000-4000-8000-0000000005a1', '0c120000-0000-4000-8000-000000000000', '0c120000-0000-4000-8000-0000000000a1',
		'S', '60 minutes', '60 minutes', '30 days');
SELECT string_agg(k, ' ' ORDER BY k) AS booking_shape
FROM jsonb_object_keys(protector.create_booking('0c120000-0000-4000-8000-0000000005a1', NULL,
	date_trunc('day', now()) + interval '2 days 10 hours')) k;
SELECT string_agg(k, ' ' ORDER BY k) AS widget_answer
FROM protector.venues v,
	 jsonb_object_keys(protector.create_widget_booking(v.embed_key, '0c120000-0000-4000-8000-0000000005a1', 'Vic',
		'vic@example.com', NULL, date_trunc('day', now()) + interval '2 days 12 hours')) k
WHERE v.id = '0c120000-0000-4000-8000-0000000000a1';
ROLLBACK;
