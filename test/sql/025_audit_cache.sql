-- The audit trigger's per-backend cache keeps one entry per audited table
-- and trigger (src/audit.c).  An entry whose table was dropped, or whose
-- trigger enable_audit replaced, goes at the end of the transaction: a
-- long-lived pooled connection that ran migrations kept 4-8 kB for every
-- such table for its whole life.
SET client_min_messages = warning;
CREATE TABLE public.cache_probe (id int PRIMARY KEY, v text);
SELECT protector.enable_audit('public.cache_probe') IS NOT NULL AS audited;
INSERT INTO public.cache_probe VALUES (0, 'kept');
SELECT count(*) AS entries_before FROM pg_backend_memory_contexts WHERE name = 'protector audited table' \gset

-- twenty tables made, audited, written and dropped; one table audited
-- again twenty times with other masks
DO $$
BEGIN
	FOR i IN 1..20 LOOP
		EXECUTE format('CREATE TABLE public.cache_t%s (id int PRIMARY KEY, v text)', i);
		PERFORM protector.enable_audit(format('public.cache_t%s', i)::regclass);
		EXECUTE format('INSERT INTO public.cache_t%s VALUES (1, %L)', i, 'x');
		EXECUTE format('DROP TABLE public.cache_t%s', i);
		PERFORM protector.enable_audit('public.cache_probe', CASE WHEN i % 2 = 0 THEN '{v}' ELSE '{}' END::text[]);
		EXECUTE format('INSERT INTO public.cache_probe VALUES (%s, %L)', i, 'y');
	END LOOP;
END $$;

-- the audit goes on as set last (i = 20: v masked), and the cache holds
-- what it held before: the probe's entry, built again
INSERT INTO public.cache_probe VALUES (21, 'secret');
SELECT new_row ->> 'v' AS logged_v FROM protector.audit_log
WHERE table_name = 'public.cache_probe' ORDER BY id DESC LIMIT 1;
SELECT count(*) AS probe_rows_logged FROM protector.audit_log WHERE table_name = 'public.cache_probe';
SELECT count(*) - :entries_before AS entries_after FROM pg_backend_memory_contexts WHERE name = 'protector audited table';

SELECT protector.disable_audit('public.cache_probe') IS NOT NULL AS unaudited;
DROP TABLE public.cache_probe;
