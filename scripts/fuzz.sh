#!/usr/bin/env bash
# scripts/fuzz.sh — `make fuzz`: hostile calls of every function of the
# schemas protector and protector_internal, then random queries from
# sqlsmith, against a throwaway PostgreSQL 15 cluster (scripts/pg-cluster.sh)
# holding the installed protector and the data of test/ops/fixture.sql.
# Not part of `make test`; it fuzzes the installed build (make install
# first).
#
#   FUZZ_CALLS=50          calls per function and pass, at least (each value
#                          of the pool of an argument's type comes at least
#                          once at every position, scripts/fuzz.sql)
#   FUZZ_SEED=<random>     the same seed draws the same calls
#   SQLSMITH_QUERIES=1000  random queries (0: no sqlsmith)
#   SQLSMITH_TIMEOUT=900   seconds sqlsmith may run in all
#   SQLSMITH_STRICT=1      fail on PostgreSQL's own internal errors too
#   LOGDIR=<mktemp>        logs, kept: the passes', results.csv (every call),
#                          sqlsmith's log and queries
#   FUZZ_SELFTEST=1        add calls that crash, hang, fail internally: the
#                          run must report each and fail
#
# Every call runs twice, as the superuser and as `authenticated` signed in
# as the fixture's owner, each call its own statement (statement_timeout
# 10 s) in a subtransaction that is rolled back.  Ordinary errors are
# counted by SQLSTATE.  It fails on a backend crash (the connection drops,
# or the server log says a process was terminated by a signal or PANIC),
# an internal error (SQLSTATE XX000, XX001, XX002), "cache lookup failed",
# or a hang (a call cancelled by the 10 s timeout, or one a watchdog had to
# end).  Of sqlsmith's queries, crashes count, and the internal errors the
# server log places in protector's code (src/*.c, or under one of its
# functions); PostgreSQL's own (sqlsmith finds some in any PostgreSQL 15)
# are listed only.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_CALLS=${FUZZ_CALLS:-50}
FUZZ_SEED=${FUZZ_SEED:-$(( (RANDOM << 15 | RANDOM) & 0x7fffffff ))}
SQLSMITH_QUERIES=${SQLSMITH_QUERIES:-1000}
SQLSMITH_TIMEOUT=${SQLSMITH_TIMEOUT:-900}
export FUZZ_CALLS FUZZ_SEED SQLSMITH_QUERIES SQLSMITH_TIMEOUT

# ---------------------------------------------------------------------------
# outside the cluster: provision, then run this script again inside one
if [ "${1:-}" != "--in-cluster" ]; then
	# sqlsmith only fails its own part when it cannot be installed
	if ! bash scripts/install-deps.sh fuzz; then
		echo "fuzz: scripts/install-deps.sh fuzz failed (see above)" >&2
	fi
	if ! command -v sqlsmith >/dev/null; then
		echo "fuzz: sqlsmith is not installed (Debian package sqlsmith): its part will fail" >&2
	fi
	sharedir=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --sharedir)
	if [ ! -f "$sharedir/extension/protector.control" ]; then
		echo "fuzz: protector is not installed in $sharedir (make install)" >&2
		exit 1
	fi
	# log_error_verbosity: the server log carries each error's SQLSTATE
	exec bash scripts/pg-cluster.sh -o "statement_timeout=10s" \
		-o "log_error_verbosity=verbose" bash "$0" --in-cluster
fi

# ---------------------------------------------------------------------------
# inside the cluster (PGHOST, PGPORT, PGUSER set by scripts/pg-cluster.sh)
DB=protector_fuzz
LOGDB=protector_fuzz_log
OWNER=00000000-0000-4000-8000-00000000aa01	# test/ops/fixture.sql's owner
APP=protector-fuzz
HANG_KILL=25		# seconds after which the watchdog ends a call
MAX_INCIDENTS=10	# crashes and hangs per pass before giving up on it
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/protector-fuzz.XXXXXX)}
mkdir -p "$LOGDIR"
SERVER_LOG="$PGHOST/server.log"	# where scripts/pg-cluster.sh logs
started=$SECONDS
failed=0

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
server_up() { psql -X -q -A -t -d postgres -c "SELECT 1" >/dev/null 2>&1; }
wait_for_server() {
	for _ in $(seq 1 120); do
		server_up && return 0
		sleep 0.5
	done
	return 1
}
log_size() { if [ -r "$SERVER_LOG" ]; then stat -c %s "$SERVER_LOG"; else echo 0; fi; }
# the server log's crashes since byte $1
server_crashes() {
	[ -r "$SERVER_LOG" ] || return 0
	tail -c +"$(($1 + 1))" "$SERVER_LOG" | grep -aE 'terminated by signal|PANIC:|was terminated by exception' || true
}

# The internal errors in the server log since byte $1 (log_error_verbosity
# = verbose: "ERROR:  XX000: message", then CONTEXT, LOCATION, STATEMENT),
# one line each: whose (protector when raised in one of src/*.c, or under
# one of protector's functions; else postgresql), message, location,
# statement.
internal_errors() {
	[ -r "$SERVER_LOG" ] || return 0
	tail -c +"$(($1 + 1))" "$SERVER_LOG" | awk -v srcs="|$SOURCES" -v funcs="|$FUNCTIONS|" '
		function flush(  file, owner, i, n, fn) {
			if (msg != "") {
				file = loc
				sub(/.*, /, "", file)
				sub(/:[0-9]+$/, "", file)
				owner = (index(srcs, "|" file "|") || ctx ~ /function protector(_internal)?\./) ? "protector" : "postgresql"
				if (owner == "postgresql" && ctx != "") {
					n = split(funcs, fn, "|")
					for (i = 1; i <= n; i++)
						if (fn[i] != "" && index(ctx, "function \"" fn[i] "\""))
							owner = "protector"
				}
				gsub(/\t/, " ", stmt)
				print owner "\t" msg "\t" loc "\t" substr(stmt, 1, 600)
			}
			msg = ""; loc = ""; ctx = ""; stmt = ""; instmt = 0
		}
		/^[0-9]+-[0-9]+-[0-9]+ [0-9:.]+ [^ ]+ \[[0-9]+\] / {
			line = $0
			sub(/^[^[]*\[[0-9]+\] /, "", line)
			instmt = 0
			if (line ~ /^(ERROR|FATAL|PANIC):  /) {
				flush()
				if (line ~ /^[A-Z]+:  XX00[0-2]:/ || line ~ /cache lookup failed/)
					msg = line
			} else if (msg != "" && line ~ /^CONTEXT:  /) {
				ctx = line
			} else if (msg != "" && line ~ /^LOCATION:  /) {
				loc = substr(line, 12)
			} else if (msg != "" && line ~ /^STATEMENT:  /) {
				stmt = substr(line, 13)
				instmt = 1
			} else if (line !~ /^(DETAIL|HINT|QUERY):/) {
				flush()
			}
			next
		}
		instmt { stmt = stmt " " $0; next }
		msg != "" { ctx = ctx " " $0 }
		END { flush() }'
}
SOURCES=$(for f in src/*.c; do printf '%s|' "${f##*/}"; done)

echo "== setup (seed $FUZZ_SEED, $FUZZ_CALLS calls per function, logs in $LOGDIR)"
createdb "$DB"
if ! psql -X -q -v ON_ERROR_STOP=1 -d "$DB" \
	-f test/fixtures/supabase.sql \
	-c "CREATE EXTENSION protector CASCADE" \
	-f test/ops/fixture.sql \
	-v calls="$FUZZ_CALLS" -v seed="$FUZZ_SEED" -f scripts/fuzz.sql >"$LOGDIR/setup.log" 2>&1; then
	grep -a -B2 -A8 'ERROR' "$LOGDIR/setup.log" | tail -40
	echo "fuzz: setup failed (log: $LOGDIR/setup.log)"
	exit 1
fi
version=$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'protector'")
read -r ncalls nfunctions < <(q -F ' ' -c "SELECT count(*), count(DISTINCT fn) FROM fuzz.calls")
npool=$(q -c "SELECT count(*) FROM fuzz.pool")
FUNCTIONS=$(q -c "SELECT string_agg(DISTINCT proname, '|') FROM pg_proc WHERE pronamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)")
echo "protector $version: $nfunctions functions, $ncalls calls per pass, $npool hostile values"

# FUZZ_SELFTEST=1: five more calls that the harness must catch and report
# (as superuser; as authenticated most are refused): a segfault, a call
# past the timeout, a COPY stuck waiting for its program, a dropped
# connection, an internal error.  That run must fail.
if [ "${FUZZ_SELFTEST:-0}" = 1 ]; then
	echo "selftest: adding a crash, two hangs, a lost connection, an XX000"
	q <<'SQL'
INSERT INTO fuzz.calls (id, fn, sql)
SELECT m.id + v.n, v.fn::regprocedure, v.sql
FROM (SELECT max(id) AS id FROM fuzz.calls) m, (VALUES
	(1, 'pg_sleep(double precision)', $q$COPY (SELECT 1) TO PROGRAM 'kill -SEGV $PPID'$q$),
	(2, 'pg_sleep(double precision)', $q$SELECT pg_sleep(12)$q$),
	(3, 'pg_sleep(double precision)', $q$COPY (SELECT 1) TO PROGRAM 'sleep 40'$q$),
	(4, 'pg_terminate_backend(integer,bigint)', $q$SELECT pg_terminate_backend(pg_backend_pid())$q$),
	(5, 'pg_sleep(double precision)', $q$DO $d$ BEGIN RAISE SQLSTATE 'XX000' USING MESSAGE = 'selftest: cache lookup failed for nothing'; END $d$$q$)
) v(n, fn, sql);
SQL
fi

# The watchdog ends calls that outlive statement_timeout (a loop that never
# checks for interrupts): pg_terminate_backend, then SIGKILL to the backend
# (this cluster's own process) if that does not help.  It notes the call.
watchdog() {
	local pid query
	declare -A asked
	while sleep 5; do
		while IFS='|' read -r pid query; do
			[ -n "$pid" ] || continue
			echo "$query" | sed -n "s/.*fuzz\.run('\([a-z]*\)', \([0-9]*\)).*/\1 \2/p" >>"$LOGDIR/hung"
			if [ -n "${asked[$pid]:-}" ]; then
				kill -KILL "$pid" 2>/dev/null || true
			else
				asked[$pid]=1
				psql -X -q -A -t -d postgres -c "SELECT pg_terminate_backend($pid)" >/dev/null 2>&1 || true
			fi
		done < <(psql -X -q -A -t -d postgres -c "SELECT pid, query FROM pg_stat_activity
			WHERE application_name = '$APP' AND state = 'active'
			  AND now() - query_start > interval '$HANG_KILL seconds'" 2>/dev/null || true)
	done
}

# One pass: every call as its own statement, in id order.  psql logs each
# statement before it sends it (-L), so when the connection drops the last
# call in that log is the culprit: note it (with the server log's word on
# it, or the FATAL psql saw), wait for the server to come back, go on after
# it.
run_pass() {
	local pass=$1 after=0 rc culprit kind detail log_mark incidents=0
	: >"$LOGDIR/$pass.log"
	: >"$LOGDIR/$pass.queries"
	while :; do
		rc=0
		log_mark=$(log_size)
		{
			echo "SET application_name = '$APP';"
			if [ "$pass" = authenticated ]; then
				echo "SET ROLE authenticated;"
				echo "SELECT set_config('request.jwt.claims', '{\"sub\": \"$OWNER\", \"role\": \"authenticated\"}', false) \\g /dev/null"
				echo "SELECT set_config('request.headers', '{\"x-forwarded-for\": \"203.0.113.7, 10.0.0.1\"}', false) \\g /dev/null"
			fi
			echo "SELECT format('SELECT fuzz.run(%L, %s)', '$pass', id) FROM fuzz.calls WHERE id > $after ORDER BY id \\gexec"
		} | psql -X -q -A -t -d "$DB" -L "$LOGDIR/$pass.queries" >/dev/null 2>>"$LOGDIR/$pass.log" || rc=$?
		[ "$rc" -eq 0 ] && return 0
		culprit=$(grep -ao "^SELECT fuzz.run('$pass', [0-9]*)" "$LOGDIR/$pass.queries" | tail -1 | sed 's/.*, \([0-9]*\))$/\1/')
		if ! wait_for_server; then
			echo "$pass: the server does not answer any more"
			echo "crash|$pass|${culprit:-0}|the server did not come back" >>"$LOGDIR/incidents"
			return 1
		fi
		if [ -z "$culprit" ] || [ "$culprit" -le "$after" ]; then
			echo "$pass: psql failed ($rc) outside the calls:"
			tail -5 "$LOGDIR/$pass.log"
			echo "crash|$pass|0|psql failed ($rc) outside the calls" >>"$LOGDIR/incidents"
			return 1
		fi
		kind=crash
		if grep -qx "$pass $culprit" "$LOGDIR/hung" 2>/dev/null; then kind=hang; fi
		detail=$(server_crashes "$log_mark" | head -1 | sed 's/.*\(terminated by \)/\1/')
		if [ -z "$detail" ]; then
			detail="connection lost: $(grep -aE '^(psql:[^ ]* )?(FATAL|PANIC):' "$LOGDIR/$pass.log" | tail -1)"
		fi
		detail=$(printf '%s' "$detail" | tr -d '\\|' | cut -c1-300)
		echo "$kind|$pass|$culprit|$detail" >>"$LOGDIR/incidents"
		echo "$pass: call $culprit: $kind ($detail)"
		incidents=$((incidents + 1))
		if [ "$incidents" -ge "$MAX_INCIDENTS" ]; then
			echo "$pass: $incidents crashes and hangs, the rest of the pass is skipped"
			return 1
		fi
		after=$culprit
	done
}

watchdog &
watchdog_pid=$!
trap 'kill "$watchdog_pid" 2>/dev/null || true' EXIT
: >"$LOGDIR/incidents"
log_start=$(log_size)
for pass in superuser authenticated; do
	t0=$SECONDS
	echo "== pass: $pass"
	run_pass "$pass" || true
	if ! server_up; then
		echo "fuzz: the server is down after the $pass pass"
		exit 1
	fi
	echo "$pass: $(q -c "SELECT count(*) FROM fuzz.results WHERE pass = '$pass'") calls in $((SECONDS - t0)) s"
done
kill "$watchdog_pid" 2>/dev/null || true
trap - EXIT

# uncaught errors: fuzz.run catches every error, so psql reports only what
# escaped it (a FATAL, an error in the handler)
uncaught=$(grep -ahE '^(psql:[^ ]* )?(ERROR|FATAL|PANIC):' "$LOGDIR/superuser.log" "$LOGDIR/authenticated.log" | sort | uniq -c | sort -rn || true)
log_crashes=$(server_crashes "$log_start")

echo "== results by SQLSTATE"
# (the most frequent message, cut, control and invisible characters replaced)
psql -X -q -d "$DB" -P footer=off -c "
	SELECT r.sqlstate,
		   count(*) FILTER (WHERE pass = 'superuser') AS superuser,
		   count(*) FILTER (WHERE pass = 'authenticated') AS authenticated,
		   left(regexp_replace(mode() WITHIN GROUP (ORDER BY r.message), E'[\\\\x01-\\\\x1f\\\\x7f-\\\\x9f\\\\u061c\\\\u200b-\\\\u200f\\\\u202a-\\\\u202e\\\\u2060-\\\\u2069\\\\ufeff]', '?', 'g'), 70) AS \"most frequent message\"
	FROM fuzz.results r GROUP BY r.sqlstate ORDER BY count(*) DESC, r.sqlstate"
echo "functions that returned at least once: $(q -c "SELECT count(DISTINCT c.fn) FILTER (WHERE r.pass = 'superuser'), count(DISTINCT c.fn) FILTER (WHERE r.pass = 'authenticated') FROM fuzz.results r JOIN fuzz.calls c ON c.id = r.call_id WHERE r.sqlstate = '00000'" | sed 's/|/ as superuser, /') as authenticated (of $nfunctions)"
echo "never returned (most frequent SQLSTATE): $(q -c "SELECT string_agg(format('%s (%s)', fn::oid::regproc, st), ', ' ORDER BY fn::text) FROM (SELECT c.fn, mode() WITHIN GROUP (ORDER BY r.sqlstate) AS st FROM fuzz.results r JOIN fuzz.calls c ON c.id = r.call_id GROUP BY c.fn HAVING count(*) FILTER (WHERE r.sqlstate = '00000') = 0) f")"
echo "slowest calls: $(q -c "SELECT string_agg(format('%s %s ms', c.fn::oid::regproc, r.ms), ', ' ORDER BY r.ms DESC) FROM (SELECT * FROM fuzz.results ORDER BY ms DESC LIMIT 3) r JOIN fuzz.calls c ON c.id = r.call_id")"

# every call with what it did, for a closer look
q -c "\\copy (SELECT r.pass, r.call_id, c.fn, r.sqlstate, r.ms, r.message, c.sql FROM fuzz.results r JOIN fuzz.calls c ON c.id = r.call_id ORDER BY r.call_id, r.pass) TO '$LOGDIR/results.csv' WITH (FORMAT csv, HEADER)"

# the offending calls: internal errors, cache lookups, timeouts
q -c "CREATE TABLE fuzz.incidents (kind text, pass text, call_id integer, detail text)"
if [ -s "$LOGDIR/incidents" ]; then
	q -c "\\copy fuzz.incidents FROM '$LOGDIR/incidents' WITH (DELIMITER '|')"
fi
offending=$(q -F $'\t' -c "
	WITH bad AS (
		SELECT CASE WHEN r.sqlstate = '57014' THEN 'hang' ELSE 'internal' END AS kind,
			   r.pass, r.call_id, r.sqlstate, r.message
		FROM fuzz.results r
		WHERE r.sqlstate IN ('XX000', 'XX001', 'XX002', '57014') OR r.message ILIKE '%cache lookup failed%'
		UNION ALL
		SELECT i.kind, i.pass, i.call_id, NULL, i.detail FROM fuzz.incidents i
	)
	SELECT b.kind, b.pass, coalesce(b.sqlstate, '-'),
		   coalesce(regexp_replace(left(b.message, 200), E'[\\\\x01-\\\\x1f\\\\x7f-\\\\x9f]', '?', 'g'), '-'),
		   coalesce(left(c.sql, 600), '(after the last call)')
	FROM bad b LEFT JOIN fuzz.calls c ON c.id = b.call_id
	ORDER BY b.kind, b.call_id, b.pass")
n_crash=$(q -c "SELECT count(*) FROM fuzz.incidents WHERE kind = 'crash'")
n_hang=$(q -c "SELECT (SELECT count(*) FROM fuzz.incidents WHERE kind = 'hang') + (SELECT count(*) FROM fuzz.results WHERE sqlstate = '57014')")
n_internal=$(q -c "SELECT count(*) FROM fuzz.results WHERE sqlstate IN ('XX000', 'XX001', 'XX002') OR message ILIKE '%cache lookup failed%'")
n_results=$(q -c "SELECT count(*) FROM fuzz.results")
n_errors=$(q -c "SELECT count(*) FROM fuzz.results WHERE sqlstate <> '00000'")
by_state=$(q -c "SELECT string_agg(sqlstate || ' ' || n, ', ' ORDER BY n DESC, sqlstate) FROM (SELECT sqlstate, count(*) AS n FROM fuzz.results WHERE sqlstate <> '00000' GROUP BY 1) s")
if [ -n "$log_crashes" ] && [ "$n_crash" -eq 0 ]; then
	n_crash=$(echo "$log_crashes" | grep -c 'terminated by signal\|PANIC' || true)
fi

if [ -n "$offending" ]; then
	echo
	echo "== OFFENDING CALLS (kind, pass, SQLSTATE, message, call)"
	echo "$offending" | sed 's/^/  /'
	failed=1
fi
if [ -n "$uncaught" ]; then
	echo
	echo "== ERRORS THAT ESCAPED THE CALLS' SUBTRANSACTIONS (in $LOGDIR/superuser.log, authenticated.log)"
	echo "$uncaught" | head -20 | cut -c1-300
	failed=1
fi
if [ -n "$log_crashes" ]; then
	echo
	echo "== THE SERVER LOG REPORTS CRASHES"
	echo "$log_crashes" | head -20
	failed=1
fi
summary="fuzz: $n_results calls, $n_errors errors by SQLSTATE (${by_state:-none}), $n_crash crashes, $n_internal internal errors, $n_hang hangs"

# ---------------------------------------------------------------------------
# sqlsmith: random queries against the same database (the fuzz schema goes
# first, so that sqlsmith's queries are about protector), errors logged to
# another database with their SQLSTATE
q -c "SET client_min_messages = warning" -c "DROP SCHEMA fuzz CASCADE"
smith="not run"
if [ "$SQLSMITH_QUERIES" -gt 0 ]; then
	echo
	echo "== sqlsmith: $SQLSMITH_QUERIES queries"
	if ! command -v sqlsmith >/dev/null; then
		echo "sqlsmith is not installed (Debian package sqlsmith; scripts/install-deps.sh fuzz, as root)"
		smith="NOT INSTALLED"
		failed=1
	else
		createdb "$LOGDB"
		# sqlsmith's log schema (its log.sql), the parts it writes to
		psql -X -q -v ON_ERROR_STOP=1 -d "$LOGDB" -c "
			CREATE TABLE instance (id bigserial PRIMARY KEY, rev text, target text, hostname text,
				version text, seed text, t timestamptz DEFAULT now());
			CREATE TABLE error (id bigint REFERENCES instance, msg text, query text, target text,
				sqlstate text, t timestamptz DEFAULT now(), errid bigserial PRIMARY KEY);
			CREATE TABLE stat (id bigint REFERENCES instance, generated bigint, level float,
				nodes float, retries float, updated timestamptz, impedance jsonb);"
		conn="host=$PGHOST port=$PGPORT user=$PGUSER"
		smith_log_start=$(log_size)
		t0=$SECONDS
		rc=0
		timeout --kill-after=10 "$SQLSMITH_TIMEOUT" sqlsmith --target="$conn dbname=$DB" \
			--log-to="$conn dbname=$LOGDB" --seed="$FUZZ_SEED" --exclude-catalog \
			--max-queries="$SQLSMITH_QUERIES" --verbose --dump-all-queries \
			>"$LOGDIR/sqlsmith-queries.sql" 2>"$LOGDIR/sqlsmith.log" || rc=$?
		elapsed=$((SECONDS - t0))
		# its verbose report: "queries: N" (generated and run) at the end
		n_run=$(grep -a '^queries: ' "$LOGDIR/sqlsmith.log" | tail -1 | tr -cd '0-9')
		n_run=${n_run:-0}
		by_smith=""
		smith_lost=""
		n_timeout="?"
		n_lost=0
		if server_up || wait_for_server; then
			by_smith=$(psql -X -q -A -t -d "$LOGDB" -c "SELECT string_agg(sqlstate || ' ' || n, ', ' ORDER BY n DESC, sqlstate) FROM (SELECT coalesce(sqlstate, '?') AS sqlstate, count(*) AS n FROM error GROUP BY 1 ORDER BY 2 DESC LIMIT 8) s" 2>/dev/null || true)
			read -r n_timeout n_lost < <(psql -X -q -A -t -F ' ' -d "$LOGDB" -c "SELECT count(*) FILTER (WHERE sqlstate = '57014'), count(*) FILTER (WHERE sqlstate LIKE '08%' OR msg ~* 'server closed the connection|terminating connection') FROM error" 2>/dev/null || echo "? ?") || true
			# the queries that lost the connection (the logger's own
			# connection goes too when the server restarts: the first is it)
			smith_lost=$(psql -X -q -A -t -d "$LOGDB" -c "SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 600) FROM error
				WHERE sqlstate LIKE '08%' OR msg ~* 'server closed the connection|terminating connection' ORDER BY errid LIMIT 5" 2>/dev/null || true)
		fi
		smith_crashes=$(server_crashes "$smith_log_start")
		internal_errors "$smith_log_start" >"$LOGDIR/sqlsmith-internal.tsv"
		n_ours=$(grep -c '^protector' "$LOGDIR/sqlsmith-internal.tsv" || true)
		n_theirs=$(grep -c '^postgresql' "$LOGDIR/sqlsmith-internal.tsv" || true)
		smith="$n_run queries in $elapsed s ($n_timeout timeouts of its 1 s limit${by_smith:+; errors by SQLSTATE: $by_smith}), $n_ours internal errors in protector, $n_theirs in PostgreSQL itself"
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "sqlsmith was stopped after SQLSMITH_TIMEOUT=$SQLSMITH_TIMEOUT s"
			smith="$smith, stopped by SQLSMITH_TIMEOUT"
		elif [ "$rc" -ne 0 ]; then
			echo "sqlsmith failed ($rc):"
			tail -5 "$LOGDIR/sqlsmith.log"
			smith="$smith, FAILED ($rc)"
			failed=1
		fi
		if ! server_up; then
			echo "THE SERVER DOES NOT ANSWER AFTER SQLSMITH"
			smith="$smith, server down"
			failed=1
		fi
		if [ -s "$LOGDIR/sqlsmith-internal.tsv" ]; then
			echo
			echo "== internal errors of sqlsmith's queries (where raised: the server log's LOCATION; in protector when in src/*.c or under one of its functions)"
			awk -F'\t' '{ k = $1 "\t" $2 "\t" $3; n[k]++; if (!(k in q)) q[k] = $4 }
				END { for (k in n) { split(k, f, "\t"); printf "%d\t%s\t%s (%s)\n\t\te.g. %s\n", n[k], f[1], f[2], f[3], substr(q[k], 1, 300) } }' \
				"$LOGDIR/sqlsmith-internal.tsv" | sed 's/^/  /'
			if [ "$n_ours" -gt 0 ]; then
				failed=1
			elif [ "${SQLSMITH_STRICT:-0}" = 1 ]; then
				echo "  (SQLSMITH_STRICT=1: PostgreSQL's own count too)"
				failed=1
			else
				echo "  (PostgreSQL's own are reported, not counted against protector; SQLSMITH_STRICT=1 counts them)"
			fi
		fi
		if [ -n "$smith_crashes" ] || [ "$n_lost" != 0 ] || [ -n "$smith_lost" ]; then
			echo
			echo "== SQLSMITH CRASHED THE SERVER ($n_lost queries lost the connection; all queries in $LOGDIR/sqlsmith-queries.sql)"
			if [ -n "$smith_crashes" ]; then
				echo "$smith_crashes" | head -10 | sed 's/^/  /'
			fi
			if [ -n "$smith_lost" ]; then
				echo "$smith_lost" | sed 's/^/  query: /'
			fi
			smith="$smith, $n_lost lost connections"
			failed=1
		fi
	fi
fi

echo
echo "$summary; sqlsmith: $smith; $((SECONDS - started)) s"
if [ "$failed" -ne 0 ]; then
	echo "fuzz: FAILED (logs in $LOGDIR)"
	exit 1
fi
echo "fuzz: clean"
