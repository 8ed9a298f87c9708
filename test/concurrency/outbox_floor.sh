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
# 2. nothing is skipped: a transaction that drew its outbox id and then
#    waits (here for a row of another, uncommitted transaction with the id
#    it drew: the unique index makes it wait after drawing) commits after
#    later ids were drained and the floor could have passed it: its
#    announcement still arrives (the floor waits for every transaction that
#    could hold a lower id).
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
# (the floor moves once every transaction of the cluster that holds an xid
# older than its mark has ended: a transaction left open by another test
# beside this one holds it back, as any writer kept open does)
for _ in $(seq 1 300); do
	[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()")" = 0 ] && break
	sleep 0.2
done
psql -X -A -t -d "$DB" -c "SELECT '# a writer open: ' || datname || ' ' || pid || ' ' || left(query, 60) FROM pg_stat_activity
	WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
PGAPPNAME=snapshot psql -X -q -d "$DB" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT count(*) FROM protector.organizations" \
	-c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
wait_session snapshot "query LIKE 'SELECT pg_sleep%'"
echo "INSERT INTO public.jobs (organization_id, status) VALUES ('$ORG', 'queued');" >"$WORK/job.sql"
pgbench -n -c 2 -j 2 -t 750 -f "$WORK/job.sql" "$DB" >"$WORK/pgbench.log" 2>&1
drained || echo "# the outbox did not drain"
no_worker || echo "# the worker did not leave"
before=$(heap_hits)
# (paced, not polled: polling the outbox would add its own reads to the
# pages counted)
for _ in $(seq 1 40); do
	psql -X -q -d "$DB" -c "INSERT INTO public.jobs (organization_id, status) VALUES ('$ORG', 'queued')"
	sleep 0.05
done
drained || true
no_worker || echo "# the worker did not leave"
after=$(heap_hits)
per=$(( (after - before) / 40 ))
expect "with 1,500 dead outbox rows under an old snapshot, a drain reads few pages (read $per per commit, under 300)" 1 \
	"$([ "$per" -lt 300 ] && echo 1 || echo 0)"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

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

dropdb --force "$DB"
echo "# outbox_floor: $failures failed"
[ "$failures" -eq 0 ]
