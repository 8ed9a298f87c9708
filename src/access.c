/*-------------------------------------------------------------------------
 *
 * access.c
 *	  The helpers every RLS policy uses to decide what the caller may see:
 *	  the organizations in which the caller holds one of a set of roles,
 *	  and the customer records that belong to the caller.
 *
 * Policies call them as uncorrelated sub-selects, e.g.
 *	  organization_id = ANY ((SELECT protector.member_organizations('{owner}')))
 * so each runs once per statement (an InitPlan), however many rows the
 * statement touches.
 *
 * Both read tables that are themselves under forced RLS, so reading them
 * as the caller would recurse into their own policies.  The SQL functions
 * are SECURITY DEFINER (owner = owner of the tables) and here we add
 * SECURITY_NOFORCE_RLS for the duration of one kept plan, as PostgreSQL's
 * own referential-integrity triggers do, so the owner reads them without
 * their policies.  On error, (sub)transaction abort restores the user id
 * and security context, so no PG_TRY is needed.
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
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "access.h"
#include "errors.h"
#include "identity.h"

static SPIPlanPtr member_orgs_plan = NULL;
static SPIPlanPtr customer_ids_plan = NULL;

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
 * Runs a kept single-row, single-column plan returning uuid[] with the
 * given parameters, ignoring forced RLS, and returns its result copied
 * into the caller's memory context.
 */
static Datum
run_uuid_array_plan(SPIPlanPtr *plan, const char *sql, int nargs,
					Oid *argtypes, Datum *values)
{
	ProtectorElevation saved;
	int			ret;
	bool		isnull;
	Datum		result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	protector_keep_plan(plan, sql, nargs, argtypes);

	/* SECURITY DEFINER already made us the owner; drop forced RLS too */
	protector_elevate(GetUserId(), &saved);
	ret = SPI_execute_plan(*plan, values, NULL, true, 1);
	protector_restore(&saved);

	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "unexpected result from \"%s\": %s",
			 sql, SPI_result_code_string(ret));

	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						   &isnull);
	if (isnull)
		elog(ERROR, "\"%s\" returned NULL", sql);
	result = SPI_datumTransfer(result, false, -1);

	SPI_finish();
	return result;
}

/* labels of protector.member_role, in the enum's order */
static const char *const member_roles[] = {
	"owner", "admin", "manager", "operator", "agent", "finance", "viewer"
};

/*
 * Refuses a roles array with NULLs or names that are not member roles, so a
 * typo in a policy fails loudly instead of silently matching nobody.
 */
static void
check_role_names(ArrayType *roles)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;

	if (ARR_NDIM(roles) > 1)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_roles must be a one-dimensional array")));

	deconstruct_array(roles, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		char	   *name;
		bool		known = false;

		if (nulls[i])
			ereport(ERROR,
					(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
					 errmsg("p_roles must not contain NULL")));
		name = TextDatumGetCString(elems[i]);
		for (size_t j = 0; j < lengthof(member_roles); j++)
		{
			if (strcmp(name, member_roles[j]) == 0)
				known = true;
		}
		if (!known)
			ereport(ERROR,
					(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
					 errmsg("\"%s\" is not a member role", name),
					 errhint("Member roles are owner, admin, manager, operator, agent, finance and viewer.")));
	}
}

static Datum
empty_uuid_array(void)
{
	return PointerGetDatum(construct_empty_array(UUIDOID));
}

/*
 * protector.member_organizations(p_roles text[]) returns uuid[]
 *
 * The organizations in which the caller is an active member holding one of
 * p_roles (names of protector.member_role).  Empty when there is no caller.
 */
PG_FUNCTION_INFO_V1(protector_member_organizations);
Datum
protector_member_organizations(PG_FUNCTION_ARGS)
{
	pg_uuid_t	uid;
	Oid			argtypes[2] = {UUIDOID, TEXTARRAYOID};
	Datum		values[2];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_roles must not be null")));

	check_role_names(PG_GETARG_ARRAYTYPE_P(0));

	if (!protector_get_current_user_id(&uid))
		PG_RETURN_DATUM(empty_uuid_array());

	values[0] = UUIDPGetDatum(&uid);
	values[1] = PG_GETARG_DATUM(0);

	PG_RETURN_DATUM(run_uuid_array_plan(&member_orgs_plan,
										"SELECT COALESCE(pg_catalog.array_agg(DISTINCT organization_id), '{}'::uuid[])"
										" FROM protector.members"
										" WHERE user_id OPERATOR(pg_catalog.=) $1 AND active"
										" AND role OPERATOR(pg_catalog.=) ANY ($2::protector.member_role[])",
										2, argtypes, values));
}

/*
 * protector.current_customer_ids() returns uuid[]
 *
 * The customer records (in any organization) linked to the caller's
 * account, merged-away records excluded.  Empty when there is no caller.
 */
PG_FUNCTION_INFO_V1(protector_current_customer_ids);
Datum
protector_current_customer_ids(PG_FUNCTION_ARGS)
{
	pg_uuid_t	uid;
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];

	if (!protector_get_current_user_id(&uid))
		PG_RETURN_DATUM(empty_uuid_array());

	values[0] = UUIDPGetDatum(&uid);

	PG_RETURN_DATUM(run_uuid_array_plan(&customer_ids_plan,
										"SELECT COALESCE(pg_catalog.array_agg(id), '{}'::uuid[])"
										" FROM protector.customers"
										" WHERE user_id OPERATOR(pg_catalog.=) $1 AND merged_into IS NULL",
										1, argtypes, values));
}
