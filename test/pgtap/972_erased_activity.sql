-- An erasure reaches what staff logged of the customer (an attack review,
-- the fifty-fourth stop): a desk entry of log_staff_activity naming the
-- customer's record or booking kept their name, address and phone after
-- erase_customer, and the append-only log let nobody but service_role
-- take it out.  An entry naming one of the person's records or bookings
-- (one once theirs: written while it was) keeps its action, time, member
-- and the ids at its top level; in the history too.
BEGIN;
SELECT plan(18);

SELECT tests.create_supabase_user('ea_owner') \g /dev/null
SELECT protector.enable_audit('protector.staff_activity') \g /dev/null
INSERT INTO protector.organizations (id, name, slug, timezone) VALUES
	('0a972000-0000-4000-8000-00000000000a', 'Erased activity', 'erased-activity', 'UTC');
INSERT INTO protector.members (id, organization_id, user_id, role) VALUES
	('0a972000-0000-4000-8000-0000000000f1', '0a972000-0000-4000-8000-00000000000a', tests.get_supabase_uid('ea_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a972000-0000-4000-8000-0000000000a1', '0a972000-0000-4000-8000-00000000000a', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode, price)
VALUES ('0a972000-0000-4000-8000-0000000005a1', '0a972000-0000-4000-8000-00000000000a', '0a972000-0000-4000-8000-0000000000a1',
		'S', '60 minutes', '60 minutes', '400 days', 10, 'shared', 100);
INSERT INTO protector.customers (id, organization_id, full_name, email, phone) VALUES
	('0a972000-0000-4000-8000-0000000000c1', '0a972000-0000-4000-8000-00000000000a', 'Zelda Quirk', 'zelda@example.com', '+49 30 999888'),
	('0a972000-0000-4000-8000-0000000000c2', '0a972000-0000-4000-8000-00000000000a', 'Dora Other', 'dora@example.com', NULL);
SELECT tests.authenticate_as('ea_owner');
-- Zelda's booking, and one that was Dora's before it was handed to Zelda
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, party_size) VALUES
	('0a972000-0000-4000-8000-0000000000b1', '0a972000-0000-4000-8000-00000000000a', '0a972000-0000-4000-8000-0000000000a1',
	 '0a972000-0000-4000-8000-0000000005a1', '0a972000-0000-4000-8000-0000000000c1',
	 tstzrange(date_trunc('hour', now()) + interval '2 days', date_trunc('hour', now()) + interval '2 days 1 hour'), 1),
	('0a972000-0000-4000-8000-0000000000b2', '0a972000-0000-4000-8000-00000000000a', '0a972000-0000-4000-8000-0000000000a1',
	 '0a972000-0000-4000-8000-0000000005a1', '0a972000-0000-4000-8000-0000000000c2',
	 tstzrange(date_trunc('hour', now()) + interval '3 days', date_trunc('hour', now()) + interval '3 days 1 hour'), 1);
UPDATE protector.bookings SET customer_id = '0a972000-0000-4000-8000-0000000000c1' WHERE id = '0a972000-0000-4000-8000-0000000000b2';

SELECT protector.log_staff_activity('0a972000-0000-4000-8000-00000000000a', 'desk.call',
	jsonb_build_object('customer_id', '0a972000-0000-4000-8000-0000000000c1',
					   'note', 'Zelda Quirk, zelda@example.com, +49 30 999888: allergic to nuts')) AS by_key \gset
SELECT protector.log_staff_activity('0a972000-0000-4000-8000-00000000000a', 'desk.note',
	'{"text": "Called about booking 0A972000-0000-4000-8000-0000000000B1: Zelda is late"}') AS in_text \gset
SELECT protector.log_staff_activity('0a972000-0000-4000-8000-00000000000a', 'desk.note',
	'{"party": {"guests": ["0a972000-0000-4000-8000-0000000000c1", "Zelda''s sister"]}}') AS nested \gset
SELECT protector.log_staff_activity('0a972000-0000-4000-8000-00000000000a', 'desk.call',
	'{"customer_id": "0a972000-0000-4000-8000-0000000000c2", "note": "Dora, fine"}') AS other \gset
SELECT protector.log_staff_activity('0a972000-0000-4000-8000-00000000000a', 'desk.note',
	'{"booking_id": "0a972000-0000-4000-8000-0000000000b2", "note": "Zelda takes it over"}') AS handed_now \gset
SELECT protector.log_staff_activity('0a972000-0000-4000-8000-00000000000a', 'desk.note',
	'{"note": "Zelda Quirk asked for a refund, 0a972000-0000-4000-8000-0000000000c1"}') AS deleted \gset
-- (a review of the first fix: a key of text whose value was the id kept
-- it all, and an id written without hyphens was not seen)
SELECT protector.log_staff_activity('0a972000-0000-4000-8000-00000000000a', 'desk.note',
	'{"Zelda Quirk, zelda@example.com": "0a972000-0000-4000-8000-0000000000c1", "customer_id": "0a972000-0000-4000-8000-0000000000c1"}') AS text_key \gset
SELECT protector.log_staff_activity('0a972000-0000-4000-8000-00000000000a', 'desk.note',
	'{"note": "Zelda Quirk (customer 0A9720000000400080000000000000C1) is allergic"}') AS no_hyphens \gset
-- (a later review: a key of letters that spelled something out kept it,
-- and a run of hex digits was read at every place of it, a number of 70
-- bytes for half a minute)
SELECT protector.log_staff_activity('0a972000-0000-4000-8000-00000000000a', 'desk.note',
	'{"zelda_allergic_to_nuts": "0a972000-0000-4000-8000-0000000000c1", "zelda_quirk_id": "0a972000-0000-4000-8000-0000000000c1",
	  "bookingId": "0a972000-0000-4000-8000-0000000000b1"}') AS spelled \gset
SELECT throws_ok($$SELECT protector.log_staff_activity('0a972000-0000-4000-8000-00000000000a', 'desk.note', '{"n": 1e131071}')$$,
	'22023', 'p_details is too large as text', 'an entry whose number prints 131,072 digits is refused');
SELECT tests.clear_authentication();
-- an entry of the day before, while the booking handed to Zelda was still
-- Dora's, and one deleted since (its history remains)
INSERT INTO protector.staff_activity (organization_id, member_id, action, details, occurred_at)
VALUES ('0a972000-0000-4000-8000-00000000000a', '0a972000-0000-4000-8000-0000000000f1', 'desk.note',
		'{"booking_id": "0a972000-0000-4000-8000-0000000000b2", "note": "Dora booked this"}', now() - interval '1 day')
RETURNING id AS handed_before \gset
DELETE FROM protector.staff_activity WHERE id = :deleted;
-- (and a row of the history, planted by hand, with an impossible time:
-- it failed every erasure of the organization)
INSERT INTO protector.audit_log (organization_id, table_name, record_id, op, new_row)
VALUES ('0a972000-0000-4000-8000-00000000000a', 'protector.staff_activity', '999999', 'INSERT',
		'{"id": 999999, "action": "desk.note", "details": {"customer_id": "0a972000-0000-4000-8000-0000000000c1", "note": "Zelda again"},
		  "occurred_at": "2026-02-30T10:00:00+00:00"}'),
	   ('0a972000-0000-4000-8000-00000000000a', 'protector.staff_activity', '999998', 'INSERT',
		'{"id": 999998, "action": "desk.note", "details": {"booking_id": "0a972000-0000-4000-8000-0000000000b2", "note": "Zelda again"},
		  "occurred_at": "10:00:00"}');

SELECT tests.authenticate_as('ea_owner');
SELECT lives_ok($$SELECT protector.erase_customer('0a972000-0000-4000-8000-0000000000c1')$$,
	'the erasure goes through beside rows of the history with an impossible time, or a bare one');
SELECT tests.clear_authentication();

SELECT is((SELECT details FROM protector.staff_activity WHERE id = :by_key),
	'{"customer_id": "0a972000-0000-4000-8000-0000000000c1"}'::jsonb,
	'an entry naming the erased customer by key keeps the key, not the text');
SELECT is((SELECT format('%s %s %s', action, member_id, occurred_at = now()) FROM protector.staff_activity WHERE id = :by_key),
	'desk.call 0a972000-0000-4000-8000-0000000000f1 t', '... and its action, member and time');
SELECT is((SELECT details FROM protector.staff_activity WHERE id = :in_text), '{}'::jsonb,
	'one naming their booking inside its text, in capitals, keeps nothing of it');
SELECT is((SELECT details FROM protector.staff_activity WHERE id = :nested), '{}'::jsonb,
	'one naming them deep inside keeps nothing of it either');
SELECT is((SELECT details FROM protector.staff_activity WHERE id = :other),
	'{"customer_id": "0a972000-0000-4000-8000-0000000000c2", "note": "Dora, fine"}'::jsonb,
	'an entry about another customer stays whole');
SELECT is((SELECT details FROM protector.staff_activity WHERE id = :handed_now),
	'{"booking_id": "0a972000-0000-4000-8000-0000000000b2"}'::jsonb,
	'one of a booking handed to them, written while it was theirs, keeps the key only');
SELECT is((SELECT details ->> 'note' FROM protector.staff_activity WHERE id = :handed_before), 'Dora booked this',
	'... one written while it was the other customer''s stays');
SELECT is((SELECT details FROM protector.staff_activity WHERE id = :text_key),
	'{"customer_id": "0a972000-0000-4000-8000-0000000000c1"}'::jsonb,
	'a key of text keeps nothing, though its value is an id');
SELECT is((SELECT details FROM protector.staff_activity WHERE id = :no_hyphens), '{}'::jsonb,
	'an id written without hyphens, in capitals, is seen');
SELECT is((SELECT details FROM protector.staff_activity WHERE id = :spelled),
	'{"bookingId": "0a972000-0000-4000-8000-0000000000b1"}'::jsonb, 'only keys that name an id keep their ids');
SELECT cmp_ok((SELECT count(*) FROM protector_internal.text_ids(repeat('ab', 40000))), '=', 0::bigint,
	'a run of 80,000 hex digits is no id');
SELECT is((SELECT count(*) FROM protector_internal.text_ids('0a972000-0000-4000-8000-0000000000c1-0a972000-0000-4000-8000-0000000000b1-1')
		   WHERE text_ids IN ('0a9720000000400080000000000000c1', '0a9720000000400080000000000000b1')), 2::bigint,
	'... while ids joined by hyphens are read, each');
SELECT is((SELECT array_agg(t) FROM protector_internal.text_ids('x{0A972000-0000-4000-8000-0000000000C1}y') t),
	'{0a9720000000400080000000000000c1}'::text[], 'an id in braces and capitals is read as its 32 digits');
SELECT is((SELECT count(*) FROM protector.audit_log
		   WHERE table_name = 'protector.staff_activity' AND organization_id = '0a972000-0000-4000-8000-00000000000a'
			 AND concat(old_row, new_row) ~ '(Zelda|zelda@|999888)'), 0::bigint,
	'the history of those entries, of the deleted one too, keeps none of their text');
SELECT is((SELECT count(*) FROM protector.audit_log
		   WHERE table_name = 'protector.staff_activity' AND organization_id = '0a972000-0000-4000-8000-00000000000a'
			 AND op = 'DELETE' AND record_id = :'deleted' AND old_row -> 'details' = '{}'), 1::bigint,
	'... the deleted entry''s row still there, its details emptied');
SELECT is((SELECT count(*) FROM protector.audit_log
		   WHERE table_name = 'protector.staff_activity' AND organization_id = '0a972000-0000-4000-8000-00000000000a'
			 AND concat(old_row, new_row) ~ '(Dora, fine|Dora booked this)'), 2::bigint,
	'... while the history of the other customer''s entries keeps theirs');

SELECT * FROM finish();
ROLLBACK;
