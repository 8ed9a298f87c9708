/*-------------------------------------------------------------------------
 *
 * range_scan.c
 *	  The reservation engine's shared mechanics: a GiST probe of the rows
 *	  of one key overlapping an interval, and the verdict of a check under
 *	  the latest snapshot and then the transaction's.
 *
 * Invariant kept: the probe reads the heap directly through the index, as
 * exclusion constraints do (no RLS: a conflict counts rows the caller may
 * not see), and a conflict hidden by a REPEATABLE READ or SERIALIZABLE
 * snapshot ends in 40001, never in a row that slipped through.  Used by
 * reserve.c (bookings of a service) and shifts.c (shifts of a member).
 *
 * src/range_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "storage/bufmgr.h"
#include "storage/procarray.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rangetypes.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "range_scan.h"
#include "support.h"

void
protector_index_key_function(Relation index, int attno, StrategyNumber strategy,
							 FmgrInfo *finfo, Oid *collation)
{
	Oid			opfamily = index->rd_opfamily[attno - 1];
	Oid			opcintype = index->rd_opcintype[attno - 1];
	Oid			opno = get_opfamily_member(opfamily, opcintype, opcintype, strategy);

	if (!OidIsValid(opno))
		elog(ERROR, "missing operator %d(%u,%u) in opfamily %u",
			 strategy, opcintype, opcintype, opfamily);
	fmgr_info_cxt(get_opcode(opno), finfo, TopMemoryContext);
	*collation = index->rd_indcollation[attno - 1];
}

void
protector_range_index_init(RangeIndex *ri, Relation heap, Oid indexoid,
						   AttrNumber key_att, AttrNumber range_att, bool whole)
{
	Relation	index = index_open(indexoid, AccessShareLock);
	Form_pg_index form = index->rd_index;

	/* (an index whose CREATE INDEX CONCURRENTLY failed has no pages to read) */
	if (!form->indisvalid || !form->indisready)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index %s.%s is invalid",
						get_namespace_name(RelationGetNamespace(index)), RelationGetRelationName(index)),
				 errdetail("A CREATE INDEX CONCURRENTLY that failed leaves it so; the overlap check reads it."),
				 errhint("REINDEX INDEX %s.%s;",
						 get_namespace_name(RelationGetNamespace(index)), RelationGetRelationName(index))));
	if (whole && RelationGetIndexPredicate(index) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index %s.%s is partial",
						get_namespace_name(RelationGetNamespace(index)), RelationGetRelationName(index)),
				 errdetail("The overlap check reads every row through it; a predicate hides rows from it."),
				 protector_errhint_table(heap)));
	if (index->rd_rel->relam != GIST_AM_OID || form->indnkeyatts != 2 ||
		form->indrelid != RelationGetRelid(heap) ||
		form->indkey.values[0] != key_att || index->rd_opcintype[0] != UUIDOID ||
		form->indkey.values[1] != range_att)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index %s.%s does not have the columns the overlap check reads",
						get_namespace_name(RelationGetNamespace(index)), RelationGetRelationName(index)),
				 protector_errhint_table(index)));
	ri->index = indexoid;
	protector_index_key_function(index, 1, BTEqualStrategyNumber, &ri->key_eq, &ri->key_eq_collation);
	protector_index_key_function(index, 2, RTOverlapStrategyNumber, &ri->overlaps, &ri->overlaps_collation);
	index_close(index, AccessShareLock);
}

int64
protector_buffer_usecs(Datum interval, const char *column)
{
	Interval   *span = DatumGetIntervalP(interval);
	int64		days;
	int64		usecs;

	/* (as interval comparison counts it: a month is 30 days) */
	if (pg_add_s64_overflow((int64) span->month * DAYS_PER_MONTH, span->day, &days) ||
		pg_mul_s64_overflow(days, USECS_PER_DAY, &usecs) ||
		pg_add_s64_overflow(usecs, span->time, &usecs) ||
		usecs < 0 || usecs > USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("a service's %s must be from 0 to 1 day", column),
				 errdetail("Protector's tables have a CHECK constraint that says so; a row without it was read."),
				 errhint("A table of your own that a trigger of protector's checks needs the same CHECK constraint.")));
	return usecs;
}

void
protector_range_bounds(Datum range, TimestampTz *start, TimestampTz *end)
{
	RangeType  *r = DatumGetRangeTypeP(range);
	TypeCacheEntry *typcache = lookup_type_cache(RangeTypeGetOid(r), TYPECACHE_RANGE_INFO);
	RangeBound	lo,
				hi;
	bool		empty;

	range_deserialize(typcache, r, &lo, &hi, &empty);
	/* (a bound of -infinity or infinity is infinite too: no buffer fits it) */
	if (empty || lo.infinite || hi.infinite ||
		TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(lo.val)) ||
		TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(hi.val)))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("a booking or shift range must be finite and non-empty"),
				 errdetail("Protector's tables have a CHECK constraint that says so; a row without it was read."),
				 errhint("A table of your own that a trigger of protector's checks needs the same CHECK constraint.")));
	*start = DatumGetTimestampTz(lo.val);
	*end = DatumGetTimestampTz(hi.val);
}

/*
 * Is the heap tuple slot holds (fetched through an index scan) being
 * updated or deleted by another transaction still in progress?  A row
 * lock (a foreign key's KEY SHARE) is no change.  xmax is read under the
 * buffer's share lock, as heapam's visibility checks read it.
 */
bool
protector_slot_being_changed(TupleTableSlot *slot)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	HeapTupleHeader tuple;
	TransactionId updater = InvalidTransactionId;

	if (!TTS_IS_BUFFERTUPLE(slot) || !BufferIsValid(bslot->buffer))
		elog(ERROR, "protector_slot_being_changed: not a buffer heap tuple");
	LockBuffer(bslot->buffer, BUFFER_LOCK_SHARE);
	tuple = bslot->base.tuple->t_data;
	if (!(tuple->t_infomask & HEAP_XMAX_INVALID) && !HEAP_XMAX_IS_LOCKED_ONLY(tuple->t_infomask))
		updater = HeapTupleHeaderGetUpdateXid(tuple);
	LockBuffer(bslot->buffer, BUFFER_LOCK_UNLOCK);
	return TransactionIdIsValid(updater) &&
		!TransactionIdIsCurrentTransactionId(updater) &&
		TransactionIdIsInProgress(updater);
}

void
protector_range_scan(Relation heap, const RangeIndex *ri, Datum key,
					 TimestampTz from, TimestampTz to, Snapshot snapshot,
					 ItemPointer skip, RangeVisit visit, void *arg)
{
	TypeCacheEntry *typcache = lookup_type_cache(TSTZRANGEOID, TYPECACHE_RANGE_INFO);
	Relation	index = index_open(ri->index, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	RangeBound	lower_bound,
				upper_bound;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	ItemPointer tid;

	lower_bound.val = TimestampTzGetDatum(from);
	lower_bound.infinite = false;
	lower_bound.inclusive = true;
	lower_bound.lower = true;
	upper_bound.val = TimestampTzGetDatum(to);
	upper_bound.infinite = false;
	upper_bound.inclusive = false;
	upper_bound.lower = false;
	ScanKeyEntryInitializeWithInfo(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
								   ri->key_eq_collation, (FmgrInfo *) &ri->key_eq, key);
	ScanKeyEntryInitializeWithInfo(&keys[1], 0, 2, RTOverlapStrategyNumber, InvalidOid,
								   ri->overlaps_collation, (FmgrInfo *) &ri->overlaps,
								   RangeTypePGetDatum(make_range(typcache, &lower_bound, &upper_bound, false)));

	scan = index_beginscan(heap, index, snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		if ((skip != NULL && ItemPointerEquals(tid, skip)) || !index_fetch_heap(scan, slot))
			continue;
		if (!visit(slot, arg))
			break;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);	/* (locked until the transaction ends) */
}

RangeVerdict
protector_range_verdict(RangeCheck check, void *arg, RangeCheck recheck, void *rearg)
{
	Snapshot	snapshot;
	bool		conflict;

	/* see everything committed before we got the lock, and our own work */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	conflict = check(snapshot, arg);
	UnregisterSnapshot(snapshot);
	if (!conflict)
		return RANGE_FREE;

	/* hidden from our snapshot: a concurrent commit, so retry */
	if (IsolationUsesXactSnapshot())
	{
		snapshot = RegisterSnapshot(GetTransactionSnapshot());
		conflict = recheck(snapshot, rearg);
		UnregisterSnapshot(snapshot);
		if (!conflict)
			return RANGE_RETRY;
	}
	return RANGE_CONFLICT;
}
