/*-------------------------------------------------------------------------
 *
 * elevation.c
 *	  Short, explicit elevations to the owner of protector's tables for
 *	  reads that must see past RLS; and descents, for calls into objects
 *	  of roles protector does not trust, to those roles.
 *
 * An elevation adds SECURITY_NOFORCE_RLS for the duration of one kept
 * plan, as PostgreSQL's own referential-integrity triggers do.  A descent
 * runs as the role that owns what is called or read (Supabase Realtime's
 * functions, Supabase Auth's users table), in a security-restricted
 * operation with settings made inside undone, as PostgreSQL runs a
 * table's index expressions as its owner: code that role put there runs
 * with its own rights, never with protector's owner's.  On error,
 * (sub)transaction abort restores the user id, the security context and
 * the settings, so no PG_TRY is needed.
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
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "elevation.h"

/* owner of a relation */
Oid
protector_relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Owner of a protector table (the extension's owner).
 */
Oid
protector_table_owner(const char *relname)
{
	Oid			relid;

	relid = get_relname_relid(relname, get_namespace_oid("protector", false));
	if (!OidIsValid(relid))
		elog(ERROR, "relation protector.%s does not exist", relname);
	return protector_relation_owner(relid);
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
 * Act as role, restricted (no temporary objects, no SET ROLE, settings
 * made meanwhile undone), until protector_ascend().  Not past forced RLS:
 * the flag would hold through the SECURITY DEFINER functions that role's
 * code calls, and set other roles' forced policies aside (a review).
 */
void
protector_descend(Oid role, ProtectorElevation *saved)
{
	GetUserIdAndSecContext(&saved->save_userid, &saved->save_sec_context);
	SetUserIdAndSecContext(role, saved->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	saved->save_nestlevel = NewGUCNestLevel();
}

void
protector_ascend(const ProtectorElevation *saved)
{
	AtEOXact_GUC(false, saved->save_nestlevel);
	SetUserIdAndSecContext(saved->save_userid, saved->save_sec_context);
}
