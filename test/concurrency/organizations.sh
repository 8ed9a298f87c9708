#!/usr/bin/env bash
# test/concurrency/organizations.sh — create_organization under REPEATABLE
# READ while another session frees the slug it asks for: the caller's own
# organization held the slug in the transaction's snapshot, renamed (or
# deleted) meanwhile.  The database picks a new organization's id, and
# create_organization finds its row again by the slug: the new row, not the
# one the snapshot still shows (it failed with P0003, more than one row).
# A rename to a slug another rename is freeing waits for it.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_organizations
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
SELECT tests.create_supabase_user('founder');
BEGIN;
SELECT tests.authenticate_as('founder');
SELECT protector.create_organization('First', 'taken-slug');
COMMIT;
SQL

failures=0
for change in "UPDATE protector.organizations SET slug = 'renamed' WHERE slug = 'taken-slug'" \
	"DELETE FROM protector.organizations WHERE slug = 'taken-slug'"; do
	PGAPPNAME=creator psql -X -q -d "$DB" >"$WORK/create.log" 2>&1 <<SQL &
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT tests.authenticate_as('founder');
SELECT count(*) FROM protector.organizations;
SELECT pg_sleep(1);
SELECT protector.create_organization('Second', 'taken-slug') ->> 'name' AS created;
COMMIT;
SQL
	creator=$!
	# (its snapshot taken, the slug still held)
	wait_session creator "query LIKE 'SELECT pg_sleep%'"
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "$change" >/dev/null
	wait "$creator" || true
	if grep -q 'Second' "$WORK/create.log" && ! grep -q ERROR "$WORK/create.log"; then
		echo "[repeatable read] the slug freed meanwhile (${change%% *}): the new organization is returned"
	else
		echo "[repeatable read] the slug freed meanwhile (${change%% *}): $(grep -o 'ERROR.*' "$WORK/create.log" | head -1)"
		failures=$((failures + 1))
	fi
	# the next round starts again from one organization holding the slug
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
DELETE FROM protector.organizations;
BEGIN;
SELECT tests.authenticate_as('founder');
SELECT protector.create_organization('First', 'taken-slug');
COMMIT;
SQL
done
# two owners deactivating each other at once: one owner stays, and the
# second call, whose caller the first deactivated while it waited, is told
# "member not found" (it ran on with nothing and said "p_organization_id
# must not be null")
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
SELECT tests.create_supabase_user('ann'), tests.create_supabase_user('bea');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0f470000-0000-4000-8000-000000000000', 'Two', 'two-owners');
INSERT INTO protector.members (id, organization_id, user_id, role) VALUES
	('0f470000-0000-4000-8000-0000000000a1', '0f470000-0000-4000-8000-000000000000', tests.get_supabase_uid('ann'), 'owner'),
	('0f470000-0000-4000-8000-0000000000b1', '0f470000-0000-4000-8000-000000000000', tests.get_supabase_uid('bea'), 'owner');
SQL
PGAPPNAME=ann psql -X -q -d "$DB" >/dev/null 2>"$WORK/ann.log" <<'SQL' &
BEGIN;
SELECT tests.authenticate_as('ann');
SELECT protector.deactivate_staff('0f470000-0000-4000-8000-0000000000b1');
SELECT pg_sleep(1.5);
COMMIT;
SQL
ann=$!
wait_session ann "query LIKE 'SELECT pg_sleep%'"
psql -X -q -d "$DB" >/dev/null 2>"$WORK/bea.log" <<'SQL' || true
BEGIN;
SELECT tests.authenticate_as('bea');
SELECT protector.deactivate_staff('0f470000-0000-4000-8000-0000000000a1');
COMMIT;
SQL
wait "$ann" || true
owners=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.members
	WHERE organization_id = '0f470000-0000-4000-8000-000000000000' AND role = 'owner' AND active")
answer=$(grep -o 'ERROR: .*' "$WORK/bea.log" || true)
echo "two owners deactivating each other: $owners active owner(s) left; the second: ${answer:-committed}"
if [ "$owners" != 1 ] || ! echo "$answer" | grep -qE 'member not found|your role may not'; then failures=$((failures + 1)); fi
if [ -s "$WORK/ann.log" ]; then cat "$WORK/ann.log"; failures=$((failures + 1)); fi

# a rename to a slug another organization's rename is freeing waits for
# it, as the unique key does, and then goes through (check_slug looked the
# slug up without waiting, a review found, and refused it at once)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
INSERT INTO protector.organizations (name, slug) VALUES ('Talk', 'talk'), ('Other', 'other');
SQL
PGAPPNAME=freer psql -X -q -d "$DB" -c "BEGIN" -c "UPDATE protector.organizations SET slug = 'talk-new' WHERE slug = 'talk'" \
	-c "SELECT pg_sleep(1.5)" -c "COMMIT" >/dev/null 2>&1 &
freer=$!
wait_session freer "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
answer=$(psql -X -q -A -t -d "$DB" -v VERBOSITY=terse -c "UPDATE protector.organizations SET slug = 'talk' WHERE slug = 'other' RETURNING slug" 2>&1 || true)
wait "$freer" || true
echo "a rename to a slug a rename in progress frees: ${answer}"
[ "$answer" = talk ] || failures=$((failures + 1))
# under REPEATABLE READ, a rename to a slug whose holder changed since the
# snapshot (its currency) is refused naming the slug, taken or to retry
# (the lookup's serialization failure left to the key named nothing)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector.organizations (name, slug) VALUES ('Holder', 'holder'), ('Renamer', 'renamer')" >/dev/null
PGAPPNAME=rr psql -X -q -A -t -d "$DB" -v VERBOSITY=terse >"$WORK/rr.log" 2>&1 <<'SQL' &
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM protector.organizations \g /dev/null
SELECT pg_sleep(1.5) \g /dev/null
UPDATE protector.organizations SET slug = 'holder' WHERE slug = 'renamer';
COMMIT;
SQL
rr=$!
wait_session rr "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
psql -X -q -d "$DB" -c "UPDATE protector.organizations SET currency = 'USD' WHERE slug = 'holder'" >/dev/null
wait "$rr" || true
answer=$(grep -o 'ERROR: .*' "$WORK/rr.log" | head -1 || true)
echo "[repeatable read] a rename to a slug whose holder changed since the snapshot: ${answer:-renamed}"
# (named either way: taken, or a retry when the holder's row was locked
# for update since the snapshot)
case "$answer" in *'slug "holder"'*) ;; *) failures=$((failures + 1)) ;; esac
dropdb "$DB"
[ "$failures" -eq 0 ]
