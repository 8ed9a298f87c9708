-- test/ops/fixture_current.sql: data of what the release in development
-- adds, after test/ops/fixture.sql (which the previous release must also
-- load, for the upgrade test): a waiver with two versions, its service,
-- signatures with and without a booking (one by a guardian), reminders
-- claimed, sent and failed.  For the restore test: every new table holds
-- rows, some referring to rows of other tables.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT id AS org FROM protector.organizations WHERE slug = 'lockbox' \gset
SELECT protector.create_waiver(:'org', 'Vault waiver', 'Version one.', p_minimum_age => 8) ->> 'waiver_id' AS waiver \gset
SELECT protector.create_waiver(:'org', 'Vault waiver', 'Version two.', p_minimum_age => 8) IS NOT NULL AS v2;
UPDATE protector.services SET waiver_id = :'waiver' WHERE id = '0c000000-0000-4000-8000-0000000005a1';
SELECT protector.submit_waiver(:'waiver', 'Jonas Weber', '1980-02-29', 'Jonas Weber', 'Jonas Weber', b.id) IS NOT NULL AS adult,
	   protector.submit_waiver(:'waiver', 'Ida Weber', (current_date - interval '12 years')::date, 'Jonas Weber', 'Jonas Weber',
							   b.id, 'Jonas Weber') IS NOT NULL AS minor
FROM protector.bookings b WHERE b.idempotency_key = 'fixture/6';
SELECT protector.submit_waiver(:'waiver', 'Walk In', '1999-09-09', 'Walk In', 'walk in') IS NOT NULL AS unlinked;
-- the reminders of the confirmed bookings: one sent, one failed for now
UPDATE protector.booking_reminders SET next_attempt_at = now() - interval '1 minute'
WHERE id IN (SELECT id FROM protector.booking_reminders ORDER BY due_at LIMIT 2);
SELECT protector.complete_reminder(c.reminder_id, c.n = 1, 'mailbox full', c.attempt) IS NOT NULL AS completed
FROM (SELECT r.reminder_id, r.attempt, row_number() OVER (ORDER BY r.reminder_id) AS n
	  FROM protector.claim_due_reminders(2) r) c;
-- a merge and an erasure: the merged record is stored before the kept one
-- (merge_customers writes the kept one last), so a parallel restore that
-- sets customers aside puts the merged one back first
INSERT INTO protector.customers (id, organization_id, full_name, email) VALUES
	('0c000000-0000-4000-8000-00000000c003', :'org', 'Jonas W.', 'jonas.w@example.com'),
	('0c000000-0000-4000-8000-00000000c004', :'org', 'Ernie Erased', 'ernie@example.com');
SELECT protector.merge_customers('0c000000-0000-4000-8000-00000000c001', '0c000000-0000-4000-8000-00000000c003') IS NOT NULL AS merged;
SELECT protector.erase_customer('0c000000-0000-4000-8000-00000000c004') IS NOT NULL AS erased;
-- a customer record a trusted writer moved to another organization
-- (protector_internal.customer_moves, which its erasure reads)
INSERT INTO protector.organizations (id, name, slug, timezone, currency)
VALUES ('0c000000-0000-4000-8000-0000000000f9', 'Lockbox Nord', 'lockbox-nord', 'Europe/Berlin', 'EUR');
INSERT INTO protector.customers (id, organization_id, full_name)
VALUES ('0c000000-0000-4000-8000-00000000c005', :'org', 'Mo Moved');
UPDATE protector.customers SET organization_id = '0c000000-0000-4000-8000-0000000000f9'
WHERE id = '0c000000-0000-4000-8000-00000000c005';
SELECT count(*) = 1 AS moved FROM protector_internal.customer_moves;
