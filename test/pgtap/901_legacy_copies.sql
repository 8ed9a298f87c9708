-- A service stored before 0.2.0 checked names and settings keeps them
-- while they are not changed; duplicate_service writes a new row, checked
-- whole. It refused such a service's copy as if the caller had sent the
-- value ("settings.color is not a setting", "name holds control or
-- invisible direction characters"), though it takes none (an attack
-- review of the upgrade). The refusal now says the value is the service's
-- own and how to copy it. (Two smaller ones from a review of this stop's
-- fixes are at the end.)
BEGIN;
SELECT plan(7);

SELECT tests.create_supabase_user('lc_admin');
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a901000-0000-4000-8000-000000000000', 'Legacy', 'legacy-copies');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('0a901000-0000-4000-8000-000000000000', tests.get_supabase_uid('lc_admin'), 'admin', now());
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a901000-0000-4000-8000-0000000000a1', '0a901000-0000-4000-8000-000000000000', 'Mitte', 'Europe/Berlin');
-- as 0.1.0 stored them (its checks off)
SET LOCAL session_replication_role = replica;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, settings) VALUES
	('0a901000-0000-4000-8000-0000000005a1', '0a901000-0000-4000-8000-000000000000', '0a901000-0000-4000-8000-0000000000a1',
	 'Vault', '1 hour', '{"color": "x"}'),
	('0a901000-0000-4000-8000-0000000005a2', '0a901000-0000-4000-8000-000000000000', '0a901000-0000-4000-8000-0000000000a1',
	 E'Big\u200b', '1 hour', '{}');
SET LOCAL session_replication_role = origin;

SELECT tests.authenticate_as('lc_admin');
SELECT is(tests.error_text($$SELECT protector.duplicate_service('0a901000-0000-4000-8000-0000000005a2')$$),
	'22023 | service 0a901000-0000-4000-8000-0000000005a2 cannot be copied: name holds control or invisible direction characters | The copy is a new service and is checked whole; the value is the service''s own, stored before protector checked it. | Correct it on the service first (update_service), then copy it.',
	'a copy of a service whose 0.1.0 name is refused says the name is the service''s own, and what to do');
-- (the same under protector.http_errors, which errors.md advises for
-- production: the bare message came back there, an attack review)
SET LOCAL protector.http_errors = on;
SELECT alike(tests.error_text($$SELECT protector.duplicate_service('0a901000-0000-4000-8000-0000000005a2')$$),
	'PT422 | service 0a901000-0000-4000-8000-0000000005a2 cannot be copied: name holds control or invisible direction characters | The copy is a new service %',
	'... and so it does under protector.http_errors, as PT422');
SET LOCAL protector.http_errors = off;
SELECT throws_ok($$SELECT protector.duplicate_service('0a901000-0000-4000-8000-0000000005a1')$$, '22023',
	'service 0a901000-0000-4000-8000-0000000005a1 cannot be copied: settings.color is not a setting',
	'... so does one whose 0.1.0 settings hold a key protector does not take');
SELECT lives_ok($$SELECT protector.update_service('0a901000-0000-4000-8000-0000000005a1', '{"settings": {"color": null}}')$$,
	'the setting is taken off the service');
SELECT is((SELECT protector.duplicate_service('0a901000-0000-4000-8000-0000000005a1') ->> 'name'), 'Vault (copy)',
	'... and then it is copied');
SELECT tests.clear_authentication();

-- (a review) the caller's own mistake is not told as the service's
SELECT is(tests.error_text($$SELECT protector.duplicate_service(NULL)$$), '22023 | p_service_id must not be null',
	'a missing id is refused as it is');
SELECT tests.clear_authentication();
-- (and a version of no waiver, written directly, is the NOT NULL's, as
-- before the waiver check that runs first)
SELECT tests.authenticate_as_service_role();
SELECT throws_ok($$INSERT INTO protector.waiver_versions (organization_id, waiver_id, title, body)
				   VALUES ('0a901000-0000-4000-8000-000000000000', NULL, 't', 'b')$$,
	'23502', 'null value in column "waiver_id" of relation "waiver_versions" violates not-null constraint',
	'a waiver version without a waiver is refused by the NOT NULL');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
