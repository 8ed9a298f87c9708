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
		  -- (an organization's id is the database's: a deleted tenant's id,
		  -- taken again, would be handed its audit history)
		  AND (t, a.attname) NOT IN (('protector.organizations'::regclass, 'id'),
									 ('protector.customers'::regclass, 'identity_key'),
									 ('protector.customers'::regclass, 'merged_into'),
									 ('protector.bookings'::regclass, 'amount_paid'),
									 ('protector.bookings'::regclass, 'balance_due'),
									 ('protector.bookings'::regclass, 'deposit_amount'),
									 ('protector.bookings'::regclass, 'payment_due_by'),
									 ('protector.bookings'::regclass, 'discount_amount'),
									 ('protector.bookings'::regclass, 'promo_code_id'),
									 ('protector.payments'::regclass, 'voucher_id'),
									 ('protector.vouchers'::regclass, 'code'),
									 ('protector.vouchers'::regclass, 'balance'),
									 ('protector.promo_codes'::regclass, 'code'),
									 ('protector.promo_codes'::regclass, 'times_used'),
									 ('protector.venues'::regclass, 'embed_key'),
									 -- (its member's to give: confirm_membership)
									 ('protector.members'::regclass, 'confirmed_at'),
									 ('protector.booking_reminders'::regclass, 'claimed_for'),
									 ('protector.booking_reminders'::regclass, 'earlier_claims'),
									 ('protector.booking_reminders'::regclass, 'sent_to'));
		EXECUTE format('GRANT INSERT (%s) ON %s TO authenticated', cols, t);
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
		FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped
		  AND a.attname NOT IN ('id', 'organization_id') AND a.attname <> ALL (stamps)
		  -- (an organization's id is the database's: a deleted tenant's id,
		  -- taken again, would be handed its audit history)
		  AND (t, a.attname) NOT IN (('protector.organizations'::regclass, 'id'),
									 ('protector.customers'::regclass, 'identity_key'),
									 ('protector.members'::regclass, 'user_id'),
									 ('protector.bookings'::regclass, 'source'),
									 ('protector.bookings'::regclass, 'amount_paid'),
									 ('protector.bookings'::regclass, 'balance_due'),
									 ('protector.bookings'::regclass, 'deposit_amount'),
									 ('protector.bookings'::regclass, 'payment_due_by'),
									 ('protector.bookings'::regclass, 'discount_amount'),
									 ('protector.bookings'::regclass, 'promo_code_id'),
									 ('protector.payments'::regclass, 'voucher_id'),
									 ('protector.vouchers'::regclass, 'code'),
									 ('protector.vouchers'::regclass, 'balance'),
									 ('protector.promo_codes'::regclass, 'code'),
									 ('protector.promo_codes'::regclass, 'times_used'),
									 ('protector.members'::regclass, 'confirmed_at'),
									 ('protector.booking_reminders'::regclass, 'claimed_for'),
									 ('protector.booking_reminders'::regclass, 'earlier_claims'),
									 ('protector.booking_reminders'::regclass, 'sent_to'));
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
	protector_internal.refunds_on_cancel(),
	protector_internal.orgs_with(text),
	protector_internal.authorize(uuid, text, text),
	protector_internal.authorize_row(regclass, uuid, text, text, boolean, boolean),
	protector_internal.current_customer_ids(),
	protector_internal.customer_organizations(),
	protector_internal.current_customer_booking_ids(),
	protector_internal.restoring(),
	protector_internal.restoring_into(regclass),
	protector_internal.applying_replicated_changes(),
	protector_internal.caller_is_trusted(),
	protector_internal.random_uuid(),
	protector_internal.booking_start(tstzrange),
	protector_internal.booking_is_long(tstzrange),
	protector_internal.local_time(text, timestamptz),
	protector_internal.check_slot(uuid, timestamptz, integer, text),
	protector_internal.check_country(text, text),
	protector_internal.booking_shape(protector.bookings, boolean),
	protector_internal.check_settings(text, jsonb, text),
	protector_internal.check_settings_size(jsonb, jsonb, text),
	protector_internal.check_staff_entry(text, jsonb, text),
	protector_internal.changed_settings(jsonb, jsonb),
	protector_internal.check_setting_keys(jsonb, text, text[]),
	protector_internal.check_setting_number(jsonb, text, numeric, numeric, boolean),
	protector_internal.text_is_clean(text),
	protector_internal.json_is_clean(jsonb),
	protector_internal.lines_are_clean(text),
	protector_internal.renders_visible(text),
	protector_internal.check_lines(text, text, integer, integer),
	protector_internal.setting_number(jsonb, numeric, numeric, numeric),
	protector_internal.deposit_hours(jsonb),
	protector_internal.names_text(text[]),
	protector_internal.clock_now(),
	protector_internal.iso_text(date),
	protector_internal.iso_text(timestamptz),
	protector_internal.iso_text(tstzrange),
	protector_internal.quoted_text(text, integer),
	protector_internal.tag_set(text[]),
	protector_internal.check_date_range(date, date, date, date),
	protector_internal.check_finite(timestamptz, text, text),
	protector_internal.check_finite(date, text, text),
	protector_internal.lock_organization_services(uuid, uuid[]),
	protector_internal.status_with_article(protector.booking_status),
	protector_internal.refuse_deleted_organization(uuid),
	protector_internal.refuse_deleted_booking(uuid, text),
	protector_internal.refuse_second_signature(text, text, text, text),
	protector_internal.phone_is_valid(text),
	protector.merge_patch(jsonb, jsonb),
	protector_internal.merge_patch_unchecked(jsonb, jsonb),
	protector_internal.mark_merged(uuid, uuid),
	protector_internal.lock_customer_bookings(uuid[]),
	protector_internal.relock_customer_bookings(uuid[]),
	protector_internal.check_mergeable(uuid, uuid),
	protector_internal.settle_payment(uuid, uuid, protector.payment_status, text, text, boolean),
	protector_internal.lock_agent(uuid, uuid),
	protector_internal.lock_key(integer, uuid),
	protector_internal.lock_booking_services(uuid[]),
	protector_internal.lock_give_backs(uuid[], boolean),
	protector_internal.lock_bookings(uuid[]),
	protector_internal.lock_seen(integer, uuid, boolean),
	protector_internal.lock_member_manager(uuid, boolean, boolean),
	protector_internal.refuse_unwritten_member(uuid, boolean),
	protector_internal.role_may(protector.member_role, text[])
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
	protector.round_money(numeric),
	protector.create_booking(uuid, uuid, timestamptz, integer, text, jsonb, protector.booking_source, uuid, integer, text, text),
	protector.hold_slot(uuid, uuid, timestamptz, integer, integer, text, jsonb, protector.booking_source, text, text),
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
	protector.create_widget_booking(text, uuid, text, text, text, timestamptz, integer, text, jsonb, text, text)
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
	protector.country_is_known(text),
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
