#!/usr/bin/env bash
# test/concurrency/restore_locks.sh — the locks a restore's DDL waits for
# (lock_for_restore(), sql/98_restore.sql): Realtime, an audit trigger and
# the keys to auth.users come back beside readers and autovacuum, and a
# parallel load is never held up behind them for long.  A session stands
# in for autovacuum (SHARE UPDATE EXCLUSIVE on tasks) throughout.
# 1. Waiting for tasks, the restore holds no other table it asked for:
#    bookings stay free (the first version held bookings while it waited
#    for tasks, where a session waiting for bookings since could be the
#    one a deadlock check aborts); when the holder ends, both are taken.
# 2. A load that begins while it waits (an INSERT into protector's tables
#    with row_security off, whose end takes the restore's lock) is held up
#    a turn at most, not until the holder ends.
# 3. A session's lock_timeout bounds the whole wait (else a minute: pg_dump's
#    scripts set lock_timeout = 0): false with a WARNING, the session's
#    lock_timeout is as it was, and the session waits no more (a reader
#    that never ended held up every later load's end).
# 4. While a load runs, it does not wait at all (false); a mode it does
#    not take is refused (22023).
# 5. Under session_replication_role = replica, where a load writes its own
#    table only and no load's end runs, it waits as DDL does, beside a load
#    too (the restored Realtime state and audit settings came back without
#    their DDL there before).
# 6. The publication pg_dump's post-data makes (row_security off) beside a
#    load of tasks: it waits for the load without holding bookings (it
#    altered bookings, then waited for tasks: a load's end inserting rows
#    set aside into bookings deadlocked with it), then adds all four.
# 7. loads_running() sees a load begun within its caller's transaction.
# 8. The restored Realtime row beside the last load, of a published table:
#    that load's drain cannot alter its own table; its commit does.
# 9. The publication beside a load that runs on and a reader idle in its
#    transaction: the reader's time counts toward the bound.
# 10. The commit's own attempt beside a cursor keeping a published table
#    open goes through once, and the commit ends (it looped when the
#    attempt altered the table).  11. A load, then Realtime turned off, in one
#    transaction: it stays off.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_restore_locks
failures=0
ok() { echo "ok - $1"; }
fail() { echo "not ok - $1"; failures=$((failures + 1)); }

# until the query answers 1 (at most 20 s)
await_one() {
	for _ in $(seq 200); do
		[ "$(psql -X -A -t -d "$DB" -c "$1")" != 1 ] || return 0
		sleep 0.1
	done
	echo "# gave up waiting for: $1"
	return 1
}
# the stand-in for autovacuum, until terminated
hold_tasks() {
	PGAPPNAME=rl_holder psql -X -q -d "$DB" -c "BEGIN" -c "LOCK TABLE protector.tasks IN SHARE UPDATE EXCLUSIVE MODE" \
		-c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
	holder=$!
	await_one "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE a.application_name = 'rl_holder' AND l.relation = 'protector.tasks'::regclass AND l.granted"
}
release_tasks() {
	psql -X -q -d "$DB" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rl_holder'" >/dev/null
	wait "$holder" || true
}
# until the named session waits for a lock (at most 20 s)
await_wait() {
	for _ in $(seq 200); do
		[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE a.application_name = '$1' AND NOT l.granted")" = 0 ] || return 0
		sleep 0.1
	done
	return 1
}
# in how many of ten looks, PAUSE seconds apart, the named session holds
# a lock on bookings
bookings_held() {
	local held=0
	for _ in $(seq 10); do
		held=$((held + $(psql -X -A -t -d "$DB" -c "SELECT (count(*) > 0)::int FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE a.application_name = '$1' AND l.relation = 'protector.bookings'::regclass AND l.granted")))
		sleep "$2"
	done
	echo "$held"
}
LOCK_BOTH="SELECT protector_internal.lock_for_restore('{protector.bookings,protector.tasks}', 'ACCESS EXCLUSIVE')"

# 1
hold_tasks
PGAPPNAME=rl_restore psql -X -q -A -t -d "$DB" -c "BEGIN" -c "$LOCK_BOTH" -c "COMMIT" >"$WORK/one.out" 2>&1 &
restore=$!
await_wait rl_restore || fail "the restore never waited for the holder"
# ten looks over two turns (1.5 x deadlock_timeout each): bookings held by
# it in at most one (a turn's start takes it, and gives it back at once)
held=$(bookings_held rl_restore 0.3)
if [ "$held" -le 1 ]; then ok "waiting for tasks, it holds bookings in $held of 10 looks"; else fail "waiting for tasks, it holds bookings in $held of 10 looks"; fi
release_tasks
wait "$restore" || true
if [ "$(tr -d '\n' <"$WORK/one.out")" = t ]; then ok "once the holder ends, both are taken"; else fail "once the holder ends, both are taken: $(cat "$WORK/one.out")"; fi

# 2
hold_tasks
PGAPPNAME=rl_restore psql -X -A -t -d "$DB" -c "$LOCK_BOTH" >"$WORK/two.out" 2>&1 &
restore=$!
await_wait rl_restore || fail "the restore never waited for the holder"
PGAPPNAME=rl_load psql -X -q -d "$DB" -c "SET row_security = off" \
	-c "INSERT INTO protector.organizations (id, name, slug) VALUES ('0f700000-0000-4000-8000-000000000001', 'Load', 'restore-locks')" \
	>"$WORK/load.out" 2>&1 &
load=$!
loaded=no
for _ in $(seq 200); do
	if ! kill -0 "$load" 2>/dev/null; then loaded=yes; break; fi
	sleep 0.1
done
release_tasks
wait "$load" || loaded="failed: $(cat "$WORK/load.out")"
wait "$restore" || true
if [ "$loaded" = yes ]; then ok "a load begun meanwhile ends while the holder stays"; else fail "a load begun meanwhile ends while the holder stays: $loaded"; fi

# 3
hold_tasks
out=$(PGOPTIONS="-c lock_timeout=2s" psql -X -A -t -d "$DB" -c "$LOCK_BOTH" -c "$LOCK_BOTH" -c "SHOW lock_timeout" 2>&1 | tr '\n' ' ')
release_tasks
case "$out" in
	"WARNING:  protector: gave up waiting for {protector.bookings,protector.tasks} after 00:00:02 "*" f f 2s ") ok "lock_timeout bounds the whole wait; the session then waits no more" ;;
	*) fail "lock_timeout bounds the whole wait; the session then waits no more: $out" ;;
esac

# 4
hold_tasks
PGAPPNAME=rl_load psql -X -q -d "$DB" -c "INSERT INTO protector.organizations (id, name, slug)
	SELECT '0f700000-0000-4000-8000-000000000002', 'Slow', 'restore-locks-slow' WHERE pg_sleep(30)::text = 'never'" >/dev/null 2>&1 &
load=$!
await_one "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rl_load' AND state = 'active'"
out=$(psql -X -q -A -t -d "$DB" -c "SET lock_timeout = '10s'" -c "$LOCK_BOTH" 2>&1 | tr '\n' ' ')
if [ "$out" = "f " ]; then ok "while a load runs it does not wait"; else fail "while a load runs it does not wait: $out"; fi
# 5. under replica no load's end runs (nor tries again): it waits for the
# holder even beside the load, and takes both once the holder ends
PGAPPNAME=rl_restore PGOPTIONS="-c session_replication_role=replica" psql -X -q -A -t -d "$DB" -c "$LOCK_BOTH" >"$WORK/five.out" 2>&1 &
restore=$!
if await_wait rl_restore; then ok "under replica it waits beside a load"; else fail "under replica it waits beside a load: $(cat "$WORK/five.out")"; fi
release_tasks
wait "$restore" || true
if [ "$(tr -d '\n' <"$WORK/five.out")" = t ]; then ok "under replica, once the holder ends, both are taken"; else fail "under replica, once the holder ends, both are taken: $(cat "$WORK/five.out")"; fi
psql -X -q -d "$DB" -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'rl_load'" >/dev/null
wait "$load" || true
# 7. loads_running() asked twice in one transaction sees a load begun in
# between (pg_stat_activity kept its first answer: a turn's second look
# missed the load, and one of the two ended in a deadlock)
PGAPPNAME=rl_load psql -X -q -d "$DB" -c "SELECT pg_sleep(0.5)" -c "INSERT INTO protector.organizations (id, name, slug)
	SELECT '0f700000-0000-4000-8000-000000000003', 'Later', 'restore-locks-later' WHERE pg_sleep(3)::text = 'never'" >/dev/null 2>&1 &
load=$!
out=$(psql -X -q -A -t -d "$DB" -c "BEGIN" -c "SELECT protector_internal.loads_running()" -c "SELECT pg_sleep(1.5)" \
	-c "SELECT protector_internal.loads_running()" -c "COMMIT" 2>&1 | tr '\n' ' ')
wait "$load" || true
if [ "$out" = "f  t " ]; then ok "a load begun within the transaction is seen"; else fail "a load begun within the transaction is seen: $out"; fi

# 6
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector_internal.realtime_state VALUES (true)"
PGAPPNAME=rl_load psql -X -q -d "$DB" -c "SET row_security = off" -c "INSERT INTO protector.tasks
	SELECT (NULL::protector.tasks).* FROM generate_series(1, 1) WHERE pg_sleep(4)::text = 'never'" >"$WORK/six_load.out" 2>&1 &
load=$!
await_one "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rl_load' AND state = 'active'"
PGAPPNAME=rl_publication psql -X -q -d "$DB" -c "SET client_min_messages = error" -c "SET row_security = off" \
	-c "CREATE PUBLICATION supabase_realtime" >"$WORK/six.out" 2>&1 &
publication=$!
held=$(bookings_held rl_publication 0.2)
wait "$load" || true
wait "$publication" || true
if [ "$held" -le 1 ]; then ok "the publication made beside a load of tasks holds bookings in $held of 10 looks"; else fail "the publication made beside a load of tasks holds bookings in $held of 10 looks"; fi
published=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = 'protector'")
if [ "$published" = 4 ] && [ ! -s "$WORK/six.out" ]; then ok "once the load ends, its tables join the publication"; else fail "once the load ends, its tables join the publication: $published $(cat "$WORK/six.out")"; fi

# 8. the restored Realtime row comes while a load of tasks runs (kept for
# a later load's end), and that load is the last: its own drain cannot
# alter tasks while its COPY runs; its commit does (Realtime stayed off,
# exit 0, no word)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SET client_min_messages = warning" -c "SELECT protector.disable_realtime()" >/dev/null
PGAPPNAME=rl_load psql -X -q -d "$DB" -c "SET row_security = off" -c "INSERT INTO protector.tasks
	SELECT (NULL::protector.tasks).* FROM generate_series(1, 1) WHERE pg_sleep(2)::text = 'never'" >"$WORK/eight_load.out" 2>&1 &
load=$!
await_one "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rl_load' AND state = 'active'"
psql -X -q -d "$DB" -c "SET row_security = off" -c "INSERT INTO protector_internal.realtime_state VALUES (true)" >"$WORK/eight.out" 2>&1
wait "$load" || true
published=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = 'protector'")
if [ "$published" = 4 ] && [ ! -s "$WORK/eight.out" ] && [ ! -s "$WORK/eight_load.out" ]; then
	ok "the restored Realtime row beside the last load, of a published table: applied at that load's commit"
else
	fail "the restored Realtime row beside the last load, of a published table: $published tables, $(cat "$WORK/eight.out" "$WORK/eight_load.out")"
fi

# 9. the publication beside a load of venues (not published) that runs
# on, while a reader idle in its transaction holds bookings: polling for
# the loads' end never ended; the reader's time counts toward the bound
# (here the session's lock_timeout), then a WARNING
PGAPPNAME=rl_load psql -X -q -d "$DB" -c "INSERT INTO protector.venues (organization_id, name, timezone)
	SELECT NULL, 'never', 'UTC' WHERE pg_sleep(20)::text = 'never'" >/dev/null 2>&1 &
load=$!
psql -X -q -d "$DB" -c "DROP PUBLICATION supabase_realtime" -c "INSERT INTO protector_internal.realtime_state VALUES (true) ON CONFLICT DO NOTHING" >/dev/null
PGAPPNAME=rl_holder psql -X -q -d "$DB" -c "BEGIN" -c "SELECT count(*) FROM protector.bookings" -c "SELECT pg_sleep(20)" >/dev/null 2>&1 &
holder=$!
await_one "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rl_load' AND state = 'active'"
await_one "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'rl_holder' AND l.relation = 'protector.bookings'::regclass"
out=$(PGOPTIONS="-c lock_timeout=2s" timeout 15 psql -X -q -d "$DB" -c "SET row_security = off" -c "CREATE PUBLICATION supabase_realtime" 2>&1 |
	grep -cE 'WARNING:  protector: (gave up waiting|not back in Supabase Realtime)' || true)
psql -X -q -d "$DB" -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name IN ('rl_load', 'rl_holder')" >/dev/null
wait "$load" "$holder" || true
if [ "$out" = 2 ]; then ok "the publication beside a load that runs on and a reader: it gives up, with a WARNING"
else fail "the publication beside a load that runs on and a reader: $out WARNINGs (still polling after 15 s?)"; fi

# 10. the commit's attempt beside a cursor of the same transaction that
# keeps notifications open: once it failed as the drain's did (ALTER TABLE
# of an open table, for the replica identity) and set itself again at each
# attempt, and looped; since the tables keep their default identity
# nothing alters them, and it goes through once: no WARNING, the commit
# ends, and the four tables are published
psql -X -q -d "$DB" -c "SET client_min_messages = warning" -c "SELECT protector.disable_realtime()" \
	-c "INSERT INTO protector_internal.realtime_state VALUES (true)" >/dev/null
out=$(timeout 20 psql -X -q -d "$DB" 2>&1 <<'SQL' | grep -c 'not back in Supabase Realtime' || true
BEGIN;
SET LOCAL row_security = off;
DECLARE c CURSOR FOR SELECT * FROM protector.notifications;
FETCH 1 FROM c;
INSERT INTO protector.tasks SELECT (NULL::protector.tasks).* WHERE false;
COMMIT;
SQL
)
published=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = 'protector'")
if [ "$out" = 0 ] && [ "$published" = 4 ]; then ok "the commit's own attempt beside an open cursor goes through once, and the commit ends"
else fail "the commit's own attempt beside an open cursor: $out WARNINGs, $published tables published (looping?)"; fi
# 11. a load, then Realtime turned off, in one transaction: it stays off
psql -X -q -d "$DB" >/dev/null 2>&1 <<'SQL'
BEGIN;
SET LOCAL row_security = off;
INSERT INTO protector.tasks SELECT (NULL::protector.tasks).* WHERE false;
SET LOCAL row_security = on;
SET LOCAL client_min_messages = warning;
SELECT protector.disable_realtime();
COMMIT;
SQL
published=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'supabase_realtime' AND schemaname = 'protector'")
if [ "$published" = 0 ]; then ok "a load, then Realtime turned off in its transaction: it stays off"
else fail "a load, then Realtime turned off in its transaction: $published tables published at commit"; fi

out=$(psql -X -A -t -d "$DB" -c "SELECT protector_internal.lock_for_restore('{protector.tasks}', 'SHARE')" 2>&1 | head -1 || true)
case "$out" in
	*"lock_for_restore takes SHARE ROW EXCLUSIVE or ACCESS EXCLUSIVE, not SHARE"*) ok "a mode it does not take is refused" ;;
	*) fail "a mode it does not take is refused: $out" ;;
esac

dropdb "$DB"
echo "# restore_locks: $failures failed"
[ "$failures" -eq 0 ]
