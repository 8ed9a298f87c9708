-- protector.current_user_id(): the user of a PostgREST request.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- no claims at all
SELECT protector.current_user_id();

BEGIN;
-- exactly what PostgREST 12 sets
SELECT set_config('request.jwt.claims',
	'{"sub": "6f1c9a52-2b7e-4d0c-9c1b-0d3f4e5a6b7c", "role": "authenticated", "aal": "aal1"}', true);
SELECT protector.current_user_id();
-- called once per statement or once per row, same answer
SELECT count(DISTINCT protector.current_user_id()) FROM generate_series(1, 1000);
-- upper-case hex is the same uuid
SELECT set_config('request.jwt.claims', '{"sub": "6F1C9A52-2B7E-4D0C-9C1B-0D3F4E5A6B7C"}', true);
SELECT protector.current_user_id();
-- nested "sub" keys are not the subject
SELECT set_config('request.jwt.claims', '{"app_metadata": {"sub": "6f1c9a52-2b7e-4d0c-9c1b-0d3f4e5a6b7c"}}', true);
SELECT protector.current_user_id();
-- duplicate keys: the last one wins, as in jsonb
SELECT set_config('request.jwt.claims',
	'{"sub": "11111111-1111-1111-1111-111111111111", "sub": "22222222-2222-2222-2222-222222222222"}', true);
SELECT protector.current_user_id();
-- anonymous and service-role tokens carry no subject
SELECT set_config('request.jwt.claims', '{"role": "anon"}', true);
SELECT protector.current_user_id();
SELECT set_config('request.jwt.claims', '{"sub": null, "role": "service_role"}', true);
SELECT protector.current_user_id();
SELECT set_config('request.jwt.claims', '{"sub": ""}', true);
SELECT protector.current_user_id();
COMMIT;

-- after the transaction, PostgREST's settings read as '' : no user
SELECT current_setting('request.jwt.claims') = '' AS empty_setting;
SELECT protector.current_user_id();

-- fallback: the setting PostgREST < 12 also set
BEGIN;
SELECT set_config('request.jwt.claim.sub', '0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d', true);
SELECT protector.current_user_id();
-- empty claims fall through to it too
SELECT set_config('request.jwt.claims', '', true);
SELECT protector.current_user_id();
-- claims win when both are present
SELECT set_config('request.jwt.claims', '{"sub": "6f1c9a52-2b7e-4d0c-9c1b-0d3f4e5a6b7c"}', true);
SELECT protector.current_user_id();
ROLLBACK;
-- claims without a user mean no user: a session-wide claim.sub an earlier
-- client of a pooled connection left behind is not borrowed by an anon
-- request, nor by a token whose sub is null or missing
SELECT set_config('request.jwt.claim.sub', '0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d', false);
BEGIN;
SELECT set_config('request.jwt.claims', '{"role": "anon"}', true);
SELECT protector.current_user_id() AS anon_request;
SELECT set_config('request.jwt.claims', '{"role": "authenticated", "sub": null}', true);
SELECT protector.current_user_id() AS null_sub;
SELECT set_config('request.jwt.claims', '{"role": "authenticated", "sub": ""}', true);
SELECT protector.current_user_id() AS empty_sub;
ROLLBACK;
-- (with no claims at all, the old setting still answers)
SELECT protector.current_user_id() AS no_claims;
RESET request.jwt.claim.sub;

-- malformed claims: clear errors, never a crash
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "6f1c9a52', true);
SELECT protector.current_user_id();
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', 'not json at all', true);
SELECT protector.current_user_id();
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '["sub", "6f1c9a52-2b7e-4d0c-9c1b-0d3f4e5a6b7c"]', true);
SELECT protector.current_user_id();
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '"6f1c9a52-2b7e-4d0c-9c1b-0d3f4e5a6b7c"', true);
SELECT protector.current_user_id();
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": 42}', true);
SELECT protector.current_user_id();
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": {"id": "6f1c9a52-2b7e-4d0c-9c1b-0d3f4e5a6b7c"}}', true);
SELECT protector.current_user_id();
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": ["6f1c9a52-2b7e-4d0c-9c1b-0d3f4e5a6b7c"]}', true);
SELECT protector.current_user_id();
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "user-42"}', true);
SELECT protector.current_user_id();
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "6f1c9a52-2b7e-4d0c-9c1b-0d3f4e5a6b7c0"}', true);
SELECT protector.current_user_id();
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "6f1c9a52x2b7e-4d0c-9c1b-0d3f4e5a6b7c"}', true);
SELECT protector.current_user_id();
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claim.sub', 'robert''); DROP TABLE students;--', true);
SELECT protector.current_user_id();
ROLLBACK;
-- a huge claims string is refused before parsing
BEGIN;
SELECT length(set_config('request.jwt.claims', '{"pad": "' || repeat('x', 70000) || '"}', true));
SELECT protector.current_user_id();
ROLLBACK;
-- deep nesting is refused as such, before the parser runs out of stack
BEGIN;
SELECT length(set_config('request.jwt.claims', repeat('[', 5000) || repeat(']', 5000), true));
SELECT protector.current_user_id();
ROLLBACK;
-- an error does not poison the cache: a good request afterwards works
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "6f1c9a52-2b7e-4d0c-9c1b-0d3f4e5a6b7c"}', true);
SELECT protector.current_user_id();
ROLLBACK;
