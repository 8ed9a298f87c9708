\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/82_workflow.sql: the work a booking creates for the operations team.
--
-- A new booking (pending or confirmed, or a hold once confirmed) gets a
-- review task, due an hour before it starts (never after the start, never
-- in the past), assigned to the booking's agent; the desk gets a
-- notification.  A reschedule moves the open review task and notifies the
-- desk; a cancellation closes the booking's open tasks and notifies the
-- desk; a new agent takes over the booking's open tasks that were the old
-- agent's or nobody's.  All in the booking's transaction.  Holds (a widget checkout in
-- progress) create nothing until confirmed.
--
-- A new booking's work is written in C (src/workflow.c: the rows go
-- straight into the heap and indexes after their constraints, with no
-- foreign-key lock on the organization per booking); the changes of a
-- booking are the PL/pgSQL trigger below.

CREATE FUNCTION protector_internal.booking_workflow_insert()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_booking_workflow_insert'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.booking_workflow_insert() IS
'Trigger (AFTER INSERT, C): the review task and desk notification of a new booking';

-- (times in the payload in UTC whoever writes the booking, as a new
-- booking's are: to_jsonb writes a timestamp in the session's zone)
CREATE FUNCTION protector_internal.booking_workflow()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
AS $$
DECLARE
	v_kind text;
	v_service text;
	v_timezone text;
	v_title text;
	v_due timestamptz;
BEGIN
	-- a restore (row_security = off, as pg_dump's output sets it) writes
	-- history: the tasks and notifications are restored with it
	IF protector_internal.restoring_into(TG_RELID) THEN
		RETURN NULL;
	END IF;
	-- (the booking's tasks locked first, done ones too, where they change
	-- below: the updates skip a done task on their snapshot without
	-- waiting, so one an agent was reopening at that moment stayed open
	-- with the old agent, or with the old title, after the change)
	IF NEW.assigned_agent IS DISTINCT FROM OLD.assigned_agent
	   OR (NEW.status OPERATOR(pg_catalog.=) 'cancelled' AND OLD.status OPERATOR(pg_catalog.<>) 'cancelled')
	   OR (NEW.during, NEW.service_id) IS DISTINCT FROM (OLD.during, OLD.service_id) THEN
		PERFORM FROM protector.tasks t
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
		ORDER BY t.id
		FOR UPDATE;
	END IF;
	-- (to the desk where the new member's role sees no tasks, as on insert:
	-- a trusted caller may hand an ended booking to finance, and the task's
	-- own check refused the whole handover, naming a task)
	IF NEW.assigned_agent IS DISTINCT FROM OLD.assigned_agent THEN
		UPDATE protector.tasks t
		SET assignee = CASE WHEN NEW.assigned_agent IS NOT NULL
								 AND protector_internal.member_sees_tasks(NEW.organization_id, NEW.assigned_agent)
							THEN NEW.assigned_agent END
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
		  AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND t.status OPERATOR(pg_catalog.<>) 'done'
		  AND (t.assignee IS NULL OR t.assignee OPERATOR(pg_catalog.=) OLD.assigned_agent);
		-- (under REPEATABLE READ a task of the booking committed since the
		-- snapshot stayed the old agent's, who could never finish it, and
		-- the new agent never saw it: 40001, as the task's writer is told
		-- of a handover it did not see)
		PERFORM protector_internal.retry_if_unseen(
			'SELECT pg_catalog.count(*) FROM protector.tasks t
			 WHERE t.booking_id OPERATOR(pg_catalog.=) $1 AND t.status OPERATOR(pg_catalog.<>) ''done''',
			NEW.id, 'a task of the booking was written concurrently',
			'It would have stayed with the agent the booking was handed away from.');
	END IF;

	-- (a new booking's work is booking_workflow_insert's, in C; a booking
	-- confirmed before, held again and confirmed again by a trusted caller
	-- was created once: its review task is there.  So was a booking
	-- cancelled and set back by a trusted caller, a correction the desk is
	-- not told of, moved or not; but a hold cancelled, lapsed or by hand,
	-- which keeps its hold_expires_at (hold_expiry_of), never was a
	-- booking: set back, it is announced now)
	IF (OLD.status OPERATOR(pg_catalog.=) 'held'
		OR (OLD.status OPERATOR(pg_catalog.=) 'cancelled' AND OLD.hold_expires_at IS NOT NULL))
	   AND NEW.status IN ('pending', 'confirmed') THEN
		IF EXISTS (SELECT FROM protector.tasks t
				   WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
					 AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
					 AND t.kind OPERATOR(pg_catalog.=) 'booking_review') THEN
			RETURN NULL;
		END IF;
		v_kind := 'booking.created';
	ELSIF OLD.status OPERATOR(pg_catalog.=) 'cancelled' AND NEW.status IN ('pending', 'confirmed') THEN
		RETURN NULL;
	ELSIF NEW.status OPERATOR(pg_catalog.=) 'cancelled' AND OLD.status OPERATOR(pg_catalog.<>) 'cancelled' THEN
		UPDATE protector.tasks t
		SET status = 'done', completed_at = pg_catalog.now()
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
		  AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND t.status OPERATOR(pg_catalog.<>) 'done';
		IF OLD.status OPERATOR(pg_catalog.=) 'held' THEN
			RETURN NULL;		-- a dropped checkout is nobody's news
		END IF;
		v_kind := 'booking.cancelled';
	-- (a move to another service at the same times is one too: the title
	-- names the service, its venue's local time and zone)
	ELSIF (NEW.during, NEW.service_id) IS DISTINCT FROM (OLD.during, OLD.service_id)
		  AND NEW.status IN ('pending', 'confirmed') THEN
		v_kind := 'booking.rescheduled';
	ELSE
		RETURN NULL;
	END IF;

	-- (the name as services' CHECK counts it, so the title fits tasks')
	SELECT pg_catalog.btrim(s.name), v.timezone INTO v_service, v_timezone
	FROM protector.services s
	JOIN protector.venues v ON v.id OPERATOR(pg_catalog.=) s.venue_id
	WHERE s.id OPERATOR(pg_catalog.=) NEW.service_id;
	v_title := pg_catalog.format('Review booking: %s, %s (%s)', v_service,
		pg_catalog.to_char(protector_internal.local_time(v_timezone, pg_catalog.lower(NEW.during)), 'YYYY-MM-DD HH24:MI'),
		v_timezone);
	v_due := LEAST(pg_catalog.lower(NEW.during),
				   GREATEST(pg_catalog.now(), pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.-) interval '1 hour'));

	IF v_kind OPERATOR(pg_catalog.=) 'booking.created' THEN
		-- (the agent's, where their role sees tasks: one made finance or a
		-- viewer since the hold was made leaves it to the desk, and the
		-- confirmation goes through)
		INSERT INTO protector.tasks (organization_id, booking_id, kind, title, assignee, due_at)
		VALUES (NEW.organization_id, NEW.id, 'booking_review', v_title,
				CASE WHEN NEW.assigned_agent IS NOT NULL
						  AND protector_internal.member_sees_tasks(NEW.organization_id, NEW.assigned_agent)
					 THEN NEW.assigned_agent END, v_due);
	ELSIF v_kind OPERATOR(pg_catalog.=) 'booking.rescheduled' THEN
		UPDATE protector.tasks t
		SET title = v_title, due_at = v_due
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
		  AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND t.kind OPERATOR(pg_catalog.=) 'booking_review'
		  AND t.status OPERATOR(pg_catalog.<>) 'done';
	END IF;

	-- for the desk; no customer data beyond what staff see on the booking
	INSERT INTO protector.notifications (organization_id, booking_id, kind, payload)
	VALUES (NEW.organization_id, NEW.id, v_kind,
			pg_catalog.jsonb_build_object('service', v_service, 'start', pg_catalog.lower(NEW.during),
										  'timezone', v_timezone, 'status', NEW.status,
										  'party_size', NEW.party_size, 'confirm_by', NEW.hold_expires_at));
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.booking_workflow() IS
'Trigger (AFTER UPDATE): review tasks and desk notifications for confirmed, rescheduled and cancelled bookings';

CREATE TRIGGER booking_workflow
	AFTER INSERT ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.booking_workflow_insert();
-- (service_id, party_size, total_price and currency: BEFORE triggers
-- change status and during when they change, and an UPDATE OF list names
-- only what the statement sets; see agent_shift_check_update)
CREATE TRIGGER booking_workflow_update
	AFTER UPDATE OF status, during, assigned_agent, service_id, party_size, total_price, currency ON protector.bookings
	FOR EACH ROW WHEN ((OLD.status, OLD.during, OLD.assigned_agent, OLD.service_id)
					   IS DISTINCT FROM (NEW.status, NEW.during, NEW.assigned_agent, NEW.service_id))
	EXECUTE FUNCTION protector_internal.booking_workflow();

-- A notification is addressed to a member of its organization (the
-- composite foreign key's error was bare); the desk's have no recipient.
CREATE FUNCTION protector_internal.check_notification_recipient()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a write that keeps the recipient is not judged: a notification of a
	-- member deactivated since is still marked read)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.recipient_id OPERATOR(pg_catalog.=) OLD.recipient_id
	   AND NEW.organization_id OPERATOR(pg_catalog.=) OLD.organization_id THEN
		RETURN NEW;
	END IF;
	-- (share-locked, as a task's assignee: a deletion or deactivation
	-- racing this is waited for and then named; a deactivated member reads
	-- nothing any more)
	IF NOT protector_internal.lock_active_member(NEW.organization_id, NEW.recipient_id,
			'A notification is addressed only to an active member.',
			'Address someone else, or the desk (recipient_id NULL).') THEN
		PERFORM protector.raise('not_found', 'recipient not found',
			'recipient_id is not a member of the notification''s organization.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_notification_recipient() IS
'Trigger: a notification''s recipient is an active member of its organization (named, where the foreign key''s error was bare)';
-- (a caller who may not write the organization's notifications learns
-- nothing from it: the policy refuses the row; see check_shift_member)
CREATE TRIGGER check_notification_recipient BEFORE INSERT OR UPDATE OF recipient_id, organization_id ON protector.notifications
	FOR EACH ROW WHEN (NEW.recipient_id IS NOT NULL AND NOT protector_internal.restoring_into('protector.notifications')
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('notifications.create'))))
	EXECUTE FUNCTION protector_internal.check_notification_recipient();

-- A task's completion time is the database's, as a message's time is:
-- set when the task becomes done, kept while it stays done, cleared when
-- it is reopened; a value written is replaced.  Staff performance counts
-- a member's tasks by it, so the member credited may not move it.  Trusted
-- callers (service_role, an import of done tasks) may give it.
CREATE FUNCTION protector_internal.stamp_task_completion()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.status OPERATOR(pg_catalog.<>) 'done' THEN
		NEW.completed_at := NULL;
	ELSIF protector_internal.caller_is_trusted() AND NEW.completed_at IS NOT NULL THEN
		RETURN NEW;
	ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND OLD.status OPERATOR(pg_catalog.=) 'done' THEN
		NEW.completed_at := OLD.completed_at;
	ELSE
		NEW.completed_at := pg_catalog.now();
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.stamp_task_completion() IS
'Trigger: a task''s completed_at is when it became done (NULL while not done); only trusted callers give it';
CREATE TRIGGER stamp_task_completion BEFORE INSERT OR UPDATE OF status, completed_at ON protector.tasks
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.tasks'))
	EXECUTE FUNCTION protector_internal.stamp_task_completion();

-- A booking's review task is the workflow's: it is how the workflow knows
-- a booking was announced (a hold confirmed after a task of that kind was
-- written by hand reached neither the desk nor its agent), and what a
-- reschedule moves.  Others write tasks of other kinds, and do not move a
-- review task to another booking (moved onto a hold, it kept the hold's
-- confirmation from the desk as well); trusted callers (service_role, an
-- import) may write any.  After the insert: an upsert of the workflow's own
-- task (supabase-js writes a change so) is an update, which the update
-- trigger judges, and only a row really inserted is refused (a check of
-- the existing row before it raced a deletion of that row).
CREATE FUNCTION protector_internal.keep_review_tasks()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector.raise('forbidden', 'booking_review tasks are written by the booking workflow',
		'A booking''s review task is made when the booking is, and moved when it is rescheduled.',
		'Give your task another kind, e.g. manual; a review task stays with its booking.');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_review_tasks() IS
'Trigger: only the booking workflow (and trusted callers) write tasks of kind booking_review';
CREATE TRIGGER keep_review_tasks AFTER INSERT ON protector.tasks
	FOR EACH ROW WHEN (NEW.kind = 'booking_review' AND NOT protector_internal.restoring_into('protector.tasks')
					   AND NOT protector_internal.caller_is_trusted())
	EXECUTE FUNCTION protector_internal.keep_review_tasks();
CREATE TRIGGER keep_review_tasks_update BEFORE UPDATE OF kind, booking_id ON protector.tasks
	FOR EACH ROW WHEN (((NEW.kind = 'booking_review') <> (OLD.kind = 'booking_review')
						OR (OLD.kind = 'booking_review' AND NEW.booking_id IS DISTINCT FROM OLD.booking_id))
					   AND NOT protector_internal.caller_is_trusted())
	EXECUTE FUNCTION protector_internal.keep_review_tasks();

-- A task's or notification's booking is one of its organization's, named
-- where the composite foreign key's error was bare (a direct insert by
-- the desk); key-share locked, as the foreign key will lock it.  Rows the
-- workflow writes past the executor do not come here.
CREATE FUNCTION protector_internal.check_booking_reference()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id
	FOR KEY SHARE;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'booking not found',
			pg_catalog.format('booking_id is no booking of the %s''s organization.', pg_catalog.rtrim(TG_TABLE_NAME, 's')));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_booking_reference() IS
'Trigger: a task''s or notification''s booking is one of its organization (named, where the foreign key''s error was bare)';
-- (for callers who may write such rows: the policy refuses the others)
CREATE TRIGGER check_booking_reference BEFORE INSERT OR UPDATE OF booking_id, organization_id ON protector.notifications
	FOR EACH ROW WHEN (NEW.booking_id IS NOT NULL AND NOT protector_internal.restoring_into('protector.notifications')
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('notifications.create'))))
	EXECUTE FUNCTION protector_internal.check_booking_reference();
CREATE TRIGGER check_booking_reference BEFORE INSERT OR UPDATE OF booking_id, organization_id ON protector.tasks
	FOR EACH ROW WHEN (NEW.booking_id IS NOT NULL AND NOT protector_internal.restoring_into('protector.tasks')
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('tasks.create'))))
	EXECUTE FUNCTION protector_internal.check_booking_reference();
