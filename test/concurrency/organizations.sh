#!/usr/bin/env bash
# test/concurrency/organizations.sh — create_organization under REPEATABLE
# READ while another session frees the slug it asks for: the caller's own
# organization held the slug in the transaction's snapshot, renamed (or
# deleted) meanwhile.  The database picks a new organization's id, and
# create_organization finds its row again by the slug: the new row, not the
# one the snapshot still shows (it failed with P0003, more than one row).
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
	psql -X -q -d "$DB" >"$WORK/create.log" 2>&1 <<SQL &
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT tests.authenticate_as('founder');
SELECT count(*) FROM protector.organizations;
SELECT pg_sleep(1);
SELECT protector.create_organization('Second', 'taken-slug') ->> 'name' AS created;
COMMIT;
SQL
	creator=$!
	sleep 0.4
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
dropdb "$DB"
[ "$failures" -eq 0 ]
