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
extern Datum protector_select_uuid_array(SPIPlanPtr *plan, const char *sql,
										 int nargs, Oid *argtypes, Datum *values);

/*
 * A restore is running: pg_dump's output (restored by pg_restore or psql)
 * sets row_security = off, which only roles that bypass RLS can write
 * with.  The rows it writes are history, not changes: the audit, workflow
 * and live-update triggers leave them alone (docs/operations.md).
 */
#include "utils/rls.h"
static inline bool
protector_restoring(void)
{
	return !row_security;
}

/* capabilities.c */
#include "utils/uuid.h"
extern bool protector_caller_is_trusted(void);
extern void protector_authorize(const pg_uuid_t *org, const char *action,
								const char *entity);

#endif							/* PROTECTOR_ACCESS_H */
