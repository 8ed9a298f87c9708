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

#include "support.h"

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
	values[0] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_newtuple,
													 tupdesc, 1, cols,
													 values, nulls));
}
