\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/40_guards.sql: row rules that RLS cannot express.

-- Advisory locks (transaction-level only).  Those over an id take the
-- single-bigint form, keyed protector_internal.lock_key(class, id): 64
-- bits of SHA-256 over the class and the id, which no tenant can aim at
-- another's (src/locks.c; ids are often the tenant's to choose):
--   class 1886547713 (0x70726F01): reservations of a service
--   class 1886547714 (0x70726F02): owners of an organization
--   class 1886547715 (0x70726F03): widget bookings of an organization
--                                  (rate limit, customer matching)
--   classes 1886547717 to 1886547725: an organization's report cache
--                                  pruning, reminders of a booking, a
--                                  member's schedule, a waiver version, a
--                                  customer's requests, a booking's
--                                  waiver signatures, a customer's
--                                  messages, an organization's audit
--                                  purges, a customer's erasures and merges
-- One lock has no id and takes the two-int form: class 1886547716
-- (0x70726F04), objid 0, a restore's loads' ends and its DDL
-- (sql/98_restore.sql).  Applications should not take two-int advisory
-- locks with these class ids.

CREATE FUNCTION protector_internal.keep_one_owner()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_locked boolean := false;
	v_others boolean;				-- another active owner, held or not
	-- An owner who confirmed the membership is replaced only by another
	-- who did: an owner who made someone else owner and left handed them
	-- an organization they never asked for, which kept them from deleting
	-- their account.  A pending owner may go while any other active owner
	-- stays (so a pending owner can always decline what a confirmed owner
	-- made them).
	v_confirmed boolean := OLD.confirmed_at IS NOT NULL;
BEGIN
	-- (a row moved to another organization leaves this one too: service_role
	-- left an organization without an owner so)
	IF OLD.role OPERATOR(pg_catalog.=) 'owner' AND OLD.active
	   AND (TG_OP OPERATOR(pg_catalog.=) 'DELETE'
			OR NEW.role OPERATOR(pg_catalog.<>) 'owner' OR NOT NEW.active
			OR NEW.organization_id IS DISTINCT FROM OLD.organization_id
			OR (v_confirmed AND NEW.confirmed_at IS NULL)) THEN
		-- (a cascaded delete of the whole organization may remove every owner)
		IF NOT EXISTS (SELECT FROM protector.organizations o
					   WHERE o.id OPERATOR(pg_catalog.=) OLD.organization_id) THEN
			RETURN CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN OLD ELSE NEW END;
		END IF;
		-- serialize owner changes of one organization
		PERFORM pg_catalog.pg_advisory_xact_lock(protector_internal.lock_key(1886547714, OLD.organization_id));
		-- The other active owners, locked so that they stay owners (under
		-- REPEATABLE READ or SERIALIZABLE an owner another transaction
		-- demoted since the snapshot is a serialization failure, 40001, not
		-- an owner counted that is no longer one).  A row another
		-- transaction holds is not waited for while the owners' lock is
		-- held (this row is held already: two owners stepping down at once
		-- each held their own row and waited for the other's, 40P01), but
		-- looked at again for up to a second, sleeping (no lock wait, so no
		-- deadlock check finds a cycle): a shift or task being written for
		-- that owner holds it FOR SHARE for a moment.  All the others are
		-- locked, so that a later change of one of them waits for this
		-- transaction.  FOR NO KEY UPDATE: a foreign key's check does not
		-- conflict.  Where every other owner is still held, the caller
		-- retries (40001).
		FOR v_try IN 1..20 LOOP
			IF v_try OPERATOR(pg_catalog.>) 1 THEN
				PERFORM pg_catalog.pg_sleep(0.05);
			END IF;
			PERFORM FROM protector.members m
			WHERE m.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
			  AND m.role OPERATOR(pg_catalog.=) 'owner' AND m.active AND m.id OPERATOR(pg_catalog.<>) OLD.id
			  AND (m.confirmed_at IS NOT NULL OR NOT v_confirmed)
			FOR NO KEY UPDATE SKIP LOCKED;
			v_locked := FOUND;
			v_others := v_locked OR EXISTS (
				SELECT FROM protector.members m
				WHERE m.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
				  AND m.role OPERATOR(pg_catalog.=) 'owner' AND m.active AND m.id OPERATOR(pg_catalog.<>) OLD.id
				  AND (m.confirmed_at IS NOT NULL OR NOT v_confirmed));
			EXIT WHEN v_locked OR NOT v_others;
		END LOOP;
		IF v_locked THEN
			NULL;
		ELSIF v_others THEN
			PERFORM protector.raise('retry', 'another owner of the organization is being changed',
				pg_catalog.format('Every other active owner of organization %s is locked by another transaction.',
								  OLD.organization_id),
				'Retry the transaction.');
		ELSIF v_confirmed AND EXISTS (
				SELECT FROM protector.members m
				WHERE m.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
				  AND m.role OPERATOR(pg_catalog.=) 'owner' AND m.active AND m.id OPERATOR(pg_catalog.<>) OLD.id) THEN
			PERFORM protector.raise('invalid_parameter',
				'an organization must keep at least one active owner',
				pg_catalog.format('Member %s is the last active owner of organization %s who confirmed the membership; the other owners have not confirmed theirs.',
								  OLD.id, OLD.organization_id),
				'Another owner confirms their membership first (protector.confirm_membership).');
		ELSE
			PERFORM protector.raise('invalid_parameter',
				'an organization must keep at least one active owner',
				pg_catalog.format('Member %s is the last active owner of organization %s.',
								  OLD.id, OLD.organization_id),
				'Make another member owner, and have them confirm it (protector.confirm_membership), first; or delete the organization.');
		END IF;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		RETURN OLD;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_one_owner() IS
'Trigger: refuses to delete, demote, deactivate or move away the last active owner of an organization, and the last who confirmed the membership while other owners have not';

CREATE TRIGGER keep_one_owner BEFORE UPDATE OR DELETE ON protector.members
	FOR EACH ROW EXECUTE FUNCTION protector_internal.keep_one_owner();

-- A member confirmed their membership as it was: made owner, or an owner
-- made active again, by someone else, it is pending again (a viewer who
-- confirmed, then made owner by an owner who left, owned an organization
-- they never asked for).  A writer who sets another confirmed_at in the
-- same change (only trusted sessions may write it) keeps what they set.
-- (Its trigger's name sorts before keep_one_owner's: that one must see an
-- owner row given to another account as its confirmed owner leaving.)
CREATE FUNCTION protector_internal.owner_needs_confirmation()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.user_id IS DISTINCT FROM protector.current_user_id() THEN
		NEW.confirmed_at := NULL;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.owner_needs_confirmation() IS
'Trigger: a membership someone else makes an active owner (a new role, made active again, another account or organization) is pending again';

CREATE TRIGGER clear_owner_confirmation BEFORE UPDATE ON protector.members
	FOR EACH ROW WHEN (NEW.role = 'owner' AND NEW.active AND NEW.confirmed_at IS NOT NULL
					   AND NEW.confirmed_at IS NOT DISTINCT FROM OLD.confirmed_at
					   AND (OLD.role <> 'owner' OR NOT OLD.active OR NEW.user_id <> OLD.user_id
							OR NEW.organization_id <> OLD.organization_id)
					   AND NOT protector_internal.restoring_into('protector.members'))
	EXECUTE FUNCTION protector_internal.owner_needs_confirmation();

-- Operators, agents and customers may update rows, but only some columns
-- of them.  TG_ARGV[0]: the action (capability map) that may change every
-- column; TG_ARGV[1]: the columns every other member may change; TG_ARGV[2]
-- an action and TG_ARGV[3] the further columns it may change; TG_ARGV[4]
-- the columns a caller who is no member (a customer on their own row, as
-- the policies let them) may change.  Requests without a user and trusted
-- callers (service_role, protector's own SECURITY DEFINER code) are not
-- restricted here.
CREATE FUNCTION protector_internal.restrict_update_columns()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	allowed text[] := TG_ARGV[1]::text[];
	changed text[];
BEGIN
	IF protector.current_user_id() IS NULL OR protector_internal.caller_is_trusted()
	   OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with(TG_ARGV[0])) THEN
		RETURN NEW;
	END IF;
	IF NOT NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('organizations.read')) THEN
		allowed := COALESCE(TG_ARGV[4], '{}')::text[];
	ELSIF TG_NARGS > 2 AND NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with(TG_ARGV[2])) THEN
		allowed := allowed OPERATOR(pg_catalog.||) TG_ARGV[3]::text[];
	END IF;
	SELECT pg_catalog.array_agg(n.key ORDER BY n.key) INTO changed
	FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) n
	JOIN pg_catalog.jsonb_each(pg_catalog.to_jsonb(OLD)) o ON o.key OPERATOR(pg_catalog.=) n.key
	WHERE n.value IS DISTINCT FROM o.value
	  AND n.key OPERATOR(pg_catalog.<>) 'updated_at'
	  AND n.key OPERATOR(pg_catalog.<>) ALL (allowed)
	  -- a generated column is NULL in NEW until after BEFORE triggers
	  AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
					  WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attname OPERATOR(pg_catalog.=) n.key
						AND a.attgenerated OPERATOR(pg_catalog.<>) '');
	IF changed IS NOT NULL THEN
		PERFORM protector.raise('forbidden',
			pg_catalog.format('your role may not change %s of %s',
							  pg_catalog.array_to_string(changed, ', '), TG_TABLE_NAME),
			pg_catalog.format('Your role may change only %s.', pg_catalog.array_to_string(allowed, ', ')),
			pg_catalog.format('Members whose role may do %s change the other columns (protector.capability_map()).',
							  TG_ARGV[0]));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.restrict_update_columns() IS
'Trigger: lets members whose role may not do action TG_ARGV[0] change only the columns in TG_ARGV[1] (and TG_ARGV[3] with action TG_ARGV[2]), non-members only those in TG_ARGV[4]';

-- a reschedule moves a booking (its price follows the service:
-- set_booking_price in sql/75_bookings_api.sql)
CREATE TRIGGER restrict_update_columns BEFORE UPDATE ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.restrict_update_columns(
		'bookings.update_any_column',
		'{status,hold_expires_at,assigned_agent,details,cancellation_reason,cancelled_at}',
		'bookings.reschedule',
		'{during,service_id,venue_id}',
		'{status,hold_expires_at,cancellation_reason,cancelled_at}');

CREATE TRIGGER restrict_update_columns BEFORE UPDATE ON protector.tasks
	FOR EACH ROW EXECUTE FUNCTION protector_internal.restrict_update_columns(
		'tasks.update',
		'{status,completed_at}');

-- a notification's reader marks it read; its recipient, kind and payload
-- stay what protector or the desk wrote (an operator took the desk's
-- notifications by addressing them to themselves)
CREATE TRIGGER restrict_update_columns BEFORE UPDATE ON protector.notifications
	FOR EACH ROW EXECUTE FUNCTION protector_internal.restrict_update_columns(
		'notifications.delete',
		'{read_at}');

-- An infinite time is 22008 wherever protector takes one (bookings.md's
-- error table), written directly too, by every writer: a manager's hold
-- until infinity never lapsed and expire_holds never freed its slot, and
-- a cancellation at -infinity, a task due then or a venue deleted then
-- was stored and exported as such (an attack review of special values).
-- TG_ARGV: the timestamptz columns to judge.  After restrict_update_columns
-- (named to): a role that may not write the column is told that first.
-- (A restore brings back what the backup holds.)
CREATE FUNCTION protector_internal.refuse_infinite_times()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_row jsonb := pg_catalog.to_jsonb(NEW);
	v_old jsonb;
	c text;
BEGIN
	IF protector_internal.restoring_into(TG_RELID::regclass) THEN
		RETURN NEW;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
		v_old := pg_catalog.to_jsonb(OLD);
	END IF;
	FOREACH c IN ARRAY TG_ARGV LOOP
		-- (a value the write changes: one stored before, by 0.1.0 or a
		-- restore, stays writable around, and a hold until infinity could
		-- not even be cancelled: a review)
		IF v_old IS NULL OR (v_row OPERATOR(pg_catalog.->) c) IS DISTINCT FROM (v_old OPERATOR(pg_catalog.->) c) THEN
			PERFORM protector_internal.check_finite((v_row OPERATOR(pg_catalog.->>) c)::timestamptz, c);
		END IF;
	END LOOP;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_infinite_times() IS
'Trigger: refuses (22008) an infinite value a write gives the timestamptz columns TG_ARGV names (one stored before stays)';

-- (a new booking's: prepare_booking, src/booking_insert.c, bookings' one
-- BEFORE INSERT trigger; updates under a WHEN clause: without it every
-- confirmation, cancellation and sweep of a hold ran the function, two
-- rows made JSON each, 20% slower, where the clause costs each INSERT
-- statement about 300 instructions to copy: a review)
CREATE TRIGGER times_are_finite BEFORE UPDATE OF hold_expires_at, cancelled_at, payment_due_by ON protector.bookings
	FOR EACH ROW WHEN (NOT pg_catalog.isfinite(NEW.hold_expires_at) OR NOT pg_catalog.isfinite(NEW.cancelled_at)
					   OR NOT pg_catalog.isfinite(NEW.payment_due_by))
	EXECUTE FUNCTION protector_internal.refuse_infinite_times('hold_expires_at', 'cancelled_at', 'payment_due_by');
-- (of tasks without naming a column: a trigger naming one, in its WHEN or
-- its column list, keeps an operator from changing the column's type,
-- which direct_insert.c meets with a named error, pgTAP 240; the workflow's
-- own rows fire no trigger)
CREATE TRIGGER times_are_finite BEFORE INSERT OR UPDATE ON protector.tasks
	FOR EACH ROW EXECUTE FUNCTION protector_internal.refuse_infinite_times('due_at', 'completed_at');
CREATE TRIGGER times_are_finite BEFORE INSERT OR UPDATE OF confirmed_at ON protector.members
	FOR EACH ROW WHEN (NOT pg_catalog.isfinite(NEW.confirmed_at))
	EXECUTE FUNCTION protector_internal.refuse_infinite_times('confirmed_at');
CREATE TRIGGER times_are_finite BEFORE INSERT OR UPDATE OF read_at ON protector.notifications
	FOR EACH ROW WHEN (NOT pg_catalog.isfinite(NEW.read_at))
	EXECUTE FUNCTION protector_internal.refuse_infinite_times('read_at');
CREATE TRIGGER times_are_finite BEFORE INSERT OR UPDATE OF deleted_at ON protector.venues
	FOR EACH ROW WHEN (NOT pg_catalog.isfinite(NEW.deleted_at))
	EXECUTE FUNCTION protector_internal.refuse_infinite_times('deleted_at');

-- A booking's source says which channel it came through; the widget and
-- imports are recorded by protector's widget functions and by trusted
-- roles (service_role) only, so reports and the widget's limits can
-- trust it.  Other sources are the caller's to choose.
CREATE FUNCTION protector_internal.guard_booking_source()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector.raise('forbidden',
			pg_catalog.format('bookings with source %s are recorded by protector only', NEW.source),
			'The widget records widget bookings; trusted roles such as service_role record imports.',
			'Use source dashboard, api, phone or walk_in.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_booking_source() IS
'Trigger: only the widget functions and trusted roles record bookings with source widget or import';

-- (prepare_booking(), src/booking_insert.c, calls it for a new booking
-- with source widget or import)

-- Embed keys are the database's: changing one needs venues.rotate_key,
-- and whatever the caller wrote, the new key is a fresh random one
-- (trusted roles may restore a given key).  rotate_embed_key() is this.
CREATE FUNCTION protector_internal.rotate_embed_key()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.authorize(NEW.organization_id, 'venues.rotate_key', 'venue');
	IF NOT protector_internal.caller_is_trusted() THEN
		NEW.embed_key := protector.generate_embed_key();
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.rotate_embed_key() IS
'Trigger: a venue''s embed key changes only for callers who may rotate it, and only to a freshly generated key';

CREATE TRIGGER rotate_embed_key BEFORE UPDATE OF embed_key ON protector.venues
	FOR EACH ROW WHEN (OLD.embed_key IS DISTINCT FROM NEW.embed_key)
	EXECUTE FUNCTION protector_internal.rotate_embed_key();
