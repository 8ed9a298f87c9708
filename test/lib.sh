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

# sqlstate_as USER SQL: SQL run as the signed-in USER (tests.authenticate_as,
# test/fixtures/helpers.sql) in a transaction of its own, committed; prints
# "ok", or the SQLSTATE of the error it raised.
sqlstate_as() {
	local out
	out=$(psql -X -q -A -t -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate \
		-c "BEGIN" -c "SELECT tests.authenticate_as('$1')" -c "$2" -c "COMMIT" 2>&1 >/dev/null) || true
	if [ -z "$out" ]; then echo ok; else echo "$out" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | head -1; fi
}

# wait_session APP CONDITION: until the session named APP (PGAPPNAME) is
# where CONDITION, an expression over pg_stat_activity, says (in its
# sleep: "query LIKE 'SELECT pg_sleep%'"; waiting for a lock:
# "wait_event_type = 'Lock'"), at most 20 s; an event, not a fixed sleep
# (a busy machine starts sessions late); fails the test if it never is
wait_session() {
	local i
	for i in $(seq 1 200); do
		[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1' AND $2")" = 1 ] && return 0
		sleep 0.1
	done
	echo "# session $1 never reached: $2"
	return 1
}

# end_session APP: end the sessions of application APP (a holder whose
# rows a test no longer needs held; its psql then exits non-zero)
end_session() {
	psql -X -A -t -q -d "$DB" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$1' AND datname = current_database()" >/dev/null
}
