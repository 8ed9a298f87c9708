-- The public booking widget, called as anon the way PostgREST does.
BEGIN;
SELECT plan(46);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['g_operator']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a700000-0000-4000-8000-000000000000', 'A', 'widget-a'), ('0b700000-0000-4000-8000-000000000000', 'B', 'widget-b');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a700000-0000-4000-8000-000000000000', tests.get_supabase_uid('g_operator'), 'operator');
INSERT INTO protector.venues (id, organization_id, name, timezone, address, widget_settings) VALUES
	('0a700000-0000-4000-8000-0000000000a1', '0a700000-0000-4000-8000-000000000000', 'Lockbox', 'Europe/Berlin', 'Main St 1', '{"bookings_per_minute": 4}'),
	('0a700000-0000-4000-8000-0000000000a2', '0a700000-0000-4000-8000-000000000000', 'Closed', 'UTC', NULL, '{}'),
	('0b700000-0000-4000-8000-0000000000a1', '0b700000-0000-4000-8000-000000000000', 'Other', 'UTC', NULL, '{}');
UPDATE protector.venues SET active = false WHERE id = '0a700000-0000-4000-8000-0000000000a2';
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, price, max_party, capacity, mode, active) VALUES
	('0a700000-0000-4000-8000-0000000005a1', '0a700000-0000-4000-8000-000000000000', '0a700000-0000-4000-8000-0000000000a1',
	 'Vault', '60 minutes', '60 minutes', '400 days', 20, 6, 1, 'exclusive', true),
	('0a700000-0000-4000-8000-0000000005a2', '0a700000-0000-4000-8000-000000000000', '0a700000-0000-4000-8000-0000000000a1',
	 'Retired', '60 minutes', '60 minutes', '400 days', 20, 6, 1, 'exclusive', false),
	('0b700000-0000-4000-8000-0000000005a1', '0b700000-0000-4000-8000-000000000000', '0b700000-0000-4000-8000-0000000000a1',
	 'Elsewhere', '60 minutes', '60 minutes', '400 days', 20, 6, 1, 'exclusive', true);
INSERT INTO protector.customers (organization_id, full_name, email) VALUES
	('0a700000-0000-4000-8000-000000000000', 'Ana Existing', 'Ana@Example.com');
CREATE TEMP TABLE keys AS
SELECT v.name, v.embed_key AS key FROM protector.venues v WHERE v.name IN ('Lockbox', 'Closed', 'Other')
UNION ALL SELECT 'nobody', protector.generate_embed_key();
CREATE FUNCTION pg_temp.k(p text) RETURNS text LANGUAGE sql STABLE AS $$ SELECT key FROM keys WHERE name = p $$;
CREATE FUNCTION pg_temp.t(h int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('day', now()) + interval '3 days' + h * interval '1 hour'
$$;
GRANT SELECT ON keys TO anon, authenticated;
GRANT EXECUTE ON FUNCTION pg_temp.k(text), pg_temp.t(int) TO anon, authenticated;

SELECT tests.authenticate_as_anon();

-- the venue and its services
SELECT is(protector.get_venue_by_embed_key(pg_temp.k('Lockbox')) ->> 'name', 'Lockbox', 'anon reads the venue by its key');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(protector.get_venue_by_embed_key(pg_temp.k('Lockbox'))) k),
	'{address,branding,city,country,description,name,operating_hours,postal_code,region,timezone,widget_settings}'::text[],
	'... public fields only: no ids, no organization, no members');
SELECT is((SELECT array_agg(s ->> 'name') FROM jsonb_array_elements(protector.get_venue_services(pg_temp.k('Lockbox'))) s),
	'{Vault}'::text[], 'the venue''s active services only');
SELECT ok((SELECT count(*) > 0 FROM protector.get_widget_slots(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	(pg_temp.t(0))::date)), 'free slots of a service');

-- one uniform error for every bad key
SELECT throws_ok($$SELECT protector.get_venue_by_embed_key('pk_nonsense')$$, 'P0002', 'unknown embed key', 'a malformed key');
SELECT throws_ok($$SELECT protector.get_venue_by_embed_key(pg_temp.k('nobody'))$$, 'P0002', 'unknown embed key',
	'a well-formed key of no venue');
SELECT throws_ok($$SELECT protector.get_venue_by_embed_key(pg_temp.k('Closed'))$$, 'P0002', 'unknown embed key', 'an inactive venue''s key');
SELECT throws_ok($$SELECT protector.get_venue_by_embed_key(NULL)$$, 'P0002', 'unknown embed key', 'no key');
SELECT throws_ok($$SELECT protector.get_venue_by_embed_key(repeat('x', 100000))$$, 'P0002', 'unknown embed key', 'a huge key');
SELECT throws_ok($$SELECT * FROM protector.get_widget_slots(pg_temp.k('Lockbox'), '0b700000-0000-4000-8000-0000000005a1', current_date)$$,
	'P0002', 'service not found', 'another organization''s service is not reachable through this key');
SELECT throws_ok($$SELECT * FROM protector.get_widget_slots(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a2', current_date)$$,
	'P0002', 'service not found', 'an inactive service neither');

-- booking
CREATE TEMP TABLE r (name text, result jsonb);
GRANT ALL ON r TO anon, authenticated;
INSERT INTO r SELECT 'first', protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	'Ana', ' ANA@example.COM ', '+49 30 123456', pg_temp.t(10), 2, 'visit-1');
SELECT is((SELECT result ->> 'status' FROM r WHERE name = 'first'), 'held', 'a visitor books: a hold until staff confirm');
SELECT is((SELECT array_agg(k ORDER BY k) FROM r, jsonb_object_keys(result) k WHERE name = 'first'),
	'{amount_paid,balance_due,currency,deposit_amount,discount_amount,end,hold_expires_at,id,local_end,local_start,party_size,payment_due_by,replayed,service,start,status,timezone,total_price}'::text[],
	'the answer: the booking shape''s public fields (id, status, times, price, what is owed); nothing about the customer');
INSERT INTO r SELECT 'retry', protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	'Ana', 'ana@example.com', NULL, pg_temp.t(10), 2, 'visit-1');
SELECT is((SELECT result ->> 'id' FROM r WHERE name = 'retry'), (SELECT result ->> 'id' FROM r WHERE name = 'first'),
	'the retried request returns the same booking');
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	'Eve', 'eve@example.com', NULL, pg_temp.t(10), 1, 'visit-1')$$, '23P01', NULL,
	'another visitor with the same request key gets no replay of Ana''s booking, and the slot is taken');
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	repeat('n', 201), 'x@example.com', NULL, pg_temp.t(11), 1)$$, '22023', NULL, 'a name over 200 characters');
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	'X', 'not-an-email', NULL, pg_temp.t(11), 1)$$, '22023', NULL, 'a malformed email');
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	'X', 'x@example.com', 'call me maybe', pg_temp.t(11), 1)$$, '22023', NULL, 'a malformed phone number');
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	'X', 'x@example.com', NULL, pg_temp.t(11), 1, NULL,
	jsonb_build_object('blob', repeat('x', 10 * 1024 * 1024)))$$, '22023', NULL, '10 MB of details');
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	'X', 'x@example.com', NULL, pg_temp.t(11), 99)$$, '22023', NULL, 'a party too large');

-- the rate limit: 4 per minute for this venue (the first booking counts)
INSERT INTO r SELECT 'b' || h, protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	'Visitor ' || h, 'v' || h || '@example.com', NULL, pg_temp.t(h), 1) FROM generate_series(12, 14) h;
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	'Visitor 15', 'v15@example.com', NULL, pg_temp.t(15), 1)$$, '53400', NULL, 'the fifth booking within a minute is refused');
SET LOCAL protector.http_errors = on;
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	'Visitor 15', 'v15@example.com', NULL, pg_temp.t(15), 1)$$, 'PT429', NULL, '... as HTTP 429 through PostgREST');
RESET protector.http_errors;

SELECT tests.clear_authentication();
UPDATE protector.venues SET widget_settings = '{"bookings_per_minute": 0}' WHERE id = '0a700000-0000-4000-8000-0000000000a1';
SELECT tests.authenticate_as_anon();
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
	'Visitor 16', 'v16@example.com', NULL, pg_temp.t(16), 1)$$, '42501', 'this venue does not take bookings through its widget',
	'a limit of 0 turns widget booking off');
-- (a review of the fifty-fourth stop: its slots were listed, each refused)
SELECT is((SELECT count(*) FROM protector.get_widget_slots(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-0000000005a1',
												   (pg_temp.t(0))::date)), 0::bigint,
	'... and lists no slots');
SELECT throws_ok($$SELECT * FROM protector.get_widget_slots(pg_temp.k('Lockbox'), '0a700000-0000-4000-8000-00000000ffff', current_date)$$,
	'P0002', 'service not found', '... while a service it does not offer is still named as such');

-- anon reaches nothing else
SELECT throws_ok($$SELECT * FROM protector.bookings$$, '42501', NULL, 'anon cannot read bookings');
SELECT throws_ok($$SELECT * FROM protector.customers$$, '42501', NULL, 'anon cannot read customers');
SELECT tests.clear_authentication();
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text)
		   FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
		   JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'protector'
		   WHERE has_function_privilege('anon', p.oid, 'EXECUTE')),
	ARRAY['protector.create_widget_booking(text,uuid,text,text,text,timestamp with time zone,integer,text,jsonb,text,text)',
		  'protector.get_venue_by_embed_key(text)', 'protector.get_venue_services(text)',
		  'protector.get_widget_slots(text,uuid,date,date)'],
	'the widget functions are the only ones anon may execute');

-- the returning customer was recognized; the desk sees the booking
SELECT is((SELECT count(*)::int FROM protector.customers WHERE lower(email) = 'ana@example.com'), 1,
	'the visitor was matched to the existing customer by email, whatever the case');
SELECT tests.authenticate_as('g_operator');
SELECT is((SELECT source::text FROM protector.bookings WHERE id = (SELECT (result ->> 'id')::uuid FROM r WHERE name = 'first')),
	'widget', 'the operator sees the widget booking');

-- a request key is the visitor's at one venue: the same key at another
-- venue of the organization books there (it replayed the first venue's
-- booking under the second's service name)
SELECT tests.clear_authentication();
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a700000-0000-4000-8000-0000000000a3', '0a700000-0000-4000-8000-000000000000', 'Annex', 'UTC'),
	('0a700000-0000-4000-8000-0000000000a4', '0a700000-0000-4000-8000-000000000000', 'Loft', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, price, max_party, capacity, mode) VALUES
	('0a700000-0000-4000-8000-0000000005a3', '0a700000-0000-4000-8000-000000000000', '0a700000-0000-4000-8000-0000000000a3',
	 'Annex room', '60 minutes', '60 minutes', '400 days', 20, 6, 1, 'exclusive'),
	('0a700000-0000-4000-8000-0000000005a4', '0a700000-0000-4000-8000-000000000000', '0a700000-0000-4000-8000-0000000000a4',
	 'Loft room', '60 minutes', '60 minutes', '400 days', 20, 6, 1, 'exclusive');
INSERT INTO keys SELECT name, embed_key FROM protector.venues WHERE name IN ('Annex', 'Loft');
SELECT tests.authenticate_as_anon();
INSERT INTO r SELECT 'venue1', protector.create_widget_booking(pg_temp.k('Loft'), '0a700000-0000-4000-8000-0000000005a4',
	'Kai', 'kai@example.com', NULL, pg_temp.t(40), 1, 'same-key');
INSERT INTO r SELECT 'venue2', protector.create_widget_booking(pg_temp.k('Annex'), '0a700000-0000-4000-8000-0000000005a3',
	'Kai', 'kai@example.com', NULL, pg_temp.t(40), 1, 'same-key');
SELECT is((SELECT format('%s %s', result ->> 'service', result ->> 'replayed') FROM r WHERE name = 'venue2'), 'Annex room false',
	'the same request key at another venue books there');
SELECT isnt((SELECT result ->> 'id' FROM r WHERE name = 'venue2'), (SELECT result ->> 'id' FROM r WHERE name = 'venue1'),
	'... a booking of its own');
-- ... while a retry of the key at the same venue naming another of its
-- services replays the booking under its own service's name (it was
-- answered with the service the retry named)
SELECT tests.clear_authentication();
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, price, max_party, capacity, mode) VALUES
	('0a700000-0000-4000-8000-0000000005a5', '0a700000-0000-4000-8000-000000000000', '0a700000-0000-4000-8000-0000000000a4',
	 'Loft studio', '60 minutes', '60 minutes', '400 days', 10, 6, 1, 'exclusive');
SELECT tests.authenticate_as_anon();
SELECT is((SELECT format('%s %s %s', b ->> 'service', b ->> 'replayed', b ->> 'id' = (SELECT result ->> 'id' FROM r WHERE name = 'venue1'))
		   FROM protector.create_widget_booking(pg_temp.k('Loft'), '0a700000-0000-4000-8000-0000000005a5',
												'Kai', 'kai@example.com', NULL, pg_temp.t(42), 1, 'same-key') b),
	'Loft room true t', 'a retry naming the venue''s other service: the Loft room booking, under its own name');
-- phones of 3 to 40 characters, a leading + counted (40 digits were
-- refused, and "+12")
SELECT lives_ok($$SELECT protector.create_widget_booking(pg_temp.k('Loft'), '0a700000-0000-4000-8000-0000000005a5',
	'Pho', 'pho1@example.com', repeat('1', 40), pg_temp.t(44), 1)$$, 'a phone of 40 digits');
SELECT lives_ok($$SELECT protector.create_widget_booking(pg_temp.k('Loft'), '0a700000-0000-4000-8000-0000000005a5',
	'Pho', 'pho2@example.com', '+12', pg_temp.t(45), 1)$$, '... and "+12", 3 characters');
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Loft'), '0a700000-0000-4000-8000-0000000005a5',
	'Pho', 'pho3@example.com', repeat('1', 41), pg_temp.t(46), 1)$$, '22023', 'p_customer_phone is not a phone number',
	'... but not 41');
-- an address and a phone padded with a no-break or an ideographic space
-- (pasted, or typed with an IME) are an address and a phone
SELECT lives_ok($$SELECT protector.create_widget_booking(pg_temp.k('Loft'), '0a700000-0000-4000-8000-0000000005a5',
	'Yui', E'yui@example.jp\u3000', E'03-1234-5678\u3000', pg_temp.t(47), 1)$$, 'an address and a phone padded by an IME');
SELECT lives_ok($$SELECT protector.create_widget_booking(pg_temp.k('Loft'), '0a700000-0000-4000-8000-0000000005a5',
	'Ana', E'\u00a0ana.l@example.com', NULL, pg_temp.t(48), 1)$$, '... and one pasted with a no-break space');
SELECT throws_like($$SELECT protector.create_widget_booking(pg_temp.k('Loft'), '0a700000-0000-4000-8000-0000000005a5',
	'Ana', E'ana.m@example.com\n', NULL, pg_temp.t(49), 1)$$, '%control%', '... but a line break at an end is still refused');
-- spaces at the ends count against the limits (a name, e-mail or phone
-- padded with megabytes of spaces was trimmed and scanned for seconds,
-- then accepted)
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Loft'), '0a700000-0000-4000-8000-0000000005a5',
	'A' || repeat(' ', 200), 'pad1@example.com', NULL, pg_temp.t(50), 1)$$, '22023', 'p_customer_name must be 1 to 200 characters',
	'a name of 1 letter and 200 spaces is over 200 characters');
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Loft'), '0a700000-0000-4000-8000-0000000005a5',
	'Pad', 'pad2@example.com' || repeat(chr(12288), 305), NULL, pg_temp.t(50), 1)$$, '22023', 'p_customer_email is not an email address',
	'... an e-mail of 16 characters and 305 ideographic spaces is over 320');
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Loft'), '0a700000-0000-4000-8000-0000000005a5',
	'Pad', 'pad3@example.com', '+12' || repeat(' ', 38), pg_temp.t(50), 1)$$, '22023', 'p_customer_phone is not a phone number',
	'... a phone of 3 characters and 38 spaces is over 40');

-- a guest record merged while a visitor's booking is being made (the desk
-- committed between the widget's look-up and the booking's check; here a
-- trigger merges it at that moment): a retry, without record ids (anon
-- was told "customer ... was merged into ...")
SELECT tests.clear_authentication();
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a700000-0000-4000-8000-00000000c0a1', '0a700000-0000-4000-8000-000000000000', 'Mo', 'mo@example.com'),
	('0a700000-0000-4000-8000-00000000c0a2', '0a700000-0000-4000-8000-000000000000', 'Mo Kept', 'mo.kept@example.com');
CREATE FUNCTION pg_temp.merge_meanwhile() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
	UPDATE protector.customers SET merged_into = '0a700000-0000-4000-8000-00000000c0a2'
	WHERE id = '0a700000-0000-4000-8000-00000000c0a1' AND NEW.customer_id = id;
	RETURN NEW;
END $$;
CREATE TRIGGER a_merge_meanwhile BEFORE INSERT ON protector.bookings FOR EACH ROW EXECUTE FUNCTION pg_temp.merge_meanwhile();
SELECT tests.authenticate_as_anon();
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Annex'), '0a700000-0000-4000-8000-0000000005a3',
	'Mo', 'mo@example.com', NULL, pg_temp.t(41), 1)$$, '40001', 'the guest record changed while the booking was made',
	'a guest merged while the visitor books: a retry, no record ids');
SELECT tests.clear_authentication();
DROP TRIGGER a_merge_meanwhile ON protector.bookings;

-- ... and one deleted so: the same (anon was told "customer not found":
-- the address had been a guest's)
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a700000-0000-4000-8000-00000000c0a3', '0a700000-0000-4000-8000-000000000000', 'Di', 'di@example.com');
CREATE FUNCTION pg_temp.delete_meanwhile() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
	DELETE FROM protector.customers WHERE id IN ('0a700000-0000-4000-8000-00000000c0a3', '0a700000-0000-4000-8000-00000000c0a4')
	  AND NEW.customer_id = id;
	RETURN NEW;
END $$;
CREATE TRIGGER a_delete_meanwhile BEFORE INSERT ON protector.bookings FOR EACH ROW EXECUTE FUNCTION pg_temp.delete_meanwhile();
SELECT tests.authenticate_as_anon();
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Annex'), '0a700000-0000-4000-8000-0000000005a3',
	'Di', 'di@example.com', NULL, pg_temp.t(42), 1)$$, '40001', 'the guest record changed while the booking was made',
	'a guest deleted while the visitor books: a retry, no record ids');
SELECT tests.clear_authentication();
-- (the widget's answer whoever calls it: it is granted to service_role too)
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0a700000-0000-4000-8000-00000000c0a4', '0a700000-0000-4000-8000-000000000000', 'Dee', 'dee@example.com');
SELECT pg_temp.k('Annex') AS annex_key, pg_temp.t(43) AS annex_slot \gset
SELECT tests.authenticate_as_service_role();
SELECT throws_ok(format($$SELECT protector.create_widget_booking(%L, '0a700000-0000-4000-8000-0000000005a3',
	'Dee', 'dee@example.com', NULL, %L, 1)$$, :'annex_key', :'annex_slot'), '40001', 'the guest record changed while the booking was made',
	'... also through service_role');
SELECT tests.clear_authentication();
DROP TRIGGER a_delete_meanwhile ON protector.bookings;

-- the organization deleted while a visitor books (last: it takes every
-- row of this test's organization): "service not found", not a bare
-- 23503 naming the organization's id to an anonymous caller
CREATE FUNCTION pg_temp.organization_gone() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
	DELETE FROM protector.organizations WHERE id = NEW.organization_id;
	RETURN NEW;
END $$;
CREATE TRIGGER a_organization_gone BEFORE INSERT ON protector.bookings FOR EACH ROW EXECUTE FUNCTION pg_temp.organization_gone();
SELECT tests.authenticate_as_anon();
SELECT throws_ok($$SELECT protector.create_widget_booking(pg_temp.k('Annex'), '0a700000-0000-4000-8000-0000000005a3',
	'Eve', 'eve@example.com', NULL, pg_temp.t(44), 1)$$, 'P0002', 'service not found',
	'a visitor booking while the organization is deleted is told the service is gone');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
