\echo Use "CREATE EXTENSION protector" to load this file. \quit
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
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	code			text COLLATE "C" NOT NULL UNIQUE DEFAULT protector.generate_embed_key('gift')
					CHECK (starts_with(code, 'gift_') AND protector.embed_key_is_well_formed(code)),
	-- whose voucher it is (they see it); NULL: whoever holds the code
	customer_id		uuid,
	-- NULL on insert: the organization's
	currency		text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	amount			numeric(12, 2) NOT NULL CHECK (amount > 0 AND amount <> 'NaN'),
	-- the ledger's: amount - succeeded payments + succeeded refunds
	balance			numeric(12, 2) NOT NULL DEFAULT 0 CHECK (balance >= 0 AND balance <= amount AND balance <> 'NaN'),
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
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	code			text COLLATE "C" NOT NULL UNIQUE DEFAULT protector.generate_embed_key('promo')
					CHECK (starts_with(code, 'promo_') AND protector.embed_key_is_well_formed(code)),
	description		text CHECK (length(description) <= 2000),
	discount_kind	text NOT NULL CHECK (discount_kind IN ('percent', 'fixed')),
	discount_value	numeric(12, 2) NOT NULL
					CHECK (discount_value > 0 AND discount_value <> 'NaN' AND (discount_kind = 'fixed' OR discount_value <= 100)),
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

-- A voucher that paid, a promo code a booking used, or a booking with
-- payments, stays: the ledger and the bookings name them.  Deleting one is
-- refused with what to do instead (it was the foreign key's bare error,
-- naming the constraint, after the statement).
-- Asked as the owner, who sees every payment and booking; only of a row
-- the caller may delete (the policy chose it), and not when an
-- organization's deletion takes them with everything else (a cascade
-- runs inside a foreign key's trigger).
CREATE FUNCTION protector_internal.keep_used_codes()
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
CREATE TRIGGER keep_used_codes BEFORE DELETE ON protector.vouchers
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring_into('protector.vouchers'))
	EXECUTE FUNCTION protector_internal.keep_used_codes();
CREATE TRIGGER keep_used_codes BEFORE DELETE ON protector.promo_codes
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring_into('protector.promo_codes'))
	EXECUTE FUNCTION protector_internal.keep_used_codes();
CREATE TRIGGER keep_paid_bookings BEFORE DELETE ON protector.bookings
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring_into('protector.bookings'))
	EXECUTE FUNCTION protector_internal.keep_used_codes();

-- codes ---------------------------------------------------------------------

-- A code's shape, checked offline: "not a valid code" for a typo, before
-- anything is looked up.  NULL passes (no code given).  In C
-- (src/embed_key.c): every booking RPC calls it, and a SET clause cost
-- more than the check.
CREATE FUNCTION protector_internal.check_code(p_code text, p_prefix text, p_parameter text)
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

-- What has been spent of a voucher: its succeeded payments less its
-- succeeded refunds (leaving out row p_except).
CREATE FUNCTION protector_internal.voucher_spent(p_organization_id uuid, p_voucher_id uuid, p_except uuid DEFAULT NULL)
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
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.vouchers'))
	EXECUTE FUNCTION protector_internal.voucher_balance();

-- (protector_internal.keep_paid_currency(), sql/77_payments.sql)
CREATE TRIGGER keep_paid_currency BEFORE UPDATE OF currency ON protector.vouchers
	FOR EACH ROW WHEN (NEW.currency IS DISTINCT FROM OLD.currency AND NOT protector_internal.restoring_into('protector.vouchers'))
	EXECUTE FUNCTION protector_internal.keep_paid_currency();
CREATE TRIGGER keep_used_currency BEFORE UPDATE OF currency, discount_kind ON protector.promo_codes
	FOR EACH ROW WHEN ((NEW.currency IS DISTINCT FROM OLD.currency OR NEW.discount_kind IS DISTINCT FROM OLD.discount_kind)
					   AND NOT protector_internal.restoring_into('protector.promo_codes'))
	EXECUTE FUNCTION protector_internal.keep_paid_currency();

-- Before a payment from or to a voucher: lock its booking (check_payment
-- or lock_payment_booking has locked it already for every writer that may
-- set voucher_id; locked here too, so that this holds whatever fires
-- before), then the voucher, and refuse another currency, a status
-- other than succeeded, and
--   a payment: from an expired voucher, beyond its balance, or beyond
--     what the booking still owes;
--   a refund: beyond what the voucher paid for this booking.
CREATE FUNCTION protector_internal.check_voucher_payment()
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
	FOR EACH ROW WHEN (NEW.voucher_id IS NOT NULL AND NOT protector_internal.restoring_into('protector.payments'))
	EXECUTE FUNCTION protector_internal.check_voucher_payment();

-- After: the voucher's balance is the ledger's (the voucher is locked).
-- A voucher's payment lowered, moved or deleted under what was refunded
-- to the voucher for that booking is refused, as check_payment refuses it
-- for the booking: the refund would become voucher credit the booking
-- never paid (an owner's direct write, also one made by a trigger of the
-- owner's own; not an organization's deletion, whose cascade takes the
-- rows one by one: the organization is gone by then.  pg_trigger_depth()
-- = 1 told them apart before, and let a payment lowered by a user's
-- trigger through).
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
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.payments'))
	EXECUTE FUNCTION protector_internal.sum_voucher_payments();

-- What the vouchers of a booking that can still be spent (not expired:
-- voucher_expired) paid for it and were not given back: what a cancellation gives back to vouchers at most
-- (refund_on_cancel); return_to_vouchers gives it back.
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

-- Every voucher that paid a booking, locked in the order of their ids, as
-- no other writer takes two (two cancellations of bookings paid by the
-- same two vouchers, used in opposite orders, deadlocked), each wait at
-- most protector.lock_timeout, as a redemption's.  Before what goes back
-- to them is reckoned (refund_on_cancel) and given (give_back_to_vouchers):
-- a voucher made to expire while a cancellation waited for its lock was
-- counted live when reckoned and took nothing when given, and the
-- cancellation said it had.  Runs as protector's owner.
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

-- Gives back to a booking's vouchers that can still be spent up to
-- p_amount of what they paid for it and were not given back, to the
-- voucher used last first, as succeeded refunds with details.reason
-- p_reason (and details.request_key_sha256, where given: the digest of
-- the call's request key, which an erasure keeps, where the key is text
-- staff wrote); returns how much went back.  Runs as its callers
-- (protector's owner: return_to_vouchers, refund_booking_to_vouchers).
CREATE FUNCTION protector_internal.give_back_to_vouchers(p_organization_id uuid, p_booking_id uuid, p_currency text,
														 p_amount numeric, p_reason text, p_request_key_sha256 text DEFAULT NULL)
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
				r.voucher_id, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('reason', p_reason,
																						  'request_key_sha256', p_request_key_sha256)));
		v_left := v_left OPERATOR(pg_catalog.-) v_amount;
	END LOOP;
	RETURN p_amount OPERATOR(pg_catalog.-) v_left;
END
$$;
COMMENT ON FUNCTION protector_internal.give_back_to_vouchers(uuid, uuid, text, numeric, text, text) IS
'Gives back up to p_amount to the booking''s vouchers that have not expired, the one used last first; returns how much went back';

-- A cancelled or no-show booking gives back to its vouchers first:
-- refund_on_cancel notes in details.refund.to_vouchers how much of the
-- refund goes to them, and this gives it back (after the update: each
-- refund changes the booking's amount_paid).  What that trigger decided,
-- not protector.refund_on_cancel read again: a statement could turn the
-- setting off in between, and the booking said it gave back to vouchers
-- what nobody ever did (details.refund is protector's: that trigger
-- writes it, or takes it out, on every cancellation).
CREATE FUNCTION protector_internal.return_to_vouchers()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_left numeric := COALESCE((NEW.details #>> '{refund,to_vouchers}')::numeric, 0);
	v_refund_id uuid;
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
											  'refund_percent', NEW.details #> '{refund,percent}'))
		RETURNING id INTO v_refund_id;
		PERFORM protector_internal.note_terms_refund(NEW.organization_id, NEW.id, v_refund_id);
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
					   AND NOT protector_internal.restoring_into('protector.bookings'))
	EXECUTE FUNCTION protector_internal.return_to_vouchers();

-- The payment from a voucher, as protector's owner: the code proves the
-- right to spend the voucher (whoever holds it may pay with it: a gift),
-- the caller (redeem_voucher) has proved the right to pay the booking.
-- As much of the balance as the booking still owes; the booking first,
-- then the voucher: the order every writer locks in.
CREATE FUNCTION protector_internal.pay_with_voucher(p_booking_id uuid, p_voucher_code text)
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
CREATE FUNCTION protector.redeem_voucher(p_booking_id uuid, p_voucher_code text)
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

-- Money a voucher paid, given back to it by the desk without a
-- cancellation (a party made smaller, a cheaper service, a goodwill
-- gesture): as protector's owner, for a caller refund_to_vouchers
-- authorized (payments.create).  At most what the booking's vouchers that
-- can still be spent paid and were not given back; the booking locked
-- first, then its vouchers: the order every writer locks in.  A request
-- key names the call: given again for the booking, the call is a retry
-- (its answer lost) and gives back nothing more (a retry gave the money
-- back twice: a review); answers whether it was one.
CREATE FUNCTION protector_internal.refund_booking_to_vouchers(p_booking_id uuid, p_amount numeric,
															  p_request_key text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
	v_can numeric;
	v_given numeric;
	v_digest text;
BEGIN
	PERFORM protector_internal.require_permit('protector.bookings', p_booking_id, 'payments.create');
	PERFORM protector_internal.check_money(p_amount, 'p_amount');
	IF p_request_key IS NOT NULL THEN
		PERFORM protector_internal.check_text(p_request_key, 'p_request_key', 1, 200);
		-- (kept as its digest: an erasure of the customer keeps that, and a
		-- retry after it still finds the refund: a review)
		v_digest := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_request_key, 'UTF8')), 'hex');
	END IF;
	-- (locked as pay_with_voucher locks it)
	PERFORM protector_internal.lock_row('protector.bookings', p_booking_id, 'booking');
	SELECT * INTO b FROM protector.bookings x WHERE x.id OPERATOR(pg_catalog.=) p_booking_id;
	-- (under the booking's lock: a retry at the same time waits for the
	-- first and finds what it gave back)
	IF p_request_key IS NOT NULL THEN
		SELECT pg_catalog.sum(p.amount) INTO v_given FROM protector.payments p
		WHERE p.organization_id OPERATOR(pg_catalog.=) b.organization_id AND p.booking_id OPERATOR(pg_catalog.=) b.id
		  AND p.kind OPERATOR(pg_catalog.=) 'refund' AND p.voucher_id IS NOT NULL
		  AND p.details OPERATOR(pg_catalog.->>) 'request_key_sha256' OPERATOR(pg_catalog.=) v_digest;
		IF v_given IS NOT NULL THEN
			IF v_given OPERATOR(pg_catalog.<>) p_amount THEN
				PERFORM protector.raise('conflict', 'this request key was used for another refund to vouchers',
					pg_catalog.format('It gave %s %s back to the vouchers of booking %s.', v_given, b.currency, b.id),
					'A request key names one refund: use a new key for another.');
			END IF;
			RETURN true;
		END IF;
	END IF;
	v_can := protector_internal.live_voucher_paid(b.organization_id, b.id);
	-- (given back less: a voucher was made to expire while this waited for
	-- its lock; the whole call is refused, nothing half done)
	IF p_amount OPERATOR(pg_catalog.>) v_can
	   OR protector_internal.give_back_to_vouchers(b.organization_id, b.id, b.currency, p_amount, 'refund to vouchers',
													 v_digest)
		  OPERATOR(pg_catalog.<) p_amount THEN
		PERFORM protector.raise('invalid_parameter', 'p_amount is more than the booking''s vouchers can take back',
			pg_catalog.format('Its gift vouchers that have not expired paid %s %s of it that has not been given back.',
							  protector_internal.live_voucher_paid(b.organization_id, b.id), b.currency),
			'Refund the rest with record_payment (p_kind => ''refund''); an expired voucher takes nothing back.');
	END IF;
	RETURN false;
END
$$;
COMMENT ON FUNCTION protector_internal.refund_booking_to_vouchers(uuid, numeric, text) IS
'Gives p_amount back to the booking''s vouchers (the one used last first), for a caller this transaction authorized to (require_permit); a request key given again for the booking gives nothing more (answers true: a retry)';

-- Gives money gift vouchers paid for a booking back to them, the voucher
-- used last first (as a cancellation does): owners, admins and finance
-- (payments.create), service_role.  p_request_key: a retry with it gives
-- nothing more and answers as the first call did ("replayed").
CREATE FUNCTION protector.refund_to_vouchers(p_booking_id uuid, p_amount numeric, p_request_key text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
	v_replayed boolean;
BEGIN
	PERFORM protector_internal.check_money(p_amount, 'p_amount');
	-- (either way a permit for refund_booking_to_vouchers, which runs as
	-- the owner)
	IF NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'payments.create', 'booking');
	ELSE
		PERFORM protector_internal.permit('protector.bookings', p_booking_id, 'payments.create');
	END IF;
	v_replayed := protector_internal.refund_booking_to_vouchers(p_booking_id, p_amount, p_request_key);
	SELECT * INTO b FROM protector.bookings x WHERE x.id OPERATOR(pg_catalog.=) p_booking_id;
	RETURN pg_catalog.jsonb_build_object('booking_id', b.id, 'refunded', p_amount::numeric(12, 2), 'currency', b.currency,
										 'amount_paid', b.amount_paid, 'balance_due', b.balance_due, 'replayed', v_replayed);
END
$$;
COMMENT ON FUNCTION protector.refund_to_vouchers(uuid, numeric, text) IS
'Gives p_amount of what gift vouchers paid for a booking back to them, the one used last first (a retry with its p_request_key gives nothing more); returns what the booking has paid and owes';

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
	PERFORM protector_internal.check_finite(p_expires_at, 'p_expires_at', 'Leave it out (NULL) for a voucher that never expires.');
	IF p_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'p_expires_at must be in the future', pg_catalog.format('Got %s.', protector_internal.iso_text(p_expires_at)),
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
-- price; NULL when the code does not apply to that service, party and
-- currency (a new booking is refused for it by name, apply_promo_code; a
-- repriced one loses the code, set_booking_price).
CREATE FUNCTION protector_internal.promo_discount(p_organization_id uuid, p_promo_code_id uuid, p_service_id uuid,
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
-- "once", "twice" or "<n> times", for messages
CREATE FUNCTION protector_internal.times_text(p_times integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE p_times WHEN 1 THEN 'once' WHEN 2 THEN 'twice'
				ELSE pg_catalog.format('%s times', p_times) END;
COMMENT ON FUNCTION protector_internal.times_text(integer) IS
'"once", "twice" or "<n> times", for messages';

-- A promo code's row, locked as its owner, waiting at most
-- protector.lock_timeout (40001 "the promo code is busy"): a transaction
-- left open over a booking with the code held every other writer of it
-- without limit.  Nothing when the organization has no such code (one
-- given wrong, which the foreign key then names; one gone with its
-- organization).  For protector's own SECURITY DEFINER code.
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

-- The code create_booking passes to the booking it inserts now: the
-- setting protector.promo_code, when this transaction set it
-- (src/booking_insert.c)
CREATE FUNCTION protector_internal.promo_code_asked()
RETURNS text
LANGUAGE c VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'protector_promo_code_asked';
COMMENT ON FUNCTION protector_internal.promo_code_asked() IS
'Internal: the promo code create_booking passes to the booking inserted now (protector.promo_code, set in this transaction), or NULL';

CREATE FUNCTION protector_internal.apply_promo_code()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p protector.promo_codes;
	-- (set in this transaction: a plain SET a pooled connection kept from
	-- another client's transaction counts for nothing)
	v_code text := COALESCE(protector_internal.promo_code_asked(), '');
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

-- prepare_booking() (src/booking_insert.c) calls it for a new booking with
-- a code (promo_code_id, or protector.promo_code), not while restoring,
-- after guard_booking_write (which prices direct inserts) and before
-- require_deposit (which works out the deposit of the discounted price)

-- A stored booking with a promo code uses it once more: counted after the
-- insert (the AFTER INSERT trigger's follow-ups, src/booking_followups.c),
-- because an INSERT ... ON CONFLICT DO NOTHING runs the BEFORE trigger and
-- may then store nothing, which burnt a use.
-- A live booking of a customer under a promo code: counted once more
-- (p_count: a new booking, or one brought back from cancelled) and held to
-- the code's limits, the per-customer one also when a booking changes
-- customer.  The code's row is written either way (see below).
CREATE FUNCTION protector_internal.use_promo_code(p_organization_id uuid, p_promo_code_id uuid, p_customer_id uuid,
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

-- The promo code's row of a live booking, locked as its owner (lock_row,
-- bounded by protector.lock_timeout), for reschedule_booking, which takes
-- services' locks before changing the booking: a booking's code is locked
-- before its service's, as a new booking with the code takes them
-- (apply_promo_code, then the reservation check), so that a change that
-- gives the code's use back (release_promo_use) does not hold a service's
-- lock while it waits for the code.  For requests that may
-- bookings.reschedule in the booking's organization (asked of the
-- request, not of the owner this runs as), asked before anything of the
-- booking is told: a viewer named an action of their own and held a
-- booking's code, and another tenant's booking with a code was told from
-- one without.
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

CREATE FUNCTION protector_internal.count_promo_use()
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


-- A fixed promo code's amount is money of its currency: a live booking
-- under one stays in it, whichever side changes (the code's side:
-- keep_used_currency).  A booking repriced in another currency loses
-- such a code (set_booking_price); one whose currency is written by hand,
-- or given another code by a trusted write, keeping it is refused.
CREATE FUNCTION protector_internal.refuse_foreign_fixed_code(p_organization_id uuid, p_promo_code_id uuid,
															 p_booking_id uuid, p_currency text,
															 p_repriced boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p protector.promo_codes;
BEGIN
	SELECT * INTO p FROM protector.promo_codes x
	WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.id OPERATOR(pg_catalog.=) p_promo_code_id;
	IF p.discount_kind OPERATOR(pg_catalog.=) 'fixed' AND p.currency OPERATOR(pg_catalog.<>) p_currency AND p_repriced THEN
		-- (priced again on the code as it was, read without a lock: a retry
		-- prices it again)
		PERFORM protector.raise('retry', 'the booking''s promo code changed while it was priced again, try again',
			pg_catalog.format('Promo code %s became a fixed amount in another currency than %s.', p_promo_code_id, p_currency));
	ELSIF p.discount_kind OPERATOR(pg_catalog.=) 'fixed' AND p.currency OPERATOR(pg_catalog.<>) p_currency THEN
		PERFORM protector.raise('invalid_parameter', 'a booking under a fixed promo code keeps the code''s currency',
			pg_catalog.format('Promo code %s takes off %s %s; booking %s would be in %s.',
				p.id, p.discount_value, p.currency, p_booking_id, p_currency),
			'Keep the booking in the code''s currency; a trusted role may take the code off in the same update (promo_code_id = NULL).');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_foreign_fixed_code(uuid, uuid, uuid, text, boolean) IS
'Internal: refuses a live booking in another currency than its fixed promo code''s (release_promo_use, keep_promo_currency; p_repriced: 40001, the booking priced again on the code as it was)';

-- A booking that keeps its code and changes currency: its currency written
-- by hand (refused under a fixed code in another currency, 22023), or
-- priced again in its new service's currency by set_booking_price, which
-- keeps a code that applies there (and drops a fixed one in another
-- currency).  Read without a lock there, the code may have become fixed
-- meanwhile: the booking was priced on a code it no longer has, and a
-- retry prices it again (40001).
CREATE FUNCTION protector_internal.keep_promo_currency()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.lock_promo_code(NEW.organization_id, NEW.promo_code_id);
	PERFORM protector_internal.refuse_foreign_fixed_code(NEW.organization_id, NEW.promo_code_id, NEW.id, NEW.currency,
														 protector_internal.take_repriced_mark(NEW.id));
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_promo_currency() IS
'Trigger: a live booking that changes currency under its promo code locks the code and stays in a fixed code''s currency (40001 where the code changed while the booking was priced again)';


-- A booking's use of a promo code follows its live code: one cancelled
-- (or deleted), or whose code no longer applies (set_booking_price), gives
-- the use back; one brought back from cancelled under its code, or given
-- another code (service_role may write promo_code_id), uses the new code
-- once more, within its limits (the old one's use given back: a code set
-- on a live booking was not counted, and its later cancellation gave back
-- a use it never took, letting the code be used beyond max_uses); a
-- booking a member hands to another customer counts for them (not
-- protector's own moves, run trusted: a merge of one person's two records
-- is not refused for the code they used on each).  One trigger for all:
-- every trigger of bookings is copied for each statement that writes it.
CREATE FUNCTION protector_internal.release_promo_use()
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
		-- (locked first, waiting at most protector.lock_timeout: the write
		-- below waited for a code held open without end)
		PERFORM protector_internal.lock_promo_code(NEW.organization_id, v_new);
		PERFORM protector_internal.use_promo_code(NEW.organization_id, v_new, NEW.customer_id,
												  v_old IS DISTINCT FROM v_new);
		-- (a code given by a trusted write, or kept by a booking brought
		-- back: the code's row is locked, so a change of its currency or
		-- kind waits for this booking and keep_used_currency then sees it;
		-- one committed first is what this reads)
		PERFORM protector_internal.refuse_foreign_fixed_code(NEW.organization_id, v_new, NEW.id, NEW.currency);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.release_promo_use() IS
'Trigger: a booking cancelled, deleted or no longer under its promo code gives the code''s use back; one brought back from cancelled, or given a code, uses it once more within its limits; one given to another customer counts toward their limit; a live booking under a fixed code stays in the code''s currency';

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
					   AND NOT protector_internal.restoring_into('protector.bookings'))
	EXECUTE FUNCTION protector_internal.release_promo_use();
-- a live booking that keeps its code and changes currency: the code's row
-- locked and its currency checked (the code's use and the customer's
-- limits are as they were).  No column list: set_booking_price changes
-- the currency of a booking moved to another service.  Named to fire just
-- before adjust_promo_use, in the same place of the lock order (the code
-- before the agent's and the service's locks).
CREATE TRIGGER adjust_promo_currency AFTER UPDATE ON protector.bookings
	FOR EACH ROW WHEN (NEW.promo_code_id IS NOT NULL AND NEW.status <> 'cancelled' AND OLD.status <> 'cancelled'
					   AND OLD.promo_code_id IS NOT DISTINCT FROM NEW.promo_code_id
					   AND OLD.currency IS DISTINCT FROM NEW.currency
					   AND NOT protector_internal.restoring_into('protector.bookings'))
	EXECUTE FUNCTION protector_internal.keep_promo_currency();
CREATE TRIGGER release_promo_use_on_delete AFTER DELETE ON protector.bookings
	FOR EACH ROW WHEN (OLD.promo_code_id IS NOT NULL AND OLD.status <> 'cancelled' AND NOT protector_internal.restoring_into('protector.bookings'))
	EXECUTE FUNCTION protector_internal.release_promo_use();

-- A promo code's services are services of its organization.
-- The services of an organization among p_ids, each locked FOR KEY SHARE
-- as its owner, as a foreign key's check locks its row: a service moved to
-- another organization at the same moment waits for the promo code that
-- names it (keep_promo_services then sees the code), or the code for the
-- move, and then finds the service gone (a review: both went through).
-- Asked of services the caller sees (check_promo_services), by one who
-- may manage the organization's codes: anyone else learnt which ids were
-- another tenant's services, and held them locked (a review).
CREATE FUNCTION protector_internal.lock_organization_services(p_organization_id uuid, p_ids uuid[])
RETURNS uuid[]
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.authorize_requester(p_organization_id, 'promo_codes.manage', 'organization');
	RETURN ARRAY(SELECT s.id FROM protector.services s
				 WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id AND s.id OPERATOR(pg_catalog.=) ANY (p_ids)
				 ORDER BY s.id FOR KEY SHARE);
END
$$;
COMMENT ON FUNCTION protector_internal.lock_organization_services(uuid, uuid[]) IS
'Internal: the services of the organization among p_ids, locked FOR KEY SHARE as their owner; asks promo_codes.manage of the request';

CREATE FUNCTION protector_internal.check_promo_services()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_added uuid[];
	v_locked uuid[];
	v_missing uuid;
BEGIN
	-- (only the services a write adds: one deleted since it was listed,
	-- never booked, does not block every later edit of the code)
	v_added := ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(NEW.service_ids) x
					 WHERE TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.organization_id OPERATOR(pg_catalog.<>) OLD.organization_id
						OR x OPERATOR(pg_catalog.<>) ALL (COALESCE(OLD.service_ids, '{}')));
	-- (seen by the caller first; then locked, and a service moved away
	-- meanwhile is missing: lock_organization_services)
	SELECT x INTO v_missing FROM pg_catalog.unnest(v_added) x
	WHERE NOT EXISTS (SELECT FROM protector.services s
					  WHERE s.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND s.id OPERATOR(pg_catalog.=) x)
	LIMIT 1;
	IF NOT FOUND AND pg_catalog.cardinality(v_added) OPERATOR(pg_catalog.>) 0 THEN
		v_locked := protector_internal.lock_organization_services(NEW.organization_id, v_added);
		SELECT x INTO v_missing FROM pg_catalog.unnest(v_added) x
		WHERE x OPERATOR(pg_catalog.<>) ALL (v_locked)
		LIMIT 1;
	END IF;
	IF v_missing IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'service_ids names a service that is not the organization''s',
			pg_catalog.format('Service %s does not exist in the organization, or you may not see it.', v_missing));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_promo_services() IS
'Trigger: a promo code applies only to services of its organization';

CREATE TRIGGER check_promo_services BEFORE INSERT OR UPDATE OF service_ids, organization_id ON protector.promo_codes
	FOR EACH ROW WHEN (NEW.service_ids IS NOT NULL AND NOT protector_internal.restoring_into('protector.promo_codes'))
	EXECUTE FUNCTION protector_internal.check_promo_services();

-- ... and a service a code names stays in the code's organization (moved
-- by a trusted writer, the old tenant's code named another tenant's
-- service: a review).  As the owner: every code of the organization.
CREATE FUNCTION protector_internal.keep_promo_services()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF EXISTS (SELECT FROM protector.promo_codes p
			   WHERE p.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
				 AND OLD.id OPERATOR(pg_catalog.=) ANY (p.service_ids)) THEN
		-- (23503, as a customer others were merged into: a row of the old
		-- organization names it)
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('service %s cannot move to another organization: promo codes of its organization name it', OLD.id),
			HINT = 'Take it off those codes (service_ids) first.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_promo_services() IS
'Trigger: a service that promo codes of its organization name does not move to another organization';
CREATE TRIGGER keep_promo_services BEFORE UPDATE OF organization_id ON protector.services
	FOR EACH ROW WHEN (NEW.organization_id IS DISTINCT FROM OLD.organization_id
					   AND NOT protector_internal.restoring_into('protector.services'))
	EXECUTE FUNCTION protector_internal.keep_promo_services();

-- Creates a promo code (managers and above); returns it with its code.
-- A promo code's terms, as create_promo_code takes them and as a direct
-- write stores them (p_prefix: 'p_' names the RPC's parameters, '' the
-- columns): the table's CHECKs, said by name.
CREATE FUNCTION protector_internal.check_promo_terms(p_kind text, p_value numeric, p_max_uses integer,
													 p_max_uses_per_customer integer, p_min_party_size integer,
													 p_valid_from timestamptz, p_valid_until timestamptz, p_prefix text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_kind IS NULL OR p_kind OPERATOR(pg_catalog.<>) ALL ('{percent,fixed}') THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%sdiscount_kind must be percent or fixed', p_prefix),
			pg_catalog.format('Got %s.', COALESCE(protector_internal.quoted_text(pg_catalog.quote_literal(p_kind), 100), 'NULL')));
	END IF;
	-- (a percent is no amount in cents: 33.333 was refused as one)
	IF p_kind OPERATOR(pg_catalog.=) 'fixed' THEN
		PERFORM protector_internal.check_money(p_value, p_prefix OPERATOR(pg_catalog.||) 'discount_value');
	ELSIF p_value IS NULL OR p_value OPERATOR(pg_catalog.=) 'NaN'::numeric OR p_value OPERATOR(pg_catalog.<=) 0
		  OR (p_value OPERATOR(pg_catalog.<=) 100 AND p_value OPERATOR(pg_catalog.<>) pg_catalog.round(p_value, 2)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%sdiscount_value must be a positive percent with at most two decimals', p_prefix),
			pg_catalog.format('Got %s.', COALESCE(protector_internal.quoted_text(p_value::text, 100), 'NULL')));
	END IF;
	IF p_kind OPERATOR(pg_catalog.=) 'percent' AND p_value OPERATOR(pg_catalog.>) 100 THEN
		PERFORM protector.raise('invalid_parameter', 'a percent discount is at most 100',
			pg_catalog.format('Got %s.', protector_internal.quoted_text(p_value::text, 100)));
	END IF;
	PERFORM protector_internal.check_finite(p_valid_from, p_prefix OPERATOR(pg_catalog.||) 'valid_from', 'Leave it out (NULL) for no limit.');
	PERFORM protector_internal.check_finite(p_valid_until, p_prefix OPERATOR(pg_catalog.||) 'valid_until', 'Leave it out (NULL) for no limit.');
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
GRANT EXECUTE ON FUNCTION
	protector_internal.check_promo_terms(text, numeric, integer, integer, integer, timestamptz, timestamptz, text)
TO authenticated, service_role;

-- A promo code's services and description, as create_promo_code takes
-- them and as a direct write stores them (p_prefix as check_promo_terms')
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

-- Direct writes of codes and vouchers (managers edit them with UPDATE, as
-- docs/payments.md shows) are told what is wrong by name, not by the
-- table's CHECK: a code's terms; a voucher's amount and note.
CREATE FUNCTION protector_internal.check_promo_code_row()
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
CREATE TRIGGER check_promo_code_row BEFORE INSERT OR UPDATE OF discount_kind, discount_value, max_uses,
	max_uses_per_customer, min_party_size, valid_from, valid_until, service_ids, description ON protector.promo_codes
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.promo_codes'))
	EXECUTE FUNCTION protector_internal.check_promo_code_row();

CREATE FUNCTION protector_internal.check_voucher_row()
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
	-- (as create_voucher refuses one: a direct write stored it)
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
		PERFORM protector_internal.check_finite(NEW.expires_at, 'expires_at', 'Leave it out (NULL) for a voucher that never expires.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_voucher_row() IS
'Trigger: a voucher''s amount, note, customer and expiry as written, refused by name';
CREATE TRIGGER check_voucher_row BEFORE INSERT OR UPDATE OF amount, note, customer_id, expires_at ON protector.vouchers
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.vouchers'))
	EXECUTE FUNCTION protector_internal.check_voucher_row();

CREATE FUNCTION protector.create_promo_code(
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
	protector.refund_to_vouchers(uuid, numeric, text),
	protector_internal.check_code(text, text, text),
	protector_internal.pay_with_voucher(uuid, text),
	protector_internal.refund_booking_to_vouchers(uuid, numeric, text)
TO authenticated, service_role;
-- (redeem_voucher's trusted branch: service_role, and the widget as the owner)
GRANT EXECUTE ON FUNCTION protector_internal.permit(regclass, uuid, text) TO service_role;
