#!/usr/bin/env bash
# test/concurrency/demoted_managers.sh — an admin's update_staff_permissions
# or deactivate_staff waits for the member's row (held by another
# transaction), and meanwhile an owner demotes the admin to manager (found
# by an attack review): the RPC read the row again as the caller, still
# visible to a manager, and its UPDATE, which the update policy no longer
# let take the row, wrote nothing; it answered success (a deactivation
# with "already_inactive": false, a member object of NULLs) and the
# member stayed as they were.  Each must be refused (42501).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_demoted_managers
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f9a0000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['own', 'adm', 'vic']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'O', 'demoted-managers');
INSERT INTO protector.members (id, organization_id, user_id, role, confirmed_at) VALUES
	('0f9a0000-0000-4000-8000-0000000000e1', '$ORG', tests.get_supabase_uid('own'), 'owner', now()),
	('0f9a0000-0000-4000-8000-0000000000e2', '$ORG', tests.get_supabase_uid('adm'), 'admin', now()),
	('0f9a0000-0000-4000-8000-0000000000e3', '$ORG', tests.get_supabase_uid('vic'), 'viewer', now());
SQL
failures=0

race() {
	local call=$1 out state
	psql -X -q -d "$DB" -c "UPDATE protector.members SET role = 'admin' WHERE user_id = tests.get_supabase_uid('adm')" \
		-c "UPDATE protector.members SET role = 'viewer', active = true WHERE user_id = tests.get_supabase_uid('vic')" >/dev/null
	# the victim's row held, until the admin waits for it and is demoted
	PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" \
		-c "SELECT FROM protector.members WHERE user_id = tests.get_supabase_uid('vic') FOR UPDATE" \
		-c "SELECT pg_sleep(20)" -c "COMMIT" >/dev/null 2>&1 &
	local holder=$!
	wait_session holder "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
	PGAPPNAME=caller psql -X -q -A -t -d "$DB" -v VERBOSITY=verbose -c "BEGIN" -c "SELECT tests.authenticate_as('adm')" \
		-c "SELECT ($call)::text" -c "COMMIT" > "$WORK/caller.log" 2>&1 &
	local caller=$!
	wait_session caller "wait_event_type = 'Lock'" || failures=$((failures + 1))
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('own')" \
		-c "SELECT protector.update_staff_permissions('0f9a0000-0000-4000-8000-0000000000e2', 'manager')" -c "COMMIT" >/dev/null
	psql -X -q -d "$DB" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
	wait "$holder" || true
	wait "$caller" || true
	out=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\): *\(.*\)/\1 \2/p' "$WORK/caller.log" | head -1)
	state=$(psql -X -A -t -d "$DB" -c "SELECT role || ' ' || active FROM protector.members WHERE user_id = tests.get_supabase_uid('vic')")
	if [ "$out" = "42501 your membership does not let you manage members" ] && [ "$state" = "viewer true" ]; then
		echo "ok - ${call%%(*} by an admin demoted while it waited is refused (42501), the member unchanged"
	else
		echo "not ok - ${call%%(*} by an admin demoted while it waited: answered '${out:-$(tr '\n' ' ' < "$WORK/caller.log")}', the member: $state"
		failures=$((failures + 1))
	fi
}

race "protector.update_staff_permissions('0f9a0000-0000-4000-8000-0000000000e3', 'agent')"
race "protector.deactivate_staff('0f9a0000-0000-4000-8000-0000000000e3', 'bye')"

echo "# demoted_managers: $failures failed"
[ "$failures" -eq 0 ]
