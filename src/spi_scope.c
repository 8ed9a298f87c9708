/*-------------------------------------------------------------------------
 *
 * spi_scope.c
 *	  How protector runs SQL from C: SPI scopes with a pinned search_path,
 *	  plans prepared once per backend, and the reads that copy their rows
 *	  out of the scope.
 *
 * Invariant: every SQL text protector runs from C is prepared and run
 * inside protector_spi_connect() .. protector_spi_finish(), under
 * search_path pg_catalog, pg_temp; on error, (sub)transaction abort pops
 * the GUC nest level and the SPI connection.
 *
 * src/spi_scope.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/spi.h"
#include "utils/guc.h"

#include "elevation.h"
#include "spi_scope.h"

/*
 * The only search_path under which protector parses and runs SQL from C.
 * Kept plans are re-analyzed under the search_path in force when they are
 * revalidated, so a caller's path must never be in force then: a function
 * or operator it shadows (lower, =, a domain named interval) would run with
 * the rights of whoever protector is acting as, the table owner included.
 */
#define PROTECTOR_SEARCH_PATH "pg_catalog, pg_temp"

/*
 * SPI_connect() plus a search_path pinned to pg_catalog, pg_temp until
 * protector_spi_finish(nestlevel).  Every SQL text protector runs from C is
 * prepared and executed inside such a scope.  On error, (sub)transaction
 * abort pops the GUC nest level and the SPI connection.
 */
int
protector_spi_connect(void)
{
	int			nestlevel;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", PROTECTOR_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
protector_spi_finish(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
	SPI_finish();
}

/*
 * Returns *plan, preparing and keeping it on first use (call connected to
 * SPI).  Every hot statement of protector goes through here: prepared
 * once per backend, executed with parameters.
 */
SPIPlanPtr
protector_keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	newplan = SPI_prepare(sql, nargs, argtypes);

		if (newplan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(newplan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*plan = newplan;
	}
	return *plan;
}

/*
 * Runs a kept plan returning at most one row of one column with the given
 * parameters as the owner of protector's tables, ignoring forced RLS, and
 * returns its value copied into the caller's memory context; *found says
 * whether there was a row with a non-NULL value.
 */
Datum
protector_select_datum(SPIPlanPtr *plan, const char *sql, int nargs,
					   Oid *argtypes, Datum *values, bool *found)
{
	ProtectorElevation saved;
	int			ret;
	bool		isnull = true;
	Datum		result = (Datum) 0;
	int			nestlevel = protector_spi_connect();

	protector_keep_plan(plan, sql, nargs, argtypes);

	protector_elevate(protector_table_owner("members"), &saved);
	ret = SPI_execute_plan(*plan, values, NULL, true, 2);
	protector_restore(&saved);

	if (ret != SPI_OK_SELECT || SPI_processed > 1)
		elog(ERROR, "unexpected result from \"%s\": %s",
			 sql, SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, 0);

		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							   &isnull);
		if (!isnull)
			result = SPI_datumTransfer(result, att->attbyval, att->attlen);
	}
	*found = !isnull;

	protector_spi_finish(nestlevel);
	return result;
}

/* the same, for a query that always returns one uuid[] */
Datum
protector_select_uuid_array(SPIPlanPtr *plan, const char *sql, int nargs,
							Oid *argtypes, Datum *values)
{
	bool		found;
	Datum		result = protector_select_datum(plan, sql, nargs, argtypes, values,
												&found);

	if (!found)
		elog(ERROR, "\"%s\" returned no value", sql);
	return result;
}
