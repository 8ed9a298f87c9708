/*-------------------------------------------------------------------------
 *
 * spi_scope.h
 *	  SPI scopes with a pinned search_path, kept plans, and reads that copy
 *	  their result out of the scope (spi_scope.c).
 *
 * src/spi_scope.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_SPI_SCOPE_H
#define PROTECTOR_SPI_SCOPE_H

#include "executor/spi.h"

extern int	protector_spi_connect(void);
extern void protector_spi_finish(int nestlevel);
extern SPIPlanPtr protector_keep_plan(SPIPlanPtr *plan, const char *sql,
									  int nargs, Oid *argtypes);
extern SPIPlanPtr protector_keep_plan_opts(SPIPlanPtr *plan, const char *sql,
										   int nargs, Oid *argtypes,
										   int cursor_options);
/* a read of protector_read(): its plan, SQL, parameters, and as whom */
typedef struct ProtectorRead
{
	SPIPlanPtr *plan;			/* kept here once prepared */
	const char *sql;
	int			nargs;
	Oid		   *argtypes;
	const char *owner_of;		/* a protector table: as its owner; NULL: as the caller */
	long		limit;			/* at most this many rows; 0: all */
	Snapshot	snapshot;		/* read under it (e.g. the latest); NULL: the statement's */
	int			cursor_options; /* CURSOR_OPT_CUSTOM_PLAN: planned per call */
	bool		locks_rows;		/* its SELECT locks rows (FOR SHARE): not read-only */
} ProtectorRead;

/* called per row with the caller's memory context current */
typedef void (*ProtectorRowCopy) (HeapTuple tuple, TupleDesc desc, uint64 row,
								  uint64 nrows, void *arg);

extern uint64 protector_read(const ProtectorRead *read, Datum *values,
							 const char *nulls, ProtectorRowCopy copy, void *arg);
extern Datum protector_select_datum(SPIPlanPtr *plan, const char *sql,
									int nargs, Oid *argtypes, Datum *values,
									bool *found);
extern Datum protector_select_datum_on(SPIPlanPtr *plan, const char *sql,
									   int nargs, Oid *argtypes, Datum *values,
									   Snapshot snapshot, bool *found);
extern Datum protector_select_uuid_array(SPIPlanPtr *plan, const char *sql,
										 int nargs, Oid *argtypes, Datum *values);

#endif							/* PROTECTOR_SPI_SCOPE_H */
