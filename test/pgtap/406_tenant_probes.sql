-- What a signed-in user may learn of another tenant by calling protector's
-- internal helpers directly (security.md, rule 2: "not yours" and "not
-- there" are one answer).  lock_organization_services, which a promo
-- code's services are locked with, told anyone which ids were another
-- organization's services and held them locked until the caller's
-- transaction ended (a review): it answers those who may manage the
-- organization's codes.
BEGIN;
SELECT plan(8);

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

SELECT * FROM finish();
ROLLBACK;
