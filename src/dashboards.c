/*-------------------------------------------------------------------------
 *
 * dashboards.c
 *	  The one aggregate the dashboards are built from: an organization's
 *	  bookings and payments summed per time bucket (docs/dashboards.md).
 *
 * protector_internal.booking_buckets(p_organization_id, p_venue_id,
 * p_bounds timestamptz[]) answers, for each [bounds[i], bounds[i+1]), the
 * counts, sums and booked time of the bookings starting in it and the
 * ledger's revenue of the payments made in it.  Bucket boundaries come
 * from the caller (local days, weeks and hours are the SQL wrappers'
 * business), so one kept plan serves the 30-day figures, the weekly trend
 * and the hourly chart of a DST day alike.
 *
 * The bookings are read by one range scan of (organization_id,
 * booking_start(during)) over the whole window, then shared out to the
 * buckets: the cost follows the organization's bookings in the window,
 * whatever the table holds besides.  Booked time (occupancy's numerator)
 * counts the bookings of active venues not deleted, whose hours alone are
 * open time (get_venue_schedule, open_service_seconds in
 * sql/88_dashboards.sql).
 *
 * Invariant: these are aggregates only, never a row of personal data, and
 * they are read past RLS once the capability map has allowed
 * analytics.aggregate for the caller (as the other analytics do): a viewer
 * sees the numbers without seeing the bookings.
 *
 * src/dashboards.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "capabilities.h"
#include "errors.h"
#include "schedule.h"
#include "spi_scope.h"
#include "support.h"
#include "timezone.h"

/* at most this many buckets a call: 400 days, or a year of weeks */
#define MAX_BOUNDS 401
#define NCOLUMNS 10

static SPIPlanPtr buckets_plan = NULL;

/*
 * $1 organization, $2 venue (NULL: all), $3 the bounds, $4 the
 * organization's currency.  Money of another currency is left out.  A
 * hold cancelled, by the sweep when it lapsed or by hand, keeps its
 * hold_expires_at (a hold made a booking loses it): a checkout abandoned,
 * never a booking, it counts nowhere, as a hold does (each one the sweep
 * cancelled counted as a booking and a cancellation).
 */
#define BUCKETS_SQL \
	"WITH k AS (" \
	"  SELECT lo, hi FROM (SELECT b AS lo, pg_catalog.lead(b) OVER (ORDER BY n) AS hi" \
	"                        FROM pg_catalog.unnest($3::pg_catalog.timestamptz[]) WITH ORDINALITY u(b, n)) x" \
	"   WHERE hi IS NOT NULL)" \
	" SELECT k.lo," \
	"  pg_catalog.count(x.id) FILTER (WHERE x.status OPERATOR(pg_catalog.<>) 'held')," \
	"  pg_catalog.count(x.id) FILTER (WHERE x.status OPERATOR(pg_catalog.=) 'cancelled')," \
	"  pg_catalog.count(x.id) FILTER (WHERE x.status OPERATOR(pg_catalog.=) 'no_show')," \
	"  pg_catalog.count(x.id) FILTER (WHERE x.status OPERATOR(pg_catalog.=) ANY ('{completed,no_show}'::protector.booking_status[]))," \
	"  COALESCE(pg_catalog.sum(x.party_size) FILTER (WHERE x.status OPERATOR(pg_catalog.<>) ALL ('{held,cancelled,no_show}'::protector.booking_status[])), 0)::pg_catalog.int8," \
	"  COALESCE(pg_catalog.sum(x.total_price) FILTER (WHERE x.status OPERATOR(pg_catalog.<>) ALL ('{held,cancelled}'::protector.booking_status[])" \
	"                                                  AND x.currency OPERATOR(pg_catalog.=) $4), 0)," \
	"  pg_catalog.count(x.id) FILTER (WHERE x.status OPERATOR(pg_catalog.<>) ALL ('{held,cancelled}'::protector.booking_status[])" \
	"                                 AND x.currency OPERATOR(pg_catalog.=) $4)," \
	"  COALESCE(pg_catalog.sum(pg_catalog.date_part('epoch', pg_catalog.upper(x.during) OPERATOR(pg_catalog.-) pg_catalog.lower(x.during))" \
	"      OPERATOR(pg_catalog.*) CASE WHEN s.mode OPERATOR(pg_catalog.=) 'shared'" \
	"           THEN LEAST(1, x.party_size::pg_catalog.float8 OPERATOR(pg_catalog./) s.capacity) ELSE 1 END)" \
	"    FILTER (WHERE x.status OPERATOR(pg_catalog.<>) ALL ('{held,cancelled,no_show}'::protector.booking_status[])" \
	"            AND vv.active AND vv.deleted_at IS NULL), 0)," \
	"  (SELECT COALESCE(pg_catalog.sum(CASE WHEN p.kind OPERATOR(pg_catalog.=) 'payment' THEN p.amount ELSE OPERATOR(pg_catalog.-) p.amount END), 0)" \
	"     FROM protector.payments p" \
	"     JOIN protector.bookings pb ON pb.organization_id OPERATOR(pg_catalog.=) p.organization_id AND pb.id OPERATOR(pg_catalog.=) p.booking_id" \
	"    WHERE p.organization_id OPERATOR(pg_catalog.=) $1 AND p.status OPERATOR(pg_catalog.=) 'succeeded'" \
	"      AND p.currency OPERATOR(pg_catalog.=) $4" \
	"      AND p.created_at OPERATOR(pg_catalog.>=) k.lo AND p.created_at OPERATOR(pg_catalog.<) k.hi" \
	"      AND ($2::pg_catalog.uuid IS NULL OR pb.venue_id OPERATOR(pg_catalog.=) $2))" \
	" FROM k" \
	" LEFT JOIN (SELECT * FROM protector.bookings y" \
	"             WHERE y.organization_id OPERATOR(pg_catalog.=) $1" \
	"               AND NOT (y.status OPERATOR(pg_catalog.=) 'cancelled' AND y.hold_expires_at IS NOT NULL)" \
	"               AND protector_internal.booking_start(y.during) OPERATOR(pg_catalog.>=) ($3::pg_catalog.timestamptz[])[1]" \
	"               AND protector_internal.booking_start(y.during) OPERATOR(pg_catalog.<) ($3::pg_catalog.timestamptz[])[pg_catalog.array_upper($3, 1)]) x" \
	"        ON pg_catalog.lower(x.during) OPERATOR(pg_catalog.>=) k.lo AND pg_catalog.lower(x.during) OPERATOR(pg_catalog.<) k.hi" \
	"      AND ($2::pg_catalog.uuid IS NULL OR x.venue_id OPERATOR(pg_catalog.=) $2)" \
	" LEFT JOIN protector.services s ON s.organization_id OPERATOR(pg_catalog.=) x.organization_id AND s.id OPERATOR(pg_catalog.=) x.service_id" \
	" LEFT JOIN protector.venues vv ON vv.organization_id OPERATOR(pg_catalog.=) x.organization_id AND vv.id OPERATOR(pg_catalog.=) x.venue_id" \
	" GROUP BY k.lo, k.hi ORDER BY k.lo"

static SPIPlanPtr currency_plan = NULL;

/* the bounds argument: 2 to MAX_BOUNDS finite times, strictly increasing */
static ArrayType *
bounds_arg(FunctionCallInfo fcinfo, int argno)
{
	ArrayType  *bounds;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	protector_require_arg(fcinfo, argno, "p_bounds");
	bounds = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(bounds) > 1 || (ARR_NDIM(bounds) == 1 && ARR_LBOUND(bounds)[0] != 1))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_bounds must be a one-dimensional array starting at index 1")));
	deconstruct_array(bounds, TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	if (n < 2 || n > MAX_BOUNDS)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_bounds must hold 2 to %d times", MAX_BOUNDS),
				 errdetail("It holds %d.", n)));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i] || TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(elems[i])) ||
			(i > 0 && DatumGetTimestampTz(elems[i]) <= DatumGetTimestampTz(elems[i - 1])))
			ereport(ERROR,
					(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
					 errmsg("p_bounds must be finite times in increasing order"),
					 errdetail("Element %d is not.", i + 1)));
	}
	return bounds;
}

/* a bucket row into the result (the tuplestore copies it) */
static void
put_bucket(HeapTuple tup, TupleDesc desc, uint64 row pg_attribute_unused(),
		   uint64 nrows pg_attribute_unused(), void *arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		values[NCOLUMNS];
	bool		nulls[NCOLUMNS];

	heap_deform_tuple(tup, desc, values, nulls);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * protector_internal.booking_buckets(p_organization_id uuid, p_venue_id
 *		uuid, p_bounds timestamptz[]) returns table (bucket_start
 *		timestamptz, bookings bigint, cancelled bigint, no_shows bigint,
 *		concluded bigint, guests bigint, booked_value numeric,
 *		valued_bookings bigint, booked_seconds float8, revenue numeric)
 */
PG_FUNCTION_INFO_V1(protector_booking_buckets);
Datum
protector_booking_buckets(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	pg_uuid_t  *org;
	ArrayType  *bounds;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		found;
	Oid			argtypes[4] = {UUIDOID, UUIDOID, TIMESTAMPTZARRAYOID, TEXTOID};
	/*
	 * planned for each call's organization and window: the generic plan
	 * estimated two bookings "of some organization" and, beside other
	 * tenants, sorted the window's 50,000 on disk (1.4x-1.9x slower)
	 */
	ProtectorRead read = {.plan = &buckets_plan, .sql = BUCKETS_SQL, .nargs = 4,
		.argtypes = argtypes, .owner_of = "bookings", .limit = 0, .snapshot = NULL,
		.cursor_options = CURSOR_OPT_CUSTOM_PLAN};

	protector_require_arg(fcinfo, 0, "p_organization_id");
	org = PG_GETARG_UUID_P(0);
	bounds = bounds_arg(fcinfo, 2);
	protector_authorize(org, "analytics.aggregate", "organization");

	values[0] = UUIDPGetDatum(org);
	values[1] = PG_ARGISNULL(1) ? (Datum) 0 : UUIDPGetDatum(PG_GETARG_UUID_P(1));
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	values[2] = PointerGetDatum(bounds);
	values[3] = protector_select_datum(&currency_plan,
									   "SELECT o.currency FROM protector.organizations o WHERE o.id OPERATOR(pg_catalog.=) $1",
									   1, argtypes, values, &found);
	if (!found)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_NOT_FOUND),
				 errmsg("organization not found"),
				 errdetail("It does not exist, or you may not see it.")));

	InitMaterializedSRF(fcinfo, 0);
	(void) protector_read(&read, values, nulls, put_bucket, rsinfo);
	return (Datum) 0;
}

/*
 * protector_internal.local_midnight(p_timezone text, p_day date) returns
 * timestamptz: the first instant of the local day p_day in the zone, where
 * the dashboards' and reports' days, weeks and ranges begin and end
 * (timezone(p_timezone, p_day::timestamp) is the later instant of a
 * midnight the clocks pass twice: schedule.c).
 */
PG_FUNCTION_INFO_V1(protector_local_midnight_sql);
Datum
protector_local_midnight_sql(PG_FUNCTION_ARGS)
{
	char	   *zone;
	DateADT		day;

	protector_require_arg(fcinfo, 0, "p_timezone");
	protector_require_arg(fcinfo, 1, "p_day");
	zone = text_to_cstring(PG_GETARG_TEXT_PP(0));
	day = PG_GETARG_DATEADT(1);
	protector_check_timezone(zone, "p_timezone");
	if (DATE_NOT_FINITE(day))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_DATETIME_OVERFLOW),
				 errmsg("p_day must be a finite date")));
	PG_RETURN_TIMESTAMPTZ(protector_local_midnight(day, pg_tzset(zone)));
}
