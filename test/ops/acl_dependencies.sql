-- test/ops/acl_dependencies.sql — roles named in the ACLs of protector's
-- functions, relations, columns, schemas and types against their pg_shdepend records
-- (what GRANT keeps: each grantee and grantor once, not the owner nor a
-- role initdb made): the number of records missing, extra or twice.
WITH ext AS (
	SELECT d.classid, d.objid FROM pg_depend d
	WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'protector')
	  AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_namespace'::regclass, 'pg_type'::regclass)),
acls AS (
	SELECT e.classid, e.objid, 0 AS objsubid, f.proowner AS owner, f.proacl AS acl
	FROM ext e JOIN pg_proc f ON e.classid = 'pg_proc'::regclass AND f.oid = e.objid
	UNION ALL
	SELECT e.classid, e.objid, 0, c.relowner, c.relacl
	FROM ext e JOIN pg_class c ON e.classid = 'pg_class'::regclass AND c.oid = e.objid
	UNION ALL
	SELECT e.classid, e.objid, 0, n.nspowner, n.nspacl
	FROM ext e JOIN pg_namespace n ON e.classid = 'pg_namespace'::regclass AND n.oid = e.objid
	UNION ALL
	SELECT e.classid, e.objid, 0, t.typowner, t.typacl
	FROM ext e JOIN pg_type t ON e.classid = 'pg_type'::regclass AND t.oid = e.objid
	UNION ALL
	SELECT e.classid, e.objid, a.attnum, c.relowner, a.attacl
	FROM ext e JOIN pg_class c ON e.classid = 'pg_class'::regclass AND c.oid = e.objid
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL),
expected AS (
	SELECT DISTINCT x.classid, x.objid, x.objsubid, m.role
	FROM acls x, aclexplode(x.acl) i, LATERAL (VALUES (i.grantee), (i.grantor)) m(role)
	WHERE m.role <> 0 AND m.role >= 12000 AND m.role <> x.owner),
recorded AS (
	SELECT s.classid, s.objid, s.objsubid, s.refobjid AS role
	FROM pg_shdepend s JOIN (SELECT DISTINCT classid, objid FROM acls) x ON x.classid = s.classid AND x.objid = s.objid
	WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.deptype = 'a')
SELECT (SELECT count(*) FROM (SELECT * FROM expected EXCEPT SELECT * FROM recorded) m) AS missing,
	   (SELECT count(*) FROM (SELECT * FROM recorded EXCEPT SELECT * FROM expected) x) AS extra,
	   (SELECT count(*) - count(DISTINCT (classid, objid, objsubid, role)) FROM recorded) AS twice;
