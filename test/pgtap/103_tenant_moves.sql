-- No row points into another tenant, whoever writes it (docs/security.md):
-- a trusted writer (service_role) moving a row to another organization
-- left rows of the old one naming it (a review of trusted writes):
-- - a customer merged into another kept its merged_into when either
--   record moved (check_merged_unreferenced fired on merged_into only);
-- - a promo code kept naming a service moved away (check_promo_services
--   fired on the code's writes only).
BEGIN;
SELECT plan(5);

INSERT INTO protector.organizations (id, name, slug, currency) VALUES
	('0a103000-0000-4000-8000-000000000000', 'A', 'tenant-moves-a', 'EUR'),
	('0b103000-0000-4000-8000-000000000000', 'B', 'tenant-moves-b', 'EUR');
INSERT INTO protector.venues (id, organization_id, name, timezone) VALUES
	('0a103000-0000-4000-8000-0000000000a1', '0a103000-0000-4000-8000-000000000000', 'VA', 'UTC'),
	('0b103000-0000-4000-8000-0000000000b1', '0b103000-0000-4000-8000-000000000000', 'VB', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, duration) VALUES
	('0a103000-0000-4000-8000-0000000005a1', '0a103000-0000-4000-8000-000000000000', '0a103000-0000-4000-8000-0000000000a1', 'RA', '1 hour'),
	('0a103000-0000-4000-8000-0000000005a2', '0a103000-0000-4000-8000-000000000000', '0a103000-0000-4000-8000-0000000000a1', 'RB', '1 hour');
INSERT INTO protector.customers (id, organization_id, full_name) VALUES
	('0a103000-0000-4000-8000-00000000c001', '0a103000-0000-4000-8000-000000000000', 'Dup'),
	('0a103000-0000-4000-8000-00000000c002', '0a103000-0000-4000-8000-000000000000', 'Kept');
UPDATE protector.customers SET merged_into = '0a103000-0000-4000-8000-00000000c002' WHERE id = '0a103000-0000-4000-8000-00000000c001';
INSERT INTO protector.promo_codes (organization_id, discount_kind, discount_value, service_ids)
VALUES ('0a103000-0000-4000-8000-000000000000', 'percent', 10, ARRAY['0a103000-0000-4000-8000-0000000005a1']::uuid[]);

SELECT tests.authenticate_as_service_role();
SELECT throws_ok($$UPDATE protector.customers SET organization_id = '0b103000-0000-4000-8000-000000000000'
	WHERE id = '0a103000-0000-4000-8000-00000000c002'$$, '23503',
	'customer 0a103000-0000-4000-8000-00000000c002 cannot move to another organization: customer 0a103000-0000-4000-8000-00000000c001 was merged into it',
	'a customer others were merged into stays in their organization');
SELECT throws_ok($$UPDATE protector.customers SET organization_id = '0b103000-0000-4000-8000-000000000000'
	WHERE id = '0a103000-0000-4000-8000-00000000c001'$$, '23503',
	'customer 0a103000-0000-4000-8000-00000000c001 is merged into 0a103000-0000-4000-8000-00000000c002, which is no customer of its organization',
	'... and a merged record does not move away from the one it was merged into');
SELECT throws_ok($$UPDATE protector.services SET organization_id = '0b103000-0000-4000-8000-000000000000',
	venue_id = '0b103000-0000-4000-8000-0000000000b1' WHERE id = '0a103000-0000-4000-8000-0000000005a1'$$, '23503',
	'service 0a103000-0000-4000-8000-0000000005a1 cannot move to another organization: promo codes of its organization name it',
	'a service a promo code names stays in the code''s organization');
SELECT lives_ok($$UPDATE protector.services SET organization_id = '0b103000-0000-4000-8000-000000000000',
	venue_id = '0b103000-0000-4000-8000-0000000000b1' WHERE id = '0a103000-0000-4000-8000-0000000005a2'$$,
	'... one no code names moves');
SELECT is((SELECT count(*)::int FROM protector.customers c JOIN protector.customers t ON t.id = c.merged_into
		   WHERE t.organization_id <> c.organization_id), 0, 'no merged record names another tenant''s customer');
SELECT tests.clear_authentication();

SELECT * FROM finish();
ROLLBACK;
