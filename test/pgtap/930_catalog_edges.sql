-- What an attack on the catalog found (the forty-second stop):
--   1. a manager (no venues.delete) inserted a venue deleted and active:
--      the deletion's guard fired on updates only, and an admin's restore
--      then made it bookable at once;
--   2. service_mode_check fired on UPDATE OF mode only, which PostgreSQL
--      decides from the statement's SET list: an operator's own BEFORE
--      UPDATE trigger that set the mode from SET settings = ... made a
--      service with overlapping future bookings exclusive, and the
--      engine's one-step look back then let a third booking overlap;
--   3. update_service refused a whole number written with decimals
--      ({"capacity": 3.0}), which update_venue takes.
-- And the forty-sixth stop's:
--   4. ... and one written as a string ("3.0"); "@ 90", PostgreSQL's 90
--      seconds, passed as a duration with its unit; a 0.1.0 service whose
--      name had spaces at its ends and a character refused now could not
--      be retired (every update trimmed the name, and the check refused
--      it); branding.font took a name of spaces only.
BEGIN;
SELECT plan(14);

SELECT tests.create_supabase_user(u) IS NOT NULL FROM unnest(ARRAY['k_owner', 'k_manager']) u \g /dev/null
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a930000-0000-4000-8000-000000000000', 'K', 'catalog-edges');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at) VALUES
	('0a930000-0000-4000-8000-000000000000', tests.get_supabase_uid('k_owner'), 'owner', now()),
	('0a930000-0000-4000-8000-000000000000', tests.get_supabase_uid('k_manager'), 'manager', now());

-- 1.
SELECT tests.authenticate_as('k_manager');
SELECT throws_ok($$INSERT INTO protector.venues (organization_id, name, timezone, deleted_at, active)
				   VALUES ('0a930000-0000-4000-8000-000000000000', 'Born deleted', 'UTC', now(), true)$$,
	'42501', 'your role may not delete venues', 'a manager does not insert a venue deleted');
RESET ROLE;
SELECT is((SELECT count(*)::integer FROM protector.venues WHERE name = 'Born deleted'), 0, '... and nothing was stored');
SELECT tests.authenticate_as('k_owner');
INSERT INTO protector.venues (id, organization_id, name, timezone, deleted_at, active)
VALUES ('0a930000-0000-4000-8000-0000000000a9', '0a930000-0000-4000-8000-000000000000', 'Archived', 'UTC', now(), true);
SELECT is((SELECT active FROM protector.venues WHERE id = '0a930000-0000-4000-8000-0000000000a9'), false,
	'an owner''s venue inserted deleted is inactive, as a deletion leaves it');
RESET ROLE;

-- 2.
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a930000-0000-4000-8000-0000000000a1', '0a930000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0a930000-0000-4000-8000-0000000005a1', '0a930000-0000-4000-8000-000000000000', '0a930000-0000-4000-8000-0000000000a1',
		'S', '60 minutes', '30 minutes', '400 days', 4, 'shared');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, status)
SELECT '0a930000-0000-4000-8000-000000000000', '0a930000-0000-4000-8000-0000000000a1', '0a930000-0000-4000-8000-0000000005a1',
	   tstzrange(date_trunc('day', now()) + interval '3 days' + s, date_trunc('day', now()) + interval '3 days' + e), 'confirmed'
FROM (VALUES (interval '10 hours', interval '12 hours'), (interval '10 hours 30 minutes', interval '11 hours')) v(s, e);
CREATE FUNCTION tests.mode_from_settings() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
	IF NEW.settings #>> '{custom,mode}' IN ('shared', 'exclusive') THEN
		NEW.mode := (NEW.settings #>> '{custom,mode}')::protector.service_mode;
	END IF;
	RETURN NEW;
END $f$;
CREATE TRIGGER mode_from_settings BEFORE UPDATE ON protector.services FOR EACH ROW EXECUTE FUNCTION tests.mode_from_settings();
SELECT throws_ok($$UPDATE protector.services SET settings = '{"custom": {"mode": "exclusive"}}' WHERE id = '0a930000-0000-4000-8000-0000000005a1'$$,
	'23P01', NULL, 'a service with overlapping future bookings is not made exclusive by a trigger of one''s own either');
SELECT is((SELECT mode FROM protector.services WHERE id = '0a930000-0000-4000-8000-0000000005a1'), 'shared'::protector.service_mode,
	'... it stays shared');

-- 3.
SELECT tests.authenticate_as('k_owner');
SELECT is(protector.update_service('0a930000-0000-4000-8000-0000000005a1', '{"capacity": 3.0}') ->> 'capacity', '3',
	'a capacity of 3.0 is 3');
SELECT throws_ok($$SELECT protector.update_service('0a930000-0000-4000-8000-0000000005a1', '{"capacity": 3.5}')$$,
	'22023', 'p_changes.capacity has a value of the wrong type', '... and 3.5 is no capacity');

-- 4.
SELECT is(protector.update_service('0a930000-0000-4000-8000-0000000005a1', '{"capacity": "3.0"}') ->> 'capacity', '3',
	'a capacity of "3.0" is 3 too');
-- (an attack on encodings: spaces other than ASCII ones, which
-- [[:space:]] takes in this database's locale, gave numeric's own 22P02)
SELECT is(tests.error_text($$SELECT protector.update_service('0a930000-0000-4000-8000-0000000005a1',
															  jsonb_build_object('capacity', U&'4\2003'))$$),
	'22023 | p_changes.capacity has a value of the wrong type | invalid input syntax for type integer: "4 " (got "4 ").',
	'"4" with an em space is no capacity: 22023 naming the field');
SELECT is(tests.error_text($$SELECT protector.update_service('0a930000-0000-4000-8000-0000000005a1',
															  jsonb_build_object('capacity', U&'\30003'))$$),
	'22023 | p_changes.capacity has a value of the wrong type | invalid input syntax for type integer: "　3" (got "　3").',
	'... nor "3" after an ideographic space');
SELECT throws_ok($$SELECT protector.update_service('0a930000-0000-4000-8000-0000000005a1', '{"slot_interval": "@ 90"}')$$,
	'22023', 'p_changes.slot_interval has a value of the wrong type', '"@ 90", 90 seconds to PostgreSQL, is no duration with its unit');
SELECT throws_ok($$SELECT protector.update_venue('0a930000-0000-4000-8000-0000000000a1', '{"branding": {"font": " \u3000 "}}')$$,
	'22023', 'p_changes.branding.font must be a font name of 1 to 100 plain characters', 'a font name of spaces only is refused');
SELECT throws_ok(format($$SELECT protector.update_venue('0a930000-0000-4000-8000-0000000000a1', %L)$$,
						 jsonb_build_object('branding', jsonb_build_object('font', 'Arial' || repeat(' ', 200)))),
	'22023', 'p_changes.branding.font must be a font name of 1 to 100 plain characters', '... and so is one of 205 characters, mostly spaces');
RESET ROLE;
SET LOCAL session_replication_role = replica;
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval)
VALUES ('0a930000-0000-4000-8000-0000000005a2', '0a930000-0000-4000-8000-000000000000', '0a930000-0000-4000-8000-0000000000a1',
		E' Vault\u202e ', '1 hour', '1 hour');
SET LOCAL session_replication_role = origin;
SELECT tests.authenticate_as('k_owner');
SELECT is(protector.update_service('0a930000-0000-4000-8000-0000000005a2', '{"active": false}') ->> 'active', 'false',
	'a 0.1.0 service named with spaces at its ends and a direction override is retired, as docs/settings.md says');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
