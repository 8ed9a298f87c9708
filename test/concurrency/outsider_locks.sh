#!/usr/bin/env bash
# test/concurrency/outsider_locks.sh — a direct insert by a signed-in user
# of no organization, naming another tenant's rows (PostgREST's POST to
# the table), is refused by the policies without waiting for that
# tenant's locks (found by an attack review of what PostgREST exposes):
#  1. a waiver version naming another tenant's waiver: the trigger locked
#     the waiver FOR UPDATE first (SECURITY DEFINER), so the outsider
#     waited for the tenant's open service change, without bound, and a
#     body of megabytes checked under the lock stalled the tenant's own
#     signatures; and a manager of another organization naming it in a
#     version of their own waited in the versions' unique index for the
#     tenant's next version in progress (an attack review of isolation);
#  2. a booking naming another tenant's customer: the customer's record
#     was key-share locked first, so the outsider waited for the tenant's
#     open change of it and was told "the customer's record is busy",
#     where a made-up id was refused at once: an existence oracle; also
#     to a viewer of the tenant, and to a customer of it naming another
#     customer's record (a later review: they see the organization);
#  3. a service, voucher or promo code naming another tenant's organization,
#     its currency left out: the currency's default waited for the
#     organization's change under way (wait_for_organization, SECURITY
#     DEFINER), so the outsider learnt the organization existed and was
#     being changed (an audit against the bar); so did the outsider
#     calling the helper itself (a review of that fix).
# Each outsider's statement runs with a lock_timeout: a wait is 55P03 (or
# protector's 40001), the refusal of the policies 42501.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_outsider_locks
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null

ORG=0f910000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['alice', 'fresh', 'vic', 'dana', 'agt', 'mal']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0f910000-0000-4000-8000-00000000000b', 'Other', 'outsider-locks-b');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('0f910000-0000-4000-8000-00000000000b', tests.get_supabase_uid('mal'), 'owner', now());
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('$ORG', 'Victim', 'outsider-locks', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('$ORG', tests.get_supabase_uid('alice'), 'owner', now());
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f910000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party)
VALUES ('0f910000-0000-4000-8000-0000000005a1', '$ORG', '0f910000-0000-4000-8000-0000000000a1', 'S',
		'60 minutes', '60 minutes', '400 days', 4, 4);
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0f910000-0000-4000-8000-00000000c001', '$ORG', 'Cara', 'cara@example.com');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('$ORG', tests.get_supabase_uid('vic'), 'viewer', now()), ('$ORG', tests.get_supabase_uid('agt'), 'agent', now());
INSERT INTO protector.customers (id, organization_id, full_name, email, user_id)
VALUES ('0f910000-0000-4000-8000-00000000c002', '$ORG', 'Dana', 'dana@example.com', tests.get_supabase_uid('dana'));
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0f910000-0000-4000-8000-0000000000b2', '$ORG', '0f910000-0000-4000-8000-0000000000a1', '0f910000-0000-4000-8000-0000000005a1',
		'0f910000-0000-4000-8000-00000000c002',
		tstzrange(date_trunc('day', now()) + interval '7 days 12 hours', date_trunc('day', now()) + interval '7 days 13 hours'), 'pending');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
VALUES ('0f910000-0000-4000-8000-0000000000b3', '$ORG', '0f910000-0000-4000-8000-0000000000a1', '0f910000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '8 days 12 hours', date_trunc('day', now()) + interval '8 days 13 hours'), 'confirmed',
		tests.get_supabase_uid('agt'));
SQL
WAIVER=$(psql -X -A -t -q -d "$DB" -c "SELECT protector.create_waiver('$ORG', 'Risk', 'I accept the risk.') ->> 'waiver_id'")
failures=0

# outsider SQL [USER]: the statement of fresh (or USER) in a transaction
# of its own, its waits bounded; prints the SQLSTATE it was refused with,
# or "ok"
outsider() {
	local out
	out=$(psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "SET lock_timeout = '3s'" \
		-c "SET protector.lock_timeout = 3000" -c "BEGIN" -c "SELECT tests.authenticate_as('${2:-fresh}')" -c "$1" \
		-c "COMMIT" 2>&1 >/dev/null) || true
	if [ -z "$out" ]; then echo ok; else echo "$out" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | head -1; fi
}
# hold APP SQL: alice runs SQL and keeps her transaction open until the
# test ends the session
hold() {
	PGAPPNAME=$1 psql -X -q -d "$DB" -c "BEGIN" -c "SELECT tests.authenticate_as('alice')" -c "$2" \
		-c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
	wait_session "$1" "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
}
check() {
	if [ "$2" = "$3" ]; then
		echo "ok - $1"
	else
		echo "not ok - $1: answered $2, expected $3"
		failures=$((failures + 1))
	fi
}

# 1. the waiver held by alice's service change (the foreign key's share lock)
hold waiver_holder "UPDATE protector.services SET waiver_id = '$WAIVER' WHERE id = '0f910000-0000-4000-8000-0000000005a1'"
check "an outsider's waiver version naming another tenant's waiver held open is refused at once" \
	"$(outsider "INSERT INTO protector.waiver_versions (organization_id, waiver_id, title, body) VALUES ('$ORG', '$WAIVER', 't', 'b')")" 42501
check "... as one naming a waiver that does not exist" \
	"$(outsider "INSERT INTO protector.waiver_versions (organization_id, waiver_id, title, body) VALUES ('$ORG', gen_random_uuid(), 't', 'b')")" 42501
end_session waiver_holder
# ... and a manager of another organization naming it in a version of their
# own organization, while alice writes the waiver's next version: refused
# at once, as a made-up id (it waited in the versions' unique index for
# alice's new version, and was told the waiver existed)
hold waiver_holder "SELECT protector.create_waiver('$ORG', 'Risk', 'I accept the risk, and more.')"
check "another tenant's manager naming the waiver while its next version is written is refused at once" \
	"$(outsider "INSERT INTO protector.waiver_versions (organization_id, waiver_id, title, body) VALUES ('0f910000-0000-4000-8000-00000000000b', '$WAIVER', 't', 'b')" mal)" P0002
check "... as one naming a waiver that does not exist" \
	"$(outsider "INSERT INTO protector.waiver_versions (organization_id, waiver_id, title, body) VALUES ('0f910000-0000-4000-8000-00000000000b', gen_random_uuid(), 't', 'b')" mal)" P0002
end_session waiver_holder

# 2. the customer's record held by alice (as a merge or an erasure holds it)
hold customer_holder "SELECT FROM protector.customers WHERE id = '0f910000-0000-4000-8000-00000000c001' FOR UPDATE"
booking="INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
	VALUES ('$ORG', '0f910000-0000-4000-8000-0000000000a1', '0f910000-0000-4000-8000-0000000005a1', '%s',
			tstzrange(date_trunc('day', now()) + interval '6 days 12 hours', date_trunc('day', now()) + interval '6 days 13 hours'), 'pending')"
# shellcheck disable=SC2059
check "an outsider's booking naming another tenant's customer held open is refused at once" \
	"$(outsider "$(printf "$booking" 0f910000-0000-4000-8000-00000000c001)")" 42501
# shellcheck disable=SC2059
check "... as one naming a customer that does not exist" "$(outsider "$(printf "$booking" 0f910000-0000-4000-8000-00000000dead)")" 42501
# shellcheck disable=SC2059
check "a viewer's booking naming the tenant's customer held open is refused at once" \
	"$(outsider "$(printf "$booking" 0f910000-0000-4000-8000-00000000c001)" vic)" 42501
# shellcheck disable=SC2059
check "a customer's booking naming another customer's record held open is refused at once" \
	"$(outsider "$(printf "$booking" 0f910000-0000-4000-8000-00000000c001)" dana)" 42501
check "... and her own booking given to that record, as a made-up one" \
	"$(outsider "UPDATE protector.bookings SET customer_id = '0f910000-0000-4000-8000-00000000c001' WHERE id = '0f910000-0000-4000-8000-0000000000b2'" dana)" \
	"$(outsider "UPDATE protector.bookings SET customer_id = '0f910000-0000-4000-8000-00000000dead' WHERE id = '0f910000-0000-4000-8000-0000000000b2'" dana)"
check "an agent giving their booking to that record, which agents may not, is answered as a made-up one" \
	"$(outsider "UPDATE protector.bookings SET customer_id = '0f910000-0000-4000-8000-00000000c001' WHERE id = '0f910000-0000-4000-8000-0000000000b3'" agt)" \
	"$(outsider "UPDATE protector.bookings SET customer_id = '0f910000-0000-4000-8000-00000000dead' WHERE id = '0f910000-0000-4000-8000-0000000000b3'" agt)"
end_session customer_holder
# (the tenant's own writes still take the customer's lock: alice's booking
# of her customer, with the record held by her open change, waits for it)
hold customer_holder "SELECT FROM protector.customers WHERE id = '0f910000-0000-4000-8000-00000000c001' FOR UPDATE"
# shellcheck disable=SC2059
answer=$(psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -c "SET protector.lock_timeout = 300" -c "BEGIN" \
	-c "SELECT tests.authenticate_as('alice')" -c "$(printf "$booking" 0f910000-0000-4000-8000-00000000c001)" -c "COMMIT" 2>&1 \
	| sed -n 's/^ERROR: *//p' | head -1 || true)
check "the tenant's own booking of the held customer waits for the record (bounded)" "$answer" "the customer's record is busy, try again"
end_session customer_holder

# 3. the organization's row held by its owner's change (of its currency, say)
hold org_holder "UPDATE protector.organizations SET slug = 'outsider-locks-2' WHERE id = '$ORG'"
check "an outsider's service naming another tenant's organization being changed is refused at once" \
	"$(outsider "INSERT INTO protector.services (organization_id, venue_id, name, duration) VALUES ('$ORG', '0f910000-0000-4000-8000-0000000000a1', 'x', '1 hour')")" 42501
check "... and a voucher" "$(outsider "INSERT INTO protector.vouchers (organization_id, amount) VALUES ('$ORG', 10)")" 42501
check "... and a promo code" "$(outsider "INSERT INTO protector.promo_codes (organization_id, discount_kind, discount_value) VALUES ('$ORG', 'percent', 10)")" 42501
check "... and the helper that waits, called by the outsider, returns at once (it waited: a review)" \
	"$(outsider "SELECT protector_internal.wait_for_organization('$ORG')")" ok
end_session org_holder
wait || true

dropdb "$DB"
echo "# outsider_locks: $failures failed"
[ "$failures" -eq 0 ]
