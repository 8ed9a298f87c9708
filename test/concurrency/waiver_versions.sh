#!/usr/bin/env bash
# test/concurrency/waiver_versions.sh — a signature under REPEATABLE READ
# whose snapshot predates a change of the version's text, committed before
# the signature took the version's lock (sql/83_waivers.sql,
# recheck_waiver_version): it recorded the digest of the text it saw beside
# a version that held another, and the version, signed, was frozen so for
# good.  Now it is told to retry (40001), and its retry signs the new text.
# Under READ COMMITTED the signature reads the text as committed, and a
# version deleted while the signature waited for its lock is told to
# retry (with the digest of the text shown) or passed over for the latest
# left (without).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_waiver_versions
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/supabase.sql" >/dev/null 2>&1 || true
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$(dirname "$0")/../fixtures/helpers.sql" >/dev/null
ORG=0f740000-0000-4000-8000-000000000000
BKG=0f740000-0000-4000-8000-0000000b0001
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['olga', 'cara']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('$ORG', 'Waivers', 'waiver-versions');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('$ORG', tests.get_supabase_uid('olga'), 'owner', now());
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES ('0f740000-0000-4000-8000-0000000000a1', '$ORG', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0f740000-0000-4000-8000-0000000005a1', '$ORG', '0f740000-0000-4000-8000-0000000000a1', 'S',
		'60 minutes', '60 minutes', '400 days', 10, 4, 'shared');
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email)
VALUES ('0f740000-0000-4000-8000-00000000c001', '$ORG', tests.get_supabase_uid('cara'), 'Cara One', 'cara@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('$BKG', '$ORG', '0f740000-0000-4000-8000-0000000000a1', '0f740000-0000-4000-8000-0000000005a1',
		'0f740000-0000-4000-8000-00000000c001',
		tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'), 'confirmed');
UPDATE protector.bookings SET party_size = 4 WHERE id = '$BKG';
UPDATE protector.services SET waiver_id = (protector.create_waiver('$ORG', 'Risk', 'I accept the risk.') ->> 'waiver_id')::uuid
WHERE id = '0f740000-0000-4000-8000-0000000005a1';
SQL
WAIVER=$(psql -X -A -t -d "$DB" -c "SELECT id FROM protector.waivers WHERE name = 'Risk'")
failures=0

# cara signs under REPEATABLE READ, her snapshot taken first; olga changes
# the text (not signed yet) and commits before cara signs (once cara sleeps
# after her snapshot)
sign() {
	PGAPPNAME=cara psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN ISOLATION LEVEL $1" \
		-c "SELECT tests.authenticate_as('cara')" -c "SELECT count(*) FROM protector.waiver_versions" -c "SELECT pg_sleep(1)" \
		-c "SELECT protector.submit_waiver('$WAIVER', 'Cara One', '1990-01-01', 'Cara One', 'Cara One', '$BKG')" \
		-c "COMMIT" 2>&1 >/dev/null | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | head -1 || true
}
change_text() {
	wait_session cara "query LIKE 'SELECT pg_sleep%'" || return
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
		-c "UPDATE protector.waiver_versions SET body = '$1' WHERE waiver_id = '$WAIVER'" -c "COMMIT" >/dev/null
}
matching() {
	psql -X -A -t -d "$DB" -c "SELECT count(*) FILTER (WHERE s.text_sha256 = v.body_sha256) || ' of ' || count(*)
		FROM protector.waiver_submissions s JOIN protector.waiver_versions v ON v.id = s.waiver_version_id"
}

change_text 'I accept the risk, and the new rules.' &
changer=$!
answer=$(sign 'REPEATABLE READ')
wait "$changer" || failures=$((failures + 1))
state=$(matching)
if [ "$answer" = 40001 ] && [ "$state" = "0 of 0" ]; then
	echo "ok - a REPEATABLE READ signature of a text changed since its snapshot is told to retry, and records nothing"
else
	echo "not ok - a REPEATABLE READ signature of a text changed since its snapshot: answered '$answer', signatures matching their version: $state"
	failures=$((failures + 1))
fi

answer=$(sign 'REPEATABLE READ')
state=$(matching)
if [ -z "$answer" ] && [ "$state" = "1 of 1" ]; then
	echo "ok - its retry signs the text the version holds"
else
	echo "not ok - the retry answered '$answer', signatures matching their version: $state"
	failures=$((failures + 1))
fi

# a new version made (create_waiver with the name) after cara's snapshot:
# she is told to retry, and her retry signs the new version
new_version() {
	wait_session cara "query LIKE 'SELECT pg_sleep%'" || return
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
		-c "SELECT protector.create_waiver('$ORG', 'Risk', 'Version two.')" -c "COMMIT" >/dev/null
}
psql -X -q -d "$DB" -c "DELETE FROM protector.waiver_submissions" 2>/dev/null || \
	psql -X -q -d "$DB" -c "SET session_replication_role = replica" -c "DELETE FROM protector.waiver_submissions" >/dev/null
new_version &
changer=$!
answer=$(sign 'REPEATABLE READ')
wait "$changer" || failures=$((failures + 1))
retry=$(sign 'REPEATABLE READ')
signed=$(psql -X -A -t -d "$DB" -c "SELECT string_agg(v.version::text, ',') FROM protector.waiver_submissions s
	JOIN protector.waiver_versions v ON v.id = s.waiver_version_id")
if [ "$answer" = 40001 ] && [ -z "$retry" ] && [ "$signed" = 2 ]; then
	echo "ok - a REPEATABLE READ signature after a new version was made is told to retry; the retry signs version 2"
else
	echo "not ok - a signature after a new version: answered '$answer', the retry '$retry', versions signed: '$signed'"
	failures=$((failures + 1))
fi

# READ COMMITTED: the latest version deleted (unsigned) by a transaction
# that holds its lock while cara signs.  With the digest of the text she
# was shown she is told to retry; without, she signs the latest version
# left.  (The version was picked before its lock was waited for: she was
# told "waiver not found", P0002, either way.)
delete_latest() {
	PGAPPNAME=olga psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
		-c "DELETE FROM protector.waiver_versions WHERE waiver_id = '$WAIVER' AND version = 3" \
		-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null &
	wait_session olga "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
}
sign_rc() {
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('cara')" \
		-c "SELECT protector.submit_waiver('$WAIVER', '$1', '1990-01-01', '$1', '$1', '$BKG', NULL, $2)" \
		-c "COMMIT" 2>&1 >/dev/null | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | head -1 || true
}
for digest in shown none; do
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "SELECT protector.create_waiver('$ORG', 'Risk', 'Version three.')" >/dev/null
	shown=$(psql -X -A -t -d "$DB" -c "SELECT body_sha256 FROM protector.waiver_versions WHERE waiver_id = '$WAIVER' AND version = 3")
	delete_latest
	if [ "$digest" = shown ]; then
		answer=$(sign_rc 'Cara Two' "'$shown'")
	else
		answer=$(sign_rc 'Cara Three' NULL)
	fi
	wait
	signed=$(psql -X -A -t -d "$DB" -c "SELECT COALESCE(string_agg(v.version::text, ','), 'none') FROM protector.waiver_submissions s
		JOIN protector.waiver_versions v ON v.id = s.waiver_version_id WHERE s.participant_name IN ('Cara Two', 'Cara Three')")
	if [ "$digest" = shown ] && [ "$answer" = 40001 ] && [ "$signed" = none ]; then
		echo "ok - a READ COMMITTED signature with the digest of a version deleted while it waited is told to retry"
	elif [ "$digest" = none ] && [ -z "$answer" ] && [ "$signed" = 2 ]; then
		echo "ok - a READ COMMITTED signature without a digest, its version deleted while it waited, signs the latest left (2)"
	else
		echo "not ok - a READ COMMITTED signature ($digest digest), its version deleted while it waited: answered '$answer', versions signed: '$signed'"
		failures=$((failures + 1))
	fi
done

# READ COMMITTED: a new version committed while cara's transaction slept;
# her signature takes it, and is dated when it was written, not at her
# transaction's start, which was before the version existed
newer_version() {
	wait_session cara "query LIKE 'SELECT pg_sleep%'" || return
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "SELECT protector.create_waiver('$ORG', 'Risk', 'Version four.')" >/dev/null
}
newer_version &
changer=$!
answer=$(PGAPPNAME=cara psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" \
	-c "SELECT tests.authenticate_as('cara')" -c "SELECT pg_sleep(1)" \
	-c "SELECT protector.submit_waiver('$WAIVER', 'Cara Four', '1990-01-01', 'Cara Four', 'Cara Four', '$BKG')" \
	-c "COMMIT" 2>&1 >/dev/null | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | head -1 || true)
wait "$changer" || failures=$((failures + 1))
dated=$(psql -X -A -t -d "$DB" -c "SELECT v.body || ' ' || (s.signed_at >= v.created_at) FROM protector.waiver_submissions s
	JOIN protector.waiver_versions v ON v.id = s.waiver_version_id WHERE s.participant_name = 'Cara Four'")
if [ -z "$answer" ] && [ "$dated" = "Version four. true" ]; then
	echo "ok - a signature that took a version made while its transaction ran is dated after that version"
else
	echo "not ok - a signature of a version made while its transaction ran: answered '$answer', text and dated after it: '$dated'"
	failures=$((failures + 1))
fi

# a customer signs for at most the booking's party (4; three have signed):
# two of cara's signatures at the same moment count each other, the second
# waiting for the first's commit, and only one goes in
PGAPPNAME=first psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('cara')" \
	-c "SELECT protector.submit_waiver('$WAIVER', 'Cara Five', '1990-01-01', 'Cara Five', 'Cara Five', '$BKG')" \
	-c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null 2>&1 &
first=$!
wait_session first "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
answer=$(psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('cara')" \
	-c "SELECT protector.submit_waiver('$WAIVER', 'Cara Six', '1990-01-01', 'Cara Six', 'Cara Six', '$BKG')" \
	-c "COMMIT" 2>&1 >/dev/null | sed -n 's/^ERROR: *\(.*\)/\1/p' | head -1 || true)
wait "$first" || failures=$((failures + 1))
signed=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.waiver_submissions WHERE booking_id = '$BKG'")
if [ "$answer" = "every participant of this booking has signed this waiver" ] && [ "$signed" = 4 ]; then
	echo "ok - of two signatures of the customer's at the same moment, one fills the party of four, the other is refused"
else
	echo "not ok - two signatures at the same moment on a party of four: the second answered '$answer'; signatures: $signed"
	failures=$((failures + 1))
fi

# an agent who is also a booking's customer (not its agent) signs as a
# customer: at most the party (1) of that booking (the agent's
# waivers.collect let them sign without end)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user('arne');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('$ORG', tests.get_supabase_uid('arne'), 'agent', now());
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email)
VALUES ('0f740000-0000-4000-8000-00000000c002', '$ORG', tests.get_supabase_uid('arne'), 'Arne', 'arne@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, party_size)
VALUES ('0f740000-0000-4000-8000-0000000b0002', '$ORG', '0f740000-0000-4000-8000-0000000000a1', '0f740000-0000-4000-8000-0000000005a1',
		'0f740000-0000-4000-8000-00000000c002',
		tstzrange(date_trunc('day', now()) + interval '4 days 10 hours', date_trunc('day', now()) + interval '4 days 11 hours'), 'confirmed', 1);
SQL
answers=""
for who in 'Arne One' 'Arne Two'; do
	answers="$answers $(sqlstate_as arne "SELECT protector.submit_waiver('$WAIVER', '$who', '1990-01-01', '$who', '$who', '0f740000-0000-4000-8000-0000000b0002')")"
done
if [ "$answers" = " ok 22023" ]; then
	echo "ok - an agent who is a booking's customer signs for its party of one, and no more"
else
	echo "not ok - an agent who is a booking's customer signing twice on a party of one answered:$answers"
	failures=$((failures + 1))
fi

# (an attack review) the desk signed Ann twice without a booking, and two
# desks link both signatures to one booking at the same moment: the
# second is told she has signed, as it is afterwards (it answered the
# bare unique violation of the participants' index, 23505, a 409 through
# PostgREST); a link racing a signature of hers the same
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, party_size)
VALUES ('0f740000-0000-4000-8000-0000000b0003', '$ORG', '0f740000-0000-4000-8000-0000000000a1', '0f740000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '5 days 10 hours', date_trunc('day', now()) + interval '5 days 11 hours'), 'confirmed', 3);
SELECT tests.authenticate_as('olga');
SELECT protector.submit_waiver('$WAIVER', n, '1990-01-01', n, n) FROM unnest(ARRAY['Ann Lee', 'ANN LEE', 'Ann lee']) n;
SQL
walkin() {
	psql -X -A -t -d "$DB" -c "SELECT id FROM protector.waiver_submissions WHERE participant_name = '$1' AND booking_id IS NULL"
}
link_second() {
	PGAPPNAME=first psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
		-c "$1" -c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null 2>&1 &
	local first=$!
	wait_session first "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "SELECT tests.authenticate_as('olga')" \
		-c "SELECT protector.link_waiver_to_booking('$2', '0f740000-0000-4000-8000-0000000b0003')" \
		2>&1 >/dev/null | sed -n 's/^ERROR: *\(.*\)/\1/p' | head -1 || true
	wait "$first" || failures=$((failures + 1))
}
answer=$(link_second "SELECT protector.link_waiver_to_booking('$(walkin 'Ann Lee')', '0f740000-0000-4000-8000-0000000b0003')" "$(walkin 'ANN LEE')")
if [ "$answer" = "ANN LEE has already signed the waiver of this booking" ]; then
	echo "ok - of two links of one participant's signatures to a booking at the same moment, the second is told she has signed"
else
	echo "not ok - two links of one participant's signatures at the same moment: the second answered '$answer'"
	failures=$((failures + 1))
fi
psql -X -q -d "$DB" -c "SET session_replication_role = replica" -c "DELETE FROM protector.waiver_submissions WHERE booking_id = '0f740000-0000-4000-8000-0000000b0003'" >/dev/null
answer=$(link_second "SELECT protector.submit_waiver('$WAIVER', 'Ann Lee', '1990-01-01', 'Ann Lee', 'Ann Lee', '0f740000-0000-4000-8000-0000000b0003')" "$(walkin 'Ann lee')")
if [ "$answer" = "Ann lee has already signed the waiver of this booking" ]; then
	echo "ok - a link racing a signature of the same participant on the booking is told she has signed"
else
	echo "not ok - a link racing a signature of the same participant: answered '$answer'"
	failures=$((failures + 1))
fi

# (a later attack review) the desk's signature counts in the customer's at
# the same moment: cara's booking for two has one signature of hers; the
# desk signs a second participant and holds its transaction open while
# cara signs a third: she waited for no lock and went in, three on a
# party of two.  Now every signature of the booking takes its lock, and
# she is refused once the desk's commits.
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, party_size)
VALUES ('0f740000-0000-4000-8000-0000000b0004', '$ORG', '0f740000-0000-4000-8000-0000000000a1', '0f740000-0000-4000-8000-0000000005a1',
		'0f740000-0000-4000-8000-00000000c001',
		tstzrange(date_trunc('day', now()) + interval '6 days 10 hours', date_trunc('day', now()) + interval '6 days 11 hours'), 'confirmed', 2);
SELECT tests.authenticate_as('cara');
SELECT protector.submit_waiver('$WAIVER', 'Bob Bee', '1990-01-01', 'Bob Bee', 'Bob Bee', '0f740000-0000-4000-8000-0000000b0004');
SQL
PGAPPNAME=desk psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
	-c "SELECT protector.submit_waiver('$WAIVER', 'Ann Aa', '1990-01-01', 'Ann Aa', 'Ann Aa', '0f740000-0000-4000-8000-0000000b0004')" \
	-c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null 2>&1 &
first=$!
wait_session desk "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
answer=$(psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('cara')" \
	-c "SELECT protector.submit_waiver('$WAIVER', 'Cal Cee', '1990-01-01', 'Cal Cee', 'Cal Cee', '0f740000-0000-4000-8000-0000000b0004')" \
	-c "COMMIT" 2>&1 >/dev/null | sed -n 's/^ERROR: *\(.*\)/\1/p' | head -1 || true)
wait "$first" || failures=$((failures + 1))
signed=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.waiver_submissions WHERE booking_id = '0f740000-0000-4000-8000-0000000b0004'")
if [ "$answer" = "every participant of this booking has signed this waiver" ] && [ "$signed" = 2 ]; then
	echo "ok - a customer's signature at the moment the desk signs for the same booking counts the desk's: refused at the party of two"
else
	echo "not ok - a customer's signature beside the desk's on a party of two: answered '$answer'; signatures: $signed"
	failures=$((failures + 1))
fi

# (a review of that fix) two desks, each signing two bookings in one
# transaction, in opposite orders: the desk's lock of a booking is
# shared, so neither waits for the other (an exclusive one deadlocked)
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SELECT tests.create_supabase_user('dana');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('$ORG', tests.get_supabase_uid('dana'), 'manager', now());
SQL
two_signatures() {
	PGAPPNAME=$1 psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "BEGIN" -c "SELECT tests.authenticate_as('$2')" \
		-c "SELECT protector.submit_waiver('$WAIVER', '$3 One', '1990-01-01', '$3 One', '$3 One', '$4')" \
		-c "SELECT pg_sleep(1)" \
		-c "SELECT protector.submit_waiver('$WAIVER', '$3 Two', '1990-01-01', '$3 Two', '$3 Two', '$5')" \
		-c "COMMIT" 2>&1 >/dev/null | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\).*/\1/p' | head -1 || true
}
two_signatures desk_a olga 'Ada Desk' 0f740000-0000-4000-8000-0000000b0004 0f740000-0000-4000-8000-0000000b0003 > "$WORK/desk_a" &
desk_a=$!
wait_session desk_a "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
answer=$(two_signatures desk_b dana 'Ben Desk' 0f740000-0000-4000-8000-0000000b0003 0f740000-0000-4000-8000-0000000b0004)
wait "$desk_a" || failures=$((failures + 1))
signed=$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector.waiver_submissions WHERE participant_name LIKE '% Desk %'")
if [ -z "$answer$(cat "$WORK/desk_a")" ] && [ "$signed" = 4 ]; then
	echo "ok - two desks signing two bookings in opposite orders, one transaction each, do not deadlock"
else
	echo "not ok - two desks signing in opposite orders answered '$(cat "$WORK/desk_a")' and '$answer'; signatures: $signed"
	failures=$((failures + 1))
fi

# (the same review) a booking deleted while a signature or a link of it
# is written: "booking not found", not the foreign key's bare 23503
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, party_size)
SELECT ('0f740000-0000-4000-8000-0000000b000' || n)::uuid, '$ORG', '0f740000-0000-4000-8000-0000000000a1',
	   '0f740000-0000-4000-8000-0000000005a1', '0f740000-0000-4000-8000-00000000c001',
	   tstzrange(date_trunc('day', now()) + make_interval(days => n, hours => 12), date_trunc('day', now()) + make_interval(days => n, hours => 13)),
	   'confirmed', 2
FROM generate_series(7, 8) n;
SELECT tests.authenticate_as('olga');
SELECT protector.submit_waiver('$WAIVER', 'Walk In', '1990-01-01', 'Walk In', 'Walk In');
SQL
deleted_meanwhile() {
	PGAPPNAME=deleter psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
		-c "DELETE FROM protector.bookings WHERE id = '$1'" -c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null 2>&1 &
	local first=$!
	wait_session deleter "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "BEGIN" -c "SELECT tests.authenticate_as('$2')" -c "$3" -c "COMMIT" \
		2>&1 >/dev/null | sed -n 's/^ERROR: *\(.*\)/\1/p' | head -1 || true
	wait "$first" || failures=$((failures + 1))
}
answer=$(deleted_meanwhile 0f740000-0000-4000-8000-0000000b0007 cara \
	"SELECT protector.submit_waiver('$WAIVER', 'Dee Dee', '1990-01-01', 'Dee Dee', 'Dee Dee', '0f740000-0000-4000-8000-0000000b0007')")
if [ "$answer" = "P0002: booking not found" ]; then
	echo "ok - a signature whose booking is deleted while it is written is told the booking is not found"
else
	echo "not ok - a signature whose booking is deleted meanwhile answered '$answer'"
	failures=$((failures + 1))
fi
answer=$(deleted_meanwhile 0f740000-0000-4000-8000-0000000b0008 olga \
	"SELECT protector.link_waiver_to_booking('$(walkin 'Walk In')', '0f740000-0000-4000-8000-0000000b0008')")
if [ "$answer" = "P0002: booking not found" ]; then
	echo "ok - a link whose booking is deleted while it is written is told the booking is not found"
else
	echo "not ok - a link whose booking is deleted meanwhile answered '$answer'"
	failures=$((failures + 1))
fi

# (a review) the booking handed to another customer, and its last one
# deleted, while the desk signs for it: the retry signs for the booking's
# customer now (40001, as send_message answers), not a bare 23503
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0f740000-0000-4000-8000-00000000c022', '$ORG', 'Next One'), ('0f740000-0000-4000-8000-00000000c023', '$ORG', 'Last One');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, party_size)
VALUES ('0f740000-0000-4000-8000-0000000b0009', '$ORG', '0f740000-0000-4000-8000-0000000000a1', '0f740000-0000-4000-8000-0000000005a1',
		'0f740000-0000-4000-8000-00000000c023',
		tstzrange(date_trunc('day', now()) + interval '9 days 12 hours', date_trunc('day', now()) + interval '9 days 13 hours'), 'confirmed', 2);
SQL
PGAPPNAME=handover psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "BEGIN" \
	-c "UPDATE protector.bookings SET customer_id = '0f740000-0000-4000-8000-00000000c022' WHERE id = '0f740000-0000-4000-8000-0000000b0009'" \
	-c "DELETE FROM protector.customers WHERE id = '0f740000-0000-4000-8000-00000000c023'" \
	-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null 2>&1 &
first=$!
wait_session handover "query LIKE 'SELECT pg_sleep%'" || failures=$((failures + 1))
answer=$(psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "BEGIN" -c "SELECT tests.authenticate_as('olga')" \
	-c "SELECT protector.submit_waiver('$WAIVER', 'Eve Ee', '1990-01-01', 'Eve Ee', 'Eve Ee', '0f740000-0000-4000-8000-0000000b0009')" \
	-c "COMMIT" 2>&1 >/dev/null | sed -n 's/^ERROR: *\(.*\)/\1/p' | head -1 || true)
wait "$first" || failures=$((failures + 1))
if [ "$answer" = "40001: the booking's customer changed while the waiver was signed" ]; then
	echo "ok - a signature whose booking changed customer meanwhile, its last one deleted, is told to retry"
else
	echo "not ok - a signature whose booking changed customer meanwhile answered '$answer'"
	failures=$((failures + 1))
fi

dropdb "$DB"
echo "# waiver_versions: $failures failed"
[ "$failures" -eq 0 ]
