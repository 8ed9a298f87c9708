/*-------------------------------------------------------------------------
 *
 * reserve.h
 *	  The reservation check's early refusal (reserve.c), for the BEFORE
 *	  INSERT trigger of protector.bookings (booking_insert.c).
 *
 * src/reserve.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_RESERVE_H
#define PROTECTOR_RESERVE_H

#include "access/htup.h"
#include "utils/relcache.h"

/*
 * Refuses a new booking (the finished row of its last BEFORE INSERT
 * trigger) with reservation_check()'s error when its service has no room
 * for it, where that changes no other answer (see reserve.c); otherwise
 * returns, and reservation_check() checks the stored row as always.
 */
extern void protector_reservation_precheck(Relation bookings, HeapTuple tuple);

#endif
