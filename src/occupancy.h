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

/*
 * The total present at each instant, as steps, and the windows of slots
 * asked of it in order (protector_busiest_in): the steps that may hold a
 * window's busiest instant, queued by level.
 */
typedef struct OccupancyProfile
{
	TimestampTz *at;			/* where each step starts, ascending */
	int64	   *level;			/* the total from at[k] until at[k + 1] */
	int			nsteps;
	TimestampTz from;			/* the window asked for last */
	TimestampTz to;
	int			next;			/* the first step not queued yet */
	int		   *queue;			/* queued steps, levels decreasing */
	int			head;
	int			tail;
} OccupancyProfile;

extern void protector_occupancy_profile(OccupancyProfile *profile,
										const Occupancy *occ, int n,
										bool count_bookings);
extern int32 protector_busiest_in(OccupancyProfile *profile,
								  TimestampTz from, TimestampTz to);

#endif							/* PROTECTOR_OCCUPANCY_H */
