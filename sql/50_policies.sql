\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/50_policies.sql: row-level security, the role table of docs/security.md.
--
-- Every table has RLS enabled and forced.  Policies apply to the
-- authenticated role; anon has no table privileges at all; service_role
-- bypasses RLS.  Role checks go through protector.member_organizations(),
-- written as a sub-select so it runs once per statement.

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

-- organizations ---------------------------------------------------------
CREATE POLICY organizations_select ON protector.organizations FOR SELECT TO authenticated
	USING (id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator,agent,finance,viewer}'))::uuid[]));
CREATE POLICY organizations_update ON protector.organizations FOR UPDATE TO authenticated
	USING (id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[]))
	WITH CHECK (id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[]));
CREATE POLICY organizations_delete ON protector.organizations FOR DELETE TO authenticated
	USING (id = ANY ((SELECT protector.member_organizations('{owner}'))::uuid[]));

-- members: managers and the desk see the staff list; everyone sees their
-- own membership; owners and admins manage, only owners touch owners.
CREATE POLICY members_select ON protector.members FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator}'))::uuid[])
		   OR user_id = (SELECT protector.current_user_id()));
CREATE POLICY members_insert ON protector.members FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[])
				AND (role <> 'owner' OR organization_id = ANY ((SELECT protector.member_organizations('{owner}'))::uuid[])));
CREATE POLICY members_update ON protector.members FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[])
		   AND (role <> 'owner' OR organization_id = ANY ((SELECT protector.member_organizations('{owner}'))::uuid[])))
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[])
				AND (role <> 'owner' OR organization_id = ANY ((SELECT protector.member_organizations('{owner}'))::uuid[])));
CREATE POLICY members_delete ON protector.members FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[])
		   AND (role <> 'owner' OR organization_id = ANY ((SELECT protector.member_organizations('{owner}'))::uuid[])));

-- venues, closures and services: every member reads; managers write.
CREATE POLICY venues_select ON protector.venues FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator,agent,finance,viewer}'))::uuid[]));
CREATE POLICY venues_insert ON protector.venues FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));
CREATE POLICY venues_update ON protector.venues FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));
CREATE POLICY venues_delete ON protector.venues FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[]));

CREATE POLICY venue_closures_select ON protector.venue_closures FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator,agent,finance,viewer}'))::uuid[]));
CREATE POLICY venue_closures_insert ON protector.venue_closures FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));
CREATE POLICY venue_closures_update ON protector.venue_closures FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));
CREATE POLICY venue_closures_delete ON protector.venue_closures FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));

CREATE POLICY services_select ON protector.services FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator,agent,finance,viewer}'))::uuid[]));
CREATE POLICY services_insert ON protector.services FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));
CREATE POLICY services_update ON protector.services FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));
CREATE POLICY services_delete ON protector.services FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));

-- customers: personal data.  Not for viewers; agents see the customers of
-- the bookings assigned to them; a customer sees their own record.
CREATE POLICY customers_select ON protector.customers FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator,finance}'))::uuid[])
		   OR id = ANY ((SELECT protector.current_customer_ids())::uuid[])
		   OR (organization_id = ANY ((SELECT protector.member_organizations('{agent}'))::uuid[])
			   AND id IN (SELECT b.customer_id FROM protector.bookings b
						  WHERE b.assigned_agent = (SELECT protector.current_user_id()))));
CREATE POLICY customers_insert ON protector.customers FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));
CREATE POLICY customers_update ON protector.customers FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));
CREATE POLICY customers_delete ON protector.customers FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));

-- bookings: the desk (owner..operator) and finance see all of the
-- organization; agents their assigned ones; customers their own.
CREATE POLICY bookings_select ON protector.bookings FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator,finance}'))::uuid[])
		   OR (assigned_agent = (SELECT protector.current_user_id())
			   AND organization_id = ANY ((SELECT protector.member_organizations('{agent}'))::uuid[]))
		   OR customer_id = ANY ((SELECT protector.current_customer_ids())::uuid[]));
CREATE POLICY bookings_insert ON protector.bookings FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));
CREATE POLICY bookings_update ON protector.bookings FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator}'))::uuid[])
		   OR (assigned_agent = (SELECT protector.current_user_id())
			   AND organization_id = ANY ((SELECT protector.member_organizations('{agent}'))::uuid[])))
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator}'))::uuid[])
				OR (assigned_agent = (SELECT protector.current_user_id())
					AND organization_id = ANY ((SELECT protector.member_organizations('{agent}'))::uuid[])));
CREATE POLICY bookings_delete ON protector.bookings FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[]));

-- payments: money records.  Finance reads; managers record; owners and
-- admins correct; customers see the payments of their own bookings.
CREATE POLICY payments_select ON protector.payments FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,finance}'))::uuid[])
		   OR EXISTS (SELECT FROM protector.bookings b
					  WHERE b.id = booking_id
						AND b.customer_id = ANY ((SELECT protector.current_customer_ids())::uuid[])));
CREATE POLICY payments_insert ON protector.payments FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));
CREATE POLICY payments_update ON protector.payments FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[]));
CREATE POLICY payments_delete ON protector.payments FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[]));

-- tasks: the desk sees and works all; agents their own.
CREATE POLICY tasks_select ON protector.tasks FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator}'))::uuid[])
		   OR (assignee = (SELECT protector.current_user_id())
			   AND organization_id = ANY ((SELECT protector.member_organizations('{agent}'))::uuid[])));
CREATE POLICY tasks_insert ON protector.tasks FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator}'))::uuid[]));
CREATE POLICY tasks_update ON protector.tasks FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator}'))::uuid[])
		   OR (assignee = (SELECT protector.current_user_id())
			   AND organization_id = ANY ((SELECT protector.member_organizations('{agent}'))::uuid[])))
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator}'))::uuid[])
				OR (assignee = (SELECT protector.current_user_id())
					AND organization_id = ANY ((SELECT protector.member_organizations('{agent}'))::uuid[])));
CREATE POLICY tasks_delete ON protector.tasks FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager}'))::uuid[]));

-- notifications: the desk gets organization-wide ones; anyone on the
-- staff gets those addressed to them.
CREATE POLICY notifications_select ON protector.notifications FOR SELECT TO authenticated
	USING ((recipient_id IS NULL
			AND organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator}'))::uuid[]))
		   OR (recipient_id = (SELECT protector.current_user_id())
			   AND organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator,agent,finance,viewer}'))::uuid[])));
CREATE POLICY notifications_insert ON protector.notifications FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator}'))::uuid[]));
CREATE POLICY notifications_update ON protector.notifications FOR UPDATE TO authenticated
	USING ((recipient_id IS NULL
			AND organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator}'))::uuid[]))
		   OR (recipient_id = (SELECT protector.current_user_id())
			   AND organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator,agent,finance,viewer}'))::uuid[])))
	WITH CHECK ((recipient_id IS NULL
				 AND organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator}'))::uuid[]))
				OR (recipient_id = (SELECT protector.current_user_id())
					AND organization_id = ANY ((SELECT protector.member_organizations('{owner,admin,manager,operator,agent,finance,viewer}'))::uuid[])));
CREATE POLICY notifications_delete ON protector.notifications FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[]));

-- audit_log: owners and admins read their organization's history; nobody
-- writes it but the audit trigger (there are no write grants at all).
CREATE POLICY audit_log_select ON protector.audit_log FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector.member_organizations('{owner,admin}'))::uuid[]));
