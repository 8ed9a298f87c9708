#!/usr/bin/env bash
# test/concurrency/widget_locks.sh — a transaction left open on one service
# (an import, a desk's SQL console) must not stop an organization's whole
# widget. Widget bookings of that service wait for it; a visitor booking
# another service meanwhile is served at once. protector.lock_timeout is
# 0 here (waits without limit), so that the order of events, not a
# time, tells: before, the first waiting visitor held the organization's
# widget lock while it waited, and the other service's visitor was served
# only after the holder committed. The same with a promo code's row held
# open. A request the widget refuses takes no lock first: the refusal of a
# venue whose widget is off comes while the service is held. And a
# visitor paying with a guest's voucher beside the desk merging that guest
# away meets no deadlock (the voucher was locked before the guest record).
# A venue's row held open stops none of its visitors, and a guest record
# held open makes the visitor of its address wait at most
# protector.lock_timeout.
# Runs inside the throwaway cluster of scripts/test.sh.
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
fresh_database protector_widget_locks

ORG=0f660000-0000-4000-8000-000000000000
A=0f660000-0000-4000-8000-0000000000a1
B=0f660000-0000-4000-8000-0000000000a2
C=0f660000-0000-4000-8000-0000000000a3
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
ALTER DATABASE $DB SET protector.lock_timeout = 0;
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'W', 'widget-locks');
INSERT INTO protector.venues (id, organization_id, name, timezone, widget_settings)
VALUES ('0f660000-0000-4000-8000-0000000000f1', '$ORG', 'V', 'UTC', '{"auto_confirm": true}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, mode, capacity, max_party)
VALUES ('$A', '$ORG', '0f660000-0000-4000-8000-0000000000f1', 'A', '60 minutes', '60 minutes', '30 days', 'shared', 100, 4),
	   ('$B', '$ORG', '0f660000-0000-4000-8000-0000000000f1', 'B', '60 minutes', '60 minutes', '30 days', 'shared', 100, 4);
INSERT INTO protector.promo_codes (organization_id, discount_kind, discount_value)
VALUES ('$ORG', 'percent', 10);
INSERT INTO protector.venues (id, organization_id, name, timezone, widget_settings)
VALUES ('0f660000-0000-4000-8000-0000000000f2', '$ORG', 'Off', 'UTC', '{"bookings_per_minute": 0}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, mode, capacity, max_party)
VALUES ('$C', '$ORG', '0f660000-0000-4000-8000-0000000000f2', 'C', '60 minutes', '60 minutes', '30 days', 'shared', 100, 4);
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0f660000-0000-4000-8000-00000000c001', '$ORG', 'Keep', 'keep@example.com'),
	('0f660000-0000-4000-8000-00000000c002', '$ORG', 'Ana', 'ana@example.com');
INSERT INTO protector.vouchers (organization_id, customer_id, amount, balance, currency)
VALUES ('$ORG', '0f660000-0000-4000-8000-00000000c002', 100, 100, 'USD');
CREATE TABLE events (at timestamptz DEFAULT clock_timestamp(), what text);
GRANT INSERT ON events TO anon;
SQL
KEY=$(psql -X -A -t -d "$DB" -c "SELECT embed_key FROM protector.venues WHERE name = 'V'")
OFF_KEY=$(psql -X -A -t -d "$DB" -c "SELECT embed_key FROM protector.venues WHERE name = 'Off'")
GIFT=$(psql -X -A -t -d "$DB" -c "SELECT code FROM protector.vouchers")
PROMO=$(psql -X -A -t -d "$DB" -c "SELECT code FROM protector.promo_codes")

# visitor <name> <service> <hour> <promo or NULL> [voucher]: a widget booking as
# anon, in the session named <name>
visitor() {
	PGAPPNAME=$1 psql -X -q -d "$DB" >"$WORK/$1.out" 2>&1 <<SQL &
SET ROLE anon;
SELECT set_config('request.headers', '{"x-forwarded-for": "198.51.100.$RANDOM"}', false);
SELECT protector.create_widget_booking('$KEY', '$2', 'Visitor', '$1@example.com', NULL,
	date_trunc('day', now()) + interval '2 days' + interval '$3 hours', 1, p_promo_code => $4,
	p_voucher_code => ${5:-NULL}) IS NOT NULL AS booked;
INSERT INTO events (what) VALUES ('$1 done');
SQL
}

failures=0
# hold <statement> <seconds>: a transaction that takes what the statement
# locks, keeps it the given time and logs 'holder done' before it commits
# (in the background; its pid in $holder); returns once it holds it
hold() {
	PGAPPNAME=holder psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >"$WORK/holder.out" 2>&1 <<SQL &
BEGIN;
$1;
SELECT pg_sleep($2);
INSERT INTO events (what) VALUES ('holder done');
COMMIT;
SQL
	holder=$!
	wait_session holder "query LIKE 'SELECT pg_sleep%'"
}
# waiting <name>: until the session named <name> waits for a lock
waiting() { wait_session "$1" "wait_event_type = 'Lock'"; }
# the events logged, in the order they happened
events_order() {
	psql -X -A -t -d "$DB" -c "SELECT string_agg(what, ', ' ORDER BY at) FROM events ${1:-}"
}
# round <name> <what the holder holds>: the holder's transaction stays open
# 3 s; two visitors of what it holds, then one of service B
round() {
	local name=$1 promo=$3
	hold "$2" 3
	visitor "${name}_w1" "$A" 10 "$promo"
	local w1=$!
	waiting "${name}_w1"
	visitor "${name}_w2" "$A" 11 "$promo"
	local w2=$!
	waiting "${name}_w2"
	visitor "${name}_other" "$B" 12 NULL
	local other=$!
	wait "$holder" "$w1" "$w2" "$other" || true
	local order
	order=$(events_order "WHERE what IN ('holder done', '${name}_other done')")
	echo "[$name] order: $order"
	[ "$order" = "${name}_other done, holder done" ] || failures=$((failures + 1))
	for v in w1 w2 other; do
		grep -q '^ t$' "$WORK/${name}_$v.out" || { echo "[$name] $v was not booked:"; cat "$WORK/${name}_$v.out"; failures=$((failures + 1)); }
	done
	psql -X -q -d "$DB" -c "TRUNCATE events"
}

round service "SELECT pg_advisory_xact_lock(protector.service_lock_key('$A'))" NULL
round promo "SELECT 1 FROM protector.promo_codes WHERE code = '$PROMO' FOR UPDATE" "'$PROMO'"

# a venue whose widget is off refuses while the service is held: before,
# the request took the service's lock first and waited for the holder
hold "SELECT pg_advisory_xact_lock(protector.service_lock_key('$C'))" 3
psql -X -q -d "$DB" >"$WORK/off.out" 2>&1 <<SQL
SET ROLE anon;
SELECT protector.create_widget_booking('$OFF_KEY', '$C', 'Visitor', 'off@example.com', NULL,
	date_trunc('day', now()) + interval '2 days 10 hours') IS NOT NULL AS booked;
RESET ROLE;
INSERT INTO events (what) VALUES ('off done');
SQL
wait "$holder" || true
order=$(events_order)
answer=$(grep -oE 'ERROR: +.*' "$WORK/off.out" | head -1 || true)
echo "[widget off] order: $order; answer: ${answer:-none}"
[ "$order" = "off done, holder done" ] && [ "$answer" = "ERROR:  this venue does not take bookings through its widget" ] \
	|| failures=$((failures + 1))
psql -X -q -d "$DB" -c "TRUNCATE events"

# a visitor pays with the voucher of the guest record of their address
# while the desk merges that guest into another: before, the visitor held
# the voucher while it waited for the organization's widget lock, the
# merge held the guest and waited for the voucher (40P01)
hold "SELECT pg_advisory_xact_lock(protector_internal.lock_key(1886547715, '$ORG'))" 2
PGAPPNAME=paying psql -X -q -d "$DB" >"$WORK/paying.out" 2>&1 <<SQL &
SET ROLE anon;
SELECT protector.create_widget_booking('$KEY', '$A', 'Ana', 'ana@example.com', NULL,
	date_trunc('day', now()) + interval '2 days 14 hours', 1, p_voucher_code => '$GIFT') IS NOT NULL AS booked;
SQL
paying=$!
waiting paying
psql -X -q -d "$DB" >"$WORK/merge.out" 2>&1 <<SQL
SELECT protector.merge_customers('0f660000-0000-4000-8000-00000000c001', '0f660000-0000-4000-8000-00000000c002') IS NOT NULL AS merged;
SQL
wait "$holder" "$paying" || true
psql -X -q -d "$DB" -c "TRUNCATE events"
if grep -q "deadlock" "$WORK/paying.out" "$WORK/merge.out"; then
	echo "[voucher and merge] DEADLOCK:"; cat "$WORK/paying.out" "$WORK/merge.out"; failures=$((failures + 1))
else
	echo "[voucher and merge] no deadlock: the booking $(grep -qE '^ t$' "$WORK/paying.out" && echo made || echo refused), the merge $(grep -qE '^ t$' "$WORK/merge.out" && echo made || echo refused)"
fi

# a desk transaction holds a voucher's row: a visitor paying with it
# waits for it before the organization's widget lock, so a visitor of
# another service is served meanwhile (the voucher was locked by the
# booking under the widget lock, which then waited for the holder)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
UPDATE protector.services SET price = 50 WHERE id IN ('$A', '$B');
UPDATE protector.vouchers SET currency = (SELECT currency FROM protector.services WHERE id = '$A'), balance = 100, customer_id = NULL;
TRUNCATE events;
SQL
hold "SELECT 1 FROM protector.vouchers FOR UPDATE" 3
visitor voucher_payer "$A" 16 NULL "'$GIFT'"
payer=$!
waiting voucher_payer
visitor voucher_other "$B" 17 NULL
other=$!
wait "$holder" "$payer" "$other" || true
order=$(events_order)
echo "[voucher held] order: $order"
[ "$order" = "voucher_other done, holder done, voucher_payer done" ] || failures=$((failures + 1))
paid=$(psql -X -A -t -d "$DB" -c "SELECT 100 - balance FROM protector.vouchers")
echo "[voucher held] the voucher paid $paid"
[ "$paid" = "50.00" ] || failures=$((failures + 1))

# the venue as it is once the locks are held: a visitor waiting for the
# service while the owner rotates the key, or while the owner turns the
# widget off, is refused then (an attack review: both went through on the
# venue row read before the wait, "held")
for change in "SELECT protector.rotate_embed_key('0f660000-0000-4000-8000-0000000000f1')" \
	"UPDATE protector.venues SET widget_settings = widget_settings || '{\"bookings_per_minute\": 0}' WHERE name = 'V'"; do
	KEY=$(psql -X -A -t -d "$DB" -c "SELECT embed_key FROM protector.venues WHERE name = 'V'")
	psql -X -q -d "$DB" -c "UPDATE protector.venues SET widget_settings = widget_settings - 'bookings_per_minute' WHERE name = 'V'"
	hold "SELECT pg_advisory_xact_lock(protector.service_lock_key('$A'))" 2
	visitor late "$A" 18 NULL
	late=$!
	waiting late
	psql -X -q -d "$DB" -c "$change" >/dev/null
	wait "$holder" "$late" || true
	answer=$(grep -oE 'ERROR: +.*' "$WORK/late.out" | head -1 || true)
	echo "[changed while waiting: ${change:0:40}] answer: ${answer:-booked}"
	case "$answer" in
	"ERROR:  unknown embed key" | "ERROR:  this venue does not take bookings through its widget") ;;
	*) failures=$((failures + 1)) ;;
	esac
	psql -X -q -d "$DB" -c "TRUNCATE events"
done

psql -X -q -d "$DB" -c "UPDATE protector.venues SET widget_settings = widget_settings - 'bookings_per_minute' WHERE name = 'V'"
KEY=$(psql -X -A -t -d "$DB" -c "SELECT embed_key FROM protector.venues WHERE name = 'V'")

# a venue's row held by a change left open (update_venue locks it FOR
# UPDATE): its visitors are served meanwhile (the day's request record's
# foreign key to the venue share-locked the row under the organization's
# widget lock, and every visitor of the organization waited)
# served_meanwhile <label> <visitor> <hour>: a visitor of service A, while
# the holder holds what it holds, is booked before the holder ends
served_meanwhile() {
	local v order
	visitor "$2" "$A" "$3" NULL
	v=$!
	wait "$holder" "$v" || true
	order=$(events_order "WHERE what IN ('holder done', '$2 done')")
	echo "[$1] order: $order"
	[ "$order" = "$2 done, holder done" ] && grep -q '^ t$' "$WORK/$2.out" || { cat "$WORK/$2.out"; failures=$((failures + 1)); }
}
hold "SELECT 1 FROM protector.venues WHERE id = '0f660000-0000-4000-8000-0000000000f1' FOR UPDATE" 3
served_meanwhile "venue held" venue_v 13
psql -X -q -d "$DB" -c "TRUNCATE events"

# the scheduled sweep's prune of the widget's day-old requests, its
# transaction still open (expire_holds prunes first, then gives back and
# cancels): a visitor, whose own prune of the venue's old requests waited
# for the sweep's under the service and widget locks (and deadlocked where
# the sweep gave back the visitor's promo code: an attack review), passes
# those rows over and is served meanwhile
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector_internal.widget_requests (organization_id, venue_id, identity_key, created_at)
	VALUES ('$ORG', '0f660000-0000-4000-8000-0000000000f1', 'old@example.com', now() - interval '25 hours')"
hold "SELECT protector_internal.prune_widget_requests()" 3
served_meanwhile "sweep pruning" sweep_v 20
left=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector_internal.widget_requests WHERE created_at < now() - interval '24 hours'")
echo "[sweep pruning] day-old requests left: $left"
[ "$left" = "0" ] || failures=$((failures + 1))
psql -X -q -d "$DB" -c "TRUNCATE events"

# a guest record held the same way (update_customer), also after a change
# of it (the lock then follows the update under way to the new version,
# which PostgreSQL waits for whatever the wait policy): the visitor of its
# address waits at most protector.lock_timeout, 40001 (it waited without
# end, under the organization's widget lock), and a visitor of another
# address is served meanwhile
n=0
for held in "SELECT 1 FROM protector.customers WHERE id = '0f660000-0000-4000-8000-00000000c001' FOR UPDATE" \
	"UPDATE protector.customers SET notes = 'vip' WHERE id = '0f660000-0000-4000-8000-00000000c001'; SELECT 1 FROM protector.customers WHERE id = '0f660000-0000-4000-8000-00000000c001' FOR UPDATE"; do
	n=$((n + 1))
	hold "$held" 3
	PGOPTIONS="-c protector.lock_timeout=500" visitor keep "$A" $((13 + 2 * n)) NULL
	k=$!
	wait "$k" || true
	visitor guest_other "$B" $((14 + 2 * n)) NULL
	o=$!
	wait "$holder" "$o" || true
	order=$(events_order "WHERE what IN ('holder done', 'keep done', 'guest_other done')")
	answer=$(grep -oE 'ERROR: +.*' "$WORK/keep.out" | head -1 || true)
	echo "[guest record held, $n] order: $order; answer: ${answer:-booked}"
	[ "$order" = "keep done, guest_other done, holder done" ] && [ "$answer" = "ERROR:  the customer's record is busy, try again" ] \
		&& grep -q '^ t$' "$WORK/guest_other.out" || failures=$((failures + 1))
	psql -X -q -d "$DB" -c "TRUNCATE events"
done

dropdb "$DB"
[ "$failures" -eq 0 ]
