#!/usr/bin/env bash
# test/concurrency/voucher_waits.sh — a cancellation or a redemption that
# waits while a voucher is retired, and the waits of a cancellation for a
# promo code's or a voucher's row (found by an attack review with
# concurrent sessions).
# 1. A booking paid partly by a voucher; a session holds the booking (a
#    pending payment, open); the cancellation waits for it; meanwhile the
#    voucher is retired (expires_at = now(), committed).  The
#    cancellation then gives nothing back to the voucher, which could
#    never be spent: its part is a pending cash refund.  (Expiry was
#    judged against the cancellation's now(), its transaction's start,
#    earlier than the retirement: 60 went into the dead voucher.)
# 2. The same for a redemption waiting for the booking: refused,
#    22023 "this voucher has expired" (it paid the whole booking).
# 3. A promo code's row, and a voucher's, held open by another session: a
#    cancellation of a booking with the code, or paid by the voucher,
#    waits at most protector.lock_timeout (40001 "the promo code is
#    busy", "the voucher is busy"), as a new booking or a redemption
#    does; it waited for as long as the row was held, its booking locked
#    meanwhile.
# 5. A voucher retired by an UPDATE that holds its row while a
#    cancellation starts: the cancellation waits for the row before it
#    reckons what goes back to vouchers, gives nothing back to the retired
#    one and says so.  (It reckoned before the lock: 60 "to vouchers" was
#    answered and noted in details.refund, and none given.)
# 6. A new booking taking a promo code, then paid by a voucher, beside the
#    cancellation of a booking with the same code and voucher: the
#    cancellation takes the code's lock before the vouchers', as the new
#    booking does (locking the vouchers first deadlocked).
# 7. ... but a no-show, which keeps the code's use, does not wait for the
#    code.
# 8. Two batches cancelling bookings paid by two vouchers, met in opposite
#    orders, take the vouchers in one order (update_booking_status_batch).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_voucher_waits

ORG=0f980000-0000-4000-8000-000000000000
V=0f980000-0000-4000-8000-0000000000a1
S=0f980000-0000-4000-8000-0000000005a1
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES ('$ORG', 'Waits', 'voucher-waits', 'UTC', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('$V', '$ORG', 'V', 'UTC');
-- Vault: 20 + 25 per person, a 50% fee on cancellations
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party,
								price, price_per_person, settings)
VALUES ('$S', '$ORG', '$V', 'Vault', '60 minutes', '60 minutes', '400 days', 1, 8, 20, 25,
		'{"cancellation_fees": [{"within_hours": 5000, "fee_percent": 50}]}');
SQL
failures=0
# book HOUR [VOUCHER_AMOUNT]: a booking of 4 (20 + 25 x 4 = 120) at HOUR
# hours into the day five days ahead, 50 by card and 70 by a voucher of
# 100; prints "booking voucher-code"
book() {
	psql -X -A -t -F ' ' -v ON_ERROR_STOP=1 -d "$DB" <<SQL | tail -1
SELECT protector.create_voucher('$ORG', 100) ->> 'code' AS v \gset
SELECT protector.create_booking('$S', NULL, date_trunc('day', now()) + interval '5 days' + $1 * interval '1 hour', 4) ->> 'id' AS b \gset
SELECT protector.record_payment(:'b', 50, 'stripe', 'card$1') IS NULL \g /dev/null
SELECT protector.redeem_voucher(:'b', :'v') IS NULL \g /dev/null
SELECT :'b', :'v';
SQL
}

# 1. cancellation, the voucher retired while it waits for the booking
read -r B VC < <(book 10)
PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" \
	-c "SELECT protector.record_payment('$B', 10, 'stripe', 'held1', p_status => 'pending')" \
	-c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null 2>&1 &
wait_session holder "query LIKE 'SELECT pg_sleep%'"
PGAPPNAME=canceller psql -X -A -t -d "$DB" -c "SELECT protector.cancel_booking('$B') -> 'details' -> 'refund' ->> 'to_vouchers'" \
	>"$WORK/cancel.out" 2>&1 &
wait_session canceller "wait_event_type = 'Lock'"
psql -X -q -d "$DB" -c "UPDATE protector.vouchers SET expires_at = now() WHERE code = '$VC'"
wait
# (120 paid: 50 + 70 by the voucher; the fee 50% x 120 = 60 kept, 60 back:
# none to the retired voucher, all of it a pending cash refund)
got=$(psql -X -A -t -d "$DB" -c "SELECT v.balance || ' ' || COALESCE((SELECT sum(p.amount) FROM protector.payments p
		WHERE p.booking_id = '$B' AND p.kind = 'refund' AND p.status = 'pending' AND p.voucher_id IS NULL), 0)
	FROM protector.vouchers v WHERE v.code = '$VC'")
if [ "$(tail -1 "$WORK/cancel.out")" = "0" ] && [ "$got" = "30.00 60.00" ]; then
	echo "ok 1 - a voucher retired while a cancellation waited gets nothing back: 60 pending in cash, its balance 100 - 70 = 30"
else
	echo "not ok 1 - a voucher retired while a cancellation waited: to vouchers '$(tail -1 "$WORK/cancel.out")', balance and pending refund '$got' (want 0; 30.00 60.00)"
	failures=$((failures + 1))
fi

# 2. redemption, the voucher retired while it waits for the booking
VC2=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT protector.create_voucher('$ORG', 100) ->> 'code'")
B2=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT protector.create_booking('$S', NULL, date_trunc('day', now()) + interval '5 days 12 hours', 4) ->> 'id'")
PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" \
	-c "SELECT protector.record_payment('$B2', 10, 'stripe', 'held2', p_status => 'pending')" \
	-c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null 2>&1 &
wait_session holder "query LIKE 'SELECT pg_sleep%'"
PGAPPNAME=redeemer PGOPTIONS="-c protector.lock_timeout=10000" psql -X -A -t -d "$DB" -v VERBOSITY=terse \
	-c "SELECT protector.redeem_voucher('$B2', '$VC2') ->> 'amount'" >"$WORK/redeem.out" 2>&1 &
wait_session redeemer "wait_event_type = 'Lock'"
psql -X -q -d "$DB" -c "UPDATE protector.vouchers SET expires_at = now() WHERE code = '$VC2'"
wait
if grep -q "this voucher has expired" "$WORK/redeem.out"; then
	echo "ok 2 - a voucher retired while a redemption waited for it is refused as expired"
else
	echo "not ok 2 - a voucher retired while a redemption waited for it: $(tail -1 "$WORK/redeem.out")"
	failures=$((failures + 1))
fi

# 3. the waits of a cancellation for a code's and a voucher's row
CODE=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT protector.create_promo_code('$ORG', 'percent', 10) ->> 'code'")
B3=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT protector.create_booking('$S', NULL, date_trunc('day', now()) + interval '5 days 14 hours', 2, p_promo_code => '$CODE') ->> 'id'")
read -r B4 VC4 < <(book 16)
for what in "promo code|UPDATE protector.promo_codes SET description = 'held' WHERE code = '$CODE'|$B3" \
	"voucher|UPDATE protector.vouchers SET note = 'held' WHERE code = '$VC4'|$B4"; do
	IFS='|' read -r name hold booking <<<"$what"
	PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" -c "$hold" -c "SELECT pg_sleep(60)" -c "COMMIT" >/dev/null 2>&1 &
	holder=$!
	wait_session holder "query LIKE 'SELECT pg_sleep%'"
	# the holder keeps the row until it is ended below: a 40001 "busy"
	# is the bound; a cancellation that waited for the row would wait
	# here until the end
	out=$(PGOPTIONS="-c protector.lock_timeout=500" psql -X -A -t -d "$DB" -v VERBOSITY=verbose \
		-c "SELECT protector.cancel_booking('$booking') ->> 'status'" 2>&1 | grep -m1 ERROR || true)
	end_session holder
	wait "$holder" || true
	if [[ "$out" == *"40001"*"the $name is busy"* ]]; then
		echo "ok $([ "$name" = voucher ] && echo 4 || echo 3) - a cancellation waits for a $name held open at most protector.lock_timeout: 40001"
	else
		echo "not ok $([ "$name" = voucher ] && echo 4 || echo 3) - a cancellation beside a $name held open: '$out'"
		failures=$((failures + 1))
	fi
done

# 5. cancellation, the voucher retired by a change that holds its row
# while the cancellation starts (committed while it waits for the row):
# nothing back to the voucher, and the cancellation says so (what goes
# back to vouchers was reckoned before their lock was taken: 60 "to
# vouchers" was answered and written in details.refund, none given)
read -r B5 VC5 < <(book 18)
PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" -c "UPDATE protector.vouchers SET expires_at = now() WHERE code = '$VC5'" \
	-c "SELECT pg_sleep(1.5)" -c "COMMIT" >/dev/null 2>&1 &
wait_session holder "query LIKE 'SELECT pg_sleep%'"
answer=$(psql -X -A -t -d "$DB" -c "SELECT c ->> 'refund_to_vouchers' FROM protector.cancel_booking('$B5') c" 2>&1)
wait
got=$(psql -X -A -t -d "$DB" -c "SELECT v.balance || ' ' || (b.details #>> '{refund,to_vouchers}') || ' ' ||
		COALESCE((SELECT sum(p.amount) FROM protector.payments p
				  WHERE p.booking_id = b.id AND p.kind = 'refund' AND p.status = 'pending' AND p.voucher_id IS NULL), 0)
	FROM protector.vouchers v, protector.bookings b WHERE v.code = '$VC5' AND b.id = '$B5'")
if [ "$answer" = "0.00" ] && [ "$got" = "30.00 0 60.00" ]; then
	echo "ok 5 - a voucher retired by a change holding its row as a cancellation starts: nothing back to it, and the cancellation says so (0.00; 60 pending in cash)"
else
	echo "not ok 5 - a voucher retired by a change holding its row: answered to vouchers '$answer'; balance, details.refund.to_vouchers, pending '$got' (want 0.00; 30.00 0 60.00)"
	failures=$((failures + 1))
fi

# 6. a new booking with a promo code, then paid by a voucher, while a
# booking with the same code and voucher is cancelled: the code, then the
# voucher, in both (the cancellation locked the voucher first, then gave
# the code's use back: 40P01)
CODE6=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT protector.create_promo_code('$ORG', 'percent', 10) ->> 'code'")
read -r B6 VC6 < <(book 20)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "UPDATE protector.bookings SET promo_code_id = (SELECT id FROM protector.promo_codes WHERE code = '$CODE6') WHERE id = '$B6'"
PGAPPNAME=creator psql -X -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" \
	-c "SELECT set_config('t.b', protector.create_booking('$S', NULL, date_trunc('day', now()) + interval '5 days 22 hours', 1, p_promo_code => '$CODE6') ->> 'id', false) IS NOT NULL" \
	-c "SELECT pg_sleep(1.5)" -c "SELECT protector.redeem_voucher(current_setting('t.b')::uuid, '$VC6') IS NOT NULL" \
	-c "COMMIT" >"$WORK/creator.out" 2>&1 &
creator=$!
wait_session creator "query LIKE 'SELECT pg_sleep%'"
cancel=$(psql -X -A -t -d "$DB" -v VERBOSITY=sqlstate -c "SELECT protector.cancel_booking('$B6') ->> 'status'" 2>&1)
created=ok
wait "$creator" || created=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' "$WORK/creator.out" | head -1)
if [ "$cancel" = cancelled ] && [ "$created" = ok ]; then
	echo "ok 6 - a cancellation beside a new booking taking the same promo code, then the same voucher: both go through"
else
	echo "not ok 6 - a cancellation beside a new booking with the same code and voucher: cancel '$cancel', the new booking '$created'"
	failures=$((failures + 1))
fi

# 7. a no-show of a booking with a promo code, the code's row held open: a
# no-show keeps the code's use and does not wait for it (the lock taken
# before the vouchers' was taken for no-shows too)
CODE7=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT protector.create_promo_code('$ORG', 'percent', 10) ->> 'code'")
B7=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, promo_code_id)
	SELECT '$ORG', '$V', '$S', tstzrange(now() - interval '30 minutes', now() + interval '30 minutes'), 'confirmed', id
	FROM protector.promo_codes WHERE code = '$CODE7' RETURNING id")
PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" -c "UPDATE protector.promo_codes SET description = 'held' WHERE code = '$CODE7'" \
	-c "SELECT pg_sleep(60)" -c "COMMIT" >/dev/null 2>&1 &
holder=$!
wait_session holder "query LIKE 'SELECT pg_sleep%'"
# the code's row stays held until the holder is ended below: a no-show
# that waited for it would end in 40001 "the promo code is busy"
out=$(PGOPTIONS="-c protector.lock_timeout=500" psql -X -A -t -d "$DB" -v VERBOSITY=sqlstate \
	-c "SELECT protector.update_booking_status_batch(ARRAY['$B7'::uuid], 'no_show') ->> 'updated'" 2>&1 || true)
end_session holder
wait "$holder" || true
if [ "$out" = 1 ]; then
	echo "ok 7 - a no-show of a booking with a promo code held open does not wait for the code"
else
	echo "not ok 7 - a no-show beside its promo code held open: '$out'"
	failures=$((failures + 1))
fi

# 8. two batches cancelling bookings paid by two vouchers met in opposite
# orders (found by a review of update_booking_status_batch's locks): each
# voucher was locked by its booking's trigger (refund_on_cancel) in the
# order of the rows, and the batches deadlocked (40P01).  The batch locks
# them in id order before its update now.  b1 and b4 are paid by VHI, b2
# and b3 by VLO (ids sorting as written); VHI's row is held until both
# batches wait.
read -r VLO VHI <<<"$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT string_agg(v ->> 'code', ' ' ORDER BY (v ->> 'id')::uuid)
	FROM (SELECT protector.create_voucher('$ORG', 100) AS v FROM generate_series(1, 2)) x")"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
-- (a party of 1: 20 + 25 x 1 = 45, paid by a voucher)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, unit_price, total_price)
SELECT ('0f980000-0000-4000-8000-000000000b0' || n)::uuid, '$ORG', '$V', '$S',
	   tstzrange(date_trunc('day', now()) + interval '6 days' + (8 + n) * interval '1 hour',
				 date_trunc('day', now()) + interval '6 days' + (9 + n) * interval '1 hour'), 'confirmed', 45, 45
FROM generate_series(1, 4) n ORDER BY n;
SELECT protector.redeem_voucher(('0f980000-0000-4000-8000-000000000b0' || n)::uuid, CASE WHEN n IN (1, 4) THEN '$VHI' ELSE '$VLO' END)
FROM generate_series(1, 4) n ORDER BY n;
SQL
PGAPPNAME=holder psql -X -q -d "$DB" -c "BEGIN" -c "SELECT 1 FROM protector.vouchers WHERE code = '$VHI' FOR UPDATE" \
	-c "SELECT pg_sleep(60)" -c "COMMIT" >/dev/null 2>&1 &
holder=$!
wait_session holder "query LIKE 'SELECT pg_sleep%'"
# cancel_batch NAME FIRST SECOND: a batch cancelling b<FIRST> and b<SECOND>
cancel_batch() {
	PGAPPNAME=$1 PGOPTIONS="-c protector.lock_timeout=20000" psql -X -A -t -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" \
		-c "SELECT protector.update_booking_status_batch(ARRAY['0f980000-0000-4000-8000-000000000b0$2',
			'0f980000-0000-4000-8000-000000000b0$3']::uuid[], 'cancelled') ->> 'updated'" >"$WORK/$1" 2>&1 &
}
cancel_batch batch1 1 2
batch1=$!
wait_session batch1 "wait_event_type = 'Lock'" || failures=$((failures + 1))
cancel_batch batch2 3 4
batch2=$!
wait_session batch2 "wait_event_type = 'Lock'" || failures=$((failures + 1))
end_session holder
wait "$batch1" "$batch2" "$holder" || true
got=$(psql -X -A -t -d "$DB" -c "SELECT string_agg(balance::text, ' ' ORDER BY id) FROM protector.vouchers WHERE code IN ('$VLO', '$VHI')")
if [ "$(cat "$WORK/batch1") $(cat "$WORK/batch2")" = "2 2" ] && [ "$got" = "55.00 55.00" ]; then
	echo "ok 8 - two batches cancelling bookings paid by two vouchers met in opposite orders both go through, the money back on both (100 - 2 x 45 + 2 x 22.50 after the 50% fee = 55.00)"
else
	echo "not ok 8 - two batches and two vouchers in opposite orders: '$(cat "$WORK/batch1")' '$(cat "$WORK/batch2")', balances '$got' (want 2 2, 55.00 55.00)"
	failures=$((failures + 1))
fi
dropdb "$DB"
echo "# voucher_waits: $failures failed"
[ "$failures" -eq 0 ]
