\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/89_reports.sql: reports and their cache (docs/dashboards.md#reports).
--
-- Each generate_*_report is an API function (SECURITY INVOKER) over a
-- helper of protector_internal that runs as protector's owner, asks the
-- capability map about the request itself (authorize_requester) and reads
-- past RLS, as the other analytics do.  Their answers are cached in
-- protector_internal.reports_cache, keyed by report and parameters, and are
-- never stale: every statement that changes an organization's bookings,
-- payments, tasks, members, customers, venues, services or the
-- organization itself logs (organization, transaction) in
-- report_changes, and a cached answer counts only while no change is
-- logged that its snapshot could not see.  A read-only transaction (a GET
-- through PostgREST) computes without storing.

CREATE FUNCTION protector_internal.authorize_requester(p_organization_id uuid, p_action text,
														p_entity text DEFAULT 'organization')
RETURNS boolean
AS 'MODULE_PATHNAME', 'protector_authorize_requester'
LANGUAGE C STABLE;
COMMENT ON FUNCTION protector_internal.authorize_requester(uuid, text, text) IS
'authorize() for SECURITY DEFINER helpers: asks about the request''s role and JWT user, not the owner the helper runs as';

-- the changes that make cached reports stale ---------------------------------

CREATE TABLE protector_internal.report_changes (
	organization_id uuid NOT NULL,
	xid				xid8 NOT NULL DEFAULT pg_current_xact_id(),
	PRIMARY KEY (organization_id, xid)
);
ALTER TABLE protector_internal.report_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.report_changes FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.report_changes IS
'Which transactions changed an organization''s report data (bookings, payments, tasks, members); pruned as caches move on';

-- a statement about to write report_changes (log_report_change(), a
-- prune, a superuser) tells report_change(), which then probes the table
-- for the rest of the transaction instead of trusting what it logged
-- itself (src/report_changes.c); so it does while this trigger is not in
-- force
CREATE FUNCTION protector_internal.report_changes_written()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_report_changes_written'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.report_changes_written() IS
'Trigger, before each statement (C): a statement writes report_changes, so report_change() probes it for the rest of the transaction';
CREATE TRIGGER written BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON protector_internal.report_changes
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.report_changes_written();
-- (restores and imports under session_replication_role = replica too)
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER written;

CREATE FUNCTION protector_internal.log_report_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
		-- no rows to name: every organization's reports changed.  Logged
		-- (not a DELETE of the cache, which under REPEATABLE READ misses
		-- entries committed after the snapshot and cannot stop entries
		-- computed before this commits from being stored after it)
		INSERT INTO protector_internal.report_changes (organization_id)
		SELECT o.id FROM protector.organizations o
		ON CONFLICT DO NOTHING;
		RETURN NULL;
	END IF;
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'organizations' THEN
		-- (an organization's key is its id; a deleted one's caches go with it)
		IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
			INSERT INTO protector_internal.report_changes (organization_id)
			SELECT n.id FROM new_rows n
			ON CONFLICT DO NOTHING;
		ELSE
			DELETE FROM protector_internal.report_changes r
			WHERE r.organization_id OPERATOR(pg_catalog.=) ANY (SELECT x.id FROM old_rows x);
		END IF;
		RETURN NULL;
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		INSERT INTO protector_internal.report_changes (organization_id)
		SELECT DISTINCT o.organization_id FROM old_rows o
		ON CONFLICT DO NOTHING;
	ELSE
		INSERT INTO protector_internal.report_changes (organization_id)
		SELECT DISTINCT n.organization_id FROM new_rows n
		ON CONFLICT DO NOTHING;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.log_report_change() IS
'Trigger, per statement: logs which organizations'' report data the transaction changed';

-- a TRUNCATE of the log itself (a superuser's, or maintenance's) leaves
-- every entry of the cache without the changes after it: every
-- organization is logged again, in the truncating transaction (an attack
-- on maintenance: a report cached before a booking answered without it)
CREATE TRIGGER truncated AFTER TRUNCATE ON protector_internal.report_changes
	FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.log_report_change();
ALTER TABLE protector_internal.report_changes ENABLE ALWAYS TRIGGER truncated;

-- the same for the tables with an organization_id, in C (every booking
-- runs it): src/report_changes.c; it logs while restoring too
CREATE FUNCTION protector_internal.report_change()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_report_change'
LANGUAGE C;
COMMENT ON FUNCTION protector_internal.report_change() IS
'Trigger, per statement (C): logs which organizations'' report data the transaction changed';

DO $reports$
DECLARE
	t text;
	f text;
	w text;
BEGIN
	-- what the reports show: bookings, payments, tasks, members and
	-- customers, and the names and currency they print (venues, services,
	-- organizations)
	FOREACH t IN ARRAY ARRAY['bookings', 'payments', 'tasks', 'members', 'customers', 'venues', 'services', 'organizations'] LOOP
		-- an organization's own changes (its key is its id) stay PL/pgSQL;
		-- a restore logs too (a data-only restore into a live database
		-- changes reports)
		f := CASE WHEN t = 'organizations' THEN 'log_report_change' ELSE 'report_change' END;
		w := '';
		EXECUTE pg_catalog.format('CREATE TRIGGER zz_report_change_insert AFTER INSERT ON protector.%I'
			' REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT%s'
			' EXECUTE FUNCTION protector_internal.%I()', t, w, f);
		-- (report_change() reads the old rows too: a row may move to
		-- another organization, whose reports change as well)
		EXECUTE pg_catalog.format('CREATE TRIGGER zz_report_change_update AFTER UPDATE ON protector.%I'
			' REFERENCING %s NEW TABLE AS new_rows FOR EACH STATEMENT%s'
			' EXECUTE FUNCTION protector_internal.%I()', t,
			CASE WHEN t = 'organizations' THEN '' ELSE 'OLD TABLE AS old_rows' END, w, f);
		EXECUTE pg_catalog.format('CREATE TRIGGER zz_report_change_delete AFTER DELETE ON protector.%I'
			' REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT%s'
			' EXECUTE FUNCTION protector_internal.%I()', t, w, f);
		EXECUTE pg_catalog.format('CREATE TRIGGER zz_report_change_truncate AFTER TRUNCATE ON protector.%I'
			' FOR EACH STATEMENT EXECUTE FUNCTION protector_internal.log_report_change()', t);
		-- imports under session_replication_role = replica change reports too
		EXECUTE pg_catalog.format('ALTER TABLE protector.%I ENABLE ALWAYS TRIGGER zz_report_change_insert', t);
		EXECUTE pg_catalog.format('ALTER TABLE protector.%I ENABLE ALWAYS TRIGGER zz_report_change_update', t);
		EXECUTE pg_catalog.format('ALTER TABLE protector.%I ENABLE ALWAYS TRIGGER zz_report_change_delete', t);
		EXECUTE pg_catalog.format('ALTER TABLE protector.%I ENABLE ALWAYS TRIGGER zz_report_change_truncate', t);
	END LOOP;
END
$reports$;

-- the cache ---------------------------------------------------------------------

CREATE TABLE protector_internal.reports_cache (
	organization_id uuid NOT NULL REFERENCES protector.organizations (id) ON DELETE CASCADE,
	report			text NOT NULL,
	params			jsonb NOT NULL,
	snapshot		pg_snapshot NOT NULL,
	computed_at		timestamptz NOT NULL DEFAULT now(),
	rows			jsonb NOT NULL,
	PRIMARY KEY (organization_id, report, params)
);
ALTER TABLE protector_internal.reports_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.reports_cache FORCE ROW LEVEL SECURITY;
-- How far an organization's change log has been pruned: a cache entry
-- whose snapshot is older than that may have missed a change no longer
-- logged, and is not stored.
CREATE TABLE protector_internal.report_prunes (
	organization_id uuid PRIMARY KEY REFERENCES protector.organizations (id) ON DELETE CASCADE,
	below			xid8 NOT NULL,
	-- when it was last pruned: the sweep takes the longest waiting first
	pruned_at		timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE protector_internal.report_prunes ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.report_prunes FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.report_prunes IS
'Per organization: report_changes rows below this transaction id have been pruned';
SELECT pg_catalog.pg_extension_config_dump('protector_internal.report_prunes', 'WHERE false');

-- registered, but dumped empty: snapshots mean nothing in another cluster,
-- and a restored database computes its reports afresh
SELECT pg_catalog.pg_extension_config_dump('protector_internal.report_changes', 'WHERE false');
SELECT pg_catalog.pg_extension_config_dump('protector_internal.reports_cache', 'WHERE false');
COMMENT ON TABLE protector_internal.reports_cache IS
'Computed reports by organization, report and parameters, with the snapshot they saw; valid while no change they could not see is logged';

-- Whether a cache entry can still answer: computed today (UTC; older
-- entries are evicted), and no change it could not see is logged for its
-- organization since.  The one statement of the rule: cached_report
-- answers from entries it holds, prune_report_log evicts the others.
-- PL/pgSQL: it keeps its plan for the session, where a SQL function with
-- a SET clause is planned again in every query that calls it.
CREATE FUNCTION protector_internal.report_entry_current(p_organization_id uuid, p_snapshot pg_snapshot,
													  p_computed_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN p_computed_at OPERATOR(pg_catalog.>=) pg_catalog.date_trunc('day', pg_catalog.now(), 'UTC')
		   AND NOT EXISTS (SELECT FROM protector_internal.report_changes x
						   WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id
							 AND x.xid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin(p_snapshot)
							 AND NOT pg_catalog.pg_visible_in_snapshot(x.xid, p_snapshot));
END
$$;
COMMENT ON FUNCTION protector_internal.report_entry_current(uuid, pg_snapshot, timestamptz) IS
'Whether a cached report computed at p_computed_at under p_snapshot still answers: today''s, and no change it could not see is logged';

-- Prunes one organization's cache and change log; its caller holds the
-- organization's lock.  Entries that can no longer answer go first
-- (expired, or a change they could not see is logged), and all but the
-- newest 100; then changes every remaining entry (and every snapshot
-- still running) sees are history; the watermark it raises makes
-- cached_report refuse a later entry older than that.  An organization
-- deleted meanwhile gets no watermark (its rows are gone with it).
CREATE FUNCTION protector_internal.prune_report_log(p_organization_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_below xid8;
BEGIN
	DELETE FROM protector_internal.reports_cache c
	WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id
	  AND NOT protector_internal.report_entry_current(p_organization_id, c.snapshot, c.computed_at);
	DELETE FROM protector_internal.reports_cache c
	WHERE c.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(
		SELECT k.ctid FROM protector_internal.reports_cache k
		WHERE k.organization_id OPERATOR(pg_catalog.=) p_organization_id
		ORDER BY k.computed_at DESC OFFSET 100));
	SELECT LEAST(pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()),
				 (SELECT pg_catalog.pg_snapshot_xmin(c.snapshot) FROM protector_internal.reports_cache c
				  WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id
				  ORDER BY pg_catalog.pg_snapshot_xmin(c.snapshot) LIMIT 1))
	INTO v_below;
	DELETE FROM protector_internal.report_changes x
	WHERE x.organization_id OPERATOR(pg_catalog.=) p_organization_id AND x.xid OPERATOR(pg_catalog.<) v_below;
	INSERT INTO protector_internal.report_prunes (organization_id, below)
	SELECT p_organization_id, v_below
	WHERE EXISTS (SELECT FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) p_organization_id)
	ON CONFLICT (organization_id) DO UPDATE SET below = GREATEST(report_prunes.below, EXCLUDED.below),
												pruned_at = EXCLUDED.pruned_at;
END
$$;
COMMENT ON FUNCTION protector_internal.prune_report_log(uuid) IS
'Evicts one organization''s cached reports that cannot answer (and all but the newest 100), then prunes its change log up to what every entry and running snapshot sees (caller holds its lock)';

-- A report's rows: from the cache if nothing has changed since (and it
-- was computed today, UTC: older entries are evicted), else computed and
-- stored.  What is cached depends on the data only, never on the clock
-- (the customer report's RFM segments, which count days up to now, are
-- added by generate_customer_report each call).
CREATE FUNCTION protector_internal.cached_report(p_organization_id uuid, p_report text, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_rows jsonb;
	v_snapshot pg_snapshot;
	v_unknown text;
BEGIN
	-- this runs as the owner: it asks the map about the request itself
	IF p_report IS NULL OR p_report OPERATOR(pg_catalog.<>) ALL ('{revenue,bookings,customers,staff}') THEN
		PERFORM protector.raise('invalid_parameter', 'p_report must be revenue, bookings, customers or staff');
	END IF;
	PERFORM protector_internal.authorize_requester(p_organization_id,
		CASE p_report WHEN 'staff' THEN 'staff.performance' ELSE 'analytics.aggregate' END);
	-- the parameters each report takes, no others: one cache entry per question
	IF p_params IS NULL OR pg_catalog.jsonb_typeof(p_params) OPERATOR(pg_catalog.<>) 'object' THEN
		PERFORM protector.raise('invalid_parameter', 'p_params must be a JSON object');
	END IF;
	SELECT k INTO v_unknown FROM pg_catalog.jsonb_object_keys(p_params) k
	WHERE k OPERATOR(pg_catalog.<>) ALL (CASE p_report WHEN 'revenue' THEN '{from,to,venue_id,group_by}'::text[]
														WHEN 'bookings' THEN '{from,to,venue_id}'
														ELSE '{from,to}' END)
	LIMIT 1;
	IF FOUND THEN
		PERFORM protector.raise('invalid_parameter',
			pg_catalog.format('p_params.%s is not a parameter of the %s report', pg_catalog.left(v_unknown, 100), p_report));
	END IF;
	-- one key per question: dates and the venue in their canonical text
	-- ('today' and '2026-1-1' are dates of some session; the key is the date)
	-- (a null is the parameter left out)
	p_params := pg_catalog.jsonb_strip_nulls(p_params) OPERATOR(pg_catalog.||) pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
		'from', (p_params OPERATOR(pg_catalog.->>) 'from')::pg_catalog.date,
		'to', (p_params OPERATOR(pg_catalog.->>) 'to')::pg_catalog.date,
		'venue_id', (p_params OPERATOR(pg_catalog.->>) 'venue_id')::pg_catalog.uuid));
	SELECT c.rows INTO v_rows FROM protector_internal.reports_cache c
	WHERE c.organization_id OPERATOR(pg_catalog.=) p_organization_id AND c.report OPERATOR(pg_catalog.=) p_report
	  AND c.params OPERATOR(pg_catalog.=) p_params
	  AND protector_internal.report_entry_current(p_organization_id, c.snapshot, c.computed_at);
	IF FOUND THEN
		RETURN v_rows;
	END IF;
	-- the snapshot before computing: a change it cannot see may or may not
	-- be in the rows, so it invalidates them
	v_snapshot := pg_catalog.pg_current_snapshot();
	v_rows := CASE p_report
		WHEN 'revenue' THEN protector_internal.revenue_report(p_organization_id, p_params)
		WHEN 'bookings' THEN protector_internal.booking_report(p_organization_id, p_params)
		WHEN 'customers' THEN protector_internal.customer_report(p_organization_id, p_params)
		WHEN 'staff' THEN protector_internal.staff_report(p_organization_id, p_params) END;
	-- Stored only by a READ COMMITTED transaction (storing and pruning
	-- under a transaction snapshot would fail with 40001 beside a
	-- concurrent store) that has written nothing yet (its own later writes
	-- would log a change its snapshot counts as seen), one transaction per
	-- organization at a time (a lock held to commit; when another holds
	-- it, the rows are answered unstored rather than waiting), and only if
	-- no change it may have missed has been pruned meanwhile.
	IF pg_catalog.current_setting('transaction_read_only') OPERATOR(pg_catalog.=) 'off'
	   AND pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.=) 'read committed'
	   AND pg_catalog.pg_current_xact_id_if_assigned() IS NULL
	   AND pg_catalog.pg_try_advisory_xact_lock(protector_internal.lock_key(1886547717, p_organization_id)) THEN
		IF NOT EXISTS (SELECT FROM protector_internal.report_prunes p
					   WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id
						 AND p.below OPERATOR(pg_catalog.>) pg_catalog.pg_snapshot_xmin(v_snapshot)) THEN
			-- (the organization deleted while the report was computed: its
			-- foreign key answered a bare 23503)
			BEGIN
				INSERT INTO protector_internal.reports_cache (organization_id, report, params, snapshot, rows)
				VALUES (p_organization_id, p_report, p_params, v_snapshot, v_rows)
				ON CONFLICT (organization_id, report, params)
				DO UPDATE SET snapshot = EXCLUDED.snapshot, computed_at = EXCLUDED.computed_at, rows = EXCLUDED.rows;
			EXCEPTION WHEN foreign_key_violation THEN
				PERFORM protector_internal.refuse_deleted_organization(p_organization_id);
				RAISE;
			END;
			PERFORM protector_internal.prune_report_log(p_organization_id);
		END IF;
	END IF;
	RETURN v_rows;
END
$$;
COMMENT ON FUNCTION protector_internal.cached_report(uuid, text, jsonb) IS
'A report''s rows from the cache while nothing it could not see has changed, else computed and stored';

-- The change log of organizations whose reports nobody reads would grow
-- without end: the scheduled sweep (expire_holds) prunes up to p_limit
-- organizations' logs, each under its lock and with its watermark, as
-- cached_report does (an organization whose lock is busy is left for the
-- next sweep).
CREATE FUNCTION protector_internal.prune_report_changes(p_limit integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_org uuid;
	v_pruned integer := 0;
BEGIN
	PERFORM protector_internal.check_integer(p_limit, 'p_limit', 0, 1000000);
	-- (under a transaction snapshot a concurrent store makes it fail: the next sweep does it)
	IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
		RETURN 0;
	END IF;
	-- (the longest waiting first, since their last prune or, never
	-- pruned, since they were made: in no order, the same organizations
	-- came first every sweep, and past p_limit the logs of the others
	-- grew without end, an attack on growth; those never pruned put
	-- first, a stream of new organizations did the same, its review)
	FOR v_org IN
		SELECT x.organization_id
		FROM (SELECT DISTINCT c.organization_id FROM protector_internal.report_changes c
			  WHERE c.xid OPERATOR(pg_catalog.<) pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())) x
		LEFT JOIN protector_internal.report_prunes p ON p.organization_id OPERATOR(pg_catalog.=) x.organization_id
		LEFT JOIN protector.organizations o ON o.id OPERATOR(pg_catalog.=) x.organization_id
		ORDER BY COALESCE(p.pruned_at, o.created_at) NULLS FIRST, x.organization_id
		LIMIT p_limit
	LOOP
		CONTINUE WHEN NOT pg_catalog.pg_try_advisory_xact_lock(protector_internal.lock_key(1886547717, v_org));
		PERFORM protector_internal.prune_report_log(v_org);
		v_pruned := v_pruned OPERATOR(pg_catalog.+) 1;
	END LOOP;
	RETURN v_pruned;
END
$$;
COMMENT ON FUNCTION protector_internal.prune_report_changes(integer) IS
'Prunes the report change log of up to p_limit organizations (for the scheduled sweep); returns how many';

-- the reports ---------------------------------------------------------------------

-- The local range [p_from, p_to] of a report in its time zone, checked.
CREATE FUNCTION protector_internal.report_range(p_organization_id uuid, p_venue_id uuid, p_from date, p_to date,
												OUT tz text, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_from IS NOT NULL AND p_to IS NOT NULL THEN
		PERFORM protector_internal.check_date_range(p_from, p_to, '0001-01-02', '9999-12-30');
	END IF;
	IF p_from IS NULL OR p_to IS NULL
	   OR p_to OPERATOR(pg_catalog.<) p_from OR p_to OPERATOR(pg_catalog.-) p_from OPERATOR(pg_catalog.>) 1100 THEN
		PERFORM protector.raise('invalid_parameter', 'p_from to p_to must be a range of at most 1101 days between 0001-01-02 and 9999-12-30',
			pg_catalog.format('Got %s to %s.', protector_internal.iso_text(p_from), protector_internal.iso_text(p_to)));
	END IF;
	tz := protector_internal.dashboard_timezone(p_organization_id, p_venue_id);
	lo := protector_internal.local_midnight(tz, p_from);
	hi := protector_internal.local_midnight(tz, p_to OPERATOR(pg_catalog.+) 1);
END
$$;
COMMENT ON FUNCTION protector_internal.report_range(uuid, uuid, date, date) IS
'A report''s local date range as times in its time zone (22023 for a bad range)';

CREATE FUNCTION protector_internal.revenue_report(p_organization_id uuid, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_venue uuid := (p_params ->> 'venue_id')::uuid;
	v_group text := p_params ->> 'group_by';
	r record;
	v_rows jsonb;
BEGIN
	IF v_group IS NULL OR v_group OPERATOR(pg_catalog.<>) ALL ('{day,week,month}') THEN
		PERFORM protector.raise('invalid_parameter', 'group_by must be day, week or month');
	END IF;
	SELECT * INTO r FROM protector_internal.report_range(p_organization_id, v_venue, (p_params ->> 'from')::date,
														  (p_params ->> 'to')::date);
	-- the organization's payments in the range, summed per period, venue
	-- and service first; names joined to those few rows after
	SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.period_start, x.venue, x.service), '[]')
	INTO v_rows
	FROM (SELECT g.period_start, g.venue_id, v.name AS venue, g.service_id, s.name AS service,
				 g.payments, g.refunds, g.revenue, g.currency
		  FROM (SELECT (pg_catalog.date_trunc(v_group, protector_internal.local_time(r.tz, p.created_at)))::date AS period_start,
					   b.venue_id, b.service_id, o.currency,
					   COALESCE(pg_catalog.sum(p.amount) FILTER (WHERE p.kind OPERATOR(pg_catalog.=) 'payment'), 0) AS payments,
					   COALESCE(pg_catalog.sum(p.amount) FILTER (WHERE p.kind OPERATOR(pg_catalog.=) 'refund'), 0) AS refunds,
					   COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount
													ELSE OPERATOR(pg_catalog.-) p.amount END), 0) AS revenue
				FROM protector.organizations o
				JOIN protector.payments p ON p.organization_id OPERATOR(pg_catalog.=) o.id
				-- each payment's booking by its key (OFFSET 0: not a join that
				-- might read every booking of the table)
				CROSS JOIN LATERAL (SELECT y.venue_id, y.service_id FROM protector.bookings y
									WHERE y.organization_id OPERATOR(pg_catalog.=) p.organization_id
									  AND y.id OPERATOR(pg_catalog.=) p.booking_id OFFSET 0) b
				WHERE o.id OPERATOR(pg_catalog.=) p_organization_id AND p.status OPERATOR(pg_catalog.=) 'succeeded'
				  AND p.currency OPERATOR(pg_catalog.=) o.currency
				  AND p.created_at OPERATOR(pg_catalog.>=) r.lo AND p.created_at OPERATOR(pg_catalog.<) r.hi
				  AND (v_venue IS NULL OR b.venue_id OPERATOR(pg_catalog.=) v_venue)
				GROUP BY 1, b.venue_id, b.service_id, o.currency) g
		  JOIN protector.venues v ON v.organization_id OPERATOR(pg_catalog.=) p_organization_id AND v.id OPERATOR(pg_catalog.=) g.venue_id
		  JOIN protector.services s ON s.organization_id OPERATOR(pg_catalog.=) p_organization_id
								   AND s.id OPERATOR(pg_catalog.=) g.service_id) x;
	RETURN v_rows;
END
$$;
COMMENT ON FUNCTION protector_internal.revenue_report(uuid, jsonb) IS
'Revenue (succeeded payments less refunds, organization currency) per local day/week/month, venue and service';

CREATE FUNCTION protector_internal.booking_report(p_organization_id uuid, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_venue uuid := (p_params ->> 'venue_id')::uuid;
	r record;
	v_rows jsonb;
BEGIN
	SELECT * INTO r FROM protector_internal.report_range(p_organization_id, v_venue, (p_params ->> 'from')::date,
														  (p_params ->> 'to')::date);
	SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.status, x.source, x.service), '[]')
	INTO v_rows
	FROM (SELECT b.status, b.source, b.service_id, s.name AS service, pg_catalog.count(*) AS bookings,
				 COALESCE(pg_catalog.sum(b.party_size), 0) AS guests,
				 COALESCE(pg_catalog.sum(b.total_price) FILTER (WHERE b.currency OPERATOR(pg_catalog.=) o.currency), 0) AS booked_value
		  FROM protector.bookings b
		  JOIN protector.organizations o ON o.id OPERATOR(pg_catalog.=) b.organization_id
		  JOIN protector.services s ON s.organization_id OPERATOR(pg_catalog.=) b.organization_id AND s.id OPERATOR(pg_catalog.=) b.service_id
		  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
			AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) r.lo AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) r.hi
			AND (v_venue IS NULL OR b.venue_id OPERATOR(pg_catalog.=) v_venue)
			-- (a hold cancelled, lapsed or by hand, was never a booking:
			-- it keeps its hold_expires_at)
			AND NOT (b.status OPERATOR(pg_catalog.=) 'cancelled' AND b.hold_expires_at IS NOT NULL)
		  GROUP BY b.status, b.source, b.service_id, s.name) x;
	RETURN v_rows;
END
$$;
COMMENT ON FUNCTION protector_internal.booking_report(uuid, jsonb) IS
'Bookings starting in a local date range by status, source and service: count, guests, booked value';

CREATE FUNCTION protector_internal.customer_report(p_organization_id uuid, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	v_rows jsonb;
BEGIN
	SELECT * INTO r FROM protector_internal.report_range(p_organization_id, NULL, (p_params ->> 'from')::date,
														  (p_params ->> 'to')::date);
	WITH q AS (		-- qualifying bookings: not held, not cancelled
		SELECT b.customer_id, pg_catalog.lower(b.during) AS at FROM protector.bookings b
		WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id AND b.customer_id IS NOT NULL
		  AND b.status OPERATOR(pg_catalog.<>) ALL ('{held,cancelled}'::protector.booking_status[])
		  AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) r.hi),
	c AS (SELECT q.customer_id, pg_catalog.min(q.at) AS first_at,
				 pg_catalog.bool_or(q.at OPERATOR(pg_catalog.>=) r.lo) AS in_range
		  FROM q GROUP BY q.customer_id)
	SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('category', x.category, 'label', x.label, 'customers', x.customers)
								ORDER BY x.n)
	INTO v_rows
	FROM (SELECT 1 AS n, 'new' AS category, 'New customers' AS label,
				 pg_catalog.count(*) FILTER (WHERE c.in_range AND c.first_at OPERATOR(pg_catalog.>=) r.lo) AS customers FROM c
		  UNION ALL
		  SELECT 2, 'returning', 'Returning customers',
				 pg_catalog.count(*) FILTER (WHERE c.in_range AND c.first_at OPERATOR(pg_catalog.<) r.lo) FROM c) x;
	RETURN v_rows;
END
$$;
COMMENT ON FUNCTION protector_internal.customer_report(uuid, jsonb) IS
'Customers with bookings in a local date range: new (first booking in it) and returning (the cached part of the customer report)';

CREATE FUNCTION protector_internal.staff_report(p_organization_id uuid, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	v_rows jsonb;
BEGIN
	SELECT * INTO r FROM protector_internal.report_range(p_organization_id, NULL, (p_params ->> 'from')::date,
														  (p_params ->> 'to')::date);
	-- (each table read once for the range and grouped by member: read
	-- per member, a year of a tenant with 200 members took 10 s)
	SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.full_name, x.user_id), '[]')
	INTO v_rows
	FROM (WITH bk AS (
			  SELECT COALESCE(b.assigned_agent, b.created_by) AS user_id, pg_catalog.count(*) AS n
			  FROM protector.bookings b
			  WHERE b.organization_id OPERATOR(pg_catalog.=) p_organization_id
				AND b.status OPERATOR(pg_catalog.<>) 'held'
				AND NOT (b.status OPERATOR(pg_catalog.=) 'cancelled' AND b.hold_expires_at IS NOT NULL)
				AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.>=) r.lo
				AND protector_internal.booking_start(b.during) OPERATOR(pg_catalog.<) r.hi
			  GROUP BY 1),
		  pay AS (
			  SELECT p.created_by AS user_id,
					 pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount
										 ELSE OPERATOR(pg_catalog.-) p.amount END) AS total
			  FROM protector.payments p JOIN protector.organizations o ON o.id OPERATOR(pg_catalog.=) p.organization_id
			  WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id
				AND p.status OPERATOR(pg_catalog.=) 'succeeded' AND p.currency OPERATOR(pg_catalog.=) o.currency
				AND p.created_at OPERATOR(pg_catalog.>=) r.lo AND p.created_at OPERATOR(pg_catalog.<) r.hi
			  GROUP BY 1),
		  tk AS (
			  SELECT t.assignee AS user_id, pg_catalog.count(*) AS n
			  FROM protector.tasks t
			  WHERE t.organization_id OPERATOR(pg_catalog.=) p_organization_id AND t.status OPERATOR(pg_catalog.=) 'done'
				AND t.completed_at OPERATOR(pg_catalog.>=) r.lo AND t.completed_at OPERATOR(pg_catalog.<) r.hi
			  GROUP BY 1)
		  SELECT m.user_id, m.full_name, m.role, COALESCE(bk.n, 0) AS bookings_handled,
				 COALESCE(pay.total, 0) AS revenue, COALESCE(tk.n, 0) AS tasks_done
		  FROM protector.members m
		  LEFT JOIN bk ON bk.user_id OPERATOR(pg_catalog.=) m.user_id
		  LEFT JOIN pay ON pay.user_id OPERATOR(pg_catalog.=) m.user_id
		  LEFT JOIN tk ON tk.user_id OPERATOR(pg_catalog.=) m.user_id
		  WHERE m.organization_id OPERATOR(pg_catalog.=) p_organization_id) x;
	RETURN v_rows;
END
$$;
COMMENT ON FUNCTION protector_internal.staff_report(uuid, jsonb) IS
'Per member, over a local date range: bookings handled (assigned, else created), revenue recorded, tasks done';

CREATE FUNCTION protector.generate_revenue_report(p_organization_id uuid, p_from date, p_to date,
												   p_venue_id uuid DEFAULT NULL, p_group_by text DEFAULT 'day')
RETURNS TABLE (period_start date, venue_id uuid, venue text, service_id uuid, service text,
			   payments numeric, refunds numeric, revenue numeric, currency text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	IF p_group_by IS NULL OR p_group_by OPERATOR(pg_catalog.<>) ALL ('{day,week,month}') THEN
		PERFORM protector.raise('invalid_parameter', 'p_group_by must be day, week or month',
			pg_catalog.format('Got %s.', COALESCE(protector_internal.quoted_text(pg_catalog.quote_literal(p_group_by), 100), 'NULL')));
	END IF;
	PERFORM protector_internal.report_range(p_organization_id, p_venue_id, p_from, p_to);
	RETURN QUERY
	SELECT * FROM pg_catalog.jsonb_to_recordset(protector_internal.cached_report(p_organization_id, 'revenue',
		pg_catalog.jsonb_build_object('from', p_from, 'to', p_to, 'venue_id', p_venue_id, 'group_by', p_group_by)))
		AS x(period_start date, venue_id uuid, venue text, service_id uuid, service text,
			 payments numeric, refunds numeric, revenue numeric, currency text);
END
$$;
COMMENT ON FUNCTION protector.generate_revenue_report(uuid, date, date, uuid, text) IS
'Revenue per local day, week or month, venue and service over [p_from, p_to] (aggregates; cached, never stale)';

CREATE FUNCTION protector.generate_booking_report(p_organization_id uuid, p_from date, p_to date,
												   p_venue_id uuid DEFAULT NULL)
RETURNS TABLE (status protector.booking_status, source protector.booking_source, service_id uuid, service text,
			   bookings bigint, guests bigint, booked_value numeric)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	PERFORM protector_internal.report_range(p_organization_id, p_venue_id, p_from, p_to);
	RETURN QUERY
	SELECT * FROM pg_catalog.jsonb_to_recordset(protector_internal.cached_report(p_organization_id, 'bookings',
		pg_catalog.jsonb_build_object('from', p_from, 'to', p_to, 'venue_id', p_venue_id)))
		AS x(status protector.booking_status, source protector.booking_source, service_id uuid, service text,
			 bookings bigint, guests bigint, booked_value numeric);
END
$$;
COMMENT ON FUNCTION protector.generate_booking_report(uuid, date, date, uuid) IS
'Bookings starting in [p_from, p_to] (local) by status, source and service (aggregates; cached, never stale)';

CREATE FUNCTION protector.generate_customer_report(p_organization_id uuid, p_from date, p_to date)
RETURNS TABLE (category text, label text, customers bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'analytics.aggregate');
	PERFORM protector_internal.report_range(p_organization_id, NULL, p_from, p_to);
	RETURN QUERY
	SELECT * FROM pg_catalog.jsonb_to_recordset(protector_internal.cached_report(p_organization_id, 'customers',
		pg_catalog.jsonb_build_object('from', p_from, 'to', p_to)))
		AS x(category text, label text, customers bigint);
	-- the segments as of now, every call: they move with the clock (a
	-- booking's start passing, a customer's days since the last one)
	RETURN QUERY
	SELECT 'segment'::text, g.segment, g.customers FROM protector.get_customer_segments(p_organization_id) g;
END
$$;
COMMENT ON FUNCTION protector.generate_customer_report(uuid, date, date) IS
'Customers booking in [p_from, p_to] (local): new and returning, and the RFM segment counts (aggregates; cached)';

CREATE FUNCTION protector.generate_staff_report(p_organization_id uuid, p_from date, p_to date)
RETURNS TABLE (user_id uuid, full_name text, role protector.member_role, bookings_handled bigint, revenue numeric,
			   tasks_done bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- each member's figures: staff performance, as get_staff_performance
	-- (a missing organization is bad input, not one the caller may not see)
	IF p_organization_id IS NULL THEN
		PERFORM protector.raise('invalid_parameter', 'p_organization_id must not be null');
	END IF;
	PERFORM protector_internal.authorize(p_organization_id, 'staff.performance');
	PERFORM protector_internal.report_range(p_organization_id, NULL, p_from, p_to);
	RETURN QUERY
	SELECT * FROM pg_catalog.jsonb_to_recordset(protector_internal.cached_report(p_organization_id, 'staff',
		pg_catalog.jsonb_build_object('from', p_from, 'to', p_to)))
		AS x(user_id uuid, full_name text, role protector.member_role, bookings_handled bigint, revenue numeric,
			 tasks_done bigint);
END
$$;
COMMENT ON FUNCTION protector.generate_staff_report(uuid, date, date) IS
'Per member over [p_from, p_to] (local): bookings handled, revenue recorded, tasks done (staff performance; cached)';

GRANT EXECUTE ON FUNCTION protector_internal.prune_report_changes(integer) TO service_role;
GRANT EXECUTE ON FUNCTION
	protector.generate_revenue_report(uuid, date, date, uuid, text),
	protector.generate_booking_report(uuid, date, date, uuid),
	protector.generate_customer_report(uuid, date, date),
	protector.generate_staff_report(uuid, date, date),
	protector_internal.report_range(uuid, uuid, date, date),
	protector_internal.cached_report(uuid, text, jsonb)
TO authenticated, service_role;

-- Export ---------------------------------------------------------------------------

-- The bookings of a local date range with a fixed column list, for
-- PostgREST's text/csv (Accept: text/csv, supabase-js .csv()) and for
-- protector.csv_agg; read as the caller under RLS (personal data: the desk
-- and finance, an agent their own).
CREATE FUNCTION protector.export_bookings(p_organization_id uuid, p_from date, p_to date, p_venue_id uuid DEFAULT NULL)
RETURNS TABLE (booking_id uuid, status protector.booking_status, source protector.booking_source, venue text, service text,
			   starts_at timestamptz, ends_at timestamptz, local_start timestamp, local_end timestamp, timezone text,
			   party_size integer, customer_name text, customer_email text, customer_phone text, currency text,
			   total_price numeric, discount_amount numeric, amount_paid numeric, balance_due numeric,
			   created_at timestamptz, cancelled_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
SET enable_indexscan = off
AS $$
DECLARE
	r record;
BEGIN
	PERFORM protector_internal.authorize_booking_list(p_organization_id);
	SELECT * INTO r FROM protector_internal.report_range(p_organization_id, p_venue_id, p_from, p_to);
	-- the bookings by (organization, start) with their customers first
	-- (OFFSET 0 keeps that part whole: its row estimate is right, so the
	-- customers are hashed); then the service and venue of each, read
	-- once for the organization (MATERIALIZED: a booking's service names
	-- its venue).  Joined to venues and services first, the bookings were
	-- estimated at 1/n of the organization's (n = venues in the table) and
	-- the customers were scanned once per booking: twice the time next to
	-- other tenants; joined to each as a table, the estimate of 1/n chose
	-- two hash probes per booking.  Each call is planned for its own
	-- organization and dates (force_custom_plan above: the generic plan,
	-- reused from the sixth call on, estimated two bookings and looked up
	-- each one's customer, 2.5x slower next to other tenants), and reads
	-- the bookings by bitmap (enable_indexscan off: the result is sorted
	-- anyway; in index order every booking cost a heap page visit when
	-- the organization's bookings were stored together).  Both settings
	-- hold for the whole call, report_range and the policies' lookups
	-- included: bitmap and index-only scans serve those as well.
	RETURN QUERY
	WITH sv AS MATERIALIZED (
		SELECT s.id, s.venue_id, s.name AS service, v.name AS venue, v.timezone
		FROM protector.services s
		JOIN protector.venues v ON v.organization_id OPERATOR(pg_catalog.=) s.organization_id AND v.id OPERATOR(pg_catalog.=) s.venue_id
		WHERE s.organization_id OPERATOR(pg_catalog.=) p_organization_id)
	SELECT b.id, b.status, b.source, sv.venue, sv.service, pg_catalog.lower(b.during), pg_catalog.upper(b.during),
		   protector_internal.local_time(sv.timezone, pg_catalog.lower(b.during)),
		   protector_internal.local_time(sv.timezone, pg_catalog.upper(b.during)),
		   sv.timezone, b.party_size, b.customer_name, b.customer_email, b.customer_phone, b.currency, b.total_price, b.discount_amount,
		   b.amount_paid, b.balance_due, b.created_at, b.cancelled_at
	FROM (SELECT y.*, c.full_name AS customer_name, c.email AS customer_email, c.phone AS customer_phone
		  FROM protector.bookings y
		  LEFT JOIN protector.customers c ON c.organization_id OPERATOR(pg_catalog.=) p_organization_id
										  AND c.id OPERATOR(pg_catalog.=) y.customer_id
		  WHERE y.organization_id OPERATOR(pg_catalog.=) p_organization_id
			AND protector_internal.booking_start(y.during) OPERATOR(pg_catalog.>=) r.lo AND protector_internal.booking_start(y.during) OPERATOR(pg_catalog.<) r.hi
			AND (p_venue_id IS NULL OR y.venue_id OPERATOR(pg_catalog.=) p_venue_id)
			-- (not a hold that lapsed or was abandoned: no booking, as in
			-- the reports; its row read as a cancellation.  One that took
			-- money stays: the revenue report counts its payments, those
			-- that succeeded, not a card refused at checkout)
			AND NOT (y.status OPERATOR(pg_catalog.=) 'cancelled' AND y.hold_expires_at IS NOT NULL
					 AND NOT EXISTS (SELECT FROM protector.payments p
									 WHERE p.organization_id OPERATOR(pg_catalog.=) p_organization_id
									   AND p.booking_id OPERATOR(pg_catalog.=) y.id
									   AND p.status OPERATOR(pg_catalog.=) 'succeeded'))
		  OFFSET 0) b
	JOIN sv ON sv.id OPERATOR(pg_catalog.=) b.service_id AND sv.venue_id OPERATOR(pg_catalog.=) b.venue_id
	ORDER BY pg_catalog.lower(b.during), b.id;
END
$$;
COMMENT ON FUNCTION protector.export_bookings(uuid, date, date, uuid) IS
'The bookings starting in [p_from, p_to] (local), a fixed column list for CSV export; as the caller may see them';

GRANT EXECUTE ON FUNCTION protector.export_bookings(uuid, date, date, uuid), protector_internal.authorize_booking_list(uuid)
TO authenticated, service_role;

-- CSV through PostgREST 12's media type handlers: the domain names the
-- media type, the aggregate writes the document (src/csv.c).
CREATE DOMAIN protector."text/csv" AS text;
COMMENT ON DOMAIN protector."text/csv" IS
'CSV (RFC 4180), the media type PostgREST answers Accept: text/csv with when an aggregate returns it';

CREATE FUNCTION protector_internal.csv_agg_transfn(internal, anyelement)
RETURNS internal
AS 'MODULE_PATHNAME', 'protector_csv_agg_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.csv_agg_transfn(internal, anyelement) IS
'csv_agg: appends a row as a CSV record (the header first)';

CREATE FUNCTION protector_internal.csv_agg_finalfn(internal)
RETURNS protector."text/csv"
AS 'MODULE_PATHNAME', 'protector_csv_agg_finalfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector_internal.csv_agg_finalfn(internal) IS
'csv_agg: the document, handed over without a copy';

CREATE AGGREGATE protector.csv_agg(anyelement) (
	SFUNC = protector_internal.csv_agg_transfn,
	STYPE = internal,
	FINALFUNC = protector_internal.csv_agg_finalfn,
	FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE protector.csv_agg(anyelement) IS
'Rows as one RFC 4180 CSV document with a header row; text fields starting with = + - @ tab or CR are prefixed with a quote';

GRANT EXECUTE ON FUNCTION protector.csv_agg(anyelement), protector_internal.csv_agg_transfn(internal, anyelement),
	protector_internal.csv_agg_finalfn(internal)
TO authenticated, service_role;
GRANT USAGE ON DOMAIN protector."text/csv" TO authenticated, service_role;
