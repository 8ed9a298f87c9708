/*-------------------------------------------------------------------------
 *
 * constraints.c
 *	  CHECK constraints of protector.bookings written as one C call each:
 *	  the same rules as the SQL expressions they replace, under the same
 *	  constraint names, so a violation is the same 23514 error.
 *
 * Every insert into bookings evaluates every CHECK of the table.  The
 * "during" rule written in SQL was seven function calls over the range
 * (each deserializing it) and the largest expression tree of the table;
 * bookings_length_check four more.  Here the range is read once.
 *
 * Invariants (sql/30_tables.sql):
 *	  - bookings_during_check: the range is not empty, both bounds exist
 *		(not unbounded), the lower is inclusive and the upper exclusive
 *		("[)"), and both bound values are finite timestamps;
 *	  - bookings_length_check: upper - lower <= 31 days; true when a bound
 *		is missing or not finite (the SQL rule was NULL there, which a CHECK
 *		accepts; bookings_during_check refuses such a range, and runs
 *		first: constraints are checked in name order).
 *
 * src/constraints.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/rangetypes.h"
#include "utils/timestamp.h"

/* the bounds of a tstzrange argument, read once */
static void
read_tstzrange(FunctionCallInfo fcinfo, RangeBound *lo, RangeBound *hi, bool *empty)
{
	RangeType  *range = PG_GETARG_RANGE_P(0);
	TypeCacheEntry *typcache = range_get_typcache(fcinfo, RangeTypeGetOid(range));

	if (typcache->rngelemtype == NULL || typcache->rngelemtype->type_id != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("a range of timestamptz was expected, not %s",
						format_type_be(RangeTypeGetOid(range)))));
	range_deserialize(typcache, range, lo, hi, empty);
}

static bool
bound_is_finite(const RangeBound *bound)
{
	return !bound->infinite && !TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(bound->val));
}

/*
 * protector_internal.during_is_bounded(tstzrange) returns boolean
 *
 * NOT isempty(r) AND NOT lower_inf(r) AND NOT upper_inf(r) AND lower_inc(r)
 * AND NOT upper_inc(r) AND isfinite(lower(r)) AND isfinite(upper(r))
 */
PG_FUNCTION_INFO_V1(protector_during_is_bounded);
Datum
protector_during_is_bounded(PG_FUNCTION_ARGS)
{
	RangeBound	lo;
	RangeBound	hi;
	bool		empty;

	read_tstzrange(fcinfo, &lo, &hi, &empty);
	PG_RETURN_BOOL(!empty && lo.inclusive && !hi.inclusive &&
				   bound_is_finite(&lo) && bound_is_finite(&hi));
}

/*
 * protector_internal.during_within_31_days(tstzrange) returns boolean
 *
 * upper(r) - lower(r) <= interval '31 days': the difference of two
 * timestamptz is a span of microseconds (justified into days of 24 hours
 * for display), and interval comparison compares that span.
 */
PG_FUNCTION_INFO_V1(protector_during_within_31_days);
Datum
protector_during_within_31_days(PG_FUNCTION_ARGS)
{
	RangeBound	lo;
	RangeBound	hi;
	bool		empty;

	read_tstzrange(fcinfo, &lo, &hi, &empty);
	if (empty || !bound_is_finite(&lo) || !bound_is_finite(&hi))
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(DatumGetTimestampTz(hi.val) - DatumGetTimestampTz(lo.val) <=
				   (TimestampTz) 31 * USECS_PER_DAY);
}
