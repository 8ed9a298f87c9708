/*-------------------------------------------------------------------------
 *
 * availability.c
 *	  protector.get_available_slots(): the free slots of a service over a
 *	  range of local dates, and protector.validate_slot(): whether one
 *	  requested start is bookable, with a precise reason when it is not.
 *
 * Both build slots with schedule.c in the venue's time zone and count
 * occupancy with occupancy.c, as the reservation check (reserve.c) does,
 * so what availability offers is exactly what create_booking() accepts.
 * The bookings of the requested days are read
 * in one range scan of the btree on (service_id, lower(during)) (bookings
 * last at most 31 days, which bounds how early an overlapping one
 * starts), so the cost grows with the days asked for, not with the table.
 *
 * src/availability.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"

#include "errors.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "occupancy.h"
#include "schedule.h"
#include "support.h"
#include "timezone.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/rangetypes.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

/* longest date range get_available_slots() answers in one call */
#define MAX_AVAILABILITY_DAYS 93

static ServiceRules *
visible_service(FunctionCallInfo fcinfo, int argno)
{
	pg_uuid_t  *service_id;
	ServiceRules *rules;

	protector_require_arg(fcinfo, argno, "p_service_id");
	service_id = PG_GETARG_UUID_P(argno);
	rules = protector_load_service_rules(service_id);
	/* (worded as every "not found" is: docs/security.md) */
	if (rules == NULL)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_NOT_FOUND),
				 errmsg("service not found"),
				 errdetail("It does not exist, or you may not see it.")));
	if (!rules->active)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("service \"%s\" is not bookable", rules->name),
				 errdetail("The service or its venue is inactive or deleted.")));
	return rules;
}

/* places left in a slot that a party can book */
static int32
remaining_places(ServiceRules *rules, Slot *slot, OccupancyProfile *profile)
{
	int32		busiest = protector_busiest_in(profile, slot->start - rules->buffer_before,
											   slot->end + rules->buffer_after);
	int32		left;

	/* (an exclusive service's profile counts bookings) */
	if (!rules->shared)
		return busiest > 0 ? 0 : rules->max_party;
	left = rules->capacity - busiest;
	/* fewer places than the smallest party: nobody can book them */
	return left >= rules->min_party ? left : 0;
}

/*
 * The moment a service's rules (a start not in the past, min_notice,
 * max_advance) are judged at: the clock's, not the start of the caller's
 * transaction, which in a script's long transaction, a prepared one or a
 * long DO block was minutes old and let it book a slot that had already
 * ended; never before the transaction's start, should the clock step
 * back.  protector_internal.clock_now() in SQL.  A start listed a moment
 * before may be refused only if it passed a rule's bound in between.
 * Occupancy (an expired hold) is still judged at the transaction's start,
 * as the reservation check judges it.
 */
static inline TimestampTz
rules_now(void)
{
	return Max(GetCurrentTimestamp(), GetCurrentTransactionStartTimestamp());
}

/*
 * protector.get_available_slots(p_service_id uuid, p_from date,
 *		p_to date default null, p_include_full boolean default false)
 * returns table (slot_start timestamptz, slot_end timestamptz,
 *				  remaining_capacity integer)
 */
PG_FUNCTION_INFO_V1(protector_get_available_slots);
Datum
protector_get_available_slots(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ServiceRules *rules;
	DateADT		from_day,
				to_day;
	bool		include_full;
	Slot	   *slots;
	int			nslots;
	Occupancy  *occ;
	int			nocc;
	OccupancyProfile profile;

	rules = visible_service(fcinfo, 0);
	protector_require_arg(fcinfo, 1, "p_from");
	from_day = PG_GETARG_DATEADT(1);
	to_day = PG_ARGISNULL(2) ? from_day : PG_GETARG_DATEADT(2);
	include_full = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);

	if (DATE_NOT_FINITE(from_day) || DATE_NOT_FINITE(to_day))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_DATETIME_OVERFLOW),
				 errmsg("p_from and p_to must be finite dates")));
	protector_check_days(from_day, to_day);
	protector_check_day_span(from_day, to_day, MAX_AVAILABILITY_DAYS, "availability", false);

	InitMaterializedSRF(fcinfo, 0);

	slots = protector_slots_between(rules, from_day, to_day, rules_now(), true,
									&nslots);
	if (nslots == 0)
		return (Datum) 0;

	occ = protector_load_occupancy(&rules->service_id,
								   slots[0].start - rules->buffer_before,
								   slots[nslots - 1].end + rules->buffer_after,
								   rules->buffer_before, rules->buffer_after, &nocc);
	protector_occupancy_profile(&profile, occ, nocc, !rules->shared);

	for (int i = 0; i < nslots; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		int32		left;

		CHECK_FOR_INTERRUPTS();
		left = remaining_places(rules, &slots[i], &profile);
		if (left <= 0 && !include_full)
			continue;
		values[0] = TimestampTzGetDatum(slots[i].start);
		values[1] = TimestampTzGetDatum(slots[i].end);
		values[2] = Int32GetDatum(left);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* [start, end) as a tstzrange */
static Datum
slot_range(TimestampTz start, TimestampTz end)
{
	TypeCacheEntry *typcache = lookup_type_cache(TSTZRANGEOID, TYPECACHE_RANGE_INFO);
	RangeBound	from = {.val = TimestampTzGetDatum(start), .inclusive = true, .lower = true};
	RangeBound	to = {.val = TimestampTzGetDatum(end)};

	return RangeTypePGetDatum(make_range(typcache, &from, &to, false));
}

/*
 * A length as a person says it, in the largest unit it is a whole number
 * of: "20 hours", "30 seconds" (a limit of 20 hours read "0 days").
 */
static char *
span_text(int64 usecs)
{
	if (usecs % USECS_PER_DAY == 0)
		return psprintf("%lld days", (long long) (usecs / USECS_PER_DAY));
	if (usecs % USECS_PER_HOUR == 0)
		return psprintf("%lld hours", (long long) (usecs / USECS_PER_HOUR));
	if (usecs % USECS_PER_MINUTE == 0)
		return psprintf("%lld minutes", (long long) (usecs / USECS_PER_MINUTE));
	return psprintf("%lld seconds", (long long) ((usecs + USECS_PER_SEC - 1) / USECS_PER_SEC));
}

/* start is not a slot: say which are, from the day's list */
static void
report_not_a_slot(ServiceRules *rules, const char *param, TimestampTz start, int day,
				  TimestampTz now_ts)
{
	int			nslots;
	Slot	   *slots = protector_slots_between(rules, day, day, now_ts, false, &nslots);
	int			before = -1;

	if (nslots == 0 && !protector_day_has_hours(rules, day))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("the venue of service \"%s\" is closed on that day", rules->name),
				 errdetail("Requested %s local time (%s); the venue has no opening hours that day.",
						   protector_local_text(start, rules->timezone), rules->timezone)));
	if (nslots == 0)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("service \"%s\" has no slot on that day", rules->name),
				 errdetail("Requested %s local time (%s); the venue is open that day, but not long enough for a booking of %s.",
						   protector_local_text(start, rules->timezone), rules->timezone,
						   span_text(rules->duration)),
				 errhint("get_available_slots() (get_widget_slots() in the widget) lists the days with slots.")));
	for (int i = 0; i < nslots && slots[i].start < start; i++)
		before = i;
	/*
	 * (times with their offsets: in the hour the clocks go back over, the
	 * slots before and after read the same local time without them)
	 */
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
			 errmsg("%s is not a slot of service \"%s\"", param, rules->name),
			 errdetail("Requested %s local time (%s)%s%s%s%s.",
					   protector_local_text_with_offset(start, rules->timezone), rules->timezone,
					   before >= 0 ? "; the slot before starts " : "",
					   before >= 0 ? protector_local_text_with_offset(slots[before].start, rules->timezone) : "",
					   before + 1 < nslots ? "; the slot after starts " : "",
					   before + 1 < nslots ? protector_local_text_with_offset(slots[before + 1].start, rules->timezone) : ""),
			 errhint("Slots start at opening time and then every slot interval, and must end by closing time; get_available_slots() (get_widget_slots() in the widget) lists them.")));
}

/*
 * a start the service takes, for this party, this far ahead, or an error;
 * party_param names the party as the caller gave it (NULL: the booking's
 * own, which a move or a direct write keeps)
 */
static void
check_start(ServiceRules *rules, const char *param, const char *party_param,
			TimestampTz start, int32 party, TimestampTz now_ts)
{
	if (TIMESTAMP_NOT_FINITE(start))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_DATETIME_OVERFLOW),
				 errmsg("%s must be a finite time", param)));
	if (party < rules->min_party || party > rules->max_party)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 party_param != NULL ?
				 errmsg("%s %d is not allowed for service \"%s\"", party_param, party, rules->name) :
				 errmsg("the booking's party of %d is not allowed for service \"%s\"", party, rules->name),
				 errdetail("The service takes parties of %d to %d.", rules->min_party, rules->max_party),
				 party_param != NULL ? 0 :
				 errhint("A service takes parties from its min_party to its max_party (its capacity without one).")));
	if (start < now_ts)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s is in the past", param),
				 errdetail("Requested %s local time; it is now %s (%s).",
						   protector_local_text(start, rules->timezone),
						   protector_local_text(now_ts, rules->timezone), rules->timezone)));
	if (start < now_ts + rules->min_notice)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s is too soon for service \"%s\"", param, rules->name),
				 errdetail("The service must be booked %s ahead; the earliest start is %s local time (%s).",
						   span_text(rules->min_notice),
						   protector_local_text(now_ts + rules->min_notice, rules->timezone), rules->timezone)));
	if (start > now_ts + rules->max_advance)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s is too far ahead for service \"%s\"", param, rules->name),
				 errdetail("The service can be booked at most %s ahead; the latest start is %s local time (%s).",
						   span_text(rules->max_advance),
						   protector_local_text(now_ts + rules->max_advance, rules->timezone), rules->timezone)));
}

/*
 * protector.validate_slot(p_service_id uuid, p_start timestamptz,
 *		p_party_size integer) returns tstzrange
 *
 * The booking range [p_start, p_start + duration) if a booking of
 * p_party_size may start then; otherwise a 22023/22008 error saying why.
 * Capacity is not checked here: the reservation trigger does that under
 * the service's lock.
 */
PG_FUNCTION_INFO_V1(protector_validate_slot);
Datum
protector_validate_slot(PG_FUNCTION_ARGS)
{
	ServiceRules *rules = visible_service(fcinfo, 0);
	/*
	 * the caller's name for the start: protector_internal.check_slot(),
	 * which checks a booking's own party (a move, a direct write)
	 */
	bool		named = PG_NARGS() > 3 && !PG_ARGISNULL(3) && VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(3)) > 0;
	const char *param = "p_start";
	TimestampTz now_ts = rules_now();
	TimestampTz start;
	int			day;

	/* (a name for messages: a caller's text, clipped as every one is) */
	if (named)
	{
		text	   *name = PG_GETARG_TEXT_PP(3);

		param = protector_clip(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name), 80);
	}
	/* (a column's range, from a direct write: not a parameter, p_...) */
	if (named && strncmp(param, "p_", 2) != 0 && PG_ARGISNULL(1))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s must have a start", param),
				 errdetail("A null or empty range, or one open below, has none.")));
	protector_require_arg(fcinfo, 1, param);
	protector_require_arg(fcinfo, 2, named ? "party_size" : "p_party_size");
	start = PG_GETARG_TIMESTAMPTZ(1);
	check_start(rules, param, named ? NULL : "p_party_size", start, PG_GETARG_INT32(2), now_ts);

	day = protector_local_day(start, protector_rules_tz(rules));
	if (!protector_is_slot_start(rules, start, day))
		report_not_a_slot(rules, param, start, day, now_ts);
	PG_RETURN_DATUM(slot_range(start, start + rules->duration));
}
