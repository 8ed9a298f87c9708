#!/usr/bin/env bash
# test/concurrency/realtime.sh — live updates with real listeners.  One
# psql session LISTENs on organization A's channel, another on B's, while a
# third session: rolls back a booking, commits one, commits a bulk insert
# of 150 bookings (over protector.notify_batch_limit = 100), and cancels
# the committed booking; a table of the user's own announces a row whose
# status is too long for NOTIFY without it.  Afterwards: A's listener got the committed
# booking's INSERT and UPDATE (status cancelled), nothing for the
# rolled-back one, a single summary for the bulk insert, at most 100 rows
# per table announced one by one in a transaction, no personal data; B's
# listener got nothing of A's.  A booking an RPC makes inside a
# superuser's INSERT with row_security off is a change, not a restored
# row: its review task and desk notification are announced with it (they
# were stored but not announced).  A transaction's payloads are numbered
# per channel: gaps in A's numbers counted B's.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
fresh_database protector_realtime
ORG_A=0f200000-0000-4000-8000-000000000000
ORG_B=0f300000-0000-4000-8000-000000000000

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG_A', 'A', 'a'), ('$ORG_B', 'B', 'b');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0f200000-0000-4000-8000-0000000000f1', '$ORG_A', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0f200000-0000-4000-8000-0000000000a1', '$ORG_A', '0f200000-0000-4000-8000-0000000000f1',
		'Room', '60 minutes', '60 minutes', '30 days');
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0f200000-0000-4000-8000-0000000000c1', '$ORG_A', 'Secret Person', 'secret@example.com');
-- a table of the user's own, announced by protector's trigger
CREATE TABLE public.jobs (id uuid PRIMARY KEY, organization_id uuid NOT NULL, status text);
CREATE TRIGGER jobs_notify AFTER INSERT ON public.jobs REFERENCING NEW TABLE AS changed
	FOR EACH STATEMENT EXECUTE FUNCTION protector.notify_trigger();
-- three transactions in one CALL: their statements share one start time
CREATE PROCEDURE toggle(b uuid) LANGUAGE plpgsql AS \$\$
BEGIN
	UPDATE protector.bookings SET status = 'confirmed' WHERE id = b; COMMIT;
	UPDATE protector.bookings SET status = 'pending' WHERE id = b; COMMIT;
	UPDATE protector.bookings SET status = 'confirmed' WHERE id = b; COMMIT;
END \$\$;
SQL

listen() {	# $1 = organization, $2 = log, $3 = its name; listens for 4 s
	PGAPPNAME=$3 psql -X -d "$DB" >"$2" 2>&1 <<SQL
LISTEN protector_${1//-/};
SELECT pg_sleep(4);
SQL
}
listen "$ORG_A" "$WORK/a.log" listener_a &
pa=$!
listen "$ORG_B" "$WORK/b.log" listener_b &
pb=$!
# (until both sleep: their LISTENs are done)
wait_session listener_a "query LIKE 'SELECT pg_sleep%'"
wait_session listener_b "query LIKE 'SELECT pg_sleep%'"

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
BEGIN;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during)
VALUES ('0f200000-0000-4000-8000-00000000bad0', '$ORG_A', '0f200000-0000-4000-8000-0000000000f1',
		'0f200000-0000-4000-8000-0000000000a1', '0f200000-0000-4000-8000-0000000000c1',
		tstzrange(date_trunc('hour', now()) + interval '2 days', date_trunc('hour', now()) + interval '2 days 1 hour'));
ROLLBACK;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during)
VALUES ('0f200000-0000-4000-8000-00000000900d', '$ORG_A', '0f200000-0000-4000-8000-0000000000f1',
		'0f200000-0000-4000-8000-0000000000a1', '0f200000-0000-4000-8000-0000000000c1',
		tstzrange(date_trunc('hour', now()) + interval '2 days', date_trunc('hour', now()) + interval '2 days 1 hour'));
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
SELECT '$ORG_A', '0f200000-0000-4000-8000-0000000000f1', '0f200000-0000-4000-8000-0000000000a1',
	   tstzrange(date_trunc('hour', now()) + interval '3 days' + i * interval '1 hour',
				 date_trunc('hour', now()) + interval '3 days' + i * interval '1 hour' + interval '50 minutes')
FROM generate_series(1, 150) i;
CALL toggle('0f200000-0000-4000-8000-00000000900d');
UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0f200000-0000-4000-8000-00000000900d';
-- booked, deleted and booked again in one transaction: three changes
BEGIN;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during)
VALUES ('0f200000-0000-4000-8000-0000000000d1', '$ORG_A', '0f200000-0000-4000-8000-0000000000f1',
		'0f200000-0000-4000-8000-0000000000a1',
		tstzrange(date_trunc('hour', now()) + interval '25 days', date_trunc('hour', now()) + interval '25 days 1 hour'));
DELETE FROM protector.bookings WHERE id = '0f200000-0000-4000-8000-0000000000d1';
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during)
VALUES ('0f200000-0000-4000-8000-0000000000d1', '$ORG_A', '0f200000-0000-4000-8000-0000000000f1',
		'0f200000-0000-4000-8000-0000000000a1',
		tstzrange(date_trunc('hour', now()) + interval '25 days', date_trunc('hour', now()) + interval '25 days 1 hour'));
COMMIT;
-- a status of 8000 bytes is left out of the payload (the worker skipped
-- the payload, and without it the commit failed); a short one is sent
INSERT INTO public.jobs VALUES ('0f200000-0000-4000-8000-0000000006a1', '$ORG_A', repeat('x', 8000));
INSERT INTO public.jobs VALUES ('0f200000-0000-4000-8000-0000000006a2', '$ORG_A', 'queued');
-- one transaction announcing on A's channel, B's, then A's: A's payloads
-- are numbered 1 and 2 (numbered per transaction, 1 and 3: the gap
-- counted B's)
BEGIN;
INSERT INTO public.jobs VALUES ('0f200000-0000-4000-8000-0000000006b1', '$ORG_A', 'queued');
INSERT INTO public.jobs VALUES ('0f200000-0000-4000-8000-0000000006b2', '$ORG_B', 'queued');
INSERT INTO public.jobs VALUES ('0f200000-0000-4000-8000-0000000006b3', '$ORG_A', 'queued');
COMMIT;
SET protector.notify_worker = off;
INSERT INTO public.jobs VALUES ('0f200000-0000-4000-8000-0000000006a3', '$ORG_A', repeat('x', 8000));
RESET protector.notify_worker;
CREATE TABLE public.sink (b jsonb);
SET row_security = off;
INSERT INTO public.sink SELECT protector.create_booking('0f200000-0000-4000-8000-0000000000a1', NULL,
	date_trunc('hour', now()) + interval '10 days');
RESET row_security;
SET protector.notify = off;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during)
VALUES ('0f200000-0000-4000-8000-00000000a1e7', '$ORG_A', '0f200000-0000-4000-8000-0000000000f1',
		'0f200000-0000-4000-8000-0000000000a1',
		tstzrange(date_trunc('hour', now()) + interval '20 days', date_trunc('hour', now()) + interval '20 days 1 hour'));
SQL
wait "$pa" "$pb"

payloads() { sed -n 's/^Asynchronous notification "[^"]*" with payload "\(.*\)" received from server process with PID [0-9]*\.$/\1/p' "$1"; }
failures=0
expect() {	# $1 = description, $2 = expected, $3 = actual (a count, or words)
	if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (expected $2, got $3)"; failures=$((failures + 1)); fi
}
a=$(payloads "$WORK/a.log")
b=$(payloads "$WORK/b.log")
expect "the committed booking's INSERT arrived" 1 "$(grep -c '"op":"INSERT","table":"bookings","id":"0f200000-0000-4000-8000-00000000900d","status":"pending"' <<<"$a" || true)"
expect "its cancellation arrived with the new status" 1 "$(grep -c '"op":"UPDATE","table":"bookings","id":"0f200000-0000-4000-8000-00000000900d","status":"cancelled"' <<<"$a" || true)"
# identical payloads would be sent once (NOTIFY's rule): "tx" and "n" keep them apart
expect "the three transactions of one CALL announced confirmed, pending, confirmed" "confirmed pending confirmed" \
	"$(grep -oE '"op":"UPDATE","table":"bookings","id":"0f200000-0000-4000-8000-00000000900d","status":"(confirmed|pending)"' <<<"$a" \
		| grep -oE '(confirmed|pending)"$' | tr -d '"' | paste -sd' ')"
expect "booked, deleted and booked again in one transaction: INSERT DELETE INSERT" "INSERT DELETE INSERT" \
	"$(grep -E '"table":"bookings","id":"0f200000-0000-4000-8000-0000000000d1"' <<<"$a" | grep -oE '"op":"[A-Z]+"' | cut -d'"' -f4 | paste -sd' ')"
expect "the rolled-back booking sent nothing" 0 "$(grep -c '0f200000-0000-4000-8000-00000000bad0' <<<"$a" || true)"
expect "the bulk insert of 150 sent one summary for bookings" 1 "$(grep -c '"op":"INSERT","table":"bookings","count":150' <<<"$a" || true)"
expect "... and no per-row booking notifications beyond the single booking, d1's two and the sink's" 4 "$(grep -c '"op":"INSERT","table":"bookings","id"' <<<"$a" || true)"
# the 150 review tasks and desk notifications are inserted one statement
# at a time by the booking trigger: the first 100 of each are announced,
# the other 50 summed up at commit
expect "the bulk's review tasks: 100 announced, then a summary of 50" 1 "$(grep -c '"op":"INSERT","table":"tasks","count":50,' <<<"$a" || true)"
expect "... and the same for its desk notifications" 1 "$(grep -c '"op":"INSERT","table":"notifications","count":50,' <<<"$a" || true)"
expect "per-row task and notification announcements: 2 for the single booking + 2 x 100 + the cancellation notice + 2 x 2 for d1 + 2 for the sink's" 209 "$(grep -cE '"op":"INSERT","table":"(tasks|notifications)","id"' <<<"$a" || true)"
# the announced task and notification ids are the stored rows' (they are
# written past the executor, and announced from copies of their ids)
announced=$(grep -oE '"table":"(tasks|notifications)","id":"[0-9a-f-]{36}"' <<<"$a" | grep -oE '[0-9a-f-]{36}' | sort -u | paste -sd, -)
# (but d1's first task and notification, deleted with it)
expect "every announced task and notification id is a stored row's, but d1's first two" 2 "$(psql -X -A -t -d "$DB" -c "
	SELECT count(*) FROM unnest('{$announced}'::uuid[]) i
	WHERE NOT EXISTS (SELECT FROM protector.tasks t WHERE t.id = i) AND NOT EXISTS (SELECT FROM protector.notifications n WHERE n.id = i)")"
expect "a job's long status is left out, through the worker and without it; a short one is sent" \
	'"id":"0f200000-0000-4000-8000-0000000006a1","at "id":"0f200000-0000-4000-8000-0000000006a2","status":"queued" "id":"0f200000-0000-4000-8000-0000000006a3","at' \
	"$(grep -oE '"table":"jobs","id":"0f200000-0000-4000-8000-0000000006a[0-9]","(status":"[a-z]*"|at)' <<<"$a" | cut -d, -f2- | sort | paste -sd' ')"
sunk=$(psql -X -A -t -d "$DB" -c "SELECT string_agg(x.id::text, ' ' ORDER BY x.kind) FROM public.sink s,
	LATERAL (SELECT 'task' AS kind, t.id FROM protector.tasks t WHERE t.booking_id = (s.b ->> 'id')::uuid
			 UNION ALL SELECT 'notification', n.id FROM protector.notifications n WHERE n.booking_id = (s.b ->> 'id')::uuid) x")
expect "a booking an RPC made inside a superuser's INSERT with row_security off: its task and notification announced" 2 \
	"$(for i in $sunk; do grep -c "\"id\":\"$i\"" <<<"$a" || true; done | awk '{ s += $1 } END { print s + 0 }')"
expect "a booking made with protector.notify = off was not announced" 0 "$(grep -c '0f200000-0000-4000-8000-00000000a1e7' <<<"$a" || true)"
expect "no personal data in any payload" 0 "$(grep -ciE 'secret|example\.com|Room' <<<"$a" || true)"
expect "another organization's listener heard nothing but its own job" "0f200000-0000-4000-8000-0000000006b2" \
	"$(grep -oE '"id":"[0-9a-f-]{36}"' <<<"$b" | cut -d'"' -f4 | paste -sd' ')"
expect "a transaction's payloads on A's channel, between one on B's, are numbered 1 and 2" "1 2" \
	"$(grep -E '"id":"0f200000-0000-4000-8000-0000000006b[13]"' <<<"$a" | grep -oE '"n":[0-9]+' | cut -d: -f2 | paste -sd' ')"
longest=$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' <<<"$a")
expect "payloads stay small (longest $longest bytes < 250)" 1 "$([ "$longest" -lt 250 ] && echo 1 || echo 0)"
if [ "$failures" -ne 0 ]; then
	echo "--- listener A:"; head -20 "$WORK/a.log"
fi
dropdb "$DB"
[ "$failures" -eq 0 ]
