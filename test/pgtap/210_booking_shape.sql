-- booking_shape() (src/booking_shape.c): the one shape in which the booking
-- RPCs answer with a booking.  It must be exactly what the PL/pgSQL version
-- computed, to_jsonb(row) || jsonb_build_object(start, end, timezone,
-- local_start, local_end) [|| replayed], kept here as the reference, for
-- every kind of row: time zones with and without DST, a DST day, NULLs,
-- nested details, money with cents, and a venue the caller cannot see
-- (UTC).  Shapes are compared as text: jsonb calls 61.5 and 61.50 equal,
-- the answer a client reads does not.
BEGIN;
SELECT plan(21);

CREATE FUNCTION pg_temp.shape_ref(p_booking protector.bookings)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_tz text;
BEGIN
	SELECT v.timezone INTO v_tz FROM protector.venues v
	WHERE v.organization_id = p_booking.organization_id AND v.id = p_booking.venue_id;
	v_tz := COALESCE(v_tz, 'UTC');
	RETURN to_jsonb(p_booking) || jsonb_build_object(
		'start', to_char(timezone('UTC', lower(p_booking.during)), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
		'end', to_char(timezone('UTC', upper(p_booking.during)), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
		'timezone', v_tz,
		'local_start', to_char(timezone(v_tz, lower(p_booking.during)), 'YYYY-MM-DD"T"HH24:MI:SS'),
		'local_end', to_char(timezone(v_tz, upper(p_booking.during)), 'YYYY-MM-DD"T"HH24:MI:SS'));
END
$$;

INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a210000-0000-4000-8000-000000000000', 'Shapes', 'booking-shapes');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a210000-0000-4000-8000-0000000000a1', '0a210000-0000-4000-8000-000000000000', 'NY', 'America/New_York', '{}'),
	('0a210000-0000-4000-8000-0000000000a2', '0a210000-0000-4000-8000-000000000000', 'Berlin', 'Europe/Berlin', '{}'),
	('0a210000-0000-4000-8000-0000000000a3', '0a210000-0000-4000-8000-000000000000', 'Kolkata', 'Asia/Kolkata', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
SELECT ('0a210000-0000-4000-8000-0000000005a' || n)::uuid, '0a210000-0000-4000-8000-000000000000',
	   ('0a210000-0000-4000-8000-0000000000a' || n)::uuid, 'Room ' || n, '60 minutes', '30 minutes', '730 days'
FROM generate_series(1, 3) n;
-- New York's clocks go from 02:00 EST to 03:00 EDT on 2027-03-14 (07:00 UTC)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, currency, status,
								party_size, details, idempotency_key, hold_expires_at, unit_price, total_price) VALUES
	('0a210000-0000-4000-8000-0000000b0001', '0a210000-0000-4000-8000-000000000000', '0a210000-0000-4000-8000-0000000000a1',
	 '0a210000-0000-4000-8000-0000000005a1', '[2027-03-14 06:30+00, 2027-03-14 07:30+00)', 'USD', 'confirmed',
	 2, '{"note": "DST", "tags": ["a", {"b": null}], "z": {"nested": [1, 2.50]}}', 'shape-1', NULL, 61.5, 123.45),
	('0a210000-0000-4000-8000-0000000b0002', '0a210000-0000-4000-8000-000000000000', '0a210000-0000-4000-8000-0000000000a2',
	 '0a210000-0000-4000-8000-0000000005a2', '[2027-10-31 00:30+00, 2027-10-31 01:30+00)', 'EUR', 'held',
	 1, '{}', NULL, '2027-10-30 00:00+00', 0, 0),
	('0a210000-0000-4000-8000-0000000b0003', '0a210000-0000-4000-8000-000000000000', '0a210000-0000-4000-8000-0000000000a3',
	 '0a210000-0000-4000-8000-0000000005a3', '[2027-06-01 18:30+00, 2027-06-01 19:30+00)', 'INR', 'pending',
	 4, '{"": "", "\"quoted\"": "line\nbreak"}', 'shape-3', NULL, 10, 40);

SELECT is((SELECT count(*) FROM protector.bookings b
		   WHERE b.organization_id = '0a210000-0000-4000-8000-000000000000'
			 AND protector_internal.booking_shape(b)::text IS DISTINCT FROM pg_temp.shape_ref(b)::text), 0::bigint,
	'every booking''s shape is the reference''s');
-- as create_booking answers (02:00 in Kolkata is 20:30 UTC the day before)
SELECT protector.create_booking('0a210000-0000-4000-8000-0000000005a3', NULL, '2027-06-01 20:30+00', 1,
								'shape-rpc') AS made \gset
SELECT is(:'made'::jsonb::text, (SELECT (pg_temp.shape_ref(b) || '{"replayed": false}')::text FROM protector.bookings b
						   WHERE b.idempotency_key = 'shape-rpc'),
	'create_booking answers with the reference shape and "replayed": false');
SELECT is((SELECT count(*) FROM protector.bookings b, (VALUES (true), (false)) r(x)
		   WHERE b.organization_id = '0a210000-0000-4000-8000-000000000000'
			 AND protector_internal.booking_shape(b, r.x)::text
				 IS DISTINCT FROM (pg_temp.shape_ref(b) || jsonb_build_object('replayed', r.x))::text), 0::bigint,
	'with p_replayed, it is the reference || {"replayed": p_replayed}');

-- the added keys, hand-checked: 06:30 UTC is 01:30 EST, 07:30 UTC 03:30 EDT
SELECT is((SELECT protector_internal.booking_shape(b) - (SELECT array_agg(k) FROM jsonb_object_keys(to_jsonb(b)) k)
		   FROM protector.bookings b WHERE id = '0a210000-0000-4000-8000-0000000b0001'),
	'{"start": "2027-03-14T06:30:00Z", "end": "2027-03-14T07:30:00Z", "timezone": "America/New_York",
	  "local_start": "2027-03-14T01:30:00", "local_end": "2027-03-14T03:30:00"}'::jsonb,
	'a booking across New York''s spring-forward hour: 01:30 to 03:30 local');
-- Berlin goes back from 03:00 CEST to 02:00 CET on 2027-10-31 (01:00 UTC)
SELECT is((SELECT protector_internal.booking_shape(b, false) ->> 'local_start' || ' ' ||
				  (protector_internal.booking_shape(b, false) ->> 'local_end')
		   FROM protector.bookings b WHERE id = '0a210000-0000-4000-8000-0000000b0002'),
	'2027-10-31T02:30:00 2027-10-31T02:30:00', 'a booking across Berlin''s fall-back hour: 02:30 CEST to 02:30 CET');
SELECT is((SELECT protector_internal.booking_shape(b) ->> 'local_start'
		   FROM protector.bookings b WHERE id = '0a210000-0000-4000-8000-0000000b0003'),
	'2027-06-02T00:00:00', 'Kolkata, UTC+05:30: 18:30 UTC is midnight the next day');
SELECT is((SELECT protector_internal.booking_shape(b) -> 'details'
		   FROM protector.bookings b WHERE id = '0a210000-0000-4000-8000-0000000b0001'),
	'{"note": "DST", "tags": ["a", {"b": null}], "z": {"nested": [1, 2.50]}}'::jsonb, 'nested details are kept whole');
SELECT ok((SELECT protector_internal.booking_shape(b) ? 'customer_id' AND protector_internal.booking_shape(b) -> 'customer_id' = 'null'
		   FROM protector.bookings b WHERE id = '0a210000-0000-4000-8000-0000000b0002'),
	'a NULL column is a JSON null, as to_jsonb writes it');
SELECT is((SELECT protector_internal.booking_shape(b, true) -> 'replayed' FROM protector.bookings b
		   WHERE id = '0a210000-0000-4000-8000-0000000b0002'), 'true'::jsonb, 'replayed is a JSON boolean');
SELECT is(protector_internal.booking_shape(NULL), NULL, 'no booking, no shape');
-- money keeps its cents as stored: unit 61.5 stored as 61.50, total 123.45,
-- paid 0.00, balance 123.45 - 0.00 = 123.45
SELECT is((SELECT format('%s %s %s %s', s -> 'unit_price', s -> 'total_price', s -> 'amount_paid', s -> 'balance_due')
		   FROM protector.bookings b, protector_internal.booking_shape(b) s WHERE b.id = '0a210000-0000-4000-8000-0000000b0001'),
	'61.50 123.45 0.00 123.45', 'money keeps its stored scale: 61.50 123.45 0.00 123.45');
-- rows no table holds (the RPCs' RETURNING INTO finds no row, a hand-made
-- row): a missing, empty, unbounded or infinite range gives nulls, as in SQL
SELECT is((SELECT count(*) FROM protector.bookings b,
				 (VALUES (NULL), ('empty'), ('[2027-01-01 10:00+00,)'), ('(,2027-01-01 10:00+00)'),
						 ('[2027-01-01 10:00+00, infinity)'), ('[-infinity, 2027-01-01 10:00+00)')) r(during),
				 LATERAL jsonb_populate_record(b, jsonb_build_object('during', r.during)) x
		   WHERE b.id = '0a210000-0000-4000-8000-0000000b0001'
			 AND protector_internal.booking_shape(x)::text IS DISTINCT FROM pg_temp.shape_ref(x)::text), 0::bigint,
	'a NULL, empty, unbounded or infinite during gives the reference''s nulls');

-- what the shape keeps of the row type (per backend) follows the table: a
-- column added, dropped or renamed in the session is shaped as to_jsonb()
-- shapes it (1.5 stored in the added column's numeric(6,2) is 1.50)
ALTER TABLE protector.bookings ADD COLUMN shape_extra numeric(6,2) DEFAULT 1.5;
SELECT is((SELECT count(*) FROM protector.bookings b
		   WHERE b.organization_id = '0a210000-0000-4000-8000-000000000000'
			 AND protector_internal.booking_shape(b)::text IS DISTINCT FROM pg_temp.shape_ref(b)::text), 0::bigint,
	'a column added in the session is in the shape, as in the reference''s');
SELECT is((SELECT protector_internal.booking_shape(b) -> 'shape_extra' FROM protector.bookings b
		   WHERE b.id = '0a210000-0000-4000-8000-0000000b0001')::text, '1.50', '... with its value');
ALTER TABLE protector.bookings DROP COLUMN shape_extra;
ALTER TABLE protector.bookings RENAME COLUMN details TO shape_details;
SELECT is((SELECT count(*) FROM protector.bookings b
		   WHERE b.organization_id = '0a210000-0000-4000-8000-000000000000'
			 AND protector_internal.booking_shape(b)::text IS DISTINCT FROM pg_temp.shape_ref(b)::text
			 OR protector_internal.booking_shape(b) ? 'shape_extra' OR protector_internal.booking_shape(b) ? 'details'), 0::bigint,
	'a dropped column is gone from the shape and a renamed one has its new name');
ALTER TABLE protector.bookings RENAME COLUMN shape_details TO details;

-- ... and a cast to json created in the session (to_jsonb() uses it for
-- an enum): the shape follows at once
CREATE FUNCTION pg_temp.status_json(protector.booking_status) RETURNS json LANGUAGE sql AS $$
	SELECT json_build_object('code', $1::text)
$$;
SELECT is((SELECT protector_internal.booking_shape(b) ->> 'status' FROM protector.bookings b
		   WHERE b.id = '0a210000-0000-4000-8000-0000000b0001'), 'confirmed', 'before the cast, a status is its label');
CREATE CAST (protector.booking_status AS json) WITH FUNCTION pg_temp.status_json(protector.booking_status);
SELECT is((SELECT count(*) FROM protector.bookings b
		   WHERE b.organization_id = '0a210000-0000-4000-8000-000000000000'
			 AND (protector_internal.booking_shape(b)::text IS DISTINCT FROM pg_temp.shape_ref(b)::text
				  OR protector_internal.booking_shape(b) -> 'status' ->> 'code' IS NULL)), 0::bigint,
	'a cast to json created in the session: the shape uses it, as to_jsonb() does');
DROP CAST (protector.booking_status AS json);

-- the venue is read as the caller: one who cannot see it gets UTC
CREATE TEMP TABLE shape_rows AS
SELECT b FROM protector.bookings b WHERE b.organization_id = '0a210000-0000-4000-8000-000000000000';
GRANT SELECT ON shape_rows TO authenticated;
SET LOCAL ROLE authenticated;
SELECT is((SELECT array_agg(DISTINCT protector_internal.booking_shape(r.b) ->> 'timezone') FROM shape_rows r),
	ARRAY['UTC'], 'a caller who cannot see the venues gets UTC times');
SELECT is((SELECT count(*) FROM shape_rows r
		   WHERE protector_internal.booking_shape(r.b)::text IS DISTINCT FROM pg_temp.shape_ref(r.b)::text), 0::bigint,
	'... as the reference did');
RESET ROLE;

-- a booking lies within the years 1 to 9999, where every local date of
-- the product lives (one moved to 294276 AD was taken, and then broke its
-- review task's local time with a bare 22008 in a UTC+14 venue)
SELECT throws_ok($$UPDATE protector.bookings SET during = '[294276-12-31 22:00+00, 294276-12-31 23:00+00)'
				   WHERE id = '0a210000-0000-4000-8000-0000000b0001'$$,
	'23514', NULL, 'a booking in 294276 AD is refused by its CHECK');
SELECT ok(NOT protector_internal.during_is_bounded('[0001-01-01 10:00+00, 0001-01-01 11:00+00)')
		  AND protector_internal.during_is_bounded('[9999-12-30 10:00+00, 9999-12-30 11:00+00)'),
	'the first day of year 1 is out (a day inside, in UTC), the 30th December 9999 in');

SELECT * FROM finish();
ROLLBACK;
