-- Staff: invitations that start a membership when a confirmed auth user
-- with that e-mail signs in, role changes within the owner rules,
-- deactivation releasing tasks, bookings and shifts, venues, shifts that
-- never overlap, bookings assigned only to agents on shift, the weekly
-- schedule in local time, activity and performance, and who may do what.
-- Times are built from a fixed local date so that every one is exact;
-- figures are worked out beside them.  Concurrency:
-- test/concurrency/shifts.sh.
BEGIN;
SELECT plan(83);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['s_owner', 's_admin', 's_manager', 's_operator', 's_agent', 's_agent2',
														's_viewer', 's_other']) u;
INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES
	('0a180000-0000-4000-8000-000000000000', 'Shield', 'shield-staff', 'America/New_York', 'USD'),
	('0b180000-0000-4000-8000-000000000000', 'Other', 'staff-other', 'UTC', 'USD');
INSERT INTO protector.members (id, organization_id, user_id, role, full_name)
SELECT ('0a180000-0000-4000-8000-0000000000' || n)::uuid, '0a180000-0000-4000-8000-000000000000',
	   tests.get_supabase_uid('s_' || r), regexp_replace(r, '[0-9]', '')::protector.member_role, initcap(r)
FROM unnest(ARRAY['owner', 'admin', 'manager', 'operator', 'agent', 'agent2', 'viewer'], ARRAY['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7']) u(r, n);
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0b180000-0000-4000-8000-000000000000', tests.get_supabase_uid('s_other'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a180000-0000-4000-8000-0000000000a1', '0a180000-0000-4000-8000-000000000000', 'HQ', 'America/New_York'),
	('0a180000-0000-4000-8000-0000000000a2', '0a180000-0000-4000-8000-000000000000', 'Annex', 'America/New_York'),
	('0b180000-0000-4000-8000-0000000000a1', '0b180000-0000-4000-8000-000000000000', 'Elsewhere', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode)
VALUES ('0a180000-0000-4000-8000-0000000005a1', '0a180000-0000-4000-8000-000000000000', '0a180000-0000-4000-8000-0000000000a1',
		'Escort', '2 hours', '60 minutes', '400 days', 100, 4, 'shared');
-- t(d, h): hour h of the local day d days after the Monday of next week,
-- New York time
CREATE FUNCTION pg_temp.t(d int, h numeric) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT ((date_trunc('week', (now() AT TIME ZONE 'America/New_York')::date + 7))::date + d
			+ make_interval(mins => (h * 60)::int)) AT TIME ZONE 'America/New_York'
$$;
CREATE FUNCTION pg_temp.monday() RETURNS date LANGUAGE sql AS $$
	SELECT date_trunc('week', (now() AT TIME ZONE 'America/New_York')::date + 7)::date
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int, numeric), pg_temp.monday() TO authenticated;

-- 1. invitations
SELECT tests.authenticate_as('s_admin');
SELECT is((SELECT format('%s %s %s', i ->> 'email', i ->> 'role', COALESCE(i ->> 'accepted_at', '<NULL>'))
		   FROM protector.create_staff_member('0a180000-0000-4000-8000-000000000000', ' Nina.New@Example.com ', 'agent', 'Nina') i),
	'Nina.New@Example.com agent <NULL>', 'an admin invites Nina as an agent, before she has an account');
SELECT throws_ok($$SELECT protector.create_staff_member('0a180000-0000-4000-8000-000000000000', 'boss@example.com', 'owner')$$,
	'42501', 'your role may not manage owners', 'only owners invite owners');
SELECT throws_ok($$SELECT protector.create_staff_member('0a180000-0000-4000-8000-000000000000', 'not-an-email', 'agent')$$,
	'22023', 'p_email is not an email address', 'a bad address');
SELECT tests.authenticate_as('s_manager');
SELECT throws_ok($$SELECT protector.create_staff_member('0a180000-0000-4000-8000-000000000000', 'x@example.com')$$,
	'42501', 'your role may not manage members', 'managers do not invite');
-- Nina signs up; her e-mail is not confirmed yet: nothing happens
RESET ROLE;
SELECT tests.create_supabase_user('s_nina', 'nina.new@example.COM');
SELECT tests.authenticate_as('s_nina');
SELECT is(protector.accept_staff_invitations(), '{}'::uuid[], 'an unconfirmed e-mail joins nothing');
RESET ROLE;
UPDATE auth.users SET email_confirmed_at = now() WHERE id = tests.get_supabase_uid('s_nina');
-- Supabase Auth's hook at her next sign-in
SELECT is(protector.auth_access_token_hook(jsonb_build_object('user_id', tests.get_supabase_uid('s_nina'), 'claims', '{}'::jsonb)),
	jsonb_build_object('user_id', tests.get_supabase_uid('s_nina'), 'claims', '{}'::jsonb), 'the hook returns the event unchanged');
SELECT is((SELECT format('%s %s %s', m.role, m.full_name, m.active) FROM protector.members m
		   WHERE m.user_id = tests.get_supabase_uid('s_nina')), 'agent Nina t',
	'and Nina is an agent of Shield (the e-mail compared case-insensitively)');
SELECT isnt((SELECT accepted_at FROM protector.staff_invitations WHERE email_key = 'nina.new@example.com'), NULL,
	'the invitation is accepted');
SELECT is((SELECT created_by FROM protector.staff_activity WHERE action = 'staff.joined'
		   AND member_id = (SELECT id FROM protector.members WHERE user_id = tests.get_supabase_uid('s_nina'))),
	tests.get_supabase_uid('s_nina'), '... and her joining is hers in the activity log (the hook''s session names no user)');
SELECT tests.authenticate_as('s_nina');
SELECT is(protector.accept_staff_invitations(), '{}'::uuid[], 'accepting again joins nothing more');
SELECT tests.authenticate_as('s_other');
SELECT is((SELECT count(*)::int FROM protector.staff_invitations), 0, 'another organization sees no invitations');

-- 2. roles and the last owner
SELECT tests.authenticate_as('s_admin');
SELECT is((SELECT m ->> 'role' FROM protector.update_staff_permissions('0a180000-0000-4000-8000-0000000000e7', 'operator') m),
	'operator', 'an admin makes the viewer an operator');
SELECT throws_ok($$SELECT protector.update_staff_permissions('0a180000-0000-4000-8000-0000000000e7', 'owner')$$, '42501',
	'your role may not manage owners', 'but not an owner');
SELECT throws_ok($$SELECT protector.update_staff_permissions('0a180000-0000-4000-8000-0000000000e1', 'admin')$$, '42501',
	'your role may not manage owners', 'nor demotes the owner');
SELECT tests.authenticate_as('s_owner');
SELECT throws_ok($$SELECT protector.update_staff_permissions('0a180000-0000-4000-8000-0000000000e1', 'admin')$$, '22023',
	'an organization must keep at least one active owner', 'the owner cannot demote themselves: the last owner');
SELECT throws_ok($$SELECT protector.deactivate_staff('0a180000-0000-4000-8000-0000000000e1')$$, '22023',
	'an organization must keep at least one active owner', 'nor deactivate themselves');
-- nor does a trusted writer move the last owner's row to another organization
SELECT tests.clear_authentication();
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a18f000-0000-4000-8000-000000000000', 'Elsewhere', 'staff-elsewhere');
SELECT throws_ok($$UPDATE protector.members SET organization_id = '0a18f000-0000-4000-8000-000000000000'
				   WHERE id = '0a180000-0000-4000-8000-0000000000e1'$$, '22023',
	'an organization must keep at least one active owner', 'the last owner''s row is not moved to another organization');
SELECT tests.authenticate_as('s_owner');
SELECT tests.authenticate_as('s_other');
SELECT throws_ok($$SELECT protector.update_staff_permissions('0a180000-0000-4000-8000-0000000000e7', 'agent')$$, 'P0002',
	'member not found', 'another organization''s owner: not found');

-- 3. venues and shifts
SELECT tests.authenticate_as('s_manager');
SELECT lives_ok($$SELECT protector.assign_staff_to_venue(m, '0a180000-0000-4000-8000-0000000000a1')
				  FROM unnest('{0a180000-0000-4000-8000-0000000000e5,0a180000-0000-4000-8000-0000000000e6}'::uuid[]) m$$,
	'the manager lets both agents work at HQ');
SELECT throws_ok($$SELECT protector.create_staff_schedule('0a180000-0000-4000-8000-0000000000e5',
				   '0a180000-0000-4000-8000-0000000000a2', pg_temp.t(0, 9), pg_temp.t(0, 17))$$, '22023',
	'the member does not work at this venue', 'not at the Annex, where they are not assigned');
SELECT is((SELECT upper((s ->> 'during')::tstzrange) - lower((s ->> 'during')::tstzrange)
		   FROM protector.create_staff_schedule('0a180000-0000-4000-8000-0000000000e5', '0a180000-0000-4000-8000-0000000000a1',
												pg_temp.t(0, 9), pg_temp.t(0, 13)) s),
	interval '4 hours', 'Agent: Monday 9:00-13:00, four hours');
SELECT lives_ok($$SELECT protector.create_staff_schedule('0a180000-0000-4000-8000-0000000000e5', '0a180000-0000-4000-8000-0000000000a1',
				  pg_temp.t(0, 13), pg_temp.t(0, 18))$$, 'and 13:00-18:00 right after: touching is not overlapping');
SELECT throws_ok($$SELECT protector.create_staff_schedule('0a180000-0000-4000-8000-0000000000e5', '0a180000-0000-4000-8000-0000000000a1',
				   pg_temp.t(0, 17), pg_temp.t(0, 20))$$, '23P01', 'the shifts of Agent overlap',
	'17:00-20:00 overlaps 13:00-18:00');
SELECT throws_ok($$SELECT protector.create_staff_schedule('0a180000-0000-4000-8000-0000000000e5', '0a180000-0000-4000-8000-0000000000a1',
				   pg_temp.t(0, 18), pg_temp.t(0, 17))$$, '22023', 'a shift ends after it starts, within 31 days, between the years 2000 and 2200', 'backwards');
SELECT throws_ok($$SELECT protector.create_staff_schedule('0a180000-0000-4000-8000-0000000000e5', '0a180000-0000-4000-8000-0000000000a1',
				   pg_temp.t(0, 18), 'infinity')$$, '22008', 'p_end must be a finite time', 'an infinite end is 22008, as every infinite time (it was 22023)');
SELECT lives_ok($$SELECT protector.create_staff_schedule('0a180000-0000-4000-8000-0000000000e6', '0a180000-0000-4000-8000-0000000000a1',
				  pg_temp.t(0, 9), pg_temp.t(0, 12))$$, 'Agent2: Monday 9:00-12:00 (another member may overlap Agent)');
SELECT tests.authenticate_as('s_operator');
SELECT throws_ok($$SELECT protector.create_staff_schedule('0a180000-0000-4000-8000-0000000000e5', '0a180000-0000-4000-8000-0000000000a1',
				   pg_temp.t(1, 9), pg_temp.t(1, 12))$$, '42501', 'your role may not schedule shifts and assign staff to venues',
	'an operator schedules no shifts');
SELECT is((SELECT count(*)::int FROM protector.staff_shifts), 3, 'but sees all three');
SELECT tests.authenticate_as('s_agent2');
SELECT is((SELECT count(*)::int FROM protector.staff_shifts), 1, 'an agent sees their own');

-- 4. bookings go only to agents on shift
SELECT tests.authenticate_as('s_operator');
-- 12:00-14:00 Monday: within Agent's 9-13 and 13-18, back to back
SELECT is((SELECT b ->> 'assigned_agent' FROM protector.create_booking('0a180000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(0, 12),
		   p_assigned_agent => tests.get_supabase_uid('s_agent')) b), tests.get_supabase_uid('s_agent')::text,
	'12:00-14:00 goes to Agent: two shifts back to back cover it');
SELECT throws_ok($$SELECT protector.create_booking('0a180000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(0, 11),
				   p_assigned_agent => tests.get_supabase_uid('s_agent2'))$$, '23P01', 'Agent2 is not on shift for the whole booking',
	'11:00-13:00 does not go to Agent2, whose shift ends at 12:00');
SELECT throws_ok($$SELECT protector.create_booking('0a180000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(2, 10),
				   p_assigned_agent => tests.get_supabase_uid('s_agent'))$$, '23P01', 'Agent is not on shift for the whole booking',
	'Wednesday: no shift at all');
SELECT lives_ok($$UPDATE protector.bookings SET assigned_agent = NULL$$, 'unassigning needs no shift');
UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('s_agent');
SELECT throws_ok($$UPDATE protector.bookings SET during = tstzrange(pg_temp.t(0, 17), pg_temp.t(0, 19))$$, '23P01',
	'Agent is not on shift for the whole booking', 'moving the booking past the end of the shift (18:00) is refused');
-- the shifts now hold a booking: they cannot leave it uncovered
SELECT tests.authenticate_as('s_manager');
SELECT throws_ok($$DELETE FROM protector.staff_shifts WHERE lower(during) = pg_temp.t(0, 13)$$, '23P01', NULL,
	'deleting the 13:00 shift would leave 13:00-14:00 of the booking without a shift');
SELECT throws_ok($$UPDATE protector.staff_shifts SET during = tstzrange(pg_temp.t(0, 9), pg_temp.t(0, 12.5))
				   WHERE lower(during) = pg_temp.t(0, 9) AND member_id = '0a180000-0000-4000-8000-0000000000e5'$$, '23P01', NULL,
	'shortening 9-13 to 9-12:30 would uncover 12:30-13:00');
SELECT lives_ok($$UPDATE protector.staff_shifts SET during = tstzrange(pg_temp.t(0, 8), pg_temp.t(0, 13))
				  WHERE lower(during) = pg_temp.t(0, 9) AND member_id = '0a180000-0000-4000-8000-0000000000e5'$$,
	'lengthening it to 8:00-13:00 is fine');
RESET ROLE;
UPDATE protector.organizations SET settings = '{"staff": {"require_shifts": false}}' WHERE id = '0a180000-0000-4000-8000-000000000000';
SELECT lives_ok($$UPDATE protector.bookings SET during = tstzrange(pg_temp.t(3, 10), pg_temp.t(3, 12))$$,
	'an organization that turned require_shifts off assigns freely');
UPDATE protector.bookings SET during = tstzrange(pg_temp.t(0, 12), pg_temp.t(0, 14));
UPDATE protector.organizations SET settings = '{}' WHERE id = '0a180000-0000-4000-8000-000000000000';
SELECT throws_ok($$UPDATE protector.organizations SET settings = '{"staff": {"require_shifts": "no"}}'
				   WHERE id = '0a180000-0000-4000-8000-000000000000'$$, '22023', 'settings.staff.require_shifts must be true or false',
	'the setting is a boolean');
-- a lapsed hold of Agent2's on Wednesday, when they have no shift (a
-- lapsed hold holds nothing, so their shift could go), revived by writing
-- its hold_expires_at: checked as a confirmation is (it stayed live with an
-- agent off shift; written as an import, unchecked, as if their shift had
-- gone since the hold lapsed)
SET LOCAL session_replication_role = replica;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, hold_expires_at, assigned_agent)
VALUES ('0a180000-0000-4000-8000-0000000000b9', '0a180000-0000-4000-8000-000000000000', '0a180000-0000-4000-8000-0000000000a1',
		'0a180000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(2, 14), pg_temp.t(2, 16)), 'held', now() - interval '1 minute',
		tests.get_supabase_uid('s_agent2'));
RESET session_replication_role;
SELECT tests.authenticate_as('s_operator');
SELECT throws_ok($$UPDATE protector.bookings SET hold_expires_at = now() + interval '1 day' WHERE id = '0a180000-0000-4000-8000-0000000000b9'$$,
	'23P01', 'Agent2 is not on shift for the whole booking', 'a lapsed hold of an agent off shift is not revived by hand');
RESET ROLE;
DELETE FROM protector.bookings WHERE id = '0a180000-0000-4000-8000-0000000000b9';

-- 5. the week at HQ, in local time
SELECT tests.authenticate_as('s_operator');
SELECT results_eq($$SELECT full_name, local_date - pg_temp.monday(), to_char(local_start, 'HH24:MI'), to_char(local_end, 'HH24:MI'),
						   assigned_bookings, timezone
					FROM protector.get_staff_schedule('0a180000-0000-4000-8000-0000000000a1', pg_temp.monday())$$,
	$$VALUES ('Agent', 0, '08:00', '13:00', 1, 'America/New_York'), ('Agent2', 0, '09:00', '12:00', 0, 'America/New_York'),
			 ('Agent', 0, '13:00', '18:00', 1, 'America/New_York')$$,
	'Monday at HQ: three shifts by start; Agent''s booking 12:00-14:00 runs across both of theirs and counts in each (it counted in none: the agent looked idle)');
SELECT is((SELECT count(*)::int FROM protector.get_staff_schedule('0a180000-0000-4000-8000-0000000000a1', pg_temp.monday() + 7)), 0,
	'the week after: none');

-- 6. deactivation releases what was the member's
SELECT tests.authenticate_as('s_admin');
SELECT is((SELECT format('%s bookings, %s tasks, %s shifts', d ->> 'bookings_released', d ->> 'tasks_released', d ->> 'shifts_removed')
		   FROM protector.deactivate_staff('0a180000-0000-4000-8000-0000000000e5', 'left the company') d),
	'1 bookings, 1 tasks, 2 shifts', 'Agent leaves: the booking and its review task are released, both Monday shifts go');
SELECT is((SELECT count(*)::int FROM protector.bookings WHERE assigned_agent IS NOT NULL), 0, 'nobody is assigned now');
SELECT is((SELECT d ->> 'already_inactive' FROM protector.deactivate_staff('0a180000-0000-4000-8000-0000000000e5') d), 'true',
	'deactivating again is a no-op');
SELECT tests.authenticate_as('s_manager');
SELECT throws_ok($$SELECT protector.create_staff_schedule('0a180000-0000-4000-8000-0000000000e5', '0a180000-0000-4000-8000-0000000000a1',
				   pg_temp.t(4, 9), pg_temp.t(4, 12))$$, '22023', 'shifts are for active members', 'no shifts for a former member');

-- a member leaves a venue only without shifts left there
SELECT tests.authenticate_as('s_manager');
SELECT throws_ok($$DELETE FROM protector.staff_venues WHERE member_id = '0a180000-0000-4000-8000-0000000000e6'$$, '22023',
	'the member still has shifts at this venue', 'Agent2 still has a shift at HQ');
SELECT matches(tests.error_text($$DELETE FROM protector.staff_venues WHERE venue_id = '0a180000-0000-4000-8000-0000000000a1'$$),
	'^22023 \| the member still has shifts at this venue \| Member 0a180000-0000-4000-8000-0000000000e6 \("[^"]*"\) has a shift at venue "HQ" from [0-9-]+ [0-9:]+ local time\. \|',
	'... and a DELETE of the venue''s staff in one statement names whose shift stands in the way');
-- (a member without a name is named by id alone: it printed ("") after it)
RESET ROLE;
UPDATE protector.members SET full_name = NULL WHERE id = '0a180000-0000-4000-8000-0000000000e6';
SELECT tests.authenticate_as('s_manager');
SELECT matches(tests.error_text($$DELETE FROM protector.staff_venues WHERE venue_id = '0a180000-0000-4000-8000-0000000000a1'$$),
	'^22023 \| the member still has shifts at this venue \| Member 0a180000-0000-4000-8000-0000000000e6 has a shift at venue "HQ" from [0-9-]+ [0-9:]+ local time\. \|',
	'... a member without a name by their id alone');
RESET ROLE;
UPDATE protector.members SET full_name = 'Agent2' WHERE id = '0a180000-0000-4000-8000-0000000000e6';

-- 6b. what review found
-- an invitation never re-admits a deactivated member, nor can it be edited
SELECT tests.authenticate_as('s_admin');
SELECT lives_ok($$SELECT protector.create_staff_member('0a180000-0000-4000-8000-000000000000', 's_agent@test.invalid', 'admin')$$,
	'an admin invites the departed agent''s address as an admin');
UPDATE protector.staff_invitations SET expires_at = 'infinity', email_key = 'evil@test.invalid';
SELECT is((SELECT count(*)::int FROM protector.staff_invitations WHERE expires_at = 'infinity' OR email_key = 'evil@test.invalid'), 0,
	'invitations cannot be edited (no expiry forever, no other address)');
RESET ROLE;
UPDATE auth.users SET email_confirmed_at = now() WHERE id = tests.get_supabase_uid('s_agent');
SELECT tests.authenticate_as('s_agent');
SELECT is(protector.accept_staff_invitations(), '{}'::uuid[], 'the deactivated agent accepts nothing');
RESET ROLE;
SELECT is((SELECT format('%s %s', role, active) FROM protector.members WHERE id = '0a180000-0000-4000-8000-0000000000e5'),
	'agent f', 'and stays an inactive agent');
-- a deactivated member is assigned nothing, even on a shift of theirs
SET LOCAL session_replication_role = replica;
INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during)
VALUES ('0a180000-0000-4000-8000-000000000000', '0a180000-0000-4000-8000-0000000000e5', '0a180000-0000-4000-8000-0000000000a1',
		tstzrange(pg_temp.t(5, 8), pg_temp.t(5, 20)));
SET LOCAL session_replication_role = origin;
SELECT throws_ok($$SELECT protector.create_booking('0a180000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(5, 10),
				   p_assigned_agent => tests.get_supabase_uid('s_agent'))$$, '23P01', 'Agent is no active member',
	'no booking goes to a deactivated member');
-- the hook's path without a user is the hook's only
SELECT tests.authenticate_as('s_operator');
SELECT set_config('request.jwt.claims', '{"role": "authenticated"}', true);
SELECT is((SELECT count(*)::int FROM protector_internal.activate_invitations(tests.get_supabase_uid('s_agent2'))), 0,
	'a request without a user activates nobody''s invitations');
RESET ROLE;
SELECT tests.authenticate_as('s_operator');

-- 7. activity and performance
SELECT tests.authenticate_as('s_operator');
SELECT isnt(protector.log_staff_activity('0a180000-0000-4000-8000-000000000000', 'desk.check_in', '{"door": "north"}'), NULL,
	'an operator logs a check-in');
SELECT throws_ok($$SELECT protector.log_staff_activity('0a180000-0000-4000-8000-000000000000', 'Check In!')$$, '22023',
	'p_action must be a lower-case name like "desk.check_in"', 'action names are checked');
SELECT throws_ok($$INSERT INTO protector.staff_activity (organization_id, member_id, action)
				   SELECT organization_id, id, 'Desk.Check_In' FROM protector.members WHERE user_id = protector.current_user_id() LIMIT 1$$,
	'22023', 'action must be a lower-case name like "desk.check_in"', '... in words for an entry written directly too (it met the bare CHECK)');
SELECT throws_ok($$SELECT protector.log_staff_activity('0a180000-0000-4000-8000-000000000000', 'staff.role_changed')$$, '22023',
	'actions named staff.* are protector''s own entries', 'nobody writes protector''s own entries');
SELECT throws_ok($$INSERT INTO protector.staff_activity (organization_id, member_id, action)
				   VALUES ('0a180000-0000-4000-8000-000000000000', '0a180000-0000-4000-8000-0000000000e4', 'staff.deactivated')$$,
	'42501', NULL, 'not by a direct insert either');
SELECT throws_ok($$INSERT INTO protector.staff_activity (organization_id, member_id, action, occurred_at)
				   VALUES ('0a180000-0000-4000-8000-000000000000', '0a180000-0000-4000-8000-0000000000e4', 'desk.check_in', '2000-01-01')$$,
	'42501', NULL, 'nor is an entry backdated');
-- protector's own entries are written by the RPCs that manage members, for
-- those who may (review: a request with no user in its JWT wrote them into
-- any organization)
SELECT throws_ok($$SELECT protector_internal.record_staff_activity('0a180000-0000-4000-8000-000000000000', 'staff.deactivated', '{}')$$,
	'42501', 'your role may not manage members', 'an operator cannot write protector''s own entries through their helper');
SELECT set_config('request.jwt.claims', '{"role": "authenticated"}', true);
SELECT throws_ok($$SELECT protector_internal.record_staff_activity('0a180000-0000-4000-8000-000000000000', 'staff.deactivated', '{}')$$,
	'P0002', 'organization not found', '... nor can a request without a user');
SELECT tests.authenticate_as('s_operator');
SELECT is((SELECT string_agg(action, ', ' ORDER BY id) FROM protector.staff_activity), 'desk.check_in', 'and sees their own only');
SELECT tests.authenticate_as('s_owner');
SELECT is((SELECT string_agg(action, ', ' ORDER BY id) FROM protector.staff_activity),
	'staff.invited, staff.joined, staff.role_changed, staff.deactivated, staff.invited, desk.check_in',
	'the owner reads the whole log, protector''s own entries included');
SELECT tests.authenticate_as('s_operator');
SELECT throws_ok($$SELECT * FROM protector.get_staff_performance('0a180000-0000-4000-8000-000000000000', current_date, current_date)$$,
	'42501', 'your role may not see staff performance', 'performance is for managers');
-- Agent2 completes a booking of 2 hours worth 100 paid, and its task
RESET ROLE;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent, total_price, currency)
VALUES ('0a180000-0000-4000-8000-00000000b002', '0a180000-0000-4000-8000-000000000000', '0a180000-0000-4000-8000-0000000000a1',
		'0a180000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(0, 9), pg_temp.t(0, 11)), 'completed',
		tests.get_supabase_uid('s_agent2'), 100, 'USD');
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status, provider, provider_reference)
VALUES ('0a180000-0000-4000-8000-000000000000', '0a180000-0000-4000-8000-00000000b002', 100, 'USD', 'succeeded', 'cash', 'r1');
SELECT tests.authenticate_as('s_manager');
SELECT results_eq($$SELECT full_name, bookings_handled, revenue, currency FROM protector.get_staff_performance(
						'0a180000-0000-4000-8000-000000000000', pg_temp.monday(), pg_temp.monday() + 6) WHERE full_name LIKE 'Agent%'$$,
	$$VALUES ('Agent2', 1, 100.00::numeric, 'USD')$$, 'Agent2 handled one booking worth 100 (Agent has left: active members only)');

-- 9. what a later review found
-- an admin cannot replace an owner's open invitation, which she does not see
SELECT tests.authenticate_as('s_owner');
SELECT lives_ok($$SELECT protector.create_staff_member('0a180000-0000-4000-8000-000000000000', 'boss@example.com', 'owner')$$,
	'the owner invites a co-owner');
SELECT tests.authenticate_as('s_admin');
SELECT throws_ok($$SELECT protector.create_staff_member('0a180000-0000-4000-8000-000000000000', 'Boss@Example.com', 'viewer')$$,
	'23P01', 'this address has an open invitation you may not replace', 'an admin re-inviting that address is told why, not 23505');
-- a direct insert names no expiry or acceptance of its own
INSERT INTO protector.staff_invitations (organization_id, email, role, expires_at, accepted_at, member_id)
VALUES ('0a180000-0000-4000-8000-000000000000', 'forever@example.com', 'admin', 'infinity', now(),
		'0a180000-0000-4000-8000-0000000000e6');
SELECT is((SELECT format('%s %s %s', expires_at = now() + interval '14 days', accepted_at IS NULL, member_id IS NULL)
		   FROM protector.staff_invitations WHERE email_key = 'forever@example.com'),
	't t t', 'an inserted invitation is open for 14 days, not forever, and not accepted');
-- a deactivated member is assigned nothing where shifts are not required either
RESET ROLE;
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, total_price, currency)
VALUES ('0a180000-0000-4000-8000-00000000b003', '0a180000-0000-4000-8000-000000000000', '0a180000-0000-4000-8000-0000000000a1',
		'0a180000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(2, 10), pg_temp.t(2, 12)), 'confirmed', 0, 'USD');
UPDATE protector.organizations SET settings = '{"staff": {"require_shifts": false}}' WHERE id = '0a180000-0000-4000-8000-000000000000';
SELECT tests.authenticate_as('s_operator');
SELECT throws_ok(format($$UPDATE protector.bookings SET assigned_agent = %L WHERE id = '0a180000-0000-4000-8000-00000000b003'$$,
						tests.get_supabase_uid('s_agent')),
	'23P01', 'Agent is no active member', 'the departed Agent is not assigned, shifts required or not');
RESET ROLE;
UPDATE protector.organizations SET settings = '{}' WHERE id = '0a180000-0000-4000-8000-000000000000';
-- Agent2 leaves in the middle of a shift (now - 4 h to now + 4 h) in which
-- a booking of theirs ended an hour ago, still marked confirmed: the shift
-- ends now (still covering that booking), next Monday's shift goes
SET LOCAL session_replication_role = replica;
INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during)
VALUES ('0a180000-0000-4000-8000-000000000000', '0a180000-0000-4000-8000-0000000000e6', '0a180000-0000-4000-8000-0000000000a1',
		tstzrange(now() - interval '4 hours', now() + interval '4 hours'));
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent, total_price, currency)
VALUES ('0a180000-0000-4000-8000-00000000b004', '0a180000-0000-4000-8000-000000000000', '0a180000-0000-4000-8000-0000000000a1',
		'0a180000-0000-4000-8000-0000000005a1', tstzrange(now() - interval '3 hours', now() - interval '1 hour'), 'confirmed',
		tests.get_supabase_uid('s_agent2'), 0, 'USD');
SET LOCAL session_replication_role = origin;
SELECT tests.authenticate_as('s_admin');
SELECT is((SELECT format('%s bookings, %s shifts removed, %s ended', d ->> 'bookings_released', d ->> 'shifts_removed',
						 d ->> 'shifts_ended')
		   FROM protector.deactivate_staff('0a180000-0000-4000-8000-0000000000e6', 'left mid-shift') d),
	'0 bookings, 1 shifts removed, 1 ended', 'Agent2 is deactivated in the middle of a shift');
RESET ROLE;
SELECT is((SELECT format('%s %s', upper(s.during) = now(), b.assigned_agent = tests.get_supabase_uid('s_agent2'))
		   FROM protector.staff_shifts s, protector.bookings b
		   WHERE s.member_id = '0a180000-0000-4000-8000-0000000000e6' AND lower(s.during) = now() - interval '4 hours'
			 AND b.id = '0a180000-0000-4000-8000-00000000b004'),
	't t', 'the shift ends now and still covers the ended booking, which stays Agent2''s');

-- 8. schema
-- an invitation is for its mailbox: the database's lower() folds the
-- Kelvin sign to a k and a dotted capital I to an i, but those are other
-- addresses (they took the invitations, as admins)
SELECT tests.clear_authentication();
SELECT tests.authenticate_as('s_admin');
SELECT protector.create_staff_member('0a180000-0000-4000-8000-000000000000', 'kim@example.com', 'admin', 'Kim') \g /dev/null
SELECT protector.create_staff_member('0a180000-0000-4000-8000-000000000000', 'bill@example.com', 'admin', 'Bill') \g /dev/null
RESET ROLE;
SELECT tests.create_supabase_user('s_kelvin', U&'\212Aim@example.com') \g /dev/null
SELECT tests.create_supabase_user('s_idot', U&'b\0130ll@example.com') \g /dev/null
UPDATE auth.users SET email_confirmed_at = now() WHERE id IN (tests.get_supabase_uid('s_kelvin'), tests.get_supabase_uid('s_idot'));
SELECT tests.authenticate_as('s_kelvin');
SELECT is(protector.accept_staff_invitations(), '{}'::uuid[], 'a mailbox spelled with the Kelvin sign does not take kim@''s invitation');
SELECT tests.authenticate_as('s_idot');
SELECT is(protector.accept_staff_invitations(), '{}'::uuid[], '... nor one with a dotted capital I bill@''s');
-- a member who joined by an invitation can be deleted (the invitation's
-- key to them went to NULL against its own CHECK), and so can their account
RESET ROLE;
SELECT tests.create_supabase_user('s_kim', 'Kim@Example.com') \g /dev/null
UPDATE auth.users SET email_confirmed_at = now() WHERE id = tests.get_supabase_uid('s_kim');
SELECT tests.authenticate_as('s_kim');
SELECT is(cardinality(protector.accept_staff_invitations()), 1, 'Kim, of her own mailbox, joins');
SELECT tests.authenticate_as('s_admin');
SELECT protector.deactivate_staff(m.id) FROM protector.members m WHERE m.user_id = tests.get_supabase_uid('s_kim') \g /dev/null
UPDATE protector.members SET active = true WHERE user_id = tests.get_supabase_uid('s_kim');
SELECT is((SELECT array_agg(a.action ORDER BY a.id) FROM protector.staff_activity a
		   WHERE a.details ->> 'member_id' = (SELECT m.id::text FROM protector.members m WHERE m.user_id = tests.get_supabase_uid('s_kim'))),
	'{staff.deactivated,staff.reactivated}', 'her staff log: deactivated, and re-admitted (which it left out)');
SELECT lives_ok($$DELETE FROM protector.members WHERE user_id = tests.get_supabase_uid('s_kim')$$, 'an admin deletes the member Kim');
SELECT is((SELECT format('%s %s', accepted_at IS NOT NULL, member_id IS NULL) FROM protector.staff_invitations WHERE email_key = 'kim@example.com'),
	't t', 'her invitation stays, accepted, keyed to nobody');
RESET ROLE;
SELECT tests.create_supabase_user('s_bill', 'bill@example.com') \g /dev/null
UPDATE auth.users SET email_confirmed_at = now() WHERE id = tests.get_supabase_uid('s_bill');
SELECT tests.authenticate_as('s_bill');
SELECT is(cardinality(protector.accept_staff_invitations()), 1, 'Bill joins');
SELECT tests.clear_authentication();
SELECT lives_ok($$DELETE FROM auth.users WHERE id = tests.get_supabase_uid('s_bill')$$, 'and his account is deleted, membership and all');

SELECT col_is_fk('protector', 'staff_shifts', ARRAY['organization_id', 'member_id'], 'a shift is a member''s');
SELECT has_index('protector', 'staff_shifts', 'staff_shifts_during_idx', 'the overlap probe''s GiST index');

SELECT * FROM finish();
ROLLBACK;
