-- bench/audit_setup.sql: three identical bookings-like tables; one without
-- a trigger, one with an audit trigger in the common PL/pgSQL style
-- (to_jsonb(OLD)/to_jsonb(NEW), changed keys by comparing them, one INSERT
-- per row into a copy of protector.audit_log with the same indexes), one
-- with protector's C trigger.  Both triggers record the same facts.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS protector CASCADE;
DROP SCHEMA IF EXISTS bench_audit CASCADE;
CREATE SCHEMA bench_audit;

CREATE TABLE bench_audit.log (LIKE protector.audit_log INCLUDING ALL);

CREATE FUNCTION bench_audit.plpgsql_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	o jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
	n jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
	changed text[];
BEGIN
	IF TG_OP = 'UPDATE' THEN
		SELECT array_agg(k.key) INTO changed
		FROM jsonb_each(n) k WHERE o -> k.key IS DISTINCT FROM k.value;
		IF changed IS NULL THEN
			RETURN NULL;
		END IF;
	END IF;
	INSERT INTO bench_audit.log (organization_id, actor_uid, actor_role, table_name, record_id,
								 op, old_row, new_row, changed_columns)
	VALUES ((COALESCE(n, o) ->> 'organization_id')::uuid,
			(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid,
			current_user, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, COALESCE(n, o) ->> 'id',
			TG_OP, o, n, changed);
	RETURN NULL;
END
$$;

DO $$
DECLARE
	v text;
BEGIN
	FOREACH v IN ARRAY ARRAY['none', 'plpgsql', 'c'] LOOP
		EXECUTE format($t$
			CREATE TABLE bench_audit.%I (
				id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
				organization_id uuid NOT NULL,
				service_id uuid NOT NULL,
				during tstzrange NOT NULL,
				party_size integer NOT NULL,
				status text NOT NULL,
				unit_price numeric(12, 2),
				details jsonb NOT NULL DEFAULT '{}',
				notes text,
				created_at timestamptz NOT NULL DEFAULT now(),
				updated_at timestamptz NOT NULL DEFAULT now())$t$, 't_' || v);
	END LOOP;
END
$$;
-- no autovacuum run landing on one variant by chance
ALTER TABLE bench_audit.t_none SET (autovacuum_enabled = off);
ALTER TABLE bench_audit.t_plpgsql SET (autovacuum_enabled = off);
ALTER TABLE bench_audit.t_c SET (autovacuum_enabled = off);
ALTER TABLE bench_audit.log SET (autovacuum_enabled = off);
ALTER TABLE protector.audit_log SET (autovacuum_enabled = off);
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON bench_audit.t_plpgsql
	FOR EACH ROW EXECUTE FUNCTION bench_audit.plpgsql_audit();
SELECT protector.enable_audit('bench_audit.t_c');

-- one timed statement: 100k rows inserted, or all of them updated
CREATE FUNCTION bench_audit.run(p_variant text, p_phase text, p_rows integer)
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
BEGIN
	t0 := clock_timestamp();
	IF p_phase = 'insert' THEN
		EXECUTE format($q$
			INSERT INTO bench_audit.%I (organization_id, service_id, during, party_size, status, unit_price, details, notes)
			SELECT '0a000000-0000-4000-8000-000000000000', '0a000000-0000-4000-8000-0000000000a1',
				   tstzrange(timestamptz '2027-01-01' + i * interval '1 hour', timestamptz '2027-01-01' + i * interval '1 hour' + interval '50 minutes'),
				   1 + i %% 4, 'confirmed', 49.50, jsonb_build_object('source', 'bench', 'n', i), 'note ' || i
			FROM generate_series(1, %s) i$q$, 't_' || p_variant, p_rows);
	ELSE
		EXECUTE format($q$UPDATE bench_audit.%I SET status = 'completed', party_size = party_size + 1$q$, 't_' || p_variant);
	END IF;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;
