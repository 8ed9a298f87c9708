-- create_organization(): how a signed-in user starts a tenant, and the
-- identity helpers as PostgREST requests see them.
BEGIN;
SELECT plan(40);

SELECT tests.create_supabase_user('founder');
SELECT tests.create_supabase_user('bystander');

-- identity as PostgREST sets it
SELECT tests.authenticate_as('founder');
SELECT is(protector.current_user_id(), tests.get_supabase_uid('founder'), 'current_user_id() is the JWT subject');
SELECT is(current_user::text, 'authenticated', 'the request runs as authenticated');
SELECT is(protector_internal.orgs_with('organizations.delete'), '{}'::uuid[], 'a new user belongs to no organization');
SELECT throws_ok($$SELECT protector_internal.orgs_with(NULL)$$, '22023', 'p_action must not be null',
	'orgs_with(NULL) is an error, not a silent empty set');
SELECT throws_ok($$SELECT protector_internal.orgs_with('bookings.juggle')$$, '22023',
	'"bookings.juggle" is not a protector action', 'unknown actions are refused');
SELECT throws_ok($$SELECT protector_internal.orgs_with(repeat('x', 20000))$$, '22023',
	'"' || repeat('x', 80) || '..." is not a protector action', 'an action of 20,000 characters is named in 80 of them');

-- the RPC
SELECT lives_ok($$SELECT protector.create_organization(
	p_name => 'Lockbox Escapes', p_slug => 'lockbox', p_timezone => 'Europe/Berlin', p_currency => 'EUR',
	p_full_name => 'Fiona Founder')$$, 'a signed-in user creates an organization');
SELECT is((SELECT role::text FROM protector.members WHERE user_id = tests.get_supabase_uid('founder')), 'owner',
	'... and is its owner');
SELECT is((SELECT timezone FROM protector.organizations WHERE slug = 'lockbox'), 'Europe/Berlin',
	'... sees it, with its time zone');
SELECT is(cardinality(protector_internal.orgs_with('organizations.delete')), 1, '... and it counts as theirs at once');
SELECT is((protector.create_organization('Second', 'second') ->> 'currency'), 'USD',
	'defaults: UTC and USD; the result is the organization as jsonb');

-- a token whose user was deleted
SELECT set_config('request.jwt.claims', '{"sub": "0a030000-0000-4000-8000-00000000dead", "role": "authenticated"}', true) \g /dev/null
SELECT throws_ok($$SELECT protector.create_organization('Ghost', 'ghost')$$, '42501',
	'user 0a030000-0000-4000-8000-00000000dead does not exist', 'a deleted user founds nothing: 42501 by name, not a foreign key error');
SELECT is(tests.error_text($$SELECT protector.create_organization('Ghost', 'ghost')$$),
	'42501 | user 0a030000-0000-4000-8000-00000000dead does not exist | The request''s token names no user of auth.users: one deleted since, or one who never signed up. | Sign in (again) as a user of auth.users.',
	'... nor one who never signed up, told so (it said "was deleted")');
SELECT throws_ok($$INSERT INTO protector.organizations (name, slug) VALUES ('Ghost', 'ghost-direct')$$, '42501',
	'user 0a030000-0000-4000-8000-00000000dead does not exist',
	'... and a direct insert is told the same (it met the members'' foreign key bare, 23503)');
SELECT tests.authenticate_as('founder');
SELECT throws_ok($$SELECT protector.create_organization('Dup', 'lockbox')$$, '23505',
	'the slug "lockbox" is already taken', 'slugs are unique');
SELECT is(tests.error_text($$SELECT protector.create_organization('Dup', 'lockbox')$$),
	(SELECT format('23505 | the slug "lockbox" is already taken | It is organization %s, one of yours (a call that succeeded before, retried?). | Read it (protector.organizations by its slug) rather than creating it again, or choose another p_slug.', id)
	 FROM protector.organizations WHERE slug = 'lockbox'),
	'... and the founder retrying is told it is theirs (it sent them to choose another slug)');
SELECT tests.authenticate_as('bystander');
SELECT is(tests.error_text($$SELECT protector.create_organization('Dup', 'lockbox')$$),
	'23505 | the slug "lockbox" is already taken | Choose another p_slug.', '... and anyone else only that it is taken');
SELECT tests.authenticate_as('founder');
SELECT throws_ok($$SELECT protector.create_organization('Bad', 'Bad Slug!')$$, '22023',
	'p_slug is not a valid slug', 'slug shape is validated');
SELECT throws_ok($$SELECT protector.create_organization('  ', 'blank')$$, '22023',
	'p_name must be 1 to 200 characters', 'blank names are refused');
SELECT throws_ok($$SELECT protector.create_organization(NULL, 'nameless')$$, '22023',
	'p_name must be 1 to 200 characters', 'NULL names are refused');
SELECT throws_ok($$SELECT protector.create_organization('Named', 'named', 'UTC', 'EUR', '')$$, '22023',
	'p_full_name must be 1 to 200 characters', 'a blank founder''s name is named as the parameter (the membership refused it, naming a column)');
SELECT throws_ok($$SELECT protector.create_organization(E'A\u202eB', 'bidi-name')$$, '22023',
	'p_name holds control or invisible direction characters', 'a name with a direction override is refused');
SELECT throws_ok($$SELECT protector.create_organization(E'\u200b', 'zero-width')$$, '22023',
	NULL, 'and one of a zero-width space alone');
SELECT throws_ok($$SELECT protector.create_organization('Zone', 'zone', 'Mars/Base')$$, '22023',
	'p_timezone is not a valid time zone: "Mars/Base"', 'time zones are validated');
SELECT throws_ok($$SELECT protector.create_organization('Cur', 'cur', 'UTC', 'euro')$$, '22023',
	'p_currency must be an ISO 4217 code', 'currencies are validated');
SET LOCAL protector.http_errors = on;
SELECT throws_ok($$SELECT protector.create_organization('Bad', 'Bad Slug!')$$, 'PT422',
	'p_slug is not a valid slug', 'with protector.http_errors = on bad input is PT422 (HTTP 422)');
SET LOCAL protector.http_errors = off;

-- the other user sees none of it
SELECT tests.authenticate_as('bystander');
SELECT is_empty($$SELECT * FROM protector.organizations$$, 'another user sees no organization');
SELECT is_empty($$SELECT * FROM protector.members$$, '... and no member');
-- ... and cannot take a deleted organization's id, which would hand them
-- its audit history (audit rows outlive their organization)
SELECT tests.clear_authentication();
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a030000-0000-4000-8000-00000000dead', 'Gone', 'gone');
INSERT INTO protector.audit_log (organization_id, table_name, record_id, op, new_row)
VALUES ('0a030000-0000-4000-8000-00000000dead', 'protector.customers', 'x', 'INSERT', '{"full_name": "Cora Gone"}');
DELETE FROM protector.organizations WHERE id = '0a030000-0000-4000-8000-00000000dead';
SELECT tests.authenticate_as('bystander');
SELECT throws_ok($$INSERT INTO protector.organizations (id, name, slug) VALUES ('0a030000-0000-4000-8000-00000000dead', 'Squat', 'squat')$$,
	'42501', NULL, 'a signed-in user may not choose an organization''s id (a deleted one''s was taken, with its audit history)');
SELECT lives_ok($$INSERT INTO protector.organizations (name, slug) VALUES ('Own', 'own-org')$$,
	'... and founds one with the id the database gives');
SELECT is_empty($$SELECT * FROM protector.audit_log WHERE new_row ->> 'full_name' = 'Cora Gone'$$,
	'... which holds none of a deleted organization''s history');

-- without a user
SELECT tests.authenticate_as_service_role();
SELECT throws_ok($$SELECT protector.create_organization('Svc', 'svc')$$, '42501',
	'sign in to create an organization', 'a request without a user cannot create an organization');
SELECT is(tests.error_text($$SELECT protector.create_organization('Svc', 'svc')$$),
	'42501 | sign in to create an organization | The request carries no user (request.jwt.claims has no "sub"). | The founder becomes its owner: call it with the founder''s claims (their "sub" one of auth.users where it exists), as PostgREST does for a signed-in user.',
	'... told how to call it');
SELECT tests.authenticate_as_anon();
SELECT throws_ok($$SELECT protector.create_organization('Anon', 'anon')$$, '42501', NULL,
	'anon may not call create_organization()');
SELECT throws_ok($$SELECT * FROM protector.organizations$$, '42501', NULL, 'anon reads no table');
SELECT tests.clear_authentication();
SELECT is(protector.current_user_id(), NULL, 'after clear_authentication() there is no user');
SELECT is(current_user::text, session_user::text, '... and the session role is back');

-- a slug written through the table is refused by name, as
-- create_organization refuses it (an attack review: 23514 and a 23505
-- whose detail RLS hid)
SELECT tests.authenticate_as('founder');
SELECT protector.create_organization('Slug Two', 'slug-two', 'UTC', 'EUR') \g /dev/null
SELECT protector.create_organization('Slug One', 'slug-one', 'UTC', 'EUR') \g /dev/null
SELECT throws_ok($$UPDATE protector.organizations SET slug = 'slug-two' WHERE slug = 'slug-one'$$,
	'23505', 'the slug "slug-two" is already taken', 'a rename to a taken slug names it');
SELECT throws_ok($$UPDATE protector.organizations SET slug = 'Slug-One' WHERE slug = 'slug-one'$$,
	'22023', 'slug is not a valid slug', '... and a malformed one says so');
SELECT tests.clear_authentication();
-- (an upsert on the slug is the key's to arbitrate: a review found the
-- trigger's own refusal of a taken slug broke ON CONFLICT (slug))
SELECT lives_ok($$INSERT INTO protector.organizations (name, slug) VALUES ('Slug Two again', 'slug-two')
				  ON CONFLICT (slug) DO UPDATE SET name = excluded.name$$,
	'an upsert on a taken slug updates the organization');

SELECT * FROM finish();
ROLLBACK;
