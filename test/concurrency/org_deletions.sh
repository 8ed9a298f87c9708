#!/usr/bin/env bash
# test/concurrency/org_deletions.sh — an RPC that inserts a row of an
# organization while the organization is deleted (found by a review): the
# RPC checked the caller's rights on its snapshot, in which the
# organization was there, and its insert's foreign key then waited for the
# deletion and answered a bare 23503 ("violates foreign key constraint
# venues_organization_id_fkey").  Each must say "organization not found"
# (P0002), as the API does for an organization that is gone; an invitation
# said the inviter's rights had changed (42501), and a batch of status
# changes whose bookings went with it that the caller may not change them
# (42501) where it says "some bookings were not found".  The deleting
# session commits only once the RPC waits for it: a call that began after
# the deletion committed is refused by its rights check, which is no race.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_org_deletions
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null \
	-c "SELECT tests.create_supabase_user('own'), tests.create_supabase_user('cust', 'cust@example.com'), tests.create_supabase_user('opr')"

ORG=0f990000-0000-4000-8000-000000000000
BOOKING=0f990000-0000-4000-8000-0000000000b1
# the organization again, with its owner, a venue, a service, and a
# customer with an account and a booking tomorrow
organization() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
DELETE FROM protector.organizations;
INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES ('$ORG', 'O', 'o', 'UTC', 'EUR');
INSERT INTO protector.members (organization_id, user_id, role) VALUES ('$ORG', tests.get_supabase_uid('own'), 'owner'),
	('$ORG', tests.get_supabase_uid('opr'), 'operator');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0f990000-0000-4000-8000-0000000000f1', '$ORG', 'V', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party, duration, max_advance)
VALUES ('0f990000-0000-4000-8000-0000000005a1', '$ORG', '0f990000-0000-4000-8000-0000000000f1', 'Hall', 'shared',
		100, 10, '60 minutes', '30 days');
INSERT INTO protector.customers (id, organization_id, full_name, email, user_id)
VALUES ('0f990000-0000-4000-8000-0000000000c1', '$ORG', 'C', 'cust@example.com', tests.get_supabase_uid('cust'));
INSERT INTO protector.customers (id, organization_id, full_name) VALUES ('0f990000-0000-4000-8000-0000000000c2', '$ORG', 'D');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, party_size, status, currency)
VALUES ('$BOOKING', '$ORG', '0f990000-0000-4000-8000-0000000000f1', '0f990000-0000-4000-8000-0000000005a1',
		'0f990000-0000-4000-8000-0000000000c1',
		tstzrange(date_trunc('hour', now()) + interval '1 day', date_trunc('hour', now()) + interval '25 hours'),
		2, 'confirmed', 'EUR');
SQL
}

failures=0
race() {
	local who=$1 call=$2 expected=${3:-P0002: organization not found} deletion=${4:-"DELETE FROM protector.organizations WHERE id = '$ORG'"} out
	organization
	# the deletion, committed once the caller waits for it (at most 20 s;
	# the statistics snapshot cleared to see the caller's wait)
	PGAPPNAME=deleter psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null 2>"$WORK/deleter.log" <<SQL &
BEGIN;
$deletion;
DO \$\$
BEGIN
	FOR i IN 1..400 LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'caller' AND wait_event_type = 'Lock');
		PERFORM pg_sleep(0.05);
	END LOOP;
END
\$\$;
COMMIT;
SQL
	local deleter=$!
	wait_session deleter "query LIKE 'DO%'" || failures=$((failures + 1))
	out=$(PGAPPNAME=caller psql -X -q -A -t -d "$DB" -v VERBOSITY=verbose -c "BEGIN" \
		-c "SELECT tests.authenticate_as('$who')" -c "SELECT ($call) IS NOT NULL" -c "COMMIT" 2>&1 |
		grep -m1 -A1 '^ERROR' | tr '\n' ' ' || true)
	wait "$deleter"
	if [[ "$out" == *"$expected"* ]]; then
		echo "${call%%(*}: ${expected#*: }"
	else
		echo "${call%%(*}: ${out:-no error} (expected: $expected)"
		failures=$((failures + 1))
	fi
}

race own "protector.create_venue('$ORG', 'V2', 'UTC')"
race own "protector.create_customer('$ORG', 'Bob')"
race own "protector.create_voucher('$ORG', 50)"
race own "protector.create_promo_code('$ORG', 'percent', 10)"
race own "protector.create_waiver('$ORG', 'W', 'body')"
race own "protector.send_booking_reminder('$BOOKING')"
race cust "protector.send_message('$BOOKING', 'hi')" "P0002: booking not found"
# (only the booking deleted: its customer, who may not read the
# organization's row, was told the organization was gone)
race cust "protector.send_message('$BOOKING', 'hi')" "P0002: booking not found" "DELETE FROM protector.bookings WHERE id = '$BOOKING'"
# (the booking given another customer and its customer deleted: the
# desk's message named the customer it had read, a bare 23503)
race own "protector.send_message('$BOOKING', 'hi')" "40001: the booking's customer changed" \
	"UPDATE protector.bookings SET customer_id = '0f990000-0000-4000-8000-0000000000c2' WHERE id = '$BOOKING';
	 DELETE FROM protector.customers WHERE id = '0f990000-0000-4000-8000-0000000000c1'"
race own "protector.log_staff_activity('$ORG', 'desk.check_in')"
# (only the caller's membership removed: the detail said the organization
# was deleted)
race opr "protector.log_staff_activity('$ORG', 'desk.check_in')" \
	"P0002: organization not found DETAIL:  It was deleted, or you were removed from it, while the request was under way." \
	"DELETE FROM protector.members WHERE user_id = tests.get_supabase_uid('opr')"
race own "protector.create_staff_member('$ORG', 'x@example.com', 'operator')"
# (a list of bookings: "some bookings were not found", as for any gone)
race own "protector.update_booking_status_batch(ARRAY['$BOOKING']::uuid[], 'cancelled')" "P0002: some bookings were not found"

echo "org_deletions: $failures failure(s)"
[ "$failures" -eq 0 ]
