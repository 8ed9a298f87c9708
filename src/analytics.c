/*-------------------------------------------------------------------------
 *
 * analytics.c
 *	  RFM scores of an organization's customers and the segments they
 *	  fall in (docs/analytics.md).
 *
 * One SQL statement (a kept plan) aggregates the organization's bookings
 * and payments per customer; the quintile scores are then computed here,
 * in memory:
 *
 *	  recency	 days since the customer's last qualifying booking started
 *				 (status confirmed, in progress or completed, start <= now)
 *	  frequency  number of qualifying bookings
 *	  monetary	 succeeded payments minus succeeded refunds, in the
 *				 organization's currency, never below 0
 *
 * Customers with at least one qualifying booking are scored; each score is
 * what ntile(5) gives over them ordered by the measure (recency
 * descending, the others ascending), ties broken by customer id, so a
 * score of 5 is best and an organization with fewer than five scored
 * customers uses the scores 1..n.  The segment follows from R and the
 * average of F and M by the rules of rfm_segment() below, evaluated in
 * order; every (R, F, M) has exactly one.
 *
 * src/analytics.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "capabilities.h"
#include "errors.h"
#include "spi_scope.h"
#include "support.h"

#define NSEGMENTS 11

static const char *const segment_names[NSEGMENTS + 1] = {
	"Champions", "Loyal Customers", "Can't Lose Them", "At Risk", "New Customers",
	"Potential Loyalist", "Promising", "Need Attention", "About To Sleep",
	"Hibernating", "Lost", "No bookings"
};

#define NO_BOOKINGS NSEGMENTS

static SPIPlanPtr customers_plan = NULL;

#define CUSTOMERS_SQL \
	"WITH b AS (" \
	"  SELECT b.customer_id, pg_catalog.count(*) AS frequency, pg_catalog.max(pg_catalog.lower(b.during)) AS last_at" \
	"    FROM protector.bookings b" \
	"   WHERE b.organization_id OPERATOR(pg_catalog.=) $1 AND b.customer_id IS NOT NULL" \
	"     AND b.status OPERATOR(pg_catalog.=) ANY ('{confirmed,in_progress,completed}'::protector.booking_status[])" \
	"     AND pg_catalog.lower(b.during) OPERATOR(pg_catalog.<=) $2" \
	"   GROUP BY b.customer_id)," \
	" p AS (" \
	"  SELECT k.customer_id," \
	"         COALESCE(pg_catalog.sum(p.amount) FILTER (WHERE p.kind OPERATOR(pg_catalog.=) 'payment'), 0)" \
	"         OPERATOR(pg_catalog.-) COALESCE(pg_catalog.sum(p.amount) FILTER (WHERE p.kind OPERATOR(pg_catalog.=) 'refund'), 0) AS net" \
	"    FROM protector.payments p" \
	"    JOIN protector.bookings k ON k.organization_id OPERATOR(pg_catalog.=) p.organization_id" \
	"                             AND k.id OPERATOR(pg_catalog.=) p.booking_id" \
	"   WHERE p.organization_id OPERATOR(pg_catalog.=) $1 AND p.status OPERATOR(pg_catalog.=) 'succeeded'" \
	"     AND k.customer_id IS NOT NULL" \
	"     AND p.currency OPERATOR(pg_catalog.=) (SELECT o.currency FROM protector.organizations o" \
	"                                             WHERE o.id OPERATOR(pg_catalog.=) $1)" \
	"   GROUP BY k.customer_id)" \
	" SELECT c.id, COALESCE(b.frequency, 0)," \
	"        pg_catalog.floor(pg_catalog.date_part('epoch', $2 OPERATOR(pg_catalog.-) b.last_at) OPERATOR(pg_catalog./) 86400)::pg_catalog.int4," \
	"        (GREATEST(COALESCE(p.net, 0), 0) OPERATOR(pg_catalog.*) 100)::pg_catalog.int8" \
	"   FROM protector.customers c" \
	"   LEFT JOIN b ON b.customer_id OPERATOR(pg_catalog.=) c.id" \
	"   LEFT JOIN p ON p.customer_id OPERATOR(pg_catalog.=) c.id" \
	"  WHERE c.organization_id OPERATOR(pg_catalog.=) $1 AND c.merged_into IS NULL"

typedef struct CustomerScore
{
	pg_uuid_t	id;
	int64		frequency;
	int32		recency_days;
	int64		monetary_cents;
	int			r,
				f,
				m;
	int			segment;
} CustomerScore;

/*
 * The segment of (r, f, m), each 1..5; fm = (f + m) / 2.  Rules in order,
 * the first that matches wins (docs/analytics.md has the grid).
 */
static int
rfm_segment(int r, int f, int m)
{
	int			fm2 = f + m;	/* twice the average: compare with 2 * bound */

	if (r >= 4 && fm2 >= 8)
		return 0;				/* Champions */
	if (r >= 3 && fm2 >= 6)
		return 1;				/* Loyal Customers */
	if (r == 1 && fm2 >= 8)
		return 2;				/* Can't Lose Them */
	if (r <= 2 && fm2 >= 6)
		return 3;				/* At Risk */
	if (r == 5 && fm2 < 4)
		return 4;				/* New Customers */
	if (r >= 4 && fm2 >= 4)
		return 5;				/* Potential Loyalist */
	if (r >= 4)
		return 6;				/* Promising */
	if (r == 3 && fm2 >= 4)
		return 7;				/* Need Attention */
	if (r == 3)
		return 8;				/* About To Sleep */
	if (r == 2)
		return 9;				/* Hibernating */
	return 10;					/* Lost */
}

static int
cmp_id(const CustomerScore *a, const CustomerScore *b)
{
	return memcmp(a->id.data, b->id.data, UUID_LEN);
}

static int
cmp_recency(const void *x, const void *y)
{
	const CustomerScore *a = *(CustomerScore *const *) x;
	const CustomerScore *b = *(CustomerScore *const *) y;

	/* more days since the last visit first: they score lowest */
	if (a->recency_days != b->recency_days)
		return (a->recency_days > b->recency_days) ? -1 : 1;
	return cmp_id(a, b);
}

static int
cmp_frequency(const void *x, const void *y)
{
	const CustomerScore *a = *(CustomerScore *const *) x;
	const CustomerScore *b = *(CustomerScore *const *) y;

	if (a->frequency != b->frequency)
		return (a->frequency < b->frequency) ? -1 : 1;
	return cmp_id(a, b);
}

static int
cmp_monetary(const void *x, const void *y)
{
	const CustomerScore *a = *(CustomerScore *const *) x;
	const CustomerScore *b = *(CustomerScore *const *) y;

	if (a->monetary_cents != b->monetary_cents)
		return (a->monetary_cents < b->monetary_cents) ? -1 : 1;
	return cmp_id(a, b);
}

/* ntile(5) of position i (0-based) among n rows */
static int
ntile5(int64 i, int64 n)
{
	int64		per = n / 5;
	int64		rem = n % 5;
	int64		big = rem * (per + 1);	/* rows in the larger buckets */

	if (i < big)
		return (int) (i / (per + 1)) + 1;
	return (int) (rem + (i - big) / per) + 1;
}

static void
assign(CustomerScore **order, int64 n, int which)
{
	for (int64 i = 0; i < n; i++)
	{
		int			q = ntile5(i, n);

		if (which == 0)
			order[i]->r = q;
		else if (which == 1)
			order[i]->f = q;
		else
			order[i]->m = q;
	}
}

/* the customers' aggregates, each a CustomerScore to be scored */
typedef struct CustomerRows
{
	CustomerScore *all;
	int64		nscored;		/* customers with a booking */
} CustomerRows;

static void
copy_customer(HeapTuple tup, TupleDesc desc, uint64 row, uint64 nrows, void *arg)
{
	CustomerRows *rows = (CustomerRows *) arg;
	CustomerScore *c;
	bool		isnull;
	Datum		d;

	if (row == 0)
		rows->all = palloc_extended(sizeof(CustomerScore) * nrows, MCXT_ALLOC_HUGE);
	c = &rows->all[row];
	memcpy(c->id.data, DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull))->data, UUID_LEN);
	c->frequency = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	d = SPI_getbinval(tup, desc, 3, &isnull);
	c->recency_days = isnull ? 0 : DatumGetInt32(d);
	c->monetary_cents = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	c->r = c->f = c->m = 0;
	c->segment = NO_BOOKINGS;
	if (c->frequency > 0)
		rows->nscored++;
}

/* scores every customer of the organization; *n gets the count */
static CustomerScore *
score_organization(const pg_uuid_t *org, int64 *n)
{
	Oid			argtypes[2] = {UUIDOID, TIMESTAMPTZOID};
	/*
	 * planned for each call's organization: on a pooled connection the
	 * plan went generic after a large tenant's calls, and a small tenant's
	 * next call scanned every organization's payments
	 */
	ProtectorRead read = {.plan = &customers_plan, .sql = CUSTOMERS_SQL, .nargs = 2,
		.argtypes = argtypes, .owner_of = "bookings", .limit = 0,
		.cursor_options = CURSOR_OPT_CUSTOM_PLAN};
	Datum		values[2];
	CustomerRows rows = {NULL, 0};
	CustomerScore *all;
	CustomerScore **order;
	int64		nscored;

	values[0] = UUIDPGetDatum(org);
	values[1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	*n = (int64) protector_read(&read, values, NULL, copy_customer, &rows);
	all = rows.all != NULL ? rows.all : palloc(sizeof(CustomerScore));
	nscored = rows.nscored;

	order = palloc_extended(sizeof(CustomerScore *) * Max(nscored, 1), MCXT_ALLOC_HUGE);
	{
		int64		k = 0;

		for (int64 i = 0; i < *n; i++)
		{
			if (all[i].frequency > 0)
				order[k++] = &all[i];
		}
	}
	qsort(order, nscored, sizeof(CustomerScore *), cmp_recency);
	assign(order, nscored, 0);
	qsort(order, nscored, sizeof(CustomerScore *), cmp_frequency);
	assign(order, nscored, 1);
	qsort(order, nscored, sizeof(CustomerScore *), cmp_monetary);
	assign(order, nscored, 2);
	for (int64 i = 0; i < nscored; i++)
		order[i]->segment = rfm_segment(order[i]->r, order[i]->f, order[i]->m);
	pfree(order);
	return all;
}

/*
 * The organization argument, once the caller may do action there (the
 * capability map); the scores are then read past RLS, as availability
 * counts bookings the caller may not see: the map decides who gets them.
 */
static pg_uuid_t *
authorized_org_arg(FunctionCallInfo fcinfo, const char *action)
{
	pg_uuid_t  *org;

	protector_require_arg(fcinfo, 0, "p_organization_id");
	org = PG_GETARG_UUID_P(0);
	protector_authorize(org, action, "organization");
	return org;
}

static Datum
cents_numeric(int64 cents)
{
	return DirectFunctionCall2(numeric_round,
							   DirectFunctionCall2(numeric_div,
												   NumericGetDatum(int64_to_numeric(cents)),
												   NumericGetDatum(int64_to_numeric(100))),
							   Int32GetDatum(2));
}

/*
 * protector.rfm_segment(p_r integer, p_f integer, p_m integer) returns text
 */
PG_FUNCTION_INFO_V1(protector_rfm_segment);
Datum
protector_rfm_segment(PG_FUNCTION_ARGS)
{
	static const char *const names[3] = {"p_r", "p_f", "p_m"};
	int32		s[3];

	for (int i = 0; i < 3; i++)
	{
		if (PG_ARGISNULL(i) || PG_GETARG_INT32(i) < 1 || PG_GETARG_INT32(i) > 5)
			ereport(ERROR,
					(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
					 errmsg("RFM scores must be integers from 1 to 5"),
					 PG_ARGISNULL(i) ? errdetail("%s is null.", names[i]) :
					 errdetail("%s is %d.", names[i], PG_GETARG_INT32(i))));
		s[i] = PG_GETARG_INT32(i);
	}
	PG_RETURN_TEXT_P(cstring_to_text(segment_names[rfm_segment(s[0], s[1], s[2])]));
}

/*
 * protector.get_customer_rfm_scores(p_organization_id uuid) returns table
 *	(customer_id uuid, recency_days integer, frequency bigint,
 *	 monetary numeric, r integer, f integer, m integer, segment text)
 * Customers without qualifying bookings: NULL scores, segment
 * 'No bookings'.  Individual data: capability analytics.customer.
 */
PG_FUNCTION_INFO_V1(protector_customer_rfm);
Datum
protector_customer_rfm(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	pg_uuid_t  *org = authorized_org_arg(fcinfo, "analytics.customer");
	int64		n;
	CustomerScore *all;

	InitMaterializedSRF(fcinfo, 0);
	all = score_organization(org, &n);
	for (int64 i = 0; i < n; i++)
	{
		Datum		values[8];
		bool		nulls[8] = {false, false, false, false, false, false, false, false};
		bool		scored = all[i].frequency > 0;

		values[0] = UUIDPGetDatum(&all[i].id);
		values[1] = Int32GetDatum(all[i].recency_days);
		nulls[1] = !scored;
		values[2] = Int64GetDatum(all[i].frequency);
		values[3] = cents_numeric(all[i].monetary_cents);
		values[4] = Int32GetDatum(all[i].r);
		values[5] = Int32GetDatum(all[i].f);
		values[6] = Int32GetDatum(all[i].m);
		nulls[4] = nulls[5] = nulls[6] = !scored;
		values[7] = CStringGetTextDatum(segment_names[all[i].segment]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * protector.get_customer_segments(p_organization_id uuid) returns table
 *	(segment text, customers bigint, revenue numeric,
 *	 avg_recency_score numeric, avg_frequency_score numeric,
 *	 avg_monetary_score numeric)
 * Every segment, in the order of the rules, then 'No bookings'.
 * Aggregates only: capability analytics.aggregate.
 */
PG_FUNCTION_INFO_V1(protector_rfm_segments);
Datum
protector_rfm_segments(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	pg_uuid_t  *org = authorized_org_arg(fcinfo, "analytics.aggregate");
	int64		n;
	CustomerScore *all;
	int64		count[NSEGMENTS + 1] = {0};
	int64		cents[NSEGMENTS + 1] = {0};
	int64		sum_r[NSEGMENTS + 1] = {0};
	int64		sum_f[NSEGMENTS + 1] = {0};
	int64		sum_m[NSEGMENTS + 1] = {0};

	InitMaterializedSRF(fcinfo, 0);
	all = score_organization(org, &n);
	for (int64 i = 0; i < n; i++)
	{
		int			s = all[i].segment;

		count[s]++;
		cents[s] += all[i].monetary_cents;
		sum_r[s] += all[i].r;
		sum_f[s] += all[i].f;
		sum_m[s] += all[i].m;
	}
	for (int s = 0; s <= NSEGMENTS; s++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = CStringGetTextDatum(segment_names[s]);
		values[1] = Int64GetDatum(count[s]);
		values[2] = cents_numeric(cents[s]);
		if (count[s] == 0 || s == NO_BOOKINGS)
			nulls[3] = nulls[4] = nulls[5] = true;
		else
		{
			int64		sums[3] = {sum_r[s], sum_f[s], sum_m[s]};

			for (int k = 0; k < 3; k++)
				values[3 + k] = DirectFunctionCall2(numeric_round,
													DirectFunctionCall2(numeric_div,
																		NumericGetDatum(int64_to_numeric(sums[k])),
																		NumericGetDatum(int64_to_numeric(count[s]))),
													Int32GetDatum(2));
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
