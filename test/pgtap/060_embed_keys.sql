-- Embed keys: format, offline check, uniqueness, randomness, rotation.
BEGIN;
SELECT plan(18);

SELECT matches(protector.generate_embed_key(), '^pk_[0-9A-Za-z]{24}$', 'default format: pk_ + 24 base62 characters');
SELECT matches(protector.generate_embed_key('live2'), '^live2_[0-9A-Za-z]{24}$', 'a custom prefix');
SELECT throws_ok($$SELECT protector.generate_embed_key('Live')$$, '22023', NULL, 'prefixes are lowercase');
SELECT throws_ok($$SELECT protector.generate_embed_key(repeat('a', 17))$$, '22023', NULL, 'prefixes are at most 16 characters');
SELECT is(protector.embed_key_is_well_formed(NULL), NULL, 'NULL is neither');
SELECT is((SELECT count(*)::int FROM unnest(ARRAY['', 'pk_', 'pk', repeat('x', 10000), 'pk_00000000000000000000000-',
		'PK_' || substr(protector.generate_embed_key(), 4), protector.generate_embed_key() || 'x',
		'_' || substr(protector.generate_embed_key(), 4), 'pk-' || substr(protector.generate_embed_key(), 4)]) k
		   WHERE protector.embed_key_is_well_formed(k)), 0,
	'malformed strings are rejected (length, prefix, separator, alphabet)');

-- every single-character change and every swap of adjacent characters of
-- the 24-character body is caught, over 100 keys
CREATE TEMP TABLE k AS SELECT protector.generate_embed_key() AS key FROM generate_series(1, 100);
SELECT is((SELECT count(*)::int FROM k), (SELECT count(*)::int FROM k WHERE protector.embed_key_is_well_formed(key)),
	'every generated key is well formed');
SELECT is((SELECT count(*)::int
		   FROM k, generate_series(4, 27) p,
				unnest(string_to_array('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', NULL)) c
		   WHERE c <> substr(key, p, 1)
			 AND protector.embed_key_is_well_formed(overlay(key PLACING c FROM p FOR 1))),
	0, 'no single-character change passes the check (100 keys x 24 positions x 61 characters)');
SELECT is((SELECT count(*)::int
		   FROM k, generate_series(4, 26) p
		   WHERE substr(key, p, 1) <> substr(key, p + 1, 1)
			 AND protector.embed_key_is_well_formed(overlay(key PLACING substr(key, p + 1, 1) || substr(key, p, 1) FROM p FOR 2))),
	0, 'no swap of adjacent characters passes the check');
SELECT cmp_ok((SELECT count(*)::int FROM generate_series(1, 100000) i
			   WHERE protector.embed_key_is_well_formed('pk_' || substr(md5(i::text) || md5((-i)::text), 1, 24))),
	'<', 100, 'random strings pass only by chance (about 1 in 3,844)');

-- a million keys, no duplicate
SELECT is((SELECT count(DISTINCT protector.generate_embed_key())::int FROM generate_series(1, 1000000)),
	1000000, 'no duplicates in 1,000,000 keys');

-- the 22 random characters are uniform over the 62 (chi-square, 61 degrees
-- of freedom, 2.2 million characters; a modulo bias would score thousands)
SELECT cmp_ok((SELECT sum((n - e) ^ 2 / e) FROM (
				SELECT count(*)::float8 AS n, 2200000 / 62.0 AS e
				FROM (SELECT protector.generate_embed_key() AS key FROM generate_series(1, 100000)) g,
					 generate_series(4, 25) p
				GROUP BY substr(key, p, 1)) x), '<', 130::float8,
	'random characters are uniformly distributed (chi-square < 130)');
SELECT is((SELECT count(DISTINCT substr(key, p, 1))::int
		   FROM (SELECT protector.generate_embed_key() AS key FROM generate_series(1, 20000)) g, generate_series(4, 25) p),
	62, '... and all 62 characters occur');

-- venues get one; rotation
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['e_owner', 'e_manager', 'e_other']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0a600000-0000-4000-8000-000000000000', 'A', 'embed-a'), ('0b600000-0000-4000-8000-000000000000', 'B', 'embed-b');
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0a600000-0000-4000-8000-000000000000', tests.get_supabase_uid('e_owner'), 'owner'),
	('0a600000-0000-4000-8000-000000000000', tests.get_supabase_uid('e_manager'), 'manager'),
	('0b600000-0000-4000-8000-000000000000', tests.get_supabase_uid('e_other'), 'owner');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a600000-0000-4000-8000-0000000000a1', '0a600000-0000-4000-8000-000000000000', 'V', 'UTC');
CREATE TEMP TABLE old_key AS SELECT embed_key FROM protector.venues WHERE id = '0a600000-0000-4000-8000-0000000000a1';
GRANT SELECT ON old_key TO authenticated;
SELECT ok(protector.embed_key_is_well_formed((SELECT embed_key FROM old_key)), 'a new venue gets a well-formed key');

SELECT tests.authenticate_as('e_owner');
SELECT ok(protector.rotate_embed_key('0a600000-0000-4000-8000-0000000000a1') <> (SELECT embed_key FROM old_key),
	'the owner rotates the key');
SELECT is((SELECT count(*)::int FROM protector.venues WHERE embed_key = (SELECT embed_key FROM old_key)), 0,
	'the old key finds no venue any more');
SELECT tests.authenticate_as('e_manager');
SELECT throws_ok($$SELECT protector.rotate_embed_key('0a600000-0000-4000-8000-0000000000a1')$$, '42501', NULL,
	'a manager may not rotate it');
SELECT tests.authenticate_as('e_other');
SELECT throws_ok($$SELECT protector.rotate_embed_key('0a600000-0000-4000-8000-0000000000a1')$$, 'P0002', NULL,
	'another organization does not even see the venue');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
