# bench/lib.sh — what the bench parts share; sourced, not run.

# the median of whitespace-separated numbers on stdin (the upper one of an
# even count)
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# a fresh database named $1 with the bench's tables and functions (setup.sql)
bench_database() {
	dropdb --if-exists "$1" >/dev/null 2>&1 || true
	createdb "$1"
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f setup.sql
}
