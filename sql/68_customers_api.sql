\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/68_customers_api.sql: recognizing customers (identity key, likely
-- duplicates) and merging them.  See docs/customers.md.

CREATE FUNCTION protector_internal.set_customer_identity_key()
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
-- (also a write of identity_key itself: the key is the e-mail's, whoever
-- writes it, or a widget visitor typing another's address was attached to
-- the record it was written on)
CREATE TRIGGER customers_identity_key BEFORE INSERT OR UPDATE OF email, identity_key ON protector.customers
	FOR EACH ROW EXECUTE FUNCTION protector_internal.set_customer_identity_key();

-- Groups of customers that are probably one person, with the reason.
CREATE FUNCTION protector.find_duplicate_customers(p_organization_id uuid)
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

-- Every column of protector's tables that points at a customer (bookings,
-- and any later table of the schema), found in the catalog: what a merge
-- moves, as the owner.  Only the schema protector's: a table of another
-- schema is another role's, whose triggers a merge would run with the
-- owner's rights (a review made itself superuser that way); its owner
-- moves its references (docs/customers.md).  It reads only the catalog,
-- which every role may read: as the caller (security_invoker), as every
-- view of protector's is.
CREATE OR REPLACE VIEW protector_internal.customer_references WITH (security_invoker = on) AS
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

-- The condition that keeps a search of one customer's references within
-- its organization: ' AND <org_col> = $n', or nothing where the key is not
-- composite.
CREATE FUNCTION protector_internal.within_organization(p_org_col name, p_param integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_org_col IS NULL THEN ''
			ELSE pg_catalog.format(' AND %I OPERATOR(pg_catalog.=) $%s', p_org_col, p_param) END;
COMMENT ON FUNCTION protector_internal.within_organization(name, integer) IS
'The condition '' AND <org_col> = $n'' that keeps a search of a customer''s references within its organization ('''' without one)';
REVOKE ALL ON FUNCTION protector_internal.within_organization(name, integer) FROM PUBLIC;

-- A customer is merged into another only by merge_customers (through
-- mark_merged, below), never back, and only once nothing refers to it any
-- more: so merged_into changes exactly as a merge changes it (no chains,
-- no cycles, no second target), whoever writes it.
CREATE FUNCTION protector_internal.guard_merged_into()
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

-- Neither customer of a merge is erased (an erased customer's bookings stay
-- theirs, for the books; a merge into one would write personal data into
-- it): asked as the owner, who sees every erasure, for a caller this
-- transaction authorized to merge both.
CREATE FUNCTION protector_internal.check_mergeable(p_keep_id uuid, p_merge_id uuid)
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

-- Under REPEATABLE READ or SERIALIZABLE: does any table refer to the
-- customer in rows committed since the transaction's snapshot (or no
-- longer)?  A merge or erasure that waited for the key-share locks of a
-- booking, voucher, message or signature being written gets no
-- serialization failure when they commit (a lock changes no row), and its
-- snapshot misses them: it retries instead (40001).  Read committed
-- statements see them: false.
CREATE FUNCTION protector_internal.count_now(p_query text, p_id uuid)
RETURNS bigint
AS 'MODULE_PATHNAME', 'protector_count_now'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.count_now(text, uuid) IS
'The count a query of protector''s own answers under the latest snapshot (C; the owner''s alone)';

-- Under REPEATABLE READ or SERIALIZABLE: does p_query (a count of
-- protector's own, $1 the uuid) answer otherwise under the latest snapshot
-- than under the transaction's?  False under READ COMMITTED, whose
-- statements see what committed.  For SECURITY DEFINER callers (count_now
-- is the owner's).
CREATE FUNCTION protector_internal.unseen_since_snapshot(p_query text, p_id uuid)
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

-- For a check made after waiting for a lock (an advisory lock that
-- serializes callers, a row lock): the transaction's snapshot misses what
-- it waited for; 40001 when the count says so.
CREATE FUNCTION protector_internal.retry_if_unseen(p_query text, p_id uuid, p_message text, p_detail text)
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

CREATE FUNCTION protector_internal.customer_references_unseen(p_customer_id uuid)
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

-- merge_customers' moves and marks, as the owner (guard_merged_into lets
-- nobody else write merged_into), for a caller this transaction authorized
-- to merge both customers (merge_customers did): every reference to the
-- merged customer moves to the kept one, those the caller does not see too
-- (nothing may be left behind), and the guards of messages and signed
-- waivers, whose customer changes with a merge only, see protector's own
-- write; then p_merge_id (and what was merged into it) is marked merged.
CREATE FUNCTION protector_internal.mark_merged(p_keep_id uuid, p_merge_id uuid)
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

CREATE TRIGGER guard_merged_into BEFORE UPDATE OF merged_into ON protector.customers
	FOR EACH ROW WHEN (OLD.merged_into IS DISTINCT FROM NEW.merged_into)
	EXECUTE FUNCTION protector_internal.guard_merged_into();

-- merged_into names a customer of the same organization (what a foreign
-- key would say), and nothing refers to the merged customer any more.
-- Runs as the owner: it must see every reference, visible or not.
CREATE FUNCTION protector_internal.check_merged_unreferenced()
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
	IF protector_internal.restoring_into(TG_RELID) THEN
		RETURN NULL;
	END IF;
	-- a customer of its organization, one step, whoever writes it (a
	-- trusted role's direct writes too): no chain, no cycle, which left
	-- both records refusing every booking with a hint naming the other
	-- (the target locked as a foreign key's check locks it: two sessions
	-- merging A into B and B into A at once wait for each other, and the
	-- second sees the first, or retries under REPEATABLE READ; a target
	-- moved to another organization meanwhile is found gone, where an
	-- unlocked read found it still here: a review)
	SELECT c.merged_into INTO v_target FROM protector.customers c
	WHERE c.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND c.id OPERATOR(pg_catalog.=) NEW.merged_into
	FOR SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('customer %s is merged into %s, which is no customer of its organization',
										NEW.id, NEW.merged_into);
	END IF;
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

-- What the foreign key's ON DELETE SET NULL did: customers merged into a
-- deleted customer are merged into nothing.
CREATE FUNCTION protector_internal.release_merged_into()
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

-- A customer's id never changes: the history of the record (and an
-- erasure's scrub of it) follows the id, and a record under a new id left
-- its personal data in the audit rows of the old one.
CREATE FUNCTION protector_internal.keep_customer_id()
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
CREATE TRIGGER keep_customer_id BEFORE UPDATE OF id ON protector.customers
	FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id AND NOT protector_internal.restoring_into('protector.customers'))
	EXECUTE FUNCTION protector_internal.keep_customer_id();

-- A customer with bookings is not deleted (the bookings' foreign key said
-- so in its own words, 23503 naming bookings_organization_id_customer_id_fkey):
-- named, with what to do instead.  Nor is a record merged into another
-- (deleted, it escaped the erasure of the one it was merged into, its
-- personal data left in its history) or an erased one (its erasure
-- went from customer_erasures, the list a restore of an older backup
-- needs).  Not inside a cascade (an organization's deletion takes
-- everything).
CREATE FUNCTION protector_internal.keep_booked_customers()
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
CREATE TRIGGER keep_booked_customers BEFORE DELETE ON protector.customers
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring_into('protector.customers'))
	EXECUTE FUNCTION protector_internal.keep_booked_customers();

-- (a merged record moved to another organization too: its merged_into
-- then named another tenant's customer, a trusted writer's move: a review)
CREATE CONSTRAINT TRIGGER check_merged_unreferenced AFTER INSERT OR UPDATE OF merged_into, organization_id ON protector.customers
	NOT DEFERRABLE
	FOR EACH ROW WHEN (NEW.merged_into IS NOT NULL)
	EXECUTE FUNCTION protector_internal.check_merged_unreferenced();

-- ... and a record others were merged into stays in their organization
-- (moved by a trusted writer, it left their merged_into pointing into
-- another tenant: a review)
CREATE FUNCTION protector_internal.check_merge_target_stays()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_merged uuid;
BEGIN
	IF protector_internal.restoring_into(TG_RELID) THEN
		RETURN NULL;
	END IF;
	SELECT c.id INTO v_merged FROM protector.customers c
	WHERE c.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND c.merged_into OPERATOR(pg_catalog.=) NEW.id
	LIMIT 1;
	IF v_merged IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('customer %s cannot move to another organization: customer %s was merged into it', NEW.id, v_merged),
			HINT = 'Records merged into a customer stay in its organization.';
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.check_merge_target_stays() IS
'Constraint trigger: a customer others were merged into does not move to another organization';
CREATE CONSTRAINT TRIGGER check_merge_target_stays AFTER UPDATE OF organization_id ON protector.customers
	NOT DEFERRABLE
	FOR EACH ROW WHEN (NEW.organization_id IS DISTINCT FROM OLD.organization_id)
	EXECUTE FUNCTION protector_internal.check_merge_target_stays();

-- Customers' bookings locked for writing, in id order, before a caller
-- locks the customers themselves: merge_customers and erase_customer write
-- both, while a booking being written waits for its customer; taken in
-- one order by both, two merges, or a merge and an erasure, of one
-- customer never wait on each other in a cycle.  As the caller (RLS).
CREATE FUNCTION protector_internal.lock_customer_bookings(p_customer_ids uuid[])
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

-- Once the customers are locked: their bookings again, a booking made for
-- one of them while the customers' locks were awaited among them (its
-- writer held the customer's key share, and committed meanwhile), without
-- waiting: the order is the other one now, and a transaction changing
-- such a booking waits for the customer (a cancellation giving money back
-- to a voucher updates its booking twice, and the foreign key's check
-- then share-locks the customer), while the merge's change of the
-- customer waited for the booking (customer_reminders): 40P01, found by a
-- chaos run.  A booking busy now is a named retry.
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

-- Moves everything of p_merge_id to p_keep_id and marks p_merge_id merged:
-- RLS and the capability map decide whether the caller may merge the two;
-- the move itself is the owner's (mark_merged).
CREATE FUNCTION protector.merge_customers(p_keep_id uuid, p_merge_id uuid)
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
	-- one erasure or merge of each at a time, in id order (erase_customer)
	PERFORM protector_internal.lock_seen(1886547725, u.id, false)
	FROM (SELECT u.id FROM unnest(ARRAY[p_keep_id, p_merge_id]) u(id) ORDER BY u.id) u;
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
	-- (counted as stored, trimmed: 't1' and a 0.1.0 't1 ' are one tag)
	v_tags := ARRAY(SELECT DISTINCT x.t FROM (SELECT protector_internal.trim_spaces(u.t) FROM (
												  SELECT unnest(k.tags)
												  UNION ALL
												  SELECT g FROM unnest(m.tags) g
												  WHERE length(protector_internal.trim_spaces(g)) BETWEEN 1 AND 50
													AND protector_internal.text_is_clean(g) AND protector_internal.renders_visible(g)) u(t)) x(t)
					WHERE x.t <> '' ORDER BY x.t);
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
