/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  protector.audit_trigger(): one generic trigger that records every
 *	  change of the table it is attached to in protector.audit_log.
 *
 * Attached AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW (and AFTER
 * TRUNCATE FOR EACH STATEMENT) by protector.enable_audit().  Each row
 * change appends one audit_log row: time (the transaction's start, as
 * now()), the row's organization, the actor (JWT 'sub' claim, NULL for
 * system work) and database role (the role after SET ROLE, so PostgREST's
 * 'authenticated' even inside SECURITY DEFINER functions), the table, the
 * primary key as text, the operation, old and new row as jsonb, the names
 * of the changed columns and the top-level transaction id.  An UPDATE that
 * changes nothing (updated_at aside where protector stamps it) writes nothing.
 *
 * Trigger arguments name columns whose values are masked ("[masked]"; NULL
 * stays NULL), and so does the table's audit_settings row; a stored
 * generated column computed from a masked one is masked too.  A masked
 * column that no longer exists is an error rather than a silent leak
 * after a rename.
 *
 * Why C: the audit trigger fires on every write of every audited table.
 * What a row looks like as jsonb (column names, how each type converts,
 * which columns are masked, where the key and organization are) is worked
 * out once per table and cached until the table's definition changes, and
 * the audit row is inserted into the heap and its indexes directly, after
 * audit_log's constraints, as logical replication's apply does
 * (direct_insert.c), instead of planning and executing an INSERT per row.
 * Values convert exactly as to_jsonb() converts them (row_jsonb.c).
 *
 * src/audit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "audit_settings.h"
#include "capabilities.h"
#include "direct_insert.h"
#include "identity.h"
#include "output_style.h"
#include "row_jsonb.h"
#include "support.h"

#define AUDIT_MASK_TEXT "[masked]"

typedef struct AuditColumn
{
	JsonbColumn json;			/* its name, and how its value converts */
	Datum		name_text;		/* for changed_columns */
	int16		typlen;
	bool		typbyval;
	bool		masked;
	bool		is_updated_at;	/* a change here alone is no change */
	bool		names;			/* a regclass or its kind: printed qualified */
} AuditColumn;

typedef struct AuditKey
{
	Oid			relid;
	Oid			tgoid;
} AuditKey;

/*
 * How one audited table's rows are logged, as worked out at one moment: a
 * version, in a context of its own.  A newer version replaces it in the
 * cache; the old one lives until the transaction ends, as a trigger firing
 * further up may still be reading it (user code converting a row can
 * change the table and write to it again).
 */
typedef struct AuditTable
{
	MemoryContext cxt;
	uint64		casts;			/* protector_jsonb_generation() when built */
	Datum		table_name;		/* text: schema-qualified */
	int			ncolumns;
	AuditColumn *columns;		/* in attribute order */
	int		   *json_order;		/* indexes into columns, in jsonb key order */
	int			npk;
	AuditColumn **pk;			/* primary key columns, in key order */
	FmgrInfo   *pk_out;
	bool		pk_styled;		/* a key type printed by the session's settings */
	OutputStyleNeed row_style;	/* how the rows' columns print (output_style.h) */
	AttrNumber	org_attnum;		/* uuid organization column, 0 if none */
	bool		skip;			/* its audit_settings row says: not audited */
} AuditTable;

/* the cache's entry: the current version of a table's (trigger's) layout */
typedef struct AuditSlot
{
	AuditKey	key;
	bool		valid;
	AuditTable *table;			/* NULL until first built */
} AuditSlot;

/* audit_log's columns, every one written directly: exactly of its type */
enum
{
	AL_ID, AL_OCCURRED_AT, AL_ORGANIZATION_ID, AL_ACTOR_UID, AL_ACTOR_ROLE, AL_TABLE_NAME,
	AL_RECORD_ID, AL_OP, AL_OLD_ROW, AL_NEW_ROW, AL_CHANGED_COLUMNS, AL_TXID
};
static const ProtectorColumn audit_log_column_list[] = {
	[AL_ID] = {"id", INT8OID, true},
	[AL_OCCURRED_AT] = {"occurred_at", TIMESTAMPTZOID, true},
	[AL_ORGANIZATION_ID] = {"organization_id", UUIDOID, true},
	[AL_ACTOR_UID] = {"actor_uid", UUIDOID, true},
	[AL_ACTOR_ROLE] = {"actor_role", TEXTOID, true},
	[AL_TABLE_NAME] = {"table_name", TEXTOID, true},
	[AL_RECORD_ID] = {"record_id", TEXTOID, true},
	[AL_OP] = {"op", TEXTOID, true},
	[AL_OLD_ROW] = {"old_row", JSONBOID, true},
	[AL_NEW_ROW] = {"new_row", JSONBOID, true},
	[AL_CHANGED_COLUMNS] = {"changed_columns", TEXTARRAYOID, true},
	[AL_TXID] = {"txid", INT8OID, true},
};
static ProtectorColumns audit_log_columns = {
	.columns = audit_log_column_list, .ncolumns = lengthof(audit_log_column_list)
};

/* audit_log itself: where it is, and its id's sequence */
typedef struct AuditLogTarget
{
	Oid			relid;
	Oid			seqid;
} AuditLogTarget;

static HTAB *audit_tables = NULL;
static AuditLogTarget audit_log_target;
static bool audit_log_target_valid = false;
static MemoryContext audit_cxt = NULL;
static bool audit_slots_stale = false;	/* some slot to sweep at transaction end */

static void
audit_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	HASH_SEQ_STATUS status;
	AuditSlot  *slot;

	if (relid == InvalidOid || relid == audit_log_target.relid)
		audit_log_target_valid = false;
	if (audit_tables == NULL)
		return;
	hash_seq_init(&status, audit_tables);
	while ((slot = (AuditSlot *) hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || slot->key.relid == relid)
		{
			slot->valid = false;
			audit_slots_stale = true;
		}
	}
}

/*
 * At the end of a top transaction no audit trigger runs: the slots made
 * invalid go, and are built again at their table's next audited change.
 * A dropped table's, or a replaced trigger's (enable_audit again), would
 * otherwise stay for the backend's life (4-8 kB each).
 */
static void
audit_transaction_ended(XactEvent event, void *arg pg_attribute_unused())
{
	HASH_SEQ_STATUS status;
	AuditSlot  *slot;

	if (!audit_slots_stale || !protector_xact_ended(event))
		return;
	audit_slots_stale = false;
	hash_seq_init(&status, audit_tables);
	while ((slot = (AuditSlot *) hash_seq_search(&status)) != NULL)
	{
		if (slot->valid)
			continue;
		if (slot->table != NULL)
			MemoryContextDelete(slot->table->cxt);
		hash_search(audit_tables, &slot->key, HASH_REMOVE, NULL);
	}
}

/*
 * A schema renamed: the tables in it keep their relcache entries (nothing
 * of theirs changed), but every slot's qualified table_name may now be
 * wrong; schemas are renamed rarely, so all slots are built again.
 */
static void
audit_schema_callback(Datum arg, int cacheid pg_attribute_unused(),
					  uint32 hashvalue pg_attribute_unused())
{
	audit_relcache_callback(arg, InvalidOid);
}

static void
audit_init_cache(void)
{
	HASHCTL		ctl;

	if (audit_tables != NULL)
		return;
	audit_cxt = AllocSetContextCreate(CacheMemoryContext, "protector audit cache",
									  ALLOCSET_SMALL_SIZES);
	ctl.keysize = sizeof(AuditKey);
	ctl.entrysize = sizeof(AuditSlot);
	ctl.hcxt = audit_cxt;
	audit_tables = hash_create("protector audited tables", 32, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	protector_on_relcache_change(audit_relcache_callback);
	CacheRegisterSyscacheCallback(NAMESPACEOID, audit_schema_callback, (Datum) 0);
	RegisterXactCallback(audit_transaction_ended, NULL);
}

static void
audit_load_target(void)
{
	Oid			nsp;
	Oid			relid;
	Relation	rel;
	AuditLogTarget t;

	if (audit_log_target_valid)
		return;
	nsp = get_namespace_oid("protector", true);
	relid = OidIsValid(nsp) ? get_relname_relid("audit_log", nsp) : InvalidOid;
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("protector.audit_log does not exist"),
				 errhint("Install the protector extension, or drop the audit trigger.")));

	rel = table_open(relid, AccessShareLock);
	t.relid = relid;
	/* (its columns checked now, before the change is worked out) */
	t.seqid = getIdentitySequence(relid, protector_columns(&audit_log_columns, rel)[AL_ID], true);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(t.seqid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("protector.audit_log.id is not an identity column"),
				 errdetail("Audit rows draw their ids from the column's identity sequence."),
				 protector_errhint_damaged()));

	audit_log_target = t;
	audit_log_target_valid = true;
}

static bool
audit_name_in_args(const char *name, Trigger *trigger)
{
	for (int i = 0; i < trigger->tgnargs; i++)
	{
		if (strcmp(trigger->tgargs[i], name) == 0)
			return true;
	}
	return false;
}

static int
audit_jsonb_key_cmp(const void *a, const void *b, void *arg)
{
	const AuditColumn *columns = (const AuditColumn *) arg;
	const AuditColumn *x = &columns[*(const int *) a];
	const AuditColumn *y = &columns[*(const int *) b];

	return protector_jsonb_key_order(x->json.name, x->json.namelen, y->json.name, y->json.namelen);
}

/* one masked column must exist: never log a renamed secret */
static void
audit_check_mask(Relation rel, const char *name, const char *nspname)
{
	if (protector_column(RelationGetDescr(rel), name, InvalidOid) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" masked by the audit trigger of table \"%s\" does not exist",
						name, RelationGetRelationName(rel)),
				 errdetail("Writes to the table are refused so that a renamed column is never logged in clear."),
				 errhint("Run protector.enable_audit('%s', ...) again with the current column names.",
						 quote_qualified_identifier(nspname, RelationGetRelationName(rel)))));
}

/* the trigger's masked columns and those of the table's audit_settings row */
static void
audit_check_masked(Relation rel, Trigger *trigger, const AuditSetting *setting, const char *nspname)
{
	for (int i = 0; i < trigger->tgnargs; i++)
		audit_check_mask(rel, trigger->tgargs[i], nspname);
	for (int i = 0; i < setting->nmasked; i++)
		audit_check_mask(rel, setting->masked[i], nspname);
}

/*
 * Does protector stamp rel's updated_at (its trigger set_updated_at runs
 * protector.set_updated_at())?  Only there is a change of updated_at alone
 * no change: elsewhere someone set it, and that is audited.
 */
static bool
stamps_updated_at(Relation rel)
{
	TriggerDesc *triggers = rel->trigdesc;
	Oid			stamp = protector_function_oid("protector", "set_updated_at", true);

	for (int i = 0; triggers != NULL && OidIsValid(stamp) && i < triggers->numtriggers; i++)
		if (triggers->triggers[i].tgfoid == stamp && triggers->triggers[i].tgenabled != TRIGGER_DISABLED)
			return true;
	return false;
}

/* how one column is logged: its name, kind of value, masking */
static void
audit_init_column(AuditColumn *col, Form_pg_attribute att, Trigger *trigger, const AuditSetting *setting,
				  bool stamped, MemoryContext cxt)
{
	protector_jsonb_column_init(&col->json, att, cxt);
	col->name_text = PointerGetDatum(cstring_to_text(col->json.name));
	col->typlen = att->attlen;
	col->typbyval = att->attbyval;
	col->masked = audit_name_in_args(col->json.name, trigger) ||
		protector_audit_setting_masks(setting, col->json.name);
	col->is_updated_at = stamped && strcmp(col->json.name, "updated_at") == 0;
}

/*
 * A stored generated column computed from a masked one is masked too (a
 * column upper(secret) logged the secret): enable_audit names such columns
 * among the masks it writes, and one added since was logged in clear.
 * (A generated column reads no other generated column: one pass.)
 */
static void
audit_mask_generated(Relation rel, AuditTable *entry)
{
	for (int i = 0; i < entry->ncolumns; i++)
	{
		AuditColumn *col = &entry->columns[i];
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), col->json.attnum - 1);
		Node	   *expr;
		Bitmapset  *reads = NULL;

		if (col->masked || att->attgenerated != ATTRIBUTE_GENERATED_STORED ||
			(expr = build_column_default(rel, att->attnum)) == NULL)
			continue;
		pull_varattnos(expr, 1, &reads);
		for (int j = 0; j < entry->ncolumns; j++)
			if (entry->columns[j].masked &&
				bms_is_member(entry->columns[j].json.attnum - FirstLowInvalidHeapAttributeNumber, reads))
				col->masked = true;
	}
}

/*
 * Key types whose text is the same under every setting; any other (dates,
 * times, intervals, floats, money, bytea, arrays and composites of them)
 * is printed in one style, whatever the writing session's DateStyle,
 * TimeZone, IntervalStyle, extra_float_digits, bytea_output or search_path
 * (regclass and its kind).
 */
static bool
audit_key_type_is_plain(Oid type)
{
	switch (getBaseType(type))
	{
		case UUIDOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
		case CHAROID:
		case OIDOID:
		case BOOLOID:
			return true;
		default:
			return false;
	}
}

/* the primary key's columns and output functions, printed as record_id */
static void
audit_init_primary_key(AuditTable *entry, Relation rel)
{
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	HeapTuple	idxtup;
	Form_pg_index idx;

	entry->npk = 0;
	entry->pk = NULL;
	entry->pk_out = NULL;
	entry->pk_styled = false;
	if (!OidIsValid(pkoid))
		return;
	idxtup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkoid));
	if (!HeapTupleIsValid(idxtup))
		elog(ERROR, "cache lookup failed for index %u", pkoid);
	idx = (Form_pg_index) GETSTRUCT(idxtup);
	entry->npk = idx->indnkeyatts;
	entry->pk = palloc(sizeof(AuditColumn *) * entry->npk);
	entry->pk_out = palloc(sizeof(FmgrInfo) * entry->npk);
	for (int k = 0; k < entry->npk; k++)
	{
		AttrNumber	attnum = idx->indkey.values[k];
		Oid			outfunc;
		bool		isvarlena;

		entry->pk[k] = NULL;
		for (int c = 0; c < entry->ncolumns; c++)
		{
			if (entry->columns[c].json.attnum == attnum)
				entry->pk[k] = &entry->columns[c];
		}
		if (entry->pk[k] == NULL)
			elog(ERROR, "primary key column %d of \"%s\" not found", attnum, RelationGetRelationName(rel));
		getTypeOutputInfo(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid, &outfunc, &isvarlena);
		fmgr_info_cxt(outfunc, &entry->pk_out[k], entry->cxt);
		if (!audit_key_type_is_plain(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid))
			entry->pk_styled = true;
	}
	ReleaseSysCache(idxtup);
}

static AuditTable *
audit_build_table(Relation rel, Trigger *trigger)
{
	TupleDesc	desc = RelationGetDescr(rel);
	char	   *nspname = get_namespace_name(RelationGetNamespace(rel));
	bool		is_organizations = strcmp(nspname, "protector") == 0 &&
		strcmp(RelationGetRelationName(rel), "organizations") == 0;
	bool		stamped = stamps_updated_at(rel);
	/* built under the caller's context (an error takes it along), kept once whole */
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "protector audited table",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	AuditTable *entry = palloc0(sizeof(AuditTable));
	AuditSetting setting;

	entry->cxt = cxt;
	protector_audit_setting(RelationGetRelid(rel), &setting);
	entry->skip = !setting.audited;
	audit_check_masked(rel, trigger, &setting, nspname);
	entry->table_name = PointerGetDatum(cstring_to_text(protector_qualified_name(nspname,
																				 RelationGetRelationName(rel))));
	entry->columns = palloc0(sizeof(AuditColumn) * Max(desc->natts, 1));
	entry->ncolumns = 0;
	entry->org_attnum = InvalidAttrNumber;
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (att->attisdropped)
			continue;
		{
			OutputStyleNeed need = protector_output_style_need(att->atttypid);

			entry->columns[entry->ncolumns].names = (need == STYLE_NAMES);
			audit_init_column(&entry->columns[entry->ncolumns++], att, trigger, &setting, stamped, entry->cxt);
			entry->row_style = Max(entry->row_style, need);
		}
		if (getBaseType(att->atttypid) == UUIDOID &&
			strcmp(NameStr(att->attname), is_organizations ? "id" : "organization_id") == 0)
			entry->org_attnum = att->attnum;
	}

	audit_mask_generated(rel, entry);

	/*
	 * jsonb keeps an object's keys sorted (shorter first, then bytewise);
	 * pushing them in that order makes the final sort a presorted pass
	 */
	entry->json_order = palloc(sizeof(int) * Max(entry->ncolumns, 1));
	for (int c = 0; c < entry->ncolumns; c++)
		entry->json_order[c] = c;
	qsort_arg(entry->json_order, entry->ncolumns, sizeof(int), audit_jsonb_key_cmp, entry->columns);
	audit_init_primary_key(entry, rel);
	MemoryContextSwitchTo(old);
	entry->casts = protector_jsonb_generation();
	MemoryContextSetParent(cxt, audit_cxt);
	return entry;
}

static AuditTable *
audit_table_for(Relation rel, Trigger *trigger)
{
	AuditKey	key;
	AuditSlot  *slot;
	bool		found;

	audit_init_cache();
	memset(&key, 0, sizeof(key));
	key.relid = RelationGetRelid(rel);
	key.tgoid = trigger->tgoid;
	slot = hash_search(audit_tables, &key, HASH_ENTER, &found);
	if (!found)
	{
		slot->valid = false;
		slot->table = NULL;
	}
	if (!slot->valid || slot->table->casts != protector_jsonb_generation())
	{
		AuditTable *built;

		slot->valid = false;
		built = audit_build_table(rel, trigger);
		/* the old version goes with the transaction (see AuditTable) */
		if (slot->table != NULL)
			MemoryContextSetParent(slot->table->cxt, TopTransactionContext);
		slot->table = built;
		slot->valid = true;
	}
	return slot->table;
}

/* one column's value in the audit row: to_jsonb()'s, or the mask */
static void
audit_value(JsonbValue *v, AuditColumn *col, Datum value, bool isnull)
{
	if (col->masked && !isnull)
		protector_jsonb_string(v, AUDIT_MASK_TEXT, strlen(AUDIT_MASK_TEXT));
	else
		protector_jsonb_column_value(v, &col->json, value, isnull);
}

/* the column being converted, for an error's context */
typedef struct AuditValueContext
{
	AuditTable *entry;
	AuditColumn *col;
} AuditValueContext;

static void
audit_value_context(void *arg)
{
	AuditValueContext *where = (AuditValueContext *) arg;

	if (where->col != NULL)
		errcontext("protector's audit of %s: column \"%s\" as jsonb",
				   TextDatumGetCString(where->entry->table_name), where->col->json.name);
}

/*
 * the row as to_jsonb() makes it; a value jsonb cannot hold (a json
 * column's \u0000, a number beyond numeric's range) fails the change, its
 * error's context naming the audit and the column
 */
static Jsonb *
audit_row_jsonb(AuditTable *entry, const Datum *values, const bool *nulls)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;
	AuditValueContext where = {entry, NULL};
	ErrorContextCallback callback = {error_context_stack, audit_value_context, &where};

	error_context_stack = &callback;
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int c = 0; c < entry->ncolumns; c++)
	{
		AuditColumn *col = &entry->columns[entry->json_order[c]];
		JsonbValue	v;

		where.col = col;

		/*
		 * a regclass (or its kind) prints by search_path: qualified, in an
		 * empty one, pinned for this column alone (a user's cast of another
		 * column's type to json runs in the writer's)
		 */
		if (col->names && !col->masked && !nulls[col->json.attnum - 1])
		{
			int			level = protector_output_style_begin(true);

			audit_value(&v, col, values[col->json.attnum - 1], false);
			protector_output_style_end(level);
		}
		else
			audit_value(&v, col, values[col->json.attnum - 1], nulls[col->json.attnum - 1]);
		protector_push_member(&state, col->json.name, col->json.namelen, &v);
	}
	error_context_stack = callback.previous;
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

/* a key column's text: its value, or the mask (a masked key is masked here too) */
static char *
audit_key_text(AuditTable *entry, int k, const Datum *values)
{
	if (entry->pk[k]->masked)
		return pstrdup(AUDIT_MASK_TEXT);
	return OutputFunctionCall(&entry->pk_out[k], values[entry->pk[k]->json.attnum - 1]);
}

/*
 * the primary key as text: the value itself, or ROW(a, b)::text's form
 * (quoted as record_out quotes: isspace(), a vertical tab included)
 */
static Datum
audit_record_id(AuditTable *entry, const Datum *values, const bool *nulls)
{
	StringInfoData buf;

	if (entry->npk == 0)
		return (Datum) 0;
	if (entry->npk == 1)
	{
		AttrNumber	attnum = entry->pk[0]->json.attnum;

		if (nulls[attnum - 1])
			return (Datum) 0;
		return PointerGetDatum(cstring_to_text(audit_key_text(entry, 0, values)));
	}

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	for (int k = 0; k < entry->npk; k++)
	{
		AttrNumber	attnum = entry->pk[k]->json.attnum;
		char	   *s;
		bool		quote;

		if (k > 0)
			appendStringInfoChar(&buf, ',');
		if (nulls[attnum - 1])
			continue;
		s = audit_key_text(entry, k, values);
		quote = (s[0] == '\0');
		for (char *p = s; *p && !quote; p++)
			quote = (*p == '"' || *p == '\\' || *p == '(' || *p == ')' ||
					 *p == ',' || isspace((unsigned char) *p));
		if (!quote)
		{
			appendStringInfoString(&buf, s);
			continue;
		}
		appendStringInfoChar(&buf, '"');
		for (char *p = s; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&buf, *p);
			appendStringInfoChar(&buf, *p);
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, ')');
	return PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
}

/* names of the columns an UPDATE changed; NULL when nothing but updated_at */
static ArrayType *
audit_changed_columns(AuditTable *entry, const Datum *oldv, const bool *oldn,
					  const Datum *newv, const bool *newn)
{
	Datum	   *names = palloc(sizeof(Datum) * Max(entry->ncolumns, 1));
	int			n = 0;
	bool		real_change = false;

	for (int c = 0; c < entry->ncolumns; c++)
	{
		AuditColumn *col = &entry->columns[c];
		int			i = col->json.attnum - 1;
		bool		same;

		same = protector_values_same(oldv[i], oldn[i], newv[i], newn[i], col->typbyval, col->typlen);
		if (same)
			continue;
		names[n++] = col->name_text;
		if (!col->is_updated_at)
			real_change = true;
	}
	if (!real_change)
		return NULL;
	return construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/* do a pg_trigger row's arguments (nargs strings, each ended by a NUL) hold name? */
static bool
trigger_args_hold(HeapTuple tuple, TupleDesc desc, const char *name)
{
	int			nargs = ((Form_pg_trigger) GETSTRUCT(tuple))->tgnargs;
	bool		isnull;
	Datum		args = heap_getattr(tuple, Anum_pg_trigger_tgargs, desc, &isnull);
	bytea	   *bytes;
	const char *arg;
	const char *end;

	if (isnull)
		return false;
	bytes = DatumGetByteaPP(args);
	arg = VARDATA_ANY(bytes);
	end = arg + VARSIZE_ANY_EXHDR(bytes);
	for (int i = 0; i < nargs && arg < end; i++)
	{
		const char *nul = memchr(arg, '\0', end - arg);

		if (nul == NULL)
			break;
		if (strcmp(arg, name) == 0)
			return true;
		arg = nul + 1;
	}
	return false;
}

/* does an audit trigger of relid (whatever it is called) mask the column name? */
static bool
audit_masks_column(Oid relid, const char *name)
{
	Relation	triggers = table_open(TriggerRelationId, AccessShareLock);
	Oid			audit = protector_function_oid("protector", "audit_trigger", true);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		masked = false;

	AuditSetting setting;

	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(triggers, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (!masked && HeapTupleIsValid(tuple = systable_getnext(scan)))
		masked = ((Form_pg_trigger) GETSTRUCT(tuple))->tgfoid == audit &&
			trigger_args_hold(tuple, RelationGetDescr(triggers), name);
	systable_endscan(scan);
	table_close(triggers, AccessShareLock);
	if (masked)
		return true;
	protector_audit_setting(relid, &setting);
	return protector_audit_setting_masks(&setting, name);
}

/* the tables of a composite type's typed tables (CREATE TABLE ... OF type) */
static List *
typed_tables_of(Oid typid)
{
	Relation	classes = table_open(RelationRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *result = NIL;

	ScanKeyInit(&key, Anum_pg_class_reloftype, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(typid));
	scan = systable_beginscan(classes, InvalidOid, false, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		result = lappend_oid(result, ((Form_pg_class) GETSTRUCT(tuple))->oid);
	systable_endscan(scan);
	table_close(classes, AccessShareLock);
	return result;
}

/*
 * The tables a rename of a column (or of a composite type's attribute)
 * reaches: the table and, unless ONLY, its inheritors and partitions; a
 * type's typed tables and theirs
 */
static List *
renamed_tables(RenameStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	List	   *tables = NIL;

	if (!OidIsValid(relid))
		return NIL;
	if (stmt->renameType == OBJECT_ATTRIBUTE)
	{
		ListCell   *lc;

		foreach(lc, typed_tables_of(get_rel_type_id(relid)))
			tables = list_concat(tables, find_all_inheritors(lfirst_oid(lc), NoLock, NULL));
		return tables;
	}
	return stmt->relation->inh ? find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
}

/*
 * A masked column renamed would be logged in clear under its new name, and
 * a column added under its old name would take the mask in its place: the
 * rename is refused while the audit trigger of any table it reaches masks
 * the column (through a parent, or a typed table's type, too).
 */
static void
refuse_masked_rename(Node *parsetree)
{
	RenameStmt *stmt = (RenameStmt *) parsetree;
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, RenameStmt) ||
		(stmt->renameType != OBJECT_COLUMN && stmt->renameType != OBJECT_ATTRIBUTE) ||
		stmt->relation == NULL || stmt->subname == NULL)
		return;
	foreach(lc, renamed_tables(stmt))
	{
		Oid			relid = lfirst_oid(lc);

		if (!audit_masks_column(relid, stmt->subname))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot rename column \"%s\" of table \"%s\": the audit trigger masks it",
						stmt->subname, get_rel_name(relid)),
				 errdetail("Renamed, its values would reach the audit log in clear under the new name."),
				 errhint("In one transaction: protector.enable_audit() without it, the rename, then protector.enable_audit() with its new name.")));
	}
}

/*
 * protector.audit_release_writer(): an event trigger on ddl_command_start.
 * An open relation cannot be dropped or altered by the session holding it
 * ("being used by active queries"), so any DDL first closes the tables
 * open for direct inserts (direct_insert.c); their next use reopens them.
 * It also refuses to rename a masked column (refuse_masked_rename).
 */
PG_FUNCTION_INFO_V1(protector_audit_release_writer);
Datum
protector_audit_release_writer(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("audit_release_writer() must be called as an event trigger")));
	refuse_masked_rename(((EventTriggerData *) fcinfo->context)->parsetree);
	protector_direct_close_all();
	PG_RETURN_VOID();
}

static const TriggerProtocol audit_protocol = {
	.function = "audit_trigger()",
	.after = true,
	.row_events = PROTECTOR_ON_INSERT | PROTECTOR_ON_UPDATE | PROTECTOR_ON_DELETE,
	.statement_events = PROTECTOR_ON_TRUNCATE,
	.fired = "AFTER INSERT, UPDATE or DELETE FOR EACH ROW, or AFTER TRUNCATE FOR EACH STATEMENT",
	.hint = "Use protector.enable_audit() to attach it.",
};

/* the values of one audit_log row being built */
typedef struct AuditLogRow
{
	const AttrNumber *att;		/* audit_log's columns, by AL_* (in attbuf) */
	AttrNumber	attbuf[PROTECTOR_MAX_COLUMNS];
	Datum	   *values;
	bool	   *nulls;
} AuditLogRow;

static void
audit_set(AuditLogRow *row, int column, Datum value)
{
	row->values[row->att[column] - 1] = value;
	row->nulls[row->att[column] - 1] = false;
}

static const char *
audit_op(TriggerEvent event)
{
	if (TRIGGER_FIRED_BY_TRUNCATE(event))
		return "TRUNCATE";
	if (TRIGGER_FIRED_BY_INSERT(event))
		return "INSERT";
	return TRIGGER_FIRED_BY_UPDATE(event) ? "UPDATE" : "DELETE";
}

/* a row version's values, or NULLs when there is none */
static void
audit_deform(HeapTuple tuple, TupleDesc desc, Datum **values, bool **nulls)
{
	*values = NULL;
	*nulls = NULL;
	if (tuple == NULL)
		return;
	*values = palloc(sizeof(Datum) * desc->natts);
	*nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tuple, desc, *values, *nulls);
}

/* who, when, what table, which operation, which transaction */
static void
audit_set_context(AuditLogRow *row, AuditTable *entry, const char *op)
{
	pg_uuid_t	uid;
	char	   *role = GetUserNameFromId(GetOuterUserId(), true);

	/* (the identity column's default took the next id already) */
	if (row->nulls[row->att[AL_ID] - 1])
		audit_set(row, AL_ID, Int64GetDatum(nextval_internal(audit_log_target.seqid, false)));
	audit_set(row, AL_OCCURRED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	if (protector_get_current_user_id(&uid))
	{
		pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

		*u = uid;
		audit_set(row, AL_ACTOR_UID, UUIDPGetDatum(u));
	}
	if (role)
		audit_set(row, AL_ACTOR_ROLE, PointerGetDatum(cstring_to_text(role)));
	audit_set(row, AL_TABLE_NAME, entry->table_name);
	audit_set(row, AL_OP, PointerGetDatum(cstring_to_text(op)));
	audit_set(row, AL_TXID,
			  Int64GetDatum((int64) U64FromFullTransactionId(GetTopFullTransactionId())));
}

/*
 * The record_id of a version: a key printed by the session's settings
 * (pk_styled) in the style of to_jsonb's timestamps (output_style.c: ISO
 * dates, UTC, ...; and schema-qualified regclass), so that one row's
 * history has one id whoever wrote it (a date key was (1,2027-01-05),
 * (1,05/01/2027) and (1,05.01.2027)).
 */
static Datum
audit_record_id_of(AuditTable *entry, const Datum *values, const bool *nulls)
{
	int			level;
	Datum		id;

	if (!entry->pk_styled)
		return audit_record_id(entry, values, nulls);
	level = protector_output_style_begin(true);
	id = audit_record_id(entry, values, nulls);
	protector_output_style_end(level);
	return id;
}

/* the changed row as logged: organization, key, versions, changed columns (0: none) */
typedef struct AuditChange
{
	Datum		organization_id;
	Datum		record_id;
	Datum		old_row;
	Datum		new_row;
	Datum		changed_columns;
} AuditChange;

/*
 * The change, worked out before audit_log's row is begun: converting the
 * versions may run user code (a cast to json), even DDL, which closes the
 * tables open for direct inserts (audit_release_writer).
 */
static AuditChange
audit_change(AuditTable *entry, Datum *oldv, bool *oldn, Datum *newv, bool *newn, ArrayType *changed)
{
	AuditChange c = {0};
	int			level = -1;
	Datum	   *keyv = newv ? newv : oldv;
	bool	   *keyn = newn ? newn : oldn;

	if (keyv != NULL)
	{
		c.record_id = audit_record_id_of(entry, keyv, keyn);
		if (entry->org_attnum != InvalidAttrNumber && !keyn[entry->org_attnum - 1])
			c.organization_id = keyv[entry->org_attnum - 1];
	}
	/*
	 * the rows as to_jsonb() writes them in fixed settings: a range, an
	 * interval or a timestamp's offset read the same whoever wrote them
	 */
	if (!protector_output_style_holds(entry->row_style))
		level = protector_output_style_begin(false);
	if (oldv != NULL)
		c.old_row = JsonbPGetDatum(audit_row_jsonb(entry, oldv, oldn));
	if (newv != NULL)
		c.new_row = JsonbPGetDatum(audit_row_jsonb(entry, newv, newn));
	if (level >= 0)
		protector_output_style_end(level);
	if (changed != NULL)
		c.changed_columns = PointerGetDatum(changed);
	return c;
}

/* a value of the change into its column, where there is one */
static void
audit_set_if(AuditLogRow *row, int column, Datum value)
{
	if (value != (Datum) 0)
		audit_set(row, column, value);
}

static void
audit_set_change(AuditLogRow *row, const AuditChange *c)
{
	audit_set_if(row, AL_ORGANIZATION_ID, c->organization_id);
	audit_set_if(row, AL_RECORD_ID, c->record_id);
	audit_set_if(row, AL_OLD_ROW, c->old_row);
	audit_set_if(row, AL_NEW_ROW, c->new_row);
	audit_set_if(row, AL_CHANGED_COLUMNS, c->changed_columns);
}

/*
 * One row of audit_log: the columns it has besides with their defaults, as
 * in an INSERT
 */
static void
audit_insert(DirectTable *writer, AuditTable *entry, const char *op, const AuditChange *change)
{
	AuditLogRow row;
	int			natts = RelationGetDescr(protector_direct_relation(writer))->natts;

	/* (a copy: the defaults below run users' code, see support.h) */
	row.att = protector_columns_copy(&audit_log_columns, protector_direct_relation(writer), row.attbuf);
	row.values = palloc(sizeof(Datum) * natts);
	row.nulls = palloc(sizeof(bool) * natts);
	protector_direct_defaults(writer, row.values, row.nulls);
	audit_set_context(&row, entry, op);
	audit_set_change(&row, change);
	protector_direct_insert(writer, row.values, row.nulls);
}

/* an UPDATE that moves the row to another organization, from or to none included */
static bool
audit_row_moved(const AuditTable *entry, const Datum *oldv, const bool *oldn,
				const Datum *newv, const bool *newn)
{
	AttrNumber	att = entry->org_attnum;

	if (oldv == NULL || newv == NULL || att == InvalidAttrNumber)
		return false;
	if (oldn[att - 1] || newn[att - 1])
		return oldn[att - 1] != newn[att - 1];
	return memcmp(DatumGetUUIDP(oldv[att - 1]), DatumGetUUIDP(newv[att - 1]), UUID_LEN) != 0;
}

/*
 * The changed columns a move tells the organization the row left: its
 * organization column alone (the whole list told it which columns were
 * rewritten under the other: a review).
 */
static Datum
audit_moved_columns(AuditTable *entry)
{
	for (int c = 0; c < entry->ncolumns; c++)
	{
		if (entry->columns[c].json.attnum == entry->org_attnum)
		{
			Datum		name = entry->columns[c].name_text;

			return PointerGetDatum(construct_array(&name, 1, TEXTOID, -1, false, TYPALIGN_INT));
		}
	}
	return (Datum) 0;
}

/*
 * The copy of a move's audit row for the organization the row left (or
 * none): the row as it was there, under its key there (a key may hold the
 * organization), without the row as it is now, nor what else changed.
 */
static AuditChange
audit_change_left(AuditTable *entry, const AuditChange *change, Datum *oldv, bool *oldn)
{
	AuditChange left = *change;
	AttrNumber	att = entry->org_attnum;

	left.organization_id = oldn[att - 1] ? (Datum) 0 : oldv[att - 1];
	left.record_id = audit_record_id_of(entry, oldv, oldn);
	left.new_row = (Datum) 0;
	left.changed_columns = audit_moved_columns(entry);
	return left;
}

PG_FUNCTION_INFO_V1(protector_audit_trigger);
Datum
protector_audit_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = protector_trigger_data(fcinfo, &audit_protocol);
	TriggerEvent event = trigdata->tg_event;
	Relation	rel = trigdata->tg_relation;
	AuditTable *entry;
	Datum	   *oldv,
			   *newv;
	bool	   *oldn,
			   *newn;
	ArrayType  *changed = NULL;
	AuditChange change;
	AuditChange left;
	bool		moved;
	DirectTable *writer;

	/* restored rows are history: their audit rows are restored too */
	if (protector_restoring_row(trigdata))
		return PointerGetDatum(NULL);
	audit_load_target();
	if (RelationGetRelid(rel) == audit_log_target.relid)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("protector.audit_log cannot audit itself")));
	entry = audit_table_for(rel, trigdata->tg_trigger);
	if (entry->skip)
		return PointerGetDatum(NULL);	/* its audit_settings row: not audited */

	/* the versions: none for TRUNCATE, the new for INSERT, the old for DELETE */
	audit_deform(TRIGGER_FIRED_BY_TRUNCATE(event) || TRIGGER_FIRED_BY_INSERT(event) ? NULL : trigdata->tg_trigtuple,
				 RelationGetDescr(rel), &oldv, &oldn);
	audit_deform(TRIGGER_FIRED_BY_INSERT(event) ? trigdata->tg_trigtuple :
				 TRIGGER_FIRED_BY_UPDATE(event) ? trigdata->tg_newtuple : NULL,
				 RelationGetDescr(rel), &newv, &newn);
	if (oldv != NULL && newv != NULL)
	{
		changed = audit_changed_columns(entry, oldv, oldn, newv, newn);
		if (changed == NULL)
			return PointerGetDatum(NULL);	/* a no-op update */
	}

	change = audit_change(entry, oldv, oldn, newv, newn, changed);

	/*
	 * an UPDATE that moves the row to another organization is the history
	 * of both, whose owners read only their own organization's rows: each
	 * reads the row as it is (or was) under it, not what it holds under the
	 * other (as Broadcast tells the move)
	 */
	moved = audit_row_moved(entry, oldv, oldn, newv, newn);
	if (moved)
	{
		left = audit_change_left(entry, &change, oldv, oldn);
		change.old_row = (Datum) 0;
	}

	/* its columns looked up again if DDL ran meanwhile */
	audit_load_target();
	writer = protector_direct_table(audit_log_target.relid);
	audit_insert(writer, entry, audit_op(event), &change);
	if (moved)
		audit_insert(writer, entry, audit_op(event), &left);
	return PointerGetDatum(NULL);
}
