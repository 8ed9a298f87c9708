-- What a review of time inside transactions found (the sixtieth stop): a
-- service's rules, a hold's length, a deposit's deadline and a reminder's
-- lease were measured from the start of the caller's transaction, so a
-- script's transaction open a while (or a prepared one, a long DO block, a
-- batch function) booked slots that had already ended, came too soon for
-- min_notice, stored a hold over before it was made and a deadline already
-- passed, and handed a worker a lease already run out.  They are judged by
-- the clock now (protector_internal.clock_now(); never before the
-- transaction's start: test/sql/032_procedure_time.sql).  This file is one
-- transaction: the second below passes between its start and the calls.
BEGIN;
SELECT plan(13);
SET LOCAL TimeZone = 'UTC';

SELECT tests.create_supabase_user('st_owner') IS NOT NULL \g /dev/null
SELECT tests.authenticate_as('st_owner');
SELECT protector.create_organization('Clock', 'statement-time', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT protector.create_venue(:'org', 'Hall', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Far', '1 hour', p_slot_interval => '1 hour') ->> 'id' AS far \gset
SELECT protector.create_service(:'venue', 'Near', '1 hour', p_slot_interval => '1 hour') ->> 'id' AS near \gset
SELECT protector.create_service(:'venue', 'Held', '1 hour', p_slot_interval => '1 hour') ->> 'id' AS held \gset
SELECT protector.create_customer(:'org', 'Cara', 'cara@example.com') ->> 'id' AS cara \gset
-- a slot two days ahead: "Far" lets a start be booked until half a second
-- before it, as of the transaction's start; "Near" asks notice up to half
-- a second before it (both as of the transaction's start)
SELECT date_trunc('day', now()) + interval '2 days 10 hours' AS slot \gset
SELECT protector.update_service(:'far', jsonb_build_object('max_advance', (:'slot'::timestamptz - now() - interval '0.5 seconds')::text)) IS NOT NULL AS far_set \gset
SELECT protector.update_service(:'near', jsonb_build_object('min_notice', (:'slot'::timestamptz - now() - interval '0.5 seconds')::text)) IS NOT NULL AS near_set \gset
SELECT pg_sleep(1.1);

SELECT lives_ok(format($$SELECT protector.create_booking(%L, %L, %L, 1)$$, :'far', :'cara', :'slot'),
	'max_advance is judged when the booking is made: a second later the slot is near enough');
SELECT is((SELECT count(*)::int FROM protector.get_available_slots(:'near', (:'slot'::timestamptz)::date) WHERE slot_start = :'slot'),
	0, 'min_notice too: a second later the list leaves the slot out');
SELECT throws_ok(format($$SELECT protector.create_booking(%L, %L, %L, 1)$$, :'near', :'cara', :'slot'),
	'22023', 'p_start is too soon for service "Near"',
	'... and the check agrees: too soon (it was booked, as of the transaction''s start)');

-- a hold lasts its minutes from the moment it is made
SELECT protector.hold_slot(:'held', :'cara', :'slot'::timestamptz, 1, 1) ->> 'id' AS hold, statement_timestamp() AS hold_statement \gset
SELECT is((SELECT tests.taken_since(hold_expires_at - interval '1 minute', :'hold_statement') FROM protector.bookings WHERE id = :'hold'),
	true, 'a hold of a minute ends a minute after it is made, not after the transaction''s start');

-- ... also late in one long statement (a DO block, a batch function)
CREATE FUNCTION pg_temp.late_in_statement(p_service uuid, p_near uuid, p_customer uuid, p_slot timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $f$
DECLARE
	v_hold jsonb;
	v_near text;
BEGIN
	PERFORM protector.update_service(p_near, jsonb_build_object('min_notice',
		(p_slot - interval '1 day' - statement_timestamp() - interval '0.5 seconds')::text));
	PERFORM pg_sleep(1.1);
	v_hold := protector.hold_slot(p_service, p_customer, p_slot + interval '2 hours', 1, 1);
	BEGIN
		PERFORM protector.create_booking(p_near, p_customer, p_slot - interval '1 day', 1);
		v_near := 'booked';
	EXCEPTION WHEN invalid_parameter_value THEN
		v_near := SQLERRM;
	END;
	RETURN jsonb_build_object('hold', v_hold ->> 'id', 'near', v_near);
END
$f$;
SELECT pg_temp.late_in_statement(:'held', :'near', :'cara', :'slot') AS late, statement_timestamp() AS late_statement \gset
SELECT is((SELECT hold_expires_at - interval '1 minute' >= :'late_statement'::timestamptz + interval '1.1 seconds'
		   FROM protector.bookings WHERE id = (:'late'::jsonb ->> 'hold')::uuid),
	true, 'a hold made a second into a statement lasts its minute from then, not from the statement''s start');
SELECT is(:'late'::jsonb ->> 'near', 'p_start is too soon for service "Near"',
	'... and min_notice is judged then: a start near enough at the statement''s start is too soon a second later');

-- a reminder's lease from the claim
SELECT protector.create_booking(:'held', :'cara', :'slot'::timestamptz + interval '1 hour', 1) ->> 'id' AS booked \gset
SELECT protector.send_booking_reminder(:'booked') IS NOT NULL AS queued \gset
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT pg_catalog.array_agg(tests.taken_since(lease_until - interval '10 seconds', statement_timestamp()))
		   FROM protector.claim_due_reminders(10, '10 seconds')),
	ARRAY[true], 'a claimed reminder''s lease runs from the claim');
SELECT is((SELECT lease_until - claimed_at FROM protector.booking_reminders WHERE booking_id = :'booked' AND status = 'sending'),
	interval '10 seconds', '... as its claimed_at says');
SELECT id AS reminder FROM protector.booking_reminders WHERE booking_id = :'booked' AND status = 'sending' \gset
SELECT protector.complete_reminder(:'reminder', true) IS NOT NULL AS completed \gset
SELECT is((SELECT sent_at >= claimed_at FROM protector.booking_reminders WHERE id = :'reminder'), true,
	'... and one reported sent in the same transaction was not sent before it was claimed');
-- a failed attempt waits its whole backoff from the report
SELECT tests.clear_authentication();
SELECT tests.authenticate_as('st_owner');
SELECT protector.create_booking(:'held', :'cara', :'slot'::timestamptz + interval '3 hours', 1) ->> 'id' AS failing \gset
SELECT protector.send_booking_reminder(:'failing') IS NOT NULL AS queued \gset
SELECT tests.authenticate_as_service_role();
SELECT reminder_id AS failing_reminder FROM protector.claim_due_reminders(10, '10 seconds') \gset
SELECT protector.complete_reminder(:'failing_reminder', false, 'smtp 451') IS NOT NULL AS failed \gset
SELECT is((SELECT next_attempt_at >= claimed_at + interval '1 minute' FROM protector.booking_reminders WHERE id = :'failing_reminder'),
	true, 'a failed attempt is tried again a whole minute (its backoff) after it was claimed, at the least');
-- a booking that started while the worker's transaction was open is not
-- reminded of (its reminder expires: "not sent late")
-- (the booking and its reminder moved as legacy data, unchecked, to start
-- half a second after the transaction's start, before the clock now)
SELECT tests.clear_authentication();
SET LOCAL session_replication_role = replica;
UPDATE protector.bookings SET during = tstzrange(now() + interval '0.5 seconds', now() + interval '1 hour') WHERE id = :'failing';
UPDATE protector.booking_reminders SET status = 'pending', next_attempt_at = now(), starts_at = now() + interval '0.5 seconds',
	lease_until = NULL, claimed_at = NULL, claimed_for = NULL, attempts = 0
WHERE id = :'failing_reminder';
SET LOCAL session_replication_role = origin;
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT count(*)::int FROM protector.claim_due_reminders(10, '10 seconds') WHERE reminder_id = :'failing_reminder'), 0,
	'a reminder whose booking started a moment ago, by the clock, is not handed out');
SELECT is((SELECT status FROM protector.booking_reminders WHERE id = :'failing_reminder'), 'expired',
	'... it expired: not sent late');
SELECT tests.clear_authentication();

-- a deposit's deadline from the moment it books
SELECT tests.authenticate_as('st_owner');
SELECT protector.create_service(:'venue', 'Deposit', '1 hour', p_slot_interval => '1 hour', p_price => 100,
								p_settings => '{"deposit": {"percent": 25, "deadline_hours": 1}}') ->> 'id' AS deposit \gset
SELECT protector.create_booking(:'deposit', :'cara', :'slot', 1) ->> 'id' AS owing, statement_timestamp() AS owing_statement \gset
SELECT is((SELECT tests.taken_since(payment_due_by - interval '1 hour', :'owing_statement') FROM protector.bookings WHERE id = :'owing'),
	true, 'a deposit due in an hour is due an hour after the booking is made, not after the transaction''s start');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
