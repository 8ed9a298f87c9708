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
#      ALTER EXTENSION UPDATE: refused; so is one whose schema holds a
#      function another role made while it could create there, and one
#      whose stored expressions 0.1.0 bound to the database owner's
#      look-alikes in public;
#   3. schemas auth and realtime made by a non-superuser: protector reads
#      and calls neither with its owner's rights (and the update takes off
#      the broadcast trigger 0.1.0 attached);
#   4. a database that is not UTF8: refused with a clear error, at install
#      and at update;
#   5. an extension manager that installs for a role that is not a
#      superuser as one (supautils on Supabase): 0.1.0, which resolves
#      names through btree_gist's schema, ran that role's look-alike
#      quote_ident(name) as the superuser; only a superuser's own session
#      installs 0.1.0 now, and 0.2.0 installs for the role unharmed.
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
# hostile_trudy's schema realtime in database $1, its broadcast function
# making her a superuser when one calls it
hostile_realtime() {
	q -d "$1" -U hostile_trudy <<SQL
CREATE SCHEMA realtime;
GRANT USAGE ON SCHEMA realtime TO PUBLIC;
CREATE TABLE realtime.messages (topic text, extension text, payload jsonb);
CREATE FUNCTION realtime.broadcast_changes(text, text, text, text, text, record, record, text DEFAULT 'ROW')
RETURNS void LANGUAGE plpgsql AS \$\$ BEGIN $(evil hostile_trudy) END \$\$;
GRANT EXECUTE ON FUNCTION realtime.broadcast_changes(text, text, text, text, text, record, record, text) TO PUBLIC;
CREATE FUNCTION realtime.topic() RETURNS text LANGUAGE sql AS 'SELECT NULL::text';
SQL
}
cleanup() {
	for d in hostile_a hostile_b hostile_c hostile_d hostile_e hostile_f hostile_g hostile_h hostile_i hostile_j; do dropdb --if-exists "$d" >/dev/null 2>&1; done
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

# (the owner's CREATE taken back, what it made there stays)
createdb hostile_f
q -d hostile_f -c "CREATE SCHEMA protector" -c "GRANT USAGE, CREATE ON SCHEMA protector TO hostile_eve"
q -d hostile_f -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector VERSION '0.1.0' CASCADE"
q -d hostile_f -U hostile_eve <<SQL
CREATE FUNCTION protector.lower(tstzrange) RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE AS \$\$
BEGIN $(evil hostile_eve) RETURN pg_catalog.lower(\$1); END \$\$;
SQL
q -d hostile_f -c "REVOKE CREATE ON SCHEMA protector FROM hostile_eve"
refusal=$(q -d hostile_f -c "\set VERBOSITY verbose" -c "ALTER EXTENSION protector UPDATE" 2>&1)
case "$refusal" in
*"42501"*"protector's schemas hold objects of other roles the extension did not make: function protector.lower(pg_catalog.tstzrange)"*) ;;
*) fail "2: update beside hostile_eve's protector.lower(): '$refusal'" ;;
esac
[ "$(super_of hostile_eve)" = f ] || fail "2: hostile_eve's protector.lower() ran as the superuser updating"
# (0.1.0 bound its expressions to the database owner's look-alikes)
createdb -O hostile_mallory hostile_g
q -d hostile_g -U hostile_mallory -c "CREATE FUNCTION public.cardinality(text[]) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT pg_catalog.cardinality(\$1)'"
q -d hostile_g -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector VERSION '0.1.0' CASCADE"
refusal=$(q -d hostile_g -c "\set VERBOSITY verbose" -c "ALTER EXTENSION protector UPDATE" 2>&1)
case "$refusal" in
*"42501"*"protector's objects call functions of other schemas that roles other than superusers own: table constraint customers_tags_check on protector.customers calls function public.cardinality(pg_catalog.text[])"*) ;;
*) fail "2: update of a 0.1.0 bound to public.cardinality(): '$refusal'" ;;
esac

# (a superuser's function beside them is the operator's, and no reason to
# refuse: an index of protector's customers on pgcrypto's digest() in public)
createdb hostile_i
q -d hostile_i -c "SET client_min_messages = warning" -c "CREATE EXTENSION pgcrypto" \
	-c "CREATE EXTENSION protector VERSION '0.1.0' CASCADE" \
	-c "CREATE INDEX customers_email_digest ON protector.customers (public.digest(email, 'sha256'))"
updated=$(q -d hostile_i -c "SET client_min_messages = warning" -c "ALTER EXTENSION protector UPDATE" \
	-c "SELECT extversion FROM pg_extension WHERE extname = 'protector'" 2>&1)
[ "$updated" = 0.2.0 ] || fail "2: a 0.1.0 beside a superuser's digest() index did not update: '$updated'"

# --- 3. schemas auth and realtime of a role that may create schemas -----
createdb hostile_c
q -d hostile_c -c "GRANT CREATE ON DATABASE hostile_c TO hostile_trudy"
q -d hostile_c -c "CREATE SCHEMA extensions" -c "CREATE EXTENSION btree_gist SCHEMA extensions"
hostile_realtime hostile_c
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

# (0.1.0 attached its broadcast trigger to such a schema realtime; the
# update takes it off)
createdb hostile_h
q -d hostile_h -c "GRANT CREATE ON DATABASE hostile_h TO hostile_trudy"
hostile_realtime hostile_h
q -d hostile_h -c "SET client_min_messages = error" -c "CREATE EXTENSION protector VERSION '0.1.0' CASCADE"
before=$(q -d hostile_h -c "SELECT count(*) FROM pg_trigger WHERE tgname = 'broadcast_booking_change'")
q -d hostile_h -c "SET client_min_messages = error" -c "ALTER EXTENSION protector UPDATE"
after=$(q -d hostile_h -c "SELECT count(*) FROM pg_trigger WHERE tgname IN ('broadcast_booking_change', 'broadcast_message')")
[ "$before" = 1 ] || fail "3: 0.1.0 attached no broadcast trigger to hostile_trudy's schema realtime (the check proves nothing)"
[ "$after" = 0 ] || fail "3: the update left $after broadcast triggers calling into hostile_trudy's schema realtime"

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

# --- 5. installed for a role that is not a superuser, as one -------------
# (supautils' elevation modelled by a superuser's SECURITY DEFINER function
# that runs CREATE EXTENSION for its caller)
createdb -O hostile_mallory hostile_j
q -d hostile_j <<SQL
CREATE FUNCTION public.install_protector(p_version text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS \$\$
BEGIN EXECUTE pg_catalog.format('CREATE EXTENSION protector VERSION %L CASCADE', p_version); END \$\$;
GRANT EXECUTE ON FUNCTION public.install_protector(text) TO hostile_mallory;
SQL
q -d hostile_j -U hostile_mallory <<SQL
CREATE FUNCTION public.quote_ident(name) RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN $(evil hostile_mallory) RETURN pg_catalog.quote_ident(\$1::text); END \$\$;
SQL
refusal=$(q -d hostile_j -U hostile_mallory -c "SET client_min_messages = warning" -c "\set VERBOSITY verbose" \
	-c "SELECT public.install_protector('0.1.0')" 2>&1)
case "$refusal" in
*"42501"*"protector 0.1.0 is installed by a superuser's own session only"*) ;;
*) fail "5: 0.1.0 installed for hostile_mallory said '$refusal'" ;;
esac
[ "$(super_of hostile_mallory)" = f ] || fail "5: hostile_mallory's quote_ident(name) ran as the superuser installing 0.1.0"
q -d hostile_j -U hostile_mallory -c "SET client_min_messages = warning" -c "SELECT public.install_protector('0.2.0')" >/dev/null 2>&1 ||
	fail "5: 0.2.0 was not installed for hostile_mallory"
[ "$(q -d hostile_j -c "SELECT extversion FROM pg_extension WHERE extname = 'protector'")" = 0.2.0 ] || fail "5: 0.2.0 not installed"
[ "$(super_of hostile_mallory)" = f ] || fail "5: hostile_mallory's quote_ident(name) ran as the superuser installing 0.2.0"

cleanup
echo "hostile install: $failures failures"
[ "$failures" -eq 0 ]
