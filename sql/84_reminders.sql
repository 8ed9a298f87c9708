\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/84_reminders.sql: the reminders outbox (docs/reminders.md).
--
-- Every confirmed booking with a customer has a reminder row per offset of
-- its organization (settings.reminders.offsets_minutes, default 24 hours
-- and 1 hour before the start) whose time has not passed when the booking
-- is confirmed.  The booking's own trigger keeps them right: a reschedule
-- cancels the pending reminders of the old start and makes those of the
-- new one, a cancellation (any status but confirmed) cancels them, and a
-- booking confirmed again gets back the reminders cancelled before (never
-- one already sent).  Staff may also send one now (send_booking_reminder).
--
-- A worker (an Edge Function, a cron job) running as a trusted role
-- (service_role) calls claim_due_reminders(p_limit), which hands each due
-- reminder to exactly one caller (FOR UPDATE SKIP LOCKED) for a lease,
-- with the address read at that moment, and then complete_reminder(p_id,
-- p_ok, p_error).  A failed attempt is retried with backoff (1, 2, 4 ...
-- at most 60 minutes) up to settings.reminders.max_attempts (default 5);
-- a lease that runs out counts as a failed attempt.  A reminder not sent
-- before its booking starts expires.  Nothing is handed out twice at
-- once, a sent reminder is never handed out again, and nothing due is
-- left behind: every due reminder ends sent, failed, cancelled (with the
-- reason) or expired.

ALTER TABLE protector.customers ADD COLUMN reminder_channel text
	CHECK (reminder_channel IN ('email', 'sms', 'none'));
COMMENT ON COLUMN protector.customers.reminder_channel IS
'How the customer wants booking reminders: email, sms or none; NULL: e-mail if they have an address, else SMS';

CREATE TABLE protector.booking_reminders (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	booking_id		uuid NOT NULL,
	-- scheduled: one of the organization's offsets; manual: sent by staff
	kind			text NOT NULL DEFAULT 'manual' CHECK (kind IN ('scheduled', 'manual')),
	offset_minutes	integer CHECK (offset_minutes BETWEEN 1 AND 43200),
	-- the channel planned (resolved again when claimed)
	channel			text CHECK (channel IN ('email', 'sms')),
	-- a manual reminder's channel as staff asked for it (NULL: the
	-- customer's, whichever they can be reached by when it is claimed)
	asked_channel	text CHECK (asked_channel IN ('email', 'sms')),
	-- the start of the booking it reminds of, and when it is due
	starts_at		timestamptz NOT NULL,
	due_at			timestamptz NOT NULL,
	status			text NOT NULL DEFAULT 'pending'
					CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled', 'expired')),
	attempts		integer NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 20),
	-- when it may be claimed (due_at, later after a failed attempt)
	next_attempt_at timestamptz NOT NULL,
	claimed_at		timestamptz,
	lease_until		timestamptz,
	sent_at			timestamptz,
	last_error		text CHECK (length(last_error) <= 2000),
	cancelled_reason text CHECK (length(cancelled_reason) <= 200),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	-- the booking's customer when it was last claimed: the one its worker's
	-- report may quote (an erasure of them drops the report's error text,
	-- also once the booking is another's)
	claimed_for		uuid,
	-- claims made before it was last brought back (cancelled, then made
	-- pending again for a move or another customer, where its tries start
	-- again) or claimed for another customer than the last claim: a
	-- claim's number, earlier_claims + attempts, never repeats, so a very
	-- late report of a claim before that is not taken for a new claim's
	earlier_claims	integer NOT NULL DEFAULT 0 CHECK (earlier_claims BETWEEN 0 AND 1000000000),
	-- the customers a claim's message reached while the booking went to
	-- another (the reminder then started again for them): it is not sent
	-- to any of them again should the booking come back (the last 20)
	sent_to			uuid[] CHECK (cardinality(sent_to) <= 20),
	CHECK ((kind = 'scheduled') = (offset_minutes IS NOT NULL)),
	CHECK (kind = 'manual' OR asked_channel IS NULL),
	CHECK ((status = 'sending') = (lease_until IS NOT NULL)),
	CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, booking_id)
		REFERENCES protector.bookings (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX booking_reminders_booking_idx ON protector.booking_reminders (organization_id, booking_id);
-- one reminder per booking, offset and start: a sent one is never made again
CREATE UNIQUE INDEX booking_reminders_once_idx ON protector.booking_reminders (booking_id, offset_minutes, starts_at)
	WHERE kind = 'scheduled';
-- what claim_due_reminders reads: due ones, and leases that ran out
CREATE INDEX booking_reminders_due_idx ON protector.booking_reminders (next_attempt_at) WHERE status = 'pending';
CREATE INDEX booking_reminders_lease_idx ON protector.booking_reminders (lease_until) WHERE status = 'sending';
-- what an erasure looks for: the reminders claimed for the customer
CREATE INDEX booking_reminders_claimed_for_idx ON protector.booking_reminders (organization_id, claimed_for)
	WHERE claimed_for IS NOT NULL;
COMMENT ON TABLE protector.booking_reminders IS
'Reminders outbox: the reminders of confirmed bookings, claimed and completed by a worker (docs/reminders.md)';

CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.booking_reminders
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();

-- Staff see the reminders of their organization and queue manual ones
-- (send_booking_reminder, or a direct insert of kind manual, which
-- prepare_reminder completes); the rest is the worker's and the
-- triggers'.
ALTER TABLE protector.booking_reminders ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.booking_reminders FORCE ROW LEVEL SECURITY;
CREATE POLICY booking_reminders_select ON protector.booking_reminders FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('reminders.read'))::uuid[]));
CREATE POLICY booking_reminders_insert ON protector.booking_reminders FOR INSERT TO authenticated
	WITH CHECK (kind = 'manual'
				AND organization_id = ANY ((SELECT protector_internal.orgs_with('reminders.send'))::uuid[]));
SELECT pg_catalog.pg_extension_config_dump('protector.booking_reminders', '');

-- the organization's reminder settings, defaults filled in
CREATE FUNCTION protector_internal.reminder_offsets(p_organization_id uuid)
RETURNS integer[]
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (through numeric: the settings schema takes 60.0 as the integer 60;
	-- of settings written before 0.2.0 checked them, what is no array is
	-- the default and what is no number in one is skipped)
	RETURN (SELECT CASE WHEN pg_catalog.jsonb_typeof(o.settings OPERATOR(pg_catalog.#>) '{reminders,offsets_minutes}')
							 IS DISTINCT FROM 'array' THEN '{1440,60}'::integer[]
						ELSE COALESCE((SELECT pg_catalog.array_agg(DISTINCT protector_internal.setting_number(x, NULL, 1, 43200)::integer)
									   FROM pg_catalog.jsonb_array_elements(o.settings OPERATOR(pg_catalog.#>) '{reminders,offsets_minutes}') x
									   WHERE pg_catalog.jsonb_typeof(x) OPERATOR(pg_catalog.=) 'number'),
									  '{}'::integer[]) END
			FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id);
END
$$;
COMMENT ON FUNCTION protector_internal.reminder_offsets(uuid) IS
'Minutes before a booking''s start at which the organization sends reminders (settings.reminders.offsets_minutes, default {1440,60})';

CREATE FUNCTION protector_internal.reminder_max_attempts(p_organization_id uuid)
RETURNS integer
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT protector_internal.setting_number(o.settings OPERATOR(pg_catalog.#>) '{reminders,max_attempts}', 5, 1, 20)::integer
			FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id);
END
$$;
COMMENT ON FUNCTION protector_internal.reminder_max_attempts(uuid) IS
'How many times a reminder is tried before it fails (settings.reminders.max_attempts, default 5)';

-- After failed attempt n: wait 2^(n-1) minutes, at most 60.
CREATE FUNCTION protector_internal.reminder_backoff(p_attempts integer)
RETURNS interval
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN pg_catalog.make_interval(mins => LEAST(1 OPERATOR(pg_catalog.<<) LEAST(GREATEST(p_attempts, 1) OPERATOR(pg_catalog.-) 1, 6), 60));
END
$$;
COMMENT ON FUNCTION protector_internal.reminder_backoff(integer) IS
'Wait before the next try after failed attempt n: 1, 2, 4, 8, 16, 32, then 60 minutes';

-- The channel a reminder to this customer goes by, and the address:
-- their choice if they have its address, else the other one they have;
-- none when they chose none or have neither.  A phone is an address
-- written out in full (normalize_phone with the customer's country,
-- +819012345678): a national number, as stored, means something only in
-- its country, which the worker was not told (090-1234-5678 of a customer
-- in Japan went to a worker of a venue in Berlin); one that cannot be
-- written out (no country) is no address.  p_sending: the address is
-- handed out now (a claim, a manual reminder), and an e-mail address 0.1.0
-- stored unchecked that protector does not take now (anna@gmail, one with
-- a no-break space or a direction override) is none either (a planned
-- reminder's channel is asked again when it is claimed: the check would
-- cost every booking with a customer).  As the caller: RLS decides whose
-- addresses they may read.
CREATE FUNCTION protector_internal.reminder_address(p_organization_id uuid, p_customer_id uuid,
													p_channel text DEFAULT NULL, p_sending boolean DEFAULT false,
													OUT channel text, OUT recipient text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	SELECT a.channel, a.recipient
	INTO channel, recipient
	FROM protector.customers c,
		 -- (a phone and country 0.1.0 stored unchecked, which normalize_phone
		 -- refuses: a country ISO 3166 does not assign, such as UK, is none,
		 -- and a phone of another shape than a phone's (letters, an
		 -- extension: "+1 800 FLOWERS" read +1800) no address; they failed
		 -- the update's reminders and every confirmation of the customer's
		 -- bookings, or went to another number.  Written out twice in the
		 -- VALUES, as the normalization was: as a join level of its own it
		 -- cost every booking naming a customer 7,400 instructions)
		 LATERAL (SELECT x.channel, x.recipient
				  FROM (VALUES (1, 'email', CASE WHEN NOT p_sending OR protector_internal.email_is_valid(c.email)
												 THEN c.email END),
							   (2, 'sms', CASE WHEN pg_catalog.starts_with(
													protector.normalize_phone(CASE WHEN protector_internal.phone_is_valid(c.phone) THEN c.phone END,
																			  CASE WHEN protector.country_is_known(c.country) THEN c.country END),
													'+')
											   THEN protector.normalize_phone(CASE WHEN protector_internal.phone_is_valid(c.phone) THEN c.phone END,
																			  CASE WHEN protector.country_is_known(c.country) THEN c.country END)
										  END)) x(n, channel, recipient)
				  WHERE x.recipient IS NOT NULL
					AND (p_channel IS NULL OR x.channel OPERATOR(pg_catalog.=) p_channel)
				  ORDER BY x.channel OPERATOR(pg_catalog.=) COALESCE(c.reminder_channel, 'email') DESC, x.n
				  LIMIT 1) a
	WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id AND c.id OPERATOR(pg_catalog.=) p_customer_id
	  AND (c.reminder_channel IS NULL OR c.reminder_channel OPERATOR(pg_catalog.<>) 'none');
END
$$;
COMMENT ON FUNCTION protector_internal.reminder_address(uuid, uuid, text, boolean) IS
'Channel and address for a reminder to the customer (p_channel: only that one; p_sending: an e-mail address protector does not take now is none): their reminder_channel if they have its address, else the other; none for reminder_channel none';

-- Why a manual reminder cannot go to the customer, whom reminder_address
-- found no address of: the error names what the desk can act on (an
-- erasure, an opt-out, a national number without a country, an e-mail
-- address 0.1.0 stored that protector does not take).  As the caller:
-- what they may not read is told as no address.
CREATE FUNCTION protector_internal.refuse_no_reminder_address(p_organization_id uuid, p_customer_id uuid, p_channel text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c protector.customers;
	v_email boolean;
	v_phone boolean;
	v_written text;
	v_why text;
BEGIN
	SELECT * INTO c FROM protector.customers x
	WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.id OPERATOR(pg_catalog.=) p_customer_id;
	v_email := c.email IS NOT NULL AND p_channel IS DISTINCT FROM 'sms';
	v_phone := c.phone IS NOT NULL AND p_channel IS DISTINCT FROM 'email';
	IF EXISTS (SELECT FROM protector.customer_erasures e
			   WHERE e.organization_id OPERATOR(pg_catalog.=) p_organization_id
				 AND e.customer_id OPERATOR(pg_catalog.=) p_customer_id) THEN
		PERFORM protector.raise('invalid_parameter', 'the customer was erased', 'An erased customer gets no reminders.');
	ELSIF c.reminder_channel OPERATOR(pg_catalog.=) 'none' THEN
		PERFORM protector.raise('invalid_parameter', 'the customer chose not to get reminders',
			'Their reminder_channel is none.');
	ELSIF v_email THEN
		PERFORM protector.raise('invalid_parameter', 'the customer''s e-mail address is not one reminders go to',
			'It was stored before protector checked addresses: name@domain.tld, without spaces or control characters.'
			OPERATOR(pg_catalog.||) CASE WHEN v_phone THEN ' Their phone number cannot be used either.' ELSE '' END,
			'Correct the address in the customer''s record.');
	ELSIF v_phone THEN
		-- (why normalize_phone could not write it out: its shape, its
		-- digits, what follows a + or an international prefix (00, or the
		-- country's own: 011 in the US), which normalize_phone dropped,
		-- the customer's country)
		v_written := CASE WHEN protector_internal.phone_is_valid(c.phone)
						THEN protector.normalize_phone(c.phone, CASE WHEN protector.country_is_known(c.country) THEN c.country END) END;
		v_why := CASE WHEN NOT protector_internal.phone_is_valid(c.phone) THEN 'shape'
					  WHEN v_written IS NULL THEN 'digits'
					  WHEN pg_catalog.starts_with(pg_catalog.ltrim(c.phone), '+')
						   OR v_written OPERATOR(pg_catalog.<>) pg_catalog.regexp_replace(c.phone, '[^0-9]', '', 'g') THEN 'code'
					  WHEN c.country IS NULL THEN 'no country'
					  WHEN NOT protector.country_is_known(c.country) THEN 'country'
					  ELSE 'national' END;
		PERFORM protector.raise('invalid_parameter', 'the customer''s phone number cannot be used for SMS',
			CASE v_why
				WHEN 'shape' THEN 'It was stored before protector checked numbers and is not one (digits, spaces and ( ) . / - only, an optional leading +).'
				WHEN 'digits' THEN 'It has too few digits to be a phone number.'
				WHEN 'code' THEN 'What follows its + (or its international prefix, 00) is no country code (none begins with 0).'
				WHEN 'no country' THEN 'It is a national number and the customer has no country: it means something only in its country.'
				WHEN 'country' THEN pg_catalog.format('It is a national number, and the customer''s country (%s, stored before protector checked countries) is no country code.',
													  protector_internal.quoted_text(c.country, 20))
				ELSE pg_catalog.format('It cannot be written out in full as a number of the customer''s country (%s).', c.country) END,
			CASE v_why
				WHEN 'code' THEN 'Write the number with its country code after the + (+49 30 ...), or as a national number without it.'
				WHEN 'no country' THEN 'Write the number with its country code (+...), or set the customer''s country.'
				WHEN 'country' THEN 'Correct the customer''s country, or write the number with its country code (+...).'
				WHEN 'national' THEN 'Write the number with its country code (+...).'
				ELSE 'Correct the number in the customer''s record.' END);
	END IF;
	PERFORM protector.raise('invalid_parameter',
		CASE WHEN p_channel IS NULL THEN 'the customer has no e-mail address or phone number for reminders'
			 WHEN p_channel OPERATOR(pg_catalog.=) 'email' THEN 'the customer has no e-mail address for reminders'
			 ELSE 'the customer has no phone number for reminders' END);
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_no_reminder_address(uuid, uuid, text) IS
'For the manual-reminder trigger: refuses a reminder to a customer without an address, naming why (erased, opted out, an address that cannot be used, none)';
GRANT EXECUTE ON FUNCTION protector_internal.refuse_no_reminder_address(uuid, uuid, text) TO authenticated, service_role;

-- The reminders a confirmed booking with a customer should have, made (or
-- brought back when cancelled before; never one already sent): one per
-- offset whose time has not passed, and, due now, those of p_due_now (the
-- offsets whose reminder was due and not yet sent when the booking moved:
-- a late worker must not make the customer miss it).
-- The claims a reminder has had, earlier_claims + attempts: the number
-- of its last claim, and what earlier_claims becomes when its tries start
-- again (brought back, or claimed for another person), at most its bound.
CREATE FUNCTION protector_internal.claims_made(p_earlier_claims integer, p_attempts integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN LEAST(p_earlier_claims OPERATOR(pg_catalog.+) p_attempts, 1000000000);
COMMENT ON FUNCTION protector_internal.claims_made(integer, integer) IS
'A reminder''s claims so far (earlier_claims + attempts, at most earlier_claims'' bound): its last claim''s number';

-- Whom a reminder's message reached (sent_to), with p_customer_id: kept
-- when a reminder starts again for another customer, so that it is not
-- sent twice to one it reached should the booking come back to them; the
-- last 19 at most.
CREATE FUNCTION protector_internal.reached_also(p_sent_to uuid[], p_customer_id uuid)
RETURNS uuid[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_customer_id IS NULL OR p_customer_id OPERATOR(pg_catalog.=) ANY (COALESCE(p_sent_to, '{}')) THEN p_sent_to
			ELSE (COALESCE(p_sent_to, '{}') OPERATOR(pg_catalog.||) p_customer_id)[
					 GREATEST(COALESCE(pg_catalog.cardinality(p_sent_to), 0) OPERATOR(pg_catalog.-) 18, 1):] END;
COMMENT ON FUNCTION protector_internal.reached_also(uuid[], uuid) IS
'A reminder''s sent_to with p_customer_id added (once; the last 19 at most): whom its message reached';

CREATE FUNCTION protector_internal.make_booking_reminders(b protector.bookings, p_due_now integer[] DEFAULT '{}',
															p_offsets integer[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_start timestamptz := pg_catalog.lower(b.during);
	v_channel text;
BEGIN
	IF b.status OPERATOR(pg_catalog.<>) 'confirmed' OR b.customer_id IS NULL
	   OR v_start OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		RETURN;
	END IF;
	SELECT a.channel INTO v_channel FROM protector_internal.reminder_address(b.organization_id, b.customer_id) a;
	IF v_channel IS NULL THEN
		RETURN;		-- opted out, or no address to send to
	END IF;
	INSERT INTO protector.booking_reminders AS r
		(organization_id, booking_id, kind, offset_minutes, channel, starts_at, due_at, next_attempt_at, created_by)
	SELECT b.organization_id, b.id, 'scheduled', o, v_channel, v_start, d.due, d.due, NULL
	FROM pg_catalog.unnest(COALESCE(p_offsets, protector_internal.reminder_offsets(b.organization_id))) o,
		 LATERAL (SELECT GREATEST(v_start OPERATOR(pg_catalog.-) pg_catalog.make_interval(mins => o), pg_catalog.now()) AS due) d
	WHERE v_start OPERATOR(pg_catalog.-) pg_catalog.make_interval(mins => o) OPERATOR(pg_catalog.>) pg_catalog.now()
	   OR o OPERATOR(pg_catalog.=) ANY (p_due_now)
	ON CONFLICT (booking_id, offset_minutes, starts_at) WHERE kind OPERATOR(pg_catalog.=) 'scheduled'
	DO UPDATE SET status = 'pending', channel = EXCLUDED.channel, attempts = 0, next_attempt_at = EXCLUDED.due_at,
				  last_error = NULL, cancelled_reason = NULL, claimed_at = NULL, claimed_for = NULL,
				  earlier_claims = protector_internal.claims_made(r.earlier_claims, r.attempts)
	WHERE r.status OPERATOR(pg_catalog.=) 'cancelled';
END
$$;
COMMENT ON FUNCTION protector_internal.make_booking_reminders(protector.bookings, integer[], integer[]) IS
'Makes a confirmed booking''s reminders (p_offsets, else the organization''s, still ahead, and p_due_now due now); brings back cancelled ones, never sent ones';

-- The booking's reminders follow it: after an insert or a change of its
-- status, time or customer.
CREATE FUNCTION protector_internal.sync_booking_reminders()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- (no sequential scan for its look-ups by key: a plan made while a table
-- was empty read all of it for each row of a bulk statement, quadratic in
-- its rows; docs/operations.md, "Bulk loads and statistics")
SET enable_seqscan = off
AS $$
DECLARE
	v_start timestamptz := pg_catalog.lower(NEW.during);
	v_wanted boolean := NEW.status OPERATOR(pg_catalog.=) 'confirmed' AND NEW.customer_id IS NOT NULL;
	v_offsets integer[];
	v_due_now integer[];
	v_channel text;
	-- the organization's offsets now apply to a booking confirmed or
	-- rescheduled (or given its first customer); another customer keeps
	-- its reminders as they are (docs/reminders.md)
	v_reoffset boolean := TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status
						  OR OLD.during IS DISTINCT FROM NEW.during OR OLD.customer_id IS NULL;
BEGIN
	-- another customer: the reminders being sent now were claimed for the
	-- last one; their worker's report, which locks its reminder, waits for
	-- this change and then finds the booking the new customer's (it then
	-- starts the reminder again for them, complete_reminder).  Written, not
	-- only locked, so that a report under REPEATABLE READ is told to retry;
	-- the pending ones locked, so that this change, under REPEATABLE READ,
	-- is told to retry where a claim took one since its snapshot.
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND OLD.customer_id IS DISTINCT FROM NEW.customer_id THEN
		PERFORM FROM protector.booking_reminders r
		WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND r.status OPERATOR(pg_catalog.=) ANY ('{pending,sending}')
		FOR UPDATE;
		UPDATE protector.booking_reminders r SET lease_until = r.lease_until
		WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND r.status OPERATOR(pg_catalog.=) 'sending';
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
		-- (only here: a new booking's are read by make_booking_reminders,
		-- and reading them twice was a fifth of what naming a customer
		-- cost a booking)
		v_offsets := protector_internal.reminder_offsets(NEW.organization_id);
		WITH cancelled AS (
			UPDATE protector.booking_reminders r
			SET status = 'cancelled',
				cancelled_reason = CASE WHEN NOT v_wanted AND NEW.customer_id IS NULL AND NEW.status OPERATOR(pg_catalog.=) 'confirmed'
										THEN 'booking has no customer'
										WHEN NOT v_wanted THEN 'booking ' OPERATOR(pg_catalog.||) NEW.status::text
										WHEN r.starts_at OPERATOR(pg_catalog.<>) v_start THEN 'booking rescheduled'
										ELSE 'offset no longer configured' END
			WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
			  AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
			  -- (a function, not the operator: no proof that the partial
			  -- index of every pending reminder serves this, so the booking's
			  -- index does; a plan made before the table had statistics
			  -- read that whole index per booking, and a bulk confirmation
			  -- of 10,000 read 100 million entries)
			  AND pg_catalog.texteq(r.status, 'pending')
			  AND (NOT v_wanted OR r.starts_at OPERATOR(pg_catalog.<>) v_start
				   OR (v_reoffset AND r.kind OPERATOR(pg_catalog.=) 'scheduled' AND r.offset_minutes OPERATOR(pg_catalog.<>) ALL (v_offsets)))
			RETURNING r.kind, r.offset_minutes, r.due_at)
		SELECT pg_catalog.array_agg(c.offset_minutes) INTO v_due_now FROM cancelled c
		WHERE c.kind OPERATOR(pg_catalog.=) 'scheduled' AND c.due_at OPERATOR(pg_catalog.<=) pg_catalog.now();
		-- a booking confirmed again: the ones of this start a status it was
		-- in cancelled and that came due meanwhile, never sent, are due now,
		-- as a reschedule's are (they were left out, their time passed:
		-- a review)
		IF v_wanted AND OLD.status IS DISTINCT FROM NEW.status THEN
			v_due_now := COALESCE(v_due_now, '{}') OPERATOR(pg_catalog.||) ARRAY(
				SELECT r.offset_minutes FROM protector.booking_reminders r
				WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
				  AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
				  AND r.kind OPERATOR(pg_catalog.=) 'scheduled' AND r.status OPERATOR(pg_catalog.=) 'cancelled'
				  AND r.starts_at OPERATOR(pg_catalog.=) v_start AND r.due_at OPERATOR(pg_catalog.<=) pg_catalog.now()
				  AND r.cancelled_reason OPERATOR(pg_catalog.~~) 'booking %'
				  AND r.cancelled_reason OPERATOR(pg_catalog.<>) 'booking rescheduled'
				  AND r.offset_minutes OPERATOR(pg_catalog.=) ANY (v_offsets));
		END IF;
		-- and those of the old start the worker holds now (sending): if that
		-- send fails, or its lease runs out, the next claim cancels it as
		-- being of another time; sent, it told the old time
		IF v_wanted THEN
			v_due_now := COALESCE(v_due_now, '{}') OPERATOR(pg_catalog.||) ARRAY(
				SELECT r.offset_minutes FROM protector.booking_reminders r
				WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
				  AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
				  AND r.kind OPERATOR(pg_catalog.=) 'scheduled' AND r.status OPERATOR(pg_catalog.=) 'sending'
				  AND r.starts_at OPERATOR(pg_catalog.<>) v_start AND r.due_at OPERATOR(pg_catalog.<=) pg_catalog.now());
		END IF;
	END IF;
	IF NOT v_wanted THEN
		RETURN NULL;
	END IF;
	IF v_reoffset OR NOT EXISTS (
			SELECT FROM protector.booking_reminders r
			WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
			  AND r.kind OPERATOR(pg_catalog.=) 'scheduled' AND r.starts_at OPERATOR(pg_catalog.=) v_start) THEN
		PERFORM protector_internal.make_booking_reminders(NEW, COALESCE(v_due_now, '{}'));
		-- (another customer in the same change as a status or time: what
		-- reached or failed the last one goes to this one too, below; it
		-- was left behind: a review)
		IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR OLD.customer_id IS NULL
		   OR OLD.customer_id OPERATOR(pg_catalog.=) NEW.customer_id THEN
			RETURN NULL;
		END IF;
	END IF;
	-- another customer: the reminders as they are, those cancelled for the
	-- last one (erased, or no address) back for this one while still ahead;
	-- the offsets of when it was confirmed, not today's
	SELECT a.channel INTO v_channel FROM protector_internal.reminder_address(NEW.organization_id, NEW.customer_id) a;
	IF v_channel IS NOT NULL THEN
		UPDATE protector.booking_reminders r
		SET status = 'pending', channel = v_channel, attempts = 0, next_attempt_at = r.due_at,
			last_error = NULL, cancelled_reason = NULL, claimed_at = NULL, claimed_for = NULL,
			earlier_claims = protector_internal.claims_made(r.earlier_claims, r.attempts)
		WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND r.kind OPERATOR(pg_catalog.=) 'scheduled' AND r.starts_at OPERATOR(pg_catalog.=) v_start
		  AND r.status OPERATOR(pg_catalog.=) 'cancelled'
		  AND r.cancelled_reason OPERATOR(pg_catalog.=) ANY ('{customer erased,customer has no address for reminders}')
		  AND r.due_at OPERATOR(pg_catalog.>) pg_catalog.now();
		-- and those that failed for the last one (their address, say) go
		-- to this one, now, while the booking has not started; so do the
		-- scheduled ones sent to the last one, as complete_reminder does
		-- with one whose report comes after the handover (the order of two
		-- moments a second apart decided whether the new customer was ever
		-- reminded: a review)
		UPDATE protector.booking_reminders r
		SET status = 'pending', channel = v_channel, attempts = 0, next_attempt_at = pg_catalog.now(),
			last_error = NULL, claimed_at = NULL, claimed_for = NULL, sent_at = NULL,
			earlier_claims = protector_internal.claims_made(r.earlier_claims, r.attempts),
			sent_to = CASE WHEN r.status OPERATOR(pg_catalog.=) 'sent'
						   THEN protector_internal.reached_also(r.sent_to, r.claimed_for) ELSE r.sent_to END
		WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND r.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND r.starts_at OPERATOR(pg_catalog.=) v_start
		  AND (r.status OPERATOR(pg_catalog.=) ANY ('{failed,sent}') AND r.kind OPERATOR(pg_catalog.=) 'scheduled'
			   -- (of the manual ones, the newest, where it failed: the desk
			   -- may have sent many that failed, and the new customer got
			   -- them all at once, also beside one still on its way: a
			   -- review)
			   OR (r.status OPERATOR(pg_catalog.=) 'failed' AND r.id OPERATOR(pg_catalog.=) (
					SELECT m.id FROM protector.booking_reminders m
					WHERE m.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
					  AND m.booking_id OPERATOR(pg_catalog.=) NEW.id AND m.kind OPERATOR(pg_catalog.=) 'manual'
					  AND m.status OPERATOR(pg_catalog.<>) 'cancelled'
					ORDER BY m.created_at DESC, m.id DESC LIMIT 1)))
		  AND r.claimed_for IS DISTINCT FROM NEW.customer_id
		  AND r.starts_at OPERATOR(pg_catalog.>) pg_catalog.now();
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.sync_booking_reminders() IS
'Trigger (AFTER INSERT or UPDATE of status, during, customer_id): the booking''s reminders follow its status, start and customer';

-- A customer who gets an address, or turns reminders back on, gets the
-- reminders of their confirmed bookings still ahead.
CREATE FUNCTION protector_internal.customer_reminders()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
BEGIN
	-- (share-locked: a change in flight is waited for and its booking read
	-- as it committed; from the statement's snapshot its old start, or
	-- its confirmed status, brought back the reminders the change had just
	-- cancelled, and passing it over left it without any.  merge_customers,
	-- which locks customers that booking writes wait for, locks their
	-- bookings first)
	FOR b IN
		SELECT * FROM protector.bookings x
		WHERE x.customer_id OPERATOR(pg_catalog.=) NEW.id AND x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
		  AND x.status OPERATOR(pg_catalog.=) 'confirmed' AND pg_catalog.lower(x.during) OPERATOR(pg_catalog.>) pg_catalog.now()
		FOR SHARE OF x
	LOOP
		-- (with the offsets it was confirmed with, which its reminders
		-- for its start keep: the organization's apply to bookings
		-- confirmed or rescheduled after they changed, not to one whose
		-- customer's address changed; a booking with none, its customer
		-- without an address then (or the organization's offsets none),
		-- takes the organization's of now)
		PERFORM protector_internal.make_booking_reminders(b, '{}',
			(SELECT pg_catalog.array_agg(DISTINCT r.offset_minutes) FROM protector.booking_reminders r
			 WHERE r.organization_id OPERATOR(pg_catalog.=) b.organization_id AND r.booking_id OPERATOR(pg_catalog.=) b.id
			   AND r.kind OPERATOR(pg_catalog.=) 'scheduled' AND r.starts_at OPERATOR(pg_catalog.=) pg_catalog.lower(b.during)
			   -- (those it has: not one a reschedule, a status change or a
			   -- new set of offsets cancelled, but one cancelled for want of
			   -- an address, which the new address brings back)
			   AND (r.status OPERATOR(pg_catalog.<>) 'cancelled'
					OR r.cancelled_reason OPERATOR(pg_catalog.=) 'customer has no address for reminders')));
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.customer_reminders() IS
'Trigger (AFTER UPDATE of a customer''s email, phone, reminder_channel or country): their confirmed bookings get the reminders they now can';

-- (country: a national number is an SMS address once its country is known)
CREATE TRIGGER customer_reminders AFTER UPDATE OF email, phone, reminder_channel, country ON protector.customers
	FOR EACH ROW WHEN ((OLD.email, OLD.phone, OLD.reminder_channel, OLD.country)
					   IS DISTINCT FROM (NEW.email, NEW.phone, NEW.reminder_channel, NEW.country)
					   AND (NEW.email IS NOT NULL OR NEW.phone IS NOT NULL)
					   AND NOT protector_internal.restoring_into('protector.customers'))
	EXECUTE FUNCTION protector_internal.customer_reminders();

-- (a new booking's: fired by its AFTER INSERT trigger, src/booking_followups.c)
-- (service_id, party_size, total_price and currency: set_booking_price()
-- may confirm a booking whose deposit a new price or currency leaves paid)
CREATE TRIGGER sync_reminders_update AFTER UPDATE OF status, during, customer_id, service_id, party_size, total_price, currency
	ON protector.bookings
	FOR EACH ROW WHEN ((OLD.status = 'confirmed' OR NEW.status = 'confirmed')
					   AND (OLD.status, OLD.during, OLD.customer_id) IS DISTINCT FROM (NEW.status, NEW.during, NEW.customer_id)
					   AND NOT protector_internal.restoring_into('protector.bookings'))
	EXECUTE FUNCTION protector_internal.sync_booking_reminders();

-- A manual reminder as staff queue it: about the booking's start, due
-- now, by the customer's channel (or the one asked for, if they have its
-- address); the booking must be confirmed and not started, and one manual
-- reminder per booking in 10 minutes is enough.  Runs as the caller, and
-- asks the capability map first: whoever may not send reminders in the
-- booking's organization learns nothing about its bookings.
-- Under REPEATABLE READ or SERIALIZABLE: 40001 when a manual reminder of
-- the booking committed after the transaction's snapshot (the 10-minute
-- rule's check missed it).  For a caller this transaction authorized to
-- send the booking's reminders.
CREATE FUNCTION protector_internal.manual_reminder_unseen(p_booking_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.require_permit('protector.bookings', p_booking_id, 'reminders.send');
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.booking_reminders r
		 WHERE r.organization_id OPERATOR(pg_catalog.=) (SELECT b.organization_id FROM protector.bookings b
														 WHERE b.id OPERATOR(pg_catalog.=) $1)
		   AND r.booking_id OPERATOR(pg_catalog.=) $1 AND r.kind OPERATOR(pg_catalog.=) ''manual''', p_booking_id,
		'a reminder for this booking was sent concurrently', NULL);
END
$$;
COMMENT ON FUNCTION protector_internal.manual_reminder_unseen(uuid) IS
'For the manual-reminder trigger under a transaction snapshot: 40001 when a manual reminder of the booking committed since (require_permit)';
GRANT EXECUTE ON FUNCTION protector_internal.manual_reminder_unseen(uuid) TO authenticated, service_role;

CREATE FUNCTION protector_internal.prepare_reminder()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
	v_channel text;
BEGIN
	IF NOT (protector_internal.caller_is_trusted()
			OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('reminders.send'))) THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It does not exist, or you may not see it.');
	END IF;
	SELECT * INTO b FROM protector.bookings x
	WHERE x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND x.id OPERATOR(pg_catalog.=) NEW.booking_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It does not exist, or you may not see it.');
	ELSIF b.status OPERATOR(pg_catalog.<>) 'confirmed' OR pg_catalog.lower(b.during) OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		PERFORM protector.raise('invalid_parameter', 'only a confirmed booking that has not started gets reminders',
			pg_catalog.format('The booking is %s and starts at %s.', b.status, protector_internal.iso_text(pg_catalog.lower(b.during))));
	ELSIF b.customer_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'the booking has no customer to remind');
	END IF;
	IF NEW.channel IS NOT NULL AND NEW.channel OPERATOR(pg_catalog.<>) ALL ('{email,sms}') THEN
		PERFORM protector.raise('invalid_parameter', 'p_channel must be email or sms',
			pg_catalog.format('Got "%s".', pg_catalog.left(NEW.channel, 20)));
	END IF;
	SELECT a.channel INTO v_channel
	FROM protector_internal.reminder_address(b.organization_id, b.customer_id, NEW.channel, true) a;
	IF v_channel IS NULL THEN
		PERFORM protector_internal.refuse_no_reminder_address(b.organization_id, b.customer_id, NEW.channel);
	END IF;
	-- one at a time per booking, so that the 10-minute rule holds for
	-- callers at the same moment (READ COMMITTED: the check below then
	-- sees what the one before committed)
	PERFORM protector_internal.lock_seen(1886547718, NEW.booking_id, false);
	-- (one on its way, or sent to this customer: one that failed, or
	-- expired, reached nobody, and the desk sending again, to an address
	-- put right, was told one "was sent"; nor does one sent to the
	-- booking's last customer count for this one.  A review.)
	IF EXISTS (SELECT FROM protector.booking_reminders r
			   WHERE r.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
				 AND r.booking_id OPERATOR(pg_catalog.=) NEW.booking_id AND r.kind OPERATOR(pg_catalog.=) 'manual'
				 -- (one on its way however old: a handover brings one back)
				 AND (r.status OPERATOR(pg_catalog.=) ANY ('{pending,sending}')
					  -- (counted from when it was sent: one queued long before
					  -- and sent a moment ago, after retries, let another go
					  -- at once: a docs review)
					  OR (r.status OPERATOR(pg_catalog.=) 'sent'
						  AND COALESCE(r.sent_at, r.created_at) OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '10 minutes')
						  AND (r.claimed_for IS NULL OR r.claimed_for OPERATOR(pg_catalog.=) b.customer_id)))) THEN
		PERFORM protector.raise('rate_limited', 'a reminder for this booking was sent less than 10 minutes ago',
			NULL, 'Wait a few minutes before sending another.');
	END IF;
	-- (REPEATABLE READ: one sent while this waited, or before, is not in
	-- its snapshot)
	IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
		PERFORM protector_internal.authorize_row('protector.bookings', NEW.booking_id, 'reminders.send', 'booking');
		PERFORM protector_internal.manual_reminder_unseen(NEW.booking_id);
	END IF;
	NEW.asked_channel := NEW.channel;
	NEW.channel := v_channel;
	NEW.starts_at := pg_catalog.lower(b.during);
	NEW.due_at := pg_catalog.now();
	NEW.next_attempt_at := pg_catalog.now();
	NEW.status := 'pending';
	NEW.attempts := 0;
	NEW.earlier_claims := 0;
	NEW.claimed_at := NULL;
	NEW.claimed_for := NULL;
	NEW.sent_to := NULL;
	NEW.lease_until := NULL;
	NEW.sent_at := NULL;
	NEW.last_error := NULL;
	NEW.cancelled_reason := NULL;
	NEW.offset_minutes := NULL;		-- (a manual reminder is about no offset)
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.prepare_reminder() IS
'Trigger (BEFORE INSERT of a manual reminder): due now, about the booking''s start, by the customer''s channel; refuses a booking not confirmed or started, and more than one in 10 minutes';

CREATE TRIGGER prepare_reminder BEFORE INSERT ON protector.booking_reminders
	FOR EACH ROW WHEN (NEW.kind = 'manual' AND NOT protector_internal.restoring_into('protector.booking_reminders'))
	EXECUTE FUNCTION protector_internal.prepare_reminder();

CREATE FUNCTION protector.send_booking_reminder(p_booking_id uuid, p_channel text DEFAULT NULL)
RETURNS protector.booking_reminders
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	r protector.booking_reminders;
BEGIN
	v_org := protector_internal.authorize_row('protector.bookings', p_booking_id, 'reminders.send', 'booking');
	INSERT INTO protector.booking_reminders (organization_id, booking_id, kind, channel, starts_at, due_at, next_attempt_at)
	VALUES (v_org, p_booking_id, 'manual', p_channel, pg_catalog.now(), pg_catalog.now(), pg_catalog.now())
	RETURNING * INTO r;
	RETURN r;
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(v_org);
	-- (the booking alone deleted meanwhile: a review)
	PERFORM protector_internal.refuse_deleted_booking(p_booking_id, 'It was deleted while the reminder was queued.');
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.send_booking_reminder(uuid, text) IS
'Queues a reminder of a confirmed booking due now, by the customer''s channel or p_channel (email, sms); the worker sends it';

-- the worker ------------------------------------------------------------------

CREATE FUNCTION protector_internal.require_worker(p_function text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector.raise('forbidden', pg_catalog.format('%s is for the reminder worker', p_function),
			'It hands out and completes the reminders of every organization.',
			'Call it as service_role (an Edge Function or a cron job), not as a signed-in user.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.require_worker(text) IS
'Refuses (42501) a caller that is not trusted (service_role, a superuser): the reminder worker''s functions';

-- What a reminder whose lease ran out says (settle_stale_reminders): its
-- worker's late report is still taken until another claim takes it
-- (complete_reminder).
CREATE FUNCTION protector_internal.lease_expired_error()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN 'lease expired: the worker did not report';
COMMENT ON FUNCTION protector_internal.lease_expired_error() IS
'The last_error of a reminder whose lease ran out before its worker reported';

-- Reminders whose lease ran out or whose booking started meanwhile; at
-- most 1000 a call, skipping rows another call holds.
CREATE FUNCTION protector_internal.settle_stale_reminders()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- (leases and starts by the clock, as claims count them; read once,
	-- for the indexes)
	v_now timestamptz := protector_internal.clock_now();
BEGIN
	-- a lease that ran out is a failed attempt: the worker did not report
	UPDATE protector.booking_reminders r
	SET status = CASE WHEN r.attempts OPERATOR(pg_catalog.>=) protector_internal.reminder_max_attempts(r.organization_id)
					  THEN 'failed' ELSE 'pending' END,
		next_attempt_at = v_now OPERATOR(pg_catalog.+) protector_internal.reminder_backoff(r.attempts),
		lease_until = NULL,
		last_error = protector_internal.lease_expired_error()
	FROM (SELECT x.id FROM protector.booking_reminders x
		  WHERE x.status OPERATOR(pg_catalog.=) 'sending' AND x.lease_until OPERATOR(pg_catalog.<=) v_now
		  ORDER BY x.lease_until LIMIT 1000 FOR UPDATE SKIP LOCKED) s
	WHERE r.id OPERATOR(pg_catalog.=) s.id;
	-- too late to remind
	UPDATE protector.booking_reminders r
	SET status = 'expired'
	FROM (SELECT x.id FROM protector.booking_reminders x
		  WHERE x.status OPERATOR(pg_catalog.=) 'pending' AND x.next_attempt_at OPERATOR(pg_catalog.<=) v_now
			AND x.starts_at OPERATOR(pg_catalog.<=) v_now
		  ORDER BY x.next_attempt_at LIMIT 1000 FOR UPDATE SKIP LOCKED) s
	WHERE r.id OPERATOR(pg_catalog.=) s.id;
END
$$;
COMMENT ON FUNCTION protector_internal.settle_stale_reminders() IS
'Leases that ran out become failed attempts (retried or failed); pending reminders of started bookings expire';

-- Whether a reminder last claimed for p_claimed_for now goes to another
-- person, the booking's customer p_customer_id: not the same record, nor
-- one merged into it (a merge is the same person: their message was the
-- one the claim sent).
CREATE FUNCTION protector_internal.reminder_handed(p_organization_id uuid, p_claimed_for uuid, p_customer_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN p_claimed_for IS NOT NULL AND p_claimed_for IS DISTINCT FROM p_customer_id
	   AND NOT EXISTS (SELECT FROM protector.customers c
					   WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id
						 AND c.id OPERATOR(pg_catalog.=) p_claimed_for
						 AND c.merged_into OPERATOR(pg_catalog.=) p_customer_id);
COMMENT ON FUNCTION protector_internal.reminder_handed(uuid, uuid, uuid) IS
'Whether a reminder last claimed for one customer now goes to another person (not a record merged into the booking''s customer)';

-- Whether a reminder's message reached the booking's customer p_customer_id
-- already (one of p_sent_to, or a record merged into theirs).
CREATE FUNCTION protector_internal.reminder_reached(p_organization_id uuid, p_sent_to uuid[], p_customer_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN p_sent_to IS NOT NULL
	   AND EXISTS (SELECT FROM pg_catalog.unnest(p_sent_to) t(customer_id)
				   WHERE NOT protector_internal.reminder_handed(p_organization_id, t.customer_id, p_customer_id));
COMMENT ON FUNCTION protector_internal.reminder_reached(uuid, uuid[], uuid) IS
'Whether a reminder''s message reached the booking''s customer already (sent_to names them, or a record merged into theirs)';

CREATE FUNCTION protector.claim_due_reminders(p_limit integer DEFAULT 100, p_lease interval DEFAULT '5 minutes')
RETURNS TABLE (reminder_id uuid, organization_id uuid, booking_id uuid, kind text, offset_minutes integer,
			   channel text, recipient text, customer_name text, starts_at timestamptz, timezone text,
			   venue_name text, service_name text, attempt integer, lease_until timestamptz, idempotency_key text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	v_ids uuid[];
	v_left integer := p_limit;	-- places of p_limit not handed out yet
	v_asked integer;
	v_handed integer;
	v_round integer := 0;
	-- (the lease as it runs from now: an interval of months or days
	-- compares as 30 and 24 hours, and '1200 mon -3110399990 seconds',
	-- "10 seconds", leased for 524 days; its negative, for none)
	v_lease interval := (pg_catalog.now() OPERATOR(pg_catalog.+) p_lease) OPERATOR(pg_catalog.-) pg_catalog.now();
	-- (what is due and what is too late judged, and the lease counted, by
	-- the clock: a worker's transaction open a while was handed a lease
	-- already over, and a reminder whose booking had started; read once,
	-- for the indexes)
	v_now timestamptz := protector_internal.clock_now();
BEGIN
	PERFORM protector_internal.require_worker('claim_due_reminders');
	IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_limit must be between 1 and 1000',
			pg_catalog.format('Got %s.', COALESCE(p_limit::text, 'NULL')));
	END IF;
	IF v_lease IS NULL OR v_lease NOT BETWEEN interval '10 seconds' AND interval '1 hour' THEN
		PERFORM protector.raise('invalid_parameter', 'p_lease must be between 10 seconds and 1 hour',
			pg_catalog.format('Got %s.', COALESCE(p_lease::text, 'NULL')),
			'Long enough to send a batch; a lease that runs out hands the reminder to the next claim.');
	END IF;
	PERFORM protector_internal.settle_stale_reminders();
	-- those whose message reached the booking's customer before it went to
	-- another and came back: sent, not handed out (apart, so that they do
	-- not take places of p_limit: a claim answered none while others were
	-- due, and a worker that stops at an empty claim stopped)
	WITH reached AS (
		SELECT x.id
		FROM protector.booking_reminders x
		JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) x.organization_id
								  AND b.id OPERATOR(pg_catalog.=) x.booking_id
		WHERE x.status OPERATOR(pg_catalog.=) 'pending' AND x.next_attempt_at OPERATOR(pg_catalog.<=) v_now
		  AND x.starts_at OPERATOR(pg_catalog.>) v_now
		  -- (sent_to asked first: a reminder never sent reached nobody, and
		  -- the function, asked of every due reminder of every tenant, made
		  -- a claim's time grow with them all)
		  AND x.sent_to IS NOT NULL
		  AND protector_internal.reminder_reached(x.organization_id, x.sent_to, b.customer_id)
		FOR UPDATE OF x SKIP LOCKED FOR SHARE OF b SKIP LOCKED)
	UPDATE protector.booking_reminders r
	SET status = 'sent', sent_at = v_now, last_error = NULL
	FROM reached WHERE r.id OPERATOR(pg_catalog.=) reached.id;
	-- the due ones, oldest first, each to one caller
	-- (the booking shared-locked too, skipped while a change of it is in
	-- progress: that change's trigger then finds the reminder pending, and
	-- a change after this claim waits for it); in rounds, while those
	-- dropped below (no address, no booking to remind of) left places of
	-- p_limit and more are due: a claim whose first p_limit were all
	-- dropped answered none while others were due, and a worker stops at
	-- an empty claim (at most 10 rounds a call)
	LOOP
		v_round := v_round OPERATOR(pg_catalog.+) 1;
		v_asked := v_left;
		WITH due AS (
			SELECT x.id, b.customer_id,
				   protector_internal.reminder_handed(x.organization_id, x.claimed_for, b.customer_id) AS handed
			FROM protector.booking_reminders x
			JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) x.organization_id
									  AND b.id OPERATOR(pg_catalog.=) x.booking_id
			WHERE x.status OPERATOR(pg_catalog.=) 'pending' AND x.next_attempt_at OPERATOR(pg_catalog.<=) v_now
			  AND x.starts_at OPERATOR(pg_catalog.>) v_now
			  -- (one that came back to a customer it reached since the
			  -- statement above: the next claim marks it)
			  AND (x.sent_to IS NULL OR NOT protector_internal.reminder_reached(x.organization_id, x.sent_to, b.customer_id))
			ORDER BY x.next_attempt_at, x.id LIMIT v_left
			FOR UPDATE OF x SKIP LOCKED FOR SHARE OF b SKIP LOCKED),
		taken AS (
			UPDATE protector.booking_reminders r
			SET status = 'sending', claimed_at = v_now,
				-- (a claim for another customer than the last claim's starts
				-- the tries again, numbered on: another message, with another
				-- key, that the last one's late report is not taken for)
				attempts = CASE WHEN due.handed THEN 1 ELSE r.attempts OPERATOR(pg_catalog.+) 1 END,
				earlier_claims = CASE WHEN due.handed THEN protector_internal.claims_made(r.earlier_claims, r.attempts)
									  ELSE r.earlier_claims END,
				claimed_for = due.customer_id, lease_until = v_now OPERATOR(pg_catalog.+) v_lease,
				-- (a claim for another customer than the last: the last one's
				-- error, which may quote their address, is not this claim's)
				last_error = CASE WHEN r.claimed_for IS NOT DISTINCT FROM due.customer_id THEN r.last_error END
			FROM due WHERE r.id OPERATOR(pg_catalog.=) due.id
			RETURNING r.id)
		SELECT pg_catalog.array_agg(t.id) INTO v_ids FROM taken t;
		EXIT WHEN v_ids IS NULL;
		-- the address as it is now; none (opted out, erased, no booking to
		-- remind of any more): cancelled, not handed out
		RETURN QUERY
		WITH claimed AS (
			SELECT r.id, r.organization_id, r.booking_id, r.kind, r.offset_minutes, a.channel, a.recipient,
				   c.full_name, r.starts_at, r.due_at, v.timezone, v.name AS venue_name, s.name AS service_name,
				   protector_internal.claims_made(r.earlier_claims, r.attempts) AS attempt, r.earlier_claims, r.lease_until,
				   (b.status OPERATOR(pg_catalog.=) 'confirmed' AND pg_catalog.lower(b.during) OPERATOR(pg_catalog.=) r.starts_at) AS current
			FROM protector.booking_reminders r
			JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) r.organization_id
									  AND b.id OPERATOR(pg_catalog.=) r.booking_id
			JOIN protector.services s ON s.id OPERATOR(pg_catalog.=) b.service_id
			JOIN protector.venues v ON v.id OPERATOR(pg_catalog.=) b.venue_id
			LEFT JOIN protector.customers c ON c.organization_id OPERATOR(pg_catalog.=) b.organization_id
											AND c.id OPERATOR(pg_catalog.=) b.customer_id
			LEFT JOIN LATERAL protector_internal.reminder_address(b.organization_id, b.customer_id,
																  r.asked_channel, true) a ON true
			WHERE r.id OPERATOR(pg_catalog.=) ANY (v_ids)),
		dropped AS (
			UPDATE protector.booking_reminders r
			SET status = 'cancelled', lease_until = NULL,
				cancelled_reason = CASE WHEN NOT k.current THEN 'booking no longer confirmed for this time'
										ELSE 'customer has no address for reminders' END
			FROM claimed k
			WHERE r.id OPERATOR(pg_catalog.=) k.id AND (NOT k.current OR k.recipient IS NULL)),
		kept AS (
			UPDATE protector.booking_reminders r
			SET channel = k.channel
			FROM claimed k
			WHERE r.id OPERATOR(pg_catalog.=) k.id AND k.current AND k.recipient IS NOT NULL
			  AND r.channel IS DISTINCT FROM k.channel)
		SELECT k.id, k.organization_id, k.booking_id, k.kind, k.offset_minutes, k.channel, k.recipient, k.full_name,
			   k.starts_at, k.timezone, k.venue_name, k.service_name, k.attempt, k.lease_until,
			   -- (one message until it is brought back: then another, maybe
			   -- to another customer or of another time, which a provider
			   -- must not drop as the one before)
			   CASE WHEN k.earlier_claims OPERATOR(pg_catalog.=) 0 THEN k.id::text
					ELSE k.id::text OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) k.earlier_claims::text END
		FROM claimed k
		WHERE k.current AND k.recipient IS NOT NULL
		ORDER BY k.starts_at, k.due_at, k.id;
		GET DIAGNOSTICS v_handed = ROW_COUNT;
		v_left := v_left OPERATOR(pg_catalog.-) v_handed;
		-- (all places taken, or fewer due than asked: no more)
		EXIT WHEN v_left OPERATOR(pg_catalog.=) 0 OR pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.<) v_asked
			   OR v_round OPERATOR(pg_catalog.=) 10;
	END LOOP;
END
$$;
COMMENT ON FUNCTION protector.claim_due_reminders(integer, interval) IS
'For the reminder worker (service_role): hands out at most p_limit due reminders, each to one caller for p_lease, with the address to send to';

CREATE FUNCTION protector.complete_reminder(p_id uuid, p_ok boolean, p_error text DEFAULT NULL,
											p_attempt integer DEFAULT NULL)
RETURNS protector.booking_reminders
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r protector.booking_reminders;
	v_late boolean;		-- its lease ran out, and no claim took it since
	v_attempt integer;	-- the number of its last claim
	v_error text;
	v_current boolean;	-- its booking still confirmed for its time
	v_customer uuid;	-- its booking's customer now
	v_now timestamptz;	-- the clock once its row is held (as claims judge)
BEGIN
	PERFORM protector_internal.require_worker('complete_reminder');
	IF p_id IS NULL OR p_ok IS NULL THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s must not be null', CASE WHEN p_id IS NULL THEN 'p_id' ELSE 'p_ok' END),
			NULL, CASE WHEN p_id IS NULL THEN 'p_id is the reminder_id claim_due_reminders handed out.'
					   ELSE 'p_ok says whether the reminder was sent.' END);
	END IF;
	-- (a change of its booking's customer in progress holds the reminders
	-- being sent, sync_booking_reminders: this waits for it, and then sees
	-- whose the booking is)
	SELECT * INTO r FROM protector.booking_reminders x WHERE x.id OPERATOR(pg_catalog.=) p_id FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'reminder not found', pg_catalog.format('No reminder has id %s.', p_id));
	END IF;
	-- (read after the wait for its row: a report that waited for a claim
	-- is recorded at its end, not before it)
	v_now := protector_internal.clock_now();
	-- (a late report of the last claim is the truth about that attempt: a
	-- reminder sent was retried, or stayed failed, when any other claim
	-- ran in between and settled the lease; also once its booking was
	-- cancelled, or started, after that: refused, the message that went
	-- out was never recorded, and the booking confirmed again brought the
	-- reminder back due now, under a new key: sent twice)
	v_late := r.status IN ('pending', 'failed', 'cancelled', 'expired') AND r.lease_until IS NULL
			  AND r.last_error IS NOT DISTINCT FROM protector_internal.lease_expired_error();
	IF r.status OPERATOR(pg_catalog.<>) 'sending' AND NOT v_late THEN
		PERFORM protector.raise('conflict', 'the reminder is not being sent',
			pg_catalog.format('Its status is %s.', r.status),
			'Only a reminder handed out by claim_due_reminders is completed, once; a lease that ran out hands it to the next claim.');
	END IF;
	-- (claims are numbered across the times it was brought back)
	v_attempt := protector_internal.claims_made(r.earlier_claims, r.attempts);
	IF p_attempt IS NULL AND v_attempt OPERATOR(pg_catalog.>) 1 THEN
		PERFORM protector.raise('conflict', 'this reminder was claimed more than once: p_attempt must say which claim reports',
			pg_catalog.format('It is at attempt %s.', v_attempt),
			'Pass the attempt that claim_due_reminders handed out; a report of an earlier claim is refused.');
	END IF;
	IF p_attempt IS NOT NULL AND p_attempt OPERATOR(pg_catalog.<>) v_attempt THEN
		PERFORM protector.raise('conflict', 'this claim of the reminder has run out',
			pg_catalog.format('Attempt %s was claimed; this is attempt %s.', p_attempt, v_attempt),
			'Its lease ran out and another claim took it, or the reminder was brought back since.');
	END IF;
	-- its booking as it is now, read once: still confirmed for the time
	-- it reminds of, and whose
	SELECT b.status OPERATOR(pg_catalog.=) 'confirmed' AND pg_catalog.lower(b.during) OPERATOR(pg_catalog.=) r.starts_at,
		   b.customer_id
	INTO v_current, v_customer
	FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) r.organization_id AND b.id OPERATOR(pg_catalog.=) r.booking_id;
	v_current := COALESCE(v_current, false);
	-- a report of a claim for a customer who no longer has the booking
	-- (another took it over meanwhile): that message went to them; the
	-- reminder starts again for the one who has it, numbered on, while
	-- the booking is still confirmed for that time and ahead (else the
	-- report is taken as it is: there is nobody to remind).  One it
	-- reached is remembered (sent_to): should the booking come back to
	-- them, it is not sent to them twice.
	-- (not one cancelled or expired since its lease ran out: its late
	-- report records what happened and brings nothing back; a review)
	IF v_current AND v_customer IS NOT NULL AND r.starts_at OPERATOR(pg_catalog.>) v_now
	   AND r.status OPERATOR(pg_catalog.<>) ALL ('{cancelled,expired}')
	   AND protector_internal.reminder_handed(r.organization_id, r.claimed_for, v_customer) THEN
		UPDATE protector.booking_reminders x
		SET status = 'pending', next_attempt_at = v_now, lease_until = NULL, last_error = NULL,
			claimed_at = NULL, claimed_for = NULL, attempts = 0,
			earlier_claims = protector_internal.claims_made(x.earlier_claims, x.attempts),
			sent_to = CASE WHEN p_ok THEN protector_internal.reached_also(x.sent_to, x.claimed_for) ELSE x.sent_to END
		WHERE x.id OPERATOR(pg_catalog.=) p_id
		RETURNING * INTO r;
		RETURN r;
	END IF;
	-- the error kept: none where the customer it was claimed for, or the
	-- booking's customer now, was erased (it may quote the address the
	-- erasure removed; an erasure in progress holds the reminders claimed
	-- for its customer, so this waited for it), and none that reads as the
	-- lease's (it would take a second report)
	IF NOT p_ok THEN
		v_error := CASE WHEN EXISTS (
							SELECT FROM protector.customer_erasures e
							WHERE e.organization_id OPERATOR(pg_catalog.=) r.organization_id
							  AND e.customer_id OPERATOR(pg_catalog.=) ANY (ARRAY[r.claimed_for, v_customer]))
						THEN 'failed (customer erased)'
						ELSE COALESCE(pg_catalog.left(NULLIF(NULLIF(protector_internal.trim_spaces(p_error), ''),
															 protector_internal.lease_expired_error()), 2000),
									  'failed (no error given)') END;
	END IF;
	IF p_ok THEN
		UPDATE protector.booking_reminders x
		-- (never before its claim, by the clock too)
		SET status = 'sent', sent_at = v_now, lease_until = NULL, last_error = NULL
		WHERE x.id OPERATOR(pg_catalog.=) p_id
		RETURNING * INTO r;
	ELSIF v_late THEN
		-- (the failed attempt was counted, and its retry set, when the
		-- lease ran out: the worker's error replaces the lease's)
		UPDATE protector.booking_reminders x SET last_error = v_error
		WHERE x.id OPERATOR(pg_catalog.=) p_id
		RETURNING * INTO r;
	ELSE
		-- (one of a booking cancelled or moved while it was out is not
		-- tried again: the cancellation or the move, which leaves the
		-- reminders being sent to their worker, would have cancelled it)
		UPDATE protector.booking_reminders x
		SET status = CASE WHEN NOT v_current THEN 'cancelled'
						  WHEN x.attempts OPERATOR(pg_catalog.>=) protector_internal.reminder_max_attempts(x.organization_id)
						  THEN 'failed' ELSE 'pending' END,
			cancelled_reason = CASE WHEN NOT v_current THEN 'booking no longer confirmed for this time' END,
			next_attempt_at = v_now OPERATOR(pg_catalog.+) protector_internal.reminder_backoff(x.attempts),
			lease_until = NULL, last_error = v_error
		WHERE x.id OPERATOR(pg_catalog.=) p_id
		RETURNING * INTO r;
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION protector.complete_reminder(uuid, boolean, text, integer) IS
'For the reminder worker (service_role): a claimed reminder was sent (p_ok) or failed (p_error, retried with backoff up to max_attempts); p_attempt: only that claim';

-- audited like every business table
SELECT protector.enable_audit('protector.booking_reminders');

GRANT EXECUTE ON FUNCTION protector.send_booking_reminder(uuid, text) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION
	protector.claim_due_reminders(integer, interval),
	protector.complete_reminder(uuid, boolean, text, integer),
	protector_internal.require_worker(text),
	protector_internal.settle_stale_reminders(),
	protector_internal.lease_expired_error(),
	protector_internal.reminder_handed(uuid, uuid, uuid),
	protector_internal.reminder_reached(uuid, uuid[], uuid),
	protector_internal.claims_made(integer, integer),
	protector_internal.reached_also(uuid[], uuid),
	protector_internal.reminder_max_attempts(uuid),
	protector_internal.reminder_backoff(integer)
TO service_role;
-- (as the caller, under RLS: prepare_reminder asks it for the desk)
GRANT EXECUTE ON FUNCTION protector_internal.reminder_address(uuid, uuid, text, boolean) TO authenticated, service_role;
