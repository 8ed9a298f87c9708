/*-------------------------------------------------------------------------
 *
 * booking_insert.h
 *	  The setting the BEFORE INSERT trigger of protector.bookings reads
 *	  (booking_insert.c), defined by _PG_init (protector.c).
 *
 * src/booking_insert.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_BOOKING_INSERT_H
#define PROTECTOR_BOOKING_INSERT_H

/* protector.promo_code: the code create_booking passes to its insert */
extern char *protector_promo_code;
extern void protector_find_promo_code_setting(void);

#endif
