\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/98_restore.sql: what keeps a restore exact (it runs last: it covers
-- every table) (docs/operations.md).
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
-- behind.  Outside a restore the WHEN clauses keep all this from running;
-- the tables whose C triggers check for a restore anyway (bookings'
-- prepare_booking, report_change of the tables reports read) call the
-- functions from there and have no trigger of their own for it.

CREATE TABLE protector_internal.restore_pending (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	relid		regclass NOT NULL,
	row_data	jsonb NOT NULL,
	set_aside_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE protector_internal.restore_pending ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.restore_pending FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.restore_pending IS
'Rows a parallel restore loaded before what they refer to; empty once the restore is done (docs/operations.md)';

-- After a table's load: insert the rows set aside whose references are
-- there now, until no more can be; and Realtime, where the restored state
-- asks for it and no load held its tables when that row came
-- (restore_realtime_state).
CREATE FUNCTION protector_internal.insert_restored_pending()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p record;
	v_progress boolean := true;
	v_inserted integer;
	v_columns text;
BEGIN
	IF pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.>) 1 THEN
		RETURN NULL;		-- a row inserted from here: the outer loop goes on
	END IF;
	-- one at a time, and after every other load's commit
	PERFORM pg_catalog.pg_advisory_xact_lock(1886547716, 0);
	WHILE v_progress LOOP
		v_progress := false;
		FOR p IN SELECT * FROM protector_internal.restore_pending ORDER BY id LOOP
			-- offered again: inserted, or set aside anew (and this entry goes);
			-- generated columns compute themselves
			DELETE FROM protector_internal.restore_pending r WHERE r.id OPERATOR(pg_catalog.=) p.id;
			SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
			FROM pg_catalog.pg_attribute a
			WHERE a.attrelid OPERATOR(pg_catalog.=) p.relid AND a.attnum OPERATOR(pg_catalog.>) 0
			  AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) '';
			EXECUTE pg_catalog.format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE'
									  ' SELECT %s FROM pg_catalog.jsonb_populate_record(NULL::%s, $1)',
									  p.relid, v_columns, v_columns, p.relid) USING p.row_data;
			GET DIAGNOSTICS v_inserted = ROW_COUNT;
			v_progress := v_progress OR v_inserted OPERATOR(pg_catalog.>) 0;
		END LOOP;
	END LOOP;
	IF EXISTS (SELECT FROM protector_internal.realtime_state) THEN
		PERFORM protector_internal.apply_restored_realtime();
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
		-- "a_" fires before every other BEFORE INSERT trigger of the table;
		-- bookings' own BEFORE INSERT trigger, prepare_booking() (C), calls
		-- the function first itself while restoring (no WHEN clause for
		-- every booking to compile)
		IF t.tbl OPERATOR(pg_catalog.<>) 'protector.bookings' THEN
			EXECUTE pg_catalog.format('CREATE TRIGGER a_restore_order BEFORE INSERT ON %s FOR EACH ROW'
				' WHEN (protector_internal.restoring())'
				' EXECUTE FUNCTION protector_internal.%I()', t.tbl, v_name);
		END IF;
	END LOOP;
	FOR t IN
		SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS tbl FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname IN ('protector', 'protector_internal')
		  AND c.relname NOT IN ('restore_pending', 'outbox')	-- neither is dumped
		  -- report_change() (C, sql/89_reports.sql) does it after their
		  -- INSERT statements while restoring
		  AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
						  WHERE g.tgrelid = c.oid AND g.tgname = 'zz_report_change_insert'
							AND g.tgfoid = 'protector_internal.report_change()'::pg_catalog.regprocedure)
		ORDER BY n.nspname, c.relname
	LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER z_insert_restored_pending AFTER INSERT ON %s FOR EACH STATEMENT'
			' WHEN (protector_internal.restoring())'
			' EXECUTE FUNCTION protector_internal.insert_restored_pending()', t.tbl);
	END LOOP;
END
$restore$;

-- A restore creates the extension before auth.users, so the keys from
-- members and customers to it (link_auth_users, sql/30_tables.sql) are
-- made when auth.users gets its key: pg_dump's post-data ALTER TABLE
-- (or a CREATE TABLE with its key).  The DDL that fired it never fails for
-- it: a key that cannot be made (rows naming users that are not there, a
-- caller who does not own protector's tables) is a warning saying how to
-- make it later.  (A parallel restore of a backup whose database lacked
-- the keys and held members of deleted users can make them before those
-- rows load, and then fail on them: docs/operations.md.)
CREATE FUNCTION protector_internal.auth_users_changed()
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
	-- auth.users' own role, whose migrations alter it
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
	PERFORM protector_internal.link_auth_users();
END
$$;
COMMENT ON FUNCTION protector_internal.auth_users_changed() IS
'Event trigger: once auth.users has its key (a restore makes it after the data), members and customers reference it again';
CREATE EVENT TRIGGER protector_auth_users_changed ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
	EXECUTE FUNCTION protector_internal.auth_users_changed();
-- also under session_replication_role = replica: a restore run that way
-- came back without the keys to auth.users
ALTER EVENT TRIGGER protector_auth_users_changed ENABLE ALWAYS;

-- the generated trigger functions, like every internal function: no PUBLIC
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;
