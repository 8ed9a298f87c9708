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

-- Attaches the audit trigger; calling it again replaces the masked
-- columns (or does nothing when they are the same).  Runs with the
-- caller's rights: only the table's owner (or a superuser) can audit it.
CREATE FUNCTION protector.enable_audit(p_table regclass, p_masked_columns text[] DEFAULT '{}')
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_rel record;
	v_masked text[];
	v_missing text;
	v_current text[];
	v_args text;
BEGIN
	IF p_table IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_table must not be null');
	END IF;
	SELECT c.oid, c.relname, c.relkind, n.nspname, format('%I.%I', n.nspname, c.relname) AS qualified
	INTO v_rel
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid = p_table;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', format('table with OID %s does not exist', p_table::oid));
	END IF;
	IF v_rel.nspname IN ('pg_catalog', 'information_schema') OR v_rel.nspname LIKE 'pg\_toast%'
	   OR v_rel.oid < 16384 THEN
		PERFORM protector.raise('invalid_parameter',
			format('%s is a system catalog and cannot be audited', v_rel.qualified));
	END IF;
	IF v_rel.relkind NOT IN ('r', 'p') THEN
		PERFORM protector.raise('invalid_parameter',
			format('%s is not a table', v_rel.qualified),
			format('Its relkind is %L; only ordinary and partitioned tables can be audited.', v_rel.relkind),
			'Audit the tables a view reads from.');
	END IF;
	IF v_rel.oid = 'protector.audit_log'::regclass THEN
		PERFORM protector.raise('invalid_parameter', 'protector.audit_log cannot audit itself');
	END IF;
	IF NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = v_rel.oid AND i.indisprimary) THEN
		PERFORM protector.raise('invalid_parameter',
			format('table %s has no primary key', v_rel.qualified),
			'Every audit row names the changed record by its primary key.',
			format('ALTER TABLE %s ADD PRIMARY KEY (...), then enable the audit.', v_rel.qualified));
	END IF;
	IF p_masked_columns IS NULL OR array_position(p_masked_columns, NULL) IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_masked_columns must be an array of column names without nulls');
	END IF;
	SELECT array_agg(DISTINCT m ORDER BY m) INTO v_masked FROM unnest(p_masked_columns) m;
	v_masked := COALESCE(v_masked, '{}');
	SELECT string_agg(format('%I', m), ', ') INTO v_missing
	FROM unnest(v_masked) m
	WHERE NOT EXISTS (SELECT FROM pg_attribute a
					  WHERE a.attrelid = v_rel.oid AND a.attname = m AND a.attnum > 0 AND NOT a.attisdropped);
	IF v_missing IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter',
			format('table %s has no column %s to mask', v_rel.qualified, v_missing));
	END IF;

	-- already audited with these masks: nothing to do
	SELECT COALESCE(array_agg(a ORDER BY a), '{}') INTO v_current
	FROM pg_trigger t, unnest(string_to_array(rtrim(encode(t.tgargs, 'escape'), '\000'), '\000')) a
	WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit' AND t.tgnargs > 0;
	IF EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit')
	   AND EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit_truncate')
	   AND v_current = v_masked THEN
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
	v_qualified text;
BEGIN
	IF p_table IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_table must not be null');
	END IF;
	SELECT format('%I.%I', n.nspname, c.relname) INTO v_qualified
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid = p_table;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', format('table with OID %s does not exist', p_table::oid));
	END IF;
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
SET search_path = pg_catalog, pg_temp
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
			  protector.promo_codes}'::regclass[]) t;
