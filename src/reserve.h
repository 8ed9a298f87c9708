/*-------------------------------------------------------------------------
 *
 * reserve.h
 *	  What occupies a service, and the capacity check built on it.
 *
 * src/reserve.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_RESERVE_H
#define PROTECTOR_RESERVE_H

#include "datatype/timestamp.h"
#include "utils/uuid.h"

/* the occupied interval of an existing booking, buffers included */
typedef struct Occupancy
{
	TimestampTz start;
	TimestampTz end;
	int32		party;
} Occupancy;

extern Occupancy *protector_load_occupancy(const pg_uuid_t *service_id,
										   TimestampTz from, TimestampTz to,
										   int64 buffer_before, int64 buffer_after,
										   int *n);
extern int32 protector_max_occupancy(const Occupancy *occ, int n,
									 TimestampTz from, TimestampTz to);

#endif							/* PROTECTOR_RESERVE_H */
