/*-------------------------------------------------------------------------
 *
 * direct_insert.c
 *	  Rows protector writes into its own tables without an INSERT
 *	  statement: the heap and the indexes directly, after the table's
 *	  NOT NULL and CHECK constraints, as logical replication's apply does
 *	  (execReplication.c, ExecSimpleRelationInsert).  The audit trigger
 *	  writes audit_log rows this way; a statement per row would cost an
 *	  executor start-up each.
 *
 * Invariants:
 *	  - a column the writer leaves alone gets its DEFAULT, evaluated per row
 *		as INSERT does (none: NULL, which a domain's NOT NULL and CHECKs
 *		judge, as INSERT's does), and stored generated columns are computed;
 *	  - every row passes the table's constraints (ExecConstraints), and a
 *		partition's bounds (ExecPartitionCheck), before it is stored, and
 *		its index entries are made at once (unique indexes
 *		checked; a deferrable one is refused, its check at commit needs a
 *		trigger these rows do not queue); columns the writer sets are of
 *		exactly the type it writes (support.c, protector_column_writable);
 *	  - no RLS applies and none of protector's triggers fires: the writer
 *		decides the row, and proves its references by construction (an
 *		audit row's organization is the audited row's); AFTER ROW INSERT
 *		triggers of others fire, as for an INSERT, at once even where
 *		deferrable (pg_repack's log trigger: a row written while it
 *		rebuilt the table was lost at its swap, an audit row, a task, a
 *		report's change), BEFORE ROW and statement triggers of others,
 *		and foreign keys' checks, do not (foreign_triggers());
 *	  - a table is opened once per transaction, under a resource owner and
 *		in a memory context of its own (children of the top transaction's),
 *		and closed before commit, which deletes both; an error while it
 *		opens releases all it held; on abort the top transaction's owner
 *		releases it; DDL first closes every open table
 *		(protector.audit_release_writer(), an event trigger), a rolled-back
 *		subtransaction the ones whose table or index it created, and a relcache
 *		invalidation (or a change of a function, type or constraint)
 *		reopens the table on its next use.  (TRUNCATE, REINDEX and CLUSTER
 *		fire no event trigger, and under session_replication_role = replica
 *		none fires: such commands on a table written earlier in the same
 *		transaction are refused as "in use".)  A
 *		table opened "once" (a row written just before commit, when the
 *		others may be closed already) is not listed: its writer closes it.
 *
 * src/direct_insert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "compiled_table.h"
#include "direct_insert.h"
#include "support.h"

struct DirectTable
{
	Oid			relid;
	bool		stale;			/* its definition changed: reopen */
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	ExprState **defaults;		/* per column: its DEFAULT, or NULL */
	char	   *defaults_path;	/* the search_path its own defaults were
								 * compiled under; NULL: shared ones */
	SubTransactionId in_use;	/* a row is being made (defaults) or
								 * inserted, in this subtransaction (none:
								 * Invalid) */
	const CompiledTable *compiled;	/* whose CHECKs, predicates and
									 * DEFAULTs it was given */
	bool		own_states;		/* it compiled its own instead, for good */
	ResourceOwner owner;		/* what it holds: a child of the top
								 * transaction's owner, its own */
	MemoryContext cxt;			/* where it lives (this struct too) */
	struct DirectTable *next;
};

static void compile_own_defaults(DirectTable *t);

/* the tables open in this transaction (each in its own memory context) */
static DirectTable *open_tables = NULL;
static bool callbacks_registered = false;

/*
 * Trigger functions found to be protector's, kept until a function
 * changes (direct_catalog_callback): each transaction that writes a review
 * task asked the catalog whose keep_review_tasks is (the instruction
 * bench: a booking 4,000 instructions dearer).
 */
#define PROTECTORS_FUNCTIONS_KEPT 8
static Oid	protectors_functions[PROTECTORS_FUNCTIONS_KEPT];
static int	protectors_functions_next = 0;

/*
 * Opens the table's indexes into rri, as the executor's ExecOpenIndices
 * does, but counting each index as it is opened: an error half way (a
 * lock_timeout or statement_timeout on an index's lock, a cancel) leaves
 * ri_NumIndices the indexes really open, which the caller closes.
 * ExecOpenIndices sets the count first over an array it has not filled,
 * and closing after its error closed garbage pointers (a crash of the
 * server: an attack on interruptions).
 */
static void
open_indices(ResultRelInfo *rri)
{
	Relation	rel = rri->ri_RelationDesc;
	List	   *oids;
	ListCell   *lc;

	rri->ri_NumIndices = 0;
	if (!rel->rd_rel->relhasindex)
		return;
	oids = RelationGetIndexList(rel);
	if (oids == NIL)
		return;
	rri->ri_IndexRelationDescs = palloc0(sizeof(Relation) * list_length(oids));
	rri->ri_IndexRelationInfo = palloc0(sizeof(IndexInfo *) * list_length(oids));
	foreach(lc, oids)
	{
		int			i = rri->ri_NumIndices;

		rri->ri_IndexRelationDescs[i] = index_open(lfirst_oid(lc), RowExclusiveLock);
		rri->ri_NumIndices = i + 1;
		rri->ri_IndexRelationInfo[i] = BuildIndexInfo(rri->ri_IndexRelationDescs[i]);
	}
	list_free(oids);
}

/*
 * Closes the indexes open_indices opened, keeping their locks until the
 * transaction ends as the table's is kept: ExecCloseIndices would release
 * them one at a time just before the commit releases every lock at once
 * (20,000 instructions per full booking, which opens 12 such indexes).
 * (An index whose IndexInfo an error left unbuilt has no insert state.)
 */
static void
close_indices_keep_locks(ResultRelInfo *rri)
{
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];

		if (index == NULL)
			continue;
#if PG_VERSION_NUM >= 170000
		if (rri->ri_IndexRelationInfo[i] != NULL)
			index_insert_cleanup(index, rri->ri_IndexRelationInfo[i]);
#endif
		index_close(index, NoLock);
	}
}

/*
 * Releases a table's resource owner and deletes it: on a close, its locks
 * go to the transaction (as a subtransaction's commit hands them on); after
 * an error, everything goes, also what PostgreSQL's catalog reads held
 * under it when the error struck.
 */
static void
release_owner(ResourceOwner owner, bool closed)
{
	ResourceOwnerRelease(owner, RESOURCE_RELEASE_BEFORE_LOCKS, closed, false);
	ResourceOwnerRelease(owner, RESOURCE_RELEASE_LOCKS, closed, false);
	ResourceOwnerRelease(owner, RESOURCE_RELEASE_AFTER_LOCKS, closed, false);
	ResourceOwnerDelete(owner);
}

/* closes t and frees it, with all it holds */
static void
direct_close(DirectTable *t)
{
	ResourceOwner save = CurrentResourceOwner;
	ResourceOwner owner = t->owner;

	CurrentResourceOwner = owner;
	close_indices_keep_locks(t->rri);
	ExecResetTupleTable(t->estate->es_tupleTable, false);
	FreeExecutorState(t->estate);
	table_close(t->rel, NoLock);
	CurrentResourceOwner = save;
	release_owner(owner, true);
	MemoryContextDelete(t->cxt);
}

/*
 * Is a row of t being made or inserted?  (One whose making or insert failed
 * in a subtransaction that was rolled back is not.)
 */
static bool
in_use(const DirectTable *t)
{
	return t->in_use != InvalidSubTransactionId && SubTransactionIsActive(t->in_use);
}

/*
 * A row made or written into t while another is (by a DEFAULT, CHECK
 * constraint, index expression or trigger of the table, or DDL, running
 * code that writes to a table whose changes protector records in it) would
 * take the same slot, memory and executor state: refused.
 */
static void
refuse_reentry(const DirectTable *t)
{
	if (in_use(t))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a row was to be written into \"%s\" while protector was writing one there",
						RelationGetRelationName(t->rel)),
				 errdetail("A DEFAULT, CHECK constraint, index expression or AFTER INSERT trigger of the table writes to a table whose changes protector records there.")));
}

/*
 * t compiles its own CHECKs, predicates and DEFAULTs from now on, as each
 * INSERT does (ExecConstraints and ExecInsertIndexTuples compile what is
 * not there, into t's executor state, which lasts the transaction)
 */
static void
use_own_states(DirectTable *t)
{
	t->rri->ri_ConstraintExprs = NULL;
	for (int i = 0; i < t->rri->ri_NumIndices; i++)
		t->rri->ri_IndexRelationInfo[i]->ii_PredicateState = NULL;
	if (t->defaults_path == NULL)
		compile_own_defaults(t);
	t->own_states = true;
}

/*
 * A row is made or written into t: not while another is (refused), nor
 * with the shared compilation while a statement or row further up the
 * stack evaluates it (one of its CHECKs, say, ran code that books).
 */
static void
enter(DirectTable *t)
{
	refuse_reentry(t);
	t->in_use = GetCurrentSubTransactionId();
	if (!t->own_states && !protector_compiled_hold(t->compiled, t))
		use_own_states(t);
}

static void
leave(DirectTable *t)
{
	t->in_use = InvalidSubTransactionId;
	if (!t->own_states)
		protector_compiled_release(t);
}

/*
 * Closes every open table, but one whose row is being made or inserted
 * (DDL run by code of its DEFAULT or CHECK): that one is marked to be
 * reopened and closes at commit.
 */
void
protector_direct_close_all(void)
{
	DirectTable *t = open_tables;
	DirectTable *next;

	open_tables = NULL;
	for (; t != NULL; t = next)
	{
		next = t->next;
		if (in_use(t))
		{
			t->stale = true;
			t->next = open_tables;
			open_tables = t;
			continue;
		}
		direct_close(t);
	}
}

static void
direct_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			{
				/* (in memory the transaction frees: notify_xact_callback) */
				MemoryContext caller = MemoryContextSwitchTo(TopTransactionContext);

				protector_direct_close_all();
				MemoryContextSwitchTo(caller);
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			/* the resource owner releases what is still open */
			open_tables = NULL;
			break;
		default:
			break;
	}
}

static void
direct_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	for (DirectTable *t = open_tables; t != NULL; t = t->next)
		if (relid == InvalidOid || relid == t->relid)
			t->stale = true;
}

/*
 * A function's definition changed (the compiled expressions may have
 * inlined or folded it: expression_planner), or a type's (a domain's
 * default or NOT NULL) or a constraint's (a domain's CHECKs), which ALTER
 * DOMAIN changes without a relcache invalidation of the tables using it:
 * the tables open now are reopened, with their expressions compiled again
 * (compiled_table.c).
 */
static void
direct_catalog_callback(Datum arg, int cacheid,
						uint32 hashvalue pg_attribute_unused())
{
	if (cacheid == PROCOID)
		memset(protectors_functions, 0, sizeof(protectors_functions));
	direct_relcache_callback(arg, InvalidOid);
}

/* was t's table, or an index of it, created in subtransaction subid? */
static bool
created_in(const DirectTable *t, SubTransactionId subid)
{
	if (t->rel->rd_createSubid == subid)
		return true;
	for (int i = 0; i < t->rri->ri_NumIndices; i++)
		if (t->rri->ri_IndexRelationDescs[i] != NULL &&
			t->rri->ri_IndexRelationDescs[i]->rd_createSubid == subid)
			return true;
	return false;
}

/*
 * A rolled-back subtransaction that created an index an open table uses
 * (or the table): the relcache entry goes with the subtransaction, which
 * wants nobody holding it.  Such a table is closed first, and reopened as
 * it is after the rollback on its next use; the others stay open (a
 * reopen after every caught error would cost its memory each time).
 */
static void
direct_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid pg_attribute_unused(),
						void *arg pg_attribute_unused())
{
	DirectTable **link = &open_tables;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (*link != NULL)
	{
		DirectTable *t = *link;

		if (!in_use(t) && created_in(t, mySubid))
		{
			*link = t->next;
			direct_close(t);
		}
		else
			link = &t->next;
	}
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(direct_xact_callback, NULL);
	RegisterSubXactCallback(direct_subxact_callback, NULL);
	protector_on_relcache_change(direct_relcache_callback);
	CacheRegisterSyscacheCallback(PROCOID, direct_catalog_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, direct_catalog_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(CONSTROID, direct_catalog_callback, (Datum) 0);
	callbacks_registered = true;
}

/*
 * A deferrable unique or exclusion constraint is checked again at commit
 * by a trigger queued with the row (ExecARInsertTriggers, which direct
 * inserts do not fire): refused rather than left unchecked.
 */
static void
refuse_deferred_indexes(ResultRelInfo *rri)
{
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];

		if (index != NULL && !index->rd_index->indimmediate)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("index \"%s\" of table \"%s\" is deferrable, which direct inserts do not check",
							RelationGetRelationName(index), RelationGetRelationName(rri->ri_RelationDesc)),
					 errdetail("Protector writes this table's rows directly and checks its constraints at once."),
					 errhint("Make the constraint NOT DEFERRABLE.")));
	}
}

/*
 * The table's DEFAULTs compiled for this table alone, under the search_path
 * now in force (as an INSERT compiles them), kept until the table closes
 */
static void
compile_own_defaults(DirectTable *t)
{
	MemoryContext old = MemoryContextSwitchTo(t->estate->es_query_cxt);

	t->defaults = protector_compile_defaults(t->rel);
	t->defaults_path = pstrdup(namespace_search_path);
	MemoryContextSwitchTo(old);
}

/*
 * rri for rel, as InitResultRelInfo makes it for a plain table outside
 * partitioning, but without its copy of the table's triggers, which no
 * direct insert fires (the side tables' copies cost a full booking 10,000
 * instructions): every other field is zero or NULL there too (a foreign
 * table's FDW routine, a partition's root, and an in-place updated
 * catalog's tuple lock are not for protector's tables).
 */
static void
init_result_relation(ResultRelInfo *rri, Relation rel)
{
	MemSet(rri, 0, sizeof(ResultRelInfo));
	rri->type = T_ResultRelInfo;
	rri->ri_RangeTableIndex = 1;
	rri->ri_RelationDesc = rel;
}

/* is trigger function funcid protector's own (of its schemas)? */
static bool
protectors_function(Oid funcid)
{
	char	   *nsp;

	for (int i = 0; i < PROTECTORS_FUNCTIONS_KEPT; i++)
		if (protectors_functions[i] == funcid)
			return true;
	nsp = get_namespace_name(get_func_namespace(funcid));
	if (nsp == NULL || (strcmp(nsp, "protector") != 0 && strcmp(nsp, "protector_internal") != 0))
		return false;
	protectors_functions[protectors_functions_next] = funcid;
	protectors_functions_next = (protectors_functions_next + 1) % PROTECTORS_FUNCTIONS_KEPT;
	return true;
}

/*
 * The AFTER ROW INSERT triggers of rel that are not protector's and take
 * no transition table, as rri's trigger descriptor (NULL: none), with what
 * firing them needs, as InitResultRelInfo makes them.  Their events are
 * queued and fired per row (protector_direct_insert).  Only those: the
 * rows are protector's, which a BEFORE trigger of another could change or
 * drop, and they make no statement.  Not PostgreSQL's internal ones, the
 * checks of foreign keys: protector's own are proven by construction, and
 * checked they took a KEY SHARE lock of the organization's row for every
 * task and notification (185,000 instructions a booking, and the lock
 * issue 15 took off the side work: the instruction bench).  Checked where
 * the relcache says rel has AFTER ROW INSERT triggers at all.
 */
static void
foreign_triggers(ResultRelInfo *rri, Relation rel)
{
	TriggerDesc *all = rel->trigdesc;
	TriggerDesc *fired = NULL;
	int			n = 0;

	if (all == NULL || !all->trig_insert_after_row)
		return;
	for (int i = 0; i < all->numtriggers; i++)
	{
		Trigger    *trigger = &all->triggers[i];

		if (!TRIGGER_FOR_ROW(trigger->tgtype) || !TRIGGER_FOR_AFTER(trigger->tgtype) ||
			!TRIGGER_FOR_INSERT(trigger->tgtype) || trigger->tgisinternal ||
			trigger->tgnewtable != NULL || trigger->tgoldtable != NULL ||
			protectors_function(trigger->tgfoid))
			continue;
		/* (made for the first: the tables have none, as a rule) */
		if (fired == NULL)
		{
			fired = palloc0(sizeof(TriggerDesc));
			fired->triggers = palloc0(sizeof(Trigger) * all->numtriggers);
		}
		fired->triggers[n] = *trigger;
		/*
		 * at once, never deferred: an outbox row is written at commit,
		 * after the deferred events fired, and theirs were dropped (a
		 * deferrable foreign key let a row through that broke it)
		 */
		fired->triggers[n].tgdeferrable = false;
		fired->triggers[n].tginitdeferred = false;
		n++;
	}
	if (n == 0)
		return;
	/* (CopyTriggerDesc's deep copy, of these alone) */
	fired->numtriggers = n;
	fired->trig_insert_after_row = true;
	fired = CopyTriggerDesc(fired);
	rri->ri_TrigDesc = fired;
	/*
	 * their functions looked up now, in the table's memory: a firing looks
	 * up one it finds unset in the memory current then, where the caller's
	 * short-lived memory held a SECURITY DEFINER or SET function's cache,
	 * read again at the next row after it was freed (a crash: a review)
	 */
	rri->ri_TrigFunctions = palloc0(sizeof(FmgrInfo) * n);
	for (int i = 0; i < n; i++)
		fmgr_info(fired->triggers[i].tgfoid, &rri->ri_TrigFunctions[i]);
	rri->ri_TrigWhenExprs = palloc0(sizeof(ExprState *) * n);
}

/*
 * Fires others' AFTER ROW INSERT triggers for the row just written (slot),
 * at once, as a statement of its own, in t's executor memory, as
 * ExecutorFinish fires a statement's.  A firing reads the row into t's
 * trigger slots, pinning its buffer under the current resource owner,
 * and clears them when done; a trigger's error left them holding the pin
 * that owner's abort then released, and the next row's firing failed
 * ("buffer is not owned by resource owner": a review).  Cleared on the
 * way out then too.
 */
static void
fire_others_triggers(DirectTable *t, TupleTableSlot *slot)
{
	MemoryContext caller = MemoryContextSwitchTo(t->estate->es_query_cxt);

	PG_TRY();
	{
		AfterTriggerBeginQuery();
		ExecARInsertTriggers(t->estate, t->rri, slot, NIL, NULL);
		AfterTriggerEndQuery(t->estate);
	}
	PG_CATCH();
	{
		ExecClearTuple(t->rri->ri_TrigOldSlot);
		ExecClearTuple(t->rri->ri_TrigNewSlot);
		MemoryContextSwitchTo(caller);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
}

/* t's table, executor state and indexes, as apply makes them */
static void
open_parts(DirectTable *t)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	t->rel = table_open(t->relid, RowExclusiveLock);
	/* rows go into its heap: a partitioned table, a view or a foreign table has none */
	if (t->rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s.%s is not a plain table", get_namespace_name(RelationGetNamespace(t->rel)),
						RelationGetRelationName(t->rel)),
				 errdetail("Protector writes its rows into the table directly."),
				 protector_errhint_damaged()));
	t->estate = CreateExecutorState();
	rte->rtekind = RTE_RELATION;
	rte->relid = t->relid;
	rte->relkind = t->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
#if PG_VERSION_NUM >= 160000
	ExecInitRangeTable(t->estate, list_make1(rte), NIL);
#else
	ExecInitRangeTable(t->estate, list_make1(rte));
#endif
	t->rri = makeNode(ResultRelInfo);
	init_result_relation(t->rri, t->rel);
	foreign_triggers(t->rri, t->rel);
	/* (where the firing of its triggers finds it, ExecGetTriggerResultRel) */
	t->estate->es_opened_result_relations = list_make1(t->rri);
	/*
	 * the slots a firing fetches the row into, made now, under t's owner,
	 * which releases them (made by the firing, under the transaction's
	 * owner, they were another owner's at the close)
	 */
	if (t->rri->ri_TrigDesc != NULL)
	{
		(void) ExecGetTriggerOldSlot(t->estate, t->rri);
		(void) ExecGetTriggerNewSlot(t->estate, t->rri);
	}
	open_indices(t->rri);
	refuse_deferred_indexes(t->rri);
	t->slot = ExecInitExtraTupleSlot(t->estate, RelationGetDescr(t->rel), &TTSOpsVirtual);
}

/* the compiled CHECKs, predicates and DEFAULTs t's rows are judged by */
static void
give_compiled(DirectTable *t)
{
	const CompiledTable *c = protector_compiled_table(t->rel, true);

	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a row was to be written into \"%s\" while its defaults were being compiled",
						RelationGetRelationName(t->rel)),
				 errdetail("A DEFAULT or CHECK constraint of the table runs code that writes there.")));
	t->compiled = c;
	/* ExecConstraints compiles only what is not there (not shared) */
	if (c->nchecks > 0 && c->checks != NULL)
		t->rri->ri_ConstraintExprs = c->checks;
	protector_give_compiled_predicates(c, t->rri);
	/* (not shared: a SQL function inlined under the search_path) */
	if (c->defaults != NULL)
		t->defaults = c->defaults;
	else
		compile_own_defaults(t);
}

/*
 * The table opened for direct inserts until the end of the transaction, in
 * a memory context and under a resource owner of its own (children of the
 * top transaction's), which a close deletes: a reopen after DDL costs
 * nothing that stays (it kept 3 kB a time in TopTransactionContext).  An
 * error half way (a timeout or a cancel in a catalog read, caught by a
 * PL/pgSQL EXCEPTION block, say) releases everything opened or held under
 * that owner, PostgreSQL's own catalog scans' snapshots and references
 * included (under the top transaction's owner they stayed, and the commit
 * warned of their leak: a review).
 */
static DirectTable *
direct_open(Oid relid)
{
	MemoryContext cxt = AllocSetContextCreate(TopTransactionContext, "protector direct table",
											  ALLOCSET_SMALL_SIZES);
	ResourceOwner owner = ResourceOwnerCreate(TopTransactionResourceOwner, "protector direct table");
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	ResourceOwner oldowner = CurrentResourceOwner;
	DirectTable *t = palloc0(sizeof(DirectTable));

	t->relid = relid;
	t->owner = owner;
	t->cxt = cxt;
	CurrentResourceOwner = owner;
	PG_TRY();
	{
		open_parts(t);
		give_compiled(t);
	}
	PG_CATCH();
	{
		CurrentResourceOwner = oldowner;
		MemoryContextSwitchTo(oldcxt);
		release_owner(owner, false);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	CurrentResourceOwner = oldowner;
	MemoryContextSwitchTo(oldcxt);
	return t;
}

/* the table opened for this transaction, not yet listed */
static DirectTable *
open_for_transaction(Oid relid)
{
	register_callbacks();
	return direct_open(relid);
}

DirectTable *
protector_direct_table(Oid relid)
{
	DirectTable **link;
	DirectTable *t;

	for (link = &open_tables; *link != NULL; link = &(*link)->next)
	{
		if ((*link)->relid != relid)
			continue;
		if (!(*link)->stale)
			return *link;
		refuse_reentry(*link);	/* (not closed under its writer) */
		t = *link;
		*link = t->next;
		direct_close(t);
		break;
	}
	t = open_for_transaction(relid);
	t->next = open_tables;
	open_tables = t;
	return t;
}

/*
 * The table for a row or two written just before commit (outbox.c), when
 * the tables of the transaction may be closed already: its caller closes
 * it with protector_direct_close() (an error first: the abort releases it).
 */
DirectTable *
protector_direct_table_once(Oid relid)
{
	return open_for_transaction(relid);
}

void
protector_direct_close(DirectTable *t)
{
#ifdef USE_ASSERT_CHECKING
	for (DirectTable *o = open_tables; o != NULL; o = o->next)
		Assert(o != t);			/* listed tables close at commit */
#endif
	direct_close(t);
}

Relation
protector_direct_relation(DirectTable *t)
{
	return t->rel;
}

Relation
protector_direct_index(DirectTable *t, Oid indexid)
{
	for (int i = 0; i < t->rri->ri_NumIndices; i++)
		if (RelationGetRelid(t->rri->ri_IndexRelationDescs[i]) == indexid)
			return t->rri->ri_IndexRelationDescs[i];
	return NULL;
}

/*
 * An error while a row is made or stored names the table and whose rights
 * its DEFAULTs, CHECKs and index expressions ran with: a column an
 * operator added (a serial's sequence, a function the API's roles may not
 * execute) fails an API call with an error of an object its caller never
 * named (an attack review).
 */
static void
direct_error_context(void *arg)
{
	const DirectTable *t = (const DirectTable *) arg;

	/*
	 * (the table's name as the open relation has it: a schema's name looked
	 * up per transaction cost each booking 2,000 instructions, and a
	 * catalog read has no place in an error's callback)
	 */
	errcontext("protector writing a row into table \"%s\" directly (its defaults, CHECK constraints, index expressions and triggers run as the current role)",
			   RelationGetRelationName(t->rel));
}

static void
push_error_context(DirectTable *t, ErrorContextCallback *callback)
{
	callback->callback = direct_error_context;
	callback->arg = t;
	callback->previous = error_context_stack;
	error_context_stack = callback;
}

/*
 * A new row's values as an INSERT naming no column would make them: each
 * column's DEFAULT evaluated (volatile ones once per row), NULL where there
 * is none.  The values are the caller's (allocated in its memory context).
 */
void
protector_direct_defaults(DirectTable *t, Datum *values, bool *nulls)
{
	ExprContext *econtext = GetPerTupleExprContext(t->estate);
	TupleDesc	desc = RelationGetDescr(t->rel);
	MemoryContext caller = CurrentMemoryContext;
	ErrorContextCallback callback;

	enter(t);
	push_error_context(t, &callback);
	/* its own defaults, compiled under another search_path: again */
	if (t->defaults_path != NULL && strcmp(t->defaults_path, namespace_search_path) != 0)
		compile_own_defaults(t);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		values[i] = (Datum) 0;
		nulls[i] = true;
		if (t->defaults[i] == NULL)
			continue;
		MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
		values[i] = ExecEvalExpr(t->defaults[i], econtext, &nulls[i]);
		/*
		 * copied out: another row inserted into the table before this one
		 * (by code the writer runs meanwhile) resets the per-tuple memory
		 */
		MemoryContextSwitchTo(caller);
		if (!nulls[i] && !att->attbyval)
			values[i] = datumCopy(values[i], false, att->attlen);
	}
	error_context_stack = callback.previous;
	leave(t);
}

void
protector_direct_insert(DirectTable *t, const Datum *values, const bool *nulls)
{
	TupleTableSlot *slot = t->slot;
	int			natts = RelationGetDescr(t->rel)->natts;
	ErrorContextCallback callback;

	enter(t);
	push_error_context(t, &callback);
	ExecClearTuple(slot);
	memcpy(slot->tts_values, values, sizeof(Datum) * natts);
	memcpy(slot->tts_isnull, nulls, sizeof(bool) * natts);
	ExecStoreVirtualTuple(slot);
	/*
	 * as an INSERT (and apply) would: generated columns, then constraints,
	 * and a partition's bounds
	 */
	if (t->rel->rd_att->constr != NULL && t->rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(t->rri, t->estate, slot, CMD_INSERT);
	if (t->rel->rd_att->constr != NULL)
		ExecConstraints(t->rri, slot, t->estate);
	if (t->rel->rd_rel->relispartition)
		ExecPartitionCheck(t->rri, slot, t->estate, true);
	simple_table_tuple_insert(t->rel, slot);
	if (t->rri->ri_NumIndices > 0)
#if PG_VERSION_NUM >= 160000
		list_free(ExecInsertIndexTuples(t->rri, slot, t->estate, false, false, NULL, NIL, false));
#else
		list_free(ExecInsertIndexTuples(t->rri, slot, t->estate, false, false, NULL, NIL));
#endif
	/*
	 * others' AFTER ROW INSERT triggers, at once, as a statement of its own,
	 * in the table's executor memory, as ExecutorFinish fires a statement's
	 */
	if (t->rri->ri_TrigDesc != NULL)
		fire_others_triggers(t, slot);
	ResetPerTupleExprContext(t->estate);
	ExecClearTuple(slot);
	error_context_stack = callback.previous;
	leave(t);
}
