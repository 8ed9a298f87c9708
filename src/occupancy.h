/*-------------------------------------------------------------------------
 *
 * occupancy.h
 *	  What occupies a service (occupancy.c): for availability and for the
 *	  reservation check.
 *
 * src/occupancy.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_OCCUPANCY_H
#define PROTECTOR_OCCUPANCY_H

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
extern int	protector_compare_occupancy(const void *a, const void *b);
extern int32 protector_max_occupancy(const Occupancy *occ, int n,
									 TimestampTz from, TimestampTz to);

#endif							/* PROTECTOR_OCCUPANCY_H */
