-- An application's own unique key, met by the RPCs that catch a unique
-- violation for their own race (create_booking's idempotency key,
-- create_organization's slug, create_staff_member's open invitation,
-- submit_waiver's participant): the application's error comes through as
-- it is (23505 naming its key), not as theirs (a 40001 "retry" a client
-- would retry forever, a slug or a signature that is not the cause).
-- Their own conflicts keep their own answers.  An application's key of
-- the same name as theirs, on its own table, is the application's too.
BEGIN;
SELECT plan(8);

SELECT tests.create_supabase_user('keys_owner') IS NOT NULL AS created \gset
-- an application's log: one row per table and day
CREATE TABLE public.app_log (kind text, day date, UNIQUE (kind, day));
GRANT ALL ON public.app_log TO authenticated;
CREATE FUNCTION public.app_log_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.app_log VALUES (TG_TABLE_NAME, current_date);
	RETURN NULL;
END
$$;
CREATE TRIGGER app_log AFTER INSERT ON protector.organizations FOR EACH ROW EXECUTE FUNCTION public.app_log_row();
CREATE TRIGGER app_log AFTER INSERT ON protector.bookings FOR EACH ROW EXECUTE FUNCTION public.app_log_row();
CREATE TRIGGER app_log AFTER INSERT ON protector.staff_invitations FOR EACH ROW EXECUTE FUNCTION public.app_log_row();
CREATE TRIGGER app_log AFTER INSERT ON protector.waiver_submissions FOR EACH ROW EXECUTE FUNCTION public.app_log_row();

SELECT tests.authenticate_as('keys_owner');
SELECT protector.create_organization('Keys', 'app-keys-1', 'UTC', 'EUR') ->> 'id' AS org \gset
SELECT throws_ok($$SELECT protector.create_organization('Keys', 'app-keys-1', 'UTC', 'EUR')$$,
	'23505', 'the slug "app-keys-1" is already taken', 'a slug taken is still said so');
SELECT throws_ok($$SELECT protector.create_organization('Keys 2', 'app-keys-2', 'UTC', 'EUR')$$,
	'23505', 'duplicate key value violates unique constraint "app_log_kind_day_key"',
	'create_organization: the application''s key, not a slug taken');

SELECT protector.create_venue(:'org', 'V', 'UTC') ->> 'id' AS venue \gset
SELECT protector.create_service(:'venue', 'Room', '1 hour', p_slot_interval => '1 hour') ->> 'id' AS service \gset
SELECT protector.create_booking(:'service', NULL, date_trunc('day', now()) + interval '3 days 10 hours',
	p_idempotency_key => 'k1') IS NOT NULL AS booked \gset
SELECT throws_ok(format($$SELECT protector.create_booking(%L, NULL, date_trunc('day', now()) + interval '3 days 12 hours',
	p_idempotency_key => 'k2')$$, :'service'),
	'23505', 'duplicate key value violates unique constraint "app_log_kind_day_key"',
	'create_booking with a key: the application''s key, not a 40001 retry');

SELECT protector.create_staff_member(:'org', 'first@keys.test', 'operator') IS NOT NULL AS invited \gset
SELECT throws_ok(format($$SELECT protector.create_staff_member(%L, 'second@keys.test', 'operator')$$, :'org'),
	'23505', 'duplicate key value violates unique constraint "app_log_kind_day_key"',
	'create_staff_member: the application''s key, not an invitation made at the same moment');

SELECT protector.create_waiver(:'org', 'Waiver', 'The text.') ->> 'waiver_id' AS waiver \gset
SELECT protector.submit_waiver(:'waiver', 'Pat One', '1990-01-01', 'Pat One', 'Pat One') IS NOT NULL AS signed \gset
SELECT throws_ok(format($$SELECT protector.submit_waiver(%L, 'Pat Two', '1990-01-01', 'Pat Two', 'Pat Two')$$, :'waiver'),
	'23505', 'duplicate key value violates unique constraint "app_log_kind_day_key"',
	'submit_waiver: the application''s key, not a participant who signed already');
SELECT tests.clear_authentication();

SELECT is((SELECT count(*) FROM public.app_log), 4::bigint, 'one row per table: the four first writes');

-- an application's own bookings and organizations, keyed by the same names as protector's
DROP TRIGGER app_log ON protector.organizations;
DROP TRIGGER app_log ON protector.bookings;
CREATE TABLE public.bookings (id uuid PRIMARY KEY, idempotency_key text);
CREATE UNIQUE INDEX bookings_idempotency_key_idx ON public.bookings (idempotency_key);
CREATE TABLE public.organizations (slug text UNIQUE);
INSERT INTO public.organizations VALUES ('app-taken');
GRANT ALL ON public.bookings, public.organizations TO authenticated;
CREATE FUNCTION public.mirror() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_TABLE_NAME = 'bookings' THEN
		INSERT INTO public.bookings VALUES (NEW.id, NEW.idempotency_key);
	ELSE
		INSERT INTO public.organizations VALUES (NEW.slug);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER mirror AFTER INSERT ON protector.bookings FOR EACH ROW EXECUTE FUNCTION public.mirror();
CREATE TRIGGER mirror AFTER INSERT ON protector.organizations FOR EACH ROW EXECUTE FUNCTION public.mirror();
SELECT tests.authenticate_as('keys_owner');
SELECT throws_ok($$SELECT protector.create_organization('Keys 3', 'app-taken', 'UTC', 'EUR')$$,
	'23505', 'duplicate key value violates unique constraint "organizations_slug_key"',
	'create_organization: the application''s organizations_slug_key, not protector''s slug taken');
SELECT protector.create_organization('Keys 4', 'app-keys-4', 'UTC', 'EUR') ->> 'id' AS org4 \gset
SELECT protector.create_venue(:'org4', 'V4', 'UTC') ->> 'id' AS venue4 \gset
SELECT protector.create_service(:'venue4', 'Room 4', '1 hour', p_slot_interval => '1 hour') ->> 'id' AS service4 \gset
SELECT protector.create_booking(:'service', NULL, date_trunc('day', now()) + interval '3 days 14 hours',
	p_idempotency_key => 'k5') IS NOT NULL AS mirrored \gset
SELECT throws_ok(format($$SELECT protector.create_booking(%L, NULL, date_trunc('day', now()) + interval '3 days 10 hours',
	p_idempotency_key => 'k5')$$, :'service4'),
	'23505', 'duplicate key value violates unique constraint "bookings_idempotency_key_idx"',
	'create_booking: another organization''s key k5 in the application''s table of that index name, not a 40001 retry');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
