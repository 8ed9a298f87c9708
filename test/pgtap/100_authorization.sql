-- One authorization model (docs/security.md), tried as an attacker would:
--   1. every function anon and authenticated may execute, called with a
--      search_path whose schema shadows the functions, operators and
--      types protector's SQL uses: no shadow ever runs;
--   2. for every function that takes an id (and every internal helper
--      authenticated may call, swept), another tenant's id and a
--      random uuid get the same SQLSTATE, message, detail and hint;
--   3. the stamps (created_by, created_at, updated_at, merged_into, a
--      booking's source) are the database's, for every role;
--   4. lock_services is bounded and for the caller's own services;
--   5. protector_internal is not callable by anon, and by authenticated
--      only for the authorization helpers policies and RPCs ask;
--   6. no role list is written outside the capability map.
BEGIN;
SELECT plan(67);

-- fixtures: organization A (the victim) and B (the caller's) --------------
SELECT tests.create_supabase_user(u) FROM unnest(ARRAY['z_owner_a', 'z_owner_b', 'z_manager_b', 'z_operator_b',
	'z_agent_b', 'z_finance_b', 'z_viewer_b', 'z_admin_b', 'z_customer_b']) u;
INSERT INTO protector.organizations (id, name, slug) VALUES
	('0aa00000-0000-4000-8000-000000000000', 'A', 'authz-a'),
	('0ab00000-0000-4000-8000-000000000000', 'B', 'authz-b');
-- agents are assigned here without shifts (docs/staff.md)
UPDATE protector.organizations SET settings = settings || '{"staff": {"require_shifts": false}}';
INSERT INTO protector.members (organization_id, user_id, role) VALUES
	('0aa00000-0000-4000-8000-000000000000', tests.get_supabase_uid('z_owner_a'), 'owner');
INSERT INTO protector.members (organization_id, user_id, role)
SELECT '0ab00000-0000-4000-8000-000000000000', tests.get_supabase_uid('z_' || r || '_b'), r::protector.member_role
FROM unnest(ARRAY['owner', 'admin', 'manager', 'operator', 'agent', 'finance', 'viewer']) r;
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0aa00000-0000-4000-8000-0000000000a1', '0aa00000-0000-4000-8000-000000000000', 'VA', 'UTC'),
	('0ab00000-0000-4000-8000-0000000000a1', '0ab00000-0000-4000-8000-000000000000', 'VB', 'UTC'),
	('0ab00000-0000-4000-8000-0000000000a2', '0ab00000-0000-4000-8000-000000000000', 'VB2', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration, slot_interval, max_advance, capacity, max_party) VALUES
	('0aa00000-0000-4000-8000-0000000005a1', '0aa00000-0000-4000-8000-000000000000', '0aa00000-0000-4000-8000-0000000000a1',
	 'SA', '60 minutes', '60 minutes', '400 days', 4, 4),
	('0ab00000-0000-4000-8000-0000000005a1', '0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1',
	 'SB', '60 minutes', '60 minutes', '400 days', 4, 4),
	('0ab00000-0000-4000-8000-0000000005a2', '0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1',
	 'SB2', '60 minutes', '60 minutes', '400 days', 4, 4);
INSERT INTO protector.customers (id, organization_id, full_name, email, user_id) VALUES
	('0aa00000-0000-4000-8000-00000000c001', '0aa00000-0000-4000-8000-000000000000', 'Ann A', 'ann@a.test', NULL),
	('0aa00000-0000-4000-8000-00000000c002', '0aa00000-0000-4000-8000-000000000000', 'Ann A2', 'ann@a.test', NULL),
	('0ab00000-0000-4000-8000-00000000c001', '0ab00000-0000-4000-8000-000000000000', 'Bea B', 'bea@b.test', NULL),
	('0ab00000-0000-4000-8000-00000000c002', '0ab00000-0000-4000-8000-000000000000', 'Bea B2', 'bea@b.test', NULL),
	('0ab00000-0000-4000-8000-00000000c003', '0ab00000-0000-4000-8000-000000000000', 'Cid B', 'cid@b.test',
	 tests.get_supabase_uid('z_customer_b'));
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, hold_expires_at) VALUES
	('0aa00000-0000-4000-8000-00000000b001', '0aa00000-0000-4000-8000-000000000000', '0aa00000-0000-4000-8000-0000000000a1',
	 '0aa00000-0000-4000-8000-0000000005a1', '0aa00000-0000-4000-8000-00000000c001',
	 tstzrange(date_trunc('day', now()) + interval '5 days 10 hours', date_trunc('day', now()) + interval '5 days 11 hours'), 'held', now() + interval '1 hour'),
	('0ab00000-0000-4000-8000-00000000b001', '0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1',
	 '0ab00000-0000-4000-8000-0000000005a1', '0ab00000-0000-4000-8000-00000000c001',
	 tstzrange(date_trunc('day', now()) + interval '5 days 10 hours', date_trunc('day', now()) + interval '5 days 11 hours'), 'held', now() + interval '1 hour');
-- a booking of B that costs 50, a voucher and a promo code of B
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, total_price) VALUES
	('0ab00000-0000-4000-8000-00000000b002', '0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1',
	 '0ab00000-0000-4000-8000-0000000005a1', '0ab00000-0000-4000-8000-00000000c001',
	 tstzrange(date_trunc('day', now()) + interval '5 days 12 hours', date_trunc('day', now()) + interval '5 days 13 hours'), 'confirmed', 50);
INSERT INTO protector.vouchers (organization_id, code, amount)
VALUES ('0ab00000-0000-4000-8000-000000000000', 'gift_MgPzjlEdtFyt7lkG0lLvwMPx', 100);
INSERT INTO protector.promo_codes (organization_id, code, discount_kind, discount_value)
VALUES ('0ab00000-0000-4000-8000-000000000000', 'promo_FDNVwOXl8tIgp7J1PSn9HCCF', 'percent', 10);
-- 20 of B's booking paid by another voucher of B (refund_to_vouchers)
INSERT INTO protector.vouchers (id, organization_id, amount)
VALUES ('0ab00000-0000-4000-8000-0000000000d1', '0ab00000-0000-4000-8000-000000000000', 40);
INSERT INTO protector.payments (organization_id, booking_id, amount, status, provider, voucher_id) VALUES
	('0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-00000000b002', 20, 'succeeded', 'voucher',
	 '0ab00000-0000-4000-8000-0000000000d1');
-- a pending payment of each, for settle_payment
INSERT INTO protector.payments (id, organization_id, booking_id, amount, status) VALUES
	('0aa00000-0000-4000-8000-0000000000e1', '0aa00000-0000-4000-8000-000000000000', '0aa00000-0000-4000-8000-00000000b001', 10, 'pending'),
	('0ab00000-0000-4000-8000-0000000000e1', '0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-00000000b002', 10, 'pending');

-- a waiver of each; B's service SB2 asks for B's, with a booking to link
-- a signature of B made without one
INSERT INTO protector.waivers (id, organization_id, name) VALUES
	('0aa00000-0000-4000-8000-0000000000f1', '0aa00000-0000-4000-8000-000000000000', 'Waiver A'),
	('0ab00000-0000-4000-8000-0000000000f1', '0ab00000-0000-4000-8000-000000000000', 'Waiver B');
INSERT INTO protector.waiver_versions (id, organization_id, waiver_id, title, body) VALUES
	('0aa00000-0000-4000-8000-0000000000f2', '0aa00000-0000-4000-8000-000000000000', '0aa00000-0000-4000-8000-0000000000f1', 'A', 'Text A'),
	('0ab00000-0000-4000-8000-0000000000f2', '0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000f1', 'B', 'Text B');
INSERT INTO protector.waiver_submissions (id, organization_id, waiver_version_id, participant_name, participant_birth_date,
										  signer_name, signature) VALUES
	('0aa00000-0000-4000-8000-0000000000f3', '0aa00000-0000-4000-8000-000000000000', '0aa00000-0000-4000-8000-0000000000f2',
	 'Pat A', '1990-01-01', 'Pat A', 'Pat A'),
	('0ab00000-0000-4000-8000-0000000000f3', '0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000f2',
	 'Pat B', '1990-01-01', 'Pat B', 'Pat B');
UPDATE protector.services SET waiver_id = '0ab00000-0000-4000-8000-0000000000f1' WHERE id = '0ab00000-0000-4000-8000-0000000005a2';
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status) VALUES
	('0ab00000-0000-4000-8000-00000000b003', '0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1',
	 '0ab00000-0000-4000-8000-0000000005a2', '0ab00000-0000-4000-8000-00000000c001',
	 tstzrange(date_trunc('day', now()) + interval '5 days 14 hours', date_trunc('day', now()) + interval '5 days 15 hours'), 'confirmed');

-- ids: what the caller (owner of B) owns, the victim's, a random one
CREATE TEMP TABLE ids (kind text PRIMARY KEY, b uuid, a uuid);
INSERT INTO ids VALUES
	('organization', '0ab00000-0000-4000-8000-000000000000', '0aa00000-0000-4000-8000-000000000000'),
	('venue', '0ab00000-0000-4000-8000-0000000000a1', '0aa00000-0000-4000-8000-0000000000a1'),
	('venue2', '0ab00000-0000-4000-8000-0000000000a2', '0aa00000-0000-4000-8000-0000000000a1'),
	('service', '0ab00000-0000-4000-8000-0000000005a1', '0aa00000-0000-4000-8000-0000000005a1'),
	('service2', '0ab00000-0000-4000-8000-0000000005a2', '0aa00000-0000-4000-8000-0000000005a1'),
	('customer', '0ab00000-0000-4000-8000-00000000c001', '0aa00000-0000-4000-8000-00000000c001'),
	('customer2', '0ab00000-0000-4000-8000-00000000c002', '0aa00000-0000-4000-8000-00000000c002'),
	('booking', '0ab00000-0000-4000-8000-00000000b001', '0aa00000-0000-4000-8000-00000000b001'),
	('booking_due', '0ab00000-0000-4000-8000-00000000b002', '0aa00000-0000-4000-8000-00000000b001'),
	('payment', '0ab00000-0000-4000-8000-0000000000e1', '0aa00000-0000-4000-8000-0000000000e1'),
	('waiver', '0ab00000-0000-4000-8000-0000000000f1', '0aa00000-0000-4000-8000-0000000000f1'),
	('submission', '0ab00000-0000-4000-8000-0000000000f3', '0aa00000-0000-4000-8000-0000000000f3');
-- members: B's viewer (who works at B's venue), A's owner
INSERT INTO protector.staff_venues (organization_id, member_id, venue_id)
SELECT organization_id, id, '0ab00000-0000-4000-8000-0000000000a1' FROM protector.members
WHERE user_id = tests.get_supabase_uid('z_viewer_b');
INSERT INTO ids SELECT 'member', (SELECT id FROM protector.members WHERE user_id = tests.get_supabase_uid('z_viewer_b')),
	(SELECT id FROM protector.members WHERE user_id = tests.get_supabase_uid('z_owner_a'));
CREATE TEMP TABLE const AS
SELECT date_trunc('day', now()) + interval '6 days 12 hours' AS slot,
	   (SELECT embed_key FROM protector.venues WHERE id = '0ab00000-0000-4000-8000-0000000000a1') AS key;

-- Every call anon or authenticated may make.  %1$s is the id under test
-- (quoted), %2$s the free slot, %3$s the caller's venue's embed key.
-- Literals are untyped, so no type name resolves through the caller's
-- search_path here: only protector's own code is on trial.
CREATE TEMP TABLE calls (fn regprocedure, who text, kind text, param text, call text);
INSERT INTO calls VALUES
	('protector.create_booking(uuid,uuid,timestamptz,integer,text,jsonb,protector.booking_source,uuid,integer,text,text)', 'z_owner_b', 'service', 'p_service_id',
	 $$protector.create_booking(%1$s, '0ab00000-0000-4000-8000-00000000c001', %2$s)$$),
	('protector.create_booking(uuid,uuid,timestamptz,integer,text,jsonb,protector.booking_source,uuid,integer,text,text)', 'z_owner_b', 'customer', 'p_customer_id',
	 $$protector.create_booking('0ab00000-0000-4000-8000-0000000005a1', %1$s, %2$s)$$),
	('protector.hold_slot(uuid,uuid,timestamptz,integer,integer,text,jsonb,protector.booking_source,text,text)', 'z_owner_b', 'service', 'p_service_id',
	 $$protector.hold_slot(%1$s, '0ab00000-0000-4000-8000-00000000c001', %2$s)$$),
	('protector.hold_slot(uuid,uuid,timestamptz,integer,integer,text,jsonb,protector.booking_source,text,text)', 'z_owner_b', 'customer', 'p_customer_id',
	 $$protector.hold_slot('0ab00000-0000-4000-8000-0000000005a1', %1$s, %2$s)$$),
	('protector.confirm_booking(uuid)', 'z_owner_b', 'booking', 'p_booking_id', $$protector.confirm_booking(%1$s)$$),
	('protector.reschedule_booking(uuid,timestamptz,uuid)', 'z_owner_b', 'booking', 'p_booking_id',
	 $$protector.reschedule_booking(%1$s, %2$s)$$),
	('protector.reschedule_booking(uuid,timestamptz,uuid)', 'z_owner_b', 'service2', 'p_new_service_id',
	 $$protector.reschedule_booking('0ab00000-0000-4000-8000-00000000b001', %2$s, %1$s)$$),
	('protector.cancel_booking(uuid,text,boolean)', 'z_owner_b', 'booking', 'p_booking_id', $$protector.cancel_booking(%1$s, 'test')$$),
	('protector.update_booking_status_batch(uuid[],protector.booking_status)', 'z_owner_b', 'booking', 'p_booking_ids',
	 $$protector.update_booking_status_batch(ARRAY[%1$s]::pg_catalog.uuid[], 'cancelled')$$),
	('protector.get_available_slots(uuid,date,date,boolean)', 'z_owner_b', 'service', 'p_service_id',
	 $$protector.get_available_slots(%1$s, (%2$s)::pg_catalog.date)$$),
	('protector.validate_slot(uuid,timestamptz,integer)', 'z_owner_b', 'service', 'p_service_id', $$protector.validate_slot(%1$s, %2$s, 1)$$),
	('protector.lock_services(uuid[])', 'z_owner_b', 'service', 'p_service_ids', $$protector.lock_services(ARRAY[%1$s]::pg_catalog.uuid[])$$),
	('protector.service_lock_key(uuid)', 'z_owner_b', 'service', 'p_service_id', $$protector.service_lock_key(%1$s)$$),
	('protector.rotate_embed_key(uuid)', 'z_owner_b', 'venue', 'p_venue_id', $$protector.rotate_embed_key(%1$s)$$),
	('protector.is_venue_open(uuid,timestamptz)', 'z_owner_b', 'venue', 'p_venue_id', $$protector.is_venue_open(%1$s, %2$s)$$),
	('protector.get_venue_schedule(uuid,date,date)', 'z_owner_b', 'venue', 'p_venue_id',
	 $$protector.get_venue_schedule(%1$s, (%2$s)::pg_catalog.date)$$),
	('protector.create_venue(uuid,text,text,text,text,text,text,text,text,jsonb,jsonb,jsonb)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.create_venue(%1$s, 'New', 'UTC')$$),
	('protector.update_venue(uuid,jsonb)', 'z_owner_b', 'venue', 'p_venue_id', $$protector.update_venue(%1$s, '{"name": "Renamed"}')$$),
	('protector.update_venue_schedule(uuid,jsonb)', 'z_owner_b', 'venue', 'p_venue_id',
	 $$protector.update_venue_schedule(%1$s, '{"mon": [["09:00", "17:00"]]}')$$),
	('protector.delete_venue(uuid)', 'z_owner_b', 'venue', 'p_venue_id', $$protector.delete_venue(%1$s)$$),
	('protector.duplicate_service(uuid,uuid)', 'z_owner_b', 'service', 'p_service_id', $$protector.duplicate_service(%1$s)$$),
	('protector.duplicate_service(uuid,uuid)', 'z_owner_b', 'venue2', 'p_target_venue_id',
	 $$protector.duplicate_service('0ab00000-0000-4000-8000-0000000005a1', %1$s)$$),
	('protector.get_venue_analytics(uuid,date,date)', 'z_owner_b', 'venue', 'p_venue_id',
	 $$protector.get_venue_analytics(%1$s, (%2$s)::pg_catalog.date, (%2$s)::pg_catalog.date)$$),
	('protector.find_duplicate_customers(uuid)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.find_duplicate_customers(%1$s)$$),
	('protector.merge_customers(uuid,uuid)', 'z_owner_b', 'customer', 'p_keep_id',
	 $$protector.merge_customers(%1$s, '0ab00000-0000-4000-8000-00000000c002')$$),
	('protector.merge_customers(uuid,uuid)', 'z_owner_b', 'customer2', 'p_merge_id',
	 $$protector.merge_customers('0ab00000-0000-4000-8000-00000000c001', %1$s)$$),
	('protector.get_customer_rfm_score(uuid)', 'z_owner_b', 'customer', 'p_customer_id', $$protector.get_customer_rfm_score(%1$s)$$),
	('protector.calculate_customer_ltv(uuid)', 'z_owner_b', 'customer', 'p_customer_id', $$protector.calculate_customer_ltv(%1$s)$$),
	('protector.erase_customer(uuid)', 'z_owner_b', 'customer', 'p_customer_id', $$protector.erase_customer(%1$s)$$),
	('protector.record_payment(uuid,numeric,text,text,protector.payment_kind,protector.payment_status,text,jsonb)', 'z_owner_b',
	 'booking', 'p_booking_id', $$protector.record_payment(%1$s, 10, 'stripe', 'pi_authz')$$),
	('protector.settle_payment(uuid,protector.payment_status,text,text)', 'z_owner_b', 'payment', 'p_payment_id',
	 $$protector.settle_payment(%1$s)$$),
	('protector.create_waiver(uuid,text,text,text,integer,integer)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.create_waiver(%1$s, 'Waiver B', 'The new text.')$$),
	('protector.submit_waiver(uuid,text,date,text,text,uuid,text,text)', 'z_owner_b', 'waiver', 'p_waiver_id',
	 $$protector.submit_waiver(%1$s, 'Lee Roe', '1990-01-01', 'Lee Roe', 'Lee Roe')$$),
	('protector.link_waiver_to_booking(uuid,uuid)', 'z_owner_b', 'submission', 'p_submission_id',
	 $$protector.link_waiver_to_booking(%1$s, '0ab00000-0000-4000-8000-00000000b003')$$),
	('protector.get_waiver_submissions(uuid,uuid)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.get_waiver_submissions(%1$s)$$),
	('protector.verify_waiver_signature(uuid)', 'z_owner_b', 'submission', 'p_submission_id',
	 $$protector.verify_waiver_signature(%1$s)$$),
	('protector.export_waivers(uuid,date,date)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.export_waivers(%1$s, '2026-01-01', '2027-12-31')$$),
	('protector.log_staff_activity(uuid,text,jsonb)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.log_staff_activity(%1$s, 'desk.check_in')$$),
	('protector.create_staff_member(uuid,text,protector.member_role,text)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.create_staff_member(%1$s, 'new.staff@b.test', 'agent')$$),
	('protector.accept_staff_invitations()', 'z_owner_b', NULL, NULL, $$protector.accept_staff_invitations()$$),
	('protector.confirm_membership(uuid,protector.member_role)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.confirm_membership(%1$s, 'owner')$$),
	('protector.leave_organization(uuid)', 'z_viewer_b', 'organization', 'p_organization_id', $$protector.leave_organization(%1$s)$$),
	('protector.update_staff_permissions(uuid,protector.member_role)', 'z_owner_b', 'member', 'p_member_id',
	 $$protector.update_staff_permissions(%1$s, 'operator')$$),
	('protector.deactivate_staff(uuid,text)', 'z_owner_b', 'member', 'p_member_id', $$protector.deactivate_staff(%1$s)$$),
	('protector.assign_staff_to_venue(uuid,uuid)', 'z_owner_b', 'member', 'p_member_id',
	 $$protector.assign_staff_to_venue(%1$s, '0ab00000-0000-4000-8000-0000000000a1')$$),
	('protector.create_staff_schedule(uuid,uuid,timestamptz,timestamptz,text)', 'z_owner_b', 'member', 'p_member_id',
	 $$protector.create_staff_schedule(%1$s, '0ab00000-0000-4000-8000-0000000000a1', %2$s,
		(%2$s)::pg_catalog.timestamptz OPERATOR(pg_catalog.+) '1 hour'::pg_catalog.interval)$$),
	('protector.get_staff_schedule(uuid,date)', 'z_owner_b', 'venue', 'p_venue_id',
	 $$protector.get_staff_schedule(%1$s, (%2$s)::pg_catalog.date)$$),
	('protector.get_staff_performance(uuid,date,date)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.get_staff_performance(%1$s, '2027-01-01', '2027-01-31')$$),
	('protector.send_message(uuid,text)', 'z_owner_b', 'booking_due', 'p_booking_id', $$protector.send_message(%1$s, 'Hello')$$),
	('protector.get_booking_messages(uuid,integer)', 'z_owner_b', 'booking', 'p_booking_id',
	 $$protector.get_booking_messages(%1$s)$$),
	('protector.mark_messages_read(uuid)', 'z_owner_b', 'booking', 'p_booking_id', $$protector.mark_messages_read(%1$s)$$),
	('protector.send_booking_reminder(uuid,text)', 'z_owner_b', 'booking_due', 'p_booking_id',
	 $$protector.send_booking_reminder(%1$s)$$),
	('protector.redeem_voucher(uuid,text)', 'z_owner_b', 'booking_due', 'p_booking_id',
	 $$protector.redeem_voucher(%1$s, 'gift_MgPzjlEdtFyt7lkG0lLvwMPx')$$),
	('protector.refund_to_vouchers(uuid,numeric,text)', 'z_owner_b', 'booking_due', 'p_booking_id',
	 $$protector.refund_to_vouchers(%1$s, 10)$$),
	('protector.create_voucher(uuid,numeric,text,timestamptz,uuid,text)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.create_voucher(%1$s, 25)$$),
	('protector.create_promo_code(uuid,text,numeric,timestamptz,timestamptz,integer,integer,uuid[],integer,text,text)', 'z_owner_b',
	 'organization', 'p_organization_id', $$protector.create_promo_code(%1$s, 'percent', 10)$$),
	('protector.create_booking(uuid,uuid,timestamptz,integer,text,jsonb,protector.booking_source,uuid,integer,text,text)', 'z_owner_b',
	 NULL, NULL, $$protector.create_booking('0ab00000-0000-4000-8000-0000000005a1', NULL, %2$s, 2,
	 p_promo_code => 'promo_FDNVwOXl8tIgp7J1PSn9HCCF')$$),
	('protector.create_service(uuid,text,interval,numeric,numeric,integer,protector.service_mode,integer,integer,interval,interval,interval,interval,interval,text,text,jsonb)',
	 'z_owner_b', 'venue', 'p_venue_id', $$protector.create_service(%1$s, 'New room', '1 hour')$$),
	('protector.update_service(uuid,jsonb)', 'z_owner_b', 'service', 'p_service_id',
	 $$protector.update_service(%1$s, '{"price": 12, "settings": {"no_show_fee_percent": 50}}')$$),
	('protector.create_customer(uuid,text,text,text,text,text[],text)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.create_customer(%1$s, 'New Customer', 'new@b.test')$$),
	('protector.update_customer(uuid,jsonb)', 'z_owner_b', 'customer', 'p_customer_id',
	 $$protector.update_customer(%1$s, '{"phone": "+49 30 1234567", "tags": ["vip"]}')$$),
	('protector.get_dashboard_stats(uuid,uuid)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.get_dashboard_stats(%1$s)$$),
	('protector.get_dashboard_stats(uuid,uuid)', 'z_owner_b', 'venue', 'p_venue_id',
	 $$protector.get_dashboard_stats('0ab00000-0000-4000-8000-000000000000', %1$s)$$),
	('protector.get_weekly_bookings_trend(uuid,uuid,integer)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.get_weekly_bookings_trend(%1$s)$$),
	('protector.get_todays_bookings_by_hour(uuid,uuid,date)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.get_todays_bookings_by_hour(%1$s)$$),
	('protector.get_upcoming_bookings(uuid,uuid,integer)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.get_upcoming_bookings(%1$s)$$),
	('protector.get_recent_booking_activity(uuid,integer)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.get_recent_booking_activity(%1$s)$$),
	('protector.generate_revenue_report(uuid,date,date,uuid,text)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.generate_revenue_report(%1$s, '2027-01-01', '2027-01-31')$$),
	('protector.generate_booking_report(uuid,date,date,uuid)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.generate_booking_report(%1$s, '2027-01-01', '2027-01-31')$$),
	('protector.generate_customer_report(uuid,date,date)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.generate_customer_report(%1$s, '2027-01-01', '2027-01-31')$$),
	('protector.generate_staff_report(uuid,date,date)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.generate_staff_report(%1$s, '2027-01-01', '2027-01-31')$$),
	('protector.export_bookings(uuid,date,date,uuid)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.export_bookings(%1$s, '2027-01-01', '2027-01-31')$$),
	('protector.csv_agg(anyelement)', 'z_owner_b', NULL, NULL, $$protector.csv_agg(1)$$),
	('protector.purge_audit_log(timestamptz,uuid)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.purge_audit_log('2020-01-01', %1$s)$$),
	('protector.get_customer_rfm_scores(uuid)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.get_customer_rfm_scores(%1$s)$$),
	('protector.get_customer_segments(uuid)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.get_customer_segments(%1$s)$$),
	('protector.get_audit_logs(regclass,timestamptz,timestamptz,integer,uuid)', 'z_owner_b', 'organization', 'p_organization_id',
	 $$protector.get_audit_logs(p_organization_id => %1$s)$$),
	('protector.get_widget_slots(text,uuid,date,date)', 'anon', 'service', 'p_service_id',
	 $$protector.get_widget_slots(%3$s, %1$s, (%2$s)::pg_catalog.date)$$),
	('protector.create_widget_booking(text,uuid,text,text,text,timestamptz,integer,text,jsonb,text,text)', 'anon', 'service', 'p_service_id',
	 $$protector.create_widget_booking(%3$s, %1$s, 'Vic Visitor', 'vic@visitor.test', NULL, %2$s)$$),
	-- no id: the shadow test only
	('protector.create_organization(text,text,text,text,text)', 'z_owner_b', NULL, NULL, $$protector.create_organization('New', 'authz-new')$$),
	('protector.capability_map()', 'z_owner_b', NULL, NULL, $$protector.capability_map()$$),
	('protector.booking_total(numeric,numeric,integer)', 'z_owner_b', NULL, NULL, $$protector.booking_total(20, 25, 4)$$),
	('protector.round_money(numeric)', 'z_owner_b', NULL, NULL, $$protector.round_money(2.125)$$),
	('protector.current_user_id()', 'z_owner_b', NULL, NULL, $$protector.current_user_id()$$),
	('protector.timezone_is_valid(text)', 'z_owner_b', NULL, NULL, $$protector.timezone_is_valid('Europe/Berlin')$$),
	('protector.check_timezone(text,text)', 'z_owner_b', NULL, NULL, $$protector.check_timezone('Europe/Berlin')$$),
	('protector.raise(text,text,text,text)', 'z_owner_b', NULL, NULL, $$protector.raise('not_found', 'nothing')$$),
	('protector.error_sqlstate(text)', 'z_owner_b', NULL, NULL, $$protector.error_sqlstate('conflict')$$),
	('protector.booking_transition_allowed(protector.booking_status,protector.booking_status)', 'z_owner_b', NULL, NULL,
	 $$protector.booking_transition_allowed('held', 'confirmed')$$),
	('protector.generate_embed_key(text)', 'z_owner_b', NULL, NULL, $$protector.generate_embed_key()$$),
	('protector.embed_key_is_well_formed(text)', 'z_owner_b', NULL, NULL, $$protector.embed_key_is_well_formed(%3$s)$$),
	('protector.check_operating_hours(jsonb)', 'z_owner_b', NULL, NULL, $$protector.check_operating_hours('{"mon": [["09:00", "17:00"]]}')$$),
	('protector.check_special_hours(jsonb)', 'z_owner_b', NULL, NULL, $$protector.check_special_hours('[["09:00", "17:00"]]')$$),
	('protector.normalize_email(text)', 'z_owner_b', NULL, NULL, $$protector.normalize_email(' Ann@Example.COM ')$$),
	('protector.normalize_name(text)', 'z_owner_b', NULL, NULL, $$protector.normalize_name('Zoë  Ölund')$$),
	('protector.normalize_phone(text,text)', 'z_owner_b', NULL, NULL, $$protector.normalize_phone('030 1234567', 'DE')$$),
	('protector.country_is_known(text)', 'z_owner_b', NULL, NULL, $$protector.country_is_known('DE')$$),
	('protector.merge_patch(jsonb,jsonb)', 'z_owner_b', NULL, NULL, $$protector.merge_patch('{"a": 1}', '{"a": null, "b": {"c": 2}}')$$),
	('protector.rfm_segment(integer,integer,integer)', 'z_owner_b', NULL, NULL, $$protector.rfm_segment(5, 5, 5)$$),
	('protector.get_venue_by_embed_key(text)', 'anon', NULL, NULL, $$protector.get_venue_by_embed_key(%3$s)$$),
	('protector.get_venue_services(text)', 'anon', NULL, NULL, $$protector.get_venue_services(%3$s)$$);

-- Runs one call as who, rolled back whatever happens; 'ok' or the error
-- as "SQLSTATE | message | detail | hint" with p_id written as <id>.
CREATE FUNCTION pg_temp.attempt(p_who text, p_sql text, p_id uuid DEFAULT NULL, p_shadow boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hin text;
BEGIN
	BEGIN
		IF p_who = 'anon' THEN
			PERFORM tests.authenticate_as_anon();
		ELSE
			PERFORM tests.authenticate_as(p_who);
		END IF;
		IF p_shadow THEN
			PERFORM set_config('search_path', 'evil, pg_catalog', true);
		END IF;
		EXECUTE p_sql;
		RAISE EXCEPTION 'rolled back' USING ERRCODE = 'P0999';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
	END;
	IF st = 'P0999' THEN
		RETURN 'ok';
	END IF;
	RETURN replace(concat_ws(' | ', st, msg, NULLIF(det, ''), NULLIF(hin, '')), COALESCE(p_id::text, '<none>'), '<id>');
END
$$;

CREATE FUNCTION pg_temp.sql_of(c calls, p_id uuid) RETURNS text LANGUAGE sql AS $$
	SELECT 'SELECT ' || format(c.call, quote_literal(p_id), quote_literal(k.slot), quote_literal(k.key)) FROM const k
$$;

-- 1. shadows ----------------------------------------------------------------
CREATE SCHEMA evil;
CREATE SEQUENCE evil.hits;
CREATE FUNCTION evil.hit() RETURNS bigint LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.nextval('evil.hits') $$;
CREATE FUNCTION evil.lower(r tstzrange) RETURNS timestamptz LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.lower(r) FROM evil.hit() $$;
CREATE FUNCTION evil.upper(r tstzrange) RETURNS timestamptz LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.upper(r) FROM evil.hit() $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.now() FROM evil.hit() $$;
CREATE FUNCTION evil.length(t text) RETURNS integer LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.length(t) FROM evil.hit() $$;
CREATE FUNCTION evil.btrim(t text) RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.btrim(t) FROM evil.hit() $$;
CREATE FUNCTION evil.lower(t text) RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.lower(t) FROM evil.hit() $$;
CREATE FUNCTION evil.gen_random_uuid() RETURNS uuid LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.gen_random_uuid() FROM evil.hit() $$;
CREATE FUNCTION evil.to_jsonb(x anyelement) RETURNS jsonb LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.to_jsonb(x) FROM evil.hit() $$;
CREATE FUNCTION evil.count_step(n bigint) RETURNS bigint LANGUAGE sql VOLATILE AS $$ SELECT n OPERATOR(pg_catalog.+) 1 FROM evil.hit() $$;
CREATE AGGREGATE evil.count(*) (sfunc = evil.count_step, stype = bigint, initcond = '0');
CREATE FUNCTION evil.uuid_eq(a uuid, b uuid) RETURNS boolean LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.uuid_eq(a, b) FROM evil.hit() $$;
CREATE OPERATOR evil.= (leftarg = uuid, rightarg = uuid, function = evil.uuid_eq);
CREATE FUNCTION evil.text_eq(a text, b text) RETURNS boolean LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.texteq(a, b) FROM evil.hit() $$;
CREATE OPERATOR evil.= (leftarg = text, rightarg = text, function = evil.text_eq);
CREATE FUNCTION evil.overlaps(a tstzrange, b tstzrange) RETURNS boolean LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.range_overlaps(a, b) FROM evil.hit() $$;
CREATE OPERATOR evil.&& (leftarg = tstzrange, rightarg = tstzrange, function = evil.overlaps);
CREATE FUNCTION evil.ts_lt(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.timestamptz_lt(a, b) FROM evil.hit() $$;
CREATE OPERATOR evil.< (leftarg = timestamptz, rightarg = timestamptz, function = evil.ts_lt);
CREATE FUNCTION evil.ts_minus(a timestamptz, b interval) RETURNS timestamptz LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.timestamptz_mi_interval(a, b) FROM evil.hit() $$;
CREATE OPERATOR evil.- (leftarg = timestamptz, rightarg = interval, function = evil.ts_minus);
CREATE FUNCTION evil.ts_plus(a timestamptz, b interval) RETURNS timestamptz LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.timestamptz_pl_interval(a, b) FROM evil.hit() $$;
CREATE OPERATOR evil.+ (leftarg = timestamptz, rightarg = interval, function = evil.ts_plus);
CREATE FUNCTION evil.jsonb_cat(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql VOLATILE AS $$ SELECT pg_catalog.jsonb_concat(a, b) FROM evil.hit() $$;
CREATE OPERATOR evil.|| (leftarg = jsonb, rightarg = jsonb, function = evil.jsonb_cat);
CREATE FUNCTION evil.truthy() RETURNS boolean LANGUAGE sql VOLATILE AS $$ SELECT true FROM evil.hit() $$;
CREATE DOMAIN evil.interval AS pg_catalog.interval CHECK (evil.truthy());
CREATE DOMAIN evil.uuid AS pg_catalog.uuid CHECK (evil.truthy());
GRANT USAGE ON SCHEMA evil TO anon, authenticated, service_role;
GRANT USAGE, UPDATE ON SEQUENCE evil.hits TO anon, authenticated, service_role;

SELECT set_eq($$
	SELECT p.oid::regprocedure FROM pg_proc p
	WHERE p.pronamespace = 'protector'::regnamespace
	  AND (has_function_privilege('anon', p.oid, 'EXECUTE') OR has_function_privilege('authenticated', p.oid, 'EXECUTE'))
$$, $$SELECT DISTINCT fn FROM calls$$, 'the calls below cover every function anon and authenticated may execute');

CREATE TEMP TABLE shadowed AS
SELECT c.fn, c.param, pg_temp.attempt(c.who, pg_temp.sql_of(c, COALESCE(i.b, '0ab00000-0000-4000-8000-000000000000')), NULL, true) AS happy,
	   pg_temp.attempt(c.who, pg_temp.sql_of(c, i.a), NULL, true) AS victim,
	   pg_temp.attempt(c.who, pg_temp.sql_of(c, '00000000-0000-4000-8000-00000000dead'), NULL, true) AS random
FROM calls c LEFT JOIN ids i ON i.kind = c.kind;

SELECT is((SELECT is_called FROM evil.hits), false,
	'no shadowing function, operator or type ran in any call (own ids, another tenant''s, random)');
SELECT is_empty($$SELECT fn::text, param, happy FROM shadowed
				  WHERE happy <> 'ok' AND NOT (fn = 'protector.raise(text,text,text,text)'::regprocedure AND happy = 'P0002 | nothing')$$,
	'every call succeeds on the caller''s own ids under the hostile search_path (raise raises)');
SELECT is_empty($$SELECT fn::text, happy FROM shadowed WHERE concat(happy, victim, random) ~* 'evil|shadow'$$,
	'no error mentions the shadow schema');

-- 2. one answer for "not yours" and "not there" ----------------------------
CREATE TEMP TABLE oracle AS
SELECT c.fn, c.param, pg_temp.attempt(c.who, pg_temp.sql_of(c, i.a), i.a) AS victim,
	   pg_temp.attempt(c.who, pg_temp.sql_of(c, '00000000-0000-4000-8000-00000000dead'), '00000000-0000-4000-8000-00000000dead') AS random
FROM calls c JOIN ids i ON i.kind = c.kind
WHERE c.param IS NOT NULL;
SELECT is_empty($$SELECT fn::text, param, victim, random FROM oracle WHERE victim IS DISTINCT FROM random$$,
	'another tenant''s id and a random uuid get the same SQLSTATE, message, detail and hint');
SELECT is_empty($$SELECT fn::text, param, victim FROM oracle WHERE victim = 'ok'
				  AND fn NOT IN ('protector.service_lock_key(uuid)'::regprocedure,
								 'protector.get_audit_logs(regclass,timestamptz,timestamptz,integer,uuid)'::regprocedure)$$,
	'... and that answer is a refusal (service_lock_key is arithmetic; get_audit_logs answers no rows)');
SELECT is((SELECT count(*)::int FROM oracle WHERE victim ~ '^P0002 \| [a-z ]+ not found \| '),
		  (SELECT count(*)::int FROM oracle WHERE victim LIKE 'P0002%'),
	'every not found reads "<thing> not found" with a detail');
SELECT ok((SELECT count(*) FROM oracle) >= 30, 'the oracle covers every id parameter (30 or more)');

-- ... and the same for the internal helpers authenticated may call (the
-- owner's among them read past RLS): their first two uuid arguments given
-- every pair of another tenant's ids, against two random ones, the other
-- arguments plain values of their types; helpers with an argument of
-- another type are covered by the RPCs that call them (mark_merged told
-- whether two ids were customers of one other tenant before this)
CREATE TEMP TABLE helper_calls AS
SELECT p.oid::regprocedure AS fn,
	   (SELECT count(*) FROM unnest(p.proargtypes::oid[]) k(t) WHERE k.t = 'uuid'::regtype) AS ids,
	   format('SELECT %s(%s)', p.oid::regproc,
			  (SELECT string_agg(CASE k.t WHEN 'uuid'::regtype
										  THEN CASE (SELECT count(*) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY e(t, n)
													 WHERE e.t = 'uuid'::regtype AND e.n <= k.n)
													WHEN 1 THEN '%1$s' WHEN 2 THEN '%2$s' ELSE '''00000000-0000-4000-8000-00000000beef''' END
										  WHEN 'text'::regtype THEN '''x''' WHEN 'integer'::regtype THEN '1'
										  WHEN 'numeric'::regtype THEN '1' WHEN 'boolean'::regtype THEN 'true'
										  WHEN 'timestamptz'::regtype THEN 'now()' WHEN 'date'::regtype THEN 'current_date'
										  WHEN 'jsonb'::regtype THEN '''{}''' WHEN 'regclass'::regtype THEN '''protector.customers'''
										  WHEN 'protector.payment_status'::regtype THEN '''succeeded''' END,
								 ', ' ORDER BY k.n)
			   FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY k(t, n))) AS call
FROM pg_proc p
WHERE p.pronamespace = 'protector_internal'::regnamespace AND has_function_privilege('authenticated', p.oid, 'EXECUTE')
  AND 'uuid'::regtype = ANY (p.proargtypes::oid[])
  AND NOT EXISTS (SELECT FROM unnest(p.proargtypes::oid[]) k(t)
				  WHERE k.t::regtype NOT IN ('uuid', 'text', 'integer', 'numeric', 'boolean', 'timestamptz', 'date', 'jsonb',
											 'regclass', 'protector.payment_status'));
-- (what a call answers counts too, not only its refusal: "ok" and the
-- answer's first row as JSON, the ids written as <id> and <id2>)
CREATE FUNCTION pg_temp.attempt2(p_who text, p_call text, p_id1 uuid, p_id2 uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
	st text; msg text; det text; hin text;
	v_answer text;
BEGIN
	BEGIN
		PERFORM tests.authenticate_as(p_who);
		EXECUTE format('SELECT to_jsonb(x) FROM (%s) x', format(p_call, quote_literal(p_id1), quote_literal(p_id2))) INTO r;
		v_answer := concat('ok ', r::text);
		RAISE EXCEPTION 'rolled back' USING ERRCODE = 'P0999';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
	END;
	IF st <> 'P0999' THEN
		v_answer := concat_ws(' | ', st, msg, NULLIF(det, ''), NULLIF(hin, ''));
	END IF;
	RETURN replace(replace(v_answer, p_id1::text, '<id>'), p_id2::text, '<id2>');
END
$$;
CREATE TEMP TABLE helper_oracle AS
SELECT c.fn, i1.kind AS kind1, i2.kind AS kind2, w.who,
	   pg_temp.attempt2(w.who, c.call, i1.a, i2.a) AS victim,
	   pg_temp.attempt2(w.who, c.call, '00000000-0000-4000-8000-00000000dead', '00000000-0000-4000-8000-00000000d0d0') AS random
FROM helper_calls c JOIN ids i1 ON true
	 JOIN ids i2 ON c.ids >= 2 OR i2.kind = 'organization',
	 (VALUES ('z_owner_b'), ('z_customer_b')) w(who);
SELECT ok((SELECT count(DISTINCT fn) FROM helper_calls) >= 20,
	'the sweep calls 20 or more internal helpers that take an id');
SELECT is_empty($$SELECT fn::text, kind1, kind2, who, victim, random FROM helper_oracle WHERE victim IS DISTINCT FROM random
				  AND fn <> 'protector_internal.lock_key(integer,uuid)'::regprocedure$$,
	'internal helpers answer another tenant''s ids as they answer random ones, for an owner and a customer of another tenant (lock_key is arithmetic)');

-- members of the right organization with too small a role: 42501, from the map
SELECT is(pg_temp.attempt('z_viewer_b', $$SELECT protector.rotate_embed_key('0ab00000-0000-4000-8000-0000000000a1')$$),
	'42501 | your role may not rotate a venue''s embed key | The action venues.rotate_key is for owner and admin.',
	'a viewer is refused by the capability map, which names the action and the roles');
SELECT is(pg_temp.attempt('z_viewer_b', $$SELECT protector.merge_customers('0ab00000-0000-4000-8000-00000000c001', '0ab00000-0000-4000-8000-00000000c002')$$),
	'P0002 | customer not found | It does not exist, or you may not see it.',
	'a viewer does not see customers, so merging them is "not found" (RLS decides what exists)');
-- the owner's helper merge_customers calls answers a caller without its
-- permits before it reads a row: two of another tenant's customers, one of
-- each tenant and two random ids are one refusal
SELECT is(pg_temp.attempt(w, $$SELECT protector_internal.mark_merged('0aa00000-0000-4000-8000-00000000c001', '0aa00000-0000-4000-8000-00000000c002')$$),
		  pg_temp.attempt(w, $$SELECT protector_internal.mark_merged('00000000-0000-4000-8000-00000000dead', '00000000-0000-4000-8000-00000000beef')$$),
	format('mark_merged answers %s the same for another tenant''s customers and random ids', w))
FROM unnest(ARRAY['z_customer_b', 'z_owner_b']) w;
SELECT is(pg_temp.attempt('z_owner_b', $$SELECT protector_internal.mark_merged('0aa00000-0000-4000-8000-00000000c001', '0ab00000-0000-4000-8000-00000000c001')$$),
		  pg_temp.attempt('z_owner_b', $$SELECT protector_internal.mark_merged('00000000-0000-4000-8000-00000000dead', '00000000-0000-4000-8000-00000000beef')$$),
	'... and for one customer of each tenant');
SELECT is(pg_temp.attempt('z_agent_b', $$SELECT protector.get_customer_segments('0ab00000-0000-4000-8000-000000000000')$$),
	'42501 | your role may not see aggregate analytics | The action analytics.aggregate is for owner, admin, manager, operator, finance and viewer.',
	'an agent is refused its own organization''s segments');
SELECT is(pg_temp.attempt('z_owner_b', $$SELECT protector.rotate_embed_key('0ab00000-0000-4000-8000-0000000000a2')$$), 'ok',
	'an owner rotates a live venue''s key');
SELECT is(pg_temp.attempt('z_manager_b', $$UPDATE protector.venues SET embed_key = NULL WHERE id = '0ab00000-0000-4000-8000-0000000000a2'$$),
	'42501 | your role may not rotate a venue''s embed key | The action venues.rotate_key is for owner and admin.',
	'a manager may update venues but not rotate their keys, not even by a direct UPDATE');
UPDATE protector.venues SET deleted_at = now(), active = false WHERE id = '0ab00000-0000-4000-8000-0000000000a2';
SELECT is(pg_temp.attempt('z_owner_b', $$SELECT protector.rotate_embed_key('0ab00000-0000-4000-8000-0000000000a2')$$),
	'P0002 | venue not found | It does not exist, or you may not see it.', '... not a deleted one');

-- 3. stamps -----------------------------------------------------------------
CREATE TEMP TABLE stamp_writes (what text, sql text);
INSERT INTO stamp_writes VALUES
	('insert bookings.created_by', $$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, created_by)
		VALUES ('0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1', '0ab00000-0000-4000-8000-0000000005a2',
				'[2031-03-01 10:00+00, 2031-03-01 11:00+00)', '0aa00000-0000-4000-8000-000000000000')$$),
	('insert bookings.created_at', $$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, created_at)
		VALUES ('0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1', '0ab00000-0000-4000-8000-0000000005a2',
				'[2031-03-01 10:00+00, 2031-03-01 11:00+00)', '2020-01-01')$$),
	('insert customers.merged_into', $$INSERT INTO protector.customers (organization_id, full_name, merged_into)
		VALUES ('0ab00000-0000-4000-8000-000000000000', 'Ghost', '0ab00000-0000-4000-8000-00000000c001')$$),
	('update bookings.created_at', $$UPDATE protector.bookings SET created_at = '2020-01-01' WHERE id = '0ab00000-0000-4000-8000-00000000b001'$$),
	('update bookings.created_by', $$UPDATE protector.bookings SET created_by = NULL WHERE id = '0ab00000-0000-4000-8000-00000000b001'$$),
	('update bookings.source', $$UPDATE protector.bookings SET source = 'widget' WHERE id = '0ab00000-0000-4000-8000-00000000b001'$$),
	('update venues.updated_at', $$UPDATE protector.venues SET updated_at = '2020-01-01' WHERE id = '0ab00000-0000-4000-8000-0000000000a1'$$);
SELECT is_empty($$
	SELECT r, w.what, pg_temp.attempt(r, w.sql) FROM stamp_writes w
	CROSS JOIN unnest(ARRAY['z_owner_b', 'z_admin_b', 'z_manager_b', 'z_operator_b', 'z_agent_b', 'z_finance_b',
							'z_viewer_b', 'z_customer_b']) r
	WHERE pg_temp.attempt(r, w.sql) NOT LIKE '42501 | permission denied for table %'
$$, 'no role writes a stamp, merged_into or a booking''s source after the fact (42501 for all 8 x 8 tries)');
SELECT is(pg_temp.attempt('z_manager_b', $$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, source)
		VALUES ('0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1', '0ab00000-0000-4000-8000-0000000005a2',
				'[2031-03-01 10:00+00, 2031-03-01 11:00+00)', 'widget')$$),
	'42501 | bookings with source widget are recorded by protector only | The widget records widget bookings; trusted roles such as service_role record imports. | Use source dashboard, api, phone or walk_in.',
	'a manager may not pass a booking off as a widget booking');
SELECT is(pg_temp.attempt('z_customer_b', $$SELECT protector.create_booking('0ab00000-0000-4000-8000-0000000005a2', NULL,
		date_trunc('day', now()) + interval '7 days 12 hours', p_source => 'import')$$),
	'42501 | bookings with source import are recorded by protector only | The widget records widget bookings; trusted roles such as service_role record imports. | Use source dashboard, api, phone or walk_in.',
	'... nor a customer as an import, through the RPC');
-- merged_into: set only by who may merge, only once nothing refers to the
-- customer (as merge_customers leaves it), never cleared
SELECT is(pg_temp.attempt('z_manager_b', $$UPDATE protector.customers SET merged_into = '0ab00000-0000-4000-8000-00000000c002'
		WHERE id = '0ab00000-0000-4000-8000-00000000c001'$$),
	'42501 | merged_into is written by merge_customers only | Merge customers with merge_customers(), which moves what refers to them.',
	'a manager cannot mark a customer merged by hand (merge_customers moves what refers to it first)');
SELECT is(pg_temp.attempt('z_operator_b', $$UPDATE protector.customers SET merged_into = '0ab00000-0000-4000-8000-00000000c002'
		WHERE id = '0ab00000-0000-4000-8000-00000000c002'$$),
	'ok', '(an operator''s update finds no row it may change: customers.manage)');
SELECT is(pg_temp.attempt('z_manager_b', $$
		SELECT protector.merge_customers('0ab00000-0000-4000-8000-00000000c002', '0ab00000-0000-4000-8000-00000000c001');
		UPDATE protector.customers SET merged_into = NULL WHERE id = '0ab00000-0000-4000-8000-00000000c001'$$),
	'42501 | a merge cannot be undone | Customer 0ab00000-0000-4000-8000-00000000c001 was merged into 0ab00000-0000-4000-8000-00000000c002.',
	'a merge (as the caller) works, and cannot be undone by hand');
SELECT tests.authenticate_as('z_manager_b');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, during, source) VALUES
	('0ab00000-0000-4000-8000-00000000b0ff', '0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1',
	 '0ab00000-0000-4000-8000-0000000005a2', '[2031-03-01 10:00+00, 2031-03-01 11:00+00)', 'phone');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT created_by, created_at, updated_at, source::text FROM protector.bookings WHERE id = '0ab00000-0000-4000-8000-00000000b0ff'$$,
	$$SELECT tests.get_supabase_uid('z_manager_b'), now(), now(), 'phone'$$,
	'the database stamps who and when; the caller chose the channel');
SELECT tests.authenticate_as_service_role();
SELECT lives_ok($$INSERT INTO protector.bookings (organization_id, venue_id, service_id, during, source, created_at)
		VALUES ('0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1', '0ab00000-0000-4000-8000-0000000005a2',
				'[2031-03-02 10:00+00, 2031-03-02 11:00+00)', 'import', '2020-01-01')$$,
	'service_role (trusted) imports history with its own dates');
SELECT tests.clear_authentication();

-- customers write their own bookings under RLS, held to what the RPCs offer
SELECT tests.authenticate_as('z_customer_b');
INSERT INTO protector.bookings (id, organization_id, venue_id, service_id, customer_id, during, status, total_price, unit_price, source)
VALUES ('0ab00000-0000-4000-8000-00000000b0c1', '0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1',
		'0ab00000-0000-4000-8000-0000000005a2', '0ab00000-0000-4000-8000-00000000c003',
		tstzrange(date_trunc('day', now()) + interval '8 days 9 hours', date_trunc('day', now()) + interval '8 days 9 hours 1 minute'),
		'pending', 0, 0, 'phone');
SELECT tests.clear_authentication();
SELECT results_eq($$SELECT upper(during) - lower(during), total_price, source::text FROM protector.bookings
					WHERE id = '0ab00000-0000-4000-8000-00000000b0c1'$$,
	$$SELECT interval '60 minutes', protector.booking_total(s.price, s.price_per_person, 1), 'api'
	  FROM protector.services s WHERE s.id = '0ab00000-0000-4000-8000-0000000005a2'$$,
	'a customer''s own insert gets the slot''s end, the service''s price and source api, whatever it said');
SELECT is(pg_temp.attempt('z_customer_b', $$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
		VALUES ('0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1', '0ab00000-0000-4000-8000-0000000005a2',
				'0ab00000-0000-4000-8000-00000000c003',
				tstzrange(date_trunc('day', now()) + interval '8 days 11 hours', date_trunc('day', now()) + interval '8 days 12 hours'),
				'confirmed')$$),
	'42501 | new row violates row-level security policy for table "bookings"', '... but not as confirmed: staff confirm');
SELECT is(pg_temp.attempt('z_customer_b', $$UPDATE protector.bookings SET details = '{"vip": true}' WHERE id = '0ab00000-0000-4000-8000-00000000b0c1'$$),
	'42501 | customers may only confirm their own holds or cancel their bookings | Booking 0ab00000-0000-4000-8000-00000000b0c1: pending to pending, changing details.',
	'a customer may not change what staff decide on their booking');
SELECT is(pg_temp.attempt('z_customer_b', $$UPDATE protector.bookings SET status = 'confirmed' WHERE id = '0ab00000-0000-4000-8000-00000000b0c1'$$),
	'42501 | customers may only confirm their own holds or cancel their bookings | Booking 0ab00000-0000-4000-8000-00000000b0c1: pending to confirmed.',
	'... nor confirm a pending booking');
SELECT is(pg_temp.attempt('z_customer_b', $$
		UPDATE protector.bookings SET status = 'cancelled', cancelled_at = now() WHERE id = '0ab00000-0000-4000-8000-00000000b0c1';
		SELECT 1 / (details ? 'refund')::int FROM protector.bookings WHERE id = '0ab00000-0000-4000-8000-00000000b0c1'$$),
	'ok', '... but cancels it directly, the refund noted by the database');

-- a visitor who turns row_security off is no restore: the reservation
-- check, audit and workflow still run for what the widget writes as owner
SELECT is(left(pg_temp.attempt('anon', format($$
		SELECT set_config('row_security', 'off', true);
		SELECT protector.create_widget_booking(%1$L, '0ab00000-0000-4000-8000-0000000005a1', 'Rita', 'rita@example.com', NULL, %2$L);
		SELECT protector.create_widget_booking(%1$L, '0ab00000-0000-4000-8000-0000000005a1', 'Rudi', 'rudi@example.com', NULL, %2$L)$$,
		(SELECT key FROM const), (SELECT slot FROM const))), 5), '23P01',
	'row_security = off from an anonymous session does not switch the reservation check off');
SELECT is(pg_temp.attempt('z_manager_b', $$SELECT set_config('row_security', 'off', true);
		SELECT 1 / (NOT protector_internal.restoring())::int$$), 'ok',
	'... nor from a signed-in one: a restore needs a role that bypasses RLS');

-- found by attacking this file's subject: a member who is also a customer,
-- operators' direct inserts, agents' direct status changes, purges, locks
INSERT INTO protector.customers (id, organization_id, full_name, user_id) VALUES
	('0ab00000-0000-4000-8000-00000000c004', '0ab00000-0000-4000-8000-000000000000', 'Vera Viewer', tests.get_supabase_uid('z_viewer_b'));
SELECT is(left(pg_temp.attempt('z_viewer_b', $$INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during,
		status, hold_expires_at, total_price, party_size)
		VALUES ('0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1', '0ab00000-0000-4000-8000-0000000005a2',
				'0ab00000-0000-4000-8000-00000000c004', '[2030-03-02 02:00+00, 2030-03-09 02:00+00)', 'held', now() + interval '1 year', 0, 4)$$), 5),
	'22023', 'a viewer who is also a customer inserts only a bookable slot, like any customer');
SELECT ok(pg_temp.attempt('z_viewer_b', $$
		SELECT protector.create_booking('0ab00000-0000-4000-8000-0000000005a2', NULL, date_trunc('day', now()) + interval '9 days 10 hours');
		UPDATE protector.bookings SET status = 'confirmed' WHERE customer_id = '0ab00000-0000-4000-8000-00000000c004'$$)
	LIKE '42501 | customers may only confirm their own holds or cancel their bookings | %pending to confirmed.',
	'... and cannot confirm their own pending booking, viewer or not');
SELECT ok(pg_temp.attempt('z_viewer_b', $$
		SELECT protector.create_booking('0ab00000-0000-4000-8000-0000000005a2', NULL, date_trunc('day', now()) + interval '9 days 10 hours');
		UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('z_agent_b')
		WHERE customer_id = '0ab00000-0000-4000-8000-00000000c004'$$)
	LIKE '42501 | customers may only confirm their own holds or cancel their bookings | %changing assigned_agent.',
	'... nor assign an agent');
SELECT is(pg_temp.attempt('z_operator_b', $$
		INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status, total_price, unit_price, party_size)
		VALUES ('0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1', '0ab00000-0000-4000-8000-0000000005a2',
				'0ab00000-0000-4000-8000-00000000c001',
				tstzrange(date_trunc('day', now()) + interval '9 days 12 hours', date_trunc('day', now()) + interval '9 days 13 hours'),
				'confirmed', 0, 0, 3);
		SELECT 1 / (total_price = protector.booking_total(s.price, s.price_per_person, 3))::int
		FROM protector.bookings b JOIN protector.services s ON s.id = b.service_id
		WHERE b.during @> (date_trunc('day', now()) + interval '9 days 12 hours')$$), 'ok',
	'an operator''s direct insert is priced by the formula, whatever it said');
SELECT is(left(pg_temp.attempt('z_operator_b', $$
		INSERT INTO protector.bookings (organization_id, venue_id, service_id, customer_id, during, status)
		VALUES ('0ab00000-0000-4000-8000-000000000000', '0ab00000-0000-4000-8000-0000000000a1', '0ab00000-0000-4000-8000-0000000005a2',
				'0ab00000-0000-4000-8000-00000000c001', '[2030-03-02 02:00+00, 2030-03-09 02:00+00)', 'confirmed')$$), 5),
	'22023', '... and must be a bookable slot');
-- (started: what happens at the venue happens once it has)
UPDATE protector.bookings SET assigned_agent = tests.get_supabase_uid('z_agent_b'), status = 'confirmed', hold_expires_at = NULL,
	during = tstzrange(now() - interval '10 minutes', now() + interval '50 minutes')
WHERE id = '0ab00000-0000-4000-8000-00000000b001';
SELECT is(pg_temp.attempt('z_agent_b', $$UPDATE protector.bookings SET status = 'cancelled' WHERE id = '0ab00000-0000-4000-8000-00000000b001'$$),
	'42501 | your role may not cancel bookings | The action bookings.cancel is for owner, admin, manager and operator.',
	'an agent cannot cancel an assigned booking by a direct update either');
SELECT is(pg_temp.attempt('z_agent_b', $$UPDATE protector.bookings SET status = 'in_progress' WHERE id = '0ab00000-0000-4000-8000-00000000b001'$$),
	'ok', '... but moves it along');
SELECT is(pg_temp.attempt('z_owner_b', $$INSERT INTO protector.audit_purges (organization_id, purge_before)
		VALUES ('0ab00000-0000-4000-8000-000000000000', '5000-01-01')$$),
	'22023 | purge_before must be a time in the past | Got 5000-01-01 00:00:00+00.', 'a purge of the future is refused, however it is asked');
SELECT is(pg_temp.attempt('z_customer_b', $$SELECT protector_internal.authorize_row('protector.services', '0ab00000-0000-4000-8000-0000000005a1', NULL, 'service', true)$$),
	'22023 | p_lock needs p_action | A row is locked only for an action the caller may do.', 'authorize_row locks only for an action');
-- a customer's permits are for what customers may do on their own bookings
-- (review: a customer asked authorize_row for payments.create on their own
-- booking, then settled its pending payment through settle_payment)
SELECT tests.authenticate_as('z_owner_b');
SELECT protector.record_payment('0ab00000-0000-4000-8000-00000000b0c1', 10, 'stripe', 'pi_authz_1', 'payment', 'pending') IS NOT NULL;
SELECT tests.clear_authentication();
SELECT is(pg_temp.attempt('z_customer_b', $$SELECT protector_internal.authorize_row('protector.bookings', '0ab00000-0000-4000-8000-00000000b0c1',
		'payments.create', 'booking', false, true)$$),
	'42501 | your role may not record payments | The action payments.create is for owner, admin and finance.',
	'a customer gets no permit to record payments, not even on their own booking');
SELECT is(pg_temp.attempt('z_customer_b', format($q$DO $d$ BEGIN
		PERFORM protector_internal.authorize_row('protector.bookings', '0ab00000-0000-4000-8000-00000000b0c1', 'payments.create', 'booking', false, true);
		PERFORM protector_internal.settle_payment(%L, '0ab00000-0000-4000-8000-00000000b0c1', 'succeeded');
	END $d$$q$, (SELECT id FROM protector.payments WHERE provider_reference = 'pi_authz_1'))),
	'42501 | your role may not record payments | The action payments.create is for owner, admin and finance.',
	'... so they cannot settle its pending payment');
SELECT is(pg_temp.attempt('z_customer_b', $$SELECT protector_internal.authorize_row('protector.bookings', '0ab00000-0000-4000-8000-00000000b0c1',
		'bookings.cancel', 'booking', false, true)$$),
	'ok', '... but for cancelling their own booking, as cancel_booking asks');
SELECT is(pg_temp.attempt('z_manager_b', $$INSERT INTO protector.venues (organization_id, name, timezone, embed_key)
		VALUES ('0ab00000-0000-4000-8000-000000000000', 'X', 'UTC', protector.generate_embed_key())$$),
	'42501 | permission denied for table venues', 'nobody chooses an embed key on insert either');

-- 4. lock_services ------------------------------------------------------------
SELECT is(pg_temp.attempt('z_owner_b', format('SELECT protector.lock_services(%L)',
		  (SELECT array_agg(gen_random_uuid()) FROM generate_series(1, 101)))),
	'22023 | p_service_ids must name at most 100 services | Got 101 distinct ids.', 'at most 100 services per call');
SELECT is(pg_temp.attempt('z_owner_b', format('SELECT protector.lock_services(%L)',
		  (SELECT array_agg('0ab00000-0000-4000-8000-0000000005a1'::uuid) FROM generate_series(1, 500)))),
	'ok', '... counted after removing duplicates');
SELECT is(pg_temp.attempt('z_viewer_b', $$SELECT protector.lock_services('{0ab00000-0000-4000-8000-0000000005a1}')$$),
	'P0002 | service not found | It does not exist, or you may not see it.',
	'a viewer may not lock its organization''s services (no bookings.update)');
SELECT is(pg_temp.attempt('z_operator_b', $$SELECT protector.lock_services('{0ab00000-0000-4000-8000-0000000005a1,0ab00000-0000-4000-8000-0000000005a2}')$$),
	'ok', 'the desk locks its own services');

-- 5. protector_internal ---------------------------------------------------------
SELECT is_empty($$
	SELECT p.oid::regprocedure FROM pg_proc p
	WHERE p.pronamespace = 'protector_internal'::regnamespace AND has_function_privilege('anon', p.oid, 'EXECUTE')
$$, 'anon may execute nothing in protector_internal');
SELECT set_eq($$
	SELECT p.oid::regprocedure::text FROM pg_proc p
	WHERE p.pronamespace = 'protector_internal'::regnamespace AND has_function_privilege('authenticated', p.oid, 'EXECUTE')
$$, $$VALUES ('protector_internal.orgs_with(text)'), ('protector_internal.authorize(uuid,text,text)'),
			 ('protector_internal.authorize_row(regclass,uuid,text,text,boolean,boolean)'),
			 ('protector_internal.current_customer_ids()'), ('protector_internal.customer_organizations()'),
			 ('protector_internal.current_customer_booking_ids()'),
			 ('protector_internal.restoring()'), ('protector_internal.restoring_into(regclass)'),
			 ('protector_internal.applying_replicated_changes()'),
			 ('protector_internal.caller_is_trusted()'), ('protector_internal.random_uuid()'),
			 ('protector_internal.local_time(text,timestamp with time zone)'),
			 ('protector_internal.check_money(numeric,text)'), ('protector_internal.check_currency(text,text)'),
			 ('protector_internal.check_code(text,text,text)'),
			 ('protector_internal.check_promo_scope(uuid[],text,text)'), ('protector_internal.names_text(text[])'),
			 ('protector_internal.clock_now()'), ('protector_internal.iso_text(date)'), ('protector_internal.iso_text(timestamp with time zone)'), ('protector_internal.iso_text(tstzrange)'), ('protector_internal.quoted_text(text,integer)'), ('protector_internal.tag_set(text[])'), ('protector_internal.check_date_range(date,date,date,date)'), ('protector_internal.check_finite(timestamp with time zone,text,text)'), ('protector_internal.check_finite(date,text,text)'), ('protector_internal.lock_organization_services(uuid,uuid[])'), ('protector_internal.status_with_article(protector.booking_status)'), ('protector_internal.refuse_deleted_organization(uuid)'), ('protector_internal.refuse_deleted_booking(uuid,text)'), ('protector_internal.refuse_changed_signature_customer(text)'), ('protector_internal.refuse_second_signature(text,text,text,text)'), ('protector_internal.refuse_unseen_foreign_tasks(uuid)'), ('protector_internal.check_promo_terms(text,numeric,integer,integer,integer,timestamp with time zone,timestamp with time zone,text)'),
			 ('protector_internal.pay_with_voucher(uuid,text)'), ('protector_internal.merge_patch_unchecked(jsonb,jsonb)'),
			 ('protector_internal.mark_merged(uuid,uuid)'), ('protector_internal.check_mergeable(uuid,uuid)'),
			 ('protector_internal.lock_customer_bookings(uuid[])'),
			 ('protector_internal.scrub_customer(uuid,uuid)'), ('protector_internal.merged_into_it(uuid,uuid)'),
			 ('protector_internal.change_own_membership(uuid,boolean,protector.member_role)'),
			 ('protector_internal.lock_agent(uuid,uuid)'), ('protector_internal.lock_key(integer,uuid)'),
			 ('protector_internal.refund_booking_to_vouchers(uuid,numeric,text)'),
			 ('protector_internal.settle_payment(uuid,uuid,protector.payment_status,text,text,boolean)'),
			 ('protector_internal.check_provider(text,text)'), ('protector_internal.payment_answer(protector.payments,boolean)'),
			 ('protector_internal.check_slot(uuid,timestamp with time zone,integer,text)'), ('protector_internal.check_country(text,text)'),
			 ('protector_internal.booking_shape(protector.bookings,boolean)'), ('protector_internal.check_settings(text,jsonb,text)'), ('protector_internal.check_settings_size(jsonb,jsonb,text)'), ('protector_internal.check_staff_entry(text,jsonb,text)'),
			 ('protector_internal.check_setting_keys(jsonb,text,text[])'),
			 ('protector_internal.check_setting_number(jsonb,text,numeric,numeric,boolean)'),
			 ('protector_internal.text_is_clean(text)'), ('protector_internal.json_is_clean(jsonb)'), ('protector_internal.lines_are_clean(text)'), ('protector_internal.renders_visible(text)'), ('protector_internal.check_lines(text,text,integer,integer)'), ('protector_internal.setting_number(jsonb,numeric,numeric,numeric)'), ('protector_internal.deposit_hours(jsonb)'), ('protector_internal.wait_for_organization(uuid)'), ('protector_internal.phone_is_valid(text)'), ('protector_internal.check_price(numeric,text)'),
			 ('protector_internal.check_interval(interval,text,interval,interval,boolean)'),
			 ('protector_internal.check_integer(integer,text,integer,integer)'), ('protector_internal.check_text(text,text,integer,integer)'),
			 ('protector_internal.check_service(protector.services,text)'), ('protector_internal.check_customer(protector.customers,text)'),
			 ('protector_internal.customer_changes(protector.customers,protector.customers)'),
			 ('protector_internal.service_changes(protector.services,protector.services)'),
			 ('protector_internal.booking_start(tstzrange)'),
			 ('protector_internal.booking_is_long(tstzrange)'),
			 ('protector_internal.changed_settings(jsonb,jsonb)'),
			 ('protector_internal.apply_changes(anyelement,jsonb,text[])'),
			 ('protector_internal.booking_buckets(uuid,uuid,timestamp with time zone[])'),
			 ('protector_internal.dashboard_timezone(uuid,uuid)'), ('protector_internal.local_midnight(text,date)'),
			 ('protector_internal.agent_still_assigned(uuid,uuid,boolean)'),
			 ('protector_internal.lock_member_work_nowait(uuid,uuid,uuid,boolean,text)'),
			 ('protector_internal.release_member_work(uuid,uuid)'), ('protector_internal.lock_booking_promo_code(uuid)'), ('protector_internal.role_sees_tasks(protector.member_role)'), ('protector_internal.role_may(protector.member_role,text[])'),
			 ('protector_internal.lock_member_work(uuid,uuid,uuid)'),
			 ('protector_internal.lock_member_change(uuid,boolean)'),
			 ('protector_internal.authorize_booking_list(uuid)'),
			 ('protector_internal.json_amount(jsonb)'),
			 ('protector_internal.trim_spaces(text)'), ('protector_internal.checked_name(text,text,name)'), ('protector_internal.refuse_long_hold(uuid,timestamp with time zone)'),
			 ('protector_internal.cancellation_time(uuid,protector.booking_status,protector.booking_status,timestamp with time zone,timestamp with time zone)'),
			 ('protector_internal.check_party_size(uuid,uuid,integer)'),
			 ('protector_internal.lock_booking_services(uuid[])'), ('protector_internal.lock_seen(integer,uuid,boolean)'),
			 ('protector_internal.lock_give_backs(uuid[],boolean)'), ('protector_internal.relock_customer_bookings(uuid[])'),
			 ('protector_internal.lock_bookings(uuid[])'), ('protector_internal.refuse_unseen_bookings(uuid[],text)'),
			 ('protector_internal.lock_member_manager(uuid,boolean,boolean)'), ('protector_internal.refuse_unwritten_member(uuid,boolean)'), ('protector_internal.task_not_theirs(uuid,uuid,uuid)'),
			 ('protector_internal.hold_expiry_of(protector.booking_status,timestamp with time zone,protector.booking_status,timestamp with time zone)'),
			 ('protector_internal.email_is_valid(text)'),
			 ('protector_internal.open_service_seconds(uuid,uuid,timestamp with time zone,timestamp with time zone)'),
			 ('protector_internal.report_range(uuid,uuid,date,date)'), ('protector_internal.cached_report(uuid,text,jsonb)'),
			 ('protector_internal.recent_booking_ids(uuid,integer)'),
			 ('protector_internal.idempotency_key_taken(uuid,text)'),
			 ('protector_internal.csv_agg_transfn(internal,anyelement)'), ('protector_internal.csv_agg_finalfn(internal)'),
			 ('protector_internal.during_is_bounded(tstzrange)'), ('protector_internal.during_within_31_days(tstzrange)'),
			 ('protector_internal.value_size(jsonb)'),
			 ('protector_internal.reminder_address(uuid,uuid,text,boolean)'), ('protector_internal.refuse_no_reminder_address(uuid,uuid,text)'), ('protector_internal.manual_reminder_unseen(uuid)'),
			 ('protector_internal.check_customer_open_requests(uuid,uuid)'),
			 ('protector_internal.check_customer_message_rate(uuid,uuid)'),
			 ('protector_internal.check_customer_signatures(uuid,uuid,uuid)'),
			 ('protector_internal.sha256_hex(text)'),
			 ('protector_internal.names_match(text,text)'), ('protector_internal.typed_name(text)'),
			 ('protector_internal.has_letters_or_digits(text)'), ('protector_internal.drop_expired_invitation(uuid,text)'),
			 ('protector_internal.refunds_on_cancel()'),
			 ('protector_internal.may_sign(uuid,uuid)'), ('protector_internal.lock_waiver_version(uuid,uuid)'),
			 ('protector_internal.check_waiver_booking(protector.waiver_submissions)'),
			 ('protector_internal.signing_age(date,timestamp with time zone,text)'), ('protector_internal.venue_timezone(uuid,uuid)'),
			 ('protector_internal.staff_may_message(uuid,uuid)'), ('protector_internal.customer_owns_booking(uuid,uuid)'),
			 ('protector_internal.thread_side(uuid,uuid)'),
			 ('protector_internal.median_response_minutes(uuid,uuid,timestamp with time zone,timestamp with time zone)'),
			 ('protector_internal.record_staff_activity(uuid,text,jsonb)'), ('protector_internal.activate_invitations(uuid)'),
			 ('protector_internal.waiver_submission_digest(protector.waiver_submissions)'),
			 ('protector_internal.bookings_row_check(numeric,text,protector.booking_status,timestamp with time zone,text,numeric,jsonb,numeric,tstzrange,text,integer,numeric,numeric)')$$,
	'authenticated may execute only the helpers that policies and RPCs ask (docs/security.md lists them)');
SELECT ok(NOT has_schema_privilege('anon', 'protector_internal', 'USAGE'), 'anon has no usage of protector_internal');
SELECT is_empty($$
	SELECT p.oid::regprocedure FROM pg_proc p
	WHERE p.pronamespace = 'protector'::regnamespace AND p.prosecdef
	  AND has_function_privilege('authenticated', p.oid, 'EXECUTE')
$$, 'authenticated may call no SECURITY DEFINER function in the API: RPCs run as the caller');
SELECT set_eq($$
	SELECT p.oid::regprocedure::text FROM pg_proc p
	WHERE p.pronamespace = 'protector'::regnamespace AND p.prosecdef
$$, $$VALUES ('protector.get_venue_by_embed_key(text)'), ('protector.get_venue_services(text)'),
			 ('protector.get_widget_slots(text,uuid,date,date)'),
			 ('protector.create_widget_booking(text,uuid,text,text,text,timestamp with time zone,integer,text,jsonb,text,text)')$$,
	'the API''s only SECURITY DEFINER functions are the four widget functions, for anon');
SELECT set_eq($$
	SELECT p.oid::regprocedure::text FROM pg_proc p
	WHERE p.pronamespace = 'protector'::regnamespace AND p.prorettype = 'trigger'::regtype
$$, $$VALUES ('protector.set_updated_at()'), ('protector.reservation_check()'), ('protector.service_mode_check()'),
			 ('protector.audit_trigger()'), ('protector.notify_trigger()')$$,
	'the API schema''s trigger functions are the five documented ones (audit, live updates, updated_at, the reservation and service-mode checks); helpers live in protector_internal');
SELECT is_empty($$
	SELECT p.oid::regprocedure FROM pg_proc p
	WHERE p.pronamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
	  AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c') AND p.prokind <> 'a'
	  AND NOT EXISTS (SELECT FROM unnest(p.proconfig) s WHERE s LIKE 'search_path=%')
$$, 'every SQL and PL/pgSQL function pins its search_path (C functions pin it around their SQL; aggregates are their C functions)');

-- 6. the capability map is the only role list ---------------------------------
SELECT is_empty($$
	SELECT p.oid::regprocedure FROM pg_proc p
	WHERE p.pronamespace IN ('protector'::regnamespace, 'protector_internal'::regnamespace)
	  AND p.prosrc ~ '''\{(owner|admin|manager|operator|agent|finance|viewer)[,}]'
$$, 'no function writes a role list');
SELECT is_empty($$
	SELECT p.polname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
	WHERE c.relnamespace = 'protector'::regnamespace
	  AND concat(pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)) ~ '\{(owner|admin|manager)'
$$, 'no policy writes a role list');
SELECT is_empty($$
	SELECT a.action FROM (
		SELECT (regexp_matches(concat(pg_get_expr(p.polqual, p.polrelid), ' ', pg_get_expr(p.polwithcheck, p.polrelid)),
							   'orgs_with\(''([a-z_.]+)''', 'g'))[1] AS action
		FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'protector'::regnamespace
		UNION
		SELECT encode(substring(t.tgargs FROM 1 FOR position('\x00'::bytea IN t.tgargs) - 1), 'escape')
		FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid WHERE f.proname = 'restrict_update_columns') a
	WHERE a.action NOT IN (SELECT m.action FROM protector.capability_map() m)
$$, 'every action the policies and the column guard ask is in the map');
SELECT throws_ok($$SELECT protector_internal.authorize_row(0, gen_random_uuid(), NULL, 'booking')$$,
	'22023', 'p_table must be a table of schema protector', 'authorize_row of relation 0 is bad input, not an internal error (found by make fuzz)');
SELECT throws_ok($$SELECT protector_internal.authorize_row('protector.bookings_organization_id_id_key', gen_random_uuid(), NULL, 'booking')$$,
	'22023', 'p_table must be a table of schema protector',
	'... nor is an index of it, which has id and organization_id (it failed bare, 42809, quoting protector''s query)');
SELECT throws_ok($$SELECT protector_internal.authorize('0ab00000-0000-4000-8000-000000000000', 'bookings.steal')$$,
	'22023', '"bookings.steal" is not a protector action', 'an unknown action is an error, never a silent no');
SELECT is((SELECT roles::text[] FROM protector.capability_map() WHERE action = 'bookings.create'),
	'{owner,admin,manager,operator}', 'operators (the front desk) create bookings');
SELECT is((SELECT roles::text[] FROM protector.capability_map() WHERE action = 'bookings.reschedule'),
	'{owner,admin,manager,operator}', '... and reschedule them');
SELECT is((SELECT count(*)::int FROM protector.capability_map() m WHERE 'viewer' = ANY (m.roles)
		   AND m.action ~ '^(customers|bookings|payments)\.'), 0, 'viewers get no action on personal data');

SELECT * FROM finish();
ROLLBACK;
