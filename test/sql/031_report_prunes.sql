-- The scheduled sweep (expire_holds) prunes the report change logs of at
-- most 100 organizations each time (prune_report_changes, sql/89_reports.sql).
-- It took them in no order, which came out the same every sweep: past 100
-- organizations changing between two sweeps, the logs of the others were
-- never pruned and grew by a row per transaction for good (an attack on
-- growth).  Those never pruned come first now, then the longest waiting.
-- Here 150 organizations each change once between sweeps of 100, four
-- times; afterwards no log holds more than the last round's change (in
-- no order, the same 50 organizations kept every row).
-- (Each statement is a transaction of its own: a change is pruned once
-- every running snapshot sees it.)
SET client_min_messages = warning;
INSERT INTO protector.organizations (id, name, slug)
SELECT ('0c031000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'O' || i, 'report-prunes-' || i
FROM generate_series(1, 150) i;
CREATE FUNCTION pg_temp.round() RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector_internal.report_changes (organization_id)
	SELECT o.id FROM protector.organizations o WHERE o.slug LIKE 'report-prunes-%'
$$;
SELECT pg_temp.round();
SELECT protector_internal.prune_report_changes(100) AS pruned;
SELECT pg_temp.round();
SELECT protector_internal.prune_report_changes(100) AS pruned;
SELECT pg_temp.round();
SELECT protector_internal.prune_report_changes(100) AS pruned;
SELECT pg_temp.round();
SELECT protector_internal.prune_report_changes(100) AS pruned;
-- each organization's log: empty (pruned in the last sweep: the 50 never
-- pruned before it or longest waiting, and the 50 longest waiting of
-- those pruned together, by id) or the last round's row
SELECT n AS rows_kept, count(*) AS organizations
FROM (SELECT o.id, count(x.xid) AS n FROM protector.organizations o
	  LEFT JOIN protector_internal.report_changes x ON x.organization_id = o.id
	  WHERE o.slug LIKE 'report-prunes-%' GROUP BY o.id) s
GROUP BY n ORDER BY n;
-- every one was pruned at least once
SELECT count(*) AS never_pruned FROM protector.organizations o
WHERE o.slug LIKE 'report-prunes-%'
  AND NOT EXISTS (SELECT FROM protector_internal.report_prunes p WHERE p.organization_id = o.id);
-- a stream of new organizations (100 made between each two sweeps, each
-- logging its creation): put first as never pruned, they took every slot
-- and the 150 were never pruned again (a review); they wait in turn now,
-- from when they were made
CREATE FUNCTION pg_temp.newcomers(r integer) RETURNS void LANGUAGE sql AS $$
	INSERT INTO protector.organizations (name, slug)
	SELECT 'N', 'report-prunes-new-' || r || '-' || i FROM generate_series(1, 100) i
$$;
SELECT pg_temp.newcomers(1);
SELECT pg_temp.round();
SELECT protector_internal.prune_report_changes(100) AS pruned;
SELECT pg_temp.newcomers(2);
SELECT pg_temp.round();
SELECT protector_internal.prune_report_changes(100) AS pruned;
SELECT pg_temp.newcomers(3);
SELECT pg_temp.round();
SELECT protector_internal.prune_report_changes(100) AS pruned;
-- the 150's logs stay short (the newcomers wait their turn)
SELECT max(n) AS most_rows_kept_of_the_150
FROM (SELECT o.id, count(x.xid) AS n FROM protector.organizations o
	  LEFT JOIN protector_internal.report_changes x ON x.organization_id = o.id
	  WHERE o.slug ~ '^report-prunes-[0-9]' GROUP BY o.id) s;
DELETE FROM protector.organizations WHERE slug LIKE 'report-prunes-%';
