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
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/datum.h"
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

	/*
	 * Called from a function whose SET clause pinned this very path (every
	 * RPC's): nothing to save.  Setting it again would cost a GUC nest level
	 * and, on leaving, a pass over every setting and a fresh resolution of
	 * the path (about 25,000 instructions per read).
	 */
	if (namespace_search_path != NULL &&
		strcmp(namespace_search_path, PROTECTOR_SEARCH_PATH) == 0)
		return 0;
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", PROTECTOR_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* nestlevel: protector_spi_connect()'s answer (0: nothing was set) */
void
protector_spi_finish(int nestlevel)
{
	if (nestlevel > 0)
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
	return protector_keep_plan_opts(plan, sql, nargs, argtypes, 0);
}

/*
 * The same with the plan cache's cursor options: CURSOR_OPT_CUSTOM_PLAN
 * plans every execution for its own parameters, for a statement whose
 * best plan depends on them (a generic plan estimates "some organization,
 * some window") and whose run costs far more than planning it.
 */
SPIPlanPtr
protector_keep_plan_opts(SPIPlanPtr *plan, const char *sql, int nargs,
						 Oid *argtypes, int cursor_options)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	newplan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

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
 * One read from C: runs *read->plan (prepared from read->sql on first use)
 * with values and nulls inside an SPI scope, as the owner of the protector
 * table read->owner_of when that is set (elevation.c), else as the caller,
 * and hands every row to copy() with the caller's memory context current,
 * so what copy() allocates outlives the scope.  Returns the row count.
 */
uint64
protector_read(const ProtectorRead *read, Datum *values, const char *nulls,
			   ProtectorRowCopy copy, void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	int			nestlevel = protector_spi_connect();
	ProtectorElevation saved;
	uint64		nrows;
	int			ret;

	protector_keep_plan_opts(read->plan, read->sql, read->nargs, read->argtypes,
							 read->cursor_options);
	if (read->owner_of != NULL)
		protector_elevate(protector_table_owner(read->owner_of), &saved);
	if (read->snapshot != NULL)
		ret = SPI_execute_snapshot(*read->plan, values, nulls, read->snapshot, InvalidSnapshot,
								   !read->locks_rows, false, read->limit);
	else
		ret = SPI_execute_plan(*read->plan, values, nulls, !read->locks_rows, read->limit);
	if (read->owner_of != NULL)
		protector_restore(&saved);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "protector's read \"%s\" failed: %s", read->sql, SPI_result_code_string(ret));
	nrows = SPI_processed;
	for (uint64 i = 0; i < nrows; i++)
	{
		MemoryContext spi;

		CHECK_FOR_INTERRUPTS();
		spi = MemoryContextSwitchTo(caller);
		copy(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, i, nrows, arg);
		MemoryContextSwitchTo(spi);
	}
	protector_spi_finish(nestlevel);
	return nrows;
}

/* protector_select_datum's row: its first column, copied */
typedef struct DatumCopy
{
	Datum		value;
	bool		isnull;
} DatumCopy;

static void
copy_first_datum(HeapTuple tuple, TupleDesc desc,
				 uint64 row pg_attribute_unused(),
				 uint64 nrows pg_attribute_unused(), void *arg)
{
	DatumCopy  *out = (DatumCopy *) arg;
	Form_pg_attribute att = TupleDescAttr(desc, 0);
	Datum		d = SPI_getbinval(tuple, desc, 1, &out->isnull);

	out->value = out->isnull ? (Datum) 0 : datumCopy(d, att->attbyval, att->attlen);
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
	return protector_select_datum_on(plan, sql, nargs, argtypes, values, NULL, found);
}

/* the same, read on snapshot (NULL: the statement's) */
Datum
protector_select_datum_on(SPIPlanPtr *plan, const char *sql, int nargs,
						  Oid *argtypes, Datum *values, Snapshot snapshot, bool *found)
{
	ProtectorRead read = {.plan = plan, .sql = sql, .nargs = nargs,
		.argtypes = argtypes, .owner_of = "members", .limit = 2, .snapshot = snapshot};
	DatumCopy	out = {(Datum) 0, true};

	if (protector_read(&read, values, NULL, copy_first_datum, &out) > 1)
		elog(ERROR, "\"%s\" returned more than one row", sql);
	*found = !out.isnull;
	return out.value;
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
