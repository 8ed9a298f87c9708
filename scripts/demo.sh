#!/usr/bin/env bash
# scripts/demo.sh — `make demo`: provision, build, install, start a
# throwaway PostgreSQL 15 cluster, create the extension, load sample data
# and walk through a booking scenario.  The cluster is dropped at the end;
# `make demo KEEP=1` opens a psql shell on it first (the cluster goes away
# when that shell exits).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
echo "== building and installing protector"
make -s >/dev/null
make -s install >/dev/null

export DEMO_KEEP="${KEEP:-0}"
exec bash scripts/pg-cluster.sh bash -c '
	set -euo pipefail
	createdb protector_demo
	# the refusals it shows are errors: on stdout with the rest, in order
	psql -X -q -v ON_ERROR_STOP=1 -d protector_demo -f scripts/demo.sql 2>&1 | sed "s/^psql:[^ ]*: /  /"
	echo
	echo "== 7. Two customers race for the last slot from two devices at the same instant"
	race() {
		psql -X -q -d protector_demo -v VERBOSITY=terse 2>&1 <<SQL | sed "s/^/  $1: /"
\\set VERBOSITY terse
\\pset footer off
SET protector.http_errors = on;
SELECT pg_sleep(0.3) \\g /dev/null
SELECT b ->> '"'"'status'"'"' AS booked FROM protector.create_booking('"'"'0a000000-0000-4000-8000-0000000005a1'"'"', NULL,
	((date_trunc('"'"'week'"'"', current_date) + interval '"'"'15 days'"'"')::date || '"'"' 19:00'"'"')::timestamp AT TIME ZONE '"'"'Europe/Berlin'"'"', 2) b;
\\echo $1 SQLSTATE: :LAST_ERROR_SQLSTATE
SQL
	}
	race "phone A" & race "laptop B" & wait
	echo "  One wins; the other gets SQLSTATE PT409 (HTTP 409 through PostgREST: slot taken)."
	echo
	echo "== 8. The front desk dashboard hears of a booking the moment it commits"
	echo "  (it LISTENs on protector_<organization>; payloads carry ids and status, never names)"
	psql -X -d protector_demo -c "LISTEN protector_0a000000000040008000000000000000" -c "SELECT pg_sleep(1.5)" 2>&1 |
		sed -n "s/^Asynchronous notification \"[^\"]*\" with payload \"\(.*\)\" received.*/  dashboard heard: \1/p" &
	sleep 0.5
	psql -X -q -d protector_demo -c "SELECT 1 FROM protector.create_booking('"'"'0a000000-0000-4000-8000-0000000005a1'"'"', '"'"'0a000000-0000-4000-8000-00000000c002'"'"',
		((date_trunc('"'"'week'"'"', current_date) + interval '"'"'16 days'"'"')::date || '"'"' 10:00'"'"')::timestamp AT TIME ZONE '"'"'Europe/Berlin'"'"', 2)" >/dev/null
	wait
	echo
	echo "== 9. Who did what: the audit trail, and the work each booking created"
	psql -X -q -d protector_demo <<'"'"'SQL'"'"'
\pset footer off
SELECT to_char(occurred_at, '"'"'HH24:MI:SS'"'"') AS at, actor_role AS role, op, table_name,
	   coalesce(array_to_string(changed_columns, '"'"', '"'"'), '"'"''"'"') AS changed
FROM protector.audit_log WHERE table_name = '"'"'protector.bookings'"'"' ORDER BY id DESC LIMIT 6;
SELECT t.title, t.status, to_char(t.due_at AT TIME ZONE '"'"'Europe/Berlin'"'"', '"'"'Dy DD Mon HH24:MI'"'"') AS "due (Berlin)"
FROM protector.tasks t WHERE t.kind = '"'"'booking_review'"'"' ORDER BY t.created_at DESC, t.title LIMIT 4;
SELECT kind, count(*) AS "desk notifications" FROM protector.notifications GROUP BY kind ORDER BY kind;
SQL
	echo
	echo "== 10. A visitor books on the venue'"'"'s website: the widget knows only the public embed key"
	psql -X -q -v ON_ERROR_STOP=1 -d protector_demo <<'"'"'SQL'"'"'
\pset footer off
SELECT embed_key AS key FROM protector.venues WHERE id = '"'"'0a000000-0000-4000-8000-0000000000a1'"'"' \gset
\echo '"'"'Embed key of Lockbox Mitte (public, checkable offline):'"'"' :key
BEGIN;
SET LOCAL ROLE anon;   -- exactly what PostgREST does for a request without a login
SELECT protector.get_venue_by_embed_key(:'"'"'key'"'"') ->> '"'"'name'"'"' AS "widget shows venue",
	   (SELECT string_agg(s ->> '"'"'name'"'"', '"'"', '"'"') FROM jsonb_array_elements(protector.get_venue_services(:'"'"'key'"'"')) s) AS services;
SELECT (date_trunc('"'"'week'"'"', current_date) + interval '"'"'17 days'"'"')::date AS day \gset
SELECT b ->> '"'"'status'"'"' AS status, b ->> '"'"'total_price'"'"' AS "total (EUR)", b ->> '"'"'service'"'"' AS service
FROM protector.create_widget_booking(:'"'"'key'"'"', '"'"'0a000000-0000-4000-8000-0000000005a1'"'"',
	'"'"'Lena Visitor'"'"', '"'"'lena@example.com'"'"', '"'"'+49 30 555 0101'"'"',
	(:'"'"'day'"'"' || '"'"' 19:00'"'"')::timestamp AT TIME ZONE '"'"'Europe/Berlin'"'"', 3, '"'"'lena-browser/1'"'"') b;
COMMIT;
\echo '"'"'The same visitor cannot read anything else:'"'"'
BEGIN;
SET LOCAL ROLE anon;
\set ON_ERROR_STOP off
SELECT count(*) FROM protector.bookings;
\set ON_ERROR_STOP on
ROLLBACK;
SQL
	psql -X -q -v ON_ERROR_STOP=1 -d protector_demo <<'"'"'SQL'"'"'
\pset footer off
BEGIN;
SELECT set_config('"'"'role'"'"', '"'"'authenticated'"'"', true) \g /dev/null
SELECT set_config('"'"'request.jwt.claims'"'"', '"'"'{"sub": "a0000000-0000-4000-8000-000000000004", "role": "authenticated"}'"'"', true) \g /dev/null
\echo '"'"'Otto (operator) sees the widget booking on his dashboard:'"'"'
SELECT c.full_name AS customer, b.party_size AS party, b.status, b.source,
	   to_char(lower(b.during) AT TIME ZONE '"'"'Europe/Berlin'"'"', '"'"'Dy DD Mon HH24:MI'"'"') AS "starts (Berlin)"
FROM protector.bookings b JOIN protector.customers c ON c.id = b.customer_id
WHERE b.source = '"'"'widget'"'"';
COMMIT;
SQL
	echo
	echo "== Done. This cluster is thrown away now; run \`make demo KEEP=1\` to explore it in psql."
	if [ "$DEMO_KEEP" = 1 ]; then
		echo
		echo "KEEP=1: the demo database is open below; leave psql to drop the cluster."
		if { : </dev/tty; } 2>/dev/null; then
			psql -X -d protector_demo </dev/tty
		else
			echo "KEEP=1 needs a terminal to open psql in; none is attached, so the cluster goes now."
		fi
	fi
'
