-- What a newcomer's walk through the API met (the thirty-first stop's
-- review): a move refused for the booking's own party named a parameter
-- reschedule_booking does not have; update_venue refused a capacity sent
-- as a JSON string that update_service takes for its numbers; and a
-- venue's schedule began at the session's today (UTC under PostgREST),
-- not the venue's.  A promo code of one use said "It may be used 1 times".
BEGIN;
SELECT plan(15);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user(u) IS NOT NULL FROM unnest(ARRAY['n_owner', 'n_operator']) u \g /dev/null
SELECT tests.authenticate_as('n_owner');
SELECT protector.create_organization('Newcomer', 'newcomer-edges', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Big room', '1 hour', p_capacity => 6, p_slot_interval => '1 hour') ->> 'id' AS big \gset
SELECT protector.create_service(:'venue', 'Small room', '1 hour', p_capacity => 4, p_slot_interval => '1 hour') ->> 'id' AS small \gset
SELECT protector.create_booking(:'big', NULL, date_trunc('day', now()) + interval '3 days 10 hours', 5) ->> 'id' AS booking \gset

-- 1. a move to a service that does not take the booking's party of 5
SELECT throws_ok(format($$SELECT protector.reschedule_booking(%L, date_trunc('day', now()) + interval '3 days 12 hours', %L)$$,
						:'booking', :'small'),
	'22023', 'the booking''s party of 5 is not allowed for service "Small room"',
	'a move names the booking''s party, not a p_party_size the function does not have');
SELECT throws_ok(format($$SELECT protector.create_booking(%L, NULL, date_trunc('day', now()) + interval '3 days 12 hours', 5)$$, :'small'),
	'22023', 'p_party_size 5 is not allowed for service "Small room"', 'a new booking still names its parameter');
SELECT tests.clear_authentication();
INSERT INTO protector.members (organization_id, user_id, role) VALUES (:'org', tests.get_supabase_uid('n_operator'), 'operator');
SELECT tests.authenticate_as('n_operator');
SELECT throws_ok(format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size)
						  VALUES (%L, %L, %L, tstzrange(date_trunc('day', now()) + interval '3 days 14 hours',
														date_trunc('day', now()) + interval '3 days 15 hours'), 5)$$,
						:'org', :'venue', :'small'),
	'22023', 'the booking''s party of 5 is not allowed for service "Small room"', 'a direct insert names no parameter either');
SELECT throws_ok(format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size)
						  VALUES (%L, %L, %L, tstzrange(date_trunc('day', now()) + interval '3 days 14 hours',
														date_trunc('day', now()) + interval '3 days 15 hours'), NULL)$$,
						:'org', :'venue', :'small'),
	'22023', 'party_size must not be null', '... nor for a party left null');
SELECT throws_ok(format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size)
						  VALUES (%L, %L, %L, 'empty', 1)$$, :'org', :'venue', :'small'),
	'22023', 'during must have a start', '... and an empty range is said to have no start, not to be null');
SELECT tests.authenticate_as('n_owner');

-- 2. a venue's capacity as a number or a string that reads as one, as update_service takes numbers
SELECT is((protector.update_venue(:'venue', '{"capacity": "12"}') ->> 'capacity'), '12', 'update_venue takes "12" as 12');
SELECT throws_ok(format($$SELECT protector.update_venue(%L, '{"capacity": "twelve"}')$$, :'venue'),
	'22023', 'p_changes.capacity must be a whole number from 1, or null', '... and refuses a string that reads as no number');
SELECT throws_ok(format($$SELECT protector.update_venue(%L, '{"capacity": "\u200912"}')$$, :'venue'),
	'22023', 'p_changes.capacity must be a whole number from 1, or null',
	'... or one with a space the number''s input does not skip (U+2009), named, not a cast''s 22P02');
SELECT throws_ok(format($$SELECT protector.update_venue(%L, %L)$$, :'venue', format('{"capacity": "1%s"}', repeat('0', 140000))),
	'22023', 'p_changes.capacity must be a whole number from 1, or null', '... or digits beyond what numeric holds, named, not its 22003');

-- 3. the schedule's first day is the venue's own today: at any moment
-- one of a venue at UTC+14 and one at UTC-11 has a date other than UTC's
SELECT protector.create_venue(:'org', 'East', 'Pacific/Kiritimati',
	p_operating_hours => '{"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
						   "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]], "sat": [["09:00", "17:00"]],
						   "sun": [["09:00", "17:00"]]}') ->> 'id' AS east \gset
SELECT protector.create_venue(:'org', 'West', 'Pacific/Pago_Pago',
	p_operating_hours => '{"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
						   "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]], "sat": [["09:00", "17:00"]],
						   "sun": [["09:00", "17:00"]]}') ->> 'id' AS west \gset
SELECT results_eq(format($$SELECT (SELECT min(local_date) FROM protector.get_venue_schedule(%L)),
								  (SELECT min(local_date) FROM protector.get_venue_schedule(%L))$$, :'east', :'west'),
	$$VALUES ((now() AT TIME ZONE 'Pacific/Kiritimati')::date, (now() AT TIME ZONE 'Pacific/Pago_Pago')::date)$$,
	'get_venue_schedule without p_from starts at each venue''s local today');
SELECT throws_ok(format($$SELECT * FROM protector.get_venue_schedule(%L, p_to => (now() AT TIME ZONE 'Pacific/Pago_Pago')::date - 1)$$, :'east'),
	'22023', 'p_to must not be before the venue''s today, p_from''s default', 'a p_to before it says which p_from');
-- ... and names both days, the range too (a fuzzing review: neither did)
SELECT matches(tests.error_text(format($$SELECT * FROM protector.get_venue_schedule(%L, p_to => (now() AT TIME ZONE 'Pacific/Pago_Pago')::date - 1)$$, :'east')),
	'^22023 \| p_to must not be before the venue''s today, p_from''s default \| p_from is [0-9]{4}-[0-9]{2}-[0-9]{2}, p_to [0-9]{4}-[0-9]{2}-[0-9]{2}\.$',
	'... naming the venue''s today and p_to');
SELECT is(tests.error_text(format($$SELECT * FROM protector.get_venue_schedule(%L, '2027-01-01', '2027-12-31')$$, :'east')),
	'22023 | at most 93 days of schedule can be asked for at once | p_from (2027-01-01) to p_to (2027-12-31) spans 365 days. | Ask for the range in pieces.',
	'a year of schedule is refused, naming the range and its 365 days');
SELECT is(tests.error_text(format($$SELECT * FROM protector.get_venue_schedule(%L, '2026-01-01', '0044-03-15 BC')$$, :'east')),
	'22023 | p_to must not be before p_from | p_from is 2026-01-01, p_to 0044-03-15 BC.',
	'... and a p_to before year 1 as a BC day');

-- 4. a promo code of one use, used up
SELECT protector.create_promo_code(:'org', 'percent', 10, p_max_uses => 1) ->> 'code' AS code \gset
SELECT protector.create_booking(:'small', NULL, date_trunc('day', now()) + interval '4 days 10 hours',
	p_promo_code => :'code') IS NOT NULL AS used \gset
SELECT is(tests.error_text(format($$SELECT protector.create_booking(%L, NULL, date_trunc('day', now()) + interval '4 days 12 hours',
		p_promo_code => %L)$$, :'small', :'code')),
	'22023 | this promo code has been used up | It may be used once.', 'a code of one use is said to be usable once');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
