-- The booking RPCs as a trusted caller (admin SQL / service_role): every
-- rule, every error, every transition.  Dates are relative to today.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
-- terse: messages only; their details name dates that move with today
\set VERBOSITY terse
\set SHOW_CONTEXT never

INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES
	('0c000000-0000-4000-8000-000000000000', 'Lockbox', 'lockbox-rpc', 'Europe/Berlin', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0c000000-0000-4000-8000-0000000000c1', '0c000000-0000-4000-8000-000000000000', 'Mitte', 'Europe/Berlin',
	 '{"mon": [["10:00", "22:00"]], "tue": [["10:00", "22:00"]], "wed": [["10:00", "22:00"]],
	   "thu": [["10:00", "22:00"]], "fri": [["10:00", "22:00"]]}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, buffer_after,
								capacity, min_party, max_party, price, price_per_person, currency, min_notice, max_advance, settings) VALUES
	('0c000000-0000-4000-8000-00000000c5a1', '0c000000-0000-4000-8000-000000000000', '0c000000-0000-4000-8000-0000000000c1',
	 'The Vault', '60 minutes', '30 minutes', '15 minutes', 6, 2, 6, 20, 25, 'EUR', '2 hours', '180 days',
	 '{"refund_policy": {"full_refund_hours": 48, "late_refund_percent": 50}}');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0c000000-0000-4000-8000-00000000c0c1', '0c000000-0000-4000-8000-000000000000', 'Cora');

-- a Monday four weeks ahead, in Berlin
SELECT (date_trunc('week', now() AT TIME ZONE 'Europe/Berlin') + interval '4 weeks')::date AS mon \gset
SELECT set_config('protector_test.monday', :'mon', false) IS NOT NULL AS ok;
CREATE FUNCTION pg_temp.at(p_day_offset int, p_time text) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT ((current_setting('protector_test.monday')::date + p_day_offset) || ' ' || p_time)::timestamp
		   AT TIME ZONE 'Europe/Berlin'
$$;
CREATE TEMP VIEW mine AS
	SELECT * FROM protector.bookings WHERE organization_id = '0c000000-0000-4000-8000-000000000000';
CREATE FUNCTION pg_temp.local(j jsonb) RETURNS text LANGUAGE sql AS $$
	SELECT format('%s %s %s-%s party %s total %s%s', j ->> 'status',
				  to_char(lower((j ->> 'during')::tstzrange) AT TIME ZONE 'Europe/Berlin', 'Dy'),
				  to_char(lower((j ->> 'during')::tstzrange) AT TIME ZONE 'Europe/Berlin', 'HH24:MI'),
				  to_char(upper((j ->> 'during')::tstzrange) AT TIME ZONE 'Europe/Berlin', 'HH24:MI'),
				  j ->> 'party_size', j ->> 'total_price',
				  CASE WHEN (j ->> 'replayed')::boolean THEN ' (replayed)' ELSE '' END)
$$;

-- create: end from duration, price = 20 + 25 x party
SELECT pg_temp.local(protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', '0c000000-0000-4000-8000-00000000c0c1',
	pg_temp.at(0, '10:00'), 4, p_idempotency_key => 'device-1/req-1'));
-- the offline device retries the same request: the first booking, unchanged
SELECT pg_temp.local(protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', '0c000000-0000-4000-8000-00000000c0c1',
	pg_temp.at(0, '10:00'), 4, p_idempotency_key => 'device-1/req-1'));
SELECT pg_temp.local(protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL,
	pg_temp.at(0, '12:00'), 6, p_idempotency_key => 'device-1/req-1'));
SELECT count(*) AS bookings_with_that_key FROM mine WHERE idempotency_key = 'device-1/req-1';
-- taken (the 15 minute buffer after 10:00-11:00 counts)
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '11:00'), 2);
\echo :LAST_ERROR_SQLSTATE

-- every rule
SELECT protector.create_booking(NULL, NULL, pg_temp.at(0, '14:00'), 2);
SELECT protector.create_booking('0c000000-0000-4000-8000-0000000fffff', NULL, pg_temp.at(0, '14:00'), 2);
\echo :LAST_ERROR_SQLSTATE
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, NULL, 2);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, 'infinity', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '14:00'), NULL);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '14:00'), 0);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '14:00'), -3);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '14:00'), 1);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '14:00'), 2147483647);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '14:10'), 2);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '21:30'), 2);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(5, '14:00'), 2);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, now() - interval '1 day', 2);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, now() + interval '30 minutes', 2);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, now() + interval '3 years', 2);
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '14:00'), 2, p_details => '[1, 2]');
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '14:00'), 2,
	p_details => jsonb_build_object('blob', repeat(md5('x'), 5000)));
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '14:00'), 2, p_idempotency_key => '');
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', '0c000000-0000-4000-8000-0000000fffff', pg_temp.at(0, '14:00'), 2);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on, reason)
VALUES ('0c000000-0000-4000-8000-000000000000', '0c000000-0000-4000-8000-0000000000c1', :'mon'::date + 1, 'Inventory');
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(1, '14:00'), 2);
UPDATE protector.services SET active = false WHERE id = '0c000000-0000-4000-8000-00000000c5a1';
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(0, '14:00'), 2);
UPDATE protector.services SET active = true WHERE id = '0c000000-0000-4000-8000-00000000c5a1';

-- holds: occupy for p_hold_minutes, then confirm
SELECT pg_temp.local(protector.hold_slot('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(2, '18:00'), 3)) AS held;
-- (counted by the clock from the moment it is made: a few microseconds
-- after the transaction's start, created_at)
SELECT date_trunc('minute', hold_expires_at - created_at) AS hold_lasts FROM mine WHERE status = 'held';
SELECT protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(2, '18:00'), 2);
SELECT pg_temp.local(protector.confirm_booking(id)) AS confirmed FROM mine WHERE status = 'held';
SELECT protector.hold_slot('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(2, '20:00'), 2, p_hold_minutes => 0);
SELECT protector.confirm_booking(NULL);
SELECT protector.confirm_booking('0c000000-0000-4000-8000-0000000fffff');
\echo :LAST_ERROR_SQLSTATE

-- reschedule: atomic, the booking keeps its slot when the new one is taken
SELECT pg_temp.local(protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(3, '10:00'), 2,
	p_idempotency_key => 'move-me'));
SELECT pg_temp.local(protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(3, '12:00'), 2));
SELECT protector.reschedule_booking(id, pg_temp.at(3, '12:30')) FROM mine WHERE idempotency_key = 'move-me';
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.local(to_jsonb(b)) AS still FROM mine b WHERE idempotency_key = 'move-me';
SELECT pg_temp.local(protector.reschedule_booking(id, pg_temp.at(3, '15:00'))) AS moved
FROM mine WHERE idempotency_key = 'move-me';
SELECT protector.reschedule_booking(id, pg_temp.at(3, '15:10')) FROM mine WHERE idempotency_key = 'move-me';

-- cancel: refund by policy (full refund until 48 hours before)
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status)
SELECT organization_id, id, 70, 'EUR', 'succeeded' FROM mine WHERE idempotency_key = 'move-me';
SELECT j ->> 'status' AS status, j ->> 'refund_amount' AS refund, j ->> 'refund_percent' AS percent
FROM mine b, protector.cancel_booking(b.id, 'Customer asked') j WHERE idempotency_key = 'move-me';
-- a retried cancel refunds nothing more
SELECT j ->> 'already_cancelled' AS again, j ->> 'refund_amount' AS refund
FROM mine b, protector.cancel_booking(b.id, 'Customer asked') j WHERE idempotency_key = 'move-me';
SELECT kind, amount, status FROM protector.payments WHERE organization_id = '0c000000-0000-4000-8000-000000000000' ORDER BY created_at, kind;
-- the slot is free again
SELECT pg_temp.local(protector.create_booking('0c000000-0000-4000-8000-00000000c5a1', NULL, pg_temp.at(3, '15:00'), 2));
SELECT protector.cancel_booking(NULL);
SELECT protector.cancel_booking(id, repeat('x', 2001)) FROM mine WHERE status = 'confirmed' LIMIT 1;

-- batch status changes: the state machine, all or nothing
SELECT protector.update_booking_status_batch(array_agg(id), 'in_progress')
FROM mine WHERE status = 'confirmed' AND lower(during) < pg_temp.at(3, '00:00');
SELECT protector.update_booking_status_batch(array_agg(id ORDER BY lower(during)), 'completed')
FROM mine WHERE status IN ('in_progress', 'cancelled');
SELECT status, count(*) FROM mine GROUP BY status ORDER BY status;
SELECT protector.update_booking_status_batch(array_agg(id), 'completed')
FROM mine WHERE status = 'in_progress';
SELECT protector.update_booking_status_batch(array_agg(id), 'completed')
FROM mine WHERE status = 'completed';
SELECT protector.update_booking_status_batch('{}', 'confirmed');
SELECT protector.update_booking_status_batch(NULL, 'confirmed');
SELECT protector.update_booking_status_batch(ARRAY[NULL::uuid], 'confirmed');
SELECT protector.update_booking_status_batch(ARRAY['0c000000-0000-4000-8000-0000000fffff'::uuid], 'confirmed');
\echo :LAST_ERROR_SQLSTATE
SELECT protector.update_booking_status_batch(ARRAY(SELECT gen_random_uuid() FROM generate_series(1, 1001)), 'confirmed');
-- the whole table of docs/bookings.md, not a count of it (a mutation that
-- swapped one allowed pair for another kept the counts)
SELECT f AS from_status, string_agg(t::text, ', ' ORDER BY t) AS may_become
FROM unnest(enum_range(NULL::protector.booking_status)) f, unnest(enum_range(NULL::protector.booking_status)) t
WHERE protector.booking_transition_allowed(f, t) AND f <> t
GROUP BY f ORDER BY f;
SELECT bool_and(protector.booking_transition_allowed(s, s)) AS same_status_allowed
FROM unnest(enum_range(NULL::protector.booking_status)) s;
