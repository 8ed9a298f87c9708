/*-------------------------------------------------------------------------
 *
 * venue.c
 *	  A venue's schedule as the outside world asks about it: is it open at
 *	  an instant, when does it open on which days, and validation of the
 *	  operating_hours and special_hours formats (docs/bookings.md).
 *
 * The parsing and the local-time arithmetic live in schedule.c, shared
 * with availability, so "open" means the same everywhere, DST included.
 *
 * src/venue.c
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
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "errors.h"
#include "schedule.h"
#include "spi_scope.h"
#include "support.h"
#include "timezone.h"

#define MAX_SCHEDULE_DAYS 93

static SPIPlanPtr venue_plan = NULL;

typedef struct VenueHours
{
	pg_uuid_t	id;
	bool		open_for_business;	/* active and not deleted */
	char	   *timezone;
	pg_tz	   *tz;
	Jsonb	   *hours;
} VenueHours;

#define VENUE_SQL \
	"SELECT v.active AND v.deleted_at IS NULL, v.timezone::pg_catalog.text, v.operating_hours::pg_catalog.jsonb" \
	"  FROM protector.venues v WHERE v.id OPERATOR(pg_catalog.=) $1"

static void
copy_venue(HeapTuple tup, TupleDesc desc, uint64 row pg_attribute_unused(),
		   uint64 nrows pg_attribute_unused(), void *arg)
{
	VenueHours **out = (VenueHours **) arg;
	VenueHours *v = palloc0(sizeof(VenueHours));
	bool		isnull;

	v->open_for_business = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
	v->timezone = TextDatumGetCString(protector_attr_notnull(tup, desc, 2, "venues"));
	v->hours = DatumGetJsonbPCopy(protector_attr_notnull(tup, desc, 3, "venues"));
	*out = v;
}

/* the venue under the caller's RLS; "not found" if invisible */
static VenueHours *
load_venue(FunctionCallInfo fcinfo, int argno)
{
	Oid			argtypes[1] = {UUIDOID};
	ProtectorRead read = {.plan = &venue_plan, .sql = VENUE_SQL, .nargs = 1,
		.argtypes = argtypes, .owner_of = NULL, .limit = 1};
	VenueHours *v = NULL;
	Datum		values[1];

	protector_require_arg(fcinfo, argno, "p_venue_id");
	values[0] = PG_GETARG_DATUM(argno);
	(void) protector_read(&read, values, NULL, copy_venue, &v);
	if (v == NULL)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_NOT_FOUND),
				 errmsg("venue not found"),
				 errdetail("It does not exist, or you may not see it.")));
	v->id = *DatumGetUUIDP(values[0]);

	protector_check_timezone(v->timezone, "venue timezone");
	v->tz = pg_tzset(v->timezone);
	if (v->tz == NULL)
		elog(ERROR, "could not load time zone \"%s\"", v->timezone);
	return v;
}

/*
 * protector.check_operating_hours(p_hours jsonb) returns boolean
 * true, or 22023 saying what is wrong; the CHECK on venues.operating_hours.
 */
PG_FUNCTION_INFO_V1(protector_check_operating_hours);
Datum
protector_check_operating_hours(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("operating_hours must not be null"),
				 errhint("Use {} for a venue open around the clock.")));
	protector_validate_operating_hours(PG_GETARG_JSONB_P(0), "operating_hours");
	PG_RETURN_BOOL(true);
}

/*
 * protector.check_special_hours(p_hours jsonb) returns boolean
 * true for NULL (a closed day) or an array of [open, close] pairs.
 */
PG_FUNCTION_INFO_V1(protector_check_special_hours);
Datum
protector_check_special_hours(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
		protector_validate_day_ranges(PG_GETARG_JSONB_P(0), "special_hours");
	PG_RETURN_BOOL(true);
}

/*
 * protector.is_venue_open(p_venue_id uuid, p_at timestamptz default now())
 * returns boolean
 *
 * Open at p_at by its weekly hours in its own time zone, unless a closure
 * or special hours say otherwise; an inactive or deleted venue is never
 * open.  A range that opens late runs on past midnight.
 */
PG_FUNCTION_INFO_V1(protector_is_venue_open);
Datum
protector_is_venue_open(PG_FUNCTION_ARGS)
{
	VenueHours *v = load_venue(fcinfo, 0);
	TimestampTz at;
	int			day;
	OpenInterval *iv;
	int			n;

	protector_require_arg(fcinfo, 1, "p_at");
	at = PG_GETARG_TIMESTAMPTZ(1);
	/* (a time of the years 1 to 9999, UTC: its local days exist in any zone) */
	if (TIMESTAMP_NOT_FINITE(at) ||
		at < (TimestampTz) (date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY ||
		at >= (TimestampTz) (date2j(10000, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_DATETIME_OVERFLOW),
				 errmsg("p_at must be a finite time between the years 1 and 9999")));
	if (!v->open_for_business)
		PG_RETURN_BOOL(false);

	day = protector_local_day(at, v->tz);
	/* the day before may have opened a range that is still running */
	iv = protector_open_intervals(&v->id, v->tz, v->hours, day - 1, day, &n);
	for (int i = 0; i < n; i++)
	{
		if (iv[i].kind != OPEN_CLOSED && iv[i].open <= at && at < iv[i].close)
			PG_RETURN_BOOL(true);
	}
	PG_RETURN_BOOL(false);
}

/*
 * Openings by day, then opening and closing time: a day's ranges come as
 * written, and a schedule of ["13:00","18:00"],["09:00","12:00"] listed
 * the afternoon first (an attack review of special values)
 */
static int
compare_openings(const void *a, const void *b)
{
	const OpenInterval *x = (const OpenInterval *) a;
	const OpenInterval *y = (const OpenInterval *) b;

	if (x->local_day != y->local_day)
		return x->local_day < y->local_day ? -1 : 1;
	if (x->open != y->open)
		return x->open < y->open ? -1 : 1;
	if (x->close != y->close)
		return x->close < y->close ? -1 : 1;
	return 0;
}

/*
 * protector.get_venue_schedule(p_venue_id uuid, p_from date,
 *		p_to date default null)
 * returns table (local_date date, opens_at timestamptz, closes_at
 *				  timestamptz, kind text)
 *
 * One row per opening whose local day is in [p_from, p_to] (p_to defaults
 * to p_from + 6, or 9999-12-31 if that comes first); kind is weekly, always (open around the clock), special
 * (special hours of that date) or closed (a closure; no times).  Days
 * without any opening have no row, nor has an inactive or deleted venue
 * (is_venue_open agrees).
 */
PG_FUNCTION_INFO_V1(protector_get_venue_schedule);
Datum
protector_get_venue_schedule(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const char *const kinds[] = {"weekly", "always", "special", "closed"};
	VenueHours *v = load_venue(fcinfo, 0);
	DateADT		from_day,
				to_day;
	OpenInterval *iv;
	int			n;

	/* no p_from: the venue's own today (its time zone, not the session's) */
	bool		from_today = PG_ARGISNULL(1);

	from_day = from_today ?
		protector_local_day(GetCurrentTransactionStartTimestamp(), v->tz) :
		PG_GETARG_DATEADT(1);
	if (DATE_NOT_FINITE(from_day))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_DATETIME_OVERFLOW),
				 errmsg("p_from and p_to must be finite dates")));
	to_day = PG_ARGISNULL(2) ? from_day : PG_GETARG_DATEADT(2);
	if (DATE_NOT_FINITE(to_day))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_DATETIME_OVERFLOW),
				 errmsg("p_from and p_to must be finite dates")));
	/*
	 * (the days asked for within the years first: a default p_to, capped
	 * at the last day, came before a p_from past it, which was then blamed
	 * on p_to)
	 */
	protector_check_days(from_day, to_day);
	/* the default week ends with the last day the schedule can answer */
	if (PG_ARGISNULL(2))
		to_day = Min(from_day + 6, date2j(9999, 12, 31) - POSTGRES_EPOCH_JDATE);
	protector_check_day_span(from_day, to_day, MAX_SCHEDULE_DAYS, "schedule", from_today);

	InitMaterializedSRF(fcinfo, 0);
	/* an inactive or deleted venue opens on no day (is_venue_open agrees) */
	if (!v->open_for_business)
		return (Datum) 0;
	iv = protector_open_intervals(&v->id, v->tz, v->hours, from_day, to_day, &n);
	if (n > 1)
		qsort(iv, n, sizeof(OpenInterval), compare_openings);
	for (int i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		/* a range written twice is one opening */
		if (i > 0 && compare_openings(&iv[i - 1], &iv[i]) == 0)
			continue;

		values[0] = DateADTGetDatum(iv[i].local_day);
		if (iv[i].kind == OPEN_CLOSED)
			nulls[1] = nulls[2] = true;
		else
		{
			values[1] = TimestampTzGetDatum(iv[i].open);
			values[2] = TimestampTzGetDatum(iv[i].close);
		}
		values[3] = CStringGetTextDatum(kinds[iv[i].kind]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
