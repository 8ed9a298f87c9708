/*-------------------------------------------------------------------------
 *
 * direct_insert.h
 *	  Rows written into protector's own tables through the heap and the
 *	  indexes, after the table's constraints (direct_insert.c).
 *
 * src/direct_insert.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_DIRECT_INSERT_H
#define PROTECTOR_DIRECT_INSERT_H

#include "access/tupdesc.h"
#include "utils/relcache.h"

typedef struct DirectTable DirectTable;

/*
 * The table, opened for direct inserts until this transaction commits.
 * The pointer is good for one row: DDL, an invalidation or a rolled-back
 * subtransaction may close the table between rows, so hold it only from
 * here to protector_direct_insert(), running no code of a user's between
 * protector_direct_defaults() and that insert.
 */
extern DirectTable *protector_direct_table(Oid relid);
extern Relation protector_direct_relation(DirectTable *table);
/* one of the table's indexes, open with it (NULL if it has no such index) */
extern Relation protector_direct_index(DirectTable *table, Oid indexid);

/* the table, opened for rows written just before commit; closed by the caller */
extern DirectTable *protector_direct_table_once(Oid relid);
extern void protector_direct_close(DirectTable *table);

/* a new row's values: every column's DEFAULT (evaluated), NULL where none */
extern void protector_direct_defaults(DirectTable *table, Datum *values, bool *nulls);

/* one row: NOT NULL and CHECK constraints, heap, indexes; no triggers */
extern void protector_direct_insert(DirectTable *table, const Datum *values,
									const bool *nulls);

/* closes every open table (before commit, and before DDL) */
extern void protector_direct_close_all(void);

#endif							/* PROTECTOR_DIRECT_INSERT_H */
