/*-------------------------------------------------------------------------
 *
 * random_id.c
 *	  protector_internal.random_uuid(): the ids of protector's rows, version
 *	  4 UUIDs as gen_random_uuid() makes them, from pg_strong_random().
 *
 * Invariant kept: every id is 122 bits of the same cryptographically
 * strong randomness gen_random_uuid() uses, with its version (4) and
 * variant (RFC 4122) bits; no two calls hand out the same bytes.
 *
 * Why C, and why a pool: gen_random_uuid() asks OpenSSL for 16 bytes per
 * call, and each call pays OpenSSL 3's generator set-up (locks, provider
 * dispatch): 8,600 instructions of a booking's insert, and a full booking
 * makes three ids (the booking, its review task, its desk notification).
 * One call for 64 ids amortizes that; the bytes not yet handed out live
 * in this backend's memory only, as OpenSSL's own generator state does.
 * The pool is filled on first use in the backend that uses it, never in
 * the postmaster, so forked processes share none of it; handed-out bytes
 * are wiped from the pool.
 *
 * src/random_id.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/uuid.h"

#define IDS_PER_FILL 64

static uint8 pool[UUID_LEN * IDS_PER_FILL];
static int	pool_next = sizeof(pool);	/* empty until first use */

PG_FUNCTION_INFO_V1(protector_random_uuid);
Datum
protector_random_uuid(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));

	if (pool_next >= (int) sizeof(pool))
	{
		if (!pg_strong_random(pool, sizeof(pool)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random values")));
		pool_next = 0;
	}
	memcpy(uuid->data, pool + pool_next, UUID_LEN);
	explicit_bzero(pool + pool_next, UUID_LEN);
	pool_next += UUID_LEN;
	/* version 4 and the RFC 4122 variant, as gen_random_uuid() sets them */
	uuid->data[6] = (uuid->data[6] & 0x0f) | 0x40;
	uuid->data[8] = (uuid->data[8] & 0x3f) | 0x80;
	PG_RETURN_UUID_P(uuid);
}
