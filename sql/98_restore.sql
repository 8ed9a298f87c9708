\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/98_restore.sql: what keeps a restore exact (it runs last: it covers
-- every table) (docs/operations.md).
--
-- A restore is recognized by row_security = off, which pg_dump's output
-- sets, in a superuser's session (src/capabilities.c): the audit, workflow
-- and live-update triggers leave restored rows alone (they are history,
-- restored with their audit rows, tasks and notifications), and the
-- realtime state is applied again (sql/85_realtime.sql).
--
-- Parallel restores.  pg_restore -j loads the tables' data side by side,
-- each table in its own transaction, and an extension's foreign keys exist
-- before its data arrives (pg_dump orders data by foreign keys only for
-- data-only dumps).  So during a restore a row whose references are not
-- there yet is set aside in restore_pending instead of failing, with the
-- table it waits for, and after each table's load the rows set aside
-- whose references may have arrived are offered again: those the load set
-- aside, those waiting for the loaded table, and then those waiting for a
-- table that rows offered again went into.  These statement triggers take
-- one transaction-level lock, so each sees every load committed before
-- it, and a row set aside by one load while the table it waits for loaded
-- beside it is offered by its own load after that table's commit, or
-- found by that table's load after its own.  Outside a restore the WHEN clauses keep all this from running;
-- the tables whose C triggers check for a restore anyway (bookings'
-- prepare_booking, report_change of the tables reports read) call the
-- functions from there and have no trigger of their own for it.

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
	-- made since the restore, a row another written since excludes): not
	-- offered again until the next finish_restore()
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

-- After a table's load: insert the rows set aside whose references are
-- there now, until no more can be; and Realtime, where the restored state
-- asks for it and no load held its tables when that row came
-- (restore_realtime_state).  Offered are the rows this load set aside
-- (the tables they wait for may have loaded beside it), those waiting for
-- the loaded table, or for no table of protector's, and then, round after
-- round, those waiting for a table that rows offered went into: a row is
-- offered about once per reference it waits for, not after every load.
-- With p_loaded NULL (finish_restore), every row is offered first, and
-- bookings that have not ended are checked: bookings made since the
-- restore may hold their slots.  A row that conflicts with a row written
-- since (a booking's overlap, a customer's record made again: an
-- integrity error, or a 40001 under REPEATABLE READ) stays, refused.
-- The rows are read in the settings their triggers wrote them in (below):
-- a range's text is in the session's DateStyle, whose zone abbreviations
-- another session reads as other zones' (CST: China's, or the US's).
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

-- Restored rows as a WARNING counts them: "2 of protector.members, 1 of
-- protector.customers", by table.
CREATE FUNCTION protector_internal.rows_by_table(p_relids regclass[])
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT pg_catalog.string_agg(pg_catalog.format('%s of %s', t.n, t.relid), ', ' ORDER BY t.relid::text)
		FROM (SELECT r.relid, pg_catalog.count(*) AS n FROM pg_catalog.unnest(p_relids) r(relid) GROUP BY r.relid) t);
COMMENT ON FUNCTION protector_internal.rows_by_table(regclass[]) IS
'Internal: rows named by their tables, counted by table, as restore WARNINGs say it (NULL for none)';

-- Rows of an organization a restore set aside are out of the reach of
-- what reckons over them, and finish_restore() puts them back as they
-- were, unchecked: an erasure would leave them unerased, a merge would see
-- a set-aside booking come back on the merged record, a voucher's ledger
-- without its set-aside payments would let it pay them again.  These wait
-- for finish_restore() (23P01: nothing to retry until it has run).
-- p_relid, p_column, p_value: only rows of that table whose column
-- holds that id count.
CREATE FUNCTION protector_internal.refuse_unfinished_restore(p_organization_id uuid, p_detail text,
															  p_relid regclass DEFAULT NULL, p_column text DEFAULT NULL,
															  p_value uuid DEFAULT NULL, p_message text DEFAULT NULL)
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
		PERFORM protector.raise('conflict', COALESCE(p_message, 'a restore of this organization is not finished'), p_detail,
			'Run SELECT * FROM protector.finish_restore(); as the restoring role until no rows wait, then try again.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_unfinished_restore(uuid, text, regclass, text, uuid, text) IS
'Refuses (23P01) while rows of the organization a restore set aside wait in restore_pending (of p_relid whose p_column is p_value, when given; p_message for another message); protector''s own SECURITY DEFINER code only';

-- Rows waiting for rows outside protector's schemas (the users of
-- auth.users a dump of protector's schema alone leaves out) are offered
-- after every load of protector's tables, and after the last, by nothing:
-- they were silently left behind.  Once per session, when no other load
-- runs beside, a WARNING says so, and protector.finish_restore() offers
-- them again once what they wait for is there.
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
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() = 0 AND protector_internal.restoring_into('protector_internal.restore_pending'))
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
	FOR EACH STATEMENT WHEN (pg_catalog.pg_trigger_depth() = 0 AND protector_internal.restoring_into('protector_internal.restore_pending'))
	EXECUTE FUNCTION protector_internal.restore_pending_loaded();
-- (both also under session_replication_role = replica, which Supabase's
-- data-only recipe sets: its load kept the backup's ids, and said nothing)
ALTER TABLE protector_internal.restore_pending ENABLE ALWAYS TRIGGER renumber_restored_pending;
ALTER TABLE protector_internal.restore_pending ENABLE ALWAYS TRIGGER restore_pending_loaded;

-- The end of each load of one of protector's tables (not of an insert
-- offer_restore_pending makes itself, which goes on in its loop).
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

-- After a restore that left rows set aside (restore_pending not empty:
-- rows that refer to rows the restore did not load, such as the users of
-- auth.users a dump of protector's schema alone leaves out), once what
-- they refer to is there: every row is offered again, as the end of a
-- load offers them.  The rows still waiting, by table, with a WARNING
-- when any are.  For the role that restored (a superuser: 42501
-- otherwise); it runs as a restore does
-- (row_security off: the rows are history, their triggers leave them be),
-- except that the database may have taken writes since: the reservation
-- check sees the bookings that have not ended, and a row that conflicts
-- with one written meanwhile (a booking in its slot, a customer's record
-- made again) stays set aside, refused, with a WARNING that names it (and
-- the rows that refer to it wait for it).  Its errors are SQLSTATEs
-- (protector.http_errors off), which it tells apart.
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

-- One BEFORE INSERT trigger function per table with foreign keys, its
-- checks written out so their plans are kept: a row whose references are
-- missing is set aside (and re-offered by insert_restored_pending), as
-- JSON written in fixed settings (a booking's range in ISO: in another
-- DateStyle it came back hours away).
DO $restore$
DECLARE
	t record;
	v_check text;
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
			CREATE FUNCTION protector_internal.%I() RETURNS trigger
			LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
			SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
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
		EXECUTE pg_catalog.format('COMMENT ON FUNCTION protector_internal.%I() IS %L', v_name,
			'Trigger, during restores only: sets a ' || t.relname || ' row aside until what it refers to is loaded');
		-- "a_" fires before every other BEFORE INSERT trigger of the table;
		-- bookings' own BEFORE INSERT trigger, prepare_booking() (C), calls
		-- the function first itself while restoring (no WHEN clause for
		-- every booking to compile)
		IF t.tbl OPERATOR(pg_catalog.<>) 'protector.bookings' THEN
			EXECUTE pg_catalog.format('CREATE TRIGGER a_restore_order BEFORE INSERT ON %s FOR EACH ROW'
				' WHEN (protector_internal.restoring_into(%L))'
				' EXECUTE FUNCTION protector_internal.%I()', t.tbl, t.tbl, v_name);
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
			' WHEN (protector_internal.restoring_into(%L))'
			' EXECUTE FUNCTION protector_internal.insert_restored_pending()', t.tbl, t.tbl);
	END LOOP;
END
$restore$;

-- Another session of this database is loading one of protector's tables
-- (a parallel restore's COPY, or pg_dump --inserts' INSERT): its end may
-- insert the rows set aside into any of them (insert_restored_pending).
-- Sessions of other roles count only where this one may see their queries.
-- Asked afresh each time: pg_stat_activity keeps its first answer for the
-- rest of the transaction, and lock_for_restore() asks again after each
-- turn (a load begun meanwhile went unseen, and one of the two ended in a
-- deadlock).
CREATE FUNCTION protector_internal.is_load(p_state text, p_query text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN COALESCE(p_state OPERATOR(pg_catalog.=) 'active'
				AND p_query OPERATOR(pg_catalog.~*) '^\s*(COPY|INSERT\s+INTO)\s+"?protector(_internal)?"?\.', false);
COMMENT ON FUNCTION protector_internal.is_load(text, text) IS
'A session of pg_stat_activity (state, query) is loading one of protector''s tables (COPY or INSERT into them)';

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

-- Whether only loads hold these tables (lock_for_restore's wait beside
-- loads is not bounded while they do: a load ends; a reader idle in its
-- transaction may not).
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

-- During a restore, the locks for DDL on protector's tables (the audit
-- trigger of a restored audit setting, Realtime, the keys to auth.users),
-- after the restore's own lock (insert_restored_pending's: a load waiting
-- for it may hold a table, never the other way round).  Under replica,
-- where no load's end runs and a load writes its own table only (foreign
-- keys do not fire), it waits as any DDL does.  While another session
-- loads one of protector's tables (loads_running()), whose end inserts
-- rows set aside into any of them, it does not wait: false, and the end of
-- a later load tries again; or, with p_wait_for_loads (for DDL after which
-- no load's end comes, such as the publication pg_dump's post-data makes),
-- it tries again a tenth of a second later, never waiting for a table
-- while it holds another (that time counts toward the bound below where
-- the tables are held by something else than a load).  Otherwise (a serial restore, beside a reader
-- or autovacuum) it waits, in turns: each turn waits for one table only,
-- holding no other it took (the rest must be free at once, or the next
-- turn waits for the one that was not), and for one and a half
-- deadlock_timeout at most: long enough for PostgreSQL to cancel an
-- autovacuum in the way; short enough that a session that began waiting
-- for this one since (a load begun meanwhile whose end waits for the
-- restore's lock) is never the one a deadlock check aborts: a cycle closed
-- before this turn's own check, a deadlock_timeout into it, is found by
-- that check, which aborts this turn; one closed later outlasts the turn.
-- A turn that fails gives up what it took (not a lock its caller held
-- before), and asks loads_running() again.  Such waits end after a minute
-- in all (or the session's lock_timeout, where shorter; pg_dump's scripts
-- set it to 0): false, with a WARNING, and the session waits no more in
-- later calls (a reader that never ends would hold up every later load's
-- end a minute each).
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

-- During a restore, the keys to auth.users, made when members and
-- customers lock as lock_for_restore() says: a load's end inserts the rows
-- set aside into both, and link_auth_users(), locking one and then the
-- other, deadlocked with it (a pg_restore -j 8 restored without a key, or
-- lost a table's load); while loads run, the end of each later load tries
-- again (insert_restored_pending).  False when a load held them, or the
-- caller does not own protector's tables.
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
CREATE EVENT TRIGGER protector_auth_users_changed ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
	EXECUTE FUNCTION protector_internal.auth_users_changed();
-- also under session_replication_role = replica: a restore run that way
-- came back without the keys to auth.users
ALTER EVENT TRIGGER protector_auth_users_changed ENABLE ALWAYS;

-- the generated trigger functions, like every internal function: no PUBLIC
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;
-- ... and finish_restore, which only those who restore run (it refuses
-- everyone else anyway)
REVOKE ALL ON FUNCTION protector.finish_restore() FROM PUBLIC;
