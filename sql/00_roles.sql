\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/00_roles.sql: the Supabase roles protector grants to.
--
-- On Supabase (or any database that already has them) the roles are used
-- unchanged.  On a vanilla PostgreSQL they are created with the attributes
-- Supabase gives them, so the same grants and policies apply.  Roles are
-- cluster-wide objects: DROP EXTENSION leaves them in place.

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
