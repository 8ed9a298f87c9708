#!/usr/bin/env bash
# bench/dashboards.sh — the dashboard and report RPCs of one organization
# with DASH_BOOKINGS (default 100k) bookings, in a database holding only it
# (A) and in a copy that also holds DASH_OTHERS (default 2M) bookings of 100
# other organizations (B), measured alternately, DASH_REPEAT (default 5)
# times each: the ratio B / A (target <= 1.3x).  Then a cached report call
# against computing it (target >= 20x), and the CSV export against COPY ...
# TO ... WITH CSV of the same rows (target ratio COPY / csv_agg >= 1.0).
# Runs inside a throwaway cluster (bench/run.sh).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=bench/lib.sh
. ./lib.sh
REPEAT=${DASH_REPEAT:-5}
BOOKINGS=${DASH_BOOKINGS:-100000}
OTHERS=${DASH_OTHERS:-2000000}
A=protector_bench_dash_a
B=protector_bench_dash_b
ORG=0e100000-0000-4000-8000-000000000000
for db in "$A" "$B"; do dropdb --if-exists "$db" >/dev/null 2>&1 || true; done
createdb "$A"
# bookings of organization $1 (hex prefix $2) over the last and next 60 days,
# by $3 / 10 customers (an export without customers hid a bad join plan)
load() {
	cat <<SQL
INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('$1', 'Org $2', 'org-$2', 'Europe/Berlin', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES (('$2' || '00000-0000-4000-8000-0000000000f1')::uuid, '$1', 'V', 'Europe/Berlin',
		'{"mon": [["10:00", "22:00"]], "tue": [["10:00", "22:00"]], "wed": [["10:00", "22:00"]], "thu": [["10:00", "22:00"]],
		  "fri": [["10:00", "22:00"]], "sat": [["10:00", "22:00"]], "sun": [["10:00", "22:00"]]}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, mode, capacity, max_party, price)
VALUES (('$2' || '00000-0000-4000-8000-0000000000a1')::uuid, '$1', ('$2' || '00000-0000-4000-8000-0000000000f1')::uuid,
		'Hall', '60 minutes', 'shared', 100000, 10, 20);
INSERT INTO protector.customers (organization_id, full_name, email, phone)
SELECT '$1', 'Customer ' || g, 'c' || g || '@example.com', '+4930' || (1000000 + g) FROM generate_series(1, $3 / 10) g;
INSERT INTO protector.bookings (organization_id, currency, venue_id, service_id, customer_id, during, status, party_size, total_price)
SELECT '$1', 'EUR', ('$2' || '00000-0000-4000-8000-0000000000f1')::uuid, ('$2' || '00000-0000-4000-8000-0000000000a1')::uuid,
	   c.a[1 + i % ($3 / 10)], tstzrange(s, s + interval '1 hour'),
	   (ARRAY['completed', 'completed', 'confirmed', 'cancelled', 'no_show'])[1 + i % 5]::protector.booking_status, 1 + i % 6, 20 + i % 80
FROM (SELECT array_agg(id) AS a FROM protector.customers WHERE organization_id = '$1') c,
	 generate_series(1, $3) i, LATERAL (SELECT now() + (random() * 120 - 60 + i * 0) * interval '1 day' AS s) x;
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status, created_at)
SELECT organization_id, id, total_price, 'EUR', 'succeeded', lower(during) FROM protector.bookings
WHERE organization_id = '$1' AND random() < 0.6;
SQL
}
{
	echo "SET client_min_messages = warning; CREATE EXTENSION protector CASCADE;"
	echo "SET session_replication_role = replica;"	# bulk load of generated history
	load "$ORG" 0e1 "$BOOKINGS"
	echo "SET session_replication_role = DEFAULT;"
	# the desk's recent work, through the triggers: audited as in production
	echo "UPDATE protector.bookings SET details = '{\"checked\": true}'"
	echo " WHERE id IN (SELECT id FROM protector.bookings WHERE organization_id = '$ORG' LIMIT 1000);"
	echo "ANALYZE;"
} | psql -X -q -v ON_ERROR_STOP=1 -d "$A"
createdb -T "$A" "$B"
{
	echo "SET session_replication_role = replica;"
	for o in $(seq 1 100); do
		h=$(printf '%03x' $((o + 256)))
		load "${h}00000-0000-4000-8000-000000000000" "$h" $((OTHERS / 100))
	done
	echo "SET session_replication_role = DEFAULT; ANALYZE;"
} | psql -X -q -v ON_ERROR_STOP=1 -d "$B"

# milliseconds of one call, server side, in a warm session: after two
# calls (plans and caches are made by the first), the mean of as many
# calls as fill 200 ms, and of five at least (one call of a 2 ms function
# is mostly noise; two of a 100 ms one were too few)
ms() {
	psql -X -q -d "$1" -c "SET client_min_messages = notice" \
		-c "DO \$\$ DECLARE t timestamptz; n int := 0; BEGIN PERFORM * FROM $2; PERFORM * FROM $2; t := clock_timestamp();
			LOOP PERFORM * FROM $2; n := n + 1; EXIT WHEN clock_timestamp() - t >= interval '200 ms' AND n >= 5; END LOOP;
			RAISE NOTICE 'ms=%', round(extract(epoch FROM clock_timestamp() - t) * 1000 / n, 3); END \$\$" 2>&1 |
		sed -n 's/.*ms=//p'
}
today=$(psql -X -A -t -d "$A" -c "SELECT (now() AT TIME ZONE 'Europe/Berlin')::date")
calls=(
	"protector.get_dashboard_stats('$ORG')"
	"protector.get_weekly_bookings_trend('$ORG')"
	"protector.get_todays_bookings_by_hour('$ORG')"
	"protector.get_upcoming_bookings('$ORG', p_limit => 50)"
	"protector.get_recent_booking_activity('$ORG', 50)"
	"protector_internal.revenue_report('$ORG', '{\"from\": \"$today\", \"to\": \"$today\", \"group_by\": \"day\"}'::jsonb)"
	"protector.export_bookings('$ORG', '$today'::date - 30, '$today'::date)"
)
echo "== dashboards: $BOOKINGS bookings of one organization; A holds only them, B also $OTHERS of 100 others"
echo "   median of $REPEAT alternating runs (AB BA ...), each the mean of the calls that fill 200 ms, server side"
printf '%-72s %9s %9s %7s\n' "call" "A ms" "B ms" "B / A"
worst=0
for c in "${calls[@]}"; do
	a=() b=()
	for r in $(seq 1 "$REPEAT"); do
		# A then B, then B then A: a drift of the host's speed cancels
		if [ $((r % 2)) = 1 ]; then a+=("$(ms "$A" "$c")"); b+=("$(ms "$B" "$c")")
		else b+=("$(ms "$B" "$c")"); a+=("$(ms "$A" "$c")"); fi
	done
	ma=$(echo "${a[*]}" | median); mb=$(echo "${b[*]}" | median)
	ratio=$(echo "$mb / $ma" | bc -l)
	printf '%-72s %9s %9s %6.2fx\n' "${c:0:72}" "$ma" "$mb" "$ratio"
	worst=$(echo "if ($ratio > $worst) $ratio else $worst" | bc -l)
done
printf 'worst B / A: %.2fx (target <= 1.3x)\n' "$worst"

# the cache: computing the 60-day revenue report, and looking it up
params="p_from => '$today'::date - 59, p_to => '$today'::date"
c=() k=()
for r in $(seq 1 "$REPEAT"); do
	c+=("$(ms "$A" "protector_internal.revenue_report('$ORG', jsonb_build_object('from', '$today'::date - 59, 'to', '$today'::date, 'group_by', 'day'))")")
	psql -X -q -d "$A" -c "SELECT count(*) FROM protector.generate_revenue_report('$ORG', $params)" >/dev/null	# fills the cache
	k+=("$(ms "$A" "protector.generate_revenue_report('$ORG', $params)")")
done
mc=$(echo "${c[*]}" | median); mk=$(echo "${k[*]}" | median)
printf '== revenue report, 60 days: computed %s ms, from the cache %s ms: %.1fx (target >= 20x)\n' "$mc" "$mk" "$(echo "$mc / $mk" | bc -l)"

# CSV: COPY of the export's rows against csv_agg of the same rows, server
# side (to nothing), DASH_CSV_REPEAT (default 9) alternating runs: this
# host's runs fall into a fast and a slow mode (~1.5x apart), so the median
# and the fastest run are both shown.  Then end to end, as the issue words
# it: COPY ... TO STDOUT into a client against the document delivered as
# one value (what PostgREST's handler receives), in text and in binary
# result format, received by bench/csv_client.c (psql checks the encoding
# of every byte of a value it prints, which would measure psql).
csvsql="SELECT * FROM protector.export_bookings('$ORG', '$today'::date - 60, '$today'::date + 60)"
CSV_REPEAT=${DASH_CSV_REPEAT:-9}
BIN=$(mktemp -d /tmp/protector-bench-csv.XXXXXX)
trap 'rm -rf "$BIN"' EXIT
gcc -O2 -Wall -Wextra -Werror -I"$(pg_config --includedir)" -o "$BIN/csv_client" csv_client.c \
	-L"$(pg_config --libdir)" -lpq
fastest() { tr ' ' '\n' | grep -v '^$' | sort -g | head -1; }
# csv_client's runs on one connection: the first (a new backend) and the
# warm ones after it, as PostgREST's pooled connections meet them
client() { "$BIN/csv_client" "dbname=$A" "$@" 4 2>&1 >/dev/null; }
cp=() ca=() cold_p=() cold_t=() cold_b=() ep=() et=() eb=()
for r in $(seq 1 "$CSV_REPEAT"); do
	cp+=("$(psql -X -q -d "$A" -c '\timing on' -c "COPY ($csvsql) TO '/dev/null' WITH (FORMAT csv, HEADER)" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')")
	ca+=("$(psql -X -q -d "$A" -c '\timing on' -c "SELECT octet_length(protector.csv_agg(x)) FROM ($csvsql) x" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')")
	read -r bytes_p c rest <<<"$(client copy "COPY ($csvsql) TO STDOUT WITH (FORMAT csv, HEADER)")"
	cold_p+=("$c"); ep+=($rest)
	read -r bytes c rest <<<"$(client text "SELECT protector.csv_agg(x) FROM ($csvsql) x")"
	cold_t+=("$c"); et+=($rest)
	read -r bytes c rest <<<"$(client binary "SELECT protector.csv_agg(x) FROM ($csvsql) x")"
	cold_b+=("$c"); eb+=($rest)
done
mp=$(echo "${cp[*]}" | median); ma=$(echo "${ca[*]}" | median)
fp=$(echo "${cp[*]}" | fastest); fa=$(echo "${ca[*]}" | fastest)
rows=$(psql -X -A -t -d "$A" -c "SELECT count(*) FROM ($csvsql) x")
printf '== CSV of %s bookings (COPY %s bytes, csv_agg %s bytes), server side: COPY ... WITH CSV %s ms, csv_agg %s ms (median): COPY / csv_agg %.2fx (target >= 1.0); fastest runs %s / %s ms = %.2fx\n' \
	"$rows" "$bytes_p" "$bytes" "$mp" "$ma" "$(echo "$mp / $ma" | bc -l)" "$fp" "$fa" "$(echo "$fp / $fa" | bc -l)"
for k in warm cold; do
	if [ $k = warm ]; then set -- "${ep[*]}" "${et[*]}" "${eb[*]}"; what="pooled connection, runs 2-4"
	else set -- "${cold_p[*]}" "${cold_t[*]}" "${cold_b[*]}"; what="new connection, first run"; fi
	me=$(echo "$1" | median); mt=$(echo "$2" | median); mb=$(echo "$3" | median)
	printf '== CSV end to end, libpq client, %s (medians): COPY ... TO STDOUT %s ms; csv_agg as one value %s ms text: %.2fx, %s ms binary: %.2fx (target >= 1.0)\n' \
		"$what" "$me" "$mt" "$(echo "$me / $mt" | bc -l)" "$mb" "$(echo "$me / $mb" | bc -l)"
done
dropdb "$A"
dropdb "$B"
