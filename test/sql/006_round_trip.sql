-- DROP EXTENSION / CREATE EXTENSION round trip, and installing into a
-- database that looks like Supabase (auth.users exists): users are then
-- linked to Supabase Auth by foreign keys.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

DROP EXTENSION protector;
-- the schema stays (it is named in the control file), emptied
SELECT count(*) AS objects_left FROM pg_class WHERE relnamespace = 'protector'::regnamespace;
SELECT count(*) AS functions_left FROM pg_proc WHERE pronamespace = 'protector'::regnamespace;
SELECT count(*) AS types_left FROM pg_type WHERE typnamespace = 'protector'::regnamespace;

-- a Supabase-like database
\set QUIET on
\i test/fixtures/supabase.sql
\set QUIET off
CREATE EXTENSION protector;

SELECT conrelid::regclass, conname, pg_get_constraintdef(oid)
FROM pg_constraint
WHERE confrelid = 'auth.users'::regclass
ORDER BY 1, 2;

-- the link works: deleting an auth user removes their memberships and
-- unlinks their customer records
INSERT INTO auth.users (id, email) VALUES ('00000000-0000-4000-8000-0000000000f1', 'ana@example.com');
INSERT INTO protector.organizations (id, name, slug) VALUES ('00000000-0000-4000-8000-0000000000f0', 'Round', 'round');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('00000000-0000-4000-8000-0000000000f0', '00000000-0000-4000-8000-0000000000f1', 'admin');
INSERT INTO protector.customers (organization_id, user_id, full_name) VALUES
	('00000000-0000-4000-8000-0000000000f0', '00000000-0000-4000-8000-0000000000f1', 'Ana');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('00000000-0000-4000-8000-0000000000f0', '00000000-0000-4000-8000-0000000000f9', 'admin');
DELETE FROM auth.users WHERE id = '00000000-0000-4000-8000-0000000000f1';
SELECT count(*) AS memberships FROM protector.members;
SELECT full_name, user_id FROM protector.customers;

-- and around again, leaving a vanilla install for later tests
DROP EXTENSION protector;
DROP SCHEMA auth CASCADE;
CREATE EXTENSION protector;
SELECT count(*) AS auth_fkeys FROM pg_constraint WHERE conname LIKE '%user_id_fkey';
SELECT count(*) AS tables FROM pg_class WHERE relnamespace = 'protector'::regnamespace AND relkind = 'r';
