-- The role matrix of docs/security.md, exercised the way PostgREST runs a
-- request: in a transaction, SET LOCAL ROLE authenticated (or anon, or
-- service_role) and transaction-local request.jwt.claims, then the query.
--
-- Who: anon, a customer with an account, owner/admin/manager/operator/
-- agent/finance/viewer of organization A, the owner of organization B
-- ("other"), a signed-in user with no role anywhere ("stranger"), and
-- service_role.  What: select/insert/update/delete on every table.
-- Outcomes: for select, which fixture rows are visible ("A" = all of
-- organization A's fixtures, "B" likewise, otherwise their labels, "-" =
-- none); for writes "ok" (a row written), "none" (no row visible to write)
-- or "denied" (SQLSTATE 42501).  Every write is rolled back.
BEGIN;

-- fixtures ------------------------------------------------------------------
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY[
	'owner_a', 'admin_a', 'manager_a', 'operator_a', 'agent_a', 'finance_a', 'viewer_a',
	'owner_b', 'customer_a', 'stranger']) AS u;

CREATE TEMP TABLE fixture (label text PRIMARY KEY, tbl text, org text, id text);

CREATE FUNCTION pg_temp.fx(p_label text) RETURNS uuid LANGUAGE sql AS $$
	SELECT id::uuid FROM fixture WHERE label = p_label
$$;

INSERT INTO fixture VALUES
	('A', 'organizations', 'A', '0000000a-0000-4000-8000-000000000000'),
	('B', 'organizations', 'B', '0000000b-0000-4000-8000-000000000000'),
	('vA', 'venues', 'A', '0000000a-0000-4000-8000-0000000000f1'),
	('vA2', 'venues', 'A', '0000000a-0000-4000-8000-0000000000f2'),
	('vB', 'venues', 'B', '0000000b-0000-4000-8000-0000000000f1'),
	('clA', 'venue_closures', 'A', '0000000a-0000-4000-8000-0000000000c1'),
	('clB', 'venue_closures', 'B', '0000000b-0000-4000-8000-0000000000c1'),
	('sA', 'services', 'A', '0000000a-0000-4000-8000-0000000005a1'),
	('sA2', 'services', 'A', '0000000a-0000-4000-8000-0000000005a2'),
	('sB', 'services', 'B', '0000000b-0000-4000-8000-0000000005b1'),
	('cA_self', 'customers', 'A', '0000000a-0000-4000-8000-00000000c001'),
	('cA_other', 'customers', 'A', '0000000a-0000-4000-8000-00000000c002'),
	('cA_spare', 'customers', 'A', '0000000a-0000-4000-8000-00000000c003'),
	('cB', 'customers', 'B', '0000000b-0000-4000-8000-00000000c001'),
	('bA_1', 'bookings', 'A', '0000000a-0000-4000-8000-00000000b001'),
	('bA_2', 'bookings', 'A', '0000000a-0000-4000-8000-00000000b002'),
	('bA_3', 'bookings', 'A', '0000000a-0000-4000-8000-00000000b003'),
	('bB_1', 'bookings', 'B', '0000000b-0000-4000-8000-00000000b001'),
	('pA_1', 'payments', 'A', '0000000a-0000-4000-8000-00000000a001'),
	('pA_2', 'payments', 'A', '0000000a-0000-4000-8000-00000000a002'),
	('pB_1', 'payments', 'B', '0000000b-0000-4000-8000-00000000a001'),
	('tA_1', 'tasks', 'A', '0000000a-0000-4000-8000-00000000d001'),
	('tA_2', 'tasks', 'A', '0000000a-0000-4000-8000-00000000d002'),
	('tB_1', 'tasks', 'B', '0000000b-0000-4000-8000-00000000d001'),
	('nA_all', 'notifications', 'A', '0000000a-0000-4000-8000-00000000e001'),
	('nA_agent', 'notifications', 'A', '0000000a-0000-4000-8000-00000000e002'),
	('nA_op', 'notifications', 'A', '0000000a-0000-4000-8000-00000000e003'),
	('nB_all', 'notifications', 'B', '0000000b-0000-4000-8000-00000000e001');

INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES
	(pg_temp.fx('A'), 'Lockbox Escapes', 'matrix-a', 'Europe/Berlin', 'EUR'),
	(pg_temp.fx('B'), 'Shield Protection', 'matrix-b', 'America/New_York', 'USD');
-- agents are assigned here without shifts (docs/staff.md)
UPDATE protector.organizations SET settings = settings || '{"staff": {"require_shifts": false}}';

INSERT INTO fixture
SELECT 'm' || upper(right(u, 1)) || '_' || split_part(u, '_', 1), 'members', upper(right(u, 1)), gen_random_uuid()::text
FROM unnest(ARRAY['owner_a', 'admin_a', 'manager_a', 'operator_a', 'agent_a', 'finance_a',
				  'viewer_a', 'owner_b']) AS u;
INSERT INTO protector.members (id, organization_id, user_id, role, full_name)
SELECT pg_temp.fx('m' || upper(right(u, 1)) || '_' || split_part(u, '_', 1)),
	   pg_temp.fx(upper(right(u, 1))), tests.get_supabase_uid(u),
	   split_part(u, '_', 1)::protector.member_role, u
FROM unnest(ARRAY['owner_a', 'admin_a', 'manager_a', 'operator_a', 'agent_a', 'finance_a',
				  'viewer_a', 'owner_b']) AS u;

INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	(pg_temp.fx('vA'), pg_temp.fx('A'), 'Mitte', 'Europe/Berlin'),
	(pg_temp.fx('vA2'), pg_temp.fx('A'), 'Kreuzberg', 'Europe/Berlin'),
	(pg_temp.fx('vB'), pg_temp.fx('B'), 'HQ', 'America/New_York');
INSERT INTO protector.venue_closures (id, organization_id, venue_id, closed_on, reason) VALUES
	(pg_temp.fx('clA'), pg_temp.fx('A'), pg_temp.fx('vA'), '2030-12-24', 'Christmas Eve'),
	(pg_temp.fx('clB'), pg_temp.fx('B'), pg_temp.fx('vB'), '2030-07-04', 'Independence Day');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, currency) VALUES
	(pg_temp.fx('sA'), pg_temp.fx('A'), pg_temp.fx('vA'), 'The Vault', '1 hour', 'EUR'),
	(pg_temp.fx('sA2'), pg_temp.fx('A'), pg_temp.fx('vA'), 'Retired game', '1 hour', 'EUR'),
	(pg_temp.fx('sB'), pg_temp.fx('B'), pg_temp.fx('vB'), 'Escort detail', '4 hours', 'USD');
INSERT INTO protector.customers (id, organization_id, user_id, full_name, email) VALUES
	(pg_temp.fx('cA_self'), pg_temp.fx('A'), tests.get_supabase_uid('customer_a'), 'Cora Customer', 'cora@example.com'),
	(pg_temp.fx('cA_other'), pg_temp.fx('A'), NULL, 'Oskar Other', 'oskar@example.com'),
	(pg_temp.fx('cA_spare'), pg_temp.fx('A'), NULL, 'Sina Spare', NULL),
	(pg_temp.fx('cB'), pg_temp.fx('B'), NULL, 'Bea B', 'bea@example.com');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, assigned_agent, currency) VALUES
	(pg_temp.fx('bA_1'), pg_temp.fx('A'), pg_temp.fx('vA'), pg_temp.fx('sA'), pg_temp.fx('cA_self'),
	 '[2030-03-01 10:00+01, 2030-03-01 11:00+01)', tests.get_supabase_uid('agent_a'), 'EUR'),
	(pg_temp.fx('bA_2'), pg_temp.fx('A'), pg_temp.fx('vA'), pg_temp.fx('sA'), pg_temp.fx('cA_other'),
	 '[2030-03-01 12:00+01, 2030-03-01 13:00+01)', NULL, 'EUR'),
	(pg_temp.fx('bA_3'), pg_temp.fx('A'), pg_temp.fx('vA'), pg_temp.fx('sA'), pg_temp.fx('cA_other'),
	 '[2030-03-01 14:00+01, 2030-03-01 15:00+01)', NULL, 'EUR'),
	(pg_temp.fx('bB_1'), pg_temp.fx('B'), pg_temp.fx('vB'), pg_temp.fx('sB'), pg_temp.fx('cB'),
	 '[2030-03-01 10:00-05, 2030-03-01 14:00-05)', NULL, 'USD');
INSERT INTO protector.payments (id, organization_id, booking_id, amount, currency) VALUES
	(pg_temp.fx('pA_1'), pg_temp.fx('A'), pg_temp.fx('bA_1'), 120, 'EUR'),
	(pg_temp.fx('pA_2'), pg_temp.fx('A'), pg_temp.fx('bA_3'), 80, 'EUR'),
	(pg_temp.fx('pB_1'), pg_temp.fx('B'), pg_temp.fx('bB_1'), 900, 'USD');
INSERT INTO protector.tasks (id, organization_id, booking_id, title, assignee) VALUES
	(pg_temp.fx('tA_1'), pg_temp.fx('A'), pg_temp.fx('bA_1'), 'Review booking', tests.get_supabase_uid('agent_a')),
	(pg_temp.fx('tA_2'), pg_temp.fx('A'), NULL, 'Restock props', NULL),
	(pg_temp.fx('tB_1'), pg_temp.fx('B'), pg_temp.fx('bB_1'), 'Review booking', NULL);
INSERT INTO protector.notifications (id, organization_id, recipient_id, kind) VALUES
	(pg_temp.fx('nA_all'), pg_temp.fx('A'), NULL, 'booking.created'),
	(pg_temp.fx('nA_agent'), pg_temp.fx('A'), tests.get_supabase_uid('agent_a'), 'task.assigned'),
	(pg_temp.fx('nA_op'), pg_temp.fx('A'), tests.get_supabase_uid('operator_a'), 'booking.message'),
	(pg_temp.fx('nB_all'), pg_temp.fx('B'), NULL, 'booking.created');
WITH a AS (
	INSERT INTO protector.audit_log (organization_id, table_name, record_id, op)
	VALUES (pg_temp.fx('A'), 'protector.bookings', pg_temp.fx('bA_1')::text, 'INSERT'),
		   (pg_temp.fx('B'), 'protector.bookings', pg_temp.fx('bB_1')::text, 'INSERT')
	RETURNING id, organization_id
)
INSERT INTO fixture
SELECT CASE WHEN organization_id = pg_temp.fx('A') THEN 'aA_1' ELSE 'aB_1' END, 'audit_log',
	   CASE WHEN organization_id = pg_temp.fx('A') THEN 'A' ELSE 'B' END, id::text
FROM a;

-- the tables of issue 16: waivers and signatures, messages, reminders,
-- staff at venues, shifts, invitations, the activity log
INSERT INTO fixture VALUES
	('wA', 'waivers', 'A', '0000000a-0000-4000-8000-0000000010a1'), ('wB', 'waivers', 'B', '0000000b-0000-4000-8000-0000000010b1'),
	('wvA', 'waiver_versions', 'A', '0000000a-0000-4000-8000-0000000011a1'),
	('wvB', 'waiver_versions', 'B', '0000000b-0000-4000-8000-0000000011b1'),
	('wsA_1', 'waiver_submissions', 'A', '0000000a-0000-4000-8000-0000000012a1'),
	('wsA_2', 'waiver_submissions', 'A', '0000000a-0000-4000-8000-0000000012a2'),
	('wsB_1', 'waiver_submissions', 'B', '0000000b-0000-4000-8000-0000000012b1'),
	('msgA_1', 'booking_messages', 'A', '0000000a-0000-4000-8000-0000000013a1'),
	('msgA_2', 'booking_messages', 'A', '0000000a-0000-4000-8000-0000000013a2'),
	('msgB_1', 'booking_messages', 'B', '0000000b-0000-4000-8000-0000000013b1'),
	('rA_1', 'booking_reminders', 'A', '0000000a-0000-4000-8000-0000000014a1'),
	('rB_1', 'booking_reminders', 'B', '0000000b-0000-4000-8000-0000000014b1'),
	('svA_agent', 'staff_venues', 'A', '0000000a-0000-4000-8000-0000000015a1'),
	('svA_mgr', 'staff_venues', 'A', '0000000a-0000-4000-8000-0000000015a2'),
	('svB', 'staff_venues', 'B', '0000000b-0000-4000-8000-0000000015b1'),
	('shA_agent', 'staff_shifts', 'A', '0000000a-0000-4000-8000-0000000016a1'),
	('shA_mgr', 'staff_shifts', 'A', '0000000a-0000-4000-8000-0000000016a2'),
	('shB', 'staff_shifts', 'B', '0000000b-0000-4000-8000-0000000016b1'),
	('invA', 'staff_invitations', 'A', '0000000a-0000-4000-8000-0000000017a1'),
	('invB', 'staff_invitations', 'B', '0000000b-0000-4000-8000-0000000017b1');
INSERT INTO protector.waivers (id, organization_id, name) VALUES
	(pg_temp.fx('wA'), pg_temp.fx('A'), 'Waiver A'), (pg_temp.fx('wB'), pg_temp.fx('B'), 'Waiver B');
INSERT INTO protector.waiver_versions (id, organization_id, waiver_id, title, body) VALUES
	(pg_temp.fx('wvA'), pg_temp.fx('A'), pg_temp.fx('wA'), 'A', 'Text A'),
	(pg_temp.fx('wvB'), pg_temp.fx('B'), pg_temp.fx('wB'), 'B', 'Text B');
UPDATE protector.services SET waiver_id = pg_temp.fx('wA') WHERE id = pg_temp.fx('sA');
UPDATE protector.services SET waiver_id = pg_temp.fx('wB') WHERE id = pg_temp.fx('sB');
INSERT INTO protector.waiver_submissions (id, organization_id, waiver_version_id, booking_id, participant_name,
										  participant_birth_date, signer_name, signature) VALUES
	(pg_temp.fx('wsA_1'), pg_temp.fx('A'), pg_temp.fx('wvA'), pg_temp.fx('bA_1'), 'Self', '1990-01-01', 'Self', 'Self'),
	(pg_temp.fx('wsA_2'), pg_temp.fx('A'), pg_temp.fx('wvA'), pg_temp.fx('bA_3'), 'Other', '1990-01-01', 'Other', 'Other'),
	(pg_temp.fx('wsB_1'), pg_temp.fx('B'), pg_temp.fx('wvB'), pg_temp.fx('bB_1'), 'Bee', '1990-01-01', 'Bee', 'Bee');
INSERT INTO protector.booking_messages (id, organization_id, booking_id, sender_kind, body) VALUES
	(pg_temp.fx('msgA_1'), pg_temp.fx('A'), pg_temp.fx('bA_1'), 'customer', 'Hello'),
	(pg_temp.fx('msgA_2'), pg_temp.fx('A'), pg_temp.fx('bA_2'), 'staff', 'Welcome'),
	(pg_temp.fx('msgB_1'), pg_temp.fx('B'), pg_temp.fx('bB_1'), 'staff', 'Welcome');
INSERT INTO protector.booking_reminders (id, organization_id, booking_id, kind, offset_minutes, channel, starts_at, due_at,
										 next_attempt_at)
SELECT pg_temp.fx(r), b.organization_id, b.id, 'scheduled', 60, 'email', lower(b.during), lower(b.during) - interval '1 hour',
	   lower(b.during) - interval '1 hour'
FROM unnest(ARRAY['rA_1', 'rB_1'], ARRAY['bA_1', 'bB_1']) u(r, bk) JOIN protector.bookings b ON b.id = pg_temp.fx(u.bk);
INSERT INTO protector.staff_venues (id, organization_id, member_id, venue_id) VALUES
	(pg_temp.fx('svA_agent'), pg_temp.fx('A'), pg_temp.fx('mA_agent'), pg_temp.fx('vA')),
	(pg_temp.fx('svA_mgr'), pg_temp.fx('A'), pg_temp.fx('mA_manager'), pg_temp.fx('vA')),
	(pg_temp.fx('svB'), pg_temp.fx('B'), pg_temp.fx('mB_owner'), pg_temp.fx('vB'));
INSERT INTO protector.staff_shifts (id, organization_id, member_id, venue_id, during) VALUES
	(pg_temp.fx('shA_agent'), pg_temp.fx('A'), pg_temp.fx('mA_agent'), pg_temp.fx('vA'), '[2030-03-01 09:00+01, 2030-03-01 18:00+01)'),
	(pg_temp.fx('shA_mgr'), pg_temp.fx('A'), pg_temp.fx('mA_manager'), pg_temp.fx('vA'), '[2030-03-01 09:00+01, 2030-03-01 18:00+01)'),
	(pg_temp.fx('shB'), pg_temp.fx('B'), pg_temp.fx('mB_owner'), pg_temp.fx('vB'), '[2030-03-01 09:00-05, 2030-03-01 18:00-05)');
INSERT INTO protector.staff_invitations (id, organization_id, email, role) VALUES
	(pg_temp.fx('invA'), pg_temp.fx('A'), 'new@a.test', 'agent'), (pg_temp.fx('invB'), pg_temp.fx('B'), 'new@b.test', 'agent');
WITH a AS (
	INSERT INTO protector.staff_activity (organization_id, member_id, action)
	VALUES (pg_temp.fx('A'), pg_temp.fx('mA_agent'), 'desk.test'), (pg_temp.fx('A'), pg_temp.fx('mA_finance'), 'desk.test'),
		   (pg_temp.fx('B'), pg_temp.fx('mB_owner'), 'desk.test')
	RETURNING id, organization_id, member_id
)
INSERT INTO fixture
SELECT CASE member_id WHEN pg_temp.fx('mA_agent') THEN 'actA_agent' WHEN pg_temp.fx('mA_finance') THEN 'actA_fin' ELSE 'actB' END,
	   'staff_activity', CASE WHEN organization_id = pg_temp.fx('A') THEN 'A' ELSE 'B' END, id::text
FROM a;

-- acting as someone, exactly as PostgREST does ------------------------------
CREATE FUNCTION pg_temp.become(p_who text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	CASE p_who
		WHEN 'anon' THEN PERFORM tests.authenticate_as_anon();
		WHEN 'service' THEN PERFORM tests.authenticate_as_service_role();
		WHEN 'customer' THEN PERFORM tests.authenticate_as('customer_a');
		WHEN 'other' THEN PERFORM tests.authenticate_as('owner_b');
		WHEN 'stranger' THEN PERFORM tests.authenticate_as('stranger');
		ELSE PERFORM tests.authenticate_as(p_who || '_a');
	END CASE;
END
$$;

-- visible fixture rows of a table, as the canonical string described above
CREATE FUNCTION pg_temp.try_select(p_who text, p_table text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	ids text[];
	parts text[] := '{}';
	o text;
BEGIN
	BEGIN
		PERFORM pg_temp.become(p_who);
		EXECUTE format('SELECT array_agg(id::text) FROM protector.%I', p_table) INTO ids;
		RAISE EXCEPTION USING ERRCODE = 'PTRBK', MESSAGE = coalesce(array_to_string(ids, ','), '');
	EXCEPTION
		WHEN SQLSTATE 'PTRBK' THEN
			ids := coalesce(string_to_array(nullif(SQLERRM, ''), ','), '{}');
		WHEN insufficient_privilege THEN
			RETURN 'denied';
	END;
	FOREACH o IN ARRAY ARRAY['A', 'B'] LOOP
		IF NOT EXISTS (SELECT FROM fixture f WHERE f.tbl = p_table AND f.org = o AND f.id <> ALL (ids)) THEN
			parts := parts || o;
		ELSE
			parts := parts || ARRAY(SELECT f.label FROM fixture f
									WHERE f.tbl = p_table AND f.org = o AND f.id = ANY (ids)
									ORDER BY f.label);
		END IF;
	END LOOP;
	RETURN coalesce(nullif(array_to_string(parts, ','), ''), '-');
END
$$;

-- run a write as someone; report ok / none / denied, and undo it
CREATE FUNCTION pg_temp.try_write(p_who text, p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM pg_temp.become(p_who);
	EXECUTE p_sql;
	GET DIAGNOSTICS n = ROW_COUNT;
	RAISE EXCEPTION USING ERRCODE = 'PTRBK', MESSAGE = n::text;
EXCEPTION
	WHEN SQLSTATE 'PTRBK' THEN
		RETURN CASE WHEN SQLERRM::bigint > 0 THEN 'ok' ELSE 'none' END;
	WHEN insufficient_privilege THEN
		RETURN 'denied';
	WHEN OTHERS THEN
		RETURN 'error ' || SQLSTATE || ': ' || SQLERRM;
END
$$;

-- the statements tried ---------------------------------------------------------
CREATE TEMP TABLE stmt (tbl text, op text, sql text, PRIMARY KEY (tbl, op));
INSERT INTO stmt VALUES
	('organizations', 'insert', $$INSERT INTO protector.organizations (name, slug) VALUES ('New', 'matrix-new')$$),
	('organizations', 'update', format($$UPDATE protector.organizations SET name = 'Renamed' WHERE id = %L$$, pg_temp.fx('A'))),
	('organizations', 'delete', format($$DELETE FROM protector.organizations WHERE id = %L$$, pg_temp.fx('A'))),
	('members', 'insert', format($$INSERT INTO protector.members (organization_id, user_id, role) VALUES (%L, %L, 'viewer')$$,
								 pg_temp.fx('A'), tests.get_supabase_uid('stranger'))),
	('members', 'update', format($$UPDATE protector.members SET full_name = 'Agent Smith' WHERE id = %L$$, pg_temp.fx('mA_agent'))),
	('members', 'delete', format($$DELETE FROM protector.members WHERE id = %L$$, pg_temp.fx('mA_agent'))),
	('venues', 'insert', format($$INSERT INTO protector.venues (organization_id, name, timezone) VALUES (%L, 'New', 'Europe/Berlin')$$, pg_temp.fx('A'))),
	('venues', 'update', format($$UPDATE protector.venues SET name = 'Mitte II' WHERE id = %L$$, pg_temp.fx('vA'))),
	('venues', 'delete', format($$DELETE FROM protector.venues WHERE id = %L$$, pg_temp.fx('vA2'))),
	('venue_closures', 'insert', format($$INSERT INTO protector.venue_closures (organization_id, venue_id, closed_on) VALUES (%L, %L, '2031-01-01')$$,
										pg_temp.fx('A'), pg_temp.fx('vA'))),
	('venue_closures', 'update', format($$UPDATE protector.venue_closures SET reason = 'Holiday' WHERE id = %L$$, pg_temp.fx('clA'))),
	('venue_closures', 'delete', format($$DELETE FROM protector.venue_closures WHERE id = %L$$, pg_temp.fx('clA'))),
	('services', 'insert', format($$INSERT INTO protector.services (organization_id, venue_id, name, duration) VALUES (%L, %L, 'New', '1 hour')$$,
								  pg_temp.fx('A'), pg_temp.fx('vA'))),
	('services', 'update', format($$UPDATE protector.services SET name = 'The Vault II' WHERE id = %L$$, pg_temp.fx('sA'))),
	('services', 'delete', format($$DELETE FROM protector.services WHERE id = %L$$, pg_temp.fx('sA2'))),
	('customers', 'insert', format($$INSERT INTO protector.customers (organization_id, full_name) VALUES (%L, 'New')$$, pg_temp.fx('A'))),
	('customers', 'update', format($$UPDATE protector.customers SET notes = 'VIP' WHERE id = %L$$, pg_temp.fx('cA_other'))),
	('customers', 'delete', format($$DELETE FROM protector.customers WHERE id = %L$$, pg_temp.fx('cA_spare'))),
	-- a bookable slot: inserts by roles that may not set prices are validated
	('bookings', 'insert', format($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during)
									VALUES (%L, %L, %L, %L, tstzrange(%L, %L))$$,
								  pg_temp.fx('A'), pg_temp.fx('vA'), pg_temp.fx('sA'), pg_temp.fx('cA_other'),
								  date_trunc('day', now()) + interval '10 days 10 hours', date_trunc('day', now()) + interval '10 days 11 hours')),
	('bookings', 'update', format($$UPDATE protector.bookings SET details = details || '{"note": "bring ID"}' WHERE id = %L$$, pg_temp.fx('bA_1'))),
	('bookings', 'delete', format($$DELETE FROM protector.bookings WHERE id = %L$$, pg_temp.fx('bA_2'))),
	('payments', 'insert', format($$INSERT INTO protector.payments (organization_id, booking_id, amount) VALUES (%L, %L, 10)$$,
								  pg_temp.fx('A'), pg_temp.fx('bA_1'))),
	('payments', 'update', format($$UPDATE protector.payments SET status = 'succeeded' WHERE id = %L$$, pg_temp.fx('pA_1'))),
	('payments', 'delete', format($$DELETE FROM protector.payments WHERE id = %L$$, pg_temp.fx('pA_1'))),
	('tasks', 'insert', format($$INSERT INTO protector.tasks (organization_id, title) VALUES (%L, 'New')$$, pg_temp.fx('A'))),
	('tasks', 'update', format($$UPDATE protector.tasks SET status = 'in_progress' WHERE id = %L$$, pg_temp.fx('tA_1'))),
	('tasks', 'delete', format($$DELETE FROM protector.tasks WHERE id = %L$$, pg_temp.fx('tA_2'))),
	('notifications', 'insert', format($$INSERT INTO protector.notifications (organization_id, kind) VALUES (%L, 'test.new')$$, pg_temp.fx('A'))),
	('notifications', 'update', format($$UPDATE protector.notifications SET read_at = now() WHERE id = %L$$, pg_temp.fx('nA_all'))),
	('notifications', 'delete', format($$DELETE FROM protector.notifications WHERE id = %L$$, pg_temp.fx('nA_all'))),
	('audit_log', 'insert', format($$INSERT INTO protector.audit_log (organization_id, table_name, op) VALUES (%L, 'x', 'INSERT')$$, pg_temp.fx('A'))),
	('audit_log', 'update', format($$UPDATE protector.audit_log SET op = 'DELETE' WHERE id = %s$$, (SELECT id FROM fixture WHERE label = 'aA_1'))),
	('audit_log', 'delete', format($$DELETE FROM protector.audit_log WHERE id = %s$$, (SELECT id FROM fixture WHERE label = 'aA_1')));

-- the expected matrix (docs/security.md) ----------------------------------------
--                     anon      customer  owner   admin   manager operator          agent      finance     viewer      other  stranger service
CREATE TEMP TABLE expect (tbl text, op text, outcomes text[], PRIMARY KEY (tbl, op));
INSERT INTO expect VALUES
	('organizations', 'select', '{denied,-,A,A,A,A,A,A,A,B,-,"A,B"}'),
	('organizations', 'insert', '{denied,ok,ok,ok,ok,ok,ok,ok,ok,ok,ok,ok}'),
	('organizations', 'update', '{denied,none,ok,ok,none,none,none,none,none,none,none,ok}'),
	('organizations', 'delete', '{denied,none,ok,none,none,none,none,none,none,none,none,ok}'),
	('members', 'select', '{denied,-,A,A,A,A,mA_agent,mA_finance,mA_viewer,B,-,"A,B"}'),
	('members', 'insert', '{denied,denied,ok,ok,denied,denied,denied,denied,denied,denied,denied,ok}'),
	('members', 'update', '{denied,none,ok,ok,none,none,none,none,none,none,none,ok}'),
	('members', 'delete', '{denied,none,ok,ok,none,none,none,none,none,none,none,ok}'),
	('venues', 'select', '{denied,A,A,A,A,A,A,A,A,B,-,"A,B"}'),
	('venues', 'insert', '{denied,denied,ok,ok,ok,denied,denied,denied,denied,denied,denied,ok}'),
	('venues', 'update', '{denied,none,ok,ok,ok,none,none,none,none,none,none,ok}'),
	('venues', 'delete', '{denied,none,ok,ok,none,none,none,none,none,none,none,ok}'),
	('venue_closures', 'select', '{denied,-,A,A,A,A,A,A,A,B,-,"A,B"}'),
	('venue_closures', 'insert', '{denied,denied,ok,ok,ok,denied,denied,denied,denied,denied,denied,ok}'),
	('venue_closures', 'update', '{denied,none,ok,ok,ok,none,none,none,none,none,none,ok}'),
	('venue_closures', 'delete', '{denied,none,ok,ok,ok,none,none,none,none,none,none,ok}'),
	('services', 'select', '{denied,A,A,A,A,A,A,A,A,B,-,"A,B"}'),
	('services', 'insert', '{denied,denied,ok,ok,ok,denied,denied,denied,denied,denied,denied,ok}'),
	('services', 'update', '{denied,none,ok,ok,ok,none,none,none,none,none,none,ok}'),
	('services', 'delete', '{denied,none,ok,ok,ok,none,none,none,none,none,none,ok}'),
	('customers', 'select', '{denied,cA_self,A,A,A,A,cA_self,A,-,B,-,"A,B"}'),
	('customers', 'insert', '{denied,denied,ok,ok,ok,ok,denied,denied,denied,denied,denied,ok}'),
	('customers', 'update', '{denied,none,ok,ok,ok,none,none,none,none,none,none,ok}'),
	('customers', 'delete', '{denied,none,ok,ok,ok,none,none,none,none,none,none,ok}'),
	('bookings', 'select', '{denied,bA_1,A,A,A,A,bA_1,A,-,B,-,"A,B"}'),
	('bookings', 'insert', '{denied,denied,ok,ok,ok,ok,denied,denied,denied,denied,denied,ok}'),
	('bookings', 'update', '{denied,denied,ok,ok,ok,ok,ok,none,none,none,none,ok}'),
	('bookings', 'delete', '{denied,none,ok,ok,none,none,none,none,none,none,none,ok}'),
	('payments', 'select', '{denied,pA_1,A,A,A,-,-,A,-,B,-,"A,B"}'),
	('payments', 'insert', '{denied,denied,ok,ok,denied,denied,denied,ok,denied,denied,denied,ok}'),
	('payments', 'update', '{denied,none,ok,ok,none,none,none,none,none,none,none,ok}'),
	('payments', 'delete', '{denied,none,ok,ok,none,none,none,none,none,none,none,ok}'),
	('tasks', 'select', '{denied,-,A,A,A,A,tA_1,-,-,B,-,"A,B"}'),
	('tasks', 'insert', '{denied,denied,ok,ok,ok,ok,denied,denied,denied,denied,denied,ok}'),
	('tasks', 'update', '{denied,none,ok,ok,ok,ok,ok,none,none,none,none,ok}'),
	('tasks', 'delete', '{denied,none,ok,ok,ok,none,none,none,none,none,none,ok}'),
	('notifications', 'select', '{denied,-,nA_all,nA_all,nA_all,"nA_all,nA_op",nA_agent,-,-,B,-,"A,B"}'),
	('notifications', 'insert', '{denied,denied,ok,ok,ok,ok,denied,denied,denied,denied,denied,ok}'),
	('notifications', 'update', '{denied,none,ok,ok,ok,ok,none,none,none,none,none,ok}'),
	('notifications', 'delete', '{denied,none,ok,ok,none,none,none,none,none,none,none,ok}'),
	('audit_log', 'select', '{denied,-,A,A,-,-,-,-,-,B,-,"A,B"}'),
	('audit_log', 'insert', '{denied,denied,denied,denied,denied,denied,denied,denied,denied,denied,denied,denied}'),
	('audit_log', 'update', '{denied,denied,denied,denied,denied,denied,denied,denied,denied,denied,denied,denied}'),
	('audit_log', 'delete', '{denied,denied,denied,denied,denied,denied,denied,denied,denied,denied,denied,denied}'),
	-- issue 16 (writes: test/pgtap/160 to 190)
	('waivers', 'select', '{denied,A,A,A,A,A,A,-,-,B,-,"A,B"}'),
	('waiver_versions', 'select', '{denied,A,A,A,A,A,A,-,-,B,-,"A,B"}'),
	('waiver_submissions', 'select', '{denied,wsA_1,A,A,A,A,wsA_1,-,-,B,-,"A,B"}'),
	('booking_messages', 'select', '{denied,msgA_1,A,A,A,A,msgA_1,-,-,B,-,"A,B"}'),
	('booking_reminders', 'select', '{denied,-,A,A,A,A,-,-,-,B,-,"A,B"}'),
	('staff_venues', 'select', '{denied,-,A,A,A,A,svA_agent,-,-,B,-,"A,B"}'),
	('staff_shifts', 'select', '{denied,-,A,A,A,A,shA_agent,-,-,B,-,"A,B"}'),
	('staff_invitations', 'select', '{denied,-,A,A,-,-,-,-,-,B,-,"A,B"}'),
	('staff_activity', 'select', '{denied,-,A,A,-,-,actA_agent,actA_fin,-,B,-,"A,B"}');

SELECT plan((SELECT count(*)::int * 12 FROM expect) + 24);

-- the matrix: 44 statements x 12 requesters
SELECT is(
	CASE e.op WHEN 'select' THEN pg_temp.try_select(w.who, e.tbl)
			  ELSE pg_temp.try_write(w.who, (SELECT s.sql FROM stmt s WHERE s.tbl = e.tbl AND s.op = e.op)) END,
	w.expected,
	format('%s: %s %s', w.who, e.op, e.tbl))
FROM expect e
CROSS JOIN LATERAL unnest(ARRAY['anon', 'customer', 'owner', 'admin', 'manager', 'operator', 'agent',
								'finance', 'viewer', 'other', 'stranger', 'service'], e.outcomes)
	WITH ORDINALITY AS w(who, expected, n)
ORDER BY array_position(ARRAY['organizations', 'members', 'venues', 'venue_closures', 'services',
							  'customers', 'bookings', 'payments', 'tasks', 'notifications', 'audit_log'], e.tbl),
		 array_position(ARRAY['select', 'insert', 'update', 'delete'], e.op), w.n;

-- column rules: operators and agents change only workflow columns ------------
SELECT is(pg_temp.try_write('operator', format($$UPDATE protector.bookings SET assigned_agent = %L, status = 'confirmed' WHERE id = %L$$,
											   tests.get_supabase_uid('agent_a'), pg_temp.fx('bA_2'))),
		  'ok', 'operator: assigns an agent and confirms a booking');
SELECT is(pg_temp.try_write('operator', format($$UPDATE protector.bookings SET total_price = 1 WHERE id = %L$$, pg_temp.fx('bA_1'))),
		  'denied', 'operator: may not change the price of a booking');
SELECT is(pg_temp.try_write('agent', format($$UPDATE protector.bookings SET total_price = 1 WHERE id = %L$$, pg_temp.fx('bA_1'))),
		  'denied', 'agent: may not change the price of an assigned booking');
SELECT is(pg_temp.try_write('agent', format($$UPDATE protector.bookings SET during = '[2030-03-02 10:00+01, 2030-03-02 11:00+01)' WHERE id = %L$$,
											pg_temp.fx('bA_1'))),
		  'denied', 'agent: may not move an assigned booking');
SELECT is(pg_temp.try_write('agent', format($$UPDATE protector.bookings SET assigned_agent = %L WHERE id = %L$$,
											tests.get_supabase_uid('operator_a'), pg_temp.fx('bA_1'))),
		  'denied', 'agent: may not hand a booking to someone else');
SELECT is(pg_temp.try_write('agent', format($$UPDATE protector.bookings SET status = 'in_progress' WHERE id = %L$$, pg_temp.fx('bA_2'))),
		  'none', 'agent: cannot touch a booking not assigned to them');
SELECT is(pg_temp.try_write('agent', format($$UPDATE protector.tasks SET title = 'Mine now' WHERE id = %L$$, pg_temp.fx('tA_1'))),
		  'denied', 'agent: may not retitle a task');
SELECT is(pg_temp.try_write('agent', format($$UPDATE protector.tasks SET status = 'done', completed_at = now() WHERE id = %L$$, pg_temp.fx('tA_1'))),
		  'ok', 'agent: completes an assigned task');
SELECT is(pg_temp.try_write('manager', format($$UPDATE protector.bookings SET total_price = 99 WHERE id = %L$$, pg_temp.fx('bA_1'))),
		  'ok', 'manager: may change the price');
SELECT is(pg_temp.try_write('owner', format($$UPDATE protector.bookings SET organization_id = %L WHERE id = %L$$, pg_temp.fx('B'), pg_temp.fx('bA_1'))),
		  'denied', 'owner: no one moves a row to another tenant');
SELECT is(pg_temp.try_write('owner', format($$WITH u AS (UPDATE protector.venues SET embed_key = 'pk_chosen' WHERE id = %L RETURNING embed_key)
												 SELECT 1 / (u.embed_key <> 'pk_chosen')::int FROM u$$, pg_temp.fx('vA'))),
		  'ok', 'owner: embed keys are not chosen by hand (a written key is replaced by a generated one)');

-- owners are protected from admins ---------------------------------------------
SELECT is(pg_temp.try_write('admin', format($$INSERT INTO protector.members (organization_id, user_id, role) VALUES (%L, %L, 'owner')$$,
											pg_temp.fx('A'), tests.get_supabase_uid('stranger'))),
		  'denied', 'admin: cannot create an owner');
SELECT is(pg_temp.try_write('admin', format($$UPDATE protector.members SET role = 'owner' WHERE id = %L$$, pg_temp.fx('mA_manager'))),
		  'denied', 'admin: cannot promote to owner');
SELECT is(pg_temp.try_write('admin', format($$DELETE FROM protector.members WHERE id = %L$$, pg_temp.fx('mA_owner'))),
		  'none', 'admin: cannot remove the owner');
SELECT is(pg_temp.try_write('owner', format($$UPDATE protector.members SET role = 'owner' WHERE id = %L$$, pg_temp.fx('mA_admin'))),
		  'ok', 'owner: can make an admin co-owner');
SELECT is(pg_temp.try_write('owner', format($$UPDATE protector.members SET role = 'admin' WHERE id = %L$$, pg_temp.fx('mA_owner'))),
		  'error 22023: an organization must keep at least one active owner', 'owner: the last owner cannot step down');
SELECT is(pg_temp.try_write('other', format($$UPDATE protector.bookings SET status = 'cancelled' WHERE id = %L$$, pg_temp.fx('bA_1'))),
		  'none', 'other organization: cannot touch A''s bookings by id');
SELECT is(pg_temp.try_write('other', format($$INSERT INTO protector.venues (organization_id, name, timezone) VALUES (%L, 'Mine', 'UTC')$$, pg_temp.fx('A'))),
		  'denied', 'other organization: cannot create rows in A');

-- memberships change what a user sees, at once ------------------------------
UPDATE protector.members SET active = false WHERE id = pg_temp.fx('mA_finance');
SELECT is(pg_temp.try_select('finance', 'bookings'), '-', 'a deactivated member sees nothing');
UPDATE protector.members SET active = true WHERE id = pg_temp.fx('mA_finance');
SELECT is(pg_temp.try_select('finance', 'bookings'), 'A', 'reactivated, the member sees the bookings again');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES (pg_temp.fx('A'), tests.get_supabase_uid('owner_b'), 'viewer');
SELECT is(pg_temp.try_select('other', 'venues'), 'A,B', 'a user in two organizations sees both (venues)');
SELECT is(pg_temp.try_select('other', 'bookings'), 'B', '... with the role of each (viewer of A: no bookings)');

-- a customer's merged-away record no longer counts as theirs
UPDATE protector.customers SET user_id = NULL WHERE id = pg_temp.fx('cA_self');
INSERT INTO protector.customers (id, organization_id, user_id, full_name)
VALUES ('0000000a-0000-4000-8000-00000000c009', pg_temp.fx('A'), tests.get_supabase_uid('customer_a'), 'Cora (new)');
SELECT is(pg_temp.try_select('customer', 'bookings'), '-', 'a customer sees only bookings of their own records');
-- (as a merge does: what referred to the record moves first)
UPDATE protector.bookings SET customer_id = '0000000a-0000-4000-8000-00000000c009' WHERE customer_id = pg_temp.fx('cA_self');
UPDATE protector.waiver_submissions SET customer_id = '0000000a-0000-4000-8000-00000000c009' WHERE customer_id = pg_temp.fx('cA_self');
UPDATE protector.booking_messages SET customer_id = '0000000a-0000-4000-8000-00000000c009' WHERE customer_id = pg_temp.fx('cA_self');
-- (a merged record linked to an account, as only data of before 0.2.0
-- can be: a merged record is linked to no account since)
SET LOCAL session_replication_role = replica;
UPDATE protector.customers SET merged_into = '0000000a-0000-4000-8000-00000000c009',
	user_id = tests.get_supabase_uid('customer_a') WHERE id = pg_temp.fx('cA_self');
RESET session_replication_role;
SELECT is(pg_temp.try_select('customer', 'customers'), '-', 'merged-away records are not the customer''s any more');

SELECT * FROM finish();
ROLLBACK;
