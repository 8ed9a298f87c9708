/*-------------------------------------------------------------------------
 *
 * support.h
 *	  The C layer's shared mechanics, written once: required arguments,
 *	  the trigger protocol, column lookup by name, the error of a damaged
 *	  installation, and array growth.
 *
 * src/support.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_SUPPORT_H
#define PROTECTOR_SUPPORT_H

#include "access/tupdesc.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"
#include "executor/tuptable.h"

/* "<name> must not be null" (invalid parameter) unless argument argno is given */
extern void protector_require_arg(FunctionCallInfo fcinfo, int argno, const char *name);

/* errhint() of an object of protector's own that is missing or changed */
extern int	protector_errhint_damaged(void);

/*
 * errhint() of a table missing a column or sibling a trigger needs: the
 * damaged hint for protector's own tables; for a user's table the trigger
 * was attached to, what it needs there
 */
extern int	protector_errhint_table(Relation rel);

/* "<what> needs a UTF8 database" (feature not supported) unless it is one */
extern void protector_require_utf8(const char *what);

/* one column's values in two rows the same: both NULL, or equal images */
extern bool protector_values_same(Datum a, bool a_null, Datum b, bool b_null, bool byval, int len);

/* the events a trigger function accepts, per level (bits) */
#define PROTECTOR_ON_INSERT (1 << TRIGGER_EVENT_INSERT)
#define PROTECTOR_ON_DELETE (1 << TRIGGER_EVENT_DELETE)
#define PROTECTOR_ON_UPDATE (1 << TRIGGER_EVENT_UPDATE)
#define PROTECTOR_ON_TRUNCATE (1 << TRIGGER_EVENT_TRUNCATE)

typedef struct TriggerProtocol
{
	const char *function;		/* "audit_trigger()", for messages */
	bool		after;			/* AFTER, else BEFORE */
	int			row_events;		/* PROTECTOR_ON_* fired FOR EACH ROW */
	int			statement_events;	/* PROTECTOR_ON_* fired FOR EACH STATEMENT */
	const char *fired;			/* "AFTER UPDATE FOR EACH ROW", for messages */
	const char *hint;			/* how to attach it, or NULL */
} TriggerProtocol;

/* the call's TriggerData, once the call is a trigger firing as protocol says */
extern TriggerData *protector_trigger_data(FunctionCallInfo fcinfo,
										   const TriggerProtocol *protocol);

/*
 * Fires another trigger function (flinfo) from within a trigger (outer), as
 * its own trigger would have: outer's trigger data, with row as the row
 * (NULL for a statement trigger).  Returns what it returns: the row to
 * store, or NULL to skip it.
 */
extern HeapTuple protector_fire_trigger(FunctionCallInfo outer, FmgrInfo *flinfo, HeapTuple row);

/*
 * The attnum of a live column called name (of type typid, a domain counting
 * as its base type, unless typid is InvalidOid), or InvalidAttrNumber.
 */
extern AttrNumber protector_column(TupleDesc desc, const char *name, Oid typid);

/* the same, for a column the table must have (protector_errhint_table) */
extern AttrNumber protector_column_required(Relation rel, const char *name, Oid typid);

/*
 * value (of type typid, the column's base type) as an assignment to the
 * column would store it: a scalar type's modifier applied (timestamptz(0)
 * rounds; an array's is not), its domain's checks run.  For users' tables,
 * whose columns may be declared so; a column of exactly typid, without a
 * modifier, takes the value as it is.
 */
extern Datum protector_assign_to_column(Relation rel, AttrNumber attnum, Datum value, Oid typid);

/* a column a C function reads or writes by name (type InvalidOid: any) */
typedef struct ProtectorColumn
{
	const char *name;
	Oid			type;			/* its (base) type; InvalidOid: any */
	bool		written;		/* protector stores Datums of type there:
								 * exactly that type, no domain, no typmod */
} ProtectorColumn;

#define PROTECTOR_MAX_COLUMNS 16

/*
 * The attnums of a fixed list of columns of one table, found by name
 * (protector_column_required) on first use, and again after a relcache
 * invalidation of the table or when asked about another table.  Declared
 * static with its list: {.columns = list, .ncolumns = lengthof(list)}.
 */
typedef struct ProtectorColumns
{
	const ProtectorColumn *columns;
	int			ncolumns;
	Oid			relid;			/* whose attnums these are; InvalidOid: none */
	bool		registered;		/* with the relcache dispatcher */
	AttrNumber	attnum[PROTECTOR_MAX_COLUMNS];
} ProtectorColumns;

/*
 * A column protector writes values of typid into directly (no coercion
 * runs): it must be of exactly that type, without a type modifier, else
 * 42804 with the damaged hint.  Returns its attnum.
 */
extern AttrNumber protector_column_writable(Relation rel, const char *name, Oid typid);

/*
 * A column protector's schema declares NOT NULL, read from a row of table
 * (its name, for the message): NULL there, where the constraint has been
 * dropped, is an error (23502 with the damaged hint), never a Datum read.
 */
extern Datum protector_attr_notnull(HeapTuple tuple, TupleDesc desc, AttrNumber attnum, const char *table);
extern Datum protector_slot_notnull(TupleTableSlot *slot, AttrNumber attnum, const char *table);

/*
 * the attnums of cache's columns in rel, in the order of its list: valid
 * until the cache is asked about another table, which users' code may do
 * (a column's DEFAULT that writes a table of the same kind elsewhere);
 * protector_columns_copy() copies them into att
 * (PROTECTOR_MAX_COLUMNS entries) for a caller that runs such code
 */
extern const AttrNumber *protector_columns(ProtectorColumns *cache, Relation rel);
extern const AttrNumber *protector_columns_copy(ProtectorColumns *cache, Relation rel, AttrNumber *att);

/* a value of the given type as its output function writes it */
extern char *protector_value_text(Oid type, Datum value);

/* the relid of protector's table name, beside rel in its schema */
extern Oid	protector_sibling_relid(Relation rel, const char *name);

/* a JSON string of len bytes at s (not copied) */
extern void protector_jsonb_string(JsonbValue *v, const char *s, int len);

/* does an expression call a function of which checker says true? */
extern bool protector_expression_calls(Node *node, check_function_callback checker, void *context);
/* key: value into the jsonb object being built */
extern void protector_push_member(JsonbParseState **state, const char *key, int keylen,
								  JsonbValue *value);

/*
 * Calls func(arg, relid) on every relcache invalidation from now on: once
 * per backend however often it is asked (PostgreSQL's list of callbacks is
 * short and cannot be unregistered from).
 */
extern void protector_on_relcache_change(RelcacheCallbackFunction func);

/*
 * Has this transaction callback event ended the top transaction (commit,
 * abort or prepare, in a parallel worker too)?  Where per-backend caches
 * free what was left stale: no statement uses it any more.
 */
extern bool protector_xact_ended(XactEvent event);

/*
 * Room for element number used (0-based) in a palloc'd array of *cap
 * elements of elem bytes: doubles it in its memory context when full.
 */
extern void *protector_grow_array(void *array, int *cap, int used, Size elem);

#define protector_grow(array, cap, used) \
	((array) = protector_grow_array((array), &(cap), (used), sizeof(*(array))))

/*
 * Organizations in the order first seen, each with a count (a transition
 * table's rows, a transaction's announcements); found by a scan while
 * they are few, through a hash once they are many, so that a statement
 * over thousands of organizations costs what they cost one by one.
 */
typedef struct OrgCount
{
	pg_uuid_t	org;
	int64		rows;
} OrgCount;

typedef struct OrgCounts
{
	OrgCount   *orgs;
	int			n;
	int			cap;
	HTAB	   *positions;		/* org -> index into orgs, once many */
	MemoryContext cxt;			/* where orgs and positions live */
} OrgCounts;

extern void protector_org_counts_init(OrgCounts *counts);
extern OrgCount *protector_org_count(OrgCounts *counts, const pg_uuid_t *org, bool add);
extern void protector_orgs_of_rows(Tuplestorestate *rows, TupleTableSlot *slot,
								   AttrNumber org_att, OrgCounts *counts);

/*
 * Who last deleted, updated or locked the row version a buffer slot holds
 * (a heap table's, as an index scan fetched it): its infomask and its
 * updater's transaction (of a MultiXact's members, the one that updated
 * or deleted it; InvalidTransactionId for none), read under the buffer's
 * share lock.  False for a slot that holds no buffer tuple.
 */
typedef struct ProtectorRowXmax
{
	uint16		infomask;
	TransactionId raw_xmax;		/* a MultiXactId where infomask says so */
	TransactionId updater;		/* who updated or deleted it, or invalid */
	bool		deleted;		/* deleted (its ctid points at itself), not updated */
} ProtectorRowXmax;

extern bool protector_row_xmax(TupleTableSlot *slot, ProtectorRowXmax *xmax);

/* the row whose unique uuid index holds key, into slot; false if none */
extern bool protector_fetch_by_uuid(Relation rel, Relation index, Datum key,
									Snapshot snapshot, TupleTableSlot *slot);

/*
 * The text column name of the row of table (beside sibling_of) whose
 * primary key is key, on the active snapshot, past RLS (NULL if no row or
 * no value); with other, a copy of its uuid column other_name too.
 */
extern char *protector_text_by_key(Relation sibling_of, const char *table, Datum key,
								   const char *name, Datum *other, const char *other_name);

/* the primary key index of protector's table rel (its absence is an error) */
extern Oid	protector_primary_key(Relation rel);

/*
 * An index protector scans with keys of its own making: a btree on
 * nkeys key columns of the given types (and, with attnums, those columns
 * of its table), else 55000 with the damaged hint: keys built for other
 * columns would be compared with the wrong functions.
 */
extern void protector_check_key_index(Relation index, int nkeys, const AttrNumber *attnums, const Oid *types);

/*
 * The unique btree index of rel (valid, without a predicate) whose key is
 * attnums of types, in that order; 55000 with the damaged hint when there
 * is none.
 */
extern Oid	protector_unique_index_on(Relation rel, int nkeys, const AttrNumber *attnums,
									  const Oid *types);

/*
 * protector_internal.<name>() without arguments (a trigger function),
 * found by the catalog: no permission check on the schema, as firing a
 * trigger needs none.  Its absence is the error of a damaged installation.
 */
extern Oid	protector_internal_function(const char *name);
/* the same with nargs arguments of argtypes */
extern Oid	protector_internal_function_of(const char *name, int nargs, const Oid *argtypes);

/*
 * schema.name(), a function without arguments, or InvalidOid (with
 * missing_ok, also when the schema is missing)
 */
extern Oid	protector_function_oid(const char *schema, const char *name, bool missing_ok);
extern Oid	protector_function_oid_of(const char *schema, const char *name, int nargs, const Oid *argtypes,
									  bool missing_ok);

extern char *protector_installed_version(void);
/* a table of protector_internal (InvalidOid if none and missing_ok) */
extern Oid	protector_internal_relid(const char *name, bool missing_ok);
/* the same of schema protector */
extern Oid	protector_relid(const char *name, bool missing_ok);

#endif							/* PROTECTOR_SUPPORT_H */
