/*-------------------------------------------------------------------------
 *
 * occupancy.c
 *	  What occupies a service: the occupied intervals of its bookings
 *	  (buffers included), loaded for availability, and the largest party
 *	  total present at any instant of a range, which both availability
 *	  and the reservation check (reserve.c) compute.
 *
 * Invariant: a booking occupies its service unless it is cancelled, a
 * no-show, or a hold that has expired; its occupied interval is
 * [start - buffer_before, end + buffer_after).
 *
 * src/occupancy.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/timestamp.h"

#include "occupancy.h"
#include "spi_scope.h"

static SPIPlanPtr occupancy_plan = NULL;

/*
 * Availability reads weeks of one service: rather than the GiST index,
 * whose pages interleave services as bookings arrive, it range-scans the
 * btree on (service_id, lower(during)).  Bookings last at most 31 days
 * (bookings_length_check), which bounds how early an overlapping one can
 * start.
 */
#define OCCUPANCY_SQL \
	"SELECT pg_catalog.lower(during), pg_catalog.upper(during), party_size FROM protector.bookings" \
	" WHERE service_id OPERATOR(pg_catalog.=) $1" \
	"   AND pg_catalog.lower(during) OPERATOR(pg_catalog.>=) ($2 OPERATOR(pg_catalog.-) '744 hours'::pg_catalog.interval)" \
	"   AND pg_catalog.lower(during) OPERATOR(pg_catalog.<) $3" \
	"   AND pg_catalog.upper(during) OPERATOR(pg_catalog.>) $2" \
	"   AND status OPERATOR(pg_catalog.<>) ALL ('{cancelled,no_show}'::protector.booking_status[])" \
	"   AND (status OPERATOR(pg_catalog.<>) 'held'::protector.booking_status" \
	"        OR hold_expires_at OPERATOR(pg_catalog.>) pg_catalog.now())" \
	" ORDER BY pg_catalog.lower(during)"

/* occupancy rows: [start - buffer_before, end + buffer_after) and party */
typedef struct OccupancyCopy
{
	int64		buffer_before;
	int64		buffer_after;
	Occupancy  *result;
} OccupancyCopy;

static void
copy_occupancy(HeapTuple tup, TupleDesc desc, uint64 row, uint64 nrows, void *arg)
{
	OccupancyCopy *out = (OccupancyCopy *) arg;
	bool		isnull;

	if (row == 0)
		out->result = palloc(sizeof(Occupancy) * nrows);
	out->result[row].start = DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull)) - out->buffer_before;
	out->result[row].end = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull)) + out->buffer_after;
	out->result[row].party = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
}

/*
 * Loads the occupied intervals ([start - buffer_before, end + buffer_after))
 * of the bookings of a service that overlap [from, to), sorted by start,
 * as the owner of the bookings table (no RLS): availability counts what
 * the caller may not see, without showing it.
 */
Occupancy *
protector_load_occupancy(const pg_uuid_t *service_id, TimestampTz from,
						 TimestampTz to, int64 buffer_before,
						 int64 buffer_after, int *n)
{
	Oid			argtypes[3] = {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	ProtectorRead read = {&occupancy_plan, OCCUPANCY_SQL, 3, argtypes, "bookings", 0};
	OccupancyCopy out = {buffer_before, buffer_after, NULL};
	Datum		values[3];

	values[0] = UUIDPGetDatum(service_id);
	/* occupied intervals overlap [from, to) iff during overlaps this */
	values[1] = TimestampTzGetDatum(from - buffer_after);
	values[2] = TimestampTzGetDatum(to + buffer_before);
	*n = (int) protector_read(&read, values, NULL, copy_occupancy, &out);
	return out.result != NULL ? out.result : palloc(sizeof(Occupancy));
}

/*
 * The largest total party size present at any instant of [from, to),
 * given occupied intervals sorted by start.
 */
int32
protector_max_occupancy(const Occupancy *occ, int n, TimestampTz from,
						TimestampTz to)
{
	int32		best = 0;

	/* the maximum is reached at from or at the start of some interval */
	for (int i = -1; i < n; i++)
	{
		TimestampTz p;
		int32		sum = 0;

		if (i >= 0)
		{
			if (occ[i].start <= from)
				continue;
			if (occ[i].start >= to)
				break;
			p = occ[i].start;
		}
		else
			p = from;

		for (int j = 0; j < n && occ[j].start <= p; j++)
		{
			if (occ[j].end > p)
				sum += occ[j].party;
		}
		best = Max(best, sum);
	}
	return best;
}

/* qsort order of occupied intervals: by start */
int
protector_compare_occupancy(const void *a, const void *b)
{
	TimestampTz x = ((const Occupancy *) a)->start;
	TimestampTz y = ((const Occupancy *) b)->start;

	return (x > y) - (x < y);
}
