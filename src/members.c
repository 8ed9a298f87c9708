/*-------------------------------------------------------------------------
 *
 * members.c
 *	  protector_internal.membership_deleted_here(p_organization_id,
 *	  p_user_id): whether this transaction deleted the user's membership
 *	  of the organization.
 *
 * A direct DELETE of members asks its writer's own membership again, as
 * it is now, for each row (lock_member_manager).  A writer found without
 * one either deleted it themselves earlier in the same statement (an admin
 * deleting themselves with others: allowed) or lost it to another
 * transaction while the statement was under way (a fired admin: refused).
 * Both leave no row visible; what tells them apart is who deleted it,
 * read here from the row versions' headers, which no caller can forge (a
 * setting the caller can write could be).  Rows deleted by a
 * subtransaction since rolled back do not count.
 *
 * Only protector's own SECURITY DEFINER code calls it (no grant).
 *
 * src/members.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "support.h"

/* a row version this transaction deleted (not updated, not only locked) */
static bool
deleted_by_this_transaction(TupleTableSlot *slot)
{
	ProtectorRowXmax xmax;

	return protector_row_xmax(slot, &xmax) && xmax.deleted &&
		TransactionIdIsCurrentTransactionId(xmax.updater);
}

PG_FUNCTION_INFO_V1(protector_membership_deleted_here);
Datum
protector_membership_deleted_here(PG_FUNCTION_ARGS)
{
	static const Oid key_types[] = {UUIDOID, UUIDOID};
	static const ProtectorColumn key_list[] = {
		{"organization_id", UUIDOID, false},
		{"user_id", UUIDOID, false},
	};
	static ProtectorColumns key_columns = {.columns = key_list, .ncolumns = lengthof(key_list)};
	Relation	members;
	Relation	index;
	TupleTableSlot *slot;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	bool		deleted = false;

	protector_require_arg(fcinfo, 0, "p_organization_id");
	protector_require_arg(fcinfo, 1, "p_user_id");
	members = table_open(protector_relid("members", false), AccessShareLock);
	if (members->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("protector.members is not a table"),
				 protector_errhint_damaged()));
	index = index_open(protector_unique_index_on(members, 2, protector_columns(&key_columns, members), key_types),
					   AccessShareLock);
	slot = table_slot_create(members, NULL);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ, PG_GETARG_DATUM(0));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_UUID_EQ, PG_GETARG_DATUM(1));
	/* every version of the key's rows, dead or alive */
	scan = index_beginscan(members, index, SnapshotAny, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (!deleted && index_getnext_slot(scan, ForwardScanDirection, slot))
		deleted = deleted_by_this_transaction(slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(members, AccessShareLock);
	PG_RETURN_BOOL(deleted);
}
