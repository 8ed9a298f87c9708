/*-------------------------------------------------------------------------
 *
 * access.h
 *	  SPI scopes with a pinned search_path, kept plans, and short,
 *	  explicit elevations for reads that must see past RLS.
 *
 * src/access.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_ACCESS_H
#define PROTECTOR_ACCESS_H

typedef struct ProtectorElevation
{
	Oid			save_userid;
	int			save_sec_context;
} ProtectorElevation;

#include "executor/spi.h"

extern int	protector_spi_connect(void);
extern void protector_spi_finish(int nestlevel);
extern Oid	protector_table_owner(const char *relname);
extern SPIPlanPtr protector_keep_plan(SPIPlanPtr *plan, const char *sql,
									  int nargs, Oid *argtypes);
extern void protector_elevate(Oid owner, ProtectorElevation *saved);
extern void protector_restore(const ProtectorElevation *saved);
extern Datum protector_select_datum(SPIPlanPtr *plan, const char *sql,
									int nargs, Oid *argtypes, Datum *values,
									bool *found);
extern Datum protector_select_uuid_array(SPIPlanPtr *plan, const char *sql,
										 int nargs, Oid *argtypes, Datum *values);

/* capabilities.c */
extern bool protector_restoring(void);
#include "utils/uuid.h"
extern bool protector_caller_is_trusted(void);
extern void protector_authorize(const pg_uuid_t *org, const char *action,
								const char *entity);

#endif							/* PROTECTOR_ACCESS_H */
