#!/usr/bin/env bash
# test/ops/sync_standby.sh — live updates on a cluster with synchronous
# replication its sessions opt out of (synchronous_standby_names set, the
# standby not connected, synchronous_commit = local): the announcements'
# worker commits with a local flush, not waiting for the standby.  It
# committed with synchronous_commit = on, waited for the absent standby
# for good holding PostgreSQL's cluster-wide NOTIFY lock, announced
# nothing, and every NOTIFY of the cluster hung behind it (found by an
# attack review of live updates).  Starts its own cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${SYNC_STANDBY_CLUSTER:-}" ]; then
	exec env SYNC_STANDBY_CLUSTER=1 bash scripts/pg-cluster.sh -o synchronous_standby_names=standby1 \
		-o synchronous_commit=local bash "$0"
fi
failures=0
createdb app
psql -X -q -v ON_ERROR_STOP=1 -d app >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION protector CASCADE;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0f940000-0000-4000-8000-000000000000', 'Sync', 'sync-standby');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0f940000-0000-4000-8000-0000000000a1', '0f940000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0f940000-0000-4000-8000-0000000005a1', '0f940000-0000-4000-8000-000000000000', '0f940000-0000-4000-8000-0000000000a1',
		'S', '60 minutes', '60 minutes', '30 days', 10, 4, 'shared');
SQL
# two bookings announced through the worker (each statement its own commit)
psql -X -q -v ON_ERROR_STOP=1 -d app -c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	VALUES ('0f940000-0000-4000-8000-000000000000', '0f940000-0000-4000-8000-0000000000a1', '0f940000-0000-4000-8000-0000000005a1',
			tstzrange(date_trunc('day', now()) + interval '2 days 10 hours', date_trunc('day', now()) + interval '2 days 11 hours'))" \
	-c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	VALUES ('0f940000-0000-4000-8000-000000000000', '0f940000-0000-4000-8000-0000000000a1', '0f940000-0000-4000-8000-0000000005a1',
			tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'))"
# the worker drains the outbox (at most 20 s: an event, not a threshold)
left=2
for _ in $(seq 1 200); do
	left=$(psql -X -A -t -d app -c "SELECT count(*) FROM protector_internal.outbox")
	[ "$left" = 0 ] && break
	sleep 0.1
done
if [ "$left" = 0 ]; then
	echo "ok - the worker announced the bookings with the synchronous standby away"
else
	echo "not ok - $left announcements left in the outbox: the worker waits for the standby"
	psql -X -A -t -d app -c "SELECT backend_type, wait_event_type, wait_event FROM pg_stat_activity WHERE backend_type = 'protector outbox'"
	failures=$((failures + 1))
fi
# and a NOTIFY elsewhere in the cluster commits (it hung behind the worker)
if timeout 20 psql -X -q -d postgres -c "NOTIFY app_channel, 'hello'" >/dev/null 2>&1; then
	echo "ok - another database's NOTIFY commits"
else
	echo "not ok - another database's NOTIFY hung behind the worker"
	failures=$((failures + 1))
fi
# (the worker, if stuck, keeps the cluster from stopping: end it first)
psql -X -q -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'protector outbox'" >/dev/null || true
echo "# sync_standby: $failures failed"
[ "$failures" -eq 0 ]
