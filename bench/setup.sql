-- bench/setup.sql: the tables and functions the benchmark compares.
-- Every variant books the same row shape; each "attempt" function returns
-- true when booked and false when refused, so refusals count as attempts.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS protector CASCADE;
CREATE SCHEMA bench;
CREATE FUNCTION bench.svc(i int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
	SELECT ('0b000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid
$$;
-- to_timestamp(double precision) is immutable, so the planner inlines this
-- function into each attempt's cached plan ("timestamptz + interval" is only
-- stable: a function using it is not inlined but run, and its body parsed
-- again, on every call, which cost every variant ~9% of its time)
CREATE FUNCTION bench.slot(i int) RETURNS tstzrange LANGUAGE sql IMMUTABLE AS $$
	SELECT tstzrange(to_timestamp(1893456000 + i * 1800), to_timestamp(1893456000 + i * 1800 + 3600))
$$;

INSERT INTO protector.organizations (id, name, slug) VALUES ('0b000000-0000-4000-8000-000000000000', 'Bench', 'bench');
INSERT INTO protector.venues (id, organization_id, name, timezone, operating_hours)
VALUES ('0b000000-0000-4000-8000-0000000000b1', '0b000000-0000-4000-8000-000000000000', 'Bench', 'UTC', '{}');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance)
SELECT bench.svc(i), '0b000000-0000-4000-8000-000000000000', '0b000000-0000-4000-8000-0000000000b1',
	   'S' || i, '60 minutes', '30 minutes', '1100 days'
FROM generate_series(1, 200) i;

-- (a) the physical limit: the same row into a table with the same indexes,
-- constraints and generated columns (balance_due is computed for every row
-- written: see below), but no capacity check
CREATE TABLE bench.plain (LIKE protector.bookings INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING INDEXES);
-- (PL/pgSQL like the others: it caches its plan, a SQL function would not)
CREATE FUNCTION bench.attempt_plain(s int, i int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO bench.plain (organization_id, currency, venue_id, service_id, during)
	VALUES ('0b000000-0000-4000-8000-000000000000', 'USD', '0b000000-0000-4000-8000-0000000000b1', bench.svc(s), bench.slot(i));
	RETURN true;
END $$;

-- (b) the canonical exclusion constraint, violation caught in a function
CREATE TABLE bench.excl (LIKE protector.bookings INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING INDEXES,
	EXCLUDE USING gist (service_id WITH =, during WITH &&));
-- the exclusion constraint's GiST index, of every booking, takes the place
-- of the copied bookings_long_during_idx (of the bookings longer than two
-- hours, which (a), (c) and protector keep): one GiST index per variant
DO $$
DECLARE i regclass;
BEGIN
	FOR i IN SELECT x.indexrelid::regclass FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
			 JOIN pg_am a ON a.oid = c.relam
			 WHERE x.indrelid = 'bench.excl'::regclass AND a.amname = 'gist'
			   AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = x.indexrelid) LOOP
		EXECUTE format('DROP INDEX %s', i);
	END LOOP;
END $$;
CREATE FUNCTION bench.attempt_excl(s int, i int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO bench.excl (organization_id, currency, venue_id, service_id, during)
	VALUES ('0b000000-0000-4000-8000-000000000000', 'USD', '0b000000-0000-4000-8000-0000000000b1', bench.svc(s), bench.slot(i));
	RETURN true;
EXCEPTION WHEN exclusion_violation THEN
	RETURN false;
END $$;

-- (c) PL/pgSQL: advisory lock + overlap check + insert
CREATE TABLE bench.plpg (LIKE protector.bookings INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE FUNCTION bench.attempt_plpg(s int, i int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(42, hashtext(bench.svc(s)::text));
	IF EXISTS (SELECT 1 FROM bench.plpg WHERE service_id = bench.svc(s) AND during && bench.slot(i)
			   AND status NOT IN ('cancelled', 'no_show')) THEN
		RETURN false;
	END IF;
	INSERT INTO bench.plpg (organization_id, currency, venue_id, service_id, during)
	VALUES ('0b000000-0000-4000-8000-000000000000', 'USD', '0b000000-0000-4000-8000-0000000000b1', bench.svc(s), bench.slot(i));
	RETURN true;
END $$;

-- every variant has the CHECK constraints (LIKE ... INCLUDING CONSTRAINTS)
-- and the five foreign keys of protector.bookings (the customer, agent and
-- promo code ones are NULL here, but each still queues an after-trigger
-- event per row)
DO $$
DECLARE t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['bench.plain', 'bench.excl', 'bench.plpg'] LOOP
		EXECUTE format('ALTER TABLE %s ADD FOREIGN KEY (organization_id) REFERENCES protector.organizations (id)', t);
		EXECUTE format('ALTER TABLE %s ADD FOREIGN KEY (organization_id, venue_id, service_id)
						REFERENCES protector.services (organization_id, venue_id, id)', t);
		EXECUTE format('ALTER TABLE %s ADD FOREIGN KEY (organization_id, customer_id)
						REFERENCES protector.customers (organization_id, id)', t);
		EXECUTE format('ALTER TABLE %s ADD FOREIGN KEY (organization_id, assigned_agent)
						REFERENCES protector.members (organization_id, user_id)', t);
		EXECUTE format('ALTER TABLE %s ADD FOREIGN KEY (organization_id, promo_code_id)
						REFERENCES protector.promo_codes (organization_id, id)', t);
		-- balance_due = total_price - amount_paid, as a table of PostgreSQL's
		-- own keeps it: a stored generated column.  protector.bookings keeps
		-- it with a C trigger and bookings_balance_due_check instead
		-- (src/balance_due.c), which LIKE copies only the CHECK of: a copy
		-- would check the balance but never compute it.
		EXECUTE format('ALTER TABLE %s DROP COLUMN balance_due', t);
		EXECUTE format('ALTER TABLE %s ADD COLUMN balance_due numeric(12, 2)
						GENERATED ALWAYS AS (total_price - amount_paid) STORED', t);
	END LOOP;
	-- and the same: no foreign key of protector.bookings is missing here,
	-- nor a generated column (theirs, and balance_due)
	IF (SELECT count(*) FROM pg_constraint WHERE conrelid = 'bench.plain'::regclass AND contype = 'f')
	   <> (SELECT count(*) FROM pg_constraint WHERE conrelid = 'protector.bookings'::regclass AND contype = 'f') THEN
		RAISE EXCEPTION 'bench tables and protector.bookings differ in foreign keys';
	END IF;
	IF (SELECT count(*) FROM pg_attribute WHERE attrelid = 'bench.plain'::regclass AND attgenerated <> '')
	   <> (SELECT count(*) FROM pg_attribute WHERE attrelid = 'protector.bookings'::regclass AND attgenerated <> '') + 1 THEN
		RAISE EXCEPTION 'bench tables and protector.bookings differ in generated columns';
	END IF;
END $$;

-- protector: a plain INSERT into protector.bookings; the C trigger decides
CREATE FUNCTION bench.attempt_protector(s int, i int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO protector.bookings (organization_id, currency, venue_id, service_id, during)
	VALUES ('0b000000-0000-4000-8000-000000000000', 'USD', '0b000000-0000-4000-8000-0000000000b1', bench.svc(s), bench.slot(i));
	RETURN true;
EXCEPTION WHEN exclusion_violation THEN
	RETURN false;
END $$;

-- the same booking through the RPC users call (bench/instructions.sh); its
-- starts count from tomorrow, since create_booking refuses starts beyond
-- the service's max_advance (the inserts above book in 2030)
CREATE FUNCTION bench.attempt_rpc(s int, i int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM protector.create_booking(bench.svc(s), NULL,
									 date_trunc('day', now()) + interval '1 day' + i * interval '30 minutes');
	RETURN true;
EXCEPTION WHEN exclusion_violation THEN
	RETURN false;
END $$;

-- the same through the RPC, for a customer of the organization: what
-- naming a customer adds (its check for a merged or erased customer)
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0b000000-0000-4000-8000-0000000000c1', '0b000000-0000-4000-8000-000000000000', 'Bench Customer');
CREATE FUNCTION bench.attempt_rpc_customer(s int, i int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM protector.create_booking(bench.svc(s), '0b000000-0000-4000-8000-0000000000c1',
									 date_trunc('day', now()) + interval '1 day' + i * interval '30 minutes');
	RETURN true;
EXCEPTION WHEN exclusion_violation THEN
	RETURN false;
END $$;

-- no autovacuum run landing on one variant by chance: each run starts from
-- an empty table, and the availability part vacuums explicitly after loading
ALTER TABLE bench.plain SET (autovacuum_enabled = off);
ALTER TABLE bench.excl SET (autovacuum_enabled = off);
ALTER TABLE bench.plpg SET (autovacuum_enabled = off);
ALTER TABLE protector.bookings SET (autovacuum_enabled = off);

-- the booking's work beyond the engine (audit row, review task, desk
-- notification, NOTIFY): "protector" runs without it, as the baselines do
-- none of it; "full" and "quiet" with it
CREATE FUNCTION bench.workflow(p_on boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['protector_audit', 'booking_workflow', 'booking_workflow_update', 'notify_insert', 'notify_update', 'notify_delete'] LOOP
		EXECUTE format('ALTER TABLE protector.bookings %s TRIGGER %I', CASE WHEN p_on THEN 'ENABLE' ELSE 'DISABLE' END, t);
	END LOOP;
END $$;

-- A stand-in for "the review task and desk notification written after
-- the booking commits, by a worker" (bench/side_work.sh, variant
-- deferred): for p_seconds, every 5 ms, one transaction writes the rows of
-- the bookings committed since its last pass, set-based.  Optimistic for
-- the deferral: no foreign key checks and no triggers on the two tables
-- (session_replication_role = replica, as a worker's direct inserts
-- would check no key), fixed texts of the real ones' length, bookings
-- found by their time-ordered ids (one that commits after a later id was
-- seen is skipped: kinder still).  bench.catch_up_batches keeps each
-- pass's row count: a growing batch would mean the stand-in fell behind.
CREATE TABLE bench.catch_up_batches (rows int NOT NULL);
-- per run of the variant: its largest pass, the bookings, the tasks written
CREATE TABLE bench.catch_up_runs (largest_batch int, bookings bigint, tasks bigint);
CREATE PROCEDURE bench.catch_up(p_seconds int) LANGUAGE plpgsql AS $$
DECLARE
	v_last uuid := '00000000-0000-0000-0000-000000000000';
	v_next uuid;
	v_rows int;
	v_end timestamptz := clock_timestamp() + p_seconds * interval '1 second';
BEGIN
	TRUNCATE bench.catch_up_batches;
	COMMIT;
	WHILE clock_timestamp() < v_end LOOP
		SET LOCAL session_replication_role = replica;
		SELECT id INTO v_next FROM protector.bookings WHERE id > v_last ORDER BY id DESC LIMIT 1;
		IF v_next IS NOT NULL THEN
			INSERT INTO protector.tasks (organization_id, booking_id, kind, title, due_at, assignee)
			SELECT organization_id, id, 'booking_review',
				   'Review booking: Room 1, 2030-07-17 10:00 (Europe/Berlin)', lower(during) - interval '1 hour', assigned_agent
			  FROM protector.bookings WHERE id > v_last AND id <= v_next AND status IN ('pending', 'confirmed');
			GET DIAGNOSTICS v_rows = ROW_COUNT;
			INSERT INTO protector.notifications (organization_id, booking_id, kind, payload)
			SELECT organization_id, id, 'booking.created',
				   jsonb_build_object('service', 'Room 1', 'start', lower(during), 'timezone', 'Europe/Berlin',
									  'status', status, 'party_size', party_size, 'confirm_by', NULL)
			  FROM protector.bookings WHERE id > v_last AND id <= v_next AND status IN ('pending', 'confirmed');
			INSERT INTO bench.catch_up_batches VALUES (v_rows);
			v_last := v_next;
		END IF;
		COMMIT;
		PERFORM pg_sleep(0.005);
	END LOOP;
END $$;
