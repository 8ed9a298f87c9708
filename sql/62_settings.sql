\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/62_settings.sql: the settings objects and their schemas
-- (docs/settings.md).
--
-- organizations.settings, venues.widget_settings, venues.branding and
-- services.settings are JSON objects whose keys are documented here and
-- checked on every write (triggers, for RPCs and table writes alike): an
-- unknown key or a value of the wrong type or range is refused with 22023
-- naming the key ("widget_settings.bookings_per_minute must be an integer
-- from 0 to 100000").  Every object may carry "custom", an object of the
-- front-end's own, which protector never reads.  Restored rows are history
-- and are not checked again.
--
-- RPCs change settings as JSON merge patches (RFC 7386, merge_patch):
-- the keys given replace theirs, a null removes one, the rest stays.

-- A number setting as its readers take it: a JSON number is held to
-- [p_min, p_max]; anything else (a string, null, missing: rows written
-- before 0.2.0 checked settings keep what they had) is p_default.
CREATE FUNCTION protector_internal.setting_number(p_value jsonb, p_default numeric, p_min numeric, p_max numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN pg_catalog.jsonb_typeof(p_value) OPERATOR(pg_catalog.=) 'number'
			THEN LEAST(GREATEST((p_value OPERATOR(pg_catalog.#>>) '{}')::numeric, p_min), p_max)
			ELSE p_default END;
COMMENT ON FUNCTION protector_internal.setting_number(jsonb, numeric, numeric, numeric) IS
'A number setting as read: a JSON number held to [p_min, p_max], anything else p_default (settings of before 0.2.0)';

-- A number setting in [p_min, p_max] (an integer one when p_integer).
CREATE FUNCTION protector_internal.check_setting_number(p_value jsonb, p_path text, p_min numeric, p_max numeric,
														p_integer boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a key that is missing is no number either: p_value NULL)
	IF p_value IS NULL OR pg_catalog.jsonb_typeof(p_value) OPERATOR(pg_catalog.<>) 'number'
	   OR (p_value #>> '{}')::numeric NOT BETWEEN p_min AND p_max
	   OR (p_integer AND (p_value #>> '{}')::numeric OPERATOR(pg_catalog.<>) pg_catalog.trunc((p_value #>> '{}')::numeric)) THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s must be %s from %s to %s', p_path, CASE WHEN p_integer THEN 'an integer' ELSE 'a number' END,
							  p_min, p_max),
			pg_catalog.format('Got %s.', COALESCE(protector_internal.quoted_text(p_value::text, 100), 'nothing')));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_setting_number(jsonb, text, numeric, numeric, boolean) IS
'Refuses a setting that is not a number (integer) in [p_min, p_max], naming its path (22023)';

-- An object setting whose keys are among p_keys.
CREATE FUNCTION protector_internal.check_setting_keys(p_value jsonb, p_path text, p_keys text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_unknown text;
BEGIN
	IF pg_catalog.jsonb_typeof(p_value) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be a JSON object', p_path),
			pg_catalog.format('Got %s.', protector_internal.quoted_text(p_value::text, 100)));
	END IF;
	-- a set difference (hashed), not "<> ALL" per key: that compared every
	-- key with every allowed one, and both lists come from the caller
	SELECT x.k INTO v_unknown
	FROM (SELECT k FROM pg_catalog.jsonb_object_keys(p_value) k
		  EXCEPT SELECT a FROM pg_catalog.unnest(p_keys) a) x
	ORDER BY x.k LIMIT 1;
	IF FOUND THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('%s.%s is not a setting', p_path, pg_catalog.left(v_unknown, 100)),
			pg_catalog.format('%s takes %s.', p_path, pg_catalog.array_to_string(p_keys, ', ')),
			'See docs/settings.md; keep data of your own under "custom".');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_setting_keys(jsonb, text, text[]) IS
'Refuses a setting that is not an object of the given keys, naming the first unknown key (22023)';

-- A settings object of p_kind ('organization', 'widget', 'branding',
-- 'service'), p_path naming it in errors.  The schemas: docs/settings.md.
CREATE FUNCTION protector_internal.check_settings(p_kind text, p_settings jsonb, p_path text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k text;
	v jsonb;
	p text;
	t jsonb;
	i integer := 0;
BEGIN
	PERFORM protector_internal.check_setting_keys(p_settings, p_path, CASE p_kind
		WHEN 'organization' THEN '{reminders,staff,customers,custom}'::text[]
		WHEN 'widget' THEN '{auto_confirm,confirmation_minutes,bookings_per_minute,visitor_bookings_per_hour,address_bookings_per_hour,custom}'
		WHEN 'branding' THEN '{color,accent_color,background_color,text_color,logo_url,font,custom}'
		WHEN 'service' THEN '{refund_policy,cancellation_fees,no_show_fee_percent,deposit,custom}' END);
	FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(p_settings) LOOP
		p := p_path OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) k;
		CASE
		WHEN k OPERATOR(pg_catalog.=) 'custom' THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'object' THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be a JSON object', p));
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'auto_confirm' THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'boolean' THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be true or false', p),
					pg_catalog.format('Got %s.', protector_internal.quoted_text(v::text, 100)));
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'confirmation_minutes' THEN
			PERFORM protector_internal.check_setting_number(v, p, 1, 1440, true);
		WHEN k OPERATOR(pg_catalog.=) 'bookings_per_minute' THEN
			PERFORM protector_internal.check_setting_number(v, p, 0, 100000, true);
		WHEN k OPERATOR(pg_catalog.=) ANY ('{visitor_bookings_per_hour,address_bookings_per_hour}') THEN
			PERFORM protector_internal.check_setting_number(v, p, 1, 100000, true);
		WHEN k OPERATOR(pg_catalog.=) ANY ('{color,accent_color,background_color,text_color}') THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'string'
			   OR (v #>> '{}') OPERATOR(pg_catalog.!~) '^#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$' THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be a colour like "#1a2b3c"', p),
					pg_catalog.format('Got %s.', protector_internal.quoted_text(v::text, 100)));
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'logo_url' THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'string'
			   OR pg_catalog.length(v #>> '{}') OPERATOR(pg_catalog.>) 2000
			   -- (a regex bound is at most 255: the length is counted apart;
			   -- printable ASCII but for the quote and angle brackets, by code
			   -- point: [:space:] and [:cntrl:] follow the database's ctype, so
			   -- one database took a no-break space another refused, and each
			   -- took a right-to-left override the widget then showed)
			   OR (v #>> '{}') OPERATOR(pg_catalog.!~) '^https://[!#-;=?-~]+$' THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be an https:// URL of at most 2000 characters', p),
					pg_catalog.format('Got %s.', protector_internal.quoted_text(v::text, 100)),
					'Write it in printable ASCII, without spaces, quotes or angle brackets: percent-encode other characters of the path, and write an international domain name in its xn-- form.');
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'font' THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'string'
			   OR pg_catalog.length(v #>> '{}') NOT BETWEEN 1 AND 100
			   OR protector_internal.trim_spaces(v #>> '{}') OPERATOR(pg_catalog.=) ''
			   OR NOT protector_internal.text_is_clean(v #>> '{}') THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be a font name of 1 to 100 plain characters', p));
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'refund_policy' THEN
			PERFORM protector_internal.check_setting_keys(v, p, '{full_refund_hours,late_refund_percent}');
			IF v ? 'full_refund_hours' THEN
				PERFORM protector_internal.check_setting_number(v -> 'full_refund_hours', p OPERATOR(pg_catalog.||) '.full_refund_hours', 0, 8760);
			END IF;
			IF v ? 'late_refund_percent' THEN
				PERFORM protector_internal.check_setting_number(v -> 'late_refund_percent', p OPERATOR(pg_catalog.||) '.late_refund_percent', 0, 100);
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'cancellation_fees' THEN
			IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'array' OR pg_catalog.jsonb_array_length(v) OPERATOR(pg_catalog.>) 20 THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must be an array of at most 20 tiers', p),
					'Each tier is {"within_hours": h, "fee_percent": f}.');
			END IF;
			FOR t IN SELECT x FROM pg_catalog.jsonb_array_elements(v) x LOOP
				PERFORM protector_internal.check_setting_keys(t, pg_catalog.format('%s[%s]', p, i), '{within_hours,fee_percent}');
				PERFORM protector_internal.check_setting_number(t -> 'within_hours', pg_catalog.format('%s[%s].within_hours', p, i), 0, 8760);
				PERFORM protector_internal.check_setting_number(t -> 'fee_percent', pg_catalog.format('%s[%s].fee_percent', p, i), 0, 100);
				i := i OPERATOR(pg_catalog.+) 1;
			END LOOP;
			-- (two tiers of one window: which fee applied hung on their order)
			IF (SELECT pg_catalog.count(DISTINCT (x #>> '{within_hours}')::numeric) FROM pg_catalog.jsonb_array_elements(v) x)
			   OPERATOR(pg_catalog.<>) pg_catalog.jsonb_array_length(v) THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s must not repeat a within_hours', p),
					pg_catalog.format('Got %s.', protector_internal.quoted_text(v::text, 200)),
					'One fee per window: the smallest window the cancellation falls within applies.');
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'customers' THEN
			PERFORM protector_internal.check_setting_keys(v, p, '{open_requests,messages_per_hour,bookings_per_hour}');
			IF v ? 'open_requests' THEN
				PERFORM protector_internal.check_setting_number(v -> 'open_requests', p OPERATOR(pg_catalog.||) '.open_requests',
																1, 1000, true);
			END IF;
			IF v ? 'messages_per_hour' THEN
				PERFORM protector_internal.check_setting_number(v -> 'messages_per_hour',
																p OPERATOR(pg_catalog.||) '.messages_per_hour', 1, 1000, true);
			END IF;
			IF v ? 'bookings_per_hour' THEN
				PERFORM protector_internal.check_setting_number(v -> 'bookings_per_hour',
																p OPERATOR(pg_catalog.||) '.bookings_per_hour', 1, 1000, true);
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'staff' THEN
			PERFORM protector_internal.check_setting_keys(v, p, '{require_shifts}');
			IF v ? 'require_shifts' AND pg_catalog.jsonb_typeof(v -> 'require_shifts') OPERATOR(pg_catalog.<>) 'boolean' THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s.require_shifts must be true or false', p),
					pg_catalog.format('Got %s.', protector_internal.quoted_text((v -> 'require_shifts')::text, 100)));
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'reminders' THEN
			PERFORM protector_internal.check_setting_keys(v, p, '{offsets_minutes,max_attempts}');
			IF v ? 'offsets_minutes' THEN
				IF pg_catalog.jsonb_typeof(v -> 'offsets_minutes') OPERATOR(pg_catalog.<>) 'array'
				   OR pg_catalog.jsonb_array_length(v -> 'offsets_minutes') OPERATOR(pg_catalog.>) 10 THEN
					PERFORM protector.raise('invalid_parameter',
						pg_catalog.format('%s.offsets_minutes must be an array of at most 10 offsets', p),
						pg_catalog.format('Got %s.', protector_internal.quoted_text((v -> 'offsets_minutes')::text, 100)),
						'Minutes before the start, e.g. [1440, 60] for 24 hours and 1 hour.');
				END IF;
				FOR t IN SELECT x FROM pg_catalog.jsonb_array_elements(v -> 'offsets_minutes') x LOOP
					PERFORM protector_internal.check_setting_number(t, pg_catalog.format('%s.offsets_minutes[%s]', p, i),
																	1, 43200, true);
					i := i OPERATOR(pg_catalog.+) 1;
				END LOOP;
				IF (SELECT pg_catalog.count(DISTINCT x) FROM pg_catalog.jsonb_array_elements(v -> 'offsets_minutes') x)
				   OPERATOR(pg_catalog.<>) pg_catalog.jsonb_array_length(v -> 'offsets_minutes') THEN
					PERFORM protector.raise('invalid_parameter',
						pg_catalog.format('%s.offsets_minutes must not repeat an offset', p),
						pg_catalog.format('Got %s.', protector_internal.quoted_text((v -> 'offsets_minutes')::text, 100)));
				END IF;
			END IF;
			IF v ? 'max_attempts' THEN
				PERFORM protector_internal.check_setting_number(v -> 'max_attempts', p OPERATOR(pg_catalog.||) '.max_attempts', 1, 20, true);
			END IF;
		WHEN k OPERATOR(pg_catalog.=) 'no_show_fee_percent' THEN
			PERFORM protector_internal.check_setting_number(v, p, 0, 100);
		WHEN k OPERATOR(pg_catalog.=) 'deposit' THEN
			PERFORM protector_internal.check_setting_keys(v, p, '{percent,amount,deadline_hours}');
			IF (v ? 'percent') OPERATOR(pg_catalog.=) (v ? 'amount') THEN
				PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s needs either percent or amount', p),
					CASE WHEN v ? 'percent' THEN 'It has both: a merge patch keeps the key it does not name.' END,
					'A deposit is a percentage of the price or a fixed amount, not both; to switch through a merge patch, set the other to null, e.g. {"deposit": {"amount": 50, "percent": null}}.');
			END IF;
			IF v ? 'percent' THEN
				PERFORM protector_internal.check_setting_number(v -> 'percent', p OPERATOR(pg_catalog.||) '.percent', 0, 100);
			ELSE
				-- (at most two decimals, as every price: 0.004 was a deposit
				-- of nothing that confirmed the booking)
				PERFORM protector_internal.check_setting_number(v -> 'amount', p OPERATOR(pg_catalog.||) '.amount', 0, 9999999999.99);
				IF (v #>> '{amount}')::numeric OPERATOR(pg_catalog.<>) pg_catalog.round((v #>> '{amount}')::numeric, 2) THEN
					PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s.amount must have at most two decimals', p),
						pg_catalog.format('Got %s.', protector_internal.quoted_text((v -> 'amount')::text, 100)),
						'Amounts are in the currency''s units (12.34, not 1234 cents).');
				END IF;
			END IF;
			IF v ? 'deadline_hours' THEN
				-- (more than none: due at once, expire_holds cancelled the
				-- booking at its next run)
				-- (its bounds said in hours as the docs say them: 1/60 in
				-- decimals never ends, and 0 is no bound)
				IF pg_catalog.jsonb_typeof(v -> 'deadline_hours') OPERATOR(pg_catalog.<>) 'number'
				   OR (v #>> '{deadline_hours}')::numeric OPERATOR(pg_catalog.>) 8760 THEN
					PERFORM protector.raise('invalid_parameter',
						pg_catalog.format('%s.deadline_hours must be a number of hours from a minute (1/60) to 8760', p),
						pg_catalog.format('Got %s.', protector_internal.quoted_text((v -> 'deadline_hours')::text, 30)));
				ELSIF (v #>> '{deadline_hours}')::numeric OPERATOR(pg_catalog.*) 60 OPERATOR(pg_catalog.<) 1 THEN
					PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s.deadline_hours must be at least a minute (1/60)', p),
						pg_catalog.format('Got %s: the deposit would be due at once, and the next expire_holds run would cancel the booking.',
										  protector_internal.quoted_text((v -> 'deadline_hours')::text, 30)),
						'Give the customer time to pay, e.g. 0.5 for half an hour.');
				END IF;
			END IF;
		ELSE
			NULL;			-- (every key was checked against the kind's list above)
		END CASE;
	END LOOP;
END
$$;
COMMENT ON FUNCTION protector_internal.check_settings(text, jsonb, text) IS
'Refuses a settings object (organization, widget, branding, service) with an unknown key or a bad value, naming the key (22023; docs/settings.md)';

-- Of a settings object written over another, the top-level keys whose
-- values change (new ones included): what a change is judged by, so that
-- a key stored before 0.2.0 checked settings stays writable around.
CREATE FUNCTION protector_internal.changed_settings(p_new jsonb, p_old jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pg_catalog.jsonb_typeof(p_new) IS DISTINCT FROM 'object' OR pg_catalog.jsonb_typeof(p_old) IS DISTINCT FROM 'object' THEN
		RETURN p_new;
	END IF;
	RETURN COALESCE((SELECT pg_catalog.jsonb_object_agg(n.key, n.value) FROM pg_catalog.jsonb_each(p_new) n
					 WHERE (p_old OPERATOR(pg_catalog.->) n.key) IS DISTINCT FROM n.value), '{}');
END
$$;
COMMENT ON FUNCTION protector_internal.changed_settings(jsonb, jsonb) IS
'The top-level keys of p_new whose values differ from p_old''s (p_new whole when either is no object): what a settings change is judged by';

-- A settings object is at most 64 kB, as a booking's details: custom took
-- any size (50 MB were stored, copied into every audit row of the row,
-- and the widget's public venue call sent them to every visitor).  One
-- stored larger before stays writable while a change does not grow it.
CREATE FUNCTION protector_internal.check_settings_size(p_new jsonb, p_old jsonb, p_path text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_size integer := protector_internal.value_size(p_new);
BEGIN
	IF v_size OPERATOR(pg_catalog.>) 65536 AND v_size OPERATOR(pg_catalog.>) COALESCE(protector_internal.value_size(p_old), 0) THEN
		PERFORM protector.raise('invalid_parameter', pg_catalog.format('%s is too large', p_path),
			pg_catalog.format('It takes %s bytes; at most 65536 are accepted.', v_size),
			'Keep custom small: store large content elsewhere and name it there.');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.check_settings_size(jsonb, jsonb, text) IS
'Refuses a settings object over 64 kB that a change grows (22023 naming it)';

-- The trigger: the settings columns of the row, when they are written,
-- by the keys a change changes.
CREATE FUNCTION protector_internal.check_settings_columns()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'venues' THEN
		IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
			PERFORM protector_internal.check_settings_size(NEW.widget_settings, NULL, 'widget_settings');
			PERFORM protector_internal.check_settings_size(NEW.branding, NULL, 'branding');
			PERFORM protector_internal.check_settings('widget', NEW.widget_settings, 'widget_settings');
			PERFORM protector_internal.check_settings('branding', NEW.branding, 'branding');
		ELSE
			IF NEW.widget_settings IS DISTINCT FROM OLD.widget_settings THEN
				PERFORM protector_internal.check_settings_size(NEW.widget_settings, OLD.widget_settings, 'widget_settings');
				PERFORM protector_internal.check_settings('widget',
					protector_internal.changed_settings(NEW.widget_settings, OLD.widget_settings), 'widget_settings');
			END IF;
			IF NEW.branding IS DISTINCT FROM OLD.branding THEN
				PERFORM protector_internal.check_settings_size(NEW.branding, OLD.branding, 'branding');
				PERFORM protector_internal.check_settings('branding',
					protector_internal.changed_settings(NEW.branding, OLD.branding), 'branding');
			END IF;
		END IF;
	ELSIF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
		PERFORM protector_internal.check_settings_size(NEW.settings, NULL, 'settings');
		PERFORM protector_internal.check_settings(CASE TG_TABLE_NAME WHEN 'organizations' THEN 'organization' ELSE 'service' END,
												  NEW.settings, 'settings');
	ELSIF NEW.settings IS DISTINCT FROM OLD.settings THEN
		PERFORM protector_internal.check_settings_size(NEW.settings, OLD.settings, 'settings');
		PERFORM protector_internal.check_settings(CASE TG_TABLE_NAME WHEN 'organizations' THEN 'organization' ELSE 'service' END,
												  protector_internal.changed_settings(NEW.settings, OLD.settings), 'settings');
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.check_settings_columns() IS
'Trigger: settings, widget_settings and branding follow their schemas (docs/settings.md)';

CREATE TRIGGER check_settings BEFORE INSERT OR UPDATE OF settings ON protector.organizations
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.organizations')) EXECUTE FUNCTION protector_internal.check_settings_columns();
CREATE TRIGGER check_settings BEFORE INSERT OR UPDATE OF widget_settings, branding ON protector.venues
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.venues')) EXECUTE FUNCTION protector_internal.check_settings_columns();
CREATE TRIGGER check_settings BEFORE INSERT OR UPDATE OF settings ON protector.services
	FOR EACH ROW WHEN (NOT protector_internal.restoring_into('protector.services')) EXECUTE FUNCTION protector_internal.check_settings_columns();

-- RFC 7386: p_patch's keys replace p_target's, recursively for objects; a
-- null removes the key; a patch that is not an object replaces the target.
-- A patch is at most 256 kB and nests at most 32 levels (22023 beyond).
CREATE FUNCTION protector.merge_patch(p_target jsonb, p_patch jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector_internal.value_size(p_patch) OPERATOR(pg_catalog.>) 262144 THEN
		PERFORM protector.raise('invalid_parameter', 'the patch is too large',
			pg_catalog.format('It takes %s bytes; at most 262144 are accepted.', protector_internal.value_size(p_patch)));
	END IF;
	IF pg_catalog.jsonb_path_exists(p_patch, 'strict $.**{32}') THEN
		PERFORM protector.raise('invalid_parameter', 'the patch nests deeper than 32 levels');
	END IF;
	RETURN protector_internal.merge_patch_unchecked(p_target, p_patch);
END
$$;
COMMENT ON FUNCTION protector.merge_patch(jsonb, jsonb) IS
'JSON merge patch (RFC 7386): the patch''s keys replace the target''s, recursively; null removes a key';

-- merge_patch itself, one pass over each object's keys
CREATE FUNCTION protector_internal.merge_patch_unchecked(p_target jsonb, p_patch jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN CASE WHEN p_patch IS NULL OR pg_catalog.jsonb_typeof(p_patch) OPERATOR(pg_catalog.<>) 'object' THEN p_patch
		   ELSE (SELECT COALESCE(pg_catalog.jsonb_object_agg(k, v), '{}'::jsonb)
				 FROM (SELECT t.key AS k, t.value AS v
					   FROM pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(p_target) OPERATOR(pg_catalog.=) 'object'
													   THEN p_target ELSE '{}'::jsonb END) t
					   WHERE NOT p_patch OPERATOR(pg_catalog.?) t.key
					   UNION ALL
					   SELECT p.key, protector_internal.merge_patch_unchecked(p_target OPERATOR(pg_catalog.->) p.key, p.value)
					   FROM pg_catalog.jsonb_each(p_patch) p
					   WHERE pg_catalog.jsonb_typeof(p.value) OPERATOR(pg_catalog.<>) 'null') x) END;
END
$$;
COMMENT ON FUNCTION protector_internal.merge_patch_unchecked(jsonb, jsonb) IS
'merge_patch without its size and depth checks (called by it)';
