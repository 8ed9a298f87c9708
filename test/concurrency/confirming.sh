#!/usr/bin/env bash
# test/concurrency/confirming.sh — a member confirming while someone else
# changes what they are (sql/81_staff.sql, change_own_membership).
# 1. a viewer confirming the role they saw while an owner makes them owner:
#    told the role changed (23P01), and stays a pending owner (confirming
#    whatever the row held once its lock was free confirmed the ownership);
# 2. a pending owner confirming while the last confirmed owner leaves: one
#    of them waits for the other; either way a confirmed owner stays (the
#    owner first is refused at once: a pending owner is no owner yet).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_confirming
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f720000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['fay', 'vic']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Confirming', 'confirming');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at) VALUES
	('$ORG', tests.get_supabase_uid('fay'), 'owner', now());
SQL
failures=0

# USER runs the statement and holds its transaction open for a second
# (the session named holder)
hold_as() {
	PGAPPNAME=holder psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('$1')" -c "$2" \
		-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null 2>&1
}

# 1
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector.members (organization_id, user_id, role)
	VALUES ('$ORG', tests.get_supabase_uid('vic'), 'viewer')" >/dev/null
hold_as fay "UPDATE protector.members SET role = 'owner' WHERE user_id = tests.get_supabase_uid('vic')" &
promoter=$!
wait_session holder "query LIKE 'SELECT pg_sleep%'"
answer=$(sqlstate_as vic "SELECT protector.confirm_membership('$ORG', 'viewer')")
wait "$promoter"
state=$(psql -X -A -t -d "$DB" -c "SELECT role || ' ' || (confirmed_at IS NULL) FROM protector.members
	WHERE user_id = tests.get_supabase_uid('vic')")
if [ "$answer" = 23P01 ] && [ "$state" = "owner true" ]; then
	echo "ok - a viewer confirming while made owner: told the role changed, a pending owner"
else
	echo "not ok - a viewer confirming while made owner: answered $answer, is now $state"
	failures=$((failures + 1))
fi

# 2. vic, a pending owner now, confirms while fay, the confirmed owner,
# leaves; in both orders a confirmed owner stays
for first in vic fay; do
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "UPDATE protector.members SET confirmed_at = NULL WHERE user_id = tests.get_supabase_uid('vic');
		INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
		VALUES ('$ORG', tests.get_supabase_uid('fay'), 'owner', now()) ON CONFLICT DO NOTHING" >/dev/null
	if [ "$first" = vic ]; then
		hold_as vic "SELECT protector.confirm_membership('$ORG', 'owner')" &
		held=$!
		wait_session holder "query LIKE 'SELECT pg_sleep%'"
		answer=$(sqlstate_as fay "SELECT protector.leave_organization('$ORG')")
	else
		# fay cannot go first: a pending owner is no owner yet, so her
		# leaving is refused at once (there is no race to hold open), and
		# vic's confirmation then finds her still there
		left=$(sqlstate_as fay "SELECT protector.leave_organization('$ORG')")
		answer=$(sqlstate_as vic "SELECT protector.confirm_membership('$ORG', 'owner')")
		held=
	fi
	[ -z "$held" ] || wait "$held" || true
	confirmed=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.members
		WHERE organization_id = '$ORG' AND role = 'owner' AND active AND confirmed_at IS NOT NULL")
	if [ "$first" = fay ] && [ "$left $answer $confirmed" != "22023 ok 2" ]; then
		echo "not ok - fay first: her leaving answered $left (expected 22023), vic's confirmation $answer, $confirmed confirmed owner(s) (expected 2)"
		failures=$((failures + 1))
	elif [ "$confirmed" -ge 1 ]; then
		echo "ok - $first first: a confirmed owner stays ($confirmed; the other answered $answer)"
	else
		echo "not ok - $first first: no confirmed owner left (the other answered $answer)"
		failures=$((failures + 1))
	fi
done

dropdb "$DB"
echo "# confirming: $failures failed"
[ "$failures" -eq 0 ]
