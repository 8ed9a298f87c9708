-- protector.set_updated_at on a user's own table (docs/security.md: users'
-- tables attach it by that name) stores the stamp as an assignment would:
-- the column's type modifier applied, its domain's checks run (it wrote
-- fractional seconds into a timestamptz(0), and a stamp a domain's CHECK
-- refuses, which then kept the table's dump from loading).  A table
-- missing what the trigger needs (a column, an index, a CHECK) is told
-- so, not that protector is damaged.  An audited row holding a json value jsonb cannot hold fails
-- its change (as to_jsonb(row) does): the error says it was the audit.
BEGIN;
SELECT plan(23);

CREATE TABLE public.rounded (id int PRIMARY KEY, v text, updated_at timestamptz(0));
INSERT INTO public.rounded VALUES (1, 'a', '2020-01-01');
CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.rounded FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
UPDATE public.rounded SET v = 'b';
SELECT is((SELECT updated_at FROM public.rounded), now()::timestamptz(0),
	'a timestamptz(0) column gets the transaction''s start rounded to the second, as now() assigned to it would');

CREATE DOMAIN public.stamp_2000s AS timestamptz CHECK (VALUE < '2010-01-01');
CREATE TABLE public.checked (id int PRIMARY KEY, v text, updated_at public.stamp_2000s);
INSERT INTO public.checked VALUES (1, 'a', '2005-01-01');
CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.checked FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
SELECT throws_ok($$UPDATE public.checked SET v = 'b'$$, '23514',
	'value for domain stamp_2000s violates check constraint "stamp_2000s_check"',
	'a domain''s CHECK refuses the stamp, as it refuses now() assigned to it');
SELECT is((SELECT updated_at::timestamptz FROM public.checked), '2005-01-01'::timestamptz, '... and the row keeps its stamp');

CREATE TABLE public.local_stamp (id int PRIMARY KEY, v text, updated_at timestamp);
INSERT INTO public.local_stamp VALUES (1, 'a', '2020-01-01');
CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.local_stamp FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
SELECT is(tests.error_text($$UPDATE public.local_stamp SET v = 'b'$$),
	'42703 | public.local_stamp has no column "updated_at" of type timestamp with time zone | '
	'A trigger of protector''s attached to a table of your own needs it there.',
	'a user''s table without the column is told what the trigger needs, not that protector is damaged');


CREATE TABLE public.notes (id int PRIMARY KEY, body json, title text);
INSERT INTO public.notes VALUES (1, '{"a": "\u0000"}', 'x');
SELECT protector.enable_audit('public.notes') IS NOT NULL AS audited \gset
SELECT is(tests.error_text($$UPDATE public.notes SET title = 'z'$$, 'protector''s audit'),
	'22P05 | unsupported Unicode escape sequence | \u0000 cannot be converted to text. | protector''s audit of public.notes: column "body" as jsonb',
	'a json value jsonb cannot hold fails the audited change, and the error names the audit and the column');

-- reservation_check on a table of the user's own without protector's
-- CHECK: a range bounded by -infinity is refused (it was stored beside
-- an overlapping booking: buffers added to -infinity wrapped around)
CREATE SCHEMA u;
CREATE TABLE u.services (LIKE protector.services INCLUDING DEFAULTS);
CREATE TABLE u.bookings (LIKE protector.bookings INCLUDING DEFAULTS);
CREATE TABLE u.venues (LIKE protector.venues INCLUDING DEFAULTS);
ALTER TABLE u.venues ADD PRIMARY KEY (id);
CREATE UNIQUE INDEX services_pkey ON u.services (id);
CREATE UNIQUE INDEX bookings_pkey ON u.bookings (id);
CREATE INDEX bookings_long_during_idx ON u.bookings USING gist (service_id, during) WHERE protector_internal.booking_is_long(during);
CREATE INDEX bookings_service_start_idx ON u.bookings (service_id, lower(during));
INSERT INTO u.services (id, organization_id, venue_id, name, mode, capacity, duration, buffer_before, buffer_after, currency)
VALUES ('00000000-0000-4000-8000-000000000001', gen_random_uuid(), gen_random_uuid(), 'Room', 'exclusive', 1, '1 hour', '0',
		'15 minutes', 'EUR');
CREATE TRIGGER reservation_check AFTER INSERT ON u.bookings FOR EACH ROW EXECUTE FUNCTION protector.reservation_check();
INSERT INTO u.bookings (organization_id, venue_id, service_id, during, currency)
SELECT organization_id, venue_id, id, '[2030-06-01 10:00+00,2030-06-01 11:00+00)', 'EUR' FROM u.services;
SELECT is(tests.error_text($$INSERT INTO u.bookings (organization_id, venue_id, service_id, during, currency)
							  SELECT organization_id, venue_id, id, '[-infinity,2030-06-01 10:30+00)', 'EUR' FROM u.services$$),
	'23514 | a booking or shift range must be finite and non-empty | '
	'Protector''s tables have a CHECK constraint that says so; a row without it was read. | '
	'A table of your own that a trigger of protector''s checks needs the same CHECK constraint.',
	'a range from -infinity on a user''s table is refused, not stored over another booking');
-- ... and parties whose sum passes 2^31 do not wrap around to room
INSERT INTO u.services (id, organization_id, venue_id, name, mode, capacity, duration, currency)
VALUES ('00000000-0000-4000-8000-000000000002', gen_random_uuid(), gen_random_uuid(), 'Hall', 'shared', 2147483647, '1 hour', 'EUR');
INSERT INTO u.bookings (organization_id, venue_id, service_id, during, party_size, currency)
SELECT organization_id, venue_id, id, '[2030-06-01 10:00+00,2030-06-01 11:00+00)', 2147483647, 'EUR' FROM u.services WHERE name = 'Hall';
SELECT throws_ok($$INSERT INTO u.bookings (organization_id, venue_id, service_id, during, party_size, currency)
					SELECT organization_id, venue_id, id, '[2030-06-01 10:00+00,2030-06-01 11:00+00)', 2147483647, 'EUR'
					FROM u.services WHERE name = 'Hall'$$,
	'23P01', 'service "Hall" has no room for a party of 2147483647 at the requested time',
	'a second party of 2^31 - 1 finds the shared service full');
DROP INDEX u.bookings_service_start_idx;
SELECT is(tests.error_text($$INSERT INTO u.bookings (organization_id, venue_id, service_id, during, currency)
							  SELECT organization_id, venue_id, id, '[2030-06-02 10:00+00,2030-06-02 11:00+00)', 'EUR' FROM u.services$$),
	'42704 | index u.bookings_service_start_idx of bookings is missing or invalid | '
	'A trigger of protector''s attached to a table of your own needs it there.',
	'a user''s table without an index the check reads is told so, not that protector is damaged');
CREATE TABLE public.shiftless (id int);
CREATE TRIGGER shift_check AFTER INSERT ON public.shiftless FOR EACH ROW EXECUTE FUNCTION protector_internal.shift_check();
SELECT is(tests.error_text($$INSERT INTO public.shiftless VALUES (1)$$),
	'42704 | index public.staff_shifts_during_idx is missing | '
	'A trigger of protector''s attached to a table of your own needs it there.',
	'... as is one with shift_check');

-- a table a superuser added to schema protector with an organization_id
-- that is no uuid, or retyped after its plan was made, is refused by
-- authorize_row (it read the bigint as a pointer: the backend crashed)
CREATE TABLE protector.zz_wide (id uuid PRIMARY KEY, organization_id bigint);
INSERT INTO protector.zz_wide VALUES ('0e000000-0000-4000-8000-000000000000', 42);
SELECT is(tests.error_text($$SELECT protector_internal.authorize_row('protector.zz_wide', '0e000000-0000-4000-8000-000000000000', NULL, 'thing')$$),
	'22023 | protector.zz_wide has no uuid id and organization_id | Its column organization_id is of type bigint.',
	'a bigint organization_id is refused');
CREATE TABLE protector.zz_retyped (id uuid PRIMARY KEY, organization_id uuid);
INSERT INTO protector.zz_retyped VALUES ('0e000000-0000-4000-8000-000000000000', '0e000000-0000-4000-8000-0000000000aa');
SELECT protector_internal.authorize_row('protector.zz_retyped', '0e000000-0000-4000-8000-000000000000', NULL, 'thing') AS first_call \gset
ALTER TABLE protector.zz_retyped ALTER organization_id TYPE text;
SELECT is(tests.error_text($$SELECT protector_internal.authorize_row('protector.zz_retyped', '0e000000-0000-4000-8000-000000000000', NULL, 'thing')$$),
	'22023 | protector.zz_retyped has no uuid id and organization_id | Its column organization_id is of type text.',
	'... and so is one retyped after its plan was made');
-- the text of a table's lookup follows the table: one that gains
-- deleted_at after the session's first lookup skips its deleted rows
-- (the first text, without the filter, was kept for the session's life)
CREATE TABLE protector.zz_soft (id uuid PRIMARY KEY, organization_id uuid);
INSERT INTO protector.zz_soft VALUES ('0e000000-0000-4000-8000-000000000000', '0e000000-0000-4000-8000-0000000000aa');
SELECT protector_internal.authorize_row('protector.zz_soft', '0e000000-0000-4000-8000-000000000000', NULL, 'thing') AS first_call \gset
ALTER TABLE protector.zz_soft ADD COLUMN deleted_at timestamptz;
UPDATE protector.zz_soft SET deleted_at = now();
SELECT is(tests.error_text($$SELECT protector_internal.authorize_row('protector.zz_soft', '0e000000-0000-4000-8000-000000000000', NULL, 'thing')$$),
	'P0002 | thing not found | It does not exist, or you may not see it.',
	'a row deleted by a column added since the first lookup is not found');

-- an audited table's organization_id of a domain over uuid is the row's
-- organization (it was logged NULL)
CREATE DOMAIN public.org_ref AS uuid;
CREATE TABLE public.org_notes (id int PRIMARY KEY, organization_id public.org_ref);
SELECT protector.enable_audit('public.org_notes') IS NOT NULL AS audited \gset
INSERT INTO public.org_notes VALUES (1, '0e000000-0000-4000-8000-0000000000bb');
SELECT is((SELECT organization_id FROM protector.audit_log WHERE table_name = 'public.org_notes'),
	'0e000000-0000-4000-8000-0000000000bb'::uuid, 'a domain over uuid is the audit row''s organization');

-- reservation_check and service_mode_check on tables of one's own read
-- their siblings through their indexes: a partitioned sibling (whose
-- index is none to scan) crashed the server, and a partial start index
-- hid bookings from the check, which let overlaps through
CREATE SCHEMA u1;
CREATE TABLE u1.venues (id uuid, timezone text, PRIMARY KEY (id)) PARTITION BY HASH (id);
CREATE TABLE u1.venues_p0 PARTITION OF u1.venues FOR VALUES WITH (MODULUS 1, REMAINDER 0);
CREATE TABLE u1.services (id uuid, organization_id uuid, venue_id uuid, name text, mode protector.service_mode,
	capacity int, buffer_before interval, buffer_after interval, PRIMARY KEY (id)) PARTITION BY HASH (id);
CREATE TABLE u1.services_p0 PARTITION OF u1.services FOR VALUES WITH (MODULUS 1, REMAINDER 0);
CREATE TABLE u1.bookings (id uuid PRIMARY KEY, organization_id uuid, venue_id uuid, idempotency_key text, service_id uuid,
	party_size int, during tstzrange, status protector.booking_status, hold_expires_at timestamptz);
CREATE INDEX bookings_long_during_idx ON u1.bookings USING gist (service_id, during) WHERE protector_internal.booking_is_long(during);
CREATE INDEX bookings_service_start_idx ON u1.bookings (service_id, lower(during));
CREATE CONSTRAINT TRIGGER reservation_check AFTER INSERT OR UPDATE ON u1.bookings
	FOR EACH ROW EXECUTE FUNCTION protector.reservation_check();
INSERT INTO u1.venues VALUES ('0e000000-0000-4000-8000-0000000001a1', 'Europe/Berlin');
INSERT INTO u1.services VALUES ('0e000000-0000-4000-8000-0000000001b1', NULL, '0e000000-0000-4000-8000-0000000001a1', 'Room', 'exclusive', 1, '0', '0');
SELECT throws_ok($$INSERT INTO u1.bookings VALUES (gen_random_uuid(), NULL, '0e000000-0000-4000-8000-0000000001a1', NULL,
	'0e000000-0000-4000-8000-0000000001b1', 1, '[2030-01-01 10:00+00,2030-01-01 11:00+00)', 'confirmed', NULL)$$,
	'42809', 'u1.services is not a plain table', 'a partitioned services table beside one''s bookings is refused by name (it crashed the server)');
-- a plain services table: the venue, partitioned, is read for the refusal's message
CREATE TABLE u1.services_plain (LIKE u1.services);
ALTER TABLE u1.services DETACH PARTITION u1.services_p0;
DROP TABLE u1.services;
ALTER TABLE u1.services_plain RENAME TO services;
ALTER TABLE u1.services ADD PRIMARY KEY (id);
INSERT INTO u1.services SELECT * FROM u1.services_p0;
INSERT INTO u1.bookings VALUES (gen_random_uuid(), NULL, '0e000000-0000-4000-8000-0000000001a1', NULL,
	'0e000000-0000-4000-8000-0000000001b1', 1, '[2030-01-01 10:00+00,2030-01-01 11:00+00)', 'confirmed', NULL);
SELECT throws_ok($$INSERT INTO u1.bookings VALUES (gen_random_uuid(), NULL, '0e000000-0000-4000-8000-0000000001a1', NULL,
	'0e000000-0000-4000-8000-0000000001b1', 1, '[2030-01-01 10:30+00,2030-01-01 11:30+00)', 'confirmed', NULL)$$,
	'42809', 'u1.venues is not a plain table', '... and so is a partitioned venues table read for a refusal''s message');
-- service_mode_check beside partitioned bookings
CREATE SCHEMA u2;
CREATE TABLE u2.services (id uuid PRIMARY KEY, organization_id uuid, venue_id uuid, name text, mode protector.service_mode,
	capacity int, buffer_before interval, buffer_after interval);
CREATE TABLE u2.bookings (id uuid, organization_id uuid, venue_id uuid, idempotency_key text, service_id uuid,
	party_size int, during tstzrange, status protector.booking_status, hold_expires_at timestamptz, PRIMARY KEY (id)) PARTITION BY HASH (id);
CREATE TABLE u2.bookings_p0 PARTITION OF u2.bookings FOR VALUES WITH (MODULUS 1, REMAINDER 0);
CREATE CONSTRAINT TRIGGER service_mode_check AFTER UPDATE OF mode ON u2.services
	FOR EACH ROW EXECUTE FUNCTION protector.service_mode_check();
INSERT INTO u2.services VALUES ('0e000000-0000-4000-8000-0000000002b1', NULL, NULL, 'Room', 'shared', 5, '0', '0');
SELECT throws_ok($$UPDATE u2.services SET mode = 'exclusive'$$,
	'42809', 'u2.bookings is not a plain table', 'service_mode_check beside a partitioned bookings table is refused by name');
-- a partial start index
DROP INDEX u1.bookings_service_start_idx;
CREATE INDEX bookings_service_start_idx ON u1.bookings (service_id, lower(during)) WHERE party_size > 50;
SELECT throws_ok($$INSERT INTO u1.bookings VALUES (gen_random_uuid(), NULL, '0e000000-0000-4000-8000-0000000001a1', NULL,
	'0e000000-0000-4000-8000-0000000001b1', 1, '[2030-01-02 10:00+00,2030-01-02 11:00+00)', 'confirmed', NULL)$$,
	'55000', 'index u1.bookings_service_start_idx does not have the columns the reservation check reads',
	'a partial start index is refused (it hid bookings from the check: overlaps went through)');

-- ... nor a start index in descending order (the step back met the
-- earliest booking first), a services_pkey on another column or not
-- unique (another service's rules were read), or the trigger's table a
-- partition (each partition was checked alone)
DROP INDEX u1.bookings_service_start_idx;
CREATE INDEX bookings_service_start_idx ON u1.bookings (service_id, lower(during) DESC);
SELECT throws_ok($$INSERT INTO u1.bookings VALUES (gen_random_uuid(), NULL, '0e000000-0000-4000-8000-0000000001a1', NULL,
	'0e000000-0000-4000-8000-0000000001b1', 1, '[2030-01-02 10:00+00,2030-01-02 11:00+00)', 'confirmed', NULL)$$,
	'55000', 'index u1.bookings_service_start_idx does not have the columns the reservation check reads',
	'a start index in descending order is refused (overlaps went through)');
DROP INDEX u1.bookings_service_start_idx;
CREATE INDEX bookings_service_start_idx ON u1.bookings (service_id, lower(during));
ALTER TABLE u1.services DROP CONSTRAINT services_pkey;
CREATE INDEX services_pkey ON u1.services (venue_id);
SELECT throws_ok($$INSERT INTO u1.bookings VALUES (gen_random_uuid(), NULL, '0e000000-0000-4000-8000-0000000001a1', NULL,
	'0e000000-0000-4000-8000-0000000001b1', 1, '[2030-01-02 10:00+00,2030-01-02 11:00+00)', 'confirmed', NULL)$$,
	'55000', 'index services_pkey does not have the key columns protector reads it by',
	'a services_pkey that is not the unique key on id is refused (another service''s rules were read)');
CREATE SCHEMA u3;
CREATE TABLE u3.services (LIKE u1.services);
ALTER TABLE u3.services ADD PRIMARY KEY (id);
CREATE TABLE u3.venues (LIKE u1.venues_p0);
CREATE TABLE u3.parent (LIKE u1.bookings) PARTITION BY HASH (id);
CREATE TABLE u3.bookings PARTITION OF u3.parent FOR VALUES WITH (MODULUS 1, REMAINDER 0);
ALTER TABLE u3.bookings ADD PRIMARY KEY (id);
CREATE INDEX bookings_long_during_idx ON u3.bookings USING gist (service_id, during) WHERE protector_internal.booking_is_long(during);
CREATE INDEX bookings_service_start_idx ON u3.bookings (service_id, lower(during));
CREATE CONSTRAINT TRIGGER reservation_check AFTER INSERT OR UPDATE ON u3.bookings
	FOR EACH ROW EXECUTE FUNCTION protector.reservation_check();
INSERT INTO u3.services VALUES ('0e000000-0000-4000-8000-0000000003b1', NULL, NULL, 'Room', 'exclusive', 1, '0', '0');
SELECT throws_ok($$INSERT INTO u3.parent VALUES (gen_random_uuid(), NULL, NULL, NULL,
	'0e000000-0000-4000-8000-0000000003b1', 1, '[2030-01-02 10:00+00,2030-01-02 11:00+00)', 'confirmed', NULL)$$,
	'42809', 'u3.bookings is a partition', 'a partition''s reservation check is refused (each partition was checked alone)');

-- service_mode_check on a table that is not the services beside its
-- bookings read that table's rows at the columns it found in services
-- (a fuzzing: an int read as a uuid's pointer crashed the server); and a
-- table of one's own missing an enum label or holding a NULL the check
-- reads is told so, not that protector is damaged
CREATE SCHEMA u4;
CREATE TABLE u4.venues (LIKE u3.venues);
CREATE TABLE u4.services (LIKE u3.services);
ALTER TABLE u4.services ADD PRIMARY KEY (id);
CREATE TABLE u4.bookings (LIKE u1.bookings);
ALTER TABLE u4.bookings ADD PRIMARY KEY (id);
CREATE INDEX bookings_long_during_idx ON u4.bookings USING gist (service_id, during) WHERE protector_internal.booking_is_long(during);
CREATE INDEX bookings_service_start_idx ON u4.bookings (service_id, lower(during));
CREATE TABLE u4.scratch (id int, c2 int, c3 int, c4 int, c5 int, mode protector.service_mode);
INSERT INTO u4.scratch VALUES (1, 2, 3, 4, 5, 'shared');
CREATE TRIGGER service_mode_check AFTER UPDATE ON u4.scratch FOR EACH ROW EXECUTE FUNCTION protector.service_mode_check();
SELECT is(tests.error_text($$UPDATE u4.scratch SET mode = 'exclusive'$$),
	'39P01 | service_mode_check fired on u4.scratch, which is not the services table beside its bookings | '
	'It reads a service''s mode, buffers and name where it found them in u4.services. | '
	'A trigger of protector''s attached to a table of your own needs it there.',
	'service_mode_check on a table that is not the services beside its bookings is refused (it crashed the server)');
CREATE CONSTRAINT TRIGGER reservation_check AFTER INSERT OR UPDATE ON u4.bookings
	FOR EACH ROW EXECUTE FUNCTION protector.reservation_check();
SELECT is(tests.error_text($$INSERT INTO u4.bookings VALUES (gen_random_uuid(), NULL, NULL, NULL,
	NULL, 1, '[2030-01-02 10:00+00,2030-01-02 11:00+00)', 'confirmed', NULL)$$),
	'23502 | column "service_id" of bookings is null | Protector reads it as NOT NULL, as its own schema declares it. | '
	'A trigger of protector''s attached to a table of your own needs it there.',
	'a NULL the reservation check reads in a table of one''s own is told so, not that protector is damaged');
ALTER TABLE u4.bookings ALTER COLUMN status TYPE text;
SELECT is(tests.error_text($$INSERT INTO u4.bookings VALUES (gen_random_uuid(), NULL, NULL, NULL,
	'0e000000-0000-4000-8000-0000000004b1', 1, '[2030-01-02 10:00+00,2030-01-02 11:00+00)', 'confirmed', NULL)$$),
	'42704 | type text has no label "cancelled" | A trigger of protector''s attached to a table of your own needs it there.',
	'... and so is a status column that is not protector''s enum');

SELECT * FROM finish();
ROLLBACK;
