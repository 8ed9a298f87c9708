#!/usr/bin/env bash
# scripts/demo.sh — `make demo`: provision, build, install, start a
# throwaway PostgreSQL 15 cluster, create the extension, load sample data
# and walk through a booking scenario.  The cluster is dropped at the end;
# `make demo KEEP=1` opens a psql shell on it first (the cluster goes away
# when that shell exits).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
echo "== building and installing protector"
make -s >/dev/null
make -s install >/dev/null

export DEMO_KEEP="${KEEP:-0}"
exec pg_virtualenv -v 15 bash -c '
	set -euo pipefail
	createdb protector_demo
	psql -X -q -v ON_ERROR_STOP=1 -d protector_demo -f scripts/demo.sql
	if [ "$DEMO_KEEP" = 1 ]; then
		echo
		echo "KEEP=1: the demo database is open below; leave psql to drop the cluster."
		psql -X -d protector_demo </dev/tty
	fi
'
