/*-------------------------------------------------------------------------
 *
 * range_scan.h
 *	  The reservation engine's shared mechanics (range_scan.c): reading the
 *	  rows of one key whose time range overlaps an interval through a GiST
 *	  index on (uuid key, tstzrange), and judging a conflict under the
 *	  latest snapshot, then the transaction's, as reserve.c (bookings of a
 *	  service) and shifts.c (shifts of a staff member) both do.
 *
 * src/range_scan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_RANGE_SCAN_H
#define PROTECTOR_RANGE_SCAN_H

#include "access/stratnum.h"
#include "datatype/timestamp.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

/* is the heap tuple in slot being updated or deleted by another transaction? */
extern bool protector_slot_being_changed(TupleTableSlot *slot);

/* a GiST index on (uuid key, tstzrange) and its scan-key functions */
typedef struct RangeIndex
{
	Oid			index;
	FmgrInfo	key_eq;
	Oid			key_eq_collation;
	FmgrInfo	overlaps;
	Oid			overlaps_collation;
} RangeIndex;

/* the function of "attribute <strategy> attribute" in the index's opfamily */
extern void protector_index_key_function(Relation index, int attno, StrategyNumber strategy,
										 FmgrInfo *finfo, Oid *collation);

/*
 * Prepares ri for the GiST index indexoid of heap, which must be valid and
 * on (a uuid column, the tstzrange column range_att), and with whole of
 * every row (no predicate: a partial index hides rows from the check):
 * the error of a damaged installation otherwise (for a table of a user's
 * own, what it needs there).
 */
extern void protector_range_index_init(RangeIndex *ri, Relation heap, Oid indexoid,
									   AttrNumber key_att, AttrNumber range_att, bool whole);

/*
 * A service's buffer (column, for the message) read from a row, in
 * microseconds: from 0 to 1 day, as the services table's CHECK says; a row
 * without it (a table of a user's own) is refused, never a wrapped sum.
 */
extern int64 protector_buffer_usecs(Datum interval, const char *column);

/*
 * The bounds of a finite, non-empty tstzrange read from a row (the tables'
 * CHECK constraints say so; anything else is an error).
 */
extern void protector_range_bounds(Datum range, TimestampTz *start, TimestampTz *end);

/* a row of the scan; false stops it */
typedef bool (*RangeVisit) (TupleTableSlot *slot, void *arg);

/*
 * Visits the rows of heap visible in snapshot whose index entry has key
 * and a range overlapping [from, to), except the tuple skip (the row being
 * checked: passed over without a heap visit).  GiST answers may be lossy:
 * visit rechecks what it relies on.
 */
extern void protector_range_scan(Relation heap, const RangeIndex *ri, Datum key,
								 TimestampTz from, TimestampTz to, Snapshot snapshot,
								 ItemPointer skip, RangeVisit visit, void *arg);

/* a check run under a snapshot: true when the row conflicts */
typedef bool (*RangeCheck) (Snapshot snapshot, void *arg);

typedef enum RangeVerdict
{
	RANGE_FREE,					/* no conflict */
	RANGE_CONFLICT,				/* a conflict the transaction can see */
	RANGE_RETRY					/* a conflict committed after its snapshot */
} RangeVerdict;

/*
 * The engine's protocol, once the caller holds the key's lock: the check
 * under the latest snapshot (after CommandCounterIncrement, so it sees
 * everything committed before the lock was granted and the transaction's
 * own work); a conflict there that the transaction snapshot does not see
 * (REPEATABLE READ, SERIALIZABLE) asks for a retry (40001), never lets the
 * row slip through.  check's arg holds what the first run found.
 */
extern RangeVerdict protector_range_verdict(RangeCheck check, void *arg, RangeCheck recheck, void *rearg);

#endif							/* PROTECTOR_RANGE_SCAN_H */
