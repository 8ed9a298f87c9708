/*-------------------------------------------------------------------------
 *
 * restore_snapshot.c
 *	  Whether a restore's load sees every load committed before it drains
 *	  the rows set aside (sql/98_restore.sql).
 *
 * A parallel restore (pg_restore -j) sets aside the rows loaded before
 * what they refer to, and after each table's load inserts those whose
 * references have arrived; one transaction-level lock makes the last load
 * see every other.  That holds only where each statement takes a new
 * snapshot (READ COMMITTED).  Under REPEATABLE READ or SERIALIZABLE (a
 * database's default_transaction_isolation) a load keeps the snapshot of
 * its first statement: the loads committed meanwhile are invisible to it,
 * their set-aside rows were left behind, their deletions of them ended
 * its COPY on a serialization failure, and whole tables came back empty.
 *
 * Invariant: the function answers false exactly when the transaction's
 * snapshot misses a transaction that has committed since it was taken;
 * under READ COMMITTED it is always true.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/snapmgr.h"

/* committed, and invisible to the transaction's snapshot */
static bool
committed_unseen(TransactionId xid, Snapshot latest)
{
	return !TransactionIdIsCurrentTransactionId(xid) &&
		!XidInMVCCSnapshot(xid, latest) &&
		TransactionIdDidCommit(xid);
}

/*
 * protector_internal.restore_snapshot_current() returns boolean
 */
PG_FUNCTION_INFO_V1(protector_restore_snapshot_current);
Datum
protector_restore_snapshot_current(PG_FUNCTION_ARGS)
{
	Snapshot	mine;
	Snapshot	latest;
	TransactionId xid;

	if (!IsolationUsesXactSnapshot())
		PG_RETURN_BOOL(true);
	mine = GetTransactionSnapshot();
	latest = GetLatestSnapshot();
	/* running when the snapshot was taken, committed since */
	for (uint32 i = 0; i < mine->xcnt; i++)
		if (committed_unseen(mine->xip[i], latest))
			PG_RETURN_BOOL(false);
	/* begun after it, committed since */
	xid = mine->xmax;
	while (TransactionIdPrecedes(xid, latest->xmax))
	{
		CHECK_FOR_INTERRUPTS();
		if (committed_unseen(xid, latest))
			PG_RETURN_BOOL(false);
		TransactionIdAdvance(xid);
	}
	PG_RETURN_BOOL(true);
}
