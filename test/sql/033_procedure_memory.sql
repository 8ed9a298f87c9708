-- A batch job that books in a procedure and commits after each booking
-- (or each hundred) must not grow the procedure's memory: protector's
-- commit-time work (announcements, the outbox, closing the tables it
-- wrote directly) ran in the memory current at the COMMIT, which inside a
-- procedure is the procedure's own, kept until its CALL returns: 3 kB a
-- commit (an attack on procedures).  Measured against the same loop of
-- plain inserts, which PL/pgSQL itself grows by a few bytes a commit.
SET client_min_messages = warning;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0c033000-0000-4000-8000-000000000000', 'Batch', 'procedure-batch');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0c033000-0000-4000-8000-0000000000a1', '0c033000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party, duration, slot_interval)
VALUES ('0c033000-0000-4000-8000-0000000005a1', '0c033000-0000-4000-8000-000000000000', '0c033000-0000-4000-8000-0000000000a1',
		'Hall', 'shared', 100000, 1, '60 minutes', '60 minutes');
CREATE TABLE pg_temp.used (loop text, n int, bytes bigint);
CREATE TABLE pg_temp.plain_rows (x int);
CREATE PROCEDURE pg_temp.each_committed(p_loop text) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..600 LOOP
		IF p_loop = 'bookings' THEN
			PERFORM protector.create_booking('0c033000-0000-4000-8000-0000000005a1', NULL,
											 date_trunc('day', now()) + interval '2 days 10 hours' + (i % 100) * interval '1 day', 1);
		ELSE
			INSERT INTO pg_temp.plain_rows VALUES (i);
		END IF;
		COMMIT;
		IF i IN (200, 600) THEN
			INSERT INTO pg_temp.used
			SELECT p_loop, i, sum(total_bytes - free_bytes) FROM pg_backend_memory_contexts WHERE name = 'SPI Proc';
			COMMIT;
		END IF;
	END LOOP;
END
$$;
CALL pg_temp.each_committed('bookings');
CALL pg_temp.each_committed('plain');
SELECT count(*) AS booked FROM protector.bookings WHERE service_id = '0c033000-0000-4000-8000-0000000005a1';
-- the growth over the last 400 commits: the plain loop's, within 4 kB (it
-- was 1.2 MB more: 3 kB a commit)
SELECT (SELECT max(bytes) - min(bytes) FROM pg_temp.used WHERE loop = 'bookings')
	   <= (SELECT max(bytes) - min(bytes) FROM pg_temp.used WHERE loop = 'plain') + 4096 AS as_plain_inserts;
