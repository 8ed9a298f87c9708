-- Customer intelligence: ICU normalization, duplicates, merge, RFM scores
-- and segments (hand-computed), lifetime value, who may see what.
BEGIN;
SELECT plan(61);

-- normalization
SELECT is(protector.normalize_email('  Zoë@Example.COM '), 'zoë@example.com', 'email: trimmed, case-folded, accents kept');
SELECT is(protector.normalize_email('ＺＯＥ@ＥＸＡＭＰＬＥ.ｃｏｍ'), 'zoe@example.com', 'email: full-width letters fold (NFKC)');
SELECT is(protector.normalize_email('Straße@x.de'), 'strasse@x.de', 'email: ß case-folds to ss');
SELECT is(protector.normalize_email('   '), NULL, 'email: blank is NULL');
SELECT is(protector.normalize_name('Zoë Ångström'), 'zoe angstrom', 'name: accents go');
SELECT is(protector.normalize_name('ZOE   ANGSTROM'), 'zoe angstrom', 'name: case and spaces go');
SELECT is(protector.normalize_name('Зоя'), 'zoa', 'name: Cyrillic is transliterated (Зоя -> zoa, not equal to zoe)');
-- names NFKC calls one are one key: the fold came only after the
-- transliteration, which left compatibility forms alone (a fuzzing review)
SELECT is(protector.normalize_name('㈱ Sato'), protector.normalize_name('(株) Sato'),
	'name: a parenthesized ideograph is its parts ((zhu) sato both)');
SELECT is(protector.normalize_name(U&'M\00B5ller'), 'mmller', 'name: the micro sign is the Greek mu, transliterated (mmller)');
SELECT is(protector.normalize_name(protector.normalize_name(U&'M\00B5ller')), protector.normalize_name(U&'M\00B5ller'),
	'... and normalizing again changes nothing');
SELECT is(protector.normalize_phone('+49 (0)30 1234567'), '+49301234567', 'phone: the (0) after a country code goes');
SELECT is(protector.normalize_phone('030 1234567', 'DE'), '+49301234567', 'phone: a national number gets its country code');
SELECT is(protector.normalize_phone('0049 30 1234567'), '+49301234567', 'phone: 00 is the international prefix');
SELECT is(protector.normalize_phone('(415) 555-0100', 'US'), '+14155550100', 'phone: NANP');
SELECT is(protector.normalize_phone('555-0100'), '5550100', 'phone: without a country, digits only');
SELECT is(protector.normalize_phone('+00 49 151 2345678'), '00491512345678',
	'phone: no country code begins with 0, so +00 49 ... is not written out (it was +00491512345678, handed out for SMS)');
SELECT is(protector.normalize_phone('+030 1234567', 'DE'), '0301234567', '... nor is +030 ..., whatever the country');
SELECT throws_ok($$SELECT protector.normalize_name(repeat('x', 2000))$$, '22023', NULL, 'oversize input is refused');
-- text that grows more than fourfold (U+FDFA is 18 characters in NFKC, a
-- Han syllable up to 7 letters) got ICU's buffer overflow as an error,
-- from an anonymous widget booking's name on to every duplicate search
SELECT is(protector.normalize_name('广东双创装潢窗帘厂') IS NOT NULL AND protector.normalize_name('广东双创装潢窗帘厂') ~ '^[a-z ]+$', true,
	'name: a Chinese business name transliterates (it overflowed ICU''s buffer)');
SELECT is(length(protector.normalize_name(repeat(U&'\FDFA', 20))), 360,
	'name: 20 x U+FDFA (18 characters each after NFKC and transliteration) is normalized whole: 360');
SELECT is(protector.normalize_email(U&'\FDFA@example.com') = protector.normalize_email(normalize(U&'\FDFA', NFKC) || '@example.com'), true,
	'email: U+FDFA folds as NFKC writes it');
SELECT lives_ok($$SELECT protector.normalize_email(repeat(U&'\FDFA', 50) || '@example.com')$$, 'email: 50 x U+FDFA is normalized');
-- a kana repeat mark after a character beyond the basic plane: ICU repeats
-- half of its surrogate pair, which UTF-8 cannot encode
SELECT lives_ok($$SELECT protector.normalize_name('𠮷ゝ')$$, 'name: 𠮷ゝ is normalized (ICU left half a surrogate pair)');
SELECT is(protector.normalize_name(U&'\+02C333\309E') IS NOT NULL, true, '... and U+2C333 U+309E');
SELECT is(length(protector.normalize_email(repeat(U&'\+01D4B6', 300) || '@x.io')), 305,
	'email: 300 characters of 4 bytes and @x.io (1,205 bytes) pass the 320-character limit (was refused as over 1000 bytes)');

-- fixture: organization A (EUR), customers C1..C7, a shared service
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['q_manager', 'q_operator', 'q_finance', 'q_agent', 'q_other']) u;
INSERT INTO protector.organizations (id, name, slug, currency) VALUES
	('0a900000-0000-4000-8000-000000000000', 'A', 'ci-a', 'EUR'), ('0b900000-0000-4000-8000-000000000000', 'B', 'ci-b', 'EUR');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0a900000-0000-4000-8000-000000000000', tests.get_supabase_uid('q_' || r), r::protector.member_role
FROM unnest(ARRAY['manager', 'operator', 'finance', 'agent']) r;
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0b900000-0000-4000-8000-000000000000', tests.get_supabase_uid('q_other'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a900000-0000-4000-8000-0000000000a1', '0a900000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, mode, capacity, max_party) VALUES
	('0a900000-0000-4000-8000-0000000005a1', '0a900000-0000-4000-8000-000000000000', '0a900000-0000-4000-8000-0000000000a1',
	 'Hall', '60 minutes', 'shared', 1000, 10);
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, country, tags) VALUES
	('0a900000-0000-4000-8000-0000000000c1', '0a900000-0000-4000-8000-000000000000', 'Zoë Ångström', 'Zoe@Example.com', '+49 (0)30 1234567', 'DE', '{vip}'),
	('0a900000-0000-4000-8000-0000000000c2', '0a900000-0000-4000-8000-000000000000', 'C Two', 'two@example.com', NULL, NULL, '{}'),
	('0a900000-0000-4000-8000-0000000000c3', '0a900000-0000-4000-8000-000000000000', 'C Three', 'three@example.com', NULL, NULL, '{}'),
	('0a900000-0000-4000-8000-0000000000c4', '0a900000-0000-4000-8000-000000000000', 'C Four', 'four@example.com', NULL, NULL, '{}'),
	('0a900000-0000-4000-8000-0000000000c5', '0a900000-0000-4000-8000-000000000000', 'C Five', 'five@example.com', NULL, NULL, '{}'),
	('0a900000-0000-4000-8000-0000000000c6', '0a900000-0000-4000-8000-000000000000', 'C Six', 'six@example.com', NULL, NULL, '{}'),
	('0a900000-0000-4000-8000-0000000000c7', '0a900000-0000-4000-8000-000000000000', 'C Seven', 'seven@example.com', NULL, NULL, '{}');
-- past bookings: C1 100 days ago; C2 60, 50; C3 50, 40, 30; C4 50..20; C5 50..10; C7 5
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
SELECT ('0a900000-0000-4000-8000-0000000' || c || lpad(d::text, 4, '0'))::uuid,
	   '0a900000-0000-4000-8000-000000000000', '0a900000-0000-4000-8000-0000000000a1', '0a900000-0000-4000-8000-0000000005a1',
	   ('0a900000-0000-4000-8000-0000000000c' || c)::uuid,
	   tstzrange(now() - d * interval '1 day', now() - d * interval '1 day' + interval '1 hour'), 'completed'
FROM (VALUES (1, 100), (2, 60), (2, 50), (3, 50), (3, 40), (3, 30), (4, 50), (4, 40), (4, 30), (4, 20),
			 (5, 50), (5, 40), (5, 30), (5, 20), (5, 10), (7, 5)) x(c, d);
-- payments: C1 10, C2 20, C3 30, C4 40, C5 50 (+ 999 in USD, not counted), C7 100 paid and 150 refunded
INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status)
SELECT '0a900000-0000-4000-8000-000000000000', ('0a900000-0000-4000-8000-0000000' || c || lpad(d::text, 4, '0'))::uuid,
	   k::protector.payment_kind, a, cur, 'succeeded'
FROM (VALUES (1, 100, 'payment', 10, 'EUR'), (2, 50, 'payment', 20, 'EUR'), (3, 30, 'payment', 30, 'EUR'),
			 (4, 20, 'payment', 40, 'EUR'), (5, 10, 'payment', 50, 'EUR'), (7, 5, 'payment', 100, 'EUR')) x(c, d, k, a, cur);
-- what the ledger now refuses (another currency, a refund beyond what was
-- paid) may still be in a database: imported with triggers off, or from
-- 0.1.0.  Analytics must not count it either.
SET LOCAL session_replication_role = replica;
INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status)
SELECT '0a900000-0000-4000-8000-000000000000', ('0a900000-0000-4000-8000-0000000' || c || lpad(d::text, 4, '0'))::uuid,
	   k::protector.payment_kind, a, cur, 'succeeded'
FROM (VALUES (5, 20, 'payment', 999, 'USD'), (7, 5, 'refund', 150, 'EUR')) x(c, d, k, a, cur);
RESET session_replication_role;

-- scores, computed by hand: 6 scored customers, ntile(5) sizes 2,1,1,1,1
SELECT tests.authenticate_as('q_operator');
SELECT results_eq($$
	SELECT right(x ->> 'customer_id', 2), (x ->> 'recency_days')::int, (x ->> 'frequency')::int, (x ->> 'monetary')::numeric,
		   (x ->> 'r')::int, (x ->> 'f')::int, (x ->> 'm')::int, x ->> 'segment'
	FROM unnest(ARRAY['c1','c2','c3','c4','c5','c7']) c,
		 protector.get_customer_rfm_score(('0a900000-0000-4000-8000-0000000000' || c)::uuid) x ORDER BY 1$$,
	$$VALUES ('c1', 100, 1, 10.00, 1, 1, 1, 'Lost'), ('c2', 50, 2, 20.00, 1, 2, 2, 'Lost'),
			 ('c3', 30, 3, 30.00, 2, 3, 3, 'At Risk'), ('c4', 20, 4, 40.00, 3, 4, 4, 'Loyal Customers'),
			 ('c5', 10, 5, 50.00, 4, 5, 5, 'Champions'), ('c7', 5, 1, 0.00, 5, 1, 1, 'New Customers')$$,
	'RFM measures, quintile scores (ties by id; refunds over payments count 0; other currencies ignored) and segments');
SELECT is(protector.get_customer_rfm_score('0a900000-0000-4000-8000-0000000000c6') ->> 'segment', 'No bookings',
	'a customer without bookings is not scored');
SELECT results_eq($$SELECT segment, customers, revenue FROM protector.get_customer_segments('0a900000-0000-4000-8000-000000000000')
					WHERE customers > 0 ORDER BY segment$$,
	$$VALUES ('At Risk', 1::bigint, 30.00), ('Champions', 1, 50.00), ('Lost', 2, 30.00), ('Loyal Customers', 1, 40.00),
			 ('New Customers', 1, 0.00), ('No bookings', 1, 0.00)$$,
	'segments with their customers and revenue, in one call');
SELECT is((SELECT count(*)::int FROM protector.get_customer_segments('0a900000-0000-4000-8000-000000000000')), 12,
	'every segment is listed, empty ones too');

-- the segment map: all 125 (R, F, M) land in exactly one of the 11 segments
SELECT is((SELECT count(*)::int FROM generate_series(1, 5) r, generate_series(1, 5) f, generate_series(1, 5) m
		   WHERE protector.rfm_segment(r, f, m) IN ('Champions', 'Loyal Customers', 'Potential Loyalist', 'New Customers',
			   'Promising', 'Need Attention', 'About To Sleep', 'At Risk', 'Can''t Lose Them', 'Hibernating', 'Lost')),
	125, 'all 125 score combinations map to a segment');
SELECT is((SELECT count(DISTINCT protector.rfm_segment(r, f, m))::int
		   FROM generate_series(1, 5) r, generate_series(1, 5) f, generate_series(1, 5) m), 11, '... and every segment is reachable');
SELECT is(protector.rfm_segment(1, 5, 4), 'Can''t Lose Them', 'R1 with FM 4.5: Can''t Lose Them');
SELECT throws_ok($$SELECT protector.rfm_segment(0, 1, 1)$$, '22023', NULL, 'scores are 1 to 5');

-- lifetime value
SELECT is((SELECT (x ->> 'historic_value')::numeric || '/' || (x ->> 'average_order_value') || '/' || (x ->> 'bookings_per_year')
		   FROM protector.calculate_customer_ltv('0a900000-0000-4000-8000-0000000000c5') x), '50.00/10.00/5.0000',
	'LTV: historic value, average order value, bookings per year (less than a year: as counted)');
SELECT ok((SELECT (x ->> 'predicted_12_month_value')::numeric
				  = round(10.00 * 5 * least((x ->> 'expected_remaining_years')::numeric, 1), 2)
		   FROM protector.calculate_customer_ltv('0a900000-0000-4000-8000-0000000000c5') x),
	'LTV: predicted = average order x bookings per year x min(1, expected remaining years)');
SELECT is((SELECT (x ->> 'predicted_12_month_value')::numeric + (x ->> 'historic_value')::numeric
		   FROM protector.calculate_customer_ltv('0a900000-0000-4000-8000-0000000000c6') x), 0.00, 'LTV of a customer without bookings: 0');
SELECT ok((SELECT (x ->> 'predicted_12_month_value')::numeric > 0
		   FROM protector.calculate_customer_ltv('0a900000-0000-4000-8000-0000000000c1') x), 'LTV of a one-booking customer is positive');
-- a customer's bookings in another currency count as bookings, not in the
-- average order (whose money is the organization's currency's): one
-- booking paid 100 EUR beside three paid in USD made an average of 25 EUR
SELECT tests.clear_authentication();
INSERT INTO protector.organizations (id, name, slug, currency) VALUES ('0c900000-0000-4000-8000-000000000000', 'C', 'ci-c', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0c900000-0000-4000-8000-0000000000a1', '0c900000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, mode, capacity, max_party, currency) VALUES
	('0c900000-0000-4000-8000-0000000005e1', '0c900000-0000-4000-8000-000000000000', '0c900000-0000-4000-8000-0000000000a1',
	 'In euros', '60 minutes', 'shared', 1000, 10, 'EUR'),
	('0c900000-0000-4000-8000-0000000005d1', '0c900000-0000-4000-8000-000000000000', '0c900000-0000-4000-8000-0000000000a1',
	 'In dollars', '60 minutes', 'shared', 1000, 10, 'USD');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0c900000-0000-4000-8000-0000000000c8', '0c900000-0000-4000-8000-000000000000', 'Mixed');
SET LOCAL session_replication_role = replica;
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, currency)
SELECT '0c900000-0000-4000-8000-000000000000', '0c900000-0000-4000-8000-0000000000a1',
	   CASE WHEN k = 1 THEN '0c900000-0000-4000-8000-0000000005e1' ELSE '0c900000-0000-4000-8000-0000000005d1' END::uuid,
	   '0c900000-0000-4000-8000-0000000000c8', tstzrange(now() - k * interval '30 days', now() - k * interval '30 days' + interval '1 hour'),
	   'completed', CASE WHEN k = 1 THEN 'EUR' ELSE 'USD' END
FROM generate_series(1, 4) k;
INSERT INTO protector.payments (organization_id, booking_id, amount, currency, status)
SELECT b.organization_id, b.id, 100, b.currency, 'succeeded' FROM protector.bookings b
WHERE b.customer_id = '0c900000-0000-4000-8000-0000000000c8';
SET LOCAL session_replication_role = origin;
SELECT is((SELECT concat_ws('/', x ->> 'currency', x ->> 'historic_value', x ->> 'bookings', x ->> 'average_order_value', x ->> 'bookings_per_year')
		   FROM protector.calculate_customer_ltv('0c900000-0000-4000-8000-0000000000c8') x), 'EUR/100.00/4/100.00/1.0000',
	'LTV in the organization''s currency: 100 EUR over its one booking in EUR (4 bookings; 1 a year of them)');

-- who may see what
SELECT tests.authenticate_as('q_finance');
SELECT ok((SELECT count(*) = 12 FROM protector.get_customer_segments('0a900000-0000-4000-8000-000000000000')), 'finance sees the segments');
SELECT throws_ok($$SELECT protector.get_customer_rfm_score('0a900000-0000-4000-8000-0000000000c1')$$, '42501', NULL,
	'... but no single customer''s scores');
SELECT throws_ok($$SELECT * FROM protector.get_customer_rfm_scores('0a900000-0000-4000-8000-000000000000')$$, '42501',
	'your role may not see customers'' individual analytics',
	'... nor every customer''s, refused as such (it read "the analytics of a single customer" for the list)');
SELECT tests.authenticate_as('q_agent');
SELECT throws_ok($$SELECT protector.calculate_customer_ltv('0a900000-0000-4000-8000-0000000000c1')$$, 'P0002', 'customer not found',
	'an agent does not see an unassigned customer, nor their value');
SELECT throws_ok($$SELECT * FROM protector.get_customer_segments('0a900000-0000-4000-8000-000000000000')$$, '42501',
	'your role may not see aggregate analytics', '... and is refused the segments of its own organization');
SELECT tests.authenticate_as('q_other');
SELECT throws_ok($$SELECT protector.get_customer_rfm_score('0a900000-0000-4000-8000-0000000000c1')$$, 'P0002', NULL,
	'another organization does not see the customer');

-- duplicates
SELECT tests.clear_authentication();
INSERT INTO protector.customers (id, organization_id, full_name, email, phone, country) VALUES
	('0a900000-0000-4000-8000-0000000000d1', '0a900000-0000-4000-8000-000000000000', 'ZOE ANGSTROM', 'ZOE@EXAMPLE.com', NULL, NULL),
	('0a900000-0000-4000-8000-0000000000d2', '0a900000-0000-4000-8000-000000000000', 'Zoe Angstrom', NULL, '030 1234567', 'DE'),
	('0a900000-0000-4000-8000-0000000000d3', '0a900000-0000-4000-8000-000000000000', 'Зоя', 'zoya@example.com', '+7 999 1234567', NULL);
SELECT is((SELECT identity_key FROM protector.customers WHERE id = '0a900000-0000-4000-8000-0000000000d1'), 'zoe@example.com',
	'the identity key is the normalized email');
SELECT tests.authenticate_as('q_operator');
SELECT results_eq($$SELECT reason, array_to_string(customer_ids, ',') FROM protector.find_duplicate_customers('0a900000-0000-4000-8000-000000000000') ORDER BY reason$$,
	$$VALUES ('same email', '0a900000-0000-4000-8000-0000000000c1,0a900000-0000-4000-8000-0000000000d1'),
			 ('same name and phone ending', '0a900000-0000-4000-8000-0000000000c1,0a900000-0000-4000-8000-0000000000d2'),
			 ('same phone', '0a900000-0000-4000-8000-0000000000c1,0a900000-0000-4000-8000-0000000000d2')$$,
	'duplicates by email (case), by phone (formats), by name (accents) and phone ending; Зоя is someone else');
SELECT tests.authenticate_as('q_agent');
SELECT throws_ok($$SELECT * FROM protector.find_duplicate_customers('0a900000-0000-4000-8000-000000000000')$$, '42501', NULL,
	'agents may not look for duplicates');

-- merging
SELECT tests.authenticate_as('q_operator');
SELECT throws_ok($$SELECT protector.merge_customers('0a900000-0000-4000-8000-0000000000c1', '0a900000-0000-4000-8000-0000000000d1')$$,
	'42501', NULL, 'an operator may not merge');
SELECT tests.authenticate_as('q_manager');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a900000-0000-4000-8000-000000000000', '0a900000-0000-4000-8000-0000000000a1', '0a900000-0000-4000-8000-0000000005a1',
		'0a900000-0000-4000-8000-0000000000d1', tstzrange(now() + interval '3 days', now() + interval '3 days 1 hour'), 'confirmed');
UPDATE protector.customers SET tags = '{student}' WHERE id = '0a900000-0000-4000-8000-0000000000d1';
SELECT is(protector.merge_customers('0a900000-0000-4000-8000-0000000000c1', '0a900000-0000-4000-8000-0000000000d1') -> 'moved' ->> 'protector.bookings.customer_id',
	'1', 'merge moves the duplicate''s bookings');
SELECT is((SELECT merged_into FROM protector.customers WHERE id = '0a900000-0000-4000-8000-0000000000d1'),
	'0a900000-0000-4000-8000-0000000000c1'::uuid, 'the duplicate is marked merged');
SELECT is((SELECT tags FROM protector.customers WHERE id = '0a900000-0000-4000-8000-0000000000c1'), '{student,vip}'::text[],
	'tags are united');
SELECT is((SELECT count(*)::int FROM protector.bookings WHERE customer_id = '0a900000-0000-4000-8000-0000000000c1'), 2,
	'the kept customer has both bookings');
SELECT throws_ok($$SELECT protector.merge_customers('0a900000-0000-4000-8000-0000000000c1', '0a900000-0000-4000-8000-0000000000c1')$$,
	'22023', 'a customer cannot be merged into itself', 'not into itself');
SELECT throws_ok($$SELECT protector.merge_customers('0a900000-0000-4000-8000-0000000000c2', '0a900000-0000-4000-8000-0000000000d1')$$,
	'22023', 'a merged customer cannot be merged again', 'not twice');
SELECT tests.clear_authentication();
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0b900000-0000-4000-8000-0000000000c1', '0b900000-0000-4000-8000-000000000000', 'B person');
SELECT throws_ok($$SELECT protector.merge_customers('0a900000-0000-4000-8000-0000000000c2', '0b900000-0000-4000-8000-0000000000c1')$$,
	'22023', 'customers of different organizations cannot be merged', 'not across organizations');
SELECT ok((SELECT count(*) > 0 FROM protector.audit_log WHERE table_name = 'protector.customers'
		   AND record_id = '0a900000-0000-4000-8000-0000000000d1' AND changed_columns @> '{merged_into}'), 'the merge is audited');

-- an organization with fewer than five scored customers uses scores 1..n
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0b900000-0000-4000-8000-0000000000a1', '0b900000-0000-4000-8000-000000000000', 'W', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, mode, capacity, max_party) VALUES
	('0b900000-0000-4000-8000-0000000005a1', '0b900000-0000-4000-8000-000000000000', '0b900000-0000-4000-8000-0000000000a1',
	 'Hall', '60 minutes', 'shared', 100, 10);
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0b900000-0000-4000-8000-0000000000c2', '0b900000-0000-4000-8000-000000000000', 'B two');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
SELECT '0b900000-0000-4000-8000-000000000000', '0b900000-0000-4000-8000-0000000000a1', '0b900000-0000-4000-8000-0000000005a1',
	   c::uuid, tstzrange(now() - d * interval '1 day', now() - d * interval '1 day' + interval '1 hour'), 'completed'
FROM (VALUES ('0b900000-0000-4000-8000-0000000000c1', 10), ('0b900000-0000-4000-8000-0000000000c2', 20),
			 ('0b900000-0000-4000-8000-0000000000c2', 30)) x(c, d);
SELECT results_eq($$SELECT r, f, m FROM protector.get_customer_rfm_scores('0b900000-0000-4000-8000-000000000000') ORDER BY customer_id$$,
	$$VALUES (2, 1, 1), (1, 2, 2)$$, 'two scored customers get the scores 1 and 2 (ties in monetary broken by id)');

-- a customer with bookings is not deleted, in words (the bookings' foreign
-- key's bare 23503 said it)
SELECT throws_ok($$DELETE FROM protector.customers WHERE id = '0b900000-0000-4000-8000-0000000000c2'$$, '23503',
	'customer 0b900000-0000-4000-8000-0000000000c2 has bookings and cannot be deleted',
	'deleting a customer with bookings is refused by name (erase or merge instead)');
SELECT throws_ok($$UPDATE protector.customers SET id = '0b900000-0000-4000-8000-0000000000c9' WHERE id = '0b900000-0000-4000-8000-0000000000c2'$$,
	'22023', 'a customer''s id never changes',
	'a customer''s id is not changed (its audit history and an erasure''s scrub follow the id)');

-- phones of 3 to 40 characters, the + counted, as the widget takes them
-- (the desk refused 40 digits and "+12", so a widget guest's record could
-- not be edited)
SELECT tests.authenticate_as('q_operator');
SELECT lives_ok($$SELECT protector.create_customer('0a900000-0000-4000-8000-000000000000', 'Forty', NULL, repeat('1', 40))$$,
	'a customer with a phone of 40 digits');
SELECT lives_ok($$SELECT protector.create_customer('0a900000-0000-4000-8000-000000000000', 'Short', NULL, '+12')$$,
	'... and one of "+12"');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
