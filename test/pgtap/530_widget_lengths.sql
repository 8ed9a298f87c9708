-- The widget's service list gave a service's length and slot interval in
-- whole minutes by integer division: a 30-second service showed 0 and a
-- 90-second interval 1, while the widget's slots were 30 seconds every
-- 90 (the thirty-second stop's review of slots against bookings).
BEGIN;
SELECT plan(4);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user('w_owner') IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('w_owner');
SELECT protector.create_organization('Lengths', 'widget-lengths', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Sprint', '30 seconds', p_slot_interval => '90 seconds') IS NOT NULL \g /dev/null
SELECT protector.create_service(:'venue', 'Tour', '1 hour 40 seconds', p_slot_interval => '1 hour') IS NOT NULL \g /dev/null
SELECT protector.create_service(:'venue', 'Blink', '0.001 seconds', p_slot_interval => '1 minute') IS NOT NULL \g /dev/null
SELECT embed_key AS key FROM protector.venues WHERE id = :'venue' \gset
SELECT tests.authenticate_as_anon();

-- 30 s = 0.5 min; 90 s = 1.5 min; 1 h 40 s = 3640 s = 60.6667 min (to four places); 1 h = 60
SELECT is((SELECT format('%s %s', e ->> 'duration_minutes', e ->> 'slot_interval_minutes')
		   FROM jsonb_array_elements(protector.get_venue_services(:'key')) e WHERE e ->> 'name' = 'Sprint'),
	'0.5 1.5', 'a 30-second service every 90 seconds: 0.5 and 1.5 minutes, not 0 and 1');
SELECT is((SELECT format('%s %s', e ->> 'duration_minutes', e ->> 'slot_interval_minutes')
		   FROM jsonb_array_elements(protector.get_venue_services(:'key')) e WHERE e ->> 'name' = 'Tour'),
	'60.6667 60', 'an hour and 40 seconds to four places; a whole hour as 60');
SELECT is((SELECT e ->> 'duration_minutes' FROM jsonb_array_elements(protector.get_venue_services(:'key')) e WHERE e ->> 'name' = 'Blink'),
	'0.0001', 'a millisecond''s service is shown as the least fraction, never as 0 minutes');
SELECT is((SELECT upper(s.slot) - lower(s.slot) FROM (SELECT tstzrange(slot_start, slot_end) AS slot
		   FROM protector.get_widget_slots(:'key', (SELECT (e ->> 'id')::uuid FROM jsonb_array_elements(protector.get_venue_services(:'key')) e
													WHERE e ->> 'name' = 'Sprint'), (now() + interval '2 days')::date) LIMIT 1) s),
	interval '30 seconds', 'and the slots the widget offers are the 30 seconds the list says');

SELECT * FROM finish();
ROLLBACK;
