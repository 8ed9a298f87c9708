/*-------------------------------------------------------------------------
 *
 * booking_insert.c
 *	  protector_internal.prepare_booking(): what a new booking gets before
 *	  it is stored, in one BEFORE INSERT trigger instead of six.
 *
 * In this order, as the triggers it replaces fired (by name):
 *	  0. while restoring (not under session_replication_role = replica):
 *		 the restore's ordering step, which sets aside a row whose
 *		 references have not been loaded yet (restore_order_bookings(),
 *		 sql/98_restore.sql; the a_restore_order trigger of the other
 *		 tables, which cost every booking a WHEN clause compiled per
 *		 statement while no restore ran);
 *	  1. no currency: the service's (default_currency; 'XXX' when there is
 *		 no such service, and the foreign key then says what is wrong);
 *	  1a. not while restoring (nor under replica): the service's venue
 *		 (at_service_venue()); no hold_expires_at but on a hold or a
 *		 cancelled one (hold_expiry_of_new()); finite hold, cancellation
 *		 and deposit times (refuse_infinite_times());
 *	  2. source widget or import: only protector records those
 *		 (guard_booking_source());
 *	  3. a signed-in caller: the booking RPCs' rules (guard_booking_write());
 *		 then, not while restoring, a customer named: neither merged into
 *		 another nor erased (booking_customer.c);
 *	  4. a promo code (promo_code_id, or protector.promo_code set by
 *		 create_booking in this transaction), not while restoring: its discount
 *		 (apply_promo_code());
 *	  5. not while restoring: the service's deposit (require_deposit()).
 *	  6. not while restoring: the reservation check's early refusal of a
 *		 booking its service has no room for (reserve.c), on the finished
 *		 row, so that a refusal stores nothing (for services this backend
 *		 finds contended, and callers row-level security does not apply to);
 *	  7. always: balance_due = total_price - amount_paid (balance_due.c;
 *		 a stored generated column before, parsed for every statement).
 *
 * Under session_replication_role = replica (imports) only steps 1 and 7
 * run, as only default_currency was enabled ALWAYS.
 *
 * Step 0, steps 2 to 4, and step 5 when the service asks for a deposit,
 * call the PL/pgSQL functions the triggers called, with this trigger's
 * data; what every booking pays is one read of its service, and a booking
 * that names a customer the customer's check in C (a locked read of the
 * customer and a probe of its erasure).  Five triggers cost five WHEN clauses
 * parsed from their node strings for every INSERT statement, and
 * require_deposit() read the service in PL/pgSQL for every booking, even
 * when the service has no deposit.
 *
 * src/booking_insert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "balance_due.h"
#include "booking_customer.h"
#include "booking_insert.h"
#include "capabilities.h"
#include "compiled_table.h"
#include "errors.h"
#include "identity.h"
#include "reserve.h"
#include "support.h"

static const TriggerProtocol prepare_protocol = {
	.function = "prepare_booking()",
	.after = false,
	.row_events = PROTECTOR_ON_INSERT,
	.fired = "BEFORE INSERT FOR EACH ROW",
	.hint = "It is protector.bookings' own trigger.",
};

/*
 * What the trigger reads of bookings and services, by name once per
 * backend (and again after a relcache invalidation of either table or the
 * services' primary key).
 */
typedef struct PrepareCatalog
{
	bool		valid;
	Oid			bookings;
	AttrNumber	organization_id;
	AttrNumber	service_id;
	AttrNumber	venue_id;
	AttrNumber	currency;
	AttrNumber	source;
	AttrNumber	status;
	AttrNumber	hold_expires_at;
	AttrNumber	cancelled_at;
	AttrNumber	promo_code_id;
	AttrNumber	deposit_amount;
	AttrNumber	payment_due_by;
	AttrNumber	amount_paid;
	Datum		zero_deposit;	/* 0 as deposit_amount stores it (0.00) */
	Oid			services;
} PrepareCatalog;

static PrepareCatalog catalog;

/* protector.promo_code (defined in _PG_init): read as the setting is now */
char	   *protector_promo_code = NULL;

/*
 * The setting's own record, whose stack of prior values is not empty
 * exactly while the value was set in this transaction and not undone: a
 * value counts only then.  A plain SET left on a pooled connection by one
 * client discounted the next client's direct inserts (a review); a SET
 * LOCAL undone by a rolled-back subtransaction brings such a value back,
 * and that does not count either.
 */
static struct config_generic *promo_code_setting = NULL;

void
protector_find_promo_code_setting(void)
{
	struct config_generic **settings;
	int			n;

#if PG_VERSION_NUM >= 160000
	settings = get_guc_variables(&n);
#else
	settings = get_guc_variables();
	n = GetNumConfigOptions();
#endif
	for (int i = 0; i < n; i++)
		if (strcmp(settings[i]->name, "protector.promo_code") == 0)
			promo_code_setting = settings[i];
	if (promo_code_setting == NULL)
		elog(ERROR, "protector.promo_code is not defined");
}

/* the code create_booking passes to the insert now, or NULL */
static const char *
promo_code_asked(void)
{
	if (protector_promo_code == NULL || protector_promo_code[0] == '\0' ||
		promo_code_setting == NULL || promo_code_setting->stack == NULL)
		return NULL;
	return protector_promo_code;
}

/*
 * protector_internal.promo_code_asked() returns text: the code
 * protector.promo_code passes to a booking inserted now (set in this
 * transaction), or NULL (apply_promo_code, sql/78_vouchers.sql).
 */
PG_FUNCTION_INFO_V1(protector_promo_code_asked);
Datum
protector_promo_code_asked(PG_FUNCTION_ARGS)
{
	const char *code = promo_code_asked();

	if (code == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(code));
}

/* what read_terms() reads of services, looked up once the table is locked */
enum
{
	SV_ORGANIZATION_ID, SV_VENUE_ID, SV_CURRENCY, SV_SETTINGS
};
static const ProtectorColumn service_column_list[] = {
	[SV_ORGANIZATION_ID] = {"organization_id", UUIDOID},
	[SV_VENUE_ID] = {"venue_id", UUIDOID},
	[SV_CURRENCY] = {"currency", TEXTOID},
	[SV_SETTINGS] = {"settings", JSONBOID},
};
static ProtectorColumns service_columns = {
	.columns = service_column_list, .ncolumns = lengthof(service_column_list)
};

static void
prepare_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == catalog.bookings || relid == catalog.services)
		catalog.valid = false;
}

/*
 * Zero as a numeric of the column's type modifier (numeric(12,2): 0.00),
 * as an assignment would store it; kept in CacheMemoryContext.
 */
static Datum
zero_of(Relation rel, AttrNumber attnum)
{
	int32		typmod = TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypmod;
	MemoryContext old = MemoryContextSwitchTo(CacheMemoryContext);
	Datum		zero = DirectFunctionCall3(numeric_in, CStringGetDatum("0"),
										   ObjectIdGetDatum(InvalidOid), Int32GetDatum(typmod));

	MemoryContextSwitchTo(old);
	return zero;
}

static void
load_catalog(Relation bookings)
{
	catalog.valid = false;		/* until every lookup below has succeeded */
	catalog.bookings = RelationGetRelid(bookings);
	catalog.organization_id = protector_column_required(bookings, "organization_id", UUIDOID);
	catalog.service_id = protector_column_required(bookings, "service_id", UUIDOID);
	catalog.venue_id = protector_column_required(bookings, "venue_id", UUIDOID);
	catalog.currency = protector_column_required(bookings, "currency", TEXTOID);
	catalog.source = protector_column_required(bookings, "source", InvalidOid);
	catalog.status = protector_column_required(bookings, "status", InvalidOid);
	catalog.hold_expires_at = protector_column_required(bookings, "hold_expires_at", TIMESTAMPTZOID);
	catalog.cancelled_at = protector_column_required(bookings, "cancelled_at", TIMESTAMPTZOID);
	catalog.promo_code_id = protector_column_required(bookings, "promo_code_id", UUIDOID);
	catalog.deposit_amount = protector_column_required(bookings, "deposit_amount", NUMERICOID);
	catalog.payment_due_by = protector_column_required(bookings, "payment_due_by", TIMESTAMPTZOID);
	catalog.amount_paid = protector_column_required(bookings, "amount_paid", NUMERICOID);
	if (catalog.zero_deposit != (Datum) 0)
		pfree(DatumGetPointer(catalog.zero_deposit));
	catalog.zero_deposit = (Datum) 0;	/* freed: if zero_of() fails, not again */
	catalog.zero_deposit = zero_of(bookings, catalog.deposit_amount);
	catalog.services = protector_sibling_relid(bookings, "services");
	protector_on_relcache_change(prepare_relcache_callback);
	catalog.valid = true;
}

/* the service's venue, currency and whether it asks for a deposit */
typedef struct ServiceTerms
{
	bool		found;
	bool		has_venue;
	pg_uuid_t	venue;
	char	   *currency;
	bool		deposit;		/* settings has a "deposit" key */
} ServiceTerms;

/*
 * The booking's service, read through services_pkey on the statement's
 * snapshot, as protector's own reads of a referenced row are (no RLS, no
 * privilege: the engine's, not the caller's); a service of another
 * organization counts as none.  (default_currency() read the service by
 * id as the caller: a caller who may not see the service got 'XXX' and
 * then a foreign-key error; now the service's own currency and the same
 * foreign-key error.  require_deposit(), which this read stands in for,
 * read it as the owner by organization and id.)
 */
static ServiceTerms
read_terms(Datum organization_id, Datum service_id)
{
	Relation	services = table_open(catalog.services, AccessShareLock);
	/* the key and columns as they are now that the table is locked */
	Relation	pkey = index_open(protector_primary_key(services), AccessShareLock);
	/* (of this trigger's table's services: another's may differ) */
	const AttrNumber *columns = protector_columns(&service_columns, services);
	TupleTableSlot *slot = table_slot_create(services, NULL);
	ServiceTerms terms = {0};
	bool		isnull;

	if (protector_fetch_by_uuid(services, pkey, service_id, GetActiveSnapshot(), slot))
	{
		Datum		org = slot_getattr(slot, columns[SV_ORGANIZATION_ID], &isnull);

		terms.found = !isnull && DatumGetBool(DirectFunctionCall2(uuid_eq, org, organization_id));
	}
	if (terms.found)
	{
		Datum		currency = slot_getattr(slot, columns[SV_CURRENCY], &isnull);
		Datum		settings;
		Datum		venue;

		terms.currency = isnull ? NULL : TextDatumGetCString(currency);
		settings = slot_getattr(slot, columns[SV_SETTINGS], &isnull);
		terms.deposit = !isnull &&
			DatumGetBool(DirectFunctionCall2(jsonb_exists, settings, CStringGetTextDatum("deposit")));
		venue = slot_getattr(slot, columns[SV_VENUE_ID], &isnull);
		terms.has_venue = !isnull;
		if (!isnull)
			terms.venue = *DatumGetUUIDP(venue);
	}
	ExecDropSingleTupleTableSlot(slot);
	/* the locks stay until the transaction ends, as a foreign key's would */
	index_close(pkey, NoLock);
	table_close(services, NoLock);
	return terms;
}

/* the PL/pgSQL functions a step may call */
typedef enum PrepareStep
{
	STEP_RESTORE_ORDER,
	STEP_GUARD_SOURCE,
	STEP_GUARD_WRITE,
	STEP_APPLY_PROMO,
	STEP_DEPOSIT,
	N_PREPARE_STEPS
} PrepareStep;

static const char *const step_function[N_PREPARE_STEPS] = {
	"restore_order_bookings", "guard_booking_source", "guard_booking_write",
	"apply_promo_code", "require_deposit"
};

/* looked up once per query, in the trigger's own fn_extra */
typedef struct StepFunctions
{
	bool		ready[N_PREPARE_STEPS];
	FmgrInfo	flinfo[N_PREPARE_STEPS];
} StepFunctions;

/* protector_internal.<name>() (protector_internal_function), kept for the query */
static FmgrInfo *
step_flinfo(FunctionCallInfo fcinfo, PrepareStep step)
{
	StepFunctions *cache = (StepFunctions *) fcinfo->flinfo->fn_extra;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(StepFunctions));
		fcinfo->flinfo->fn_extra = cache;
	}
	if (!cache->ready[step])
	{
		fmgr_info_cxt(protector_internal_function(step_function[step]), &cache->flinfo[step],
					  fcinfo->flinfo->fn_mcxt);
		cache->ready[step] = true;
	}
	return &cache->flinfo[step];
}

/* a step's trigger function on the row (NULL: skip the insert) */
static HeapTuple
fire(FunctionCallInfo outer, PrepareStep step, HeapTuple row)
{
	return protector_fire_trigger(outer, step_flinfo(outer, step), row);
}

/* the row with one column replaced */
static HeapTuple
with_column(Relation rel, HeapTuple row, AttrNumber attnum, Datum value, bool isnull)
{
	int			col = attnum;

	return heap_modify_tuple_by_cols(row, RelationGetDescr(rel), 1, &col, &value, &isnull);
}

static Datum
column(Relation rel, HeapTuple row, AttrNumber attnum, bool *isnull)
{
	return heap_getattr(row, attnum, RelationGetDescr(rel), isnull);
}

/* source widget or import: only protector records those */
static bool
source_guarded(Relation rel, HeapTuple row)
{
	bool		isnull;
	Datum		source = column(rel, row, catalog.source, &isnull);
	char	   *label;

	if (isnull)
		return false;
	label = protector_value_text(TupleDescAttr(RelationGetDescr(rel), catalog.source - 1)->atttypid, source);
	return strcmp(label, "widget") == 0 || strcmp(label, "import") == 0;
}

/* a promo code named by the row or by create_booking */
static bool
promo_given(Relation rel, HeapTuple row)
{
	bool		isnull;
	(void) column(rel, row, catalog.promo_code_id, &isnull);
	return !isnull || promo_code_asked() != NULL;
}

/*
 * A service without a deposit: no deposit is due, nothing to pay by a
 * date (require_deposit()'s outcome for it, short of a negative
 * amount_paid, which the table's CHECK refuses).  A row that says so
 * already (the columns' defaults) is returned as it is: forming the row
 * again was a tenth of what the engine added to an insert.
 */
static HeapTuple
no_deposit(Relation rel, HeapTuple row)
{
	bool		no_amount,
				no_due;
	Datum		amount = column(rel, row, catalog.deposit_amount, &no_amount);
	int			cols[2] = {catalog.deposit_amount, catalog.payment_due_by};
	Datum		values[2] = {catalog.zero_deposit, (Datum) 0};
	bool		nulls[2] = {false, true};

	(void) column(rel, row, catalog.payment_due_by, &no_due);
	if (no_due && !no_amount &&
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, amount, catalog.zero_deposit)) == 0)
		return row;
	return heap_modify_tuple_by_cols(row, RelationGetDescr(rel), 2, cols, values, nulls);
}

/*
 * A booking is at its service's venue, as follow_service_venue() keeps a
 * moved one: none given, the service's; another refused by name (the
 * composite foreign key's bare 23503 before).  Only for callers who see
 * the organization: to anyone else a service of another tenant is
 * answered as one that does not exist, by the constraints.
 */
static HeapTuple
at_service_venue(Relation rel, HeapTuple row, Datum org, Datum service,
				 const ServiceTerms *terms)
{
	bool		isnull;
	Datum		venue = column(rel, row, catalog.venue_id, &isnull);

	if (!terms->found || !terms->has_venue ||
		(!isnull && memcmp(DatumGetUUIDP(venue), &terms->venue, UUID_LEN) == 0) ||
		!protector_caller_sees_org(DatumGetUUIDP(org)))
		return row;
	if (isnull)
		return with_column(rel, row, catalog.venue_id, UUIDPGetDatum(&terms->venue), false);
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
			 errmsg("a booking's venue is its service's"),
			 errdetail("Service %s is at venue %s.",
					   DatumGetCString(DirectFunctionCall1(uuid_out, service)),
					   DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&terms->venue)))),
			 errhint("Book a service of the venue meant; venue_id may be left out, and is the service's.")));
	return row;					/* not reached */
}

/*
 * hold_expires_at is a hold's (a cancelled one keeps it: a checkout
 * abandoned, which the dashboards leave out): a new booking of another
 * status has none, as keep_hold_expiry() keeps an updated one, nor does a
 * new cancelled one but a trusted caller's (an import of a lapsed hold;
 * staff wrote one that then counted nowhere).  The status is read only
 * when an expiry is written.
 */
static HeapTuple
hold_expiry_of_new(Relation rel, HeapTuple row)
{
	bool		isnull;
	Datum		status;
	char	   *label;

	(void) column(rel, row, catalog.hold_expires_at, &isnull);
	if (isnull)
		return row;
	status = column(rel, row, catalog.status, &isnull);
	if (isnull)
		return row;				/* the NOT NULL constraint's to refuse */
	label = protector_value_text(TupleDescAttr(RelationGetDescr(rel), catalog.status - 1)->atttypid, status);
	if (strcmp(label, "held") == 0 ||
		(strcmp(label, "cancelled") == 0 && protector_caller_is_trusted()))
		return row;
	return with_column(rel, row, catalog.hold_expires_at, (Datum) 0, true);
}

/*
 * A booking's times are finite (22008, as protector_internal.check_finite
 * says it of every time protector takes; updates: the trigger
 * times_are_finite): a hold until infinity never lapsed and expire_holds
 * never freed its slot (an attack review of special values).  Here, not
 * in a second BEFORE INSERT trigger: its WHEN clause would be compiled by
 * every INSERT statement, and a refusal by the reservation check (step 6)
 * would no longer come before anything is stored.
 */
static void
refuse_infinite_times(Relation rel, HeapTuple row)
{
	const AttrNumber columns[] = {catalog.hold_expires_at, catalog.cancelled_at, catalog.payment_due_by};

	for (size_t i = 0; i < lengthof(columns); i++)
	{
		bool		isnull;
		TimestampTz value = DatumGetTimestampTz(column(rel, row, columns[i], &isnull));

		if (!isnull && TIMESTAMP_NOT_FINITE(value))
			ereport(ERROR,
					(protector_errcode(PROTECTOR_ERR_DATETIME_OVERFLOW),
					 errmsg("%s must be a finite time",
							NameStr(TupleDescAttr(RelationGetDescr(rel), columns[i] - 1)->attname)),
					 errdetail("Got %s.", TIMESTAMP_IS_NOBEGIN(value) ? "-infinity" : "infinity")));
	}
}

static bool
amount_paid_negative(Relation rel, HeapTuple row)
{
	bool		isnull;
	Datum		paid = column(rel, row, catalog.amount_paid, &isnull);

	return !isnull &&
		DatumGetBool(DirectFunctionCall2(numeric_lt, paid,
										 DirectFunctionCall1(int4_numeric, Int32GetDatum(0))));
}

/* steps 0 to 6 on the row (NULL: skip the insert) */
static HeapTuple
prepare(FunctionCallInfo fcinfo, Relation rel, HeapTuple row)
{
	bool		restoring = protector_restoring_rel(rel);
	bool		no_org,
				no_service,
				no_currency;
	Datum		org,
				service;
	ServiceTerms terms = {0};
	pg_uuid_t	uid;

	/* a restore's rows whose references have not arrived yet wait */
	if (restoring && SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA &&
		(row = fire(fcinfo, STEP_RESTORE_ORDER, row)) == NULL)
		return NULL;
	org = column(rel, row, catalog.organization_id, &no_org);
	service = column(rel, row, catalog.service_id, &no_service);
	(void) column(rel, row, catalog.currency, &no_currency);
	if (!no_org && !no_service &&
		(no_currency || (!restoring && SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA)))
		terms = read_terms(org, service);
	if (no_currency)
		row = with_column(rel, row, catalog.currency,
						  CStringGetTextDatum(terms.found && terms.currency != NULL ? terms.currency : "XXX"), false);
	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		return row;
	if (!restoring)
	{
		row = at_service_venue(rel, row, org, service, &terms);
		row = hold_expiry_of_new(rel, row);
		refuse_infinite_times(rel, row);
	}
	if (source_guarded(rel, row))
		row = fire(fcinfo, STEP_GUARD_SOURCE, row);
	if (row != NULL && protector_get_current_user_id(&uid))
		row = fire(fcinfo, STEP_GUARD_WRITE, row);
	if (row != NULL && !restoring)
		protector_check_booking_customer_row(rel, row, true);
	if (row != NULL && !restoring && promo_given(rel, row))
		row = fire(fcinfo, STEP_APPLY_PROMO, row);
	/*
	 * (only for callers who see the organization, as at_service_venue():
	 * the deposit's refusals told anyone else whether a service existed,
	 * that its deposit was fixed and its currency; the policies refuse
	 * their row)
	 */
	if (row != NULL && !restoring)
		row = (terms.deposit || amount_paid_negative(rel, row)) && !no_org &&
			protector_caller_sees_org(DatumGetUUIDP(org))
			? fire(fcinfo, STEP_DEPOSIT, row)
			: no_deposit(rel, row);
	if (row != NULL && !restoring)
		protector_reservation_precheck(rel, row);
	return row;
}

PG_FUNCTION_INFO_V1(protector_prepare_booking);
Datum
protector_prepare_booking(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = protector_trigger_data(fcinfo, &prepare_protocol);
	Relation	rel = trigdata->tg_relation;
	HeapTuple	row;

	/* (before any privilege elevation: the statement's user's) */
	protector_give_first_row_predicates(rel);
	if (!catalog.valid || catalog.bookings != RelationGetRelid(rel))
		load_catalog(rel);
	row = prepare(fcinfo, rel, trigdata->tg_trigtuple);
	/* 7. balance_due (balance_due.c), on the finished row, always */
	if (row != NULL)
		row = protector_with_balance_due(rel, row == trigdata->tg_trigtuple ? trigdata->tg_trigslot : NULL, row);
	return PointerGetDatum(row);
}
