#!/usr/bin/env bash
# test/concurrency/audit_races.sh — the audit log's maintenance beside
# itself and beside an erasure (found by an attack review of the audit):
# 1. enable_audit and disable_audit called twice at the same moment on one
#    table: the second waits for the first and answers false, as the same
#    call again does (it read the old state before the first committed and
#    its CREATE or DROP TRIGGER failed bare: "already exists", "does not
#    exist");
# 2. an organization's audit purge and an erasure there: the erasure waits
#    for the purge's lock of the organization's history before it writes
#    any of it (each locked history rows in its own order, the purge the
#    oldest first, the erasure table by table, and the two deadlocked when
#    a long purge met them: 40P01), and then goes through.
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_audit_races
failures=0

ORG=0f930000-0000-4000-8000-000000000000
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
CREATE TABLE public.t (id int PRIMARY KEY, secret text);
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Audit races', 'audit-races');
INSERT INTO protector.customers (id, organization_id, full_name, email)
VALUES ('0f930000-0000-4000-8000-00000000c001', '$ORG', 'Bea', 'bea@example.com');
UPDATE protector.customers SET notes = 'likes puzzles' WHERE id = '0f930000-0000-4000-8000-00000000c001';
SQL
check() {
	if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1: got '$2', expected '$3'"; failures=$((failures + 1)); fi
}

# 1. twice at once
for call in "enable_audit('public.t', '{secret}')" "disable_audit('public.t')"; do
	PGAPPNAME=first psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT protector.$call" -c "SELECT pg_sleep(2)" \
		-c "COMMIT" >"$WORK/first.log" 2>&1 &
	first=$!
	wait_session first "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
	second=$(psql -X -A -t -q -d "$DB" -c "SELECT protector.$call" 2>&1 | grep -v '^NOTICE' || true)
	wait "$first" || failures=$((failures + 1))
	check "protector.${call%%(*} called twice at the same moment: the second waits and answers false" "$second" f
done

# 2. a purge of the organization's history held open, and an erasure
PGAPPNAME=purger psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT protector.purge_audit_log(now(), '$ORG')" \
	-c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
wait_session purger "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
PGAPPNAME=eraser psql -X -q -d "$DB" -v ON_ERROR_STOP=1 \
	-c "SELECT protector.erase_customer('0f930000-0000-4000-8000-00000000c001') IS NOT NULL" >"$WORK/eraser.log" 2>&1 &
eraser=$!
waits=$(wait_session eraser "wait_event_type = 'Lock' AND wait_event = 'advisory'" >/dev/null && echo "the purge's lock" ||
	psql -X -A -t -d "$DB" -c "SELECT COALESCE(wait_event, 'nothing') FROM pg_stat_activity WHERE application_name = 'eraser'")
check "an erasure beside an open purge of its organization's history waits for the purge's lock before writing history" \
	"$waits" "the purge's lock"
end_session purger
wait "$eraser" || true
check "... and goes through once the purge is over" "$(grep -c 'ERROR' "$WORK/eraser.log" || true)" 0

dropdb "$DB"
echo "# audit_races: $failures failed"
[ "$failures" -eq 0 ]
