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

/*
 * Would a booking's range pass bookings_during_check and
 * bookings_length_check: not empty, "[)", both bounds finite timestamps,
 * at most 31 days long?  False for a range of another element type.
 */
extern bool protector_during_is_valid(Datum range);

#endif
