#!/usr/bin/env bash
# test/concurrency/outbox_floor.sh — the outbox worker's scan starts past a
# floor below which every row is gone (src/outbox.c, floor_id):
# 1. cost: while an old snapshot is open, every row the worker deleted
#    stays in the id index as a dead entry, and each drain stepped over
#    all of them from the index's start (an attack review: 54,000 buffers
#    per drain of an empty outbox after 100,000 announcements, latency
#    p99 246 ms).  After 1,500 announcements under an open REPEATABLE READ
#    snapshot, 40 more commits, drained one at a time, read the outbox's
#    heap a few pages each, not 1,500 (buffer counts, not time: 16-70 per
#    commit, the committers' own writes included, against 1,500 and more scanning
#    from the index's start; under 300 passes);
#    And so with no snapshot of this database but a transaction holding an
#    xid open in another database and a prepared one forgotten in this
#    one: neither draws this outbox's ids, but the floor waited for the
#    cluster's oldest transaction, and each drain read every row announced
#    since (an attack review: 450 buffers a commit after 3,000
#    announcements); 3,000 announcements, then under 300 a commit;
# 2. nothing is skipped: a transaction that drew its outbox id and then
#    waits (here for a row of another, uncommitted transaction with the id
#    it drew: the unique index makes it wait after drawing) commits after
#    later ids were drained and the floor could have passed it: its
#    announcement still arrives (the floor waits for every transaction that
#    could hold a lower id);
# 3. nothing is stepped over when another drain deletes rows of a batch:
#    fewer than a batch taken was read as "every row past the floor is
#    gone", and the floor jumped past the rows beyond the batch (a review:
#    two drains of one database meet when a worker leaving finds rows as
#    the next one starts; 100 committed announcements were never sent).
#    A trigger of the test holds the worker's batch on an advisory lock
#    after it chose its 1,000 rows while another session deletes one of
#    them: the 100 rows past the batch are still sent.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_outbox_floor
ORG=0f500000-0000-4000-8000-000000000000
CHANNEL=protector_${ORG//-/}
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Floor', 'outbox-floor');
-- a table of the user's own, announced by protector's trigger: a cheap
-- announcing commit
CREATE TABLE public.jobs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), organization_id uuid NOT NULL, status text);
CREATE TRIGGER jobs_notify AFTER INSERT ON public.jobs REFERENCING NEW TABLE AS changed
	FOR EACH STATEMENT EXECUTE FUNCTION protector.notify_trigger();
SQL
failures=0
expect() {	# $1 = description, $2 = expected, $3 = actual
	if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (expected $2, got $3)"; failures=$((failures + 1)); fi
}
outbox_rows() { psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector_internal.outbox"; }
drained() {	# waits until the outbox is empty
	for _ in $(seq 1 100); do
		[ "$(outbox_rows)" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
# (a worker's statistics reach the views when it reports them: at the
# latest at its exit, 2 s after its last drain)
no_worker() {
	for _ in $(seq 1 100); do
		[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'protector outbox'")" = 0 ] && return 0
		sleep 0.2
	done
	return 1
}
heap_hits() { psql -X -A -t -d "$DB" -c "SELECT pg_stat_force_next_flush(); SELECT heap_blks_hit + idx_blks_hit FROM pg_statio_all_tables WHERE relid = 'protector_internal.outbox'::regclass" | tail -1; }

# --- 1. an old snapshot open: drains read a few pages each -------------------
# (the floor moves once every transaction of this database that holds an
# xid older than its mark has ended: a writer of it kept open holds it back)
for _ in $(seq 1 300); do
	[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
		AND datname = current_database()")" = 0 ] && break
	sleep 0.2
done
psql -X -A -t -d "$DB" -c "SELECT '# a writer open: ' || datname || ' ' || pid || ' ' || left(query, 60) FROM pg_stat_activity
	WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()"
PGAPPNAME=snapshot psql -X -q -d "$DB" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT count(*) FROM protector.organizations" \
	-c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
wait_session snapshot "query LIKE 'SELECT pg_sleep%'"
echo "INSERT INTO public.jobs (organization_id, status) VALUES ('$ORG', 'queued');" >"$WORK/job.sql"
# $1 announcements from two clients, then 40 commits drained one at a
# time: the outbox pages each of those read
reads_per_commit() {
	local before after
	pgbench -n -c 2 -j 2 -t "$(( $1 / 2 ))" -f "$WORK/job.sql" "$DB" >"$WORK/pgbench.log" 2>&1
	drained || echo "# the outbox did not drain" >&2
	no_worker || echo "# the worker did not leave" >&2
	before=$(heap_hits)
	# (paced, not polled: polling the outbox would add its own reads to
	# the pages counted)
	for _ in $(seq 1 40); do
		psql -X -q -d "$DB" -c "INSERT INTO public.jobs (organization_id, status) VALUES ('$ORG', 'queued')"
		sleep 0.05
	done
	drained || true
	no_worker || echo "# the worker did not leave" >&2
	after=$(heap_hits)
	echo $(( (after - before) / 40 ))
}
per=$(reads_per_commit 1500)
expect "with 1,500 dead outbox rows under an old snapshot, a drain reads few pages (read $per per commit, under 300)" 1 \
	"$([ "$per" -lt 300 ] && echo 1 || echo 0)"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

# --- 1b. a writer open in another database, a prepared one in this ----------
createdb "${DB}_other"
PGAPPNAME=other_writer psql -X -q -d "${DB}_other" -c "BEGIN" -c "SELECT txid_current()" \
	-c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
other=$!
wait_session other_writer "query LIKE 'SELECT pg_sleep%'"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "CREATE TABLE public.forgotten (n int)" -c "BEGIN" \
	-c "INSERT INTO public.forgotten VALUES (1)" -c "PREPARE TRANSACTION 'outbox_floor_forgotten'"
per=$(reads_per_commit 3000)
expect "with 3,000 dead outbox rows, another database's writer and a prepared transaction open, a drain reads few pages (read $per per commit, under 300)" 1 \
	"$([ "$per" -lt 300 ] && echo 1 || echo 0)"
psql -X -q -d "$DB" -c "ROLLBACK PREPARED 'outbox_floor_forgotten'"
kill "$other" 2>/dev/null || true
wait "$other" 2>/dev/null || true
dropdb --force "${DB}_other"

# --- 2. a transaction that drew a lower id commits later ---------------------
PGAPPNAME=listener psql -X -d "$DB" >"$WORK/listen.log" 2>&1 <<SQL &
LISTEN $CHANNEL;
SELECT pg_sleep(6);
SQL
listener=$!
# (until the listener sleeps: its LISTEN is done)
wait_session listener "query LIKE 'SELECT pg_sleep%'"
next=$(psql -X -A -t -d "$DB" -c "SELECT last_value + 1 FROM protector_internal.outbox_id_seq")
# T0 holds a row with the id the next commit will draw, uncommitted
PGAPPNAME=t0 psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" \
	-c "INSERT INTO protector_internal.outbox (id, organization_id, payloads) OVERRIDING SYSTEM VALUE VALUES ($next, '$ORG', 'held')" \
	-c "SELECT pg_sleep(3)" -c "ROLLBACK" >/dev/null 2>&1 &
holder=$!
wait_session t0 "query LIKE 'SELECT pg_sleep%'"
# S draws that id at its commit and waits for T0
PGAPPNAME=straggler psql -X -q -d "$DB" -v ON_ERROR_STOP=1 \
	-c "INSERT INTO public.jobs (id, organization_id, status) VALUES ('0f500000-0000-4000-8000-000000005700', '$ORG', 'straggler')" \
	>"$WORK/straggler.log" 2>&1 &
straggler=$!
wait_session straggler "wait_event_type = 'Lock'"
# later commits draw higher ids and are drained meanwhile, one by one
for i in $(seq 1 6); do
	psql -X -q -d "$DB" -c "INSERT INTO public.jobs (id, organization_id, status) VALUES ('0f500000-0000-4000-8000-00000000570$i', '$ORG', 'later')"
	drained || echo "# the outbox did not drain"
done
wait "$holder" || true
wait "$straggler" || true
drained || true
wait "$listener" || true
got=$(sed -n 's/^Asynchronous notification "[^"]*" with payload "\(.*\)" received from server process with PID [0-9]*\.$/\1/p' "$WORK/listen.log")
expect "the six later commits were announced" 6 "$(grep -c '"status":"later"' <<<"$got" || true)"
expect "the commit that drew a lower id and committed after them was announced" 1 "$(grep -c '"status":"straggler"' <<<"$got" || true)"
expect "T0's rolled-back row was not" 0 "$(grep -c 'held' <<<"$got" || true)"
expect "the outbox is empty" 0 "$(outbox_rows)"

# --- 3. another drain deletes a row of the worker's batch ---------------------
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
CREATE TABLE public.outbox_gate (lock_key integer);
INSERT INTO public.outbox_gate VALUES (42);
-- the worker's deletes wait for the lock the gate names, row by row
CREATE FUNCTION public.outbox_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT backend_type FROM pg_stat_activity WHERE pid = pg_backend_pid()) = 'protector outbox' THEN
		PERFORM pg_advisory_xact_lock_shared((SELECT lock_key FROM public.outbox_gate));
	END IF;
	RETURN OLD;
END $$;
CREATE TRIGGER outbox_gate BEFORE DELETE ON protector_internal.outbox FOR EACH ROW EXECUTE FUNCTION public.outbox_gate();
SQL
hold() {	# $1 = lock key: a session holding it until killed
	PGAPPNAME="hold$1" psql -X -q -d "$DB" -c "SELECT pg_advisory_lock($1), pg_sleep(120)" >/dev/null 2>&1 &
	for _ in $(seq 1 100); do
		[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hold$1' AND query LIKE 'SELECT pg_advisory_lock%' AND wait_event IS DISTINCT FROM 'advisory'")" = 1 ] && break
		sleep 0.1
	done
}
release() { psql -X -q -d "$DB" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hold$1'" >/dev/null; }
worker_waits() {	# until the worker waits for an advisory lock
	for _ in $(seq 1 150); do
		[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'protector outbox' AND wait_event = 'advisory'")" = 1 ] && return 0
		sleep 0.1
	done
	echo "# the worker never waited at the gate"
}
hold 42
hold 43
# a first commit: its worker's batch waits at the gate (42)
psql -X -q -d "$DB" -c "INSERT INTO public.jobs (organization_id, status) VALUES ('$ORG', 'first')"
worker_waits
# 1,100 more commit meanwhile; the next batch's rows will wait at 43
for i in $(seq 1 1100); do echo "INSERT INTO public.jobs (organization_id, status) VALUES ('$ORG', 'burst');"; done |
	psql -X -q -d "$DB" >/dev/null
psql -X -q -d "$DB" -c "UPDATE public.outbox_gate SET lock_key = 43"
release 42
# the next batch chose the 1,000 oldest rows and waits at its first: one
# of them goes meanwhile, as another drain would take it
worker_waits
deleted=$(psql -X -A -t -d "$DB" -c "DELETE FROM protector_internal.outbox WHERE id = (SELECT id FROM protector_internal.outbox ORDER BY id OFFSET 500 LIMIT 1) RETURNING id")
release 43
drained || drained || drained || true
expect "a row of the batch deleted by another drain ($deleted): the rows past the batch are still taken" 0 "$(outbox_rows)"
psql -X -q -d "$DB" -c "DROP TRIGGER outbox_gate ON protector_internal.outbox"

dropdb --force "$DB"
echo "# outbox_floor: $failures failed"
[ "$failures" -eq 0 ]
