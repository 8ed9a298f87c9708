#!/usr/bin/env bash
# scripts/capability-table.sh [database] — prints docs/security.md's
# capability table from protector.capability_map(), the one place that
# says which member role may do which action.  The test suite compares its
# output with the block between the capability-map markers of
# docs/security.md; after changing the map, paste the output there.
set -euo pipefail
psql -X -A -t -q -v ON_ERROR_STOP=1 -d "${1:-${PGDATABASE:-postgres}}" <<'SQL'
SELECT '| action | owner | admin | manager | operator | agent | finance | viewer | what it allows |';
SELECT '|---|:-:|:-:|:-:|:-:|:-:|:-:|:-:|---|';
SELECT pg_catalog.format('| `%s` | %s | %s |', m.action,
		(SELECT pg_catalog.string_agg(CASE WHEN r.role = ANY (m.roles) THEN 'x' ELSE '' END, ' | ' ORDER BY r.n)
		 FROM pg_catalog.unnest(pg_catalog.enum_range(NULL::protector.member_role)) WITH ORDINALITY AS r(role, n)),
		m.description)
FROM protector.capability_map() m;
SQL
