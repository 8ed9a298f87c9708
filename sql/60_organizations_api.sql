\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/60_organizations_api.sql: RPC to start a new tenant.

CREATE FUNCTION protector.create_organization(
	p_name text,
	p_slug text,
	p_timezone text DEFAULT 'UTC',
	p_currency text DEFAULT 'USD',
	p_full_name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
	v_org protector.organizations;
BEGIN
	IF v_user IS NULL THEN
		PERFORM protector.raise('forbidden', 'sign in to create an organization',
			'The request carries no user (request.jwt.claims has no "sub").');
	END IF;
	IF p_name IS NULL OR pg_catalog.length(pg_catalog.btrim(p_name)) NOT BETWEEN 1 AND 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_name must be 1 to 200 characters',
			'Got ' || COALESCE(pg_catalog.length(p_name)::text || ' characters', 'NULL') || '.');
	END IF;
	IF p_slug IS NULL OR p_slug OPERATOR(pg_catalog.!~) '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' THEN
		PERFORM protector.raise('invalid_parameter', 'p_slug is not a valid slug',
			pg_catalog.format('Got %L.', pg_catalog.left(p_slug, 80)),
			'Use 1 to 63 lower-case letters, digits and inner hyphens, e.g. "lockbox-berlin".');
	END IF;
	PERFORM protector.check_timezone(p_timezone, 'p_timezone');
	IF p_currency IS NULL OR p_currency OPERATOR(pg_catalog.!~) '^[A-Z]{3}$' THEN
		PERFORM protector.raise('invalid_parameter', 'p_currency must be an ISO 4217 code',
			pg_catalog.format('Got %L.', pg_catalog.left(p_currency, 80)),
			'Use three upper-case letters, e.g. "EUR".');
	END IF;
	IF pg_catalog.length(p_full_name) > 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_full_name must be at most 200 characters');
	END IF;

	BEGIN
		INSERT INTO protector.organizations (name, slug, timezone, currency)
		VALUES (pg_catalog.btrim(p_name), p_slug, p_timezone, p_currency)
		RETURNING * INTO v_org;
	EXCEPTION WHEN unique_violation THEN
		RAISE unique_violation USING
			MESSAGE = pg_catalog.format('the slug "%s" is already taken', p_slug),
			HINT = 'Choose another p_slug.';
	END;

	INSERT INTO protector.members (organization_id, user_id, role, full_name)
	VALUES (v_org.id, v_user, 'owner', p_full_name);

	RETURN pg_catalog.to_jsonb(v_org);
END
$$;
COMMENT ON FUNCTION protector.create_organization(text, text, text, text, text) IS
'Creates an organization with the calling user as its owner; returns the organization';
