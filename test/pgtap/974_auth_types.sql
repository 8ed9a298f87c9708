-- protector reads Supabase Auth's users table with its owner's rights
-- (invitations: a member's confirmed address).  The table may be a role's
-- that is no superuser (Supabase's supabase_auth_admin): a column changed
-- to a type of that role's, with an implicit cast of its own, would run
-- the cast as protector's owner where a read compares or assigns it.  It
-- is read only while the columns protector reads are of PostgreSQL's own
-- types (protector_internal.auth_users_with).
BEGIN;
SELECT plan(8);

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
SET ROLE auth_owner_974;
ALTER TABLE auth.users ALTER COLUMN email_confirmed_at TYPE timestamptz;
RESET ROLE;

-- a plain table still runs its owner's code for whoever plans a read: a
-- partial index's predicate calling a function of theirs is folded by
-- the planner.  Read as protector's owner at a sign-in, the owner of
-- auth.users became a superuser (an attack review); it is read as its
-- owner now (protector_internal.auth_user_email, src/auth_users.c)
SELECT tests.create_supabase_user('at_visitor') IS NOT NULL AS made \gset
SELECT tests.get_supabase_uid('at_visitor') AS visitor \gset
SET ROLE auth_owner_974;
CREATE TABLE auth.ran_as (who name, super boolean);
CREATE FUNCTION auth.note_reader() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	INSERT INTO auth.ran_as SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
	RETURN true;
END
$$;
CREATE FUNCTION auth.planted(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN auth.note_reader();
END
$$;
CREATE INDEX users_planted_idx ON auth.users (id) WHERE auth.planted(1);
RESET ROLE;
DELETE FROM auth.ran_as;
-- (signed in by hand: the test's helpers read auth.users as a superuser)
SELECT set_config('role', 'authenticated', true) IS NOT NULL AS signed_in,
	   set_config('request.jwt.claims', json_build_object('sub', :'visitor', 'role', 'authenticated')::text, true) IS NOT NULL AS claims \gset
SELECT lives_ok($$SELECT protector.accept_staff_invitations()$$, 'a signed-in user accepts their invitations');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT DISTINCT who::text COLLATE "default", super FROM auth.ran_as$$,
	$$VALUES ('auth_owner_974', false)$$,
	'... and the planted predicate ran as the owner of auth.users, not as a superuser');

-- a table inheriting from a superuser's auth.users, of another role's:
-- its CHECK is folded when a read plans it, which reads ONLY auth.users
-- now (a review)
DROP INDEX auth.users_planted_idx;
ALTER TABLE auth.users OWNER TO CURRENT_USER;
CREATE TABLE auth.users_archive () INHERITS (auth.users);
ALTER TABLE auth.users_archive OWNER TO auth_owner_974;
SET ROLE auth_owner_974;
ALTER TABLE auth.users_archive ADD CONSTRAINT planted CHECK (auth.planted(1));
RESET ROLE;
DELETE FROM auth.ran_as;
SELECT set_config('role', 'authenticated', true) IS NOT NULL AS signed_in,
	   set_config('request.jwt.claims', json_build_object('sub', :'visitor', 'role', 'authenticated')::text, true) IS NOT NULL AS claims \gset
SELECT lives_ok($$SELECT protector.accept_staff_invitations()$$, 'a sign-in beside a table inheriting from auth.users');
SELECT tests.clear_authentication();
SELECT is((SELECT count(*)::int FROM auth.ran_as WHERE super), 0,
	'... runs none of its owner''s code as a superuser');

SELECT * FROM finish();
ROLLBACK;
