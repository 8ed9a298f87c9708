\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/00_roles.sql: what the install checks before it changes anything,
-- and the Supabase roles protector grants to.

-- The script's names resolve in pg_catalog and protector only.  CREATE
-- EXTENSION sets search_path to protector and btree_gist's schema, which
-- may be one a non-superuser creates in (public is the database owner's,
-- and a schema named after the installing superuser is whoever made it):
-- a function there that matches an unqualified call's argument types
-- better than pg_catalog's (format(text, regclass) beside format(text,
-- VARIADIC "any")) would run as the installing superuser, and a CHECK or
-- index expression would stay bound to it.  Set at the script's own GUC
-- level: PostgreSQL restores the caller's search_path when it ends.
SELECT pg_catalog.set_config('search_path', 'protector, pg_temp', true) IS NOT NULL AS search_path_pinned;

-- protector stores and compares names in Unicode (ICU folding, names,
-- e-mail addresses): a database of another encoding is refused here,
-- before anything is created, rather than half-way through.
DO $encoding$
BEGIN
	IF pg_catalog.getdatabaseencoding() OPERATOR(pg_catalog.<>) 'UTF8' THEN
		RAISE EXCEPTION 'protector needs a UTF8 database'
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = pg_catalog.format('Database %I is encoded in %s.', pg_catalog.current_database(),
											 pg_catalog.getdatabaseencoding()),
				  HINT = 'Create a database with ENCODING ''UTF8'' (createdb -E UTF8 -T template0) and install protector there.';
	END IF;
END
$encoding$;

-- The schema protector must be a superuser's and empty when the extension
-- moves in.  PostgreSQL installs into a schema of that name that already
-- exists; were it another role's, that role could rename it and put its
-- own objects under the names protector's SECURITY DEFINER functions
-- call (schema-qualified names do not help when the schema is theirs).
-- Nor may any other role create objects in it.
DO $schema$
DECLARE
	v_owner name;
	v_super boolean;
	v_creator name;
BEGIN
	SELECT r.rolname, r.rolsuper INTO v_owner, v_super
	FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
	WHERE n.nspname OPERATOR(pg_catalog.=) 'protector';
	IF NOT v_super THEN
		RAISE EXCEPTION 'schema protector belongs to role %, which is not a superuser', v_owner
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Whoever owns the schema could put their own objects under the names protector''s privileged functions call.',
				  HINT = 'Drop the schema (protector creates it), or have a superuser take it over: ALTER SCHEMA protector OWNER TO a superuser.';
	END IF;
	SELECT r.rolname INTO v_creator
	FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
	LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
	WHERE n.nspname OPERATOR(pg_catalog.=) 'protector' AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
	  AND NOT COALESCE(r.rolsuper, false)
	LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'role % may create objects in schema protector', COALESCE(v_creator, 'PUBLIC')
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'REVOKE CREATE ON SCHEMA protector FROM that role first.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) 'protector'::regnamespace)
	   OR EXISTS (SELECT FROM pg_catalog.pg_proc f WHERE f.pronamespace OPERATOR(pg_catalog.=) 'protector'::regnamespace)
	   OR EXISTS (SELECT FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) 'protector'::regnamespace)
	   OR EXISTS (SELECT FROM pg_catalog.pg_operator o WHERE o.oprnamespace OPERATOR(pg_catalog.=) 'protector'::regnamespace) THEN
		RAISE EXCEPTION 'schema protector is not empty'
			USING ERRCODE = 'object_in_use',
				  HINT = 'protector installs into a schema of its own: move what is there elsewhere, or drop the schema.';
	END IF;
END
$schema$;

-- The Supabase roles.  On Supabase (or any database that already has
-- them) they are used unchanged.  On a vanilla PostgreSQL they are created
-- with the attributes Supabase gives them, so the same grants and policies
-- apply.  Roles are cluster-wide objects: DROP EXTENSION leaves them in
-- place.
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
		CREATE ROLE anon NOLOGIN NOINHERIT;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
		CREATE ROLE authenticated NOLOGIN NOINHERIT;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
		CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
	END IF;
END
$roles$;

COMMENT ON SCHEMA protector IS 'protector: race-free booking backend (tables, RLS policies and RPC functions)';

GRANT USAGE ON SCHEMA protector TO anon, authenticated, service_role;
