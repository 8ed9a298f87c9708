\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/84_messages.sql: one message thread per booking between the
-- organization and its customer (docs/messages.md).
--
-- Staff who may see the booking (the desk; an agent only on the bookings
-- assigned to them) and the customer who owns it read and write; anon
-- never.  A message is written once: only its read receipt changes, set by
-- the other side (mark_messages_read).  Bodies are 1 to 4000 characters of
-- text without control characters (line breaks and tabs aside); the audit
-- log records messages without their bodies.  Live delivery: the
-- organization's LISTEN channel (ids only, sql/85_realtime.sql) and, with
-- Supabase Realtime, Broadcast on the organization's private topic
-- (without the body) and on the customer's own private topic
-- protector:customer:<auth user id> (with it), which only they may
-- subscribe to (a policy on realtime.messages).

CREATE TABLE protector.booking_messages (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	booking_id		uuid NOT NULL,
	-- staff or customer, and the auth user who wrote it (the database's)
	sender_kind		text NOT NULL CHECK (sender_kind IN ('staff', 'customer')),
	sender_user_id	uuid,
	-- the booking's customer when it was written: whose thread it is (a
	-- booking moved to another customer does not hand them the earlier
	-- messages)
	customer_id		uuid,
	body			text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
	-- when the other side read it
	read_at			timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, booking_id) REFERENCES protector.bookings (organization_id, id) ON DELETE CASCADE,
	FOREIGN KEY (organization_id, customer_id)
		REFERENCES protector.customers (organization_id, id) ON DELETE SET NULL (customer_id)
);
CREATE INDEX booking_messages_booking_idx ON protector.booking_messages (organization_id, booking_id, created_at);
CREATE INDEX booking_messages_customer_idx ON protector.booking_messages (organization_id, customer_id);
-- a member's replies in a period (median_response_minutes, staff reports)
CREATE INDEX booking_messages_sender_idx ON protector.booking_messages (organization_id, sender_user_id, created_at)
	WHERE sender_kind = 'staff';
COMMENT ON TABLE protector.booking_messages IS
'Messages between an organization and the customer of a booking, one thread per booking (docs/messages.md)';

-- a booking the caller may message about as staff: the desk's, an agent's own
CREATE FUNCTION protector_internal.staff_may_message(p_organization_id uuid, p_booking_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('messages.read'))
		   OR (p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('messages.send'))
			   AND EXISTS (SELECT FROM protector.bookings b
						   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
							 AND b.id OPERATOR(pg_catalog.=) p_booking_id
							 AND b.assigned_agent OPERATOR(pg_catalog.=) protector.current_user_id()));
END
$$;
COMMENT ON FUNCTION protector_internal.staff_may_message(uuid, uuid) IS
'True when the caller reads and writes a booking''s thread as staff: the map''s messages.read, or messages.send on a booking assigned to them';

-- a booking of the caller's own customer records
CREATE FUNCTION protector_internal.customer_owns_booking(p_organization_id uuid, p_booking_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN EXISTS (SELECT FROM protector.bookings b
				   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.id OPERATOR(pg_catalog.=) p_booking_id
					 AND b.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()));
END
$$;
COMMENT ON FUNCTION protector_internal.customer_owns_booking(uuid, uuid) IS
'True when the booking is of one of the caller''s own customer records';

-- The side of a booking's thread the caller reads it from: 'staff' (the
-- map's messages.read, or messages.send on a booking assigned to them) or
-- 'customer' (the booking's own).  Whoever else sees the booking (finance,
-- viewers) is refused, not shown an empty thread it cannot tell from none.
CREATE FUNCTION protector_internal.thread_side(p_organization_id uuid, p_booking_id uuid)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (on a booking of their own a member is its customer, as they sign
	-- its waivers: an agent's question to the desk about their own
	-- booking was a staff message the desk never had to answer)
	IF protector_internal.caller_is_trusted() THEN
		RETURN 'staff';
	ELSIF protector_internal.customer_owns_booking(p_organization_id, p_booking_id) THEN
		RETURN 'customer';
	ELSIF protector_internal.staff_may_message(p_organization_id, p_booking_id) THEN
		RETURN 'staff';
	END IF;
	PERFORM protector.raise('forbidden', 'your role may not read this booking''s messages',
		'The thread is for the desk, the booking''s agent and its customer (messages.read, messages.send).');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.thread_side(uuid, uuid) IS
'The caller''s side of a booking''s thread (staff or customer); 42501 for anyone else who sees the booking';

ALTER TABLE protector.booking_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.booking_messages FORCE ROW LEVEL SECURITY;
-- (written as bookings_select is: uncorrelated subqueries, run once per
-- statement, not per row)
CREATE POLICY booking_messages_select ON protector.booking_messages FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('messages.read'))::uuid[])
		   OR booking_id IN (SELECT b.id FROM protector.bookings b
							 WHERE b.assigned_agent = (SELECT protector.current_user_id())
							   AND b.organization_id = ANY ((SELECT protector_internal.orgs_with('messages.send'))::uuid[]))
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[]));
CREATE POLICY booking_messages_insert ON protector.booking_messages FOR INSERT TO authenticated
	WITH CHECK ((sender_kind = 'staff'
				 AND organization_id = ANY ((SELECT protector_internal.orgs_with('messages.send'))::uuid[])
				 AND (organization_id = ANY ((SELECT protector_internal.orgs_with('messages.read'))::uuid[])
					  OR booking_id IN (SELECT b.id FROM protector.bookings b
										WHERE b.assigned_agent = (SELECT protector.current_user_id()))))
				OR (sender_kind = 'customer' AND customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])));
-- read receipts only, through mark_messages_read (guard_message checks the side)
CREATE POLICY booking_messages_update ON protector.booking_messages FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('messages.read'))::uuid[])
		   OR booking_id IN (SELECT b.id FROM protector.bookings b
							 WHERE b.assigned_agent = (SELECT protector.current_user_id())
							   AND b.organization_id = ANY ((SELECT protector_internal.orgs_with('messages.send'))::uuid[]))
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[]));
SELECT pg_catalog.pg_extension_config_dump('protector.booking_messages', '');

-- One customer cannot flood a thread: at most
-- settings.customers.messages_per_hour (default 20) messages of the
-- booking's customer in its thread in the last hour (a customer the
-- booking had before wrote a thread of their own, which the new one does
-- not see and is not held to), and three times that across all their
-- threads in the organization (a customer who booked and cancelled in a
-- loop got a fresh thread, and twenty messages, each time).  Counted
-- under a lock of the customer's (class id 1886547723), so that messages
-- at the same moment count each other, and as the owner: every such
-- message, whatever the caller sees.  For the booking's own customer.
CREATE FUNCTION protector_internal.check_customer_message_rate(p_organization_id uuid, p_booking_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit integer;
	v_recent bigint;
	v_customer uuid;
BEGIN
	SELECT b.customer_id INTO v_customer FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.id OPERATOR(pg_catalog.=) p_booking_id
	  AND b.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids());
	-- (a booking not theirs, or theirs no more: given to another customer
	-- since send_message found it theirs, told as afterwards)
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It is not a booking of yours.');
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(protector_internal.lock_key(1886547723, v_customer));
	-- (the customer's messages only: a reply of staff's since the snapshot
	-- changes nothing here)
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.booking_messages m WHERE m.customer_id OPERATOR(pg_catalog.=) $1'
		' AND m.sender_kind OPERATOR(pg_catalog.=) ''customer''',
		v_customer, 'a message of this customer was written concurrently', NULL);
	SELECT protector_internal.setting_number(o.settings #> '{customers,messages_per_hour}', 20, 1, 1000)::integer INTO v_limit
	FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id;
	SELECT pg_catalog.count(*) INTO v_recent FROM protector.booking_messages m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.booking_id OPERATOR(pg_catalog.=) p_booking_id
	  AND m.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 hour')
	  AND m.sender_kind OPERATOR(pg_catalog.=) 'customer' AND m.customer_id OPERATOR(pg_catalog.=) v_customer;
	IF v_recent OPERATOR(pg_catalog.>=) COALESCE(v_limit, 20) THEN
		PERFORM protector.raise('rate_limited', 'too many messages in this thread; try again later',
			pg_catalog.format('The organization takes at most %s messages of a customer in one booking''s thread per hour.',
				COALESCE(v_limit, 20)),
			'Wait for a reply, or call the organization.');
	END IF;
	SELECT pg_catalog.count(*) INTO v_recent FROM protector.booking_messages m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.customer_id OPERATOR(pg_catalog.=) v_customer
	  AND m.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 hour')
	  AND m.sender_kind OPERATOR(pg_catalog.=) 'customer';
	IF v_recent OPERATOR(pg_catalog.>=) (3 OPERATOR(pg_catalog.*) COALESCE(v_limit, 20)) THEN
		PERFORM protector.raise('rate_limited', 'too many messages; try again later',
			pg_catalog.format('The organization takes at most %s messages of a customer per hour across their bookings.',
				3 OPERATOR(pg_catalog.*) COALESCE(v_limit, 20)),
			'Wait for a reply, or call the organization.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_customer_message_rate(uuid, uuid) IS
'A customer''s new message: 53400 beyond settings.customers.messages_per_hour (default 20) customer messages in the thread in the last hour, or three times that across the customer''s threads';
GRANT EXECUTE ON FUNCTION protector_internal.check_customer_message_rate(uuid, uuid) TO authenticated, service_role;

-- A new message as the database records it: written by the caller, now,
-- unread, its body checked.
CREATE FUNCTION protector_internal.prepare_message()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- trimmed of every kind of space: one of only spaces is no message
	NEW.body := protector_internal.trim_spaces(NEW.body);
	IF NEW.body IS NULL OR pg_catalog.length(NEW.body) NOT BETWEEN 1 AND 4000 THEN
		PERFORM protector.raise('invalid_parameter', 'a message is 1 to 4000 characters',
			pg_catalog.format('Got %s characters.', COALESCE(pg_catalog.length(NEW.body), 0)));
	END IF;
	-- (and shows something: a combining mark alone was a message: a review)
	IF NOT protector_internal.renders_visible(NEW.body) THEN
		PERFORM protector.raise('invalid_parameter', 'a message must hold a visible character');
	END IF;
	IF NOT protector_internal.lines_are_clean(NEW.body) THEN
		PERFORM protector.raise('invalid_parameter', 'a message holds control or invisible direction characters',
			NULL, 'Plain text with line breaks and tabs is accepted.');
	END IF;
	-- (a member on a booking of their own writes as its customer, as
	-- send_message does: a staff message written directly was the
	-- question the desk never had to answer, and skipped the rate)
	IF NEW.sender_kind OPERATOR(pg_catalog.=) 'staff' AND NOT protector_internal.caller_is_trusted()
	   AND protector_internal.customer_owns_booking(NEW.organization_id, NEW.booking_id) THEN
		PERFORM protector.raise('invalid_parameter', 'on a booking of your own you write as its customer',
			NULL, 'Write sender_kind customer, or use send_message.');
	END IF;
	-- (staff who see the booking and write a customer's message on it,
	-- not being its customer, are told so, not "booking not found", which
	-- the rate's check says to a customer whose booking was handed over)
	IF NEW.sender_kind OPERATOR(pg_catalog.=) 'customer' AND NOT protector_internal.caller_is_trusted()
	   AND NOT protector_internal.customer_owns_booking(NEW.organization_id, NEW.booking_id)
	   AND EXISTS (SELECT FROM protector.bookings b
				   WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id) THEN
		IF protector_internal.staff_may_message(NEW.organization_id, NEW.booking_id) THEN
			PERFORM protector.raise('forbidden', 'you write on this booking as staff',
				'Its customer writes the customer''s messages.', 'Write sender_kind staff, or use send_message.');
		END IF;
		PERFORM protector.raise('forbidden', 'your role may not message customers',
			'The action messages.send is for the desk, and for agents on the bookings assigned to them.');
	END IF;
	-- (a customer's: at most so many an hour, check_customer_message_rate)
	IF NEW.sender_kind OPERATOR(pg_catalog.=) 'customer' AND NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector_internal.check_customer_message_rate(NEW.organization_id, NEW.booking_id);
	END IF;
	NEW.sender_user_id := protector.current_user_id();
	-- the thread's customer now (the booking as the caller sees it)
	SELECT b.customer_id INTO NEW.customer_id FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id;
	-- (a customer's booking given to another customer while the rate's
	-- lock was awaited is theirs no more: told as afterwards, not by the
	-- policy's bare 42501; found by a chaos run)
	IF NEW.sender_kind OPERATOR(pg_catalog.=) 'customer' AND NOT protector_internal.caller_is_trusted()
	   AND NOT COALESCE(NEW.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()), false) THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It was given to another customer while the message was written.');
	END IF;
	NEW.read_at := NULL;
	NEW.created_at := pg_catalog.now();
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.prepare_message() IS
'Trigger (BEFORE INSERT): a message is the caller''s, now, unread, with a clean body of 1 to 4000 characters';
CREATE TRIGGER prepare_message BEFORE INSERT ON protector.booking_messages
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.booking_messages'))
	EXECUTE FUNCTION protector_internal.prepare_message();

-- Only the read receipt of a message changes: once, to now, by the other
-- side (staff read the customer's, the customer staff's); to the
-- message's own time when that is later (a transaction begun before the
-- message was written, which its now() is, reads it once committed: a
-- receipt dated before the message it marks).  An erasure of
-- the customer (sql/97_lifecycle.sql) replaces the bodies of their thread.
CREATE FUNCTION protector_internal.guard_message()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.body OPERATOR(pg_catalog.=) '[erased]' AND protector_internal.caller_is_trusted()
	   AND (NEW.id, NEW.organization_id, NEW.booking_id, NEW.sender_kind, NEW.created_at, NEW.read_at)
		   IS NOT DISTINCT FROM (OLD.id, OLD.organization_id, OLD.booking_id, OLD.sender_kind, OLD.created_at, OLD.read_at) THEN
		RETURN NEW;
	END IF;
	-- an erasure takes an erased account off a message it sent, also one
	-- of a thread a merge moved to another record (as the owner:
	-- scrub_customer_rows), the body staying
	IF NEW.sender_user_id IS NULL AND OLD.sender_user_id IS NOT NULL AND protector_internal.caller_is_trusted()
	   AND (NEW.id, NEW.organization_id, NEW.booking_id, NEW.sender_kind, NEW.customer_id, NEW.body, NEW.created_at, NEW.read_at)
		   IS NOT DISTINCT FROM (OLD.id, OLD.organization_id, OLD.booking_id, OLD.sender_kind, OLD.customer_id, OLD.body,
								 OLD.created_at, OLD.read_at) THEN
		RETURN NEW;
	END IF;
	-- a merge of customer records moves the messages with the rest (as the
	-- owner: merge_customers' mark_merged); nobody else hands a thread to
	-- another customer
	IF NEW.customer_id IS DISTINCT FROM OLD.customer_id
	   AND (NEW.id, NEW.organization_id, NEW.booking_id, NEW.sender_kind, NEW.sender_user_id, NEW.body, NEW.created_at, NEW.read_at)
		   IS NOT DISTINCT FROM (OLD.id, OLD.organization_id, OLD.booking_id, OLD.sender_kind, OLD.sender_user_id, OLD.body,
								 OLD.created_at, OLD.read_at)
	   AND protector_internal.caller_is_trusted() THEN
		RETURN NEW;
	END IF;
	IF (NEW.id, NEW.organization_id, NEW.booking_id, NEW.sender_kind, NEW.sender_user_id, NEW.customer_id, NEW.body, NEW.created_at)
	   IS DISTINCT FROM (OLD.id, OLD.organization_id, OLD.booking_id, OLD.sender_kind, OLD.sender_user_id, OLD.customer_id,
						 OLD.body, OLD.created_at)
	   OR OLD.read_at IS NOT NULL
	   OR NEW.read_at IS DISTINCT FROM GREATEST(pg_catalog.now(), OLD.created_at)
	   OR NOT (protector_internal.caller_is_trusted()
			   -- (the desk's: not a member's on a booking of their own,
			   -- who is its customer, as thread_side says; an agent
			   -- marked their own question read: a review)
			   OR (OLD.sender_kind OPERATOR(pg_catalog.=) 'customer'
				   AND NOT protector_internal.customer_owns_booking(OLD.organization_id, OLD.booking_id)
				   AND protector_internal.staff_may_message(OLD.organization_id, OLD.booking_id))
			   OR (OLD.sender_kind OPERATOR(pg_catalog.=) 'staff'
				   AND OLD.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()))) THEN
		PERFORM protector.raise('invalid_parameter', 'a message cannot be changed', NULL,
			'Only its read receipt is set, once, by the other side (mark_messages_read).');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_message() IS
'Trigger: a message is never edited; its read receipt is set once, to now (or the message''s time, if later), by the other side; an erasure blanks bodies';
CREATE TRIGGER guard_message BEFORE UPDATE ON protector.booking_messages
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.booking_messages') AND OLD.* IS DISTINCT FROM NEW.*)
	EXECUTE FUNCTION protector_internal.guard_message();

CREATE FUNCTION protector.send_message(p_booking_id uuid, p_body text)
RETURNS protector.booking_messages
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	v_side text;
	m protector.booking_messages;
	v_constraint text;
BEGIN
	-- the booking as the caller sees it; staff by the map, else its customer
	v_org := protector_internal.authorize_row('protector.bookings', p_booking_id, NULL, 'booking');
	-- (a member on a booking of their own writes as its customer, as
	-- thread_side reads it)
	v_side := CASE WHEN protector_internal.caller_is_trusted() THEN 'staff'
				   WHEN protector_internal.customer_owns_booking(v_org, p_booking_id) THEN 'customer'
				   WHEN protector_internal.staff_may_message(v_org, p_booking_id)
					    AND v_org OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('messages.send')) THEN 'staff' END;
	IF v_side IS NULL THEN
		PERFORM protector.raise('forbidden', 'your role may not message customers',
			'The action messages.send is for the desk, and for agents on the bookings assigned to them.');
	END IF;
	INSERT INTO protector.booking_messages (organization_id, booking_id, sender_kind, body)
	VALUES (v_org, p_booking_id, v_side, p_body)
	RETURNING * INTO m;
	RETURN m;
EXCEPTION WHEN foreign_key_violation THEN
	-- (the booking deleted meanwhile, also with its organization: asked
	-- of the booking, which its customer sees, and its organization not)
	PERFORM protector_internal.refuse_deleted_booking(p_booking_id, 'It was deleted while the message was written.');
	-- (the thread's customer, read from the booking, given another
	-- customer and deleted meanwhile: the thread is the new customer's)
	GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
	IF v_constraint OPERATOR(pg_catalog.=) 'booking_messages_organization_id_customer_id_fkey' THEN
		PERFORM protector.raise('retry', 'the booking''s customer changed while the message was written', NULL,
			'Retry: the message then goes to the booking''s customer now.');
	END IF;
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.send_message(uuid, text) IS
'Writes a message in a booking''s thread: as staff (the desk, an agent on their booking) or as the booking''s customer';

CREATE FUNCTION protector.get_booking_messages(p_booking_id uuid, p_limit integer DEFAULT 100)
RETURNS SETOF protector.booking_messages
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
BEGIN
	IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_limit must be between 1 and 1000',
			pg_catalog.format('Got %s.', COALESCE(p_limit::text, 'NULL')));
	END IF;
	v_org := protector_internal.authorize_row('protector.bookings', p_booking_id, NULL, 'booking');
	PERFORM protector_internal.thread_side(v_org, p_booking_id);
	RETURN QUERY
	SELECT * FROM (SELECT m.* FROM protector.booking_messages m
				   WHERE m.organization_id OPERATOR(pg_catalog.=) v_org AND m.booking_id OPERATOR(pg_catalog.=) p_booking_id
				   ORDER BY m.created_at DESC, m.id DESC LIMIT p_limit) x
	ORDER BY x.created_at, x.id;
END
$$;
COMMENT ON FUNCTION protector.get_booking_messages(uuid, integer) IS
'A booking''s thread as the caller may read it, the last p_limit messages, oldest first';

-- The other side's unread messages of the thread become read; returns how many.
CREATE FUNCTION protector.mark_messages_read(p_booking_id uuid)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	v_side text;
	v_count integer;
BEGIN
	v_org := protector_internal.authorize_row('protector.bookings', p_booking_id, NULL, 'booking');
	v_side := protector_internal.thread_side(v_org, p_booking_id);
	UPDATE protector.booking_messages m SET read_at = GREATEST(pg_catalog.now(), m.created_at)
	WHERE m.organization_id OPERATOR(pg_catalog.=) v_org AND m.booking_id OPERATOR(pg_catalog.=) p_booking_id
	  AND m.sender_kind OPERATOR(pg_catalog.<>) v_side AND m.read_at IS NULL
	  AND (v_side OPERATOR(pg_catalog.=) 'staff' OR m.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()));
	GET DIAGNOSTICS v_count = ROW_COUNT;
	RETURN v_count;
END
$$;
COMMENT ON FUNCTION protector.mark_messages_read(uuid) IS
'Marks the other side''s unread messages of a booking''s thread read (read receipts); returns how many';

-- Supabase Realtime Broadcast (attached by protector.enable_realtime(),
-- sql/85_realtime.sql): the organization's private topic gets the
-- message without its body, the customer's own private topic with it.
-- (its times in UTC whoever writes the message)
CREATE FUNCTION protector_internal.broadcast_message()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
AS $$
DECLARE
	v_user uuid;
	v_payload jsonb;
BEGIN
	IF protector_internal.restoring_into(TG_RELID)
	   OR (TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.read_at IS NOT DISTINCT FROM OLD.read_at) THEN
		RETURN NULL;
	END IF;
	v_payload := pg_catalog.jsonb_build_object('op', TG_OP, 'id', NEW.id, 'booking_id', NEW.booking_id,
											   'sender_kind', NEW.sender_kind, 'created_at', NEW.created_at,
											   'read_at', NEW.read_at);
	PERFORM protector_internal.realtime_send(v_payload, 'message', 'protector:' OPERATOR(pg_catalog.||) NEW.organization_id::text, true);
	-- the customer of the message (not whoever holds the booking now)
	SELECT c.user_id INTO v_user FROM protector.customers c
	WHERE c.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND c.id OPERATOR(pg_catalog.=) NEW.customer_id;
	IF v_user IS NOT NULL THEN
		PERFORM protector_internal.realtime_send(v_payload OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('body', NEW.body), 'message',
												 'protector:customer:' OPERATOR(pg_catalog.||) v_user::text, true);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.broadcast_message() IS
'Trigger: a message to Realtime Broadcast, on protector:<organization> (without the body) and protector:customer:<user> (with it)';

-- Per reply the member wrote: the minutes since the first customer
-- message of the thread that no staff reply had answered yet; the median
-- of those, for replies to customer messages written in [p_from, p_to)
-- (staff performance, sql/81_staff.sql).
CREATE FUNCTION protector_internal.median_response_minutes(p_organization_id uuid, p_user_id uuid,
														   p_from timestamptz, p_to timestamptz)
RETURNS numeric
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT pg_catalog.round((pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY r.minutes))::numeric, 1)
			FROM (SELECT pg_catalog.date_part('epoch', s.created_at OPERATOR(pg_catalog.-) q.asked) OPERATOR(pg_catalog./) 60 AS minutes
				  FROM protector.booking_messages s
				  CROSS JOIN LATERAL (
					  -- the first customer message since the previous staff message
					  SELECT pg_catalog.min(c.created_at) AS asked FROM protector.booking_messages c
					  WHERE c.organization_id OPERATOR(pg_catalog.=) s.organization_id AND c.booking_id OPERATOR(pg_catalog.=) s.booking_id
						AND c.sender_kind OPERATOR(pg_catalog.=) 'customer' AND c.created_at OPERATOR(pg_catalog.<) s.created_at
						AND c.created_at OPERATOR(pg_catalog.>) COALESCE(
							(SELECT pg_catalog.max(p.created_at) FROM protector.booking_messages p
							 WHERE p.organization_id OPERATOR(pg_catalog.=) s.organization_id AND p.booking_id OPERATOR(pg_catalog.=) s.booking_id
							   AND p.sender_kind OPERATOR(pg_catalog.=) 'staff' AND p.created_at OPERATOR(pg_catalog.<) s.created_at),
							'-infinity')) q
				  WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id AND s.sender_kind OPERATOR(pg_catalog.=) 'staff'
					AND s.sender_user_id OPERATOR(pg_catalog.=) p_user_id
					-- (a reply comes after the question it answers: the
					-- member's replies before the period answer none of it,
					-- and are not read)
					AND s.created_at OPERATOR(pg_catalog.>) p_from
					AND q.asked OPERATOR(pg_catalog.>=) p_from AND q.asked OPERATOR(pg_catalog.<) p_to) r);
END
$$;
COMMENT ON FUNCTION protector_internal.median_response_minutes(uuid, uuid, timestamptz, timestamptz) IS
'Median minutes, over the member''s replies, from the first unanswered customer message of the thread to the reply';

-- audited like every business table, without the bodies
SELECT protector.enable_audit('protector.booking_messages', '{body}');

GRANT EXECUTE ON FUNCTION
	protector.send_message(uuid, text),
	protector.get_booking_messages(uuid, integer),
	protector.mark_messages_read(uuid),
	protector_internal.staff_may_message(uuid, uuid),
	protector_internal.customer_owns_booking(uuid, uuid),
	protector_internal.thread_side(uuid, uuid),
	protector_internal.median_response_minutes(uuid, uuid, timestamptz, timestamptz)
TO authenticated, service_role;
