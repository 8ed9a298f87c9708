/*-------------------------------------------------------------------------
 *
 * protector.c
 *	  Module magic and initialization: defines protector's settings.
 *
 * Everything else lives in a file per concern: errors.c (SQLSTATEs),
 * identity.c (the JWT user), access.c (RLS helpers), timezone.c (zone
 * names), touch.c (updated_at).
 *
 * src/protector.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "errors.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomBoolVariable("protector.http_errors",
							 "Raise protector's domain errors with PostgREST's PTxyz codes.",
							 "With this on, a slot conflict raises PT409, bad input PT422 and "
							 "a missing row PT404, which PostgREST sends as those HTTP statuses. "
							 "Set it for the authenticator role of a Supabase project.",
							 &protector_http_errors,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("protector");
}
