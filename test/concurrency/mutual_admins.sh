#!/usr/bin/env bash
# test/concurrency/mutual_admins.sh — two admins change each other at the
# same moment through the RPCs (deactivate_staff, update_staff_permissions).
# Each RPC locked the other's row FOR UPDATE, and the change's
# staff_activity row, which names its writer, then waited for its foreign
# key's KEY SHARE of the writer's own row, held by the other: a deadlock
# (40P01, an answer outside the contract).  The check of the writer before
# the update (lock_member_writer, lock_member_manager) now asks the
# writer's own row NOWAIT: the second is told to retry (40001).  A pause
# (this test's BEFORE UPDATE trigger on members, named to fire before
# lock_member_writer) holds the first in its update while the second runs.
# 1. deactivate_staff, the admin with the lower id first;
# 2. deactivate_staff, the admin with the higher id first;
# 3. update_staff_permissions, each making the other a viewer.
# Expected each time: the first goes through, the second is told to retry
# (40001), never 40P01, and exactly one of the two is changed.
# 4. one admin's direct UPDATE of the other's row, paused after it locked
#    that row, while the other deactivates the writer: the RPC goes
#    through, and the direct write is then refused (42501: its writer's
#    membership no longer lets it manage members).  (A version of the
#    RPCs that share-locked the caller's own row first deadlocked here.)
# 5. the owner deactivates both admins in one transaction, one after the
#    other, while the first admin deactivates the second: the owner's
#    transaction goes through and the admin is refused, once it waited
#    (the same version deadlocked: the admin held her own row while she
#    waited for the other's, which the owner held, and the owner then
#    needed hers).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_mutual_admins
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f720000-0000-4000-8000-000000000000
ADA=0f720000-0000-4000-8000-0000000000a1
BOB=0f720000-0000-4000-8000-0000000000b1
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['own', 'ada', 'bob']) u;
CREATE FUNCTION public.pause_first() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF current_setting('application_name') = 'first' THEN
		PERFORM pg_sleep(1);
	END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER a_pause BEFORE UPDATE ON protector.members FOR EACH ROW EXECUTE FUNCTION public.pause_first();
SQL
failures=0
OUT=$(mktemp)

two_admins() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
DELETE FROM protector.organizations WHERE id = '$ORG';
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Mutual', 'mutual-admins');
INSERT INTO protector.members (id, organization_id, user_id, role, confirmed_at) VALUES
	('0f720000-0000-4000-8000-0000000000c1', '$ORG', tests.get_supabase_uid('own'), 'owner', now()),
	('$ADA', '$ORG', tests.get_supabase_uid('ada'), 'admin', now()),
	('$BOB', '$ORG', tests.get_supabase_uid('bob'), 'admin', now());
SQL
}

# race NAME FIRST_USER FIRST_CALL SECOND_USER SECOND_CALL CHANGED_SQL FIRST_ANSWERS SECOND_ANSWERS
race() {
	two_admins
	PGAPPNAME=first psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" \
		-c "SELECT tests.authenticate_as('$2')" -c "$3" -c "COMMIT" > "$OUT" 2>&1 &
	local first=$!
	wait_session first "wait_event = 'PgSleep'" || failures=$((failures + 1))
	local second_answer first_answer=ok changed
	second_answer=$(sqlstate_as "$4" "$5")
	wait "$first" || first_answer=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' "$OUT" | head -1)
	changed=$(psql -X -A -t -d "$DB" -c "$6")
	if [[ "$first_answer" =~ ^($7)$ ]] && [[ "$second_answer" =~ ^($8)$ ]] && [ "$changed" = 1 ]; then
		echo "ok - $1"
	else
		echo "not ok - $1: first answered $first_answer, second $second_answer, $changed changed"
		failures=$((failures + 1))
	fi
}

race "deactivate_staff of each other, the lower id first" \
	ada "SELECT protector.deactivate_staff('$BOB')" bob "SELECT protector.deactivate_staff('$ADA')" \
	"SELECT count(*) FROM protector.members WHERE organization_id = '$ORG' AND NOT active" \
	ok 40001
race "deactivate_staff of each other, the higher id first" \
	bob "SELECT protector.deactivate_staff('$ADA')" ada "SELECT protector.deactivate_staff('$BOB')" \
	"SELECT count(*) FROM protector.members WHERE organization_id = '$ORG' AND NOT active" \
	ok 40001
race "update_staff_permissions of each other" \
	ada "SELECT protector.update_staff_permissions('$BOB', 'viewer')" bob "SELECT protector.update_staff_permissions('$ADA', 'viewer')" \
	"SELECT count(*) FROM protector.members WHERE organization_id = '$ORG' AND role = 'viewer'" \
	ok 40001
race "a direct write of one admin's row, then the other's deactivate_staff of the writer" \
	ada "UPDATE protector.members SET role = 'viewer' WHERE id = '$BOB'" bob "SELECT protector.deactivate_staff('$ADA')" \
	"SELECT count(*) FROM protector.members WHERE organization_id = '$ORG' AND (NOT active OR role = 'viewer')" \
	42501 ok

# 5. the owner, holding bob's row, needs ada's next; ada waits for bob's
two_admins
PGAPPNAME=owner psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" \
	-c "SELECT tests.authenticate_as('own')" -c "SELECT protector.deactivate_staff('$BOB')" -c "SELECT pg_sleep(1)" \
	-c "SELECT protector.deactivate_staff('$ADA')" -c "COMMIT" > "$OUT" 2>&1 &
owner=$!
wait_session owner "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
ada_answer=$(sqlstate_as ada "SELECT protector.deactivate_staff('$BOB')")
owner_answer=ok
wait "$owner" || owner_answer=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' "$OUT" | head -1)
inactive=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.members WHERE organization_id = '$ORG' AND NOT active")
if [ "$owner_answer" = ok ] && { [ "$ada_answer" = P0002 ] || [ "$ada_answer" = 42501 ]; } && [ "$inactive" = 2 ]; then
	echo "ok - the owner deactivating both admins in one transaction while one deactivates the other: the owner goes through, the admin is refused"
else
	echo "not ok - the owner deactivating both admins while one deactivates the other: owner answered $owner_answer, the admin $ada_answer, $inactive inactive"
	failures=$((failures + 1))
fi

rm -f "$OUT"
dropdb "$DB"
echo "# mutual_admins: $failures failed"
[ "$failures" -eq 0 ]
