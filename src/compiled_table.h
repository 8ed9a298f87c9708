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

typedef struct CompiledTable
{
	CompiledTableKey key;
	bool		valid;			/* false: compile again before the next use */
	MemoryContext cxt;
	int			nchecks;
	ExprState **checks;			/* in the order of the relcache's constr->check */
	ExprState **defaults;		/* per column: its DEFAULT, or NULL */
} CompiledTable;

/*
 * rel's compiled expressions for the current user, compiled now if they
 * were not; valid only
 * until the end of the transaction, and no longer "valid" after an
 * invalidation (those in use stay evaluable until the transaction ends)
 */
extern const CompiledTable *protector_compiled_table(Relation rel);

/* installs the ExecutorStart hook (_PG_init) */
extern void protector_compiled_table_init(void);

#endif							/* PROTECTOR_COMPILED_TABLE_H */
