-- Audit trail: the generic C trigger, the functions that attach it to any
-- table, and the reader for owners and admins.  See docs/audit.md.

CREATE FUNCTION protector.audit_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_audit_trigger'
LANGUAGE C;
COMMENT ON FUNCTION protector.audit_trigger() IS
'Trigger: appends every row change (and TRUNCATE) to protector.audit_log; arguments name masked columns';

-- The trigger keeps audit_log open for the rest of the transaction; DDL
-- (DROP EXTENSION, ALTER TABLE ...) first lets go of it.
CREATE FUNCTION protector.audit_release_writer()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'protector_audit_release_writer'
LANGUAGE C;
COMMENT ON FUNCTION protector.audit_release_writer() IS
'Event trigger: closes the audit trigger''s open audit_log before any DDL of the session';
CREATE EVENT TRIGGER protector_audit_release_writer ON ddl_command_start
	EXECUTE FUNCTION protector.audit_release_writer();
-- (ALWAYS: DDL under session_replication_role = replica, a load tool's,
-- renamed a masked column, whose values the log then took in clear)
ALTER EVENT TRIGGER protector_audit_release_writer ENABLE ALWAYS;

-- Which of protector's own tables are audited, and with which masks, is
-- data, so that a restore brings it back: pg_dump leaves out the triggers
-- of an extension's tables (CREATE EXTENSION makes them again, with the
-- defaults), but not this table's rows, and restoring a row applies it
-- (restore_audit_setting).  enable_audit and disable_audit keep it.  (Only
-- the extension's own tables have rows, and a table goes only with the
-- extension or by an upgrade script, which must delete its row: a
-- regclass of a dropped table dumps as a number no restore resolves.)
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

-- The audit trigger reads a table's row beside its arguments
-- (src/audit_settings.c); a change of the row rebuilds what it cached.
CREATE FUNCTION protector_internal.audit_settings_changed(p_table regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_audit_settings_changed'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.audit_settings_changed(regclass) IS
'Makes every session''s audit trigger read the table''s audit_settings row again (a relcache invalidation)';

-- Records a table's audit for the restore, if it is one of protector's
-- own (a user's table keeps its triggers in a dump).
-- The masks of a table as given, and the columns derived from a masked
-- one: customers.identity_key is its e-mail normalized, and
-- staff_invitations.email_key its e-mail lower-cased (sorted, once each).
-- (A stored generated column computed from a masked one is masked by the
-- trigger as it reads the table, src/audit.c: named among the masks, it
-- became one the table's writes required, and dropping it, or renaming
-- it, failed every write or was refused: a review.)
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
			 ELSE '{}'::text[] END) m
$$;
COMMENT ON FUNCTION protector_internal.audit_masks(regclass, text[]) IS
'A table''s audit masks with the columns derived from masked ones (customers.identity_key, staff_invitations.email_key from email); generated columns are masked by the trigger';

-- Is p_table one of protector's internal tables (schema protector_internal)?
-- Those are never audited: they have no organization of their own to be
-- logged under (enable_audit refuses them; a setting of one is neither
-- recorded nor restored).
CREATE FUNCTION protector_internal.is_internal_table(p_table regclass)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE((SELECT c.relnamespace OPERATOR(pg_catalog.=) 'protector_internal'::pg_catalog.regnamespace
					 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) p_table::pg_catalog.oid), false)
$$;
COMMENT ON FUNCTION protector_internal.is_internal_table(regclass) IS
'Internal: whether a table is one of protector''s internal ones (schema protector_internal), which are never audited';

CREATE FUNCTION protector_internal.remember_audit(p_table regclass, p_audited boolean, p_masked text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (its masks derived, a restored row's of a backup made before
	-- identity_key was too, and every session told: the row's triggers,
	-- derive_audit_masks and audit_settings_written)
	-- (protector's own tables, not its internal ones, which are never
	-- audited: a row saying so went into every backup, and every restore
	-- warned of it: a review)
	IF NOT protector_internal.is_internal_table(p_table)
	   AND EXISTS (SELECT FROM pg_catalog.pg_depend d
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
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.remember_audit(regclass, boolean, text[]) IS
'Records whether one of protector''s own tables is audited, and its masks, for a restore to re-apply';

-- A table that inherits from an audited one (INHERITS, not a partition)
-- keeps its own triggers: its rows, changed through the parent too, are
-- audited only by its own enable_audit.  Named in a notice, not refused:
-- the parent's own rows are audited either way.
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

-- A partition is audited through its partitioned table: PostgreSQL clones
-- the parent's row trigger to it (and refuses dropping the clone), so
-- enable_audit and disable_audit refuse a partition by name instead of
-- ending on the DDL's error; and a partitioned table whose partition has
-- a row trigger of its own (audited before it was attached) is named.
CREATE FUNCTION protector_internal.check_audit_partitions(p_table regclass)
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

-- Attaches the audit trigger; calling it again replaces the masked
-- columns (or does nothing when they are the same).  Runs with the
-- caller's rights: only the table's owner (or a superuser) can audit it.
-- The table enable_audit and disable_audit are given, schema-qualified
-- and quoted, once it is one they may take: not null, existing, no system
-- catalog, an ordinary or partitioned table (disable_audit locked a
-- catalog given to it, and answered a sequence with a bare 42809).
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

CREATE FUNCTION protector.enable_audit(p_table regclass, p_masked_columns text[] DEFAULT '{}')
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
	-- (protector's internal tables have no organization of their own to
	-- log under: one logged under the row's organization_id showed it
	-- what another organization's row held, customer_moves the
	-- organization a customer came from: a review.  disable_audit takes
	-- them: the update from 0.1.0, which audited one if asked, turns theirs
	-- off)
	IF protector_internal.is_internal_table(p_table) THEN
		PERFORM protector.raise('invalid_parameter',
			format('%s is one of protector''s internal tables and cannot be audited', v_rel.qualified),
			'Their rows are protector''s own bookkeeping, written by its triggers.');
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
	-- (one dimension before array_position, which said a bare 0A000 of one
	-- of two)
	IF p_masked_columns IS NULL OR array_ndims(p_masked_columns) > 1 OR array_position(p_masked_columns, NULL) IS NOT NULL THEN
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

CREATE FUNCTION protector.disable_audit(p_table regclass)
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

-- A restored audit_settings row takes the place of the one the restore's
-- CREATE EXTENSION wrote, and the audit trigger, which reads it, masks and
-- skips as it says: no DDL during the data load, where its table locks
-- would deadlock with parallel loads (as realtime_state's).  One thing
-- needs DDL: a table the backup audited that the extension does not audit
-- by default has no trigger; it gets one once its table locks as
-- lock_for_restore() says (sql/98_restore.sql); while a parallel load
-- holds it, the row is set aside in restore_pending, as a row whose
-- references have not arrived, and offered again after each table's load
-- (insert_restored_pending) until its table is free: after the restore
-- nothing is left there.
-- A row written outside a restore, or by remember_audit, goes in as it is.
CREATE FUNCTION protector_internal.restore_audit_setting()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT protector_internal.restoring_into(TG_RELID)
	   OR pg_catalog.current_setting('protector_internal.remembering_audit', true) OPERATOR(pg_catalog.=) 'on' THEN
		RETURN NEW;
	END IF;
	-- (one of protector's internal tables, which a backup of a development
	-- build may name: not audited, and the rest of the settings restored)
	IF protector_internal.is_internal_table(NEW.table_name) THEN
		IF NEW.audited THEN
			RAISE WARNING 'protector does not audit its internal tables: the backup''s setting of % is left out', NEW.table_name;
		END IF;
		RETURN NULL;
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
CREATE TRIGGER restore_audit_setting BEFORE INSERT ON protector_internal.audit_settings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.restore_audit_setting();
-- also under session_replication_role = replica (Supabase's restore recipe)
ALTER TABLE protector_internal.audit_settings ENABLE ALWAYS TRIGGER restore_audit_setting;

-- A row written directly (a superuser's UPDATE, say) counts as one
-- enable_audit writes: its masks with the columns derived from them, and
-- every session's audit trigger reads it again at its next statement (it
-- kept what it had read, the writing session's too, until the next
-- enable_audit: an attack review of caches).
CREATE FUNCTION protector_internal.derive_audit_masks()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NEW.masked := protector_internal.audit_masks(NEW.table_name, NEW.masked);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.derive_audit_masks() IS
'Trigger: an audit_settings row''s masks include the columns derived from masked ones (audit_masks)';
CREATE TRIGGER derive_audit_masks BEFORE INSERT OR UPDATE ON protector_internal.audit_settings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.derive_audit_masks();
ALTER TABLE protector_internal.audit_settings ENABLE ALWAYS TRIGGER derive_audit_masks;

CREATE FUNCTION protector_internal.audit_settings_written()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (every audited table's, after a TRUNCATE; and of a row's table that
	-- is gone nothing: such a row could be neither changed nor deleted)
	IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
		PERFORM protector_internal.audit_settings_changed(t.tgrelid::pg_catalog.regclass)
		FROM pg_catalog.pg_trigger t WHERE t.tgname OPERATOR(pg_catalog.=) 'protector_audit';
		RETURN NULL;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT'
	   AND EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) OLD.table_name::pg_catalog.oid) THEN
		PERFORM protector_internal.audit_settings_changed(OLD.table_name);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE'
	   AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.table_name OPERATOR(pg_catalog.<>) OLD.table_name)
	   AND EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) NEW.table_name::pg_catalog.oid) THEN
		PERFORM protector_internal.audit_settings_changed(NEW.table_name);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.audit_settings_written() IS
'Trigger: a written audit_settings row (every row, after a TRUNCATE) is read again by every session''s audit trigger (audit_settings_changed)';
CREATE TRIGGER audit_settings_written AFTER INSERT OR UPDATE OR DELETE ON protector_internal.audit_settings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.audit_settings_written();
ALTER TABLE protector_internal.audit_settings ENABLE ALWAYS TRIGGER audit_settings_written;
CREATE TRIGGER audit_settings_truncated AFTER TRUNCATE ON protector_internal.audit_settings
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.audit_settings_written();
ALTER TABLE protector_internal.audit_settings ENABLE ALWAYS TRIGGER audit_settings_truncated;

-- The audit history of the caller's organizations, newest first.  Runs
-- with the caller's rights: RLS shows owners and admins their
-- organizations' rows; service_role and superusers see everything.
CREATE FUNCTION protector.get_audit_logs(
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
	PERFORM protector_internal.check_finite(p_from, 'p_from', 'Leave it out (NULL) for no bound.');
	PERFORM protector_internal.check_finite(p_to, 'p_to', 'Leave it out (NULL) for no bound.');
	IF p_from IS NOT NULL AND p_to IS NOT NULL AND p_from >= p_to THEN
		PERFORM protector.raise('invalid_parameter', 'p_from must be before p_to');
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

-- audited by default
SELECT protector.enable_audit(t)
FROM unnest('{protector.organizations, protector.venues, protector.services, protector.members,
			  protector.customers, protector.bookings, protector.payments, protector.vouchers,
			  protector.promo_codes, protector.venue_closures}'::regclass[]) t;
