#!/usr/bin/env bash
# test/concurrency/invitation_races.sh — an admin's invitation written
# directly (PostgREST's INSERT into protector.staff_invitations) while an
# owner deactivates or demotes them (sql/81_staff.sql, lock_inviter).
# withdraw_member_invitations deletes the open invitations a member gave
# when they are deactivated or given another role; one still uncommitted
# then, or written under a snapshot from before, made a second mailbox an
# admin after the first was fired.  Expected:
# 1. the invitation first, held open, then the deactivation: the
#    deactivation waits for it and withdraws it (none open afterwards);
# 2. the deactivation first, held open, then the invitation: it waits and
#    is refused (42501), none stored;
# 3. the invitation at REPEATABLE READ under a snapshot taken before the
#    deactivation committed: 40001, none stored;
# 4. as 1, with the admin made a viewer (update_staff_permissions);
# 5. create_staff_member replacing the admin's open invitation to an
#    address (held for a moment by a third session) while the admin is
#    deactivated: no deadlock (it deleted the old invitation before the
#    new one's trigger share-locked the admin's membership, the reverse of
#    the deactivation's order, 40P01), and nothing open afterwards.
# The same of a member written directly (PostgREST's INSERT into or
# UPDATE of protector.members: lock_member_writer), where the policies
# asked the admin's rights on the statement's snapshot:
# 6. two admins deactivating each other, and two owners demoting each
#    other, by direct writes at the same moment, 15 rounds each: no
#    deadlock (a write share-locked its writer's membership after the row
#    it wrote, and the two waited for each other: 40P01);
# 7. an insert of an admin already under way (its SELECT sleeping) when
#    the deactivation commits: refused (42501; it made an accomplice an
#    admin after the firing);
# 8. an insert of an admin at REPEATABLE READ under a snapshot from before
#    the deactivation: 40001, no such member (it was stored);
# 9. a promotion of a viewer so: 40001, the viewer stays a viewer;
# 10. as 7, the admin's membership deleted, not deactivated: refused
#    (42501; the re-read found no membership and let it through);
# 11. an admin's DELETE of a viewer already under way when the admin's
#    membership is deleted: refused (42501), the viewer kept (a writer
#    found without a membership in a delete was taken for one deleting
#    themselves with others, and let through);
# 12. a user accepting invitations to two organizations, the newer one's
#    membership held up by another insert of it, while the older one's
#    organization is deleted: no deadlock (the loop locked both
#    invitations as it fetched them, and the older one's membership then
#    waited for the organization's row the deletion held, which waited
#    for the invitation: 40P01); the deletion goes through;
# 13. an admin locking a viewer's membership (authorize_row's p_lock with
#    members.manage) while an owner makes the viewer an owner: refused
#    once the lock is held (42501; the role was read before the wait, and
#    the admin then held the new owner's row).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_invitation_races
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f910000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['olga', 'adm1', 'adm2', 'adm3', 'adm4', 'adm5', 'adm6', 'adm7', 'adm8',
														'adm9', 'adm10', 'adm11', 'acc6', 'acc7', 'acc8', 'acc10', 'view9', 'view11']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Invites', 'invites');
INSERT INTO protector.members (id, organization_id, user_id, role, confirmed_at) VALUES
	('0f910000-0000-4000-8000-0000000000e0', '$ORG', tests.get_supabase_uid('olga'), 'owner', now()),
	('0f910000-0000-4000-8000-0000000000e1', '$ORG', tests.get_supabase_uid('adm1'), 'admin', now()),
	('0f910000-0000-4000-8000-0000000000e2', '$ORG', tests.get_supabase_uid('adm2'), 'admin', now()),
	('0f910000-0000-4000-8000-0000000000e3', '$ORG', tests.get_supabase_uid('adm3'), 'admin', now()),
	('0f910000-0000-4000-8000-0000000000e4', '$ORG', tests.get_supabase_uid('adm4'), 'admin', now()),
	('0f910000-0000-4000-8000-0000000000e5', '$ORG', tests.get_supabase_uid('adm5'), 'admin', now()),
	('0f910000-0000-4000-8000-0000000000e6', '$ORG', tests.get_supabase_uid('adm6'), 'admin', now()),
	('0f910000-0000-4000-8000-0000000000e7', '$ORG', tests.get_supabase_uid('adm7'), 'admin', now()),
	('0f910000-0000-4000-8000-0000000000e8', '$ORG', tests.get_supabase_uid('adm8'), 'admin', now()),
	('0f910000-0000-4000-8000-0000000000e9', '$ORG', tests.get_supabase_uid('adm9'), 'admin', now()),
	('0f910000-0000-4000-8000-0000000000ea', '$ORG', tests.get_supabase_uid('adm10'), 'admin', now()),
	('0f910000-0000-4000-8000-0000000000eb', '$ORG', tests.get_supabase_uid('adm11'), 'admin', now()),
	('0f910000-0000-4000-8000-0000000000f9', '$ORG', tests.get_supabase_uid('view9'), 'viewer', now()),
	('0f910000-0000-4000-8000-0000000000fb', '$ORG', tests.get_supabase_uid('view11'), 'viewer', now());
SQL
failures=0

wait_in_sleep() { wait_session "$1" "query LIKE 'SELECT pg_sleep%'"; }	# (its earlier statements done)
wait_waiting() { wait_session "$1" "wait_event_type = 'Lock'"; }
invite() {		# USER EMAIL: prints the SQLSTATE of its error, or nothing
	PGAPPNAME=inviter psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate \
		-c "BEGIN" -c "SELECT tests.authenticate_as('$1')" \
		-c "INSERT INTO protector.staff_invitations (organization_id, email, role) VALUES ('$ORG', '$2', 'admin')" \
		-c "COMMIT" 2>&1 >/dev/null | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | head -1 || true
}
open_invitations() {
	psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.staff_invitations WHERE email = '$1' AND accepted_at IS NULL"
}
check() {		# NAME CONDITION-TEXT EXPECTED ACTUAL
	if [ "$3" = "$4" ]; then echo "ok - $1: $2"; else echo "not ok - $1: $2 (expected '$3', got '$4')"; failures=$((failures + 1)); fi
}

as_owner() {		# CALL: the owner's call, committed
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" -c "SELECT protector.$1" -c "COMMIT" >/dev/null
}
# held_invitation_then NAME ADMIN EMAIL CALL: the admin's invitation to
# EMAIL held open, the owner's CALL meanwhile; nothing open afterwards
held_invitation_then() {
	PGAPPNAME=inv$1 psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('$2')" \
		-c "INSERT INTO protector.staff_invitations (organization_id, email, role) VALUES ('$ORG', '$3', 'admin')" \
		-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null 2>&1 &
	local held=$!
	wait_in_sleep "inv$1"
	as_owner "$4"
	wait "$held" || true
	open_invitations "$3"
}

# 1. the invitation first, held open; then the deactivation
check "1" "an invitation open while its admin is deactivated is withdrawn" 0 \
	"$(held_invitation_then 1 adm1 alt1@x.test "deactivate_staff('0f910000-0000-4000-8000-0000000000e1', 'fired')")"

# 2. the deactivation first, held open; then the invitation
PGAPPNAME=deact2 psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
	-c "SELECT protector.deactivate_staff('0f910000-0000-4000-8000-0000000000e2', 'fired')" \
	-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null 2>&1 &
held=$!
wait_in_sleep deact2
answer=$(invite adm2 alt2@x.test)
wait "$held" || true
check "2" "an invitation written while its admin's deactivation commits is refused" "42501 0" "$answer $(open_invitations alt2@x.test)"

# 3. REPEATABLE READ, the snapshot from before the deactivation
PGAPPNAME=inv3 psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate \
	-c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT tests.authenticate_as('adm3')" \
	-c "SELECT count(*) FROM protector.members" -c "SELECT pg_sleep(1)" \
	-c "INSERT INTO protector.staff_invitations (organization_id, email, role) VALUES ('$ORG', 'alt3@x.test', 'admin')" \
	-c "COMMIT" >"$WORK/inv3.log" 2>&1 &
held=$!
wait_in_sleep inv3
as_owner "deactivate_staff('0f910000-0000-4000-8000-0000000000e3', 'fired')"
wait "$held" || true
answer=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' "$WORK/inv3.log" | head -1)
check "3" "an invitation at REPEATABLE READ from before the deactivation is told to retry" "40001 0" "$answer $(open_invitations alt3@x.test)"

# 4. as 1, the admin made a viewer
check "4" "an invitation open while its admin is made a viewer is withdrawn" 0 \
	"$(held_invitation_then 4 adm4 alt4@x.test "update_staff_permissions('0f910000-0000-4000-8000-0000000000e4', 'viewer')")"

# 5. create_staff_member replacing an open invitation, beside a deactivation
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('adm5')" \
	-c "SELECT protector.create_staff_member('$ORG', 'x5@x.test', 'viewer') IS NOT NULL" -c "COMMIT" >/dev/null
PGAPPNAME=hold5 psql -X -q -d "$DB" -c "BEGIN" -c "SELECT 1 FROM protector.staff_invitations WHERE email = 'x5@x.test' FOR UPDATE" \
	-c "SELECT pg_sleep(2)" -c "ROLLBACK" >/dev/null 2>&1 &
held=$!
wait_in_sleep hold5
PGAPPNAME=inv5 psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('adm5')" \
	-c "SELECT protector.create_staff_member('$ORG', 'x5@x.test', 'viewer') IS NOT NULL" -c "COMMIT" >"$WORK/inv5.log" 2>&1 &
inviting=$!
wait_waiting inv5
PGAPPNAME=deact5 psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
	-c "SELECT protector.deactivate_staff('0f910000-0000-4000-8000-0000000000e5', 'fired') IS NOT NULL" -c "COMMIT" >"$WORK/deact5.log" 2>&1 &
deactivating=$!
wait "$held" "$inviting" "$deactivating" || true
errors=$(cat "$WORK/inv5.log" "$WORK/deact5.log" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | tr '\n' ' ')
check "5" "create_staff_member replacing an invitation beside the admin's deactivation: no error, nothing open" \
	" 0" "$errors $(open_invitations x5@x.test)"

member_role() {		# USER: the role of USER's membership, or none
	psql -X -A -t -d "$DB" -c "SELECT coalesce((SELECT role::text FROM protector.members
		WHERE organization_id = '$ORG' AND user_id = tests.get_supabase_uid('$1')), 'none')"
}
first_sqlstate() { sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' "$1" | head -1; }

# 6. two admins (and two owners) changing each other at the same moment
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['own6a', 'own6b']) u;
INSERT INTO protector.members (id, organization_id, user_id, role, confirmed_at) VALUES
	('0f910000-0000-4000-8000-0000000000c6', '$ORG', tests.get_supabase_uid('own6a'), 'owner', now()),
	('0f910000-0000-4000-8000-0000000000d6', '$ORG', tests.get_supabase_uid('own6b'), 'owner', now());
SQL
crossed() {		# USER-A CALL-A USER-B CALL-B RESET: 15 rounds of both at once
	local i
	for i in $(seq 1 15); do
		psql -X -q -d "$DB" -c "$5" >/dev/null
		psql -X -q -d "$DB" -c "BEGIN" -c "SELECT tests.authenticate_as('$1')" -c "$2" -c "COMMIT" >"$WORK/x6a.$i" 2>&1 &
		psql -X -q -d "$DB" -c "BEGIN" -c "SELECT tests.authenticate_as('$3')" -c "$4" -c "COMMIT" >"$WORK/x6b.$i" 2>&1 &
		wait
	done
	cat "$WORK"/x6a.* "$WORK"/x6b.* | grep -c 'deadlock detected' || true
	rm -f "$WORK"/x6a.* "$WORK"/x6b.*
}
check "6" "two admins deactivating each other at once (direct writes): no deadlock" 0 \
	"$(crossed adm6 "UPDATE protector.members SET active = false WHERE id = '0f910000-0000-4000-8000-0000000000e7'" \
		adm7 "UPDATE protector.members SET active = false WHERE id = '0f910000-0000-4000-8000-0000000000e6'" \
		"UPDATE protector.members SET active = true, role = 'admin' WHERE id IN ('0f910000-0000-4000-8000-0000000000e6', '0f910000-0000-4000-8000-0000000000e7')")"
check "6" "two owners demoting each other at once: no deadlock" 0 \
	"$(crossed own6a "UPDATE protector.members SET role = 'admin' WHERE id = '0f910000-0000-4000-8000-0000000000d6'" \
		own6b "UPDATE protector.members SET role = 'admin' WHERE id = '0f910000-0000-4000-8000-0000000000c6'" \
		"UPDATE protector.members SET role = 'owner', confirmed_at = now() WHERE id IN ('0f910000-0000-4000-8000-0000000000c6', '0f910000-0000-4000-8000-0000000000d6')")"
psql -X -q -d "$DB" -c "UPDATE protector.members SET active = true, role = 'admin' WHERE id IN ('0f910000-0000-4000-8000-0000000000e6', '0f910000-0000-4000-8000-0000000000e7')" >/dev/null

# 7. the insert already under way when the deactivation commits
PGAPPNAME=ins7 psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('adm7')" \
	-c "INSERT INTO protector.members (organization_id, user_id, role)
		SELECT '$ORG', tests.get_supabase_uid('acc7'), 'admin' FROM pg_sleep(1)" \
	-c "COMMIT" >"$WORK/ins7.log" 2>&1 &
held=$!
wait_session ins7 "query LIKE 'INSERT%' AND wait_event = 'PgSleep'"
as_owner "deactivate_staff('0f910000-0000-4000-8000-0000000000e7', 'fired')"
wait "$held" || true
check "7" "an admin's insert of an admin under way while the admin is fired is refused" "42501 none" \
	"$(first_sqlstate "$WORK/ins7.log") $(member_role acc7)"

# 8. REPEATABLE READ, the snapshot from before the deactivation
PGAPPNAME=ins8 psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate \
	-c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT tests.authenticate_as('adm8')" \
	-c "SELECT count(*) FROM protector.members" -c "SELECT pg_sleep(1)" \
	-c "INSERT INTO protector.members (organization_id, user_id, role) VALUES ('$ORG', tests.get_supabase_uid('acc8'), 'admin')" \
	-c "COMMIT" >"$WORK/ins8.log" 2>&1 &
held=$!
wait_in_sleep ins8
as_owner "deactivate_staff('0f910000-0000-4000-8000-0000000000e8', 'fired')"
wait "$held" || true
check "8" "an insert of an admin at REPEATABLE READ from before its admin's deactivation is told to retry" "40001 none" \
	"$(first_sqlstate "$WORK/ins8.log") $(member_role acc8)"

# 9. REPEATABLE READ, the snapshot from before the deactivation
PGAPPNAME=upd9 psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate \
	-c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT tests.authenticate_as('adm9')" \
	-c "SELECT count(*) FROM protector.members" -c "SELECT pg_sleep(1)" \
	-c "UPDATE protector.members SET role = 'admin' WHERE id = '0f910000-0000-4000-8000-0000000000f9'" \
	-c "COMMIT" >"$WORK/upd9.log" 2>&1 &
held=$!
wait_in_sleep upd9
as_owner "deactivate_staff('0f910000-0000-4000-8000-0000000000e9', 'fired')"
wait "$held" || true
check "9" "a promotion at REPEATABLE READ from before its admin's deactivation is told to retry" "40001 viewer" \
	"$(first_sqlstate "$WORK/upd9.log") $(member_role view9)"

# 10. the insert under way when the admin's membership is deleted
PGAPPNAME=ins10 psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('adm10')" \
	-c "INSERT INTO protector.members (organization_id, user_id, role)
		SELECT '$ORG', tests.get_supabase_uid('acc10'), 'admin' FROM pg_sleep(1)" \
	-c "COMMIT" >"$WORK/ins10.log" 2>&1 &
held=$!
wait_session ins10 "query LIKE 'INSERT%' AND wait_event = 'PgSleep'"
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
	-c "DELETE FROM protector.members WHERE id = '0f910000-0000-4000-8000-0000000000ea'" -c "COMMIT" >/dev/null
wait "$held" || true
check "10" "an admin's insert of an admin under way while the admin's membership is deleted is refused" "42501 none" \
	"$(first_sqlstate "$WORK/ins10.log") $(member_role acc10)"

# 11. the delete under way when the admin's membership is deleted
PGAPPNAME=del11 psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('adm11')" \
	-c "DELETE FROM protector.members WHERE id = '0f910000-0000-4000-8000-0000000000fb' AND pg_sleep(1) IS NOT NULL" \
	-c "COMMIT" >"$WORK/del11.log" 2>&1 &
held=$!
wait_session del11 "query LIKE 'DELETE%' AND wait_event = 'PgSleep'"
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
	-c "DELETE FROM protector.members WHERE id = '0f910000-0000-4000-8000-0000000000eb'" -c "COMMIT" >/dev/null
wait "$held" || true
check "11" "an admin's delete of a viewer under way while the admin's membership is deleted is refused" "42501 viewer" \
	"$(first_sqlstate "$WORK/del11.log") $(member_role view11)"

# 13. the lock of a member made an owner while it waited
PGAPPNAME=prom13 psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
	-c "UPDATE protector.members SET role = 'owner' WHERE id = '0f910000-0000-4000-8000-0000000000f9'" \
	-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null 2>&1 &
held=$!
wait_in_sleep prom13
out=$(psql -X -q -A -t -d "$DB" -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('adm6')" \
	-c "SELECT protector_internal.authorize_row('protector.members', '0f910000-0000-4000-8000-0000000000f9', 'members.manage', 'member', true) IS NOT NULL" \
	-c "COMMIT" 2>&1 | grep -m1 -E '^ERROR|^t$' || true)
wait "$held" || true
check "13" "an admin's lock of a member made an owner while it waited is refused" "ERROR:  42501" "$out"

# 12. accepting beside an organization's deletion
ORG12=0f910000-0000-4000-8000-000000000012
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user('inv12', 'inv12@example.com');
UPDATE auth.users SET email_confirmed_at = now() WHERE email = 'inv12@example.com';
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG12', 'Invites 12', 'invites-12');
INSERT INTO protector.staff_invitations (organization_id, email, role, created_at) VALUES
	('$ORG', 'inv12@example.com', 'viewer', now() - interval '1 hour'),
	('$ORG12', 'inv12@example.com', 'viewer', now());
SQL
PGAPPNAME=hold12 psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" \
	-c "INSERT INTO protector.members (organization_id, user_id, role) VALUES ('$ORG12', tests.get_supabase_uid('inv12'), 'viewer')" \
	-c "SELECT pg_sleep(60)" -c "COMMIT" >/dev/null 2>&1 &
held=$!
wait_in_sleep hold12
PGAPPNAME=acc12 psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('inv12')" \
	-c "SELECT cardinality(protector.accept_staff_invitations())" -c "COMMIT" >"$WORK/acc12.log" 2>&1 &
acc=$!
wait_waiting acc12
# (the organization's deletion: the cascade of its invitations, as a
# superuser's, which the policies do not narrow)
del=$(psql -X -q -A -t -d "$DB" -v VERBOSITY=sqlstate -c "SET lock_timeout = '5s'" \
	-c "DELETE FROM protector.organizations WHERE id = '$ORG'" 2>&1 || true)
end_session hold12
wait "$held" || true
wait "$acc" || true
check "12" "invitations accepted beside an organization's deletion: no deadlock, the deletion done, the other joined" "ok 1" \
	"$( [ -z "$del" ] && echo ok || echo "$del") $(grep -m1 -E '^[0-9]+$|ERROR' "$WORK/acc12.log")"

dropdb "$DB"
echo "# invitation_races: $failures failed"
[ "$failures" -eq 0 ]
