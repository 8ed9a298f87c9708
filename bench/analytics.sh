#!/usr/bin/env bash
# bench/analytics.sh — get_customer_segments on 100k customers and 1M
# bookings of one organization, against the same result computed by one
# SQL statement with ntile(5) window functions (bench/analytics_baseline.sql).
# Checks that both give identical rows, then prints medians of
# ANALYTICS_REPEAT (default 5) interleaved runs and the ratio.
# Runs inside a throwaway cluster (bench/run.sh).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=bench/lib.sh
. ./lib.sh
REPEAT=${ANALYTICS_REPEAT:-5}
CUSTOMERS=${ANALYTICS_CUSTOMERS:-100000}
BOOKINGS=${ANALYTICS_BOOKINGS:-1000000}
DB=protector_bench_analytics
dropdb --if-exists "$DB" >/dev/null 2>&1 || true
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
SET client_min_messages = warning;
CREATE EXTENSION protector CASCADE;
CREATE SCHEMA bench;
INSERT INTO protector.organizations (id, name, slug, currency) VALUES ('0e000000-0000-4000-8000-000000000000', 'Big', 'big', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0e000000-0000-4000-8000-0000000000f1', '0e000000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, mode, capacity, max_party)
VALUES ('0e000000-0000-4000-8000-0000000000a1', '0e000000-0000-4000-8000-000000000000',
		'0e000000-0000-4000-8000-0000000000f1', 'Hall', '60 minutes', 'shared', 100000, 10);
SET session_replication_role = replica;	-- bulk load of generated history
INSERT INTO protector.customers (id, organization_id, full_name)
SELECT ('0e000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, '0e000000-0000-4000-8000-000000000000', 'Customer ' || i
FROM generate_series(1, $CUSTOMERS) i;
-- skewed: low customer numbers book more often; some customers never book
INSERT INTO protector.bookings (id, organization_id, currency, venue_id, service_id, customer_id, during, status, total_price)
SELECT gen_random_uuid(), '0e000000-0000-4000-8000-000000000000', 'EUR', '0e000000-0000-4000-8000-0000000000f1',
	   '0e000000-0000-4000-8000-0000000000a1',
	   ('0e000000-0000-4000-8000-' || lpad(to_hex(1 + (floor(power(random(), 2) * ($CUSTOMERS * 0.95)))::int), 12, '0'))::uuid,
	   tstzrange(x.s, x.s + interval '1 hour'),
	   (ARRAY['completed', 'completed', 'completed', 'completed', 'completed', 'completed', 'confirmed', 'cancelled', 'no_show', 'in_progress'])[1 + i % 10]::protector.booking_status,
	   20 + i % 200
FROM generate_series(1, $BOOKINGS) i,
	 LATERAL (SELECT now() - (random() * 730 + i * 0) * interval '1 day' AS s) x;
INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status)
SELECT organization_id, id, CASE WHEN random() < 0.05 THEN 'refund' ELSE 'payment' END::protector.payment_kind,
	   total_price, CASE WHEN random() < 0.02 THEN 'USD' ELSE 'EUR' END, 'succeeded'
FROM protector.bookings WHERE random() < 0.6;
SET session_replication_role = DEFAULT;
ANALYZE;
SQL
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f analytics_baseline.sql

diff=$(psql -X -A -t -d "$DB" -c "
	SELECT count(*) FROM ((SELECT * FROM protector.get_customer_segments('0e000000-0000-4000-8000-000000000000')
						   EXCEPT SELECT * FROM bench.segments_sql('0e000000-0000-4000-8000-000000000000'))
						  UNION ALL
						  (SELECT * FROM bench.segments_sql('0e000000-0000-4000-8000-000000000000')
						   EXCEPT SELECT * FROM protector.get_customer_segments('0e000000-0000-4000-8000-000000000000'))) d")
declare -a P S
for r in $(seq 1 "$REPEAT"); do
	P+=("$(psql -X -q -d "$DB" -c "SET client_min_messages = notice" -c "SET work_mem = '64MB'" \
		-c "DO \$\$ DECLARE t timestamptz := clock_timestamp(); BEGIN PERFORM * FROM protector.get_customer_segments('0e000000-0000-4000-8000-000000000000'); RAISE NOTICE 'ms=%', round(extract(epoch FROM clock_timestamp() - t) * 1000, 1); END \$\$" 2>&1 | sed -n 's/.*ms=//p')")
	S+=("$(psql -X -q -d "$DB" -c "SET client_min_messages = notice" -c "SET work_mem = '64MB'" \
		-c "DO \$\$ DECLARE t timestamptz := clock_timestamp(); BEGIN PERFORM * FROM bench.segments_sql('0e000000-0000-4000-8000-000000000000'); RAISE NOTICE 'ms=%', round(extract(epoch FROM clock_timestamp() - t) * 1000, 1); END \$\$" 2>&1 | sed -n 's/.*ms=//p')")
done
p=$(echo "${P[*]}" | median)
s=$(echo "${S[*]}" | median)
counts=$(psql -X -A -t -d "$DB" -c "SELECT (SELECT count(*) FROM protector.customers) || ' customers, ' || (SELECT count(*) FROM protector.bookings) || ' bookings, ' || (SELECT count(*) FROM protector.payments) || ' payments'")
echo "== customer segments: $counts in one organization; median of $REPEAT interleaved runs"
printf '%-44s %10s ms\n' "SQL, one statement with ntile(5) (baseline)" "$s" "protector.get_customer_segments (C)" "$p"
printf 'ratio baseline / protector: %.2fx (target >= 1.0); rows that differ: %s (must be 0)\n' "$(echo "$s / $p" | bc -l)" "$diff"
psql -X -q -d "$DB" -c "SELECT * FROM protector.get_customer_segments('0e000000-0000-4000-8000-000000000000')"
dropdb "$DB"
[ "$diff" -eq 0 ]
