-- What two reads read, counted in rows (not time), as an attack review found
-- them: get_staff_schedule counted each shift's bookings through the
-- agent's index, which has no time, so every shift of the week read the
-- agent's whole history; get_dashboard_stats counted a venue's services
-- once per opening range (16 a day: every service about 1,000 times for
-- 30 days) instead of once per venue. (The thirty-fourth stop) counting
-- each shift's bookings over the 31 days before it, to count those that
-- began in an earlier shift, read the organization's month once per
-- shift: it is read once per call now; and the staff report read the
-- range's bookings once per member.
BEGIN;
SELECT plan(7);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['rc_owner', 'rc_agent']) u;
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('0a400000-0000-4000-8000-000000000000', 'R', 'read-costs', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (id, organization_id, user_id, role) VALUES
	('0a400000-0000-4000-8000-00000000ee01', '0a400000-0000-4000-8000-000000000000', tests.get_supabase_uid('rc_owner'), 'owner'),
	('0a400000-0000-4000-8000-00000000ee02', '0a400000-0000-4000-8000-000000000000', tests.get_supabase_uid('rc_agent'), 'agent');
-- open 16 half-hour ranges a day, every day
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0a400000-0000-4000-8000-0000000000a1', '0a400000-0000-4000-8000-000000000000', 'V', 'UTC',
		(SELECT jsonb_object_agg(d, (SELECT jsonb_agg(jsonb_build_array(lpad(h::text, 2, '0') || ':00', lpad(h::text, 2, '0') || ':30'))
									 FROM generate_series(6, 21) h))
		 FROM unnest('{mon,tue,wed,thu,fri,sat,sun}'::text[]) d));
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
VALUES ('0a400000-0000-4000-8000-000000000000', '0a400000-0000-4000-8000-00000000ee02', '0a400000-0000-4000-8000-0000000000a1');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, mode, capacity)
SELECT ('0a400000-0000-4000-8000-0000000005' || lpad(k::text, 2, '0'))::uuid, '0a400000-0000-4000-8000-000000000000',
	   '0a400000-0000-4000-8000-0000000000a1', 'S' || k, '30 minutes', '30 minutes', 'shared', 100000
FROM generate_series(1, 20) k;
-- 14 one-hour shifts next week; 20,000 of the agent's bookings two and a half years ago
INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during)
SELECT '0a400000-0000-4000-8000-000000000000', '0a400000-0000-4000-8000-00000000ee02', '0a400000-0000-4000-8000-0000000000a1',
	   tstzrange(date_trunc('week', now()) + interval '7 days 6 hours' + d * interval '1 day' + h * interval '1 hour',
				 date_trunc('week', now()) + interval '7 days 7 hours' + d * interval '1 day' + h * interval '1 hour')
FROM generate_series(0, 6) d, generate_series(0, 1) h;
SET LOCAL session_replication_role = replica;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, currency, assigned_agent)
SELECT '0a400000-0000-4000-8000-000000000000', '0a400000-0000-4000-8000-0000000000a1', '0a400000-0000-4000-8000-000000000501',
	   tstzrange(t, t + interval '30 minutes'), 'completed', 'USD', tests.get_supabase_uid('rc_agent')
FROM generate_series(0, 19999) k, LATERAL (SELECT now() - interval '900 days' + k * interval '1 hour' AS t) x;
SET LOCAL session_replication_role = origin;
ANALYZE protector.bookings;

-- the scans of a table and of its indexes begun (index-only scans fetch no row)
CREATE FUNCTION pg_temp.scans(t regclass) RETURNS bigint LANGUAGE sql AS $$
	SELECT pg_stat_get_xact_numscans(t) + (SELECT coalesce(sum(pg_stat_get_xact_numscans(i.indexrelid)), 0)::bigint
										   FROM pg_index i WHERE i.indrelid = t)
$$;
GRANT EXECUTE ON FUNCTION pg_temp.scans(regclass) TO authenticated;
CREATE TEMP TABLE counts (what text, n bigint);
GRANT ALL ON counts TO authenticated;

SELECT tests.authenticate_as('rc_owner');
INSERT INTO counts SELECT 'bookings before', tests.rows_read('protector.bookings');
INSERT INTO counts SELECT 'shifts', count(*) FROM protector.get_staff_schedule('0a400000-0000-4000-8000-0000000000a1',
	(date_trunc('week', now()) + interval '7 days')::date);
INSERT INTO counts SELECT 'bookings after', tests.rows_read('protector.bookings');
INSERT INTO counts SELECT 'services before', pg_temp.scans('protector.services');
SELECT protector.get_dashboard_stats('0a400000-0000-4000-8000-000000000000') IS NOT NULL AS dashboard;
INSERT INTO counts SELECT 'services after', pg_temp.scans('protector.services');
SELECT tests.clear_authentication();

SELECT is((SELECT n FROM counts WHERE what = 'shifts'), 14::bigint, 'the week''s 14 shifts are listed');
SELECT cmp_ok((SELECT n FROM counts WHERE what = 'bookings after') - (SELECT n FROM counts WHERE what = 'bookings before'),
	'<', 200::bigint,
	'counting their bookings reads fewer than 200 booking rows, not the agent''s 20,000 past ones for each (280,000)');
SELECT cmp_ok((SELECT n FROM counts WHERE what = 'services after') - (SELECT n FROM counts WHERE what = 'services before'),
	'<', 100::bigint,
	'the dashboard scans the venue''s services a few times, not once per opening range (2 periods x 30 days x 16 ranges = 960 and more)');
SELECT tests.authenticate_as('rc_owner');
SELECT ok((SELECT count(*) FROM protector.get_dashboard_stats('0a400000-0000-4000-8000-000000000000')) > 0, 'the dashboard answers');
SELECT tests.clear_authentication();

-- 2,000 cancelled bookings of the agent in the four weeks before next
-- week, and one booking running across two of its shifts back to back
SET LOCAL session_replication_role = replica;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, currency, assigned_agent)
SELECT '0a400000-0000-4000-8000-000000000000', '0a400000-0000-4000-8000-0000000000a1', '0a400000-0000-4000-8000-000000000502',
	   tstzrange(t, t + interval '30 minutes'), 'cancelled', 'USD', tests.get_supabase_uid('rc_agent')
FROM generate_series(0, 1999) k, LATERAL (SELECT date_trunc('week', now()) - interval '21 days' + k * interval '15 minutes' AS t) x;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status, currency, assigned_agent)
VALUES ('0a400000-0000-4000-8000-000000000000', '0a400000-0000-4000-8000-0000000000a1', '0a400000-0000-4000-8000-000000000503',
		tstzrange(date_trunc('week', now()) + interval '7 days 6 hours 30 minutes', date_trunc('week', now()) + interval '7 days 7 hours 30 minutes'),
		'confirmed', 'USD', tests.get_supabase_uid('rc_agent'));
SET LOCAL session_replication_role = origin;
ANALYZE protector.bookings;
SELECT tests.authenticate_as('rc_owner');
INSERT INTO counts SELECT 'recent before', tests.rows_read('protector.bookings');
INSERT INTO counts SELECT 'monday', sum(assigned_bookings) FROM protector.get_staff_schedule('0a400000-0000-4000-8000-0000000000a1',
	(date_trunc('week', now()) + interval '7 days')::date) WHERE local_date = (date_trunc('week', now()) + interval '7 days')::date;
INSERT INTO counts SELECT 'recent after', tests.rows_read('protector.bookings');
SELECT tests.clear_authentication();
SELECT is((SELECT n FROM counts WHERE what = 'monday'), 2::bigint,
	'Monday''s two back-to-back shifts each count the booking across them');
SELECT cmp_ok((SELECT n FROM counts WHERE what = 'recent after') - (SELECT n FROM counts WHERE what = 'recent before'),
	'<', 5000::bigint,
	'... reading the 2,000 recent bookings once, not once per shift (14 x 2,000 = 28,000)');

-- 20 more members: the staff report reads the range's bookings once
SELECT count(tests.create_supabase_user('rc_staff' || n)) FROM generate_series(1, 20) n \gset
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a400000-0000-4000-8000-000000000000', tests.get_supabase_uid('rc_staff' || n), 'operator' FROM generate_series(1, 20) n;
SELECT tests.authenticate_as('rc_owner');
INSERT INTO counts SELECT 'staff before', tests.rows_read('protector.bookings');
INSERT INTO counts SELECT 'staff rows', count(*) FROM protector.generate_staff_report('0a400000-0000-4000-8000-000000000000',
	(date_trunc('week', now()) - interval '28 days')::date, (date_trunc('week', now()) + interval '13 days')::date);
INSERT INTO counts SELECT 'staff after', tests.rows_read('protector.bookings');
SELECT tests.clear_authentication();
SELECT cmp_ok((SELECT n FROM counts WHERE what = 'staff after') - (SELECT n FROM counts WHERE what = 'staff before'),
	'<', 6000::bigint,
	'the staff report of 22 members reads the range''s 2,001 bookings once, not once per member (22 x 2,001 = 44,022)');
SELECT * FROM finish();
ROLLBACK;
