-- A partial index's predicate, compiled once per backend and shared by the
-- statements that insert into protector's tables (src/compiled_table.c):
-- every index holds exactly the rows its predicate admits, whichever
-- statement wrote them and whatever was compiled before, and an INSERT ...
-- ON CONFLICT still finds its arbiter index (the hook opens a plain
-- INSERT's indexes before its first row, as ExecInsert would).
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- (loads the library, whose ExecutorStart hook then sees every statement)
SELECT protector_internal.booking_is_long('[2030-08-01 10:00, 2030-08-01 11:00)') AS loaded;

INSERT INTO protector.organizations (id, name, slug) VALUES
	('27000000-0000-4000-8000-000000000000', 'Predicates', 'predicates');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('27000000-0000-4000-8000-0000000000a1', '27000000-0000-4000-8000-000000000000', 'Hall', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration)
SELECT ('27000000-0000-4000-8000-00000000e00' || n)::uuid, '27000000-0000-4000-8000-000000000000',
	   '27000000-0000-4000-8000-0000000000a1', 'Room ' || n, '60 minutes'
FROM generate_series(1, 6) n;

-- one statement per row, each shape twice: the first statement of each
-- compiles the predicates, the later ones use them
CREATE FUNCTION pg_temp.book(p_service int, p_day int, p_hours int, p_status text, p_source text, p_key text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status,
									hold_expires_at, source, idempotency_key)
	VALUES ('27000000-0000-4000-8000-000000000000', '27000000-0000-4000-8000-0000000000a1',
			('27000000-0000-4000-8000-00000000e00' || p_service)::uuid,
			tstzrange('2030-08-01 10:00'::timestamptz + p_day * interval '1 day',
					  '2030-08-01 10:00'::timestamptz + p_day * interval '1 day' + p_hours * interval '1 hour'),
			p_status::protector.booking_status,
			CASE WHEN p_status = 'held' THEN '2030-07-01 00:00'::timestamptz END,
			p_source::protector.booking_source, p_key);
END $$;
SELECT pg_temp.book(1, 0, 1, 'pending', 'dashboard', NULL);
SELECT pg_temp.book(1, 1, 1, 'held', 'dashboard', NULL);
SELECT pg_temp.book(2, 0, 3, 'confirmed', 'widget', 'key-1');
SELECT pg_temp.book(2, 1, 1, 'held', 'widget', NULL);
SELECT pg_temp.book(3, 0, 1, 'confirmed', 'dashboard', 'key-2');
SELECT pg_temp.book(3, 1, 4, 'pending', 'dashboard', NULL);
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, source)
VALUES ('27000000-0000-4000-8000-000000000000', '27000000-0000-4000-8000-0000000000a1',
		'27000000-0000-4000-8000-00000000e004', '[2030-08-01 10:00, 2030-08-01 11:00)', 'widget');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, hold_expires_at)
VALUES ('27000000-0000-4000-8000-000000000000', '27000000-0000-4000-8000-0000000000a1',
		'27000000-0000-4000-8000-00000000e004', '[2030-08-02 10:00, 2030-08-02 13:00)', 'held', '2030-07-01');

-- the partial unique index still refuses a second key-1 ...
SELECT pg_temp.book(4, 5, 1, 'pending', 'dashboard', 'key-1');
\echo :LAST_ERROR_SQLSTATE
-- ... and an INSERT ... ON CONFLICT finds it as its arbiter
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, idempotency_key)
VALUES ('27000000-0000-4000-8000-000000000000', '27000000-0000-4000-8000-0000000000a1',
		'27000000-0000-4000-8000-00000000e005', '[2030-08-01 10:00, 2030-08-01 11:00)', 'key-2')
ON CONFLICT (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, idempotency_key)
VALUES ('27000000-0000-4000-8000-000000000000', '27000000-0000-4000-8000-0000000000a1',
		'27000000-0000-4000-8000-00000000e005', '[2030-08-01 10:00, 2030-08-01 11:00)', 'key-3')
ON CONFLICT (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING idempotency_key;

-- The predicates reach an INSERT at its first row, where PostgreSQL opens
-- the indexes (protector's BEFORE ROW trigger on bookings hands them over):
-- before it, the statement holds none of them. So DDL on one of them run
-- by the statement's own values is not refused as "in use" ...
CREATE FUNCTION pg_temp.reindexed_key() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	REINDEX INDEX protector.bookings_expiring_holds_idx;
	RETURN 'key-4';
END $$;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, idempotency_key)
VALUES ('27000000-0000-4000-8000-000000000000', '27000000-0000-4000-8000-0000000000a1',
		'27000000-0000-4000-8000-00000000e006', '[2030-08-01 10:00, 2030-08-01 11:00)', pg_temp.reindexed_key())
RETURNING idempotency_key;
-- ... and an INSERT of no row locks no index
BEGIN;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
SELECT '27000000-0000-4000-8000-000000000000', '27000000-0000-4000-8000-0000000000a1',
	   '27000000-0000-4000-8000-00000000e006', '[2030-08-09 10:00, 2030-08-09 11:00)'
WHERE false;
SELECT count(*) AS index_locks FROM pg_locks l JOIN pg_index i ON i.indexrelid = l.relation
WHERE l.pid = pg_backend_pid() AND i.indrelid = 'protector.bookings'::regclass;
ROLLBACK;

-- A predicate calling a SQL function holds that function's body inlined
-- as of the index's last relcache build: replacing the function is the
-- user's mistake, and the index keeps the old body until its entry is
-- built again (here by ALTER INDEX). The shared compilation follows the
-- relcache as each statement's own would: 'aaaaaa' and 'cccccc' are in the
-- index (six characters, more than five), 'bbbbbb' is not (not more than
-- fifty).
CREATE FUNCTION public.long_key(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT length($1) > 5';
CREATE INDEX bookings_long_key_idx ON protector.bookings (organization_id, idempotency_key)
	WHERE public.long_key(idempotency_key);
CREATE FUNCTION pg_temp.book_key(p_day int, p_key text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, idempotency_key)
	VALUES ('27000000-0000-4000-8000-000000000000', '27000000-0000-4000-8000-0000000000a1',
			'27000000-0000-4000-8000-00000000e006',
			tstzrange('2030-08-10 10:00'::timestamptz + p_day * interval '1 day',
					  '2030-08-10 11:00'::timestamptz + p_day * interval '1 day'), p_key)
$$;
SELECT pg_temp.book_key(0, 'aaaaaa');
CREATE OR REPLACE FUNCTION public.long_key(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT length($1) > 50';
SELECT pg_temp.book_key(1, 'cccccc');
ALTER INDEX protector.bookings_long_key_idx SET (fillfactor = 90);
SELECT pg_temp.book_key(2, 'bbbbbb');
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT idempotency_key AS in_long_key_idx FROM protector.bookings
WHERE public.long_key(idempotency_key) AND organization_id = '27000000-0000-4000-8000-000000000000' ORDER BY 1;
EXPLAIN (COSTS OFF) SELECT idempotency_key FROM protector.bookings
WHERE public.long_key(idempotency_key) AND organization_id = '27000000-0000-4000-8000-000000000000' ORDER BY 1;
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP INDEX protector.bookings_long_key_idx;
DROP FUNCTION public.long_key(text);

-- thirteen bookings: the ten inserted pending or confirmed have a review
-- task and a desk notification, the widget hold a desk notification only,
-- the other two holds nothing (docs/workflow.md): 10 tasks, 11
-- notifications; 3 holds, 7 keys (key-1 to key-4, aaaaaa, bbbbbb, cccccc),
-- 3 from the widget, 3 longer than two hours (3, 4 and 3 hours)
SELECT count(*) AS bookings,
	   count(*) FILTER (WHERE status = 'held') AS holds,
	   count(*) FILTER (WHERE idempotency_key IS NOT NULL) AS keys,
	   count(*) FILTER (WHERE source = 'widget') AS widget,
	   count(*) FILTER (WHERE protector_internal.booking_is_long(during)) AS long,
	   (SELECT count(*) FROM protector.tasks t WHERE t.organization_id = b.organization_id) AS tasks,
	   (SELECT count(*) FROM protector.notifications n WHERE n.organization_id = b.organization_id) AS notifications
FROM protector.bookings b
WHERE organization_id = '27000000-0000-4000-8000-000000000000'
GROUP BY organization_id;

-- each partial index, read alone (an index-only scan counts its entries,
-- never rechecking the predicate), against the rows its predicate admits
-- (of every organization: the earlier tests' rows too)
SET enable_seqscan = off;
SET enable_bitmapscan = off;
CREATE FUNCTION pg_temp.entries(p_query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	plan text;
	n bigint;
BEGIN
	EXECUTE 'EXPLAIN (COSTS OFF) ' || p_query INTO plan;	-- its first line names the index
	EXECUTE 'SELECT count(*) FROM (' || p_query || ') q' INTO n;
	RETURN n || ' via ' || regexp_replace(plan, '^.*using (\S+) on .*$', '\1');
END $$;
CREATE FUNCTION pg_temp.admitted(p_table text, p_predicate text) RETURNS bigint LANGUAGE plpgsql
SET enable_seqscan = on SET enable_indexscan = off SET enable_indexonlyscan = off AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM %s WHERE %s', p_table, p_predicate) INTO n;
	RETURN n;
END $$;
SELECT i.indexrelid::regclass AS partial_index,
	   split_part(e.entries, ' via ', 2) AS read_via,
	   split_part(e.entries, ' via ', 1)::bigint
		   = pg_temp.admitted(i.indrelid::regclass::text, pg_get_expr(i.indpred, i.indrelid)) AS entries_are_rows_admitted
FROM pg_index i,
	 LATERAL pg_temp.entries(format('SELECT 1 FROM %s WHERE %s', i.indrelid::regclass,
									pg_get_expr(i.indpred, i.indrelid))) e(entries)
WHERE i.indrelid IN ('protector.bookings'::regclass, 'protector.tasks'::regclass,
					 'protector.notifications'::regclass)
  AND i.indpred IS NOT NULL
  AND i.indexrelid <> 'protector.bookings_long_during_idx'::regclass
ORDER BY i.indexrelid::regclass::text;
-- the GiST index of long bookings (no index-only scan: its entries, read
-- through a condition every booking meets)
SELECT count(*) = pg_temp.admitted('protector.bookings', 'protector_internal.booking_is_long(during)')
		   AS long_entries_are_rows_admitted
FROM protector.bookings
WHERE protector_internal.booking_is_long(during) AND during && tstzrange(NULL, NULL);
EXPLAIN (COSTS OFF) SELECT count(*) FROM protector.bookings
WHERE protector_internal.booking_is_long(during) AND during && tstzrange(NULL, NULL);
RESET enable_seqscan;
RESET enable_bitmapscan;

-- and no entry is missing from any index of the three tables
CREATE EXTENSION amcheck;
SELECT count(*) AS btree_indexes_checked
FROM (SELECT bt_index_check(i.indexrelid, true)
	  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
	  WHERE i.indrelid IN ('protector.bookings'::regclass, 'protector.tasks'::regclass,
						   'protector.notifications'::regclass)
		AND a.amname = 'btree') checked;
DROP EXTENSION amcheck;
