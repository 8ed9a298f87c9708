/*-------------------------------------------------------------------------
 *
 * schedule.h
 *	  Booking rules of a service in its venue's local time: operating
 *	  hours, closures and the slots they offer.
 *
 * src/schedule.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_SCHEDULE_H
#define PROTECTOR_SCHEDULE_H

#include "datatype/timestamp.h"
#include "utils/date.h"
#include "pgtime.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* exact length of an interval: a day is 24 hours, a month 30 days */
extern int64 protector_interval_usecs(const Interval *span);

/* what the availability engine knows of a service and its venue */
typedef struct ServiceRules
{
	pg_uuid_t	service_id;
	pg_uuid_t	venue_id;
	char	   *name;
	bool		shared;			/* mode = shared */
	int32		capacity;
	int32		min_party;
	int32		max_party;		/* max_party, else capacity */
	int64		duration;		/* microseconds */
	int64		buffer_before;
	int64		buffer_after;
	int64		slot_interval;
	int64		min_notice;
	int64		max_advance;
	bool		active;			/* service and venue active, venue not deleted */
	char	   *timezone;
	pg_tz	   *tz;
	Jsonb	   *operating_hours;
} ServiceRules;

/* one bookable slot */
typedef struct Slot
{
	TimestampTz start;
	TimestampTz end;
} Slot;

/* one opening of a venue, see protector_open_intervals() */
typedef enum OpenKind
{
	OPEN_WEEKLY,				/* from operating_hours */
	OPEN_ALWAYS,				/* operating_hours = {}: the whole day */
	OPEN_SPECIAL,				/* special_hours of a closure row */
	OPEN_CLOSED					/* closed all day (open = close = -infinity) */
} OpenKind;

typedef struct OpenInterval
{
	int			local_day;		/* days since 2000-01-01, local */
	TimestampTz open;
	TimestampTz close;
	OpenKind	kind;
} OpenInterval;

extern ServiceRules *protector_load_service_rules(const pg_uuid_t *service_id);
extern pg_tz *protector_rules_tz(ServiceRules *rules);
extern void protector_validate_operating_hours(Jsonb *hours, const char *what);
extern void protector_validate_day_ranges(Jsonb *ranges, const char *what);
extern OpenInterval *protector_open_intervals(const pg_uuid_t *venue_id, pg_tz *tz,
											  Jsonb *hours, int first_day,
											  int last_day, int *n);
extern Slot *protector_slots_between(ServiceRules *rules, int first_local_day,
									 int last_local_day, TimestampTz now,
									 bool apply_notice, int *nslots);
extern bool protector_is_slot_start(ServiceRules *rules, TimestampTz start, int local_day);
extern bool protector_day_has_hours(ServiceRules *rules, int local_day);
extern TimestampTz protector_local_time(int local_day, int minute, pg_tz *tz);
extern TimestampTz protector_local_midnight(int local_day, pg_tz *tz);
extern int	protector_local_day(TimestampTz ts, pg_tz *tz);
extern void protector_check_days(DateADT from_day, DateADT to_day);
extern void protector_check_day_span(DateADT from_day, DateADT to_day, int max_days,
									 const char *what, bool from_today);

#endif							/* PROTECTOR_SCHEDULE_H */
