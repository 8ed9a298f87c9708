#!/usr/bin/env bash
# test/ops/pooled_plans.sh — plans kept on a pooled connection are planned
# for each call's organization where a generic one reads other tenants'
# rows (a noisy-neighbour attack, the thirty-fifth stop).  PostgREST serves
# every tenant from the same few connections; after a large tenant's calls
# the plan cache switched the customer analytics (a kept plan in C) and
# the organization's signed waivers (PL/pgSQL) to a generic plan estimated
# for "some organization", and a small tenant's next call on that
# connection read every organization's payments and signatures.  Counted
# in buffers, which do not drift as timings do: 29 against 991 before, for
# the analytics.  (The signed waivers' query is planned by EXECUTE at each
# call now; this data did not make its kept plan go generic, so it is not
# counted here.)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PSQLRC=/dev/null
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }
db=pooled_plans
dropdb --if-exists $db >/dev/null 2>&1
createdb $db
export PGDATABASE=$db
psql -X -q -v ON_ERROR_STOP=1 -f test/fixtures/supabase.sql >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION protector CASCADE'
psql -X -q -v ON_ERROR_STOP=1 -f test/fixtures/helpers.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT tests.create_supabase_user('big'), tests.create_supabase_user('small');
BEGIN;
SELECT tests.authenticate_as('big');
SELECT protector.create_organization('Big', 'big', 'UTC', 'EUR');
COMMIT;
BEGIN;
SELECT tests.authenticate_as('small');
SELECT (protector.create_organization('Small', 'small', 'UTC', 'EUR')) ->> 'id' AS org \gset
SELECT (protector.create_venue(:'org', 'V', 'UTC')) ->> 'id' AS venue \gset
SELECT (protector.create_service(:'venue', 'Room', '1 hour', 20)) ->> 'id' AS service \gset
SELECT (protector.create_customer(:'org', 'Alice', 'alice@example.com')) ->> 'id' AS customer \gset
SELECT protector.create_booking(:'service', :'customer', date_trunc('hour', now()) + interval '1 day' + g * interval '2 hours')
FROM generate_series(0, 4) g;
COMMIT;
-- the large tenant's history, loaded as an import under replica would
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT id AS big FROM protector.organizations WHERE slug = 'big' \gset
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('00000000-0000-4000-8000-0000000000f1', :'big', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, price, currency)
SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, :'big', '00000000-0000-4000-8000-0000000000f1',
	   'S' || g, '1 hour', 20, 'EUR'
FROM generate_series(1, 200) g;
INSERT INTO protector.customers (id, organization_id, full_name, email)
SELECT ('00000000-0000-4000-9000-' || lpad(g::text, 12, '0'))::uuid, :'big', 'C' || g, 'c' || g || '@x.test'
FROM generate_series(1, 10000) g;
CREATE TEMP TABLE bk AS
SELECT i, protector_internal.random_uuid() AS id, ('00000000-0000-4000-8000-' || lpad((1 + i % 200)::text, 12, '0'))::uuid AS s,
	   ('00000000-0000-4000-9000-' || lpad((1 + i % 10000)::text, 12, '0'))::uuid AS c,
	   now() - interval '400 days' + (i / 200) * interval '2 hours' AS st
FROM generate_series(0, 59999) i;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, currency,
								unit_price, total_price, amount_paid, balance_due)
SELECT id, :'big', '00000000-0000-4000-8000-0000000000f1', s, c, tstzrange(st, st + interval '1 hour'), 'completed',
	   'EUR', 20, 20, 20, 0
FROM bk;
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status, created_at)
SELECT :'big', id, 20, 'EUR', 'succeeded', st FROM bk;
COMMIT;
VACUUM ANALYZE;
SQL
big=$(psql -X -A -t -c "SELECT id FROM protector.organizations WHERE slug = 'big'")
small=$(psql -X -A -t -c "SELECT id FROM protector.organizations WHERE slug = 'small'")

# buffers of the small tenant's second call on a connection: right after
# its first, and after six calls of the large tenant's between them, each
# in its own transaction
buffers() { # function, after big calls (0 or 6)
	{
		# (a first call of the small tenant's warms the connection's caches)
		echo "BEGIN; SELECT tests.authenticate_as('small') \\g /dev/null"
		echo "SELECT count(*) FROM protector.$1('$small') \\g /dev/null"
		echo "ROLLBACK;"
		for _ in $(seq "$2"); do
			echo "BEGIN; SELECT tests.authenticate_as('big') \\g /dev/null"
			echo "SELECT count(*) FROM protector.$1('$big') \\g /dev/null"
			echo "ROLLBACK;"
		done
		echo "BEGIN; SELECT tests.authenticate_as('small') \\g /dev/null"
		echo "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, COSTS OFF, SUMMARY OFF) SELECT count(*) FROM protector.$1('$small');"
		echo "ROLLBACK;"
	} | psql -X -q -A -t | awk '/Buffers:/ { for (i = 1; i <= NF; i++) if ($i ~ /^hit=|^read=/) { split($i, a, "="); n += a[2] } }
		/Buffers:/ && !seen { seen = 1; print n }'
}
for f in get_customer_segments; do
	fresh=$(buffers $f 0)
	after=$(buffers $f 6)
	echo "$f of the small tenant: $fresh buffers fresh, $after after the large tenant's calls"
	[ -n "$fresh" ] && [ -n "$after" ] || fail "$f: no buffer counts"
	[ "${after:-99999}" -le $((fresh + 100)) ] || fail "$f read ${after} buffers after the large tenant's calls (${fresh} fresh)"
done
dropdb $db
[ "$failures" -eq 0 ]
