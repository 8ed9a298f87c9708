#!/usr/bin/env bash
# scripts/test.sh — `make test`: provision, build with warnings as errors,
# install, then run every suite against a throwaway PostgreSQL 15 cluster
# that scripts/pg-cluster.sh creates and drops around the run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== build (-Wall -Wextra -Werror)"
make -s clean >/dev/null
make -s >/dev/null
echo "== install"
make -s install >/dev/null

echo "== throwaway cluster"
exec bash scripts/pg-cluster.sh -o "max_connections=120" \
	bash scripts/run-suites.sh
