\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/75_bookings_api.sql: booking RPCs (PostgREST-callable).
--
-- Every booking RPC runs with the caller's rights: RLS decides which
-- services and bookings exist for the caller, the capability map what
-- their role may do, and the triggers below what a customer may write to
-- their own bookings.  create_booking is the one way bookings are made:
-- by staff, by customers for themselves, as holds (hold_slot) and by the
-- widget.  A booking or service the caller may not see is "not found",
-- worded as for one that does not exist.  Capacity is never checked here:
-- the C trigger reservation_check does it for every path into the table.

-- The price of a booking before discounts (docs/bookings.md), in C
-- (src/pricing.c): as SQL, a function with a SET clause is never inlined
-- and PostgreSQL 15 plans its body again in every transaction; as
-- PL/pgSQL, the SET clause alone cost more than the sum.
CREATE FUNCTION protector.booking_total(p_price numeric, p_price_per_person numeric, p_party_size integer)
RETURNS numeric
AS 'MODULE_PATHNAME', 'protector_booking_total'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector.booking_total(numeric, numeric, integer) IS
'The price of a booking: price + price_per_person x party_size';

-- The one shape in which the booking RPCs answer with a booking: its
-- columns, plus start and end as ISO 8601 UTC timestamps and as local
-- times of its venue, with the venue's time zone (docs/bookings.md);
-- src/booking_shape.c: in PL/pgSQL, to_jsonb(row) || ... sorted the
-- booking's keys over again for each ||.
CREATE FUNCTION protector_internal.booking_shape(p_booking protector.bookings, p_replayed boolean DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'protector_booking_shape'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.booking_shape(protector.bookings, boolean) IS
'A booking as the RPCs answer with it: its columns, start and end in UTC (ISO 8601), local_start, local_end and the venue''s timezone (as the caller sees the venue, else UTC), and replayed unless p_replayed is NULL';

-- An RPC's write naming a booking the caller was allowed to act on found
-- it gone: deleted meanwhile (under READ COMMITTED the foreign key waits
-- for the deletion, then says a bare 23503).  Called from a
-- foreign_key_violation handler, which re-raises the error when this
-- returns: "booking not found", p_detail saying what was under way, when
-- the booking is gone as the caller sees it.
CREATE FUNCTION protector_internal.refuse_deleted_booking(p_booking_id uuid, p_detail text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id) THEN
		PERFORM protector.raise('not_found', 'booking not found', p_detail);
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_deleted_booking(uuid, text) IS
'Raises "booking not found" (P0002, the detail given) when the booking is gone (an insert''s foreign key failed: deleted meanwhile); returns otherwise';

-- A hold of more than a day, written by a caller whose role may not
-- correct bookings (bookings.update_any_column may): staff, and customers,
-- whose role never does; refused as hold_slot refuses it.
CREATE FUNCTION protector_internal.refuse_long_hold(p_organization_id uuid, p_expires_at timestamptz)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.update_any_column')) THEN
		PERFORM protector.raise('invalid_parameter', 'a hold lasts at most a day',
			pg_catalog.format('hold_expires_at is %s.', protector_internal.iso_text(p_expires_at)), 'hold_slot holds for 1 to 1440 minutes.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_long_hold(uuid, timestamptz) IS
'Refuses a hold of more than a day by a caller whose role may not correct bookings (22023)';
GRANT EXECUTE ON FUNCTION protector_internal.refuse_long_hold(uuid, timestamptz) TO authenticated, service_role;

-- The cancellation time a booking's direct write leaves (p_old_status
-- NULL: a new booking), for signed-in callers (guard_booking_write): one
-- cancelled now is stamped with the database's time, as cancel_booking
-- stamps it (staff's PATCH to cancelled left it empty, and export_bookings
-- with it); one written as cancelled (a record of the past) keeps the
-- time it gives, else now; a booking that is not cancelled has none
-- (staff stamped a live booking cancelled a year ago, by an update or an
-- insert); a cancelled booking keeps one, not in the future.
CREATE FUNCTION protector_internal.cancellation_time(p_booking_id uuid, p_old_status protector.booking_status,
	p_new_status protector.booking_status, p_old_at timestamptz, p_new_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_new_status OPERATOR(pg_catalog.=) 'cancelled' AND p_old_status OPERATOR(pg_catalog.<>) 'cancelled' THEN
		RETURN pg_catalog.now();
	END IF;
	IF p_old_status IS NOT NULL AND p_new_at IS NOT DISTINCT FROM p_old_at THEN
		RETURN p_new_at;
	END IF;
	IF p_new_status OPERATOR(pg_catalog.<>) 'cancelled' AND p_new_at IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'only a cancelled booking has a cancellation time',
			pg_catalog.format('Booking %s is %s.', p_booking_id, p_new_status),
			'Cancel it (cancel_booking, or status cancelled): the time is stamped then.');
	END IF;
	IF p_new_status OPERATOR(pg_catalog.=) 'cancelled' AND p_new_at IS NULL THEN
		IF p_old_status IS NULL THEN
			RETURN pg_catalog.now();
		END IF;
		PERFORM protector.raise('invalid_parameter', 'a cancelled booking keeps its cancellation time',
			pg_catalog.format('Booking %s was cancelled at %s.', p_booking_id, protector_internal.iso_text(p_old_at)));
	END IF;
	IF p_new_at OPERATOR(pg_catalog.>) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'a cancellation time is not in the future',
			pg_catalog.format('cancelled_at is %s.', protector_internal.iso_text(p_new_at)));
	END IF;
	RETURN p_new_at;
END
$$;
COMMENT ON FUNCTION protector_internal.cancellation_time(uuid, protector.booking_status, protector.booking_status, timestamptz, timestamptz) IS
'The cancelled_at a booking''s direct write leaves: now() for one cancelled now; 22023 for a time on one not cancelled, none or a future one on one cancelled';
GRANT EXECUTE ON FUNCTION protector_internal.cancellation_time(uuid, protector.booking_status, protector.booking_status, timestamptz, timestamptz)
	TO authenticated, service_role;

-- A party the service takes, as create_booking and reschedule_booking
-- check it (check_start, src/availability.c), for staff's direct writes
-- whatever their role: a manager's PATCH or insert made a party of 50 in a
-- room for 8 (or moved a party of 4 to a room for 2), which the booking's
-- own reschedule then refused.  A service the caller does not see is the
-- constraints' and policies' to refuse.
CREATE FUNCTION protector_internal.check_party_size(p_organization_id uuid, p_service_id uuid, p_party_size integer)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
BEGIN
	SELECT * INTO s FROM protector.services x
	WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.id OPERATOR(pg_catalog.=) p_service_id;
	IF FOUND AND NOT (p_party_size OPERATOR(pg_catalog.>=) s.min_party
					  AND p_party_size OPERATOR(pg_catalog.<=) COALESCE(s.max_party, s.capacity)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('the booking''s party of %s is not allowed for service "%s"', p_party_size, s.name),
			pg_catalog.format('The service takes parties of %s to %s.', s.min_party, COALESCE(s.max_party, s.capacity)),
			'A service takes parties from its min_party to its max_party (its capacity without one).');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_party_size(uuid, uuid, integer) IS
'Refuses a party its service does not take (22023), as create_booking does, for staff''s direct writes';
GRANT EXECUTE ON FUNCTION protector_internal.check_party_size(uuid, uuid, integer) TO authenticated, service_role;

-- What a booking write may say, beyond RLS and the column grants:
--   * an insert by a caller whose role may not set prices
--     (bookings.update_any_column) is a bookable slot at the service's
--     price: an operator's direct insert is held to what create_booking
--     does;
--   * a caller who reaches the booking only as its customer (the
--     policies let customers insert their own bookings, held or pending
--     and unassigned, and update them), whatever role they may also have,
--     gets source api, a hold of at most a day, and afterwards may only
--     confirm their own hold or cancel;
--   * an agent (bookings.assigned without bookings.update) confirms or
--     cancels only if the capability map lets their role;
--   * a hold written by anyone whose role may not correct bookings lasts
--     at most a day (refuse_long_hold).
-- Trusted roles and protector's own functions are not restricted here.

-- One customer cannot fill a venue's calendar: at most
-- settings.customers.open_requests (default 10) of the bookings they made
-- themselves with the organization not ended at once, held (and not
-- expired), pending or confirmed (a customer confirms their own hold), as
-- the widget limits a visitor; nor flood its desk: at most
-- settings.customers.bookings_per_hour (default 20) made in the last hour,
-- cancelled ones included (booked and cancelled in a loop, 300 times in
-- 1.4 s, each with its review task and desk notifications, none of them
-- counted while open).  Counted under a lock of the
-- customer's (class id 1886547721), so that requests at the same moment
-- count each other, and as the owner: every booking of theirs, whatever
-- the caller sees.  For the customer themselves.
CREATE FUNCTION protector_internal.check_customer_open_requests(p_organization_id uuid, p_customer_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit integer;
	v_hourly integer;
	v_open bigint;
	v_recent bigint;
BEGIN
	IF p_customer_id IS NULL OR NOT p_customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()) THEN
		PERFORM protector.raise('forbidden', 'this is a customer''s own check', 'Pass your own customer record.');
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(protector_internal.lock_key(1886547721, p_customer_id));
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.bookings b WHERE b.customer_id OPERATOR(pg_catalog.=) $1',
		p_customer_id, 'a booking of this customer was made concurrently', NULL);
	SELECT protector_internal.setting_number(o.settings #> '{customers,open_requests}', 10, 1, 1000)::integer,
		   protector_internal.setting_number(o.settings #> '{customers,bookings_per_hour}', 20, 1, 1000)::integer
	INTO v_limit, v_hourly
	FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id;
	SELECT pg_catalog.count(*) FILTER (WHERE pg_catalog.upper(b.during) OPERATOR(pg_catalog.>) pg_catalog.now()
											AND (b.status OPERATOR(pg_catalog.=) ANY ('{pending,confirmed}'::protector.booking_status[])
												 OR (b.status OPERATOR(pg_catalog.=) 'held'
													 AND b.hold_expires_at OPERATOR(pg_catalog.>) pg_catalog.now()))),
		   pg_catalog.count(*) FILTER (WHERE b.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 hour'))
	INTO v_open, v_recent
	FROM protector.bookings b
	WHERE b.customer_id OPERATOR(pg_catalog.=) p_customer_id AND b.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND b.created_by OPERATOR(pg_catalog.=) protector.current_user_id();
	IF v_recent OPERATOR(pg_catalog.>=) COALESCE(v_hourly, 20) THEN
		PERFORM protector.raise('rate_limited', 'you have made too many bookings with this organization in the last hour',
			pg_catalog.format('The organization takes at most %s booking(s) an hour made by you, cancelled ones included.',
				COALESCE(v_hourly, 20)),
			'Try again later.');
	END IF;
	IF v_open OPERATOR(pg_catalog.>=) COALESCE(v_limit, 10) THEN
		PERFORM protector.raise('rate_limited', 'you have too many open booking requests with this organization',
			pg_catalog.format('The organization takes at most %s booking(s) of yours that have not ended (held, pending or confirmed) at once.',
				COALESCE(v_limit, 10)),
			'Cancel one you no longer need, or wait until one has ended.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_customer_open_requests(uuid, uuid) IS
'A customer''s new booking: 53400 beyond settings.customers.open_requests (default 10) bookings they made that have not ended, or bookings_per_hour (default 20) made in the last hour';
GRANT EXECUTE ON FUNCTION protector_internal.check_customer_open_requests(uuid, uuid) TO authenticated, service_role;

-- Whether a user is a member of the organization, their row share-locked:
-- a member leaving or deactivated at this moment is waited for, then not
-- found (false) or refused as inactive (23P01, with the caller's detail
-- and hint).  One lookup for every assignment to a member: a booking's
-- agent, a task's assignee, a notification's recipient.  Called by
-- functions running as the owner only.
CREATE FUNCTION protector_internal.lock_active_member(p_organization_id uuid, p_user_id uuid,
	p_detail text, p_hint text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_active boolean;
	v_name text;
BEGIN
	SELECT m.active, COALESCE(m.full_name, m.email, m.user_id::text) INTO v_active, v_name
	FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND m.user_id OPERATOR(pg_catalog.=) p_user_id
	FOR SHARE;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	IF NOT v_active THEN
		PERFORM protector.raise('conflict', pg_catalog.format('%s is no active member', v_name),
			p_detail, p_hint);
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_active_member(uuid, uuid, text, text) IS
'Internal: whether p_user_id is a member of the organization, its row locked FOR SHARE (a member leaving or deactivated is waited for); 23P01 with the given detail and hint for an inactive one';

-- Whether a role sees tasks (the map's tasks.read or tasks.assigned):
-- who may be given one, and so a booking's agent, whose review task goes to
-- them; a member given a role that does not loses theirs
-- (release_on_role_change, sql/81_staff.sql).  member_sees_tasks asks it of
-- a member's role; called by functions running as the owner.
CREATE FUNCTION protector_internal.role_sees_tasks(p_role protector.member_role)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN protector_internal.role_may(p_role, '{tasks.read,tasks.assigned}');
COMMENT ON FUNCTION protector_internal.role_sees_tasks(protector.member_role) IS
'Internal: whether a role sees tasks (tasks.read or tasks.assigned in the capability map)';
GRANT EXECUTE ON FUNCTION protector_internal.role_sees_tasks(protector.member_role) TO authenticated, service_role;

CREATE FUNCTION protector_internal.member_sees_tasks(p_organization_id uuid, p_user_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN COALESCE(protector_internal.role_sees_tasks(
					(SELECT m.role FROM protector.members m
					 WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
					   AND m.user_id OPERATOR(pg_catalog.=) p_user_id)), false);
COMMENT ON FUNCTION protector_internal.member_sees_tasks(uuid, uuid) IS
'Internal: whether the member''s role sees tasks (tasks.read or tasks.assigned in the capability map)';

-- An agent for a booking: whether the user is a member of the
-- organization (lock_active_member).  A member leaving at that moment is
-- waited for, and then not found (the foreign key's check, run first,
-- failed with its bare 23503 on the row deleted under it).  Asked of the
-- request, as the staff list is: those who may read the organization's
-- members, and trusted roles.  Whatever the booking's status: a completed
-- booking given to a deactivated member rewrote whose work it was (the
-- check of live bookings' shifts, src/shifts.c, says the same).
CREATE FUNCTION protector_internal.lock_agent(p_organization_id uuid, p_user_id uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.authorize_requester(p_organization_id, 'members.read', 'organization');
	IF NOT protector_internal.lock_active_member(p_organization_id, p_user_id,
			'A booking is assigned only to an active member.', 'Assign someone else.') THEN
		RETURN false;
	END IF;
	-- (its review task goes to the agent: finance and viewers see none)
	IF NOT protector_internal.member_sees_tasks(p_organization_id, p_user_id) THEN
		PERFORM protector.raise('invalid_parameter', 'the agent''s role sees no tasks',
			'A booking''s agent is given its review task: their role must see tasks (tasks.read or tasks.assigned in protector.capability_map()).',
			'Assign someone else.');
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_agent(uuid, uuid) IS
'Internal: whether p_user_id is a member of the organization, its row locked FOR SHARE (a member leaving or deactivated is waited for); 23P01 for an inactive one; asks members.read of the request';

CREATE FUNCTION protector_internal.guard_booking_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
	v_uid uuid := protector.current_user_id();
	-- where create_booking stores this caller's keys as a customer's
	v_own_keys text := 'customer/' OPERATOR(pg_catalog.||) COALESCE(v_uid::text, '') OPERATOR(pg_catalog.||) '/';
	v_changed text[];
	v_action text;
	v_long_hold boolean;
BEGIN
	IF protector_internal.caller_is_trusted() THEN
		RETURN NEW;
	END IF;
	-- request keys under widget/ are the widget's, under customer/<user>/
	-- that customer's (create_booking stores them so): a key planted there
	-- would answer their retries with another booking
	IF NEW.idempotency_key IS NOT NULL
	   AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key)
	   AND (pg_catalog.starts_with(NEW.idempotency_key, 'widget/')
			OR (pg_catalog.starts_with(NEW.idempotency_key, 'customer/')
				AND NOT pg_catalog.starts_with(NEW.idempotency_key, v_own_keys))) THEN
		PERFORM protector.raise('forbidden', 'idempotency keys under widget/ and another''s customer/ are protector''s',
			'The widget and create_booking store their callers'' keys there.', 'Choose a key without that prefix.');
	END IF;
	-- a request key is shown to staff as written (the table, its history,
	-- broadcasts of the row): plain text, as the widget takes a visitor's
	-- (a customer's carried direction overrides and control characters:
	-- an attack review)
	IF NEW.idempotency_key IS NOT NULL
	   AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key)
	   AND NOT protector_internal.text_is_clean(NEW.idempotency_key) THEN
		PERFORM protector.raise('invalid_parameter', 'idempotency_key holds control or invisible direction characters',
			'A request key (create_booking''s and hold_slot''s p_idempotency_key) is shown to staff as written: plain text only.');
	END IF;
	-- a cancellation's reason is shown to staff as written, whoever writes
	-- it: the rule cancel_booking applies to p_reason (line breaks and tabs,
	-- no control or invisible direction characters, at most 2,000)
	IF NEW.cancellation_reason IS NOT NULL
	   AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.cancellation_reason IS DISTINCT FROM OLD.cancellation_reason)
	   AND (pg_catalog.length(NEW.cancellation_reason) OPERATOR(pg_catalog.>) 2000
			OR NOT protector_internal.lines_are_clean(NEW.cancellation_reason)) THEN
		PERFORM protector.raise('invalid_parameter',
			'cancellation_reason must be at most 2000 characters without control or invisible direction characters');
	END IF;
	-- details of at most 64 kB, as create_booking takes them, whoever
	-- writes them (staff's direct writes stored 19 MB, twice more in the
	-- audit log); callers the policies will refuse are refused there
	-- (measured as text: a value taken from a table comes compressed, and
	-- its stored size said 45 kB of 4 MB)
	IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.details IS DISTINCT FROM OLD.details)
	   AND pg_catalog.octet_length(NEW.details::text) OPERATOR(pg_catalog.>) 65536 THEN
		PERFORM protector.raise('invalid_parameter', 'details is too large',
			pg_catalog.format('It takes %s bytes as text; at most 65536 are accepted.', pg_catalog.octet_length(NEW.details::text)));
	END IF;
	-- an agent who is no member of the organization, or is leaving it,
	-- named for those who see the staff list (the composite foreign key's
	-- bare 23503 otherwise; nested: a condition with a subquery runs as a
	-- query every time)
	IF NEW.assigned_agent IS NOT NULL THEN
		IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.assigned_agent IS DISTINCT FROM OLD.assigned_agent
			OR NEW.organization_id IS DISTINCT FROM OLD.organization_id)
		   AND NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.read')) THEN
			IF NOT protector_internal.lock_agent(NEW.organization_id, NEW.assigned_agent) THEN
				PERFORM protector.raise('not_found', 'agent not found',
					'assigned_agent is not a member of the booking''s organization.');
			END IF;
		END IF;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
		-- callers the policies will refuse learn nothing from here
		IF NOT (NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.create'))
				OR NEW.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids())) THEN
			RETURN NEW;
		END IF;
		IF NOT NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.update_any_column')) THEN
			SELECT * INTO s FROM protector.services x WHERE x.id OPERATOR(pg_catalog.=) NEW.service_id;
			IF FOUND THEN
				NEW.during := protector_internal.check_slot(NEW.service_id, pg_catalog.lower(NEW.during), NEW.party_size, 'during');
				NEW.currency := s.currency;
				NEW.unit_price := s.price;
				NEW.total_price := protector.booking_total(s.price, s.price_per_person, NEW.party_size);
			END IF;
		ELSE
			-- (check_slot checks the party of the others)
			PERFORM protector_internal.check_party_size(NEW.organization_id, NEW.service_id, NEW.party_size);
		END IF;
		IF NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.create')) THEN
			NEW.cancelled_at := protector_internal.cancellation_time(NEW.id, NULL, NEW.status, NULL, NEW.cancelled_at);
			-- what happens at the venue happens once the booking has started,
			-- written as a new booking too (enforce_status_transition)
			IF NEW.status OPERATOR(pg_catalog.=) ANY ('{in_progress,completed,no_show}'::protector.booking_status[])
			   AND pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.>) pg_catalog.now() THEN
				PERFORM protector.raise('invalid_parameter',
					pg_catalog.format('a booking cannot be %s before it starts', NEW.status),
					pg_catalog.format('It starts at %s.', protector_internal.iso_text(pg_catalog.lower(NEW.during))),
					'Write it as held, pending or confirmed, and mark it once it has started.');
			END IF;
			-- a hold blocks its slot until it expires: at most a day, as
			-- hold_slot takes it, for staff who may not correct bookings
			-- (an operator's insert held a slot until 2999); nested, the
			-- capability is asked only of such a hold
			IF NEW.status OPERATOR(pg_catalog.=) 'held'
			   AND NEW.hold_expires_at OPERATOR(pg_catalog.>) (protector_internal.clock_now() OPERATOR(pg_catalog.+) interval '24 hours') THEN
				PERFORM protector_internal.refuse_long_hold(NEW.organization_id, NEW.hold_expires_at);
			END IF;
			RETURN NEW;
		END IF;
		-- through the customer policy: keys under their own prefix
		IF NEW.idempotency_key IS NOT NULL AND NOT pg_catalog.starts_with(NEW.idempotency_key, v_own_keys) THEN
			PERFORM protector.raise('forbidden', 'a customer''s idempotency key starts with customer/<their user id>/',
				pg_catalog.format('Use customer/%s/<key>, or create_booking, which adds it.', v_uid));
		END IF;
		NEW.source := 'api';
		-- (plain text, as the widget takes details from a visitor)
		IF NOT protector_internal.json_is_clean(NEW.details) THEN
			PERFORM protector.raise('invalid_parameter', 'the booking''s details hold control or invisible direction characters',
				'Every string and key in details must be plain text.');
		END IF;
		IF NEW.details OPERATOR(pg_catalog.?) 'refund' THEN
			PERFORM protector.raise('invalid_parameter', 'details.refund is protector''s',
				'Protector writes it when a booking is cancelled or marked no-show.');
		END IF;
		-- a new booking of theirs is live: no cancellation stamped on it
		NEW.cancelled_at := NULL;
		NEW.cancellation_reason := NULL;
		IF NEW.status OPERATOR(pg_catalog.<>) 'held' THEN
			NEW.hold_expires_at := NULL;
		ELSIF NEW.hold_expires_at OPERATOR(pg_catalog.>) (protector_internal.clock_now() OPERATOR(pg_catalog.+) interval '24 hours') THEN
			-- (a customer's role never corrects bookings: always refused)
			PERFORM protector_internal.refuse_long_hold(NEW.organization_id, NEW.hold_expires_at);
		ELSIF NEW.hold_expires_at OPERATOR(pg_catalog.<=) protector_internal.clock_now() THEN
			-- (a hold over already occupies nothing, and confirmed it was
			-- a booking past the open-requests limit and the slot's rules)
			PERFORM protector.raise('invalid_parameter', 'a hold ends after now',
				pg_catalog.format('hold_expires_at is %s.', protector_internal.iso_text(NEW.hold_expires_at)),
				'hold_slot holds for 1 to 1440 minutes.');
		END IF;
		PERFORM protector_internal.check_customer_open_requests(NEW.organization_id, NEW.customer_id);
		RETURN NEW;
	END IF;

	-- a hold held longer by staff who may write it but not correct
	-- bookings: at most a day from now, as on insert (an operator's update
	-- held a slot until 2999); asked once the caller's role may write it
	-- (here, and below for an agent who may confirm)
	v_long_hold := NEW.status OPERATOR(pg_catalog.=) 'held' AND NEW.hold_expires_at IS DISTINCT FROM OLD.hold_expires_at
				   AND NEW.hold_expires_at OPERATOR(pg_catalog.>) (protector_internal.clock_now() OPERATOR(pg_catalog.+) interval '24 hours');
	-- an expired hold, or one this update ends, occupies nothing, here or
	-- at a new time: not moved, as reschedule_booking does not move it (it
	-- would meet no booking there, and be refused only when confirmed)
	IF (NEW.during IS DISTINCT FROM OLD.during OR NEW.service_id IS DISTINCT FROM OLD.service_id)
	   AND OLD.status OPERATOR(pg_catalog.=) 'held'
	   AND (OLD.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()
			OR (NEW.status OPERATOR(pg_catalog.=) 'held' AND NEW.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())) THEN
		PERFORM protector.raise('invalid_parameter', 'the hold has expired',
			pg_catalog.format('Booking %s is held until %s.', OLD.id,
							  protector_internal.iso_text(LEAST(OLD.hold_expires_at, NEW.hold_expires_at))),
			'Hold the new time instead (hold_slot).');
	END IF;
	IF NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.update')) THEN
		IF v_long_hold THEN
			PERFORM protector_internal.refuse_long_hold(NEW.organization_id, NEW.hold_expires_at);
		END IF;
		NEW.cancelled_at := protector_internal.cancellation_time(OLD.id, OLD.status, NEW.status, OLD.cancelled_at, NEW.cancelled_at);
		IF NEW.party_size IS DISTINCT FROM OLD.party_size OR NEW.service_id IS DISTINCT FROM OLD.service_id THEN
			PERFORM protector_internal.check_party_size(NEW.organization_id, NEW.service_id, NEW.party_size);
		END IF;
		-- a move by a caller who may not set prices is to a slot of the
		-- service, as reschedule_booking makes it (its length, the grid,
		-- opening hours): a stretched booking would keep its old price
		-- (a booking that has started, corrected within the past, keeps its
		-- length; one that has not started is not moved into the past, where
		-- no slot is, and a no-show fee would follow)
		IF (NEW.during IS DISTINCT FROM OLD.during OR NEW.service_id IS DISTINCT FROM OLD.service_id)
		   AND NOT NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.update_any_column')) THEN
			-- (as reschedule_booking: a cancelled or no-show booking, its
			-- refund or fee written, is not moved and priced again)
			IF OLD.status OPERATOR(pg_catalog.=) ANY ('{cancelled,no_show}'::protector.booking_status[]) THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('a %s booking cannot be rescheduled', OLD.status),
					pg_catalog.format('Booking %s is settled: its refund or fee is written.', OLD.id),
					'Book the new time instead.');
			END IF;
			IF pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.>=) pg_catalog.now()
			   OR pg_catalog.lower(OLD.during) OPERATOR(pg_catalog.>=) pg_catalog.now() THEN
				NEW.during := protector_internal.check_slot(NEW.service_id, pg_catalog.lower(NEW.during), NEW.party_size, 'during');
			ELSIF pg_catalog.upper(NEW.during) OPERATOR(pg_catalog.-) pg_catalog.lower(NEW.during)
				  IS DISTINCT FROM pg_catalog.upper(OLD.during) OPERATOR(pg_catalog.-) pg_catalog.lower(OLD.during) THEN
				PERFORM protector.raise('forbidden', 'your role may not change the length of a booking that has started',
					pg_catalog.format('Booking %s: %s to %s.', OLD.id, protector_internal.iso_text(OLD.during), protector_internal.iso_text(NEW.during)),
					'Members whose role may do bookings.update_any_column change it.');
			-- (within the past, or over its own time, as a late start is
			-- recorded: a past booking moved to start a moment ago held the
			-- next hours, off the grid, in closed hours, unchecked)
			ELSIF pg_catalog.upper(NEW.during) OPERATOR(pg_catalog.>)
				  GREATEST(pg_catalog.upper(OLD.during), pg_catalog.now())
				  AND NOT NEW.during OPERATOR(pg_catalog.&&) OLD.during THEN
				PERFORM protector.raise('forbidden', 'your role may correct a booking that has started only within the past',
					pg_catalog.format('Booking %s: %s to %s.', OLD.id, protector_internal.iso_text(OLD.during), protector_internal.iso_text(NEW.during)),
					'A later end than it had is a new slot: book it, or ask members whose role may do bookings.update_any_column.');
			END IF;
		END IF;
		RETURN NEW;
	END IF;
	IF OLD.assigned_agent OPERATOR(pg_catalog.=) v_uid
	   AND NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.assigned')) THEN
		-- an agent moves the booking along, but confirms or cancels only as
		-- the capability map says; a hold made pending, or held longer, is
		-- confirmed as far as its slot is concerned
		IF (NEW.status IS DISTINCT FROM OLD.status AND NEW.status OPERATOR(pg_catalog.=) 'confirmed')
		   OR (OLD.status OPERATOR(pg_catalog.=) 'held' AND NEW.status OPERATOR(pg_catalog.=) 'pending')
		   OR (NEW.status OPERATOR(pg_catalog.=) 'held' AND NEW.hold_expires_at IS DISTINCT FROM OLD.hold_expires_at
			   AND (NEW.hold_expires_at IS NULL OR NEW.hold_expires_at OPERATOR(pg_catalog.>) OLD.hold_expires_at)) THEN
			v_action := 'bookings.confirm';
		ELSIF (NEW.status IS DISTINCT FROM OLD.status AND NEW.status OPERATOR(pg_catalog.=) 'cancelled')
			  -- a hold ended sooner frees its slot: a cancellation
			  OR (NEW.status OPERATOR(pg_catalog.=) 'held' AND NEW.hold_expires_at IS DISTINCT FROM OLD.hold_expires_at) THEN
			v_action := 'bookings.cancel';
		END IF;
		-- (keeping it: the agent's policy takes only a booking that stays
		-- theirs, and one handed on passed as the booking of theirs as a
		-- customer, whose rules below refuse it)
		IF (v_action IS NULL OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with(v_action)))
		   AND NEW.assigned_agent IS NOT DISTINCT FROM OLD.assigned_agent THEN
			IF v_long_hold THEN
				PERFORM protector_internal.refuse_long_hold(NEW.organization_id, NEW.hold_expires_at);
			END IF;
			NEW.cancelled_at := protector_internal.cancellation_time(OLD.id, OLD.status, NEW.status, OLD.cancelled_at, NEW.cancelled_at);
			RETURN NEW;
		END IF;
		-- an agent whose role may not, on a booking that is also their own
		-- as its customer: what a customer may do to it (confirm their hold,
		-- cancel), by the customer rules below
		IF OLD.customer_id IS NULL OR NOT OLD.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()) THEN
			IF v_action IS NULL THEN
				PERFORM protector.raise('forbidden', 'your role may not change a booking''s agent',
					pg_catalog.format('Booking %s is assigned to you.', OLD.id),
					'Members whose role may update bookings (bookings.update) assign agents.');
			END IF;
			PERFORM protector_internal.authorize(NEW.organization_id, v_action, 'booking');
		END IF;
	END IF;
	-- through the customer policy, whatever role the caller may also have:
	-- a cancellation's reason and time come with the cancellation, the time
	-- the database's (a customer backdated the venue's cancellation and
	-- wrote its reason, or stamped a live booking cancelled)
	IF (NEW.cancellation_reason IS DISTINCT FROM OLD.cancellation_reason OR NEW.cancelled_at IS DISTINCT FROM OLD.cancelled_at)
	   AND NOT (OLD.status OPERATOR(pg_catalog.<>) 'cancelled' AND NEW.status OPERATOR(pg_catalog.=) 'cancelled') THEN
		PERFORM protector.raise('forbidden', 'customers may only confirm their own holds or cancel their bookings',
			pg_catalog.format('Booking %s: a cancellation''s reason and time are written when it is cancelled.', OLD.id));
	END IF;
	-- a booking under way is the venue's to settle: its customer cancelling
	-- it got back what the closest tier leaves (refund_on_cancel lets one
	-- under way, whose guests came, keep its tier), where staying away
	-- cost the whole no-show fee
	IF OLD.status OPERATOR(pg_catalog.=) 'in_progress' AND NEW.status OPERATOR(pg_catalog.=) 'cancelled' THEN
		PERFORM protector.raise('forbidden', 'a booking under way is not cancelled by its customer',
			pg_catalog.format('Booking %s is in progress.', OLD.id), 'Ask the venue: staff settle a booking under way.');
	END IF;
	NEW.cancelled_at := protector_internal.cancellation_time(OLD.id, OLD.status, NEW.status, OLD.cancelled_at, NEW.cancelled_at);
	-- a customer confirms a hold while it lasts: one over occupies nothing,
	-- counts against no limit (check_customer_open_requests) and was made
	-- for a day since closed, a service since retired, at an old price
	IF OLD.status OPERATOR(pg_catalog.=) 'held' AND NEW.status OPERATOR(pg_catalog.=) 'confirmed'
	   AND OLD.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'the hold has expired',
			pg_catalog.format('Booking %s was held until %s.', OLD.id, protector_internal.iso_text(OLD.hold_expires_at)),
			'Book the time again (create_booking).');
	END IF;
	SELECT pg_catalog.array_agg(n.key ORDER BY n.key) INTO v_changed
	FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) n
	JOIN pg_catalog.jsonb_each(pg_catalog.to_jsonb(OLD)) o ON o.key OPERATOR(pg_catalog.=) n.key
	WHERE n.value IS DISTINCT FROM o.value
	  AND n.key OPERATOR(pg_catalog.<>) ALL ('{status,hold_expires_at,cancellation_reason,cancelled_at,updated_at,balance_due}');
	IF v_changed IS NOT NULL
	   OR NOT (NEW.status OPERATOR(pg_catalog.=) OLD.status
			   OR (OLD.status OPERATOR(pg_catalog.=) 'held' AND NEW.status OPERATOR(pg_catalog.=) 'confirmed')
			   OR NEW.status OPERATOR(pg_catalog.=) 'cancelled')
	   OR (NEW.hold_expires_at IS DISTINCT FROM OLD.hold_expires_at
		   AND NOT (NEW.hold_expires_at IS NULL AND NEW.status OPERATOR(pg_catalog.<>) 'held')) THEN
		PERFORM protector.raise('forbidden', 'customers may only confirm their own holds or cancel their bookings',
			pg_catalog.format('Booking %s: %s to %s%s.', OLD.id, OLD.status, NEW.status,
				CASE WHEN v_changed IS NOT NULL
					 THEN ', changing ' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(v_changed, ', ') ELSE '' END));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_booking_write() IS
'Trigger: inserts by callers who may not set prices are priced slots; customers, whatever else they are, write only what the booking RPCs allow them; agents confirm and cancel only by the map';

CREATE TRIGGER guard_booking_write BEFORE UPDATE ON protector.bookings
	FOR EACH ROW WHEN (protector.current_user_id() IS NOT NULL)
	EXECUTE FUNCTION protector_internal.guard_booking_write();

-- What a new booking gets before it is stored, in one C trigger (it was
-- five, each with a WHEN clause parsed for every INSERT): the service's
-- currency when none is given; guard_booking_source() for source widget or
-- import; guard_booking_write() for a signed-in caller; apply_promo_code()
-- for a promo code; require_deposit() when the service asks for a deposit
-- (else none is due).  The last two not while restoring.
CREATE FUNCTION protector_internal.prepare_booking()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_prepare_booking'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.prepare_booking() IS
'Trigger (BEFORE INSERT, C): a new booking''s currency, source and caller checks, promo discount and deposit';
CREATE TRIGGER prepare_booking BEFORE INSERT ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.prepare_booking();
-- imports under session_replication_role = replica get the currency too
-- (and only that, as before)
ALTER TABLE protector.bookings ENABLE ALWAYS TRIGGER prepare_booking;

-- balance_due = total_price - amount_paid (src/balance_due.c): on INSERT
-- at the end of prepare_booking (which stays the only BEFORE INSERT
-- trigger), on UPDATE in the last BEFORE UPDATE trigger by name, so that
-- each sees the prices and payments every other one set;
-- bookings_balance_due_check refuses what they could not see
CREATE FUNCTION protector_internal.keep_balance_due()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_keep_balance_due'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.keep_balance_due() IS
'Trigger (BEFORE UPDATE, C): a booking''s balance_due is total_price - amount_paid (prepare_booking computes it on INSERT)';
-- A booking's hold_expires_at is a hold's: a hold made a booking loses it
-- (enforce_status_transition), and a hold cancelled, lapsed or by hand,
-- keeps it, which is how the dashboards and reports tell a checkout
-- abandoned from a booking cancelled.  So nobody writes one on a booking
-- that is not held (staff cancelled a booking with an expiry written on
-- it, and it left every count), nor takes it from a cancelled hold (a
-- customer did, and their abandoned checkout counted as a cancellation),
-- whoever writes (a trusted caller's un-cancellation leaves none; a
-- trusted caller may clear one, a correction).  Named to run after the
-- triggers that may make a booking held or cancelled and before
-- set_updated_at: an expiry written and dropped here changes nothing, and
-- the row keeps its stamp (it took a new one, with no audit row).
CREATE FUNCTION protector_internal.hold_expiry_of(p_old_status protector.booking_status, p_old_expiry timestamptz,
	p_new_status protector.booking_status, p_new_expiry timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_new_status OPERATOR(pg_catalog.=) 'held' THEN p_new_expiry
			WHEN p_new_status OPERATOR(pg_catalog.=) 'cancelled'
				 AND p_old_status OPERATOR(pg_catalog.=) ANY ('{held,cancelled}'::protector.booking_status[]) THEN p_old_expiry END;
COMMENT ON FUNCTION protector_internal.hold_expiry_of(protector.booking_status, timestamptz, protector.booking_status, timestamptz) IS
'The hold_expires_at an update leaves: a hold''s own, a cancelled hold''s kept, none on any other booking';
GRANT EXECUTE ON FUNCTION protector_internal.hold_expiry_of(protector.booking_status, timestamptz, protector.booking_status, timestamptz)
	TO authenticated, service_role;

CREATE FUNCTION protector_internal.keep_hold_expiry()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.hold_expires_at IS NULL AND protector_internal.caller_is_trusted() THEN
		RETURN NEW;
	END IF;
	NEW.hold_expires_at := protector_internal.hold_expiry_of(OLD.status, OLD.hold_expires_at, NEW.status, NEW.hold_expires_at);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_hold_expiry() IS
'Trigger: hold_expires_at is a hold''s, kept by a cancelled hold, on no other booking';
CREATE TRIGGER hold_expiry_kept BEFORE UPDATE ON protector.bookings
	FOR EACH ROW WHEN (NEW.hold_expires_at IS DISTINCT FROM
					   protector_internal.hold_expiry_of(OLD.status, OLD.hold_expires_at, NEW.status, NEW.hold_expires_at)
					   AND NOT protector_internal.restoring_into('protector.bookings'))
	EXECUTE FUNCTION protector_internal.keep_hold_expiry();

CREATE TRIGGER zz_balance_due BEFORE UPDATE ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.keep_balance_due();
-- (imports under session_replication_role = replica too)
ALTER TABLE protector.bookings ENABLE ALWAYS TRIGGER zz_balance_due;

-- An update that writes a booking's prices while moving it to another
-- service or party size (its SET list names unit_price or total_price,
-- whatever the values): noted for set_booking_price, which runs next for
-- the same row and then forgets it, so that prices written as they were
-- are kept, not priced again.
CREATE FUNCTION protector_internal.note_prices_written()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pg_catalog.set_config('protector_internal.prices_written', NEW.id::text, true);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.note_prices_written() IS
'Trigger: notes that an update moving a booking to another service or party size writes its prices (read by set_booking_price)';
-- (named to run before set_booking_price, whose trigger fires on every
-- update this one fires on)
CREATE TRIGGER note_prices_written BEFORE UPDATE OF unit_price, total_price ON protector.bookings
	FOR EACH ROW WHEN (NEW.service_id IS DISTINCT FROM OLD.service_id OR NEW.party_size IS DISTINCT FROM OLD.party_size)
	EXECUTE FUNCTION protector_internal.note_prices_written();

-- A booking set_booking_price priced again under a promo code it kept,
-- in another currency, is marked for this transaction, and the mark taken
-- off by the check of its currency (keep_promo_currency: a code made fixed
-- meanwhile is then a retry), or by its next pricing (a mark a later
-- trigger's skipping left behind told a later currency change to retry
-- for ever).  Takes the booking's mark off; true if it had one.
CREATE FUNCTION protector_internal.take_repriced_mark(p_booking_id uuid)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_marks text := COALESCE(pg_catalog.current_setting('protector_internal.repriced_under_code', true), '');
BEGIN
	IF pg_catalog.strpos(v_marks, p_booking_id::text) OPERATOR(pg_catalog.=) 0 THEN
		RETURN false;
	END IF;
	PERFORM pg_catalog.set_config('protector_internal.repriced_under_code',
		pg_catalog.replace(v_marks, p_booking_id::text OPERATOR(pg_catalog.||) ',', ''), true);
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector_internal.take_repriced_mark(uuid) IS
'Internal: takes off the mark of a booking priced again under a kept promo code in this transaction; true if it had one';

-- A booking moved to another service, or with another party size, is
-- priced again from the service, less its promo code's discount, unless
-- the same update writes its prices and its caller may set prices
-- (runs after restrict_update_columns, so operators may reschedule
-- without the right to set prices).  A booking not confirmed yet (held,
-- pending) then owes its service's deposit of the new total, as does one
-- that changes currency; any other keeps its deposit within the total.
CREATE FUNCTION protector_internal.set_booking_price()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
	v_discount numeric;
	v_deposit numeric;
	-- (written prices count for requests that may set them: the rest, an
	-- operator's, had theirs judged equal to the old by
	-- restrict_update_columns, and may not keep them so)
	v_written boolean := COALESCE(pg_catalog.current_setting('protector_internal.prices_written', true), '')
						 OPERATOR(pg_catalog.=) NEW.id::text
						 AND (protector_internal.requester_is_trusted()
							  OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.update_any_column')));
BEGIN
	PERFORM pg_catalog.set_config('protector_internal.prices_written', '', true);
	-- (this booking's mark of an earlier update goes first)
	PERFORM protector_internal.take_repriced_mark(NEW.id);
	SELECT * INTO s FROM protector.services x
	WHERE x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND x.id OPERATOR(pg_catalog.=) NEW.service_id;
	IF NOT FOUND THEN
		RETURN NEW;			-- the foreign key says what is wrong
	END IF;
	-- another service or party size is priced again, unless the update sets
	-- the prices itself
	IF (NEW.service_id IS DISTINCT FROM OLD.service_id OR NEW.party_size IS DISTINCT FROM OLD.party_size)
	   AND NOT v_written AND NEW.unit_price IS NOT DISTINCT FROM OLD.unit_price
	   AND NEW.total_price IS NOT DISTINCT FROM OLD.total_price THEN
		-- money paid in one currency stays in it (the service's own
		-- currency may have changed since, with the party alone changing;
		-- under REPEATABLE READ a payment recorded since the snapshot, a
		-- pending one too, retries)
		IF s.currency OPERATOR(pg_catalog.<>) OLD.currency THEN
			PERFORM protector_internal.retry_if_ledger_unseen(OLD.id);
		END IF;
		IF s.currency OPERATOR(pg_catalog.<>) OLD.currency AND EXISTS (
				SELECT FROM protector.payments p
				WHERE p.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND p.booking_id OPERATOR(pg_catalog.=) OLD.id) THEN
			IF NEW.service_id OPERATOR(pg_catalog.<>) OLD.service_id THEN
				PERFORM protector.raise('invalid_parameter', 'a booking with payments cannot move to a service in another currency',
					pg_catalog.format('Booking %s is paid in %s; service %s charges in %s.', OLD.id, OLD.currency, s.id, s.currency),
					'Refund it and book the other service instead.');
			END IF;
			PERFORM protector.raise('invalid_parameter', 'a booking with payments cannot be priced again in another currency',
				pg_catalog.format('Booking %s is paid in %s; its service now charges in %s.', OLD.id, OLD.currency, s.currency),
				'Set its unit_price and total_price in the same update: it then keeps its currency.');
		END IF;
		NEW.unit_price := s.price;
		NEW.currency := s.currency;
		NEW.total_price := protector.booking_total(s.price, s.price_per_person, NEW.party_size);
		NEW.discount_amount := 0;
		IF NEW.promo_code_id IS NOT NULL THEN
			-- the code applies again, or the booking loses it (and the code
			-- gets its use back, release_promo_use; a fixed amount in
			-- another currency than the booking's new one applies no more)
			v_discount := protector_internal.promo_discount(NEW.organization_id, NEW.promo_code_id, NEW.service_id,
															NEW.party_size, NEW.total_price, NEW.currency);
			IF v_discount IS NULL THEN
				NEW.promo_code_id := NULL;
			ELSE
				NEW.discount_amount := v_discount;
				NEW.total_price := NEW.total_price OPERATOR(pg_catalog.-) v_discount;
				-- (the code read without a lock: keep_promo_currency checks
				-- it locked, and a code made fixed meanwhile is a retry)
				-- (where adjust_promo_currency then fires, which takes the
				-- mark off: one left, as by an update that also set another
				-- code, made a later hand-written currency of the booking in
				-- this transaction a retry for ever; a chaos run)
				IF NEW.currency OPERATOR(pg_catalog.<>) OLD.currency
				   AND NEW.promo_code_id IS NOT DISTINCT FROM OLD.promo_code_id
				   AND 'cancelled' OPERATOR(pg_catalog.<>) ALL (ARRAY[OLD.status, NEW.status]) THEN
					PERFORM pg_catalog.set_config('protector_internal.repriced_under_code',
						COALESCE(pg_catalog.current_setting('protector_internal.repriced_under_code', true), '')
							OPERATOR(pg_catalog.||) NEW.id::text OPERATOR(pg_catalog.||) ',', true);
				END IF;
			END IF;
		END IF;
	END IF;
	-- whatever set the new total: a booking not confirmed yet owes the
	-- service's deposit of it (a percentage follows the total, a fixed
	-- amount the service), as one that changes currency does (its old
	-- deposit was in the old one; a fixed amount in the service's currency
	-- says nothing of a total kept in another); a deposit is at most the
	-- total, and one paid by now confirms a booking that waited for it, as
	-- sum_payments() does when it is paid (sync_reminders_update sees the
	-- status change: it fires on the columns that fire this trigger)
	-- (never below nothing: a negative total written directly is refused
	-- under its own rule, bookings_total_price_check, not the deposit's)
	-- (not confirmed before this update, either: a hold moved or resized
	-- and confirmed in one UPDATE was confirmed on its old deposit, none
	-- where the new service asks one; an attack review of money)
	IF NEW.status OPERATOR(pg_catalog.=) ANY ('{held,pending}'::protector.booking_status[])
	   OR OLD.status OPERATOR(pg_catalog.=) ANY ('{held,pending}'::protector.booking_status[])
	   OR NEW.currency IS DISTINCT FROM OLD.currency THEN
		v_deposit := protector_internal.deposit_of(s.settings OPERATOR(pg_catalog.->) 'deposit', NEW.total_price,
												   s.currency OPERATOR(pg_catalog.=) NEW.currency);
		IF v_deposit IS NULL AND NEW.currency IS DISTINCT FROM OLD.currency THEN
			PERFORM protector_internal.refuse_fixed_deposit(s.id, s.currency, NEW.currency,
				pg_catalog.format('Booking %s would go from %s to %s.', OLD.id, OLD.currency, NEW.currency));
		END IF;
		-- (a fixed amount of a service in another currency than the booking
		-- kept says nothing: the deposit stays)
		NEW.deposit_amount := COALESCE(v_deposit, NEW.deposit_amount);
		-- a hold that now owes more than it was paid waits for it once
		-- confirmed, by a deadline, as a new one does (wait_for_deposit
		-- fires on a deadline: without one it was confirmed unpaid), also
		-- when this update confirms it, or makes it pending (sum_payments
		-- confirms a pending booking with a deadline once it is paid)
		IF (NEW.status OPERATOR(pg_catalog.=) 'held'
			OR (OLD.status OPERATOR(pg_catalog.=) 'held'
				AND NEW.status OPERATOR(pg_catalog.=) ANY ('{confirmed,pending}'::protector.booking_status[])))
		   AND NEW.payment_due_by IS NULL AND NEW.deposit_amount OPERATOR(pg_catalog.>) NEW.amount_paid THEN
			NEW.payment_due_by := protector_internal.deposit_due_by(s.settings OPERATOR(pg_catalog.->) 'deposit',
																	pg_catalog.lower(NEW.during));
		END IF;
	END IF;
	NEW.deposit_amount := GREATEST(LEAST(NEW.deposit_amount, NEW.total_price), 0);
	IF NEW.payment_due_by IS NOT NULL AND NEW.amount_paid OPERATOR(pg_catalog.>=) NEW.deposit_amount THEN
		NEW.payment_due_by := NULL;
		IF NEW.status OPERATOR(pg_catalog.=) 'pending' THEN
			NEW.status := 'confirmed';
		END IF;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.set_booking_price() IS
'Trigger: a booking moved to another service or party size is priced again, less its promo code''s discount where the code still applies (unless the update sets its prices); its deposit stays within the total; paid bookings keep their currency';

-- A booking moved to a service of another venue of its organization goes
-- to that venue, as reschedule_booking moves it, whoever moves it (the
-- venue is the service's: the composite foreign key's bare error said so
-- otherwise); a service of another organization, or none, is "not
-- found".  Runs as the owner, within the booking's organization.
CREATE FUNCTION protector_internal.follow_service_venue()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_venue uuid;
BEGIN
	SELECT s.venue_id INTO v_venue FROM protector.services s
	WHERE s.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND s.id OPERATOR(pg_catalog.=) NEW.service_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found',
			'It does not exist in the booking''s organization, or you may not see it.');
	END IF;
	-- a venue set by hand is the service's, or refused by name
	IF NEW.venue_id IS DISTINCT FROM OLD.venue_id AND NEW.venue_id IS DISTINCT FROM v_venue THEN
		PERFORM protector.raise('invalid_parameter', 'a booking''s venue is its service''s',
			pg_catalog.format('Service %s is at venue %s.', NEW.service_id, v_venue),
			'Move the booking to a service of the other venue (service_id); the venue follows.');
	END IF;
	NEW.venue_id := v_venue;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.follow_service_venue() IS
'Trigger: a booking moved to another service is at that service''s venue ("service not found" outside its organization)';
-- (named to run before guard_booking_write and set_booking_price)
CREATE TRIGGER follow_service_venue BEFORE UPDATE OF service_id, venue_id ON protector.bookings
	FOR EACH ROW WHEN ((NEW.service_id IS DISTINCT FROM OLD.service_id OR NEW.venue_id IS DISTINCT FROM OLD.venue_id)
					   AND NOT protector_internal.restoring_into('protector.bookings'))
	EXECUTE FUNCTION protector_internal.follow_service_venue();

CREATE TRIGGER set_booking_price BEFORE UPDATE OF service_id, party_size, total_price, currency ON protector.bookings
	FOR EACH ROW WHEN (NEW.service_id IS DISTINCT FROM OLD.service_id OR NEW.party_size IS DISTINCT FROM OLD.party_size
					   OR NEW.total_price IS DISTINCT FROM OLD.total_price OR NEW.currency IS DISTINCT FROM OLD.currency)
	EXECUTE FUNCTION protector_internal.set_booking_price();

-- Money rounded to cents, half to even (2.125 -> 2.12, 2.135 -> 2.14):
-- what a percentage of a price comes to.
CREATE FUNCTION protector.round_money(p_amount numeric)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
-- (PL/pgSQL: a SQL function with a SET clause is planned again in every
-- transaction; see booking_total())
DECLARE
	x numeric := p_amount OPERATOR(pg_catalog.*) 100;
BEGIN
	IF p_amount OPERATOR(pg_catalog.=) ANY ('{NaN,Infinity,-Infinity}'::numeric[]) THEN
		PERFORM protector.raise('invalid_parameter', 'an amount of money is a finite number',
			pg_catalog.format('Got %s.', p_amount));
	END IF;
	-- (times 0.01, not divided by 100: a division's scale shrinks with the
	-- dividend's digits, and 99999999999999999999.125 came back .00)
	RETURN pg_catalog.round(
		CASE WHEN pg_catalog.abs(x OPERATOR(pg_catalog.-) pg_catalog.trunc(x)) OPERATOR(pg_catalog.=) 0.5
			 THEN (pg_catalog.trunc(x) OPERATOR(pg_catalog.+)
				   CASE WHEN pg_catalog.mod(pg_catalog.trunc(x), 2) OPERATOR(pg_catalog.<>) 0 THEN pg_catalog.sign(x) ELSE 0 END)
				  OPERATOR(pg_catalog.*) 0.01
			 ELSE p_amount END, 2);
END
$$;
COMMENT ON FUNCTION protector.round_money(numeric) IS
'Rounds an amount to cents, half to even';

-- Whether a cancellation refunds (protector.refund_on_cancel, default
-- on).  The setting is protector.so's, which a connection loads at its
-- first call of a C function: until then it is unknown, or a placeholder
-- holding whatever text a SET gave it.
CREATE FUNCTION protector_internal.refunds_on_cancel()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	-- (a placeholder holds any text a SET gave it, '' after a SET LOCAL
	-- ended: what PostgreSQL reads as false is false, the rest the default)
	SELECT CASE WHEN v OPERATOR(pg_catalog.=) ANY ('{of,off,f,fa,fal,fals,false,n,no,0}') THEN false ELSE true END
	FROM pg_catalog.lower(pg_catalog.btrim(COALESCE(pg_catalog.current_setting('protector.refund_on_cancel', true), ''))) v
$$;
COMMENT ON FUNCTION protector_internal.refunds_on_cancel() IS
'protector.refund_on_cancel as a boolean, also before protector.so is loaded (default on)';

-- Whether a cancellation's refund, or a late payment's, is skipped: the
-- setting off, for staff who may cancel bookings or record payments, or
-- a trusted caller.  Not for a customer: their own cancellation (or a
-- client's acting for them) with the setting off, or cancel_booking's
-- p_issue_refund => false, forfeited the refund the terms owe them.
CREATE FUNCTION protector_internal.refund_skipped(p_organization_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN NOT protector_internal.refunds_on_cancel()
	   AND (protector_internal.requester_is_trusted()
			OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.cancel'))
			OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('payments.create')));
COMMENT ON FUNCTION protector_internal.refund_skipped(uuid) IS
'Internal: protector.refund_on_cancel is off and the requester may skip a refund (staff who may cancel bookings or record payments, trusted callers)';

-- The terms a cancellation or a no-show was settled by (refund_on_cancel),
-- for money that arrives afterwards (refund_late_payment,
-- sql/77_payments.sql): the fee the booking keeps, or under the older
-- refund_policy the percent that comes back.  The database's own record:
-- bookings.details.refund says the same to readers, but whoever may edit
-- details could edit it.  No row: the cancellation refunded nothing by
-- choice (protector.refund_on_cancel off).
CREATE TABLE protector_internal.cancellation_terms (
	organization_id uuid NOT NULL,
	booking_id		uuid NOT NULL,
	fee				numeric(12, 2) CHECK (fee >= 0),
	refund_percent	numeric CHECK (refund_percent BETWEEN 0 AND 100),
	-- what the terms refunded (the cancellation's refund, then the late
	-- ones): under the older policy the percent applies to what was paid
	-- beyond the other refunds, less this
	refunded_by_terms numeric(12, 2) NOT NULL DEFAULT 0 CHECK (refunded_by_terms >= 0),
	-- the money that arrived after the cancellation, whose percent comes
	-- back rounded once in all (sql/77_payments.sql)
	late_paid		numeric NOT NULL DEFAULT 0 CHECK (late_paid >= 0),
	-- under the older policy, what the booking keeps: what was paid less
	-- the terms' refunds, the money arriving later less its share, and
	-- lowered to what the booking holds by a refund the desk makes once
	-- none is pending (check_payment holds the booking to it while one is,
	-- as it holds a fee)
	kept			numeric(12, 2) CHECK (kept >= 0),
	-- the refund rows these terms wrote (the cancellation's pending cash
	-- refund, the late money's): those of them that failed are still
	-- counted in refunded_by_terms (the desk records them anew) but no
	-- longer among the live refunds (refunds_not_by_terms)
	refund_ids		uuid[] NOT NULL DEFAULT '{}',
	CHECK ((fee IS NULL) <> (refund_percent IS NULL)),
	CHECK (kept IS NULL OR fee IS NULL),
	PRIMARY KEY (organization_id, booking_id),
	FOREIGN KEY (organization_id, booking_id) REFERENCES protector.bookings (organization_id, id) ON DELETE CASCADE
);
ALTER TABLE protector_internal.cancellation_terms ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.cancellation_terms FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.cancellation_terms IS
'The fee kept, or the percent given back, by a booking''s cancellation or no-show: what money arriving later is refunded by (no policy: protector''s triggers only)';
SELECT pg_catalog.pg_extension_config_dump('protector_internal.cancellation_terms', '');

-- The refund rows a booking's terms wrote, noted as they are written, and
-- the failed ones among them: the terms count those as given back (the
-- desk records them anew), while the ledger's live refunds no longer hold
-- them: "the refunds no terms made" are the live refunds less the terms'
-- live ones (a failed one made the desk's own refund count as the terms',
-- and a cancellation again gave it back twice: a money model test).  By
-- the rows' ids, which only these triggers write: a details key that any
-- refund may carry made the desk's rows count too (a review), and the
-- failures of terms discarded since (refund_skipped) counted for the next.
CREATE FUNCTION protector_internal.note_terms_refund(p_organization_id uuid, p_booking_id uuid, p_payment_id uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE protector_internal.cancellation_terms t SET refund_ids = t.refund_ids OPERATOR(pg_catalog.||) p_payment_id
	WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.booking_id OPERATOR(pg_catalog.=) p_booking_id;
END
$$;
COMMENT ON FUNCTION protector_internal.note_terms_refund(uuid, uuid, uuid) IS
'Internal: notes a refund row the booking''s cancellation terms wrote (cancellation_terms.refund_ids)';

CREATE FUNCTION protector_internal.refunds_not_by_terms(p_organization_id uuid, p_booking_id uuid,
														p_refunded numeric, p_by_terms numeric)
RETURNS numeric
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT GREATEST(p_refunded OPERATOR(pg_catalog.-)
					GREATEST(p_by_terms OPERATOR(pg_catalog.-) COALESCE(pg_catalog.sum(p.amount), 0), 0), 0)
	FROM protector_internal.cancellation_terms t
	JOIN protector.payments p ON p.organization_id OPERATOR(pg_catalog.=) t.organization_id
							 AND p.booking_id OPERATOR(pg_catalog.=) t.booking_id
							 AND p.id OPERATOR(pg_catalog.=) ANY (t.refund_ids)
	WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.booking_id OPERATOR(pg_catalog.=) p_booking_id
	  AND p.status OPERATOR(pg_catalog.=) 'failed'
$$;
COMMENT ON FUNCTION protector_internal.refunds_not_by_terms(uuid, uuid, numeric, numeric) IS
'Internal: of a booking''s live refunds (p_refunded), those its cancellation terms did not make: less what the terms gave back (p_by_terms) but for their refunds that failed since';

-- A cancellation or a no-show settles what was paid (succeeded payments
-- less refunds, protector_internal.booking_refundable): the service's fee
-- is kept and the rest refunded, to the vouchers that paid first
-- (details.refund.to_vouchers, given back by return_to_vouchers,
-- sql/78_vouchers.sql), the remainder as a pending refund row; all is
-- noted in details.refund.  A hold that ends keeps no fee.  The fee:
--   cancelled: settings.cancellation_fees, [{"within_hours": h,
--     "fee_percent": f}, ...]: cancelling within h hours of the start costs
--     f percent of the total, the smallest matching h wins, none: no fee;
--     once the booking has started, at least what a no-show costs;
--     without tiers the older settings.refund_policy (full_refund_hours,
--     late_refund_percent of what was paid) applies;
--   no-show: settings.no_show_fee_percent of the total (none: no refund).
-- Off for a transaction with protector.refund_on_cancel = off.
CREATE FUNCTION protector_internal.refund_on_cancel()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- (no sequential scan for its look-ups by key: a plan made while a table
-- was empty read all of it for each row of a bulk statement, quadratic in
-- its rows; docs/operations.md, "Bulk loads and statistics")
SET enable_seqscan = off
AS $$
DECLARE
	v_settings jsonb;
	-- (EXTRACT's numeric, not date_part's float8: the tiers compare exactly)
	v_hours_left numeric := EXTRACT(EPOCH FROM pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.-) pg_catalog.now())
							OPERATOR(pg_catalog./) 3600;
	v_fee_percent numeric;
	v_tiers jsonb;				-- the cancellation fee tiers protector can read
	v_full_hours numeric;
	v_percent numeric;
	v_paid numeric;
	v_fee numeric;
	v_refund numeric := 0;
	v_to_vouchers numeric := 0;
	v_paid_all numeric;
	v_refunded numeric;
	v_before numeric;	-- what an earlier cancellation's terms gave back
	v_shown_percent numeric;
	v_refund_id uuid;
BEGIN
	-- (staff's choice, or a trusted caller's: refund_skipped)
	IF protector_internal.refund_skipped(NEW.organization_id) THEN
		-- nothing refunded by choice, now and for money arriving later
		DELETE FROM protector_internal.cancellation_terms t
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND t.booking_id OPERATOR(pg_catalog.=) NEW.id;
		NEW.details := NEW.details OPERATOR(pg_catalog.-) 'refund'::text;
		RETURN NEW;
	END IF;
	SELECT s.settings INTO v_settings FROM protector.services s WHERE s.id OPERATOR(pg_catalog.=) NEW.service_id;
	-- (the ledger as it is: a refund that failed, or a payment deleted,
	-- after this transaction's snapshot changes what comes back, and a
	-- refund of nothing records no row that would notice: 40001)
	PERFORM protector_internal.retry_if_ledger_unseen(NEW.id);
	SELECT l.paid, l.refunded INTO v_paid_all, v_refunded
	FROM protector_internal.booking_refundable(NEW.organization_id, NEW.id) l;
	v_paid := GREATEST(v_paid_all OPERATOR(pg_catalog.-) v_refunded, 0);
	-- a booking cancelled before and un-cancelled since (service_role) is
	-- settled once in all: what those terms gave back counts
	SELECT t.refunded_by_terms INTO v_before FROM protector_internal.cancellation_terms t
	WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND t.booking_id OPERATOR(pg_catalog.=) NEW.id;
	v_before := COALESCE(v_before, 0);

	-- (a list without a tier protector can read, empty or written before
	-- settings were checked, is no fees: the refund policy's rule, not
	-- free cancellation)
	v_tiers := (SELECT pg_catalog.jsonb_agg(t)
				FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(v_settings -> 'cancellation_fees')
															   OPERATOR(pg_catalog.=) 'array'
														  THEN v_settings -> 'cancellation_fees' END) t
				WHERE pg_catalog.jsonb_typeof(t -> 'within_hours') OPERATOR(pg_catalog.=) 'number'
				  AND pg_catalog.jsonb_typeof(t -> 'fee_percent') OPERATOR(pg_catalog.=) 'number');

	-- a booking never confirmed keeps no fee: a hold, a request waiting for
	-- the desk, one waiting for its deposit (expire_holds cancels those)
	IF OLD.status OPERATOR(pg_catalog.=) ANY ('{held,pending}'::protector.booking_status[]) THEN
		v_fee_percent := 0;
	ELSIF NEW.status OPERATOR(pg_catalog.=) 'no_show' THEN
		v_fee_percent := CASE WHEN pg_catalog.jsonb_typeof(v_settings -> 'no_show_fee_percent') OPERATOR(pg_catalog.=) 'number'
							  THEN (v_settings ->> 'no_show_fee_percent')::numeric ELSE 100 END;
	ELSIF v_tiers IS NOT NULL THEN
		SELECT COALESCE((SELECT (t ->> 'fee_percent')::numeric
						 FROM pg_catalog.jsonb_array_elements(v_tiers) t
						 -- (a window stored before settings were checked is
						 -- held to what they take, at most a year: a review)
						 WHERE v_hours_left OPERATOR(pg_catalog.<) protector_internal.setting_number(t -> 'within_hours', 0, 0, 8760)
						 -- (tiers of one window, stored before they were
						 -- refused: the highest fee, whatever their order)
						 ORDER BY protector_internal.setting_number(t -> 'within_hours', 0, 0, 8760),
								  (t ->> 'fee_percent')::numeric DESC LIMIT 1), 0)
		INTO v_fee_percent;
		-- a confirmed booking cancelled once it has started: the guest did
		-- not come, and costs what a no-show costs if that is more (a
		-- customer's own cancellation after the hour took the smallest
		-- tier's fee); one under way, whose guests came, keeps its tier
		IF v_hours_left OPERATOR(pg_catalog.<=) 0 AND OLD.status OPERATOR(pg_catalog.=) 'confirmed' THEN
			v_fee_percent := GREATEST(v_fee_percent,
				CASE WHEN pg_catalog.jsonb_typeof(v_settings -> 'no_show_fee_percent') OPERATOR(pg_catalog.=) 'number'
					 THEN (v_settings ->> 'no_show_fee_percent')::numeric ELSE 100 END);
		END IF;
	END IF;

	IF v_fee_percent IS NOT NULL THEN
		v_fee_percent := LEAST(GREATEST(v_fee_percent, 0), 100);
		v_fee := protector.round_money(NEW.total_price OPERATOR(pg_catalog.*) v_fee_percent OPERATOR(pg_catalog./) 100);
		v_refund := GREATEST(v_paid OPERATOR(pg_catalog.-) v_fee, 0);
		-- the refund as a share of what was paid, as the older policy's
		-- percent is (nothing paid: 0)
		v_percent := CASE WHEN v_paid OPERATOR(pg_catalog.>) 0
						  THEN pg_catalog.round(v_refund OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) v_paid, 2)
						  ELSE 0 END;
	ELSE
		-- the older policy: a percentage of what was paid
		v_full_hours := protector_internal.setting_number(v_settings #> '{refund_policy,full_refund_hours}', 24, 0, 8760);
		v_percent := CASE WHEN v_hours_left OPERATOR(pg_catalog.>=) v_full_hours THEN 100
						  WHEN v_hours_left OPERATOR(pg_catalog.>) 0
						  THEN protector_internal.setting_number(v_settings #> '{refund_policy,late_refund_percent}', 0, 0, 100)
						  ELSE 0 END;
		-- the percent of what was paid beyond the refunds no terms made,
		-- less what earlier terms gave back (the first time: of what was
		-- paid less every refund; the terms' live refunds are what they
		-- gave back less those that failed since)
		v_refund := LEAST(v_paid, GREATEST(protector.round_money(
			(v_paid_all OPERATOR(pg_catalog.-) protector_internal.refunds_not_by_terms(NEW.organization_id, NEW.id,
																					   v_refunded, v_before))
			OPERATOR(pg_catalog.*) v_percent OPERATOR(pg_catalog./) 100) OPERATOR(pg_catalog.-) v_before, 0));
		v_fee := NULL;
	END IF;
	-- what is reported: the refund as a share of what was paid, to two
	-- decimals, under either rule (nothing paid: 0); the terms keep the
	-- policy's own percent for money arriving later
	v_shown_percent := CASE WHEN v_paid OPERATOR(pg_catalog.>) 0
							THEN pg_catalog.round(v_refund OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) v_paid, 2)
							ELSE 0 END;
	-- (the terms first: check_payment holds the refund rows below, and a
	-- cancellation's again, to what they keep)
	INSERT INTO protector_internal.cancellation_terms AS t (organization_id, booking_id, fee, refund_percent, refunded_by_terms, kept)
	VALUES (NEW.organization_id, NEW.id, v_fee, CASE WHEN v_fee IS NULL THEN v_percent END, v_before OPERATOR(pg_catalog.+) v_refund,
			CASE WHEN v_fee IS NULL THEN v_paid OPERATOR(pg_catalog.-) v_refund END)
	ON CONFLICT (organization_id, booking_id) DO UPDATE
	SET fee = EXCLUDED.fee, refund_percent = EXCLUDED.refund_percent, refunded_by_terms = EXCLUDED.refunded_by_terms,
		kept = EXCLUDED.kept, late_paid = 0;
	-- vouchers first: what they paid and were not given back, to those
	-- that can still be spent (given back to an expired one, it could never
	-- be used: that part is the pending refund's, for the desk to pay out)
	-- (reckoned with them locked, as they are given back: one made to
	-- expire while this waited was counted live, took nothing, and the
	-- cancellation said it had; the promo code locked before them, the
	-- order of a new booking with the code paid by a voucher, whose use
	-- release_promo_use gives back after this)
	IF OLD.promo_code_id IS NOT NULL AND OLD.status OPERATOR(pg_catalog.<>) 'cancelled'
	   AND NEW.status OPERATOR(pg_catalog.=) 'cancelled' THEN	-- (a no-show keeps the code's use)
		PERFORM protector_internal.lock_promo_code(OLD.organization_id, OLD.promo_code_id);
	END IF;
	PERFORM protector_internal.lock_booking_vouchers(NEW.organization_id, NEW.id);
	v_to_vouchers := LEAST(v_refund, protector_internal.live_voucher_paid(NEW.organization_id, NEW.id));
	IF v_refund OPERATOR(pg_catalog.>) v_to_vouchers THEN
		INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status, details)
		VALUES (NEW.organization_id, NEW.id, 'refund', v_refund OPERATOR(pg_catalog.-) v_to_vouchers, NEW.currency, 'pending',
				pg_catalog.jsonb_build_object('reason', NEW.status, 'fee', v_fee, 'refund_percent', v_shown_percent))
		RETURNING id INTO v_refund_id;
		PERFORM protector_internal.note_terms_refund(NEW.organization_id, NEW.id, v_refund_id);
	END IF;
	NEW.details := NEW.details OPERATOR(pg_catalog.||)
		pg_catalog.jsonb_build_object('refund', pg_catalog.jsonb_build_object(
			'amount', v_refund, 'percent', v_shown_percent, 'fee', v_fee, 'to_vouchers', v_to_vouchers));
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.refund_on_cancel() IS
'Trigger: a cancelled or no-show booking keeps its service''s fee of what was paid and gets the rest as a pending refund (protector.refund_on_cancel)';

-- (named to run after restrict_update_columns: BEFORE triggers fire in
-- name order, and the note in details is the database's, not the caller's)
CREATE TRIGGER settle_cancellation BEFORE UPDATE OF status ON protector.bookings
	FOR EACH ROW WHEN (NEW.status IN ('cancelled', 'no_show') AND OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION protector_internal.refund_on_cancel();

-- Whether a booking of the organization holds the request key, under this
-- transaction's snapshot whoever the caller may see (as the owner): a key
-- the caller cannot see although the snapshot holds it is someone else's.
CREATE FUNCTION protector_internal.idempotency_key_taken(p_organization_id uuid, p_key text)
RETURNS boolean
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
	-- (only a signed-in customer's own keys, customer/<their id>/...: the
	-- staff who book for others see every booking, and nobody learns of a
	-- key that is not theirs)
	SELECT pg_catalog.starts_with(p_key, 'customer/' OPERATOR(pg_catalog.||) protector.current_user_id()::text OPERATOR(pg_catalog.||) '/')
		   AND EXISTS (SELECT FROM protector.bookings b
					   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
						 AND b.idempotency_key OPERATOR(pg_catalog.=) p_key)
$$;
COMMENT ON FUNCTION protector_internal.idempotency_key_taken(uuid, text) IS
'Whether a booking of the organization holds the request key, under the transaction''s snapshot, past RLS';
REVOKE ALL ON FUNCTION protector_internal.idempotency_key_taken(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.idempotency_key_taken(uuid, text) TO authenticated, service_role;

CREATE FUNCTION protector.create_booking(
	p_service_id uuid,
	p_customer_id uuid,
	p_start timestamptz,
	p_party_size integer DEFAULT 1,
	p_idempotency_key text DEFAULT NULL,
	p_details jsonb DEFAULT '{}',
	p_source protector.booking_source DEFAULT 'api',
	p_assigned_agent uuid DEFAULT NULL,
	p_hold_minutes integer DEFAULT NULL,
	p_promo_code text DEFAULT NULL,
	p_voucher_code text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_service protector.services;
	v_customer uuid := p_customer_id;
	v_status protector.booking_status := 'confirmed';
	v_key text := p_idempotency_key;
	v_range tstzrange;
	v_booking protector.bookings;
	v_constraint text;
	v_schema text;
	v_table text;
	v_state text;
BEGIN
	-- a mistyped code is refused before anything is looked up
	PERFORM protector_internal.check_code(p_promo_code, 'promo', 'p_promo_code');
	PERFORM protector_internal.check_code(p_voucher_code, 'gift', 'p_voucher_code');
	IF p_service_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_service_id must not be null');
	END IF;
	SELECT * INTO v_service FROM protector.services s WHERE s.id OPERATOR(pg_catalog.=) p_service_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found', 'It does not exist, or you may not see it.');
	END IF;
	IF p_hold_minutes IS NOT NULL THEN
		IF p_hold_minutes NOT BETWEEN 1 AND 1440 THEN
			PERFORM protector.raise('invalid_parameter', 'p_hold_minutes must be between 1 and 1440',
				pg_catalog.format('Got %s.', p_hold_minutes));
		END IF;
		v_status := 'held';
	END IF;

	IF NOT (protector_internal.caller_is_trusted()
			OR v_service.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.create'))) THEN
		-- a customer books for themselves: their record in this organization
		SELECT c.id INTO v_customer FROM protector.customers c
		WHERE c.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
		  AND c.id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids())
		ORDER BY c.id LIMIT 1;
		IF NOT FOUND THEN
			PERFORM protector_internal.authorize(v_service.organization_id, 'bookings.create', 'service');
		END IF;
		IF p_customer_id IS NOT NULL AND p_customer_id OPERATOR(pg_catalog.<>) v_customer THEN
			PERFORM protector.raise('not_found', 'customer not found',
				'p_customer_id is not a customer of the service''s organization.');
		END IF;
		IF p_assigned_agent IS NOT NULL THEN
			PERFORM protector.raise('forbidden', 'customers may not assign agents');
		END IF;
		-- staff confirm what customers book; their keys are their own
		IF v_status OPERATOR(pg_catalog.=) 'confirmed' THEN
			v_status := 'pending';
		END IF;
		IF pg_catalog.length(p_idempotency_key) NOT BETWEEN 1 AND 154 THEN
			PERFORM protector.raise('invalid_parameter', 'p_idempotency_key must be 1 to 154 characters',
				'A customer''s key is stored under customer/<their user id>/, 46 characters of the 200.');
		END IF;
		v_key := 'customer/' OPERATOR(pg_catalog.||) protector.current_user_id()::text
				 OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_idempotency_key;
	ELSIF v_customer IS NOT NULL AND NOT EXISTS (
			SELECT FROM protector.customers c
			WHERE c.id OPERATOR(pg_catalog.=) v_customer
			  AND c.organization_id OPERATOR(pg_catalog.=) v_service.organization_id) THEN
		PERFORM protector.raise('not_found', 'customer not found',
			'p_customer_id is not a customer of the service''s organization.');
	END IF;
	-- (whoever may book for others sees the staff list: bookings.create
	-- and members.read go to the same roles; else the foreign key's raw
	-- 23503 would say it.  Nested: an IF with a subquery runs a query
	-- every time, 30,000 instructions a booking without an agent.)
	IF p_assigned_agent IS NOT NULL THEN
		-- (share-locked: a member leaving or deactivated is waited for,
		-- then not found or refused; a trusted caller, also an
		-- application's function running as protector's owner, as itself
		-- where it may lock the row)
		IF NOT (CASE WHEN protector_internal.caller_is_trusted()
						   AND pg_catalog.has_any_column_privilege('protector.members', 'UPDATE')
					 THEN EXISTS (SELECT FROM protector.members m
								  WHERE m.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
									AND m.user_id OPERATOR(pg_catalog.=) p_assigned_agent
								  FOR SHARE)
					 ELSE protector_internal.lock_agent(v_service.organization_id, p_assigned_agent) END) THEN
			PERFORM protector.raise('not_found', 'agent not found',
				'p_assigned_agent is not a member of the service''s organization.',
				CASE WHEN EXISTS (SELECT FROM protector.members m
								  WHERE m.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
									AND m.id OPERATOR(pg_catalog.=) p_assigned_agent)
					 THEN 'p_assigned_agent takes the member''s user id (members.user_id), not members.id.' END);
		END IF;
	END IF;
	IF p_party_size IS NULL OR p_party_size < 1 THEN
		PERFORM protector.raise('invalid_parameter', 'p_party_size must be a positive number',
			pg_catalog.format('Got %s.', COALESCE(p_party_size::text, 'NULL')));
	END IF;
	IF p_idempotency_key IS NOT NULL AND pg_catalog.length(p_idempotency_key) NOT BETWEEN 1 AND 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_idempotency_key must be 1 to 200 characters');
	END IF;
	IF p_details IS NULL OR pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_details must be a JSON object');
	END IF;
	IF pg_catalog.octet_length(p_details::text) OPERATOR(pg_catalog.>) 65536 THEN
		PERFORM protector.raise('invalid_parameter', 'p_details is too large',
			pg_catalog.format('It takes %s bytes as text; at most 65536 are accepted.', pg_catalog.octet_length(p_details::text)));
	END IF;

	-- a retried request answers with the booking it made the first time
	IF v_key IS NOT NULL THEN
		SELECT * INTO v_booking FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
		  AND b.idempotency_key OPERATOR(pg_catalog.=) v_key;
		IF FOUND THEN
			RETURN protector_internal.booking_shape(v_booking, true);
		END IF;
	END IF;
	v_range := protector.validate_slot(v_service.id, p_start, p_party_size);
	-- (booking_total() refuses a total above the largest amount by name)
	PERFORM protector.booking_total(v_service.price, v_service.price_per_person, p_party_size);
	-- the promo code is looked up, checked, used and its discount taken off
	-- by apply_promo_code() (sql/78_vouchers.sql), which the insert's
	-- trigger prepare_booking calls; it reads the code from this setting,
	-- for this insert only
	PERFORM pg_catalog.set_config('protector.promo_code', COALESCE(p_promo_code, ''), true);
	BEGIN
		INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during,
			party_size, status, source, hold_expires_at, idempotency_key, currency, unit_price,
			total_price, assigned_agent, details)
		VALUES (v_service.organization_id, v_service.venue_id, v_service.id, v_customer, v_range,
			-- (a hold lasts its minutes from the insert's start, clock_now,
			-- once it has the table's lock: from the transaction's start, a
			-- script's long transaction or a prepared one stored a hold over
			-- before it was made; from the call's start, a wait for the
			-- table's lock did; its triggers' waits for the service's lock
			-- and the customer's record, each bounded by lock_timeout, still
			-- count against it; clock reviews; asked of holds alone: a call
			-- of clock_now costs a booking some 65,000 instructions)
			p_party_size, v_status, COALESCE(p_source, 'api'),
			CASE WHEN p_hold_minutes IS NOT NULL
				 THEN protector_internal.clock_now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(mins => p_hold_minutes) END,
			v_key, v_service.currency, v_service.price,
			protector.booking_total(v_service.price, v_service.price_per_person, p_party_size),
			p_assigned_agent, p_details)
		RETURNING * INTO v_booking;
		PERFORM pg_catalog.set_config('protector.promo_code', '', true);
	EXCEPTION WHEN foreign_key_violation THEN
		-- the customer or the service, found above, deleted before this
		-- insert's foreign key looked (as found missing above, by name)
		GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
		PERFORM pg_catalog.set_config('protector.promo_code', '', true);
		IF pg_catalog.concat_ws('.', v_schema, v_table, v_constraint) OPERATOR(pg_catalog.=) 'protector.bookings.bookings_organization_id_customer_id_fkey' THEN
			-- (the public widget found the guest record before its deletion
			-- committed: a retry, and nothing of the record, as for a merge
			-- or an erasure (refuse_booking_customer); "not found" told an
			-- anonymous caller the address had been a guest's)
			IF p_source OPERATOR(pg_catalog.=) 'widget' THEN
				PERFORM protector.raise('retry', 'the guest record changed while the booking was made',
					NULL, 'Retry the request.');
			END IF;
			PERFORM protector.raise('not_found', 'customer not found', 'It was deleted while the booking was being made.');
		ELSIF pg_catalog.concat_ws('.', v_schema, v_table, v_constraint) OPERATOR(pg_catalog.=) ANY (ARRAY[
				'protector.bookings.bookings_organization_id_venue_id_service_id_fkey',
				-- (its organization deleted meanwhile: a bare 23503 named the
				-- organization's id, also to the widget's anonymous caller)
				'protector.bookings.bookings_organization_id_fkey']) THEN
			PERFORM protector.raise('not_found', 'service not found', 'It was deleted, or moved to another venue, while the booking was being made.');
		END IF;
		RAISE;
	WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_schema = SCHEMA_NAME, v_table = TABLE_NAME,
			v_constraint = CONSTRAINT_NAME;
		PERFORM pg_catalog.set_config('protector.promo_code', '', true);
		-- the same request raced this one and committed first: its booking
		-- is the answer, whether the unique index on the key refused this
		-- insert or a check the first request's locks made refuse it before
		-- (the promo code's last use, the customer's open requests, the
		-- slot: a client told "used up" re-booked without the code), as the
		-- widget answers
		IF v_key IS NOT NULL THEN
			SELECT * INTO v_booking FROM protector.bookings b
			WHERE b.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
			  AND b.idempotency_key OPERATOR(pg_catalog.=) v_key;
			IF FOUND THEN
				RETURN protector_internal.booking_shape(v_booking, true);
			END IF;
			IF v_state OPERATOR(pg_catalog.=) '23505' AND pg_catalog.concat_ws('.', v_schema, v_table, v_constraint)
					OPERATOR(pg_catalog.=) 'protector.bookings.bookings_idempotency_key_idx' THEN
				-- (the key's booking is there, but not the caller's to see:
				-- it was handed to another customer since, and a retry would
				-- get this answer for ever; or not yet in this snapshot)
				IF protector_internal.idempotency_key_taken(v_service.organization_id, v_key) THEN
					PERFORM protector.raise('conflict', 'this request key belongs to another booking',
						'The booking made with it is no longer one you may see (it was handed to another customer).',
						'Send the booking again with a new p_idempotency_key.');
				END IF;
				PERFORM protector.raise('retry', 'a request with the same idempotency key was committed concurrently',
					'This transaction''s snapshot cannot see it yet.', 'Retry the request.');
			END IF;
		END IF;
		-- (anything else, another unique key too, a table an application's
		-- trigger writes, its index maybe of the same name, says what it says)
		RAISE;
	END;
	-- (a booking that costs nothing, a 100% code's, spends no voucher)
	IF p_voucher_code IS NOT NULL AND v_booking.balance_due OPERATOR(pg_catalog.>) 0 THEN
		PERFORM protector.redeem_voucher(v_booking.id, p_voucher_code);
		SELECT * INTO v_booking FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) v_booking.organization_id AND b.id OPERATOR(pg_catalog.=) v_booking.id;
	END IF;
	RETURN protector_internal.booking_shape(v_booking, false);
END
$$;
COMMENT ON FUNCTION protector.create_booking(uuid, uuid, timestamptz, integer, text, jsonb,
											 protector.booking_source, uuid, integer, text, text) IS
'Books a slot (with p_hold_minutes: holds it): validates, prices from the service less a promo code''s discount, pays from a gift voucher, returns the booking; the same idempotency key returns the first booking';

CREATE FUNCTION protector.hold_slot(
	p_service_id uuid,
	p_customer_id uuid,
	p_start timestamptz,
	p_party_size integer DEFAULT 1,
	p_hold_minutes integer DEFAULT 10,
	p_idempotency_key text DEFAULT NULL,
	p_details jsonb DEFAULT '{}',
	p_source protector.booking_source DEFAULT 'api',
	p_promo_code text DEFAULT NULL,
	p_voucher_code text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_hold_minutes IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_hold_minutes must be between 1 and 1440', 'Got NULL.');
	END IF;
	RETURN protector.create_booking(p_service_id, p_customer_id, p_start, p_party_size, p_idempotency_key,
									p_details, p_source, NULL, p_hold_minutes, p_promo_code, p_voucher_code);
END
$$;
COMMENT ON FUNCTION protector.hold_slot(uuid, uuid, timestamptz, integer, integer, text, jsonb,
										protector.booking_source, text, text) IS
'Holds a slot (status held) for p_hold_minutes; it occupies capacity until confirmed or expired';

CREATE FUNCTION protector.confirm_booking(p_booking_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_staff boolean;
BEGIN
	PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'bookings.confirm', 'booking', true, true);
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	IF v_booking.status OPERATOR(pg_catalog.=) 'confirmed' THEN
		RETURN protector_internal.booking_shape(v_booking);
	END IF;
	v_staff := protector_internal.caller_is_trusted()
			   OR v_booking.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.confirm'));
	IF v_booking.status OPERATOR(pg_catalog.<>) 'held'
	   AND NOT (v_booking.status OPERATOR(pg_catalog.=) 'pending' AND v_staff) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s booking cannot be confirmed%s', protector_internal.status_with_article(v_booking.status),
				CASE WHEN v_booking.status OPERATOR(pg_catalog.=) 'pending' THEN ' by its customer' ELSE '' END),
			NULL, 'Only held bookings (and, by staff, pending ones) can be confirmed.');
	END IF;
	-- an expired hold is re-checked by the reservation trigger: it is
	-- confirmed only if its slot is still free
	UPDATE protector.bookings b SET status = 'confirmed', hold_expires_at = NULL
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;
	RETURN protector_internal.booking_shape(v_booking);
END
$$;
COMMENT ON FUNCTION protector.confirm_booking(uuid) IS
'Turns a held booking (or, for staff, a pending one) into a confirmed booking';

CREATE FUNCTION protector.reschedule_booking(p_booking_id uuid, p_new_start timestamptz,
											 p_new_service_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_service protector.services;
	v_range tstzrange;
BEGIN
	PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'bookings.reschedule', 'booking', true);
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	-- (a booking that has started keeps its start, which is past: it is
	-- corrected by a direct update, its service or its times within the
	-- past, as bookings.md says; a settled one is booked anew)
	IF v_booking.status OPERATOR(pg_catalog.<>) ALL ('{held,pending,confirmed}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s booking cannot be rescheduled', protector_internal.status_with_article(v_booking.status)),
			pg_catalog.format('Booking %s is %s; reschedule_booking moves held, pending and confirmed bookings to a time still to come.',
							  v_booking.id, v_booking.status),
			CASE WHEN v_booking.status OPERATOR(pg_catalog.=) ANY ('{cancelled,no_show}'::protector.booking_status[])
				 THEN 'Book the new time instead.'
				 ELSE 'A booking that has started is corrected by updating its row: its service, or its times within the past.' END);
	END IF;
	-- an expired hold occupies nothing, here or at a new time: moved, it
	-- would meet no booking there and be refused only when confirmed
	IF v_booking.status OPERATOR(pg_catalog.=) 'held' AND v_booking.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'the hold has expired',
			pg_catalog.format('Booking %s was held until %s.', v_booking.id, protector_internal.iso_text(v_booking.hold_expires_at)),
			'Hold the new time instead (hold_slot).');
	END IF;
	SELECT * INTO v_service FROM protector.services s
	WHERE s.id OPERATOR(pg_catalog.=) COALESCE(p_new_service_id, v_booking.service_id)
	  AND s.organization_id OPERATOR(pg_catalog.=) v_booking.organization_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found',
			'p_new_service_id is not a service of the booking''s organization.');
	END IF;
	v_range := protector_internal.check_slot(v_service.id, p_new_start, v_booking.party_size, 'p_new_start');
	-- a move to where it is changes nothing, as confirming a confirmed
	-- booking: the row was written again and announced as a change the
	-- audit log did not see (a retried move, an attack review)
	IF v_range OPERATOR(pg_catalog.=) v_booking.during AND v_service.id OPERATOR(pg_catalog.=) v_booking.service_id THEN
		RETURN protector_internal.booking_shape(v_booking);
	END IF;
	-- its promo code's row before the services' locks, the order of a new
	-- booking with the code (the move may give the code's use back: the
	-- code's row written under the services' locks deadlocked with it)
	PERFORM protector_internal.lock_booking_promo_code(p_booking_id);
	-- both services' locks, in sorted order: no deadlock with a reschedule the other way
	PERFORM protector.lock_services(ARRAY[v_booking.service_id, v_service.id]);
	-- one statement: if the new slot is taken it fails and the booking
	-- keeps its slot; another service prices it again (set_booking_price)
	UPDATE protector.bookings b
	SET during = v_range, service_id = v_service.id, venue_id = v_service.venue_id
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;
	RETURN protector_internal.booking_shape(v_booking);
END
$$;
COMMENT ON FUNCTION protector.reschedule_booking(uuid, timestamptz, uuid) IS
'Moves a booking to a new start (optionally another service) atomically: if the new slot is taken the booking keeps its old one';

CREATE FUNCTION protector.cancel_booking(p_booking_id uuid, p_reason text DEFAULT NULL,
										 p_issue_refund boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_refunds boolean := protector_internal.refunds_on_cancel();
BEGIN
	PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'bookings.cancel', 'booking', true, true);
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	IF pg_catalog.length(p_reason) > 2000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_reason must be at most 2000 characters');
	END IF;
	-- (shown to staff as written: line breaks and tabs, as in a message,
	-- but no control or invisible direction characters)
	IF NOT protector_internal.lines_are_clean(p_reason) THEN
		PERFORM protector.raise('invalid_parameter', 'p_reason holds control or invisible direction characters');
	END IF;
	IF v_booking.status OPERATOR(pg_catalog.=) 'cancelled' THEN
		-- a retried cancellation: no second refund
		RETURN protector_internal.booking_shape(v_booking) OPERATOR(pg_catalog.||)
			'{"already_cancelled": true, "refund_amount": 0.00, "refund_percent": 0.00, "refund_to_vouchers": 0.00, "cancellation_fee": null}'::jsonb;
	END IF;
	IF v_booking.status OPERATOR(pg_catalog.=) ANY ('{completed,no_show}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a %s booking cannot be cancelled', v_booking.status));
	END IF;
	-- the refund is the trigger refund_on_cancel's, by the service's policy
	PERFORM pg_catalog.set_config('protector.refund_on_cancel',
								  CASE WHEN p_issue_refund IS NOT FALSE THEN 'on' ELSE 'off' END, true);
	UPDATE protector.bookings b
	SET status = 'cancelled', cancelled_at = pg_catalog.now(), cancellation_reason = p_reason
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;
	PERFORM pg_catalog.set_config('protector.refund_on_cancel', CASE WHEN v_refunds THEN 'on' ELSE 'off' END, true);
	-- as the triggers after the update left it (vouchers given back)
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	-- (amounts with two decimals, as the booking's own: nothing paid was 0,
	-- a full fee 0.00)
	RETURN protector_internal.booking_shape(v_booking) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
		'already_cancelled', false,
		'refund_amount', pg_catalog.round(COALESCE((v_booking.details #>> '{refund,amount}')::numeric, 0), 2),
		'refund_percent', pg_catalog.round(COALESCE((v_booking.details #>> '{refund,percent}')::numeric, 0), 2),
		'refund_to_vouchers', pg_catalog.round(COALESCE((v_booking.details #>> '{refund,to_vouchers}')::numeric, 0), 2),
		'cancellation_fee', pg_catalog.round((v_booking.details #>> '{refund,fee}')::numeric, 2));
END
$$;
COMMENT ON FUNCTION protector.cancel_booking(uuid, text, boolean) IS
'Cancels a booking, frees its slot, keeps the service''s cancellation fee and records the rest of what was paid as a refund; a repeated cancel refunds nothing more';

-- The bookings of p_ids the caller does not see (RLS decides: none, or
-- not theirs), refused by id: "<p_detail>: <ids>."  For a batch of the
-- caller's.
CREATE FUNCTION protector_internal.refuse_unseen_bookings(p_ids uuid[], p_detail text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_missing uuid[] := ARRAY(SELECT x FROM pg_catalog.unnest(p_ids) x
							  WHERE NOT EXISTS (SELECT FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) x));
BEGIN
	IF pg_catalog.cardinality(v_missing) OPERATOR(pg_catalog.>) 0 THEN
		PERFORM protector.raise('not_found', 'some bookings were not found',
			pg_catalog.format('%s: %s.', p_detail, pg_catalog.array_to_string(v_missing, ', ')));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_unseen_bookings(uuid[], text) IS
'Internal: refuses (P0002) the bookings of p_ids the caller does not see, listing their ids after p_detail';
GRANT EXECUTE ON FUNCTION protector_internal.refuse_unseen_bookings(uuid[], text) TO authenticated, service_role;

CREATE FUNCTION protector.update_booking_status_batch(p_booking_ids uuid[], p_status protector.booking_status)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[];
	v_bad text;
	v_locked integer;
	v_updated integer;
	v_statuses jsonb;
BEGIN
	IF p_booking_ids IS NULL OR p_status IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids and p_status must not be null');
	END IF;
	IF pg_catalog.array_ndims(p_booking_ids) OPERATOR(pg_catalog.>) 1 THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must be a list of ids',
			pg_catalog.format('Got an array of %s dimensions.', pg_catalog.array_ndims(p_booking_ids)));
	END IF;
	IF pg_catalog.array_position(p_booking_ids, NULL) IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must not contain NULL');
	END IF;
	-- (a list far beyond the limit is refused before it is sorted: a
	-- million ids cost seconds to tell apart)
	IF pg_catalog.cardinality(p_booking_ids) OPERATOR(pg_catalog.>) 10000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must hold 1 to 1000 ids',
			pg_catalog.format('Got %s entries.', pg_catalog.cardinality(p_booking_ids)));
	END IF;
	v_ids := ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(p_booking_ids) x ORDER BY x);
	IF pg_catalog.cardinality(v_ids) NOT BETWEEN 1 AND 1000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must hold 1 to 1000 ids',
			pg_catalog.format('Got %s.', pg_catalog.cardinality(v_ids)));
	END IF;

	-- every booking must be visible to the caller (RLS decides)
	PERFORM protector_internal.refuse_unseen_bookings(v_ids, 'Not found or not visible');
	-- and updatable by the caller: lock them, in id order, the wait
	-- bounded by protector.lock_timeout as a single booking's RPCs bound it
	v_locked := protector_internal.lock_bookings(v_ids);
	IF v_locked OPERATOR(pg_catalog.<>) pg_catalog.cardinality(v_ids) THEN
		-- (one deleted while the lock waited, as with its organization, or
		-- given to another agent, is not found or not visible now, as
		-- above; the rest the caller may not update)
		PERFORM protector_internal.refuse_unseen_bookings(v_ids, 'Not found or no longer visible once this waited for them');
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

	-- statuses that occupy may need capacity: take the services' locks
	-- first, all of them in key order (any number of services; the bookings'
	-- row locks, taken above under RLS, prove the caller's access, a
	-- customer's to their own holds included), so two batches never wait
	-- for each other in a cycle; the wait is bounded as a booking's is
	-- (protector.lock_timeout: a retryable 40001)
	IF p_status OPERATOR(pg_catalog.<>) ALL ('{cancelled,no_show}'::protector.booking_status[]) THEN
		-- (in C: the stricter of protector.lock_timeout and a lock_timeout
		-- the caller set, 40001 "the service is busy" when it runs out)
		PERFORM protector_internal.lock_booking_services(v_ids);
	END IF;
	-- a cancellation gives the bookings' promo codes their uses back and
	-- their vouchers their money (a no-show the money), each row locked by
	-- the booking's triggers in the order of the bookings: two batches
	-- meeting two codes or vouchers in opposite orders deadlocked (40P01).
	-- Their rows first, in id order, codes before vouchers (a new booking
	-- takes its code, then its service, then the voucher it is paid with;
	-- no batch that takes services cancels)
	IF p_status OPERATOR(pg_catalog.=) ANY ('{cancelled,no_show}'::protector.booking_status[]) THEN
		PERFORM protector_internal.lock_give_backs(v_ids, p_status OPERATOR(pg_catalog.=) 'cancelled');
	END IF;

	-- what each booking became: a confirmation that waits for its deposit
	-- is pending (wait_for_deposit), which the answer says
	WITH u AS (
		UPDATE protector.bookings b
		SET status = p_status,
			cancelled_at = CASE WHEN p_status OPERATOR(pg_catalog.=) 'cancelled' THEN pg_catalog.now() ELSE b.cancelled_at END,
			-- (a hold confirmed waits no more, as confirm_booking writes it)
			hold_expires_at = CASE WHEN p_status OPERATOR(pg_catalog.=) ANY ('{pending,confirmed}'::protector.booking_status[])
								   THEN NULL ELSE b.hold_expires_at END
		WHERE b.id OPERATOR(pg_catalog.=) ANY (v_ids) AND b.status OPERATOR(pg_catalog.<>) p_status
		RETURNING b.status)
	SELECT COALESCE(pg_catalog.sum(x.n), 0)::integer, COALESCE(pg_catalog.jsonb_object_agg(x.status, x.n), '{}')
	INTO v_updated, v_statuses
	FROM (SELECT u.status::text AS status, pg_catalog.count(*) AS n FROM u GROUP BY 1) x;

	RETURN pg_catalog.jsonb_build_object('updated', v_updated,
		'unchanged', pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.-) v_updated,
		'status', p_status, 'statuses', v_statuses);
END
$$;
COMMENT ON FUNCTION protector.update_booking_status_batch(uuid[], protector.booking_status) IS
'Moves several bookings to a status along the state machine, all or nothing, as the caller (RLS applies)';
