#!/usr/bin/env bash
# test/concurrency/redemptions.sh — promo codes and gift vouchers redeemed
# by 16 sessions at once under READ COMMITTED, REPEATABLE READ and
# SERIALIZABLE.  Every session books its own service (so the only thing
# they share is the code), each attempt in its own transaction, and keeps
# trying: a serialization failure (40001) is the retry a client makes.
# Whatever the level:
#   * a promo code with max_uses 5 is used exactly 5 times;
#   * a code with max_uses_per_customer 3, all sessions booking for one
#     customer, is used exactly 3 times;
#   * a voucher of 100 paying bookings of 30 pays 30 + 30 + 30 + 10 and
#     no more: its balance is 0, never below, and the ledger agrees.
# Then the same race, READ COMMITTED, against a mutant whose redemptions
# read the code and the voucher without locking them, and whose uses are
# counted without the check after the count (count_promo_use, whose
# UPDATE of the code's row is what serializes its uses): it must be
# caught, by uses beyond the limits, or (the voucher's balance is also
# recomputed by a trigger) by redemptions failing with an error no client
# should see instead of being paid from what is left.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail

CLIENTS=${CLIENTS:-16}
ATTEMPTS=${ATTEMPTS:-8}
MAX_USES=5
PER_CUSTOMER=3
. "$(dirname "$0")/../lib.sh"
fresh_database protector_redemptions

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug, currency) VALUES ('0f140000-0000-4000-8000-000000000000', 'Codes', 'codes', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0f140000-0000-4000-8000-0000000000f1', '0f140000-0000-4000-8000-000000000000', 'V', 'UTC', '{}');
-- one service and one customer per session: only the codes are shared
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party,
								duration, slot_interval, max_advance, price)
SELECT ('0f140000-0000-4000-8000-0000000005' || lpad(n::text, 2, '0'))::uuid, '0f140000-0000-4000-8000-000000000000',
	   '0f140000-0000-4000-8000-0000000000f1', 'Room ' || n, 'shared', 1000, 1, '60 minutes', '60 minutes', '30 days', 30
FROM generate_series(1, $CLIENTS) n;
INSERT INTO protector.customers (id, organization_id, full_name)
SELECT ('0f140000-0000-4000-8000-00000000c0' || lpad(n::text, 2, '0'))::uuid, '0f140000-0000-4000-8000-000000000000', 'C' || n
FROM generate_series(1, $CLIENTS) n;
CREATE TABLE codes (name text PRIMARY KEY, code text, id uuid);
CREATE TABLE gate (open boolean);
SQL

# the race: every session waits at the gate, then tries ATTEMPTS times each
# to use the total-limited code, the per-customer code and the voucher
race() {
	local level=$1 kinds=${2:-total per_customer voucher}
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SET client_min_messages = warning;
TRUNCATE protector.bookings CASCADE;
TRUNCATE gate, codes;
DELETE FROM protector.vouchers;
DELETE FROM protector.promo_codes;
INSERT INTO codes SELECT 'total', j ->> 'code', (j ->> 'id')::uuid
FROM protector.create_promo_code('0f140000-0000-4000-8000-000000000000', 'percent', 10, p_max_uses => $MAX_USES) j;
INSERT INTO codes SELECT 'per_customer', j ->> 'code', (j ->> 'id')::uuid
FROM protector.create_promo_code('0f140000-0000-4000-8000-000000000000', 'percent', 10, p_max_uses_per_customer => $PER_CUSTOMER) j;
INSERT INTO codes SELECT 'voucher', j ->> 'code', (j ->> 'id')::uuid
FROM protector.create_voucher('0f140000-0000-4000-8000-000000000000', 100) j;
SQL
	for c in $(seq 1 "$CLIENTS"); do
		local svc cust
		svc="0f140000-0000-4000-8000-0000000005$(printf %02d "$c")"
		cust="0f140000-0000-4000-8000-00000000c0$(printf %02d "$c")"
		{
			echo '\set VERBOSITY terse'
			echo '\set SHOW_CONTEXT never'
			echo '\pset tuples_only on'
			echo "BEGIN ISOLATION LEVEL READ COMMITTED;"
			echo "DO \$\$ BEGIN WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.005); END LOOP; END \$\$;"
			echo "COMMIT;"
			for a in $(seq 1 "$ATTEMPTS"); do
				for kind in $kinds; do
					local who=$cust param=p_promo_code
					[ "$kind" = per_customer ] && who=0f140000-0000-4000-8000-00000000c001
					[ "$kind" = voucher ] && param=p_voucher_code
					# the client's transaction goes on a little after the
					# redemption, as real ones do: the race window is open
					echo "BEGIN;"
					echo "SELECT '$kind ' || (protector.create_booking('$svc', '$who',
						date_trunc('day', now()) + interval '2 days 10 hours', 1,
						$param => (SELECT code FROM codes WHERE name = '$kind')) ->> 'amount_paid');"
					echo "SELECT pg_sleep(0.01);"
					echo "COMMIT;"
				done
			done
		} >"$WORK/client$c.sql"
	done
	local pids=()
	for c in $(seq 1 "$CLIENTS"); do
		PGAPPNAME=client$c PGOPTIONS="-c default_transaction_isolation=${level// /\\ }" \
			psql -X -q -d "$DB" -f "$WORK/client$c.sql" >"$WORK/out$c.log" 2>"$WORK/err$c.log" &
		pids+=($!)
	done
	# (until every client waits at the gate)
	for c in $(seq 1 "$CLIENTS"); do
		wait_session "client$c" "query LIKE '%FROM gate)%'"
	done
	psql -X -q -d "$DB" -c "INSERT INTO gate VALUES (true)"
	for p in "${pids[@]}"; do
		wait "$p" || { echo "a client session failed"; failures=$((failures + 1)); }
	done
}

# what the race left: prints the violations, if any
violations() {
	psql -X -A -t -q -d "$DB" <<SQL
SELECT format('promo code with max_uses $MAX_USES used %s times (counter %s)', n, p.times_used)
FROM codes c JOIN protector.promo_codes p ON p.id = c.id,
	 LATERAL (SELECT count(*) AS n FROM protector.bookings b WHERE b.promo_code_id = c.id) u
WHERE c.name = 'total' AND (n <> $MAX_USES OR p.times_used <> $MAX_USES);
SELECT format('a customer used a code with max_uses_per_customer $PER_CUSTOMER %s times', n)
FROM codes c, LATERAL (SELECT count(*) AS n FROM protector.bookings b WHERE b.promo_code_id = c.id) u
WHERE c.name = 'per_customer' AND n <> $PER_CUSTOMER;
SELECT format('voucher of 100: the ledger spent %s in %s payments, its balance says %s', spent, n, v.balance)
FROM codes c JOIN protector.vouchers v ON v.id = c.id,
	 LATERAL (SELECT COALESCE(sum(p.amount), 0) AS spent, count(*) AS n FROM protector.payments p
			  WHERE p.voucher_id = c.id AND p.kind = 'payment' AND p.status = 'succeeded') l
WHERE c.name = 'voucher' AND (spent <> 100 OR v.balance <> 0 OR n <> 4);
SQL
}

# what a client may be told: retry (40001), the code or voucher is used up,
# and the rest of a transaction whose redemption was refused (25P02)
REFUSALS='this promo code has been used up|this customer has used this promo code as often as it allows|this voucher has no balance left'
unexpected_errors() {
	cat "$WORK"/err*.log | grep -v '^$' |
		grep -vE "ERROR: +(could not serialize access|current transaction is aborted|$REFUSALS)" |
		sed 's/^psql:[^ ]* //' | sort | uniq -c || true
}

failures=0
for level in "read committed" "repeatable read" "serializable"; do
	race "$level"
	other=$(unexpected_errors)
	retries=$(cat "$WORK"/err*.log | grep -cE 'ERROR: +could not serialize access' || true)
	refused=$(cat "$WORK"/err*.log | grep -cE "ERROR: +($REFUSALS)" || true)
	used=$(cat "$WORK"/out*.log | grep -cE '^ *(total|per_customer|voucher) ' || true)
	bad=$(violations)
	echo "[$level] $used redemptions answered, $refused refused (used up), $retries x 40001"
	if [ -n "$other" ]; then echo "unexpected errors:"; echo "$other" | head -5; failures=$((failures + 1)); fi
	if [ -n "$bad" ]; then echo "REDEMPTION RACE LOST:"; echo "$bad"; failures=$((failures + 1)); fi
	if [ "$refused" -eq 0 ]; then echo "nothing was refused: the codes were never used up"; failures=$((failures + 1)); fi
done

# the mutant: the same functions without their row locks, and the uses
# counted without the check that follows the count; each guarantee raced
# on its own, so the sessions meet on that code alone
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOREACH f IN ARRAY ARRAY['protector_internal.apply_promo_code()', 'protector_internal.lock_promo_code(uuid, uuid)',
							 'protector_internal.voucher_for(uuid, text)',
							 'protector_internal.check_voucher_payment()']::regprocedure[] LOOP
		-- (and without the bounded wait that locks the row first)
		EXECUTE replace(replace(pg_get_functiondef(f), 'FOR UPDATE;', ';'),
						'protector_internal.lock_row(', 'pg_catalog.num_nulls(');
	END LOOP;
	EXECUTE replace(replace(pg_get_functiondef('protector_internal.use_promo_code(uuid, uuid, uuid, boolean)'::regprocedure),
							'OPERATOR(pg_catalog.>) p.max_uses THEN', 'OPERATOR(pg_catalog.>) p.max_uses AND false THEN'),
					'OPERATOR(pg_catalog.>) p.max_uses_per_customer THEN', 'OPERATOR(pg_catalog.>) p.max_uses_per_customer AND false THEN');
END
$$;
SQL
for kind in total per_customer voucher; do
	race "read committed" "$kind"
	bad=$(violations | grep -F "$(case $kind in total) echo 'max_uses 5';; per_customer) echo per_customer;; voucher) echo voucher;; esac)" || true)
	# or a redemption that only a constraint stopped, not a clean refusal
	bad+=$(unexpected_errors)
	echo "[mutant without locks, $kind] caught: ${bad:-nothing}"
	if [ -z "$bad" ]; then
		echo "MUTANT NOT CAUGHT: $kind redemptions without locks passed the race"; failures=$((failures + 1))
	fi
done
dropdb "$DB"
[ "$failures" -eq 0 ]
