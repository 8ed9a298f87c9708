\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/66_widget.sql: the public booking widget, callable by anon through
-- PostgREST with nothing but a venue's embed key.  See docs/widget.md.
--
-- Every function here is SECURITY DEFINER and returns only what a visitor
-- of the venue's website may see: the venue's public fields, its active
-- services, free slots, and for a booking its reference and status.
-- Unknown, malformed, rotated or inactive keys all get the same error.

CREATE FUNCTION protector_internal.venue_for_embed_key(p_embed_key text)
RETURNS protector.venues
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_venue protector.venues;
BEGIN
	IF p_embed_key IS NOT NULL AND pg_catalog.length(p_embed_key) OPERATOR(pg_catalog.<=) 64
	   AND protector.embed_key_is_well_formed(p_embed_key) THEN
		SELECT * INTO v_venue FROM protector.venues v
		WHERE v.embed_key OPERATOR(pg_catalog.=) p_embed_key
		  AND v.active AND v.deleted_at IS NULL;
		IF FOUND THEN
			RETURN v_venue;
		END IF;
	END IF;
	PERFORM protector.raise('not_found', 'unknown embed key',
		'Check the key in the widget''s settings; a rotated key stops working at once.');
END
$$;
COMMENT ON FUNCTION protector_internal.venue_for_embed_key(text) IS
'Internal: the active venue of an embed key, or one uniform "unknown embed key" error';

CREATE FUNCTION protector.get_venue_by_embed_key(p_embed_key text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues := protector_internal.venue_for_embed_key(p_embed_key);
BEGIN
	RETURN pg_catalog.jsonb_build_object(
		'name', v.name, 'description', v.description, 'address', v.address, 'city', v.city,
		'region', v.region, 'country', v.country, 'postal_code', v.postal_code,
		'timezone', v.timezone, 'operating_hours', v.operating_hours,
		'branding', v.branding, 'widget_settings', v.widget_settings);
END
$$;
COMMENT ON FUNCTION protector.get_venue_by_embed_key(text) IS
'Widget: the venue''s public fields (name, address, time zone, hours, branding, widget settings)';

-- An interval in minutes as the widget shows lengths: whole minutes as
-- integers, part-minutes to four decimal places (90 seconds: 1.5), and a
-- positive length never as 0 (at least 0.0001)
CREATE FUNCTION protector_internal.minutes_of(p_interval interval)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.trim_scale(GREATEST(pg_catalog.round(pg_catalog.extract('epoch', p_interval) OPERATOR(pg_catalog./) 60, 4),
									  CASE WHEN p_interval OPERATOR(pg_catalog.>) '0'::pg_catalog.interval THEN 0.0001 END));
COMMENT ON FUNCTION protector_internal.minutes_of(interval) IS
'An interval in minutes, whole or to four decimal places, a positive one at least 0.0001 (the widget''s lengths)';


CREATE FUNCTION protector.get_venue_services(p_embed_key text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues := protector_internal.venue_for_embed_key(p_embed_key);
BEGIN
	RETURN COALESCE((
		SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
				'id', s.id, 'name', s.name, 'description', s.description, 'mode', s.mode,
				-- (a length of part-minutes in fractions: whole-number
				-- division showed a 30-second service as 0 minutes)
				'duration_minutes', protector_internal.minutes_of(s.duration),
				'slot_interval_minutes', protector_internal.minutes_of(s.slot_interval),
				'capacity', s.capacity, 'min_party', s.min_party,
				'max_party', COALESCE(s.max_party, s.capacity),
				'price', s.price, 'price_per_person', s.price_per_person, 'currency', s.currency)
			ORDER BY s.name, s.id)
		FROM protector.services s
		WHERE s.organization_id OPERATOR(pg_catalog.=) v.organization_id
		  AND s.venue_id OPERATOR(pg_catalog.=) v.id AND s.active), '[]');
END
$$;
COMMENT ON FUNCTION protector.get_venue_services(text) IS
'Widget: the venue''s active services with duration, party sizes and prices';

-- Internal: an active service of the key's venue.
CREATE FUNCTION protector_internal.widget_service(p_venue protector.venues, p_service_id uuid)
RETURNS protector.services
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_service protector.services;
BEGIN
	SELECT * INTO v_service FROM protector.services s
	WHERE s.id OPERATOR(pg_catalog.=) p_service_id
	  AND s.organization_id OPERATOR(pg_catalog.=) p_venue.organization_id
	  AND s.venue_id OPERATOR(pg_catalog.=) p_venue.id AND s.active;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'service not found', 'This venue offers no such service.');
	END IF;
	RETURN v_service;
END
$$;
COMMENT ON FUNCTION protector_internal.widget_service(protector.venues, uuid) IS
'Internal: an active service of the widget''s venue, or not found';

CREATE FUNCTION protector.get_widget_slots(p_embed_key text, p_service_id uuid, p_from date, p_to date DEFAULT NULL)
RETURNS TABLE (slot_start timestamptz, slot_end timestamptz, remaining_capacity integer)
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues := protector_internal.venue_for_embed_key(p_embed_key);
	v_service protector.services := protector_internal.widget_service(v, p_service_id);
BEGIN
	-- (a venue whose widget books nothing lists nothing: its slots were
	-- listed, and every one refused, 42501: a review)
	IF protector_internal.widget_per_minute(v.widget_settings) OPERATOR(pg_catalog.=) 0 THEN
		RETURN;
	END IF;
	RETURN QUERY SELECT a.slot_start, a.slot_end, a.remaining_capacity
		FROM protector.get_available_slots(v_service.id, p_from, p_to, false) a;
END
$$;
COMMENT ON FUNCTION protector.get_widget_slots(text, uuid, date, date) IS
'Widget: free slots of one of the venue''s services, as get_available_slots; none where its widget books nothing (bookings_per_minute 0)';

-- Whether a text holds a character that renders: by Unicode general
-- category (src/visible.c), so combining marks, spaces, format and control
-- characters of every script count as nothing.
CREATE FUNCTION protector_internal.renders_visible(p_text text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_renders_visible'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.renders_visible(text) IS
'True when the text holds a character that is no mark, space, separator, control, format, private-use or unassigned code point (Unicode general category)';

-- Text a visitor typed: no control characters, no invisible direction
-- marks or overrides, no characters that render as nothing (Hangul
-- fillers, the braille blank, the Mongolian vowel separator, deprecated
-- and interlinear format controls, Egyptian hieroglyph format controls,
-- the combining grapheme joiner, Khmer
-- inherent vowels, musical and shorthand format controls, tag characters,
-- which can carry hidden text, and the code points kept unassigned beside
-- them, which browsers draw as nothing too: a review): they disguise a name on the operator's
-- screen.  (Variation selectors stay, one after a character: emoji and
-- ideographic variation sequences use them; a run of them carries hidden
-- text as tag characters do, a byte each.)
CREATE FUNCTION protector_internal.text_is_clean(p_text text)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN p_text IS NULL
		OR (p_text OPERATOR(pg_catalog.!~) E'[\\x01-\\x1f\\x7f-\\x9f\\xad\\u034f\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890\\u0891\\u08e2\\u115f\\u1160\\u17b4\\u17b5\\u180e\\u200b\\u200e\\u200f\\u2028-\\u202e\\u2060-\\u206f\\u2800\\u3164\\ufeff\\uffa0\\ufff9-\\ufffb\\U00013430-\\U0001343f\\U000110bd\\U000110cd\\U0001bca0-\\U0001bca3\\U0001d173-\\U0001d17a\\U000e0000-\\U000e00ff\\U000e01f0-\\U000e0fff\\ufff0-\\ufff8]'
			-- zero-width non-joiners and joiners only where a script needs
			-- them: after a character of a joining script (Arabic, Syriac,
			-- Thaana, N'Ko and their kin, Mongolian), an Indic, Sinhala,
			-- Myanmar or Khmer one, or an emoji, also with its variation
			-- selector (ZWJ sequences), as a Mongolian letter is (a
			-- selector alone, after a letter of another script, no)
			AND p_text OPERATOR(pg_catalog.!~) E'(?<![\\u0600-\\u08ff\\ufb50-\\ufdff\\ufe70-\\ufeff\\u0900-\\u0dff\\u1000-\\u109f\\u1780-\\u180a\\u1810-\\u18af\\u2600-\\u27bf\\U0001f000-\\U0001faff])(?<![\\u2600-\\u27bf\\U0001f000-\\U0001faff]\\ufe0f)(?<![\\u1820-\\u18af][\\u180b-\\u180d\\u180f])[\\u200c\\u200d]'
			-- variation selectors (Mongolian ones too) one at a time, each
			-- after a character, not after a joiner (a Mongolian selector
			-- and a joiner, again and again, carried hidden text: a review)
			AND p_text OPERATOR(pg_catalog.!~) E'(^|[\\u180b-\\u180d\\u180f\\ufe00-\\ufe0f\\U000e0100-\\U000e01ef\\u200c\\u200d])[\\u180b-\\u180d\\u180f\\ufe00-\\ufe0f\\U000e0100-\\U000e01ef]');
END
$$;
COMMENT ON FUNCTION protector_internal.text_is_clean(text) IS
'False when the text holds control characters, invisible bidirectional marks, overrides or isolates, or characters that render as nothing';

-- A JSON value whose every string and key is clean text (text_is_clean):
-- a booking's details from a widget visitor or a customer.  NULL is clean.
-- (In C, one pass over the value: a jsonpath walk copied every subtree,
-- quadratic in the depth, src/clean_json.c.)
CREATE FUNCTION protector_internal.json_is_clean(p_value jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_json_is_clean'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.json_is_clean(jsonb) IS
'False when a string or key anywhere in the JSON value is not clean text (text_is_clean)';

-- Free text of several lines (notes, reasons, messages, waiver bodies):
-- line breaks and tabs, and nothing else text_is_clean refuses.  NULL is
-- clean, as there.
CREATE FUNCTION protector_internal.lines_are_clean(p_text text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN protector_internal.text_is_clean(pg_catalog.translate(p_text, E'\r\n\t', '   '));
COMMENT ON FUNCTION protector_internal.lines_are_clean(text) IS
'text_is_clean for text of several lines: line breaks and tabs allowed (NULL is clean)';

-- An e-mail address as protector takes one (the widget, the desk's
-- customers, staff invitations): at most 320 characters, name@domain.tld
-- without spaces, Unicode's space separators included ([:space:] in the
-- database's C.UTF-8 ctype misses the no-break space), nor a character
-- Unicode draws as nothing (Default_Ignorable_Code_Point: a variation
-- selector, a joiner, a soft hyphen...), nor a compatibility form (NFKC
-- writes it as another: the Kelvin sign K, a full-width letter, the long
-- s), nor control or direction characters (text_is_clean).  text_is_clean
-- lets a variation selector or a joiner follow a letter, as names and
-- emoji use them; in an address such a character, or a compatibility
-- form, only makes it look like another whose identity key it folds to
-- (b\uFE00ob@example.com, \u212Aate@example.com: a visitor's guest record
-- took Bob's or Kate's later widget bookings and sent their reminders to
-- it).
CREATE FUNCTION protector_internal.email_is_valid(p_email text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.length(p_email) OPERATOR(pg_catalog.<=) 320
	   AND protector_internal.text_is_clean(p_email) AND p_email IS NFKC NORMALIZED
	   AND p_email OPERATOR(pg_catalog.~) '^[^@[:space:]\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@[^@[:space:]\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+[.][^@[:space:]\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$'
	   AND p_email OPERATOR(pg_catalog.!~) '[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]';
COMMENT ON FUNCTION protector_internal.email_is_valid(text) IS
'An e-mail address as protector takes one: at most 320 characters, name@domain.tld without any kind of space, a character drawn as nothing, a compatibility form, or control or direction characters';

-- A phone number as a customer record holds it, typed by the desk or a
-- visitor alike: digits, spaces and ( ) . / -, an optional leading +, 3 to
-- 40 characters with the +, at least one digit; it may open with a
-- bracket, as "(415) 555-0100" does.  (Not its country: normalize_phone's.)
CREATE FUNCTION protector_internal.phone_is_valid(p_phone text)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN p_phone OPERATOR(pg_catalog.~) '^[+]?[0-9 ()./-]+$' AND p_phone OPERATOR(pg_catalog.~) '[0-9]'
		   AND pg_catalog.length(p_phone) BETWEEN 3 AND 40;
END
$$;
COMMENT ON FUNCTION protector_internal.phone_is_valid(text) IS
'A phone number''s shape: digits (at least one), spaces and ( ) . / -, an optional leading +, 3 to 40 characters';

-- The client address PostgREST passes in request.headers: the entry of
-- the header protector.client_address names (by default the first of
-- x-forwarded-for; a gateway that appends to what the client sent wrote
-- the last, and one that overwrites a header of its own, such as
-- Cloudflare's cf-connecting-ip, wrote that), or NULL when there is none
-- or it is no address.  An
-- IPv6 address counts as its /64, what one subscriber usually gets (each
-- address of it counted alone let one client book without limit), but an
-- IPv4 client a dual-stack proxy reports as ::ffff:a.b.c.d counts as
-- a.b.c.d, and one behind NAT64 (64:ff9b::/96) by its address.
CREATE FUNCTION protector_internal.request_client_address()
RETURNS inet
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- ("header" or "header:hop", checked when it is set)
	v_setting text := COALESCE(NULLIF(pg_catalog.current_setting('protector.client_address', true), ''), 'x-forwarded-for');
	v_hop integer := COALESCE(NULLIF(pg_catalog.split_part(v_setting, ':', 2), '')::integer, 1);
	v_hops text[];
	v_address inet;
BEGIN
	-- (a NUL in any header, which PostgREST writes as \u0000, is no text
	-- PostgreSQL reads: the whole object failed, 22P05, and the widget's
	-- booking with it: a review.  Read as U+FFFD, no address.)
	v_hops := pg_catalog.string_to_array(
		pg_catalog.replace(pg_catalog.current_setting('request.headers', true), '\u0000', '\ufffd')::json
			->> pg_catalog.split_part(v_setting, ':', 1), ',');
	-- (with a port, as some proxies write it: 203.0.113.9:443, [2001:db8::1]:443)
	v_address := pg_catalog.host(pg_catalog.regexp_replace(pg_catalog.regexp_replace(pg_catalog.btrim(
		v_hops[CASE WHEN v_hop OPERATOR(pg_catalog.>) 0 THEN v_hop
					ELSE pg_catalog.cardinality(v_hops) OPERATOR(pg_catalog.+) 1 OPERATOR(pg_catalog.+) v_hop END]),
		'^\[([^]]*)\](:[0-9]{1,5})?$', '\1'), '^([0-9]{1,3}(\.[0-9]{1,3}){3}):[0-9]{1,5}$', '\1')::inet)::inet;
	IF v_address OPERATOR(pg_catalog.<<) '::ffff:0.0.0.0/96'::inet THEN
		RETURN '0.0.0.0'::inet OPERATOR(pg_catalog.+) (v_address OPERATOR(pg_catalog.-) '::ffff:0.0.0.0'::inet);
	END IF;
	IF pg_catalog.family(v_address) OPERATOR(pg_catalog.=) 6
	   AND NOT v_address OPERATOR(pg_catalog.<<) '64:ff9b::/96'::inet THEN
		RETURN pg_catalog.network(pg_catalog.set_masklen(v_address, 64));
	END IF;
	RETURN v_address;
EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value OR untranslatable_character THEN
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.request_client_address() IS
'The widget visitor''s address: the entry of the request header protector.client_address names (default: the first of x-forwarded-for; an IPv6 address as its /64), or NULL';

-- One row per widget booking: who asked (identity key of the e-mail, the
-- client address), for the per-visitor limits.  Kept for a day.  The
-- customer record booked for, so that its erasure takes the row whatever
-- address the record has since (no foreign key: a record deleted leaves
-- the day's limit counting).  No foreign key to the venue either: its
-- check share-locked the venue's row under the organization's widget
-- lock, and a venue's edit left open (which holds the row) made every
-- visitor of the organization wait; a deleted venue's rows go with the
-- day's sweep (prune_widget_requests).
CREATE TABLE protector_internal.widget_requests (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	venue_id		uuid NOT NULL,
	identity_key	text NOT NULL,
	client_address	inet,
	created_at		timestamptz NOT NULL DEFAULT now(),
	customer_id		uuid
);
CREATE INDEX widget_requests_venue_idx ON protector_internal.widget_requests (organization_id, venue_id, created_at);
-- the scheduled sweep finds the requests of more than a day ago: without
-- it each sweep read the whole day's requests of every venue
CREATE INDEX widget_requests_created_idx ON protector_internal.widget_requests (created_at);
ALTER TABLE protector_internal.widget_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.widget_requests FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.widget_requests IS
'Widget bookings of the last day by visitor (e-mail identity key) and client address; read and written by the widget only (no policy, no grant)';
SELECT pg_catalog.pg_extension_config_dump('protector_internal.widget_requests', '');
SELECT pg_catalog.pg_extension_config_dump('protector_internal.widget_requests_id_seq', '');

-- Kept a day: a widget booking deletes its venue's older records, and the
-- scheduled sweep (expire_holds) everyone's, so that a venue that goes
-- quiet, or is deleted, keeps no visitor's e-mail key or address longer.
-- Without p_venue_id, every venue's.
CREATE FUNCTION protector_internal.prune_widget_requests(p_organization_id uuid DEFAULT NULL, p_venue_id uuid DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_before timestamptz := pg_catalog.now() OPERATOR(pg_catalog.-) interval '24 hours';
	v_pruned integer;
BEGIN
	-- (rows another session deletes are passed over: the sweep and a
	-- widget booking each waited for the other's, and deadlocked where the
	-- booking held a promo code the sweep gives back; or the booking
	-- waited, its service and widget locks held, for the whole sweep: an
	-- attack review of the scheduled jobs.  Two statements, each for its
	-- index: one with the venue optional planned generically read every
	-- venue's day for a widget booking.)
	IF p_venue_id IS NULL THEN
		DELETE FROM protector_internal.widget_requests w
		WHERE w.id OPERATOR(pg_catalog.=) ANY (ARRAY(
			SELECT r.id FROM protector_internal.widget_requests r
			WHERE r.created_at OPERATOR(pg_catalog.<) v_before
			FOR UPDATE SKIP LOCKED));
	ELSE
		DELETE FROM protector_internal.widget_requests w
		WHERE w.id OPERATOR(pg_catalog.=) ANY (ARRAY(
			SELECT r.id FROM protector_internal.widget_requests r
			WHERE r.organization_id OPERATOR(pg_catalog.=) p_organization_id AND r.venue_id OPERATOR(pg_catalog.=) p_venue_id
			  AND r.created_at OPERATOR(pg_catalog.<) v_before
			FOR UPDATE SKIP LOCKED));
	END IF;
	GET DIAGNOSTICS v_pruned = ROW_COUNT;
	RETURN v_pruned;
END
$$;
COMMENT ON FUNCTION protector_internal.prune_widget_requests(uuid, uuid) IS
'Deletes the widget''s rate-limit records older than a day, of a venue or (without one: the scheduled sweep, expire_holds) of every venue';
REVOKE ALL ON FUNCTION protector_internal.prune_widget_requests(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protector_internal.prune_widget_requests(uuid, uuid) TO service_role;

-- A widget setting that is a whole number in [p_min, p_max], else p_default.
CREATE FUNCTION protector_internal.widget_setting(p_settings jsonb, p_key text, p_default integer,
												  p_min integer, p_max integer)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN CASE WHEN pg_catalog.jsonb_typeof(p_settings -> p_key) OPERATOR(pg_catalog.=) 'number'
				THEN LEAST(GREATEST((p_settings ->> p_key)::numeric, p_min), p_max)::integer
				ELSE p_default END;
END
$$;
COMMENT ON FUNCTION protector_internal.widget_setting(jsonb, text, integer, integer, integer) IS
'A numeric widget setting clamped to [p_min, p_max], or p_default when absent or not a number';

-- The venue's widget bookings a minute (0: its widget books nothing), as
-- the slots it lists and the bookings it takes read it.
CREATE FUNCTION protector_internal.widget_per_minute(p_settings jsonb)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN protector_internal.widget_setting(p_settings, 'bookings_per_minute', 30, 0, 100000);
COMMENT ON FUNCTION protector_internal.widget_per_minute(jsonb) IS
'Internal: widget_settings.bookings_per_minute as the widget reads it (default 30; 0 turns widget booking off)';

-- The lock one widget booking of an organization at a time takes (classid
-- 1886547715), its wait bounded by protector.lock_timeout.
CREATE FUNCTION protector_internal.lock_widget_bookings(p_organization_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_lock_widget_bookings'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.lock_widget_bookings(uuid) IS
'Takes the organization''s widget lock (classid 1886547715), waiting at most protector.lock_timeout (40001)';

-- A widget visitor's retry (create_widget_booking): their own booking of
-- this venue under the request key, or NULL; 23P01 when the key is on a
-- booking that is not theirs. Read-only: asked before the request takes
-- any lock, and again under the organization's widget lock.
CREATE FUNCTION protector_internal.widget_replay(v protector.venues, p_identity text, p_email text, p_key text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- (per venue: the same key at another venue of the organization is
	-- another booking, not a replay of this one under that venue's name)
	v_key_tail text := '/' OPERATOR(pg_catalog.||) v.id::text OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_key;
	v_key text := 'widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(p_identity) OPERATOR(pg_catalog.||) v_key_tail;
	v_booking jsonb;
BEGIN
	-- (a booking made before the address was keyed by identity_key has
	-- its lower()-cased address's, in the database's collation, not the
	-- one a caller's arguments carry: a retry across that change replays
	-- it; so is a booking of this venue with 0.1.0's key, without the
	-- venue, which a request in flight during ALTER EXTENSION UPDATE
	-- wrote with 0.1.0's code after the update had rewritten the others.
	-- A key hashes an address, and two the desk keeps apart can lower()
	-- alike into another's key: only the visitor's own booking, its
	-- customer's identity theirs, is replayed.)
	SELECT protector_internal.booking_shape(b, true) INTO v_booking FROM protector.bookings b
	WHERE b.organization_id OPERATOR(pg_catalog.=) v.organization_id
	  AND (b.idempotency_key OPERATOR(pg_catalog.=) ANY (ARRAY[v_key,
				'widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(pg_catalog.lower(p_email COLLATE pg_catalog."default")) OPERATOR(pg_catalog.||) v_key_tail])
		   OR (b.venue_id OPERATOR(pg_catalog.=) v.id
			   AND b.idempotency_key OPERATOR(pg_catalog.=) ('widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(pg_catalog.lower(p_email COLLATE pg_catalog."default"))
				   OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_key)))
	  AND EXISTS (SELECT FROM protector.customers c
				  WHERE c.organization_id OPERATOR(pg_catalog.=) v.organization_id
					AND c.identity_key OPERATOR(pg_catalog.=) p_identity
					-- (or a record of the address merged into the booking's:
					-- the merge said they are one person, and a booking of the
					-- address goes to the record it was merged into)
					AND (c.id OPERATOR(pg_catalog.=) b.customer_id OR c.merged_into OPERATOR(pg_catalog.=) b.customer_id))
	ORDER BY b.idempotency_key OPERATOR(pg_catalog.=) v_key DESC LIMIT 1;
	-- this visitor's key, in any of those forms, on a booking that is not
	-- theirs (another address that lower()s into theirs): neither replayed
	-- nor booked under it (with 0.1.0's form, another visitor's request
	-- booked again)
	IF v_booking IS NULL AND EXISTS (
			SELECT FROM protector.bookings b
			WHERE b.organization_id OPERATOR(pg_catalog.=) v.organization_id
			  AND (b.idempotency_key OPERATOR(pg_catalog.=) ANY (ARRAY[v_key,
						'widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(pg_catalog.lower(p_email COLLATE pg_catalog."default")) OPERATOR(pg_catalog.||) v_key_tail])
				   OR (b.venue_id OPERATOR(pg_catalog.=) v.id
					   AND b.idempotency_key OPERATOR(pg_catalog.=) ('widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(pg_catalog.lower(p_email COLLATE pg_catalog."default"))
						   OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_key)))) THEN
		PERFORM protector.raise('conflict', 'this request key belongs to another booking',
			'A booking whose guest record is not this address''s holds it: one the venue has given another customer since, or another visitor''s, made before the widget keyed bookings by the address as the desk does.',
			'If the booking was yours, ask the venue; else send it again with a new p_idempotency_key.');
	END IF;
	RETURN v_booking;
END
$$;
COMMENT ON FUNCTION protector_internal.widget_replay(protector.venues, text, text, text) IS
'A widget visitor''s own booking of the venue under the request key (NULL if none); 23P01 when the key is another booking''s';

-- The widget's limits (create_widget_booking): the venue takes no widget
-- bookings (42501), or too many in the last minute, or too many from this
-- visitor or client address in the last hour (53400); the visitor's
-- (e-mail) limit only with p_identity. Read-only: asked before the request
-- takes any lock, and again under the organization's widget lock, which
-- makes the count exact.
CREATE FUNCTION protector_internal.widget_limits(v protector.venues, p_identity text, p_address inet)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_limit integer := protector_internal.widget_per_minute(v.widget_settings);
	v_per_visitor integer := protector_internal.widget_setting(v.widget_settings, 'visitor_bookings_per_hour', 5, 1, 100000);
	v_per_address integer := protector_internal.widget_setting(v.widget_settings, 'address_bookings_per_hour', 20, 1, 100000);
	v_recent integer;
	v_by_visitor integer;
	v_by_address integer;
BEGIN
	IF v_limit OPERATOR(pg_catalog.=) 0 THEN
		PERFORM protector.raise('forbidden', 'this venue does not take bookings through its widget',
			'Its widget_settings.bookings_per_minute is 0.');
	END IF;
	SELECT pg_catalog.count(*) INTO v_recent FROM protector.bookings b
	WHERE b.venue_id OPERATOR(pg_catalog.=) v.id AND b.source OPERATOR(pg_catalog.=) 'widget'
	  AND b.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 minute');
	IF v_recent OPERATOR(pg_catalog.>=) v_limit THEN
		PERFORM protector.raise('rate_limited', 'too many bookings through this widget; try again in a minute',
			pg_catalog.format('This venue takes at most %s widget bookings per minute.', v_limit));
	END IF;
	SELECT pg_catalog.count(*) FILTER (WHERE w.identity_key OPERATOR(pg_catalog.=) p_identity),
		   pg_catalog.count(*) FILTER (WHERE w.client_address OPERATOR(pg_catalog.=) p_address)
	INTO v_by_visitor, v_by_address
	FROM protector_internal.widget_requests w
	WHERE w.organization_id OPERATOR(pg_catalog.=) v.organization_id AND w.venue_id OPERATOR(pg_catalog.=) v.id
	  AND w.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 hour');
	IF v_by_visitor OPERATOR(pg_catalog.>=) v_per_visitor OR v_by_address OPERATOR(pg_catalog.>=) v_per_address THEN
		PERFORM protector.raise('rate_limited', 'too many bookings from you through this widget; try again later',
			pg_catalog.format('This venue takes at most %s widget bookings per hour from one e-mail address and %s from one network address.',
				v_per_visitor, v_per_address));
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.widget_limits(protector.venues, text, inet) IS
'Refuses a widget booking the venue does not take (42501) or over its per-minute, per-visitor or per-address limit (53400)';

CREATE FUNCTION protector.create_widget_booking(
	p_embed_key text,
	p_service_id uuid,
	p_customer_name text,
	p_customer_email text,
	p_customer_phone text,
	p_start timestamptz,
	p_party_size integer DEFAULT 1,
	p_idempotency_key text DEFAULT NULL,
	p_details jsonb DEFAULT '{}',
	p_promo_code text DEFAULT NULL,
	p_voucher_code text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v protector.venues := protector_internal.venue_for_embed_key(p_embed_key);
	v_service protector.services;
	-- (trimmed of every kind of space: an address pasted with a no-break
	-- space, or typed with an IME's ideographic one, is an address)
	v_name text;
	-- (as typed: identity_key folds case, the desk's way; lower() folded
	-- a dotted capital I (U+0130) to a plain i, which the desk's key keeps
	-- apart, and stored that;
	-- in the database's collation, not the one a caller's arguments carry
	-- into the function: under "C", lower() folds no U+0130)
	v_email text COLLATE pg_catalog."default";
	v_typed text COLLATE pg_catalog."default";	-- the address as 0.1.0 keyed it
	v_phone text;
	v_identity text;
	v_address inet := protector_internal.request_client_address();
	v_hold_minutes integer;
	v_customer uuid;
	v_key text;
	v_booking jsonb;
BEGIN
	PERFORM protector_internal.check_code(p_promo_code, 'promo', 'p_promo_code');
	PERFORM protector_internal.check_code(p_voucher_code, 'gift', 'p_voucher_code');
	-- (spaces at the ends count against the most, as check_text counts
	-- them: a name padded with megabytes of spaces was trimmed and scanned
	-- for seconds, and accepted)
	IF pg_catalog.length(p_customer_name) OPERATOR(pg_catalog.>) 200 THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_name must be 1 to 200 characters',
			pg_catalog.format('Got %s characters.', pg_catalog.length(p_customer_name)));
	END IF;
	IF pg_catalog.length(p_customer_email) OPERATOR(pg_catalog.>) 320 THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_email is not an email address',
			'At most 320 characters, like name@example.com.');
	END IF;
	IF pg_catalog.length(p_customer_phone) OPERATOR(pg_catalog.>) 40 THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_phone is not a phone number',
			'Digits, spaces and ( ) . / - only, an optional leading +, at most 40 characters.');
	END IF;
	v_name := protector_internal.trim_spaces(p_customer_name);
	-- (written in NFKC: a visitor's full-width letters are the ASCII of
	-- their address, which reminders can reach, and the guest they fold
	-- to; email_is_valid refuses the address only in the desk's records)
	-- (widget_replay finds 0.1.0's request keys by the address as 0.1.0
	-- hashed it: trimmed of ASCII spaces only, before NFKC: a retry across
	-- the update of an address typed in full-width letters, or ending in a
	-- no-break space, booked again)
	v_typed := pg_catalog.btrim(p_customer_email);
	v_email := pg_catalog.normalize(protector_internal.trim_spaces(p_customer_email), 'NFKC');
	v_phone := NULLIF(protector_internal.trim_spaces(p_customer_phone), '');
	-- (a name of spaces only, trimmed to nothing, is told what it lacks)
	IF v_name IS NULL OR pg_catalog.length(v_name) NOT BETWEEN 1 AND 200 THEN
		PERFORM protector.raise('invalid_parameter',
			CASE WHEN v_name OPERATOR(pg_catalog.=) '' AND pg_catalog.btrim(p_customer_name) OPERATOR(pg_catalog.<>) ''
				 THEN 'p_customer_name must hold a visible character' ELSE 'p_customer_name must be 1 to 200 characters' END);
	END IF;
	-- a name of spaces, variation selectors, joiners and combining marks
	-- alone (of any script, by Unicode category) renders blank on the
	-- operator's screen
	IF NOT protector_internal.renders_visible(v_name) THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_name must hold a visible character');
	END IF;
	IF v_email IS NULL OR NOT protector_internal.email_is_valid(v_email) THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_email is not an email address',
			'At most 320 characters, like name@example.com.');
	END IF;
	IF v_phone IS NOT NULL AND NOT protector_internal.phone_is_valid(v_phone) THEN
		PERFORM protector.raise('invalid_parameter', 'p_customer_phone is not a phone number',
			'Digits, spaces and ( ) . / - only, an optional leading +, at most 40 characters.');
	END IF;
	IF p_idempotency_key IS NOT NULL AND pg_catalog.length(p_idempotency_key) NOT BETWEEN 1 AND 100 THEN
		PERFORM protector.raise('invalid_parameter', 'p_idempotency_key must be 1 to 100 characters');
	END IF;
	IF p_details IS NULL OR pg_catalog.jsonb_typeof(p_details) OPERATOR(pg_catalog.<>) 'object'
	   OR pg_catalog.octet_length(p_details::text) OPERATOR(pg_catalog.>) 16384 THEN
		PERFORM protector.raise('invalid_parameter', 'p_details must be a JSON object of at most 16 kB');
	END IF;
	-- (a refund's note is protector's: a visitor wrote one of 100% on a
	-- live booking, for staff to read)
	IF p_details OPERATOR(pg_catalog.?) 'refund' THEN
		PERFORM protector.raise('invalid_parameter', 'p_details.refund is protector''s',
			'Protector writes it when a booking is cancelled or marked no-show.');
	END IF;
	-- (as typed: a line break or tab at an end, which the trim took, is
	-- refused as docs/widget.md says)
	IF NOT (protector_internal.text_is_clean(p_customer_name) AND protector_internal.text_is_clean(p_customer_email)
			AND protector_internal.text_is_clean(p_customer_phone) AND protector_internal.text_is_clean(p_idempotency_key))
	   OR NOT protector_internal.json_is_clean(p_details) THEN
		PERFORM protector.raise('invalid_parameter', 'the booking holds control or invisible direction characters',
			'Names, e-mail, phone, request key and details must be plain text.');
	END IF;
	v_identity := protector.normalize_email(v_email);

	-- a visitor's retry replays their own booking, never someone else's,
	-- and is answered before the limits count and before any lock: it
	-- books nothing (again under the lock below: a retry racing its first
	-- request is answered with it)
	IF p_idempotency_key IS NOT NULL THEN
		v_key := 'widget/' OPERATOR(pg_catalog.||) pg_catalog.md5(v_identity) OPERATOR(pg_catalog.||) '/'
				 OPERATOR(pg_catalog.||) v.id::text OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) p_idempotency_key;
		v_booking := protector_internal.widget_replay(v, v_identity, v_typed, p_idempotency_key);
	END IF;
	-- (after the replay: a retried request is answered with its booking
	-- also once its service is retired, as create_booking answers one)
	IF v_booking IS NULL THEN
		v_service := protector_internal.widget_service(v, p_service_id);
	END IF;
	IF v_booking IS NULL THEN
		-- the refusals that take nothing (the widget off, the venue's and
		-- the network address's limits) before any lock: a refused request
		-- holds nothing another waits for (judged again under the lock
		-- below).  (A retry whose first request committed between the
		-- replay above and the count is counted by it: it is answered with
		-- its booking.)  Not the e-mail address's limit: it is judged after
		-- the trial booking below, so that a request refused anyway (a
		-- start in the past) does not tell whether that address booked
		-- here within the hour.
		IF p_idempotency_key IS NULL THEN
			PERFORM protector_internal.widget_limits(v, NULL, v_address);
		ELSE
			BEGIN
				PERFORM protector_internal.widget_limits(v, NULL, v_address);
			EXCEPTION WHEN OTHERS THEN
				v_booking := protector_internal.widget_replay(v, v_identity, v_typed, p_idempotency_key);
				IF v_booking IS NULL THEN
					RAISE;
				END IF;
			END;
		END IF;
	END IF;
	IF v_booking IS NULL THEN
		-- the locks the booking will wait for, taken first and in the order
		-- a booking takes them (a promo code's row, then the service's
		-- reservation lock), each wait bounded by protector.lock_timeout
		-- (40001): the organization's widget lock below is then held while
		-- a request works, not while it waits (held while one waited for a
		-- busy service, every later visitor of the organization, whatever
		-- their service, queued behind it without limit). A voucher's row
		-- is waited for and let go (a savepoint rolled back lets go of a
		-- row lock): kept, it waited in a cycle with a merge of the guest
		-- the booking then refers to; the booking locks it itself, after
		-- its guest record.
		PERFORM protector_internal.lock_row('protector.promo_codes', p.id, 'promo code')
		FROM protector.promo_codes p
		WHERE p.organization_id OPERATOR(pg_catalog.=) v.organization_id AND p.code OPERATOR(pg_catalog.=) p_promo_code;
		PERFORM protector.lock_services(ARRAY[v_service.id]);
		IF p_voucher_code IS NOT NULL THEN
			BEGIN
				PERFORM protector_internal.lock_row('protector.vouchers', x.id, 'voucher')
				FROM protector.vouchers x
				WHERE x.organization_id OPERATOR(pg_catalog.=) v.organization_id AND x.code OPERATOR(pg_catalog.=) p_voucher_code;
				RAISE EXCEPTION USING ERRCODE = 'PW000';
			EXCEPTION WHEN SQLSTATE 'PW000' THEN
				NULL;
			END;
		END IF;
		-- one widget booking of an organization at a time: the rate limit and
		-- the customer look-up see every earlier one (a wait bounded too)
		PERFORM protector_internal.lock_widget_bookings(v.organization_id);
		-- (under REPEATABLE READ the ones committed while this waited are not in
		-- its snapshot: the limits and the look-up would miss them; the count
		-- and the newest id: a booking that pruned an old request and wrote its
		-- own left the count as it was)
		PERFORM protector_internal.retry_if_unseen(
			'SELECT pg_catalog.hashtextextended(pg_catalog.count(*)::pg_catalog.text OPERATOR(pg_catalog.||) ''/''
				OPERATOR(pg_catalog.||) COALESCE(pg_catalog.max(w.id)::pg_catalog.text, ''''), 0)
			 FROM protector_internal.widget_requests w WHERE w.organization_id OPERATOR(pg_catalog.=) $1',
			v.organization_id, 'a widget booking of this organization was made concurrently', NULL);
		-- the venue and service as they are now that the locks are held: a
		-- key rotated, a venue or service retired, the widget turned off or
		-- its confirmation changed while this request waited count (it went
		-- through on the rows read before it waited)
		v := protector_internal.venue_for_embed_key(p_embed_key);
		v_service := protector_internal.widget_service(v, p_service_id);
		IF p_idempotency_key IS NOT NULL THEN
			v_booking := protector_internal.widget_replay(v, v_identity, v_typed, p_idempotency_key);
		END IF;
	END IF;
	-- (without auto_confirm a widget booking is a hold the venue confirms
	-- within widget_settings.confirmation_minutes, default 15)
	v_hold_minutes := CASE WHEN (v.widget_settings ->> 'auto_confirm') OPERATOR(pg_catalog.=) 'true' THEN NULL
		WHEN pg_catalog.jsonb_typeof(v.widget_settings -> 'confirmation_minutes') OPERATOR(pg_catalog.=) 'number'
		THEN LEAST(GREATEST((v.widget_settings ->> 'confirmation_minutes')::numeric, 1), 1440)::integer
		ELSE 15 END;
	IF v_booking IS NULL THEN
		-- one visitor (by e-mail, and by client address where PostgREST
		-- passes it) cannot fill the venue's calendar: the requests of more
		-- than a day ago go, and the limits are judged on the rest
		PERFORM protector_internal.prune_widget_requests(v.organization_id, v.id);
		PERFORM protector_internal.widget_limits(v, NULL, v_address);

		-- The booking is tried first without a customer, and taken back: a
		-- slot that is taken or breaks the service's rules, a party size,
		-- promo code or voucher that does not fit, is refused (with
		-- create_booking's own error) before the guest record is looked up
		-- or made. A refusal then takes as long for an address the
		-- organization knows as for one it does not (its time told them
		-- apart, about 200 microseconds, and a refusal leaves nothing that a
		-- limit counts). Only what depends on the customer (a promo code's
		-- uses per customer) is judged with them, below.
		BEGIN
			PERFORM protector.create_booking(v_service.id, NULL, p_start, p_party_size, NULL, p_details, 'widget', NULL,
				v_hold_minutes, p_promo_code, p_voucher_code);
			RAISE EXCEPTION USING ERRCODE = 'PW000';
		EXCEPTION WHEN SQLSTATE 'PW000' THEN
			NULL;
		END;
		-- (the e-mail address's limit, once the request would book)
		PERFORM protector_internal.widget_limits(v, v_identity, v_address);

		-- a returning guest is found by e-mail as identity_key compares it
		-- (ICU-normalized: case, width, compatibility forms; docs/customers.md);
		-- a customer with an account is never attached to by e-mail alone:
		-- the booking goes to a guest record of that e-mail
		-- (and whose address is one protector takes now: one 0.1.0 stored
		-- unchecked, with a character drawn as nothing or a compatibility
		-- form, folds to the identity of another it only looks like)
		SELECT c.id INTO v_customer FROM protector.customers c
		WHERE c.organization_id OPERATOR(pg_catalog.=) v.organization_id
		  AND c.identity_key OPERATOR(pg_catalog.=) v_identity
		  AND c.merged_into IS NULL AND c.user_id IS NULL AND protector_internal.email_is_valid(c.email)
		ORDER BY c.created_at, c.id LIMIT 1;
		-- an address only a record merged into another has: the record it
		-- was merged into, a guest's (the merge said they are one person;
		-- the widget made them two again, and the duplicate search, which
		-- passes over merged records, could not tell)
		IF NOT FOUND THEN
			SELECT k.id INTO v_customer FROM protector.customers c
			JOIN protector.customers k ON k.organization_id OPERATOR(pg_catalog.=) c.organization_id
									  AND k.id OPERATOR(pg_catalog.=) c.merged_into
			WHERE c.organization_id OPERATOR(pg_catalog.=) v.organization_id
			  AND c.identity_key OPERATOR(pg_catalog.=) v_identity AND protector_internal.email_is_valid(c.email)
			  AND k.merged_into IS NULL AND k.user_id IS NULL AND protector_internal.email_is_valid(k.email)
			ORDER BY c.created_at, c.id LIMIT 1;
		END IF;
		IF NOT FOUND THEN
			INSERT INTO protector.customers (organization_id, full_name, email, phone)
			VALUES (v.organization_id, v_name, v_email, v_phone)
			RETURNING id INTO v_customer;
		END IF;

		-- without auto_confirm a widget booking is a hold the venue confirms
		-- within widget_settings.confirmation_minutes (default 15); unconfirmed
		-- it stops occupying its slot
		v_booking := protector.create_booking(v_service.id, v_customer, p_start, p_party_size, v_key, p_details,
			'widget', NULL, v_hold_minutes, p_promo_code, p_voucher_code);
		IF NOT (v_booking -> 'replayed')::boolean THEN
			INSERT INTO protector_internal.widget_requests (organization_id, venue_id, identity_key, client_address, customer_id)
			VALUES (v.organization_id, v.id, v_identity, v_address, v_customer);
		END IF;
	END IF;
	-- the booking shape of the RPCs (booking_shape), without what is the
	-- venue's business: customer, notes, agent, ledger details
	RETURN (SELECT pg_catalog.jsonb_object_agg(k, v_booking -> k)
			FROM pg_catalog.unnest(ARRAY['id', 'status', 'hold_expires_at', 'start', 'end', 'timezone', 'local_start',
										 'local_end', 'party_size', 'currency', 'total_price', 'discount_amount',
										 'amount_paid', 'balance_due', 'deposit_amount', 'payment_due_by']) k)
		   -- (the booking's own service: a replay of a key first used for
		   -- another service of the venue answers with the booking made then)
		   OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
				'service', (SELECT s.name FROM protector.services s
							WHERE s.organization_id OPERATOR(pg_catalog.=) v.organization_id
							  AND s.id OPERATOR(pg_catalog.=) (v_booking ->> 'service_id')::uuid),
				'replayed', COALESCE(v_booking -> 'replayed', 'false'));
END
$$;
COMMENT ON FUNCTION protector.create_widget_booking(text, uuid, text, text, text, timestamptz, integer, text, jsonb,
													 text, text) IS
'Widget: books a slot for a visitor (customer found or created by email), with a promo code and a gift voucher; returns the booking''s public fields: id, status, times, price and what is owed';
