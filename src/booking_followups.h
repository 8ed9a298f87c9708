/*-------------------------------------------------------------------------
 *
 * booking_followups.h
 *	  What a new booking sets off beyond its review task
 *	  (booking_followups.c).
 *
 * src/booking_followups.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_BOOKING_FOLLOWUPS_H
#define PROTECTOR_BOOKING_FOLLOWUPS_H

#include "fmgr.h"

/* call from the AFTER INSERT row trigger of bookings, with its fcinfo */
extern void protector_booking_followups(FunctionCallInfo fcinfo, const char *status,
										bool has_customer, bool has_agent, bool has_promo);

#endif							/* PROTECTOR_BOOKING_FOLLOWUPS_H */
