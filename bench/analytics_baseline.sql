-- bench/analytics_baseline.sql: get_customer_segments written as one
-- plain SQL statement with window functions, the way one would without
-- protector.  The same definitions as src/analytics.c: qualifying
-- bookings, net payments in the organization's currency (never below 0),
-- ntile(5) with ties broken by customer id, the same segment rules.
CREATE OR REPLACE FUNCTION bench.segments_sql(p_org uuid)
RETURNS TABLE (segment text, customers bigint, revenue numeric,
			   avg_recency_score numeric, avg_frequency_score numeric, avg_monetary_score numeric)
LANGUAGE sql STABLE AS $$
WITH b AS (
	SELECT b.customer_id, count(*) AS frequency, max(lower(b.during)) AS last_at
	FROM protector.bookings b
	WHERE b.organization_id = p_org AND b.customer_id IS NOT NULL
	  AND b.status IN ('confirmed', 'in_progress', 'completed') AND lower(b.during) <= now()
	GROUP BY b.customer_id),
p AS (
	SELECT k.customer_id,
		   COALESCE(sum(p.amount) FILTER (WHERE p.kind = 'payment'), 0)
		   - COALESCE(sum(p.amount) FILTER (WHERE p.kind = 'refund'), 0) AS net
	FROM protector.payments p
	JOIN protector.bookings k ON k.organization_id = p.organization_id AND k.id = p.booking_id
	WHERE p.organization_id = p_org AND p.status = 'succeeded' AND k.customer_id IS NOT NULL
	  AND p.currency = (SELECT currency FROM protector.organizations WHERE id = p_org)
	GROUP BY k.customer_id),
c AS (
	SELECT c.id, COALESCE(b.frequency, 0) AS frequency,
		   floor(date_part('epoch', now() - b.last_at) / 86400)::int AS recency,
		   GREATEST(COALESCE(p.net, 0), 0) AS monetary
	FROM protector.customers c
	LEFT JOIN b ON b.customer_id = c.id
	LEFT JOIN p ON p.customer_id = c.id
	WHERE c.organization_id = p_org AND c.merged_into IS NULL),
s AS (
	SELECT monetary,
		   ntile(5) OVER (ORDER BY recency DESC, id) AS r,
		   ntile(5) OVER (ORDER BY frequency, id) AS f,
		   ntile(5) OVER (ORDER BY monetary, id) AS m
	FROM c WHERE frequency > 0),
seg AS (
	SELECT CASE
			WHEN r >= 4 AND f + m >= 8 THEN 'Champions'
			WHEN r >= 3 AND f + m >= 6 THEN 'Loyal Customers'
			WHEN r = 1 AND f + m >= 8 THEN 'Can''t Lose Them'
			WHEN r <= 2 AND f + m >= 6 THEN 'At Risk'
			WHEN r = 5 AND f + m < 4 THEN 'New Customers'
			WHEN r >= 4 AND f + m >= 4 THEN 'Potential Loyalist'
			WHEN r >= 4 THEN 'Promising'
			WHEN r = 3 AND f + m >= 4 THEN 'Need Attention'
			WHEN r = 3 THEN 'About To Sleep'
			WHEN r = 2 THEN 'Hibernating'
			ELSE 'Lost' END AS segment, r, f, m, monetary
	FROM s
	UNION ALL
	SELECT 'No bookings', NULL, NULL, NULL, monetary FROM c WHERE frequency = 0)
SELECT n.name, count(seg.segment), COALESCE(sum(seg.monetary), 0.00),
	   round(avg(seg.r), 2), round(avg(seg.f), 2), round(avg(seg.m), 2)
FROM unnest(ARRAY['Champions', 'Loyal Customers', 'Can''t Lose Them', 'At Risk', 'New Customers',
				  'Potential Loyalist', 'Promising', 'Need Attention', 'About To Sleep', 'Hibernating',
				  'Lost', 'No bookings']) WITH ORDINALITY n(name, ord)
LEFT JOIN seg ON seg.segment = n.name
GROUP BY n.name, n.ord
ORDER BY n.ord
$$;
