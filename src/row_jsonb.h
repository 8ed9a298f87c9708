/*-------------------------------------------------------------------------
 *
 * row_jsonb.h
 *	  A row's columns as jsonb values, exactly as to_jsonb() writes them,
 *	  with how each column converts worked out once (row_jsonb.c).
 *
 * src/row_jsonb.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_ROW_JSONB_H
#define PROTECTOR_ROW_JSONB_H

#include "access/tupdesc.h"
#include "fmgr.h"
#include "utils/jsonb.h"

/* how one column's value becomes jsonb (the categories of to_jsonb) */
typedef enum JsonbColumnKind
{
	JC_TEXT,					/* text, varchar, bpchar: the string itself */
	JC_OUTPUT,					/* a string from the type's output function */
	JC_BOOL,
	JC_INTEGER,					/* int2, int4, int8 */
	JC_NUMERIC,
	JC_DATETIME,				/* date, timestamp, timestamptz: ISO 8601 */
	JC_JSONB,
	JC_TO_JSONB					/* anything else: to_jsonb() itself */
} JsonbColumnKind;

typedef struct JsonbColumn
{
	AttrNumber	attnum;
	char	   *name;
	int			namelen;
	JsonbColumnKind kind;
	Oid			basetype;
	FmgrInfo	func;			/* output function, or to_jsonb */
} JsonbColumn;

/*
 * Changes whenever a cast is created or dropped: what was worked out of
 * columns before (their kinds) may be stale; compare before using it.
 */
extern uint64 protector_jsonb_generation(void);

/* col: how att converts; what it keeps is allocated in cxt */
extern void protector_jsonb_column_init(JsonbColumn *col, Form_pg_attribute att, MemoryContext cxt);

/* *v: the column's value (isnull: jbvNull), as to_jsonb() converts it */
extern void protector_jsonb_column_value(JsonbValue *v, JsonbColumn *col, Datum value, bool isnull);

/* jsonb's order of an object's keys: shorter first, then bytewise */
extern int	protector_jsonb_key_order(const char *a, int alen, const char *b, int blen);

/* every column of a row type that to_jsonb() writes, and in which order */
typedef struct JsonbRowLayout
{
	int			ncolumns;
	JsonbColumn *columns;		/* not dropped, in attribute order */
	int		   *order;			/* indexes into columns, in jsonb's key order */
} JsonbRowLayout;

extern void protector_jsonb_layout_init(JsonbRowLayout *layout, TupleDesc desc, MemoryContext cxt);

#endif							/* PROTECTOR_ROW_JSONB_H */
