/*-------------------------------------------------------------------------
 *
 * occupancy.c
 *	  What occupies a service: the occupied intervals of its bookings
 *	  (buffers included), loaded for availability, and the largest party
 *	  total present at any instant of a range: for one range, as the
 *	  reservation check (reserve.c) asks it, and for the windows of a
 *	  list of slots in order, from the total's steps built once
 *	  (availability.c).
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
#include "miscadmin.h"
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
	ProtectorRead read = {.plan = &occupancy_plan, .sql = OCCUPANCY_SQL, .nargs = 3,
		.argtypes = argtypes, .owner_of = "bookings", .limit = 0};
	OccupancyCopy out = {buffer_before, buffer_after, NULL};
	Datum		values[3];

	values[0] = UUIDPGetDatum(service_id);
	/* occupied intervals overlap [from, to) iff during overlaps this */
	values[1] = TimestampTzGetDatum(from - buffer_after);
	values[2] = TimestampTzGetDatum(to + buffer_before);
	*n = (int) protector_read(&read, values, NULL, copy_occupancy, &out);
	return out.result != NULL ? out.result : palloc(sizeof(Occupancy));
}

/* an occupied interval's end and party, for the sweep */
typedef struct OccupancyEnd
{
	TimestampTz end;
	int32		party;
} OccupancyEnd;

/* below this many intervals, counting each instant pairwise is cheaper */
#define OCCUPANCY_SWEEP_MIN 32

static int
compare_end(const void *a, const void *b)
{
	TimestampTz x = ((const OccupancyEnd *) a)->end;
	TimestampTz y = ((const OccupancyEnd *) b)->end;

	return (x > y) - (x < y);
}

/*
 * n^2: the maximum is reached at from or at the start of some interval,
 * and each candidate instant sums the intervals present there
 */
static int64
pairwise_max(const Occupancy *occ, int n, TimestampTz from, TimestampTz to)
{
	int64		best = 0;

	for (int i = -1; i < n; i++)
	{
		TimestampTz p;
		int64		sum = 0;

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

/*
 * n log n: the intervals present in [from, to) arrive in order of start
 * (from, for those that started before it), and before each arrives, every
 * one that ended by its start leaves (their ends sorted); the total after
 * each arrival is the total at that instant, or on the way to it when
 * several start together.  (A shared service with tens of thousands of
 * bookings in an hour took seconds a slot, and a cancel waited for them.)
 */
static int64
sweep_max(const Occupancy *occ, int n, TimestampTz from, TimestampTz to)
{
	OccupancyEnd *ends = palloc(sizeof(OccupancyEnd) * n);
	int			nends = 0;
	int			gone = 0;
	int64		sum = 0;
	int64		best = 0;

	for (int i = 0; i < n && occ[i].start < to; i++)
	{
		if (occ[i].end <= from)
			continue;
		ends[nends].end = occ[i].end;
		ends[nends].party = occ[i].party;
		nends++;
	}
	qsort(ends, nends, sizeof(OccupancyEnd), compare_end);
	for (int i = 0; i < n && occ[i].start < to; i++)
	{
		TimestampTz p = Max(occ[i].start, from);

		if (occ[i].end <= from)
			continue;
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (; gone < nends && ends[gone].end <= p; gone++)
			sum -= ends[gone].party;
		sum += occ[i].party;
		best = Max(best, sum);
	}
	pfree(ends);
	return best;
}

/*
 * The largest total party size present at any instant of [from, to),
 * given occupied intervals sorted by start; summed in 64 bits and at most
 * PG_INT32_MAX, more than any capacity (a user's table without protector's
 * CHECKs can hold parties whose sum overflowed and let a booking in).
 */
int32
protector_max_occupancy(const Occupancy *occ, int n, TimestampTz from,
						TimestampTz to)
{
	int64		best = n < OCCUPANCY_SWEEP_MIN ? pairwise_max(occ, n, from, to) : sweep_max(occ, n, from, to);

	return (int32) Min(best, (int64) PG_INT32_MAX);
}

/* qsort order of occupied intervals: by start */
int
protector_compare_occupancy(const void *a, const void *b)
{
	TimestampTz x = ((const Occupancy *) a)->start;
	TimestampTz y = ((const Occupancy *) b)->start;

	return (x > y) - (x < y);
}

/*
 * Availability asks for the busiest instant of every slot's window, slot
 * after slot: counted afresh for each, a service with thousands of long
 * bookings (a month each, a slot every minute) cost an anonymous visitor
 * seconds of CPU for one list.  The total present changes only where an
 * interval starts or ends, so it is a list of steps, built once; a window
 * is busiest on the highest step it touches, and as windows move forward
 * a queue keeps the steps that can still be the highest of one (each step
 * is queued and dropped once: linear in slots and steps).
 */

/* the steps of intervals sorted by start; count_bookings weighs each as 1 */
void
protector_occupancy_profile(OccupancyProfile *profile, const Occupancy *occ,
							int n, bool count_bookings)
{
	OccupancyEnd *ends = palloc(sizeof(OccupancyEnd) * Max(n, 1));
	int			nends = 0;
	int			started = 0;
	int			ended = 0;
	int64		level = 0;

	for (int i = 0; i < n; i++)
	{
		/* (an empty interval is present at no instant) */
		if (occ[i].end <= occ[i].start)
			continue;
		ends[nends].end = occ[i].end;
		ends[nends].party = count_bookings ? 1 : occ[i].party;
		nends++;
	}
	qsort(ends, nends, sizeof(OccupancyEnd), compare_end);
	memset(profile, 0, sizeof(OccupancyProfile));
	profile->at = palloc(sizeof(TimestampTz) * Max(2 * nends, 1));
	profile->level = palloc(sizeof(int64) * Max(2 * nends, 1));
	profile->queue = palloc(sizeof(int) * Max(2 * nends, 1));
	profile->from = profile->to = DT_NOBEGIN;
	while (ended < nends)
	{
		TimestampTz t = ends[ended].end;

		while (started < n && occ[started].end <= occ[started].start)
			started++;
		if (started < n && occ[started].start < t)
			t = occ[started].start;
		for (; ended < nends && ends[ended].end == t; ended++)
			level -= ends[ended].party;
		for (; started < n && occ[started].start == t; started++)
		{
			if (occ[started].end > t)
				level += count_bookings ? 1 : occ[started].party;
		}
		profile->at[profile->nsteps] = t;
		profile->level[profile->nsteps++] = level;
		if ((profile->nsteps & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(ends);
}

/*
 * The busiest instant of [from, to) as protector_max_occupancy counts it;
 * cheap for windows that only move forward (a window that moves back is
 * counted from the first step again)
 */
int32
protector_busiest_in(OccupancyProfile *profile, TimestampTz from, TimestampTz to)
{
	OccupancyProfile *p = profile;

	if (from < p->from || to < p->to)
		p->next = p->head = p->tail = 0;
	p->from = from;
	p->to = to;
	for (; p->next < p->nsteps && p->at[p->next] < to; p->next++)
	{
		while (p->tail > p->head && p->level[p->queue[p->tail - 1]] <= p->level[p->next])
			p->tail--;
		p->queue[p->tail++] = p->next;
	}
	/* a step lasts until the next one starts (the last one's level is 0) */
	while (p->head < p->tail &&
		   (p->queue[p->head] + 1 == p->nsteps || p->at[p->queue[p->head] + 1] <= from))
		p->head++;
	if (p->head == p->tail)
		return 0;
	return (int32) Min(Max(p->level[p->queue[p->head]], 0), (int64) PG_INT32_MAX);
}
