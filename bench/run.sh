#!/usr/bin/env bash
# bench/run.sh — `make bench`: every benchmark, each figure a ratio against
# baselines measured in the same run, on a throwaway cluster.
#   BENCH_PARTS (default "reservations instructions checks audit realtime analytics dashboards ids")
#   selects parts (and, not in the default: "profile", perf, as root;
#   "reportlog", what the report-change log costs the engine; "hugepages",
#   (b) and the full booking with and without huge pages, as root;
#   "sidework", the full booking without each part of its side work; "waits", what
#   a full booking waits on and the relation locks it holds; "crowded",
#   availability of a shared service with 30,000 bookings in one hour,
#   and 93 days of slots against 4,000 bookings of 31 days; "erasure",
#   erase_customer of 3,000 bookings and ten erasures in one session);
#   reservations: BENCH_SECONDS (default 8) per run, BENCH_REPEAT (default
#   7) rounds of every variant, medians reported (many short rounds beat a
#   few long ones: the host's speed drifts); 8 clients; synchronous_commit on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh bench
make -s >/dev/null
make -s install >/dev/null
export BENCH_PARTS="${BENCH_PARTS:-reservations instructions checks audit realtime analytics dashboards ids}"
# no checkpoint in the middle of a run: it would land on one variant by chance
exec bash scripts/pg-cluster.sh -o "max_connections=50" -o "shared_buffers=512MB" \
	-o "max_wal_size=16GB" -o "checkpoint_timeout=1h" bash -c '
	set -euo pipefail
	for part in $BENCH_PARTS; do
		case $part in
		reservations) bash bench/inside.sh ;;
		instructions) bash bench/instructions.sh ;;
		checks) bash bench/checks.sh ;;
		audit) bash bench/audit.sh ;;
		realtime) bash bench/realtime.sh ;;
		analytics) bash bench/analytics.sh ;;
		dashboards) bash bench/dashboards.sh ;;
		ids) bash bench/ids.sh ;;
		profile) bash bench/profile.sh ;;
		reportlog) bash bench/report_log.sh ;;
		crowded) bash bench/crowded.sh ;;
		erasure) bash bench/erasure.sh ;;
		hugepages) bash bench/huge_pages.sh ;;
		sidework) bash bench/side_work.sh ;;
		waits) bash bench/waits.sh ;;
		*) echo "unknown benchmark part: $part" >&2; exit 2 ;;
		esac
		echo
	done'
