#!/usr/bin/env bash
# test/ops/erasure_logs.sh — an erasure adds nothing of the person to the
# server log: with auto_explain logging nested plans (or pgaudit logging
# statements with their parameters), erase_customer's own statements
# carried the address it erases, a plan's constant (the widget requests'
# DELETE compared identity_key with a variable, planned per call) or a
# parameter (the customer trigger's check passed the row being erased),
# and the erasure put the address back into the log for another retention
# period (an attack on coexisting extensions).  auto_explain is asked to
# send its plans to the client, as NOTICEs, and they are searched for the
# person's name, address and phone.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_erasure_logs
ORG=0f530000-0000-4000-8000-000000000000
CUSTOMER=0f530000-0000-4000-8000-00000000c001
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Logs', 'erasure-logs');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f530000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
VALUES ('0f530000-0000-4000-8000-0000000005a1', '$ORG', '0f530000-0000-4000-8000-0000000000a1', 'Room', '60 minutes', '60 minutes', '400 days');
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, notes)
VALUES ('$CUSTOMER', '$ORG', 'Zelda Erasable', 'zelda.erasable@example.com', '+4915112345678', 'likes the zelda room');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during)
VALUES ('$ORG', '0f530000-0000-4000-8000-0000000000a1', '0f530000-0000-4000-8000-0000000005a1', '$CUSTOMER',
		tstzrange(date_trunc('day', now()) + interval '2 days 10 hours', date_trunc('day', now()) + interval '2 days 11 hours'));
-- a widget request of the address, as a widget booking leaves one
INSERT INTO protector_internal.widget_requests (organization_id, venue_id, identity_key, customer_id)
VALUES ('$ORG', '0f530000-0000-4000-8000-0000000000a1', protector.normalize_email('zelda.erasable@example.com'), '$CUSTOMER');
SQL
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/erase.log" 2>&1 <<SQL
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_analyze = on;
SET auto_explain.log_verbose = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
SELECT protector.erase_customer('$CUSTOMER') IS NOT NULL AS erased;
SQL
plans=$(grep -c "Query Text" "$WORK/erase.log" || true)
leaks=$(grep -i -c "zelda\|erasable\|12345678" "$WORK/erase.log" || true)
echo "the erasure's nested plans: $plans; lines naming the person: $leaks"
grep -i "zelda\|erasable\|12345678" "$WORK/erase.log" | cut -c1-200 | head -5 || true
left=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector_internal.widget_requests WHERE organization_id = '$ORG'")
echo "widget requests of the person left: $left"
dropdb --force "$DB"
# (the plans were logged: else the search proves nothing)
[ "$plans" -gt 20 ] && [ "$leaks" = 0 ] && [ "$left" = 0 ]
