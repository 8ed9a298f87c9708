/*-------------------------------------------------------------------------
 *
 * random_id.c
 *	  protector_internal.random_uuid(): the ids of protector's rows,
 *	  time-ordered UUIDs (version 7, RFC 9562) whose random part comes
 *	  from pg_strong_random(), as gen_random_uuid()'s does.
 *
 * Invariants kept: every id carries 62 bits of cryptographically strong
 * randomness (the same generator as gen_random_uuid()), its version (7)
 * and variant (RFC 9562) bits; the ids one backend hands out strictly
 * increase; no two calls hand out the same random bytes.
 *
 * Why time-ordered: a random id lands on a random leaf of every B-tree
 * that holds it (the primary key, (organization_id, id), and the side
 * tables' indexes on booking_id), so each insert touches a page nobody
 * touched lately: a cache miss, and a page to write back.  Ids that grow
 * with time land on the right edge of those indexes, a page every insert
 * just used.  The price: an id reveals when it was made (to the
 * microsecond: the fraction below the millisecond is the clock's), also
 * to whoever sees the id but not the row's created_at; docs/security.md
 * says who that is.  Ids are never secrets (codes are).
 *
 * Layout (RFC 9562, method 3): 48 bits of Unix time in milliseconds, the
 * version, 12 bits of the sub-millisecond fraction (bumped by one when
 * the clock has not moved on, so a backend's ids strictly increase), the
 * variant, 62 random bits.
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

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#define IDS_PER_FILL 64
#define RANDOM_BYTES 8			/* bytes 8-15: the variant and 62 random bits */
#define SUBMS_STEPS 4096		/* the 12 bits below the millisecond */

static uint8 pool[RANDOM_BYTES * IDS_PER_FILL];
static int	pool_next = sizeof(pool);	/* empty until first use */

/* the last (milliseconds << 12 | fraction) handed out by this backend */
static uint64 last_tick = 0;

/*
 * The next 60-bit time stamp: Unix milliseconds and the fraction of the
 * current one in 1/4096ths; one step past the last if the clock has not
 * moved past it (same fraction, or a clock set back).
 */
static uint64
next_tick(void)
{
	TimestampTz now_ts = GetCurrentTimestamp();
	uint64		unix_us;
	uint64		tick;

	unix_us = (uint64) (now_ts + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
	tick = (unix_us / 1000) * SUBMS_STEPS + (unix_us % 1000) * SUBMS_STEPS / 1000;
	if (tick <= last_tick)
		tick = last_tick + 1;
	last_tick = tick;
	return tick;
}

/* the next RANDOM_BYTES strong random bytes, wiped from the pool */
static void
take_random(uint8 *dest)
{
	if (pool_next >= (int) sizeof(pool))
	{
		if (!pg_strong_random(pool, sizeof(pool)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random values")));
		pool_next = 0;
	}
	memcpy(dest, pool + pool_next, RANDOM_BYTES);
	explicit_bzero(pool + pool_next, RANDOM_BYTES);
	pool_next += RANDOM_BYTES;
}

PG_FUNCTION_INFO_V1(protector_random_uuid);
Datum
protector_random_uuid(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));
	uint64		tick;
	uint64		ms;
	int			i;

	take_random(uuid->data + 8);
	tick = next_tick();
	ms = tick / SUBMS_STEPS;
	for (i = 0; i < 6; i++)
		uuid->data[i] = (uint8) (ms >> (40 - 8 * i));
	uuid->data[6] = 0x70 | (uint8) ((tick % SUBMS_STEPS) >> 8);	/* version 7 */
	uuid->data[7] = (uint8) (tick % SUBMS_STEPS);
	uuid->data[8] = (uuid->data[8] & 0x3f) | 0x80;	/* the RFC variant */
	PG_RETURN_UUID_P(uuid);
}
