#!/usr/bin/env bash
# bench/huge_pages.sh — runs from bench/run.sh (BENCH_PARTS=hugepages; not
# in the default parts; needs root).
#
# What the operating system's memory pages cost a booking.  A backend maps
# each page of shared memory it touches on first use: with 4 kB pages a
# new connection faults on every page of every buffer it reads, and a
# full booking (audit row, review task, desk notification: four more
# tables and eleven more index entries than (b)) touches many more
# buffers than (b)'s insert.  With huge pages (2 MB) those faults and
# most TLB misses go.  This part reserves huge pages for the run
# (vm.nr_hugepages, put back as it was at the end), makes one cluster of
# its own and restarts it for every run with huge_pages = on and off in
# turn: (b) and the full booking (protector.notify = off), wide, 8 clients,
# BENCH_SECONDS (default 8) per run, BENCH_REPEAT (default 7) rounds;
# medians of the runs and of the per-round ratios, and the page faults of
# the whole machine per attempt (/proc/vmstat).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=bench/lib.sh
. ./lib.sh
SECS=${BENCH_SECONDS:-8}
REPEAT=${BENCH_REPEAT:-7}
if [ "$(id -u)" != 0 ] || [ ! -w /proc/sys/vm/nr_hugepages ]; then
	echo "== huge pages: skipped (needs root and a writable vm.nr_hugepages)"
	exit 0
fi
BINDIR=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)
dir=$(mktemp -d /tmp/protector-hugepages.XXXXXX)
chmod 755 "$dir"
chown postgres:postgres "$dir"
pages_before=$(cat /proc/sys/vm/nr_hugepages)
as_postgres() { runuser -u postgres -- "$@"; }
cleanup() {
	set +e
	[ -f "$dir/data/postmaster.pid" ] && as_postgres "$BINDIR/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
	echo "$pages_before" >/proc/sys/vm/nr_hugepages
	rm -rf "$dir"
}
trap cleanup EXIT
# shared_buffers 512MB and the rest of the shared memory: 300 pages of 2 MB
echo 300 >/proc/sys/vm/nr_hugepages
as_postgres "$BINDIR/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
fsync = off
shared_buffers = 512MB
max_wal_size = 16GB
checkpoint_timeout = 1h
max_connections = 50
log_min_messages = warning
EOF
export PGHOST=$dir PGPORT=5432 PGUSER=postgres PGDATABASE=protector_huge_pages
start() { as_postgres "$BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "-c huge_pages=$1" start >/dev/null; }
stop() { as_postgres "$BINDIR/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null; }
start off
createdb "$PGDATABASE"
psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -f setup.sql >/dev/null
psql -X -q -c "SELECT bench.workflow(true)" >/dev/null
stop

faults() { awk '$1 == "pgfault" { print $2 }' /proc/vmstat; }
run() {	# $1 = excl or protector -> "attempts/s faults-per-attempt"
	fresh_tables "$PGDATABASE"
	local f0 n
	f0=$(faults)
	n=$(PGOPTIONS="-c protector.notify=off" pgbench -n -c 8 -j 2 -T "$SECS" -D nsvc=200 -D nslots=17520 \
		-f "attempt_$1.pgbench" 2>&1 | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	echo "$((n / SECS)) $(echo "($(faults) - $f0) / $n" | bc -l)"
}

echo "== huge pages: attempts per second, wide, 8 clients, ${SECS}s per run, median of $REPEAT rounds"
echo "   (the cluster restarted for every setting; odd and even rounds in opposite order)"
declare -A TPS=() FAULTS=() RATIO=()
for r in $(seq 1 "$REPEAT"); do
	if [ $((r % 2)) = 1 ]; then order="on off"; else order="off on"; fi
	for hp in $order; do
		start "$hp"
		read -r e fe <<<"$(run excl)"
		read -r p fp <<<"$(run protector)"
		stop
		TPS[$hp/excl]="${TPS[$hp/excl]:-} $e"
		TPS[$hp/full]="${TPS[$hp/full]:-} $p"
		FAULTS[$hp/excl]="${FAULTS[$hp/excl]:-} $fe"
		FAULTS[$hp/full]="${FAULTS[$hp/full]:-} $fp"
		RATIO[$hp]="${RATIO[$hp]:-} $(echo "$p / $e" | bc -l)"
	done
done
printf '%-12s %-34s %12s %10s %16s\n' huge_pages variant attempts/s "vs (b)" "faults/attempt"
for hp in off on; do
	printf '%-12s %-34s %12.0f %10s %16.2f\n' "$hp" "(b) exclude" "$(median <<<"${TPS[$hp/excl]}")" "1.00x" "$(median <<<"${FAULTS[$hp/excl]}")"
	printf '%-12s %-34s %12.0f %9.2fx %16.2f\n' "$hp" "full booking, notify off" "$(median <<<"${TPS[$hp/full]}")" \
		"$(median <<<"${RATIO[$hp]}")" "$(median <<<"${FAULTS[$hp/full]}")"
done
echo "   vs (b) = median of the per-round ratios; faults = the whole machine's page faults per attempt"
