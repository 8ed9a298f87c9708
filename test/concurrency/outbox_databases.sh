#!/usr/bin/env bash
# test/concurrency/outbox_databases.sh — the outbox worker of one database
# among others (an attack on multi-database clusters):
# 1. a database closed to new connections (ALTER DATABASE ... ALLOW_CONNECTIONS
#    false, before maintenance) while sessions still connected keep booking:
#    their announcements are sent (the worker could not connect, and the
#    rows waited for a worker after the database was reopened);
# 2. a database whose worker left keeps its registry slot, and so its
#    floor, while another database announces: the first free-or-idle slot
#    was taken, so the other database took this one's, and this one's next
#    drain read every dead row again (623 buffers after 3,000 announcements
#    under an old snapshot; a few dozen with its floor).  Buffer counts,
#    not time.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_outbox_dbs
OTHER=${DB}_other
dropdb --if-exists "$OTHER" >/dev/null 2>&1 || true
createdb "$OTHER"
psql -X -q -d "$OTHER" -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector CASCADE"
ORG=0f510000-0000-4000-8000-000000000000
for d in "$DB" "$OTHER"; do
	psql -X -q -v ON_ERROR_STOP=1 -d "$d" <<SQL
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Databases', 'outbox-databases');
-- a table of the user's own, announced by protector's trigger: a cheap
-- announcing commit
CREATE TABLE public.jobs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), organization_id uuid NOT NULL, status text);
CREATE TRIGGER jobs_notify AFTER INSERT ON public.jobs REFERENCING NEW TABLE AS changed
	FOR EACH STATEMENT EXECUTE FUNCTION protector.notify_trigger();
SQL
done
failures=0
expect() {	# $1 = description, $2 = expected, $3 = actual
	if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (expected $2, got $3)"; failures=$((failures + 1)); fi
}
no_worker() {	# $1 = database: until its worker left
	for _ in $(seq 1 100); do
		[ "$(psql -X -A -t -d "$1" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'protector outbox' AND datname = '$1'")" = 0 ] && return 0
		sleep 0.2
	done
	echo "# the worker of $1 did not leave"
}
job="INSERT INTO public.jobs (organization_id, status) VALUES ('$ORG', 'queued')"

# --- 1. closed to new connections ---------------------------------------------
# one session: closes the database, books three times, waits, counts what
# is left in the outbox, reopens it
left=$(psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" <<SQL
\\! psql -X -q -d postgres -c "ALTER DATABASE $DB ALLOW_CONNECTIONS false"
$job;
$job;
$job;
SELECT pg_sleep(3) IS NULL AS slept \\gset
SELECT count(*) FROM protector_internal.outbox;
\\! psql -X -q -d postgres -c "ALTER DATABASE $DB ALLOW_CONNECTIONS true"
SQL
)
left=$(grep -v '^$' <<<"$left" | tail -1)
expect "commits of a database closed to new connections are announced (rows left in the outbox after 3 s)" 0 "$left"
no_worker "$DB"

# --- 2. another database announcing keeps this one's floor ---------------------
PGAPPNAME=snapshot psql -X -q -d "$DB" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT count(*) FROM protector.organizations" \
	-c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
holder=$!
wait_session snapshot "query LIKE 'SELECT pg_sleep%'"
echo "$job;" >"$WORK/job.sql"
pgbench -n -c 2 -j 2 -t 1500 -f "$WORK/job.sql" "$DB" >"$WORK/pgbench.log" 2>&1
no_worker "$DB"
hits() { psql -X -A -t -d "$DB" -c "SELECT pg_stat_force_next_flush(); SELECT heap_blks_hit + idx_blks_hit FROM pg_statio_all_tables WHERE relid = 'protector_internal.outbox'::regclass" | tail -1; }
drain_reads() {	# one commit of this database, drained by a new worker: what it read
	local before
	before=$(hits)
	psql -X -q -d "$DB" -c "$job"
	sleep 0.3
	no_worker "$DB"
	echo $(( $(hits) - before ))
}
own=$(drain_reads)
psql -X -q -d "$OTHER" -c "$job"
no_worker "$OTHER"
after_other=$(drain_reads)
echo "# a new worker's first drain read $own buffers; after another database's worker, $after_other"
expect "after another database's worker came and went, this one's next worker starts at its floor (read $after_other, under 300)" 1 \
	"$([ "$after_other" -lt 300 ] && echo 1 || echo 0)"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

dropdb --force "$OTHER"
dropdb --force "$DB"
echo "# outbox_databases: $failures failed"
[ "$failures" -eq 0 ]
