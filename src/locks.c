/*-------------------------------------------------------------------------
 *
 * locks.c
 *	  The per-service lock that serializes reservations.
 *
 * Every check of a service's capacity runs under
 *	  pg_advisory_xact_lock(protector.service_lock_key(service))
 * a transaction-level advisory lock, so it is released at commit or abort
 * and works behind transaction-mode poolers (pgbouncer, Supavisor).
 *
 * Keys.  A lock's key is 64 bits of SHA-256 over its class id and the
 * uuid it guards (a service, a member, an organization, a customer):
 * protector_lock_key().  Two ids may share a key, which only serializes
 * them, never lets a conflict through; but ids are chosen by tenants
 * (services, members and customers may be inserted with an id of one's
 * own), and a key any tenant can aim at is a lock any tenant can hold:
 * the 32-bit hash_bytes() of the service id, keyed nowhere, let a user
 * find in two minutes an id of their own service whose bookings held
 * another organization's service lock (its bookings then failed with
 * 40001 for as long as the user kept booking).  A key of a cryptographic
 * hash is not found that way: 2^64 tries for one id.  Locks of the
 * single-bigint form: an application's own such locks share their space,
 * one chance in 2^64 of serializing with one of protector's.
 *
 * A wait for the lock is bounded by protector.lock_timeout (or a stricter
 * lock_timeout of the caller's): when it runs out, the caller gets a
 * retryable 40001 ("the service is busy") instead of a request that hangs.
 * protector_bounded_wait() bounds other waits the same way (the row locks
 * of authorize_row, capabilities.c).  Transactions that need several services' locks
 * take them through protector.lock_services(), which sorts the keys, so
 * two such transactions never wait for each other in a cycle.
 *
 * The locks SQL of the caller's rights needs are taken here too
 * (lock_booking_services(), lock_seen(); lock_give_backs() the rows of the
 * promo codes and vouchers a batch's cancellations give back to, found as
 * the caller, locked as their owner), not by pg_advisory_xact_lock():
 * a database that revokes EXECUTE on the pg_advisory_* functions from
 * PUBLIC, as docs/security.md advises where untrusted roles have SQL
 * connections, still runs them, and each locks only what its caller may
 * reach under RLS.
 *
 * src/locks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/twophase.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "capabilities.h"
#include "errors.h"
#include "locks.h"
#include "spi_scope.h"
#include "support.h"

/* more would let one request fill the shared lock table */
#define LOCK_SERVICES_MAX 100

static SPIPlanPtr lockable_plan = NULL;
static SPIPlanPtr booking_services_plan = NULL;
static SPIPlanPtr give_back_bookings_plan = NULL;
static SPIPlanPtr give_back_vouchers_plan = NULL;
static SPIPlanPtr seen_reminder_plan = NULL;
static SPIPlanPtr seen_waiver_version_plan = NULL;
static SPIPlanPtr seen_customer_plan = NULL;

int			protector_lock_timeout = 5000;

/*
 * SHA-256 through OpenSSL costs some 7,000 instructions a key (1% of a
 * booking's): a backend keeps the keys of the ids it locked lately, in a
 * direct-mapped cache (a key never changes; a slot two ids share only
 * costs the second its hash again).
 */
#define KEY_CACHE_SLOTS 256

typedef struct CachedKey
{
	bool		valid;
	int32		classid;
	pg_uuid_t	id;
	int64		key;
} CachedKey;

static CachedKey key_cache[KEY_CACHE_SLOTS];

/* the key of the lock of class classid over id: SHA-256's first 8 bytes */
int64
protector_lock_key(int32 classid, const pg_uuid_t *id)
{
	CachedKey  *slot = &key_cache[(hash_bytes(id->data, UUID_LEN) ^ (uint32) classid) % KEY_CACHE_SLOTS];
	uint8		input[sizeof(uint32) + UUID_LEN];
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_cryptohash_ctx *ctx;
	uint64		key = 0;

	if (slot->valid && slot->classid == classid && memcmp(slot->id.data, id->data, UUID_LEN) == 0)
		return slot->key;

	for (int i = 0; i < 4; i++)
		input[i] = (uint8) (((uint32) classid) >> (24 - 8 * i));
	memcpy(input + sizeof(uint32), id->data, UUID_LEN);
	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, input, sizeof(input)) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a lock key: %s",
						ctx == NULL ? "out of memory" : pg_cryptohash_error(ctx))));
	pg_cryptohash_free(ctx);
	for (int i = 0; i < 8; i++)
		key = (key << 8) | digest[i];
	slot->classid = classid;
	slot->id = *id;
	slot->key = (int64) key;
	slot->valid = true;
	return slot->key;
}

int64
protector_service_lock_key(const pg_uuid_t *service_id)
{
	return protector_lock_key(PROTECTOR_LOCK_CLASS_RESERVATION, service_id);
}

/* what a lock class guards, for the busy error */
typedef struct LockClass
{
	int32		classid;
	const char *busy;			/* "the service is busy, try again" */
	const char *holder;			/* "Another booking of the same service" */
} LockClass;

static const LockClass service_lock = {
	PROTECTOR_LOCK_CLASS_RESERVATION, "the service is busy, try again", "Another booking of the same service"
};
static const LockClass member_lock = {
	PROTECTOR_LOCK_CLASS_MEMBER, "the staff member's schedule is busy, try again",
	"Another change of the same member's shifts or assignments"
};

static const LockClass widget_lock = {
	PROTECTOR_LOCK_CLASS_WIDGET, "the widget of this organization is busy, try again",
	"Another widget booking of the same organization"
};

static const LockClass reminder_lock = {
	PROTECTOR_LOCK_CLASS_REMINDER, "the booking's reminders are busy, try again",
	"Another reminder of the same booking"
};

static const LockClass waiver_version_lock = {
	PROTECTOR_LOCK_CLASS_WAIVER_VERSION, "the waiver is busy, try again",
	"A change of the same waiver version"
};

static const LockClass customer_erasure_lock = {
	PROTECTOR_LOCK_CLASS_CUSTOMER_ERASURE, "the customer is being erased or merged, try again",
	"Another erasure or merge of the same customer"
};

static bool
try_lock_key(int64 key)
{
	return DatumGetBool(DirectFunctionCall1(pg_try_advisory_xact_lock_int8,
											Int64GetDatum(key)));
}

/*
 * How long a wait of protector's may last: protector.lock_timeout, or a
 * stricter lock_timeout of the caller's (also when protector's is 0,
 * which alone means "wait as long as it takes").  0: unbounded.
 */
static int
effective_lock_timeout(void)
{
	int			timeout = Max(protector_lock_timeout, 0);

	if (LockTimeout > 0 && (timeout == 0 || LockTimeout < timeout))
		timeout = LockTimeout;
	return timeout;
}

/*
 * Where a busy error looks for a prepared transaction that holds the lock
 * waited for: tag, in a mode conflicting with against; exact when tag is
 * the lock waited for (an advisory lock, the transaction holding a row),
 * else tag is the table of the row waited for, whose row locks are not in
 * the lock table.
 */
typedef struct HolderProbe
{
	LOCKTAG		tag;
	LOCKMODE	against;
	bool		exact;
} HolderProbe;

/*
 * The transaction id of a prepared transaction that holds the lock of
 * probe, or InvalidTransactionId: the holder a busy error names, as it
 * keeps its locks until COMMIT PREPARED or ROLLBACK PREPARED, however
 * often the caller retries.  An exact probe asks for holders of any mode
 * (AccessExclusiveLock conflicts with all): one that does not conflict
 * with the caller's still holds up a request queued before it (a waiver's
 * change behind a prepared signature, and the signatures behind that).  A
 * table's asks for those of RowShareLock or more (ExclusiveLock conflicts
 * with those): a prepared transaction that only read the table holds no
 * row of it (a review: it was named).  (A prepared transaction's locks
 * are held by a dummy PGPROC with the preparing session's virtual
 * transaction id, TwoPhaseGetXidByVirtualXID.)
 */
static TransactionId
prepared_holder(const HolderProbe *probe)
{
	VirtualTransactionId *holders;
	int			n;

	if (probe == NULL || max_prepared_xacts == 0)
		return InvalidTransactionId;
	holders = GetLockConflicts(&probe->tag, probe->against, &n);
	for (int i = 0; i < n; i++)
	{
		bool		more;
		TransactionId xid = TwoPhaseGetXidByVirtualXID(holders[i], &more);

		if (TransactionIdIsValid(xid))
			return xid;
	}
	return InvalidTransactionId;
}

/*
 * Runs wait(arg), which may wait for a lock, with lock_timeout set to the
 * effective bound; a wait that runs out is a retryable 40001 saying what
 * was busy (busy) and who held it (holder), not "canceling statement due
 * to lock timeout".  A prepared transaction holding probe's lock is
 * named: as the holder where the probe is exact, else as one that may be.
 */
static void
bounded_wait(ProtectorLockWait wait, void *arg, const char *busy, const char *holder,
			 const HolderProbe *probe)
{
	int			save_nestlevel;
	volatile int timeout = effective_lock_timeout();
	char		value[32];
	MemoryContext oldcontext = CurrentMemoryContext;

	if (timeout == 0)
	{
		wait(arg);
		return;
	}
	snprintf(value, sizeof(value), "%d", timeout);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("lock_timeout", value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	PG_TRY();
	{
		wait(arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		TransactionId prepared;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			PG_RE_THROW();

		/* replace "canceling statement due to lock timeout" */
		FlushErrorState();
		/* (the wait was left by then: ProcessInterrupts' LockErrorCleanup) */
		prepared = prepared_holder(probe);
		if (TransactionIdIsValid(prepared) && probe->exact)
			ereport(ERROR,
					(protector_errcode(PROTECTOR_ERR_RETRY),
					 errmsg("%s", busy),
					 errdetail("The prepared transaction %u holds its lock until COMMIT PREPARED or ROLLBACK PREPARED.",
							   prepared),
					 errhint("Resolve it (pg_prepared_xacts names it by transaction), then retry the request.")));
		if (TransactionIdIsValid(prepared))
			ereport(ERROR,
					(protector_errcode(PROTECTOR_ERR_RETRY),
					 errmsg("%s", busy),
					 errdetail("%s held its lock for more than %d ms.", holder, timeout),
					 errhint("The prepared transaction %u holds locks on this table until COMMIT PREPARED or ROLLBACK PREPARED and may be what holds it: resolve it (pg_prepared_xacts names it by transaction), or retry the request.",
							 prepared)));
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_RETRY),
				 errmsg("%s", busy),
				 errdetail("%s held its lock for more than %d ms.", holder, timeout),
				 errhint("Retry the request; protector.lock_timeout sets how long to wait.")));
	}
	PG_END_TRY();

	AtEOXact_GUC(true, save_nestlevel);
}

/*
 * The same for a wait for a row of relid (InvalidOid: none known), whose
 * table a prepared transaction holding the row holds a lock on; or, where
 * the row's holder is known (xid valid: the single transaction in its
 * xmax), for that transaction
 */
void
protector_bounded_wait(ProtectorLockWait wait, void *arg, const char *busy, const char *holder,
					   Oid relid, TransactionId xid)
{
	HolderProbe probe = {.against = ExclusiveLock, .exact = false};

	if (TransactionIdIsValid(xid))
	{
		SET_LOCKTAG_TRANSACTION(probe.tag, xid);
		probe.against = AccessExclusiveLock;
		probe.exact = true;
	}
	else if (OidIsValid(relid))
		SET_LOCKTAG_RELATION(probe.tag, MyDatabaseId, relid);
	else
	{
		bounded_wait(wait, arg, busy, holder, NULL);
		return;
	}
	bounded_wait(wait, arg, busy, holder, &probe);
}

static void
wait_for_key(void *arg)
{
	DirectFunctionCall1(pg_advisory_xact_lock_int8, Int64GetDatum(*(int64 *) arg));
}

static void
wait_for_key_shared(void *arg)
{
	DirectFunctionCall1(pg_advisory_xact_lock_shared_int8, Int64GetDatum(*(int64 *) arg));
}

/* the tag of key's lock (as pg_advisory_xact_lock(bigint) takes it, lockfuncs.c) */
static void
set_key_tag(LOCKTAG *tag, int64 key)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (key >> 32), (uint32) key, 1);
}

/* the probe of a wait for key's lock: its holders in any mode, exactly */
static void
key_probe(HolderProbe *probe, int64 key)
{
	set_key_tag(&probe->tag, key);
	probe->against = AccessExclusiveLock;
	probe->exact = true;
}

/* the lock of key (of class's: the busy error names it) */
static void
lock_key(const LockClass *class, int64 key)
{
	HolderProbe probe;

	/* uncontended: no timer, no GUC juggling */
	if (try_lock_key(key))
		return;
	key_probe(&probe, key);
	bounded_wait(wait_for_key, &key, class->busy, class->holder, &probe);
}

/* the same, shared: shared holders do not wait for one another */
static void
lock_key_shared(const LockClass *class, int64 key)
{
	HolderProbe probe;

	if (DatumGetBool(DirectFunctionCall1(pg_try_advisory_xact_lock_shared_int8, Int64GetDatum(key))))
		return;
	key_probe(&probe, key);
	bounded_wait(wait_for_key_shared, &key, class->busy, class->holder, &probe);
}

static void
lock_id(const LockClass *class, const pg_uuid_t *id)
{
	lock_key(class, protector_lock_key(class->classid, id));
}

void
protector_lock_service(const pg_uuid_t *service_id)
{
	lock_id(&service_lock, service_id);
}

/*
 * Does another transaction hold the service's lock now?  Asked without
 * waiting and without keeping it: taken if free and let go at once (a hold
 * this transaction had before stays, counted once more and once less).
 * The precheck asks it (reserve.c): a booking being changed under that
 * lock may be moving away.
 */
bool
protector_service_lock_busy(const pg_uuid_t *service_id)
{
	int64		key = protector_lock_key(service_lock.classid, service_id);
	LOCKTAG		tag;

	if (!try_lock_key(key))
		return true;
	set_key_tag(&tag, key);
	if (!LockRelease(&tag, ExclusiveLock, false))
		elog(ERROR, "protector_service_lock_busy: the service's lock was not held");
	return false;
}

/* a staff member's schedule: their shifts and the bookings assigned to them */
void
protector_lock_member(const pg_uuid_t *member_id)
{
	lock_id(&member_lock, member_id);
}

/*
 * protector_internal.lock_widget_bookings(p_organization_id uuid) returns void
 *
 * The lock one widget booking of an organization at a time takes (its
 * rate limits and guest look-up see every earlier one), its wait bounded
 * as a service's is: widget bookings queued behind one that waited for a
 * busy service each waited the whole queue, without limit.
 */
PG_FUNCTION_INFO_V1(protector_lock_widget_bookings);
Datum
protector_lock_widget_bookings(PG_FUNCTION_ARGS)
{
	protector_require_arg(fcinfo, 0, "p_organization_id");
	lock_id(&widget_lock, PG_GETARG_UUID_P(0));
	PG_RETURN_VOID();
}

static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * The reservation locks of n services' keys (sorted here, in place), each
 * once, in key order: two transactions taking several never wait for each
 * other in a cycle.
 */
static void
lock_service_keys(int64 *keys, int n)
{
	qsort(keys, n, sizeof(int64), compare_int64);
	for (int i = 0; i < n; i++)
	{
		if (i > 0 && keys[i] == keys[i - 1])
			continue;
		lock_key(&service_lock, keys[i]);
	}
}

/*
 * protector.service_lock_key(p_service_id uuid) returns bigint
 *
 * The key of the advisory lock protector takes for a service.
 */
PG_FUNCTION_INFO_V1(protector_service_lock_key_bigint);
Datum
protector_service_lock_key_bigint(PG_FUNCTION_ARGS)
{
	protector_require_arg(fcinfo, 0, "p_service_id");
	PG_RETURN_INT64(protector_service_lock_key(PG_GETARG_UUID_P(0)));
}

/*
 * 0.1.0's protector.service_lock_key(uuid) returns integer, for databases
 * not updated yet: the 32-bit key it documented, as its SQL declares it
 * (the engine of this library locks by the new keys there too; such a
 * database is updated with ALTER EXTENSION protector UPDATE).
 */
PG_FUNCTION_INFO_V1(protector_service_lock_key_sql);
Datum
protector_service_lock_key_sql(PG_FUNCTION_ARGS)
{
	protector_require_arg(fcinfo, 0, "p_service_id");
	PG_RETURN_INT32((int32) hash_bytes(PG_GETARG_UUID_P(0)->data, UUID_LEN));
}

/*
 * protector_internal.lock_key(p_class integer, p_id uuid) returns bigint
 *
 * The key of protector's advisory lock of class p_class over p_id, for
 * the locks SQL takes: pg_advisory_xact_lock(lock_key(class, id)).
 */
PG_FUNCTION_INFO_V1(protector_lock_key_sql);
Datum
protector_lock_key_sql(PG_FUNCTION_ARGS)
{
	protector_require_arg(fcinfo, 0, "p_class");
	protector_require_arg(fcinfo, 1, "p_id");
	PG_RETURN_INT64(protector_lock_key(PG_GETARG_INT32(0), PG_GETARG_UUID_P(1)));
}

/*
 * the services among $1 whose bookings the caller may update, under RLS:
 * an agent's, those of bookings assigned to them (an agent locked every
 * service of the organization)
 */
#define LOCKABLE_SQL \
	"SELECT pg_catalog.count(*) FROM protector.services s" \
	" WHERE s.id OPERATOR(pg_catalog.=) ANY ($1)" \
	"   AND (s.organization_id OPERATOR(pg_catalog.=)" \
	"        ANY (protector_internal.orgs_with('bookings.update'))" \
	"        OR (s.organization_id OPERATOR(pg_catalog.=)" \
	"            ANY (protector_internal.orgs_with('bookings.assigned'))" \
	"            AND EXISTS (SELECT FROM protector.bookings b" \
	"                        WHERE b.organization_id OPERATOR(pg_catalog.=) s.organization_id" \
	"                          AND b.service_id OPERATOR(pg_catalog.=) s.id" \
	"                          AND b.assigned_agent OPERATOR(pg_catalog.=) protector.current_user_id())))"

static void
copy_count(HeapTuple tup, TupleDesc desc, uint64 row pg_attribute_unused(),
		   uint64 nrows pg_attribute_unused(), void *arg)
{
	bool		isnull;

	*(int64 *) arg = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
}

/*
 * Refuses unless every service is one whose bookings the caller may update
 * (capabilities bookings.update, bookings.assigned), seen under the
 * caller's RLS.  Trusted callers (protector's own SECURITY DEFINER code
 * included) pass.
 */
static void
check_lockable(Datum *ids, int n)
{
	Oid			argtypes[1] = {UUIDARRAYOID};
	ProtectorRead read = {.plan = &lockable_plan, .sql = LOCKABLE_SQL, .nargs = 1,
		.argtypes = argtypes, .owner_of = NULL, .limit = 1};
	Datum		values[1];
	int64		count = -1;

	if (protector_caller_is_trusted())
		return;
	values[0] = PointerGetDatum(construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	(void) protector_read(&read, values, NULL, copy_count, &count);
	if (count != n)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_NOT_FOUND),
				 errmsg("service not found"),
				 errdetail("It does not exist, or you may not see it.")));
}

static int
compare_uuid(const void *a, const void *b)
{
	return memcmp(DatumGetUUIDP(*(const Datum *) a)->data,
				  DatumGetUUIDP(*(const Datum *) b)->data, UUID_LEN);
}

/* sorts the uuids elems point to, drops repeats; returns how many are left */
static int
sort_distinct_uuids(Datum *elems, int n)
{
	int			distinct = 0;

	qsort(elems, n, sizeof(Datum), compare_uuid);
	for (int i = 0; i < n; i++)
	{
		if (i == 0 || compare_uuid(&elems[i], &elems[distinct - 1]) != 0)
			elems[distinct++] = elems[i];
	}
	return distinct;
}

/*
 * protector.lock_services(p_service_ids uuid[]) returns void
 *
 * Takes the reservation locks of at most LOCK_SERVICES_MAX distinct
 * services the caller may update bookings of, in sorted key order.
 */
PG_FUNCTION_INFO_V1(protector_lock_services);
Datum
protector_lock_services(PG_FUNCTION_ARGS)
{
	ArrayType  *ids;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			distinct;
	int64	   *keys;

	protector_require_arg(fcinfo, 0, "p_service_ids");
	ids = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(ids) > 1)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_service_ids must be a one-dimensional array")));
	deconstruct_array(ids, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
					 errmsg("p_service_ids must not contain NULL")));
	}
	distinct = sort_distinct_uuids(elems, n);
	if (distinct > LOCK_SERVICES_MAX)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_service_ids must name at most %d services", LOCK_SERVICES_MAX),
				 errdetail("Got %d distinct ids.", distinct)));
	if (distinct == 0)
		PG_RETURN_VOID();
	check_lockable(elems, distinct);

	keys = palloc(sizeof(int64) * distinct);
	for (int i = 0; i < distinct; i++)
		keys[i] = protector_service_lock_key(DatumGetUUIDP(elems[i]));
	lock_service_keys(keys, distinct);
	PG_RETURN_VOID();
}

/*
 * A read that locks bookings FOR UPDATE (as the caller, in id order), its
 * wait for their rows bounded by protector.lock_timeout: 40001 "the
 * booking is busy", as a single booking's RPCs wait for its row
 */
typedef struct BookingsRead
{
	const ProtectorRead *read;
	Datum	   *values;
	ProtectorRowCopy copy;
	void	   *arg;
} BookingsRead;

static void
read_bookings(void *arg)
{
	BookingsRead *r = (BookingsRead *) arg;

	(void) protector_read(r->read, r->values, NULL, r->copy, r->arg);
}

static void
read_bookings_bounded(const ProtectorRead *read, Datum *values, ProtectorRowCopy copy, void *arg)
{
	BookingsRead r = {read, values, copy, arg};

	protector_bounded_wait(read_bookings, &r, "the booking is busy, try again",
						   "Another request changing it", protector_relid("bookings", false),
						   InvalidTransactionId);
}

/*
 * the services of those of $1 the caller may change: FOR UPDATE applies
 * the UPDATE policies' USING besides SELECT's, as the caller (the batch
 * holds these rows already; locking them again costs nothing)
 */
#define BOOKING_SERVICES_SQL \
	"SELECT b.service_id FROM protector.bookings b" \
	" WHERE b.id OPERATOR(pg_catalog.=) ANY ($1)" \
	" ORDER BY b.id FOR UPDATE OF b"

typedef struct KeyList
{
	int64	   *keys;
	int			n;
} KeyList;

static void
copy_service_key(HeapTuple tup, TupleDesc desc, uint64 row,
				 uint64 nrows, void *arg)
{
	KeyList    *list = (KeyList *) arg;
	bool		isnull;
	Datum		service = SPI_getbinval(tup, desc, 1, &isnull);

	if (row == 0)
		list->keys = palloc(sizeof(int64) * nrows);
	if (!isnull)
		list->keys[list->n++] = protector_service_lock_key(DatumGetUUIDP(service));
}

/*
 * protector_internal.lock_booking_services(p_booking_ids uuid[]) returns void
 *
 * The reservation locks of the services of those bookings the caller may
 * change, in key order, each wait bounded (update_booking_status_batch:
 * two batches never wait for each other in a cycle).  Bookings the caller
 * may not change lock nothing.
 */
PG_FUNCTION_INFO_V1(protector_lock_booking_services);
Datum
protector_lock_booking_services(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {UUIDARRAYOID};
	ProtectorRead read = {.plan = &booking_services_plan, .sql = BOOKING_SERVICES_SQL, .nargs = 1,
		.argtypes = argtypes, .owner_of = NULL, .locks_rows = true};
	Datum		values[1];
	KeyList		list = {NULL, 0};

	protector_require_arg(fcinfo, 0, "p_booking_ids");
	values[0] = PG_GETARG_DATUM(0);
	/* (the rows' wait bounded too: it waited as long as their holder) */
	read_bookings_bounded(&read, values, copy_service_key, &list);
	if (list.n > 0)
		lock_service_keys(list.keys, list.n);
	PG_RETURN_VOID();
}

/*
 * those of $1 the caller may change (FOR UPDATE, as the caller, as above),
 * with the promo codes they still count
 */
#define GIVE_BACK_BOOKINGS_SQL \
	"SELECT b.id, CASE WHEN b.status OPERATOR(pg_catalog.<>) 'cancelled'::protector.booking_status" \
	"  THEN b.promo_code_id END FROM protector.bookings b" \
	" WHERE b.id OPERATOR(pg_catalog.=) ANY ($1)" \
	" ORDER BY b.id FOR UPDATE OF b"

/*
 * the vouchers that paid those bookings (as the payments' owner; through
 * the bookings, whose organization leads payments' index: by booking_id
 * alone it read the index of every tenant's payments whole)
 */
#define GIVE_BACK_VOUCHERS_SQL \
	"SELECT DISTINCT p.voucher_id FROM protector.bookings b JOIN protector.payments p" \
	" ON p.organization_id OPERATOR(pg_catalog.=) b.organization_id AND p.booking_id OPERATOR(pg_catalog.=) b.id" \
	" WHERE b.id OPERATOR(pg_catalog.=) ANY ($1) AND p.voucher_id IS NOT NULL"

/* the bookings read, and the rows of a table to lock, as uuids */
typedef struct GiveBacks
{
	pg_uuid_t  *bookings;
	int			nbookings;
	pg_uuid_t  *codes;
	int			ncodes;
} GiveBacks;

static void
copy_give_back_booking(HeapTuple tup, TupleDesc desc, uint64 row,
					   uint64 nrows, void *arg)
{
	GiveBacks  *g = (GiveBacks *) arg;
	bool		isnull;
	Datum		code;

	if (row == 0)
	{
		g->bookings = palloc(sizeof(pg_uuid_t) * nrows);
		g->codes = palloc(sizeof(pg_uuid_t) * nrows);
	}
	g->bookings[g->nbookings++] = *DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull));
	code = SPI_getbinval(tup, desc, 2, &isnull);
	if (!isnull)
		g->codes[g->ncodes++] = *DatumGetUUIDP(code);
}

typedef struct UuidList
{
	pg_uuid_t  *ids;
	int			n;
} UuidList;

static void
copy_uuid(HeapTuple tup, TupleDesc desc, uint64 row,
		  uint64 nrows, void *arg)
{
	UuidList   *list = (UuidList *) arg;
	bool		isnull;

	if (row == 0)
		list->ids = palloc(sizeof(pg_uuid_t) * nrows);
	list->ids[list->n++] = *DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull));
}

/* the uuids of ids as Datums pointing at them */
static Datum *
uuid_datums(pg_uuid_t *ids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum(&ids[i]);
	return elems;
}

/* locks the rows of ids of protector's table, once each, in id order */
static void
lock_rows_in_order(const char *table, const char *entity, pg_uuid_t *ids, int n)
{
	Datum	   *elems = uuid_datums(ids, n);
	int			distinct = sort_distinct_uuids(elems, n);
	Oid			relid;

	if (distinct == 0)
		return;
	relid = protector_relid(table, false);
	for (int i = 0; i < distinct; i++)
		protector_lock_row(relid, elems[i], entity);
}

/*
 * protector_internal.lock_give_backs(p_booking_ids uuid[], p_codes boolean)
 * returns void
 *
 * What a cancellation or no-show of those of the bookings the caller may
 * change gives back to, locked as its owner before the change: the promo
 * codes they still count (p_codes: a cancellation gives their uses back),
 * then the vouchers that paid them (their money goes back), each in id
 * order, each wait bounded.  The bookings' triggers lock them row by row,
 * in the order of the rows (refund_on_cancel, adjust_promo_use): two
 * batches of update_booking_status_batch meeting two codes, or two
 * vouchers, in opposite orders deadlocked.  A new booking takes its code,
 * then its service, then the voucher it is paid with: the same order.
 */
PG_FUNCTION_INFO_V1(protector_lock_give_backs);
Datum
protector_lock_give_backs(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {UUIDARRAYOID};
	ProtectorRead bookings = {.plan = &give_back_bookings_plan, .sql = GIVE_BACK_BOOKINGS_SQL, .nargs = 1,
		.argtypes = argtypes, .owner_of = NULL, .locks_rows = true};
	ProtectorRead vouchers = {.plan = &give_back_vouchers_plan, .sql = GIVE_BACK_VOUCHERS_SQL, .nargs = 1,
		.argtypes = argtypes, .owner_of = "payments"};
	Datum		values[1];
	GiveBacks	g = {NULL, 0, NULL, 0};
	UuidList	paid_by = {NULL, 0};

	protector_require_arg(fcinfo, 0, "p_booking_ids");
	protector_require_arg(fcinfo, 1, "p_codes");
	values[0] = PG_GETARG_DATUM(0);
	read_bookings_bounded(&bookings, values, copy_give_back_booking, &g);
	if (g.nbookings == 0)
		PG_RETURN_VOID();
	if (PG_GETARG_BOOL(1))
		lock_rows_in_order("promo_codes", "promo code", g.codes, g.ncodes);
	values[0] = PointerGetDatum(construct_array(uuid_datums(g.bookings, g.nbookings), g.nbookings,
												UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	(void) protector_read(&vouchers, values, NULL, copy_uuid, &paid_by);
	lock_rows_in_order("vouchers", "voucher", paid_by.ids, paid_by.n);
	PG_RETURN_VOID();
}

/*
 * (a booking's reminder lock, exclusive, only for those who may send its
 * reminders: anyone who saw the booking, its customer too, held it and
 * made the desk's reminders fail)
 */
#define SEEN_REMINDER_BOOKING_SQL \
	"SELECT pg_catalog.count(*) FROM protector.bookings b WHERE b.id OPERATOR(pg_catalog.=) $1" \
	" AND (protector_internal.caller_is_trusted()" \
	" OR b.organization_id OPERATOR(pg_catalog.=) ANY (protector_internal.orgs_with('reminders.send')))"
#define SEEN_WAIVER_VERSION_SQL \
	"SELECT pg_catalog.count(*) FROM protector.waiver_versions v WHERE v.id OPERATOR(pg_catalog.=) $1"
/*
 * (a customer's erasures and merges, one at a time: two erasures of one
 * customer, with a booking handed to it between their locks of its
 * bookings, each waited for a booking the other held, 40P01)
 */
#define SEEN_CUSTOMER_SQL \
	"SELECT pg_catalog.count(*) FROM protector.customers c WHERE c.id OPERATOR(pg_catalog.=) $1"

/*
 * a lock SQL takes over a row the caller sees: of which class, over which
 * table, and whether the caller may take it exclusively (a waiver
 * version's is shared by signatures; taken exclusively by anyone who saw
 * the version, it made every other signature wait and fail)
 */
typedef struct SeenLock
{
	const LockClass *class;
	SPIPlanPtr *plan;
	const char *sql;
	bool		exclusive;
} SeenLock;

static const SeenLock seen_locks[] = {
	{&reminder_lock, &seen_reminder_plan, SEEN_REMINDER_BOOKING_SQL, true},
	{&waiver_version_lock, &seen_waiver_version_plan, SEEN_WAIVER_VERSION_SQL, false},
	{&customer_erasure_lock, &seen_customer_plan, SEEN_CUSTOMER_SQL, true},
};

/* the lock of class classid taken over a row the caller sees, or 22023 */
static const SeenLock *
seen_lock_of(int32 classid)
{
	for (int i = 0; i < (int) lengthof(seen_locks); i++)
	{
		if (seen_locks[i].class->classid == classid)
			return &seen_locks[i];
	}
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
			 errmsg("p_class %d is not a lock taken over a row the caller sees", classid),
			 errhint("Use %d (a booking's reminders), %d (a waiver version) or %d (a customer's erasures and merges).",
					 PROTECTOR_LOCK_CLASS_REMINDER, PROTECTOR_LOCK_CLASS_WAIVER_VERSION,
					 PROTECTOR_LOCK_CLASS_CUSTOMER_ERASURE)));
	return NULL;				/* not reached */
}

/* does the caller see the row of id the lock is taken over (RLS)? */
static bool
row_seen(const SeenLock *lock, pg_uuid_t *id)
{
	Oid			argtypes[1] = {UUIDOID};
	ProtectorRead read = {.plan = lock->plan, .sql = lock->sql, .nargs = 1,
		.argtypes = argtypes, .owner_of = NULL, .limit = 1};
	Datum		values[1] = {UUIDPGetDatum(id)};
	int64		count = 0;

	(void) protector_read(&read, values, NULL, copy_count, &count);
	return count > 0;
}

/*
 * protector_internal.lock_seen(p_class integer, p_id uuid, p_shared boolean)
 * returns void
 *
 * The lock of class p_class over p_id when the caller sees that row under
 * RLS: the manual reminders of a booking (prepare_reminder, exclusive, for
 * those who may send them), a waiver version being signed
 * (lock_waiver_version, shared only), or a customer being erased or merged
 * (erase_customer, merge_customers, exclusive).  A row the caller does not see locks
 * nothing: what follows reads it as the caller and answers "not found".
 * The wait is bounded as a service's is.
 */
PG_FUNCTION_INFO_V1(protector_lock_seen);
Datum
protector_lock_seen(PG_FUNCTION_ARGS)
{
	const SeenLock *lock;
	pg_uuid_t  *id;
	int64		key;

	protector_require_arg(fcinfo, 0, "p_class");
	protector_require_arg(fcinfo, 1, "p_id");
	protector_require_arg(fcinfo, 2, "p_shared");
	lock = seen_lock_of(PG_GETARG_INT32(0));
	id = PG_GETARG_UUID_P(1);
	if (!PG_GETARG_BOOL(2) && !lock->exclusive)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("the lock of class %d is taken shared here", lock->class->classid),
				 errdetail("Signatures share a waiver version's lock; a change of the version takes it exclusively, as its owner.")));
	if (!row_seen(lock, id))
		PG_RETURN_VOID();
	key = protector_lock_key(lock->class->classid, id);
	if (PG_GETARG_BOOL(2))
		lock_key_shared(lock->class, key);
	else
		lock_key(lock->class, key);
	PG_RETURN_VOID();
}

/*
 * protector_internal.lock_bookings(p_ids uuid[]) returns bigint
 *
 * update_booking_status_batch's lock of its bookings: those of p_ids the
 * caller may update (RLS decides, as the caller), FOR UPDATE in id order,
 * the wait bounded by protector.lock_timeout (40001 "the booking is
 * busy"), as a single booking's RPCs wait for its row.  It waited without
 * bound.  Returns how many it locked.
 */
static SPIPlanPtr lock_bookings_plan = NULL;

#define LOCK_BOOKINGS_SQL \
	"SELECT pg_catalog.count(*) FROM (SELECT FROM protector.bookings b" \
	" WHERE b.id OPERATOR(pg_catalog.=) ANY ($1) ORDER BY b.id FOR UPDATE) l"

PG_FUNCTION_INFO_V1(protector_lock_bookings);
Datum
protector_lock_bookings(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {UUIDARRAYOID};
	ProtectorRead read = {.plan = &lock_bookings_plan, .sql = LOCK_BOOKINGS_SQL,
		.nargs = 1, .argtypes = argtypes, .locks_rows = true};
	Datum		values[1];
	int64		locked = 0;

	protector_require_arg(fcinfo, 0, "p_ids");
	values[0] = PG_GETARG_DATUM(0);
	read_bookings_bounded(&read, values, copy_count, &locked);
	PG_RETURN_INT64(locked);
}
