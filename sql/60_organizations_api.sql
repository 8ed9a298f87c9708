\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/60_organizations_api.sql: starting a new tenant.
--
-- Any signed-in user may insert an organization (policy
-- organizations_insert); the trigger below makes them its owner.  That
-- one write RLS cannot express (a membership in an organization one is
-- not yet a member of) is the trigger's, SECURITY DEFINER, internal.

-- An RPC's insert under an organization checked the caller's rights on
-- it, then found it gone: the organization was deleted meanwhile (under
-- READ COMMITTED; above, the foreign key answers 40001), and the insert's
-- foreign key said a bare 23503.  Called from a foreign_key_violation
-- handler, which re-raises the error when this returns: says
-- "organization not found" when the organization is gone as the caller
-- sees it: deleted, or the caller removed from it (a member's insert
-- naming their membership fails the same way), which the detail says
-- both, as the caller may not tell which.
CREATE FUNCTION protector_internal.refuse_deleted_organization(p_organization_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id) THEN
		PERFORM protector.raise('not_found', 'organization not found', 'It was deleted, or you were removed from it, while the request was under way.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_deleted_organization(uuid) IS
'Raises "organization not found" when p_organization_id is gone (an insert''s foreign key failed: deleted meanwhile); returns otherwise';

CREATE FUNCTION protector_internal.add_founding_owner()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
	v_schema text;
	v_table text;
	v_constraint text;
BEGIN
	IF v_user IS NOT NULL THEN
		-- (confirmed: they asked for it)
		INSERT INTO protector.members (organization_id, user_id, role, confirmed_at)
		VALUES (NEW.id, v_user, 'owner', pg_catalog.now());
	END IF;
	RETURN NULL;
EXCEPTION WHEN foreign_key_violation THEN
	-- the membership names a user Supabase Auth does not have (a token
	-- outliving its deleted account): said as create_organization said it,
	-- for a direct insert too (it met the members' key bare: a review)
	GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
	IF pg_catalog.concat_ws('.', v_schema, v_table, v_constraint) OPERATOR(pg_catalog.<>) 'protector.members.members_user_id_fkey' THEN
		RAISE;
	END IF;
	PERFORM protector.raise('forbidden', pg_catalog.format('user %s does not exist', v_user),
		'The request''s token names no user of auth.users: one deleted since, or one who never signed up.',
		'Sign in (again) as a user of auth.users.');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.add_founding_owner() IS
'Trigger: the user who creates an organization becomes its first owner';

CREATE TRIGGER add_founding_owner AFTER INSERT ON protector.organizations
	FOR EACH ROW EXECUTE FUNCTION protector_internal.add_founding_owner();

-- An organization's slug, however written, refused by name as
-- create_organization refuses it: a rename through the table met the
-- column's CHECK (23514) or its unique key, whose detail RLS hides
-- (23505 naming no slug).  A rename's taken slug is looked up as the
-- owner (the caller sees only their own organizations), share-locked so
-- that a rename or deletion freeing it is waited for, as the key waits.
-- Not an insert's: ON CONFLICT (slug) arbitrates on the key after the
-- BEFORE triggers (an upsert failed here); create_organization names a
-- taken slug itself, a direct insert meets the key.
CREATE FUNCTION protector_internal.check_slug()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.slug IS NULL OR NEW.slug OPERATOR(pg_catalog.!~) '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' THEN
		PERFORM protector.raise('invalid_parameter', 'slug is not a valid slug',
			pg_catalog.format('Got %L.', pg_catalog.left(NEW.slug, 80)),
			'Use 1 to 63 lower-case letters, digits and inner hyphens, e.g. "lockbox-berlin".');
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
		-- (under REPEATABLE READ the organization that held the slug in the
		-- snapshot, changed since, is a serialization failure here: a
		-- retry, named, sees whether it still holds it; left to the key,
		-- a slug still taken was refused with no name)
		BEGIN
			PERFORM FROM protector.organizations o
			WHERE o.slug OPERATOR(pg_catalog.=) NEW.slug AND o.id OPERATOR(pg_catalog.<>) NEW.id
			FOR KEY SHARE OF o;
		EXCEPTION WHEN serialization_failure THEN
			PERFORM protector.raise('retry', pg_catalog.format('the organization holding the slug "%s" changed while this ran', NEW.slug),
				NULL, 'Retry: the slug is then free, or named as taken.');
		END;
		IF FOUND THEN
			RAISE unique_violation USING
				MESSAGE = pg_catalog.format('the slug "%s" is already taken', NEW.slug),
				HINT = 'Choose another slug.';
		END IF;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_slug() IS
'Trigger: an organization''s slug is a slug (22023) and a rename''s not another organization''s (23505), named';

CREATE TRIGGER check_slug BEFORE INSERT OR UPDATE OF slug ON protector.organizations
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.organizations')) EXECUTE FUNCTION protector_internal.check_slug();

CREATE FUNCTION protector.create_organization(
	p_name text,
	p_slug text,
	p_timezone text DEFAULT 'UTC',
	p_currency text DEFAULT 'USD',
	p_full_name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_user uuid := protector.current_user_id();
	v_org protector.organizations;
	v_constraint text;
	v_schema text;
	v_table text;
BEGIN
	IF v_user IS NULL THEN
		PERFORM protector.raise('forbidden', 'sign in to create an organization',
			'The request carries no user (request.jwt.claims has no "sub").',
			'The founder becomes its owner: call it with the founder''s claims (their "sub" one of auth.users where it exists), as PostgREST does for a signed-in user.');
	END IF;
	-- (plain text, as every name protector keeps: no control or invisible
	-- direction characters)
	PERFORM protector_internal.check_text(p_name, 'p_name', 1, 200);
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
	-- (a name, if given, is a name: the membership refuses a blank one)
	IF p_full_name IS NOT NULL THEN
		PERFORM protector_internal.check_text(p_full_name, 'p_full_name', 1, 200);
	END IF;

	-- as the caller: RLS lets any signed-in user found an organization,
	-- and the add_founding_owner trigger makes them its owner; its id is the
	-- database's (no caller chooses one: a deleted tenant's id taken again
	-- would be handed its audit history), found again by the unique slug
	BEGIN
		INSERT INTO protector.organizations (name, slug, timezone, currency)
		VALUES (pg_catalog.btrim(p_name), p_slug, p_timezone, p_currency);
	EXCEPTION
		WHEN unique_violation THEN
			-- (another unique key, of a table an application's trigger
			-- writes, says what it says)
			GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
			IF pg_catalog.concat_ws('.', v_schema, v_table, v_constraint) OPERATOR(pg_catalog.<>) 'protector.organizations.organizations_slug_key' THEN
				RAISE;
			END IF;
			-- (one the caller sees is theirs: a retry of a call whose answer
			-- was lost, told so rather than sent to found another)
			SELECT o.id INTO v_org.id FROM protector.organizations o WHERE o.slug OPERATOR(pg_catalog.=) p_slug;
			IF v_org.id IS NOT NULL THEN
				RAISE unique_violation USING
					MESSAGE = pg_catalog.format('the slug "%s" is already taken', p_slug),
					DETAIL = pg_catalog.format('It is organization %s, one of yours (a call that succeeded before, retried?).', v_org.id),
					HINT = 'Read it (protector.organizations by its slug) rather than creating it again, or choose another p_slug.';
			END IF;
			RAISE unique_violation USING
				MESSAGE = pg_catalog.format('the slug "%s" is already taken', p_slug),
				HINT = 'Choose another p_slug.';
	END;
	-- (the newest of the slug: under REPEATABLE READ the snapshot may still
	-- show an organization that held the slug until a concurrent rename or
	-- deletion, older than this one, made now())
	SELECT * INTO STRICT v_org FROM protector.organizations o WHERE o.slug OPERATOR(pg_catalog.=) p_slug
	ORDER BY o.created_at DESC LIMIT 1;
	IF p_full_name IS NOT NULL THEN
		UPDATE protector.members m SET full_name = p_full_name
		WHERE m.organization_id OPERATOR(pg_catalog.=) v_org.id AND m.user_id OPERATOR(pg_catalog.=) v_user;
	END IF;
	RETURN pg_catalog.to_jsonb(v_org);
END
$$;
COMMENT ON FUNCTION protector.create_organization(text, text, text, text, text) IS
'Creates an organization with the calling user as its owner; returns the organization';
