/*-------------------------------------------------------------------------
 *
 * elevation.c
 *	  Short, explicit elevations to the owner of protector's tables for
 *	  reads that must see past RLS.
 *
 * An elevation adds SECURITY_NOFORCE_RLS for the duration of one kept
 * plan, as PostgreSQL's own referential-integrity triggers do.  On error,
 * (sub)transaction abort restores the user id and the security context,
 * so no PG_TRY is needed.
 *
 * src/elevation.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "elevation.h"

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
