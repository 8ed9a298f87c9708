\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/65_venues_api.sql: venue RPCs.

-- A new public embed key for a venue; the old one stops working at once
-- (the widget functions look venues up by the current key only).
CREATE FUNCTION protector.rotate_embed_key(p_venue_id uuid)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	v_key text;
BEGIN
	IF p_venue_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_venue_id must not be null');
	END IF;
	SELECT v.organization_id INTO v_org FROM protector.venues v
	WHERE v.id OPERATOR(pg_catalog.=) p_venue_id FOR UPDATE;
	IF NOT FOUND OR NOT (protector.caller_is_trusted()
						 OR v_org OPERATOR(pg_catalog.=) ANY (protector.member_organizations(
								'{owner,admin,manager,operator,agent,finance,viewer}'))) THEN
		PERFORM protector.raise('not_found', 'venue not found', 'It does not exist, or you may not see it.');
	END IF;
	IF NOT (protector.caller_is_trusted()
			OR v_org OPERATOR(pg_catalog.=) ANY (protector.member_organizations('{owner,admin}'))) THEN
		PERFORM protector.raise('forbidden', 'only owners and admins can rotate a venue''s embed key');
	END IF;
	UPDATE protector.venues v SET embed_key = protector.generate_embed_key()
	WHERE v.id OPERATOR(pg_catalog.=) p_venue_id
	RETURNING v.embed_key INTO v_key;
	RETURN v_key;
END
$$;
COMMENT ON FUNCTION protector.rotate_embed_key(uuid) IS
'Gives a venue a new embed key (owners and admins); the old key stops working at once';
