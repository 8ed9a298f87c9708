/*-------------------------------------------------------------------------
 *
 * touch.c
 *	  protector.set_updated_at(): BEFORE UPDATE row trigger that stamps
 *	  updated_at with the transaction's start time, as now() would.
 *
 * Invariant kept: updated_at moves only when the row changes.  An update
 * that changes nothing (a form saved as it was) keeps the stamp, as the
 * audit trigger writes no row for it: updated_at and the audit log agree
 * on when a row last changed (the dashboards' recent activity reads one or
 * the other).  Stored generated columns are left out of the comparison
 * (not computed yet in a BEFORE trigger, and derived from the others); the
 * BEFORE triggers that fire after this one (by name) change a row only
 * along with a change this one sees (settle_cancellation and
 * wait_for_deposit a status, voucher_balance an amount).
 *
 * Written in C because it fires on every booking update, a hot path.
 *
 * src/touch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "support.h"

/* every column but skip (and stored generated ones) the same in both rows */
static bool
row_unchanged(TupleDesc desc, HeapTuple oldtup, HeapTuple newtup, int skip)
{
	Datum	   *oldv = palloc(sizeof(Datum) * desc->natts);
	Datum	   *newv = palloc(sizeof(Datum) * desc->natts);
	bool	   *oldn = palloc(sizeof(bool) * desc->natts);
	bool	   *newn = palloc(sizeof(bool) * desc->natts);
	bool		same = true;

	heap_deform_tuple(oldtup, desc, oldv, oldn);
	heap_deform_tuple(newtup, desc, newv, newn);
	for (int i = 0; i < desc->natts && same; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated || att->attnum == skip)
			continue;
		same = protector_values_same(oldv[i], oldn[i], newv[i], newn[i], att->attbyval, att->attlen);
	}
	pfree(oldv);
	pfree(newv);
	pfree(oldn);
	pfree(newn);
	return same;
}

static const TriggerProtocol touch_protocol = {
	.function = "set_updated_at()",
	.after = false,
	.row_events = PROTECTOR_ON_UPDATE,
	.fired = "BEFORE UPDATE FOR EACH ROW",
};

PG_FUNCTION_INFO_V1(protector_set_updated_at);
Datum
protector_set_updated_at(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	TupleDesc	tupdesc;
	int			attnum;
	int			cols[1];
	Datum		values[1];
	bool		nulls[1] = {false};

	trigdata = protector_trigger_data(fcinfo, &touch_protocol);
	tupdesc = RelationGetDescr(trigdata->tg_relation);
	attnum = protector_column_required(trigdata->tg_relation, "updated_at", TIMESTAMPTZOID);

	cols[0] = attnum;
	if (row_unchanged(tupdesc, trigdata->tg_trigtuple, trigdata->tg_newtuple, attnum))
		values[0] = heap_getattr(trigdata->tg_trigtuple, attnum, tupdesc, &nulls[0]);
	else						/* (a user's timestamptz(0) rounds it, a domain checks it) */
		values[0] = protector_assign_to_column(trigdata->tg_relation, attnum,
											   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
											   TIMESTAMPTZOID);

	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_newtuple,
													 tupdesc, 1, cols,
													 values, nulls));
}
