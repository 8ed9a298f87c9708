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
