\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/69_analytics.sql: customer intelligence.  RFM scores and segments
-- are computed in C (src/analytics.c); lifetime value here.  See
-- docs/analytics.md for every definition.

CREATE FUNCTION protector.rfm_segment(p_r integer, p_f integer, p_m integer)
RETURNS text
AS 'MODULE_PATHNAME', 'protector_rfm_segment'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protector.rfm_segment(integer, integer, integer) IS
'The RFM segment of scores (1-5 each), by R and the average of F and M (docs/analytics.md)';

-- Every customer of an organization with measures, scores and segment:
-- individual data for the desk and management (analytics.customer).  The
-- C function asks the capability map, then reads past RLS: monetary value
-- comes from payments an operator may not read.
CREATE FUNCTION protector.get_customer_rfm_scores(p_organization_id uuid)
RETURNS TABLE (customer_id uuid, recency_days integer, frequency bigint, monetary numeric,
			   r integer, f integer, m integer, segment text)
AS 'MODULE_PATHNAME', 'protector_customer_rfm'
LANGUAGE C STABLE;
COMMENT ON FUNCTION protector.get_customer_rfm_scores(uuid) IS
'RFM measures, quintile scores and segment of every customer of an organization (desk and management)';

CREATE FUNCTION protector.get_customer_rfm_score(p_customer_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c protector.customers;
	v jsonb;
BEGIN
	PERFORM protector_internal.authorize_row('protector.customers', p_customer_id, 'analytics.customer', 'customer');
	SELECT * INTO c FROM protector.customers WHERE id = p_customer_id;
	IF c.merged_into IS NOT NULL THEN
		PERFORM protector.raise('invalid_parameter', 'this customer was merged into another',
			format('Ask for customer %s instead.', c.merged_into));
	END IF;
	SELECT jsonb_build_object('customer_id', x.customer_id, 'recency_days', x.recency_days,
							  'frequency', x.frequency, 'monetary', x.monetary,
							  'currency', (SELECT o.currency FROM protector.organizations o WHERE o.id = c.organization_id),
							  'r', x.r, 'f', x.f, 'm', x.m,
							  'fm', CASE WHEN x.f IS NOT NULL THEN round((x.f + x.m) / 2.0, 1) END,
							  'segment', x.segment)
	INTO v
	FROM protector.get_customer_rfm_scores(c.organization_id) x
	WHERE x.customer_id = c.id;
	RETURN v;
END
$$;
COMMENT ON FUNCTION protector.get_customer_rfm_score(uuid) IS
'Recency, frequency, monetary, their 1-5 scores within the organization, and the RFM segment of a customer';

-- Aggregates only (analytics.aggregate: viewers too); in C, which asks
-- the capability map before it reads.
CREATE FUNCTION protector.get_customer_segments(p_organization_id uuid)
RETURNS TABLE (segment text, customers bigint, revenue numeric,
			   avg_recency_score numeric, avg_frequency_score numeric, avg_monetary_score numeric)
AS 'MODULE_PATHNAME', 'protector_rfm_segments'
LANGUAGE C STABLE;
COMMENT ON FUNCTION protector.get_customer_segments(uuid) IS
'Every RFM segment of the organization with customers, revenue and average scores (aggregates only)';

CREATE FUNCTION protector.calculate_customer_ltv(p_customer_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	x jsonb := protector.get_customer_rfm_score(p_customer_id);
	c protector.customers;
	v_first timestamptz;
	v_last timestamptz;
	v_org_lifespan numeric;
	v_age_years numeric;
	v_lifespan_years numeric;
	v_aov numeric;
	v_per_year numeric;
	v_remaining numeric;
	v_currency text;
	v_counted bigint;
BEGIN
	SELECT * INTO c FROM protector.customers WHERE id = p_customer_id;
	SELECT o.currency INTO v_currency FROM protector.organizations o WHERE o.id = c.organization_id;
	-- the qualifying bookings in the organization's currency, whose money
	-- the historic value counts: divided by every qualifying booking, a
	-- customer with one booking paid 100 EUR and three in USD had an
	-- average order of 25 EUR (an attack on currencies)
	SELECT count(*) INTO v_counted FROM protector.bookings b
	WHERE b.organization_id = c.organization_id AND b.customer_id = c.id AND b.currency = v_currency
	  AND b.status IN ('confirmed', 'in_progress', 'completed') AND lower(b.during) <= now();
	-- first and last qualifying booking per customer, once: this
	-- customer's span, and how long customers who came back stay
	WITH spans AS (
		SELECT b.customer_id, min(lower(b.during)) AS f, max(lower(b.during)) AS l, count(*) AS n
		FROM protector.bookings b
		WHERE b.organization_id = c.organization_id AND b.customer_id IS NOT NULL
		  AND b.status IN ('confirmed', 'in_progress', 'completed') AND lower(b.during) <= now()
		GROUP BY b.customer_id)
	SELECT (SELECT f FROM spans WHERE customer_id = c.id), (SELECT l FROM spans WHERE customer_id = c.id),
		   (SELECT avg(extract(epoch FROM l - f) / 86400 / 365.25) FROM spans WHERE n >= 2)
	INTO v_first, v_last, v_org_lifespan;
	v_org_lifespan := COALESCE(NULLIF(v_org_lifespan, 0), 1);

	IF (x ->> 'frequency')::bigint = 0 THEN
		v_aov := 0; v_per_year := 0; v_remaining := v_org_lifespan; v_lifespan_years := 0;
	ELSE
		v_aov := CASE WHEN v_counted = 0 THEN 0 ELSE (x ->> 'monetary')::numeric / v_counted END;
		v_age_years := extract(epoch FROM now() - v_first) / 86400 / 365.25;
		v_per_year := v_counted / GREATEST(v_age_years, 1);
		v_lifespan_years := extract(epoch FROM v_last - v_first) / 86400 / 365.25;
		-- churn is memoryless: a customer still booking has the whole
		-- expected lifespan ahead, however long they have stayed (the old
		-- "expected - stayed" predicted 0 for every regular)
		v_remaining := v_org_lifespan;
	END IF;
	RETURN jsonb_build_object(
		'customer_id', c.id,
		'currency', v_currency,
		'historic_value', (x ->> 'monetary')::numeric,
		'bookings', (x ->> 'frequency')::bigint,
		-- (money: to the cent, half to even, as every amount computed)
		'average_order_value', protector.round_money(v_aov),
		'bookings_per_year', round(v_per_year, 4),
		'customer_lifespan_years', round(v_lifespan_years, 4),
		'expected_lifespan_years', round(v_org_lifespan, 4),
		'expected_remaining_years', round(v_remaining, 4),
		'predicted_12_month_value', protector.round_money(v_aov * v_per_year * LEAST(v_remaining, 1)));
END
$$;
COMMENT ON FUNCTION protector.calculate_customer_ltv(uuid) IS
'Historic value and predicted 12-month value (average order x bookings per year x min(1, expected remaining years))';
