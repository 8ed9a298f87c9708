#!/usr/bin/env bash
# scripts/lint.sh — cppcheck over the C sources (warnings in PostgreSQL's
# own headers are not ours).  The -Werror build is make's own check.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_INC=$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --includedir-server)

cppcheck -j 2 --enable=warning,style,performance,portability --std=c99 --quiet \
	--inline-suppr --error-exitcode=1 \
	-I src -I "$PG_INC" -D__GNUC__ -DPG_MODULE_MAGIC= \
	--suppress=missingIncludeSystem --suppress=missingInclude \
	--suppress="*:$PG_INC/*" --suppress=toomanyconfigs \
	src/*.c
echo "cppcheck: no warnings"
