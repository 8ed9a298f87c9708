-- What a review of time inside transactions found (the sixtieth stop): a
-- service's rules, a hold's length, a deposit's deadline and a reminder's
-- lease were measured from the start of the caller's transaction, so a
-- script's transaction open a while (or a prepared one) booked slots that
-- had already ended, came too soon for min_notice, stored a hold over
-- before it was made and a deadline already passed, and handed a worker a
-- lease already run out.  They are measured from the statement that
-- books, holds or claims now (and never from before its transaction:
-- test/sql/032_procedure_time.sql).  This file is one transaction: the
-- second below passes between its start and the calls.
BEGIN;
SELECT plan(8);
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
	'max_advance is measured from the statement: a second later the slot is near enough');
SELECT is((SELECT count(*)::int FROM protector.get_available_slots(:'near', (:'slot'::timestamptz)::date) WHERE slot_start = :'slot'),
	0, 'min_notice is measured from the statement: a second later the list leaves the slot out');
SELECT throws_ok(format($$SELECT protector.create_booking(%L, %L, %L, 1)$$, :'near', :'cara', :'slot'),
	'22023', 'p_start is too soon for service "Near"',
	'... and the check agrees: too soon (it was booked, as of the transaction''s start)');

-- a hold lasts its minutes from the statement that holds
SELECT protector.hold_slot(:'held', :'cara', :'slot'::timestamptz, 1, 1) ->> 'id' AS hold, statement_timestamp() AS hold_statement \gset
SELECT is((SELECT hold_expires_at FROM protector.bookings WHERE id = :'hold'), :'hold_statement'::timestamptz + interval '1 minute',
	'a hold of a minute ends a minute after the statement that holds, not after the transaction''s start');

-- a reminder's lease from the claiming statement
SELECT protector.create_booking(:'held', :'cara', :'slot'::timestamptz + interval '1 hour', 1) ->> 'id' AS booked \gset
SELECT protector.send_booking_reminder(:'booked') IS NOT NULL AS queued \gset
SELECT tests.authenticate_as_service_role();
SELECT is((SELECT pg_catalog.array_agg(lease_until = statement_timestamp() + interval '10 seconds')
		   FROM protector.claim_due_reminders(10, '10 seconds')),
	ARRAY[true], 'a claimed reminder''s lease runs from the claim');
SELECT is((SELECT lease_until - claimed_at FROM protector.booking_reminders WHERE booking_id = :'booked' AND status = 'sending'),
	interval '10 seconds', '... as its claimed_at says');
SELECT id AS reminder FROM protector.booking_reminders WHERE booking_id = :'booked' AND status = 'sending' \gset
SELECT protector.complete_reminder(:'reminder', true) IS NOT NULL AS completed \gset
SELECT is((SELECT sent_at >= claimed_at FROM protector.booking_reminders WHERE id = :'reminder'), true,
	'... and one reported sent in the same transaction was not sent before it was claimed');
SELECT tests.clear_authentication();

-- a deposit's deadline from the statement that books
SELECT tests.authenticate_as('st_owner');
SELECT protector.create_service(:'venue', 'Deposit', '1 hour', p_slot_interval => '1 hour', p_price => 100,
								p_settings => '{"deposit": {"percent": 25, "deadline_hours": 1}}') ->> 'id' AS deposit \gset
SELECT protector.create_booking(:'deposit', :'cara', :'slot', 1) ->> 'id' AS owing, statement_timestamp() AS owing_statement \gset
SELECT is((SELECT payment_due_by FROM protector.bookings WHERE id = :'owing'), :'owing_statement'::timestamptz + interval '1 hour',
	'a deposit due in an hour is due an hour after the statement that books, not after the transaction''s start');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
