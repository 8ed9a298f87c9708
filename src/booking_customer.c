/*-------------------------------------------------------------------------
 *
 * booking_customer.c
 *	  A booking's customer is one: not merged into another (its bookings
 *	  moved there; a new one would be lost to the customer's history and
 *	  account) and not erased.  prepare_booking() (booking_insert.c) checks
 *	  a new booking that names a customer, the trigger
 *	  protector_internal.check_booking_customer() a booking given another.
 *
 * Invariant kept: no booking is stored for a customer that its merge or
 * erasure has committed before it.  The customer is read as a statement
 * of its own reads it (under READ COMMITTED what has committed by now,
 * this statement's own earlier changes included) and its row locked FOR
 * KEY SHARE, as the foreign key's check will lock it, so a merge or an
 * erasure running now (both lock the row FOR UPDATE) is waited for; then,
 * under READ COMMITTED, the row's newest version and the erasures
 * committed by then are read; under REPEATABLE READ and SERIALIZABLE a row
 * changed since the snapshot fails the transaction with 40001, as SELECT
 * ... FOR KEY SHARE does.  A customer that is not there (or of another
 * organization) passes: the foreign key says what is wrong.  Only callers
 * whose row the policies may take are checked (a new booking: the desk, or
 * the customer themselves; a changed one: who may update bookings, or the
 * customer):
 * anyone else's row the policies refuse, and locking for them let an
 * outsider, a viewer or another customer wait for the customer's record
 * and learn from the wait that it existed.
 *
 * This was PL/pgSQL (two statements and a SECURITY DEFINER call: 98,000
 * instructions a booking, docs/performance.md); the refusal, which asks
 * the capability map what the caller may learn, still is
 * (protector_internal.refuse_booking_customer()).
 *
 * src/booking_customer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/subtrans.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "booking_customer.h"
#include "capabilities.h"
#include "locks.h"
#include "support.h"

static const TriggerProtocol customer_protocol = {
	.function = "check_booking_customer()",
	.after = false,
	.row_events = PROTECTOR_ON_UPDATE,
	.fired = "BEFORE UPDATE OF customer_id FOR EACH ROW",
	.hint = "It is protector.bookings' own trigger.",
};

/* what the check reads of each table, by name (support.c's column caches) */
enum
{
	CU_ID, CU_ORGANIZATION_ID, CU_MERGED_INTO
};
static const ProtectorColumn customer_column_list[] = {
	[CU_ID] = {"id", UUIDOID},
	[CU_ORGANIZATION_ID] = {"organization_id", UUIDOID},
	[CU_MERGED_INTO] = {"merged_into", UUIDOID},
};
static ProtectorColumns customer_columns = {
	.columns = customer_column_list, .ncolumns = lengthof(customer_column_list)
};

static const ProtectorColumn erasure_column_list[] = {
	{"organization_id", UUIDOID, false},
	{"customer_id", UUIDOID, false},
};
static ProtectorColumns erasure_columns = {
	.columns = erasure_column_list, .ncolumns = lengthof(erasure_column_list)
};

static const ProtectorColumn booking_column_list[] = {
	{"organization_id", UUIDOID, false},
	{"customer_id", UUIDOID, false},
};
static ProtectorColumns booking_columns = {
	.columns = booking_column_list, .ncolumns = lengthof(booking_column_list)
};

/*
 * The tables, and customer_erasures' (organization_id, customer_id) key,
 * found once per backend and again after a relcache invalidation of
 * either table, or for another bookings table (a table of a user's own
 * the trigger is attached to: its siblings are its schema's, and
 * protector's bookings were checked against them after one had fired).
 */
typedef struct CustomerCatalog
{
	bool		valid;
	Oid			bookings;		/* whose siblings these are */
	Oid			customers;
	Oid			erasures;
	Oid			erasures_key;
} CustomerCatalog;

static CustomerCatalog catalog;

static void
customer_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == catalog.customers || relid == catalog.erasures)
	{
		catalog.valid = false;
		catalog.erasures_key = InvalidOid;
	}
}

static void
load_catalog(Relation bookings)
{
	catalog.valid = false;		/* until every lookup below has succeeded */
	catalog.bookings = RelationGetRelid(bookings);
	catalog.customers = protector_sibling_relid(bookings, "customers");
	catalog.erasures = protector_sibling_relid(bookings, "customer_erasures");
	catalog.erasures_key = InvalidOid;	/* found once the table is locked */
	protector_on_relcache_change(customer_relcache_callback);
	catalog.valid = true;
}

static bool
uuid_equal(Datum a, Datum b)
{
	return DatumGetBool(DirectFunctionCall2(uuid_eq, a, b));
}

/* the row in slot is the customer of the organization */
static bool
is_customer(TupleTableSlot *slot, const AttrNumber *columns, Datum org, Datum customer)
{
	return uuid_equal(protector_slot_notnull(slot, columns[CU_ORGANIZATION_ID], "customers"), org) &&
		uuid_equal(protector_slot_notnull(slot, columns[CU_ID], "customers"), customer);
}

/*
 * A snapshot as a statement of its own takes it (as the PL/pgSQL check's
 * statements did): under READ COMMITTED what has committed by now, else
 * the transaction's; both with what this transaction wrote before the
 * caller's CommandCounterIncrement(), this statement's earlier rows
 * included.  Registered.
 */
static Snapshot
statement_snapshot(void)
{
	return RegisterSnapshot(IsolationUsesXactSnapshot() ? GetTransactionSnapshot() : GetLatestSnapshot());
}

/*
 * Locks the row in slot FOR KEY SHARE, waiting for whoever changes it, as
 * ExecLockRows() locks a row of SELECT ... FOR KEY SHARE: with the command
 * id of the snapshot it was read on, and under READ COMMITTED following it
 * to its newest version, which the slot then holds.
 */
static TM_Result
lock_row(Relation rel, TupleTableSlot *slot, Snapshot snapshot, TM_FailureData *tmfd, LockWaitPolicy wait)
{
	ItemPointerData tid = slot->tts_tid;
	uint8		flags = TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS;

	if (!IsolationUsesXactSnapshot())
		flags |= TUPLE_LOCK_FLAG_FIND_LAST_VERSION;
	return table_tuple_lock(rel, &tid, snapshot, slot, snapshot->curcid, LockTupleKeyShare, wait,
							flags, tmfd);
}

typedef struct RowLockWait
{
	Relation	rel;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	TM_FailureData tmfd;
	TM_Result	result;
} RowLockWait;

static void
wait_for_row(void *arg)
{
	RowLockWait *w = (RowLockWait *) arg;

	w->result = lock_row(w->rel, w->slot, w->snapshot, &w->tmfd, LockWaitBlock);
}

/*
 * Another transaction under way holds or changes the row version in slot
 * (its xmax).  Then even a lock that may not wait waits: PostgreSQL
 * follows an update under way to the newer version whatever the wait
 * policy (heap_lock_updated_tuple).  This transaction's own locks do not
 * count.  *holder: that transaction, where it is one (not a MultiXact).
 */
static bool
row_held_by_others(TupleTableSlot *slot, TransactionId *holder)
{
	ProtectorRowXmax xmax;

	*holder = InvalidTransactionId;
	if (!protector_row_xmax(slot, &xmax))
		return true;
	if (xmax.infomask & HEAP_XMAX_INVALID)
		return false;
	if (xmax.infomask & HEAP_XMAX_IS_MULTI)
		return MultiXactIdIsRunning(xmax.raw_xmax, HEAP_XMAX_IS_LOCKED_ONLY(xmax.infomask));
	if (TransactionIdIsCurrentTransactionId(xmax.raw_xmax) || !TransactionIdIsInProgress(xmax.raw_xmax))
		return false;
	/*
	 * (its top transaction, whose lock a wait is for, as XactLockTableWait
	 * waits: a subtransaction's id was looked up in the lock table, where a
	 * prepared transaction keeps its top one's alone, a review)
	 */
	*holder = SubTransGetTopmostTransaction(xmax.raw_xmax);
	return true;
}

/*
 * The lock, at once when no one holds the row, else waiting at most
 * protector.lock_timeout (40001): a guest record held by a desk's change
 * left open made a widget visitor wait without end, under the
 * organization's widget lock, which every other visitor then waited for.
 */
static TM_Result
lock_row_bounded(Relation rel, TupleTableSlot *slot, Snapshot snapshot, TM_FailureData *tmfd)
{
	RowLockWait w = {.rel = rel, .slot = slot, .snapshot = snapshot};
	TM_Result	result = TM_WouldBlock;
	TransactionId holder;

	if (!row_held_by_others(slot, &holder))
		result = lock_row(rel, slot, snapshot, tmfd, LockWaitSkip);
	if (result != TM_WouldBlock)
		return result;
	protector_bounded_wait(wait_for_row, &w, "the customer's record is busy, try again",
						   "A change of the customer's record", RelationGetRelid(rel), holder);
	*tmfd = w.tmfd;
	return w.result;
}

/*
 * Locks the customer's row FOR KEY SHARE and leaves the version the lock
 * holds in slot.  False when there is no such customer of the organization
 * (also: deleted meanwhile, or changed by this very command, where SELECT
 * ... FOR KEY SHARE returns no row).
 */
static bool
lock_customer(Relation customers, Datum org, Datum customer, TupleTableSlot *slot)
{
	Relation	pkey = index_open(protector_primary_key(customers), AccessShareLock);
	const AttrNumber *columns = protector_columns(&customer_columns, customers);
	Snapshot	snapshot = statement_snapshot();
	bool		found = protector_fetch_by_uuid(customers, pkey, customer, snapshot, slot) &&
		is_customer(slot, columns, org, customer);
	TM_FailureData tmfd;
	TM_Result	result = found ? lock_row_bounded(customers, slot, snapshot, &tmfd) : TM_Ok;

	UnregisterSnapshot(snapshot);
	index_close(pkey, NoLock);
	if (!found)
		return false;
	switch (result)
	{
		case TM_Ok:
			break;
		case TM_SelfModified:
			return false;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent %s",
								result == TM_Updated ? "update" : "delete")));
			return false;		/* deleted (READ COMMITTED follows updates) */
		default:
			elog(ERROR, "unexpected table_tuple_lock status: %u", result);
	}
	/* a newer version locked: is it still the customer asked for? */
	return !tmfd.traversed || is_customer(slot, columns, org, customer);
}

/* Has the customer been erased?  Read after the lock's wait. */
static bool
erased(Datum org, Datum customer)
{
	static const Oid key_types[] = {UUIDOID, UUIDOID};
	Relation	erasures = table_open(catalog.erasures, AccessShareLock);
	const AttrNumber *columns = protector_columns(&erasure_columns, erasures);
	Relation	key;
	Snapshot	snapshot = statement_snapshot();
	TupleTableSlot *slot = table_slot_create(erasures, NULL);
	ScanKeyData keys[2];
	IndexScanDesc scan;
	bool		found;

	/* (the table locked: an invalidation since has reset the catalog) */
	if (!OidIsValid(catalog.erasures_key))
		catalog.erasures_key = protector_unique_index_on(erasures, 2, columns, key_types);
	key = index_open(catalog.erasures_key, AccessShareLock);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ, org);
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_UUID_EQ, customer);
	scan = index_beginscan(erasures, key, snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(key, NoLock);
	table_close(erasures, NoLock);
	return found;
}

/*
 * protector_internal.refuse_booking_customer(org, customer, merged_into):
 * raises the refusal the caller may learn (nothing, for a signed-in
 * caller the policies will refuse the booking anyway).
 */
static void
refuse(Datum org, Datum customer, Datum merged_into, bool not_merged)
{
	static const Oid argtypes[] = {UUIDOID, UUIDOID, UUIDOID};
	FmgrInfo	flinfo;
	FunctionCallInfo fcinfo = palloc0(SizeForFunctionCallInfo(3));

	fmgr_info(protector_internal_function_of("refuse_booking_customer", 3, argtypes), &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 3, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = org;
	fcinfo->args[1].value = customer;
	fcinfo->args[2].value = merged_into;
	fcinfo->args[2].isnull = not_merged;
	(void) FunctionCallInvoke(fcinfo);
	pfree(fcinfo);
}

/* the check of a customer the row's organization has */
static void
check_customer_of(Relation bookings, Datum org, Datum customer)
{
	Relation	customers;
	TupleTableSlot *slot;

	if (!catalog.valid || catalog.bookings != RelationGetRelid(bookings))
		load_catalog(bookings);
	/* what this transaction and statement wrote so far counts */
	CommandCounterIncrement();
	/* (the lock mode of SELECT ... FOR KEY SHARE) */
	customers = table_open(catalog.customers, RowShareLock);
	slot = table_slot_create(customers, NULL);
	if (lock_customer(customers, org, customer, slot))
	{
		bool		not_merged;
		/* (in the slot's buffer, pinned until the slot goes) */
		Datum		merged_into = slot_getattr(slot, protector_columns(&customer_columns, customers)[CU_MERGED_INTO],
								   &not_merged);
		if (!not_merged || erased(org, customer))
			refuse(org, customer, merged_into, not_merged);
	}
	ExecDropSingleTupleTableSlot(slot);
	/* the lock on the table stays until the transaction ends, as the foreign key's */
	table_close(customers, NoLock);
}

void
protector_check_booking_customer_row(Relation bookings, HeapTuple row, bool inserting)
{
	const AttrNumber *columns = protector_columns(&booking_columns, bookings);
	bool		no_org,
				no_customer;
	Datum		org = heap_getattr(row, columns[0], RelationGetDescr(bookings), &no_org);
	Datum		customer = heap_getattr(row, columns[1], RelationGetDescr(bookings), &no_customer);

	if (no_org || no_customer)
		return;

	/*
	 * (a new booking only for callers the insert policy lets book for the
	 * customer, a changed one for members who may update bookings, and for
	 * that customer: anyone else's row the policies or guards refuse,
	 * and the key-share lock first taken for it told by its wait whether
	 * the customer existed, to an outsider, a viewer, or a customer naming
	 * another's record)
	 */
	if (protector_caller_may_book_for(inserting ? "bookings.create" : "bookings.update",
									  DatumGetUUIDP(org), DatumGetUUIDP(customer)))
		check_customer_of(bookings, org, customer);
}

PG_FUNCTION_INFO_V1(protector_check_booking_customer);
Datum
protector_check_booking_customer(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = protector_trigger_data(fcinfo, &customer_protocol);

	protector_check_booking_customer_row(trigdata->tg_relation, trigdata->tg_newtuple, false);
	return PointerGetDatum(trigdata->tg_newtuple);
}
