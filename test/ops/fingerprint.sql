-- test/ops/fingerprint.sql: one row per table of the extension's schemas
-- and per table audited through enable_audit: row count and an md5 of all
-- rows (as jsonb, less the columns named in the psql variable ignore, a
-- text[] literal) in a fixed order; one row per sequence: its position;
-- one row per foreign key of the extension's tables to a table outside.
-- Two databases hold the same data exactly when their fingerprints are
-- equal.  Caches the extension dumps empty on purpose are left out, and
-- so are the tables it does not dump.
\if :{?ignore}
\else
\set ignore '{}'
\endif
-- (audit_upto: the audit rows up to that id only, and not the audit
-- sequence: for an update, whose corrections of data are audited too)
\if :{?audit_upto}
\else
\set audit_upto ''
\endif
SELECT format('%s %s %s', c.oid::regclass, x.n, x.md5)
FROM pg_class c
CROSS JOIN LATERAL (SELECT * FROM query_to_xml(
	format('SELECT count(*) AS n, md5(coalesce(string_agg(r, E''\n'' ORDER BY r), '''')) AS md5'
		   ' FROM (SELECT (to_jsonb(t) - %L::text[])::text AS r FROM %s t) rows',
		   :'ignore', CASE WHEN c.oid = 'protector.audit_log'::regclass AND :'audit_upto' <> ''
						   THEN format('(SELECT * FROM protector.audit_log WHERE id <= %s)', :'audit_upto')::text
						   ELSE c.oid::regclass::text END), false, false, '')) q(x0)
CROSS JOIN LATERAL (SELECT (xpath('//n/text()', q.x0))[1]::text AS n, (xpath('//md5/text()', q.x0))[1]::text AS md5) x
-- a restore's scratch table; announcements not yet sent (not dumped: a
-- restore announces nothing)
WHERE c.relkind = 'r' AND c.relname NOT IN ('restore_pending', 'outbox')
  -- caches, dumped empty by design (pg_extension_config_dump 'WHERE false')
  AND c.oid <> ALL (SELECT u.cfg FROM pg_extension e, unnest(e.extconfig, e.extcondition) u(cfg, cond)
				   WHERE e.extname = 'protector' AND u.cond = 'WHERE false')
  AND (c.relnamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
	   OR EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'protector_audit'))
UNION ALL
SELECT format('%s last_value=%s is_called=%s', s.seqrelid::regclass,
			  (xpath('//last_value/text()', query_to_xml(format('SELECT last_value FROM %s', s.seqrelid::regclass), false, false, '')))[1],
			  (xpath('//is_called/text()', query_to_xml(format('SELECT is_called FROM %s', s.seqrelid::regclass), false, false, '')))[1])
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
WHERE c.relnamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace, 'public'::regnamespace)
  AND c.relname NOT IN ('restore_pending_id_seq', 'outbox_id_seq')
  AND (s.seqrelid <> 'protector.audit_log_id_seq'::regclass OR :'audit_upto' = '')
UNION ALL
-- keys to tables outside the extension (auth.users), which the extension
-- makes itself: a restore must bring them back too
SELECT format('%s key %s -> %s', c.conrelid::regclass, c.conname, c.confrelid::regclass)
FROM pg_constraint c
WHERE c.contype = 'f' AND c.connamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
  AND (SELECT relnamespace FROM pg_class WHERE oid = c.confrelid) NOT IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
ORDER BY 1;
