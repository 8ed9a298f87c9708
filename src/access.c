/*-------------------------------------------------------------------------
 *
 * access.c
 *	  How protector runs SQL from C: SPI scopes with a pinned search_path,
 *	  plans prepared once per backend, and short, explicit elevations to
 *	  the tables' owner for reads that must see past RLS.
 *
 * An elevation adds SECURITY_NOFORCE_RLS for the duration of one kept
 * plan, as PostgreSQL's own referential-integrity triggers do.  On error,
 * (sub)transaction abort restores the user id, the security context and
 * the search_path, so no PG_TRY is needed.
 *
 * src/access.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "access.h"
#include "errors.h"
#include "identity.h"

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
 * Owner of a protector table (the extension's owner).
 */
Oid
protector_table_owner(const char *relname)
{
	Oid			relid;
	HeapTuple	tuple;
	Oid			owner;

	relid = get_relname_relid(relname, get_namespace_oid("protector", false));
	if (!OidIsValid(relid))
		elog(ERROR, "relation protector.%s does not exist", relname);
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Act as the owner of protector's tables, ignoring forced RLS, until
 * protector_restore().  Used only around single read queries whose result
 * must not depend on what the caller may see (capacity checks), exactly as
 * PostgreSQL's referential-integrity checks do.  An error in between is
 * cleaned up by (sub)transaction abort, which restores the context.
 */
void
protector_elevate(Oid owner, ProtectorElevation *saved)
{
	GetUserIdAndSecContext(&saved->save_userid, &saved->save_sec_context);
	SetUserIdAndSecContext(owner,
						   saved->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_NOFORCE_RLS);
}

void
protector_restore(const ProtectorElevation *saved)
{
	SetUserIdAndSecContext(saved->save_userid, saved->save_sec_context);
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
