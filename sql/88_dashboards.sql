\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/88_dashboards.sql: the operator dashboard (docs/dashboards.md).
--
-- Figures are aggregates of protector_internal.booking_buckets (C,
-- src/dashboards.c): they need analytics.aggregate (viewers included) and
-- show no personal data.  Lists of bookings (upcoming, recent activity) are
-- read as the caller under RLS: the desk and finance see the
-- organization's, an agent their own, viewers and customers none.  Days,
-- weeks and hours are local: the venue's time zone, or the organization's
-- when no venue is given.

CREATE FUNCTION protector_internal.booking_buckets(p_organization_id uuid, p_venue_id uuid, p_bounds timestamptz[])
RETURNS TABLE (bucket_start timestamptz, bookings bigint, cancelled bigint, no_shows bigint, concluded bigint,
			   guests bigint, booked_value numeric, valued_bookings bigint, booked_seconds float8, revenue numeric)
AS 'MODULE_PATHNAME', 'protector_booking_buckets'
LANGUAGE C STABLE;
COMMENT ON FUNCTION protector_internal.booking_buckets(uuid, uuid, timestamptz[]) IS
'Per [bound i, bound i+1): bookings starting in it (counts by status, guests, booked value and time) and the ledger''s revenue paid in it; analytics.aggregate';

-- The time zone of a dashboard: the venue's (which must be one of the
-- organization's), else the organization's.  Raises "venue not found" /
-- "organization not found" as the rest of the API does.
CREATE FUNCTION protector_internal.dashboard_timezone(p_organization_id uuid, p_venue_id uuid)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tz text;
BEGIN
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	IF p_venue_id IS NOT NULL THEN
		SELECT v.timezone INTO v_tz FROM protector.venues v
		WHERE v.id OPERATOR(pg_catalog.=) p_venue_id AND v.organization_id OPERATOR(pg_catalog.=) p_organization_id;
		IF NOT FOUND THEN
			PERFORM protector.raise('not_found', 'venue not found', 'It does not exist, or you may not see it.');
		END IF;
		RETURN v_tz;
	END IF;
	SELECT o.timezone INTO v_tz FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id;
	IF NOT FOUND THEN
		PERFORM protector.raise('not_found', 'organization not found', 'It does not exist, or you may not see it.');
	END IF;
	RETURN v_tz;
END
$$;
COMMENT ON FUNCTION protector_internal.dashboard_timezone(uuid, uuid) IS
'The time zone a dashboard counts in: the venue''s, else the organization''s';

-- Where a local day begins: its first instant, also on a day whose
-- midnight the clocks pass twice (src/dashboards.c).  Days, weeks, hours
-- and report ranges begin and end here.
CREATE FUNCTION protector_internal.local_midnight(p_timezone text, p_day date)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'protector_local_midnight_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.local_midnight(text, date) IS
'The first instant of the local day p_day in zone p_timezone (the earlier one where midnight happens twice)';

-- Lists of bookings are for those who may read them (as the caller,
-- under RLS): bookings.read, or bookings.assigned for an agent's own.
CREATE FUNCTION protector_internal.authorize_booking_list(p_organization_id uuid)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (protector_internal.caller_is_trusted()
			OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.read'))
			OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.assigned'))) THEN
		PERFORM protector_internal.authorize(p_organization_id, 'bookings.read');
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.authorize_booking_list(uuid) IS
'Refuses a list of bookings to whoever may not read the organization''s (or, as an agent, their own) bookings';

-- What the venues in scope offer over [p_lo, p_hi): open seconds times
-- active services (the denominator of occupancy).  Each venue's opening
-- ranges merged first, so that an hour is counted once however its ranges
-- overlap (an overnight range of the day before included), as
-- get_venue_analytics counts it; of active venues (a deactivated venue
-- has no schedule, and booking_buckets leaves its bookings out of booked
-- time too: the ratio stays the active venues').  Read as
-- the owner, past RLS, as booking_buckets reads the numerator: a viewer,
-- who reads no bookings, must not lose a retired service with bookings
-- from it.
CREATE FUNCTION protector_internal.open_service_seconds(p_organization_id uuid, p_venue_id uuid,
														p_lo timestamptz, p_hi timestamptz)
RETURNS float8
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM protector_internal.authorize_requester(p_organization_id, 'analytics.aggregate');
	-- (each venue's services counted once: counted per opening range, a
	-- venue open in 16 ranges a day with 5,000 services took a second)
	RETURN (SELECT COALESCE(pg_catalog.sum(o.seconds OPERATOR(pg_catalog.*) n.services), 0)
			FROM protector.venues v
			CROSS JOIN LATERAL (
				SELECT pg_catalog.sum(pg_catalog.date_part('epoch', pg_catalog.upper(u.r) OPERATOR(pg_catalog.-) pg_catalog.lower(u.r))) AS seconds
				FROM (SELECT pg_catalog.range_agg(pg_catalog.tstzrange(GREATEST(g.opens_at, p_lo), LEAST(g.closes_at, p_hi))) AS open
					  -- from the day before: an overnight opening of that day reaches in
					  FROM protector.get_venue_schedule(v.id, (protector_internal.local_time(v.timezone, p_lo))::date OPERATOR(pg_catalog.-) 1,
														(protector_internal.local_time(v.timezone, p_hi))::date) g
					  WHERE g.kind OPERATOR(pg_catalog.<>) 'closed'
						AND g.closes_at OPERATOR(pg_catalog.>) p_lo AND g.opens_at OPERATOR(pg_catalog.<) p_hi
						AND g.closes_at OPERATOR(pg_catalog.>) g.opens_at) a
				CROSS JOIN LATERAL pg_catalog.unnest(a.open) u(r)) o
			CROSS JOIN LATERAL (
				SELECT pg_catalog.count(*) AS services FROM protector.services s
				WHERE s.organization_id OPERATOR(pg_catalog.=) v.organization_id
				  AND s.venue_id OPERATOR(pg_catalog.=) v.id
				  -- (a retired service whose bookings the range counts)
				  AND (s.active OR EXISTS (
						SELECT FROM protector.bookings b
						WHERE b.organization_id OPERATOR(pg_catalog.=) s.organization_id
						  AND b.venue_id OPERATOR(pg_catalog.=) v.id AND b.service_id OPERATOR(pg_catalog.=) s.id
						  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) p_lo
						  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) p_hi
						  AND b.status OPERATOR(pg_catalog.<>) ALL ('{held,cancelled,no_show}'::protector.booking_status[])))) n
			WHERE v.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  AND (p_venue_id IS NULL OR v.id OPERATOR(pg_catalog.=) p_venue_id)
			  AND v.active);
END
$$;
COMMENT ON FUNCTION protector_internal.open_service_seconds(uuid, uuid, timestamptz, timestamptz) IS
'Open seconds of the active venues in scope over a range (each hour once), times their active services and the retired ones with bookings counted in it (as the owner; analytics.aggregate)';


CREATE FUNCTION protector.get_dashboard_stats(p_organization_id uuid, p_venue_id uuid DEFAULT NULL)
RETURNS TABLE (metric text, value numeric, previous numeric, change_percent numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tz text;
	v_today date;
	b timestamptz[];
	c record;
	p record;
	r record;
	v_open_c float8;
	v_open_p float8;
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	v_tz := protector_internal.dashboard_timezone(p_organization_id, p_venue_id);
	v_today := (protector_internal.local_time(v_tz, pg_catalog.now()))::date;
	-- the last 30 local days (today included) and the 30 before
	b := ARRAY[protector_internal.local_midnight(v_tz, v_today OPERATOR(pg_catalog.-) 59),
			   protector_internal.local_midnight(v_tz, v_today OPERATOR(pg_catalog.-) 29),
			   protector_internal.local_midnight(v_tz, v_today OPERATOR(pg_catalog.+) 1)];
	FOR r IN SELECT * FROM protector_internal.booking_buckets(p_organization_id, p_venue_id, b) x ORDER BY x.bucket_start LOOP
		IF r.bucket_start OPERATOR(pg_catalog.=) b[1] THEN
			p := r;
		ELSE
			c := r;
		END IF;
	END LOOP;
	v_open_p := protector_internal.open_service_seconds(p_organization_id, p_venue_id, b[1], b[2]);
	v_open_c := protector_internal.open_service_seconds(p_organization_id, p_venue_id, b[2], b[3]);
	RETURN QUERY
	SELECT m.metric, m.cur, m.prev,
		   CASE WHEN m.prev OPERATOR(pg_catalog.<>) 0
				THEN pg_catalog.round((m.cur OPERATOR(pg_catalog.-) m.prev) OPERATOR(pg_catalog./) pg_catalog.abs(m.prev) OPERATOR(pg_catalog.*) 100, 1) END
	FROM (VALUES
		(1, 'bookings', c.bookings::numeric, p.bookings::numeric),
		(2, 'guests', c.guests::numeric, p.guests::numeric),
		(3, 'revenue', c.revenue, p.revenue),
		-- (money: to the cent, half to even, as every amount computed)
		(4, 'average_booking_value',
			protector.round_money(c.booked_value OPERATOR(pg_catalog./) NULLIF(c.valued_bookings, 0)),
			protector.round_money(p.booked_value OPERATOR(pg_catalog./) NULLIF(p.valued_bookings, 0))),
		(5, 'cancellation_rate',
			pg_catalog.round(c.cancelled::numeric OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) NULLIF(c.bookings, 0), 1),
			pg_catalog.round(p.cancelled::numeric OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) NULLIF(p.bookings, 0), 1)),
		(6, 'no_show_rate',
			pg_catalog.round(c.no_shows::numeric OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) NULLIF(c.concluded, 0), 1),
			pg_catalog.round(p.no_shows::numeric OPERATOR(pg_catalog.*) 100 OPERATOR(pg_catalog./) NULLIF(p.concluded, 0), 1)),
		-- (never above 100: bookings made outside today's hours, or a
		-- venue closed since, do not make it more than full)
		-- (and NULL without open time: LEAST ignores a NULL, which made it 100)
		(7, 'occupancy',
			CASE WHEN v_open_c OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(LEAST(100, c.booked_seconds OPERATOR(pg_catalog.*) 100
																					  OPERATOR(pg_catalog./) v_open_c)::numeric, 1) END,
			CASE WHEN v_open_p OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round(LEAST(100, p.booked_seconds OPERATOR(pg_catalog.*) 100
																					  OPERATOR(pg_catalog./) v_open_p)::numeric, 1) END)
	) m(n, metric, cur, prev)
	ORDER BY m.n;
END
$$;
COMMENT ON FUNCTION protector.get_dashboard_stats(uuid, uuid) IS
'The last 30 local days against the 30 before: bookings, guests, revenue, average booking value, cancellation and no-show rates, occupancy (docs/dashboards.md)';

CREATE FUNCTION protector.get_weekly_bookings_trend(p_organization_id uuid, p_venue_id uuid DEFAULT NULL,
													 p_weeks integer DEFAULT 8)
RETURNS TABLE (week_start date, bookings bigint, guests bigint, cancelled bigint, revenue numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tz text;
	v_monday date;
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	PERFORM protector_internal.check_integer(p_weeks, 'p_weeks', 1, 104);
	v_tz := protector_internal.dashboard_timezone(p_organization_id, p_venue_id);
	-- Monday of this local week
	v_monday := (protector_internal.local_time(v_tz, pg_catalog.now()))::date;
	v_monday := v_monday OPERATOR(pg_catalog.-) (pg_catalog.date_part('isodow', v_monday)::integer OPERATOR(pg_catalog.-) 1);
	RETURN QUERY
	SELECT (protector_internal.local_time(v_tz, x.bucket_start))::date, x.bookings, x.guests, x.cancelled, x.revenue
	FROM protector_internal.booking_buckets(p_organization_id, p_venue_id,
		ARRAY(SELECT protector_internal.local_midnight(v_tz, v_monday OPERATOR(pg_catalog.-) (7 OPERATOR(pg_catalog.*) w))
			  FROM pg_catalog.generate_series(p_weeks OPERATOR(pg_catalog.-) 1, -1, -1) w)) x
	ORDER BY x.bucket_start;
END
$$;
COMMENT ON FUNCTION protector.get_weekly_bookings_trend(uuid, uuid, integer) IS
'Bookings, guests, cancellations and revenue per local week (Monday to Sunday), the last p_weeks weeks, this one included';

CREATE FUNCTION protector.get_todays_bookings_by_hour(p_organization_id uuid, p_venue_id uuid DEFAULT NULL,
													   p_date date DEFAULT NULL)
RETURNS TABLE (hour_start timestamptz, local_hour text, utc_offset text, bookings bigint, guests bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tz text;
	v_day date;
	v_lo timestamptz;
	v_hi timestamptz;
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	v_tz := protector_internal.dashboard_timezone(p_organization_id, p_venue_id);
	v_day := COALESCE(p_date, (protector_internal.local_time(v_tz, pg_catalog.now()))::date);
	IF NOT pg_catalog.isfinite(v_day) OR v_day NOT BETWEEN '0001-01-02' AND '9999-12-30' THEN
		PERFORM protector.raise('datetime_overflow', 'p_date must be a date between 0001-01-02 and 9999-12-30',
			pg_catalog.format('Got %s.', protector_internal.iso_text(v_day)));
	END IF;
	v_lo := protector_internal.local_midnight(v_tz, v_day);
	v_hi := protector_internal.local_midnight(v_tz, v_day OPERATOR(pg_catalog.+) 1);
	IF v_lo OPERATOR(pg_catalog.>=) v_hi THEN
		RETURN;		-- a day the zone skipped (Pacific/Apia, 2011-12-30) has no hours
	END IF;
	-- the local day's hours as its clocks show them: the first starts with
	-- the day, each other where the local time is a full hour, or where the
	-- clocks move into another hour than the one they showed: of the
	-- instants a quarter hour apart from the day's start (both 01:00s of an
	-- autumn day; a move, which comes at a quarter hour of the clock) and
	-- the instant of each local full hour (after a move by other than
	-- quarter hours: Africa/Monrovia 1972, Europe/Berlin 1893).  23 rows
	-- on a spring-forward day, 25 in autumn; where the clocks move by half
	-- an hour or 45 minutes, the hour they jump into starts where they
	-- land (Australia/Lord_Howe's 02:30, 30 minutes long; Pacific/Chatham's
	-- 03:45, 15 minutes), as does the hour they go back into (Chatham's
	-- 02:45 after 03:45), and one they go back within lasts longer (Lord
	-- Howe's 01:00, 90 minutes): a booking counts in its own local hour
	-- (it counted in the hour before: a review)
	RETURN QUERY
	SELECT x.bucket_start, pg_catalog.to_char(protector_internal.local_time(v_tz, x.bucket_start), 'HH24:MI'),
		   (SELECT CASE WHEN o.s OPERATOR(pg_catalog.<) 0 THEN '-' ELSE '+' END
				   OPERATOR(pg_catalog.||) pg_catalog.to_char(pg_catalog.make_interval(secs => pg_catalog.abs(o.s)), 'HH24:MI')
			FROM (SELECT pg_catalog.date_part('epoch', protector_internal.local_time(v_tz, x.bucket_start) OPERATOR(pg_catalog.-)
												   pg_catalog.timezone('UTC', x.bucket_start)) AS s) o),
		   x.bookings, x.guests
	FROM protector_internal.booking_buckets(p_organization_id, p_venue_id,
		ARRAY[v_lo] OPERATOR(pg_catalog.||)
		ARRAY(SELECT DISTINCT c.h
			  FROM (SELECT g AS h FROM pg_catalog.generate_series(v_lo OPERATOR(pg_catalog.+) interval '15 minutes',
						v_hi OPERATOR(pg_catalog.-) interval '1 microsecond', interval '15 minutes') g
					UNION
					SELECT pg_catalog.timezone(v_tz, v_day OPERATOR(pg_catalog.+) pg_catalog.make_interval(hours => k))
					FROM pg_catalog.generate_series(1, 23) k) c
			  WHERE c.h OPERATOR(pg_catalog.>) v_lo AND c.h OPERATOR(pg_catalog.<) v_hi
				AND ((pg_catalog.date_part('minute', protector_internal.local_time(v_tz, c.h)) OPERATOR(pg_catalog.=) 0
					  AND pg_catalog.date_part('second', protector_internal.local_time(v_tz, c.h)) OPERATOR(pg_catalog.=) 0)
					 OR pg_catalog.date_trunc('hour', protector_internal.local_time(v_tz, c.h))
						OPERATOR(pg_catalog.<>) pg_catalog.date_trunc('hour', protector_internal.local_time(v_tz, c.h OPERATOR(pg_catalog.-) interval '1 microsecond')))
			  ORDER BY c.h)
		OPERATOR(pg_catalog.||) v_hi) x
	ORDER BY x.bucket_start;
END
$$;
COMMENT ON FUNCTION protector.get_todays_bookings_by_hour(uuid, uuid, date) IS
'Bookings and guests per hour of a local day (today by default) as its clocks show them (23, 24 or 25 rows where they move by an hour), with each hour''s local time and UTC offset';

CREATE FUNCTION protector.get_upcoming_bookings(p_organization_id uuid, p_venue_id uuid DEFAULT NULL,
												 p_limit integer DEFAULT 10)
RETURNS TABLE (booking_id uuid, start timestamptz, local_start timestamp, service text, customer text,
			   party_size integer, status protector.booking_status, assigned_agent uuid)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_tz text;
BEGIN
	PERFORM protector_internal.authorize_booking_list(p_organization_id);
	PERFORM protector_internal.check_integer(p_limit, 'p_limit', 1, 1000);
	v_tz := protector_internal.dashboard_timezone(p_organization_id, p_venue_id);
	-- the rest of the local day, as the caller may see it (RLS).  The first
	-- p_limit bookings (and those starting at the same moment as the last
	-- of them) are taken in start order from the organization's index on
	-- (organization_id, booking_start(during)) before anything is joined
	-- (booking_start: lower() as it may be compared before the policies, so
	-- that under RLS this is an index range, not the whole history): joined
	-- first, the planner could start from the organization's services and
	-- read all of the day's bookings to sort them (5.6x slower beside 2M
	-- bookings of other organizations, bench/dashboards.sh).  WITH TIES on
	-- the index's own order, not LIMIT on (start, id): that needs a sort,
	-- and the generic plan, which estimates one row, sorted the whole day
	-- (2x slower beside other organizations).  The organization's services
	-- are read once (MATERIALIZED): the generic plan otherwise scanned the
	-- services table once per booking
	RETURN QUERY
	WITH s AS MATERIALIZED (SELECT y.id, y.name FROM protector.services y WHERE y.organization_id OPERATOR(pg_catalog.=) p_organization_id)
	SELECT b.id, pg_catalog.lower(b.during), protector_internal.local_time(v_tz, pg_catalog.lower(b.during)), s.name, c.full_name,
		   b.party_size, b.status, b.assigned_agent
	FROM (SELECT x.id, x.organization_id, x.service_id, x.customer_id, x.during, x.party_size, x.status, x.assigned_agent
		  FROM protector.bookings x
		  WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id
			AND (p_venue_id IS NULL OR x.venue_id OPERATOR(pg_catalog.=) p_venue_id)
			AND protector_internal.booking_start(x.during) OPERATOR(pg_catalog.>=) pg_catalog.now()
			AND protector_internal.booking_start(x.during) OPERATOR(pg_catalog.<)
				protector_internal.local_midnight(v_tz, (protector_internal.local_time(v_tz, pg_catalog.now()))::date OPERATOR(pg_catalog.+) 1)
			AND x.status OPERATOR(pg_catalog.=) ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[])
			AND (x.status OPERATOR(pg_catalog.<>) 'held' OR x.hold_expires_at OPERATOR(pg_catalog.>) pg_catalog.now())
		  ORDER BY protector_internal.booking_start(x.during)
		  FETCH FIRST p_limit ROWS WITH TIES) b
	JOIN s ON s.id OPERATOR(pg_catalog.=) b.service_id
	LEFT JOIN protector.customers c ON c.organization_id OPERATOR(pg_catalog.=) b.organization_id
									AND c.id OPERATOR(pg_catalog.=) b.customer_id
	ORDER BY pg_catalog.lower(b.during), b.id
	LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION protector.get_upcoming_bookings(uuid, uuid, integer) IS
'The rest of today''s (local) bookings that are still to come, as the caller may see them: the desk and finance all, an agent their own';

-- The bookings of an organization changed last, newest first, from the
-- audit log's (organization_id, occurred_at) index: the walk stops at the
-- p_limit-th distinct booking that still exists (deleted ones take no
-- place), however many the organization has.  The bookings changed at
-- that moment (one transaction's now()) tie, and the caller breaks ties by
-- booking id: of them the p_limit smallest ids of existing bookings come
-- along, read as a set (a bulk update of a thousand bookings made the
-- walk and the caller's join quadratic, 2.6x slower beside other
-- organizations).  NULL when the log cannot answer (bookings not audited,
-- their ids masked, fewer bookings logged than asked for, or a log mostly of deleted
-- bookings: the caller then reads the bookings directly).  Ids only; the
-- caller reads the rows under RLS.
CREATE FUNCTION protector_internal.recent_booking_ids(p_organization_id uuid, p_limit integer)
RETURNS uuid[]
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[] := '{}';
	v_seen uuid[] := '{}';
	v_id uuid;
	v_at timestamptz;
	v_read integer := 0;
BEGIN
	PERFORM protector_internal.authorize_requester(p_organization_id, 'bookings.read');
	PERFORM protector_internal.check_integer(p_limit, 'p_limit', 1, 1000);
	-- (the trigger is there, and its settings' row says it writes the
	-- bookings' ids: a restore makes the trigger again of a table the
	-- backup did not audit, and a masked id is "[masked]")
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
				   WHERE g.tgrelid OPERATOR(pg_catalog.=) 'protector.bookings'::pg_catalog.regclass
					 AND g.tgname OPERATOR(pg_catalog.=) 'protector_audit' AND g.tgenabled OPERATOR(pg_catalog.<>) 'D')
	   OR EXISTS (SELECT FROM protector_internal.audit_settings s
				  WHERE s.table_name OPERATOR(pg_catalog.=) 'protector.bookings'::pg_catalog.regclass
					AND (NOT s.audited OR 'id' OPERATOR(pg_catalog.=) ANY (s.masked))) THEN
		RETURN NULL;
	END IF;
	-- (a row logged while the ids were masked names none: the log cannot
	-- tell which booking changed then, and the caller reads the bookings)
	FOR v_id, v_at IN
		SELECT CASE WHEN l.record_id OPERATOR(pg_catalog.<>) '[masked]' THEN l.record_id::uuid END, l.occurred_at
		FROM protector.audit_log l
		WHERE l.organization_id OPERATOR(pg_catalog.=) p_organization_id AND l.table_name OPERATOR(pg_catalog.=) 'protector.bookings'
		ORDER BY l.occurred_at DESC, l.id DESC
		-- (as many as the loop reads at most: without a limit a loop's
		-- query is planned for all its rows, and the whole history of the
		-- organization's bookings was read and sorted on every call)
		LIMIT (10 OPERATOR(pg_catalog.*) p_limit) OPERATOR(pg_catalog.+) 1001
	LOOP
		v_read := v_read OPERATOR(pg_catalog.+) 1;
		IF v_read OPERATOR(pg_catalog.>) ((10 OPERATOR(pg_catalog.*) p_limit) OPERATOR(pg_catalog.+) 1000) THEN
			RETURN NULL;
		END IF;
		IF v_id IS NULL THEN
			RETURN NULL;
		END IF;
		CONTINUE WHEN v_id OPERATOR(pg_catalog.=) ANY (v_seen);
		v_seen := v_seen OPERATOR(pg_catalog.||) v_id;
		CONTINUE WHEN NOT EXISTS (SELECT FROM protector.bookings b
								  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
									AND b.id OPERATOR(pg_catalog.=) v_id);
		v_ids := v_ids OPERATOR(pg_catalog.||) v_id;
		EXIT WHEN pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.=) p_limit;
	END LOOP;
	IF pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.<) p_limit THEN
		RETURN NULL;
	END IF;
	SELECT pg_catalog.array_agg(DISTINCT x.id) INTO v_ids
	FROM (SELECT pg_catalog.unnest(v_ids) AS id
		  UNION ALL
		  (SELECT DISTINCT b.id
		   FROM protector.audit_log l
		   JOIN protector.bookings b ON b.organization_id OPERATOR(pg_catalog.=) p_organization_id
									AND b.id OPERATOR(pg_catalog.=) CASE WHEN l.record_id OPERATOR(pg_catalog.<>) '[masked]'
																	 THEN l.record_id::uuid END
		   WHERE l.organization_id OPERATOR(pg_catalog.=) p_organization_id AND l.occurred_at OPERATOR(pg_catalog.=) v_at
			 AND l.table_name OPERATOR(pg_catalog.=) 'protector.bookings'
		   ORDER BY 1 LIMIT p_limit)) x;
	RETURN v_ids;
END
$$;
COMMENT ON FUNCTION protector_internal.recent_booking_ids(uuid, integer) IS
'The p_limit bookings of an organization changed last, by the audit log (NULL when it cannot tell); bookings.read';

CREATE FUNCTION protector.get_recent_booking_activity(p_organization_id uuid, p_limit integer DEFAULT 20)
RETURNS TABLE (booking_id uuid, activity text, occurred_at timestamptz, status protector.booking_status,
			   service text, customer text, start timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[];
BEGIN
	PERFORM protector_internal.authorize_booking_list(p_organization_id);
	PERFORM protector_internal.check_integer(p_limit, 'p_limit', 1, 1000);
	PERFORM protector_internal.dashboard_timezone(p_organization_id, NULL);
	-- the desk: the audit log says which bookings changed last (at most
	-- 2 p_limit ids); an agent's few bookings, or an organization whose
	-- log cannot answer, are picked from the bookings themselves, as the
	-- caller may see them.  Either way the rows are then read by primary
	-- key, under RLS
	IF protector_internal.caller_is_trusted()
	   OR p_organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('bookings.read')) THEN
		v_ids := protector_internal.recent_booking_ids(p_organization_id, p_limit);
	END IF;
	IF v_ids IS NULL THEN
		SELECT pg_catalog.array_agg(x.id) INTO v_ids
		FROM (SELECT b.id FROM protector.bookings b
			  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
			  ORDER BY b.updated_at DESC, b.id
			  LIMIT p_limit) x;
	END IF;
	RETURN QUERY
	SELECT b.id,
		   -- (cancelled first: one cancelled in the transaction that made it
		   -- has both stamps that transaction's)
		   CASE WHEN b.status OPERATOR(pg_catalog.=) 'cancelled' THEN 'cancelled'
				WHEN b.updated_at OPERATOR(pg_catalog.=) b.created_at THEN 'created'
				ELSE 'updated' END,
		   b.updated_at, b.status, s.name, c.full_name, pg_catalog.lower(b.during)
	FROM pg_catalog.unnest(v_ids) AS r(id)
	JOIN protector.bookings b ON b.id OPERATOR(pg_catalog.=) r.id
							  AND b.organization_id OPERATOR(pg_catalog.=) p_organization_id
	JOIN protector.services s ON s.organization_id OPERATOR(pg_catalog.=) b.organization_id AND s.id OPERATOR(pg_catalog.=) b.service_id
	LEFT JOIN protector.customers c ON c.organization_id OPERATOR(pg_catalog.=) b.organization_id
									AND c.id OPERATOR(pg_catalog.=) b.customer_id
	ORDER BY b.updated_at DESC, b.id
	LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION protector.get_recent_booking_activity(uuid, integer) IS
'The organization''s most recently created or changed bookings, newest first, as the caller may see them';

CREATE INDEX payments_created_idx ON protector.payments (organization_id, created_at);

GRANT EXECUTE ON FUNCTION
	protector.get_dashboard_stats(uuid, uuid),
	protector.get_weekly_bookings_trend(uuid, uuid, integer),
	protector.get_todays_bookings_by_hour(uuid, uuid, date),
	protector.get_upcoming_bookings(uuid, uuid, integer),
	protector.get_recent_booking_activity(uuid, integer),
	protector_internal.booking_buckets(uuid, uuid, timestamptz[]),
	protector_internal.dashboard_timezone(uuid, uuid),
	protector_internal.local_midnight(text, date),
	protector_internal.authorize_booking_list(uuid),
	protector_internal.open_service_seconds(uuid, uuid, timestamptz, timestamptz),
	protector_internal.recent_booking_ids(uuid, integer)
TO authenticated, service_role;
