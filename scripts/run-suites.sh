#!/usr/bin/env bash
# scripts/run-suites.sh — runs inside the throwaway cluster of
# scripts/test.sh (PGHOST, PGPORT, PGUSER set by scripts/pg-cluster.sh) and prints
# one summary line "N passed, N failed" over all suites.
#
#   cppcheck    src/*.c, one count
#   pg_regress  test/sql/*.sql vs expected/*.out, one count per test file
#   pgTAP       test/pgtap/*.sql through pg_prove, one count per assertion
#   docs        docs/security.md's capability table against the map
#   concurrency test/concurrency/*.sh, one count per script
#   ops         test/ops/*.sh (restores, upgrades), one count per script
set -uo pipefail
cd "$(dirname "$0")/.."

LOGDIR=${LOGDIR:-$(mktemp -d /tmp/protector-test.XXXXXX)}
# SUITES (default: all) picks some, e.g. SUITES="regress pgtap"
SUITES=${SUITES:-cppcheck regress pgtap docs concurrency ops}
want() { case " $SUITES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
passed=0
failed=0

# --- static analysis ---------------------------------------------------------
if want cppcheck; then
	echo "== cppcheck"
	if bash scripts/lint.sh >"$LOGDIR/lint.log" 2>&1; then
		echo "cppcheck ... ok"
		passed=$((passed + 1))
	else
		cat "$LOGDIR/lint.log"
		echo "cppcheck ... FAILED"
		failed=$((failed + 1))
	fi
fi

# --- pg_regress ------------------------------------------------------------
if want regress; then
	echo "== pg_regress"
	make -s installcheck >"$LOGDIR/regress.log" 2>&1
	regress_rc=$?
	grep -E '^(test| ) ?[0-9A-Za-z_]+ +\.\.\. ' "$LOGDIR/regress.log" || true
	r_ok=$(grep -cE '\.\.\. ok' "$LOGDIR/regress.log")
	r_bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$LOGDIR/regress.log")
	if [ "$regress_rc" -ne 0 ] && [ "$r_bad" -eq 0 ]; then
		r_bad=1
		tail -20 "$LOGDIR/regress.log"
	fi
	if [ -s regression.diffs ]; then
		cp regression.diffs "$LOGDIR/"
		head -150 regression.diffs
	fi
	echo "pg_regress: $r_ok ok, $r_bad not ok"
	passed=$((passed + r_ok))
	failed=$((failed + r_bad))
fi

# --- pgTAP -------------------------------------------------------------------
if want pgtap; then
	echo "== pgTAP"
	TAPDB=protector_tap
	dropdb --if-exists "$TAPDB" >/dev/null 2>&1
	createdb "$TAPDB"
	if psql -X -q -v ON_ERROR_STOP=1 -d "$TAPDB" \
		-f test/fixtures/supabase.sql \
		-c "CREATE EXTENSION protector CASCADE" \
		-c "CREATE EXTENSION pgtap" \
		-f test/fixtures/helpers.sql >"$LOGDIR/tap-setup.log" 2>&1; then
		pg_prove --verbose -d "$TAPDB" test/pgtap/*.sql >"$LOGDIR/pgtap.log" 2>&1
		tap_rc=$?
		t_ok=$(grep -cE '^ *ok [0-9]+' "$LOGDIR/pgtap.log")
		t_bad=$(grep -cE '^ *not ok [0-9]+' "$LOGDIR/pgtap.log")
		# a file that died counts every test it planned and did not run
		t_lost=$(sed -nE 's/.*You planned ([0-9]+) tests? but ran ([0-9]+)\./\1 \2/p' "$LOGDIR/pgtap.log" |
			awk '{ n += ($1 > $2) ? $1 - $2 : 1 } END { print n + 0 }')
		t_bad=$((t_bad + t_lost + $(grep -c 'No plan found in TAP output' "$LOGDIR/pgtap.log")))
		grep -E '^ *not ok [0-9]+' -A6 "$LOGDIR/pgtap.log" | head -120
		grep -E '^test/pgtap/.*\.\. |^(Files|Result|All tests)' "$LOGDIR/pgtap.log" || true
		if [ "$tap_rc" -ne 0 ] && [ "$t_bad" -eq 0 ]; then
			t_bad=1
			tail -30 "$LOGDIR/pgtap.log"
		fi
	else
		cat "$LOGDIR/tap-setup.log"
		t_ok=0
		t_bad=1
	fi
	echo "pgTAP: $t_ok ok, $t_bad not ok"
	passed=$((passed + t_ok))
	failed=$((failed + t_bad))
fi

# --- docs that must match the code (against the pgTAP database) ------------
if want docs; then
	echo "== docs"
	if [ -z "${TAPDB:-}" ]; then		# run without the pgTAP suite
		TAPDB=protector_docs
		dropdb --if-exists "$TAPDB" >/dev/null 2>&1
		createdb "$TAPDB"
		psql -X -q -d "$TAPDB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION protector CASCADE"
	fi
	doc_block=$(sed -n '/<!-- capability-map:begin -->/,/<!-- capability-map:end -->/p' docs/security.md | sed '1d;$d')
	if [ "$doc_block" = "$(bash scripts/capability-table.sh "$TAPDB" 2>&1)" ]; then
		echo "docs/security.md capability table ... ok"
		passed=$((passed + 1))
	else
		echo "docs/security.md capability table ... FAILED (paste the output of scripts/capability-table.sh)"
		diff <(echo "$doc_block") <(bash scripts/capability-table.sh "$TAPDB" 2>&1) | head -20
		failed=$((failed + 1))
	fi
	# every SQL example of README.md and docs/, as written, on make demo's data
	dropdb --if-exists docs_template >/dev/null 2>&1 || true
	createdb docs_template
	if psql -X -q -v ON_ERROR_STOP=1 -d docs_template -f scripts/demo.sql >"$LOGDIR/docs-fixture.log" 2>&1; then
		python3 scripts/docs-examples.py docs_template README.md docs/*.md >"$LOGDIR/docs-examples.log" 2>&1 || true
		grep -E '\.\.\. (ok|FAILED)' -A30 "$LOGDIR/docs-examples.log" | grep -vE '\.\.\. ok$' | grep -v '^--$' || true
		d_ok=$(grep -cE '\.\.\. ok$' "$LOGDIR/docs-examples.log" || true)
		d_bad=$(grep -cE '\.\.\. FAILED' "$LOGDIR/docs-examples.log" || true)
		echo "docs examples: $d_ok ok, $d_bad failed"
		passed=$((passed + d_ok))
		failed=$((failed + d_bad))
	else
		echo "docs examples ... FAILED (the demo data did not load; $LOGDIR/docs-fixture.log)"
		failed=$((failed + 1))
	fi
	dropdb docs_template
fi

# --- concurrency (real concurrent sessions) and operations (restore, ----
# --- upgrade): one shell script a test --------------------------------------
# With LANE_CLAIMS set (a directory shared by several runs of this script in
# their own clusters, scripts/test.sh), a run takes only the scripts no
# other run has claimed (mkdir is atomic), the slowest first so that the
# runs end together.
SLOWEST_FIRST="concurrency/outbox concurrency/payments ops/restore concurrency/service_mode
	concurrency/snapshot_checks ops/upgrade concurrency/restore_locks"
shell_tests() {
	local t name
	for t in $SLOWEST_FIRST; do
		if want "${t%%/*}"; then echo "test/$t.sh"; fi
	done
	for t in test/concurrency/*.sh test/ops/*.sh; do
		name=$(basename "$(dirname "$t")")/$(basename "$t" .sh)
		case " $(echo $SLOWEST_FIRST) " in *" $name "*) continue ;; esac
		if want "${name%%/*}"; then echo "$t"; fi
	done
}
claim() {
	[ -z "${LANE_CLAIMS:-}" ] && return 0
	mkdir -p "$LANE_CLAIMS"
	mkdir "$LANE_CLAIMS/$1-$(basename "$2" .sh)" 2>/dev/null
}
if want concurrency || want ops; then
	echo "== concurrency and ops${LANE_CLAIMS:+ (scripts no other lane took)}"
	for t in $(shell_tests); do
		[ -f "$t" ] || continue
		suite=$(basename "$(dirname "$t")")
		claim "$suite" "$t" || continue
		started=$(date +%s)
		if bash "$t" >"$LOGDIR/$suite-$(basename "$t").log" 2>&1; then
			echo "$suite $(basename "$t" .sh) ... ok ($(($(date +%s) - started)) s)"
			passed=$((passed + 1))
		else
			echo "$suite $(basename "$t" .sh) ... FAILED ($(($(date +%s) - started)) s)"
			tail -40 "$LOGDIR/$suite-$(basename "$t").log"
			failed=$((failed + 1))
		fi
	done
fi

echo "logs: $LOGDIR"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
