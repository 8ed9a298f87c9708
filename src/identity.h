/*-------------------------------------------------------------------------
 *
 * identity.h
 *	  Who is calling: the Supabase auth user taken from PostgREST's JWT
 *	  claims.
 *
 * src/identity.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_IDENTITY_H
#define PROTECTOR_IDENTITY_H

#include "utils/uuid.h"

/*
 * Fills *uid with the caller's user id and returns true, or returns false
 * when the request carries no user.  Raises 22023 for malformed claims.
 */
extern bool protector_get_current_user_id(pg_uuid_t *uid);

#endif							/* PROTECTOR_IDENTITY_H */
