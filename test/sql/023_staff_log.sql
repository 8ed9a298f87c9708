-- protector's own staff.* entries of the staff activity log
-- (record_staff_activity, which those who manage members may execute)
-- record only a change the calling RPC made in the same transaction: an
-- admin calling the helper to name a change that never happened is
-- refused (a review: the entry was written).  pg_regress, not pgTAP: the
-- members must be committed before, in transactions of their own.
\set VERBOSITY terse
\set SHOW_CONTEXT never

INSERT INTO protector.organizations (id, name, slug) VALUES
	('0d230000-0000-4000-8000-000000000000', 'Staff log', 'staff-log');
INSERT INTO protector.members (id, organization_id, user_id, role) VALUES
	('0d230000-0000-4000-8000-0000000000e1', '0d230000-0000-4000-8000-000000000000',
	 '0d230000-0000-4000-8000-0000000000a1', 'admin'),
	('0d230000-0000-4000-8000-0000000000e2', '0d230000-0000-4000-8000-000000000000',
	 '0d230000-0000-4000-8000-0000000000a2', 'operator');
-- the rest of the transaction as the admin, through PostgREST
CREATE FUNCTION pg_temp.as_admin() RETURNS boolean LANGUAGE sql AS $$
	SELECT (set_config('role', 'authenticated', true) ||
			set_config('request.jwt.claims', '{"sub": "0d230000-0000-4000-8000-0000000000a1", "role": "authenticated"}', true))
		   IS NOT NULL
$$;

-- a role change that never happened
BEGIN;
SELECT pg_temp.as_admin() AS as_admin;
SELECT protector_internal.record_staff_activity('0d230000-0000-4000-8000-000000000000', 'staff.role_changed',
	'{"member_id": "0d230000-0000-4000-8000-0000000000e2", "from": "owner", "to": "operator"}');
ROLLBACK;
-- a deactivation of an active member, an invitation that does not exist,
-- an action of protector's it does not write
BEGIN;
SELECT pg_temp.as_admin() AS as_admin;
SELECT protector_internal.record_staff_activity('0d230000-0000-4000-8000-000000000000', 'staff.deactivated',
	'{"member_id": "0d230000-0000-4000-8000-0000000000e2"}');
ROLLBACK;
BEGIN;
SELECT pg_temp.as_admin() AS as_admin;
SELECT protector_internal.record_staff_activity('0d230000-0000-4000-8000-000000000000', 'staff.invited',
	'{"invitation_id": "0d230000-0000-4000-8000-0000000000f1", "role": "owner"}');
ROLLBACK;
BEGIN;
SELECT pg_temp.as_admin() AS as_admin;
SELECT protector_internal.record_staff_activity('0d230000-0000-4000-8000-000000000000', 'staff.joined', '{}');
ROLLBACK;

-- the change made by its RPC: its entry is written
BEGIN;
SELECT pg_temp.as_admin() AS as_admin;
SELECT m ->> 'role' AS new_role
FROM protector.update_staff_permissions('0d230000-0000-4000-8000-0000000000e2', 'manager') m;
COMMIT;
-- ... and named again in a later transaction, it is a change not made there
BEGIN;
SELECT pg_temp.as_admin() AS as_admin;
SELECT protector_internal.record_staff_activity('0d230000-0000-4000-8000-000000000000', 'staff.role_changed',
	'{"member_id": "0d230000-0000-4000-8000-0000000000e2", "from": "operator", "to": "manager"}');
ROLLBACK;
-- the change made, but the entry says another: refused
BEGIN;
SELECT pg_temp.as_admin() AS as_admin;
SELECT m ->> 'role' AS new_role
FROM protector.update_staff_permissions('0d230000-0000-4000-8000-0000000000e2', 'agent') m;
SELECT protector_internal.record_staff_activity('0d230000-0000-4000-8000-000000000000', 'staff.role_changed',
	'{"member_id": "0d230000-0000-4000-8000-0000000000e2", "from": "agent", "to": "owner"}');
ROLLBACK;

-- the admin demotes themselves, which the RPC allows: the entry is
-- written though they manage no members once the change is made (the
-- RPC's permit for the row, taken before it, says they did; it was
-- refused, and the demotion with it)
BEGIN;
SELECT pg_temp.as_admin() AS as_admin;
SELECT m ->> 'role' AS new_role
FROM protector.update_staff_permissions('0d230000-0000-4000-8000-0000000000e1', 'viewer') m;
COMMIT;

-- the log: the two changes made and committed (by_role: the author's role now)
SELECT a.action, a.details ->> 'from' AS from_role, a.details ->> 'to' AS to_role, m.role AS by_role
FROM protector.staff_activity a JOIN protector.members m ON m.id = a.member_id
WHERE a.organization_id = '0d230000-0000-4000-8000-000000000000'
ORDER BY a.occurred_at;
