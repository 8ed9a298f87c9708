/*-------------------------------------------------------------------------
 *
 * constraints.h
 *	  The rules of a bookings row (constraints.c) that code reading a row
 *	  before the table's CHECK constraint has run asks about.
 *
 * src/constraints.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_CONSTRAINTS_H
#define PROTECTOR_CONSTRAINTS_H

#include "datatype/timestamp.h"

/*
 * Would a booking's range pass bookings_during_check and
 * bookings_length_check: not empty, "[)", both bounds finite timestamps,
 * at most 31 days long?  False for a range of another element type.
 */
extern bool protector_during_is_valid(Datum range);

/* The longest a booking lasts (bookings_length_check: upper - lower, microseconds) */
#define PROTECTOR_LONGEST_BOOKING_USECS ((int64) 31 * USECS_PER_DAY)

/*
 * The longest a short booking lasts (upper - lower, microseconds).  A
 * longer one is also in bookings_long_during_idx, the GiST index whose
 * predicate is protector_internal.booking_is_long(during): the reservation
 * check finds a booking starting at most this long before a time through
 * the start index, and one starting earlier that still reaches it, long
 * therefore, through that index (reserve.c).  Short bookings, most of
 * them, write no GiST entry.
 */
#define PROTECTOR_SHORT_BOOKING_USECS ((int64) 2 * USECS_PER_HOUR)

#endif
