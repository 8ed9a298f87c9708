\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/81_staff.sql: the staff of an organization: invitations, roles,
-- deactivation, venues, shifts, activity and performance
-- (docs/staff.md).
--
-- Members are invited by e-mail before they have an account; the
-- membership starts when an auth user with that e-mail, confirmed, signs
-- in (the Supabase access-token hook auth_access_token_hook, or
-- accept_staff_invitations() called by the app after sign-in).
--
-- Shifts (staff_shifts: member, venue, time range) are kept by C triggers
-- on the reservation engine's mechanics (src/shifts.c): a member's shifts
-- never overlap, and a booking's agent is on shift at its venue for its
-- whole time (settings.staff.require_shifts, default true), under the
-- member's transaction-level advisory lock (class id 1886547719).

-- invitations -----------------------------------------------------------------

CREATE TABLE protector.staff_invitations (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	email			text NOT NULL CHECK (length(email) <= 320 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
	-- the e-mail as compared (trimmed, A-Z in lower case: the C collation's
	-- lower(), not the database's, which folds the Kelvin sign to a k and
	-- would let another mailbox take the invitation), set by the database
	email_key		text NOT NULL,
	role			protector.member_role NOT NULL DEFAULT 'viewer',
	full_name		text CHECK (length(full_name) <= 200),
	expires_at		timestamptz NOT NULL DEFAULT now() + interval '14 days',
	accepted_at		timestamptz,
	member_id		uuid,
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	-- (accepted: the membership it made, until that member is deleted)
	CHECK (member_id IS NULL OR accepted_at IS NOT NULL),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, member_id) REFERENCES protector.members (organization_id, id) ON DELETE SET NULL (member_id)
);
CREATE INDEX staff_invitations_member_idx ON protector.staff_invitations (organization_id, member_id);
-- the name the membership takes (sql/67_catalog_api.sql)
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF full_name ON protector.staff_invitations
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.staff_invitations')) EXECUTE FUNCTION protector_internal.check_full_name();
CREATE INDEX staff_invitations_email_idx ON protector.staff_invitations (email_key) WHERE accepted_at IS NULL;
CREATE UNIQUE INDEX staff_invitations_open_idx ON protector.staff_invitations (organization_id, email_key)
	WHERE accepted_at IS NULL;
COMMENT ON TABLE protector.staff_invitations IS
'Members invited by e-mail; the membership starts when a confirmed auth user with that e-mail signs in';

-- staff at venues ---------------------------------------------------------------

CREATE TABLE protector.staff_venues (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	member_id		uuid NOT NULL,
	venue_id		uuid NOT NULL,
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, member_id, venue_id),
	FOREIGN KEY (organization_id, member_id) REFERENCES protector.members (organization_id, id) ON DELETE CASCADE,
	FOREIGN KEY (organization_id, venue_id) REFERENCES protector.venues (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX staff_venues_venue_idx ON protector.staff_venues (organization_id, venue_id);
COMMENT ON TABLE protector.staff_venues IS 'Which members work at which venues: shifts are scheduled only there';

-- shifts ------------------------------------------------------------------------

CREATE TABLE protector.staff_shifts (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	member_id		uuid NOT NULL,
	venue_id		uuid NOT NULL,
	-- not empty, [) bounds, both finite, at most 31 days
	during			tstzrange NOT NULL CHECK (protector_internal.during_is_bounded(during)
											  AND protector_internal.during_within_31_days(during)),
	note			text CHECK (length(note) <= 2000),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, member_id) REFERENCES protector.members (organization_id, id) ON DELETE CASCADE,
	FOREIGN KEY (organization_id, venue_id) REFERENCES protector.venues (organization_id, id) ON DELETE CASCADE
);
-- what the overlap check probes (src/shifts.c), by position
CREATE INDEX staff_shifts_during_idx ON protector.staff_shifts USING gist (member_id, during);
CREATE INDEX staff_shifts_member_idx ON protector.staff_shifts (organization_id, member_id);
CREATE INDEX staff_shifts_venue_idx ON protector.staff_shifts (organization_id, venue_id, (lower(during)));
COMMENT ON TABLE protector.staff_shifts IS
'Staff shifts (the seeds'' staff_schedules): a member''s shifts never overlap; bookings are assigned only to agents on shift';

-- activity ----------------------------------------------------------------------

CREATE TABLE protector.staff_activity (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	member_id		uuid,
	action			text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]*$' AND length(action) <= 63),
	details			jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object' AND protector_internal.value_size(details) <= 8192),
	occurred_at		timestamptz NOT NULL DEFAULT now(),
	-- (the account that wrote it: member_id goes when the membership does)
	created_by		uuid DEFAULT protector.current_user_id(),
	FOREIGN KEY (organization_id, member_id) REFERENCES protector.members (organization_id, id) ON DELETE SET NULL (member_id)
);
CREATE INDEX staff_activity_member_idx ON protector.staff_activity (organization_id, member_id, occurred_at);
COMMENT ON TABLE protector.staff_activity IS
'What staff did (log_staff_activity, and protector''s own staff changes): append-only';

CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.staff_invitations
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.staff_shifts
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();

ALTER TABLE protector.staff_invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_invitations FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_venues ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_venues FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_shifts ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_shifts FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_activity ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.staff_activity FORCE ROW LEVEL SECURITY;
-- invitations: those who manage members (owners' invitations: owners)
CREATE POLICY staff_invitations_select ON protector.staff_invitations FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage'))::uuid[])
		   AND (role <> 'owner' OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])));
CREATE POLICY staff_invitations_insert ON protector.staff_invitations FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage'))::uuid[])
				AND (role <> 'owner' OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])));
-- (an invitation is not edited: a new one replaces it)
CREATE POLICY staff_invitations_delete ON protector.staff_invitations FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage'))::uuid[])
		   AND (role <> 'owner' OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])));
-- venues of staff: the desk sees them, schedulers change them
CREATE POLICY staff_venues_select ON protector.staff_venues FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('members.read'))::uuid[])
		   OR member_id IN (SELECT m.id FROM protector.members m WHERE m.user_id = (SELECT protector.current_user_id()) AND m.active));
CREATE POLICY staff_venues_insert ON protector.staff_venues FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]));
CREATE POLICY staff_venues_delete ON protector.staff_venues FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]));
-- shifts: the desk sees them all, everyone their own; schedulers write
CREATE POLICY staff_shifts_select ON protector.staff_shifts FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.read'))::uuid[])
		   OR member_id IN (SELECT m.id FROM protector.members m WHERE m.user_id = (SELECT protector.current_user_id()) AND m.active));
CREATE POLICY staff_shifts_insert ON protector.staff_shifts FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]));
CREATE POLICY staff_shifts_update ON protector.staff_shifts FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]));
CREATE POLICY staff_shifts_delete ON protector.staff_shifts FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('shifts.manage'))::uuid[]));
-- activity: owners and admins read it all, everyone their own; written by
-- log_staff_activity and protector's own changes (an owner's invitation:
-- owners, as the invitation and its audit rows)
CREATE POLICY staff_activity_select ON protector.staff_activity FOR SELECT TO authenticated
	USING ((organization_id = ANY ((SELECT protector_internal.orgs_with('staff.activity'))::uuid[])
			AND (action <> 'staff.invited' OR details ->> 'role' IS DISTINCT FROM 'owner'
				 OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])))
		   OR member_id IN (SELECT m.id FROM protector.members m WHERE m.user_id = (SELECT protector.current_user_id()) AND m.active));
-- (staff.* names protector's own entries: record_staff_activity)
CREATE POLICY staff_activity_insert ON protector.staff_activity FOR INSERT TO authenticated
	WITH CHECK (member_id IN (SELECT m.id FROM protector.members m
							  WHERE m.user_id = (SELECT protector.current_user_id()) AND m.active)
				AND NOT starts_with(action, 'staff.') AND occurred_at = now());
SELECT pg_catalog.pg_extension_config_dump('protector.staff_invitations', '');
SELECT pg_catalog.pg_extension_config_dump('protector.staff_venues', '');
SELECT pg_catalog.pg_extension_config_dump('protector.staff_shifts', '');
SELECT pg_catalog.pg_extension_config_dump('protector.staff_activity', '');
SELECT pg_catalog.pg_extension_config_dump('protector.staff_activity_id_seq', '');

-- An expired invitation (never to be accepted) of an address, deleted
-- for whoever invites members: an admin cannot see or withdraw an
-- owner's, which then kept the address's open-invitation key for good.
CREATE FUNCTION protector_internal.drop_expired_invitation(p_organization_id uuid, p_email_key text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.manage')) THEN
		DELETE FROM protector.staff_invitations x
		WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.accepted_at IS NULL
		  AND x.email_key OPERATOR(pg_catalog.=) p_email_key AND x.expires_at OPERATOR(pg_catalog.<=) pg_catalog.now();
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.drop_expired_invitation(uuid, text) IS
'Deletes the expired open invitation of an address for a caller who invites members (members.manage), owners'' included';

-- an invitation's e-mail as compared: trimmed and in lower case, nothing
-- more (A to Z only, by the C collation: the database's lower() folds the
-- Kelvin sign to a k, and two mailboxes never share an invitation)
CREATE FUNCTION protector_internal.prepare_invitation()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (one too long to be an address is not trimmed: btrim of 150 MB
	-- failed with XX000, out of memory; the check below refuses it)
	NEW.email := CASE WHEN pg_catalog.length(NEW.email) OPERATOR(pg_catalog.<=) 1000 THEN pg_catalog.btrim(NEW.email)
					  ELSE NEW.email END;
	NEW.email_key := pg_catalog.lower(NEW.email COLLATE "C");
	-- (as create_staff_member's p_email: the owners' list shows it; for
	-- callers who may invite, the policy refuses the others whatever it is)
	IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.email OPERATOR(pg_catalog.<>) OLD.email)
	   AND (protector_internal.caller_is_trusted()
			OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.manage')))
	   AND NOT protector_internal.email_is_valid(NEW.email) THEN
		PERFORM protector.raise('invalid_parameter', 'email is not an email address', 'At most 320 characters, like name@example.com.');
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
		-- an expired invitation of the address goes, whoever made it (it
		-- can never be accepted: an owner's blocked admins for good)
		PERFORM protector_internal.drop_expired_invitation(NEW.organization_id, NEW.email_key);
		-- a new invitation is open for 14 days, whatever the insert says
		NEW.expires_at := pg_catalog.now() OPERATOR(pg_catalog.+) '14 days'::pg_catalog.interval;
		NEW.accepted_at := NULL;
		NEW.member_id := NULL;
		-- and replaces an open one of the same address the caller may
		-- withdraw, also when inserted directly (a bare 23505 on the open
		-- invitations' unique index otherwise; create_staff_member names
		-- the one left, an owner's an admin may not replace)
		DELETE FROM protector.staff_invitations x
		WHERE x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND x.accepted_at IS NULL
		  AND x.email_key OPERATOR(pg_catalog.=) NEW.email_key;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.prepare_invitation() IS
'Trigger: an invitation''s email_key is its e-mail trimmed and in lower case, and a new one is open for 14 days, whatever a write says';
CREATE TRIGGER prepare_invitation BEFORE INSERT OR UPDATE ON protector.staff_invitations
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.staff_invitations'))
	EXECUTE FUNCTION protector_internal.prepare_invitation();

-- An invitation is its inviter's to give only while their membership may:
-- withdraw_member_invitations deletes those open when the inviter is
-- deactivated or given another role, but not one still uncommitted then,
-- or inserted under a snapshot from before (a fired admin's direct insert
-- at READ COMMITTED racing the deactivation, or at REPEATABLE READ after
-- it, made a second mailbox an admin).  So a signed-in inviter's
-- membership is locked FOR SHARE (a change of it waits for the
-- invitation's commit, then withdraws it; at REPEATABLE READ one since
-- the snapshot is a 40001) and asked again as it is now.  As the owner:
-- the lock is on the inviter's own row, which members may not lock.
CREATE FUNCTION protector_internal.lock_inviter()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
	v_member protector.members;
BEGIN
	IF v_user IS NULL OR protector_internal.requester_is_trusted() THEN
		RETURN NEW;
	END IF;
	SELECT * INTO v_member FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND m.user_id OPERATOR(pg_catalog.=) v_user
	FOR SHARE;
	IF NOT FOUND OR NOT v_member.active
	   OR NOT protector_internal.role_may(v_member.role,
			ARRAY[CASE WHEN NEW.role OPERATOR(pg_catalog.=) 'owner' THEN 'members.manage_owners' ELSE 'members.manage' END]) THEN
		PERFORM protector.raise('forbidden', 'your membership does not let you invite',
			'Owners and admins invite members, and only owners invite owners; a membership deactivated or given another role while the invitation was written no longer counts.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_inviter() IS
'Trigger (BEFORE INSERT on staff_invitations): locks a signed-in inviter''s membership FOR SHARE and refuses (42501) one that may no longer invite';
CREATE TRIGGER lock_inviter BEFORE INSERT ON protector.staff_invitations
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.staff_invitations'))
	EXECUTE FUNCTION protector_internal.lock_inviter();

-- Whether this transaction deleted the user's membership of the
-- organization (src/members.c): a writer without one, in a delete, either
-- deleted it in the same statement (themselves with others) or lost it to
-- another transaction while the statement was under way.
CREATE FUNCTION protector_internal.membership_deleted_here(p_organization_id uuid, p_user_id uuid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_membership_deleted_here'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION protector_internal.membership_deleted_here(uuid, uuid) IS
'Whether the current transaction deleted the user''s membership row of the organization (C, from the row versions: not forgeable; protector''s own code only)';
REVOKE ALL ON FUNCTION protector_internal.membership_deleted_here(uuid, uuid) FROM PUBLIC;

-- The same of a member written directly (owners and admins add, change
-- and remove members through the policies; deactivate_staff and
-- update_staff_permissions write through them too): the policies ask the
-- writer's rights on the statement's snapshot, so a fired admin's insert
-- of an admin, or promotion of a viewer, already under way when the
-- deactivation committed went through (at REPEATABLE READ, any made
-- under an older snapshot).  The writer's membership is asked again as
-- it is now, for each row: under READ COMMITTED as committed (a
-- deactivation that commits later comes after the write, and a member's
-- write, unlike an invitation, leaves nothing the deactivation must
-- withdraw), under REPEATABLE READ and SERIALIZABLE locked FOR SHARE (one
-- changed since the snapshot: 40001).  Under READ COMMITTED only
-- key-share-locked, as the change's staff_activity entry naming its
-- writer locks it anyway: the row written is locked first, and a share
-- lock deadlocked two admins writing each other's rows (40P01).  NOWAIT:
-- an RPC changing the writer (deactivate_staff) holds the writer's row
-- FOR UPDATE, and may wait for the row this write holds; the write is
-- told to retry (40001) instead of waiting in that cycle.  A writer
-- with no membership is refused too (one removed while the write was
-- under way passed the policies on its snapshot), but in a delete: a
-- statement deleting its writer's row with others sees it gone.
-- protector's own SECURITY DEFINER code (a
-- founding owner, an invitation activated, a member confirming or
-- leaving) answers for its writes.
CREATE FUNCTION protector_internal.lock_member_manager(p_organization_id uuid, p_owners boolean, p_deleting boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
	v_member protector.members;
BEGIN
	IF v_user IS NULL OR protector_internal.requester_is_trusted() THEN
		RETURN;
	END IF;
	BEGIN
		IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.=) 'read committed' THEN
			SELECT * INTO v_member FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.user_id OPERATOR(pg_catalog.=) v_user
			FOR KEY SHARE NOWAIT;
		ELSE
			SELECT * INTO v_member FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.user_id OPERATOR(pg_catalog.=) v_user
			FOR SHARE NOWAIT;
		END IF;
	EXCEPTION WHEN lock_not_available THEN
		PERFORM protector.raise('retry', 'your membership is being changed',
			'Your own membership is locked by a change of it under way.', 'Retry the write.');
	END;
	-- (none: the policies would refuse one who never was a member, but one
	-- removed while the write was under way passed them on its snapshot;
	-- a statement deleting its writer's row with others saw it gone, which
	-- the row itself tells: one deleted by another transaction is refused)
	IF NOT FOUND AND p_deleting
	   AND protector_internal.membership_deleted_here(p_organization_id, v_user) THEN
		RETURN;
	END IF;
	IF NOT FOUND THEN
		PERFORM protector.raise('forbidden', 'you are no member of this organization',
			'Members are managed by the organization''s owners and admins; a membership removed while this change was written is gone.');
	END IF;
	IF NOT v_member.active
	   OR NOT protector_internal.role_may(v_member.role,
			ARRAY[CASE WHEN p_owners THEN 'members.manage_owners' ELSE 'members.manage' END]) THEN
		PERFORM protector.raise('forbidden', 'your membership does not let you manage members',
			'Owners and admins manage members, and only owners manage owners; a membership deactivated or given another role while this change was written no longer counts.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_member_manager(uuid, boolean, boolean) IS
'Asks the signed-in member''s own membership again as it is now (locked NOWAIT: FOR KEY SHARE under READ COMMITTED, FOR SHARE above; 40001 while a change of it holds it) and refuses (42501) one that may no longer manage members (owners'' rows: p_owners)';

-- An RPC's update of a member's row, locked and read as the caller, that
-- wrote nothing: the update policy no longer takes it, for the caller's
-- own membership was deactivated or given another role while the RPC
-- waited for the row (the caller answered success, having changed
-- nothing, a fired member still active), or the row went.  Says which.
CREATE FUNCTION protector_internal.refuse_unwritten_member(p_organization_id uuid, p_owners boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.lock_member_manager(p_organization_id, p_owners, false);
	PERFORM protector.raise('not_found', 'member not found', 'It was removed while the request was under way.');
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_unwritten_member(uuid, boolean) IS
'Internal: refuses an RPC''s member update that wrote nothing (42501 when the caller may no longer manage members, else member not found)';

CREATE FUNCTION protector_internal.lock_member_writer()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector_internal.lock_member_manager(
			CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN OLD.organization_id ELSE NEW.organization_id END,
			(TG_OP OPERATOR(pg_catalog.<>) 'DELETE' AND NEW.role OPERATOR(pg_catalog.=) 'owner')
			OR (TG_OP OPERATOR(pg_catalog.<>) 'INSERT' AND OLD.role OPERATOR(pg_catalog.=) 'owner'),
			TG_OP OPERATOR(pg_catalog.=) 'DELETE');
	END IF;
	RETURN CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_member_writer() IS
'Trigger (BEFORE INSERT, UPDATE or DELETE on members): a direct write''s writer may still manage members, asked under a lock of their own membership (lock_member_manager)';
CREATE TRIGGER lock_member_writer BEFORE INSERT OR UPDATE OR DELETE ON protector.members
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.members'))
	EXECUTE FUNCTION protector_internal.lock_member_writer();

-- Two invitations to one address in one INSERT: the second's replacement
-- would delete the first, which the statement still reports as inserted
CREATE FUNCTION protector_internal.one_invitation_per_address()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector_internal.restoring_into(TG_RELID) THEN
		RETURN NULL;			-- (history comes back as it was)
	END IF;
	-- (the address named: the rows collide once trimmed and lower-cased,
	-- which a bulk invitation's caller cannot tell at a glance)
	PERFORM protector.raise('invalid_parameter', 'two invitations to one address in one statement',
		pg_catalog.format('%s is given %s times.', protector_internal.quoted_text(d.email_key, 100), d.n),
		'Invite an address once; a later invitation replaces it.')
	FROM (SELECT n.email_key, pg_catalog.count(*) AS n FROM new_invitations n WHERE n.accepted_at IS NULL
		  GROUP BY n.organization_id, n.email_key HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1
		  ORDER BY n.email_key LIMIT 1) d;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.one_invitation_per_address() IS
'Trigger (AFTER INSERT, per statement): refuses two invitations to one address in one statement';
CREATE TRIGGER one_invitation_per_address AFTER INSERT ON protector.staff_invitations
	REFERENCING NEW TABLE AS new_invitations
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.one_invitation_per_address();

-- the shift checks (src/shifts.c) --------------------------------------------------

CREATE FUNCTION protector_internal.shift_check()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_shift_check'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.shift_check() IS
'Trigger (AFTER INSERT, UPDATE, DELETE, C): a member''s shifts never overlap, and never leave an assigned booking without a shift';
CREATE FUNCTION protector_internal.agent_still_assigned(p_organization_id uuid, p_user_id uuid, p_shifts boolean DEFAULT true)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_agent_still_assigned'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.agent_still_assigned(uuid, uuid, boolean) IS
'Whether the member has live bookings, open tasks or (p_shifts) shifts not ended under the latest snapshot (C: a deactivation or a role change checks its release under REPEATABLE READ)';
GRANT EXECUTE ON FUNCTION protector_internal.agent_still_assigned(uuid, uuid, boolean) TO authenticated, service_role;

CREATE FUNCTION protector_internal.agent_shift_check()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_agent_shift_check'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.agent_shift_check() IS
'Trigger (AFTER INSERT or UPDATE of a booking''s agent, time, venue, status, C): the agent''s shifts at the venue cover the booking';

CREATE TRIGGER shift_check AFTER INSERT OR UPDATE OR DELETE ON protector.staff_shifts
	FOR EACH ROW EXECUTE FUNCTION protector_internal.shift_check();
-- (a new booking's check: fired by its AFTER INSERT trigger, src/booking_followups.c)
-- (service_id, party_size, total_price and currency: an UPDATE OF list
-- names what the statement sets, not what BEFORE triggers change;
-- guard_booking_write fits a booking moved to a longer service to its new
-- length, and set_booking_price() may confirm a booking whose deposit a
-- new price or currency leaves paid)
CREATE TRIGGER agent_shift_check_update AFTER UPDATE OF assigned_agent, during, venue_id, status, service_id, party_size, total_price, currency,
	hold_expires_at ON protector.bookings
	FOR EACH ROW WHEN (NEW.assigned_agent IS NOT NULL
					   -- (given to another agent, whatever its status: a
					   -- completed booking handed to an agent off shift
					   -- then moved its work and revenue to them)
					   AND (NEW.assigned_agent IS DISTINCT FROM OLD.assigned_agent
							OR (NEW.status = ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[])
								AND (NEW.venue_id IS DISTINCT FROM OLD.venue_id OR NOT NEW.during <@ OLD.during
									 OR OLD.status <> ALL ('{held,pending,confirmed,in_progress}'::protector.booking_status[])
									 -- (a hold confirmed: one that ran out held
									 -- nothing, and its agent's shift may be gone;
									 -- so is one held longer, revived so)
									 OR (OLD.status = 'held' AND NEW.status <> 'held')
									 OR (NEW.status = 'held' AND NEW.hold_expires_at IS DISTINCT FROM OLD.hold_expires_at)))))
	EXECUTE FUNCTION protector_internal.agent_shift_check();

-- A member's schedule lock (class id 1886547719), as shift_check() takes
-- it: both members' in one order, a bounded wait (src/shifts.c).
CREATE FUNCTION protector_internal.lock_members(p_member_id uuid, p_other_id uuid DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_members_sql'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.lock_members(uuid, uuid) IS
'The schedule locks of one or two members, in shift_check()''s order and with its bounded wait (C; the owner''s triggers)';

-- A member leaves a venue (their staff_venues row goes) only once they
-- have no shift there that has not ended.  Under the member's lock, which
-- a shift's write takes too (check_shift_member): a shift written at the
-- same moment is seen, or sees the assignment gone.
CREATE FUNCTION protector_internal.check_venue_unassignment()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.lock_members(OLD.member_id);
	-- (a fingerprint of the member's shifts, not their count: a shift
	-- moved to this venue meanwhile kept the count, went unseen, and was
	-- left at a venue the member no longer works at)
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.hashtext(COALESCE(pg_catalog.string_agg(s.id::text OPERATOR(pg_catalog.||) s.venue_id::text
				OPERATOR(pg_catalog.||) s.during::text, '','' ORDER BY s.id), ''''))::bigint
		 FROM protector.staff_shifts s
		 WHERE s.organization_id OPERATOR(pg_catalog.=) (SELECT m.organization_id FROM protector.members m
														 WHERE m.id OPERATOR(pg_catalog.=) $1)
		   AND s.member_id OPERATOR(pg_catalog.=) $1', OLD.member_id,
		'a shift of this member was written concurrently', NULL);
	IF EXISTS (SELECT FROM protector.staff_shifts s
			   WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
				 AND s.member_id OPERATOR(pg_catalog.=) OLD.member_id AND s.venue_id OPERATOR(pg_catalog.=) OLD.venue_id
				 AND pg_catalog.upper(s.during) OPERATOR(pg_catalog.>) pg_catalog.now())
	   AND EXISTS (SELECT FROM protector.members m WHERE m.id OPERATOR(pg_catalog.=) OLD.member_id)
	   AND EXISTS (SELECT FROM protector.venues v WHERE v.id OPERATOR(pg_catalog.=) OLD.venue_id) THEN
		-- (named: a DELETE of a venue's staff in one statement was refused
		-- without saying whose shift stood in the way)
		PERFORM protector.raise('invalid_parameter', 'the member still has shifts at this venue',
			(SELECT pg_catalog.format('Member %s%s has a shift at venue "%s" from %s local time.', m.id,
									  (' ("' OPERATOR(pg_catalog.||) protector_internal.quoted_text(m.full_name, 80) OPERATOR(pg_catalog.||) '")'),
									  protector_internal.quoted_text(v.name, 80),
									  pg_catalog.to_char(protector_internal.local_time(v.timezone, pg_catalog.lower(s.during)),
														 'YYYY-MM-DD HH24:MI'))
			 FROM protector.members m, protector.venues v, protector.staff_shifts s
			 WHERE m.id OPERATOR(pg_catalog.=) OLD.member_id AND v.id OPERATOR(pg_catalog.=) OLD.venue_id
			   AND s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND s.member_id OPERATOR(pg_catalog.=) OLD.member_id
			   AND s.venue_id OPERATOR(pg_catalog.=) OLD.venue_id AND pg_catalog.upper(s.during) OPERATOR(pg_catalog.>) pg_catalog.now()
			 ORDER BY pg_catalog.lower(s.during) LIMIT 1),
			'Delete or move their shifts there first.');
	END IF;
	RETURN OLD;
END
$$;
COMMENT ON FUNCTION protector_internal.check_venue_unassignment() IS
'Trigger: a member leaves a venue only with no shift there that has not ended (deleting the member or venue takes all)';
CREATE TRIGGER check_venue_unassignment BEFORE DELETE ON protector.staff_venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.staff_venues'))
	EXECUTE FUNCTION protector_internal.check_venue_unassignment();

-- A shift is at a venue the member works at (staff_venues), for an active member.
CREATE FUNCTION protector_internal.check_shift_member()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_active boolean;
BEGIN
	-- (a NULL the table's NOT NULL refuses, naming the column: the checks
	-- below told a direct write "no assignment to venue ", an empty id)
	IF NEW.member_id IS NULL OR NEW.venue_id IS NULL OR NEW.during IS NULL THEN
		RETURN NEW;
	END IF;
	-- the table's CHECK, in words (a direct write got its bare name), and
	-- for a new time create_staff_schedule's years (the schedule shows
	-- the weeks of the years 2000 to 2199); an infinite bound as every
	-- infinite time, 22008, as create_staff_schedule answers it
	PERFORM protector_internal.check_finite(pg_catalog.lower(NEW.during), 'during''s start');
	PERFORM protector_internal.check_finite(pg_catalog.upper(NEW.during), 'during''s end');
	IF NOT (protector_internal.during_is_bounded(NEW.during) AND protector_internal.during_within_31_days(NEW.during))
	   OR ((TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.during OPERATOR(pg_catalog.<>) OLD.during)
		   AND (pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.<) '2000-01-01 00:00+00'
				OR pg_catalog.upper(NEW.during) OPERATOR(pg_catalog.>) '2200-01-01 00:00+00')) THEN
		PERFORM protector.raise('invalid_parameter', 'a shift ends after it starts, within 31 days, between the years 2000 and 2200',
			pg_catalog.format('Got %s; a shift''s time is [start, end).', protector_internal.iso_text(NEW.during)),
			'Split a longer time into shifts of at most 31 days.');
	END IF;
	-- a shift kept in the past (its end corrected, say) is history
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.member_id OPERATOR(pg_catalog.=) OLD.member_id
	   AND NEW.venue_id OPERATOR(pg_catalog.=) OLD.venue_id
	   AND pg_catalog.upper(NEW.during) OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
		RETURN NEW;
	END IF;
	-- (the member's row locked: a deactivation racing this waits for it, or
	-- this for the deactivation, and then sees the member inactive)
	SELECT m.active INTO v_active FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND m.id OPERATOR(pg_catalog.=) NEW.member_id
	FOR SHARE;
	IF NOT FOUND THEN
		-- (as staff_venues says it: another organization's member is none)
		PERFORM protector.raise('not_found', 'member not found', 'member_id is not a member of the organization.');
	ELSIF NOT v_active THEN
		PERFORM protector.raise('invalid_parameter', 'shifts are for active members',
			pg_catalog.format('Member %s is not an active member of the organization.', NEW.member_id));
	END IF;
	-- (the member's lock, as their venue's unassignment takes it: one
	-- waits for the other and sees what it did; a shift moved from one
	-- member to another locks both, as shift_check() takes them)
	PERFORM protector_internal.lock_members(NEW.member_id, CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN OLD.member_id END);
	-- (a fingerprint of the member's venues, not their count: one
	-- assignment swapped for another kept the count and went unseen)
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.hashtext(COALESCE(pg_catalog.string_agg(sv.id::text OPERATOR(pg_catalog.||) sv.venue_id::text,
				'','' ORDER BY sv.id), ''''))::bigint
		 FROM protector.staff_venues sv
		 WHERE sv.organization_id OPERATOR(pg_catalog.=) (SELECT m.organization_id FROM protector.members m
														  WHERE m.id OPERATOR(pg_catalog.=) $1)
		   AND sv.member_id OPERATOR(pg_catalog.=) $1', NEW.member_id,
		'this member''s venues were changed concurrently', NULL);
	IF NOT EXISTS (SELECT FROM protector.staff_venues sv
				   WHERE sv.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
					 AND sv.member_id OPERATOR(pg_catalog.=) NEW.member_id AND sv.venue_id OPERATOR(pg_catalog.=) NEW.venue_id) THEN
		PERFORM protector.raise('invalid_parameter', 'the member does not work at this venue',
			pg_catalog.format('Member %s has no assignment to venue %s.', NEW.member_id, NEW.venue_id),
			'Assign them first: assign_staff_to_venue.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_shift_member() IS
'Trigger: a shift that has not ended is of an active member at a venue they are assigned to';
-- (a caller who may not manage the organization's shifts learns nothing
-- from it: the policy refuses the row as if the member did not exist; the
-- WHEN clause runs as the caller, the function as the owner, for whom
-- caller_is_trusted() holds)
CREATE TRIGGER check_shift_member BEFORE INSERT OR UPDATE OF member_id, venue_id, during ON protector.staff_shifts
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.staff_shifts')
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('shifts.manage'))))
	EXECUTE FUNCTION protector_internal.check_shift_member();

-- A shift's note as create_staff_schedule takes it, also when written
-- directly: without the spaces at its ends (Unicode's too), 1 to 2000
-- characters, no control or invisible direction characters (a note
-- written before stays writable unchanged)
CREATE FUNCTION protector_internal.check_shift_note()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.note OPERATOR(pg_catalog.<>) OLD.note OR OLD.note IS NULL THEN
		-- (stored as it is measured: 2000 characters and a space were
		-- measured as 2000 and then failed the column's CHECK, 23514)
		NEW.note := protector_internal.trim_spaces(NEW.note);
		PERFORM protector_internal.check_text(NEW.note, 'note', 1, 2000);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_shift_note() IS
'Trigger: a new shift note is 1 to 2000 characters of plain text, as create_staff_schedule''s p_note';
-- (for callers who may write shifts: the policy refuses the others' rows
-- whatever their note says)
CREATE TRIGGER check_shift_note BEFORE INSERT OR UPDATE OF note ON protector.staff_shifts
	FOR EACH ROW WHEN (NEW.note IS NOT NULL AND NOT protector_internal.restoring_into('protector.staff_shifts')
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('shifts.manage'))))
	EXECUTE FUNCTION protector_internal.check_shift_note();

-- A member works at a venue of their own organization: a direct insert
-- naming another's venue (or member) is told which is not found, not the
-- composite foreign key's bare error.
CREATE FUNCTION protector_internal.check_staff_venue()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (key-share locked, as the foreign key will: a deletion racing this
	-- is waited for and then named, not left to the key's bare error)
	PERFORM FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND m.id OPERATOR(pg_catalog.=) NEW.member_id
	FOR KEY SHARE;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'member not found', 'member_id is not a member of the organization.');
	END IF;
	PERFORM FROM protector.venues v
	WHERE v.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND v.id OPERATOR(pg_catalog.=) NEW.venue_id
	FOR KEY SHARE;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'venue not found', 'venue_id is not a venue of the organization.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_staff_venue() IS
'Trigger: a member''s venue and the member are of the row''s organization (named, where the foreign keys'' errors were bare)';
-- (a caller who may not schedule the organization's staff learns nothing
-- from it: the policy refuses the row; see check_shift_member)
CREATE TRIGGER check_staff_venue BEFORE INSERT OR UPDATE OF organization_id, member_id, venue_id ON protector.staff_venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.staff_venues')
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('shifts.manage'))))
	EXECUTE FUNCTION protector_internal.check_staff_venue();

-- A task is assigned to an active member only: a deactivated one is
-- assigned nothing (deactivate_staff releases their open tasks; a
-- booking's agent is checked by agent_shift_check, and its review task
-- follows it).
CREATE FUNCTION protector_internal.check_task_assignee()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_agent uuid;
BEGIN
	-- a task that keeps its assignee: a done one is history (a former
	-- member's stays theirs), an open one was checked when it was assigned;
	-- a reopened one is checked again, as is every new assignment
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.assignee OPERATOR(pg_catalog.=) OLD.assignee
	   AND NEW.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
	   AND NEW.booking_id IS NOT DISTINCT FROM OLD.booking_id
	   AND (NEW.status OPERATOR(pg_catalog.=) 'done' OR OLD.status OPERATOR(pg_catalog.<>) 'done') THEN
		RETURN NEW;
	END IF;
	-- (the member's row locked: a deactivation racing this waits for it and
	-- then releases the task, or this waits and sees the member inactive)
	IF NOT protector_internal.lock_active_member(NEW.organization_id, NEW.assignee,
			'A task is assigned only to an active member.', 'Assign someone else.') THEN
		-- (by name: the composite foreign key's error was bare)
		PERFORM protector.raise('not_found', 'assignee not found',
			'assignee is not a member of the task''s organization.');
	END IF;
	-- ... whose role sees it (the map's tasks.read or tasks.assigned): a
	-- task given to finance or a viewer was never seen, and counted done
	-- for them in the staff reports
	IF NOT protector_internal.member_sees_tasks(NEW.organization_id, NEW.assignee) THEN
		PERFORM protector.raise('invalid_parameter', 'the assignee''s role sees no tasks',
			'A task is assigned to a member whose role may see it (tasks.read or tasks.assigned in protector.capability_map()).',
			'Assign someone else.');
	END IF;
	-- ... and, to a member who works only on the tasks of their own
	-- bookings (the map's tasks.assigned, not tasks.update), a booking's
	-- task only while the booking is theirs: one given for another agent's
	-- booking stayed open for good, its assignee unable to finish it (the
	-- policy) and the booking's agent unable to see it
	-- (the booking's row share-locked: a handover at the same moment waits
	-- for this task and takes it along, or this waits for the handover and
	-- sees it; under REPEATABLE READ, one committed since the snapshot is
	-- a 40001; a task moved to another booking is checked too)
	IF NEW.booking_id IS NOT NULL
	   AND NOT protector_internal.role_may((SELECT m.role FROM protector.members m
											WHERE m.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
											  AND m.user_id OPERATOR(pg_catalog.=) NEW.assignee), '{tasks.update}') THEN
		SELECT b.assigned_agent INTO v_agent FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id
		FOR SHARE;
		IF FOUND AND v_agent IS DISTINCT FROM NEW.assignee THEN
			PERFORM protector.raise('invalid_parameter', 'the assignee works only on the tasks of their own bookings',
				pg_catalog.format('Booking %s is not assigned to them.', NEW.booking_id),
				'Assign the booking to them first, or the task to someone at the desk.');
		END IF;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_task_assignee() IS
'Trigger: a task is assigned to an active member whose role sees tasks; a booking''s task to an agent only while the booking is theirs';
-- (a caller who may not write the organization's tasks learns nothing
-- from it: the policy refuses the row; see check_shift_member.  Nor does
-- an agent, who only updates the tasks assigned to them, learn whether
-- someone is a member by assigning a task to them: checked, it answered
-- before the policy or restrict_update_columns refused it, named a
-- deactivated member and locked their row.  An agent's own task, reopened,
-- is checked; one they move to another booking is not: restrict_update_columns
-- refuses the move, and checked, it told them first whether a booking they
-- may not see was another agent's, so that it existed: a review.)
CREATE TRIGGER check_task_assignee BEFORE INSERT ON protector.tasks
	FOR EACH ROW WHEN (NEW.assignee IS NOT NULL AND NOT protector_internal.restoring_into('protector.tasks')
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('tasks.create'))
							OR NEW.organization_id = ANY (protector_internal.orgs_with('tasks.update'))))
	EXECUTE FUNCTION protector_internal.check_task_assignee();
CREATE TRIGGER check_task_reassignment BEFORE UPDATE OF assignee, organization_id, status, booking_id ON protector.tasks
	FOR EACH ROW WHEN (NEW.assignee IS NOT NULL AND NOT protector_internal.restoring_into('protector.tasks')
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('tasks.create'))
							OR NEW.organization_id = ANY (protector_internal.orgs_with('tasks.update'))
							OR (NEW.organization_id = ANY (protector_internal.orgs_with('tasks.assigned'))
								AND NEW.assignee IS NOT DISTINCT FROM OLD.assignee
								AND NEW.organization_id IS NOT DISTINCT FROM OLD.organization_id
								AND NEW.booking_id IS NOT DISTINCT FROM OLD.booking_id)))
	EXECUTE FUNCTION protector_internal.check_task_assignee();

-- A task's title and description are shown to staff as written, whoever
-- writes them (staff write tasks directly): a title plain text that shows
-- something, stored trimmed, a description of lines (it took control
-- characters, direction overrides and a title of an ideographic space
-- alone: a review).  Only what a write changes: a task stored before
-- stays writable around it.  (The workflow's own tasks, written by C,
-- hold protector's titles, and so do its SQL workflow's and erasure's,
-- which are trusted: a review task's title from a service name 0.1.0
-- stored unchecked made a confirmation fail: a review.  On every update, not of the two columns: a
-- column named in a trigger cannot change its type, which a damaged
-- table's test does, pgTAP 240.)
CREATE FUNCTION protector_internal.check_task_text()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.title IS DISTINCT FROM OLD.title THEN
		-- (spaces at the ends count against the most, as check_text counts)
		IF pg_catalog.length(NEW.title) OPERATOR(pg_catalog.>) 300 THEN
			PERFORM protector.raise('invalid_parameter', 'title must be 1 to 300 characters',
				pg_catalog.format('Got %s characters.', pg_catalog.length(NEW.title)));
		END IF;
		NEW.title := protector_internal.checked_name(NEW.title, 'title', TG_TABLE_NAME);
	END IF;
	IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.description IS DISTINCT FROM OLD.description)
	   AND NOT protector_internal.lines_are_clean(NEW.description) THEN
		PERFORM protector.raise('invalid_parameter', 'description holds control or invisible direction characters');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_task_text() IS
'Trigger: a task''s new title plain text showing something (stored trimmed), its description lines without control or invisible direction characters';
CREATE TRIGGER check_task_text BEFORE INSERT OR UPDATE ON protector.tasks
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.tasks') AND NOT protector_internal.caller_is_trusted())
	EXECUTE FUNCTION protector_internal.check_task_text();

-- activity ------------------------------------------------------------------------

-- A staff activity entry's action and details, as the table's CHECKs take
-- them, refused in words (22023 naming p_prefix || the field): by
-- log_staff_activity, and by a trigger for a member's own entry written
-- directly, which met the bare CHECKs (23514).
CREATE FUNCTION protector_internal.check_staff_entry(p_action text, p_details jsonb, p_prefix text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_action IS NULL OR p_action OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_.]{0,62}$' THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%saction must be a lower-case name like "desk.check_in"', p_prefix),
			pg_catalog.format('Got "%s".', pg_catalog.left(p_action, 70)), 'Letters, digits, _ and ., at most 63.');
	END IF;
	IF p_details IS NULL OR pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object'
	   OR protector_internal.value_size(p_details) OPERATOR(pg_catalog.>) 8192 THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%sdetails must be a JSON object of at most 8 kB', p_prefix),
			CASE WHEN pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.=) 'object'
				 THEN pg_catalog.format('It takes %s bytes.', protector_internal.value_size(p_details)) END);
	END IF;
	-- (and read as text, as readers and an erasure read it, at most 64 kB,
	-- as a booking's details: a number of 70 bytes stored, 1e131071,
	-- prints 131,072 digits: a review)
	IF pg_catalog.octet_length(p_details::text) OPERATOR(pg_catalog.>) 65536 THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%sdetails is too large as text', p_prefix),
			pg_catalog.format('It takes %s bytes as text; at most 65536 are accepted.', pg_catalog.octet_length(p_details::text)),
			'Write numbers as they are, not as powers of ten.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_staff_entry(text, jsonb, text) IS
'Refuses a staff activity entry''s action or details the table would not take, in words (22023 naming the field)';

CREATE FUNCTION protector_internal.check_staff_activity_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.check_staff_entry(NEW.action, NEW.details, '');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_staff_activity_row() IS
'Trigger (BEFORE INSERT on staff_activity): an entry''s action and details refused in words (check_staff_entry)';
CREATE TRIGGER check_staff_activity_row BEFORE INSERT ON protector.staff_activity
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.staff_activity'))
	EXECUTE FUNCTION protector_internal.check_staff_activity_row();

CREATE FUNCTION protector.log_staff_activity(p_organization_id uuid, p_action text, p_details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_member uuid;
	v_id bigint;
BEGIN
	IF p_organization_id IS NULL OR p_action IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id and p_action must not be null');
	END IF;
	PERFORM protector_internal.check_staff_entry(p_action, p_details, 'p_');
	IF pg_catalog.starts_with(p_action, 'staff.') THEN
		PERFORM protector.raise('invalid_parameter', 'actions named staff.* are protector''s own entries',
			pg_catalog.format('Got "%s".', pg_catalog.left(p_action, 70)), 'Name your action otherwise, e.g. "desk.check_in".');
	END IF;
	SELECT m.id INTO v_member FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND m.user_id OPERATOR(pg_catalog.=) protector.current_user_id() AND m.active;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'organization not found', 'It does not exist, or you may not see it.');
	END IF;
	INSERT INTO protector.staff_activity (organization_id, member_id, action, details)
	VALUES (p_organization_id, v_member, p_action, p_details)
	RETURNING id INTO v_id;
	RETURN v_id;
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.log_staff_activity(uuid, text, jsonb) IS
'Records an action of the calling member (e.g. desk.check_in) in their organization''s staff activity';

-- protector's own staff changes (staff.*), recorded as the member who made
-- them: past the policy, which keeps staff.* to protector, for those who
-- manage members (who made the change) and trusted server-side callers
-- only (the request's role, not the owner this runs as: a caller without
-- a user is not trusted for that alone)
CREATE FUNCTION protector_internal.written_by_this_transaction(p_xmin xid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_written_by_this_transaction'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION protector_internal.written_by_this_transaction(xid) IS
'Whether a row version with this xmin was written by the current transaction (a subtransaction of it included)';

-- Each entry names the change the calling RPC has just made, which the
-- caller could otherwise only name: the invitation, or the member row,
-- written in this transaction and as the entry says (a review: an admin
-- wrote staff.* entries of changes that never happened).
CREATE FUNCTION protector_internal.record_staff_activity(p_organization_id uuid, p_action text, p_details jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_action OPERATOR(pg_catalog.=) ANY ('{staff.role_changed,staff.deactivated}') AND EXISTS (
			SELECT FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND m.id::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'member_id')
			  AND m.user_id OPERATOR(pg_catalog.=) protector.current_user_id()) THEN
		-- the requester's own row, demoted or deactivated: they manage no
		-- members now, but the RPC authorized the row before the change
		-- (its permit), and the entry is written
		PERFORM protector_internal.require_permit('protector.members', (p_details OPERATOR(pg_catalog.->>) 'member_id')::uuid,
												  'members.manage');
	ELSE
		PERFORM protector_internal.authorize_requester(p_organization_id, 'members.manage');
	END IF;
	IF NOT (CASE p_action
		WHEN 'staff.invited' THEN EXISTS (
			SELECT FROM protector.staff_invitations i
			WHERE i.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND i.id::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'invitation_id')
			  AND i.role::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'role')
			  AND protector_internal.written_by_this_transaction(i.xmin))
		WHEN 'staff.role_changed' THEN EXISTS (
			SELECT FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND m.id::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'member_id')
			  AND m.role::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'to')
			  AND protector_internal.written_by_this_transaction(m.xmin))
		WHEN 'staff.deactivated' THEN EXISTS (
			SELECT FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND m.id::pg_catalog.text OPERATOR(pg_catalog.=) (p_details OPERATOR(pg_catalog.->>) 'member_id')
			  AND NOT m.active
			  AND protector_internal.written_by_this_transaction(m.xmin))
		ELSE false END) THEN
		PERFORM protector.raise('forbidden', pg_catalog.format('%s is not an entry of a change made in this transaction', p_action),
			'Protector''s own staff.* entries record the changes its staff functions make.');
	END IF;
	INSERT INTO protector.staff_activity (organization_id, member_id, action, details)
	SELECT p_organization_id,
		   (SELECT m.id FROM protector.members m WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id
			AND m.user_id OPERATOR(pg_catalog.=) protector.current_user_id() AND m.active),
		   p_action, p_details
	WHERE pg_catalog.starts_with(p_action, 'staff.');
END
$$;
COMMENT ON FUNCTION protector_internal.record_staff_activity(uuid, text, jsonb) IS
'Records a staff change made by protector''s RPCs as the calling member''s activity: only of an invitation or member row this transaction wrote, as the entry says';

-- members -----------------------------------------------------------------------

CREATE FUNCTION protector.create_staff_member(p_organization_id uuid, p_email text,
											  p_role protector.member_role DEFAULT 'viewer',
											  p_full_name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	i protector.staff_invitations;
	v_constraint text;
	v_schema text;
	v_table text;
BEGIN
	IF p_organization_id IS NULL OR p_role IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id and p_role must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, CASE WHEN p_role OPERATOR(pg_catalog.=) 'owner'
																 THEN 'members.manage_owners' ELSE 'members.manage' END);
	-- (its length first: btrim of 150 MB failed with XX000, out of memory)
	IF p_email IS NULL OR pg_catalog.length(p_email) OPERATOR(pg_catalog.>) 320
	   OR NOT protector_internal.email_is_valid(pg_catalog.btrim(p_email)) THEN
		PERFORM protector.raise('invalid_parameter', 'p_email is not an email address', 'At most 320 characters, like name@example.com.');
	END IF;
	IF p_full_name IS NOT NULL THEN
		PERFORM protector_internal.check_text(p_full_name, 'p_full_name', 1, 200);
	END IF;
	-- a new invitation replaces an open one of the same address: the
	-- insert's trigger deletes it (prepare_invitation), after lock_inviter
	-- locked the caller's membership, the order of a deactivation (the
	-- member, then their invitations; deleted here first, the two
	-- deadlocked)
	BEGIN
		INSERT INTO protector.staff_invitations (organization_id, email, role, full_name)
		VALUES (p_organization_id, p_email, p_role, NULLIF(pg_catalog.btrim(p_full_name), ''))
		RETURNING * INTO i;
	EXCEPTION WHEN unique_violation THEN
		-- (another unique key, of a table an application's trigger writes,
		-- says what it says)
		GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
		IF pg_catalog.concat_ws('.', v_schema, v_table, v_constraint) OPERATOR(pg_catalog.<>) 'protector.staff_invitations.staff_invitations_open_idx' THEN
			RAISE;
		END IF;
		-- one committed at the same moment, which the caller sees now: a
		-- retry replaces it (an owner's was refused as if it were hidden)
		IF EXISTS (SELECT FROM protector.staff_invitations x
				   WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.accepted_at IS NULL
					 AND x.email_key OPERATOR(pg_catalog.=) pg_catalog.lower(pg_catalog.btrim(p_email) COLLATE "C")) THEN
			PERFORM protector.raise('retry', 'an invitation to this address was made at the same moment',
				NULL, 'Retry: yours then replaces it.');
		END IF;
		-- an open owner invitation, which an admin neither sees nor replaces
		PERFORM protector.raise('conflict', 'this address has an open invitation you may not replace',
			'Only an owner replaces or withdraws an invitation to be an owner.');
	WHEN insufficient_privilege OR foreign_key_violation THEN
		-- (lock_inviter found the caller's membership gone: with the
		-- organization, deleted while this ran, which the caller, its
		-- admin a moment ago, is told; a trusted caller, whom authorize
		-- lets through, naming no organization got the bare 23503 of its
		-- foreign key: make fuzz)
		PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
		RAISE;
	END;
	PERFORM protector_internal.record_staff_activity(p_organization_id, 'staff.invited',
		pg_catalog.jsonb_build_object('invitation_id', i.id, 'role', i.role));
	RETURN pg_catalog.to_jsonb(i) OPERATOR(pg_catalog.-) 'email_key';
END
$$;
COMMENT ON FUNCTION protector.create_staff_member(uuid, text, protector.member_role, text) IS
'Invites a member by e-mail (owners and admins; owners invite owners): the membership starts when a confirmed auth user with that e-mail signs in';

-- The open invitations of a confirmed auth user's e-mail become
-- memberships (a deactivated membership comes back with the invited
-- role).  Needs Supabase Auth's auth.users with email_confirmed_at.
CREATE FUNCTION protector_internal.activate_invitations(p_user_id uuid)
RETURNS SETOF uuid
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_email text;
	i protector.staff_invitations;
	v_pick record;
	v_member uuid;
BEGIN
	-- a signed-in user activates their own invitations only; without a user,
	-- only Supabase Auth's hook session (or a superuser) names one
	IF p_user_id IS DISTINCT FROM COALESCE(protector.current_user_id(), p_user_id)
	   OR (protector.current_user_id() IS NULL AND SESSION_USER OPERATOR(pg_catalog.<>) 'supabase_auth_admin'
		   AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) SESSION_USER AND r.rolsuper))
	   OR p_user_id IS NULL THEN
		RETURN;
	END IF;
	-- without Supabase Auth's users table (with its confirmation stamp)
	-- nobody's e-mail is confirmed: nothing to accept; nor with one that
	-- is not an ordinary table of a superuser's schema auth (read with
	-- this function's rights, a view of another role's would run its
	-- functions as protector's owner)
	IF NOT protector_internal.auth_users_with('email_confirmed_at') THEN
		RETURN;
	END IF;
	v_email := protector_internal.auth_user_email(p_user_id, true);
	IF v_email IS NULL THEN
		RETURN;
	END IF;
	-- (at most 100 a call, the newest first: anyone may found
	-- organizations and invite any address, and 14,000 invitations took a
	-- sign-in's hook past Supabase Auth's 2-second limit; the rest come at
	-- the next sign-in, or with accept_staff_invitations().  Not those to
	-- an organization the user is a member of already, which stay open:
	-- 100 of them, renewed, held the window, and no other was ever reached)
	-- Each invitation is locked as it is taken up, after its organization's
	-- row (key-share, as the membership's foreign key locks it): locked
	-- ten at a time by the loop's fetch, one held while its membership
	-- waited for the organization's row deadlocked with the organization's
	-- deletion, whose cascade waited for the invitation (40P01).
	FOR v_pick IN
		SELECT x.id, x.organization_id FROM protector.staff_invitations x
		WHERE x.email_key OPERATOR(pg_catalog.=) pg_catalog.lower(pg_catalog.btrim(v_email) COLLATE "C") AND x.accepted_at IS NULL
		  AND x.expires_at OPERATOR(pg_catalog.>) pg_catalog.now()
		  AND NOT EXISTS (SELECT FROM protector.members m
						  WHERE m.organization_id OPERATOR(pg_catalog.=) x.organization_id
							AND m.user_id OPERATOR(pg_catalog.=) p_user_id)
		ORDER BY x.created_at DESC, x.id
		LIMIT 100
	LOOP
		PERFORM FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) v_pick.organization_id FOR KEY SHARE;
		IF NOT FOUND THEN
			CONTINUE;			-- (deleted meanwhile, its invitations with it)
		END IF;
		SELECT * INTO i FROM protector.staff_invitations x
		WHERE x.id OPERATOR(pg_catalog.=) v_pick.id AND x.accepted_at IS NULL
		  AND x.expires_at OPERATOR(pg_catalog.>) pg_catalog.now()
		FOR UPDATE;
		IF NOT FOUND THEN
			CONTINUE;			-- (accepted, withdrawn or replaced meanwhile)
		END IF;
		-- a member already (active, or deactivated: re-admitted by
		-- reactivating the membership, never by an invitation): it stays open
		v_member := NULL;
		-- (a name that is not plain text, as one stored before names were
		-- checked, is left out: one organization's invitation must not keep
		-- the user out of another's)
		INSERT INTO protector.members AS m (organization_id, user_id, role, full_name, email, active)
		VALUES (i.organization_id, p_user_id, i.role,
				CASE WHEN protector_internal.text_is_clean(i.full_name) THEN i.full_name END, v_email, true)
		ON CONFLICT (organization_id, user_id) DO NOTHING
		RETURNING m.id INTO v_member;
		IF v_member IS NULL THEN
			CONTINUE;
		END IF;
		UPDATE protector.staff_invitations x SET accepted_at = pg_catalog.now(), member_id = v_member
		WHERE x.id OPERATOR(pg_catalog.=) i.id;
		-- (written by the member joining, also from Supabase Auth's hook,
		-- whose session names no user)
		INSERT INTO protector.staff_activity (organization_id, member_id, action, details, created_by)
		VALUES (i.organization_id, v_member, 'staff.joined', pg_catalog.jsonb_build_object('invitation_id', i.id, 'role', i.role),
				p_user_id);
		RETURN NEXT i.organization_id;
	END LOOP;
END
$$;
COMMENT ON FUNCTION protector_internal.activate_invitations(uuid) IS
'Turns the open invitations of a confirmed auth user''s e-mail into new memberships (never re-admits a deactivated member); returns their organizations';

CREATE FUNCTION protector.accept_staff_invitations()
RETURNS uuid[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (SELECT COALESCE(pg_catalog.array_agg(o), '{}') FROM protector_internal.activate_invitations(protector.current_user_id()) o);
END
$$;
COMMENT ON FUNCTION protector.accept_staff_invitations() IS
'The signed-in user''s open invitations (to their confirmed e-mail) become memberships; returns the organizations joined';

-- What a member works on, locked before the member's row by whoever
-- deactivates them or lets them leave: their live bookings, open tasks
-- and shifts not ended, each in id order.  A change of one of those locks
-- it before the member's row (a booking's agent check and a task's or
-- notification's addressee check share-lock the member), and the other
-- order deadlocked.  As the caller (deactivate_staff, under RLS) or the
-- owner (change_own_membership).
CREATE FUNCTION protector_internal.lock_member_work(p_organization_id uuid, p_user_id uuid, p_member_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) p_user_id
	  AND pg_catalog.upper(b.during) OPERATOR(pg_catalog.>) pg_catalog.now()
	  AND b.status OPERATOR(pg_catalog.=) ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[])
	ORDER BY b.id
	FOR UPDATE OF b;
	PERFORM FROM protector.tasks t
	WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.assignee OPERATOR(pg_catalog.=) p_user_id
	  AND t.status OPERATOR(pg_catalog.<>) 'done'
	ORDER BY t.id
	FOR UPDATE OF t;
	PERFORM FROM protector.staff_shifts s
	WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id AND s.member_id OPERATOR(pg_catalog.=) p_member_id
	  AND pg_catalog.upper(s.during) OPERATOR(pg_catalog.>) pg_catalog.now()
	ORDER BY s.id
	FOR UPDATE OF s;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_member_work(uuid, uuid, uuid) IS
'Internal: locks a member''s live bookings, open tasks and shifts not ended (id order), before the member''s row is';
GRANT EXECUTE ON FUNCTION protector_internal.lock_member_work(uuid, uuid, uuid) TO authenticated, service_role;

-- The member an RPC changes (deactivate_staff, update_staff_permissions):
-- authorized for members.manage and locked FOR UPDATE, with (p_work) what
-- is theirs before their row (lock_member_work).  As the caller, under
-- RLS.  Nothing of the caller's is locked before: the change's
-- staff_activity entry names its writer (KEY SHARE of the writer's row),
-- and two admins changing each other, each holding the other's row, met
-- there in a deadlock; lock_member_writer, before the update, now asks
-- the writer's row NOWAIT and tells the second to retry (40001).  A lock
-- of the caller's own row taken first deadlocked instead with a
-- transaction that changed the member, then the caller.
CREATE FUNCTION protector_internal.lock_member_change(p_member_id uuid, p_work boolean)
RETURNS protector.members
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m protector.members;
BEGIN
	PERFORM protector_internal.authorize_row('protector.members', p_member_id, 'members.manage', 'member');
	SELECT * INTO m FROM protector.members x WHERE x.id OPERATOR(pg_catalog.=) p_member_id;
	IF p_work THEN
		PERFORM protector_internal.lock_member_work(m.organization_id, m.user_id, m.id);
	END IF;
	PERFORM protector_internal.authorize_row('protector.members', p_member_id, 'members.manage', 'member', true);
	SELECT * INTO m FROM protector.members x WHERE x.id OPERATOR(pg_catalog.=) p_member_id;
	-- (gone from the caller's sight while authorize_row waited for its lock:
	-- the caller was deactivated meanwhile, say, by the member in question)
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'member not found');
	END IF;
	RETURN m;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_member_change(uuid, boolean) IS
'Internal: the member an RPC changes, authorized (members.manage) and locked FOR UPDATE, their work (p_work) first';
GRANT EXECUTE ON FUNCTION protector_internal.lock_member_change(uuid, boolean) TO authenticated, service_role;

-- What a membership's leaving would delete or unlink: shifts, entries in
-- staff_activity, bookings as their agent, tasks as their assignee.
CREATE FUNCTION protector_internal.member_has_history(p_organization_id uuid, p_user_id uuid, p_member_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT FROM protector.staff_shifts s
				   WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id AND s.member_id OPERATOR(pg_catalog.=) p_member_id)
		-- (its joining by an invitation, which protector records, is no
		-- work of the member's: every invited member had history at once,
		-- and one deactivated before confirming could never decline)
		OR EXISTS (SELECT FROM protector.staff_activity a
				   WHERE a.organization_id OPERATOR(pg_catalog.=) p_organization_id AND a.member_id OPERATOR(pg_catalog.=) p_member_id
					 AND a.action OPERATOR(pg_catalog.<>) 'staff.joined')
		OR EXISTS (SELECT FROM protector.bookings b
				   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) p_user_id)
		OR EXISTS (SELECT FROM protector.tasks t
				   WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.assignee OPERATOR(pg_catalog.=) p_user_id)
$$;
COMMENT ON FUNCTION protector_internal.member_has_history(uuid, uuid, uuid) IS
'Internal: true if shifts, staff activity (but its joining), bookings or tasks of the organization refer to the member (what leaving deletes or unlinks)';

-- A deactivated membership the organization keeps (its history: what
-- leaving would delete) is not deleted by the deletion of its member's
-- account either: the foreign key to auth.users cascades, and a fired
-- member deleting their account deleted what leave_organization refuses
-- to (an attack on the Auth lifecycle).  The organization's deletion, and
-- those who manage its members, delete it as before.
CREATE FUNCTION protector_internal.keep_deactivated_history()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a cascade, WHEN: the organization's deletion, or the account's,
	-- the one other key that cascades into members.  Not "the account is
	-- gone": a membership orphaned without the key, which a restore or
	-- operations.md's mending deletes, could no longer be deleted, and
	-- where auth.users could not be read the cascade went through: a
	-- review)
	IF NOT EXISTS (SELECT FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) OLD.organization_id)
	   OR (OLD.confirmed_at IS NULL
		   AND NOT protector_internal.member_has_history(OLD.organization_id, OLD.user_id, OLD.id)) THEN
		RETURN OLD;
	END IF;
	PERFORM protector.raise('forbidden', 'a deactivated member''s account is not deleted while the organization keeps their membership',
		pg_catalog.format('Deleting the account deletes membership %s of organization %s, which the organization deactivated to keep its history.',
						  OLD.id, OLD.organization_id),
		'Those who manage the organization''s members delete the membership first (which deletes that history); then the account.');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_deactivated_history() IS
'Trigger: the deletion of an account does not delete a deactivated membership the organization keeps (as leaving does not)';
CREATE TRIGGER keep_deactivated_history BEFORE DELETE ON protector.members
	FOR EACH ROW WHEN (NOT OLD.active AND pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.>) 0
					   AND NOT protector_internal.restoring_into('protector.members'))
	EXECUTE FUNCTION protector_internal.keep_deactivated_history();

-- A membership someone else made (an owner's insert, an invitation) is
-- pending until its member confirms it: a pending owner does not count as
-- the owner who keeps the organization (keep_one_owner, sql/40_guards.sql),
-- so whoever made them owner cannot leave them the organization.  Any
-- member may leave, a pending one always (owners as keep_one_owner lets
-- them).  Members may not write their own row (the policies are for those
-- who manage members), so these two changes of it run as the owner, for
-- the signed-in user's own membership only.
CREATE FUNCTION protector_internal.change_own_membership(p_organization_id uuid, p_leave boolean,
														 p_role protector.member_role DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
	v_member protector.members;
BEGIN
	IF v_user IS NULL THEN
		PERFORM protector.raise('forbidden', 'sign in to confirm or leave a membership',
			'The request carries no user (request.jwt.claims has no "sub").');
	END IF;
	IF p_organization_id IS NULL OR p_leave IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id is required');
	END IF;
	IF NOT p_leave AND p_role IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_role is required',
			'A member confirms the role they were given.', 'Pass the role your membership shows, e.g. ''viewer''.');
	END IF;
	SELECT * INTO v_member FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.user_id OPERATOR(pg_catalog.=) v_user;
	IF v_member.id IS NULL THEN
		PERFORM protector.raise('not_found', 'membership not found',
			pg_catalog.format('The signed-in user is not a member of organization %s.', p_organization_id));
	END IF;
	-- (a member leaving: what is theirs first, then the member's row, as
	-- deactivate_staff takes them)
	IF p_leave THEN
		PERFORM protector_internal.lock_member_work(p_organization_id, v_user, v_member.id);
	END IF;
	PERFORM protector_internal.lock_row('protector.members', v_member.id, 'membership');
	IF p_leave THEN
		-- (a deactivated member's history is the organization's to keep:
		-- leaving would delete it; read again under the lock.  A pending
		-- membership is declined whatever its state, if it never was
		-- theirs: one made owner is pending again, however long its member
		-- worked under it, so a pending one with history stays too)
		IF NOT (SELECT m.active OR (m.confirmed_at IS NULL
									AND NOT protector_internal.member_has_history(p_organization_id, v_user, v_member.id))
				FROM protector.members m
				WHERE m.id OPERATOR(pg_catalog.=) v_member.id) THEN
			PERFORM protector.raise('forbidden', 'a deactivated membership is not left by its member',
				'The organization deactivated it to keep its history, which leaving would delete.',
				'Those who manage the organization''s members may delete it.');
		END IF;
		DELETE FROM protector.members m WHERE m.id OPERATOR(pg_catalog.=) v_member.id;
		RETURN NULL;
	END IF;
	-- the row as it is now, locked: the role the member saw, or none (an
	-- owner made them owner while they read it as a viewer's)
	SELECT * INTO v_member FROM protector.members m WHERE m.id OPERATOR(pg_catalog.=) v_member.id;
	IF v_member.role OPERATOR(pg_catalog.<>) p_role THEN
		PERFORM protector.raise('conflict', 'your membership has another role',
			pg_catalog.format('Your role in organization %s is %s, not %s.', p_organization_id, v_member.role, p_role),
			'Read your membership again, and confirm the role it shows if you accept it.');
	END IF;
	-- (a deactivated one gives no access to confirm, and confirmed it is
	-- "confirmed, then deactivated", which its member may no longer
	-- decline: left pending, they may, where nothing of theirs is in it)
	IF v_member.confirmed_at IS NULL AND NOT v_member.active THEN
		PERFORM protector.raise('invalid_parameter', 'your membership is deactivated',
			pg_catalog.format('Organization %s deactivated your membership before you confirmed it.', p_organization_id),
			'Ask the organization to activate it; or decline it (leave_organization), unless it has shifts, tasks or bookings of yours.');
	END IF;
	IF v_member.confirmed_at IS NULL THEN
		UPDATE protector.members m SET confirmed_at = pg_catalog.now()
		WHERE m.id OPERATOR(pg_catalog.=) v_member.id
		RETURNING m.confirmed_at INTO v_member.confirmed_at;
	END IF;
	-- (confirmed before: the first confirmation stands)
	RETURN v_member.confirmed_at;
END
$$;
COMMENT ON FUNCTION protector_internal.change_own_membership(uuid, boolean, protector.member_role) IS
'The signed-in user confirms their own membership in role p_role (returns when), or leaves it (p_leave); 404 where they have none';

CREATE FUNCTION protector.confirm_membership(p_organization_id uuid, p_role protector.member_role)
RETURNS timestamptz
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT protector_internal.change_own_membership(p_organization_id, false, p_role);
$$;
COMMENT ON FUNCTION protector.confirm_membership(uuid, protector.member_role) IS
'The signed-in user confirms their membership of the organization in the role they were given (made by an owner or an invitation); returns when it was confirmed';

CREATE FUNCTION protector.leave_organization(p_organization_id uuid)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT protector_internal.change_own_membership(p_organization_id, true);
$$;
COMMENT ON FUNCTION protector.leave_organization(uuid) IS
'The signed-in user leaves the organization: deletes their own membership (never the last owner who confirmed it)';

-- Supabase Auth's custom access token hook: every sign-in activates the
-- user's invitations, and the token is issued unchanged.
CREATE FUNCTION protector.auth_access_token_hook(event jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	BEGIN
		PERFORM protector_internal.activate_invitations((event OPERATOR(pg_catalog.->>) 'user_id')::uuid);
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		-- a sign-in must never fail because of an invitation (nor run into
		-- the statement_timeout Supabase Auth sets for its hook: OTHERS
		-- does not catch a cancellation, which failed the sign-in)
		RAISE WARNING 'protector.auth_access_token_hook: invitations not activated: %', SQLERRM;
	END;
	RETURN event;
END
$$;
COMMENT ON FUNCTION protector.auth_access_token_hook(jsonb) IS
'Supabase Auth custom access token hook: activates the signing-in user''s staff invitations; returns the event unchanged';

CREATE FUNCTION protector.update_staff_permissions(p_member_id uuid, p_role protector.member_role)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m protector.members;
	v_old protector.member_role;
BEGIN
	IF p_role IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_role must not be null');
	END IF;
	-- a role that sees no tasks releases what is theirs
	-- (release_on_role_change): that first, then the member's row
	m := protector_internal.lock_member_change(p_member_id, NOT protector_internal.role_sees_tasks(p_role));
	v_old := m.role;
	IF v_old OPERATOR(pg_catalog.=) 'owner' OR p_role OPERATOR(pg_catalog.=) 'owner' THEN
		PERFORM protector_internal.authorize(m.organization_id, 'members.manage_owners', 'member');
	END IF;
	-- (keep_one_owner refuses to demote the last active owner)
	-- (record_member_change records it)
	UPDATE protector.members x SET role = p_role WHERE x.id OPERATOR(pg_catalog.=) p_member_id;
	IF NOT FOUND THEN
		PERFORM protector_internal.refuse_unwritten_member(m.organization_id,
			v_old OPERATOR(pg_catalog.=) 'owner' OR p_role OPERATOR(pg_catalog.=) 'owner');
	END IF;
	SELECT * INTO m FROM protector.members x WHERE x.id OPERATOR(pg_catalog.=) p_member_id;
	RETURN pg_catalog.to_jsonb(m);
END
$$;
COMMENT ON FUNCTION protector.update_staff_permissions(uuid, protector.member_role) IS
'Changes a member''s role (owners and admins; only owners touch owners; never the last owner)';

-- A write of a member's row that releases what is theirs (a deactivation,
-- a role that sees no tasks) locks their live bookings first, then their
-- open tasks (and with p_shifts their shifts not ended), as the RPCs do
-- before the member's row (lock_member_work).  A direct write holds the
-- member's row already, and a booking being changed waits for that row
-- (agent_shift_check), as does a change of a task or shift that then
-- addresses the member (a notification, a task, which share-lock their
-- row): waiting here deadlocked, so it is told to retry (40001, p_hint).
CREATE FUNCTION protector_internal.lock_member_work_nowait(p_organization_id uuid, p_user_id uuid, p_member_id uuid,
														   p_shifts boolean, p_hint text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	BEGIN
		PERFORM FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) p_user_id
		  AND pg_catalog.upper(b.during) OPERATOR(pg_catalog.>) pg_catalog.now()
		  AND b.status OPERATOR(pg_catalog.=) ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[])
		ORDER BY b.id
		FOR UPDATE OF b NOWAIT;
	EXCEPTION WHEN lock_not_available THEN
		PERFORM protector.raise('retry', 'a booking of this member is being changed',
			pg_catalog.format('Member %s.', p_member_id), p_hint);
	END;
	BEGIN
		PERFORM FROM protector.tasks t
		WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.assignee OPERATOR(pg_catalog.=) p_user_id
		  AND t.status OPERATOR(pg_catalog.<>) 'done'
		ORDER BY t.id
		FOR UPDATE OF t NOWAIT;
		PERFORM FROM protector.staff_shifts s
		WHERE p_shifts AND s.organization_id OPERATOR(pg_catalog.=) p_organization_id
		  AND s.member_id OPERATOR(pg_catalog.=) p_member_id
		  AND pg_catalog.upper(s.during) OPERATOR(pg_catalog.>) pg_catalog.now()
		ORDER BY s.id
		FOR UPDATE OF s NOWAIT;
	EXCEPTION WHEN lock_not_available THEN
		PERFORM protector.raise('retry',
			pg_catalog.format('a task%s of this member is being changed', CASE WHEN p_shifts THEN ' or shift' ELSE '' END),
			pg_catalog.format('Member %s.', p_member_id), p_hint);
	END;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_member_work_nowait(uuid, uuid, uuid, boolean, text) IS
'Internal: locks a member''s live bookings, open tasks (and shifts not ended) NOWAIT, for a direct write of their row; 40001 with p_hint when one is being changed';

-- ... and releases their open tasks (first: releasing a booking also hands
-- its open tasks on) and their live bookings; the counts.
CREATE FUNCTION protector_internal.release_member_work(p_organization_id uuid, p_user_id uuid,
													   OUT tasks integer, OUT bookings integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE protector.tasks t SET assignee = NULL
	WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.assignee OPERATOR(pg_catalog.=) p_user_id
	  AND t.status OPERATOR(pg_catalog.<>) 'done';
	GET DIAGNOSTICS tasks = ROW_COUNT;
	UPDATE protector.bookings b SET assigned_agent = NULL
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) p_user_id
	  AND pg_catalog.upper(b.during) OPERATOR(pg_catalog.>) pg_catalog.now()
	  AND b.status OPERATOR(pg_catalog.=) ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[]);
	GET DIAGNOSTICS bookings = ROW_COUNT;
END
$$;
COMMENT ON FUNCTION protector_internal.release_member_work(uuid, uuid) IS
'Internal: releases a member''s open tasks and live bookings (assignee and assigned_agent NULL); the counts';
GRANT EXECUTE ON FUNCTION protector_internal.lock_member_work_nowait(uuid, uuid, uuid, boolean, text),
	protector_internal.release_member_work(uuid, uuid) TO authenticated, service_role;

-- What a deactivation releases, however it is written (deactivate_staff,
-- or active set to false on the row, which the policy lets the same
-- members do): the member's open tasks, their bookings not ended, their
-- shifts not begun (one under way ends now) and the open invitations to
-- their address the caller may withdraw.  Run as the caller, before the
-- row changes (the shifts' checks still see the member active); the counts,
-- per member, for record_member_change and deactivate_staff.
CREATE FUNCTION protector_internal.release_on_deactivation()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tasks integer;
	v_bookings integer;
	v_shifts integer;
	v_ended integer;
	v_all jsonb;
BEGIN
	-- what is theirs locked first, or a retry (lock_member_work_nowait)
	PERFORM protector_internal.lock_member_work_nowait(OLD.organization_id, OLD.user_id, OLD.id, true,
		'Retry, or deactivate with deactivate_staff(), which waits for it.');
	SELECT r.tasks, r.bookings INTO v_tasks, v_bookings
	FROM protector_internal.release_member_work(OLD.organization_id, OLD.user_id) r;
	-- shifts not begun go; one under way ends now: it still covers the
	-- bookings of theirs that ended in it (history, not released above)
	DELETE FROM protector.staff_shifts s
	WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND s.member_id OPERATOR(pg_catalog.=) OLD.id
	  AND pg_catalog.lower(s.during) OPERATOR(pg_catalog.>=) pg_catalog.now();
	GET DIAGNOSTICS v_shifts = ROW_COUNT;
	UPDATE protector.staff_shifts s
	SET during = pg_catalog.tstzrange(pg_catalog.lower(s.during), pg_catalog.now())
	WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND s.member_id OPERATOR(pg_catalog.=) OLD.id
	  AND s.during OPERATOR(pg_catalog.@>) pg_catalog.now();
	GET DIAGNOSTICS v_ended = ROW_COUNT;
	-- (a booking, task or shift given to them while this waited for the
	-- member's lock, which agent_shift_check() takes, or before, committed
	-- after a REPEATABLE READ snapshot: the release above did not see it;
	-- asked after the shifts under way were ended, as one given meanwhile
	-- is one not ended)
	IF protector_internal.agent_still_assigned(OLD.organization_id, OLD.user_id) THEN
		PERFORM protector.raise('retry', 'a booking, task or shift was given to this member concurrently',
			pg_catalog.format('Member %s.', OLD.id), 'Retry the transaction: it will then release that too.');
	END IF;
	-- and invitations to them still open that the caller may withdraw (an
	-- owner's stays for an admin; to their sign-in address, which the row
	-- may not hold, withdraw_member_invitations: a fired member who
	-- deleted their account came back by one)
	DELETE FROM protector.staff_invitations x
	WHERE x.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND x.accepted_at IS NULL
	  AND x.email_key OPERATOR(pg_catalog.=) pg_catalog.lower(pg_catalog.btrim(OLD.email) COLLATE "C");
	BEGIN
		v_all := NULLIF(pg_catalog.current_setting('protector_internal.deactivation', true), '')::jsonb;
	EXCEPTION WHEN invalid_text_representation THEN
		v_all := NULL;			-- (the caller's to set: anything else is dropped)
	END;
	IF pg_catalog.jsonb_typeof(v_all) IS DISTINCT FROM 'object' THEN
		v_all := '{}';
	END IF;
	PERFORM pg_catalog.set_config('protector_internal.deactivation',
		(v_all OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(OLD.id::text, pg_catalog.jsonb_build_object(
			'bookings_released', v_bookings, 'tasks_released', v_tasks, 'shifts_removed', v_shifts, 'shifts_ended', v_ended)))::text,
		true);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.release_on_deactivation() IS
'Trigger (BEFORE UPDATE OF active, to false): releases what was the member''s (open tasks, bookings not ended, shifts not begun, open invitations), however the row is written';
CREATE TRIGGER release_on_deactivation BEFORE UPDATE OF active ON protector.members
	FOR EACH ROW WHEN (OLD.active AND NOT NEW.active AND NOT protector_internal.restoring_into('protector.members'))
	EXECUTE FUNCTION protector_internal.release_on_deactivation();

-- Is a task (of organization and booking) about a booking not the user's
-- own: one an agent, who works only on their bookings' tasks, could not
-- finish?  Asked as the caller (release_on_role_change) and as the owner
-- (refuse_unseen_foreign_tasks), the same words both ways.
CREATE FUNCTION protector_internal.task_not_theirs(p_organization_id uuid, p_booking_id uuid, p_user_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN p_booking_id IS NOT NULL
	   AND NOT EXISTS (SELECT FROM protector.bookings b
					   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.id OPERATOR(pg_catalog.=) p_booking_id
						 AND b.assigned_agent OPERATOR(pg_catalog.=) p_user_id);
COMMENT ON FUNCTION protector_internal.task_not_theirs(uuid, uuid, uuid) IS
'Internal: whether a task of the booking is about a booking not assigned to the user (an agent could not finish it)';
GRANT EXECUTE ON FUNCTION protector_internal.task_not_theirs(uuid, uuid, uuid) TO authenticated, service_role;

-- A member (p_member_id) made an agent whose open tasks of bookings not
-- theirs in its organization the caller's REPEATABLE READ snapshot missed
-- (written since): 40001.  As the owner, count_now's (which asks the
-- latest snapshot); for callers who may manage the member's organization's
-- members only (anyone else learned of another tenant's tasks by it).
CREATE FUNCTION protector_internal.refuse_unseen_foreign_tasks(p_member_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (protector_internal.requester_is_trusted()
			OR EXISTS (SELECT FROM protector.members m
					   WHERE m.id OPERATOR(pg_catalog.=) p_member_id
						 AND m.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.manage')))) THEN
		RETURN;
	END IF;
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.members m
		 JOIN protector.tasks t ON t.organization_id OPERATOR(pg_catalog.=) m.organization_id
							   AND t.assignee OPERATOR(pg_catalog.=) m.user_id
		 WHERE m.id OPERATOR(pg_catalog.=) $1 AND t.status OPERATOR(pg_catalog.<>) ''done''
		   AND protector_internal.task_not_theirs(t.organization_id, t.booking_id, m.user_id)',
		p_member_id, 'a task was given to the member concurrently',
		'It is of a booking not theirs, which an agent could not finish.');
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_unseen_foreign_tasks(uuid) IS
'Internal: 40001 when a member (p_member_id) made an agent has open tasks of bookings not theirs that a REPEATABLE READ snapshot missed; for those who may manage its members';
GRANT EXECUTE ON FUNCTION protector_internal.refuse_unseen_foreign_tasks(uuid) TO authenticated, service_role;

-- A member given a role that sees no tasks (finance, viewer: role_sees_tasks)
-- loses their open tasks and the bookings assigned to them that have not
-- ended, which go back to the desk, however the row is written
-- (update_staff_permissions locks them first): tasks and agents go only to
-- members whose role sees tasks, and a viewer kept an agent's bookings,
-- credited to them in staff reports.  Their shifts stay.  Run as the
-- caller, who may change the member's role.
CREATE FUNCTION protector_internal.release_on_role_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector_internal.role_sees_tasks(NEW.role) THEN
		-- (a role that works only on its own bookings' tasks, an agent's:
		-- the open tasks of bookings not theirs go back to the desk, as a
		-- handover takes them; they could finish none of them)
		IF NOT protector_internal.role_may(NEW.role, '{tasks.update}') THEN
			UPDATE protector.tasks t SET assignee = NULL
			WHERE t.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND t.assignee OPERATOR(pg_catalog.=) OLD.user_id
			  AND t.status OPERATOR(pg_catalog.<>) 'done'
			  AND protector_internal.task_not_theirs(t.organization_id, t.booking_id, OLD.user_id);
			-- (one given to them since a REPEATABLE READ snapshot stayed:
			-- 40001, as for the roles below)
			PERFORM protector_internal.refuse_unseen_foreign_tasks(OLD.id);
		END IF;
		RETURN NEW;
	END IF;
	PERFORM protector_internal.lock_member_work_nowait(OLD.organization_id, OLD.user_id, OLD.id, false,
		'Retry, or change the role with update_staff_permissions(), which waits for it.');
	PERFORM protector_internal.release_member_work(OLD.organization_id, OLD.user_id);
	-- (one given to them before, committed after a REPEATABLE READ snapshot:
	-- its writer share-locked the member's row, which this update does not
	-- conflict with once they committed; the release above did not see it)
	IF protector_internal.agent_still_assigned(OLD.organization_id, OLD.user_id, false) THEN
		PERFORM protector.raise('retry', 'a booking or task was given to this member concurrently',
			pg_catalog.format('Member %s.', OLD.id), 'Retry the transaction: it will then release that too.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.release_on_role_change() IS
'Trigger (BEFORE UPDATE OF role of an active member): a role that sees no tasks releases the member''s open tasks and live bookings';
CREATE TRIGGER release_on_role_change BEFORE UPDATE OF role ON protector.members
	FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role AND NEW.active AND NOT protector_internal.restoring_into('protector.members'))
	EXECUTE FUNCTION protector_internal.release_on_role_change();

-- Open invitations a member issued go when the member is deactivated,
-- deleted or given another role (a fired admin's invitation to a second
-- mailbox made them an admin again: it was theirs to grant only while
-- they could), and those to a deleted member's address go with the
-- membership (an invitation to someone already a member stays open, and
-- made the removed member a member again at their next sign-in).  As the
-- owner: the change that fires it was authorized, and nobody else's
-- invitation is touched.
CREATE FUNCTION protector_internal.withdraw_member_invitations()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_keys text[] := ARRAY[pg_catalog.lower(pg_catalog.btrim(OLD.email) COLLATE "C")];
	v_auth text;
	-- (a deactivation withdraws those to the member's addresses too: the
	-- fired member who then deleted their account, the membership with
	-- it, came back by one at their next sign-in, and their sign-in
	-- address is gone by then)
	v_gone boolean := TG_OP OPERATOR(pg_catalog.=) 'DELETE' OR (OLD.active AND NOT NEW.active);
BEGIN
	-- (the member's sign-in address too, which an invitation was accepted
	-- by; none where there is no auth.users protector may read, or it is
	-- gone already)
	-- Only of a membership its member confirmed: an owner may add any
	-- account by its id, and which of their own invitations then went
	-- with the membership told them that account's address, one guess per
	-- invitation, for any account whose id they had seen (an agent's, a
	-- message's sender).
	IF v_gone AND OLD.confirmed_at IS NOT NULL AND protector_internal.auth_users_with('email') THEN
		v_auth := protector_internal.auth_user_email(OLD.user_id, false);
		v_keys := v_keys OPERATOR(pg_catalog.||) pg_catalog.lower(pg_catalog.btrim(v_auth) COLLATE "C");
	END IF;
	-- (an owner's invitation to the address is only for whoever may
	-- withdraw it: a member deleted while one is open is refused to the
	-- others. Withdrawn, an admin who wrote an owner's invitee's address
	-- on a member and deleted the member withdrew it; kept, the deleted
	-- member came back as an owner at their next sign-in. A session
	-- without a signed-in user that got past the policies is trusted.)
	-- (not a member leaving, or deleting their account: their own row,
	-- and an owner's gone before this asks about owners; nor an expired
	-- invitation, which nobody accepts)
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' AND protector.current_user_id() IS NOT NULL
	   AND OLD.user_id IS DISTINCT FROM protector.current_user_id()
	   AND NOT OLD.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.manage_owners'))
	   AND EXISTS (SELECT FROM protector.staff_invitations x
				   WHERE x.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND x.accepted_at IS NULL
					 AND x.expires_at OPERATOR(pg_catalog.>) pg_catalog.now()
					 AND x.role OPERATOR(pg_catalog.=) 'owner' AND x.email_key OPERATOR(pg_catalog.=) ANY (v_keys)
					 AND x.created_by IS DISTINCT FROM OLD.user_id) THEN
		PERFORM protector.raise('forbidden', 'an owner''s invitation to this member''s address is open',
			'Deleted, the member would be withdrawn from it, or come back as an owner when they sign in.',
			'An owner withdraws the invitation, or deletes the member.');
	END IF;
	-- (an owner's invitation to the address written on the row, which
	-- admins may edit, goes only for owners and trusted sessions; to the
	-- member's own sign-in address it always goes: an admin leaving with
	-- an owner's invitee's address written on their row withdrew it)
	DELETE FROM protector.staff_invitations x
	WHERE x.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND x.accepted_at IS NULL
	  AND (x.created_by OPERATOR(pg_catalog.=) OLD.user_id
		   OR (v_gone AND x.email_key OPERATOR(pg_catalog.=) ANY (v_keys)
			   AND (x.role OPERATOR(pg_catalog.<>) 'owner' OR protector.current_user_id() IS NULL
					OR x.email_key OPERATOR(pg_catalog.=) pg_catalog.lower(pg_catalog.btrim(v_auth) COLLATE "C")
					OR OLD.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('members.manage_owners')))));
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.withdraw_member_invitations() IS
'Trigger (AFTER UPDATE OF active, role, or DELETE on members): the open invitations a member issued go when they are deactivated, deleted or given another role; those to a deactivated or deleted member''s addresses go with the membership';
CREATE TRIGGER withdraw_member_invitations AFTER UPDATE OF active, role ON protector.members
	FOR EACH ROW WHEN (((OLD.active AND NOT NEW.active) OR OLD.role IS DISTINCT FROM NEW.role) AND NOT protector_internal.restoring_into('protector.members'))
	EXECUTE FUNCTION protector_internal.withdraw_member_invitations();
CREATE TRIGGER withdraw_member_invitations_on_delete AFTER DELETE ON protector.members
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.members'))
	EXECUTE FUNCTION protector_internal.withdraw_member_invitations();

-- A member's e-mail is shown to other staff where a name is (errors name
-- a member by it when it has no full_name): plain text, as an
-- invitation's is, however it is written (a value stored before stays).
CREATE FUNCTION protector_internal.check_member_email()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.email IS DISTINCT FROM OLD.email)
	   AND NOT protector_internal.text_is_clean(NEW.email) THEN
		PERFORM protector.raise('invalid_parameter', 'email holds control or invisible direction characters');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_member_email() IS
'Trigger: a member''s e-mail as written holds no control or invisible direction characters';
CREATE TRIGGER check_member_email BEFORE INSERT OR UPDATE OF email ON protector.members
	FOR EACH ROW WHEN (NEW.email IS NOT NULL AND NOT protector_internal.restoring_into('protector.members'))
	EXECUTE FUNCTION protector_internal.check_member_email();

-- Every change of a member's role or activity is in staff_activity, however
-- it is written (update_staff_permissions, deactivate_staff, or the row
-- under the policy): the trigger is the proof that it happened.
CREATE FUNCTION protector_internal.record_member_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_actor uuid := (SELECT m.id FROM protector.members m
					 WHERE m.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
					   AND m.user_id OPERATOR(pg_catalog.=) protector.current_user_id() AND m.active);
	v_reason text;
	v_counts jsonb;
BEGIN
	IF OLD.role IS DISTINCT FROM NEW.role THEN
		INSERT INTO protector.staff_activity (organization_id, member_id, action, details)
		VALUES (NEW.organization_id, v_actor, 'staff.role_changed',
				pg_catalog.jsonb_build_object('member_id', NEW.id, 'from', OLD.role, 'to', NEW.role));
	END IF;
	IF OLD.active AND NOT NEW.active THEN
		-- (both settings are the caller's to set: the counts are this row's,
		-- which release_on_deactivation just wrote; a reason is one as
		-- deactivate_staff takes it, plain text of at most 500 characters)
		v_reason := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('protector_internal.deactivation_reason', true)), '');
		IF pg_catalog.length(v_reason) OPERATOR(pg_catalog.>) 500 OR NOT protector_internal.text_is_clean(v_reason) THEN
			v_reason := NULL;
		END IF;
		BEGIN
			v_counts := pg_catalog.current_setting('protector_internal.deactivation', true)::jsonb OPERATOR(pg_catalog.->) NEW.id::text;
		EXCEPTION WHEN invalid_text_representation THEN
			v_counts := NULL;
		END;
		INSERT INTO protector.staff_activity (organization_id, member_id, action, details)
		VALUES (NEW.organization_id, v_actor, 'staff.deactivated',
				pg_catalog.jsonb_build_object('member_id', NEW.id, 'reason', v_reason)
				OPERATOR(pg_catalog.||) COALESCE(v_counts, '{}'));
		PERFORM pg_catalog.set_config('protector_internal.deactivation_reason', '', true);
	END IF;
	IF NOT OLD.active AND NEW.active THEN
		INSERT INTO protector.staff_activity (organization_id, member_id, action, details)
		VALUES (NEW.organization_id, v_actor, 'staff.reactivated', pg_catalog.jsonb_build_object('member_id', NEW.id));
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.record_member_change() IS
'Trigger (AFTER UPDATE OF role, active): records staff.role_changed, staff.deactivated and staff.reactivated, however the member row was written';
CREATE TRIGGER record_member_change AFTER UPDATE OF role, active ON protector.members
	FOR EACH ROW WHEN ((OLD.role IS DISTINCT FROM NEW.role OR OLD.active IS DISTINCT FROM NEW.active)
					   AND NOT protector_internal.restoring_into('protector.members'))
	EXECUTE FUNCTION protector_internal.record_member_change();

-- Deactivation: the member keeps their history but loses access; their
-- open tasks and the bookings assigned to them that have not ended are
-- released, their shifts not begun removed and one under way ended now,
-- each change audited.
CREATE FUNCTION protector.deactivate_staff(p_member_id uuid, p_reason text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m protector.members;
BEGIN
	-- what is theirs first, then the member's row (lock_member_work)
	m := protector_internal.lock_member_change(p_member_id, true);
	IF m.role OPERATOR(pg_catalog.=) 'owner' THEN
		PERFORM protector_internal.authorize(m.organization_id, 'members.manage_owners', 'member');
	END IF;
	IF p_reason IS NOT NULL THEN
		PERFORM protector_internal.check_text(p_reason, 'p_reason', 1, 500);
	END IF;
	IF NOT m.active THEN
		RETURN pg_catalog.jsonb_build_object('member_id', m.id, 'already_inactive', true);
	END IF;
	-- (keep_one_owner refuses to deactivate the last active owner;
	-- release_on_deactivation releases what was theirs, record_member_change
	-- records it with the reason)
	PERFORM pg_catalog.set_config('protector_internal.deactivation_reason', COALESCE(pg_catalog.btrim(p_reason), ''), true);
	UPDATE protector.members x SET active = false WHERE x.id OPERATOR(pg_catalog.=) p_member_id;
	IF NOT FOUND THEN
		PERFORM protector_internal.refuse_unwritten_member(m.organization_id, m.role OPERATOR(pg_catalog.=) 'owner');
	END IF;
	RETURN pg_catalog.jsonb_build_object('member_id', m.id, 'already_inactive', false) OPERATOR(pg_catalog.||)
		COALESCE(NULLIF(pg_catalog.current_setting('protector_internal.deactivation', true), '')::jsonb
				 OPERATOR(pg_catalog.->) m.id::text, '{}');
END
$$;
COMMENT ON FUNCTION protector.deactivate_staff(uuid, text) IS
'Deactivates a member (owners and admins): their open tasks and bookings not ended are released, shifts not begun removed, one under way ended; audited';

-- venues and shifts -------------------------------------------------------------

CREATE FUNCTION protector.assign_staff_to_venue(p_member_id uuid, p_venue_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	a protector.staff_venues;
BEGIN
	v_org := protector_internal.authorize_row('protector.members', p_member_id, 'shifts.manage', 'member');
	-- (a NULL venue: authorize_row names p_venue_id)
	IF protector_internal.authorize_row('protector.venues', p_venue_id, 'shifts.manage', 'venue') OPERATOR(pg_catalog.<>) v_org THEN
		PERFORM protector.raise('not_found', 'venue not found', 'It does not exist, or you may not see it.');
	END IF;
	INSERT INTO protector.staff_venues AS x (organization_id, member_id, venue_id) VALUES (v_org, p_member_id, p_venue_id)
	ON CONFLICT (organization_id, member_id, venue_id) DO NOTHING
	RETURNING * INTO a;
	IF a.id IS NULL THEN
		SELECT * INTO a FROM protector.staff_venues x
		WHERE x.organization_id OPERATOR(pg_catalog.=) v_org AND x.member_id OPERATOR(pg_catalog.=) p_member_id
		  AND x.venue_id OPERATOR(pg_catalog.=) p_venue_id;
	END IF;
	RETURN pg_catalog.to_jsonb(a);
END
$$;
COMMENT ON FUNCTION protector.assign_staff_to_venue(uuid, uuid) IS
'Lets a member work at a venue (owners, admins, managers); idempotent';

CREATE FUNCTION protector.create_staff_schedule(p_member_id uuid, p_venue_id uuid, p_start timestamptz,
												p_end timestamptz, p_note text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	s protector.staff_shifts;
BEGIN
	v_org := protector_internal.authorize_row('protector.members', p_member_id, 'shifts.manage', 'member');
	-- (a NULL venue: authorize_row names p_venue_id)
	IF protector_internal.authorize_row('protector.venues', p_venue_id, 'shifts.manage', 'venue') OPERATOR(pg_catalog.<>) v_org THEN
		PERFORM protector.raise('not_found', 'venue not found', 'It does not exist, or you may not see it.');
	END IF;
	PERFORM protector_internal.check_finite(p_start, 'p_start');
	PERFORM protector_internal.check_finite(p_end, 'p_end');
	IF p_start IS NULL OR p_end IS NULL OR p_end OPERATOR(pg_catalog.<=) p_start
	   OR p_start OPERATOR(pg_catalog.<) '2000-01-01 00:00+00' OR p_end OPERATOR(pg_catalog.>) '2200-01-01 00:00+00'
	   OR p_end OPERATOR(pg_catalog.>) (p_start OPERATOR(pg_catalog.+) interval '744 hours') THEN
		PERFORM protector.raise('invalid_parameter', 'a shift ends after it starts, within 31 days, between the years 2000 and 2200',
			pg_catalog.format('Got %s to %s.', protector_internal.iso_text(p_start), protector_internal.iso_text(p_end)));
	END IF;
	IF p_note IS NOT NULL THEN
		p_note := protector_internal.trim_spaces(p_note);
		PERFORM protector_internal.check_text(p_note, 'p_note', 1, 2000);
	END IF;
	INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during, note)
	VALUES (v_org, p_member_id, p_venue_id, pg_catalog.tstzrange(p_start, p_end), p_note)
	RETURNING * INTO s;
	RETURN pg_catalog.to_jsonb(s);
END
$$;
COMMENT ON FUNCTION protector.create_staff_schedule(uuid, uuid, timestamptz, timestamptz, text) IS
'Schedules a shift of a member at a venue they work at (owners, admins, managers); refused when it overlaps another of theirs';

-- A venue's week of shifts in its local time (p_week_start: a local date;
-- the week is that day and the six after it).
CREATE FUNCTION protector.get_staff_schedule(p_venue_id uuid, p_week_start date)
RETURNS TABLE (shift_id uuid, member_id uuid, full_name text, role protector.member_role, local_date date,
			   local_start timestamp, local_end timestamp, starts_at timestamptz, ends_at timestamptz,
			   timezone text, assigned_bookings integer, note text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	v_tz text;
	v_from timestamptz;
	v_to timestamptz;
	v_reach timestamptz;
	v_last timestamptz;
BEGIN
	-- (the weeks that reach a shift of the years 2000 to 2199, which are
	-- taken in UTC: a venue west of UTC has them from its 1999-12-31, one
	-- east until its 2200-01-01, which no week showed: a review)
	PERFORM protector_internal.check_finite(p_week_start, 'p_week_start');
	IF p_week_start IS NULL OR p_week_start NOT BETWEEN '1999-12-25' AND '2200-01-01' THEN
		PERFORM protector.raise('invalid_parameter', 'p_week_start must be a date from 1999-12-25 to 2200-01-01',
			'A week that reaches the shifts of the years 2000 to 2199, in any time zone.');
	END IF;
	v_org := protector_internal.authorize_row('protector.venues', p_venue_id, 'shifts.read', 'venue');
	SELECT v.timezone INTO v_tz FROM protector.venues v WHERE v.id OPERATOR(pg_catalog.=) p_venue_id;
	-- (each day from its first instant, the earlier where midnight
	-- happens twice, as local_date reads a shift's start)
	v_from := protector_internal.local_midnight(v_tz, p_week_start);
	v_to := protector_internal.local_midnight(v_tz, p_week_start OPERATOR(pg_catalog.+) 7);
	-- (the shifts' members' bookings at the venue read once, through
	-- bookings_starts_idx, from 31 days (the longest a booking lasts)
	-- before the first shift's start to the last one's end, as columns of
	-- their own: lower() and upper() are not leakproof, and under RLS a
	-- comparison with them could not be an index condition; the agent's
	-- index has no time, and each shift read the agent's whole history;
	-- read per shift, the 31 days were read once per shift. A booking is
	-- counted in every shift it overlaps: one that runs across shifts back
	-- to back, as staff.md lets it, was counted in none, and its officer
	-- looked idle.)
	-- (the bounds as values the plan knows: as subqueries, the planner took
	-- the agent's index and read their whole history)
	SELECT pg_catalog.min(pg_catalog.lower(x.during)) OPERATOR(pg_catalog.-) '744 hours'::pg_catalog.interval,
		   pg_catalog.max(pg_catalog.upper(x.during))
	INTO v_reach, v_last
	FROM protector.staff_shifts x
	WHERE x.organization_id OPERATOR(pg_catalog.=) v_org AND x.venue_id OPERATOR(pg_catalog.=) p_venue_id
	  AND x.during OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(v_from, v_to);
	RETURN QUERY
	WITH s AS MATERIALIZED (
		SELECT x.id, x.member_id, x.during, x.note, pg_catalog.lower(x.during) AS starts_at,
			   pg_catalog.upper(x.during) AS ends_at, m.user_id, m.full_name, m.role
		FROM protector.staff_shifts x
		JOIN protector.members m ON m.organization_id OPERATOR(pg_catalog.=) v_org AND m.id OPERATOR(pg_catalog.=) x.member_id
		WHERE x.organization_id OPERATOR(pg_catalog.=) v_org AND x.venue_id OPERATOR(pg_catalog.=) p_venue_id
		  AND x.during OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(v_from, v_to)),
	b AS MATERIALIZED (
		SELECT b.assigned_agent, b.during FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) v_org
		  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) v_reach
		  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) v_last
		  AND b.venue_id OPERATOR(pg_catalog.=) p_venue_id AND b.assigned_agent IS NOT NULL
		  AND b.status OPERATOR(pg_catalog.<>) ALL ('{cancelled,no_show}'::protector.booking_status[])
		  -- (a hold that ran out holds nothing, swept or not)
		  AND NOT (b.status OPERATOR(pg_catalog.=) 'held' AND b.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()))
	SELECT s.id, s.member_id, s.full_name, s.role, protector_internal.local_time(v_tz, s.starts_at)::date,
		   protector_internal.local_time(v_tz, s.starts_at), protector_internal.local_time(v_tz, s.ends_at),
		   s.starts_at, s.ends_at, v_tz,
		   (SELECT pg_catalog.count(*)::integer FROM b
			WHERE b.assigned_agent OPERATOR(pg_catalog.=) s.user_id AND b.during OPERATOR(pg_catalog.&&) s.during),
		   s.note
	FROM s
	ORDER BY s.starts_at, s.full_name, s.id;
END
$$;
COMMENT ON FUNCTION protector.get_staff_schedule(uuid, date) IS
'A venue''s shifts of the local week starting p_week_start, in local time, with the assigned bookings each overlaps';

-- performance ------------------------------------------------------------------

-- Per active member, for bookings starting in the local dates [p_from,
-- p_to] (the organization's time zone): bookings handled (assigned to them
-- and completed), their revenue (the ledger: succeeded payments less
-- refunds), tasks they completed in the range, and the median minutes
-- between a customer's message and their next reply on the same booking
-- (sql/84_messages.sql; NULL without replies).
-- (without JIT: each member's median is a query whose cost, under the
-- caller's RLS, lies far above jit_above_cost, and PostgreSQL's default
-- JIT compiled it for 400 ms to run it in 20: 200 members took 20 s)
CREATE FUNCTION protector.get_staff_performance(p_organization_id uuid, p_from date, p_to date)
RETURNS TABLE (member_id uuid, full_name text, role protector.member_role, bookings_handled integer,
			   revenue numeric, currency text, tasks_done integer, median_response_minutes numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp SET jit = off
AS $$
DECLARE
	v_tz text;
	v_currency text;
	v_lo timestamptz;
	v_hi timestamptz;
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	-- (finite, and within the years 1 to 9999, before they are subtracted:
	-- infinity gave a bare 22008)
	IF p_from IS NOT NULL AND p_to IS NOT NULL THEN
		PERFORM protector_internal.check_date_range(p_from, p_to, '0001-01-02', '9999-12-30');
	END IF;
	IF p_from IS NULL OR p_to IS NULL
	   OR p_to OPERATOR(pg_catalog.<) p_from OR p_to OPERATOR(pg_catalog.>) (p_from OPERATOR(pg_catalog.+) '10 years'::interval) THEN
		PERFORM protector.raise('invalid_parameter', 'p_from and p_to must be dates, p_to from p_from to ten years after it',
			pg_catalog.format('Got %s to %s (between 0001-01-02 and 9999-12-30).', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'staff.performance');
	SELECT o.timezone, o.currency INTO v_tz, v_currency FROM protector.organizations o
	WHERE o.id OPERATOR(pg_catalog.=) p_organization_id;
	-- local days as the reports begin them (a day whose midnight the
	-- clocks skip begins at its first hour)
	v_lo := protector_internal.local_midnight(v_tz, p_from);
	v_hi := protector_internal.local_midnight(v_tz, p_to OPERATOR(pg_catalog.+) 1);
	RETURN QUERY
	SELECT m.id, m.full_name, m.role,
		   (SELECT pg_catalog.count(*)::integer FROM protector.bookings b
			WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) m.user_id
			  AND b.status OPERATOR(pg_catalog.=) 'completed'
			  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) v_lo AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) v_hi),
		   (SELECT COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount
											 ELSE OPERATOR(pg_catalog.-) p.amount END), 0)
			FROM protector.bookings b JOIN protector.payments p ON p.organization_id OPERATOR(pg_catalog.=) b.organization_id
																AND p.booking_id OPERATOR(pg_catalog.=) b.id
			WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.assigned_agent OPERATOR(pg_catalog.=) m.user_id
			  AND b.status OPERATOR(pg_catalog.=) 'completed' AND p.status OPERATOR(pg_catalog.=) 'succeeded'
			  AND p.currency OPERATOR(pg_catalog.=) v_currency
			  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) v_lo AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) v_hi),
		   v_currency,
		   (SELECT pg_catalog.count(*)::integer FROM protector.tasks t
			WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.assignee OPERATOR(pg_catalog.=) m.user_id
			  AND t.status OPERATOR(pg_catalog.=) 'done'
			  AND t.completed_at OPERATOR(pg_catalog.>=) v_lo AND t.completed_at OPERATOR(pg_catalog.<) v_hi),
		   protector_internal.median_response_minutes(p_organization_id, m.user_id, v_lo, v_hi)
	FROM protector.members m
	WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id AND m.active
	ORDER BY m.full_name, m.id;
END
$$;
COMMENT ON FUNCTION protector.get_staff_performance(uuid, date, date) IS
'Per active member: completed bookings, their revenue (the ledger), tasks done and median reply time to customers, over local dates';

-- audited like every business table
SELECT protector.enable_audit(t)
FROM unnest('{protector.staff_invitations, protector.staff_venues, protector.staff_shifts}'::regclass[]) t;

GRANT EXECUTE ON FUNCTION
	protector.log_staff_activity(uuid, text, jsonb),
	protector.create_staff_member(uuid, text, protector.member_role, text),
	protector.accept_staff_invitations(),
	protector.confirm_membership(uuid, protector.member_role),
	protector.leave_organization(uuid),
	protector.update_staff_permissions(uuid, protector.member_role),
	protector.deactivate_staff(uuid, text),
	protector.assign_staff_to_venue(uuid, uuid),
	protector.create_staff_schedule(uuid, uuid, timestamptz, timestamptz, text),
	protector.get_staff_schedule(uuid, date),
	protector.get_staff_performance(uuid, date, date),
	protector_internal.record_staff_activity(uuid, text, jsonb),
	protector_internal.activate_invitations(uuid),
	protector_internal.change_own_membership(uuid, boolean, protector.member_role),
	protector_internal.drop_expired_invitation(uuid, text)
TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION protector.auth_access_token_hook(jsonb) TO service_role;
DO $hook$
BEGIN
	-- Supabase Auth calls the hook as supabase_auth_admin
	IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'supabase_auth_admin') THEN
		GRANT EXECUTE ON FUNCTION protector.auth_access_token_hook(jsonb), protector_internal.activate_invitations(uuid)
			TO supabase_auth_admin;
		GRANT USAGE ON SCHEMA protector, protector_internal TO supabase_auth_admin;
	END IF;
END
$hook$;
