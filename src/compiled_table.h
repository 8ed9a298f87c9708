/*-------------------------------------------------------------------------
 *
 * compiled_table.h
 *	  A table's CHECK constraints and column DEFAULTs, compiled once per
 *	  backend (compiled_table.c).
 *
 * src/compiled_table.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_COMPILED_TABLE_H
#define PROTECTOR_COMPILED_TABLE_H

#include "nodes/execnodes.h"
#include "utils/relcache.h"

typedef struct CompiledTableKey
{
	Oid			relid;
	Oid			userid;			/* compiled with this user's privileges */
} CompiledTableKey;

/* a partial index's predicate */
typedef struct CompiledPredicate
{
	Oid			index;
	ExprState  *state;			/* NULL: compiled per statement (not shared) */
} CompiledPredicate;

typedef struct CompiledTable
{
	CompiledTableKey key;
	bool		valid;			/* false: compile again before the next use */
	bool		compiling;		/* under way, further up the stack */
	bool		has_defaults;	/* defaults compiled too */
	MemoryContext cxt;
	int			nchecks;
	ExprState **checks;			/* in the order of the relcache's constr->check;
								 * NULL: compiled per statement (not shared) */
	ExprState **defaults;		/* per column: its DEFAULT, or NULL (with
								 * has_defaults); all NULL when one inlines
								 * a SQL function (not to be shared) */
	int			npredicates;	/* partial indexes' predicates seen so far */
	int			maxpredicates;
	CompiledPredicate *predicates;
	const void *holder;			/* evaluating them now: a statement's EState
								 * or a DirectTable; NULL: nobody */
	SubTransactionId held_in;	/* the holder's (an aborted one's is free) */
} CompiledTable;

/*
 * rel's compiled expressions for the current user, compiled now if they
 * were not; valid only
 * until the end of the transaction, and no longer "valid" after an
 * invalidation (those in use stay evaluable until the transaction ends);
 * NULL while the table is being compiled further up the stack
 */
extern const CompiledTable *protector_compiled_table(Relation rel, bool with_defaults);

/*
 * rel's DEFAULTs compiled in the current memory context, for one user of
 * them (the compiled table's are NULL when they may not be shared)
 */
extern ExprState **protector_compile_defaults(Relation rel);

/*
 * Gives the partial indexes of rri (opened by ExecOpenIndices) their
 * compiled predicates, as ExecInsertIndexTuples would compile them for one
 * statement; c is rri's table's compilation
 */
extern void protector_give_compiled_predicates(const CompiledTable *c, ResultRelInfo *rri);

/*
 * Hands an INSERT's partial indexes, opened at its first row, their compiled
 * predicates; called by a BEFORE ROW INSERT trigger on rel (PostgreSQL 15
 * opens the indexes after ExecutorStart, just before those triggers)
 */
extern void protector_give_first_row_predicates(Relation rel);

/*
 * Takes c's compiled expressions for who (a DirectTable: for one row) to
 * evaluate: false when another statement or row evaluates them further up
 * the stack (code a CHECK, DEFAULT or predicate runs may write the table),
 * and who must compile its own; protector_compiled_release(who) gives
 * back all who holds (an aborted (sub)transaction's holder holds nothing)
 */
extern bool protector_compiled_hold(const CompiledTable *c, const void *who);
extern void protector_compiled_release(const void *who);

/* installs the ExecutorStart and ExecutorEnd hooks (_PG_init) */
extern void protector_compiled_table_init(void);

#endif							/* PROTECTOR_COMPILED_TABLE_H */
