#!/usr/bin/env bash
# scripts/pg-cluster.sh — run one command against a private, throwaway
# PostgreSQL 15 cluster, then stop it and delete it.
#
#   scripts/pg-cluster.sh [-o name=value]... command [args...]
#
# The cluster lives in its own temporary directory (initdb as the postgres
# user when run as root), listens only on a Unix socket in that directory,
# and is removed on exit, including on error or Ctrl-C.  Nothing is shared
# with other clusters on the machine: no fixed cluster name that a killed
# run could leave behind (Debian's pg_virtualenv, run as root, uses
# /etc/postgresql/15/regress and refuses to start while one exists), no TCP
# port.  The command sees PGHOST, PGPORT, PGUSER and PGDATABASE.
set -euo pipefail

BINDIR=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)
settings=()
while getopts "o:" opt; do
	case $opt in
	o) settings+=("$OPTARG") ;;
	*)
		echo "usage: $0 [-o name=value]... command [args...]" >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ]; then
	echo "usage: $0 [-o name=value]... command [args...]" >&2
	exit 2
fi

dir=$(mktemp -d /tmp/protector-pg.XXXXXX)
chmod 755 "$dir"
if [ "$(id -u)" = 0 ]; then
	chown postgres:postgres "$dir"
	as_owner() { runuser -u postgres -- "$@"; }
	owner=postgres
else
	as_owner() { "$@"; }
	owner=$(id -un)
fi

cleanup() {
	set +e
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_owner "$BINDIR/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if ! as_owner "$BINDIR/initdb" -D "$dir/data" -U "$owner" -A trust \
	-E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
	cat "$dir/initdb.log" >&2
	exit 1
fi
{
	echo "# scripts/pg-cluster.sh"
	echo "listen_addresses = ''"
	echo "unix_socket_directories = '$dir'"
	echo "port = 5432"
	echo "fsync = off"
	echo "log_min_messages = warning"
	for s in "${settings[@]}"; do
		echo "$s"
	done
} | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null

if ! as_owner "$BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
	start >/dev/null; then
	echo "pg-cluster: the server did not start; its log:" >&2
	cat "$dir/server.log" >&2
	exit 1
fi

export PGHOST="$dir" PGPORT=5432 PGUSER="$owner" PGDATABASE=postgres
set +e
"$@"
rc=$?
exit $rc
