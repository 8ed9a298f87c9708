\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/77_payments.sql: money that adds up (docs/payments.md).
--
-- A service's currency is its organization's unless set; a booking's is
-- its service's; a payment's is its booking's, and a payment in another
-- currency is refused.  What a booking has been paid is the ledger's:
-- payments.amount (succeeded payments less succeeded refunds) summed into
-- bookings.amount_paid by the triggers below, under the booking's row lock,
-- in the payment's own transaction; balance_due = total_price - amount_paid.
-- Refunds never exceed what was paid.

-- Waits for a change of the organization's row under way (its currency
-- changed: keep_organization_currency holds the row), as the foreign key
-- of a row about to name it would, but before that row's currency is
-- read from it.  As the owner, who may lock the row; it answers nothing.
CREATE FUNCTION protector_internal.wait_for_organization(p_organization_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (only for a caller who sees the organization: a stranger, by an
	-- insert the policy then refused or by calling this, waited for its
	-- change under way, so learnt it existed and was being changed, and
	-- could hold its row: a review)
	IF protector_internal.requester_is_trusted()
	   OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('organizations.read')) THEN
		PERFORM FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id FOR KEY SHARE;
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.wait_for_organization(uuid) IS
'Locks an organization''s row FOR KEY SHARE as its owner (a change of it under way is waited for), for a caller who sees it (trusted, or organizations.read); returns nothing';
GRANT EXECUTE ON FUNCTION protector_internal.wait_for_organization(uuid) TO authenticated, service_role;

-- A currency not given on insert: the organization's for a service, a
-- voucher or a promo code, the service's for a booking, the booking's for
-- a payment.  (The organization's as it is once a change of its currency
-- under way has committed: read before, a service took the old currency
-- of an organization whose change the service's foreign key then waited
-- for, and reports left it out: a review.  Under REPEATABLE READ the lock
-- says 40001 instead.)
CREATE FUNCTION protector_internal.default_currency()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) ANY ('{services,vouchers,promo_codes}') THEN
		-- (waited for only by a caller who sees the organization: an
		-- outsider's insert, which the policy then refuses, learnt that it
		-- existed and was being changed: wait_for_organization asks)
		PERFORM protector_internal.wait_for_organization(NEW.organization_id);
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

-- Reports, dashboards and analytics count money in the organization's
-- currency, so its currency stays while bookings, payments or services
-- are in it: a change left every one of them out of every figure,
-- silently, and the bookings of a service still priced in the old
-- currency after it.  (As the owner: the answer is one yes or no about
-- the caller's own organization.)
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
				  WHERE p.organization_id OPERATOR(pg_catalog.=) OLD.id AND p.currency OPERATOR(pg_catalog.=) OLD.currency)
	   -- (a voucher's balance is money held for someone, in the currency
	   -- it was sold in: it paid for nothing after the change, and moving
	   -- the voucher to the new currency kept the number, 100 EUR became
	   -- 100 JPY; an attack on currencies)
	   OR EXISTS (SELECT FROM protector.vouchers v
				  WHERE v.organization_id OPERATOR(pg_catalog.=) OLD.id AND v.currency OPERATOR(pg_catalog.=) OLD.currency
					AND v.balance OPERATOR(pg_catalog.>) 0) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('currency cannot change from %s: the organization has services, bookings, payments or vouchers with a balance in it', OLD.currency),
			pg_catalog.format('Reports, dashboards and analytics count money in the organization''s currency; what is in %s would drop out of them, and so would the bookings of services still priced in it.', OLD.currency),
			-- (services can move to the new currency; bookings and payments
			-- keep theirs, so an organization with them keeps its own: the
			-- hint said to change the services first, which never sufficed)
			CASE WHEN EXISTS (SELECT FROM protector.bookings b
							  WHERE b.organization_id OPERATOR(pg_catalog.=) OLD.id AND b.currency OPERATOR(pg_catalog.=) OLD.currency)
					  OR EXISTS (SELECT FROM protector.payments p
								 WHERE p.organization_id OPERATOR(pg_catalog.=) OLD.id AND p.currency OPERATOR(pg_catalog.=) OLD.currency)
				 THEN pg_catalog.format('Bookings and payments keep the currency they were made in: an organization that has them in %s keeps it; another currency needs an organization of its own.', OLD.currency)
				 WHEN EXISTS (SELECT FROM protector.vouchers v
							  WHERE v.organization_id OPERATOR(pg_catalog.=) OLD.id AND v.currency OPERATOR(pg_catalog.=) OLD.currency
								AND v.balance OPERATOR(pg_catalog.>) 0)
				 THEN pg_catalog.format('Vouchers hold money in the currency they were sold in: spend or refund their balance in %s first (an expired one: lower its amount to what was spent).', OLD.currency)
				 ELSE 'Change the services'' currency first (update_service).' END);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_organization_currency() IS
'Trigger: an organization''s currency does not change while services, bookings, payments or vouchers with a balance are in it (reports count money in it)';
CREATE TRIGGER keep_organization_currency BEFORE UPDATE OF currency ON protector.organizations
	FOR EACH ROW WHEN (NEW.currency IS DISTINCT FROM OLD.currency AND NOT protector_internal.restoring_into('protector.organizations'))
	EXECUTE FUNCTION protector_internal.keep_organization_currency();
-- (bookings: prepare_booking(), src/booking_insert.c, sets the service's)
CREATE TRIGGER default_currency BEFORE INSERT ON protector.payments
	FOR EACH ROW WHEN (NEW.currency IS NULL) EXECUTE FUNCTION protector_internal.default_currency();
-- also for imports under session_replication_role = replica
ALTER TABLE protector.services ENABLE ALWAYS TRIGGER default_currency;
ALTER TABLE protector.payments ENABLE ALWAYS TRIGGER default_currency;

-- argument checks shared by the money RPCs
CREATE FUNCTION protector_internal.check_money(p_amount numeric, p_parameter text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_amount IS NULL OR p_amount OPERATOR(pg_catalog.<=) 0 OR p_amount OPERATOR(pg_catalog.>=) 10000000000
	   OR p_amount OPERATOR(pg_catalog.<>) pg_catalog.round(p_amount, 2) THEN
		-- (said in the words check_price uses: "in cents" invited 1234 for
		-- 12.34)
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be a positive amount with at most two decimals', p_parameter),
			pg_catalog.format('Got %s.', COALESCE(protector_internal.quoted_text(p_amount::text, 100), 'NULL')),
			CASE WHEN p_amount OPERATOR(pg_catalog.<) 0
				 THEN 'Amounts are above 0; money paid back is recorded as a refund, not as a negative amount.'
				 ELSE 'Amounts are in the currency''s units (12.34, not 1234 cents), above 0 and below 10000000000.' END);
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_money(numeric, text) IS
'Refuses an amount that is not positive, has more than two decimals or is 10^10 or more (22023 naming the parameter)';

CREATE FUNCTION protector_internal.check_currency(p_currency text, p_parameter text)
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

-- What a booking's ledger holds for refunds: paid, its succeeded
-- payments; refunded, its refunds succeeded or still pending (committed
-- to be paid back).  p_except leaves out the row being written.  Called
-- by check_payment and refund_on_cancel (sql/75_bookings_api.sql), which
-- run as the owner and so see every payment.
CREATE FUNCTION protector_internal.booking_refundable(p_organization_id uuid, p_booking_id uuid, p_except uuid DEFAULT NULL,
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

-- Under REPEATABLE READ or SERIALIZABLE, after the booking's lock: 40001
-- when its payments changed since the transaction's snapshot.  A
-- pending refund (or a failed payment) leaves the booking's row as it
-- was, so the lock alone raises no serialization failure, and the ledger
-- summed on the snapshot would miss it: two refunds of what was paid once
-- were both recorded.  Called by check_payment, which every row written
-- passes (refund_on_cancel's refunds too: a cancellation whose snapshot
-- missed a refund retries when it records its own).
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

-- What gift vouchers paid for a booking and were not given back: its
-- succeeded voucher payments less its succeeded voucher refunds, of one
-- voucher or (p_voucher_id NULL) of all, leaving out row p_except.
CREATE FUNCTION protector_internal.voucher_paid(p_organization_id uuid, p_booking_id uuid,
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

-- A payment row written or deleted: lock its booking (so that what it
-- was paid is summed one payment at a time, each seeing the others,
-- deletions too), refuse another currency, a move to another booking, and
-- any change after which the booking's refunds would exceed what was paid
-- (a refund too large, or a payment lowered, failed or deleted under its
-- refunds).  Runs as the owner: it must see every payment of the booking.
-- Before an update or a deletion, which RLS has let see the row; after
-- an insert, once the insert policy's WITH CHECK has passed the row: a
-- row naming another tenant's booking is refused by the policy as a
-- made-up id is, and is never told that booking's ledger or currency, nor
-- waits for its lock.  A writer the policy passes locked it FOR UPDATE
-- before the insert (lock_payment_booking), as every other write of a
-- booking's payments and the RPCs lock it; another (one an operator's own
-- policy admits) locks it only here, FOR NO KEY UPDATE: its foreign key
-- check holds KEY SHARE by then, and two such writers upgrading theirs to
-- FOR UPDATE would deadlock.
CREATE FUNCTION protector_internal.check_payment()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- (no sequential scan for its look-ups by key: a plan made while a table
-- was empty read all of it for each row of a bulk statement, quadratic in
-- its rows; docs/operations.md, "Bulk loads and statistics")
SET enable_seqscan = off
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

-- What a payment row adds to what its booking keeps: a succeeded payment
-- its amount, a pending or succeeded refund less its amount
CREATE FUNCTION protector_internal.payment_effect(p_kind protector.payment_kind, p_status protector.payment_status,
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

-- A payment's provider and reference are plain text however the row is
-- written (record_payment says so of its parameters; the desk's direct
-- rows were not told), and its details at most 64 kB, as a booking's (a
-- provider's webhook payload fits; 20 MB were stored, twice more in the
-- audit log): a change is judged, a value stored before stays.
CREATE FUNCTION protector_internal.check_payment_texts()
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
	-- (a reference is unique per provider: one of no provider collided
	-- with nothing, and the same one was recorded twice, both counted: a
	-- review.  As record_payment refuses it.)
	IF NEW.provider_reference IS NOT NULL AND NEW.provider IS NULL
	   AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR OLD.provider IS NOT NULL
			OR NEW.provider_reference IS DISTINCT FROM OLD.provider_reference) THEN
		PERFORM protector.raise('invalid_parameter', 'provider_reference needs provider: whose reference it is',
			'A reference is unique per provider; one of no provider would collide with nothing.',
			'Write the provider beside it (e.g. ''stripe'').');
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
'Trigger: a payment''s provider and reference as written are plain text, not blank, a reference with its provider, and its details at most 64 kB (a value stored before stays)';
CREATE TRIGGER check_payment_texts BEFORE INSERT OR UPDATE OF provider, provider_reference, details ON protector.payments
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.payments'))
	EXECUTE FUNCTION protector_internal.check_payment_texts();

CREATE TRIGGER check_payment BEFORE UPDATE OF organization_id, booking_id, kind, amount, currency, status OR DELETE
	ON protector.payments
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.payments'))
	EXECUTE FUNCTION protector_internal.check_payment();
-- (named to fire before refund_late_payment and sum_payments, which count
-- on the booking's lock; after the foreign keys' checks, as every
-- "RI_ConstraintTrigger" sorts first)
CREATE TRIGGER check_inserted_payment AFTER INSERT ON protector.payments
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.payments'))
	EXECUTE FUNCTION protector_internal.check_payment();

-- Before an insert by a writer the insert policy will pass (the table's
-- owner, a role that bypasses RLS, a function of one, protector's own
-- functions, a member whose role may record payments in the row's
-- organization): its booking is locked FOR UPDATE before the row goes in,
-- as every other write of the booking's payments and the RPCs lock it.
-- Locked only after the insert (check_inserted_payment), such a row would
-- hold its booking KEY SHARE (the foreign key's check) and its provider
-- reference in the unique index while it waited, and a transaction that
-- held the booking and then asked FOR UPDATE, or wrote the same
-- reference, would deadlock with it.  Other writers (a stranger, whom the
-- policy refuses; one an operator's own policy admits) take the lock only
-- in the judgement.
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
-- (named to fire first of the BEFORE INSERT triggers, as check_payment
-- did; the condition is the insert policy's, or trust)
CREATE TRIGGER a_lock_payment_booking BEFORE INSERT ON protector.payments
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.payments')
					   AND (protector_internal.caller_is_trusted()
							OR NOT pg_catalog.row_security_active('protector.payments'::pg_catalog.regclass)
							OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('payments.create'))))
	EXECUTE FUNCTION protector_internal.lock_payment_booking();

-- After: the booking's amount_paid is the ledger's sum (the booking is
-- locked by check_payment, or by the delete).
CREATE FUNCTION protector_internal.sum_payments()
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
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.payments'))
	EXECUTE FUNCTION protector_internal.sum_payments();

-- Money that succeeds after its booking was cancelled or marked a no-show
-- (a provider's webhook after expire_holds, a pending payment settled
-- later, a payment recorded late; not a succeeded payment's amount
-- corrected) is settled by the terms the
-- cancellation was settled by (protector_internal.cancellation_terms,
-- written by refund_on_cancel): under a fee, what was paid beyond the fee
-- and not refunded comes back, at most this money; under the older
-- refund_policy, the same percent of this money.  As a pending refund row.
-- Nothing without terms (the cancellation refunded nothing by choice),
-- with protector.refund_on_cancel off in the paying transaction, or for a
-- voucher's payment (vouchers pay only live bookings).
CREATE FUNCTION protector_internal.refund_late_payment()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- (no sequential scan for its look-ups by key: a plan made while a table
-- was empty read all of it for each row of a bulk statement, quadratic in
-- its rows; docs/operations.md, "Bulk loads and statistics")
SET enable_seqscan = off
AS $$
DECLARE
	v_late numeric := NEW.amount;	-- the money this change makes arrive
	v_terms protector_internal.cancellation_terms;
	v_paid numeric;
	v_refunded numeric;
	v_other numeric;
	v_refund numeric;
	v_refund_id uuid;
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
		v_other := protector_internal.refunds_not_by_terms(NEW.organization_id, NEW.booking_id,
														   v_refunded, v_terms.refunded_by_terms);
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
											  'refund_percent', v_terms.refund_percent, 'paid_after_cancellation', NEW.id))
		RETURNING id INTO v_refund_id;
		PERFORM protector_internal.note_terms_refund(NEW.organization_id, NEW.booking_id, v_refund_id);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.refund_late_payment() IS
'Trigger: money succeeding on a cancelled or no-show booking is refunded by the terms its cancellation was settled by (cancellation_terms)';

-- (the refund row it writes does not fire it: WHEN asks for a payment)
CREATE TRIGGER refund_late_payment AFTER INSERT OR UPDATE OF amount, status, kind ON protector.payments
	FOR EACH ROW WHEN (NEW.kind = 'payment' AND NEW.status = 'succeeded' AND NEW.voucher_id IS NULL
					   AND NOT protector_internal.restoring_into('protector.payments'))
	EXECUTE FUNCTION protector_internal.refund_late_payment();

-- Money paid in one currency stays in it: a booking or a gift voucher with
-- payments keeps its currency (set_booking_price() refuses the same for a
-- move to a service in another currency).  Otherwise the ledger would mix
-- currencies, and sums by the new one would drop what was paid.
CREATE FUNCTION protector_internal.keep_paid_currency()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_voucher boolean := TG_TABLE_NAME OPERATOR(pg_catalog.=) 'vouchers';
BEGIN
	-- a fixed promo code is in the currency of every booking that used
	-- it: a fixed discount applies in its own currency, and a booking
	-- repriced after its code's currency changed, or after a percent code
	-- it used became fixed in another, lost the discount silently (an
	-- attack on currencies; the kind's change, its review)
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'promo_codes' THEN
		IF NEW.discount_kind OPERATOR(pg_catalog.=) 'fixed' THEN
			PERFORM protector.raise('invalid_parameter', 'a fixed promo code keeps the currency of the bookings that used it',
				pg_catalog.format('A booking used it in %s; the update asks for a fixed discount in %s.', b.currency, NEW.currency),
				'Deactivate it and create another code in the new currency.')
			FROM protector.bookings b
			WHERE b.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
			  AND b.promo_code_id OPERATOR(pg_catalog.=) OLD.id AND b.currency OPERATOR(pg_catalog.<>) NEW.currency
			LIMIT 1;
		END IF;
		RETURN NEW;
	END IF;
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
'Trigger: a booking or voucher with payments keeps its currency; a fixed promo code has the currency of every booking that used it';

-- (named to run after restrict_update_columns, which refuses the change
-- to a caller who may not make it: told first that the booking has
-- payments, an operator or agent, who may not read payments, learned which
-- bookings had some: a review)
CREATE TRIGGER retain_paid_currency BEFORE UPDATE OF currency ON protector.bookings
	FOR EACH ROW WHEN (NEW.currency IS DISTINCT FROM OLD.currency AND NOT protector_internal.restoring_into('protector.bookings'))
	EXECUTE FUNCTION protector_internal.keep_paid_currency();

-- The deposit a service's settings.deposit asks of a booking's total:
-- {"percent": p} of it, rounded to cents half to even, or {"amount": a},
-- at most the total; none (0) without either.  A fixed amount is in the
-- service's currency: for a total in another (p_same_currency false) it
-- says nothing (NULL).
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

-- A fixed deposit is in its service's currency: a booking in another
-- cannot owe it (22023), written so (require_deposit) or moved there
-- (set_booking_price; both run as the owner).
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

-- The hours a deposit is given: settings.deposit.deadline_hours, held to
-- what the settings take, a minute to a year (one stored before they were
-- checked, 0, made a deposit due at once, and expire_holds cancelled the
-- booking: a review), default 24.
CREATE FUNCTION protector_internal.deposit_hours(p_deposit jsonb)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN protector_internal.setting_number(p_deposit OPERATOR(pg_catalog.->) 'deadline_hours', 24, 1 OPERATOR(pg_catalog./) 60.0, 8760);
COMMENT ON FUNCTION protector_internal.deposit_hours(jsonb) IS
'Internal: settings.deposit.deadline_hours as read: held to a minute to 8760 hours, default 24';

-- When a deposit asked now is due: settings.deposit.deadline_hours
-- (default 24) from now (clock_now), and never later than the booking's
-- start.
CREATE FUNCTION protector_internal.deposit_due_by(p_deposit jsonb, p_start timestamptz)
RETURNS timestamptz
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
-- (from the moment it books, clock_now: a script's long transaction
-- stored a deadline already passed, and its booking was cancelled at once)
RETURN LEAST(protector_internal.clock_now() OPERATOR(pg_catalog.+)
			 pg_catalog.make_interval(secs => protector_internal.deposit_hours(p_deposit) OPERATOR(pg_catalog.*) 3600),
			 p_start);
COMMENT ON FUNCTION protector_internal.deposit_due_by(jsonb, timestamptz) IS
'When a deposit asked now is due: settings.deposit.deadline_hours (default 24) from now, at the latest the start';

-- Deposits: a service's settings.deposit, {"percent": p} or {"amount": a}
-- (at most the total) with "deadline_hours" (default 24), makes each new
-- booking owe that much by then (never later than its start).  A booking
-- that would be confirmed stays pending until the deposit is paid
-- (sum_payments confirms it), and expire_holds cancels one unpaid by its
-- deadline.  A held booking confirmed before its deposit is paid becomes
-- pending.
CREATE FUNCTION protector_internal.require_deposit()
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

-- on insert, prepare_booking() (src/booking_insert.c) calls it after
-- guard_booking_write, which prices direct inserts, and the promo code's
-- discount, when the service asks for a deposit
-- (named to run after restrict_update_columns, which judges the caller's
-- confirmation, not this trigger's answer to it)
CREATE TRIGGER wait_for_deposit BEFORE UPDATE OF status ON protector.bookings
	FOR EACH ROW WHEN (OLD.status = 'held' AND NEW.status = 'confirmed' AND NEW.payment_due_by IS NOT NULL
					   AND NEW.amount_paid < NEW.deposit_amount)
	EXECUTE FUNCTION protector_internal.require_deposit();

-- A deposit is due by the booking's start at the latest, also after the
-- booking moved earlier (reschedule_booking, or any update of its time);
-- one that was due at the old start (the start came before the deadline
-- the service gives) moves out with a later start, up to that deadline
-- counted from when the booking was made (it stayed at the old start, and
-- expire_holds cancelled a booking moved to next week at its old start)
CREATE FUNCTION protector_internal.keep_deposit_deadline()
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
		v_hours := protector_internal.deposit_hours(v_deposit);
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
-- (named to run after restrict_update_columns, which judges the caller's
-- change, not this consequence of it)
CREATE TRIGGER set_deposit_deadline BEFORE UPDATE OF during ON protector.bookings
	FOR EACH ROW WHEN (NEW.payment_due_by IS NOT NULL AND NEW.amount_paid < NEW.deposit_amount
					   AND (NEW.payment_due_by > lower(NEW.during)
							OR (NEW.payment_due_by >= lower(OLD.during) AND lower(NEW.during) > lower(OLD.during))))
	EXECUTE FUNCTION protector_internal.keep_deposit_deadline();

-- A pending booking staff confirm by hand before its deposit is paid (a
-- deposit taken at the desk and not recorded yet) waits for it no more:
-- its deadline goes.  expire_holds cancels pending bookings only, so the
-- deadline it kept was never acted on, while the booking (and the
-- widget's answer) still said the deposit was due by then (a review).
-- A cancelled booking keeps it: why it was cancelled.  One a trusted
-- caller brings back is judged as it comes back (a review of this
-- trigger): confirmed, it has none; held or pending and still short of
-- its deposit, a new one from now, as a new booking (the old one, passed,
-- had the next expire_holds cancel it again; a hold without one was
-- confirmed unpaid, wait_for_deposit asking for a deadline).  As the
-- owner: it reads the service's deposit terms through deposit_due_by,
-- granted to nobody (run as service_role, the one who brings bookings
-- back, it failed with 42501; a money model test).
CREATE FUNCTION protector_internal.waive_deposit_deadline()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a pending one that had no deadline waits for staff, as one pending
	-- from the start does: a customer's, which paying does not confirm)
	IF NEW.status OPERATOR(pg_catalog.=) 'pending' AND OLD.payment_due_by IS NULL THEN
		RETURN NEW;
	ELSIF NEW.status OPERATOR(pg_catalog.=) ANY ('{held,pending}'::protector.booking_status[])
	   AND NEW.deposit_amount OPERATOR(pg_catalog.>) NEW.amount_paid THEN
		NEW.payment_due_by := protector_internal.deposit_due_by(
			(SELECT s.settings OPERATOR(pg_catalog.->) 'deposit' FROM protector.services s
			 WHERE s.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND s.id OPERATOR(pg_catalog.=) NEW.service_id),
			pg_catalog.lower(NEW.during));
	ELSE
		NEW.payment_due_by := NULL;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.waive_deposit_deadline() IS
'Trigger: a pending booking confirmed by hand before its deposit is paid has no deposit deadline; a cancelled one brought back gets one as it comes back';
-- (named to run after wait_for_deposit, which makes a hold confirmed
-- unpaid pending: that one keeps its deadline)
CREATE TRIGGER waive_deposit_deadline BEFORE UPDATE OF status ON protector.bookings
	FOR EACH ROW WHEN ((OLD.status = 'pending' AND NEW.status IN ('confirmed', 'in_progress', 'completed', 'no_show')
						AND NEW.payment_due_by IS NOT NULL)
					   OR (OLD.status = 'cancelled' AND NEW.status <> 'cancelled'))
	EXECUTE FUNCTION protector_internal.waive_deposit_deadline();

-- A payment's provider and reference as record_payment and settle_payment
-- take them (22023 naming the parameter).
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

-- What record_payment and settle_payment answer: the payment, whether it
-- was a replay, and its booking's total, amount paid, balance and status
-- (as the caller, who sees the booking).
CREATE FUNCTION protector_internal.payment_answer(p_payment protector.payments, p_replayed boolean)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
-- (a body in a string: a SQL-standard one depends on the payments row type,
-- and PostgreSQL then refused every column an operator added to payments
-- with a default, and every change of a column's type: a review)
AS $$
	SELECT pg_catalog.to_jsonb(p_payment) OPERATOR(pg_catalog.||) (
		SELECT pg_catalog.jsonb_build_object('replayed', p_replayed, 'booking_total', b.total_price,
											 'amount_paid', b.amount_paid, 'balance_due', b.balance_due,
											 'booking_status', b.status)
		FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_payment.booking_id)
$$;
COMMENT ON FUNCTION protector_internal.payment_answer(protector.payments, boolean) IS
'record_payment''s and settle_payment''s answer: the payment, replayed, and its booking''s total, amount paid, balance and status';

-- Records a payment or refund of a booking, e.g. from a payment provider's
-- webhook: the same (provider, provider_reference) retried any number of
-- times records one payment and answers with it.
-- record_payment's settling of a pending payment (the provider's later
-- webhook), as the owner: whoever may record payments may settle them,
-- and nobody edits a payment otherwise (require_permit: record_payment
-- authorized payments.create on the booking).  p_failed_too: a failed one
-- too, which its provider retried (a card declined, then another paid
-- the same payment intent: its later webhook was refused, and the money
-- it took never counted: a review).
CREATE FUNCTION protector_internal.settle_payment(p_payment_id uuid, p_booking_id uuid,
												  p_status protector.payment_status,
												  p_provider text DEFAULT NULL, p_provider_reference text DEFAULT NULL,
												  p_failed_too boolean DEFAULT false)
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
	  AND (p.status OPERATOR(pg_catalog.=) 'pending'
		   OR (p_failed_too AND p.status OPERATOR(pg_catalog.=) 'failed' AND p_status OPERATOR(pg_catalog.<>) 'failed'
			   -- (its provider's to retry: one of the desk's stays failed,
			   -- as the desk's settle_payment says: a review)
			   AND p.provider_reference IS NOT NULL))
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
		CASE WHEN p_failed_too THEN 'A payment goes from pending to succeeded or failed, and from failed to pending or succeeded as its provider retries it; succeeded, it stays: money given back is a refund.'
			 ELSE 'A payment goes from pending to succeeded or failed once; money given back is a refund.' END);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.settle_payment(uuid, uuid, protector.payment_status, text, text, boolean) IS
'record_payment''s and settle_payment''s settling of a pending payment (with p_failed_too a failed one too) as succeeded or failed (with the provider and reference given, where it has none), for a caller authorized to record payments on the booking (require_permit); NULL when a concurrent call settled it so';

CREATE FUNCTION protector.record_payment(
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
	-- (the webhook of its success or failure) is settled; a failed one its
	-- provider retries (another card for the same payment intent) goes on
	-- to pending or succeeded; a succeeded one stays
	IF v_replayed AND p_status OPERATOR(pg_catalog.<>) v_payment.status THEN
		IF v_payment.status OPERATOR(pg_catalog.=) 'succeeded'
		   OR (v_payment.status OPERATOR(pg_catalog.=) 'pending' AND p_status OPERATOR(pg_catalog.=) 'pending') THEN
			PERFORM protector.raise('conflict',
				pg_catalog.format('this provider reference was recorded as %s', v_payment.status),
				pg_catalog.format('%s %s cannot become %s.', p_provider, p_provider_reference, p_status),
				'A payment goes from pending to succeeded or failed, and from failed to pending or succeeded as its provider retries it; succeeded, it stays: money given back is a refund.');
		END IF;
		v_settled := protector_internal.settle_payment(v_payment.id, p_booking_id, p_status, p_failed_too => true);
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

-- The outcome of a pending payment or refund that has no provider
-- reference to record it by: the refund a cancellation or a no-show left
-- pending (cash at the desk, or paid back through a provider), a payment
-- recorded pending without one.  Whoever may record payments settles it,
-- once, naming the provider's reference if the money went through one (a
-- later webhook of that reference then replays it).  A pending payment
-- with a reference is its provider's to settle (record_payment).
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
	-- a pending payment with a reference and no provider (0.1.0 took
	-- those: no webhook names it, record_payment takes no reference
	-- without a provider, and it could be settled by nobody; an attack on
	-- legacy rows) is settled with its provider named, which it records:
	-- the provider's webhook of that reference then replays it, and one
	-- recorded already meets it (without one, a webhook of the same money
	-- made a second payment: its review)
	IF v_payment.status OPERATOR(pg_catalog.=) 'pending' AND v_payment.provider_reference IS NOT NULL
	   AND v_payment.provider IS NULL AND p_provider IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_provider is required for a payment with a reference and no provider',
			pg_catalog.format('Payment %s has reference %s and no provider (0.1.0 took such payments).',
							  v_payment.id, v_payment.provider_reference),
			'Name its provider: settle_payment records it, and the provider''s webhook of that reference then replays the payment.');
	END IF;
	-- (named as the organization's other payments name it: the webhook
	-- matches the provider exactly, and 'Stripe' beside 'stripe' recorded
	-- the same money twice; a review)
	IF v_payment.provider IS NULL AND p_provider IS NOT NULL AND EXISTS (
			SELECT FROM protector.payments o
			WHERE o.organization_id OPERATOR(pg_catalog.=) v_payment.organization_id
			  AND o.provider OPERATOR(pg_catalog.<>) p_provider
			  AND pg_catalog.lower(pg_catalog.btrim(o.provider)) OPERATOR(pg_catalog.=) pg_catalog.lower(pg_catalog.btrim(p_provider))) THEN
		PERFORM protector.raise('invalid_parameter', 'p_provider is spelled otherwise by the organization''s payments',
			pg_catalog.format('They name it %s; p_provider is %s.',
				(SELECT pg_catalog.quote_literal(o.provider) FROM protector.payments o
				 WHERE o.organization_id OPERATOR(pg_catalog.=) v_payment.organization_id
				   AND o.provider OPERATOR(pg_catalog.<>) p_provider
				   AND pg_catalog.lower(pg_catalog.btrim(o.provider)) OPERATOR(pg_catalog.=) pg_catalog.lower(pg_catalog.btrim(p_provider))
				 LIMIT 1),
				pg_catalog.quote_literal(p_provider)),
			'Spell the provider as its webhook does: record_payment matches it exactly.');
	END IF;
	-- a pending payment with a provider reference is its provider's to
	-- settle: the webhook of its outcome, through record_payment
	IF v_payment.status OPERATOR(pg_catalog.=) 'pending' AND v_payment.provider_reference IS NOT NULL
	   AND v_payment.provider IS NOT NULL THEN
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
							  COALESCE(p_provider_reference, v_payment.provider_reference)),
			'A provider reference names one payment; check the provider''s record.');
	END;
	RETURN protector_internal.payment_answer(v_settled, false);
END
$$;
COMMENT ON FUNCTION protector.settle_payment(uuid, protector.payment_status, text, text) IS
'Settles a pending payment or refund as succeeded or failed (owners, admins, finance), recording its provider and reference where it has none; a retry answers with it; answers with the booking''s amount paid and balance';

GRANT EXECUTE ON FUNCTION
	protector.record_payment(uuid, numeric, text, text, protector.payment_kind, protector.payment_status, text, jsonb),
	protector.settle_payment(uuid, protector.payment_status, text, text),
	protector_internal.check_money(numeric, text),
	protector_internal.check_currency(text, text),
	protector_internal.check_provider(text, text),
	protector_internal.payment_answer(protector.payments, boolean)
TO authenticated, service_role;
