-- The keys of protector's advisory locks (src/locks.c).  0.1.0 keyed a
-- service's lock by the 32-bit hash_bytes() of its id (uuid_hash), which
-- a tenant could aim at: an attack review of the forty-second stop found,
-- in two minutes of one core, an id for a service of its own whose key
-- was another organization's service's, then held that lock with its own
-- bookings while the victim's widget failed with 40001.  The pair it
-- found is below.  Keys are now 64 bits of SHA-256 over the lock's class
-- and the id: pinned here against SHA-256 computed in SQL.
BEGIN;
SELECT plan(7);

SELECT is(uuid_hash('0a700000-0000-4000-8000-0000000005a1'), uuid_hash('0c700000-0000-4000-8000-000149dc9446'),
	'the premise: two ids whose 0.1.0 lock keys (uuid_hash) are one');
SELECT isnt(protector.service_lock_key('0a700000-0000-4000-8000-0000000005a1'),
	protector.service_lock_key('0c700000-0000-4000-8000-000149dc9446'),
	'... have two service lock keys now');
SELECT is(protector.service_lock_key('0a700000-0000-4000-8000-0000000005a1'),
	('x' || left(encode(sha256(int4send(1886547713) || uuid_send('0a700000-0000-4000-8000-0000000005a1')), 'hex'), 16))::bit(64)::bigint,
	'a service''s key is the first 8 bytes of SHA-256 over the reservation class (1886547713) and its id');
SELECT is(protector_internal.lock_key(1886547723, '0c700000-0000-4000-8000-000149dc9446'),
	('x' || left(encode(sha256(int4send(1886547723) || uuid_send('0c700000-0000-4000-8000-000149dc9446')), 'hex'), 16))::bit(64)::bigint,
	'so is any lock''s, of its class and id');
SELECT isnt(protector_internal.lock_key(1886547719, '0a700000-0000-4000-8000-0000000005a1'),
	protector.service_lock_key('0a700000-0000-4000-8000-0000000005a1'),
	'one id''s locks of two classes (a member''s schedule, a service) are two');
SELECT is(protector.service_lock_key(NULL), NULL, 'no id, no key');

-- the lock a booking takes is that key's (single-bigint form: objsubid 1)
SELECT tests.create_supabase_user('lk_owner') IS NOT NULL \g /dev/null
INSERT INTO protector.organizations (id, name, slug) VALUES ('0a910000-0000-4000-8000-000000000000', 'L', 'lock-keys');
INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
VALUES ('0a910000-0000-4000-8000-000000000000', tests.get_supabase_uid('lk_owner'), 'owner', now());
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0a910000-0000-4000-8000-0000000000a1', '0a910000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, mode)
VALUES ('0a910000-0000-4000-8000-0000000005a1', '0a910000-0000-4000-8000-000000000000', '0a910000-0000-4000-8000-0000000000a1',
		'S', '60 minutes', '60 minutes', '400 days', 4, 'shared');
SELECT tests.authenticate_as('lk_owner');
SELECT protector.create_booking('0a910000-0000-4000-8000-0000000005a1', NULL,
	date_trunc('day', now()) + interval '3 days 10 hours', 1) IS NOT NULL \g /dev/null
RESET ROLE;
SELECT is((SELECT count(*)::integer FROM pg_locks
		   WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 1
			 AND ((classid::bigint << 32) | objid::bigint) = protector.service_lock_key('0a910000-0000-4000-8000-0000000005a1')),
	1, 'a booking holds its service''s lock under that key');

SELECT * FROM finish();
ROLLBACK;
