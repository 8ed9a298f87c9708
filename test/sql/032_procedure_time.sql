-- A booking's rules are judged, and a hold counted, by the clock when it
-- is made (test/pgtap/408_clock_time.sql), never before its transaction's
-- start: in a procedure, a COMMIT starts a transaction later than the
-- CALL's statement, and a hold counted from the statement was over when
-- it was stored (a review of the time change; pgTAP runs in one
-- transaction and cannot COMMIT in a procedure).  (Counted from now(), as
-- before this stop, it passes too: it keeps the clock's count from ever
-- going back to the statement's start.)
SET client_min_messages = warning;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0c032000-0000-4000-8000-000000000000', 'Clock', 'procedure-time');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0c032000-0000-4000-8000-0000000000a1', '0c032000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval)
VALUES ('0c032000-0000-4000-8000-0000000005a1', '0c032000-0000-4000-8000-000000000000', '0c032000-0000-4000-8000-0000000000a1',
		'Held', '60 minutes', '60 minutes'),
	   ('0c032000-0000-4000-8000-0000000005a2', '0c032000-0000-4000-8000-000000000000', '0c032000-0000-4000-8000-0000000000a1',
		'Near', '60 minutes', '60 minutes');
CREATE TABLE pg_temp.outcome (what text, ok boolean);
CREATE PROCEDURE pg_temp.book_after_commit() LANGUAGE plpgsql AS $$
DECLARE
	v_slot timestamptz := date_trunc('day', now()) + interval '2 days 10 hours';
	v_hold uuid;
BEGIN
	-- notice up to half a second before the slot, as of the CALL's statement
	UPDATE protector.services SET min_notice = v_slot - statement_timestamp() - interval '0.5 seconds'
	WHERE id = '0c032000-0000-4000-8000-0000000005a2';
	PERFORM pg_sleep(1.1);
	COMMIT;
	-- a transaction a second younger than the statement
	v_hold := (protector.hold_slot('0c032000-0000-4000-8000-0000000005a1', NULL, v_slot, 1, 1) ->> 'id')::uuid;
	INSERT INTO pg_temp.outcome
	SELECT 'a hold of a minute lasts a minute from its transaction', hold_expires_at >= now() + interval '1 minute'
	FROM protector.bookings WHERE id = v_hold;
	BEGIN
		PERFORM protector.create_booking('0c032000-0000-4000-8000-0000000005a2', NULL, v_slot, 1);
		INSERT INTO pg_temp.outcome VALUES ('min_notice judged no earlier than the transaction', false);
	EXCEPTION WHEN invalid_parameter_value THEN
		INSERT INTO pg_temp.outcome VALUES ('min_notice judged no earlier than the transaction', SQLERRM LIKE 'p_start is too soon%');
	END;
END
$$;
CALL pg_temp.book_after_commit();
SELECT what, ok FROM pg_temp.outcome ORDER BY what;
