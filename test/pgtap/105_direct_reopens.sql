-- Tables protector writes directly (audit_log here) are opened once per
-- transaction and closed by any DDL, then opened again on the next write
-- (src/direct_insert.c).  Each reopen kept about 3 kB in
-- TopTransactionContext until the transaction ended: a migration that
-- interleaves DDL and audited writes grew without bound (a review of the
-- C error paths: 5,000 of each, 16.8 MB).  Each table lives in a memory
-- context of its own now, deleted with it.
BEGIN;
SELECT plan(2);

INSERT INTO protector.organizations (id, name, slug) VALUES ('0a105000-0000-4000-8000-000000000000', 'Reopens', 'direct-reopens');
CREATE TABLE public.reopened (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), organization_id uuid, note text);
SELECT protector.enable_audit('public.reopened') \g /dev/null

CREATE FUNCTION pg_temp.top_bytes() RETURNS bigint LANGUAGE sql AS $$
	SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts
	WHERE name = 'TopTransactionContext' OR parent = 'TopTransactionContext'
$$;
CREATE FUNCTION pg_temp.grow(p_ddl boolean) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_before bigint := pg_temp.top_bytes();
BEGIN
	FOR i IN 1..1000 LOOP
		IF p_ddl THEN
			EXECUTE format('COMMENT ON TABLE public.reopened IS %L', 'version ' || i);
		END IF;
		INSERT INTO public.reopened (organization_id, note) VALUES ('0a105000-0000-4000-8000-000000000000', 'row');
	END LOOP;
	RETURN pg_temp.top_bytes() - v_before;
END
$$;

-- (1,000 writes alone keep a few kB; 1,000 DDL statements alone about
-- 100 kB of PostgreSQL's own; interleaved, each write reopened the log:
-- about 3.4 MB more before)
SELECT cmp_ok(pg_temp.grow(false), '<', 256 * 1024::bigint, '1,000 audited writes keep little of the transaction''s memory');
SELECT cmp_ok(pg_temp.grow(true), '<', 1024 * 1024::bigint,
	'... and 1,000 writes each after a DDL statement (each reopening the audit log) less than 1 MB');

SELECT * FROM finish();
ROLLBACK;
