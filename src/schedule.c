/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  A service's booking rules in its venue's local time: the weekly
 *	  operating hours, date closures and special hours, and the slots they
 *	  offer.  Shared by availability (get_available_slots) and by the
 *	  validation of a requested start (validate_slot), so both always agree.
 *
 * Operating hours are a jsonb object keyed by weekday ("mon" .. "sun"),
 * each an array of [open, close] pairs of "HH:MM" local times; a close at
 * or before the open means the range runs past midnight ("18:00"-"02:00"),
 * "24:00" is midnight at the end of the day.  A day missing from a
 * non-empty object is closed; the empty object {} means open around the
 * clock (then a slot may start at any slot time of the day and run past
 * midnight, but not into a closed day: always_slot_fits()).  A range
 * belongs to the day it opens on: closing that day (a venue_closures row)
 * closes the range, special hours replace the day's ranges.
 *
 * Slots start at the opening instant of a range and every slot interval
 * after it, in elapsed time, while the slot (without buffers) ends by the
 * closing instant.  Stepping in elapsed time keeps slots evenly spaced on
 * the days clocks change: on a spring-forward day there is no slot at a
 * local time that does not exist, on a fall-back day the repeated hour
 * has its slots twice.  A range opens the first time its clocks show the
 * opening (in a repeated hour, the earlier) and closes at PostgreSQL's
 * reading of the closing (the later: the generous one); a local time the
 * clocks skip is the jump over it, and a range that then holds no time
 * (inside a spring-forward gap, or on a day the zone skipped,
 * Pacific/Apia's 2011-12-30) is no opening at all.
 *
 * src/schedule.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "errors.h"
#include "schedule.h"
#include "spi_scope.h"
#include "support.h"
#include "timezone.h"

#define MINUTES_PER_DAY 1440
#define MAX_RANGES_PER_DAY 16

typedef struct DayRanges
{
	int			n;
	int			open[MAX_RANGES_PER_DAY];	/* minutes after local midnight */
	int			close[MAX_RANGES_PER_DAY];	/* > open; may exceed 1440 */
} DayRanges;

typedef struct Week
{
	bool		always_open;
	DayRanges	day[7];			/* 0 = Sunday, as j2day() */
} Week;

static const char *const weekday_keys[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static SPIPlanPtr rules_plan = NULL;
static SPIPlanPtr closures_plan = NULL;

int64
protector_interval_usecs(const Interval *span)
{
	return span->time +
		((int64) span->day + (int64) span->month * DAYS_PER_MONTH) * USECS_PER_DAY;
}

/* ---------- operating hours ---------- */

static int
parse_hhmm(JsonbValue *v, const char *what, const char *day)
{
	char		buf[8];
	int			h,
				m;

	if (v->type != jbvString || v->val.string.len != 5)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s: times of \"%s\" must be strings \"HH:MM\"", what, day)));
	memcpy(buf, v->val.string.val, 5);
	buf[5] = '\0';
	if (!isdigit((unsigned char) buf[0]) || !isdigit((unsigned char) buf[1]) || buf[2] != ':' ||
		!isdigit((unsigned char) buf[3]) || !isdigit((unsigned char) buf[4]))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s: \"%s\" of \"%s\" is not a time \"HH:MM\"", what, buf, day)));
	h = (buf[0] - '0') * 10 + (buf[1] - '0');
	m = (buf[3] - '0') * 10 + (buf[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s: \"%s\" of \"%s\" is not a time of day", what, buf, day),
				 errhint("Use 00:00 to 23:59, or 24:00 for the end of the day.")));
	return h * 60 + m;
}

/*
 * What a message about a day's hours names: the week's day (venue
 * operating_hours: "mon"), or a day's own list alone (special_hours).
 */
static const char *
day_subject(const char *what, const char *day)
{
	return strcmp(what, day) == 0 ? what : psprintf("%s: \"%s\"", what, day);
}

/*
 * 22023 for a day's hours that are no list of [open, close] pairs, with an
 * example of the form asked for: a day's own list (special hours, what ==
 * day) or a week of them.
 */
static void
refuse_day_ranges(const char *what, const char *day)
{
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
			 errmsg("%s must be an array of [open, close] pairs", day_subject(what, day)),
			 strcmp(what, day) == 0 ?
			 errhint("Example: [[\"09:00\", \"12:00\"], [\"13:00\", \"18:00\"]].") :
			 errhint("Example: {\"mon\": [[\"09:00\", \"12:00\"], [\"13:00\", \"18:00\"]]}.")));
}

/*
 * Parses an array of [open, close] pairs into *out; raises 22023 with the
 * day's name for anything else.
 */
static void
parse_day_ranges(JsonbContainer *array, const char *what, const char *day,
				 DayRanges *out)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;
	int			nvals = 0;
	int			vals[2] = {0, 0};

	out->n = 0;
	if (!JsonContainerIsArray(array) || JsonContainerIsScalar(array))
		refuse_day_ranges(what, day);

	it = JsonbIteratorInit(array);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				depth++;
				if (depth == 2)
					nvals = 0;
				else if (depth > 2)
					goto bad_pair;
				break;
			case WJB_END_ARRAY:
				if (depth == 2)
				{
					int			open = vals[0];
					int			close = vals[1];

					if (nvals != 2)
						goto bad_pair;
					if (out->n >= MAX_RANGES_PER_DAY)
						ereport(ERROR,
								(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
								 errmsg("%s has more than %d ranges", day_subject(what, day), MAX_RANGES_PER_DAY)));
					if (open == MINUTES_PER_DAY)
						ereport(ERROR,
								(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
								 errmsg("%s: a range of \"%s\" cannot open at 24:00", what, day)));
					if (close <= open)
						close += MINUTES_PER_DAY;	/* past midnight */
					out->open[out->n] = open;
					out->close[out->n] = close;
					out->n++;
				}
				depth--;
				break;
			case WJB_ELEM:
				if (depth != 2 || nvals >= 2)
					goto bad_pair;
				vals[nvals++] = parse_hhmm(&v, what, day);
				break;
			default:
				goto bad_pair;
		}
	}
	return;

bad_pair:
	refuse_day_ranges(what, day);
}

/* the first top-level key of hours that is no weekday's, cut to quote */
static char *
unknown_weekday_key(Jsonb *hours)
{
	JsonbIterator *it = JsonbIteratorInit(&hours->root);
	JsonbIteratorToken token;
	JsonbValue	v;

	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (token != WJB_KEY)
			continue;
		for (int d = 0; d < 7; d++)
			known |= v.val.string.len == 3 && memcmp(v.val.string.val, weekday_keys[d], 3) == 0;
		if (!known)
			return protector_clip(v.val.string.val, v.val.string.len, 40);
	}
	return pstrdup("?");
}

static void
parse_week(Jsonb *hours, const char *what, Week *week)
{
	JsonbValue	v;
	int			nkeys = 0;

	memset(week, 0, sizeof(Week));
	if (!JB_ROOT_IS_OBJECT(hours))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s must be a JSON object keyed by weekday", what),
				 errhint("Example: {\"mon\": [[\"09:00\", \"17:00\"]], \"sat\": [[\"10:00\", \"02:00\"]]}.")));
	if (JB_ROOT_COUNT(hours) == 0)
	{
		week->always_open = true;
		return;
	}
	for (int d = 0; d < 7; d++)
	{
		JsonbValue *day = getKeyJsonValueFromContainer(&hours->root, weekday_keys[d],
													   3, &v);

		if (day == NULL)
			continue;
		nkeys++;
		if (day->type != jbvBinary)
			ereport(ERROR,
					(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
					 errmsg("%s: \"%s\" must be an array of [open, close] pairs", what, weekday_keys[d])));
		parse_day_ranges(day->val.binary.data, what, weekday_keys[d], &week->day[d]);
	}
	if (nkeys != (int) JB_ROOT_COUNT(hours))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s has a key that is not a weekday", what),
				 errdetail("Got \"%s\".", unknown_weekday_key(hours)),
				 errhint("Use the keys mon, tue, wed, thu, fri, sat and sun.")));
}

/* ---------- local time ---------- */

static int	utc_offset_at(TimestampTz ts, pg_tz *tz);
static int	local_day_of(TimestampTz ts, pg_tz *tz);

/* a test of an instant in zone tz, against arg (a day, an offset, a time) */
typedef bool (*InstantTest) (TimestampTz ts, pg_tz *tz, int64 arg);

static bool
on_local_day(TimestampTz ts, pg_tz *tz, int64 local_day)
{
	return local_day_of(ts, tz) == local_day;
}

static bool
at_offset(TimestampTz ts, pg_tz *tz, int64 offset)
{
	return utc_offset_at(ts, tz) == offset;
}

/*
 * The earliest of the quarter hours in the three hours before later at
 * which test holds, else later.  (Offsets move by whole quarter hours
 * since 1970, so an earlier reading of a local time falls on one.)
 */
static TimestampTz
earliest_quarter_hour(TimestampTz later, InstantTest test, pg_tz *tz, int64 arg)
{
	for (int k = 12; k >= 1; k--)
	{
		TimestampTz t = later - k * 15 * USECS_PER_MINUTE;

		if (test(t, tz, arg))
			return t;
	}
	return later;
}

/*
 * Where test turns true in (before, at], test false at before and true
 * at at: found to the second (offsets change on whole seconds).
 */
static TimestampTz
bisect_to_second(TimestampTz before, TimestampTz at, InstantTest test, pg_tz *tz, int64 arg)
{
	while (at - before > USECS_PER_SEC)
	{
		TimestampTz mid = before + (at - before) / 2;

		mid -= ((mid % USECS_PER_SEC) + USECS_PER_SEC) % USECS_PER_SEC;	/* down to the second */
		if (mid <= before)
			break;
		if (test(mid, tz, arg))
			at = mid;
		else
			before = mid;
	}
	return at;
}

/*
 * A local time as PostgreSQL reads it: one the clocks pass twice (going
 * back) as its later instant, one they skip with the offset before the
 * jump.
 */
static TimestampTz
local_time_read(int local_day, int minute, pg_tz *tz)
{
	struct pg_tm tm;
	int			tzoff;
	Timestamp	result;

	memset(&tm, 0, sizeof(tm));
	j2date(local_day + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	tm.tm_hour = minute / 60;
	tm.tm_min = minute % 60;
	tzoff = DetermineTimeZoneOffset(&tm, tz);
	if (tm2timestamp(&tm, 0, &tzoff, &result) != 0)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_DATETIME_OVERFLOW),
				 errmsg("date out of range for bookings")));
	return result;
}

/*
 * Minute minute (0 .. 1440 and on) of a local day: read as PostgreSQL
 * reads it, but a day's boundary (00:00, and "24:00", the next day's
 * 00:00) is the first instant of the day (protector_local_midnight): in a
 * zone whose clocks go back over midnight, PostgreSQL's later 00:00 made
 * a Saturday open until 01:00 of Sunday and Sunday's hours begin an hour
 * late (Atlantic/Azores, America/Havana).
 */
TimestampTz
protector_local_time(int local_day, int minute, pg_tz *tz)
{
	local_day += minute / MINUTES_PER_DAY;
	minute %= MINUTES_PER_DAY;
	if (minute == 0)
		return protector_local_midnight(local_day, tz);
	return local_time_read(local_day, minute, tz);
}

/* the local time the clock shows at ts, in microseconds from the local days' epoch */
static int64
local_usecs(TimestampTz ts, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;

	if (timestamp2tm(ts, &tzoff, &tm, &fsec, NULL, tz) != 0)
		return PG_INT64_MIN;
	return ((int64) (date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE) * SECS_PER_DAY +
			tm.tm_hour * SECS_PER_HOUR + tm.tm_min * SECS_PER_MINUTE + tm.tm_sec) * USECS_PER_SEC + fsec;
}

/* minute of local_day as local_usecs() counts it */
static int64
local_minute_usecs(int local_day, int minute)
{
	return ((int64) local_day * MINUTES_PER_DAY + minute) * USECS_PER_MINUTE;
}

/* does the clock show the local time asked (local_minute_usecs) at ts? */
static bool
shows(TimestampTz ts, pg_tz *tz, int64 asked)
{
	return local_usecs(ts, tz) == asked;
}

/*
 * The instant the clocks jumped over minute of local_day, a time they
 * never showed (a spring-forward gap).  PostgreSQL reads such a time
 * (read) with the offset before the jump: as long after the jump as the
 * time lies after the gap's start, so a range 02:10-02:50 where 02:00
 * jumps to 03:00 opened 03:10-03:50.  The jump lies within the gap's
 * length before read, where the offset turns to read's: found to the
 * second.
 */
static TimestampTz
jump_over(int local_day, int minute, TimestampTz read, pg_tz *tz)
{
	int64		shown = local_usecs(read, tz);
	int64		asked = local_minute_usecs(local_day, minute);

	if (shown == PG_INT64_MIN || shown <= asked)
		return read;
	return bisect_to_second(read - (shown - asked), read, at_offset, tz, utc_offset_at(read, tz));
}

/*
 * Minute minute (0 .. 1440 and on) of a local day as a range's end: as
 * protector_local_time() reads it, but a time the clocks never showed is
 * the jump over it, and an opening in an hour they pass twice is its
 * first reading (a closing keeps the later: the generous one).  Only
 * where the clocks changed in the day before (a jump may be a whole day:
 * Pacific/Apia's), or for an opening in the three hours before, is more
 * asked.
 */
static TimestampTz
local_reading(int local_day, int minute, bool opening, pg_tz *tz)
{
	TimestampTz later = protector_local_time(local_day, minute, tz);
	int			offset;

	local_day += minute / MINUTES_PER_DAY;
	minute %= MINUTES_PER_DAY;
	/* (midnight is its day's first instant already) */
	offset = utc_offset_at(later, tz);
	if (minute == 0 || offset == INT_MIN)
		return later;
	if (offset != utc_offset_at(later - 25 * USECS_PER_HOUR, tz) &&
		!shows(later, tz, local_minute_usecs(local_day, minute)))
		return jump_over(local_day, minute, later, tz);
	/*
	 * (an opening in an hour the clocks pass twice: its first reading, as
	 * protector_local_midnight() looks for an earlier midnight; a venue
	 * opening at 02:30 on the night Berlin goes back opened an hour late)
	 */
	if (opening && offset != utc_offset_at(later - 3 * USECS_PER_HOUR, tz))
		return earliest_quarter_hour(later, shows, tz, local_minute_usecs(local_day, minute));
	return later;
}

/*
 * Range r of ranges, of local_day, as instants: false when it holds no
 * time, inside a spring-forward gap (02:10-02:50 where 02:00 jumps to
 * 03:00: both ends are the jump) or on a day the zone skipped, whose
 * times PostgreSQL reads as the next day's (Pacific/Apia's Friday hours on
 * 2011-12-30 opened the closed Saturday).
 */
static bool
range_instants(const DayRanges *ranges, int r, int local_day, pg_tz *tz,
			   TimestampTz *open, TimestampTz *close)
{
	*open = local_reading(local_day, ranges->open[r], true, tz);
	*close = local_reading(local_day, ranges->close[r], false, tz);
	return *open < *close && local_day_of(*open, tz) == local_day;
}

/* the offset from UTC at ts, or INT_MIN at the edge of the range */
static int
utc_offset_at(TimestampTz ts, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;

	if (timestamp2tm(ts, &tzoff, &tm, &fsec, NULL, tz) != 0)
		return INT_MIN;
	return tzoff;
}

/* the local day of ts, or INT_MIN at the edge of the range */
static int
local_day_of(TimestampTz ts, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;

	if (timestamp2tm(ts, &tzoff, &tm, &fsec, NULL, tz) != 0)
		return INT_MIN;
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
}

int
protector_local_day(TimestampTz ts, pg_tz *tz)
{
	int			day = local_day_of(ts, tz);

	if (day == INT_MIN)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_DATETIME_OVERFLOW),
				 errmsg("timestamp out of range")));
	return day;
}

/*
 * The first instant of a local day: the first whose local date is the
 * day.  protector_local_time(), as PostgreSQL does, reads a local time the
 * clocks pass twice (going back) as its later instant, and one they skip
 * with the offset before the jump; so a day whose midnight is passed twice
 * (America/Havana, Atlantic/Azores: back from 01:00 to 00:00) would begin
 * an hour late, one whose clocks go back over midnight just after it began
 * (America/St_Johns: from 00:01 back to 23:01) two hours late, and one
 * whose clocks jump over midnight (America/Toronto in 1919: 23:30 to
 * 00:30) half an hour late.  So the three hours before PostgreSQL's
 * reading are looked at in quarter hours (offsets move by whole quarter
 * hours since 1970, so an earlier midnight falls on one), the earliest on
 * the day is taken, and the change of day before it is found to the second
 * (offsets change on whole seconds).  A day the zone skipped altogether
 * (Pacific/Apia, 2011-12-30) begins where the next one does.
 */
TimestampTz
protector_local_midnight(int local_day, pg_tz *tz)
{
	TimestampTz later = local_time_read(local_day, 0, tz);
	TimestampTz on_day;
	int			offset = utc_offset_at(later, tz);

	/* no change of offset in the three hours before: PostgreSQL's reading */
	if (offset != INT_MIN && offset == utc_offset_at(later - 3 * USECS_PER_HOUR, tz))
		return later;
	on_day = earliest_quarter_hour(later, on_local_day, tz, local_day);
	/* the change of day lies in (on_day - 15 minutes, on_day] */
	return bisect_to_second(on_day - 15 * USECS_PER_MINUTE, on_day, on_local_day, tz, local_day);
}

/* ---------- service rules ---------- */

#define RULES_SQL \
	"SELECT s.name::pg_catalog.text, s.mode OPERATOR(pg_catalog.=) 'shared'::protector.service_mode," \
	"       s.capacity, s.min_party, COALESCE(s.max_party, s.capacity), s.duration::pg_catalog.interval," \
	"       s.buffer_before::pg_catalog.interval, s.buffer_after::pg_catalog.interval," \
	"       s.slot_interval::pg_catalog.interval, s.min_notice::pg_catalog.interval," \
	"       s.max_advance::pg_catalog.interval, s.active AND v.active AND v.deleted_at IS NULL," \
	"       v.timezone::pg_catalog.text, v.operating_hours::pg_catalog.jsonb, v.id::pg_catalog.uuid" \
	"  FROM protector.services s" \
	"  JOIN protector.venues v ON v.id OPERATOR(pg_catalog.=) s.venue_id" \
	" WHERE s.id OPERATOR(pg_catalog.=) $1"

static void
copy_service_rules(HeapTuple tup, TupleDesc desc,
				   uint64 row pg_attribute_unused(),
				   uint64 nrows pg_attribute_unused(), void *arg)
{
	ServiceRules *rules = (ServiceRules *) arg;
	bool		isnull;

	/* (of the types the query casts to; a NULL where the schema says NOT NULL is refused) */
	rules->name = TextDatumGetCString(protector_attr_notnull(tup, desc, 1, "services"));
	rules->shared = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	rules->capacity = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	rules->min_party = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	rules->max_party = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
	rules->duration = protector_interval_usecs(DatumGetIntervalP(protector_attr_notnull(tup, desc, 6, "services")));
	rules->buffer_before = protector_interval_usecs(DatumGetIntervalP(protector_attr_notnull(tup, desc, 7, "services")));
	rules->buffer_after = protector_interval_usecs(DatumGetIntervalP(protector_attr_notnull(tup, desc, 8, "services")));
	rules->slot_interval = protector_interval_usecs(DatumGetIntervalP(protector_attr_notnull(tup, desc, 9, "services")));
	rules->min_notice = protector_interval_usecs(DatumGetIntervalP(protector_attr_notnull(tup, desc, 10, "services")));
	rules->max_advance = protector_interval_usecs(DatumGetIntervalP(protector_attr_notnull(tup, desc, 11, "services")));
	rules->active = DatumGetBool(SPI_getbinval(tup, desc, 12, &isnull));
	rules->timezone = TextDatumGetCString(protector_attr_notnull(tup, desc, 13, "venues"));
	rules->operating_hours = DatumGetJsonbPCopy(protector_attr_notnull(tup, desc, 14, "venues"));
	rules->venue_id = *DatumGetUUIDP(protector_attr_notnull(tup, desc, 15, "venues"));
	rules->tz = NULL;
}

/*
 * Loads a service with its venue, under the caller's RLS: a service the
 * caller may not see is "not found".  Returns NULL if there is none.
 */
ServiceRules *
protector_load_service_rules(const pg_uuid_t *service_id)
{
	Oid			argtypes[1] = {UUIDOID};
	ProtectorRead read = {.plan = &rules_plan, .sql = RULES_SQL, .nargs = 1,
		.argtypes = argtypes, .owner_of = NULL, .limit = 1};
	ServiceRules *rules = palloc0(sizeof(ServiceRules));
	Datum		values[1];

	values[0] = UUIDPGetDatum(service_id);
	rules->service_id = *service_id;
	if (protector_read(&read, values, NULL, copy_service_rules, rules) == 0)
	{
		pfree(rules);
		return NULL;
	}
	return rules;
}

/* the venue's zone of a service, checked and loaded once per rules */
pg_tz *
protector_rules_tz(ServiceRules *rules)
{
	if (rules->tz == NULL)
	{
		protector_check_timezone(rules->timezone, "venue timezone");
		rules->tz = pg_tzset(rules->timezone);
		if (rules->tz == NULL)
			elog(ERROR, "could not load time zone \"%s\"", rules->timezone);
	}
	return rules->tz;
}

/* ---------- slots ---------- */

typedef struct DayOverride
{
	int			day;			/* local day, days since 2000-01-01 */
	bool		closed;
	DayRanges	ranges;
} DayOverride;

#define CLOSURES_SQL \
	"SELECT closed_on, closed, special_hours FROM protector.venue_closures" \
	" WHERE venue_id OPERATOR(pg_catalog.=) $1" \
	"   AND closed_on OPERATOR(pg_catalog.>=) $2" \
	"   AND closed_on OPERATOR(pg_catalog.<=) $3"

static void
copy_override(HeapTuple tup, TupleDesc desc, uint64 row, uint64 nrows, void *arg)
{
	DayOverride **result = (DayOverride **) arg;
	DayOverride *o;
	bool		isnull;
	Datum		hours;

	if (row == 0)
		*result = palloc(sizeof(DayOverride) * nrows);
	o = &(*result)[row];
	o->day = DatumGetDateADT(SPI_getbinval(tup, desc, 1, &isnull));
	o->closed = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	o->ranges.n = 0;
	hours = SPI_getbinval(tup, desc, 3, &isnull);
	if (!o->closed && !isnull)
		parse_day_ranges(&DatumGetJsonbP(hours)->root, "special_hours", "special hours", &o->ranges);
}

/* closures are schedule facts, not personal data: read them all */
static DayOverride *
load_overrides(const pg_uuid_t *venue_id, int first_day, int last_day, int *n)
{
	Oid			argtypes[3] = {UUIDOID, DATEOID, DATEOID};
	ProtectorRead read = {.plan = &closures_plan, .sql = CLOSURES_SQL, .nargs = 3,
		.argtypes = argtypes, .owner_of = "venue_closures", .limit = 0};
	Datum		values[3];
	DayOverride *result = NULL;

	values[0] = UUIDPGetDatum(venue_id);
	values[1] = DateADTGetDatum(first_day);
	values[2] = DateADTGetDatum(last_day);
	*n = (int) protector_read(&read, values, NULL, copy_override, &result);
	return result != NULL ? result : palloc(sizeof(DayOverride));
}

static int
compare_slots(const void *a, const void *b)
{
	TimestampTz x = ((const Slot *) a)->start;
	TimestampTz y = ((const Slot *) b)->start;

	return (x > y) - (x < y);
}

/*
 * A service's schedule over a span of local days: its venue's week, the
 * closures and special hours of those days and the day before (whose
 * ranges may run past midnight), and the venue's zone.
 */
typedef struct ScheduleSpan
{
	pg_tz	   *tz;
	Week		week;
	DayOverride *overrides;
	int			noverrides;
	DayRanges	always;			/* the ranges of a venue open around the clock */
	/* always_reach()'s last answer: for the slots of one day at a time */
	int			reach_day;
	TimestampTz reach_close;
	TimestampTz reach;
} ScheduleSpan;

static void
load_span(ServiceRules *rules, int first_local_day, int last_local_day, ScheduleSpan *span)
{
	if (rules->slot_interval <= 0 || rules->duration <= 0)
		elog(ERROR, "service has no positive duration or slot interval");
	span->tz = protector_rules_tz(rules);
	parse_week(rules->operating_hours, "venue operating_hours", &span->week);
	/* (and the days a slot of the last may run into: see slot_fits()) */
	span->overrides = load_overrides(&rules->venue_id, first_local_day - 1,
									 last_local_day + (int) (rules->duration / USECS_PER_DAY) + 2,
									 &span->noverrides);
	span->always.n = 1;
	span->always.open[0] = 0;
	span->always.close[0] = MINUTES_PER_DAY;
	span->reach_close = DT_NOBEGIN;	/* no answer yet */
}

/* a day's opening ranges: its special hours or closure, else the week's */
static DayRanges *
day_ranges(ScheduleSpan *span, int day)
{
	DayRanges  *ranges = span->week.always_open ? &span->always :
		&span->week.day[j2day(day + POSTGRES_EPOCH_JDATE)];

	for (int i = 0; i < span->noverrides; i++)
	{
		if (span->overrides[i].day == day)
			ranges = &span->overrides[i].ranges;	/* closed: n = 0 */
	}
	return ranges;
}

/*
 * Open around the clock, days join: a slot that starts within the day
 * (before close, its midnight) may run past midnight into days open around
 * the clock too, and into a day of special hours only within a range of
 * them that opens at midnight; never into a closed day.  How far that
 * reaches is the same for every slot of the day: found once a day (a
 * 31-day service every minute walked 31 days for each of its slots, 1.4 s
 * of CPU for one anonymous slot list), and at least to close + duration,
 * as far as any slot of the day can end.  Turns false only as t grows, as
 * slot_fits() must.
 */
static TimestampTz
always_reach(const ServiceRules *rules, ScheduleSpan *span, int day, TimestampTz close)
{
	TimestampTz bound = close + rules->duration;

	if (span->reach_close == close && span->reach_day == day)
		return span->reach;
	span->reach_day = day;
	span->reach_close = close;
	for (int d = day + 1; close < bound; d++)
	{
		DayRanges  *next = day_ranges(span, d);

		if (next != &span->always)
		{
			TimestampTz furthest = close;

			/*
			 * (read as the day's slots read their ranges: a closing the
			 * clocks skip is the jump, and a range that holds no time
			 * reaches nowhere)
			 */
			for (int r = 0; r < next->n; r++)
			{
				TimestampTz open;
				TimestampTz end;

				if (next->open[r] == 0 && range_instants(next, r, d, span->tz, &open, &end))
					furthest = Max(furthest, end);
			}
			close = furthest;
			break;
		}
		close = protector_local_time(d, MINUTES_PER_DAY, span->tz);
	}
	span->reach = close;
	return close;
}

static bool
always_slot_fits(const ServiceRules *rules, ScheduleSpan *span, int day, TimestampTz t, TimestampTz close)
{
	return t < close && t + rules->duration <= always_reach(rules, span, day, close);
}

/*
 * Slots start at a range's opening (of local day day) and then every slot
 * interval while they end by its closing; open around the clock, see
 * always_slot_fits().
 */
static bool
slot_fits(const ServiceRules *rules, ScheduleSpan *span, const DayRanges *ranges, int day, TimestampTz t,
		  TimestampTz close)
{
	return ranges == &span->always ? always_slot_fits(rules, span, day, t, close) :
		t + rules->duration <= close;
}

/*
 * All slots of the service whose local start day lies in
 * [first_local_day, last_local_day], sorted and without duplicates.  With
 * apply_notice, only those between now + min_notice and now + max_advance.
 */
Slot *
protector_slots_between(ServiceRules *rules, int first_local_day,
						int last_local_day, TimestampTz now_ts, bool apply_notice,
						int *nslots)
{
	ScheduleSpan span;
	Slot	   *slots;
	int			n = 0;
	int			cap = 64;
	TimestampTz earliest = now_ts + rules->min_notice;
	TimestampTz latest = now_ts + rules->max_advance;

	load_span(rules, first_local_day, last_local_day, &span);
	slots = palloc(sizeof(Slot) * cap);
	for (int day = first_local_day - 1; day <= last_local_day; day++)
	{
		DayRanges  *ranges = day_ranges(&span, day);

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < ranges->n; r++)
		{
			TimestampTz open;
			TimestampTz close;

			if (!range_instants(ranges, r, day, span.tz, &open, &close))
				continue;
			for (TimestampTz t = open; slot_fits(rules, &span, ranges, day, t, close);
				 t += rules->slot_interval)
			{
				int			start_day;

				if (apply_notice && (t < earliest || t > latest))
					continue;
				start_day = protector_local_day(t, span.tz);
				if (start_day < first_local_day || start_day > last_local_day)
					continue;
				protector_grow(slots, cap, n);
				slots[n].start = t;
				slots[n].end = t + rules->duration;
				n++;
			}
		}
	}

	qsort(slots, n, sizeof(Slot), compare_slots);
	if (n > 1)
	{
		int			k = 1;

		for (int i = 1; i < n; i++)
		{
			if (slots[i].start != slots[k - 1].start)
				slots[k++] = slots[i];
		}
		n = k;
	}
	*nslots = n;
	return slots;
}

/*
 * Is start, whose local day is local_day, one of the slots
 * protector_slots_between(rules, local_day, local_day, now, false) lists?
 * The same ranges, each asked whether its walk reaches start (the walk
 * goes on while slot_fits(), which only turns false as it goes) instead
 * of walking it: a booking is checked against one slot, not a day's.
 */
bool
protector_is_slot_start(ServiceRules *rules, TimestampTz start, int local_day)
{
	ScheduleSpan span;

	load_span(rules, local_day, local_day, &span);
	for (int day = local_day - 1; day <= local_day; day++)
	{
		DayRanges  *ranges = day_ranges(&span, day);

		for (int r = 0; r < ranges->n; r++)
		{
			TimestampTz open;
			TimestampTz close;

			if (!range_instants(ranges, r, day, span.tz, &open, &close))
				continue;
			if (start >= open && (start - open) % rules->slot_interval == 0 &&
				slot_fits(rules, &span, ranges, day, start, close))
				return true;
		}
	}
	return false;
}

/*
 * Does the venue open on local_day at all: a range of its own, or one of
 * the day before running past midnight into it?  (A day without slots is
 * closed, or open for less than a booking of the service takes.)
 */
bool
protector_day_has_hours(ServiceRules *rules, int local_day)
{
	ScheduleSpan span;
	TimestampTz open;
	TimestampTz close;

	load_span(rules, local_day, local_day, &span);
	for (int day = local_day - 1; day <= local_day; day++)
	{
		DayRanges  *ranges = day_ranges(&span, day);

		/*
		 * (a range that holds no time is none: the day is closed; nor is
		 * one of the night before that closes as the day begins, at a jump
		 * over its midnight)
		 */
		for (int r = 0; r < ranges->n; r++)
		{
			if ((day == local_day || ranges->close[r] > MINUTES_PER_DAY) &&
				range_instants(ranges, r, day, span.tz, &open, &close) &&
				(day == local_day || close > protector_local_midnight(local_day, span.tz)))
				return true;
		}
	}
	return false;
}

/* ---------- venues ---------- */

/* raises 22023 (naming what) unless hours is a valid operating_hours object */
void
protector_validate_operating_hours(Jsonb *hours, const char *what)
{
	Week		week;

	parse_week(hours, what, &week);
}

/* raises 22023 unless ranges is an array of [open, close] pairs */
void
protector_validate_day_ranges(Jsonb *ranges, const char *what)
{
	DayRanges	out;

	parse_day_ranges(&ranges->root, what, what, &out);
}

/*
 * The venue's opening intervals that open on a local day in [first_day,
 * last_day] (a range belongs to the day it opens on), day by day, a
 * day's ranges as written (get_venue_schedule sorts them; slots sort what
 * they make).  For a venue open around the clock ({}), one interval per
 * day from midnight to midnight.  Closures replace a day's ranges: closed
 * means none.
 */
OpenInterval *
protector_open_intervals(const pg_uuid_t *venue_id, pg_tz *tz, Jsonb *hours,
						 int first_day, int last_day, int *n)
{
	Week		week;
	DayOverride *overrides;
	int			noverrides;
	OpenInterval *result;
	int			cap = 16;

	parse_week(hours, "venue operating_hours", &week);
	overrides = load_overrides(venue_id, first_day, last_day, &noverrides);
	result = palloc(sizeof(OpenInterval) * cap);
	*n = 0;
	for (int day = first_day; day <= last_day; day++)
	{
		DayRanges	always = {1, {0}, {MINUTES_PER_DAY}};
		DayRanges  *ranges = week.always_open ? &always :
			&week.day[j2day(day + POSTGRES_EPOCH_JDATE)];
		bool		special = false;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < noverrides; i++)
		{
			if (overrides[i].day == day)
			{
				ranges = &overrides[i].ranges;
				special = true;
			}
		}
		if (special && ranges->n == 0)
		{
			/* a closure: one interval with open == close marks the day */
			protector_grow(result, cap, *n);
			result[*n].local_day = day;
			result[*n].open = result[*n].close = DT_NOBEGIN;
			result[*n].kind = OPEN_CLOSED;
			(*n)++;
			continue;
		}
		for (int r = 0; r < ranges->n; r++)
		{
			TimestampTz open;
			TimestampTz close;

			if (!range_instants(ranges, r, day, tz, &open, &close))
				continue;
			protector_grow(result, cap, *n);
			result[*n].local_day = day;
			result[*n].open = open;
			result[*n].close = close;
			result[*n].kind = special ? OPEN_SPECIAL :
				(ranges == &always ? OPEN_ALWAYS : OPEN_WEEKLY);
			(*n)++;
		}
	}
	return result;
}

/*
 * a day as messages write it, whatever DateStyle: ISO, "BC" after one
 * before year 1, infinity as PostgreSQL writes it in every style
 */
static char *
iso_day(DateADT day)
{
	int			year,
				month,
				mday;

	if (DATE_NOT_FINITE(day))
		return DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(day)));
	j2date(day + POSTGRES_EPOCH_JDATE, &year, &month, &mday);
	if (year <= 0)
		return psprintf("%04d-%02d-%02d BC", 1 - year, month, mday);
	return psprintf("%04d-%02d-%02d", year, month, mday);
}

/*
 * 22008 naming p_from and p_to unless both are days of the years 1 to 9999,
 * whose local bounds are times PostgreSQL can hold in any zone (a day near
 * the timestamp's end ended in local_time_read's message, naming nothing,
 * or in no answer, by the venue's hours).
 */
void
protector_check_days(DateADT from_day, DateADT to_day)
{
	if (from_day >= date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE && to_day <= date2j(9999, 12, 31) - POSTGRES_EPOCH_JDATE)
		return;
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_DATETIME_OVERFLOW),
			 errmsg("p_from and p_to must be dates between the years 1 and 9999"),
			 errdetail("Got %s to %s.", iso_day(from_day), iso_day(to_day))));
}

/*
 * The range asked of a function of days (p_from to p_to, checked by
 * protector_check_days): in order, and at most max_days of what, naming
 * both days (p_from's default, the venue's today, is the caller's only
 * way to learn which day it was).
 */
void
protector_check_day_span(DateADT from_day, DateADT to_day, int max_days, const char *what, bool from_today)
{
	if (to_day < from_day)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 from_today ?
				 errmsg("p_to must not be before the venue's today, p_from's default") :
				 errmsg("p_to must not be before p_from"),
				 errdetail("p_from is %s, p_to %s.", iso_day(from_day), iso_day(to_day))));
	if ((int64) to_day - from_day + 1 > max_days)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("at most %d days of %s can be asked for at once", max_days, what),
				 errdetail("p_from (%s) to p_to (%s) spans %lld days.", iso_day(from_day), iso_day(to_day),
						   (long long) to_day - from_day + 1),
				 errhint("Ask for the range in pieces.")));
}
