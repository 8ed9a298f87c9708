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
extern Datum protector_select_datum(SPIPlanPtr *plan, const char *sql,
									int nargs, Oid *argtypes, Datum *values,
									bool *found);
extern Datum protector_select_uuid_array(SPIPlanPtr *plan, const char *sql,
										 int nargs, Oid *argtypes, Datum *values);

#endif							/* PROTECTOR_SPI_SCOPE_H */
