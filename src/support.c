/*-------------------------------------------------------------------------
 *
 * support.c
 *	  The C layer's shared mechanics (support.h): every C function that
 *	  needs an argument, every trigger function, every lookup of a column
 *	  by name, every growing array, every reading of a transition table's
 *	  organizations and every fetch of a row by its uuid key goes through
 *	  these, so the checks and their
 *	  errors are the same everywhere.
 *
 * Invariants:
 *	  - a NULL required argument is "<name> must not be null" with the
 *		invalid-parameter code (22023, or PT400 with protector.http_errors);
 *	  - a trigger function refuses a call that is not a trigger, or that
 *		fires at another time, level or event than it was written for
 *		(39P01), before it reads any trigger data;
 *	  - a column protector's own tables must have and do not is 42703 with
 *		the hint that the installation is damaged.
 *
 * src/support.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "parser/parse_coerce.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "errors.h"
#include "support.h"

void
protector_require_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (argno >= PG_NARGS() || PG_ARGISNULL(argno))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s must not be null", name)));
}

void
protector_require_utf8(const char *what)
{
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s needs a UTF8 database", what),
				 errhint("Create the database with ENCODING 'UTF8', as Supabase's are.")));
}

bool
protector_values_same(Datum a, bool a_null, Datum b, bool b_null, bool byval, int len)
{
	if (a_null || b_null)
		return a_null && b_null;
	return datum_image_eq(a, b, byval, len);
}

int
protector_errhint_damaged(void)
{
	return errhint("The protector extension is damaged; reinstall it.");
}

/* the hint for a table in namespace nspid (InvalidOid: protector's own) */
static int
errhint_namespace(Oid nspid)
{
	char	   *nsp = OidIsValid(nspid) ? get_namespace_name(nspid) : NULL;

	if (nsp == NULL || strcmp(nsp, "protector") == 0 || strcmp(nsp, "protector_internal") == 0)
		return protector_errhint_damaged();
	return errhint("A trigger of protector's attached to a table of your own needs it there.");
}

int
protector_errhint_table(Relation rel)
{
	return errhint_namespace(RelationGetNamespace(rel));
}

TriggerData *
protector_trigger_data(FunctionCallInfo fcinfo, const TriggerProtocol *protocol)
{
	TriggerData *trigdata;
	TriggerEvent event;
	int			allowed;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as a trigger", protocol->function)));
	trigdata = (TriggerData *) fcinfo->context;
	event = trigdata->tg_event;
	allowed = TRIGGER_FIRED_FOR_ROW(event) ? protocol->row_events : protocol->statement_events;
	if (!(protocol->after ? TRIGGER_FIRED_AFTER(event) : TRIGGER_FIRED_BEFORE(event)) ||
		(allowed & (1 << (event & TRIGGER_EVENT_OPMASK))) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be fired %s", protocol->function, protocol->fired),
				 protocol->hint ? errhint("%s", protocol->hint) : 0));
	return trigdata;
}

HeapTuple
protector_fire_trigger(FunctionCallInfo outer, FmgrInfo *flinfo, HeapTuple row)
{
	TriggerData data = *(TriggerData *) outer->context;
	FunctionCallInfo fcinfo = palloc0(SizeForFunctionCallInfo(0));
	Datum		result;

	data.tg_trigtuple = row;
	InitFunctionCallInfoData(*fcinfo, flinfo, 0, InvalidOid, (Node *) &data, NULL);
	result = FunctionCallInvoke(fcinfo);
	/* as ExecCallTriggerFunc() says it */
	if (fcinfo->isnull)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger function %s returned null value",
						format_procedure_qualified(flinfo->fn_oid))));
	pfree(fcinfo);
	return (HeapTuple) DatumGetPointer(result);
}

AttrNumber
protector_column(TupleDesc desc, const char *name, Oid typid)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), name) != 0)
			continue;
		if (!OidIsValid(typid) || getBaseType(att->atttypid) == typid)
			return att->attnum;
		break;
	}
	return InvalidAttrNumber;
}

/* (desc: a table's rows, whose type names the table) */
static void
null_refused(TupleDesc desc, AttrNumber attnum, const char *table)
{
	Oid			relid = OidIsValid(desc->tdtypeid) ? get_typ_typrelid(desc->tdtypeid) : InvalidOid;

	ereport(ERROR,
			(errcode(ERRCODE_NOT_NULL_VIOLATION),
			 errmsg("column \"%s\" of %s is null", NameStr(TupleDescAttr(desc, attnum - 1)->attname), table),
			 errdetail("Protector reads it as NOT NULL, as its own schema declares it."),
			 errhint_namespace(OidIsValid(relid) ? get_rel_namespace(relid) : InvalidOid)));
}

Datum
protector_attr_notnull(HeapTuple tuple, TupleDesc desc, AttrNumber attnum, const char *table)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, desc, &isnull);

	if (isnull)
		null_refused(desc, attnum, table);
	return d;
}

Datum
protector_slot_notnull(TupleTableSlot *slot, AttrNumber attnum, const char *table)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, attnum, &isnull);

	if (isnull)
		null_refused(slot->tts_tupleDescriptor, attnum, table);
	return d;
}

AttrNumber
protector_column_required(Relation rel, const char *name, Oid typid)
{
	AttrNumber	attnum = protector_column(RelationGetDescr(rel), name, typid);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 OidIsValid(typid) ?
				 errmsg("%s.%s has no column \"%s\" of type %s",
						get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel),
						name, format_type_be(typid)) :
				 errmsg("%s.%s has no column \"%s\"",
						get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel), name),
				 protector_errhint_table(rel)));
	return attnum;
}

Datum
protector_assign_to_column(Relation rel, AttrNumber attnum, Datum value, Oid typid)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	int32		typmod = att->atttypmod;
	Oid			basetype;
	Oid			funcid;

	/* protector's own columns, of the value's type: stored as is, no lookup */
	if (att->atttypid == typid && att->atttypmod < 0)
		return value;
	basetype = getBaseTypeAndTypmod(att->atttypid, &typmod);
	if (typmod >= 0 &&
		find_typmod_coercion_function(basetype, &funcid) == COERCION_PATH_FUNC)
		value = get_func_nargs(funcid) == 2 ?
			OidFunctionCall2(funcid, value, Int32GetDatum(typmod)) :
			OidFunctionCall3(funcid, value, Int32GetDatum(typmod), BoolGetDatum(false));
	if (att->atttypid != basetype)
		domain_check(value, false, att->atttypid, NULL, CurrentMemoryContext);
	return value;
}

AttrNumber
protector_column_writable(Relation rel, const char *name, Oid typid)
{
	AttrNumber	attnum = protector_column_required(rel, name, InvalidOid);
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);

	if (att->atttypid != typid || att->atttypmod != -1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s.%s.%s is of type %s, where protector writes %s",
						get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel), name,
						format_type_with_typemod(att->atttypid, att->atttypmod), format_type_be(typid)),
				 errdetail("Protector stores its values there directly, without casts or domain checks."),
				 protector_errhint_damaged()));
	return attnum;
}

void
protector_jsonb_string(JsonbValue *v, const char *s, int len)
{
	v->type = jbvString;
	v->val.string.val = (char *) s;
	v->val.string.len = len;
}

void
protector_push_member(JsonbParseState **state, const char *key, int keylen, JsonbValue *value)
{
	JsonbValue	k;

	protector_jsonb_string(&k, key, keylen);
	(void) pushJsonbValue(state, WJB_KEY, &k);
	(void) pushJsonbValue(state, WJB_VALUE, value);
}

char *
protector_value_text(Oid type, Datum value)
{
	Oid			outfunc;
	bool		isvarlena;

	getTypeOutputInfo(type, &outfunc, &isvarlena);
	return OidOutputFunctionCall(outfunc, value);
}

Oid
protector_sibling_relid(Relation rel, const char *name)
{
	Oid			relid = get_relname_relid(name, RelationGetNamespace(rel));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s.%s is missing", get_namespace_name(RelationGetNamespace(rel)), name),
				 protector_errhint_table(rel)));
	/* (a partitioned table's index is none to scan: a scan of it crashed) */
	if (get_rel_relkind(relid) != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s.%s is not a plain table", get_namespace_name(RelationGetNamespace(rel)), name),
				 errdetail("Protector reads it row by row through its indexes, which a partitioned table, a view or a foreign table does not have."),
				 protector_errhint_table(rel)));
	return relid;
}

/*
 * Protector's relcache callbacks, behind one of PostgreSQL's: a backend has
 * ten slots for core and every extension together (MAX_RELCACHE_CALLBACKS
 * in inval.c), and a registration past them ends the connection.  Each of
 * protector's caches registering its own took eight.  Column caches
 * (protector_columns) are reset here too.
 */
static RelcacheCallbackFunction relcache_callbacks[16];
static int	n_relcache_callbacks = 0;
static ProtectorColumns *column_caches[32];
static int	n_column_caches = 0;

static void
relcache_dispatch(Datum arg, Oid relid)
{
	for (int i = 0; i < n_column_caches; i++)
		if (relid == InvalidOid || relid == column_caches[i]->relid)
			column_caches[i]->relid = InvalidOid;
	for (int i = 0; i < n_relcache_callbacks; i++)
		relcache_callbacks[i] (arg, relid);
}

static void
register_dispatch(void)
{
	static bool registered = false;

	if (!registered)
		CacheRegisterRelcacheCallback(relcache_dispatch, (Datum) 0);
	registered = true;
}

void
protector_on_relcache_change(RelcacheCallbackFunction func)
{
	for (int i = 0; i < n_relcache_callbacks; i++)
		if (relcache_callbacks[i] == func)
			return;
	if (n_relcache_callbacks == lengthof(relcache_callbacks))
		elog(ERROR, "protector registers more relcache callbacks than it keeps track of");
	register_dispatch();
	relcache_callbacks[n_relcache_callbacks++] = func;
}

bool
protector_xact_ended(XactEvent event)
{
	return event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT;
}

const AttrNumber *
protector_columns(ProtectorColumns *cache, Relation rel)
{
	if (cache->relid == RelationGetRelid(rel))
		return cache->attnum;
	if (!cache->registered)
	{
		if (cache->ncolumns > PROTECTOR_MAX_COLUMNS)
			elog(ERROR, "a column cache lists more than %d columns", PROTECTOR_MAX_COLUMNS);
		if (n_column_caches == lengthof(column_caches))
			elog(ERROR, "protector keeps more column caches than it keeps track of");
		register_dispatch();
		column_caches[n_column_caches++] = cache;
		cache->registered = true;
	}
	cache->relid = InvalidOid;	/* until every lookup below has succeeded */
	for (int i = 0; i < cache->ncolumns; i++)
		cache->attnum[i] = cache->columns[i].written ?
			protector_column_writable(rel, cache->columns[i].name, cache->columns[i].type) :
			protector_column_required(rel, cache->columns[i].name, cache->columns[i].type);
	cache->relid = RelationGetRelid(rel);
	return cache->attnum;
}

const AttrNumber *
protector_columns_copy(ProtectorColumns *cache, Relation rel, AttrNumber *att)
{
	memcpy(att, protector_columns(cache, rel), sizeof(AttrNumber) * cache->ncolumns);
	return att;
}

void *
protector_grow_array(void *array, int *cap, int used, Size elem)
{
	if (used < *cap)
		return array;
	if ((Size) *cap * 2 > MaxAllocSize / elem)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many elements: %d", used)));
	*cap = Max(*cap * 2, 4);
	return repalloc(array, elem * *cap);
}

/* a scan finds an organization among this many as fast as a hash */
#define ORG_COUNTS_SCANNED 8

typedef struct OrgPosition
{
	pg_uuid_t	org;			/* the hash key */
	int			index;
} OrgPosition;

/* no organization yet, in the current memory context */
void
protector_org_counts_init(OrgCounts *counts)
{
	counts->cxt = CurrentMemoryContext;
	counts->cap = 4;
	counts->orgs = MemoryContextAlloc(counts->cxt, sizeof(OrgCount) * counts->cap);
	counts->n = 0;
	counts->positions = NULL;
}

/* the first ORG_COUNTS_SCANNED organizations, hashed when one more comes */
static void
org_counts_hash(OrgCounts *counts)
{
	HASHCTL		ctl;
	HTAB	   *positions;

	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(OrgPosition);
	ctl.hcxt = counts->cxt;
	positions = hash_create("protector organizations", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = 0; i < counts->n; i++)
		((OrgPosition *) hash_search(positions, &counts->orgs[i].org, HASH_ENTER, NULL))->index = i;
	counts->positions = positions;	/* (complete, or not at all) */
}

/*
 * An organization's entry; when it has none, NULL, or with add a new one
 * at the end, counting 0 rows.  (The entry moves when the array grows.)
 */
OrgCount *
protector_org_count(OrgCounts *counts, const pg_uuid_t *org, bool add)
{
	OrgPosition *pos = NULL;
	bool		found;
	OrgCount   *oc;

	if (counts->positions == NULL)
	{
		for (int i = 0; i < counts->n; i++)
			if (memcmp(counts->orgs[i].org.data, org->data, UUID_LEN) == 0)
				return &counts->orgs[i];
	}
	else
	{
		pos = hash_search(counts->positions, org, add ? HASH_ENTER : HASH_FIND, &found);
		if (found)
			return &counts->orgs[pos->index];
	}
	if (!add)
		return NULL;
	protector_grow(counts->orgs, counts->cap, counts->n);	/* (repalloc: in cxt) */
	if (pos != NULL)
		pos->index = counts->n;
	oc = &counts->orgs[counts->n++];
	oc->org = *org;
	oc->rows = 0;
	if (counts->positions == NULL && counts->n > ORG_COUNTS_SCANNED)
		org_counts_hash(counts);
	return oc;
}

/*
 * The organizations of a transition table's rows (column org_att), each
 * with its number of rows, added to counts; rows without one are left
 * out.  Reads the store from its start through the caller's read pointer
 * and slot.
 */
void
protector_orgs_of_rows(Tuplestorestate *rows, TupleTableSlot *slot, AttrNumber org_att, OrgCounts *counts)
{
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, org_att, &isnull);

		if (!isnull)
			protector_org_count(counts, DatumGetUUIDP(d), true)->rows++;
	}
}

/*
 * The version of protector this database has installed (pg_extension's
 * extversion), or NULL if none.  The library serves every database of the
 * cluster, also those not yet updated to its own release.
 */
char *
protector_installed_version(void)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("protector"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = TextDatumGetCString(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * schema.name, a table of protector's; when there is none, InvalidOid with
 * missing_ok, else the damaged-extension error
 */
static Oid
schema_relid(const char *schema, const char *name, bool missing_ok)
{
	Oid			nsp = get_namespace_oid(schema, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;

	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s.%s is missing", schema, name),
				 protector_errhint_damaged()));
	return relid;
}

Oid
protector_internal_relid(const char *name, bool missing_ok)
{
	return schema_relid("protector_internal", name, missing_ok);
}

Oid
protector_relid(const char *name, bool missing_ok)
{
	return schema_relid("protector", name, missing_ok);
}

/* schema.name(argtypes), or InvalidOid (a missing schema too, if missing_ok) */
Oid
protector_function_oid_of(const char *schema, const char *name, int nargs, const Oid *argtypes, bool missing_ok)
{
	Oid			nsp = get_namespace_oid(schema, missing_ok);

	if (!OidIsValid(nsp))
		return InvalidOid;
	return GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum(name),
						   PointerGetDatum(buildoidvector(argtypes, nargs)), ObjectIdGetDatum(nsp));
}

Oid
protector_function_oid(const char *schema, const char *name, bool missing_ok)
{
	return protector_function_oid_of(schema, name, 0, NULL, missing_ok);
}

Oid
protector_internal_function(const char *name)
{
	return protector_internal_function_of(name, 0, NULL);
}

Oid
protector_internal_function_of(const char *name, int nargs, const Oid *argtypes)
{
	Oid			fn = protector_function_oid_of("protector_internal", name, nargs, argtypes, false);

	if (!OidIsValid(fn))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function protector_internal.%s() does not exist", name),
				 errdetail_plural("protector calls it with %d argument.", "protector calls it with %d arguments.",
								  nargs, nargs),
				 protector_errhint_damaged()));
	return fn;
}

static bool
key_index_matches(Relation index, int nkeys, const AttrNumber *attnums, const Oid *types)
{
	bool		ok = index->rd_rel->relkind == RELKIND_INDEX && index->rd_rel->relam == BTREE_AM_OID &&
		index->rd_index->indisunique && index->rd_index->indnkeyatts == nkeys &&
		heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL);

	for (int i = 0; ok && i < nkeys; i++)
		ok = index->rd_opcintype[i] == types[i] &&
			(attnums == NULL ? index->rd_index->indkey.values[i] != 0 :
			 index->rd_index->indkey.values[i] == attnums[i]);
	return ok;
}

void
protector_check_key_index(Relation index, int nkeys, const AttrNumber *attnums, const Oid *types)
{
	if (!key_index_matches(index, nkeys, attnums, types))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index %s does not have the key columns protector reads it by",
						RelationGetRelationName(index)),
				 errdetail("It must be a unique btree of every row on them, without a predicate."),
				 protector_errhint_damaged()));
}

bool
protector_row_xmax(TupleTableSlot *slot, ProtectorRowXmax *xmax)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	HeapTupleHeader header;

	if (!TTS_IS_BUFFERTUPLE(slot) || !BufferIsValid(bslot->buffer))
		return false;
	LockBuffer(bslot->buffer, BUFFER_LOCK_SHARE);
	header = bslot->base.tuple->t_data;
	xmax->infomask = header->t_infomask;
	xmax->raw_xmax = HeapTupleHeaderGetRawXmax(header);
	xmax->updater = (header->t_infomask & HEAP_XMAX_INVALID) || HEAP_XMAX_IS_LOCKED_ONLY(header->t_infomask) ?
		InvalidTransactionId : HeapTupleHeaderGetUpdateXid(header);
	xmax->deleted = TransactionIdIsValid(xmax->updater) &&
		ItemPointerEquals(&header->t_ctid, &bslot->base.tuple->t_self);
	LockBuffer(bslot->buffer, BUFFER_LOCK_UNLOCK);
	return true;
}

/*
 * The row of rel whose unique index on one uuid column holds key, read on
 * snapshot into the caller's slot (table_slot_create(rel)); false when
 * there is none.  The slot keeps its buffer pinned until it is cleared.
 */
bool
protector_fetch_by_uuid(Relation rel, Relation index, Datum key, Snapshot snapshot,
						TupleTableSlot *slot)
{
	static const Oid uuid_key[] = {UUIDOID};
	ScanKeyData skey;
	IndexScanDesc scan;
	bool		found;

	protector_check_key_index(index, 1, NULL, uuid_key);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_UUID_EQ, key);
	scan = index_beginscan(rel, index, snapshot, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

/*
 * A row of table (beside sibling_of) by its primary key, read on the
 * statement's snapshot as protector's own reads of referenced rows are (no
 * RLS, no privilege): its text column name (NULL when there is no row or
 * no value) and, when other is given, a copy of its uuid column
 * other_name.
 */
char *
protector_text_by_key(Relation sibling_of, const char *table, Datum key,
					  const char *name, Datum *other, const char *other_name)
{
	Relation	rel = table_open(protector_sibling_relid(sibling_of, table), AccessShareLock);
	Relation	index = index_open(protector_primary_key(rel), AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	char	   *value = NULL;
	bool		isnull;

	if (protector_fetch_by_uuid(rel, index, key, GetActiveSnapshot(), slot))
	{
		Datum		d = slot_getattr(slot, protector_column_required(rel, name, TEXTOID), &isnull);

		value = isnull ? NULL : TextDatumGetCString(d);
		if (other != NULL)
		{
			d = slot_getattr(slot, protector_column_required(rel, other_name, UUIDOID), &isnull);
			if (!isnull)
			{
				pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));	/* the slot's goes */

				*copy = *DatumGetUUIDP(d);
				*other = UUIDPGetDatum(copy);
			}
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	/* the locks stay until the transaction ends, as a foreign key's would */
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return value;
}

/* the primary key index of protector's table rel */
Oid
protector_primary_key(Relation rel)
{
	Oid			pkey = RelationGetPrimaryKeyIndex(rel);

	if (!OidIsValid(pkey))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has no primary key", RelationGetRelationName(rel)),
				 protector_errhint_table(rel)));
	return pkey;
}

Oid
protector_unique_index_on(Relation rel, int nkeys, const AttrNumber *attnums, const Oid *types)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);

		if (index->rd_index->indisunique && index->rd_index->indisvalid &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL) &&
			key_index_matches(index, nkeys, attnums, types))
			found = RelationGetRelid(index);
		index_close(index, AccessShareLock);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	if (!OidIsValid(found))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s has no unique index on the columns protector reads it by",
						RelationGetRelationName(rel)),
				 protector_errhint_damaged()));
	return found;
}

/* an expression walk asking each function called a question */
typedef struct CallsWalk
{
	check_function_callback checker;
	void	   *context;
} CallsWalk;

static bool
calls_walker(Node *node, void *walk)
{
	CallsWalk  *w = (CallsWalk *) walk;

	if (node == NULL)
		return false;
	if (check_functions_in_node(node, w->checker, w->context))
		return true;
	return expression_tree_walker(node, calls_walker, walk);
}

/*
 * Does node call (as a function, an operator's function, a cast...) a
 * function of which checker says true?  What a table's compiled defaults
 * ask (an inlined SQL function, compiled_table.c).
 */
bool
protector_expression_calls(Node *node, check_function_callback checker, void *context)
{
	CallsWalk	walk = {checker, context};

	return calls_walker(node, &walk);
}
