\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/30_tables.sql: the data model.
--
-- Every business table carries organization_id (the tenant).  References
-- between tenant tables are composite foreign keys on
-- (organization_id, id), so a row can never point into another tenant.
-- Each foreign key has an index whose leading columns are its columns;
-- where a policy looks rows up by user or customer, that column leads.

CREATE TABLE protector.organizations (
	id			uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	name		text NOT NULL CHECK (length(btrim(name)) >= 1 AND length(name) <= 200),
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
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	user_id			uuid NOT NULL,
	role			protector.member_role NOT NULL DEFAULT 'viewer',
	full_name		text CHECK (length(full_name) <= 200),
	email			text CHECK (length(email) <= 320 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
	active			boolean NOT NULL DEFAULT true,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	confirmed_at	timestamptz,
	UNIQUE (organization_id, user_id),
	UNIQUE (organization_id, id)
);
CREATE INDEX members_user_id_idx ON protector.members (user_id);
COMMENT ON TABLE protector.members IS
'Staff of an organization: one row per (organization, auth user) with the user''s role there';
COMMENT ON COLUMN protector.members.confirmed_at IS
'When the member confirmed the membership (protector.confirm_membership); NULL while it is pending: a membership someone else made (an owner''s insert, an invitation) until its member confirms it';

CREATE TABLE protector.venues (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	name			text NOT NULL CHECK (length(btrim(name)) >= 1 AND length(name) <= 200),
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
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
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
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	venue_id		uuid NOT NULL,
	name			text NOT NULL CHECK (length(btrim(name)) >= 1 AND length(name) <= 200),
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
	price			numeric(12, 2) NOT NULL DEFAULT 0 CHECK (price >= 0 AND price <> 'NaN'),
	price_per_person numeric(12, 2) NOT NULL DEFAULT 0 CHECK (price_per_person >= 0 AND price_per_person <> 'NaN'),
	-- NULL on insert: the organization's (sql/77_payments.sql)
	currency		text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
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
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	user_id			uuid,
	full_name		text NOT NULL CHECK (length(btrim(full_name)) >= 1 AND length(full_name) <= 200),
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
	UNIQUE (organization_id, id)
	-- merged_into names a customer of the same organization: kept by the
	-- triggers of sql/68_customers_api.sql, not by a foreign key, whose
	-- self-reference pg_dump reports as circular on every data-only dump
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
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	venue_id		uuid NOT NULL,
	service_id		uuid NOT NULL,
	customer_id		uuid,
	-- not empty, [) bounds, both finite, at most 31 days (bookings_row_check)
	during			tstzrange NOT NULL,
	party_size		integer NOT NULL DEFAULT 1,
	status			protector.booking_status NOT NULL DEFAULT 'pending',
	source			protector.booking_source NOT NULL DEFAULT 'dashboard',
	hold_expires_at timestamptz,
	idempotency_key text,
	-- NULL on insert: the service's
	currency		text NOT NULL,
	unit_price		numeric(12, 2) NOT NULL DEFAULT 0,
	total_price		numeric(12, 2) NOT NULL DEFAULT 0,
	-- the payments ledger's: succeeded payments less succeeded refunds
	amount_paid		numeric(12, 2) NOT NULL DEFAULT 0,
	assigned_agent	uuid,
	details			jsonb NOT NULL DEFAULT '{}',
	cancellation_reason text,
	cancelled_at	timestamptz,
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	-- total_price - amount_paid, kept by the zz_balance_due trigger and held
	-- by bookings_balance_due_check (src/balance_due.c: a stored generated
	-- column's expression is parsed again for every INSERT and UPDATE)
	balance_due		numeric(12, 2) NOT NULL DEFAULT 0,
	-- the service's deposit, set on insert; payment_due_by: until when it
	-- may stay unpaid (NULL once paid, or when none is due)
	deposit_amount	numeric(12, 2) NOT NULL DEFAULT 0,
	payment_due_by	timestamptz,
	-- a promo code's discount, already taken off total_price
	-- (sql/78_vouchers.sql)
	discount_amount numeric(12, 2) NOT NULL DEFAULT 0,
	promo_code_id	uuid,
	-- One CHECK for every rule of the row, in C (src/constraints.c): a
	-- violation is reported under the rule's own name, as when each was a
	-- CHECK of its own (PostgreSQL parsed and planned thirteen of them for
	-- every INSERT):
	--   bookings_amount_paid_check, _deposit_amount_, _discount_amount_,
	--     _total_price_, _unit_price_check: >= 0
	--   bookings_cancellation_reason_check: length <= 2000
	--   bookings_check: status <> 'held' OR hold_expires_at IS NOT NULL
	--   bookings_currency_check: currency ~ '^[A-Z]{3}$'
	--   bookings_details_check: jsonb_typeof(details) = 'object'
	--   bookings_during_check: not empty, [) bounds, both finite
	--   bookings_idempotency_key_check: length BETWEEN 1 AND 200
	--   bookings_length_check: upper - lower <= 31 days (which lets a
	--     per-service start-time index answer range queries)
	--   bookings_party_size_check: BETWEEN 1 AND 100000
	CONSTRAINT bookings_row_check CHECK (protector_internal.bookings_row_check(
		amount_paid, cancellation_reason, status, hold_expires_at, currency, deposit_amount, details,
		discount_amount, during, idempotency_key, party_size, total_price, unit_price)),
	CONSTRAINT bookings_balance_due_check CHECK (balance_due = total_price - amount_paid),
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
-- (partial: most bookings have no agent, and a NULL is never looked up
-- through the foreign key, which matches on equality; an insert without an
-- agent writes one index entry fewer.  With the customer and the id: an
-- agent's policies read the customers and ids of every booking assigned to
-- them, once per statement, from the index alone, 8,000 of them in 1 ms
-- instead of 11 from the table)
CREATE INDEX bookings_agent_idx ON protector.bookings (assigned_agent, organization_id)
	INCLUDE (customer_id, id) WHERE assigned_agent IS NOT NULL;
-- (on booking_start(during), lower(during) as PostgreSQL may compare it
-- before the policies: a caller's time range is an index range too)
CREATE INDEX bookings_starts_idx ON protector.bookings (organization_id, protector_internal.booking_start(during));
-- the reservation check finds the bookings overlapping a time through the
-- start index below, back to two hours before it, and those that start
-- earlier, longer than two hours therefore, through this GiST index: the
-- bookings of two hours or less, most of them, make no GiST entry
-- (src/reserve.c, occupancy_taken)
CREATE INDEX bookings_long_during_idx ON protector.bookings USING gist (service_id, during)
	WHERE protector_internal.booking_is_long(during);
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
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	booking_id		uuid NOT NULL,
	kind			protector.payment_kind NOT NULL DEFAULT 'payment',
	amount			numeric(12, 2) NOT NULL CHECK (amount >= 0 AND amount <> 'NaN'),
	-- NULL on insert: the booking's
	currency		text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	status			protector.payment_status NOT NULL DEFAULT 'pending',
	provider		text CHECK (length(provider) <= 100),
	provider_reference text CHECK (length(provider_reference) <= 200),
	details			jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	-- paid from (or back to) this gift voucher (sql/78_vouchers.sql)
	voucher_id		uuid,
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, booking_id)
		REFERENCES protector.bookings (organization_id, id)
);
CREATE INDEX payments_booking_idx ON protector.payments (organization_id, booking_id);
CREATE UNIQUE INDEX payments_provider_reference_idx ON protector.payments (organization_id, provider, provider_reference)
	WHERE provider_reference IS NOT NULL;
COMMENT ON TABLE protector.payments IS
'Money received for a booking (kind payment) or paid back (kind refund); amounts are never negative';

CREATE TABLE protector.tasks (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	booking_id		uuid,
	kind			text NOT NULL DEFAULT 'manual' CHECK (kind ~ '^[a-z][a-z0-9_]*$' AND length(kind) <= 64),
	title			text NOT NULL CHECK (length(btrim(title)) >= 1 AND length(title) <= 300),
	description		text CHECK (length(description) <= 10000),
	status			protector.task_status NOT NULL DEFAULT 'open',
	assignee		uuid,
	due_at			timestamptz,
	completed_at	timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (organization_id, booking_id)
		REFERENCES protector.bookings (organization_id, id) ON DELETE CASCADE,
	FOREIGN KEY (organization_id, assignee)
		REFERENCES protector.members (organization_id, user_id) ON DELETE SET NULL (assignee)
);
CREATE INDEX tasks_booking_idx ON protector.tasks (organization_id, booking_id);
-- every booking makes a task: no UNIQUE (organization_id, id) (nothing
-- references a task), and the assignee's index holds assigned tasks only
-- (the review task of a booking without an agent has none)
CREATE INDEX tasks_assignee_idx ON protector.tasks (assignee, organization_id)
	WHERE assignee IS NOT NULL;
CREATE INDEX tasks_status_idx ON protector.tasks (organization_id, status, due_at);
COMMENT ON TABLE protector.tasks IS
'Operations work items, e.g. the review task every new booking gets';

CREATE TABLE protector.notifications (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	recipient_id	uuid,
	booking_id		uuid,
	kind			text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]*$' AND length(kind) <= 64),
	payload			jsonb NOT NULL DEFAULT '{}'
					CHECK (jsonb_typeof(payload) = 'object' AND protector_internal.value_size(payload) <= 8192),
	read_at			timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (organization_id, recipient_id)
		REFERENCES protector.members (organization_id, user_id) ON DELETE CASCADE,
	FOREIGN KEY (organization_id, booking_id)
		REFERENCES protector.bookings (organization_id, id) ON DELETE CASCADE
);
-- a member's notifications, and the desk's (recipient_id NULL) newest
-- first: a list ordered by time reads from the index in order (NULL is no
-- equality to order by within one index, and the desk's list sorted every
-- notification of the organization); each row is in one of them
CREATE INDEX notifications_recipient_idx ON protector.notifications (organization_id, recipient_id, created_at)
	WHERE recipient_id IS NOT NULL;
CREATE INDEX notifications_desk_idx ON protector.notifications (organization_id, created_at)
	WHERE recipient_id IS NULL;
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

-- auth.users has its key (a unique index on id alone, as a foreign key
-- needs), and a key from members or customers to it is missing.  Names are looked up in the
-- catalogs: no right on schema auth is needed (auth_users_changed fires
-- for every role's DDL).
CREATE FUNCTION protector_internal.auth_keys_missing()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT FROM pg_catalog.pg_index i
				   JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indrelid
				   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
				   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
												  AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0]
				   WHERE n.nspname OPERATOR(pg_catalog.=) 'auth' AND c.relname OPERATOR(pg_catalog.=) 'users'
					 AND i.indisunique AND i.indisvalid AND i.indnkeyatts OPERATOR(pg_catalog.=) 1
					 AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname OPERATOR(pg_catalog.=) 'id')
	   AND (SELECT pg_catalog.count(DISTINCT c.conrelid) FROM pg_catalog.pg_constraint c
			JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) c.conrelid
			JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace
			JOIN pg_catalog.pg_class f ON f.oid OPERATOR(pg_catalog.=) c.confrelid
			JOIN pg_catalog.pg_namespace fn ON fn.oid OPERATOR(pg_catalog.=) f.relnamespace
			WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND n.nspname OPERATOR(pg_catalog.=) 'protector'
			  AND r.relname OPERATOR(pg_catalog.=) ANY ('{members,customers}')
			  AND fn.nspname OPERATOR(pg_catalog.=) 'auth' AND f.relname OPERATOR(pg_catalog.=) 'users')
		   OPERATOR(pg_catalog.<) 2
$$;
COMMENT ON FUNCTION protector_internal.auth_keys_missing() IS
'auth.users has its key, and a key of members or customers to it is missing';

-- Link users to Supabase Auth where it exists (Supabase, or a fixture of
-- it): members.user_id and customers.user_id reference auth.users (id).
-- Made when the extension is created after auth.users, or else as soon as
-- auth.users has its key (the event trigger protector_auth_users_changed,
-- sql/98_restore.sql): a restore creates the extension before auth.users,
-- whose primary key pg_dump adds after the data.  A key already there, by
-- any name, is kept.  With the caller's rights: only who owns protector's
-- tables (its owner, a superuser restoring) may point them at a table, or
-- whoever can create a schema auth could make every membership depend on
-- rows of theirs.  A key the data does not allow (rows naming users that
-- are not there) is a WARNING, never a failed restore or upgrade.
CREATE FUNCTION protector_internal.link_auth_users()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_users regclass := pg_catalog.to_regclass('auth.users');
	k record;
BEGIN
	IF NOT protector_internal.auth_users_with('id') OR NOT protector_internal.auth_keys_missing() THEN
		RETURN;
	END IF;
	-- each key on its own: rows one of them refuses do not cost the other
	FOR k IN
		SELECT v.tbl, v.name, v.on_delete
		FROM (VALUES ('protector.members'::pg_catalog.regclass, 'members_user_id_fkey', 'CASCADE'),
					 ('protector.customers'::pg_catalog.regclass, 'customers_user_id_fkey', 'SET NULL')) v(tbl, name, on_delete)
		WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_constraint c
						  WHERE c.conrelid OPERATOR(pg_catalog.=) v.tbl AND c.confrelid OPERATOR(pg_catalog.=) v_users
							AND c.contype OPERATOR(pg_catalog.=) 'f')
	LOOP
		BEGIN
			EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE %s',
									  k.tbl, k.name, k.on_delete);
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'protector: %.user_id is not linked to auth.users: %', k.tbl, SQLERRM
				USING HINT = 'Mend the rows named, then run SELECT protector_internal.link_auth_users() as the owner of protector''s tables.';
		END;
	END LOOP;
END
$$;
COMMENT ON FUNCTION protector_internal.link_auth_users() IS
'Adds the foreign keys of members.user_id and customers.user_id to auth.users (id) where auth.users and its key exist and they do not';
SELECT protector_internal.link_auth_users();

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
