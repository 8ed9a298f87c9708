-- A payment's ledger checks judge every writer's row (the thirty-fifth
-- stop), and an inserted row only after the insert policy (the
-- thirty-sixth).  An attack on side channels found a stranger's direct
-- insert on another tenant's booking answered with what it was paid and
-- in which currency; three attempts to leave such rows to the insert
-- policy each let some writer RLS lets through store a refund beyond what
-- was paid (a SECURITY DEFINER function of a role that bypasses RLS, a
-- writer a policy of the operator's own admits, a writer through a view a
-- superuser owns), and judging them quietly leaked through the error's
-- context and lock errors.  The judgement of an insert now runs after the
-- row passed the policy's WITH CHECK (an AFTER trigger): the stranger is
-- answered as for a made-up id, and these writers are still judged.
-- (test/concurrency/payment_locks.sh: the stranger no longer waits for
-- the booking's lock.)
BEGIN;
SELECT plan(17);

SELECT count(tests.create_supabase_user(u)) AS made FROM unnest(ARRAY['oa_owner', 'oa_stranger']) u \gset
INSERT INTO protector.organizations (id, name, slug, currency) VALUES
	('0a680000-0000-4000-8000-00000000000a', 'A', 'one-answer-a', 'USD');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a680000-0000-4000-8000-00000000000a', tests.get_supabase_uid('oa_owner'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a680000-0000-4000-8000-0000000000a1', '0a680000-0000-4000-8000-00000000000a', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, price)
VALUES ('0a680000-0000-4000-8000-0000000005a1', '0a680000-0000-4000-8000-00000000000a', '0a680000-0000-4000-8000-0000000000a1',
		'S', '1 hour', '1 hour', '400 days', 80);
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status)
VALUES ('0a680000-0000-4000-8000-0000000000b1', '0a680000-0000-4000-8000-00000000000a', '0a680000-0000-4000-8000-0000000000a1',
		'0a680000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '5 days 10 hours', date_trunc('day', now()) + interval '5 days 11 hours'), 'confirmed');
INSERT INTO protector.payments (organization_id, booking_id, amount, status, currency) VALUES
	('0a680000-0000-4000-8000-00000000000a', '0a680000-0000-4000-8000-0000000000b1', 37.50, 'succeeded', 'USD');

-- a statement as someone (a signed-in user, or a role): SQLSTATE and
-- message, rolled back ('P0999 rolled back': it was stored)
CREATE FUNCTION pg_temp.answer(p_who text, p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
BEGIN
	BEGIN
		IF p_who LIKE 'role:%' THEN
			EXECUTE format('SET LOCAL ROLE %I', substr(p_who, 6));
		ELSE
			PERFORM tests.authenticate_as(p_who);
		END IF;
		EXECUTE p_sql;
		RAISE EXCEPTION 'rolled back' USING ERRCODE = 'P0999';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	END;
	RESET ROLE;
	PERFORM tests.clear_authentication();
	RETURN st || ' ' || msg;
END $$;
CREATE FUNCTION pg_temp.refund(p_table text) RETURNS text LANGUAGE sql AS $$
	SELECT format($q$INSERT INTO %s (organization_id, booking_id, amount, kind, status, currency)
					 VALUES ('0a680000-0000-4000-8000-00000000000a', '0a680000-0000-4000-8000-0000000000b1',
							 5000, 'refund', 'succeeded', 'USD')$q$, p_table)
$$;

-- a stranger: the policy's answer, whatever the booking's ledger holds
SELECT is(pg_temp.answer('oa_stranger', pg_temp.refund('protector.payments')),
	'42501 new row violates row-level security policy for table "payments"',
	'a stranger''s refund of 5,000 on another tenant''s booking meets the insert policy, not the ledger');
SELECT is(pg_temp.answer('oa_stranger', replace(pg_temp.refund('protector.payments'), '''USD''', '''JPY''')),
	'42501 new row violates row-level security policy for table "payments"',
	'... as does a payment in another currency (the booking''s was named)');
SELECT is(pg_temp.answer('oa_stranger', replace(pg_temp.refund('protector.payments'), '0000000000b1', '0000000000ff')),
	'42501 new row violates row-level security policy for table "payments"',
	'... the same answer as for a made-up booking id');

SELECT is(pg_temp.answer('oa_owner', pg_temp.refund('protector.payments')),
	'22023 a refund cannot exceed what was paid', 'the owner''s refund of 5,000 on a booking paid 37.50 is refused');

-- a function of a role that bypasses RLS (a Supabase app function's pattern)
CREATE ROLE oa_app_admin NOLOGIN BYPASSRLS;
GRANT service_role TO oa_app_admin;
CREATE FUNCTION pg_temp.webhook_refund() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
	EXECUTE pg_temp.refund('protector.payments');
END $$;
ALTER FUNCTION pg_temp.webhook_refund() OWNER TO oa_app_admin;
SELECT is(pg_temp.answer('oa_stranger', 'SELECT pg_temp.webhook_refund()'),
	'22023 a refund cannot exceed what was paid', '... and through a function of a role that bypasses RLS');

-- a back-end role RLS binds, admitted by a policy of the operator's own,
-- directly and through a view a superuser owns (RLS then is the owner's)
CREATE ROLE oa_backend NOLOGIN;
GRANT authenticated TO oa_backend;
GRANT USAGE ON SCHEMA protector TO oa_backend;
GRANT SELECT, INSERT ON protector.payments TO oa_backend;
CREATE POLICY oa_backend_insert ON protector.payments FOR INSERT TO oa_backend WITH CHECK (true);
CREATE VIEW pg_temp.backend_payments AS SELECT * FROM protector.payments;
GRANT SELECT, INSERT ON pg_temp.backend_payments TO oa_backend;
SELECT is(pg_temp.answer('role:oa_backend', pg_temp.refund('protector.payments')),
	'22023 a refund cannot exceed what was paid', '... by a writer the operator''s own policy admits');
DROP POLICY oa_backend_insert ON protector.payments;
SELECT is(pg_temp.answer('role:oa_backend', pg_temp.refund('pg_temp.backend_payments')),
	'22023 a refund cannot exceed what was paid', '... through a view of a superuser''s');
SELECT is(pg_temp.answer('role:oa_backend', replace(pg_temp.refund('pg_temp.backend_payments'), '5000', '30')),
	'P0999 rolled back', '... which takes a refund within what was paid');

-- a blank provider or reference is refused (a blank reference was a key
-- every later blank one of the provider collided with)
SELECT is(pg_temp.answer('oa_owner', $$SELECT protector.record_payment('0a680000-0000-4000-8000-0000000000b1', 5, 'stripe', '')$$),
	'22023 p_provider and p_provider_reference must not be blank', 'record_payment refuses a blank reference');
SELECT is(pg_temp.answer('oa_owner', $$INSERT INTO protector.payments (organization_id, booking_id, amount, status, provider)
										VALUES ('0a680000-0000-4000-8000-00000000000a', '0a680000-0000-4000-8000-0000000000b1', 5, 'succeeded', '  ')$$),
	'22023 provider and provider_reference must not be blank', '... and a direct write a blank provider');
SELECT is(pg_temp.answer('oa_owner', $$SELECT protector.record_payment('0a680000-0000-4000-8000-0000000000b1', 5, 'stripe', chr(160))$$),
	'22023 p_provider and p_provider_reference must not be blank', '... a no-break space alone is blank too');
-- a reference without a provider collided with nothing: the same one
-- was recorded twice, both counted (a review of the data model's page)
SELECT is(pg_temp.answer('oa_owner', $$INSERT INTO protector.payments (organization_id, booking_id, amount, status, provider_reference)
										VALUES ('0a680000-0000-4000-8000-00000000000a', '0a680000-0000-4000-8000-0000000000b1', 5, 'succeeded', 'pi_1')$$),
	'22023 provider_reference needs provider: whose reference it is', 'a direct write of a reference without its provider is refused');
-- rows 0.1.0 stored blank are still settled: by their webhook's replay,
-- and by settle_payment (which judged the stored provider as given)
SET LOCAL session_replication_role = replica;
INSERT INTO protector.payments (id, organization_id, booking_id, amount, status, currency, provider, provider_reference) VALUES
	('0a680000-0000-4000-8000-0000000000f1', '0a680000-0000-4000-8000-00000000000a', '0a680000-0000-4000-8000-0000000000b1',
	 5, 'pending', 'USD', 'cash', ' '),
	('0a680000-0000-4000-8000-0000000000f2', '0a680000-0000-4000-8000-00000000000a', '0a680000-0000-4000-8000-0000000000b1',
	 5, 'pending', 'USD', '', NULL),
	('0a680000-0000-4000-8000-0000000000f3', '0a680000-0000-4000-8000-00000000000a', '0a680000-0000-4000-8000-0000000000b1',
	 5, 'pending', 'USD', E'cash\t', NULL),
	('0a680000-0000-4000-8000-0000000000f4', '0a680000-0000-4000-8000-00000000000a', '0a680000-0000-4000-8000-0000000000b1',
	 5, 'pending', 'USD', 'stripe', E'pi_77\n');
RESET session_replication_role;
SELECT is(pg_temp.answer('oa_owner', $$SELECT protector.record_payment('0a680000-0000-4000-8000-0000000000b1', 5, 'cash', ' ',
												p_status => 'succeeded')$$),
	'P0999 rolled back', 'a pending payment stored with a blank reference is settled by its webhook''s replay');
SELECT is(pg_temp.answer('oa_owner', $$SELECT protector.settle_payment('0a680000-0000-4000-8000-0000000000f2')$$),
	'P0999 rolled back', '... and one stored with a blank provider by settle_payment');
SELECT is(pg_temp.answer('oa_owner', $$SELECT protector.settle_payment('0a680000-0000-4000-8000-0000000000f2', 'succeeded', NULL, 'rcpt-17')$$),
	'P0999 rolled back', '... which then takes a reference (the stored blank provider is not judged again)');
SELECT is(pg_temp.answer('oa_owner', $$SELECT protector.settle_payment('0a680000-0000-4000-8000-0000000000f3')$$),
	'P0999 rolled back', 'a pending payment stored with a control character is settled (its provider is not judged as given)');
SELECT is(pg_temp.answer('oa_owner', $$SELECT protector.record_payment('0a680000-0000-4000-8000-0000000000b1', 5, 'stripe', E'pi_77\n',
												p_status => 'succeeded')$$),
	'P0999 rolled back', '... and by its webhook''s replay');

SELECT * FROM finish();
ROLLBACK;
