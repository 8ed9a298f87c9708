-- Installing on a vanilla PostgreSQL: the Supabase roles are created with
-- Supabase's attributes and every table is under forced RLS.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- a schema named protector made beforehand by another role is refused:
-- its owner could rename it and put their own objects where protector's
-- privileged functions look (a role given CREATE in it, or objects already
-- in it, likewise)
CREATE ROLE regress_squatter;
CREATE SCHEMA protector AUTHORIZATION regress_squatter;
CREATE EXTENSION protector CASCADE;
ALTER SCHEMA protector OWNER TO CURRENT_USER;
GRANT CREATE ON SCHEMA protector TO regress_squatter;
CREATE EXTENSION protector CASCADE;
REVOKE CREATE ON SCHEMA protector FROM regress_squatter;
CREATE TABLE protector.venues (id int);
CREATE EXTENSION protector CASCADE;
DROP SCHEMA protector CASCADE;
DROP ROLE regress_squatter;

CREATE EXTENSION protector CASCADE;

SELECT extversion, extrelocatable, extnamespace::regnamespace
FROM pg_extension WHERE extname = 'protector';

SELECT rolname, rolcanlogin, rolinherit, rolbypassrls, rolsuper
FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role')
ORDER BY rolname;

SELECT relname, relrowsecurity, relforcerowsecurity
FROM pg_class
WHERE relnamespace = 'protector'::regnamespace AND relkind = 'r'
ORDER BY relname;

-- without an auth schema there is nothing to reference
SELECT count(*) AS auth_fkeys FROM pg_constraint
WHERE connamespace = 'protector'::regnamespace
  AND confrelid <> 0 AND confrelid::regclass::text = 'auth.users';

-- the setting exists once the library is loaded, and is off by default
SELECT protector.current_user_id() IS NULL AS no_user;
SHOW protector.http_errors;

-- a signed-in user where there is no Supabase Auth: no e-mail is
-- confirmed, so no invitation is accepted (it failed on the missing
-- schema auth, 3F000)
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "0a000000-0000-4000-8000-000000000001", "role": "authenticated"}', true) IS NOT NULL AS signed_in;
SET LOCAL ROLE authenticated;
SELECT protector.accept_staff_invitations();
ROLLBACK;
