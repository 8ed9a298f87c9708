# bench/lib.sh — what the bench parts share; sourced, not run.
# shellcheck shell=bash

# the median of whitespace-separated numbers on stdin (the upper one of an
# even count)
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# a fresh database named $1 with the bench's tables and functions (setup.sql)
bench_database() {
	dropdb --if-exists "$1" >/dev/null 2>&1 || true
	createdb "$1"
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f setup.sql
}

# empties the tables the reservation runs book into, in database $1, and
# checkpoints: every timed run starts from the same state
fresh_tables() {
	psql -X -q -d "$1" -c "SET client_min_messages = warning" \
		-c "TRUNCATE bench.excl, protector.bookings, protector.audit_log, protector_internal.report_changes CASCADE" \
		-c "CHECKPOINT" >/dev/null
}

# one timed run (SECS seconds, 8 clients, the wide scenario) of
# attempt_$2.pgbench in database $1, from fresh tables, with the caller's
# PGOPTIONS -> attempts/s; $3, if given, is a statement run in a session
# of its own beside the clients, from their start (it should end with
# them)
wide_attempts() {
	local beside=
	fresh_tables "$1"
	if [ -n "${3:-}" ]; then
		psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "$3" >/dev/null &
		beside=$!
	fi
	pgbench -n -c 8 -j 2 -T "$SECS" -D nsvc=200 -D nslots=17520 -f "attempt_$2.pgbench" "$1" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
	if [ -n "$beside" ]; then wait "$beside"; fi
}

# REPEAT rounds of the caller's run() over the variants $2... (odd rounds
# in the order given, even rounds reversed); TPS[v] collects each run's
# attempts/s, RATIO[v] each round's ratio to the variant $1
alternate_rounds() {
	local base=$1 r v order
	shift
	declare -gA TPS=() RATIO=() ROUND=()
	for r in $(seq 1 "$REPEAT"); do
		order="$*"
		[ $((r % 2)) = 1 ] || order=$(printf '%s\n' "$@" | tac | tr '\n' ' ')
		for v in $order; do
			ROUND[$v]=$(run "$v")
			TPS[$v]="${TPS[$v]:-} ${ROUND[$v]}"
		done
		for v in "$@"; do
			RATIO[$v]="${RATIO[$v]:-} $(echo "${ROUND[$v]} / ${ROUND[$base]}" | bc -l)"
		done
	done
}
