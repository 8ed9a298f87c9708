/*-------------------------------------------------------------------------
 *
 * constraints.c
 *	  The CHECK constraints of protector.bookings as one C call
 *	  (bookings_row_check): the same rules as the SQL expressions they
 *	  replace, checked in the same order, and a violation is the same 23514
 *	  error under the same constraint name.
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
 * And booking_is_long(), the predicate of bookings_long_during_idx: which
 * bookings the reservation check cannot find through the start index
 * alone (constraints.h).
 *
 * And value_size(), for the size limits of other tables' CHECKs (a
 * notification's payload, a staff activity's details) and of RPC
 * arguments: a value's size as it is uncompressed.  pg_column_size()
 * measures a compressed value as it is stored, so a 200 kB payload copied
 * from a stored row passed a limit of 8 kB as 2 kB.
 *
 * src/constraints.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/rangetypes.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "constraints.h"

/* the bounds of a tstzrange argument, read once */
static void
read_tstzrange(FunctionCallInfo fcinfo, int argno, RangeBound *lo, RangeBound *hi, bool *empty)
{
	RangeType  *range = PG_GETARG_RANGE_P(argno);
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
 * A finite bound within the years 1 to 9999, a day inside them in UTC:
 * where every local date of the product lives (slots, schedules, reports
 * refuse other years; a booking stored in 294276 AD broke its own review
 * task's local time with a bare 22008).
 */
static bool
bound_within_years(const RangeBound *b)
{
	TimestampTz t;

	if (!bound_is_finite(b))
		return false;
	t = DatumGetTimestampTz(b->val);
	return t >= (TimestampTz) (date2j(1, 1, 2) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY &&
		t <= (TimestampTz) (date2j(9999, 12, 31) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
}

static bool
during_bounded(FunctionCallInfo fcinfo, int argno)
{
	RangeBound	lo;
	RangeBound	hi;
	bool		empty;

	read_tstzrange(fcinfo, argno, &lo, &hi, &empty);
	return !empty && lo.inclusive && !hi.inclusive && bound_within_years(&lo) && bound_within_years(&hi);
}

/*
 * Two finite bounds at most 31 days apart.  Their difference can exceed
 * int64 (from before 1999-12-24 to near 294276 AD): PostgreSQL 15's
 * timestamptz subtraction wraps there, and a wrapped span would pass.
 */
static bool
span_within_31_days(const RangeBound *lo, const RangeBound *hi)
{
	int64		span;

	if (pg_sub_s64_overflow(DatumGetTimestampTz(hi->val), DatumGetTimestampTz(lo->val), &span))
		return false;
	return span <= PROTECTOR_LONGEST_BOOKING_USECS;
}

static bool
during_short(FunctionCallInfo fcinfo, int argno)
{
	RangeBound	lo;
	RangeBound	hi;
	bool		empty;

	read_tstzrange(fcinfo, argno, &lo, &hi, &empty);
	if (empty || !bound_is_finite(&lo) || !bound_is_finite(&hi))
		return true;
	return span_within_31_days(&lo, &hi);
}

/*
 * A booking's range as bookings_during_check and bookings_length_check
 * want it: for code that reads a row before the table's CHECK has run
 * (the reservation precheck, reserve.c).
 */
bool
protector_during_is_valid(Datum range)
{
	RangeType  *r = DatumGetRangeTypeP(range);
	TypeCacheEntry *typcache = lookup_type_cache(RangeTypeGetOid(r), TYPECACHE_RANGE_INFO);
	RangeBound	lo;
	RangeBound	hi;
	bool		empty;

	if (typcache->rngelemtype == NULL || typcache->rngelemtype->type_id != TIMESTAMPTZOID)
		return false;
	range_deserialize(typcache, r, &lo, &hi, &empty);
	return !empty && lo.inclusive && !hi.inclusive && bound_is_finite(&lo) && bound_is_finite(&hi) &&
		span_within_31_days(&lo, &hi);
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
	PG_RETURN_BOOL(during_bounded(fcinfo, 0));
}

/*
 * protector_internal.during_within_31_days(tstzrange) returns boolean
 *
 * upper(r) - lower(r) <= interval '31 days', counted without wrapping (see
 * span_within_31_days): the difference of two timestamptz is a span of
 * microseconds, and interval comparison compares that span.
 */
PG_FUNCTION_INFO_V1(protector_during_within_31_days);
Datum
protector_during_within_31_days(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(during_short(fcinfo, 0));
}

/*
 * protector_internal.booking_is_long(tstzrange) returns boolean
 *
 * upper(r) - lower(r) > PROTECTOR_SHORT_BOOKING_USECS (2 hours), counted
 * without wrapping: the predicate of bookings_long_during_idx.  An empty
 * range is not long (it overlaps nothing); one with a missing or infinite
 * bound is (bookings_during_check refuses both before an index entry is
 * made, and the index keeps whatever it is given).  Immutable: the index
 * depends on its answers never changing.
 */
PG_FUNCTION_INFO_V1(protector_booking_is_long);
Datum
protector_booking_is_long(PG_FUNCTION_ARGS)
{
	RangeBound	lo;
	RangeBound	hi;
	bool		empty;
	int64		span;

	read_tstzrange(fcinfo, 0, &lo, &hi, &empty);
	if (empty)
		PG_RETURN_BOOL(false);
	if (!bound_is_finite(&lo) || !bound_is_finite(&hi) ||
		pg_sub_s64_overflow(DatumGetTimestampTz(hi.val), DatumGetTimestampTz(lo.val), &span))
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(span > PROTECTOR_SHORT_BOOKING_USECS);
}

/*
 * protector_internal.booking_start(tstzrange) returns timestamptz
 *
 * lower(r), declared LEAKPROOF: PostgreSQL's own range_lower, which fails
 * on no value.  In C rather than LANGUAGE internal: an internal function
 * that is not built in is looked up by name among every built-in one each
 * time an expression calling it is set up, and bookings_starts_idx is on
 * it (every insert sets its expression up: 80,000 instructions a booking).
 */
PG_FUNCTION_INFO_V1(protector_booking_start);
Datum
protector_booking_start(PG_FUNCTION_ARGS)
{
	return range_lower(fcinfo);
}

/* ---- bookings_row_check: every rule of a booking row, in one call ---- */

/* the arguments of bookings_row_check(), in the order of its rules */
enum
{
	ARG_AMOUNT_PAID,
	ARG_CANCELLATION_REASON,
	ARG_STATUS,
	ARG_HOLD_EXPIRES_AT,
	ARG_CURRENCY,
	ARG_DEPOSIT_AMOUNT,
	ARG_DETAILS,
	ARG_DISCOUNT_AMOUNT,
	ARG_DURING,
	ARG_IDEMPOTENCY_KEY,
	ARG_PARTY_SIZE,
	ARG_TOTAL_PRICE,
	ARG_UNIT_PRICE,
	N_ROW_ARGS
};

/*
 * the error PostgreSQL raises for a CHECK constraint, under its old name,
 * with the rule in words (a CHECK's name alone said nothing to a client)
 */
static void
violated(const char *constraint, const char *rule)
{
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("new row for relation \"%s\" violates check constraint \"%s\"", "bookings", constraint),
			 errdetail("%s", rule),
			 err_generic_string(PG_DIAG_SCHEMA_NAME, "protector"),
			 err_generic_string(PG_DIAG_TABLE_NAME, "bookings"),
			 err_generic_string(PG_DIAG_CONSTRAINT_NAME, constraint)));
}

/* x >= 0 and a number (NaN, which numeric orders above all, is no amount); NULL passes */
static bool
nonnegative(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return true;
	if (numeric_is_nan(PG_GETARG_NUMERIC(argno)))
		return false;
	return DatumGetBool(DirectFunctionCall2(numeric_ge, PG_GETARG_DATUM(argno),
											DirectFunctionCall1(int4_numeric, Int32GetDatum(0))));
}

/* length(x) in characters within [min, max]; NULL passes */
static bool
length_within(FunctionCallInfo fcinfo, int argno, int min, int max)
{
	text	   *t;
	int			len;

	if (PG_ARGISNULL(argno))
		return true;
	t = PG_GETARG_TEXT_PP(argno);
	len = pg_mbstrlen_with_len(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	return len >= min && len <= max;
}

/* currency ~ '^[A-Z]{3}$': three letters A to Z; NULL passes */
static bool
currency_code(FunctionCallInfo fcinfo, int argno)
{
	text	   *t;
	const char *c;

	if (PG_ARGISNULL(argno))
		return true;
	t = PG_GETARG_TEXT_PP(argno);
	c = VARDATA_ANY(t);
	return VARSIZE_ANY_EXHDR(t) == 3 &&
		c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' && c[2] >= 'A' && c[2] <= 'Z';
}

/* status <> 'held' OR hold_expires_at IS NOT NULL (NULL passes) */
static bool
hold_has_expiry(FunctionCallInfo fcinfo)
{
	char	   *label;

	if (PG_ARGISNULL(ARG_STATUS) || !PG_ARGISNULL(ARG_HOLD_EXPIRES_AT))
		return true;
	label = DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(ARG_STATUS)));
	return strcmp(label, "held") != 0;
}

/* jsonb_typeof(details) = 'object'; NULL passes */
static bool
details_object(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(ARG_DETAILS))
		return true;
	return JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(ARG_DETAILS));
}

/* party_size BETWEEN 1 AND 100000; NULL passes */
static bool
party_size_range(FunctionCallInfo fcinfo)
{
	int32		n;

	if (PG_ARGISNULL(ARG_PARTY_SIZE))
		return true;
	n = PG_GETARG_INT32(ARG_PARTY_SIZE);
	return n >= 1 && n <= 100000;
}

/*
 * protector_internal.bookings_row_check(amount_paid, cancellation_reason,
 *		status, hold_expires_at, currency, deposit_amount, details,
 *		discount_amount, during, idempotency_key, party_size, total_price,
 *		unit_price) returns boolean
 *
 * The thirteen CHECK constraints bookings had, as one: PostgreSQL parses
 * and plans every CHECK of a table from its node string for every INSERT
 * statement (183,000 instructions per booking for thirteen), one call costs
 * a fraction.  The rules are checked in the order of the constraints'
 * names, as PostgreSQL checked them, and a violation is the error a CHECK
 * raises, under the old constraint's name (without PostgreSQL's "Failing
 * row contains" detail); each rule lets NULL pass, as a CHECK does.
 * Returns true or raises.
 */
PG_FUNCTION_INFO_V1(protector_bookings_row_check);
Datum
protector_bookings_row_check(PG_FUNCTION_ARGS)
{
	if (PG_NARGS() != N_ROW_ARGS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bookings_row_check() takes %d arguments, not %d", N_ROW_ARGS, PG_NARGS())));
	if (!nonnegative(fcinfo, ARG_AMOUNT_PAID))
		violated("bookings_amount_paid_check",
				 "amount_paid is an amount of 0 or more.");
	if (!length_within(fcinfo, ARG_CANCELLATION_REASON, 0, 2000))
		violated("bookings_cancellation_reason_check",
				 "cancellation_reason is at most 2000 characters.");
	if (!hold_has_expiry(fcinfo))
		violated("bookings_check",
				 "A held booking has a hold_expires_at, when its hold lapses.");
	if (!currency_code(fcinfo, ARG_CURRENCY))
		violated("bookings_currency_check",
				 "currency is a code of three capital letters, like EUR.");
	if (!nonnegative(fcinfo, ARG_DEPOSIT_AMOUNT))
		violated("bookings_deposit_amount_check",
				 "deposit_amount is an amount of 0 or more.");
	if (!details_object(fcinfo))
		violated("bookings_details_check",
				 "details is a JSON object.");
	if (!nonnegative(fcinfo, ARG_DISCOUNT_AMOUNT))
		violated("bookings_discount_amount_check",
				 "discount_amount is an amount of 0 or more.");
	if (!PG_ARGISNULL(ARG_DURING) && !during_bounded(fcinfo, ARG_DURING))
		violated("bookings_during_check",
				 "during is a [start, end) range, not empty, of finite times from 0001-01-02 to 9999-12-31 00:00 UTC (a local date of years 1 to 9999 in every time zone).");
	if (!length_within(fcinfo, ARG_IDEMPOTENCY_KEY, 1, 200))
		violated("bookings_idempotency_key_check",
				 "idempotency_key is 1 to 200 characters.");
	if (!PG_ARGISNULL(ARG_DURING) && !during_short(fcinfo, ARG_DURING))
		violated("bookings_length_check",
				 "A booking lasts at most 31 days.");
	if (!party_size_range(fcinfo))
		violated("bookings_party_size_check",
				 "party_size is 1 to 100000.");
	if (!nonnegative(fcinfo, ARG_TOTAL_PRICE))
		violated("bookings_total_price_check",
				 "total_price is an amount of 0 or more.");
	if (!nonnegative(fcinfo, ARG_UNIT_PRICE))
		violated("bookings_unit_price_check",
				 "unit_price is an amount of 0 or more.");
	PG_RETURN_BOOL(true);
}

/*
 * protector_internal.value_size(jsonb) returns integer
 *
 * The value's size uncompressed, header included: what pg_column_size()
 * answers for it when it is not compressed (a value short enough for a
 * one-byte header counts the four-byte one; limits are far above that).
 * The argument is not detoasted: only its header (or its TOAST pointer) is
 * read.
 */
PG_FUNCTION_INFO_V1(protector_value_size);
Datum
protector_value_size(PG_FUNCTION_ARGS)
{
	Size		size = toast_raw_datum_size(PG_GETARG_DATUM(0));

	PG_RETURN_INT32(size > (Size) PG_INT32_MAX ? PG_INT32_MAX : (int32) size);
}
