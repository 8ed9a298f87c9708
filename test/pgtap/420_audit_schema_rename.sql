-- A schema renamed under an audited table, as a live-sessions review found
-- it: a renamed schema leaves its tables' relcache entries alone, so a
-- session that had written the table kept writing audit rows under the
-- old schema's name (get_audit_logs(p_table) then missed them), while new
-- sessions wrote the new one.
BEGIN;
SELECT plan(2);

CREATE SCHEMA app420;
CREATE TABLE app420.visits (id int PRIMARY KEY);
SELECT protector.enable_audit('app420.visits');
INSERT INTO app420.visits VALUES (1);
ALTER SCHEMA app420 RENAME TO crm420;
INSERT INTO crm420.visits VALUES (2);
SELECT is((SELECT table_name FROM protector.audit_log WHERE table_name LIKE '%.visits' AND record_id = '2'),
	'crm420.visits', 'this session''s next audit row names the schema as it is now (it said app420.visits)');
SELECT is((SELECT table_name FROM protector.audit_log WHERE table_name LIKE '%.visits' AND record_id = '1'),
	'app420.visits', 'the row written before keeps the name at the time of its change');

SELECT * FROM finish();
ROLLBACK;
