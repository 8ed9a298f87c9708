/*-------------------------------------------------------------------------
 *
 * compiled_table.c
 *	  The CHECK constraints and column DEFAULTs of protector's tables,
 *	  compiled once per backend instead of once per statement: for the rows
 *	  protector writes directly (direct_insert.c), and, through an
 *	  ExecutorStart hook, for every INSERT, UPDATE and MERGE into a table
 *	  of schemas protector and protector_internal.
 *
 * ExecConstraints compiles a table's CHECKs the first time a statement's
 * result relation needs them: it parses each from its node string and
 * plans it (stringToNode, expression_planner), and a statement keeps the
 * result for its own rows only.  For protector.bookings that was 53,000
 * instructions per statement, 6% of a booking.  The hook hands a new
 * statement's result relations the backend's compiled CHECKs before
 * ExecConstraints looks, so it evaluates them without compiling.
 *
 * Invariants:
 *	  - the expressions are compiled as ExecConstraints compiles them
 *		(expression_planner, then ExecInitExpr without a parent), in the
 *		order of the relcache's constr->check, which ExecRelCheck walks;
 *	  - a compiled table is the table's current definition: a relcache
 *		invalidation of the table, or a change of any function (which
 *		expression_planner may have inlined or folded), marks it stale, and
 *		its next use compiles it again (an invalidation during the compiling
 *		leaves it stale);
 *	  - a compilation replaced or gone stale is freed when the top
 *		transaction ends, never earlier: a statement of this transaction that
 *		started with it may still evaluate it for its next row;
 *	  - a compilation is its user's: compiling checks the user's EXECUTE
 *		privilege on each function called (ExecInitExpr) and inlines only
 *		the SQL functions the user may execute (inline_function), so a table
 *		is compiled per user, and a change of any function (its ACL
 *		included), role or role membership marks every compilation stale;
 *		with an object access hook loaded (sepgsql), which wants to see every
 *		function each statement runs, statements compile their own;
 *	  - a statement evaluates the CHECKs as they were when it started (a
 *		statement of PostgreSQL's own compiles them at its first row).
 *
 * src/compiled_table.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
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

/* protector's two schemas, looked up once per backend */
static Oid	schemas[2] = {InvalidOid, InvalidOid};

static ExecutorStart_hook_type prev_executor_start = NULL;

static void
mark_stale(Oid relid)
{
	HASH_SEQ_STATUS seq;
	CompiledTable *c;

	invalidations++;
	if (compiled == NULL)
		return;
	hash_seq_init(&seq, compiled);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (!OidIsValid(relid) || c->key.relid == relid)
			c->valid = false;
}

static void
relcache_changed(Datum arg, Oid relid)
{
	mark_stale(relid);
}

/*
 * A function changed (the compiled expressions may have inlined it, or its
 * ACL changed), or a role or membership (a user's privileges): all stale.
 */
static void
privileges_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	mark_stale(InvalidOid);
}

/*
 * At the end of a top transaction no statement evaluates a compilation
 * any more: the retired ones go, and so do the stale ones (a dropped
 * table's would stay for the backend's life otherwise).
 */
static void
transaction_ended(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS seq;
	CompiledTable *c;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PARALLEL_ABORT)
		return;
	hash_seq_init(&seq, compiled);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (!c->valid && c->cxt != NULL)
		{
			MemoryContextDelete(c->cxt);
			c->cxt = NULL;
		}
	MemoryContextReset(retired);
}

/* a schema changed: look protector's up again */
static void
schema_changed(Datum arg, int cacheid, uint32 hashvalue)
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
	CacheRegisterSyscacheCallback(PROCOID, privileges_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, privileges_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, privileges_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, schema_changed, (Datum) 0);
}

/* what ExecConstraints would make of expr, outside any query */
static ExprState *
compile_expression(Node *expr)
{
	return ExecInitExpr(expression_planner((Expr *) expr), NULL);
}

static void
compile_checks(CompiledTable *c, TupleConstr *constr)
{
	c->nchecks = constr != NULL ? constr->num_check : 0;
	c->checks = palloc0(sizeof(ExprState *) * Max(c->nchecks, 1));
	for (int i = 0; i < c->nchecks; i++)
	{
		c->checks[i] = compile_expression(stringToNode(constr->check[i].ccbin));
	}
}

static void
compile_defaults(CompiledTable *c, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	c->defaults = palloc0(sizeof(ExprState *) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Node	   *expr;

		/* (a generated column's "default" is its expression, computed later) */
		if (att->attisdropped || att->attgenerated != '\0')
			continue;
		expr = build_column_default(rel, att->attnum);
		if (expr != NULL)
			c->defaults[i] = compile_expression(expr);
	}
}

/*
 * Compiles rel into c, in a context of its own; the one it replaces is
 * retired.  c stays stale if an invalidation came in meanwhile, or if the
 * compiling failed (the error leaves c without a context).
 */
static void
compile_table(CompiledTable *c, Relation rel)
{
	uint64		seen = invalidations;
	MemoryContext old;

	if (c->cxt != NULL)
		MemoryContextSetParent(c->cxt, retired);
	c->cxt = NULL;
	c->valid = false;
	old = MemoryContextSwitchTo(retired);
	c->cxt = AllocSetContextCreate(retired, "protector compiled table", ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(c->cxt);
	compile_checks(c, rel->rd_att->constr);
	compile_defaults(c, rel);
	MemoryContextSwitchTo(old);
	/* (kept: the context moves from the retired ones to the cache) */
	MemoryContextSetParent(c->cxt, CacheMemoryContext);
	c->valid = seen == invalidations;
}

const CompiledTable *
protector_compiled_table(Relation rel)
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
	if (!c->valid)
		compile_table(c, rel);
	return c;
}

static bool
is_protector_table(Relation rel)
{
	Oid			nsp = RelationGetNamespace(rel);

	if (!OidIsValid(schemas[0]))
	{
		schemas[0] = get_namespace_oid("protector", true);
		schemas[1] = get_namespace_oid("protector_internal", true);
	}
	return rel->rd_rel->relkind == RELKIND_RELATION &&
		OidIsValid(nsp) && (nsp == schemas[0] || nsp == schemas[1]);
}

/* the statement's result relations that are protector's tables get the compiled CHECKs */
static void
give_compiled_checks(EState *estate)
{
	ListCell   *lc;

	foreach(lc, estate->es_opened_result_relations)
	{
		ResultRelInfo *rri = (ResultRelInfo *) lfirst(lc);
		Relation	rel = rri->ri_RelationDesc;
		const CompiledTable *c;

		if (rri->ri_ConstraintExprs != NULL || rel->rd_att->constr == NULL ||
			rel->rd_att->constr->num_check == 0 || !is_protector_table(rel))
			continue;
		c = protector_compiled_table(rel);
		if (c->valid && c->nchecks == rel->rd_att->constr->num_check)
			rri->ri_ConstraintExprs = c->checks;
	}
}

static void
compiled_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (prev_executor_start != NULL)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 && queryDesc->estate != NULL &&
		object_access_hook == NULL)
		give_compiled_checks(queryDesc->estate);
}

void
protector_compiled_table_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = compiled_executor_start;
}
