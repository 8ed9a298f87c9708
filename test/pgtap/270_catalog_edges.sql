-- The catalog and the widget at their edges, as two attacks found them: a
-- widget retry is answered before the rate limits count; services that
-- could take no booking are refused; settings missing a key or set to
-- null are refused by name; a padded service name does not break the
-- review task's title; a shared slot with fewer places than the smallest
-- party is full; a notification's reader marks it read and nothing else;
-- (a third) only who may delete venues writes deleted_at, a copied service
-- keeps its waiver, a service with bookings is not deleted (by name).
BEGIN;
SELECT plan(56);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['g_owner', 'g_manager', 'g_operator']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a270000-0000-4000-8000-000000000000', 'G', 'catalog-edges');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a270000-0000-4000-8000-000000000000', tests.get_supabase_uid('g_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'manager', 'operator']) r;
INSERT INTO protector.venues (id, organization_id, name, timezone, widget_settings) VALUES
	('0a270000-0000-4000-8000-0000000000a1', '0a270000-0000-4000-8000-000000000000', 'Hall', 'UTC',
	 '{"visitor_bookings_per_hour": 1, "bookings_per_minute": 100}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, min_party,
								max_party, mode) VALUES
	('0a270000-0000-4000-8000-0000000005a1', '0a270000-0000-4000-8000-000000000000', '0a270000-0000-4000-8000-0000000000a1',
	 'Room', '60 minutes', '60 minutes', '400 days', 1, 1, 4, 'exclusive'),
	('0a270000-0000-4000-8000-0000000005a2', '0a270000-0000-4000-8000-000000000000', '0a270000-0000-4000-8000-0000000000a1',
	 'Tour', '60 minutes', '60 minutes', '400 days', 10, 4, 8, 'shared');
CREATE TEMP TABLE k AS SELECT embed_key AS key FROM protector.venues WHERE id = '0a270000-0000-4000-8000-0000000000a1';
GRANT SELECT ON k TO anon;
-- hour h of the day after tomorrow (UTC)
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '2 days' + h * interval '1 hour'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.t(int) TO anon, authenticated;

-- 1. a widget retry at the visitor's limit (1 an hour) is its first booking
SELECT tests.authenticate_as_anon();
CREATE TEMP TABLE w AS SELECT protector.create_widget_booking((SELECT key FROM k), '0a270000-0000-4000-8000-0000000005a1',
	'Vera', 'vera@example.com', NULL, pg_temp.t(10), 1, 'req-1') AS j;
SELECT is((SELECT protector.create_widget_booking((SELECT key FROM k), '0a270000-0000-4000-8000-0000000005a1',
			'Vera', 'vera@example.com', NULL, pg_temp.t(10), 1, 'req-1') ->> 'id'), (SELECT j ->> 'id' FROM w),
	'the retry of a request that was booked answers with its booking, the visitor''s hourly limit (1) reached or not');
SELECT throws_ok($$SELECT protector.create_widget_booking((SELECT key FROM k), '0a270000-0000-4000-8000-0000000005a1',
				   'Vera', 'vera@example.com', NULL, pg_temp.t(11), 1, 'req-2')$$,
	'53400', 'too many bookings from you through this widget; try again later', 'a new request is over the limit');
SELECT tests.clear_authentication();

-- 2. services that could take no booking
SELECT tests.authenticate_as('g_manager');
SELECT throws_ok($$SELECT protector.update_service('0a270000-0000-4000-8000-0000000005a1', '{"min_party": 2, "max_party": null}')$$,
	'22023', 'p_changes.min_party must be at most max_party, or the capacity without one',
	'an exclusive room of capacity 1 without max_party takes parties of 1 at most: min_party 2 would book nothing');
SELECT throws_ok($$SELECT protector.update_service('0a270000-0000-4000-8000-0000000005a1', '{"min_notice": "30 days", "max_advance": "1 day"}')$$,
	'22023', 'p_changes.min_notice must be shorter than max_advance', 'a notice longer than the advance leaves no start');
SELECT throws_ok($$SELECT protector.update_service('0a270000-0000-4000-8000-0000000005a1', '{"settings": null}')$$,
	'22023', 'p_changes.settings must be a JSON object', 'settings null is refused by name (it was a NOT NULL error)');
SELECT throws_ok($$SELECT protector.update_service('0a270000-0000-4000-8000-0000000005a1',
				   '{"settings": {"cancellation_fees": [{"fee_percent": 100}]}}')$$,
	'22023', 'p_changes.settings.cancellation_fees[0].within_hours must be a number from 0 to 8760',
	'a fee tier without within_hours is refused (it was stored and then ignored: no fee)');
SELECT throws_ok($$SELECT protector.update_service('0a270000-0000-4000-8000-0000000005a1', '{"currency": null}')$$,
	'22023', 'p_changes.currency must not be null', 'currency null is refused by name (it was a NOT NULL error)');
SELECT throws_ok($$SELECT protector.update_service('0a270000-0000-4000-8000-0000000005a1',
				   '{"waiver_id": "00000000-0000-0000-0000-000000000000"}')$$,
	'P0002', 'waiver not found', 'a waiver that does not exist is not found (it was the foreign key''s 23503, a 409)');

-- 3. a padded name: the booking and its review task
SELECT tests.clear_authentication();
UPDATE protector.services SET name = 'Room' || repeat(' ', 300) WHERE id = '0a270000-0000-4000-8000-0000000005a1';
SELECT tests.authenticate_as('g_operator');
SELECT lives_ok($$SELECT protector.create_booking('0a270000-0000-4000-8000-0000000005a1', NULL, pg_temp.t(14), 1)$$,
	'a service named with 300 trailing spaces still takes bookings');
SELECT tests.clear_authentication();
SELECT is((SELECT title FROM protector.tasks WHERE title LIKE 'Review booking: Room,%'),
	'Review booking: Room, ' || to_char(pg_temp.t(14) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' (UTC)',
	'its review task''s title holds the name as the CHECK counts it');

-- 4. a shared slot with 2 places left and parties of 4 to 8 is full
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size, status)
VALUES ('0a270000-0000-4000-8000-000000000000', '0a270000-0000-4000-8000-0000000000a1', '0a270000-0000-4000-8000-0000000005a2',
		tstzrange(pg_temp.t(10), pg_temp.t(11)), 8, 'confirmed');
SELECT is((SELECT count(*)::int FROM protector.get_available_slots('0a270000-0000-4000-8000-0000000005a2', (pg_temp.t(10))::date)
		   WHERE slot_start = pg_temp.t(10)), 0, 'capacity 10 - 8 booked = 2 places, fewer than a party of 4: not offered');
SELECT is((SELECT remaining_capacity FROM protector.get_available_slots('0a270000-0000-4000-8000-0000000005a2', (pg_temp.t(10))::date,
																		  NULL, true)
		   WHERE slot_start = pg_temp.t(10)), 0, '... and listed as full with p_include_full');
SELECT is((SELECT remaining_capacity FROM protector.get_available_slots('0a270000-0000-4000-8000-0000000005a2', (pg_temp.t(10))::date)
		   WHERE slot_start = pg_temp.t(11)), 10, 'the next slot has its 10 places');

-- 5. a notification's reader marks it read, and nothing else
SELECT tests.authenticate_as('g_operator');
SELECT throws_ok($$UPDATE protector.notifications SET recipient_id = protector.current_user_id(), kind = 'x', payload = '{}'
				   WHERE recipient_id IS NULL$$,
	'42501', 'your role may not change kind, payload, recipient_id of notifications',
	'an operator does not take the desk''s notifications by addressing them to themselves');
SELECT lives_ok($$UPDATE protector.notifications SET read_at = now() WHERE recipient_id IS NULL$$, '... but marks them read');

-- 6. an agent's done task of a booking handed to someone else stays done
SELECT tests.clear_authentication();
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['g_agent', 'g_agent2']) u;
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a270000-0000-4000-8000-000000000000', tests.get_supabase_uid(u), 'agent' FROM unnest(ARRAY['g_agent', 'g_agent2']) u;
UPDATE protector.organizations SET settings = '{"staff": {"require_shifts": false}}' WHERE id = '0a270000-0000-4000-8000-000000000000';
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
VALUES ('0a270000-0000-4000-8000-00000000b001', '0a270000-0000-4000-8000-000000000000', '0a270000-0000-4000-8000-0000000000a1',
		'0a270000-0000-4000-8000-0000000005a1', tstzrange(pg_temp.t(16), pg_temp.t(17)), 'confirmed', tests.get_supabase_uid('g_agent'));
SELECT tests.authenticate_as('g_agent');
UPDATE protector.tasks SET status = 'done', completed_at = now() WHERE booking_id = '0a270000-0000-4000-8000-00000000b001';
SELECT tests.authenticate_as('g_operator');
UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('g_agent2') WHERE id = '0a270000-0000-4000-8000-00000000b001';
SELECT tests.authenticate_as('g_agent');
UPDATE protector.tasks SET status = 'in_progress', completed_at = NULL WHERE booking_id = '0a270000-0000-4000-8000-00000000b001';
SELECT tests.clear_authentication();
SELECT is((SELECT string_agg(status::text, ',') FROM protector.tasks WHERE booking_id = '0a270000-0000-4000-8000-00000000b001'), 'done',
	'the former agent cannot reopen the review task of a booking handed to another (no row of theirs to update)');

-- 7. deleted_at is a deletion: a manager neither deletes nor restores a
-- venue by an UPDATE; an owner does both
SELECT tests.authenticate_as('g_manager');
SELECT throws_ok($$UPDATE protector.venues SET deleted_at = now(), active = false WHERE id = '0a270000-0000-4000-8000-0000000000a1'$$,
	'42501', 'your role may not delete venues', 'a manager''s UPDATE of deleted_at is refused');
SELECT tests.authenticate_as('g_owner');
SELECT ok(protector.delete_venue('0a270000-0000-4000-8000-0000000000a1'), 'the owner deletes the venue');
SELECT tests.authenticate_as('g_manager');
SELECT throws_ok($$UPDATE protector.venues SET deleted_at = NULL, active = true WHERE id = '0a270000-0000-4000-8000-0000000000a1'$$,
	'42501', 'your role may not restore a deleted venue', 'the manager cannot bring it back');
SELECT tests.authenticate_as('g_owner');
SELECT lives_ok($$UPDATE protector.venues SET deleted_at = NULL, active = true WHERE id = '0a270000-0000-4000-8000-0000000000a1'$$,
	'the owner can');
-- ... and the owner's direct deletion is delete_venue's: the venue is
-- inactive too (it stayed active, bookable again once restored)
UPDATE protector.venues SET deleted_at = now() WHERE id = '0a270000-0000-4000-8000-0000000000a1';
SELECT is((SELECT format('%s %s', deleted_at IS NOT NULL, active) FROM protector.venues WHERE id = '0a270000-0000-4000-8000-0000000000a1'),
	't f', 'a venue deleted by a direct UPDATE of deleted_at is inactive, as delete_venue leaves it');
UPDATE protector.venues SET deleted_at = NULL, active = true WHERE id = '0a270000-0000-4000-8000-0000000000a1';

-- 8. a copy keeps the waiver its service asks for; a service with bookings
-- is not deleted, one without is
SELECT tests.authenticate_as('g_manager');
CREATE TEMP TABLE waiver AS
SELECT (protector.create_waiver('0a270000-0000-4000-8000-000000000000', 'W', 'I accept the risks.') ->> 'waiver_id')::uuid AS id;
SELECT protector.update_service('0a270000-0000-4000-8000-0000000005a1', jsonb_build_object('waiver_id', (SELECT id FROM waiver))) \g /dev/null
CREATE TEMP TABLE copy AS SELECT protector.duplicate_service('0a270000-0000-4000-8000-0000000005a1') AS s;
SELECT is((SELECT (s ->> 'waiver_id')::uuid FROM copy), (SELECT id FROM waiver), 'the copy asks for the same waiver');
SELECT throws_ok($$DELETE FROM protector.services WHERE id = '0a270000-0000-4000-8000-0000000005a1'$$,
	'23503', 'service "Room" has bookings and cannot be deleted', 'a service with bookings is refused deletion by name');
SELECT is((SELECT count(*)::int FROM protector.services WHERE id = '0a270000-0000-4000-8000-0000000005a1'), 1, 'and stays');
SELECT tests.clear_authentication();
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a270000-0000-4000-8000-0000000000a9', '0a270000-0000-4000-8000-000000000000', 'Annex', 'UTC');
SELECT tests.authenticate_as('g_manager');
SELECT throws_ok($$UPDATE protector.services SET venue_id = '0a270000-0000-4000-8000-0000000000a9'
				   WHERE id = '0a270000-0000-4000-8000-0000000005a1'$$,
	'23503', 'service "Room" has bookings and cannot move to another venue',
	'nor is it moved to another venue: named, not the bookings'' bare foreign key');
SELECT lives_ok($$DELETE FROM protector.services WHERE id = (SELECT (s ->> 'id')::uuid FROM copy)$$,
	'its copy, without bookings, is deleted');
SELECT tests.clear_authentication();
SELECT lives_ok($$DELETE FROM protector.organizations WHERE id = '0a270000-0000-4000-8000-000000000000'$$,
	'the organization''s deletion still takes its booked services with it');

-- 9. prices are checked as given (the row's numeric(12,2) rounded 10.005
-- to 10.01, made 0.0000001 free, and failed past its precision with a
-- bare 22003); a venue's capacity and active are named, not the column's
-- cast or CHECK with the table's name
-- (section 8 deleted the organization: a second one)
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a270000-0000-4000-8000-0000000000ff', 'G2', 'catalog-edges-2');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a270000-0000-4000-8000-0000000000ff', tests.get_supabase_uid('g_manager'), 'manager');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a270000-0000-4000-8000-0000000000b1', '0a270000-0000-4000-8000-0000000000ff', 'Yard', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration) VALUES
	('0a270000-0000-4000-8000-0000000005b1', '0a270000-0000-4000-8000-0000000000ff', '0a270000-0000-4000-8000-0000000000b1',
	 'Gate', '60 minutes');
SELECT tests.authenticate_as('g_manager');
SELECT throws_ok($$SELECT protector.create_service('0a270000-0000-4000-8000-0000000000b1', 'S', '60 minutes', p_price => 10.005)$$,
	'22023', 'p_price must be an amount from 0 with at most two decimals', 'create_service: a price of 10.005 is refused, not rounded');
SELECT throws_ok($$SELECT protector.create_service('0a270000-0000-4000-8000-0000000000b1', 'S', '60 minutes', p_price_per_person => 1e10)$$,
	'22023', 'p_price_per_person must be an amount from 0 with at most two decimals', '... and 10^10 per person by name (it was 22003)');
SELECT throws_ok($$SELECT protector.update_service('0a270000-0000-4000-8000-0000000005b1', '{"price": 0.0000001}')$$,
	'22023', 'p_changes.price must be an amount from 0 with at most two decimals', 'update_service: a fraction of a cent is refused, not made free');
SELECT throws_ok($$SELECT protector.update_service('0a270000-0000-4000-8000-0000000005b1', '{"price_per_person": "10.005"}')$$,
	'22023', 'p_changes.price_per_person must be an amount from 0 with at most two decimals', '... also given as a string');
SELECT is(protector.update_service('0a270000-0000-4000-8000-0000000005b1', '{"price": 10.5, "price_per_person": "2"}') ->> 'price',
	'10.50', 'cents pass');
SELECT throws_ok($$SELECT protector.update_venue('0a270000-0000-4000-8000-0000000000b1', '{"capacity": 0}')$$,
	'22023', 'p_changes.capacity must be a whole number from 1, or null', 'a venue''s capacity of 0 is named');
SELECT throws_ok($$SELECT protector.update_venue('0a270000-0000-4000-8000-0000000000b1', '{"active": null}')$$,
	'22023', 'p_changes.active must be true or false', '... as is an active of null');
SELECT is(protector.update_venue('0a270000-0000-4000-8000-0000000000b1', '{"capacity": 40, "active": false}') ->> 'capacity',
	'40', 'a capacity of 40 passes');

-- 10. a venue with bookings is not deleted outright either (its services'
-- deletion ran inside the cascade, past their check: the bare 23503)
SELECT tests.clear_authentication();
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
VALUES ('0a270000-0000-4000-8000-0000000000ff', '0a270000-0000-4000-8000-0000000000b1', '0a270000-0000-4000-8000-0000000005b1',
		tstzrange(pg_temp.t(10), pg_temp.t(11)), 'confirmed');
SELECT throws_ok($$DELETE FROM protector.venues WHERE id = '0a270000-0000-4000-8000-0000000000b1'$$,
	'23503', 'venue "Yard" has bookings and cannot be deleted', 'a venue with bookings is refused deletion by name');
SELECT lives_ok($$DELETE FROM protector.organizations WHERE id = '0a270000-0000-4000-8000-0000000000ff'$$,
	'its organization''s deletion still takes it with everything else');

-- direct writes are held to the functions' checks: a party limit above
-- 100000 (stored, it broke the widget with the bookings' bare CHECK), a
-- service that takes no booking, a customer's phone that is no number; a
-- write that changes none of the checked columns is not judged
SELECT tests.clear_authentication();
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a270000-0000-4000-8000-0000000000ee', 'G3', 'catalog-edges-3');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a270000-0000-4000-8000-0000000000ee', tests.get_supabase_uid('g_manager'), 'manager'),
	('0a270000-0000-4000-8000-0000000000ee', tests.get_supabase_uid('g_operator'), 'operator');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a270000-0000-4000-8000-0000000000e1', '0a270000-0000-4000-8000-0000000000ee', 'Pier', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, capacity, max_party) VALUES
	('0a270000-0000-4000-8000-0000000005e1', '0a270000-0000-4000-8000-0000000000ee', '0a270000-0000-4000-8000-0000000000e1',
	 'Boat', '60 minutes', 1, 4);
SELECT tests.authenticate_as('g_manager');
SELECT throws_ok($$UPDATE protector.services SET max_party = 2000000 WHERE id = '0a270000-0000-4000-8000-0000000005e1'$$,
	'22023', 'max_party must be from 1 to 100000', 'a direct party limit above 100000 is refused by name');
SELECT throws_ok($$UPDATE protector.services SET min_notice = '10 days', max_advance = '1 day'
				   WHERE id = '0a270000-0000-4000-8000-0000000005e1'$$,
	'22023', 'min_notice must be shorter than max_advance', '... and a service no start could satisfy');
SELECT throws_ok($$UPDATE protector.venues SET city = E'Ber\u202Elin' WHERE id = '0a270000-0000-4000-8000-0000000000e1'$$,
	'22023', 'city holds control or invisible direction characters', '... and a venue''s city with a direction override');
SELECT tests.authenticate_as('g_operator');
SELECT throws_ok($$INSERT INTO protector.customers (organization_id, full_name, phone)
				   VALUES ('0a270000-0000-4000-8000-0000000000ee', 'Cx', 'call me maybe')$$,
	'22023', 'phone is not a phone number', 'a customer written directly is checked as create_customer checks it');
SELECT lives_ok($$SELECT protector.create_customer('0a270000-0000-4000-8000-0000000000ee', 'Bob Ross', NULL, '(415) 555-0100', 'US')$$,
	'a phone that opens with a bracket, as docs/customers.md writes one, is a phone');
SELECT tests.clear_authentication();
SET LOCAL session_replication_role = replica;
INSERT INTO protector.customers (id, organization_id, full_name, phone)
VALUES ('0a270000-0000-4000-8000-0000000000c9', '0a270000-0000-4000-8000-0000000000ee', 'Old', 'call me maybe');
RESET session_replication_role;
SELECT tests.authenticate_as('g_manager');
SELECT lives_ok($$UPDATE protector.customers SET tags = '{vip}' WHERE id = '0a270000-0000-4000-8000-0000000000c9'$$,
	'a row stored before the rule stays writable around what it breaks');
SELECT throws_ok($$UPDATE protector.customers SET phone = 'call me later' WHERE id = '0a270000-0000-4000-8000-0000000000c9'$$,
	'22023', 'phone is not a phone number', '... and what a write changes is judged');
-- a merge takes the merged record's details protector takes now (one of
-- 0.1.0's unchecked phones stays on the merged record), and a venue's
-- city changes around an old description with a control character
SELECT lives_ok($$SELECT protector.merge_customers((protector.create_customer('0a270000-0000-4000-8000-0000000000ee', 'Old Too') ->> 'id')::uuid,
												   '0a270000-0000-4000-8000-0000000000c9')$$,
	'a record with a phone of before the rule merges into another');
SELECT tests.clear_authentication();
SELECT is((SELECT phone FROM protector.customers WHERE full_name = 'Old Too'), NULL, '... whose phone stays unset');
SET LOCAL session_replication_role = replica;
UPDATE protector.venues SET description = E'Line1\u0007' WHERE id = '0a270000-0000-4000-8000-0000000000e1';
INSERT INTO protector.customers (id, organization_id, full_name, phone, tags)
VALUES ('0a270000-0000-4000-8000-0000000000c7', '0a270000-0000-4000-8000-0000000000ee', 'Keep', 'call me maybe',
		ARRAY['vip', repeat('x', 60)]),
	   ('0a270000-0000-4000-8000-0000000000c6', '0a270000-0000-4000-8000-0000000000ee', 'Nully', ' ask at desk ',
		ARRAY['vip', NULL]);
RESET session_replication_role;
SELECT tests.authenticate_as('g_manager');
SELECT lives_ok($$SELECT protector.update_venue('0a270000-0000-4000-8000-0000000000e1', '{"city": "Berlin"}')$$,
	'a venue''s city changes around a description stored before the rule');
-- ... and a customer's notes and tags around an old phone and an old tag
-- (update_customer judged the whole row), and a merge keeps the kept
-- record's own old tag
SELECT lives_ok($$SELECT protector.update_customer('0a270000-0000-4000-8000-0000000000c7', '{"notes": "called"}')$$,
	'update_customer of notes around a phone of before the rule');
SELECT lives_ok($$UPDATE protector.customers SET tags = tags || '{regular}' WHERE id = '0a270000-0000-4000-8000-0000000000c7'$$,
	'a tag added beside a tag of before the rule');
SELECT lives_ok($$SELECT protector.merge_customers('0a270000-0000-4000-8000-0000000000c7',
												   (protector.create_customer('0a270000-0000-4000-8000-0000000000ee', 'Keep Too') ->> 'id')::uuid)$$,
	'a record with an old tag keeps others merged into it');
SELECT tests.clear_authentication();
SELECT is((SELECT tags FROM protector.customers WHERE id = '0a270000-0000-4000-8000-0000000000c7'),
	ARRAY['regular', 'vip', repeat('x', 60)], '... and its own old tag');
SELECT tests.authenticate_as('g_manager');
-- a NULL among the old tags waves no new tag through (= ANY of a list
-- with a NULL is NULL); a padded old phone the call does not name stays
SELECT throws_ok($$UPDATE protector.customers SET tags = ARRAY[repeat('y', 300)] WHERE id = '0a270000-0000-4000-8000-0000000000c6'$$,
	'22023', 'tags must be at most 100 tags of 1 to 50 plain characters', 'a NULL among the old tags lets no bad new tag in');
SELECT lives_ok($$SELECT protector.update_customer('0a270000-0000-4000-8000-0000000000c6', '{"notes": "called"}')$$,
	'update_customer of notes around a padded old phone it does not name');
SELECT tests.clear_authentication();
SET LOCAL session_replication_role = replica;
INSERT INTO protector.customers (id, organization_id, full_name, tags)
VALUES ('0a270000-0000-4000-8000-0000000000c5', '0a270000-0000-4000-8000-0000000000ee', 'Grid', '{{vip,old},{a,b}}'),
	   ('0a270000-0000-4000-8000-0000000000c4', '0a270000-0000-4000-8000-0000000000ee', 'Grid Too', '{{vip,old},{a,b}}');
RESET session_replication_role;
SELECT tests.authenticate_as('g_manager');
SELECT lives_ok($$SELECT protector.update_customer('0a270000-0000-4000-8000-0000000000c5', '{"tags": ["vip"]}')$$,
	'tags of two dimensions (0.1.0 took them) are replaced (array_position refused them: 0A000)');
SELECT lives_ok($$SELECT protector.merge_customers('0a270000-0000-4000-8000-0000000000c4',
												   (protector.create_customer('0a270000-0000-4000-8000-0000000000ee', 'Grid Three', p_tags => '{new}') ->> 'id')::uuid)$$,
	'... and a record with them keeps others merged into it, tags united (|| refused them: 2202E)');
SELECT lives_ok($$SELECT protector.merge_customers('0a270000-0000-4000-8000-0000000000c6',
												   (protector.create_customer('0a270000-0000-4000-8000-0000000000ee', 'Nully Too', p_tags => '{new}') ->> 'id')::uuid)$$,
	'a record whose old tags hold a NULL takes others merged into it');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
