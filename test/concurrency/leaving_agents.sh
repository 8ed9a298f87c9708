#!/usr/bin/env bash
# test/concurrency/leaving_agents.sh — a booking given an agent who is
# leaving the organization at that moment (sql/75_bookings_api.sql): the
# writer waits for the leave and is told the agent is not found (P0002),
# as after it, not the foreign key's bare 23503 (its check ran first and
# failed on the member row deleted under it).
# 1. staff setting assigned_agent on a booking;
# 2. staff booking with p_assigned_agent (create_booking);
# 3. a task assigned and a notification addressed to them (their own
#    checks lock the member row too: P0002 assignee / recipient not found);
# 4. the same four writes while the agent is deactivated (a direct write
#    of the row, held open): each waits and is told the agent is no active
#    member (23P01); the notification's check once took only a key-share
#    lock, which a deactivation does not wait for;
# 5. a deactivation while a transaction that holds one of the member's
#    open tasks addresses them a notification: written directly to the
#    member's row it is told to retry (40001), through deactivate_staff it
#    waits for the task; never a deadlock (40P01: the notification's check
#    share-locks the member's row, which the deactivation held while it
#    waited for the task);
# 6. the same with the member given a role that sees no tasks (viewer),
#    which releases their tasks and bookings as a deactivation does
#    (release_on_role_change): written to the row, told to retry (40001);
#    through update_staff_permissions it waits for the task.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_leaving_agents
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f730000-0000-4000-8000-000000000000
VENUE=0f730000-0000-4000-8000-0000000000a1
SERVICE=0f730000-0000-4000-8000-0000000005a1
BOOKING=0f730000-0000-4000-8000-00000000b001
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['fay', 'ada']) u;
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('$ORG', 'Leaving', 'leaving', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at) VALUES
	('$ORG', tests.get_supabase_uid('fay'), 'owner', now());
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('$VENUE', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('$SERVICE', '$ORG', '$VENUE', 'S', '60 minutes', '60 minutes', '400 days', 10, 'shared');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('$BOOKING', '$ORG', '$VENUE', '$SERVICE',
		tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'), 'confirmed');
SQL
failures=0

# ada, an agent again, leaves in a transaction held open for a second
leave_slowly() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
		VALUES ('$ORG', tests.get_supabase_uid('ada'), 'agent', now())" >/dev/null
	PGAPPNAME=leaver psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('ada')" \
		-c "SELECT protector.leave_organization('$ORG')" -c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null 2>&1 &
	leaver=$!
	wait_session leaver "query LIKE 'SELECT pg_sleep%'"
}

check() {
	local name=$1 answer=$2
	if [ "$answer" = P0002 ]; then
		echo "ok - $name while the agent leaves: not found (P0002)"
	else
		echo "not ok - $name while the agent leaves: answered $answer"
		failures=$((failures + 1))
	fi
}

# 1
leave_slowly
answer=$(sqlstate_as fay "UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('ada') WHERE id = '$BOOKING'")
wait "$leaver"
check "assigned_agent written" "$answer"

# 2
leave_slowly
answer=$(sqlstate_as fay "SELECT protector.create_booking('$SERVICE', NULL,
	date_trunc('day', now()) + interval '4 days 10 hours', p_assigned_agent => tests.get_supabase_uid('ada'))")
wait "$leaver"
check "create_booking with p_assigned_agent" "$answer"

# 3
leave_slowly
answer=$(sqlstate_as fay "INSERT INTO protector.tasks (organization_id, title, assignee)
	VALUES ('$ORG', 'Call back', tests.get_supabase_uid('ada'))")
wait "$leaver"
check "a task assigned" "$answer"
leave_slowly
answer=$(sqlstate_as fay "INSERT INTO protector.notifications (organization_id, recipient_id, kind)
	VALUES ('$ORG', tests.get_supabase_uid('ada'), 'note')")
wait "$leaver"
check "a notification addressed" "$answer"

# 4
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
	VALUES ('$ORG', tests.get_supabase_uid('ada'), 'agent', now())" >/dev/null
deactivate_slowly() {
	PGAPPNAME=deactivator psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" \
		-c "UPDATE protector.members SET active = false WHERE organization_id = '$ORG' AND user_id = tests.get_supabase_uid('ada')" \
		-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null 2>&1 &
	deactivator=$!
	wait_session deactivator "query LIKE 'SELECT pg_sleep%'"
}
check_inactive() {
	local name=$1 answer=$2
	wait "$deactivator"
	psql -X -q -d "$DB" -c "UPDATE protector.members SET active = true WHERE organization_id = '$ORG' AND user_id = tests.get_supabase_uid('ada')"
	if [ "$answer" = 23P01 ]; then
		echo "ok - $name while the agent is deactivated: no active member (23P01)"
	else
		echo "not ok - $name while the agent is deactivated: answered $answer"
		failures=$((failures + 1))
	fi
}
deactivate_slowly
check_inactive "assigned_agent written" "$(sqlstate_as fay "UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('ada') WHERE id = '$BOOKING'")"
deactivate_slowly
check_inactive "create_booking with p_assigned_agent" "$(sqlstate_as fay "SELECT protector.create_booking('$SERVICE', NULL,
	date_trunc('day', now()) + interval '4 days 10 hours', p_assigned_agent => tests.get_supabase_uid('ada'))")"
deactivate_slowly
check_inactive "a task assigned" "$(sqlstate_as fay "INSERT INTO protector.tasks (organization_id, title, assignee)
	VALUES ('$ORG', 'Call back', tests.get_supabase_uid('ada'))")"
deactivate_slowly
check_inactive "a notification addressed" "$(sqlstate_as fay "INSERT INTO protector.notifications (organization_id, recipient_id, kind)
	VALUES ('$ORG', tests.get_supabase_uid('ada'), 'note')")"

# and both still take an agent who stays
a1=$(sqlstate_as fay "UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('ada') WHERE id = '$BOOKING'")
a2=$(sqlstate_as fay "SELECT protector.create_booking('$SERVICE', NULL,
	date_trunc('day', now()) + interval '4 days 10 hours', p_assigned_agent => tests.get_supabase_uid('ada'))")
agents=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings WHERE assigned_agent = tests.get_supabase_uid('ada')")
if [ "$a1 $a2 $agents" = "ok ok 2" ]; then
	echo "ok - an agent who stays is taken by both"
else
	echo "not ok - an agent who stays: answered $a1 and $a2, $agents bookings are theirs"
	failures=$((failures + 1))
fi

# 5
TASK=$(psql -X -A -t -q -d "$DB" -c "INSERT INTO protector.tasks (organization_id, title, assignee)
	VALUES ('$ORG', 'Open', tests.get_supabase_uid('ada')) RETURNING id")
# (what: the member's row written to false active, or to role viewer)
deactivate_during_task() {
	local how=$1 what=${2:-active} first second
	PGAPPNAME=task_holder psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('fay')" \
		-c "UPDATE protector.tasks SET title = 'edited' WHERE id = '$TASK'" -c "SELECT pg_sleep(1)" \
		-c "INSERT INTO protector.notifications (organization_id, recipient_id, kind) VALUES ('$ORG', tests.get_supabase_uid('ada'), 'note')" \
		-c "COMMIT" >/dev/null 2>"$WORK/first.err" &
	local holder=$!
	wait_session task_holder "query LIKE 'SELECT pg_sleep%'"
	if [ "$how" = direct ]; then
		second=$(psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate \
			-c "UPDATE protector.members SET $([ "$what" = active ] && echo "active = false" || echo "role = 'viewer'")
				WHERE organization_id = '$ORG' AND user_id = tests.get_supabase_uid('ada')" 2>&1 >/dev/null \
			| sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | head -1 || true)
		second=${second:-ok}
	elif [ "$what" = active ]; then
		second=$(sqlstate_as fay "SELECT protector.deactivate_staff(m.id) FROM protector.members m
			WHERE m.organization_id = '$ORG' AND m.user_id = tests.get_supabase_uid('ada')")
	else
		second=$(sqlstate_as fay "SELECT protector.update_staff_permissions(m.id, 'viewer') FROM protector.members m
			WHERE m.organization_id = '$ORG' AND m.user_id = tests.get_supabase_uid('ada')")
	fi
	wait "$holder" || true
	first=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' "$WORK/first.err" | head -1)
	first=${first:-ok}
	psql -X -q -d "$DB" -c "UPDATE protector.members SET active = true, role = 'agent' WHERE organization_id = '$ORG' AND user_id = tests.get_supabase_uid('ada')" \
		-c "UPDATE protector.tasks SET assignee = tests.get_supabase_uid('ada') WHERE id = '$TASK'"
	echo "$first $second"
}
answer=$(deactivate_during_task direct)
if [ "$answer" = "ok 40001" ]; then
	echo "ok - a deactivation written to the row while a held task's notification waits: told to retry (40001)"
else
	echo "not ok - a deactivation written to the row while a held task's notification waits: answered $answer (want ok 40001)"
	failures=$((failures + 1))
fi
answer=$(deactivate_during_task rpc)
if [ "$answer" = "ok ok" ]; then
	echo "ok - deactivate_staff while a held task's notification waits: it waits for the task, both go through"
else
	echo "not ok - deactivate_staff while a held task's notification waits: answered $answer (want ok ok)"
	failures=$((failures + 1))
fi

# 6
answer=$(deactivate_during_task direct role)
if [ "$answer" = "ok 40001" ]; then
	echo "ok - a role that sees no tasks written to the row while a held task's notification waits: told to retry (40001)"
else
	echo "not ok - a role that sees no tasks written to the row while a held task's notification waits: answered $answer (want ok 40001)"
	failures=$((failures + 1))
fi
answer=$(deactivate_during_task rpc role)
released=$(psql -X -A -t -q -d "$DB" -c "SELECT count(*) FROM protector.staff_activity
	WHERE action = 'staff.role_changed' AND details ->> 'to' = 'viewer'")
if [ "$answer $released" = "ok ok 1" ]; then
	echo "ok - update_staff_permissions to a viewer while a held task's notification waits: it waits for the task, both go through"
else
	echo "not ok - update_staff_permissions to a viewer while a held task's notification waits: answered $answer, $released changes (want ok ok 1)"
	failures=$((failures + 1))
fi

dropdb "$DB"
echo "# leaving_agents: $failures failed"
[ "$failures" -eq 0 ]
