\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/75_bookings_api.sql: booking RPCs (PostgREST-callable).
--
-- Writers that customers may call for themselves (create, hold, confirm,
-- cancel) are SECURITY DEFINER and authorize through the capability map
-- (protector_internal.booking_access / booking_for_action); the batch
-- status update runs as the caller, so RLS and the column rules decide.
-- A booking or service the caller may not see is "not found", worded as
-- for one that does not exist.  Capacity is never checked here: the C
-- trigger reservation_check does it for every path into the table.

-- How may the caller act on bookings of an organization / a customer?
-- 'system' (trusted role), 'staff' (member whose role may do p_action),
-- 'customer' (p_customer_id is the caller's own record), or NULL.
CREATE FUNCTION protector_internal.booking_access(p_organization_id uuid, p_customer_id uuid,
												  p_action text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN protector_internal.caller_is_trusted() THEN 'system'
		WHEN p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with(p_action)) THEN 'staff'
		WHEN p_customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()) THEN 'customer'
	END
$$;
COMMENT ON FUNCTION protector_internal.booking_access(uuid, uuid, text) IS
'How the caller may act on a booking: system, staff, customer or NULL (not at all)';

-- The one place bookings are made: validates, prices, inserts, replays
-- idempotent retries.  Callers have authorized the request already.
CREATE FUNCTION protector_internal.book(
	p_service protector.services,
	p_customer_id uuid,
	p_start timestamptz,
	p_party_size integer,
	p_status protector.booking_status,
	p_hold_expires_at timestamptz,
	p_idempotency_key text,
	p_details jsonb,
	p_source protector.booking_source,
	p_assigned_agent uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_range tstzrange;
	v_booking protector.bookings;
BEGIN
	IF p_idempotency_key IS NOT NULL THEN
		IF pg_catalog.length(p_idempotency_key) NOT BETWEEN 1 AND 200 THEN
			PERFORM protector.raise('invalid_parameter', 'p_idempotency_key must be 1 to 200 characters');
		END IF;
		SELECT * INTO v_booking FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) p_service.organization_id
		  AND b.idempotency_key OPERATOR(pg_catalog.=) p_idempotency_key;
		IF FOUND THEN
			RETURN pg_catalog.to_jsonb(v_booking) OPERATOR(pg_catalog.||) '{"replayed": true}'::jsonb;
		END IF;
	END IF;
	IF p_details IS NULL OR pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_details must be a JSON object');
	END IF;
	IF pg_catalog.pg_column_size(p_details) > 65536 THEN
		PERFORM protector.raise('invalid_parameter', 'p_details is too large',
			pg_catalog.format('It takes %s bytes; at most 65536 are accepted.', pg_catalog.pg_column_size(p_details)));
	END IF;

	v_range := protector.validate_slot(p_service.id, p_start, p_party_size);

	IF p_idempotency_key IS NULL THEN
		INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during,
			party_size, status, source, hold_expires_at, currency, unit_price, total_price,
			assigned_agent, details)
		VALUES (p_service.organization_id, p_service.venue_id, p_service.id, p_customer_id, v_range,
			p_party_size, p_status, p_source, p_hold_expires_at, p_service.currency, p_service.price,
			p_service.price OPERATOR(pg_catalog.+) p_service.price_per_person OPERATOR(pg_catalog.*) p_party_size,
			p_assigned_agent, p_details)
		RETURNING * INTO v_booking;
		RETURN pg_catalog.to_jsonb(v_booking) OPERATOR(pg_catalog.||) '{"replayed": false}'::jsonb;
	END IF;

	BEGIN
		INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during,
			party_size, status, source, hold_expires_at, idempotency_key, currency, unit_price,
			total_price, assigned_agent, details)
		VALUES (p_service.organization_id, p_service.venue_id, p_service.id, p_customer_id, v_range,
			p_party_size, p_status, p_source, p_hold_expires_at, p_idempotency_key, p_service.currency,
			p_service.price,
			p_service.price OPERATOR(pg_catalog.+) p_service.price_per_person OPERATOR(pg_catalog.*) p_party_size,
			p_assigned_agent, p_details)
		RETURNING * INTO v_booking;
	EXCEPTION WHEN unique_violation THEN
		-- the same request raced us and committed first: answer with its booking
		SELECT * INTO v_booking FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) p_service.organization_id
		  AND b.idempotency_key OPERATOR(pg_catalog.=) p_idempotency_key;
		IF NOT FOUND THEN
			PERFORM protector.raise('retry', 'a request with the same idempotency key was committed concurrently',
				'This transaction''s snapshot cannot see it yet.', 'Retry the request.');
		END IF;
		RETURN pg_catalog.to_jsonb(v_booking) OPERATOR(pg_catalog.||) '{"replayed": true}'::jsonb;
	END;
	RETURN pg_catalog.to_jsonb(v_booking) OPERATOR(pg_catalog.||) '{"replayed": false}'::jsonb;
END
$$;
COMMENT ON FUNCTION protector_internal.book(protector.services, uuid, timestamptz, integer, protector.booking_status,
								   timestamptz, text, jsonb, protector.booking_source, uuid) IS
'Internal: validates, prices and inserts a booking, replaying a known idempotency key';

-- Shared front half of create_booking and hold_slot.
CREATE FUNCTION protector_internal.book_as_caller(
	p_service_id uuid, p_customer_id uuid, p_start timestamptz, p_party_size integer,
	p_status protector.booking_status, p_hold_expires_at timestamptz, p_idempotency_key text,
	p_details jsonb, p_source protector.booking_source, p_assigned_agent uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_service protector.services;
	v_access text;
	v_customer uuid := p_customer_id;
BEGIN
	IF p_service_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_service_id must not be null');
	END IF;
	SELECT * INTO v_service FROM protector.services s WHERE s.id OPERATOR(pg_catalog.=) p_service_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found', 'It does not exist, or you may not see it.');
	END IF;

	IF v_customer IS NULL AND NOT protector_internal.caller_is_trusted()
	   AND NOT v_service.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.create')) THEN
		-- a customer booking for themselves: their record in this organization
		SELECT c.id INTO v_customer FROM protector.customers c
		WHERE c.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
		  AND c.id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids());
	END IF;
	v_access := protector_internal.booking_access(v_service.organization_id, v_customer, 'bookings.create');
	IF v_access IS NULL THEN
		-- members whose role may not book: 42501; anyone else: the same
		-- "service not found" as for a service that does not exist
		PERFORM protector_internal.authorize(v_service.organization_id, 'bookings.create', 'service');
	END IF;
	IF v_customer IS NOT NULL AND NOT EXISTS (
			SELECT FROM protector.customers c
			WHERE c.id OPERATOR(pg_catalog.=) v_customer
			  AND c.organization_id OPERATOR(pg_catalog.=) v_service.organization_id) THEN
		PERFORM protector.raise('not_found', 'customer not found',
			'p_customer_id is not a customer of the service''s organization.');
	END IF;
	IF p_source OPERATOR(pg_catalog.=) ANY ('{widget,import}'::protector.booking_source[]) AND v_access OPERATOR(pg_catalog.<>) 'system' THEN
		PERFORM protector.raise('forbidden',
			pg_catalog.format('bookings with source %s are recorded by protector only', p_source),
			'The widget records widget bookings; trusted roles such as service_role record imports.',
			'Use source dashboard, api, phone or walk_in.');
	END IF;
	IF v_access OPERATOR(pg_catalog.=) 'customer' THEN
		-- customers book for themselves, unassigned, pending confirmation
		IF p_assigned_agent IS NOT NULL THEN
			PERFORM protector.raise('forbidden', 'customers may not assign agents');
		END IF;
		IF p_status OPERATOR(pg_catalog.=) 'confirmed' THEN
			p_status := 'pending';
		END IF;
	END IF;
	IF p_party_size IS NULL OR p_party_size < 1 THEN
		PERFORM protector.raise('invalid_parameter', 'p_party_size must be a positive number',
			pg_catalog.format('Got %s.', COALESCE(p_party_size::text, 'NULL')));
	END IF;

	RETURN protector_internal.book(v_service, v_customer, p_start, p_party_size, p_status, p_hold_expires_at,
						  p_idempotency_key, p_details, COALESCE(p_source, 'api'), p_assigned_agent);
END
$$;
COMMENT ON FUNCTION protector_internal.book_as_caller(uuid, uuid, timestamptz, integer, protector.booking_status,
											 timestamptz, text, jsonb, protector.booking_source, uuid) IS
'Internal: authorizes the caller for a booking of the service, then books';

CREATE FUNCTION protector.create_booking(
	p_service_id uuid,
	p_customer_id uuid,
	p_start timestamptz,
	p_party_size integer DEFAULT 1,
	p_idempotency_key text DEFAULT NULL,
	p_details jsonb DEFAULT '{}',
	p_source protector.booking_source DEFAULT 'api',
	p_assigned_agent uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN protector_internal.book_as_caller(p_service_id, p_customer_id, p_start, p_party_size, 'confirmed',
									NULL, p_idempotency_key, p_details, p_source, p_assigned_agent);
END
$$;
COMMENT ON FUNCTION protector.create_booking(uuid, uuid, timestamptz, integer, text, jsonb,
											 protector.booking_source, uuid) IS
'Books a slot: validates everything, prices from the service, returns the booking; the same idempotency key returns the first booking';

CREATE FUNCTION protector.hold_slot(
	p_service_id uuid,
	p_customer_id uuid,
	p_start timestamptz,
	p_party_size integer DEFAULT 1,
	p_hold_minutes integer DEFAULT 10,
	p_idempotency_key text DEFAULT NULL,
	p_details jsonb DEFAULT '{}',
	p_source protector.booking_source DEFAULT 'api')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_hold_minutes IS NULL OR p_hold_minutes NOT BETWEEN 1 AND 1440 THEN
		PERFORM protector.raise('invalid_parameter', 'p_hold_minutes must be between 1 and 1440',
			pg_catalog.format('Got %s.', COALESCE(p_hold_minutes::text, 'NULL')));
	END IF;
	RETURN protector_internal.book_as_caller(p_service_id, p_customer_id, p_start, p_party_size, 'held',
									pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(mins => p_hold_minutes),
									p_idempotency_key, p_details, p_source, NULL);
END
$$;
COMMENT ON FUNCTION protector.hold_slot(uuid, uuid, timestamptz, integer, integer, text, jsonb,
										protector.booking_source) IS
'Holds a slot (status held) for p_hold_minutes; it occupies capacity until confirmed or expired';

-- Loads and locks a booking for an action: visible to the caller under
-- RLS ("booking not found" otherwise), and the caller's role may do
-- p_action or, with p_customer_may, it is the caller's own booking.
CREATE FUNCTION protector_internal.booking_for_action(p_booking_id uuid, p_action text,
													  p_customer_may boolean)
RETURNS protector.bookings
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
BEGIN
	PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, NULL, 'booking', true);
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	IF NOT (p_customer_may
			AND v_booking.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids())) THEN
		PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, p_action, 'booking');
	END IF;
	RETURN v_booking;
END
$$;
COMMENT ON FUNCTION protector_internal.booking_for_action(uuid, text, boolean) IS
'Internal: locks and returns a booking the caller may act on, or raises not found / forbidden';

CREATE FUNCTION protector.confirm_booking(p_booking_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_staff boolean;
BEGIN
	v_booking := protector_internal.booking_for_action(p_booking_id, 'bookings.confirm', true);
	IF v_booking.status OPERATOR(pg_catalog.=) 'confirmed' THEN
		RETURN pg_catalog.to_jsonb(v_booking);
	END IF;
	v_staff := protector_internal.booking_access(v_booking.organization_id, NULL, 'bookings.confirm') IS NOT NULL;
	IF v_booking.status OPERATOR(pg_catalog.<>) 'held'
	   AND NOT (v_booking.status OPERATOR(pg_catalog.=) 'pending' AND v_staff) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a %s booking cannot be confirmed%s', v_booking.status,
				CASE WHEN v_booking.status OPERATOR(pg_catalog.=) 'pending' THEN ' by its customer' ELSE '' END),
			NULL, 'Only held bookings (and, by staff, pending ones) can be confirmed.');
	END IF;
	-- an expired hold is re-checked by the reservation trigger: it is
	-- confirmed only if its slot is still free
	UPDATE protector.bookings b SET status = 'confirmed', hold_expires_at = NULL
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;
	RETURN pg_catalog.to_jsonb(v_booking);
END
$$;
COMMENT ON FUNCTION protector.confirm_booking(uuid) IS
'Turns a held booking (or, for staff, a pending one) into a confirmed booking';

CREATE FUNCTION protector.reschedule_booking(p_booking_id uuid, p_new_start timestamptz,
											 p_new_service_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_service protector.services;
	v_range tstzrange;
BEGIN
	v_booking := protector_internal.booking_for_action(p_booking_id, 'bookings.reschedule', false);
	IF v_booking.status OPERATOR(pg_catalog.<>) ALL ('{held,pending,confirmed}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a %s booking cannot be rescheduled', v_booking.status));
	END IF;
	SELECT * INTO v_service FROM protector.services s
	WHERE s.id OPERATOR(pg_catalog.=) COALESCE(p_new_service_id, v_booking.service_id)
	  AND s.organization_id OPERATOR(pg_catalog.=) v_booking.organization_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found',
			'p_new_service_id is not a service of the booking''s organization.');
	END IF;
	v_range := protector.validate_slot(v_service.id, p_new_start, v_booking.party_size);
	-- both services' locks, in sorted order: no deadlock with a reschedule the other way
	PERFORM protector.lock_services(ARRAY[v_booking.service_id, v_service.id]);
	-- one statement: if the new slot is taken it fails and the booking keeps its slot
	UPDATE protector.bookings b
	SET during = v_range, service_id = v_service.id, venue_id = v_service.venue_id,
		unit_price = CASE WHEN v_service.id OPERATOR(pg_catalog.=) v_booking.service_id THEN b.unit_price ELSE v_service.price END,
		total_price = CASE WHEN v_service.id OPERATOR(pg_catalog.=) v_booking.service_id THEN b.total_price
						   ELSE v_service.price OPERATOR(pg_catalog.+) v_service.price_per_person OPERATOR(pg_catalog.*) b.party_size END
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;
	RETURN pg_catalog.to_jsonb(v_booking);
END
$$;
COMMENT ON FUNCTION protector.reschedule_booking(uuid, timestamptz, uuid) IS
'Moves a booking to a new start (optionally another service) atomically: if the new slot is taken the booking keeps its old one';

CREATE FUNCTION protector.cancel_booking(p_booking_id uuid, p_reason text DEFAULT NULL,
										 p_issue_refund boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_policy jsonb;
	v_full_hours numeric;
	v_late_percent numeric;
	v_percent numeric := 0;
	v_paid numeric;
	v_refund numeric := 0;
BEGIN
	v_booking := protector_internal.booking_for_action(p_booking_id, 'bookings.cancel', true);
	IF pg_catalog.length(p_reason) > 2000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_reason must be at most 2000 characters');
	END IF;
	IF v_booking.status OPERATOR(pg_catalog.=) 'cancelled' THEN
		-- a retried cancellation: no second refund
		RETURN pg_catalog.to_jsonb(v_booking) OPERATOR(pg_catalog.||)
			'{"already_cancelled": true, "refund_amount": 0, "refund_percent": 0}'::jsonb;
	END IF;
	IF v_booking.status OPERATOR(pg_catalog.=) ANY ('{completed,no_show}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a %s booking cannot be cancelled', v_booking.status));
	END IF;

	UPDATE protector.bookings b
	SET status = 'cancelled', cancelled_at = pg_catalog.now(), cancellation_reason = p_reason
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;

	IF p_issue_refund IS NOT FALSE THEN
		SELECT s.settings -> 'refund_policy' INTO v_policy FROM protector.services s
		WHERE s.id OPERATOR(pg_catalog.=) v_booking.service_id;
		v_full_hours := COALESCE((v_policy ->> 'full_refund_hours')::numeric, 24);
		v_late_percent := LEAST(GREATEST(COALESCE((v_policy ->> 'late_refund_percent')::numeric, 0), 0), 100);
		IF pg_catalog.now() OPERATOR(pg_catalog.<=) (pg_catalog.lower(v_booking.during)
				OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => v_full_hours OPERATOR(pg_catalog.*) 3600)) THEN
			v_percent := 100;
		ELSIF pg_catalog.now() OPERATOR(pg_catalog.<) pg_catalog.lower(v_booking.during) THEN
			v_percent := v_late_percent;
		END IF;
		SELECT COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount
											ELSE OPERATOR(pg_catalog.-) p.amount END), 0)
		INTO v_paid
		FROM protector.payments p
		WHERE p.booking_id OPERATOR(pg_catalog.=) p_booking_id
		  AND ((p.kind OPERATOR(pg_catalog.=) 'payment' AND p.status OPERATOR(pg_catalog.=) 'succeeded')
			   OR (p.kind OPERATOR(pg_catalog.=) 'refund' AND p.status OPERATOR(pg_catalog.=) ANY ('{pending,succeeded}'::protector.payment_status[])));
		v_refund := pg_catalog.round(GREATEST(v_paid, 0) OPERATOR(pg_catalog.*) v_percent OPERATOR(pg_catalog./) 100, 2);
		IF v_refund > 0 THEN
			INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status, details)
			VALUES (v_booking.organization_id, v_booking.id, 'refund', v_refund, v_booking.currency, 'pending',
					pg_catalog.jsonb_build_object('reason', 'cancellation', 'refund_percent', v_percent));
		END IF;
	END IF;
	RETURN pg_catalog.to_jsonb(v_booking) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
		'already_cancelled', false, 'refund_amount', v_refund, 'refund_percent', v_percent);
END
$$;
COMMENT ON FUNCTION protector.cancel_booking(uuid, text, boolean) IS
'Cancels a booking, frees its slot and records a refund by the service''s refund policy; a repeated cancel refunds nothing more';

CREATE FUNCTION protector.update_booking_status_batch(p_booking_ids uuid[], p_status protector.booking_status)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[];
	v_missing uuid[];
	v_bad text;
	v_locked integer;
	v_updated integer;
	v_services uuid[];
BEGIN
	IF p_booking_ids IS NULL OR p_status IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids and p_status must not be null');
	END IF;
	IF pg_catalog.array_position(p_booking_ids, NULL) IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must not contain NULL');
	END IF;
	v_ids := ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(p_booking_ids) x ORDER BY x);
	IF pg_catalog.cardinality(v_ids) NOT BETWEEN 1 AND 1000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must hold 1 to 1000 ids',
			pg_catalog.format('Got %s.', pg_catalog.cardinality(v_ids)));
	END IF;

	-- every booking must be visible to the caller (RLS decides)
	v_missing := ARRAY(SELECT x FROM pg_catalog.unnest(v_ids) x
					   WHERE NOT EXISTS (SELECT FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) x));
	IF pg_catalog.cardinality(v_missing) > 0 THEN
		PERFORM protector.raise('not_found', 'some bookings were not found',
			pg_catalog.format('Not found or not visible: %s.', pg_catalog.array_to_string(v_missing, ', ')));
	END IF;
	-- and updatable by the caller: lock them, in id order
	SELECT pg_catalog.count(*) INTO v_locked FROM (
		SELECT FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) ANY (v_ids)
		ORDER BY b.id FOR UPDATE) locked;
	IF v_locked OPERATOR(pg_catalog.<>) pg_catalog.cardinality(v_ids) THEN
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

	-- statuses that occupy may need capacity: take the services' locks in order
	IF p_status OPERATOR(pg_catalog.<>) ALL ('{cancelled,no_show}'::protector.booking_status[]) THEN
		v_services := ARRAY(SELECT DISTINCT b.service_id FROM protector.bookings b
							WHERE b.id OPERATOR(pg_catalog.=) ANY (v_ids));
		PERFORM protector.lock_services(v_services);
	END IF;

	UPDATE protector.bookings b
	SET status = p_status,
		cancelled_at = CASE WHEN p_status OPERATOR(pg_catalog.=) 'cancelled' THEN pg_catalog.now() ELSE b.cancelled_at END
	WHERE b.id OPERATOR(pg_catalog.=) ANY (v_ids) AND b.status OPERATOR(pg_catalog.<>) p_status;
	GET DIAGNOSTICS v_updated = ROW_COUNT;

	RETURN pg_catalog.jsonb_build_object('updated', v_updated,
		'unchanged', pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.-) v_updated,
		'status', p_status);
END
$$;
COMMENT ON FUNCTION protector.update_booking_status_batch(uuid[], protector.booking_status) IS
'Moves several bookings to a status along the state machine, all or nothing, as the caller (RLS applies)';
