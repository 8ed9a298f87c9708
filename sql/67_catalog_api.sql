\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/67_catalog_api.sql: creating and changing services and customers
-- through RPCs, with the validation and error style of the rest
-- (docs/venues.md#services, docs/customers.md#creating-and-changing).
--
-- Each create_* checks its arguments by name (22023 "p_duration must
-- be ..."), each update_* takes p_changes, a JSON object of the fields to
-- change, checks the row they make the same way ("p_changes.duration must
-- be ...") and merges settings objects (RFC 7386).  Table writes under RLS
-- remain possible; the table constraints and triggers still hold for them.

-- A price from 0 with at most two decimals (prices may be free, unlike
-- payments).
CREATE FUNCTION protector_internal.check_price(p_amount numeric, p_parameter text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_amount IS NULL OR p_amount OPERATOR(pg_catalog.<) 0 OR p_amount OPERATOR(pg_catalog.>=) 10000000000
	   OR p_amount OPERATOR(pg_catalog.<>) pg_catalog.round(p_amount, 2) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be an amount from 0 with at most two decimals', p_parameter),
			pg_catalog.format('Got %s.', COALESCE(protector_internal.quoted_text(p_amount::text, 100), 'NULL')),
			-- (the bound said, as check_money says it: a price of 10^10 was
			-- told only "from 0")
			'Prices are in the currency''s units (12.34, not 1234 cents), from 0 and below 10000000000.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_price(numeric, text) IS
'Refuses a price that is negative, has more than two decimals or is 10^10 or more (22023 naming the parameter)';

-- An amount given in JSON as apply_changes reads it into a numeric
-- column: a number, or a string that reads as a number; NULL for anything
-- else (apply_changes names a value of the wrong type).
CREATE FUNCTION protector_internal.json_amount(p_value jsonb)
RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.jsonb_typeof(p_value) OPERATOR(pg_catalog.=) 'number'
				 OR (pg_catalog.jsonb_typeof(p_value) OPERATOR(pg_catalog.=) 'string'
					 AND (p_value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~) '^[ \t\n\r\f\v]*[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,4})?[ \t\n\r\f\v]*$'
					 -- (no longer than 100 characters: numeric takes any such one)
					 AND pg_catalog.length(p_value OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.<=) 100)
			THEN (p_value OPERATOR(pg_catalog.#>>) '{}')::numeric END;
COMMENT ON FUNCTION protector_internal.json_amount(jsonb) IS
'A JSON number, or a string that reads as one, as numeric; NULL otherwise';

-- A duration between p_min and p_max (written as docs write them, "31
-- days", whatever the caller's IntervalStyle).
CREATE FUNCTION protector_internal.check_interval(p_value interval, p_parameter text, p_min interval, p_max interval,
												  p_min_inclusive boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET IntervalStyle = 'postgres'
AS $$
BEGIN
	-- (exact elapsed times: a month or a year has no fixed length, and
	-- '1 year' was read as 360 days, as interval arithmetic counts it)
	IF pg_catalog.date_part('month', p_value) OPERATOR(pg_catalog.<>) 0
	   OR pg_catalog.date_part('year', p_value) OPERATOR(pg_catalog.<>) 0 THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s must be given in days, hours and minutes', p_parameter),
			pg_catalog.format('Got %s: a month or a year has no fixed length (interval arithmetic counts 30 and 360 days).', p_value),
			'Write 365 days for a year, 30 days for a month.');
	END IF;
	IF p_value IS NULL OR p_value OPERATOR(pg_catalog.>) p_max
	   OR (p_min_inclusive AND p_value OPERATOR(pg_catalog.<) p_min)
	   OR (NOT p_min_inclusive AND p_value OPERATOR(pg_catalog.<=) p_min) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s must be %s %s and at most %s', p_parameter,
							  CASE WHEN p_min_inclusive THEN 'at least' ELSE 'more than' END, p_min, p_max),
			pg_catalog.format('Got %s.', COALESCE(p_value::text, 'NULL')));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_interval(interval, text, interval, interval, boolean) IS
'Refuses a duration outside its range (22023 naming the parameter)';

-- An integer between p_min and p_max.
CREATE FUNCTION protector_internal.check_integer(p_value integer, p_parameter text, p_min integer, p_max integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_value IS NULL OR p_value NOT BETWEEN p_min AND p_max THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be from %s to %s', p_parameter, p_min, p_max),
			pg_catalog.format('Got %s.', COALESCE(p_value::text, 'NULL')));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_integer(integer, text, integer, integer) IS
'Refuses an integer outside its range (22023 naming the parameter)';

-- A plain text of p_min to p_max characters (no control or invisible
-- direction characters); NULL passes when p_min is 0.
CREATE FUNCTION protector_internal.check_text(p_value text, p_parameter text, p_min integer, p_max integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (spaces at the ends count against the most, not towards the least:
	-- 'x' and 20 MB of spaces is no text of 1 to 200 characters; nor is a
	-- name of no-break or ideographic spaces one of 1, which the RPCs
	-- passed on for a trigger to refuse naming a column, not the parameter)
	IF (p_value IS NULL AND p_min OPERATOR(pg_catalog.>) 0)
	   OR pg_catalog.length(protector_internal.trim_spaces(p_value)) OPERATOR(pg_catalog.<) p_min
	   OR pg_catalog.length(p_value) OPERATOR(pg_catalog.>) p_max THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be %s to %s characters', p_parameter, p_min, p_max),
			pg_catalog.format('Got %s characters.', COALESCE(CASE WHEN pg_catalog.length(p_value) OPERATOR(pg_catalog.>) p_max
															   THEN pg_catalog.length(p_value)
															   ELSE pg_catalog.length(protector_internal.trim_spaces(p_value)) END::text, 'NULL, 0')));
	END IF;
	IF NOT protector_internal.text_is_clean(p_value) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s holds control or invisible direction characters', p_parameter));
	END IF;
	-- (a text that must not be empty shows something: combining marks
	-- alone named a venue that rendered as nothing, as the widget refused
	-- for a visitor's name: a review)
	IF p_min OPERATOR(pg_catalog.>) 0 AND NOT protector_internal.renders_visible(p_value) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must hold a visible character', p_parameter));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_text(text, text, integer, integer) IS
'Refuses a text of the wrong length, with control characters, or (one that must not be empty) with nothing visible (22023 naming the parameter)';

-- ... and one of several lines (a description): line breaks and tabs
-- too, as notes and reasons take them (0.1.0 took descriptions of
-- several lines, which 0.2.0 refused as control characters: a review)
CREATE FUNCTION protector_internal.check_lines(p_value text, p_parameter text, p_min integer, p_max integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.check_text(pg_catalog.translate(p_value, E'\r\n\t', '   '), p_parameter, p_min, p_max);
END
$$;
COMMENT ON FUNCTION protector_internal.check_lines(text, text, integer, integer) IS
'check_text for a text of several lines: line breaks and tabs allowed';

-- A text without the spaces at its ends, Unicode's space separators and
-- line breaks included (btrim takes the ASCII space only): C, reading the
-- text where it is from both ends (btrim with a set of several characters
-- made arrays of 12 bytes per byte of the text: 150 MB failed with XX000
-- "invalid memory alloc request size", 120 MB took 1.9 GB before its
-- length was refused).
CREATE FUNCTION protector_internal.trim_spaces(p_text text)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_trim_spaces'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.trim_spaces(text) IS
'A text trimmed of every kind of space at its ends (Unicode space separators and line breaks included)';

-- The names an operator's screen and the widget show stay plain text
-- whoever writes them: the RPCs check their parameters by name, these
-- triggers the column for table writes under RLS (a direct rename put
-- direction overrides into an organization's name).  Only a value that
-- changes: a row stored before names were checked stays writable (an
-- update_venue of its city writes the name it has).  Not while restoring
-- (rows come back as they were), nor for imports under
-- session_replication_role = replica, where no trigger of protector's runs.
CREATE FUNCTION protector_internal.checked_name(p_name text, p_column text, p_table name)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_name text;
BEGIN
	IF NOT protector_internal.text_is_clean(p_name) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s holds control or invisible direction characters', p_column),
			pg_catalog.format('Writing %s.%s.', p_table, p_column));
	END IF;
	-- stored trimmed, as the RPCs store it (a waiver named '  W  ' was
	-- another waiver than create_waiver's 'W'), of every space (a name
	-- padded with ideographic spaces looked like another's)
	v_name := protector_internal.trim_spaces(p_name);
	IF v_name OPERATOR(pg_catalog.=) '' THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must not be blank', p_column),
			pg_catalog.format('Writing %s.%s.', p_table, p_column));
	END IF;
	IF NOT protector_internal.renders_visible(v_name) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must hold a visible character', p_column),
			pg_catalog.format('Writing %s.%s.', p_table, p_column));
	END IF;
	RETURN v_name;
END
$$;
COMMENT ON FUNCTION protector_internal.checked_name(text, text, name) IS
'A name as the name triggers store it: refused (22023, naming p_table.p_column) with control or invisible direction characters, blank or with nothing visible, else trimmed';

CREATE FUNCTION protector_internal.check_name()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.name IS DISTINCT FROM OLD.name THEN
		NEW.name := protector_internal.checked_name(NEW.name, 'name', TG_TABLE_NAME);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_name() IS
'Trigger (BEFORE INSERT OR UPDATE OF name): a new name holds no control or invisible direction characters, and is stored trimmed';

CREATE FUNCTION protector_internal.check_full_name()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.full_name IS DISTINCT FROM OLD.full_name THEN
		NEW.full_name := protector_internal.checked_name(NEW.full_name, 'full_name', TG_TABLE_NAME);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_full_name() IS
'Trigger (BEFORE INSERT OR UPDATE OF full_name): a new full name holds no control or invisible direction characters, and is stored trimmed';
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF name ON protector.organizations
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.organizations')) EXECUTE FUNCTION protector_internal.check_name();
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF name ON protector.venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.venues')) EXECUTE FUNCTION protector_internal.check_name();
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF name ON protector.services
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.services')) EXECUTE FUNCTION protector_internal.check_name();
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF full_name ON protector.customers
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.customers')) EXECUTE FUNCTION protector_internal.check_full_name();
CREATE TRIGGER check_names BEFORE INSERT OR UPDATE OF full_name ON protector.members
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.members')) EXECUTE FUNCTION protector_internal.check_full_name();

-- A zone written to an organization or venue names a place, as the RPCs
-- ask (protector.check_timezone): not localtime, posixrules or Factory,
-- which the table CHECK still takes so that older rows restore.  Only a
-- zone that changes; not while restoring.
CREATE FUNCTION protector_internal.check_zone()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a zone that is no zone at all is named too: the CHECK's error was
	-- bare; the CHECK stays for imports under replica)
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.timezone IS DISTINCT FROM OLD.timezone THEN
		PERFORM protector.check_timezone(NEW.timezone, 'timezone');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_zone() IS
'Trigger (BEFORE INSERT OR UPDATE OF timezone): a new zone names a place (protector.check_timezone)';
CREATE TRIGGER check_zone BEFORE INSERT OR UPDATE OF timezone ON protector.organizations
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.organizations')) EXECUTE FUNCTION protector_internal.check_zone();
CREATE TRIGGER check_zone BEFORE INSERT OR UPDATE OF timezone ON protector.venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.venues')) EXECUTE FUNCTION protector_internal.check_zone();

-- A service as it would be written; p_prefix names its fields in errors
-- ('p_' for create_service, 'p_changes.' for update_service).
CREATE FUNCTION protector_internal.check_service(s protector.services, p_prefix text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.check_text(s.name, p_prefix OPERATOR(pg_catalog.||) 'name', 1, 200);
	IF s.description IS NOT NULL THEN
		PERFORM protector_internal.check_lines(s.description, p_prefix OPERATOR(pg_catalog.||) 'description', 0, 5000);
	END IF;
	PERFORM protector_internal.check_interval(s.duration, p_prefix OPERATOR(pg_catalog.||) 'duration', '0', '31 days', false);
	PERFORM protector_internal.check_integer(s.capacity, p_prefix OPERATOR(pg_catalog.||) 'capacity', 1, 100000);
	PERFORM protector_internal.check_integer(s.min_party, p_prefix OPERATOR(pg_catalog.||) 'min_party', 1, 100000);
	IF s.mode OPERATOR(pg_catalog.=) 'shared' AND s.min_party OPERATOR(pg_catalog.>) s.capacity THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%smin_party must be at most the capacity of a shared service', p_prefix),
			pg_catalog.format('min_party %s, capacity %s.', s.min_party, s.capacity));
	END IF;
	-- (said as the rule it is: a service made shared, its max_party
	-- untouched, was told "max_party must be from 1 to 6"; its min_party
	-- first, which bounds max_party from below)
	IF s.mode OPERATOR(pg_catalog.=) 'shared' AND s.max_party OPERATOR(pg_catalog.>) s.capacity
	   AND s.max_party OPERATOR(pg_catalog.>=) s.min_party AND s.capacity BETWEEN 1 AND 100000 THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%smax_party must be at most the capacity of a shared service', p_prefix),
			pg_catalog.format('max_party %s, capacity %s.', s.max_party, s.capacity),
			'Lower max_party (with the change of mode, if that is one), or raise the capacity.');
	END IF;
	IF s.max_party IS NOT NULL THEN
		PERFORM protector_internal.check_integer(s.max_party, p_prefix OPERATOR(pg_catalog.||) 'max_party', s.min_party,
			CASE WHEN s.mode OPERATOR(pg_catalog.=) 'shared' THEN s.capacity ELSE 100000 END);
	END IF;
	-- (the largest party is max_party, else the capacity: a service whose
	-- smallest party is larger takes no booking at all)
	IF s.max_party IS NULL AND s.min_party OPERATOR(pg_catalog.>) s.capacity THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%smin_party must be at most max_party, or the capacity without one', p_prefix),
			pg_catalog.format('min_party %s, capacity %s, no max_party.', s.min_party, s.capacity));
	END IF;
	PERFORM protector_internal.check_interval(s.buffer_before, p_prefix OPERATOR(pg_catalog.||) 'buffer_before', '0', '1 day');
	PERFORM protector_internal.check_interval(s.buffer_after, p_prefix OPERATOR(pg_catalog.||) 'buffer_after', '0', '1 day');
	PERFORM protector_internal.check_interval(s.slot_interval, p_prefix OPERATOR(pg_catalog.||) 'slot_interval', '1 minute', '1 day');
	PERFORM protector_internal.check_interval(s.min_notice, p_prefix OPERATOR(pg_catalog.||) 'min_notice', '0', '365 days');
	PERFORM protector_internal.check_interval(s.max_advance, p_prefix OPERATOR(pg_catalog.||) 'max_advance', '0', '1100 days', false);
	IF s.min_notice OPERATOR(pg_catalog.>=) s.max_advance THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%smin_notice must be shorter than max_advance', p_prefix),
			pg_catalog.format('min_notice %s, max_advance %s: no start would be both far enough and near enough.',
							  s.min_notice, s.max_advance));
	END IF;
	PERFORM protector_internal.check_price(s.price, p_prefix OPERATOR(pg_catalog.||) 'price');
	PERFORM protector_internal.check_price(s.price_per_person, p_prefix OPERATOR(pg_catalog.||) 'price_per_person');
	PERFORM protector_internal.check_currency(s.currency, p_prefix OPERATOR(pg_catalog.||) 'currency');
	PERFORM protector_internal.check_settings('service', s.settings, p_prefix OPERATOR(pg_catalog.||) 'settings');
END
$$;
COMMENT ON FUNCTION protector_internal.check_service(protector.services, text) IS
'Refuses a service row with a bad field, naming it with p_prefix (22023)';

-- A customer as it would be written, the same way.
CREATE FUNCTION protector_internal.check_customer(c protector.customers, p_prefix text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.check_text(c.full_name, p_prefix OPERATOR(pg_catalog.||) 'full_name', 1, 200);
	IF c.email IS NOT NULL AND NOT protector_internal.email_is_valid(c.email) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%semail is not an email address', p_prefix),
			'At most 320 characters, like name@example.com.');
	END IF;
	IF c.phone IS NOT NULL AND NOT protector_internal.phone_is_valid(c.phone) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%sphone is not a phone number', p_prefix),
			'Digits, spaces and ( ) . / - only, an optional leading +, at most 40 characters.');
	END IF;
	PERFORM protector_internal.check_country(c.country, p_prefix OPERATOR(pg_catalog.||) 'country');
	IF c.tags IS NULL OR pg_catalog.cardinality(c.tags) OPERATOR(pg_catalog.>) 100
	   OR pg_catalog.array_ndims(c.tags) OPERATOR(pg_catalog.>) 1
	   OR EXISTS (SELECT FROM pg_catalog.unnest(c.tags) g
				  WHERE g IS NULL OR pg_catalog.length(g) NOT BETWEEN 1 AND 50 OR NOT protector_internal.text_is_clean(g)
					 OR NOT protector_internal.renders_visible(g)) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%stags must be at most 100 tags of 1 to 50 plain characters', p_prefix));
	END IF;
	IF c.notes IS NOT NULL AND pg_catalog.length(c.notes) OPERATOR(pg_catalog.>) 10000 THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%snotes must be at most 10000 characters', p_prefix));
	END IF;
	-- (line breaks and tabs, nothing else invisible, as every other free text)
	IF NOT protector_internal.lines_are_clean(c.notes) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%snotes holds control or invisible direction characters', p_prefix));
	END IF;
	-- (a column of sql/84_reminders.sql)
	IF c.reminder_channel IS NOT NULL AND c.reminder_channel OPERATOR(pg_catalog.<>) ALL ('{email,sms,none}') THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%sreminder_channel must be email, sms or none', p_prefix),
			pg_catalog.format('Got "%s"; null: e-mail if there is an address, else SMS.', pg_catalog.left(c.reminder_channel, 20)));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_customer(protector.customers, text) IS
'Refuses a customer row with a bad field, naming it with p_prefix (22023)';

-- What a change of a customer brings, to be judged as check_customer
-- judges a row: the new values of the columns it changes (of tags, the
-- tags it adds, unless the list as a whole is out of bounds), neutral
-- ones for what it keeps, so that a value stored before a rule stays
-- writable around it (update_customer and check_customer_row ask it).
-- A customer's tags as a set: each once, without the spaces at its ends
-- (one of spaces alone dropped), in the order first given (a list of repeats was stored as given and
-- used up the 100 a record takes; 'vip', ' vip' and 'vip ' were three
-- tags: a review); a list of more dimensions as it is (check_customer
-- refuses it)
CREATE FUNCTION protector_internal.tag_set(p_tags text[])
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.array_ndims(p_tags) IS DISTINCT FROM 1 THEN p_tags
			ELSE ARRAY(SELECT y.t FROM pg_catalog.unnest(p_tags) WITH ORDINALITY x(t, n),
								  LATERAL (SELECT protector_internal.trim_spaces(x.t) AS t) y
					   -- (one of spaces alone is none: one stored before
					   -- tags were checked went, not refused: a review)
					   WHERE y.t IS DISTINCT FROM ''
					   GROUP BY y.t ORDER BY pg_catalog.min(x.n)) END;
COMMENT ON FUNCTION protector_internal.tag_set(text[]) IS
'Internal: tags each once, trimmed, in the order first given (a list of more dimensions as it is)';

CREATE FUNCTION protector_internal.customer_changes(p_new protector.customers, p_old protector.customers)
RETURNS protector.customers
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c protector.customers := p_new;
BEGIN
	IF p_new.full_name IS NOT DISTINCT FROM p_old.full_name THEN c.full_name := 'x'; END IF;
	IF p_new.email IS NOT DISTINCT FROM p_old.email THEN c.email := NULL; END IF;
	IF p_new.phone IS NOT DISTINCT FROM p_old.phone THEN c.phone := NULL; END IF;
	IF p_new.country IS NOT DISTINCT FROM p_old.country THEN c.country := NULL; END IF;
	IF p_new.tags IS NOT DISTINCT FROM p_old.tags THEN
		c.tags := '{}';
	ELSIF p_new.tags IS NOT NULL AND pg_catalog.cardinality(p_new.tags) OPERATOR(pg_catalog.<=) 100
		  AND pg_catalog.array_ndims(p_new.tags) IS NOT DISTINCT FROM 1 AND p_old.tags IS NOT NULL THEN
		-- (a NULL among the old tags is one of them, not a reason to wave
		-- the new ones through: = ANY of a list with a NULL is NULL; an old
		-- tag is one as stored or trimmed, as tag_set stores it again: a
		-- 0.1.0 tag with a space at its end was judged new: a review)
		c.tags := ARRAY(SELECT g FROM pg_catalog.unnest(p_new.tags) g
						WHERE CASE WHEN g IS NULL THEN NOT EXISTS (SELECT FROM pg_catalog.unnest(p_old.tags) o WHERE o IS NULL)
								   ELSE NOT COALESCE(g OPERATOR(pg_catalog.=) ANY (p_old.tags)
													 OR g OPERATOR(pg_catalog.=) ANY (protector_internal.tag_set(p_old.tags)), false) END);
	END IF;
	IF p_new.notes IS NOT DISTINCT FROM p_old.notes THEN c.notes := NULL; END IF;
	IF p_new.reminder_channel IS NOT DISTINCT FROM p_old.reminder_channel THEN c.reminder_channel := NULL; END IF;
	RETURN c;
END
$$;
COMMENT ON FUNCTION protector_internal.customer_changes(protector.customers, protector.customers) IS
'What a change of a customer brings (changed columns, added tags), unchanged ones neutral: for check_customer';

-- What a change of a service brings, to be judged as check_service judges
-- a row, as customer_changes does for customers: the new values of the
-- columns it changes, neutral ones for what it keeps, so that a value
-- stored before a rule (0.1.0 took any name or settings key) stays
-- writable around it and the service can still be retired.  Limits judged
-- together are judged together: party sizes, capacity and mode when one of
-- them changes, notice and advance likewise; of settings, the keys whose
-- values change.
CREATE FUNCTION protector_internal.service_changes(p_new protector.services, p_old protector.services)
RETURNS protector.services
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services := p_new;
BEGIN
	IF p_new.name IS NOT DISTINCT FROM p_old.name THEN s.name := 'x'; END IF;
	IF p_new.description IS NOT DISTINCT FROM p_old.description THEN s.description := NULL; END IF;
	-- (intervals by their fields: '1 year 1 mon 10 days' equals '400 days'
	-- as intervals compare, and passed unjudged over a max_advance of 400
	-- days: an attack review of special values)
	IF p_new.duration::text IS NOT DISTINCT FROM p_old.duration::text THEN s.duration := interval '1 hour'; END IF;
	IF (p_new.capacity, p_new.min_party, p_new.max_party, p_new.mode)
	   IS NOT DISTINCT FROM (p_old.capacity, p_old.min_party, p_old.max_party, p_old.mode) THEN
		s.capacity := 1;
		s.min_party := 1;
		s.max_party := NULL;
		s.mode := 'exclusive';
	END IF;
	IF p_new.buffer_before::text IS NOT DISTINCT FROM p_old.buffer_before::text THEN s.buffer_before := interval '0'; END IF;
	IF p_new.buffer_after::text IS NOT DISTINCT FROM p_old.buffer_after::text THEN s.buffer_after := interval '0'; END IF;
	IF p_new.slot_interval::text IS NOT DISTINCT FROM p_old.slot_interval::text THEN s.slot_interval := interval '1 hour'; END IF;
	IF (p_new.min_notice::text, p_new.max_advance::text) IS NOT DISTINCT FROM (p_old.min_notice::text, p_old.max_advance::text) THEN
		s.min_notice := interval '0';
		s.max_advance := interval '1 day';
	END IF;
	IF p_new.price IS NOT DISTINCT FROM p_old.price THEN s.price := 0; END IF;
	IF p_new.price_per_person IS NOT DISTINCT FROM p_old.price_per_person THEN s.price_per_person := 0; END IF;
	IF p_new.currency IS NOT DISTINCT FROM p_old.currency THEN s.currency := 'EUR'; END IF;
	s.settings := protector_internal.changed_settings(p_new.settings, p_old.settings);
	RETURN s;
END
$$;
COMMENT ON FUNCTION protector_internal.service_changes(protector.services, protector.services) IS
'What a change of a service brings (changed columns, limits together, changed settings keys), unchanged ones neutral: for check_service';

-- A service or customer written directly (PostgREST's POST and PATCH, as
-- RLS lets the desk) is held to the checks of the functions: a party limit
-- above 100000 or a service that takes no booking broke the widget for
-- everyone, a customer stored unchecked could no longer be updated through
-- update_customer.  A write that changes none of the checked columns is
-- not judged (protector's own writes of others: account links, stamps);
-- of a customer or service, what a write changes is judged (a value stored
-- before a rule stays writable around it; a service's limits are judged
-- together), as update_customer and update_service judge it.  Not while
-- restoring.
CREATE FUNCTION protector_internal.check_service_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
	   -- (intervals by their fields, as service_changes compares them)
	   AND (NEW.name, NEW.description, NEW.duration::text, NEW.capacity, NEW.min_party, NEW.max_party, NEW.mode,
			NEW.buffer_before::text, NEW.buffer_after::text, NEW.slot_interval::text, NEW.min_notice::text,
			NEW.max_advance::text, NEW.price, NEW.price_per_person, NEW.currency, NEW.settings)
		   IS NOT DISTINCT FROM
		   (OLD.name, OLD.description, OLD.duration::text, OLD.capacity, OLD.min_party, OLD.max_party, OLD.mode,
			OLD.buffer_before::text, OLD.buffer_after::text, OLD.slot_interval::text, OLD.min_notice::text,
			OLD.max_advance::text, OLD.price, OLD.price_per_person, OLD.currency, OLD.settings) THEN
		RETURN NEW;
	END IF;
	PERFORM protector_internal.check_service(CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
												  THEN protector_internal.service_changes(NEW, OLD) ELSE NEW END, '');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_service_row() IS
'Trigger: a service as written (directly, too) passes check_service, when a write changes what it checks';
CREATE TRIGGER check_service_row BEFORE INSERT OR UPDATE ON protector.services
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.services'))
	EXECUTE FUNCTION protector_internal.check_service_row();

CREATE FUNCTION protector_internal.check_customer_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a record cleared as an erasure clears it passes every check below,
	-- and their statements would carry the row being erased, OLD, as
	-- parameters, which pgaudit logs: not made.  Judged by NEW alone, not
	-- by a setting, which any session may set)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.full_name OPERATOR(pg_catalog.=) 'erased'
	   AND NEW.email IS NULL AND NEW.phone IS NULL AND NEW.country IS NULL AND NEW.notes IS NULL
	   AND NEW.user_id IS NULL AND NEW.tags OPERATOR(pg_catalog.=) '{}'::text[] THEN
		RETURN NEW;
	END IF;
	-- tags are a set
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.tags IS DISTINCT FROM OLD.tags THEN
		NEW.tags := protector_internal.tag_set(NEW.tags);
	END IF;
	-- (an update: what it changes; nothing, when it changes none of them)
	PERFORM protector_internal.check_customer(CASE WHEN TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
													THEN protector_internal.customer_changes(NEW, OLD) ELSE NEW END, '');
	-- an account linked to the record reads its bookings, messages and
	-- waivers and books as it: the desk's managers link one (operators
	-- create customers, and would hand anyone's account a record)
	IF NEW.user_id IS NOT NULL AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.user_id OPERATOR(pg_catalog.<>) OLD.user_id
									 OR OLD.user_id IS NULL)
	   AND NOT protector_internal.caller_is_trusted()
	   AND NEW.organization_id OPERATOR(pg_catalog.<>) ALL (protector_internal.orgs_with('customers.manage')) THEN
		PERFORM protector.raise('forbidden', 'your role may not link a customer record to an account',
			'Owners, admins and managers link records to accounts (customers.manage).', 'Leave user_id out.');
	END IF;
	-- a record merged into another is linked to no account (the merge took
	-- its link; one linked again, beside the person's live record, made an
	-- erasure of another record take that account's acts for the erased
	-- person's: a review), whoever writes it
	IF NEW.user_id IS NOT NULL AND NEW.merged_into IS NOT NULL
	   AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.user_id IS DISTINCT FROM OLD.user_id
			OR OLD.merged_into IS NULL) THEN
		PERFORM protector.raise('invalid_parameter', 'a customer merged into another is linked to no account',
			pg_catalog.format('Customer %s was merged into customer %s.', NEW.id, NEW.merged_into),
			pg_catalog.format('Link customer %s instead.', NEW.merged_into));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_customer_row() IS
'Trigger: a customer as written (directly, too) passes check_customer, when a write changes what it checks; only customers.manage links an account, and a merged record to none';
CREATE TRIGGER check_customer_row BEFORE INSERT OR UPDATE ON protector.customers
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.customers'))
	EXECUTE FUNCTION protector_internal.check_customer_row();

-- A venue's texts, as create_venue and update_venue take them: the widget
-- shows them to anyone (a direct PATCH stored a city with a direction
-- override and a description with a terminal escape).
CREATE FUNCTION protector_internal.check_venue_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
	   AND (NEW.description, NEW.address, NEW.city, NEW.region, NEW.postal_code, NEW.country)
		   IS NOT DISTINCT FROM (OLD.description, OLD.address, OLD.city, OLD.region, OLD.postal_code, OLD.country) THEN
		RETURN NEW;
	END IF;
	-- (what the write changes: a text of before the rule stays as it is)
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.description IS DISTINCT FROM OLD.description THEN
		PERFORM protector_internal.check_lines(NEW.description, 'description', 0, 5000);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.address IS DISTINCT FROM OLD.address THEN
		PERFORM protector_internal.check_text(NEW.address, 'address', 0, 500);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.city IS DISTINCT FROM OLD.city THEN
		PERFORM protector_internal.check_text(NEW.city, 'city', 0, 200);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.region IS DISTINCT FROM OLD.region THEN
		PERFORM protector_internal.check_text(NEW.region, 'region', 0, 200);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.postal_code IS DISTINCT FROM OLD.postal_code THEN
		PERFORM protector_internal.check_text(NEW.postal_code, 'postal_code', 0, 20);
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.country IS DISTINCT FROM OLD.country THEN
		PERFORM protector_internal.check_country(NEW.country, 'country');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_venue_row() IS
'Trigger: a venue''s texts and country as written (directly, too) pass the checks of create_venue, when a write changes them';
CREATE TRIGGER check_venue_row BEFORE INSERT OR UPDATE ON protector.venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.venues'))
	EXECUTE FUNCTION protector_internal.check_venue_row();

-- A closure or a day of special hours, as the desk writes it directly
-- (there is no function for them): named where the table's CHECKs were
-- bare, the pairing of closed and special_hours above all (which of the
-- two was wrong the constraint did not say).
CREATE FUNCTION protector_internal.check_closure_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a venue of the row's organization the writer sees: another's, or
	-- none, read the same; it was the foreign key's bare 23503)
	IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR (NEW.organization_id, NEW.venue_id) IS DISTINCT FROM (OLD.organization_id, OLD.venue_id))
	   AND NOT EXISTS (SELECT FROM protector.venues v
					   WHERE v.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND v.id OPERATOR(pg_catalog.=) NEW.venue_id) THEN
		PERFORM protector.raise('not_found', 'venue not found', 'It does not exist, or you may not see it.');
	END IF;
	IF NEW.closed IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'closed must be true or false');
	END IF;
	PERFORM protector_internal.check_finite(NEW.closed_on, 'closed_on');
	IF NEW.closed AND NEW.special_hours IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'a closed day has no special_hours',
			NULL, 'Set closed to false to open the day at special hours, or special_hours to null to close it.');
	END IF;
	-- (an empty list is none: the day had no hours, open by its row and
	-- closed by every read)
	IF NOT NEW.closed AND (NEW.special_hours IS NULL OR NEW.special_hours OPERATOR(pg_catalog.=) '[]'::jsonb) THEN
		PERFORM protector.raise('invalid_parameter', 'special_hours must be given when closed is false',
			CASE WHEN NEW.special_hours IS NOT NULL THEN 'Got an empty list.' END,
			'A day open at special hours lists them, e.g. [["10:00", "14:00"]]; a closure sets closed to true.');
	END IF;
	IF pg_catalog.length(NEW.reason) OPERATOR(pg_catalog.>) 500 THEN
		PERFORM protector.raise('invalid_parameter', 'reason must be at most 500 characters',
			pg_catalog.format('It has %s.', pg_catalog.length(NEW.reason)));
	END IF;
	-- (shown to every member as written: line breaks and tabs, no control
	-- or invisible direction characters, as every other reason; a review)
	IF (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR NEW.reason IS DISTINCT FROM OLD.reason)
	   AND NOT protector_internal.lines_are_clean(NEW.reason) THEN
		PERFORM protector.raise('invalid_parameter', 'reason holds control or invisible direction characters');
	END IF;
	-- a date moved onto another entry's (an insert is left to the unique
	-- key, whose conflict an upsert, ON CONFLICT, resolves; it stays the
	-- last word against a concurrent write too)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND (NEW.closed_on, NEW.venue_id) IS DISTINCT FROM (OLD.closed_on, OLD.venue_id)
	   AND EXISTS (SELECT FROM protector.venue_closures c
			   WHERE c.organization_id OPERATOR(pg_catalog.=) NEW.organization_id AND c.venue_id OPERATOR(pg_catalog.=) NEW.venue_id
				 AND c.closed_on OPERATOR(pg_catalog.=) NEW.closed_on AND c.id OPERATOR(pg_catalog.<>) NEW.id) THEN
		-- (23505, as the key answers an insert of that date)
		RAISE EXCEPTION USING ERRCODE = 'unique_violation',
			MESSAGE = pg_catalog.format('the venue has an entry for %s already', protector_internal.iso_text(NEW.closed_on)),
			HINT = 'Update that entry instead (one closure or day of special hours per venue and date).';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_closure_row() IS
'Trigger: a venue closure or day of special hours as written (directly) is named where the table''s CHECKs were bare, and a date moved onto another entry''s';
-- (for callers who may write closures: the policy refuses the others)
CREATE TRIGGER check_closure_row BEFORE INSERT OR UPDATE ON protector.venue_closures
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.venue_closures')
					   AND (protector_internal.caller_is_trusted()
							OR NEW.organization_id = ANY (protector_internal.orgs_with('venues.manage'))))
	EXECUTE FUNCTION protector_internal.check_closure_row();

-- p_changes applied to a row of p_table: the fields given, typed as the
-- columns are (22023 naming the first unknown field or the first value of
-- the wrong type: a text, an enum or an id is a JSON string, a boolean
-- true or false, a list of texts an array of strings, where jsonb's cast
-- would store an array's or a number's JSON text), settings merged.
CREATE FUNCTION protector_internal.apply_changes(p_row anyelement, p_changes jsonb, p_fields text[])
RETURNS anyelement
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_unknown text;
	k text;
	v_kind text;
	v_whole boolean;
	v_wrong boolean;
	v_result ALIAS FOR $0;
BEGIN
	IF p_changes IS NULL OR pg_catalog.jsonb_typeof(p_changes) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes must be a JSON object of the fields to change');
	END IF;
	v_unknown := protector_internal.names_text(ARRAY(SELECT x FROM pg_catalog.jsonb_object_keys(p_changes) x
													 WHERE x OPERATOR(pg_catalog.<>) ALL (p_fields) ORDER BY x));
	IF v_unknown IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('p_changes has fields that cannot be changed here: %s', v_unknown),
			pg_catalog.format('It may change %s.', pg_catalog.array_to_string(p_fields, ', ')));
	END IF;
	IF p_changes ? 'settings' AND pg_catalog.jsonb_typeof(p_changes -> 'settings') OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.settings must be a JSON object',
			'Its keys change those of the settings (a JSON merge patch); a key set to null is removed.');
	END IF;
	IF p_changes ? 'settings' THEN
		p_changes := pg_catalog.jsonb_set(p_changes, '{settings}',
			protector.merge_patch(pg_catalog.to_jsonb(p_row) -> 'settings', p_changes -> 'settings'));
	END IF;
	-- one field at a time, so that a bad value is named
	v_result := p_row;
	FOR k IN SELECT x FROM pg_catalog.jsonb_object_keys(p_changes) x ORDER BY x LOOP
		SELECT CASE WHEN t.typcategory OPERATOR(pg_catalog.=) ANY ('{S,E}') OR t.oid OPERATOR(pg_catalog.=) 'pg_catalog.uuid'::pg_catalog.regtype
					THEN 'string'
					WHEN t.typcategory OPERATOR(pg_catalog.=) 'B' THEN 'boolean'
					WHEN t.typcategory OPERATOR(pg_catalog.=) 'T' THEN 'duration'
					WHEN t.typcategory OPERATOR(pg_catalog.=) 'A' AND e.typcategory OPERATOR(pg_catalog.=) 'S' THEN 'array' END,
			   t.oid OPERATOR(pg_catalog.=) ANY ('{int2,int4,int8}'::pg_catalog.regtype[])
		INTO v_kind, v_whole
		FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_type r ON r.typrelid OPERATOR(pg_catalog.=) a.attrelid
		JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
		LEFT JOIN pg_catalog.pg_type e ON e.oid OPERATOR(pg_catalog.=) t.typelem
		WHERE r.oid OPERATOR(pg_catalog.=) pg_catalog.pg_typeof(p_row) AND a.attname OPERATOR(pg_catalog.=) k AND NOT a.attisdropped;
		v_wrong := CASE WHEN v_kind IS NULL OR pg_catalog.jsonb_typeof(p_changes -> k) OPERATOR(pg_catalog.=) 'null' THEN false
						-- (a duration with its unit: a bare 90 is 90 seconds to
						-- PostgreSQL, where a front end meant minutes)
						WHEN v_kind OPERATOR(pg_catalog.=) 'duration'
						-- (zero is zero in every unit: 0 and "0", the defaults)
						THEN (p_changes OPERATOR(pg_catalog.->>) k) OPERATOR(pg_catalog.!~) '^[[:space:]]*[+-]?0*[.]?0*[[:space:]]*$'
							 AND (pg_catalog.jsonb_typeof(p_changes -> k) OPERATOR(pg_catalog.<>) 'string'
								  -- (PostgreSQL's "@ 90" is 90 seconds too)
								  OR (p_changes OPERATOR(pg_catalog.->>) k) OPERATOR(pg_catalog.!~) '[^0-9.[:space:]+@-]')
						WHEN pg_catalog.jsonb_typeof(p_changes -> k) OPERATOR(pg_catalog.<>) v_kind THEN true
						WHEN v_kind OPERATOR(pg_catalog.=) 'array'
						THEN EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(p_changes -> k) g
									 WHERE pg_catalog.jsonb_typeof(g) OPERATOR(pg_catalog.<>) 'string')
						ELSE false END;
		IF v_wrong THEN
			PERFORM protector.raise('invalid_parameter', pg_catalog.format('p_changes.%s has a value of the wrong type', k),
				pg_catalog.format('A JSON %s is expected (got %s).',
								  CASE v_kind WHEN 'string' THEN 'string' WHEN 'boolean' THEN 'true or false'
											  WHEN 'duration' THEN 'string with a unit, such as "90 minutes",' ELSE 'array of strings' END,
								  protector_internal.quoted_text((p_changes -> k)::text, 100)));
		END IF;
		-- (a whole number written with decimals, 3.0 or "3.0", is that
		-- number, as update_venue reads it; the integer cast refused it.
		-- Spaces around it are ASCII, as numeric's input reads them: the
		-- class [[:space:]] follows the database's locale, and "4" with an
		-- em space passed it to the cast below, outside the handler: 22P02)
		IF v_whole AND (pg_catalog.jsonb_typeof(p_changes -> k) OPERATOR(pg_catalog.=) 'number'
						OR (pg_catalog.jsonb_typeof(p_changes -> k) OPERATOR(pg_catalog.=) 'string'
							AND (p_changes OPERATOR(pg_catalog.->>) k) OPERATOR(pg_catalog.~)
								'^[ \t\n\r\f\v]*[+-]?([0-9]{1,30}[.]?[0-9]{0,30}|[.][0-9]{1,30})([eE][+-]?[0-9]{1,2})?[ \t\n\r\f\v]*$'))
		   AND (p_changes OPERATOR(pg_catalog.->>) k)::numeric OPERATOR(pg_catalog.=) pg_catalog.trunc((p_changes OPERATOR(pg_catalog.->>) k)::numeric) THEN
			p_changes := pg_catalog.jsonb_set(p_changes, ARRAY[k], pg_catalog.to_jsonb(pg_catalog.trunc((p_changes OPERATOR(pg_catalog.->>) k)::numeric)));
		END IF;
		BEGIN
			v_result := pg_catalog.jsonb_populate_record(v_result, pg_catalog.jsonb_build_object(k, p_changes -> k));
		EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
			-- (a number too large for its column is of the right type: said
			-- so, where "wrong type" sent a front end looking for a bug)
			PERFORM protector.raise('invalid_parameter',
				pg_catalog.format(CASE WHEN SQLSTATE OPERATOR(pg_catalog.=) '22003' THEN 'p_changes.%s is out of range'
									   ELSE 'p_changes.%s has a value of the wrong type' END, k),
				-- (the cast's own words, which quote the whole value: cut)
				pg_catalog.format('%s (got %s).', pg_catalog.left(SQLERRM, 150), protector_internal.quoted_text((p_changes -> k)::text, 100)));
		END;
	END LOOP;
	RETURN v_result;
END
$$;
COMMENT ON FUNCTION protector_internal.apply_changes(anyelement, jsonb, text[]) IS
'A row with p_changes applied (only p_fields; typed per column; settings merged), 22023 naming a bad field';

CREATE FUNCTION protector.create_service(
	p_venue_id uuid,
	p_name text,
	p_duration interval,
	p_price numeric DEFAULT 0,
	p_price_per_person numeric DEFAULT 0,
	p_capacity integer DEFAULT 1,
	p_mode protector.service_mode DEFAULT 'exclusive',
	p_min_party integer DEFAULT 1,
	p_max_party integer DEFAULT NULL,
	p_slot_interval interval DEFAULT '30 minutes',
	p_buffer_before interval DEFAULT '0',
	p_buffer_after interval DEFAULT '0',
	p_min_notice interval DEFAULT '0',
	p_max_advance interval DEFAULT '365 days',
	p_currency text DEFAULT NULL,
	p_description text DEFAULT NULL,
	p_settings jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
BEGIN
	s.organization_id := protector_internal.authorize_row('protector.venues', p_venue_id, 'venues.manage', 'venue', true);
	-- the prices as given: the row's numeric(12,2) would round 10.005 to
	-- 10.01 (and fail with a bare 22003 past its precision) before
	-- check_service sees them
	PERFORM protector_internal.check_price(p_price, 'p_price');
	PERFORM protector_internal.check_price(p_price_per_person, 'p_price_per_person');
	s.venue_id := p_venue_id;
	s.name := pg_catalog.btrim(p_name);
	s.description := p_description;
	s.mode := COALESCE(p_mode, 'exclusive');
	s.duration := p_duration;
	s.capacity := p_capacity;
	s.min_party := p_min_party;
	s.max_party := p_max_party;
	s.buffer_before := p_buffer_before;
	s.buffer_after := p_buffer_after;
	s.slot_interval := p_slot_interval;
	s.min_notice := p_min_notice;
	s.max_advance := p_max_advance;
	s.price := p_price;
	s.price_per_person := p_price_per_person;
	-- no currency: the organization's (trigger default_currency)
	s.currency := p_currency;
	s.settings := COALESCE(p_settings, '{}');
	PERFORM protector_internal.check_service(s, 'p_');
	INSERT INTO protector.services (organization_id, venue_id, name, description, mode, duration, capacity, min_party,
		max_party, buffer_before, buffer_after, slot_interval, min_notice, max_advance, price, price_per_person,
		currency, settings)
	VALUES (s.organization_id, s.venue_id, s.name, s.description, s.mode, s.duration, s.capacity, s.min_party,
		s.max_party, s.buffer_before, s.buffer_after, s.slot_interval, s.min_notice, s.max_advance, s.price,
		s.price_per_person, s.currency, s.settings)
	RETURNING * INTO s;
	RETURN pg_catalog.to_jsonb(s);
END
$$;
COMMENT ON FUNCTION protector.create_service(uuid, text, interval, numeric, numeric, integer, protector.service_mode,
	integer, integer, interval, interval, interval, interval, interval, text, text, jsonb) IS
'Creates a service at a venue (owners, admins, managers); currency defaults to the organization''s; returns it';

CREATE FUNCTION protector.update_service(p_service_id uuid, p_changes jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s protector.services;
	o protector.services;
BEGIN
	PERFORM protector_internal.authorize_row('protector.services', p_service_id, 'venues.manage', 'service');
	-- the row locked FOR NO KEY UPDATE (what its UPDATE takes), not FOR
	-- UPDATE: a booking's foreign key takes a KEY SHARE lock of it, which
	-- FOR UPDATE conflicts with, and a change of mode then takes the
	-- service's lock (service_mode_check): a reschedule or widget booking,
	-- which takes the service's lock before its foreign key's, deadlocked
	-- with it, whichever order this took the two in
	SELECT * INTO s FROM protector.services x WHERE x.id OPERATOR(pg_catalog.=) p_service_id FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found');
	END IF;
	o := s;
	-- (the prices as given, before the row's numeric(12,2) rounds them: a
	-- JSON number, or a string that reads as one, as apply_changes takes it)
	PERFORM protector_internal.check_price(protector_internal.json_amount(p_changes OPERATOR(pg_catalog.->) k), 'p_changes.' OPERATOR(pg_catalog.||) k)
	FROM pg_catalog.unnest('{price,price_per_person}'::text[]) k
	WHERE protector_internal.json_amount(p_changes OPERATOR(pg_catalog.->) k) IS NOT NULL;
	s := protector_internal.apply_changes(s, p_changes,
		'{name,description,mode,duration,capacity,min_party,max_party,buffer_before,buffer_after,slot_interval,min_notice,max_advance,price,price_per_person,currency,settings,active,waiver_id}');
	PERFORM protector_internal.check_service(protector_internal.service_changes(s, o), 'p_changes.');
	IF s.active IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.active must be true or false');
	END IF;
	IF s.mode IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.mode must be exclusive or shared');
	END IF;
	-- (create_service's NULL means "the organization's"; a service has one)
	IF s.currency IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_changes.currency must not be null',
			NULL, 'A service is priced in a currency, e.g. "EUR".');
	END IF;
	-- a waiver of the organization the caller sees: another's, or one that
	-- does not exist, reads the same (the foreign key's 23503 told them apart
	-- and read as a conflict)
	IF s.waiver_id IS NOT NULL AND NOT EXISTS (
			SELECT FROM protector.waivers w
			WHERE w.organization_id OPERATOR(pg_catalog.=) s.organization_id AND w.id OPERATOR(pg_catalog.=) s.waiver_id) THEN
		PERFORM protector.raise('not_found', 'waiver not found',
			pg_catalog.format('p_changes.waiver_id %s is no waiver of the organization.', s.waiver_id));
	END IF;
	UPDATE protector.services x
	-- (the name trimmed when it is given: a 0.1.0 name with spaces at its
	-- ends and a character the checks refuse now was refused, and the
	-- service could not be retired)
	SET name = CASE WHEN p_changes OPERATOR(pg_catalog.?) 'name' THEN pg_catalog.btrim(s.name) ELSE x.name END, description = s.description, mode = s.mode, duration = s.duration,
		capacity = s.capacity, min_party = s.min_party, max_party = s.max_party, buffer_before = s.buffer_before,
		buffer_after = s.buffer_after, slot_interval = s.slot_interval, min_notice = s.min_notice,
		max_advance = s.max_advance, price = s.price, price_per_person = s.price_per_person, currency = s.currency,
		settings = s.settings, active = s.active, waiver_id = s.waiver_id
	WHERE x.id OPERATOR(pg_catalog.=) p_service_id
	RETURNING * INTO s;
	RETURN pg_catalog.to_jsonb(s);
END
$$;
COMMENT ON FUNCTION protector.update_service(uuid, jsonb) IS
'Changes the given fields of a service (owners, admins, managers); settings are merged (RFC 7386); bookings keep their prices';

CREATE FUNCTION protector.create_customer(
	p_organization_id uuid,
	p_full_name text,
	p_email text DEFAULT NULL,
	p_phone text DEFAULT NULL,
	p_country text DEFAULT NULL,
	p_tags text[] DEFAULT '{}',
	p_notes text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c protector.customers;
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'customers.create');
	c.organization_id := p_organization_id;
	c.full_name := protector_internal.trim_spaces(p_full_name);
	c.email := NULLIF(protector_internal.trim_spaces(p_email), '');
	c.phone := NULLIF(protector_internal.trim_spaces(p_phone), '');
	c.country := p_country;
	c.tags := protector_internal.tag_set(COALESCE(p_tags, '{}'));
	c.notes := p_notes;
	PERFORM protector_internal.check_customer(c, 'p_');
	INSERT INTO protector.customers (organization_id, full_name, email, phone, country, tags, notes)
	VALUES (c.organization_id, c.full_name, c.email, c.phone, c.country, c.tags, c.notes)
	RETURNING * INTO c;
	RETURN pg_catalog.to_jsonb(c);
EXCEPTION WHEN foreign_key_violation THEN
	PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
	RAISE;
END
$$;
COMMENT ON FUNCTION protector.create_customer(uuid, text, text, text, text, text[], text) IS
'Creates a customer (the desk: owners to operators); returns it (find_duplicate_customers spots a second record of one person)';

CREATE FUNCTION protector.update_customer(p_customer_id uuid, p_changes jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c protector.customers;
	o protector.customers;
BEGIN
	-- (a change of where reminders go writes the customer's confirmed
	-- bookings' reminders: their bookings first, then the customer, as
	-- merge_customers and erase_customer take them; the other order
	-- deadlocked with them.  The columns the customer_reminders trigger
	-- fires on: a country changes where an SMS goes; a change of it alone
	-- deadlocked: a review)
	IF p_changes ?| '{email,phone,reminder_channel,country}' THEN
		PERFORM protector_internal.authorize_row('protector.customers', p_customer_id, 'customers.manage', 'customer');
		PERFORM protector_internal.lock_customer_bookings(ARRAY[p_customer_id]);
	END IF;
	PERFORM protector_internal.authorize_row('protector.customers', p_customer_id, 'customers.manage', 'customer', true);
	IF p_changes ?| '{email,phone,reminder_channel,country}' THEN
		PERFORM protector_internal.relock_customer_bookings(ARRAY[p_customer_id]);
	END IF;
	SELECT * INTO c FROM protector.customers x WHERE x.id OPERATOR(pg_catalog.=) p_customer_id;
	IF c.merged_into IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'this customer was merged into another',
			pg_catalog.format('Change customer %s instead.', c.merged_into));
	END IF;
	o := c;
	c := protector_internal.apply_changes(c, p_changes, '{full_name,email,phone,country,tags,notes,reminder_channel}');
	-- (trimmed where given: a value of before a rule the call does not
	-- name stays as it is, unjudged)
	IF p_changes ? 'full_name' THEN
		c.full_name := protector_internal.trim_spaces(c.full_name);
	END IF;
	IF p_changes ? 'email' THEN
		c.email := NULLIF(protector_internal.trim_spaces(c.email), '');
	END IF;
	IF p_changes ? 'phone' THEN
		c.phone := NULLIF(protector_internal.trim_spaces(c.phone), '');
	END IF;
	c.tags := COALESCE(c.tags, '{}');
	IF p_changes ? 'tags' THEN
		c.tags := protector_internal.tag_set(c.tags);
	END IF;
	PERFORM protector_internal.check_customer(protector_internal.customer_changes(c, o), 'p_changes.');
	UPDATE protector.customers x
	SET full_name = c.full_name, email = c.email, phone = c.phone, country = c.country, tags = c.tags, notes = c.notes,
		reminder_channel = c.reminder_channel
	WHERE x.id OPERATOR(pg_catalog.=) p_customer_id
	RETURNING * INTO c;
	RETURN pg_catalog.to_jsonb(c);
END
$$;
COMMENT ON FUNCTION protector.update_customer(uuid, jsonb) IS
'Changes the given fields of a customer (owners, admins, managers): full_name, email, phone, country, tags, notes, reminder_channel';

GRANT EXECUTE ON FUNCTION
	protector.create_service(uuid, text, interval, numeric, numeric, integer, protector.service_mode,
		integer, integer, interval, interval, interval, interval, interval, text, text, jsonb),
	protector.update_service(uuid, jsonb),
	protector.create_customer(uuid, text, text, text, text, text[], text),
	protector.update_customer(uuid, jsonb),
	protector_internal.check_price(numeric, text),
	protector_internal.json_amount(jsonb),
	protector_internal.trim_spaces(text),
	protector_internal.checked_name(text, text, name),
	protector_internal.email_is_valid(text),
	protector_internal.check_interval(interval, text, interval, interval, boolean),
	protector_internal.check_integer(integer, text, integer, integer),
	protector_internal.check_text(text, text, integer, integer),
	protector_internal.check_service(protector.services, text),
	protector_internal.check_customer(protector.customers, text),
	protector_internal.customer_changes(protector.customers, protector.customers),
	protector_internal.service_changes(protector.services, protector.services),
	protector_internal.apply_changes(anyelement, jsonb, text[])
TO authenticated, service_role;
