-- What a signed-in user may learn of another tenant by calling protector's
-- internal helpers directly (security.md, rule 2: "not yours" and "not
-- there" are one answer).  lock_organization_services, which a promo
-- code's services are locked with, told anyone which ids were another
-- organization's services and held them locked until the caller's
-- transaction ended (a review): it answers those who may manage the
-- organization's codes.  check_customer_signatures took a booking's
-- signing lock, shared, for anyone who named the booking's id (a stranger,
-- or a desk naming another tenant's booking), and its customer's signature
-- waited for their transaction: it is taken for the booking's own desk and
-- agent only.
BEGIN;
SELECT plan(13);

SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['tp_manager', 'tp_agent', 'tp_stranger']) u;
INSERT INTO protector.organizations (id, name, slug, settings)
VALUES ('0a406000-0000-4000-8000-000000000000', 'TP', 'tenant-probes', '{"staff": {"require_shifts": false}}');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a406000-0000-4000-8000-000000000000', tests.get_supabase_uid('tp_manager'), 'manager'),
	('0a406000-0000-4000-8000-000000000000', tests.get_supabase_uid('tp_agent'), 'agent');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a406000-0000-4000-8000-0000000000a1', '0a406000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration)
VALUES ('0a406000-0000-4000-8000-0000000005a1', '0a406000-0000-4000-8000-000000000000',
		'0a406000-0000-4000-8000-0000000000a1', 'S', '60 minutes');

SELECT tests.authenticate_as('tp_stranger');
SELECT throws_ok($$SELECT protector_internal.lock_organization_services('0a406000-0000-4000-8000-000000000000',
		ARRAY['0a406000-0000-4000-8000-0000000005a1'::uuid])$$,
	'P0002', 'organization not found', 'a stranger naming another tenant''s service is told the organization is not found ...');
SELECT throws_ok($$SELECT protector_internal.lock_organization_services('0a406000-0000-4000-8000-0000000000ff',
		ARRAY['0a406000-0000-4000-8000-0000000005ff'::uuid])$$,
	'P0002', 'organization not found', '... as for one that does not exist');
SELECT tests.authenticate_as('tp_agent');
SELECT throws_ok($$SELECT protector_internal.lock_organization_services('0a406000-0000-4000-8000-000000000000',
		ARRAY['0a406000-0000-4000-8000-0000000005a1'::uuid])$$,
	'42501', NULL, 'an agent (no promo_codes.manage) is refused');
SELECT tests.authenticate_as('tp_manager');
SELECT is(protector_internal.lock_organization_services('0a406000-0000-4000-8000-000000000000',
		ARRAY['0a406000-0000-4000-8000-0000000005a1'::uuid, '0a406000-0000-4000-8000-0000000005ff'::uuid]),
	ARRAY['0a406000-0000-4000-8000-0000000005a1'::uuid],
	'a manager is answered the organization''s services among the ids');
SELECT lives_ok($$INSERT INTO protector.promo_codes (organization_id, description, discount_kind, discount_value, service_ids)
		VALUES ('0a406000-0000-4000-8000-000000000000', 'TPCODE', 'percent', 10, ARRAY['0a406000-0000-4000-8000-0000000005a1'::uuid])$$,
	'... and names the service in a promo code');
SELECT tests.authenticate_as('tp_agent');
SELECT throws_ok($$INSERT INTO protector.promo_codes (organization_id, description, discount_kind, discount_value, service_ids)
		VALUES ('0a406000-0000-4000-8000-000000000000', 'TPAGENT', 'percent', 10, ARRAY['0a406000-0000-4000-8000-0000000005a1'::uuid])$$,
	'42501', NULL, 'an agent''s promo code is refused, as before');
SELECT tests.clear_authentication();
SELECT is(protector_internal.lock_organization_services('0a406000-0000-4000-8000-000000000000',
		ARRAY['0a406000-0000-4000-8000-0000000005a1'::uuid]),
	ARRAY['0a406000-0000-4000-8000-0000000005a1'::uuid], 'a trusted role is answered');
SELECT is((SELECT service_ids FROM protector.promo_codes WHERE description = 'TPCODE'),
	ARRAY['0a406000-0000-4000-8000-0000000005a1'::uuid], 'the code names the service');

-- the signing lock of a booking (advisory locks show in pg_locks)
SELECT tests.create_supabase_user('tp_other_desk');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a406000-0000-4000-8000-0000000000b0', 'TP2', 'tenant-probes-2');
INSERT INTO protector.members (organization_id, user_id, role)
VALUES ('0a406000-0000-4000-8000-0000000000b0', tests.get_supabase_uid('tp_other_desk'), 'operator');
UPDATE protector.services SET slot_interval = '60 minutes', max_advance = '400 days' WHERE id = '0a406000-0000-4000-8000-0000000005a1';
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, status, assigned_agent)
VALUES ('0a406000-0000-4000-8000-0000000000c1', '0a406000-0000-4000-8000-000000000000', '0a406000-0000-4000-8000-0000000000a1',
		'0a406000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '3 days 10 hours', date_trunc('day', now()) + interval '3 days 11 hours'),
		'confirmed', tests.get_supabase_uid('tp_agent')),
	   ('0a406000-0000-4000-8000-0000000000c2', '0a406000-0000-4000-8000-000000000000', '0a406000-0000-4000-8000-0000000000a1',
		'0a406000-0000-4000-8000-0000000005a1',
		tstzrange(date_trunc('day', now()) + interval '3 days 12 hours', date_trunc('day', now()) + interval '3 days 13 hours'),
		'confirmed', NULL);
-- (held to the end of the transaction: each case names a booking not
-- locked before)
CREATE FUNCTION pg_temp.signing_locks(p_booking uuid) RETURNS integer LANGUAGE sql AS $$
	SELECT count(*)::integer FROM pg_catalog.pg_locks l,
		(SELECT protector_internal.lock_key(1886547722, p_booking) AS k) x
	WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid() AND l.objsubid = 1
	  AND l.classid::bigint = (x.k >> 32) & 4294967295 AND l.objid::bigint = x.k & 4294967295
$$;
GRANT EXECUTE ON FUNCTION pg_temp.signing_locks(uuid) TO authenticated;
SELECT tests.authenticate_as('tp_stranger');
SELECT protector_internal.check_customer_signatures('0a406000-0000-4000-8000-000000000000', '0a406000-0000-4000-8000-0000000000c1', NULL) IS NULL AS checked \gset
SELECT is(pg_temp.signing_locks('0a406000-0000-4000-8000-0000000000c1'), 0, 'a stranger naming a booking takes no signing lock of it');
SELECT tests.authenticate_as('tp_other_desk');
SELECT protector_internal.check_customer_signatures('0a406000-0000-4000-8000-0000000000b0', '0a406000-0000-4000-8000-0000000000c1', NULL) IS NULL AS checked \gset
SELECT is(pg_temp.signing_locks('0a406000-0000-4000-8000-0000000000c1'), 0, '... nor another tenant''s desk naming its own organization');
SELECT tests.authenticate_as('tp_agent');
SELECT protector_internal.check_customer_signatures('0a406000-0000-4000-8000-000000000000', '0a406000-0000-4000-8000-0000000000c2', NULL) IS NULL AS checked \gset
SELECT is(pg_temp.signing_locks('0a406000-0000-4000-8000-0000000000c2'), 0, '... nor an agent naming a booking not assigned to them');
SELECT protector_internal.check_customer_signatures('0a406000-0000-4000-8000-000000000000', '0a406000-0000-4000-8000-0000000000c1', NULL) IS NULL AS checked \gset
SELECT is(pg_temp.signing_locks('0a406000-0000-4000-8000-0000000000c1'), 1, 'the booking''s agent takes it');
SELECT tests.authenticate_as('tp_manager');
SELECT protector_internal.check_customer_signatures('0a406000-0000-4000-8000-000000000000', '0a406000-0000-4000-8000-0000000000c2', NULL) IS NULL AS checked \gset
SELECT is(pg_temp.signing_locks('0a406000-0000-4000-8000-0000000000c2'), 1, '... and the organization''s desk');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
