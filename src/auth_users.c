/*-------------------------------------------------------------------------
 *
 * auth_users.c
 *	  Supabase Auth's users table, read as its owner.
 *
 * The invitation functions (activate_invitations at a sign-in,
 * withdraw_member_invitations when a member goes) need a user's e-mail
 * address and run as protector's owner, a superuser.  auth.users may
 * belong to a role that is no superuser (Supabase's supabase_auth_admin),
 * and a plain table still runs its owner's code for whoever plans a read
 * of it: the planner folds the constant calls of a partial index's
 * predicate, of expression statistics and of an inheriting table's CHECK
 * constraints (an attack review: that role became a superuser at the next
 * sign-in).
 *
 * Invariant: protector reads auth.users only as its owner, in a
 * security-restricted operation (protector_descend, elevation.c), so what
 * that role put there runs with its own rights.  The callers ask
 * protector_internal.auth_users_with() first (an ordinary table of a
 * superuser's schema auth, its read columns of PostgreSQL's own types).
 *
 * src/auth_users.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"

#include "elevation.h"
#include "support.h"

/*
 * (ONLY: a table inheriting from it, of yet another role's, was planned
 * too, its CHECKs folded by the planner as the reader: a review)
 */
#define AUTH_EMAIL_SQL \
	"SELECT u.email::pg_catalog.text FROM ONLY auth.users u WHERE u.id OPERATOR(pg_catalog.=) $1"
#define AUTH_CONFIRMED_EMAIL_SQL \
	AUTH_EMAIL_SQL " AND u.email_confirmed_at IS NOT NULL"

/*
 * protector_internal.auth_user_email(p_user_id uuid, p_confirmed boolean)
 * returns text: the user's e-mail address (only once confirmed, where
 * p_confirmed), read as the owner of auth.users; NULL where there is no
 * such user, address or table.
 */
PG_FUNCTION_INFO_V1(protector_auth_user_email);
Datum
protector_auth_user_email(PG_FUNCTION_ARGS)
{
	Oid			users;
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	ProtectorElevation saved;
	text	   *email = NULL;
	MemoryContext caller = CurrentMemoryContext;

	protector_require_arg(fcinfo, 0, "p_user_id");
	protector_require_arg(fcinfo, 1, "p_confirmed");
	users = RangeVarGetRelid(makeRangeVar("auth", "users", -1), NoLock, true);
	if (!OidIsValid(users))
		PG_RETURN_NULL();
	values[0] = PG_GETARG_DATUM(0);

	protector_descend(protector_relation_owner(users), &saved);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(PG_GETARG_BOOL(1) ? AUTH_CONFIRMED_EMAIL_SQL : AUTH_EMAIL_SQL,
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");
	if (SPI_processed > 0)
	{
		bool		isnull;
		Datum		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			MemoryContext spi = MemoryContextSwitchTo(caller);

			email = DatumGetTextPCopy(value);
			MemoryContextSwitchTo(spi);
		}
	}
	SPI_finish();
	protector_ascend(&saved);
	if (email == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(email);
}
