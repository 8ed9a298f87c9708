\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/83_waivers.sql: digital waivers (docs/waivers.md).
--
-- A waiver is a named template of an organization; its text lives in
-- versions.  A version nobody has signed may still be corrected; once
-- signed it can never change or go (a new text is a new version, the next
-- number).  New signatures take the latest version of an active waiver.
--
-- A submission is one participant's signature: typed signature, signer,
-- date of birth, the guardian who signs for a minor, the local date of
-- signing in the venue's time zone (the organization's without a booking),
-- and two SHA-256 digests: of the text signed, and of the submission
-- itself.  verify_waiver_signature recomputes both, proving that neither
-- the text nor the signature changed since.  Submissions are never edited;
-- one signed before its booking is known is linked to it once.
--
-- A service may require a waiver (services.waiver_id): its bookings go
-- in_progress only when as many distinct participants (name and date of
-- birth) as the party has signed it; the error names who is missing.

CREATE TABLE protector.waivers (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	name			text NOT NULL CHECK (length(btrim(name)) >= 1 AND length(name) <= 200),
	active			boolean NOT NULL DEFAULT true,
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	UNIQUE (organization_id, name)
);
COMMENT ON TABLE protector.waivers IS
'Waiver templates of an organization; their texts are waiver_versions';

CREATE TABLE protector.waiver_versions (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	waiver_id		uuid NOT NULL,
	-- set on insert: the next number of the waiver
	version			integer NOT NULL CHECK (version BETWEEN 1 AND 100000),
	title			text NOT NULL CHECK (length(btrim(title)) >= 1 AND length(title) <= 200),
	body			text NOT NULL CHECK (length(btrim(body)) >= 1 AND length(body) <= 100000),
	-- participants younger are refused; younger than guardian_under, a
	-- guardian signs for them
	minimum_age		integer NOT NULL DEFAULT 0 CHECK (minimum_age BETWEEN 0 AND 120),
	guardian_under	integer NOT NULL DEFAULT 18 CHECK (guardian_under BETWEEN 0 AND 120),
	-- hex SHA-256 of the body (UTF-8), set by the database
	body_sha256		text COLLATE "C" NOT NULL CHECK (body_sha256 ~ '^[0-9a-f]{64}$'),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	UNIQUE (waiver_id, version),
	FOREIGN KEY (organization_id, waiver_id) REFERENCES protector.waivers (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX waiver_versions_waiver_idx ON protector.waiver_versions (organization_id, waiver_id, version);
COMMENT ON TABLE protector.waiver_versions IS
'The texts of a waiver, numbered; a signed version never changes (a new text is a new version)';

CREATE TABLE protector.waiver_submissions (
	id				uuid PRIMARY KEY DEFAULT protector_internal.random_uuid(),
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	waiver_version_id uuid NOT NULL,
	-- the version's waiver, set by the database
	waiver_id		uuid NOT NULL,
	-- linked once (link_waiver_to_booking) when signed before the booking
	booking_id		uuid,
	-- the booking's customer (who holds the booking), by default
	customer_id		uuid,
	participant_name text NOT NULL CHECK (length(participant_name) BETWEEN 1 AND 200),
	participant_birth_date date NOT NULL,
	-- in whole years on signed_on, set by the database
	participant_age integer NOT NULL CHECK (participant_age BETWEEN 0 AND 150),
	signer_name		text NOT NULL CHECK (length(signer_name) BETWEEN 1 AND 200),
	signature		text NOT NULL CHECK (length(signature) BETWEEN 1 AND 200),
	-- the signer, when the participant is a minor
	guardian_name	text CHECK (length(guardian_name) BETWEEN 1 AND 200),
	-- set by the database: the time, its local date (the venue's), and the
	-- digests of the text signed and of this submission
	signed_at		timestamptz NOT NULL DEFAULT now(),
	signed_on		date NOT NULL,
	text_sha256		text COLLATE "C" NOT NULL CHECK (text_sha256 ~ '^[0-9a-f]{64}$'),
	submission_sha256 text COLLATE "C" NOT NULL CHECK (submission_sha256 ~ '^[0-9a-f]{64}$'),
	created_by		uuid DEFAULT protector.current_user_id(),
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, id),
	FOREIGN KEY (organization_id, waiver_version_id) REFERENCES protector.waiver_versions (organization_id, id),
	FOREIGN KEY (organization_id, waiver_id) REFERENCES protector.waivers (organization_id, id),
	-- a booking with signed waivers is cancelled, not deleted
	FOREIGN KEY (organization_id, booking_id) REFERENCES protector.bookings (organization_id, id),
	FOREIGN KEY (organization_id, customer_id)
		REFERENCES protector.customers (organization_id, id) ON DELETE SET NULL (customer_id)
);
CREATE INDEX waiver_submissions_version_idx ON protector.waiver_submissions (organization_id, waiver_version_id);
CREATE INDEX waiver_submissions_booking_idx ON protector.waiver_submissions (organization_id, booking_id);
CREATE INDEX waiver_submissions_waiver_idx ON protector.waiver_submissions (organization_id, waiver_id);
CREATE INDEX waiver_submissions_customer_idx ON protector.waiver_submissions (organization_id, customer_id);
CREATE INDEX waiver_submissions_signed_idx ON protector.waiver_submissions (organization_id, signed_on);
-- one signature per participant (name as typed, as names_match() compares
-- it: U+5F20 U+4F1F and U+7AE0 U+4F1F, which transliterate alike, are two
-- people; date of birth), booking and waiver
CREATE UNIQUE INDEX waiver_submissions_participant_idx ON protector.waiver_submissions
	(organization_id, booking_id, waiver_id, protector_internal.typed_name(participant_name), participant_birth_date)
	WHERE booking_id IS NOT NULL;
COMMENT ON TABLE protector.waiver_submissions IS
'Signed waivers: one participant''s typed signature of one waiver version, with digests that prove text and signature unchanged';

ALTER TABLE protector.services ADD COLUMN waiver_id uuid;
COMMENT ON COLUMN protector.services.waiver_id IS
'The waiver every participant must have signed before a booking of this service goes in_progress';
ALTER TABLE protector.services ADD CONSTRAINT services_waiver_fkey
	FOREIGN KEY (organization_id, waiver_id) REFERENCES protector.waivers (organization_id, id);
CREATE INDEX services_waiver_idx ON protector.services (organization_id, waiver_id);

-- A waiver services ask for stays in use: retired (active = false), it
-- takes no signature, and their bookings could never go in_progress; so
-- it is neither retired nor deleted while a service asks for it, and no
-- service is pointed at a retired one (judged after a service is
-- written, once RLS has passed it).  Services are read as the owner
-- (their names, of the caller's own organization's services); not when
-- an organization's deletion takes everything (a cascade runs inside a
-- foreign key's trigger).
CREATE FUNCTION protector_internal.keep_required_waiver()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_services text;
	v_active boolean;
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'services' THEN
		-- (a write that keeps the service's waiver is not judged)
		IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.waiver_id OPERATOR(pg_catalog.=) OLD.waiver_id THEN
			RETURN NEW;
		END IF;
		-- (the waiver's row share-locked: a retirement under way is waited
		-- for and then seen; one under REPEATABLE READ retries, 40001)
		SELECT w.active INTO v_active FROM protector.waivers w
		WHERE w.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND w.id OPERATOR(pg_catalog.=) NEW.waiver_id
		FOR SHARE;
		IF NOT v_active THEN
			PERFORM protector.raise('invalid_parameter', 'a service cannot ask for a retired waiver',
				pg_catalog.format('Waiver %s is retired (active is false): it takes no signatures.', NEW.waiver_id),
				'Ask for an active waiver, or none.');
		END IF;
		RETURN NEW;
	END IF;
	-- (a service pointed at it at the same moment share-locked this row:
	-- waited for, and under REPEATABLE READ told to retry when missed)
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.services s WHERE s.waiver_id OPERATOR(pg_catalog.=) $1', OLD.id,
		'a service was pointed at this waiver concurrently', NULL);
	v_services := protector_internal.names_text(ARRAY(
		SELECT s.name FROM protector.services s
		WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND s.waiver_id OPERATOR(pg_catalog.=) OLD.id
		ORDER BY s.name));
	IF v_services IS NOT NULL AND TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('waiver "%s" cannot be deleted while services ask for it', OLD.name),
			DETAIL = pg_catalog.format('Services: %s.', v_services),
			HINT = 'Point them to another waiver, or none (waiver_id null), first.';
	ELSIF v_services IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('waiver "%s" cannot be retired while services ask for it', OLD.name),
			pg_catalog.format('Services: %s.', v_services), 'Point them to another waiver, or none (waiver_id null), first.');
	END IF;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_required_waiver() IS
'Trigger: a waiver services ask for is neither retired nor deleted, and no service asks for a retired one';
-- (after the row passed the insert or update policy: a service written
-- into another organization meets the policy, and is never told whether
-- that organization's waiver is retired, nor waits for it)
CREATE TRIGGER keep_required_waiver AFTER INSERT OR UPDATE OF waiver_id ON protector.services
	FOR EACH ROW WHEN (NEW.waiver_id IS NOT NULL AND NOT protector_internal.restoring_into('protector.services'))
	EXECUTE FUNCTION protector_internal.keep_required_waiver();
CREATE TRIGGER keep_required_waiver_active BEFORE UPDATE OF active ON protector.waivers
	FOR EACH ROW WHEN (OLD.active AND NOT NEW.active AND NOT protector_internal.restoring_into('protector.waivers'))
	EXECUTE FUNCTION protector_internal.keep_required_waiver();
CREATE TRIGGER keep_required_waiver BEFORE DELETE ON protector.waivers
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring_into('protector.waivers'))
	EXECUTE FUNCTION protector_internal.keep_required_waiver();

-- (a waiver's name is shown with every signature: plain text, sql/67_catalog_api.sql)
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF name ON protector.waivers
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.waivers')) EXECUTE FUNCTION protector_internal.check_name();
-- (and in Unicode's composed form, however it is written: e-acute typed as one
-- character or as e and a combining accent is one name, create_waiver's
-- or a direct write's)
CREATE FUNCTION protector_internal.waiver_name_nfc()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NEW.name := pg_catalog.normalize(NEW.name, 'NFC');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.waiver_name_nfc() IS
'Trigger: a waiver''s name in Unicode''s composed form (NFC), so that names that look alike are one';
CREATE TRIGGER name_nfc BEFORE INSERT OR UPDATE OF name ON protector.waivers
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.waivers')) EXECUTE FUNCTION protector_internal.waiver_name_nfc();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.waivers
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.waiver_versions
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON protector.waiver_submissions
	FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();

-- Managers write templates; the desk and agents (for their bookings)
-- collect signatures; customers read the waivers of organizations they
-- are customers of and sign for their own bookings.
ALTER TABLE protector.waivers ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.waivers FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.waiver_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.waiver_versions FORCE ROW LEVEL SECURITY;
ALTER TABLE protector.waiver_submissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector.waiver_submissions FORCE ROW LEVEL SECURITY;
CREATE POLICY waivers_select ON protector.waivers FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[])
		   OR organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.collect'))::uuid[])
		   OR organization_id = ANY ((SELECT protector_internal.customer_organizations())::uuid[]));
CREATE POLICY waivers_insert ON protector.waivers FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waivers_update ON protector.waivers FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waivers_delete ON protector.waivers FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waiver_versions_select ON protector.waiver_versions FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[])
		   OR organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.collect'))::uuid[])
		   OR organization_id = ANY ((SELECT protector_internal.customer_organizations())::uuid[]));
CREATE POLICY waiver_versions_insert ON protector.waiver_versions FOR INSERT TO authenticated
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waiver_versions_update ON protector.waiver_versions FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]))
	WITH CHECK (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waiver_versions_delete ON protector.waiver_versions FOR DELETE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.manage'))::uuid[]));
CREATE POLICY waiver_submissions_select ON protector.waiver_submissions FOR SELECT TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[])
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])
		   OR booking_id IN (SELECT b.id FROM protector.bookings b
							 WHERE b.assigned_agent = (SELECT protector.current_user_id())
							   AND b.organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.collect'))::uuid[])));
-- (a booking is "visible" by the caller's own RLS on bookings: the desk's,
-- an agent's assigned ones, a customer's own)
CREATE POLICY waiver_submissions_insert ON protector.waiver_submissions FOR INSERT TO authenticated
	WITH CHECK ((organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.collect'))::uuid[])
				 AND (booking_id IN (SELECT b.id FROM protector.bookings b)
					  OR (booking_id IS NULL AND organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[]))))
				OR booking_id IN (SELECT b.id FROM protector.bookings b
								  WHERE b.customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])));
-- (what an insert may write, an update may: a signature without a booking
-- too, which a merge moves to the kept customer)
CREATE POLICY waiver_submissions_update ON protector.waiver_submissions FOR UPDATE TO authenticated
	USING (organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[])
		   OR customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[]))
	WITH CHECK ((organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.collect'))::uuid[])
				 AND (booking_id IN (SELECT b.id FROM protector.bookings b)
					  OR (booking_id IS NULL AND organization_id = ANY ((SELECT protector_internal.orgs_with('waivers.read'))::uuid[]))))
				OR booking_id IN (SELECT b.id FROM protector.bookings b
								  WHERE b.customer_id = ANY ((SELECT protector_internal.current_customer_ids())::uuid[])));
SELECT pg_catalog.pg_extension_config_dump('protector.waivers', '');
SELECT pg_catalog.pg_extension_config_dump('protector.waiver_versions', '');
SELECT pg_catalog.pg_extension_config_dump('protector.waiver_submissions', '');

-- versions --------------------------------------------------------------------

CREATE FUNCTION protector_internal.sha256_hex(p_text text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_text, 'UTF8')), 'hex');
END
$$;
COMMENT ON FUNCTION protector_internal.sha256_hex(text) IS
'Hex SHA-256 of a text''s UTF-8 bytes (PostgreSQL''s sha256())';

-- A version's number (the next of its waiver, the waiver locked so that
-- two new versions wait for each other) and digest; a signed version
-- neither changes nor goes.
CREATE FUNCTION protector_internal.prepare_waiver_version()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a new version only of writers the policy lets write it: the lock of
	-- the waiver below, and the checks of a body of megabytes under it,
	-- made an outsider's insert wait for another tenant's waiver, told
	-- whether it existed, and stalled that tenant's signatures; the policy
	-- refuses the others' row, for an id that does not exist as for one
	-- that does)
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' AND NOT protector_internal.requester_is_trusted()
	   AND NOT COALESCE(NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.manage')), false) THEN
		RETURN NEW;
	END IF;
	-- wait for signatures of it in progress (lock_waiver_version); the
	-- deletion of the whole organization takes everything with it
	IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN
		PERFORM pg_catalog.pg_advisory_xact_lock(protector_internal.lock_key(1886547720, OLD.id));
	END IF;
	IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT'
	   AND EXISTS (SELECT FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) OLD.organization_id)
	   AND EXISTS (SELECT FROM protector.waiver_submissions s
				   WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
					 AND s.waiver_version_id OPERATOR(pg_catalog.=) OLD.id) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('version %s of this waiver has been signed and cannot be %s', OLD.version,
							  CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'changed' END),
			NULL, 'A new text is a new version: create_waiver with the same name.');
	END IF;
	-- (a signature committed while this waited for the lock above, which a
	-- REPEATABLE READ snapshot does not see)
	IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN
		PERFORM protector_internal.retry_if_unseen(
			'SELECT pg_catalog.count(*) FROM protector.waiver_submissions s
			 WHERE s.organization_id OPERATOR(pg_catalog.=) (SELECT v.organization_id FROM protector.waiver_versions v
															 WHERE v.id OPERATOR(pg_catalog.=) $1)
			   AND s.waiver_version_id OPERATOR(pg_catalog.=) $1', OLD.id,
			'this version of the waiver was signed concurrently', pg_catalog.format('Version %s.', OLD.version));
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		RETURN OLD;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
	   AND (NEW.waiver_id, NEW.version) IS DISTINCT FROM (OLD.waiver_id, OLD.version) THEN
		PERFORM protector.raise('invalid_parameter', 'a version keeps its waiver and number');
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
		PERFORM FROM protector.waivers w
		WHERE w.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND w.id OPERATOR(pg_catalog.=) NEW.waiver_id
		FOR UPDATE;
		-- (none of the organization's: refused here, as an id nobody has.
		-- Left to the foreign key, the row met another tenant's versions of
		-- that id in the unique index first, waited for their new version
		-- in progress, and told a manager of another organization that the
		-- waiver existed and was being written)
		IF NOT FOUND AND NEW.organization_id IS NOT NULL AND NEW.waiver_id IS NOT NULL THEN
			PERFORM protector.raise('not_found', 'waiver not found', 'The organization has no waiver with this id.');
		END IF;
		-- the next number, whatever the insert said
		SELECT COALESCE(pg_catalog.max(v.version), 0) OPERATOR(pg_catalog.+) 1 INTO NEW.version
		FROM protector.waiver_versions v
		WHERE v.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND v.waiver_id OPERATOR(pg_catalog.=) NEW.waiver_id;
	END IF;
	PERFORM protector_internal.check_text(NEW.title, 'title', 1, 200);
	PERFORM protector_internal.check_integer(NEW.minimum_age, 'minimum_age', 0, 120);
	PERFORM protector_internal.check_integer(NEW.guardian_under, 'guardian_under', 0, 120);
	-- (Windows' line breaks, \r\n, are line breaks too)
	IF NEW.body IS NULL OR NOT protector_internal.lines_are_clean(NEW.body) THEN
		PERFORM protector.raise('invalid_parameter', 'body must be text without control characters other than line breaks and tabs');
	END IF;
	-- line breaks and no-break or wide spaces alone are no text to sign,
	-- nor combining marks on none of it (they show nothing), nor marks
	-- and symbols alone: a text to sign holds a word or a number
	IF NOT protector_internal.has_letters_or_digits(NEW.body) THEN
		PERFORM protector.raise('invalid_parameter', 'body must hold visible text',
			'It has no letter or digit of any script.');
	END IF;
	NEW.body_sha256 := protector_internal.sha256_hex(NEW.body);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.prepare_waiver_version() IS
'Trigger: a waiver version''s number (the next one) and SHA-256; refuses changing or deleting a signed version';

CREATE TRIGGER prepare_waiver_version BEFORE INSERT OR UPDATE OR DELETE ON protector.waiver_versions
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.waiver_versions'))
	EXECUTE FUNCTION protector_internal.prepare_waiver_version();

-- The waiver of p_organization_id named p_name gets a new version (made
-- with version 1 when there is none): the text a new signature takes.
CREATE FUNCTION protector.create_waiver(p_organization_id uuid, p_name text, p_body text,
										p_title text DEFAULT NULL, p_minimum_age integer DEFAULT 0,
										p_guardian_under integer DEFAULT 18)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	w protector.waivers;
	v protector.waiver_versions;
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'waivers.manage');
	PERFORM protector_internal.check_text(p_name, 'p_name', 1, 200);
	IF p_title IS NOT NULL THEN
		PERFORM protector_internal.check_text(p_title, 'p_title', 1, 200);
	END IF;
	PERFORM protector_internal.check_integer(p_minimum_age, 'p_minimum_age', 0, 120);
	PERFORM protector_internal.check_integer(p_guardian_under, 'p_guardian_under', 0, 120);
	-- (lines and paragraphs: no check_text; spaces at the ends count
	-- against the most, as there, and are counted first: btrim of 150 MB
	-- failed with XX000, out of memory)
	IF p_body IS NULL OR pg_catalog.length(p_body) OPERATOR(pg_catalog.>) 100000
	   OR pg_catalog.length(pg_catalog.btrim(p_body)) OPERATOR(pg_catalog.<) 1 THEN
		PERFORM protector.raise('invalid_parameter', 'p_body must be 1 to 100000 characters',
			pg_catalog.format('Got %s characters.', COALESCE(CASE WHEN pg_catalog.length(p_body) OPERATOR(pg_catalog.>) 100000
															   THEN pg_catalog.length(p_body)
															   ELSE pg_catalog.length(pg_catalog.btrim(p_body)) END::text, 'NULL, 0')));
	END IF;
	-- (in Unicode's composed form: e-acute typed as one character or as e and a
	-- combining accent is one name, as it looks; and its words apart by one
	-- space, whatever spaces were typed between them: a no-break space
	-- looks like any other)
	INSERT INTO protector.waivers AS x (organization_id, name)
	VALUES (p_organization_id,
			pg_catalog.normalize(pg_catalog.regexp_replace(protector_internal.trim_spaces(p_name),
				'[[:space:]\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+', ' ', 'g'), 'NFC'))
	ON CONFLICT (organization_id, name) DO UPDATE SET active = true
	RETURNING * INTO w;
	INSERT INTO protector.waiver_versions (organization_id, waiver_id, version, title, body, minimum_age, guardian_under)
	VALUES (p_organization_id, w.id, NULL, pg_catalog.btrim(COALESCE(p_title, p_name)), p_body, p_minimum_age, p_guardian_under)
	RETURNING * INTO v;
	RETURN pg_catalog.jsonb_build_object('waiver_id', w.id, 'name', w.name, 'version_id', v.id, 'version', v.version,
										 'title', v.title, 'minimum_age', v.minimum_age, 'guardian_under', v.guardian_under,
										 'body_sha256', v.body_sha256);
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.create_waiver(uuid, text, text, text, integer, integer) IS
'A new version of the organization''s waiver named p_name (version 1 of a new one); owners, admins and managers';

-- submissions ---------------------------------------------------------------

-- The local date of a signature in a time zone, and a participant's age
-- on it in whole years (born on 29 February: a year older on 1 March of
-- other years).
CREATE FUNCTION protector_internal.signing_age(p_birth_date date, p_signed_at timestamptz, p_timezone text,
											   OUT signed_on date, OUT age integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	signed_on := protector_internal.local_time(p_timezone, p_signed_at)::date;
	age := pg_catalog.date_part('year', pg_catalog.age(signed_on::timestamp, p_birth_date::timestamp))::integer;
END
$$;
COMMENT ON FUNCTION protector_internal.signing_age(date, timestamptz, text) IS
'The local date of p_signed_at in p_timezone and the age in whole years on it of someone born on p_birth_date';

-- What a submission's digest covers: everything signed, in a fixed form.
CREATE FUNCTION protector_internal.waiver_submission_digest(s protector.waiver_submissions)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN protector_internal.sha256_hex(pg_catalog.concat_ws(E'\n', 'protector waiver submission 1',
		s.id::text, s.organization_id::text, s.waiver_version_id::text, s.text_sha256,
		s.participant_name, pg_catalog.to_char(s.participant_birth_date, 'YYYY-MM-DD'), s.participant_age::text,
		s.signer_name, s.signature, COALESCE(s.guardian_name, ''),
		pg_catalog.to_char(s.signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
		pg_catalog.to_char(s.signed_on, 'YYYY-MM-DD')));
END
$$;
COMMENT ON FUNCTION protector_internal.waiver_submission_digest(protector.waiver_submissions) IS
'Hex SHA-256 of what a waiver submission records as signed (ids, text digest, participant, signer, signature, guardian, times)';

-- A submission's booking: of the service that asks for this waiver, not
-- cancelled, and not yet signed by this participant for this waiver.  As
-- the caller, under RLS (the unique index has the last word on duplicates).
CREATE FUNCTION protector_internal.check_waiver_booking(s protector.waiver_submissions)
RETURNS protector.bookings
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
	v_required uuid;
	v_name text := protector_internal.typed_name(s.participant_name);
BEGIN
	SELECT * INTO b FROM protector.bookings x
	WHERE x.organization_id OPERATOR(pg_catalog.=) s.organization_id AND x.id OPERATOR(pg_catalog.=) s.booking_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It does not exist, or you may not see it.');
	END IF;
	SELECT sv.waiver_id INTO v_required FROM protector.services sv
	WHERE sv.organization_id OPERATOR(pg_catalog.=) b.organization_id AND sv.id OPERATOR(pg_catalog.=) b.service_id;
	IF v_required IS DISTINCT FROM s.waiver_id THEN
		PERFORM protector.raise('invalid_parameter', 'this booking''s service does not ask for this waiver',
			CASE WHEN v_required IS NULL THEN 'The service asks for no waiver.'
				 ELSE pg_catalog.format('It asks for waiver %s.', v_required) END);
	END IF;
	IF b.status OPERATOR(pg_catalog.=) ANY ('{cancelled,no_show}'::protector.booking_status[]) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('a %s booking takes no more waivers', b.status));
	END IF;
	IF EXISTS (SELECT FROM protector.waiver_submissions o
			   WHERE o.organization_id OPERATOR(pg_catalog.=) s.organization_id
				 AND o.booking_id OPERATOR(pg_catalog.=) s.booking_id AND o.waiver_id OPERATOR(pg_catalog.=) s.waiver_id
				 AND o.id OPERATOR(pg_catalog.<>) s.id
				 AND protector_internal.typed_name(o.participant_name) OPERATOR(pg_catalog.=) v_name
				 AND o.participant_birth_date OPERATOR(pg_catalog.=) s.participant_birth_date) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s has already signed the waiver of this booking', s.participant_name));
	END IF;
	RETURN b;
END
$$;
COMMENT ON FUNCTION protector_internal.check_waiver_booking(protector.waiver_submissions) IS
'Refuses a submission''s booking whose service asks for another waiver (or none), that is cancelled, or that this participant has signed this waiver for already';

-- The version a signature takes, as the caller sees it, with its waiver's
-- state; a shared transaction-level advisory lock on it (class id
-- 1886547720) keeps it from changing until the signature commits
-- (prepare_waiver_version takes the exclusive one before it looks for
-- signatures).
CREATE FUNCTION protector_internal.lock_waiver_version(p_organization_id uuid, p_version_id uuid,
													   OUT version protector.waiver_versions, OUT active boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.lock_seen(1886547720, p_version_id, true);
	SELECT v.* INTO version FROM protector.waiver_versions v
	WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id AND v.id OPERATOR(pg_catalog.=) p_version_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'waiver not found', 'It does not exist, or you may not see it.');
	END IF;
	SELECT w.active INTO active FROM protector.waivers w WHERE w.id OPERATOR(pg_catalog.=) version.waiver_id;
END
$$;
COMMENT ON FUNCTION protector_internal.lock_waiver_version(uuid, uuid) IS
'The waiver version a signature takes (as the caller sees it), kept from changing until the signature commits, and whether its waiver is active';

-- Whether the caller may sign in the organization: the map's collectors,
-- trusted callers, or the customer of the booking (as the caller, under
-- RLS).  Everyone else learns nothing: "waiver not found".
CREATE FUNCTION protector_internal.may_sign(p_organization_id uuid, p_booking_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN protector_internal.caller_is_trusted()
		   OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.collect'))
		   OR EXISTS (SELECT FROM protector.bookings b
					  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
						AND b.id OPERATOR(pg_catalog.=) p_booking_id
						AND b.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()));
END
$$;
COMMENT ON FUNCTION protector_internal.may_sign(uuid, uuid) IS
'True when the caller may sign waivers in the organization: collectors by the map, trusted callers, the booking''s own customer';

-- A customer signs for their own booking's party, not without end: every
-- signature is a legal record nobody but service_role deletes (a customer
-- wrote a thousand on a party of two).  At most the booking's party_size
-- signatures of the waiver, counted as the owner (every signature of the
-- booking, whoever took it) under a lock of the booking's (class id
-- 1886547722), which the desk's signatures and links of the booking
-- take shared, so that signatures at the same moment count each other,
-- the desk's too (a trusted writer's are neither counted nor locked).
-- The desk, which may sign changes of participants, is not held to it,
-- nor a trusted caller, nor a collector on a booking not theirs; a member
-- who is the booking's customer (an agent's own booking) is.  Asked of a
-- new signature of a booking and of one linked to a booking (a walk-in
-- signature the desk wrote with the customer's record, linked by them to
-- their booking, was a signature beyond its party).
CREATE FUNCTION protector_internal.check_customer_signatures(p_organization_id uuid, p_booking_id uuid, p_waiver_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_party integer;
	v_theirs boolean;
	v_agent uuid;
	v_signed bigint;
BEGIN
	IF p_booking_id IS NULL THEN
		RETURN;
	END IF;
	-- a trusted writer (an import, a server job) is not counted and takes
	-- no lock (one per booking ran a bulk write out of lock memory: a
	-- review)
	IF protector_internal.requester_is_trusted() THEN
		RETURN;
	END IF;
	-- the booking, read once: of that organization only (anyone else, a
	-- stranger or a desk naming another tenant's booking, held its
	-- customer's signing back until their transaction ended: an attack
	-- review)
	SELECT b.party_size, COALESCE(b.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()), false),
		   b.assigned_agent
	INTO v_party, v_theirs, v_agent
	FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.id OPERATOR(pg_catalog.=) p_booking_id;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	-- the desk's signatures under the booking's lock, shared, so that a
	-- customer's count, under it exclusively, waits for the desk's
	-- signature of the same moment (it did not, and a party of 2 had 3
	-- signatures: a review), while desks signing several bookings in one
	-- transaction never wait for each other; so are its agent's (they
	-- took none, and a customer's at the same moment went past the party:
	-- a review)
	IF p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.read'))
	   OR (NOT v_theirs AND v_agent OPERATOR(pg_catalog.=) protector.current_user_id()) THEN
		PERFORM pg_catalog.pg_advisory_xact_lock_shared(protector_internal.lock_key(1886547722, p_booking_id));
		RETURN;
	END IF;
	-- (nobody else's, whose row the policies refuse)
	IF NOT v_theirs THEN
		RETURN;
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(protector_internal.lock_key(1886547722, p_booking_id));
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.waiver_submissions s WHERE s.booking_id OPERATOR(pg_catalog.=) $1',
		p_booking_id, 'a signature of this booking was written concurrently', NULL);
	SELECT pg_catalog.count(*) INTO v_signed FROM protector.waiver_submissions s
	WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id AND s.booking_id OPERATOR(pg_catalog.=) p_booking_id
	  AND s.waiver_id OPERATOR(pg_catalog.=) p_waiver_id;
	IF v_signed OPERATOR(pg_catalog.>=) v_party THEN
		PERFORM protector.raise('invalid_parameter', 'every participant of this booking has signed this waiver',
			pg_catalog.format('Its party of %s has %s signatures.', v_party, v_signed),
			'A change of participants is signed at the desk; a larger party is booked first (party_size).');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_customer_signatures(uuid, uuid, uuid) IS
'A customer''s new or linked signature on their booking: 22023 once the waiver has as many signatures on the booking as its party_size (not for the desk, trusted callers, or bookings not the caller''s)';
GRANT EXECUTE ON FUNCTION protector_internal.check_customer_signatures(uuid, uuid, uuid) TO authenticated, service_role;

-- A new submission as the database records it: the text's digest, the
-- signing time and local date, the participant's age on it, checked
-- against the version's minimum age and guardian age, and the digest of
-- the whole.  Runs as the caller and asks who may sign first, so that no
-- check below answers anybody else.
CREATE FUNCTION protector_internal.prepare_waiver_submission()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.waiver_versions;
	v_locked record;
	b protector.bookings;
	v_active boolean;
	v_timezone text;
	v_minor boolean;
BEGIN
	IF NOT protector_internal.may_sign(NEW.organization_id, NEW.booking_id) THEN
		PERFORM protector.raise('not_found', 'waiver not found', 'It does not exist, or you may not see it.');
	END IF;
	SELECT l.* INTO v_locked FROM protector_internal.lock_waiver_version(NEW.organization_id, NEW.waiver_version_id) l;
	v := v_locked.version;
	v_active := v_locked.active;
	IF NOT v_active THEN
		PERFORM protector.raise('invalid_parameter', 'this waiver is no longer in use', NULL,
			'Those who may manage waivers (waivers.manage) activate it again with a new version (create_waiver with its name).');
	END IF;
	NEW.waiver_id := v.waiver_id;
	-- new signatures take the latest version (a client could name an older
	-- one, whose text the venue has since replaced, and it counted)
	IF EXISTS (SELECT FROM protector.waiver_versions x
			   WHERE x.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
				 AND x.waiver_id OPERATOR(pg_catalog.=) v.waiver_id AND x.version OPERATOR(pg_catalog.>) v.version) THEN
		PERFORM protector.raise('invalid_parameter', 'a signature takes the waiver''s latest version',
			pg_catalog.format('Version %s of waiver %s has been replaced.', v.version, v.waiver_id),
			'Sign the latest version (submit_waiver takes it).');
	END IF;
	PERFORM protector_internal.check_text(NEW.participant_name, 'participant_name', 1, 200);
	PERFORM protector_internal.check_text(NEW.signer_name, 'signer_name', 1, 200);
	PERFORM protector_internal.check_text(NEW.signature, 'signature', 1, 200);
	IF NEW.guardian_name IS NOT NULL THEN
		PERFORM protector_internal.check_text(NEW.guardian_name, 'guardian_name', 1, 200);
	END IF;
	NEW.participant_name := pg_catalog.btrim(NEW.participant_name);
	-- (a name of marks or fillers only has nothing to tell participants
	-- apart by: each signature of it would be a new participant)
	IF protector_internal.typed_name(NEW.participant_name) IS NULL
	   OR NOT protector_internal.has_letters_or_digits(protector_internal.typed_name(NEW.participant_name)) THEN
		PERFORM protector.raise('invalid_parameter', 'participant_name has no letters or digits to compare',
			'A participant is told apart from the others by name: type their name.');
	END IF;
	-- (nor does a signer or guardian of marks only name anyone whose
	-- consent the signature records: "." signed for a child as "."; the
	-- typed signature matches the signer's name)
	IF NOT COALESCE(protector_internal.has_letters_or_digits(protector_internal.typed_name(NEW.signer_name)), false) THEN
		PERFORM protector.raise('invalid_parameter', 'signer_name has no letters or digits',
			'A signature records who consented: type the signer''s name.');
	END IF;
	IF NEW.guardian_name IS NOT NULL
	   AND NOT COALESCE(protector_internal.has_letters_or_digits(protector_internal.typed_name(NEW.guardian_name)), false) THEN
		PERFORM protector.raise('invalid_parameter', 'guardian_name has no letters or digits',
			'A signature records who consented: type the guardian''s name.');
	END IF;
	NEW.signer_name := pg_catalog.btrim(NEW.signer_name);
	NEW.signature := pg_catalog.btrim(NEW.signature);
	NEW.guardian_name := pg_catalog.btrim(NEW.guardian_name);
	IF NOT protector_internal.names_match(NEW.signature, NEW.signer_name) THEN
		PERFORM protector.raise('invalid_parameter', 'the typed signature must be the signer''s name',
			pg_catalog.format('Signed "%s" for %s.', pg_catalog.left(NEW.signature, 100), pg_catalog.left(NEW.signer_name, 100)));
	END IF;

	-- the local date of signing: the booking's venue's, else the
	-- organization's; a booking's signature is of the booking's customer
	-- (the time of signing, after the version's lock: the transaction's
	-- start dated a signature before the text it seals, when a new version
	-- committed while it waited)
	NEW.signed_at := pg_catalog.clock_timestamp();
	IF NEW.booking_id IS NOT NULL THEN
		b := protector_internal.check_waiver_booking(NEW);
		-- (the booking's customer's, for their party; the desk, who may see
		-- every signature, is not held to it, and an agent who is also the
		-- booking's customer is a customer here)
		PERFORM protector_internal.check_customer_signatures(NEW.organization_id, NEW.booking_id, NEW.waiver_id);
		v_timezone := protector_internal.venue_timezone(b.organization_id, b.venue_id);
		NEW.customer_id := b.customer_id;
	ELSE
		v_timezone := protector_internal.venue_timezone(NEW.organization_id, NULL);
	END IF;
	SELECT a.signed_on INTO NEW.signed_on FROM protector_internal.signing_age(NULL, NEW.signed_at, v_timezone) a;
	IF NEW.participant_birth_date IS NULL OR NEW.participant_birth_date OPERATOR(pg_catalog.>) NEW.signed_on
	   OR NEW.participant_birth_date OPERATOR(pg_catalog.<) (NEW.signed_on OPERATOR(pg_catalog.-) 54787) THEN
		PERFORM protector.raise('invalid_parameter', 'participant_birth_date must be a date of the last 150 years, not in the future',
			pg_catalog.format('Got %s; today is %s in %s.', protector_internal.iso_text(NEW.participant_birth_date),
							  protector_internal.iso_text(NEW.signed_on), v_timezone));
	END IF;
	SELECT a.age INTO NEW.participant_age
	FROM protector_internal.signing_age(NEW.participant_birth_date, NEW.signed_at, v_timezone) a;
	IF NEW.participant_age OPERATOR(pg_catalog.<) v.minimum_age THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s is %s; this waiver is for participants of at least %s', NEW.participant_name,
							  NEW.participant_age, v.minimum_age));
	END IF;
	v_minor := NEW.participant_age OPERATOR(pg_catalog.<) v.guardian_under;
	IF v_minor AND (NEW.guardian_name IS NULL
					OR NOT protector_internal.names_match(NEW.guardian_name, NEW.signer_name)
					OR protector_internal.names_match(NEW.guardian_name, NEW.participant_name)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s is %s: a parent or guardian must sign for them', NEW.participant_name, NEW.participant_age),
			pg_catalog.format('Participants under %s need a guardian, who signs as signer_name and is named in guardian_name.',
							  v.guardian_under));
	ELSIF NOT v_minor AND (NEW.guardian_name IS NOT NULL
						   OR NOT protector_internal.names_match(NEW.signer_name, NEW.participant_name)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s is %s and signs for themselves', NEW.participant_name, NEW.participant_age),
			'The signer of an adult participant''s waiver is the participant, without a guardian.');
	END IF;
	NEW.text_sha256 := protector_internal.sha256_hex(v.body);
	NEW.submission_sha256 := protector_internal.waiver_submission_digest(NEW);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.prepare_waiver_submission() IS
'Trigger (BEFORE INSERT): checks a signature (who may sign, typed name, age on the local signing date, guardian for minors) and records its digests';

-- a venue's time zone (p_venue_id NULL: the organization's), as the
-- caller sees them
CREATE FUNCTION protector_internal.venue_timezone(p_organization_id uuid, p_venue_id uuid)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN COALESCE((SELECT v.timezone FROM protector.venues v
					 WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id AND v.id OPERATOR(pg_catalog.=) p_venue_id),
					(SELECT o.timezone FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id),
					'UTC');
END
$$;
COMMENT ON FUNCTION protector_internal.venue_timezone(uuid, uuid) IS
'The time zone of a venue of the organization, or of the organization when p_venue_id is NULL';

CREATE TRIGGER prepare_waiver_submission BEFORE INSERT ON protector.waiver_submissions
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.waiver_submissions'))
	EXECUTE FUNCTION protector_internal.prepare_waiver_submission();

-- A signature whose REPEATABLE READ or SERIALIZABLE snapshot predates a
-- change of its version (committed before the signature took the version's
-- lock, so it did not wait) would record the digest of the text it saw
-- beside a version that holds another, for good: 40001, as the other
-- order is (prepare_waiver_version).  As protector's owner: the version's
-- row under the latest snapshot is the owner's to read (count_now), and a
-- trigger function cannot be called by anyone.  Named to fire after
-- prepare_waiver_submission, which takes the lock.
CREATE FUNCTION protector_internal.recheck_waiver_version()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.max((v.xmin::text)::bigint) FROM protector.waiver_versions v WHERE v.id OPERATOR(pg_catalog.=) $1',
		NEW.waiver_version_id, 'this version of the waiver was changed concurrently',
		'The signature would record the text as it was, beside a version that holds another.');
	-- (and a newer version, or the waiver retired, which the snapshot
	-- misses: a signature takes the latest version of a waiver in use)
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.waiver_versions v WHERE v.waiver_id OPERATOR(pg_catalog.=) $1',
		NEW.waiver_id, 'the waiver was changed concurrently', 'A new version was made, or the waiver was retired.');
	PERFORM protector_internal.retry_if_unseen(
		'SELECT pg_catalog.count(*) FROM protector.waivers w WHERE w.id OPERATOR(pg_catalog.=) $1 AND w.active',
		NEW.waiver_id, 'the waiver was changed concurrently', 'A new version was made, or the waiver was retired.');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.recheck_waiver_version() IS
'Trigger: under a transaction snapshot, 40001 when the version signed changed since the snapshot';
CREATE TRIGGER recheck_waiver_version BEFORE INSERT ON protector.waiver_submissions
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.waiver_submissions')
					   AND pg_catalog.current_setting('transaction_isolation') <> 'read committed')
	EXECUTE FUNCTION protector_internal.recheck_waiver_version();

-- A signature linked to a booking the caller does not see is "booking not
-- found", as to a made-up one, before guard_waiver_submission (SECURITY
-- DEFINER, past RLS) checks the booking: a customer linking a walk-in
-- signature of theirs to another customer's booking was told whether it
-- was cancelled and which waiver its service asks for, and waited for
-- that customer's signing under way, before the policy refused the row (a
-- review of checks before the policy).  As the caller: the bookings their
-- policies show them (the desk's, an agent's, a customer's own).
CREATE FUNCTION protector_internal.check_waiver_link()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_own boolean;
BEGIN
	IF protector_internal.caller_is_trusted() THEN
		RETURN NEW;
	END IF;
	-- (whether they see it and whether it is theirs, in one read: a
	-- handover committed between two let a customer fall through to the
	-- organization's check)
	SELECT COALESCE(b.customer_id OPERATOR(pg_catalog.=) ANY (protector_internal.current_customer_ids()), false) INTO v_own
	FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND b.id OPERATOR(pg_catalog.=) NEW.booking_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It does not exist, or you may not see it.');
	END IF;
	-- ... and one they see is theirs to link only as the update policy
	-- lets them: their own, or as a collector (a finance member with a
	-- walk-in signature of their own waited for the booking's signing
	-- under way before the policy refused: a review)
	IF NOT v_own THEN
		PERFORM protector_internal.authorize(NEW.organization_id, 'waivers.collect');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_waiver_link() IS
'Trigger: a signature is linked only to a booking the caller sees ("booking not found" otherwise, as for a made-up one), their own or as a collector (42501 otherwise)';
CREATE TRIGGER check_waiver_link BEFORE UPDATE OF booking_id ON protector.waiver_submissions
	FOR EACH ROW WHEN (NEW.booking_id IS NOT NULL AND NEW.booking_id IS DISTINCT FROM OLD.booking_id
					   AND NOT protector_internal.restoring_into('protector.waiver_submissions'))
	EXECUTE FUNCTION protector_internal.check_waiver_link();

-- A signature is never edited: only its booking is set, once (and with it
-- the booking's customer), and its customer follows a merge.
CREATE FUNCTION protector_internal.guard_waiver_submission()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b protector.bookings;
BEGIN
	IF (NEW.id, NEW.organization_id, NEW.waiver_version_id, NEW.waiver_id, NEW.participant_name, NEW.participant_birth_date,
		NEW.participant_age, NEW.signer_name, NEW.signature, NEW.guardian_name, NEW.signed_at, NEW.signed_on,
		NEW.text_sha256, NEW.submission_sha256, NEW.created_by, NEW.created_at)
	   IS DISTINCT FROM
	   (OLD.id, OLD.organization_id, OLD.waiver_version_id, OLD.waiver_id, OLD.participant_name, OLD.participant_birth_date,
		OLD.participant_age, OLD.signer_name, OLD.signature, OLD.guardian_name, OLD.signed_at, OLD.signed_on,
		OLD.text_sha256, OLD.submission_sha256, OLD.created_by, OLD.created_at) THEN
		PERFORM protector.raise('invalid_parameter', 'a signed waiver cannot be changed',
			NULL, 'Only its booking is set, once (link_waiver_to_booking).');
	END IF;
	-- (its customer follows a merge of customer records only: the trigger
	-- keep_waiver_customer)
	IF NEW.booking_id IS DISTINCT FROM OLD.booking_id THEN
		IF OLD.booking_id IS NOT NULL THEN
			PERFORM protector.raise('invalid_parameter', 'this waiver is already linked to a booking',
				pg_catalog.format('It is linked to booking %s.', OLD.booking_id));
		END IF;
		b := protector_internal.check_waiver_booking(NEW);
		-- (a customer linking to their booking: within its party, as when
		-- they sign for it)
		PERFORM protector_internal.check_customer_signatures(NEW.organization_id, NEW.booking_id, NEW.waiver_id);
		NEW.customer_id := b.customer_id;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_waiver_submission() IS
'Trigger: a signed waiver never changes; its booking is set once (checked like a new one, its customer with it), its customer follows merges';

CREATE TRIGGER guard_waiver_submission BEFORE UPDATE ON protector.waiver_submissions
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.waiver_submissions'))
	EXECUTE FUNCTION protector_internal.guard_waiver_submission();

-- A signed waiver's customer changes with a merge of customer records
-- only, which moves it as protector's owner (merge_customers'
-- mark_merged); the WHEN clause runs as the statement's role, which inside
-- that function is the owner (guard_waiver_submission, SECURITY DEFINER,
-- cannot tell).
CREATE FUNCTION protector_internal.keep_waiver_customer()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector.raise('invalid_parameter', 'a signed waiver cannot be changed',
		NULL, 'Its customer changes only with a merge of customer records (merge_customers).');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_waiver_customer() IS
'Trigger: a signed waiver''s customer changes with a merge of customer records only';
CREATE TRIGGER keep_waiver_customer BEFORE UPDATE OF customer_id ON protector.waiver_submissions
	FOR EACH ROW WHEN (NEW.customer_id IS DISTINCT FROM OLD.customer_id AND NEW.booking_id IS NOT DISTINCT FROM OLD.booking_id
					   AND NOT protector_internal.caller_is_trusted() AND NOT protector_internal.restoring_into('protector.waiver_submissions'))
	EXECUTE FUNCTION protector_internal.keep_waiver_customer();

CREATE FUNCTION protector.submit_waiver(p_waiver_id uuid, p_participant_name text, p_participant_birth_date date,
										p_signer_name text, p_signature text, p_booking_id uuid DEFAULT NULL,
										p_guardian_name text DEFAULT NULL, p_body_sha256 text DEFAULT NULL)
RETURNS protector.waiver_submissions
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.waiver_versions;
	s protector.waiver_submissions;
	v_org uuid;
	v_constraint text;
	v_schema text;
	v_table text;
BEGIN
	IF p_waiver_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_waiver_id must not be null');
	END IF;
	-- (a digest that is none is bad input, not a text changed since: a
	-- client retrying on 40001 would have tried for ever)
	IF p_body_sha256 OPERATOR(pg_catalog.!~) '^[0-9A-Fa-f]{64}$' THEN
		PERFORM protector.raise('invalid_parameter', 'p_body_sha256 must be 64 hexadecimal digits',
			pg_catalog.format('Got "%s".', pg_catalog.left(p_body_sha256, 80)),
			'Pass the body_sha256 the waiver''s reads give with its text.');
	END IF;
	-- the booking first: whoever sees it and may not collect is told so
	IF p_booking_id IS NOT NULL THEN
		v_org := protector_internal.authorize_row('protector.bookings', p_booking_id, 'waivers.collect', 'booking', false, true);
	END IF;
	-- the latest version, as the caller may see it, locked (shared:
	-- lock_waiver_version) and read again: one corrected, replaced or
	-- deleted while this waited for its lock was told "waiver not found"
	-- or "replaced", not to retry.  With p_body_sha256 the text shown has
	-- changed (40001); without, the latest text is signed.
	FOR i IN 1..3 LOOP
		SELECT * INTO v FROM protector.waiver_versions x
		WHERE x.waiver_id OPERATOR(pg_catalog.=) p_waiver_id ORDER BY x.version DESC LIMIT 1;
		IF NOT FOUND OR v.organization_id IS DISTINCT FROM COALESCE(v_org, v.organization_id) THEN
			PERFORM protector.raise('not_found', 'waiver not found', 'It does not exist, or you may not see it.');
		END IF;
		PERFORM protector_internal.lock_seen(1886547720, v.id, true);
		-- (still the latest, with the same text)
		EXIT WHEN COALESCE((SELECT x.id OPERATOR(pg_catalog.=) v.id AND x.body_sha256 OPERATOR(pg_catalog.=) v.body_sha256
							FROM protector.waiver_versions x
							WHERE x.waiver_id OPERATOR(pg_catalog.=) p_waiver_id
							ORDER BY x.version DESC LIMIT 1), false);
		IF p_body_sha256 IS NOT NULL OR i OPERATOR(pg_catalog.=) 3 THEN
			PERFORM protector.raise('retry', 'the waiver''s text has changed since it was shown',
				pg_catalog.format('Version %s of waiver %s was changed, replaced or deleted while the signature waited for it.',
								  v.version, p_waiver_id),
				'Show the latest text again (its body_sha256 comes with it), then sign.');
		END IF;
	END LOOP;
	IF p_booking_id IS NULL THEN
		-- (a customer, no member, sees the waiver: told what to do, not
		-- that it is not found)
		IF NOT protector_internal.caller_is_trusted()
		   AND v.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.customer_organizations())
		   AND v.organization_id OPERATOR(pg_catalog.<>) ALL (protector_internal.orgs_with('waivers.collect')) THEN
			PERFORM protector.raise('forbidden', 'a waiver without a booking is collected by the desk',
				'A customer signs a waiver for their own booking.', 'Pass p_booking_id.');
		END IF;
		PERFORM protector_internal.authorize(v.organization_id, 'waivers.collect', 'waiver');
		-- without a booking the signature is the desk's to keep (agents
		-- see only the signatures of their bookings)
		IF NOT (protector_internal.caller_is_trusted()
				OR v.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.read'))) THEN
			PERFORM protector.raise('forbidden', 'a waiver without a booking is collected by the desk',
				'Roles that may see the signed submissions (waivers.read) collect them without a booking.',
				'Pass p_booking_id: agents collect waivers for the bookings assigned to them.');
		END IF;
	END IF;
	-- the age, local date and digests are the database's (prepare_waiver_submission)
	BEGIN
		INSERT INTO protector.waiver_submissions (organization_id, waiver_version_id, booking_id, participant_name,
												  participant_birth_date, signer_name, signature, guardian_name)
		VALUES (v.organization_id, v.id, p_booking_id, p_participant_name, p_participant_birth_date, p_signer_name, p_signature,
				p_guardian_name)
		RETURNING * INTO s;
	EXCEPTION WHEN unique_violation THEN
		GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
		PERFORM protector_internal.refuse_second_signature(v_schema, v_table, v_constraint, p_participant_name);
		RAISE;
	WHEN foreign_key_violation THEN
		-- (the booking deleted while this signed, or handed to another
		-- customer and its last one deleted: reviews)
		IF p_booking_id IS NOT NULL THEN
			GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
			PERFORM protector_internal.refuse_changed_signature_customer(v_constraint);
			PERFORM protector_internal.refuse_deleted_booking(p_booking_id, 'It was deleted while the waiver was signed.');
		END IF;
		RAISE;
	END;
	-- the text the signer was shown (p_body_sha256, as the waiver's reads
	-- give it) is the text signed: the version signed is locked by now
	-- (prepare_waiver_submission), so no correction or new version comes
	-- between this check and the commit.  Between showing a text and
	-- signing, an unsigned version may be corrected, a new one made or the
	-- latest deleted: the signature then bound to a text nobody showed.
	IF p_body_sha256 IS NOT NULL
	   AND pg_catalog.lower(p_body_sha256) OPERATOR(pg_catalog.<>) (SELECT x.body_sha256 FROM protector.waiver_versions x
												  WHERE x.id OPERATOR(pg_catalog.=) s.waiver_version_id) THEN
		PERFORM protector.raise('retry', 'the waiver''s text has changed since it was shown',
			pg_catalog.format('Its latest version is %s; p_body_sha256 names another text.', v.version),
			'Show the latest text again (its body_sha256 comes with it), then sign.');
	END IF;
	RETURN s;
END
$$;
COMMENT ON FUNCTION protector.submit_waiver(uuid, text, date, text, text, uuid, text, text) IS
'Signs the latest version of a waiver for one participant (the desk and agents for their bookings; a customer for their own booking); with p_body_sha256, only the text the signer was shown';

-- A foreign key violation of a signature's write naming its customer:
-- the booking, read for its customer, was handed to another and its last
-- customer deleted meanwhile; the retry signs for the new one (40001, as
-- send_message answers the same).  Returns for any other key.
CREATE FUNCTION protector_internal.refuse_changed_signature_customer(p_constraint text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_constraint OPERATOR(pg_catalog.=) 'waiver_submissions_organization_id_customer_id_fkey' THEN
		PERFORM protector.raise('retry', 'the booking''s customer changed while the waiver was signed', NULL,
			'Retry: the signature is then the booking''s customer''s now.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_changed_signature_customer(text) IS
'Internal: 40001 for a signature whose booking changed customer (the last one deleted) while it was written; returns for any other key';
GRANT EXECUTE ON FUNCTION protector_internal.refuse_changed_signature_customer(text) TO authenticated, service_role;

-- A unique violation of a signature's write: where it is the
-- participant's index, the same participant signed the booking's waiver
-- at the same moment elsewhere, and is told so as a signature made after
-- is (check_waiver_booking); else this returns and the handler raises
-- the violation again (another unique key, of a table an application's
-- trigger writes, says what it says)
CREATE FUNCTION protector_internal.refuse_second_signature(p_schema text, p_table text, p_constraint text,
															p_participant_name text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pg_catalog.concat_ws('.', p_schema, p_table, p_constraint)
	   OPERATOR(pg_catalog.=) 'protector.waiver_submissions.waiver_submissions_participant_idx' THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s has already signed the waiver of this booking', p_participant_name));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.refuse_second_signature(text, text, text, text) IS
'Internal: answers a unique violation of the participant''s signature index as "already signed"; returns for any other';

CREATE FUNCTION protector.link_waiver_to_booking(p_submission_id uuid, p_booking_id uuid)
RETURNS protector.waiver_submissions
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	s protector.waiver_submissions;
	v_schema text;
	v_table text;
	v_constraint text;
BEGIN
	IF p_submission_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_submission_id must not be null');
	END IF;
	v_org := protector_internal.authorize_row('protector.waiver_submissions', p_submission_id, 'waivers.collect',
											  'waiver submission', true, true);
	-- (a NULL booking: authorize_row names p_booking_id)
	IF protector_internal.authorize_row('protector.bookings', p_booking_id, 'waivers.collect', 'booking', false, true)
		  OPERATOR(pg_catalog.<>) v_org THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It does not exist, or you may not see it.');
	END IF;
	SELECT * INTO s FROM protector.waiver_submissions x WHERE x.id OPERATOR(pg_catalog.=) p_submission_id;
	IF s.booking_id OPERATOR(pg_catalog.=) p_booking_id THEN
		RETURN s;		-- linked already: a retry
	END IF;
	-- (the same participant linked or signed at the same moment elsewhere:
	-- told so, as afterwards)
	BEGIN
		UPDATE protector.waiver_submissions x SET booking_id = p_booking_id
		WHERE x.id OPERATOR(pg_catalog.=) p_submission_id
		RETURNING * INTO s;
	EXCEPTION WHEN unique_violation THEN
		GET STACKED DIAGNOSTICS v_schema = SCHEMA_NAME, v_table = TABLE_NAME, v_constraint = CONSTRAINT_NAME;
		PERFORM protector_internal.refuse_second_signature(v_schema, v_table, v_constraint, s.participant_name);
		RAISE;
	WHEN foreign_key_violation THEN
		GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
		PERFORM protector_internal.refuse_changed_signature_customer(v_constraint);
		PERFORM protector_internal.refuse_deleted_booking(p_booking_id, 'It was deleted while the signature was linked to it.');
		RAISE;
	END;
	RETURN s;
END
$$;
COMMENT ON FUNCTION protector.link_waiver_to_booking(uuid, uuid) IS
'Links a waiver signed without a booking to one (once; its service must ask for that waiver)';

CREATE FUNCTION protector.get_waiver_submissions(p_organization_id uuid, p_booking_id uuid DEFAULT NULL)
RETURNS SETOF protector.waiver_submissions
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	IF p_booking_id IS NULL THEN
		PERFORM protector_internal.authorize(p_organization_id, 'waivers.read');
	ELSIF protector_internal.authorize_row('protector.bookings', p_booking_id, NULL, 'booking')
		  OPERATOR(pg_catalog.<>) p_organization_id THEN
		PERFORM protector.raise('not_found', 'booking not found', 'It does not exist, or you may not see it.');
	-- (whoever else sees the booking, as finance and viewers do, is
	-- refused rather than shown no signatures, as the policy would)
	ELSIF NOT (protector_internal.caller_is_trusted()
			   OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.read'))
			   OR protector_internal.customer_owns_booking(p_organization_id, p_booking_id)
			   OR (p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('waivers.collect'))
				   AND EXISTS (SELECT FROM protector.bookings b
							   WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
								 AND b.id OPERATOR(pg_catalog.=) p_booking_id
								 AND b.assigned_agent OPERATOR(pg_catalog.=) protector.current_user_id()))) THEN
		PERFORM protector.raise('forbidden', 'your role may not see this booking''s signed waivers',
			'They are for the desk (waivers.read), the booking''s agent (waivers.collect) and its customer.');
	END IF;
	-- (two queries: "p_booking_id IS NULL OR booking_id = p_booking_id" in
	-- one plan may be planned once for both and read the organization's
	-- every submission for one booking's.  The organization's is planned
	-- for each call's organization: PL/pgSQL's kept plan went generic on a
	-- pooled connection after a large tenant's calls, and a small tenant's
	-- next call then read every organization's signatures)
	IF p_booking_id IS NULL THEN
		RETURN QUERY EXECUTE
			'SELECT s.* FROM protector.waiver_submissions s
			 WHERE s.organization_id OPERATOR(pg_catalog.=) $1
			 ORDER BY s.signed_at DESC, s.id'
		USING p_organization_id;
	ELSE
		RETURN QUERY
		SELECT s.* FROM protector.waiver_submissions s
		WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id
		  AND s.booking_id OPERATOR(pg_catalog.=) p_booking_id
		ORDER BY s.signed_at DESC, s.id;
	END IF;
END
$$;
COMMENT ON FUNCTION protector.get_waiver_submissions(uuid, uuid) IS
'Signed waivers of the organization (the desk) or of one booking (whoever sees it: the desk, its agent, its customer), newest first';

CREATE FUNCTION protector.verify_waiver_signature(p_submission_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.waiver_submissions;
	v_body text;
	v_text_ok boolean;
	v_submission_ok boolean;
BEGIN
	IF p_submission_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_submission_id must not be null');
	END IF;
	PERFORM protector_internal.authorize_row('protector.waiver_submissions', p_submission_id, NULL, 'waiver submission');
	SELECT * INTO s FROM protector.waiver_submissions x WHERE x.id OPERATOR(pg_catalog.=) p_submission_id;
	SELECT v.body INTO v_body FROM protector.waiver_versions v
	WHERE v.organization_id OPERATOR(pg_catalog.=) s.organization_id AND v.id OPERATOR(pg_catalog.=) s.waiver_version_id;
	v_text_ok := COALESCE(protector_internal.sha256_hex(v_body) OPERATOR(pg_catalog.=) s.text_sha256, false);
	v_submission_ok := protector_internal.waiver_submission_digest(s) OPERATOR(pg_catalog.=) s.submission_sha256;
	RETURN pg_catalog.jsonb_build_object('submission_id', s.id, 'valid', v_text_ok AND v_submission_ok,
										 'text_unchanged', v_text_ok, 'submission_unchanged', v_submission_ok,
										 'text_sha256', s.text_sha256, 'signed_at', s.signed_at,
										 'participant_name', s.participant_name, 'signer_name', s.signer_name);
END
$$;
COMMENT ON FUNCTION protector.verify_waiver_signature(uuid) IS
'Recomputes a signed waiver''s digests: valid when neither the text signed nor the signature has changed since signing';

-- The signed waivers of a local date range (signed_on, the venue's date),
-- a fixed column list for CSV (protector.csv_agg, PostgREST's text/csv).
CREATE FUNCTION protector.export_waivers(p_organization_id uuid, p_from date, p_to date)
RETURNS TABLE (submission_id uuid, signed_at timestamptz, signed_on date, waiver text, version integer, title text,
			   participant_name text, participant_birth_date date, participant_age integer, signer_name text,
			   guardian_name text, booking_id uuid, booking_start timestamptz, service text, customer_name text,
			   text_sha256 text, submission_sha256 text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_organization_id IS NULL OR p_from IS NULL OR p_to IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id, p_from and p_to must not be null');
	END IF;
	-- (as the other date ranges' RPCs say it: p_from plus ten years below
	-- overflowed past the year 294276)
	PERFORM protector_internal.check_date_range(p_from, p_to, '0001-01-01', '9999-12-31');
	IF p_to OPERATOR(pg_catalog.<) p_from OR p_to OPERATOR(pg_catalog.>) (p_from OPERATOR(pg_catalog.+) '10 years'::interval) THEN
		PERFORM protector.raise('invalid_parameter', 'p_to must be from p_from to ten years after it',
			pg_catalog.format('Got %s to %s.', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'waivers.read');
	RETURN QUERY
	SELECT s.id, s.signed_at, s.signed_on, w.name, v.version, v.title, s.participant_name, s.participant_birth_date,
		   s.participant_age, s.signer_name, s.guardian_name, s.booking_id, pg_catalog.lower(b.during), sv.name, c.full_name,
		   s.text_sha256, s.submission_sha256
	FROM protector.waiver_submissions s
	JOIN protector.waiver_versions v ON v.organization_id OPERATOR(pg_catalog.=) s.organization_id
									 AND v.id OPERATOR(pg_catalog.=) s.waiver_version_id
	JOIN protector.waivers w ON w.organization_id OPERATOR(pg_catalog.=) s.organization_id AND w.id OPERATOR(pg_catalog.=) v.waiver_id
	LEFT JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) s.organization_id
								   AND b.id OPERATOR(pg_catalog.=) s.booking_id
	LEFT JOIN protector.services sv ON sv.organization_id OPERATOR(pg_catalog.=) s.organization_id
									AND sv.id OPERATOR(pg_catalog.=) b.service_id
	LEFT JOIN protector.customers c ON c.organization_id OPERATOR(pg_catalog.=) s.organization_id
									AND c.id OPERATOR(pg_catalog.=) s.customer_id
	WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND s.signed_on OPERATOR(pg_catalog.>=) p_from AND s.signed_on OPERATOR(pg_catalog.<=) p_to
	ORDER BY s.signed_at, s.id;
END
$$;
COMMENT ON FUNCTION protector.export_waivers(uuid, date, date) IS
'The waivers signed on local dates [p_from, p_to] (the desk), a fixed column list for CSV export';

-- the gate ------------------------------------------------------------------

-- A booking of a service that asks for a waiver is in_progress only when
-- as many distinct participants (name as compared, date of birth) as its
-- party have signed that waiver, and, when it lists its participants by
-- name (details.participants), every one listed has; the error names who
-- is missing (or says how many).  Checked when it goes in_progress
-- (inserted so, or updated), and when an in_progress booking grows its
-- party or changes service.
CREATE FUNCTION protector_internal.require_waivers()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_waiver protector.waivers;
	v_signed text[];
	v_keys text[];
	v_count integer;
	v_missing text[];
BEGIN
	-- (an erasure's scrub of a booking under way takes personal data out
	-- of its details, and adds no participant: it is not refused for the
	-- signatures a waiver added to the service since asks for)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND OLD.status OPERATOR(pg_catalog.=) 'in_progress'
	   AND NEW.party_size OPERATOR(pg_catalog.<=) OLD.party_size AND NEW.service_id OPERATOR(pg_catalog.=) OLD.service_id
	   AND NEW.details OPERATOR(pg_catalog.=) protector_internal.erased_booking_details(OLD.details) THEN
		RETURN NEW;
	END IF;
	SELECT w.* INTO v_waiver FROM protector.services s
	JOIN protector.waivers w ON w.organization_id OPERATOR(pg_catalog.=) s.organization_id AND w.id OPERATOR(pg_catalog.=) s.waiver_id
	WHERE s.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND s.id OPERATOR(pg_catalog.=) NEW.service_id;
	IF NOT FOUND THEN
		RETURN NEW;
	END IF;
	-- the distinct participants who signed it for this booking, and their
	-- names as compared
	SELECT pg_catalog.count(*)::integer, COALESCE(pg_catalog.array_agg(x.participant_name ORDER BY x.participant_name), '{}'),
		   COALESCE(pg_catalog.array_agg(x.k), '{}')
	INTO v_count, v_signed, v_keys
	FROM (SELECT DISTINCT ON (protector_internal.typed_name(s.participant_name), s.participant_birth_date) s.participant_name,
				 protector_internal.typed_name(s.participant_name) AS k
		  FROM protector.waiver_submissions s
		  WHERE s.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND s.booking_id OPERATOR(pg_catalog.=) NEW.id
			AND s.waiver_id OPERATOR(pg_catalog.=) v_waiver.id) x;
	-- the participants the booking lists by name who have not signed
	IF pg_catalog.jsonb_typeof(NEW.details OPERATOR(pg_catalog.->) 'participants') OPERATOR(pg_catalog.=) 'array' THEN
		-- (names, or objects with a name: an object without one names nobody;
		-- trimmed of every kind of space, as a signature's name is; one
		-- longer than a signature's 200 characters matches none, and is
		-- named cut: it was refused as a name too long to compare, which
		-- named neither the list nor the person)
		-- (one with no letter or digit, which nobody can sign, named by its
		-- place: "Not signed: , ?." named nothing)
		SELECT pg_catalog.array_agg(CASE WHEN NOT protector_internal.has_letters_or_digits(l.n)
										 THEN pg_catalog.format('entry %s ("%s", no letter or digit: nobody can sign it)', l.i,
																pg_catalog.left(l.n, 20))
										 WHEN pg_catalog.length(l.n) OPERATOR(pg_catalog.>) 60
										 THEN pg_catalog.left(l.n, 60) OPERATOR(pg_catalog.||) '...' ELSE l.n END ORDER BY l.i)
		INTO v_missing
		-- (each name compared once, against the signatures' names in a
		-- hash: compared name by name, a list of 2,400 beside 1,000
		-- signatures kept a booking from starting for 92 s)
		FROM (SELECT t.n, t.i,
					 CASE WHEN pg_catalog.length(t.n) OPERATOR(pg_catalog.<=) 200 THEN protector_internal.typed_name(t.n) END AS k
			  FROM (SELECT protector_internal.trim_spaces(CASE pg_catalog.jsonb_typeof(p.value)
							  WHEN 'string' THEN p.value OPERATOR(pg_catalog.#>>) '{}'
							  WHEN 'object' THEN p.value OPERATOR(pg_catalog.->>) 'name' END) AS n, p.i
					FROM pg_catalog.jsonb_array_elements(NEW.details OPERATOR(pg_catalog.->) 'participants') WITH ORDINALITY p(value, i)) t
			  WHERE t.n IS NOT NULL) l
		-- (a listed name with nothing to compare matches no signature)
		LEFT JOIN (SELECT DISTINCT u.k FROM pg_catalog.unnest(v_keys) u(k)) signed ON signed.k OPERATOR(pg_catalog.=) l.k
		WHERE signed.k IS NULL;
	END IF;
	IF v_count OPERATOR(pg_catalog.>=) NEW.party_size AND v_missing IS NULL THEN
		RETURN NEW;
	END IF;
	PERFORM protector.raise('invalid_parameter',
		CASE WHEN v_count OPERATOR(pg_catalog.>=) NEW.party_size
			 THEN pg_catalog.format('not every participant listed has signed the waiver "%s"', v_waiver.name)
			 ELSE pg_catalog.format('%s of %s participants have signed the waiver "%s"', v_count, NEW.party_size, v_waiver.name) END,
		CASE WHEN v_missing IS NOT NULL THEN pg_catalog.format('Not signed: %s.', pg_catalog.array_to_string(v_missing[1:10], ', '))
			 ELSE pg_catalog.format('Signed: %s; %s more must sign.',
									COALESCE(NULLIF(pg_catalog.array_to_string(v_signed[1:10], ', '), ''), 'nobody'),
									NEW.party_size OPERATOR(pg_catalog.-) v_count) END,
		'A booking whose service asks for a waiver goes in_progress, or completed, once every participant has signed it (submit_waiver).');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.require_waivers() IS
'Trigger: a booking of a service that asks for a waiver is in_progress, or completed without having been in progress, only when every participant has signed it';

-- (named to run after restrict_update_columns: an agent or operator, who
-- may not change a booking's party, was told how many had signed rather
-- than that their role may not: a review)
CREATE TRIGGER waivers_signed BEFORE UPDATE OF status, party_size, service_id, details ON protector.bookings
	FOR EACH ROW WHEN (((NEW.status = 'in_progress'
						 AND (OLD.status IS DISTINCT FROM 'in_progress' OR NEW.party_size > OLD.party_size
							  OR NEW.service_id IS DISTINCT FROM OLD.service_id OR NEW.details IS DISTINCT FROM OLD.details))
						-- (completed: the game was played, so it was signed
						-- for; confirmed -> completed skipped the check, and
						-- a completed booking's party grew past it)
						OR (NEW.status = 'completed'
							AND (OLD.status NOT IN ('in_progress', 'completed') OR NEW.party_size > OLD.party_size
								 OR NEW.service_id IS DISTINCT FROM OLD.service_id)))
					   AND NOT protector_internal.restoring_into('protector.bookings'))
	EXECUTE FUNCTION protector_internal.require_waivers();
-- (a new booking in progress: fired by its AFTER INSERT trigger,
-- src/booking_followups.c)

-- audited like every business table
SELECT protector.enable_audit(t)
FROM unnest('{protector.waivers, protector.waiver_versions, protector.waiver_submissions}'::regclass[]) t;

GRANT EXECUTE ON FUNCTION
	protector.create_waiver(uuid, text, text, text, integer, integer),
	protector.submit_waiver(uuid, text, date, text, text, uuid, text, text),
	protector.link_waiver_to_booking(uuid, uuid),
	protector.get_waiver_submissions(uuid, uuid),
	protector.verify_waiver_signature(uuid),
	protector.export_waivers(uuid, date, date),
	protector_internal.sha256_hex(text),
	protector_internal.waiver_submission_digest(protector.waiver_submissions),
	protector_internal.may_sign(uuid, uuid),
	protector_internal.check_waiver_booking(protector.waiver_submissions),
	protector_internal.lock_waiver_version(uuid, uuid),
	protector_internal.venue_timezone(uuid, uuid),
	protector_internal.signing_age(date, timestamptz, text),
	protector_internal.names_match(text, text),
	protector_internal.typed_name(text),
	protector_internal.has_letters_or_digits(text)
TO authenticated, service_role;
