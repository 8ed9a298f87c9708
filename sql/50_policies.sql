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
-- read the venues and services of organizations they are a customer of,
-- inactive and deleted ones too (their bookings name them), so they can
-- book the active ones (docs/security.md).
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
-- guard_booking_write holds them to what the booking RPCs allow.
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

-- payments: customers see the payments of their own bookings.  Payments
-- from gift vouchers are written by redeem_voucher, which needs the code,
-- not by table writes.
-- (the customer's arm as two arrays, each read once per statement: as a
-- sub-select per payment, the OR kept the planner from the indexes, and a
-- small organization's payment list read every tenant's payments, 100 ms
-- at 250,000 payments; an attack at scale)
CREATE FUNCTION protector_internal.current_customer_booking_ids()
RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.array_agg(b.id), '{}'::uuid[]) FROM protector.bookings b
	WHERE b.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids())
$$;
COMMENT ON FUNCTION protector_internal.current_customer_booking_ids() IS
'The bookings of the customer records linked to the caller''s account (payments_select)';
CREATE POLICY payments_select ON protector.payments FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('payments.read'))::uuid[])
		   OR (organization_id = ANY ((SELECT protector_internal.customer_organizations())::uuid[])
			   AND booking_id = ANY ((SELECT protector_internal.current_customer_booking_ids())::uuid[])));
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
-- (an agent works on their tasks of bookings assigned to them: the done
-- tasks of a booking handed to someone else stay theirs to see, not to
-- reopen, also when the booking is their own as its customer)
CREATE POLICY tasks_update ON protector.tasks FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.update'))::uuid[])
		   OR (assignee = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.assigned'))::uuid[])
			   AND (booking_id IS NULL OR booking_id IN (SELECT b.id FROM protector.bookings b
														  WHERE b.assigned_agent = (SELECT protector.current_user_id())))))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.update'))::uuid[])
				OR (assignee = (SELECT protector.current_user_id()) AND organization_id = ANY ((SELECT protector_internal.orgs_with('tasks.assigned'))::uuid[])
					AND (booking_id IS NULL OR booking_id IN (SELECT b.id FROM protector.bookings b
														  WHERE b.assigned_agent = (SELECT protector.current_user_id())))));
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
-- (those the caller sees: a DELETE that reads no column is not held to
-- the SELECT policy, and removed members' private notifications unseen)
CREATE POLICY notifications_delete ON protector.notifications FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('notifications.delete'))::uuid[])
		   AND (recipient_id IS NULL OR recipient_id = (SELECT protector.current_user_id())));

-- audit_log: nobody writes it but the audit trigger (no write grants).
-- An owner's invitation is read by owners only, as the table's policy has
-- it (admins read its address, name and role in its audit rows).
CREATE POLICY audit_log_select ON protector.audit_log FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('audit.read'))::uuid[])
		   AND (table_name <> 'protector.staff_invitations'
				OR (COALESCE(new_row ->> 'role', '') <> 'owner' AND COALESCE(old_row ->> 'role', '') <> 'owner')
				OR organization_id = ANY ((SELECT protector_internal.orgs_with('members.manage_owners'))::uuid[]))
		   -- (a notification addressed to a member is that member's, as the
		   -- table's policy has it: audited, its payload was read by all
		   -- who read the audit log)
		   AND (table_name <> 'protector.notifications'
				OR (COALESCE(new_row ->> 'recipient_id', '') IN ('', (SELECT protector.current_user_id())::text)
					AND COALESCE(old_row ->> 'recipient_id', '') IN ('', (SELECT protector.current_user_id())::text))));
