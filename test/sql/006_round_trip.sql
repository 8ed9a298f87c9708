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

-- a Supabase-like database (with Realtime; no logical WAL needed here)
\set QUIET on
SET client_min_messages = error;
\i test/fixtures/supabase.sql
RESET client_min_messages;
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

-- Supabase Realtime was found at install: the tables joined its
-- publication (their old rows' primary keys alone in the WAL: FULL
-- showed subscribers whole old rows), bookings broadcast, members may read
-- their topics
SELECT tablename FROM pg_publication_tables WHERE pubname = 'supabase_realtime' ORDER BY 1;
SELECT relname, relreplident FROM pg_class
WHERE relnamespace = 'protector'::regnamespace AND relname IN ('bookings', 'tasks', 'notifications', 'booking_messages') ORDER BY 1;
SELECT polname FROM pg_policy WHERE polrelid = 'realtime.messages'::regclass;
SELECT protector.enable_realtime();
-- a re-run that changes nothing locks nothing against bookings (it set
-- each table's replica identity and altered both policies again: ACCESS
-- EXCLUSIVE on the four tables and on realtime.messages, every time)
BEGIN;
SELECT protector.enable_realtime() ->> 'broadcast_policy' AS policy;
SELECT relation::regclass, mode FROM pg_locks
WHERE pid = pg_backend_pid() AND locktype = 'relation'
  AND mode IN ('AccessExclusiveLock', 'ExclusiveLock', 'ShareRowExclusiveLock')
ORDER BY 1::text;
COMMIT;
-- ... but a policy edited by hand since is made again (its comment, made
-- with it, no longer says what it is)
ALTER POLICY protector_members_receive_organization_topic ON realtime.messages USING (true);
SELECT protector.enable_realtime() ->> 'broadcast_policy' AS policy;
SELECT polname, pg_get_expr(polqual, polrelid) = 'true' AS open_to_all
FROM pg_policy WHERE polrelid = 'realtime.messages'::regclass ORDER BY 1;
-- ... also one made again for all commands with a WITH CHECK, which ALTER
-- POLICY cannot undo (it stayed open to every insert)
DROP POLICY protector_customers_receive_own_topic ON realtime.messages;
CREATE POLICY protector_customers_receive_own_topic ON realtime.messages FOR ALL TO authenticated USING (true) WITH CHECK (true);
SELECT protector.enable_realtime() ->> 'broadcast_policy' AS policy;
SELECT polname, polcmd, pg_get_expr(polqual, polrelid) = 'true' AS open_to_all, polwithcheck IS NULL AS no_check
FROM pg_policy WHERE polrelid = 'realtime.messages'::regclass ORDER BY 1;

-- that policy depends on protector: DROP EXTENSION refuses until
-- disable_realtime() takes protector out of Realtime
DROP EXTENSION protector;
SELECT protector.disable_realtime();
SELECT protector.disable_realtime();
SELECT count(*) AS published FROM pg_publication_tables WHERE pubname = 'supabase_realtime';

-- and around again, leaving a vanilla install for later tests
DROP EXTENSION protector;
DROP SCHEMA realtime CASCADE;
DROP PUBLICATION supabase_realtime;
DROP SCHEMA auth CASCADE;
CREATE EXTENSION protector;
SELECT count(*) AS auth_fkeys FROM pg_constraint WHERE conname LIKE '%user_id_fkey';
-- plain PostgreSQL: taking protector out of a Realtime that is not there
-- does nothing, and says so
SELECT protector.disable_realtime();
SELECT count(*) AS tables FROM pg_class WHERE relnamespace = 'protector'::regnamespace AND relkind = 'r';

-- ... but not by a role that does not own protector's tables: whoever may
-- create a schema auth would otherwise make every membership depend on
-- rows of theirs (the DDL goes through, with a warning)
CREATE ROLE protector_schemer;
SELECT format('GRANT CREATE ON DATABASE %I TO protector_schemer', current_database()) \gexec
SET ROLE protector_schemer;
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY);
RESET ROLE;
SELECT count(*) AS auth_fkeys FROM pg_constraint WHERE confrelid = 'auth.users'::regclass;
DROP SCHEMA auth CASCADE;
SELECT format('REVOKE CREATE ON DATABASE %I FROM protector_schemer', current_database()) \gexec
DROP ROLE protector_schemer;

-- auth.users made after the extension, as a restore makes it (pg_dump
-- adds its primary key after the data): the keys to it follow as soon as
-- it has its key.  A member naming a user who is not there leaves the
-- members' key out with a warning, the DDL going through (the customers'
-- key is made: each on its own); link_auth_users() makes it once the rows
-- are mended.
INSERT INTO protector.organizations (id, name, slug) VALUES ('00000000-0000-4000-8000-0000000000f0', 'Later', 'later');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('00000000-0000-4000-8000-0000000000f0', '00000000-0000-4000-8000-0000000000f1', 'admin');
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid NOT NULL, email text);
ALTER TABLE auth.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
SELECT count(*) AS auth_fkeys FROM pg_constraint WHERE confrelid = 'auth.users'::regclass;
INSERT INTO auth.users (id) VALUES ('00000000-0000-4000-8000-0000000000f1');
SELECT protector_internal.link_auth_users();
SELECT conrelid::regclass, conname FROM pg_constraint WHERE confrelid = 'auth.users'::regclass ORDER BY 1, 2;
-- a key lost (dropped by hand) comes back with the next change of auth.users
ALTER TABLE protector.members DROP CONSTRAINT members_user_id_fkey;
ALTER TABLE auth.users ADD COLUMN phone text;
SELECT conrelid::regclass, conname FROM pg_constraint WHERE confrelid = 'auth.users'::regclass ORDER BY 1, 2;
-- protector's event triggers fire for every role's DDL and must not need
-- a right the role lacks: a role with no USAGE on schema auth (nor on
-- protector's schemas) creates and alters tables, and a publication
-- (its CREATE TABLE failed on "permission denied for schema auth")
CREATE ROLE protector_plain;
SELECT format('GRANT CREATE ON DATABASE %I TO protector_plain', current_database()) \gexec
SET ROLE protector_plain;
CREATE TEMP TABLE plain_t (x int);
ALTER TABLE plain_t ADD COLUMN y int;
SET client_min_messages = error;
CREATE PUBLICATION protector_plain_pub;
RESET client_min_messages;
DROP PUBLICATION protector_plain_pub;
DROP TABLE plain_t;
RESET ROLE;
SELECT format('REVOKE CREATE ON DATABASE %I FROM protector_plain', current_database()) \gexec
DROP ROLE protector_plain;
DELETE FROM protector.organizations;
DROP SCHEMA auth CASCADE;
