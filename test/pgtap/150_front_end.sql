-- The API as a front-end developer meets it (issue 13): errors that name
-- the parameter the caller passed and times in the venue's local time,
-- refusals instead of "not found" for members, countries checked the same
-- way everywhere, no status a booking cannot have yet, and a lifetime
-- value that does not predict 0 for the best customer.
BEGIN;
SELECT plan(66);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['f_owner', 'f_operator', 'f_agent']) u;
INSERT INTO protector.organizations (id, name, slug, currency) VALUES
	('0a150000-0000-4000-8000-000000000000', 'Front', 'front-end', 'EUR');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a150000-0000-4000-8000-000000000000', tests.get_supabase_uid('f_' || r), r::protector.member_role
FROM unnest(ARRAY['owner', 'operator', 'agent']) r;
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a150000-0000-4000-8000-0000000000a1', '0a150000-0000-4000-8000-000000000000', 'Berlin', 'Europe/Berlin',
	 '{"mon": [["09:00", "21:00"]], "tue": [["09:00", "21:00"]], "wed": [["09:00", "21:00"]], "thu": [["09:00", "21:00"]],
	   "fri": [["09:00", "21:00"]], "sat": [["09:00", "21:00"]], "sun": [["09:00", "21:00"]]}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party, price)
VALUES ('0a150000-0000-4000-8000-0000000005a1', '0a150000-0000-4000-8000-000000000000', '0a150000-0000-4000-8000-0000000000a1',
		'Vault', '60 minutes', '60 minutes', '400 days', 1, 6, 30);

-- the whole error, as "SQLSTATE | message | detail | hint"
CREATE FUNCTION pg_temp.err(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s text; m text; d text; h text;
BEGIN
	EXECUTE p_sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	RETURN concat_ws(' | ', s, m, NULLIF(d, ''), NULLIF(h, ''));
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.err(text) TO authenticated;
-- 10:00 Berlin time, 20 days ahead (the venue's local day)
CREATE FUNCTION pg_temp.at(h text) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT ((now() AT TIME ZONE 'Europe/Berlin')::date + 20 + h::time) AT TIME ZONE 'Europe/Berlin'
$$;
GRANT EXECUTE ON FUNCTION pg_temp.at(text) TO authenticated;
CREATE TEMP TABLE b (id uuid);
GRANT SELECT, INSERT ON b TO authenticated;

SELECT tests.authenticate_as('f_operator');
INSERT INTO b SELECT (protector.create_booking('0a150000-0000-4000-8000-0000000005a1', NULL, pg_temp.at('10:00')) ->> 'id')::uuid;
SELECT is(split_part(pg_temp.err(format($$SELECT protector.reschedule_booking(%L, %L)$$, (SELECT id FROM b), pg_temp.at('10:30'))), ' | ', 2),
	'p_new_start is not a slot of service "Vault"', 'reschedule_booking names its own parameter, p_new_start');
SELECT is(pg_temp.err($$SELECT protector.validate_slot('0a150000-0000-4000-8000-0000000005a1', '2020-01-01 10:00+00', 1)$$)
		  ~ '^22023 \| p_start is in the past \| Requested 2020-01-01 11:00:00 local time; it is now \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \(Europe/Berlin\)\.$'
		  AND pg_temp.err($$SELECT protector.validate_slot('0a150000-0000-4000-8000-0000000005a1', '2020-01-01 10:00+00', 1)$$)
			  NOT LIKE '%it is now 2020-01-01 11:00:00%',
	true, 'a start in the past: the requested time and now, both in the venue''s local time, neither printed as the other');
SELECT is(pg_temp.err(format($$SELECT protector.create_booking('0a150000-0000-4000-8000-0000000005a1', NULL, %L)$$, pg_temp.at('10:00'))),
	format('23P01 | service "Vault" is already booked at the requested time | Requested [%s, %s) local time (Europe/Berlin); the service takes one booking at a time (buffers included) and another booking overlaps it. | Choose another time; get_available_slots() (get_widget_slots() in the widget) lists the free ones.',
		   (pg_temp.at('10:00') AT TIME ZONE 'Europe/Berlin'), (pg_temp.at('11:00') AT TIME ZONE 'Europe/Berlin')),
	'a conflict says the range in the venue''s local time, and names the widget''s slot function too');
-- ... and a booking marked done before its start says when it starts, in
-- ISO form whatever the caller's DateStyle
SELECT set_config('DateStyle', 'German', true) \g /dev/null
SELECT is(pg_temp.err(format($$UPDATE protector.bookings SET status = 'completed' WHERE id = %L$$, (SELECT id FROM b))),
	format('22023 | a booking cannot become completed before it starts | Booking %s starts at %s local time (Europe/Berlin). | Mark it once it has started, or cancel it.',
		   (SELECT id FROM b), to_char(pg_temp.at('10:00') AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD HH24:MI:SS')),
	'a future booking marked completed: its start in the venue''s local time, ISO under DateStyle German');
SELECT set_config('DateStyle', 'ISO, YMD', true) \g /dev/null

-- one booking shape: UTC and local times with the zone, in every answer
CREATE TEMP TABLE shapes (rpc text, j jsonb);
GRANT SELECT, INSERT ON shapes TO authenticated;
INSERT INTO shapes SELECT 'create', protector.create_booking('0a150000-0000-4000-8000-0000000005a1', NULL, pg_temp.at('12:00'));
INSERT INTO shapes SELECT 'reschedule', protector.reschedule_booking((SELECT (j ->> 'id')::uuid FROM shapes WHERE rpc = 'create'),
	pg_temp.at('13:00'));
INSERT INTO shapes SELECT 'cancel', protector.cancel_booking((SELECT (j ->> 'id')::uuid FROM shapes WHERE rpc = 'create'));
INSERT INTO shapes SELECT 'hold', protector.hold_slot('0a150000-0000-4000-8000-0000000005a1', NULL, pg_temp.at('14:00'));
INSERT INTO shapes SELECT 'confirm', protector.confirm_booking((SELECT (j ->> 'id')::uuid FROM shapes WHERE rpc = 'hold'));
SELECT is((SELECT j - 'replayed' FROM shapes WHERE rpc = 'create') ?& ARRAY['start', 'end', 'local_start', 'local_end', 'timezone',
		   'status', 'total_price', 'amount_paid', 'balance_due', 'discount_amount'], true,
	'create_booking answers with start, end, local times, time zone, status and money');
SELECT is((SELECT j ->> 'start' FROM shapes WHERE rpc = 'reschedule') || ' ' || (SELECT j ->> 'local_start' FROM shapes WHERE rpc = 'reschedule')
		  || ' ' || (SELECT j ->> 'timezone' FROM shapes WHERE rpc = 'reschedule'),
	to_char(pg_temp.at('13:00') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' '
	|| to_char(pg_temp.at('13:00') AT TIME ZONE 'Europe/Berlin', 'YYYY-MM-DD"T"HH24:MI:SS') || ' Europe/Berlin',
	'a rescheduled booking: start in UTC, local_start at 13:00 in Berlin');
SELECT is((SELECT count(DISTINCT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(j - ARRAY['replayed', 'already_cancelled',
			'refund_amount', 'refund_percent', 'refund_to_vouchers', 'cancellation_fee']) k)) FROM shapes), 1::bigint,
	'create, reschedule, cancel, hold and confirm answer with the same keys (beside their own extras)');

-- statuses that need the booking to have started
SELECT is(pg_temp.err(format($$SELECT protector.update_booking_status_batch(ARRAY[%L]::uuid[], 'completed')$$, (SELECT id FROM b))),
	format('22023 | a booking cannot become completed before it starts | Booking %s starts at %s local time (Europe/Berlin). | Mark it once it has started, or cancel it.',
		   (SELECT id FROM b), (pg_temp.at('10:00') AT TIME ZONE 'Europe/Berlin')),
	'a booking 20 days ahead cannot be completed');
SELECT is(split_part(pg_temp.err(format($$UPDATE protector.bookings SET status = 'in_progress' WHERE id = %L$$, (SELECT id FROM b))), ' | ', 2),
	'a booking cannot become in_progress before it starts', '... nor be in progress');
SELECT is(split_part(pg_temp.err(format($$UPDATE protector.bookings SET status = 'no_show' WHERE id = %L$$, (SELECT id FROM b))), ' | ', 2),
	'a booking cannot become no_show before it starts', '... nor be a no-show');
SELECT tests.clear_authentication();
UPDATE protector.bookings SET during = tstzrange(now() - interval '30 minutes', now() + interval '30 minutes') WHERE id = (SELECT id FROM b);
SELECT tests.authenticate_as('f_operator');
SELECT is(pg_temp.err(format($$SELECT protector.update_booking_status_batch(ARRAY[%L]::uuid[], 'in_progress')$$, (SELECT id FROM b))),
	'ok', 'once it has started it may be');

-- members are refused, not told "not found"
SELECT tests.authenticate_as('f_agent');
SELECT is(pg_temp.err($$SELECT * FROM protector.get_customer_segments('0a150000-0000-4000-8000-000000000000')$$),
	'42501 | your role may not see aggregate analytics | The action analytics.aggregate is for owner, admin, manager, operator, finance and viewer.',
	'an agent asking for its own organization''s segments is refused by the map');

-- countries: one rule for every path
SELECT tests.authenticate_as('f_owner');
SELECT is(pg_temp.err($$SELECT protector.update_venue('0a150000-0000-4000-8000-0000000000a1', '{"country": "de"}')$$),
	'22023 | p_changes.country must be an ISO 3166 alpha-2 code such as DE | Got "de". | Two capital letters of an assigned country code.',
	'update_venue refuses a lower-case country as create_venue does, naming the field');
SELECT is(split_part(pg_temp.err($$SELECT protector.create_venue('0a150000-0000-4000-8000-000000000000', 'X', 'UTC', p_country => 'XX')$$), ' | ', 2),
	'p_country must be an ISO 3166 alpha-2 code such as DE', 'an unassigned code is refused');
SELECT is(pg_temp.err($$SELECT protector.normalize_phone('030 1234567', 'XX')$$),
	'22023 | p_country "XX" is not an ISO 3166 country code | Use two letters such as DE or US, or NULL when the country is unknown.',
	'normalize_phone refuses an unknown country instead of returning digits');
SELECT is(ARRAY[protector.normalize_phone('030 1234567', 'de'), protector.normalize_phone('030 1234567', 'LU')],
	ARRAY['+49301234567', '0301234567'], 'a known country completes the number; an assigned one without a calling code here keeps digits');

-- settings: a schema checked on write, naming the key; merged by the RPCs
SELECT tests.authenticate_as('f_owner');
SELECT is(pg_temp.err($$SELECT protector.update_venue('0a150000-0000-4000-8000-0000000000a1', '{"widget_settings": {"bookings_per_minute": -5}}')$$),
	'22023 | p_changes.widget_settings.bookings_per_minute must be an integer from 0 to 100000 | Got -5.',
	'a negative widget limit is refused, naming the key');
SELECT is(split_part(pg_temp.err($$SELECT protector.update_venue('0a150000-0000-4000-8000-0000000000a1', '{"widget_settings": {"bookings_per_minute": "lots"}}')$$), ' | ', 2),
	'p_changes.widget_settings.bookings_per_minute must be an integer from 0 to 100000', '... and so is "lots"');
SELECT is(split_part(pg_temp.err($$SELECT protector.update_venue('0a150000-0000-4000-8000-0000000000a1', '{"widget_settings": {"auto_confrim": true}}')$$), ' | ', 2),
	'p_changes.widget_settings.auto_confrim is not a setting', 'a misspelt key is refused, not ignored');
SELECT lives_ok($$SELECT protector.update_venue('0a150000-0000-4000-8000-0000000000a1', '{"widget_settings": {"bookings_per_minute": 7}}')$$,
	'a limit of 7');
SELECT is(protector.update_venue('0a150000-0000-4000-8000-0000000000a1', '{"widget_settings": {"auto_confirm": true}}') -> 'widget_settings',
	'{"auto_confirm": true, "bookings_per_minute": 7}'::jsonb, 'setting auto_confirm keeps the limit set before (a merge, not a replacement)');
SELECT is(protector.update_venue('0a150000-0000-4000-8000-0000000000a1', '{"widget_settings": {"auto_confirm": null}, "branding": {"color": "#123", "custom": {"tagline": "Escape!"}}}')
		  -> 'widget_settings', '{"bookings_per_minute": 7}'::jsonb, 'null removes a key');
SELECT is(protector.update_venue('0a150000-0000-4000-8000-0000000000a1', '{"branding": {"logo_url": "https://example.com/logo.png"}}')
		  #>> '{branding,logo_url}', 'https://example.com/logo.png', 'a logo URL is taken (its check failed to compile: 2201B)');
SELECT is(pg_temp.err($$SELECT protector.update_venue('0a150000-0000-4000-8000-0000000000a1', '{"branding": {"logo_url": "http://example.com/logo.png"}}')$$),
	'22023 | p_changes.branding.logo_url must be an https:// URL of at most 2000 characters | Got "http://example.com/logo.png". | '
	'Write it in printable ASCII, without spaces, quotes or angle brackets: percent-encode other characters of the path, '
	'and write an international domain name in its xn-- form.',
	'... an http:// one is not');
SELECT is(split_part(pg_temp.err($$SELECT protector.update_venue('0a150000-0000-4000-8000-0000000000a1',
	jsonb_build_object('branding', jsonb_build_object('logo_url', 'https://example.com/' || repeat('a', 1981))))$$), ' | ', 2),
	'p_changes.branding.logo_url must be an https:// URL of at most 2000 characters', '... nor one of 2001 characters (20 + 1981)');
SELECT is(pg_temp.err($$UPDATE protector.services SET settings = '{"deposit": {"percent": 120}}' WHERE id = '0a150000-0000-4000-8000-0000000005a1'$$),
	'22023 | settings.deposit.percent must be a number from 0 to 100 | Got 120.', 'a table write is checked too: a deposit of 120 percent');
SELECT is(split_part(pg_temp.err($$UPDATE protector.services SET settings = '{"cancellation_fees": [{"within_hours": 24, "fee_percent": 50}, {"within_hours": "soon", "fee_percent": 10}]}'
	WHERE id = '0a150000-0000-4000-8000-0000000005a1'$$), ' | ', 2),
	'settings.cancellation_fees[1].within_hours must be a number from 0 to 8760', 'the tier at fault is named by its index');
SELECT is(split_part(pg_temp.err($$UPDATE protector.organizations SET settings = '{"theme": "dark"}' WHERE id = '0a150000-0000-4000-8000-000000000000'$$), ' | ', 2),
	'settings.theme is not a setting', 'organization settings: unknown keys are refused; data of one''s own goes under custom');

-- services and customers through RPCs, checked like the rest
SELECT tests.authenticate_as('f_owner');
CREATE TEMP TABLE made (what text, j jsonb);
GRANT SELECT, INSERT ON made TO authenticated;
INSERT INTO made SELECT 'service', protector.create_service('0a150000-0000-4000-8000-0000000000a1', 'Lab', '90 minutes', 40, 15,
	p_settings => '{"no_show_fee_percent": 50}');
SELECT is((SELECT ARRAY[j ->> 'currency', j ->> 'duration', j ->> 'slot_interval'] FROM made WHERE what = 'service'),
	ARRAY['EUR', '01:30:00', '00:30:00'], 'create_service: the organization''s currency, the defaults of the table');
SELECT is(pg_temp.err($$SELECT protector.create_service('0a150000-0000-4000-8000-0000000000a1', 'Lab', '0 minutes')$$),
	'22023 | p_duration must be more than 00:00:00 and at most 31 days | Got 00:00:00.', 'a duration of 0 is refused, by its parameter''s name');
SELECT set_config('IntervalStyle', 'iso_8601', true) \g /dev/null
SELECT is(pg_temp.err($$SELECT protector.create_service('0a150000-0000-4000-8000-0000000000a1', 'Lab', '0 minutes')$$),
	'22023 | p_duration must be more than 00:00:00 and at most 31 days | Got 00:00:00.',
	'... in those words whatever the caller''s IntervalStyle (was "more than PT0S and at most P31D")');
SELECT set_config('IntervalStyle', 'postgres', true) \g /dev/null
SELECT is(split_part(pg_temp.err($$SELECT protector.create_service('0a150000-0000-4000-8000-0000000000a1', 'Lab', '1 hour', p_currency => 'eur')$$), ' | ', 2),
	'p_currency must be an ISO 4217 code', 'a lower-case currency is refused');
SELECT is(split_part(pg_temp.err(format($$SELECT protector.update_service(%L, '{"duration": "soon"}')$$,
		(SELECT j ->> 'id' FROM made WHERE what = 'service'))), ' | ', 2),
	'p_changes.duration has a value of the wrong type', 'update_service names a field of the wrong type');
SELECT is(protector.update_service((SELECT (j ->> 'id')::uuid FROM made WHERE what = 'service'),
		  '{"price": 45, "settings": {"deposit": {"percent": 20}}}') -> 'settings',
	'{"deposit": {"percent": 20}, "no_show_fee_percent": 50}'::jsonb, 'update_service merges settings');
SELECT tests.authenticate_as('f_operator');
SELECT is(split_part(pg_temp.err($$SELECT protector.create_service('0a150000-0000-4000-8000-0000000000a1', 'Lab 2', '1 hour')$$), ' | ', 2),
	'your role may not change venues, closures and services', 'operators do not create services');
INSERT INTO made SELECT 'customer', protector.create_customer('0a150000-0000-4000-8000-000000000000', ' Ann Example ', 'ann@example.com',
	'+49 30 1234567', 'DE', '{vip}');
SELECT is((SELECT j ->> 'full_name' FROM made WHERE what = 'customer'), 'Ann Example', 'operators create customers (trimmed)');
SELECT is(split_part(pg_temp.err($$SELECT protector.create_customer('0a150000-0000-4000-8000-000000000000', 'Bo', p_country => 'de')$$), ' | ', 2),
	'p_country must be an ISO 3166 alpha-2 code such as DE', 'create_customer checks the country as venues do');
SELECT is(split_part(pg_temp.err(format($$SELECT protector.update_customer(%L, '{"email": "nope"}')$$,
		(SELECT j ->> 'id' FROM made WHERE what = 'customer'))), ' | ', 2),
	'your role may not change or delete customers', 'changing a customer is for managers and above');

-- hostile JSON is refused, never a crash
SELECT is(split_part(pg_temp.err(format('SELECT protector.merge_patch(%L, %L)', '{}',
		repeat('{"a":', 40) || '1' || repeat('}', 40))), ' | ', 1) || ' ' || split_part(pg_temp.err(format('SELECT protector.merge_patch(%L, %L)', '{}',
		repeat('{"a":', 40) || '1' || repeat('}', 40))), ' | ', 2),
	'22023 the patch nests deeper than 32 levels', 'a patch nested 40 deep is refused');
SELECT is(protector.merge_patch('{"a": 1, "b": {"c": 2, "d": 3}}', '{"a": null, "b": {"c": 5}, "e": [1]}'),
	'{"b": {"c": 5, "d": 3}, "e": [1]}'::jsonb, 'merge_patch: null removes, objects merge, other values replace');
SELECT tests.authenticate_as('f_owner');
SELECT is(split_part(pg_temp.err(format($$SELECT protector.update_customer(%L, '{"tags": [["a", "b"], ["c", "d"]]}')$$,
		(SELECT j ->> 'id' FROM made WHERE what = 'customer'))), ' | ', 2),
	'p_changes.tags has a value of the wrong type', 'tags nested in tags are refused');
-- a field takes a value of its type, not any JSON as its text (an array
-- was stored as the name '["Room", "A"]', 0 and "off" were false)
SELECT is(pg_temp.err(format($$SELECT protector.update_customer(%L, '{"full_name": ["a", null]}')$$,
		(SELECT j ->> 'id' FROM made WHERE what = 'customer'))),
	'22023 | p_changes.full_name has a value of the wrong type | A JSON string is expected (got ["a", null]).',
	'update_customer: a name that is an array is refused by name');
SELECT is(split_part(pg_temp.err(format($$SELECT protector.update_customer(%L, '{"phone": 1e20}')$$,
		(SELECT j ->> 'id' FROM made WHERE what = 'customer'))), ' | ', 2),
	'p_changes.phone has a value of the wrong type', '... a phone that is a JSON number too');
SELECT is(split_part(pg_temp.err(format($$SELECT protector.update_customer(%L, '{"tags": ["vip", 7]}')$$,
		(SELECT j ->> 'id' FROM made WHERE what = 'customer'))), ' | ', 2),
	'p_changes.tags has a value of the wrong type', '... and a tag that is no string');
SELECT is(pg_temp.err(format($$SELECT protector.update_service(%L, '{"active": 0}')$$, (SELECT j ->> 'id' FROM made WHERE what = 'service'))),
	'22023 | p_changes.active has a value of the wrong type | A JSON true or false is expected (got 0).',
	'update_service: active is true or false, as update_venue takes it');
SELECT is(split_part(pg_temp.err(format($$SELECT protector.update_service(%L, '{"name": {"a": 1}}')$$, (SELECT j ->> 'id' FROM made WHERE what = 'service'))), ' | ', 2),
	'p_changes.name has a value of the wrong type', '... and a name is a string');
SELECT is(pg_temp.err(format($$SELECT protector.update_service(%L, '{"mode": null}')$$, (SELECT j ->> 'id' FROM made WHERE what = 'service'))),
	'22023 | p_changes.mode must be exclusive or shared', 'a mode of null is refused by name (it was the column''s bare 23502)');
SELECT is(pg_temp.err($$SELECT protector.update_venue('0a150000-0000-4000-8000-0000000000a1', '{"city": ["x"]}')$$),
	'22023 | p_changes.city has a value of the wrong type | A JSON string is expected (got ["x"]).',
	'update_venue: a city that is an array is refused by name');
SELECT is((SELECT ARRAY[j ->> 'name', j ->> 'active'] FROM (SELECT protector.update_service((SELECT (j ->> 'id')::uuid FROM made WHERE what = 'service'),
																				 '{"name": "Lab 2", "active": true}') j) x),
	ARRAY['Lab 2', 'true'], '... while strings and booleans are taken');
-- a duration carries its unit (a bare 90 was stored as 90 seconds), and
-- a capacity of 40.0 is 40 (it passed the whole-number check, then failed
-- the cast naming nothing)
SELECT is(pg_temp.err(format($$SELECT protector.update_service(%L, '{"duration": 90}')$$, (SELECT j ->> 'id' FROM made WHERE what = 'service'))),
	'22023 | p_changes.duration has a value of the wrong type | A JSON string with a unit, such as "90 minutes", is expected (got 90).',
	'update_service: a duration of 90 without a unit is refused');
SELECT is(split_part(pg_temp.err(format($$SELECT protector.update_service(%L, '{"duration": "90"}')$$, (SELECT j ->> 'id' FROM made WHERE what = 'service'))), ' | ', 2),
	'p_changes.duration has a value of the wrong type', '... as a string too');
SELECT is((SELECT ARRAY[j ->> 'duration', j ->> 'buffer_after'] FROM (SELECT protector.update_service((SELECT (j ->> 'id')::uuid FROM made WHERE what = 'service'),
																				 '{"duration": "90 minutes", "buffer_after": "00:15:00"}') j) x),
	ARRAY['01:30:00', '00:15:00'], '... while "90 minutes" and "00:15:00" are taken');
SELECT is((SELECT ARRAY[j ->> 'buffer_before', j ->> 'min_notice'] FROM (SELECT protector.update_service((SELECT (j ->> 'id')::uuid FROM made WHERE what = 'service'),
																				 '{"buffer_before": 0, "min_notice": "0"}') j) x),
	ARRAY['00:00:00', '00:00:00'], '... and zero, 0 or "0", is zero in every unit (the defaults)');
SELECT is(protector.update_venue('0a150000-0000-4000-8000-0000000000a1', '{"capacity": 40.0}') ->> 'capacity', '40',
	'update_venue: a capacity of 40.0 is 40');
SELECT tests.clear_authentication();
-- one booking that cannot be cancelled does not stop the sweep
CREATE FUNCTION pg_temp.refuse_b() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.id IN (SELECT id FROM stuck) THEN
		RAISE EXCEPTION 'this one cannot be cancelled';
	END IF;
	RETURN NEW;
END
$$;
INSERT INTO b SELECT (protector.hold_slot('0a150000-0000-4000-8000-0000000005a1', NULL, pg_temp.at(h || ':00')) ->> 'id')::uuid
FROM unnest(ARRAY['15', '16', '17']) h;
UPDATE protector.bookings SET hold_expires_at = now() - interval '1 minute' WHERE status = 'held'
	AND organization_id = '0a150000-0000-4000-8000-000000000000';
CREATE TEMP TABLE stuck AS SELECT id FROM protector.bookings
	WHERE organization_id = '0a150000-0000-4000-8000-000000000000' AND status = 'held' ORDER BY id LIMIT 1;
CREATE TRIGGER zz_refuse BEFORE UPDATE ON protector.bookings FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_b();
SELECT is(protector.expire_holds(), 2, 'expire_holds cancels the two others and warns about the one that fails');
DROP TRIGGER zz_refuse ON protector.bookings;

-- lifetime value: a regular is not predicted to have left (docs/analytics.md)
SELECT tests.clear_authentication();
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, mode, capacity, max_party)
VALUES ('0a150000-0000-4000-8000-0000000005a2', '0a150000-0000-4000-8000-000000000000', '0a150000-0000-4000-8000-0000000000a1',
		'Hall', '60 minutes', 'shared', 1000, 10);
INSERT INTO protector.customers (id, organization_id, full_name)
SELECT ('0a150000-0000-4000-8000-0000000000c' || c)::uuid, '0a150000-0000-4000-8000-000000000000', 'C' || c FROM unnest('{1,2,3,4}'::int[]) c;
-- (customer, quarters of a year ago, status, paid): C1 every quarter from
-- 2 years to a quarter ago, and one future and one cancelled booking
-- unpaid; C2 4 and 2 quarters ago; C3 3 and 2; C4 2
CREATE TEMP TABLE q (c int, q int, st text, paid numeric);
INSERT INTO q VALUES (1, 8, 'completed', 100), (1, 7, 'completed', 100), (1, 6, 'completed', 100), (1, 5, 'completed', 100),
	(1, 4, 'completed', 100), (1, 3, 'completed', 100), (1, 2, 'completed', 100), (1, 1, 'completed', 100),
	(1, -1, 'confirmed', NULL), (1, 0, 'cancelled', NULL),
	(2, 4, 'completed', 50), (2, 2, 'completed', 50), (3, 3, 'completed', 50), (3, 2, 'completed', 50), (4, 2, 'completed', 80);
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0a150000-0000-4000-8000-0000000' || c || lpad((q + 10)::text, 4, '0'))::uuid, '0a150000-0000-4000-8000-000000000000',
	   '0a150000-0000-4000-8000-0000000000a1', '0a150000-0000-4000-8000-0000000005a2', ('0a150000-0000-4000-8000-0000000000c' || c)::uuid,
	   tstzrange(now() - q * interval '91 days 7 hours 30 minutes', now() - q * interval '91 days 7 hours 30 minutes' + interval '1 hour'),
	   st::protector.booking_status
FROM q;
INSERT INTO protector.payments (organization_id, booking_id, amount, status)
SELECT '0a150000-0000-4000-8000-000000000000', ('0a150000-0000-4000-8000-0000000' || c || lpad((q + 10)::text, 4, '0'))::uuid, paid, 'succeeded'
FROM q WHERE paid IS NOT NULL;
-- spans 1.75, 0.5, 0.25, 0 years: expected lifespan (1.75 + 0.5 + 0.25) / 3 = 0.8333;
-- C1 800 / 8 = 100 x 8 / 2 = 4 a year x 0.8333 = 333.33; C2, C3 50 x 2 x 0.8333 = 83.33; C4 80 x 1 x 0.8333 = 66.67
SELECT results_eq($$SELECT (protector.calculate_customer_ltv(c.id) ->> 'predicted_12_month_value')::numeric
					FROM protector.customers c WHERE c.organization_id = '0a150000-0000-4000-8000-000000000000'
					  AND c.full_name IN ('C1', 'C2', 'C3', 'C4') ORDER BY c.full_name$$,
	$$VALUES (333.33), (83.33), (83.33), (66.67)$$,
	'predicted 12-month values by the documented formula: the regular C1 gets 333.33, not 0');
SELECT is(protector.calculate_customer_ltv('0a150000-0000-4000-8000-0000000000c1') - 'predicted_12_month_value',
	'{"bookings": 8, "currency": "EUR", "customer_id": "0a150000-0000-4000-8000-0000000000c1", "historic_value": 800.00,
	  "bookings_per_year": 4.0000, "average_order_value": 100.00, "customer_lifespan_years": 1.7500,
	  "expected_lifespan_years": 0.8333, "expected_remaining_years": 0.8333}'::jsonb,
	'every field of C1''s lifetime value, as docs/analytics.md defines it');

SELECT is((SELECT bool_and((x ->> 'fm') ~ '^[1-5]\.[05]$')
		   FROM protector.customers c, protector.get_customer_rfm_score(c.id) x
		   WHERE c.organization_id = '0a150000-0000-4000-8000-000000000000' AND c.full_name IN ('C1', 'C2', 'C3', 'C4')), true,
	'fm, the average of f and m, has one decimal (4.5, 5.0), not sixteen');

-- a missing organization is bad input, named, on every figure RPC (it was
-- "organization not found", as for one the caller may not see)
SELECT tests.authenticate_as('f_owner');
SELECT throws_ok(format('SELECT * FROM %s', f), '22023', 'p_organization_id must not be null', f || ' with no organization')
FROM unnest(ARRAY['protector.get_dashboard_stats(NULL)', 'protector.get_weekly_bookings_trend(NULL)',
				  'protector.get_todays_bookings_by_hour(NULL)',
				  'protector.generate_revenue_report(NULL, ''2027-01-01'', ''2027-01-31'')',
				  'protector.generate_booking_report(NULL, ''2027-01-01'', ''2027-01-31'')',
				  'protector.generate_customer_report(NULL, ''2027-01-01'', ''2027-01-31'')',
				  'protector.generate_staff_report(NULL, ''2027-01-01'', ''2027-01-31'')',
				  'protector.get_staff_performance(NULL, ''2027-01-01'', ''2027-01-31'')']) f;
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
