-- protector 0.1.0 -> 0.2.0.  Every change made to sql/NN_*.sql since the
-- 0.1.0 release, in the order made; ALTER EXTENSION protector UPDATE runs
-- it.  test/ops/upgrade.sh checks that 0.1.0 + this script equals a fresh
-- install of 0.2.0, catalog and data.  Functions are pasted from the parts
-- with scripts/sql-function.py.
\echo Use "ALTER EXTENSION protector UPDATE TO '0.2.0'" to load this file. \quit

-- As in sql/00_roles.sql: the script's names resolve in pg_catalog and
-- protector only (ALTER EXTENSION puts btree_gist's schema on the path,
-- which may be one a non-superuser creates in), the database is UTF8, and
-- schema protector is a superuser's that no other role creates in
-- (0.1.0's install did not check it: a schema of that name made by another
-- role beforehand became the extension's).
SELECT pg_catalog.set_config('search_path', 'protector, pg_temp', true) IS NOT NULL AS search_path_pinned;
DO $checks$
DECLARE
	v_owner name;
	v_super boolean;
	v_creator name;
	v_list text;
BEGIN
	IF pg_catalog.getdatabaseencoding() OPERATOR(pg_catalog.<>) 'UTF8' THEN
		RAISE EXCEPTION 'protector 0.2.0 needs a UTF8 database'
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = pg_catalog.format('Database %I is encoded in %s.', pg_catalog.current_database(),
											 pg_catalog.getdatabaseencoding()),
				  HINT = 'Dump the database, restore it into one created with ENCODING ''UTF8'' (createdb -E UTF8 -T template0), and update there.';
	END IF;
	SELECT r.rolname, r.rolsuper INTO v_owner, v_super
	FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
	WHERE n.nspname OPERATOR(pg_catalog.=) 'protector';
	IF NOT v_super THEN
		RAISE EXCEPTION 'schema protector belongs to role %, which is not a superuser', v_owner
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Whoever owns the schema could put their own objects under the names protector''s privileged functions call.',
				  HINT = 'Check what that role put in the schema; then have a superuser take it over: ALTER SCHEMA protector OWNER TO a superuser.';
	END IF;
	SELECT r.rolname INTO v_creator
	FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
	LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
	WHERE n.nspname OPERATOR(pg_catalog.=) 'protector' AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
	  AND NOT COALESCE(r.rolsuper, false)
	LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'role % may create objects in schema protector', COALESCE(v_creator, 'PUBLIC')
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'REVOKE CREATE ON SCHEMA protector FROM that role first.';
	END IF;
	-- nor may the schemas hold what the extension did not make, of a role
	-- that is not a superuser (functions and operators it made there while
	-- it could create in them would be found by this script's unqualified
	-- names), nor may any of protector's objects call functions or
	-- operators of other schemas that such a role owns (and may change):
	-- 0.1.0's install resolved names through btree_gist's schema too
	-- (public with CASCADE, where the database owner may create), and a
	-- look-alike there stayed bound to its CHECKs, indexes, triggers,
	-- policies and defaults
	SELECT pg_catalog.string_agg(pg_catalog.format('%s %s', i.type, i.identity), ', ') INTO v_list
	FROM (SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass AS classid, f.oid AS objid, f.proowner AS owner
		  FROM pg_catalog.pg_proc f
		  WHERE f.pronamespace OPERATOR(pg_catalog.=) ANY (ARRAY['protector'::regnamespace, 'protector_internal'::regnamespace])
		  UNION ALL
		  SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid, o.oprowner
		  FROM pg_catalog.pg_operator o
		  WHERE o.oprnamespace OPERATOR(pg_catalog.=) ANY (ARRAY['protector'::regnamespace, 'protector_internal'::regnamespace])) x
	JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) x.owner AND NOT r.rolsuper
	CROSS JOIN LATERAL pg_catalog.pg_identify_object(x.classid, x.objid, 0) i
	WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
					  WHERE d.classid OPERATOR(pg_catalog.=) x.classid AND d.objid OPERATOR(pg_catalog.=) x.objid
						AND d.deptype OPERATOR(pg_catalog.=) 'e'
						AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e
															  WHERE e.extname OPERATOR(pg_catalog.=) 'protector'));
	IF v_list IS NOT NULL THEN
		RAISE EXCEPTION 'protector''s schemas hold objects of other roles the extension did not make: %', v_list
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'The update resolves names in schema protector: a function or operator there would run as the superuser updating.',
				  HINT = 'Check what they do and who made them; move or drop them, then update again.';
	END IF;
	SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('%s %s calls %s %s', i.type, i.identity, r.type, r.identity), '; ')
	INTO v_list
	FROM pg_catalog.pg_depend d
	LEFT JOIN pg_catalog.pg_proc f ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
								   AND f.oid OPERATOR(pg_catalog.=) d.refobjid
	LEFT JOIN pg_catalog.pg_operator o ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass
									   AND o.oid OPERATOR(pg_catalog.=) d.refobjid
	JOIN pg_catalog.pg_roles w ON w.oid OPERATOR(pg_catalog.=) COALESCE(f.proowner, o.oprowner) AND NOT w.rolsuper
	CROSS JOIN LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) i
	CROSS JOIN LATERAL pg_catalog.pg_identify_object(d.refclassid, d.refobjid, 0) r
	WHERE d.refclassid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.pg_proc'::pg_catalog.regclass, 'pg_catalog.pg_operator'::pg_catalog.regclass])
	  AND COALESCE(f.pronamespace, o.oprnamespace) OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog'::regnamespace,
			'protector'::regnamespace, 'protector_internal'::regnamespace])
	  -- (of protector's schemas, or a trigger, policy, default or rule of
	  -- a table there, which pg_identify_object gives no schema)
	  AND (i.schema OPERATOR(pg_catalog.=) ANY ('{protector,protector_internal}'::text[])
		   OR (SELECT c.relnamespace FROM pg_catalog.pg_class c
			   WHERE c.oid OPERATOR(pg_catalog.=) CASE d.classid
					 WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass
						 THEN (SELECT t.tgrelid FROM pg_catalog.pg_trigger t WHERE t.oid OPERATOR(pg_catalog.=) d.objid)
					 WHEN 'pg_catalog.pg_policy'::pg_catalog.regclass
						 THEN (SELECT y.polrelid FROM pg_catalog.pg_policy y WHERE y.oid OPERATOR(pg_catalog.=) d.objid)
					 WHEN 'pg_catalog.pg_attrdef'::pg_catalog.regclass
						 THEN (SELECT a.adrelid FROM pg_catalog.pg_attrdef a WHERE a.oid OPERATOR(pg_catalog.=) d.objid)
					 WHEN 'pg_catalog.pg_rewrite'::pg_catalog.regclass
						 THEN (SELECT w.ev_class FROM pg_catalog.pg_rewrite w WHERE w.oid OPERATOR(pg_catalog.=) d.objid) END)
			  OPERATOR(pg_catalog.=) ANY (ARRAY['protector'::regnamespace, 'protector_internal'::regnamespace]));
	IF v_list IS NOT NULL THEN
		RAISE EXCEPTION 'protector''s objects call functions of other schemas that roles other than superusers own: %', v_list
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Whoever owns those functions may change them, and whoever writes protector''s tables would run their code (0.1.0''s install bound look-alikes the database owner made in public this way).',
				  HINT = 'If they are your own objects, have a superuser own the functions (ALTER FUNCTION ... OWNER TO a superuser), or drop the objects and make them again after the update (a dump does not keep your own indexes of protector''s tables); otherwise install 0.2.0 into a new database and restore a dump of this one there (docs/operations.md).';
	END IF;
END
$checks$;

-- Lock keys: 64 bits of SHA-256 over a lock's class and its id, not
-- 0.1.0's 32-bit hash of the id, which a tenant could aim at another's
-- service (src/locks.c).  First: the functions below take these locks,
-- and the data fixes of this script fire some of them.  Sessions still
-- running 0.1.0's library take the old keys, which do not exclude the new
-- ones: restart them (docs/operations.md, "Upgrades").
CREATE FUNCTION protector_internal.lock_key(p_class integer, p_id uuid)
RETURNS bigint
AS 'MODULE_PATHNAME', 'protector_lock_key_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.lock_key(integer, uuid) IS
'Key of protector''s advisory lock of class p_class over p_id: pg_advisory_xact_lock(lock_key(class, id)) (64 bits of SHA-256)';
GRANT EXECUTE ON FUNCTION protector_internal.lock_key(integer, uuid) TO authenticated, service_role;
DROP FUNCTION protector.service_lock_key(uuid);
CREATE FUNCTION protector.service_lock_key(p_service_id uuid)
RETURNS bigint
AS 'MODULE_PATHNAME', 'protector_service_lock_key_bigint'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector.service_lock_key(uuid) IS
'Key of the advisory lock serializing reservations of a service: pg_advisory_xact_lock(service_lock_key(id)) (64 bits of SHA-256: no tenant aims one of its services at another''s)';
REVOKE ALL ON FUNCTION protector.service_lock_key(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector.service_lock_key(uuid) TO authenticated, service_role;

-- (defined first: functions the update runs below ask them)
-- Whether protector may read or call into schema p_name (auth, realtime)
-- with rights other than the caller's: only when a superuser owns it.  On
-- Supabase its superuser makes both; on a vanilla PostgreSQL whoever may
-- create a schema could make one of those names, and a view or function
-- of theirs that a SECURITY DEFINER function of protector's reads or calls
-- would run as protector's owner.  Roles a superuser lets create objects
-- there (Supabase's own services) are trusted as that superuser.
CREATE FUNCTION protector_internal.trusted_schema(p_name name)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT FROM pg_catalog.pg_namespace n
			   JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
			   WHERE n.nspname OPERATOR(pg_catalog.=) p_name AND r.rolsuper);
COMMENT ON FUNCTION protector_internal.trusted_schema(name) IS
'Is schema p_name (auth, realtime) a superuser''s, so that protector may read or call into it with its owner''s rights';

-- Supabase Auth's users table, where protector may read it with its
-- owner's rights: an ordinary table (a view's functions would run as the
-- reader) in a schema auth a superuser owns, having column p_column.
CREATE FUNCTION protector_internal.auth_users_with(p_column name)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN protector_internal.trusted_schema('auth')
	AND EXISTS (SELECT FROM pg_catalog.pg_class c
				JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
				WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('auth.users')
				  AND c.relkind OPERATOR(pg_catalog.=) 'r'
				  AND a.attname OPERATOR(pg_catalog.=) p_column AND NOT a.attisdropped);
COMMENT ON FUNCTION protector_internal.auth_users_with(name) IS
'Is auth.users an ordinary table of a superuser''s schema auth with column p_column: protector reads it with its owner''s rights only then';

-- Amounts of 0.1.0 that are NaN stop the update before it changes anything:
-- 0.2.0's money columns refuse NaN (numeric orders it above every number,
-- so a NaN payment let any refund through: the CHECKs near the end of this
-- script), and what a NaN should have been is the operator's to say.
DO $nan_amounts$
DECLARE
	v_found text[] := '{}';
	v_rows bigint;
	c record;
BEGIN
	FOR c IN
		SELECT pg_catalog.format('protector.%I', r.relname) AS tab, a.attname AS col
		FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) a.attrelid
		WHERE a.attrelid OPERATOR(pg_catalog.=) ANY (ARRAY['protector.services'::regclass,
					'protector.bookings'::regclass, 'protector.payments'::regclass])
		  AND a.atttypid OPERATOR(pg_catalog.=) 'pg_catalog.numeric'::regtype
		  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
		ORDER BY a.attrelid, a.attnum
	LOOP
		EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE %I OPERATOR(pg_catalog.=) %L::pg_catalog.numeric',
								  c.tab, c.col, 'NaN') INTO v_rows;
		IF v_rows OPERATOR(pg_catalog.>) 0 THEN
			v_found := v_found OPERATOR(pg_catalog.||) pg_catalog.format('%s.%s: %s', c.tab, c.col, v_rows);
		END IF;
	END LOOP;
	IF pg_catalog.cardinality(v_found) OPERATOR(pg_catalog.>) 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'check_violation',
			MESSAGE = 'protector 0.2.0 refuses NaN amounts, and this database holds some',
			DETAIL = pg_catalog.format('Rows with NaN, per column: %s.', pg_catalog.array_to_string(v_found, ', ')),
			HINT = 'Set each to the amount it should be (for example UPDATE protector.payments SET amount = 0 WHERE amount = ''NaN''), then run ALTER EXTENSION protector UPDATE again; nothing was changed.';
	END IF;
END
$nan_amounts$;

-- 0.1.0's length rule (upper - lower <= 31 days) wrapped for spans beyond
-- int64 microseconds (from before 1999-12-24 to near 294276 AD), so such a
-- booking may be stored; 0.2.0's rule counts it, and validating it would
-- fail with no row named.  Named here, before anything changes.
DO $long_bookings$
DECLARE
	v_ids text;
BEGIN
	SELECT pg_catalog.string_agg(b.id::text, ', ' ORDER BY b.id) INTO v_ids
	FROM (SELECT x.id FROM protector.bookings x
		  WHERE NOT pg_catalog.isempty(x.during) AND NOT pg_catalog.lower_inf(x.during) AND NOT pg_catalog.upper_inf(x.during)
			AND pg_catalog.isfinite(pg_catalog.lower(x.during)) AND pg_catalog.isfinite(pg_catalog.upper(x.during))
			-- (numeric seconds: exact, where a double loses microseconds after 2255)
			AND pg_catalog.extract('epoch', pg_catalog.upper(x.during)) OPERATOR(pg_catalog.-)
				pg_catalog.extract('epoch', pg_catalog.lower(x.during)) OPERATOR(pg_catalog.>) 2678400  -- 31 days
		  ORDER BY x.id LIMIT 20) b;
	IF v_ids IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'check_violation',
			MESSAGE = 'protector 0.2.0 refuses bookings longer than 31 days, and this database holds some',
			DETAIL = pg_catalog.format('Bookings (the first 20): %s.', v_ids),
			HINT = 'Correct or delete them (their ranges wrapped past 0.1.0''s check), then run ALTER EXTENSION protector UPDATE again; nothing was changed.';
	END IF;
END
$long_bookings$;

-- 0.2.0 keeps bookings within the years 1 to 9999 (a day inside them in
-- UTC), where every local date of the product lives; 0.1.0 took any finite
-- bound.  Named here, before anything changes (validating the constraint
-- would name no row).
DO $far_bookings$
DECLARE
	v_ids text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format('%s (%s)', b.id, b.during), ', ' ORDER BY b.id) INTO v_ids
	FROM (SELECT x.id, x.during FROM protector.bookings x
		  WHERE NOT pg_catalog.isempty(x.during)
			AND (pg_catalog.lower(x.during) OPERATOR(pg_catalog.<) '0001-01-02 00:00:00+00'::timestamptz
				 OR pg_catalog.upper(x.during) OPERATOR(pg_catalog.>) '9999-12-31 00:00:00+00'::timestamptz)
		  ORDER BY x.id LIMIT 20) b;
	IF v_ids IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'check_violation',
			MESSAGE = 'protector 0.2.0 refuses bookings outside the years 1 to 9999, and this database holds some',
			DETAIL = pg_catalog.format('Bookings (the first 20): %s.', v_ids),
			HINT = 'Correct or delete them, then run ALTER EXTENSION protector UPDATE again; nothing was changed.';
	END IF;
END
$far_bookings$;

-- Restores (issue 11) -------------------------------------------------------

-- A restore is running: row_security is off (pg_dump's output sets it) and
-- the requesting role bypasses RLS itself (docs/operations.md).
CREATE FUNCTION protector_internal.restoring()
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_restoring_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.restoring() IS
'True while a restore runs: row_security is off and the requesting role bypasses RLS (the triggers then leave restored rows alone)';
REVOKE ALL ON FUNCTION protector_internal.restoring() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.restoring() TO authenticated, service_role;

-- the workflow and the Realtime broadcast leave restored rows alone
CREATE OR REPLACE FUNCTION protector_internal.booking_workflow()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
AS $$
DECLARE
	v_kind text;
	v_service text;
	v_timezone text;
	v_title text;
	v_due timestamptz;
BEGIN
	-- a restore (row_security = off, as pg_dump's output sets it) writes
	-- history: the tasks and notifications are restored with it
	IF protector_internal.restoring() THEN
		RETURN NULL;
	END IF;
	-- (the booking's tasks locked first, done ones too, where they change
	-- below: the updates skip a done task on their snapshot without
	-- waiting, so one an agent was reopening at that moment stayed open
	-- with the old agent, or with the old title, after the change)
	IF NEW.assigned_agent IS DISTINCT FROM OLD.assigned_agent
	   OR (NEW.status OPERATOR(pg_catalog.=) 'cancelled' AND OLD.status OPERATOR(pg_catalog.<>) 'cancelled')
	   OR (NEW.during, NEW.service_id) IS DISTINCT FROM (OLD.during, OLD.service_id) THEN
		PERFORM FROM protector.tasks t
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
		ORDER BY t.id
		FOR UPDATE;
	END IF;
	-- (to the desk where the new member's role sees no tasks, as on insert:
	-- a trusted caller may hand an ended booking to finance, and the task's
	-- own check refused the whole handover, naming a task)
	IF NEW.assigned_agent IS DISTINCT FROM OLD.assigned_agent THEN
		UPDATE protector.tasks t
		SET assignee = CASE WHEN NEW.assigned_agent IS NOT NULL
								 AND protector_internal.member_sees_tasks(NEW.organization_id, NEW.assigned_agent)
							THEN NEW.assigned_agent END
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
		  AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND t.status OPERATOR(pg_catalog.<>) 'done'
		  AND (t.assignee IS NULL OR t.assignee OPERATOR(pg_catalog.=) OLD.assigned_agent);
		-- (under REPEATABLE READ a task of the booking committed since the
		-- snapshot stayed the old agent's, who could never finish it, and
		-- the new agent never saw it: 40001, as the task's writer is told
		-- of a handover it did not see)
		PERFORM protector_internal.retry_if_unseen(
			'SELECT pg_catalog.count(*) FROM protector.tasks t
			 WHERE t.booking_id OPERATOR(pg_catalog.=) $1 AND t.status OPERATOR(pg_catalog.<>) ''done''',
			NEW.id, 'a task of the booking was written concurrently',
			'It would have stayed with the agent the booking was handed away from.');
	END IF;

	-- (a new booking's work is booking_workflow_insert's, in C; a booking
	-- confirmed before, held again and confirmed again by a trusted caller
	-- was created once: its review task is there.  So was a booking
	-- cancelled and set back by a trusted caller, a correction the desk is
	-- not told of, moved or not; but a hold cancelled, lapsed or by hand,
	-- which keeps its hold_expires_at (hold_expiry_of), never was a
	-- booking: set back, it is announced now)
	IF (OLD.status OPERATOR(pg_catalog.=) 'held'
		OR (OLD.status OPERATOR(pg_catalog.=) 'cancelled' AND OLD.hold_expires_at IS NOT NULL))
	   AND NEW.status IN ('pending', 'confirmed') THEN
		IF EXISTS (SELECT FROM protector.tasks t
				   WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
					 AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
					 AND t.kind OPERATOR(pg_catalog.=) 'booking_review') THEN
			RETURN NULL;
		END IF;
		v_kind := 'booking.created';
	ELSIF OLD.status OPERATOR(pg_catalog.=) 'cancelled' AND NEW.status IN ('pending', 'confirmed') THEN
		RETURN NULL;
	ELSIF NEW.status OPERATOR(pg_catalog.=) 'cancelled' AND OLD.status OPERATOR(pg_catalog.<>) 'cancelled' THEN
		UPDATE protector.tasks t
		SET status = 'done', completed_at = pg_catalog.now()
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
		  AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND t.status OPERATOR(pg_catalog.<>) 'done';
		IF OLD.status OPERATOR(pg_catalog.=) 'held' THEN
			RETURN NULL;		-- a dropped checkout is nobody's news
		END IF;
		v_kind := 'booking.cancelled';
	-- (a move to another service at the same times is one too: the title
	-- names the service, its venue's local time and zone)
	ELSIF (NEW.during, NEW.service_id) IS DISTINCT FROM (OLD.during, OLD.service_id)
		  AND NEW.status IN ('pending', 'confirmed') THEN
		v_kind := 'booking.rescheduled';
	ELSE
		RETURN NULL;
	END IF;

	-- (the name as services' CHECK counts it, so the title fits tasks')
	SELECT pg_catalog.btrim(s.name), v.timezone INTO v_service, v_timezone
	FROM protector.services s
	JOIN protector.venues v ON v.id OPERATOR(pg_catalog.=) s.venue_id
	WHERE s.id OPERATOR(pg_catalog.=) NEW.service_id;
	v_title := pg_catalog.format('Review booking: %s, %s (%s)', v_service,
		pg_catalog.to_char(protector_internal.local_time(v_timezone, pg_catalog.lower(NEW.during)), 'YYYY-MM-DD HH24:MI'),
		v_timezone);
	v_due := LEAST(pg_catalog.lower(NEW.during),
				   GREATEST(pg_catalog.now(), pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.-) interval '1 hour'));

	IF v_kind OPERATOR(pg_catalog.=) 'booking.created' THEN
		-- (the agent's, where their role sees tasks: one made finance or a
		-- viewer since the hold was made leaves it to the desk, and the
		-- confirmation goes through)
		INSERT INTO protector.tasks (organization_id, booking_id, kind, title, assignee, due_at)
		VALUES (NEW.organization_id, NEW.id, 'booking_review', v_title,
				CASE WHEN NEW.assigned_agent IS NOT NULL
						  AND protector_internal.member_sees_tasks(NEW.organization_id, NEW.assigned_agent)
					 THEN NEW.assigned_agent END, v_due);
	ELSIF v_kind OPERATOR(pg_catalog.=) 'booking.rescheduled' THEN
		UPDATE protector.tasks t
		SET title = v_title, due_at = v_due
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
		  AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND t.kind OPERATOR(pg_catalog.=) 'booking_review'
		  AND t.status OPERATOR(pg_catalog.<>) 'done';
	END IF;

	-- for the desk; no customer data beyond what staff see on the booking
	INSERT INTO protector.notifications (organization_id, booking_id, kind, payload)
	VALUES (NEW.organization_id, NEW.id, v_kind,
			pg_catalog.jsonb_build_object('service', v_service, 'start', pg_catalog.lower(NEW.during),
										  'timezone', v_timezone, 'status', NEW.status,
										  'party_size', NEW.party_size, 'confirm_by', NEW.hold_expires_at));
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.booking_workflow() IS
'Trigger (AFTER UPDATE): review tasks and desk notifications for confirmed, rescheduled and cancelled bookings';

CREATE OR REPLACE FUNCTION protector_internal.broadcast_booking_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector_internal.restoring() THEN
		RETURN NULL;		-- a restore: nothing happens live
	END IF;
	-- an erasure's own change does not send on the data it erases (also of
	-- a booking once theirs, another customer's now: the flag is the
	-- erasure's, scrub_customer_rows)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
	   AND ((NEW.customer_id IS NOT NULL
			 AND EXISTS (SELECT FROM protector.customer_erasures e
						 WHERE e.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
						   AND e.customer_id OPERATOR(pg_catalog.=) NEW.customer_id))
			OR pg_catalog.current_setting('protector_internal.erasing', true) OPERATOR(pg_catalog.=) 'on') THEN
		PERFORM realtime.broadcast_changes(
			'protector:' OPERATOR(pg_catalog.||) NEW.organization_id::text,
			TG_OP, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, NULL);
		RETURN NULL;
	END IF;
	-- a booking moved to another organization leaves the old one's topic
	-- (a DELETE there, with the row as it was: theirs) and arrives on the
	-- new one's without its old row, which is the old organization's (as
	-- NOTIFY does: an UPDATE on the new channel, a DELETE on the old)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
	   AND OLD.organization_id OPERATOR(pg_catalog.<>) NEW.organization_id THEN
		PERFORM realtime.broadcast_changes(
			'protector:' OPERATOR(pg_catalog.||) OLD.organization_id::text,
			'DELETE', 'DELETE', TG_TABLE_NAME, TG_TABLE_SCHEMA, NULL, OLD);
		PERFORM realtime.broadcast_changes(
			'protector:' OPERATOR(pg_catalog.||) NEW.organization_id::text,
			TG_OP, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, NULL);
		RETURN NULL;
	END IF;
	PERFORM realtime.broadcast_changes(
		'protector:' OPERATOR(pg_catalog.||) COALESCE(NEW.organization_id, OLD.organization_id)::text,
		TG_OP, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, OLD);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.broadcast_booking_change() IS
'Trigger: booking changes to Supabase Realtime Broadcast, topic protector:<organization id> (private)';

-- merged_into: kept by triggers instead of a self-referencing foreign key,
-- which pg_dump reported as circular on every data-only dump
ALTER TABLE protector.customers DROP CONSTRAINT customers_organization_id_merged_into_fkey;
CREATE OR REPLACE FUNCTION protector_internal.check_merged_unreferenced()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fk record;
	v_found boolean;
	v_target uuid;
BEGIN
	-- a restore writes history as it was, in whatever order its loads and
	-- set-aside rows come back (a merged record may come back before the
	-- one it was merged into): not checked again (docs/operations.md)
	IF protector_internal.restoring() THEN
		RETURN NULL;
	END IF;
	IF NOT EXISTS (SELECT FROM protector.customers c
				   WHERE c.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
					 AND c.id OPERATOR(pg_catalog.=) NEW.merged_into) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('customer %s is merged into %s, which is no customer of its organization',
										NEW.id, NEW.merged_into);
	END IF;
	-- one step, whoever writes it (a trusted role's direct writes too): no
	-- chain, no cycle, which left both records refusing every booking
	-- with a hint naming the other
	-- (the target locked as a foreign key's check locks it: two sessions
	-- merging A into B and B into A at once wait for each other, and the
	-- second sees the first, or retries under REPEATABLE READ)
	SELECT c.merged_into INTO v_target FROM protector.customers c
	WHERE c.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND c.id OPERATOR(pg_catalog.=) NEW.merged_into
	FOR SHARE;
	IF v_target IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('customer %s cannot be merged into %s, which was merged into %s', NEW.id, NEW.merged_into, v_target),
			NULL, pg_catalog.format('Merge into %s.', v_target));
	END IF;
	SELECT c.id INTO v_target FROM protector.customers c
	WHERE c.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND c.merged_into OPERATOR(pg_catalog.=) NEW.id
	LIMIT 1;
	IF v_target IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('customer %s cannot be merged: customer %s was merged into it', NEW.id, v_target),
			NULL, 'merge_customers() moves earlier merges to the record kept.');
	END IF;
	FOR fk IN
		SELECT r.tbl, r.col, r.org_col FROM protector_internal.customer_references r
	LOOP
		EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM %s WHERE %I OPERATOR(pg_catalog.=) $1', fk.tbl, fk.col)
				OPERATOR(pg_catalog.||) protector_internal.within_organization(fk.org_col, 2) OPERATOR(pg_catalog.||) ')'
			INTO v_found USING NEW.id, NEW.organization_id;
		IF v_found THEN
			PERFORM protector.raise('invalid_parameter',
				pg_catalog.format('customer %s is still referenced by %s.%s', NEW.id, fk.tbl, fk.col),
				NULL, 'Merge customers with merge_customers(), which moves what refers to them.');
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.check_merged_unreferenced() IS
'Constraint trigger: merged_into names an unmerged customer of the same organization, and nothing refers to the merged customer';

CREATE OR REPLACE FUNCTION protector_internal.release_merged_into()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE protector.customers c SET merged_into = NULL
	WHERE c.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
	  AND c.merged_into OPERATOR(pg_catalog.=) OLD.id;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.release_merged_into() IS
'Trigger: customers merged into a deleted customer are merged into nothing (as ON DELETE SET NULL)';

CREATE TRIGGER release_merged_into AFTER DELETE ON protector.customers
	FOR EACH ROW EXECUTE FUNCTION protector_internal.release_merged_into();

-- whether protector is in Supabase Realtime is data, restored with the rest
-- Whether protector is in Supabase Realtime is data, so that a restore
-- brings it back: the publication's membership, the tables' replica
-- identity and the broadcast trigger belong to no dump of the extension's
-- tables, but this row does, and restoring it applies them again.
CREATE TABLE protector_internal.realtime_state (
	enabled		boolean PRIMARY KEY CHECK (enabled)
);
ALTER TABLE protector_internal.realtime_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.realtime_state FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.realtime_state IS
'One row while protector is in Supabase Realtime (enable_realtime); restoring it re-applies the publication membership';
SELECT pg_catalog.pg_extension_config_dump('protector_internal.realtime_state', '');
-- (in Realtime by its publication, or by Broadcast alone: 0.1.0's
-- enable_realtime() attached the broadcast trigger where it could)
INSERT INTO protector_internal.realtime_state (enabled)
SELECT true WHERE EXISTS (SELECT FROM pg_catalog.pg_publication_tables
						  WHERE pubname = 'supabase_realtime' AND schemaname = 'protector' AND tablename = 'bookings')
			   OR EXISTS (SELECT FROM pg_catalog.pg_trigger
						  WHERE tgrelid = 'protector.bookings'::pg_catalog.regclass AND tgname = 'broadcast_booking_change');

-- (before apply_realtime(), which the update runs further down)
-- (a policy as stored, hashed: realtime_policy keeps it in the comment of one it made)
CREATE FUNCTION protector_internal.policy_shape(p_policy oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT md5(concat_ws(' ', pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
						 p.polcmd, p.polroles::text, p.polpermissive))
	FROM pg_policy p WHERE p.oid = p_policy
$$;
COMMENT ON FUNCTION protector_internal.policy_shape(oid) IS
'A policy as stored (expressions, command, roles, kind), hashed: realtime_policy keeps it in the comment of one it made';

CREATE OR REPLACE FUNCTION protector_internal.realtime_policy(p_name text, p_using text, p_check text DEFAULT NULL,
												   p_roles text DEFAULT 'authenticated')
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_policy record;
	v_exists boolean;
	v_made_from text := 'protector: ' || md5(concat_ws(' ', p_using, p_check, p_roles)) || ' ';
	v_restrictive boolean := p_check IS NOT NULL;
	v_shape text := CASE WHEN v_restrictive THEN 'AS RESTRICTIVE FOR ALL' ELSE 'FOR SELECT' END || ' TO ' || p_roles;
	v_check text := CASE WHEN v_restrictive THEN format(' WITH CHECK (%s)', p_check) ELSE '' END;
BEGIN
	-- (ALTER POLICY sets roles, USING and WITH CHECK only: one made
	-- another command or kind, or with a WITH CHECK where ours has none,
	-- is not alterable into ours)
	SELECT p.oid, obj_description(p.oid, 'pg_policy') AS mark,
		   p.polcmd = CASE WHEN v_restrictive THEN '*' ELSE 'r' END AND p.polpermissive = NOT v_restrictive
		   AND (p.polwithcheck IS NULL OR v_restrictive) AS alterable
	INTO v_policy FROM pg_policy p
	WHERE p.polrelid = 'realtime.messages'::regclass AND p.polname = p_name;
	v_exists := FOUND;
	IF v_exists AND protector_internal.restoring() THEN
		RETURN 'restored';
	END IF;
	-- (a re-run that would change nothing leaves the policy, and
	-- realtime.messages, alone: ALTER POLICY locks the table ACCESS
	-- EXCLUSIVE.  Its comment says what it was made from and what it was
	-- then: one edited by hand since is made again)
	IF v_exists AND v_policy.mark = v_made_from || protector_internal.policy_shape(v_policy.oid) THEN
		RETURN 'present';
	END IF;
	IF v_exists AND v_policy.alterable THEN
		EXECUTE format('ALTER POLICY %I ON realtime.messages TO %s USING (%s)%s', p_name, p_roles, p_using, v_check);
	ELSE
		IF v_exists THEN
			EXECUTE format('DROP POLICY %I ON realtime.messages', p_name);
		END IF;
		EXECUTE format('CREATE POLICY %I ON realtime.messages %s USING (%s)%s', p_name, v_shape, p_using, v_check);
	END IF;
	EXECUTE format('COMMENT ON POLICY %I ON realtime.messages IS %L', p_name,
		v_made_from || (SELECT protector_internal.policy_shape(p.oid) FROM pg_policy p
						WHERE p.polrelid = 'realtime.messages'::regclass AND p.polname = p_name));
	RETURN CASE WHEN v_exists THEN 'present' ELSE 'created' END;
EXCEPTION WHEN insufficient_privilege THEN
	RAISE WARNING 'could not % the policy % on realtime.messages: %',
		CASE WHEN v_exists THEN 'update' ELSE 'create' END, p_name, SQLERRM
		USING HINT = 'Run protector.enable_realtime() as the owner of realtime.messages (or a superuser), or private topics stay closed to everyone.';
	RETURN 'not permitted';
END
$$;
COMMENT ON FUNCTION protector_internal.realtime_policy(text, text, text, text) IS
'Creates, or brings up to date, one of protector''s policies on realtime.messages (enable_realtime)';
REVOKE ALL ON FUNCTION protector_internal.realtime_policy(text, text, text, text) FROM PUBLIC;

CREATE FUNCTION protector_internal.apply_realtime(p_policies boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_added text[] := '{}';
	v_publication boolean;
	v_broadcast boolean;
	v_policy text := 'none';
	t text;
	-- who reads a message of realtime.messages: a member whose role may
	-- read all the organization's bookings, of the topic they joined; a
	-- customer, of their own topic.  Both name the message's own topic: the
	-- session's topic alone let whoever joined one topic read every topic's
	-- messages straight from the table.
	v_members_using text := $u$realtime.messages.extension = 'broadcast'
		AND realtime.messages.topic = (SELECT realtime.topic())
		AND (SELECT realtime.topic()) = ANY (
			SELECT 'protector:' || o::text FROM unnest(protector_internal.orgs_with('bookings.read')) o)$u$;
	v_customers_using text := $u$realtime.messages.extension = 'broadcast'
		AND realtime.messages.topic = (SELECT realtime.topic())
		AND (SELECT realtime.topic()) = 'protector:customer:' || (SELECT protector.current_user_id())::text$u$;
	-- (and protector's topics are closed to all others whatever other
	-- policies open realtime.messages: permissive policies add up, and
	-- Supabase's guide has one that lets anyone signed in receive every
	-- private broadcast, or send one.  Nobody but protector's triggers
	-- sends on them: a message there is a booking's change.  For anon
	-- without the readers' test, which calls what anon may not execute:
	-- a policy anon cannot run failed every query of anon's on the table,
	-- the application's own topics' too)
	v_topics_using text := format($u$NOT starts_with(realtime.messages.topic, 'protector:') OR (%s) OR (%s)$u$,
								  v_members_using, v_customers_using);
	v_topics_check CONSTANT text := $u$NOT starts_with(realtime.messages.topic, 'protector:')$u$;
BEGIN
	v_publication := EXISTS (SELECT FROM pg_publication WHERE pubname = 'supabase_realtime');
	IF v_publication THEN
		FOREACH t IN ARRAY ARRAY['bookings', 'tasks', 'notifications', 'booking_messages'] LOOP
			-- old records and RLS on updates need every column in the WAL
			-- (set once: ALTER TABLE locks the table ACCESS EXCLUSIVE, and a
			-- re-run made bookings wait behind any open reader)
			-- (not where a publication lists the table's columns: PostgreSQL
			-- then refuses every update and delete whose identity the list
			-- does not cover, and bookings could no longer be changed)
			IF EXISTS (SELECT FROM pg_publication_rel r
					   WHERE r.prrelid = format('protector.%I', t)::regclass AND r.prattrs IS NOT NULL) THEN
				RAISE NOTICE 'protector.% keeps its replica identity: a publication lists its columns', t;
			ELSIF (SELECT c.relreplident FROM pg_class c WHERE c.oid = format('protector.%I', t)::regclass)
				  IS DISTINCT FROM 'f' THEN
				EXECUTE format('ALTER TABLE protector.%I REPLICA IDENTITY FULL', t);
			END IF;
			IF NOT EXISTS (SELECT FROM pg_publication_tables
						   WHERE pubname = 'supabase_realtime' AND schemaname = 'protector' AND tablename = t) THEN
				EXECUTE format('ALTER PUBLICATION supabase_realtime ADD TABLE protector.%I', t);
				v_added := v_added || ('protector.' || t);
			END IF;
		END LOOP;
	END IF;

	v_broadcast := EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
						   WHERE n.nspname = 'realtime' AND p.proname = 'broadcast_changes')
				   AND to_regclass('realtime.messages') IS NOT NULL;
	-- the broadcast triggers call into schema realtime with their owner's
	-- rights: only where a superuser owns it (a schema of that name made
	-- by another role could run its functions as protector's owner); ones
	-- attached before (by 0.1.0, which did not ask) are taken off
	IF v_broadcast AND NOT protector_internal.trusted_schema('realtime') THEN
		RAISE WARNING 'protector does not broadcast to Supabase Realtime: schema realtime belongs to role %, which is not a superuser',
			(SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'realtime')
			USING HINT = 'Have a superuser own schema realtime (Supabase''s does), then run SELECT protector.enable_realtime().';
		v_broadcast := false;
		DROP TRIGGER IF EXISTS broadcast_booking_change ON protector.bookings;
		IF to_regclass('protector.booking_messages') IS NOT NULL THEN
			DROP TRIGGER IF EXISTS broadcast_message ON protector.booking_messages;
		END IF;
	END IF;
	IF v_broadcast THEN
		IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'protector.bookings'::regclass
					   AND tgname = 'broadcast_booking_change') THEN
			CREATE TRIGGER broadcast_booking_change
				AFTER INSERT OR UPDATE OR DELETE ON protector.bookings
				FOR EACH ROW EXECUTE FUNCTION protector_internal.broadcast_booking_change();
		END IF;
		-- booking messages (sql/84_messages.sql)
		IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'protector.booking_messages'::regclass
					   AND tgname = 'broadcast_message') THEN
			CREATE TRIGGER broadcast_message
				AFTER INSERT OR UPDATE ON protector.booking_messages
				FOR EACH ROW EXECUTE FUNCTION protector_internal.broadcast_message();
		END IF;
		-- members receive their organizations' topics; nobody else does
		IF p_policies THEN
			v_policy := protector_internal.realtime_policy('protector_members_receive_organization_topic',
														   v_members_using);
		END IF;
	END IF;

	-- a customer joins their own topic (their booking messages) only
	IF v_broadcast AND p_policies THEN
		PERFORM protector_internal.realtime_policy('protector_customers_receive_own_topic', v_customers_using);
		PERFORM protector_internal.realtime_policy('protector_topics_closed_to_others', v_topics_using, v_topics_check);
		PERFORM protector_internal.realtime_policy('protector_topics_closed_to_anon', v_topics_check, v_topics_check, 'anon');
	END IF;

	RETURN jsonb_build_object('publication', v_publication, 'tables_added', to_jsonb(v_added),
							  'broadcast', v_broadcast, 'broadcast_policy', v_policy);
END
$$;
COMMENT ON FUNCTION protector_internal.apply_realtime(boolean) IS
'Adds bookings, tasks and notifications to the Supabase Realtime the database has (publication, broadcast trigger, topic policy)';
REVOKE ALL ON FUNCTION protector_internal.apply_realtime(boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector.enable_realtime()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_result jsonb := protector_internal.apply_realtime();
BEGIN
	IF (v_result ->> 'publication')::boolean OR (v_result ->> 'broadcast')::boolean THEN
		INSERT INTO protector_internal.realtime_state (enabled) VALUES (true) ON CONFLICT DO NOTHING;
	END IF;
	RETURN v_result;
END
$$;
COMMENT ON FUNCTION protector.enable_realtime() IS
'Adds bookings, tasks and notifications to Supabase Realtime (publication, broadcast trigger, topic policy) where present';

CREATE OR REPLACE FUNCTION protector.disable_realtime()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_removed text[] := '{}';
	v_policy boolean := false;
	v_trigger boolean := false;
	t text;
BEGIN
	IF EXISTS (SELECT FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
		FOREACH t IN ARRAY ARRAY['bookings', 'tasks', 'notifications', 'booking_messages'] LOOP
			-- (only a table named in it: one the publication takes FOR ALL
			-- TABLES or with its schema cannot be dropped from it alone, and
			-- the whole call failed bare, its trigger and policies kept)
			IF EXISTS (SELECT FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
					   WHERE p.pubname = 'supabase_realtime' AND r.prrelid = format('protector.%I', t)::regclass) THEN
				EXECUTE format('ALTER PUBLICATION supabase_realtime DROP TABLE protector.%I', t);
				v_removed := v_removed || ('protector.' || t);
			ELSIF EXISTS (SELECT FROM pg_publication_tables
						  WHERE pubname = 'supabase_realtime' AND schemaname = 'protector' AND tablename = t) THEN
				RAISE NOTICE 'protector.% stays in publication supabase_realtime, which takes it FOR ALL TABLES or with its schema', t;
			END IF;
			EXECUTE format('ALTER TABLE protector.%I REPLICA IDENTITY DEFAULT', t);
		END LOOP;
	END IF;
	IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'protector.bookings'::regclass
			   AND tgname = 'broadcast_booking_change') THEN
		DROP TRIGGER broadcast_booking_change ON protector.bookings;
		v_trigger := true;
	END IF;
	IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'protector.booking_messages'::regclass
			   AND tgname = 'broadcast_message') THEN
		DROP TRIGGER broadcast_message ON protector.booking_messages;
	END IF;
	-- protector's policies on realtime.messages (apply_realtime)
	FOR t IN SELECT p.polname FROM pg_policy p
			 WHERE p.polrelid = to_regclass('realtime.messages')
			   AND p.polname IN ('protector_members_receive_organization_topic', 'protector_customers_receive_own_topic',
								 'protector_topics_closed_to_others', 'protector_topics_closed_to_anon')
	LOOP
		EXECUTE format('DROP POLICY %I ON realtime.messages', t);
		v_policy := v_policy OR t = 'protector_members_receive_organization_topic';
	END LOOP;
	DELETE FROM protector_internal.realtime_state;
	RETURN jsonb_build_object('tables_removed', to_jsonb(v_removed), 'broadcast_trigger_dropped', v_trigger,
							  'broadcast_policy_dropped', v_policy);
END
$$;
COMMENT ON FUNCTION protector.disable_realtime() IS
'Takes protector out of Supabase Realtime (publication, broadcast trigger, topic policy); run before DROP EXTENSION';

CREATE OR REPLACE FUNCTION protector_internal.restore_realtime_state()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT protector_internal.restoring() THEN
		RETURN NEW;
	END IF;
	IF EXISTS (SELECT FROM protector_internal.realtime_state) THEN
		RETURN NULL;
	END IF;
	PERFORM protector_internal.apply_restored_realtime();
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.restore_realtime_state() IS
'Trigger: a restored realtime_state row is kept once, and applied where the publication exists already';

CREATE TRIGGER restore_realtime_state BEFORE INSERT ON protector_internal.realtime_state
	FOR EACH ROW EXECUTE FUNCTION protector_internal.restore_realtime_state();
ALTER TABLE protector_internal.realtime_state ENABLE ALWAYS TRIGGER restore_realtime_state;

CREATE OR REPLACE FUNCTION protector_internal.publication_created()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- It fires for every role's CREATE PUBLICATION: only the owner of
	-- protector's tables may read realtime_state and add them (looked up by
	-- name, which needs no right on protector's schemas); nobody else's
	-- publication is protector's business, and their DDL must not fail.
	IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
								   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
								   WHERE n.nspname OPERATOR(pg_catalog.=) 'protector_internal'
									 AND c.relname OPERATOR(pg_catalog.=) 'realtime_state'), 'USAGE') THEN
		RETURN;
	END IF;
	-- A dump's script (row_security off, as pg_dump writes it): the load
	-- of the restored realtime_state row, if one is under way, is waited
	-- for (the row and this publication, each made before the other
	-- committed, missed each other, and Realtime stayed off with no word);
	-- and the dump brings its own policies on realtime.messages (pg_restore
	-- -j may run this before their CREATE POLICY, which would then fail as
	-- made already).
	-- Its tables are taken all at once, as lock_for_restore() takes them,
	-- waiting for loads too (no load's end follows this one): it waited
	-- for each in turn holding those altered already, and deadlocked with
	-- a load whose end inserted rows set aside into one of them.
	IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off' THEN
		LOCK TABLE protector_internal.realtime_state IN SHARE MODE;
		IF NOT EXISTS (SELECT FROM protector_internal.realtime_state) THEN
			RETURN;
		ELSIF protector_internal.lock_for_restore(
				'{protector.bookings,protector.tasks,protector.notifications,protector.booking_messages}',
				'ACCESS EXCLUSIVE', true) THEN
			PERFORM protector_internal.apply_realtime(false);
		ELSE
			RAISE WARNING 'protector: not back in Supabase Realtime: another session held its tables too long'
				USING HINT = 'Run SELECT protector.enable_realtime() once the restore is done.';
		END IF;
	ELSIF EXISTS (SELECT FROM protector_internal.realtime_state) THEN
		PERFORM protector_internal.apply_realtime();
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.publication_created() IS
'Event trigger: a publication created while protector is in Realtime (a restore) gets protector''s tables again';

CREATE EVENT TRIGGER protector_publication_created ON ddl_command_end
	WHEN TAG IN ('CREATE PUBLICATION')
	EXECUTE FUNCTION protector_internal.publication_created();

-- Data lifecycle (sql/97_lifecycle.sql) ---------------------------------------

-- a merge does not move the record of an erasure
CREATE OR REPLACE VIEW protector_internal.customer_references AS
SELECT c.conrelid::regclass AS tbl, a.attname AS col
FROM pg_catalog.pg_constraint c
JOIN LATERAL unnest(c.conkey, c.confkey) AS u(fk_att, pk_att) ON true
JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid AND a.attnum OPERATOR(pg_catalog.=) u.fk_att
JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) c.confrelid AND pa.attnum OPERATOR(pg_catalog.=) u.pk_att
WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) 'protector.customers'::pg_catalog.regclass
  AND pa.attname OPERATOR(pg_catalog.=) 'id' AND c.conrelid OPERATOR(pg_catalog.<>) 'protector.customers'::pg_catalog.regclass
  -- the record of an erasure is about the customer it names: it stays
  AND c.conrelid IS DISTINCT FROM pg_catalog.to_regclass('protector.customer_erasures');

-- sql/97_lifecycle.sql: data that ends: expired holds, audit retention,
-- erasure of a customer's personal data (docs/operations.md).
--
-- Purges and erasures are rows of their own (who asked, when, what for):
-- inserting one is what RLS lets owners (purges) and owners and admins
-- (erasures) do, and a trigger running as the owner does the part no API
-- role may do itself, rewriting the append-only audit log.  The rows are
-- the record that it happened, and are audited like every core table.

-- Held bookings past their hold (checkouts never finished, widget
-- bookings nobody confirmed) become cancelled, at most p_limit a call,
-- oldest first.  Safe from several workers at once (SKIP LOCKED); a call
-- with nothing to do does nothing.  Schedule it, e.g. with pg_cron:
--   SELECT cron.schedule('protector-expire-holds', '* * * * *',
--                        'SELECT protector.expire_holds(1000)');
CREATE OR REPLACE FUNCTION protector.expire_holds(p_limit integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[];
	v_reasons text[];
	v_done integer := 0;
	i integer;
BEGIN
	-- (row-level security hides other tenants' bookings from a role that
	-- does not bypass it: a member of service_role, which does not inherit
	-- BYPASSRLS, swept nothing and was told 0)
	IF NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector.raise('forbidden', 'expire_holds is for the scheduled sweep',
			pg_catalog.format('Role %s does not bypass row-level security, and would see no other organization''s bookings; a member of service_role does not inherit that.',
							  pg_catalog.quote_ident(current_user::text)),
			'Run it as service_role: SET ROLE service_role; SELECT protector.expire_holds(1000);');
	END IF;
	IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 100000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_limit must be between 1 and 100000',
			pg_catalog.format('Got %s.', COALESCE(p_limit::text, 'NULL')));
	END IF;
	-- what is due, oldest first, skipping what another worker has locked:
	-- expired holds, then (with what is left of p_limit) unpaid deposits
	SELECT COALESCE(pg_catalog.array_agg(h.id ORDER BY h.hold_expires_at), '{}') INTO v_ids
	FROM (SELECT b.id, b.hold_expires_at FROM protector.bookings b
		  WHERE b.status OPERATOR(pg_catalog.=) 'held' AND b.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()
		  ORDER BY b.hold_expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED) h;
	v_reasons := pg_catalog.array_fill('hold expired'::text, ARRAY[pg_catalog.cardinality(v_ids)]);
	IF pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.<) p_limit THEN
		SELECT v_ids OPERATOR(pg_catalog.||) COALESCE(pg_catalog.array_agg(u.id ORDER BY u.payment_due_by), '{}'),
			   v_reasons OPERATOR(pg_catalog.||) pg_catalog.array_fill('deposit not paid'::text, ARRAY[pg_catalog.count(*)::integer])
		INTO v_ids, v_reasons
		FROM (SELECT b.id, b.payment_due_by FROM protector.bookings b
			  WHERE b.status OPERATOR(pg_catalog.=) 'pending' AND b.payment_due_by OPERATOR(pg_catalog.<=) pg_catalog.now()
				AND b.amount_paid OPERATOR(pg_catalog.<) b.deposit_amount
			  ORDER BY b.payment_due_by LIMIT p_limit OPERATOR(pg_catalog.-) pg_catalog.cardinality(v_ids)
			  FOR UPDATE SKIP LOCKED) u;
	END IF;
	-- the sweep also keeps the report change log short (sql/89_reports.sql)
	-- and the widget's rate-limit records to their day (sql/66_widget.sql)
	PERFORM protector_internal.prune_report_changes(100);
	PERFORM protector_internal.prune_widget_requests();
	IF pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.=) 0 THEN
		RETURN 0;
	END IF;
	BEGIN
		-- (their promo codes and vouchers first, in id order, as a batch
		-- of cancellations takes them: two sweeps, or a sweep and a batch,
		-- took them in the order of the rows and deadlocked)
		PERFORM protector_internal.lock_give_backs(v_ids, true);
		UPDATE protector.bookings b
		SET status = 'cancelled', cancelled_at = pg_catalog.now(), cancellation_reason = r.reason
		FROM pg_catalog.unnest(v_ids, v_reasons) r(id, reason)
		WHERE b.id OPERATOR(pg_catalog.=) r.id;
		GET DIAGNOSTICS v_done = ROW_COUNT;
	EXCEPTION WHEN OTHERS THEN
		-- one booking that cannot be cancelled must not stop the sweep for
		-- every other: each on its own, the failures reported
		v_done := 0;
		-- (their codes and vouchers again, in id order: the failed block's
		-- locks went with it, and cancelled one by one the holds took them
		-- in the order of their expiry, deadlocking with a batch that took
		-- them in id order; found by a chaos run.  One busy past
		-- protector.lock_timeout: each cancellation waits for its own)
		BEGIN
			PERFORM protector_internal.lock_give_backs(v_ids, true);
		EXCEPTION WHEN lock_not_available OR serialization_failure OR deadlock_detected THEN
			NULL;
		END;
		FOR i IN 1 .. pg_catalog.array_length(v_ids, 1) LOOP
			BEGIN
				UPDATE protector.bookings b
				SET status = 'cancelled', cancelled_at = pg_catalog.now(), cancellation_reason = v_reasons[i]
				WHERE b.id OPERATOR(pg_catalog.=) v_ids[i];
				v_done := v_done OPERATOR(pg_catalog.+) 1;
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'protector.expire_holds: booking % could not be cancelled: %', v_ids[i], SQLERRM;
			END;
		END LOOP;
	END;
	RETURN v_done;
END
$$;
COMMENT ON FUNCTION protector.expire_holds(integer) IS
'Cancels up to p_limit held bookings whose hold has expired (reason "hold expired") and pending ones whose deposit is overdue (reason "deposit not paid"); for a scheduled job (service_role, pg_cron)';

CREATE INDEX bookings_expiring_holds_idx ON protector.bookings (hold_expires_at) WHERE status = 'held';

-- audit retention ---------------------------------------------------------

CREATE TABLE protector.audit_purges (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	-- (no foreign key: service_role purges a deleted organization's
	-- history by its id, and the record of a purge outlives the tenant)
	organization_id uuid,
	purge_before	timestamptz NOT NULL CHECK (isfinite(purge_before)),
	rows_purged		bigint,
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_purges_organization_idx ON protector.audit_purges (organization_id, created_at);
COMMENT ON TABLE protector.audit_purges IS
'Audit history purged: which organization (NULL: every one, service_role), everything before when, by whom; a row is the purge';

-- The purge itself: the organization's audit rows before purge_before go.
CREATE FUNCTION protector_internal.purge_audit_rows()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT pg_catalog.isfinite(NEW.purge_before) OR NEW.purge_before OPERATOR(pg_catalog.>) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'purge_before must be a finite time in the past',
			pg_catalog.format('Got %s.', NEW.purge_before));
	END IF;
	-- (an organization's purge and its erasures wait for each other:
	-- the purge deletes the oldest rows first, an erasure writes its rows
	-- table by table, and the two deadlocked; erasures share the lock)
	IF NEW.organization_id IS NOT NULL THEN
		PERFORM pg_catalog.pg_advisory_xact_lock(protector_internal.lock_key(1886547724, NEW.organization_id));
	END IF;
	DELETE FROM protector.audit_log l
	WHERE l.occurred_at OPERATOR(pg_catalog.<) NEW.purge_before
	  AND (NEW.organization_id IS NULL OR l.organization_id OPERATOR(pg_catalog.=) NEW.organization_id)
	  -- the purge's own record stays
	  AND NOT (l.table_name OPERATOR(pg_catalog.=) 'protector.audit_purges');
	GET DIAGNOSTICS NEW.rows_purged = ROW_COUNT;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.purge_audit_rows() IS
'Trigger: deletes the audit rows a purge asks for (audit_log is append-only for everyone else)';

-- (only for those the insert policy lets purge: it is asked after BEFORE
-- triggers, and anyone signed in made the owner delete, then roll back,
-- every tenant's history, its time telling how much there was)
CREATE TRIGGER purge_audit_rows BEFORE INSERT ON protector.audit_purges
	FOR EACH ROW WHEN (NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('audit.purge'))))
	EXECUTE FUNCTION protector_internal.purge_audit_rows();

CREATE OR REPLACE FUNCTION protector.purge_audit_log(p_before timestamptz, p_organization_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid := p_organization_id;
	v_orgs uuid[];
	v_purged bigint;
BEGIN
	IF p_before IS NULL OR NOT pg_catalog.isfinite(p_before) OR p_before OPERATOR(pg_catalog.>) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'p_before must be a finite time in the past',
			pg_catalog.format('Got %s.', COALESCE(p_before::text, 'NULL')));
	END IF;
	IF v_org IS NULL AND NOT protector_internal.caller_is_trusted() THEN
		-- an owner of one organization: that one
		v_orgs := protector_internal.orgs_with('audit.purge');
		IF pg_catalog.cardinality(v_orgs) OPERATOR(pg_catalog.<>) 1 THEN
			PERFORM protector.raise(CASE WHEN pg_catalog.cardinality(v_orgs) OPERATOR(pg_catalog.=) 0 THEN 'forbidden' ELSE 'invalid_parameter' END,
				CASE WHEN pg_catalog.cardinality(v_orgs) OPERATOR(pg_catalog.=) 0 THEN 'your role may not purge old audit history'
					 ELSE 'p_organization_id must say which of your organizations' END);
		END IF;
		v_org := v_orgs[1];
	ELSIF v_org IS NOT NULL THEN
		PERFORM protector_internal.authorize(v_org, 'audit.purge');
		-- (service_role passes for any id: a deleted organization's too,
		-- whose history no tenant reads any more)
	ELSE
		-- all of them (service_role): a purge row per organization whose
		-- history goes, which its owners and admins read (a row of no
		-- organization no tenant sees), then one for the rest: rows of no
		-- organization, or of organizations deleted since
		WITH purged AS (
			INSERT INTO protector.audit_purges (organization_id, purge_before)
			SELECT o.id, p_before FROM protector.organizations o
			WHERE EXISTS (SELECT FROM protector.audit_log l
						  WHERE l.organization_id OPERATOR(pg_catalog.=) o.id AND l.occurred_at OPERATOR(pg_catalog.<) p_before
							AND l.table_name OPERATOR(pg_catalog.<>) 'protector.audit_purges')
			ORDER BY o.id
			RETURNING rows_purged)
		SELECT COALESCE(pg_catalog.sum(purged.rows_purged), 0) INTO v_purged FROM purged;
	END IF;
	INSERT INTO protector.audit_purges (organization_id, purge_before)
	VALUES (v_org, p_before)
	RETURNING rows_purged OPERATOR(pg_catalog.+) COALESCE(v_purged, 0) INTO v_purged;
	RETURN v_purged;
END
$$;
COMMENT ON FUNCTION protector.purge_audit_log(timestamptz, uuid) IS
'Deletes the audit history before p_before of one organization (owners) or of all (service_role); recorded in audit_purges and audited';

-- erasure -----------------------------------------------------------------

CREATE TABLE protector.customer_erasures (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	customer_id		uuid NOT NULL,
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, customer_id),
	FOREIGN KEY (organization_id, customer_id) REFERENCES protector.customers (organization_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE protector.customer_erasures IS
'Customers whose personal data was erased (who asked, when; never what): a row is the erasure';

-- The erasure: the customer becomes a tombstone; their bookings keep
-- time, service, prices and payments for the books but lose details and
-- cancellation reasons; the audit rows of both lose the same fields; the
-- widget's record of their e-mail goes.
CREATE OR REPLACE FUNCTION protector_internal.erase_customer_data()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.scrub_customer_rows(NEW.organization_id, NEW.customer_id);
	-- and every record merged into it, however the erasure was written (a
	-- direct insert left them whole): each its own erasure's row, which
	-- fires this again
	INSERT INTO protector.customer_erasures (organization_id, customer_id, created_by)
	SELECT NEW.organization_id, m.id, NEW.created_by
	FROM pg_catalog.unnest(protector_internal.merged_into_it(NEW.organization_id, NEW.customer_id)) WITH ORDINALITY m (id, n)
	ORDER BY m.n
	ON CONFLICT (organization_id, customer_id) DO NOTHING;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.erase_customer_data() IS
'Trigger: an erasure''s row erases the customer''s personal data (scrub_customer_rows), and the records merged into it';

CREATE TRIGGER erase_customer_data AFTER INSERT ON protector.customer_erasures
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.erase_customer_data();

CREATE OR REPLACE FUNCTION protector.erase_customer(p_customer_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	v_erasure protector.customer_erasures;
	v_again boolean;
	v_first boolean;
	v_id uuid;
	v_ids uuid[];
BEGIN
	-- the customer's bookings before the customer, as merge_customers
	-- takes them (a merge and an erasure of one customer deadlocked)
	PERFORM protector_internal.lock_customer_bookings(ARRAY[p_customer_id]);
	v_org := protector_internal.authorize_row('protector.customers', p_customer_id, 'customers.erase', 'customer', true);
	-- the customer and every record merged into it (a chain 0.1.0 let
	-- merges make included): of its organization, whose customers the
	-- caller may erase
	v_ids := p_customer_id OPERATOR(pg_catalog.||) protector_internal.merged_into_it(v_org, p_customer_id);
	-- a first erasure is its row's (erase_customer_data, which erases the
	-- records merged into it too); another one erases each again, each
	-- authorized just before (the permits kept per transaction are few:
	-- authorized all first, the first ones' were gone by their turn)
	FOREACH v_id IN ARRAY v_ids LOOP
		INSERT INTO protector.customer_erasures (organization_id, customer_id)
		VALUES (v_org, v_id)
		ON CONFLICT (organization_id, customer_id) DO NOTHING;
		v_first := FOUND;
		IF v_id OPERATOR(pg_catalog.=) p_customer_id THEN
			v_again := NOT v_first;
		END IF;
		IF NOT v_first AND v_again THEN
			IF v_id OPERATOR(pg_catalog.<>) p_customer_id THEN
				PERFORM protector_internal.authorize_row('protector.customers', v_id, 'customers.erase', 'customer', true);
			END IF;
			PERFORM protector_internal.scrub_customer(v_org, v_id);
		END IF;
	END LOOP;
	SELECT * INTO v_erasure FROM protector.customer_erasures e
	WHERE e.organization_id OPERATOR(pg_catalog.=) v_org AND e.customer_id OPERATOR(pg_catalog.=) p_customer_id;
	RETURN pg_catalog.to_jsonb(v_erasure) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('already_erased', v_again);
END
$$;
COMMENT ON FUNCTION protector.erase_customer(uuid) IS
'Erases a customer''s personal data (GDPR), and that of the records merged into it: tombstone in customers, bookings'' details and the audit history; bookings and payments stay; recorded in customer_erasures; again when asked again';

-- tables: RLS forced, policies from the capability map, dumped, audited
ALTER TABLE protector.audit_purges ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.audit_purges FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.customer_erasures ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.customer_erasures FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_purges_select ON protector.audit_purges FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('audit.read'))::uuid[]));
CREATE POLICY audit_purges_insert ON protector.audit_purges FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('audit.purge'))::uuid[]));
CREATE POLICY customer_erasures_select ON protector.customer_erasures FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('audit.read'))::uuid[]));
CREATE POLICY customer_erasures_insert ON protector.customer_erasures FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('customers.erase'))::uuid[]));
GRANT SELECT ON protector.audit_purges, protector.customer_erasures TO authenticated;
GRANT INSERT (organization_id, purge_before) ON protector.audit_purges TO authenticated;
GRANT INSERT (organization_id, customer_id) ON protector.customer_erasures TO authenticated;
GRANT SELECT, INSERT ON protector.audit_purges, protector.customer_erasures TO service_role;
SELECT pg_catalog.pg_extension_config_dump('protector.audit_purges', '');
SELECT pg_catalog.pg_extension_config_dump('protector.customer_erasures', '');
SELECT protector.enable_audit(t) FROM unnest('{protector.audit_purges, protector.customer_erasures}'::regclass[]) t;

REVOKE ALL ON FUNCTION protector.expire_holds(integer), protector.purge_audit_log(timestamptz, uuid),
	protector.erase_customer(uuid) FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector.expire_holds(integer) TO service_role;
GRANT EXECUTE ON FUNCTION protector.purge_audit_log(timestamptz, uuid), protector.erase_customer(uuid)
	TO authenticated, service_role;

-- Money (issue 12) --------------------------------------------------------------

-- currencies follow the organization, the service, the booking
ALTER TABLE protector.services ALTER COLUMN currency DROP DEFAULT;
ALTER TABLE protector.bookings ALTER COLUMN currency DROP DEFAULT;
ALTER TABLE protector.payments ALTER COLUMN currency DROP DEFAULT;
CREATE OR REPLACE FUNCTION protector_internal.default_currency()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) ANY ('{services,vouchers,promo_codes}') THEN
		SELECT o.currency INTO NEW.currency FROM protector.organizations o
		WHERE o.id OPERATOR(pg_catalog.=) NEW.organization_id;
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'bookings' THEN
		SELECT s.currency INTO NEW.currency FROM protector.services s
		WHERE s.id OPERATOR(pg_catalog.=) NEW.service_id;
	ELSE
		SELECT b.currency INTO NEW.currency FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id;
	END IF;
	-- no such parent: ISO 4217's "no currency", and the foreign key says
	-- what is wrong
	NEW.currency := COALESCE(NEW.currency, 'XXX');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.default_currency() IS
'Trigger: a service''s, voucher''s or promo code''s currency defaults to its organization''s, a booking''s to its service''s, a payment''s to its booking''s';

CREATE TRIGGER default_currency BEFORE INSERT ON protector.services
	FOR EACH ROW WHEN (NEW.currency IS NULL) EXECUTE FUNCTION protector_internal.default_currency();
CREATE TRIGGER default_currency BEFORE INSERT ON protector.bookings
	FOR EACH ROW WHEN (NEW.currency IS NULL) EXECUTE FUNCTION protector_internal.default_currency();
CREATE TRIGGER default_currency BEFORE INSERT ON protector.payments
	FOR EACH ROW WHEN (NEW.currency IS NULL) EXECUTE FUNCTION protector_internal.default_currency();
-- also for imports under session_replication_role = replica
ALTER TABLE protector.services ENABLE ALWAYS TRIGGER default_currency;
ALTER TABLE protector.bookings ENABLE ALWAYS TRIGGER default_currency;
ALTER TABLE protector.payments ENABLE ALWAYS TRIGGER default_currency;

-- the ledger decides what is paid
ALTER TABLE protector.bookings
	ADD COLUMN balance_due numeric(12, 2) GENERATED ALWAYS AS (total_price - amount_paid) STORED;
REVOKE INSERT (amount_paid), UPDATE (amount_paid) ON protector.bookings FROM authenticated;
DROP INDEX protector.payments_provider_reference_idx;
CREATE UNIQUE INDEX payments_provider_reference_idx ON protector.payments (organization_id, provider, provider_reference)
	WHERE provider_reference IS NOT NULL;
CREATE OR REPLACE FUNCTION protector_internal.restrict_update_columns()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	allowed text[] := TG_ARGV[1]::text[];
	changed text[];
BEGIN
	IF protector.current_user_id() IS NULL OR protector_internal.caller_is_trusted()
	   OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with(TG_ARGV[0])) THEN
		RETURN NEW;
	END IF;
	IF NOT NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('organizations.read')) THEN
		allowed := COALESCE(TG_ARGV[4], '{}')::text[];
	ELSIF TG_NARGS > 2 AND NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with(TG_ARGV[2])) THEN
		allowed := allowed OPERATOR(pg_catalog.||) TG_ARGV[3]::text[];
	END IF;
	SELECT pg_catalog.array_agg(n.key ORDER BY n.key) INTO changed
	FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) n
	JOIN pg_catalog.jsonb_each(pg_catalog.to_jsonb(OLD)) o ON o.key OPERATOR(pg_catalog.=) n.key
	WHERE n.value IS DISTINCT FROM o.value
	  AND n.key OPERATOR(pg_catalog.<>) 'updated_at'
	  AND n.key OPERATOR(pg_catalog.<>) ALL (allowed)
	  -- a generated column is NULL in NEW until after BEFORE triggers
	  AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
					  WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attname OPERATOR(pg_catalog.=) n.key
						AND a.attgenerated OPERATOR(pg_catalog.<>) '');
	IF changed IS NOT NULL THEN
		PERFORM protector.raise('forbidden',
			pg_catalog.format('your role may not change %s of %s',
							  pg_catalog.array_to_string(changed, ', '), TG_TABLE_NAME),
			pg_catalog.format('Your role may change only %s.', pg_catalog.array_to_string(allowed, ', ')),
			pg_catalog.format('Members whose role may do %s change the other columns (protector.capability_map()).',
							  TG_ARGV[0]));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.restrict_update_columns() IS
'Trigger: lets members whose role may not do action TG_ARGV[0] change only the columns in TG_ARGV[1] (and TG_ARGV[3] with action TG_ARGV[2]), non-members only those in TG_ARGV[4]';

CREATE OR REPLACE FUNCTION protector_internal.booking_refundable(p_organization_id uuid, p_booking_id uuid, p_except uuid DEFAULT NULL,
													 OUT paid numeric, OUT refunded numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	SELECT COALESCE(pg_catalog.sum(p.amount) FILTER (WHERE p.kind OPERATOR(pg_catalog.=) 'payment'
													 AND p.status OPERATOR(pg_catalog.=) 'succeeded'), 0),
		   COALESCE(pg_catalog.sum(p.amount) FILTER (WHERE p.kind OPERATOR(pg_catalog.=) 'refund'
													 AND p.status OPERATOR(pg_catalog.=) ANY ('{pending,succeeded}'::protector.payment_status[])), 0)
	INTO paid, refunded
	FROM protector.payments p
	WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id AND p.booking_id OPERATOR(pg_catalog.=) p_booking_id
	  AND (p_except IS NULL OR p.id OPERATOR(pg_catalog.<>) p_except);
END
$$;
COMMENT ON FUNCTION protector_internal.booking_refundable(uuid, uuid, uuid) IS
'A booking''s succeeded payments and its pending or succeeded refunds (leaving out row p_except)';
REVOKE ALL ON FUNCTION protector_internal.booking_refundable(uuid, uuid, uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector_internal.check_payment()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_row protector.payments;
	v_currency text;
	v_paid numeric;				-- the booking's other rows
	v_refunded numeric;
	v_after numeric;			-- paid less refunded, with this row as it will be
	v_before numeric;			-- ... as it was
	v_pending text;				-- a refund waiting to be paid out
	v_fee numeric;				-- what the booking's cancellation kept
	v_status protector.booking_status;
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		v_row := OLD;
	ELSE
		v_row := NEW;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND (NEW.organization_id OPERATOR(pg_catalog.<>) OLD.organization_id
												  OR NEW.booking_id OPERATOR(pg_catalog.<>) OLD.booking_id) THEN
		PERFORM protector.raise('invalid_parameter', 'a payment stays with its booking',
			pg_catalog.format('Payment %s is of booking %s.', OLD.id, OLD.booking_id),
			'Refund it, and record a payment of the other booking.');
	END IF;
	-- money that moved, as record_payment takes it (a direct row of 0.00
	-- was written, audited and announced)
	IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' AND NEW.amount OPERATOR(pg_catalog.=) 0
	   AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR OLD.amount OPERATOR(pg_catalog.<>) 0) THEN
		PERFORM protector.raise('invalid_parameter', 'a payment or refund must be a positive amount', 'Got 0.00.',
			'Record money that moved; a payment that did not happen is marked failed.');
	END IF;
	-- (an inserted row is in the table by now: its unique keys are
	-- checked, and a replay of its provider event, which record_payment's
	-- ON CONFLICT skips, is never judged)
	IF TG_WHEN OPERATOR(pg_catalog.=) 'BEFORE' THEN
		SELECT b.currency, b.status INTO v_currency, v_status FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) v_row.organization_id AND b.id OPERATOR(pg_catalog.=) v_row.booking_id
		FOR UPDATE;
	ELSE
		SELECT b.currency, b.status INTO v_currency, v_status FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) v_row.organization_id AND b.id OPERATOR(pg_catalog.=) v_row.booking_id
		FOR NO KEY UPDATE;
	END IF;
	IF NOT FOUND THEN
		RETURN v_row;			-- the foreign key says what is wrong (or the booking is being deleted)
	END IF;
	PERFORM protector_internal.retry_if_ledger_unseen(v_row.booking_id);
	IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' AND NEW.currency OPERATOR(pg_catalog.<>) v_currency THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a payment in %s for a booking in %s', NEW.currency, v_currency),
			'A booking is paid in its own currency.', 'Convert the amount, or record it in the booking''s currency.');
	END IF;
	-- (after the lock: a new snapshot sees the payments committed meanwhile)
	SELECT l.paid, l.refunded INTO v_paid, v_refunded
	FROM protector_internal.booking_refundable(v_row.organization_id, v_row.booking_id, v_row.id) l;
	v_after := v_paid OPERATOR(pg_catalog.-) v_refunded;
	v_before := v_after;
	IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
		v_after := v_after OPERATOR(pg_catalog.+) protector_internal.payment_effect(NEW.kind, NEW.status, NEW.amount);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN
		v_before := v_before OPERATOR(pg_catalog.+) protector_internal.payment_effect(OLD.kind, OLD.status, OLD.amount);
	END IF;
	-- what the booking was paid stays an amount (amount_paid is at most it)
	IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' AND NEW.kind OPERATOR(pg_catalog.=) 'payment'
	   AND NEW.status OPERATOR(pg_catalog.=) 'succeeded'
	   AND v_paid OPERATOR(pg_catalog.+) NEW.amount OPERATOR(pg_catalog.>) 9999999999.99 THEN
		PERFORM protector.raise('invalid_parameter', 'what the booking was paid would be more than an amount can be',
			pg_catalog.format('Paid %s %s; this payment %s; at most 9999999999.99 in all.', v_paid, v_currency, NEW.amount),
			'Check the amount: it is far beyond the booking''s price.');
	END IF;
	-- a refund recorded anew while the cancellation's own waits to be paid
	-- out counts it twice: with a fee of half or more it stayed within
	-- what was paid (the limit below), and gave the fee back too.  While
	-- any refund of the booking is pending, no change (a refund inserted,
	-- a failed one made to count, one raised; whoever writes it, however
	-- it is labelled) may leave the booking less than the fee its
	-- cancellation kept; once they are settled, a refund of the fee, a
	-- gesture, is the desk's to make.  (A booking written cancelled, an
	-- import, kept no fee protector knows of.)  Under the older
	-- refund_policy, which keeps no fee (a refund recorded anew gave back
	-- the 50% a late cancellation keeps), the terms' kept amount: what was
	-- paid less their refunds, which they write after setting it, and
	-- lowered by a refund the desk makes once none is pending (a gesture
	-- counted as kept refused a later late payment's refund).  The pending
	-- refund may be this very row, raised (the table still holds it as it
	-- was).  Only while the booking is cancelled (or a no-show): one
	-- brought back (service_role) kept its old terms, and its refunds of
	-- what it was overpaid were refused as if it still kept the fee.
	IF v_after OPERATOR(pg_catalog.<) v_before AND TG_OP OPERATOR(pg_catalog.<>) 'DELETE'
	   AND v_status OPERATOR(pg_catalog.=) ANY ('{cancelled,no_show}'::protector.booking_status[]) THEN
		SELECT COALESCE(t.fee, t.kept) INTO v_fee FROM protector_internal.cancellation_terms t
		WHERE t.organization_id OPERATOR(pg_catalog.=) v_row.organization_id AND t.booking_id OPERATOR(pg_catalog.=) v_row.booking_id;
		IF v_after OPERATOR(pg_catalog.<) v_fee THEN
			SELECT pg_catalog.format('%s of %s %s', p.id, p.amount, p.currency) INTO v_pending
			FROM protector.payments p
			WHERE p.organization_id OPERATOR(pg_catalog.=) v_row.organization_id AND p.booking_id OPERATOR(pg_catalog.=) v_row.booking_id
			  AND (p.id OPERATOR(pg_catalog.<>) v_row.id OR TG_OP OPERATOR(pg_catalog.=) 'UPDATE')
			  AND p.kind OPERATOR(pg_catalog.=) 'refund' AND p.status OPERATOR(pg_catalog.=) 'pending'
			ORDER BY p.created_at LIMIT 1;
			IF v_pending IS NOT NULL THEN
				PERFORM protector.raise('invalid_parameter', 'the cancellation''s refund is pending',
					pg_catalog.format('Refund %s waits to be paid out; with this change the booking would keep %s of the %s %s its cancellation kept.',
									  v_pending, GREATEST(v_after, 0), v_fee, v_currency),
					'Record its outcome with settle_payment(); a further refund once it is settled.');
			END IF;
			-- (nothing pending: the desk gives back more than the policy
			-- kept, which is what the booking keeps from now on)
			UPDATE protector_internal.cancellation_terms t SET kept = GREATEST(v_after, 0)
			WHERE t.organization_id OPERATOR(pg_catalog.=) v_row.organization_id AND t.booking_id OPERATOR(pg_catalog.=) v_row.booking_id
			  AND t.kept IS NOT NULL;
		END IF;
	END IF;
	IF v_after OPERATOR(pg_catalog.<) 0 AND v_after OPERATOR(pg_catalog.<) v_before THEN
		IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' AND NEW.kind OPERATOR(pg_catalog.=) 'refund' THEN
			PERFORM protector.raise('invalid_parameter', 'a refund cannot exceed what was paid',
				pg_catalog.format('Paid %s %s; refunded or to be refunded %s; this refund %s.',
								  v_paid, v_currency, v_refunded, NEW.amount),
				CASE WHEN EXISTS (SELECT FROM protector.payments p
								  WHERE p.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
									AND p.booking_id OPERATOR(pg_catalog.=) NEW.booking_id AND p.id OPERATOR(pg_catalog.<>) NEW.id
									AND p.kind OPERATOR(pg_catalog.=) 'refund' AND p.status OPERATOR(pg_catalog.=) 'pending'
									AND p.provider_reference IS NULL)
					 THEN 'A pending refund (a cancellation''s) counts already: record its outcome with settle_payment() rather than a new refund.' END);
		END IF;
		PERFORM protector.raise('invalid_parameter', 'a payment cannot be lowered or removed below what was refunded',
			pg_catalog.format('Without it the booking was paid %s %s and refunded or is to be refunded %s; this change would leave %s.',
							  v_paid, v_currency, v_refunded, v_after),
			'Cancel or lower the refunds first.');
	END IF;
	RETURN v_row;
END
$$;
COMMENT ON FUNCTION protector_internal.check_payment() IS
'Trigger (before an update or deletion, after an insert): locks the booking of a payment, refuses an amount of 0, another currency, another booking, and changes that leave refunds beyond what was paid';

CREATE TRIGGER check_payment BEFORE UPDATE OF organization_id, booking_id, kind, amount, currency, status OR DELETE
	ON protector.payments
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_payment();
-- (named to fire before refund_late_payment and sum_payments, which count
-- on the booking's lock; after the foreign keys' checks, as every
-- "RI_ConstraintTrigger" sorts first)
CREATE TRIGGER check_inserted_payment AFTER INSERT ON protector.payments
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_payment();

-- Before an insert by a writer the insert policy will pass (the table's
-- owner, a role that bypasses RLS, protector's own functions, a member
-- whose role may record payments in the row's organization): its
-- booking is locked before the row goes in, as every other write of the
-- booking's payments locks it first.  Locked only after the insert
-- (check_inserted_payment), such a row would hold its booking KEY SHARE
-- (the foreign key's check) and its provider reference in the unique
-- index while it waited, and a transaction that held the booking and
-- then asked FOR UPDATE, or wrote the same reference, would deadlock with
-- it.  Other writers (a stranger, whom the policy refuses; one an
-- operator's own policy admits) take the lock only in the judgement.
CREATE FUNCTION protector_internal.lock_payment_booking()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id
	FOR UPDATE;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_payment_booking() IS
'Trigger: before a payment that the insert policy will pass is inserted, its booking is locked (check_inserted_payment judges it after)';
REVOKE ALL ON FUNCTION protector_internal.lock_payment_booking() FROM PUBLIC;
-- (named to fire first of the BEFORE INSERT triggers, as check_payment
-- did; the condition is the insert policy's, or trust)
CREATE TRIGGER a_lock_payment_booking BEFORE INSERT ON protector.payments
	FOR EACH ROW WHEN (NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NOT pg_catalog.row_security_active('protector.payments'::pg_catalog.regclass)
							OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('payments.create'))))
	EXECUTE FUNCTION protector_internal.lock_payment_booking();

CREATE OR REPLACE FUNCTION protector_internal.sum_payments()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	v_paid numeric;
BEGIN
	FOR r IN
		SELECT DISTINCT x.organization_id, x.booking_id
		FROM (SELECT NEW.organization_id, NEW.booking_id WHERE TG_OP OPERATOR(pg_catalog.<>) 'DELETE'
			  UNION ALL
			  SELECT OLD.organization_id, OLD.booking_id WHERE TG_OP OPERATOR(pg_catalog.<>) 'INSERT') x
	LOOP
		SELECT GREATEST(COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount
													ELSE OPERATOR(pg_catalog.-) p.amount END), 0), 0)
		INTO v_paid
		FROM protector.payments p
		JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) p.organization_id
								 AND b.id OPERATOR(pg_catalog.=) p.booking_id
		WHERE p.organization_id OPERATOR(pg_catalog.=) r.organization_id AND p.booking_id OPERATOR(pg_catalog.=) r.booking_id
		  AND p.status OPERATOR(pg_catalog.=) 'succeeded' AND p.currency OPERATOR(pg_catalog.=) b.currency;
		-- only a change is written: a refund recorded while its booking is
		-- being cancelled (a pending one, which changes nothing) must not
		-- touch the row that update is writing.  A booking waiting for its
		-- deposit is confirmed once it is paid.  A hold paid back below its
		-- deposit (a refund, a chargeback) owes it again by a deadline, as a
		-- new one does: without one it was confirmed unpaid (wait_for_deposit
		-- fires on a deadline) and expire_holds never cancelled it.
		UPDATE protector.bookings b
		SET amount_paid = v_paid,
			status = CASE WHEN b.payment_due_by IS NOT NULL AND b.status OPERATOR(pg_catalog.=) 'pending'
							   AND v_paid OPERATOR(pg_catalog.>=) b.deposit_amount
						  THEN 'confirmed'::protector.booking_status ELSE b.status END,
			payment_due_by = CASE WHEN v_paid OPERATOR(pg_catalog.>=) b.deposit_amount THEN NULL
								  WHEN b.payment_due_by IS NULL AND b.status OPERATOR(pg_catalog.=) 'held'
								  THEN protector_internal.deposit_due_by(
										   (SELECT s.settings OPERATOR(pg_catalog.->) 'deposit' FROM protector.services s
											WHERE s.organization_id OPERATOR(pg_catalog.=) b.organization_id
											  AND s.id OPERATOR(pg_catalog.=) b.service_id),
										   pg_catalog.lower(b.during))
								  ELSE b.payment_due_by END
		WHERE b.organization_id OPERATOR(pg_catalog.=) r.organization_id AND b.id OPERATOR(pg_catalog.=) r.booking_id
		  AND b.amount_paid OPERATOR(pg_catalog.<>) v_paid;
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.sum_payments() IS
'Trigger: a booking''s amount_paid is the sum of its succeeded payments less its succeeded refunds';

CREATE TRIGGER sum_payments AFTER INSERT OR UPDATE OR DELETE ON protector.payments
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.sum_payments();

-- Money paid in one currency stays in it: a booking or a gift voucher with
-- payments keeps its currency (set_booking_price() refuses the same for a
-- move to a service in another currency).  Otherwise the ledger would mix
-- currencies, and sums by the new one would drop what was paid.
CREATE OR REPLACE FUNCTION protector_internal.keep_paid_currency()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_voucher boolean := TG_TABLE_NAME OPERATOR(pg_catalog.=) 'vouchers';
BEGIN
	-- (under REPEATABLE READ a payment recorded since the snapshot, a
	-- pending one too, which leaves the booking's row as it was, retries)
	IF NOT v_voucher THEN
		PERFORM protector_internal.retry_if_ledger_unseen(OLD.id);
	END IF;
	IF (v_voucher AND EXISTS (SELECT FROM protector.payments p
							  WHERE p.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
								AND p.voucher_id OPERATOR(pg_catalog.=) OLD.id))
	   OR (NOT v_voucher AND EXISTS (SELECT FROM protector.payments p
									 WHERE p.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
									   AND p.booking_id OPERATOR(pg_catalog.=) OLD.id)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a %s with payments keeps its currency', CASE WHEN v_voucher THEN 'voucher' ELSE 'booking' END),
			pg_catalog.format('It has payments in %s; the update asked for %s.', OLD.currency, NEW.currency),
			'Refund it and create another in the new currency.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_paid_currency() IS
'Trigger: a booking or voucher with payments keeps its currency';

CREATE TRIGGER keep_paid_currency BEFORE UPDATE OF currency ON protector.bookings
	FOR EACH ROW WHEN (NEW.currency IS DISTINCT FROM OLD.currency AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_paid_currency();

CREATE OR REPLACE FUNCTION protector.record_payment(
	p_booking_id uuid,
	p_amount numeric,
	p_provider text DEFAULT NULL,
	p_provider_reference text DEFAULT NULL,
	p_kind protector.payment_kind DEFAULT 'payment',
	p_status protector.payment_status DEFAULT 'succeeded',
	p_currency text DEFAULT NULL,
	p_details jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid := protector_internal.authorize_row('protector.bookings', p_booking_id, 'payments.create', 'booking');
	v_payment protector.payments;
	v_settled protector.payments;
	v_replayed boolean := false;
BEGIN
	PERFORM protector_internal.check_money(p_amount, 'p_amount');
	PERFORM protector_internal.check_currency(p_currency, 'p_currency');
	IF p_kind IS NULL OR p_status IS NULL OR p_details IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_kind, p_status and p_details (a JSON object) must not be null');
	END IF;
	IF pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_details must be a JSON object',
			pg_catalog.format('Got a JSON %s.', pg_catalog.jsonb_typeof(p_details)));
	END IF;
	-- the same provider event again answers with the payment it recorded,
	-- before anything is checked again (a refund's check would count the
	-- refund it recorded the first time)
	IF p_provider_reference IS NOT NULL THEN
		SELECT * INTO v_payment FROM protector.payments p
		WHERE p.organization_id OPERATOR(pg_catalog.=) v_org AND p.provider OPERATOR(pg_catalog.=) p_provider
		  AND p.provider_reference OPERATOR(pg_catalog.=) p_provider_reference;
		v_replayed := FOUND;
	END IF;
	-- (what a new payment is given is judged; a replay names a row stored
	-- before, which keeps what it has: 0.1.0 took blank references and
	-- control characters)
	IF NOT v_replayed THEN
		PERFORM protector_internal.check_provider(p_provider, p_provider_reference);
		-- (the details are stored only here: a replay keeps the row's)
		IF pg_catalog.octet_length(p_details::text) OPERATOR(pg_catalog.>) 65536 THEN
			PERFORM protector.raise('invalid_parameter', 'p_details is too large',
				pg_catalog.format('It takes %s bytes as text; at most 65536 are accepted.', pg_catalog.octet_length(p_details::text)));
		END IF;
	END IF;
	-- what writes locks the booking first, within protector.lock_timeout
	-- (check_payment locks it again, which a busy booking made an unbounded
	-- wait); a replay, which writes nothing, answers without waiting
	IF NOT v_replayed OR p_status IS DISTINCT FROM v_payment.status THEN
		PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'payments.create', 'booking', true);
	END IF;
	IF NOT v_replayed THEN
		INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status, provider,
										provider_reference, details)
		VALUES (v_org, p_booking_id, p_kind, p_amount, p_currency, p_status, p_provider, p_provider_reference, p_details)
		ON CONFLICT (organization_id, provider, provider_reference) WHERE provider_reference IS NOT NULL DO NOTHING
		RETURNING * INTO v_payment;
		IF v_payment.id IS NULL THEN
			-- ... recorded by a concurrent call of the same event
			SELECT * INTO STRICT v_payment FROM protector.payments p
			WHERE p.organization_id OPERATOR(pg_catalog.=) v_org AND p.provider OPERATOR(pg_catalog.=) p_provider
			  AND p.provider_reference OPERATOR(pg_catalog.=) p_provider_reference;
			v_replayed := true;
		END IF;
	END IF;
	-- a retry says what the first call said; anything else is another event
	IF v_replayed AND (v_payment.booking_id OPERATOR(pg_catalog.<>) p_booking_id OR v_payment.kind OPERATOR(pg_catalog.<>) p_kind
					   OR v_payment.amount OPERATOR(pg_catalog.<>) p_amount
					   OR v_payment.currency OPERATOR(pg_catalog.<>) COALESCE(p_currency, v_payment.currency)) THEN
		PERFORM protector.raise('conflict', 'this provider reference was recorded for another payment',
			pg_catalog.format('%s %s is a %s of %s %s for booking %s.', p_provider, p_provider_reference,
							  v_payment.kind, v_payment.amount, v_payment.currency, v_payment.booking_id),
			'A provider reference names one payment; check the webhook''s event.');
	END IF;
	-- ... except its outcome: a pending payment the provider settles later
	-- (the webhook of its success or failure) is settled, once
	IF v_replayed AND p_status OPERATOR(pg_catalog.<>) v_payment.status THEN
		IF v_payment.status OPERATOR(pg_catalog.<>) 'pending' OR p_status OPERATOR(pg_catalog.=) 'pending' THEN
			PERFORM protector.raise('conflict',
				pg_catalog.format('this provider reference was recorded as %s', v_payment.status),
				pg_catalog.format('%s %s cannot become %s.', p_provider, p_provider_reference, p_status),
				'A payment goes from pending to succeeded or failed once; money given back is a refund.');
		END IF;
		v_settled := protector_internal.settle_payment(v_payment.id, p_booking_id, p_status);
		IF v_settled.id IS NULL THEN
			-- (settled so by a concurrent call of the same webhook: a replay)
			SELECT * INTO STRICT v_payment FROM protector.payments p WHERE p.id OPERATOR(pg_catalog.=) v_payment.id;
		ELSE
			v_payment := v_settled;
			v_replayed := false;
		END IF;
	END IF;
	RETURN protector_internal.payment_answer(v_payment, v_replayed);
END
$$;
COMMENT ON FUNCTION protector.record_payment(uuid, numeric, text, text, protector.payment_kind, protector.payment_status, text, jsonb) IS
'Records a payment or refund of a booking (owners, admins, finance); idempotent by provider and provider reference; answers with the booking''s amount paid and balance';

-- amount_paid is numeric(12, 2): a booking whose ledger sums to more
-- would end the update on a bare overflow, named here instead
DO $ledger_sums$
DECLARE
	v_ids text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format('%s (%s %s)', x.id, x.net, x.currency), ', ' ORDER BY x.id) INTO v_ids
	FROM (SELECT b.id, b.currency, l.net FROM protector.bookings b
		  CROSS JOIN LATERAL (
			SELECT COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount ELSE OPERATOR(pg_catalog.-) p.amount END), 0) AS net
			FROM protector.payments p
			WHERE p.organization_id OPERATOR(pg_catalog.=) b.organization_id AND p.booking_id OPERATOR(pg_catalog.=) b.id
			  AND p.status OPERATOR(pg_catalog.=) 'succeeded' AND p.currency OPERATOR(pg_catalog.=) b.currency) l
		  WHERE l.net OPERATOR(pg_catalog.>=) 10000000000
		  ORDER BY b.id LIMIT 20) x;
	IF v_ids IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'check_violation',
			MESSAGE = 'protector 0.2.0 keeps a booking''s amount paid below 10000000000, and this database holds bookings paid more',
			DETAIL = pg_catalog.format('Bookings and what their succeeded payments less refunds sum to (the first 20): %s.', v_ids),
			HINT = 'Correct the payments that did not happen (mark them failed), then run ALTER EXTENSION protector UPDATE again; nothing was changed.';
	END IF;
END
$ledger_sums$;

-- 0.1.0 never maintained amount_paid: what the ledger says now (a
-- correction of derived data, not re-checked).  What
-- members wrote into it by hand beyond the ledger (0.1.0 let them) was
-- money received: it becomes a succeeded payment of the difference first
-- (provider 'manual', details.source naming where it came from), so
-- that the ledger keeps it.  Not where refunds already exceed the
-- payments: whether the hand-written amount was what remained or all that
-- was received cannot be told, and the refusal of refunds beyond what was
-- paid ($ledgers$, below) names the booking for someone who knows.
-- The update's corrections of data below run under session_replication_role
-- = replica (no checks of rows made before the rules they would meet), and
-- are audited all the same: each table's audit trigger fires ALWAYS
-- meanwhile, where it is there and enabled (0.1.0 let the audit of a table
-- be turned off).  Dropped at the end of this script.
CREATE FUNCTION protector_internal.audit_during_update(p_table regclass, p_always boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_trigger t
			   WHERE t.tgrelid OPERATOR(pg_catalog.=) p_table AND t.tgname OPERATOR(pg_catalog.=) 'protector_audit'
				 AND t.tgenabled OPERATOR(pg_catalog.=) CASE WHEN p_always THEN 'O' ELSE 'A' END) THEN
		EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE %s TRIGGER protector_audit', p_table,
								  CASE WHEN p_always THEN 'ALWAYS' ELSE '' END);
	END IF;
END
$$;

SELECT protector_internal.audit_during_update(t, true) FROM unnest('{protector.payments,protector.bookings}'::regclass[]) t;
SET LOCAL session_replication_role = replica;
INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status, provider, details, created_by)
SELECT b.organization_id, b.id, 'payment', b.amount_paid OPERATOR(pg_catalog.-) l.net, b.currency, 'succeeded', 'manual',
	   '{"source": "bookings.amount_paid of protector 0.1.0, written by hand"}', NULL
FROM protector.bookings b
CROSS JOIN LATERAL (
	SELECT COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount ELSE OPERATOR(pg_catalog.-) p.amount END), 0) AS net
	FROM protector.payments p
	WHERE p.organization_id OPERATOR(pg_catalog.=) b.organization_id AND p.booking_id OPERATOR(pg_catalog.=) b.id
	  AND p.status OPERATOR(pg_catalog.=) 'succeeded' AND p.currency OPERATOR(pg_catalog.=) b.currency) l
WHERE b.amount_paid OPERATOR(pg_catalog.>) l.net AND l.net OPERATOR(pg_catalog.>=) 0;
UPDATE protector.bookings b
SET amount_paid = GREATEST(COALESCE((
		SELECT pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount ELSE OPERATOR(pg_catalog.-) p.amount END)
		FROM protector.payments p
		WHERE p.organization_id OPERATOR(pg_catalog.=) b.organization_id AND p.booking_id OPERATOR(pg_catalog.=) b.id
		  AND p.status OPERATOR(pg_catalog.=) 'succeeded' AND p.currency OPERATOR(pg_catalog.=) b.currency), 0), 0);
RESET session_replication_role;
SELECT protector_internal.audit_during_update(t, false) FROM unnest('{protector.payments,protector.bookings}'::regclass[]) t;

-- 0.2.0's ledger rules, which 0.1.0 did not keep (its payments' currency
-- defaulted to USD whatever the booking's; it took any refund): a payment
-- or refund that counts is in its booking's currency, and a booking's
-- refunds (pending or succeeded) never exceed its succeeded payments.
-- Rows that break them would make amount_paid and the refund limits
-- disagree (money in another currency refunded in the booking's, a
-- payment after an over-refund not counted), so they are named and the
-- update refused (a rollback of the whole update: nothing was changed).
DO $ledgers$
DECLARE
	v_other text;
	v_over text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format('%s (%s %s, booking %s in %s)', x.id, x.amount, x.currency, x.booking_id, x.booking_currency),
								 ', ' ORDER BY x.id) INTO v_other
	FROM (SELECT p.id, p.amount, p.currency, p.booking_id, b.currency AS booking_currency
		  FROM protector.payments p
		  JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) p.organization_id
								   AND b.id OPERATOR(pg_catalog.=) p.booking_id
		  WHERE p.currency OPERATOR(pg_catalog.<>) b.currency
			AND p.status OPERATOR(pg_catalog.=) ANY ('{pending,succeeded}'::protector.payment_status[])
		  ORDER BY p.id LIMIT 20) x;
	IF v_other IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'check_violation',
			MESSAGE = 'protector 0.2.0 counts only payments in their booking''s currency, and this database holds others',
			DETAIL = pg_catalog.format('Pending or succeeded payments and refunds (the first 20): %s.', v_other),
			HINT = 'Record each in its booking''s currency (amount and currency), or mark it failed if it did not happen, then run ALTER EXTENSION protector UPDATE again; nothing was changed.';
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.format('%s (paid %s, refunded %s %s)', x.id, x.paid, x.refunded, x.currency),
								 ', ' ORDER BY x.id) INTO v_over
	FROM (SELECT b.id, b.currency, r.paid, r.refunded
		  FROM protector.bookings b
		  CROSS JOIN LATERAL protector_internal.booking_refundable(b.organization_id, b.id) r
		  WHERE EXISTS (SELECT FROM protector.payments p
						WHERE p.organization_id OPERATOR(pg_catalog.=) b.organization_id
						  AND p.booking_id OPERATOR(pg_catalog.=) b.id AND p.kind OPERATOR(pg_catalog.=) 'refund')
			AND r.refunded OPERATOR(pg_catalog.>) r.paid
		  ORDER BY b.id LIMIT 20) x;
	IF v_over IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'check_violation',
			MESSAGE = 'protector 0.2.0 refuses refunds beyond what was paid, and this database holds some',
			DETAIL = pg_catalog.format('Bookings, with their succeeded payments and pending or succeeded refunds (the first 20): %s.', v_over),
			HINT = 'Mark the refunds that were not paid out failed or cancelled, or record the payment they refunded, then run ALTER EXTENSION protector UPDATE again; nothing was changed.';
	END IF;
END
$ledgers$;

-- 0.2.0's widget request keys name the venue (widget/<the e-mail's md5>/
-- <venue>/<key>: the same key at another venue is another booking);
-- 0.1.0's (widget/<md5>/<key>) get the venue they were booked at (their
-- first audit row's; the booking's own where none was kept), so that a
-- visitor's retry across the update replays the booking it made instead of
-- booking again, also one moved to another venue since.  Cleared first,
-- then written, so that no key meets another's old one on the way; keys
-- that would be another booking's are named instead.  A rewrite of
-- protector's own bookkeeping: audited, not announced.
SELECT protector_internal.audit_during_update(t, true) FROM unnest('{protector.bookings}'::regclass[]) t;
SET LOCAL session_replication_role = replica;
DO $widget_keys$
DECLARE
	v_ids uuid[];
	v_keys text[];
	v_taken text;
BEGIN
	SELECT pg_catalog.array_agg(k.id ORDER BY k.id), pg_catalog.array_agg(k.key ORDER BY k.id) INTO v_ids, v_keys
	FROM (SELECT b.id, pg_catalog.regexp_replace(b.idempotency_key, '^(widget/[0-9a-f]{32}/)',
			E'\\1' OPERATOR(pg_catalog.||) COALESCE(
				(SELECT l.new_row OPERATOR(pg_catalog.->>) 'venue_id' FROM protector.audit_log l
				 WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.bookings' AND l.record_id OPERATOR(pg_catalog.=) b.id::text
				   AND l.op OPERATOR(pg_catalog.=) 'INSERT'
				 ORDER BY l.id LIMIT 1),
				b.venue_id::text) OPERATOR(pg_catalog.||) '/') AS key
		  FROM protector.bookings b
		  WHERE b.source OPERATOR(pg_catalog.=) 'widget'
			AND b.idempotency_key OPERATOR(pg_catalog.~) '^widget/[0-9a-f]{32}/'
			AND pg_catalog.length(b.idempotency_key) OPERATOR(pg_catalog.<=) 163) k;	-- 200 less the venue's 37
	IF v_ids IS NULL THEN
		RETURN;
	END IF;
	-- (two of them alike, or one that a booking not rewritten holds: by the
	-- unique index, not by reading the organization's bookings per key)
	SELECT pg_catalog.string_agg(pg_catalog.format('%s (%s)', t.id, t.key), ', ' ORDER BY t.id) INTO v_taken
	FROM (SELECT n.id, n.key, pg_catalog.count(*) OVER (PARTITION BY b.organization_id, n.key) AS alike, b.organization_id
		  FROM unnest(v_ids, v_keys) n(id, key)
		  JOIN protector.bookings b ON b.id OPERATOR(pg_catalog.=) n.id) t
	WHERE t.alike OPERATOR(pg_catalog.>) 1
	   OR EXISTS (SELECT FROM protector.bookings x
				  WHERE x.organization_id OPERATOR(pg_catalog.=) t.organization_id
					AND x.idempotency_key OPERATOR(pg_catalog.=) t.key
					AND NOT x.id OPERATOR(pg_catalog.=) ANY (v_ids));
	IF v_taken IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'check_violation',
			MESSAGE = 'protector 0.2.0''s widget request keys of these bookings would be another booking''s',
			DETAIL = pg_catalog.format('Bookings with the keys they would get: %s.', v_taken),
			HINT = 'Set idempotency_key to NULL on all but one of each, then run ALTER EXTENSION protector UPDATE again; nothing was changed.';
	END IF;
	UPDATE protector.bookings b SET idempotency_key = NULL WHERE b.id OPERATOR(pg_catalog.=) ANY (v_ids);
	UPDATE protector.bookings b SET idempotency_key = n.key
	FROM unnest(v_ids, v_keys) n(id, key) WHERE b.id OPERATOR(pg_catalog.=) n.id;
END
$widget_keys$;
RESET session_replication_role;
SELECT protector_internal.audit_during_update(t, false) FROM unnest('{protector.bookings}'::regclass[]) t;

REVOKE ALL ON FUNCTION protector.record_payment(uuid, numeric, text, text, protector.payment_kind, protector.payment_status, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	protector.record_payment(uuid, numeric, text, text, protector.payment_kind, protector.payment_status, text, jsonb)
TO authenticated, service_role;

-- Review of 0.2.0 ----------------------------------------------------------------

-- one guard for booking writes: operators' direct inserts are priced
-- slots, members who are also customers are held to the customer rules,
-- agents confirm and cancel only by the map
DROP TRIGGER guard_customer_booking ON protector.bookings;
DROP FUNCTION protector_internal.guard_customer_booking();
CREATE OR REPLACE FUNCTION protector_internal.guard_booking_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
	v_uid uuid := protector.current_user_id();
	-- where create_booking stores this caller's keys as a customer's
	v_own_keys text := 'customer/' OPERATOR(pg_catalog.||) COALESCE(v_uid::text, '') OPERATOR(pg_catalog.||) '/';
	v_changed text[];
	v_action text;
	v_long_hold boolean;
BEGIN
	IF protector_internal.caller_is_trusted() THEN
		RETURN NEW;
	END IF;
	-- request keys under widget/ are the widget's, under customer/<user>/
	-- that customer's (create_booking stores them so): a key planted there
	-- would answer their retries with another booking
	IF NEW.idempotency_key IS NOT NULL
	   AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key)
	   AND (pg_catalog.starts_with(NEW.idempotency_key, 'widget/')
			OR (pg_catalog.starts_with(NEW.idempotency_key, 'customer/')
				AND NOT pg_catalog.starts_with(NEW.idempotency_key, v_own_keys))) THEN
		PERFORM protector.raise('forbidden', 'idempotency keys under widget/ and another''s customer/ are protector''s',
			'The widget and create_booking store their callers'' keys there.', 'Choose a key without that prefix.');
	END IF;
	-- a cancellation's reason is shown to staff as written, whoever writes
	-- it: the rule cancel_booking applies to p_reason (line breaks and tabs,
	-- no control or invisible direction characters, at most 2,000)
	IF NEW.cancellation_reason IS NOT NULL
	   AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.cancellation_reason IS DISTINCT FROM OLD.cancellation_reason)
	   AND (pg_catalog.length(NEW.cancellation_reason) OPERATOR(pg_catalog.>) 2000
			OR NOT protector_internal.lines_are_clean(NEW.cancellation_reason)) THEN
		PERFORM protector.raise('invalid_parameter',
			'cancellation_reason must be at most 2000 characters without control or invisible direction characters');
	END IF;
	-- details of at most 64 kB, as create_booking takes them, whoever
	-- writes them (staff's direct writes stored 19 MB, twice more in the
	-- audit log); callers the policies will refuse are refused there
	-- (measured as text: a value taken from a table comes compressed, and
	-- its stored size said 45 kB of 4 MB)
	IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.details IS DISTINCT FROM OLD.details)
	   AND pg_catalog.octet_length(NEW.details::text) OPERATOR(pg_catalog.>) 65536 THEN
		PERFORM protector.raise('invalid_parameter', 'details is too large',
			pg_catalog.format('It takes %s bytes as text; at most 65536 are accepted.', pg_catalog.octet_length(NEW.details::text)));
	END IF;
	-- an agent who is no member of the organization, or is leaving it,
	-- named for those who see the staff list (the composite foreign key's
	-- bare 23503 otherwise; nested: a condition with a subquery runs as a
	-- query every time)
	IF NEW.assigned_agent IS NOT NULL THEN
		IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.assigned_agent IS DISTINCT FROM OLD.assigned_agent
			OR NEW.organization_id IS DISTINCT FROM OLD.organization_id)
		   AND NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.read')) THEN
			IF NOT protector_internal.lock_agent(NEW.organization_id, NEW.assigned_agent) THEN
				PERFORM protector.raise('not_found', 'agent not found',
					'assigned_agent is not a member of the booking''s organization.');
			END IF;
		END IF;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
		-- callers the policies will refuse learn nothing from here
		IF NOT (NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.create'))
				OR NEW.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids())) THEN
			RETURN NEW;
		END IF;
		IF NOT NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.update_any_column')) THEN
			SELECT * INTO s FROM protector.services x WHERE x.id OPERATOR(pg_catalog.=) NEW.service_id;
			IF FOUND THEN
				NEW.during := protector_internal.check_slot(NEW.service_id, pg_catalog.lower(NEW.during), NEW.party_size, 'during');
				NEW.currency := s.currency;
				NEW.unit_price := s.price;
				NEW.total_price := protector.booking_total(s.price, s.price_per_person, NEW.party_size);
			END IF;
		ELSE
			-- (check_slot checks the party of the others)
			PERFORM protector_internal.check_party_size(NEW.organization_id, NEW.service_id, NEW.party_size);
		END IF;
		IF NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.create')) THEN
			NEW.cancelled_at := protector_internal.cancellation_time(NEW.id, NULL, NEW.status, NULL, NEW.cancelled_at);
			-- what happens at the venue happens once the booking has started,
			-- written as a new booking too (enforce_status_transition)
			IF NEW.status OPERATOR(pg_catalog.=) ANY ('{in_progress,completed,no_show}'::protector.booking_status[])
			   AND pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.>) pg_catalog.now() THEN
				PERFORM protector.raise('invalid_parameter',
					pg_catalog.format('a booking cannot be %s before it starts', NEW.status),
					pg_catalog.format('It starts at %s.', protector_internal.iso_text(pg_catalog.lower(NEW.during))),
					'Write it as held, pending or confirmed, and mark it once it has started.');
			END IF;
			-- a hold blocks its slot until it expires: at most a day, as
			-- hold_slot takes it, for staff who may not correct bookings
			-- (an operator's insert held a slot until 2999); nested, the
			-- capability is asked only of such a hold
			IF NEW.status OPERATOR(pg_catalog.=) 'held'
			   AND NEW.hold_expires_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.+) interval '24 hours') THEN
				PERFORM protector_internal.refuse_long_hold(NEW.organization_id, NEW.hold_expires_at);
			END IF;
			RETURN NEW;
		END IF;
		-- through the customer policy: keys under their own prefix
		IF NEW.idempotency_key IS NOT NULL AND NOT pg_catalog.starts_with(NEW.idempotency_key, v_own_keys) THEN
			PERFORM protector.raise('forbidden', 'a customer''s idempotency key starts with customer/<their user id>/',
				pg_catalog.format('Use customer/%s/<key>, or create_booking, which adds it.', v_uid));
		END IF;
		NEW.source := 'api';
		-- (plain text, as the widget takes details from a visitor)
		IF NOT protector_internal.json_is_clean(NEW.details) THEN
			PERFORM protector.raise('invalid_parameter', 'the booking''s details hold control or invisible direction characters',
				'Every string and key in details must be plain text.');
		END IF;
		IF NEW.details OPERATOR(pg_catalog.?) 'refund' THEN
			PERFORM protector.raise('invalid_parameter', 'details.refund is protector''s',
				'Protector writes it when a booking is cancelled or marked no-show.');
		END IF;
		-- a new booking of theirs is live: no cancellation stamped on it
		NEW.cancelled_at := NULL;
		NEW.cancellation_reason := NULL;
		IF NEW.status OPERATOR(pg_catalog.<>) 'held' THEN
			NEW.hold_expires_at := NULL;
		ELSIF NEW.hold_expires_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.+) interval '24 hours') THEN
			-- (a customer's role never corrects bookings: always refused)
			PERFORM protector_internal.refuse_long_hold(NEW.organization_id, NEW.hold_expires_at);
		ELSIF NEW.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
			-- (a hold over already occupies nothing, and confirmed it was
			-- a booking past the open-requests limit and the slot's rules)
			PERFORM protector.raise('invalid_parameter', 'a hold ends after now',
				pg_catalog.format('hold_expires_at is %s.', protector_internal.iso_text(NEW.hold_expires_at)),
				'hold_slot holds for 1 to 1440 minutes.');
		END IF;
		PERFORM protector_internal.check_customer_open_requests(NEW.organization_id, NEW.customer_id);
		RETURN NEW;
	END IF;

	-- a hold held longer by staff who may write it but not correct
	-- bookings: at most a day from now, as on insert (an operator's update
	-- held a slot until 2999); asked once the caller's role may write it
	-- (here, and below for an agent who may confirm)
	v_long_hold := NEW.status OPERATOR(pg_catalog.=) 'held' AND NEW.hold_expires_at IS DISTINCT FROM OLD.hold_expires_at
				   AND NEW.hold_expires_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.+) interval '24 hours');
	-- an expired hold, or one this update ends, occupies nothing, here or
	-- at a new time: not moved, as reschedule_booking does not move it (it
	-- would meet no booking there, and be refused only when confirmed)
	IF (NEW.during IS DISTINCT FROM OLD.during OR NEW.service_id IS DISTINCT FROM OLD.service_id)
	   AND OLD.status OPERATOR(pg_catalog.=) 'held'
	   AND (OLD.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()
			OR (NEW.status OPERATOR(pg_catalog.=) 'held' AND NEW.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())) THEN
		PERFORM protector.raise('invalid_parameter', 'the hold has expired',
			pg_catalog.format('Booking %s is held until %s.', OLD.id,
							  protector_internal.iso_text(LEAST(OLD.hold_expires_at, NEW.hold_expires_at))),
			'Hold the new time instead (hold_slot).');
	END IF;
	IF NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.update')) THEN
		IF v_long_hold THEN
			PERFORM protector_internal.refuse_long_hold(NEW.organization_id, NEW.hold_expires_at);
		END IF;
		NEW.cancelled_at := protector_internal.cancellation_time(OLD.id, OLD.status, NEW.status, OLD.cancelled_at, NEW.cancelled_at);
		IF NEW.party_size IS DISTINCT FROM OLD.party_size OR NEW.service_id IS DISTINCT FROM OLD.service_id THEN
			PERFORM protector_internal.check_party_size(NEW.organization_id, NEW.service_id, NEW.party_size);
		END IF;
		-- a move by a caller who may not set prices is to a slot of the
		-- service, as reschedule_booking makes it (its length, the grid,
		-- opening hours): a stretched booking would keep its old price
		-- (a booking that has started, corrected within the past, keeps its
		-- length; one that has not started is not moved into the past, where
		-- no slot is, and a no-show fee would follow)
		IF (NEW.during IS DISTINCT FROM OLD.during OR NEW.service_id IS DISTINCT FROM OLD.service_id)
		   AND NOT NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.update_any_column')) THEN
			-- (as reschedule_booking: a cancelled or no-show booking, its
			-- refund or fee written, is not moved and priced again)
			IF OLD.status OPERATOR(pg_catalog.=) ANY ('{cancelled,no_show}'::protector.booking_status[]) THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('a %s booking cannot be rescheduled', OLD.status),
					pg_catalog.format('Booking %s is settled: its refund or fee is written.', OLD.id),
					'Book the new time instead.');
			END IF;
			IF pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.>=) pg_catalog.now()
			   OR pg_catalog.lower(OLD.during) OPERATOR(pg_catalog.>=) pg_catalog.now() THEN
				NEW.during := protector_internal.check_slot(NEW.service_id, pg_catalog.lower(NEW.during), NEW.party_size, 'during');
			ELSIF pg_catalog.upper(NEW.during) OPERATOR(pg_catalog.-) pg_catalog.lower(NEW.during)
				  IS DISTINCT FROM pg_catalog.upper(OLD.during) OPERATOR(pg_catalog.-) pg_catalog.lower(OLD.during) THEN
				PERFORM protector.raise('forbidden', 'your role may not change the length of a booking that has started',
					pg_catalog.format('Booking %s: %s to %s.', OLD.id, protector_internal.iso_text(OLD.during), protector_internal.iso_text(NEW.during)),
					'Members whose role may do bookings.update_any_column change it.');
			-- (within the past, or over its own time, as a late start is
			-- recorded: a past booking moved to start a moment ago held the
			-- next hours, off the grid, in closed hours, unchecked)
			ELSIF pg_catalog.upper(NEW.during) OPERATOR(pg_catalog.>)
				  GREATEST(pg_catalog.upper(OLD.during), pg_catalog.now())
				  AND NOT NEW.during OPERATOR(pg_catalog.&&) OLD.during THEN
				PERFORM protector.raise('forbidden', 'your role may correct a booking that has started only within the past',
					pg_catalog.format('Booking %s: %s to %s.', OLD.id, protector_internal.iso_text(OLD.during), protector_internal.iso_text(NEW.during)),
					'A later end than it had is a new slot: book it, or ask members whose role may do bookings.update_any_column.');
			END IF;
		END IF;
		RETURN NEW;
	END IF;
	IF OLD.assigned_agent OPERATOR(pg_catalog.=) v_uid
	   AND NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.assigned')) THEN
		-- an agent moves the booking along, but confirms or cancels only as
		-- the capability map says; a hold made pending, or held longer, is
		-- confirmed as far as its slot is concerned
		IF (NEW.status IS DISTINCT FROM OLD.status AND NEW.status OPERATOR(pg_catalog.=) 'confirmed')
		   OR (OLD.status OPERATOR(pg_catalog.=) 'held' AND NEW.status OPERATOR(pg_catalog.=) 'pending')
		   OR (NEW.status OPERATOR(pg_catalog.=) 'held' AND NEW.hold_expires_at IS DISTINCT FROM OLD.hold_expires_at
			   AND (NEW.hold_expires_at IS NULL OR NEW.hold_expires_at OPERATOR(pg_catalog.>) OLD.hold_expires_at)) THEN
			v_action := 'bookings.confirm';
		ELSIF (NEW.status IS DISTINCT FROM OLD.status AND NEW.status OPERATOR(pg_catalog.=) 'cancelled')
			  -- a hold ended sooner frees its slot: a cancellation
			  OR (NEW.status OPERATOR(pg_catalog.=) 'held' AND NEW.hold_expires_at IS DISTINCT FROM OLD.hold_expires_at) THEN
			v_action := 'bookings.cancel';
		END IF;
		-- (keeping it: the agent's policy takes only a booking that stays
		-- theirs, and one handed on passed as the booking of theirs as a
		-- customer, whose rules below refuse it)
		IF (v_action IS NULL OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with(v_action)))
		   AND NEW.assigned_agent IS NOT DISTINCT FROM OLD.assigned_agent THEN
			IF v_long_hold THEN
				PERFORM protector_internal.refuse_long_hold(NEW.organization_id, NEW.hold_expires_at);
			END IF;
			NEW.cancelled_at := protector_internal.cancellation_time(OLD.id, OLD.status, NEW.status, OLD.cancelled_at, NEW.cancelled_at);
			RETURN NEW;
		END IF;
		-- an agent whose role may not, on a booking that is also their own
		-- as its customer: what a customer may do to it (confirm their hold,
		-- cancel), by the customer rules below
		IF OLD.customer_id IS NULL OR NOT OLD.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()) THEN
			IF v_action IS NULL THEN
				PERFORM protector.raise('forbidden', 'your role may not change a booking''s agent',
					pg_catalog.format('Booking %s is assigned to you.', OLD.id),
					'Members whose role may update bookings (bookings.update) assign agents.');
			END IF;
			PERFORM protector_internal.authorize(NEW.organization_id, v_action, 'booking');
		END IF;
	END IF;
	-- through the customer policy, whatever role the caller may also have:
	-- a cancellation's reason and time come with the cancellation, the time
	-- the database's (a customer backdated the venue's cancellation and
	-- wrote its reason, or stamped a live booking cancelled)
	IF (NEW.cancellation_reason IS DISTINCT FROM OLD.cancellation_reason OR NEW.cancelled_at IS DISTINCT FROM OLD.cancelled_at)
	   AND NOT (OLD.status OPERATOR(pg_catalog.<>) 'cancelled' AND NEW.status OPERATOR(pg_catalog.=) 'cancelled') THEN
		PERFORM protector.raise('forbidden', 'customers may only confirm their own holds or cancel their bookings',
			pg_catalog.format('Booking %s: a cancellation''s reason and time are written when it is cancelled.', OLD.id));
	END IF;
	-- a booking under way is the venue's to settle: its customer cancelling
	-- it got back what the closest tier leaves (refund_on_cancel lets one
	-- under way, whose guests came, keep its tier), where staying away
	-- cost the whole no-show fee
	IF OLD.status OPERATOR(pg_catalog.=) 'in_progress' AND NEW.status OPERATOR(pg_catalog.=) 'cancelled' THEN
		PERFORM protector.raise('forbidden', 'a booking under way is not cancelled by its customer',
			pg_catalog.format('Booking %s is in progress.', OLD.id), 'Ask the venue: staff settle a booking under way.');
	END IF;
	NEW.cancelled_at := protector_internal.cancellation_time(OLD.id, OLD.status, NEW.status, OLD.cancelled_at, NEW.cancelled_at);
	-- a customer confirms a hold while it lasts: one over occupies nothing,
	-- counts against no limit (check_customer_open_requests) and was made
	-- for a day since closed, a service since retired, at an old price
	IF OLD.status OPERATOR(pg_catalog.=) 'held' AND NEW.status OPERATOR(pg_catalog.=) 'confirmed'
	   AND OLD.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'the hold has expired',
			pg_catalog.format('Booking %s was held until %s.', OLD.id, protector_internal.iso_text(OLD.hold_expires_at)),
			'Book the time again (create_booking).');
	END IF;
	SELECT pg_catalog.array_agg(n.key ORDER BY n.key) INTO v_changed
	FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) n
	JOIN pg_catalog.jsonb_each(pg_catalog.to_jsonb(OLD)) o ON o.key OPERATOR(pg_catalog.=) n.key
	WHERE n.value IS DISTINCT FROM o.value
	  AND n.key OPERATOR(pg_catalog.<>) ALL ('{status,hold_expires_at,cancellation_reason,cancelled_at,updated_at,balance_due}');
	IF v_changed IS NOT NULL
	   OR NOT (NEW.status OPERATOR(pg_catalog.=) OLD.status
			   OR (OLD.status OPERATOR(pg_catalog.=) 'held' AND NEW.status OPERATOR(pg_catalog.=) 'confirmed')
			   OR NEW.status OPERATOR(pg_catalog.=) 'cancelled')
	   OR (NEW.hold_expires_at IS DISTINCT FROM OLD.hold_expires_at
		   AND NOT (NEW.hold_expires_at IS NULL AND NEW.status OPERATOR(pg_catalog.<>) 'held')) THEN
		PERFORM protector.raise('forbidden', 'customers may only confirm their own holds or cancel their bookings',
			pg_catalog.format('Booking %s: %s to %s%s.', OLD.id, OLD.status, NEW.status,
				CASE WHEN v_changed IS NOT NULL
					 THEN ', changing ' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(v_changed, ', ') ELSE '' END));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_booking_write() IS
'Trigger: inserts by callers who may not set prices are priced slots; customers, whatever else they are, write only what the booking RPCs allow them; agents confirm and cancel only by the map';

CREATE TRIGGER guard_booking_write BEFORE INSERT OR UPDATE ON protector.bookings
	FOR EACH ROW WHEN (protector.current_user_id() IS NOT NULL)
	EXECUTE FUNCTION protector_internal.guard_booking_write();

CREATE OR REPLACE FUNCTION protector_internal.set_booking_price()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
	v_discount numeric;
	v_deposit numeric;
	-- (written prices count for requests that may set them: the rest, an
	-- operator's, had theirs judged equal to the old by
	-- restrict_update_columns, and may not keep them so)
	v_written boolean := COALESCE(pg_catalog.current_setting('protector_internal.prices_written', true), '')
						 OPERATOR(pg_catalog.=) NEW.id::text
						 AND (protector_internal.requester_is_trusted()
							  OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.update_any_column')));
BEGIN
	PERFORM pg_catalog.set_config('protector_internal.prices_written', '', true);
	SELECT * INTO s FROM protector.services x
	WHERE x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND x.id OPERATOR(pg_catalog.=) NEW.service_id;
	IF NOT FOUND THEN
		RETURN NEW;			-- the foreign key says what is wrong
	END IF;
	-- another service or party size is priced again, unless the update sets
	-- the prices itself
	IF (NEW.service_id IS DISTINCT FROM OLD.service_id OR NEW.party_size IS DISTINCT FROM OLD.party_size)
	   AND NOT v_written AND NEW.unit_price IS NOT DISTINCT FROM OLD.unit_price
	   AND NEW.total_price IS NOT DISTINCT FROM OLD.total_price THEN
		-- money paid in one currency stays in it (the service's own
		-- currency may have changed since, with the party alone changing;
		-- under REPEATABLE READ a payment recorded since the snapshot, a
		-- pending one too, retries)
		IF s.currency OPERATOR(pg_catalog.<>) OLD.currency THEN
			PERFORM protector_internal.retry_if_ledger_unseen(OLD.id);
		END IF;
		IF s.currency OPERATOR(pg_catalog.<>) OLD.currency AND EXISTS (
				SELECT FROM protector.payments p
				WHERE p.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND p.booking_id OPERATOR(pg_catalog.=) OLD.id) THEN
			IF NEW.service_id OPERATOR(pg_catalog.<>) OLD.service_id THEN
				PERFORM protector.raise('invalid_parameter', 'a booking with payments cannot move to a service in another currency',
					pg_catalog.format('Booking %s is paid in %s; service %s charges in %s.', OLD.id, OLD.currency, s.id, s.currency),
					'Refund it and book the other service instead.');
			END IF;
			PERFORM protector.raise('invalid_parameter', 'a booking with payments cannot be priced again in another currency',
				pg_catalog.format('Booking %s is paid in %s; its service now charges in %s.', OLD.id, OLD.currency, s.currency),
				'Set its unit_price and total_price in the same update: it then keeps its currency.');
		END IF;
		NEW.unit_price := s.price;
		NEW.currency := s.currency;
		NEW.total_price := protector.booking_total(s.price, s.price_per_person, NEW.party_size);
		NEW.discount_amount := 0;
		IF NEW.promo_code_id IS NOT NULL THEN
			-- the code applies again, or the booking loses it (and the code
			-- gets its use back, release_promo_use; a fixed amount in
			-- another currency than the booking's new one applies no more)
			v_discount := protector_internal.promo_discount(NEW.organization_id, NEW.promo_code_id, NEW.service_id,
															NEW.party_size, NEW.total_price, NEW.currency);
			IF v_discount IS NULL THEN
				NEW.promo_code_id := NULL;
			ELSE
				NEW.discount_amount := v_discount;
				NEW.total_price := NEW.total_price OPERATOR(pg_catalog.-) v_discount;
			END IF;
		END IF;
	END IF;
	-- whatever set the new total: a booking not confirmed yet owes the
	-- service's deposit of it (a percentage follows the total, a fixed
	-- amount the service), as one that changes currency does (its old
	-- deposit was in the old one; a fixed amount in the service's currency
	-- says nothing of a total kept in another); a deposit is at most the
	-- total, and one paid by now confirms a booking that waited for it, as
	-- sum_payments() does when it is paid (sync_reminders_update sees the
	-- status change: it fires on the columns that fire this trigger)
	-- (never below nothing: a negative total written directly is refused
	-- under its own rule, bookings_total_price_check, not the deposit's)
	-- (not confirmed before this update, either: a hold moved or resized
	-- and confirmed in one UPDATE was confirmed on its old deposit, none
	-- where the new service asks one; an attack review of money)
	IF NEW.status OPERATOR(pg_catalog.=) ANY ('{held,pending}'::protector.booking_status[])
	   OR OLD.status OPERATOR(pg_catalog.=) ANY ('{held,pending}'::protector.booking_status[])
	   OR NEW.currency IS DISTINCT FROM OLD.currency THEN
		v_deposit := protector_internal.deposit_of(s.settings OPERATOR(pg_catalog.->) 'deposit', NEW.total_price,
												   s.currency OPERATOR(pg_catalog.=) NEW.currency);
		IF v_deposit IS NULL AND NEW.currency IS DISTINCT FROM OLD.currency THEN
			PERFORM protector_internal.refuse_fixed_deposit(s.id, s.currency, NEW.currency,
				pg_catalog.format('Booking %s would go from %s to %s.', OLD.id, OLD.currency, NEW.currency));
		END IF;
		-- (a fixed amount of a service in another currency than the booking
		-- kept says nothing: the deposit stays)
		NEW.deposit_amount := COALESCE(v_deposit, NEW.deposit_amount);
		-- a hold that now owes more than it was paid waits for it once
		-- confirmed, by a deadline, as a new one does (wait_for_deposit
		-- fires on a deadline: without one it was confirmed unpaid), also
		-- when this update confirms it, or makes it pending (sum_payments
		-- confirms a pending booking with a deadline once it is paid)
		IF (NEW.status OPERATOR(pg_catalog.=) 'held'
			OR (OLD.status OPERATOR(pg_catalog.=) 'held'
				AND NEW.status OPERATOR(pg_catalog.=) ANY ('{confirmed,pending}'::protector.booking_status[])))
		   AND NEW.payment_due_by IS NULL AND NEW.deposit_amount OPERATOR(pg_catalog.>) NEW.amount_paid THEN
			NEW.payment_due_by := protector_internal.deposit_due_by(s.settings OPERATOR(pg_catalog.->) 'deposit',
																	pg_catalog.lower(NEW.during));
		END IF;
	END IF;
	NEW.deposit_amount := GREATEST(LEAST(NEW.deposit_amount, NEW.total_price), 0);
	IF NEW.payment_due_by IS NOT NULL AND NEW.amount_paid OPERATOR(pg_catalog.>=) NEW.deposit_amount THEN
		NEW.payment_due_by := NULL;
		IF NEW.status OPERATOR(pg_catalog.=) 'pending' THEN
			NEW.status := 'confirmed';
		END IF;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.set_booking_price() IS
'Trigger: a booking moved to another service or party size is priced again, less its promo code''s discount where the code still applies (unless the update sets its prices); its deposit stays within the total; paid bookings keep their currency';

CREATE OR REPLACE FUNCTION protector_internal.text_is_clean(p_text text)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN p_text IS NULL
		OR (p_text OPERATOR(pg_catalog.!~) E'[\\x01-\\x1f\\x7f-\\x9f\\xad\\u034f\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890\\u0891\\u08e2\\u115f\\u1160\\u17b4\\u17b5\\u180e\\u200b\\u200e\\u200f\\u2028-\\u202e\\u2060-\\u206f\\u2800\\u3164\\ufeff\\uffa0\\ufff9-\\ufffb\\U00013430-\\U0001343f\\U000110bd\\U000110cd\\U0001bca0-\\U0001bca3\\U0001d173-\\U0001d17a\\U000e0000-\\U000e007f]'
			-- zero-width non-joiners and joiners only where a script needs
			-- them: after a character of a joining script (Arabic, Syriac,
			-- Thaana, N'Ko and their kin, Mongolian), an Indic, Sinhala,
			-- Myanmar or Khmer one, or an emoji, also with its variation
			-- selector (ZWJ sequences)
			AND p_text OPERATOR(pg_catalog.!~) E'(?<![\\u0600-\\u08ff\\ufb50-\\ufdff\\ufe70-\\ufeff\\u0900-\\u0dff\\u1000-\\u109f\\u1780-\\u18af\\u2600-\\u27bf\\U0001f000-\\U0001faff])(?<![\\u2600-\\u27bf\\U0001f000-\\U0001faff]\\ufe0f)[\\u200c\\u200d]'
			-- variation selectors (Mongolian ones too) one at a time, each
			-- after a character
			AND p_text OPERATOR(pg_catalog.!~) E'(^|[\\u180b-\\u180d\\u180f\\ufe00-\\ufe0f\\U000e0100-\\U000e01ef])[\\u180b-\\u180d\\u180f\\ufe00-\\ufe0f\\U000e0100-\\U000e01ef]');
END
$$;
COMMENT ON FUNCTION protector_internal.text_is_clean(text) IS
'False when the text holds control characters, invisible bidirectional marks, overrides or isolates, or characters that render as nothing';

CREATE OR REPLACE FUNCTION protector_internal.lines_are_clean(p_text text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN protector_internal.text_is_clean(pg_catalog.translate(p_text, E'\r\n\t', '   '));
COMMENT ON FUNCTION protector_internal.lines_are_clean(text) IS
'text_is_clean for text of several lines: line breaks and tabs allowed (NULL is clean)';
REVOKE ALL ON FUNCTION protector_internal.lines_are_clean(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.lines_are_clean(text) TO authenticated, service_role;

-- embed keys are the database's on insert too
REVOKE INSERT (embed_key) ON protector.venues FROM authenticated;

-- parallel restores (sql/98_restore.sql, as a fresh install has it)
-- sql/95_restore.sql: what keeps a restore exact (docs/operations.md).
--
-- A restore is recognized by row_security = off, which pg_dump's output
-- sets and only roles that bypass RLS can write with: the audit, workflow
-- and live-update triggers leave restored rows alone (they are history,
-- restored with their audit rows, tasks and notifications), and the
-- realtime state is applied again (sql/85_realtime.sql).
--
-- Parallel restores.  pg_restore -j loads the tables' data side by side,
-- each table in its own transaction, and an extension's foreign keys exist
-- before its data arrives (pg_dump orders data by foreign keys only for
-- data-only dumps).  So during a restore a row whose references are not
-- there yet is set aside in restore_pending instead of failing, and after
-- each table's load the rows set aside whose references have arrived are
-- inserted.  These statement triggers take one transaction-level lock, so
-- the last load to finish sees every committed one and leaves nothing
-- behind.  Outside a restore the WHEN clauses keep all this from running.

CREATE TABLE protector_internal.restore_pending (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	relid		regclass NOT NULL,
	row_data	jsonb NOT NULL,
	set_aside_at timestamptz NOT NULL DEFAULT now(),
	-- the table of the first reference missing; NULL for a table outside
	-- protector's schemas (no load of it says when it is there: offered
	-- after every load)
	waiting_for regclass,
	-- set aside again by a later offer, not by its table's load
	reoffered	boolean NOT NULL DEFAULT false,
	-- why finish_restore() did not insert it (a booking that overlaps one
	-- made since the restore): not offered again until the next
	-- finish_restore()
	refused		text
);
CREATE INDEX restore_pending_waiting_idx ON protector_internal.restore_pending (waiting_for);
ALTER TABLE protector_internal.restore_pending ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.restore_pending FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.restore_pending IS
'Rows a parallel restore loaded before what they refer to; empty once the restore is done (docs/operations.md)';
-- Dumped: a backup taken between a restore and its finish_restore() keeps
-- the rows still set aside (they are in no other table; a nightly dump in
-- that window lost them, and a restore of it reported itself complete).
-- Restored into another database, each takes an id of that database's
-- (renumber_restored_pending: the ids of the backup were its sequence's,
-- which rows set aside there meanwhile draw from too), and a WARNING says
-- they wait for finish_restore() (restore_pending_loaded).
SELECT pg_catalog.pg_extension_config_dump('protector_internal.restore_pending', '');

-- A row of restore_pending restored from a backup takes an id of this
-- database's sequence (the backup's would meet the rows set aside here).
CREATE FUNCTION protector_internal.renumber_restored_pending()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NEW.id := pg_catalog.nextval('protector_internal.restore_pending_id_seq'::pg_catalog.regclass);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.renumber_restored_pending() IS
'Trigger (BEFORE INSERT on restore_pending, during restores): a row restored from a backup takes an id of this database''s sequence';
-- (a load's own: the rows protector's triggers set aside, deeper, number
-- themselves)
CREATE TRIGGER renumber_restored_pending BEFORE INSERT ON protector_internal.restore_pending
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() = 0 AND protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.renumber_restored_pending();

-- The rows of an unfinished restore a backup held, restored: a WARNING
-- names them (nothing else says that the restore is not finished): the
-- rows the statement loaded, not those this restore set aside itself.
CREATE FUNCTION protector_internal.restore_pending_loaded()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_waiting text;
BEGIN
	v_waiting := protector_internal.rows_by_table(ARRAY(SELECT r.relid FROM loaded r));
	IF v_waiting IS NOT NULL THEN
		RAISE WARNING 'the backup holds rows of a restore that was not finished (%)', v_waiting
			USING DETAIL = 'They are kept in protector_internal.restore_pending, not in their tables, as they were in the database dumped.',
				  HINT = 'Load what they refer to (auth.users), then run SELECT * FROM protector.finish_restore(); before the database takes bookings.';
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.restore_pending_loaded() IS
'Trigger (AFTER INSERT statement on restore_pending, during restores): a WARNING naming the rows of an unfinished restore a backup held';
CREATE TRIGGER restore_pending_loaded AFTER INSERT ON protector_internal.restore_pending
	REFERENCING NEW TABLE AS loaded
	FOR EACH STATEMENT WHEN (pg_catalog.pg_trigger_depth() = 0 AND protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.restore_pending_loaded();
-- (both also under session_replication_role = replica, which Supabase's
-- data-only recipe sets: its load kept the backup's ids, and said nothing)
ALTER TABLE protector_internal.restore_pending ENABLE ALWAYS TRIGGER renumber_restored_pending;
ALTER TABLE protector_internal.restore_pending ENABLE ALWAYS TRIGGER restore_pending_loaded;


-- After a table's load: insert the rows set aside whose references are
-- there now, until no more can be.
CREATE FUNCTION protector_internal.insert_restored_pending()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.>) 1
	   OR COALESCE(pg_catalog.current_setting('protector_internal.reoffering', true), '') OPERATOR(pg_catalog.=) 'on' THEN
		RETURN NULL;		-- a row inserted from there: the outer loop goes on
	END IF;
	PERFORM protector_internal.offer_restore_pending(TG_RELID::regclass);
	PERFORM protector_internal.warn_restore_waiting();
	IF EXISTS (SELECT FROM protector_internal.realtime_state) THEN
		PERFORM protector_internal.apply_restored_realtime();
	END IF;
	-- the keys to auth.users, where its key came while a load held members
	-- or customers (not from their own load: its COPY keeps the table open)
	IF TG_RELID OPERATOR(pg_catalog.<>) ALL ('{protector.members,protector.customers}'::pg_catalog.regclass[])
	   AND protector_internal.auth_keys_missing() THEN
		PERFORM protector_internal.link_auth_users_now();
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.insert_restored_pending() IS
'Trigger, during restores only: inserts the rows set aside whose references have been loaded meanwhile';

-- One BEFORE INSERT trigger function per table with foreign keys, its
-- checks written out so their plans are kept: a row whose references are
-- missing is set aside (and re-offered by insert_restored_pending).
DO $restore$
DECLARE
	t record;
	v_check text;
	v_name text;
BEGIN
	FOR t IN
		SELECT pg_catalog.format('%I.%I', cn.nspname, cl.relname) AS tbl, cl.relname,
			   pg_catalog.string_agg(pg_catalog.format('(%s OR EXISTS (SELECT FROM %s r WHERE %s))',
					(SELECT pg_catalog.string_agg(pg_catalog.format('NEW.%I IS NULL', a.attname), ' OR ')
					 FROM unnest(c.conkey) k JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k),
					(SELECT pg_catalog.format('%I.%I', n.nspname, r.relname) FROM pg_catalog.pg_class r
					 JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace WHERE r.oid = c.confrelid),
					(SELECT pg_catalog.string_agg(pg_catalog.format('r.%I OPERATOR(pg_catalog.=) NEW.%I', pa.attname, a.attname), ' AND ')
					 FROM unnest(c.conkey, c.confkey) u(fk_att, pk_att)
					 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.fk_att
					 JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = u.pk_att)),
				E'\n\t   AND ' ORDER BY c.conname) AS checks
		FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class cl ON cl.oid = c.conrelid
		JOIN pg_catalog.pg_namespace cn ON cn.oid = cl.relnamespace
		WHERE c.contype = 'f' AND c.confrelid <> c.conrelid
		  AND c.connamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
		GROUP BY cn.nspname, cl.relname
		ORDER BY cl.relname
	LOOP
		v_name := 'restore_order_' || t.relname;
		EXECUTE pg_catalog.format($f$
			CREATE FUNCTION protector_internal.%I() RETURNS trigger
			LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
			AS $body$
			BEGIN
				IF %s THEN
					RETURN NEW;
				END IF;
				INSERT INTO protector_internal.restore_pending (relid, row_data)
				VALUES (TG_RELID, pg_catalog.to_jsonb(NEW));
				RETURN NULL;
			END
			$body$$f$, v_name, t.checks);
		EXECUTE pg_catalog.format('COMMENT ON FUNCTION protector_internal.%I() IS %L', v_name,
			'Trigger, during restores only: sets a ' || t.relname || ' row aside until what it refers to is loaded');
		-- "a_" fires before every other BEFORE INSERT trigger of the table
		EXECUTE pg_catalog.format('CREATE TRIGGER a_restore_order BEFORE INSERT ON %s FOR EACH ROW'
			' WHEN (protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.%I()', t.tbl, v_name);
	END LOOP;
	FOR t IN
		SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS tbl FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname IN ('protector', 'protector_internal')
		  AND c.relname <> 'restore_pending'
		ORDER BY n.nspname, c.relname
	LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER z_insert_restored_pending AFTER INSERT ON %s FOR EACH STATEMENT'
			' WHEN (protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.insert_restored_pending()', t.tbl);
	END LOOP;
END
$restore$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;

-- Cancellation fees ------------------------------------------------------------
-- tiered cancellation fees and no-show fees (docs/payments.md), money
-- rounded half to even by round_money
CREATE OR REPLACE FUNCTION protector.round_money(p_amount numeric)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
-- (PL/pgSQL: a SQL function with a SET clause is planned again in every
-- transaction; see booking_total())
DECLARE
	x numeric := p_amount OPERATOR(pg_catalog.*) 100;
BEGIN
	IF p_amount OPERATOR(pg_catalog.=) ANY ('{NaN,Infinity,-Infinity}'::numeric[]) THEN
		PERFORM protector.raise('invalid_parameter', 'an amount of money is a finite number',
			pg_catalog.format('Got %s.', p_amount));
	END IF;
	-- (times 0.01, not divided by 100: a division's scale shrinks with the
	-- dividend's digits, and 99999999999999999999.125 came back .00)
	RETURN pg_catalog.round(
		CASE WHEN pg_catalog.abs(x OPERATOR(pg_catalog.-) pg_catalog.trunc(x)) OPERATOR(pg_catalog.=) 0.5
			 THEN (pg_catalog.trunc(x) OPERATOR(pg_catalog.+)
				   CASE WHEN pg_catalog.mod(pg_catalog.trunc(x), 2) OPERATOR(pg_catalog.<>) 0 THEN pg_catalog.sign(x) ELSE 0 END)
				  OPERATOR(pg_catalog.*) 0.01
			 ELSE p_amount END, 2);
END
$$;
COMMENT ON FUNCTION protector.round_money(numeric) IS
'Rounds an amount to cents, half to even';

REVOKE ALL ON FUNCTION protector.round_money(numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector.round_money(numeric) TO authenticated, service_role;

-- (before the triggers that ask it)
CREATE FUNCTION protector_internal.lock_promo_code(p_organization_id uuid, p_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.lock_row('protector.promo_codes', x.id, 'promo code')
	FROM protector.promo_codes x
	WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.id OPERATOR(pg_catalog.=) p_id;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_promo_code(uuid, uuid) IS
'Internal: locks the organization''s promo code p_id, if there is one (protector.lock_timeout)';

CREATE OR REPLACE FUNCTION protector_internal.refund_on_cancel()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_settings jsonb;
	v_hours_left numeric := pg_catalog.date_part('epoch', pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.-) pg_catalog.now())
							OPERATOR(pg_catalog./) 3600;
	v_fee_percent numeric;
	v_tiers jsonb;				-- the cancellation fee tiers protector can read
	v_full_hours numeric;
	v_percent numeric;
	v_paid numeric;
	v_fee numeric;
	v_refund numeric := 0;
	v_to_vouchers numeric := 0;
	v_paid_all numeric;
	v_refunded numeric;
	v_before numeric;	-- what an earlier cancellation's terms gave back
	v_shown_percent numeric;
BEGIN
	-- (staff's choice, or a trusted caller's: refund_skipped)
	IF protector_internal.refund_skipped(NEW.organization_id) THEN
		-- nothing refunded by choice, now and for money arriving later
		DELETE FROM protector_internal.cancellation_terms t
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND t.booking_id OPERATOR(pg_catalog.=) NEW.id;
		NEW.details := NEW.details OPERATOR(pg_catalog.-) 'refund'::text;
		RETURN NEW;
	END IF;
	SELECT s.settings INTO v_settings FROM protector.services s WHERE s.id OPERATOR(pg_catalog.=) NEW.service_id;
	-- (the ledger as it is: a refund that failed, or a payment deleted,
	-- after this transaction's snapshot changes what comes back, and a
	-- refund of nothing records no row that would notice: 40001)
	PERFORM protector_internal.retry_if_ledger_unseen(NEW.id);
	SELECT l.paid, l.refunded INTO v_paid_all, v_refunded
	FROM protector_internal.booking_refundable(NEW.organization_id, NEW.id) l;
	v_paid := GREATEST(v_paid_all OPERATOR(pg_catalog.-) v_refunded, 0);
	-- a booking cancelled before and un-cancelled since (service_role) is
	-- settled once in all: what those terms gave back counts
	SELECT t.refunded_by_terms INTO v_before FROM protector_internal.cancellation_terms t
	WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND t.booking_id OPERATOR(pg_catalog.=) NEW.id;
	v_before := COALESCE(v_before, 0);

	-- (a list without a tier protector can read, empty or written before
	-- settings were checked, is no fees: the refund policy's rule, not
	-- free cancellation)
	v_tiers := (SELECT pg_catalog.jsonb_agg(t)
				FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(v_settings -> 'cancellation_fees')
															   OPERATOR(pg_catalog.=) 'array'
														  THEN v_settings -> 'cancellation_fees' END) t
				WHERE pg_catalog.jsonb_typeof(t -> 'within_hours') OPERATOR(pg_catalog.=) 'number'
				  AND pg_catalog.jsonb_typeof(t -> 'fee_percent') OPERATOR(pg_catalog.=) 'number');

	-- a booking never confirmed keeps no fee: a hold, a request waiting for
	-- the desk, one waiting for its deposit (expire_holds cancels those)
	IF OLD.status OPERATOR(pg_catalog.=) ANY ('{held,pending}'::protector.booking_status[]) THEN
		v_fee_percent := 0;
	ELSIF NEW.status OPERATOR(pg_catalog.=) 'no_show' THEN
		v_fee_percent := CASE WHEN pg_catalog.jsonb_typeof(v_settings -> 'no_show_fee_percent') OPERATOR(pg_catalog.=) 'number'
							  THEN (v_settings ->> 'no_show_fee_percent')::numeric ELSE 100 END;
	ELSIF v_tiers IS NOT NULL THEN
		SELECT COALESCE((SELECT (t ->> 'fee_percent')::numeric
						 FROM pg_catalog.jsonb_array_elements(v_tiers) t
						 WHERE v_hours_left OPERATOR(pg_catalog.<) (t ->> 'within_hours')::numeric
						 -- (tiers of one window, stored before they were
						 -- refused: the highest fee, whatever their order)
						 ORDER BY (t ->> 'within_hours')::numeric, (t ->> 'fee_percent')::numeric DESC LIMIT 1), 0)
		INTO v_fee_percent;
		-- a confirmed booking cancelled once it has started: the guest did
		-- not come, and costs what a no-show costs if that is more (a
		-- customer's own cancellation after the hour took the smallest
		-- tier's fee); one under way, whose guests came, keeps its tier
		IF v_hours_left OPERATOR(pg_catalog.<=) 0 AND OLD.status OPERATOR(pg_catalog.=) 'confirmed' THEN
			v_fee_percent := GREATEST(v_fee_percent,
				CASE WHEN pg_catalog.jsonb_typeof(v_settings -> 'no_show_fee_percent') OPERATOR(pg_catalog.=) 'number'
					 THEN (v_settings ->> 'no_show_fee_percent')::numeric ELSE 100 END);
		END IF;
	END IF;

	IF v_fee_percent IS NOT NULL THEN
		v_fee_percent := LEAST(GREATEST(v_fee_percent, 0), 100);
		v_fee := protector.round_money(NEW.total_price OPERATOR(pg_catalog.*) v_fee_percent OPERATOR(pg_catalog./) 100);
		v_refund := GREATEST(v_paid OPERATOR(pg_catalog.-) v_fee, 0);
		-- the refund as a share of what was paid, as the older policy's
		-- percent is (nothing paid: 0)
		v_percent := CASE WHEN v_paid OPERATOR(pg_catalog.>) 0
						  THEN pg_catalog.round(v_refund OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) v_paid, 2)
						  ELSE 0 END;
	ELSE
		-- the older policy: a percentage of what was paid
		v_full_hours := protector_internal.setting_number(v_settings #> '{refund_policy,full_refund_hours}', 24, 0, 8760);
		v_percent := CASE WHEN v_hours_left OPERATOR(pg_catalog.>=) v_full_hours THEN 100
						  WHEN v_hours_left OPERATOR(pg_catalog.>) 0
						  THEN protector_internal.setting_number(v_settings #> '{refund_policy,late_refund_percent}', 0, 0, 100)
						  ELSE 0 END;
		-- the percent of what was paid beyond the refunds no terms made,
		-- less what earlier terms gave back (the first time: of what was
		-- paid less every refund)
		v_refund := LEAST(v_paid, GREATEST(protector.round_money(
			(v_paid_all OPERATOR(pg_catalog.-) GREATEST(v_refunded OPERATOR(pg_catalog.-) v_before, 0))
			OPERATOR(pg_catalog.*) v_percent OPERATOR(pg_catalog./) 100) OPERATOR(pg_catalog.-) v_before, 0));
		v_fee := NULL;
	END IF;
	-- what is reported: the refund as a share of what was paid, to two
	-- decimals, under either rule (nothing paid: 0); the terms keep the
	-- policy's own percent for money arriving later
	v_shown_percent := CASE WHEN v_paid OPERATOR(pg_catalog.>) 0
							THEN pg_catalog.round(v_refund OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) v_paid, 2)
							ELSE 0 END;
	-- (the terms first: check_payment holds the refund rows below, and a
	-- cancellation's again, to what they keep)
	INSERT INTO protector_internal.cancellation_terms AS t (organization_id, booking_id, fee, refund_percent, refunded_by_terms, kept)
	VALUES (NEW.organization_id, NEW.id, v_fee, CASE WHEN v_fee IS NULL THEN v_percent END, v_before OPERATOR(pg_catalog.+) v_refund,
			CASE WHEN v_fee IS NULL THEN v_paid OPERATOR(pg_catalog.-) v_refund END)
	ON CONFLICT (organization_id, booking_id) DO UPDATE
	SET fee = EXCLUDED.fee, refund_percent = EXCLUDED.refund_percent, refunded_by_terms = EXCLUDED.refunded_by_terms,
		kept = EXCLUDED.kept, late_paid = 0;
	-- vouchers first: what they paid and were not given back, to those
	-- that can still be spent (given back to an expired one, it could never
	-- be used: that part is the pending refund's, for the desk to pay out)
	-- (reckoned with them locked, as they are given back: one made to
	-- expire while this waited was counted live, took nothing, and the
	-- cancellation said it had; the promo code locked before them, the
	-- order of a new booking with the code paid by a voucher, whose use
	-- release_promo_use gives back after this)
	IF OLD.promo_code_id IS NOT NULL AND OLD.status OPERATOR(pg_catalog.<>) 'cancelled'
	   AND NEW.status OPERATOR(pg_catalog.=) 'cancelled' THEN	-- (a no-show keeps the code's use)
		PERFORM protector_internal.lock_promo_code(OLD.organization_id, OLD.promo_code_id);
	END IF;
	PERFORM protector_internal.lock_booking_vouchers(NEW.organization_id, NEW.id);
	v_to_vouchers := LEAST(v_refund, protector_internal.live_voucher_paid(NEW.organization_id, NEW.id));
	IF v_refund OPERATOR(pg_catalog.>) v_to_vouchers THEN
		INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status, details)
		VALUES (NEW.organization_id, NEW.id, 'refund', v_refund OPERATOR(pg_catalog.-) v_to_vouchers, NEW.currency, 'pending',
				pg_catalog.jsonb_build_object('reason', NEW.status, 'fee', v_fee, 'refund_percent', v_shown_percent));
	END IF;
	NEW.details := NEW.details OPERATOR(pg_catalog.||)
		pg_catalog.jsonb_build_object('refund', pg_catalog.jsonb_build_object(
			'amount', v_refund, 'percent', v_shown_percent, 'fee', v_fee, 'to_vouchers', v_to_vouchers));
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.refund_on_cancel() IS
'Trigger: a cancelled or no-show booking keeps its service''s fee of what was paid and gets the rest as a pending refund (protector.refund_on_cancel)';

CREATE OR REPLACE FUNCTION protector.cancel_booking(p_booking_id uuid, p_reason text DEFAULT NULL,
										 p_issue_refund boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_refunds boolean := protector_internal.refunds_on_cancel();
BEGIN
	PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'bookings.cancel', 'booking', true, true);
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	IF pg_catalog.length(p_reason) > 2000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_reason must be at most 2000 characters');
	END IF;
	-- (shown to staff as written: line breaks and tabs, as in a message,
	-- but no control or invisible direction characters)
	IF NOT protector_internal.lines_are_clean(p_reason) THEN
		PERFORM protector.raise('invalid_parameter', 'p_reason holds control or invisible direction characters');
	END IF;
	IF v_booking.status OPERATOR(pg_catalog.=) 'cancelled' THEN
		-- a retried cancellation: no second refund
		RETURN protector_internal.booking_shape(v_booking) OPERATOR(pg_catalog.||)
			'{"already_cancelled": true, "refund_amount": 0.00, "refund_percent": 0.00, "refund_to_vouchers": 0.00, "cancellation_fee": null}'::jsonb;
	END IF;
	IF v_booking.status OPERATOR(pg_catalog.=) ANY ('{completed,no_show}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a %s booking cannot be cancelled', v_booking.status));
	END IF;
	-- the refund is the trigger refund_on_cancel's, by the service's policy
	PERFORM pg_catalog.set_config('protector.refund_on_cancel',
								  CASE WHEN p_issue_refund IS NOT FALSE THEN 'on' ELSE 'off' END, true);
	UPDATE protector.bookings b
	SET status = 'cancelled', cancelled_at = pg_catalog.now(), cancellation_reason = p_reason
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;
	PERFORM pg_catalog.set_config('protector.refund_on_cancel', CASE WHEN v_refunds THEN 'on' ELSE 'off' END, true);
	-- as the triggers after the update left it (vouchers given back)
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	-- (amounts with two decimals, as the booking's own: nothing paid was 0,
	-- a full fee 0.00)
	RETURN protector_internal.booking_shape(v_booking) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
		'already_cancelled', false,
		'refund_amount', pg_catalog.round(COALESCE((v_booking.details #>> '{refund,amount}')::numeric, 0), 2),
		'refund_percent', pg_catalog.round(COALESCE((v_booking.details #>> '{refund,percent}')::numeric, 0), 2),
		'refund_to_vouchers', pg_catalog.round(COALESCE((v_booking.details #>> '{refund,to_vouchers}')::numeric, 0), 2),
		'cancellation_fee', pg_catalog.round((v_booking.details #>> '{refund,fee}')::numeric, 2));
END
$$;
COMMENT ON FUNCTION protector.cancel_booking(uuid, text, boolean) IS
'Cancels a booking, frees its slot, keeps the service''s cancellation fee and records the rest of what was paid as a refund; a repeated cancel refunds nothing more';

DROP TRIGGER settle_cancellation ON protector.bookings;
CREATE TRIGGER settle_cancellation BEFORE UPDATE OF status ON protector.bookings
	FOR EACH ROW WHEN (NEW.status IN ('cancelled', 'no_show') AND OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION protector_internal.refund_on_cancel();

-- Deposits -------------------------------------------------------------------
-- a service's settings.deposit makes new bookings owe it by a deadline;
-- they stay pending until paid and the sweep cancels unpaid ones
ALTER TABLE protector.bookings
	ADD COLUMN deposit_amount numeric(12, 2) NOT NULL DEFAULT 0 CHECK (deposit_amount >= 0),
	ADD COLUMN payment_due_by timestamptz;
CREATE INDEX bookings_unpaid_deposits_idx ON protector.bookings (payment_due_by) WHERE status = 'pending' AND payment_due_by IS NOT NULL;

CREATE OR REPLACE FUNCTION protector_internal.require_deposit()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_deposit jsonb;
	v_currency text;
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
		NEW.status := 'pending';
		RETURN NEW;
	END IF;
	SELECT s.settings -> 'deposit', s.currency INTO v_deposit, v_currency FROM protector.services s
	WHERE s.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND s.id OPERATOR(pg_catalog.=) NEW.service_id;
	-- (a fixed amount is in the service's currency: a booking written in
	-- another owed "30" of its own, and 30 JPY confirmed a 7000 JPY booking)
	NEW.deposit_amount := protector_internal.deposit_of(v_deposit, NEW.total_price, v_currency OPERATOR(pg_catalog.=) NEW.currency);
	IF NEW.deposit_amount IS NULL THEN
		PERFORM protector_internal.refuse_fixed_deposit(NEW.service_id, v_currency, NEW.currency,
			pg_catalog.format('The booking is written in %s.', NEW.currency));
	END IF;
	NEW.payment_due_by := NULL;
	-- only a booking that would be confirmed waits for its deposit (and is
	-- confirmed by it): one pending from the start, a customer's, waits for
	-- staff, whom its payment must not stand in for
	IF NEW.deposit_amount OPERATOR(pg_catalog.>) NEW.amount_paid
	   AND NEW.status OPERATOR(pg_catalog.=) ANY ('{held,confirmed}'::protector.booking_status[]) THEN
		NEW.payment_due_by := protector_internal.deposit_due_by(v_deposit, pg_catalog.lower(NEW.during));
		IF NEW.status OPERATOR(pg_catalog.=) 'confirmed' THEN
			NEW.status := 'pending';
		END IF;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.require_deposit() IS
'Trigger: a new booking owes its service''s deposit by a deadline and stays pending until it is paid';

REVOKE ALL ON FUNCTION protector_internal.require_deposit() FROM PUBLIC;

-- named to run after guard_booking_write, which prices direct inserts
CREATE TRIGGER require_deposit BEFORE INSERT ON protector.bookings
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.require_deposit();
-- (named to run after restrict_update_columns, which judges the caller's
-- confirmation, not this trigger's answer to it)
CREATE TRIGGER wait_for_deposit BEFORE UPDATE OF status ON protector.bookings
	FOR EACH ROW WHEN (OLD.status = 'held' AND NEW.status = 'confirmed' AND NEW.payment_due_by IS NOT NULL
					   AND NEW.amount_paid < NEW.deposit_amount)
	EXECUTE FUNCTION protector_internal.require_deposit();

-- operators confirm holds: confirm_booking clears hold_expires_at, which
-- their column list did not include (bookings.confirm said yes, the guard no)
DROP TRIGGER restrict_update_columns ON protector.bookings;
CREATE TRIGGER restrict_update_columns BEFORE UPDATE ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.restrict_update_columns(
		'bookings.update_any_column',
		'{status,hold_expires_at,assigned_agent,details,cancellation_reason,cancelled_at}',
		'bookings.reschedule',
		'{during,service_id,venue_id}',
		'{status,hold_expires_at,cancellation_reason,cancelled_at}');

-- Gift vouchers and promo codes (issue 12) ------------------------------------

ALTER TABLE protector.bookings
	ADD COLUMN discount_amount numeric(12, 2) NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
	ADD COLUMN promo_code_id uuid;
ALTER TABLE protector.payments ADD COLUMN voucher_id uuid;

CREATE OR REPLACE FUNCTION protector_internal.voucher_paid(p_organization_id uuid, p_booking_id uuid,
												p_voucher_id uuid DEFAULT NULL, p_except uuid DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount
											   ELSE OPERATOR(pg_catalog.-) p.amount END), 0)
			FROM protector.payments p
			WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id AND p.booking_id OPERATOR(pg_catalog.=) p_booking_id
			  AND p.voucher_id IS NOT NULL AND p.status OPERATOR(pg_catalog.=) 'succeeded'
			  AND (p_voucher_id IS NULL OR p.voucher_id OPERATOR(pg_catalog.=) p_voucher_id)
			  AND (p_except IS NULL OR p.id OPERATOR(pg_catalog.<>) p_except));
END
$$;
COMMENT ON FUNCTION protector_internal.voucher_paid(uuid, uuid, uuid, uuid) IS
'What vouchers (or one voucher) paid for a booking and were not given back, leaving out row p_except';

-- argument checks shared by the money RPCs (sql/77_payments.sql)
CREATE OR REPLACE FUNCTION protector_internal.check_money(p_amount numeric, p_parameter text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_amount IS NULL OR p_amount OPERATOR(pg_catalog.<=) 0 OR p_amount OPERATOR(pg_catalog.>=) 10000000000
	   OR p_amount OPERATOR(pg_catalog.<>) pg_catalog.round(p_amount, 2) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be a positive amount in cents', p_parameter),
			pg_catalog.format('Got %s.', COALESCE(p_amount::text, 'NULL')),
			CASE WHEN p_amount OPERATOR(pg_catalog.<) 0
				 THEN 'Amounts are positive with at most two decimals; money paid back is a positive amount of kind refund.'
				 ELSE 'Amounts are positive, below 10000000000, with at most two decimals.' END);
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_money(numeric, text) IS
'Refuses an amount that is not positive, in cents and below 10^10 (22023 naming the parameter)';

CREATE OR REPLACE FUNCTION protector_internal.check_currency(p_currency text, p_parameter text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_currency IS NOT NULL AND p_currency OPERATOR(pg_catalog.!~) '^[A-Z]{3}$' THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be an ISO 4217 code', p_parameter),
			pg_catalog.format('Got "%s".', protector_internal.quoted_text(p_currency, 20)), 'Use three upper-case letters, e.g. "EUR".');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_currency(text, text) IS
'Refuses a currency that is not three upper-case letters (22023 naming the parameter); NULL passes';

GRANT EXECUTE ON FUNCTION
	protector_internal.check_money(numeric, text),
	protector_internal.check_currency(text, text)
TO authenticated, service_role;
-- sql/78_vouchers.sql: gift vouchers and promo codes (docs/payments.md).
--
-- A gift voucher is money an organization holds for someone: an amount in
-- a currency, spent by payments of the organization's bookings
-- (payments.voucher_id) until it is used up or expires.  Its balance is
-- the ledger's: amount less its succeeded payments plus its succeeded
-- refunds.  A cancelled booking gives back to its vouchers first
-- (refund_on_cancel, sql/75_bookings_api.sql).
--
-- A promo code is a discount, a percentage of the booking's price or a
-- fixed amount, with a validity window, a total and a per-customer limit
-- of uses, the services it applies to and a minimum party.  A booking
-- made with its code (create_booking passes it to the insert trigger in
-- the transaction-local setting protector.promo_code) is checked and
-- discounted as it is inserted; a cancelled booking gives its use back.
--
-- Codes are generated and checksummed like embed keys (src/embed_key.c:
-- "gift_..." and "promo_..."): a mistyped code is refused as "not a valid
-- code" before any look-up.  Knowing a code is what lets a visitor or a
-- customer use it; staff see codes by the capability map.
--
-- Race-free: a redemption locks its voucher or promo code row (FOR
-- UPDATE) before it reads the balance or the uses, and then writes that
-- row, so concurrent redemptions of one code wait for each other (READ
-- COMMITTED re-reads the row once the lock is granted) or fail with a
-- serialization error to be retried (REPEATABLE READ, SERIALIZABLE).

CREATE TABLE protector.vouchers (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	code			text COLLATE "C" NOT NULL UNIQUE DEFAULT protector.generate_embed_key('gift')
					CHECK (starts_with(code, 'gift_') AND protector.embed_key_is_well_formed(code)),
	-- whose voucher it is (they see it); NULL: whoever holds the code
	customer_id		uuid,
	-- NULL on insert: the organization's
	currency		text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	amount			numeric(12, 2) NOT NULL CHECK (amount > 0),
	-- the ledger's: amount - succeeded payments + succeeded refunds
	balance			numeric(12, 2) NOT NULL DEFAULT 0 CHECK (balance >= 0 AND balance <= amount),
	expires_at		timestamptz,
	note			text CHECK (length(note) <= 2000),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, customer_id)
		REFERENCES protector.customers (organization_id, id) ON DELETE SET NULL (customer_id)
);
CREATE INDEX vouchers_customer_idx ON protector.vouchers (organization_id, customer_id);
COMMENT ON TABLE protector.vouchers IS
'Gift vouchers: an amount in a currency, spent by payments of the organization''s bookings until used up or expired';

CREATE TABLE protector.promo_codes (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	code			text COLLATE "C" NOT NULL UNIQUE DEFAULT protector.generate_embed_key('promo')
					CHECK (starts_with(code, 'promo_') AND protector.embed_key_is_well_formed(code)),
	description		text CHECK (length(description) <= 2000),
	discount_kind	text NOT NULL CHECK (discount_kind IN ('percent', 'fixed')),
	discount_value	numeric(12, 2) NOT NULL
					CHECK (discount_value > 0 AND (discount_kind = 'fixed' OR discount_value <= 100)),
	-- of a fixed discount; NULL on insert: the organization's
	currency		text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	valid_from		timestamptz,
	valid_until		timestamptz,
	max_uses		integer CHECK (max_uses > 0),
	max_uses_per_customer integer CHECK (max_uses_per_customer > 0),
	-- NULL: every service of the organization
	service_ids		uuid[] CHECK (cardinality(service_ids) BETWEEN 1 AND 1000
								  AND array_position(service_ids, NULL) IS NULL),
	min_party_size	integer NOT NULL DEFAULT 1 CHECK (min_party_size BETWEEN 1 AND 100000),
	active			boolean NOT NULL DEFAULT true,
	-- bookings using it that are not cancelled
	times_used		integer NOT NULL DEFAULT 0 CHECK (times_used >= 0),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	CHECK (valid_until > valid_from),
	UNIQUE (organization_id, id)
);
COMMENT ON TABLE protector.promo_codes IS
'Promo codes: a percent or fixed discount with a validity window, use limits, services and a minimum party';

ALTER TABLE protector.bookings ADD CONSTRAINT bookings_promo_code_fkey
	FOREIGN KEY (organization_id, promo_code_id) REFERENCES protector.promo_codes (organization_id, id);
-- (partial: a booking without a promo code is never looked up by one)
CREATE INDEX bookings_promo_code_idx ON protector.bookings (organization_id, promo_code_id, customer_id)
	WHERE promo_code_id IS NOT NULL;
ALTER TABLE protector.payments ADD CONSTRAINT payments_voucher_fkey
	FOREIGN KEY (organization_id, voucher_id) REFERENCES protector.vouchers (organization_id, id);
CREATE INDEX payments_voucher_idx ON protector.payments (organization_id, voucher_id);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.vouchers
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.promo_codes
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
CREATE TRIGGER default_currency BEFORE INSERT ON protector.vouchers
	FOR EACH ROW WHEN (NEW.currency IS NULL) EXECUTE FUNCTION protector_internal.default_currency();
CREATE TRIGGER default_currency BEFORE INSERT ON protector.promo_codes
	FOR EACH ROW WHEN (NEW.currency IS NULL) EXECUTE FUNCTION protector_internal.default_currency();
ALTER TABLE protector.vouchers ENABLE ALWAYS TRIGGER default_currency;
ALTER TABLE protector.promo_codes ENABLE ALWAYS TRIGGER default_currency;

-- who sees and changes them: the capability map; a customer also sees
-- the vouchers that are theirs
ALTER TABLE protector.vouchers ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.vouchers FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.promo_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.promo_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY vouchers_select ON protector.vouchers FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('vouchers.read'))::uuid[])
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[]));
CREATE POLICY vouchers_insert ON protector.vouchers FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('vouchers.manage'))::uuid[]));
CREATE POLICY vouchers_update ON protector.vouchers FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('vouchers.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('vouchers.manage'))::uuid[]));
CREATE POLICY vouchers_delete ON protector.vouchers FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('vouchers.manage'))::uuid[]));
CREATE POLICY promo_codes_select ON protector.promo_codes FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('promo_codes.read'))::uuid[]));
CREATE POLICY promo_codes_insert ON protector.promo_codes FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('promo_codes.manage'))::uuid[]));
CREATE POLICY promo_codes_update ON protector.promo_codes FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('promo_codes.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('promo_codes.manage'))::uuid[]));
CREATE POLICY promo_codes_delete ON protector.promo_codes FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('promo_codes.manage'))::uuid[]));
SELECT pg_catalog.pg_extension_config_dump('protector.vouchers', '');
SELECT pg_catalog.pg_extension_config_dump('protector.promo_codes', '');

-- codes ---------------------------------------------------------------------

-- A code's shape, checked offline: "not a valid code" for a typo, before
-- anything is looked up.  NULL passes (no code given).
CREATE OR REPLACE FUNCTION protector_internal.check_code(p_code text, p_prefix text, p_parameter text)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_check_code'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.check_code(text, text, text) IS
'Refuses a code that is not a well-formed "<prefix>_..." code (22023, "<parameter> is not a valid code"), before any look-up';

-- The promo code of an organization with this code; knowing the code is
-- what lets its holder use it.
CREATE FUNCTION protector_internal.promo_code_for(p_organization_id uuid, p_code text)
RETURNS uuid
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id uuid;
BEGIN
	PERFORM protector_internal.check_code(p_code, 'promo', 'p_promo_code');
	SELECT p.id INTO v_id FROM protector.promo_codes p
	WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id AND p.code OPERATOR(pg_catalog.=) p_code;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'promo code not found', 'No promo code of this organization has this code.');
	END IF;
	RETURN v_id;
END
$$;
COMMENT ON FUNCTION protector_internal.promo_code_for(uuid, text) IS
'The id of the organization''s promo code with this code ("not a valid code" for a typo, "promo code not found")';

-- The voucher of an organization with this code, locked: what its holder
-- may know of it.
CREATE FUNCTION protector_internal.voucher_for(p_organization_id uuid, p_code text,
											   OUT id uuid, OUT currency text, OUT balance numeric,
											   OUT expires_at timestamptz)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.check_code(p_code, 'gift', 'p_voucher_code');
	-- (locked first, waiting at most protector.lock_timeout, as a promo
	-- code is)
	PERFORM protector_internal.lock_row('protector.vouchers', v.id, 'voucher')
	FROM protector.vouchers v
	WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id AND v.code OPERATOR(pg_catalog.=) p_code;
	SELECT v.id, v.currency, v.balance, v.expires_at INTO id, currency, balance, expires_at
	FROM protector.vouchers v
	WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id AND v.code OPERATOR(pg_catalog.=) p_code
	FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'voucher not found', 'No voucher of this organization has this code.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.voucher_for(uuid, text) IS
'The organization''s voucher with this code, locked for update: id, currency, balance, expiry';

-- vouchers ------------------------------------------------------------------

-- What has been spent of a voucher: its succeeded payments less its
-- succeeded refunds (leaving out row p_except).
CREATE OR REPLACE FUNCTION protector_internal.voucher_spent(p_organization_id uuid, p_voucher_id uuid, p_except uuid DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount
											   ELSE OPERATOR(pg_catalog.-) p.amount END), 0)
			FROM protector.payments p
			WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id AND p.voucher_id OPERATOR(pg_catalog.=) p_voucher_id
			  AND p.status OPERATOR(pg_catalog.=) 'succeeded'
			  AND (p_except IS NULL OR p.id OPERATOR(pg_catalog.<>) p_except));
END
$$;
COMMENT ON FUNCTION protector_internal.voucher_spent(uuid, uuid, uuid) IS
'What has been spent of a voucher: succeeded payments less succeeded refunds';

-- A voucher's balance is its amount less what was spent of it: set on
-- insert, and again when its amount changes (never below what was spent).
CREATE FUNCTION protector_internal.voucher_balance()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_spent numeric := 0;
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
		v_spent := protector_internal.voucher_spent(NEW.organization_id, NEW.id);
		-- (lowered under payments a restore set aside, which are not spent
		-- yet: finish_restore() then stored more spent than its amount)
		IF NEW.amount OPERATOR(pg_catalog.<) OLD.amount THEN
			PERFORM protector_internal.refuse_unfinished_restore(NEW.organization_id,
				'Payments of this voucher it set aside (protector_internal.restore_pending) are not in what was spent of it yet.',
				'protector.payments', 'voucher_id', NEW.id);
		END IF;
	END IF;
	IF NEW.amount OPERATOR(pg_catalog.<) v_spent THEN
		PERFORM protector.raise('invalid_parameter', 'a voucher''s amount cannot be less than what was spent of it',
			pg_catalog.format('%s %s of voucher %s has been spent.', v_spent, NEW.currency, NEW.id));
	END IF;
	NEW.balance := NEW.amount OPERATOR(pg_catalog.-) v_spent;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.voucher_balance() IS
'Trigger: a voucher''s balance is its amount less what was spent of it';

CREATE TRIGGER voucher_balance BEFORE INSERT OR UPDATE OF amount, balance ON protector.vouchers
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.voucher_balance();

-- (protector_internal.keep_paid_currency(), sql/77_payments.sql)
CREATE TRIGGER keep_paid_currency BEFORE UPDATE OF currency ON protector.vouchers
	FOR EACH ROW WHEN (NEW.currency IS DISTINCT FROM OLD.currency AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_paid_currency();

-- Before a payment from or to a voucher: lock its booking (check_payment
-- or lock_payment_booking has locked it already for every writer that may
-- set voucher_id; locked here too, so that this holds whatever fires
-- before), then the voucher, and refuse another currency, a status
-- other than succeeded, and
--   a payment: from an expired voucher, beyond its balance, or beyond
--     what the booking still owes;
--   a refund: beyond what the voucher paid for this booking.
CREATE OR REPLACE FUNCTION protector_internal.check_voucher_payment()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.vouchers;
	v_left numeric;
	v_due numeric;
BEGIN
	-- (no side channel: only owners and service_role may write voucher_id)
	PERFORM FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id
	FOR UPDATE;
	SELECT * INTO v FROM protector.vouchers x
	WHERE x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND x.id OPERATOR(pg_catalog.=) NEW.voucher_id
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NEW;			-- the foreign key says what is wrong
	END IF;
	IF NEW.currency OPERATOR(pg_catalog.<>) v.currency THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a voucher in %s for a booking in %s', v.currency, NEW.currency),
			'A voucher pays bookings in its own currency.');
	END IF;
	IF NEW.status OPERATOR(pg_catalog.<>) 'succeeded' THEN
		PERFORM protector.raise('invalid_parameter', 'a voucher pays and is paid back at once',
			pg_catalog.format('Payments and refunds of a voucher are recorded as succeeded, not %s.', NEW.status));
	END IF;
	IF NEW.kind OPERATOR(pg_catalog.=) 'payment' THEN
		-- only a live booking (as pay_with_voucher asks): a voucher's money
		-- on a cancelled one would be kept, no refund going back to it; so
		-- is a payment raised, moved or made one (an owner drained a
		-- voucher into a cancelled booking); lowered, it gives money back
		IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.amount OPERATOR(pg_catalog.>) OLD.amount
			OR (OLD.kind, OLD.booking_id, OLD.voucher_id, OLD.status) IS DISTINCT FROM (NEW.kind, NEW.booking_id, NEW.voucher_id, NEW.status))
		   AND EXISTS (
				SELECT FROM protector.bookings b
				WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id
				  AND b.status OPERATOR(pg_catalog.<>) ALL ('{held,pending,confirmed}'::protector.booking_status[])) THEN
			PERFORM protector.raise('invalid_parameter', 'a voucher pays only a held, pending or confirmed booking');
		END IF;
		IF protector_internal.voucher_expired(v.expires_at) THEN
			PERFORM protector.raise('invalid_parameter', 'this voucher has expired',
				pg_catalog.format('It expired at %s.', protector_internal.iso_text(v.expires_at)));
		END IF;
		-- (the ledger without payments a restore set aside would pay them again)
		PERFORM protector_internal.refuse_unfinished_restore(NEW.organization_id,
			'Payments of this voucher it set aside (protector_internal.restore_pending) are not in its balance yet.',
			'protector.payments', 'voucher_id', v.id);
		v_left := v.amount OPERATOR(pg_catalog.-) protector_internal.voucher_spent(NEW.organization_id, v.id, NEW.id);
		IF NEW.amount OPERATOR(pg_catalog.>) v_left THEN
			PERFORM protector.raise('invalid_parameter', 'the voucher''s balance is less than the payment',
				pg_catalog.format('Balance %s %s; payment %s.', v_left, v.currency, NEW.amount));
		END IF;
		-- (what the others paid net, never below nothing: the refunds of
		-- this row's own earlier amount are counted, its amount is not)
		SELECT b.total_price OPERATOR(pg_catalog.-) GREATEST(l.paid OPERATOR(pg_catalog.-) COALESCE((
				SELECT pg_catalog.sum(r.amount) FROM protector.payments r
				WHERE r.organization_id OPERATOR(pg_catalog.=) b.organization_id AND r.booking_id OPERATOR(pg_catalog.=) b.id
				  AND r.kind OPERATOR(pg_catalog.=) 'refund' AND r.status OPERATOR(pg_catalog.=) 'succeeded'), 0), 0)
		INTO v_due
		FROM protector.bookings b, protector_internal.booking_refundable(NEW.organization_id, NEW.booking_id, NEW.id) l
		WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id;
		IF NEW.amount OPERATOR(pg_catalog.>) v_due THEN
			PERFORM protector.raise('invalid_parameter', 'a voucher pays at most what the booking still owes',
				pg_catalog.format('The booking owes %s %s; the payment is %s.', GREATEST(v_due, 0), v.currency, NEW.amount));
		END IF;
	ELSE
		v_left := protector_internal.voucher_paid(NEW.organization_id, NEW.booking_id, v.id, NEW.id);
		IF NEW.amount OPERATOR(pg_catalog.>) v_left THEN
			PERFORM protector.raise('invalid_parameter', 'a refund to a voucher cannot exceed what it paid for the booking',
				pg_catalog.format('The voucher paid %s %s of this booking that has not been given back; this refund %s.',
								  v_left, v.currency, NEW.amount));
		END IF;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_voucher_payment() IS
'Trigger: locks a payment''s voucher; refuses expired vouchers, payments beyond the balance or what is owed, refunds beyond what it paid';

-- (named to run after check_payment, which locks an update's booking)
CREATE TRIGGER check_voucher_payment BEFORE INSERT OR UPDATE OF booking_id, kind, amount, currency, status, voucher_id
	ON protector.payments
	FOR EACH ROW WHEN (NEW.voucher_id IS NOT NULL AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_voucher_payment();

-- After: the voucher's balance is the ledger's (the voucher is locked).
CREATE FUNCTION protector_internal.sum_voucher_payments()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' AND OLD.voucher_id IS NOT NULL AND OLD.kind OPERATOR(pg_catalog.=) 'payment'
	   AND protector_internal.voucher_paid(OLD.organization_id, OLD.booking_id, OLD.voucher_id) OPERATOR(pg_catalog.<) 0
	   AND EXISTS (SELECT FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) OLD.organization_id) THEN
		PERFORM protector.raise('invalid_parameter',
			'a voucher''s payment cannot be lowered or removed below what was refunded to the voucher',
			pg_catalog.format('Refunds to voucher %s for booking %s would exceed what it paid by %s.', OLD.voucher_id, OLD.booking_id,
							  OPERATOR(pg_catalog.-) protector_internal.voucher_paid(OLD.organization_id, OLD.booking_id, OLD.voucher_id)),
			'Its refunds went back to the voucher: lower them first, or leave the payment as it is.');
	END IF;
	UPDATE protector.vouchers v
	SET balance = v.amount OPERATOR(pg_catalog.-) protector_internal.voucher_spent(v.organization_id, v.id)
	WHERE (v.organization_id, v.id) IN (SELECT NEW.organization_id, NEW.voucher_id WHERE TG_OP OPERATOR(pg_catalog.<>) 'DELETE'
										UNION ALL
										SELECT OLD.organization_id, OLD.voucher_id WHERE TG_OP OPERATOR(pg_catalog.<>) 'INSERT');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.sum_voucher_payments() IS
'Trigger: a voucher''s balance is its amount less its succeeded payments plus its succeeded refunds';

CREATE TRIGGER sum_voucher_payments AFTER INSERT OR UPDATE OR DELETE ON protector.payments
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.sum_voucher_payments();

-- A cancelled or no-show booking gives back to its vouchers first:
-- refund_on_cancel notes in details.refund.to_vouchers how much of the
-- refund goes to them, and this gives it back, to the voucher used last
-- first, as succeeded refunds (after the update: each changes the
-- booking's amount_paid).
CREATE OR REPLACE FUNCTION protector_internal.return_to_vouchers()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_left numeric := COALESCE((NEW.details #>> '{refund,to_vouchers}')::numeric, 0);
BEGIN
	IF v_left OPERATOR(pg_catalog.<=) 0 THEN
		RETURN NULL;
	END IF;
	v_left := v_left OPERATOR(pg_catalog.-)
			  protector_internal.give_back_to_vouchers(NEW.organization_id, NEW.id, NEW.currency, v_left, NEW.status::text);
	-- (refund_on_cancel reckoned with the vouchers locked; one that
	-- expired by the clock since, within the statement: its part is a
	-- pending refund too, never lost, and the booking says what went to
	-- vouchers)
	IF v_left OPERATOR(pg_catalog.>) 0 THEN
		INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status, details)
		VALUES (NEW.organization_id, NEW.id, 'refund', v_left, NEW.currency, 'pending',
				pg_catalog.jsonb_build_object('reason', NEW.status, 'fee', NEW.details #> '{refund,fee}',
											  'refund_percent', NEW.details #> '{refund,percent}'));
		UPDATE protector.bookings b
		SET details = pg_catalog.jsonb_set(b.details, '{refund,to_vouchers}',
			pg_catalog.to_jsonb((NEW.details #>> '{refund,to_vouchers}')::numeric OPERATOR(pg_catalog.-) v_left))
		WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.id;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.return_to_vouchers() IS
'Trigger: a cancelled or no-show booking''s refund goes back to the vouchers that paid it first';

CREATE TRIGGER return_to_vouchers AFTER UPDATE OF status ON protector.bookings
	FOR EACH ROW WHEN (NEW.status IN ('cancelled', 'no_show') AND OLD.status IS DISTINCT FROM NEW.status
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.return_to_vouchers();

-- The payment from a voucher, as protector's owner: the code proves the
-- right to spend the voucher (whoever holds it may pay with it: a gift),
-- the caller (redeem_voucher) has proved the right to pay the booking.
-- As much of the balance as the booking still owes; the booking first,
-- then the voucher: the order every writer locks in.
CREATE OR REPLACE FUNCTION protector_internal.pay_with_voucher(p_booking_id uuid, p_voucher_code text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
	v record;
	v_amount numeric;
BEGIN
	-- (it runs as the owner: the caller's right was proven by redeem_voucher)
	PERFORM protector_internal.require_permit('protector.bookings', p_booking_id, 'vouchers.redeem');
	PERFORM protector_internal.check_code(p_voucher_code, 'gift', 'p_voucher_code');
	-- (the booking's row locked, the wait bounded by protector.lock_timeout
	-- as record_payment's: 40001 "the booking is busy"; "booking not
	-- found" when there is none)
	PERFORM protector_internal.lock_row('protector.bookings', p_booking_id, 'booking');
	SELECT * INTO b FROM protector.bookings x WHERE x.id OPERATOR(pg_catalog.=) p_booking_id;
	IF b.status OPERATOR(pg_catalog.<>) ALL ('{held,pending,confirmed}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('a booking that is %s cannot be paid with a voucher', b.status),
			'Vouchers pay held, pending and confirmed bookings.');
	END IF;
	SELECT * INTO v FROM protector_internal.voucher_for(b.organization_id, p_voucher_code);
	IF v.balance OPERATOR(pg_catalog.<=) 0 THEN
		PERFORM protector.raise('invalid_parameter', 'this voucher has no balance left');
	END IF;
	v_amount := LEAST(v.balance, b.balance_due);
	IF v_amount OPERATOR(pg_catalog.<=) 0 THEN
		PERFORM protector.raise('invalid_parameter', 'the booking is paid in full',
			pg_catalog.format('It costs %s %s and %s has been paid.', b.total_price, b.currency, b.amount_paid));
	END IF;
	-- (in the booking's currency: a voucher in another is refused by
	-- check_voucher_payment naming both, where a payment in the voucher's
	-- was refused as cash is, with a hint to convert the amount)
	INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status, provider, voucher_id)
	VALUES (b.organization_id, b.id, 'payment', v_amount, b.currency, 'succeeded', 'voucher', v.id);
	RETURN pg_catalog.jsonb_build_object('amount', v_amount, 'currency', v.currency,
										 'voucher_balance', v.balance OPERATOR(pg_catalog.-) v_amount);
END
$$;
COMMENT ON FUNCTION protector_internal.pay_with_voucher(uuid, text) IS
'Pays a booking from the voucher with this code (as much as it owes), for a caller this transaction authorized to (require_permit)';

-- Pays a booking with a voucher: as much of the voucher's balance as the
-- booking still owes.  Staff who may redeem vouchers, and a customer for
-- their own booking; anon through the widget.
CREATE OR REPLACE FUNCTION protector.redeem_voucher(p_booking_id uuid, p_voucher_code text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
	v_paid jsonb;
BEGIN
	PERFORM protector_internal.check_code(p_voucher_code, 'gift', 'p_voucher_code');
	IF p_voucher_code IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_voucher_code must not be null');
	END IF;
	-- the caller may pay this booking (the widget, as protector's owner, may)
	-- (either way a permit for pay_with_voucher, which runs as the owner)
	IF NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'vouchers.redeem', 'booking', false, true);
	ELSE
		PERFORM protector_internal.permit('protector.bookings', p_booking_id, 'vouchers.redeem');
	END IF;
	v_paid := protector_internal.pay_with_voucher(p_booking_id, p_voucher_code);
	SELECT * INTO b FROM protector.bookings x WHERE x.id OPERATOR(pg_catalog.=) p_booking_id;
	RETURN pg_catalog.jsonb_build_object('booking_id', b.id) OPERATOR(pg_catalog.||) v_paid
		OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('amount_paid', b.amount_paid, 'balance_due', b.balance_due,
															  'booking_status', b.status);
END
$$;
COMMENT ON FUNCTION protector.redeem_voucher(uuid, text) IS
'Pays a booking with a gift voucher, as much of its balance as the booking owes; returns the amount and what is left';

-- Issues a gift voucher (managers and above); returns it with its code.
CREATE FUNCTION protector.create_voucher(
	p_organization_id uuid,
	p_amount numeric,
	p_currency text DEFAULT NULL,
	p_expires_at timestamptz DEFAULT NULL,
	p_customer_id uuid DEFAULT NULL,
	p_note text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.vouchers;
BEGIN
	PERFORM protector_internal.authorize(p_organization_id, 'vouchers.manage');
	PERFORM protector_internal.check_money(p_amount, 'p_amount');
	PERFORM protector_internal.check_currency(p_currency, 'p_currency');
	IF p_expires_at IS NOT NULL AND NOT (pg_catalog.isfinite(p_expires_at) AND p_expires_at OPERATOR(pg_catalog.>) pg_catalog.now()) THEN
		PERFORM protector.raise('invalid_parameter', 'p_expires_at must be a finite time in the future', pg_catalog.format('Got %s.', protector_internal.iso_text(p_expires_at)),
			'Leave it out (NULL) for a voucher that never expires.');
	END IF;
	IF p_note IS NOT NULL AND NOT protector_internal.lines_are_clean(p_note) THEN
		PERFORM protector.raise('invalid_parameter', 'p_note holds control or invisible direction characters');
	END IF;
	IF p_note IS NOT NULL AND pg_catalog.length(p_note) OPERATOR(pg_catalog.>) 2000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_note must be at most 2000 characters');
	END IF;
	IF p_customer_id IS NOT NULL AND NOT EXISTS (
			SELECT FROM protector.customers c
			WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id AND c.id OPERATOR(pg_catalog.=) p_customer_id) THEN
		PERFORM protector.raise('not_found', 'customer not found', 'p_customer_id is not a customer of the organization.');
	END IF;
	INSERT INTO protector.vouchers (organization_id, customer_id, currency, amount, expires_at, note)
	VALUES (p_organization_id, p_customer_id, p_currency, p_amount, p_expires_at, p_note)
	RETURNING * INTO v;
	RETURN pg_catalog.to_jsonb(v);
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.create_voucher(uuid, numeric, text, timestamptz, uuid, text) IS
'Issues a gift voucher of p_amount (managers and above); returns it with its generated code';

-- promo codes ---------------------------------------------------------------

-- What a promo code takes off a price: a percentage (rounded half-even to
-- cents) or a fixed amount in the booking's currency, never more than the
-- price; NULL when the code does not apply to that service and party.
CREATE OR REPLACE FUNCTION protector_internal.promo_discount(p_organization_id uuid, p_promo_code_id uuid, p_service_id uuid,
												  p_party_size integer, p_price numeric, p_currency text)
RETURNS numeric
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p protector.promo_codes;
BEGIN
	SELECT * INTO p FROM protector.promo_codes x
	WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.id OPERATOR(pg_catalog.=) p_promo_code_id;
	IF NOT FOUND OR NOT p_service_id OPERATOR(pg_catalog.=) ANY (COALESCE(p.service_ids, ARRAY[p_service_id]))
	   OR p_party_size OPERATOR(pg_catalog.<) p.min_party_size THEN
		RETURN NULL;
	END IF;
	IF p.discount_kind OPERATOR(pg_catalog.=) 'percent' THEN
		RETURN protector.round_money(p_price OPERATOR(pg_catalog.*) p.discount_value OPERATOR(pg_catalog./) 100);
	END IF;
	IF p.currency OPERATOR(pg_catalog.<>) p_currency THEN
		RETURN NULL;
	END IF;
	RETURN LEAST(p.discount_value, p_price);
END
$$;
COMMENT ON FUNCTION protector_internal.promo_discount(uuid, uuid, uuid, integer, numeric, text) IS
'What a promo code takes off a price: a percentage rounded half-even to cents, or a fixed amount up to the price; NULL where it does not apply';

-- A booking inserted with a promo code: the code is locked, checked
-- (active, valid now, the service, the party, the total and the
-- customer's uses) and used once more; the discount comes off the price
-- before the deposit is worked out.
CREATE OR REPLACE FUNCTION protector_internal.apply_promo_code()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p protector.promo_codes;
	v_code text := COALESCE(pg_catalog.current_setting('protector.promo_code', true), '');
BEGIN
	-- the code create_booking was given (only a trusted writer names the
	-- code's id itself: promo_code_id is not granted)
	IF v_code OPERATOR(pg_catalog.<>) '' THEN
		NEW.promo_code_id := protector_internal.promo_code_for(NEW.organization_id, v_code);
	END IF;
	-- (the code's row locked first)
	PERFORM protector_internal.lock_promo_code(NEW.organization_id, NEW.promo_code_id);
	SELECT * INTO p FROM protector.promo_codes x
	WHERE x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND x.id OPERATOR(pg_catalog.=) NEW.promo_code_id
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NEW;			-- the foreign key says what is wrong
	END IF;
	-- a use counts while its booking is not cancelled, and goes back when
	-- it is: a booking written as cancelled (or over) would keep it for good
	IF NEW.status OPERATOR(pg_catalog.<>) ALL ('{held,pending,confirmed}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a promo code cannot be used by a booking written as %s', NEW.status),
			'Promo codes apply to new bookings that are held, pending or confirmed.');
	END IF;
	IF NOT p.active THEN
		PERFORM protector.raise('invalid_parameter', 'this promo code is no longer active');
	-- (by the clock, as a voucher's expiry: a code retired while this
	-- transaction was open, or waited for the code's lock, is retired)
	ELSIF p.valid_from OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp() THEN
		PERFORM protector.raise('invalid_parameter', 'this promo code is not valid yet',
			pg_catalog.format('It is valid from %s.', protector_internal.iso_text(p.valid_from)));
	ELSIF p.valid_until OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp() THEN
		PERFORM protector.raise('invalid_parameter', 'this promo code has expired',
			pg_catalog.format('It was valid until %s.', protector_internal.iso_text(p.valid_until)));
	ELSIF NOT NEW.service_id OPERATOR(pg_catalog.=) ANY (COALESCE(p.service_ids, ARRAY[NEW.service_id])) THEN
		PERFORM protector.raise('invalid_parameter', 'this promo code does not apply to this service');
	ELSIF NEW.party_size OPERATOR(pg_catalog.<) p.min_party_size THEN
		PERFORM protector.raise('invalid_parameter', 'this promo code needs a larger party',
			pg_catalog.format('It applies to parties of %s or more; this one is %s.', p.min_party_size, NEW.party_size));
	ELSIF p.times_used OPERATOR(pg_catalog.>=) p.max_uses THEN
		PERFORM protector.raise('invalid_parameter', 'this promo code has been used up',
			pg_catalog.format('It may be used %s.', protector_internal.times_text(p.max_uses)));
	ELSIF p.discount_kind OPERATOR(pg_catalog.=) 'fixed' AND p.currency OPERATOR(pg_catalog.<>) NEW.currency THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a promo code in %s for a booking in %s', p.currency, NEW.currency),
			'A fixed discount applies to bookings in its own currency.');
	END IF;
	-- (the customer's own limit: count_promo_use, once the row is stored)
	NEW.discount_amount := protector_internal.promo_discount(NEW.organization_id, p.id, NEW.service_id, NEW.party_size,
															 NEW.total_price, NEW.currency);
	NEW.total_price := NEW.total_price OPERATOR(pg_catalog.-) NEW.discount_amount;
	-- (the use counts once the row is stored: count_promo_use, below; the
	-- code's row stays locked until then)
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.apply_promo_code() IS
'Trigger: a booking inserted with a promo code has it checked under its lock (its uses: count_promo_use) and its discount taken off';

-- named to run after guard_booking_write (which prices direct inserts) and
-- before require_deposit (which works out the deposit of the discounted price)
CREATE TRIGGER promo_discount BEFORE INSERT ON protector.bookings
	FOR EACH ROW WHEN ((NEW.promo_code_id IS NOT NULL OR current_setting('protector.promo_code') <> '')
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.apply_promo_code();

-- A cancelled (or deleted) booking, or one whose code no longer applies
-- (set_booking_price), gives its promo code's use back.
CREATE OR REPLACE FUNCTION protector_internal.release_promo_use()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_old uuid := CASE WHEN OLD.status OPERATOR(pg_catalog.<>) 'cancelled' THEN OLD.promo_code_id END;
	v_new uuid;
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.status OPERATOR(pg_catalog.<>) 'cancelled' THEN
		v_new := NEW.promo_code_id;
	END IF;
	IF v_old IS NOT NULL AND v_old IS DISTINCT FROM v_new THEN
		-- (waiting at most protector.lock_timeout, as a booking with the
		-- code does: a cancellation waited for a code held open for ever,
		-- its booking locked meanwhile; not one gone: the organization's
		-- deletion takes its codes first)
		PERFORM protector_internal.lock_promo_code(OLD.organization_id, v_old);
		UPDATE protector.promo_codes x SET times_used = GREATEST(x.times_used OPERATOR(pg_catalog.-) 1, 0)
		WHERE x.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND x.id OPERATOR(pg_catalog.=) v_old;
	END IF;
	IF v_new IS NOT NULL THEN
		PERFORM protector_internal.use_promo_code(NEW.organization_id, v_new, NEW.customer_id,
												  v_old IS DISTINCT FROM v_new);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.release_promo_use() IS
'Trigger: a booking cancelled, deleted or no longer under its promo code gives the code''s use back; one brought back from cancelled, or given a code, uses it once more within its limits; one given to another customer counts toward their limit';

-- (no column list: promo_code_id changes in set_booking_price, not in SET.
-- Named to fire first of the booking's AFTER UPDATE row triggers, which
-- run once the statement has locked all its rows: the code's row before
-- the agent's schedule lock (agent_shift_check_update) and the service's
-- (reservation_check), the order of a new booking with the code
-- (apply_promo_code, then those).  As release_promo_use, after them, a
-- handover to another customer and agent, or a booking brought back,
-- deadlocked with a new booking under the same code (40P01, found by a
-- chaos run of concurrent sessions).  Not in a BEFORE trigger: a
-- multi-row statement would hold the code while it waited for its later
-- rows, and deadlocked with their cancellations)
CREATE TRIGGER adjust_promo_use AFTER UPDATE ON protector.bookings
	FOR EACH ROW WHEN ((CASE WHEN OLD.status <> 'cancelled' THEN OLD.promo_code_id END
						IS DISTINCT FROM CASE WHEN NEW.status <> 'cancelled' THEN NEW.promo_code_id END
						OR (NEW.promo_code_id IS NOT NULL AND NEW.status <> 'cancelled'
							AND OLD.customer_id IS DISTINCT FROM NEW.customer_id
							AND NOT protector_internal.caller_is_trusted()))
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.release_promo_use();
CREATE TRIGGER release_promo_use_on_delete AFTER DELETE ON protector.bookings
	FOR EACH ROW WHEN (OLD.promo_code_id IS NOT NULL AND OLD.status <> 'cancelled' AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.release_promo_use();

-- A promo code's services are services of its organization.
CREATE FUNCTION protector_internal.check_promo_services()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_missing uuid;
BEGIN
	-- (only the services a write adds: one deleted since it was listed,
	-- never booked, does not block every later edit of the code)
	SELECT x INTO v_missing FROM pg_catalog.unnest(NEW.service_ids) x
	WHERE (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.organization_id OPERATOR(pg_catalog.<>) OLD.organization_id
		   OR x OPERATOR(pg_catalog.<>) ALL (COALESCE(OLD.service_ids, '{}')))
	  AND NOT EXISTS (SELECT FROM protector.services s
					  WHERE s.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND s.id OPERATOR(pg_catalog.=) x)
	LIMIT 1;
	IF FOUND THEN
		PERFORM protector.raise('invalid_parameter', 'service_ids names a service that is not the organization''s',
			pg_catalog.format('Service %s does not exist in the organization, or you may not see it.', v_missing));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_promo_services() IS
'Trigger: a promo code applies only to services of its organization';

CREATE TRIGGER check_promo_services BEFORE INSERT OR UPDATE OF service_ids, organization_id ON protector.promo_codes
	FOR EACH ROW WHEN (NEW.service_ids IS NOT NULL AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_promo_services();

-- Creates a promo code (managers and above); returns it with its code.
CREATE OR REPLACE FUNCTION protector.create_promo_code(
	p_organization_id uuid,
	p_discount_kind text,
	p_discount_value numeric,
	p_valid_from timestamptz DEFAULT NULL,
	p_valid_until timestamptz DEFAULT NULL,
	p_max_uses integer DEFAULT NULL,
	p_max_uses_per_customer integer DEFAULT NULL,
	p_service_ids uuid[] DEFAULT NULL,
	p_min_party_size integer DEFAULT 1,
	p_description text DEFAULT NULL,
	p_currency text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p protector.promo_codes;
BEGIN
	PERFORM protector_internal.authorize(p_organization_id, 'promo_codes.manage');
	PERFORM protector_internal.check_promo_terms(p_discount_kind, p_discount_value, p_max_uses, p_max_uses_per_customer,
												 p_min_party_size, p_valid_from, p_valid_until, 'p_');
	PERFORM protector_internal.check_currency(p_currency, 'p_currency');
	-- (a new code is not over before it starts: later than now too)
	IF p_valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'p_valid_until must be later than p_valid_from and now',
			pg_catalog.format('Got %s to %s.', CASE WHEN p_valid_from IS NULL THEN 'now' ELSE protector_internal.iso_text(p_valid_from) END,
							  protector_internal.iso_text(p_valid_until)));
	END IF;
	PERFORM protector_internal.check_promo_scope(p_service_ids, p_description, 'p_');
	INSERT INTO protector.promo_codes (organization_id, description, discount_kind, discount_value, currency,
		valid_from, valid_until, max_uses, max_uses_per_customer, service_ids, min_party_size)
	VALUES (p_organization_id, p_description, p_discount_kind, p_discount_value, p_currency,
		p_valid_from, p_valid_until, p_max_uses, p_max_uses_per_customer, p_service_ids, p_min_party_size)
	RETURNING * INTO p;
	RETURN pg_catalog.to_jsonb(p);
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.create_promo_code(uuid, text, numeric, timestamptz, timestamptz, integer, integer,
												uuid[], integer, text, text) IS
'Creates a promo code (managers and above): percent or fixed, validity, use limits, services, minimum party; returns it with its code';

-- the RPCs, and the helpers they and the triggers call as the caller
GRANT EXECUTE ON FUNCTION
	protector.redeem_voucher(uuid, text),
	protector.create_voucher(uuid, numeric, text, timestamptz, uuid, text),
	protector.create_promo_code(uuid, text, numeric, timestamptz, timestamptz, integer, integer, uuid[], integer, text, text),
	protector_internal.check_code(text, text, text),
	protector_internal.pay_with_voucher(uuid, text)
TO authenticated, service_role;
-- the booking RPCs and the widget take the codes
DROP FUNCTION protector.hold_slot(uuid, uuid, timestamptz, integer, integer, text, jsonb, protector.booking_source);
DROP FUNCTION protector.create_booking(uuid, uuid, timestamptz, integer, text, jsonb, protector.booking_source, uuid, integer);
DROP FUNCTION protector.create_widget_booking(text, uuid, text, text, text, timestamptz, integer, text, jsonb);
CREATE OR REPLACE FUNCTION protector.create_booking(
	p_service_id uuid,
	p_customer_id uuid,
	p_start timestamptz,
	p_party_size integer DEFAULT 1,
	p_idempotency_key text DEFAULT NULL,
	p_details jsonb DEFAULT '{}',
	p_source protector.booking_source DEFAULT 'api',
	p_assigned_agent uuid DEFAULT NULL,
	p_hold_minutes integer DEFAULT NULL,
	p_promo_code text DEFAULT NULL,
	p_voucher_code text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_service protector.services;
	v_customer uuid := p_customer_id;
	v_status protector.booking_status := 'confirmed';
	v_hold timestamptz;
	v_key text := p_idempotency_key;
	v_range tstzrange;
	v_booking protector.bookings;
	v_constraint text;
	v_schema text;
	v_table text;
	v_state text;
BEGIN
	-- a mistyped code is refused before anything is looked up
	PERFORM protector_internal.check_code(p_promo_code, 'promo', 'p_promo_code');
	PERFORM protector_internal.check_code(p_voucher_code, 'gift', 'p_voucher_code');
	IF p_service_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_service_id must not be null');
	END IF;
	SELECT * INTO v_service FROM protector.services s WHERE s.id OPERATOR(pg_catalog.=) p_service_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found', 'It does not exist, or you may not see it.');
	END IF;
	IF p_hold_minutes IS NOT NULL THEN
		IF p_hold_minutes NOT BETWEEN 1 AND 1440 THEN
			PERFORM protector.raise('invalid_parameter', 'p_hold_minutes must be between 1 and 1440',
				pg_catalog.format('Got %s.', p_hold_minutes));
		END IF;
		v_status := 'held';
		v_hold := pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(mins => p_hold_minutes);
	END IF;

	IF NOT (protector_internal.caller_is_trusted()
			OR v_service.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.create'))) THEN
		-- a customer books for themselves: their record in this organization
		SELECT c.id INTO v_customer FROM protector.customers c
		WHERE c.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
		  AND c.id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids())
		ORDER BY c.id LIMIT 1;
		IF NOT FOUND THEN
			PERFORM protector_internal.authorize(v_service.organization_id, 'bookings.create', 'service');
		END IF;
		IF p_customer_id IS NOT NULL AND p_customer_id OPERATOR(pg_catalog.<>) v_customer THEN
			PERFORM protector.raise('not_found', 'customer not found',
				'p_customer_id is not a customer of the service''s organization.');
		END IF;
		IF p_assigned_agent IS NOT NULL THEN
			PERFORM protector.raise('forbidden', 'customers may not assign agents');
		END IF;
		-- staff confirm what customers book; their keys are their own
		IF v_status OPERATOR(pg_catalog.=) 'confirmed' THEN
			v_status := 'pending';
		END IF;
		IF pg_catalog.length(p_idempotency_key) NOT BETWEEN 1 AND 154 THEN
			PERFORM protector.raise('invalid_parameter', 'p_idempotency_key must be 1 to 154 characters',
				'A customer''s key is stored under customer/<their user id>/, 46 characters of the 200.');
		END IF;
		v_key := 'customer/' OPERATOR(pg_catalog.||) protector.current_user_id()::text
				 OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_idempotency_key;
	ELSIF v_customer IS NOT NULL AND NOT EXISTS (
			SELECT FROM protector.customers c
			WHERE c.id OPERATOR(pg_catalog.=) v_customer
			  AND c.organization_id OPERATOR(pg_catalog.=) v_service.organization_id) THEN
		PERFORM protector.raise('not_found', 'customer not found',
			'p_customer_id is not a customer of the service''s organization.');
	END IF;
	-- (whoever may book for others sees the staff list: bookings.create
	-- and members.read go to the same roles; else the foreign key's raw
	-- 23503 would say it.  Nested: an IF with a subquery runs a query
	-- every time, 30,000 instructions a booking without an agent.)
	IF p_assigned_agent IS NOT NULL THEN
		-- (share-locked: a member leaving or deactivated is waited for,
		-- then not found or refused; a trusted caller, also an
		-- application's function running as protector's owner, as itself
		-- where it may lock the row)
		IF NOT (CASE WHEN protector_internal.caller_is_trusted()
						   AND pg_catalog.has_any_column_privilege('protector.members', 'UPDATE')
					 THEN EXISTS (SELECT FROM protector.members m
								  WHERE m.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
									AND m.user_id OPERATOR(pg_catalog.=) p_assigned_agent
								  FOR SHARE)
					 ELSE protector_internal.lock_agent(v_service.organization_id, p_assigned_agent) END) THEN
			PERFORM protector.raise('not_found', 'agent not found',
				'p_assigned_agent is not a member of the service''s organization.',
				CASE WHEN EXISTS (SELECT FROM protector.members m
								  WHERE m.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
									AND m.id OPERATOR(pg_catalog.=) p_assigned_agent)
					 THEN 'p_assigned_agent takes the member''s user id (members.user_id), not members.id.' END);
		END IF;
	END IF;
	IF p_party_size IS NULL OR p_party_size < 1 THEN
		PERFORM protector.raise('invalid_parameter', 'p_party_size must be a positive number',
			pg_catalog.format('Got %s.', COALESCE(p_party_size::text, 'NULL')));
	END IF;
	IF p_idempotency_key IS NOT NULL AND pg_catalog.length(p_idempotency_key) NOT BETWEEN 1 AND 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_idempotency_key must be 1 to 200 characters');
	END IF;
	IF p_details IS NULL OR pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_details must be a JSON object');
	END IF;
	IF pg_catalog.octet_length(p_details::text) OPERATOR(pg_catalog.>) 65536 THEN
		PERFORM protector.raise('invalid_parameter', 'p_details is too large',
			pg_catalog.format('It takes %s bytes as text; at most 65536 are accepted.', pg_catalog.octet_length(p_details::text)));
	END IF;

	-- a retried request answers with the booking it made the first time
	IF v_key IS NOT NULL THEN
		SELECT * INTO v_booking FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
		  AND b.idempotency_key OPERATOR(pg_catalog.=) v_key;
		IF FOUND THEN
			RETURN protector_internal.booking_shape(v_booking, true);
		END IF;
	END IF;
	v_range := protector.validate_slot(v_service.id, p_start, p_party_size);
	-- (booking_total() refuses a total above the largest amount by name)
	PERFORM protector.booking_total(v_service.price, v_service.price_per_person, p_party_size);
	-- the promo code is looked up, checked, used and its discount taken off
	-- by apply_promo_code() (sql/78_vouchers.sql), which the insert's
	-- trigger prepare_booking calls; it reads the code from this setting,
	-- for this insert only
	PERFORM pg_catalog.set_config('protector.promo_code', COALESCE(p_promo_code, ''), true);
	BEGIN
		INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during,
			party_size, status, source, hold_expires_at, idempotency_key, currency, unit_price,
			total_price, assigned_agent, details)
		VALUES (v_service.organization_id, v_service.venue_id, v_service.id, v_customer, v_range,
			p_party_size, v_status, COALESCE(p_source, 'api'), v_hold, v_key, v_service.currency, v_service.price,
			protector.booking_total(v_service.price, v_service.price_per_person, p_party_size),
			p_assigned_agent, p_details)
		RETURNING * INTO v_booking;
		PERFORM pg_catalog.set_config('protector.promo_code', '', true);
	EXCEPTION WHEN foreign_key_violation THEN
		-- the customer or the service, found above, deleted before this
		-- insert's foreign key looked (as found missing above, by name)
		GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
		PERFORM pg_catalog.set_config('protector.promo_code', '', true);
		IF pg_catalog.concat_ws('.', v_schema, v_table, v_constraint) OPERATOR(pg_catalog.=) 'protector.bookings.bookings_organization_id_customer_id_fkey' THEN
			-- (the public widget found the guest record before its deletion
			-- committed: a retry, and nothing of the record, as for a merge
			-- or an erasure (refuse_booking_customer); "not found" told an
			-- anonymous caller the address had been a guest's)
			IF p_source OPERATOR(pg_catalog.=) 'widget' THEN
				PERFORM protector.raise('retry', 'the guest record changed while the booking was made',
					NULL, 'Retry the request.');
			END IF;
			PERFORM protector.raise('not_found', 'customer not found', 'It was deleted while the booking was being made.');
		ELSIF pg_catalog.concat_ws('.', v_schema, v_table, v_constraint) OPERATOR(pg_catalog.=) ANY (ARRAY[
				'protector.bookings.bookings_organization_id_venue_id_service_id_fkey',
				-- (its organization deleted meanwhile: a bare 23503 named the
				-- organization's id, also to the widget's anonymous caller)
				'protector.bookings.bookings_organization_id_fkey']) THEN
			PERFORM protector.raise('not_found', 'service not found', 'It was deleted, or moved to another venue, while the booking was being made.');
		END IF;
		RAISE;
	WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_schema = SCHEMA_NAME, v_table = TABLE_NAME,
			v_constraint = CONSTRAINT_NAME;
		PERFORM pg_catalog.set_config('protector.promo_code', '', true);
		-- the same request raced this one and committed first: its booking
		-- is the answer, whether the unique index on the key refused this
		-- insert or a check the first request's locks made refuse it before
		-- (the promo code's last use, the customer's open requests, the
		-- slot: a client told "used up" re-booked without the code), as the
		-- widget answers
		IF v_key IS NOT NULL THEN
			SELECT * INTO v_booking FROM protector.bookings b
			WHERE b.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
			  AND b.idempotency_key OPERATOR(pg_catalog.=) v_key;
			IF FOUND THEN
				RETURN protector_internal.booking_shape(v_booking, true);
			END IF;
			IF v_state OPERATOR(pg_catalog.=) '23505' AND pg_catalog.concat_ws('.', v_schema, v_table, v_constraint)
					OPERATOR(pg_catalog.=) 'protector.bookings.bookings_idempotency_key_idx' THEN
				-- (the key's booking is there, but not the caller's to see:
				-- it was handed to another customer since, and a retry would
				-- get this answer for ever; or not yet in this snapshot)
				IF protector_internal.idempotency_key_taken(v_service.organization_id, v_key) THEN
					PERFORM protector.raise('conflict', 'this request key belongs to another booking',
						'The booking made with it is no longer one you may see (it was handed to another customer).',
						'Send the booking again with a new p_idempotency_key.');
				END IF;
				PERFORM protector.raise('retry', 'a request with the same idempotency key was committed concurrently',
					'This transaction''s snapshot cannot see it yet.', 'Retry the request.');
			END IF;
		END IF;
		-- (anything else, another unique key too, a table an application's
		-- trigger writes, its index maybe of the same name, says what it says)
		RAISE;
	END;
	-- (a booking that costs nothing, a 100% code's, spends no voucher)
	IF p_voucher_code IS NOT NULL AND v_booking.balance_due OPERATOR(pg_catalog.>) 0 THEN
		PERFORM protector.redeem_voucher(v_booking.id, p_voucher_code);
		SELECT * INTO v_booking FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) v_booking.organization_id AND b.id OPERATOR(pg_catalog.=) v_booking.id;
	END IF;
	RETURN protector_internal.booking_shape(v_booking, false);
END
$$;
COMMENT ON FUNCTION protector.create_booking(uuid, uuid, timestamptz, integer, text, jsonb,
											 protector.booking_source, uuid, integer, text, text) IS
'Books a slot (with p_hold_minutes: holds it): validates, prices from the service less a promo code''s discount, pays from a gift voucher, returns the booking; the same idempotency key returns the first booking';

CREATE OR REPLACE FUNCTION protector.hold_slot(
	p_service_id uuid,
	p_customer_id uuid,
	p_start timestamptz,
	p_party_size integer DEFAULT 1,
	p_hold_minutes integer DEFAULT 10,
	p_idempotency_key text DEFAULT NULL,
	p_details jsonb DEFAULT '{}',
	p_source protector.booking_source DEFAULT 'api',
	p_promo_code text DEFAULT NULL,
	p_voucher_code text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_hold_minutes IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_hold_minutes must be between 1 and 1440', 'Got NULL.');
	END IF;
	RETURN protector.create_booking(p_service_id, p_customer_id, p_start, p_party_size, p_idempotency_key,
									p_details, p_source, NULL, p_hold_minutes, p_promo_code, p_voucher_code);
END
$$;
COMMENT ON FUNCTION protector.hold_slot(uuid, uuid, timestamptz, integer, integer, text, jsonb,
										protector.booking_source, text, text) IS
'Holds a slot (status held) for p_hold_minutes; it occupies capacity until confirmed or expired';

CREATE OR REPLACE FUNCTION protector.create_widget_booking(
	p_embed_key text,
	p_service_id uuid,
	p_customer_name text,
	p_customer_email text,
	p_customer_phone text,
	p_start timestamptz,
	p_party_size integer DEFAULT 1,
	p_idempotency_key text DEFAULT NULL,
	p_details jsonb DEFAULT '{}',
	p_promo_code text DEFAULT NULL,
	p_voucher_code text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues := protector_internal.venue_for_embed_key(p_embed_key);
	v_service protector.services;
	-- (trimmed of every kind of space: an address pasted with a no-break
	-- space, or typed with an IME's ideographic one, is an address)
	v_name text;
	-- (as typed: identity_key folds case, the desk's way; lower() folded
	-- a dotted capital I (U+0130) to a plain i, which the desk's key keeps
	-- apart, and stored that;
	-- in the database's collation, not the one a caller's arguments carry
	-- into the function: under "C", lower() folds no U+0130)
	v_email text COLLATE pg_catalog."default";
	v_typed text COLLATE pg_catalog."default";	-- the address as 0.1.0 keyed it
	v_phone text;
	v_identity text;
	v_address inet := protector_internal.request_client_address();
	v_hold_minutes integer;
	v_customer uuid;
	v_key text;
	v_booking jsonb;
BEGIN
	PERFORM protector_internal.check_code(p_promo_code, 'promo', 'p_promo_code');
	PERFORM protector_internal.check_code(p_voucher_code, 'gift', 'p_voucher_code');
	-- (spaces at the ends count against the most, as check_text counts
	-- them: a name padded with megabytes of spaces was trimmed and scanned
	-- for seconds, and accepted)
	IF pg_catalog.length(p_customer_name) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_name must be 1 to 200 characters',
			pg_catalog.format('Got %s characters.', pg_catalog.length(p_customer_name)));
	END IF;
	IF pg_catalog.length(p_customer_email) OPERATOR(pg_catalog.>) 320 THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_email is not an email address',
			'At most 320 characters, like name@example.com.');
	END IF;
	IF pg_catalog.length(p_customer_phone) OPERATOR(pg_catalog.>) 40 THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_phone is not a phone number',
			'Digits, spaces and ( ) . / - only, an optional leading +, at most 40 characters.');
	END IF;
	v_name := protector_internal.trim_spaces(p_customer_name);
	-- (written in NFKC: a visitor's full-width letters are the ASCII of
	-- their address, which reminders can reach, and the guest they fold
	-- to; email_is_valid refuses the address only in the desk's records)
	-- (widget_replay finds 0.1.0's request keys by the address as 0.1.0
	-- hashed it: trimmed of ASCII spaces only, before NFKC: a retry across
	-- the update of an address typed in full-width letters, or ending in a
	-- no-break space, booked again)
	v_typed := pg_catalog.btrim(p_customer_email);
	v_email := pg_catalog.normalize(protector_internal.trim_spaces(p_customer_email), 'NFKC');
	v_phone := NULLIF(protector_internal.trim_spaces(p_customer_phone), '');
	-- (a name of spaces only, trimmed to nothing, is told what it lacks)
	IF v_name IS NULL OR pg_catalog.length(v_name) NOT BETWEEN 1 AND 200 THEN
		PERFORM protector.raise('invalid_parameter',
			CASE WHEN v_name OPERATOR(pg_catalog.=) '' AND pg_catalog.btrim(p_customer_name) OPERATOR(pg_catalog.<>) ''
				 THEN 'p_customer_name must hold a visible character' ELSE 'p_customer_name must be 1 to 200 characters' END);
	END IF;
	-- a name of spaces, variation selectors, joiners and combining marks
	-- alone (of any script, by Unicode category) renders blank on the
	-- operator's screen
	IF NOT protector_internal.renders_visible(v_name) THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_name must hold a visible character');
	END IF;
	IF v_email IS NULL OR NOT protector_internal.email_is_valid(v_email) THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_email is not an email address',
			'At most 320 characters, like name@example.com.');
	END IF;
	IF v_phone IS NOT NULL AND NOT protector_internal.phone_is_valid(v_phone) THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_phone is not a phone number',
			'Digits, spaces and ( ) . / - only, an optional leading +, at most 40 characters.');
	END IF;
	IF p_idempotency_key IS NOT NULL AND pg_catalog.length(p_idempotency_key) NOT BETWEEN 1 AND 100 THEN
		PERFORM protector.raise('invalid_parameter', 'p_idempotency_key must be 1 to 100 characters');
	END IF;
	IF p_details IS NULL OR pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object'
	   OR pg_catalog.octet_length(p_details::text) OPERATOR(pg_catalog.>) 16384 THEN
		PERFORM protector.raise('invalid_parameter', 'p_details must be a JSON object of at most 16 kB');
	END IF;
	-- (a refund's note is protector's: a visitor wrote one of 100% on a
	-- live booking, for staff to read)
	IF p_details OPERATOR(pg_catalog.?) 'refund' THEN
		PERFORM protector.raise('invalid_parameter', 'p_details.refund is protector''s',
			'Protector writes it when a booking is cancelled or marked no-show.');
	END IF;
	-- (as typed: a line break or tab at an end, which the trim took, is
	-- refused as docs/widget.md says)
	IF NOT (protector_internal.text_is_clean(p_customer_name) AND protector_internal.text_is_clean(p_customer_email)
			AND protector_internal.text_is_clean(p_customer_phone) AND protector_internal.text_is_clean(p_idempotency_key))
	   OR NOT protector_internal.json_is_clean(p_details) THEN
		PERFORM protector.raise('invalid_parameter', 'the booking holds control or invisible direction characters',
			'Names, e-mail, phone, request key and details must be plain text.');
	END IF;
	v_identity := protector.normalize_email(v_email);

	-- a visitor's retry replays their own booking, never someone else's,
	-- and is answered before the limits count and before any lock: it
	-- books nothing (again under the lock below: a retry racing its first
	-- request is answered with it)
	IF p_idempotency_key IS NOT NULL THEN
		v_key := 'widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(v_identity) OPERATOR(pg_catalog.||) '/'
				 OPERATOR(pg_catalog.||) v.id::text OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_idempotency_key;
		v_booking := protector_internal.widget_replay(v, v_identity, v_typed, p_idempotency_key);
	END IF;
	-- (after the replay: a retried request is answered with its booking
	-- also once its service is retired, as create_booking answers one)
	IF v_booking IS NULL THEN
		v_service := protector_internal.widget_service(v, p_service_id);
	END IF;
	IF v_booking IS NULL THEN
		-- the refusals that take nothing (the widget off, the venue's and
		-- the network address's limits) before any lock: a refused request
		-- holds nothing another waits for (judged again under the lock
		-- below).  (A retry whose first request committed between the
		-- replay above and the count is counted by it: it is answered with
		-- its booking.)  Not the e-mail address's limit: it is judged after
		-- the trial booking below, so that a request refused anyway (a
		-- start in the past) does not tell whether that address booked
		-- here within the hour.
		IF p_idempotency_key IS NULL THEN
			PERFORM protector_internal.widget_limits(v, NULL, v_address);
		ELSE
			BEGIN
				PERFORM protector_internal.widget_limits(v, NULL, v_address);
			EXCEPTION WHEN OTHERS THEN
				v_booking := protector_internal.widget_replay(v, v_identity, v_typed, p_idempotency_key);
				IF v_booking IS NULL THEN
					RAISE;
				END IF;
			END;
		END IF;
	END IF;
	IF v_booking IS NULL THEN
		-- the locks the booking will wait for, taken first and in the order
		-- a booking takes them (a promo code's row, then the service's
		-- reservation lock), each wait bounded by protector.lock_timeout
		-- (40001): the organization's widget lock below is then held while
		-- a request works, not while it waits (held while one waited for a
		-- busy service, every later visitor of the organization, whatever
		-- their service, queued behind it without limit). A voucher's row
		-- is waited for and let go (a savepoint rolled back lets go of a
		-- row lock): kept, it waited in a cycle with a merge of the guest
		-- the booking then refers to; the booking locks it itself, after
		-- its guest record.
		PERFORM protector_internal.lock_row('protector.promo_codes', p.id, 'promo code')
		FROM protector.promo_codes p
		WHERE p.organization_id OPERATOR(pg_catalog.=) v.organization_id AND p.code OPERATOR(pg_catalog.=) p_promo_code;
		PERFORM protector.lock_services(ARRAY[v_service.id]);
		IF p_voucher_code IS NOT NULL THEN
			BEGIN
				PERFORM protector_internal.lock_row('protector.vouchers', x.id, 'voucher')
				FROM protector.vouchers x
				WHERE x.organization_id OPERATOR(pg_catalog.=) v.organization_id AND x.code OPERATOR(pg_catalog.=) p_voucher_code;
				RAISE EXCEPTION USING ERRCODE = 'PW000';
			EXCEPTION WHEN SQLSTATE 'PW000' THEN
				NULL;
			END;
		END IF;
		-- one widget booking of an organization at a time: the rate limit and
		-- the customer look-up see every earlier one (a wait bounded too)
		PERFORM protector_internal.lock_widget_bookings(v.organization_id);
		-- (under REPEATABLE READ the ones committed while this waited are not in
		-- its snapshot: the limits and the look-up would miss them; the count
		-- and the newest id: a booking that pruned an old request and wrote its
		-- own left the count as it was)
		PERFORM protector_internal.retry_if_unseen(
			'SELECT pg_catalog.hashtextextended(pg_catalog.count(*)::pg_catalog.text OPERATOR(pg_catalog.||) ''/''
				OPERATOR(pg_catalog.||) COALESCE(pg_catalog.max(w.id)::pg_catalog.text, ''''), 0)
			 FROM protector_internal.widget_requests w WHERE w.organization_id OPERATOR(pg_catalog.=) $1',
			v.organization_id, 'a widget booking of this organization was made concurrently', NULL);
		-- the venue and service as they are now that the locks are held: a
		-- key rotated, a venue or service retired, the widget turned off or
		-- its confirmation changed while this request waited count (it went
		-- through on the rows read before it waited)
		v := protector_internal.venue_for_embed_key(p_embed_key);
		v_service := protector_internal.widget_service(v, p_service_id);
		IF p_idempotency_key IS NOT NULL THEN
			v_booking := protector_internal.widget_replay(v, v_identity, v_typed, p_idempotency_key);
		END IF;
	END IF;
	-- (without auto_confirm a widget booking is a hold the venue confirms
	-- within widget_settings.confirmation_minutes, default 15)
	v_hold_minutes := CASE WHEN (v.widget_settings ->> 'auto_confirm') OPERATOR(pg_catalog.=) 'true' THEN NULL
		WHEN pg_catalog.jsonb_typeof(v.widget_settings -> 'confirmation_minutes') OPERATOR(pg_catalog.=) 'number'
		THEN LEAST(GREATEST((v.widget_settings ->> 'confirmation_minutes')::numeric, 1), 1440)::integer
		ELSE 15 END;
	IF v_booking IS NULL THEN
		-- one visitor (by e-mail, and by client address where PostgREST
		-- passes it) cannot fill the venue's calendar: the requests of more
		-- than a day ago go, and the limits are judged on the rest
		DELETE FROM protector_internal.widget_requests w
		WHERE w.organization_id OPERATOR(pg_catalog.=) v.organization_id AND w.venue_id OPERATOR(pg_catalog.=) v.id
		  AND w.created_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '24 hours');
		PERFORM protector_internal.widget_limits(v, NULL, v_address);

		-- The booking is tried first without a customer, and taken back: a
		-- slot that is taken or breaks the service's rules, a party size,
		-- promo code or voucher that does not fit, is refused (with
		-- create_booking's own error) before the guest record is looked up
		-- or made. A refusal then takes as long for an address the
		-- organization knows as for one it does not (its time told them
		-- apart, about 200 microseconds, and a refusal leaves nothing that a
		-- limit counts). Only what depends on the customer (a promo code's
		-- uses per customer) is judged with them, below.
		BEGIN
			PERFORM protector.create_booking(v_service.id, NULL, p_start, p_party_size, NULL, p_details, 'widget', NULL,
				v_hold_minutes, p_promo_code, p_voucher_code);
			RAISE EXCEPTION USING ERRCODE = 'PW000';
		EXCEPTION WHEN SQLSTATE 'PW000' THEN
			NULL;
		END;
		-- (the e-mail address's limit, once the request would book)
		PERFORM protector_internal.widget_limits(v, v_identity, v_address);

		-- a returning guest is found by e-mail as identity_key compares it
		-- (ICU-normalized: case, width, compatibility forms; docs/customers.md);
		-- a customer with an account is never attached to by e-mail alone:
		-- the booking goes to a guest record of that e-mail
		-- (and whose address is one protector takes now: one 0.1.0 stored
		-- unchecked, with a character drawn as nothing or a compatibility
		-- form, folds to the identity of another it only looks like)
		SELECT c.id INTO v_customer FROM protector.customers c
		WHERE c.organization_id OPERATOR(pg_catalog.=) v.organization_id
		  AND c.identity_key OPERATOR(pg_catalog.=) v_identity
		  AND c.merged_into IS NULL AND c.user_id IS NULL AND protector_internal.email_is_valid(c.email)
		ORDER BY c.created_at, c.id LIMIT 1;
		-- an address only a record merged into another has: the record it
		-- was merged into, a guest's (the merge said they are one person;
		-- the widget made them two again, and the duplicate search, which
		-- passes over merged records, could not tell)
		IF NOT FOUND THEN
			SELECT k.id INTO v_customer FROM protector.customers c
			JOIN protector.customers k ON k.organization_id OPERATOR(pg_catalog.=) c.organization_id
									  AND k.id OPERATOR(pg_catalog.=) c.merged_into
			WHERE c.organization_id OPERATOR(pg_catalog.=) v.organization_id
			  AND c.identity_key OPERATOR(pg_catalog.=) v_identity AND protector_internal.email_is_valid(c.email)
			  AND k.merged_into IS NULL AND k.user_id IS NULL AND protector_internal.email_is_valid(k.email)
			ORDER BY c.created_at, c.id LIMIT 1;
		END IF;
		IF NOT FOUND THEN
			INSERT INTO protector.customers (organization_id, full_name, email, phone)
			VALUES (v.organization_id, v_name, v_email, v_phone)
			RETURNING id INTO v_customer;
		END IF;

		-- without auto_confirm a widget booking is a hold the venue confirms
		-- within widget_settings.confirmation_minutes (default 15); unconfirmed
		-- it stops occupying its slot
		v_booking := protector.create_booking(v_service.id, v_customer, p_start, p_party_size, v_key, p_details,
			'widget', NULL, v_hold_minutes, p_promo_code, p_voucher_code);
		IF NOT (v_booking -> 'replayed')::boolean THEN
			INSERT INTO protector_internal.widget_requests (organization_id, venue_id, identity_key, client_address, customer_id)
			VALUES (v.organization_id, v.id, v_identity, v_address, v_customer);
		END IF;
	END IF;
	-- the booking shape of the RPCs (booking_shape), without what is the
	-- venue's business: customer, notes, agent, ledger details
	RETURN (SELECT pg_catalog.jsonb_object_agg(k, v_booking -> k)
			FROM pg_catalog.unnest(ARRAY['id', 'status', 'hold_expires_at', 'start', 'end', 'timezone', 'local_start',
										 'local_end', 'party_size', 'currency', 'total_price', 'discount_amount',
										 'amount_paid', 'balance_due', 'deposit_amount', 'payment_due_by']) k)
		   -- (the booking's own service: a replay of a key first used for
		   -- another service of the venue answers with the booking made then)
		   OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
				'service', (SELECT s.name FROM protector.services s
							WHERE s.organization_id OPERATOR(pg_catalog.=) v.organization_id
							  AND s.id OPERATOR(pg_catalog.=) (v_booking ->> 'service_id')::uuid),
				'replayed', COALESCE(v_booking -> 'replayed', 'false'));
END
$$;
COMMENT ON FUNCTION protector.create_widget_booking(text, uuid, text, text, text, timestamptz, integer, text, jsonb,
													 text, text) IS
'Widget: books a slot for a visitor (customer found or created by email), with a promo code and a gift voucher; returns the booking''s public fields: id, status, times, price and what is owed';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	protector.create_booking(uuid, uuid, timestamptz, integer, text, jsonb, protector.booking_source, uuid, integer, text, text),
	protector.hold_slot(uuid, uuid, timestamptz, integer, integer, text, jsonb, protector.booking_source, text, text)
TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION
	protector.create_widget_booking(text, uuid, text, text, text, timestamptz, integer, text, jsonb, text, text)
TO anon, service_role;


-- privileges as sql/90_grants.sql gives them: no API role writes codes,
-- balances, uses or discounts
GRANT SELECT, DELETE ON protector.vouchers, protector.promo_codes TO authenticated;
GRANT INSERT (id, organization_id, customer_id, currency, amount, expires_at, note) ON protector.vouchers TO authenticated;
GRANT UPDATE (customer_id, currency, amount, expires_at, note) ON protector.vouchers TO authenticated;
GRANT INSERT (id, organization_id, description, discount_kind, discount_value, currency, valid_from, valid_until, max_uses,
			  max_uses_per_customer, service_ids, min_party_size, active) ON protector.promo_codes TO authenticated;
GRANT UPDATE (description, discount_kind, discount_value, currency, valid_from, valid_until, max_uses,
			  max_uses_per_customer, service_ids, min_party_size, active) ON protector.promo_codes TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON protector.vouchers, protector.promo_codes TO service_role;
SELECT protector.enable_audit(t) FROM unnest('{protector.vouchers, protector.promo_codes}'::regclass[]) t;

-- restores: the new tables, and the new references of bookings and payments,
-- set rows aside until what they refer to is loaded (sql/98_restore.sql)
DO $restore_codes$
DECLARE
	t record;
	v_check text;
	v_name text;
BEGIN
	FOR t IN
		SELECT pg_catalog.format('%I.%I', cn.nspname, cl.relname) AS tbl, cl.relname,
			   pg_catalog.string_agg(pg_catalog.format('(%s OR EXISTS (SELECT FROM %s r WHERE %s))',
					(SELECT pg_catalog.string_agg(pg_catalog.format('NEW.%I IS NULL', a.attname), ' OR ')
					 FROM unnest(c.conkey) k JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k),
					(SELECT pg_catalog.format('%I.%I', n.nspname, r.relname) FROM pg_catalog.pg_class r
					 JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace WHERE r.oid = c.confrelid),
					(SELECT pg_catalog.string_agg(pg_catalog.format('r.%I OPERATOR(pg_catalog.=) NEW.%I', pa.attname, a.attname), ' AND ')
					 FROM unnest(c.conkey, c.confkey) u(fk_att, pk_att)
					 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.fk_att
					 JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = u.pk_att)),
				E'\n\t   AND ' ORDER BY c.conname) AS checks
		FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class cl ON cl.oid = c.conrelid
		JOIN pg_catalog.pg_namespace cn ON cn.oid = cl.relnamespace
		WHERE c.contype = 'f' AND c.confrelid <> c.conrelid
		  AND cl.relname IN ('bookings', 'payments', 'vouchers', 'promo_codes')
		  AND c.connamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
		GROUP BY cn.nspname, cl.relname
		ORDER BY cl.relname
	LOOP
		v_name := 'restore_order_' || t.relname;
		EXECUTE pg_catalog.format($f$
			CREATE OR REPLACE FUNCTION protector_internal.%I() RETURNS trigger
			LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
			AS $body$
			BEGIN
				IF %s THEN
					RETURN NEW;
				END IF;
				INSERT INTO protector_internal.restore_pending (relid, row_data)
				VALUES (TG_RELID, pg_catalog.to_jsonb(NEW));
				RETURN NULL;
			END
			$body$$f$, v_name, t.checks);
		EXECUTE pg_catalog.format('COMMENT ON FUNCTION protector_internal.%I() IS %L', v_name,
			'Trigger, during restores only: sets a ' || t.relname || ' row aside until what it refers to is loaded');
		-- "a_" fires before every other BEFORE INSERT trigger of the table
		CONTINUE WHEN t.relname IN ('bookings', 'payments');
		EXECUTE pg_catalog.format('CREATE TRIGGER a_restore_order BEFORE INSERT ON %s FOR EACH ROW'
			' WHEN (protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.%I()', t.tbl, v_name);
	END LOOP;
	FOR t IN
		SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS tbl FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname IN ('protector', 'protector_internal')
		  AND c.relname IN ('vouchers', 'promo_codes')
		ORDER BY n.nspname, c.relname
	LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER z_insert_restored_pending AFTER INSERT ON %s FOR EACH STATEMENT'
			' WHEN (protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.insert_restored_pending()', t.tbl);
	END LOOP;
END
$restore_codes$;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;

-- The API as a front-end developer meets it (issue 13) ---------------------------

CREATE OR REPLACE FUNCTION protector.country_is_known(p_country text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_country_is_known_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector.country_is_known(text) IS
'True for an assigned ISO 3166-1 alpha-2 country code (any case)';

CREATE OR REPLACE FUNCTION protector_internal.check_country(p_country text, p_parameter text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_country IS NOT NULL
	   AND (p_country OPERATOR(pg_catalog.!~) '^[A-Z]{2}$' OR NOT protector.country_is_known(p_country)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s must be an ISO 3166 alpha-2 code such as DE', p_parameter),
			pg_catalog.format('Got "%s".', pg_catalog.left(p_country, 20)), 'Two capital letters of an assigned country code.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_country(text, text) IS
'Refuses a country that is not an assigned ISO 3166-1 alpha-2 code in capitals (22023 naming the parameter); NULL passes';

CREATE OR REPLACE FUNCTION protector.normalize_phone(p_phone text, p_country text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_normalize_phone'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.normalize_phone(text, text) IS
'Phone as digits with + and country code where known (p_country: ISO code of the number''s country; 22023 for an unassigned code)';

CREATE OR REPLACE FUNCTION protector_internal.check_slot(p_service_id uuid, p_start timestamptz, p_party_size integer,
											  p_parameter text)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'protector_validate_slot'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.check_slot(uuid, timestamptz, integer, text) IS
'validate_slot whose errors name the start as p_parameter';

CREATE OR REPLACE FUNCTION protector.reschedule_booking(p_booking_id uuid, p_new_start timestamptz,
											 p_new_service_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_service protector.services;
	v_range tstzrange;
BEGIN
	PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'bookings.reschedule', 'booking', true);
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	-- (a booking that has started keeps its start, which is past: it is
	-- corrected by a direct update, its service or its times within the
	-- past, as bookings.md says; a settled one is booked anew)
	IF v_booking.status OPERATOR(pg_catalog.<>) ALL ('{held,pending,confirmed}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s booking cannot be rescheduled', protector_internal.status_with_article(v_booking.status)),
			pg_catalog.format('Booking %s is %s; reschedule_booking moves held, pending and confirmed bookings to a time still to come.',
							  v_booking.id, v_booking.status),
			CASE WHEN v_booking.status OPERATOR(pg_catalog.=) ANY ('{cancelled,no_show}'::protector.booking_status[])
				 THEN 'Book the new time instead.'
				 ELSE 'A booking that has started is corrected by updating its row: its service, or its times within the past.' END);
	END IF;
	-- an expired hold occupies nothing, here or at a new time: moved, it
	-- would meet no booking there and be refused only when confirmed
	IF v_booking.status OPERATOR(pg_catalog.=) 'held' AND v_booking.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'the hold has expired',
			pg_catalog.format('Booking %s was held until %s.', v_booking.id, protector_internal.iso_text(v_booking.hold_expires_at)),
			'Hold the new time instead (hold_slot).');
	END IF;
	SELECT * INTO v_service FROM protector.services s
	WHERE s.id OPERATOR(pg_catalog.=) COALESCE(p_new_service_id, v_booking.service_id)
	  AND s.organization_id OPERATOR(pg_catalog.=) v_booking.organization_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found',
			'p_new_service_id is not a service of the booking''s organization.');
	END IF;
	v_range := protector_internal.check_slot(v_service.id, p_new_start, v_booking.party_size, 'p_new_start');
	-- its promo code's row before the services' locks, the order of a new
	-- booking with the code (the move may give the code's use back: the
	-- code's row written under the services' locks deadlocked with it)
	PERFORM protector_internal.lock_booking_promo_code(p_booking_id);
	-- both services' locks, in sorted order: no deadlock with a reschedule the other way
	PERFORM protector.lock_services(ARRAY[v_booking.service_id, v_service.id]);
	-- one statement: if the new slot is taken it fails and the booking
	-- keeps its slot; another service prices it again (set_booking_price)
	UPDATE protector.bookings b
	SET during = v_range, service_id = v_service.id, venue_id = v_service.venue_id
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;
	RETURN protector_internal.booking_shape(v_booking);
END
$$;
COMMENT ON FUNCTION protector.reschedule_booking(uuid, timestamptz, uuid) IS
'Moves a booking to a new start (optionally another service) atomically: if the new slot is taken the booking keeps its old one';

CREATE OR REPLACE FUNCTION protector.create_venue(
	p_organization_id uuid,
	p_name text,
	p_timezone text,
	p_description text DEFAULT NULL,
	p_address text DEFAULT NULL,
	p_city text DEFAULT NULL,
	p_region text DEFAULT NULL,
	p_country text DEFAULT NULL,
	p_postal_code text DEFAULT NULL,
	p_operating_hours jsonb DEFAULT '{}',
	p_branding jsonb DEFAULT '{}',
	p_widget_settings jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues;
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	-- (a name of Unicode spaces or invisible characters alone is refused
	-- naming the parameter, not by the table's trigger naming its column)
	PERFORM protector_internal.check_text(p_name, 'p_name', 1, 200);
	PERFORM protector.check_timezone(p_timezone, 'p_timezone');
	PERFORM protector_internal.check_text(p_description, 'p_description', 0, 5000);
	PERFORM protector_internal.check_text(p_address, 'p_address', 0, 500);
	PERFORM protector_internal.check_text(p_city, 'p_city', 0, 200);
	PERFORM protector_internal.check_text(p_region, 'p_region', 0, 200);
	PERFORM protector_internal.check_text(p_postal_code, 'p_postal_code', 0, 20);
	PERFORM protector_internal.check_country(p_country, 'p_country');
	PERFORM protector.check_operating_hours(COALESCE(p_operating_hours, '{}'));
	PERFORM protector_internal.check_settings('branding', COALESCE(p_branding, '{}'), 'p_branding');
	PERFORM protector_internal.check_settings('widget', COALESCE(p_widget_settings, '{}'), 'p_widget_settings');
	PERFORM protector_internal.authorize(p_organization_id, 'venues.manage');
	INSERT INTO protector.venues (organization_id, name, timezone, description, address, city, region,
								  country, postal_code, operating_hours, branding, widget_settings)
	VALUES (p_organization_id, btrim(p_name), p_timezone, p_description, p_address, p_city, p_region,
			p_country, p_postal_code, COALESCE(p_operating_hours, '{}'), COALESCE(p_branding, '{}'),
			COALESCE(p_widget_settings, '{}'))
	RETURNING * INTO v;
	RETURN to_jsonb(v);
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.create_venue(uuid, text, text, text, text, text, text, text, text, jsonb, jsonb, jsonb) IS
'Creates a venue (owners, admins, managers); it gets an embed key';

CREATE OR REPLACE FUNCTION protector.update_venue(p_venue_id uuid, p_changes jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues;
	v_unknown text;
	v_key text;
	v_max integer;
	v_capacity numeric;
BEGIN
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.manage', 'venue', true);
	SELECT * INTO v FROM protector.venues WHERE id = p_venue_id;
	IF p_changes IS NULL OR jsonb_typeof(p_changes) <> 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes must be a JSON object of the fields to change');
	END IF;
	v_unknown := protector_internal.names_text(ARRAY(
		SELECT k FROM pg_catalog.jsonb_object_keys(p_changes) k
		WHERE k OPERATOR(pg_catalog.<>) ALL ('{name,description,address,city,region,country,postal_code,timezone,capacity,branding,widget_settings,active}')
		ORDER BY k));
	IF v_unknown IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', format('p_changes has fields that cannot be changed here: %s', v_unknown),
			NULL, 'Opening hours change through update_venue_schedule, the embed key through rotate_embed_key.');
	END IF;
	-- texts are JSON strings (->> would store an array's or a number's JSON text)
	SELECT x INTO v_key FROM pg_catalog.jsonb_object_keys(p_changes) x
	WHERE x = ANY ('{name,description,address,city,region,country,postal_code,timezone}')
	  AND jsonb_typeof(p_changes -> x) NOT IN ('string', 'null')
	ORDER BY x LIMIT 1;
	IF v_key IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', format('p_changes.%s has a value of the wrong type', v_key),
			format('A JSON string is expected (got %s).', left((p_changes -> v_key)::text, 100)));
	END IF;
	-- (a zone sent back unchanged passes: the row took it once)
	IF p_changes ? 'timezone' AND (p_changes ->> 'timezone') IS DISTINCT FROM v.timezone THEN
		PERFORM protector.check_timezone(p_changes ->> 'timezone', 'p_changes.timezone');
	END IF;
	PERFORM protector_internal.check_country(p_changes ->> 'country', 'p_changes.country');
	FOR v_key, v_max IN VALUES ('description', 5000), ('address', 500), ('city', 200), ('region', 200), ('postal_code', 20) LOOP
		PERFORM protector_internal.check_text(p_changes ->> v_key, 'p_changes.' || v_key, 0, v_max);
	END LOOP;
	-- settings objects are merged (RFC 7386: a null removes a key), then
	-- checked by the keys the change changes (a key stored before 0.2.0
	-- checked settings stays writable around, as the row trigger judges it)
	IF p_changes ? 'branding' THEN
		p_changes := pg_catalog.jsonb_set(p_changes, '{branding}', protector.merge_patch(v.branding, p_changes -> 'branding'));
		PERFORM protector_internal.check_settings('branding',
			protector_internal.changed_settings(p_changes -> 'branding', v.branding), 'p_changes.branding');
	END IF;
	IF p_changes ? 'widget_settings' THEN
		p_changes := pg_catalog.jsonb_set(p_changes, '{widget_settings}',
										   protector.merge_patch(v.widget_settings, p_changes -> 'widget_settings'));
		PERFORM protector_internal.check_settings('widget',
			protector_internal.changed_settings(p_changes -> 'widget_settings', v.widget_settings), 'p_changes.widget_settings');
	END IF;
	-- (a name stored before, sent back unchanged, stays writable around it)
	IF p_changes ? 'name' AND (p_changes ->> 'name') IS DISTINCT FROM v.name THEN
		PERFORM protector_internal.check_text(p_changes ->> 'name', 'p_changes.name', 1, 200);
	END IF;
	-- named here, not by the column's cast or CHECK (whose text names the
	-- table and constraint); a number, or a string that reads as one, as
	-- update_service takes its numbers
	v_capacity := protector_internal.json_amount(p_changes -> 'capacity');
	IF p_changes ? 'capacity' AND jsonb_typeof(p_changes -> 'capacity') <> 'null'
	   AND (v_capacity IS NULL OR v_capacity NOT BETWEEN 1 AND 2147483647 OR v_capacity <> trunc(v_capacity)) THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.capacity must be a whole number from 1, or null',
			format('Got %s.', left((p_changes -> 'capacity')::text, 100)));
	END IF;
	IF p_changes ? 'active' AND jsonb_typeof(p_changes -> 'active') IS DISTINCT FROM 'boolean' THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.active must be true or false',
			format('Got %s.', left((p_changes -> 'active')::text, 100)));
	END IF;
	BEGIN
		UPDATE protector.venues SET
			name = CASE WHEN p_changes ? 'name' THEN btrim(p_changes ->> 'name') ELSE name END,
			description = CASE WHEN p_changes ? 'description' THEN p_changes ->> 'description' ELSE description END,
			address = CASE WHEN p_changes ? 'address' THEN p_changes ->> 'address' ELSE address END,
			city = CASE WHEN p_changes ? 'city' THEN p_changes ->> 'city' ELSE city END,
			region = CASE WHEN p_changes ? 'region' THEN p_changes ->> 'region' ELSE region END,
			country = CASE WHEN p_changes ? 'country' THEN p_changes ->> 'country' ELSE country END,
			postal_code = CASE WHEN p_changes ? 'postal_code' THEN p_changes ->> 'postal_code' ELSE postal_code END,
			timezone = CASE WHEN p_changes ? 'timezone' THEN p_changes ->> 'timezone' ELSE timezone END,
			-- (through numeric: 40.0 passed the check above as a whole number)
			capacity = CASE WHEN p_changes ? 'capacity' THEN v_capacity::integer ELSE capacity END,
			branding = CASE WHEN p_changes ? 'branding' THEN p_changes -> 'branding' ELSE branding END,
			widget_settings = CASE WHEN p_changes ? 'widget_settings' THEN p_changes -> 'widget_settings' ELSE widget_settings END,
			active = CASE WHEN p_changes ? 'active' THEN (p_changes ->> 'active')::boolean ELSE active END
		WHERE id = v.id
		RETURNING * INTO v;
	EXCEPTION
		WHEN check_violation OR not_null_violation OR invalid_text_representation OR numeric_value_out_of_range THEN
			PERFORM protector.raise('invalid_parameter', 'p_changes has a value the venue cannot take', SQLERRM);
	END;
	RETURN to_jsonb(v);
END
$$;
COMMENT ON FUNCTION protector.update_venue(uuid, jsonb) IS
'Changes the given fields of a venue (name, address, time zone, branding, widget settings, active, ...); branding and widget settings are merged (RFC 7386)';

CREATE OR REPLACE FUNCTION protector.find_duplicate_customers(p_organization_id uuid)
RETURNS TABLE (group_no integer, reason text, customer_ids uuid[], full_names text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'customers.find_duplicates');
	RETURN QUERY
	WITH c AS (
		SELECT id, full_name, created_at, identity_key,
			   -- (a phone saved before phones were checked may be longer than
			   -- normalize_phone takes: it matches by its last digits only)
			   CASE WHEN octet_length(phone) <= 100
					THEN protector.normalize_phone(phone, CASE WHEN protector.country_is_known(country) THEN country END)
			   END AS phone_key,
			   -- (and a name saved before names were trimmed may carry more
			   -- spaces than normalize_name takes: 0.1.0's CHECK measured it
			   -- trimmed; one still too long matches by e-mail or phone)
			   CASE WHEN octet_length(btrim(full_name)) <= 1280
					THEN protector.normalize_name(btrim(full_name))
			   END AS name_key,
			   right(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), 4) AS phone_tail
		FROM protector.customers
		WHERE organization_id = p_organization_id AND merged_into IS NULL
	), g AS (
		SELECT 'same email' AS why, array_agg(id ORDER BY created_at, id) AS ids,
			   array_agg(full_name ORDER BY created_at, id) AS names
		FROM c WHERE identity_key IS NOT NULL GROUP BY identity_key HAVING count(*) > 1
		UNION ALL
		SELECT 'same phone', array_agg(id ORDER BY created_at, id), array_agg(full_name ORDER BY created_at, id)
		FROM c WHERE phone_key IS NOT NULL GROUP BY phone_key HAVING count(*) > 1
		UNION ALL
		SELECT 'same name and phone ending', array_agg(id ORDER BY created_at, id), array_agg(full_name ORDER BY created_at, id)
		FROM c WHERE name_key IS NOT NULL AND length(phone_tail) = 4
		GROUP BY name_key, phone_tail HAVING count(*) > 1
	)
	SELECT (row_number() OVER (ORDER BY g.ids[1], g.why))::integer, g.why, g.ids, g.names FROM g
	ORDER BY 1;
END
$$;
COMMENT ON FUNCTION protector.find_duplicate_customers(uuid) IS
'Likely duplicate customers: same identity key (email), same normalized phone, or same normalized name and last 4 phone digits';

CREATE OR REPLACE FUNCTION protector_internal.enforce_status_transition()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tz text;
	v_early boolean;			-- marked as begun before it has
	v_late boolean;				-- over, yet moved to end later
BEGIN
	-- a hold made a booking waits no more, whoever confirms it (as
	-- confirm_booking writes it; a direct confirmation, a webhook's too,
	-- kept its expiry, which notifications showed as a confirm-by time)
	IF OLD.status OPERATOR(pg_catalog.=) 'held' AND NEW.status OPERATOR(pg_catalog.=) ANY ('{pending,confirmed}'::protector.booking_status[]) THEN
		NEW.hold_expires_at := NULL;
	END IF;
	-- a cancellation has its time, whoever cancels (a webhook's PATCH to
	-- cancelled left none; a trusted caller's own time stays, staff's is
	-- the database's: guard_booking_write)
	IF NEW.status OPERATOR(pg_catalog.=) 'cancelled' AND OLD.status OPERATOR(pg_catalog.<>) 'cancelled'
	   AND NEW.cancelled_at IS NULL THEN
		NEW.cancelled_at := pg_catalog.now();
	END IF;
	IF protector_internal.caller_is_trusted() THEN
		RETURN NEW;
	END IF;
	IF NOT protector.booking_transition_allowed(OLD.status, NEW.status) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s booking cannot become %s', protector_internal.status_with_article(OLD.status), NEW.status),
			pg_catalog.format('Booking %s is %s.', OLD.id, OLD.status),
			'See the booking life cycle in docs/bookings.md.');
	END IF;
	-- what happens at the venue happens once the booking has started (and
	-- a booking it happened to is not moved to a time still to come); nor
	-- does a booking that is over take time still to come it did not
	-- take: moved to start a second ago, a completed booking held the next
	-- hour's slot (one completed early keeps the rest of its own)
	-- (a NULL during is its NOT NULL constraint's to refuse)
	v_early := COALESCE(NEW.status OPERATOR(pg_catalog.=) ANY ('{in_progress,completed,no_show}'::protector.booking_status[])
						AND pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.>) pg_catalog.now(), false);
	v_late := COALESCE(NEW.status OPERATOR(pg_catalog.=) ANY ('{completed,no_show}'::protector.booking_status[])
					   AND NEW.during IS DISTINCT FROM OLD.during
					   AND pg_catalog.upper(NEW.during) OPERATOR(pg_catalog.>) GREATEST(pg_catalog.now(), pg_catalog.upper(OLD.during)), false);
	IF NOT (v_early OR v_late) THEN
		RETURN NEW;
	END IF;
	-- (the messages' local times: the venue's)
	SELECT v.timezone INTO v_tz FROM protector.venues v
	WHERE v.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND v.id OPERATOR(pg_catalog.=) NEW.venue_id;
	v_tz := COALESCE(v_tz, 'UTC');
	IF v_early THEN
		PERFORM protector.raise('invalid_parameter',
			CASE WHEN OLD.status OPERATOR(pg_catalog.=) NEW.status
				 THEN pg_catalog.format('%s booking cannot be moved to a time still to come', protector_internal.status_with_article(NEW.status))
				 ELSE pg_catalog.format('a booking cannot become %s before it starts', NEW.status) END,
			pg_catalog.format('Booking %s starts at %s local time (%s).', OLD.id,
							  pg_catalog.to_char(protector_internal.local_time(v_tz, pg_catalog.lower(NEW.during)), 'YYYY-MM-DD HH24:MI:SS'), v_tz),
			'Mark it once it has started, or cancel it.');
	END IF;
	PERFORM protector.raise('invalid_parameter',
		pg_catalog.format('%s booking cannot be moved to a time still to come', protector_internal.status_with_article(NEW.status)),
		pg_catalog.format('Booking %s would end at %s local time (%s), later than now and than its end before.', OLD.id,
						  pg_catalog.to_char(protector_internal.local_time(v_tz, pg_catalog.upper(NEW.during)), 'YYYY-MM-DD HH24:MI:SS'), v_tz),
		'Correct it within the past.');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.enforce_status_transition() IS
'Trigger: booking status changes follow the state machine, and in_progress, completed and no_show only once the booking has started, a booking that is over taking no time still to come (trusted callers may correct anything); a hold confirmed loses its expiry';

CREATE OR REPLACE FUNCTION protector.calculate_customer_ltv(p_customer_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	x jsonb := protector.get_customer_rfm_score(p_customer_id);
	c protector.customers;
	v_first timestamptz;
	v_last timestamptz;
	v_org_lifespan numeric;
	v_age_years numeric;
	v_lifespan_years numeric;
	v_aov numeric;
	v_per_year numeric;
	v_remaining numeric;
BEGIN
	SELECT * INTO c FROM protector.customers WHERE id = p_customer_id;
	-- first and last qualifying booking per customer, once: this
	-- customer's span, and how long customers who came back stay
	WITH spans AS (
		SELECT b.customer_id, min(lower(b.during)) AS f, max(lower(b.during)) AS l, count(*) AS n
		FROM protector.bookings b
		WHERE b.organization_id = c.organization_id AND b.customer_id IS NOT NULL
		  AND b.status IN ('confirmed', 'in_progress', 'completed') AND lower(b.during) <= now()
		GROUP BY b.customer_id)
	SELECT (SELECT f FROM spans WHERE customer_id = c.id), (SELECT l FROM spans WHERE customer_id = c.id),
		   (SELECT avg(extract(epoch FROM l - f) / 86400 / 365.25) FROM spans WHERE n >= 2)
	INTO v_first, v_last, v_org_lifespan;
	v_org_lifespan := COALESCE(NULLIF(v_org_lifespan, 0), 1);

	IF (x ->> 'frequency')::bigint = 0 THEN
		v_aov := 0; v_per_year := 0; v_remaining := v_org_lifespan; v_lifespan_years := 0;
	ELSE
		v_aov := (x ->> 'monetary')::numeric / (x ->> 'frequency')::bigint;
		v_age_years := extract(epoch FROM now() - v_first) / 86400 / 365.25;
		v_per_year := (x ->> 'frequency')::bigint / GREATEST(v_age_years, 1);
		v_lifespan_years := extract(epoch FROM v_last - v_first) / 86400 / 365.25;
		-- churn is memoryless: a customer still booking has the whole
		-- expected lifespan ahead, however long they have stayed (the old
		-- "expected - stayed" predicted 0 for every regular)
		v_remaining := v_org_lifespan;
	END IF;
	RETURN jsonb_build_object(
		'customer_id', c.id,
		'currency', (SELECT o.currency FROM protector.organizations o WHERE o.id = c.organization_id),
		'historic_value', (x ->> 'monetary')::numeric,
		'bookings', (x ->> 'frequency')::bigint,
		-- (money: to the cent, half to even, as every amount computed)
		'average_order_value', protector.round_money(v_aov),
		'bookings_per_year', round(v_per_year, 4),
		'customer_lifespan_years', round(v_lifespan_years, 4),
		'expected_lifespan_years', round(v_org_lifespan, 4),
		'expected_remaining_years', round(v_remaining, 4),
		'predicted_12_month_value', protector.round_money(v_aov * v_per_year * LEAST(v_remaining, 1)));
END
$$;
COMMENT ON FUNCTION protector.calculate_customer_ltv(uuid) IS
'Historic value and predicted 12-month value (average order x bookings per year x min(1, expected remaining years))';

REVOKE ALL ON FUNCTION protector.country_is_known(text), protector_internal.check_country(text, text),
	protector_internal.check_slot(uuid, timestamptz, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector.country_is_known(text) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION
	protector_internal.check_slot(uuid, timestamptz, integer, text),
	protector_internal.check_country(text, text)
TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.booking_shape(p_booking protector.bookings, p_replayed boolean DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'protector_booking_shape'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.booking_shape(protector.bookings, boolean) IS
'A booking as the RPCs answer with it: its columns, start and end in UTC (ISO 8601), local_start, local_end and the venue''s timezone (as the caller sees the venue, else UTC), and replayed unless p_replayed is NULL';

CREATE OR REPLACE FUNCTION protector.confirm_booking(p_booking_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_staff boolean;
BEGIN
	PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'bookings.confirm', 'booking', true, true);
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	IF v_booking.status OPERATOR(pg_catalog.=) 'confirmed' THEN
		RETURN protector_internal.booking_shape(v_booking);
	END IF;
	v_staff := protector_internal.caller_is_trusted()
			   OR v_booking.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.confirm'));
	IF v_booking.status OPERATOR(pg_catalog.<>) 'held'
	   AND NOT (v_booking.status OPERATOR(pg_catalog.=) 'pending' AND v_staff) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s booking cannot be confirmed%s', protector_internal.status_with_article(v_booking.status),
				CASE WHEN v_booking.status OPERATOR(pg_catalog.=) 'pending' THEN ' by its customer' ELSE '' END),
			NULL, 'Only held bookings (and, by staff, pending ones) can be confirmed.');
	END IF;
	-- an expired hold is re-checked by the reservation trigger: it is
	-- confirmed only if its slot is still free
	UPDATE protector.bookings b SET status = 'confirmed', hold_expires_at = NULL
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;
	RETURN protector_internal.booking_shape(v_booking);
END
$$;
COMMENT ON FUNCTION protector.confirm_booking(uuid) IS
'Turns a held booking (or, for staff, a pending one) into a confirmed booking';

CREATE OR REPLACE FUNCTION protector.get_customer_rfm_score(p_customer_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c protector.customers;
	v jsonb;
BEGIN
	PERFORM protector_internal.authorize_row('protector.customers', p_customer_id, 'analytics.customer', 'customer');
	SELECT * INTO c FROM protector.customers WHERE id = p_customer_id;
	IF c.merged_into IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'this customer was merged into another',
			format('Ask for customer %s instead.', c.merged_into));
	END IF;
	SELECT jsonb_build_object('customer_id', x.customer_id, 'recency_days', x.recency_days,
							  'frequency', x.frequency, 'monetary', x.monetary,
							  'currency', (SELECT o.currency FROM protector.organizations o WHERE o.id = c.organization_id),
							  'r', x.r, 'f', x.f, 'm', x.m,
							  'fm', CASE WHEN x.f IS NOT NULL THEN round((x.f + x.m) / 2.0, 1) END,
							  'segment', x.segment)
	INTO v
	FROM protector.get_customer_rfm_scores(c.organization_id) x
	WHERE x.customer_id = c.id;
	RETURN v;
END
$$;
COMMENT ON FUNCTION protector.get_customer_rfm_score(uuid) IS
'Recency, frequency, monetary, their 1-5 scores within the organization, and the RFM segment of a customer';

REVOKE ALL ON FUNCTION protector_internal.booking_shape(protector.bookings, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.booking_shape(protector.bookings, boolean) TO authenticated, service_role;

-- (a value's text as a message quotes it: the settings' checks, check_price)
CREATE FUNCTION protector_internal.quoted_text(p_text text, p_max integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.length(p_text) OPERATOR(pg_catalog.<=) p_max THEN p_text
			ELSE pg_catalog.left(p_text, p_max) OPERATOR(pg_catalog.||) '...' END;
COMMENT ON FUNCTION protector_internal.quoted_text(text, integer) IS
'A value''s text as a message quotes it: cut after p_max characters, ending "..." where cut';
GRANT EXECUTE ON FUNCTION protector_internal.quoted_text(text, integer) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.check_setting_number(p_value jsonb, p_path text, p_min numeric, p_max numeric,
														p_integer boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a key that is missing is no number either: p_value NULL)
	IF p_value IS NULL OR pg_catalog.jsonb_typeof(p_value) OPERATOR(pg_catalog.<>) 'number'
	   OR (p_value #>> '{}')::numeric NOT BETWEEN p_min AND p_max
	   OR (p_integer AND (p_value #>> '{}')::numeric OPERATOR(pg_catalog.<>) pg_catalog.trunc((p_value #>> '{}')::numeric)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s must be %s from %s to %s', p_path, CASE WHEN p_integer THEN 'an integer' ELSE 'a number' END,
							  p_min, p_max),
			pg_catalog.format('Got %s.', COALESCE(protector_internal.quoted_text(p_value::text, 100), 'nothing')));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_setting_number(jsonb, text, numeric, numeric, boolean) IS
'Refuses a setting that is not a number (integer) in [p_min, p_max], naming its path (22023)';

CREATE OR REPLACE FUNCTION protector_internal.check_setting_keys(p_value jsonb, p_path text, p_keys text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_unknown text;
BEGIN
	IF pg_catalog.jsonb_typeof(p_value) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be a JSON object', p_path),
			pg_catalog.format('Got %s.', protector_internal.quoted_text(p_value::text, 100)));
	END IF;
	-- a set difference (hashed), not "<> ALL" per key: that compared every
	-- key with every allowed one, and both lists come from the caller
	SELECT x.k INTO v_unknown
	FROM (SELECT k FROM pg_catalog.jsonb_object_keys(p_value) k
		  EXCEPT SELECT a FROM pg_catalog.unnest(p_keys) a) x
	ORDER BY x.k LIMIT 1;
	IF FOUND THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s.%s is not a setting', p_path, pg_catalog.left(v_unknown, 100)),
			pg_catalog.format('%s takes %s.', p_path, pg_catalog.array_to_string(p_keys, ', ')),
			'See docs/settings.md; keep data of your own under "custom".');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_setting_keys(jsonb, text, text[]) IS
'Refuses a setting that is not an object of the given keys, naming the first unknown key (22023)';


CREATE OR REPLACE FUNCTION protector_internal.check_settings(p_kind text, p_settings jsonb, p_path text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k text;
	v jsonb;
	p text;
	t jsonb;
	i integer := 0;
BEGIN
	PERFORM protector_internal.check_setting_keys(p_settings, p_path, CASE p_kind
		WHEN 'organization' THEN '{reminders,staff,customers,custom}'::text[]
		WHEN 'widget' THEN '{auto_confirm,confirmation_minutes,bookings_per_minute,visitor_bookings_per_hour,address_bookings_per_hour,custom}'
		WHEN 'branding' THEN '{color,accent_color,background_color,text_color,logo_url,font,custom}'
		WHEN 'service' THEN '{refund_policy,cancellation_fees,no_show_fee_percent,deposit,custom}' END);
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(p_settings) LOOP
		p := p_path OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) k;
		CASE
		WHEN k OPERATOR(pg_catalog.=) 'custom' THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'object' THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be a JSON object', p));
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'auto_confirm' THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'boolean' THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be true or false', p),
					pg_catalog.format('Got %s.', protector_internal.quoted_text(v::text, 100)));
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'confirmation_minutes' THEN
			PERFORM protector_internal.check_setting_number(v, p, 1, 1440, true);
		WHEN k OPERATOR(pg_catalog.=) 'bookings_per_minute' THEN
			PERFORM protector_internal.check_setting_number(v, p, 0, 100000, true);
		WHEN k OPERATOR(pg_catalog.=) ANY ('{visitor_bookings_per_hour,address_bookings_per_hour}') THEN
			PERFORM protector_internal.check_setting_number(v, p, 1, 100000, true);
		WHEN k OPERATOR(pg_catalog.=) ANY ('{color,accent_color,background_color,text_color}') THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'string'
			   OR (v #>> '{}') OPERATOR(pg_catalog.!~) '^#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$' THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be a colour like "#1a2b3c"', p),
					pg_catalog.format('Got %s.', protector_internal.quoted_text(v::text, 100)));
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'logo_url' THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'string'
			   OR pg_catalog.length(v #>> '{}') OPERATOR(pg_catalog.>) 2000
			   -- (a regex bound is at most 255: the length is counted apart;
			   -- printable ASCII but for the quote and angle brackets, by code
			   -- point: [:space:] and [:cntrl:] follow the database's ctype, so
			   -- one database took a no-break space another refused, and each
			   -- took a right-to-left override the widget then showed)
			   OR (v #>> '{}') OPERATOR(pg_catalog.!~) '^https://[!#-;=?-~]+$' THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be an https:// URL of at most 2000 characters', p),
					pg_catalog.format('Got %s.', protector_internal.quoted_text(v::text, 100)),
					'Write it in printable ASCII, without spaces, quotes or angle brackets: percent-encode other characters of the path, and write an international domain name in its xn-- form.');
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'font' THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'string'
			   OR pg_catalog.length(v #>> '{}') NOT BETWEEN 1 AND 100
			   OR protector_internal.trim_spaces(v #>> '{}') OPERATOR(pg_catalog.=) ''
			   OR NOT protector_internal.text_is_clean(v #>> '{}') THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be a font name of 1 to 100 plain characters', p));
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'refund_policy' THEN
			PERFORM protector_internal.check_setting_keys(v, p, '{full_refund_hours,late_refund_percent}');
			IF v ? 'full_refund_hours' THEN
				PERFORM protector_internal.check_setting_number(v -> 'full_refund_hours', p OPERATOR(pg_catalog.||) '.full_refund_hours', 0, 8760);
			END IF;
			IF v ? 'late_refund_percent' THEN
				PERFORM protector_internal.check_setting_number(v -> 'late_refund_percent', p OPERATOR(pg_catalog.||) '.late_refund_percent', 0, 100);
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'cancellation_fees' THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'array' OR pg_catalog.jsonb_array_length(v) OPERATOR(pg_catalog.>) 20 THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be an array of at most 20 tiers', p),
					'Each tier is {"within_hours": h, "fee_percent": f}.');
			END IF;
			FOR t IN SELECT x FROM pg_catalog.jsonb_array_elements(v) x LOOP
				PERFORM protector_internal.check_setting_keys(t, pg_catalog.format('%s[%s]', p, i), '{within_hours,fee_percent}');
				PERFORM protector_internal.check_setting_number(t -> 'within_hours', pg_catalog.format('%s[%s].within_hours', p, i), 0, 8760);
				PERFORM protector_internal.check_setting_number(t -> 'fee_percent', pg_catalog.format('%s[%s].fee_percent', p, i), 0, 100);
				i := i OPERATOR(pg_catalog.+) 1;
			END LOOP;
			-- (two tiers of one window: which fee applied hung on their order)
			IF (SELECT pg_catalog.count(DISTINCT (x #>> '{within_hours}')::numeric) FROM pg_catalog.jsonb_array_elements(v) x)
			   OPERATOR(pg_catalog.<>) pg_catalog.jsonb_array_length(v) THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must not repeat a within_hours', p),
					pg_catalog.format('Got %s.', protector_internal.quoted_text(v::text, 200)),
					'One fee per window: the smallest window the cancellation falls within applies.');
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'customers' THEN
			PERFORM protector_internal.check_setting_keys(v, p, '{open_requests,messages_per_hour,bookings_per_hour}');
			IF v ? 'open_requests' THEN
				PERFORM protector_internal.check_setting_number(v -> 'open_requests', p OPERATOR(pg_catalog.||) '.open_requests',
																1, 1000, true);
			END IF;
			IF v ? 'messages_per_hour' THEN
				PERFORM protector_internal.check_setting_number(v -> 'messages_per_hour',
																p OPERATOR(pg_catalog.||) '.messages_per_hour', 1, 1000, true);
			END IF;
			IF v ? 'bookings_per_hour' THEN
				PERFORM protector_internal.check_setting_number(v -> 'bookings_per_hour',
																p OPERATOR(pg_catalog.||) '.bookings_per_hour', 1, 1000, true);
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'staff' THEN
			PERFORM protector_internal.check_setting_keys(v, p, '{require_shifts}');
			IF v ? 'require_shifts' AND pg_catalog.jsonb_typeof(v -> 'require_shifts') OPERATOR(pg_catalog.<>) 'boolean' THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s.require_shifts must be true or false', p),
					pg_catalog.format('Got %s.', protector_internal.quoted_text((v -> 'require_shifts')::text, 100)));
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'reminders' THEN
			PERFORM protector_internal.check_setting_keys(v, p, '{offsets_minutes,max_attempts}');
			IF v ? 'offsets_minutes' THEN
				IF pg_catalog.jsonb_typeof(v -> 'offsets_minutes') OPERATOR(pg_catalog.<>) 'array'
				   OR pg_catalog.jsonb_array_length(v -> 'offsets_minutes') OPERATOR(pg_catalog.>) 10 THEN
					PERFORM protector.raise('invalid_parameter',
						pg_catalog.format('%s.offsets_minutes must be an array of at most 10 offsets', p),
						pg_catalog.format('Got %s.', protector_internal.quoted_text((v -> 'offsets_minutes')::text, 100)),
						'Minutes before the start, e.g. [1440, 60] for 24 hours and 1 hour.');
				END IF;
				FOR t IN SELECT x FROM pg_catalog.jsonb_array_elements(v -> 'offsets_minutes') x LOOP
					PERFORM protector_internal.check_setting_number(t, pg_catalog.format('%s.offsets_minutes[%s]', p, i),
																	1, 43200, true);
					i := i OPERATOR(pg_catalog.+) 1;
				END LOOP;
				IF (SELECT pg_catalog.count(DISTINCT x) FROM pg_catalog.jsonb_array_elements(v -> 'offsets_minutes') x)
				   OPERATOR(pg_catalog.<>) pg_catalog.jsonb_array_length(v -> 'offsets_minutes') THEN
					PERFORM protector.raise('invalid_parameter',
						pg_catalog.format('%s.offsets_minutes must not repeat an offset', p),
						pg_catalog.format('Got %s.', protector_internal.quoted_text((v -> 'offsets_minutes')::text, 100)));
				END IF;
			END IF;
			IF v ? 'max_attempts' THEN
				PERFORM protector_internal.check_setting_number(v -> 'max_attempts', p OPERATOR(pg_catalog.||) '.max_attempts', 1, 20, true);
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'no_show_fee_percent' THEN
			PERFORM protector_internal.check_setting_number(v, p, 0, 100);
		WHEN k OPERATOR(pg_catalog.=) 'deposit' THEN
			PERFORM protector_internal.check_setting_keys(v, p, '{percent,amount,deadline_hours}');
			IF (v ? 'percent') OPERATOR(pg_catalog.=) (v ? 'amount') THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s needs either percent or amount', p),
					CASE WHEN v ? 'percent' THEN 'It has both: a merge patch keeps the key it does not name.' END,
					'A deposit is a percentage of the price or a fixed amount, not both; to switch through a merge patch, set the other to null, e.g. {"deposit": {"amount": 50, "percent": null}}.');
			END IF;
			IF v ? 'percent' THEN
				PERFORM protector_internal.check_setting_number(v -> 'percent', p OPERATOR(pg_catalog.||) '.percent', 0, 100);
			ELSE
				-- (in cents, as every price: 0.004 was a deposit of nothing
				-- that confirmed the booking)
				PERFORM protector_internal.check_setting_number(v -> 'amount', p OPERATOR(pg_catalog.||) '.amount', 0, 9999999999.99);
				IF (v #>> '{amount}')::numeric OPERATOR(pg_catalog.<>) pg_catalog.round((v #>> '{amount}')::numeric, 2) THEN
					PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s.amount must be in cents', p),
						pg_catalog.format('Got %s.', protector_internal.quoted_text((v -> 'amount')::text, 100)), 'At most two decimals.');
				END IF;
			END IF;
			IF v ? 'deadline_hours' THEN
				-- (more than none: due at once, expire_holds cancelled the
				-- booking at its next run)
				-- (its bounds said in hours as the docs say them: 1/60 in
				-- decimals never ends, and 0 is no bound)
				IF pg_catalog.jsonb_typeof(v -> 'deadline_hours') OPERATOR(pg_catalog.<>) 'number'
				   OR (v #>> '{deadline_hours}')::numeric OPERATOR(pg_catalog.>) 8760 THEN
					PERFORM protector.raise('invalid_parameter',
						pg_catalog.format('%s.deadline_hours must be a number of hours from a minute (1/60) to 8760', p),
						pg_catalog.format('Got %s.', protector_internal.quoted_text((v -> 'deadline_hours')::text, 30)));
				ELSIF (v #>> '{deadline_hours}')::numeric OPERATOR(pg_catalog.*) 60 OPERATOR(pg_catalog.<) 1 THEN
					PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s.deadline_hours must be at least a minute (1/60)', p),
						pg_catalog.format('Got %s: the deposit would be due at once, and the next expire_holds run would cancel the booking.',
										  protector_internal.quoted_text((v -> 'deadline_hours')::text, 30)),
						'Give the customer time to pay, e.g. 0.5 for half an hour.');
				END IF;
			END IF;
		ELSE
			NULL;			-- (every key was checked against the kind's list above)
		END CASE;
	END LOOP;
END
$$;
COMMENT ON FUNCTION protector_internal.check_settings(text, jsonb, text) IS
'Refuses a settings object (organization, widget, branding, service) with an unknown key or a bad value, naming the key (22023; docs/settings.md)';

-- (what settings and service changes are judged by, before the triggers
-- that ask them)
CREATE OR REPLACE FUNCTION protector_internal.changed_settings(p_new jsonb, p_old jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pg_catalog.jsonb_typeof(p_new) IS DISTINCT FROM 'object' OR pg_catalog.jsonb_typeof(p_old) IS DISTINCT FROM 'object' THEN
		RETURN p_new;
	END IF;
	RETURN COALESCE((SELECT pg_catalog.jsonb_object_agg(n.key, n.value) FROM pg_catalog.jsonb_each(p_new) n
					 WHERE (p_old OPERATOR(pg_catalog.->) n.key) IS DISTINCT FROM n.value), '{}');
END
$$;
COMMENT ON FUNCTION protector_internal.changed_settings(jsonb, jsonb) IS
'The top-level keys of p_new whose values differ from p_old''s (p_new whole when either is no object): what a settings change is judged by';

CREATE OR REPLACE FUNCTION protector_internal.service_changes(p_new protector.services, p_old protector.services)
RETURNS protector.services
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services := p_new;
BEGIN
	IF p_new.name IS NOT DISTINCT FROM p_old.name THEN s.name := 'x'; END IF;
	IF p_new.description IS NOT DISTINCT FROM p_old.description THEN s.description := NULL; END IF;
	IF p_new.duration IS NOT DISTINCT FROM p_old.duration THEN s.duration := interval '1 hour'; END IF;
	IF (p_new.capacity, p_new.min_party, p_new.max_party, p_new.mode)
	   IS NOT DISTINCT FROM (p_old.capacity, p_old.min_party, p_old.max_party, p_old.mode) THEN
		s.capacity := 1;
		s.min_party := 1;
		s.max_party := NULL;
		s.mode := 'exclusive';
	END IF;
	IF p_new.buffer_before IS NOT DISTINCT FROM p_old.buffer_before THEN s.buffer_before := interval '0'; END IF;
	IF p_new.buffer_after IS NOT DISTINCT FROM p_old.buffer_after THEN s.buffer_after := interval '0'; END IF;
	IF p_new.slot_interval IS NOT DISTINCT FROM p_old.slot_interval THEN s.slot_interval := interval '1 hour'; END IF;
	IF (p_new.min_notice, p_new.max_advance) IS NOT DISTINCT FROM (p_old.min_notice, p_old.max_advance) THEN
		s.min_notice := interval '0';
		s.max_advance := interval '1 day';
	END IF;
	IF p_new.price IS NOT DISTINCT FROM p_old.price THEN s.price := 0; END IF;
	IF p_new.price_per_person IS NOT DISTINCT FROM p_old.price_per_person THEN s.price_per_person := 0; END IF;
	IF p_new.currency IS NOT DISTINCT FROM p_old.currency THEN s.currency := 'EUR'; END IF;
	s.settings := protector_internal.changed_settings(p_new.settings, p_old.settings);
	RETURN s;
END
$$;
COMMENT ON FUNCTION protector_internal.service_changes(protector.services, protector.services) IS
'What a change of a service brings (changed columns, limits together, changed settings keys), unchanged ones neutral: for check_service';

-- a value's size uncompressed, for the 8 kB limits (src/constraints.c) and
-- the settings' 64 kB (check_settings_size, next)
CREATE FUNCTION protector_internal.value_size(jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'protector_value_size'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.value_size(jsonb) IS
'The size of a jsonb value uncompressed, in bytes (pg_column_size() of it when it is not compressed)';
GRANT EXECUTE ON FUNCTION protector_internal.value_size(jsonb) TO authenticated, service_role;

-- A settings object is at most 64 kB (before check_settings_columns, which
-- asks it, and the upgrade's writes of settings below)
CREATE FUNCTION protector_internal.check_settings_size(p_new jsonb, p_old jsonb, p_path text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_size integer := protector_internal.value_size(p_new);
BEGIN
	IF v_size OPERATOR(pg_catalog.>) 65536 AND v_size OPERATOR(pg_catalog.>) COALESCE(protector_internal.value_size(p_old), 0) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s is too large', p_path),
			pg_catalog.format('It takes %s bytes; at most 65536 are accepted.', v_size),
			'Keep custom small: store large content elsewhere and name it there.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_settings_size(jsonb, jsonb, text) IS
'Refuses a settings object over 64 kB that a change grows (22023 naming it)';
GRANT EXECUTE ON FUNCTION protector_internal.check_settings_size(jsonb, jsonb, text) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.check_settings_columns()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'venues' THEN
		IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
			PERFORM protector_internal.check_settings_size(NEW.widget_settings, NULL, 'widget_settings');
			PERFORM protector_internal.check_settings_size(NEW.branding, NULL, 'branding');
			PERFORM protector_internal.check_settings('widget', NEW.widget_settings, 'widget_settings');
			PERFORM protector_internal.check_settings('branding', NEW.branding, 'branding');
		ELSE
			IF NEW.widget_settings IS DISTINCT FROM OLD.widget_settings THEN
				PERFORM protector_internal.check_settings_size(NEW.widget_settings, OLD.widget_settings, 'widget_settings');
				PERFORM protector_internal.check_settings('widget',
					protector_internal.changed_settings(NEW.widget_settings, OLD.widget_settings), 'widget_settings');
			END IF;
			IF NEW.branding IS DISTINCT FROM OLD.branding THEN
				PERFORM protector_internal.check_settings_size(NEW.branding, OLD.branding, 'branding');
				PERFORM protector_internal.check_settings('branding',
					protector_internal.changed_settings(NEW.branding, OLD.branding), 'branding');
			END IF;
		END IF;
	ELSIF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
		PERFORM protector_internal.check_settings_size(NEW.settings, NULL, 'settings');
		PERFORM protector_internal.check_settings(CASE TG_TABLE_NAME WHEN 'organizations' THEN 'organization' ELSE 'service' END,
												  NEW.settings, 'settings');
	ELSIF NEW.settings IS DISTINCT FROM OLD.settings THEN
		PERFORM protector_internal.check_settings_size(NEW.settings, OLD.settings, 'settings');
		PERFORM protector_internal.check_settings(CASE TG_TABLE_NAME WHEN 'organizations' THEN 'organization' ELSE 'service' END,
												  protector_internal.changed_settings(NEW.settings, OLD.settings), 'settings');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_settings_columns() IS
'Trigger: settings, widget_settings and branding follow their schemas (docs/settings.md)';

CREATE OR REPLACE FUNCTION protector.merge_patch(p_target jsonb, p_patch jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector_internal.value_size(p_patch) OPERATOR(pg_catalog.>) 262144 THEN
		PERFORM protector.raise('invalid_parameter', 'the patch is too large',
			pg_catalog.format('It takes %s bytes; at most 262144 are accepted.', protector_internal.value_size(p_patch)));
	END IF;
	IF pg_catalog.jsonb_path_exists(p_patch, 'strict $.**{32}') THEN
		PERFORM protector.raise('invalid_parameter', 'the patch nests deeper than 32 levels');
	END IF;
	RETURN protector_internal.merge_patch_unchecked(p_target, p_patch);
END
$$;
COMMENT ON FUNCTION protector.merge_patch(jsonb, jsonb) IS
'JSON merge patch (RFC 7386): the patch''s keys replace the target''s, recursively; null removes a key';

-- settings follow their schemas (sql/62_settings.sql, docs/settings.md)
CREATE TRIGGER check_settings BEFORE INSERT OR UPDATE OF settings ON protector.organizations
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_settings_columns();
CREATE TRIGGER check_settings BEFORE INSERT OR UPDATE OF widget_settings, branding ON protector.venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_settings_columns();
CREATE TRIGGER check_settings BEFORE INSERT OR UPDATE OF settings ON protector.services
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_settings_columns();
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	protector_internal.check_settings(text, jsonb, text),
	protector_internal.check_setting_keys(jsonb, text, text[]),
	protector_internal.check_setting_number(jsonb, text, numeric, numeric, boolean),
	protector_internal.text_is_clean(text),
	protector.merge_patch(jsonb, jsonb)
TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.check_price(p_amount numeric, p_parameter text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_amount IS NULL OR p_amount OPERATOR(pg_catalog.<) 0 OR p_amount OPERATOR(pg_catalog.>=) 10000000000
	   OR p_amount OPERATOR(pg_catalog.<>) pg_catalog.round(p_amount, 2) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be an amount in cents from 0', p_parameter),
			pg_catalog.format('Got %s.', COALESCE(protector_internal.quoted_text(p_amount::text, 100), 'NULL')));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_price(numeric, text) IS
'Refuses a price that is negative, not in cents or 10^10 or more (22023 naming the parameter)';

CREATE OR REPLACE FUNCTION protector_internal.check_interval(p_value interval, p_parameter text, p_min interval, p_max interval,
												  p_min_inclusive boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET IntervalStyle = 'postgres'
AS $$
BEGIN
	-- (exact elapsed times: a month or a year has no fixed length, and
	-- '1 year' was read as 360 days, as interval arithmetic counts it)
	IF pg_catalog.date_part('month', p_value) OPERATOR(pg_catalog.<>) 0
	   OR pg_catalog.date_part('year', p_value) OPERATOR(pg_catalog.<>) 0 THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s must be given in days, hours and minutes', p_parameter),
			pg_catalog.format('Got %s: a month or a year has no fixed length (interval arithmetic counts 30 and 360 days).', p_value),
			'Write 365 days for a year, 30 days for a month.');
	END IF;
	IF p_value IS NULL OR p_value OPERATOR(pg_catalog.>) p_max
	   OR (p_min_inclusive AND p_value OPERATOR(pg_catalog.<) p_min)
	   OR (NOT p_min_inclusive AND p_value OPERATOR(pg_catalog.<=) p_min) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s must be %s %s and at most %s', p_parameter,
							  CASE WHEN p_min_inclusive THEN 'at least' ELSE 'more than' END, p_min, p_max),
			pg_catalog.format('Got %s.', COALESCE(p_value::text, 'NULL')));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_interval(interval, text, interval, interval, boolean) IS
'Refuses a duration outside its range (22023 naming the parameter)';

CREATE OR REPLACE FUNCTION protector_internal.check_integer(p_value integer, p_parameter text, p_min integer, p_max integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_value IS NULL OR p_value NOT BETWEEN p_min AND p_max THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be from %s to %s', p_parameter, p_min, p_max),
			pg_catalog.format('Got %s.', COALESCE(p_value::text, 'NULL')));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_integer(integer, text, integer, integer) IS
'Refuses an integer outside its range (22023 naming the parameter)';

CREATE OR REPLACE FUNCTION protector_internal.check_text(p_value text, p_parameter text, p_min integer, p_max integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (spaces at the ends count against the most, not towards the least:
	-- 'x' and 20 MB of spaces is no text of 1 to 200 characters; nor is a
	-- name of no-break or ideographic spaces one of 1, which the RPCs
	-- passed on for a trigger to refuse naming a column, not the parameter)
	IF (p_value IS NULL AND p_min OPERATOR(pg_catalog.>) 0)
	   OR pg_catalog.length(protector_internal.trim_spaces(p_value)) OPERATOR(pg_catalog.<) p_min
	   OR pg_catalog.length(p_value) OPERATOR(pg_catalog.>) p_max THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be %s to %s characters', p_parameter, p_min, p_max),
			pg_catalog.format('Got %s characters.', COALESCE(CASE WHEN pg_catalog.length(p_value) OPERATOR(pg_catalog.>) p_max
															   THEN pg_catalog.length(p_value)
															   ELSE pg_catalog.length(protector_internal.trim_spaces(p_value)) END::text, 'NULL, 0')));
	END IF;
	IF NOT protector_internal.text_is_clean(p_value) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s holds control or invisible direction characters', p_parameter));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_text(text, text, integer, integer) IS
'Refuses a text of the wrong length or with control characters (22023 naming the parameter)';

CREATE OR REPLACE FUNCTION protector_internal.check_service(s protector.services, p_prefix text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.check_text(s.name, p_prefix OPERATOR(pg_catalog.||) 'name', 1, 200);
	IF s.description IS NOT NULL THEN
		PERFORM protector_internal.check_text(s.description, p_prefix OPERATOR(pg_catalog.||) 'description', 0, 5000);
	END IF;
	PERFORM protector_internal.check_interval(s.duration, p_prefix OPERATOR(pg_catalog.||) 'duration', '0', '31 days', false);
	PERFORM protector_internal.check_integer(s.capacity, p_prefix OPERATOR(pg_catalog.||) 'capacity', 1, 100000);
	PERFORM protector_internal.check_integer(s.min_party, p_prefix OPERATOR(pg_catalog.||) 'min_party', 1, 100000);
	IF s.mode OPERATOR(pg_catalog.=) 'shared' AND s.min_party OPERATOR(pg_catalog.>) s.capacity THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%smin_party must be at most the capacity of a shared service', p_prefix),
			pg_catalog.format('min_party %s, capacity %s.', s.min_party, s.capacity));
	END IF;
	-- (said as the rule it is: a service made shared, its max_party
	-- untouched, was told "max_party must be from 1 to 6"; its min_party
	-- first, which bounds max_party from below)
	IF s.mode OPERATOR(pg_catalog.=) 'shared' AND s.max_party OPERATOR(pg_catalog.>) s.capacity
	   AND s.max_party OPERATOR(pg_catalog.>=) s.min_party AND s.capacity BETWEEN 1 AND 100000 THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%smax_party must be at most the capacity of a shared service', p_prefix),
			pg_catalog.format('max_party %s, capacity %s.', s.max_party, s.capacity),
			'Lower max_party (with the change of mode, if that is one), or raise the capacity.');
	END IF;
	IF s.max_party IS NOT NULL THEN
		PERFORM protector_internal.check_integer(s.max_party, p_prefix OPERATOR(pg_catalog.||) 'max_party', s.min_party,
			CASE WHEN s.mode OPERATOR(pg_catalog.=) 'shared' THEN s.capacity ELSE 100000 END);
	END IF;
	-- (the largest party is max_party, else the capacity: a service whose
	-- smallest party is larger takes no booking at all)
	IF s.max_party IS NULL AND s.min_party OPERATOR(pg_catalog.>) s.capacity THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%smin_party must be at most max_party, or the capacity without one', p_prefix),
			pg_catalog.format('min_party %s, capacity %s, no max_party.', s.min_party, s.capacity));
	END IF;
	PERFORM protector_internal.check_interval(s.buffer_before, p_prefix OPERATOR(pg_catalog.||) 'buffer_before', '0', '1 day');
	PERFORM protector_internal.check_interval(s.buffer_after, p_prefix OPERATOR(pg_catalog.||) 'buffer_after', '0', '1 day');
	PERFORM protector_internal.check_interval(s.slot_interval, p_prefix OPERATOR(pg_catalog.||) 'slot_interval', '1 minute', '1 day');
	PERFORM protector_internal.check_interval(s.min_notice, p_prefix OPERATOR(pg_catalog.||) 'min_notice', '0', '365 days');
	PERFORM protector_internal.check_interval(s.max_advance, p_prefix OPERATOR(pg_catalog.||) 'max_advance', '0', '1100 days', false);
	IF s.min_notice OPERATOR(pg_catalog.>=) s.max_advance THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%smin_notice must be shorter than max_advance', p_prefix),
			pg_catalog.format('min_notice %s, max_advance %s: no start would be both far enough and near enough.',
							  s.min_notice, s.max_advance));
	END IF;
	PERFORM protector_internal.check_price(s.price, p_prefix OPERATOR(pg_catalog.||) 'price');
	PERFORM protector_internal.check_price(s.price_per_person, p_prefix OPERATOR(pg_catalog.||) 'price_per_person');
	PERFORM protector_internal.check_currency(s.currency, p_prefix OPERATOR(pg_catalog.||) 'currency');
	PERFORM protector_internal.check_settings('service', s.settings, p_prefix OPERATOR(pg_catalog.||) 'settings');
END
$$;
COMMENT ON FUNCTION protector_internal.check_service(protector.services, text) IS
'Refuses a service row with a bad field, naming it with p_prefix (22023)';

CREATE OR REPLACE FUNCTION protector_internal.check_customer(c protector.customers, p_prefix text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.check_text(c.full_name, p_prefix OPERATOR(pg_catalog.||) 'full_name', 1, 200);
	IF c.email IS NOT NULL AND NOT protector_internal.email_is_valid(c.email) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%semail is not an email address', p_prefix),
			'At most 320 characters, like name@example.com.');
	END IF;
	IF c.phone IS NOT NULL AND NOT protector_internal.phone_is_valid(c.phone) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%sphone is not a phone number', p_prefix),
			'Digits, spaces and ( ) . / - only, an optional leading +, at most 40 characters.');
	END IF;
	PERFORM protector_internal.check_country(c.country, p_prefix OPERATOR(pg_catalog.||) 'country');
	IF c.tags IS NULL OR pg_catalog.cardinality(c.tags) OPERATOR(pg_catalog.>) 100
	   OR pg_catalog.array_ndims(c.tags) OPERATOR(pg_catalog.>) 1
	   OR EXISTS (SELECT FROM pg_catalog.unnest(c.tags) g
				  WHERE g IS NULL OR pg_catalog.length(g) NOT BETWEEN 1 AND 50 OR NOT protector_internal.text_is_clean(g)) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%stags must be at most 100 tags of 1 to 50 plain characters', p_prefix));
	END IF;
	IF c.notes IS NOT NULL AND pg_catalog.length(c.notes) OPERATOR(pg_catalog.>) 10000 THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%snotes must be at most 10000 characters', p_prefix));
	END IF;
	-- (line breaks and tabs, nothing else invisible, as every other free text)
	IF NOT protector_internal.lines_are_clean(c.notes) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%snotes holds control or invisible direction characters', p_prefix));
	END IF;
	-- (a column of sql/84_reminders.sql)
	IF c.reminder_channel IS NOT NULL AND c.reminder_channel OPERATOR(pg_catalog.<>) ALL ('{email,sms,none}') THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%sreminder_channel must be email, sms or none', p_prefix),
			pg_catalog.format('Got "%s"; null: e-mail if there is an address, else SMS.', pg_catalog.left(c.reminder_channel, 20)));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_customer(protector.customers, text) IS
'Refuses a customer row with a bad field, naming it with p_prefix (22023)';

CREATE OR REPLACE FUNCTION protector_internal.apply_changes(p_row anyelement, p_changes jsonb, p_fields text[])
RETURNS anyelement
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_unknown text;
	k text;
	v_kind text;
	v_whole boolean;
	v_wrong boolean;
	v_result ALIAS FOR $0;
BEGIN
	IF p_changes IS NULL OR pg_catalog.jsonb_typeof(p_changes) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes must be a JSON object of the fields to change');
	END IF;
	v_unknown := protector_internal.names_text(ARRAY(SELECT x FROM pg_catalog.jsonb_object_keys(p_changes) x
													 WHERE x OPERATOR(pg_catalog.<>) ALL (p_fields) ORDER BY x));
	IF v_unknown IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('p_changes has fields that cannot be changed here: %s', v_unknown),
			pg_catalog.format('It may change %s.', pg_catalog.array_to_string(p_fields, ', ')));
	END IF;
	IF p_changes ? 'settings' AND pg_catalog.jsonb_typeof(p_changes -> 'settings') OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.settings must be a JSON object',
			'Its keys change those of the settings (a JSON merge patch); a key set to null is removed.');
	END IF;
	IF p_changes ? 'settings' THEN
		p_changes := pg_catalog.jsonb_set(p_changes, '{settings}',
			protector.merge_patch(pg_catalog.to_jsonb(p_row) -> 'settings', p_changes -> 'settings'));
	END IF;
	-- one field at a time, so that a bad value is named
	v_result := p_row;
	FOR k IN SELECT x FROM pg_catalog.jsonb_object_keys(p_changes) x ORDER BY x LOOP
		SELECT CASE WHEN t.typcategory OPERATOR(pg_catalog.=) ANY ('{S,E}') OR t.oid OPERATOR(pg_catalog.=) 'pg_catalog.uuid'::pg_catalog.regtype
					THEN 'string'
					WHEN t.typcategory OPERATOR(pg_catalog.=) 'B' THEN 'boolean'
					WHEN t.typcategory OPERATOR(pg_catalog.=) 'T' THEN 'duration'
					WHEN t.typcategory OPERATOR(pg_catalog.=) 'A' AND e.typcategory OPERATOR(pg_catalog.=) 'S' THEN 'array' END,
			   t.oid OPERATOR(pg_catalog.=) ANY ('{int2,int4,int8}'::pg_catalog.regtype[])
		INTO v_kind, v_whole
		FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_type r ON r.typrelid OPERATOR(pg_catalog.=) a.attrelid
		JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
		LEFT JOIN pg_catalog.pg_type e ON e.oid OPERATOR(pg_catalog.=) t.typelem
		WHERE r.oid OPERATOR(pg_catalog.=) pg_catalog.pg_typeof(p_row) AND a.attname OPERATOR(pg_catalog.=) k AND NOT a.attisdropped;
		v_wrong := CASE WHEN v_kind IS NULL OR pg_catalog.jsonb_typeof(p_changes -> k) OPERATOR(pg_catalog.=) 'null' THEN false
						-- (a duration with its unit: a bare 90 is 90 seconds to
						-- PostgreSQL, where a front end meant minutes)
						WHEN v_kind OPERATOR(pg_catalog.=) 'duration'
						-- (zero is zero in every unit: 0 and "0", the defaults)
						THEN (p_changes OPERATOR(pg_catalog.->>) k) OPERATOR(pg_catalog.!~) '^[[:space:]]*[+-]?0*[.]?0*[[:space:]]*$'
							 AND (pg_catalog.jsonb_typeof(p_changes -> k) OPERATOR(pg_catalog.<>) 'string'
								  -- (PostgreSQL's "@ 90" is 90 seconds too)
								  OR (p_changes OPERATOR(pg_catalog.->>) k) OPERATOR(pg_catalog.!~) '[^0-9.[:space:]+@-]')
						WHEN pg_catalog.jsonb_typeof(p_changes -> k) OPERATOR(pg_catalog.<>) v_kind THEN true
						WHEN v_kind OPERATOR(pg_catalog.=) 'array'
						THEN EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(p_changes -> k) g
									 WHERE pg_catalog.jsonb_typeof(g) OPERATOR(pg_catalog.<>) 'string')
						ELSE false END;
		IF v_wrong THEN
			PERFORM protector.raise('invalid_parameter', pg_catalog.format('p_changes.%s has a value of the wrong type', k),
				pg_catalog.format('A JSON %s is expected (got %s).',
								  CASE v_kind WHEN 'string' THEN 'string' WHEN 'boolean' THEN 'true or false'
											  WHEN 'duration' THEN 'string with a unit, such as "90 minutes",' ELSE 'array of strings' END,
								  protector_internal.quoted_text((p_changes -> k)::text, 100)));
		END IF;
		-- (a whole number written with decimals, 3.0 or "3.0", is that
		-- number, as update_venue reads it; the integer cast refused it)
		IF v_whole AND (pg_catalog.jsonb_typeof(p_changes -> k) OPERATOR(pg_catalog.=) 'number'
						OR (pg_catalog.jsonb_typeof(p_changes -> k) OPERATOR(pg_catalog.=) 'string'
							AND (p_changes OPERATOR(pg_catalog.->>) k) OPERATOR(pg_catalog.~)
								'^[[:space:]]*[+-]?([0-9]{1,30}[.]?[0-9]{0,30}|[.][0-9]{1,30})([eE][+-]?[0-9]{1,2})?[[:space:]]*$'))
		   AND (p_changes OPERATOR(pg_catalog.->>) k)::numeric OPERATOR(pg_catalog.=) pg_catalog.trunc((p_changes OPERATOR(pg_catalog.->>) k)::numeric) THEN
			p_changes := pg_catalog.jsonb_set(p_changes, ARRAY[k], pg_catalog.to_jsonb(pg_catalog.trunc((p_changes OPERATOR(pg_catalog.->>) k)::numeric)));
		END IF;
		BEGIN
			v_result := pg_catalog.jsonb_populate_record(v_result, pg_catalog.jsonb_build_object(k, p_changes -> k));
		EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
			PERFORM protector.raise('invalid_parameter', pg_catalog.format('p_changes.%s has a value of the wrong type', k),
				-- (the cast's own words, which quote the whole value: cut)
				pg_catalog.format('%s (got %s).', pg_catalog.left(SQLERRM, 150), protector_internal.quoted_text((p_changes -> k)::text, 100)));
		END;
	END LOOP;
	RETURN v_result;
END
$$;
COMMENT ON FUNCTION protector_internal.apply_changes(anyelement, jsonb, text[]) IS
'A row with p_changes applied (only p_fields; typed per column; settings merged), 22023 naming a bad field';

CREATE OR REPLACE FUNCTION protector.create_service(
	p_venue_id uuid,
	p_name text,
	p_duration interval,
	p_price numeric DEFAULT 0,
	p_price_per_person numeric DEFAULT 0,
	p_capacity integer DEFAULT 1,
	p_mode protector.service_mode DEFAULT 'exclusive',
	p_min_party integer DEFAULT 1,
	p_max_party integer DEFAULT NULL,
	p_slot_interval interval DEFAULT '30 minutes',
	p_buffer_before interval DEFAULT '0',
	p_buffer_after interval DEFAULT '0',
	p_min_notice interval DEFAULT '0',
	p_max_advance interval DEFAULT '365 days',
	p_currency text DEFAULT NULL,
	p_description text DEFAULT NULL,
	p_settings jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
BEGIN
	s.organization_id := protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.manage', 'venue', true);
	-- the prices as given: the row's numeric(12,2) would round 10.005 to
	-- 10.01 (and fail with a bare 22003 past its precision) before
	-- check_service sees them
	PERFORM protector_internal.check_price(p_price, 'p_price');
	PERFORM protector_internal.check_price(p_price_per_person, 'p_price_per_person');
	s.venue_id := p_venue_id;
	s.name := pg_catalog.btrim(p_name);
	s.description := p_description;
	s.mode := COALESCE(p_mode, 'exclusive');
	s.duration := p_duration;
	s.capacity := p_capacity;
	s.min_party := p_min_party;
	s.max_party := p_max_party;
	s.buffer_before := p_buffer_before;
	s.buffer_after := p_buffer_after;
	s.slot_interval := p_slot_interval;
	s.min_notice := p_min_notice;
	s.max_advance := p_max_advance;
	s.price := p_price;
	s.price_per_person := p_price_per_person;
	-- no currency: the organization's (trigger default_currency)
	s.currency := p_currency;
	s.settings := COALESCE(p_settings, '{}');
	PERFORM protector_internal.check_service(s, 'p_');
	INSERT INTO protector.services (organization_id, venue_id, name, description, mode, duration, capacity, min_party,
		max_party, buffer_before, buffer_after, slot_interval, min_notice, max_advance, price, price_per_person,
		currency, settings)
	VALUES (s.organization_id, s.venue_id, s.name, s.description, s.mode, s.duration, s.capacity, s.min_party,
		s.max_party, s.buffer_before, s.buffer_after, s.slot_interval, s.min_notice, s.max_advance, s.price,
		s.price_per_person, s.currency, s.settings)
	RETURNING * INTO s;
	RETURN pg_catalog.to_jsonb(s);
END
$$;
COMMENT ON FUNCTION protector.create_service(uuid, text, interval, numeric, numeric, integer, protector.service_mode,
	integer, integer, interval, interval, interval, interval, interval, text, text, jsonb) IS
'Creates a service at a venue (owners, admins, managers); currency defaults to the organization''s; returns it';

CREATE OR REPLACE FUNCTION protector.update_service(p_service_id uuid, p_changes jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
	o protector.services;
BEGIN
	PERFORM protector_internal.authorize_row('protector.services', p_service_id, 'venues.manage', 'service');
	-- the row locked FOR NO KEY UPDATE (what its UPDATE takes), not FOR
	-- UPDATE: a booking's foreign key takes a KEY SHARE lock of it, which
	-- FOR UPDATE conflicts with, and a change of mode then takes the
	-- service's lock (service_mode_check): a reschedule or widget booking,
	-- which takes the service's lock before its foreign key's, deadlocked
	-- with it, whichever order this took the two in
	SELECT * INTO s FROM protector.services x WHERE x.id OPERATOR(pg_catalog.=) p_service_id FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found');
	END IF;
	o := s;
	-- (the prices as given, before the row's numeric(12,2) rounds them: a
	-- JSON number, or a string that reads as one, as apply_changes takes it)
	PERFORM protector_internal.check_price(protector_internal.json_amount(p_changes OPERATOR(pg_catalog.->) k), 'p_changes.' OPERATOR(pg_catalog.||) k)
	FROM pg_catalog.unnest('{price,price_per_person}'::text[]) k
	WHERE protector_internal.json_amount(p_changes OPERATOR(pg_catalog.->) k) IS NOT NULL;
	s := protector_internal.apply_changes(s, p_changes,
		'{name,description,mode,duration,capacity,min_party,max_party,buffer_before,buffer_after,slot_interval,min_notice,max_advance,price,price_per_person,currency,settings,active,waiver_id}');
	PERFORM protector_internal.check_service(protector_internal.service_changes(s, o), 'p_changes.');
	IF s.active IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.active must be true or false');
	END IF;
	IF s.mode IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.mode must be exclusive or shared');
	END IF;
	-- (create_service's NULL means "the organization's"; a service has one)
	IF s.currency IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.currency must not be null',
			NULL, 'A service is priced in a currency, e.g. "EUR".');
	END IF;
	-- a waiver of the organization the caller sees: another's, or one that
	-- does not exist, reads the same (the foreign key's 23503 told them apart
	-- and read as a conflict)
	IF s.waiver_id IS NOT NULL AND NOT EXISTS (
			SELECT FROM protector.waivers w
			WHERE w.organization_id OPERATOR(pg_catalog.=) s.organization_id AND w.id OPERATOR(pg_catalog.=) s.waiver_id) THEN
		PERFORM protector.raise('not_found', 'waiver not found',
			pg_catalog.format('p_changes.waiver_id %s is no waiver of the organization.', s.waiver_id));
	END IF;
	UPDATE protector.services x
	-- (the name trimmed when it is given: a 0.1.0 name with spaces at its
	-- ends and a character the checks refuse now was refused, and the
	-- service could not be retired)
	SET name = CASE WHEN p_changes OPERATOR(pg_catalog.?) 'name' THEN pg_catalog.btrim(s.name) ELSE x.name END, description = s.description, mode = s.mode, duration = s.duration,
		capacity = s.capacity, min_party = s.min_party, max_party = s.max_party, buffer_before = s.buffer_before,
		buffer_after = s.buffer_after, slot_interval = s.slot_interval, min_notice = s.min_notice,
		max_advance = s.max_advance, price = s.price, price_per_person = s.price_per_person, currency = s.currency,
		settings = s.settings, active = s.active, waiver_id = s.waiver_id
	WHERE x.id OPERATOR(pg_catalog.=) p_service_id
	RETURNING * INTO s;
	RETURN pg_catalog.to_jsonb(s);
END
$$;
COMMENT ON FUNCTION protector.update_service(uuid, jsonb) IS
'Changes the given fields of a service (owners, admins, managers); settings are merged (RFC 7386); bookings keep their prices';

-- (a customer's tags as a set: create_customer, update_customer, check_customer_row)
CREATE FUNCTION protector_internal.tag_set(p_tags text[])
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.array_ndims(p_tags) IS DISTINCT FROM 1 THEN p_tags
			ELSE ARRAY(SELECT x.t FROM pg_catalog.unnest(p_tags) WITH ORDINALITY x(t, n)
					   GROUP BY x.t ORDER BY pg_catalog.min(x.n)) END;
COMMENT ON FUNCTION protector_internal.tag_set(text[]) IS
'Internal: tags each once, in the order first given (a list of more dimensions as it is)';
GRANT EXECUTE ON FUNCTION protector_internal.tag_set(text[]) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector.create_customer(
	p_organization_id uuid,
	p_full_name text,
	p_email text DEFAULT NULL,
	p_phone text DEFAULT NULL,
	p_country text DEFAULT NULL,
	p_tags text[] DEFAULT '{}',
	p_notes text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c protector.customers;
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'customers.create');
	c.organization_id := p_organization_id;
	c.full_name := protector_internal.trim_spaces(p_full_name);
	c.email := NULLIF(protector_internal.trim_spaces(p_email), '');
	c.phone := NULLIF(protector_internal.trim_spaces(p_phone), '');
	c.country := p_country;
	c.tags := protector_internal.tag_set(COALESCE(p_tags, '{}'));
	c.notes := p_notes;
	PERFORM protector_internal.check_customer(c, 'p_');
	INSERT INTO protector.customers (organization_id, full_name, email, phone, country, tags, notes)
	VALUES (c.organization_id, c.full_name, c.email, c.phone, c.country, c.tags, c.notes)
	RETURNING * INTO c;
	RETURN pg_catalog.to_jsonb(c);
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.create_customer(uuid, text, text, text, text, text[], text) IS
'Creates a customer (the desk: owners to operators); returns it (find_duplicate_customers spots a second record of one person)';

CREATE OR REPLACE FUNCTION protector.update_customer(p_customer_id uuid, p_changes jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c protector.customers;
	o protector.customers;
BEGIN
	-- (a change of where reminders go writes the customer's confirmed
	-- bookings' reminders: their bookings first, then the customer, as
	-- merge_customers and erase_customer take them; the other order
	-- deadlocked with them)
	IF p_changes ?| '{email,phone,reminder_channel}' THEN
		PERFORM protector_internal.authorize_row('protector.customers', p_customer_id, 'customers.manage', 'customer');
		PERFORM protector_internal.lock_customer_bookings(ARRAY[p_customer_id]);
	END IF;
	PERFORM protector_internal.authorize_row('protector.customers', p_customer_id, 'customers.manage', 'customer', true);
	IF p_changes ?| '{email,phone,reminder_channel}' THEN
		PERFORM protector_internal.relock_customer_bookings(ARRAY[p_customer_id]);
	END IF;
	SELECT * INTO c FROM protector.customers x WHERE x.id OPERATOR(pg_catalog.=) p_customer_id;
	IF c.merged_into IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'this customer was merged into another',
			pg_catalog.format('Change customer %s instead.', c.merged_into));
	END IF;
	o := c;
	c := protector_internal.apply_changes(c, p_changes, '{full_name,email,phone,country,tags,notes,reminder_channel}');
	-- (trimmed where given: a value of before a rule the call does not
	-- name stays as it is, unjudged)
	IF p_changes ? 'full_name' THEN
		c.full_name := protector_internal.trim_spaces(c.full_name);
	END IF;
	IF p_changes ? 'email' THEN
		c.email := NULLIF(protector_internal.trim_spaces(c.email), '');
	END IF;
	IF p_changes ? 'phone' THEN
		c.phone := NULLIF(protector_internal.trim_spaces(c.phone), '');
	END IF;
	c.tags := COALESCE(c.tags, '{}');
	IF p_changes ? 'tags' THEN
		c.tags := protector_internal.tag_set(c.tags);
	END IF;
	PERFORM protector_internal.check_customer(protector_internal.customer_changes(c, o), 'p_changes.');
	UPDATE protector.customers x
	SET full_name = c.full_name, email = c.email, phone = c.phone, country = c.country, tags = c.tags, notes = c.notes,
		reminder_channel = c.reminder_channel
	WHERE x.id OPERATOR(pg_catalog.=) p_customer_id
	RETURNING * INTO c;
	RETURN pg_catalog.to_jsonb(c);
END
$$;
COMMENT ON FUNCTION protector.update_customer(uuid, jsonb) IS
'Changes the given fields of a customer (owners, admins, managers): full_name, email, phone, country, tags, notes, reminder_channel';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	protector.create_service(uuid, text, interval, numeric, numeric, integer, protector.service_mode,
		integer, integer, interval, interval, interval, interval, interval, text, text, jsonb),
	protector.update_service(uuid, jsonb),
	protector.create_customer(uuid, text, text, text, text, text[], text),
	protector.update_customer(uuid, jsonb),
	protector_internal.check_price(numeric, text),
	protector_internal.check_interval(interval, text, interval, interval, boolean),
	protector_internal.check_integer(integer, text, integer, integer),
	protector_internal.check_text(text, text, integer, integer),
	protector_internal.check_service(protector.services, text),
	protector_internal.check_customer(protector.customers, text),
	protector_internal.apply_changes(anyelement, jsonb, text[])
TO authenticated, service_role;

-- Dashboards (issue 14) -------------------------------------------------------

CREATE OR REPLACE FUNCTION protector_internal.booking_buckets(p_organization_id uuid, p_venue_id uuid, p_bounds timestamptz[])
RETURNS TABLE (bucket_start timestamptz, bookings bigint, cancelled bigint, no_shows bigint, concluded bigint,
			   guests bigint, booked_value numeric, valued_bookings bigint, booked_seconds float8, revenue numeric)
AS 'MODULE_PATHNAME', 'protector_booking_buckets'
LANGUAGE C STABLE;
COMMENT ON FUNCTION protector_internal.booking_buckets(uuid, uuid, timestamptz[]) IS
'Per [bound i, bound i+1): bookings starting in it (counts by status, guests, booked value and time) and the ledger''s revenue paid in it; analytics.aggregate';

CREATE OR REPLACE FUNCTION protector_internal.dashboard_timezone(p_organization_id uuid, p_venue_id uuid)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tz text;
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	IF p_venue_id IS NOT NULL THEN
		SELECT v.timezone INTO v_tz FROM protector.venues v
		WHERE v.id OPERATOR(pg_catalog.=) p_venue_id AND v.organization_id OPERATOR(pg_catalog.=) p_organization_id;
		IF NOT FOUND THEN
			PERFORM protector.raise('not_found', 'venue not found', 'It does not exist, or you may not see it.');
		END IF;
		RETURN v_tz;
	END IF;
	SELECT o.timezone INTO v_tz FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'organization not found', 'It does not exist, or you may not see it.');
	END IF;
	RETURN v_tz;
END
$$;
COMMENT ON FUNCTION protector_internal.dashboard_timezone(uuid, uuid) IS
'The time zone a dashboard counts in: the venue''s, else the organization''s';

CREATE OR REPLACE FUNCTION protector_internal.authorize_booking_list(p_organization_id uuid)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (protector_internal.caller_is_trusted()
			OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.read'))
			OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.assigned'))) THEN
		PERFORM protector_internal.authorize(p_organization_id, 'bookings.read');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.authorize_booking_list(uuid) IS
'Refuses a list of bookings to whoever may not read the organization''s (or, as an agent, their own) bookings';

CREATE OR REPLACE FUNCTION protector_internal.open_service_seconds(p_organization_id uuid, p_venue_id uuid,
														p_lo timestamptz, p_hi timestamptz)
RETURNS float8
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.authorize_requester(p_organization_id, 'analytics.aggregate');
	-- (each venue's services counted once: counted per opening range, a
	-- venue open in 16 ranges a day with 5,000 services took a second)
	RETURN (SELECT COALESCE(pg_catalog.sum(o.seconds OPERATOR(pg_catalog.*) n.services), 0)
			FROM protector.venues v
			CROSS JOIN LATERAL (
				SELECT pg_catalog.sum(pg_catalog.date_part('epoch', pg_catalog.upper(u.r) OPERATOR(pg_catalog.-) pg_catalog.lower(u.r))) AS seconds
				FROM (SELECT pg_catalog.range_agg(pg_catalog.tstzrange(GREATEST(g.opens_at, p_lo), LEAST(g.closes_at, p_hi))) AS open
					  -- from the day before: an overnight opening of that day reaches in
					  FROM protector.get_venue_schedule(v.id, (protector_internal.local_time(v.timezone, p_lo))::date OPERATOR(pg_catalog.-) 1,
														(protector_internal.local_time(v.timezone, p_hi))::date) g
					  WHERE g.kind OPERATOR(pg_catalog.<>) 'closed'
						AND g.closes_at OPERATOR(pg_catalog.>) p_lo AND g.opens_at OPERATOR(pg_catalog.<) p_hi
						AND g.closes_at OPERATOR(pg_catalog.>) g.opens_at) a
				CROSS JOIN LATERAL pg_catalog.unnest(a.open) u(r)) o
			CROSS JOIN LATERAL (
				SELECT pg_catalog.count(*) AS services FROM protector.services s
				WHERE s.organization_id OPERATOR(pg_catalog.=) v.organization_id
				  AND s.venue_id OPERATOR(pg_catalog.=) v.id
				  -- (a retired service whose bookings the range counts)
				  AND (s.active OR EXISTS (
						SELECT FROM protector.bookings b
						WHERE b.organization_id OPERATOR(pg_catalog.=) s.organization_id
						  AND b.venue_id OPERATOR(pg_catalog.=) v.id AND b.service_id OPERATOR(pg_catalog.=) s.id
						  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) p_lo
						  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) p_hi
						  AND b.status OPERATOR(pg_catalog.<>) ALL ('{held,cancelled,no_show}'::protector.booking_status[])))) n
			WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND (p_venue_id IS NULL OR v.id OPERATOR(pg_catalog.=) p_venue_id)
			  AND v.active);
END
$$;
COMMENT ON FUNCTION protector_internal.open_service_seconds(uuid, uuid, timestamptz, timestamptz) IS
'Open seconds of the active venues in scope over a range (each hour once), times their active services and the retired ones with bookings counted in it (as the owner; analytics.aggregate)';

CREATE OR REPLACE FUNCTION protector.get_dashboard_stats(p_organization_id uuid, p_venue_id uuid DEFAULT NULL)
RETURNS TABLE (metric text, value numeric, previous numeric, change_percent numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tz text;
	v_today date;
	b timestamptz[];
	c record;
	p record;
	r record;
	v_open_c float8;
	v_open_p float8;
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	v_tz := protector_internal.dashboard_timezone(p_organization_id, p_venue_id);
	v_today := (protector_internal.local_time(v_tz, pg_catalog.now()))::date;
	-- the last 30 local days (today included) and the 30 before
	b := ARRAY[protector_internal.local_midnight(v_tz, v_today OPERATOR(pg_catalog.-) 59),
			   protector_internal.local_midnight(v_tz, v_today OPERATOR(pg_catalog.-) 29),
			   protector_internal.local_midnight(v_tz, v_today OPERATOR(pg_catalog.+) 1)];
	FOR r IN SELECT * FROM protector_internal.booking_buckets(p_organization_id, p_venue_id, b) x ORDER BY x.bucket_start LOOP
		IF r.bucket_start OPERATOR(pg_catalog.=) b[1] THEN
			p := r;
		ELSE
			c := r;
		END IF;
	END LOOP;
	v_open_p := protector_internal.open_service_seconds(p_organization_id, p_venue_id, b[1], b[2]);
	v_open_c := protector_internal.open_service_seconds(p_organization_id, p_venue_id, b[2], b[3]);
	RETURN QUERY
	SELECT m.metric, m.cur, m.prev,
		   CASE WHEN m.prev OPERATOR(pg_catalog.<>) 0
				THEN pg_catalog.round((m.cur OPERATOR(pg_catalog.-) m.prev) OPERATOR(pg_catalog./) pg_catalog.abs(m.prev) OPERATOR(pg_catalog.*) 100, 1) END
	FROM (VALUES
		(1, 'bookings', c.bookings::numeric, p.bookings::numeric),
		(2, 'guests', c.guests::numeric, p.guests::numeric),
		(3, 'revenue', c.revenue, p.revenue),
		-- (money: to the cent, half to even, as every amount computed)
		(4, 'average_booking_value',
			protector.round_money(c.booked_value OPERATOR(pg_catalog./) NULLIF(c.valued_bookings, 0)),
			protector.round_money(p.booked_value OPERATOR(pg_catalog./) NULLIF(p.valued_bookings, 0))),
		(5, 'cancellation_rate',
			pg_catalog.round(c.cancelled::numeric OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) NULLIF(c.bookings, 0), 1),
			pg_catalog.round(p.cancelled::numeric OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) NULLIF(p.bookings, 0), 1)),
		(6, 'no_show_rate',
			pg_catalog.round(c.no_shows::numeric OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) NULLIF(c.concluded, 0), 1),
			pg_catalog.round(p.no_shows::numeric OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) NULLIF(p.concluded, 0), 1)),
		-- (never above 100: bookings made outside today's hours, or a
		-- venue closed since, do not make it more than full)
		-- (and NULL without open time: LEAST ignores a NULL, which made it 100)
		(7, 'occupancy',
			CASE WHEN v_open_c OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(LEAST(100, c.booked_seconds OPERATOR(pg_catalog.*) 100
																					  OPERATOR(pg_catalog./) v_open_c)::numeric, 1) END,
			CASE WHEN v_open_p OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(LEAST(100, p.booked_seconds OPERATOR(pg_catalog.*) 100
																					  OPERATOR(pg_catalog./) v_open_p)::numeric, 1) END)
	) m(n, metric, cur, prev)
	ORDER BY m.n;
END
$$;
COMMENT ON FUNCTION protector.get_dashboard_stats(uuid, uuid) IS
'The last 30 local days against the 30 before: bookings, guests, revenue, average booking value, cancellation and no-show rates, occupancy (docs/dashboards.md)';

CREATE OR REPLACE FUNCTION protector.get_weekly_bookings_trend(p_organization_id uuid, p_venue_id uuid DEFAULT NULL,
													 p_weeks integer DEFAULT 8)
RETURNS TABLE (week_start date, bookings bigint, guests bigint, cancelled bigint, revenue numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tz text;
	v_monday date;
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	PERFORM protector_internal.check_integer(p_weeks, 'p_weeks', 1, 104);
	v_tz := protector_internal.dashboard_timezone(p_organization_id, p_venue_id);
	-- Monday of this local week
	v_monday := (protector_internal.local_time(v_tz, pg_catalog.now()))::date;
	v_monday := v_monday OPERATOR(pg_catalog.-) (pg_catalog.date_part('isodow', v_monday)::integer OPERATOR(pg_catalog.-) 1);
	RETURN QUERY
	SELECT (protector_internal.local_time(v_tz, x.bucket_start))::date, x.bookings, x.guests, x.cancelled, x.revenue
	FROM protector_internal.booking_buckets(p_organization_id, p_venue_id,
		ARRAY(SELECT protector_internal.local_midnight(v_tz, v_monday OPERATOR(pg_catalog.-) (7 OPERATOR(pg_catalog.*) w))
			  FROM pg_catalog.generate_series(p_weeks OPERATOR(pg_catalog.-) 1, -1, -1) w)) x
	ORDER BY x.bucket_start;
END
$$;
COMMENT ON FUNCTION protector.get_weekly_bookings_trend(uuid, uuid, integer) IS
'Bookings, guests, cancellations and revenue per local week (Monday to Sunday), the last p_weeks weeks, this one included';

CREATE OR REPLACE FUNCTION protector.get_todays_bookings_by_hour(p_organization_id uuid, p_venue_id uuid DEFAULT NULL,
													   p_date date DEFAULT NULL)
RETURNS TABLE (hour_start timestamptz, local_hour text, utc_offset text, bookings bigint, guests bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tz text;
	v_day date;
	v_lo timestamptz;
	v_hi timestamptz;
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	v_tz := protector_internal.dashboard_timezone(p_organization_id, p_venue_id);
	v_day := COALESCE(p_date, (protector_internal.local_time(v_tz, pg_catalog.now()))::date);
	IF NOT pg_catalog.isfinite(v_day) OR v_day NOT BETWEEN '0001-01-02' AND '9999-12-30' THEN
		PERFORM protector.raise('datetime_overflow', 'p_date must be a date between 0001-01-02 and 9999-12-30',
			pg_catalog.format('Got %s.', v_day));
	END IF;
	v_lo := protector_internal.local_midnight(v_tz, v_day);
	v_hi := protector_internal.local_midnight(v_tz, v_day OPERATOR(pg_catalog.+) 1);
	IF v_lo OPERATOR(pg_catalog.>=) v_hi THEN
		RETURN;		-- a day the zone skipped (Pacific/Apia, 2011-12-30) has no hours
	END IF;
	-- the local day's hours as its clocks show them: the first starts with
	-- the day, each other where the local time is a full hour: the instants
	-- a quarter hour apart from the day's start (both 01:00s of an autumn
	-- day) and the instant of each local full hour (after a move by other
	-- than quarter hours: Africa/Monrovia 1972, Europe/Berlin 1893); 23 on
	-- a spring-forward day, 25 in autumn, and where the clocks move by half
	-- an hour (Australia/Lord_Howe) the hour they move in is 30 minutes
	-- shorter or longer
	RETURN QUERY
	SELECT x.bucket_start, pg_catalog.to_char(protector_internal.local_time(v_tz, x.bucket_start), 'HH24:MI'),
		   (SELECT CASE WHEN o.s OPERATOR(pg_catalog.<) 0 THEN '-' ELSE '+' END
				   OPERATOR(pg_catalog.||) pg_catalog.to_char(pg_catalog.make_interval(secs => pg_catalog.abs(o.s)), 'HH24:MI')
			FROM (SELECT pg_catalog.date_part('epoch', protector_internal.local_time(v_tz, x.bucket_start) OPERATOR(pg_catalog.-)
												   pg_catalog.timezone('UTC', x.bucket_start)) AS s) o),
		   x.bookings, x.guests
	FROM protector_internal.booking_buckets(p_organization_id, p_venue_id,
		ARRAY[v_lo] OPERATOR(pg_catalog.||)
		ARRAY(SELECT DISTINCT c.h
			  FROM (SELECT g AS h FROM pg_catalog.generate_series(v_lo OPERATOR(pg_catalog.+) interval '15 minutes',
						v_hi OPERATOR(pg_catalog.-) interval '1 microsecond', interval '15 minutes') g
					UNION
					SELECT pg_catalog.timezone(v_tz, v_day OPERATOR(pg_catalog.+) pg_catalog.make_interval(hours => k))
					FROM pg_catalog.generate_series(1, 23) k) c
			  WHERE c.h OPERATOR(pg_catalog.>) v_lo AND c.h OPERATOR(pg_catalog.<) v_hi
				AND pg_catalog.date_part('minute', protector_internal.local_time(v_tz, c.h)) OPERATOR(pg_catalog.=) 0
				AND pg_catalog.date_part('second', protector_internal.local_time(v_tz, c.h)) OPERATOR(pg_catalog.=) 0
			  ORDER BY c.h)
		OPERATOR(pg_catalog.||) v_hi) x
	ORDER BY x.bucket_start;
END
$$;
COMMENT ON FUNCTION protector.get_todays_bookings_by_hour(uuid, uuid, date) IS
'Bookings and guests per hour of a local day (today by default): 23, 24 or 25 rows, with each hour''s local time and UTC offset';

CREATE OR REPLACE FUNCTION protector.get_upcoming_bookings(p_organization_id uuid, p_venue_id uuid DEFAULT NULL,
												 p_limit integer DEFAULT 10)
RETURNS TABLE (booking_id uuid, start timestamptz, local_start timestamp, service text, customer text,
			   party_size integer, status protector.booking_status, assigned_agent uuid)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tz text;
BEGIN
	PERFORM protector_internal.authorize_booking_list(p_organization_id);
	PERFORM protector_internal.check_integer(p_limit, 'p_limit', 1, 1000);
	v_tz := protector_internal.dashboard_timezone(p_organization_id, p_venue_id);
	-- the rest of the local day, as the caller may see it (RLS).  The first
	-- p_limit bookings (and those starting at the same moment as the last
	-- of them) are taken in start order from the organization's index on
	-- (organization_id, booking_start(during)) before anything is joined
	-- (booking_start: lower() as it may be compared before the policies, so
	-- that under RLS this is an index range, not the whole history): joined
	-- first, the planner could start from the organization's services and
	-- read all of the day's bookings to sort them (5.6x slower beside 2M
	-- bookings of other organizations, bench/dashboards.sh).  WITH TIES on
	-- the index's own order, not LIMIT on (start, id): that needs a sort,
	-- and the generic plan, which estimates one row, sorted the whole day
	-- (2x slower beside other organizations).  The organization's services
	-- are read once (MATERIALIZED): the generic plan otherwise scanned the
	-- services table once per booking
	RETURN QUERY
	WITH s AS MATERIALIZED (SELECT y.id, y.name FROM protector.services y WHERE y.organization_id OPERATOR(pg_catalog.=) p_organization_id)
	SELECT b.id, pg_catalog.lower(b.during), protector_internal.local_time(v_tz, pg_catalog.lower(b.during)), s.name, c.full_name,
		   b.party_size, b.status, b.assigned_agent
	FROM (SELECT x.id, x.organization_id, x.service_id, x.customer_id, x.during, x.party_size, x.status, x.assigned_agent
		  FROM protector.bookings x
		  WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id
			AND (p_venue_id IS NULL OR x.venue_id OPERATOR(pg_catalog.=) p_venue_id)
			AND protector_internal.booking_start(x.during) OPERATOR(pg_catalog.>=) pg_catalog.now()
			AND protector_internal.booking_start(x.during) OPERATOR(pg_catalog.<)
				protector_internal.local_midnight(v_tz, (protector_internal.local_time(v_tz, pg_catalog.now()))::date OPERATOR(pg_catalog.+) 1)
			AND x.status OPERATOR(pg_catalog.=) ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[])
			AND (x.status OPERATOR(pg_catalog.<>) 'held' OR x.hold_expires_at OPERATOR(pg_catalog.>) pg_catalog.now())
		  ORDER BY protector_internal.booking_start(x.during)
		  FETCH FIRST p_limit ROWS WITH TIES) b
	JOIN s ON s.id OPERATOR(pg_catalog.=) b.service_id
	LEFT JOIN protector.customers c ON c.organization_id OPERATOR(pg_catalog.=) b.organization_id
									AND c.id OPERATOR(pg_catalog.=) b.customer_id
	ORDER BY pg_catalog.lower(b.during), b.id
	LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION protector.get_upcoming_bookings(uuid, uuid, integer) IS
'The rest of today''s (local) bookings that are still to come, as the caller may see them: the desk and finance all, an agent their own';

CREATE OR REPLACE FUNCTION protector.get_recent_booking_activity(p_organization_id uuid, p_limit integer DEFAULT 20)
RETURNS TABLE (booking_id uuid, activity text, occurred_at timestamptz, status protector.booking_status,
			   service text, customer text, start timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[];
BEGIN
	PERFORM protector_internal.authorize_booking_list(p_organization_id);
	PERFORM protector_internal.check_integer(p_limit, 'p_limit', 1, 1000);
	PERFORM protector_internal.dashboard_timezone(p_organization_id, NULL);
	-- the desk: the audit log says which bookings changed last (at most
	-- 2 p_limit ids); an agent's few bookings, or an organization whose
	-- log cannot answer, are picked from the bookings themselves, as the
	-- caller may see them.  Either way the rows are then read by primary
	-- key, under RLS
	IF protector_internal.caller_is_trusted()
	   OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.read')) THEN
		v_ids := protector_internal.recent_booking_ids(p_organization_id, p_limit);
	END IF;
	IF v_ids IS NULL THEN
		SELECT pg_catalog.array_agg(x.id) INTO v_ids
		FROM (SELECT b.id FROM protector.bookings b
			  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  ORDER BY b.updated_at DESC, b.id
			  LIMIT p_limit) x;
	END IF;
	RETURN QUERY
	SELECT b.id,
		   -- (cancelled first: one cancelled in the transaction that made it
		   -- has both stamps that transaction's)
		   CASE WHEN b.status OPERATOR(pg_catalog.=) 'cancelled' THEN 'cancelled'
				WHEN b.updated_at OPERATOR(pg_catalog.=) b.created_at THEN 'created'
				ELSE 'updated' END,
		   b.updated_at, b.status, s.name, c.full_name, pg_catalog.lower(b.during)
	FROM pg_catalog.unnest(v_ids) AS r(id)
	JOIN protector.bookings b ON b.id OPERATOR(pg_catalog.=) r.id
							  AND b.organization_id OPERATOR(pg_catalog.=) p_organization_id
	JOIN protector.services s ON s.organization_id OPERATOR(pg_catalog.=) b.organization_id AND s.id OPERATOR(pg_catalog.=) b.service_id
	LEFT JOIN protector.customers c ON c.organization_id OPERATOR(pg_catalog.=) b.organization_id
									AND c.id OPERATOR(pg_catalog.=) b.customer_id
	ORDER BY b.updated_at DESC, b.id
	LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION protector.get_recent_booking_activity(uuid, integer) IS
'The organization''s most recently created or changed bookings, newest first, as the caller may see them';

CREATE INDEX payments_created_idx ON protector.payments (organization_id, created_at);
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	protector.get_dashboard_stats(uuid, uuid),
	protector.get_weekly_bookings_trend(uuid, uuid, integer),
	protector.get_todays_bookings_by_hour(uuid, uuid, date),
	protector.get_upcoming_bookings(uuid, uuid, integer),
	protector.get_recent_booking_activity(uuid, integer),
	protector_internal.booking_buckets(uuid, uuid, timestamptz[]),
	protector_internal.dashboard_timezone(uuid, uuid),
	protector_internal.authorize_booking_list(uuid),
	protector_internal.open_service_seconds(uuid, uuid, timestamptz, timestamptz)
TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.merge_patch_unchecked(p_target jsonb, p_patch jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN CASE WHEN p_patch IS NULL OR pg_catalog.jsonb_typeof(p_patch) OPERATOR(pg_catalog.<>) 'object' THEN p_patch
		   ELSE (SELECT COALESCE(pg_catalog.jsonb_object_agg(k, v), '{}'::jsonb)
				 FROM (SELECT t.key AS k, t.value AS v
					   FROM pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(p_target) OPERATOR(pg_catalog.=) 'object'
													   THEN p_target ELSE '{}'::jsonb END) t
					   WHERE NOT p_patch OPERATOR(pg_catalog.?) t.key
					   UNION ALL
					   SELECT p.key, protector_internal.merge_patch_unchecked(p_target OPERATOR(pg_catalog.->) p.key, p.value)
					   FROM pg_catalog.jsonb_each(p_patch) p
					   WHERE pg_catalog.jsonb_typeof(p.value) OPERATOR(pg_catalog.<>) 'null') x) END;
END
$$;
COMMENT ON FUNCTION protector_internal.merge_patch_unchecked(jsonb, jsonb) IS
'merge_patch without its size and depth checks (called by it)';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.merge_patch_unchecked(jsonb, jsonb) TO authenticated, service_role;

-- Reports (issue 14) ------------------------------------------------------------
-- sql/89_reports.sql: reports and their cache (docs/dashboards.md#reports).
--
-- Each generate_*_report is an API function (SECURITY INVOKER) over a
-- helper of protector_internal that runs as protector's owner, asks the
-- capability map about the request itself (authorize_requester) and reads
-- past RLS, as the other analytics do.  Their answers are cached in
-- protector_internal.reports_cache, keyed by report and parameters, and are
-- never stale: every statement that changes an organization's bookings,
-- payments, tasks, members, customers, venues, services or the
-- organization itself logs (organization, transaction) in
-- report_changes, and a cached answer counts only while no change is
-- logged that its snapshot could not see.  A read-only transaction (a GET
-- through PostgREST) computes without storing.

CREATE FUNCTION protector_internal.authorize_requester(p_organization_id uuid, p_action text,
														p_entity text DEFAULT 'organization')
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_authorize_requester'
LANGUAGE C STABLE;
COMMENT ON FUNCTION protector_internal.authorize_requester(uuid, text, text) IS
'authorize() for SECURITY DEFINER helpers: asks about the request''s role and JWT user, not the owner the helper runs as';

-- the changes that make cached reports stale ---------------------------------

CREATE TABLE protector_internal.report_changes (
	organization_id uuid NOT NULL,
	xid				xid8 NOT NULL DEFAULT pg_current_xact_id(),
	PRIMARY KEY (organization_id, xid)
);
ALTER TABLE protector_internal.report_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.report_changes FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.report_changes IS
'Which transactions changed an organization''s report data (bookings, payments, tasks, members); pruned as caches move on';

CREATE OR REPLACE FUNCTION protector_internal.log_report_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
		-- no rows to name: every organization's reports changed.  Logged
		-- (not a DELETE of the cache, which under REPEATABLE READ misses
		-- entries committed after the snapshot and cannot stop entries
		-- computed before this commits from being stored after it)
		INSERT INTO protector_internal.report_changes (organization_id)
		SELECT o.id FROM protector.organizations o
		ON CONFLICT DO NOTHING;
		RETURN NULL;
	END IF;
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'organizations' THEN
		-- (an organization's key is its id; a deleted one's caches go with it)
		IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
			INSERT INTO protector_internal.report_changes (organization_id)
			SELECT n.id FROM new_rows n
			ON CONFLICT DO NOTHING;
		ELSE
			DELETE FROM protector_internal.report_changes r
			WHERE r.organization_id OPERATOR(pg_catalog.=) ANY (SELECT x.id FROM old_rows x);
		END IF;
		RETURN NULL;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		INSERT INTO protector_internal.report_changes (organization_id)
		SELECT DISTINCT o.organization_id FROM old_rows o
		ON CONFLICT DO NOTHING;
	ELSE
		INSERT INTO protector_internal.report_changes (organization_id)
		SELECT DISTINCT n.organization_id FROM new_rows n
		ON CONFLICT DO NOTHING;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.log_report_change() IS
'Trigger, per statement: logs which organizations'' report data the transaction changed';

DO $reports$
DECLARE
	t text;
BEGIN
	-- what the reports show: bookings, payments, tasks, members and
	-- customers, and the names and currency they print (venues, services,
	-- organizations)
	FOREACH t IN ARRAY ARRAY['bookings', 'payments', 'tasks', 'members', 'customers', 'venues', 'services', 'organizations'] LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER zz_report_change_insert AFTER INSERT ON protector.%I'
			' REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT WHEN (NOT protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.log_report_change()', t);
		EXECUTE pg_catalog.format('CREATE TRIGGER zz_report_change_update AFTER UPDATE ON protector.%I'
			' REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT WHEN (NOT protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.log_report_change()', t);
		EXECUTE pg_catalog.format('CREATE TRIGGER zz_report_change_delete AFTER DELETE ON protector.%I'
			' REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT WHEN (NOT protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.log_report_change()', t);
		EXECUTE pg_catalog.format('CREATE TRIGGER zz_report_change_truncate AFTER TRUNCATE ON protector.%I'
			' FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.log_report_change()', t);
		-- imports under session_replication_role = replica change reports too
		EXECUTE pg_catalog.format('ALTER TABLE protector.%I ENABLE ALWAYS TRIGGER zz_report_change_insert', t);
		EXECUTE pg_catalog.format('ALTER TABLE protector.%I ENABLE ALWAYS TRIGGER zz_report_change_update', t);
		EXECUTE pg_catalog.format('ALTER TABLE protector.%I ENABLE ALWAYS TRIGGER zz_report_change_delete', t);
		EXECUTE pg_catalog.format('ALTER TABLE protector.%I ENABLE ALWAYS TRIGGER zz_report_change_truncate', t);
	END LOOP;
END
$reports$;

-- the cache ---------------------------------------------------------------------

CREATE TABLE protector_internal.reports_cache (
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	report			text NOT NULL,
	params			jsonb NOT NULL,
	snapshot		pg_snapshot NOT NULL,
	computed_at		timestamptz NOT NULL DEFAULT now(),
	rows			jsonb NOT NULL,
	PRIMARY KEY (organization_id, report, params)
);
ALTER TABLE protector_internal.reports_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.reports_cache FORCE ROW LEVEL SECURITY;
-- How far an organization's change log has been pruned: a cache entry
-- whose snapshot is older than that may have missed a change no longer
-- logged, and is not stored.
CREATE TABLE protector_internal.report_prunes (
	organization_id uuid PRIMARY KEY REFERENCES protector.organizations (id) ON DELETE CASCADE,
	below			xid8 NOT NULL
);
ALTER TABLE protector_internal.report_prunes ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.report_prunes FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.report_prunes IS
'Per organization: report_changes rows below this transaction id have been pruned';
SELECT pg_catalog.pg_extension_config_dump('protector_internal.report_prunes', 'WHERE false');

-- registered, but dumped empty: snapshots mean nothing in another cluster,
-- and a restored database computes its reports afresh
SELECT pg_catalog.pg_extension_config_dump('protector_internal.report_changes', 'WHERE false');
SELECT pg_catalog.pg_extension_config_dump('protector_internal.reports_cache', 'WHERE false');
COMMENT ON TABLE protector_internal.reports_cache IS
'Computed reports by organization, report and parameters, with the snapshot they saw; valid while no change they could not see is logged';

-- Prunes one organization's change log; its caller holds the
-- organization's lock.  Changes every cached entry (and every snapshot
-- still running) sees are history; the watermark it raises makes
-- cached_report refuse a later entry older than that.  An organization
-- deleted meanwhile gets no watermark (its rows are gone with it).
CREATE OR REPLACE FUNCTION protector_internal.prune_report_log(p_organization_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_below xid8;
BEGIN
	DELETE FROM protector_internal.reports_cache c
	WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND NOT protector_internal.report_entry_current(p_organization_id, c.snapshot, c.computed_at);
	DELETE FROM protector_internal.reports_cache c
	WHERE c.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(
		SELECT k.ctid FROM protector_internal.reports_cache k
		WHERE k.organization_id OPERATOR(pg_catalog.=) p_organization_id
		ORDER BY k.computed_at DESC OFFSET 100));
	SELECT LEAST(pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()),
				 (SELECT pg_catalog.pg_snapshot_xmin(c.snapshot) FROM protector_internal.reports_cache c
				  WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id
				  ORDER BY pg_catalog.pg_snapshot_xmin(c.snapshot) LIMIT 1))
	INTO v_below;
	DELETE FROM protector_internal.report_changes x
	WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.xid OPERATOR(pg_catalog.<) v_below;
	INSERT INTO protector_internal.report_prunes (organization_id, below)
	SELECT p_organization_id, v_below
	WHERE EXISTS (SELECT FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id)
	ON CONFLICT (organization_id) DO UPDATE SET below = GREATEST(report_prunes.below, EXCLUDED.below);
END
$$;
COMMENT ON FUNCTION protector_internal.prune_report_log(uuid) IS
'Evicts one organization''s cached reports that cannot answer (and all but the newest 100), then prunes its change log up to what every entry and running snapshot sees (caller holds its lock)';

-- A report's rows: from the cache if nothing has changed since (and it
-- was computed today, UTC: RFM recency counts days), else computed by
-- p_compute (a fixed name, not the caller's text) and stored.
CREATE OR REPLACE FUNCTION protector_internal.cached_report(p_organization_id uuid, p_report text, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_rows jsonb;
	v_snapshot pg_snapshot;
	v_unknown text;
BEGIN
	-- this runs as the owner: it asks the map about the request itself
	IF p_report IS NULL OR p_report OPERATOR(pg_catalog.<>) ALL ('{revenue,bookings,customers,staff}') THEN
		PERFORM protector.raise('invalid_parameter', 'p_report must be revenue, bookings, customers or staff');
	END IF;
	PERFORM protector_internal.authorize_requester(p_organization_id,
		CASE p_report WHEN 'staff' THEN 'staff.performance' ELSE 'analytics.aggregate' END);
	-- the parameters each report takes, no others: one cache entry per question
	IF p_params IS NULL OR pg_catalog.jsonb_typeof(p_params) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_params must be a JSON object');
	END IF;
	SELECT k INTO v_unknown FROM pg_catalog.jsonb_object_keys(p_params) k
	WHERE k OPERATOR(pg_catalog.<>) ALL (CASE p_report WHEN 'revenue' THEN '{from,to,venue_id,group_by}'::text[]
														WHEN 'bookings' THEN '{from,to,venue_id}'
														ELSE '{from,to}' END)
	LIMIT 1;
	IF FOUND THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('p_params.%s is not a parameter of the %s report', pg_catalog.left(v_unknown, 100), p_report));
	END IF;
	-- one key per question: dates and the venue in their canonical text
	-- ('today' and '2026-1-1' are dates of some session; the key is the date)
	-- (a null is the parameter left out)
	p_params := pg_catalog.jsonb_strip_nulls(p_params) OPERATOR(pg_catalog.||) pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
		'from', (p_params OPERATOR(pg_catalog.->>) 'from')::pg_catalog.date,
		'to', (p_params OPERATOR(pg_catalog.->>) 'to')::pg_catalog.date,
		'venue_id', (p_params OPERATOR(pg_catalog.->>) 'venue_id')::pg_catalog.uuid));
	SELECT c.rows INTO v_rows FROM protector_internal.reports_cache c
	WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id AND c.report OPERATOR(pg_catalog.=) p_report
	  AND c.params OPERATOR(pg_catalog.=) p_params
	  AND protector_internal.report_entry_current(p_organization_id, c.snapshot, c.computed_at);
	IF FOUND THEN
		RETURN v_rows;
	END IF;
	-- the snapshot before computing: a change it cannot see may or may not
	-- be in the rows, so it invalidates them
	v_snapshot := pg_catalog.pg_current_snapshot();
	v_rows := CASE p_report
		WHEN 'revenue' THEN protector_internal.revenue_report(p_organization_id, p_params)
		WHEN 'bookings' THEN protector_internal.booking_report(p_organization_id, p_params)
		WHEN 'customers' THEN protector_internal.customer_report(p_organization_id, p_params)
		WHEN 'staff' THEN protector_internal.staff_report(p_organization_id, p_params) END;
	-- Stored only by a READ COMMITTED transaction (storing and pruning
	-- under a transaction snapshot would fail with 40001 beside a
	-- concurrent store) that has written nothing yet (its own later writes
	-- would log a change its snapshot counts as seen), one transaction per
	-- organization at a time (a lock held to commit; when another holds
	-- it, the rows are answered unstored rather than waiting), and only if
	-- no change it may have missed has been pruned meanwhile.
	IF pg_catalog.current_setting('transaction_read_only') OPERATOR(pg_catalog.=) 'off'
	   AND pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.=) 'read committed'
	   AND pg_catalog.pg_current_xact_id_if_assigned() IS NULL
	   AND pg_catalog.pg_try_advisory_xact_lock(protector_internal.lock_key(1886547717, p_organization_id)) THEN
		IF NOT EXISTS (SELECT FROM protector_internal.report_prunes p
					   WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id
						 AND p.below OPERATOR(pg_catalog.>) pg_catalog.pg_snapshot_xmin(v_snapshot)) THEN
			-- (the organization deleted while the report was computed: its
			-- foreign key answered a bare 23503)
			BEGIN
				INSERT INTO protector_internal.reports_cache (organization_id, report, params, snapshot, rows)
				VALUES (p_organization_id, p_report, p_params, v_snapshot, v_rows)
				ON CONFLICT (organization_id, report, params)
				DO UPDATE SET snapshot = EXCLUDED.snapshot, computed_at = EXCLUDED.computed_at, rows = EXCLUDED.rows;
			EXCEPTION WHEN foreign_key_violation THEN
				PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
				RAISE;
			END;
			PERFORM protector_internal.prune_report_log(p_organization_id);
		END IF;
	END IF;
	RETURN v_rows;
END
$$;
COMMENT ON FUNCTION protector_internal.cached_report(uuid, text, jsonb) IS
'A report''s rows from the cache while nothing it could not see has changed, else computed and stored';

-- The change log of organizations whose reports nobody reads would grow
-- without end: the scheduled sweep (expire_holds) prunes up to p_limit
-- organizations' logs, each under its lock and with its watermark, as
-- cached_report does (an organization whose lock is busy is left for the
-- next sweep).
CREATE OR REPLACE FUNCTION protector_internal.prune_report_changes(p_limit integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	v_pruned integer := 0;
BEGIN
	PERFORM protector_internal.check_integer(p_limit, 'p_limit', 0, 1000000);
	-- (under a transaction snapshot a concurrent store makes it fail: the next sweep does it)
	IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
		RETURN 0;
	END IF;
	FOR v_org IN
		SELECT DISTINCT x.organization_id FROM protector_internal.report_changes x
		WHERE x.xid OPERATOR(pg_catalog.<) pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
		LIMIT p_limit
	LOOP
		CONTINUE WHEN NOT pg_catalog.pg_try_advisory_xact_lock(protector_internal.lock_key(1886547717, v_org));
		PERFORM protector_internal.prune_report_log(v_org);
		v_pruned := v_pruned OPERATOR(pg_catalog.+) 1;
	END LOOP;
	RETURN v_pruned;
END
$$;
COMMENT ON FUNCTION protector_internal.prune_report_changes(integer) IS
'Prunes the report change log of up to p_limit organizations (for the scheduled sweep); returns how many';

-- the reports ---------------------------------------------------------------------

-- The local range [p_from, p_to] of a report in its time zone, checked.
CREATE OR REPLACE FUNCTION protector_internal.report_range(p_organization_id uuid, p_venue_id uuid, p_from date, p_to date,
												OUT tz text, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_from IS NOT NULL AND p_to IS NOT NULL THEN
		PERFORM protector_internal.check_date_range(p_from, p_to, '0001-01-02', '9999-12-30');
	END IF;
	IF p_from IS NULL OR p_to IS NULL
	   OR p_to OPERATOR(pg_catalog.<) p_from OR p_to OPERATOR(pg_catalog.-) p_from OPERATOR(pg_catalog.>) 1100 THEN
		PERFORM protector.raise('invalid_parameter', 'p_from to p_to must be a range of at most 1101 days between 0001-01-02 and 9999-12-30',
			pg_catalog.format('Got %s to %s.', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
	tz := protector_internal.dashboard_timezone(p_organization_id, p_venue_id);
	lo := protector_internal.local_midnight(tz, p_from);
	hi := protector_internal.local_midnight(tz, p_to OPERATOR(pg_catalog.+) 1);
END
$$;
COMMENT ON FUNCTION protector_internal.report_range(uuid, uuid, date, date) IS
'A report''s local date range as times in its time zone (22023 for a bad range)';

CREATE FUNCTION protector_internal.revenue_report(p_organization_id uuid, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_venue uuid := (p_params ->> 'venue_id')::uuid;
	v_group text := p_params ->> 'group_by';
	r record;
	v_rows jsonb;
BEGIN
	IF v_group IS NULL OR v_group OPERATOR(pg_catalog.<>) ALL ('{day,week,month}') THEN
		PERFORM protector.raise('invalid_parameter', 'group_by must be day, week or month');
	END IF;
	SELECT * INTO r FROM protector_internal.report_range(p_organization_id, v_venue, (p_params ->> 'from')::date,
														  (p_params ->> 'to')::date);
	-- the organization's payments in the range, summed per period, venue
	-- and service first; names joined to those few rows after
	SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.period_start, x.venue, x.service), '[]')
	INTO v_rows
	FROM (SELECT g.period_start, g.venue_id, v.name AS venue, g.service_id, s.name AS service,
				 g.payments, g.refunds, g.revenue, g.currency
		  FROM (SELECT (pg_catalog.date_trunc(v_group, protector_internal.local_time(r.tz, p.created_at)))::date AS period_start,
					   b.venue_id, b.service_id, o.currency,
					   COALESCE(pg_catalog.sum(p.amount) FILTER (WHERE p.kind OPERATOR(pg_catalog.=) 'payment'), 0) AS payments,
					   COALESCE(pg_catalog.sum(p.amount) FILTER (WHERE p.kind OPERATOR(pg_catalog.=) 'refund'), 0) AS refunds,
					   COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount
													ELSE OPERATOR(pg_catalog.-) p.amount END), 0) AS revenue
				FROM protector.organizations o
				JOIN protector.payments p ON p.organization_id OPERATOR(pg_catalog.=) o.id
				-- each payment's booking by its key (OFFSET 0: not a join that
				-- might read every booking of the table)
				CROSS JOIN LATERAL (SELECT y.venue_id, y.service_id FROM protector.bookings y
									WHERE y.organization_id OPERATOR(pg_catalog.=) p.organization_id
									  AND y.id OPERATOR(pg_catalog.=) p.booking_id OFFSET 0) b
				WHERE o.id OPERATOR(pg_catalog.=) p_organization_id AND p.status OPERATOR(pg_catalog.=) 'succeeded'
				  AND p.currency OPERATOR(pg_catalog.=) o.currency
				  AND p.created_at OPERATOR(pg_catalog.>=) r.lo AND p.created_at OPERATOR(pg_catalog.<) r.hi
				  AND (v_venue IS NULL OR b.venue_id OPERATOR(pg_catalog.=) v_venue)
				GROUP BY 1, b.venue_id, b.service_id, o.currency) g
		  JOIN protector.venues v ON v.organization_id OPERATOR(pg_catalog.=) p_organization_id AND v.id OPERATOR(pg_catalog.=) g.venue_id
		  JOIN protector.services s ON s.organization_id OPERATOR(pg_catalog.=) p_organization_id
								   AND s.id OPERATOR(pg_catalog.=) g.service_id) x;
	RETURN v_rows;
END
$$;
COMMENT ON FUNCTION protector_internal.revenue_report(uuid, jsonb) IS
'Revenue (succeeded payments less refunds, organization currency) per local day/week/month, venue and service';

CREATE FUNCTION protector_internal.booking_report(p_organization_id uuid, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_venue uuid := (p_params ->> 'venue_id')::uuid;
	r record;
	v_rows jsonb;
BEGIN
	SELECT * INTO r FROM protector_internal.report_range(p_organization_id, v_venue, (p_params ->> 'from')::date,
														  (p_params ->> 'to')::date);
	SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.status, x.source, x.service), '[]')
	INTO v_rows
	FROM (SELECT b.status, b.source, b.service_id, s.name AS service, pg_catalog.count(*) AS bookings,
				 COALESCE(pg_catalog.sum(b.party_size), 0) AS guests,
				 COALESCE(pg_catalog.sum(b.total_price) FILTER (WHERE b.currency OPERATOR(pg_catalog.=) o.currency), 0) AS booked_value
		  FROM protector.bookings b
		  JOIN protector.organizations o ON o.id OPERATOR(pg_catalog.=) b.organization_id
		  JOIN protector.services s ON s.organization_id OPERATOR(pg_catalog.=) b.organization_id AND s.id OPERATOR(pg_catalog.=) b.service_id
		  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
			AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) r.lo AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) r.hi
			AND (v_venue IS NULL OR b.venue_id OPERATOR(pg_catalog.=) v_venue)
			-- (a hold cancelled, lapsed or by hand, was never a booking:
			-- it keeps its hold_expires_at)
			AND NOT (b.status OPERATOR(pg_catalog.=) 'cancelled' AND b.hold_expires_at IS NOT NULL)
		  GROUP BY b.status, b.source, b.service_id, s.name) x;
	RETURN v_rows;
END
$$;
COMMENT ON FUNCTION protector_internal.booking_report(uuid, jsonb) IS
'Bookings starting in a local date range by status, source and service: count, guests, booked value';

CREATE OR REPLACE FUNCTION protector_internal.customer_report(p_organization_id uuid, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	v_rows jsonb;
BEGIN
	SELECT * INTO r FROM protector_internal.report_range(p_organization_id, NULL, (p_params ->> 'from')::date,
														  (p_params ->> 'to')::date);
	WITH q AS (		-- qualifying bookings: not held, not cancelled
		SELECT b.customer_id, pg_catalog.lower(b.during) AS at FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.customer_id IS NOT NULL
		  AND b.status OPERATOR(pg_catalog.<>) ALL ('{held,cancelled}'::protector.booking_status[])
		  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) r.hi),
	c AS (SELECT q.customer_id, pg_catalog.min(q.at) AS first_at,
				 pg_catalog.bool_or(q.at OPERATOR(pg_catalog.>=) r.lo) AS in_range
		  FROM q GROUP BY q.customer_id)
	SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('category', x.category, 'label', x.label, 'customers', x.customers)
								ORDER BY x.n)
	INTO v_rows
	FROM (SELECT 1 AS n, 'new' AS category, 'New customers' AS label,
				 pg_catalog.count(*) FILTER (WHERE c.in_range AND c.first_at OPERATOR(pg_catalog.>=) r.lo) AS customers FROM c
		  UNION ALL
		  SELECT 2, 'returning', 'Returning customers',
				 pg_catalog.count(*) FILTER (WHERE c.in_range AND c.first_at OPERATOR(pg_catalog.<) r.lo) FROM c) x;
	RETURN v_rows;
END
$$;
COMMENT ON FUNCTION protector_internal.customer_report(uuid, jsonb) IS
'Customers with bookings in a local date range: new (first booking in it) and returning (the cached part of the customer report)';

CREATE FUNCTION protector_internal.staff_report(p_organization_id uuid, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	v_rows jsonb;
BEGIN
	SELECT * INTO r FROM protector_internal.report_range(p_organization_id, NULL, (p_params ->> 'from')::date,
														  (p_params ->> 'to')::date);
	-- (each table read once for the range and grouped by member: read
	-- per member, a year of a tenant with 200 members took 10 s)
	SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.full_name, x.user_id), '[]')
	INTO v_rows
	FROM (WITH bk AS (
			  SELECT COALESCE(b.assigned_agent, b.created_by) AS user_id, pg_catalog.count(*) AS n
			  FROM protector.bookings b
			  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
				AND b.status OPERATOR(pg_catalog.<>) 'held'
				AND NOT (b.status OPERATOR(pg_catalog.=) 'cancelled' AND b.hold_expires_at IS NOT NULL)
				AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) r.lo
				AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) r.hi
			  GROUP BY 1),
		  pay AS (
			  SELECT p.created_by AS user_id,
					 pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount
										 ELSE OPERATOR(pg_catalog.-) p.amount END) AS total
			  FROM protector.payments p JOIN protector.organizations o ON o.id OPERATOR(pg_catalog.=) p.organization_id
			  WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id
				AND p.status OPERATOR(pg_catalog.=) 'succeeded' AND p.currency OPERATOR(pg_catalog.=) o.currency
				AND p.created_at OPERATOR(pg_catalog.>=) r.lo AND p.created_at OPERATOR(pg_catalog.<) r.hi
			  GROUP BY 1),
		  tk AS (
			  SELECT t.assignee AS user_id, pg_catalog.count(*) AS n
			  FROM protector.tasks t
			  WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.status OPERATOR(pg_catalog.=) 'done'
				AND t.completed_at OPERATOR(pg_catalog.>=) r.lo AND t.completed_at OPERATOR(pg_catalog.<) r.hi
			  GROUP BY 1)
		  SELECT m.user_id, m.full_name, m.role, COALESCE(bk.n, 0) AS bookings_handled,
				 COALESCE(pay.total, 0) AS revenue, COALESCE(tk.n, 0) AS tasks_done
		  FROM protector.members m
		  LEFT JOIN bk ON bk.user_id OPERATOR(pg_catalog.=) m.user_id
		  LEFT JOIN pay ON pay.user_id OPERATOR(pg_catalog.=) m.user_id
		  LEFT JOIN tk ON tk.user_id OPERATOR(pg_catalog.=) m.user_id
		  WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id) x;
	RETURN v_rows;
END
$$;
COMMENT ON FUNCTION protector_internal.staff_report(uuid, jsonb) IS
'Per member, over a local date range: bookings handled (assigned, else created), revenue recorded, tasks done';

CREATE OR REPLACE FUNCTION protector.generate_revenue_report(p_organization_id uuid, p_from date, p_to date,
												   p_venue_id uuid DEFAULT NULL, p_group_by text DEFAULT 'day')
RETURNS TABLE (period_start date, venue_id uuid, venue text, service_id uuid, service text,
			   payments numeric, refunds numeric, revenue numeric, currency text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	IF p_group_by IS NULL OR p_group_by OPERATOR(pg_catalog.<>) ALL ('{day,week,month}') THEN
		PERFORM protector.raise('invalid_parameter', 'p_group_by must be day, week or month',
			pg_catalog.format('Got %s.', COALESCE(pg_catalog.quote_literal(p_group_by), 'NULL')));
	END IF;
	PERFORM protector_internal.report_range(p_organization_id, p_venue_id, p_from, p_to);
	RETURN QUERY
	SELECT * FROM pg_catalog.jsonb_to_recordset(protector_internal.cached_report(p_organization_id, 'revenue',
		pg_catalog.jsonb_build_object('from', p_from, 'to', p_to, 'venue_id', p_venue_id, 'group_by', p_group_by)))
		AS x(period_start date, venue_id uuid, venue text, service_id uuid, service text,
			 payments numeric, refunds numeric, revenue numeric, currency text);
END
$$;
COMMENT ON FUNCTION protector.generate_revenue_report(uuid, date, date, uuid, text) IS
'Revenue per local day, week or month, venue and service over [p_from, p_to] (aggregates; cached, never stale)';

CREATE OR REPLACE FUNCTION protector.generate_booking_report(p_organization_id uuid, p_from date, p_to date,
												   p_venue_id uuid DEFAULT NULL)
RETURNS TABLE (status protector.booking_status, source protector.booking_source, service_id uuid, service text,
			   bookings bigint, guests bigint, booked_value numeric)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	PERFORM protector_internal.report_range(p_organization_id, p_venue_id, p_from, p_to);
	RETURN QUERY
	SELECT * FROM pg_catalog.jsonb_to_recordset(protector_internal.cached_report(p_organization_id, 'bookings',
		pg_catalog.jsonb_build_object('from', p_from, 'to', p_to, 'venue_id', p_venue_id)))
		AS x(status protector.booking_status, source protector.booking_source, service_id uuid, service text,
			 bookings bigint, guests bigint, booked_value numeric);
END
$$;
COMMENT ON FUNCTION protector.generate_booking_report(uuid, date, date, uuid) IS
'Bookings starting in [p_from, p_to] (local) by status, source and service (aggregates; cached, never stale)';

CREATE OR REPLACE FUNCTION protector.generate_customer_report(p_organization_id uuid, p_from date, p_to date)
RETURNS TABLE (category text, label text, customers bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	PERFORM protector_internal.report_range(p_organization_id, NULL, p_from, p_to);
	RETURN QUERY
	SELECT * FROM pg_catalog.jsonb_to_recordset(protector_internal.cached_report(p_organization_id, 'customers',
		pg_catalog.jsonb_build_object('from', p_from, 'to', p_to)))
		AS x(category text, label text, customers bigint);
	-- the segments as of now, every call: they move with the clock (a
	-- booking's start passing, a customer's days since the last one)
	RETURN QUERY
	SELECT 'segment'::text, g.segment, g.customers FROM protector.get_customer_segments(p_organization_id) g;
END
$$;
COMMENT ON FUNCTION protector.generate_customer_report(uuid, date, date) IS
'Customers booking in [p_from, p_to] (local): new and returning, and the RFM segment counts (aggregates; cached)';

CREATE OR REPLACE FUNCTION protector.generate_staff_report(p_organization_id uuid, p_from date, p_to date)
RETURNS TABLE (user_id uuid, full_name text, role protector.member_role, bookings_handled bigint, revenue numeric,
			   tasks_done bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- each member's figures: staff performance, as get_staff_performance
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'staff.performance');
	PERFORM protector_internal.report_range(p_organization_id, NULL, p_from, p_to);
	RETURN QUERY
	SELECT * FROM pg_catalog.jsonb_to_recordset(protector_internal.cached_report(p_organization_id, 'staff',
		pg_catalog.jsonb_build_object('from', p_from, 'to', p_to)))
		AS x(user_id uuid, full_name text, role protector.member_role, bookings_handled bigint, revenue numeric,
			 tasks_done bigint);
END
$$;
COMMENT ON FUNCTION protector.generate_staff_report(uuid, date, date) IS
'Per member over [p_from, p_to] (local): bookings handled, revenue recorded, tasks done (staff performance; cached)';

GRANT EXECUTE ON FUNCTION protector_internal.prune_report_changes(integer) TO service_role;
GRANT EXECUTE ON FUNCTION
	protector.generate_revenue_report(uuid, date, date, uuid, text),
	protector.generate_booking_report(uuid, date, date, uuid),
	protector.generate_customer_report(uuid, date, date),
	protector.generate_staff_report(uuid, date, date),
	protector_internal.report_range(uuid, uuid, date, date),
	protector_internal.cached_report(uuid, text, jsonb)
TO authenticated, service_role;

-- Export ---------------------------------------------------------------------------

-- The bookings of a local date range with a fixed column list, for
-- PostgREST's text/csv (Accept: text/csv, supabase-js .csv()) and for
-- protector.csv_agg; read as the caller under RLS (personal data: the desk
-- and finance, an agent their own).
CREATE OR REPLACE FUNCTION protector.export_bookings(p_organization_id uuid, p_from date, p_to date, p_venue_id uuid DEFAULT NULL)
RETURNS TABLE (booking_id uuid, status protector.booking_status, source protector.booking_source, venue text, service text,
			   starts_at timestamptz, ends_at timestamptz, local_start timestamp, local_end timestamp, timezone text,
			   party_size integer, customer_name text, customer_email text, customer_phone text, currency text,
			   total_price numeric, discount_amount numeric, amount_paid numeric, balance_due numeric,
			   created_at timestamptz, cancelled_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
SET enable_indexscan = off
AS $$
DECLARE
	r record;
BEGIN
	PERFORM protector_internal.authorize_booking_list(p_organization_id);
	SELECT * INTO r FROM protector_internal.report_range(p_organization_id, p_venue_id, p_from, p_to);
	-- the bookings by (organization, start) with their customers first
	-- (OFFSET 0 keeps that part whole: its row estimate is right, so the
	-- customers are hashed); then the service and venue of each, read
	-- once for the organization (MATERIALIZED: a booking's service names
	-- its venue).  Joined to venues and services first, the bookings were
	-- estimated at 1/n of the organization's (n = venues in the table) and
	-- the customers were scanned once per booking: twice the time next to
	-- other tenants; joined to each as a table, the estimate of 1/n chose
	-- two hash probes per booking.  Each call is planned for its own
	-- organization and dates (force_custom_plan above: the generic plan,
	-- reused from the sixth call on, estimated two bookings and looked up
	-- each one's customer, 2.5x slower next to other tenants), and reads
	-- the bookings by bitmap (enable_indexscan off: the result is sorted
	-- anyway; in index order every booking cost a heap page visit when
	-- the organization's bookings were stored together).  Both settings
	-- hold for the whole call, report_range and the policies' lookups
	-- included: bitmap and index-only scans serve those as well.
	RETURN QUERY
	WITH sv AS MATERIALIZED (
		SELECT s.id, s.venue_id, s.name AS service, v.name AS venue, v.timezone
		FROM protector.services s
		JOIN protector.venues v ON v.organization_id OPERATOR(pg_catalog.=) s.organization_id AND v.id OPERATOR(pg_catalog.=) s.venue_id
		WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id)
	SELECT b.id, b.status, b.source, sv.venue, sv.service, pg_catalog.lower(b.during), pg_catalog.upper(b.during),
		   protector_internal.local_time(sv.timezone, pg_catalog.lower(b.during)),
		   protector_internal.local_time(sv.timezone, pg_catalog.upper(b.during)),
		   sv.timezone, b.party_size, b.customer_name, b.customer_email, b.customer_phone, b.currency, b.total_price, b.discount_amount,
		   b.amount_paid, b.balance_due, b.created_at, b.cancelled_at
	FROM (SELECT y.*, c.full_name AS customer_name, c.email AS customer_email, c.phone AS customer_phone
		  FROM protector.bookings y
		  LEFT JOIN protector.customers c ON c.organization_id OPERATOR(pg_catalog.=) p_organization_id
										  AND c.id OPERATOR(pg_catalog.=) y.customer_id
		  WHERE y.organization_id OPERATOR(pg_catalog.=) p_organization_id
			AND protector_internal.booking_start(y.during) OPERATOR(pg_catalog.>=) r.lo AND protector_internal.booking_start(y.during) OPERATOR(pg_catalog.<) r.hi
			AND (p_venue_id IS NULL OR y.venue_id OPERATOR(pg_catalog.=) p_venue_id)
			-- (not a hold that lapsed or was abandoned: no booking, as in
			-- the reports; its row read as a cancellation.  One that took
			-- money stays: the revenue report counts its payments, those
			-- that succeeded, not a card refused at checkout)
			AND NOT (y.status OPERATOR(pg_catalog.=) 'cancelled' AND y.hold_expires_at IS NOT NULL
					 AND NOT EXISTS (SELECT FROM protector.payments p
									 WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id
									   AND p.booking_id OPERATOR(pg_catalog.=) y.id
									   AND p.status OPERATOR(pg_catalog.=) 'succeeded'))
		  OFFSET 0) b
	JOIN sv ON sv.id OPERATOR(pg_catalog.=) b.service_id AND sv.venue_id OPERATOR(pg_catalog.=) b.venue_id
	ORDER BY pg_catalog.lower(b.during), b.id;
END
$$;
COMMENT ON FUNCTION protector.export_bookings(uuid, date, date, uuid) IS
'The bookings starting in [p_from, p_to] (local), a fixed column list for CSV export; as the caller may see them';

GRANT EXECUTE ON FUNCTION protector.export_bookings(uuid, date, date, uuid), protector_internal.authorize_booking_list(uuid)
TO authenticated, service_role;

-- CSV through PostgREST 12's media type handlers: the domain names the
-- media type, the aggregate writes the document (src/csv.c).
CREATE DOMAIN protector."text/csv" AS text;
COMMENT ON DOMAIN protector."text/csv" IS
'CSV (RFC 4180), the media type PostgREST answers Accept: text/csv with when an aggregate returns it';

CREATE FUNCTION protector_internal.csv_agg_transfn(internal, anyelement)
RETURNS internal
AS 'MODULE_PATHNAME', 'protector_csv_agg_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.csv_agg_transfn(internal, anyelement) IS
'csv_agg: appends a row as a CSV record (the header first)';

CREATE FUNCTION protector_internal.csv_agg_finalfn(internal)
RETURNS protector."text/csv"
AS 'MODULE_PATHNAME', 'protector_csv_agg_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.csv_agg_finalfn(internal) IS
'csv_agg: the document, handed over without a copy';

CREATE AGGREGATE protector.csv_agg(anyelement) (
	SFUNC = protector_internal.csv_agg_transfn,
	STYPE = internal,
	FINALFUNC = protector_internal.csv_agg_finalfn,
	FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE protector.csv_agg(anyelement) IS
'Rows as one RFC 4180 CSV document with a header row; text fields starting with = + - @ tab or CR are prefixed with a quote';

GRANT EXECUTE ON FUNCTION protector.csv_agg(anyelement), protector_internal.csv_agg_transfn(internal, anyelement),
	protector_internal.csv_agg_finalfn(internal)
TO authenticated, service_role;
GRANT USAGE ON DOMAIN protector."text/csv" TO authenticated, service_role;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;

-- restores: the report tables like every other
DO $restore_reports$
DECLARE
	t record;
	v_check text;
	v_name text;
BEGIN
	FOR t IN
		SELECT pg_catalog.format('%I.%I', cn.nspname, cl.relname) AS tbl, cl.relname,
			   pg_catalog.string_agg(pg_catalog.format('(%s OR EXISTS (SELECT FROM %s r WHERE %s))',
					(SELECT pg_catalog.string_agg(pg_catalog.format('NEW.%I IS NULL', a.attname), ' OR ')
					 FROM unnest(c.conkey) k JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k),
					(SELECT pg_catalog.format('%I.%I', n.nspname, r.relname) FROM pg_catalog.pg_class r
					 JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace WHERE r.oid = c.confrelid),
					(SELECT pg_catalog.string_agg(pg_catalog.format('r.%I OPERATOR(pg_catalog.=) NEW.%I', pa.attname, a.attname), ' AND ')
					 FROM unnest(c.conkey, c.confkey) u(fk_att, pk_att)
					 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.fk_att
					 JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = u.pk_att)),
				E'\n\t   AND ' ORDER BY c.conname) AS checks
		FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class cl ON cl.oid = c.conrelid
		JOIN pg_catalog.pg_namespace cn ON cn.oid = cl.relnamespace
		WHERE c.contype = 'f' AND c.confrelid <> c.conrelid
		  AND cl.relname IN ('reports_cache', 'report_prunes')
		  AND c.connamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
		GROUP BY cn.nspname, cl.relname
		ORDER BY cl.relname
	LOOP
		v_name := 'restore_order_' || t.relname;
		EXECUTE pg_catalog.format($f$
			CREATE OR REPLACE FUNCTION protector_internal.%I() RETURNS trigger
			LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
			AS $body$
			BEGIN
				IF %s THEN
					RETURN NEW;
				END IF;
				INSERT INTO protector_internal.restore_pending (relid, row_data)
				VALUES (TG_RELID, pg_catalog.to_jsonb(NEW));
				RETURN NULL;
			END
			$body$$f$, v_name, t.checks);
		EXECUTE pg_catalog.format('COMMENT ON FUNCTION protector_internal.%I() IS %L', v_name,
			'Trigger, during restores only: sets a ' || t.relname || ' row aside until what it refers to is loaded');
		-- "a_" fires before every other BEFORE INSERT trigger of the table
				EXECUTE pg_catalog.format('CREATE TRIGGER a_restore_order BEFORE INSERT ON %s FOR EACH ROW'
			' WHEN (protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.%I()', t.tbl, v_name);
	END LOOP;
	FOR t IN
		SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS tbl FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname IN ('protector', 'protector_internal')
		  AND c.relname IN ('report_changes', 'reports_cache', 'report_prunes')
		ORDER BY n.nspname, c.relname
	LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER z_insert_restored_pending AFTER INSERT ON %s FOR EACH STATEMENT'
			' WHEN (protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.insert_restored_pending()', t.tbl);
	END LOOP;
END
$restore_reports$;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;


CREATE OR REPLACE FUNCTION protector_internal.recent_booking_ids(p_organization_id uuid, p_limit integer)
RETURNS uuid[]
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[] := '{}';
	v_seen uuid[] := '{}';
	v_id uuid;
	v_at timestamptz;
	v_read integer := 0;
BEGIN
	PERFORM protector_internal.authorize_requester(p_organization_id, 'bookings.read');
	PERFORM protector_internal.check_integer(p_limit, 'p_limit', 1, 1000);
	-- (the trigger is there, and its settings' row says it writes the
	-- bookings' ids: a restore makes the trigger again of a table the
	-- backup did not audit, and a masked id is "[masked]")
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
				   WHERE g.tgrelid OPERATOR(pg_catalog.=) 'protector.bookings'::pg_catalog.regclass
					 AND g.tgname OPERATOR(pg_catalog.=) 'protector_audit' AND g.tgenabled OPERATOR(pg_catalog.<>) 'D')
	   OR EXISTS (SELECT FROM protector_internal.audit_settings s
				  WHERE s.table_name OPERATOR(pg_catalog.=) 'protector.bookings'::pg_catalog.regclass
					AND (NOT s.audited OR 'id' OPERATOR(pg_catalog.=) ANY (s.masked))) THEN
		RETURN NULL;
	END IF;
	-- (a row logged while the ids were masked names none: the log cannot
	-- tell which booking changed then, and the caller reads the bookings)
	FOR v_id, v_at IN
		SELECT CASE WHEN l.record_id OPERATOR(pg_catalog.<>) '[masked]' THEN l.record_id::uuid END, l.occurred_at
		FROM protector.audit_log l
		WHERE l.organization_id OPERATOR(pg_catalog.=) p_organization_id AND l.table_name OPERATOR(pg_catalog.=) 'protector.bookings'
		ORDER BY l.occurred_at DESC, l.id DESC
		-- (as many as the loop reads at most: without a limit a loop's
		-- query is planned for all its rows, and the whole history of the
		-- organization's bookings was read and sorted on every call)
		LIMIT (10 OPERATOR(pg_catalog.*) p_limit) OPERATOR(pg_catalog.+) 1001
	LOOP
		v_read := v_read OPERATOR(pg_catalog.+) 1;
		IF v_read OPERATOR(pg_catalog.>) ((10 OPERATOR(pg_catalog.*) p_limit) OPERATOR(pg_catalog.+) 1000) THEN
			RETURN NULL;
		END IF;
		IF v_id IS NULL THEN
			RETURN NULL;
		END IF;
		CONTINUE WHEN v_id OPERATOR(pg_catalog.=) ANY (v_seen);
		v_seen := v_seen OPERATOR(pg_catalog.||) v_id;
		CONTINUE WHEN NOT EXISTS (SELECT FROM protector.bookings b
								  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
									AND b.id OPERATOR(pg_catalog.=) v_id);
		v_ids := v_ids OPERATOR(pg_catalog.||) v_id;
		EXIT WHEN pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.=) p_limit;
	END LOOP;
	IF pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.<) p_limit THEN
		RETURN NULL;
	END IF;
	SELECT pg_catalog.array_agg(DISTINCT x.id) INTO v_ids
	FROM (SELECT pg_catalog.unnest(v_ids) AS id
		  UNION ALL
		  (SELECT DISTINCT b.id
		   FROM protector.audit_log l
		   JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) p_organization_id
									AND b.id OPERATOR(pg_catalog.=) CASE WHEN l.record_id OPERATOR(pg_catalog.<>) '[masked]'
																	 THEN l.record_id::uuid END
		   WHERE l.organization_id OPERATOR(pg_catalog.=) p_organization_id AND l.occurred_at OPERATOR(pg_catalog.=) v_at
			 AND l.table_name OPERATOR(pg_catalog.=) 'protector.bookings'
		   ORDER BY 1 LIMIT p_limit)) x;
	RETURN v_ids;
END
$$;
COMMENT ON FUNCTION protector_internal.recent_booking_ids(uuid, integer) IS
'The p_limit bookings of an organization changed last, by the audit log (NULL when it cannot tell); bookings.read';

REVOKE ALL ON FUNCTION protector_internal.recent_booking_ids(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.recent_booking_ids(uuid, integer) TO authenticated, service_role;

-- The bookings' time CHECKs in C (issue 15): same names, same rules ------------
CREATE FUNCTION protector_internal.during_is_bounded(tstzrange)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_during_is_bounded'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.during_is_bounded(tstzrange) IS
'CHECK bookings_during_check: not empty, [) bounds, both finite';

CREATE FUNCTION protector_internal.during_within_31_days(tstzrange)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_during_within_31_days'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.during_within_31_days(tstzrange) IS
'CHECK bookings_length_check: upper - lower <= 31 days';

REVOKE ALL ON FUNCTION protector_internal.during_is_bounded(tstzrange),
	protector_internal.during_within_31_days(tstzrange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.during_is_bounded(tstzrange),
	protector_internal.during_within_31_days(tstzrange) TO authenticated, service_role;

-- every existing booking already passed the same rule: NOT VALID, then
-- VALIDATE (a scan under a lock that lets bookings be read meanwhile)
ALTER TABLE protector.bookings
	DROP CONSTRAINT bookings_during_check,
	ADD CONSTRAINT bookings_during_check CHECK (protector_internal.during_is_bounded(during)) NOT VALID,
	DROP CONSTRAINT bookings_length_check,
	ADD CONSTRAINT bookings_length_check CHECK (protector_internal.during_within_31_days(during)) NOT VALID;
ALTER TABLE protector.bookings VALIDATE CONSTRAINT bookings_during_check;
ALTER TABLE protector.bookings VALIDATE CONSTRAINT bookings_length_check;

CREATE OR REPLACE FUNCTION protector_internal.booking_workflow_insert()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_booking_workflow_insert'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.booking_workflow_insert() IS
'Trigger (AFTER INSERT, C): the review task and desk notification of a new booking';

-- A new booking's work in C (issue 15): the insert trigger runs
-- booking_workflow_insert, the PL/pgSQL function keeps the changes
REVOKE ALL ON FUNCTION protector_internal.booking_workflow_insert() FROM PUBLIC;
DROP TRIGGER booking_workflow ON protector.bookings;
CREATE TRIGGER booking_workflow
	AFTER INSERT ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.booking_workflow_insert();
-- (service_id, party_size, total_price and currency: BEFORE triggers
-- change status and during when they change, and an UPDATE OF list names
-- only what the statement sets; see agent_shift_check_update)
CREATE TRIGGER booking_workflow_update
	AFTER UPDATE OF status, during, assigned_agent, service_id, party_size, total_price, currency ON protector.bookings
	FOR EACH ROW WHEN ((OLD.status, OLD.during, OLD.assigned_agent, OLD.service_id)
					   IS DISTINCT FROM (NEW.status, NEW.during, NEW.assigned_agent, NEW.service_id))
	EXECUTE FUNCTION protector_internal.booking_workflow();

-- Live announcements off the commit path (issue 15, src/outbox.c)
CREATE TABLE protector_internal.outbox (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	organization_id uuid NOT NULL,
	payloads		text NOT NULL
);
ALTER TABLE protector_internal.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.outbox FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.outbox IS
'Announcements of committed transactions waiting for the outbox worker (docs/realtime.md); no policy: the worker only';

-- A new booking's preparation in one C trigger (issue 15,
-- src/booking_insert.c): five BEFORE INSERT triggers, each with a WHEN
-- clause parsed for every INSERT, become one; the PL/pgSQL functions stay
-- and are called by it where needed
CREATE FUNCTION protector_internal.prepare_booking()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_prepare_booking'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.prepare_booking() IS
'Trigger (BEFORE INSERT, C): a new booking''s currency, source and caller checks, promo discount and deposit';
REVOKE ALL ON FUNCTION protector_internal.prepare_booking() FROM PUBLIC;
DROP TRIGGER default_currency ON protector.bookings;
DROP TRIGGER guard_booking_source ON protector.bookings;
DROP TRIGGER promo_discount ON protector.bookings;
DROP TRIGGER require_deposit ON protector.bookings;
DROP TRIGGER guard_booking_write ON protector.bookings;
CREATE TRIGGER guard_booking_write BEFORE UPDATE ON protector.bookings
	FOR EACH ROW WHEN (protector.current_user_id() IS NOT NULL)
	EXECUTE FUNCTION protector_internal.guard_booking_write();
CREATE TRIGGER prepare_booking BEFORE INSERT ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.prepare_booking();
ALTER TABLE protector.bookings ENABLE ALWAYS TRIGGER prepare_booking;

-- The report change log written in C for the tables with an
-- organization_id (issue 15, src/report_changes.c): every booking ran the
-- PL/pgSQL INSERT ... ON CONFLICT through SPI
CREATE FUNCTION protector_internal.report_change()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_report_change'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.report_change() IS
'Trigger, per statement (C): logs which organizations'' report data the transaction changed';
REVOKE ALL ON FUNCTION protector_internal.report_change() FROM PUBLIC;
DO $reports$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['bookings', 'payments', 'tasks', 'members', 'customers', 'venues', 'services'] LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER zz_report_change_insert ON protector.%I', t);
		EXECUTE pg_catalog.format('DROP TRIGGER zz_report_change_update ON protector.%I', t);
		EXECUTE pg_catalog.format('DROP TRIGGER zz_report_change_delete ON protector.%I', t);
		EXECUTE pg_catalog.format('CREATE TRIGGER zz_report_change_insert AFTER INSERT ON protector.%I'
			' REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT'
			' EXECUTE FUNCTION protector_internal.report_change()', t);
		EXECUTE pg_catalog.format('CREATE TRIGGER zz_report_change_update AFTER UPDATE ON protector.%I'
			' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT'
			' EXECUTE FUNCTION protector_internal.report_change()', t);
		EXECUTE pg_catalog.format('CREATE TRIGGER zz_report_change_delete AFTER DELETE ON protector.%I'
			' REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT'
			' EXECUTE FUNCTION protector_internal.report_change()', t);
		EXECUTE pg_catalog.format('ALTER TABLE protector.%I ENABLE ALWAYS TRIGGER zz_report_change_insert', t);
		EXECUTE pg_catalog.format('ALTER TABLE protector.%I ENABLE ALWAYS TRIGGER zz_report_change_update', t);
		EXECUTE pg_catalog.format('ALTER TABLE protector.%I ENABLE ALWAYS TRIGGER zz_report_change_delete', t);
	END LOOP;
END
$reports$;

-- The bookings' thirteen CHECK constraints as one C call (issue 15,
-- src/constraints.c): PostgreSQL parsed and planned every one of them for
-- every INSERT statement; a violation still names the rule's own
-- constraint.  Every existing booking already passed the same rules: NOT
-- VALID, then VALIDATE.
CREATE FUNCTION protector_internal.bookings_row_check(
	amount_paid numeric, cancellation_reason text, status protector.booking_status,
	hold_expires_at timestamptz, currency text, deposit_amount numeric, details jsonb,
	discount_amount numeric, during tstzrange, idempotency_key text, party_size integer,
	total_price numeric, unit_price numeric)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_bookings_row_check'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.bookings_row_check(numeric, text, protector.booking_status, timestamptz, text,
	numeric, jsonb, numeric, tstzrange, text, integer, numeric, numeric) IS
'CHECK bookings_row_check: every rule of a booking row; a violation names the rule''s own constraint (sql/30_tables.sql)';
REVOKE ALL ON FUNCTION protector_internal.bookings_row_check(numeric, text, protector.booking_status, timestamptz, text,
	numeric, jsonb, numeric, tstzrange, text, integer, numeric, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.bookings_row_check(numeric, text, protector.booking_status, timestamptz, text,
	numeric, jsonb, numeric, tstzrange, text, integer, numeric, numeric) TO authenticated, service_role;
ALTER TABLE protector.bookings
	DROP CONSTRAINT bookings_amount_paid_check,
	DROP CONSTRAINT bookings_cancellation_reason_check,
	DROP CONSTRAINT bookings_check,
	DROP CONSTRAINT bookings_currency_check,
	DROP CONSTRAINT bookings_deposit_amount_check,
	DROP CONSTRAINT bookings_details_check,
	DROP CONSTRAINT bookings_discount_amount_check,
	DROP CONSTRAINT bookings_during_check,
	DROP CONSTRAINT bookings_idempotency_key_check,
	DROP CONSTRAINT bookings_length_check,
	DROP CONSTRAINT bookings_party_size_check,
	DROP CONSTRAINT bookings_total_price_check,
	DROP CONSTRAINT bookings_unit_price_check,
	ADD CONSTRAINT bookings_row_check CHECK (protector_internal.bookings_row_check(
		amount_paid, cancellation_reason, status, hold_expires_at, currency, deposit_amount, details,
		discount_amount, during, idempotency_key, party_size, total_price, unit_price)) NOT VALID;
ALTER TABLE protector.bookings VALIDATE CONSTRAINT bookings_row_check;

-- Staff and shifts (issue 16) --------------------------------------------------
-- sql/81_staff.sql: the staff of an organization: invitations, roles,
-- deactivation, venues, shifts, activity and performance
-- (docs/staff.md).
--
-- Members are invited by e-mail before they have an account; the
-- membership starts when an auth user with that e-mail, confirmed, signs
-- in (the Supabase access-token hook auth_access_token_hook, or
-- accept_staff_invitations() called by the app after sign-in).
--
-- Shifts (staff_shifts: member, venue, time range) are kept by C triggers
-- on the reservation engine's mechanics (src/shifts.c): a member's shifts
-- never overlap, and a booking's agent is on shift at its venue for its
-- whole time (settings.staff.require_shifts, default true), under the
-- member's transaction-level advisory lock (class id 1886547719).

-- invitations -----------------------------------------------------------------

CREATE TABLE protector.staff_invitations (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	email			text NOT NULL CHECK (length(email) <= 320 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
	-- the e-mail as compared (trimmed, lower case), set by the database
	email_key		text NOT NULL,
	role			protector.member_role NOT NULL DEFAULT 'viewer',
	full_name		text CHECK (length(full_name) <= 200),
	expires_at		timestamptz NOT NULL DEFAULT now() + interval '14 days',
	accepted_at		timestamptz,
	member_id		uuid,
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	-- (accepted: the membership it made, until that member is deleted)
	CHECK (member_id IS NULL OR accepted_at IS NOT NULL),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, member_id) REFERENCES protector.members (organization_id, id) ON DELETE SET NULL (member_id)
);
CREATE INDEX staff_invitations_member_idx ON protector.staff_invitations (organization_id, member_id);
CREATE INDEX staff_invitations_email_idx ON protector.staff_invitations (email_key) WHERE accepted_at IS NULL;
CREATE UNIQUE INDEX staff_invitations_open_idx ON protector.staff_invitations (organization_id, email_key)
	WHERE accepted_at IS NULL;
COMMENT ON TABLE protector.staff_invitations IS
'Members invited by e-mail; the membership starts when a confirmed auth user with that e-mail signs in';

-- staff at venues ---------------------------------------------------------------

CREATE TABLE protector.staff_venues (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	member_id		uuid NOT NULL,
	venue_id		uuid NOT NULL,
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, member_id, venue_id),
	FOREIGN KEY (organization_id, member_id) REFERENCES protector.members (organization_id, id) ON DELETE CASCADE,
	FOREIGN KEY (organization_id, venue_id) REFERENCES protector.venues (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX staff_venues_venue_idx ON protector.staff_venues (organization_id, venue_id);
COMMENT ON TABLE protector.staff_venues IS 'Which members work at which venues: shifts are scheduled only there';

-- shifts ------------------------------------------------------------------------

CREATE TABLE protector.staff_shifts (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	member_id		uuid NOT NULL,
	venue_id		uuid NOT NULL,
	-- not empty, [) bounds, both finite, at most 31 days
	during			tstzrange NOT NULL CHECK (protector_internal.during_is_bounded(during)
											  AND protector_internal.during_within_31_days(during)),
	note			text CHECK (length(note) <= 2000),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, member_id) REFERENCES protector.members (organization_id, id) ON DELETE CASCADE,
	FOREIGN KEY (organization_id, venue_id) REFERENCES protector.venues (organization_id, id) ON DELETE CASCADE
);
-- what the overlap check probes (src/shifts.c), by position
CREATE INDEX staff_shifts_during_idx ON protector.staff_shifts USING gist (member_id, during);
CREATE INDEX staff_shifts_member_idx ON protector.staff_shifts (organization_id, member_id);
CREATE INDEX staff_shifts_venue_idx ON protector.staff_shifts (organization_id, venue_id, (lower(during)));
COMMENT ON TABLE protector.staff_shifts IS
'Staff shifts (the seeds'' staff_schedules): a member''s shifts never overlap; bookings are assigned only to agents on shift';

-- activity ----------------------------------------------------------------------

CREATE TABLE protector.staff_activity (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	member_id		uuid,
	action			text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]*$' AND length(action) <= 63),
	details			jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object' AND pg_column_size(details) <= 8192),
	occurred_at		timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (organization_id, member_id) REFERENCES protector.members (organization_id, id) ON DELETE SET NULL (member_id)
);
CREATE INDEX staff_activity_member_idx ON protector.staff_activity (organization_id, member_id, occurred_at);
COMMENT ON TABLE protector.staff_activity IS
'What staff did (log_staff_activity, and protector''s own staff changes): append-only';

CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.staff_invitations
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.staff_shifts
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();

ALTER TABLE protector.staff_invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_invitations FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_venues ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_venues FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_shifts ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_shifts FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_activity ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_activity FORCE ROW LEVEL SECURITY;
-- invitations: those who manage members (owners' invitations: owners)
CREATE POLICY staff_invitations_select ON protector.staff_invitations FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage'))::uuid[])
		   AND (role <> 'owner' OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])));
CREATE POLICY staff_invitations_insert ON protector.staff_invitations FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage'))::uuid[])
				AND (role <> 'owner' OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])));
-- (an invitation is not edited: a new one replaces it)
CREATE POLICY staff_invitations_delete ON protector.staff_invitations FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage'))::uuid[])
		   AND (role <> 'owner' OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])));
-- venues of staff: the desk sees them, schedulers change them
CREATE POLICY staff_venues_select ON protector.staff_venues FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('members.read'))::uuid[])
		   OR member_id IN (SELECT m.id FROM protector.members m WHERE m.user_id = (SELECT protector.current_user_id()) AND m.active));
CREATE POLICY staff_venues_insert ON protector.staff_venues FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]));
CREATE POLICY staff_venues_delete ON protector.staff_venues FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]));
-- shifts: the desk sees them all, everyone their own; schedulers write
CREATE POLICY staff_shifts_select ON protector.staff_shifts FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.read'))::uuid[])
		   OR member_id IN (SELECT m.id FROM protector.members m WHERE m.user_id = (SELECT protector.current_user_id()) AND m.active));
CREATE POLICY staff_shifts_insert ON protector.staff_shifts FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]));
CREATE POLICY staff_shifts_update ON protector.staff_shifts FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]));
CREATE POLICY staff_shifts_delete ON protector.staff_shifts FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]));
-- activity: owners and admins read it all, everyone their own; written by
-- log_staff_activity and protector's own changes (an owner's invitation:
-- owners, as the invitation and its audit rows)
CREATE POLICY staff_activity_select ON protector.staff_activity FOR SELECT TO authenticated
	USING ((organization_id = ANY ((SELECT protector_internal.orgs_with('staff.activity'))::uuid[])
			AND (action <> 'staff.invited' OR details ->> 'role' IS DISTINCT FROM 'owner'
				 OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])))
		   OR member_id IN (SELECT m.id FROM protector.members m WHERE m.user_id = (SELECT protector.current_user_id()) AND m.active));
-- (staff.* names protector's own entries: record_staff_activity)
CREATE POLICY staff_activity_insert ON protector.staff_activity FOR INSERT TO authenticated
	WITH CHECK (member_id IN (SELECT m.id FROM protector.members m
							  WHERE m.user_id = (SELECT protector.current_user_id()) AND m.active)
				AND NOT starts_with(action, 'staff.') AND occurred_at = now());
SELECT pg_catalog.pg_extension_config_dump('protector.staff_invitations', '');
SELECT pg_catalog.pg_extension_config_dump('protector.staff_venues', '');
SELECT pg_catalog.pg_extension_config_dump('protector.staff_shifts', '');
SELECT pg_catalog.pg_extension_config_dump('protector.staff_activity', '');
SELECT pg_catalog.pg_extension_config_dump('protector.staff_activity_id_seq', '');

-- an invitation's e-mail as compared: trimmed and in lower case, nothing
-- more (no Unicode folding: two mailboxes never share an invitation)
CREATE OR REPLACE FUNCTION protector_internal.prepare_invitation()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (one too long to be an address is not trimmed: btrim of 150 MB
	-- failed with XX000, out of memory; the check below refuses it)
	NEW.email := CASE WHEN pg_catalog.length(NEW.email) OPERATOR(pg_catalog.<=) 1000 THEN pg_catalog.btrim(NEW.email)
					  ELSE NEW.email END;
	NEW.email_key := pg_catalog.lower(NEW.email COLLATE "C");
	-- (as create_staff_member's p_email: the owners' list shows it; for
	-- callers who may invite, the policy refuses the others whatever it is)
	IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.email OPERATOR(pg_catalog.<>) OLD.email)
	   AND (protector_internal.caller_is_trusted()
			OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.manage')))
	   AND NOT protector_internal.email_is_valid(NEW.email) THEN
		PERFORM protector.raise('invalid_parameter', 'email is not an email address', 'At most 320 characters, like name@example.com.');
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
		-- an expired invitation of the address goes, whoever made it (it
		-- can never be accepted: an owner's blocked admins for good)
		PERFORM protector_internal.drop_expired_invitation(NEW.organization_id, NEW.email_key);
		-- a new invitation is open for 14 days, whatever the insert says
		NEW.expires_at := pg_catalog.now() OPERATOR(pg_catalog.+) '14 days'::pg_catalog.interval;
		NEW.accepted_at := NULL;
		NEW.member_id := NULL;
		-- and replaces an open one of the same address the caller may
		-- withdraw, also when inserted directly (a bare 23505 on the open
		-- invitations' unique index otherwise; create_staff_member names
		-- the one left, an owner's an admin may not replace)
		DELETE FROM protector.staff_invitations x
		WHERE x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND x.accepted_at IS NULL
		  AND x.email_key OPERATOR(pg_catalog.=) NEW.email_key;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.prepare_invitation() IS
'Trigger: an invitation''s email_key is its e-mail trimmed and in lower case, and a new one is open for 14 days, whatever a write says';
CREATE TRIGGER prepare_invitation BEFORE INSERT OR UPDATE ON protector.staff_invitations
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.prepare_invitation();

-- the shift checks (src/shifts.c) --------------------------------------------------

CREATE FUNCTION protector_internal.shift_check()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_shift_check'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.shift_check() IS
'Trigger (AFTER INSERT, UPDATE, DELETE, C): a member''s shifts never overlap, and never leave an assigned booking without a shift';
CREATE FUNCTION protector_internal.agent_shift_check()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_agent_shift_check'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.agent_shift_check() IS
'Trigger (AFTER INSERT or UPDATE of a booking''s agent, time, venue, status, C): the agent''s shifts at the venue cover the booking';

CREATE TRIGGER shift_check AFTER INSERT OR UPDATE OR DELETE ON protector.staff_shifts
	FOR EACH ROW EXECUTE FUNCTION protector_internal.shift_check();
-- (a new booking's check: fired by its AFTER INSERT trigger, src/booking_followups.c)
-- (service_id, party_size, total_price and currency: an UPDATE OF list
-- names what the statement sets, not what BEFORE triggers change;
-- guard_booking_write fits a booking moved to a longer service to its new
-- length, and set_booking_price() may confirm a booking whose deposit a
-- new price or currency leaves paid)
CREATE TRIGGER agent_shift_check_update AFTER UPDATE OF assigned_agent, during, venue_id, status, service_id, party_size, total_price, currency,
	hold_expires_at ON protector.bookings
	FOR EACH ROW WHEN (NEW.assigned_agent IS NOT NULL
					   -- (given to another agent, whatever its status: a
					   -- completed booking handed to an agent off shift
					   -- then moved its work and revenue to them)
					   AND (NEW.assigned_agent IS DISTINCT FROM OLD.assigned_agent
							OR (NEW.status = ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[])
								AND (NEW.venue_id IS DISTINCT FROM OLD.venue_id OR NOT NEW.during <@ OLD.during
									 OR OLD.status <> ALL ('{held,pending,confirmed,in_progress}'::protector.booking_status[])
									 -- (a hold confirmed: one that ran out held
									 -- nothing, and its agent's shift may be gone;
									 -- so is one held longer, revived so)
									 OR (OLD.status = 'held' AND NEW.status <> 'held')
									 OR (NEW.status = 'held' AND NEW.hold_expires_at IS DISTINCT FROM OLD.hold_expires_at)))))
	EXECUTE FUNCTION protector_internal.agent_shift_check();

-- A member leaves a venue (their staff_venues row goes) only once they
-- have no shift there that has not ended.
CREATE FUNCTION protector_internal.check_venue_unassignment()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.lock_members(OLD.member_id);
	-- (a fingerprint of the member's shifts, not their count: a shift
	-- moved to this venue meanwhile kept the count, went unseen, and was
	-- left at a venue the member no longer works at)
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.hashtext(COALESCE(pg_catalog.string_agg(s.id::text OPERATOR(pg_catalog.||) s.venue_id::text
				OPERATOR(pg_catalog.||) s.during::text, '','' ORDER BY s.id), ''''))::bigint
		 FROM protector.staff_shifts s
		 WHERE s.organization_id OPERATOR(pg_catalog.=) (SELECT m.organization_id FROM protector.members m
														 WHERE m.id OPERATOR(pg_catalog.=) $1)
		   AND s.member_id OPERATOR(pg_catalog.=) $1', OLD.member_id,
		'a shift of this member was written concurrently', NULL);
	IF EXISTS (SELECT FROM protector.staff_shifts s
			   WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
				 AND s.member_id OPERATOR(pg_catalog.=) OLD.member_id AND s.venue_id OPERATOR(pg_catalog.=) OLD.venue_id
				 AND pg_catalog.upper(s.during) OPERATOR(pg_catalog.>) pg_catalog.now())
	   AND EXISTS (SELECT FROM protector.members m WHERE m.id OPERATOR(pg_catalog.=) OLD.member_id)
	   AND EXISTS (SELECT FROM protector.venues v WHERE v.id OPERATOR(pg_catalog.=) OLD.venue_id) THEN
		-- (named: a DELETE of a venue's staff in one statement was refused
		-- without saying whose shift stood in the way)
		PERFORM protector.raise('invalid_parameter', 'the member still has shifts at this venue',
			(SELECT pg_catalog.format('Member %s%s has a shift at venue "%s" from %s local time.', m.id,
									  (' ("' OPERATOR(pg_catalog.||) protector_internal.quoted_text(m.full_name, 80) OPERATOR(pg_catalog.||) '")'),
									  protector_internal.quoted_text(v.name, 80),
									  pg_catalog.to_char(protector_internal.local_time(v.timezone, pg_catalog.lower(s.during)),
														 'YYYY-MM-DD HH24:MI'))
			 FROM protector.members m, protector.venues v, protector.staff_shifts s
			 WHERE m.id OPERATOR(pg_catalog.=) OLD.member_id AND v.id OPERATOR(pg_catalog.=) OLD.venue_id
			   AND s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND s.member_id OPERATOR(pg_catalog.=) OLD.member_id
			   AND s.venue_id OPERATOR(pg_catalog.=) OLD.venue_id AND pg_catalog.upper(s.during) OPERATOR(pg_catalog.>) pg_catalog.now()
			 ORDER BY pg_catalog.lower(s.during) LIMIT 1),
			'Delete or move their shifts there first.');
	END IF;
	RETURN OLD;
END
$$;
COMMENT ON FUNCTION protector_internal.check_venue_unassignment() IS
'Trigger: a member leaves a venue only with no shift there that has not ended (deleting the member or venue takes all)';
CREATE TRIGGER check_venue_unassignment BEFORE DELETE ON protector.staff_venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_venue_unassignment();

-- A shift is at a venue the member works at (staff_venues), for an active member.
CREATE OR REPLACE FUNCTION protector_internal.check_shift_member()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_active boolean;
BEGIN
	-- (a NULL the table's NOT NULL refuses, naming the column: the checks
	-- below told a direct write "no assignment to venue ", an empty id)
	IF NEW.member_id IS NULL OR NEW.venue_id IS NULL OR NEW.during IS NULL THEN
		RETURN NEW;
	END IF;
	-- the table's CHECK, in words (a direct write got its bare name), and
	-- for a new time create_staff_schedule's years (the schedule shows
	-- the weeks of the years 2000 to 2199)
	IF NOT (protector_internal.during_is_bounded(NEW.during) AND protector_internal.during_within_31_days(NEW.during))
	   OR ((TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.during OPERATOR(pg_catalog.<>) OLD.during)
		   AND (pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.<) '2000-01-01 00:00+00'
				OR pg_catalog.upper(NEW.during) OPERATOR(pg_catalog.>) '2200-01-01 00:00+00')) THEN
		PERFORM protector.raise('invalid_parameter', 'a shift ends after it starts, within 31 days, between the years 2000 and 2200',
			pg_catalog.format('Got %s; a shift''s time is [start, end).', protector_internal.iso_text(NEW.during)),
			'Split a longer time into shifts of at most 31 days.');
	END IF;
	-- a shift kept in the past (its end corrected, say) is history
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.member_id OPERATOR(pg_catalog.=) OLD.member_id
	   AND NEW.venue_id OPERATOR(pg_catalog.=) OLD.venue_id
	   AND pg_catalog.upper(NEW.during) OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		RETURN NEW;
	END IF;
	-- (the member's row locked: a deactivation racing this waits for it, or
	-- this for the deactivation, and then sees the member inactive)
	SELECT m.active INTO v_active FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND m.id OPERATOR(pg_catalog.=) NEW.member_id
	FOR SHARE;
	IF NOT FOUND THEN
		-- (as staff_venues says it: another organization's member is none)
		PERFORM protector.raise('not_found', 'member not found', 'member_id is not a member of the organization.');
	ELSIF NOT v_active THEN
		PERFORM protector.raise('invalid_parameter', 'shifts are for active members',
			pg_catalog.format('Member %s is not an active member of the organization.', NEW.member_id));
	END IF;
	-- (the member's lock, as their venue's unassignment takes it: one
	-- waits for the other and sees what it did; a shift moved from one
	-- member to another locks both, as shift_check() takes them)
	PERFORM protector_internal.lock_members(NEW.member_id, CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN OLD.member_id END);
	-- (a fingerprint of the member's venues, not their count: one
	-- assignment swapped for another kept the count and went unseen)
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.hashtext(COALESCE(pg_catalog.string_agg(sv.id::text OPERATOR(pg_catalog.||) sv.venue_id::text,
				'','' ORDER BY sv.id), ''''))::bigint
		 FROM protector.staff_venues sv
		 WHERE sv.organization_id OPERATOR(pg_catalog.=) (SELECT m.organization_id FROM protector.members m
														  WHERE m.id OPERATOR(pg_catalog.=) $1)
		   AND sv.member_id OPERATOR(pg_catalog.=) $1', NEW.member_id,
		'this member''s venues were changed concurrently', NULL);
	IF NOT EXISTS (SELECT FROM protector.staff_venues sv
				   WHERE sv.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
					 AND sv.member_id OPERATOR(pg_catalog.=) NEW.member_id AND sv.venue_id OPERATOR(pg_catalog.=) NEW.venue_id) THEN
		PERFORM protector.raise('invalid_parameter', 'the member does not work at this venue',
			pg_catalog.format('Member %s has no assignment to venue %s.', NEW.member_id, NEW.venue_id),
			'Assign them first: assign_staff_to_venue.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_shift_member() IS
'Trigger: a shift that has not ended is of an active member at a venue they are assigned to';
-- (a caller who may not manage the organization's shifts learns nothing
-- from it: the policy refuses the row as if the member did not exist; the
-- WHEN clause runs as the caller, the function as the owner, for whom
-- caller_is_trusted() holds)
CREATE TRIGGER check_shift_member BEFORE INSERT OR UPDATE OF member_id, venue_id, during ON protector.staff_shifts
	FOR EACH ROW WHEN (NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('shifts.manage'))))
	EXECUTE FUNCTION protector_internal.check_shift_member();

-- A task is assigned to an active member only: a deactivated one is
-- assigned nothing (deactivate_staff releases their open tasks; a
-- booking's agent is checked by agent_shift_check, and its review task
-- follows it).
CREATE OR REPLACE FUNCTION protector_internal.check_task_assignee()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_agent uuid;
BEGIN
	-- a task that keeps its assignee: a done one is history (a former
	-- member's stays theirs), an open one was checked when it was assigned;
	-- a reopened one is checked again, as is every new assignment
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.assignee OPERATOR(pg_catalog.=) OLD.assignee
	   AND NEW.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
	   AND NEW.booking_id IS NOT DISTINCT FROM OLD.booking_id
	   AND (NEW.status OPERATOR(pg_catalog.=) 'done' OR OLD.status OPERATOR(pg_catalog.<>) 'done') THEN
		RETURN NEW;
	END IF;
	-- (the member's row locked: a deactivation racing this waits for it and
	-- then releases the task, or this waits and sees the member inactive)
	IF NOT protector_internal.lock_active_member(NEW.organization_id, NEW.assignee,
			'A task is assigned only to an active member.', 'Assign someone else.') THEN
		-- (by name: the composite foreign key's error was bare)
		PERFORM protector.raise('not_found', 'assignee not found',
			'assignee is not a member of the task''s organization.');
	END IF;
	-- ... whose role sees it (the map's tasks.read or tasks.assigned): a
	-- task given to finance or a viewer was never seen, and counted done
	-- for them in the staff reports
	IF NOT protector_internal.member_sees_tasks(NEW.organization_id, NEW.assignee) THEN
		PERFORM protector.raise('invalid_parameter', 'the assignee''s role sees no tasks',
			'A task is assigned to a member whose role may see it (tasks.read or tasks.assigned in protector.capability_map()).',
			'Assign someone else.');
	END IF;
	-- ... and, to a member who works only on the tasks of their own
	-- bookings (the map's tasks.assigned, not tasks.update), a booking's
	-- task only while the booking is theirs: one given for another agent's
	-- booking stayed open for good, its assignee unable to finish it (the
	-- policy) and the booking's agent unable to see it
	-- (the booking's row share-locked: a handover at the same moment waits
	-- for this task and takes it along, or this waits for the handover and
	-- sees it; under REPEATABLE READ, one committed since the snapshot is
	-- a 40001; a task moved to another booking is checked too)
	IF NEW.booking_id IS NOT NULL
	   AND NOT protector_internal.role_may((SELECT m.role FROM protector.members m
											WHERE m.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
											  AND m.user_id OPERATOR(pg_catalog.=) NEW.assignee), '{tasks.update}') THEN
		SELECT b.assigned_agent INTO v_agent FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id
		FOR SHARE;
		IF FOUND AND v_agent IS DISTINCT FROM NEW.assignee THEN
			PERFORM protector.raise('invalid_parameter', 'the assignee works only on the tasks of their own bookings',
				pg_catalog.format('Booking %s is not assigned to them.', NEW.booking_id),
				'Assign the booking to them first, or the task to someone at the desk.');
		END IF;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_task_assignee() IS
'Trigger: a task is assigned to an active member whose role sees tasks; a booking''s task to an agent only while the booking is theirs';
-- (a caller who may not write the organization's tasks learns nothing
-- from it: the policy refuses the row; see check_shift_member)
CREATE TRIGGER check_task_assignee BEFORE INSERT ON protector.tasks
	FOR EACH ROW WHEN (NEW.assignee IS NOT NULL AND NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('tasks.create'))
							OR NEW.organization_id = ANY (protector_internal.orgs_with('tasks.update'))))
	EXECUTE FUNCTION protector_internal.check_task_assignee();
CREATE TRIGGER check_task_reassignment BEFORE UPDATE OF assignee, organization_id, status, booking_id ON protector.tasks
	FOR EACH ROW WHEN (NEW.assignee IS NOT NULL AND NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('tasks.create'))
							OR NEW.organization_id = ANY (protector_internal.orgs_with('tasks.update'))
							OR (NEW.organization_id = ANY (protector_internal.orgs_with('tasks.assigned'))
								AND NEW.assignee IS NOT DISTINCT FROM OLD.assignee
								AND NEW.organization_id IS NOT DISTINCT FROM OLD.organization_id)))
	EXECUTE FUNCTION protector_internal.check_task_assignee();

-- activity ------------------------------------------------------------------------

CREATE FUNCTION protector.log_staff_activity(p_organization_id uuid, p_action text, p_details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_member uuid;
	v_id bigint;
BEGIN
	IF p_organization_id IS NULL OR p_action IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id and p_action must not be null');
	END IF;
	PERFORM protector_internal.check_staff_entry(p_action, p_details, 'p_');
	IF pg_catalog.starts_with(p_action, 'staff.') THEN
		PERFORM protector.raise('invalid_parameter', 'actions named staff.* are protector''s own entries',
			pg_catalog.format('Got "%s".', pg_catalog.left(p_action, 70)), 'Name your action otherwise, e.g. "desk.check_in".');
	END IF;
	SELECT m.id INTO v_member FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND m.user_id OPERATOR(pg_catalog.=) protector.current_user_id() AND m.active;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'organization not found', 'It does not exist, or you may not see it.');
	END IF;
	INSERT INTO protector.staff_activity (organization_id, member_id, action, details)
	VALUES (p_organization_id, v_member, p_action, p_details)
	RETURNING id INTO v_id;
	RETURN v_id;
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.log_staff_activity(uuid, text, jsonb) IS
'Records an action of the calling member (e.g. desk.check_in) in their organization''s staff activity';

-- protector's own staff changes (staff.*), recorded as the member who made
-- them: past the policy, which keeps staff.* to protector, for those who
-- manage members (who made the change) and server-side callers only
CREATE OR REPLACE FUNCTION protector_internal.record_staff_activity(p_organization_id uuid, p_action text, p_details jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_action OPERATOR(pg_catalog.=) ANY ('{staff.role_changed,staff.deactivated}') AND EXISTS (
			SELECT FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND m.id::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'member_id')
			  AND m.user_id OPERATOR(pg_catalog.=) protector.current_user_id()) THEN
		-- the requester's own row, demoted or deactivated: they manage no
		-- members now, but the RPC authorized the row before the change
		-- (its permit), and the entry is written
		PERFORM protector_internal.require_permit('protector.members', (p_details OPERATOR(pg_catalog.->>) 'member_id')::uuid,
												  'members.manage');
	ELSE
		PERFORM protector_internal.authorize_requester(p_organization_id, 'members.manage');
	END IF;
	IF NOT (CASE p_action
		WHEN 'staff.invited' THEN EXISTS (
			SELECT FROM protector.staff_invitations i
			WHERE i.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND i.id::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'invitation_id')
			  AND i.role::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'role')
			  AND protector_internal.written_by_this_transaction(i.xmin))
		WHEN 'staff.role_changed' THEN EXISTS (
			SELECT FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND m.id::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'member_id')
			  AND m.role::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'to')
			  AND protector_internal.written_by_this_transaction(m.xmin))
		WHEN 'staff.deactivated' THEN EXISTS (
			SELECT FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND m.id::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'member_id')
			  AND NOT m.active
			  AND protector_internal.written_by_this_transaction(m.xmin))
		ELSE false END) THEN
		PERFORM protector.raise('forbidden', pg_catalog.format('%s is not an entry of a change made in this transaction', p_action),
			'Protector''s own staff.* entries record the changes its staff functions make.');
	END IF;
	INSERT INTO protector.staff_activity (organization_id, member_id, action, details)
	SELECT p_organization_id,
		   (SELECT m.id FROM protector.members m WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
			AND m.user_id OPERATOR(pg_catalog.=) protector.current_user_id() AND m.active),
		   p_action, p_details
	WHERE pg_catalog.starts_with(p_action, 'staff.');
END
$$;
COMMENT ON FUNCTION protector_internal.record_staff_activity(uuid, text, jsonb) IS
'Records a staff change made by protector''s RPCs as the calling member''s activity: only of an invitation or member row this transaction wrote, as the entry says';

-- members -----------------------------------------------------------------------

CREATE OR REPLACE FUNCTION protector.create_staff_member(p_organization_id uuid, p_email text,
											  p_role protector.member_role DEFAULT 'viewer',
											  p_full_name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	i protector.staff_invitations;
	v_constraint text;
	v_schema text;
	v_table text;
BEGIN
	IF p_organization_id IS NULL OR p_role IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id and p_role must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, CASE WHEN p_role OPERATOR(pg_catalog.=) 'owner'
																 THEN 'members.manage_owners' ELSE 'members.manage' END);
	-- (its length first: btrim of 150 MB failed with XX000, out of memory)
	IF p_email IS NULL OR pg_catalog.length(p_email) OPERATOR(pg_catalog.>) 320
	   OR NOT protector_internal.email_is_valid(pg_catalog.btrim(p_email)) THEN
		PERFORM protector.raise('invalid_parameter', 'p_email is not an email address', 'At most 320 characters, like name@example.com.');
	END IF;
	IF p_full_name IS NOT NULL THEN
		PERFORM protector_internal.check_text(p_full_name, 'p_full_name', 1, 200);
	END IF;
	-- a new invitation replaces an open one of the same address: the
	-- insert's trigger deletes it (prepare_invitation), after lock_inviter
	-- locked the caller's membership, the order of a deactivation (the
	-- member, then their invitations; deleted here first, the two
	-- deadlocked)
	BEGIN
		INSERT INTO protector.staff_invitations (organization_id, email, role, full_name)
		VALUES (p_organization_id, p_email, p_role, NULLIF(pg_catalog.btrim(p_full_name), ''))
		RETURNING * INTO i;
	EXCEPTION WHEN unique_violation THEN
		-- (another unique key, of a table an application's trigger writes,
		-- says what it says)
		GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
		IF pg_catalog.concat_ws('.', v_schema, v_table, v_constraint) OPERATOR(pg_catalog.<>) 'protector.staff_invitations.staff_invitations_open_idx' THEN
			RAISE;
		END IF;
		-- one committed at the same moment, which the caller sees now: a
		-- retry replaces it (an owner's was refused as if it were hidden)
		IF EXISTS (SELECT FROM protector.staff_invitations x
				   WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.accepted_at IS NULL
					 AND x.email_key OPERATOR(pg_catalog.=) pg_catalog.lower(pg_catalog.btrim(p_email) COLLATE "C")) THEN
			PERFORM protector.raise('retry', 'an invitation to this address was made at the same moment',
				NULL, 'Retry: yours then replaces it.');
		END IF;
		-- an open owner invitation, which an admin neither sees nor replaces
		PERFORM protector.raise('conflict', 'this address has an open invitation you may not replace',
			'Only an owner replaces or withdraws an invitation to be an owner.');
	WHEN insufficient_privilege THEN
		-- (lock_inviter found the caller's membership gone: with the
		-- organization, deleted while this ran, which the caller, its
		-- admin a moment ago, is told)
		PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
		RAISE;
	END;
	PERFORM protector_internal.record_staff_activity(p_organization_id, 'staff.invited',
		pg_catalog.jsonb_build_object('invitation_id', i.id, 'role', i.role));
	RETURN pg_catalog.to_jsonb(i) OPERATOR(pg_catalog.-) 'email_key';
END
$$;
COMMENT ON FUNCTION protector.create_staff_member(uuid, text, protector.member_role, text) IS
'Invites a member by e-mail (owners and admins; owners invite owners): the membership starts when a confirmed auth user with that e-mail signs in';

-- The open invitations of a confirmed auth user's e-mail become
-- memberships (a deactivated membership comes back with the invited
-- role).  Needs Supabase Auth's auth.users with email_confirmed_at.
CREATE OR REPLACE FUNCTION protector_internal.activate_invitations(p_user_id uuid)
RETURNS SETOF uuid
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_email text;
	i protector.staff_invitations;
	v_pick record;
	v_member uuid;
BEGIN
	-- a signed-in user activates their own invitations only; without a user,
	-- only Supabase Auth's hook session (or a superuser) names one
	IF p_user_id IS DISTINCT FROM COALESCE(protector.current_user_id(), p_user_id)
	   OR (protector.current_user_id() IS NULL AND SESSION_USER OPERATOR(pg_catalog.<>) 'supabase_auth_admin'
		   AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) SESSION_USER AND r.rolsuper))
	   OR p_user_id IS NULL THEN
		RETURN;
	END IF;
	-- without Supabase Auth's users table (with its confirmation stamp)
	-- nobody's e-mail is confirmed: nothing to accept; nor with one that
	-- is not an ordinary table of a superuser's schema auth (read with
	-- this function's rights, a view of another role's would run its
	-- functions as protector's owner)
	IF NOT protector_internal.auth_users_with('email_confirmed_at') THEN
		RETURN;
	END IF;
	EXECUTE 'SELECT u.email FROM auth.users u WHERE u.id OPERATOR(pg_catalog.=) $1 AND u.email_confirmed_at IS NOT NULL'
	INTO v_email USING p_user_id;
	IF v_email IS NULL THEN
		RETURN;
	END IF;
	-- (at most 100 a call, the newest first: anyone may found
	-- organizations and invite any address, and 14,000 invitations took a
	-- sign-in's hook past Supabase Auth's 2-second limit; the rest come at
	-- the next sign-in, or with accept_staff_invitations().  Not those to
	-- an organization the user is a member of already, which stay open:
	-- 100 of them, renewed, held the window, and no other was ever reached)
	-- Each invitation is locked as it is taken up, after its organization's
	-- row (key-share, as the membership's foreign key locks it): locked
	-- ten at a time by the loop's fetch, one held while its membership
	-- waited for the organization's row deadlocked with the organization's
	-- deletion, whose cascade waited for the invitation (40P01).
	FOR v_pick IN
		SELECT x.id, x.organization_id FROM protector.staff_invitations x
		WHERE x.email_key OPERATOR(pg_catalog.=) pg_catalog.lower(pg_catalog.btrim(v_email) COLLATE "C") AND x.accepted_at IS NULL
		  AND x.expires_at OPERATOR(pg_catalog.>) pg_catalog.now()
		  AND NOT EXISTS (SELECT FROM protector.members m
						  WHERE m.organization_id OPERATOR(pg_catalog.=) x.organization_id
							AND m.user_id OPERATOR(pg_catalog.=) p_user_id)
		ORDER BY x.created_at DESC, x.id
		LIMIT 100
	LOOP
		PERFORM FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) v_pick.organization_id FOR KEY SHARE;
		IF NOT FOUND THEN
			CONTINUE;			-- (deleted meanwhile, its invitations with it)
		END IF;
		SELECT * INTO i FROM protector.staff_invitations x
		WHERE x.id OPERATOR(pg_catalog.=) v_pick.id AND x.accepted_at IS NULL
		  AND x.expires_at OPERATOR(pg_catalog.>) pg_catalog.now()
		FOR UPDATE;
		IF NOT FOUND THEN
			CONTINUE;			-- (accepted, withdrawn or replaced meanwhile)
		END IF;
		-- a member already (active, or deactivated: re-admitted by
		-- reactivating the membership, never by an invitation): it stays open
		v_member := NULL;
		-- (a name that is not plain text, as one stored before names were
		-- checked, is left out: one organization's invitation must not keep
		-- the user out of another's)
		INSERT INTO protector.members AS m (organization_id, user_id, role, full_name, email, active)
		VALUES (i.organization_id, p_user_id, i.role,
				CASE WHEN protector_internal.text_is_clean(i.full_name) THEN i.full_name END, v_email, true)
		ON CONFLICT (organization_id, user_id) DO NOTHING
		RETURNING m.id INTO v_member;
		IF v_member IS NULL THEN
			CONTINUE;
		END IF;
		UPDATE protector.staff_invitations x SET accepted_at = pg_catalog.now(), member_id = v_member
		WHERE x.id OPERATOR(pg_catalog.=) i.id;
		-- (written by the member joining, also from Supabase Auth's hook,
		-- whose session names no user)
		INSERT INTO protector.staff_activity (organization_id, member_id, action, details, created_by)
		VALUES (i.organization_id, v_member, 'staff.joined', pg_catalog.jsonb_build_object('invitation_id', i.id, 'role', i.role),
				p_user_id);
		RETURN NEXT i.organization_id;
	END LOOP;
END
$$;
COMMENT ON FUNCTION protector_internal.activate_invitations(uuid) IS
'Turns the open invitations of a confirmed auth user''s e-mail into new memberships (never re-admits a deactivated member); returns their organizations';

CREATE OR REPLACE FUNCTION protector.accept_staff_invitations()
RETURNS uuid[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT COALESCE(pg_catalog.array_agg(o), '{}') FROM protector_internal.activate_invitations(protector.current_user_id()) o);
END
$$;
COMMENT ON FUNCTION protector.accept_staff_invitations() IS
'The signed-in user''s open invitations (to their confirmed e-mail) become memberships; returns the organizations joined';

-- Supabase Auth's custom access token hook: every sign-in activates the
-- user's invitations, and the token is issued unchanged.
CREATE FUNCTION protector.auth_access_token_hook(event jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	BEGIN
		PERFORM protector_internal.activate_invitations((event OPERATOR(pg_catalog.->>) 'user_id')::uuid);
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		-- a sign-in must never fail because of an invitation (nor run into
		-- the statement_timeout Supabase Auth sets for its hook: OTHERS
		-- does not catch a cancellation, which failed the sign-in)
		RAISE WARNING 'protector.auth_access_token_hook: invitations not activated: %', SQLERRM;
	END;
	RETURN event;
END
$$;
COMMENT ON FUNCTION protector.auth_access_token_hook(jsonb) IS
'Supabase Auth custom access token hook: activates the signing-in user''s staff invitations; returns the event unchanged';

CREATE OR REPLACE FUNCTION protector.update_staff_permissions(p_member_id uuid, p_role protector.member_role)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m protector.members;
	v_old protector.member_role;
BEGIN
	IF p_role IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_role must not be null');
	END IF;
	-- a role that sees no tasks releases what is theirs
	-- (release_on_role_change): that first, then the member's row
	m := protector_internal.lock_member_change(p_member_id, NOT protector_internal.role_sees_tasks(p_role));
	v_old := m.role;
	IF v_old OPERATOR(pg_catalog.=) 'owner' OR p_role OPERATOR(pg_catalog.=) 'owner' THEN
		PERFORM protector_internal.authorize(m.organization_id, 'members.manage_owners', 'member');
	END IF;
	-- (keep_one_owner refuses to demote the last active owner)
	-- (record_member_change records it)
	UPDATE protector.members x SET role = p_role WHERE x.id OPERATOR(pg_catalog.=) p_member_id;
	IF NOT FOUND THEN
		PERFORM protector_internal.refuse_unwritten_member(m.organization_id,
			v_old OPERATOR(pg_catalog.=) 'owner' OR p_role OPERATOR(pg_catalog.=) 'owner');
	END IF;
	SELECT * INTO m FROM protector.members x WHERE x.id OPERATOR(pg_catalog.=) p_member_id;
	RETURN pg_catalog.to_jsonb(m);
END
$$;
COMMENT ON FUNCTION protector.update_staff_permissions(uuid, protector.member_role) IS
'Changes a member''s role (owners and admins; only owners touch owners; never the last owner)';

-- Deactivation: the member keeps their history but loses access; their
-- open tasks, the bookings assigned to them that have not ended, and
-- their shifts that have not ended are released, each change audited.
CREATE OR REPLACE FUNCTION protector.deactivate_staff(p_member_id uuid, p_reason text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m protector.members;
BEGIN
	-- what is theirs first, then the member's row (lock_member_work)
	m := protector_internal.lock_member_change(p_member_id, true);
	IF m.role OPERATOR(pg_catalog.=) 'owner' THEN
		PERFORM protector_internal.authorize(m.organization_id, 'members.manage_owners', 'member');
	END IF;
	IF p_reason IS NOT NULL THEN
		PERFORM protector_internal.check_text(p_reason, 'p_reason', 1, 500);
	END IF;
	IF NOT m.active THEN
		RETURN pg_catalog.jsonb_build_object('member_id', m.id, 'already_inactive', true);
	END IF;
	-- (keep_one_owner refuses to deactivate the last active owner;
	-- release_on_deactivation releases what was theirs, record_member_change
	-- records it with the reason)
	PERFORM pg_catalog.set_config('protector_internal.deactivation_reason', COALESCE(pg_catalog.btrim(p_reason), ''), true);
	UPDATE protector.members x SET active = false WHERE x.id OPERATOR(pg_catalog.=) p_member_id;
	IF NOT FOUND THEN
		PERFORM protector_internal.refuse_unwritten_member(m.organization_id, m.role OPERATOR(pg_catalog.=) 'owner');
	END IF;
	RETURN pg_catalog.jsonb_build_object('member_id', m.id, 'already_inactive', false) OPERATOR(pg_catalog.||)
		COALESCE(NULLIF(pg_catalog.current_setting('protector_internal.deactivation', true), '')::jsonb
				 OPERATOR(pg_catalog.->) m.id::text, '{}');
END
$$;
COMMENT ON FUNCTION protector.deactivate_staff(uuid, text) IS
'Deactivates a member (owners and admins): their open tasks and bookings not ended are released, shifts not begun removed, one under way ended; audited';

-- venues and shifts -------------------------------------------------------------

CREATE FUNCTION protector.assign_staff_to_venue(p_member_id uuid, p_venue_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	a protector.staff_venues;
BEGIN
	v_org := protector_internal.authorize_row('protector.members', p_member_id, 'shifts.manage', 'member');
	-- (a NULL venue: authorize_row names p_venue_id)
	IF protector_internal.authorize_row('protector.venues', p_venue_id, 'shifts.manage', 'venue') OPERATOR(pg_catalog.<>) v_org THEN
		PERFORM protector.raise('not_found', 'venue not found', 'It does not exist, or you may not see it.');
	END IF;
	INSERT INTO protector.staff_venues AS x (organization_id, member_id, venue_id) VALUES (v_org, p_member_id, p_venue_id)
	ON CONFLICT (organization_id, member_id, venue_id) DO NOTHING
	RETURNING * INTO a;
	IF a.id IS NULL THEN
		SELECT * INTO a FROM protector.staff_venues x
		WHERE x.organization_id OPERATOR(pg_catalog.=) v_org AND x.member_id OPERATOR(pg_catalog.=) p_member_id
		  AND x.venue_id OPERATOR(pg_catalog.=) p_venue_id;
	END IF;
	RETURN pg_catalog.to_jsonb(a);
END
$$;
COMMENT ON FUNCTION protector.assign_staff_to_venue(uuid, uuid) IS
'Lets a member work at a venue (owners, admins, managers); idempotent';

CREATE FUNCTION protector.create_staff_schedule(p_member_id uuid, p_venue_id uuid, p_start timestamptz,
												p_end timestamptz, p_note text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	s protector.staff_shifts;
BEGIN
	v_org := protector_internal.authorize_row('protector.members', p_member_id, 'shifts.manage', 'member');
	-- (a NULL venue: authorize_row names p_venue_id)
	IF protector_internal.authorize_row('protector.venues', p_venue_id, 'shifts.manage', 'venue') OPERATOR(pg_catalog.<>) v_org THEN
		PERFORM protector.raise('not_found', 'venue not found', 'It does not exist, or you may not see it.');
	END IF;
	IF p_start IS NULL OR p_end IS NULL OR p_end OPERATOR(pg_catalog.<=) p_start
	   OR p_start OPERATOR(pg_catalog.<) '2000-01-01 00:00+00' OR p_end OPERATOR(pg_catalog.>) '2200-01-01 00:00+00'
	   OR p_end OPERATOR(pg_catalog.>) (p_start OPERATOR(pg_catalog.+) interval '744 hours')
	   OR NOT pg_catalog.isfinite(p_start) OR NOT pg_catalog.isfinite(p_end) THEN
		PERFORM protector.raise('invalid_parameter', 'a shift ends after it starts, within 31 days, between the years 2000 and 2200',
			pg_catalog.format('Got %s to %s.', protector_internal.iso_text(p_start), protector_internal.iso_text(p_end)));
	END IF;
	IF p_note IS NOT NULL THEN
		p_note := protector_internal.trim_spaces(p_note);
		PERFORM protector_internal.check_text(p_note, 'p_note', 1, 2000);
	END IF;
	INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during, note)
	VALUES (v_org, p_member_id, p_venue_id, pg_catalog.tstzrange(p_start, p_end), p_note)
	RETURNING * INTO s;
	RETURN pg_catalog.to_jsonb(s);
END
$$;
COMMENT ON FUNCTION protector.create_staff_schedule(uuid, uuid, timestamptz, timestamptz, text) IS
'Schedules a shift of a member at a venue they work at (owners, admins, managers); refused when it overlaps another of theirs';

-- A venue's week of shifts in its local time (p_week_start: a local date;
-- the week is that day and the six after it).
CREATE FUNCTION protector.get_staff_schedule(p_venue_id uuid, p_week_start date)
RETURNS TABLE (shift_id uuid, member_id uuid, full_name text, role protector.member_role, local_date date,
			   local_start timestamp, local_end timestamp, starts_at timestamptz, ends_at timestamptz,
			   timezone text, assigned_bookings integer, note text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	v_tz text;
	v_from timestamptz;
	v_to timestamptz;
	v_reach timestamptz;
	v_last timestamptz;
BEGIN
	IF p_week_start IS NULL OR p_week_start NOT BETWEEN '2000-01-01' AND '2199-12-25' THEN
		PERFORM protector.raise('invalid_parameter', 'p_week_start must be a date from 2000-01-01 to 2199-12-25', 'A week of the years 2000 to 2199.');
	END IF;
	v_org := protector_internal.authorize_row('protector.venues', p_venue_id, 'shifts.read', 'venue');
	SELECT v.timezone INTO v_tz FROM protector.venues v WHERE v.id OPERATOR(pg_catalog.=) p_venue_id;
	-- (each day from its first instant, the earlier where midnight
	-- happens twice, as local_date reads a shift's start)
	v_from := protector_internal.local_midnight(v_tz, p_week_start);
	v_to := protector_internal.local_midnight(v_tz, p_week_start OPERATOR(pg_catalog.+) 7);
	-- (the shifts' members' bookings at the venue read once, through
	-- bookings_starts_idx, from 31 days (the longest a booking lasts)
	-- before the first shift's start to the last one's end, as columns of
	-- their own: lower() and upper() are not leakproof, and under RLS a
	-- comparison with them could not be an index condition; the agent's
	-- index has no time, and each shift read the agent's whole history;
	-- read per shift, the 31 days were read once per shift. A booking is
	-- counted in every shift it overlaps: one that runs across shifts back
	-- to back, as staff.md lets it, was counted in none, and its officer
	-- looked idle.)
	-- (the bounds as values the plan knows: as subqueries, the planner took
	-- the agent's index and read their whole history)
	SELECT pg_catalog.min(pg_catalog.lower(x.during)) OPERATOR(pg_catalog.-) '744 hours'::pg_catalog.interval,
		   pg_catalog.max(pg_catalog.upper(x.during))
	INTO v_reach, v_last
	FROM protector.staff_shifts x
	WHERE x.organization_id OPERATOR(pg_catalog.=) v_org AND x.venue_id OPERATOR(pg_catalog.=) p_venue_id
	  AND x.during OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(v_from, v_to);
	RETURN QUERY
	WITH s AS MATERIALIZED (
		SELECT x.id, x.member_id, x.during, x.note, pg_catalog.lower(x.during) AS starts_at,
			   pg_catalog.upper(x.during) AS ends_at, m.user_id, m.full_name, m.role
		FROM protector.staff_shifts x
		JOIN protector.members m ON m.organization_id OPERATOR(pg_catalog.=) v_org AND m.id OPERATOR(pg_catalog.=) x.member_id
		WHERE x.organization_id OPERATOR(pg_catalog.=) v_org AND x.venue_id OPERATOR(pg_catalog.=) p_venue_id
		  AND x.during OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(v_from, v_to)),
	b AS MATERIALIZED (
		SELECT b.assigned_agent, b.during FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) v_org
		  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) v_reach
		  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) v_last
		  AND b.venue_id OPERATOR(pg_catalog.=) p_venue_id AND b.assigned_agent IS NOT NULL
		  AND b.status OPERATOR(pg_catalog.<>) ALL ('{cancelled,no_show}'::protector.booking_status[])
		  -- (a hold that ran out holds nothing, swept or not)
		  AND NOT (b.status OPERATOR(pg_catalog.=) 'held' AND b.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()))
	SELECT s.id, s.member_id, s.full_name, s.role, protector_internal.local_time(v_tz, s.starts_at)::date,
		   protector_internal.local_time(v_tz, s.starts_at), protector_internal.local_time(v_tz, s.ends_at),
		   s.starts_at, s.ends_at, v_tz,
		   (SELECT pg_catalog.count(*)::integer FROM b
			WHERE b.assigned_agent OPERATOR(pg_catalog.=) s.user_id AND b.during OPERATOR(pg_catalog.&&) s.during),
		   s.note
	FROM s
	ORDER BY s.starts_at, s.full_name, s.id;
END
$$;
COMMENT ON FUNCTION protector.get_staff_schedule(uuid, date) IS
'A venue''s shifts of the local week starting p_week_start, in local time, with the assigned bookings each overlaps';

-- performance ------------------------------------------------------------------

-- Per active member, for bookings starting in the local dates [p_from,
-- p_to] (the organization's time zone): bookings handled (assigned to them
-- and completed), their revenue (the ledger: succeeded payments less
-- refunds), tasks they completed in the range, and the median minutes
-- between a customer's message and their next reply on the same booking
-- (sql/84_messages.sql; NULL without replies).
CREATE OR REPLACE FUNCTION protector.get_staff_performance(p_organization_id uuid, p_from date, p_to date)
RETURNS TABLE (member_id uuid, full_name text, role protector.member_role, bookings_handled integer,
			   revenue numeric, currency text, tasks_done integer, median_response_minutes numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp SET jit = off
AS $$
DECLARE
	v_tz text;
	v_currency text;
	v_lo timestamptz;
	v_hi timestamptz;
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	-- (finite, and within the years 1 to 9999, before they are subtracted:
	-- infinity gave a bare 22008)
	IF p_from IS NOT NULL AND p_to IS NOT NULL THEN
		PERFORM protector_internal.check_date_range(p_from, p_to, '0001-01-02', '9999-12-30');
	END IF;
	IF p_from IS NULL OR p_to IS NULL
	   OR p_to OPERATOR(pg_catalog.<) p_from OR p_to OPERATOR(pg_catalog.>) (p_from OPERATOR(pg_catalog.+) '10 years'::interval) THEN
		PERFORM protector.raise('invalid_parameter', 'p_from and p_to must be dates, p_to from p_from to ten years after it',
			pg_catalog.format('Got %s to %s (between 0001-01-02 and 9999-12-30).', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'staff.performance');
	SELECT o.timezone, o.currency INTO v_tz, v_currency FROM protector.organizations o
	WHERE o.id OPERATOR(pg_catalog.=) p_organization_id;
	-- local days as the reports begin them (a day whose midnight the
	-- clocks skip begins at its first hour)
	v_lo := protector_internal.local_midnight(v_tz, p_from);
	v_hi := protector_internal.local_midnight(v_tz, p_to OPERATOR(pg_catalog.+) 1);
	RETURN QUERY
	SELECT m.id, m.full_name, m.role,
		   (SELECT pg_catalog.count(*)::integer FROM protector.bookings b
			WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) m.user_id
			  AND b.status OPERATOR(pg_catalog.=) 'completed'
			  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) v_lo AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) v_hi),
		   (SELECT COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount
											 ELSE OPERATOR(pg_catalog.-) p.amount END), 0)
			FROM protector.bookings b JOIN protector.payments p ON p.organization_id OPERATOR(pg_catalog.=) b.organization_id
																AND p.booking_id OPERATOR(pg_catalog.=) b.id
			WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) m.user_id
			  AND b.status OPERATOR(pg_catalog.=) 'completed' AND p.status OPERATOR(pg_catalog.=) 'succeeded'
			  AND p.currency OPERATOR(pg_catalog.=) v_currency
			  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) v_lo AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) v_hi),
		   v_currency,
		   (SELECT pg_catalog.count(*)::integer FROM protector.tasks t
			WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.assignee OPERATOR(pg_catalog.=) m.user_id
			  AND t.status OPERATOR(pg_catalog.=) 'done'
			  AND t.completed_at OPERATOR(pg_catalog.>=) v_lo AND t.completed_at OPERATOR(pg_catalog.<) v_hi),
		   protector_internal.median_response_minutes(p_organization_id, m.user_id, v_lo, v_hi)
	FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.active
	ORDER BY m.full_name, m.id;
END
$$;
COMMENT ON FUNCTION protector.get_staff_performance(uuid, date, date) IS
'Per active member: completed bookings, their revenue (the ledger), tasks done and median reply time to customers, over local dates';

-- audited like every business table
SELECT protector.enable_audit(t)
FROM unnest('{protector.staff_invitations, protector.staff_venues, protector.staff_shifts}'::regclass[]) t;

GRANT EXECUTE ON FUNCTION
	protector.log_staff_activity(uuid, text, jsonb),
	protector.create_staff_member(uuid, text, protector.member_role, text),
	protector.accept_staff_invitations(),
	protector.update_staff_permissions(uuid, protector.member_role),
	protector.deactivate_staff(uuid, text),
	protector.assign_staff_to_venue(uuid, uuid),
	protector.create_staff_schedule(uuid, uuid, timestamptz, timestamptz, text),
	protector.get_staff_schedule(uuid, date),
	protector.get_staff_performance(uuid, date, date),
	protector_internal.record_staff_activity(uuid, text, jsonb),
	protector_internal.activate_invitations(uuid)
TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION protector.auth_access_token_hook(jsonb) TO service_role;
DO $hook$
BEGIN
	-- Supabase Auth calls the hook as supabase_auth_admin
	IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'supabase_auth_admin') THEN
		GRANT EXECUTE ON FUNCTION protector.auth_access_token_hook(jsonb), protector_internal.activate_invitations(uuid)
			TO supabase_auth_admin;
		GRANT USAGE ON SCHEMA protector, protector_internal TO supabase_auth_admin;
	END IF;
END
$hook$;

-- Waivers (issue 16) ------------------------------------------------------------
-- sql/83_waivers.sql: digital waivers (docs/waivers.md).
--
-- A waiver is a named template of an organization; its text lives in
-- versions.  A version nobody has signed may still be corrected; once
-- signed it can never change or go (a new text is a new version, the next
-- number).  New signatures take the latest version of an active waiver.
--
-- A submission is one participant's signature: typed signature, signer,
-- date of birth, the guardian who signs for a minor, the local date of
-- signing in the venue's time zone (the organization's without a booking),
-- and two SHA-256 digests: of the text signed, and of the submission
-- itself.  verify_waiver_signature recomputes both, proving that neither
-- the text nor the signature changed since.  Submissions are never edited;
-- one signed before its booking is known is linked to it once.
--
-- A service may require a waiver (services.waiver_id): its bookings go
-- in_progress only when as many distinct participants (name and date of
-- birth) as the party has signed it; the error names who is missing.

CREATE TABLE protector.waivers (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	name			text NOT NULL CHECK (length(btrim(name)) >= 1 AND length(name) <= 200),
	active			boolean NOT NULL DEFAULT true,
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	UNIQUE (organization_id, name)
);
COMMENT ON TABLE protector.waivers IS
'Waiver templates of an organization; their texts are waiver_versions';

CREATE TABLE protector.waiver_versions (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	waiver_id		uuid NOT NULL,
	-- set on insert: the next number of the waiver
	version			integer NOT NULL CHECK (version BETWEEN 1 AND 100000),
	title			text NOT NULL CHECK (length(btrim(title)) >= 1 AND length(title) <= 200),
	body			text NOT NULL CHECK (length(btrim(body)) >= 1 AND length(body) <= 100000),
	-- participants younger are refused; younger than guardian_under, a
	-- guardian signs for them
	minimum_age		integer NOT NULL DEFAULT 0 CHECK (minimum_age BETWEEN 0 AND 120),
	guardian_under	integer NOT NULL DEFAULT 18 CHECK (guardian_under BETWEEN 0 AND 120),
	-- hex SHA-256 of the body (UTF-8), set by the database
	body_sha256		text COLLATE "C" NOT NULL CHECK (body_sha256 ~ '^[0-9a-f]{64}$'),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	UNIQUE (waiver_id, version),
	FOREIGN KEY (organization_id, waiver_id) REFERENCES protector.waivers (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX waiver_versions_waiver_idx ON protector.waiver_versions (organization_id, waiver_id, version);
COMMENT ON TABLE protector.waiver_versions IS
'The texts of a waiver, numbered; a signed version never changes (a new text is a new version)';

-- (the participants' key of the unique index below: src/normalize.c)
CREATE OR REPLACE FUNCTION protector_internal.typed_name(p_name text)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_typed_name'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.typed_name(text) IS
'A typed name as names_match() compares it (NULL when nothing is left): case, spacing, Latin and Greek accents aside, other scripts as written';
REVOKE ALL ON FUNCTION protector_internal.typed_name(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.typed_name(text) TO authenticated, service_role;

CREATE TABLE protector.waiver_submissions (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	waiver_version_id uuid NOT NULL,
	-- the version's waiver, set by the database
	waiver_id		uuid NOT NULL,
	-- linked once (link_waiver_to_booking) when signed before the booking
	booking_id		uuid,
	-- the booking's customer (who holds the booking), by default
	customer_id		uuid,
	participant_name text NOT NULL CHECK (length(participant_name) BETWEEN 1 AND 200),
	participant_birth_date date NOT NULL,
	-- in whole years on signed_on, set by the database
	participant_age integer NOT NULL CHECK (participant_age BETWEEN 0 AND 150),
	signer_name		text NOT NULL CHECK (length(signer_name) BETWEEN 1 AND 200),
	signature		text NOT NULL CHECK (length(signature) BETWEEN 1 AND 200),
	-- the signer, when the participant is a minor
	guardian_name	text CHECK (length(guardian_name) BETWEEN 1 AND 200),
	-- set by the database: the time, its local date (the venue's), and the
	-- digests of the text signed and of this submission
	signed_at		timestamptz NOT NULL DEFAULT now(),
	signed_on		date NOT NULL,
	text_sha256		text COLLATE "C" NOT NULL CHECK (text_sha256 ~ '^[0-9a-f]{64}$'),
	submission_sha256 text COLLATE "C" NOT NULL CHECK (submission_sha256 ~ '^[0-9a-f]{64}$'),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, waiver_version_id) REFERENCES protector.waiver_versions (organization_id, id),
	FOREIGN KEY (organization_id, waiver_id) REFERENCES protector.waivers (organization_id, id),
	-- a booking with signed waivers is cancelled, not deleted
	FOREIGN KEY (organization_id, booking_id) REFERENCES protector.bookings (organization_id, id),
	FOREIGN KEY (organization_id, customer_id)
		REFERENCES protector.customers (organization_id, id) ON DELETE SET NULL (customer_id)
);
CREATE INDEX waiver_submissions_version_idx ON protector.waiver_submissions (organization_id, waiver_version_id);
CREATE INDEX waiver_submissions_booking_idx ON protector.waiver_submissions (organization_id, booking_id);
CREATE INDEX waiver_submissions_waiver_idx ON protector.waiver_submissions (organization_id, waiver_id);
CREATE INDEX waiver_submissions_customer_idx ON protector.waiver_submissions (organization_id, customer_id);
CREATE INDEX waiver_submissions_signed_idx ON protector.waiver_submissions (organization_id, signed_on);
-- one signature per participant (name as compared, date of birth), booking
-- and waiver
CREATE UNIQUE INDEX waiver_submissions_participant_idx ON protector.waiver_submissions
	(organization_id, booking_id, waiver_id, protector_internal.typed_name(participant_name), participant_birth_date)
	WHERE booking_id IS NOT NULL;
COMMENT ON TABLE protector.waiver_submissions IS
'Signed waivers: one participant''s typed signature of one waiver version, with digests that prove text and signature unchanged';

ALTER TABLE protector.services ADD COLUMN waiver_id uuid;
COMMENT ON COLUMN protector.services.waiver_id IS
'The waiver every participant must have signed before a booking of this service goes in_progress';
ALTER TABLE protector.services ADD CONSTRAINT services_waiver_fkey
	FOREIGN KEY (organization_id, waiver_id) REFERENCES protector.waivers (organization_id, id);
CREATE INDEX services_waiver_idx ON protector.services (organization_id, waiver_id);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.waivers
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.waiver_versions
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.waiver_submissions
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();

-- Managers write templates; the desk and agents (for their bookings)
-- collect signatures; customers read the waivers of organizations they
-- are customers of and sign for their own bookings.
ALTER TABLE protector.waivers ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.waivers FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.waiver_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.waiver_versions FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.waiver_submissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.waiver_submissions FORCE ROW LEVEL SECURITY;
CREATE POLICY waivers_select ON protector.waivers FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[])
		   OR organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.collect'))::uuid[])
		   OR organization_id = ANY ((SELECT protector_internal.customer_organizations())::uuid[]));
CREATE POLICY waivers_insert ON protector.waivers FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waivers_update ON protector.waivers FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waivers_delete ON protector.waivers FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waiver_versions_select ON protector.waiver_versions FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[])
		   OR organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.collect'))::uuid[])
		   OR organization_id = ANY ((SELECT protector_internal.customer_organizations())::uuid[]));
CREATE POLICY waiver_versions_insert ON protector.waiver_versions FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waiver_versions_update ON protector.waiver_versions FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waiver_versions_delete ON protector.waiver_versions FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waiver_submissions_select ON protector.waiver_submissions FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[])
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])
		   OR booking_id IN (SELECT b.id FROM protector.bookings b
							 WHERE b.assigned_agent = (SELECT protector.current_user_id())
							   AND b.organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.collect'))::uuid[])));
-- (a booking is "visible" by the caller's own RLS on bookings: the desk's,
-- an agent's assigned ones, a customer's own)
CREATE POLICY waiver_submissions_insert ON protector.waiver_submissions FOR INSERT TO authenticated
	WITH CHECK ((organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.collect'))::uuid[])
				 AND (booking_id IN (SELECT b.id FROM protector.bookings b)
					  OR (booking_id IS NULL AND organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[]))))
				OR booking_id IN (SELECT b.id FROM protector.bookings b
								  WHERE b.customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])));
CREATE POLICY waiver_submissions_update ON protector.waiver_submissions FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[])
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[]))
	WITH CHECK ((organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.collect'))::uuid[])
				 AND booking_id IN (SELECT b.id FROM protector.bookings b))
				OR booking_id IN (SELECT b.id FROM protector.bookings b
								  WHERE b.customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])));
SELECT pg_catalog.pg_extension_config_dump('protector.waivers', '');
SELECT pg_catalog.pg_extension_config_dump('protector.waiver_versions', '');
SELECT pg_catalog.pg_extension_config_dump('protector.waiver_submissions', '');

-- versions --------------------------------------------------------------------

CREATE OR REPLACE FUNCTION protector_internal.sha256_hex(p_text text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_text, 'UTF8')), 'hex');
END
$$;
COMMENT ON FUNCTION protector_internal.sha256_hex(text) IS
'Hex SHA-256 of a text''s UTF-8 bytes (PostgreSQL''s sha256())';

-- A version's number (the next of its waiver, the waiver locked so that
-- two new versions wait for each other) and digest; a signed version
-- neither changes nor goes.
CREATE OR REPLACE FUNCTION protector_internal.prepare_waiver_version()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a new version only of writers the policy lets write it: the lock of
	-- the waiver below, and the checks of a body of megabytes under it,
	-- made an outsider's insert wait for another tenant's waiver, told
	-- whether it existed, and stalled that tenant's signatures; the policy
	-- refuses the others' row, for an id that does not exist as for one
	-- that does)
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' AND NOT protector_internal.requester_is_trusted()
	   AND NOT COALESCE(NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.manage')), false) THEN
		RETURN NEW;
	END IF;
	-- wait for signatures of it in progress (lock_waiver_version); the
	-- deletion of the whole organization takes everything with it
	IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN
		PERFORM pg_catalog.pg_advisory_xact_lock(protector_internal.lock_key(1886547720, OLD.id));
	END IF;
	IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT'
	   AND EXISTS (SELECT FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) OLD.organization_id)
	   AND EXISTS (SELECT FROM protector.waiver_submissions s
				   WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
					 AND s.waiver_version_id OPERATOR(pg_catalog.=) OLD.id) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('version %s of this waiver has been signed and cannot be %s', OLD.version,
							  CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'changed' END),
			NULL, 'A new text is a new version: create_waiver with the same name.');
	END IF;
	-- (a signature committed while this waited for the lock above, which a
	-- REPEATABLE READ snapshot does not see)
	IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN
		PERFORM protector_internal.retry_if_unseen(
			'SELECT pg_catalog.count(*) FROM protector.waiver_submissions s
			 WHERE s.organization_id OPERATOR(pg_catalog.=) (SELECT v.organization_id FROM protector.waiver_versions v
															 WHERE v.id OPERATOR(pg_catalog.=) $1)
			   AND s.waiver_version_id OPERATOR(pg_catalog.=) $1', OLD.id,
			'this version of the waiver was signed concurrently', pg_catalog.format('Version %s.', OLD.version));
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		RETURN OLD;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
	   AND (NEW.waiver_id, NEW.version) IS DISTINCT FROM (OLD.waiver_id, OLD.version) THEN
		PERFORM protector.raise('invalid_parameter', 'a version keeps its waiver and number');
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
		PERFORM FROM protector.waivers w
		WHERE w.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND w.id OPERATOR(pg_catalog.=) NEW.waiver_id
		FOR UPDATE;
		-- (none of the organization's: refused here, as an id nobody has.
		-- Left to the foreign key, the row met another tenant's versions of
		-- that id in the unique index first, waited for their new version
		-- in progress, and told a manager of another organization that the
		-- waiver existed and was being written)
		IF NOT FOUND AND NEW.organization_id IS NOT NULL AND NEW.waiver_id IS NOT NULL THEN
			PERFORM protector.raise('not_found', 'waiver not found', 'The organization has no waiver with this id.');
		END IF;
		-- the next number, whatever the insert said
		SELECT COALESCE(pg_catalog.max(v.version), 0) OPERATOR(pg_catalog.+) 1 INTO NEW.version
		FROM protector.waiver_versions v
		WHERE v.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND v.waiver_id OPERATOR(pg_catalog.=) NEW.waiver_id;
	END IF;
	PERFORM protector_internal.check_text(NEW.title, 'title', 1, 200);
	PERFORM protector_internal.check_integer(NEW.minimum_age, 'minimum_age', 0, 120);
	PERFORM protector_internal.check_integer(NEW.guardian_under, 'guardian_under', 0, 120);
	-- (Windows' line breaks, \r\n, are line breaks too)
	IF NEW.body IS NULL OR NOT protector_internal.lines_are_clean(NEW.body) THEN
		PERFORM protector.raise('invalid_parameter', 'body must be text without control characters other than line breaks and tabs');
	END IF;
	-- line breaks and no-break or wide spaces alone are no text to sign,
	-- nor combining marks on none of it (they show nothing), nor marks
	-- and symbols alone: a text to sign holds a word or a number
	IF NOT protector_internal.has_letters_or_digits(NEW.body) THEN
		PERFORM protector.raise('invalid_parameter', 'body must hold visible text',
			'It has no letter or digit of any script.');
	END IF;
	NEW.body_sha256 := protector_internal.sha256_hex(NEW.body);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.prepare_waiver_version() IS
'Trigger: a waiver version''s number (the next one) and SHA-256; refuses changing or deleting a signed version';

CREATE TRIGGER prepare_waiver_version BEFORE INSERT OR UPDATE OR DELETE ON protector.waiver_versions
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.prepare_waiver_version();

-- The waiver of p_organization_id named p_name gets a new version (made
-- with version 1 when there is none): the text a new signature takes.
CREATE FUNCTION protector.create_waiver(p_organization_id uuid, p_name text, p_body text,
										p_title text DEFAULT NULL, p_minimum_age integer DEFAULT 0,
										p_guardian_under integer DEFAULT 18)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	w protector.waivers;
	v protector.waiver_versions;
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'waivers.manage');
	PERFORM protector_internal.check_text(p_name, 'p_name', 1, 200);
	IF p_title IS NOT NULL THEN
		PERFORM protector_internal.check_text(p_title, 'p_title', 1, 200);
	END IF;
	PERFORM protector_internal.check_integer(p_minimum_age, 'p_minimum_age', 0, 120);
	PERFORM protector_internal.check_integer(p_guardian_under, 'p_guardian_under', 0, 120);
	-- (lines and paragraphs: no check_text; spaces at the ends count
	-- against the most, as there, and are counted first: btrim of 150 MB
	-- failed with XX000, out of memory)
	IF p_body IS NULL OR pg_catalog.length(p_body) OPERATOR(pg_catalog.>) 100000
	   OR pg_catalog.length(pg_catalog.btrim(p_body)) OPERATOR(pg_catalog.<) 1 THEN
		PERFORM protector.raise('invalid_parameter', 'p_body must be 1 to 100000 characters',
			pg_catalog.format('Got %s characters.', COALESCE(CASE WHEN pg_catalog.length(p_body) OPERATOR(pg_catalog.>) 100000
															   THEN pg_catalog.length(p_body)
															   ELSE pg_catalog.length(pg_catalog.btrim(p_body)) END::text, 'NULL, 0')));
	END IF;
	-- (in Unicode's composed form: e-acute typed as one character or as e and a
	-- combining accent is one name, as it looks; and its words apart by one
	-- space, whatever spaces were typed between them: a no-break space
	-- looks like any other)
	INSERT INTO protector.waivers AS x (organization_id, name)
	VALUES (p_organization_id,
			pg_catalog.normalize(pg_catalog.regexp_replace(protector_internal.trim_spaces(p_name),
				'[[:space:]\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+', ' ', 'g'), 'NFC'))
	ON CONFLICT (organization_id, name) DO UPDATE SET active = true
	RETURNING * INTO w;
	INSERT INTO protector.waiver_versions (organization_id, waiver_id, version, title, body, minimum_age, guardian_under)
	VALUES (p_organization_id, w.id, NULL, pg_catalog.btrim(COALESCE(p_title, p_name)), p_body, p_minimum_age, p_guardian_under)
	RETURNING * INTO v;
	RETURN pg_catalog.jsonb_build_object('waiver_id', w.id, 'name', w.name, 'version_id', v.id, 'version', v.version,
										 'title', v.title, 'minimum_age', v.minimum_age, 'guardian_under', v.guardian_under,
										 'body_sha256', v.body_sha256);
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.create_waiver(uuid, text, text, text, integer, integer) IS
'A new version of the organization''s waiver named p_name (version 1 of a new one); owners, admins and managers';

-- submissions ---------------------------------------------------------------

-- The local date of a signature in a time zone, and a participant's age
-- on it in whole years (born on 29 February: a year older on 1 March of
-- other years).
CREATE OR REPLACE FUNCTION protector_internal.signing_age(p_birth_date date, p_signed_at timestamptz, p_timezone text,
											   OUT signed_on date, OUT age integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	signed_on := protector_internal.local_time(p_timezone, p_signed_at)::date;
	age := pg_catalog.date_part('year', pg_catalog.age(signed_on::timestamp, p_birth_date::timestamp))::integer;
END
$$;
COMMENT ON FUNCTION protector_internal.signing_age(date, timestamptz, text) IS
'The local date of p_signed_at in p_timezone and the age in whole years on it of someone born on p_birth_date';

-- What a submission's digest covers: everything signed, in a fixed form.
CREATE OR REPLACE FUNCTION protector_internal.waiver_submission_digest(s protector.waiver_submissions)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN protector_internal.sha256_hex(pg_catalog.concat_ws(E'\n', 'protector waiver submission 1',
		s.id::text, s.organization_id::text, s.waiver_version_id::text, s.text_sha256,
		s.participant_name, pg_catalog.to_char(s.participant_birth_date, 'YYYY-MM-DD'), s.participant_age::text,
		s.signer_name, s.signature, COALESCE(s.guardian_name, ''),
		pg_catalog.to_char(s.signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
		pg_catalog.to_char(s.signed_on, 'YYYY-MM-DD')));
END
$$;
COMMENT ON FUNCTION protector_internal.waiver_submission_digest(protector.waiver_submissions) IS
'Hex SHA-256 of what a waiver submission records as signed (ids, text digest, participant, signer, signature, guardian, times)';

-- A submission's booking: of the service that asks for this waiver, not
-- cancelled, and not yet signed by this participant for this waiver.  As
-- the caller, under RLS (the unique index has the last word on duplicates).
CREATE FUNCTION protector_internal.check_waiver_booking(s protector.waiver_submissions)
RETURNS protector.bookings
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
	v_required uuid;
	v_name text := protector_internal.typed_name(s.participant_name);
BEGIN
	SELECT * INTO b FROM protector.bookings x
	WHERE x.organization_id OPERATOR(pg_catalog.=) s.organization_id AND x.id OPERATOR(pg_catalog.=) s.booking_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It does not exist, or you may not see it.');
	END IF;
	SELECT sv.waiver_id INTO v_required FROM protector.services sv
	WHERE sv.organization_id OPERATOR(pg_catalog.=) b.organization_id AND sv.id OPERATOR(pg_catalog.=) b.service_id;
	IF v_required IS DISTINCT FROM s.waiver_id THEN
		PERFORM protector.raise('invalid_parameter', 'this booking''s service does not ask for this waiver',
			CASE WHEN v_required IS NULL THEN 'The service asks for no waiver.'
				 ELSE pg_catalog.format('It asks for waiver %s.', v_required) END);
	END IF;
	IF b.status OPERATOR(pg_catalog.=) ANY ('{cancelled,no_show}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('a %s booking takes no more waivers', b.status));
	END IF;
	IF EXISTS (SELECT FROM protector.waiver_submissions o
			   WHERE o.organization_id OPERATOR(pg_catalog.=) s.organization_id
				 AND o.booking_id OPERATOR(pg_catalog.=) s.booking_id AND o.waiver_id OPERATOR(pg_catalog.=) s.waiver_id
				 AND o.id OPERATOR(pg_catalog.<>) s.id
				 AND protector_internal.typed_name(o.participant_name) OPERATOR(pg_catalog.=) v_name
				 AND o.participant_birth_date OPERATOR(pg_catalog.=) s.participant_birth_date) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s has already signed the waiver of this booking', s.participant_name));
	END IF;
	RETURN b;
END
$$;
COMMENT ON FUNCTION protector_internal.check_waiver_booking(protector.waiver_submissions) IS
'Refuses a submission''s booking whose service asks for another waiver (or none), that is cancelled, or that this participant has signed this waiver for already';

-- The version a signature takes, as the caller sees it, with its waiver's
-- state; a shared transaction-level advisory lock on it (class id
-- 1886547720) keeps it from changing until the signature commits
-- (prepare_waiver_version takes the exclusive one before it looks for
-- signatures).
CREATE FUNCTION protector_internal.lock_waiver_version(p_organization_id uuid, p_version_id uuid,
													   OUT version protector.waiver_versions, OUT active boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.lock_seen(1886547720, p_version_id, true);
	SELECT v.* INTO version FROM protector.waiver_versions v
	WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id AND v.id OPERATOR(pg_catalog.=) p_version_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'waiver not found', 'It does not exist, or you may not see it.');
	END IF;
	SELECT w.active INTO active FROM protector.waivers w WHERE w.id OPERATOR(pg_catalog.=) version.waiver_id;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_waiver_version(uuid, uuid) IS
'The waiver version a signature takes (as the caller sees it), kept from changing until the signature commits, and whether its waiver is active';

-- Whether the caller may sign in the organization: the map's collectors,
-- trusted callers, or the customer of the booking (as the caller, under
-- RLS).  Everyone else learns nothing: "waiver not found".
CREATE OR REPLACE FUNCTION protector_internal.may_sign(p_organization_id uuid, p_booking_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN protector_internal.caller_is_trusted()
		   OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.collect'))
		   OR EXISTS (SELECT FROM protector.bookings b
					  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
						AND b.id OPERATOR(pg_catalog.=) p_booking_id
						AND b.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()));
END
$$;
COMMENT ON FUNCTION protector_internal.may_sign(uuid, uuid) IS
'True when the caller may sign waivers in the organization: collectors by the map, trusted callers, the booking''s own customer';

-- A new submission as the database records it: the text's digest, the
-- signing time and local date, the participant's age on it, checked
-- against the version's minimum age and guardian age, and the digest of
-- the whole.  Runs as the caller and asks who may sign first, so that no
-- check below answers anybody else.
CREATE OR REPLACE FUNCTION protector_internal.prepare_waiver_submission()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.waiver_versions;
	v_locked record;
	b protector.bookings;
	v_active boolean;
	v_timezone text;
	v_minor boolean;
BEGIN
	IF NOT protector_internal.may_sign(NEW.organization_id, NEW.booking_id) THEN
		PERFORM protector.raise('not_found', 'waiver not found', 'It does not exist, or you may not see it.');
	END IF;
	SELECT l.* INTO v_locked FROM protector_internal.lock_waiver_version(NEW.organization_id, NEW.waiver_version_id) l;
	v := v_locked.version;
	v_active := v_locked.active;
	IF NOT v_active THEN
		PERFORM protector.raise('invalid_parameter', 'this waiver is no longer in use', NULL,
			'Those who may manage waivers (waivers.manage) activate it again with a new version (create_waiver with its name).');
	END IF;
	NEW.waiver_id := v.waiver_id;
	-- new signatures take the latest version (a client could name an older
	-- one, whose text the venue has since replaced, and it counted)
	IF EXISTS (SELECT FROM protector.waiver_versions x
			   WHERE x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
				 AND x.waiver_id OPERATOR(pg_catalog.=) v.waiver_id AND x.version OPERATOR(pg_catalog.>) v.version) THEN
		PERFORM protector.raise('invalid_parameter', 'a signature takes the waiver''s latest version',
			pg_catalog.format('Version %s of waiver %s has been replaced.', v.version, v.waiver_id),
			'Sign the latest version (submit_waiver takes it).');
	END IF;
	PERFORM protector_internal.check_text(NEW.participant_name, 'participant_name', 1, 200);
	PERFORM protector_internal.check_text(NEW.signer_name, 'signer_name', 1, 200);
	PERFORM protector_internal.check_text(NEW.signature, 'signature', 1, 200);
	IF NEW.guardian_name IS NOT NULL THEN
		PERFORM protector_internal.check_text(NEW.guardian_name, 'guardian_name', 1, 200);
	END IF;
	NEW.participant_name := pg_catalog.btrim(NEW.participant_name);
	-- (a name of marks or fillers only has nothing to tell participants
	-- apart by: each signature of it would be a new participant)
	IF protector_internal.typed_name(NEW.participant_name) IS NULL
	   OR NOT protector_internal.has_letters_or_digits(protector_internal.typed_name(NEW.participant_name)) THEN
		PERFORM protector.raise('invalid_parameter', 'participant_name has no letters or digits to compare',
			'A participant is told apart from the others by name: type their name.');
	END IF;
	-- (nor does a signer or guardian of marks only name anyone whose
	-- consent the signature records: "." signed for a child as "."; the
	-- typed signature matches the signer's name)
	IF NOT COALESCE(protector_internal.has_letters_or_digits(protector_internal.typed_name(NEW.signer_name)), false) THEN
		PERFORM protector.raise('invalid_parameter', 'signer_name has no letters or digits',
			'A signature records who consented: type the signer''s name.');
	END IF;
	IF NEW.guardian_name IS NOT NULL
	   AND NOT COALESCE(protector_internal.has_letters_or_digits(protector_internal.typed_name(NEW.guardian_name)), false) THEN
		PERFORM protector.raise('invalid_parameter', 'guardian_name has no letters or digits',
			'A signature records who consented: type the guardian''s name.');
	END IF;
	NEW.signer_name := pg_catalog.btrim(NEW.signer_name);
	NEW.signature := pg_catalog.btrim(NEW.signature);
	NEW.guardian_name := pg_catalog.btrim(NEW.guardian_name);
	IF NOT protector_internal.names_match(NEW.signature, NEW.signer_name) THEN
		PERFORM protector.raise('invalid_parameter', 'the typed signature must be the signer''s name',
			pg_catalog.format('Signed "%s" for %s.', pg_catalog.left(NEW.signature, 100), pg_catalog.left(NEW.signer_name, 100)));
	END IF;

	-- the local date of signing: the booking's venue's, else the
	-- organization's; a booking's signature is of the booking's customer
	-- (the time of signing, after the version's lock: the transaction's
	-- start dated a signature before the text it seals, when a new version
	-- committed while it waited)
	NEW.signed_at := pg_catalog.clock_timestamp();
	IF NEW.booking_id IS NOT NULL THEN
		b := protector_internal.check_waiver_booking(NEW);
		-- (the booking's customer's, for their party; the desk, who may see
		-- every signature, is not held to it, and an agent who is also the
		-- booking's customer is a customer here)
		PERFORM protector_internal.check_customer_signatures(NEW.organization_id, NEW.booking_id, NEW.waiver_id);
		v_timezone := protector_internal.venue_timezone(b.organization_id, b.venue_id);
		NEW.customer_id := b.customer_id;
	ELSE
		v_timezone := protector_internal.venue_timezone(NEW.organization_id, NULL);
	END IF;
	SELECT a.signed_on INTO NEW.signed_on FROM protector_internal.signing_age(NULL, NEW.signed_at, v_timezone) a;
	IF NEW.participant_birth_date IS NULL OR NEW.participant_birth_date OPERATOR(pg_catalog.>) NEW.signed_on
	   OR NEW.participant_birth_date OPERATOR(pg_catalog.<) (NEW.signed_on OPERATOR(pg_catalog.-) 54787) THEN
		PERFORM protector.raise('invalid_parameter', 'participant_birth_date must be a date of the last 150 years, not in the future',
			pg_catalog.format('Got %s; today is %s in %s.', protector_internal.iso_text(NEW.participant_birth_date),
							  protector_internal.iso_text(NEW.signed_on), v_timezone));
	END IF;
	SELECT a.age INTO NEW.participant_age
	FROM protector_internal.signing_age(NEW.participant_birth_date, NEW.signed_at, v_timezone) a;
	IF NEW.participant_age OPERATOR(pg_catalog.<) v.minimum_age THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s is %s; this waiver is for participants of at least %s', NEW.participant_name,
							  NEW.participant_age, v.minimum_age));
	END IF;
	v_minor := NEW.participant_age OPERATOR(pg_catalog.<) v.guardian_under;
	IF v_minor AND (NEW.guardian_name IS NULL
					OR NOT protector_internal.names_match(NEW.guardian_name, NEW.signer_name)
					OR protector_internal.names_match(NEW.guardian_name, NEW.participant_name)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s is %s: a parent or guardian must sign for them', NEW.participant_name, NEW.participant_age),
			pg_catalog.format('Participants under %s need a guardian, who signs as signer_name and is named in guardian_name.',
							  v.guardian_under));
	ELSIF NOT v_minor AND (NEW.guardian_name IS NOT NULL
						   OR NOT protector_internal.names_match(NEW.signer_name, NEW.participant_name)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s is %s and signs for themselves', NEW.participant_name, NEW.participant_age),
			'The signer of an adult participant''s waiver is the participant, without a guardian.');
	END IF;
	NEW.text_sha256 := protector_internal.sha256_hex(v.body);
	NEW.submission_sha256 := protector_internal.waiver_submission_digest(NEW);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.prepare_waiver_submission() IS
'Trigger (BEFORE INSERT): checks a signature (who may sign, typed name, age on the local signing date, guardian for minors) and records its digests';

-- a venue's time zone (p_venue_id NULL: the organization's), as the
-- caller sees them
CREATE OR REPLACE FUNCTION protector_internal.venue_timezone(p_organization_id uuid, p_venue_id uuid)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN COALESCE((SELECT v.timezone FROM protector.venues v
					 WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id AND v.id OPERATOR(pg_catalog.=) p_venue_id),
					(SELECT o.timezone FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id),
					'UTC');
END
$$;
COMMENT ON FUNCTION protector_internal.venue_timezone(uuid, uuid) IS
'The time zone of a venue of the organization, or of the organization when p_venue_id is NULL';

CREATE TRIGGER prepare_waiver_submission BEFORE INSERT ON protector.waiver_submissions
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.prepare_waiver_submission();

-- A signature is never edited: only its booking is set, once (and with it
-- the booking's customer), and its customer follows a merge.
CREATE OR REPLACE FUNCTION protector_internal.guard_waiver_submission()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
BEGIN
	IF (NEW.id, NEW.organization_id, NEW.waiver_version_id, NEW.waiver_id, NEW.participant_name, NEW.participant_birth_date,
		NEW.participant_age, NEW.signer_name, NEW.signature, NEW.guardian_name, NEW.signed_at, NEW.signed_on,
		NEW.text_sha256, NEW.submission_sha256, NEW.created_by, NEW.created_at)
	   IS DISTINCT FROM
	   (OLD.id, OLD.organization_id, OLD.waiver_version_id, OLD.waiver_id, OLD.participant_name, OLD.participant_birth_date,
		OLD.participant_age, OLD.signer_name, OLD.signature, OLD.guardian_name, OLD.signed_at, OLD.signed_on,
		OLD.text_sha256, OLD.submission_sha256, OLD.created_by, OLD.created_at) THEN
		PERFORM protector.raise('invalid_parameter', 'a signed waiver cannot be changed',
			NULL, 'Only its booking is set, once (link_waiver_to_booking).');
	END IF;
	-- (its customer follows a merge of customer records only: the trigger
	-- keep_waiver_customer)
	IF NEW.booking_id IS DISTINCT FROM OLD.booking_id THEN
		IF OLD.booking_id IS NOT NULL THEN
			PERFORM protector.raise('invalid_parameter', 'this waiver is already linked to a booking',
				pg_catalog.format('It is linked to booking %s.', OLD.booking_id));
		END IF;
		b := protector_internal.check_waiver_booking(NEW);
		-- (a customer linking to their booking: within its party, as when
		-- they sign for it)
		PERFORM protector_internal.check_customer_signatures(NEW.organization_id, NEW.booking_id, NEW.waiver_id);
		NEW.customer_id := b.customer_id;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_waiver_submission() IS
'Trigger: a signed waiver never changes; its booking is set once (checked like a new one, its customer with it), its customer follows merges';

CREATE TRIGGER guard_waiver_submission BEFORE UPDATE ON protector.waiver_submissions
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.guard_waiver_submission();

CREATE FUNCTION protector.submit_waiver(p_waiver_id uuid, p_participant_name text, p_participant_birth_date date,
										p_signer_name text, p_signature text, p_booking_id uuid DEFAULT NULL,
										p_guardian_name text DEFAULT NULL, p_body_sha256 text DEFAULT NULL)
RETURNS protector.waiver_submissions
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.waiver_versions;
	s protector.waiver_submissions;
	v_org uuid;
	v_constraint text;
	v_schema text;
	v_table text;
BEGIN
	IF p_waiver_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_waiver_id must not be null');
	END IF;
	-- (a digest that is none is bad input, not a text changed since: a
	-- client retrying on 40001 would have tried for ever)
	IF p_body_sha256 OPERATOR(pg_catalog.!~) '^[0-9A-Fa-f]{64}$' THEN
		PERFORM protector.raise('invalid_parameter', 'p_body_sha256 must be 64 hexadecimal digits',
			pg_catalog.format('Got "%s".', pg_catalog.left(p_body_sha256, 80)),
			'Pass the body_sha256 the waiver''s reads give with its text.');
	END IF;
	-- the booking first: whoever sees it and may not collect is told so
	IF p_booking_id IS NOT NULL THEN
		v_org := protector_internal.authorize_row('protector.bookings', p_booking_id, 'waivers.collect', 'booking', false, true);
	END IF;
	-- the latest version, as the caller may see it, locked (shared:
	-- lock_waiver_version) and read again: one corrected, replaced or
	-- deleted while this waited for its lock was told "waiver not found"
	-- or "replaced", not to retry.  With p_body_sha256 the text shown has
	-- changed (40001); without, the latest text is signed.
	FOR i IN 1..3 LOOP
		SELECT * INTO v FROM protector.waiver_versions x
		WHERE x.waiver_id OPERATOR(pg_catalog.=) p_waiver_id ORDER BY x.version DESC LIMIT 1;
		IF NOT FOUND OR v.organization_id IS DISTINCT FROM COALESCE(v_org, v.organization_id) THEN
			PERFORM protector.raise('not_found', 'waiver not found', 'It does not exist, or you may not see it.');
		END IF;
		PERFORM protector_internal.lock_seen(1886547720, v.id, true);
		-- (still the latest, with the same text)
		EXIT WHEN COALESCE((SELECT x.id OPERATOR(pg_catalog.=) v.id AND x.body_sha256 OPERATOR(pg_catalog.=) v.body_sha256
							FROM protector.waiver_versions x
							WHERE x.waiver_id OPERATOR(pg_catalog.=) p_waiver_id
							ORDER BY x.version DESC LIMIT 1), false);
		IF p_body_sha256 IS NOT NULL OR i OPERATOR(pg_catalog.=) 3 THEN
			PERFORM protector.raise('retry', 'the waiver''s text has changed since it was shown',
				pg_catalog.format('Version %s of waiver %s was changed, replaced or deleted while the signature waited for it.',
								  v.version, p_waiver_id),
				'Show the latest text again (its body_sha256 comes with it), then sign.');
		END IF;
	END LOOP;
	IF p_booking_id IS NULL THEN
		-- (a customer, no member, sees the waiver: told what to do, not
		-- that it is not found)
		IF NOT protector_internal.caller_is_trusted()
		   AND v.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.customer_organizations())
		   AND v.organization_id OPERATOR(pg_catalog.<>) ALL (protector_internal.orgs_with('waivers.collect')) THEN
			PERFORM protector.raise('forbidden', 'a waiver without a booking is collected by the desk',
				'A customer signs a waiver for their own booking.', 'Pass p_booking_id.');
		END IF;
		PERFORM protector_internal.authorize(v.organization_id, 'waivers.collect', 'waiver');
		-- without a booking the signature is the desk's to keep (agents
		-- see only the signatures of their bookings)
		IF NOT (protector_internal.caller_is_trusted()
				OR v.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.read'))) THEN
			PERFORM protector.raise('forbidden', 'a waiver without a booking is collected by the desk',
				'Roles that may see the signed submissions (waivers.read) collect them without a booking.',
				'Pass p_booking_id: agents collect waivers for the bookings assigned to them.');
		END IF;
	END IF;
	-- the age, local date and digests are the database's (prepare_waiver_submission)
	BEGIN
		INSERT INTO protector.waiver_submissions (organization_id, waiver_version_id, booking_id, participant_name,
												  participant_birth_date, signer_name, signature, guardian_name)
		VALUES (v.organization_id, v.id, p_booking_id, p_participant_name, p_participant_birth_date, p_signer_name, p_signature,
				p_guardian_name)
		RETURNING * INTO s;
	EXCEPTION WHEN unique_violation THEN
		GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
		PERFORM protector_internal.refuse_second_signature(v_schema, v_table, v_constraint, p_participant_name);
		RAISE;
	END;
	-- the text the signer was shown (p_body_sha256, as the waiver's reads
	-- give it) is the text signed: the version signed is locked by now
	-- (prepare_waiver_submission), so no correction or new version comes
	-- between this check and the commit.  Between showing a text and
	-- signing, an unsigned version may be corrected, a new one made or the
	-- latest deleted: the signature then bound to a text nobody showed.
	IF p_body_sha256 IS NOT NULL
	   AND pg_catalog.lower(p_body_sha256) OPERATOR(pg_catalog.<>) (SELECT x.body_sha256 FROM protector.waiver_versions x
												  WHERE x.id OPERATOR(pg_catalog.=) s.waiver_version_id) THEN
		PERFORM protector.raise('retry', 'the waiver''s text has changed since it was shown',
			pg_catalog.format('Its latest version is %s; p_body_sha256 names another text.', v.version),
			'Show the latest text again (its body_sha256 comes with it), then sign.');
	END IF;
	RETURN s;
END
$$;
COMMENT ON FUNCTION protector.submit_waiver(uuid, text, date, text, text, uuid, text, text) IS
'Signs the latest version of a waiver for one participant (the desk and agents for their bookings; a customer for their own booking); with p_body_sha256, only the text the signer was shown';

CREATE OR REPLACE FUNCTION protector.link_waiver_to_booking(p_submission_id uuid, p_booking_id uuid)
RETURNS protector.waiver_submissions
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	s protector.waiver_submissions;
	v_schema text;
	v_table text;
	v_constraint text;
BEGIN
	IF p_submission_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_submission_id must not be null');
	END IF;
	v_org := protector_internal.authorize_row('protector.waiver_submissions', p_submission_id, 'waivers.collect',
											  'waiver submission', true, true);
	-- (a NULL booking: authorize_row names p_booking_id)
	IF protector_internal.authorize_row('protector.bookings', p_booking_id, 'waivers.collect', 'booking', false, true)
		  OPERATOR(pg_catalog.<>) v_org THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It does not exist, or you may not see it.');
	END IF;
	SELECT * INTO s FROM protector.waiver_submissions x WHERE x.id OPERATOR(pg_catalog.=) p_submission_id;
	IF s.booking_id OPERATOR(pg_catalog.=) p_booking_id THEN
		RETURN s;		-- linked already: a retry
	END IF;
	-- (the same participant linked or signed at the same moment elsewhere:
	-- told so, as afterwards)
	BEGIN
		UPDATE protector.waiver_submissions x SET booking_id = p_booking_id
		WHERE x.id OPERATOR(pg_catalog.=) p_submission_id
		RETURNING * INTO s;
	EXCEPTION WHEN unique_violation THEN
		GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
		PERFORM protector_internal.refuse_second_signature(v_schema, v_table, v_constraint, s.participant_name);
		RAISE;
	END;
	RETURN s;
END
$$;
COMMENT ON FUNCTION protector.link_waiver_to_booking(uuid, uuid) IS
'Links a waiver signed without a booking to one (once; its service must ask for that waiver)';

CREATE FUNCTION protector.get_waiver_submissions(p_organization_id uuid, p_booking_id uuid DEFAULT NULL)
RETURNS SETOF protector.waiver_submissions
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	IF p_booking_id IS NULL THEN
		PERFORM protector_internal.authorize(p_organization_id, 'waivers.read');
	ELSIF protector_internal.authorize_row('protector.bookings', p_booking_id, NULL, 'booking')
		  OPERATOR(pg_catalog.<>) p_organization_id THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It does not exist, or you may not see it.');
	-- (whoever else sees the booking, as finance and viewers do, is
	-- refused rather than shown no signatures, as the policy would)
	ELSIF NOT (protector_internal.caller_is_trusted()
			   OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.read'))
			   OR protector_internal.customer_owns_booking(p_organization_id, p_booking_id)
			   OR (p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.collect'))
				   AND EXISTS (SELECT FROM protector.bookings b
							   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
								 AND b.id OPERATOR(pg_catalog.=) p_booking_id
								 AND b.assigned_agent OPERATOR(pg_catalog.=) protector.current_user_id()))) THEN
		PERFORM protector.raise('forbidden', 'your role may not see this booking''s signed waivers',
			'They are for the desk (waivers.read), the booking''s agent (waivers.collect) and its customer.');
	END IF;
	-- (two queries: "p_booking_id IS NULL OR booking_id = p_booking_id" in
	-- one plan may be planned once for both and read the organization's
	-- every submission for one booking's.  The organization's is planned
	-- for each call's organization: PL/pgSQL's kept plan went generic on a
	-- pooled connection after a large tenant's calls, and a small tenant's
	-- next call then read every organization's signatures)
	IF p_booking_id IS NULL THEN
		RETURN QUERY EXECUTE
			'SELECT s.* FROM protector.waiver_submissions s
			 WHERE s.organization_id OPERATOR(pg_catalog.=) $1
			 ORDER BY s.signed_at DESC, s.id'
		USING p_organization_id;
	ELSE
		RETURN QUERY
		SELECT s.* FROM protector.waiver_submissions s
		WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id
		  AND s.booking_id OPERATOR(pg_catalog.=) p_booking_id
		ORDER BY s.signed_at DESC, s.id;
	END IF;
END
$$;
COMMENT ON FUNCTION protector.get_waiver_submissions(uuid, uuid) IS
'Signed waivers of the organization (the desk) or of one booking (whoever sees it: the desk, its agent, its customer), newest first';

CREATE OR REPLACE FUNCTION protector.verify_waiver_signature(p_submission_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.waiver_submissions;
	v_body text;
	v_text_ok boolean;
	v_submission_ok boolean;
BEGIN
	IF p_submission_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_submission_id must not be null');
	END IF;
	PERFORM protector_internal.authorize_row('protector.waiver_submissions', p_submission_id, NULL, 'waiver submission');
	SELECT * INTO s FROM protector.waiver_submissions x WHERE x.id OPERATOR(pg_catalog.=) p_submission_id;
	SELECT v.body INTO v_body FROM protector.waiver_versions v
	WHERE v.organization_id OPERATOR(pg_catalog.=) s.organization_id AND v.id OPERATOR(pg_catalog.=) s.waiver_version_id;
	v_text_ok := COALESCE(protector_internal.sha256_hex(v_body) OPERATOR(pg_catalog.=) s.text_sha256, false);
	v_submission_ok := protector_internal.waiver_submission_digest(s) OPERATOR(pg_catalog.=) s.submission_sha256;
	RETURN pg_catalog.jsonb_build_object('submission_id', s.id, 'valid', v_text_ok AND v_submission_ok,
										 'text_unchanged', v_text_ok, 'submission_unchanged', v_submission_ok,
										 'text_sha256', s.text_sha256, 'signed_at', s.signed_at,
										 'participant_name', s.participant_name, 'signer_name', s.signer_name);
END
$$;
COMMENT ON FUNCTION protector.verify_waiver_signature(uuid) IS
'Recomputes a signed waiver''s digests: valid when neither the text signed nor the signature has changed since signing';

-- The signed waivers of a local date range (signed_on, the venue's date),
-- a fixed column list for CSV (protector.csv_agg, PostgREST's text/csv).
CREATE OR REPLACE FUNCTION protector.export_waivers(p_organization_id uuid, p_from date, p_to date)
RETURNS TABLE (submission_id uuid, signed_at timestamptz, signed_on date, waiver text, version integer, title text,
			   participant_name text, participant_birth_date date, participant_age integer, signer_name text,
			   guardian_name text, booking_id uuid, booking_start timestamptz, service text, customer_name text,
			   text_sha256 text, submission_sha256 text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_organization_id IS NULL OR p_from IS NULL OR p_to IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id, p_from and p_to must not be null');
	END IF;
	-- (as the other date ranges' RPCs say it: p_from plus ten years below
	-- overflowed past the year 294276)
	PERFORM protector_internal.check_date_range(p_from, p_to, '0001-01-01', '9999-12-31');
	IF p_to OPERATOR(pg_catalog.<) p_from OR p_to OPERATOR(pg_catalog.>) (p_from OPERATOR(pg_catalog.+) '10 years'::interval) THEN
		PERFORM protector.raise('invalid_parameter', 'p_to must be from p_from to ten years after it',
			pg_catalog.format('Got %s to %s.', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'waivers.read');
	RETURN QUERY
	SELECT s.id, s.signed_at, s.signed_on, w.name, v.version, v.title, s.participant_name, s.participant_birth_date,
		   s.participant_age, s.signer_name, s.guardian_name, s.booking_id, pg_catalog.lower(b.during), sv.name, c.full_name,
		   s.text_sha256, s.submission_sha256
	FROM protector.waiver_submissions s
	JOIN protector.waiver_versions v ON v.organization_id OPERATOR(pg_catalog.=) s.organization_id
									 AND v.id OPERATOR(pg_catalog.=) s.waiver_version_id
	JOIN protector.waivers w ON w.organization_id OPERATOR(pg_catalog.=) s.organization_id AND w.id OPERATOR(pg_catalog.=) v.waiver_id
	LEFT JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) s.organization_id
								   AND b.id OPERATOR(pg_catalog.=) s.booking_id
	LEFT JOIN protector.services sv ON sv.organization_id OPERATOR(pg_catalog.=) s.organization_id
									AND sv.id OPERATOR(pg_catalog.=) b.service_id
	LEFT JOIN protector.customers c ON c.organization_id OPERATOR(pg_catalog.=) s.organization_id
									AND c.id OPERATOR(pg_catalog.=) s.customer_id
	WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND s.signed_on OPERATOR(pg_catalog.>=) p_from AND s.signed_on OPERATOR(pg_catalog.<=) p_to
	ORDER BY s.signed_at, s.id;
END
$$;
COMMENT ON FUNCTION protector.export_waivers(uuid, date, date) IS
'The waivers signed on local dates [p_from, p_to] (the desk), a fixed column list for CSV export';

-- the gate ------------------------------------------------------------------

-- A booking of a service that asks for a waiver is in_progress only when
-- as many distinct participants (name as compared, date of birth) as its
-- party have signed that waiver, and, when it lists its participants by
-- name (details.participants), every one listed has; the error names who
-- is missing (or says how many).  Checked when it goes in_progress
-- (inserted so, or updated), and when an in_progress booking grows its
-- party or changes service.
CREATE OR REPLACE FUNCTION protector_internal.require_waivers()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_waiver protector.waivers;
	v_signed text[];
	v_keys text[];
	v_count integer;
	v_missing text[];
BEGIN
	-- (an erasure's scrub of a booking under way takes personal data out
	-- of its details, and adds no participant: it is not refused for the
	-- signatures a waiver added to the service since asks for)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND OLD.status OPERATOR(pg_catalog.=) 'in_progress'
	   AND NEW.party_size OPERATOR(pg_catalog.<=) OLD.party_size AND NEW.service_id OPERATOR(pg_catalog.=) OLD.service_id
	   AND NEW.details OPERATOR(pg_catalog.=) protector_internal.erased_booking_details(OLD.details) THEN
		RETURN NEW;
	END IF;
	SELECT w.* INTO v_waiver FROM protector.services s
	JOIN protector.waivers w ON w.organization_id OPERATOR(pg_catalog.=) s.organization_id AND w.id OPERATOR(pg_catalog.=) s.waiver_id
	WHERE s.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND s.id OPERATOR(pg_catalog.=) NEW.service_id;
	IF NOT FOUND THEN
		RETURN NEW;
	END IF;
	-- the distinct participants who signed it for this booking, and their
	-- names as compared
	SELECT pg_catalog.count(*)::integer, COALESCE(pg_catalog.array_agg(x.participant_name ORDER BY x.participant_name), '{}'),
		   COALESCE(pg_catalog.array_agg(x.k), '{}')
	INTO v_count, v_signed, v_keys
	FROM (SELECT DISTINCT ON (protector_internal.typed_name(s.participant_name), s.participant_birth_date) s.participant_name,
				 protector_internal.typed_name(s.participant_name) AS k
		  FROM protector.waiver_submissions s
		  WHERE s.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND s.booking_id OPERATOR(pg_catalog.=) NEW.id
			AND s.waiver_id OPERATOR(pg_catalog.=) v_waiver.id) x;
	-- the participants the booking lists by name who have not signed
	IF pg_catalog.jsonb_typeof(NEW.details OPERATOR(pg_catalog.->) 'participants') OPERATOR(pg_catalog.=) 'array' THEN
		-- (names, or objects with a name: an object without one names nobody;
		-- trimmed of every kind of space, as a signature's name is; one
		-- longer than a signature's 200 characters matches none, and is
		-- named cut: it was refused as a name too long to compare, which
		-- named neither the list nor the person)
		-- (one with no letter or digit, which nobody can sign, named by its
		-- place: "Not signed: , ?." named nothing)
		SELECT pg_catalog.array_agg(CASE WHEN NOT protector_internal.has_letters_or_digits(l.n)
										 THEN pg_catalog.format('entry %s ("%s", no letter or digit: nobody can sign it)', l.i,
																pg_catalog.left(l.n, 20))
										 WHEN pg_catalog.length(l.n) OPERATOR(pg_catalog.>) 60
										 THEN pg_catalog.left(l.n, 60) OPERATOR(pg_catalog.||) '...' ELSE l.n END ORDER BY l.i)
		INTO v_missing
		-- (each name compared once, against the signatures' names in a
		-- hash: compared name by name, a list of 2,400 beside 1,000
		-- signatures kept a booking from starting for 92 s)
		FROM (SELECT t.n, t.i,
					 CASE WHEN pg_catalog.length(t.n) OPERATOR(pg_catalog.<=) 200 THEN protector_internal.typed_name(t.n) END AS k
			  FROM (SELECT protector_internal.trim_spaces(CASE pg_catalog.jsonb_typeof(p.value)
							  WHEN 'string' THEN p.value OPERATOR(pg_catalog.#>>) '{}'
							  WHEN 'object' THEN p.value OPERATOR(pg_catalog.->>) 'name' END) AS n, p.i
					FROM pg_catalog.jsonb_array_elements(NEW.details OPERATOR(pg_catalog.->) 'participants') WITH ORDINALITY p(value, i)) t
			  WHERE t.n IS NOT NULL) l
		-- (a listed name with nothing to compare matches no signature)
		LEFT JOIN (SELECT DISTINCT u.k FROM pg_catalog.unnest(v_keys) u(k)) signed ON signed.k OPERATOR(pg_catalog.=) l.k
		WHERE signed.k IS NULL;
	END IF;
	IF v_count OPERATOR(pg_catalog.>=) NEW.party_size AND v_missing IS NULL THEN
		RETURN NEW;
	END IF;
	PERFORM protector.raise('invalid_parameter',
		CASE WHEN v_count OPERATOR(pg_catalog.>=) NEW.party_size
			 THEN pg_catalog.format('not every participant listed has signed the waiver "%s"', v_waiver.name)
			 ELSE pg_catalog.format('%s of %s participants have signed the waiver "%s"', v_count, NEW.party_size, v_waiver.name) END,
		CASE WHEN v_missing IS NOT NULL THEN pg_catalog.format('Not signed: %s.', pg_catalog.array_to_string(v_missing[1:10], ', '))
			 ELSE pg_catalog.format('Signed: %s; %s more must sign.',
									COALESCE(NULLIF(pg_catalog.array_to_string(v_signed[1:10], ', '), ''), 'nobody'),
									NEW.party_size OPERATOR(pg_catalog.-) v_count) END,
		'A booking whose service asks for a waiver goes in_progress, or completed, once every participant has signed it (submit_waiver).');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.require_waivers() IS
'Trigger: a booking of a service that asks for a waiver is in_progress, or completed without having been in progress, only when every participant has signed it';

CREATE TRIGGER require_waivers BEFORE UPDATE OF status, party_size, service_id, details ON protector.bookings
	FOR EACH ROW WHEN (((NEW.status = 'in_progress'
						 AND (OLD.status IS DISTINCT FROM 'in_progress' OR NEW.party_size > OLD.party_size
							  OR NEW.service_id IS DISTINCT FROM OLD.service_id OR NEW.details IS DISTINCT FROM OLD.details))
						-- (completed: the game was played, so it was signed
						-- for; confirmed -> completed skipped the check, and
						-- a completed booking's party grew past it)
						OR (NEW.status = 'completed'
							AND (OLD.status NOT IN ('in_progress', 'completed') OR NEW.party_size > OLD.party_size
								 OR NEW.service_id IS DISTINCT FROM OLD.service_id)))
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.require_waivers();
-- (a new booking in progress: fired by its AFTER INSERT trigger,
-- src/booking_followups.c)

-- audited like every business table
SELECT protector.enable_audit(t)
FROM unnest('{protector.waivers, protector.waiver_versions, protector.waiver_submissions}'::regclass[]) t;

GRANT EXECUTE ON FUNCTION
	protector.create_waiver(uuid, text, text, text, integer, integer),
	protector.submit_waiver(uuid, text, date, text, text, uuid, text, text),
	protector.link_waiver_to_booking(uuid, uuid),
	protector.get_waiver_submissions(uuid, uuid),
	protector.verify_waiver_signature(uuid),
	protector.export_waivers(uuid, date, date),
	protector_internal.sha256_hex(text),
	protector_internal.waiver_submission_digest(protector.waiver_submissions),
	protector_internal.may_sign(uuid, uuid),
	protector_internal.check_waiver_booking(protector.waiver_submissions),
	protector_internal.lock_waiver_version(uuid, uuid),
	protector_internal.venue_timezone(uuid, uuid),
	protector_internal.signing_age(date, timestamptz, text)
TO authenticated, service_role;

-- Messages (issue 16) -----------------------------------------------------------
-- sql/84_messages.sql: one message thread per booking between the
-- organization and its customer (docs/messages.md).
--
-- Staff who may see the booking (the desk; an agent only on the bookings
-- assigned to them) and the customer who owns it read and write; anon
-- never.  A message is written once: only its read receipt changes, set by
-- the other side (mark_messages_read).  Bodies are 1 to 4000 characters of
-- text without control characters (line breaks and tabs aside); the audit
-- log records messages without their bodies.  Live delivery: the
-- organization's LISTEN channel (ids only, sql/85_realtime.sql) and, with
-- Supabase Realtime, Broadcast on the organization's private topic
-- (without the body) and on the customer's own private topic
-- protector:customer:<auth user id> (with it), which only they may
-- subscribe to (a policy on realtime.messages).

CREATE TABLE protector.booking_messages (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	booking_id		uuid NOT NULL,
	-- staff or customer, and the auth user who wrote it (the database's)
	sender_kind		text NOT NULL CHECK (sender_kind IN ('staff', 'customer')),
	sender_user_id	uuid,
	-- the booking's customer when it was written: whose thread it is (a
	-- booking moved to another customer does not hand them the earlier
	-- messages)
	customer_id		uuid,
	body			text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
	-- when the other side read it
	read_at			timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, booking_id) REFERENCES protector.bookings (organization_id, id) ON DELETE CASCADE,
	FOREIGN KEY (organization_id, customer_id)
		REFERENCES protector.customers (organization_id, id) ON DELETE SET NULL (customer_id)
);
CREATE INDEX booking_messages_booking_idx ON protector.booking_messages (organization_id, booking_id, created_at);
CREATE INDEX booking_messages_customer_idx ON protector.booking_messages (organization_id, customer_id);
-- a member's replies in a period (median_response_minutes, staff reports)
CREATE INDEX booking_messages_sender_idx ON protector.booking_messages (organization_id, sender_user_id, created_at)
	WHERE sender_kind = 'staff';
COMMENT ON TABLE protector.booking_messages IS
'Messages between an organization and the customer of a booking, one thread per booking (docs/messages.md)';

-- a booking the caller may message about as staff: the desk's, an agent's own
CREATE OR REPLACE FUNCTION protector_internal.staff_may_message(p_organization_id uuid, p_booking_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('messages.read'))
		   OR (p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('messages.send'))
			   AND EXISTS (SELECT FROM protector.bookings b
						   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
							 AND b.id OPERATOR(pg_catalog.=) p_booking_id
							 AND b.assigned_agent OPERATOR(pg_catalog.=) protector.current_user_id()));
END
$$;
COMMENT ON FUNCTION protector_internal.staff_may_message(uuid, uuid) IS
'True when the caller reads and writes a booking''s thread as staff: the map''s messages.read, or messages.send on a booking assigned to them';

-- a booking of the caller's own customer records
CREATE OR REPLACE FUNCTION protector_internal.customer_owns_booking(p_organization_id uuid, p_booking_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN EXISTS (SELECT FROM protector.bookings b
				   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.id OPERATOR(pg_catalog.=) p_booking_id
					 AND b.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()));
END
$$;
COMMENT ON FUNCTION protector_internal.customer_owns_booking(uuid, uuid) IS
'True when the booking is of one of the caller''s own customer records';

ALTER TABLE protector.booking_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.booking_messages FORCE ROW LEVEL SECURITY;
-- (written as bookings_select is: uncorrelated subqueries, run once per
-- statement, not per row)
CREATE POLICY booking_messages_select ON protector.booking_messages FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('messages.read'))::uuid[])
		   OR booking_id IN (SELECT b.id FROM protector.bookings b
							 WHERE b.assigned_agent = (SELECT protector.current_user_id())
							   AND b.organization_id = ANY ((SELECT protector_internal.orgs_with('messages.send'))::uuid[]))
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[]));
CREATE POLICY booking_messages_insert ON protector.booking_messages FOR INSERT TO authenticated
	WITH CHECK ((sender_kind = 'staff'
				 AND organization_id = ANY ((SELECT protector_internal.orgs_with('messages.send'))::uuid[])
				 AND (organization_id = ANY ((SELECT protector_internal.orgs_with('messages.read'))::uuid[])
					  OR booking_id IN (SELECT b.id FROM protector.bookings b
										WHERE b.assigned_agent = (SELECT protector.current_user_id()))))
				OR (sender_kind = 'customer' AND customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])));
-- read receipts only, through mark_messages_read (guard_message checks the side)
CREATE POLICY booking_messages_update ON protector.booking_messages FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('messages.read'))::uuid[])
		   OR booking_id IN (SELECT b.id FROM protector.bookings b
							 WHERE b.assigned_agent = (SELECT protector.current_user_id())
							   AND b.organization_id = ANY ((SELECT protector_internal.orgs_with('messages.send'))::uuid[]))
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[]));
SELECT pg_catalog.pg_extension_config_dump('protector.booking_messages', '');

-- A new message as the database records it: written by the caller, now,
-- unread, its body checked.
CREATE OR REPLACE FUNCTION protector_internal.prepare_message()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- trimmed of every kind of space: one of only spaces is no message
	NEW.body := protector_internal.trim_spaces(NEW.body);
	IF NEW.body IS NULL OR pg_catalog.length(NEW.body) NOT BETWEEN 1 AND 4000 THEN
		PERFORM protector.raise('invalid_parameter', 'a message is 1 to 4000 characters',
			pg_catalog.format('Got %s characters.', COALESCE(pg_catalog.length(NEW.body), 0)));
	END IF;
	IF NOT protector_internal.lines_are_clean(NEW.body) THEN
		PERFORM protector.raise('invalid_parameter', 'a message holds control or invisible direction characters',
			NULL, 'Plain text with line breaks and tabs is accepted.');
	END IF;
	-- (a member on a booking of their own writes as its customer, as
	-- send_message does: a staff message written directly was the
	-- question the desk never had to answer, and skipped the rate)
	IF NEW.sender_kind OPERATOR(pg_catalog.=) 'staff' AND NOT protector_internal.caller_is_trusted()
	   AND protector_internal.customer_owns_booking(NEW.organization_id, NEW.booking_id) THEN
		PERFORM protector.raise('invalid_parameter', 'on a booking of your own you write as its customer',
			NULL, 'Write sender_kind customer, or use send_message.');
	END IF;
	-- (staff who see the booking and write a customer's message on it,
	-- not being its customer, are told so, not "booking not found", which
	-- the rate's check says to a customer whose booking was handed over)
	IF NEW.sender_kind OPERATOR(pg_catalog.=) 'customer' AND NOT protector_internal.caller_is_trusted()
	   AND NOT protector_internal.customer_owns_booking(NEW.organization_id, NEW.booking_id)
	   AND EXISTS (SELECT FROM protector.bookings b
				   WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id) THEN
		IF protector_internal.staff_may_message(NEW.organization_id, NEW.booking_id) THEN
			PERFORM protector.raise('forbidden', 'you write on this booking as staff',
				'Its customer writes the customer''s messages.', 'Write sender_kind staff, or use send_message.');
		END IF;
		PERFORM protector.raise('forbidden', 'your role may not message customers',
			'The action messages.send is for the desk, and for agents on the bookings assigned to them.');
	END IF;
	-- (a customer's: at most so many an hour, check_customer_message_rate)
	IF NEW.sender_kind OPERATOR(pg_catalog.=) 'customer' AND NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector_internal.check_customer_message_rate(NEW.organization_id, NEW.booking_id);
	END IF;
	NEW.sender_user_id := protector.current_user_id();
	-- the thread's customer now (the booking as the caller sees it)
	SELECT b.customer_id INTO NEW.customer_id FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id;
	-- (a customer's booking given to another customer while the rate's
	-- lock was awaited is theirs no more: told as afterwards, not by the
	-- policy's bare 42501; found by a chaos run)
	IF NEW.sender_kind OPERATOR(pg_catalog.=) 'customer' AND NOT protector_internal.caller_is_trusted()
	   AND NOT COALESCE(NEW.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()), false) THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It was given to another customer while the message was written.');
	END IF;
	NEW.read_at := NULL;
	NEW.created_at := pg_catalog.now();
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.prepare_message() IS
'Trigger (BEFORE INSERT): a message is the caller''s, now, unread, with a clean body of 1 to 4000 characters';
CREATE TRIGGER prepare_message BEFORE INSERT ON protector.booking_messages
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.prepare_message();

-- Only the read receipt of a message changes: once, to now, by the other
-- side (staff read the customer's, the customer staff's).  An erasure of
-- the customer (sql/97_lifecycle.sql) replaces the bodies of their thread.
CREATE OR REPLACE FUNCTION protector_internal.guard_message()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.body OPERATOR(pg_catalog.=) '[erased]' AND protector_internal.caller_is_trusted()
	   AND (NEW.id, NEW.organization_id, NEW.booking_id, NEW.sender_kind, NEW.created_at, NEW.read_at)
		   IS NOT DISTINCT FROM (OLD.id, OLD.organization_id, OLD.booking_id, OLD.sender_kind, OLD.created_at, OLD.read_at) THEN
		RETURN NEW;
	END IF;
	-- an erasure takes an erased account off a message it sent, also one
	-- of a thread a merge moved to another record (as the owner:
	-- scrub_customer_rows), the body staying
	IF NEW.sender_user_id IS NULL AND OLD.sender_user_id IS NOT NULL AND protector_internal.caller_is_trusted()
	   AND (NEW.id, NEW.organization_id, NEW.booking_id, NEW.sender_kind, NEW.customer_id, NEW.body, NEW.created_at, NEW.read_at)
		   IS NOT DISTINCT FROM (OLD.id, OLD.organization_id, OLD.booking_id, OLD.sender_kind, OLD.customer_id, OLD.body,
								 OLD.created_at, OLD.read_at) THEN
		RETURN NEW;
	END IF;
	-- a merge of customer records moves the messages with the rest (as the
	-- owner: merge_customers' mark_merged); nobody else hands a thread to
	-- another customer
	IF NEW.customer_id IS DISTINCT FROM OLD.customer_id
	   AND (NEW.id, NEW.organization_id, NEW.booking_id, NEW.sender_kind, NEW.sender_user_id, NEW.body, NEW.created_at, NEW.read_at)
		   IS NOT DISTINCT FROM (OLD.id, OLD.organization_id, OLD.booking_id, OLD.sender_kind, OLD.sender_user_id, OLD.body,
								 OLD.created_at, OLD.read_at)
	   AND protector_internal.caller_is_trusted() THEN
		RETURN NEW;
	END IF;
	IF (NEW.id, NEW.organization_id, NEW.booking_id, NEW.sender_kind, NEW.sender_user_id, NEW.customer_id, NEW.body, NEW.created_at)
	   IS DISTINCT FROM (OLD.id, OLD.organization_id, OLD.booking_id, OLD.sender_kind, OLD.sender_user_id, OLD.customer_id,
						 OLD.body, OLD.created_at)
	   OR OLD.read_at IS NOT NULL
	   OR NEW.read_at IS DISTINCT FROM GREATEST(pg_catalog.now(), OLD.created_at)
	   OR NOT (protector_internal.caller_is_trusted()
			   OR (OLD.sender_kind OPERATOR(pg_catalog.=) 'customer'
				   AND protector_internal.staff_may_message(OLD.organization_id, OLD.booking_id))
			   OR (OLD.sender_kind OPERATOR(pg_catalog.=) 'staff'
				   AND OLD.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()))) THEN
		PERFORM protector.raise('invalid_parameter', 'a message cannot be changed', NULL,
			'Only its read receipt is set, once, by the other side (mark_messages_read).');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_message() IS
'Trigger: a message is never edited; its read receipt is set once, to now (or the message''s time, if later), by the other side; an erasure blanks bodies';
CREATE TRIGGER guard_message BEFORE UPDATE ON protector.booking_messages
	FOR EACH ROW WHEN (NOT protector_internal.restoring() AND OLD.* IS DISTINCT FROM NEW.*)
	EXECUTE FUNCTION protector_internal.guard_message();

CREATE FUNCTION protector.send_message(p_booking_id uuid, p_body text)
RETURNS protector.booking_messages
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	v_side text;
	m protector.booking_messages;
	v_constraint text;
BEGIN
	-- the booking as the caller sees it; staff by the map, else its customer
	v_org := protector_internal.authorize_row('protector.bookings', p_booking_id, NULL, 'booking');
	-- (a member on a booking of their own writes as its customer, as
	-- thread_side reads it)
	v_side := CASE WHEN protector_internal.caller_is_trusted() THEN 'staff'
				   WHEN protector_internal.customer_owns_booking(v_org, p_booking_id) THEN 'customer'
				   WHEN protector_internal.staff_may_message(v_org, p_booking_id)
					    AND v_org OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('messages.send')) THEN 'staff' END;
	IF v_side IS NULL THEN
		PERFORM protector.raise('forbidden', 'your role may not message customers',
			'The action messages.send is for the desk, and for agents on the bookings assigned to them.');
	END IF;
	INSERT INTO protector.booking_messages (organization_id, booking_id, sender_kind, body)
	VALUES (v_org, p_booking_id, v_side, p_body)
	RETURNING * INTO m;
	RETURN m;
EXCEPTION WHEN foreign_key_violation THEN
	-- (the booking deleted meanwhile, also with its organization: asked
	-- of the booking, which its customer sees, and its organization not)
	IF NOT EXISTS (SELECT FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id) THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It was deleted while the message was written.');
	END IF;
	-- (the thread's customer, read from the booking, given another
	-- customer and deleted meanwhile: the thread is the new customer's)
	GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
	IF v_constraint OPERATOR(pg_catalog.=) 'booking_messages_organization_id_customer_id_fkey' THEN
		PERFORM protector.raise('retry', 'the booking''s customer changed while the message was written', NULL,
			'Retry: the message then goes to the booking''s customer now.');
	END IF;
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.send_message(uuid, text) IS
'Writes a message in a booking''s thread: as staff (the desk, an agent on their booking) or as the booking''s customer';

CREATE FUNCTION protector.get_booking_messages(p_booking_id uuid, p_limit integer DEFAULT 100)
RETURNS SETOF protector.booking_messages
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
BEGIN
	IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_limit must be between 1 and 1000',
			pg_catalog.format('Got %s.', COALESCE(p_limit::text, 'NULL')));
	END IF;
	v_org := protector_internal.authorize_row('protector.bookings', p_booking_id, NULL, 'booking');
	PERFORM protector_internal.thread_side(v_org, p_booking_id);
	RETURN QUERY
	SELECT * FROM (SELECT m.* FROM protector.booking_messages m
				   WHERE m.organization_id OPERATOR(pg_catalog.=) v_org AND m.booking_id OPERATOR(pg_catalog.=) p_booking_id
				   ORDER BY m.created_at DESC, m.id DESC LIMIT p_limit) x
	ORDER BY x.created_at, x.id;
END
$$;
COMMENT ON FUNCTION protector.get_booking_messages(uuid, integer) IS
'A booking''s thread as the caller may read it, the last p_limit messages, oldest first';

-- The other side's unread messages of the thread become read; returns how many.
CREATE FUNCTION protector.mark_messages_read(p_booking_id uuid)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	v_side text;
	v_count integer;
BEGIN
	v_org := protector_internal.authorize_row('protector.bookings', p_booking_id, NULL, 'booking');
	v_side := protector_internal.thread_side(v_org, p_booking_id);
	UPDATE protector.booking_messages m SET read_at = GREATEST(pg_catalog.now(), m.created_at)
	WHERE m.organization_id OPERATOR(pg_catalog.=) v_org AND m.booking_id OPERATOR(pg_catalog.=) p_booking_id
	  AND m.sender_kind OPERATOR(pg_catalog.<>) v_side AND m.read_at IS NULL
	  AND (v_side OPERATOR(pg_catalog.=) 'staff' OR m.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()));
	GET DIAGNOSTICS v_count = ROW_COUNT;
	RETURN v_count;
END
$$;
COMMENT ON FUNCTION protector.mark_messages_read(uuid) IS
'Marks the other side''s unread messages of a booking''s thread read (read receipts); returns how many';

-- Supabase Realtime Broadcast (attached by protector.enable_realtime(),
-- sql/85_realtime.sql): the organization's private topic gets the
-- message without its body, the customer's own private topic with it.
CREATE FUNCTION protector_internal.broadcast_message()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
AS $$
DECLARE
	v_user uuid;
	v_payload jsonb;
BEGIN
	IF protector_internal.restoring()
	   OR (TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.read_at IS NOT DISTINCT FROM OLD.read_at) THEN
		RETURN NULL;
	END IF;
	v_payload := pg_catalog.jsonb_build_object('op', TG_OP, 'id', NEW.id, 'booking_id', NEW.booking_id,
											   'sender_kind', NEW.sender_kind, 'created_at', NEW.created_at,
											   'read_at', NEW.read_at);
	PERFORM realtime.send(v_payload, 'message', 'protector:' OPERATOR(pg_catalog.||) NEW.organization_id::text, true);
	-- the customer of the message (not whoever holds the booking now)
	SELECT c.user_id INTO v_user FROM protector.customers c
	WHERE c.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND c.id OPERATOR(pg_catalog.=) NEW.customer_id;
	IF v_user IS NOT NULL THEN
		PERFORM realtime.send(v_payload OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('body', NEW.body), 'message',
							  'protector:customer:' OPERATOR(pg_catalog.||) v_user::text, true);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.broadcast_message() IS
'Trigger: a message to Realtime Broadcast, on protector:<organization> (without the body) and protector:customer:<user> (with it)';

-- Per reply the member wrote: the minutes since the first customer
-- message of the thread that no staff reply had answered yet; the median
-- of those, for replies to customer messages written in [p_from, p_to)
-- (staff performance, sql/81_staff.sql).
CREATE OR REPLACE FUNCTION protector_internal.median_response_minutes(p_organization_id uuid, p_user_id uuid,
														   p_from timestamptz, p_to timestamptz)
RETURNS numeric
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT pg_catalog.round((pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY r.minutes))::numeric, 1)
			FROM (SELECT pg_catalog.date_part('epoch', s.created_at OPERATOR(pg_catalog.-) q.asked) OPERATOR(pg_catalog./) 60 AS minutes
				  FROM protector.booking_messages s
				  CROSS JOIN LATERAL (
					  -- the first customer message since the previous staff message
					  SELECT pg_catalog.min(c.created_at) AS asked FROM protector.booking_messages c
					  WHERE c.organization_id OPERATOR(pg_catalog.=) s.organization_id AND c.booking_id OPERATOR(pg_catalog.=) s.booking_id
						AND c.sender_kind OPERATOR(pg_catalog.=) 'customer' AND c.created_at OPERATOR(pg_catalog.<) s.created_at
						AND c.created_at OPERATOR(pg_catalog.>) COALESCE(
							(SELECT pg_catalog.max(p.created_at) FROM protector.booking_messages p
							 WHERE p.organization_id OPERATOR(pg_catalog.=) s.organization_id AND p.booking_id OPERATOR(pg_catalog.=) s.booking_id
							   AND p.sender_kind OPERATOR(pg_catalog.=) 'staff' AND p.created_at OPERATOR(pg_catalog.<) s.created_at),
							'-infinity')) q
				  WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id AND s.sender_kind OPERATOR(pg_catalog.=) 'staff'
					AND s.sender_user_id OPERATOR(pg_catalog.=) p_user_id
					-- (a reply comes after the question it answers: the
					-- member's replies before the period answer none of it,
					-- and are not read)
					AND s.created_at OPERATOR(pg_catalog.>) p_from
					AND q.asked OPERATOR(pg_catalog.>=) p_from AND q.asked OPERATOR(pg_catalog.<) p_to) r);
END
$$;
COMMENT ON FUNCTION protector_internal.median_response_minutes(uuid, uuid, timestamptz, timestamptz) IS
'Median minutes, over the member''s replies, from the first unanswered customer message of the thread to the reply';

-- audited like every business table, without the bodies
SELECT protector.enable_audit('protector.booking_messages', '{body}');

GRANT EXECUTE ON FUNCTION
	protector.send_message(uuid, text),
	protector.get_booking_messages(uuid, integer),
	protector.mark_messages_read(uuid),
	protector_internal.staff_may_message(uuid, uuid),
	protector_internal.customer_owns_booking(uuid, uuid),
	protector_internal.median_response_minutes(uuid, uuid, timestamptz, timestamptz)
TO authenticated, service_role;

-- the organization's LISTEN channel for messages, as sql/85_realtime.sql gives it
CREATE TRIGGER notify_insert AFTER INSERT ON protector.booking_messages
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION protector.notify_trigger();
CREATE TRIGGER notify_update AFTER UPDATE ON protector.booking_messages
	REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION protector.notify_trigger();
CREATE TRIGGER notify_delete AFTER DELETE ON protector.booking_messages
	REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION protector.notify_trigger();
-- in Supabase Realtime already: the message broadcast and the customers' topics
SELECT protector_internal.apply_realtime() FROM protector_internal.realtime_state;

-- The reminders outbox (issue 16) ---------------------------------------------
-- sql/84_reminders.sql: the reminders outbox (docs/reminders.md).
--
-- Every confirmed booking with a customer has a reminder row per offset of
-- its organization (settings.reminders.offsets_minutes, default 24 hours
-- and 1 hour before the start) whose time has not passed when the booking
-- is confirmed.  The booking's own trigger keeps them right: a reschedule
-- cancels the pending reminders of the old start and makes those of the
-- new one, a cancellation (any status but confirmed) cancels them, and a
-- booking confirmed again gets back the reminders cancelled before (never
-- one already sent).  Staff may also send one now (send_booking_reminder).
--
-- A worker (an Edge Function, a cron job) running as a trusted role
-- (service_role) calls claim_due_reminders(p_limit), which hands each due
-- reminder to exactly one caller (FOR UPDATE SKIP LOCKED) for a lease,
-- with the address read at that moment, and then complete_reminder(p_id,
-- p_ok, p_error).  A failed attempt is retried with backoff (1, 2, 4 ...
-- at most 60 minutes) up to settings.reminders.max_attempts (default 5);
-- a lease that runs out counts as a failed attempt.  A reminder not sent
-- before its booking starts expires.  Nothing is handed out twice at
-- once, a sent reminder is never handed out again, and nothing due is
-- left behind: every due reminder ends sent, failed, cancelled (with the
-- reason) or expired.

ALTER TABLE protector.customers ADD COLUMN reminder_channel text
	CHECK (reminder_channel IN ('email', 'sms', 'none'));
COMMENT ON COLUMN protector.customers.reminder_channel IS
'How the customer wants booking reminders: email, sms or none; NULL: e-mail if they have an address, else SMS';

CREATE TABLE protector.booking_reminders (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	booking_id		uuid NOT NULL,
	-- scheduled: one of the organization's offsets; manual: sent by staff
	kind			text NOT NULL DEFAULT 'manual' CHECK (kind IN ('scheduled', 'manual')),
	offset_minutes	integer CHECK (offset_minutes BETWEEN 1 AND 43200),
	-- the channel planned (resolved again when claimed)
	channel			text CHECK (channel IN ('email', 'sms')),
	-- a manual reminder's channel as staff asked for it (NULL: the
	-- customer's, whichever they can be reached by when it is claimed)
	asked_channel	text CHECK (asked_channel IN ('email', 'sms')),
	-- the start of the booking it reminds of, and when it is due
	starts_at		timestamptz NOT NULL,
	due_at			timestamptz NOT NULL,
	status			text NOT NULL DEFAULT 'pending'
					CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled', 'expired')),
	attempts		integer NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 20),
	-- when it may be claimed (due_at, later after a failed attempt)
	next_attempt_at timestamptz NOT NULL,
	claimed_at		timestamptz,
	lease_until		timestamptz,
	sent_at			timestamptz,
	last_error		text CHECK (length(last_error) <= 2000),
	cancelled_reason text CHECK (length(cancelled_reason) <= 200),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	CHECK ((kind = 'scheduled') = (offset_minutes IS NOT NULL)),
	CHECK (kind = 'manual' OR asked_channel IS NULL),
	CHECK ((status = 'sending') = (lease_until IS NOT NULL)),
	CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, booking_id)
		REFERENCES protector.bookings (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX booking_reminders_booking_idx ON protector.booking_reminders (organization_id, booking_id);
-- one reminder per booking, offset and start: a sent one is never made again
CREATE UNIQUE INDEX booking_reminders_once_idx ON protector.booking_reminders (booking_id, offset_minutes, starts_at)
	WHERE kind = 'scheduled';
-- what claim_due_reminders reads: due ones, and leases that ran out
CREATE INDEX booking_reminders_due_idx ON protector.booking_reminders (next_attempt_at) WHERE status = 'pending';
CREATE INDEX booking_reminders_lease_idx ON protector.booking_reminders (lease_until) WHERE status = 'sending';
COMMENT ON TABLE protector.booking_reminders IS
'Reminders outbox: the reminders of confirmed bookings, claimed and completed by a worker (docs/reminders.md)';

CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.booking_reminders
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();

-- Staff see the reminders of their organization and queue manual ones
-- (send_booking_reminder, or a direct insert of kind manual, which
-- prepare_reminder completes); the rest is the worker's and the
-- triggers'.
ALTER TABLE protector.booking_reminders ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.booking_reminders FORCE ROW LEVEL SECURITY;
CREATE POLICY booking_reminders_select ON protector.booking_reminders FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('reminders.read'))::uuid[]));
CREATE POLICY booking_reminders_insert ON protector.booking_reminders FOR INSERT TO authenticated
	WITH CHECK (kind = 'manual'
				AND organization_id = ANY ((SELECT protector_internal.orgs_with('reminders.send'))::uuid[]));
SELECT pg_catalog.pg_extension_config_dump('protector.booking_reminders', '');

-- the organization's reminder settings, defaults filled in
CREATE OR REPLACE FUNCTION protector_internal.setting_number(p_value jsonb, p_default numeric, p_min numeric, p_max numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.jsonb_typeof(p_value) OPERATOR(pg_catalog.=) 'number'
			THEN LEAST(GREATEST((p_value OPERATOR(pg_catalog.#>>) '{}')::numeric, p_min), p_max)
			ELSE p_default END;
COMMENT ON FUNCTION protector_internal.setting_number(jsonb, numeric, numeric, numeric) IS
'A number setting as read: a JSON number held to [p_min, p_max], anything else p_default (settings of before 0.2.0)';
CREATE OR REPLACE FUNCTION protector_internal.reminder_offsets(p_organization_id uuid)
RETURNS integer[]
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (through numeric: the settings schema takes 60.0 as the integer 60;
	-- of settings written before 0.2.0 checked them, what is no array is
	-- the default and what is no number in one is skipped)
	RETURN (SELECT CASE WHEN pg_catalog.jsonb_typeof(o.settings OPERATOR(pg_catalog.#>) '{reminders,offsets_minutes}')
							 IS DISTINCT FROM 'array' THEN '{1440,60}'::integer[]
						ELSE COALESCE((SELECT pg_catalog.array_agg(DISTINCT protector_internal.setting_number(x, NULL, 1, 43200)::integer)
									   FROM pg_catalog.jsonb_array_elements(o.settings OPERATOR(pg_catalog.#>) '{reminders,offsets_minutes}') x
									   WHERE pg_catalog.jsonb_typeof(x) OPERATOR(pg_catalog.=) 'number'),
									  '{}'::integer[]) END
			FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id);
END
$$;
COMMENT ON FUNCTION protector_internal.reminder_offsets(uuid) IS
'Minutes before a booking''s start at which the organization sends reminders (settings.reminders.offsets_minutes, default {1440,60})';

CREATE OR REPLACE FUNCTION protector_internal.reminder_max_attempts(p_organization_id uuid)
RETURNS integer
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT protector_internal.setting_number(o.settings OPERATOR(pg_catalog.#>) '{reminders,max_attempts}', 5, 1, 20)::integer
			FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id);
END
$$;
COMMENT ON FUNCTION protector_internal.reminder_max_attempts(uuid) IS
'How many times a reminder is tried before it fails (settings.reminders.max_attempts, default 5)';

-- After failed attempt n: wait 2^(n-1) minutes, at most 60.
CREATE OR REPLACE FUNCTION protector_internal.reminder_backoff(p_attempts integer)
RETURNS interval
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN pg_catalog.make_interval(mins => LEAST(1 OPERATOR(pg_catalog.<<) LEAST(GREATEST(p_attempts, 1) OPERATOR(pg_catalog.-) 1, 6), 60));
END
$$;
COMMENT ON FUNCTION protector_internal.reminder_backoff(integer) IS
'Wait before the next try after failed attempt n: 1, 2, 4, 8, 16, 32, then 60 minutes';

-- (before reminder_address, whose claims and manual reminders ask it of
-- 0.1.0's e-mail addresses)
CREATE OR REPLACE FUNCTION protector_internal.email_is_valid(p_email text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.length(p_email) OPERATOR(pg_catalog.<=) 320
	   AND protector_internal.text_is_clean(p_email) AND p_email IS NFKC NORMALIZED
	   AND p_email OPERATOR(pg_catalog.~) '^[^@[:space:]\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@[^@[:space:]\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+[.][^@[:space:]\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$'
	   AND p_email OPERATOR(pg_catalog.!~) '[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]';
COMMENT ON FUNCTION protector_internal.email_is_valid(text) IS
'An e-mail address as protector takes one: at most 320 characters, name@domain.tld without any kind of space, a character drawn as nothing, a compatibility form, or control or direction characters';
REVOKE ALL ON FUNCTION protector_internal.email_is_valid(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.email_is_valid(text) TO authenticated, service_role;

-- (before reminder_address, which the reminders made below ask it of
-- 0.1.0's phones)
CREATE OR REPLACE FUNCTION protector_internal.phone_is_valid(p_phone text)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN p_phone OPERATOR(pg_catalog.~) '^[+]?[0-9 ()./-]+$' AND p_phone OPERATOR(pg_catalog.~) '[0-9]'
		   AND pg_catalog.length(p_phone) BETWEEN 3 AND 40;
END
$$;
COMMENT ON FUNCTION protector_internal.phone_is_valid(text) IS
'A phone number''s shape: digits (at least one), spaces and ( ) . / -, an optional leading +, 3 to 40 characters';
REVOKE ALL ON FUNCTION protector_internal.phone_is_valid(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.phone_is_valid(text) TO authenticated, service_role;

-- The channel a reminder to this customer goes by, and the address:
-- their choice if they have its address, else the other one they have;
-- none when they chose none or have neither.  As the caller: RLS decides
-- whose addresses they may read.
CREATE OR REPLACE FUNCTION protector_internal.reminder_address(p_organization_id uuid, p_customer_id uuid,
													p_channel text DEFAULT NULL, p_sending boolean DEFAULT false,
													OUT channel text, OUT recipient text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	SELECT a.channel, a.recipient
	INTO channel, recipient
	FROM protector.customers c,
		 -- (a phone and country 0.1.0 stored unchecked, which normalize_phone
		 -- refuses: a country ISO 3166 does not assign, such as UK, is none,
		 -- and a phone of another shape than a phone's (letters, an
		 -- extension: "+1 800 FLOWERS" read +1800) no address; they failed
		 -- the update's reminders and every confirmation of the customer's
		 -- bookings, or went to another number.  Written out twice in the
		 -- VALUES, as the normalization was: as a join level of its own it
		 -- cost every booking naming a customer 7,400 instructions)
		 LATERAL (SELECT x.channel, x.recipient
				  FROM (VALUES (1, 'email', CASE WHEN NOT p_sending OR protector_internal.email_is_valid(c.email)
												 THEN c.email END),
							   (2, 'sms', CASE WHEN pg_catalog.starts_with(
													protector.normalize_phone(CASE WHEN protector_internal.phone_is_valid(c.phone) THEN c.phone END,
																			  CASE WHEN protector.country_is_known(c.country) THEN c.country END),
													'+')
											   THEN protector.normalize_phone(CASE WHEN protector_internal.phone_is_valid(c.phone) THEN c.phone END,
																			  CASE WHEN protector.country_is_known(c.country) THEN c.country END)
										  END)) x(n, channel, recipient)
				  WHERE x.recipient IS NOT NULL
					AND (p_channel IS NULL OR x.channel OPERATOR(pg_catalog.=) p_channel)
				  ORDER BY x.channel OPERATOR(pg_catalog.=) COALESCE(c.reminder_channel, 'email') DESC, x.n
				  LIMIT 1) a
	WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id AND c.id OPERATOR(pg_catalog.=) p_customer_id
	  AND (c.reminder_channel IS NULL OR c.reminder_channel OPERATOR(pg_catalog.<>) 'none');
END
$$;
COMMENT ON FUNCTION protector_internal.reminder_address(uuid, uuid, text, boolean) IS
'Channel and address for a reminder to the customer (p_channel: only that one; p_sending: an e-mail address protector does not take now is none): their reminder_channel if they have its address, else the other; none for reminder_channel none';

-- Why a manual reminder cannot go to the customer, whom reminder_address
-- found no address of: the error names what the desk can act on (an
-- erasure, an opt-out, a national number without a country, an e-mail
-- address 0.1.0 stored that protector does not take).  As the caller:
-- what they may not read is told as no address.
CREATE FUNCTION protector_internal.refuse_no_reminder_address(p_organization_id uuid, p_customer_id uuid, p_channel text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c protector.customers;
	v_email boolean;
	v_phone boolean;
	v_written text;
	v_why text;
BEGIN
	SELECT * INTO c FROM protector.customers x
	WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.id OPERATOR(pg_catalog.=) p_customer_id;
	v_email := c.email IS NOT NULL AND p_channel IS DISTINCT FROM 'sms';
	v_phone := c.phone IS NOT NULL AND p_channel IS DISTINCT FROM 'email';
	IF EXISTS (SELECT FROM protector.customer_erasures e
			   WHERE e.organization_id OPERATOR(pg_catalog.=) p_organization_id
				 AND e.customer_id OPERATOR(pg_catalog.=) p_customer_id) THEN
		PERFORM protector.raise('invalid_parameter', 'the customer was erased', 'An erased customer gets no reminders.');
	ELSIF c.reminder_channel OPERATOR(pg_catalog.=) 'none' THEN
		PERFORM protector.raise('invalid_parameter', 'the customer chose not to get reminders',
			'Their reminder_channel is none.');
	ELSIF v_email THEN
		PERFORM protector.raise('invalid_parameter', 'the customer''s e-mail address is not one reminders go to',
			'It was stored before protector checked addresses: name@domain.tld, without spaces or control characters.'
			OPERATOR(pg_catalog.||) CASE WHEN v_phone THEN ' Their phone number cannot be used either.' ELSE '' END,
			'Correct the address in the customer''s record.');
	ELSIF v_phone THEN
		-- (why normalize_phone could not write it out: its shape, its
		-- digits, what follows a + or an international prefix (00, or the
		-- country's own: 011 in the US), which normalize_phone dropped,
		-- the customer's country)
		v_written := CASE WHEN protector_internal.phone_is_valid(c.phone)
						THEN protector.normalize_phone(c.phone, CASE WHEN protector.country_is_known(c.country) THEN c.country END) END;
		v_why := CASE WHEN NOT protector_internal.phone_is_valid(c.phone) THEN 'shape'
					  WHEN v_written IS NULL THEN 'digits'
					  WHEN pg_catalog.starts_with(pg_catalog.ltrim(c.phone), '+')
						   OR v_written OPERATOR(pg_catalog.<>) pg_catalog.regexp_replace(c.phone, '[^0-9]', '', 'g') THEN 'code'
					  WHEN c.country IS NULL THEN 'no country'
					  WHEN NOT protector.country_is_known(c.country) THEN 'country'
					  ELSE 'national' END;
		PERFORM protector.raise('invalid_parameter', 'the customer''s phone number cannot be used for SMS',
			CASE v_why
				WHEN 'shape' THEN 'It was stored before protector checked numbers and is not one (digits, spaces and ( ) . / - only, an optional leading +).'
				WHEN 'digits' THEN 'It has too few digits to be a phone number.'
				WHEN 'code' THEN 'What follows its + (or its international prefix, 00) is no country code (none begins with 0).'
				WHEN 'no country' THEN 'It is a national number and the customer has no country: it means something only in its country.'
				WHEN 'country' THEN pg_catalog.format('It is a national number, and the customer''s country (%s, stored before protector checked countries) is no country code.',
													  protector_internal.quoted_text(c.country, 20))
				ELSE pg_catalog.format('It cannot be written out in full as a number of the customer''s country (%s).', c.country) END,
			CASE v_why
				WHEN 'code' THEN 'Write the number with its country code after the + (+49 30 ...), or as a national number without it.'
				WHEN 'no country' THEN 'Write the number with its country code (+...), or set the customer''s country.'
				WHEN 'country' THEN 'Correct the customer''s country, or write the number with its country code (+...).'
				WHEN 'national' THEN 'Write the number with its country code (+...).'
				ELSE 'Correct the number in the customer''s record.' END);
	END IF;
	PERFORM protector.raise('invalid_parameter',
		CASE WHEN p_channel IS NULL THEN 'the customer has no e-mail address or phone number for reminders'
			 WHEN p_channel OPERATOR(pg_catalog.=) 'email' THEN 'the customer has no e-mail address for reminders'
			 ELSE 'the customer has no phone number for reminders' END);
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_no_reminder_address(uuid, uuid, text) IS
'For the manual-reminder trigger: refuses a reminder to a customer without an address, naming why (erased, opted out, an address that cannot be used, none)';
GRANT EXECUTE ON FUNCTION protector_internal.refuse_no_reminder_address(uuid, uuid, text) TO authenticated, service_role;

-- The reminders a confirmed booking with a customer should have, made (or
-- brought back when cancelled before; never one already sent): one per
-- offset whose time has not passed, and, due now, those of p_due_now (the
-- offsets whose reminder was due and not yet sent when the booking moved:
-- a late worker must not make the customer miss it).
CREATE FUNCTION protector_internal.make_booking_reminders(b protector.bookings, p_due_now integer[] DEFAULT '{}',
															p_offsets integer[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_start timestamptz := pg_catalog.lower(b.during);
	v_channel text;
BEGIN
	IF b.status OPERATOR(pg_catalog.<>) 'confirmed' OR b.customer_id IS NULL
	   OR v_start OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		RETURN;
	END IF;
	SELECT a.channel INTO v_channel FROM protector_internal.reminder_address(b.organization_id, b.customer_id) a;
	IF v_channel IS NULL THEN
		RETURN;		-- opted out, or no address to send to
	END IF;
	INSERT INTO protector.booking_reminders AS r
		(organization_id, booking_id, kind, offset_minutes, channel, starts_at, due_at, next_attempt_at, created_by)
	SELECT b.organization_id, b.id, 'scheduled', o, v_channel, v_start, d.due, d.due, NULL
	FROM pg_catalog.unnest(COALESCE(p_offsets, protector_internal.reminder_offsets(b.organization_id))) o,
		 LATERAL (SELECT GREATEST(v_start OPERATOR(pg_catalog.-) pg_catalog.make_interval(mins => o), pg_catalog.now()) AS due) d
	WHERE v_start OPERATOR(pg_catalog.-) pg_catalog.make_interval(mins => o) OPERATOR(pg_catalog.>) pg_catalog.now()
	   OR o OPERATOR(pg_catalog.=) ANY (p_due_now)
	ON CONFLICT (booking_id, offset_minutes, starts_at) WHERE kind OPERATOR(pg_catalog.=) 'scheduled'
	DO UPDATE SET status = 'pending', channel = EXCLUDED.channel, attempts = 0, next_attempt_at = EXCLUDED.due_at,
				  last_error = NULL, cancelled_reason = NULL, claimed_at = NULL, claimed_for = NULL,
				  earlier_claims = protector_internal.claims_made(r.earlier_claims, r.attempts)
	WHERE r.status OPERATOR(pg_catalog.=) 'cancelled';
END
$$;
COMMENT ON FUNCTION protector_internal.make_booking_reminders(protector.bookings, integer[], integer[]) IS
'Makes a confirmed booking''s reminders (p_offsets, else the organization''s, still ahead, and p_due_now due now); brings back cancelled ones, never sent ones';

-- The booking's reminders follow it: after an insert or a change of its
-- status, time or customer.
CREATE OR REPLACE FUNCTION protector_internal.sync_booking_reminders()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_start timestamptz := pg_catalog.lower(NEW.during);
	v_wanted boolean := NEW.status OPERATOR(pg_catalog.=) 'confirmed' AND NEW.customer_id IS NOT NULL;
	v_offsets integer[];
	v_due_now integer[];
	v_channel text;
	-- the organization's offsets now apply to a booking confirmed or
	-- rescheduled (or given its first customer); another customer keeps
	-- its reminders as they are (docs/reminders.md)
	v_reoffset boolean := TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status
						  OR OLD.during IS DISTINCT FROM NEW.during OR OLD.customer_id IS NULL;
BEGIN
	-- another customer: the reminders being sent now were claimed for the
	-- last one; their worker's report, which locks its reminder, waits for
	-- this change and then finds the booking the new customer's (it then
	-- starts the reminder again for them, complete_reminder).  Written, not
	-- only locked, so that a report under REPEATABLE READ is told to retry;
	-- the pending ones locked, so that this change, under REPEATABLE READ,
	-- is told to retry where a claim took one since its snapshot.
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND OLD.customer_id IS DISTINCT FROM NEW.customer_id THEN
		PERFORM FROM protector.booking_reminders r
		WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND r.status OPERATOR(pg_catalog.=) ANY ('{pending,sending}')
		FOR UPDATE;
		UPDATE protector.booking_reminders r SET lease_until = r.lease_until
		WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND r.status OPERATOR(pg_catalog.=) 'sending';
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
		-- (only here: a new booking's are read by make_booking_reminders,
		-- and reading them twice was a fifth of what naming a customer
		-- cost a booking)
		v_offsets := protector_internal.reminder_offsets(NEW.organization_id);
		WITH cancelled AS (
			UPDATE protector.booking_reminders r
			SET status = 'cancelled',
				cancelled_reason = CASE WHEN NOT v_wanted AND NEW.customer_id IS NULL AND NEW.status OPERATOR(pg_catalog.=) 'confirmed'
										THEN 'booking has no customer'
										WHEN NOT v_wanted THEN 'booking ' OPERATOR(pg_catalog.||) NEW.status::text
										WHEN r.starts_at OPERATOR(pg_catalog.<>) v_start THEN 'booking rescheduled'
										ELSE 'offset no longer configured' END
			WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
			  AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
			  AND r.status OPERATOR(pg_catalog.=) 'pending'
			  AND (NOT v_wanted OR r.starts_at OPERATOR(pg_catalog.<>) v_start
				   OR (v_reoffset AND r.kind OPERATOR(pg_catalog.=) 'scheduled' AND r.offset_minutes OPERATOR(pg_catalog.<>) ALL (v_offsets)))
			RETURNING r.kind, r.offset_minutes, r.due_at)
		SELECT pg_catalog.array_agg(c.offset_minutes) INTO v_due_now FROM cancelled c
		WHERE c.kind OPERATOR(pg_catalog.=) 'scheduled' AND c.due_at OPERATOR(pg_catalog.<=) pg_catalog.now();
		-- and those of the old start the worker holds now (sending): if that
		-- send fails, or its lease runs out, the next claim cancels it as
		-- being of another time; sent, it told the old time
		IF v_wanted THEN
			v_due_now := COALESCE(v_due_now, '{}') OPERATOR(pg_catalog.||) ARRAY(
				SELECT r.offset_minutes FROM protector.booking_reminders r
				WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
				  AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
				  AND r.kind OPERATOR(pg_catalog.=) 'scheduled' AND r.status OPERATOR(pg_catalog.=) 'sending'
				  AND r.starts_at OPERATOR(pg_catalog.<>) v_start AND r.due_at OPERATOR(pg_catalog.<=) pg_catalog.now());
		END IF;
	END IF;
	IF NOT v_wanted THEN
		RETURN NULL;
	END IF;
	IF v_reoffset OR NOT EXISTS (
			SELECT FROM protector.booking_reminders r
			WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
			  AND r.kind OPERATOR(pg_catalog.=) 'scheduled' AND r.starts_at OPERATOR(pg_catalog.=) v_start) THEN
		PERFORM protector_internal.make_booking_reminders(NEW, COALESCE(v_due_now, '{}'));
		RETURN NULL;
	END IF;
	-- another customer: the reminders as they are, those cancelled for the
	-- last one (erased, or no address) back for this one while still ahead;
	-- the offsets of when it was confirmed, not today's
	SELECT a.channel INTO v_channel FROM protector_internal.reminder_address(NEW.organization_id, NEW.customer_id) a;
	IF v_channel IS NOT NULL THEN
		UPDATE protector.booking_reminders r
		SET status = 'pending', channel = v_channel, attempts = 0, next_attempt_at = r.due_at,
			last_error = NULL, cancelled_reason = NULL, claimed_at = NULL, claimed_for = NULL,
			earlier_claims = protector_internal.claims_made(r.earlier_claims, r.attempts)
		WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND r.kind OPERATOR(pg_catalog.=) 'scheduled' AND r.starts_at OPERATOR(pg_catalog.=) v_start
		  AND r.status OPERATOR(pg_catalog.=) 'cancelled'
		  AND r.cancelled_reason OPERATOR(pg_catalog.=) ANY ('{customer erased,customer has no address for reminders}')
		  AND r.due_at OPERATOR(pg_catalog.>) pg_catalog.now();
		-- and those that failed for the last one (their address, say) go
		-- to this one, now, while the booking has not started
		UPDATE protector.booking_reminders r
		SET status = 'pending', channel = v_channel, attempts = 0, next_attempt_at = pg_catalog.now(),
			last_error = NULL, claimed_at = NULL, claimed_for = NULL,
			earlier_claims = protector_internal.claims_made(r.earlier_claims, r.attempts)
		WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND r.starts_at OPERATOR(pg_catalog.=) v_start AND r.status OPERATOR(pg_catalog.=) 'failed'
		  AND r.claimed_for IS DISTINCT FROM NEW.customer_id
		  AND r.starts_at OPERATOR(pg_catalog.>) pg_catalog.now();
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.sync_booking_reminders() IS
'Trigger (AFTER INSERT or UPDATE of status, during, customer_id): the booking''s reminders follow its status, start and customer';

-- A customer who gets an address, or turns reminders back on, gets the
-- reminders of their confirmed bookings still ahead.
CREATE FUNCTION protector_internal.customer_reminders()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
BEGIN
	-- (share-locked: a change in flight is waited for and its booking read
	-- as it committed; from the statement's snapshot its old start, or
	-- its confirmed status, brought back the reminders the change had just
	-- cancelled, and passing it over left it without any.  merge_customers,
	-- which locks customers that booking writes wait for, locks their
	-- bookings first)
	FOR b IN
		SELECT * FROM protector.bookings x
		WHERE x.customer_id OPERATOR(pg_catalog.=) NEW.id AND x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
		  AND x.status OPERATOR(pg_catalog.=) 'confirmed' AND pg_catalog.lower(x.during) OPERATOR(pg_catalog.>) pg_catalog.now()
		FOR SHARE OF x
	LOOP
		-- (with the offsets it was confirmed with, which its reminders
		-- for its start keep: the organization's apply to bookings
		-- confirmed or rescheduled after they changed, not to one whose
		-- customer's address changed; a booking with none, its customer
		-- without an address then (or the organization's offsets none),
		-- takes the organization's of now)
		PERFORM protector_internal.make_booking_reminders(b, '{}',
			(SELECT pg_catalog.array_agg(DISTINCT r.offset_minutes) FROM protector.booking_reminders r
			 WHERE r.organization_id OPERATOR(pg_catalog.=) b.organization_id AND r.booking_id OPERATOR(pg_catalog.=) b.id
			   AND r.kind OPERATOR(pg_catalog.=) 'scheduled' AND r.starts_at OPERATOR(pg_catalog.=) pg_catalog.lower(b.during)
			   -- (those it has: not one a reschedule, a status change or a
			   -- new set of offsets cancelled, but one cancelled for want of
			   -- an address, which the new address brings back)
			   AND (r.status OPERATOR(pg_catalog.<>) 'cancelled'
					OR r.cancelled_reason OPERATOR(pg_catalog.=) 'customer has no address for reminders')));
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.customer_reminders() IS
'Trigger (AFTER UPDATE of a customer''s email, phone, reminder_channel or country): their confirmed bookings get the reminders they now can';

-- (country: a national number is an SMS address once its country is known)
CREATE TRIGGER customer_reminders AFTER UPDATE OF email, phone, reminder_channel, country ON protector.customers
	FOR EACH ROW WHEN ((OLD.email, OLD.phone, OLD.reminder_channel, OLD.country)
					   IS DISTINCT FROM (NEW.email, NEW.phone, NEW.reminder_channel, NEW.country)
					   AND (NEW.email IS NOT NULL OR NEW.phone IS NOT NULL)
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.customer_reminders();

-- (a new booking's: fired by its AFTER INSERT trigger, src/booking_followups.c)
-- (service_id, party_size, total_price and currency: set_booking_price()
-- may confirm a booking whose deposit a new price or currency leaves paid)
CREATE TRIGGER sync_reminders_update AFTER UPDATE OF status, during, customer_id, service_id, party_size, total_price, currency
	ON protector.bookings
	FOR EACH ROW WHEN ((OLD.status = 'confirmed' OR NEW.status = 'confirmed')
					   AND (OLD.status, OLD.during, OLD.customer_id) IS DISTINCT FROM (NEW.status, NEW.during, NEW.customer_id)
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.sync_booking_reminders();

-- A manual reminder as staff queue it: about the booking's start, due
-- now, by the customer's channel (or the one asked for, if they have its
-- address); the booking must be confirmed and not started, and one manual
-- reminder per booking in 10 minutes is enough.  Runs as the caller, and
-- asks the capability map first: whoever may not send reminders in the
-- booking's organization learns nothing about its bookings.
CREATE OR REPLACE FUNCTION protector_internal.prepare_reminder()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
	v_channel text;
BEGIN
	IF NOT (protector_internal.caller_is_trusted()
			OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('reminders.send'))) THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It does not exist, or you may not see it.');
	END IF;
	SELECT * INTO b FROM protector.bookings x
	WHERE x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND x.id OPERATOR(pg_catalog.=) NEW.booking_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It does not exist, or you may not see it.');
	ELSIF b.status OPERATOR(pg_catalog.<>) 'confirmed' OR pg_catalog.lower(b.during) OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'only a confirmed booking that has not started gets reminders',
			pg_catalog.format('The booking is %s and starts at %s.', b.status, protector_internal.iso_text(pg_catalog.lower(b.during))));
	ELSIF b.customer_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'the booking has no customer to remind');
	END IF;
	IF NEW.channel IS NOT NULL AND NEW.channel OPERATOR(pg_catalog.<>) ALL ('{email,sms}') THEN
		PERFORM protector.raise('invalid_parameter', 'p_channel must be email or sms',
			pg_catalog.format('Got "%s".', pg_catalog.left(NEW.channel, 20)));
	END IF;
	SELECT a.channel INTO v_channel
	FROM protector_internal.reminder_address(b.organization_id, b.customer_id, NEW.channel, true) a;
	IF v_channel IS NULL THEN
		PERFORM protector_internal.refuse_no_reminder_address(b.organization_id, b.customer_id, NEW.channel);
	END IF;
	-- one at a time per booking, so that the 10-minute rule holds for
	-- callers at the same moment (READ COMMITTED: the check below then
	-- sees what the one before committed)
	PERFORM protector_internal.lock_seen(1886547718, NEW.booking_id, false);
	IF EXISTS (SELECT FROM protector.booking_reminders r
			   WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
				 AND r.booking_id OPERATOR(pg_catalog.=) NEW.booking_id AND r.kind OPERATOR(pg_catalog.=) 'manual'
				 AND r.status OPERATOR(pg_catalog.<>) 'cancelled'
				 AND r.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '10 minutes')) THEN
		PERFORM protector.raise('rate_limited', 'a reminder for this booking was sent less than 10 minutes ago',
			NULL, 'Wait a few minutes before sending another.');
	END IF;
	-- (REPEATABLE READ: one sent while this waited, or before, is not in
	-- its snapshot)
	IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
		PERFORM protector_internal.authorize_row('protector.bookings', NEW.booking_id, 'reminders.send', 'booking');
		PERFORM protector_internal.manual_reminder_unseen(NEW.booking_id);
	END IF;
	NEW.asked_channel := NEW.channel;
	NEW.channel := v_channel;
	NEW.starts_at := pg_catalog.lower(b.during);
	NEW.due_at := pg_catalog.now();
	NEW.next_attempt_at := pg_catalog.now();
	NEW.status := 'pending';
	NEW.attempts := 0;
	NEW.earlier_claims := 0;
	NEW.claimed_at := NULL;
	NEW.claimed_for := NULL;
	NEW.sent_to := NULL;
	NEW.lease_until := NULL;
	NEW.sent_at := NULL;
	NEW.last_error := NULL;
	NEW.cancelled_reason := NULL;
	NEW.offset_minutes := NULL;		-- (a manual reminder is about no offset)
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.prepare_reminder() IS
'Trigger (BEFORE INSERT of a manual reminder): due now, about the booking''s start, by the customer''s channel; refuses a booking not confirmed or started, and more than one in 10 minutes';

CREATE TRIGGER prepare_reminder BEFORE INSERT ON protector.booking_reminders
	FOR EACH ROW WHEN (NEW.kind = 'manual' AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.prepare_reminder();

CREATE FUNCTION protector.send_booking_reminder(p_booking_id uuid, p_channel text DEFAULT NULL)
RETURNS protector.booking_reminders
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	r protector.booking_reminders;
BEGIN
	v_org := protector_internal.authorize_row('protector.bookings', p_booking_id, 'reminders.send', 'booking');
	INSERT INTO protector.booking_reminders (organization_id, booking_id, kind, channel, starts_at, due_at, next_attempt_at)
	VALUES (v_org, p_booking_id, 'manual', p_channel, pg_catalog.now(), pg_catalog.now(), pg_catalog.now())
	RETURNING * INTO r;
	RETURN r;
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(v_org);
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.send_booking_reminder(uuid, text) IS
'Queues a reminder of a confirmed booking due now, by the customer''s channel or p_channel (email, sms); the worker sends it';

-- the worker ------------------------------------------------------------------

CREATE FUNCTION protector_internal.require_worker(p_function text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector.raise('forbidden', pg_catalog.format('%s is for the reminder worker', p_function),
			'It hands out and completes the reminders of every organization.',
			'Call it as service_role (an Edge Function or a cron job), not as a signed-in user.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.require_worker(text) IS
'Refuses (42501) a caller that is not trusted (service_role, a superuser): the reminder worker''s functions';

-- Reminders whose lease ran out or whose booking started meanwhile; at
-- most 1000 a call, skipping rows another call holds.
CREATE FUNCTION protector_internal.settle_stale_reminders()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- a lease that ran out is a failed attempt: the worker did not report
	UPDATE protector.booking_reminders r
	SET status = CASE WHEN r.attempts OPERATOR(pg_catalog.>=) protector_internal.reminder_max_attempts(r.organization_id)
					  THEN 'failed' ELSE 'pending' END,
		next_attempt_at = pg_catalog.now() OPERATOR(pg_catalog.+) protector_internal.reminder_backoff(r.attempts),
		lease_until = NULL,
		last_error = protector_internal.lease_expired_error()
	FROM (SELECT x.id FROM protector.booking_reminders x
		  WHERE x.status OPERATOR(pg_catalog.=) 'sending' AND x.lease_until OPERATOR(pg_catalog.<=) pg_catalog.now()
		  ORDER BY x.lease_until LIMIT 1000 FOR UPDATE SKIP LOCKED) s
	WHERE r.id OPERATOR(pg_catalog.=) s.id;
	-- too late to remind
	UPDATE protector.booking_reminders r
	SET status = 'expired'
	FROM (SELECT x.id FROM protector.booking_reminders x
		  WHERE x.status OPERATOR(pg_catalog.=) 'pending' AND x.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()
			AND x.starts_at OPERATOR(pg_catalog.<=) pg_catalog.now()
		  ORDER BY x.next_attempt_at LIMIT 1000 FOR UPDATE SKIP LOCKED) s
	WHERE r.id OPERATOR(pg_catalog.=) s.id;
END
$$;
COMMENT ON FUNCTION protector_internal.settle_stale_reminders() IS
'Leases that ran out become failed attempts (retried or failed); pending reminders of started bookings expire';

CREATE FUNCTION protector.claim_due_reminders(p_limit integer DEFAULT 100, p_lease interval DEFAULT '5 minutes')
RETURNS TABLE (reminder_id uuid, organization_id uuid, booking_id uuid, kind text, offset_minutes integer,
			   channel text, recipient text, customer_name text, starts_at timestamptz, timezone text,
			   venue_name text, service_name text, attempt integer, lease_until timestamptz, idempotency_key text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	v_ids uuid[];
	v_left integer := p_limit;	-- places of p_limit not handed out yet
	v_asked integer;
	v_handed integer;
	v_round integer := 0;
	-- (the lease as it runs from now: an interval of months or days
	-- compares as 30 and 24 hours, and '1200 mon -3110399990 seconds',
	-- "10 seconds", leased for 524 days; its negative, for none)
	v_lease interval := (pg_catalog.now() OPERATOR(pg_catalog.+) p_lease) OPERATOR(pg_catalog.-) pg_catalog.now();
BEGIN
	PERFORM protector_internal.require_worker('claim_due_reminders');
	IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_limit must be between 1 and 1000',
			pg_catalog.format('Got %s.', COALESCE(p_limit::text, 'NULL')));
	END IF;
	IF v_lease IS NULL OR v_lease NOT BETWEEN interval '10 seconds' AND interval '1 hour' THEN
		PERFORM protector.raise('invalid_parameter', 'p_lease must be between 10 seconds and 1 hour',
			pg_catalog.format('Got %s.', COALESCE(p_lease::text, 'NULL')),
			'Long enough to send a batch; a lease that runs out hands the reminder to the next claim.');
	END IF;
	PERFORM protector_internal.settle_stale_reminders();
	-- those whose message reached the booking's customer before it went to
	-- another and came back: sent, not handed out (apart, so that they do
	-- not take places of p_limit: a claim answered none while others were
	-- due, and a worker that stops at an empty claim stopped)
	WITH reached AS (
		SELECT x.id
		FROM protector.booking_reminders x
		JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) x.organization_id
								  AND b.id OPERATOR(pg_catalog.=) x.booking_id
		WHERE x.status OPERATOR(pg_catalog.=) 'pending' AND x.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()
		  AND x.starts_at OPERATOR(pg_catalog.>) pg_catalog.now()
		  -- (sent_to asked first: a reminder never sent reached nobody, and
		  -- the function, asked of every due reminder of every tenant, made
		  -- a claim's time grow with them all)
		  AND x.sent_to IS NOT NULL
		  AND protector_internal.reminder_reached(x.organization_id, x.sent_to, b.customer_id)
		FOR UPDATE OF x SKIP LOCKED FOR SHARE OF b SKIP LOCKED)
	UPDATE protector.booking_reminders r
	SET status = 'sent', sent_at = pg_catalog.now(), last_error = NULL
	FROM reached WHERE r.id OPERATOR(pg_catalog.=) reached.id;
	-- the due ones, oldest first, each to one caller
	-- (the booking shared-locked too, skipped while a change of it is in
	-- progress: that change's trigger then finds the reminder pending, and
	-- a change after this claim waits for it); in rounds, while those
	-- dropped below (no address, no booking to remind of) left places of
	-- p_limit and more are due: a claim whose first p_limit were all
	-- dropped answered none while others were due, and a worker stops at
	-- an empty claim (at most 10 rounds a call)
	LOOP
		v_round := v_round OPERATOR(pg_catalog.+) 1;
		v_asked := v_left;
		WITH due AS (
			SELECT x.id, b.customer_id,
				   protector_internal.reminder_handed(x.organization_id, x.claimed_for, b.customer_id) AS handed
			FROM protector.booking_reminders x
			JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) x.organization_id
									  AND b.id OPERATOR(pg_catalog.=) x.booking_id
			WHERE x.status OPERATOR(pg_catalog.=) 'pending' AND x.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()
			  AND x.starts_at OPERATOR(pg_catalog.>) pg_catalog.now()
			  -- (one that came back to a customer it reached since the
			  -- statement above: the next claim marks it)
			  AND (x.sent_to IS NULL OR NOT protector_internal.reminder_reached(x.organization_id, x.sent_to, b.customer_id))
			ORDER BY x.next_attempt_at, x.id LIMIT v_left
			FOR UPDATE OF x SKIP LOCKED FOR SHARE OF b SKIP LOCKED),
		taken AS (
			UPDATE protector.booking_reminders r
			SET status = 'sending', claimed_at = pg_catalog.now(),
				-- (a claim for another customer than the last claim's starts
				-- the tries again, numbered on: another message, with another
				-- key, that the last one's late report is not taken for)
				attempts = CASE WHEN due.handed THEN 1 ELSE r.attempts OPERATOR(pg_catalog.+) 1 END,
				earlier_claims = CASE WHEN due.handed THEN protector_internal.claims_made(r.earlier_claims, r.attempts)
									  ELSE r.earlier_claims END,
				claimed_for = due.customer_id, lease_until = pg_catalog.now() OPERATOR(pg_catalog.+) v_lease,
				-- (a claim for another customer than the last: the last one's
				-- error, which may quote their address, is not this claim's)
				last_error = CASE WHEN r.claimed_for IS NOT DISTINCT FROM due.customer_id THEN r.last_error END
			FROM due WHERE r.id OPERATOR(pg_catalog.=) due.id
			RETURNING r.id)
		SELECT pg_catalog.array_agg(t.id) INTO v_ids FROM taken t;
		EXIT WHEN v_ids IS NULL;
		-- the address as it is now; none (opted out, erased, no booking to
		-- remind of any more): cancelled, not handed out
		RETURN QUERY
		WITH claimed AS (
			SELECT r.id, r.organization_id, r.booking_id, r.kind, r.offset_minutes, a.channel, a.recipient,
				   c.full_name, r.starts_at, r.due_at, v.timezone, v.name AS venue_name, s.name AS service_name,
				   protector_internal.claims_made(r.earlier_claims, r.attempts) AS attempt, r.earlier_claims, r.lease_until,
				   (b.status OPERATOR(pg_catalog.=) 'confirmed' AND pg_catalog.lower(b.during) OPERATOR(pg_catalog.=) r.starts_at) AS current
			FROM protector.booking_reminders r
			JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) r.organization_id
									  AND b.id OPERATOR(pg_catalog.=) r.booking_id
			JOIN protector.services s ON s.id OPERATOR(pg_catalog.=) b.service_id
			JOIN protector.venues v ON v.id OPERATOR(pg_catalog.=) b.venue_id
			LEFT JOIN protector.customers c ON c.organization_id OPERATOR(pg_catalog.=) b.organization_id
											AND c.id OPERATOR(pg_catalog.=) b.customer_id
			LEFT JOIN LATERAL protector_internal.reminder_address(b.organization_id, b.customer_id,
																  r.asked_channel, true) a ON true
			WHERE r.id OPERATOR(pg_catalog.=) ANY (v_ids)),
		dropped AS (
			UPDATE protector.booking_reminders r
			SET status = 'cancelled', lease_until = NULL,
				cancelled_reason = CASE WHEN NOT k.current THEN 'booking no longer confirmed for this time'
										ELSE 'customer has no address for reminders' END
			FROM claimed k
			WHERE r.id OPERATOR(pg_catalog.=) k.id AND (NOT k.current OR k.recipient IS NULL)),
		kept AS (
			UPDATE protector.booking_reminders r
			SET channel = k.channel
			FROM claimed k
			WHERE r.id OPERATOR(pg_catalog.=) k.id AND k.current AND k.recipient IS NOT NULL
			  AND r.channel IS DISTINCT FROM k.channel)
		SELECT k.id, k.organization_id, k.booking_id, k.kind, k.offset_minutes, k.channel, k.recipient, k.full_name,
			   k.starts_at, k.timezone, k.venue_name, k.service_name, k.attempt, k.lease_until,
			   -- (one message until it is brought back: then another, maybe
			   -- to another customer or of another time, which a provider
			   -- must not drop as the one before)
			   CASE WHEN k.earlier_claims OPERATOR(pg_catalog.=) 0 THEN k.id::text
					ELSE k.id::text OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) k.earlier_claims::text END
		FROM claimed k
		WHERE k.current AND k.recipient IS NOT NULL
		ORDER BY k.starts_at, k.due_at, k.id;
		GET DIAGNOSTICS v_handed = ROW_COUNT;
		v_left := v_left OPERATOR(pg_catalog.-) v_handed;
		-- (all places taken, or fewer due than asked: no more)
		EXIT WHEN v_left OPERATOR(pg_catalog.=) 0 OR pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.<) v_asked
			   OR v_round OPERATOR(pg_catalog.=) 10;
	END LOOP;
END
$$;
COMMENT ON FUNCTION protector.claim_due_reminders(integer, interval) IS
'For the reminder worker (service_role): hands out at most p_limit due reminders, each to one caller for p_lease, with the address to send to';

CREATE OR REPLACE FUNCTION protector.complete_reminder(p_id uuid, p_ok boolean, p_error text DEFAULT NULL,
											p_attempt integer DEFAULT NULL)
RETURNS protector.booking_reminders
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r protector.booking_reminders;
	v_late boolean;		-- its lease ran out, and no claim took it since
	v_attempt integer;	-- the number of its last claim
	v_error text;
	v_current boolean;	-- its booking still confirmed for its time
	v_customer uuid;	-- its booking's customer now
BEGIN
	PERFORM protector_internal.require_worker('complete_reminder');
	IF p_id IS NULL OR p_ok IS NULL THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s must not be null', CASE WHEN p_id IS NULL THEN 'p_id' ELSE 'p_ok' END),
			NULL, CASE WHEN p_id IS NULL THEN 'p_id is the reminder_id claim_due_reminders handed out.'
					   ELSE 'p_ok says whether the reminder was sent.' END);
	END IF;
	-- (a change of its booking's customer in progress holds the reminders
	-- being sent, sync_booking_reminders: this waits for it, and then sees
	-- whose the booking is)
	SELECT * INTO r FROM protector.booking_reminders x WHERE x.id OPERATOR(pg_catalog.=) p_id FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'reminder not found', pg_catalog.format('No reminder has id %s.', p_id));
	END IF;
	-- (a late report of the last claim is the truth about that attempt: a
	-- reminder sent was retried, or stayed failed, when any other claim
	-- ran in between and settled the lease)
	v_late := r.status IN ('pending', 'failed') AND r.lease_until IS NULL
			  AND r.last_error IS NOT DISTINCT FROM protector_internal.lease_expired_error();
	IF r.status OPERATOR(pg_catalog.<>) 'sending' AND NOT v_late THEN
		PERFORM protector.raise('conflict', 'the reminder is not being sent',
			pg_catalog.format('Its status is %s.', r.status),
			'Only a reminder handed out by claim_due_reminders is completed, once; a lease that ran out hands it to the next claim.');
	END IF;
	-- (claims are numbered across the times it was brought back)
	v_attempt := protector_internal.claims_made(r.earlier_claims, r.attempts);
	IF p_attempt IS NULL AND v_attempt OPERATOR(pg_catalog.>) 1 THEN
		PERFORM protector.raise('conflict', 'this reminder was claimed more than once: p_attempt must say which claim reports',
			pg_catalog.format('It is at attempt %s.', v_attempt),
			'Pass the attempt that claim_due_reminders handed out; a report of an earlier claim is refused.');
	END IF;
	IF p_attempt IS NOT NULL AND p_attempt OPERATOR(pg_catalog.<>) v_attempt THEN
		PERFORM protector.raise('conflict', 'this claim of the reminder has run out',
			pg_catalog.format('Attempt %s was claimed; this is attempt %s.', p_attempt, v_attempt),
			'Its lease ran out and another claim took it, or the reminder was brought back since.');
	END IF;
	-- its booking as it is now, read once: still confirmed for the time
	-- it reminds of, and whose
	SELECT b.status OPERATOR(pg_catalog.=) 'confirmed' AND pg_catalog.lower(b.during) OPERATOR(pg_catalog.=) r.starts_at,
		   b.customer_id
	INTO v_current, v_customer
	FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) r.organization_id AND b.id OPERATOR(pg_catalog.=) r.booking_id;
	v_current := COALESCE(v_current, false);
	-- a report of a claim for a customer who no longer has the booking
	-- (another took it over meanwhile): that message went to them; the
	-- reminder starts again for the one who has it, numbered on, while
	-- the booking is still confirmed for that time and ahead (else the
	-- report is taken as it is: there is nobody to remind).  One it
	-- reached is remembered (sent_to): should the booking come back to
	-- them, it is not sent to them twice.
	IF v_current AND v_customer IS NOT NULL AND r.starts_at OPERATOR(pg_catalog.>) pg_catalog.now()
	   AND protector_internal.reminder_handed(r.organization_id, r.claimed_for, v_customer) THEN
		UPDATE protector.booking_reminders x
		SET status = 'pending', next_attempt_at = pg_catalog.now(), lease_until = NULL, last_error = NULL,
			claimed_at = NULL, claimed_for = NULL, attempts = 0,
			earlier_claims = protector_internal.claims_made(x.earlier_claims, x.attempts),
			sent_to = CASE WHEN NOT p_ok OR x.claimed_for OPERATOR(pg_catalog.=) ANY (COALESCE(x.sent_to, '{}')) THEN x.sent_to
						   ELSE (COALESCE(x.sent_to, '{}') OPERATOR(pg_catalog.||) x.claimed_for)[
									GREATEST(COALESCE(pg_catalog.cardinality(x.sent_to), 0) OPERATOR(pg_catalog.-) 18, 1):] END
		WHERE x.id OPERATOR(pg_catalog.=) p_id
		RETURNING * INTO r;
		RETURN r;
	END IF;
	-- the error kept: none where the customer it was claimed for, or the
	-- booking's customer now, was erased (it may quote the address the
	-- erasure removed; an erasure in progress holds the reminders claimed
	-- for its customer, so this waited for it), and none that reads as the
	-- lease's (it would take a second report)
	IF NOT p_ok THEN
		v_error := CASE WHEN EXISTS (
							SELECT FROM protector.customer_erasures e
							WHERE e.organization_id OPERATOR(pg_catalog.=) r.organization_id
							  AND e.customer_id OPERATOR(pg_catalog.=) ANY (ARRAY[r.claimed_for, v_customer]))
						THEN 'failed (customer erased)'
						ELSE COALESCE(pg_catalog.left(NULLIF(NULLIF(protector_internal.trim_spaces(p_error), ''),
															 protector_internal.lease_expired_error()), 2000),
									  'failed (no error given)') END;
	END IF;
	IF p_ok THEN
		UPDATE protector.booking_reminders x
		SET status = 'sent', sent_at = pg_catalog.now(), lease_until = NULL, last_error = NULL
		WHERE x.id OPERATOR(pg_catalog.=) p_id
		RETURNING * INTO r;
	ELSIF v_late THEN
		-- (the failed attempt was counted, and its retry set, when the
		-- lease ran out: the worker's error replaces the lease's)
		UPDATE protector.booking_reminders x SET last_error = v_error
		WHERE x.id OPERATOR(pg_catalog.=) p_id
		RETURNING * INTO r;
	ELSE
		-- (one of a booking cancelled or moved while it was out is not
		-- tried again: the cancellation or the move, which leaves the
		-- reminders being sent to their worker, would have cancelled it)
		UPDATE protector.booking_reminders x
		SET status = CASE WHEN NOT v_current THEN 'cancelled'
						  WHEN x.attempts OPERATOR(pg_catalog.>=) protector_internal.reminder_max_attempts(x.organization_id)
						  THEN 'failed' ELSE 'pending' END,
			cancelled_reason = CASE WHEN NOT v_current THEN 'booking no longer confirmed for this time' END,
			next_attempt_at = pg_catalog.now() OPERATOR(pg_catalog.+) protector_internal.reminder_backoff(x.attempts),
			lease_until = NULL, last_error = v_error
		WHERE x.id OPERATOR(pg_catalog.=) p_id
		RETURNING * INTO r;
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION protector.complete_reminder(uuid, boolean, text, integer) IS
'For the reminder worker (service_role): a claimed reminder was sent (p_ok) or failed (p_error, retried with backoff up to max_attempts); p_attempt: only that claim';

-- audited like every business table
SELECT protector.enable_audit('protector.booking_reminders');

GRANT EXECUTE ON FUNCTION protector.send_booking_reminder(uuid, text) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION
	protector.claim_due_reminders(integer, interval),
	protector.complete_reminder(uuid, boolean, text, integer),
	protector_internal.require_worker(text),
	protector_internal.settle_stale_reminders(),
	protector_internal.reminder_max_attempts(uuid),
	protector_internal.reminder_backoff(integer)
TO service_role;
-- (as the caller, under RLS: prepare_reminder asks it for the desk)
GRANT EXECUTE ON FUNCTION protector_internal.reminder_address(uuid, uuid, text, boolean) TO authenticated, service_role;

-- privileges as sql/90_grants.sql gives every table
DO $grants_issue16$
DECLARE
	t regclass;
	cols text;
	stamps CONSTANT text[] := '{created_at,created_by,updated_at}';
BEGIN
	FOREACH t IN ARRAY '{protector.booking_messages, protector.booking_reminders, protector.staff_activity,
						 protector.staff_invitations, protector.staff_shifts, protector.staff_venues,
						 protector.waiver_submissions, protector.waiver_versions, protector.waivers}'::regclass[] LOOP
		EXECUTE format('GRANT SELECT, DELETE ON %s TO authenticated', t);
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
		FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> ALL (stamps);
		EXECUTE format('GRANT INSERT (%s) ON %s TO authenticated', cols, t);
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
		FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped
		  AND a.attname NOT IN ('id', 'organization_id') AND a.attname <> ALL (stamps);
		EXECUTE format('GRANT UPDATE (%s) ON %s TO authenticated', cols, t);
		EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO service_role', t);
	END LOOP;
END
$grants_issue16$;
GRANT USAGE, SELECT ON SEQUENCE protector.staff_activity_id_seq TO service_role;
GRANT INSERT (reminder_channel), UPDATE (reminder_channel) ON protector.customers TO authenticated;
GRANT INSERT (waiver_id), UPDATE (waiver_id) ON protector.services TO authenticated;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;

-- the confirmed bookings of before the update get their reminders, as if
-- confirmed now (audited as made)
SELECT protector_internal.audit_during_update(t, true) FROM unnest('{protector.booking_reminders}'::regclass[]) t;
SET LOCAL session_replication_role = replica;
INSERT INTO protector.booking_reminders
	(organization_id, booking_id, kind, offset_minutes, channel, starts_at, due_at, next_attempt_at, created_by)
SELECT b.organization_id, b.id, 'scheduled', o, a.channel, pg_catalog.lower(b.during),
	   pg_catalog.lower(b.during) OPERATOR(pg_catalog.-) pg_catalog.make_interval(mins => o),
	   pg_catalog.lower(b.during) OPERATOR(pg_catalog.-) pg_catalog.make_interval(mins => o), NULL
FROM protector.bookings b
CROSS JOIN LATERAL protector_internal.reminder_address(b.organization_id, b.customer_id) a
CROSS JOIN LATERAL pg_catalog.unnest(protector_internal.reminder_offsets(b.organization_id)) o
WHERE b.status OPERATOR(pg_catalog.=) 'confirmed' AND a.channel IS NOT NULL
  AND pg_catalog.lower(b.during) OPERATOR(pg_catalog.-) pg_catalog.make_interval(mins => o) OPERATOR(pg_catalog.>) pg_catalog.now();
RESET session_replication_role;
SELECT protector_internal.audit_during_update(t, false) FROM unnest('{protector.booking_reminders}'::regclass[]) t;

-- bookings now go only to agents on shift (docs/staff.md): name the
-- organizations that assigned agents before, so that they schedule shifts
-- or turn settings.staff.require_shifts off before they next assign or
-- move such a booking
DO $require_shifts$
DECLARE
	o record;
BEGIN
	FOR o IN
		SELECT g.id, g.slug, pg_catalog.count(*) AS n FROM protector.organizations g
		JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) g.id
		WHERE b.assigned_agent IS NOT NULL AND pg_catalog.upper(b.during) OPERATOR(pg_catalog.>) pg_catalog.now()
		  AND b.status OPERATOR(pg_catalog.=) ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[])
		GROUP BY g.id, g.slug ORDER BY g.slug
	LOOP
		-- (a WARNING: while an extension script runs, PostgreSQL shows
		-- nothing below it)
		RAISE WARNING 'protector 0.2.0: organization % (%) has % assigned bookings and no shifts yet', o.slug, o.id, o.n
			USING HINT = 'Schedule the agents'' shifts (create_staff_schedule), or set settings.staff.require_shifts to false.';
	END LOOP;
END
$require_shifts$;

-- 0.1.0 took new bookings, vouchers and messages for a customer already
-- merged into another; 0.2.0 refuses them ("nothing new refers to a
-- merged customer"), so such rows are named for the desk to move (a
-- WARNING: while an extension script runs, PostgreSQL shows nothing below)
DO $merged_references$
DECLARE
	r record;
	v_end uuid;
	v_next uuid;
	v_steps integer;
BEGIN
	FOR r IN
		SELECT c.organization_id, c.id, c.merged_into, pg_catalog.count(*) AS n
		FROM protector.customers c
		JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) c.organization_id
								 AND b.customer_id OPERATOR(pg_catalog.=) c.id
		WHERE c.merged_into IS NOT NULL
		GROUP BY c.organization_id, c.id, c.merged_into ORDER BY c.organization_id, c.id
	LOOP
		-- (0.1.0 merged into a merged customer too: the chain's end is the
		-- customer that stands for them all)
		v_end := r.merged_into;
		v_steps := 0;
		LOOP
			SELECT c.merged_into INTO v_next FROM protector.customers c WHERE c.id OPERATOR(pg_catalog.=) v_end;
			EXIT WHEN v_next IS NULL OR v_next OPERATOR(pg_catalog.=) r.id OR v_steps OPERATOR(pg_catalog.>) 100;
			v_end := v_next;
			v_steps := v_steps OPERATOR(pg_catalog.+) 1;
		END LOOP;
		RAISE WARNING 'protector 0.2.0: customer % of organization % was merged into % and still has % bookings', r.id,
			r.organization_id, v_end, r.n
			USING HINT = pg_catalog.format('Move them to the customer it was merged into: UPDATE protector.bookings SET customer_id = %L WHERE customer_id = %L;',
										   v_end, r.id);
	END LOOP;
END
$merged_references$;

-- restores: the tables of issue 16 like every other (sql/98_restore.sql)
DO $restore_issue16$
DECLARE
	t record;
	v_name text;
BEGIN
	FOR t IN
		SELECT pg_catalog.format('%I.%I', cn.nspname, cl.relname) AS tbl, cl.relname,
			   pg_catalog.string_agg(pg_catalog.format('(%s OR EXISTS (SELECT FROM %s r WHERE %s))',
					(SELECT pg_catalog.string_agg(pg_catalog.format('NEW.%I IS NULL', a.attname), ' OR ')
					 FROM unnest(c.conkey) k JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k),
					(SELECT pg_catalog.format('%I.%I', n.nspname, r.relname) FROM pg_catalog.pg_class r
					 JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace WHERE r.oid = c.confrelid),
					(SELECT pg_catalog.string_agg(pg_catalog.format('r.%I OPERATOR(pg_catalog.=) NEW.%I', pa.attname, a.attname), ' AND ')
					 FROM unnest(c.conkey, c.confkey) u(fk_att, pk_att)
					 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.fk_att
					 JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = u.pk_att)),
				E'\n\t   AND ' ORDER BY c.conname) AS checks
		FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class cl ON cl.oid = c.conrelid
		JOIN pg_catalog.pg_namespace cn ON cn.oid = cl.relnamespace
		WHERE c.contype = 'f' AND c.confrelid <> c.conrelid
		  AND cl.relname IN ('booking_reminders', 'waivers', 'waiver_versions', 'waiver_submissions', 'services',
							 'staff_invitations', 'staff_venues', 'staff_shifts', 'staff_activity', 'booking_messages')
		  AND c.connamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
		GROUP BY cn.nspname, cl.relname
		ORDER BY cl.relname
	LOOP
		-- services has its function and triggers already: the function
		-- now also checks the waiver
		v_name := 'restore_order_' || t.relname;
		EXECUTE pg_catalog.format($f$
			CREATE OR REPLACE FUNCTION protector_internal.%I() RETURNS trigger
			LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
			AS $body$
			BEGIN
				IF %s THEN
					RETURN NEW;
				END IF;
				INSERT INTO protector_internal.restore_pending (relid, row_data)
				VALUES (TG_RELID, pg_catalog.to_jsonb(NEW));
				RETURN NULL;
			END
			$body$$f$, v_name, t.checks);
		CONTINUE WHEN t.relname = 'services';
		EXECUTE pg_catalog.format('COMMENT ON FUNCTION protector_internal.%I() IS %L', v_name,
			'Trigger, during restores only: sets a ' || t.relname || ' row aside until what it refers to is loaded');
		EXECUTE pg_catalog.format('CREATE TRIGGER a_restore_order BEFORE INSERT ON %s FOR EACH ROW'
			' WHEN (protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.%I()', t.tbl, v_name);
		EXECUTE pg_catalog.format('CREATE TRIGGER z_insert_restored_pending AFTER INSERT ON %s FOR EACH STATEMENT'
			' WHEN (protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.insert_restored_pending()', t.tbl);
	END LOOP;
END
$restore_issue16$;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector_internal.keep_one_owner()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_try integer;
	v_locked boolean := false;
	v_others boolean;				-- another active owner, held or not
	-- An owner who confirmed the membership is replaced only by another
	-- who did: an owner who made someone else owner and left handed them
	-- an organization they never asked for, which kept them from deleting
	-- their account.  A pending owner may go while any other active owner
	-- stays (so a pending owner can always decline what a confirmed owner
	-- made them).
	v_confirmed boolean := OLD.confirmed_at IS NOT NULL;
BEGIN
	-- (a row moved to another organization leaves this one too: service_role
	-- left an organization without an owner so)
	IF OLD.role OPERATOR(pg_catalog.=) 'owner' AND OLD.active
	   AND (TG_OP OPERATOR(pg_catalog.=) 'DELETE'
			OR NEW.role OPERATOR(pg_catalog.<>) 'owner' OR NOT NEW.active
			OR NEW.organization_id IS DISTINCT FROM OLD.organization_id
			OR (v_confirmed AND NEW.confirmed_at IS NULL)) THEN
		-- (a cascaded delete of the whole organization may remove every owner)
		IF NOT EXISTS (SELECT FROM protector.organizations o
					   WHERE o.id OPERATOR(pg_catalog.=) OLD.organization_id) THEN
			RETURN CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN OLD ELSE NEW END;
		END IF;
		-- serialize owner changes of one organization
		PERFORM pg_catalog.pg_advisory_xact_lock(protector_internal.lock_key(1886547714, OLD.organization_id));
		-- The other active owners, locked so that they stay owners (under
		-- REPEATABLE READ or SERIALIZABLE an owner another transaction
		-- demoted since the snapshot is a serialization failure, 40001, not
		-- an owner counted that is no longer one).  A row another
		-- transaction holds is not waited for while the owners' lock is
		-- held (this row is held already: two owners stepping down at once
		-- each held their own row and waited for the other's, 40P01), but
		-- looked at again for up to a second, sleeping (no lock wait, so no
		-- deadlock check finds a cycle): a shift or task being written for
		-- that owner holds it FOR SHARE for a moment.  All the others are
		-- locked, so that a later change of one of them waits for this
		-- transaction.  FOR NO KEY UPDATE: a foreign key's check does not
		-- conflict.  Where every other owner is still held, the caller
		-- retries (40001).
		FOR v_try IN 1..20 LOOP
			IF v_try OPERATOR(pg_catalog.>) 1 THEN
				PERFORM pg_catalog.pg_sleep(0.05);
			END IF;
			PERFORM FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
			  AND m.role OPERATOR(pg_catalog.=) 'owner' AND m.active AND m.id OPERATOR(pg_catalog.<>) OLD.id
			  AND (m.confirmed_at IS NOT NULL OR NOT v_confirmed)
			FOR NO KEY UPDATE SKIP LOCKED;
			v_locked := FOUND;
			v_others := v_locked OR EXISTS (
				SELECT FROM protector.members m
				WHERE m.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
				  AND m.role OPERATOR(pg_catalog.=) 'owner' AND m.active AND m.id OPERATOR(pg_catalog.<>) OLD.id
				  AND (m.confirmed_at IS NOT NULL OR NOT v_confirmed));
			EXIT WHEN v_locked OR NOT v_others;
		END LOOP;
		IF v_locked THEN
			NULL;
		ELSIF v_others THEN
			PERFORM protector.raise('retry', 'another owner of the organization is being changed',
				pg_catalog.format('Every other active owner of organization %s is locked by another transaction.',
								  OLD.organization_id),
				'Retry the transaction.');
		ELSIF v_confirmed AND EXISTS (
				SELECT FROM protector.members m
				WHERE m.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
				  AND m.role OPERATOR(pg_catalog.=) 'owner' AND m.active AND m.id OPERATOR(pg_catalog.<>) OLD.id) THEN
			PERFORM protector.raise('invalid_parameter',
				'an organization must keep at least one active owner',
				pg_catalog.format('Member %s is the last active owner of organization %s who confirmed the membership; the other owners have not confirmed theirs.',
								  OLD.id, OLD.organization_id),
				'Another owner confirms their membership first (protector.confirm_membership).');
		ELSE
			PERFORM protector.raise('invalid_parameter',
				'an organization must keep at least one active owner',
				pg_catalog.format('Member %s is the last active owner of organization %s.',
								  OLD.id, OLD.organization_id),
				'Make another member owner, and have them confirm it (protector.confirm_membership), first; or delete the organization.');
		END IF;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		RETURN OLD;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_one_owner() IS
'Trigger: refuses to delete, demote, deactivate or move away the last active owner of an organization, and the last who confirmed the membership while other owners have not';

-- The kind CHECKs of tasks and notifications, the same rule without a
-- counted repetition: PostgreSQL's regular expressions ran '{0,63}' as a
-- 64-state automaton for every row (3.6 us a row, 7% of the instructions
-- of a full booking, which writes one of each); '*' and a length do it in
-- a fourteenth of that.
ALTER TABLE protector.tasks DROP CONSTRAINT tasks_kind_check,
	ADD CONSTRAINT tasks_kind_check CHECK (kind ~ '^[a-z][a-z0-9_]*$' AND length(kind) <= 64);
ALTER TABLE protector.notifications DROP CONSTRAINT notifications_kind_check,
	ADD CONSTRAINT notifications_kind_check CHECK (kind ~ '^[a-z][a-z0-9_.]*$' AND length(kind) <= 64);

-- A restore's ordering step and pending inserts, for the tables whose C
-- triggers check for a restore anyway: bookings' prepare_booking() runs
-- restore_order_bookings() first, report_change() runs
-- insert_restored_pending() after an INSERT statement (sql/98_restore.sql).
-- Their own triggers cost every insert a WHEN clause compiled per
-- statement while no restore ran (17,000 instructions per booking).
DROP TRIGGER a_restore_order ON protector.bookings;
DROP TRIGGER z_insert_restored_pending ON protector.bookings;
DROP TRIGGER z_insert_restored_pending ON protector.payments;
DROP TRIGGER z_insert_restored_pending ON protector.tasks;
DROP TRIGGER z_insert_restored_pending ON protector.members;
DROP TRIGGER z_insert_restored_pending ON protector.customers;
DROP TRIGGER z_insert_restored_pending ON protector.venues;
DROP TRIGGER z_insert_restored_pending ON protector.services;

-- booking_transition_allowed() (and round_money() above) in PL/pgSQL,
-- booking_total() and booking_shape() in C: as SQL functions with a SET
-- clause they were parsed and planned again in every transaction, a third
-- of a create_booking (sql/75_bookings_api.sql).
CREATE OR REPLACE FUNCTION protector.booking_total(p_price numeric, p_price_per_person numeric, p_party_size integer)
RETURNS numeric
AS 'MODULE_PATHNAME', 'protector_booking_total'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector.booking_total(numeric, numeric, integer) IS
'The price of a booking: price + price_per_person x party_size';

CREATE OR REPLACE FUNCTION protector.booking_transition_allowed(p_from protector.booking_status,
													 p_to protector.booking_status)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
-- (PL/pgSQL: a SQL function with a SET clause is planned again in every
-- transaction; see booking_total() in sql/75_bookings_api.sql)
BEGIN
	RETURN p_from OPERATOR(pg_catalog.=) p_to OR (p_from, p_to) IN (
		('held', 'pending'), ('held', 'confirmed'), ('held', 'cancelled'),
		('pending', 'confirmed'), ('pending', 'cancelled'),
		('confirmed', 'in_progress'), ('confirmed', 'completed'),
		('confirmed', 'cancelled'), ('confirmed', 'no_show'),
		('in_progress', 'completed'), ('in_progress', 'cancelled'));
END
$$;
COMMENT ON FUNCTION protector.booking_transition_allowed(protector.booking_status, protector.booking_status) IS
'The booking state machine: may a booking go from p_from to p_to?';

CREATE OR REPLACE FUNCTION protector_internal.widget_setting(p_settings jsonb, p_key text, p_default integer,
												  p_min integer, p_max integer)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN CASE WHEN pg_catalog.jsonb_typeof(p_settings -> p_key) OPERATOR(pg_catalog.=) 'number'
				THEN LEAST(GREATEST((p_settings ->> p_key)::numeric, p_min), p_max)::integer
				ELSE p_default END;
END
$$;
COMMENT ON FUNCTION protector_internal.widget_setting(jsonb, text, integer, integer, integer) IS
'A numeric widget setting clamped to [p_min, p_max], or p_default when absent or not a number';

CREATE OR REPLACE FUNCTION protector_internal.payment_effect(p_kind protector.payment_kind, p_status protector.payment_status,
												   p_amount numeric)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN CASE WHEN p_kind OPERATOR(pg_catalog.=) 'payment' AND p_status OPERATOR(pg_catalog.=) 'succeeded' THEN p_amount
				WHEN p_kind OPERATOR(pg_catalog.=) 'refund'
					 AND p_status OPERATOR(pg_catalog.=) ANY ('{pending,succeeded}'::protector.payment_status[])
				THEN OPERATOR(pg_catalog.-) p_amount
				ELSE 0 END;
END
$$;
COMMENT ON FUNCTION protector_internal.payment_effect(protector.payment_kind, protector.payment_status, numeric) IS
'What a payment row adds to paid less refunded: a succeeded payment its amount, a pending or succeeded refund minus its amount';
REVOKE ALL ON FUNCTION protector_internal.payment_effect(protector.payment_kind, protector.payment_status, numeric) FROM PUBLIC;


-- set_booking_price() also keeps the deposit within a total the update sets
DROP TRIGGER set_booking_price ON protector.bookings;
CREATE TRIGGER set_booking_price BEFORE UPDATE OF service_id, party_size, total_price, currency ON protector.bookings
	FOR EACH ROW WHEN (NEW.service_id IS DISTINCT FROM OLD.service_id OR NEW.party_size IS DISTINCT FROM OLD.party_size
					   OR NEW.total_price IS DISTINCT FROM OLD.total_price OR NEW.currency IS DISTINCT FROM OLD.currency)
	EXECUTE FUNCTION protector_internal.set_booking_price();

CREATE OR REPLACE FUNCTION protector_internal.permit(p_table regclass, p_id uuid, p_action text)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_permit'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.permit(regclass, uuid, text) IS
'For an RPC''s trusted branch: a permit for p_action on the row of p_table for this transaction; 42501 for anyone else';

CREATE OR REPLACE FUNCTION protector_internal.require_permit(p_table regclass, p_id uuid, p_action text)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_require_permit'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.require_permit(regclass, uuid, text) IS
'For SECURITY DEFINER helpers: 42501 unless this transaction authorized p_action on the row of p_table for the requester (authorize_row, permit)';
REVOKE ALL ON FUNCTION protector_internal.permit(regclass, uuid, text), protector_internal.require_permit(regclass, uuid, text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.permit(regclass, uuid, text) TO service_role;

CREATE OR REPLACE FUNCTION protector_internal.local_midnight(p_timezone text, p_day date)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'protector_local_midnight_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.local_midnight(text, date) IS
'The first instant of the local day p_day in zone p_timezone (the earlier one where midnight happens twice)';
REVOKE ALL ON FUNCTION protector_internal.local_midnight(text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.local_midnight(text, date) TO authenticated, service_role;

-- an organization's own changes are logged while restoring too (a
-- data-only restore into a live database changes reports)
DROP TRIGGER zz_report_change_insert ON protector.organizations;
DROP TRIGGER zz_report_change_update ON protector.organizations;
DROP TRIGGER zz_report_change_delete ON protector.organizations;
CREATE TRIGGER zz_report_change_insert AFTER INSERT ON protector.organizations
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.log_report_change();
CREATE TRIGGER zz_report_change_update AFTER UPDATE ON protector.organizations
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.log_report_change();
CREATE TRIGGER zz_report_change_delete AFTER DELETE ON protector.organizations
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.log_report_change();
ALTER TABLE protector.organizations ENABLE ALWAYS TRIGGER zz_report_change_insert;
ALTER TABLE protector.organizations ENABLE ALWAYS TRIGGER zz_report_change_update;
ALTER TABLE protector.organizations ENABLE ALWAYS TRIGGER zz_report_change_delete;

CREATE OR REPLACE FUNCTION protector_internal.request_client_address()
RETURNS inet
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- ("header" or "header:hop", checked when it is set)
	v_setting text := COALESCE(NULLIF(pg_catalog.current_setting('protector.client_address', true), ''), 'x-forwarded-for');
	v_hop integer := COALESCE(NULLIF(pg_catalog.split_part(v_setting, ':', 2), '')::integer, 1);
	v_hops text[];
	v_address inet;
BEGIN
	v_hops := pg_catalog.string_to_array(
		pg_catalog.current_setting('request.headers', true)::json ->> pg_catalog.split_part(v_setting, ':', 1), ',');
	-- (with a port, as some proxies write it: 203.0.113.9:443, [2001:db8::1]:443)
	v_address := pg_catalog.host(pg_catalog.regexp_replace(pg_catalog.regexp_replace(pg_catalog.btrim(
		v_hops[CASE WHEN v_hop OPERATOR(pg_catalog.>) 0 THEN v_hop
					ELSE pg_catalog.cardinality(v_hops) OPERATOR(pg_catalog.+) 1 OPERATOR(pg_catalog.+) v_hop END]),
		'^\[([^]]*)\](:[0-9]{1,5})?$', '\1'), '^([0-9]{1,3}(\.[0-9]{1,3}){3}):[0-9]{1,5}$', '\1')::inet)::inet;
	IF v_address OPERATOR(pg_catalog.<<) '::ffff:0.0.0.0/96'::inet THEN
		RETURN '0.0.0.0'::inet OPERATOR(pg_catalog.+) (v_address OPERATOR(pg_catalog.-) '::ffff:0.0.0.0'::inet);
	END IF;
	IF pg_catalog.family(v_address) OPERATOR(pg_catalog.=) 6
	   AND NOT v_address OPERATOR(pg_catalog.<<) '64:ff9b::/96'::inet THEN
		RETURN pg_catalog.network(pg_catalog.set_masklen(v_address, 64));
	END IF;
	RETURN v_address;
EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.request_client_address() IS
'The widget visitor''s address: the entry of the request header protector.client_address names (default: the first of x-forwarded-for; an IPv6 address as its /64), or NULL';

CREATE OR REPLACE FUNCTION protector_internal.report_entry_current(p_organization_id uuid, p_snapshot pg_snapshot,
													  p_computed_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN p_computed_at OPERATOR(pg_catalog.>=) pg_catalog.date_trunc('day', pg_catalog.now(), 'UTC')
		   AND NOT EXISTS (SELECT FROM protector_internal.report_changes x
						   WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id
							 AND x.xid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin(p_snapshot)
							 AND NOT pg_catalog.pg_visible_in_snapshot(x.xid, p_snapshot));
END
$$;
COMMENT ON FUNCTION protector_internal.report_entry_current(uuid, pg_snapshot, timestamptz) IS
'Whether a cached report computed at p_computed_at under p_snapshot still answers: today''s, and no change it could not see is logged';
REVOKE ALL ON FUNCTION protector_internal.report_entry_current(uuid, pg_snapshot, timestamptz) FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector_internal.check_audit_partitions(p_table regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_parent regclass;
	v_own regclass;
BEGIN
	SELECT i.inhparent::regclass INTO v_parent
	FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
	WHERE i.inhrelid OPERATOR(pg_catalog.=) p_table AND c.relispartition;
	IF v_parent IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s is a partition of %s', p_table, v_parent),
			'A partition is audited through its partitioned table, whose row trigger PostgreSQL gives every partition.',
			pg_catalog.format('Call it for %s; TRUNCATE of this partition alone needs its statement trigger made by hand (docs/audit.md).',
							  v_parent));
	END IF;
	SELECT t.tgrelid::regclass INTO v_own
	FROM pg_catalog.pg_partition_tree(p_table) p
	JOIN pg_catalog.pg_trigger t ON t.tgrelid OPERATOR(pg_catalog.=) p.relid
	WHERE p.relid OPERATOR(pg_catalog.<>) p_table::oid AND t.tgname OPERATOR(pg_catalog.=) 'protector_audit'
	  AND t.tgparentid OPERATOR(pg_catalog.=) 0
	LIMIT 1;
	IF v_own IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('partition %s of %s has an audit trigger of its own', v_own, p_table),
			'It was audited before it was attached; the partitioned table''s trigger would take its place.',
			pg_catalog.format('DROP TRIGGER protector_audit ON %s, then call this again.', v_own));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_audit_partitions(regclass) IS
'Refuses auditing a partition (its partitioned table is audited) and a partitioned table one of whose partitions has its own audit trigger';
REVOKE ALL ON FUNCTION protector_internal.check_audit_partitions(regclass) FROM PUBLIC;

CREATE FUNCTION protector_internal.audit_masks(p_table regclass, p_masked text[])
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.array_agg(DISTINCT m ORDER BY m), '{}')
	FROM pg_catalog.unnest(p_masked OPERATOR(pg_catalog.||)
		CASE WHEN 'email' OPERATOR(pg_catalog.<>) ALL (p_masked) THEN '{}'::text[]
			 WHEN p_table OPERATOR(pg_catalog.=) pg_catalog.to_regclass('protector.customers') THEN '{identity_key}'::text[]
			 WHEN p_table OPERATOR(pg_catalog.=) pg_catalog.to_regclass('protector.staff_invitations') THEN '{email_key}'::text[]
			 ELSE '{}'::text[] END
		-- (and a stored generated column computed from a masked one: a
		-- column upper(secret) logged the secret)
		OPERATOR(pg_catalog.||) ARRAY(
			SELECT a.attname::text
			FROM pg_catalog.pg_attribute a
			-- (its expression, a default of the column, depends on the
			-- columns it reads)
			JOIN pg_catalog.pg_attrdef ad ON ad.adrelid OPERATOR(pg_catalog.=) a.attrelid AND ad.adnum OPERATOR(pg_catalog.=) a.attnum
			JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
										AND d.objid OPERATOR(pg_catalog.=) ad.oid
										AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
										AND d.refobjid OPERATOR(pg_catalog.=) a.attrelid
			JOIN pg_catalog.pg_attribute r ON r.attrelid OPERATOR(pg_catalog.=) a.attrelid
										   AND r.attnum OPERATOR(pg_catalog.=) d.refobjsubid
			WHERE a.attrelid OPERATOR(pg_catalog.=) p_table::pg_catalog.oid AND a.attgenerated OPERATOR(pg_catalog.=) 's'
			  AND NOT a.attisdropped AND r.attname::text OPERATOR(pg_catalog.=) ANY (p_masked))) m
$$;
COMMENT ON FUNCTION protector_internal.audit_masks(regclass, text[]) IS
'A table''s audit masks with the columns derived from masked ones (customers.identity_key, staff_invitations.email_key from email, stored generated columns computed from a masked column)';

CREATE FUNCTION protector_internal.notice_unaudited_inheritors(p_table regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_names text;
BEGIN
	WITH RECURSIVE down(relid) AS (
		SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent OPERATOR(pg_catalog.=) p_table
		UNION
		SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN down d ON i.inhparent OPERATOR(pg_catalog.=) d.relid)
	SELECT pg_catalog.string_agg(d.relid::regclass::text, ', ' ORDER BY d.relid::regclass::text) INTO v_names
	FROM down d JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.relid
	WHERE NOT c.relispartition AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}')
	  AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
					  WHERE t.tgrelid OPERATOR(pg_catalog.=) d.relid AND t.tgname OPERATOR(pg_catalog.=) 'protector_audit');
	IF v_names IS NOT NULL THEN
		RAISE NOTICE 'rows of tables inheriting from % are not audited: %', p_table, v_names
			USING HINT = 'Call enable_audit for each of them too, with the same masked columns: an inheriting table keeps its own triggers and masks.';
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.notice_unaudited_inheritors(regclass) IS
'A notice naming the tables inheriting from p_table (not partitions) that are not audited';

REVOKE ALL ON FUNCTION protector_internal.audit_masks(regclass, text[]),
	protector_internal.notice_unaudited_inheritors(regclass) FROM PUBLIC;

-- (the table enable_audit and disable_audit may take)
CREATE FUNCTION protector_internal.auditable_table(p_table regclass)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_rel record;
BEGIN
	IF p_table IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_table must not be null');
	END IF;
	SELECT c.oid, c.relkind, n.nspname, format('%I.%I', n.nspname, c.relname) AS qualified
	INTO v_rel
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid = p_table;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', format('table with OID %s does not exist', p_table::oid));
	END IF;
	IF v_rel.nspname IN ('pg_catalog', 'information_schema') OR pg_catalog.starts_with(v_rel.nspname, 'pg_toast')
	   OR v_rel.oid < 16384 THEN
		PERFORM protector.raise('invalid_parameter',
			format('%s is a system catalog and cannot be audited', v_rel.qualified));
	END IF;
	IF v_rel.relkind NOT IN ('r', 'p') THEN
		PERFORM protector.raise('invalid_parameter',
			format('%s is not a table', v_rel.qualified),
			format('Its relkind is %L; only ordinary and partitioned tables can be audited.', v_rel.relkind),
			CASE WHEN v_rel.relkind IN ('v', 'm') THEN 'Audit the tables a view reads from.' END);
	END IF;
	RETURN v_rel.qualified;
END
$$;
COMMENT ON FUNCTION protector_internal.auditable_table(regclass) IS
'Internal: the schema-qualified name of a table enable_audit/disable_audit may take, or an error saying why not';

CREATE OR REPLACE FUNCTION protector.enable_audit(p_table regclass, p_masked_columns text[] DEFAULT '{}')
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_rel record;
	v_masked text[];
	v_missing text;
	v_current bytea;
	v_args text;
	v_was record;
BEGIN
	SELECT p_table::oid AS oid, protector_internal.auditable_table(p_table) AS qualified INTO v_rel;
	IF v_rel.oid = 'protector.audit_log'::regclass THEN
		PERFORM protector.raise('invalid_parameter', 'protector.audit_log cannot audit itself');
	END IF;
	-- (the lock its triggers' DDL takes, before their state is read: a
	-- second call at the same moment waits and finds them, where it read
	-- the old state and its CREATE TRIGGER failed bare, "already exists")
	EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', v_rel.qualified);
	PERFORM protector_internal.check_audit_partitions(v_rel.oid);
	IF NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = v_rel.oid AND i.indisprimary) THEN
		PERFORM protector.raise('invalid_parameter',
			format('table %s has no primary key', v_rel.qualified),
			'Every audit row names the changed record by its primary key.',
			format('ALTER TABLE %s ADD PRIMARY KEY (...), then enable the audit.', v_rel.qualified));
	END IF;
	IF p_masked_columns IS NULL OR array_position(p_masked_columns, NULL) IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_masked_columns must be an array of column names without nulls');
	END IF;
	v_masked := protector_internal.audit_masks(v_rel.oid, p_masked_columns);
	SELECT string_agg(format('%I', m), ', ') INTO v_missing
	FROM unnest(v_masked) m
	WHERE NOT EXISTS (SELECT FROM pg_attribute a
					  WHERE a.attrelid = v_rel.oid AND a.attname = m AND a.attnum > 0 AND NOT a.attisdropped);
	IF v_missing IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter',
			format('table %s has no column %s to mask', v_rel.qualified, v_missing));
	END IF;

	-- (one of protector's own tables: what its row said, which a restore
	-- may have left other than its triggers, counts as what changes)
	SELECT s.audited, s.masked INTO v_was FROM protector_internal.audit_settings s WHERE s.table_name = v_rel.oid;
	PERFORM protector_internal.remember_audit(v_rel.oid, true, v_masked);
	-- already audited with these masks: nothing to do (the trigger's
	-- arguments as stored, each name in the database's encoding and ended
	-- by a zero byte: encode(.., 'escape') wrote other bytes than a name's).
	-- Only protector's own triggers, enabled, as created below, count: one
	-- disabled, or enabled for replicas only, or a trigger of the user's
	-- under that name, answered "already audited" and audited nothing.
	-- (tgtype: FOR EACH ROW AFTER INSERT OR DELETE OR UPDATE is 1 + 4 + 8 +
	-- 16; AFTER TRUNCATE FOR EACH STATEMENT is 32.)
	SELECT t.tgargs INTO v_current FROM pg_trigger t
	WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit'
	  AND t.tgfoid = 'protector.audit_trigger()'::regprocedure AND t.tgenabled = 'O' AND t.tgtype = 29
	  AND t.tgqual IS NULL AND t.tgattr = ''::int2vector;
	IF FOUND
	   AND EXISTS (SELECT FROM pg_trigger t
				   WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit_truncate'
					 AND t.tgfoid = 'protector.audit_trigger()'::regprocedure AND t.tgenabled = 'O' AND t.tgtype = 32)
	   AND v_current = (SELECT COALESCE(string_agg(convert_to(m, getdatabaseencoding()) || pg_catalog.decode('00', 'hex'), ''::bytea ORDER BY o), ''::bytea)
						FROM unnest(v_masked) WITH ORDINALITY x(m, o))
	   AND (v_was IS NULL OR (v_was.audited AND v_was.masked = v_masked)) THEN
		PERFORM protector_internal.notice_unaudited_inheritors(v_rel.oid);
		RETURN false;
	END IF;

	SELECT COALESCE(string_agg(quote_literal(m), ', '), '') INTO v_args FROM unnest(v_masked) m;
	IF EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit') THEN
		EXECUTE format('DROP TRIGGER protector_audit ON %s', v_rel.qualified);
	END IF;
	IF EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit_truncate') THEN
		EXECUTE format('DROP TRIGGER protector_audit_truncate ON %s', v_rel.qualified);
	END IF;
	EXECUTE format('CREATE TRIGGER protector_audit AFTER INSERT OR UPDATE OR DELETE ON %s'
				   ' FOR EACH ROW EXECUTE FUNCTION protector.audit_trigger(%s)', v_rel.qualified, v_args);
	EXECUTE format('CREATE TRIGGER protector_audit_truncate AFTER TRUNCATE ON %s'
				   ' FOR EACH STATEMENT EXECUTE FUNCTION protector.audit_trigger()', v_rel.qualified);
	PERFORM protector_internal.notice_unaudited_inheritors(v_rel.oid);
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector.enable_audit(regclass, text[]) IS
'Audits every change of a table into protector.audit_log, masking the named columns; true if it changed anything';

CREATE OR REPLACE FUNCTION protector.disable_audit(p_table regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_qualified text := protector_internal.auditable_table(p_table);
BEGIN
	-- (as enable_audit: a second call at the same moment waits for the
	-- first, where its DROP TRIGGER failed bare, "does not exist")
	EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', v_qualified);
	PERFORM protector_internal.check_audit_partitions(p_table);
	PERFORM protector_internal.remember_audit(p_table, false, '{}');
	IF NOT EXISTS (SELECT FROM pg_trigger t
				   WHERE t.tgrelid = p_table AND t.tgname IN ('protector_audit', 'protector_audit_truncate')) THEN
		RAISE NOTICE 'table % is not audited; nothing to do', v_qualified;
		RETURN false;
	END IF;
	IF EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = p_table AND t.tgname = 'protector_audit') THEN
		EXECUTE format('DROP TRIGGER protector_audit ON %s', v_qualified);
	END IF;
	IF EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = p_table AND t.tgname = 'protector_audit_truncate') THEN
		EXECUTE format('DROP TRIGGER protector_audit_truncate ON %s', v_qualified);
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector.disable_audit(regclass) IS
'Stops auditing a table (its history stays); false with a notice if it was not audited';

CREATE OR REPLACE FUNCTION protector_internal.remember_audit(p_table regclass, p_audited boolean, p_masked text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a restored row of a backup made before identity_key was derived)
	p_masked := protector_internal.audit_masks(p_table, p_masked);
	IF EXISTS (SELECT FROM pg_catalog.pg_depend d
			   WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
				 AND d.objid OPERATOR(pg_catalog.=) p_table::pg_catalog.oid
				 AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
				 AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e
														WHERE e.extname OPERATOR(pg_catalog.=) 'protector')
				 AND d.deptype OPERATOR(pg_catalog.=) 'e') THEN
		-- (restore_audit_setting lets this row through as it is)
		PERFORM pg_catalog.set_config('protector_internal.remembering_audit', 'on', true);
		INSERT INTO protector_internal.audit_settings (table_name, audited, masked)
		VALUES (p_table, p_audited, p_masked)
		ON CONFLICT (table_name) DO UPDATE SET audited = EXCLUDED.audited, masked = EXCLUDED.masked;
		PERFORM pg_catalog.set_config('protector_internal.remembering_audit', '', true);
		PERFORM protector_internal.audit_settings_changed(p_table);
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.remember_audit(regclass, boolean, text[]) IS
'Records whether one of protector''s own tables is audited, and its masks, for a restore to re-apply';

CREATE OR REPLACE FUNCTION protector_internal.restore_audit_setting()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT protector_internal.restoring()
	   OR pg_catalog.current_setting('protector_internal.remembering_audit', true) OPERATOR(pg_catalog.=) 'on' THEN
		RETURN NEW;
	END IF;
	PERFORM protector_internal.remember_audit(NEW.table_name, NEW.audited, NEW.masked);
	IF NEW.audited AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
								   WHERE t.tgrelid OPERATOR(pg_catalog.=) NEW.table_name::pg_catalog.oid
									 AND t.tgname OPERATOR(pg_catalog.=) 'protector_audit') THEN
		IF protector_internal.lock_for_restore(ARRAY[NEW.table_name], 'SHARE ROW EXCLUSIVE') THEN
			PERFORM protector.enable_audit(NEW.table_name, NEW.masked);
		ELSE
			INSERT INTO protector_internal.restore_pending (relid, row_data)
			VALUES (TG_RELID, pg_catalog.to_jsonb(NEW));
		END IF;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.restore_audit_setting() IS
'Trigger: a restored audit_settings row replaces the default one (the audit trigger reads it); a table it audits gets its trigger';

CREATE OR REPLACE FUNCTION protector_internal.audit_settings_changed(p_table regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_audit_settings_changed'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.audit_settings_changed(regclass) IS
'Makes every session''s audit trigger read the table''s audit_settings row again (a relcache invalidation)';

-- Protector's own tables' audit as data, so that a restore brings it back
-- (sql/80_audit.sql): the table, its restore trigger, and the state the
-- triggers have now (tables the extension audits by default that this
-- database no longer audits recorded as such).
CREATE TABLE protector_internal.audit_settings (
	table_name	regclass PRIMARY KEY,
	audited		boolean NOT NULL,
	masked		text[] NOT NULL DEFAULT '{}'
);
ALTER TABLE protector_internal.audit_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.audit_settings FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.audit_settings IS
'Per table of the extension: audited or not, and its masked columns (enable_audit, disable_audit); a restore re-applies them';
SELECT pg_catalog.pg_extension_config_dump('protector_internal.audit_settings', '');
CREATE TRIGGER restore_audit_setting BEFORE INSERT ON protector_internal.audit_settings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.restore_audit_setting();
ALTER TABLE protector_internal.audit_settings ENABLE ALWAYS TRIGGER restore_audit_setting;
CREATE TRIGGER z_insert_restored_pending AFTER INSERT ON protector_internal.audit_settings FOR EACH STATEMENT
	WHEN (protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.insert_restored_pending();
INSERT INTO protector_internal.audit_settings (table_name, audited, masked)
SELECT c.oid::regclass, true,
	   -- (the trigger's arguments as stored: each name in the database's
	   -- encoding, ended by a zero byte; encode(.., 'escape') wrote a name
	   -- beyond ASCII as octal escapes)
	   COALESCE((SELECT array_agg(x.a ORDER BY x.a)
				 FROM (SELECT convert_from(substring(t.tgargs FROM q.s + 1 FOR q.z - q.s), getdatabaseencoding()) AS a
					   FROM (SELECT z, COALESCE(lag(z) OVER (ORDER BY z) + 1, 0) AS s
							 FROM generate_series(0, length(t.tgargs) - 1) z
							 WHERE get_byte(t.tgargs, z) = 0) q) x), '{}')
FROM pg_depend d
JOIN pg_class c ON c.oid = d.objid
JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgname = 'protector_audit'
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT e.oid FROM pg_extension e WHERE e.extname = 'protector');
INSERT INTO protector_internal.audit_settings (table_name, audited)
SELECT t, false
FROM unnest('{protector.organizations, protector.venues, protector.services, protector.members, protector.customers,
			  protector.bookings, protector.payments, protector.vouchers, protector.promo_codes, protector.staff_invitations,
			  protector.staff_venues, protector.staff_shifts, protector.waivers, protector.waiver_versions,
			  protector.waiver_submissions, protector.booking_messages, protector.booking_reminders,
			  protector.audit_purges, protector.customer_erasures}'::regclass[]) t
ON CONFLICT (table_name) DO NOTHING;
REVOKE ALL ON FUNCTION protector_internal.audit_settings_changed(regclass), protector_internal.remember_audit(regclass, boolean, text[]),
	protector_internal.restore_audit_setting() FROM PUBLIC;

-- The update triggers of the live announcements see the old rows too: a
-- row moved to another organization is a DELETE on the old one's channel
-- (sql/85_realtime.sql).
DO $notify_moves$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['bookings', 'tasks', 'notifications', 'booking_messages'] LOOP
		EXECUTE format('DROP TRIGGER notify_update ON protector.%I', t);
		EXECUTE format('CREATE TRIGGER notify_update AFTER UPDATE ON protector.%I'
					   ' REFERENCING OLD TABLE AS before NEW TABLE AS changed FOR EACH STATEMENT'
					   ' EXECUTE FUNCTION protector.notify_trigger()', t);
	END LOOP;
END
$notify_moves$;

-- Money columns refuse NaN, which numeric's ordering puts above every
-- number: a NaN payment made amount_paid NaN and let any refund through, a
-- NaN voucher paid every booking in full (sql/30_tables.sql, 78_vouchers.sql).
ALTER TABLE protector.services
	DROP CONSTRAINT services_price_check,
	ADD CONSTRAINT services_price_check CHECK (price >= 0 AND price <> 'NaN'),
	DROP CONSTRAINT services_price_per_person_check,
	ADD CONSTRAINT services_price_per_person_check CHECK (price_per_person >= 0 AND price_per_person <> 'NaN');
ALTER TABLE protector.payments
	DROP CONSTRAINT payments_amount_check,
	ADD CONSTRAINT payments_amount_check CHECK (amount >= 0 AND amount <> 'NaN');
ALTER TABLE protector.vouchers
	DROP CONSTRAINT vouchers_amount_check,
	ADD CONSTRAINT vouchers_amount_check CHECK (amount > 0 AND amount <> 'NaN'),
	DROP CONSTRAINT vouchers_check,
	ADD CONSTRAINT vouchers_check CHECK (balance >= 0 AND balance <= amount AND balance <> 'NaN');
ALTER TABLE protector.promo_codes
	DROP CONSTRAINT promo_codes_check,
	ADD CONSTRAINT promo_codes_check
		CHECK (discount_value > 0 AND discount_value <> 'NaN' AND (discount_kind = 'fixed' OR discount_value <= 100));

CREATE OR REPLACE FUNCTION protector_internal.scrub_customer_rows(p_organization_id uuid, p_customer_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
	v_identity text;
	v_down uuid[];				-- the record and those merged into it
	v_group uuid[];				-- the person's records: with the one it was merged into
	v_users uuid[];				-- their accounts, which stamps name them by
	v_history bigint[];			-- the audit rows of the person's rows
	v_users_wide uuid[];		-- the accounts linked now, no member's: theirs wherever they acted
	v_staff uuid[];				-- of v_users, those that are or were members: their acts stay theirs
	v_bookings text[];			-- their bookings' ids, as the audit log keeps them
	v_once uuid[];				-- bookings once theirs, another customer's since
	v_split uuid[];				-- bookings theirs now, another customer's before
	v_periods jsonb;			-- ... and when each of both was theirs (id: periods)
	v_old_tasks text[];			-- the tasks of those made then
	v_old_notes text[];			-- ... and their notifications
	v_old_payments text[];		-- ... and their payments
	v_widget_keys text[];		-- ... and their widget request keys (a hash of an address)
	v_merged_into uuid;
	v_top uuid;					-- the record at the top of its merges
	v_personal CONSTANT text[] := '{full_name,email,phone,country,tags,notes,identity_key,user_id}';
	v_booking_text CONSTANT text[] := '{details,cancellation_reason,idempotency_key}';
BEGIN
	-- locked as a merge locks it: a booking for the customer being made
	-- now is waited for (and then scrubbed), one made after waits for this
	-- erasure and is refused (booking_customer.c), also when the erasure
	-- is a direct insert into customer_erasures
	SELECT c.identity_key, c.merged_into INTO v_identity, v_merged_into FROM protector.customers c
	WHERE c.id OPERATOR(pg_catalog.=) p_customer_id
	FOR UPDATE;
	-- (the organization's audit purge waits for this, or this for it:
	-- purge_audit_rows; they deadlocked, each locking history rows in its
	-- own order)
	PERFORM pg_catalog.pg_advisory_xact_lock_shared(protector_internal.lock_key(1886547724, p_organization_id));
	-- A merged record alone: its person's bookings, payments, messages and
	-- details are the record's at the top of its merges now, which an
	-- erasure of this one never reached (it answered as erased).  Erased
	-- with that record (whose erasure erases every record merged into it),
	-- or after it.  (A chain 0.1.0 let merges make is walked to its top; a
	-- cycle it let them make has none, and any record of it is erased.)
	IF v_merged_into IS NOT NULL THEN
		WITH RECURSIVE up(id, parent, path) AS (
			SELECT c.id, c.merged_into, ARRAY[c.id] FROM protector.customers c WHERE c.id OPERATOR(pg_catalog.=) v_merged_into
			UNION ALL
			SELECT c.id, c.merged_into, up.path OPERATOR(pg_catalog.||) c.id
			FROM protector.customers c JOIN up ON c.id OPERATOR(pg_catalog.=) up.parent
			WHERE NOT c.id OPERATOR(pg_catalog.=) ANY (up.path))
		SELECT COALESCE((SELECT up.id FROM up WHERE up.parent IS NULL),
						-- (no top: a cycle; one merged into it is erased with
						-- it, and the hint names a record of the cycle: the
						-- one the walk came back to)
						CASE WHEN NOT EXISTS (SELECT FROM up WHERE up.id OPERATOR(pg_catalog.=) p_customer_id)
							 THEN (SELECT up.parent FROM up WHERE up.parent OPERATOR(pg_catalog.=) ANY (up.path) LIMIT 1) END)
		INTO v_top;
		IF v_top IS NOT NULL
		   AND NOT EXISTS (SELECT FROM protector.customer_erasures e
						   WHERE e.organization_id OPERATOR(pg_catalog.=) p_organization_id
							 AND e.customer_id OPERATOR(pg_catalog.=) v_top) THEN
			PERFORM protector.raise('invalid_parameter',
				pg_catalog.format('customer %s was merged into customer %s', p_customer_id, v_top),
				'The merge moved its bookings, payments, messages and details to that record.',
				pg_catalog.format('Erase customer %s: that erases the records merged into it too.', v_top));
		END IF;
	END IF;
	-- Rows a restore set aside (sql/98_restore.sql) are out of this
	-- erasure's reach, and finish_restore() puts them back as they were (a
	-- set-aside booking came back, with its details, as a live booking of
	-- the tombstone): the organization's restore is finished first.
	PERFORM protector_internal.refuse_unfinished_restore(p_organization_id,
		'Rows it set aside (protector_internal.restore_pending) may be this customer''s, and would come back unerased.');
	-- (the erasure's own changes of bookings once theirs, now another
	-- customer's, are broadcast without their old rows: broadcast_booking_change)
	PERFORM pg_catalog.set_config('protector_internal.erasing', 'on', true);
	-- The records whose accounts go: this one and those merged into it.
	-- Their rows may lie with the record this one was merged into (a merge
	-- moves bookings, payments and messages to it): the person's records are
	-- all of that group.
	v_down := p_customer_id OPERATOR(pg_catalog.||) protector_internal.merged_into_it(p_organization_id, p_customer_id);
	v_group := ARRAY(
		WITH RECURSIVE up(id, parent) AS (
			SELECT c.id, c.merged_into FROM protector.customers c WHERE c.id OPERATOR(pg_catalog.=) p_customer_id
			UNION
			SELECT c.id, c.merged_into FROM protector.customers c JOIN up ON c.id OPERATOR(pg_catalog.=) up.parent),
		d(id) AS (
			SELECT up.id FROM up WHERE up.parent IS NULL
			UNION
			SELECT c.id FROM protector.customers c JOIN d ON c.merged_into OPERATOR(pg_catalog.=) d.id
			WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id)
		SELECT d.id FROM d);
	-- Their accounts: the ones linked now, and those a merge or an
	-- unlinking took off, as the records' history says (read before it is
	-- scrubbed below; a purged or unaudited history says nothing), unless
	-- such an account is or was one of the organization's members or is
	-- linked now to another of its customers: a link made by mistake and
	-- undone does not make that person's actions this customer's.
	v_users := ARRAY(
		SELECT DISTINCT s.u FROM (
			SELECT c.user_id AS u FROM protector.customers c WHERE c.id OPERATOR(pg_catalog.=) ANY (v_down)
			UNION ALL
			SELECT h.u FROM (
				SELECT (x.r OPERATOR(pg_catalog.->>) 'user_id')::uuid AS u
				FROM protector.audit_log l, LATERAL (VALUES (l.old_row), (l.new_row)) x(r)
				WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.customers'
				  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
				  AND l.record_id OPERATOR(pg_catalog.=) ANY (v_down::text[])
				  AND (x.r OPERATOR(pg_catalog.->>) 'user_id') OPERATOR(pg_catalog.~) '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$') h
			WHERE NOT protector_internal.staff_account(p_organization_id, h.u)
			  AND NOT EXISTS (SELECT FROM protector.customers c
							  WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id AND c.user_id OPERATOR(pg_catalog.=) h.u
								AND c.id OPERATOR(pg_catalog.<>) ALL (v_down))) s
		WHERE s.u IS NOT NULL);
	-- (an account linked to the record now, and no member's now or
	-- before, is the customer's alone: its stamps and acts go from the
	-- whole history, as they always did; the others' only from the
	-- person's rows)
	v_staff := ARRAY(SELECT u FROM pg_catalog.unnest(v_users) u WHERE protector_internal.staff_account(p_organization_id, u));
	v_users_wide := ARRAY(SELECT c.user_id FROM protector.customers c
						  WHERE c.id OPERATOR(pg_catalog.=) ANY (v_down) AND c.user_id IS NOT NULL
							AND c.user_id OPERATOR(pg_catalog.<>) ALL (v_staff));
	-- (under REPEATABLE READ the snapshot misses a booking it waited for)
	IF protector_internal.customer_references_unseen(p_customer_id) THEN
		PERFORM protector.raise('retry', 'the customer was referred to concurrently',
			pg_catalog.format('Customer %s got a booking, voucher, message or signature while the erasure waited for it.', p_customer_id),
			'Retry the transaction: it will then erase that too.');
	END IF;
	-- (under the customer's lock no booking becomes or stops being theirs)
	v_bookings := ARRAY(SELECT b.id::text FROM protector.bookings b
						WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
						  AND b.customer_id OPERATOR(pg_catalog.=) p_customer_id);
	-- (handed to another customer, or moved by a merge into another
	-- record: their tasks and reminders still quote this person)
	-- (what staff wrote before one had it, or after one left them, is
	-- another customer's: only the tasks made while it was theirs are
	-- scrubbed; the periods from the history of its customer_id, each from
	-- the change that made it theirs, or from the first the history
	-- holds, to the one that took it away; one that named them on a
	-- booking of no customer, a walk-in named later, from the change that
	-- took its last customer off, or its beginning: what was written of
	-- the walk-in was written of them)
	-- (and one theirs now that was another customer's before, or theirs,
	-- another's and theirs again: what was written while it was the
	-- other's stays; one theirs from its beginning as far as the history
	-- tells, a walk-in named included, is theirs whole)
	SELECT COALESCE(pg_catalog.jsonb_object_agg(e.id, e.periods), '{}') INTO v_periods
	FROM (SELECT c.id, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
				CASE WHEN c.kind OPERATOR(pg_catalog.=) 'became' THEN c.since
					 WHEN c.before OPERATOR(pg_catalog.=) 'became' THEN c.before_since END,
				CASE WHEN c.kind OPERATOR(pg_catalog.=) 'left' THEN c.at END,
				CASE WHEN c.kind OPERATOR(pg_catalog.=) 'became' THEN c.since_seq
					 WHEN c.before OPERATOR(pg_catalog.=) 'became' THEN c.before_since_seq END,
				CASE WHEN c.kind OPERATOR(pg_catalog.=) 'left' THEN c.seq END)) AS periods
		  FROM (SELECT h.id, h.kind, h.at, h.since, h.seq, h.since_seq,
					   pg_catalog.lag(h.kind) OVER w AS before, pg_catalog.lag(h.since) OVER w AS before_since,
					   pg_catalog.lag(h.since_seq) OVER w AS before_since_seq,
					   pg_catalog.lead(h.kind) OVER w AS after,
					   pg_catalog.bool_or(h.from_other) OVER (PARTITION BY h.id) AS from_other
				FROM (SELECT l.record_id AS id, l.id AS seq, l.occurred_at AS at,
							 CASE WHEN l.new_row OPERATOR(pg_catalog.->>) 'customer_id' OPERATOR(pg_catalog.=) p_customer_id::text
								  THEN 'became' ELSE 'left' END AS kind,
							 -- (a walk-in named: theirs since the booking last had
							 -- another customer, else from its beginning)
							 CASE WHEN l.old_row IS NOT NULL AND l.old_row OPERATOR(pg_catalog.->>) 'customer_id' IS NULL
								  THEN w.occurred_at ELSE l.occurred_at END AS since,
							 CASE WHEN l.old_row IS NOT NULL AND l.old_row OPERATOR(pg_catalog.->>) 'customer_id' IS NULL
								  THEN w.id ELSE l.id END AS since_seq,
							 -- (made theirs from another person's, or from a
							 -- walk-in that had been another's: a record merged
							 -- into theirs is the same person)
							 l.new_row OPERATOR(pg_catalog.->>) 'customer_id' OPERATOR(pg_catalog.=) p_customer_id::text
							 AND ((l.old_row OPERATOR(pg_catalog.->>) 'customer_id') OPERATOR(pg_catalog.<>) ALL (v_group::text[])
								  OR w.id IS NOT NULL) AS from_other
					  FROM protector.audit_log l
					  LEFT JOIN LATERAL (
						  SELECT e.id, e.occurred_at FROM protector.audit_log e
						  WHERE e.table_name OPERATOR(pg_catalog.=) 'protector.bookings' AND e.record_id OPERATOR(pg_catalog.=) l.record_id
							AND e.organization_id OPERATOR(pg_catalog.=) p_organization_id AND e.id OPERATOR(pg_catalog.<) l.id
							AND e.old_row OPERATOR(pg_catalog.->>) 'customer_id' IS NOT NULL
							AND e.new_row OPERATOR(pg_catalog.->>) 'customer_id' IS NULL
						  ORDER BY e.id DESC LIMIT 1) w ON l.old_row OPERATOR(pg_catalog.->>) 'customer_id' IS NULL
					  WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.bookings'
						AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
						-- (a row logged while the bookings' ids were masked names none)
						AND l.record_id OPERATOR(pg_catalog.<>) '[masked]'
						AND p_customer_id::text OPERATOR(pg_catalog.=) ANY (ARRAY[l.old_row OPERATOR(pg_catalog.->>) 'customer_id',
																			   l.new_row OPERATOR(pg_catalog.->>) 'customer_id'])
						-- (the changes that made it theirs or took it away)
						AND COALESCE(l.old_row OPERATOR(pg_catalog.->>) 'customer_id' OPERATOR(pg_catalog.=) p_customer_id::text, false)
							OPERATOR(pg_catalog.<>)
							COALESCE(l.new_row OPERATOR(pg_catalog.->>) 'customer_id' OPERATOR(pg_catalog.=) p_customer_id::text, false)) h
				WINDOW w AS (PARTITION BY h.id ORDER BY h.seq)) c
		  WHERE c.kind OPERATOR(pg_catalog.=) 'left' OR c.after IS NULL
		  GROUP BY c.id
		  -- (once theirs: it left them; or another's before)
		  HAVING pg_catalog.bool_or(c.kind OPERATOR(pg_catalog.=) 'left' OR c.from_other)) e;
	v_once := ARRAY(SELECT k::uuid FROM pg_catalog.jsonb_object_keys(v_periods) k
					WHERE k OPERATOR(pg_catalog.<>) ALL (v_bookings));
	v_split := ARRAY(SELECT k::uuid FROM pg_catalog.jsonb_object_keys(v_periods) k
					 WHERE k OPERATOR(pg_catalog.=) ANY (v_bookings));
	-- (a widget booking once theirs was made for an address, theirs or one
	-- before them: the key, a hash of it, goes, the safe side, as a voucher
	-- note once theirs does)
	v_widget_keys := ARRAY(SELECT b.idempotency_key FROM protector.bookings b
						   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.id OPERATOR(pg_catalog.=) ANY (v_once)
							 AND pg_catalog.starts_with(b.idempotency_key, 'widget/'));
	UPDATE protector.customers c
	SET full_name = 'erased', email = NULL, phone = NULL, country = NULL, tags = '{}', notes = NULL, user_id = NULL
	WHERE c.id OPERATOR(pg_catalog.=) p_customer_id;
	-- (a payment of a booking once theirs, made while the booking was
	-- theirs, is theirs in all its history, as a task is; one made before
	-- or after is another customer's)
	v_old_payments := protector_internal.rows_while_theirs(p_organization_id, 'protector.payments', '{details}',
																  v_once, v_split, v_periods);
	-- The bookings written below are locked first, in one pass in id order:
	-- theirs, and those once theirs that are written (of those payments,
	-- made by their accounts, with their widget key) and of the records
	-- merged with theirs that their accounts stamped.  A payment's writers
	-- lock its booking before its payments, a change of a booking's
	-- customer the booking before its reminders, and a batch its bookings
	-- in id order; the other orders deadlocked with them (each UPDATE
	-- locking its rows in its own order, with a batch).  (erase_customer
	-- locked the customer's own bookings before, in id order: a batch over
	-- one of those and a booking once theirs of a lower id can still
	-- deadlock with it, 40P01, which a retry answers.)
	PERFORM FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND (b.customer_id OPERATOR(pg_catalog.=) p_customer_id
		   OR ((b.customer_id OPERATOR(pg_catalog.=) ANY (v_group) OR b.id OPERATOR(pg_catalog.=) ANY (v_once))
			   AND (b.created_by OPERATOR(pg_catalog.=) ANY (v_users)
					OR protector_internal.key_of_accounts(b.idempotency_key, v_users)))
		   OR (b.id OPERATOR(pg_catalog.=) ANY (v_once)
			   AND (b.idempotency_key OPERATOR(pg_catalog.=) ANY (v_widget_keys)
					OR b.id OPERATOR(pg_catalog.=) ANY (SELECT p.booking_id FROM protector.payments p
														WHERE p.id::text OPERATOR(pg_catalog.=) ANY (v_old_payments)))))
	ORDER BY b.id
	FOR NO KEY UPDATE;
	-- (the accounts' stamps go below, from every row of the person's)
	UPDATE protector.bookings b SET details = protector_internal.erased_booking_details(b.details), cancellation_reason = NULL,
		idempotency_key = CASE WHEN pg_catalog.starts_with(b.idempotency_key, 'widget/')
								 OR pg_catalog.starts_with(b.idempotency_key, 'customer/')
							   THEN NULL ELSE b.idempotency_key END
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND b.customer_id OPERATOR(pg_catalog.=) p_customer_id;
	-- the history: every audit row of the customer and of their bookings
	-- (those just written included) keeps who changed what when, not the
	-- data; the organization's only (ids may be chosen: one another
	-- tenant's customer had, deleted since, erased that customer's history)
	UPDATE protector.audit_log l
	SET old_row = l.old_row OPERATOR(pg_catalog.-) v_personal,
		new_row = l.new_row OPERATOR(pg_catalog.-) v_personal
	WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.customers'
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND l.record_id OPERATOR(pg_catalog.=) p_customer_id::text;
	UPDATE protector.audit_log l
	SET old_row = CASE WHEN l.old_row OPERATOR(pg_catalog.?) 'details'
			THEN l.old_row OPERATOR(pg_catalog.-) v_booking_text OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('details',
				protector_internal.erased_booking_details(l.old_row OPERATOR(pg_catalog.->) 'details'))
			ELSE l.old_row OPERATOR(pg_catalog.-) v_booking_text END,
		new_row = CASE WHEN l.new_row OPERATOR(pg_catalog.?) 'details'
			THEN l.new_row OPERATOR(pg_catalog.-) v_booking_text OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('details',
				protector_internal.erased_booking_details(l.new_row OPERATOR(pg_catalog.->) 'details'))
			ELSE l.new_row OPERATOR(pg_catalog.-) v_booking_text END
	WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.bookings'
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND (l.old_row OPERATOR(pg_catalog.->>) 'customer_id' OPERATOR(pg_catalog.=) p_customer_id::text
		   OR l.new_row OPERATOR(pg_catalog.->>) 'customer_id' OPERATOR(pg_catalog.=) p_customer_id::text
		   -- (rows of before the booking was theirs: a walk-in named later)
		   OR l.record_id OPERATOR(pg_catalog.=) ANY (v_bookings));
	-- (also those of an address the record had before: the record's id)
	DELETE FROM protector_internal.widget_requests w
	WHERE w.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND (w.identity_key OPERATOR(pg_catalog.=) v_identity OR w.customer_id OPERATOR(pg_catalog.=) p_customer_id);
	-- the free text written about them elsewhere: their vouchers' notes,
	-- their payments' details beyond protector's own ledger keys, the
	-- descriptions of their bookings' tasks, and titles: a review task's
	-- written again as protector writes it, any other '[erased]'; in the
	-- history too
	-- (also of vouchers once theirs, given to another customer or to
	-- anyone since: the note written for them stayed with the code; a note
	-- written after is erased too, the safe side)
	UPDATE protector.vouchers v SET note = NULL
	WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id AND v.note IS NOT NULL
	  AND (v.customer_id OPERATOR(pg_catalog.=) p_customer_id
		   OR v.id::text OPERATOR(pg_catalog.=) ANY (ARRAY(
				SELECT l.record_id FROM protector.audit_log l
				WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.vouchers'
				  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
				  AND p_customer_id::text OPERATOR(pg_catalog.=) ANY (ARRAY[l.old_row OPERATOR(pg_catalog.->>) 'customer_id',
																		  l.new_row OPERATOR(pg_catalog.->>) 'customer_id']))));
	UPDATE protector.audit_log l
	SET old_row = l.old_row OPERATOR(pg_catalog.-) 'note'::text, new_row = l.new_row OPERATOR(pg_catalog.-) 'note'::text
	WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.vouchers'
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND (p_customer_id::text OPERATOR(pg_catalog.=) ANY (ARRAY[l.old_row OPERATOR(pg_catalog.->>) 'customer_id',
															  l.new_row OPERATOR(pg_catalog.->>) 'customer_id'])
		   OR l.record_id OPERATOR(pg_catalog.=) ANY
			  (SELECT v.id::text FROM protector.vouchers v
			   WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id AND v.customer_id OPERATOR(pg_catalog.=) p_customer_id));
	UPDATE protector.payments p SET details = protector_internal.erased_payment_details(p.details)
	FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND ((b.customer_id OPERATOR(pg_catalog.=) p_customer_id AND b.id OPERATOR(pg_catalog.<>) ALL (v_split))
		   OR p.id::text OPERATOR(pg_catalog.=) ANY (v_old_payments))
	  AND p.organization_id OPERATOR(pg_catalog.=) b.organization_id AND p.booking_id OPERATOR(pg_catalog.=) b.id
	  AND p.details OPERATOR(pg_catalog.<>) protector_internal.erased_payment_details(p.details);
	UPDATE protector.audit_log l
	SET old_row = CASE WHEN l.old_row OPERATOR(pg_catalog.?) 'details'
			THEN l.old_row OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('details',
				protector_internal.erased_payment_details(l.old_row OPERATOR(pg_catalog.->) 'details'))
			ELSE l.old_row END,
		new_row = CASE WHEN l.new_row OPERATOR(pg_catalog.?) 'details'
			THEN l.new_row OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('details',
				protector_internal.erased_payment_details(l.new_row OPERATOR(pg_catalog.->) 'details'))
			ELSE l.new_row END
	WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.payments'
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND ((COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id' OPERATOR(pg_catalog.=) ANY (v_bookings)
			AND COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id' OPERATOR(pg_catalog.<>) ALL (v_split::text[]))
		   OR l.record_id OPERATOR(pg_catalog.=) ANY (v_old_payments));
	-- (a task of a booking once theirs, made while the booking was theirs,
	-- is theirs in all its history; one made before or after is another
	-- customer's)
	v_old_tasks := protector_internal.rows_while_theirs(p_organization_id, 'protector.tasks', '{title,description}',
																  v_once, v_split, v_periods);
	UPDATE protector.tasks t
	SET description = NULL, title = x.title
	FROM (SELECT t2.id,
				 CASE WHEN t2.kind OPERATOR(pg_catalog.=) 'booking_review'
					  THEN pg_catalog.format('Review booking: %s, %s (%s)', pg_catalog.btrim(s.name),
							pg_catalog.to_char(protector_internal.local_time(v.timezone, pg_catalog.lower(b.during)), 'YYYY-MM-DD HH24:MI'),
							v.timezone)
					  ELSE '[erased]' END AS title
		  FROM protector.bookings b
		  JOIN protector.services s ON s.id OPERATOR(pg_catalog.=) b.service_id
		  JOIN protector.venues v ON v.id OPERATOR(pg_catalog.=) s.venue_id
		  JOIN protector.tasks t2 ON t2.organization_id OPERATOR(pg_catalog.=) b.organization_id
								 AND t2.booking_id OPERATOR(pg_catalog.=) b.id
		  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
			AND ((b.customer_id OPERATOR(pg_catalog.=) p_customer_id AND b.id OPERATOR(pg_catalog.<>) ALL (v_split))
				 OR t2.id OPERATOR(pg_catalog.=) ANY (v_old_tasks::uuid[]))) x
	WHERE t.id OPERATOR(pg_catalog.=) x.id
	  AND (t.description IS NOT NULL OR t.title IS DISTINCT FROM x.title);
	UPDATE protector.audit_log l
	SET old_row = l.old_row OPERATOR(pg_catalog.-) '{title,description}'::text[],
		new_row = l.new_row OPERATOR(pg_catalog.-) '{title,description}'::text[]
	WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.tasks'
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND ((COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id' OPERATOR(pg_catalog.=) ANY (v_bookings)
			AND COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id' OPERATOR(pg_catalog.<>) ALL (v_split::text[]))
		   OR l.record_id OPERATOR(pg_catalog.=) ANY (v_old_tasks));
	-- the desk's notifications of their bookings (of a booking once theirs,
	-- those made while it was theirs): what staff or an application wrote
	-- into them goes, protector's own keep what staff see on the booking;
	-- in the history too
	v_old_notes := protector_internal.rows_while_theirs(p_organization_id, 'protector.notifications', '{payload}',
																  v_once, v_split, v_periods);
	UPDATE protector.notifications n
	SET payload = protector_internal.erased_notification_payload(p_organization_id, n.kind, n.payload)
	WHERE n.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND ((n.booking_id::text OPERATOR(pg_catalog.=) ANY (v_bookings) AND n.booking_id OPERATOR(pg_catalog.<>) ALL (v_split))
		   OR n.id::text OPERATOR(pg_catalog.=) ANY (v_old_notes))
	  AND n.payload OPERATOR(pg_catalog.<>) protector_internal.erased_notification_payload(p_organization_id, n.kind, n.payload);
	UPDATE protector.audit_log l
	SET old_row = CASE WHEN l.old_row OPERATOR(pg_catalog.?) 'payload'
			THEN l.old_row OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('payload',
				protector_internal.erased_notification_payload(p_organization_id, l.old_row OPERATOR(pg_catalog.->>) 'kind',
															   l.old_row OPERATOR(pg_catalog.->) 'payload'))
			ELSE l.old_row END,
		new_row = CASE WHEN l.new_row OPERATOR(pg_catalog.?) 'payload'
			THEN l.new_row OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('payload',
				protector_internal.erased_notification_payload(p_organization_id, l.new_row OPERATOR(pg_catalog.->>) 'kind',
															   l.new_row OPERATOR(pg_catalog.->) 'payload'))
			ELSE l.new_row END
	WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.notifications'
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND ((COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id' OPERATOR(pg_catalog.=) ANY (v_bookings)
			AND COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id' OPERATOR(pg_catalog.<>) ALL (v_split::text[]))
		   OR l.record_id OPERATOR(pg_catalog.=) ANY (v_old_notes)
		   -- (not a row logged while the ids were masked: it names none)
		   OR (l.record_id OPERATOR(pg_catalog.<>) '[masked]'
			   AND COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id' OPERATOR(pg_catalog.=) ANY
					   ((v_once OPERATOR(pg_catalog.||) v_split)::text[])
			   AND protector_internal.within_periods(
					   v_periods OPERATOR(pg_catalog.->) (COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id'),
					   l.occurred_at, NULL)));
	-- their reminders: none is sent any more, and the worker's error texts
	-- (which tend to quote the address) go, in the history too
	UPDATE protector.booking_reminders r
	SET last_error = NULL,
		cancelled_reason = CASE WHEN r.status OPERATOR(pg_catalog.=) 'pending' THEN 'customer erased' ELSE r.cancelled_reason END,
		status = CASE WHEN r.status OPERATOR(pg_catalog.=) 'pending' THEN 'cancelled' ELSE r.status END
	FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.customer_id OPERATOR(pg_catalog.=) p_customer_id
	  AND r.organization_id OPERATOR(pg_catalog.=) b.organization_id AND r.booking_id OPERATOR(pg_catalog.=) b.id;
	-- (a booking once theirs: its reminders are another's now, and stay,
	-- their error texts gone; also one of theirs when this began that a
	-- change committed since handed to another, which their history read
	-- above may not show; the lease's text of another customer's claim
	-- quotes nobody: kept, so that its late report is still taken.  And
	-- the reminders claimed for them, whatever booking they are of now:
	-- their error texts go, and those being sent are written too, so that
	-- their worker's report waits for this and keeps no text; one under
	-- REPEATABLE READ is told to retry.  One statement: each row once.
	-- The bookings once theirs that are written below were locked above,
	-- with those of the payments.)
	UPDATE protector.booking_reminders r SET last_error = NULL
	WHERE r.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND ((r.claimed_for OPERATOR(pg_catalog.=) ANY (v_down)
			AND (r.last_error IS NOT NULL OR r.status OPERATOR(pg_catalog.=) 'sending'))
		   OR (r.booking_id OPERATOR(pg_catalog.=) ANY (v_once OPERATOR(pg_catalog.||) v_bookings::uuid[])
			   AND r.last_error IS NOT NULL
			   AND r.last_error IS DISTINCT FROM protector_internal.lease_expired_error()));
	-- their messages: the bodies go (the thread's times stay)
	UPDATE protector.booking_messages m SET body = '[erased]',
		sender_user_id = CASE WHEN m.sender_user_id OPERATOR(pg_catalog.=) ANY (v_users) THEN NULL ELSE m.sender_user_id END
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.customer_id OPERATOR(pg_catalog.=) p_customer_id
	  AND (m.body OPERATOR(pg_catalog.<>) '[erased]' OR m.sender_user_id OPERATOR(pg_catalog.=) ANY (v_users));
	-- (and in the history, whatever the table's masks: bodies are masked
	-- by default, but enable_audit may have been given other masks since)
	UPDATE protector.audit_log l
	SET old_row = l.old_row OPERATOR(pg_catalog.-) 'body'::text, new_row = l.new_row OPERATOR(pg_catalog.-) 'body'::text
	WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.booking_messages'
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND p_customer_id::text OPERATOR(pg_catalog.=) ANY (ARRAY[l.old_row OPERATOR(pg_catalog.->>) 'customer_id',
														  l.new_row OPERATOR(pg_catalog.->>) 'customer_id']);
	-- their accounts where they stamped the person's bookings, payments and
	-- messages (those merged on included), and in the history too (after
	-- all three were written above)
	-- (and a signed-in customer's request key, which holds the account:
	-- customer/<user id>/<key>)
	UPDATE protector.bookings b
	SET created_by = CASE WHEN b.created_by OPERATOR(pg_catalog.=) ANY (v_users) THEN NULL ELSE b.created_by END,
		idempotency_key = CASE WHEN protector_internal.key_of_accounts(b.idempotency_key, v_users)
									 OR b.idempotency_key OPERATOR(pg_catalog.=) ANY (v_widget_keys)
							   THEN NULL ELSE b.idempotency_key END
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND (b.customer_id OPERATOR(pg_catalog.=) ANY (v_group) OR b.id OPERATOR(pg_catalog.=) ANY (v_once))
	  AND (b.created_by OPERATOR(pg_catalog.=) ANY (v_users) OR protector_internal.key_of_accounts(b.idempotency_key, v_users)
		   OR b.idempotency_key OPERATOR(pg_catalog.=) ANY (v_widget_keys));
	UPDATE protector.audit_log l
	SET old_row = CASE WHEN protector_internal.key_of_accounts(l.old_row OPERATOR(pg_catalog.->>) 'idempotency_key', v_users)
							OR (l.old_row OPERATOR(pg_catalog.->>) 'idempotency_key') OPERATOR(pg_catalog.=) ANY (v_widget_keys)
					   THEN l.old_row OPERATOR(pg_catalog.-) 'idempotency_key' ELSE l.old_row END,
		new_row = CASE WHEN protector_internal.key_of_accounts(l.new_row OPERATOR(pg_catalog.->>) 'idempotency_key', v_users)
							OR (l.new_row OPERATOR(pg_catalog.->>) 'idempotency_key') OPERATOR(pg_catalog.=) ANY (v_widget_keys)
					   THEN l.new_row OPERATOR(pg_catalog.-) 'idempotency_key' ELSE l.new_row END
	WHERE (v_users OPERATOR(pg_catalog.<>) '{}' OR v_widget_keys OPERATOR(pg_catalog.<>) '{}')
	  AND l.table_name OPERATOR(pg_catalog.=) 'protector.bookings'
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND (protector_internal.key_of_accounts(l.old_row OPERATOR(pg_catalog.->>) 'idempotency_key', v_users)
		   OR protector_internal.key_of_accounts(l.new_row OPERATOR(pg_catalog.->>) 'idempotency_key', v_users)
		   OR (l.old_row OPERATOR(pg_catalog.->>) 'idempotency_key') OPERATOR(pg_catalog.=) ANY (v_widget_keys)
		   OR (l.new_row OPERATOR(pg_catalog.->>) 'idempotency_key') OPERATOR(pg_catalog.=) ANY (v_widget_keys));
	UPDATE protector.payments p SET created_by = NULL
	FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND (b.customer_id OPERATOR(pg_catalog.=) ANY (v_group) OR b.id OPERATOR(pg_catalog.=) ANY (v_once))
	  AND p.organization_id OPERATOR(pg_catalog.=) b.organization_id AND p.booking_id OPERATOR(pg_catalog.=) b.id
	  AND p.created_by OPERATOR(pg_catalog.=) ANY (v_users);
	UPDATE protector.booking_messages m SET sender_user_id = NULL
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.customer_id OPERATOR(pg_catalog.=) ANY (v_group)
	  AND m.sender_user_id OPERATOR(pg_catalog.=) ANY (v_users);
	-- The history of the person's rows only (their records, their bookings
	-- and what hangs off those: payments, messages, signatures, tasks):
	-- an account's other rows are someone else's (a staff member's desk
	-- work for others, a person whose account was linked here by mistake).
	-- (found once, for both scrubs below: their records, their bookings,
	-- what hangs off those, and rows once theirs: a message of their
	-- thread, a booking of theirs handed to another customer since)
	v_history := ARRAY(
		WITH bookings AS (SELECT b.id::text AS id FROM protector.bookings b
						  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
							AND b.customer_id OPERATOR(pg_catalog.=) ANY (v_group)
						  UNION ALL
						  SELECT pg_catalog.unnest(v_once)::text)
		SELECT l.id FROM protector.audit_log l
		WHERE v_users OPERATOR(pg_catalog.<>) '{}' AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
		  AND ((l.table_name OPERATOR(pg_catalog.=) 'protector.customers' AND l.record_id OPERATOR(pg_catalog.=) ANY (v_group::text[]))
			   -- (a subquery, hashed once; an array built in the query was
			   -- scanned whole for every audit row of the organization)
			   OR (l.table_name OPERATOR(pg_catalog.=) 'protector.bookings' AND l.record_id OPERATOR(pg_catalog.=) ANY (SELECT x.id FROM bookings x))
			   OR COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id' OPERATOR(pg_catalog.=) ANY (SELECT x.id FROM bookings x)
			   OR l.old_row OPERATOR(pg_catalog.->>) 'customer_id' OPERATOR(pg_catalog.=) ANY (v_group::text[])
			   OR l.new_row OPERATOR(pg_catalog.->>) 'customer_id' OPERATOR(pg_catalog.=) ANY (v_group::text[])));
	UPDATE protector.audit_log l
	SET old_row = l.old_row OPERATOR(pg_catalog.-) k.col, new_row = l.new_row OPERATOR(pg_catalog.-) k.col
	FROM (VALUES ('protector.bookings', 'created_by'), ('protector.payments', 'created_by'),
				 ('protector.booking_messages', 'sender_user_id')) k (tbl, col)
	WHERE v_users OPERATOR(pg_catalog.<>) '{}' AND l.table_name OPERATOR(pg_catalog.=) k.tbl
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND ((l.old_row OPERATOR(pg_catalog.->>) k.col OPERATOR(pg_catalog.=) ANY (v_users_wide::text[])
			OR l.new_row OPERATOR(pg_catalog.->>) k.col OPERATOR(pg_catalog.=) ANY (v_users_wide::text[]))
		   OR (l.id OPERATOR(pg_catalog.=) ANY (v_history)
			   AND (l.old_row OPERATOR(pg_catalog.->>) k.col OPERATOR(pg_catalog.=) ANY (v_users::text[])
					OR l.new_row OPERATOR(pg_catalog.->>) k.col OPERATOR(pg_catalog.=) ANY (v_users::text[]))));
	-- and as the actor of that history, unless the account is also the
	-- organization's staff, now or before, whose own actions stay
	-- attributed
	UPDATE protector.audit_log l SET actor_uid = NULL
	WHERE v_users OPERATOR(pg_catalog.<>) '{}' AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND l.actor_uid OPERATOR(pg_catalog.=) ANY (v_users)
	  AND (l.actor_uid OPERATOR(pg_catalog.=) ANY (v_users_wide) OR l.id OPERATOR(pg_catalog.=) ANY (v_history))
	  AND l.actor_uid OPERATOR(pg_catalog.<>) ALL (v_staff);
	UPDATE protector.audit_log l
	SET old_row = l.old_row OPERATOR(pg_catalog.-) 'last_error',
		new_row = l.new_row OPERATOR(pg_catalog.-) 'last_error'
	WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.booking_reminders'
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND (COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id' OPERATOR(pg_catalog.=) ANY
			   (v_bookings OPERATOR(pg_catalog.||) v_once::text[])
		   -- (claimed for them: whatever booking's history says, or lost)
		   OR l.old_row OPERATOR(pg_catalog.->>) 'claimed_for' OPERATOR(pg_catalog.=) ANY (v_down::text[])
		   OR l.new_row OPERATOR(pg_catalog.->>) 'claimed_for' OPERATOR(pg_catalog.=) ANY (v_down::text[]));
	PERFORM pg_catalog.set_config('protector_internal.erasing', 'off', true);
END
$$;
COMMENT ON FUNCTION protector_internal.scrub_customer_rows(uuid, uuid) IS
'Replaces one customer''s personal data with a tombstone in customers, their bookings'' details, reminders, messages and the audit history';

CREATE OR REPLACE FUNCTION protector_internal.scrub_customer(p_organization_id uuid, p_customer_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.require_permit('protector.customers', p_customer_id, 'customers.erase');
	-- again only: the erasure is on record, and names the customer's own
	-- organization (whose rows alone are scrubbed: the permit is for the
	-- customer, not for the organization passed)
	IF NOT EXISTS (SELECT FROM protector.customer_erasures e
				   WHERE e.organization_id OPERATOR(pg_catalog.=) p_organization_id
					 AND e.customer_id OPERATOR(pg_catalog.=) p_customer_id) THEN
		PERFORM protector.raise('not_found',
			pg_catalog.format('no erasure of customer %s in organization %s', p_customer_id, p_organization_id),
			NULL, 'erase_customer() erases a customer the first time and records it.');
	END IF;
	PERFORM protector_internal.scrub_customer_rows(p_organization_id, p_customer_id);
END
$$;
COMMENT ON FUNCTION protector_internal.scrub_customer(uuid, uuid) IS
'Erases an erased customer''s personal data again, for a caller this transaction authorized to (require_permit); only a customer whose erasure is recorded in that organization';

CREATE OR REPLACE FUNCTION protector_internal.keep_erased()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF (NEW.full_name OPERATOR(pg_catalog.<>) 'erased' OR NEW.email IS NOT NULL OR NEW.phone IS NOT NULL
		OR NEW.country IS NOT NULL OR NEW.notes IS NOT NULL OR NEW.user_id IS NOT NULL
		OR NEW.tags OPERATOR(pg_catalog.<>) '{}')
	   AND EXISTS (SELECT FROM protector.customer_erasures e
				   WHERE e.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
					 AND e.customer_id OPERATOR(pg_catalog.=) OLD.id) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('customer %s was erased', OLD.id),
			'An erased customer''s record keeps no personal data.', 'Create a new customer instead.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_erased() IS
'Trigger: an erased customer''s record takes no personal data again';

CREATE OR REPLACE FUNCTION protector_internal.check_booking_customer()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_check_booking_customer'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.check_booking_customer() IS
'Trigger (C): a booking''s customer is neither merged into another nor erased';

CREATE OR REPLACE FUNCTION protector_internal.guard_merged_into()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector_internal.caller_is_trusted() THEN
		RETURN NEW;
	END IF;
	PERFORM protector_internal.authorize(NEW.organization_id, 'customers.merge', 'customer');
	IF NEW.merged_into IS NULL THEN
		PERFORM protector.raise('forbidden', 'a merge cannot be undone',
			pg_catalog.format('Customer %s was merged into %s.', OLD.id, OLD.merged_into));
	END IF;
	PERFORM protector.raise('forbidden', 'merged_into is written by merge_customers only',
		'Merge customers with merge_customers(), which moves what refers to them.');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_merged_into() IS
'Trigger: merged_into is written by merge_customers only, and never cleared (trusted roles excepted)';

CREATE OR REPLACE FUNCTION protector_internal.check_mergeable(p_keep_id uuid, p_merge_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.require_permit('protector.customers', p_keep_id, 'customers.merge');
	PERFORM protector_internal.require_permit('protector.customers', p_merge_id, 'customers.merge');
	-- (a booking a restore set aside came back on the merged record)
	PERFORM protector_internal.refuse_unfinished_restore(
		(SELECT c.organization_id FROM protector.customers c WHERE c.id OPERATOR(pg_catalog.=) p_keep_id),
		'Rows it set aside (protector_internal.restore_pending) may be these customers'', and would come back on the merged record.');
	IF EXISTS (SELECT FROM protector.customer_erasures e
			   WHERE e.customer_id OPERATOR(pg_catalog.=) ANY (ARRAY[p_keep_id, p_merge_id])) THEN
		PERFORM protector.raise('invalid_parameter', 'an erased customer cannot be merged',
			'An erased customer''s bookings stay theirs, for the books.');
	END IF;
	-- (the kept record keeps its own account: the other's signed-in person
	-- would lose their bookings, and the first read their messages)
	IF (SELECT pg_catalog.count(DISTINCT c.user_id) FROM protector.customers c
		WHERE c.id OPERATOR(pg_catalog.=) ANY (ARRAY[p_keep_id, p_merge_id])) OPERATOR(pg_catalog.>) 1 THEN
		PERFORM protector.raise('invalid_parameter', 'these customers are linked to different accounts',
			'A merge would hand one signed-in person''s bookings, messages and signatures to the other.',
			'If they are one person, unlink one record from its account first (customers.user_id = NULL).');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_mergeable(uuid, uuid) IS
'merge_customers'' check that neither customer is erased, that they are not linked to two accounts and that no restore of theirs is unfinished, for a caller authorized to merge both (require_permit)';

CREATE OR REPLACE FUNCTION protector_internal.mark_merged(p_keep_id uuid, p_merge_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k protector.customers;
	m protector.customers;
	fk record;
	v_count bigint;
	v_moved jsonb := '{}';
BEGIN
	-- authorized first: before this reads or locks a row past RLS, so that
	-- a caller without the permits learns nothing of other tenants' rows
	PERFORM protector_internal.require_permit('protector.customers', p_keep_id, 'customers.merge');
	PERFORM protector_internal.require_permit('protector.customers', p_merge_id, 'customers.merge');
	-- (the merge's rules again, under the rows' locks: a caller holding
	-- permits from two earlier merges must not chain or re-point them)
	SELECT * INTO k FROM protector.customers c WHERE c.id OPERATOR(pg_catalog.=) p_keep_id FOR UPDATE;
	SELECT * INTO m FROM protector.customers c WHERE c.id OPERATOR(pg_catalog.=) p_merge_id FOR UPDATE;
	IF k.id IS NULL OR m.id IS NULL OR k.id OPERATOR(pg_catalog.=) m.id
	   OR k.organization_id OPERATOR(pg_catalog.<>) m.organization_id
	   OR k.merged_into IS NOT NULL OR m.merged_into IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'these customers cannot be merged',
			'Two unmerged customers of one organization are merged, with merge_customers().');
	END IF;
	PERFORM protector_internal.check_mergeable(p_keep_id, p_merge_id);
	-- (a reference written while this waited for the locks above, which a
	-- REPEATABLE READ snapshot would not move)
	IF protector_internal.customer_references_unseen(p_merge_id) THEN
		PERFORM protector.raise('retry', 'the merged customer was referred to concurrently',
			pg_catalog.format('Customer %s got a booking, voucher, message or signature while the merge waited for it.', p_merge_id),
			'Retry the transaction: it will then move that too.');
	END IF;
	-- every foreign key that points at customers (bookings, and any later
	-- table), found in the catalog; values are parameters
	FOR fk IN
		SELECT r.tbl, r.col, r.org_col FROM protector_internal.customer_references r ORDER BY 1, 2
	LOOP
		EXECUTE pg_catalog.format('UPDATE %s SET %I = $1 WHERE %I OPERATOR(pg_catalog.=) $2', fk.tbl, fk.col, fk.col)
				OPERATOR(pg_catalog.||) protector_internal.within_organization(fk.org_col, 3)
			USING p_keep_id, p_merge_id, k.organization_id;
		GET DIAGNOSTICS v_count = ROW_COUNT;
		v_moved := v_moved OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(fk.tbl::text OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) fk.col, v_count);
	END LOOP;
	-- earlier merges into the merged customer now point at the kept one,
	-- and so do those of a chain 0.1.0 let a merge make (A into B after B
	-- was merged into C): every record below it
	UPDATE protector.customers c SET merged_into = p_keep_id
	WHERE c.organization_id OPERATOR(pg_catalog.=) k.organization_id
	  AND c.id OPERATOR(pg_catalog.<>) p_keep_id
	  AND c.id IN (WITH RECURSIVE below(id) AS (
					   SELECT b.id FROM protector.customers b
					   WHERE b.organization_id OPERATOR(pg_catalog.=) k.organization_id
						 AND b.merged_into OPERATOR(pg_catalog.=) p_merge_id
					   UNION
					   SELECT b.id FROM protector.customers b JOIN below w ON b.merged_into OPERATOR(pg_catalog.=) w.id
					   WHERE b.organization_id OPERATOR(pg_catalog.=) k.organization_id)
				   SELECT below.id FROM below);
	UPDATE protector.customers c SET user_id = NULL, merged_into = p_keep_id
	WHERE c.id OPERATOR(pg_catalog.=) p_merge_id;
	RETURN v_moved;
END
$$;
COMMENT ON FUNCTION protector_internal.mark_merged(uuid, uuid) IS
'merge_customers'' moves and marks: every reference to p_merge_id moved to p_keep_id, p_merge_id (and what was merged into it) merged into it, for a caller authorized to merge both (require_permit); answers the rows moved per column';

CREATE OR REPLACE FUNCTION protector.merge_customers(p_keep_id uuid, p_merge_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k protector.customers;
	m protector.customers;
	v_moved jsonb;
	v_tags text[];
BEGIN
	IF p_keep_id IS NULL OR p_merge_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_keep_id and p_merge_id must not be null');
	END IF;
	IF p_keep_id = p_merge_id THEN
		PERFORM protector.raise('invalid_parameter', 'a customer cannot be merged into itself');
	END IF;
	-- their bookings before the customers (the merge completes the kept
	-- record's address, whose trigger share-locks them: customer_reminders)
	PERFORM protector_internal.lock_customer_bookings(ARRAY[p_keep_id, p_merge_id]);
	-- both rows visible to the caller (RLS), mergeable by their role, and
	-- locked in a fixed order so two merges cannot deadlock
	PERFORM protector_internal.authorize_row('protector.customers', x.id, 'customers.merge', 'customer', true)
	FROM (SELECT u.id FROM unnest(ARRAY[p_keep_id, p_merge_id]) u(id) ORDER BY u.id) x;
	PERFORM protector_internal.relock_customer_bookings(ARRAY[p_keep_id, p_merge_id]);
	SELECT * INTO k FROM protector.customers WHERE id = p_keep_id;
	SELECT * INTO m FROM protector.customers WHERE id = p_merge_id;
	IF k.organization_id <> m.organization_id THEN
		PERFORM protector.raise('invalid_parameter', 'customers of different organizations cannot be merged');
	END IF;
	IF k.merged_into IS NOT NULL OR m.merged_into IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'a merged customer cannot be merged again',
			'Merge into the customer it was merged into.');
	END IF;
	PERFORM protector_internal.check_mergeable(k.id, m.id);
	-- (the merged record's tags protector takes now: one 0.1.0 stored
	-- unchecked is not carried; the kept record's stay as they are)
	-- (united from rows: 0.1.0 also stored tags of two dimensions)
	v_tags := ARRAY(SELECT DISTINCT t FROM (SELECT unnest(k.tags)
											 UNION ALL
											 SELECT g FROM unnest(m.tags) g
											 WHERE length(g) BETWEEN 1 AND 50 AND protector_internal.text_is_clean(g)) u(t)
					ORDER BY t);
	IF cardinality(v_tags) > 100 THEN
		PERFORM protector.raise('invalid_parameter', format('the merged customer would have %s tags', cardinality(v_tags)),
			'A customer has at most 100 tags.', 'Remove tags from one of them first.');
	END IF;
	-- (notes appended, whole: they were cut at 10,000 characters without a
	-- word, the merged record's allergy with them)
	IF m.notes IS NOT NULL AND m.notes IS DISTINCT FROM k.notes
	   AND protector_internal.lines_are_clean(m.notes) AND protector_internal.lines_are_clean(COALESCE(k.notes, ''))
	   AND length(concat_ws(E'\n', k.notes, m.notes)) > 10000 THEN
		PERFORM protector.raise('invalid_parameter',
			format('the merged customer''s notes would be %s characters', length(concat_ws(E'\n', k.notes, m.notes))),
			'A customer''s notes hold at most 10000 characters.', 'Shorten the notes of one of them first.');
	END IF;

	-- what refers to m moves to k; m, and earlier merges into m, now point
	-- at k (mark_merged, as the owner); the merged record's account link
	-- and details complete the kept one
	v_moved := protector_internal.mark_merged(k.id, m.id);
	UPDATE protector.customers SET
		user_id = COALESCE(k.user_id, m.user_id),
		-- (the merged record's details where they are ones protector takes
		-- now: a phone 0.1.0 stored unchecked stays on the merged record;
		-- and an address of the kept record's that protector would not
		-- take, a lookalike 0.1.0 stored, gives way to the merged
		-- record's that it takes: reminders went nowhere, and the widget
		-- gave the person's bookings to the lookalike)
		email = CASE WHEN k.email IS NULL OR NOT protector_internal.email_is_valid(k.email)
					 THEN COALESCE(CASE WHEN protector_internal.email_is_valid(m.email) THEN m.email END, k.email)
					 ELSE k.email END,
		-- (a phone and its country go together: a national number means
		-- something only in its country; the merged record's number is
		-- taken written out in full where the kept record's country is
		-- another, and the kept record's own national number keeps the
		-- country it has, none included)
		phone = COALESCE(k.phone, CASE WHEN NOT protector_internal.phone_is_valid(m.phone) THEN NULL
									   WHEN k.country IS NULL OR k.country OPERATOR(pg_catalog.=) m.country
											OR NOT protector.country_is_known(m.country) THEN m.phone
									   -- (a country whose numbers protector does not
									   -- complete leaves it national: not taken)
									   WHEN pg_catalog.starts_with(protector.normalize_phone(m.phone, m.country), '+')
									   THEN protector.normalize_phone(m.phone, m.country) END),
		country = COALESCE(k.country, CASE WHEN protector.country_is_known(m.country)
											AND (k.phone IS NULL OR pg_catalog.starts_with(pg_catalog.btrim(k.phone), '+'))
									   THEN m.country END),
		tags = v_tags,
		-- (no reminders if either record asked for none: the merge of an
		-- opted-out record sent reminders again, to the address that opted
		-- out; else the kept record's choice, or the merged one's)
		reminder_channel = CASE WHEN 'none' OPERATOR(pg_catalog.=) ANY (ARRAY[k.reminder_channel, m.reminder_channel]) THEN 'none'
								ELSE COALESCE(k.reminder_channel, m.reminder_channel) END,
		-- (and notes where both are plain text as protector takes them now:
		-- a note 0.1.0 stored with an invisible mark stays where it is)
		notes = CASE WHEN m.notes IS NULL OR m.notes = k.notes
						  OR NOT protector_internal.lines_are_clean(m.notes)
						  OR NOT protector_internal.lines_are_clean(k.notes)
					 THEN k.notes
					 ELSE concat_ws(E'\n', k.notes, m.notes) END
	WHERE id = k.id;
	RETURN jsonb_build_object('kept', k.id, 'merged', m.id, 'moved', v_moved);
END
$$;
COMMENT ON FUNCTION protector.merge_customers(uuid, uuid) IS
'Moves bookings (and every other reference) of p_merge_id to p_keep_id, completes its details, marks p_merge_id merged';

-- Erasure and merges (sql/97_lifecycle.sql, 68_customers_api.sql): an
-- erased customer stays a tombstone and takes no booking, nor does a merged
-- one; merged_into is written by merge_customers only (mark_merged); a
-- merge moves signatures without a booking (the update policy allows what
-- the insert policy does).
CREATE TRIGGER keep_erased BEFORE UPDATE ON protector.customers
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_erased();
CREATE TRIGGER check_booking_customer BEFORE UPDATE OF customer_id ON protector.bookings
	FOR EACH ROW WHEN (NEW.customer_id IS NOT NULL AND NEW.customer_id IS DISTINCT FROM OLD.customer_id
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_booking_customer();
DROP POLICY waiver_submissions_update ON protector.waiver_submissions;
CREATE POLICY waiver_submissions_update ON protector.waiver_submissions FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[])
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[]))
	WITH CHECK ((organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.collect'))::uuid[])
				 AND (booking_id IN (SELECT b.id FROM protector.bookings b)
					  OR (booking_id IS NULL AND organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[]))))
				OR booking_id IN (SELECT b.id FROM protector.bookings b
								  WHERE b.customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])));
REVOKE ALL ON FUNCTION protector_internal.scrub_customer_rows(uuid, uuid), protector_internal.scrub_customer(uuid, uuid),
	protector_internal.keep_erased(), protector_internal.check_booking_customer(),
	protector_internal.check_mergeable(uuid, uuid), protector_internal.mark_merged(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.scrub_customer(uuid, uuid), protector_internal.check_mergeable(uuid, uuid),
	protector_internal.mark_merged(uuid, uuid) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector.update_booking_status_batch(p_booking_ids uuid[], p_status protector.booking_status)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[];
	v_bad text;
	v_locked integer;
	v_updated integer;
	v_statuses jsonb;
BEGIN
	IF p_booking_ids IS NULL OR p_status IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids and p_status must not be null');
	END IF;
	IF pg_catalog.array_ndims(p_booking_ids) OPERATOR(pg_catalog.>) 1 THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must be a list of ids',
			pg_catalog.format('Got an array of %s dimensions.', pg_catalog.array_ndims(p_booking_ids)));
	END IF;
	IF pg_catalog.array_position(p_booking_ids, NULL) IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must not contain NULL');
	END IF;
	-- (a list far beyond the limit is refused before it is sorted: a
	-- million ids cost seconds to tell apart)
	IF pg_catalog.cardinality(p_booking_ids) OPERATOR(pg_catalog.>) 10000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must hold 1 to 1000 ids',
			pg_catalog.format('Got %s entries.', pg_catalog.cardinality(p_booking_ids)));
	END IF;
	v_ids := ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(p_booking_ids) x ORDER BY x);
	IF pg_catalog.cardinality(v_ids) NOT BETWEEN 1 AND 1000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must hold 1 to 1000 ids',
			pg_catalog.format('Got %s.', pg_catalog.cardinality(v_ids)));
	END IF;

	-- every booking must be visible to the caller (RLS decides)
	PERFORM protector_internal.refuse_unseen_bookings(v_ids, 'Not found or not visible');
	-- and updatable by the caller: lock them, in id order, the wait
	-- bounded by protector.lock_timeout as a single booking's RPCs bound it
	v_locked := protector_internal.lock_bookings(v_ids);
	IF v_locked OPERATOR(pg_catalog.<>) pg_catalog.cardinality(v_ids) THEN
		-- (one deleted while the lock waited, as with its organization, or
		-- given to another agent, is not found or not visible now, as
		-- above; the rest the caller may not update)
		PERFORM protector_internal.refuse_unseen_bookings(v_ids, 'Not found or no longer visible once this waited for them');
		PERFORM protector.raise('forbidden', 'you may not change the status of some of these bookings');
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.format('%s (%s)', b.id, b.status), ', ' ORDER BY b.id) INTO v_bad
	FROM protector.bookings b
	WHERE b.id OPERATOR(pg_catalog.=) ANY (v_ids)
	  AND NOT protector.booking_transition_allowed(b.status, p_status);
	IF v_bad IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('these bookings cannot become %s', p_status),
			pg_catalog.format('Not allowed from their status: %s.', v_bad),
			'See the booking life cycle in docs/bookings.md. Nothing was changed.');
	END IF;

	-- statuses that occupy may need capacity: take the services' locks
	-- first, all of them in key order (any number of services; the bookings'
	-- row locks, taken above under RLS, prove the caller's access, a
	-- customer's to their own holds included), so two batches never wait
	-- for each other in a cycle; the wait is bounded as a booking's is
	-- (protector.lock_timeout: a retryable 40001)
	IF p_status OPERATOR(pg_catalog.<>) ALL ('{cancelled,no_show}'::protector.booking_status[]) THEN
		-- (in C: the stricter of protector.lock_timeout and a lock_timeout
		-- the caller set, 40001 "the service is busy" when it runs out)
		PERFORM protector_internal.lock_booking_services(v_ids);
	END IF;
	-- a cancellation gives the bookings' promo codes their uses back and
	-- their vouchers their money (a no-show the money), each row locked by
	-- the booking's triggers in the order of the bookings: two batches
	-- meeting two codes or vouchers in opposite orders deadlocked (40P01).
	-- Their rows first, in id order, codes before vouchers (a new booking
	-- takes its code, then its service, then the voucher it is paid with;
	-- no batch that takes services cancels)
	IF p_status OPERATOR(pg_catalog.=) ANY ('{cancelled,no_show}'::protector.booking_status[]) THEN
		PERFORM protector_internal.lock_give_backs(v_ids, p_status OPERATOR(pg_catalog.=) 'cancelled');
	END IF;

	-- what each booking became: a confirmation that waits for its deposit
	-- is pending (wait_for_deposit), which the answer says
	WITH u AS (
		UPDATE protector.bookings b
		SET status = p_status,
			cancelled_at = CASE WHEN p_status OPERATOR(pg_catalog.=) 'cancelled' THEN pg_catalog.now() ELSE b.cancelled_at END,
			-- (a hold confirmed waits no more, as confirm_booking writes it)
			hold_expires_at = CASE WHEN p_status OPERATOR(pg_catalog.=) ANY ('{pending,confirmed}'::protector.booking_status[])
								   THEN NULL ELSE b.hold_expires_at END
		WHERE b.id OPERATOR(pg_catalog.=) ANY (v_ids) AND b.status OPERATOR(pg_catalog.<>) p_status
		RETURNING b.status)
	SELECT COALESCE(pg_catalog.sum(x.n), 0)::integer, COALESCE(pg_catalog.jsonb_object_agg(x.status, x.n), '{}')
	INTO v_updated, v_statuses
	FROM (SELECT u.status::text AS status, pg_catalog.count(*) AS n FROM u GROUP BY 1) x;

	RETURN pg_catalog.jsonb_build_object('updated', v_updated,
		'unchanged', pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.-) v_updated,
		'status', p_status, 'statuses', v_statuses);
END
$$;
COMMENT ON FUNCTION protector.update_booking_status_batch(uuid[], protector.booking_status) IS
'Moves several bookings to a status along the state machine, all or nothing, as the caller (RLS applies)';

CREATE OR REPLACE FUNCTION protector_internal.keep_deposit_deadline()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_deposit jsonb;
	v_hours numeric;
BEGIN
	IF NEW.payment_due_by OPERATOR(pg_catalog.>=) pg_catalog.lower(OLD.during)
	   AND pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.>) pg_catalog.lower(OLD.during) THEN
		SELECT s.settings -> 'deposit' INTO v_deposit FROM protector.services s
		WHERE s.id OPERATOR(pg_catalog.=) NEW.service_id;
		v_hours := CASE WHEN pg_catalog.jsonb_typeof(v_deposit -> 'deadline_hours') OPERATOR(pg_catalog.=) 'number'
						THEN LEAST(GREATEST((v_deposit ->> 'deadline_hours')::numeric, 0), 8760) ELSE 24 END;
		NEW.payment_due_by := LEAST(GREATEST(NEW.payment_due_by,
											 NEW.created_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => v_hours OPERATOR(pg_catalog.*) 3600)),
									pg_catalog.lower(NEW.during));
	ELSE
		NEW.payment_due_by := LEAST(NEW.payment_due_by, pg_catalog.lower(NEW.during));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_deposit_deadline() IS
'Trigger: a deposit''s deadline is never after the booking''s start, and one that was the old start moves out with a later start, up to the service''s deadline from when the booking was made';

-- A deposit is due by the start after the booking moves earlier
-- (sql/77_payments.sql)
CREATE TRIGGER set_deposit_deadline BEFORE UPDATE OF during ON protector.bookings
	FOR EACH ROW WHEN (NEW.payment_due_by > lower(NEW.during))
	EXECUTE FUNCTION protector_internal.keep_deposit_deadline();
REVOKE ALL ON FUNCTION protector_internal.keep_deposit_deadline() FROM PUBLIC;

-- A notification's reader changes its read_at only (sql/40_guards.sql)
CREATE TRIGGER restrict_update_columns BEFORE UPDATE ON protector.notifications
	FOR EACH ROW EXECUTE FUNCTION protector_internal.restrict_update_columns(
		'notifications.delete',
		'{read_at}');

CREATE OR REPLACE FUNCTION protector.create_organization(
	p_name text,
	p_slug text,
	p_timezone text DEFAULT 'UTC',
	p_currency text DEFAULT 'USD',
	p_full_name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
	v_org protector.organizations;
	v_constraint text;
	v_schema text;
	v_table text;
BEGIN
	IF v_user IS NULL THEN
		PERFORM protector.raise('forbidden', 'sign in to create an organization',
			'The request carries no user (request.jwt.claims has no "sub").');
	END IF;
	-- (plain text, as every name protector keeps: no control or invisible
	-- direction characters)
	PERFORM protector_internal.check_text(p_name, 'p_name', 1, 200);
	IF p_slug IS NULL OR p_slug OPERATOR(pg_catalog.!~) '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' THEN
		PERFORM protector.raise('invalid_parameter', 'p_slug is not a valid slug',
			pg_catalog.format('Got %L.', pg_catalog.left(p_slug, 80)),
			'Use 1 to 63 lower-case letters, digits and inner hyphens, e.g. "lockbox-berlin".');
	END IF;
	PERFORM protector.check_timezone(p_timezone, 'p_timezone');
	IF p_currency IS NULL OR p_currency OPERATOR(pg_catalog.!~) '^[A-Z]{3}$' THEN
		PERFORM protector.raise('invalid_parameter', 'p_currency must be an ISO 4217 code',
			pg_catalog.format('Got %L.', pg_catalog.left(p_currency, 80)),
			'Use three upper-case letters, e.g. "EUR".');
	END IF;
	-- (a name, if given, is a name: the membership refuses a blank one)
	IF p_full_name IS NOT NULL THEN
		PERFORM protector_internal.check_text(p_full_name, 'p_full_name', 1, 200);
	END IF;

	-- as the caller: RLS lets any signed-in user found an organization,
	-- and the add_founding_owner trigger makes them its owner; its id is the
	-- database's (no caller chooses one: a deleted tenant's id taken again
	-- would be handed its audit history), found again by the unique slug
	BEGIN
		INSERT INTO protector.organizations (name, slug, timezone, currency)
		VALUES (pg_catalog.btrim(p_name), p_slug, p_timezone, p_currency);
	EXCEPTION
		WHEN unique_violation THEN
			-- (another unique key, of a table an application's trigger
			-- writes, says what it says)
			GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
			IF pg_catalog.concat_ws('.', v_schema, v_table, v_constraint) OPERATOR(pg_catalog.<>) 'protector.organizations.organizations_slug_key' THEN
				RAISE;
			END IF;
			RAISE unique_violation USING
				MESSAGE = pg_catalog.format('the slug "%s" is already taken', p_slug),
				HINT = 'Choose another p_slug.';
		WHEN foreign_key_violation THEN
			-- the owner's membership names a user Supabase Auth no longer has
			-- (a token outliving its deleted account)
			GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
			IF pg_catalog.concat_ws('.', v_schema, v_table, v_constraint) OPERATOR(pg_catalog.<>) 'protector.members.members_user_id_fkey' THEN
				RAISE;
			END IF;
			PERFORM protector.raise('forbidden', pg_catalog.format('user %s does not exist', v_user),
				'The request''s token names a user that was deleted.', 'Sign in again.');
	END;
	-- (the newest of the slug: under REPEATABLE READ the snapshot may still
	-- show an organization that held the slug until a concurrent rename or
	-- deletion, older than this one, made now())
	SELECT * INTO STRICT v_org FROM protector.organizations o WHERE o.slug OPERATOR(pg_catalog.=) p_slug
	ORDER BY o.created_at DESC LIMIT 1;
	IF p_full_name IS NOT NULL THEN
		UPDATE protector.members m SET full_name = p_full_name
		WHERE m.organization_id OPERATOR(pg_catalog.=) v_org.id AND m.user_id OPERATOR(pg_catalog.=) v_user;
	END IF;
	RETURN pg_catalog.to_jsonb(v_org);
END
$$;
COMMENT ON FUNCTION protector.create_organization(text, text, text, text, text) IS
'Creates an organization with the calling user as its owner; returns the organization';

-- An agent updates their tasks of bookings assigned to them only (not of
-- bookings that are theirs as customers)
-- (sql/50_policies.sql)
DROP POLICY tasks_update ON protector.tasks;
CREATE POLICY tasks_update ON protector.tasks FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.update'))::uuid[])
		   OR (assignee = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.assigned'))::uuid[])
			   AND (booking_id IS NULL OR booking_id IN (SELECT b.id FROM protector.bookings b
														  WHERE b.assigned_agent = (SELECT protector.current_user_id())))))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.update'))::uuid[])
				OR (assignee = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.assigned'))::uuid[])
					AND (booking_id IS NULL OR booking_id IN (SELECT b.id FROM protector.bookings b
														  WHERE b.assigned_agent = (SELECT protector.current_user_id())))));

CREATE OR REPLACE FUNCTION protector_internal.count_promo_use()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.use_promo_code(NEW.organization_id, NEW.promo_code_id, NEW.customer_id, true);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.count_promo_use() IS
'Trigger step (after a booking is stored): its promo code is used once more';

CREATE OR REPLACE FUNCTION protector_internal.settle_payment(p_payment_id uuid, p_booking_id uuid,
												  p_status protector.payment_status,
												  p_provider text DEFAULT NULL, p_provider_reference text DEFAULT NULL)
RETURNS protector.payments
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_payment protector.payments;
BEGIN
	PERFORM protector_internal.require_permit('protector.bookings', p_booking_id, 'payments.create');
	-- (a provider and reference only where the row has none)
	UPDATE protector.payments p SET status = p_status, provider = COALESCE(p.provider, p_provider),
		provider_reference = COALESCE(p.provider_reference, p_provider_reference)
	WHERE p.id OPERATOR(pg_catalog.=) p_payment_id AND p.booking_id OPERATOR(pg_catalog.=) p_booking_id
	  AND p.status OPERATOR(pg_catalog.=) 'pending'
	RETURNING * INTO v_payment;
	IF FOUND THEN
		RETURN v_payment;
	END IF;
	-- a concurrent call settled it first (the provider delivered the same
	-- webhook twice at once): the same outcome is that call's replay, for
	-- record_payment to answer (NULL); another is refused as a late one is
	SELECT * INTO v_payment FROM protector.payments p
	WHERE p.id OPERATOR(pg_catalog.=) p_payment_id AND p.booking_id OPERATOR(pg_catalog.=) p_booking_id;
	IF v_payment.status OPERATOR(pg_catalog.=) p_status THEN
		RETURN NULL;
	END IF;
	PERFORM protector.raise('conflict',
		pg_catalog.format('this provider reference was recorded as %s', COALESCE(v_payment.status::text, 'deleted')),
		pg_catalog.format('%s %s cannot become %s.', v_payment.provider, v_payment.provider_reference, p_status),
		'A payment goes from pending to succeeded or failed once; money given back is a refund.');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.settle_payment(uuid, uuid, protector.payment_status, text, text) IS
'record_payment''s and settle_payment''s settling of a pending payment as succeeded or failed (with the provider and reference given, where it has none), for a caller authorized to record payments on the booking (require_permit); NULL when a concurrent call settled it so';
REVOKE ALL ON FUNCTION protector_internal.count_promo_use(),
	protector_internal.settle_payment(uuid, uuid, protector.payment_status, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.settle_payment(uuid, uuid, protector.payment_status, text, text) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.refuse_booking_customer(p_organization_id uuid, p_customer_id uuid,
															p_merged_into uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector.current_user_id() IS NOT NULL
	   AND NOT (p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.create'))
				OR p_customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids())) THEN
		RETURN;
	END IF;
	-- the public widget (anon) found the guest record before a merge or an
	-- erasure committed: no record ids for an anonymous caller; a retry finds
	-- the record as it is now
	IF protector.current_user_id() IS NULL AND pg_catalog.current_setting('role', true) OPERATOR(pg_catalog.=) 'anon' THEN
		PERFORM protector.raise('retry', 'the guest record changed while the booking was made',
			NULL, 'Retry the request.');
	END IF;
	IF p_merged_into IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('customer %s was merged into %s', p_customer_id, p_merged_into),
			NULL, pg_catalog.format('Book for customer %s.', p_merged_into));
	END IF;
	PERFORM protector.raise('invalid_parameter', pg_catalog.format('customer %s was erased', p_customer_id),
		'An erased customer''s record takes no new bookings.', 'Create a new customer instead.');
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_booking_customer(uuid, uuid, uuid) IS
'check_booking_customer''s refusal of a merged (p_merged_into) or erased customer, raised when the caller may learn it';
REVOKE ALL ON FUNCTION protector_internal.refuse_booking_customer(uuid, uuid, uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector.get_venue_analytics(p_venue_id uuid, p_from date, p_to date)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues;
	v_lo timestamptz;
	v_hi timestamptz;
	v_open_seconds numeric;
	v_services integer;
	v_counted integer;
	v_first date;
	v_currency text;
	r jsonb;
BEGIN
	IF p_venue_id IS NULL OR p_from IS NULL OR p_to IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_venue_id, p_from and p_to must not be null');
	END IF;
	-- (infinite dates first: they cannot be subtracted)
	PERFORM protector_internal.check_date_range(p_from, p_to, '0001-01-01', '9999-12-31');
	IF p_to < p_from OR p_to - p_from > 366 THEN
		PERFORM protector.raise('invalid_parameter',
			'p_from to p_to must be a range of at most 367 days between the years 1 and 9999',
			format('Got %s to %s.', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.analytics', 'venue');
	SELECT * INTO v FROM protector.venues WHERE id = p_venue_id;
	-- revenue in the organization's currency, as every report counts it
	SELECT o.currency INTO v_currency FROM protector.organizations o WHERE o.id = v.organization_id;
	-- (a day begins at its first instant: where midnight happens twice,
	-- the first, as the reports and dashboards count it)
	v_lo := protector_internal.local_midnight(v.timezone, p_from);
	v_hi := protector_internal.local_midnight(v.timezone, p_to + 1);
	-- the time open, each instant once: ranges may overlap (the same hours
	-- twice, or a range past midnight into the next day's first), and the
	-- day before p_from may run into it; get_venue_schedule answers at most
	-- 93 days at a time (and knows no day before the year 1)
	v_first := greatest(p_from - 1, date '0001-01-01');
	SELECT COALESCE(sum(extract(epoch FROM upper(u) - lower(u))), 0)
	INTO v_open_seconds
	FROM (SELECT range_agg(tstzrange(greatest(g.opens_at, v_lo), least(g.closes_at, v_hi))) AS open
		  FROM generate_series(0, (p_to - v_first) / 93) k,
			   LATERAL protector.get_venue_schedule(v.id, v_first + k * 93, least(p_to, v_first + k * 93 + 92)) g
		  -- (a range inside a spring-forward gap opens after it closes: none)
		  WHERE g.kind <> 'closed' AND g.closes_at > v_lo AND g.opens_at < v_hi AND g.closes_at > g.opens_at) x,
		 unnest(x.open) u;
	SELECT count(*) INTO v_services FROM protector.services s WHERE s.venue_id = v.id AND s.active;
	-- the services whose time counts: the active ones, and a retired one
	-- whose bookings in the range are counted (its time was open then)
	SELECT count(*) INTO v_counted FROM protector.services s
	WHERE s.venue_id = v.id
	  AND (s.active OR EXISTS (SELECT FROM protector.bookings b
							   WHERE b.organization_id = s.organization_id AND b.venue_id = v.id AND b.service_id = s.id
								 AND protector_internal.booking_start(b.during) >= v_lo - interval '744 hours'
								 AND protector_internal.booking_start(b.during) < v_hi
								 AND b.during && tstzrange(v_lo, v_hi) AND b.status NOT IN ('cancelled', 'held', 'no_show')));

	SELECT jsonb_build_object(
		'venue', v.name, 'from', p_from, 'to', p_to, 'timezone', v.timezone,
		-- (counted on the day they start; only utilization takes the
		-- time of every booking that overlaps the range)
		'bookings', count(*) FILTER (WHERE x.starts AND b.status NOT IN ('cancelled', 'held')),
		'cancellations', count(*) FILTER (WHERE x.starts AND b.status = 'cancelled'),
		'no_shows', count(*) FILTER (WHERE x.starts AND b.status = 'no_show'),
		'guests', COALESCE(sum(b.party_size) FILTER (WHERE x.starts AND b.status NOT IN ('cancelled', 'held', 'no_show')), 0),
		'revenue', COALESCE(sum(b.total_price) FILTER (WHERE x.starts AND b.status IN ('confirmed', 'in_progress', 'completed', 'no_show')
													  AND b.currency = v_currency), 0),
		'currency', v_currency,
		'open_hours', round(v_open_seconds / 3600, 2),
		'active_services', v_services,
		-- (a shared booking takes at most its whole slot: one made before
		-- its service's capacity was lowered counts as full; and the share
		-- is never above 1)
		'utilization', CASE WHEN v_open_seconds * v_counted > 0 THEN round(least(1,
			COALESCE(sum(extract(epoch FROM least(upper(b.during), v_hi) - greatest(lower(b.during), v_lo))
						 * CASE WHEN s.mode = 'shared' THEN least(1, b.party_size::numeric / s.capacity) ELSE 1 END)
					 FILTER (WHERE b.status NOT IN ('cancelled', 'held', 'no_show')), 0)
			/ (v_open_seconds * v_counted)), 4) END)
	INTO r
	FROM protector.bookings b
	JOIN protector.services s ON s.id = b.service_id
	CROSS JOIN LATERAL (SELECT protector_internal.booking_start(b.during) >= v_lo AS starts) x
	-- the organization's bookings starting from 31 days (the longest a
	-- booking lasts) before the range: an index range of bookings_starts_idx
	-- also under the caller's RLS, where the overlap alone was a filter over
	-- every booking of the table
	WHERE b.organization_id = v.organization_id AND b.venue_id = v.id
	  AND protector_internal.booking_start(b.during) >= v_lo - interval '744 hours'
	  AND protector_internal.booking_start(b.during) < v_hi
	  AND b.during && tstzrange(v_lo, v_hi)
	  -- (a hold cancelled, lapsed or by hand, was never a booking: it
	  -- keeps its hold_expires_at)
	  AND NOT (b.status = 'cancelled' AND b.hold_expires_at IS NOT NULL);
	RETURN r;
END
$$;
COMMENT ON FUNCTION protector.get_venue_analytics(uuid, date, date) IS
'Bookings, cancellations, guests, revenue and utilization (booked / open service time) of a venue';

CREATE OR REPLACE FUNCTION protector_internal.names_match(p_a text, p_b text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_names_match'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.names_match(text, text) IS
'Are two typed names the same: case, spacing, Latin and Greek accents, the diaeresis of Cyrillic yo and Cyrillic stress marks aside, other scripts compared as written (ICU)';
REVOKE ALL ON FUNCTION protector_internal.names_match(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.names_match(text, text) TO authenticated, service_role;

CREATE FUNCTION protector_internal.checked_name(p_name text, p_column text, p_table name)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_name text;
BEGIN
	IF NOT protector_internal.text_is_clean(p_name) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s holds control or invisible direction characters', p_column),
			pg_catalog.format('Writing %s.%s.', p_table, p_column));
	END IF;
	-- stored trimmed, as the RPCs store it (a waiver named '  W  ' was
	-- another waiver than create_waiver's 'W'), of every space (a name
	-- padded with ideographic spaces looked like another's)
	v_name := protector_internal.trim_spaces(p_name);
	IF v_name OPERATOR(pg_catalog.=) '' THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must not be blank', p_column),
			pg_catalog.format('Writing %s.%s.', p_table, p_column));
	END IF;
	RETURN v_name;
END
$$;
COMMENT ON FUNCTION protector_internal.checked_name(text, text, name) IS
'A name as the name triggers store it: refused (22023, naming p_table.p_column) with control or invisible direction characters or blank, else trimmed';
GRANT EXECUTE ON FUNCTION protector_internal.checked_name(text, text, name) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.check_name()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.name IS DISTINCT FROM OLD.name THEN
		NEW.name := protector_internal.checked_name(NEW.name, 'name', TG_TABLE_NAME);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_name() IS
'Trigger (BEFORE INSERT OR UPDATE OF name): a new name holds no control or invisible direction characters, and is stored trimmed';

CREATE OR REPLACE FUNCTION protector_internal.check_full_name()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.full_name IS DISTINCT FROM OLD.full_name THEN
		NEW.full_name := protector_internal.checked_name(NEW.full_name, 'full_name', TG_TABLE_NAME);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_full_name() IS
'Trigger (BEFORE INSERT OR UPDATE OF full_name): a new full name holds no control or invisible direction characters, and is stored trimmed';
-- Names stay plain text under table writes too (sql/67_catalog_api.sql).
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF name ON protector.organizations
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_name();
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF name ON protector.venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_name();
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF name ON protector.services
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_name();
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF full_name ON protector.customers
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_full_name();
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF full_name ON protector.members
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_full_name();
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF full_name ON protector.staff_invitations
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_full_name();
REVOKE ALL ON FUNCTION protector_internal.check_name(), protector_internal.check_full_name() FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector_internal.check_zone()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a zone that is no zone at all is named too: the CHECK's error was
	-- bare; the CHECK stays for imports under replica)
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.timezone IS DISTINCT FROM OLD.timezone THEN
		PERFORM protector.check_timezone(NEW.timezone, 'timezone');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_zone() IS
'Trigger (BEFORE INSERT OR UPDATE OF timezone): a new zone names a place (protector.check_timezone)';
CREATE TRIGGER check_zone BEFORE INSERT OR UPDATE OF timezone ON protector.organizations
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_zone();
CREATE TRIGGER check_zone BEFORE INSERT OR UPDATE OF timezone ON protector.venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_zone();
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF name ON protector.waivers
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_name();
REVOKE ALL ON FUNCTION protector_internal.check_zone() FROM PUBLIC;

-- ids from a pool of pg_strong_random() bytes (src/random_id.c): every
-- table's id DEFAULT, gen_random_uuid() before
CREATE FUNCTION protector_internal.random_uuid()
RETURNS uuid
AS 'MODULE_PATHNAME', 'protector_random_uuid'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.random_uuid() IS
'A time-ordered UUID (version 7: its creation time to the microsecond, then 62 random bits from gen_random_uuid()''s generator): the id DEFAULT of protector''s tables';
REVOKE ALL ON FUNCTION protector_internal.random_uuid() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.random_uuid() TO authenticated, service_role;
ALTER TABLE protector.audit_purges ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.booking_messages ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.booking_reminders ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.bookings ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.customer_erasures ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.customers ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.members ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.notifications ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.organizations ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.payments ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.promo_codes ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.services ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.staff_invitations ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.staff_shifts ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.staff_venues ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.tasks ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.venue_closures ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.venues ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.vouchers ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.waiver_submissions ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.waiver_versions ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();
ALTER TABLE protector.waivers ALTER COLUMN id SET DEFAULT protector_internal.random_uuid();

-- a trigger helper does not belong to the API schema PostgREST exposes
ALTER FUNCTION protector.set_customer_identity_key() SET SCHEMA protector_internal;

-- index entries a booking without an agent does not need: the foreign keys
-- on bookings.assigned_agent and tasks.assignee match on equality, so a
-- NULL is never looked up; and nothing references a task, so tasks need no
-- UNIQUE (organization_id, id)
DROP INDEX protector.bookings_agent_idx;
CREATE INDEX bookings_agent_idx ON protector.bookings (assigned_agent, organization_id)
	WHERE assigned_agent IS NOT NULL;
DROP INDEX protector.tasks_assignee_idx;
CREATE INDEX tasks_assignee_idx ON protector.tasks (assignee, organization_id)
	WHERE assignee IS NOT NULL;
ALTER TABLE protector.tasks DROP CONSTRAINT tasks_organization_id_id_key;

CREATE OR REPLACE FUNCTION protector.duplicate_service(p_service_id uuid, p_target_venue_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
	v protector.venues;
	v_message text;
BEGIN
	PERFORM protector_internal.authorize_row('protector.services', p_service_id, 'venues.manage', 'service');
	SELECT * INTO s FROM protector.services WHERE id = p_service_id;
	PERFORM protector_internal.authorize_row('protector.venues', COALESCE(p_target_venue_id, s.venue_id),
											 'venues.manage', 'venue', true);
	SELECT * INTO v FROM protector.venues WHERE id = COALESCE(p_target_venue_id, s.venue_id);
	IF v.organization_id <> s.organization_id THEN
		PERFORM protector.raise('not_found', 'venue not found', 'Services are copied within their organization.');
	END IF;
	s.id := protector_internal.random_uuid();
	s.venue_id := v.id;
	IF p_target_venue_id IS NULL OR p_target_venue_id = (SELECT venue_id FROM protector.services WHERE id = p_service_id) THEN
		s.name := left(s.name, 193) || ' (copy)';
	END IF;
	BEGIN
		INSERT INTO protector.services (id, organization_id, venue_id, name, description, mode, duration,
			capacity, min_party, max_party, buffer_before, buffer_after, slot_interval, min_notice,
			max_advance, price, price_per_person, currency, settings, active, waiver_id)
		VALUES (s.id, s.organization_id, s.venue_id, s.name, s.description, s.mode, s.duration,
			s.capacity, s.min_party, s.max_party, s.buffer_before, s.buffer_after, s.slot_interval, s.min_notice,
			s.max_advance, s.price, s.price_per_person, s.currency, s.settings, s.active, s.waiver_id)
		RETURNING * INTO s;
	EXCEPTION WHEN invalid_parameter_value THEN
		-- (the copy is a new row, checked whole: a value refused is the
		-- service's own, which a service stored before 0.2.0 checked it
		-- keeps while it is not changed; the caller sent none)
		GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('service %s cannot be copied: %s', p_service_id, v_message),
			'The copy is a new service and is checked whole; the value is the service''s own, stored before protector checked it.',
			'Correct it on the service first (update_service), then copy it.');
	END;
	RETURN to_jsonb(s);
END
$$;
COMMENT ON FUNCTION protector.duplicate_service(uuid, uuid) IS
'Copies a service with all its settings, to the same venue (" (copy)") or another of the organization';

-- a statement about to write report_changes (log_report_change(), a
-- prune, a superuser) tells report_change(), which then probes the table
-- for the rest of the transaction instead of trusting what it logged
-- itself (src/report_changes.c); so it does while this trigger is not in
-- force
CREATE FUNCTION protector_internal.report_changes_written()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_report_changes_written'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.report_changes_written() IS
'Trigger, before each statement (C): a statement writes report_changes, so report_change() probes it for the rest of the transaction';
CREATE TRIGGER written BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON protector_internal.report_changes
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.report_changes_written();
-- (restores and imports under session_replication_role = replica too)
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;
REVOKE ALL ON FUNCTION protector_internal.report_changes_written() FROM PUBLIC;

-- record_staff_activity asks whether its caller wrote the row it names
CREATE FUNCTION protector_internal.written_by_this_transaction(p_xmin xid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_written_by_this_transaction'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION protector_internal.written_by_this_transaction(xid) IS
'Whether a row version with this xmin was written by the current transaction (a subtransaction of it included)';
REVOKE ALL ON FUNCTION protector_internal.written_by_this_transaction(xid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector_internal.refunds_on_cancel()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	-- (a placeholder holds any text a SET gave it, '' after a SET LOCAL
	-- ended: what PostgreSQL reads as false is false, the rest the default)
	SELECT CASE WHEN v OPERATOR(pg_catalog.=) ANY ('{of,off,f,fa,fal,fals,false,n,no,0}') THEN false ELSE true END
	FROM pg_catalog.lower(pg_catalog.btrim(COALESCE(pg_catalog.current_setting('protector.refund_on_cancel', true), ''))) v
$$;
COMMENT ON FUNCTION protector_internal.refunds_on_cancel() IS
'protector.refund_on_cancel as a boolean, also before protector.so is loaded (default on)';
REVOKE ALL ON FUNCTION protector_internal.refunds_on_cancel() FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector_internal.refund_late_payment()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_late numeric := NEW.amount;	-- the money this change makes arrive
	v_terms protector_internal.cancellation_terms;
	v_paid numeric;
	v_refunded numeric;
	v_other numeric;
	v_refund numeric;
BEGIN
	-- a payment that was succeeded already is no money arriving, whatever
	-- its amount is corrected to (lowered and raised again, it refunded
	-- again; a correction is the desk's to settle)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
		IF OLD.kind OPERATOR(pg_catalog.=) 'payment' AND OLD.status OPERATOR(pg_catalog.=) 'succeeded' THEN
			RETURN NULL;
		END IF;
	END IF;
	IF v_late OPERATOR(pg_catalog.<=) 0 OR protector_internal.refund_skipped(NEW.organization_id) THEN
		RETURN NULL;
	END IF;
	-- (the booking is locked by check_payment)
	SELECT t.* INTO v_terms FROM protector_internal.cancellation_terms t
	JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) t.organization_id
							 AND b.id OPERATOR(pg_catalog.=) t.booking_id
	WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND t.booking_id OPERATOR(pg_catalog.=) NEW.booking_id
	  AND b.status OPERATOR(pg_catalog.=) ANY ('{cancelled,no_show}'::protector.booking_status[]);
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	SELECT l.paid, l.refunded INTO v_paid, v_refunded
	FROM protector_internal.booking_refundable(NEW.organization_id, NEW.booking_id) l;
	-- this money's share, at most what the terms give back of all paid
	-- less what they gave back already
	IF v_terms.fee IS NOT NULL THEN
		v_refund := LEAST(v_late, GREATEST(v_paid OPERATOR(pg_catalog.-) v_terms.fee OPERATOR(pg_catalog.-) v_refunded, 0));
	ELSE
		-- the percent of all late money so far less that of the late money
		-- before (rounded once, not per payment: ten payments of 0.01 at
		-- 50% give 0.05 back), at most the percent of what was paid beyond
		-- the refunds the terms did not make, less those they made
		v_other := GREATEST(v_refunded OPERATOR(pg_catalog.-) v_terms.refunded_by_terms, 0);
		v_refund := LEAST(protector.round_money((v_terms.late_paid OPERATOR(pg_catalog.+) v_late)
												OPERATOR(pg_catalog.*) v_terms.refund_percent OPERATOR(pg_catalog./) 100)
						  OPERATOR(pg_catalog.-) protector.round_money(v_terms.late_paid
												OPERATOR(pg_catalog.*) v_terms.refund_percent OPERATOR(pg_catalog./) 100),
						  GREATEST(protector.round_money((v_paid OPERATOR(pg_catalog.-) v_other)
														 OPERATOR(pg_catalog.*) v_terms.refund_percent OPERATOR(pg_catalog./) 100)
								   OPERATOR(pg_catalog.-) v_terms.refunded_by_terms, 0));
	END IF;
	UPDATE protector_internal.cancellation_terms t
	SET refunded_by_terms = t.refunded_by_terms OPERATOR(pg_catalog.+) GREATEST(v_refund, 0),
		late_paid = t.late_paid OPERATOR(pg_catalog.+) v_late,
		-- (the policy keeps this money less its share, beside what the
		-- booking held before it: a payment deleted since the terms were
		-- set left it less than they kept)
		-- (LEAST passes over a NULL: none under a fee)
		kept = CASE WHEN t.kept IS NOT NULL
					THEN LEAST(t.kept, GREATEST(v_paid OPERATOR(pg_catalog.-) v_late OPERATOR(pg_catalog.-) v_refunded, 0))
						 OPERATOR(pg_catalog.+) v_late OPERATOR(pg_catalog.-) GREATEST(v_refund, 0) END
	WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND t.booking_id OPERATOR(pg_catalog.=) NEW.booking_id;
	IF v_refund OPERATOR(pg_catalog.>) 0 THEN
		INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status, details)
		VALUES (NEW.organization_id, NEW.booking_id, 'refund', v_refund, NEW.currency, 'pending',
				pg_catalog.jsonb_build_object('reason', 'paid after cancellation', 'fee', v_terms.fee,
											  'refund_percent', v_terms.refund_percent, 'paid_after_cancellation', NEW.id));
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.refund_late_payment() IS
'Trigger: money succeeding on a cancelled or no-show booking is refunded by the terms its cancellation was settled by (cancellation_terms)';
REVOKE ALL ON FUNCTION protector_internal.refund_late_payment() FROM PUBLIC;
-- (the refund row it writes does not fire it: WHEN asks for a payment)
CREATE TRIGGER refund_late_payment AFTER INSERT OR UPDATE OF amount, status, kind ON protector.payments
	FOR EACH ROW WHEN (NEW.kind = 'payment' AND NEW.status = 'succeeded' AND NEW.voucher_id IS NULL
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.refund_late_payment();

-- auth.users has its key (a unique index on id alone, as a foreign key
-- needs), and a key from members or customers to it is missing.  Names are looked up in the
-- catalogs: no right on schema auth is needed (auth_users_changed fires
-- for every role's DDL).
CREATE FUNCTION protector_internal.auth_keys_missing()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT FROM pg_catalog.pg_index i
				   JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indrelid
				   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
				   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
												  AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0]
				   WHERE n.nspname OPERATOR(pg_catalog.=) 'auth' AND c.relname OPERATOR(pg_catalog.=) 'users'
					 AND i.indisunique AND i.indisvalid AND i.indnkeyatts OPERATOR(pg_catalog.=) 1
					 AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname OPERATOR(pg_catalog.=) 'id')
	   AND (SELECT pg_catalog.count(DISTINCT c.conrelid) FROM pg_catalog.pg_constraint c
			JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) c.conrelid
			JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace
			JOIN pg_catalog.pg_class f ON f.oid OPERATOR(pg_catalog.=) c.confrelid
			JOIN pg_catalog.pg_namespace fn ON fn.oid OPERATOR(pg_catalog.=) f.relnamespace
			WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND n.nspname OPERATOR(pg_catalog.=) 'protector'
			  AND r.relname OPERATOR(pg_catalog.=) ANY ('{members,customers}')
			  AND fn.nspname OPERATOR(pg_catalog.=) 'auth' AND f.relname OPERATOR(pg_catalog.=) 'users')
		   OPERATOR(pg_catalog.<) 2
$$;
COMMENT ON FUNCTION protector_internal.auth_keys_missing() IS
'auth.users has its key, and a key of members or customers to it is missing';
REVOKE ALL ON FUNCTION protector_internal.auth_keys_missing() FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector_internal.link_auth_users()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_users regclass := pg_catalog.to_regclass('auth.users');
	k record;
BEGIN
	IF NOT protector_internal.auth_users_with('id') OR NOT protector_internal.auth_keys_missing() THEN
		RETURN;
	END IF;
	-- each key on its own: rows one of them refuses do not cost the other
	FOR k IN
		SELECT v.tbl, v.name, v.on_delete
		FROM (VALUES ('protector.members'::pg_catalog.regclass, 'members_user_id_fkey', 'CASCADE'),
					 ('protector.customers'::pg_catalog.regclass, 'customers_user_id_fkey', 'SET NULL')) v(tbl, name, on_delete)
		WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_constraint c
						  WHERE c.conrelid OPERATOR(pg_catalog.=) v.tbl AND c.confrelid OPERATOR(pg_catalog.=) v_users
							AND c.contype OPERATOR(pg_catalog.=) 'f')
	LOOP
		BEGIN
			EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE %s',
									  k.tbl, k.name, k.on_delete);
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'protector: %.user_id is not linked to auth.users: %', k.tbl, SQLERRM
				USING HINT = 'Mend the rows named, then run SELECT protector_internal.link_auth_users() as the owner of protector''s tables.';
		END;
	END LOOP;
END
$$;
COMMENT ON FUNCTION protector_internal.link_auth_users() IS
'Adds the foreign keys of members.user_id and customers.user_id to auth.users (id) where auth.users and its key exist and they do not';

CREATE OR REPLACE FUNCTION protector_internal.auth_users_changed()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- It fires for every role's CREATE TABLE and ALTER TABLE: nothing here
	-- may need a right the caller lacks (a regclass of auth.users needs
	-- USAGE on schema auth, protector_internal's functions USAGE on
	-- protector_internal), so names are looked up in the catalogs.
	IF NOT EXISTS (
			SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() d
			JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
			JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
			WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
			  AND n.nspname OPERATOR(pg_catalog.=) 'auth' AND c.relname OPERATOR(pg_catalog.=) 'users') THEN
		RETURN;
	END IF;
	-- both keys there (by any name): nothing to do, and nothing to say to
	-- auth.users' own role, whose migrations alter it (the query of
	-- auth_keys_missing(), which that role may not call)
	IF (SELECT pg_catalog.count(DISTINCT c.conrelid) FROM pg_catalog.pg_constraint c
		JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) c.conrelid
		JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace
		JOIN pg_catalog.pg_class f ON f.oid OPERATOR(pg_catalog.=) c.confrelid
		JOIN pg_catalog.pg_namespace fn ON fn.oid OPERATOR(pg_catalog.=) f.relnamespace
		WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND n.nspname OPERATOR(pg_catalog.=) 'protector'
		  AND r.relname OPERATOR(pg_catalog.=) ANY ('{members,customers}')
		  AND fn.nspname OPERATOR(pg_catalog.=) 'auth' AND f.relname OPERATOR(pg_catalog.=) 'users')
	   OPERATOR(pg_catalog.=) 2 THEN
		RETURN;
	END IF;
	IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
								   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
								   WHERE n.nspname OPERATOR(pg_catalog.=) 'protector'
									 AND c.relname OPERATOR(pg_catalog.=) 'members'), 'USAGE') THEN
		RAISE WARNING 'protector: members and customers are not linked to auth.users: % does not own protector''s tables', current_user
			USING HINT = 'Run SELECT protector_internal.link_auth_users() as the owner of protector''s tables.';
		RETURN;
	END IF;
	-- (auth.users without its key yet, as a restore makes its other
	-- constraints first: nothing to do yet)
	IF NOT protector_internal.auth_keys_missing() THEN
		RETURN;
	END IF;
	-- (a dump's script runs with row_security off: a restore, whose loads
	-- may run beside this: the keys wait as lock_for_restore() says;
	-- otherwise as for any DDL)
	IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off' THEN
		IF NOT protector_internal.link_auth_users_now() THEN
			RAISE WARNING 'protector: members and customers are not linked to auth.users yet: another session holds them'
				USING HINT = 'The end of the next table''s load links them; if none follows, run SELECT protector_internal.link_auth_users() as the owner of protector''s tables once the restore is done.';
		END IF;
		RETURN;
	END IF;
	PERFORM protector_internal.link_auth_users();
END
$$;
COMMENT ON FUNCTION protector_internal.auth_users_changed() IS
'Event trigger: once auth.users has its key (a restore makes it after the data), members and customers reference it again';
REVOKE ALL ON FUNCTION protector_internal.link_auth_users() FROM PUBLIC;
REVOKE ALL ON FUNCTION protector_internal.auth_users_changed() FROM PUBLIC;
CREATE EVENT TRIGGER protector_auth_users_changed ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
	EXECUTE FUNCTION protector_internal.auth_users_changed();
-- a 0.1.0 database that went through a restore lost its keys to auth.users
-- (0.1.0 made them only at CREATE EXTENSION): make them now where the data
-- allows, a WARNING where it does not
SELECT protector_internal.link_auth_users();


-- Review of 0.2.0: late payments ------------------------------------------------

-- The terms a cancellation or a no-show was settled by (refund_on_cancel),
-- for money that arrives afterwards (refund_late_payment,
-- sql/77_payments.sql): the fee the booking keeps, or under the older
-- refund_policy the percent that comes back.  The database's own record:
-- bookings.details.refund says the same to readers, but whoever may edit
-- details could edit it.  No row: the cancellation refunded nothing by
-- choice (protector.refund_on_cancel off).
CREATE TABLE protector_internal.cancellation_terms (
	organization_id uuid NOT NULL,
	booking_id		uuid NOT NULL,
	fee				numeric(12, 2) CHECK (fee >= 0),
	refund_percent	numeric CHECK (refund_percent BETWEEN 0 AND 100),
	-- what the terms refunded (the cancellation's refund, then the late
	-- ones): under the older policy the percent applies to what was paid
	-- beyond the other refunds, less this
	refunded_by_terms numeric(12, 2) NOT NULL DEFAULT 0 CHECK (refunded_by_terms >= 0),
	-- the money that arrived after the cancellation, whose percent comes
	-- back rounded once in all (sql/77_payments.sql)
	late_paid		numeric NOT NULL DEFAULT 0 CHECK (late_paid >= 0),
	-- under the older policy, what the booking keeps: what was paid less
	-- the terms' refunds, the money arriving later less its share, and
	-- lowered to what the booking holds by a refund the desk makes once
	-- none is pending (check_payment holds the booking to it while one is,
	-- as it holds a fee)
	kept			numeric(12, 2) CHECK (kept >= 0),
	CHECK ((fee IS NULL) <> (refund_percent IS NULL)),
	CHECK (kept IS NULL OR fee IS NULL),
	PRIMARY KEY (organization_id, booking_id),
	FOREIGN KEY (organization_id, booking_id) REFERENCES protector.bookings (organization_id, id) ON DELETE CASCADE
);
ALTER TABLE protector_internal.cancellation_terms ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.cancellation_terms FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.cancellation_terms IS
'The fee kept, or the percent given back, by a booking''s cancellation or no-show: what money arriving later is refunded by (no policy: protector''s triggers only)';
SELECT pg_catalog.pg_extension_config_dump('protector_internal.cancellation_terms', '');
-- (no terms for cancellations made before: 0.1.0 kept none but a note in
-- details.refund, which whoever may edit details could have written; money
-- arriving for them later is kept, and refunded by hand)

DO $restore_terms$
DECLARE
	t record;
	v_name text;
BEGIN
	FOR t IN
		SELECT pg_catalog.format('%I.%I', cn.nspname, cl.relname) AS tbl, cl.relname,
			   pg_catalog.string_agg(pg_catalog.format('(%s OR EXISTS (SELECT FROM %s r WHERE %s))',
					(SELECT pg_catalog.string_agg(pg_catalog.format('NEW.%I IS NULL', a.attname), ' OR ')
					 FROM unnest(c.conkey) k JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k),
					(SELECT pg_catalog.format('%I.%I', n.nspname, r.relname) FROM pg_catalog.pg_class r
					 JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace WHERE r.oid = c.confrelid),
					(SELECT pg_catalog.string_agg(pg_catalog.format('r.%I OPERATOR(pg_catalog.=) NEW.%I', pa.attname, a.attname), ' AND ')
					 FROM unnest(c.conkey, c.confkey) u(fk_att, pk_att)
					 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.fk_att
					 JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = u.pk_att)),
				E'\n\t   AND ' ORDER BY c.conname) AS checks
		FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class cl ON cl.oid = c.conrelid
		JOIN pg_catalog.pg_namespace cn ON cn.oid = cl.relnamespace
		WHERE c.contype = 'f' AND c.confrelid <> c.conrelid
		  AND cl.relname OPERATOR(pg_catalog.=) 'cancellation_terms'
		  AND c.connamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
		GROUP BY cn.nspname, cl.relname
		ORDER BY cl.relname
	LOOP
		v_name := 'restore_order_' || t.relname;
		EXECUTE pg_catalog.format($f$
			CREATE FUNCTION protector_internal.%I() RETURNS trigger
			LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
			AS $body$
			BEGIN
				IF %s THEN
					RETURN NEW;
				END IF;
				INSERT INTO protector_internal.restore_pending (relid, row_data)
				VALUES (TG_RELID, pg_catalog.to_jsonb(NEW));
				RETURN NULL;
			END
			$body$$f$, v_name, t.checks);
		EXECUTE pg_catalog.format('COMMENT ON FUNCTION protector_internal.%I() IS %L', v_name,
			'Trigger, during restores only: sets a ' || t.relname || ' row aside until what it refers to is loaded');
		EXECUTE pg_catalog.format('CREATE TRIGGER a_restore_order BEFORE INSERT ON %s FOR EACH ROW'
			' WHEN (protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.%I()', t.tbl, v_name);
		EXECUTE pg_catalog.format('CREATE TRIGGER z_insert_restored_pending AFTER INSERT ON %s FOR EACH STATEMENT'
			' WHEN (protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.insert_restored_pending()', t.tbl);
	END LOOP;
END
$restore_terms$;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.refunds_on_cancel() TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.prune_widget_requests()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_pruned integer;
BEGIN
	DELETE FROM protector_internal.widget_requests w
	WHERE w.created_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '24 hours');
	GET DIAGNOSTICS v_pruned = ROW_COUNT;
	RETURN v_pruned;
END
$$;
COMMENT ON FUNCTION protector_internal.prune_widget_requests() IS
'Deletes the widget''s rate-limit records older than a day, of every venue (the scheduled sweep, expire_holds)';
REVOKE ALL ON FUNCTION protector_internal.prune_widget_requests() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.prune_widget_requests() TO service_role;

-- Review of 0.2.0: what refers to a customer ------------------------------------

-- A signed waiver's customer changes with a merge of customer records
-- only, which moves it as protector's owner (merge_customers'
-- mark_merged); the WHEN clause runs as the statement's role, which inside
-- that function is the owner (guard_waiver_submission, SECURITY DEFINER,
-- cannot tell).
CREATE FUNCTION protector_internal.keep_waiver_customer()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector.raise('invalid_parameter', 'a signed waiver cannot be changed',
		NULL, 'Its customer changes only with a merge of customer records (merge_customers).');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_waiver_customer() IS
'Trigger: a signed waiver''s customer changes with a merge of customer records only';
CREATE TRIGGER keep_waiver_customer BEFORE UPDATE OF customer_id ON protector.waiver_submissions
	FOR EACH ROW WHEN (NEW.customer_id IS DISTINCT FROM OLD.customer_id AND NEW.booking_id IS NOT DISTINCT FROM OLD.booking_id
					   AND NOT protector_internal.caller_is_trusted() AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_waiver_customer();
REVOKE ALL ON FUNCTION protector_internal.keep_waiver_customer() FROM PUBLIC;

-- What else refers to a customer (a voucher, a message, a signed waiver)
-- refers to one that is not merged, as a booking does: a row naming the
-- merged customer would be lost to the customer's account, and would keep
-- the kept customer from ever being merged again ("still referenced").
-- The customer's row is locked as the foreign key's check will lock it, so
-- a merge running now (it locks both rows FOR UPDATE) is waited for and
-- its mark then read (under REPEATABLE READ and SERIALIZABLE: 40001).
-- Runs as the owner, who sees every customer; the WHEN clauses ask first
-- whether the caller may learn of the customer at all (the policy refuses
-- the others' rows as it would any).
CREATE FUNCTION protector_internal.check_customer_not_merged()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_merged_into uuid;
BEGIN
	SELECT c.merged_into INTO v_merged_into FROM protector.customers c
	WHERE c.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND c.id OPERATOR(pg_catalog.=) NEW.customer_id
	FOR KEY SHARE;
	IF v_merged_into IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('customer %s was merged into %s', NEW.customer_id, v_merged_into),
			NULL, pg_catalog.format('Use customer %s.', v_merged_into));
	END IF;
	-- a new voucher for an erased customer is new data of theirs (its note
	-- read by whoever holds the code), as a booking would be; so is a new
	-- message in their thread, which nobody reads (the record has no
	-- account) and whose body the erasure would not have blanked
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) ANY ('{vouchers,booking_messages}')
	   AND EXISTS (SELECT FROM protector.customer_erasures e
				   WHERE e.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
					 AND e.customer_id OPERATOR(pg_catalog.=) NEW.customer_id) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('customer %s was erased', NEW.customer_id),
			pg_catalog.format('An erased customer''s record takes no new %s.',
							  CASE TG_TABLE_NAME WHEN 'vouchers' THEN 'vouchers' ELSE 'messages' END),
			'Create a new customer instead.');
	END IF;
	RETURN NEW;		-- (no such customer: the foreign key says so)
END
$$;
COMMENT ON FUNCTION protector_internal.check_customer_not_merged() IS
'Trigger: a voucher, message or signed waiver names a customer that is not merged into another (and a voucher or message one not erased)';
DO $not_merged$
DECLARE
	t text;
BEGIN
	-- (zz_: after the BEFORE triggers that set customer_id from the booking)
	-- (a signed waiver takes its customer from the booking it is linked to:
	-- an UPDATE of booking_id sets it)
	FOREACH t IN ARRAY ARRAY['vouchers', 'booking_messages', 'waiver_submissions'] LOOP
		EXECUTE pg_catalog.format($t$
			CREATE TRIGGER zz_customer_not_merged BEFORE INSERT OR UPDATE OF %s ON protector.%I
				FOR EACH ROW WHEN (NEW.customer_id IS NOT NULL AND NOT protector_internal.restoring()
								   AND (protector_internal.caller_is_trusted()
										OR NEW.organization_id = ANY (protector_internal.orgs_with('customers.read'))
										OR NEW.organization_id = ANY (protector_internal.orgs_with('customers.read_assigned'))
										OR NEW.customer_id = ANY (protector_internal.current_customer_ids())))
				EXECUTE FUNCTION protector_internal.check_customer_not_merged()$t$,
			CASE t WHEN 'waiver_submissions' THEN 'customer_id, booking_id' ELSE 'customer_id' END, t);
	END LOOP;
END
$not_merged$;
REVOKE ALL ON FUNCTION protector_internal.check_customer_not_merged() FROM PUBLIC;

-- Review of 0.2.0: an organization's id is the database's (a deleted
-- tenant's id taken again by a signed-in user was handed its audit history)
REVOKE INSERT (id) ON protector.organizations FROM authenticated;

CREATE OR REPLACE FUNCTION protector_internal.renders_visible(p_text text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_renders_visible'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.renders_visible(text) IS
'True when the text holds a character that is no mark, space, separator, control, format, private-use or unassigned code point (Unicode general category)';
REVOKE ALL ON FUNCTION protector_internal.renders_visible(text) FROM PUBLIC;

-- Review of 0.2.0: a booking something happened to (in progress,
-- completed, no-show) is not moved to a time still to come
DROP TRIGGER enforce_status_transition ON protector.bookings;
CREATE TRIGGER enforce_status_transition BEFORE UPDATE OF status, during ON protector.bookings
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
					   OR (NEW.during IS DISTINCT FROM OLD.during
						   AND NEW.status IN ('in_progress', 'completed', 'no_show')))
	EXECUTE FUNCTION protector_internal.enforce_status_transition();

CREATE OR REPLACE FUNCTION protector_internal.keep_used_codes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'vouchers'
	   AND EXISTS (SELECT FROM protector.payments p
				   WHERE p.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
					 AND p.voucher_id OPERATOR(pg_catalog.=) OLD.id) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = 'a voucher that paid for bookings cannot be deleted',
			DETAIL = pg_catalog.format('Voucher %s has payments.', OLD.id),
			HINT = 'Let it expire instead: set expires_at to now().';
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'bookings'
	   AND EXISTS (SELECT FROM protector.payments p
				   WHERE p.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
					 AND p.booking_id OPERATOR(pg_catalog.=) OLD.id) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = 'a booking with payments cannot be deleted',
			DETAIL = pg_catalog.format('Booking %s has payments or refunds.', OLD.id),
			HINT = 'Cancel it instead: cancel_booking() settles its money by the refund policy.';
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'promo_codes'
	   AND EXISTS (SELECT FROM protector.bookings b
				   WHERE b.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
					 AND b.promo_code_id OPERATOR(pg_catalog.=) OLD.id) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = 'a promo code that bookings used cannot be deleted',
			DETAIL = pg_catalog.format('Promo code %s is on bookings.', OLD.id),
			HINT = 'Deactivate it instead: set active to false.';
	END IF;
	RETURN OLD;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_used_codes() IS
'Trigger: a voucher with payments, a promo code on bookings, or a booking with payments is not deleted (expire, deactivate or cancel it)';
REVOKE ALL ON FUNCTION protector_internal.keep_used_codes() FROM PUBLIC;
CREATE TRIGGER keep_used_codes BEFORE DELETE ON protector.vouchers
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_used_codes();
CREATE TRIGGER keep_used_codes BEFORE DELETE ON protector.promo_codes
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_used_codes();

CREATE OR REPLACE FUNCTION protector_internal.follow_service_venue()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_venue uuid;
BEGIN
	SELECT s.venue_id INTO v_venue FROM protector.services s
	WHERE s.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND s.id OPERATOR(pg_catalog.=) NEW.service_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found',
			'It does not exist in the booking''s organization, or you may not see it.');
	END IF;
	-- a venue set by hand is the service's, or refused by name
	IF NEW.venue_id IS DISTINCT FROM OLD.venue_id AND NEW.venue_id IS DISTINCT FROM v_venue THEN
		PERFORM protector.raise('invalid_parameter', 'a booking''s venue is its service''s',
			pg_catalog.format('Service %s is at venue %s.', NEW.service_id, v_venue),
			'Move the booking to a service of the other venue (service_id); the venue follows.');
	END IF;
	NEW.venue_id := v_venue;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.follow_service_venue() IS
'Trigger: a booking moved to another service is at that service''s venue ("service not found" outside its organization)';
REVOKE ALL ON FUNCTION protector_internal.follow_service_venue() FROM PUBLIC;
-- (named to run before guard_booking_write and set_booking_price)
CREATE TRIGGER follow_service_venue BEFORE UPDATE OF service_id, venue_id ON protector.bookings
	FOR EACH ROW WHEN ((NEW.service_id IS DISTINCT FROM OLD.service_id OR NEW.venue_id IS DISTINCT FROM OLD.venue_id)
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.follow_service_venue();


CREATE OR REPLACE FUNCTION protector_internal.erased_booking_details(p_details jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.jsonb_typeof(p_details OPERATOR(pg_catalog.->) 'refund') OPERATOR(pg_catalog.=) 'object'
			THEN pg_catalog.jsonb_build_object('refund',
				COALESCE((SELECT pg_catalog.jsonb_object_agg(e.key, e.value)
						  FROM pg_catalog.jsonb_each(p_details OPERATOR(pg_catalog.->) 'refund') e
						  WHERE e.key OPERATOR(pg_catalog.=) ANY ('{amount,percent,fee,to_vouchers}'::text[])
							AND pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) ANY ('{number,"null"}'::text[])),
						 '{}'::jsonb))
			ELSE '{}'::jsonb END;
COMMENT ON FUNCTION protector_internal.erased_booking_details(jsonb) IS
'What an erased customer''s booking keeps of its details: protector''s refund note only (its numbers; what a person wrote into it goes)';

CREATE OR REPLACE FUNCTION protector_internal.erased_payment_details(p_details jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object' THEN p_details
			ELSE COALESCE((SELECT pg_catalog.jsonb_object_agg(e.key, e.value)
						   FROM pg_catalog.jsonb_each(p_details) e
						   WHERE (e.key OPERATOR(pg_catalog.=) ANY ('{fee,refund_percent}'::text[])
								  AND pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) ANY ('{number,"null"}'::text[]))
							  OR (e.key OPERATOR(pg_catalog.=) 'paid_after_cancellation'
								  AND pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'string'
								  AND (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~) '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
							  OR (e.key OPERATOR(pg_catalog.=) 'reason'
								  AND pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'string'
								  AND (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.=) ANY
									  ('{cancelled,no_show,paid after cancellation,refund to vouchers}'::text[]))),
						  '{}'::jsonb) END;
COMMENT ON FUNCTION protector_internal.erased_payment_details(jsonb) IS
'What an erased customer''s payment keeps of its details: protector''s ledger keys only, with values of their kind';
REVOKE ALL ON FUNCTION protector_internal.erased_booking_details(jsonb), protector_internal.erased_payment_details(jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector_internal.guard_venue_deletion()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector.current_user_id() IS NULL OR protector_internal.caller_is_trusted()
	   OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('venues.delete')) THEN
		-- (the same deletion as delete_venue's: a venue deleted directly was
		-- left active, and bookable again the moment it was restored)
		IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR OLD.deleted_at IS NULL) AND NEW.deleted_at IS NOT NULL THEN
			NEW.active := false;
		END IF;
		RETURN NEW;
	END IF;
	PERFORM protector.raise('forbidden',
		CASE WHEN NEW.deleted_at IS NULL THEN 'your role may not restore a deleted venue'
			 ELSE 'your role may not delete venues' END,
		pg_catalog.format('Venue %s: deleted_at is written by members whose role may do venues.delete.', NEW.id),
		'Owners and admins delete venues (delete_venue).');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_venue_deletion() IS
'Trigger: a venue''s deleted_at is set or cleared only by members whose role may do venues.delete';

CREATE OR REPLACE FUNCTION protector_internal.keep_booked_services()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'venues' THEN
		-- (its services first: a booking being made holds a key-share lock
		-- on its service, which the cascade would wait for and then fail on)
		PERFORM FROM protector.services s
		WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND s.venue_id OPERATOR(pg_catalog.=) OLD.id
		ORDER BY s.id
		FOR UPDATE;
		IF EXISTS (SELECT FROM protector.bookings b
				   WHERE b.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
					 AND b.venue_id OPERATOR(pg_catalog.=) OLD.id) THEN
			RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
				MESSAGE = pg_catalog.format('venue "%s" has bookings and cannot be deleted', OLD.name),
				DETAIL = pg_catalog.format('Venue %s has services with bookings, which keep them.', OLD.id),
				HINT = 'Delete it with delete_venue(), which hides it and keeps its bookings.';
		END IF;
		RETURN OLD;
	END IF;
	IF EXISTS (SELECT FROM protector.bookings b
			   WHERE b.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
				 AND b.venue_id OPERATOR(pg_catalog.=) OLD.venue_id
				 AND b.service_id OPERATOR(pg_catalog.=) OLD.id) THEN
		-- (nor moved: its bookings are at its venue)
		IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
			RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
				MESSAGE = pg_catalog.format('service "%s" has bookings and cannot move to another venue', OLD.name),
				DETAIL = pg_catalog.format('Service %s is on bookings at venue %s, which keep it there.', OLD.id, OLD.venue_id),
				HINT = 'Copy it to the other venue with duplicate_service(id, venue) and deactivate this one.';
		END IF;
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('service "%s" has bookings and cannot be deleted', OLD.name),
			DETAIL = pg_catalog.format('Service %s is on bookings, which keep it.', OLD.id),
			HINT = 'Deactivate it instead: update_service(id, ''{"active": false}'').';
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
		RETURN NEW;
	END IF;
	RETURN OLD;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_booked_services() IS
'Trigger: a service, or a venue, with bookings is not deleted (deactivate the service; delete_venue the venue), nor a service moved to another venue';
CREATE TRIGGER guard_venue_deletion BEFORE UPDATE OF deleted_at ON protector.venues
	FOR EACH ROW WHEN (NEW.deleted_at IS DISTINCT FROM OLD.deleted_at AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.guard_venue_deletion();
CREATE TRIGGER keep_booked_services BEFORE DELETE ON protector.services
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_booked_services();
REVOKE ALL ON FUNCTION protector_internal.guard_venue_deletion(), protector_internal.keep_booked_services() FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector_internal.agent_still_assigned(p_organization_id uuid, p_user_id uuid, p_shifts boolean DEFAULT true)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_agent_still_assigned'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.agent_still_assigned(uuid, uuid, boolean) IS
'Whether the member has live bookings, open tasks or (p_shifts) shifts not ended under the latest snapshot (C: a deactivation or a role change checks its release under REPEATABLE READ)';
REVOKE ALL ON FUNCTION protector_internal.agent_still_assigned(uuid, uuid, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.agent_still_assigned(uuid, uuid, boolean) TO authenticated, service_role;

REVOKE ALL ON FUNCTION protector_internal.setting_number(jsonb, numeric, numeric, numeric) FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector_internal.count_now(p_query text, p_id uuid)
RETURNS bigint
AS 'MODULE_PATHNAME', 'protector_count_now'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.count_now(text, uuid) IS
'The count a query of protector''s own answers under the latest snapshot (C; the owner''s alone)';

CREATE OR REPLACE FUNCTION protector_internal.unseen_since_snapshot(p_query text, p_id uuid)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_then bigint;
BEGIN
	IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) ALL ('{repeatable read,serializable}') THEN
		RETURN false;
	END IF;
	EXECUTE p_query INTO v_then USING p_id;
	RETURN protector_internal.count_now(p_query, p_id) IS DISTINCT FROM v_then;
END
$$;
COMMENT ON FUNCTION protector_internal.unseen_since_snapshot(text, uuid) IS
'Under a transaction snapshot: whether a count of protector''s own answers otherwise under the latest snapshot';

CREATE OR REPLACE FUNCTION protector_internal.customer_references_unseen(p_customer_id uuid)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fk record;
BEGIN
	IF NOT pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.=) ANY ('{repeatable read,serializable}') THEN
		RETURN false;
	END IF;
	FOR fk IN SELECT r.tbl, r.col FROM protector_internal.customer_references r ORDER BY 1, 2 LOOP
		IF protector_internal.unseen_since_snapshot(
			pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE %I OPERATOR(pg_catalog.=) $1', fk.tbl, fk.col),
			p_customer_id) THEN
			RETURN true;
		END IF;
	END LOOP;
	RETURN false;
END
$$;
COMMENT ON FUNCTION protector_internal.customer_references_unseen(uuid) IS
'Under a transaction snapshot: whether rows referring to the customer committed since it (merges and erasures retry then)';

CREATE OR REPLACE FUNCTION protector_internal.json_amount(p_value jsonb)
RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.jsonb_typeof(p_value) OPERATOR(pg_catalog.=) 'number'
				 OR (pg_catalog.jsonb_typeof(p_value) OPERATOR(pg_catalog.=) 'string'
					 AND (p_value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~) '^[ \t\n\r\f\v]*[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,4})?[ \t\n\r\f\v]*$'
					 -- (no longer than 100 characters: numeric takes any such one)
					 AND pg_catalog.length(p_value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.<=) 100)
			THEN (p_value OPERATOR(pg_catalog.#>>) '{}')::numeric END;
COMMENT ON FUNCTION protector_internal.json_amount(jsonb) IS
'A JSON number, or a string that reads as one, as numeric; NULL otherwise';
CREATE TRIGGER keep_booked_services BEFORE DELETE ON protector.venues
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_booked_services();
REVOKE ALL ON FUNCTION protector_internal.count_now(text, uuid), protector_internal.customer_references_unseen(uuid),
	protector_internal.json_amount(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.json_amount(jsonb) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.release_on_deactivation()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tasks integer;
	v_bookings integer;
	v_shifts integer;
	v_ended integer;
	v_all jsonb;
BEGIN
	-- what is theirs locked first, or a retry (lock_member_work_nowait)
	PERFORM protector_internal.lock_member_work_nowait(OLD.organization_id, OLD.user_id, OLD.id, true,
		'Retry, or deactivate with deactivate_staff(), which waits for it.');
	SELECT r.tasks, r.bookings INTO v_tasks, v_bookings
	FROM protector_internal.release_member_work(OLD.organization_id, OLD.user_id) r;
	-- shifts not begun go; one under way ends now: it still covers the
	-- bookings of theirs that ended in it (history, not released above)
	DELETE FROM protector.staff_shifts s
	WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND s.member_id OPERATOR(pg_catalog.=) OLD.id
	  AND pg_catalog.lower(s.during) OPERATOR(pg_catalog.>=) pg_catalog.now();
	GET DIAGNOSTICS v_shifts = ROW_COUNT;
	UPDATE protector.staff_shifts s
	SET during = pg_catalog.tstzrange(pg_catalog.lower(s.during), pg_catalog.now())
	WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND s.member_id OPERATOR(pg_catalog.=) OLD.id
	  AND s.during OPERATOR(pg_catalog.@>) pg_catalog.now();
	GET DIAGNOSTICS v_ended = ROW_COUNT;
	-- (a booking, task or shift given to them while this waited for the
	-- member's lock, which agent_shift_check() takes, or before, committed
	-- after a REPEATABLE READ snapshot: the release above did not see it;
	-- asked after the shifts under way were ended, as one given meanwhile
	-- is one not ended)
	IF protector_internal.agent_still_assigned(OLD.organization_id, OLD.user_id) THEN
		PERFORM protector.raise('retry', 'a booking, task or shift was given to this member concurrently',
			pg_catalog.format('Member %s.', OLD.id), 'Retry the transaction: it will then release that too.');
	END IF;
	-- and invitations to them still open that the caller may withdraw (an
	-- owner's stays for an admin; to their sign-in address, which the row
	-- may not hold, withdraw_member_invitations: a fired member who
	-- deleted their account came back by one)
	DELETE FROM protector.staff_invitations x
	WHERE x.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND x.accepted_at IS NULL
	  AND x.email_key OPERATOR(pg_catalog.=) pg_catalog.lower(pg_catalog.btrim(OLD.email) COLLATE "C");
	BEGIN
		v_all := NULLIF(pg_catalog.current_setting('protector_internal.deactivation', true), '')::jsonb;
	EXCEPTION WHEN invalid_text_representation THEN
		v_all := NULL;			-- (the caller's to set: anything else is dropped)
	END;
	IF pg_catalog.jsonb_typeof(v_all) IS DISTINCT FROM 'object' THEN
		v_all := '{}';
	END IF;
	PERFORM pg_catalog.set_config('protector_internal.deactivation',
		(v_all OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(OLD.id::text, pg_catalog.jsonb_build_object(
			'bookings_released', v_bookings, 'tasks_released', v_tasks, 'shifts_removed', v_shifts, 'shifts_ended', v_ended)))::text,
		true);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.release_on_deactivation() IS
'Trigger (BEFORE UPDATE OF active, to false): releases what was the member''s (open tasks, bookings not ended, shifts not begun, open invitations), however the row is written';

CREATE OR REPLACE FUNCTION protector_internal.record_member_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_actor uuid := (SELECT m.id FROM protector.members m
					 WHERE m.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
					   AND m.user_id OPERATOR(pg_catalog.=) protector.current_user_id() AND m.active);
	v_reason text;
	v_counts jsonb;
BEGIN
	IF OLD.role IS DISTINCT FROM NEW.role THEN
		INSERT INTO protector.staff_activity (organization_id, member_id, action, details)
		VALUES (NEW.organization_id, v_actor, 'staff.role_changed',
				pg_catalog.jsonb_build_object('member_id', NEW.id, 'from', OLD.role, 'to', NEW.role));
	END IF;
	IF OLD.active AND NOT NEW.active THEN
		-- (both settings are the caller's to set: the counts are this row's,
		-- which release_on_deactivation just wrote; a reason is one as
		-- deactivate_staff takes it, plain text of at most 500 characters)
		v_reason := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('protector_internal.deactivation_reason', true)), '');
		IF pg_catalog.length(v_reason) OPERATOR(pg_catalog.>) 500 OR NOT protector_internal.text_is_clean(v_reason) THEN
			v_reason := NULL;
		END IF;
		BEGIN
			v_counts := pg_catalog.current_setting('protector_internal.deactivation', true)::jsonb OPERATOR(pg_catalog.->) NEW.id::text;
		EXCEPTION WHEN invalid_text_representation THEN
			v_counts := NULL;
		END;
		INSERT INTO protector.staff_activity (organization_id, member_id, action, details)
		VALUES (NEW.organization_id, v_actor, 'staff.deactivated',
				pg_catalog.jsonb_build_object('member_id', NEW.id, 'reason', v_reason)
				OPERATOR(pg_catalog.||) COALESCE(v_counts, '{}'));
		PERFORM pg_catalog.set_config('protector_internal.deactivation_reason', '', true);
	END IF;
	IF NOT OLD.active AND NEW.active THEN
		INSERT INTO protector.staff_activity (organization_id, member_id, action, details)
		VALUES (NEW.organization_id, v_actor, 'staff.reactivated', pg_catalog.jsonb_build_object('member_id', NEW.id));
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.record_member_change() IS
'Trigger (AFTER UPDATE OF role, active): records staff.role_changed, staff.deactivated and staff.reactivated, however the member row was written';
CREATE TRIGGER release_on_deactivation BEFORE UPDATE OF active ON protector.members
	FOR EACH ROW WHEN (OLD.active AND NOT NEW.active AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.release_on_deactivation();
CREATE TRIGGER record_member_change AFTER UPDATE OF role, active ON protector.members
	FOR EACH ROW WHEN ((OLD.role IS DISTINCT FROM NEW.role OR OLD.active IS DISTINCT FROM NEW.active)
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.record_member_change();
REVOKE ALL ON FUNCTION protector_internal.release_on_deactivation(), protector_internal.record_member_change() FROM PUBLIC;
-- only protector's tables (a merge ran another role's triggers as the owner)
CREATE OR REPLACE VIEW protector_internal.customer_references AS
SELECT c.conrelid::regclass AS tbl, a.attname AS col
FROM pg_catalog.pg_constraint c
JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) c.conrelid
	AND t.relnamespace OPERATOR(pg_catalog.=) 'protector'::pg_catalog.regnamespace
JOIN LATERAL unnest(c.conkey, c.confkey) AS u(fk_att, pk_att) ON true
JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid AND a.attnum OPERATOR(pg_catalog.=) u.fk_att
JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) c.confrelid AND pa.attnum OPERATOR(pg_catalog.=) u.pk_att
WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) 'protector.customers'::pg_catalog.regclass
  AND pa.attname OPERATOR(pg_catalog.=) 'id' AND c.conrelid OPERATOR(pg_catalog.<>) 'protector.customers'::pg_catalog.regclass
  -- the record of an erasure is about the customer it names: it stays
  AND c.conrelid IS DISTINCT FROM pg_catalog.to_regclass('protector.customer_erasures');
COMMENT ON VIEW protector_internal.customer_references IS
'Columns (by foreign key) that refer to a customer: what merge_customers moves';
DROP TRIGGER set_deposit_deadline ON protector.bookings;
CREATE TRIGGER set_deposit_deadline BEFORE UPDATE OF during ON protector.bookings
	FOR EACH ROW WHEN (NEW.payment_due_by IS NOT NULL AND NEW.amount_paid < NEW.deposit_amount
					   AND (NEW.payment_due_by > lower(NEW.during)
							OR (NEW.payment_due_by >= lower(OLD.during) AND lower(NEW.during) > lower(OLD.during))))
	EXECUTE FUNCTION protector_internal.keep_deposit_deadline();

CREATE OR REPLACE FUNCTION protector_internal.one_invitation_per_address()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector_internal.restoring() THEN
		RETURN NULL;			-- (history comes back as it was)
	END IF;
	-- (the address named: the rows collide once trimmed and lower-cased,
	-- which a bulk invitation's caller cannot tell at a glance)
	PERFORM protector.raise('invalid_parameter', 'two invitations to one address in one statement',
		pg_catalog.format('%s is given %s times.', protector_internal.quoted_text(d.email_key, 100), d.n),
		'Invite an address once; a later invitation replaces it.')
	FROM (SELECT n.email_key, pg_catalog.count(*) AS n FROM new_invitations n WHERE n.accepted_at IS NULL
		  GROUP BY n.organization_id, n.email_key HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1
		  ORDER BY n.email_key LIMIT 1) d;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.one_invitation_per_address() IS
'Trigger (AFTER INSERT, per statement): refuses two invitations to one address in one statement';
CREATE TRIGGER one_invitation_per_address AFTER INSERT ON protector.staff_invitations
	REFERENCING NEW TABLE AS new_invitations
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.one_invitation_per_address();
REVOKE ALL ON FUNCTION protector_internal.one_invitation_per_address() FROM PUBLIC;

CREATE OR REPLACE FUNCTION protector_internal.trim_spaces(p_text text)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_trim_spaces'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.trim_spaces(text) IS
'A text trimmed of every kind of space at its ends (Unicode space separators and line breaks included)';
REVOKE ALL ON FUNCTION protector_internal.trim_spaces(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.trim_spaces(text) TO authenticated, service_role;
COMMENT ON FUNCTION protector_internal.during_is_bounded(tstzrange) IS
'CHECK bookings_during_check: not empty, [) bounds, both finite and from 0001-01-02 to 9999-12-31 00:00 UTC';

CREATE OR REPLACE FUNCTION protector_internal.check_notification_recipient()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a write that keeps the recipient is not judged: a notification of a
	-- member deactivated since is still marked read)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.recipient_id OPERATOR(pg_catalog.=) OLD.recipient_id
	   AND NEW.organization_id OPERATOR(pg_catalog.=) OLD.organization_id THEN
		RETURN NEW;
	END IF;
	-- (share-locked, as a task's assignee: a deletion or deactivation
	-- racing this is waited for and then named; a deactivated member reads
	-- nothing any more)
	IF NOT protector_internal.lock_active_member(NEW.organization_id, NEW.recipient_id,
			'A notification is addressed only to an active member.',
			'Address someone else, or the desk (recipient_id NULL).') THEN
		PERFORM protector.raise('not_found', 'recipient not found',
			'recipient_id is not a member of the notification''s organization.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_notification_recipient() IS
'Trigger: a notification''s recipient is an active member of its organization (named, where the foreign key''s error was bare)';
REVOKE ALL ON FUNCTION protector_internal.check_notification_recipient() FROM PUBLIC;
CREATE TRIGGER check_notification_recipient BEFORE INSERT OR UPDATE OF recipient_id, organization_id ON protector.notifications
	FOR EACH ROW WHEN (NEW.recipient_id IS NOT NULL AND NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('notifications.create'))))
	EXECUTE FUNCTION protector_internal.check_notification_recipient();

CREATE OR REPLACE FUNCTION protector_internal.use_promo_code(p_organization_id uuid, p_promo_code_id uuid, p_customer_id uuid,
												  p_count boolean)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p protector.promo_codes;
	v_used integer;
BEGIN
	IF p_count THEN
		UPDATE protector.promo_codes x SET times_used = x.times_used OPERATOR(pg_catalog.+) 1
		WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.id OPERATOR(pg_catalog.=) p_promo_code_id
		RETURNING * INTO p;
	ELSE
		-- (written, not only locked: a REPEATABLE READ rival that counts
		-- this customer's bookings then fails with 40001 instead of
		-- counting them from its snapshot)
		UPDATE protector.promo_codes x SET times_used = x.times_used
		WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.id OPERATOR(pg_catalog.=) p_promo_code_id
		RETURNING * INTO p;
	END IF;
	-- apply_promo_code checked each row before any was counted: rows of
	-- one statement are judged together here (only where a use is counted:
	-- a code whose limit was lowered below its uses keeps its bookings)
	IF p_count AND p.times_used OPERATOR(pg_catalog.>) p.max_uses THEN
		PERFORM protector.raise('invalid_parameter', 'this promo code has been used up',
			pg_catalog.format('It may be used %s.', protector_internal.times_text(p.max_uses)));
	END IF;
	IF p.max_uses_per_customer IS NOT NULL AND p_customer_id IS NOT NULL THEN
		SELECT pg_catalog.count(*) INTO v_used FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
		  AND b.promo_code_id OPERATOR(pg_catalog.=) p.id AND b.customer_id OPERATOR(pg_catalog.=) p_customer_id
		  AND b.status OPERATOR(pg_catalog.<>) 'cancelled';
		IF v_used OPERATOR(pg_catalog.>) p.max_uses_per_customer THEN
			PERFORM protector.raise('invalid_parameter', 'this customer has used this promo code as often as it allows',
				pg_catalog.format('It may be used %s per customer.', protector_internal.times_text(p.max_uses_per_customer)));
		END IF;
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.use_promo_code(uuid, uuid, uuid, boolean) IS
'A live booking under a promo code: counts a use (p_count) and refuses one beyond the code''s limits, overall and per customer';

CREATE OR REPLACE FUNCTION protector_internal.check_promo_terms(p_kind text, p_value numeric, p_max_uses integer,
													 p_max_uses_per_customer integer, p_min_party_size integer,
													 p_valid_from timestamptz, p_valid_until timestamptz, p_prefix text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_kind IS NULL OR p_kind OPERATOR(pg_catalog.<>) ALL ('{percent,fixed}') THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%sdiscount_kind must be percent or fixed', p_prefix),
			pg_catalog.format('Got %s.', COALESCE(pg_catalog.quote_literal(p_kind), 'NULL')));
	END IF;
	-- (a percent is no amount in cents: 33.333 was refused as one)
	IF p_kind OPERATOR(pg_catalog.=) 'fixed' THEN
		PERFORM protector_internal.check_money(p_value, p_prefix OPERATOR(pg_catalog.||) 'discount_value');
	ELSIF p_value IS NULL OR p_value OPERATOR(pg_catalog.=) 'NaN'::numeric OR p_value OPERATOR(pg_catalog.<=) 0
		  OR (p_value OPERATOR(pg_catalog.<=) 100 AND p_value OPERATOR(pg_catalog.<>) pg_catalog.round(p_value, 2)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%sdiscount_value must be a positive percent with at most two decimals', p_prefix),
			pg_catalog.format('Got %s.', COALESCE(p_value::text, 'NULL')));
	END IF;
	IF p_kind OPERATOR(pg_catalog.=) 'percent' AND p_value OPERATOR(pg_catalog.>) 100 THEN
		PERFORM protector.raise('invalid_parameter', 'a percent discount is at most 100',
			pg_catalog.format('Got %s.', p_value));
	END IF;
	IF NOT (pg_catalog.isfinite(COALESCE(p_valid_from, 'epoch')) AND pg_catalog.isfinite(COALESCE(p_valid_until, 'epoch'))) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%1$svalid_from and %1$svalid_until must be finite times, or null for no limit', p_prefix),
			pg_catalog.format('Got %s to %s.', protector_internal.iso_text(p_valid_from), protector_internal.iso_text(p_valid_until)));
	END IF;
	IF p_valid_until OPERATOR(pg_catalog.<=) p_valid_from THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%1$svalid_until must be later than %1$svalid_from', p_prefix),
			pg_catalog.format('Got %s to %s.',
							  CASE WHEN p_valid_from IS NULL THEN 'now' ELSE protector_internal.iso_text(p_valid_from) END,
							  CASE WHEN p_valid_until IS NULL THEN 'open end' ELSE protector_internal.iso_text(p_valid_until) END));
	END IF;
	IF p_max_uses OPERATOR(pg_catalog.<) 1 OR p_max_uses_per_customer OPERATOR(pg_catalog.<) 1 THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%1$smax_uses and %1$smax_uses_per_customer must be positive when given', p_prefix),
			pg_catalog.format('Got %s and %s.', COALESCE(p_max_uses::text, 'none'), COALESCE(p_max_uses_per_customer::text, 'none')),
			'Leave one out (NULL) for no limit.');
	END IF;
	IF p_min_party_size IS NULL OR p_min_party_size NOT BETWEEN 1 AND 100000 THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%smin_party_size must be between 1 and 100000', p_prefix),
			pg_catalog.format('Got %s.', COALESCE(p_min_party_size::text, 'NULL')));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_promo_terms(text, numeric, integer, integer, integer, timestamptz, timestamptz, text) IS
'Refuses a promo code''s impossible terms by name (22023): kind, discount, percent at most 100, validity, use limits, minimum party';

CREATE OR REPLACE FUNCTION protector_internal.check_promo_code_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.check_promo_terms(NEW.discount_kind, NEW.discount_value, NEW.max_uses,
												 NEW.max_uses_per_customer, NEW.min_party_size, NEW.valid_from,
												 NEW.valid_until, '');
	-- (services and a description written before they were checked stay
	-- writable unchanged)
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
		PERFORM protector_internal.check_promo_scope(NEW.service_ids, NEW.description, '');
	ELSE
		PERFORM protector_internal.check_promo_scope(
			CASE WHEN NEW.service_ids IS DISTINCT FROM OLD.service_ids THEN NEW.service_ids END,
			CASE WHEN NEW.description IS DISTINCT FROM OLD.description THEN NEW.description END, '');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_promo_code_row() IS
'Trigger: a promo code''s terms, services and description as written, refused by name';

CREATE OR REPLACE FUNCTION protector_internal.check_voucher_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.check_money(NEW.amount, 'amount');
	IF pg_catalog.length(NEW.note) OPERATOR(pg_catalog.>) 2000 THEN
		PERFORM protector.raise('invalid_parameter', 'note must be at most 2000 characters');
	END IF;
	-- (shown to whoever holds the code: line breaks and tabs, nothing else
	-- invisible, as every other free text)
	IF NOT protector_internal.lines_are_clean(NEW.note) THEN
		PERFORM protector.raise('invalid_parameter', 'note holds control or invisible direction characters');
	END IF;
	-- (as create_voucher names it; the foreign key's raw 23503 otherwise.
	-- As the caller: a customer they may not read is none)
	IF NEW.customer_id IS NOT NULL
	   AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.customer_id IS DISTINCT FROM OLD.customer_id)
	   AND NOT EXISTS (SELECT FROM protector.customers c
					   WHERE c.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
						 AND c.id OPERATOR(pg_catalog.=) NEW.customer_id) THEN
		PERFORM protector.raise('not_found', 'customer not found', 'customer_id is not a customer of the voucher''s organization.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_voucher_row() IS
'Trigger: a voucher''s amount, note and customer as written, refused by name';
REVOKE ALL ON FUNCTION protector_internal.use_promo_code(uuid, uuid, uuid, boolean),
	protector_internal.check_promo_terms(text, numeric, integer, integer, integer, timestamptz, timestamptz, text),
	protector_internal.check_promo_code_row(),
	protector_internal.check_voucher_row() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	protector_internal.check_promo_terms(text, numeric, integer, integer, integer, timestamptz, timestamptz, text)
TO authenticated, service_role;
CREATE TRIGGER check_promo_code_row BEFORE INSERT OR UPDATE OF discount_kind, discount_value, max_uses,
	max_uses_per_customer, min_party_size, valid_from, valid_until, service_ids, description ON protector.promo_codes
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_promo_code_row();
CREATE TRIGGER check_voucher_row BEFORE INSERT OR UPDATE OF amount, note, customer_id ON protector.vouchers
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_voucher_row();

CREATE OR REPLACE FUNCTION protector_internal.check_staff_venue()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (key-share locked, as the foreign key will: a deletion racing this
	-- is waited for and then named, not left to the key's bare error)
	PERFORM FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND m.id OPERATOR(pg_catalog.=) NEW.member_id
	FOR KEY SHARE;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'member not found', 'member_id is not a member of the organization.');
	END IF;
	PERFORM FROM protector.venues v
	WHERE v.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND v.id OPERATOR(pg_catalog.=) NEW.venue_id
	FOR KEY SHARE;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'venue not found', 'venue_id is not a venue of the organization.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_staff_venue() IS
'Trigger: a member''s venue and the member are of the row''s organization (named, where the foreign keys'' errors were bare)';
REVOKE ALL ON FUNCTION protector_internal.check_staff_venue() FROM PUBLIC;
CREATE TRIGGER check_staff_venue BEFORE INSERT OR UPDATE OF organization_id, member_id, venue_id ON protector.staff_venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('shifts.manage'))))
	EXECUTE FUNCTION protector_internal.check_staff_venue();
CREATE TRIGGER keep_booked_services_place BEFORE UPDATE OF organization_id, venue_id ON protector.services
	FOR EACH ROW WHEN ((OLD.organization_id, OLD.venue_id) IS DISTINCT FROM (NEW.organization_id, NEW.venue_id)
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_booked_services();

CREATE OR REPLACE FUNCTION protector_internal.check_service_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
	   AND (NEW.name, NEW.description, NEW.duration, NEW.capacity, NEW.min_party, NEW.max_party, NEW.mode, NEW.buffer_before,
			NEW.buffer_after, NEW.slot_interval, NEW.min_notice, NEW.max_advance, NEW.price, NEW.price_per_person,
			NEW.currency, NEW.settings)
		   IS NOT DISTINCT FROM
		   (OLD.name, OLD.description, OLD.duration, OLD.capacity, OLD.min_party, OLD.max_party, OLD.mode, OLD.buffer_before,
			OLD.buffer_after, OLD.slot_interval, OLD.min_notice, OLD.max_advance, OLD.price, OLD.price_per_person,
			OLD.currency, OLD.settings) THEN
		RETURN NEW;
	END IF;
	PERFORM protector_internal.check_service(CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
												  THEN protector_internal.service_changes(NEW, OLD) ELSE NEW END, '');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_service_row() IS
'Trigger: a service as written (directly, too) passes check_service, when a write changes what it checks';

CREATE OR REPLACE FUNCTION protector_internal.check_customer_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- tags are a set
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.tags IS DISTINCT FROM OLD.tags THEN
		NEW.tags := protector_internal.tag_set(NEW.tags);
	END IF;
	-- (an update: what it changes; nothing, when it changes none of them)
	PERFORM protector_internal.check_customer(CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
													THEN protector_internal.customer_changes(NEW, OLD) ELSE NEW END, '');
	-- an account linked to the record reads its bookings, messages and
	-- waivers and books as it: the desk's managers link one (operators
	-- create customers, and would hand anyone's account a record)
	IF NEW.user_id IS NOT NULL AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.user_id OPERATOR(pg_catalog.<>) OLD.user_id
									 OR OLD.user_id IS NULL)
	   AND NOT protector_internal.caller_is_trusted()
	   AND NEW.organization_id OPERATOR(pg_catalog.<>) ALL (protector_internal.orgs_with('customers.manage')) THEN
		PERFORM protector.raise('forbidden', 'your role may not link a customer record to an account',
			'Owners, admins and managers link records to accounts (customers.manage).', 'Leave user_id out.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_customer_row() IS
'Trigger: a customer as written (directly, too) passes check_customer, when a write changes what it checks; only customers.manage links an account';
REVOKE ALL ON FUNCTION protector_internal.check_service_row(), protector_internal.check_customer_row() FROM PUBLIC;
CREATE TRIGGER check_service_row BEFORE INSERT OR UPDATE ON protector.services
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_service_row();
CREATE TRIGGER check_customer_row BEFORE INSERT OR UPDATE ON protector.customers
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_customer_row();

CREATE OR REPLACE FUNCTION protector_internal.check_venue_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
	   AND (NEW.description, NEW.address, NEW.city, NEW.region, NEW.postal_code, NEW.country)
		   IS NOT DISTINCT FROM (OLD.description, OLD.address, OLD.city, OLD.region, OLD.postal_code, OLD.country) THEN
		RETURN NEW;
	END IF;
	-- (what the write changes: a text of before the rule stays as it is)
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.description IS DISTINCT FROM OLD.description THEN
		PERFORM protector_internal.check_text(NEW.description, 'description', 0, 5000);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.address IS DISTINCT FROM OLD.address THEN
		PERFORM protector_internal.check_text(NEW.address, 'address', 0, 500);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.city IS DISTINCT FROM OLD.city THEN
		PERFORM protector_internal.check_text(NEW.city, 'city', 0, 200);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.region IS DISTINCT FROM OLD.region THEN
		PERFORM protector_internal.check_text(NEW.region, 'region', 0, 200);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.postal_code IS DISTINCT FROM OLD.postal_code THEN
		PERFORM protector_internal.check_text(NEW.postal_code, 'postal_code', 0, 20);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.country IS DISTINCT FROM OLD.country THEN
		PERFORM protector_internal.check_country(NEW.country, 'country');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_venue_row() IS
'Trigger: a venue''s texts and country as written (directly, too) pass the checks of create_venue, when a write changes them';
REVOKE ALL ON FUNCTION protector_internal.check_venue_row() FROM PUBLIC;
CREATE TRIGGER check_venue_row BEFORE INSERT OR UPDATE ON protector.venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_venue_row();

CREATE OR REPLACE FUNCTION protector_internal.refuse_long_hold(p_organization_id uuid, p_expires_at timestamptz)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.update_any_column')) THEN
		PERFORM protector.raise('invalid_parameter', 'a hold lasts at most a day',
			pg_catalog.format('hold_expires_at is %s.', protector_internal.iso_text(p_expires_at)), 'hold_slot holds for 1 to 1440 minutes.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_long_hold(uuid, timestamptz) IS
'Refuses a hold of more than a day by a caller whose role may not correct bookings (22023)';
REVOKE ALL ON FUNCTION protector_internal.refuse_long_hold(uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.refuse_long_hold(uuid, timestamptz) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.customer_changes(p_new protector.customers, p_old protector.customers)
RETURNS protector.customers
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c protector.customers := p_new;
BEGIN
	IF p_new.full_name IS NOT DISTINCT FROM p_old.full_name THEN c.full_name := 'x'; END IF;
	IF p_new.email IS NOT DISTINCT FROM p_old.email THEN c.email := NULL; END IF;
	IF p_new.phone IS NOT DISTINCT FROM p_old.phone THEN c.phone := NULL; END IF;
	IF p_new.country IS NOT DISTINCT FROM p_old.country THEN c.country := NULL; END IF;
	IF p_new.tags IS NOT DISTINCT FROM p_old.tags THEN
		c.tags := '{}';
	ELSIF p_new.tags IS NOT NULL AND pg_catalog.cardinality(p_new.tags) OPERATOR(pg_catalog.<=) 100
		  AND pg_catalog.array_ndims(p_new.tags) IS NOT DISTINCT FROM 1 AND p_old.tags IS NOT NULL THEN
		-- (a NULL among the old tags is one of them, not a reason to wave
		-- the new ones through: = ANY of a list with a NULL is NULL)
		c.tags := ARRAY(SELECT g FROM pg_catalog.unnest(p_new.tags) g
						WHERE CASE WHEN g IS NULL THEN NOT EXISTS (SELECT FROM pg_catalog.unnest(p_old.tags) o WHERE o IS NULL)
								   ELSE NOT COALESCE(g OPERATOR(pg_catalog.=) ANY (p_old.tags), false) END);
	END IF;
	IF p_new.notes IS NOT DISTINCT FROM p_old.notes THEN c.notes := NULL; END IF;
	IF p_new.reminder_channel IS NOT DISTINCT FROM p_old.reminder_channel THEN c.reminder_channel := NULL; END IF;
	RETURN c;
END
$$;
COMMENT ON FUNCTION protector_internal.customer_changes(protector.customers, protector.customers) IS
'What a change of a customer brings (changed columns, added tags), unchanged ones neutral: for check_customer';
REVOKE ALL ON FUNCTION protector_internal.customer_changes(protector.customers, protector.customers) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.customer_changes(protector.customers, protector.customers) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.check_booking_reference()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id
	FOR KEY SHARE;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'booking not found',
			pg_catalog.format('booking_id is no booking of the %s''s organization.', pg_catalog.rtrim(TG_TABLE_NAME, 's')));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_booking_reference() IS
'Trigger: a task''s or notification''s booking is one of its organization (named, where the foreign key''s error was bare)';
REVOKE ALL ON FUNCTION protector_internal.check_booking_reference() FROM PUBLIC;
CREATE TRIGGER check_booking_reference BEFORE INSERT OR UPDATE OF booking_id, organization_id ON protector.notifications
	FOR EACH ROW WHEN (NEW.booking_id IS NOT NULL AND NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('notifications.create'))))
	EXECUTE FUNCTION protector_internal.check_booking_reference();
CREATE TRIGGER check_booking_reference BEFORE INSERT OR UPDATE OF booking_id, organization_id ON protector.tasks
	FOR EACH ROW WHEN (NEW.booking_id IS NOT NULL AND NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('tasks.create'))))
	EXECUTE FUNCTION protector_internal.check_booking_reference();

CREATE OR REPLACE FUNCTION protector_internal.check_closure_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a venue of the row's organization the writer sees: another's, or
	-- none, read the same; it was the foreign key's bare 23503)
	IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR (NEW.organization_id, NEW.venue_id) IS DISTINCT FROM (OLD.organization_id, OLD.venue_id))
	   AND NOT EXISTS (SELECT FROM protector.venues v
					   WHERE v.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND v.id OPERATOR(pg_catalog.=) NEW.venue_id) THEN
		PERFORM protector.raise('not_found', 'venue not found', 'It does not exist, or you may not see it.');
	END IF;
	IF NEW.closed IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'closed must be true or false');
	END IF;
	IF NEW.closed_on IS NOT NULL AND NOT pg_catalog.isfinite(NEW.closed_on) THEN
		PERFORM protector.raise('invalid_parameter', 'closed_on must be a date', pg_catalog.format('Got %s.', NEW.closed_on));
	END IF;
	IF NEW.closed AND NEW.special_hours IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'a closed day has no special_hours',
			NULL, 'Set closed to false to open the day at special hours, or special_hours to null to close it.');
	END IF;
	-- (an empty list is none: the day had no hours, open by its row and
	-- closed by every read)
	IF NOT NEW.closed AND (NEW.special_hours IS NULL OR NEW.special_hours OPERATOR(pg_catalog.=) '[]'::jsonb) THEN
		PERFORM protector.raise('invalid_parameter', 'special_hours must be given when closed is false',
			CASE WHEN NEW.special_hours IS NOT NULL THEN 'Got an empty list.' END,
			'A day open at special hours lists them, e.g. [["10:00", "14:00"]]; a closure sets closed to true.');
	END IF;
	IF pg_catalog.length(NEW.reason) OPERATOR(pg_catalog.>) 500 THEN
		PERFORM protector.raise('invalid_parameter', 'reason must be at most 500 characters',
			pg_catalog.format('It has %s.', pg_catalog.length(NEW.reason)));
	END IF;
	-- a date moved onto another entry's (an insert is left to the unique
	-- key, whose conflict an upsert, ON CONFLICT, resolves; it stays the
	-- last word against a concurrent write too)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND (NEW.closed_on, NEW.venue_id) IS DISTINCT FROM (OLD.closed_on, OLD.venue_id)
	   AND EXISTS (SELECT FROM protector.venue_closures c
			   WHERE c.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND c.venue_id OPERATOR(pg_catalog.=) NEW.venue_id
				 AND c.closed_on OPERATOR(pg_catalog.=) NEW.closed_on AND c.id OPERATOR(pg_catalog.<>) NEW.id) THEN
		PERFORM protector.raise('conflict', pg_catalog.format('the venue has an entry for %s already', protector_internal.iso_text(NEW.closed_on)),
			NULL, 'Update that entry instead (one closure or day of special hours per venue and date).');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_closure_row() IS
'Trigger: a venue closure or day of special hours as written (directly) is named where the table''s CHECKs were bare, and a date moved onto another entry''s';
REVOKE ALL ON FUNCTION protector_internal.check_closure_row() FROM PUBLIC;
-- (for callers who may write closures: the policy refuses the others)
CREATE TRIGGER check_closure_row BEFORE INSERT OR UPDATE ON protector.venue_closures
	FOR EACH ROW WHEN (NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('venues.manage'))))
	EXECUTE FUNCTION protector_internal.check_closure_row();

CREATE OR REPLACE FUNCTION protector_internal.local_time(p_timezone text, p_at timestamptz)
RETURNS timestamp
AS 'MODULE_PATHNAME', 'protector_local_time_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.local_time(text, timestamptz) IS
'p_at as local time in the zone, from the zone file whatever the session''s timezone_abbreviations (for messages and titles)';
REVOKE ALL ON FUNCTION protector_internal.local_time(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.local_time(text, timestamptz) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.lock_customer_bookings(p_customer_ids uuid[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM FROM protector.bookings b
	WHERE b.customer_id OPERATOR(pg_catalog.=) ANY (p_customer_ids)
	ORDER BY b.id
	FOR NO KEY UPDATE;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_customer_bookings(uuid[]) IS
'Locks the customers'' bookings for writing in id order, before their customers are locked (merge_customers, erase_customer)';
REVOKE ALL ON FUNCTION protector_internal.lock_customer_bookings(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.lock_customer_bookings(uuid[]) TO authenticated, service_role;

COMMENT ON FUNCTION protector.current_user_id() IS
'Auth user id of the request: request.jwt.claims ->> ''sub'' (request.jwt.claim.sub only when there are no claims); NULL when there is none';

CREATE OR REPLACE FUNCTION protector_internal.within_organization(p_org_col name, p_param integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_org_col IS NULL THEN ''
			ELSE pg_catalog.format(' AND %I OPERATOR(pg_catalog.=) $%s', p_org_col, p_param) END;
COMMENT ON FUNCTION protector_internal.within_organization(name, integer) IS
'The condition '' AND <org_col> = $n'' that keeps a search of a customer''s references within its organization ('''' without one)';
REVOKE ALL ON FUNCTION protector_internal.within_organization(name, integer) FROM PUBLIC;

CREATE OR REPLACE VIEW protector_internal.customer_references AS
SELECT c.conrelid::regclass AS tbl, a.attname AS col,
	   -- the referring table's organization column, where the key is
	   -- composite (every key of protector's is): searches and moves of one
	   -- customer's references stay within its organization's index range
	   (SELECT oa.attname FROM unnest(c.conkey, c.confkey) AS o(fk_att, pk_att)
		JOIN pg_catalog.pg_attribute oa ON oa.attrelid OPERATOR(pg_catalog.=) c.conrelid
										AND oa.attnum OPERATOR(pg_catalog.=) o.fk_att
		JOIN pg_catalog.pg_attribute opa ON opa.attrelid OPERATOR(pg_catalog.=) c.confrelid
										 AND opa.attnum OPERATOR(pg_catalog.=) o.pk_att
		WHERE opa.attname OPERATOR(pg_catalog.=) 'organization_id') AS org_col
FROM pg_catalog.pg_constraint c
JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) c.conrelid
	AND t.relnamespace OPERATOR(pg_catalog.=) 'protector'::pg_catalog.regnamespace
JOIN LATERAL unnest(c.conkey, c.confkey) AS u(fk_att, pk_att) ON true
JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid AND a.attnum OPERATOR(pg_catalog.=) u.fk_att
JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) c.confrelid AND pa.attnum OPERATOR(pg_catalog.=) u.pk_att
WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) 'protector.customers'::pg_catalog.regclass
  AND pa.attname OPERATOR(pg_catalog.=) 'id' AND c.conrelid OPERATOR(pg_catalog.<>) 'protector.customers'::pg_catalog.regclass
  -- the record of an erasure is about the customer it names: it stays
  AND c.conrelid IS DISTINCT FROM pg_catalog.to_regclass('protector.customer_erasures');
COMMENT ON VIEW protector_internal.customer_references IS
'Columns (by foreign key) that refer to a customer: what merge_customers moves';

-- the desk's notifications newest first from an index of their own (the
-- list sorted every notification of the organization)
DROP INDEX protector.notifications_recipient_idx;
CREATE INDEX notifications_recipient_idx ON protector.notifications (organization_id, recipient_id, created_at)
	WHERE recipient_id IS NOT NULL;
CREATE INDEX notifications_desk_idx ON protector.notifications (organization_id, created_at)
	WHERE recipient_id IS NULL;

REVOKE ALL ON FUNCTION protector_internal.changed_settings(jsonb, jsonb),
	protector_internal.service_changes(protector.services, protector.services) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.changed_settings(jsonb, jsonb),
	protector_internal.service_changes(protector.services, protector.services) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.booking_start(tstzrange)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'protector_booking_start'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION protector_internal.booking_start(tstzrange) IS
'lower(during), leakproof: what bookings_starts_idx is on, for time ranges read under RLS';
REVOKE ALL ON FUNCTION protector_internal.booking_start(tstzrange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.booking_start(tstzrange) TO authenticated, service_role;
-- the organization's start index on it: time ranges read under RLS are
-- index ranges too
DROP INDEX protector.bookings_starts_idx;
CREATE INDEX bookings_starts_idx ON protector.bookings (organization_id, protector_internal.booking_start(during));

CREATE TRIGGER keep_paid_bookings BEFORE DELETE ON protector.bookings
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_used_codes();

CREATE OR REPLACE FUNCTION protector_internal.withdraw_member_invitations()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_keys text[] := ARRAY[pg_catalog.lower(pg_catalog.btrim(OLD.email) COLLATE "C")];
	v_auth text;
	-- (a deactivation withdraws those to the member's addresses too: the
	-- fired member who then deleted their account, the membership with
	-- it, came back by one at their next sign-in, and their sign-in
	-- address is gone by then)
	v_gone boolean := TG_OP OPERATOR(pg_catalog.=) 'DELETE' OR (OLD.active AND NOT NEW.active);
BEGIN
	-- (the member's sign-in address too, which an invitation was accepted
	-- by; none where there is no auth.users protector may read, or it is
	-- gone already)
	-- Only of a membership its member confirmed: an owner may add any
	-- account by its id, and which of their own invitations then went
	-- with the membership told them that account's address, one guess per
	-- invitation, for any account whose id they had seen (an agent's, a
	-- message's sender).
	IF v_gone AND OLD.confirmed_at IS NOT NULL AND protector_internal.auth_users_with('email') THEN
		EXECUTE 'SELECT u.email FROM auth.users u WHERE u.id OPERATOR(pg_catalog.=) $1' INTO v_auth USING OLD.user_id;
		v_keys := v_keys OPERATOR(pg_catalog.||) pg_catalog.lower(pg_catalog.btrim(v_auth) COLLATE "C");
	END IF;
	-- (an owner's invitation to the address is only for whoever may
	-- withdraw it: a member deleted while one is open is refused to the
	-- others. Withdrawn, an admin who wrote an owner's invitee's address
	-- on a member and deleted the member withdrew it; kept, the deleted
	-- member came back as an owner at their next sign-in. A session
	-- without a signed-in user that got past the policies is trusted.)
	-- (not a member leaving, or deleting their account: their own row,
	-- and an owner's gone before this asks about owners; nor an expired
	-- invitation, which nobody accepts)
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' AND protector.current_user_id() IS NOT NULL
	   AND OLD.user_id IS DISTINCT FROM protector.current_user_id()
	   AND NOT OLD.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.manage_owners'))
	   AND EXISTS (SELECT FROM protector.staff_invitations x
				   WHERE x.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND x.accepted_at IS NULL
					 AND x.expires_at OPERATOR(pg_catalog.>) pg_catalog.now()
					 AND x.role OPERATOR(pg_catalog.=) 'owner' AND x.email_key OPERATOR(pg_catalog.=) ANY (v_keys)
					 AND x.created_by IS DISTINCT FROM OLD.user_id) THEN
		PERFORM protector.raise('forbidden', 'an owner''s invitation to this member''s address is open',
			'Deleted, the member would be withdrawn from it, or come back as an owner when they sign in.',
			'An owner withdraws the invitation, or deletes the member.');
	END IF;
	-- (an owner's invitation to the address written on the row, which
	-- admins may edit, goes only for owners and trusted sessions; to the
	-- member's own sign-in address it always goes: an admin leaving with
	-- an owner's invitee's address written on their row withdrew it)
	DELETE FROM protector.staff_invitations x
	WHERE x.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND x.accepted_at IS NULL
	  AND (x.created_by OPERATOR(pg_catalog.=) OLD.user_id
		   OR (v_gone AND x.email_key OPERATOR(pg_catalog.=) ANY (v_keys)
			   AND (x.role OPERATOR(pg_catalog.<>) 'owner' OR protector.current_user_id() IS NULL
					OR x.email_key OPERATOR(pg_catalog.=) pg_catalog.lower(pg_catalog.btrim(v_auth) COLLATE "C")
					OR OLD.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.manage_owners')))));
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.withdraw_member_invitations() IS
'Trigger (AFTER UPDATE OF active, role, or DELETE on members): the open invitations a member issued go when they are deactivated, deleted or given another role; those to a deactivated or deleted member''s addresses go with the membership';
REVOKE ALL ON FUNCTION protector_internal.withdraw_member_invitations() FROM PUBLIC;
CREATE TRIGGER withdraw_member_invitations AFTER UPDATE OF active, role ON protector.members
	FOR EACH ROW WHEN (((OLD.active AND NOT NEW.active) OR OLD.role IS DISTINCT FROM NEW.role) AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.withdraw_member_invitations();
CREATE TRIGGER withdraw_member_invitations_on_delete AFTER DELETE ON protector.members
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.withdraw_member_invitations();

CREATE OR REPLACE FUNCTION protector_internal.check_payment_texts()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_provider text;
	v_reference text;
BEGIN
	-- (each column judged where it is written: a value stored before
	-- stays, beside a new one in the other column)
	v_provider := CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.provider IS DISTINCT FROM OLD.provider
					   THEN NEW.provider END;
	v_reference := CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.provider_reference IS DISTINCT FROM OLD.provider_reference
						THEN NEW.provider_reference END;
	IF NOT COALESCE(protector_internal.text_is_clean(v_provider), true)
	   OR NOT COALESCE(protector_internal.text_is_clean(v_reference), true) THEN
		PERFORM protector.raise('invalid_parameter', 'provider and provider_reference hold control or invisible direction characters');
	END IF;
	IF protector_internal.trim_spaces(v_provider) OPERATOR(pg_catalog.=) ''
	   OR protector_internal.trim_spaces(v_reference) OPERATOR(pg_catalog.=) '' THEN
		PERFORM protector.raise('invalid_parameter', 'provider and provider_reference must not be blank',
			'A blank reference is a key every other blank one of the provider collides with.', 'Write NULL for none.');
	END IF;
	-- (measured as text: a value taken from a table comes compressed, and
	-- its stored size said 45 kB of 4 MB)
	IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.details IS DISTINCT FROM OLD.details)
	   AND pg_catalog.octet_length(NEW.details::text) OPERATOR(pg_catalog.>) 65536 THEN
		PERFORM protector.raise('invalid_parameter', 'details is too large',
			pg_catalog.format('It takes %s bytes as text; at most 65536 are accepted.', pg_catalog.octet_length(NEW.details::text)));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_payment_texts() IS
'Trigger: a payment''s provider and reference as written are plain text, not blank, and its details at most 64 kB (a value stored before stays)';
REVOKE ALL ON FUNCTION protector_internal.check_payment_texts() FROM PUBLIC;
CREATE TRIGGER check_payment_texts BEFORE INSERT OR UPDATE OF provider, provider_reference, details ON protector.payments
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_payment_texts();

CREATE OR REPLACE FUNCTION protector_internal.retry_if_unseen(p_query text, p_id uuid, p_message text, p_detail text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector_internal.unseen_since_snapshot(p_query, p_id) THEN
		PERFORM protector.raise('retry', p_message, p_detail, 'Retry the transaction: it will then see it.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.retry_if_unseen(text, uuid, text, text) IS
'Under a transaction snapshot: 40001 (p_message) when a count of protector''s own answers otherwise under the latest snapshot';

CREATE OR REPLACE FUNCTION protector_internal.manual_reminder_unseen(p_booking_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.require_permit('protector.bookings', p_booking_id, 'reminders.send');
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.booking_reminders r
		 WHERE r.organization_id OPERATOR(pg_catalog.=) (SELECT b.organization_id FROM protector.bookings b
														 WHERE b.id OPERATOR(pg_catalog.=) $1)
		   AND r.booking_id OPERATOR(pg_catalog.=) $1 AND r.kind OPERATOR(pg_catalog.=) ''manual''', p_booking_id,
		'a reminder for this booking was sent concurrently', NULL);
END
$$;
COMMENT ON FUNCTION protector_internal.manual_reminder_unseen(uuid) IS
'For the manual-reminder trigger under a transaction snapshot: 40001 when a manual reminder of the booking committed since (require_permit)';
REVOKE ALL ON FUNCTION protector_internal.retry_if_unseen(text, uuid, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION protector_internal.manual_reminder_unseen(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.manual_reminder_unseen(uuid) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.check_customer_open_requests(p_organization_id uuid, p_customer_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit integer;
	v_hourly integer;
	v_open bigint;
	v_recent bigint;
BEGIN
	IF p_customer_id IS NULL OR NOT p_customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()) THEN
		PERFORM protector.raise('forbidden', 'this is a customer''s own check', 'Pass your own customer record.');
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(protector_internal.lock_key(1886547721, p_customer_id));
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.bookings b WHERE b.customer_id OPERATOR(pg_catalog.=) $1',
		p_customer_id, 'a booking of this customer was made concurrently', NULL);
	SELECT protector_internal.setting_number(o.settings #> '{customers,open_requests}', 10, 1, 1000)::integer,
		   protector_internal.setting_number(o.settings #> '{customers,bookings_per_hour}', 20, 1, 1000)::integer
	INTO v_limit, v_hourly
	FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id;
	SELECT pg_catalog.count(*) FILTER (WHERE pg_catalog.upper(b.during) OPERATOR(pg_catalog.>) pg_catalog.now()
											AND (b.status OPERATOR(pg_catalog.=) ANY ('{pending,confirmed}'::protector.booking_status[])
												 OR (b.status OPERATOR(pg_catalog.=) 'held'
													 AND b.hold_expires_at OPERATOR(pg_catalog.>) pg_catalog.now()))),
		   pg_catalog.count(*) FILTER (WHERE b.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 hour'))
	INTO v_open, v_recent
	FROM protector.bookings b
	WHERE b.customer_id OPERATOR(pg_catalog.=) p_customer_id AND b.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND b.created_by OPERATOR(pg_catalog.=) protector.current_user_id();
	IF v_recent OPERATOR(pg_catalog.>=) COALESCE(v_hourly, 20) THEN
		PERFORM protector.raise('rate_limited', 'you have made too many bookings with this organization in the last hour',
			pg_catalog.format('The organization takes at most %s booking(s) an hour made by you, cancelled ones included.',
				COALESCE(v_hourly, 20)),
			'Try again later.');
	END IF;
	IF v_open OPERATOR(pg_catalog.>=) COALESCE(v_limit, 10) THEN
		PERFORM protector.raise('rate_limited', 'you have too many open booking requests with this organization',
			pg_catalog.format('The organization takes at most %s booking(s) of yours that have not ended (held, pending or confirmed) at once.',
				COALESCE(v_limit, 10)),
			'Cancel one you no longer need, or wait until one has ended.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_customer_open_requests(uuid, uuid) IS
'A customer''s new booking: 53400 beyond settings.customers.open_requests (default 10) bookings they made that have not ended, or bookings_per_hour (default 20) made in the last hour';
REVOKE ALL ON FUNCTION protector_internal.check_customer_open_requests(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.check_customer_open_requests(uuid, uuid) TO authenticated, service_role;
-- a venue's closures and special hours change what is bookable: audited
SELECT protector.enable_audit('protector.venue_closures');

CREATE OR REPLACE FUNCTION protector_internal.keep_booked_customers()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF OLD.merged_into IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('customer %s was merged into customer %s and cannot be deleted', OLD.id, OLD.merged_into),
			DETAIL = 'A merged record is kept with the merge''s history.',
			HINT = 'Erasing the record it was merged into (erase_customer()) erases it too.';
	END IF;
	-- (nor one that others were merged into: deleted, it set them free,
	-- and each could then be deleted)
	IF EXISTS (SELECT FROM protector.customers c
			   WHERE c.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND c.merged_into OPERATOR(pg_catalog.=) OLD.id) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('customer %s has records merged into it and cannot be deleted', OLD.id),
			DETAIL = 'Records merged into another are kept with the merge''s history.',
			HINT = 'Erase it (erase_customer()), which erases them too.';
	END IF;
	IF EXISTS (SELECT FROM protector.customer_erasures e
			   WHERE e.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND e.customer_id OPERATOR(pg_catalog.=) OLD.id) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('customer %s was erased and cannot be deleted', OLD.id),
			DETAIL = 'An erased record holds no personal data; its erasure is listed in customer_erasures, which a restore of an older backup needs.',
			HINT = 'Leave it: it is a tombstone.';
	END IF;
	IF EXISTS (SELECT FROM protector.bookings b
			   WHERE b.customer_id OPERATOR(pg_catalog.=) OLD.id AND b.organization_id OPERATOR(pg_catalog.=) OLD.organization_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('customer %s has bookings and cannot be deleted', OLD.id),
			DETAIL = 'Bookings stay for the books.',
			HINT = 'Erase their personal data with erase_customer(), or merge the record into another with merge_customers().';
	END IF;
	RETURN OLD;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_booked_customers() IS
'Trigger: a customer with bookings is not deleted (erase or merge instead), in words rather than the foreign key''s';
REVOKE ALL ON FUNCTION protector_internal.keep_booked_customers() FROM PUBLIC;
CREATE TRIGGER keep_booked_customers BEFORE DELETE ON protector.customers
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_booked_customers();

CREATE OR REPLACE FUNCTION protector_internal.keep_customer_id()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector.raise('invalid_parameter', 'a customer''s id never changes',
		pg_catalog.format('Customer %s.', OLD.id), 'Create a new customer, or merge records with merge_customers().');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_customer_id() IS
'Trigger: a customer''s id never changes (its history and its erasure follow it)';
REVOKE ALL ON FUNCTION protector_internal.keep_customer_id() FROM PUBLIC;
CREATE TRIGGER keep_customer_id BEFORE UPDATE OF id ON protector.customers
	FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_customer_id();

CREATE OR REPLACE FUNCTION protector_internal.lock_members(p_member_id uuid, p_other_id uuid DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_members_sql'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.lock_members(uuid, uuid) IS
'The schedule locks of one or two members, in shift_check()''s order and with its bounded wait (C; the owner''s triggers)';
REVOKE ALL ON FUNCTION protector_internal.lock_members(uuid, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION protector_internal.unseen_since_snapshot(text, uuid) FROM PUBLIC;

-- balance_due: kept by a C trigger and held by a CHECK, no longer a stored
-- generated column, whose expression PostgreSQL parsed again for every
-- INSERT and UPDATE of a booking (src/balance_due.c).  DROP EXPRESSION
-- keeps the column, its place and its values.
ALTER TABLE protector.bookings ALTER COLUMN balance_due DROP EXPRESSION;
ALTER TABLE protector.bookings ALTER COLUMN balance_due SET DEFAULT 0;
ALTER TABLE protector.bookings ALTER COLUMN balance_due SET NOT NULL;
ALTER TABLE protector.bookings ADD CONSTRAINT bookings_balance_due_check
	CHECK (balance_due = total_price - amount_paid);
CREATE FUNCTION protector_internal.keep_balance_due()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_keep_balance_due'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.keep_balance_due() IS
'Trigger (BEFORE UPDATE, C): a booking''s balance_due is total_price - amount_paid (prepare_booking computes it on INSERT)';
REVOKE ALL ON FUNCTION protector_internal.keep_balance_due() FROM PUBLIC;
CREATE TRIGGER zz_balance_due BEFORE UPDATE ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.keep_balance_due();
ALTER TABLE protector.bookings ENABLE ALWAYS TRIGGER zz_balance_due;

CREATE OR REPLACE FUNCTION protector_internal.waiver_name_nfc()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NEW.name := pg_catalog.normalize(NEW.name, 'NFC');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.waiver_name_nfc() IS
'Trigger: a waiver''s name in Unicode''s composed form (NFC), so that names that look alike are one';
REVOKE ALL ON FUNCTION protector_internal.waiver_name_nfc() FROM PUBLIC;
CREATE TRIGGER name_nfc BEFORE INSERT OR UPDATE OF name ON protector.waivers
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.waiver_name_nfc();

-- the audit's event trigger fires under session_replication_role =
-- replica too: a load tool's DDL renamed a masked column there, whose
-- values the log then took in clear
ALTER EVENT TRIGGER protector_audit_release_writer ENABLE ALWAYS;

-- the one view that ran as its owner reads only the catalog: as the
-- caller, like every other (Supabase's lint security_definer_view)
ALTER VIEW protector_internal.customer_references SET (security_invoker = on);

-- the restore's event triggers fire under session_replication_role =
-- replica too: a restore run that way lost the keys to auth.users and
-- Realtime
ALTER EVENT TRIGGER protector_publication_created ENABLE ALWAYS;
ALTER EVENT TRIGGER protector_auth_users_changed ENABLE ALWAYS;

CREATE OR REPLACE FUNCTION protector_internal.apply_restored_realtime()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication p WHERE p.pubname OPERATOR(pg_catalog.=) 'supabase_realtime')
	   OR EXISTS (SELECT FROM pg_catalog.pg_publication_tables t
				  WHERE t.pubname OPERATOR(pg_catalog.=) 'supabase_realtime'
					AND t.schemaname OPERATOR(pg_catalog.=) 'protector' AND t.tablename OPERATOR(pg_catalog.=) 'bookings') THEN
		RETURN true;	-- the publication made later applies it (publication_created), or it is applied
	END IF;
	BEGIN
		IF NOT protector_internal.lock_for_restore(
				'{protector.bookings,protector.tasks,protector.notifications,protector.booking_messages}',
				'ACCESS EXCLUSIVE') THEN
			RETURN false;
		END IF;
		PERFORM protector_internal.apply_realtime();
		RETURN true;
	EXCEPTION WHEN object_in_use THEN
		-- (the drain of a published table's own load, whose COPY keeps it
		-- open: tried again when the load commits, as no later load's end
		-- may come, apply_realtime_at_commit)
		-- (once: not again from that commit's own attempt, which a cursor
		-- still open on the table fails the same way: it looped)
		IF pg_catalog.current_setting('protector_internal.realtime_at_commit', true) IS DISTINCT FROM 'firing' THEN
			PERFORM pg_catalog.set_config('protector_internal.realtime_at_commit', 'on', true);
			UPDATE protector_internal.realtime_state SET enabled = enabled;
		END IF;
		RETURN false;
	END;
END
$$;
COMMENT ON FUNCTION protector_internal.apply_restored_realtime() IS
'During a restore: puts protector into the Realtime publication that exists already, unless another session holds its tables (false)';
REVOKE ALL ON FUNCTION protector_internal.apply_restored_realtime() FROM PUBLIC;

-- Bookings of two hours or less write no GiST entry: the reservation check
-- finds them through bookings_service_start_idx (src/reserve.c), and the
-- GiST index holds the long ones only.  (Rebuilt here: an upgrade of a
-- large table holds its write lock while the new index is built.)
CREATE FUNCTION protector_internal.booking_is_long(tstzrange)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_booking_is_long'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.booking_is_long(tstzrange) IS
'upper(during) - lower(during) > 2 hours: which bookings bookings_long_during_idx holds';
REVOKE ALL ON FUNCTION protector_internal.booking_is_long(tstzrange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.booking_is_long(tstzrange) TO authenticated, service_role;
DROP INDEX protector.bookings_during_idx;
CREATE INDEX bookings_long_during_idx ON protector.bookings USING gist (service_id, during)
	WHERE protector_internal.booking_is_long(during);

-- (before the restore triggers below, made from the foreign keys)
-- (no foreign key to the venue: its check share-locked the venue's row
-- under the organization's widget lock, sql/66_widget.sql)
ALTER TABLE protector_internal.widget_requests DROP CONSTRAINT widget_requests_organization_id_venue_id_fkey;

-- A parallel restore offers a row set aside again when the table it waits
-- for has had rows, not after every table's load (15-25 times slower than
-- a serial restore, in an attack review): every restore_order_* function
-- records the table it waits for (sql/98_restore.sql).
DO $restore_waiting$
DECLARE
	t record;
	v_name text;
BEGIN
	FOR t IN
		-- per table, its foreign keys' checks: all of them, and the same
		-- checks naming the table each waits for (NULL: not protector's)
		SELECT k.tbl, k.relname,
			   pg_catalog.string_agg(pg_catalog.format('(%s OR EXISTS (SELECT FROM %s r WHERE %s))',
					k.nulls, k.ref, k.match), E'\n\t   AND ' ORDER BY k.conname) AS checks,
			   pg_catalog.string_agg(pg_catalog.format('WHEN NOT (%s OR EXISTS (SELECT FROM %s r WHERE %s)) THEN %s',
					k.nulls, k.ref, k.match, k.waits_for), E'\n\t\t\t\t\t ' ORDER BY k.conname) AS waits
		FROM (
			SELECT pg_catalog.format('%I.%I', cn.nspname, cl.relname) AS tbl, cl.relname, c.conname,
				   (SELECT pg_catalog.string_agg(pg_catalog.format('NEW.%I IS NULL', a.attname), ' OR ')
					FROM unnest(c.conkey) k JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k) AS nulls,
				   pg_catalog.format('%I.%I', rn.nspname, r.relname) AS ref,
				   (SELECT pg_catalog.string_agg(pg_catalog.format('r.%I OPERATOR(pg_catalog.=) NEW.%I', pa.attname, a.attname), ' AND ')
					FROM unnest(c.conkey, c.confkey) u(fk_att, pk_att)
					JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.fk_att
					JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = u.pk_att) AS match,
				   CASE WHEN rn.nspname IN ('protector', 'protector_internal')
						THEN pg_catalog.format('%L::pg_catalog.regclass', pg_catalog.format('%I.%I', rn.nspname, r.relname))
						ELSE 'NULL' END AS waits_for
			FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class cl ON cl.oid = c.conrelid
			JOIN pg_catalog.pg_namespace cn ON cn.oid = cl.relnamespace
			JOIN pg_catalog.pg_class r ON r.oid = c.confrelid
			JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
			WHERE c.contype = 'f' AND c.confrelid <> c.conrelid
			  AND c.connamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)) k
		GROUP BY k.tbl, k.relname
		ORDER BY k.relname
	LOOP
		v_name := 'restore_order_' || t.relname;
		EXECUTE pg_catalog.format($f$
			CREATE OR REPLACE FUNCTION protector_internal.%I() RETURNS trigger
			LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
			AS $body$
			BEGIN
				IF %s THEN
					RETURN NEW;
				END IF;
				INSERT INTO protector_internal.restore_pending (relid, row_data, waiting_for, reoffered)
				VALUES (TG_RELID, pg_catalog.to_jsonb(NEW),
					CASE %s END,
					pg_catalog.current_setting('protector_internal.reoffering', true) IS NOT DISTINCT FROM 'on');
				RETURN NULL;
			END
			$body$$f$, v_name, t.checks, t.waits);
	END LOOP;
END
$restore_waiting$;

CREATE FUNCTION protector_internal.retry_if_ledger_unseen(p_booking_id uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.hashtextextended(COALESCE(pg_catalog.string_agg(p.id::pg_catalog.text OPERATOR(pg_catalog.||) '' ''
			OPERATOR(pg_catalog.||) p.kind::pg_catalog.text OPERATOR(pg_catalog.||) '' '' OPERATOR(pg_catalog.||) p.status::pg_catalog.text
			OPERATOR(pg_catalog.||) '' '' OPERATOR(pg_catalog.||) p.amount::pg_catalog.text, '','' ORDER BY p.id), ''''), 0)
		 FROM protector.payments p WHERE p.booking_id OPERATOR(pg_catalog.=) $1',
		p_booking_id, 'a payment of this booking was recorded or changed concurrently',
		'This transaction''s snapshot cannot see it, and what the booking was paid and refunded depends on it.');
END
$$;
COMMENT ON FUNCTION protector_internal.retry_if_ledger_unseen(uuid) IS
'Under a transaction snapshot, after the booking''s lock: 40001 when its payments changed since the snapshot';

CREATE FUNCTION protector_internal.check_provider(p_provider text, p_provider_reference text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_provider_reference IS NOT NULL AND p_provider IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_provider_reference needs p_provider: whose reference it is');
	END IF;
	IF pg_catalog.length(p_provider) OPERATOR(pg_catalog.>) 100 OR pg_catalog.length(p_provider_reference) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_provider must be at most 100 characters and p_provider_reference at most 200',
			pg_catalog.format('Got %s and %s characters.', pg_catalog.length(p_provider), COALESCE(pg_catalog.length(p_provider_reference)::text, 'no')));
	END IF;
	IF NOT protector_internal.text_is_clean(p_provider) OR NOT protector_internal.text_is_clean(p_provider_reference) THEN
		PERFORM protector.raise('invalid_parameter', 'p_provider and p_provider_reference hold control or invisible direction characters');
	END IF;
	-- (Unicode's spaces included: a blank reference is a key every later
	-- blank one of that provider collides with)
	IF protector_internal.trim_spaces(p_provider) OPERATOR(pg_catalog.=) ''
	   OR protector_internal.trim_spaces(p_provider_reference) OPERATOR(pg_catalog.=) '' THEN
		PERFORM protector.raise('invalid_parameter', 'p_provider and p_provider_reference must not be blank',
			'A blank reference is a key every other blank one of the provider collides with.', 'Pass NULL for none.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_provider(text, text) IS
'Refuses a provider reference without a provider, ones too long, blank or holding control or direction characters (22023); given values only: a row stored before keeps what it has';

CREATE FUNCTION protector_internal.payment_answer(p_payment protector.payments, p_replayed boolean)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.to_jsonb(p_payment) OPERATOR(pg_catalog.||) (
	SELECT pg_catalog.jsonb_build_object('replayed', p_replayed, 'booking_total', b.total_price,
										 'amount_paid', b.amount_paid, 'balance_due', b.balance_due,
										 'booking_status', b.status)
	FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_payment.booking_id);
COMMENT ON FUNCTION protector_internal.payment_answer(protector.payments, boolean) IS
'record_payment''s and settle_payment''s answer: the payment, replayed, and its booking''s total, amount paid, balance and status';

CREATE FUNCTION protector.settle_payment(
	p_payment_id uuid,
	p_status protector.payment_status DEFAULT 'succeeded',
	p_provider text DEFAULT NULL,
	p_provider_reference text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_payment protector.payments;
	v_settled protector.payments;
	v_constraint text;
	v_schema text;
	v_table text;
BEGIN
	PERFORM protector_internal.authorize_row('protector.payments', p_payment_id, 'payments.create', 'payment');
	IF p_status IS NULL OR p_status OPERATOR(pg_catalog.=) 'pending' THEN
		PERFORM protector.raise('invalid_parameter', 'p_status must be succeeded or failed',
			pg_catalog.format('Got %s.', COALESCE(p_status::text, 'null')));
	END IF;
	-- the booking locked first, as every write of its payments does
	-- (check_payment, erase_customer's scrub of its payments' details; a
	-- direct UPDATE or DELETE alone locks the row before its booking), then
	-- the payment read again: a concurrent write may have changed it, or
	-- deleted it (its booking id is then null, and so not found)
	PERFORM protector_internal.authorize_row('protector.bookings',
		(SELECT p.booking_id FROM protector.payments p WHERE p.id OPERATOR(pg_catalog.=) p_payment_id),
		'payments.create', 'payment', true);
	SELECT * INTO v_payment FROM protector.payments p WHERE p.id OPERATOR(pg_catalog.=) p_payment_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'payment not found');
	END IF;
	-- what is given is judged, not what the row holds (0.1.0 stored blank
	-- providers and control characters: such a row is still settled); a
	-- reference given alone is of the row's provider ('stored' stands for
	-- it where the row has one)
	PERFORM protector_internal.check_provider(
		COALESCE(p_provider, CASE WHEN v_payment.provider IS NOT NULL THEN 'stored' END), p_provider_reference);
	-- a provider or reference given is the row's own, or fills what a
	-- pending row lacks (a settled one keeps what it has)
	IF (p_provider IS NOT NULL
		AND (v_payment.provider IS NULL OR p_provider OPERATOR(pg_catalog.<>) v_payment.provider)
		AND (v_payment.provider IS NOT NULL OR v_payment.status OPERATOR(pg_catalog.<>) 'pending'))
	   OR (p_provider_reference IS NOT NULL
		   AND (v_payment.provider_reference IS NULL OR p_provider_reference OPERATOR(pg_catalog.<>) v_payment.provider_reference)
		   AND (v_payment.provider_reference IS NOT NULL OR v_payment.status OPERATOR(pg_catalog.<>) 'pending')) THEN
		PERFORM protector.raise('conflict', 'this payment has another provider reference',
			pg_catalog.format('It has %s and %s.',
							  COALESCE('provider ' OPERATOR(pg_catalog.||) v_payment.provider, 'no provider'),
							  COALESCE('reference ' OPERATOR(pg_catalog.||) v_payment.provider_reference, 'no reference')),
			'Leave p_provider and p_provider_reference out, or name the payment''s own: a settled payment keeps what it has.');
	END IF;
	-- the same outcome again (a retry) answers with it
	IF v_payment.status OPERATOR(pg_catalog.=) p_status THEN
		RETURN protector_internal.payment_answer(v_payment, true);
	END IF;
	-- a pending payment with a provider reference is its provider's to
	-- settle: the webhook of its outcome, through record_payment
	IF v_payment.status OPERATOR(pg_catalog.=) 'pending' AND v_payment.provider_reference IS NOT NULL THEN
		PERFORM protector.raise('conflict', 'this payment is settled by its provider''s webhook',
			pg_catalog.format('It is %s %s, pending.', v_payment.provider, v_payment.provider_reference),
			'record_payment with that provider reference records its outcome; an owner or admin corrects a payment the provider lost.');
	END IF;
	IF v_payment.status OPERATOR(pg_catalog.<>) 'pending' THEN
		PERFORM protector.raise('conflict', pg_catalog.format('this payment was recorded as %s', v_payment.status),
			pg_catalog.format('Payment %s cannot become %s.', v_payment.id, p_status),
			'A payment goes from pending to succeeded or failed once; money given back is a refund.');
	END IF;
	BEGIN
		v_settled := protector_internal.settle_payment(v_payment.id, v_payment.booking_id, p_status,
													   p_provider, p_provider_reference);
	EXCEPTION WHEN unique_violation THEN
		GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
		IF pg_catalog.concat_ws('.', v_schema, v_table, v_constraint) OPERATOR(pg_catalog.<>) 'protector.payments.payments_provider_reference_idx' THEN
			RAISE;
		END IF;
		PERFORM protector.raise('conflict', 'this provider reference was recorded for another payment',
			pg_catalog.format('%s %s names another payment of the organization.', COALESCE(p_provider, v_payment.provider),
							  p_provider_reference),
			'A provider reference names one payment; check the provider''s record.');
	END;
	RETURN protector_internal.payment_answer(v_settled, false);
END
$$;
COMMENT ON FUNCTION protector.settle_payment(uuid, protector.payment_status, text, text) IS
'Settles a pending payment or refund as succeeded or failed (owners, admins, finance), recording its provider and reference where it has none; a retry answers with it; answers with the booking''s amount paid and balance';

REVOKE ALL ON FUNCTION protector.settle_payment(uuid, protector.payment_status, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	protector.settle_payment(uuid, protector.payment_status, text, text),
	protector_internal.check_provider(text, text),
	protector_internal.payment_answer(protector.payments, boolean)
TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector.get_venue_schedule(p_venue_id uuid, p_from date DEFAULT NULL, p_to date DEFAULT NULL)
RETURNS TABLE (local_date date, opens_at timestamptz, closes_at timestamptz, kind text)
AS 'MODULE_PATHNAME', 'protector_get_venue_schedule'
LANGUAGE C STABLE PARALLEL SAFE ROWS 14;
COMMENT ON FUNCTION protector.get_venue_schedule(uuid, date, date) IS
'The venue''s openings per local day (weekly, always, special, closed), p_from default the venue''s local today, p_to default p_from + 6, at most 93 days';

CREATE FUNCTION protector_internal.times_text(p_times integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE p_times WHEN 1 THEN 'once' WHEN 2 THEN 'twice'
				ELSE pg_catalog.format('%s times', p_times) END;
COMMENT ON FUNCTION protector_internal.times_text(integer) IS
'"once", "twice" or "<n> times", for messages';

CREATE FUNCTION protector_internal.thread_side(p_organization_id uuid, p_booking_id uuid)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (on a booking of their own a member is its customer, as they sign
	-- its waivers: an agent's question to the desk about their own
	-- booking was a staff message the desk never had to answer)
	IF protector_internal.caller_is_trusted() THEN
		RETURN 'staff';
	ELSIF protector_internal.customer_owns_booking(p_organization_id, p_booking_id) THEN
		RETURN 'customer';
	ELSIF protector_internal.staff_may_message(p_organization_id, p_booking_id) THEN
		RETURN 'staff';
	END IF;
	PERFORM protector.raise('forbidden', 'your role may not read this booking''s messages',
		'The thread is for the desk, the booking''s agent and its customer (messages.read, messages.send).');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.thread_side(uuid, uuid) IS
'The caller''s side of a booking''s thread (staff or customer); 42501 for anyone else who sees the booking';
GRANT EXECUTE ON FUNCTION protector_internal.thread_side(uuid, uuid) TO authenticated, service_role;

CREATE FUNCTION protector_internal.has_letters_or_digits(p_name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_has_letters_or_digits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.has_letters_or_digits(text) IS
'Does the text hold a letter or decimal digit of any script (ICU)?';

CREATE FUNCTION protector_internal.stamp_task_completion()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.status OPERATOR(pg_catalog.<>) 'done' THEN
		NEW.completed_at := NULL;
	ELSIF protector_internal.caller_is_trusted() AND NEW.completed_at IS NOT NULL THEN
		RETURN NEW;
	ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND OLD.status OPERATOR(pg_catalog.=) 'done' THEN
		NEW.completed_at := OLD.completed_at;
	ELSE
		NEW.completed_at := pg_catalog.now();
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.stamp_task_completion() IS
'Trigger: a task''s completed_at is when it became done (NULL while not done); only trusted callers give it';

CREATE FUNCTION protector_internal.check_shift_note()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.note OPERATOR(pg_catalog.<>) OLD.note OR OLD.note IS NULL THEN
		-- (stored as it is measured: 2000 characters and a space were
		-- measured as 2000 and then failed the column's CHECK, 23514)
		NEW.note := protector_internal.trim_spaces(NEW.note);
		PERFORM protector_internal.check_text(NEW.note, 'note', 1, 2000);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_shift_note() IS
'Trigger: a new shift note is 1 to 2000 characters of plain text, as create_staff_schedule''s p_note';

CREATE FUNCTION protector_internal.drop_expired_invitation(p_organization_id uuid, p_email_key text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.manage')) THEN
		DELETE FROM protector.staff_invitations x
		WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.accepted_at IS NULL
		  AND x.email_key OPERATOR(pg_catalog.=) p_email_key AND x.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now();
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.drop_expired_invitation(uuid, text) IS
'Deletes the expired open invitation of an address for a caller who invites members (members.manage), owners'' included';

CREATE TRIGGER stamp_task_completion BEFORE INSERT OR UPDATE OF status, completed_at ON protector.tasks
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.stamp_task_completion();
CREATE TRIGGER check_shift_note BEFORE INSERT OR UPDATE OF note ON protector.staff_shifts
	FOR EACH ROW WHEN (NEW.note IS NOT NULL AND NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('shifts.manage'))))
	EXECUTE FUNCTION protector_internal.check_shift_note();
GRANT EXECUTE ON FUNCTION
	protector_internal.has_letters_or_digits(text),
	protector_internal.drop_expired_invitation(uuid, text)
TO authenticated, service_role;

CREATE FUNCTION protector_internal.check_promo_scope(p_service_ids uuid[], p_description text, p_prefix text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_service_ids IS NOT NULL AND (pg_catalog.cardinality(p_service_ids) NOT BETWEEN 1 AND 1000
									  OR pg_catalog.array_ndims(p_service_ids) OPERATOR(pg_catalog.<>) 1
									  OR pg_catalog.array_position(p_service_ids, NULL) IS NOT NULL) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%sservice_ids must list 1 to 1000 services, or be null for every service', p_prefix));
	END IF;
	IF p_description IS NOT NULL AND NOT protector_internal.lines_are_clean(p_description) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%sdescription holds control or invisible direction characters', p_prefix));
	END IF;
	IF p_description IS NOT NULL AND pg_catalog.length(p_description) OPERATOR(pg_catalog.>) 2000 THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%sdescription must be at most 2000 characters', p_prefix));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_promo_scope(uuid[], text, text) IS
'Refuses a promo code''s services list or description by name (22023): 1 to 1000 services without NULLs, a plain description of at most 2000 characters';
GRANT EXECUTE ON FUNCTION protector_internal.check_promo_scope(uuid[], text, text) TO authenticated, service_role;

CREATE FUNCTION protector_internal.minutes_of(p_interval interval)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.trim_scale(GREATEST(pg_catalog.round(pg_catalog.extract('epoch', p_interval) OPERATOR(pg_catalog./) 60, 4),
									  CASE WHEN p_interval OPERATOR(pg_catalog.>) '0'::pg_catalog.interval THEN 0.0001 END));
COMMENT ON FUNCTION protector_internal.minutes_of(interval) IS
'An interval in minutes, whole or to four decimal places, a positive one at least 0.0001 (the widget''s lengths)';

CREATE OR REPLACE FUNCTION protector.get_venue_services(p_embed_key text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues := protector_internal.venue_for_embed_key(p_embed_key);
BEGIN
	RETURN COALESCE((
		SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
				'id', s.id, 'name', s.name, 'description', s.description, 'mode', s.mode,
				-- (a length of part-minutes in fractions: whole-number
				-- division showed a 30-second service as 0 minutes)
				'duration_minutes', protector_internal.minutes_of(s.duration),
				'slot_interval_minutes', protector_internal.minutes_of(s.slot_interval),
				'capacity', s.capacity, 'min_party', s.min_party,
				'max_party', COALESCE(s.max_party, s.capacity),
				'price', s.price, 'price_per_person', s.price_per_person, 'currency', s.currency)
			ORDER BY s.name, s.id)
		FROM protector.services s
		WHERE s.organization_id OPERATOR(pg_catalog.=) v.organization_id
		  AND s.venue_id OPERATOR(pg_catalog.=) v.id AND s.active), '[]');
END
$$;
COMMENT ON FUNCTION protector.get_venue_services(text) IS
'Widget: the venue''s active services with duration, party sizes and prices';

CREATE FUNCTION protector_internal.names_text(p_names text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT pg_catalog.string_agg(pg_catalog.left(n, 50), ', ' ORDER BY i)
		FROM pg_catalog.unnest(p_names[1:10]) WITH ORDINALITY u(n, i))
	   OPERATOR(pg_catalog.||)
	   CASE WHEN pg_catalog.cardinality(p_names) OPERATOR(pg_catalog.>) 10
			THEN pg_catalog.format(' and %s more', pg_catalog.cardinality(p_names) OPERATOR(pg_catalog.-) 10) ELSE '' END;
COMMENT ON FUNCTION protector_internal.names_text(text[]) IS
'The first ten names, each cut to 50 characters, and how many more (for messages); NULL for none';
GRANT EXECUTE ON FUNCTION protector_internal.names_text(text[]) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.authorize(p_organization_id uuid, p_action text,
											 p_entity text DEFAULT 'organization')
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_authorize_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.authorize(uuid, text, text) IS
'True if the caller may do p_action in the organization; else 42501 for its members, "<p_entity> not found" for everyone else (22023 for a NULL p_organization_id)';

-- the identity key follows a write of itself too
DROP TRIGGER customers_identity_key ON protector.customers;
CREATE TRIGGER customers_identity_key BEFORE INSERT OR UPDATE OF email, identity_key ON protector.customers
	FOR EACH ROW EXECUTE FUNCTION protector_internal.set_customer_identity_key();

CREATE FUNCTION protector_internal.keep_organization_currency()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (the row locked against the key-share lock a booking's and a
	-- service's foreign keys take: one going in now is waited for and then
	-- seen; a booking needs a service in its currency, which any snapshot
	-- sees)
	PERFORM FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) OLD.id FOR UPDATE;
	-- (under REPEATABLE READ the snapshot misses a service it waited for)
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.services s WHERE s.organization_id OPERATOR(pg_catalog.=) $1', OLD.id,
		'a service was created while the currency changed', NULL);
	IF EXISTS (SELECT FROM protector.services s
			   WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.id AND s.currency OPERATOR(pg_catalog.=) OLD.currency)
	   OR EXISTS (SELECT FROM protector.bookings b
				  WHERE b.organization_id OPERATOR(pg_catalog.=) OLD.id AND b.currency OPERATOR(pg_catalog.=) OLD.currency)
	   OR EXISTS (SELECT FROM protector.payments p
				  WHERE p.organization_id OPERATOR(pg_catalog.=) OLD.id AND p.currency OPERATOR(pg_catalog.=) OLD.currency) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('currency cannot change from %s: the organization has services, bookings or payments in it', OLD.currency),
			pg_catalog.format('Reports, dashboards and analytics count money in the organization''s currency; what is in %s would drop out of them, and so would the bookings of services still priced in it.', OLD.currency),
			-- (services can move to the new currency; bookings and payments
			-- keep theirs, so an organization with them keeps its own: the
			-- hint said to change the services first, which never sufficed)
			CASE WHEN EXISTS (SELECT FROM protector.bookings b
							  WHERE b.organization_id OPERATOR(pg_catalog.=) OLD.id AND b.currency OPERATOR(pg_catalog.=) OLD.currency)
					  OR EXISTS (SELECT FROM protector.payments p
								 WHERE p.organization_id OPERATOR(pg_catalog.=) OLD.id AND p.currency OPERATOR(pg_catalog.=) OLD.currency)
				 THEN pg_catalog.format('Bookings and payments keep the currency they were made in: an organization that has them in %s keeps it; another currency needs an organization of its own.', OLD.currency)
				 ELSE 'Change the services'' currency first (update_service).' END);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_organization_currency() IS
'Trigger: an organization''s currency does not change while bookings or payments are in it (reports count money in it)';

CREATE FUNCTION protector_internal.keep_required_waiver()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_services text;
	v_active boolean;
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'services' THEN
		-- (a write that keeps the service's waiver is not judged)
		IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.waiver_id OPERATOR(pg_catalog.=) OLD.waiver_id THEN
			RETURN NEW;
		END IF;
		-- (the waiver's row share-locked: a retirement under way is waited
		-- for and then seen; one under REPEATABLE READ retries, 40001)
		SELECT w.active INTO v_active FROM protector.waivers w
		WHERE w.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND w.id OPERATOR(pg_catalog.=) NEW.waiver_id
		FOR SHARE;
		IF NOT v_active THEN
			PERFORM protector.raise('invalid_parameter', 'a service cannot ask for a retired waiver',
				pg_catalog.format('Waiver %s is retired (active is false): it takes no signatures.', NEW.waiver_id),
				'Ask for an active waiver, or none.');
		END IF;
		RETURN NEW;
	END IF;
	-- (a service pointed at it at the same moment share-locked this row:
	-- waited for, and under REPEATABLE READ told to retry when missed)
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.services s WHERE s.waiver_id OPERATOR(pg_catalog.=) $1', OLD.id,
		'a service was pointed at this waiver concurrently', NULL);
	v_services := protector_internal.names_text(ARRAY(
		SELECT s.name FROM protector.services s
		WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND s.waiver_id OPERATOR(pg_catalog.=) OLD.id
		ORDER BY s.name));
	IF v_services IS NOT NULL AND TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('waiver "%s" cannot be deleted while services ask for it', OLD.name),
			DETAIL = pg_catalog.format('Services: %s.', v_services),
			HINT = 'Point them to another waiver, or none (waiver_id null), first.';
	ELSIF v_services IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('waiver "%s" cannot be retired while services ask for it', OLD.name),
			pg_catalog.format('Services: %s.', v_services), 'Point them to another waiver, or none (waiver_id null), first.');
	END IF;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_required_waiver() IS
'Trigger: a waiver services ask for is neither retired nor deleted, and no service asks for a retired one';
CREATE TRIGGER keep_organization_currency BEFORE UPDATE OF currency ON protector.organizations
	FOR EACH ROW WHEN (NEW.currency IS DISTINCT FROM OLD.currency AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_organization_currency();
-- (after the row passed the insert or update policy: a service written
-- into another organization meets the policy, and is never told whether
-- that organization's waiver is retired, nor waits for it)
CREATE TRIGGER keep_required_waiver AFTER INSERT OR UPDATE OF waiver_id ON protector.services
	FOR EACH ROW WHEN (NEW.waiver_id IS NOT NULL AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_required_waiver();
CREATE TRIGGER keep_required_waiver_active BEFORE UPDATE OF active ON protector.waivers
	FOR EACH ROW WHEN (OLD.active AND NOT NEW.active AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_required_waiver();
CREATE TRIGGER keep_required_waiver BEFORE DELETE ON protector.waivers
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_required_waiver();

CREATE FUNCTION protector_internal.key_of_accounts(p_key text, p_users uuid[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN COALESCE(pg_catalog.starts_with(p_key, 'customer/')
				AND pg_catalog.split_part(p_key, '/', 2) OPERATOR(pg_catalog.=) ANY (p_users::text[]), false);
COMMENT ON FUNCTION protector_internal.key_of_accounts(text, uuid[]) IS
'Is a booking''s request key a signed-in customer''s (customer/<user id>/...) of one of these accounts';

-- customers.identity_key and staff_invitations.email_key are the e-mail
-- normalized: a database that masks the e-mail in its audit masks the key
-- with it from now on
SELECT protector.enable_audit(s.table_name, s.masked)
FROM protector_internal.audit_settings s
WHERE s.audited AND s.masked IS DISTINCT FROM protector_internal.audit_masks(s.table_name, s.masked);

CREATE OR REPLACE FUNCTION protector.get_audit_logs(
	p_table regclass DEFAULT NULL,
	p_from timestamptz DEFAULT NULL,
	p_to timestamptz DEFAULT NULL,
	p_limit integer DEFAULT 100,
	p_organization_id uuid DEFAULT NULL)
RETURNS SETOF protector.audit_log
LANGUAGE plpgsql STABLE
-- (the table's name as the log keeps it: under quote_all_identifiers
-- format('%I.%I') wrote "protector"."customers" and found nothing)
SET search_path = pg_catalog, pg_temp SET quote_all_identifiers = off
AS $$
DECLARE
	v_table text;
	v_org uuid := p_organization_id;
	v_orgs uuid[];
BEGIN
	IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 10000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_limit must be between 1 and 10000',
								format('p_limit was %s.', COALESCE(p_limit::text, 'null')));
	END IF;
	IF p_from IS NOT NULL AND p_to IS NOT NULL AND p_from >= p_to THEN
		PERFORM protector.raise('invalid_parameter', 'p_from must be before p_to');
	END IF;
	IF p_from IN ('-infinity', 'infinity') OR p_to IN ('-infinity', 'infinity') THEN
		PERFORM protector.raise('invalid_parameter', 'p_from and p_to must be finite (or null for no bound)');
	END IF;
	IF NOT protector_internal.caller_is_trusted() THEN
		-- (an organization asked for by id is asked about itself: the
		-- caller's role elsewhere says nothing of it)
		IF p_organization_id IS NOT NULL THEN
			PERFORM protector_internal.authorize(p_organization_id, 'audit.read');
		END IF;
		v_orgs := protector_internal.orgs_with('audit.read');
		IF cardinality(v_orgs) = 0 THEN
			PERFORM protector.raise('forbidden', 'only owners and admins can read the audit log');
		END IF;
		-- one organization (the usual case): an equality lets the index on
		-- (organization_id, occurred_at) deliver the newest rows first
		IF v_org IS NULL AND cardinality(v_orgs) = 1 THEN
			v_org := v_orgs[1];
		END IF;
	END IF;
	IF p_table IS NOT NULL THEN
		SELECT format('%I.%I', n.nspname, c.relname) INTO v_table
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = p_table;
		IF NOT FOUND THEN
			PERFORM protector.raise('not_found', format('table with OID %s does not exist', p_table::oid));
		END IF;
	END IF;
	-- only the conditions in use, so each call is planned for its filters
	-- (fixed fragments; every value is a parameter)
	RETURN QUERY EXECUTE
		'SELECT l.* FROM protector.audit_log l WHERE true'
		|| CASE WHEN v_table IS NOT NULL THEN ' AND l.table_name = $1' ELSE '' END
		|| CASE WHEN p_from IS NOT NULL THEN ' AND l.occurred_at >= $2' ELSE '' END
		|| CASE WHEN p_to IS NOT NULL THEN ' AND l.occurred_at < $3' ELSE '' END
		|| CASE WHEN v_org IS NOT NULL THEN ' AND l.organization_id = $4' ELSE '' END
		|| ' ORDER BY l.occurred_at DESC, l.id DESC LIMIT $5'
		USING v_table, p_from, p_to, v_org, p_limit;
END
$$;
COMMENT ON FUNCTION protector.get_audit_logs(regclass, timestamptz, timestamptz, integer, uuid) IS
'Audit history visible to the caller (owners and admins: their organizations), newest first';

CREATE FUNCTION protector_internal.idempotency_key_taken(p_organization_id uuid, p_key text)
RETURNS boolean
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
	-- (only a signed-in customer's own keys, customer/<their id>/...: the
	-- staff who book for others see every booking, and nobody learns of a
	-- key that is not theirs)
	SELECT pg_catalog.starts_with(p_key, 'customer/' OPERATOR(pg_catalog.||) protector.current_user_id()::text OPERATOR(pg_catalog.||) '/')
		   AND EXISTS (SELECT FROM protector.bookings b
					   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
						 AND b.idempotency_key OPERATOR(pg_catalog.=) p_key)
$$;
COMMENT ON FUNCTION protector_internal.idempotency_key_taken(uuid, text) IS
'Whether a booking of the organization holds the request key, under the transaction''s snapshot, past RLS';

REVOKE ALL ON FUNCTION protector_internal.idempotency_key_taken(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.idempotency_key_taken(uuid, text) TO authenticated, service_role;

CREATE FUNCTION protector_internal.lock_row(p_table regclass, p_id uuid, p_entity text)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_row_sql'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.lock_row(regclass, uuid, text) IS
'Locks a row of protector''s table FOR UPDATE as its owner, waiting at most protector.lock_timeout (40001 "the <p_entity> is busy"); granted to nobody';

CREATE FUNCTION protector_internal.lock_widget_bookings(p_organization_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_widget_bookings'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.lock_widget_bookings(uuid) IS
'Takes the organization''s widget lock (classid 1886547715), waiting at most protector.lock_timeout (40001)';

CREATE FUNCTION protector_internal.iso_text(p_date date)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_date IS NULL THEN 'NULL'
			WHEN p_date OPERATOR(pg_catalog.<) '0001-01-01' OR p_date OPERATOR(pg_catalog.>) '9999-12-31' THEN p_date::text
			ELSE pg_catalog.to_char(p_date, 'YYYY-MM-DD') END;
COMMENT ON FUNCTION protector_internal.iso_text(date) IS
'A date as messages quote it: YYYY-MM-DD whatever the caller''s DateStyle within the years 1 to 9999 (NULL as NULL)';

CREATE FUNCTION protector_internal.iso_text(p_time timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_time IS NULL THEN 'NULL'
			WHEN NOT pg_catalog.isfinite(p_time) OR p_time OPERATOR(pg_catalog.<) '0001-01-01 00:00+00' THEN p_time::text
			-- (fractions of a second as far as they go: two times a
			-- refusal sets side by side may differ by less than a second)
			ELSE pg_catalog.rtrim(pg_catalog.rtrim(pg_catalog.to_char(p_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '0'), '.')
				 OPERATOR(pg_catalog.||) '+00' END;
COMMENT ON FUNCTION protector_internal.iso_text(timestamptz) IS
'A time as messages quote it: YYYY-MM-DD HH:MI:SS[.fraction]+00 in UTC whatever the caller''s DateStyle and TimeZone within the years 1 to 9999 (NULL as NULL)';
CREATE FUNCTION protector_internal.iso_text(p_range tstzrange)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_range IS NULL THEN 'NULL'
			WHEN pg_catalog.isempty(p_range) THEN 'empty'
			ELSE CASE WHEN pg_catalog.lower_inc(p_range) THEN '[' ELSE '(' END
				 OPERATOR(pg_catalog.||) CASE WHEN pg_catalog.lower_inf(p_range) THEN ''
											  ELSE protector_internal.iso_text(pg_catalog.lower(p_range)) END
				 OPERATOR(pg_catalog.||) ', '
				 OPERATOR(pg_catalog.||) CASE WHEN pg_catalog.upper_inf(p_range) THEN ''
											  ELSE protector_internal.iso_text(pg_catalog.upper(p_range)) END
				 OPERATOR(pg_catalog.||) CASE WHEN pg_catalog.upper_inc(p_range) THEN ']' ELSE ')' END END;
COMMENT ON FUNCTION protector_internal.iso_text(tstzrange) IS
'A range of times as messages quote it: [YYYY-MM-DD HH:MI:SS+00, ...) in UTC whatever the caller''s DateStyle and TimeZone, bounds within the years 1 to 9999 (NULL as NULL)';
REVOKE ALL ON FUNCTION protector_internal.iso_text(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION protector_internal.iso_text(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION protector_internal.iso_text(tstzrange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.iso_text(date), protector_internal.iso_text(timestamptz), protector_internal.iso_text(tstzrange)
	TO authenticated, service_role;

CREATE FUNCTION protector_internal.widget_replay(v protector.venues, p_identity text, p_email text, p_key text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- (per venue: the same key at another venue of the organization is
	-- another booking, not a replay of this one under that venue's name)
	v_key_tail text := '/' OPERATOR(pg_catalog.||) v.id::text OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_key;
	v_key text := 'widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(p_identity) OPERATOR(pg_catalog.||) v_key_tail;
	v_booking jsonb;
BEGIN
	-- (a booking made before the address was keyed by identity_key has
	-- its lower()-cased address's, in the database's collation, not the
	-- one a caller's arguments carry: a retry across that change replays
	-- it; so is a booking of this venue with 0.1.0's key, without the
	-- venue, which a request in flight during ALTER EXTENSION UPDATE
	-- wrote with 0.1.0's code after the update had rewritten the others.
	-- A key hashes an address, and two the desk keeps apart can lower()
	-- alike into another's key: only the visitor's own booking, its
	-- customer's identity theirs, is replayed.)
	SELECT protector_internal.booking_shape(b, true) INTO v_booking FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) v.organization_id
	  AND (b.idempotency_key OPERATOR(pg_catalog.=) ANY (ARRAY[v_key,
				'widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(pg_catalog.lower(p_email COLLATE pg_catalog."default")) OPERATOR(pg_catalog.||) v_key_tail])
		   OR (b.venue_id OPERATOR(pg_catalog.=) v.id
			   AND b.idempotency_key OPERATOR(pg_catalog.=) ('widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(pg_catalog.lower(p_email COLLATE pg_catalog."default"))
				   OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_key)))
	  AND EXISTS (SELECT FROM protector.customers c
				  WHERE c.organization_id OPERATOR(pg_catalog.=) v.organization_id
					AND c.identity_key OPERATOR(pg_catalog.=) p_identity
					-- (or a record of the address merged into the booking's:
					-- the merge said they are one person, and a booking of the
					-- address goes to the record it was merged into)
					AND (c.id OPERATOR(pg_catalog.=) b.customer_id OR c.merged_into OPERATOR(pg_catalog.=) b.customer_id))
	ORDER BY b.idempotency_key OPERATOR(pg_catalog.=) v_key DESC LIMIT 1;
	-- this visitor's key, in any of those forms, on a booking that is not
	-- theirs (another address that lower()s into theirs): neither replayed
	-- nor booked under it (with 0.1.0's form, another visitor's request
	-- booked again)
	IF v_booking IS NULL AND EXISTS (
			SELECT FROM protector.bookings b
			WHERE b.organization_id OPERATOR(pg_catalog.=) v.organization_id
			  AND (b.idempotency_key OPERATOR(pg_catalog.=) ANY (ARRAY[v_key,
						'widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(pg_catalog.lower(p_email COLLATE pg_catalog."default")) OPERATOR(pg_catalog.||) v_key_tail])
				   OR (b.venue_id OPERATOR(pg_catalog.=) v.id
					   AND b.idempotency_key OPERATOR(pg_catalog.=) ('widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(pg_catalog.lower(p_email COLLATE pg_catalog."default"))
						   OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_key)))) THEN
		PERFORM protector.raise('conflict', 'this request key belongs to another booking',
			'A booking whose guest record is not this address''s holds it: one the venue has given another customer since, or another visitor''s, made before the widget keyed bookings by the address as the desk does.',
			'If the booking was yours, ask the venue; else send it again with a new p_idempotency_key.');
	END IF;
	RETURN v_booking;
END
$$;
COMMENT ON FUNCTION protector_internal.widget_replay(protector.venues, text, text, text) IS
'A widget visitor''s own booking of the venue under the request key (NULL if none); 23P01 when the key is another booking''s';

CREATE FUNCTION protector_internal.widget_limits(v protector.venues, p_identity text, p_address inet)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit integer := protector_internal.widget_setting(v.widget_settings, 'bookings_per_minute', 30, 0, 100000);
	v_per_visitor integer := protector_internal.widget_setting(v.widget_settings, 'visitor_bookings_per_hour', 5, 1, 100000);
	v_per_address integer := protector_internal.widget_setting(v.widget_settings, 'address_bookings_per_hour', 20, 1, 100000);
	v_recent integer;
	v_by_visitor integer;
	v_by_address integer;
BEGIN
	IF v_limit OPERATOR(pg_catalog.=) 0 THEN
		PERFORM protector.raise('forbidden', 'this venue does not take bookings through its widget',
			'Its widget_settings.bookings_per_minute is 0.');
	END IF;
	SELECT pg_catalog.count(*) INTO v_recent FROM protector.bookings b
	WHERE b.venue_id OPERATOR(pg_catalog.=) v.id AND b.source OPERATOR(pg_catalog.=) 'widget'
	  AND b.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 minute');
	IF v_recent OPERATOR(pg_catalog.>=) v_limit THEN
		PERFORM protector.raise('rate_limited', 'too many bookings through this widget; try again in a minute',
			pg_catalog.format('This venue takes at most %s widget bookings per minute.', v_limit));
	END IF;
	SELECT pg_catalog.count(*) FILTER (WHERE w.identity_key OPERATOR(pg_catalog.=) p_identity),
		   pg_catalog.count(*) FILTER (WHERE w.client_address OPERATOR(pg_catalog.=) p_address)
	INTO v_by_visitor, v_by_address
	FROM protector_internal.widget_requests w
	WHERE w.organization_id OPERATOR(pg_catalog.=) v.organization_id AND w.venue_id OPERATOR(pg_catalog.=) v.id
	  AND w.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 hour');
	IF v_by_visitor OPERATOR(pg_catalog.>=) v_per_visitor OR v_by_address OPERATOR(pg_catalog.>=) v_per_address THEN
		PERFORM protector.raise('rate_limited', 'too many bookings from you through this widget; try again later',
			pg_catalog.format('This venue takes at most %s widget bookings per hour from one e-mail address and %s from one network address.',
				v_per_visitor, v_per_address));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.widget_limits(protector.venues, text, inet) IS
'Refuses a widget booking the venue does not take (42501) or over its per-minute, per-visitor or per-address limit (53400)';

-- reservation_check on every update (sql/70_reservations.sql): a BEFORE
-- UPDATE trigger of an operator's own that changed a booking's time was
-- not followed by the check (UPDATE OF reads the statement's SET list)
DROP TRIGGER reservation_check ON protector.bookings;
CREATE CONSTRAINT TRIGGER reservation_check
	AFTER INSERT OR UPDATE
	ON protector.bookings
	NOT DEFERRABLE
	FOR EACH ROW EXECUTE FUNCTION protector.reservation_check();

CREATE FUNCTION protector_internal.link_auth_users_now()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
								   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
								   WHERE n.nspname OPERATOR(pg_catalog.=) 'protector'
									 AND c.relname OPERATOR(pg_catalog.=) 'members'), 'USAGE') THEN
		RETURN false;
	END IF;
	IF NOT protector_internal.lock_for_restore('{protector.members,protector.customers}', 'SHARE ROW EXCLUSIVE') THEN
		RETURN false;
	END IF;
	PERFORM protector_internal.link_auth_users();
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector_internal.link_auth_users_now() IS
'During a restore: links members and customers to auth.users unless another session holds them (false)';

CREATE FUNCTION protector_internal.loads_running()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pg_catalog.pg_stat_clear_snapshot();
	RETURN EXISTS (SELECT FROM pg_catalog.pg_stat_activity a
				   WHERE a.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
					 AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
					 AND protector_internal.is_load(a.state, a.query));
END
$$;
COMMENT ON FUNCTION protector_internal.loads_running() IS
'Another session of this database is loading one of protector''s tables (COPY or INSERT into them)';

CREATE FUNCTION protector_internal.lock_for_restore(p_tables regclass[], p_mode text,
												   p_wait_for_loads boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_order regclass[] := p_tables;
	v_session_timeout text := pg_catalog.current_setting('lock_timeout');
	v_limit interval := '1 minute';
	v_turn interval;
	v_waited interval := '0';
	v_since timestamptz;
	v_loads boolean;
	v_table regclass;
	v_busy regclass;
	v_gave_up boolean := pg_catalog.current_setting('protector_internal.restore_waits', true)
						 OPERATOR(pg_catalog.=) 'off';
BEGIN
	IF p_mode OPERATOR(pg_catalog.<>) ALL ('{SHARE ROW EXCLUSIVE,ACCESS EXCLUSIVE}') THEN
		RAISE EXCEPTION 'protector: lock_for_restore takes SHARE ROW EXCLUSIVE or ACCESS EXCLUSIVE, not %', p_mode
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_catalog.current_setting('session_replication_role') OPERATOR(pg_catalog.=) 'replica' THEN
		PERFORM pg_catalog.pg_advisory_xact_lock(1886547716, 0);
		EXECUTE pg_catalog.format('LOCK TABLE %s IN %s MODE', pg_catalog.array_to_string(p_tables, ', '), p_mode);
		RETURN true;
	END IF;
	IF v_session_timeout::interval OPERATOR(pg_catalog.>) '0'::interval THEN
		v_limit := LEAST(v_limit, v_session_timeout::interval);
	END IF;
	IF v_gave_up THEN
		v_limit := '0';		-- this session gave up waiting once
	END IF;
	LOOP
		v_loads := NULL;
		v_busy := NULL;
		v_since := pg_catalog.clock_timestamp();
		BEGIN
			PERFORM pg_catalog.pg_advisory_xact_lock(1886547716, 0);
			v_loads := protector_internal.loads_running();
			v_turn := LEAST(pg_catalog.current_setting('deadlock_timeout')::interval OPERATOR(pg_catalog.*) 1.5,
							v_limit OPERATOR(pg_catalog.-) v_waited);
			IF NOT v_loads AND v_turn OPERATOR(pg_catalog.>) '0'::interval THEN
				v_busy := v_order[1];
				PERFORM pg_catalog.set_config('lock_timeout',
					pg_catalog.ceil(EXTRACT(EPOCH FROM v_turn) OPERATOR(pg_catalog.*) 1000)::bigint::text, true);
				EXECUTE pg_catalog.format('LOCK TABLE %s IN %s MODE', v_busy, p_mode);
				PERFORM pg_catalog.set_config('lock_timeout', v_session_timeout, true);
			END IF;
			FOREACH v_table IN ARRAY v_order LOOP
				v_busy := v_table;
				EXECUTE pg_catalog.format('LOCK TABLE %s IN %s MODE NOWAIT', v_table, p_mode);
			END LOOP;
			RETURN true;
		EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
			-- (the subtransaction's end gave back what it took, and lock_timeout)
			IF (v_loads IS NOT FALSE OR protector_internal.loads_running()) AND NOT p_wait_for_loads THEN
				RETURN false;
			END IF;
		END;
		IF v_loads IS NOT FALSE THEN
			PERFORM pg_catalog.pg_sleep(0.1);
			-- (a load ends: its time is not counted; another holder's is)
			CONTINUE WHEN protector_internal.held_by_loads_only(p_tables);
		END IF;
		v_waited := v_waited OPERATOR(pg_catalog.+) (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_since);
		IF v_gave_up THEN
			RETURN false;
		ELSIF v_waited OPERATOR(pg_catalog.>=) v_limit THEN
			PERFORM pg_catalog.set_config('protector_internal.restore_waits', 'off', false);
			RAISE WARNING 'protector: gave up waiting for % after %', p_tables,
				pg_catalog.date_trunc('second', v_waited OPERATOR(pg_catalog.+) '0.5 s')
				USING DETAIL = 'Another session held them throughout.  This session waits for them no more.',
					  HINT = 'Once the restore is done, check it as docs/operations.md says (Realtime, the audit, the keys to auth.users, restore_pending).';
			RETURN false;
		END IF;
		-- the next turn waits for the table that was not free
		IF v_loads IS FALSE AND v_busy IS NOT NULL THEN
			v_order := ARRAY[v_busy] OPERATOR(pg_catalog.||) pg_catalog.array_remove(v_order, v_busy);
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_for_restore(regclass[], text, boolean) IS
'During a restore: locks protector''s tables for DDL unless parallel loads hold them (false); waits for readers and autovacuum';

CREATE FUNCTION protector_internal.erased_notification_payload(p_organization_id uuid, p_kind text, p_payload jsonb)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_kind OPERATOR(pg_catalog.=) ANY
				 ('{booking.created,booking.cancelled,booking.rescheduled,booking.awaiting_confirmation}'::text[])
				 AND pg_catalog.jsonb_typeof(p_payload) OPERATOR(pg_catalog.=) 'object'
			THEN COALESCE((SELECT pg_catalog.jsonb_object_agg(e.key, e.value)
						   FROM pg_catalog.jsonb_each(p_payload) e
						   WHERE CASE pg_catalog.jsonb_typeof(e.value)
								WHEN 'null' THEN e.key OPERATOR(pg_catalog.=) ANY ('{start,confirm_by}'::text[])
								WHEN 'number' THEN e.key OPERATOR(pg_catalog.=) 'party_size'
									AND (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~) '^[1-9][0-9]{0,5}$'
									AND (e.value OPERATOR(pg_catalog.#>>) '{}')::integer OPERATOR(pg_catalog.<=) 100000
								WHEN 'string' THEN CASE
									WHEN e.key OPERATOR(pg_catalog.=) ANY ('{start,confirm_by}'::text[])
										THEN (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~)
											'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}:\d{2}$'
									ELSE CASE e.key
									WHEN 'service' THEN EXISTS (
										SELECT FROM protector.services s
										WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id
										  AND pg_catalog.btrim(s.name) OPERATOR(pg_catalog.=) (e.value OPERATOR(pg_catalog.#>>) '{}'))
									WHEN 'timezone' THEN EXISTS (
										SELECT FROM protector.venues v
										WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id
										  AND v.timezone OPERATOR(pg_catalog.=) (e.value OPERATOR(pg_catalog.#>>) '{}'))
									WHEN 'status' THEN (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.=) ANY
										(pg_catalog.enum_range(NULL::protector.booking_status)::text[])
									ELSE false END END
								ELSE false END),
						  '{}'::jsonb)
			ELSE '{}'::jsonb END;
COMMENT ON FUNCTION protector_internal.erased_notification_payload(uuid, text, jsonb) IS
'What a desk notification of an erased customer''s booking keeps of its payload: protector''s own kinds their keys with values as protector writes them, others nothing';


CREATE FUNCTION protector_internal.apply_realtime_at_commit()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_message text;
BEGIN
	-- (Realtime turned off since, in this transaction or another: stays off)
	IF NOT EXISTS (SELECT FROM protector_internal.realtime_state) THEN
		RETURN NULL;
	END IF;
	PERFORM pg_catalog.set_config('protector_internal.realtime_at_commit', 'firing', true);
	-- (nothing here may fail the load's commit: its rows matter more)
	BEGIN
		IF NOT protector_internal.apply_restored_realtime() AND NOT protector_internal.loads_running() THEN
			v_message := 'another session holds its tables';
		END IF;
	EXCEPTION WHEN OTHERS THEN
		v_message := SQLERRM;
	END;
	PERFORM pg_catalog.set_config('protector_internal.realtime_at_commit', 'off', true);
	IF v_message IS NOT NULL THEN
		RAISE WARNING 'protector: not back in Supabase Realtime yet: %', v_message
			USING HINT = 'Run SELECT protector.enable_realtime() once the restore is done.';
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.apply_realtime_at_commit() IS
'Deferred trigger: Realtime applied at the commit of a published table''s load, whose drain could not alter it';
CREATE CONSTRAINT TRIGGER apply_realtime_at_commit AFTER UPDATE ON protector_internal.realtime_state
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (pg_catalog.current_setting('protector_internal.realtime_at_commit', true) OPERATOR(pg_catalog.=) 'on')
	EXECUTE FUNCTION protector_internal.apply_realtime_at_commit();

CREATE FUNCTION protector_internal.is_load(p_state text, p_query text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN COALESCE(p_state OPERATOR(pg_catalog.=) 'active'
				AND p_query OPERATOR(pg_catalog.~*) '^\s*(COPY|INSERT\s+INTO)\s+"?protector(_internal)?"?\.', false);
COMMENT ON FUNCTION protector_internal.is_load(text, text) IS
'A session of pg_stat_activity (state, query) is loading one of protector''s tables (COPY or INSERT into them)';

CREATE FUNCTION protector_internal.held_by_loads_only(p_tables regclass[])
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pg_catalog.pg_stat_clear_snapshot();
	RETURN NOT EXISTS (
		SELECT FROM pg_catalog.pg_locks l
		LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
		WHERE l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.granted
		  AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
												  WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
		  AND l.relation OPERATOR(pg_catalog.=) ANY (p_tables::pg_catalog.oid[])
		  AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
		  AND NOT protector_internal.is_load(a.state, a.query));
END
$$;
COMMENT ON FUNCTION protector_internal.held_by_loads_only(regclass[]) IS
'During a restore: whether every other session holding these tables is loading one of protector''s';

CREATE FUNCTION protector_internal.merged_into_it(p_organization_id uuid, p_customer_id uuid)
RETURNS uuid[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN ARRAY(
	WITH RECURSIVE d(id) AS (
		SELECT p_customer_id
		UNION
		SELECT c.id FROM protector.customers c JOIN d ON c.merged_into OPERATOR(pg_catalog.=) d.id
		WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id)
	SELECT d.id FROM d WHERE d.id OPERATOR(pg_catalog.<>) p_customer_id ORDER BY d.id);
COMMENT ON FUNCTION protector_internal.merged_into_it(uuid, uuid) IS
'The records merged into a customer, at any depth, in id order (erasures erase them with it)';
GRANT EXECUTE ON FUNCTION protector_internal.merged_into_it(uuid, uuid) TO authenticated, service_role;

-- Memberships are confirmed by their members (keep_one_owner,
-- confirm_membership): those of 0.1.0 count as confirmed when the update
-- runs (the default fills them without firing a trigger, then goes: a new
-- row made by someone else is pending)
ALTER TABLE protector.members ADD COLUMN confirmed_at timestamptz DEFAULT now();
ALTER TABLE protector.members ALTER COLUMN confirmed_at DROP DEFAULT;
COMMENT ON COLUMN protector.members.confirmed_at IS
'When the member confirmed the membership (protector.confirm_membership); NULL while it is pending: a membership someone else made (an owner''s insert, an invitation) until its member confirms it';

CREATE OR REPLACE FUNCTION protector_internal.add_founding_owner()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
BEGIN
	IF v_user IS NOT NULL THEN
		-- (confirmed: they asked for it)
		INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
		VALUES (NEW.id, v_user, 'owner', pg_catalog.now());
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.add_founding_owner() IS
'Trigger: the user who creates an organization becomes its first owner';

CREATE FUNCTION protector_internal.owner_needs_confirmation()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.user_id IS DISTINCT FROM protector.current_user_id() THEN
		NEW.confirmed_at := NULL;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.owner_needs_confirmation() IS
'Trigger: a membership someone else makes an active owner (a new role, made active again, another account or organization) is pending again';

CREATE FUNCTION protector_internal.change_own_membership(p_organization_id uuid, p_leave boolean,
														 p_role protector.member_role DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
	v_member protector.members;
BEGIN
	IF v_user IS NULL THEN
		PERFORM protector.raise('forbidden', 'sign in to confirm or leave a membership',
			'The request carries no user (request.jwt.claims has no "sub").');
	END IF;
	IF p_organization_id IS NULL OR p_leave IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id is required');
	END IF;
	IF NOT p_leave AND p_role IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_role is required',
			'A member confirms the role they were given.', 'Pass the role your membership shows, e.g. ''viewer''.');
	END IF;
	SELECT * INTO v_member FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.user_id OPERATOR(pg_catalog.=) v_user;
	IF v_member.id IS NULL THEN
		PERFORM protector.raise('not_found', 'membership not found',
			pg_catalog.format('The signed-in user is not a member of organization %s.', p_organization_id));
	END IF;
	-- (a member leaving: what is theirs first, then the member's row, as
	-- deactivate_staff takes them)
	IF p_leave THEN
		PERFORM protector_internal.lock_member_work(p_organization_id, v_user, v_member.id);
	END IF;
	PERFORM protector_internal.lock_row('protector.members', v_member.id, 'membership');
	IF p_leave THEN
		-- (a deactivated member's history is the organization's to keep:
		-- leaving would delete it; read again under the lock.  A pending
		-- membership is declined whatever its state, if it never was
		-- theirs: one made owner is pending again, however long its member
		-- worked under it, so a pending one with history stays too)
		IF NOT (SELECT m.active OR (m.confirmed_at IS NULL
									AND NOT protector_internal.member_has_history(p_organization_id, v_user, v_member.id))
				FROM protector.members m
				WHERE m.id OPERATOR(pg_catalog.=) v_member.id) THEN
			PERFORM protector.raise('forbidden', 'a deactivated membership is not left by its member',
				'The organization deactivated it to keep its history, which leaving would delete.',
				'Those who manage the organization''s members may delete it.');
		END IF;
		DELETE FROM protector.members m WHERE m.id OPERATOR(pg_catalog.=) v_member.id;
		RETURN NULL;
	END IF;
	-- the row as it is now, locked: the role the member saw, or none (an
	-- owner made them owner while they read it as a viewer's)
	SELECT * INTO v_member FROM protector.members m WHERE m.id OPERATOR(pg_catalog.=) v_member.id;
	IF v_member.role OPERATOR(pg_catalog.<>) p_role THEN
		PERFORM protector.raise('conflict', 'your membership has another role',
			pg_catalog.format('Your role in organization %s is %s, not %s.', p_organization_id, v_member.role, p_role),
			'Read your membership again, and confirm the role it shows if you accept it.');
	END IF;
	-- (a deactivated one gives no access to confirm, and confirmed it is
	-- "confirmed, then deactivated", which its member may no longer
	-- decline: left pending, they may, where nothing of theirs is in it)
	IF v_member.confirmed_at IS NULL AND NOT v_member.active THEN
		PERFORM protector.raise('invalid_parameter', 'your membership is deactivated',
			pg_catalog.format('Organization %s deactivated your membership before you confirmed it.', p_organization_id),
			'Ask the organization to activate it; or decline it (leave_organization), unless it has shifts, tasks or bookings of yours.');
	END IF;
	IF v_member.confirmed_at IS NULL THEN
		UPDATE protector.members m SET confirmed_at = pg_catalog.now()
		WHERE m.id OPERATOR(pg_catalog.=) v_member.id
		RETURNING m.confirmed_at INTO v_member.confirmed_at;
	END IF;
	-- (confirmed before: the first confirmation stands)
	RETURN v_member.confirmed_at;
END
$$;
COMMENT ON FUNCTION protector_internal.change_own_membership(uuid, boolean, protector.member_role) IS
'The signed-in user confirms their own membership in role p_role (returns when), or leaves it (p_leave); 404 where they have none';

CREATE FUNCTION protector.confirm_membership(p_organization_id uuid, p_role protector.member_role)
RETURNS timestamptz
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT protector_internal.change_own_membership(p_organization_id, false, p_role);
$$;
COMMENT ON FUNCTION protector.confirm_membership(uuid, protector.member_role) IS
'The signed-in user confirms their membership of the organization in the role they were given (made by an owner or an invitation); returns when it was confirmed';

CREATE FUNCTION protector.leave_organization(p_organization_id uuid)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT protector_internal.change_own_membership(p_organization_id, true);
$$;
COMMENT ON FUNCTION protector.leave_organization(uuid) IS
'The signed-in user leaves the organization: deletes their own membership (never the last owner who confirmed it)';

CREATE TRIGGER clear_owner_confirmation BEFORE UPDATE ON protector.members
	FOR EACH ROW WHEN (NEW.role = 'owner' AND NEW.active AND NEW.confirmed_at IS NOT NULL
					   AND NEW.confirmed_at IS NOT DISTINCT FROM OLD.confirmed_at
					   AND (OLD.role <> 'owner' OR NOT OLD.active OR NEW.user_id <> OLD.user_id
							OR NEW.organization_id <> OLD.organization_id)
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.owner_needs_confirmation();
REVOKE ALL ON FUNCTION protector.confirm_membership(uuid, protector.member_role), protector.leave_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector.confirm_membership(uuid, protector.member_role), protector.leave_organization(uuid),
	protector_internal.change_own_membership(uuid, boolean, protector.member_role)
TO authenticated, service_role;

CREATE FUNCTION protector_internal.lease_expired_error()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN 'lease expired: the worker did not report';
COMMENT ON FUNCTION protector_internal.lease_expired_error() IS
'The last_error of a reminder whose lease ran out before its worker reported';

CREATE FUNCTION protector_internal.keep_review_tasks()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector.raise('forbidden', 'booking_review tasks are written by the booking workflow',
		'A booking''s review task is made when the booking is, and moved when it is rescheduled.',
		'Give your task another kind, e.g. manual; a review task stays with its booking.');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_review_tasks() IS
'Trigger: only the booking workflow (and trusted callers) write tasks of kind booking_review';

CREATE TRIGGER keep_review_tasks AFTER INSERT ON protector.tasks
	FOR EACH ROW WHEN (NEW.kind = 'booking_review' AND NOT protector_internal.restoring()
					   AND NOT protector_internal.caller_is_trusted())
	EXECUTE FUNCTION protector_internal.keep_review_tasks();
CREATE TRIGGER keep_review_tasks_update BEFORE UPDATE OF kind, booking_id ON protector.tasks
	FOR EACH ROW WHEN (((NEW.kind = 'booking_review') <> (OLD.kind = 'booking_review')
						OR (OLD.kind = 'booking_review' AND NEW.booking_id IS DISTINCT FROM OLD.booking_id))
					   AND NOT protector_internal.caller_is_trusted())
	EXECUTE FUNCTION protector_internal.keep_review_tasks();
GRANT EXECUTE ON FUNCTION protector_internal.lease_expired_error() TO service_role;

-- owners and admins delete the notifications they see (the desk's and
-- their own), not members' private ones
ALTER POLICY notifications_delete ON protector.notifications
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('notifications.delete'))::uuid[])
		   AND (recipient_id IS NULL OR recipient_id = (SELECT protector.current_user_id())));

-- staff_activity names the account that wrote an entry: its member_id
-- goes when the membership does, and any member may now leave (0.1.0's
-- entries have none)
ALTER TABLE protector.staff_activity ADD COLUMN created_by uuid;
ALTER TABLE protector.staff_activity ALTER COLUMN created_by SET DEFAULT protector.current_user_id();


-- a reminder names the customer it was last claimed for: an erasure of
-- them drops its worker's error text, also once the booking is another's
ALTER TABLE protector.booking_reminders ADD COLUMN claimed_for uuid;
CREATE INDEX booking_reminders_claimed_for_idx ON protector.booking_reminders (organization_id, claimed_for)
	WHERE claimed_for IS NOT NULL;

-- claims are numbered across the times a reminder is brought back, or
-- claimed for another customer (its tries start again): a very late
-- report of a claim before that is not taken for a new claim's, and the
-- message after it has another key
ALTER TABLE protector.booking_reminders ADD COLUMN earlier_claims integer NOT NULL DEFAULT 0 CHECK (earlier_claims BETWEEN 0 AND 1000000000);

-- a booking's agent is looked up with their member row locked as the
-- foreign key's check locks it: one leaving at that moment is waited for
-- and then not found (the check's bare 23503 before)
CREATE FUNCTION protector_internal.lock_agent(p_organization_id uuid, p_user_id uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.authorize_requester(p_organization_id, 'members.read', 'organization');
	IF NOT protector_internal.lock_active_member(p_organization_id, p_user_id,
			'A booking is assigned only to an active member.', 'Assign someone else.') THEN
		RETURN false;
	END IF;
	-- (its review task goes to the agent: finance and viewers see none)
	IF NOT protector_internal.member_sees_tasks(p_organization_id, p_user_id) THEN
		PERFORM protector.raise('invalid_parameter', 'the agent''s role sees no tasks',
			'A booking''s agent is given its review task: their role must see tasks (tasks.read or tasks.assigned in protector.capability_map()).',
			'Assign someone else.');
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_agent(uuid, uuid) IS
'Internal: whether p_user_id is a member of the organization, its row locked FOR SHARE (a member leaving or deactivated is waited for); 23P01 for an inactive one; asks members.read of the request';
REVOKE ALL ON FUNCTION protector_internal.lock_agent(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.lock_agent(uuid, uuid) TO authenticated, service_role;

-- Whether a voucher has expired, as of the clock, not of the transaction's
-- start: a voucher retired while a cancellation or a redemption waited
-- for its booking or its row was retired later than that transaction
-- began, and counted as live (money given back to, or spent from, a
-- voucher that could never be spent).  For protector's owner's functions.
CREATE FUNCTION protector_internal.voucher_expired(p_expires_at timestamptz)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN COALESCE(p_expires_at OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp(), false);
COMMENT ON FUNCTION protector_internal.voucher_expired(timestamptz) IS
'Internal: whether a voucher expiring at p_expires_at has expired, by the clock (NULL: never)';

-- a cancellation gives nothing back to a voucher that has expired (it
-- could never be spent): its part is the pending refund
CREATE FUNCTION protector_internal.live_voucher_paid(p_organization_id uuid, p_booking_id uuid)
RETURNS numeric
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT COALESCE(pg_catalog.sum(GREATEST(protector_internal.voucher_paid(p_organization_id, p_booking_id, v.id), 0)), 0)
		FROM protector.vouchers v
		WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id
		  AND NOT protector_internal.voucher_expired(v.expires_at)
		  AND v.id OPERATOR(pg_catalog.=) ANY (ARRAY(
				SELECT p.voucher_id FROM protector.payments p
				WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id
				  AND p.booking_id OPERATOR(pg_catalog.=) p_booking_id AND p.voucher_id IS NOT NULL)));
COMMENT ON FUNCTION protector_internal.live_voucher_paid(uuid, uuid) IS
'What the booking''s vouchers that have not expired paid for it and were not given back';

-- money vouchers paid, given back to them without a cancellation
-- (refund_to_vouchers), by the code a cancellation gives back with
CREATE FUNCTION protector_internal.give_back_to_vouchers(p_organization_id uuid, p_booking_id uuid, p_currency text,
														 p_amount numeric, p_reason text)
RETURNS numeric
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_left numeric := p_amount;
	v_amount numeric;
	r record;
BEGIN
	PERFORM protector_internal.lock_booking_vouchers(p_organization_id, p_booking_id);
	-- (used last: the latest payment, by its time, then by its id, which a
	-- backend hands out in increasing order: two vouchers used in one
	-- transaction share a time; not to one that has expired, read once
	-- they are locked: it could never be spent)
	FOR r IN
		SELECT p.voucher_id FROM protector.payments p
		JOIN protector.vouchers v ON v.organization_id OPERATOR(pg_catalog.=) p.organization_id
								  AND v.id OPERATOR(pg_catalog.=) p.voucher_id
		WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id AND p.booking_id OPERATOR(pg_catalog.=) p_booking_id
		  AND p.voucher_id IS NOT NULL AND p.status OPERATOR(pg_catalog.=) 'succeeded' AND p.kind OPERATOR(pg_catalog.=) 'payment'
		  AND NOT protector_internal.voucher_expired(v.expires_at)
		GROUP BY p.voucher_id
		ORDER BY pg_catalog.max(p.created_at) DESC,
				 (pg_catalog.array_agg(p.id ORDER BY p.created_at DESC, p.id DESC))[1] DESC, p.voucher_id
	LOOP
		EXIT WHEN v_left OPERATOR(pg_catalog.<=) 0;
		v_amount := LEAST(v_left, protector_internal.voucher_paid(p_organization_id, p_booking_id, r.voucher_id));
		CONTINUE WHEN v_amount OPERATOR(pg_catalog.<=) 0;
		INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status, provider,
										voucher_id, details)
		VALUES (p_organization_id, p_booking_id, 'refund', v_amount, p_currency, 'succeeded', 'voucher',
				r.voucher_id, pg_catalog.jsonb_build_object('reason', p_reason));
		v_left := v_left OPERATOR(pg_catalog.-) v_amount;
	END LOOP;
	RETURN p_amount OPERATOR(pg_catalog.-) v_left;
END
$$;
COMMENT ON FUNCTION protector_internal.give_back_to_vouchers(uuid, uuid, text, numeric, text) IS
'Gives back up to p_amount to the booking''s vouchers that have not expired, the one used last first; returns how much went back';

CREATE FUNCTION protector_internal.refund_booking_to_vouchers(p_booking_id uuid, p_amount numeric)
RETURNS numeric
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
	v_can numeric;
BEGIN
	PERFORM protector_internal.require_permit('protector.bookings', p_booking_id, 'payments.create');
	PERFORM protector_internal.check_money(p_amount, 'p_amount');
	-- (locked as pay_with_voucher locks it)
	PERFORM protector_internal.lock_row('protector.bookings', p_booking_id, 'booking');
	SELECT * INTO b FROM protector.bookings x WHERE x.id OPERATOR(pg_catalog.=) p_booking_id;
	v_can := protector_internal.live_voucher_paid(b.organization_id, b.id);
	-- (given back less: a voucher was made to expire while this waited for
	-- its lock; the whole call is refused, nothing half done)
	IF p_amount OPERATOR(pg_catalog.>) v_can
	   OR protector_internal.give_back_to_vouchers(b.organization_id, b.id, b.currency, p_amount, 'refund to vouchers')
		  OPERATOR(pg_catalog.<) p_amount THEN
		PERFORM protector.raise('invalid_parameter', 'p_amount is more than the booking''s vouchers can take back',
			pg_catalog.format('Its gift vouchers that have not expired paid %s %s of it that has not been given back.',
							  protector_internal.live_voucher_paid(b.organization_id, b.id), b.currency),
			'Refund the rest with record_payment (p_kind => ''refund''); an expired voucher takes nothing back.');
	END IF;
	RETURN p_amount;
END
$$;
COMMENT ON FUNCTION protector_internal.refund_booking_to_vouchers(uuid, numeric) IS
'Gives p_amount back to the booking''s vouchers (the one used last first), for a caller this transaction authorized to (require_permit)';

CREATE FUNCTION protector.refund_to_vouchers(p_booking_id uuid, p_amount numeric)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
BEGIN
	PERFORM protector_internal.check_money(p_amount, 'p_amount');
	-- (either way a permit for refund_booking_to_vouchers, which runs as
	-- the owner)
	IF NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'payments.create', 'booking');
	ELSE
		PERFORM protector_internal.permit('protector.bookings', p_booking_id, 'payments.create');
	END IF;
	PERFORM protector_internal.refund_booking_to_vouchers(p_booking_id, p_amount);
	SELECT * INTO b FROM protector.bookings x WHERE x.id OPERATOR(pg_catalog.=) p_booking_id;
	RETURN pg_catalog.jsonb_build_object('booking_id', b.id, 'refunded', p_amount::numeric(12, 2), 'currency', b.currency,
										 'amount_paid', b.amount_paid, 'balance_due', b.balance_due);
END
$$;
COMMENT ON FUNCTION protector.refund_to_vouchers(uuid, numeric) IS
'Gives p_amount of what gift vouchers paid for a booking back to them, the one used last first; returns what the booking has paid and owes';
REVOKE ALL ON FUNCTION protector.refund_to_vouchers(uuid, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector.refund_to_vouchers(uuid, numeric), protector_internal.refund_booking_to_vouchers(uuid, numeric)
TO authenticated, service_role;

-- a reminder claimed for one customer whose booking another took over
-- starts again for the new one (a record merged into it is the same person)
CREATE FUNCTION protector_internal.reminder_handed(p_organization_id uuid, p_claimed_for uuid, p_customer_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN p_claimed_for IS NOT NULL AND p_claimed_for IS DISTINCT FROM p_customer_id
	   AND NOT EXISTS (SELECT FROM protector.customers c
					   WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id
						 AND c.id OPERATOR(pg_catalog.=) p_claimed_for
						 AND c.merged_into OPERATOR(pg_catalog.=) p_customer_id);
COMMENT ON FUNCTION protector_internal.reminder_handed(uuid, uuid, uuid) IS
'Whether a reminder last claimed for one customer now goes to another person (not a record merged into the booking''s customer)';
REVOKE ALL ON FUNCTION protector_internal.reminder_handed(uuid, uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.reminder_handed(uuid, uuid, uuid) TO service_role;

-- a signature under a transaction snapshot that predates a change of its
-- version's text is told to retry (it recorded the old text's digest)
CREATE FUNCTION protector_internal.recheck_waiver_version()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.max((v.xmin::text)::bigint) FROM protector.waiver_versions v WHERE v.id OPERATOR(pg_catalog.=) $1',
		NEW.waiver_version_id, 'this version of the waiver was changed concurrently',
		'The signature would record the text as it was, beside a version that holds another.');
	-- (and a newer version, or the waiver retired, which the snapshot
	-- misses: a signature takes the latest version of a waiver in use)
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.waiver_versions v WHERE v.waiver_id OPERATOR(pg_catalog.=) $1',
		NEW.waiver_id, 'the waiver was changed concurrently', 'A new version was made, or the waiver was retired.');
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.waivers w WHERE w.id OPERATOR(pg_catalog.=) $1 AND w.active',
		NEW.waiver_id, 'the waiver was changed concurrently', 'A new version was made, or the waiver was retired.');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.recheck_waiver_version() IS
'Trigger: under a transaction snapshot, 40001 when the version signed changed since the snapshot';
CREATE TRIGGER recheck_waiver_version BEFORE INSERT ON protector.waiver_submissions
	FOR EACH ROW WHEN (NOT protector_internal.restoring()
					   AND pg_catalog.current_setting('transaction_isolation') <> 'read committed')
	EXECUTE FUNCTION protector_internal.recheck_waiver_version();

-- a member's e-mail, shown where a name is, is plain text when written
CREATE FUNCTION protector_internal.check_member_email()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.email IS DISTINCT FROM OLD.email)
	   AND NOT protector_internal.text_is_clean(NEW.email) THEN
		PERFORM protector.raise('invalid_parameter', 'email holds control or invisible direction characters');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_member_email() IS
'Trigger: a member''s e-mail as written holds no control or invisible direction characters';
CREATE TRIGGER check_member_email BEFORE INSERT OR UPDATE OF email ON protector.members
	FOR EACH ROW WHEN (NEW.email IS NOT NULL AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_member_email();

-- a reminder's claims so far, its last claim's number, written once
CREATE FUNCTION protector_internal.claims_made(p_earlier_claims integer, p_attempts integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN LEAST(p_earlier_claims OPERATOR(pg_catalog.+) p_attempts, 1000000000);
COMMENT ON FUNCTION protector_internal.claims_made(integer, integer) IS
'A reminder''s claims so far (earlier_claims + attempts, at most earlier_claims'' bound): its last claim''s number';
REVOKE ALL ON FUNCTION protector_internal.claims_made(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.claims_made(integer, integer) TO service_role;

CREATE FUNCTION protector_internal.lock_active_member(p_organization_id uuid, p_user_id uuid,
	p_detail text, p_hint text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_active boolean;
	v_name text;
BEGIN
	SELECT m.active, COALESCE(m.full_name, m.email, m.user_id::text) INTO v_active, v_name
	FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND m.user_id OPERATOR(pg_catalog.=) p_user_id
	FOR SHARE;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	IF NOT v_active THEN
		PERFORM protector.raise('conflict', pg_catalog.format('%s is no active member', v_name),
			p_detail, p_hint);
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_active_member(uuid, uuid, text, text) IS
'Internal: whether p_user_id is a member of the organization, its row locked FOR SHARE (a member leaving or deactivated is waited for); 23P01 with the given detail and hint for an inactive one';

-- a reminder's message that reached a customer before the booking went
-- to another is not sent to them again should it come back
ALTER TABLE protector.booking_reminders ADD COLUMN sent_to uuid[] CHECK (cardinality(sent_to) <= 20);

CREATE FUNCTION protector_internal.check_customer_message_rate(p_organization_id uuid, p_booking_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit integer;
	v_recent bigint;
	v_customer uuid;
BEGIN
	SELECT b.customer_id INTO v_customer FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.id OPERATOR(pg_catalog.=) p_booking_id
	  AND b.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids());
	-- (a booking not theirs, or theirs no more: given to another customer
	-- since send_message found it theirs, told as afterwards)
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It is not a booking of yours.');
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(protector_internal.lock_key(1886547723, v_customer));
	-- (the customer's messages only: a reply of staff's since the snapshot
	-- changes nothing here)
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.booking_messages m WHERE m.customer_id OPERATOR(pg_catalog.=) $1'
		' AND m.sender_kind OPERATOR(pg_catalog.=) ''customer''',
		v_customer, 'a message of this customer was written concurrently', NULL);
	SELECT protector_internal.setting_number(o.settings #> '{customers,messages_per_hour}', 20, 1, 1000)::integer INTO v_limit
	FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id;
	SELECT pg_catalog.count(*) INTO v_recent FROM protector.booking_messages m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.booking_id OPERATOR(pg_catalog.=) p_booking_id
	  AND m.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 hour')
	  AND m.sender_kind OPERATOR(pg_catalog.=) 'customer' AND m.customer_id OPERATOR(pg_catalog.=) v_customer;
	IF v_recent OPERATOR(pg_catalog.>=) COALESCE(v_limit, 20) THEN
		PERFORM protector.raise('rate_limited', 'too many messages in this thread; try again later',
			pg_catalog.format('The organization takes at most %s messages of a customer in one booking''s thread per hour.',
				COALESCE(v_limit, 20)),
			'Wait for a reply, or call the organization.');
	END IF;
	SELECT pg_catalog.count(*) INTO v_recent FROM protector.booking_messages m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.customer_id OPERATOR(pg_catalog.=) v_customer
	  AND m.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 hour')
	  AND m.sender_kind OPERATOR(pg_catalog.=) 'customer';
	IF v_recent OPERATOR(pg_catalog.>=) (3 OPERATOR(pg_catalog.*) COALESCE(v_limit, 20)) THEN
		PERFORM protector.raise('rate_limited', 'too many messages; try again later',
			pg_catalog.format('The organization takes at most %s messages of a customer per hour across their bookings.',
				3 OPERATOR(pg_catalog.*) COALESCE(v_limit, 20)),
			'Wait for a reply, or call the organization.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_customer_message_rate(uuid, uuid) IS
'A customer''s new message: 53400 beyond settings.customers.messages_per_hour (default 20) customer messages in the thread in the last hour, or three times that across the customer''s threads';
GRANT EXECUTE ON FUNCTION protector_internal.check_customer_message_rate(uuid, uuid) TO authenticated, service_role;

CREATE FUNCTION protector_internal.note_prices_written()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pg_catalog.set_config('protector_internal.prices_written', NEW.id::text, true);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.note_prices_written() IS
'Trigger: notes that an update moving a booking to another service or party size writes its prices (read by set_booking_price)';
CREATE TRIGGER note_prices_written BEFORE UPDATE OF unit_price, total_price ON protector.bookings
	FOR EACH ROW WHEN (NEW.service_id IS DISTINCT FROM OLD.service_id OR NEW.party_size IS DISTINCT FROM OLD.party_size)
	EXECUTE FUNCTION protector_internal.note_prices_written();

CREATE FUNCTION protector_internal.deposit_of(p_deposit jsonb, p_total numeric, p_same_currency boolean)
RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.jsonb_typeof(p_deposit OPERATOR(pg_catalog.->) 'percent') OPERATOR(pg_catalog.=) 'number'
			THEN protector.round_money(p_total OPERATOR(pg_catalog.*)
				 LEAST(GREATEST((p_deposit OPERATOR(pg_catalog.->>) 'percent')::numeric, 0), 100) OPERATOR(pg_catalog./) 100)
			WHEN pg_catalog.jsonb_typeof(p_deposit OPERATOR(pg_catalog.->) 'amount') OPERATOR(pg_catalog.=) 'number'
			THEN CASE WHEN p_same_currency
					  THEN LEAST(GREATEST(protector.round_money((p_deposit OPERATOR(pg_catalog.->>) 'amount')::numeric), 0), p_total) END
			ELSE 0 END;
COMMENT ON FUNCTION protector_internal.deposit_of(jsonb, numeric, boolean) IS
'The deposit a service''s settings.deposit asks of a total: percent of it or a fixed amount (at most the total; NULL for a total in another currency), else 0';

-- the request's own trust, for SECURITY DEFINER code asking about it
CREATE FUNCTION protector_internal.requester_is_trusted()
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_requester_is_trusted_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.requester_is_trusted() IS
'True when the role that made the request (not a SECURITY DEFINER function running for it) is a superuser or bypasses RLS';

-- (once what it asks exists; before any cancellation below)
CREATE FUNCTION protector_internal.refund_skipped(p_organization_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN NOT protector_internal.refunds_on_cancel()
	   AND (protector_internal.requester_is_trusted()
			OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.cancel'))
			OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('payments.create')));
COMMENT ON FUNCTION protector_internal.refund_skipped(uuid) IS
'Internal: protector.refund_on_cancel is off and the requester may skip a refund (staff who may cancel bookings or record payments, trusted callers)';

CREATE FUNCTION protector_internal.json_is_clean(p_value jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_json_is_clean'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.json_is_clean(jsonb) IS
'False when a string or key anywhere in the JSON value is not clean text (text_is_clean)';
GRANT EXECUTE ON FUNCTION protector_internal.json_is_clean(jsonb) TO authenticated, service_role;

CREATE FUNCTION protector_internal.deposit_due_by(p_deposit jsonb, p_start timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN LEAST(pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs =>
				 CASE WHEN pg_catalog.jsonb_typeof(p_deposit OPERATOR(pg_catalog.->) 'deadline_hours') OPERATOR(pg_catalog.=) 'number'
					  THEN LEAST(GREATEST((p_deposit OPERATOR(pg_catalog.->>) 'deadline_hours')::numeric, 0), 8760)
					  ELSE 24 END OPERATOR(pg_catalog.*) 3600),
			 p_start);
COMMENT ON FUNCTION protector_internal.deposit_due_by(jsonb, timestamptz) IS
'When a deposit asked now is due: settings.deposit.deadline_hours (default 24) from now, at the latest the start';

-- whether a role may do one of the actions, by the map (the question of
-- a role, not of a member: lock_inviter, role_sees_tasks)
CREATE FUNCTION protector_internal.role_may(p_role protector.member_role, p_actions text[])
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT FROM protector.capability_map() c
			   WHERE c.action OPERATOR(pg_catalog.=) ANY (p_actions) AND p_role OPERATOR(pg_catalog.=) ANY (c.roles));
COMMENT ON FUNCTION protector_internal.role_may(protector.member_role, text[]) IS
'Internal: whether the role may do any of p_actions in the capability map';
GRANT EXECUTE ON FUNCTION protector_internal.role_may(protector.member_role, text[]) TO authenticated, service_role;

CREATE FUNCTION protector_internal.role_sees_tasks(p_role protector.member_role)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN protector_internal.role_may(p_role, '{tasks.read,tasks.assigned}');
COMMENT ON FUNCTION protector_internal.role_sees_tasks(protector.member_role) IS
'Internal: whether a role sees tasks (tasks.read or tasks.assigned in the capability map)';
GRANT EXECUTE ON FUNCTION protector_internal.role_sees_tasks(protector.member_role) TO authenticated, service_role;

CREATE FUNCTION protector_internal.member_sees_tasks(p_organization_id uuid, p_user_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN COALESCE(protector_internal.role_sees_tasks(
					(SELECT m.role FROM protector.members m
					 WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
					   AND m.user_id OPERATOR(pg_catalog.=) p_user_id)), false);
COMMENT ON FUNCTION protector_internal.member_sees_tasks(uuid, uuid) IS
'Internal: whether the member''s role sees tasks (tasks.read or tasks.assigned in the capability map)';

CREATE FUNCTION protector_internal.keep_deleted_venue()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'venues' THEN
		PERFORM protector.raise('invalid_parameter', 'a deleted venue stays inactive',
			pg_catalog.format('Venue %s was deleted at %s.', NEW.id, protector_internal.iso_text(NEW.deleted_at)),
			'Restore it first (deleted_at set to NULL, by members who may delete venues), then activate it.');
	END IF;
	PERFORM FROM protector.venues v
	WHERE v.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND v.id OPERATOR(pg_catalog.=) NEW.venue_id
	FOR SHARE;
	IF EXISTS (SELECT FROM protector.venues v
			   WHERE v.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND v.id OPERATOR(pg_catalog.=) NEW.venue_id
				 AND v.deleted_at IS NOT NULL) THEN
		PERFORM protector.raise('not_found', 'venue not found', 'It was deleted (delete_venue): it takes no services.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_deleted_venue() IS
'Trigger: a deleted venue is not activated and takes no service, however it is written';
CREATE TRIGGER keep_deleted_venue BEFORE UPDATE OF active ON protector.venues
	FOR EACH ROW WHEN (NEW.active AND NEW.deleted_at IS NOT NULL AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_deleted_venue();
-- (only for those the policies let write services: anyone else was told
-- another tenant's venue was deleted, and held it locked)
CREATE TRIGGER keep_deleted_venue BEFORE INSERT OR UPDATE OF venue_id ON protector.services
	FOR EACH ROW WHEN (NOT protector_internal.restoring()
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('venues.manage'))))
	EXECUTE FUNCTION protector_internal.keep_deleted_venue();

CREATE FUNCTION protector_internal.staff_account(p_organization_id uuid, p_user_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT FROM protector.members m
			   WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.user_id OPERATOR(pg_catalog.=) p_user_id)
	OR EXISTS (SELECT FROM protector.audit_log l
			   WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.members'
				 AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
				 AND p_user_id::text OPERATOR(pg_catalog.=) ANY (ARRAY[l.old_row OPERATOR(pg_catalog.->>) 'user_id',
																	  l.new_row OPERATOR(pg_catalog.->>) 'user_id']));
COMMENT ON FUNCTION protector_internal.staff_account(uuid, uuid) IS
'Internal: whether the account is, or was (by the members'' audit history), a member of the organization';

CREATE FUNCTION protector_internal.lock_member_work(p_organization_id uuid, p_user_id uuid, p_member_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) p_user_id
	  AND pg_catalog.upper(b.during) OPERATOR(pg_catalog.>) pg_catalog.now()
	  AND b.status OPERATOR(pg_catalog.=) ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[])
	ORDER BY b.id
	FOR UPDATE OF b;
	PERFORM FROM protector.tasks t
	WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.assignee OPERATOR(pg_catalog.=) p_user_id
	  AND t.status OPERATOR(pg_catalog.<>) 'done'
	ORDER BY t.id
	FOR UPDATE OF t;
	PERFORM FROM protector.staff_shifts s
	WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id AND s.member_id OPERATOR(pg_catalog.=) p_member_id
	  AND pg_catalog.upper(s.during) OPERATOR(pg_catalog.>) pg_catalog.now()
	ORDER BY s.id
	FOR UPDATE OF s;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_member_work(uuid, uuid, uuid) IS
'Internal: locks a member''s live bookings, open tasks and shifts not ended (id order), before the member''s row is';
GRANT EXECUTE ON FUNCTION protector_internal.lock_member_work(uuid, uuid, uuid) TO authenticated, service_role;

CREATE FUNCTION protector_internal.reminder_reached(p_organization_id uuid, p_sent_to uuid[], p_customer_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN p_sent_to IS NOT NULL
	   AND EXISTS (SELECT FROM pg_catalog.unnest(p_sent_to) t(customer_id)
				   WHERE NOT protector_internal.reminder_handed(p_organization_id, t.customer_id, p_customer_id));
COMMENT ON FUNCTION protector_internal.reminder_reached(uuid, uuid[], uuid) IS
'Whether a reminder''s message reached the booking''s customer already (sent_to names them, or a record merged into theirs)';
GRANT EXECUTE ON FUNCTION protector_internal.reminder_reached(uuid, uuid[], uuid) TO service_role;

-- (0.1.0 let values over the limit in where they came compressed, copied
-- from a stored row: such a value, which the limit was to keep out, is
-- replaced by a note of its size, with a WARNING, so that the update goes
-- through)
DO $oversized$
DECLARE
	v_notifications integer;
	v_activity integer;
BEGIN
	UPDATE protector.notifications SET payload = jsonb_build_object('oversized', true,
		'bytes', protector_internal.value_size(payload))
	WHERE protector_internal.value_size(payload) > 8192;
	GET DIAGNOSTICS v_notifications = ROW_COUNT;
	UPDATE protector.staff_activity SET details = jsonb_build_object('oversized', true,
		'bytes', protector_internal.value_size(details))
	WHERE protector_internal.value_size(details) > 8192;
	GET DIAGNOSTICS v_activity = ROW_COUNT;
	IF v_notifications + v_activity > 0 THEN
		RAISE WARNING 'protector 0.2.0: % notification payloads and % staff activity details over 8 kB replaced by a note of their size',
			v_notifications, v_activity;
	END IF;
END
$oversized$;
ALTER TABLE protector.notifications DROP CONSTRAINT notifications_payload_check,
	ADD CONSTRAINT notifications_payload_check
		CHECK (jsonb_typeof(payload) = 'object' AND protector_internal.value_size(payload) <= 8192);
ALTER TABLE protector.staff_activity DROP CONSTRAINT staff_activity_details_check,
	ADD CONSTRAINT staff_activity_details_check
		CHECK (jsonb_typeof(details) = 'object' AND protector_internal.value_size(details) <= 8192);

CREATE FUNCTION protector_internal.lock_member_work_nowait(p_organization_id uuid, p_user_id uuid, p_member_id uuid,
														   p_shifts boolean, p_hint text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	BEGIN
		PERFORM FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) p_user_id
		  AND pg_catalog.upper(b.during) OPERATOR(pg_catalog.>) pg_catalog.now()
		  AND b.status OPERATOR(pg_catalog.=) ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[])
		ORDER BY b.id
		FOR UPDATE OF b NOWAIT;
	EXCEPTION WHEN lock_not_available THEN
		PERFORM protector.raise('retry', 'a booking of this member is being changed',
			pg_catalog.format('Member %s.', p_member_id), p_hint);
	END;
	BEGIN
		PERFORM FROM protector.tasks t
		WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.assignee OPERATOR(pg_catalog.=) p_user_id
		  AND t.status OPERATOR(pg_catalog.<>) 'done'
		ORDER BY t.id
		FOR UPDATE OF t NOWAIT;
		PERFORM FROM protector.staff_shifts s
		WHERE p_shifts AND s.organization_id OPERATOR(pg_catalog.=) p_organization_id
		  AND s.member_id OPERATOR(pg_catalog.=) p_member_id
		  AND pg_catalog.upper(s.during) OPERATOR(pg_catalog.>) pg_catalog.now()
		ORDER BY s.id
		FOR UPDATE OF s NOWAIT;
	EXCEPTION WHEN lock_not_available THEN
		PERFORM protector.raise('retry',
			pg_catalog.format('a task%s of this member is being changed', CASE WHEN p_shifts THEN ' or shift' ELSE '' END),
			pg_catalog.format('Member %s.', p_member_id), p_hint);
	END;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_member_work_nowait(uuid, uuid, uuid, boolean, text) IS
'Internal: locks a member''s live bookings, open tasks (and shifts not ended) NOWAIT, for a direct write of their row; 40001 with p_hint when one is being changed';

CREATE FUNCTION protector_internal.release_member_work(p_organization_id uuid, p_user_id uuid,
													   OUT tasks integer, OUT bookings integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE protector.tasks t SET assignee = NULL
	WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.assignee OPERATOR(pg_catalog.=) p_user_id
	  AND t.status OPERATOR(pg_catalog.<>) 'done';
	GET DIAGNOSTICS tasks = ROW_COUNT;
	UPDATE protector.bookings b SET assigned_agent = NULL
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) p_user_id
	  AND pg_catalog.upper(b.during) OPERATOR(pg_catalog.>) pg_catalog.now()
	  AND b.status OPERATOR(pg_catalog.=) ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[]);
	GET DIAGNOSTICS bookings = ROW_COUNT;
END
$$;
COMMENT ON FUNCTION protector_internal.release_member_work(uuid, uuid) IS
'Internal: releases a member''s open tasks and live bookings (assignee and assigned_agent NULL); the counts';

-- Is a task (of organization and booking) about a booking not the user's
-- own: one an agent, who works only on their bookings' tasks, could not
-- finish?  Asked as the caller (release_on_role_change) and as the owner
-- (refuse_unseen_foreign_tasks), the same words both ways.
CREATE FUNCTION protector_internal.task_not_theirs(p_organization_id uuid, p_booking_id uuid, p_user_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN p_booking_id IS NOT NULL
	   AND NOT EXISTS (SELECT FROM protector.bookings b
					   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.id OPERATOR(pg_catalog.=) p_booking_id
						 AND b.assigned_agent OPERATOR(pg_catalog.=) p_user_id);
COMMENT ON FUNCTION protector_internal.task_not_theirs(uuid, uuid, uuid) IS
'Internal: whether a task of the booking is about a booking not assigned to the user (an agent could not finish it)';
GRANT EXECUTE ON FUNCTION protector_internal.task_not_theirs(uuid, uuid, uuid) TO authenticated, service_role;

CREATE FUNCTION protector_internal.release_on_role_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector_internal.role_sees_tasks(NEW.role) THEN
		-- (a role that works only on its own bookings' tasks, an agent's:
		-- the open tasks of bookings not theirs go back to the desk, as a
		-- handover takes them; they could finish none of them)
		IF NOT protector_internal.role_may(NEW.role, '{tasks.update}') THEN
			UPDATE protector.tasks t SET assignee = NULL
			WHERE t.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND t.assignee OPERATOR(pg_catalog.=) OLD.user_id
			  AND t.status OPERATOR(pg_catalog.<>) 'done'
			  AND protector_internal.task_not_theirs(t.organization_id, t.booking_id, OLD.user_id);
			-- (one given to them since a REPEATABLE READ snapshot stayed:
			-- 40001, as for the roles below)
			PERFORM protector_internal.refuse_unseen_foreign_tasks(OLD.id);
		END IF;
		RETURN NEW;
	END IF;
	PERFORM protector_internal.lock_member_work_nowait(OLD.organization_id, OLD.user_id, OLD.id, false,
		'Retry, or change the role with update_staff_permissions(), which waits for it.');
	PERFORM protector_internal.release_member_work(OLD.organization_id, OLD.user_id);
	-- (one given to them before, committed after a REPEATABLE READ snapshot:
	-- its writer share-locked the member's row, which this update does not
	-- conflict with once they committed; the release above did not see it)
	IF protector_internal.agent_still_assigned(OLD.organization_id, OLD.user_id, false) THEN
		PERFORM protector.raise('retry', 'a booking or task was given to this member concurrently',
			pg_catalog.format('Member %s.', OLD.id), 'Retry the transaction: it will then release that too.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.release_on_role_change() IS
'Trigger (BEFORE UPDATE OF role of an active member): a role that sees no tasks releases the member''s open tasks and live bookings';
CREATE TRIGGER release_on_role_change BEFORE UPDATE OF role ON protector.members
	FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role AND NEW.active AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.release_on_role_change();
GRANT EXECUTE ON FUNCTION protector_internal.lock_member_work_nowait(uuid, uuid, uuid, boolean, text),
	protector_internal.release_member_work(uuid, uuid) TO authenticated, service_role;

CREATE FUNCTION protector_internal.refuse_fixed_deposit(p_service_id uuid, p_service_currency text, p_currency text,
														p_detail text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector.raise('invalid_parameter',
		pg_catalog.format('the deposit of service %s is a fixed amount in %s: a booking in %s cannot owe it',
						  p_service_id, p_service_currency, p_currency),
		p_detail, 'Keep the booking in the service''s currency.');
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_fixed_deposit(uuid, text, text, text) IS
'Internal: 22023, a booking in another currency than its service''s fixed deposit';

CREATE FUNCTION protector_internal.offer_restore_pending(p_loaded regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
AS $$
DECLARE
	v_all boolean := p_loaded IS NULL;
	v_ready regclass[] := CASE WHEN p_loaded IS NULL THEN '{}'::regclass[] ELSE ARRAY[p_loaded] END;
	v_went regclass[];
	v_first boolean := true;
	v_loaded boolean;
	v_table regclass;
	v_empty regclass[] := '{}';
	v_ids bigint[];
	v_inserted integer;
	v_columns text;
	v_values text;
	v_insert text;
	v_id bigint;
	v_one integer;
BEGIN
	-- one at a time, and after every other load's commit
	PERFORM pg_catalog.pg_advisory_xact_lock(1886547716, 0);
	-- a table without a row is not worth waiting on yet: neither the loaded
	-- one (its every row set aside) nor what this load's rows wait for
	FOR v_table IN SELECT p_loaded WHERE NOT v_all
				   UNION SELECT r.waiting_for FROM protector_internal.restore_pending r
						 WHERE NOT v_all AND NOT r.reoffered AND r.waiting_for IS NOT NULL LOOP
		EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM %s)', v_table) INTO v_loaded;
		IF NOT v_loaded THEN
			v_empty := v_empty OPERATOR(pg_catalog.||) v_table;
		END IF;
	END LOOP;
	IF p_loaded OPERATOR(pg_catalog.=) ANY (v_empty) THEN
		v_ready := '{}';
	END IF;
	WHILE v_first OR pg_catalog.cardinality(v_ready) OPERATOR(pg_catalog.>) 0 LOOP
		v_went := '{}';
		-- a table at a time, its rows in one statement, oldest first
		FOR v_table IN SELECT DISTINCT r.relid FROM protector_internal.restore_pending r
					   WHERE r.refused IS NULL
						 AND (r.waiting_for OPERATOR(pg_catalog.=) ANY (v_ready) OR r.waiting_for IS NULL
							  OR (v_first AND (v_all OR (NOT r.reoffered
														 AND NOT r.waiting_for OPERATOR(pg_catalog.=) ANY (v_empty))))) LOOP
			v_ids := ARRAY(SELECT r.id FROM protector_internal.restore_pending r
						   WHERE r.relid OPERATOR(pg_catalog.=) v_table AND r.refused IS NULL
							 AND (r.waiting_for OPERATOR(pg_catalog.=) ANY (v_ready) OR r.waiting_for IS NULL
								  OR (v_first AND (v_all OR (NOT r.reoffered
															 AND NOT r.waiting_for OPERATOR(pg_catalog.=) ANY (v_empty))))));
			-- generated columns compute themselves
			SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum),
				   pg_catalog.string_agg('x.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
			INTO v_columns, v_values
			FROM pg_catalog.pg_attribute a
			WHERE a.attrelid OPERATOR(pg_catalog.=) v_table AND a.attnum OPERATOR(pg_catalog.>) 0
			  AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) '';
			-- offered again: each row inserted, or set aside anew (the
			-- restore_order_* functions mark it so), and these entries go;
			-- the insert's own end (insert_restored_pending) leaves them to
			-- this loop
			v_insert := pg_catalog.format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE'
										  ' SELECT %s FROM protector_internal.restore_pending r'
										  ' CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::%s, r.row_data) x'
										  ' WHERE r.id OPERATOR(pg_catalog.=) ANY ($1) ORDER BY r.id',
										  v_table, v_columns, v_values, v_table);
			PERFORM pg_catalog.set_config('protector_internal.reoffering', 'on', true);
			BEGIN
				EXECUTE v_insert USING v_ids;
				GET DIAGNOSTICS v_inserted = ROW_COUNT;
			EXCEPTION WHEN integrity_constraint_violation OR serialization_failure THEN
				IF NOT v_all THEN
					RAISE;
				END IF;
				-- (finish_restore: one row at a time; one that overlaps stays)
				v_inserted := 0;
				FOREACH v_id IN ARRAY v_ids LOOP
					BEGIN
						EXECUTE v_insert USING ARRAY[v_id];
						GET DIAGNOSTICS v_one = ROW_COUNT;
						v_inserted := v_inserted OPERATOR(pg_catalog.+) v_one;
					EXCEPTION WHEN integrity_constraint_violation OR serialization_failure THEN
						UPDATE protector_internal.restore_pending r SET refused = SQLERRM
						WHERE r.id OPERATOR(pg_catalog.=) v_id;
						v_ids := pg_catalog.array_remove(v_ids, v_id);
					END;
				END LOOP;
			END;
			PERFORM pg_catalog.set_config('protector_internal.reoffering', 'off', true);
			DELETE FROM protector_internal.restore_pending r WHERE r.id OPERATOR(pg_catalog.=) ANY (v_ids);
			IF v_inserted OPERATOR(pg_catalog.>) 0 THEN
				v_went := v_went OPERATOR(pg_catalog.||) v_table;
			END IF;
		END LOOP;
		v_ready := v_went;
		v_first := false;
	END LOOP;
END
$$;
COMMENT ON FUNCTION protector_internal.offer_restore_pending(regclass) IS
'During restores only: inserts the rows set aside whose references have been loaded meanwhile (p_loaded: the table just loaded; NULL: every row)';

CREATE FUNCTION protector_internal.warn_restore_waiting()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_waiting text;
BEGIN
	IF COALESCE(pg_catalog.current_setting('protector_internal.restore_warned', true), '') OPERATOR(pg_catalog.=) 'on'
	   OR NOT EXISTS (SELECT FROM protector_internal.restore_pending r WHERE r.waiting_for IS NULL)
	   OR protector_internal.loads_running() THEN
		RETURN;
	END IF;
	v_waiting := protector_internal.rows_by_table(ARRAY(SELECT r.relid FROM protector_internal.restore_pending r
														  WHERE r.waiting_for IS NULL));
	RAISE WARNING 'rows restored wait for rows outside protector''s schemas that are not there (so far: %)', v_waiting
		USING DETAIL = 'They are kept in protector_internal.restore_pending, not in their tables (members and customers refer to auth.users), and so are the rows that refer to them.',
			  HINT = 'Load what they refer to (auth.users), then run SELECT * FROM protector.finish_restore(); before the database takes bookings (the slots of bookings set aside look free until then).';
	PERFORM pg_catalog.set_config('protector_internal.restore_warned', 'on', false);
END
$$;
COMMENT ON FUNCTION protector_internal.warn_restore_waiting() IS
'During restores only: a WARNING, once per session, when restored rows wait for rows outside protector''s schemas';

CREATE FUNCTION protector.finish_restore()
RETURNS TABLE (table_name regclass, rows_waiting bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET row_security = off
SET protector.http_errors = off
AS $$
DECLARE
	v_count bigint;
	v_refused text;
BEGIN
	-- (a superuser's rows only are a restore's, src/capabilities.c)
	IF NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false) THEN
		PERFORM protector.raise('forbidden', 'finish_restore is for the role that restored the database',
			'It inserts rows as a restore does, past row-level security.', 'Run it as a superuser.');
	END IF;
	UPDATE protector_internal.restore_pending r SET refused = NULL WHERE r.refused IS NOT NULL;
	PERFORM pg_catalog.set_config('protector_internal.finishing_restore', 'on', true);
	PERFORM protector_internal.offer_restore_pending(NULL);
	PERFORM pg_catalog.set_config('protector_internal.finishing_restore', 'off', true);
	SELECT pg_catalog.count(*), pg_catalog.string_agg(pg_catalog.format('%s %s: %s', r.relid, r.row_data ->> 'id', r.refused),
													 '; ' ORDER BY r.id)
	INTO v_count, v_refused
	FROM protector_internal.restore_pending r WHERE r.refused IS NOT NULL;
	IF v_count OPERATOR(pg_catalog.>) 0 THEN
		RAISE WARNING '% restored rows conflict with rows written since the restore, and were not inserted', v_count
			USING DETAIL = pg_catalog.left(v_refused, 2000),
				  HINT = 'They stay in protector_internal.restore_pending (refused), and so do the rows that refer to them. Resolve each conflict (cancel or move one of two bookings; merge or delete a record made again; for a booking its service refuses now, such as one beyond a capacity lowered since, raise it or cancel a booking), then run finish_restore() again.';
	END IF;
	IF EXISTS (SELECT FROM protector_internal.restore_pending r WHERE r.refused IS NULL) THEN
		RAISE WARNING 'rows restored still wait for rows that are not there'
			USING DETAIL = 'See the rows this function returns, and protector_internal.restore_pending (row_data, waiting_for).',
				  HINT = 'Load what they refer to (auth.users for members and customers), then run it again.';
	END IF;
	RETURN QUERY SELECT r.relid, pg_catalog.count(*) FROM protector_internal.restore_pending r
				 GROUP BY r.relid ORDER BY r.relid::text;
END
$$;
COMMENT ON FUNCTION protector.finish_restore() IS
'After a restore that left rows set aside (restore_pending), once what they refer to is loaded: offers every row again; the rows still waiting, by table';
REVOKE ALL ON FUNCTION protector.finish_restore() FROM PUBLIC;

CREATE FUNCTION protector_internal.lock_booking_promo_code(p_booking_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	v_code uuid;
	v_status protector.booking_status;
BEGIN
	SELECT b.organization_id, b.promo_code_id, b.status INTO v_org, v_code, v_status FROM protector.bookings b
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	-- (no such booking: "booking not found", as for another tenant's)
	PERFORM protector_internal.authorize_requester(v_org, 'bookings.reschedule', 'booking');
	IF v_code IS NOT NULL AND v_status OPERATOR(pg_catalog.<>) 'cancelled' THEN
		PERFORM protector_internal.lock_row('protector.promo_codes', v_code, 'promo code');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_booking_promo_code(uuid) IS
'Internal: locks the promo code of a live booking before reschedule_booking takes services'' locks (the order of a new booking with the code)';
GRANT EXECUTE ON FUNCTION protector_internal.lock_booking_promo_code(uuid) TO authenticated, service_role;

CREATE FUNCTION protector_internal.member_has_history(p_organization_id uuid, p_user_id uuid, p_member_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT FROM protector.staff_shifts s
				   WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id AND s.member_id OPERATOR(pg_catalog.=) p_member_id)
		-- (its joining by an invitation, which protector records, is no
		-- work of the member's: every invited member had history at once,
		-- and one deactivated before confirming could never decline)
		OR EXISTS (SELECT FROM protector.staff_activity a
				   WHERE a.organization_id OPERATOR(pg_catalog.=) p_organization_id AND a.member_id OPERATOR(pg_catalog.=) p_member_id
					 AND a.action OPERATOR(pg_catalog.<>) 'staff.joined')
		OR EXISTS (SELECT FROM protector.bookings b
				   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) p_user_id)
		OR EXISTS (SELECT FROM protector.tasks t
				   WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.assignee OPERATOR(pg_catalog.=) p_user_id)
$$;
COMMENT ON FUNCTION protector_internal.member_has_history(uuid, uuid, uuid) IS
'Internal: true if shifts, staff activity (but its joining), bookings or tasks of the organization refer to the member (what leaving deletes or unlinks)';

CREATE FUNCTION protector_internal.lock_inviter()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
	v_member protector.members;
BEGIN
	IF v_user IS NULL OR protector_internal.requester_is_trusted() THEN
		RETURN NEW;
	END IF;
	SELECT * INTO v_member FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND m.user_id OPERATOR(pg_catalog.=) v_user
	FOR SHARE;
	IF NOT FOUND OR NOT v_member.active
	   OR NOT protector_internal.role_may(v_member.role,
			ARRAY[CASE WHEN NEW.role OPERATOR(pg_catalog.=) 'owner' THEN 'members.manage_owners' ELSE 'members.manage' END]) THEN
		PERFORM protector.raise('forbidden', 'your membership does not let you invite',
			'Owners and admins invite members, and only owners invite owners; a membership deactivated or given another role while the invitation was written no longer counts.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_inviter() IS
'Trigger (BEFORE INSERT on staff_invitations): locks a signed-in inviter''s membership FOR SHARE and refuses (42501) one that may no longer invite';
CREATE TRIGGER lock_inviter BEFORE INSERT ON protector.staff_invitations
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.lock_inviter();

-- a venue inserted deleted is deleted by its insert (guard_venue_deletion)
CREATE TRIGGER guard_venue_deletion_on_insert BEFORE INSERT ON protector.venues
	FOR EACH ROW WHEN (NEW.deleted_at IS NOT NULL AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.guard_venue_deletion();
-- service_mode_check on every update, as reservation_check (a trigger of
-- an operator's own that set the mode passed it)
DROP TRIGGER service_mode_check ON protector.services;
CREATE CONSTRAINT TRIGGER service_mode_check
	AFTER UPDATE
	ON protector.services
	NOT DEFERRABLE
	FOR EACH ROW EXECUTE FUNCTION protector.service_mode_check();

-- names and titles of 1 to N characters count the spaces at their ends
-- against the most (a name and 20 MB of spaces passed as 1 character);
-- one of 0.1.0 padded past it is stored trimmed first (0.1.0's CHECK
-- measured it trimmed: within the most)
DO $padded$
DECLARE
	t record;
	v_role text := pg_catalog.current_setting('session_replication_role');
BEGIN
	FOR t IN SELECT * FROM (VALUES ('protector.organizations'::pg_catalog.regclass, 'name', 200),
								   ('protector.venues', 'name', 200), ('protector.services', 'name', 200),
								   ('protector.customers', 'full_name', 200), ('protector.tasks', 'title', 300)) x(tbl, col, most)
	LOOP
		PERFORM protector_internal.audit_during_update(t.tbl, true);
		PERFORM pg_catalog.set_config('session_replication_role', 'replica', true);
		EXECUTE pg_catalog.format('UPDATE %s SET %I = pg_catalog.btrim(%I) WHERE pg_catalog.length(%I) OPERATOR(pg_catalog.>) %s',
								  t.tbl, t.col, t.col, t.col, t.most);
		PERFORM pg_catalog.set_config('session_replication_role', v_role, true);
		PERFORM protector_internal.audit_during_update(t.tbl, false);
	END LOOP;
END
$padded$;
ALTER TABLE protector.organizations DROP CONSTRAINT organizations_name_check,
	ADD CONSTRAINT organizations_name_check CHECK (length(btrim(name)) >= 1 AND length(name) <= 200);
ALTER TABLE protector.venues DROP CONSTRAINT venues_name_check,
	ADD CONSTRAINT venues_name_check CHECK (length(btrim(name)) >= 1 AND length(name) <= 200);
ALTER TABLE protector.services DROP CONSTRAINT services_name_check,
	ADD CONSTRAINT services_name_check CHECK (length(btrim(name)) >= 1 AND length(name) <= 200);
ALTER TABLE protector.customers DROP CONSTRAINT customers_full_name_check,
	ADD CONSTRAINT customers_full_name_check CHECK (length(btrim(full_name)) >= 1 AND length(full_name) <= 200);
ALTER TABLE protector.tasks DROP CONSTRAINT tasks_title_check,
	ADD CONSTRAINT tasks_title_check CHECK (length(btrim(title)) >= 1 AND length(title) <= 300);
-- a day 0.1.0 took as open at an empty list of special hours, which every
-- read takes for closed: closed (0.2.0 refuses the list, and would refuse
-- every later change of the row), audited
SELECT protector_internal.audit_during_update('protector.venue_closures', true);
SET LOCAL session_replication_role = replica;
UPDATE protector.venue_closures c SET closed = true, special_hours = NULL
WHERE NOT c.closed AND c.special_hours OPERATOR(pg_catalog.=) '[]'::jsonb;
RESET session_replication_role;
SELECT protector_internal.audit_during_update('protector.venue_closures', false);

-- an owner's invitation's audit rows are owners' only, as the invitation is
ALTER POLICY audit_log_select ON protector.audit_log
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('audit.read'))::uuid[])
		   AND (table_name <> 'protector.staff_invitations'
				OR (COALESCE(new_row ->> 'role', '') <> 'owner' AND COALESCE(old_row ->> 'role', '') <> 'owner')
				OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[]))
		   -- (a notification addressed to a member is that member's, as the
		   -- table's policy has it: audited, its payload was read by all
		   -- who read the audit log)
		   AND (table_name <> 'protector.notifications'
				OR (COALESCE(new_row ->> 'recipient_id', '') IN ('', (SELECT protector.current_user_id())::text)
					AND COALESCE(old_row ->> 'recipient_id', '') IN ('', (SELECT protector.current_user_id())::text))));

-- 0.1.0 left the expiry on a hold it confirmed (update_booking_status_batch,
-- a direct update), and a cancellation kept it: the dashboards would take
-- such a booking, cancelled, for an abandoned checkout.  A booking that is
-- not held loses it, and a cancelled one that was a booking before (its
-- history says so), audited.
SELECT protector_internal.audit_during_update('protector.bookings', true);
SET LOCAL session_replication_role = replica;
UPDATE protector.bookings b SET hold_expires_at = NULL
WHERE b.hold_expires_at IS NOT NULL
  AND (b.status NOT IN ('held', 'cancelled')
	   OR (b.status = 'cancelled'
		   AND EXISTS (SELECT FROM protector.audit_log l
					   WHERE l.table_name = 'protector.bookings' AND l.record_id = b.id::text
						 AND l.new_row ->> 'status' IN ('pending', 'confirmed', 'in_progress', 'completed', 'no_show'))));
RESET session_replication_role;
SELECT protector_internal.audit_during_update('protector.bookings', false);

DROP FUNCTION protector_internal.audit_during_update(regclass, boolean);

CREATE FUNCTION protector_internal.cancellation_time(p_booking_id uuid, p_old_status protector.booking_status,
	p_new_status protector.booking_status, p_old_at timestamptz, p_new_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_new_status OPERATOR(pg_catalog.=) 'cancelled' AND p_old_status OPERATOR(pg_catalog.<>) 'cancelled' THEN
		RETURN pg_catalog.now();
	END IF;
	IF p_old_status IS NOT NULL AND p_new_at IS NOT DISTINCT FROM p_old_at THEN
		RETURN p_new_at;
	END IF;
	IF p_new_status OPERATOR(pg_catalog.<>) 'cancelled' AND p_new_at IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'only a cancelled booking has a cancellation time',
			pg_catalog.format('Booking %s is %s.', p_booking_id, p_new_status),
			'Cancel it (cancel_booking, or status cancelled): the time is stamped then.');
	END IF;
	IF p_new_status OPERATOR(pg_catalog.=) 'cancelled' AND p_new_at IS NULL THEN
		IF p_old_status IS NULL THEN
			RETURN pg_catalog.now();
		END IF;
		PERFORM protector.raise('invalid_parameter', 'a cancelled booking keeps its cancellation time',
			pg_catalog.format('Booking %s was cancelled at %s.', p_booking_id, protector_internal.iso_text(p_old_at)));
	END IF;
	IF p_new_at OPERATOR(pg_catalog.>) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'a cancellation time is not in the future',
			pg_catalog.format('cancelled_at is %s.', protector_internal.iso_text(p_new_at)));
	END IF;
	RETURN p_new_at;
END
$$;
COMMENT ON FUNCTION protector_internal.cancellation_time(uuid, protector.booking_status, protector.booking_status, timestamptz, timestamptz) IS
'The cancelled_at a booking''s direct write leaves: now() for one cancelled now; 22023 for a time on one not cancelled, none or a future one on one cancelled';
GRANT EXECUTE ON FUNCTION protector_internal.cancellation_time(uuid, protector.booking_status, protector.booking_status, timestamptz, timestamptz)
	TO authenticated, service_role;

-- the customer record a widget booking was for: its erasure takes the
-- day's record whatever address the customer has since
ALTER TABLE protector_internal.widget_requests ADD COLUMN customer_id uuid;
-- (the day's rows of 0.1.0: the guest record the widget booked them for,
-- found as it found it, by the address's identity key)
UPDATE protector_internal.widget_requests w
SET customer_id = (SELECT c.id FROM protector.customers c
				   WHERE c.organization_id = w.organization_id AND c.identity_key = w.identity_key
					 AND c.merged_into IS NULL AND c.user_id IS NULL
				   ORDER BY c.created_at, c.id LIMIT 1);

CREATE FUNCTION protector_internal.check_party_size(p_organization_id uuid, p_service_id uuid, p_party_size integer)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
BEGIN
	SELECT * INTO s FROM protector.services x
	WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.id OPERATOR(pg_catalog.=) p_service_id;
	IF FOUND AND NOT (p_party_size OPERATOR(pg_catalog.>=) s.min_party
					  AND p_party_size OPERATOR(pg_catalog.<=) COALESCE(s.max_party, s.capacity)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('the booking''s party of %s is not allowed for service "%s"', p_party_size, s.name),
			pg_catalog.format('The service takes parties of %s to %s.', s.min_party, COALESCE(s.max_party, s.capacity)),
			'A service takes parties from its min_party to its max_party (its capacity without one).');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_party_size(uuid, uuid, integer) IS
'Refuses a party its service does not take (22023), as create_booking does, for staff''s direct writes';
GRANT EXECUTE ON FUNCTION protector_internal.check_party_size(uuid, uuid, integer) TO authenticated, service_role;

-- A booking's hold_expires_at is a hold's: a hold made a booking loses it
-- (enforce_status_transition), and a hold cancelled, lapsed or by hand,
-- keeps it, which is how the dashboards and reports tell a checkout
-- abandoned from a booking cancelled.  So nobody writes one on a booking
-- that is not held (staff cancelled a booking with an expiry written on
-- it, and it left every count), nor takes it from a cancelled hold (a
-- customer did, and their abandoned checkout counted as a cancellation),
-- whoever writes (a trusted caller's un-cancellation leaves none; a
-- trusted caller may clear one, a correction).  Named to run after the
-- triggers that may make a booking held or cancelled and before
-- set_updated_at: an expiry written and dropped here changes nothing, and
-- the row keeps its stamp (it took a new one, with no audit row).
CREATE FUNCTION protector_internal.hold_expiry_of(p_old_status protector.booking_status, p_old_expiry timestamptz,
	p_new_status protector.booking_status, p_new_expiry timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_new_status OPERATOR(pg_catalog.=) 'held' THEN p_new_expiry
			WHEN p_new_status OPERATOR(pg_catalog.=) 'cancelled'
				 AND p_old_status OPERATOR(pg_catalog.=) ANY ('{held,cancelled}'::protector.booking_status[]) THEN p_old_expiry END;
COMMENT ON FUNCTION protector_internal.hold_expiry_of(protector.booking_status, timestamptz, protector.booking_status, timestamptz) IS
'The hold_expires_at an update leaves: a hold''s own, a cancelled hold''s kept, none on any other booking';
GRANT EXECUTE ON FUNCTION protector_internal.hold_expiry_of(protector.booking_status, timestamptz, protector.booking_status, timestamptz)
	TO authenticated, service_role;

CREATE FUNCTION protector_internal.keep_hold_expiry()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.hold_expires_at IS NULL AND protector_internal.caller_is_trusted() THEN
		RETURN NEW;
	END IF;
	NEW.hold_expires_at := protector_internal.hold_expiry_of(OLD.status, OLD.hold_expires_at, NEW.status, NEW.hold_expires_at);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_hold_expiry() IS
'Trigger: hold_expires_at is a hold''s, kept by a cancelled hold, on no other booking';
CREATE TRIGGER hold_expiry_kept BEFORE UPDATE ON protector.bookings
	FOR EACH ROW WHEN (NEW.hold_expires_at IS DISTINCT FROM
					   protector_internal.hold_expiry_of(OLD.status, OLD.hold_expires_at, NEW.status, NEW.hold_expires_at)
					   AND NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.keep_hold_expiry();

CREATE FUNCTION protector_internal.rows_by_table(p_relids regclass[])
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT pg_catalog.string_agg(pg_catalog.format('%s of %s', t.n, t.relid), ', ' ORDER BY t.relid::text)
		FROM (SELECT r.relid, pg_catalog.count(*) AS n FROM pg_catalog.unnest(p_relids) r(relid) GROUP BY r.relid) t);
COMMENT ON FUNCTION protector_internal.rows_by_table(regclass[]) IS
'Internal: rows named by their tables, counted by table, as restore WARNINGs say it (NULL for none)';

CREATE FUNCTION protector_internal.lock_booking_services(p_booking_ids uuid[])
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_booking_services'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector_internal.lock_booking_services(uuid[]) IS
'Takes the reservation locks of the services of those bookings the caller may change, in key order, each wait bounded by protector.lock_timeout (update_booking_status_batch)';

CREATE FUNCTION protector_internal.lock_seen(p_class integer, p_id uuid, p_shared boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_seen'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector_internal.lock_seen(integer, uuid, boolean) IS
'Takes protector''s lock of class p_class (a booking''s reminders, a waiver version) over a row the caller sees, exclusive or shared, its wait bounded by protector.lock_timeout';
GRANT EXECUTE ON FUNCTION protector_internal.lock_booking_services(uuid[]), protector_internal.lock_seen(integer, uuid, boolean)
	TO authenticated, service_role;

-- Whether this transaction deleted the user's membership of the
-- organization (src/members.c): a writer without one, in a delete, either
-- deleted it in the same statement (themselves with others) or lost it to
-- another transaction while the statement was under way.
CREATE FUNCTION protector_internal.membership_deleted_here(p_organization_id uuid, p_user_id uuid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_membership_deleted_here'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION protector_internal.membership_deleted_here(uuid, uuid) IS
'Whether the current transaction deleted the user''s membership row of the organization (C, from the row versions: not forgeable; protector''s own code only)';
REVOKE ALL ON FUNCTION protector_internal.membership_deleted_here(uuid, uuid) FROM PUBLIC;

CREATE FUNCTION protector_internal.lock_member_manager(p_organization_id uuid, p_owners boolean, p_deleting boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
	v_member protector.members;
BEGIN
	IF v_user IS NULL OR protector_internal.requester_is_trusted() THEN
		RETURN;
	END IF;
	BEGIN
		IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.=) 'read committed' THEN
			SELECT * INTO v_member FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.user_id OPERATOR(pg_catalog.=) v_user
			FOR KEY SHARE NOWAIT;
		ELSE
			SELECT * INTO v_member FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.user_id OPERATOR(pg_catalog.=) v_user
			FOR SHARE NOWAIT;
		END IF;
	EXCEPTION WHEN lock_not_available THEN
		PERFORM protector.raise('retry', 'your membership is being changed',
			'Your own membership is locked by a change of it under way.', 'Retry the write.');
	END;
	-- (none: the policies would refuse one who never was a member, but one
	-- removed while the write was under way passed them on its snapshot;
	-- a statement deleting its writer's row with others saw it gone, which
	-- the row itself tells: one deleted by another transaction is refused)
	IF NOT FOUND AND p_deleting
	   AND protector_internal.membership_deleted_here(p_organization_id, v_user) THEN
		RETURN;
	END IF;
	IF NOT FOUND THEN
		PERFORM protector.raise('forbidden', 'you are no member of this organization',
			'Members are managed by the organization''s owners and admins; a membership removed while this change was written is gone.');
	END IF;
	IF NOT v_member.active
	   OR NOT protector_internal.role_may(v_member.role,
			ARRAY[CASE WHEN p_owners THEN 'members.manage_owners' ELSE 'members.manage' END]) THEN
		PERFORM protector.raise('forbidden', 'your membership does not let you manage members',
			'Owners and admins manage members, and only owners manage owners; a membership deactivated or given another role while this change was written no longer counts.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_member_manager(uuid, boolean, boolean) IS
'Asks the signed-in member''s own membership again as it is now (locked NOWAIT: FOR KEY SHARE under READ COMMITTED, FOR SHARE above; 40001 while a change of it holds it) and refuses (42501) one that may no longer manage members (owners'' rows: p_owners)';

CREATE FUNCTION protector_internal.lock_member_writer()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector_internal.lock_member_manager(
			CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN OLD.organization_id ELSE NEW.organization_id END,
			(TG_OP OPERATOR(pg_catalog.<>) 'DELETE' AND NEW.role OPERATOR(pg_catalog.=) 'owner')
			OR (TG_OP OPERATOR(pg_catalog.<>) 'INSERT' AND OLD.role OPERATOR(pg_catalog.=) 'owner'),
			TG_OP OPERATOR(pg_catalog.=) 'DELETE');
	END IF;
	RETURN CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_member_writer() IS
'Trigger (BEFORE INSERT, UPDATE or DELETE on members): a direct write''s writer may still manage members, asked under a lock of their own membership (lock_member_manager)';
CREATE TRIGGER lock_member_writer BEFORE INSERT OR UPDATE OR DELETE ON protector.members
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.lock_member_writer();
GRANT EXECUTE ON FUNCTION protector_internal.lock_member_manager(uuid, boolean, boolean) TO authenticated, service_role;

CREATE FUNCTION protector_internal.lock_member_change(p_member_id uuid, p_work boolean)
RETURNS protector.members
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m protector.members;
BEGIN
	PERFORM protector_internal.authorize_row('protector.members', p_member_id, 'members.manage', 'member');
	SELECT * INTO m FROM protector.members x WHERE x.id OPERATOR(pg_catalog.=) p_member_id;
	IF p_work THEN
		PERFORM protector_internal.lock_member_work(m.organization_id, m.user_id, m.id);
	END IF;
	PERFORM protector_internal.authorize_row('protector.members', p_member_id, 'members.manage', 'member', true);
	SELECT * INTO m FROM protector.members x WHERE x.id OPERATOR(pg_catalog.=) p_member_id;
	-- (gone from the caller's sight while authorize_row waited for its lock:
	-- the caller was deactivated meanwhile, say, by the member in question)
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'member not found');
	END IF;
	RETURN m;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_member_change(uuid, boolean) IS
'Internal: the member an RPC changes, authorized (members.manage) and locked FOR UPDATE, their work (p_work) first';
GRANT EXECUTE ON FUNCTION protector_internal.lock_member_change(uuid, boolean) TO authenticated, service_role;

CREATE FUNCTION protector_internal.lock_booking_vouchers(p_organization_id uuid, p_booking_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_voucher uuid;
BEGIN
	FOR v_voucher IN
		SELECT DISTINCT p.voucher_id FROM protector.payments p
		WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id AND p.booking_id OPERATOR(pg_catalog.=) p_booking_id
		  AND p.voucher_id IS NOT NULL
		ORDER BY 1
	LOOP
		PERFORM protector_internal.lock_row('protector.vouchers', v_voucher, 'voucher');
	END LOOP;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_booking_vouchers(uuid, uuid) IS
'Internal: locks every voucher that paid the booking, in id order (protector.lock_timeout each)';

CREATE FUNCTION protector_internal.refuse_unfinished_restore(p_organization_id uuid, p_detail text,
															  p_relid regclass DEFAULT NULL, p_column text DEFAULT NULL,
															  p_value uuid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF EXISTS (SELECT FROM protector_internal.restore_pending r
			   WHERE r.row_data OPERATOR(pg_catalog.->>) 'organization_id' OPERATOR(pg_catalog.=) p_organization_id::text
				 AND (p_relid IS NULL
					  OR (r.relid OPERATOR(pg_catalog.=) p_relid
						  AND r.row_data OPERATOR(pg_catalog.->>) p_column OPERATOR(pg_catalog.=) p_value::text))) THEN
		PERFORM protector.raise('conflict', 'a restore of this organization is not finished', p_detail,
			'Run SELECT * FROM protector.finish_restore(); as the restoring role until no rows wait, then try again.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_unfinished_restore(uuid, text, regclass, text, uuid) IS
'Refuses (23P01) while rows of the organization a restore set aside wait in restore_pending (of p_relid whose p_column is p_value, when given); protector''s own SECURITY DEFINER code only';

CREATE FUNCTION protector_internal.lock_bookings(p_ids uuid[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'protector_lock_bookings'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION protector_internal.lock_bookings(uuid[]) IS
'Locks FOR UPDATE, in id order, those of the bookings the caller may update (RLS), the wait bounded by protector.lock_timeout (40001); returns how many (update_booking_status_batch)';
GRANT EXECUTE ON FUNCTION protector_internal.lock_bookings(uuid[]) TO authenticated, service_role;

CREATE FUNCTION protector_internal.check_customer_signatures(p_organization_id uuid, p_booking_id uuid, p_waiver_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_party integer;
	v_signed bigint;
BEGIN
	IF protector_internal.requester_is_trusted()
	   OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.read')) THEN
		RETURN;
	END IF;
	SELECT b.party_size INTO v_party FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.id OPERATOR(pg_catalog.=) p_booking_id
	  AND b.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids());
	IF NOT FOUND THEN
		RETURN;
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(protector_internal.lock_key(1886547722, p_booking_id));
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.waiver_submissions s WHERE s.booking_id OPERATOR(pg_catalog.=) $1',
		p_booking_id, 'a signature of this booking was written concurrently', NULL);
	SELECT pg_catalog.count(*) INTO v_signed FROM protector.waiver_submissions s
	WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id AND s.booking_id OPERATOR(pg_catalog.=) p_booking_id
	  AND s.waiver_id OPERATOR(pg_catalog.=) p_waiver_id;
	IF v_signed OPERATOR(pg_catalog.>=) v_party THEN
		PERFORM protector.raise('invalid_parameter', 'every participant of this booking has signed this waiver',
			pg_catalog.format('Its party of %s has %s signatures.', v_party, v_signed),
			'A change of participants is signed at the desk; a larger party is booked first (party_size).');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_customer_signatures(uuid, uuid, uuid) IS
'A customer''s new or linked signature on their booking: 22023 once the waiver has as many signatures on the booking as its party_size (not for the desk, trusted callers, or bookings not the caller''s)';
GRANT EXECUTE ON FUNCTION protector_internal.check_customer_signatures(uuid, uuid, uuid) TO authenticated, service_role;

CREATE FUNCTION protector_internal.status_with_article(p_status protector.booking_status)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_status OPERATOR(pg_catalog.=) 'in_progress' THEN 'an ' ELSE 'a ' END
	OPERATOR(pg_catalog.||) p_status::text;
COMMENT ON FUNCTION protector_internal.status_with_article(protector.booking_status) IS
'A booking status with its article, as messages name it: "an in_progress", "a held"';
GRANT EXECUTE ON FUNCTION protector_internal.status_with_article(protector.booking_status) TO authenticated, service_role;


CREATE FUNCTION protector_internal.refuse_deleted_organization(p_organization_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id) THEN
		PERFORM protector.raise('not_found', 'organization not found', 'It was deleted, or you were removed from it, while the request was under way.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_deleted_organization(uuid) IS
'Raises "organization not found" when p_organization_id is gone (an insert''s foreign key failed: deleted meanwhile); returns otherwise';
GRANT EXECUTE ON FUNCTION protector_internal.refuse_deleted_organization(uuid) TO authenticated, service_role;

CREATE FUNCTION protector_internal.within_periods(p_periods jsonb, p_at timestamptz, p_seq bigint)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(p_periods) p
			   WHERE CASE WHEN p_seq IS NOT NULL
						  THEN (p_seq OPERATOR(pg_catalog.>) COALESCE((p OPERATOR(pg_catalog.->>) 2)::bigint, 0)
								AND p_seq OPERATOR(pg_catalog.<) COALESCE((p OPERATOR(pg_catalog.->>) 3)::bigint, 9223372036854775807))
							   OR (p_at OPERATOR(pg_catalog.>) COALESCE((p OPERATOR(pg_catalog.->>) 0)::timestamptz, '-infinity')
								   AND p_at OPERATOR(pg_catalog.<) COALESCE((p OPERATOR(pg_catalog.->>) 1)::timestamptz, 'infinity'))
						  ELSE p_at OPERATOR(pg_catalog.>=) COALESCE((p OPERATOR(pg_catalog.->>) 0)::timestamptz, '-infinity')
							   AND p_at OPERATOR(pg_catalog.<=) COALESCE((p OPERATOR(pg_catalog.->>) 1)::timestamptz, 'infinity') END);
COMMENT ON FUNCTION protector_internal.within_periods(jsonb, timestamptz, bigint) IS
'Internal: whether a row was written within one of a JSON array of [from, to, from audit id, to audit id] periods: by its insert''s audit id (p_seq) or its time strictly inside, else by its time (null: open)';

CREATE FUNCTION protector_internal.rows_while_theirs(p_organization_id uuid, p_table regclass, p_columns text[],
													  p_once uuid[], p_split uuid[], p_periods jsonb)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids text[];
BEGIN
	IF p_once OPERATOR(pg_catalog.||) p_split OPERATOR(pg_catalog.=) '{}' THEN
		RETURN '{}';
	END IF;
	-- (a row whose insert or rewrite was logged by its audit id, also one
	-- deleted since; another, whose insert was not logged, by its time;
	-- one of a booking theirs now, unless its text is the text last
	-- logged for it on this booking: one moved here from another booking
	-- is theirs, one without any history theirs too: never audited, or
	-- its history purged, which the settings of now do not tell apart)
	EXECUTE pg_catalog.format(
		'WITH logged AS (
			SELECT l.record_id AS id, l.new_row OPERATOR(pg_catalog.->>) ''booking_id'' AS booking_id, l.id AS seq,
				   l.occurred_at AS at, l.op OPERATOR(pg_catalog.=) ''INSERT'' AS inserted
			FROM protector.audit_log l
			WHERE l.table_name OPERATOR(pg_catalog.=) $4 AND l.record_id OPERATOR(pg_catalog.<>) ''[masked]''
			  AND l.organization_id OPERATOR(pg_catalog.=) $1
			  AND (l.op OPERATOR(pg_catalog.=) ''INSERT''
				   OR (l.op OPERATOR(pg_catalog.=) ''UPDATE'' AND protector_internal.text_changed(l.old_row, l.new_row, $5)))
			  AND l.new_row OPERATOR(pg_catalog.->>) ''booking_id'' OPERATOR(pg_catalog.=) ANY (($2 OPERATOR(pg_catalog.||) $6)::text[]))
		 SELECT ARRAY(SELECT g.id FROM logged g
					  WHERE protector_internal.within_periods($3 OPERATOR(pg_catalog.->) g.booking_id, g.at, g.seq)
					  UNION
					  SELECT x.id::text FROM %1$s x
					  WHERE x.organization_id OPERATOR(pg_catalog.=) $1 AND x.booking_id OPERATOR(pg_catalog.=) ANY ($2)
						AND NOT EXISTS (SELECT FROM logged g WHERE g.id OPERATOR(pg_catalog.=) x.id::text AND g.inserted)
						AND protector_internal.within_periods($3 OPERATOR(pg_catalog.->) x.booking_id::text, x.created_at, NULL)
					  UNION
					  SELECT x.id::text FROM %1$s x
					  WHERE x.organization_id OPERATOR(pg_catalog.=) $1 AND x.booking_id OPERATOR(pg_catalog.=) ANY ($6)
						AND (EXISTS (SELECT FROM protector.audit_log g
									 WHERE g.table_name OPERATOR(pg_catalog.=) $4 AND g.record_id OPERATOR(pg_catalog.=) x.id::text
									   AND g.organization_id OPERATOR(pg_catalog.=) $1
									   AND g.new_row OPERATOR(pg_catalog.?) ''booking_id''
									   AND (g.new_row OPERATOR(pg_catalog.->>) ''booking_id'') IS DISTINCT FROM x.booking_id::text)
							 OR COALESCE(
								(SELECT protector_internal.text_changed(t.new_row, pg_catalog.to_jsonb(x), $5)
								 FROM (SELECT g.new_row FROM protector.audit_log g
									   WHERE g.table_name OPERATOR(pg_catalog.=) $4 AND g.record_id OPERATOR(pg_catalog.=) x.id::text
										 AND g.organization_id OPERATOR(pg_catalog.=) $1
										 AND (g.op OPERATOR(pg_catalog.=) ''INSERT''
											  OR (g.op OPERATOR(pg_catalog.=) ''UPDATE''
												  AND protector_internal.text_changed(g.old_row, g.new_row, $5)))
									   ORDER BY g.id DESC LIMIT 1) t),
								true)))',
		p_table)
	INTO v_ids USING p_organization_id, p_once, p_periods, p_table::text, p_columns, p_split;
	RETURN v_ids;
END
$$;
COMMENT ON FUNCTION protector_internal.rows_while_theirs(uuid, regclass, text[], uuid[], uuid[], jsonb) IS
'Internal: the ids of p_table''s rows of bookings once a customer''s, or theirs now and another''s before, made or rewritten while each was theirs, by the rows and their history';

-- The restore's set-aside rows are written in fixed settings (a
-- booking's range in another DateStyle came back hours away)
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
			 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'protector_internal'::regnamespace
			   AND p.proname OPERATOR(pg_catalog.~) '^restore_order_'
			 ORDER BY p.proname LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SET DateStyle = ''ISO, YMD'' SET IntervalStyle = ''postgres''', f);
	END LOOP;
END
$$;

CREATE FUNCTION protector_internal.refuse_unseen_foreign_tasks(p_member_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (protector_internal.requester_is_trusted()
			OR EXISTS (SELECT FROM protector.members m
					   WHERE m.id OPERATOR(pg_catalog.=) p_member_id
						 AND m.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.manage')))) THEN
		RETURN;
	END IF;
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.members m
		 JOIN protector.tasks t ON t.organization_id OPERATOR(pg_catalog.=) m.organization_id
							   AND t.assignee OPERATOR(pg_catalog.=) m.user_id
		 WHERE m.id OPERATOR(pg_catalog.=) $1 AND t.status OPERATOR(pg_catalog.<>) ''done''
		   AND protector_internal.task_not_theirs(t.organization_id, t.booking_id, m.user_id)',
		p_member_id, 'a task was given to the member concurrently',
		'It is of a booking not theirs, which an agent could not finish.');
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_unseen_foreign_tasks(uuid) IS
'Internal: 40001 when a member (p_member_id) made an agent has open tasks of bookings not theirs that a REPEATABLE READ snapshot missed; for those who may manage its members';
GRANT EXECUTE ON FUNCTION protector_internal.refuse_unseen_foreign_tasks(uuid) TO authenticated, service_role;

CREATE FUNCTION protector_internal.refuse_second_signature(p_schema text, p_table text, p_constraint text,
															p_participant_name text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pg_catalog.concat_ws('.', p_schema, p_table, p_constraint)
	   OPERATOR(pg_catalog.=) 'protector.waiver_submissions.waiver_submissions_participant_idx' THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s has already signed the waiver of this booking', p_participant_name));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_second_signature(text, text, text, text) IS
'Internal: answers a unique violation of the participant''s signature index as "already signed"; returns for any other';
GRANT EXECUTE ON FUNCTION protector_internal.refuse_second_signature(text, text, text, text) TO authenticated, service_role;

CREATE FUNCTION protector_internal.check_date_range(p_from date, p_to date, p_first date, p_last date)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (pg_catalog.isfinite(p_from) AND pg_catalog.isfinite(p_to)) THEN
		PERFORM protector.raise('datetime_overflow', 'p_from and p_to must be finite dates',
			pg_catalog.format('Got %s to %s.', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
	IF p_from OPERATOR(pg_catalog.<) p_first OR p_to OPERATOR(pg_catalog.>) p_last THEN
		PERFORM protector.raise('datetime_overflow',
			'p_from and p_to must be dates between ' OPERATOR(pg_catalog.||)
			CASE WHEN p_first OPERATOR(pg_catalog.=) '0001-01-01' AND p_last OPERATOR(pg_catalog.=) '9999-12-31'
				 THEN 'the years 1 and 9999'
				 ELSE pg_catalog.format('%s and %s', protector_internal.iso_text(p_first), protector_internal.iso_text(p_last)) END,
			pg_catalog.format('Got %s to %s.', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_date_range(date, date, date, date) IS
'Internal: refuses (22008) a range of dates that is infinite or beyond p_first to p_last';
GRANT EXECUTE ON FUNCTION protector_internal.check_date_range(date, date, date, date) TO authenticated, service_role;

CREATE FUNCTION protector_internal.refuse_unwritten_member(p_organization_id uuid, p_owners boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.lock_member_manager(p_organization_id, p_owners, false);
	PERFORM protector.raise('not_found', 'member not found', 'It was removed while the request was under way.');
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_unwritten_member(uuid, boolean) IS
'Internal: refuses an RPC''s member update that wrote nothing (42501 when the caller may no longer manage members, else member not found)';
GRANT EXECUTE ON FUNCTION protector_internal.refuse_unwritten_member(uuid, boolean) TO authenticated, service_role;

CREATE FUNCTION protector_internal.text_changed(p_old jsonb, p_new jsonb, p_columns text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT FROM pg_catalog.unnest(p_columns) c
			   WHERE (p_old OPERATOR(pg_catalog.->) c) IS DISTINCT FROM (p_new OPERATOR(pg_catalog.->) c));
COMMENT ON FUNCTION protector_internal.text_changed(jsonb, jsonb, text[]) IS
'Internal: whether the columns differ between two versions of a row';

-- The bookings of p_ids the caller does not see (RLS decides: none, or
-- not theirs), refused by id: "<p_detail>: <ids>."  For a batch of the
-- caller's.
CREATE FUNCTION protector_internal.refuse_unseen_bookings(p_ids uuid[], p_detail text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_missing uuid[] := ARRAY(SELECT x FROM pg_catalog.unnest(p_ids) x
							  WHERE NOT EXISTS (SELECT FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) x));
BEGIN
	IF pg_catalog.cardinality(v_missing) OPERATOR(pg_catalog.>) 0 THEN
		PERFORM protector.raise('not_found', 'some bookings were not found',
			pg_catalog.format('%s: %s.', p_detail, pg_catalog.array_to_string(v_missing, ', ')));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_unseen_bookings(uuid[], text) IS
'Internal: refuses (P0002) the bookings of p_ids the caller does not see, listing their ids after p_detail';
GRANT EXECUTE ON FUNCTION protector_internal.refuse_unseen_bookings(uuid[], text) TO authenticated, service_role;

-- An erasure written directly (docs/operations.md): its customer named,
-- refused by name where there is none in the organization, as
-- erase_customer refuses it (the key's raw 23502 or 23503 otherwise).  As
-- the caller, and only for callers who may erase there: the policy
-- refuses the others' row, for a customer that exists as for one that
-- does not.  (A customer erased already meets the table's key, 23505:
-- erase_customer() erases again.)
CREATE FUNCTION protector_internal.check_erasure_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (protector_internal.caller_is_trusted()
			OR COALESCE(NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('customers.erase')), false)) THEN
		RETURN NEW;
	END IF;
	IF NEW.customer_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'customer_id must not be null', 'An erasure names the customer to erase.');
	END IF;
	IF NOT EXISTS (SELECT FROM protector.customers c
				   WHERE c.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
					 AND c.id OPERATOR(pg_catalog.=) NEW.customer_id) THEN
		PERFORM protector.raise('not_found', 'customer not found', 'customer_id is not a customer of the organization.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_erasure_row() IS
'Trigger (BEFORE INSERT of an erasure): its customer named and of the organization, refused by name otherwise';
CREATE TRIGGER check_erasure_row BEFORE INSERT ON protector.customer_erasures
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_erasure_row();

-- What a batch's cancellations and no-shows give back to (promo codes,
-- vouchers) locked in id order before its update: two batches meeting
-- them in opposite orders deadlocked
CREATE FUNCTION protector_internal.lock_give_backs(p_booking_ids uuid[], p_codes boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_give_backs'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector_internal.lock_give_backs(uuid[], boolean) IS
'Locks, as their owner, what a cancellation (p_codes) or no-show of those bookings the caller may change gives back to: the promo codes they count, then the vouchers that paid them, each in id order, each wait bounded by protector.lock_timeout (update_booking_status_batch)';
GRANT EXECUTE ON FUNCTION protector_internal.lock_give_backs(uuid[], boolean) TO authenticated, service_role;

-- A merge's or a customer change's bookings again once the customers are
-- locked, without waiting (a booking made meanwhile deadlocked, 40P01)
CREATE FUNCTION protector_internal.relock_customer_bookings(p_customer_ids uuid[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM FROM protector.bookings b
	WHERE b.customer_id OPERATOR(pg_catalog.=) ANY (p_customer_ids)
	ORDER BY b.id
	FOR NO KEY UPDATE NOWAIT;
EXCEPTION WHEN lock_not_available THEN
	PERFORM protector.raise('retry', 'a booking of the customer was written while this waited for the customer',
		'Another request is changing it.', 'Retry: the customer''s bookings are then taken first.');
END
$$;
COMMENT ON FUNCTION protector_internal.relock_customer_bookings(uuid[]) IS
'After the customers are locked: their bookings again, without waiting (40001 when one is busy), those made while the lock was awaited included (merge_customers, update_customer)';
GRANT EXECUTE ON FUNCTION protector_internal.relock_customer_bookings(uuid[]) TO authenticated, service_role;

-- An organization's slug written through the table refused by name
CREATE FUNCTION protector_internal.check_slug()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.slug IS NULL OR NEW.slug OPERATOR(pg_catalog.!~) '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' THEN
		PERFORM protector.raise('invalid_parameter', 'slug is not a valid slug',
			pg_catalog.format('Got %L.', pg_catalog.left(NEW.slug, 80)),
			'Use 1 to 63 lower-case letters, digits and inner hyphens, e.g. "lockbox-berlin".');
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
		-- (under REPEATABLE READ the organization that held the slug in the
		-- snapshot, changed since, is a serialization failure here: a
		-- retry, named, sees whether it still holds it; left to the key,
		-- a slug still taken was refused with no name)
		BEGIN
			PERFORM FROM protector.organizations o
			WHERE o.slug OPERATOR(pg_catalog.=) NEW.slug AND o.id OPERATOR(pg_catalog.<>) NEW.id
			FOR KEY SHARE OF o;
		EXCEPTION WHEN serialization_failure THEN
			PERFORM protector.raise('retry', pg_catalog.format('the organization holding the slug "%s" changed while this ran', NEW.slug),
				NULL, 'Retry: the slug is then free, or named as taken.');
		END;
		IF FOUND THEN
			RAISE unique_violation USING
				MESSAGE = pg_catalog.format('the slug "%s" is already taken', NEW.slug),
				HINT = 'Choose another slug.';
		END IF;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_slug() IS
'Trigger: an organization''s slug is a slug (22023) and a rename''s not another organization''s (23505), named';
CREATE TRIGGER check_slug BEFORE INSERT OR UPDATE OF slug ON protector.organizations
	FOR EACH ROW WHEN (NOT protector_internal.restoring()) EXECUTE FUNCTION protector_internal.check_slug();

-- A staff activity entry's action and details refused in words, for
-- log_staff_activity and, by a trigger, for entries written directly
CREATE FUNCTION protector_internal.check_staff_entry(p_action text, p_details jsonb, p_prefix text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_action IS NULL OR p_action OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_.]{0,62}$' THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%saction must be a lower-case name like "desk.check_in"', p_prefix),
			pg_catalog.format('Got "%s".', pg_catalog.left(p_action, 70)), 'Letters, digits, _ and ., at most 63.');
	END IF;
	IF p_details IS NULL OR pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object'
	   OR protector_internal.value_size(p_details) OPERATOR(pg_catalog.>) 8192 THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%sdetails must be a JSON object of at most 8 kB', p_prefix),
			CASE WHEN pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.=) 'object'
				 THEN pg_catalog.format('It takes %s bytes.', protector_internal.value_size(p_details)) END);
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_staff_entry(text, jsonb, text) IS
'Refuses a staff activity entry''s action or details the table would not take, in words (22023 naming the field)';
GRANT EXECUTE ON FUNCTION protector_internal.check_staff_entry(text, jsonb, text) TO authenticated, service_role;

CREATE FUNCTION protector_internal.check_staff_activity_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.check_staff_entry(NEW.action, NEW.details, '');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_staff_activity_row() IS
'Trigger (BEFORE INSERT on staff_activity): an entry''s action and details refused in words (check_staff_entry)';
CREATE TRIGGER check_staff_activity_row BEFORE INSERT ON protector.staff_activity
	FOR EACH ROW WHEN (NOT protector_internal.restoring())
	EXECUTE FUNCTION protector_internal.check_staff_activity_row();

-- An address 0.1.0 stored with a space other than ASCII's at either end
-- (its widget trimmed ASCII spaces only: a no-break space pasted with the
-- address was kept) is stored trimmed, as 0.2.0 writes one: the widget
-- passes over a record whose address it would not take, and the visitor's
-- next booking made a second record beside it (a review).  Compatibility
-- forms stay as they are (a Kelvin sign is a lookalike of another's
-- address), and so such a record is still passed over.
UPDATE protector.customers SET email = protector_internal.trim_spaces(email)
WHERE email IS NOT NULL AND NOT protector_internal.email_is_valid(email)
  AND protector_internal.email_is_valid(protector_internal.trim_spaces(email));

-- A record 0.1.0's merge kept with an address protector does not take now
-- (its merge kept the kept record's address whatever it was) takes the
-- address of a record merged into it that protector takes, as a merge
-- does since (merge_customers): its reminders went nowhere, and the
-- widget passes such a record over (an attack review of the upgrade)
UPDATE protector.customers k SET email = m.email
FROM (SELECT DISTINCT ON (x.organization_id, x.merged_into) x.organization_id, x.merged_into, x.email
	  FROM protector.customers x
	  WHERE x.merged_into IS NOT NULL AND protector_internal.email_is_valid(x.email)
	  ORDER BY x.organization_id, x.merged_into, x.updated_at DESC, x.id) m
WHERE k.organization_id = m.organization_id AND k.id = m.merged_into AND k.merged_into IS NULL
  AND k.email IS NOT NULL AND NOT protector_internal.email_is_valid(k.email);

-- A restore's load of one table, for SQL triggers that leave restored
-- rows alone (set_customer_identity_key)
CREATE FUNCTION protector_internal.restoring_into(p_table regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_restoring_into_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.restoring_into(regclass) IS
'True while a restore loads p_table: restoring() and the running statement is that table''s INSERT or COPY (or finish_restore''s offer)';
GRANT EXECUTE ON FUNCTION protector_internal.restoring_into(regclass) TO authenticated, service_role;

CREATE OR REPLACE FUNCTION protector_internal.set_customer_identity_key()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (not a restored row: the backup's key comes back as it was, whatever
	-- this server's ICU or the way the backup is restored; a plain restore
	-- recomputed it, one under replica did not.  Only the rows the restore
	-- loads: an RPC's write inside an INSERT ... SELECT run with
	-- row_security off is keyed as always)
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' AND protector_internal.restoring_into(TG_RELID) THEN
		RETURN NEW;
	END IF;
	NEW.identity_key := protector.normalize_email(NEW.email);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.set_customer_identity_key() IS
'Trigger: customers.identity_key is the ICU-normalized email (a restored row keeps the backup''s)';

-- A pending booking confirmed by hand before its deposit is paid no
-- longer has a deposit deadline (sql/77_payments.sql)
CREATE FUNCTION protector_internal.waive_deposit_deadline()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NEW.payment_due_by := NULL;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.waive_deposit_deadline() IS
'Trigger: a pending booking confirmed by hand (or moved on) before its deposit is paid no longer has a deposit deadline';
CREATE TRIGGER waive_deposit_deadline BEFORE UPDATE OF status ON protector.bookings
	FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status IN ('confirmed', 'in_progress', 'completed', 'no_show')
					   AND NEW.payment_due_by IS NOT NULL)
	EXECUTE FUNCTION protector_internal.waive_deposit_deadline();

-- (last: every function added above, whatever its place)
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;
