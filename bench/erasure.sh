#!/usr/bin/env bash
# bench/erasure.sh — runs inside the cluster of bench/run.sh
# (BENCH_PARTS=erasure; not in the default parts).
#
# What erase_customer costs (sql/97_lifecycle.sql, scrub_customer_rows):
#   1. a customer with an account and 3,000 bookings, in an organization
#      of 10,000 more bookings (100 other customers), against the baseline
#      of rewriting those 3,000 bookings' details in one UPDATE (the part
#      of the erasure that cannot be avoided), in the same database.  The
#      audit rows were compared with an array of the customer's bookings
#      built inside the query, each row against every id (10.7x the
#      baseline on the build before the fortieth stop, 3.9x after);
#   2. ten customers with accounts and 600 bookings each, erased one after
#      another in one session: the mean of erasures 6 to 10 against the
#      mean of 1 to 5.  PL/pgSQL plans generically from a statement's
#      sixth run, and a generic plan scanned the erasure's arrays row by
#      row (1.3x here before the fortieth stop, 3 to 4x with 1,500
#      bookings each; scrub_customer_rows is now planned per call).
# One pass: an erasure cannot be repeated on the same data.
set -euo pipefail
cd "$(dirname "$0")"
DB=protector_erasure
dropdb --if-exists "$DB" >/dev/null 2>&1 || true
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f ../test/fixtures/supabase.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION protector CASCADE;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0e000000-0000-4000-8000-000000000000', 'Erasures', 'erasures');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0e000000-0000-4000-8000-0000000000a1', '0e000000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0e000000-0000-4000-8000-0000000005a1', '0e000000-0000-4000-8000-000000000000', '0e000000-0000-4000-8000-0000000000a1',
		'Cab', '30 minutes', '30 minutes', '400 days', 100000, 'shared');
-- customer 0: the big one; 1-10: the session's ten; 11-110: the others
INSERT INTO auth.users (id, email) SELECT ('0e000000-0000-4000-8000-0000000' || lpad(n::text, 5, '0'))::uuid, 'u' || n || '@example.com'
FROM generate_series(0, 10) n;
INSERT INTO protector.customers (id, organization_id, full_name, email, user_id)
SELECT ('0e000000-0000-4000-8000-00000001' || lpad(n::text, 4, '0'))::uuid, '0e000000-0000-4000-8000-000000000000',
	   'Client ' || n, 'c' || n || '@example.com',
	   CASE WHEN n <= 10 THEN ('0e000000-0000-4000-8000-0000000' || lpad(n::text, 5, '0'))::uuid END
FROM generate_series(0, 110) n;
-- (bookings written as the API writes them: audited)
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, details)
SELECT '0e000000-0000-4000-8000-000000000000', '0e000000-0000-4000-8000-0000000000a1', '0e000000-0000-4000-8000-0000000005a1',
	   ('0e000000-0000-4000-8000-00000001' || lpad(c::text, 4, '0'))::uuid,
	   tstzrange(t, t + interval '30 minutes'), 'confirmed', '{"pickup": "Main street 1"}'
FROM (SELECT 0 AS c, generate_series(1, 3000) AS i
	  UNION ALL SELECT c, generate_series(1, 600) FROM generate_series(1, 10) c
	  UNION ALL SELECT c, generate_series(1, 100) FROM generate_series(11, 110) c) x,
	 LATERAL (SELECT date_trunc('day', now()) + interval '1 day' + (x.i * 7 + x.c) * interval '30 minutes' AS t) y;
VACUUM ANALYZE;
CREATE TABLE results (what text, ms float8);
SQL
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
-- 1. the baseline (rolled back), then the erasure
$(for run in 1 2; do cat <<'DO'
DO $$
DECLARE
	t0 timestamptz;
	ms float8;
BEGIN
	BEGIN
		t0 := clock_timestamp();
		UPDATE protector.bookings SET details = '{"pickup": "[erased]"}'
		WHERE customer_id = '0e000000-0000-4000-8000-000000010000';
		ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
		RAISE EXCEPTION 'rolled back' USING ERRCODE = 'P0001';
	EXCEPTION WHEN raise_exception THEN NULL;
	END;
	INSERT INTO results VALUES ('baseline', ms);
END $$;
DO
done)
DO \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	PERFORM protector.erase_customer('0e000000-0000-4000-8000-000000010000');
	INSERT INTO results VALUES ('big', extract(epoch FROM clock_timestamp() - t0) * 1000);
END \$\$;
-- 2. ten in one session, each in its own transaction
$(for n in $(seq 1 10); do printf "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN PERFORM protector.erase_customer('0e000000-0000-4000-8000-00000001%04d'); INSERT INTO results VALUES ('session %d', extract(epoch FROM clock_timestamp() - t0) * 1000); END \$\$;\n" $n $n; done)
\echo == erase_customer: a customer with an account and 3,000 bookings (10,000 more in the organization)
\echo    against rewriting the details of the same 3,000 bookings in one UPDATE (the better of two runs)
SELECT format('rewrite 3,000 bookings: %s ms', round(min(ms) FILTER (WHERE what = 'baseline')::numeric, 1)) AS baseline,
	   format('erase_customer:         %s ms', round(min(ms) FILTER (WHERE what = 'big')::numeric, 1)) AS erasure,
	   format('ratio: %sx', round((min(ms) FILTER (WHERE what = 'big') / min(ms) FILTER (WHERE what = 'baseline'))::numeric, 2)) AS ratio
FROM results \gx
\echo == ten erasures of 600 bookings each in one session: erasures 6-10 against 1-5
SELECT format('erasures 1-5:  %s ms each', round(avg(ms) FILTER (WHERE substr(what, 9)::int <= 5)::numeric, 1)) AS first,
	   format('erasures 6-10: %s ms each', round(avg(ms) FILTER (WHERE substr(what, 9)::int > 5)::numeric, 1)) AS later,
	   format('ratio: %sx', round((avg(ms) FILTER (WHERE substr(what, 9)::int > 5)
								   / avg(ms) FILTER (WHERE substr(what, 9)::int <= 5))::numeric, 2)) AS ratio
FROM results WHERE what LIKE 'session %' \gx
SQL
dropdb "$DB"
