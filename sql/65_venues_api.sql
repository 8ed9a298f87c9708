\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/65_venues_api.sql: venue RPCs.

-- A new public embed key for a venue; the old one stops working at once
-- (the widget functions look venues up by the current key only).
CREATE FUNCTION protector.rotate_embed_key(p_venue_id uuid)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_key text;
BEGIN
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.rotate_key', 'venue', true);
	UPDATE protector.venues v SET embed_key = protector.generate_embed_key()
	WHERE v.id OPERATOR(pg_catalog.=) p_venue_id
	RETURNING v.embed_key INTO v_key;
	RETURN v_key;
END
$$;
COMMENT ON FUNCTION protector.rotate_embed_key(uuid) IS
'Gives a venue a new embed key (owners and admins); the old key stops working at once';

CREATE FUNCTION protector.is_venue_open(p_venue_id uuid, p_at timestamptz DEFAULT now())
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_is_venue_open'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.is_venue_open(uuid, timestamptz) IS
'Is the venue open at p_at, by its hours in its own time zone, closures and special hours included';

CREATE FUNCTION protector.get_venue_schedule(p_venue_id uuid, p_from date DEFAULT NULL, p_to date DEFAULT NULL)
RETURNS TABLE (local_date date, opens_at timestamptz, closes_at timestamptz, kind text)
AS 'MODULE_PATHNAME', 'protector_get_venue_schedule'
LANGUAGE C STABLE PARALLEL SAFE ROWS 14;
COMMENT ON FUNCTION protector.get_venue_schedule(uuid, date, date) IS
'The venue''s openings per local day (weekly, always, special, closed), p_from default the venue''s local today, p_to default p_from + 6, at most 93 days';

-- Management RPCs run with the caller's rights: RLS decides (owners,
-- admins and managers write venues and services); they add validation
-- with precise errors and a jsonb answer.

CREATE FUNCTION protector.create_venue(
	p_organization_id uuid,
	p_name text,
	p_timezone text,
	p_description text DEFAULT NULL,
	p_address text DEFAULT NULL,
	p_city text DEFAULT NULL,
	p_region text DEFAULT NULL,
	p_country text DEFAULT NULL,
	p_postal_code text DEFAULT NULL,
	p_operating_hours jsonb DEFAULT '{}',
	p_branding jsonb DEFAULT '{}',
	p_widget_settings jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues;
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	-- (a name of Unicode spaces or invisible characters alone is refused
	-- naming the parameter, not by the table's trigger naming its column)
	PERFORM protector_internal.check_text(p_name, 'p_name', 1, 200);
	PERFORM protector.check_timezone(p_timezone, 'p_timezone');
	PERFORM protector_internal.check_lines(p_description, 'p_description', 0, 5000);
	PERFORM protector_internal.check_text(p_address, 'p_address', 0, 500);
	PERFORM protector_internal.check_text(p_city, 'p_city', 0, 200);
	PERFORM protector_internal.check_text(p_region, 'p_region', 0, 200);
	PERFORM protector_internal.check_text(p_postal_code, 'p_postal_code', 0, 20);
	PERFORM protector_internal.check_country(p_country, 'p_country');
	PERFORM protector.check_operating_hours(COALESCE(p_operating_hours, '{}'));
	PERFORM protector_internal.check_settings('branding', COALESCE(p_branding, '{}'), 'p_branding');
	PERFORM protector_internal.check_settings('widget', COALESCE(p_widget_settings, '{}'), 'p_widget_settings');
	PERFORM protector_internal.authorize(p_organization_id, 'venues.manage');
	INSERT INTO protector.venues (organization_id, name, timezone, description, address, city, region,
								  country, postal_code, operating_hours, branding, widget_settings)
	VALUES (p_organization_id, btrim(p_name), p_timezone, p_description, p_address, p_city, p_region,
			p_country, p_postal_code, COALESCE(p_operating_hours, '{}'), COALESCE(p_branding, '{}'),
			COALESCE(p_widget_settings, '{}'))
	RETURNING * INTO v;
	RETURN to_jsonb(v);
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.create_venue(uuid, text, text, text, text, text, text, text, text, jsonb, jsonb, jsonb) IS
'Creates a venue (owners, admins, managers); it gets an embed key';

CREATE FUNCTION protector.update_venue(p_venue_id uuid, p_changes jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues;
	v_unknown text;
	v_key text;
	v_max integer;
	v_capacity numeric;
BEGIN
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.manage', 'venue', true);
	SELECT * INTO v FROM protector.venues WHERE id = p_venue_id;
	IF p_changes IS NULL OR jsonb_typeof(p_changes) <> 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes must be a JSON object of the fields to change');
	END IF;
	v_unknown := protector_internal.names_text(ARRAY(
		SELECT k FROM pg_catalog.jsonb_object_keys(p_changes) k
		WHERE k OPERATOR(pg_catalog.<>) ALL ('{name,description,address,city,region,country,postal_code,timezone,capacity,branding,widget_settings,active}')
		ORDER BY k));
	IF v_unknown IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', format('p_changes has fields that cannot be changed here: %s', v_unknown),
			NULL, 'Opening hours change through update_venue_schedule, the embed key through rotate_embed_key.');
	END IF;
	-- texts are JSON strings (->> would store an array's or a number's JSON text)
	SELECT x INTO v_key FROM pg_catalog.jsonb_object_keys(p_changes) x
	WHERE x = ANY ('{name,description,address,city,region,country,postal_code,timezone}')
	  AND jsonb_typeof(p_changes -> x) NOT IN ('string', 'null')
	ORDER BY x LIMIT 1;
	IF v_key IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', format('p_changes.%s has a value of the wrong type', v_key),
			format('A JSON string is expected (got %s).', left((p_changes -> v_key)::text, 100)));
	END IF;
	-- (a zone sent back unchanged passes: the row took it once)
	IF p_changes ? 'timezone' AND (p_changes ->> 'timezone') IS DISTINCT FROM v.timezone THEN
		PERFORM protector.check_timezone(p_changes ->> 'timezone', 'p_changes.timezone');
	END IF;
	-- (as the name and zone: a value stored before a rule, sent back
	-- unchanged, passes, as the row trigger judges it; an edit form that
	-- sends the whole venue was refused for a 0.1.0 country: a review)
	IF (p_changes ->> 'country') IS DISTINCT FROM v.country THEN
		PERFORM protector_internal.check_country(p_changes ->> 'country', 'p_changes.country');
	END IF;
	FOR v_key, v_max IN VALUES ('description', 5000), ('address', 500), ('city', 200), ('region', 200), ('postal_code', 20) LOOP
		IF (p_changes ->> v_key) IS DISTINCT FROM (to_jsonb(v) ->> v_key) THEN
			IF v_key = 'description' THEN
				PERFORM protector_internal.check_lines(p_changes ->> v_key, 'p_changes.' || v_key, 0, v_max);
			ELSE
				PERFORM protector_internal.check_text(p_changes ->> v_key, 'p_changes.' || v_key, 0, v_max);
			END IF;
		END IF;
	END LOOP;
	-- settings objects are merged (RFC 7386: a null removes a key), then
	-- checked by the keys the change changes (a key stored before 0.2.0
	-- checked settings stays writable around, as the row trigger judges it)
	IF p_changes ? 'branding' THEN
		p_changes := pg_catalog.jsonb_set(p_changes, '{branding}', protector.merge_patch(v.branding, p_changes -> 'branding'));
		PERFORM protector_internal.check_settings('branding',
			protector_internal.changed_settings(p_changes -> 'branding', v.branding), 'p_changes.branding');
	END IF;
	IF p_changes ? 'widget_settings' THEN
		p_changes := pg_catalog.jsonb_set(p_changes, '{widget_settings}',
										   protector.merge_patch(v.widget_settings, p_changes -> 'widget_settings'));
		PERFORM protector_internal.check_settings('widget',
			protector_internal.changed_settings(p_changes -> 'widget_settings', v.widget_settings), 'p_changes.widget_settings');
	END IF;
	-- (a name stored before, sent back unchanged, stays writable around it)
	IF p_changes ? 'name' AND (p_changes ->> 'name') IS DISTINCT FROM v.name THEN
		PERFORM protector_internal.check_text(p_changes ->> 'name', 'p_changes.name', 1, 200);
	END IF;
	-- named here, not by the column's cast or CHECK (whose text names the
	-- table and constraint); a number, or a string that reads as one, as
	-- update_service takes its numbers
	v_capacity := protector_internal.json_amount(p_changes -> 'capacity');
	IF p_changes ? 'capacity' AND jsonb_typeof(p_changes -> 'capacity') <> 'null'
	   AND (v_capacity IS NULL OR v_capacity NOT BETWEEN 1 AND 2147483647 OR v_capacity <> trunc(v_capacity)) THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.capacity must be a whole number from 1, or null',
			format('Got %s.', left((p_changes -> 'capacity')::text, 100)));
	END IF;
	IF p_changes ? 'active' AND jsonb_typeof(p_changes -> 'active') IS DISTINCT FROM 'boolean' THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.active must be true or false',
			format('Got %s.', left((p_changes -> 'active')::text, 100)));
	END IF;
	BEGIN
		UPDATE protector.venues SET
			name = CASE WHEN p_changes ? 'name' THEN btrim(p_changes ->> 'name') ELSE name END,
			description = CASE WHEN p_changes ? 'description' THEN p_changes ->> 'description' ELSE description END,
			address = CASE WHEN p_changes ? 'address' THEN p_changes ->> 'address' ELSE address END,
			city = CASE WHEN p_changes ? 'city' THEN p_changes ->> 'city' ELSE city END,
			region = CASE WHEN p_changes ? 'region' THEN p_changes ->> 'region' ELSE region END,
			country = CASE WHEN p_changes ? 'country' THEN p_changes ->> 'country' ELSE country END,
			postal_code = CASE WHEN p_changes ? 'postal_code' THEN p_changes ->> 'postal_code' ELSE postal_code END,
			timezone = CASE WHEN p_changes ? 'timezone' THEN p_changes ->> 'timezone' ELSE timezone END,
			-- (through numeric: 40.0 passed the check above as a whole number)
			capacity = CASE WHEN p_changes ? 'capacity' THEN v_capacity::integer ELSE capacity END,
			branding = CASE WHEN p_changes ? 'branding' THEN p_changes -> 'branding' ELSE branding END,
			widget_settings = CASE WHEN p_changes ? 'widget_settings' THEN p_changes -> 'widget_settings' ELSE widget_settings END,
			active = CASE WHEN p_changes ? 'active' THEN (p_changes ->> 'active')::boolean ELSE active END
		WHERE id = v.id
		RETURNING * INTO v;
	EXCEPTION
		WHEN check_violation OR not_null_violation OR invalid_text_representation OR numeric_value_out_of_range THEN
			PERFORM protector.raise('invalid_parameter', 'p_changes has a value the venue cannot take', SQLERRM);
	END;
	RETURN to_jsonb(v);
END
$$;
COMMENT ON FUNCTION protector.update_venue(uuid, jsonb) IS
'Changes the given fields of a venue (name, address, time zone, branding, widget settings, active, ...); branding and widget settings are merged (RFC 7386)';

CREATE FUNCTION protector.update_venue_schedule(p_venue_id uuid, p_operating_hours jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.manage', 'venue', true);
	PERFORM protector.check_operating_hours(p_operating_hours);
	UPDATE protector.venues SET operating_hours = p_operating_hours WHERE id = p_venue_id;
	RETURN p_operating_hours;
END
$$;
COMMENT ON FUNCTION protector.update_venue_schedule(uuid, jsonb) IS
'Replaces a venue''s weekly operating hours (validated in C; format in docs/bookings.md)';

-- Soft delete: the venue disappears from the widget and availability; its
-- bookings and history stay.  Owners and admins only.
CREATE FUNCTION protector.delete_venue(p_venue_id uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.delete', 'venue', true);
	UPDATE protector.venues SET deleted_at = now(), active = false WHERE id = p_venue_id;
	RETURN true;
END
$$;
COMMENT ON FUNCTION protector.delete_venue(uuid) IS
'Soft-deletes a venue (owners, admins): hidden from widget and availability, bookings kept';

-- deleted_at is a deletion, written through delete_venue or directly:
-- only members who may delete venues set or clear it (a manager, who may
-- update a venue, deleted one with an UPDATE and brought back one an admin
-- had deleted)
CREATE FUNCTION protector_internal.guard_venue_deletion()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector.current_user_id() IS NULL OR protector_internal.caller_is_trusted()
	   OR NEW.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('venues.delete')) THEN
		-- (the same deletion as delete_venue's: a venue deleted directly was
		-- left active, and bookable again the moment it was restored)
		IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR OLD.deleted_at IS NULL) AND NEW.deleted_at IS NOT NULL THEN
			NEW.active := false;
		END IF;
		RETURN NEW;
	END IF;
	PERFORM protector.raise('forbidden',
		CASE WHEN NEW.deleted_at IS NULL THEN 'your role may not restore a deleted venue'
			 ELSE 'your role may not delete venues' END,
		pg_catalog.format('Venue %s: deleted_at is written by members whose role may do venues.delete.', NEW.id),
		'Owners and admins delete venues (delete_venue).');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.guard_venue_deletion() IS
'Trigger: a venue''s deleted_at is set or cleared only by members whose role may do venues.delete';
CREATE TRIGGER guard_venue_deletion BEFORE UPDATE OF deleted_at ON protector.venues
	FOR EACH ROW WHEN (NEW.deleted_at IS DISTINCT FROM OLD.deleted_at AND NOT protector_internal.restoring_into('protector.venues'))
	EXECUTE FUNCTION protector_internal.guard_venue_deletion();
-- (a venue inserted deleted is deleted by its insert: a manager's came in
-- deleted and active, and was bookable the moment an admin restored it)
CREATE TRIGGER guard_venue_deletion_on_insert BEFORE INSERT ON protector.venues
	FOR EACH ROW WHEN (NEW.deleted_at IS NOT NULL AND NOT protector_internal.restoring_into('protector.venues'))
	EXECUTE FUNCTION protector_internal.guard_venue_deletion();

-- A deleted venue stays inactive and takes no service, however it is
-- written: a manager's direct activation brought one back active (also
-- one that waited for the deletion), and was bookable the moment it was
-- restored; a service written at it directly was made.  The service's
-- check share-locks the venue: one being deleted is waited for, and then
-- not found.  As the owner (a lock needs the right to update the venue).
CREATE FUNCTION protector_internal.keep_deleted_venue()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'venues' THEN
		PERFORM protector.raise('invalid_parameter', 'a deleted venue stays inactive',
			pg_catalog.format('Venue %s was deleted at %s.', NEW.id, protector_internal.iso_text(NEW.deleted_at)),
			'Restore it first (deleted_at set to NULL, by members who may delete venues), then activate it.');
	END IF;
	PERFORM FROM protector.venues v
	WHERE v.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND v.id OPERATOR(pg_catalog.=) NEW.venue_id
	FOR SHARE;
	IF EXISTS (SELECT FROM protector.venues v
			   WHERE v.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND v.id OPERATOR(pg_catalog.=) NEW.venue_id
				 AND v.deleted_at IS NOT NULL) THEN
		PERFORM protector.raise('not_found', 'venue not found', 'It was deleted (delete_venue): it takes no services.');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_deleted_venue() IS
'Trigger: a deleted venue is not activated and takes no service, however it is written';
CREATE TRIGGER keep_deleted_venue BEFORE UPDATE OF active ON protector.venues
	FOR EACH ROW WHEN (NEW.active AND NEW.deleted_at IS NOT NULL AND NOT protector_internal.restoring_into('protector.venues'))
	EXECUTE FUNCTION protector_internal.keep_deleted_venue();
-- (only for those the policies let write services: anyone else was told
-- another tenant's venue was deleted, and held it locked)
CREATE TRIGGER keep_deleted_venue BEFORE INSERT OR UPDATE OF venue_id ON protector.services
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.services')
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('venues.manage'))))
	EXECUTE FUNCTION protector_internal.keep_deleted_venue();

-- A service with bookings is not deleted: its bookings are the books.
-- Deactivating retires it.  Nor is a venue with bookings (delete_venue
-- hides it instead).  (Not when an organization's deletion takes it
-- with everything else: a cascade runs inside a foreign key's trigger.)
CREATE FUNCTION protector_internal.keep_booked_services()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'venues' THEN
		-- (its services first: a booking being made holds a key-share lock
		-- on its service, which the cascade would wait for and then fail on)
		PERFORM FROM protector.services s
		WHERE s.organization_id OPERATOR(pg_catalog.=) OLD.organization_id AND s.venue_id OPERATOR(pg_catalog.=) OLD.id
		ORDER BY s.id
		FOR UPDATE;
		IF EXISTS (SELECT FROM protector.bookings b
				   WHERE b.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
					 AND b.venue_id OPERATOR(pg_catalog.=) OLD.id) THEN
			RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
				MESSAGE = pg_catalog.format('venue "%s" has bookings and cannot be deleted', OLD.name),
				DETAIL = pg_catalog.format('Venue %s has services with bookings, which keep them.', OLD.id),
				HINT = 'Delete it with delete_venue(), which hides it and keeps its bookings.';
		END IF;
		RETURN OLD;
	END IF;
	IF EXISTS (SELECT FROM protector.bookings b
			   WHERE b.organization_id OPERATOR(pg_catalog.=) OLD.organization_id
				 AND b.venue_id OPERATOR(pg_catalog.=) OLD.venue_id
				 AND b.service_id OPERATOR(pg_catalog.=) OLD.id) THEN
		-- (nor moved: its bookings are at its venue)
		IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
			RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
				MESSAGE = pg_catalog.format('service "%s" has bookings and cannot move to another venue', OLD.name),
				DETAIL = pg_catalog.format('Service %s is on bookings at venue %s, which keep it there.', OLD.id, OLD.venue_id),
				HINT = 'Copy it to the other venue with duplicate_service(id, venue) and deactivate this one.';
		END IF;
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = pg_catalog.format('service "%s" has bookings and cannot be deleted', OLD.name),
			DETAIL = pg_catalog.format('Service %s is on bookings, which keep it.', OLD.id),
			HINT = 'Deactivate it instead: update_service(id, ''{"active": false}'').';
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
		RETURN NEW;
	END IF;
	RETURN OLD;
END
$$;
COMMENT ON FUNCTION protector_internal.keep_booked_services() IS
'Trigger: a service, or a venue, with bookings is not deleted (deactivate the service; delete_venue the venue), nor a service moved to another venue';
CREATE TRIGGER keep_booked_services BEFORE DELETE ON protector.services
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring_into('protector.services'))
	EXECUTE FUNCTION protector_internal.keep_booked_services();
CREATE TRIGGER keep_booked_services_place BEFORE UPDATE OF organization_id, venue_id ON protector.services
	FOR EACH ROW WHEN ((OLD.organization_id, OLD.venue_id) IS DISTINCT FROM (NEW.organization_id, NEW.venue_id)
					   AND NOT protector_internal.restoring_into('protector.services'))
	EXECUTE FUNCTION protector_internal.keep_booked_services();
-- (a venue's deletion cascades to its services, inside a trigger: asked here)
CREATE TRIGGER keep_booked_services BEFORE DELETE ON protector.venues
	FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0 AND NOT protector_internal.restoring_into('protector.venues'))
	EXECUTE FUNCTION protector_internal.keep_booked_services();

CREATE FUNCTION protector.duplicate_service(p_service_id uuid, p_target_venue_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
	v protector.venues;
	v_message text;
BEGIN
	PERFORM protector_internal.authorize_row('protector.services', p_service_id, 'venues.manage', 'service');
	SELECT * INTO s FROM protector.services WHERE id = p_service_id;
	PERFORM protector_internal.authorize_row('protector.venues', COALESCE(p_target_venue_id, s.venue_id),
											 'venues.manage', 'venue', true);
	SELECT * INTO v FROM protector.venues WHERE id = COALESCE(p_target_venue_id, s.venue_id);
	IF v.organization_id <> s.organization_id THEN
		PERFORM protector.raise('not_found', 'venue not found', 'Services are copied within their organization.');
	END IF;
	s.id := protector_internal.random_uuid();
	s.venue_id := v.id;
	IF p_target_venue_id IS NULL OR p_target_venue_id = (SELECT venue_id FROM protector.services WHERE id = p_service_id) THEN
		s.name := left(s.name, 193) || ' (copy)';
	END IF;
	BEGIN
		INSERT INTO protector.services (id, organization_id, venue_id, name, description, mode, duration,
			capacity, min_party, max_party, buffer_before, buffer_after, slot_interval, min_notice,
			max_advance, price, price_per_person, currency, settings, active, waiver_id)
		VALUES (s.id, s.organization_id, s.venue_id, s.name, s.description, s.mode, s.duration,
			s.capacity, s.min_party, s.max_party, s.buffer_before, s.buffer_after, s.slot_interval, s.min_notice,
			s.max_advance, s.price, s.price_per_person, s.currency, s.settings, s.active, s.waiver_id)
		RETURNING * INTO s;
	-- (PT422 is that refusal under protector.http_errors, which errors.md
	-- advises for production: the bare message came back there, naming a
	-- value the caller never sent: an attack review of settings)
	EXCEPTION WHEN invalid_parameter_value OR SQLSTATE 'PT422' THEN
		-- (the copy is a new row, checked whole: a value refused is the
		-- service's own, which a service stored before 0.2.0 checked it
		-- keeps while it is not changed; the caller sent none)
		GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('service %s cannot be copied: %s', p_service_id, v_message),
			'The copy is a new service and is checked whole; the value is the service''s own, stored before protector checked it.',
			'Correct it on the service first (update_service), then copy it.');
	END;
	RETURN to_jsonb(s);
END
$$;
COMMENT ON FUNCTION protector.duplicate_service(uuid, uuid) IS
'Copies a service with all its settings, to the same venue (" (copy)") or another of the organization';

-- Bookings, revenue, utilization and cancellations of a venue over local
-- dates [p_from, p_to].  Utilization = booked service time / open service
-- time: each active service counts the venue's open hours once; a booking
-- counts its length (for shared services times party / capacity).
CREATE FUNCTION protector.get_venue_analytics(p_venue_id uuid, p_from date, p_to date)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues;
	v_lo timestamptz;
	v_hi timestamptz;
	v_open_seconds numeric;
	v_services integer;
	v_counted integer;
	v_first date;
	v_currency text;
	r jsonb;
BEGIN
	IF p_venue_id IS NULL OR p_from IS NULL OR p_to IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_venue_id, p_from and p_to must not be null');
	END IF;
	-- (infinite dates first: they cannot be subtracted)
	PERFORM protector_internal.check_date_range(p_from, p_to, '0001-01-01', '9999-12-31');
	IF p_to < p_from OR p_to - p_from > 366 THEN
		PERFORM protector.raise('invalid_parameter',
			'p_from to p_to must be a range of at most 367 days between the years 1 and 9999',
			format('Got %s to %s.', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
	PERFORM protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.analytics', 'venue');
	SELECT * INTO v FROM protector.venues WHERE id = p_venue_id;
	-- revenue in the organization's currency, as every report counts it
	SELECT o.currency INTO v_currency FROM protector.organizations o WHERE o.id = v.organization_id;
	-- (a day begins at its first instant: where midnight happens twice,
	-- the first, as the reports and dashboards count it)
	v_lo := protector_internal.local_midnight(v.timezone, p_from);
	v_hi := protector_internal.local_midnight(v.timezone, p_to + 1);
	-- the time open, each instant once: ranges may overlap (the same hours
	-- twice, or a range past midnight into the next day's first), and the
	-- day before p_from may run into it; get_venue_schedule answers at most
	-- 93 days at a time (and knows no day before the year 1)
	v_first := greatest(p_from - 1, date '0001-01-01');
	SELECT COALESCE(sum(extract(epoch FROM upper(u) - lower(u))), 0)
	INTO v_open_seconds
	FROM (SELECT range_agg(tstzrange(greatest(g.opens_at, v_lo), least(g.closes_at, v_hi))) AS open
		  FROM generate_series(0, (p_to - v_first) / 93) k,
			   LATERAL protector.get_venue_schedule(v.id, v_first + k * 93, least(p_to, v_first + k * 93 + 92)) g
		  -- (a range inside a spring-forward gap opens after it closes: none)
		  WHERE g.kind <> 'closed' AND g.closes_at > v_lo AND g.opens_at < v_hi AND g.closes_at > g.opens_at) x,
		 unnest(x.open) u;
	SELECT count(*) INTO v_services FROM protector.services s WHERE s.venue_id = v.id AND s.active;
	-- the services whose time counts: the active ones, and a retired one
	-- whose bookings in the range are counted (its time was open then)
	SELECT count(*) INTO v_counted FROM protector.services s
	WHERE s.venue_id = v.id
	  AND (s.active OR EXISTS (SELECT FROM protector.bookings b
							   WHERE b.organization_id = s.organization_id AND b.venue_id = v.id AND b.service_id = s.id
								 AND protector_internal.booking_start(b.during) >= v_lo - interval '744 hours'
								 AND protector_internal.booking_start(b.during) < v_hi
								 AND b.during && tstzrange(v_lo, v_hi) AND b.status NOT IN ('cancelled', 'held', 'no_show')));

	SELECT jsonb_build_object(
		'venue', v.name, 'from', p_from, 'to', p_to, 'timezone', v.timezone,
		-- (counted on the day they start; only utilization takes the
		-- time of every booking that overlaps the range)
		'bookings', count(*) FILTER (WHERE x.starts AND b.status NOT IN ('cancelled', 'held')),
		'cancellations', count(*) FILTER (WHERE x.starts AND b.status = 'cancelled'),
		'no_shows', count(*) FILTER (WHERE x.starts AND b.status = 'no_show'),
		'guests', COALESCE(sum(b.party_size) FILTER (WHERE x.starts AND b.status NOT IN ('cancelled', 'held', 'no_show')), 0),
		'revenue', COALESCE(sum(b.total_price) FILTER (WHERE x.starts AND b.status IN ('confirmed', 'in_progress', 'completed', 'no_show')
													  AND b.currency = v_currency), 0),
		'currency', v_currency,
		'open_hours', round(v_open_seconds / 3600, 2),
		'active_services', v_services,
		-- (a shared booking takes at most its whole slot: one made before
		-- its service's capacity was lowered counts as full; and the share
		-- is never above 1)
		'utilization', CASE WHEN v_open_seconds * v_counted > 0 THEN round(least(1,
			COALESCE(sum(extract(epoch FROM least(upper(b.during), v_hi) - greatest(lower(b.during), v_lo))
						 * CASE WHEN s.mode = 'shared' THEN least(1, b.party_size::numeric / s.capacity) ELSE 1 END)
					 FILTER (WHERE b.status NOT IN ('cancelled', 'held', 'no_show')), 0)
			/ (v_open_seconds * v_counted)), 4) END)
	INTO r
	FROM protector.bookings b
	JOIN protector.services s ON s.id = b.service_id
	CROSS JOIN LATERAL (SELECT protector_internal.booking_start(b.during) >= v_lo AS starts) x
	-- the organization's bookings starting from 31 days (the longest a
	-- booking lasts) before the range: an index range of bookings_starts_idx
	-- also under the caller's RLS, where the overlap alone was a filter over
	-- every booking of the table
	WHERE b.organization_id = v.organization_id AND b.venue_id = v.id
	  AND protector_internal.booking_start(b.during) >= v_lo - interval '744 hours'
	  AND protector_internal.booking_start(b.during) < v_hi
	  AND b.during && tstzrange(v_lo, v_hi)
	  -- (a hold cancelled, lapsed or by hand, was never a booking: it
	  -- keeps its hold_expires_at)
	  AND NOT (b.status = 'cancelled' AND b.hold_expires_at IS NOT NULL);
	RETURN r;
END
$$;
COMMENT ON FUNCTION protector.get_venue_analytics(uuid, date, date) IS
'Bookings, cancellations, guests, revenue and utilization (booked / open service time) of a venue';
