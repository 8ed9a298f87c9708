/*-------------------------------------------------------------------------
 *
 * timezone.h
 *	  Validation of IANA time zone names for venues and organizations.
 *
 * src/timezone.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_TIMEZONE_H
#define PROTECTOR_TIMEZONE_H

extern bool protector_timezone_is_valid(const char *name);
extern void protector_check_timezone(const char *name, const char *param);

#endif							/* PROTECTOR_TIMEZONE_H */
