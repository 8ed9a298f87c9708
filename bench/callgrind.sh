# bench/callgrind.sh — sourced by the benchmarks that count instructions
# (instructions.sh, checks.sh) inside the cluster of bench/run.sh: a work
# directory, the cluster stopped while single-user backends run SQL files
# under callgrind, and started again (and the work directory removed) on
# exit, error included.
#
#   callgrind_begin PREFIX     WORK, as_owner; stops the cluster
#   callgrind_count DB FILE    prints the instructions a single-user
#                              backend of DB spends running FILE
#   callgrind_end              starts the cluster again
BINDIR=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)
DATA="$PGHOST/data"
if [ "$(id -u)" = 0 ]; then
	as_owner() { runuser -u postgres -- "$@"; }
else
	as_owner() { "$@"; }
fi
if ! command -v valgrind >/dev/null; then
	echo "valgrind is missing (scripts/install-deps.sh installs it)" >&2
	exit 1
fi
WORK=$(mktemp -d "/tmp/protector-$1.XXXXXX")
chmod 755 "$WORK"
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
callgrind_end() {
	if [ ! -f "$DATA/postmaster.pid" ]; then
		as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$PGHOST/server.log" -w start >/dev/null
	fi
}
trap 'callgrind_end; rm -rf "$WORK"' EXIT
callgrind_begin() {
	chmod 644 "$WORK"/*
	as_owner "$BINDIR/pg_ctl" -D "$DATA" -w stop >/dev/null
}
callgrind_count() {
	local log="$WORK/$(basename "$2").log" ir
	as_owner valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.$(basename "$2")" \
		"$BINDIR/postgres" --single -D "$DATA" -c fsync=off "$1" <"$2" >"$log" 2>&1
	ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log")
	if [ -z "$ir" ]; then
		cat "$log" >&2
		exit 1
	fi
	echo "$ir"
}
