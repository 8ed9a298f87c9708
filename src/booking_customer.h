/*-------------------------------------------------------------------------
 *
 * booking_customer.h
 *	  A booking's customer is neither merged nor erased (booking_customer.c),
 *	  for prepare_booking() (booking_insert.c).
 *
 * src/booking_customer.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_BOOKING_CUSTOMER_H
#define PROTECTOR_BOOKING_CUSTOMER_H

#include "postgres.h"
#include "access/htup.h"
#include "utils/relcache.h"

/*
 * Refuses the row of bookings when its customer is merged into another or
 * erased, once the customer's row is locked FOR KEY SHARE; returns when it
 * is neither, when the row names none, or when it is not there, and for a
 * caller whose row the policies refuse (inserting: a new booking, as the
 * insert policy asks; else a member who may update bookings, or the
 * customer).
 */
extern void protector_check_booking_customer_row(Relation bookings, HeapTuple row, bool inserting);

#endif
