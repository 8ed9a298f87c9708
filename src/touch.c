/*-------------------------------------------------------------------------
 *
 * touch.c
 *	  protector.set_updated_at(): BEFORE UPDATE row trigger that stamps
 *	  updated_at with the transaction's start time, as now() would.
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

PG_FUNCTION_INFO_V1(protector_set_updated_at);
Datum
protector_set_updated_at(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	int			attnum;
	int			cols[1];
	Datum		values[1];
	bool		nulls[1] = {false};

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("set_updated_at() must be called as a trigger")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("set_updated_at() must be fired BEFORE UPDATE FOR EACH ROW")));

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	attnum = SPI_fnumber(tupdesc, "updated_at");
	if (attnum <= 0 || TupleDescAttr(tupdesc, attnum - 1)->atttypid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table \"%s\" has no column \"updated_at\" of type timestamptz",
						RelationGetRelationName(trigdata->tg_relation))));

	cols[0] = attnum;
	values[0] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_newtuple,
													 tupdesc, 1, cols,
													 values, nulls));
}
