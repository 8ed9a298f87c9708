#!/usr/bin/env bash
# test/concurrency/owners.sh — two co-owners step down at the same moment
# (keep_one_owner, sql/40_guards.sql).  Each holds its own member row (the
# RPC's authorize_row, or the UPDATE itself) before the trigger takes the
# owners' lock; the trigger then waited for the other owner's row, and one
# of the two ended in a deadlock (40P01, not the contract's retry code).
# Expected: one steps down, the other is told to retry (40001) and, once
# it does, that it is the last owner (22023); never a deadlock, and one
# active owner is left.
# 1. deterministic: a third session holds the owners' lock while both
#    calls start (update_staff_permissions, then deactivate_staff);
# 2. both step down by a direct UPDATE of their own row, ten rounds;
# 3. three owners: one steps down and renames a co-owner who steps down
#    meanwhile (no deadlock);
# 4. a co-owner's row held FOR SHARE for a moment: the other owner steps
#    down once it is free.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_owners
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT tests.create_supabase_user('ann'), tests.create_supabase_user('bea'), tests.create_supabase_user('cid')" >/dev/null
ORG=0f710000-0000-4000-8000-000000000000
ANN=0f710000-0000-4000-8000-0000000000a1
BEA=0f710000-0000-4000-8000-0000000000b1
failures=0

two_owners() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
DELETE FROM protector.organizations WHERE id = '$ORG';
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Two', 'two-owners');
INSERT INTO protector.members (id, organization_id, user_id, role) VALUES
	('$ANN', '$ORG', tests.get_supabase_uid('ann'), 'owner'),
	('$BEA', '$ORG', tests.get_supabase_uid('bea'), 'owner');
SQL
}
owners_left() {
	psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.members WHERE organization_id = '$ORG' AND role = 'owner' AND active"
}
check() {
	local name=$1 a=$2 b=$3
	local got
	got=$(printf '%s\n%s\n' "$a" "$b" | sort | tr '\n' ' ')
	if [ "$got" = "40001 ok " ] && [ "$(owners_left)" = 1 ]; then
		echo "ok - $name: one steps down, the other is told to retry"
	else
		echo "not ok - $name: answers $got, $(owners_left) active owners left"
		failures=$((failures + 1))
	fi
}

# 1
for call in "update_staff_permissions('%s', 'admin')" "deactivate_staff('%s')"; do
	two_owners
	PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" -c "SELECT pg_advisory_xact_lock(protector_internal.lock_key(1886547714, '$ORG'))" \
		-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null &
	holder=$!
	wait_session holder "query LIKE 'SELECT pg_sleep%'"
	sqlstate_as ann "SELECT protector.$(printf "$call" "$ANN")" >"$WORK/ann" &
	a=$!
	sqlstate_as bea "SELECT protector.$(printf "$call" "$BEA")" >"$WORK/bea" &
	b=$!
	wait "$holder" "$a" "$b"
	check "${call%%(*} beside each other, held back together" "$(cat "$WORK/ann")" "$(cat "$WORK/bea")"
	# the one told to retry, retrying, is the last owner
	retried=$(if [ "$(cat "$WORK/ann")" = 40001 ]; then sqlstate_as ann "SELECT protector.$(printf "$call" "$ANN")";
			  else sqlstate_as bea "SELECT protector.$(printf "$call" "$BEA")"; fi)
	if [ "$retried" = 22023 ]; then echo "ok - ${call%%(*}: the retry is told it is the last owner"
	else echo "not ok - ${call%%(*}: the retry answered $retried"; failures=$((failures + 1)); fi
done

# 2
deadlocks=0
bad=0
for _ in $(seq 10); do
	two_owners
	sqlstate_as ann "UPDATE protector.members SET role = 'admin' WHERE id = '$ANN'" >"$WORK/ann" &
	a=$!
	sqlstate_as bea "UPDATE protector.members SET role = 'admin' WHERE id = '$BEA'" >"$WORK/bea" &
	b=$!
	wait "$a" "$b"
	if grep -q 40P01 "$WORK/ann" "$WORK/bea"; then deadlocks=$((deadlocks + 1)); fi
	if [ "$(owners_left)" != 1 ] || ! grep -qx ok "$WORK/ann" "$WORK/bea"; then bad=$((bad + 1)); fi
done
if [ "$deadlocks" -eq 0 ] && [ "$bad" -eq 0 ]; then
	echo "ok - direct updates of their own rows, 10 rounds: no deadlock, one owner left, one stepped down each time"
else
	echo "not ok - direct updates of their own rows, 10 rounds: $deadlocks deadlocks, $bad rounds otherwise wrong"
	failures=$((failures + 1))
fi

# 3. three owners: T1 steps down and then renames a co-owner, T2 steps
# that co-owner down meanwhile.  Locking one other owner only let T2 take
# the co-owner's row and then wait for the owners' lock T1 held, while T1
# waited for that row: a deadlock.  Every other owner is locked by T1, so
# T2 waits for T1 before it holds anything; both commit.
two_owners
CID=0f710000-0000-4000-8000-0000000000c1
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector.members (id, organization_id, user_id, role)
	VALUES ('$CID', '$ORG', tests.get_supabase_uid('cid'), 'owner')" >/dev/null
PGAPPNAME=t1 psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" >"$WORK/t1" 2>&1 <<SQL &
BEGIN;
UPDATE protector.members SET role = 'admin' WHERE id = '$ANN';
SELECT pg_sleep(1);
UPDATE protector.members SET full_name = 'Cid' WHERE id = '$CID';
COMMIT;
SQL
t1=$!
wait_session t1 "query LIKE 'SELECT pg_sleep%'"
t2=$(sqlstate_as cid "UPDATE protector.members SET role = 'admin' WHERE id = '$CID'")
wait "$t1" || true
if [ "$t2" = ok ] && ! grep -q ERROR "$WORK/t1" && [ "$(owners_left)" = 1 ]; then
	echo "ok - three owners: one steps down and renames a co-owner who steps down meanwhile: both commit, no deadlock"
else
	echo "not ok - three owners: T2 answered $t2, T1: $(grep ERROR "$WORK/t1" | head -1), $(owners_left) active owners left"
	failures=$((failures + 1))
fi

# 4. a co-owner's row held FOR SHARE for a moment (a shift or a task being
# written for them locks it so): the other owner steps down once it is
# free (it was told to retry at once)
two_owners
PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" -c "SELECT FROM protector.members WHERE id = '$BEA' FOR SHARE" \
	-c "SELECT pg_sleep(0.5)" -c "COMMIT" >/dev/null &
holder=$!
wait_session holder "query LIKE 'SELECT pg_sleep%'"
answer=$(sqlstate_as ann "SELECT protector.update_staff_permissions('$ANN', 'admin')")
wait "$holder"
if [ "$answer" = ok ] && [ "$(owners_left)" = 1 ]; then
	echo "ok - a co-owner's row held FOR SHARE for a moment: the other owner steps down once it is free"
else
	echo "not ok - a co-owner's row held FOR SHARE for a moment: answered $answer, $(owners_left) active owners left"
	failures=$((failures + 1))
fi

dropdb "$DB"
echo "# owners: $failures failed"
[ "$failures" -eq 0 ]
