/*-------------------------------------------------------------------------
 *
 * realtime_call.c
 *	  Supabase Realtime's functions, called as their owner.
 *
 * The broadcast triggers (broadcast_booking_change, broadcast_message)
 * run as protector's owner, a superuser, to read what decides a payload.
 * The functions they call, realtime.broadcast_changes() and
 * realtime.send(), and realtime.messages, which those write, are Supabase
 * Realtime's, and may belong to a role that is no superuser (Supabase
 * gives them to supabase_realtime_admin, of which a project's postgres
 * role may be a member).  Called as protector's owner, whatever that role
 * put into them (the function's body, a trigger on realtime.messages) ran
 * as a superuser on the next booking change.
 *
 * Invariant: code of Supabase Realtime's runs with the rights of a role
 * that owns Realtime's objects, never protector's owner's.  The function,
 * looked up by its exact signature, is called as the one role that is no
 * superuser among the owners of the function, realtime.messages and its
 * partitions (the function's superuser owner otherwise), in a
 * security-restricted operation with settings made inside undone
 * (protector_descend, elevation.c).  Supabase's own layout gives the
 * functions to supabase_admin and the table to supabase_realtime_admin: a
 * trigger on the table ran as the function's superuser owner (a review of
 * the first fix).  Objects of two such roles are refused by name: either
 * could plant code that runs as the other.
 *
 * src/realtime_call.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "elevation.h"
#include "locks.h"
#include "output_style.h"
#include "support.h"

#define REALTIME_MAX_ARGS 8

/* the functions protector calls, by their exact signatures */
typedef struct RealtimeFunction
{
	const char *name;			/* in schema realtime */
	int			nargs;
	Oid			argtypes[REALTIME_MAX_ARGS];
} RealtimeFunction;

#define REALTIME_BROADCAST_CHANGES 0
#define REALTIME_SEND 1

static const RealtimeFunction realtime_functions[] = {
	[REALTIME_BROADCAST_CHANGES] = {"broadcast_changes", 8, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, RECORDOID, RECORDOID, TEXTOID}},
	[REALTIME_SEND] = {"send", 4, {JSONBOID, TEXTOID, TEXTOID, BOOLOID}},
};

/* one call: the function, and the values */
typedef struct RealtimeCall
{
	const RealtimeFunction *function;
	Oid			actualtypes[REALTIME_MAX_ARGS]; /* a record argument's row type */
	Datum		values[REALTIME_MAX_ARGS];
	bool		nulls[REALTIME_MAX_ARGS];
} RealtimeCall;

static Oid
realtime_function(const RealtimeFunction *f)
{
	Oid			funcoid = protector_function_oid_of("realtime", f->name, f->nargs, f->argtypes, true);

	if (!OidIsValid(funcoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("Supabase Realtime's function realtime.%s is missing", f->name),
				 errhint("Run SELECT protector.enable_realtime() again: it broadcasts only where Realtime's functions are there.")));
	return funcoid;
}

/* a function's owner, and whether it runs as its owner */
static Oid
function_owner(Oid funcoid, bool *security_definer)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcoid));
	Form_pg_proc proc;
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", funcoid);
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	owner = proc->proowner;
	*security_definer = proc->prosecdef;
	ReleaseSysCache(tuple);
	return owner;
}

/* owner, where no superuser, as *role; a second such role is refused */
static void
take_owner(Oid owner, Oid *role)
{
	if (superuser_arg(owner) || owner == *role)
		return;
	if (OidIsValid(*role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("Supabase Realtime's objects belong to more than one role that is not a superuser"),
				 errdetail("Roles %s and %s own realtime.messages, its partitions or the functions protector calls.",
						   quote_identifier(GetUserNameFromId(*role, false)),
						   quote_identifier(GetUserNameFromId(owner, false))),
				 errhint("Give them to one role (Supabase's supabase_realtime_admin), or run SELECT protector.disable_realtime().")));
	*role = owner;
}

/*
 * Where relid (realtime.messages or a partition) is a superuser's: can
 * code of a role that is no superuser run in the call's insert?  Yes
 * while a role that is no superuser may add a trigger (TRIGGER granted to
 * it, or to PUBLIC: Supabase grants ALL on the table to postgres), and
 * while the table has a trigger at all: one such a role made stays when
 * TRIGGER is taken back, and what its function or WHEN reaches (another
 * role's function, a domain's CHECK, SQL text run by a superuser's
 * function) cannot be told from the catalog (reviews).  *why says which.
 */
static bool
foreign_code_possible(Oid relid, char **why)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Datum		datum;
	bool		isnull;
	Relation	triggers;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	trigger;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	*why = NULL;
	datum = SysCacheGetAttr(RELOID, tuple, Anum_pg_class_relacl, &isnull);
	if (!isnull)
	{
		Acl		   *acl = DatumGetAclP(datum);
		AclItem    *items = ACL_DAT(acl);

		for (int i = 0; i < ACL_NUM(acl) && *why == NULL; i++)
		{
			/* (ACL_ID_PUBLIC is InvalidOid) */
			if ((ACLITEM_GET_PRIVS(items[i]) & ACL_TRIGGER) && items[i].ai_grantee == ACL_ID_PUBLIC)
				*why = pstrdup("every role may add triggers to it");
			else if ((ACLITEM_GET_PRIVS(items[i]) & ACL_TRIGGER) && !superuser_arg(items[i].ai_grantee))
				*why = psprintf("role %s may add triggers to it",
								quote_identifier(GetUserNameFromId(items[i].ai_grantee, false)));
		}
	}
	ReleaseSysCache(tuple);
	if (*why != NULL)
		return true;

	triggers = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(triggers, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (*why == NULL && HeapTupleIsValid(trigger = systable_getnext(scan)))
	{
		Form_pg_trigger form = (Form_pg_trigger) GETSTRUCT(trigger);

		if (!form->tgisinternal)
			*why = psprintf("it has trigger %s", quote_identifier(NameStr(form->tgname)));
	}
	systable_endscan(scan);
	table_close(triggers, AccessShareLock);
	return *why != NULL;
}

/*
 * The role to call Realtime's functions as: the one that is no superuser
 * among the owners of both functions (broadcast_changes calls send),
 * realtime.messages and its partitions (whose triggers the insert fires),
 * or else the called function's superuser owner.  realtime.messages is
 * locked as the insert locks it, which keeps its name and owner until
 * commit: looked up unlocked, it could be renamed away for the check and
 * back for the insert, which then ran as the superuser (a review).  A
 * superuser's SECURITY DEFINER function beside another role's objects
 * would switch back to the superuser inside the call: refused.  Where
 * all are a superuser's, a trigger on the table, or a role that is no
 * superuser allowed to add one, keeps the change from being broadcast,
 * with a WARNING.  InvalidOid where nothing is broadcast
 * (said in a WARNING).  *funcoid is the called function, each function
 * looked up once (the call looked its own up again).
 */
static Oid
realtime_role(const RealtimeFunction *called, Oid *funcoid)
{
	Oid			messages;
	Oid			role = InvalidOid;
	Oid			superuser_definer = InvalidOid;
	bool		definer;
	List	   *inheritors;
	ListCell   *lc;

	*funcoid = realtime_function(called);
	messages = RangeVarGetRelid(makeRangeVar("realtime", "messages", -1), RowExclusiveLock, true);
	if (!OidIsValid(messages))
	{
		ereport(WARNING,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("Supabase Realtime's table realtime.messages is missing: the change is not broadcast"),
				 errhint("Run SELECT protector.enable_realtime() again once Realtime is back, or SELECT protector.disable_realtime().")));
		return InvalidOid;
	}
	for (int i = 0; i < (int) lengthof(realtime_functions); i++)
	{
		const RealtimeFunction *f = &realtime_functions[i];
		Oid			fn = f == called ? *funcoid : realtime_function(f);
		Oid			owner = function_owner(fn, &definer);

		take_owner(owner, &role);
		if (definer && superuser_arg(owner))
			superuser_definer = fn;
	}
	/*
	 * (every partition locked as the insert locks the one it goes to,
	 * here, where the wait is bounded: waited for inside Realtime's send(),
	 * whose handler turns every error into a WARNING, a lock on today's
	 * partition dropped the broadcast of a committed change; a review.
	 * Which partition a row goes to is the insert's to find: all are
	 * taken, so a lock on an old day's partition makes a change wait too,
	 * as realtime.md says)
	 */
	inheritors = find_all_inheritors(messages, RowExclusiveLock, NULL);
	foreach(lc, inheritors)
		take_owner(protector_relation_owner(lfirst_oid(lc)), &role);
	/* all a superuser's: nobody else may have put code there */
	foreach(lc, OidIsValid(role) ? NIL : inheritors)
	{
		char	   *why;

		if (foreign_code_possible(lfirst_oid(lc), &why))
		{
			ereport(WARNING,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the change is not broadcast: realtime.%s is a superuser's, and %s",
							get_rel_name(lfirst_oid(lc)), why),
					 errdetail("The broadcast would run as the superuser, and so would the code of another role there."),
					 errhint("Give realtime.messages to Realtime's own role (Supabase's supabase_realtime_admin), or drop its triggers and revoke TRIGGER from roles that are no superuser.")));
			return InvalidOid;
		}
	}
	if (OidIsValid(role) && OidIsValid(superuser_definer))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("Supabase Realtime's function %s runs as a superuser beside objects of role %s",
						format_procedure(superuser_definer), quote_identifier(GetUserNameFromId(role, false))),
				 errdetail("A SECURITY DEFINER function of a superuser's would run that role's triggers as the superuser."),
				 errhint("Make it SECURITY INVOKER, or run SELECT protector.disable_realtime().")));
	return OidIsValid(role) ? role : function_owner(*funcoid, &definer);
}

/*
 * The call's expression, for a function that asks the types of its
 * arguments (a PL/pgSQL one taking record does)
 */
static Node *
call_expression(Oid funcoid, const RealtimeCall *call)
{
	List	   *args = NIL;

	for (int i = 0; i < call->function->nargs; i++)
		args = lappend(args, makeNullConst(call->actualtypes[i], -1, InvalidOid));
	return (Node *) makeFuncExpr(funcoid, VOIDOID, args, InvalidOid, InvalidOid,
								 COERCE_EXPLICIT_CALL);
}

static void
call_as_owner_now(void *arg)
{
	const RealtimeCall *call = (const RealtimeCall *) arg;
	Oid			funcoid;
	Oid			role;
	FmgrInfo	flinfo;

	/* cppcheck-suppress unusedStructMember */
	LOCAL_FCINFO(fcinfo, REALTIME_MAX_ARGS);
	ProtectorElevation saved;

	role = realtime_role(call->function, &funcoid);
	if (!OidIsValid(role))
		return;					/* nothing to broadcast to, or not safely (said) */
	fmgr_info(funcoid, &flinfo);
	fmgr_info_set_expr(call_expression(funcoid, call), &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, call->function->nargs, InvalidOid, NULL, NULL);
	for (int i = 0; i < call->function->nargs; i++)
	{
		fcinfo->args[i].value = call->values[i];
		fcinfo->args[i].isnull = call->nulls[i];
		if (call->nulls[i] && flinfo.fn_strict)
			return;				/* a strict function's answer: none */
	}

	protector_descend(role, &saved);
	(void) FunctionCallInvoke(fcinfo);
	protector_ascend(&saved);
}

/*
 * The call, its waits for locks (realtime.messages', its partitions', taken
 * by realtime_role) bounded by protector.lock_timeout like protector's own:
 * a migration or a partition change of Realtime's holding the table made
 * the booking wait without end.  The payload is printed in fixed settings,
 * as the audit log's rows are (output_style.h): Realtime's to_jsonb() of
 * the row wrote "during" in the writer's DateStyle and TimeZone, which a
 * writer under 'Postgres, MDY' and UTC-14 sent 14 hours off (an attack on
 * session settings).
 */
static void
call_as_owner(RealtimeCall *call)
{
	bool		pinned = !protector_output_style_holds(STYLE_CHECKED);
	int			level = pinned ? protector_output_style_begin(false) : 0;

	protector_bounded_wait(call_as_owner_now, call,
						   "Supabase Realtime's table realtime.messages is busy, try again",
						   "Another transaction (a migration, or Realtime changing its partitions)",
						   InvalidOid, InvalidTransactionId);
	if (pinned)
		protector_output_style_end(level);
}

/* argument argno as given, of the function's type (a record with its row type) */
static void
set_argument(RealtimeCall *call, FunctionCallInfo fcinfo, int argno)
{
	Oid			type = call->function->argtypes[argno];

	call->actualtypes[argno] = type;
	call->nulls[argno] = PG_ARGISNULL(argno);
	call->values[argno] = call->nulls[argno] ? (Datum) 0 : PG_GETARG_DATUM(argno);
	if (type == RECORDOID && !call->nulls[argno])
	{
		HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(argno);

		call->values[argno] = PointerGetDatum(row);
		call->actualtypes[argno] = HeapTupleHeaderGetTypeId(row);
	}
}

/*
 * protector_internal.realtime_broadcast_changes(p_topic text, p_event
 * text, p_operation text, p_table text, p_schema text, p_new record,
 * p_old record) returns void: realtime.broadcast_changes(...) at level
 * 'ROW', as its owner.
 */
PG_FUNCTION_INFO_V1(protector_realtime_broadcast_changes);
Datum
protector_realtime_broadcast_changes(PG_FUNCTION_ARGS)
{
	RealtimeCall call = {.function = &realtime_functions[REALTIME_BROADCAST_CHANGES]};
	static const char *const names[] = {"p_topic", "p_event", "p_operation", "p_table", "p_schema"};

	for (int i = 0; i < (int) lengthof(names); i++)
		protector_require_arg(fcinfo, i, names[i]);
	/* the seven given (p_new and p_old may be null), then the level */
	for (int i = 0; i < 7; i++)
		set_argument(&call, fcinfo, i);
	call.actualtypes[7] = TEXTOID;
	call.values[7] = CStringGetTextDatum("ROW");
	call.nulls[7] = false;
	call_as_owner(&call);
	PG_RETURN_VOID();
}

/*
 * protector_internal.realtime_send(p_payload jsonb, p_event text, p_topic
 * text, p_private boolean) returns void: realtime.send(...), as its owner.
 */
PG_FUNCTION_INFO_V1(protector_realtime_send);
Datum
protector_realtime_send(PG_FUNCTION_ARGS)
{
	RealtimeCall call = {.function = &realtime_functions[REALTIME_SEND]};
	static const char *const names[] = {"p_payload", "p_event", "p_topic", "p_private"};

	for (int i = 0; i < (int) lengthof(names); i++)
	{
		protector_require_arg(fcinfo, i, names[i]);
		set_argument(&call, fcinfo, i);
	}
	call_as_owner(&call);
	PG_RETURN_VOID();
}
