-- protector's C triggers attached to tables of a user's own (as
-- docs/security.md allows a superuser or a role with its own schema):
-- 1. check_booking_customer found the customers table once per backend,
--    whatever bookings table fired it: after it fired on a user's table,
--    protector's bookings were checked against that schema's customers,
--    and a booking moved to a merged customer (src/booking_customer.c);
-- 2. the workflow trigger writes a review task whose table's DEFAULT books
--    into another such table, firing the trigger inside itself: the outer
--    task kept a pointer to the column numbers the inner call overwrote
--    (another tasks table, its columns in another order) and the server
--    crashed (src/workflow.c; the audit trigger's row likewise);
-- 3. a confirmed booking with a customer in a user's bookings table gets
--    no reminders (their function takes protector.bookings rows): it said
--    protector was damaged (src/booking_followups.c);
-- 4. the shifts' overlap check read staff_shifts_during_idx without asking
--    whether it is valid (a failed CREATE INDEX CONCURRENTLY: XX001, could
--    not read block 0) or partial (overlapping shifts outside its predicate
--    were stored), as the bookings' check asks (src/range_scan.c);
-- 5. a service's buffers read from a table of one's own without the CHECK
--    (0 to 1 day) of protector's: a negative one, or one whose microseconds
--    wrap an int64, let overlapping bookings be stored (src/range_scan.c).
BEGIN;
SELECT plan(12);

INSERT INTO protector.organizations (id, name, slug) VALUES ('0a870000-0000-4000-8000-000000000000', 'Own', 'own-tables');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours) VALUES
	('0a870000-0000-4000-8000-0000000000a1', '0a870000-0000-4000-8000-000000000000', 'V', 'Europe/Berlin', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, capacity) VALUES
	('0a870000-0000-4000-8000-0000000005a1', '0a870000-0000-4000-8000-000000000000', '0a870000-0000-4000-8000-0000000000a1',
	 'Room', '1 hour', '1 hour', 1);
INSERT INTO protector.customers (id, organization_id, full_name, email, merged_into) VALUES
	('0a870000-0000-4000-8000-00000000c001', '0a870000-0000-4000-8000-000000000000', 'Cora', 'cora@x.test', NULL),
	('0a870000-0000-4000-8000-00000000c002', '0a870000-0000-4000-8000-000000000000', 'Otto', 'otto@x.test', NULL);
UPDATE protector.customers SET merged_into = '0a870000-0000-4000-8000-00000000c001' WHERE id = '0a870000-0000-4000-8000-00000000c002';
-- (no customer: the customer check's first table in this session must be
-- the user's, below)
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, party_size)
VALUES ('0a870000-0000-4000-8000-00000000b001', '0a870000-0000-4000-8000-000000000000', '0a870000-0000-4000-8000-0000000000a1',
		'0a870000-0000-4000-8000-0000000005a1', '[2030-01-07 10:00+00,2030-01-07 11:00+00)', 1);

CREATE SCHEMA u;
-- 1. the customer check fired on a user's table first, then on protector's
CREATE TABLE u.customers (id uuid PRIMARY KEY, organization_id uuid, merged_into uuid);
CREATE TABLE u.customer_erasures (organization_id uuid, customer_id uuid, UNIQUE (organization_id, customer_id));
CREATE TABLE u.bookings_2 (id uuid PRIMARY KEY, organization_id uuid, customer_id uuid);
INSERT INTO u.bookings_2 VALUES ('0a870000-0000-4000-8000-00000000b0f9', '0a870000-0000-4000-8000-000000000000', NULL);
CREATE TRIGGER check_booking_customer BEFORE UPDATE OF customer_id ON u.bookings_2
	FOR EACH ROW EXECUTE FUNCTION protector_internal.check_booking_customer();
UPDATE u.bookings_2 SET customer_id = '0a870000-0000-4000-8000-00000000c009';
SELECT throws_ok($$UPDATE protector.bookings SET customer_id = '0a870000-0000-4000-8000-00000000c002'
	WHERE id = '0a870000-0000-4000-8000-00000000b001'$$, '22023', NULL,
	'then protector''s booking moved to a merged customer is refused, against protector''s customers');


-- 2. schemas u and v, each with bookings and its siblings; v's tasks has
-- the columns in another order; u's tasks' description books into v
CREATE SCHEMA v;
CREATE TABLE u.bookings (LIKE protector.bookings INCLUDING DEFAULTS);
CREATE TABLE v.bookings (LIKE protector.bookings INCLUDING DEFAULTS);
CREATE TABLE u.services (LIKE protector.services INCLUDING DEFAULTS, PRIMARY KEY (id));
CREATE TABLE v.services (LIKE protector.services INCLUDING DEFAULTS, PRIMARY KEY (id));
CREATE TABLE u.venues (LIKE protector.venues INCLUDING DEFAULTS, PRIMARY KEY (id));
CREATE TABLE v.venues (LIKE protector.venues INCLUDING DEFAULTS, PRIMARY KEY (id));
CREATE TABLE u.notifications (LIKE protector.notifications INCLUDING DEFAULTS);
CREATE TABLE v.notifications (LIKE protector.notifications INCLUDING DEFAULTS);
INSERT INTO u.venues SELECT * FROM protector.venues WHERE organization_id = '0a870000-0000-4000-8000-000000000000';
INSERT INTO v.venues SELECT * FROM protector.venues WHERE organization_id = '0a870000-0000-4000-8000-000000000000';
INSERT INTO u.services SELECT * FROM protector.services WHERE organization_id = '0a870000-0000-4000-8000-000000000000';
INSERT INTO v.services SELECT * FROM protector.services WHERE organization_id = '0a870000-0000-4000-8000-000000000000';
CREATE TRIGGER booking_workflow_insert AFTER INSERT ON u.bookings FOR EACH ROW EXECUTE FUNCTION protector_internal.booking_workflow_insert();
CREATE TRIGGER booking_workflow_insert AFTER INSERT ON v.bookings FOR EACH ROW EXECUTE FUNCTION protector_internal.booking_workflow_insert();
CREATE TABLE u.tasks (LIKE protector.tasks INCLUDING DEFAULTS);
CREATE TABLE v.tasks (id uuid DEFAULT gen_random_uuid(), kind text, title text, organization_id uuid, booking_id uuid,
	description text, status protector.task_status DEFAULT 'open', assignee uuid, due_at timestamptz);
CREATE FUNCTION u.nest() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	INSERT INTO v.bookings (id, organization_id, venue_id, service_id, during, status, party_size, currency)
	SELECT '0a870000-0000-4000-8000-00000000b0f2', organization_id, venue_id, id,
		   '[2030-02-01 10:00+00,2030-02-01 11:00+00)', 'pending', 1, 'EUR'
	FROM v.services;
	RETURN 'written by u.nest()';
END $$;
ALTER TABLE u.tasks ALTER COLUMN description SET DEFAULT u.nest();
SELECT lives_ok($$INSERT INTO u.bookings (id, organization_id, venue_id, service_id, during, status, party_size, currency)
	SELECT '0a870000-0000-4000-8000-00000000b0f1', organization_id, venue_id, id,
		   '[2030-01-01 10:00+00,2030-01-01 11:00+00)', 'pending', 1, 'EUR'
	FROM u.services$$,
	'a booking whose review task''s DEFAULT books into another table with the same trigger is stored');
SELECT is((SELECT format('%s %s %s', booking_id, kind, status) FROM u.tasks),
	'0a870000-0000-4000-8000-00000000b0f1 booking_review open', '... its review task is its own');
SELECT is((SELECT description FROM u.tasks), 'written by u.nest()', '... with its DEFAULT''s description');
SELECT is((SELECT format('%s %s %s', booking_id, kind, status) FROM v.tasks),
	'0a870000-0000-4000-8000-00000000b0f2 booking_review open',
	'... and the nested booking''s task, its columns in another order, is right too');

-- 3.
SELECT throws_ok($$INSERT INTO u.bookings (organization_id, venue_id, service_id, customer_id, during, status, party_size, currency)
	SELECT organization_id, venue_id, id, '0a870000-0000-4000-8000-00000000c001',
		   '[2030-03-01 10:00+00,2030-03-01 11:00+00)', 'confirmed', 1, 'EUR'
	FROM u.services$$, '0A000', 'a confirmed booking with a customer in u.bookings gets no reminders',
	'a confirmed booking with a customer in a table of one''s own: no reminders, and so said');

-- 4. a partial index on a table of one's own; protector's own index made
-- invalid, as a failed CREATE INDEX CONCURRENTLY leaves it (the catalog
-- written here, in this transaction only: CIC cannot run in one)
INSERT INTO protector.members (id, organization_id, user_id, role)
VALUES ('0a870000-0000-4000-8000-0000000000e1', '0a870000-0000-4000-8000-000000000000', tests.create_supabase_user('own_agent'), 'agent');
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
VALUES ('0a870000-0000-4000-8000-000000000000', '0a870000-0000-4000-8000-0000000000e1', '0a870000-0000-4000-8000-0000000000a1');
CREATE TABLE u.staff_shifts (LIKE protector.staff_shifts INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE INDEX staff_shifts_during_idx ON u.staff_shifts USING gist (member_id, during) WHERE venue_id IS NULL;
CREATE TRIGGER shift_check AFTER INSERT OR UPDATE OR DELETE ON u.staff_shifts
	FOR EACH ROW EXECUTE FUNCTION protector_internal.shift_check();
SELECT throws_ok($$INSERT INTO u.staff_shifts (organization_id, member_id, venue_id, during) VALUES
	('0a870000-0000-4000-8000-000000000000', '0a870000-0000-4000-8000-0000000000e1', '0a870000-0000-4000-8000-0000000000a1',
	 '[2030-01-01 09:00+00,2030-01-01 17:00+00)'),
	('0a870000-0000-4000-8000-000000000000', '0a870000-0000-4000-8000-0000000000e1', '0a870000-0000-4000-8000-0000000000a1',
	 '[2030-01-01 10:00+00,2030-01-01 12:00+00)')$$,
	'55000', 'index u.staff_shifts_during_idx is partial', 'shifts checked through a partial index: refused, not stored overlapping');
SELECT is((SELECT count(*) FROM u.staff_shifts), 0::bigint, '... nothing stored');
UPDATE pg_catalog.pg_index SET indisvalid = false WHERE indexrelid = 'protector.staff_shifts_during_idx'::regclass;
SELECT throws_ok($$INSERT INTO protector.staff_shifts (organization_id, member_id, venue_id, during) VALUES
	('0a870000-0000-4000-8000-000000000000', '0a870000-0000-4000-8000-0000000000e1', '0a870000-0000-4000-8000-0000000000a1',
	 '[2030-01-01 09:00+00,2030-01-01 17:00+00)')$$,
	'55000', 'index protector.staff_shifts_during_idx is invalid', 'protector''s shift index invalid: a clear refusal');

-- 5.
CREATE SCHEMA w;
CREATE TABLE w.services (LIKE protector.services INCLUDING DEFAULTS);
CREATE TABLE w.bookings (LIKE protector.bookings INCLUDING DEFAULTS);
CREATE TABLE w.venues (LIKE protector.venues INCLUDING DEFAULTS, PRIMARY KEY (id));
CREATE UNIQUE INDEX services_pkey ON w.services (id);
CREATE UNIQUE INDEX bookings_pkey ON w.bookings (id);
CREATE INDEX bookings_long_during_idx ON w.bookings USING gist (service_id, during) WHERE protector_internal.booking_is_long(during);
CREATE INDEX bookings_service_start_idx ON w.bookings (service_id, lower(during));
CREATE TRIGGER reservation_check AFTER INSERT ON w.bookings FOR EACH ROW EXECUTE FUNCTION protector.reservation_check();
INSERT INTO w.services (id, organization_id, venue_id, name, mode, capacity, duration, buffer_before, buffer_after, currency)
VALUES ('0a870000-0000-4000-8000-0000000005f1', gen_random_uuid(), gen_random_uuid(), 'Room', 'exclusive', 1, '1 hour', '0', '0', 'EUR');
CREATE FUNCTION pg_temp.overlap_with_buffer(p_buffer interval) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM w.bookings;
	UPDATE w.services SET buffer_after = p_buffer;
	INSERT INTO w.bookings (organization_id, venue_id, service_id, during, currency)
	SELECT organization_id, venue_id, id, '[2030-06-01 10:00+00,2030-06-01 11:00+00)', 'EUR' FROM w.services;
	INSERT INTO w.bookings (organization_id, venue_id, service_id, during, currency)
	SELECT organization_id, venue_id, id, '[2030-06-01 10:30+00,2030-06-01 11:30+00)', 'EUR' FROM w.services;
	RETURN 'stored';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT is(pg_temp.overlap_with_buffer('1 hour'), '23P01 service "Room" is already booked at the requested time',
	'a table of one''s own: an overlap with a buffer of an hour is refused');
SELECT is(pg_temp.overlap_with_buffer('-2 hours'), '23514 a service''s buffer_after must be from 0 to 1 day',
	'... a negative buffer is refused, not taken off the booking');
SELECT is(pg_temp.overlap_with_buffer('300000 years'), '23514 a service''s buffer_after must be from 0 to 1 day',
	'... as is one whose microseconds wrap around');

SELECT * FROM finish();
ROLLBACK;
