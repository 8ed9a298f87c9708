#!/usr/bin/env bash
# bench/instructions.sh — runs inside the cluster of bench/run.sh.
#
# The reservation variants of bench/inside.sh counted in CPU instructions
# instead of seconds.  Throughput on a shared 2-core VM moves by 15-20%
# between two runs of the same thing (the host's speed does: CPU time per
# attempt moves as much); an instruction count does not.  Every variant
# books the same $N (service, half-hour) pairs of the wide scenario, one
# transaction each, in a single-user backend run under callgrind, into its
# table prefilled with the same 30,000 attempts.  The same statements
# without the booking (SELECT s, i) measure the session itself, which is
# subtracted.  One client, so it says nothing about lock waits: that is
# what the throughput runs are for.
set -euo pipefail
cd "$(dirname "$0")"
N=${BENCH_INSTR_ATTEMPTS:-3000}
DB=protector_instr
. ./callgrind.sh instr

dropdb --if-exists "$DB" >/dev/null 2>&1 || true
createdb "$DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f setup.sql
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
-- the engine alone, as "protector" in bench/inside.sh
SELECT bench.workflow(false) \g /dev/null
SELECT setseed(0.3) \g /dev/null
CREATE TEMP TABLE prefill AS
SELECT (random() * 199)::int + 1 AS s, (random() * 17519)::int AS i FROM generate_series(1, 30000);
SELECT count(*) FILTER (WHERE bench.attempt_plain(s, i)),
	   count(*) FILTER (WHERE bench.attempt_excl(s, i)),
	   count(*) FILTER (WHERE bench.attempt_protector(s, i))
FROM prefill \g /dev/null
SQL
# the full booking (audit row, review task, desk notification, NOTIFY) in a
# copy of the same database, so it books into the same state as protector
dropdb --if-exists "${DB}_full" >/dev/null 2>&1 || true
createdb -T "$DB" "${DB}_full"
psql -X -q -v ON_ERROR_STOP=1 -d "${DB}_full" -c "SELECT bench.workflow(true)" >/dev/null
# the full booking through protector.create_booking, in a third copy
dropdb --if-exists "${DB}_rpc" >/dev/null 2>&1 || true
createdb -T "${DB}_full" "${DB}_rpc"
awk -v n="$N" 'BEGIN { srand(7); for (k = 0; k < n; k++) printf "%d %d\n", int(rand() * 200) + 1, int(rand() * 17520) }' \
	>"$WORK/pairs"
for v in none plain excl protector; do
	if [ $v = none ]; then
		awk '{ printf "SELECT %d, %d;\n", $1, $2 }' "$WORK/pairs"
	else
		awk -v v=$v '{ printf "SELECT bench.attempt_%s(%d, %d);\n", v, $1, $2 }' "$WORK/pairs"
	fi >"$WORK/$v.sql"
done
cp "$WORK/protector.sql" "$WORK/full.sql"
awk '{ printf "SELECT bench.attempt_rpc(%d, %d);\n", $1, $2 }' "$WORK/pairs" >"$WORK/rpc.sql"
awk '{ printf "SELECT bench.attempt_rpc_customer(%d, %d);\n", $1, $2 }' "$WORK/pairs" >"$WORK/rpc_customer.sql"
# (the same bookings for a customer, in a fourth copy)
dropdb --if-exists "${DB}_rpcc" >/dev/null 2>&1 || true
createdb -T "${DB}_full" "${DB}_rpcc"
callgrind_begin
declare -A IR
for v in none plain excl protector full rpc rpc_customer; do
	db=$DB
	[ $v = full ] && db=${DB}_full
	[ $v = rpc ] && db=${DB}_rpc
	[ $v = rpc_customer ] && db=${DB}_rpcc
	IR[$v]=$(callgrind_count "$db" "$WORK/$v.sql")
done
callgrind_end
booked=$(psql -X -A -t -d "$DB" -c "SELECT (SELECT count(*) FROM bench.plain) || ' ' || (SELECT count(*) FROM bench.excl)
	|| ' ' || (SELECT count(*) FROM protector.bookings)")
booked_full=$(psql -X -A -t -d "${DB}_full" -c "SELECT count(*) FROM protector.bookings")
dropdb "$DB"
dropdb "${DB}_full"
dropdb "${DB}_rpc"
dropdb "${DB}_rpcc"

echo "== instructions per booking attempt (callgrind, one single-user backend, wide scenario:"
echo "   $N attempts into tables prefilled with 30,000; the session's own cost subtracted)"
printf '%-14s %14s %10s %10s\n' variant instructions "vs (b)" "vs (a)"
per() { echo "(${IR[$1]} - ${IR[none]}) / $N" | bc; }
a=$(per plain)
b=$(per excl)
for v in plain excl protector full; do
	case $v in plain) label="(a) plain";; excl) label="(b) exclude";; full) label="protector+";; *) label=$v;; esac
	x=$(per $v)
	# fewer instructions is faster: the ratios read like the throughput ones
	printf '%-14s %14d %9.2fx %9.2fx\n' "$label" "$x" "$(echo "$b / $x" | bc -l)" "$(echo "$a / $x" | bc -l)"
done
rpc=$(per rpc)
full=$(per full)
printf '%-14s %14d %9.2fx %9.2fx   (its own part beyond protector+: %d)\n' "create_booking" "$rpc" \
	"$(echo "$b / $rpc" | bc -l)" "$(echo "$a / $rpc" | bc -l)" "$((rpc - full))"
rpcc=$(per rpc_customer)
printf '%-14s %14d %9.2fx %9.2fx   (naming a customer adds: %d)\n' "... customer" "$rpcc" \
	"$(echo "$b / $rpcc" | bc -l)" "$(echo "$a / $rpcc" | bc -l)" "$((rpcc - rpc))"
echo "   rows after the run (plain, exclude, protector, protector+): $booked $booked_full"
echo "   protector+ = the same booking with its audit row, review task, desk notification and NOTIFY"
echo "   (a single-user backend starts no outbox worker: its announcements NOTIFY at its own commit)"
echo "   (exclude and protector refuse the same attempts: their counts must agree)"
echo "   create_booking = protector+ through the RPC (price, slot check, answer), its starts from tomorrow"
echo "   ... customer = create_booking naming a customer of the organization (the merged/erased check)"
