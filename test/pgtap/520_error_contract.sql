-- What a review of the API's error contract found (the thirty-second
-- stop): a held booking without its expiry, and a promo code's services
-- or description written directly, were refused by a constraint's bare
-- name; a NULL organization or venue was "not found" (404 through
-- PostgREST) where every other RPC says "must not be null"; a bad value
-- in update_service came back whole in the detail; and a staff week's
-- limit named years it does not take.
BEGIN;
SELECT plan(36);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user(u) IS NOT NULL FROM unnest(ARRAY['e_owner', 'e_agent']) u \g /dev/null
SELECT tests.authenticate_as('e_owner');
SELECT protector.create_organization('Errors', 'error-contract', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Room', '1 hour', p_slot_interval => '1 hour') ->> 'id' AS room \gset
SELECT protector.create_promo_code(:'org', 'percent', 10) ->> 'id' AS promo \gset
SELECT tests.clear_authentication();
INSERT INTO protector.members (organization_id, user_id, role) VALUES (:'org', tests.get_supabase_uid('e_agent'), 'agent')
RETURNING id AS agent_member \gset
SELECT tests.authenticate_as('e_owner');

-- 1. the rule in words beside the constraint's name
SELECT is(tests.error_text(format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size, status)
									VALUES (%L, %L, %L, tstzrange(date_trunc('day', now()) + interval '2 days 10 hours',
																  date_trunc('day', now()) + interval '2 days 11 hours'), 1, 'held')$$,
								  :'org', :'venue', :'room')),
	'23514 | new row for relation "bookings" violates check constraint "bookings_check" | A held booking has a hold_expires_at, when its hold lapses.',
	'a hold without its expiry is told the rule, not only the constraint''s name');
SELECT is(tests.error_text(format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, party_size, currency)
									VALUES (%L, %L, %L, tstzrange(date_trunc('day', now()) + interval '2 days 10 hours',
																  date_trunc('day', now()) + interval '2 days 11 hours'), 1, 'eur')$$,
								  :'org', :'venue', :'room')),
	'23514 | new row for relation "bookings" violates check constraint "bookings_currency_check" | currency is a code of three capital letters, like EUR.',
	'... as is a currency in small letters');

-- 2. a promo code's services and description written directly, by name
SELECT throws_ok(format($$UPDATE protector.promo_codes SET service_ids = '{}' WHERE id = %L$$, :'promo'),
	'22023', 'service_ids must list 1 to 1000 services, or be null for every service', 'an empty services list, by name');
SELECT throws_ok(format($$UPDATE protector.promo_codes SET service_ids = ARRAY[NULL::uuid] WHERE id = %L$$, :'promo'),
	'22023', 'service_ids must list 1 to 1000 services, or be null for every service', 'a list holding a NULL, by name');
SELECT throws_ok(format($$UPDATE protector.promo_codes SET description = repeat('x', 3000) WHERE id = %L$$, :'promo'),
	'22023', 'description must be at most 2000 characters', 'a description of 3000 characters, by name');
SELECT throws_ok(format($$UPDATE protector.promo_codes SET description = E'Ten off\u202e' WHERE id = %L$$, :'promo'),
	'22023', 'description holds control or invisible direction characters', 'a description with a direction override, by name');

-- 3. a NULL id is a missing argument, as everywhere else
SELECT throws_ok($$SELECT protector.create_voucher(NULL, 10)$$, '22023', 'p_organization_id must not be null',
	'create_voucher without an organization');
SELECT throws_ok($$SELECT protector.create_promo_code(NULL, 'percent', 10)$$, '22023', 'p_organization_id must not be null',
	'create_promo_code without an organization');
SELECT throws_ok(format($$SELECT protector.assign_staff_to_venue(%L, NULL)$$, :'agent_member'), '22023', 'p_venue_id must not be null',
	'assign_staff_to_venue without a venue');
SELECT throws_ok(format($$SELECT protector.create_staff_schedule(%L, NULL, now() + interval '1 day', now() + interval '1 day 8 hours')$$,
						:'agent_member'),
	'22023', 'p_venue_id must not be null', 'create_staff_schedule without a venue');

-- 4. a bad value is quoted, not returned whole; a limit says what it takes
SELECT cmp_ok(length(tests.error_text(format($$SELECT protector.update_service(%L, jsonb_build_object('capacity', repeat('9x', 5000)))$$,
											 :'room'))), '<', 400,
	'a capacity of 10,000 characters comes back cut, not whole in the detail');
SELECT cmp_ok(length(tests.error_text(format($$SELECT protector.update_service(%L, jsonb_build_object(repeat('k', 100000), 1))$$,
											 :'room'))), '<', 400,
	'an unknown field of 100,000 characters is listed cut');
SELECT is(tests.error_text(format($$SELECT protector.update_venue(%L, (SELECT jsonb_object_agg('k' || i, 1) FROM generate_series(1, 12) i))$$,
								  :'venue')),
	'22023 | p_changes has fields that cannot be changed here: k1, k10, k11, k12, k2, k3, k4, k5, k6, k7 and 2 more | Opening hours change through update_venue_schedule, the embed key through rotate_embed_key.',
	'twelve unknown fields: the first ten (in text order) and how many more');
SELECT throws_ok(format($$SELECT * FROM protector.get_staff_schedule(%L, '2200-01-02')$$, :'venue'),
	'22023', 'p_week_start must be a date from 1999-12-25 to 2200-01-01', 'a staff week names the dates it takes');
-- (check_slot names the start as its caller does; a name of 10 MB came
-- back whole in the message, and went to the server's log)
SELECT cmp_ok(length(tests.error_text(format($$SELECT protector_internal.check_slot(%L, now() + interval '1 day' + interval '7 minutes', 1, repeat('x', 10000000))$$,
											 :'room'))), '<', 1000,
	'a slot check''s caller-given name of 10 MB comes back cut');
-- (an empty name names nothing: " is not a valid time zone" read as a
-- sentence without a subject)
SELECT throws_ok($$SELECT protector.check_timezone('Nowhere/Zone', '')$$,
	'22023', 'timezone is not a valid time zone: "Nowhere/Zone"', 'an empty parameter name is the default''s');
SELECT alike(tests.error_text(format($$SELECT protector_internal.check_slot(%L, now() + interval '1 day' + interval '7 minutes', 1, '')$$, :'room')),
	'22023 | p_start %', '... as a slot check''s is');
-- (durations are exact elapsed times: '1 year' was read as 360 days)
SELECT tests.authenticate_as('e_owner');
SELECT throws_ok(format($$SELECT protector.update_service(%L, '{"max_advance": "1 year"}')$$, :'room'),
	'22023', 'p_changes.max_advance must be given in days, hours and minutes', 'a max_advance of a year is refused');
SELECT is((protector.update_service(:'room', '{"max_advance": "365 days", "min_notice": "1 day 2 hours"}')) ->> 'max_advance',
	'365 days', '... one of 365 days is taken');
-- (judged by its fields: '1 year 5 days' equals 365 days as intervals
-- compare, and passed unjudged over a stored 365 days: an attack review)
SELECT throws_ok(format($$SELECT protector.update_service(%L, '{"max_advance": "1 year 5 days"}')$$, :'room'),
	'22023', 'p_changes.max_advance must be given in days, hours and minutes', '... and a year and 5 days is refused over it');
SELECT throws_ok(format($$UPDATE protector.services SET buffer_before = '1 mon -30 days' WHERE id = %L$$, :'room'),
	'22023', NULL, '... as a buffer of a month less 30 days written directly over none');
-- (a docs review) a deposit's deadline of more than a year names the
-- least it takes, a minute, not 0; record_payment's details given as an
-- array are told they must be an object, not that they are null
SELECT tests.clear_authentication();
SELECT throws_ok(format($$UPDATE protector.services SET settings = settings || '{"deposit": {"percent": 25, "deadline_hours": 8761}}' WHERE id = %L$$, :'room'),
	'22023', 'settings.deposit.deadline_hours must be a number of hours from a minute (1/60) to 8760', 'a deposit deadline over a year');
SELECT throws_ok(format($$UPDATE protector.services SET settings = settings || '{"deposit": {"percent": 25, "deadline_hours": 0.01}}' WHERE id = %L$$, :'room'),
	'22023', 'settings.deposit.deadline_hours must be at least a minute (1/60)', '... and one under a minute');
SELECT alike(tests.error_text(format($$UPDATE protector.services SET settings = settings || '{"deposit": {"percent": 25, "deadline_hours": 8760.00000000000000000000000001}}' WHERE id = %L$$, :'room')),
	'% | Got 8760.0000000000000000000000000....', '... its value quoted cut with dots (30 characters, then "..."), not as another number');
SELECT alike(tests.error_text(format($$UPDATE protector.services SET settings = settings || '{"deposit": {"percent": 100.000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001}}' WHERE id = %L$$, :'room')),
	'% | Got 100.' || repeat('0', 96) || '....', '... as every setting''s number is (100 characters, then "...")');
SELECT tests.authenticate_as('e_owner');
SELECT is(tests.error_text(format($$SELECT protector.create_service(%L, 'Bad', '1 hour', p_price => 'NaN')$$, :'venue')),
	'22023 | p_price must be an amount from 0 with at most two decimals | Got NaN. | Prices are in the currency''s units (12.34, not 1234 cents), from 0 and below 10000000000.',
	'... and a price of NaN as a number, not a string');
-- (the sixtieth stop) a price too large is told the bound, and a number
-- too large for its column that it is out of range, not of the wrong type
SELECT is(tests.error_text(format($$SELECT protector.update_service(%L, '{"price": 1e10}')$$, :'room')),
	'22023 | p_changes.price must be an amount from 0 with at most two decimals | Got 10000000000. | Prices are in the currency''s units (12.34, not 1234 cents), from 0 and below 10000000000.',
	'a price of 10^10 is told the bound');
SELECT is(tests.error_text(format($$SELECT protector.update_service(%L, '{"capacity": 99999999999}')$$, :'room')),
	'22023 | p_changes.capacity is out of range | value "99999999999" is out of range for type integer (got 99999999999).',
	'a capacity too large for an integer is out of range, not of the wrong type');
SELECT is(tests.error_text(format($$SELECT protector.update_service(%L, '{"capacity": "many"}')$$, :'room')),
	'22023 | p_changes.capacity has a value of the wrong type | invalid input syntax for type integer: "many" (got "many").',
	'... while a word is of the wrong type');
SELECT tests.clear_authentication();
SELECT tests.authenticate_as('e_owner');
SELECT protector.create_booking(:'room', NULL, date_trunc('hour', now()) + interval '3 days', 1) ->> 'id' AS paid \gset
SELECT throws_ok(format($$SELECT protector.record_payment(%L, 10, p_details => '[]')$$, :'paid'), '22023',
	'p_details must be a JSON object', 'a payment''s details as an array');
-- (an attack review) an error quotes what it was given, cut: a kind of
-- a megabyte came back whole in the detail, and a group_by too (8 bytes
-- of code and bars, the message's 40, 3 more, then the detail: "Got '",
-- the kind's first 100 characters (its quote and 99 x), "..." and ".")
SELECT is((SELECT format('%s %s %s', length(e), right(e, 3), left(e, 72))
		   FROM tests.error_text(format($$SELECT protector.create_promo_code(%L, %L, 10)$$, :'org', repeat('x', 1000000))) e),
	'159 ... 22023 | p_discount_kind must be percent or fixed | Got ''xxxxxxxxxxxxxxxx',
	'a promo code''s kind of a megabyte is quoted cut to 100 characters');
SELECT is(tests.error_text(format($$SELECT * FROM protector.generate_revenue_report(%L, current_date, current_date, NULL, %L)$$,
								  :'org', repeat('y', 1000000))),
	'22023 | p_group_by must be day, week or month | Got ''' || repeat('y', 99) || '....', '... as is a report''s group_by');
-- (a fuzzing) ... as are the amounts of a total and a code check's names
SELECT cmp_ok(length(tests.error_text($$SELECT protector.booking_total(1e131071, 0, 1)$$)), '<', 300,
	'a total of 131,072 digits is quoted cut');
SELECT cmp_ok(length(tests.error_text($$SELECT protector_internal.check_code('x_y', repeat('x', 1000000), repeat('p', 1000000))$$)),
	'<', 400, '... and a code check''s prefix and parameter');
-- (a fuzzing) errors name the value they refuse
SELECT is(tests.error_text($$SELECT protector.rfm_segment(3, 6, 1)$$),
	'22023 | RFM scores must be integers from 1 to 5 | p_f is 6.', 'an RFM score out of range is named');
SELECT is(tests.error_text($$SELECT protector.check_operating_hours('{"mon": [["09:00", "17:00"]], "monday": []}')$$),
	'22023 | operating_hours has a key that is not a weekday | Got "monday". | Use the keys mon, tue, wed, thu, fri, sat and sun.',
	'... and opening hours'' unknown key');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
