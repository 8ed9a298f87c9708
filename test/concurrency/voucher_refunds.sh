#!/usr/bin/env bash
# test/concurrency/voucher_refunds.sh — two cancellations at once of
# bookings paid by the same two vouchers, used in opposite orders (A: V1
# then V2; B: V2 then V1), give back to both vouchers without a deadlock.
# A cancellation gives back to the voucher used last first, and locked
# each voucher as it came to it: A took V2 and waited for V1, B took V1
# and waited for V2 (40P01, found by a review of the thirty-second stop).
# A test-only trigger of this script's own sleeps before each voucher
# refund so that both cancellations are between their two refunds at
# once; the three rounds must all end without a deadlock, and each
# voucher's balance must be its ledger's.  Part 2: refund_to_vouchers
# retried at the same moment with one request key gives back once.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_voucher_refunds

ORG=0f560000-0000-4000-8000-000000000000
V=0f560000-0000-4000-8000-0000000000f1
S=0f560000-0000-4000-8000-0000000005a1
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES ('$ORG', 'Gifts', 'voucher-refunds', 'UTC', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('$V', '$ORG', 'V', 'UTC');
-- Vault: 20 + 25 per person, a 50% fee on cancellations
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, settings)
VALUES ('$S', '$ORG', '$V', 'Vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25,
		'{"cancellation_fees": [{"within_hours": 5000, "fee_percent": 50}]}');
CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF NEW.voucher_id IS NOT NULL AND NEW.kind = 'refund' THEN PERFORM pg_sleep(0.5); END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER zzz_slow BEFORE INSERT ON protector.payments FOR EACH ROW EXECUTE FUNCTION public.slow();
SQL

fail=0
for round in 1 2 3; do
	# two bookings of 4 (20 + 25 x 4 = 120): 90 by card, 30 from the first
	# voucher; then a fifth guest (145): 25 more from the second
	read -r A B V1 V2 < <(psql -X -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$DB" <<SQL | tail -1
SELECT protector.create_voucher('$ORG', 60) ->> 'code' AS v1 \gset
SELECT protector.create_voucher('$ORG', 60) ->> 'code' AS v2 \gset
SELECT protector.create_booking('$S', NULL, date_trunc('day', now()) + interval '5 days' + ($round * 2) * interval '1 hour', 4) ->> 'id' AS a \gset
SELECT protector.create_booking('$S', NULL, date_trunc('day', now()) + interval '5 days' + ($round * 2 + 1) * interval '1 hour', 4) ->> 'id' AS b \gset
SELECT protector.record_payment(:'a', 90, 'stripe', 'pa$round') IS NULL \g /dev/null
SELECT protector.record_payment(:'b', 90, 'stripe', 'pb$round') IS NULL \g /dev/null
SELECT protector.redeem_voucher(:'a', :'v1') IS NULL \g /dev/null
SELECT protector.redeem_voucher(:'b', :'v2') IS NULL \g /dev/null
UPDATE protector.bookings SET party_size = 5 WHERE id IN (:'a', :'b');
SELECT protector.redeem_voucher(:'a', :'v2') IS NULL \g /dev/null
SELECT protector.redeem_voucher(:'b', :'v1') IS NULL \g /dev/null
SELECT :'a', :'b', :'v1', :'v2';
SQL
)
	# (each cancellation between two clock readings: they must overlap, or
	# the round tested nothing)
	for f in a b; do
		id=$A; [ "$f" = b ] && id=$B
		psql -X -A -t -d "$DB" -c "SELECT extract(epoch FROM clock_timestamp())" \
			-c "SELECT protector.cancel_booking('$id') ->> 'refund_to_vouchers'" \
			-c "SELECT extract(epoch FROM clock_timestamp())" >"$WORK/$f$round.out" 2>&1 &
		eval "p$f=\$!"
	done
	wait "$pa" || true
	wait "$pb" || true
	for f in a b; do
		sed -n 2p "$WORK/$f$round.out" >"$WORK/$f$round.log"
		grep -q "ERROR" "$WORK/$f$round.out" && cat "$WORK/$f$round.out" >>"$WORK/$f$round.log"
	done
	if ! awk 'NR == FNR { if (FNR == 1) sa = $0; if (FNR == 3) ea = $0; next }
			  { if (FNR == 1) sb = $0; if (FNR == 3) eb = $0 }
			  END { exit !(sa < eb && sb < ea) }' "$WORK/a$round.out" "$WORK/b$round.out"; then
		echo "round $round: the two cancellations did not overlap:"; cat "$WORK/a$round.out" "$WORK/b$round.out"; fail=1
	fi
	if grep -q "deadlock" "$WORK/a$round.log" "$WORK/b$round.log"; then
		echo "round $round: the two cancellations deadlocked:"; cat "$WORK/a$round.log" "$WORK/b$round.log"; fail=1
	fi
	# 145 paid each (90 + 30 + 25); a 50% fee on 145 = 72.50 kept, 72.50
	# back: 55 to the vouchers (25 + 30, all they paid), 17.50 by card
	for f in a b; do
		if [ "$(cat "$WORK/$f$round.log")" != "55.00" ]; then
			echo "round $round: booking $f's cancellation gave back to its vouchers:"; cat "$WORK/$f$round.log"; fail=1
		fi
	done
done
off=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.vouchers v
	WHERE v.balance <> v.amount - COALESCE((SELECT sum(CASE p.kind WHEN 'payment' THEN p.amount ELSE -p.amount END)
										   FROM protector.payments p WHERE p.voucher_id = v.id AND p.status = 'succeeded'), 0)
	   OR v.balance <> 60")
if [ "$off" != 0 ]; then
	echo "$off vouchers' balances are not their ledgers' (every one back at 60):"
	psql -X -d "$DB" -c "SELECT code, amount, balance FROM protector.vouchers"; fail=1
fi

# 2. refund_to_vouchers retried at the same moment with its request key
# (its first answer lost): one gives 25 back, the other waits for it and
# answers as a replay (a retry gave the money back twice: an attack on
# retries).  Vault for 2: 20 + 25 x 2 = 70, all from a voucher of 100.
read -r C V3 < <(psql -X -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$DB" <<SQL | tail -1
SELECT protector.create_voucher('$ORG', 100) ->> 'code' AS v3 \gset
SELECT protector.create_booking('$S', NULL, date_trunc('day', now()) + interval '6 days', 2, p_voucher_code => :'v3') ->> 'id' AS c \gset
SELECT :'c', :'v3';
SQL
)
for f in x y; do
	psql -X -A -t -d "$DB" -c "SELECT (r ->> 'amount_paid') || ' ' || (r ->> 'replayed') FROM protector.refund_to_vouchers('$C', 25, 'desk-7') r" \
		>"$WORK/retry_$f.out" 2>&1 &
	eval "r$f=\$!"
done
wait "$rx" || true
wait "$ry" || true
answers=$(cat "$WORK/retry_x.out" "$WORK/retry_y.out" | sort | tr '\n' ',')
if [ "$answers" != "45.00 false,45.00 true," ]; then
	echo "two retries of one refund at once answered: $answers (want 45.00 false, 45.00 true)"; fail=1
fi
balance=$(psql -X -A -t -d "$DB" -c "SELECT balance FROM protector.vouchers WHERE code = '$V3'")
if [ "$balance" != "55.00" ]; then
	echo "the voucher holds $balance after two retries of one refund of 25 (want 30 + 25 = 55.00)"; fail=1
fi
[ "$fail" = 0 ] && echo "voucher refunds: two cancellations of bookings paid by the same vouchers give back without a deadlock; a refund retried at once gives back once"
exit "$fail"
