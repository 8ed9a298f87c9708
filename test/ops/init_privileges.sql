-- test/ops/init_privileges.sql — the initial privileges (pg_init_privs)
-- of protector's objects, by identity: what pg_dump takes an extension
-- object's grants relative to.  test/ops/upgrade.sh compares them after
-- ALTER EXTENSION UPDATE with a fresh install's.
SELECT i.type || ' ' || i.identity || CASE WHEN p.objsubid <> 0 THEN ' col ' || p.objsubid ELSE '' END
	   || ' = ' || COALESCE((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(p.initprivs) x), '')
FROM pg_init_privs p, pg_identify_object(p.classoid, p.objoid, 0) i
WHERE p.privtype = 'e'
  AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = p.classoid AND d.objid = p.objoid AND d.deptype = 'e'
			  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'protector'))
ORDER BY 1;
