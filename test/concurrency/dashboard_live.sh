#!/usr/bin/env bash
# test/concurrency/dashboard_live.sh — the channel docs/dashboards.md#live
# names tells a dashboard when to refresh.  A psql session LISTENs on the
# organization's channel while another makes every kind of change that moves
# a dashboard figure: a booking, a payment, a refund, a cancellation, a
# no-show, and a rolled-back payment.  Each committed change must be
# announced (naming the booking) and the dashboard read after it must show
# the new figure; the rolled-back one must be neither announced nor counted.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_dashboard_live

ORG=0f160000-0000-4000-8000-000000000000
B1=0f160000-0000-4000-8000-0000000000b1
B2=0f160000-0000-4000-8000-0000000000b2
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES ('$ORG', 'Live', 'live', 'UTC', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0f160000-0000-4000-8000-0000000000f1', '$ORG', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party, duration, max_advance, price)
VALUES ('0f160000-0000-4000-8000-0000000005a1', '$ORG', '0f160000-0000-4000-8000-0000000000f1', 'Hall', 'shared', 100, 10,
		'60 minutes', '30 days', 40);
SQL

# bookings, revenue, cancellation and no-show rates, as a dashboard reads them
stats() {
	psql -X -A -t -F= -d "$DB" -c "SELECT metric, coalesce(value::text, '-') FROM protector.get_dashboard_stats('$ORG')
		WHERE metric IN ('bookings', 'revenue', 'cancellation_rate', 'no_show_rate') ORDER BY metric" | tr '\n' ' '
}
run() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "$1" >/dev/null; }

PGAPPNAME=listener psql -X -d "$DB" >"$WORK/listener.log" 2>&1 <<SQL &
LISTEN protector_${ORG//-/};
SELECT pg_sleep(5);
SQL
listener=$!
# (until the listener sleeps: its LISTEN is done)
wait_session listener "query LIKE 'SELECT pg_sleep%'"

s0=$(stats)
# two confirmed bookings that started an hour ago (inserted as the desk
# records walk-ins: confirmed from the start)
run "INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
	 SELECT b, '$ORG', '0f160000-0000-4000-8000-0000000000f1', '0f160000-0000-4000-8000-0000000005a1',
			tstzrange(date_trunc('minute', now()) - interval '1 hour', date_trunc('minute', now())), 'confirmed'
	 FROM unnest(ARRAY['$B1', '$B2']::uuid[]) b"
s1=$(stats)
run "INSERT INTO protector.payments (organization_id, booking_id, amount, status) VALUES ('$ORG', '$B1', 40, 'succeeded')"
s2=$(stats)
run "INSERT INTO protector.payments (organization_id, booking_id, kind, amount, status) VALUES ('$ORG', '$B1', 'refund', 15, 'succeeded')"
s3=$(stats)
run "UPDATE protector.bookings SET status = 'cancelled' WHERE id = '$B1'"
s4=$(stats)
run "UPDATE protector.bookings SET status = 'no_show' WHERE id = '$B2'"
s5=$(stats)
psql -X -q -d "$DB" -c "BEGIN" \
	-c "INSERT INTO protector.payments (organization_id, booking_id, amount, status) VALUES ('$ORG', '$B2', 40, 'succeeded')" \
	-c "ROLLBACK" >/dev/null
s6=$(stats)
wait "$listener"

payloads() { sed -n 's/^Asynchronous notification "[^"]*" with payload "\(.*\)" received from server process with PID [0-9]*\.$/\1/p' "$WORK/listener.log"; }
heard() { payloads | grep -c "\"op\":\"$1\",\"table\":\"bookings\",\"id\":\"$2\"" || true; }
failures=0
expect() {	# $1 = description, $2 = expected, $3 = actual
	if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (expected '$2', got '$3')"; failures=$((failures + 1)); fi
}
# the figures, by hand from docs/dashboards.md: revenue = succeeded payments
# less succeeded refunds (40, then 40 - 15 = 25); cancellation rate =
# cancelled / bookings (1 of 2 = 50.0%); no-show rate = no-shows over
# concluded bookings (completed or no-show: 1 of 1 = 100.0%)
expect "before: nothing" "bookings=0 cancellation_rate=- no_show_rate=- revenue=0 " "$s0"
expect "two bookings: announced, counted" "2 bookings=2 cancellation_rate=0.0 no_show_rate=- revenue=0 " "$(( $(heard INSERT "$B1") + $(heard INSERT "$B2") )) $s1"
expect "a payment of 40: the booking's UPDATE announced, revenue 40" "bookings=2 cancellation_rate=0.0 no_show_rate=- revenue=40.00 " "$s2"
expect "a refund of 15: revenue 25" "bookings=2 cancellation_rate=0.0 no_show_rate=- revenue=25.00 " "$s3"
expect "the cancellation: cancellation rate 50.0%" "bookings=2 cancellation_rate=50.0 no_show_rate=- revenue=25.00 " "$s4"
expect "the no-show: no-show rate 100.0%" "bookings=2 cancellation_rate=50.0 no_show_rate=100.0 revenue=25.00 " "$s5"
expect "the rolled-back payment: nothing counted" "$s5" "$s6"
# B1: payment, refund (each changes amount_paid) and cancellation; B2: no-show
expect "B1's payment, refund and cancellation announced as UPDATEs" 3 "$(heard UPDATE "$B1")"
expect "B2's no-show announced, its rolled-back payment not" 1 "$(heard UPDATE "$B2")"
if [ "$failures" -ne 0 ]; then
	echo "--- listener:"; head -30 "$WORK/listener.log"
fi
dropdb "$DB"
[ "$failures" -eq 0 ]
