/*-------------------------------------------------------------------------
 *
 * booking_followups.c
 *	  What else a new booking sets off, fired from its one AFTER INSERT
 *	  row trigger (workflow.c) instead of from triggers of their own:
 *	  PostgreSQL parses and compiles every trigger's WHEN clause for every
 *	  INSERT statement, and a booking that needs none of these (most do
 *	  not) should not pay for three.
 *
 *	  - confirmed, with a customer: its reminders
 *	    (protector_internal.make_booking_reminders, sql/84_reminders.sql,
 *	    which sync_booking_reminders calls for a new booking: called here
 *	    without that trigger function in between, a third of what naming
 *	    a customer cost a booking);
 *	  - assigned to an agent, and active: the agent is on shift for all of
 *	    it (shifts.c);
 *	  - inserted in progress: every participant signed the service's
 *	    waiver (protector_internal.require_waivers, sql/83_waivers.sql);
 *	  - with a promo code: the code's use is counted
 *	    (protector_internal.count_promo_use, sql/78_vouchers.sql), here
 *	    and not in the BEFORE INSERT trigger that checks it: an INSERT ...
 *	    ON CONFLICT DO NOTHING runs that one and then may store nothing.
 *
 * Invariant kept: each runs exactly when its own trigger would have, with
 * the same trigger data.  The update triggers stay separate (sql/).
 *
 * src/booking_followups.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "booking_followups.h"
#include "support.h"

extern Datum protector_agent_shift_check(PG_FUNCTION_ARGS);

/* protector_internal.<name>() fired as a trigger function on the same row */
static void
fire_plpgsql(FunctionCallInfo outer, const char *name)
{
	FmgrInfo	flinfo;
	FunctionCallInfo fcinfo = palloc0(SizeForFunctionCallInfo(0));

	fmgr_info(protector_internal_function(name), &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 0, InvalidOid, outer->context, NULL);
	(void) FunctionCallInvoke(fcinfo);
	pfree(fcinfo);
}

/*
 * protector_internal.make_booking_reminders(row, '{}', NULL): what
 * sync_booking_reminders() does for a new booking that is confirmed and
 * has a customer (nothing due now: no reminder was cancelled before).
 * Only for a row of protector.bookings, the function's argument: a table
 * of a user's own the trigger is attached to was told that protector was
 * damaged (no such function for its row type).
 */
static void
make_reminders(FunctionCallInfo outer)
{
	TriggerData *trigdata = (TriggerData *) outer->context;
	Relation	rel = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			argtypes[3] = {desc->tdtypeid, INT4ARRAYOID, INT4ARRAYOID};
	Oid			protector_nsp = get_namespace_oid("protector", true);
	FmgrInfo	flinfo;
	FunctionCallInfo fcinfo = palloc0(SizeForFunctionCallInfo(3));

	if (RelationGetNamespace(rel) != protector_nsp ||
		strcmp(RelationGetRelationName(rel), "bookings") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a confirmed booking with a customer in %s.%s gets no reminders",
						get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel)),
				 errdetail("Reminders are made for rows of protector.bookings only."),
				 errhint("Insert the booking without a customer, or not yet confirmed.")));
	fmgr_info(protector_internal_function_of("make_booking_reminders", 3, argtypes), &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 3, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = heap_copy_tuple_as_datum(trigdata->tg_trigtuple, desc);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = PointerGetDatum(construct_empty_array(INT4OID));
	fcinfo->args[1].isnull = false;
	/* (no offsets of its own: the organization's) */
	fcinfo->args[2].value = (Datum) 0;
	fcinfo->args[2].isnull = true;
	(void) FunctionCallInvoke(fcinfo);
	pfree(fcinfo);
}

void
protector_booking_followups(FunctionCallInfo fcinfo, const char *status, bool has_customer, bool has_agent,
							bool has_promo)
{
	if (has_promo)
		fire_plpgsql(fcinfo, "count_promo_use");
	if (strcmp(status, "confirmed") == 0 && has_customer)
		make_reminders(fcinfo);
	if (has_agent && (strcmp(status, "held") == 0 || strcmp(status, "pending") == 0 ||
					  strcmp(status, "confirmed") == 0 || strcmp(status, "in_progress") == 0))
	{
		FunctionCallInfo inner = palloc0(SizeForFunctionCallInfo(0));

		InitFunctionCallInfoData(*inner, fcinfo->flinfo, 0, InvalidOid, fcinfo->context, NULL);
		(void) protector_agent_shift_check(inner);
		pfree(inner);
	}
	if (strcmp(status, "in_progress") == 0)
		fire_plpgsql(fcinfo, "require_waivers");
}
