#!/usr/bin/env bash
# test/ops/restore_waiting.sh — a restore whose rows refer to rows it did
# not load.  A dump of protector's schema and the extension (pg_dump -n
# protector -e protector, docs/operations.md) restored into a Supabase
# database whose auth.users is still empty: the keys to auth.users exist from CREATE
# EXTENSION on, so the members and customers with accounts, and every row
# that refers to them, are set aside in restore_pending.  Nothing offered
# them again once the users were loaded, and the restore said nothing:
# rows were silently missing.  Now the restore warns, and
# protector.finish_restore(), run once the users are there, restores them:
# the database then equals the source (test/ops/fingerprint.sql).
# Runs inside the throwaway cluster of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK=$(mktemp -d /tmp/protector-restore-waiting.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
SRC=protector_waiting_src
DST=protector_waiting_dst
problems=()

for db in "$SRC" "$DST"; do
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	createdb "$db"
	PGOPTIONS="-c client_min_messages=error" psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f test/fixtures/supabase.sql
done
psql -X -q -v ON_ERROR_STOP=1 -d "$SRC" -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector CASCADE"
psql -X -q -v ON_ERROR_STOP=1 -d "$SRC" -f test/ops/fixture.sql >/dev/null
# (protector's tables: the dump holds no other)
psql -X -A -t -d "$SRC" -f test/ops/fingerprint.sql | grep '^protector' >"$WORK/source.fp"

pg_dump -n protector -e protector -f "$WORK/extension.sql" "$SRC"
pg_dump --data-only -t auth.users -f "$WORK/users.sql" "$SRC"
psql -X -q -v ON_ERROR_STOP=1 -d "$DST" -c "CREATE EXTENSION btree_gist" -f "$WORK/extension.sql" >"$WORK/restore.log" 2>&1 || problems+=("the restore failed")
grep -q "WARNING:  rows restored wait for rows outside protector's schemas that are not there" "$WORK/restore.log" \
	|| problems+=("no warning about the rows set aside")
waiting=$(psql -X -A -t -d "$DST" -c "SELECT count(*) FROM protector_internal.restore_pending")
[ "$waiting" -gt 0 ] || problems+=("no rows waited (the test's premise): $waiting")
psql -X -q -v ON_ERROR_STOP=1 -d "$DST" -f "$WORK/users.sql" >/dev/null
left=$(psql -X -A -t -d "$DST" -c "SELECT count(*) FROM protector.finish_restore()" 2>"$WORK/finish.log")
[ "$left" = 0 ] || problems+=("finish_restore left rows waiting: $left")
psql -X -A -t -d "$DST" -f test/ops/fingerprint.sql 2>&1 | grep '^protector' >"$WORK/restored.fp" || true
diff -u "$WORK/source.fp" "$WORK/restored.fp" >"$WORK/diff" || problems+=("data differs: $(grep -c '^[-+][^-+]' "$WORK/diff") lines")
# finish_restore is the restoring role's
answer=$(psql -X -A -t -d "$DST" -v VERBOSITY=sqlstate -c "SET ROLE authenticated" -c "SELECT * FROM protector.finish_restore()" 2>&1 | tail -1 || true)
[ "$answer" = "ERROR:  42501" ] || problems+=("finish_restore as authenticated: '$answer'")

dropdb "$SRC"
dropdb "$DST"
if [ ${#problems[@]} -eq 0 ]; then
	echo "ok - a dump of protector's schema, restored before its users: warned ($waiting rows set aside), then restored exactly by finish_restore()"
else
	echo "not ok - a dump of protector's schema, restored before its users: ${problems[*]}"
	head -20 "$WORK/diff" 2>/dev/null || true
	exit 1
fi
