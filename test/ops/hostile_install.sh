#!/usr/bin/env bash
# test/ops/hostile_install.sh — installing, updating and running protector
# in a database where a non-superuser prepared the ground (docs/security.md,
# "Installing"; docs/operations.md).  Each case is an attack found by
# trying it; each failed before its fix:
#   1. CREATE EXTENSION ... CASCADE in a database a non-superuser owns: its
#      functions in public (btree_gist's schema, on the install's
#      search_path) that match unqualified calls better than pg_catalog's
#      run as the installing superuser, and stored expressions bind to them;
#      the caller's search_path comes back after the install;
#   2. 0.1.0 installed into a schema protector another role made, then
#      ALTER EXTENSION UPDATE: refused;
#   3. schemas auth and realtime made by a non-superuser: protector reads
#      and calls neither with its owner's rights;
#   4. a database that is not UTF8: refused with a clear error, at install
#      and at update.
set -uo pipefail
cd "$(dirname "$0")/../.."
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
super_of() { q -d postgres -c "SELECT rolsuper FROM pg_roles WHERE rolname = '$1'"; }
# a PL/pgSQL statement that, run by a superuser, makes role $1 one
evil() {
	echo "IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE $1 SUPERUSER'; END IF;"
}
cleanup() {
	for d in hostile_a hostile_b hostile_c hostile_d hostile_e; do dropdb --if-exists "$d" >/dev/null 2>&1; done
	for r in hostile_mallory hostile_eve hostile_trudy; do
		q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
	done
}
cleanup
q -d postgres -c "CREATE ROLE hostile_mallory LOGIN" -c "CREATE ROLE hostile_eve LOGIN" -c "CREATE ROLE hostile_trudy LOGIN"

# --- 1. look-alike functions in the database owner's public ---------------
createdb -O hostile_mallory hostile_a
q -d hostile_a -U hostile_mallory <<SQL
CREATE FUNCTION public.format(text, regclass) RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN $(evil hostile_mallory) RETURN pg_catalog.format(\$1, \$2); END \$\$;
CREATE FUNCTION public.lower(tstzrange) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS 'SELECT pg_catalog.lower(\$1)';
CREATE FUNCTION public.cardinality(text[]) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT pg_catalog.cardinality(\$1)';
SQL
path=$(q -d hostile_a -c "SET client_min_messages = warning" -c "BEGIN" -c "SET LOCAL search_path = public, pg_temp" \
	-c "CREATE EXTENSION protector CASCADE" -c "SELECT current_setting('search_path')" -c "COMMIT" 2>&1)
[ "$(super_of hostile_mallory)" = f ] || fail "1: the database owner's public.format() ran as the installing superuser"
[ "$path" = "public, pg_temp" ] || fail "1: the caller's search_path after CREATE EXTENSION: '$path'"
bound=$(q -d hostile_a -c "SELECT count(*) FROM pg_depend d JOIN pg_proc p ON p.oid = d.refobjid
	WHERE d.refclassid = 'pg_proc'::regclass AND p.pronamespace = 'public'::regnamespace
	  AND p.proname IN ('format', 'lower', 'cardinality')")
[ "$bound" = 0 ] || fail "1: $bound of protector's stored expressions call the database owner's look-alikes"
q -d hostile_a -c "SELECT count(*) FROM pg_extension WHERE extname = 'protector'" | grep -qx 1 || fail "1: not installed"

# --- 2. a schema protector of another role's, under 0.1.0 then updated ---
createdb hostile_b
q -d hostile_b -c "GRANT CREATE ON DATABASE hostile_b TO hostile_eve"
q -d hostile_b -U hostile_eve -c "CREATE SCHEMA protector"
q -d hostile_b -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector VERSION '0.1.0' CASCADE"
refusal=$(q -d hostile_b -c "\set VERBOSITY verbose" -c "ALTER EXTENSION protector UPDATE" 2>&1)
case "$refusal" in
*"42501"*"schema protector belongs to role hostile_eve, which is not a superuser"*) ;;
*) fail "2: update into hostile_eve's schema protector: '$refusal'" ;;
esac
[ "$(q -d hostile_b -c "SELECT extversion FROM pg_extension WHERE extname = 'protector'")" = 0.1.0 ] ||
	fail "2: the refused update changed the version"

# --- 3. schemas auth and realtime of a role that may create schemas -----
createdb hostile_c
q -d hostile_c -c "GRANT CREATE ON DATABASE hostile_c TO hostile_trudy"
q -d hostile_c -c "CREATE SCHEMA extensions" -c "CREATE EXTENSION btree_gist SCHEMA extensions"
q -d hostile_c -U hostile_trudy <<SQL
CREATE SCHEMA realtime;
GRANT USAGE ON SCHEMA realtime TO PUBLIC;
CREATE TABLE realtime.messages (topic text, extension text, payload jsonb);
CREATE FUNCTION realtime.broadcast_changes(text, text, text, text, text, record, record, text DEFAULT 'ROW')
RETURNS void LANGUAGE plpgsql AS \$\$ BEGIN $(evil hostile_trudy) END \$\$;
GRANT EXECUTE ON FUNCTION realtime.broadcast_changes(text, text, text, text, text, record, record, text) TO PUBLIC;
CREATE FUNCTION realtime.topic() RETURNS text LANGUAGE sql AS 'SELECT NULL::text';
SQL
warned=$(q -d hostile_c -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector" 2>&1)
case "$warned" in
*"does not broadcast to Supabase Realtime: schema realtime belongs to role hostile_trudy"*) ;;
*) fail "3: installing beside hostile_trudy's schema realtime said '$warned'" ;;
esac
[ "$(q -d hostile_c -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'protector.bookings'::regclass AND tgname = 'broadcast_booking_change'")" = 0 ] ||
	fail "3: the broadcast trigger calls into hostile_trudy's schema realtime"
q -d hostile_c -U hostile_trudy <<SQL
CREATE SCHEMA auth;
GRANT USAGE ON SCHEMA auth TO PUBLIC;
CREATE FUNCTION auth.touch() RETURNS boolean LANGUAGE plpgsql AS \$\$ BEGIN $(evil hostile_trudy) RETURN true; END \$\$;
GRANT EXECUTE ON FUNCTION auth.touch() TO PUBLIC;
CREATE VIEW auth.users AS SELECT '00000000-0000-4000-8000-00000000000a'::uuid AS id, 'x@example.com'::text AS email,
	now() AS email_confirmed_at WHERE auth.touch();
GRANT SELECT ON auth.users TO PUBLIC;
SQL
q -d hostile_c >/dev/null <<'SQL'
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-00000000000a", "role": "authenticated"}', true);
SELECT protector.accept_staff_invitations();
COMMIT;
SQL
[ "$(super_of hostile_trudy)" = f ] || fail "3: hostile_trudy's view auth.users ran as protector's owner"
# (the check can fail: the superuser reading the view runs its function)
q -d hostile_c -c "SELECT count(*) FROM auth.users" >/dev/null
[ "$(super_of hostile_trudy)" = t ] || fail "3: the view's function did not run even for a superuser reading it"
q -d postgres -c "ALTER ROLE hostile_trudy NOSUPERUSER"

# --- 4. a database that is not UTF8 ---------------------------------------
createdb -E LATIN1 -T template0 --locale=C hostile_d
refusal=$(q -d hostile_d -c "\set VERBOSITY verbose" -c "CREATE EXTENSION protector CASCADE" 2>&1)
case "$refusal" in
*"0A000"*"protector needs a UTF8 database"*) ;;
*) fail "4: CREATE EXTENSION in a LATIN1 database said '$refusal'" ;;
esac
createdb -E SQL_ASCII -T template0 --locale=C hostile_e
q -d hostile_e -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector VERSION '0.1.0' CASCADE"
refusal=$(q -d hostile_e -c "\set VERBOSITY verbose" -c "ALTER EXTENSION protector UPDATE" 2>&1)
case "$refusal" in
*"0A000"*"protector 0.2.0 needs a UTF8 database"*) ;;
*) fail "4: updating 0.1.0 in a SQL_ASCII database said '$refusal'" ;;
esac

cleanup
echo "hostile install: $failures failures"
[ "$failures" -eq 0 ]
