-- The work a new booking creates (src/workflow.c), compared field by field
-- with the rules of docs/workflow.md written in SQL: the review task's
-- title, due time and assignee, the desk notification's payload; what a
-- widget hold and other statuses get; the rows pass their tables'
-- constraints although they are written past the executor.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY terse
\set SHOW_CONTEXT never

INSERT INTO protector.organizations (id, name, slug, timezone) VALUES
	('0d140000-0000-4000-8000-000000000000', 'Flow', 'flow', 'America/New_York');
-- agents are assigned here without shifts (docs/staff.md)
UPDATE protector.organizations SET settings = settings || '{"staff": {"require_shifts": false}}' WHERE id = '0d140000-0000-4000-8000-000000000000';
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0d140000-0000-4000-8000-0000000000a1', '0d140000-0000-4000-8000-000000000000', 'Loft', 'America/New_York', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, max_advance) VALUES
	('0d140000-0000-4000-8000-0000000005a1', '0d140000-0000-4000-8000-000000000000', '0d140000-0000-4000-8000-0000000000a1',
	 'Escape "Vault", deluxe', '1 hour', '400 days');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0d140000-0000-4000-8000-000000000000', '0d140000-0000-4000-8000-0000000000e1', 'agent');

-- b1: confirmed, in 3 days at 18:30 New York time, with an agent;
-- b2: pending, starting in 20 minutes (due: now, not 40 minutes ago);
-- b3: a widget hold (notification only); b4: a dashboard hold (nothing);
-- b5: completed (nothing).  Written and read in one transaction, so now()
-- is the same moment for the rules and for the trigger.
CREATE FUNCTION pg_temp.at(p_days int, p_time text) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT (((now() AT TIME ZONE 'America/New_York')::date + p_days) || ' ' || p_time)::timestamp AT TIME ZONE 'America/New_York'
$$;
BEGIN;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, source, assigned_agent,
								party_size, hold_expires_at)
VALUES ('0d140000-0000-4000-8000-0000000000b1', '0d140000-0000-4000-8000-000000000000', '0d140000-0000-4000-8000-0000000000a1',
		'0d140000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.at(3, '18:30'), pg_temp.at(3, '19:30')), 'confirmed',
		'dashboard', '0d140000-0000-4000-8000-0000000000e1', 4, NULL),
	   ('0d140000-0000-4000-8000-0000000000b2', '0d140000-0000-4000-8000-000000000000', '0d140000-0000-4000-8000-0000000000a1',
		'0d140000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('minute', now()) + interval '20 minutes', date_trunc('minute', now()) + interval '80 minutes'),
		'pending', 'dashboard', NULL, 2, NULL),
	   ('0d140000-0000-4000-8000-0000000000b3', '0d140000-0000-4000-8000-000000000000', '0d140000-0000-4000-8000-0000000000a1',
		'0d140000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.at(5, '10:00'), pg_temp.at(5, '11:00')), 'held',
		'widget', NULL, 3, date_trunc('second', now()) + interval '15 minutes'),
	   ('0d140000-0000-4000-8000-0000000000b4', '0d140000-0000-4000-8000-000000000000', '0d140000-0000-4000-8000-0000000000a1',
		'0d140000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.at(6, '10:00'), pg_temp.at(6, '11:00')), 'held',
		'dashboard', NULL, 1, now() + interval '15 minutes'),
	   ('0d140000-0000-4000-8000-0000000000b5', '0d140000-0000-4000-8000-000000000000', '0d140000-0000-4000-8000-0000000000a1',
		'0d140000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.at(-2, '10:00'), pg_temp.at(-2, '11:00')), 'completed',
		'dashboard', NULL, 1, NULL);

-- the tasks: one per pending or confirmed booking, as the rules say
SELECT right(b.id::text, 2) AS booking, t.kind, t.status, t.assignee IS NOT DISTINCT FROM b.assigned_agent AS agent_assigned,
	   t.title = format('Review booking: %s, %s (%s)', s.name,
						to_char(lower(b.during) AT TIME ZONE v.timezone, 'YYYY-MM-DD HH24:MI'), v.timezone) AS title_as_rule,
	   t.due_at = LEAST(lower(b.during), GREATEST(now(), lower(b.during) - interval '1 hour')) AS due_as_rule,
	   t.created_at = now() AS created_now, t.updated_at = now() AS updated_now
FROM protector.tasks t
JOIN protector.bookings b ON b.id = t.booking_id
JOIN protector.services s ON s.id = b.service_id
JOIN protector.venues v ON v.id = s.venue_id
WHERE b.organization_id = '0d140000-0000-4000-8000-000000000000'
ORDER BY 1;
-- b1's title written out: 18:30 local, three days on
SELECT title = 'Review booking: Escape "Vault", deluxe, ' || to_char(pg_temp.at(3, '18:30') AT TIME ZONE 'America/New_York',
															  'YYYY-MM-DD') || ' 18:30 (America/New_York)' AS b1_title
FROM protector.tasks WHERE booking_id = '0d140000-0000-4000-8000-0000000000b1';
-- b2 starts in 20 minutes: due now (an hour before would be in the past)
SELECT due_at = now() AS b2_due_now FROM protector.tasks WHERE booking_id = '0d140000-0000-4000-8000-0000000000b2';

-- the notifications: b1 and b2 created, b3 awaiting confirmation, their
-- payloads exactly the rule's jsonb_build_object
SELECT right(b.id::text, 2) AS booking, n.kind, n.recipient_id IS NULL AS for_the_desk, n.read_at IS NULL AS unread,
	   n.payload = jsonb_build_object('service', s.name, 'start', lower(b.during), 'timezone', v.timezone, 'status', b.status,
									  'party_size', b.party_size, 'confirm_by', b.hold_expires_at) AS payload_as_rule
FROM protector.notifications n
JOIN protector.bookings b ON b.id = n.booking_id
JOIN protector.services s ON s.id = b.service_id
JOIN protector.venues v ON v.id = s.venue_id
WHERE b.organization_id = '0d140000-0000-4000-8000-000000000000'
ORDER BY 1;
SELECT payload ->> 'confirm_by' IS NOT NULL AS b3_confirm_by, payload ->> 'status' AS b3_status
FROM protector.notifications WHERE booking_id = '0d140000-0000-4000-8000-0000000000b3';
COMMIT;

-- confirming b4 (a dashboard hold) later creates its task, through the
-- update trigger
UPDATE protector.bookings SET status = 'confirmed', hold_expires_at = NULL WHERE id = '0d140000-0000-4000-8000-0000000000b4';
SELECT count(*) AS b4_tasks FROM protector.tasks WHERE booking_id = '0d140000-0000-4000-8000-0000000000b4';

-- the rows pass their tables' constraints: with a CHECK on tasks that
-- refuses review tasks, a new pending booking is refused with it
BEGIN;
ALTER TABLE protector.tasks ADD CONSTRAINT no_reviews CHECK (kind <> 'booking_review') NOT VALID;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
VALUES ('0d140000-0000-4000-8000-000000000000', '0d140000-0000-4000-8000-0000000000a1', '0d140000-0000-4000-8000-0000000005a1',
		tstzrange(pg_temp.at(9, '10:00'), pg_temp.at(9, '11:00')), 'pending');
ROLLBACK;
SELECT count(*) AS tasks,
	   (SELECT count(*) FROM protector.notifications WHERE organization_id = '0d140000-0000-4000-8000-000000000000') AS notifications
FROM protector.tasks WHERE organization_id = '0d140000-0000-4000-8000-000000000000';

-- the compiled constraints are kept across transactions (direct_insert.c)
-- and follow the table's definition: a CHECK committed on its own refuses
-- the next transaction's booking; dropped, the one after books
ALTER TABLE protector.notifications ADD CONSTRAINT no_desk_news CHECK (kind <> 'booking.created') NOT VALID;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
VALUES ('0d140000-0000-4000-8000-000000000000', '0d140000-0000-4000-8000-0000000000a1', '0d140000-0000-4000-8000-0000000005a1',
		tstzrange(pg_temp.at(10, '10:00'), pg_temp.at(10, '11:00')), 'pending');
ALTER TABLE protector.notifications DROP CONSTRAINT no_desk_news;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
VALUES ('0d140000-0000-4000-8000-000000000000', '0d140000-0000-4000-8000-0000000000a1', '0d140000-0000-4000-8000-0000000005a1',
		tstzrange(pg_temp.at(10, '10:00'), pg_temp.at(10, '11:00')), 'pending');
SELECT count(*) AS tasks,
	   (SELECT count(*) FROM protector.notifications WHERE organization_id = '0d140000-0000-4000-8000-000000000000') AS notifications
FROM protector.tasks WHERE organization_id = '0d140000-0000-4000-8000-000000000000';
