-- A row the caller may not see is "not found", worded as for a row that
-- does not exist, and a change the caller may not make is refused the
-- same way whatever the row holds (docs/security.md, rule 2).  Two
-- triggers answered before restrict_update_columns refused the change:
-- - keep_paid_currency told an operator or agent, who may not read
--   payments, that a booking "with payments keeps its currency" (22023)
--   where one without payments was refused (42501): which bookings had
--   payments (now retain_paid_currency, named to run after it);
-- - check_task_reassignment told an agent moving their own task to a
--   booking they may not see that it "is not assigned to them" (22023)
--   where a made-up id was refused (42501): that the booking existed;
-- - check_booking_customer told an operator giving a booking to another
--   customer that the customer "was erased" (22023), which they may not
--   read, where another was refused for their role (now
--   screen_booking_customer);
-- - require_waivers told an agent raising their booking's party how many
--   had signed (now waivers_signed);
-- - guard_waiver_submission told a customer linking a walk-in signature of
--   theirs to another customer's booking whether it was cancelled (and
--   waited for that customer's signing): check_waiver_link answers
--   "booking not found" first, as for a made-up id.
BEGIN;
SELECT plan(14);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['xp_owner', 'xp_op', 'xp_agent', 'xp_cust', 'xp_fin']) u;
INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0a101000-0000-4000-8000-000000000000', 'Probes', 'existence-probes', 'Europe/Berlin', 'EUR');
UPDATE protector.organizations SET settings = settings || '{"staff": {"require_shifts": false}}'
WHERE id = '0a101000-0000-4000-8000-000000000000';
INSERT INTO protector.members (organization_id, user_id, role, full_name) VALUES
	('0a101000-0000-4000-8000-000000000000', tests.get_supabase_uid('xp_owner'), 'owner', 'Owner'),
	('0a101000-0000-4000-8000-000000000000', tests.get_supabase_uid('xp_op'), 'operator', 'Op'),
	('0a101000-0000-4000-8000-000000000000', tests.get_supabase_uid('xp_agent'), 'agent', 'Ag'),
	('0a101000-0000-4000-8000-000000000000', tests.get_supabase_uid('xp_fin'), 'finance', 'Fin');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a101000-0000-4000-8000-0000000000f1', '0a101000-0000-4000-8000-000000000000', 'V', 'Europe/Berlin');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, currency)
VALUES ('0a101000-0000-4000-8000-0000000005a1', '0a101000-0000-4000-8000-000000000000',
		'0a101000-0000-4000-8000-0000000000f1', 'S', '1 hour', 'EUR');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a101000-0000-4000-8000-00000000c001', '0a101000-0000-4000-8000-000000000000', 'C'),
	('0a101000-0000-4000-8000-00000000c002', '0a101000-0000-4000-8000-000000000000', 'Erased'),
	('0a101000-0000-4000-8000-00000000c003', '0a101000-0000-4000-8000-000000000000', 'Other');
INSERT INTO protector.customers (id, organization_id, full_name, user_id)
VALUES ('0a101000-0000-4000-8000-00000000c004', '0a101000-0000-4000-8000-000000000000', 'Cara', tests.get_supabase_uid('xp_cust')),
	   ('0a101000-0000-4000-8000-00000000c005', '0a101000-0000-4000-8000-000000000000', 'Fina', tests.get_supabase_uid('xp_fin'));
-- b001 the agent's, b002 nobody's and unpaid, b003 nobody's with a payment
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, assigned_agent, currency) VALUES
	('0a101000-0000-4000-8000-00000000b001', '0a101000-0000-4000-8000-000000000000', '0a101000-0000-4000-8000-0000000000f1',
	 '0a101000-0000-4000-8000-0000000005a1', '0a101000-0000-4000-8000-00000000c001',
	 '[2030-03-01 10:00+01, 2030-03-01 11:00+01)', tests.get_supabase_uid('xp_agent'), 'EUR'),
	('0a101000-0000-4000-8000-00000000b002', '0a101000-0000-4000-8000-000000000000', '0a101000-0000-4000-8000-0000000000f1',
	 '0a101000-0000-4000-8000-0000000005a1', '0a101000-0000-4000-8000-00000000c001',
	 '[2030-03-01 12:00+01, 2030-03-01 13:00+01)', NULL, 'EUR'),
	('0a101000-0000-4000-8000-00000000b003', '0a101000-0000-4000-8000-000000000000', '0a101000-0000-4000-8000-0000000000f1',
	 '0a101000-0000-4000-8000-0000000005a1', '0a101000-0000-4000-8000-00000000c001',
	 '[2030-03-01 14:00+01, 2030-03-01 15:00+01)', NULL, 'EUR');
-- b004 the agent's, under way for two, nobody signed yet
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, party_size, assigned_agent)
VALUES ('0a101000-0000-4000-8000-00000000b004', '0a101000-0000-4000-8000-000000000000', '0a101000-0000-4000-8000-0000000000f1',
		'0a101000-0000-4000-8000-0000000005a1', '0a101000-0000-4000-8000-00000000c001',
		tstzrange(now() - interval '10 minutes', now() + interval '50 minutes'), 'in_progress', 2, tests.get_supabase_uid('xp_agent'));
SELECT protector.create_waiver('0a101000-0000-4000-8000-000000000000', 'W', 'I take the risk.') ->> 'waiver_id' AS waiver \gset
UPDATE protector.services SET waiver_id = :'waiver' WHERE id = '0a101000-0000-4000-8000-0000000005a1';
-- b005: another customer's cancelled booking; a walk-in signature of Cara's, no booking yet
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status)
VALUES ('0a101000-0000-4000-8000-00000000b005', '0a101000-0000-4000-8000-000000000000', '0a101000-0000-4000-8000-0000000000f1',
		'0a101000-0000-4000-8000-0000000005a1', '0a101000-0000-4000-8000-00000000c001',
		'[2030-03-02 10:00+01, 2030-03-02 11:00+01)', 'cancelled');
INSERT INTO protector.waiver_submissions (organization_id, waiver_id, waiver_version_id, customer_id, participant_name,
										  participant_birth_date, signer_name, signature)
SELECT w.organization_id, w.id, v.id, x.customer_id, x.name, '1990-01-01', x.name, x.name
FROM protector.waivers w JOIN protector.waiver_versions v ON v.waiver_id = w.id,
	 (VALUES ('0a101000-0000-4000-8000-00000000c004'::uuid, 'Cara Walkin'), ('0a101000-0000-4000-8000-00000000c005', 'Fina Walkin')) x(customer_id, name)
WHERE w.id = :'waiver';
INSERT INTO protector.customer_erasures (organization_id, customer_id)
VALUES ('0a101000-0000-4000-8000-000000000000', '0a101000-0000-4000-8000-00000000c002');
INSERT INTO protector.payments (organization_id, booking_id, amount, currency)
VALUES ('0a101000-0000-4000-8000-000000000000', '0a101000-0000-4000-8000-00000000b003', 80, 'EUR');
INSERT INTO protector.tasks (id, organization_id, booking_id, title, assignee)
VALUES ('0a101000-0000-4000-8000-00000000d001', '0a101000-0000-4000-8000-000000000000',
		'0a101000-0000-4000-8000-00000000b001', 'T', tests.get_supabase_uid('xp_agent'));

-- the currency of a booking with and without payments, as an operator
SELECT tests.authenticate_as('xp_op');
SELECT is((SELECT count(*)::int FROM protector.payments), 0, 'an operator reads no payments');
SELECT is(tests.error_text($$UPDATE protector.bookings SET currency = 'USD' WHERE id = '0a101000-0000-4000-8000-00000000b002'$$),
	tests.error_text($$UPDATE protector.bookings SET currency = 'USD' WHERE id = '0a101000-0000-4000-8000-00000000b003'$$),
	'an operator changing the currency of a paid and an unpaid booking is told the same');
SELECT alike(tests.error_text($$UPDATE protector.bookings SET currency = 'USD' WHERE id = '0a101000-0000-4000-8000-00000000b003'$$),
	'42501 | your role may not change currency of bookings%', '... that their role may not change it');
SELECT is(tests.error_text($$UPDATE protector.bookings SET customer_id = '0a101000-0000-4000-8000-00000000c002' WHERE id = '0a101000-0000-4000-8000-00000000b002'$$),
	tests.error_text($$UPDATE protector.bookings SET customer_id = '0a101000-0000-4000-8000-00000000c003' WHERE id = '0a101000-0000-4000-8000-00000000b003'$$),
	'an operator giving a booking to an erased customer is told what giving it to another tells');
SELECT alike(tests.error_text($$UPDATE protector.bookings SET customer_id = '0a101000-0000-4000-8000-00000000c002' WHERE id = '0a101000-0000-4000-8000-00000000b002'$$),
	'42501 | your role may not change customer_id of bookings%', '... that their role may not');
-- ... as an agent, on their own booking (no payments) and after a payment
SELECT tests.authenticate_as('xp_agent');
SELECT alike(tests.error_text($$UPDATE protector.bookings SET currency = 'USD' WHERE id = '0a101000-0000-4000-8000-00000000b001'$$),
	'42501 | your role may not change currency of bookings%', 'an agent changing their booking''s currency is refused for their role');
SELECT alike(tests.error_text($$UPDATE protector.bookings SET party_size = 3 WHERE id = '0a101000-0000-4000-8000-00000000b004'$$),
	'42501 | your role may not change party_size of bookings%',
	'an agent raising the party of their booking under way is refused for their role, not told who signed');
-- an owner, who reads payments and may change the currency, is told why not
SELECT tests.authenticate_as('xp_owner');
SELECT alike(tests.error_text($$UPDATE protector.bookings SET currency = 'USD' WHERE id = '0a101000-0000-4000-8000-00000000b003'$$),
	'22023 | a booking with payments keeps its currency%', 'an owner is told a paid booking keeps its currency');

-- an agent moving their own task to a booking they may not see, and to a made-up one
SELECT tests.authenticate_as('xp_agent');
SELECT is((SELECT count(*)::int FROM protector.bookings), 2, 'the agent sees their own bookings only');
SELECT is(tests.error_text($$UPDATE protector.tasks SET booking_id = '0a101000-0000-4000-8000-00000000b002'
							WHERE id = '0a101000-0000-4000-8000-00000000d001'$$),
	tests.error_text($$UPDATE protector.tasks SET booking_id = '0a101000-0000-4000-8000-0000000bbbbb'
						WHERE id = '0a101000-0000-4000-8000-00000000d001'$$),
	'an agent moving their task to a booking they may not see is told what a made-up id tells');
SELECT alike(tests.error_text($$UPDATE protector.tasks SET booking_id = '0a101000-0000-4000-8000-00000000b002'
							  WHERE id = '0a101000-0000-4000-8000-00000000d001'$$),
	'42501 | your role may not change booking_id of tasks%', '... that their role may not move it');

-- a customer linking their walk-in signature to another's bookings
SELECT tests.authenticate_as('xp_cust');
SELECT is(tests.error_text($$UPDATE protector.waiver_submissions SET booking_id = '0a101000-0000-4000-8000-00000000b005' WHERE participant_name = 'Cara Walkin'$$),
	tests.error_text($$UPDATE protector.waiver_submissions SET booking_id = '0a101000-0000-4000-8000-0000000bbbbb' WHERE participant_name = 'Cara Walkin'$$),
	'a customer linking their signature to another''s cancelled booking is told what a made-up id tells');
SELECT is(tests.error_text($$UPDATE protector.waiver_submissions SET booking_id = '0a101000-0000-4000-8000-00000000b003' WHERE participant_name = 'Cara Walkin'$$),
	'P0002 | booking not found | It does not exist, or you may not see it.', '... and to another''s live booking: not found');
-- a finance member, who sees bookings but collects no signatures, linking
-- a walk-in signature of their own as a customer: refused for their role
-- before the booking is read or locked (the policy refused it after)
SELECT tests.authenticate_as('xp_fin');
SELECT alike(tests.error_text($$UPDATE protector.waiver_submissions SET booking_id = '0a101000-0000-4000-8000-00000000b003' WHERE participant_name = 'Fina Walkin'$$),
	'42501 | your role may not collect waiver signatures%', 'finance linking their own signature to a booking they see is refused for their role');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
