\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/97_lifecycle.sql: data that ends: expired holds, audit retention,
-- erasure of a customer's personal data (docs/operations.md).
--
-- Purges and erasures are rows of their own (who asked, when, what for):
-- inserting one is what RLS lets owners (purges) and owners and admins
-- (erasures) do, and a trigger running as the owner does the part no API
-- role may do itself, rewriting the append-only audit log.  The rows are
-- the record that it happened, and are audited like every core table.

-- Held bookings past their hold (checkouts never finished, widget
-- bookings nobody confirmed), then pending bookings whose deposit was not
-- paid by its deadline (sql/77_payments.sql), become cancelled, at most
-- p_limit a call, oldest first.  Safe from several workers at once (SKIP LOCKED); a call
-- with nothing to do does nothing.  It also prunes the report change log
-- of organizations nobody reads reports of (sql/89_reports.sql).
-- Schedule it, e.g. with pg_cron, as service_role (42501 for a role that
-- does not bypass RLS):
--   SELECT cron.schedule('protector-expire-holds', '* * * * *',
--                        'SET ROLE service_role; SELECT protector.expire_holds(1000)');
CREATE FUNCTION protector.expire_holds(p_limit integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[];
	v_reasons text[];
	v_done integer := 0;
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
		-- (ROWS FROM: unnest of two arrays is that syntax's shorthand, and
		-- qualified it is no function; the 42883 it raised went to the
		-- handler below, and every sweep went one booking at a time, a
		-- subtransaction and an xid each: an attack on interruptions)
		FROM ROWS FROM (pg_catalog.unnest(v_ids), pg_catalog.unnest(v_reasons)) r(id, reason)
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
CREATE INDEX bookings_unpaid_deposits_idx ON protector.bookings (payment_due_by) WHERE status = 'pending' AND payment_due_by IS NOT NULL;

-- audit retention ---------------------------------------------------------

CREATE TABLE protector.audit_purges (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
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
	PERFORM protector_internal.check_finite(NEW.purge_before, 'purge_before');
	IF NEW.purge_before OPERATOR(pg_catalog.>) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'purge_before must be a time in the past',
			pg_catalog.format('Got %s.', protector_internal.iso_text(NEW.purge_before)));
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
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.audit_purges')
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('audit.purge'))))
	EXECUTE FUNCTION protector_internal.purge_audit_rows();

CREATE FUNCTION protector.purge_audit_log(p_before timestamptz, p_organization_id uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid := p_organization_id;
	v_orgs uuid[];
	v_purged bigint;
BEGIN
	PERFORM protector_internal.check_finite(p_before, 'p_before');
	IF p_before IS NULL OR p_before OPERATOR(pg_catalog.>) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'p_before must be a time in the past',
			pg_catalog.format('Got %s.', protector_internal.iso_text(p_before)));
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
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	customer_id		uuid NOT NULL,
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, customer_id),
	FOREIGN KEY (organization_id, customer_id) REFERENCES protector.customers (organization_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE protector.customer_erasures IS
'Customers whose personal data was erased (who asked, when; never what): a row is the erasure';

-- The organizations a customer record was moved out of (a trusted
-- writer's UPDATE of its organization_id), for its erasure, which reaches
-- them too: the person's history and what staff logged of them stayed
-- there.  Written as the record moves, whatever the audit settings, and
-- never purged (the audit history, which said it first, is an owner's to
-- purge: a purge in either organization hid the move, and one of a decoy's
-- INSERT let another tenant reach a deleted record's history: a review);
-- deleted with the record, so an id taken again starts with none.
CREATE TABLE protector_internal.customer_moves (
	-- the organization it went to, and the one it left
	organization_id		 uuid NOT NULL,
	customer_id			 uuid NOT NULL,
	from_organization_id uuid NOT NULL,
	moved_at			 timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (customer_id, from_organization_id, organization_id)
);
ALTER TABLE protector_internal.customer_moves ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.customer_moves FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.customer_moves IS
'Each move of a customer record to another organization (first time per pair), for its erasure; deleted with the record (no policy: protector''s triggers only)';
SELECT pg_catalog.pg_extension_config_dump('protector_internal.customer_moves', '');

CREATE FUNCTION protector_internal.record_customer_move()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO protector_internal.customer_moves (organization_id, customer_id, from_organization_id)
	VALUES (NEW.organization_id, NEW.id, OLD.organization_id)
	ON CONFLICT DO NOTHING;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.record_customer_move() IS
'Trigger: a customer record moved to another organization is recorded in customer_moves';
-- (not while a subscription applies the move: the publisher's record of
-- it arrives too, published as operations.md says, and met this one's
-- key, which stopped the subscription for good)
CREATE TRIGGER record_customer_move AFTER UPDATE OF organization_id ON protector.customers
	FOR EACH ROW WHEN (OLD.organization_id IS DISTINCT FROM NEW.organization_id
					   AND NOT protector_internal.restoring_into('protector.customers')
					   AND NOT protector_internal.applying_replicated_changes())
	EXECUTE FUNCTION protector_internal.record_customer_move();

-- (once per statement: an organization's deletion deletes its customers)
CREATE FUNCTION protector_internal.forget_customer_moves()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
		DELETE FROM protector_internal.customer_moves;
	ELSE
		DELETE FROM protector_internal.customer_moves m USING gone g WHERE m.customer_id OPERATOR(pg_catalog.=) g.id;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.forget_customer_moves() IS
'Trigger: deleted customer records take their moves with them (an id taken again starts with none); a TRUNCATE takes every move';
CREATE TRIGGER forget_customer_moves AFTER DELETE ON protector.customers
	REFERENCING OLD TABLE AS gone
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.forget_customer_moves();
CREATE TRIGGER forget_all_customer_moves AFTER TRUNCATE ON protector.customers
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.forget_customer_moves();
-- (under session_replication_role = replica too, a data import's: a
-- record deleted or moved there kept its moves, or moved unrecorded, and
-- an id taken again reached the old one's history: a review)
ALTER TABLE protector.customers ENABLE ALWAYS TRIGGER record_customer_move;
ALTER TABLE protector.customers ENABLE ALWAYS TRIGGER forget_customer_moves;
ALTER TABLE protector.customers ENABLE ALWAYS TRIGGER forget_all_customer_moves;

-- What an erased customer's booking keeps of its details: the refund
-- protector noted at its cancellation (docs/bookings.md), nothing written
-- by people.
CREATE FUNCTION protector_internal.erased_booking_details(p_details jsonb)
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

-- ... and of a payment's details: the keys protector's ledger writes
-- (refund_on_cancel, refund_late_payment, return_to_vouchers,
-- refund_booking_to_vouchers' request key digest), a reason only where it
-- is one of protector's
CREATE FUNCTION protector_internal.erased_payment_details(p_details jsonb)
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
							  OR (e.key OPERATOR(pg_catalog.=) 'request_key_sha256'
								  AND pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'string'
								  AND (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~) '^[0-9a-f]{64}$')
							  OR (e.key OPERATOR(pg_catalog.=) 'reason'
								  AND pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'string'
								  AND (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.=) ANY
									  ('{cancelled,no_show,paid after cancellation,refund to vouchers}'::text[]))),
						  '{}'::jsonb) END;
COMMENT ON FUNCTION protector_internal.erased_payment_details(jsonb) IS
'What an erased customer''s payment keeps of its details: protector''s ledger keys only, with values of their kind';

-- ... and of the desk's notifications of their bookings: protector's own
-- kinds keep what staff see on the booking anyway, as booking_workflow
-- writes it: a service and a time zone of the organization's, a booking
-- status, ISO times, a number; anything else (what staff or an
-- application wrote, under those keys too) goes, and so does any payload
-- of another kind
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

-- The records merged into a customer, at any depth (a chain 0.1.0 let
-- merges make included; a cycle's record itself left out), in id order:
-- the erasure's walk down, once.  With the caller's rights.
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

-- Is a request key a signed-in customer's of one of these accounts
-- (customer/<user id>/<key>, as create_booking writes it)?
CREATE FUNCTION protector_internal.key_of_accounts(p_key text, p_users uuid[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN COALESCE(pg_catalog.starts_with(p_key, 'customer/')
				AND pg_catalog.split_part(p_key, '/', 2) OPERATOR(pg_catalog.=) ANY (p_users::text[]), false);
COMMENT ON FUNCTION protector_internal.key_of_accounts(text, uuid[]) IS
'Is a booking''s request key a signed-in customer''s (customer/<user id>/...) of one of these accounts';

-- The erasure: the customer becomes a tombstone; their bookings keep
-- time, service, prices and payments for the books but lose details,
-- cancellation reasons and the request keys that name the customer (the
-- widget's hold a hash of the e-mail, a customer's their user id); the
-- audit rows of both lose the same fields; the widget's record of their
-- e-mail goes.  One customer record; erase_customer() erases the records
-- merged into it too (their audit rows name them), and runs again when
-- asked again.
-- Whether an account is, or was, the organization's staff: a member now,
-- or one in the members' history (the table is audited).  An erasure of a
-- customer record linked to such an account does not take that person's
-- work as staff from the history (an admin linked a decoy record to a
-- former manager's account, erased it, and the manager's every act went
-- unattributed).
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

-- Was a row written within one of p_periods, a JSON array of [from time,
-- to time, from audit id, to audit id] (null: open), the audit ids those
-- of the changes that began and ended each?  A row whose insert the audit
-- log holds (p_seq, its audit id) by the order of writing (after the
-- change that began the period, before the one that ended it: a payment
-- written in the transaction that handed the booking on, after the
-- change, is the next customer's), or by its transaction's start time
-- (p_at) strictly inside the period (a transaction begun while the
-- booking was theirs that wrote after the change that took it away,
-- before that change committed, wrote of them: the safe side); another
-- by its time, both ends included.  (JSON writes times in ISO
-- 8601 whatever the DateStyle: a range's text, in an abbreviation of the
-- session's zone, read back as another zone's.)
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

-- ... and of what staff logged of them (log_staff_activity): the ids at
-- the entry's top level under keys that name one of protector's ids
-- (customer_id, bookingId: whom and what it was about), no text (a key of
-- text whose value was an id kept it, and so did a key of letters that
-- spelled something out, zelda_quirk_id too: reviews)
CREATE FUNCTION protector_internal.erased_activity_details(p_details jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object' THEN p_details
			ELSE COALESCE((SELECT pg_catalog.jsonb_object_agg(e.key, e.value)
						   FROM pg_catalog.jsonb_each(p_details) e
						   WHERE e.key OPERATOR(pg_catalog.~) '^(id|(organization|venue|service|customer|booking|member|user|task|payment|voucher|promo_code|waiver|reminder|message)_id|(organization|venue|service|customer|booking|member|user|task|payment|voucher|promoCode|waiver|reminder|message)Id)$'
							 AND pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'string'
							 AND (e.value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~*)
								 '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
						  '{}'::jsonb) END;
COMMENT ON FUNCTION protector_internal.erased_activity_details(jsonb) IS
'What a staff activity entry about an erased customer keeps of its details: the ids at its top level under keys that name one of protector''s ids only';

-- A time a row of the history holds (p_row's p_key, a time with its
-- zone as JSON writes one), else p_default: a masked, missing or
-- impossible one, or a bare time or date (a planted row's failed every
-- erasure of its organization: reviews).
CREATE FUNCTION protector_internal.logged_time(p_row jsonb, p_key text, p_default timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN COALESCE((pg_catalog.jsonb_path_query_first(p_row OPERATOR(pg_catalog.->) p_key,
													'$.datetime() ? (@.type() == "timestamp with time zone")', '{}', true)
				 OPERATOR(pg_catalog.#>>) '{}')::timestamptz,
				p_default);
COMMENT ON FUNCTION protector_internal.logged_time(jsonb, text, timestamptz) IS
'Internal: a time a row of the audit history holds under a key, else the default (masked, missing, impossible)';

-- The ids a text may name, in every form PostgreSQL reads a uuid in
-- (either case, a hyphen or none after any four hex digits, braces), as
-- 32 lowercase hex digits: every 32 digits in a row of the text once its
-- hyphens are gone (inside a longer run, each place, the safe side: ids
-- joined by hyphens make one run), each place read from the run as bytes
-- (as text each was read from the run's start, and a JSON number
-- 1e131071, 70 bytes stored, took 27 s: a review); a run of more than
-- 4,096 digits is a blob, not a list of ids.  One fixed pattern, so that what it costs
-- grows with the text alone (a pattern of the ids sought, one per id,
-- failed past about 5,000 of them, "too complex", and was compiled again
-- and again: a review).
CREATE FUNCTION protector_internal.text_ids(p_text text)
RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.encode(pg_catalog.substring(b.b, o.o, 32), 'escape')
	FROM pg_catalog.regexp_matches(pg_catalog.replace(pg_catalog.lower(p_text), '-', ''), '[0-9a-f]{32,}', 'g') r(m),
		 LATERAL (SELECT pg_catalog.convert_to(r.m[1], 'UTF8') AS b) b,
		 pg_catalog.generate_series(1, pg_catalog.length(r.m[1]) OPERATOR(pg_catalog.-) 31) o(o)
	WHERE pg_catalog.length(r.m[1]) OPERATOR(pg_catalog.<=) 4096
$$;
COMMENT ON FUNCTION protector_internal.text_ids(text) IS
'Internal: every id a text may name, in any form PostgreSQL reads a uuid in, as 32 lowercase hex digits';

-- ids as text_ids gives them, the keys of a JSON object: p_ids' to true,
-- or p_periods' (by booking id) to their periods
CREATE FUNCTION protector_internal.id_keys(p_ids uuid[], p_periods jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN COALESCE((SELECT pg_catalog.jsonb_object_agg(pg_catalog.replace(x.id::text, '-', ''), x.v)
				 FROM (SELECT i AS id, 'true'::jsonb AS v FROM pg_catalog.unnest(p_ids) i
					   UNION ALL
					   SELECT e.key::uuid, e.value FROM pg_catalog.jsonb_each(p_periods) e) x), '{}');
COMMENT ON FUNCTION protector_internal.id_keys(uuid[], jsonb) IS
'Internal: ids (to true) or periods by booking id (to their periods) keyed as text_ids gives ids';

-- A row of the history with p_key's value replaced, where it has the key
-- (a column masked away, or not there when logged, stays away): how an
-- erasure rewrites a text of the history for each table it scrubs.
CREATE FUNCTION protector_internal.row_with_value(p_row jsonb, p_key text, p_value jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_row OPERATOR(pg_catalog.?) p_key
			THEN p_row OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(p_key, p_value)
			ELSE p_row END;
COMMENT ON FUNCTION protector_internal.row_with_value(jsonb, text, jsonb) IS
'Internal: a JSON row with a key''s value replaced where it has the key (the erasure''s rewrite of the history)';

-- Whether p_columns differ between two versions of a row (as the audit
-- log keeps them, or to_jsonb makes them).  (A review task's title that
-- protector writes again when its booking moves counts too: staff may
-- write one of their own, and which wrote it the history does not tell;
-- an earlier customer's description of that task then goes, the safe
-- side.)
CREATE FUNCTION protector_internal.text_changed(p_old jsonb, p_new jsonb, p_columns text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT FROM pg_catalog.unnest(p_columns) c
			   WHERE (p_old OPERATOR(pg_catalog.->) c) IS DISTINCT FROM (p_new OPERATOR(pg_catalog.->) c));
COMMENT ON FUNCTION protector_internal.text_changed(jsonb, jsonb, text[]) IS
'Internal: whether the columns differ between two versions of a row';

-- ... and whether a logged UPDATE rewrote them: also one whose columns
-- the history masks (both versions "[masked]"), which its changed_columns
-- still name (a rewrite on a customer's booking while the text was
-- masked was not theirs: a review)
CREATE FUNCTION protector_internal.text_rewritten(p_old jsonb, p_new jsonb, p_changed text[], p_columns text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN p_changed OPERATOR(pg_catalog.&&) p_columns OR protector_internal.text_changed(p_old, p_new, p_columns);
COMMENT ON FUNCTION protector_internal.text_rewritten(jsonb, jsonb, text[], text[]) IS
'Internal: whether a logged UPDATE rewrote the columns: their values differ, or changed_columns names one (a masked column)';

-- The rows of p_table (payments, tasks, notifications: rows with a
-- booking_id and a created_at) of bookings once a customer's (p_once)
-- or theirs now and another's before (p_split), made while each booking
-- was theirs (p_periods: id to its periods, within_periods), or whose
-- text (p_columns) was changed then, found by the rows and by the
-- history of their inserts and updates (a row deleted since is named
-- there; not one logged while the table's ids were masked, which names
-- none): they are that customer's in all their history (a row written
-- for another and rewritten for them, the other's text in its history
-- too: the safe side); those made before a booking became theirs or
-- after it left them, and not rewritten in their time, are another
-- customer's.  A row of a booking theirs now is another's only where the
-- history shows it so: its text as it is now is the text the history
-- last logged for it, on that booking, outside their time (a table not
-- audited, a column masked, audited only since a rewrite, a history
-- purged, a row moved there from another booking: theirs, the safe
-- side); one of a booking once theirs without history of its insert, by
-- its time.
-- For scrub_customer_rows, as its owner.
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
				   OR (l.op OPERATOR(pg_catalog.=) ''UPDATE''
					   AND protector_internal.text_rewritten(l.old_row, l.new_row, l.changed_columns, $5)))
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
												  AND protector_internal.text_rewritten(g.old_row, g.new_row, g.changed_columns, $5)))
									   ORDER BY g.id DESC LIMIT 1) t),
								true)))',
		p_table)
	INTO v_ids USING p_organization_id, p_once, p_periods, p_table::text, p_columns, p_split;
	RETURN v_ids;
END
$$;
COMMENT ON FUNCTION protector_internal.rows_while_theirs(uuid, regclass, text[], uuid[], uuid[], jsonb) IS
'Internal: the ids of p_table''s rows of bookings once a customer''s, or theirs now and another''s before, made or rewritten while each was theirs, by the rows and their history';

-- The rows of p_table made, or whose p_columns were rewritten, on one of
-- p_bookings, as the history tells: a task or notification written on a
-- customer's booking and moved by the desk to another booking since, or
-- off any (the rows are found by where they are now: it kept the
-- person's text in the table and in the move's history: a review).  One
-- only passing through, written elsewhere, is not.  (IN a set: hashed,
-- where = ANY of a parameter tests the array element by element.)
CREATE FUNCTION protector_internal.rows_logged_on(p_organization_id uuid, p_table text, p_columns text[], p_bookings text[])
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT ARRAY(SELECT DISTINCT l.record_id FROM protector.audit_log l
			 WHERE p_bookings OPERATOR(pg_catalog.<>) '{}'
			   AND l.table_name OPERATOR(pg_catalog.=) p_table
			   AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
			   AND l.record_id OPERATOR(pg_catalog.<>) '[masked]'
			   AND (l.op OPERATOR(pg_catalog.=) 'INSERT'
					OR (l.op OPERATOR(pg_catalog.=) 'UPDATE'
						AND protector_internal.text_rewritten(l.old_row, l.new_row, l.changed_columns, p_columns)))
			   AND l.new_row OPERATOR(pg_catalog.->>) 'booking_id' IN (SELECT pg_catalog.unnest(p_bookings)))
$$;
COMMENT ON FUNCTION protector_internal.rows_logged_on(uuid, text, text[], text[]) IS
'Internal: the ids of p_table''s rows made, or with p_columns rewritten, on one of p_bookings, as the audit history tells (rows moved away since included)';

-- (planned for each call's arrays: a generic plan, which PL/pgSQL
-- takes from the sixth call of a session on, scans an array whole for
-- every row it tests where a custom plan hashes it; a worker erasing in
-- turn took four times as long from its sixth erasure)
CREATE FUNCTION protector_internal.scrub_customer_rows(p_organization_id uuid, p_customer_id uuid, p_left boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
	v_down uuid[];				-- the record and those merged into it
	v_group uuid[];				-- the person's records: with the one it was merged into
	v_users uuid[];				-- their accounts, which stamps name them by
	v_history bigint[];			-- the audit rows of the person's rows
	v_users_wide uuid[];		-- the accounts linked now, no member's: theirs wherever they acted
	v_staff uuid[];				-- of v_users, those that are or were members: their acts stay theirs
	v_bookings text[];			-- their bookings' ids, as the audit log keeps them
	v_once uuid[];				-- bookings once theirs, another customer's since
	v_split uuid[];				-- bookings theirs now, another customer's before
	v_whole text[];				-- bookings theirs now and only theirs (v_bookings but v_split)
	v_periods jsonb;			-- ... and when each of both was theirs (id: periods)
	v_old_tasks text[];			-- the tasks of those made then
	v_old_notes text[];			-- ... and their notifications
	v_old_payments text[];		-- ... and their payments
	v_widget_keys text[];		-- ... and their widget request keys (a hash of an address)
	v_always jsonb;				-- their records' and bookings' ids (id_keys)
	v_periods_keyed jsonb;		-- v_periods keyed so
	v_few text;					-- both as one pattern, where they are few
	v_merged_into uuid;
	v_top uuid;					-- the record at the top of its merges
	v_personal CONSTANT text[] := '{full_name,email,phone,country,tags,notes,identity_key,user_id}';
	v_booking_text CONSTANT text[] := '{details,cancellation_reason,idempotency_key}';
BEGIN
	-- locked as a merge locks it: a booking for the customer being made
	-- now is waited for (and then scrubbed), one made after waits for this
	-- erasure and is refused (booking_customer.c), also when the erasure
	-- is a direct insert into customer_erasures
	SELECT c.merged_into INTO v_merged_into FROM protector.customers c
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
	-- (Not in an organization the record was moved out of (p_left): the
	-- erasure is recorded where the record is.)
	IF v_merged_into IS NOT NULL AND NOT p_left THEN
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
		'Rows it set aside (protector_internal.restore_pending) may be this customer''s, and would come back unerased.',
		p_message => CASE WHEN p_left THEN 'a restore of an organization the customer was moved out of is not finished' END);
	-- (the erasure's own changes of bookings once theirs, now another
	-- customer's, are broadcast without their old rows: broadcast_booking_change)
	PERFORM pg_catalog.set_config('protector_internal.erasing', 'on', true);
	-- The records whose accounts go: this one and those merged into it.
	-- Their rows may lie with the record this one was merged into (a merge
	-- moves bookings, payments and messages to it): the person's records are
	-- all of that group.
	v_down := p_customer_id OPERATOR(pg_catalog.||) protector_internal.merged_into_it(p_organization_id, p_customer_id);
	-- (in an organization the record was moved out of, its records are
	-- those: the record, and any merged into it there; the merges it met
	-- after the move are of the organization it went to: a review)
	v_group := CASE WHEN p_left THEN v_down ELSE ARRAY(
		WITH RECURSIVE up(id, parent) AS (
			SELECT c.id, c.merged_into FROM protector.customers c WHERE c.id OPERATOR(pg_catalog.=) p_customer_id
			UNION
			SELECT c.id, c.merged_into FROM protector.customers c JOIN up ON c.id OPERATOR(pg_catalog.=) up.parent),
		d(id) AS (
			SELECT up.id FROM up WHERE up.parent IS NULL
			UNION
			SELECT c.id FROM protector.customers c JOIN d ON c.merged_into OPERATOR(pg_catalog.=) d.id
			WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id)
		SELECT d.id FROM d) END;
	-- Their accounts: the ones linked now, and those a merge or an
	-- unlinking took off, as the records' history says (read before it is
	-- scrubbed below; a purged or unaudited history says nothing), unless
	-- such an account is or was one of the organization's members or is
	-- linked now to another of its customers: a link made by mistake and
	-- undone does not make that person's actions this customer's.
	v_users := ARRAY(
		SELECT DISTINCT s.u FROM (
			-- (the link of now is the organization's where the record is: in
			-- one it was moved out of, only that one's history tells, which
			-- judges the account as the history's are judged: a review)
			SELECT c.user_id AS u FROM protector.customers c WHERE c.id OPERATOR(pg_catalog.=) ANY (v_down) AND NOT p_left
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
						  WHERE c.id OPERATOR(pg_catalog.=) ANY (v_down) AND c.user_id IS NOT NULL AND NOT p_left
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
	-- (theirs whole: a task or notification ever on one of those, moved to
	-- another booking since, is theirs in all its history)
	v_whole := ARRAY(SELECT k FROM pg_catalog.unnest(v_bookings) k WHERE k::uuid OPERATOR(pg_catalog.<>) ALL (v_split));
	-- (a widget booking once theirs was made for an address, theirs or one
	-- before them: the key, a hash of it, goes, the safe side, as a voucher
	-- note once theirs does)
	v_widget_keys := ARRAY(SELECT b.idempotency_key FROM protector.bookings b
						   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.id OPERATOR(pg_catalog.=) ANY (v_once)
							 AND pg_catalog.starts_with(b.idempotency_key, 'widget/'));
	-- its widget rate-limit records, also those of an address the record
	-- had before (the record's id): the address read by the statement
	-- itself, before the record is cleared below, never into a variable
	-- (which a plan for this call carries as a constant: auto_explain's
	-- nested plans and pgaudit's parameters logged the address an erasure
	-- is to remove, for another retention period of the log)
	DELETE FROM protector_internal.widget_requests w
	WHERE w.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND (w.identity_key OPERATOR(pg_catalog.=) (SELECT c.identity_key FROM protector.customers c
												 WHERE c.id OPERATOR(pg_catalog.=) p_customer_id)
		   OR w.customer_id OPERATOR(pg_catalog.=) p_customer_id);
	-- (the record itself where it is, last: the passes of the
	-- organizations it was moved out of come first, and read its address
	-- and account as this one does)
	UPDATE protector.customers c
	SET full_name = 'erased', email = NULL, phone = NULL, country = NULL, tags = '{}', notes = NULL, user_id = NULL
	WHERE c.id OPERATOR(pg_catalog.=) p_customer_id AND NOT p_left;
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
	-- (the accounts' stamps go below, from every row of the person's; every
	-- request key of their bookings goes, as it goes from the history: one
	-- the desk typed may name them too, and the widget's and a signed-in
	-- customer's do)
	UPDATE protector.bookings b SET details = protector_internal.erased_booking_details(b.details), cancellation_reason = NULL,
		idempotency_key = NULL
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
	-- (the payments of their bookings, then those once theirs: as one
	-- statement, the OR read every payment of the organization, 1.3 s
	-- beside 250,000; an attack at scale)
	UPDATE protector.payments p SET details = protector_internal.erased_payment_details(p.details)
	FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND b.customer_id OPERATOR(pg_catalog.=) p_customer_id AND b.id OPERATOR(pg_catalog.<>) ALL (v_split)
	  AND p.organization_id OPERATOR(pg_catalog.=) b.organization_id AND p.booking_id OPERATOR(pg_catalog.=) b.id
	  AND p.details OPERATOR(pg_catalog.<>) protector_internal.erased_payment_details(p.details);
	UPDATE protector.payments p SET details = protector_internal.erased_payment_details(p.details)
	WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND p.id OPERATOR(pg_catalog.=) ANY (v_old_payments::uuid[])
	  AND p.details OPERATOR(pg_catalog.<>) protector_internal.erased_payment_details(p.details);
	UPDATE protector.audit_log l
	SET old_row = protector_internal.row_with_value(l.old_row, 'details',
				protector_internal.erased_payment_details(l.old_row OPERATOR(pg_catalog.->) 'details')),
		new_row = protector_internal.row_with_value(l.new_row, 'details',
				protector_internal.erased_payment_details(l.new_row OPERATOR(pg_catalog.->) 'details'))
	WHERE l.table_name OPERATOR(pg_catalog.=) 'protector.payments'
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND ((COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id' OPERATOR(pg_catalog.=) ANY (v_bookings)
			AND COALESCE(l.new_row, l.old_row) OPERATOR(pg_catalog.->>) 'booking_id' OPERATOR(pg_catalog.<>) ALL (v_split::text[]))
		   OR l.record_id OPERATOR(pg_catalog.=) ANY (v_old_payments));
	-- (a task of a booking once theirs, made while the booking was theirs,
	-- is theirs in all its history; one made before or after is another
	-- customer's)
	v_old_tasks := protector_internal.rows_while_theirs(p_organization_id, 'protector.tasks', '{title,description}',
																  v_once, v_split, v_periods)
				   OPERATOR(pg_catalog.||) protector_internal.rows_logged_on(p_organization_id, 'protector.tasks', '{title,description}', v_whole);
	-- (a task of theirs taken off any booking since is theirs too: no
	-- booking, no review title)
	UPDATE protector.tasks t
	SET description = NULL, title = x.title
	FROM (SELECT t2.id,
				 CASE WHEN t2.kind OPERATOR(pg_catalog.=) 'booking_review' AND b.id IS NOT NULL
					  THEN pg_catalog.format('Review booking: %s, %s (%s)', pg_catalog.btrim(s.name),
							pg_catalog.to_char(protector_internal.local_time(v.timezone, pg_catalog.lower(b.during)), 'YYYY-MM-DD HH24:MI'),
							v.timezone)
					  ELSE '[erased]' END AS title
		  FROM (SELECT t3.id FROM protector.bookings b3
				JOIN protector.tasks t3 ON t3.organization_id OPERATOR(pg_catalog.=) b3.organization_id
									   AND t3.booking_id OPERATOR(pg_catalog.=) b3.id
				WHERE b3.organization_id OPERATOR(pg_catalog.=) p_organization_id
				  AND b3.customer_id OPERATOR(pg_catalog.=) p_customer_id AND b3.id OPERATOR(pg_catalog.<>) ALL (v_split)
				UNION
				SELECT o.id::uuid FROM pg_catalog.unnest(v_old_tasks) o(id)) theirs
		  JOIN protector.tasks t2 ON t2.id OPERATOR(pg_catalog.=) theirs.id
								 AND t2.organization_id OPERATOR(pg_catalog.=) p_organization_id
		  LEFT JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) t2.organization_id
										AND b.id OPERATOR(pg_catalog.=) t2.booking_id
		  LEFT JOIN protector.services s ON s.id OPERATOR(pg_catalog.=) b.service_id
		  LEFT JOIN protector.venues v ON v.id OPERATOR(pg_catalog.=) s.venue_id) x
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
																  v_once, v_split, v_periods)
				   OPERATOR(pg_catalog.||) protector_internal.rows_logged_on(p_organization_id, 'protector.notifications', '{payload}', v_whole);
	UPDATE protector.notifications n
	SET payload = protector_internal.erased_notification_payload(p_organization_id, n.kind, n.payload)
	WHERE n.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND ((n.booking_id OPERATOR(pg_catalog.=) ANY (v_bookings::uuid[]) AND n.booking_id OPERATOR(pg_catalog.<>) ALL (v_split))
		   OR n.id OPERATOR(pg_catalog.=) ANY (v_old_notes::uuid[]))
	  AND n.payload OPERATOR(pg_catalog.<>) protector_internal.erased_notification_payload(p_organization_id, n.kind, n.payload);
	UPDATE protector.audit_log l
	SET old_row = protector_internal.row_with_value(l.old_row, 'payload',
				protector_internal.erased_notification_payload(p_organization_id, l.old_row OPERATOR(pg_catalog.->>) 'kind',
															   l.old_row OPERATOR(pg_catalog.->) 'payload')),
		new_row = protector_internal.row_with_value(l.new_row, 'payload',
				protector_internal.erased_notification_payload(p_organization_id, l.new_row OPERATOR(pg_catalog.->>) 'kind',
															   l.new_row OPERATOR(pg_catalog.->) 'payload'))
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
	-- what staff logged of them (log_staff_activity): an entry naming one
	-- of the person's records or bookings (one once theirs: written while
	-- it was) keeps its action, time, member and the ids at its top level,
	-- not its text; in the history too, where the table is audited (an
	-- entry deleted since by what its logged text names, judged by the
	-- entry's time: the history's is when it was logged, which a trusted
	-- writer's entry may not be).  Set-based, each entry's ids read once
	-- and looked up (a test per entry and id took seconds for a log of
	-- 200,000 entries, and one pattern of every id failed past 5,000: a
	-- review).
	v_always := protector_internal.id_keys(v_group OPERATOR(pg_catalog.||)
										   ARRAY(SELECT b::uuid FROM pg_catalog.unnest(v_bookings) b
												 WHERE NOT v_periods OPERATOR(pg_catalog.?) b), '{}');
	v_periods_keyed := protector_internal.id_keys('{}', v_periods);
	-- (where they are few, the entries whose text holds one of them at all
	-- are found first, by one pattern of them: a tenth of the time)
	v_few := (SELECT pg_catalog.string_agg(k, '|') FROM pg_catalog.jsonb_object_keys(v_always OPERATOR(pg_catalog.||) v_periods_keyed) k
			  HAVING pg_catalog.count(*) OPERATOR(pg_catalog.<=) 200);
	UPDATE protector.staff_activity a SET details = protector_internal.erased_activity_details(a.details)
	WHERE a.id OPERATOR(pg_catalog.=) ANY (ARRAY(
			SELECT x.id FROM protector.staff_activity x, LATERAL protector_internal.text_ids(x.details::text) c
			WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND (v_few IS NULL
				   OR pg_catalog.replace(pg_catalog.lower(x.details::text), '-', '') OPERATOR(pg_catalog.~) v_few)
			  AND (v_always OPERATOR(pg_catalog.?) c
				   OR (v_periods_keyed OPERATOR(pg_catalog.?) c
					   AND protector_internal.within_periods(v_periods_keyed OPERATOR(pg_catalog.->) c, x.occurred_at, NULL::bigint)))))
	  AND a.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND a.details OPERATOR(pg_catalog.<>) protector_internal.erased_activity_details(a.details);
	UPDATE protector.audit_log l
	SET old_row = protector_internal.row_with_value(l.old_row, 'details',
				protector_internal.erased_activity_details(l.old_row OPERATOR(pg_catalog.->) 'details')),
		new_row = protector_internal.row_with_value(l.new_row, 'details',
				protector_internal.erased_activity_details(l.new_row OPERATOR(pg_catalog.->) 'details'))
	WHERE l.id OPERATOR(pg_catalog.=) ANY (ARRAY(
			SELECT x.id FROM protector.audit_log x,
				 LATERAL protector_internal.text_ids(pg_catalog.concat(x.old_row OPERATOR(pg_catalog.->) 'details',
																	   x.new_row OPERATOR(pg_catalog.->) 'details')) c
			WHERE x.table_name OPERATOR(pg_catalog.=) 'protector.staff_activity'
			  AND x.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND (v_few IS NULL
				   OR pg_catalog.replace(pg_catalog.lower(pg_catalog.concat(x.old_row OPERATOR(pg_catalog.->) 'details',
																			 x.new_row OPERATOR(pg_catalog.->) 'details')), '-', '')
					  OPERATOR(pg_catalog.~) v_few)
			  AND (v_always OPERATOR(pg_catalog.?) c
				   OR (v_periods_keyed OPERATOR(pg_catalog.?) c
					   AND protector_internal.within_periods(v_periods_keyed OPERATOR(pg_catalog.->) c,
							protector_internal.logged_time(COALESCE(x.new_row, x.old_row), 'occurred_at', x.occurred_at),
							NULL::bigint)))))
	  AND l.organization_id OPERATOR(pg_catalog.=) p_organization_id;
	PERFORM pg_catalog.set_config('protector_internal.erasing', 'off', true);
END
$$;
COMMENT ON FUNCTION protector_internal.scrub_customer_rows(uuid, uuid, boolean) IS
'Replaces one customer''s personal data with a tombstone in customers, their bookings'' details, reminders, messages, staff activity and the audit history';

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
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.customer_erasures'))
	EXECUTE FUNCTION protector_internal.check_erasure_row();

-- The organizations a customer record was moved out of, but
-- p_organization_id (customer_moves).
CREATE FUNCTION protector_internal.organizations_left(p_customer_id uuid, p_organization_id uuid)
RETURNS uuid[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT ARRAY(SELECT DISTINCT m.from_organization_id FROM protector_internal.customer_moves m
			 WHERE m.customer_id OPERATOR(pg_catalog.=) p_customer_id
			   AND m.from_organization_id OPERATOR(pg_catalog.<>) p_organization_id
			 ORDER BY m.from_organization_id)
$$;
COMMENT ON FUNCTION protector_internal.organizations_left(uuid, uuid) IS
'Internal: the organizations a customer record was moved out of (customer_moves), but p_organization_id';

-- An erasure's work: the customer's rows in each organization the record
-- was moved out of (its history there: theirs), then in its own.
CREATE FUNCTION protector_internal.scrub_customer_everywhere(p_organization_id uuid, p_customer_id uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_left uuid;
BEGIN
	-- (those first: the record, scrubbed last where it is, still holds the
	-- address and account each pass reads)
	FOREACH v_left IN ARRAY protector_internal.organizations_left(p_customer_id, p_organization_id) LOOP
		PERFORM protector_internal.scrub_customer_rows(v_left, p_customer_id, true);
	END LOOP;
	PERFORM protector_internal.scrub_customer_rows(p_organization_id, p_customer_id);
END
$$;
COMMENT ON FUNCTION protector_internal.scrub_customer_everywhere(uuid, uuid) IS
'Internal: scrub_customer_rows in every organization the customer''s record was moved out of, then in its own';

CREATE FUNCTION protector_internal.erase_customer_data()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.scrub_customer_everywhere(NEW.organization_id, NEW.customer_id);
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
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.customer_erasures'))
	EXECUTE FUNCTION protector_internal.erase_customer_data();

-- erase_customer's second call: the erasure again, for whoever this
-- transaction authorized to erase the customer (erase_customer did)
CREATE FUNCTION protector_internal.scrub_customer(p_organization_id uuid, p_customer_id uuid)
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
	PERFORM protector_internal.scrub_customer_everywhere(p_organization_id, p_customer_id);
END
$$;
COMMENT ON FUNCTION protector_internal.scrub_customer(uuid, uuid) IS
'Erases an erased customer''s personal data again, for a caller this transaction authorized to (require_permit); only a customer whose erasure is recorded in that organization';

-- An erased customer stays a tombstone: nobody writes personal data into
-- it again (a later merge, an update, a booking: refused where they
-- happen), so an erasure is never undone behind its back.
CREATE FUNCTION protector_internal.keep_erased()
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
CREATE TRIGGER keep_erased BEFORE UPDATE ON protector.customers
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.customers'))
	EXECUTE FUNCTION protector_internal.keep_erased();

-- A booking is for a customer that is one: not merged into another (its
-- bookings moved there; a new one would be lost to the customer's history
-- and account) and not erased.  The check is C (src/booking_customer.c: a
-- locked read of the customer, as the foreign key's, and a probe of its
-- erasure); prepare_booking() runs it for a new booking
-- (src/booking_insert.c: a booking passes one BEFORE INSERT trigger), this
-- trigger for a booking given another customer.
CREATE FUNCTION protector_internal.check_booking_customer()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_check_booking_customer'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.check_booking_customer() IS
'Trigger (C): a booking''s customer is neither merged into another nor erased';

-- The check's refusal of a booking for a merged (p_merged_into) or erased
-- customer, as the caller may learn it: a signed-in caller the policies
-- will refuse the booking learns nothing here.
CREATE FUNCTION protector_internal.refuse_booking_customer(p_organization_id uuid, p_customer_id uuid,
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
-- (named to run after restrict_update_columns, which refuses the change to
-- a caller who may not make it: an operator was told first that the
-- customer named was erased, which they may not read: a review)
CREATE TRIGGER screen_booking_customer BEFORE UPDATE OF customer_id ON protector.bookings
	FOR EACH ROW WHEN (NEW.customer_id IS NOT NULL AND NEW.customer_id IS DISTINCT FROM OLD.customer_id
					   AND NOT protector_internal.restoring_into('protector.bookings'))
	EXECUTE FUNCTION protector_internal.check_booking_customer();

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
				FOR EACH ROW WHEN (NEW.customer_id IS NOT NULL AND NOT protector_internal.restoring_into(%L)
								   AND (protector_internal.caller_is_trusted()
										OR NEW.organization_id = ANY (protector_internal.orgs_with('customers.read'))
										OR NEW.organization_id = ANY (protector_internal.orgs_with('customers.read_assigned'))
										OR NEW.customer_id = ANY (protector_internal.current_customer_ids())))
				EXECUTE FUNCTION protector_internal.check_customer_not_merged()$t$,
			CASE t WHEN 'waiver_submissions' THEN 'customer_id, booking_id' ELSE 'customer_id' END, t, 'protector.' OPERATOR(pg_catalog.||) t);
	END LOOP;
END
$not_merged$;

-- Erases the customer and every record merged into it (a merge leaves the
-- merged record's details and history); asked again, erases again (what
-- was written since, say a message).
CREATE FUNCTION protector.erase_customer(p_customer_id uuid)
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
	-- one erasure or merge of the customer at a time, first (two erasures
	-- of one customer, a booking handed to it between their locks of its
	-- bookings, each waited for a booking the other held: 40P01)
	PERFORM protector_internal.lock_seen(1886547725, p_customer_id, false);
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
GRANT EXECUTE ON FUNCTION protector_internal.scrub_customer(uuid, uuid), protector_internal.merged_into_it(uuid, uuid)
	TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION protector.expire_holds(integer) TO service_role;
GRANT EXECUTE ON FUNCTION protector.purge_audit_log(timestamptz, uuid), protector.erase_customer(uuid)
	TO authenticated, service_role;
