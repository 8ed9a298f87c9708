# test/lib.sh — sourced by the shell tests (test/concurrency, test/ops)
# that run inside the throwaway cluster of scripts/test.sh.
#
# fresh_database NAME: a new database NAME with protector installed, in DB,
# and an empty work directory in WORK, removed when the test exits.
fresh_database() {
	DB=$1
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	trap 'rm -rf "$WORK"' EXIT
	dropdb --if-exists "$DB" >/dev/null 2>&1 || true
	createdb "$DB"
	psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SET client_min_messages = warning" \
		-c "CREATE EXTENSION protector CASCADE"
}
