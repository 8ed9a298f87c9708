/*-------------------------------------------------------------------------
 *
 * latest_count.c
 *	  protector_internal.count_now(p_query text, p_id uuid): the rows of a
 *	  query of protector's own, counted under the latest snapshot.
 *
 * A REPEATABLE READ or SERIALIZABLE transaction that locks a row and waits
 * for other transactions' key-share locks on it (a merge or an erasure of
 * a customer while a booking, voucher or message naming the customer is
 * being written) does not get a serialization failure when they commit:
 * a key-share lock changes no row.  Its snapshot then misses what they
 * wrote, and its moves and scrubs would leave those rows behind.  Such a
 * transaction compares what it sees with what this counts, and retries
 * (40001) when they differ (sql/68_customers_api.sql).
 *
 * Invariants:
 *	  - only a read: the query runs read-only (SPI refuses anything else);
 *	  - it runs in protector's SPI scope (search_path pg_catalog, pg_temp),
 *		its one parameter the uuid;
 *	  - EXECUTE is the owner's alone: the query text is protector's.
 *
 * src/latest_count.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "errors.h"
#include "spi_scope.h"
#include "support.h"

PG_FUNCTION_INFO_V1(protector_count_now);
Datum
protector_count_now(PG_FUNCTION_ARGS)
{
	char	   *query;
	Oid			argtypes[1] = {UUIDOID};
	Datum		args[1];
	int			nestlevel;
	SPIPlanPtr	plan;
	Snapshot	snapshot;
	int			ret;
	int64		count;
	bool		isnull;

	protector_require_arg(fcinfo, 0, "p_query");
	protector_require_arg(fcinfo, 1, "p_id");
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	args[0] = PG_GETARG_DATUM(1);

	nestlevel = protector_spi_connect();
	plan = SPI_prepare(query, 1, argtypes);
	if (plan == NULL)
		elog(ERROR, "count_now could not prepare its query: %s", SPI_result_code_string(SPI_result));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ret = SPI_execute_snapshot(plan, args, NULL, snapshot, InvalidSnapshot, true, false, 1);
	UnregisterSnapshot(snapshot);
	if (ret != SPI_OK_SELECT || SPI_processed != 1 || SPI_tuptable->tupdesc->natts != 1 ||
		SPI_gettypeid(SPI_tuptable->tupdesc, 1) != INT8OID)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_query must be a query answering one count"),
				 errdetail("It answered %s with %d column(s).", SPI_result_code_string(ret),
						   SPI_tuptable != NULL ? SPI_tuptable->tupdesc->natts : 0)));
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freeplan(plan);
	protector_spi_finish(nestlevel);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_INT64(count);
}
