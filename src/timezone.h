/*-------------------------------------------------------------------------
 *
 * timezone.h
 *	  Validation of IANA time zone names for venues and organizations, and
 *	  times written in a venue's local time for messages.
 *
 * src/timezone.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_TIMEZONE_H
#define PROTECTOR_TIMEZONE_H

#include "datatype/timestamp.h"
#include "pgtime.h"

extern bool protector_timezone_is_valid(const char *name);
extern void protector_check_timezone(const char *name, const char *param);
extern char *protector_local_text(TimestampTz ts, const char *tzname);
extern char *protector_local_text_with_offset(TimestampTz ts, const char *tzname);
extern Timestamp protector_local_timestamp(TimestampTz ts, const char *tzname);
extern void protector_local_tm(TimestampTz ts, const char *tzname, struct pg_tm *tm, fsec_t *fsec);

#endif							/* PROTECTOR_TIMEZONE_H */
