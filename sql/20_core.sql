\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/20_core.sql: the C functions everything else stands on (identity,
-- RLS helpers, errors, time zone validation, updated_at).

CREATE FUNCTION protector.current_user_id()
RETURNS uuid
AS 'MODULE_PATHNAME', 'protector_current_user_id'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.current_user_id() IS
'Auth user id of the request: request.jwt.claims ->> ''sub'' (request.jwt.claim.sub only when there are no claims); NULL when there is none';

-- Internal helpers live in protector_internal, a schema PostgREST does not
-- expose.  Only the authorization helpers that policies and RPCs running
-- as the caller ask are executable by authenticated (sql/90_grants.sql).
CREATE SCHEMA protector_internal;
COMMENT ON SCHEMA protector_internal IS
'protector: internal helpers and triggers; not for PostgREST''s db_schemas';

-- Whether protector may read or call into schema p_name (auth, realtime)
-- with rights other than the caller's: only when a superuser owns it.  On
-- Supabase its superuser makes both; on a vanilla PostgreSQL whoever may
-- create a schema could make one of those names, and a view or function
-- of theirs that a SECURITY DEFINER function of protector's reads or calls
-- would run as protector's owner.  Roles a superuser lets create objects
-- there (Supabase's own services) are trusted as that superuser.
CREATE FUNCTION protector_internal.trusted_schema(p_name name)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT FROM pg_catalog.pg_namespace n
			   JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
			   WHERE n.nspname OPERATOR(pg_catalog.=) p_name AND r.rolsuper);
COMMENT ON FUNCTION protector_internal.trusted_schema(name) IS
'Is schema p_name (auth, realtime) a superuser''s, so that protector may read or call into it with its owner''s rights';

-- Supabase Auth's users table, where protector may read it with its
-- owner's rights: an ordinary table (a view's functions would run as the
-- reader) in a schema auth a superuser owns, having column p_column; and
-- the columns protector reads (id, email and p_column) of PostgreSQL's
-- own types: the table may be a role's that is no superuser (Supabase's
-- supabase_auth_admin), and a type of that role's, with an implicit cast
-- of its own, would run the cast as protector's owner wherever a read
-- compares or assigns the column.
CREATE FUNCTION protector_internal.auth_users_with(p_column name)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN protector_internal.trusted_schema('auth')
	AND EXISTS (SELECT FROM pg_catalog.pg_class c
				JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
				WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('auth.users')
				  AND c.relkind OPERATOR(pg_catalog.=) 'r'
				  AND a.attname OPERATOR(pg_catalog.=) p_column AND NOT a.attisdropped)
	AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
					WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('auth.users')
					  AND a.attname OPERATOR(pg_catalog.=) ANY (ARRAY['id', 'email', p_column]::name[])
					  AND NOT a.attisdropped
					  -- (FirstNormalObjectId: the first object id not PostgreSQL's)
					  AND a.atttypid OPERATOR(pg_catalog.>=) 16384::oid);
COMMENT ON FUNCTION protector_internal.auth_users_with(name) IS
'Is auth.users an ordinary table of a superuser''s schema auth with column p_column: protector reads it with its owner''s rights only then';

-- A user's e-mail address from auth.users, read as its owner in a
-- security-restricted operation (src/auth_users.c): the table may be a
-- role's that is no superuser, and a plain table still runs its owner's
-- code for whoever plans a read (a partial index's predicate, expression
-- statistics, an inheriting table's CHECK): read as protector's owner,
-- that role became a superuser at the next sign-in (an attack review).
-- Callers ask auth_users_with() first.
CREATE FUNCTION protector_internal.auth_user_email(p_user_id uuid, p_confirmed boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_auth_user_email'
LANGUAGE C STABLE;
COMMENT ON FUNCTION protector_internal.auth_user_email(uuid, boolean) IS
'A user''s e-mail address (once confirmed, where p_confirmed), read from auth.users as its owner; NULL where none';

-- The ids of protector's rows (every table's id DEFAULT): time-ordered
-- UUIDs (version 7), so that new ids land on the right edge of every index
-- that holds them, with 62 random bits from pg_strong_random(), drawn for
-- 64 ids at a time (src/random_id.c: gen_random_uuid() costs 3 us a call
-- in OpenSSL's set-up).  Executable by the roles that insert rows as themselves.
CREATE FUNCTION protector_internal.random_uuid()
RETURNS uuid
AS 'MODULE_PATHNAME', 'protector_random_uuid'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.random_uuid() IS
'A time-ordered UUID (version 7: its creation time to the microsecond, then 62 random bits from gen_random_uuid()''s generator): the id DEFAULT of protector''s tables';

-- The CHECK constraint of protector.bookings in C (src/constraints.c):
-- bookings_row_check, every rule of a row in one call, each violation under
-- its rule's own constraint name; during_is_bounded and
-- during_within_31_days, two of its rules, callable alone.  Executable by
-- the roles that insert and update bookings as themselves.
CREATE FUNCTION protector_internal.during_is_bounded(tstzrange)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_during_is_bounded'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.during_is_bounded(tstzrange) IS
'CHECK bookings_during_check: not empty, [) bounds, both finite and from 0001-01-02 to 9999-12-31 00:00 UTC';

CREATE FUNCTION protector_internal.during_within_31_days(tstzrange)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_during_within_31_days'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.during_within_31_days(tstzrange) IS
'CHECK bookings_length_check: upper - lower <= 31 days';

CREATE FUNCTION protector_internal.bookings_row_check(
	amount_paid numeric, cancellation_reason text, status protector.booking_status,
	hold_expires_at timestamptz, currency text, deposit_amount numeric, details jsonb,
	discount_amount numeric, during tstzrange, idempotency_key text, party_size integer,
	total_price numeric, unit_price numeric)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_bookings_row_check'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.bookings_row_check(numeric, text, protector.booking_status, timestamptz, text,
	numeric, jsonb, numeric, tstzrange, text, integer, numeric, numeric) IS
'CHECK bookings_row_check: every rule of a booking row; a violation names the rule''s own constraint (sql/30_tables.sql)';

-- A value's size uncompressed, for the size limits of CHECKs and RPC
-- arguments: pg_column_size() measures a compressed value as compressed (a
-- 200 kB payload copied from a stored row passed a limit of 8 kB).
CREATE FUNCTION protector_internal.value_size(jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'protector_value_size'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.value_size(jsonb) IS
'The size of a jsonb value uncompressed, in bytes (pg_column_size() of it when it is not compressed)';

GRANT EXECUTE ON FUNCTION protector_internal.during_is_bounded(tstzrange),
	protector_internal.during_within_31_days(tstzrange),
	protector_internal.value_size(jsonb),
	protector_internal.bookings_row_check(numeric, text, protector.booking_status, timestamptz, text,
		numeric, jsonb, numeric, tstzrange, text, integer, numeric, numeric)
	TO authenticated, service_role;

-- A booking's start, lower(during), as a function PostgreSQL may run
-- before a row's policies (LEAKPROOF: it fails on no value and tells
-- nothing but its result): the organization's start index is on it, so
-- that a time range read as the caller, under RLS, is an index range
-- (lower() is not leakproof, and there the range was a filter over the
-- organization's whole history).  PostgreSQL's own range_lower, called
-- from C (src/constraints.c).
CREATE FUNCTION protector_internal.booking_start(tstzrange)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'protector_booking_start'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION protector_internal.booking_start(tstzrange) IS
'lower(during), leakproof: what bookings_starts_idx is on, for time ranges read under RLS';

-- Is a booking longer than two hours?  The predicate of
-- bookings_long_during_idx (sql/30_tables.sql): the reservation check
-- reads a service's short bookings through its start index, and only the
-- long ones through a GiST index, which most bookings then never write
-- (src/constraints.c, src/reserve.c).
CREATE FUNCTION protector_internal.booking_is_long(tstzrange)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_booking_is_long'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.booking_is_long(tstzrange) IS
'upper(during) - lower(during) > 2 hours: which bookings bookings_long_during_idx holds';

-- The capability map (src/capabilities.c): the only place that says which
-- member role may do which action.  docs/security.md shows it.
CREATE FUNCTION protector.capability_map()
RETURNS TABLE (action text, roles protector.member_role[], description text)
AS 'MODULE_PATHNAME', 'protector_capability_map'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 45;
COMMENT ON FUNCTION protector.capability_map() IS
'Which member roles may do which action (the map every policy and RPC asks)';
-- whether a role may do one of the actions, by the map (the question of
-- a role, not of a member: lock_inviter, role_sees_tasks)
CREATE FUNCTION protector_internal.role_may(p_role protector.member_role, p_actions text[])
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT FROM protector.capability_map() c
			   WHERE c.action OPERATOR(pg_catalog.=) ANY (p_actions) AND p_role OPERATOR(pg_catalog.=) ANY (c.roles));
COMMENT ON FUNCTION protector_internal.role_may(protector.member_role, text[]) IS
'Internal: whether the role may do any of p_actions in the capability map';

CREATE FUNCTION protector_internal.orgs_with(p_action text)
RETURNS uuid[]
AS 'MODULE_PATHNAME', 'protector_orgs_with'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.orgs_with(text) IS
'Organizations in which the current user is an active member whose role may do p_action: the role check of every RLS policy';

CREATE FUNCTION protector_internal.authorize(p_organization_id uuid, p_action text,
											 p_entity text DEFAULT 'organization')
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_authorize_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.authorize(uuid, text, text) IS
'True if the caller may do p_action in the organization; else 42501 for its members, "<p_entity> not found" for everyone else (22023 for a NULL p_organization_id)';

CREATE FUNCTION protector_internal.authorize_row(p_table regclass, p_id uuid, p_action text,
												 p_entity text, p_lock boolean DEFAULT false,
												 p_customer_may boolean DEFAULT false)
RETURNS uuid
AS 'MODULE_PATHNAME', 'protector_authorize_row'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.authorize_row(regclass, uuid, text, text, boolean, boolean) IS
'The row''s organization if the caller sees it under RLS ("<p_entity> not found" otherwise) and may do p_action, or with p_customer_may it is their own (42501); locks it with p_lock';
-- for protector's own SECURITY DEFINER code: a row lock whose wait is
-- bounded by protector.lock_timeout, as a service's is
CREATE FUNCTION protector_internal.lock_row(p_table regclass, p_id uuid, p_entity text)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_row_sql'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.lock_row(regclass, uuid, text) IS
'Locks a row of protector''s table FOR UPDATE as its owner, waiting at most protector.lock_timeout (40001 "the <p_entity> is busy"); granted to nobody';

-- the key of protector's advisory lock of a class over an id, for the
-- locks SQL takes (src/locks.c, sql/40_guards.sql's list of classes)
CREATE FUNCTION protector_internal.lock_key(p_class integer, p_id uuid)
RETURNS bigint
AS 'MODULE_PATHNAME', 'protector_lock_key_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.lock_key(integer, uuid) IS
'Key of protector''s advisory lock of class p_class over p_id: pg_advisory_xact_lock(lock_key(class, id)) (64 bits of SHA-256)';

-- Permits (src/capabilities.c): a SECURITY DEFINER helper cannot tell who
-- called it, so the RPC that authorized the request leaves a permit for
-- the row and action (authorize_row() does; permit() in a trusted branch)
-- and the helper requires it.  They last until the transaction ends.
CREATE FUNCTION protector_internal.permit(p_table regclass, p_id uuid, p_action text)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_permit'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.permit(regclass, uuid, text) IS
'For an RPC''s trusted branch: a permit for p_action on the row of p_table for this transaction; 42501 for anyone else';
CREATE FUNCTION protector_internal.require_permit(p_table regclass, p_id uuid, p_action text)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_require_permit'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.require_permit(regclass, uuid, text) IS
'For SECURITY DEFINER helpers: 42501 unless this transaction authorized p_action on the row of p_table for the requester (authorize_row, permit)';

CREATE FUNCTION protector_internal.customer_organizations()
RETURNS uuid[]
AS 'MODULE_PATHNAME', 'protector_customer_organizations'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.customer_organizations() IS
'Organizations in which the current user has a customer record: where they see venues and services to book';

CREATE FUNCTION protector_internal.current_customer_ids()
RETURNS uuid[]
AS 'MODULE_PATHNAME', 'protector_current_customer_ids'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.current_customer_ids() IS
'Customer records linked to the current user''s account (merged-away records excluded)';

-- Who is calling, beyond RLS: a superuser or BYPASSRLS role (service_role,
-- admin SQL, server-side jobs) is trusted with what RLS would refuse, and
-- so is protector's own SECURITY DEFINER code (it authorized the request).
CREATE FUNCTION protector_internal.caller_is_trusted()
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_caller_is_trusted_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.caller_is_trusted() IS
'True when the requesting role is a superuser or bypasses RLS (e.g. service_role), or protector''s own SECURITY DEFINER code is running';

-- The same of the request alone, for protector's SECURITY DEFINER code,
-- which caller_is_trusted() trusts: whether the role that made the request
-- is a superuser or bypasses RLS.
CREATE FUNCTION protector_internal.requester_is_trusted()
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_requester_is_trusted_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.requester_is_trusted() IS
'True when the role that made the request (not a SECURITY DEFINER function running for it) is a superuser or bypasses RLS';

-- A restore is running: row_security is off (pg_dump's output sets it),
-- the requesting role is a superuser, and the statement loads one of
-- protector's tables (docs/operations.md).  Triggers ask restoring_into()
-- of their own table instead: a load of one table (INSERT INTO
-- protector.tasks SELECT ..., protector.record_payment(...)) is no
-- restore of the payment the RPC inside it writes.  (PARALLEL
-- RESTRICTED, as restoring_into(): both read the leader's running
-- statement.)
CREATE FUNCTION protector_internal.restoring()
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_restoring_sql'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION protector_internal.restoring() IS
'True while a restore runs: row_security is off and the requesting role bypasses RLS (the triggers then leave restored rows alone)';

-- ... and the statement running is its load of p_table (as C's triggers
-- ask it of the row's table): not an RPC's write inside it.  What every
-- trigger's WHEN asks, naming its table (a trigger function: TG_RELID).
CREATE FUNCTION protector_internal.restoring_into(p_table regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_restoring_into_sql'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION protector_internal.restoring_into(regclass) IS
'True while a restore loads p_table: restoring() and the running statement is that table''s INSERT or COPY (or finish_restore''s offer)';

-- Whether this session applies another database's changes (a logical
-- replication subscription's apply worker): the publisher's own
-- bookkeeping arrives with them where it is published
CREATE FUNCTION protector_internal.applying_replicated_changes()
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_applying_replicated_changes'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION protector_internal.applying_replicated_changes() IS
'True while this session applies another database''s changes (a replication origin is set up: a subscription''s apply worker)';

CREATE FUNCTION protector.raise(p_kind text, p_message text,
								p_detail text DEFAULT NULL, p_hint text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_raise'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION protector.raise(text, text, text, text) IS
'Raise a protector domain error (conflict, invalid_parameter, invalid_datetime, datetime_overflow, not_found, forbidden, retry, rate_limited) with its SQLSTATE';

CREATE FUNCTION protector.error_sqlstate(p_kind text)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_error_sqlstate'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector.error_sqlstate(text) IS
'SQLSTATE that errors of this kind carry under the current protector.http_errors setting';

CREATE FUNCTION protector.timezone_is_valid(p_name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_timezone_is_valid_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector.timezone_is_valid(text) IS
'True if the name is an IANA time zone listed in pg_timezone_names, spelled exactly';

CREATE FUNCTION protector.check_timezone(p_name text, p_param text DEFAULT 'timezone')
RETURNS text
AS 'MODULE_PATHNAME', 'protector_check_timezone_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.check_timezone(text, text) IS
'Returns the time zone name if valid, otherwise raises 22023 naming the parameter';

CREATE FUNCTION protector_internal.local_time(p_timezone text, p_at timestamptz)
RETURNS timestamp
AS 'MODULE_PATHNAME', 'protector_local_time_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.local_time(text, timestamptz) IS
'p_at as local time in the zone, from the zone file whatever the session''s timezone_abbreviations (for messages and titles)';

CREATE FUNCTION protector.set_updated_at()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_set_updated_at'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector.set_updated_at() IS
'BEFORE UPDATE trigger: sets updated_at to the transaction start time';

CREATE FUNCTION protector.generate_embed_key(p_prefix text DEFAULT 'pk')
RETURNS text
AS 'MODULE_PATHNAME', 'protector_generate_embed_key'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION protector.generate_embed_key(text) IS
'A new public key <prefix>_<22 random base62><2 check characters>: 131 random bits, checkable offline';

CREATE FUNCTION protector.embed_key_is_well_formed(p_key text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_embed_key_is_well_formed'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector.embed_key_is_well_formed(text) IS
'True when the text has the embed key format and its check characters match (no look-up)';

CREATE FUNCTION protector.check_operating_hours(p_hours jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_check_operating_hours'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.check_operating_hours(jsonb) IS
'True for valid venue operating_hours, else 22023 saying what is wrong (format: docs/bookings.md)';

CREATE FUNCTION protector.check_special_hours(p_hours jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_check_special_hours'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.check_special_hours(jsonb) IS
'True for NULL or an array of [open, close] pairs, else 22023';

CREATE FUNCTION protector.normalize_email(p_email text)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_normalize_email'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.normalize_email(text) IS
'Trimmed, NFKC case-folded (ICU) email: the customer identity key';

CREATE FUNCTION protector.normalize_name(p_name text)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_normalize_name'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.normalize_name(text) IS
'Name transliterated to Latin and ASCII, NFKC case-folded, spaces collapsed (ICU): for comparing names';

-- Whether two typed names are one: NFKC case-folded, without the accents of
-- Latin and Greek letters, the diaeresis of Cyrillic yo (U+0451) and
-- Cyrillic stress marks, other marks and scripts as written (normalize_name
-- transliterates them, and two names can then read alike: U+5F20 U+4F1F and
-- U+7AE0 U+4F1F, both Zhang Wei; src/normalize.c).
CREATE FUNCTION protector_internal.names_match(p_a text, p_b text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_names_match'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.names_match(text, text) IS
'Are two typed names the same: case, spacing, Latin and Greek accents, the diaeresis of Cyrillic yo and Cyrillic stress marks aside, other scripts compared as written (ICU)';
-- the key names_match() compares, as text: which participants of a booking
-- are one person (sql/83_waivers.sql)
CREATE FUNCTION protector_internal.typed_name(p_name text)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_typed_name'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.typed_name(text) IS
'A typed name as names_match() compares it (NULL when nothing is left): case, spacing, Latin and Greek accents aside, other scripts as written';
-- a participant's name tells them apart only with a letter or digit in it
CREATE FUNCTION protector_internal.has_letters_or_digits(p_name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_has_letters_or_digits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.has_letters_or_digits(text) IS
'Does the text hold a letter or decimal digit of any script (ICU)?';

-- Names (unknown JSON keys, say) as a message lists them: the first ten,
-- each cut to 50 characters, and how many more; NULL for none (an error
-- quoted a caller's 20,000 keys back whole)
CREATE FUNCTION protector_internal.names_text(p_names text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT pg_catalog.string_agg(pg_catalog.left(n, 50), ', ' ORDER BY i)
		FROM pg_catalog.unnest(p_names[1:10]) WITH ORDINALITY u(n, i))
	   OPERATOR(pg_catalog.||)
	   CASE WHEN pg_catalog.cardinality(p_names) OPERATOR(pg_catalog.>) 10
			THEN pg_catalog.format(' and %s more', pg_catalog.cardinality(p_names) OPERATOR(pg_catalog.-) 10) ELSE '' END;
COMMENT ON FUNCTION protector_internal.names_text(text[]) IS
'The first ten names, each cut to 50 characters, and how many more (for messages); NULL for none';

-- A booking status as messages name it, with its article ("an
-- in_progress booking", "a held booking": messages said "a in_progress")
CREATE FUNCTION protector_internal.status_with_article(p_status protector.booking_status)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_status OPERATOR(pg_catalog.=) 'in_progress' THEN 'an ' ELSE 'a ' END
	OPERATOR(pg_catalog.||) p_status::text;
COMMENT ON FUNCTION protector_internal.status_with_article(protector.booking_status) IS
'A booking status with its article, as messages name it: "an in_progress", "a held"';

-- A value's text (a JSON value's, a number's) as a message quotes it:
-- cut after p_max characters, ending "..." where it was cut (a number cut
-- bare read as another number: 8760.0000000000000000000000000 for one
-- above 8760); NULL as NULL
CREATE FUNCTION protector_internal.quoted_text(p_text text, p_max integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.length(p_text) OPERATOR(pg_catalog.<=) p_max THEN p_text
			ELSE pg_catalog.left(p_text, p_max) OPERATOR(pg_catalog.||) '...' END;
COMMENT ON FUNCTION protector_internal.quoted_text(text, integer) IS
'A value''s text as a message quotes it: cut after p_max characters, ending "..." where cut';

-- The moment a booking's rules are judged at and a hold, a deposit's
-- deadline or a lease is counted from: the clock's, not the start of the
-- caller's transaction (now()), which in a script's long transaction, a
-- prepared one or a long DO block was minutes old (a slot that had ended
-- was booked, a hold stored over before it was made); never before the
-- transaction's start, should the clock step back.  src/availability.c
-- judges a start's rules the same way (rules_now).  VOLATILE: a plan
-- compares a column with it row by row, so callers that search by it
-- read it once into a variable, which an index can use.  A call costs
-- some 65,000 instructions (fmgr_sql, and the search_path set and
-- restored): callers make it only where they need the time.
CREATE FUNCTION protector_internal.clock_now()
RETURNS timestamptz
LANGUAGE sql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN GREATEST(pg_catalog.clock_timestamp(), pg_catalog.now());
COMMENT ON FUNCTION protector_internal.clock_now() IS
'The clock''s time, never before the transaction''s start: when a booking''s rules are judged and a hold, deadline or lease is counted from';

-- A date or time as messages quote it, whatever the caller's DateStyle and
-- TimeZone ('SQL, DMY' read 02/01/2027 for 2027-01-02); NULL as NULL
CREATE FUNCTION protector_internal.iso_text(p_date date)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_date IS NULL THEN 'NULL'
			-- (infinity reads the same in every DateStyle; a day beyond the
			-- years 1 to 9999 printed in the caller's, 02/01/10000)
			WHEN NOT pg_catalog.isfinite(p_date) THEN p_date::text
			WHEN p_date OPERATOR(pg_catalog.>=) '0001-01-01' AND p_date OPERATOR(pg_catalog.<=) '9999-12-31'
				THEN pg_catalog.to_char(p_date, 'YYYY-MM-DD')
			-- (to_char reads a date as a timestamp, which ends in 294276)
			-- (BC years have at most four digits, the others past 9999 five or more)
			ELSE pg_catalog.format('%s-%s-%s%s',
				CASE WHEN p_date OPERATOR(pg_catalog.<) '0001-01-01'
					 THEN pg_catalog.lpad((OPERATOR(pg_catalog.-) EXTRACT(year FROM p_date))::text, 4, '0')
					 ELSE EXTRACT(year FROM p_date)::text END,
				pg_catalog.lpad(EXTRACT(month FROM p_date)::text, 2, '0'),
				pg_catalog.lpad(EXTRACT(day FROM p_date)::text, 2, '0'),
				CASE WHEN p_date OPERATOR(pg_catalog.<) '0001-01-01' THEN ' BC' ELSE '' END) END;
COMMENT ON FUNCTION protector_internal.iso_text(date) IS
'A date as messages quote it: YYYY-MM-DD (and BC before the year 1) whatever the caller''s DateStyle (NULL as NULL)';

-- A range of dates an RPC reads, refused as availability refuses one
-- (src/availability.c, src/schedule.c): infinite, or beyond the dates
-- p_first to p_last the RPC can count in, is 22008, one SQLSTATE
-- everywhere (get_venue_analytics, the reports and staff performance
-- said 22023, as for a range too long); the RPC then judges its length.
CREATE FUNCTION protector_internal.check_date_range(p_from date, p_to date, p_first date, p_last date)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (pg_catalog.isfinite(p_from) AND pg_catalog.isfinite(p_to)) THEN
		PERFORM protector.raise('datetime_overflow', 'p_from and p_to must be finite dates',
			pg_catalog.format('Got %s to %s.', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
	IF p_from OPERATOR(pg_catalog.<) p_first OR p_to OPERATOR(pg_catalog.>) p_last THEN
		PERFORM protector.raise('datetime_overflow',
			'p_from and p_to must be dates between ' OPERATOR(pg_catalog.||)
			CASE WHEN p_first OPERATOR(pg_catalog.=) '0001-01-01' AND p_last OPERATOR(pg_catalog.=) '9999-12-31'
				 THEN 'the years 1 and 9999'
				 ELSE pg_catalog.format('%s and %s', protector_internal.iso_text(p_first), protector_internal.iso_text(p_last)) END,
			pg_catalog.format('Got %s to %s.', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_date_range(date, date, date, date) IS
'Internal: refuses (22008) a range of dates that is infinite or beyond p_first to p_last';
CREATE FUNCTION protector_internal.iso_text(p_time timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_time IS NULL THEN 'NULL'
			WHEN NOT pg_catalog.isfinite(p_time) OR p_time OPERATOR(pg_catalog.<) '0001-01-01 00:00+00' THEN p_time::text
			-- (fractions of a second as far as they go: two times a
			-- refusal sets side by side may differ by less than a second)
			ELSE pg_catalog.rtrim(pg_catalog.rtrim(pg_catalog.to_char(p_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '0'), '.')
				 OPERATOR(pg_catalog.||) '+00' END;
COMMENT ON FUNCTION protector_internal.iso_text(timestamptz) IS
'A time as messages quote it: YYYY-MM-DD HH:MI:SS[.fraction]+00 in UTC whatever the caller''s DateStyle and TimeZone within the years 1 to 9999 (NULL as NULL)';

-- A time an RPC takes, refused when infinite as every RPC refuses one:
-- 22008, the SQLSTATE of an infinite date range (check_date_range) and of
-- a booking's infinite times; a finite time out of what the RPC takes
-- (in the past, in the future) is then the RPC's 22023.  NULL passes.
CREATE FUNCTION protector_internal.check_finite(p_time timestamptz, p_name text, p_hint text DEFAULT NULL)
RETURNS void
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN NOT pg_catalog.isfinite(p_time)
			THEN protector.raise('datetime_overflow', p_name OPERATOR(pg_catalog.||) ' must be a finite time',
								 pg_catalog.format('Got %s.', protector_internal.iso_text(p_time)), p_hint) END;
COMMENT ON FUNCTION protector_internal.check_finite(timestamptz, text, text) IS
'Internal: refuses (22008) an infinite time, naming the argument; NULL passes';
CREATE FUNCTION protector_internal.check_finite(p_date date, p_name text, p_hint text DEFAULT NULL)
RETURNS void
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN NOT pg_catalog.isfinite(p_date)
			THEN protector.raise('datetime_overflow', p_name OPERATOR(pg_catalog.||) ' must be a finite date',
								 pg_catalog.format('Got %s.', p_date), p_hint) END;
COMMENT ON FUNCTION protector_internal.check_finite(date, text, text) IS
'Internal: refuses (22008) an infinite date, naming the argument; NULL passes';
CREATE FUNCTION protector_internal.iso_text(p_range tstzrange)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN p_range IS NULL THEN 'NULL'
			WHEN pg_catalog.isempty(p_range) THEN 'empty'
			ELSE CASE WHEN pg_catalog.lower_inc(p_range) THEN '[' ELSE '(' END
				 OPERATOR(pg_catalog.||) CASE WHEN pg_catalog.lower_inf(p_range) THEN ''
											  ELSE protector_internal.iso_text(pg_catalog.lower(p_range)) END
				 OPERATOR(pg_catalog.||) ', '
				 OPERATOR(pg_catalog.||) CASE WHEN pg_catalog.upper_inf(p_range) THEN ''
											  ELSE protector_internal.iso_text(pg_catalog.upper(p_range)) END
				 OPERATOR(pg_catalog.||) CASE WHEN pg_catalog.upper_inc(p_range) THEN ']' ELSE ')' END END;
COMMENT ON FUNCTION protector_internal.iso_text(tstzrange) IS
'A range of times as messages quote it: [YYYY-MM-DD HH:MI:SS+00, ...) in UTC whatever the caller''s DateStyle and TimeZone, bounds within the years 1 to 9999 (NULL as NULL)';

CREATE FUNCTION protector.country_is_known(p_country text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_country_is_known_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector.country_is_known(text) IS
'True for an assigned ISO 3166-1 alpha-2 country code (any case)';

-- A country as the API takes it: an assigned ISO 3166-1 alpha-2 code in
-- capitals (22023 naming the parameter otherwise); NULL passes.
CREATE FUNCTION protector_internal.check_country(p_country text, p_parameter text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_country IS NOT NULL
	   AND (p_country OPERATOR(pg_catalog.!~) '^[A-Z]{2}$' OR NOT protector.country_is_known(p_country)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s must be an ISO 3166 alpha-2 code such as DE', p_parameter),
			pg_catalog.format('Got "%s".', pg_catalog.left(p_country, 20)), 'Two capital letters of an assigned country code.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_country(text, text) IS
'Refuses a country that is not an assigned ISO 3166-1 alpha-2 code in capitals (22023 naming the parameter); NULL passes';

CREATE FUNCTION protector.normalize_phone(p_phone text, p_country text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_normalize_phone'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.normalize_phone(text, text) IS
'Phone as digits with + and country code where known (p_country: ISO code of the number''s country; 22023 for an unassigned code)';
