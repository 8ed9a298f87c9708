-- protector reads Supabase Auth's users table with its owner's rights
-- (invitations: a member's confirmed address).  The table may be a role's
-- that is no superuser (Supabase's supabase_auth_admin): a column changed
-- to a type of that role's, with an implicit cast of its own, would run
-- the cast as protector's owner where a read compares or assigns it.  It
-- is read only while the columns protector reads are of PostgreSQL's own
-- types (protector_internal.auth_users_with).
BEGIN;
SELECT plan(4);

CREATE ROLE auth_owner_974 NOLOGIN;
GRANT USAGE, CREATE ON SCHEMA auth TO auth_owner_974;
ALTER TABLE auth.users OWNER TO auth_owner_974;
SELECT ok(protector_internal.auth_users_with('email_confirmed_at'),
	'auth.users of PostgreSQL''s types is read, whoever owns it');

SET ROLE auth_owner_974;
CREATE DOMAIN auth.address AS text;
ALTER TABLE auth.users ALTER COLUMN email TYPE auth.address;
RESET ROLE;
SELECT ok(NOT protector_internal.auth_users_with('email_confirmed_at'),
	'... not once its email is of a type of the owner''s');
SELECT ok(NOT protector_internal.auth_users_with('email'), '... for any column');
SET ROLE auth_owner_974;
ALTER TABLE auth.users ALTER COLUMN email TYPE text;
CREATE DOMAIN auth.stamp AS timestamptz;
ALTER TABLE auth.users ALTER COLUMN email_confirmed_at TYPE auth.stamp;
RESET ROLE;
SELECT ok(NOT protector_internal.auth_users_with('email_confirmed_at'),
	'... nor the column asked about');

SELECT * FROM finish();
ROLLBACK;
