\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- (Added after 0.1.0 shipped, the one change to this script, which
-- changes none of the objects it makes.)  0.1.0 resolves its names
-- through the install's search_path, which holds btree_gist's schema
-- (public, or extensions on Supabase), where other roles may create
-- functions that match its calls better than pg_catalog's: run for a role
-- that is not a superuser by an extension manager that installs as one
-- (supautils on Supabase lets postgres install a privileged extension),
-- they ran as the superuser (an attack on the Supabase privilege model:
-- postgres made itself a superuser).  Only a superuser's own session
-- installs it; 0.2.0 pins its search_path and installs anywhere.
DO $session$
BEGIN
	IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) session_user) IS NOT TRUE THEN
		RAISE EXCEPTION 'protector 0.1.0 is installed by a superuser''s own session only'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'The session''s role is not a superuser; 0.1.0 would run with the rights of the role installing it for them.',
				  HINT = 'Install the current version (CREATE EXTENSION protector), or have a superuser install 0.1.0 to restore an old backup.';
	END IF;
END
$session$;

-- sql/00_roles.sql: the Supabase roles protector grants to.
--
-- On Supabase (or any database that already has them) the roles are used
-- unchanged.  On a vanilla PostgreSQL they are created with the attributes
-- Supabase gives them, so the same grants and policies apply.  Roles are
-- cluster-wide objects: DROP EXTENSION leaves them in place.

DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
		CREATE ROLE anon NOLOGIN NOINHERIT;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
		CREATE ROLE authenticated NOLOGIN NOINHERIT;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
		CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
	END IF;
END
$roles$;

COMMENT ON SCHEMA protector IS 'protector: race-free booking backend (tables, RLS policies and RPC functions)';

GRANT USAGE ON SCHEMA protector TO anon, authenticated, service_role;
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/10_types.sql: enums of the data model.

CREATE TYPE protector.member_role AS ENUM (
	'owner', 'admin', 'manager', 'operator', 'agent', 'finance', 'viewer'
);
COMMENT ON TYPE protector.member_role IS
'Role of a staff member in one organization; see docs/security.md for what each may do';

CREATE TYPE protector.booking_status AS ENUM (
	'held', 'pending', 'confirmed', 'in_progress', 'completed', 'cancelled', 'no_show'
);
COMMENT ON TYPE protector.booking_status IS
'Lifecycle of a booking; held bookings occupy capacity until hold_expires_at';

CREATE TYPE protector.booking_source AS ENUM (
	'dashboard', 'widget', 'api', 'phone', 'walk_in', 'import'
);
COMMENT ON TYPE protector.booking_source IS 'Where a booking came from';

CREATE TYPE protector.service_mode AS ENUM ('exclusive', 'shared');
COMMENT ON TYPE protector.service_mode IS
'exclusive: one booking at a time; shared: party sizes add up to capacity';

CREATE TYPE protector.task_status AS ENUM ('open', 'in_progress', 'done', 'blocked');
COMMENT ON TYPE protector.task_status IS 'Status of an operations task';

CREATE TYPE protector.payment_kind AS ENUM ('payment', 'refund');
COMMENT ON TYPE protector.payment_kind IS 'A payment received or a refund paid out';

CREATE TYPE protector.payment_status AS ENUM ('pending', 'succeeded', 'failed', 'cancelled');
COMMENT ON TYPE protector.payment_status IS 'State of a payment or refund at the provider';
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/20_core.sql: the C functions everything else stands on (identity,
-- RLS helpers, errors, time zone validation, updated_at).

CREATE FUNCTION protector.current_user_id()
RETURNS uuid
AS 'MODULE_PATHNAME', 'protector_current_user_id'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.current_user_id() IS
'Auth user id of the request: request.jwt.claims ->> ''sub'' (fallback request.jwt.claim.sub); NULL when there is none';

-- Internal helpers live in protector_internal, a schema PostgREST does not
-- expose.  Only the authorization helpers that policies and RPCs running
-- as the caller ask are executable by authenticated (sql/90_grants.sql).
CREATE SCHEMA protector_internal;
COMMENT ON SCHEMA protector_internal IS
'protector: internal helpers and triggers; not for PostgREST''s db_schemas';

-- The capability map (src/capabilities.c): the only place that says which
-- member role may do which action.  docs/security.md shows it.
CREATE FUNCTION protector.capability_map()
RETURNS TABLE (action text, roles protector.member_role[], description text)
AS 'MODULE_PATHNAME', 'protector_capability_map'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 45;
COMMENT ON FUNCTION protector.capability_map() IS
'Which member roles may do which action (the map every policy and RPC asks)';

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
'True if the caller may do p_action in the organization; else 42501 for its members, "<p_entity> not found" for everyone else';

CREATE FUNCTION protector_internal.authorize_row(p_table regclass, p_id uuid, p_action text,
												 p_entity text, p_lock boolean DEFAULT false,
												 p_customer_may boolean DEFAULT false)
RETURNS uuid
AS 'MODULE_PATHNAME', 'protector_authorize_row'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.authorize_row(regclass, uuid, text, text, boolean, boolean) IS
'The row''s organization if the caller sees it under RLS ("<p_entity> not found" otherwise) and may do p_action, or with p_customer_may it is their own (42501); locks it with p_lock';

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

CREATE FUNCTION protector.normalize_phone(p_phone text, p_country text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_normalize_phone'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.normalize_phone(text, text) IS
'Phone as digits with + and country code where known (p_country: ISO code of the number''s country)';
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/30_tables.sql: the data model.
--
-- Every business table carries organization_id (the tenant).  References
-- between tenant tables are composite foreign keys on
-- (organization_id, id), so a row can never point into another tenant.
-- Each foreign key has an index whose leading columns are its columns;
-- where a policy looks rows up by user or customer, that column leads.

CREATE TABLE protector.organizations (
	id			uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name		text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
	slug		text NOT NULL UNIQUE
				CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
	timezone	text NOT NULL DEFAULT 'UTC'
				CHECK (protector.timezone_is_valid(timezone)),
	currency	text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
	settings	jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE protector.organizations IS 'Tenants: a business that takes bookings';

CREATE TABLE protector.members (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	user_id			uuid NOT NULL,
	role			protector.member_role NOT NULL DEFAULT 'viewer',
	full_name		text CHECK (length(full_name) <= 200),
	email			text CHECK (length(email) <= 320 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
	active			boolean NOT NULL DEFAULT true,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, user_id),
	UNIQUE (organization_id, id)
);
CREATE INDEX members_user_id_idx ON protector.members (user_id);
COMMENT ON TABLE protector.members IS
'Staff of an organization: one row per (organization, auth user) with the user''s role there';

CREATE TABLE protector.venues (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	name			text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
	description		text CHECK (length(description) <= 5000),
	address			text CHECK (length(address) <= 500),
	city			text CHECK (length(city) <= 200),
	region			text CHECK (length(region) <= 200),
	country			text CHECK (country ~ '^[A-Z]{2}$'),
	postal_code		text CHECK (length(postal_code) <= 20),
	timezone		text NOT NULL CHECK (protector.timezone_is_valid(timezone)),
	operating_hours jsonb NOT NULL DEFAULT '{}'
					CHECK (protector.check_operating_hours(operating_hours)),
	embed_key		text COLLATE "C" NOT NULL UNIQUE DEFAULT protector.generate_embed_key()
					CHECK (protector.embed_key_is_well_formed(embed_key)),
	capacity		integer CHECK (capacity > 0),
	branding		jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(branding) = 'object'),
	widget_settings jsonb NOT NULL DEFAULT '{}'
					CHECK (jsonb_typeof(widget_settings) = 'object'),
	active			boolean NOT NULL DEFAULT true,
	deleted_at		timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id)
);
COMMENT ON TABLE protector.venues IS
'A place (or fleet, or team) with its own time zone, operating hours and public embed key';

CREATE TABLE protector.venue_closures (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	venue_id		uuid NOT NULL,
	closed_on		date NOT NULL CHECK (isfinite(closed_on)),
	closed			boolean NOT NULL DEFAULT true,
	special_hours	jsonb CHECK (protector.check_special_hours(special_hours)),
	reason			text CHECK (length(reason) <= 500),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	CHECK (closed = (special_hours IS NULL)),
	UNIQUE (organization_id, venue_id, closed_on),
	FOREIGN KEY (organization_id, venue_id)
		REFERENCES protector.venues (organization_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE protector.venue_closures IS
'Date overrides of a venue''s weekly hours: closed all day, or open only during special_hours';

CREATE TABLE protector.services (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	venue_id		uuid NOT NULL,
	name			text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
	description		text CHECK (length(description) <= 5000),
	mode			protector.service_mode NOT NULL DEFAULT 'exclusive',
	duration		interval NOT NULL
					CHECK (duration > interval '0' AND duration <= interval '31 days'),
	capacity		integer NOT NULL DEFAULT 1 CHECK (capacity BETWEEN 1 AND 100000),
	min_party		integer NOT NULL DEFAULT 1 CHECK (min_party >= 1),
	max_party		integer CHECK (max_party >= 1),
	buffer_before	interval NOT NULL DEFAULT '0'
					CHECK (buffer_before >= interval '0' AND buffer_before <= interval '1 day'),
	buffer_after	interval NOT NULL DEFAULT '0'
					CHECK (buffer_after >= interval '0' AND buffer_after <= interval '1 day'),
	slot_interval	interval NOT NULL DEFAULT '30 minutes'
					CHECK (slot_interval >= interval '1 minute' AND slot_interval <= interval '1 day'),
	min_notice		interval NOT NULL DEFAULT '0'
					CHECK (min_notice >= interval '0' AND min_notice <= interval '365 days'),
	max_advance		interval NOT NULL DEFAULT '365 days'
					CHECK (max_advance > interval '0' AND max_advance <= interval '1100 days'),
	price			numeric(12, 2) NOT NULL DEFAULT 0 CHECK (price >= 0),
	price_per_person numeric(12, 2) NOT NULL DEFAULT 0 CHECK (price_per_person >= 0),
	currency		text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
	settings		jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
	active			boolean NOT NULL DEFAULT true,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	CHECK (max_party IS NULL OR max_party >= min_party),
	CHECK (mode = 'exclusive' OR max_party IS NULL OR max_party <= capacity),
	CHECK (mode = 'exclusive' OR min_party <= capacity),
	UNIQUE (organization_id, id),
	UNIQUE (organization_id, venue_id, id),
	FOREIGN KEY (organization_id, venue_id)
		REFERENCES protector.venues (organization_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE protector.services IS
'What is booked (an escape room game, an escort detail, a cab, a hotel night) and its booking rules';

CREATE TABLE protector.customers (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	user_id			uuid,
	full_name		text NOT NULL CHECK (length(btrim(full_name)) BETWEEN 1 AND 200),
	email			text CHECK (length(email) <= 320 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
	phone			text CHECK (length(phone) <= 40),
	country			text CHECK (country ~ '^[A-Z]{2}$'),
	tags			text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 100),
	notes			text CHECK (length(notes) <= 10000),
	identity_key	text,
	merged_into		uuid,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	CHECK (merged_into <> id),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, merged_into)
		REFERENCES protector.customers (organization_id, id) ON DELETE SET NULL (merged_into)
);
CREATE INDEX customers_user_id_idx ON protector.customers (user_id);
CREATE INDEX customers_merged_into_idx ON protector.customers (organization_id, merged_into);
CREATE INDEX customers_identity_key_idx ON protector.customers (organization_id, identity_key);
-- the widget finds returning customers by email, case-insensitively
CREATE INDEX customers_email_idx ON protector.customers (organization_id, lower(email));
CREATE UNIQUE INDEX customers_one_per_user_idx ON protector.customers (organization_id, user_id)
	WHERE user_id IS NOT NULL AND merged_into IS NULL;
COMMENT ON TABLE protector.customers IS
'People who book; user_id links a customer who has an account (at most one live record per organization)';

CREATE TABLE protector.bookings (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	venue_id		uuid NOT NULL,
	service_id		uuid NOT NULL,
	customer_id		uuid,
	during			tstzrange NOT NULL
					CHECK (NOT isempty(during) AND NOT lower_inf(during) AND NOT upper_inf(during)
						   AND lower_inc(during) AND NOT upper_inc(during)
						   AND isfinite(lower(during)) AND isfinite(upper(during))),
	party_size		integer NOT NULL DEFAULT 1 CHECK (party_size BETWEEN 1 AND 100000),
	status			protector.booking_status NOT NULL DEFAULT 'pending',
	source			protector.booking_source NOT NULL DEFAULT 'dashboard',
	hold_expires_at timestamptz,
	idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
	currency		text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
	unit_price		numeric(12, 2) NOT NULL DEFAULT 0 CHECK (unit_price >= 0),
	total_price		numeric(12, 2) NOT NULL DEFAULT 0 CHECK (total_price >= 0),
	amount_paid		numeric(12, 2) NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
	assigned_agent	uuid,
	details			jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
	cancellation_reason text CHECK (length(cancellation_reason) <= 2000),
	cancelled_at	timestamptz,
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	CHECK (status <> 'held' OR hold_expires_at IS NOT NULL),
	-- bounded length lets a per-service start-time index answer range queries
	CONSTRAINT bookings_length_check CHECK (upper(during) - lower(during) <= interval '31 days'),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, venue_id, service_id)
		REFERENCES protector.services (organization_id, venue_id, id),
	FOREIGN KEY (organization_id, customer_id)
		REFERENCES protector.customers (organization_id, id),
	FOREIGN KEY (organization_id, assigned_agent)
		REFERENCES protector.members (organization_id, user_id) ON DELETE SET NULL (assigned_agent)
);
CREATE INDEX bookings_service_idx ON protector.bookings (organization_id, venue_id, service_id);
CREATE INDEX bookings_customer_idx ON protector.bookings (customer_id, organization_id);
CREATE INDEX bookings_agent_idx ON protector.bookings (assigned_agent, organization_id);
CREATE INDEX bookings_starts_idx ON protector.bookings (organization_id, lower(during));
CREATE INDEX bookings_during_idx ON protector.bookings USING gist (service_id, during);
-- availability reads weeks of one service: a btree range scan on the start,
-- which stays a few pages however the GiST index interleaves services
CREATE INDEX bookings_service_start_idx ON protector.bookings (service_id, lower(during));
-- the widget's rate limit counts a venue's recent widget bookings
CREATE INDEX bookings_widget_recent_idx ON protector.bookings (venue_id, created_at)
	WHERE source = 'widget';
CREATE UNIQUE INDEX bookings_idempotency_key_idx ON protector.bookings (organization_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL;
COMMENT ON TABLE protector.bookings IS
'Reservations of a service over a time range; the reservation engine keeps capacity from ever being exceeded';

CREATE TABLE protector.payments (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	booking_id		uuid NOT NULL,
	kind			protector.payment_kind NOT NULL DEFAULT 'payment',
	amount			numeric(12, 2) NOT NULL CHECK (amount >= 0),
	currency		text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
	status			protector.payment_status NOT NULL DEFAULT 'pending',
	provider		text CHECK (length(provider) <= 100),
	provider_reference text CHECK (length(provider_reference) <= 200),
	details			jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, booking_id)
		REFERENCES protector.bookings (organization_id, id)
);
CREATE INDEX payments_booking_idx ON protector.payments (organization_id, booking_id);
CREATE UNIQUE INDEX payments_provider_reference_idx ON protector.payments (provider, provider_reference)
	WHERE provider_reference IS NOT NULL;
COMMENT ON TABLE protector.payments IS
'Money received for a booking (kind payment) or paid back (kind refund); amounts are never negative';

CREATE TABLE protector.tasks (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	booking_id		uuid,
	kind			text NOT NULL DEFAULT 'manual' CHECK (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
	title			text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
	description		text CHECK (length(description) <= 10000),
	status			protector.task_status NOT NULL DEFAULT 'open',
	assignee		uuid,
	due_at			timestamptz,
	completed_at	timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, booking_id)
		REFERENCES protector.bookings (organization_id, id) ON DELETE CASCADE,
	FOREIGN KEY (organization_id, assignee)
		REFERENCES protector.members (organization_id, user_id) ON DELETE SET NULL (assignee)
);
CREATE INDEX tasks_booking_idx ON protector.tasks (organization_id, booking_id);
CREATE INDEX tasks_assignee_idx ON protector.tasks (assignee, organization_id);
CREATE INDEX tasks_status_idx ON protector.tasks (organization_id, status, due_at);
COMMENT ON TABLE protector.tasks IS
'Operations work items, e.g. the review task every new booking gets';

CREATE TABLE protector.notifications (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	recipient_id	uuid,
	booking_id		uuid,
	kind			text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
	payload			jsonb NOT NULL DEFAULT '{}'
					CHECK (jsonb_typeof(payload) = 'object' AND pg_column_size(payload) <= 8192),
	read_at			timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (organization_id, recipient_id)
		REFERENCES protector.members (organization_id, user_id) ON DELETE CASCADE,
	FOREIGN KEY (organization_id, booking_id)
		REFERENCES protector.bookings (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX notifications_recipient_idx ON protector.notifications (organization_id, recipient_id, created_at);
CREATE INDEX notifications_booking_idx ON protector.notifications (organization_id, booking_id);
COMMENT ON TABLE protector.notifications IS
'Messages for staff: to one member (recipient_id) or to the organization''s desk (recipient_id NULL)';

CREATE TABLE protector.audit_log (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	occurred_at		timestamptz NOT NULL DEFAULT now(),
	organization_id uuid,
	actor_uid		uuid,
	actor_role		text,
	table_name		text COLLATE "C" NOT NULL,
	record_id		text COLLATE "C",
	op				text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')),
	old_row			jsonb,
	new_row			jsonb,
	changed_columns text[],
	txid			bigint NOT NULL DEFAULT txid_current()
);
CREATE INDEX audit_log_occurred_brin ON protector.audit_log USING brin (occurred_at);
CREATE INDEX audit_log_org_idx ON protector.audit_log (organization_id, occurred_at, id);
CREATE INDEX audit_log_record_idx ON protector.audit_log (table_name, record_id);
COMMENT ON TABLE protector.audit_log IS
'Append-only change history; no foreign keys so that it outlives what it describes';

-- updated_at is stamped by a C trigger on every table that has it
DO $touch$
DECLARE
	t regclass;
BEGIN
	FOR t IN
		SELECT c.oid::regclass
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
		WHERE c.relnamespace = 'protector'::regnamespace AND c.relkind = 'r'
		  AND a.attname = 'updated_at' AND NOT a.attisdropped
		ORDER BY c.relname
	LOOP
		EXECUTE format('CREATE TRIGGER set_updated_at BEFORE UPDATE ON %s '
					   'FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at()', t);
	END LOOP;
END
$touch$;

-- Link users to Supabase Auth where it exists (Supabase, or a fixture of it).
DO $auth$
BEGIN
	IF pg_catalog.to_regclass('auth.users') IS NOT NULL THEN
		ALTER TABLE protector.members ADD CONSTRAINT members_user_id_fkey
			FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE;
		ALTER TABLE protector.customers ADD CONSTRAINT customers_user_id_fkey
			FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE SET NULL;
	END IF;
END
$auth$;

-- pg_dump keeps the data of extension tables only when told to
SELECT pg_catalog.pg_extension_config_dump('protector.organizations', '');
SELECT pg_catalog.pg_extension_config_dump('protector.members', '');
SELECT pg_catalog.pg_extension_config_dump('protector.venues', '');
SELECT pg_catalog.pg_extension_config_dump('protector.venue_closures', '');
SELECT pg_catalog.pg_extension_config_dump('protector.services', '');
SELECT pg_catalog.pg_extension_config_dump('protector.customers', '');
SELECT pg_catalog.pg_extension_config_dump('protector.bookings', '');
SELECT pg_catalog.pg_extension_config_dump('protector.payments', '');
SELECT pg_catalog.pg_extension_config_dump('protector.tasks', '');
SELECT pg_catalog.pg_extension_config_dump('protector.notifications', '');
SELECT pg_catalog.pg_extension_config_dump('protector.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('protector.audit_log_id_seq', '');
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/40_guards.sql: row rules that RLS cannot express.

-- Advisory lock key space (two-int form, transaction-level only):
--   classid 1886547713 (0x70726F01): reservations, objid = service key
--   classid 1886547714 (0x70726F02): owners of an organization
--   classid 1886547715 (0x70726F03): widget bookings of an organization
--                                     (rate limit, customer matching)
-- Applications should not take advisory locks with these class ids.

CREATE FUNCTION protector_internal.keep_one_owner()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF OLD.role OPERATOR(pg_catalog.=) 'owner' AND OLD.active
	   AND (TG_OP OPERATOR(pg_catalog.=) 'DELETE'
			OR NEW.role OPERATOR(pg_catalog.<>) 'owner' OR NOT NEW.active) THEN
		-- serialize owner changes of one organization
		PERFORM pg_catalog.pg_advisory_xact_lock(1886547714, pg_catalog.hashtext(OLD.organization_id::text));
		-- a cascaded delete of the whole organization may remove every owner
		IF EXISTS (SELECT FROM protector.organizations o
				   WHERE o.id OPERATOR(pg_catalog.=) OLD.organization_id)
		   AND NOT EXISTS (SELECT FROM protector.members m
						   WHERE m.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
							 AND m.role OPERATOR(pg_catalog.=) 'owner' AND m.active
							 AND m.id OPERATOR(pg_catalog.<>) OLD.id) THEN
			PERFORM protector.raise('invalid_parameter',
				'an organization must keep at least one active owner',
				pg_catalog.format('Member %s is the last active owner of organization %s.',
								  OLD.id, OLD.organization_id),
				'Make another member owner first.');
		END IF;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		RETURN OLD;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_one_owner() IS
'Trigger: refuses to delete, demote or deactivate the last active owner of an organization';

CREATE TRIGGER keep_one_owner BEFORE UPDATE OR DELETE ON protector.members
	FOR EACH ROW EXECUTE FUNCTION protector_internal.keep_one_owner();

-- Operators, agents and customers may update rows, but only some columns
-- of them.  TG_ARGV[0]: the action (capability map) that may change every
-- column; TG_ARGV[1]: the columns every other member may change; TG_ARGV[2]
-- an action and TG_ARGV[3] the further columns it may change; TG_ARGV[4]
-- the columns a caller who is no member (a customer on their own row, as
-- the policies let them) may change.  Requests without a user and trusted
-- callers (service_role, protector's own SECURITY DEFINER code) are not
-- restricted here.
CREATE FUNCTION protector_internal.restrict_update_columns()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	allowed text[] := TG_ARGV[1]::text[];
	changed text[];
BEGIN
	IF protector.current_user_id() IS NULL OR protector_internal.caller_is_trusted()
	   OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with(TG_ARGV[0])) THEN
		RETURN NEW;
	END IF;
	IF NOT NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('organizations.read')) THEN
		allowed := COALESCE(TG_ARGV[4], '{}')::text[];
	ELSIF TG_NARGS > 2 AND NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with(TG_ARGV[2])) THEN
		allowed := allowed OPERATOR(pg_catalog.||) TG_ARGV[3]::text[];
	END IF;
	SELECT pg_catalog.array_agg(n.key ORDER BY n.key) INTO changed
	FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) n
	JOIN pg_catalog.jsonb_each(pg_catalog.to_jsonb(OLD)) o ON o.key OPERATOR(pg_catalog.=) n.key
	WHERE n.value IS DISTINCT FROM o.value
	  AND n.key OPERATOR(pg_catalog.<>) 'updated_at'
	  AND n.key OPERATOR(pg_catalog.<>) ALL (allowed);
	IF changed IS NOT NULL THEN
		PERFORM protector.raise('forbidden',
			pg_catalog.format('your role may not change %s of %s',
							  pg_catalog.array_to_string(changed, ', '), TG_TABLE_NAME),
			pg_catalog.format('Your role may change only %s.', pg_catalog.array_to_string(allowed, ', ')),
			pg_catalog.format('Members whose role may do %s change the other columns (protector.capability_map()).',
							  TG_ARGV[0]));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.restrict_update_columns() IS
'Trigger: lets members whose role may not do action TG_ARGV[0] change only the columns in TG_ARGV[1] (and TG_ARGV[3] with action TG_ARGV[2]), non-members only those in TG_ARGV[4]';

-- a reschedule moves a booking (its price follows the service:
-- set_booking_price in sql/75_bookings_api.sql)
CREATE TRIGGER restrict_update_columns BEFORE UPDATE ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.restrict_update_columns(
		'bookings.update_any_column',
		'{status,assigned_agent,details,cancellation_reason,cancelled_at}',
		'bookings.reschedule',
		'{during,service_id,venue_id}',
		'{status,hold_expires_at,cancellation_reason,cancelled_at}');

CREATE TRIGGER restrict_update_columns BEFORE UPDATE ON protector.tasks
	FOR EACH ROW EXECUTE FUNCTION protector_internal.restrict_update_columns(
		'tasks.update',
		'{status,completed_at}');

-- A booking's source says which channel it came through; the widget and
-- imports are recorded by protector's widget functions and by trusted
-- roles (service_role) only, so reports and the widget's limits can
-- trust it.  Other sources are the caller's to choose.
CREATE FUNCTION protector_internal.guard_booking_source()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector.raise('forbidden',
			pg_catalog.format('bookings with source %s are recorded by protector only', NEW.source),
			'The widget records widget bookings; trusted roles such as service_role record imports.',
			'Use source dashboard, api, phone or walk_in.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_booking_source() IS
'Trigger: only the widget functions and trusted roles record bookings with source widget or import';

CREATE TRIGGER guard_booking_source BEFORE INSERT ON protector.bookings
	FOR EACH ROW WHEN (NEW.source IN ('widget', 'import'))
	EXECUTE FUNCTION protector_internal.guard_booking_source();

-- Embed keys are the database's: changing one needs venues.rotate_key,
-- and whatever the caller wrote, the new key is a fresh random one
-- (trusted roles may restore a given key).  rotate_embed_key() is this.
CREATE FUNCTION protector_internal.rotate_embed_key()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.authorize(NEW.organization_id, 'venues.rotate_key', 'venue');
	IF NOT protector_internal.caller_is_trusted() THEN
		NEW.embed_key := protector.generate_embed_key();
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.rotate_embed_key() IS
'Trigger: a venue''s embed key changes only for callers who may rotate it, and only to a freshly generated key';

CREATE TRIGGER rotate_embed_key BEFORE UPDATE OF embed_key ON protector.venues
	FOR EACH ROW WHEN (OLD.embed_key IS DISTINCT FROM NEW.embed_key)
	EXECUTE FUNCTION protector_internal.rotate_embed_key();
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/50_policies.sql: row-level security.
--
-- Every table has RLS enabled and forced.  Policies apply to the
-- authenticated role; anon has no table privileges at all; service_role
-- bypasses RLS.  Every role check asks the capability map through
-- protector_internal.orgs_with('<action>'), written as a sub-select so it
-- runs once per statement; no policy names a role.

DO $enable$
DECLARE
	t regclass;
BEGIN
	FOR t IN
		SELECT c.oid::regclass FROM pg_catalog.pg_class c
		WHERE c.relnamespace = 'protector'::regnamespace AND c.relkind = 'r'
	LOOP
		EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
	END LOOP;
END
$enable$;

-- organizations: created through create_organization() (any signed-in
-- user; the founding owner is added by a trigger).
CREATE POLICY organizations_select ON protector.organizations FOR SELECT TO authenticated
	USING (id = ANY ((SELECT protector_internal.orgs_with('organizations.read'))::uuid[]));
CREATE POLICY organizations_insert ON protector.organizations FOR INSERT TO authenticated
	WITH CHECK ((SELECT protector.current_user_id()) IS NOT NULL);
CREATE POLICY organizations_update ON protector.organizations FOR UPDATE TO authenticated
	USING (id = ANY ((SELECT protector_internal.orgs_with('organizations.update'))::uuid[]))
	WITH CHECK (id = ANY ((SELECT protector_internal.orgs_with('organizations.update'))::uuid[]));
CREATE POLICY organizations_delete ON protector.organizations FOR DELETE TO authenticated
	USING (id = ANY ((SELECT protector_internal.orgs_with('organizations.delete'))::uuid[]));

-- members: the desk sees the staff list; everyone sees their own
-- membership; managing members is for owners and admins, owners' rows
-- for owners only.
CREATE POLICY members_select ON protector.members FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('members.read'))::uuid[]) OR user_id = (SELECT protector.current_user_id()));
CREATE POLICY members_insert ON protector.members FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage'))::uuid[])
				AND (role <> 'owner' OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])));
CREATE POLICY members_update ON protector.members FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage'))::uuid[])
		   AND (role <> 'owner' OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage'))::uuid[])
				AND (role <> 'owner' OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])));
CREATE POLICY members_delete ON protector.members FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage'))::uuid[])
		   AND (role <> 'owner' OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[])));

-- venues, closures and services: members read; customers with an account
-- read the venues and services of organizations they are a customer of
-- (what the public widget shows too), so they can book them.
CREATE POLICY venues_select ON protector.venues FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.read'))::uuid[])
		   OR organization_id = ANY ((SELECT protector_internal.customer_organizations())::uuid[]));
CREATE POLICY venues_insert ON protector.venues FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.manage'))::uuid[]));
CREATE POLICY venues_update ON protector.venues FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.manage'))::uuid[]));
CREATE POLICY venues_delete ON protector.venues FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.delete'))::uuid[]));

CREATE POLICY venue_closures_select ON protector.venue_closures FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.read'))::uuid[]));
CREATE POLICY venue_closures_insert ON protector.venue_closures FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.manage'))::uuid[]));
CREATE POLICY venue_closures_update ON protector.venue_closures FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.manage'))::uuid[]));
CREATE POLICY venue_closures_delete ON protector.venue_closures FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.manage'))::uuid[]));

CREATE POLICY services_select ON protector.services FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.read'))::uuid[])
		   OR organization_id = ANY ((SELECT protector_internal.customer_organizations())::uuid[]));
CREATE POLICY services_insert ON protector.services FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.manage'))::uuid[]));
CREATE POLICY services_update ON protector.services FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.manage'))::uuid[]));
CREATE POLICY services_delete ON protector.services FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('venues.manage'))::uuid[]));

-- customers: personal data.  Agents see the customers of the bookings
-- assigned to them; a customer sees their own record.
CREATE POLICY customers_select ON protector.customers FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('customers.read'))::uuid[])
		   OR id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])
		   OR (organization_id = ANY ((SELECT protector_internal.orgs_with('customers.read_assigned'))::uuid[])
			   AND id IN (SELECT b.customer_id FROM protector.bookings b
						  WHERE b.assigned_agent = (SELECT protector.current_user_id()))));
CREATE POLICY customers_insert ON protector.customers FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('customers.create'))::uuid[]));
CREATE POLICY customers_update ON protector.customers FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('customers.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('customers.manage'))::uuid[]));
CREATE POLICY customers_delete ON protector.customers FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('customers.manage'))::uuid[]));

-- bookings: the desk and finance see all of the organization; agents
-- their assigned ones; customers their own, which they may also create
-- (held or pending, unassigned) and confirm or cancel; the trigger
-- guard_customer_booking holds them to what the booking RPCs allow.
CREATE POLICY bookings_select ON protector.bookings FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('bookings.read'))::uuid[])
		   OR (assigned_agent = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('bookings.assigned'))::uuid[]))
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[]));
CREATE POLICY bookings_insert ON protector.bookings FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('bookings.create'))::uuid[])
				OR (customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])
					AND status IN ('held', 'pending') AND assigned_agent IS NULL));
CREATE POLICY bookings_update ON protector.bookings FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('bookings.update'))::uuid[])
		   OR (assigned_agent = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('bookings.assigned'))::uuid[]))
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('bookings.update'))::uuid[])
				OR (assigned_agent = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('bookings.assigned'))::uuid[]))
				OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[]));
CREATE POLICY bookings_delete ON protector.bookings FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('bookings.delete'))::uuid[]));

-- payments: customers see the payments of their own bookings.
CREATE POLICY payments_select ON protector.payments FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('payments.read'))::uuid[])
		   OR EXISTS (SELECT FROM protector.bookings b
					  WHERE b.id = booking_id
						AND b.customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])));
CREATE POLICY payments_insert ON protector.payments FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('payments.create'))::uuid[]));
CREATE POLICY payments_update ON protector.payments FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('payments.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('payments.manage'))::uuid[]));
CREATE POLICY payments_delete ON protector.payments FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('payments.manage'))::uuid[]));

-- tasks: the desk sees and works all; agents their own.
CREATE POLICY tasks_select ON protector.tasks FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.read'))::uuid[])
		   OR (assignee = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.assigned'))::uuid[])));
CREATE POLICY tasks_insert ON protector.tasks FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.create'))::uuid[]));
CREATE POLICY tasks_update ON protector.tasks FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.update'))::uuid[])
		   OR (assignee = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.assigned'))::uuid[])))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.update'))::uuid[])
				OR (assignee = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.assigned'))::uuid[])));
CREATE POLICY tasks_delete ON protector.tasks FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.delete'))::uuid[]));

-- notifications: the desk gets organization-wide ones; anyone on the
-- staff gets those addressed to them.
CREATE POLICY notifications_select ON protector.notifications FOR SELECT TO authenticated
	USING ((recipient_id IS NULL AND organization_id = ANY ((SELECT protector_internal.orgs_with('notifications.desk'))::uuid[]))
		   OR (recipient_id = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('notifications.own'))::uuid[])));
CREATE POLICY notifications_insert ON protector.notifications FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('notifications.create'))::uuid[]));
CREATE POLICY notifications_update ON protector.notifications FOR UPDATE TO authenticated
	USING ((recipient_id IS NULL AND organization_id = ANY ((SELECT protector_internal.orgs_with('notifications.desk'))::uuid[]))
		   OR (recipient_id = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('notifications.own'))::uuid[])))
	WITH CHECK ((recipient_id IS NULL AND organization_id = ANY ((SELECT protector_internal.orgs_with('notifications.desk'))::uuid[]))
				OR (recipient_id = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('notifications.own'))::uuid[])));
CREATE POLICY notifications_delete ON protector.notifications FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('notifications.delete'))::uuid[]));

-- audit_log: nobody writes it but the audit trigger (no write grants).
CREATE POLICY audit_log_select ON protector.audit_log FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('audit.read'))::uuid[]));
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/60_organizations_api.sql: starting a new tenant.
--
-- Any signed-in user may insert an organization (policy
-- organizations_insert); the trigger below makes them its owner.  That
-- one write RLS cannot express (a membership in an organization one is
-- not yet a member of) is the trigger's, SECURITY DEFINER, internal.

CREATE FUNCTION protector_internal.add_founding_owner()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
BEGIN
	IF v_user IS NOT NULL THEN
		INSERT INTO protector.members (organization_id, user_id, role)
		VALUES (NEW.id, v_user, 'owner');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.add_founding_owner() IS
'Trigger: the user who creates an organization becomes its first owner';

CREATE TRIGGER add_founding_owner AFTER INSERT ON protector.organizations
	FOR EACH ROW EXECUTE FUNCTION protector_internal.add_founding_owner();

CREATE FUNCTION protector.create_organization(
	p_name text,
	p_slug text,
	p_timezone text DEFAULT 'UTC',
	p_currency text DEFAULT 'USD',
	p_full_name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
	v_id uuid := pg_catalog.gen_random_uuid();
	v_org protector.organizations;
BEGIN
	IF v_user IS NULL THEN
		PERFORM protector.raise('forbidden', 'sign in to create an organization',
			'The request carries no user (request.jwt.claims has no "sub").');
	END IF;
	IF p_name IS NULL OR pg_catalog.length(pg_catalog.btrim(p_name)) NOT BETWEEN 1 AND 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_name must be 1 to 200 characters',
			'Got ' || COALESCE(pg_catalog.length(p_name)::text || ' characters', 'NULL') || '.');
	END IF;
	IF p_slug IS NULL OR p_slug OPERATOR(pg_catalog.!~) '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' THEN
		PERFORM protector.raise('invalid_parameter', 'p_slug is not a valid slug',
			pg_catalog.format('Got %L.', pg_catalog.left(p_slug, 80)),
			'Use 1 to 63 lower-case letters, digits and inner hyphens, e.g. "lockbox-berlin".');
	END IF;
	PERFORM protector.check_timezone(p_timezone, 'p_timezone');
	IF p_currency IS NULL OR p_currency OPERATOR(pg_catalog.!~) '^[A-Z]{3}$' THEN
		PERFORM protector.raise('invalid_parameter', 'p_currency must be an ISO 4217 code',
			pg_catalog.format('Got %L.', pg_catalog.left(p_currency, 80)),
			'Use three upper-case letters, e.g. "EUR".');
	END IF;
	IF pg_catalog.length(p_full_name) > 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_full_name must be at most 200 characters');
	END IF;

	-- as the caller: RLS lets any signed-in user found an organization,
	-- and the add_founding_owner trigger makes them its owner
	BEGIN
		INSERT INTO protector.organizations (id, name, slug, timezone, currency)
		VALUES (v_id, pg_catalog.btrim(p_name), p_slug, p_timezone, p_currency);
	EXCEPTION WHEN unique_violation THEN
		RAISE unique_violation USING
			MESSAGE = pg_catalog.format('the slug "%s" is already taken', p_slug),
			HINT = 'Choose another p_slug.';
	END;
	IF p_full_name IS NOT NULL THEN
		UPDATE protector.members m SET full_name = p_full_name
		WHERE m.organization_id OPERATOR(pg_catalog.=) v_id AND m.user_id OPERATOR(pg_catalog.=) v_user;
	END IF;
	SELECT * INTO STRICT v_org FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) v_id;
	RETURN pg_catalog.to_jsonb(v_org);
END
$$;
COMMENT ON FUNCTION protector.create_organization(text, text, text, text, text) IS
'Creates an organization with the calling user as its owner; returns the organization';
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/65_venues_api.sql: venue RPCs.

-- A new public embed key for a venue; the old one stops working at once
-- (the widget functions look venues up by the current key only).
CREATE FUNCTION protector.rotate_embed_key(p_venue_id uuid)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_key text;
BEGIN
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.rotate_key', 'venue', true);
	UPDATE protector.venues v SET embed_key = protector.generate_embed_key()
	WHERE v.id OPERATOR(pg_catalog.=) p_venue_id
	RETURNING v.embed_key INTO v_key;
	RETURN v_key;
END
$$;
COMMENT ON FUNCTION protector.rotate_embed_key(uuid) IS
'Gives a venue a new embed key (owners and admins); the old key stops working at once';

CREATE FUNCTION protector.is_venue_open(p_venue_id uuid, p_at timestamptz DEFAULT now())
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_is_venue_open'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.is_venue_open(uuid, timestamptz) IS
'Is the venue open at p_at, by its hours in its own time zone, closures and special hours included';

CREATE FUNCTION protector.get_venue_schedule(p_venue_id uuid, p_from date DEFAULT current_date, p_to date DEFAULT NULL)
RETURNS TABLE (local_date date, opens_at timestamptz, closes_at timestamptz, kind text)
AS 'MODULE_PATHNAME', 'protector_get_venue_schedule'
LANGUAGE C STABLE PARALLEL SAFE ROWS 14;
COMMENT ON FUNCTION protector.get_venue_schedule(uuid, date, date) IS
'The venue''s openings per local day (weekly, always, special, closed), p_to default p_from + 6, at most 93 days';

-- Management RPCs run with the caller's rights: RLS decides (owners,
-- admins and managers write venues and services); they add validation
-- with precise errors and a jsonb answer.

CREATE FUNCTION protector.create_venue(
	p_organization_id uuid,
	p_name text,
	p_timezone text,
	p_description text DEFAULT NULL,
	p_address text DEFAULT NULL,
	p_city text DEFAULT NULL,
	p_region text DEFAULT NULL,
	p_country text DEFAULT NULL,
	p_postal_code text DEFAULT NULL,
	p_operating_hours jsonb DEFAULT '{}',
	p_branding jsonb DEFAULT '{}',
	p_widget_settings jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues;
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	IF p_name IS NULL OR length(btrim(p_name)) NOT BETWEEN 1 AND 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_name must be 1 to 200 characters');
	END IF;
	PERFORM protector.check_timezone(p_timezone, 'p_timezone');
	IF p_country IS NOT NULL AND p_country !~ '^[A-Z]{2}$' THEN
		PERFORM protector.raise('invalid_parameter', 'p_country must be an ISO 3166 alpha-2 code such as DE');
	END IF;
	PERFORM protector.check_operating_hours(COALESCE(p_operating_hours, '{}'));
	IF jsonb_typeof(COALESCE(p_branding, '{}')) <> 'object' OR jsonb_typeof(COALESCE(p_widget_settings, '{}')) <> 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_branding and p_widget_settings must be JSON objects');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'venues.manage');
	INSERT INTO protector.venues (organization_id, name, timezone, description, address, city, region,
								  country, postal_code, operating_hours, branding, widget_settings)
	VALUES (p_organization_id, btrim(p_name), p_timezone, p_description, p_address, p_city, p_region,
			p_country, p_postal_code, COALESCE(p_operating_hours, '{}'), COALESCE(p_branding, '{}'),
			COALESCE(p_widget_settings, '{}'))
	RETURNING * INTO v;
	RETURN to_jsonb(v);
END
$$;
COMMENT ON FUNCTION protector.create_venue(uuid, text, text, text, text, text, text, text, text, jsonb, jsonb, jsonb) IS
'Creates a venue (owners, admins, managers); it gets an embed key';

CREATE FUNCTION protector.update_venue(p_venue_id uuid, p_changes jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues;
	v_unknown text;
BEGIN
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.manage', 'venue', true);
	SELECT * INTO v FROM protector.venues WHERE id = p_venue_id;
	IF p_changes IS NULL OR jsonb_typeof(p_changes) <> 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes must be a JSON object of the fields to change');
	END IF;
	SELECT string_agg(k, ', ' ORDER BY k) INTO v_unknown FROM jsonb_object_keys(p_changes) k
	WHERE k NOT IN ('name', 'description', 'address', 'city', 'region', 'country', 'postal_code',
					'timezone', 'capacity', 'branding', 'widget_settings', 'active');
	IF v_unknown IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', format('p_changes has fields that cannot be changed here: %s', v_unknown),
			NULL, 'Opening hours change through update_venue_schedule, the embed key through rotate_embed_key.');
	END IF;
	IF p_changes ? 'timezone' THEN
		PERFORM protector.check_timezone(p_changes ->> 'timezone', 'p_changes.timezone');
	END IF;
	IF p_changes ? 'name' AND (p_changes ->> 'name' IS NULL OR length(btrim(p_changes ->> 'name')) NOT BETWEEN 1 AND 200) THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.name must be 1 to 200 characters');
	END IF;
	BEGIN
		UPDATE protector.venues SET
			name = CASE WHEN p_changes ? 'name' THEN btrim(p_changes ->> 'name') ELSE name END,
			description = CASE WHEN p_changes ? 'description' THEN p_changes ->> 'description' ELSE description END,
			address = CASE WHEN p_changes ? 'address' THEN p_changes ->> 'address' ELSE address END,
			city = CASE WHEN p_changes ? 'city' THEN p_changes ->> 'city' ELSE city END,
			region = CASE WHEN p_changes ? 'region' THEN p_changes ->> 'region' ELSE region END,
			country = CASE WHEN p_changes ? 'country' THEN p_changes ->> 'country' ELSE country END,
			postal_code = CASE WHEN p_changes ? 'postal_code' THEN p_changes ->> 'postal_code' ELSE postal_code END,
			timezone = CASE WHEN p_changes ? 'timezone' THEN p_changes ->> 'timezone' ELSE timezone END,
			capacity = CASE WHEN p_changes ? 'capacity' THEN (p_changes ->> 'capacity')::integer ELSE capacity END,
			branding = CASE WHEN p_changes ? 'branding' THEN p_changes -> 'branding' ELSE branding END,
			widget_settings = CASE WHEN p_changes ? 'widget_settings' THEN p_changes -> 'widget_settings' ELSE widget_settings END,
			active = CASE WHEN p_changes ? 'active' THEN (p_changes ->> 'active')::boolean ELSE active END
		WHERE id = v.id
		RETURNING * INTO v;
	EXCEPTION
		WHEN check_violation OR not_null_violation OR invalid_text_representation OR numeric_value_out_of_range THEN
			PERFORM protector.raise('invalid_parameter', format('p_changes: %s', SQLERRM));
	END;
	RETURN to_jsonb(v);
END
$$;
COMMENT ON FUNCTION protector.update_venue(uuid, jsonb) IS
'Changes the given fields of a venue (name, address, time zone, branding, widget settings, active, ...)';

CREATE FUNCTION protector.update_venue_schedule(p_venue_id uuid, p_operating_hours jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.manage', 'venue', true);
	PERFORM protector.check_operating_hours(p_operating_hours);
	UPDATE protector.venues SET operating_hours = p_operating_hours WHERE id = p_venue_id;
	RETURN p_operating_hours;
END
$$;
COMMENT ON FUNCTION protector.update_venue_schedule(uuid, jsonb) IS
'Replaces a venue''s weekly operating hours (validated in C; format in docs/bookings.md)';

-- Soft delete: the venue disappears from the widget and availability; its
-- bookings and history stay.  Owners and admins only.
CREATE FUNCTION protector.delete_venue(p_venue_id uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.delete', 'venue', true);
	UPDATE protector.venues SET deleted_at = now(), active = false WHERE id = p_venue_id;
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector.delete_venue(uuid) IS
'Soft-deletes a venue (owners, admins): hidden from widget and availability, bookings kept';

CREATE FUNCTION protector.duplicate_service(p_service_id uuid, p_target_venue_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
	v protector.venues;
BEGIN
	PERFORM protector_internal.authorize_row('protector.services', p_service_id, 'venues.manage', 'service');
	SELECT * INTO s FROM protector.services WHERE id = p_service_id;
	PERFORM protector_internal.authorize_row('protector.venues', COALESCE(p_target_venue_id, s.venue_id),
											 'venues.manage', 'venue', true);
	SELECT * INTO v FROM protector.venues WHERE id = COALESCE(p_target_venue_id, s.venue_id);
	IF v.organization_id <> s.organization_id THEN
		PERFORM protector.raise('not_found', 'venue not found', 'Services are copied within their organization.');
	END IF;
	s.id := gen_random_uuid();
	s.venue_id := v.id;
	IF p_target_venue_id IS NULL OR p_target_venue_id = (SELECT venue_id FROM protector.services WHERE id = p_service_id) THEN
		s.name := left(s.name, 193) || ' (copy)';
	END IF;
	INSERT INTO protector.services (id, organization_id, venue_id, name, description, mode, duration,
		capacity, min_party, max_party, buffer_before, buffer_after, slot_interval, min_notice,
		max_advance, price, price_per_person, currency, settings, active)
	VALUES (s.id, s.organization_id, s.venue_id, s.name, s.description, s.mode, s.duration,
		s.capacity, s.min_party, s.max_party, s.buffer_before, s.buffer_after, s.slot_interval, s.min_notice,
		s.max_advance, s.price, s.price_per_person, s.currency, s.settings, s.active)
	RETURNING * INTO s;
	RETURN to_jsonb(s);
END
$$;
COMMENT ON FUNCTION protector.duplicate_service(uuid, uuid) IS
'Copies a service with all its settings, to the same venue (" (copy)") or another of the organization';

-- Bookings, revenue, utilization and cancellations of a venue over local
-- dates [p_from, p_to].  Utilization = booked service time / open service
-- time: each active service counts the venue's open hours once; a booking
-- counts its length (for shared services times party / capacity).
CREATE FUNCTION protector.get_venue_analytics(p_venue_id uuid, p_from date, p_to date)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues;
	v_lo timestamptz;
	v_hi timestamptz;
	v_open_seconds numeric;
	v_services integer;
	r jsonb;
BEGIN
	IF p_venue_id IS NULL OR p_from IS NULL OR p_to IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_venue_id, p_from and p_to must not be null');
	END IF;
	IF p_to < p_from OR p_to - p_from > 366 OR NOT isfinite(p_from) OR NOT isfinite(p_to) THEN
		PERFORM protector.raise('invalid_parameter', 'p_from to p_to must be a finite range of at most 367 days');
	END IF;
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.analytics', 'venue');
	SELECT * INTO v FROM protector.venues WHERE id = p_venue_id;
	v_lo := p_from::timestamp AT TIME ZONE v.timezone;
	v_hi := (p_to + 1)::timestamp AT TIME ZONE v.timezone;
	SELECT COALESCE(sum(extract(epoch FROM least(g.closes_at, v_hi) - greatest(g.opens_at, v_lo))), 0)
	INTO v_open_seconds
	-- get_venue_schedule answers at most 93 days at a time
	FROM generate_series(0, (p_to - p_from) / 93) k,
		 LATERAL protector.get_venue_schedule(v.id, p_from + k * 93, least(p_to, p_from + k * 93 + 92)) g
	WHERE g.kind <> 'closed' AND g.closes_at > v_lo AND g.opens_at < v_hi;
	SELECT count(*) INTO v_services FROM protector.services s WHERE s.venue_id = v.id AND s.active;

	SELECT jsonb_build_object(
		'venue', v.name, 'from', p_from, 'to', p_to, 'timezone', v.timezone,
		'bookings', count(*) FILTER (WHERE b.status NOT IN ('cancelled', 'held')),
		'cancellations', count(*) FILTER (WHERE b.status = 'cancelled'),
		'no_shows', count(*) FILTER (WHERE b.status = 'no_show'),
		'guests', COALESCE(sum(b.party_size) FILTER (WHERE b.status NOT IN ('cancelled', 'held', 'no_show')), 0),
		'revenue', COALESCE(sum(b.total_price) FILTER (WHERE b.status IN ('confirmed', 'in_progress', 'completed', 'no_show')), 0),
		'open_hours', round(v_open_seconds / 3600, 2),
		'active_services', v_services,
		'utilization', CASE WHEN v_open_seconds * v_services > 0 THEN round(
			COALESCE(sum(extract(epoch FROM least(upper(b.during), v_hi) - greatest(lower(b.during), v_lo))
						 * CASE WHEN s.mode = 'shared' THEN b.party_size::numeric / s.capacity ELSE 1 END)
					 FILTER (WHERE b.status NOT IN ('cancelled', 'held', 'no_show')), 0)
			/ (v_open_seconds * v_services), 4) END)
	INTO r
	FROM protector.bookings b
	JOIN protector.services s ON s.id = b.service_id
	WHERE b.venue_id = v.id AND b.during && tstzrange(v_lo, v_hi);
	RETURN r;
END
$$;
COMMENT ON FUNCTION protector.get_venue_analytics(uuid, date, date) IS
'Bookings, cancellations, guests, revenue and utilization (booked / open service time) of a venue';
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/66_widget.sql: the public booking widget, callable by anon through
-- PostgREST with nothing but a venue's embed key.  See docs/widget.md.
--
-- Every function here is SECURITY DEFINER and returns only what a visitor
-- of the venue's website may see: the venue's public fields, its active
-- services, free slots, and for a booking its reference and status.
-- Unknown, malformed, rotated or inactive keys all get the same error.

CREATE FUNCTION protector_internal.venue_for_embed_key(p_embed_key text)
RETURNS protector.venues
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_venue protector.venues;
BEGIN
	IF p_embed_key IS NOT NULL AND pg_catalog.length(p_embed_key) OPERATOR(pg_catalog.<=) 64
	   AND protector.embed_key_is_well_formed(p_embed_key) THEN
		SELECT * INTO v_venue FROM protector.venues v
		WHERE v.embed_key OPERATOR(pg_catalog.=) p_embed_key
		  AND v.active AND v.deleted_at IS NULL;
		IF FOUND THEN
			RETURN v_venue;
		END IF;
	END IF;
	PERFORM protector.raise('not_found', 'unknown embed key',
		'Check the key in the widget''s settings; a rotated key stops working at once.');
END
$$;
COMMENT ON FUNCTION protector_internal.venue_for_embed_key(text) IS
'Internal: the active venue of an embed key, or one uniform "unknown embed key" error';

CREATE FUNCTION protector.get_venue_by_embed_key(p_embed_key text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues := protector_internal.venue_for_embed_key(p_embed_key);
BEGIN
	RETURN pg_catalog.jsonb_build_object(
		'name', v.name, 'description', v.description, 'address', v.address, 'city', v.city,
		'region', v.region, 'country', v.country, 'postal_code', v.postal_code,
		'timezone', v.timezone, 'operating_hours', v.operating_hours,
		'branding', v.branding, 'widget_settings', v.widget_settings);
END
$$;
COMMENT ON FUNCTION protector.get_venue_by_embed_key(text) IS
'Widget: the venue''s public fields (name, address, time zone, hours, branding, widget settings)';

CREATE FUNCTION protector.get_venue_services(p_embed_key text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues := protector_internal.venue_for_embed_key(p_embed_key);
BEGIN
	RETURN COALESCE((
		SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
				'id', s.id, 'name', s.name, 'description', s.description, 'mode', s.mode,
				'duration_minutes', pg_catalog.date_part('epoch', s.duration)::bigint OPERATOR(pg_catalog./) 60,
				'slot_interval_minutes', pg_catalog.date_part('epoch', s.slot_interval)::bigint OPERATOR(pg_catalog./) 60,
				'capacity', s.capacity, 'min_party', s.min_party,
				'max_party', COALESCE(s.max_party, s.capacity),
				'price', s.price, 'price_per_person', s.price_per_person, 'currency', s.currency)
			ORDER BY s.name, s.id)
		FROM protector.services s
		WHERE s.organization_id OPERATOR(pg_catalog.=) v.organization_id
		  AND s.venue_id OPERATOR(pg_catalog.=) v.id AND s.active), '[]');
END
$$;
COMMENT ON FUNCTION protector.get_venue_services(text) IS
'Widget: the venue''s active services with duration, party sizes and prices';

-- Internal: an active service of the key's venue.
CREATE FUNCTION protector_internal.widget_service(p_venue protector.venues, p_service_id uuid)
RETURNS protector.services
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_service protector.services;
BEGIN
	SELECT * INTO v_service FROM protector.services s
	WHERE s.id OPERATOR(pg_catalog.=) p_service_id
	  AND s.organization_id OPERATOR(pg_catalog.=) p_venue.organization_id
	  AND s.venue_id OPERATOR(pg_catalog.=) p_venue.id AND s.active;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found', 'This venue offers no such service.');
	END IF;
	RETURN v_service;
END
$$;
COMMENT ON FUNCTION protector_internal.widget_service(protector.venues, uuid) IS
'Internal: an active service of the widget''s venue, or not found';

CREATE FUNCTION protector.get_widget_slots(p_embed_key text, p_service_id uuid, p_from date, p_to date DEFAULT NULL)
RETURNS TABLE (slot_start timestamptz, slot_end timestamptz, remaining_capacity integer)
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_service protector.services := protector_internal.widget_service(protector_internal.venue_for_embed_key(p_embed_key), p_service_id);
BEGIN
	RETURN QUERY SELECT a.slot_start, a.slot_end, a.remaining_capacity
		FROM protector.get_available_slots(v_service.id, p_from, p_to, false) a;
END
$$;
COMMENT ON FUNCTION protector.get_widget_slots(text, uuid, date, date) IS
'Widget: free slots of one of the venue''s services, as get_available_slots';

-- Text a visitor typed: no control characters, no invisible direction
-- marks or overrides (they disguise a name on the operator's screen).
CREATE FUNCTION protector_internal.text_is_clean(p_text text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p_text IS NULL
		OR p_text OPERATOR(pg_catalog.!~) E'[\\x01-\\x1f\\x7f-\\x9f\\u061c\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2069\\ufeff]'
$$;
COMMENT ON FUNCTION protector_internal.text_is_clean(text) IS
'False when the text holds control characters or invisible bidirectional marks, overrides or isolates';

-- The client address PostgREST passes in request.headers: the first hop
-- of x-forwarded-for, or NULL when there is none or it is no address.
CREATE FUNCTION protector_internal.request_client_address()
RETURNS inet
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN pg_catalog.btrim(pg_catalog.split_part(
		pg_catalog.current_setting('request.headers', true)::json ->> 'x-forwarded-for', ',', 1))::inet;
EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.request_client_address() IS
'First hop of x-forwarded-for in PostgREST''s request.headers, or NULL';

-- One row per widget booking: who asked (identity key of the e-mail, the
-- client address), for the per-visitor limits.  Kept for a day.
CREATE TABLE protector_internal.widget_requests (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	venue_id		uuid NOT NULL,
	identity_key	text NOT NULL,
	client_address	inet,
	created_at		timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (organization_id, venue_id) REFERENCES protector.venues (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX widget_requests_venue_idx ON protector_internal.widget_requests (organization_id, venue_id, created_at);
ALTER TABLE protector_internal.widget_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.widget_requests FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.widget_requests IS
'Widget bookings of the last day by visitor (e-mail identity key) and client address; read and written by the widget only (no policy, no grant)';
SELECT pg_catalog.pg_extension_config_dump('protector_internal.widget_requests', '');
SELECT pg_catalog.pg_extension_config_dump('protector_internal.widget_requests_id_seq', '');

-- A widget setting that is a whole number in [p_min, p_max], else p_default.
CREATE FUNCTION protector_internal.widget_setting(p_settings jsonb, p_key text, p_default integer,
												  p_min integer, p_max integer)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN pg_catalog.jsonb_typeof(p_settings -> p_key) OPERATOR(pg_catalog.=) 'number'
				THEN LEAST(GREATEST((p_settings ->> p_key)::numeric, p_min), p_max)::integer
				ELSE p_default END
$$;
COMMENT ON FUNCTION protector_internal.widget_setting(jsonb, text, integer, integer, integer) IS
'A numeric widget setting clamped to [p_min, p_max], or p_default when absent or not a number';

CREATE FUNCTION protector.create_widget_booking(
	p_embed_key text,
	p_service_id uuid,
	p_customer_name text,
	p_customer_email text,
	p_customer_phone text,
	p_start timestamptz,
	p_party_size integer DEFAULT 1,
	p_idempotency_key text DEFAULT NULL,
	p_details jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues := protector_internal.venue_for_embed_key(p_embed_key);
	v_service protector.services;
	v_name text := pg_catalog.btrim(p_customer_name);
	v_email text := pg_catalog.lower(pg_catalog.btrim(p_customer_email));
	v_phone text := NULLIF(pg_catalog.btrim(p_customer_phone), '');
	v_limit integer;
	v_recent integer;
	v_identity text;
	v_address inet := protector_internal.request_client_address();
	v_per_visitor integer := protector_internal.widget_setting(v.widget_settings, 'visitor_bookings_per_hour', 5, 1, 100000);
	v_per_address integer := protector_internal.widget_setting(v.widget_settings, 'address_bookings_per_hour', 20, 1, 100000);
	v_by_visitor integer;
	v_by_address integer;
	v_customer uuid;
	v_key text;
	v_booking jsonb;
BEGIN
	v_service := protector_internal.widget_service(v, p_service_id);
	IF v_name IS NULL OR pg_catalog.length(v_name) NOT BETWEEN 1 AND 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_name must be 1 to 200 characters');
	END IF;
	IF v_email IS NULL OR pg_catalog.length(v_email) OPERATOR(pg_catalog.>) 320
	   OR v_email OPERATOR(pg_catalog.!~) '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_email is not an email address',
			'At most 320 characters, like name@example.com.');
	END IF;
	IF v_phone IS NOT NULL AND v_phone OPERATOR(pg_catalog.!~) '^\+?[0-9][0-9 ()./-]{2,38}$' THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_phone is not a phone number',
			'Digits, spaces and ( ) . / - only, an optional leading +, at most 40 characters.');
	END IF;
	IF p_idempotency_key IS NOT NULL AND pg_catalog.length(p_idempotency_key) NOT BETWEEN 1 AND 100 THEN
		PERFORM protector.raise('invalid_parameter', 'p_idempotency_key must be 1 to 100 characters');
	END IF;
	IF p_details IS NULL OR pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object'
	   OR pg_catalog.pg_column_size(p_details) OPERATOR(pg_catalog.>) 16384 THEN
		PERFORM protector.raise('invalid_parameter', 'p_details must be a JSON object of at most 16 kB');
	END IF;
	IF NOT (protector_internal.text_is_clean(v_name) AND protector_internal.text_is_clean(v_email)
			AND protector_internal.text_is_clean(v_phone) AND protector_internal.text_is_clean(p_idempotency_key))
	   OR EXISTS (SELECT FROM pg_catalog.jsonb_path_query(p_details, 'strict $.**') t
				  WHERE NOT protector_internal.text_is_clean(CASE WHEN pg_catalog.jsonb_typeof(t) OPERATOR(pg_catalog.=) 'string'
																  THEN t OPERATOR(pg_catalog.#>>) '{}' END)
					 OR (pg_catalog.jsonb_typeof(t) OPERATOR(pg_catalog.=) 'object'
						 AND EXISTS (SELECT FROM pg_catalog.jsonb_object_keys(t) k
									 WHERE NOT protector_internal.text_is_clean(k)))) THEN
		PERFORM protector.raise('invalid_parameter', 'the booking holds control or invisible direction characters',
			'Names, e-mail, phone, request key and details must be plain text.');
	END IF;
	v_identity := protector.normalize_email(v_email);

	-- one widget booking of an organization at a time: the rate limit and
	-- the customer look-up see every earlier one
	PERFORM pg_catalog.pg_advisory_xact_lock(1886547715, pg_catalog.hashtext(v.organization_id::text));
	v_limit := protector_internal.widget_setting(v.widget_settings, 'bookings_per_minute', 30, 0, 100000);
	SELECT pg_catalog.count(*) INTO v_recent FROM protector.bookings b
	WHERE b.venue_id OPERATOR(pg_catalog.=) v.id AND b.source OPERATOR(pg_catalog.=) 'widget'
	  AND b.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 minute');
	IF v_limit OPERATOR(pg_catalog.=) 0 THEN
		PERFORM protector.raise('forbidden', 'this venue does not take bookings through its widget',
			'Its widget_settings.bookings_per_minute is 0.');
	END IF;
	IF v_recent OPERATOR(pg_catalog.>=) v_limit THEN
		PERFORM protector.raise('rate_limited', 'too many bookings through this widget; try again in a minute',
			pg_catalog.format('This venue takes at most %s widget bookings per minute.', v_limit));
	END IF;
	-- one visitor (by e-mail, and by client address where PostgREST passes
	-- it) cannot fill the venue's calendar
	DELETE FROM protector_internal.widget_requests w
	WHERE w.organization_id OPERATOR(pg_catalog.=) v.organization_id AND w.venue_id OPERATOR(pg_catalog.=) v.id
	  AND w.created_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 day');
	SELECT pg_catalog.count(*) FILTER (WHERE w.identity_key OPERATOR(pg_catalog.=) v_identity),
		   pg_catalog.count(*) FILTER (WHERE w.client_address OPERATOR(pg_catalog.=) v_address)
	INTO v_by_visitor, v_by_address
	FROM protector_internal.widget_requests w
	WHERE w.organization_id OPERATOR(pg_catalog.=) v.organization_id AND w.venue_id OPERATOR(pg_catalog.=) v.id
	  AND w.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 hour');
	IF v_by_visitor OPERATOR(pg_catalog.>=) v_per_visitor OR v_by_address OPERATOR(pg_catalog.>=) v_per_address THEN
		PERFORM protector.raise('rate_limited', 'too many bookings from you through this widget; try again later',
			pg_catalog.format('This venue takes at most %s widget bookings per hour from one e-mail address and %s from one network address.',
				v_per_visitor, v_per_address));
	END IF;

	-- a returning guest is found by email (case-insensitive); a customer
	-- with an account is never attached to by e-mail alone: the booking
	-- goes to a guest record of that e-mail
	SELECT c.id INTO v_customer FROM protector.customers c
	WHERE c.organization_id OPERATOR(pg_catalog.=) v.organization_id
	  AND pg_catalog.lower(c.email) OPERATOR(pg_catalog.=) v_email
	  AND c.merged_into IS NULL AND c.user_id IS NULL
	ORDER BY c.created_at, c.id LIMIT 1;
	IF NOT FOUND THEN
		INSERT INTO protector.customers (organization_id, full_name, email, phone)
		VALUES (v.organization_id, v_name, v_email, v_phone)
		RETURNING id INTO v_customer;
	END IF;

	-- a visitor's retry replays their own booking, never someone else's
	IF p_idempotency_key IS NOT NULL THEN
		v_key := 'widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(v_email) OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_idempotency_key;
	END IF;
	-- without auto_confirm a widget booking is a hold the venue confirms
	-- within widget_settings.confirmation_minutes (default 15); unconfirmed
	-- it stops occupying its slot
	v_booking := protector.create_booking(v_service.id, v_customer, p_start, p_party_size, v_key, p_details,
		'widget', NULL,
		CASE WHEN (v.widget_settings ->> 'auto_confirm') OPERATOR(pg_catalog.=) 'true' THEN NULL
			 WHEN pg_catalog.jsonb_typeof(v.widget_settings -> 'confirmation_minutes') OPERATOR(pg_catalog.=) 'number'
			 THEN LEAST(GREATEST((v.widget_settings ->> 'confirmation_minutes')::numeric, 1), 1440)::integer
			 ELSE 15 END);
	IF NOT (v_booking -> 'replayed')::boolean THEN
		INSERT INTO protector_internal.widget_requests (organization_id, venue_id, identity_key, client_address)
		VALUES (v.organization_id, v.id, v_identity, v_address);
	END IF;
	RETURN pg_catalog.jsonb_build_object(
		'reference', v_booking -> 'id', 'status', v_booking -> 'status', 'confirm_by', v_booking -> 'hold_expires_at',
		'start', pg_catalog.lower((v_booking ->> 'during')::tstzrange),
		'end', pg_catalog.upper((v_booking ->> 'during')::tstzrange),
		'service', v_service.name, 'party_size', v_booking -> 'party_size',
		'total_price', v_booking -> 'total_price', 'currency', v_booking -> 'currency',
		'replayed', COALESCE(v_booking -> 'replayed', 'false'));
END
$$;
COMMENT ON FUNCTION protector.create_widget_booking(text, uuid, text, text, text, timestamptz, integer, text, jsonb) IS
'Widget: books a slot for a visitor (customer found or created by email); returns the reference and status only';
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/68_customers_api.sql: recognizing customers (identity key, likely
-- duplicates) and merging them.  See docs/customers.md.

CREATE FUNCTION protector.set_customer_identity_key()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NEW.identity_key := protector.normalize_email(NEW.email);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector.set_customer_identity_key() IS
'Trigger: customers.identity_key is the ICU-normalized email';
CREATE TRIGGER customers_identity_key BEFORE INSERT OR UPDATE OF email ON protector.customers
	FOR EACH ROW EXECUTE FUNCTION protector.set_customer_identity_key();

-- Groups of customers that are probably one person, with the reason.
CREATE FUNCTION protector.find_duplicate_customers(p_organization_id uuid)
RETURNS TABLE (group_no integer, reason text, customer_ids uuid[], full_names text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'customers.find_duplicates');
	RETURN QUERY
	WITH c AS (
		SELECT id, full_name, created_at, identity_key,
			   protector.normalize_phone(phone, country) AS phone_key,
			   protector.normalize_name(full_name) AS name_key,
			   right(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), 4) AS phone_tail
		FROM protector.customers
		WHERE organization_id = p_organization_id AND merged_into IS NULL
	), g AS (
		SELECT 'same email' AS why, array_agg(id ORDER BY created_at, id) AS ids,
			   array_agg(full_name ORDER BY created_at, id) AS names
		FROM c WHERE identity_key IS NOT NULL GROUP BY identity_key HAVING count(*) > 1
		UNION ALL
		SELECT 'same phone', array_agg(id ORDER BY created_at, id), array_agg(full_name ORDER BY created_at, id)
		FROM c WHERE phone_key IS NOT NULL GROUP BY phone_key HAVING count(*) > 1
		UNION ALL
		SELECT 'same name and phone ending', array_agg(id ORDER BY created_at, id), array_agg(full_name ORDER BY created_at, id)
		FROM c WHERE name_key IS NOT NULL AND length(phone_tail) = 4
		GROUP BY name_key, phone_tail HAVING count(*) > 1
	)
	SELECT (row_number() OVER (ORDER BY g.ids[1], g.why))::integer, g.why, g.ids, g.names FROM g
	ORDER BY 1;
END
$$;
COMMENT ON FUNCTION protector.find_duplicate_customers(uuid) IS
'Likely duplicate customers: same identity key (email), same normalized phone, or same normalized name and last 4 phone digits';

-- Every column that points at a customer (bookings, and any later table),
-- found in the catalog: what a merge moves.
CREATE VIEW protector_internal.customer_references AS
SELECT c.conrelid::regclass AS tbl, a.attname AS col
FROM pg_catalog.pg_constraint c
JOIN LATERAL unnest(c.conkey, c.confkey) AS u(fk_att, pk_att) ON true
JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid AND a.attnum OPERATOR(pg_catalog.=) u.fk_att
JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) c.confrelid AND pa.attnum OPERATOR(pg_catalog.=) u.pk_att
WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) 'protector.customers'::pg_catalog.regclass
  AND pa.attname OPERATOR(pg_catalog.=) 'id' AND c.conrelid OPERATOR(pg_catalog.<>) 'protector.customers'::pg_catalog.regclass;
COMMENT ON VIEW protector_internal.customer_references IS
'Columns (by foreign key) that refer to a customer: what merge_customers moves';

-- A customer is merged into another only by callers who may merge, never
-- back, and only once nothing refers to it any more: so merged_into
-- changes exactly as merge_customers changes it, whoever writes it.
CREATE FUNCTION protector_internal.guard_merged_into()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector_internal.caller_is_trusted() THEN
		RETURN NEW;
	END IF;
	PERFORM protector_internal.authorize(NEW.organization_id, 'customers.merge', 'customer');
	IF NEW.merged_into IS NULL THEN
		PERFORM protector.raise('forbidden', 'a merge cannot be undone',
			pg_catalog.format('Customer %s was merged into %s.', OLD.id, OLD.merged_into));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_merged_into() IS
'Trigger: merged_into is set by callers who may merge customers, and never cleared (trusted roles excepted)';

CREATE TRIGGER guard_merged_into BEFORE UPDATE OF merged_into ON protector.customers
	FOR EACH ROW WHEN (OLD.merged_into IS DISTINCT FROM NEW.merged_into)
	EXECUTE FUNCTION protector_internal.guard_merged_into();

-- Runs as the owner: it must see every reference, visible or not.
CREATE FUNCTION protector_internal.check_merged_unreferenced()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fk record;
	v_found boolean;
BEGIN
	FOR fk IN
		SELECT r.tbl, r.col FROM protector_internal.customer_references r
	LOOP
		EXECUTE format('SELECT EXISTS (SELECT FROM %s WHERE %I = $1)', fk.tbl, fk.col) INTO v_found USING NEW.id;
		IF v_found THEN
			PERFORM protector.raise('invalid_parameter',
				pg_catalog.format('customer %s is still referenced by %s.%s', NEW.id, fk.tbl, fk.col),
				NULL, 'Merge customers with merge_customers(), which moves what refers to them.');
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.check_merged_unreferenced() IS
'Constraint trigger: nothing refers to a customer merged into another';

CREATE CONSTRAINT TRIGGER check_merged_unreferenced AFTER INSERT OR UPDATE OF merged_into ON protector.customers
	NOT DEFERRABLE
	FOR EACH ROW WHEN (NEW.merged_into IS NOT NULL)
	EXECUTE FUNCTION protector_internal.check_merged_unreferenced();

-- Moves everything of p_merge_id to p_keep_id and marks p_merge_id merged,
-- as the caller: RLS and the capability map decide.
CREATE FUNCTION protector.merge_customers(p_keep_id uuid, p_merge_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k protector.customers;
	m protector.customers;
	fk record;
	v_moved jsonb := '{}';
	v_count bigint;
BEGIN
	IF p_keep_id IS NULL OR p_merge_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_keep_id and p_merge_id must not be null');
	END IF;
	IF p_keep_id = p_merge_id THEN
		PERFORM protector.raise('invalid_parameter', 'a customer cannot be merged into itself');
	END IF;
	-- both rows visible to the caller (RLS), mergeable by their role, and
	-- locked in a fixed order so two merges cannot deadlock
	PERFORM protector_internal.authorize_row('protector.customers', x.id, 'customers.merge', 'customer', true)
	FROM (SELECT u.id FROM unnest(ARRAY[p_keep_id, p_merge_id]) u(id) ORDER BY u.id) x;
	SELECT * INTO k FROM protector.customers WHERE id = p_keep_id;
	SELECT * INTO m FROM protector.customers WHERE id = p_merge_id;
	IF k.organization_id <> m.organization_id THEN
		PERFORM protector.raise('invalid_parameter', 'customers of different organizations cannot be merged');
	END IF;
	IF k.merged_into IS NOT NULL OR m.merged_into IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'a merged customer cannot be merged again',
			'Merge into the customer it was merged into.');
	END IF;

	-- every foreign key that points at customers (bookings, and any later
	-- table), found in the catalog; values are parameters
	FOR fk IN
		SELECT r.tbl, r.col FROM protector_internal.customer_references r ORDER BY 1, 2
	LOOP
		EXECUTE format('UPDATE %s SET %I = $1 WHERE %I = $2', fk.tbl, fk.col, fk.col) USING k.id, m.id;
		GET DIAGNOSTICS v_count = ROW_COUNT;
		v_moved := v_moved || jsonb_build_object(fk.tbl::text || '.' || fk.col, v_count);
	END LOOP;
	-- earlier merges into m now point at k
	UPDATE protector.customers SET merged_into = k.id WHERE merged_into = m.id;

	-- the merged record's account link and details complete the kept one
	UPDATE protector.customers SET user_id = NULL, merged_into = k.id WHERE id = m.id;
	UPDATE protector.customers SET
		user_id = COALESCE(k.user_id, m.user_id),
		email = COALESCE(k.email, m.email),
		phone = COALESCE(k.phone, m.phone),
		country = COALESCE(k.country, m.country),
		tags = ARRAY(SELECT DISTINCT t FROM unnest(k.tags || m.tags) t ORDER BY t),
		notes = CASE WHEN m.notes IS NULL OR m.notes = k.notes THEN k.notes
					 ELSE left(concat_ws(E'\n', k.notes, m.notes), 10000) END
	WHERE id = k.id;
	RETURN jsonb_build_object('kept', k.id, 'merged', m.id, 'moved', v_moved);
END
$$;
COMMENT ON FUNCTION protector.merge_customers(uuid, uuid) IS
'Moves bookings (and every other reference) of p_merge_id to p_keep_id, completes its details, marks p_merge_id merged';
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/69_analytics.sql: customer intelligence.  RFM scores and segments
-- are computed in C (src/analytics.c); lifetime value here.  See
-- docs/analytics.md for every definition.

CREATE FUNCTION protector.rfm_segment(p_r integer, p_f integer, p_m integer)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_rfm_segment'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.rfm_segment(integer, integer, integer) IS
'The RFM segment of scores (1-5 each), by R and the average of F and M (docs/analytics.md)';

-- Every customer of an organization with measures, scores and segment:
-- individual data for the desk and management (analytics.customer).  The
-- C function asks the capability map, then reads past RLS: monetary value
-- comes from payments an operator may not read.
CREATE FUNCTION protector.get_customer_rfm_scores(p_organization_id uuid)
RETURNS TABLE (customer_id uuid, recency_days integer, frequency bigint, monetary numeric,
			   r integer, f integer, m integer, segment text)
AS 'MODULE_PATHNAME', 'protector_customer_rfm'
LANGUAGE C STABLE;
COMMENT ON FUNCTION protector.get_customer_rfm_scores(uuid) IS
'RFM measures, quintile scores and segment of every customer of an organization (desk and management)';

CREATE FUNCTION protector.get_customer_rfm_score(p_customer_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c protector.customers;
	v jsonb;
BEGIN
	PERFORM protector_internal.authorize_row('protector.customers', p_customer_id, 'analytics.customer', 'customer');
	SELECT * INTO c FROM protector.customers WHERE id = p_customer_id;
	IF c.merged_into IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'this customer was merged into another',
			format('Ask for customer %s instead.', c.merged_into));
	END IF;
	SELECT jsonb_build_object('customer_id', x.customer_id, 'recency_days', x.recency_days,
							  'frequency', x.frequency, 'monetary', x.monetary,
							  'currency', (SELECT o.currency FROM protector.organizations o WHERE o.id = c.organization_id),
							  'r', x.r, 'f', x.f, 'm', x.m,
							  'fm', CASE WHEN x.f IS NOT NULL THEN (x.f + x.m) / 2.0 END,
							  'segment', x.segment)
	INTO v
	FROM protector.get_customer_rfm_scores(c.organization_id) x
	WHERE x.customer_id = c.id;
	RETURN v;
END
$$;
COMMENT ON FUNCTION protector.get_customer_rfm_score(uuid) IS
'Recency, frequency, monetary, their 1-5 scores within the organization, and the RFM segment of a customer';

-- Aggregates only (analytics.aggregate: viewers too); in C, which asks
-- the capability map before it reads.
CREATE FUNCTION protector.get_customer_segments(p_organization_id uuid)
RETURNS TABLE (segment text, customers bigint, revenue numeric,
			   avg_recency_score numeric, avg_frequency_score numeric, avg_monetary_score numeric)
AS 'MODULE_PATHNAME', 'protector_rfm_segments'
LANGUAGE C STABLE;
COMMENT ON FUNCTION protector.get_customer_segments(uuid) IS
'Every RFM segment of the organization with customers, revenue and average scores (aggregates only)';

CREATE FUNCTION protector.calculate_customer_ltv(p_customer_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	x jsonb := protector.get_customer_rfm_score(p_customer_id);
	c protector.customers;
	v_first timestamptz;
	v_last timestamptz;
	v_org_lifespan numeric;
	v_age_years numeric;
	v_lifespan_years numeric;
	v_aov numeric;
	v_per_year numeric;
	v_remaining numeric;
BEGIN
	SELECT * INTO c FROM protector.customers WHERE id = p_customer_id;
	-- first and last qualifying booking per customer, once: this
	-- customer's span, and how long customers who came back stay
	WITH spans AS (
		SELECT b.customer_id, min(lower(b.during)) AS f, max(lower(b.during)) AS l, count(*) AS n
		FROM protector.bookings b
		WHERE b.organization_id = c.organization_id AND b.customer_id IS NOT NULL
		  AND b.status IN ('confirmed', 'in_progress', 'completed') AND lower(b.during) <= now()
		GROUP BY b.customer_id)
	SELECT (SELECT f FROM spans WHERE customer_id = c.id), (SELECT l FROM spans WHERE customer_id = c.id),
		   (SELECT avg(extract(epoch FROM l - f) / 86400 / 365.25) FROM spans WHERE n >= 2)
	INTO v_first, v_last, v_org_lifespan;
	v_org_lifespan := COALESCE(NULLIF(v_org_lifespan, 0), 1);

	IF (x ->> 'frequency')::bigint = 0 THEN
		v_aov := 0; v_per_year := 0; v_remaining := v_org_lifespan; v_lifespan_years := 0;
	ELSE
		v_aov := (x ->> 'monetary')::numeric / (x ->> 'frequency')::bigint;
		v_age_years := extract(epoch FROM now() - v_first) / 86400 / 365.25;
		v_per_year := (x ->> 'frequency')::bigint / GREATEST(v_age_years, 1);
		v_lifespan_years := extract(epoch FROM v_last - v_first) / 86400 / 365.25;
		v_remaining := GREATEST(v_org_lifespan - v_lifespan_years, 0);
	END IF;
	RETURN jsonb_build_object(
		'customer_id', c.id,
		'currency', (SELECT o.currency FROM protector.organizations o WHERE o.id = c.organization_id),
		'historic_value', (x ->> 'monetary')::numeric,
		'bookings', (x ->> 'frequency')::bigint,
		'average_order_value', round(v_aov, 2),
		'bookings_per_year', round(v_per_year, 4),
		'customer_lifespan_years', round(v_lifespan_years, 4),
		'expected_lifespan_years', round(v_org_lifespan, 4),
		'expected_remaining_years', round(v_remaining, 4),
		'predicted_12_month_value', round(v_aov * v_per_year * LEAST(v_remaining, 1), 2));
END
$$;
COMMENT ON FUNCTION protector.calculate_customer_ltv(uuid) IS
'Historic value and predicted 12-month value (average order x bookings per year x min(1, expected remaining years))';
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/70_reservations.sql: the reservation engine (C) and availability.

CREATE FUNCTION protector.service_lock_key(p_service_id uuid)
RETURNS integer
AS 'MODULE_PATHNAME', 'protector_service_lock_key_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector.service_lock_key(uuid) IS
'Second key of the advisory lock serializing reservations of a service: pg_advisory_xact_lock(1886547713, service_lock_key(id))';

CREATE FUNCTION protector.lock_services(p_service_ids uuid[])
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_services'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector.lock_services(uuid[]) IS
'Takes the reservation locks of at most 100 services the caller may update bookings of, in sorted order (no deadlocks), each wait bounded by protector.lock_timeout';

CREATE FUNCTION protector.reservation_check()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_reservation_check'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector.reservation_check() IS
'Constraint trigger: refuses a booking that would exceed its service''s capacity (23P01), or 40001 when the conflict was committed concurrently';

CREATE CONSTRAINT TRIGGER reservation_check
	AFTER INSERT OR UPDATE OF service_id, during, party_size, status, hold_expires_at
	ON protector.bookings
	NOT DEFERRABLE
	FOR EACH ROW EXECUTE FUNCTION protector.reservation_check();

CREATE FUNCTION protector.service_mode_check()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_service_mode_check'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protector.service_mode_check() IS
'Constraint trigger: refuses to make a service exclusive while two of its bookings that end after now overlap (23P01)';

CREATE CONSTRAINT TRIGGER service_mode_check
	AFTER UPDATE OF mode
	ON protector.services
	NOT DEFERRABLE
	FOR EACH ROW EXECUTE FUNCTION protector.service_mode_check();

CREATE FUNCTION protector.get_available_slots(
	p_service_id uuid,
	p_from date,
	p_to date DEFAULT NULL,
	p_include_full boolean DEFAULT false)
RETURNS TABLE (slot_start timestamptz, slot_end timestamptz, remaining_capacity integer)
AS 'MODULE_PATHNAME', 'protector_get_available_slots'
LANGUAGE C STABLE PARALLEL SAFE ROWS 48;
COMMENT ON FUNCTION protector.get_available_slots(uuid, date, date, boolean) IS
'Free slots of a service whose local start date (venue time zone) lies in [p_from, p_to], with the places left in each';

CREATE FUNCTION protector.validate_slot(p_service_id uuid, p_start timestamptz, p_party_size integer)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'protector_validate_slot'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.validate_slot(uuid, timestamptz, integer) IS
'The booking range for a start if it is a bookable slot for that party size; otherwise a 22023/22008 error saying why';

-- The booking life cycle (docs/bookings.md).
CREATE FUNCTION protector.booking_transition_allowed(p_from protector.booking_status,
													 p_to protector.booking_status)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p_from OPERATOR(pg_catalog.=) p_to OR (p_from, p_to) IN (
		('held', 'pending'), ('held', 'confirmed'), ('held', 'cancelled'),
		('pending', 'confirmed'), ('pending', 'cancelled'),
		('confirmed', 'in_progress'), ('confirmed', 'completed'),
		('confirmed', 'cancelled'), ('confirmed', 'no_show'),
		('in_progress', 'completed'), ('in_progress', 'cancelled'))
$$;
COMMENT ON FUNCTION protector.booking_transition_allowed(protector.booking_status, protector.booking_status) IS
'The booking state machine: may a booking go from p_from to p_to?';

CREATE FUNCTION protector_internal.enforce_status_transition()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT protector.booking_transition_allowed(OLD.status, NEW.status)
	   AND NOT protector_internal.caller_is_trusted() THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a %s booking cannot become %s', OLD.status, NEW.status),
			pg_catalog.format('Booking %s is %s.', OLD.id, OLD.status),
			'See the booking life cycle in docs/bookings.md.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.enforce_status_transition() IS
'Trigger: booking status changes follow the state machine (trusted callers may correct anything)';

CREATE TRIGGER enforce_status_transition BEFORE UPDATE OF status ON protector.bookings
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
	EXECUTE FUNCTION protector_internal.enforce_status_transition();
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/75_bookings_api.sql: booking RPCs (PostgREST-callable).
--
-- Every booking RPC runs with the caller's rights: RLS decides which
-- services and bookings exist for the caller, the capability map what
-- their role may do, and the triggers below what a customer may write to
-- their own bookings.  create_booking is the one way bookings are made:
-- by staff, by customers for themselves, as holds (hold_slot) and by the
-- widget.  A booking or service the caller may not see is "not found",
-- worded as for one that does not exist.  Capacity is never checked here:
-- the C trigger reservation_check does it for every path into the table.

-- The price of a booking before discounts (docs/bookings.md).
CREATE FUNCTION protector.booking_total(p_price numeric, p_price_per_person numeric, p_party_size integer)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p_price OPERATOR(pg_catalog.+) (p_price_per_person OPERATOR(pg_catalog.*) p_party_size)
$$;
COMMENT ON FUNCTION protector.booking_total(numeric, numeric, integer) IS
'The price of a booking: price + price_per_person x party_size';

-- Customers write their own bookings under RLS (bookings_insert and
-- bookings_update); this holds them to what the RPCs offer: a bookable
-- slot at the service's price, held (at most a day) or pending,
-- unassigned, source api; afterwards only confirming their own hold or
-- cancelling (which columns they may change: restrict_update_columns).
-- Staff, trusted roles and protector's own functions are not customers
-- here.
CREATE FUNCTION protector_internal.guard_customer_booking()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
BEGIN
	IF protector.current_user_id() IS NULL
	   OR NOT NEW.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids())
	   OR protector_internal.caller_is_trusted()
	   OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('organizations.read')) THEN
		RETURN NEW;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
		SELECT * INTO STRICT s FROM protector.services x WHERE x.id OPERATOR(pg_catalog.=) NEW.service_id;
		NEW.during := protector.validate_slot(NEW.service_id, pg_catalog.lower(NEW.during), NEW.party_size);
		NEW.currency := s.currency;
		NEW.unit_price := s.price;
		NEW.total_price := protector.booking_total(s.price, s.price_per_person, NEW.party_size);
		NEW.amount_paid := 0;
		NEW.source := 'api';
		IF NEW.status OPERATOR(pg_catalog.<>) 'held' THEN
			NEW.hold_expires_at := NULL;
		ELSIF NEW.hold_expires_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.+) interval '1 day') THEN
			PERFORM protector.raise('invalid_parameter', 'a hold lasts at most a day',
				pg_catalog.format('hold_expires_at is %s.', NEW.hold_expires_at));
		END IF;
		IF pg_catalog.pg_column_size(NEW.details) OPERATOR(pg_catalog.>) 65536 THEN
			PERFORM protector.raise('invalid_parameter', 'details is too large',
				pg_catalog.format('It takes %s bytes; at most 65536 are accepted.', pg_catalog.pg_column_size(NEW.details)));
		END IF;
		RETURN NEW;
	END IF;
	IF NOT (NEW.status OPERATOR(pg_catalog.=) OLD.status
			   OR (OLD.status OPERATOR(pg_catalog.=) 'held' AND NEW.status OPERATOR(pg_catalog.=) 'confirmed')
			   OR NEW.status OPERATOR(pg_catalog.=) 'cancelled')
	   OR (NEW.hold_expires_at IS DISTINCT FROM OLD.hold_expires_at
		   AND NOT (NEW.hold_expires_at IS NULL AND NEW.status OPERATOR(pg_catalog.<>) 'held')) THEN
		PERFORM protector.raise('forbidden', 'customers may only confirm their own holds or cancel their bookings',
			pg_catalog.format('Booking %s: %s to %s.', OLD.id, OLD.status, NEW.status));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_customer_booking() IS
'Trigger: what a customer writes to their own bookings is what the booking RPCs allow them';

CREATE TRIGGER guard_customer_booking BEFORE INSERT OR UPDATE ON protector.bookings
	FOR EACH ROW WHEN (NEW.customer_id IS NOT NULL AND protector.current_user_id() IS NOT NULL)
	EXECUTE FUNCTION protector_internal.guard_customer_booking();

-- A booking moved to another service, or with another party size, is
-- priced again from the service unless the same update sets its prices
-- (runs after restrict_update_columns, so operators may reschedule
-- without the right to set prices).
CREATE FUNCTION protector_internal.set_booking_price()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
BEGIN
	IF NEW.unit_price IS DISTINCT FROM OLD.unit_price OR NEW.total_price IS DISTINCT FROM OLD.total_price THEN
		RETURN NEW;
	END IF;
	SELECT * INTO STRICT s FROM protector.services x WHERE x.id OPERATOR(pg_catalog.=) NEW.service_id;
	NEW.unit_price := s.price;
	NEW.currency := s.currency;
	NEW.total_price := protector.booking_total(s.price, s.price_per_person, NEW.party_size);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.set_booking_price() IS
'Trigger: a booking moved to another service or party size is priced again (unless the update sets its prices)';

CREATE TRIGGER set_booking_price BEFORE UPDATE OF service_id, party_size ON protector.bookings
	FOR EACH ROW WHEN (NEW.service_id IS DISTINCT FROM OLD.service_id OR NEW.party_size IS DISTINCT FROM OLD.party_size)
	EXECUTE FUNCTION protector_internal.set_booking_price();

-- A cancellation records its refund: what was paid (succeeded payments
-- less refunds) times the service's refund_policy percent for the time
-- left, as a pending refund row, and notes it in details.refund.  Off
-- for a transaction with protector.refund_on_cancel = off.
CREATE FUNCTION protector_internal.refund_on_cancel()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_policy jsonb;
	v_full_hours numeric;
	v_percent numeric := 0;
	v_paid numeric;
	v_refund numeric := 0;
BEGIN
	IF pg_catalog.current_setting('protector.refund_on_cancel') OPERATOR(pg_catalog.=) 'off' THEN
		RETURN NEW;
	END IF;
	SELECT s.settings -> 'refund_policy' INTO v_policy FROM protector.services s
	WHERE s.id OPERATOR(pg_catalog.=) NEW.service_id;
	v_full_hours := COALESCE((v_policy ->> 'full_refund_hours')::numeric, 24);
	IF pg_catalog.now() OPERATOR(pg_catalog.<=) (pg_catalog.lower(NEW.during)
			OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => v_full_hours OPERATOR(pg_catalog.*) 3600)) THEN
		v_percent := 100;
	ELSIF pg_catalog.now() OPERATOR(pg_catalog.<) pg_catalog.lower(NEW.during) THEN
		v_percent := LEAST(GREATEST(COALESCE((v_policy ->> 'late_refund_percent')::numeric, 0), 0), 100);
	END IF;
	SELECT COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount
										ELSE OPERATOR(pg_catalog.-) p.amount END), 0)
	INTO v_paid
	FROM protector.payments p
	WHERE p.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND p.booking_id OPERATOR(pg_catalog.=) NEW.id
	  AND ((p.kind OPERATOR(pg_catalog.=) 'payment' AND p.status OPERATOR(pg_catalog.=) 'succeeded')
		   OR (p.kind OPERATOR(pg_catalog.=) 'refund' AND p.status OPERATOR(pg_catalog.=) ANY ('{pending,succeeded}'::protector.payment_status[])));
	v_refund := pg_catalog.round(GREATEST(v_paid, 0) OPERATOR(pg_catalog.*) v_percent OPERATOR(pg_catalog./) 100, 2);
	IF v_refund > 0 THEN
		INSERT INTO protector.payments (organization_id, booking_id, kind, amount, currency, status, details)
		VALUES (NEW.organization_id, NEW.id, 'refund', v_refund, NEW.currency, 'pending',
				pg_catalog.jsonb_build_object('reason', 'cancellation', 'refund_percent', v_percent));
	END IF;
	NEW.details := NEW.details OPERATOR(pg_catalog.||)
		pg_catalog.jsonb_build_object('refund', pg_catalog.jsonb_build_object('amount', v_refund, 'percent', v_percent));
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.refund_on_cancel() IS
'Trigger: a cancelled booking gets a pending refund of what was paid, by its service''s refund policy (protector.refund_on_cancel)';

-- (named to run after restrict_update_columns: BEFORE triggers fire in
-- name order, and the note in details is the database's, not the caller's)
CREATE TRIGGER settle_cancellation BEFORE UPDATE OF status ON protector.bookings
	FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status <> 'cancelled')
	EXECUTE FUNCTION protector_internal.refund_on_cancel();

CREATE FUNCTION protector.create_booking(
	p_service_id uuid,
	p_customer_id uuid,
	p_start timestamptz,
	p_party_size integer DEFAULT 1,
	p_idempotency_key text DEFAULT NULL,
	p_details jsonb DEFAULT '{}',
	p_source protector.booking_source DEFAULT 'api',
	p_assigned_agent uuid DEFAULT NULL,
	p_hold_minutes integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_service protector.services;
	v_customer uuid := p_customer_id;
	v_status protector.booking_status := 'confirmed';
	v_hold timestamptz;
	v_key text := p_idempotency_key;
	v_range tstzrange;
	v_booking protector.bookings;
BEGIN
	IF p_service_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_service_id must not be null');
	END IF;
	SELECT * INTO v_service FROM protector.services s WHERE s.id OPERATOR(pg_catalog.=) p_service_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found', 'It does not exist, or you may not see it.');
	END IF;
	IF p_hold_minutes IS NOT NULL THEN
		IF p_hold_minutes NOT BETWEEN 1 AND 1440 THEN
			PERFORM protector.raise('invalid_parameter', 'p_hold_minutes must be between 1 and 1440',
				pg_catalog.format('Got %s.', p_hold_minutes));
		END IF;
		v_status := 'held';
		v_hold := pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(mins => p_hold_minutes);
	END IF;

	IF NOT (protector_internal.caller_is_trusted()
			OR v_service.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.create'))) THEN
		-- a customer books for themselves: their record in this organization
		SELECT c.id INTO v_customer FROM protector.customers c
		WHERE c.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
		  AND c.id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids())
		ORDER BY c.id LIMIT 1;
		IF NOT FOUND THEN
			PERFORM protector_internal.authorize(v_service.organization_id, 'bookings.create', 'service');
		END IF;
		IF p_customer_id IS NOT NULL AND p_customer_id OPERATOR(pg_catalog.<>) v_customer THEN
			PERFORM protector.raise('not_found', 'customer not found',
				'p_customer_id is not a customer of the service''s organization.');
		END IF;
		IF p_assigned_agent IS NOT NULL THEN
			PERFORM protector.raise('forbidden', 'customers may not assign agents');
		END IF;
		-- staff confirm what customers book; their keys are their own
		IF v_status OPERATOR(pg_catalog.=) 'confirmed' THEN
			v_status := 'pending';
		END IF;
		v_key := 'customer/' OPERATOR(pg_catalog.||) protector.current_user_id()::text
				 OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_idempotency_key;
	ELSIF v_customer IS NOT NULL AND NOT EXISTS (
			SELECT FROM protector.customers c
			WHERE c.id OPERATOR(pg_catalog.=) v_customer
			  AND c.organization_id OPERATOR(pg_catalog.=) v_service.organization_id) THEN
		PERFORM protector.raise('not_found', 'customer not found',
			'p_customer_id is not a customer of the service''s organization.');
	END IF;
	IF p_party_size IS NULL OR p_party_size < 1 THEN
		PERFORM protector.raise('invalid_parameter', 'p_party_size must be a positive number',
			pg_catalog.format('Got %s.', COALESCE(p_party_size::text, 'NULL')));
	END IF;
	IF p_idempotency_key IS NOT NULL AND pg_catalog.length(p_idempotency_key) NOT BETWEEN 1 AND 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_idempotency_key must be 1 to 200 characters');
	END IF;
	IF p_details IS NULL OR pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_details must be a JSON object');
	END IF;
	IF pg_catalog.pg_column_size(p_details) > 65536 THEN
		PERFORM protector.raise('invalid_parameter', 'p_details is too large',
			pg_catalog.format('It takes %s bytes; at most 65536 are accepted.', pg_catalog.pg_column_size(p_details)));
	END IF;

	-- a retried request answers with the booking it made the first time
	IF v_key IS NOT NULL THEN
		SELECT * INTO v_booking FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
		  AND b.idempotency_key OPERATOR(pg_catalog.=) v_key;
		IF FOUND THEN
			RETURN pg_catalog.to_jsonb(v_booking) OPERATOR(pg_catalog.||) '{"replayed": true}'::jsonb;
		END IF;
	END IF;
	v_range := protector.validate_slot(v_service.id, p_start, p_party_size);
	BEGIN
		INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during,
			party_size, status, source, hold_expires_at, idempotency_key, currency, unit_price,
			total_price, assigned_agent, details)
		VALUES (v_service.organization_id, v_service.venue_id, v_service.id, v_customer, v_range,
			p_party_size, v_status, COALESCE(p_source, 'api'), v_hold, v_key, v_service.currency, v_service.price,
			protector.booking_total(v_service.price, v_service.price_per_person, p_party_size),
			p_assigned_agent, p_details)
		RETURNING * INTO v_booking;
	EXCEPTION WHEN unique_violation THEN
		-- the same request raced us and committed first: answer with its booking
		SELECT * INTO v_booking FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) v_service.organization_id
		  AND b.idempotency_key OPERATOR(pg_catalog.=) v_key;
		IF v_key IS NULL OR NOT FOUND THEN
			IF v_key IS NULL THEN
				RAISE;
			END IF;
			PERFORM protector.raise('retry', 'a request with the same idempotency key was committed concurrently',
				'This transaction''s snapshot cannot see it yet.', 'Retry the request.');
		END IF;
		RETURN pg_catalog.to_jsonb(v_booking) OPERATOR(pg_catalog.||) '{"replayed": true}'::jsonb;
	END;
	RETURN pg_catalog.to_jsonb(v_booking) OPERATOR(pg_catalog.||) '{"replayed": false}'::jsonb;
END
$$;
COMMENT ON FUNCTION protector.create_booking(uuid, uuid, timestamptz, integer, text, jsonb,
											 protector.booking_source, uuid, integer) IS
'Books a slot (with p_hold_minutes: holds it): validates, prices from the service, returns the booking; the same idempotency key returns the first booking';

CREATE FUNCTION protector.hold_slot(
	p_service_id uuid,
	p_customer_id uuid,
	p_start timestamptz,
	p_party_size integer DEFAULT 1,
	p_hold_minutes integer DEFAULT 10,
	p_idempotency_key text DEFAULT NULL,
	p_details jsonb DEFAULT '{}',
	p_source protector.booking_source DEFAULT 'api')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_hold_minutes IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_hold_minutes must be between 1 and 1440', 'Got NULL.');
	END IF;
	RETURN protector.create_booking(p_service_id, p_customer_id, p_start, p_party_size, p_idempotency_key,
									p_details, p_source, NULL, p_hold_minutes);
END
$$;
COMMENT ON FUNCTION protector.hold_slot(uuid, uuid, timestamptz, integer, integer, text, jsonb,
										protector.booking_source) IS
'Holds a slot (status held) for p_hold_minutes; it occupies capacity until confirmed or expired';

CREATE FUNCTION protector.confirm_booking(p_booking_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_staff boolean;
BEGIN
	PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'bookings.confirm', 'booking', true, true);
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	IF v_booking.status OPERATOR(pg_catalog.=) 'confirmed' THEN
		RETURN pg_catalog.to_jsonb(v_booking);
	END IF;
	v_staff := protector_internal.caller_is_trusted()
			   OR v_booking.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.confirm'));
	IF v_booking.status OPERATOR(pg_catalog.<>) 'held'
	   AND NOT (v_booking.status OPERATOR(pg_catalog.=) 'pending' AND v_staff) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a %s booking cannot be confirmed%s', v_booking.status,
				CASE WHEN v_booking.status OPERATOR(pg_catalog.=) 'pending' THEN ' by its customer' ELSE '' END),
			NULL, 'Only held bookings (and, by staff, pending ones) can be confirmed.');
	END IF;
	-- an expired hold is re-checked by the reservation trigger: it is
	-- confirmed only if its slot is still free
	UPDATE protector.bookings b SET status = 'confirmed', hold_expires_at = NULL
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;
	RETURN pg_catalog.to_jsonb(v_booking);
END
$$;
COMMENT ON FUNCTION protector.confirm_booking(uuid) IS
'Turns a held booking (or, for staff, a pending one) into a confirmed booking';

CREATE FUNCTION protector.reschedule_booking(p_booking_id uuid, p_new_start timestamptz,
											 p_new_service_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_service protector.services;
	v_range tstzrange;
BEGIN
	PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'bookings.reschedule', 'booking', true);
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	IF v_booking.status OPERATOR(pg_catalog.<>) ALL ('{held,pending,confirmed}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a %s booking cannot be rescheduled', v_booking.status));
	END IF;
	SELECT * INTO v_service FROM protector.services s
	WHERE s.id OPERATOR(pg_catalog.=) COALESCE(p_new_service_id, v_booking.service_id)
	  AND s.organization_id OPERATOR(pg_catalog.=) v_booking.organization_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found',
			'p_new_service_id is not a service of the booking''s organization.');
	END IF;
	v_range := protector.validate_slot(v_service.id, p_new_start, v_booking.party_size);
	-- both services' locks, in sorted order: no deadlock with a reschedule the other way
	PERFORM protector.lock_services(ARRAY[v_booking.service_id, v_service.id]);
	-- one statement: if the new slot is taken it fails and the booking
	-- keeps its slot; another service prices it again (set_booking_price)
	UPDATE protector.bookings b
	SET during = v_range, service_id = v_service.id, venue_id = v_service.venue_id
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;
	RETURN pg_catalog.to_jsonb(v_booking);
END
$$;
COMMENT ON FUNCTION protector.reschedule_booking(uuid, timestamptz, uuid) IS
'Moves a booking to a new start (optionally another service) atomically: if the new slot is taken the booking keeps its old one';

CREATE FUNCTION protector.cancel_booking(p_booking_id uuid, p_reason text DEFAULT NULL,
										 p_issue_refund boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_booking protector.bookings;
	v_refunds text := pg_catalog.current_setting('protector.refund_on_cancel');
BEGIN
	PERFORM protector_internal.authorize_row('protector.bookings', p_booking_id, 'bookings.cancel', 'booking', true, true);
	SELECT * INTO v_booking FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) p_booking_id;
	IF pg_catalog.length(p_reason) > 2000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_reason must be at most 2000 characters');
	END IF;
	IF v_booking.status OPERATOR(pg_catalog.=) 'cancelled' THEN
		-- a retried cancellation: no second refund
		RETURN pg_catalog.to_jsonb(v_booking) OPERATOR(pg_catalog.||)
			'{"already_cancelled": true, "refund_amount": 0, "refund_percent": 0}'::jsonb;
	END IF;
	IF v_booking.status OPERATOR(pg_catalog.=) ANY ('{completed,no_show}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('a %s booking cannot be cancelled', v_booking.status));
	END IF;
	-- the refund is the trigger refund_on_cancel's, by the service's policy
	PERFORM pg_catalog.set_config('protector.refund_on_cancel',
								  CASE WHEN p_issue_refund IS NOT FALSE THEN 'on' ELSE 'off' END, true);
	UPDATE protector.bookings b
	SET status = 'cancelled', cancelled_at = pg_catalog.now(), cancellation_reason = p_reason
	WHERE b.id OPERATOR(pg_catalog.=) p_booking_id
	RETURNING * INTO v_booking;
	PERFORM pg_catalog.set_config('protector.refund_on_cancel', v_refunds, true);
	RETURN pg_catalog.to_jsonb(v_booking) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
		'already_cancelled', false,
		'refund_amount', COALESCE(v_booking.details #> '{refund,amount}', '0'),
		'refund_percent', COALESCE(v_booking.details #> '{refund,percent}', '0'));
END
$$;
COMMENT ON FUNCTION protector.cancel_booking(uuid, text, boolean) IS
'Cancels a booking, frees its slot and records a refund by the service''s refund policy; a repeated cancel refunds nothing more';

CREATE FUNCTION protector.update_booking_status_batch(p_booking_ids uuid[], p_status protector.booking_status)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[];
	v_missing uuid[];
	v_bad text;
	v_locked integer;
	v_updated integer;
	v_services uuid[];
BEGIN
	IF p_booking_ids IS NULL OR p_status IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids and p_status must not be null');
	END IF;
	IF pg_catalog.array_position(p_booking_ids, NULL) IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must not contain NULL');
	END IF;
	v_ids := ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(p_booking_ids) x ORDER BY x);
	IF pg_catalog.cardinality(v_ids) NOT BETWEEN 1 AND 1000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_booking_ids must hold 1 to 1000 ids',
			pg_catalog.format('Got %s.', pg_catalog.cardinality(v_ids)));
	END IF;

	-- every booking must be visible to the caller (RLS decides)
	v_missing := ARRAY(SELECT x FROM pg_catalog.unnest(v_ids) x
					   WHERE NOT EXISTS (SELECT FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) x));
	IF pg_catalog.cardinality(v_missing) > 0 THEN
		PERFORM protector.raise('not_found', 'some bookings were not found',
			pg_catalog.format('Not found or not visible: %s.', pg_catalog.array_to_string(v_missing, ', ')));
	END IF;
	-- and updatable by the caller: lock them, in id order
	SELECT pg_catalog.count(*) INTO v_locked FROM (
		SELECT FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) ANY (v_ids)
		ORDER BY b.id FOR UPDATE) locked;
	IF v_locked OPERATOR(pg_catalog.<>) pg_catalog.cardinality(v_ids) THEN
		PERFORM protector.raise('forbidden', 'you may not change the status of some of these bookings');
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.format('%s (%s)', b.id, b.status), ', ' ORDER BY b.id) INTO v_bad
	FROM protector.bookings b
	WHERE b.id OPERATOR(pg_catalog.=) ANY (v_ids)
	  AND NOT protector.booking_transition_allowed(b.status, p_status);
	IF v_bad IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('these bookings cannot become %s', p_status),
			pg_catalog.format('Not allowed from their status: %s.', v_bad),
			'See the booking life cycle in docs/bookings.md. Nothing was changed.');
	END IF;

	-- statuses that occupy may need capacity: take the services' locks in order
	IF p_status OPERATOR(pg_catalog.<>) ALL ('{cancelled,no_show}'::protector.booking_status[]) THEN
		v_services := ARRAY(SELECT DISTINCT b.service_id FROM protector.bookings b
							WHERE b.id OPERATOR(pg_catalog.=) ANY (v_ids));
		PERFORM protector.lock_services(v_services);
	END IF;

	UPDATE protector.bookings b
	SET status = p_status,
		cancelled_at = CASE WHEN p_status OPERATOR(pg_catalog.=) 'cancelled' THEN pg_catalog.now() ELSE b.cancelled_at END
	WHERE b.id OPERATOR(pg_catalog.=) ANY (v_ids) AND b.status OPERATOR(pg_catalog.<>) p_status;
	GET DIAGNOSTICS v_updated = ROW_COUNT;

	RETURN pg_catalog.jsonb_build_object('updated', v_updated,
		'unchanged', pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.-) v_updated,
		'status', p_status);
END
$$;
COMMENT ON FUNCTION protector.update_booking_status_batch(uuid[], protector.booking_status) IS
'Moves several bookings to a status along the state machine, all or nothing, as the caller (RLS applies)';
-- Audit trail: the generic C trigger, the functions that attach it to any
-- table, and the reader for owners and admins.  See docs/audit.md.

CREATE FUNCTION protector.audit_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_audit_trigger'
LANGUAGE C;
COMMENT ON FUNCTION protector.audit_trigger() IS
'Trigger: appends every row change (and TRUNCATE) to protector.audit_log; arguments name masked columns';

-- The trigger keeps audit_log open for the rest of the transaction; DDL
-- (DROP EXTENSION, ALTER TABLE ...) first lets go of it.
CREATE FUNCTION protector.audit_release_writer()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'protector_audit_release_writer'
LANGUAGE C;
COMMENT ON FUNCTION protector.audit_release_writer() IS
'Event trigger: closes the audit trigger''s open audit_log before any DDL of the session';
CREATE EVENT TRIGGER protector_audit_release_writer ON ddl_command_start
	EXECUTE FUNCTION protector.audit_release_writer();

-- Attaches the audit trigger; calling it again replaces the masked
-- columns (or does nothing when they are the same).  Runs with the
-- caller's rights: only the table's owner (or a superuser) can audit it.
CREATE FUNCTION protector.enable_audit(p_table regclass, p_masked_columns text[] DEFAULT '{}')
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_rel record;
	v_masked text[];
	v_missing text;
	v_current text[];
	v_args text;
BEGIN
	IF p_table IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_table must not be null');
	END IF;
	SELECT c.oid, c.relname, c.relkind, n.nspname, format('%I.%I', n.nspname, c.relname) AS qualified
	INTO v_rel
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid = p_table;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', format('table with OID %s does not exist', p_table::oid));
	END IF;
	IF v_rel.nspname IN ('pg_catalog', 'information_schema') OR v_rel.nspname LIKE 'pg\_toast%'
	   OR v_rel.oid < 16384 THEN
		PERFORM protector.raise('invalid_parameter',
			format('%s is a system catalog and cannot be audited', v_rel.qualified));
	END IF;
	IF v_rel.relkind NOT IN ('r', 'p') THEN
		PERFORM protector.raise('invalid_parameter',
			format('%s is not a table', v_rel.qualified),
			format('Its relkind is %L; only ordinary and partitioned tables can be audited.', v_rel.relkind),
			'Audit the tables a view reads from.');
	END IF;
	IF v_rel.oid = 'protector.audit_log'::regclass THEN
		PERFORM protector.raise('invalid_parameter', 'protector.audit_log cannot audit itself');
	END IF;
	IF NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = v_rel.oid AND i.indisprimary) THEN
		PERFORM protector.raise('invalid_parameter',
			format('table %s has no primary key', v_rel.qualified),
			'Every audit row names the changed record by its primary key.',
			format('ALTER TABLE %s ADD PRIMARY KEY (...), then enable the audit.', v_rel.qualified));
	END IF;
	IF p_masked_columns IS NULL OR array_position(p_masked_columns, NULL) IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_masked_columns must be an array of column names without nulls');
	END IF;
	SELECT array_agg(DISTINCT m ORDER BY m) INTO v_masked FROM unnest(p_masked_columns) m;
	v_masked := COALESCE(v_masked, '{}');
	SELECT string_agg(format('%I', m), ', ') INTO v_missing
	FROM unnest(v_masked) m
	WHERE NOT EXISTS (SELECT FROM pg_attribute a
					  WHERE a.attrelid = v_rel.oid AND a.attname = m AND a.attnum > 0 AND NOT a.attisdropped);
	IF v_missing IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter',
			format('table %s has no column %s to mask', v_rel.qualified, v_missing));
	END IF;

	-- already audited with these masks: nothing to do
	SELECT COALESCE(array_agg(a ORDER BY a), '{}') INTO v_current
	FROM pg_trigger t, unnest(string_to_array(rtrim(encode(t.tgargs, 'escape'), '\000'), '\000')) a
	WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit' AND t.tgnargs > 0;
	IF EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit')
	   AND EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit_truncate')
	   AND v_current = v_masked THEN
		RETURN false;
	END IF;

	SELECT COALESCE(string_agg(quote_literal(m), ', '), '') INTO v_args FROM unnest(v_masked) m;
	IF EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit') THEN
		EXECUTE format('DROP TRIGGER protector_audit ON %s', v_rel.qualified);
	END IF;
	IF EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = v_rel.oid AND t.tgname = 'protector_audit_truncate') THEN
		EXECUTE format('DROP TRIGGER protector_audit_truncate ON %s', v_rel.qualified);
	END IF;
	EXECUTE format('CREATE TRIGGER protector_audit AFTER INSERT OR UPDATE OR DELETE ON %s'
				   ' FOR EACH ROW EXECUTE FUNCTION protector.audit_trigger(%s)', v_rel.qualified, v_args);
	EXECUTE format('CREATE TRIGGER protector_audit_truncate AFTER TRUNCATE ON %s'
				   ' FOR EACH STATEMENT EXECUTE FUNCTION protector.audit_trigger()', v_rel.qualified);
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector.enable_audit(regclass, text[]) IS
'Audits every change of a table into protector.audit_log, masking the named columns; true if it changed anything';

CREATE FUNCTION protector.disable_audit(p_table regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_qualified text;
BEGIN
	IF p_table IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_table must not be null');
	END IF;
	SELECT format('%I.%I', n.nspname, c.relname) INTO v_qualified
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid = p_table;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', format('table with OID %s does not exist', p_table::oid));
	END IF;
	IF NOT EXISTS (SELECT FROM pg_trigger t
				   WHERE t.tgrelid = p_table AND t.tgname IN ('protector_audit', 'protector_audit_truncate')) THEN
		RAISE NOTICE 'table % is not audited; nothing to do', v_qualified;
		RETURN false;
	END IF;
	IF EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = p_table AND t.tgname = 'protector_audit') THEN
		EXECUTE format('DROP TRIGGER protector_audit ON %s', v_qualified);
	END IF;
	IF EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = p_table AND t.tgname = 'protector_audit_truncate') THEN
		EXECUTE format('DROP TRIGGER protector_audit_truncate ON %s', v_qualified);
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector.disable_audit(regclass) IS
'Stops auditing a table (its history stays); false with a notice if it was not audited';

-- The audit history of the caller's organizations, newest first.  Runs
-- with the caller's rights: RLS shows owners and admins their
-- organizations' rows; service_role and superusers see everything.
CREATE FUNCTION protector.get_audit_logs(
	p_table regclass DEFAULT NULL,
	p_from timestamptz DEFAULT NULL,
	p_to timestamptz DEFAULT NULL,
	p_limit integer DEFAULT 100,
	p_organization_id uuid DEFAULT NULL)
RETURNS SETOF protector.audit_log
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_table text;
	v_org uuid := p_organization_id;
	v_orgs uuid[];
BEGIN
	IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 10000 THEN
		PERFORM protector.raise('invalid_parameter', 'p_limit must be between 1 and 10000',
								format('p_limit was %s.', COALESCE(p_limit::text, 'null')));
	END IF;
	IF p_from IS NOT NULL AND p_to IS NOT NULL AND p_from >= p_to THEN
		PERFORM protector.raise('invalid_parameter', 'p_from must be before p_to');
	END IF;
	IF p_from IN ('-infinity', 'infinity') OR p_to IN ('-infinity', 'infinity') THEN
		PERFORM protector.raise('invalid_parameter', 'p_from and p_to must be finite (or null for no bound)');
	END IF;
	IF NOT protector_internal.caller_is_trusted() THEN
		v_orgs := protector_internal.orgs_with('audit.read');
		IF cardinality(v_orgs) = 0 THEN
			PERFORM protector.raise('forbidden', 'only owners and admins can read the audit log');
		END IF;
		-- one organization (the usual case): an equality lets the index on
		-- (organization_id, occurred_at) deliver the newest rows first
		IF v_org IS NULL AND cardinality(v_orgs) = 1 THEN
			v_org := v_orgs[1];
		END IF;
	END IF;
	IF p_table IS NOT NULL THEN
		SELECT format('%I.%I', n.nspname, c.relname) INTO v_table
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = p_table;
		IF NOT FOUND THEN
			PERFORM protector.raise('not_found', format('table with OID %s does not exist', p_table::oid));
		END IF;
	END IF;
	-- only the conditions in use, so each call is planned for its filters
	-- (fixed fragments; every value is a parameter)
	RETURN QUERY EXECUTE
		'SELECT l.* FROM protector.audit_log l WHERE true'
		|| CASE WHEN v_table IS NOT NULL THEN ' AND l.table_name = $1' ELSE '' END
		|| CASE WHEN p_from IS NOT NULL THEN ' AND l.occurred_at >= $2' ELSE '' END
		|| CASE WHEN p_to IS NOT NULL THEN ' AND l.occurred_at < $3' ELSE '' END
		|| CASE WHEN v_org IS NOT NULL THEN ' AND l.organization_id = $4' ELSE '' END
		|| ' ORDER BY l.occurred_at DESC, l.id DESC LIMIT $5'
		USING v_table, p_from, p_to, v_org, p_limit;
END
$$;
COMMENT ON FUNCTION protector.get_audit_logs(regclass, timestamptz, timestamptz, integer, uuid) IS
'Audit history visible to the caller (owners and admins: their organizations), newest first';

-- audited by default
SELECT protector.enable_audit(t)
FROM unnest('{protector.organizations, protector.venues, protector.services, protector.members,
			  protector.customers, protector.bookings, protector.payments}'::regclass[]) t;
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/82_workflow.sql: the work a booking creates for the operations team.
--
-- A new booking (pending or confirmed, or a hold once confirmed) gets a
-- review task, due an hour before it starts (never after the start, never
-- in the past), assigned to the booking's agent; the desk gets a
-- notification.  A reschedule moves the open review task and notifies the
-- desk; a cancellation closes the booking's open tasks and notifies the
-- desk; a new agent takes over the booking's open tasks that were the old
-- agent's.  All in the booking's transaction.  Holds (a widget checkout in
-- progress) create nothing until confirmed.

CREATE FUNCTION protector_internal.booking_workflow()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_kind text;
	v_service text;
	v_timezone text;
	v_title text;
	v_due timestamptz;
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
	   AND NEW.assigned_agent IS DISTINCT FROM OLD.assigned_agent THEN
		UPDATE protector.tasks t
		SET assignee = NEW.assigned_agent
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
		  AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND t.status OPERATOR(pg_catalog.<>) 'done'
		  AND t.assignee IS NOT DISTINCT FROM OLD.assigned_agent;
	END IF;

	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
		IF NEW.status OPERATOR(pg_catalog.=) 'held' AND NEW.source OPERATOR(pg_catalog.=) 'widget' THEN
			-- a widget booking the desk confirms before its hold expires
			v_kind := 'booking.awaiting_confirmation';
		ELSIF NEW.status NOT IN ('pending', 'confirmed') THEN
			RETURN NULL;
		ELSE
			v_kind := 'booking.created';
		END IF;
	ELSIF OLD.status OPERATOR(pg_catalog.=) 'held' AND NEW.status IN ('pending', 'confirmed') THEN
		v_kind := 'booking.created';
	ELSIF NEW.status OPERATOR(pg_catalog.=) 'cancelled' AND OLD.status OPERATOR(pg_catalog.<>) 'cancelled' THEN
		UPDATE protector.tasks t
		SET status = 'done', completed_at = pg_catalog.now()
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
		  AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND t.status OPERATOR(pg_catalog.<>) 'done';
		IF OLD.status OPERATOR(pg_catalog.=) 'held' THEN
			RETURN NULL;		-- a dropped checkout is nobody's news
		END IF;
		v_kind := 'booking.cancelled';
	ELSIF NEW.during IS DISTINCT FROM OLD.during AND NEW.status IN ('pending', 'confirmed') THEN
		v_kind := 'booking.rescheduled';
	ELSE
		RETURN NULL;
	END IF;

	SELECT s.name, v.timezone INTO v_service, v_timezone
	FROM protector.services s
	JOIN protector.venues v ON v.id OPERATOR(pg_catalog.=) s.venue_id
	WHERE s.id OPERATOR(pg_catalog.=) NEW.service_id;
	v_title := pg_catalog.format('Review booking: %s, %s (%s)', v_service,
		pg_catalog.to_char(pg_catalog.lower(NEW.during) AT TIME ZONE v_timezone, 'YYYY-MM-DD HH24:MI'),
		v_timezone);
	v_due := LEAST(pg_catalog.lower(NEW.during),
				   GREATEST(pg_catalog.now(), pg_catalog.lower(NEW.during) OPERATOR(pg_catalog.-) interval '1 hour'));

	IF v_kind OPERATOR(pg_catalog.=) 'booking.created' THEN
		INSERT INTO protector.tasks (organization_id, booking_id, kind, title, assignee, due_at)
		VALUES (NEW.organization_id, NEW.id, 'booking_review', v_title, NEW.assigned_agent, v_due);
	ELSIF v_kind OPERATOR(pg_catalog.=) 'booking.rescheduled' THEN
		UPDATE protector.tasks t
		SET title = v_title, due_at = v_due
		WHERE t.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
		  AND t.booking_id OPERATOR(pg_catalog.=) NEW.id
		  AND t.kind OPERATOR(pg_catalog.=) 'booking_review'
		  AND t.status OPERATOR(pg_catalog.<>) 'done';
	END IF;

	-- for the desk; no customer data beyond what staff see on the booking
	INSERT INTO protector.notifications (organization_id, booking_id, kind, payload)
	VALUES (NEW.organization_id, NEW.id, v_kind,
			pg_catalog.jsonb_build_object('service', v_service, 'start', pg_catalog.lower(NEW.during),
										  'timezone', v_timezone, 'status', NEW.status,
										  'party_size', NEW.party_size, 'confirm_by', NEW.hold_expires_at));
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.booking_workflow() IS
'Trigger: review tasks and desk notifications for new, rescheduled and cancelled bookings';

CREATE TRIGGER booking_workflow
	AFTER INSERT OR UPDATE OF status, during, assigned_agent ON protector.bookings
	FOR EACH ROW EXECUTE FUNCTION protector_internal.booking_workflow();
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/85_realtime.sql: dashboards learn of every booking, task and
-- notification change the moment it commits.  See docs/realtime.md.
--
--   1. pg_notify on channel protector_<organization uuid without dashes>,
--      ids and status only (src/realtime.c), for any LISTEN client;
--   2. Supabase Realtime "Postgres Changes": the tables join the
--      supabase_realtime publication (protector.enable_realtime());
--   3. Supabase Realtime "Broadcast": booking changes on the private topic
--      protector:<organization uuid>, readable by that organization's
--      members only (RLS on realtime.messages).

CREATE FUNCTION protector.notify_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_notify_trigger'
LANGUAGE C;
COMMENT ON FUNCTION protector.notify_trigger() IS
'Trigger (per statement, with a transition table): pg_notify per changed row, or one summary over protector.notify_batch_limit';

DO $notify$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['bookings', 'tasks', 'notifications'] LOOP
		EXECUTE format('CREATE TRIGGER notify_insert AFTER INSERT ON protector.%I'
					   ' REFERENCING NEW TABLE AS changed FOR EACH STATEMENT'
					   ' EXECUTE FUNCTION protector.notify_trigger()', t);
		EXECUTE format('CREATE TRIGGER notify_update AFTER UPDATE ON protector.%I'
					   ' REFERENCING NEW TABLE AS changed FOR EACH STATEMENT'
					   ' EXECUTE FUNCTION protector.notify_trigger()', t);
		EXECUTE format('CREATE TRIGGER notify_delete AFTER DELETE ON protector.%I'
					   ' REFERENCING OLD TABLE AS changed FOR EACH STATEMENT'
					   ' EXECUTE FUNCTION protector.notify_trigger()', t);
	END LOOP;
END
$notify$;

-- Supabase Realtime Broadcast: the booking row, old and new, on the
-- organization's private topic.  Called only where realtime.broadcast_changes
-- exists (protector.enable_realtime() attaches it).
CREATE FUNCTION protector_internal.broadcast_booking_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM realtime.broadcast_changes(
		'protector:' OPERATOR(pg_catalog.||) COALESCE(NEW.organization_id, OLD.organization_id)::text,
		TG_OP, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, OLD);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.broadcast_booking_change() IS
'Trigger: booking changes to Supabase Realtime Broadcast, topic protector:<organization id> (private)';

-- Idempotent: run after creating the supabase_realtime publication or
-- installing Supabase Realtime; reports what it found and did.
CREATE FUNCTION protector.enable_realtime()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_added text[] := '{}';
	v_publication boolean;
	v_broadcast boolean;
	v_policy text := 'none';
	t text;
BEGIN
	v_publication := EXISTS (SELECT FROM pg_publication WHERE pubname = 'supabase_realtime');
	IF v_publication THEN
		FOREACH t IN ARRAY ARRAY['bookings', 'tasks', 'notifications'] LOOP
			-- old records and RLS on updates need every column in the WAL
			EXECUTE format('ALTER TABLE protector.%I REPLICA IDENTITY FULL', t);
			IF NOT EXISTS (SELECT FROM pg_publication_tables
						   WHERE pubname = 'supabase_realtime' AND schemaname = 'protector' AND tablename = t) THEN
				EXECUTE format('ALTER PUBLICATION supabase_realtime ADD TABLE protector.%I', t);
				v_added := v_added || ('protector.' || t);
			END IF;
		END LOOP;
	END IF;

	v_broadcast := EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
						   WHERE n.nspname = 'realtime' AND p.proname = 'broadcast_changes')
				   AND to_regclass('realtime.messages') IS NOT NULL;
	IF v_broadcast THEN
		IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'protector.bookings'::regclass
					   AND tgname = 'broadcast_booking_change') THEN
			CREATE TRIGGER broadcast_booking_change
				AFTER INSERT OR UPDATE OR DELETE ON protector.bookings
				FOR EACH ROW EXECUTE FUNCTION protector_internal.broadcast_booking_change();
		END IF;
		-- members receive their organizations' topics; nobody else does
		IF EXISTS (SELECT FROM pg_policy WHERE polrelid = 'realtime.messages'::regclass
				   AND polname = 'protector_members_receive_organization_topic') THEN
			v_policy := 'present';
		ELSE
			BEGIN
				EXECUTE $p$
					CREATE POLICY protector_members_receive_organization_topic
					ON realtime.messages FOR SELECT TO authenticated
					USING (realtime.messages.extension = 'broadcast'
						   AND (SELECT realtime.topic()) = ANY (
								SELECT 'protector:' || o::text
								FROM unnest(protector_internal.orgs_with('bookings.read')) o))
				$p$;
				v_policy := 'created';
			EXCEPTION WHEN insufficient_privilege THEN
				v_policy := 'not permitted';
				RAISE WARNING 'could not create the policy on realtime.messages: %', SQLERRM
					USING HINT = 'Run protector.enable_realtime() as the owner of realtime.messages (or a superuser), or private topics stay closed to everyone.';
			END;
		END IF;
	END IF;

	RETURN jsonb_build_object('publication', v_publication, 'tables_added', to_jsonb(v_added),
							  'broadcast', v_broadcast, 'broadcast_policy', v_policy);
END
$$;
COMMENT ON FUNCTION protector.enable_realtime() IS
'Adds bookings, tasks and notifications to Supabase Realtime (publication, broadcast trigger, topic policy) where present';

-- Undoes enable_realtime() outside protector's own tables: the policy on
-- realtime.messages depends on protector, so run this before DROP EXTENSION
-- (or use DROP EXTENSION ... CASCADE).
CREATE FUNCTION protector.disable_realtime()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_removed text[] := '{}';
	v_policy boolean := false;
	v_trigger boolean := false;
	t text;
BEGIN
	IF EXISTS (SELECT FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
		FOREACH t IN ARRAY ARRAY['bookings', 'tasks', 'notifications'] LOOP
			IF EXISTS (SELECT FROM pg_publication_tables
					   WHERE pubname = 'supabase_realtime' AND schemaname = 'protector' AND tablename = t) THEN
				EXECUTE format('ALTER PUBLICATION supabase_realtime DROP TABLE protector.%I', t);
				v_removed := v_removed || ('protector.' || t);
			END IF;
			EXECUTE format('ALTER TABLE protector.%I REPLICA IDENTITY DEFAULT', t);
		END LOOP;
	END IF;
	IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'protector.bookings'::regclass
			   AND tgname = 'broadcast_booking_change') THEN
		DROP TRIGGER broadcast_booking_change ON protector.bookings;
		v_trigger := true;
	END IF;
	IF to_regclass('realtime.messages') IS NOT NULL
	   AND EXISTS (SELECT FROM pg_policy WHERE polrelid = 'realtime.messages'::regclass
				   AND polname = 'protector_members_receive_organization_topic') THEN
		DROP POLICY protector_members_receive_organization_topic ON realtime.messages;
		v_policy := true;
	END IF;
	RETURN jsonb_build_object('tables_removed', to_jsonb(v_removed), 'broadcast_trigger_dropped', v_trigger,
							  'broadcast_policy_dropped', v_policy);
END
$$;
COMMENT ON FUNCTION protector.disable_realtime() IS
'Takes protector out of Supabase Realtime (publication, broadcast trigger, topic policy); run before DROP EXTENSION';

SELECT protector.enable_realtime();
\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/90_grants.sql: privileges, granted explicitly per role.
--
-- anon: no table; only the four widget functions.  authenticated: table
-- privileges that RLS then narrows; INSERT and UPDATE only of columns a
-- client may write: the stamps (created_at, created_by, updated_at) are
-- the database's, and columns owned by an RPC (embed_key, merged_into,
-- identity_key, a booking's source after the fact) are not granted.
-- service_role: everything.  audit_log is written only by the audit
-- trigger.  protector_internal: the authorization helpers that policies
-- and RPCs running as the caller ask, nothing else.

REVOKE ALL ON ALL TABLES IN SCHEMA protector FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA protector FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA protector_internal FROM PUBLIC;
REVOKE ALL ON SCHEMA protector_internal FROM PUBLIC;
GRANT USAGE ON SCHEMA protector_internal TO authenticated, service_role;

DO $grants$
DECLARE
	t regclass;
	cols text;
	stamps CONSTANT text[] := '{created_at,created_by,updated_at}';
BEGIN
	FOR t IN
		SELECT c.oid::regclass FROM pg_catalog.pg_class c
		WHERE c.relnamespace = 'protector'::regnamespace AND c.relkind = 'r'
		  AND c.relname <> 'audit_log'
		ORDER BY c.relname
	LOOP
		EXECUTE format('GRANT SELECT, DELETE ON %s TO authenticated', t);
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
		FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped
		  AND a.attname <> ALL (stamps)
		  AND (t, a.attname) NOT IN (('protector.customers'::regclass, 'identity_key'),
									 ('protector.customers'::regclass, 'merged_into'));
		EXECUTE format('GRANT INSERT (%s) ON %s TO authenticated', cols, t);
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
		FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped
		  AND a.attname NOT IN ('id', 'organization_id') AND a.attname <> ALL (stamps)
		  AND (t, a.attname) NOT IN (('protector.customers'::regclass, 'identity_key'),
									 ('protector.members'::regclass, 'user_id'),
									 ('protector.bookings'::regclass, 'source'));
		EXECUTE format('GRANT UPDATE (%s) ON %s TO authenticated', cols, t);
	END LOOP;
END
$grants$;

-- organizations: any signed-in user may found one (policy
-- organizations_insert), through create_organization() or directly
GRANT SELECT ON protector.audit_log TO authenticated;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA protector TO service_role;
REVOKE INSERT, UPDATE, DELETE ON protector.audit_log FROM service_role;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA protector TO service_role;

-- functions the policies, constraints and defaults call as the requester
GRANT EXECUTE ON FUNCTION
	protector.current_user_id(),
	protector.capability_map(),
	protector.timezone_is_valid(text),
	protector.check_timezone(text, text),
	protector.raise(text, text, text, text),
	protector.error_sqlstate(text)
TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION
	protector_internal.orgs_with(text),
	protector_internal.authorize(uuid, text, text),
	protector_internal.authorize_row(regclass, uuid, text, text, boolean, boolean),
	protector_internal.current_customer_ids(),
	protector_internal.customer_organizations(),
	protector_internal.caller_is_trusted()
TO authenticated, service_role;
-- merge_customers finds what refers to a customer here (catalog facts)
GRANT SELECT ON protector_internal.customer_references TO authenticated, service_role;

-- RPC
GRANT EXECUTE ON FUNCTION
	protector.create_organization(text, text, text, text, text)
TO authenticated, service_role;

-- reservations
GRANT EXECUTE ON FUNCTION
	protector.service_lock_key(uuid),
	protector.lock_services(uuid[]),
	protector.get_available_slots(uuid, date, date, boolean),
	protector.validate_slot(uuid, timestamptz, integer),
	protector.booking_transition_allowed(protector.booking_status, protector.booking_status),
	protector.booking_total(numeric, numeric, integer),
	protector.create_booking(uuid, uuid, timestamptz, integer, text, jsonb, protector.booking_source, uuid, integer),
	protector.hold_slot(uuid, uuid, timestamptz, integer, integer, text, jsonb, protector.booking_source),
	protector.confirm_booking(uuid),
	protector.reschedule_booking(uuid, timestamptz, uuid),
	protector.cancel_booking(uuid, text, boolean),
	protector.update_booking_status_batch(uuid[], protector.booking_status)
TO authenticated, service_role;

-- audit: owners and admins read through RLS; attaching and detaching the
-- trigger is for the tables' owners only (no grant)
GRANT EXECUTE ON FUNCTION
	protector.get_audit_logs(regclass, timestamptz, timestamptz, integer, uuid)
TO authenticated, service_role;

-- embed keys: anyone may generate or check a key's format (no data
-- involved); rotating is for owners and admins
GRANT EXECUTE ON FUNCTION
	protector.generate_embed_key(text),
	protector.embed_key_is_well_formed(text),
	protector.rotate_embed_key(uuid)
TO authenticated, service_role;

-- the public widget: the only functions anon may execute, and the only
-- SECURITY DEFINER functions in the API.  A widget page calls them with
-- the anon key; signed-in customers book with create_booking.
GRANT USAGE ON SCHEMA protector TO anon;
GRANT EXECUTE ON FUNCTION
	protector.get_venue_by_embed_key(text),
	protector.get_venue_services(text),
	protector.get_widget_slots(text, uuid, date, date),
	protector.create_widget_booking(text, uuid, text, text, text, timestamptz, integer, text, jsonb)
TO anon, service_role;

-- venues
GRANT EXECUTE ON FUNCTION
	protector.check_operating_hours(jsonb),
	protector.check_special_hours(jsonb),
	protector.is_venue_open(uuid, timestamptz),
	protector.get_venue_schedule(uuid, date, date),
	protector.create_venue(uuid, text, text, text, text, text, text, text, text, jsonb, jsonb, jsonb),
	protector.update_venue(uuid, jsonb),
	protector.update_venue_schedule(uuid, jsonb),
	protector.delete_venue(uuid),
	protector.duplicate_service(uuid, uuid),
	protector.get_venue_analytics(uuid, date, date)
TO authenticated, service_role;

-- customers
GRANT EXECUTE ON FUNCTION
	protector.normalize_email(text),
	protector.normalize_name(text),
	protector.normalize_phone(text, text),
	protector.find_duplicate_customers(uuid),
	protector.merge_customers(uuid, uuid)
TO authenticated, service_role;

-- customer intelligence: the C functions ask the capability map themselves
GRANT EXECUTE ON FUNCTION
	protector.rfm_segment(integer, integer, integer),
	protector.get_customer_rfm_scores(uuid),
	protector.get_customer_rfm_score(uuid),
	protector.get_customer_segments(uuid),
	protector.calculate_customer_ltv(uuid)
TO authenticated, service_role;
