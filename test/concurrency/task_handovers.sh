#!/usr/bin/env bash
# test/concurrency/task_handovers.sh — a booking's task goes to an agent
# only while the booking is theirs (sql/81_staff.sql,
# check_task_assignee), also beside the booking's handover to another
# agent (found by a review of that rule):
# 1. READ COMMITTED: a task written for Ann on her booking while the desk
#    hands the booking to Ben: the handover waits for the task (the check
#    share-locks the booking) and takes it along to Ben (it did not wait,
#    and the task stayed Ann's, who could never finish it);
# 2. REPEATABLE READ: a task for Ann on a booking handed to Ben since the
#    transaction's snapshot is a 40001 (the snapshot said it was Ann's);
# 3. REPEATABLE READ the other way (a later review): the handover of a
#    booking whose task for Ann was committed since its snapshot is a
#    40001 (the task stayed Ann's, and the new agent never saw it);
# 4. and a member made an agent under REPEATABLE READ, given a task of a
#    booking not theirs since the snapshot, is a 40001 (it stayed theirs);
# 5. the check of 4 answers nobody else: a signed-in user of no
#    organization asking it of that member, beside a task given to them
#    since their snapshot, is not told (it told anyone, of any account).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_task_handovers
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
failures=0

ORG=0f920000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['ann', 'ben', 'mia', 'adm', 'eve']) u;
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('$ORG', 'Tasks', 'task-handovers', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role, full_name) VALUES
	('$ORG', tests.get_supabase_uid('ann'), 'agent', 'Ann'), ('$ORG', tests.get_supabase_uid('ben'), 'agent', 'Ben'),
	('$ORG', tests.get_supabase_uid('mia'), 'manager', 'Mia'), ('$ORG', tests.get_supabase_uid('adm'), 'admin', 'Adm');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f920000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0f920000-0000-4000-8000-0000000005a1', '$ORG', '0f920000-0000-4000-8000-0000000000a1', 'S',
		'60 minutes', '60 minutes', '400 days', 10, 4, 'shared');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
SELECT ('0f920000-0000-4000-8000-0000000000b' || n)::uuid, '$ORG', '0f920000-0000-4000-8000-0000000000a1',
	   '0f920000-0000-4000-8000-0000000005a1',
	   tstzrange(date_trunc('day', now()) + (n + 2) * interval '1 day', date_trunc('day', now()) + (n + 2) * interval '1 day' + interval '1 hour'),
	   'confirmed', tests.get_supabase_uid('ann')
FROM generate_series(1, 4) n;
SQL
task_for_ann() {
	echo "INSERT INTO protector.tasks (organization_id, booking_id, title, assignee)
		VALUES ('$ORG', '0f920000-0000-4000-8000-0000000000b$1', '$2', tests.get_supabase_uid('ann'))"
}
hand_to_ben() {
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 \
		-c "UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('ben') WHERE id = '0f920000-0000-4000-8000-0000000000b$1'" \
		>"$WORK/handover$1.log" 2>&1
}

# 1. READ COMMITTED
PGAPPNAME=writer psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "$(task_for_ann 1 'Bring the keys')" \
	-c "SELECT pg_sleep(2)" -c "COMMIT" >"$WORK/writer.log" 2>&1 &
writer=$!
wait_session writer "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
hand_to_ben 1 || true
wait "$writer" || failures=$((failures + 1))
holder=$(psql -X -A -t -d "$DB" -c "SELECT m.full_name FROM protector.tasks t JOIN protector.members m ON m.user_id = t.assignee
	WHERE t.title = 'Bring the keys'")
if [ "$holder" = Ben ]; then
	echo "ok - a task written for a booking's agent while the booking is handed on goes along to the new agent"
else
	echo "not ok - a task written for a booking's agent while the booking is handed on: assigned to '$holder' (expected Ben)"
	cat "$WORK/handover1.log"
	failures=$((failures + 1))
fi

# 2. REPEATABLE READ
PGAPPNAME=writer psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "SELECT count(*) FROM protector.bookings" -c "SELECT pg_sleep(1)" -c "$(task_for_ann 2 'Call back')" -c "COMMIT" \
	>"$WORK/writer2.log" 2>&1 &
writer=$!
wait_session writer "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
hand_to_ben 2 || failures=$((failures + 1))
wait "$writer" || true
answer=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' "$WORK/writer2.log" | head -1)
left=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.tasks WHERE title = 'Call back'")
if [ "$answer" = 40001 ] && [ "$left" = 0 ]; then
	echo "ok - a REPEATABLE READ task for the agent a booking was handed away from since the snapshot is told to retry"
else
	echo "not ok - a REPEATABLE READ task for the former agent: answered '$answer', tasks written: $left"
	failures=$((failures + 1))
fi

# rr_race APP SQL WRITE: APP runs SQL in a REPEATABLE READ transaction
# whose snapshot is taken before WRITE commits; prints its SQLSTATE or ok
rr_race() {
	PGAPPNAME=$1 psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
		-c "SELECT tests.authenticate_as('adm')" -c "SELECT count(*) FROM protector.tasks" -c "SELECT pg_sleep(1)" -c "$2" \
		-c "COMMIT" >"$WORK/$1.log" 2>&1 &
	local rr=$!
	wait_session "$1" "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "$3" >/dev/null
	wait "$rr" || true
	local state
	state=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' "$WORK/$1.log" | head -1)
	echo "${state:-ok}"
}

# 3. the handover under REPEATABLE READ
answer=$(rr_race handover "UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('ben') WHERE id = '0f920000-0000-4000-8000-0000000000b3'" \
	"$(task_for_ann 3 'Bring the van')")
if [ "$answer" = 40001 ]; then
	echo "ok - a REPEATABLE READ handover of a booking whose task for its agent was written since the snapshot is told to retry"
else
	echo "not ok - a REPEATABLE READ handover past a task written since its snapshot: answered $answer (the task stays with $(psql -X -A -t -d "$DB" -c "SELECT m.full_name FROM protector.tasks t JOIN protector.members m ON m.user_id = t.assignee WHERE t.title = 'Bring the van'"))"
	failures=$((failures + 1))
fi

# 4. a manager made an agent under REPEATABLE READ, given a task of Ann's
# booking since the snapshot
answer=$(rr_race promote "SELECT protector.update_staff_permissions((SELECT id FROM protector.members WHERE full_name = 'Mia'), 'agent')" \
	"INSERT INTO protector.tasks (organization_id, booking_id, title, assignee)
	 VALUES ('$ORG', '0f920000-0000-4000-8000-0000000000b4', 'Call the guest', tests.get_supabase_uid('mia'))")
if [ "$answer" = 40001 ]; then
	echo "ok - a member made an agent under REPEATABLE READ, given a task of a booking not theirs since the snapshot, is told to retry"
else
	echo "not ok - a member made an agent under REPEATABLE READ past a task given since: answered $answer"
	failures=$((failures + 1))
fi

# 5. the same check asked by an outsider (eve) of Mia, still a manager,
# given a task of a booking not hers since eve's snapshot (Mia's member id
# as an outsider would have it: known, not read)
mia=$(psql -X -A -t -d "$DB" -c "SELECT id FROM protector.members WHERE user_id = tests.get_supabase_uid('mia')")
answer=$(PGAPPNAME=outsider psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "SELECT tests.authenticate_as('eve')" -c "SELECT count(*) FROM protector.bookings" -c "SELECT pg_sleep(1)" \
	-c "SELECT protector_internal.refuse_unseen_foreign_tasks('$mia')" \
	-c "COMMIT" 2>&1 >/dev/null &
	wait_session outsider "query LIKE 'SELECT pg_sleep%'" >&2 || failures=$((failures + 1))
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >/dev/null -c "INSERT INTO protector.tasks (organization_id, booking_id, title, assignee)
		VALUES ('$ORG', '0f920000-0000-4000-8000-0000000000b1', 'Spare keys', tests.get_supabase_uid('mia'))"
	wait)
state=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' <<<"$answer" | head -1)
if [ -z "$state" ]; then
	echo "ok - the check of a member made an agent tells an outsider nothing of the member's tasks"
else
	echo "not ok - an outsider asking the check of another tenant's member: answered $state"
	failures=$((failures + 1))
fi

dropdb "$DB"
echo "# task_handovers: $failures failed"
[ "$failures" -eq 0 ]
