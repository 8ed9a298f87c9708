#!/usr/bin/env bash
# test/concurrency/outbox_owner.sh — the outbox worker, which runs as the
# bootstrap superuser, drains only the extension's own outbox (src/outbox.c,
# locked_outbox).  It found protector_internal.outbox by name: a role that
# dropped the extension (supautils lets a non-superuser drop a privileged
# extension, as the README's Supabase set-up makes protector) and made a
# table of that name with a trigger of its own, in the same transaction,
# had the trigger run as the superuser by the worker still alive from the
# last booking (an attack on the extension's lifecycle: the role made
# itself superuser).  The drop is run here by the superuser, the rest as
# the role, as supautils would run them.  The worker now stops: the role
# stays what it was and its table keeps its row.  And the extension made
# again in such a transaction, with a booking: the worker waiting for the
# old outbox drains the new one (it left, and the booking's announcement
# waited for the next announcing commit; a review).
# Runs inside the throwaway cluster of scripts/test.sh (PG* variables set).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
fresh_database protector_outbox_owner
ROLE=protector_outbox_owner_role
# the organization, its venue and service, as SQL
TENANT="$(cat <<'SQL'
INSERT INTO protector.organizations (id, name, slug) VALUES ('0f560000-0000-4000-8000-000000000000', 'O', 'outbox-owner');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0f560000-0000-4000-8000-0000000000f1', '0f560000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration)
VALUES ('0f560000-0000-4000-8000-0000000000a1', '0f560000-0000-4000-8000-000000000000', '0f560000-0000-4000-8000-0000000000f1',
		'Room', '60 minutes');
SQL
)"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
SET client_min_messages = warning;
DROP ROLE IF EXISTS $ROLE;
CREATE ROLE $ROLE LOGIN;
GRANT CREATE ON DATABASE $DB TO $ROLE;
$TENANT
SQL
failures=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (expected '$2', got '$3')"; failures=$((failures + 1)); fi; }

# an announcing commit: the database's worker starts and stays a moment
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	VALUES ('0f560000-0000-4000-8000-000000000000', '0f560000-0000-4000-8000-0000000000f1', '0f560000-0000-4000-8000-0000000000a1',
			tstzrange(date_trunc('hour', now()) + interval '1 day', date_trunc('hour', now()) + interval '25 hours'))"
for _ in $(seq 1 100); do
	[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'protector outbox'")" = 1 ] && break
	sleep 0.05
done
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null 2>&1 <<SQL
SET client_min_messages = warning;
BEGIN;
DROP EXTENSION protector CASCADE;
SET ROLE $ROLE;
CREATE SCHEMA protector_internal;
CREATE TABLE protector_internal.outbox (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
										organization_id uuid NOT NULL, payloads text NOT NULL);
INSERT INTO protector_internal.outbox (organization_id, payloads) VALUES ('0f560000-0000-4000-8000-000000000000', '[]');
CREATE FUNCTION protector_internal.grab() RETURNS trigger LANGUAGE plpgsql AS \$f\$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE $ROLE SUPERUSER';
	END IF;
	RETURN NULL;
END \$f\$;
CREATE TRIGGER grab BEFORE DELETE ON protector_internal.outbox
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.grab();
COMMIT;
SQL
# (the worker wakes every half second while it idles, for 2 s)
for _ in $(seq 1 60); do
	[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'protector outbox'")" = 0 ] && break
	sleep 0.1
done
check "the worker ran nothing on a table of the role's own: the role is no superuser" f \
	"$(psql -X -A -t -d "$DB" -c "SELECT rolsuper FROM pg_roles WHERE rolname = '$ROLE'")"
check "... and the table keeps its row" 1 "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector_internal.outbox")"

# the extension dropped and made again, with a booking, while the worker
# of the last booking waits for the old outbox's lock
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null 2>&1 <<SQL
SET client_min_messages = warning;
DROP SCHEMA protector_internal CASCADE;
CREATE EXTENSION protector;
$TENANT
SQL
booking() {	# $1 = days ahead
	echo "INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)
	VALUES ('0f560000-0000-4000-8000-000000000000', '0f560000-0000-4000-8000-0000000000f1', '0f560000-0000-4000-8000-0000000000a1',
			tstzrange(date_trunc('hour', now()) + interval '$1 days', date_trunc('hour', now()) + interval '$1 days 1 hour'));"
}
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "$(booking 2)"
workers() { psql -X -A -t -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'protector outbox'"; }
for _ in $(seq 1 100); do [ "$(workers)" = 1 ] && break; sleep 0.05; done
PGAPPNAME=recreate psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null 2>&1 <<SQL
SET client_min_messages = warning;
BEGIN;
DROP EXTENSION protector CASCADE;
CREATE EXTENSION protector;
$TENANT
SELECT pg_sleep(1);
$(booking 3)
COMMIT;
SQL
drained=f
for _ in $(seq 1 40); do
	[ "$(psql -X -A -t -d "$DB" -c "SELECT count(*) FROM protector_internal.outbox")" = 0 ] && { drained=t; break; }
	sleep 0.1
done
check "the extension made again beside a waiting worker: the new outbox is drained" t "$drained"

dropdb "$DB"
psql -X -q -d postgres -c "DROP ROLE $ROLE"
echo "# outbox_owner: $failures failed"
[ "$failures" -eq 0 ]
