-- Settings written before 0.2.0 checked them (free JSON in 0.1.0) keep
-- what they have, and the code reading them skips what is not a number
-- (docs/settings.md): a string where a number belongs is the default, a
-- number out of range is held to the range.  They broke every booking
-- with a customer (reminder offsets) and every cancellation (refund
-- policy) of an upgraded organization: 22P02.
BEGIN;
SELECT plan(19);

INSERT INTO protector.organizations (id, name, slug, currency) VALUES ('0a340000-0000-4000-8000-000000000000', 'Legacy', 'legacy', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a340000-0000-4000-8000-0000000000a1', '0a340000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, mode, price)
VALUES ('0a340000-0000-4000-8000-0000000005a1', '0a340000-0000-4000-8000-000000000000', '0a340000-0000-4000-8000-0000000000a1',
		'Room', '60 minutes', '60 minutes', '400 days', 10, 4, 'shared', 40);
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a340000-0000-4000-8000-00000000c001', '0a340000-0000-4000-8000-000000000000', 'Ann', 'ann@example.com');
-- as 0.1.0 let them be written (a restore does the same: no trigger fires)
SET LOCAL session_replication_role = replica;
UPDATE protector.organizations SET settings = '{"reminders": {"offsets_minutes": ["1 day", 120, 120, 1e12], "max_attempts": "3"}}'
WHERE id = '0a340000-0000-4000-8000-000000000000';
UPDATE protector.services SET settings = '{"refund_policy": {"full_refund_hours": "48h", "late_refund_percent": "half"}}'
WHERE id = '0a340000-0000-4000-8000-0000000005a1';
RESET session_replication_role;

SELECT is(protector_internal.reminder_offsets('0a340000-0000-4000-8000-000000000000'), '{120,43200}'::integer[],
	'offsets: the string is skipped, 120 taken once, 1e12 held to 30 days (43200 minutes)');
SELECT is(protector_internal.reminder_max_attempts('0a340000-0000-4000-8000-000000000000'), 5, 'max_attempts "3" is the default 5');
-- 10 and 30 hours from now, paid 40 each
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, total_price)
SELECT ('0a340000-0000-4000-8000-00000000b00' || h)::uuid, '0a340000-0000-4000-8000-000000000000',
	   '0a340000-0000-4000-8000-0000000000a1', '0a340000-0000-4000-8000-0000000005a1', '0a340000-0000-4000-8000-00000000c001',
	   tstzrange(date_trunc('hour', now()) + h * interval '10 hours', date_trunc('hour', now()) + h * interval '10 hours' + interval '1 hour'),
	   'confirmed', 40
FROM (VALUES (1), (3)) v(h);
SELECT is((SELECT count(*)::int FROM protector.bookings WHERE organization_id = '0a340000-0000-4000-8000-000000000000'), 2,
	'bookings with a customer are made (their reminders follow the offsets above)');
SELECT is((SELECT count(*)::int FROM protector.booking_reminders WHERE booking_id = '0a340000-0000-4000-8000-00000000b003'), 1,
	'the booking in 30 hours gets the 2-hour reminder only (30 days before has passed)');
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status)
SELECT organization_id, id, 40, 'EUR', 'succeeded' FROM protector.bookings WHERE organization_id = '0a340000-0000-4000-8000-000000000000';
-- full refund 24 hours ahead (the default for "48h"), 0% later (for "half")
SELECT is(protector.cancel_booking('0a340000-0000-4000-8000-00000000b003') ->> 'refund_percent', '100.00',
	'cancelled 30 hours ahead: full refund (full_refund_hours "48h" is the default 24)');
SELECT is(protector.cancel_booking('0a340000-0000-4000-8000-00000000b001') ->> 'refund_percent', '0.00',
	'cancelled 10 hours ahead: no refund (late_refund_percent "half" is the default 0)');
SELECT results_eq($$SELECT booking_id, amount FROM protector.payments WHERE kind = 'refund'
					AND organization_id = '0a340000-0000-4000-8000-000000000000' ORDER BY booking_id$$,
	$$VALUES ('0a340000-0000-4000-8000-00000000b003'::uuid, 40.00)$$, 'one refund: the 40 paid for the later booking');
SELECT is(protector_internal.setting_number('150', 0, 0, 100), 100::numeric, 'a percent of 150 is held to 100');

-- A 0.1.0 service with what 0.2.0 refuses (an unknown settings key, a name
-- with a direction override, a smallest party above the capacity without a
-- largest) stays writable around it: a change is judged by what it changes
-- (the whole row was, so it could not even be retired)
SELECT tests.create_supabase_user('legacy_owner');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a340000-0000-4000-8000-000000000000', tests.get_supabase_uid('legacy_owner'), 'owner');
SET LOCAL session_replication_role = replica;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, capacity, min_party, max_party, settings)
VALUES ('0a340000-0000-4000-8000-0000000005a2', '0a340000-0000-4000-8000-000000000000', '0a340000-0000-4000-8000-0000000000a1',
		E'Old \u202e room', '60 minutes', 6, 7, NULL, '{"color": "red"}');
UPDATE protector.organizations SET settings = settings || '{"theme": "dark"}' WHERE id = '0a340000-0000-4000-8000-000000000000';
RESET session_replication_role;
SELECT tests.authenticate_as('legacy_owner');
SELECT is(protector.update_service('0a340000-0000-4000-8000-0000000005a2', '{"active": false}') ->> 'active', 'false',
	'a 0.1.0 service is retired through update_service');
SELECT is(protector.update_service('0a340000-0000-4000-8000-0000000005a2', '{"price": 30, "settings": {"deposit": {"percent": 50}}}')
		  -> 'settings', '{"color": "red", "deposit": {"percent": 50}}',
	'... takes a price and a deposit beside its old settings key');
UPDATE protector.services SET description = 'Renovated' WHERE id = '0a340000-0000-4000-8000-0000000005a2';
SELECT is((SELECT description FROM protector.services WHERE id = '0a340000-0000-4000-8000-0000000005a2'), 'Renovated',
	'... and a direct change of another field');
SELECT throws_ok($$SELECT protector.update_service('0a340000-0000-4000-8000-0000000005a2', '{"settings": {"colour": "blue"}}')$$,
	'22023', 'p_changes.settings.colour is not a setting', 'a new unknown key is refused by name');
SELECT throws_ok($$SELECT protector.update_service('0a340000-0000-4000-8000-0000000005a2', '{"name": "New \u202e room"}')$$,
	'22023', NULL, 'a new name is judged: one with a direction override is refused');
SELECT throws_ok($$SELECT protector.update_service('0a340000-0000-4000-8000-0000000005a2', '{"capacity": 5}')$$,
	'22023', 'p_changes.min_party must be at most max_party, or the capacity without one',
	'a change of the limits judges them together: the old smallest party above the new capacity is named');
SELECT throws_ok($$UPDATE protector.services SET duration = '0' WHERE id = '0a340000-0000-4000-8000-0000000005a2'$$,
	'22023', NULL, 'a direct change is judged too: a duration of 0 is refused');
-- an organization's settings likewise
UPDATE protector.organizations SET settings = settings || '{"staff": {"require_shifts": false}}'
WHERE id = '0a340000-0000-4000-8000-000000000000';
SELECT is((SELECT settings #>> '{staff,require_shifts}' FROM protector.organizations WHERE id = '0a340000-0000-4000-8000-000000000000'),
	'false', 'an organization with an old settings key turns shifts off');
SELECT throws_ok($$UPDATE protector.organizations SET settings = settings || '{"staff": {"require_shifts": 1}}'
				   WHERE id = '0a340000-0000-4000-8000-000000000000'$$,
	'22023', NULL, '... and a changed key is still judged');
-- a venue's branding and widget settings likewise, through update_venue
RESET ROLE;
SET LOCAL session_replication_role = replica;
UPDATE protector.venues SET branding = '{"primary": "red"}', widget_settings = '{"theme": "dark"}'
WHERE id = '0a340000-0000-4000-8000-0000000000a1';
RESET session_replication_role;
SELECT tests.authenticate_as('legacy_owner');
SELECT is(protector.update_venue('0a340000-0000-4000-8000-0000000000a1',
								 '{"branding": {"color": "#445566"}, "widget_settings": {"auto_confirm": true}}')
		  -> 'branding' ->> 'color', '#445566', 'a venue with old branding and widget keys takes new ones through update_venue');
SELECT throws_ok($$SELECT protector.update_venue('0a340000-0000-4000-8000-0000000000a1', '{"widget_settings": {"autoconfirm": true}}')$$,
	'22023', 'p_changes.widget_settings.autoconfirm is not a setting', '... and a new unknown key is still refused');

SELECT * FROM finish();
ROLLBACK;
