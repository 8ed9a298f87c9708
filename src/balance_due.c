/*-------------------------------------------------------------------------
 *
 * balance_due.c
 *	  bookings.balance_due is total_price - amount_paid, kept by protector's
 *	  BEFORE triggers instead of a stored generated column.
 *
 * PostgreSQL parses a stored generated column's expression from its node
 * string and plans it for every INSERT and UPDATE statement of the table
 * (ExecInitModifyTable calls ExecInitStoredGenerated, which calls
 * build_column_default): 28,000 instructions for every booking, 4% of what
 * the reservation engine's insert costs, and as much for every UPDATE of a
 * booking (docs/performance.md).  An ExecutorStart hook cannot hand the
 * statement a compiled expression, as compiled_table.c does for CHECKs:
 * the result relation is made inside ExecInitModifyTable.  A C trigger
 * computes the same value for a few hundred: on INSERT at the end of
 * prepare_booking (booking_insert.c, which must stay the only BEFORE
 * INSERT trigger: the reservation engine refuses early only on its
 * finished row), on UPDATE in zz_balance_due.
 *
 * Invariants:
 *	  - a row leaves with balance_due = total_price - amount_paid as
 *		numeric(12,2) stores it (the column's type modifier applied, as a
 *		generated column's value is); a row that has it already is returned
 *		as it is, not formed again;
 *	  - each runs last among the BEFORE triggers of its event, so it sees
 *		the prices and payments every other one set (zz_balance_due by its
 *		name, which is the order PostgreSQL fires them in); both fire ALWAYS
 *		(imports under session_replication_role = replica, restores of a
 *		dump from 0.1.0, which has no balance_due values);
 *	  - what it cannot see (a trigger disabled, or added after it by name)
 *		the table's CHECK bookings_balance_due_check refuses: a wrong
 *		balance is never stored;
 *	  - while balance_due is still a generated column (the 0.1.0 SQL under
 *		this library, before ALTER EXTENSION UPDATE), rows pass unchanged:
 *		PostgreSQL computes it after the BEFORE triggers.
 *
 * src/balance_due.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/rel.h"

#include "balance_due.h"
#include "support.h"

static const TriggerProtocol balance_protocol = {
	.function = "keep_balance_due()",
	.after = false,
	.row_events = PROTECTOR_ON_UPDATE,
	.fired = "BEFORE UPDATE FOR EACH ROW",
	.hint = "It is protector.bookings' own trigger.",
};

enum
{
	BD_TOTAL, BD_PAID, BD_BALANCE
};
static const ProtectorColumn balance_column_list[] = {
	[BD_TOTAL] = {"total_price", NUMERICOID},
	[BD_PAID] = {"amount_paid", NUMERICOID},
	[BD_BALANCE] = {"balance_due", NUMERICOID},
};
static ProtectorColumns balance_columns = {
	.columns = balance_column_list, .ncolumns = lengthof(balance_column_list)
};

/*
 * The row to store: row itself when it says balance_due = total_price -
 * amount_paid already, when either operand is NULL (their NOT NULL
 * constraints refuse it) or when balance_due is generated; else row with
 * that balance.  Read through slot when it holds row (deformed once for
 * the three columns; heap_getattr walks the row for each), else from row.
 */
HeapTuple
protector_with_balance_due(Relation rel, TupleTableSlot *slot, HeapTuple row)
{
	TupleDesc	desc = RelationGetDescr(rel);
	const AttrNumber *col = protector_columns(&balance_columns, rel);
	Form_pg_attribute balance = TupleDescAttr(desc, col[BD_BALANCE] - 1);
	Datum		value[lengthof(balance_column_list)];
	bool		isnull[lengthof(balance_column_list)];
	Datum		due;
	int			attnum = col[BD_BALANCE];
	bool		due_isnull = false;

	if (balance->attgenerated != '\0')
		return row;
	if (slot != NULL)
		slot_getsomeattrs(slot, Max(Max(col[BD_TOTAL], col[BD_PAID]), col[BD_BALANCE]));
	for (int i = 0; i < (int) lengthof(balance_column_list); i++)
	{
		if (slot == NULL)
			value[i] = heap_getattr(row, col[i], desc, &isnull[i]);
		else
		{
			value[i] = slot->tts_values[col[i] - 1];
			isnull[i] = slot->tts_isnull[col[i] - 1];
		}
	}
	if (isnull[BD_TOTAL] || isnull[BD_PAID])
		return row;
	due = DirectFunctionCall2(numeric_sub, value[BD_TOTAL], value[BD_PAID]);
	if (balance->atttypmod >= 0)
		due = DirectFunctionCall2(numeric, due, Int32GetDatum(balance->atttypmod));
	if (!isnull[BD_BALANCE] && DatumGetBool(DirectFunctionCall2(numeric_eq, value[BD_BALANCE], due)))
		return row;
	return heap_modify_tuple_by_cols(row, desc, 1, &attnum, &due, &due_isnull);
}

PG_FUNCTION_INFO_V1(protector_keep_balance_due);
Datum
protector_keep_balance_due(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = protector_trigger_data(fcinfo, &balance_protocol);

	return PointerGetDatum(protector_with_balance_due(trigdata->tg_relation, trigdata->tg_newslot,
													  trigdata->tg_newtuple));
}
