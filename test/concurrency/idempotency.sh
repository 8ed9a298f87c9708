#!/usr/bin/env bash
# test/concurrency/idempotency.sh — the offline-device case: the same
# request (same idempotency key) arrives from 8 sessions at the same
# instant, 20 times over.  Every session must answer with the same booking
# id, exactly one booking per key may exist, and under REPEATABLE READ a
# session may get 40001 (retry) but nothing else.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail

CLIENTS=${CLIENTS:-8}
KEYS=${KEYS:-20}
. "$(dirname "$0")/../lib.sh"
fresh_database protector_idempotency

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
INSERT INTO protector.organizations (id, name, slug) VALUES ('0f100000-0000-4000-8000-000000000000', 'Idem', 'idem');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0f100000-0000-4000-8000-0000000000f1', '0f100000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');
-- shared with room for every session: a lost idempotency check would show
-- as extra bookings, not be masked by a slot conflict
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party,
								duration, slot_interval, max_advance)
VALUES ('0f100000-0000-4000-8000-0000000000a1', '0f100000-0000-4000-8000-000000000000',
		'0f100000-0000-4000-8000-0000000000f1', 'Tour', 'shared', 20, 1, '60 minutes', '60 minutes', '30 days');
-- all sessions wait here until the test opens the gate
CREATE TABLE gate (open boolean);
SQL

failures=0
for level in "read committed" "repeatable read"; do
	psql -X -q -d "$DB" -c "SET client_min_messages = warning" -c "TRUNCATE protector.bookings CASCADE" -c "TRUNCATE gate" >/dev/null
	for c in $(seq 1 "$CLIENTS"); do
		{
			echo '\set VERBOSITY sqlstate'
			echo '\set SHOW_CONTEXT never'
			echo '\pset tuples_only on'
			for k in $(seq 1 "$KEYS"); do
				# wait for the k-th gate, then all fire the same request
				# (in its own READ COMMITTED transaction: under REPEATABLE READ
				# one snapshot would never see the gate open)
				echo "BEGIN ISOLATION LEVEL READ COMMITTED;"
				echo "DO \$\$ BEGIN WHILE (SELECT count(*) FROM gate) < $k LOOP PERFORM pg_sleep(0.005); END LOOP; END \$\$;"
				echo "COMMIT;"
				echo "SELECT 'key$k ' || (protector.create_booking('0f100000-0000-4000-8000-0000000000a1', NULL,
					date_trunc('day', now()) + interval '2 days' + interval '$k hours', 1, 'device-7/req-$k') ->> 'id');"
			done
		} >"$WORK/client$c.sql"
	done
	pids=()
	for c in $(seq 1 "$CLIENTS"); do
		PGAPPNAME=client$c PGOPTIONS="-c default_transaction_isolation=${level// /\\ }" \
			psql -X -q -d "$DB" -f "$WORK/client$c.sql" >"$WORK/out$c.log" 2>"$WORK/err$c.log" &
		pids+=($!)
	done
	for k in $(seq 1 "$KEYS"); do
		# (until every client waits at the k-th gate, its earlier requests answered)
		for c in $(seq 1 "$CLIENTS"); do
			wait_session "client$c" "query LIKE '%FROM gate) < $k LOOP%'"
		done
		psql -X -q -d "$DB" -c "INSERT INTO gate VALUES (true)"
	done
	for p in "${pids[@]}"; do
		if ! wait "$p"; then echo "a client session failed"; failures=$((failures + 1)); fi
	done

	other=$(cat "$WORK"/err*.log | grep -vE '^psql:.*ERROR: +40001$' | grep -v '^$' || true)
	retries=$(cat "$WORK"/err*.log | grep -cE 'ERROR: +40001$' || true)
	answers=$(cat "$WORK"/out*.log | grep -oE 'key[0-9]+ [0-9a-f-]{36}' | sort -u)
	distinct_keys=$(awk '{print $1}' <<<"$answers" | sort -u | wc -l)
	distinct_answers=$(wc -l <<<"$answers")
	rows=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.bookings")
	dup=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM (SELECT idempotency_key FROM protector.bookings GROUP BY 1 HAVING count(*) > 1) d")
	answered=$(cat "$WORK"/out*.log | grep -cE 'key[0-9]+ ' || true)
	echo "[$level] $answered answers for $distinct_keys keys, $distinct_answers distinct (key, booking) pairs, $rows bookings, $retries x 40001"
	if [ -n "$other" ]; then echo "unexpected errors:"; echo "$other" | head -5; failures=$((failures + 1)); fi
	if [ "$distinct_keys" -ne "$KEYS" ] || [ "$distinct_answers" -ne "$KEYS" ] || [ "$rows" -ne "$KEYS" ] || [ "$dup" -ne 0 ]; then
		echo "IDEMPOTENCY BROKEN: every key must map to exactly one booking"; failures=$((failures + 1))
	fi
	if [ "$answered" -lt "$KEYS" ]; then
		echo "too few answers: the race did not happen"; failures=$((failures + 1))
	fi
done
# a retry racing its first request, which takes a promo code's last use:
# the retry's insert waits for the code's row, and then its check of the
# code refused it ("used up", a 22023 no client retries) before the
# unique index could answer; it answers with the first booking now (a
# client told "used up" re-booked without the code, a second booking)
code=$(psql -X -A -t -q -d "$DB" -c "SELECT protector.create_promo_code('0f100000-0000-4000-8000-000000000000', 'percent', 10,
	p_max_uses => 1) ->> 'code'")
request="SELECT (b ->> 'id') || ' ' || (b ->> 'replayed') FROM protector.create_booking('0f100000-0000-4000-8000-0000000000a1', NULL,
	date_trunc('hour', now()) + interval '2 days', 1, p_idempotency_key => 'order-42', p_promo_code => '$code') b"
PGAPPNAME=first psql -X -A -t -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "$request" -c "SELECT pg_sleep(2)" -c "COMMIT" \
	>"$WORK/first.out" 2>&1 &
first=$!
wait_session first "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
second=$(psql -X -A -t -q -d "$DB" -c "$request" 2>&1 || true)
wait "$first" || failures=$((failures + 1))
first_id=$(head -1 "$WORK/first.out" | cut -d' ' -f1)
echo "[read committed] a retry beside its first request, which took the code's last use: first $first_id, the retry: $second"
[ -n "$first_id" ] && [ "$second" = "$first_id true" ] || failures=$((failures + 1))

dropdb "$DB"
[ "$failures" -eq 0 ]
