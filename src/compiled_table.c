/*-------------------------------------------------------------------------
 *
 * compiled_table.c
 *	  The CHECK constraints, partial index predicates and column DEFAULTs
 *	  of protector's tables, compiled once per backend instead of once per
 *	  statement: for the rows protector writes directly (direct_insert.c),
 *	  and, through an ExecutorStart hook, for every INSERT and UPDATE into a
 *	  table of schemas protector and protector_internal (a MERGE compiles
 *	  its own).
 *
 * ExecConstraints compiles a table's CHECKs the first time a statement's
 * result relation needs them: it parses each from its node string and
 * plans it (stringToNode, expression_planner), and a statement keeps the
 * result for its own rows only.  For protector.bookings that was 53,000
 * instructions per statement, 6% of a booking.  The hook hands a new
 * statement's result relations the backend's compiled CHECKs before
 * ExecConstraints looks, so it evaluates them without compiling.  The same
 * holds for a partial index's predicate, which ExecInsertIndexTuples
 * compiles at a statement's first row (ExecPrepareQual): 2,500
 * instructions each, and protector.bookings has seven.  An INSERT opens its
 * indexes only at its first row, after ExecutorStart: protector's BEFORE
 * ROW trigger on bookings (prepare_booking) hands them their predicates
 * then, as nothing else runs between the two; a statement whose indexes are
 * open at its start gets them there, and so do the direct inserts.
 *
 * Invariants:
 *	  - the expressions are compiled as ExecConstraints compiles them
 *		(expression_planner, then ExecInitExpr without a parent), in the
 *		order of the relcache's constr->check, which ExecRelCheck walks;
 *		a predicate as ExecPrepareQual compiles it (expression_planner,
 *		then ExecInitQual without a parent) from the statement's IndexInfo,
 *		kept by its index's OID and stale on a relcache invalidation of
 *		that index too (its rebuild inlines a SQL function's body anew);
 *	  - a compiled table is the table's current definition: a relcache
 *		invalidation of the table, a change of any function (which
 *		expression_planner may have inlined or folded), or of any type or
 *		constraint (a domain's, which a DEFAULT coerces to), marks it stale, and
 *		its next use compiles it again (an invalidation during the compiling
 *		leaves it stale);
 *	  - a compilation replaced or gone stale is freed when the top
 *		transaction ends, never earlier: a statement of this transaction that
 *		started with it may still evaluate it for its next row;
 *	  - only a table whose CHECKs cannot depend on the statement shares its
 *		compilation, and only such a predicate is shared (not_shareable()):
 *		columns, constants, plain operators and expressions, over built-in
 *		or protector's C functions that are not volatile; a whole-row
 *		reference, a domain, a SQL function (which expression_planner
 *		inlines under the statement's search_path), a procedural or
 *		volatile one (which may write the table and evaluate the CHECK
 *		inside itself) leave the table's statements compiling their own,
 *		as PostgreSQL does;
 *	  - the DEFAULTs (for direct_insert.c) are shared unless one calls a
 *		SQL function the planner inlines, whose names resolve under the
 *		search_path of whoever compiles it: then a direct insert compiles
 *		its own, again whenever the search_path has changed, as each INSERT
 *		does; a volatile default is shared (it is evaluated, never judging
 *		rows);
 *	  - a compilation is its user's, who may execute every function it
 *		calls (checked before compiling, so a statement of a user who may
 *		not compiles its own and fails as it would have), and a change of
 *		any function (its ACL included), role or membership marks every
 *		compilation stale; a DELETE compiles nothing;
 *		with an object access hook loaded (sepgsql), which wants to see every
 *		function each statement runs, statements compile their own;
 *	  - a statement evaluates the CHECKs as they were when it started (a
 *		statement of PostgreSQL's own compiles them at its first row);
 *	  - one evaluator at a time: a statement holds the compilation it was
 *		given from ExecutorStart to ExecutorEnd, a direct insert for its
 *		row; a statement or row that code of theirs runs meanwhile (a
 *		user's cast reached through to_jsonb, a domain's CHECK through a
 *		row type's input: built-in functions do run users' code) compiles
 *		its own, as PostgreSQL's would: evaluating the same states inside
 *		their evaluation would overwrite the values its steps hold.
 *
 * src/compiled_table.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_language.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "rewrite/rewriteHandler.h"
#include "utils/acl.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "compiled_table.h"
#include "support.h"

/* the compiled tables of this backend, by relid and user */
static HTAB *compiled = NULL;

/* bumped by every invalidation: a compiling it overtook is stale */
static uint64 invalidations = 0;

/* compilations replaced or stale, freed when the top transaction ends */
static MemoryContext retired = NULL;

/* something may be there to free: a compiling or an invalidation since */
static bool garbage = false;

/*
 * The compilations held now (protector_compiled_hold()), innermost last: a
 * statement's are given back at its ExecutorEnd, a row's when it is
 * written; those of an aborted (sub)transaction's holder count as free,
 * and all are given back when the top transaction ends.  More holds at
 * once than this (statements nested that deep): the inner ones compile
 * their own.
 */
#define MAX_HOLDS 16
static CompiledTable *holds[MAX_HOLDS];
static int	nholds = 0;

/* protector's two schemas, looked up once per backend */
static Oid	schemas[2] = {InvalidOid, InvalidOid};

static ExecutorStart_hook_type prev_executor_start = NULL;

/* c's predicate of index indexid, if it has compiled one (or found it not shared) */
static CompiledPredicate *
predicate_of(const CompiledTable *c, Oid indexid)
{
	for (int i = 0; i < c->npredicates; i++)
		if (c->predicates[i].index == indexid)
			return &c->predicates[i];
	return NULL;
}

static void
mark_stale(Oid relid)
{
	HASH_SEQ_STATUS seq;
	CompiledTable *c;

	invalidations++;
	garbage = true;
	if (compiled == NULL)
		return;
	hash_seq_init(&seq, compiled);
	while ((c = hash_seq_search(&seq)) != NULL)
		/*
		 * (an index's own relcache rebuild, ALTER INDEX ... SET say, may
		 * change its predicate: a SQL function it calls is inlined again)
		 */
		if (!OidIsValid(relid) || c->key.relid == relid || predicate_of(c, relid) != NULL)
			c->valid = false;
}

static void
relcache_changed(Datum arg pg_attribute_unused(), Oid relid)
{
	mark_stale(relid);
}

/*
 * A function changed (the compiled expressions may have inlined it, or its
 * ACL changed), a role or membership (a user's privileges), or a type or
 * constraint (a domain's default, NOT NULL or CHECKs, which the compiled
 * DEFAULTs coerce to and ALTER DOMAIN changes without a relcache
 * invalidation of the tables using it): all stale.
 */
static void
everything_changed(Datum arg pg_attribute_unused(),
				   int cacheid pg_attribute_unused(),
				   uint32 hashvalue pg_attribute_unused())
{
	mark_stale(InvalidOid);
}

/* is c evaluated now by a holder other than who? */
static bool
held_by_another(const CompiledTable *c, const void *who)
{
	return c->holder != NULL && c->holder != who && SubTransactionIsActive(c->held_in);
}

/* the i-th hold given back */
static void
drop_hold(int i)
{
	holds[i]->holder = NULL;
	memmove(&holds[i], &holds[i + 1], sizeof(CompiledTable *) * (nholds - i - 1));
	nholds--;
}

/* the holds of holders that were aborted (their statement or row failed) */
static void
forget_aborted_holds(void)
{
	for (int i = nholds - 1; i >= 0; i--)
		if (!SubTransactionIsActive(holds[i]->held_in))
			drop_hold(i);
}

/* protector_compiled_hold(), for a holder that began in subtransaction subid */
static bool
hold_since(CompiledTable *c, const void *who, SubTransactionId subid)
{
	/* (a holder that was aborted may have left it: taken anew) */
	if (c->holder == who && SubTransactionIsActive(c->held_in))
		return true;
	if (held_by_another(c, who))
		return false;
	/* (an aborted holder's entry, if any: one at most) */
	for (int i = 0; i < nholds; i++)
		if (holds[i] == c)
		{
			drop_hold(i);
			break;
		}
	if (nholds == MAX_HOLDS)
		forget_aborted_holds();
	if (nholds == MAX_HOLDS)
		return false;
	c->holder = who;
	c->held_in = subid;
	holds[nholds++] = c;
	return true;
}

bool
protector_compiled_hold(const CompiledTable *c, const void *who)
{
	return hold_since(unconstify(CompiledTable *, c), who, GetCurrentSubTransactionId());
}

void
protector_compiled_release(const void *who)
{
	for (int i = nholds - 1; i >= 0; i--)
		if (holds[i]->holder == who)
			drop_hold(i);
}

static void
release_all(void)
{
	for (int i = 0; i < nholds; i++)
		holds[i]->holder = NULL;
	nholds = 0;
}

/*
 * At the end of a top transaction no statement evaluates a compilation
 * any more: the retired ones go, and so do the stale ones (a dropped
 * table's would stay for the backend's life otherwise).
 */
static void
transaction_ended(XactEvent event, void *arg pg_attribute_unused())
{
	HASH_SEQ_STATUS seq;
	CompiledTable *c;

	if (nholds > 0 && protector_xact_ended(event))
		release_all();
	if (!garbage || !protector_xact_ended(event))
		return;					/* (most transactions: nothing compiled, nothing stale) */
	garbage = false;
	hash_seq_init(&seq, compiled);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (!c->valid && c->cxt != NULL)
		{
			MemoryContextDelete(c->cxt);
			c->cxt = NULL;
			c->npredicates = 0;	/* (they were in it) */
		}
	MemoryContextReset(retired);
}

/* a schema changed: look protector's up again */
static void
schema_changed(Datum arg pg_attribute_unused(),
			   int cacheid pg_attribute_unused(),
			   uint32 hashvalue pg_attribute_unused())
{
	schemas[0] = schemas[1] = InvalidOid;
}

static void
initialize(void)
{
	HASHCTL		ctl;

	if (compiled != NULL)
		return;
	retired = AllocSetContextCreate(TopMemoryContext, "protector retired compilations",
									ALLOCSET_SMALL_SIZES);
	ctl.keysize = sizeof(CompiledTableKey);
	ctl.entrysize = sizeof(CompiledTable);
	ctl.hcxt = TopMemoryContext;
	compiled = hash_create("protector compiled tables", 32, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	RegisterXactCallback(transaction_ended, NULL);
	protector_on_relcache_change(relcache_changed);
	CacheRegisterSyscacheCallback(PROCOID, everything_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, everything_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, everything_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, everything_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(CONSTROID, everything_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, schema_changed, (Datum) 0);
}

/* what ExecConstraints would make of expr, outside any query */
static ExprState *
compile_expression(Node *expr)
{
	return ExecInitExpr(expression_planner((Expr *) expr), NULL);
}

static bool
is_protector_schema(Oid nsp)
{
	if (!OidIsValid(schemas[0]))
	{
		schemas[0] = get_namespace_oid("protector", true);
		schemas[1] = get_namespace_oid("protector_internal", true);
	}
	return OidIsValid(nsp) && (nsp == schemas[0] || nsp == schemas[1]);
}

/* the caller may run funcid (PostgreSQL 16 made the check one per catalog) */
static bool
may_execute(Oid funcid)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ProcedureRelationId, funcid, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
#else
	return pg_proc_aclcheck(funcid, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
#endif
}

/*
 * A function a shared compilation may call: built in or protector's (C,
 * so nothing is inlined and no code of a user's runs), not volatile, and
 * executable by the user (ExecInitExpr would refuse it at compile time,
 * where PostgreSQL refuses it at the first row).
 */
static bool
function_not_shareable(Oid funcid, void *context pg_attribute_unused())
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Form_pg_proc proc;
	bool		refused;

	if (!HeapTupleIsValid(tuple))
		return true;
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	refused = (proc->prolang != INTERNALlanguageId && proc->prolang != ClanguageId) ||
		proc->provolatile == PROVOLATILE_VOLATILE ||
		!(proc->pronamespace == PG_CATALOG_NAMESPACE || is_protector_schema(proc->pronamespace)) ||
		!may_execute(funcid);
	ReleaseSysCache(tuple);
	return refused;
}

/*
 * Must this CHECK be compiled per statement, as PostgreSQL does?  Yes for
 * anything whose compiled state depends on the statement: a whole-row or
 * system column (its row descriptor lives in the statement's memory), row
 * type conversions, domains (their constraints change without a relcache
 * invalidation), SQL functions (inlined under the statement's search_path),
 * procedural or volatile functions (which may write the table and evaluate
 * the same state again, inside itself): only the node types below, over
 * shareable functions, are shared.
 */
static bool
not_shareable(Node *node, void *context)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
			if (((Var *) node)->varattno <= 0 || ((Var *) node)->varlevelsup != 0)
				return true;
			return false;
		case T_FuncExpr:
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
		case T_ScalarArrayOpExpr:
		case T_CoerceViaIO:
			if (check_functions_in_node(node, function_not_shareable, context))
				return true;
			break;
		case T_Const:
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_RelabelType:
		case T_CaseExpr:
		case T_CaseWhen:
		case T_CaseTestExpr:
		case T_CoalesceExpr:
		case T_ArrayExpr:
		case T_CollateExpr:
		case T_List:
			break;
		default:
			return true;
	}
	return expression_tree_walker(node, not_shareable, context);
}

/* the table's CHECKs, compiled; NULL if any of them is not to be shared */
static ExprState **
compile_checks(TupleConstr *constr, int *nchecks)
{
	Node	  **exprs;
	ExprState **checks;

	*nchecks = constr != NULL ? constr->num_check : 0;
	exprs = palloc(sizeof(Node *) * Max(*nchecks, 1));
	for (int i = 0; i < *nchecks; i++)
	{
		exprs[i] = stringToNode(constr->check[i].ccbin);
		if (not_shareable(exprs[i], NULL))
			return NULL;
	}
	checks = palloc0(sizeof(ExprState *) * Max(*nchecks, 1));
	for (int i = 0; i < *nchecks; i++)
		checks[i] = compile_expression(exprs[i]);
	return checks;
}

/*
 * A SQL function expression_planner may inline (no SET clause, not
 * SECURITY DEFINER): its body's names then resolve under the search_path
 * of whoever compiles it.
 */
static bool
function_inlinable(Oid funcid, void *context pg_attribute_unused())
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	bool		inlinable;

	if (!HeapTupleIsValid(tuple))
		return true;
	inlinable = ((Form_pg_proc) GETSTRUCT(tuple))->prolang == SQLlanguageId &&
		!((Form_pg_proc) GETSTRUCT(tuple))->prosecdef &&
		heap_attisnull(tuple, Anum_pg_proc_proconfig, NULL);
	ReleaseSysCache(tuple);
	return inlinable;
}

/*
 * The table's DEFAULTs, compiled; when shared, NULL if one of them calls a
 * SQL function the planner inlines (its compilation depends on the
 * search_path, as each INSERT's does: a user's column added to tasks, say).
 * Volatile functions are fine here: a default is evaluated, never a
 * judge of the rows its function may write.
 */
static ExprState **
compile_defaults(Relation rel, bool shared)
{
	TupleDesc	desc = RelationGetDescr(rel);
	ExprState **defaults = palloc0(sizeof(ExprState *) * Max(desc->natts, 1));

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Node	   *expr;

		/* (a generated column's "default" is its expression, computed later) */
		if (att->attisdropped || att->attgenerated != '\0')
			continue;
		expr = build_column_default(rel, att->attnum);
		/* none: NULL, which a domain still judges (as the planner's INSERT) */
		if (expr == NULL && get_typtype(att->atttypid) == TYPTYPE_DOMAIN)
			expr = coerce_to_domain((Node *) makeNullConst(att->atttypid, att->atttypmod, att->attcollation),
									InvalidOid, -1, att->atttypid,
									COERCION_IMPLICIT, COERCE_IMPLICIT_CAST, -1, false);
		if (expr != NULL && shared && protector_expression_calls(expr, function_inlinable, NULL))
			return NULL;
		if (expr != NULL)
			defaults[i] = compile_expression(expr);
	}
	return defaults;
}

ExprState **
protector_compile_defaults(Relation rel)
{
	return compile_defaults(rel, false);
}

/*
 * Compiles rel into c (its DEFAULTs too when asked), in a context of its
 * own, published to c only when complete: code the compiling runs (a
 * function folded by expression_planner) that compiles the same table
 * meanwhile finds it "compiling" and compiles its own.  The compilation
 * replaced is retired.  c stays stale if an invalidation came in meanwhile;
 * an error leaves c as it was (what was compiled goes with the retired).
 */
static void
compile_table(CompiledTable *c, Relation rel, bool with_defaults)
{
	uint64		seen = invalidations;
	MemoryContext cxt = AllocSetContextCreate(retired, "protector compiled table", ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ExprState **checks = NULL;
	ExprState **defaults = NULL;
	int			nchecks = 0;

	garbage = true;				/* (the replaced one, or this one on error) */

	c->compiling = true;
	PG_TRY();
	{
		checks = compile_checks(rel->rd_att->constr, &nchecks);
		if (with_defaults)
			defaults = compile_defaults(rel, true);
	}
	PG_FINALLY();
	{
		c->compiling = false;
		MemoryContextSwitchTo(old);
	}
	PG_END_TRY();
	if (c->cxt != NULL)
		MemoryContextSetParent(c->cxt, retired);
	MemoryContextSetParent(cxt, CacheMemoryContext);
	c->cxt = cxt;
	c->nchecks = nchecks;
	c->checks = checks;
	c->defaults = defaults;
	c->has_defaults = with_defaults;
	/* the partial indexes' predicates: compiled as statements meet them */
	c->npredicates = 0;
	c->maxpredicates = 4;
	c->predicates = MemoryContextAlloc(cxt, sizeof(CompiledPredicate) * c->maxpredicates);
	c->valid = seen == invalidations;
}

/* protector_compiled_table(), for this file's callers, which add predicates */
static CompiledTable *
compiled_for(Relation rel, bool with_defaults)
{
	CompiledTableKey key = {RelationGetRelid(rel), GetUserId()};
	bool		found;
	CompiledTable *c;

	initialize();
	c = hash_search(compiled, &key, HASH_ENTER, &found);
	if (!found)
	{
		memset(c, 0, sizeof(CompiledTable));
		c->key = key;
	}
	if (c->compiling)
		return NULL;
	if (!c->valid || (with_defaults && !c->has_defaults))
		compile_table(c, rel, with_defaults || c->has_defaults);
	return c;
}

const CompiledTable *
protector_compiled_table(Relation rel, bool with_defaults)
{
	return compiled_for(rel, with_defaults);
}

/*
 * The predicate of c's partial index indexid (its IndexInfo's), compiled as
 * ExecPrepareQual compiles it for one statement, now if it was not; NULL
 * when it is not to be shared (the statement compiles its own).  One
 * compiled while an invalidation came in is this statement's only.
 */
static ExprState *
compiled_predicate(CompiledTable *c, Oid indexid, List *predicate)
{
	uint64		seen = invalidations;
	ExprState  *state = NULL;
	CompiledPredicate *known = predicate_of(c, indexid);

	if (known != NULL)
		return known->state;
	if (!not_shareable((Node *) predicate, NULL))
	{
		MemoryContext old = MemoryContextSwitchTo(c->cxt);

		state = ExecInitQual((List *) expression_planner((Expr *) copyObject(predicate)), NULL);
		MemoryContextSwitchTo(old);
	}
	if (!c->valid || seen != invalidations)
		return state;
	protector_grow(c->predicates, c->maxpredicates, c->npredicates);
	c->predicates[c->npredicates].index = indexid;
	c->predicates[c->npredicates++].state = state;
	return state;
}

/* is ii a partial index's, its predicate not compiled yet? */
static bool
needs_predicate(const IndexInfo *ii)
{
	return ii != NULL && ii->ii_Predicate != NIL && ii->ii_PredicateState == NULL;
}

/* rri's partial indexes (opened by open_indices, direct_insert.c) get c's compiled predicates */
static void
give_predicates(CompiledTable *c, ResultRelInfo *rri)
{
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];

		if (needs_predicate(ii))
			ii->ii_PredicateState = compiled_predicate(c, RelationGetRelid(rri->ri_IndexRelationDescs[i]),
													   ii->ii_Predicate);
	}
}

void
protector_give_compiled_predicates(const CompiledTable *c, ResultRelInfo *rri)
{
	if (c->valid)
		give_predicates(unconstify(CompiledTable *, c), rri);
}

static bool
is_protector_table(Relation rel)
{
	return rel->rd_rel->relkind == RELKIND_RELATION && is_protector_schema(RelationGetNamespace(rel));
}

/* has rri a partial index (opened by open_indices, direct_insert.c) whose predicate is not compiled? */
static bool
wants_predicates(const ResultRelInfo *rri)
{
	for (int i = 0; i < rri->ri_NumIndices; i++)
		if (needs_predicate(rri->ri_IndexRelationInfo[i]))
			return true;
	return false;
}

/*
 * The statement's result relations that are protector's tables get the
 * compiled CHECKs and partial index predicates
 */
static void
give_compiled(EState *estate)
{
	ListCell   *lc;

	foreach(lc, estate->es_opened_result_relations)
	{
		ResultRelInfo *rri = (ResultRelInfo *) lfirst(lc);
		Relation	rel = rri->ri_RelationDesc;
		TupleConstr *constr = rel->rd_att->constr;
		bool		wants_checks = rri->ri_ConstraintExprs == NULL && constr != NULL && constr->num_check > 0;
		CompiledTable *c;

		if (!(wants_checks || wants_predicates(rri)) || !is_protector_table(rel))
			continue;
		c = compiled_for(rel, false);
		if (c == NULL || !c->valid || !protector_compiled_hold(c, estate))
			continue;
		if (wants_checks && c->checks != NULL && c->nchecks == constr->num_check)
			rri->ri_ConstraintExprs = c->checks;
		give_predicates(c, rri);
	}
}

/*
 * The INSERT into protector's table whose first row gets its partial
 * indexes' predicates: PostgreSQL 15 opens an INSERT's indexes at its first
 * row (ExecInsert), after ExecutorStart and before the row's BEFORE
 * triggers, which hand them over (protector_give_first_row_predicates()).
 * Forgotten when the statement ends (ExecutorEnd) or its (sub)transaction
 * aborts, and when another INSERT starts meanwhile (that one's first row
 * may come first).
 */
static ResultRelInfo *first_row_rri = NULL;
static EState *first_row_estate = NULL;
static Oid	first_row_user = InvalidOid;	/* the statement's user */
static SubTransactionId first_row_subid = InvalidSubTransactionId;	/* and its
																	 * subtransaction */

static ExecutorEnd_hook_type prev_executor_end = NULL;

static void
forget_first_row(void)
{
	first_row_rri = NULL;
	first_row_estate = NULL;
}

/* a plain INSERT into protector's table, its indexes not yet open: remembered */
static void
remember_first_row(QueryDesc *queryDesc)
{
	ModifyTable *node = (ModifyTable *) queryDesc->plannedstmt->planTree;
	EState	   *estate = queryDesc->estate;
	ResultRelInfo *rri;

	if (node == NULL || !IsA(node, ModifyTable) || node->operation != CMD_INSERT ||
		list_length(estate->es_opened_result_relations) != 1)
		return;
	rri = linitial(estate->es_opened_result_relations);
	if (!rri->ri_RelationDesc->rd_rel->relhasindex || rri->ri_IndexRelationDescs != NULL ||
		!is_protector_table(rri->ri_RelationDesc))
		return;
	first_row_rri = rri;
	first_row_estate = estate;
	first_row_user = GetUserId();
	first_row_subid = GetCurrentSubTransactionId();
}

void
protector_give_first_row_predicates(Relation rel)
{
	ResultRelInfo *rri = first_row_rri;
	CompiledTable *c;

	/* (another statement's trigger, as another user: compiled for that one) */
	if (rri == NULL || rri->ri_RelationDesc != rel || rri->ri_NumIndices == 0 ||
		GetUserId() != first_row_user || object_access_hook != NULL)
		return;
	/*
	 * held for the statement, from its subtransaction: the trigger may run
	 * for a row of another statement further down, a CTE's inside a
	 * PL/pgSQL block's subtransaction, whose end would free the hold
	 */
	c = compiled_for(rel, false);
	if (c != NULL && c->valid && hold_since(c, first_row_estate, first_row_subid))
		give_predicates(c, rri);
	forget_first_row();
}

static void
compiled_executor_end(QueryDesc *queryDesc)
{
	if (queryDesc->estate == first_row_estate)
		forget_first_row();
	if (nholds > 0)
		protector_compiled_release(queryDesc->estate);
	if (prev_executor_end != NULL)
		prev_executor_end(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

static void
first_row_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (protector_xact_ended(event))
		forget_first_row();
}

static void
first_row_subxact_callback(SubXactEvent event,
						   SubTransactionId mySubid pg_attribute_unused(),
						   SubTransactionId parentSubid pg_attribute_unused(),
						   void *arg pg_attribute_unused())
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		forget_first_row();
}

static void
compiled_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (prev_executor_start != NULL)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	/* (DELETE checks nothing; a CTE's statements compile their own) */
	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 && queryDesc->estate != NULL &&
		(queryDesc->operation == CMD_INSERT || queryDesc->operation == CMD_UPDATE) &&
		object_access_hook == NULL)
	{
		give_compiled(queryDesc->estate);
		remember_first_row(queryDesc);
	}
}

void
protector_compiled_table_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = compiled_executor_start;
	prev_executor_end = ExecutorEnd_hook;
	ExecutorEnd_hook = compiled_executor_end;
	RegisterXactCallback(first_row_xact_callback, NULL);
	RegisterSubXactCallback(first_row_subxact_callback, NULL);
}
