-- test/ops/replica_reads.sql: every read RPC, as the role that calls it,
-- one line each: name, rows, md5 of the rows.  test/ops/replica.sh runs
-- it on a primary and on its hot standby; the lines must be equal.
\set ON_ERROR_STOP off
\pset tuples_only on
\pset format unaligned
\pset fieldsep ' '
SELECT id AS org FROM protector.organizations WHERE slug = 'lockbox' \gset
SELECT id AS venue, embed_key AS key FROM protector.venues ORDER BY id LIMIT 1 \gset
SELECT id AS cust FROM protector.customers WHERE email = 'jonas@example.com' \gset
SELECT id AS booking FROM protector.bookings WHERE idempotency_key = 'fixture/3' \gset
SELECT id AS submission FROM protector.waiver_submissions ORDER BY id LIMIT 1 \gset
\set svc '0c000000-0000-4000-8000-0000000005a1'
-- the owner, as PostgREST runs a GET
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-00000000aa01", "role": "authenticated"}', true) IS NULL;
SELECT 'calculate_customer_ltv', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.calculate_customer_ltv(:'cust')) x;
SELECT 'export_bookings', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.export_bookings(:'org', current_date - 30, current_date + 30, NULL)) x;
SELECT 'export_waivers', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.export_waivers(:'org', current_date - 30, current_date + 30)) x;
SELECT 'find_duplicate_customers', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.find_duplicate_customers(:'org') x;
SELECT 'generate_booking_report', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.generate_booking_report(:'org', current_date - 30, current_date + 30, NULL)) x;
SELECT 'generate_customer_report', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.generate_customer_report(:'org', current_date - 30, current_date + 30)) x;
SELECT 'generate_revenue_report', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.generate_revenue_report(:'org', current_date - 30, current_date + 30, NULL, 'day')) x;
SELECT 'generate_staff_report', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.generate_staff_report(:'org', current_date - 30, current_date + 30)) x;
SELECT 'get_audit_logs', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_audit_logs(NULL, NULL, NULL, 20, :'org') x;
SELECT 'get_available_slots', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_available_slots(:'svc', current_date + 2, current_date + 9, true) x;
SELECT 'get_booking_messages', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_booking_messages(:'booking', 10) x;
SELECT 'get_customer_rfm_score', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.get_customer_rfm_score(:'cust')) x;
SELECT 'get_customer_rfm_scores', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_customer_rfm_scores(:'org') x;
SELECT 'get_customer_segments', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_customer_segments(:'org') x;
SELECT 'get_dashboard_stats', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.get_dashboard_stats(:'org', NULL)) x;
SELECT 'get_recent_booking_activity', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_recent_booking_activity(:'org', 10) x;
SELECT 'get_staff_performance', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_staff_performance(:'org', current_date - 30, current_date + 30) x;
SELECT 'get_staff_schedule', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_staff_schedule(:'venue', current_date) x;
SELECT 'get_todays_bookings_by_hour', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_todays_bookings_by_hour(:'org', NULL, current_date + 3) x;
SELECT 'get_upcoming_bookings', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_upcoming_bookings(:'org', NULL, 10) x;
SELECT 'get_venue_analytics', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.get_venue_analytics(:'venue', current_date - 30, current_date + 30)) x;
SELECT 'get_venue_schedule', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_venue_schedule(:'venue', current_date, current_date + 7) x;
SELECT 'get_waiver_submissions', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_waiver_submissions(:'org', NULL) x;
SELECT 'get_weekly_bookings_trend', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_weekly_bookings_trend(:'org', NULL, 8) x;
SELECT 'is_venue_open', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.is_venue_open(:'venue', date_trunc('day', now()) + interval '3 days 10 hours')) x;
SELECT 'validate_slot', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.validate_slot(:'svc', date_trunc('day', now()) + interval '10 days 11 hours', 2)) x;
SELECT 'verify_waiver_signature', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.verify_waiver_signature(:'submission')) x;
SELECT 'bookings', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.bookings x;
SELECT 'tasks', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.tasks x;
SELECT 'notifications', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.notifications x;
COMMIT;
-- a visitor of the widget
BEGIN;
SET LOCAL ROLE anon;
SELECT 'get_venue_by_embed_key', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.get_venue_by_embed_key(:'key')) x;
SELECT 'get_venue_services', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM (SELECT protector.get_venue_services(:'key')) x;
SELECT 'get_widget_slots', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM protector.get_widget_slots(:'key', :'svc', current_date + 2, current_date + 9) x;
COMMIT;
