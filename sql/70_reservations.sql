\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/70_reservations.sql: the reservation engine (C) and availability.

CREATE FUNCTION protector.service_lock_key(p_service_id uuid)
RETURNS bigint
AS 'MODULE_PATHNAME', 'protector_service_lock_key_bigint'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector.service_lock_key(uuid) IS
'Key of the advisory lock serializing reservations of a service: pg_advisory_xact_lock(service_lock_key(id)) (64 bits of SHA-256: no tenant aims one of its services at another''s)';

CREATE FUNCTION protector.lock_services(p_service_ids uuid[])
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_services'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector.lock_services(uuid[]) IS
'Takes the reservation locks of at most 100 services the caller may update bookings of, in sorted order (no deadlocks), each wait bounded by protector.lock_timeout';

-- The locks SQL running with the caller's rights takes (C: no EXECUTE on
-- pg_advisory_* needed, which docs/security.md advises revoking from
-- PUBLIC where untrusted roles have SQL connections), each only over rows
-- the caller reaches under RLS (src/locks.c).
CREATE FUNCTION protector_internal.lock_booking_services(p_booking_ids uuid[])
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_booking_services'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector_internal.lock_booking_services(uuid[]) IS
'Takes the reservation locks of the services of those bookings the caller may change, in key order, each wait bounded by protector.lock_timeout (update_booking_status_batch)';

CREATE FUNCTION protector_internal.lock_give_backs(p_booking_ids uuid[], p_codes boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_give_backs'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector_internal.lock_give_backs(uuid[], boolean) IS
'Locks, as their owner, what a cancellation (p_codes) or no-show of those bookings the caller may change gives back to: the promo codes they count, then the vouchers that paid them, each in id order, each wait bounded by protector.lock_timeout (update_booking_status_batch)';

CREATE FUNCTION protector_internal.lock_seen(p_class integer, p_id uuid, p_shared boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_seen'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector_internal.lock_seen(integer, uuid, boolean) IS
'Takes protector''s lock of class p_class (a booking''s reminders, a waiver version, a customer''s erasures and merges) over a row the caller sees, exclusive or shared, its wait bounded by protector.lock_timeout';

CREATE FUNCTION protector_internal.lock_bookings(p_ids uuid[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'protector_lock_bookings'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION protector_internal.lock_bookings(uuid[]) IS
'Locks FOR UPDATE, in id order, those of the bookings the caller may update (RLS), the wait bounded by protector.lock_timeout (40001); returns how many (update_booking_status_batch)';

CREATE FUNCTION protector.reservation_check()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_reservation_check'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector.reservation_check() IS
'Constraint trigger: refuses a booking that would exceed its service''s capacity (23P01), or 40001 when the conflict was committed concurrently';

-- On every update, not UPDATE OF the columns it reads: PostgreSQL decides
-- UPDATE OF from the statement's SET list, so a BEFORE UPDATE trigger of an
-- operator's own that moved a booking (SET details = ..., its trigger
-- setting NEW.during) stored an overlap unchecked.  An update that adds no
-- occupancy returns at once (src/reserve.c).
CREATE CONSTRAINT TRIGGER reservation_check
	AFTER INSERT OR UPDATE
	ON protector.bookings
	NOT DEFERRABLE
	FOR EACH ROW EXECUTE FUNCTION protector.reservation_check();

CREATE FUNCTION protector.service_mode_check()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_service_mode_check'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector.service_mode_check() IS
'Constraint trigger: refuses to make a service exclusive while two of its bookings that end after now overlap (23P01)';

-- (on every update, as reservation_check: a BEFORE UPDATE trigger of an
-- operator's own that set NEW.mode from SET settings = ... made a service
-- exclusive past this check, and the engine's one-step look back then let
-- overlaps in; an update that leaves the mode returns at once)
CREATE CONSTRAINT TRIGGER service_mode_check
	AFTER UPDATE
	ON protector.services
	NOT DEFERRABLE
	FOR EACH ROW EXECUTE FUNCTION protector.service_mode_check();

CREATE FUNCTION protector.get_available_slots(
	p_service_id uuid,
	p_from date,
	p_to date DEFAULT NULL,
	p_include_full boolean DEFAULT false)
RETURNS TABLE (slot_start timestamptz, slot_end timestamptz, remaining_capacity integer)
AS 'MODULE_PATHNAME', 'protector_get_available_slots'
LANGUAGE C STABLE PARALLEL SAFE ROWS 48;
COMMENT ON FUNCTION protector.get_available_slots(uuid, date, date, boolean) IS
'Free slots of a service whose local start date (venue time zone) lies in [p_from, p_to], with the places left in each';

CREATE FUNCTION protector.validate_slot(p_service_id uuid, p_start timestamptz, p_party_size integer)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'protector_validate_slot'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.validate_slot(uuid, timestamptz, integer) IS
'The booking range for a start if it is a bookable slot for that party size; otherwise a 22023/22008 error saying why';

-- validate_slot, its errors naming the caller's parameter (p_new_start...)
CREATE FUNCTION protector_internal.check_slot(p_service_id uuid, p_start timestamptz, p_party_size integer,
											  p_parameter text)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'protector_validate_slot'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.check_slot(uuid, timestamptz, integer, text) IS
'validate_slot whose errors name the start as p_parameter';

-- The booking life cycle (docs/bookings.md).
CREATE FUNCTION protector.booking_transition_allowed(p_from protector.booking_status,
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

CREATE FUNCTION protector_internal.enforce_status_transition()
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
	-- the database's: guard_booking_write); a time the update did not
	-- write is an earlier cancellation's, of a booking brought back since
	-- (it stamped the second cancellation with the first one's time)
	IF NEW.status OPERATOR(pg_catalog.=) 'cancelled' AND OLD.status OPERATOR(pg_catalog.<>) 'cancelled'
	   AND (NEW.cancelled_at IS NULL OR NEW.cancelled_at IS NOT DISTINCT FROM OLD.cancelled_at) THEN
		NEW.cancelled_at := pg_catalog.now();
	END IF;
	-- a booking brought back from cancelled (a trusted correction) is live:
	-- the cancellation's time and reason go, unless the update writes them
	-- (they stayed on the confirmed booking, in exports too: an attack on
	-- the state machine)
	IF OLD.status OPERATOR(pg_catalog.=) 'cancelled' AND NEW.status OPERATOR(pg_catalog.<>) 'cancelled' THEN
		IF NEW.cancelled_at IS NOT DISTINCT FROM OLD.cancelled_at THEN
			NEW.cancelled_at := NULL;
		END IF;
		IF NEW.cancellation_reason IS NOT DISTINCT FROM OLD.cancellation_reason THEN
			NEW.cancellation_reason := NULL;
		END IF;
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

CREATE TRIGGER enforce_status_transition BEFORE UPDATE OF status, during ON protector.bookings
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
					   OR (NEW.during IS DISTINCT FROM OLD.during
						   AND NEW.status IN ('in_progress', 'completed', 'no_show')))
	EXECUTE FUNCTION protector_internal.enforce_status_transition();
