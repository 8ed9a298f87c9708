/*-------------------------------------------------------------------------
 *
 * outbox.c
 *	  Live announcements off the booking's commit path: a transaction
 *	  writes what it announces into protector_internal.outbox just before
 *	  it commits, and a background worker per database drains that table,
 *	  issuing the NOTIFYs in transactions of its own, a batch at a time.
 *
 * Why: PostgreSQL holds a cluster-wide lock from queueing a transaction's
 * notifications until its commit record is flushed (async.c,
 * PreCommit_Notify), so transactions that notify commit one at a time.
 * Only the worker notifies now, once per batch; bookings commit in
 * parallel.
 *
 * Invariants:
 *	  - a committed transaction's announcements are delivered and a
 *		rolled-back one's never are: the outbox row is the transaction's own
 *		write, and the worker deletes the rows it announces in the very
 *		transaction that notifies (a crash between the two loses nothing and
 *		announces nothing twice);
 *	  - whenever a committed row waits, a worker is running or starting: a
 *		transaction that wrote one wakes its database's worker after it
 *		commits, or starts one when there is none; a worker that found
 *		nothing for OUTBOX_IDLE_EXIT_MS first stops being found (later
 *		commits start a new one), then drains once more, then exits, so no
 *		row committed while it was found is left behind;
 *	  - at most protector.max_outbox_workers databases have a worker at
 *		once (by default half of max_worker_processes: parallel queries,
 *		logical replication and other extensions need slots too);
 *	  - a transaction that cannot get a worker (no free max_worker_processes
 *		slot, that many databases announcing at once, no spare
 *		shared memory, or OUTBOX_MAX_FAILED_STARTS workers in a row that left
 *		before reporting or failed before a drain that took rows committed,
 *		within OUTBOX_RETRY_MS) notifies at its own commit as before:
 *		nothing waits for a worker that will not come (rows waiting already
 *		wait for the next worker, and arrive after those commits' own);
 *	  - the worker runs as the bootstrap superuser it connects as, whatever
 *		role or session settings the database or that role carry, and only
 *		on the extension's own outbox: a table of that name that is not a
 *		member of extension protector stops it (locked_outbox).
 *
 * The registry of workers (database, state, pid) is a small struct in the
 * main shared memory, allocated on first use: PostgreSQL 15 has no
 * registry of named dynamic segments, and protector is not in
 * shared_preload_libraries.  It is empty after a server restart; rows
 * still in the outbox then are delivered by the worker that the next
 * announcing commit starts.  Worker and registry never hold a lock while
 * waiting; the registry's spinlock covers a few loads and stores.
 *
 * src/outbox.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "direct_insert.h"
#include "outbox.h"
#include "realtime.h"
#include "support.h"

#define OUTBOX_IDLE_EXIT_MS 2000	/* below DROP DATABASE's 5 s wait */
#define OUTBOX_START_TIMEOUT_MS 10000	/* a start that never reported */
#define OUTBOX_MAX_FAILED_STARTS 3	/* in a row; then commits notify ... */
#define OUTBOX_RETRY_MS 60000	/* ... themselves this long */
#define OUTBOX_BATCH 1000		/* outbox rows per worker transaction */
#define OUTBOX_GATHER_MS 5		/* busy: announcements gather this long */
/* NOTIFY's own limit (async.c's NOTIFY_PAYLOAD_MAX_LENGTH, not exported) */
#define OUTBOX_PAYLOAD_MAX (BLCKSZ - NAMEDATALEN - 128)

bool		protector_notify_worker = true;
int			protector_max_outbox_workers = -1;

typedef enum OutboxState
{
	OUTBOX_NONE = 0,
	OUTBOX_STARTING,
	OUTBOX_RUNNING
} OutboxState;

typedef struct OutboxSlot
{
	Oid			dboid;			/* InvalidOid: free */
	OutboxState state;
	pid_t		pid;			/* RUNNING: the worker */
	TimestampTz since;			/* when the state last changed */
	int			failed_starts;	/* workers that left before reporting, in a row */
	Oid			floor_relid;	/* the outbox floor_id is of (see floor_id) */
	int64		floor_id;		/* where the database's last worker left it */
} OutboxSlot;

typedef struct OutboxRegistry
{
	slock_t		mutex;
	OutboxSlot	slot[OUTBOX_SLOTS];
} OutboxRegistry;

static OutboxRegistry *registry = NULL;
static bool registry_unavailable = false;

/*
 * The registry, allocated in the main shared memory by the first process
 * that needs it; NULL (and the transaction notifies itself) if the spare
 * shared memory is gone: that must not fail a booking.
 */
static OutboxRegistry *
outbox_registry(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		found;

	if (registry != NULL || registry_unavailable)
		return registry;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	PG_TRY();
	{
		OutboxRegistry *r = ShmemInitStruct("protector outbox workers", sizeof(OutboxRegistry), &found);

		if (!found)
		{
			SpinLockInit(&r->mutex);
			memset(r->slot, 0, sizeof(r->slot));
		}
		registry = r;
	}
	PG_CATCH();
	{
		/* ShmemInitStruct released its own lock before raising */
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		registry_unavailable = true;
	}
	PG_END_TRY();
	LWLockRelease(AddinShmemInitLock);
	return registry;
}

/*
 * Can slot s be given to another database (the mutex held)?  Free, or its
 * database has no worker (or a start that never reported) and no penalty
 * in force: a database whose workers failed to start must not get one
 * again at its next commit because another database took its slot, and
 * took its kept floor with it.
 */
static bool
slot_spare(const OutboxSlot *s, TimestampTz at)
{
	if (s->dboid == InvalidOid)
		return true;
	if (s->failed_starts >= OUTBOX_MAX_FAILED_STARTS &&
		!TimestampDifferenceExceeds(s->since, at, OUTBOX_RETRY_MS))
		return false;
	return s->state == OUTBOX_NONE ||
		(s->state == OUTBOX_STARTING &&
		 TimestampDifferenceExceeds(s->since, at, OUTBOX_START_TIMEOUT_MS));
}

/*
 * The database's slot (the mutex held); with claim, when it has none, a
 * free one is taken, else the spare one (slot_spare) idle the longest: an
 * idle database's slot keeps its floor and its failed starts while free
 * slots are left (the first free-or-idle slot was taken, and two
 * databases announcing in turn took each other's, a review).
 */
static OutboxSlot *
slot_of(OutboxRegistry *r, Oid dboid, bool claim, TimestampTz at)
{
	OutboxSlot *spare = NULL;

	for (int i = 0; i < OUTBOX_SLOTS; i++)
	{
		OutboxSlot *s = &r->slot[i];

		if (s->dboid == dboid)
			return s;
		if (!claim || !slot_spare(s, at))
			continue;
		if (spare == NULL ||
			(spare->dboid != InvalidOid &&
			 (s->dboid == InvalidOid || s->since < spare->since)))
			spare = s;
	}
	if (!claim || spare == NULL)
		return NULL;
	memset(spare, 0, sizeof(OutboxSlot));
	spare->dboid = dboid;
	spare->since = at;
	return spare;
}

/* a copy of the database's slot, taken under the mutex */
static bool
slot_read(Oid dboid, bool claim, TimestampTz at, OutboxSlot *copy)
{
	OutboxRegistry *r = outbox_registry();
	OutboxSlot *s;

	if (r == NULL)
		return false;
	SpinLockAcquire(&r->mutex);
	s = slot_of(r, dboid, claim, at);
	if (s != NULL)
		*copy = *s;
	SpinLockRelease(&r->mutex);
	return s != NULL;
}

/* has slot s a worker, running or starting (the mutex held)? */
static bool
slot_active(const OutboxSlot *s, TimestampTz at)
{
	return s->dboid != InvalidOid &&
		(s->state == OUTBOX_RUNNING ||
		 (s->state == OUTBOX_STARTING &&
		  !TimestampDifferenceExceeds(s->since, at, OUTBOX_START_TIMEOUT_MS)));
}

/* how many databases may have a worker at once */
static int
worker_cap(void)
{
	int			cap = protector_max_outbox_workers;

	if (cap < 0)
		cap = Max(max_worker_processes / 2, 1);
	return Min(cap, OUTBOX_SLOTS);
}

/* do other databases than s's have the most workers there may be? */
static bool
workers_capped(OutboxRegistry *r, const OutboxSlot *s, TimestampTz at)
{
	int			others = 0;

	for (int i = 0; i < OUTBOX_SLOTS; i++)
		if (&r->slot[i] != s && slot_active(&r->slot[i], at))
			others++;
	return others >= worker_cap();
}

/*
 * Moves the slot from what the caller saw to state next, unless somebody
 * moved it meanwhile, or (a start, with capped given) other databases have
 * the most workers there may be: then *capped.
 */
static bool
slot_move(const OutboxSlot *seen, OutboxState next, pid_t pid, TimestampTz at, bool *capped)
{
	OutboxRegistry *r = outbox_registry();
	OutboxSlot *s;
	bool		moved = false;

	if (r == NULL)
		return false;
	SpinLockAcquire(&r->mutex);
	s = slot_of(r, seen->dboid, false, at);
	if (s != NULL && capped != NULL)
		*capped = workers_capped(r, s, at);
	if (s != NULL && s->state == seen->state && s->pid == seen->pid && s->since == seen->since &&
		!(capped != NULL && *capped))
	{
		s->state = next;
		s->pid = pid;
		s->since = at;
		moved = true;
	}
	SpinLockRelease(&r->mutex);
	return moved;
}

/* asks the postmaster for this database's worker; raises nothing */
static bool
start_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "protector", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "protector_outbox_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "protector outbox of database %u", MyDatabaseId);
	strlcpy(worker.bgw_type, "protector outbox", BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	worker.bgw_notify_pid = 0;
	/* no handle: it would be palloc'd, and this runs after commit too */
	return RegisterDynamicBackgroundWorker(&worker, NULL);
}

/*
 * Makes sure the database has a worker running or starting, starting one
 * if needed; false when none can be had (no slot, no shared memory,
 * workers that kept failing to start lately, or with respect_cap, other
 * databases having protector.max_outbox_workers).  The latch of a running
 * worker goes to *latch (NULL while it starts: it drains once it is up).
 */
static bool
ensure_worker(Latch **latch, bool respect_cap)
{
	*latch = NULL;
	for (int attempt = 0; attempt < 3; attempt++)
	{
		TimestampTz at = GetCurrentTimestamp();
		OutboxSlot	seen;
		PGPROC	   *proc;
		bool		capped = false;

		if (!slot_read(MyDatabaseId, true, at, &seen))
			return false;
		if (seen.state == OUTBOX_RUNNING &&
			(proc = BackendPidGetProc(seen.pid)) != NULL &&
			proc->databaseId == MyDatabaseId)
		{
			*latch = &proc->procLatch;
			return true;
		}
		if (seen.state == OUTBOX_STARTING &&
			!TimestampDifferenceExceeds(seen.since, at, OUTBOX_START_TIMEOUT_MS))
			return true;
		if (seen.failed_starts >= OUTBOX_MAX_FAILED_STARTS &&
			!TimestampDifferenceExceeds(seen.since, at, OUTBOX_RETRY_MS))
			return false;
		/* none, gone, or a start that never reported: start one */
		if (!slot_move(&seen, OUTBOX_STARTING, 0, at, respect_cap ? &capped : NULL))
		{
			if (capped)
				return false;	/* other databases have them all */
			continue;			/* someone else moved it: look again */
		}
		if (start_worker())
			return true;
		seen.state = OUTBOX_STARTING;
		seen.pid = 0;
		seen.since = at;
		(void) slot_move(&seen, OUTBOX_NONE, 0, at, NULL);
		return false;
	}
	return false;
}

/*
 * Before commit: may this transaction leave its announcements to the
 * worker?  Yes when the outbox exists and a worker runs or could be
 * started.
 */
bool
protector_outbox_usable(void)
{
	Latch	   *latch;

	/* a database still on 0.1.0 (no outbox) under this library: as before */
	if (!protector_notify_worker || !IsUnderPostmaster ||
		!OidIsValid(protector_internal_relid("outbox", true)))
		return false;
	return ensure_worker(&latch, true);
}

/*
 * After commit: the transaction's outbox rows are visible; wake the
 * worker, or start one if the last one left meanwhile.  Raises nothing
 * (the transaction is committed; the registry was found before commit): a
 * failure to start is a WARNING, and the rows wait for the next worker.
 */
void
protector_outbox_wake(void)
{
	Latch	   *latch;

	if (registry == NULL)
		return;					/* not reached: no registry, no outbox rows */
	/*
	 * (past the cap if need be: the rows are committed, and the worker
	 * seen before commit may have left since)
	 */
	if (!ensure_worker(&latch, false))
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("protector could not start its announcement worker"),
				 errdetail("This transaction's live announcements wait in protector_internal.outbox until a worker runs."),
				 errhint("Raise max_worker_processes, or set protector.notify_worker = off.")));
	else if (latch != NULL)
		SetLatch(latch);
}

/*
 * One outbox row: an organization and the payloads for its channel, one
 * per line (a JSON payload has no raw line break); the id is drawn from
 * the column's identity now, just before commit.
 */
void
protector_outbox_write(const pg_uuid_t *org, const char *payloads)
{
	Oid			relid = protector_internal_relid("outbox", false);
	DirectTable *t;
	Relation	rel;
	AttrNumber	org_att;
	AttrNumber	payloads_att;
	Datum	   *values;
	bool	   *nulls;

	t = protector_direct_table_once(relid);
	rel = protector_direct_relation(t);
	/*
	 * found by name (a column added, or added and dropped, moves nothing);
	 * the written ones exactly of their types: no domain check would run;
	 * the worker takes rows in id order
	 */
	(void) protector_column_required(rel, "id", INT8OID);
	org_att = protector_column_writable(rel, "organization_id", UUIDOID);
	payloads_att = protector_column_writable(rel, "payloads", TEXTOID);
	values = palloc(sizeof(Datum) * RelationGetDescr(rel)->natts);
	nulls = palloc(sizeof(bool) * RelationGetDescr(rel)->natts);
	/*
	 * as an INSERT's: a snapshot for queries its DEFAULTs and CHECKs may
	 * run (no statement's is active at commit; the abort pops it on error)
	 */
	PushActiveSnapshot(GetTransactionSnapshot());
	protector_direct_defaults(t, values, nulls);
	values[org_att - 1] = UUIDPGetDatum(org);
	nulls[org_att - 1] = false;
	values[payloads_att - 1] = CStringGetTextDatum(payloads);
	nulls[payloads_att - 1] = false;
	protector_direct_insert(t, values, nulls);
	PopActiveSnapshot();
	protector_direct_close(t);
}

/* ---- the worker ---- */

PGDLLEXPORT void protector_outbox_main(Datum main_arg);

static SPIPlanPtr take_plan = NULL;
static SPIPlanPtr mark_plan = NULL;
static SPIPlanPtr rest_plan = NULL;

/*
 * Where the drain's scan starts.  Every row the worker deletes stays in
 * the id index, as a dead entry, until no snapshot can see it, and a scan
 * from the index's start stepped over all of them: while any old snapshot
 * was open (pg_dump, a long report, a session idle in a transaction) each
 * drain read every row announced since it began, 54,000 buffers for
 * 100,000 announcements on an empty outbox.  So the scan starts past
 * floor, below which every row is gone for good.
 *
 * Ids are drawn just before each commit, by transactions that hold an xid
 * already (they wrote what they announce): a row with a lower id than one
 * taken may still commit.  So floor moves up to a mark, the sequence's
 * last value read while the xids assigned so far were below mark_xid,
 * only once every transaction below mark_xid has ended (each one that
 * drew an id up to the mark had its xid below it) and a drain begun after
 * that took every row past the old floor, not a full batch.  With a
 * sequence whose values are cached (handed out after being read as its
 * last value) no mark is set.  Only this database's transactions count
 * (xid_running_below): an open transaction of another database, or a
 * prepared one anywhere, never draws this outbox's ids, and waiting for
 * the cluster's oldest (GetOldestActiveTransactionId) held every
 * database's floor while one was open (an attack review: 450 buffers per
 * drain after 3,000 announcements, growing with every one).  A worker
 * starts where the database's last one left it (the registry keeps it; 0
 * after a server restart): each worker leaves after two idle seconds, and
 * starting from 0 its first drain read every dead entry again.
 */
static int64 floor_id = 0;
static Oid	floor_relid = InvalidOid;	/* the outbox floor_id is of */
static bool mark_valid = false;
static int64 mark_id = 0;
static TransactionId mark_xid = InvalidTransactionId;

/*
 * Whether a transaction of this database whose xid precedes xid is still
 * running: one that may have drawn an outbox id up to a mark.  Prepared
 * transactions (a PGPROC without a pid) are passed over: a transaction
 * that announces is never prepared (realtime.c refuses it), so none of
 * them drew an id.
 */
static bool
xid_running_below(TransactionId xid)
{
	bool		running = false;

	LWLockAcquire(ProcArrayLock, LW_SHARED);
	for (uint32 i = 0; i < ProcGlobal->allProcCount && !running; i++)
	{
		PGPROC	   *proc = &ProcGlobal->allProcs[i];
		TransactionId its = proc->xid;

		if (proc->databaseId != MyDatabaseId || proc->pid == 0)
			continue;
		running = TransactionIdIsNormal(its) && TransactionIdPrecedes(its, xid);
	}
	LWLockRelease(ProcArrayLock);
	return running;
}

/* one line of a row's payloads to NOTIFY, unless it is empty or too long */
static void
announce(const char *channel, const char *payload)
{
	if (payload[0] == '\0' || strlen(payload) >= OUTBOX_PAYLOAD_MAX)
	{
		ereport(WARNING,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("protector outbox: skipped an announcement NOTIFY would refuse"),
				 errdetail("Channel \"%s\", payload of %zu bytes.", channel, strlen(payload))));
		return;
	}
	Async_Notify(channel, payload);
}

/* a row's announcements; a row without organization or payloads (only a changed table holds one) is dropped */
static void
announce_row(HeapTuple row, TupleDesc desc)
{
	bool		no_org;
	bool		no_payloads;
	Datum		org = SPI_getbinval(row, desc, 1, &no_org);
	Datum		payloads = SPI_getbinval(row, desc, 2, &no_payloads);
	char	   *line;
	char		channel[NAMEDATALEN];

	if (no_org || no_payloads)
	{
		ereport(WARNING,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("protector outbox: dropped a row without organization or payloads"),
				 errdetail("protector_internal.outbox declares both NOT NULL; its rows are written by protector only.")));
		return;
	}
	line = TextDatumGetCString(payloads);
	protector_notify_channel(channel, DatumGetUUIDP(org));

	while (*line != '\0')
	{
		char	   *end = strchr(line, '\n');

		if (end != NULL)
			*end = '\0';
		announce(channel, line);
		if (end == NULL)
			break;
		line = end + 1;
	}
}

/* a prepared plan of the worker's, kept for its life */
static SPIPlanPtr
worker_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "could not prepare an outbox query: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "could not keep an outbox query");
		*plan = p;
	}
	return *plan;
}

/* the floor the database's last worker left for this outbox, or 0 */
static int64
floor_kept(Oid outbox)
{
	OutboxSlot	seen;

	if (!slot_read(MyDatabaseId, false, GetCurrentTimestamp(), &seen) || seen.floor_relid != outbox)
		return 0;
	return seen.floor_id;
}

/* ... and this worker's, for the next */
static void
floor_keep(void)
{
	OutboxRegistry *r = registry;
	OutboxSlot *s;

	if (r == NULL)
		return;
	SpinLockAcquire(&r->mutex);
	s = slot_of(r, MyDatabaseId, false, GetCurrentTimestamp());
	if (s != NULL && s->pid == MyProcPid)
	{
		s->floor_relid = floor_relid;
		s->floor_id = floor_id;
	}
	SpinLockRelease(&r->mutex);
}

/*
 * The outbox sequence's last value (a candidate floor, see floor_id), or
 * -1 when it has none yet or caches values
 */
static int64
sequence_mark(void)
{
	bool		isnull;
	Datum		value;

	if (SPI_execute_plan(worker_plan(&mark_plan,
									 "SELECT CASE WHEN s.seqcache OPERATOR(pg_catalog.=) 1"
									 "  THEN pg_catalog.pg_sequence_last_value(s.seqrelid) END"
									 " FROM pg_catalog.pg_sequence s"
									 " WHERE s.seqrelid OPERATOR(pg_catalog.=)"
									 "  pg_catalog.pg_get_serial_sequence('protector_internal.outbox', 'id')::pg_catalog.regclass",
									 0, NULL),
						 NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "the outbox sequence query failed");
	if (SPI_processed != 1)
		return -1;
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? -1 : DatumGetInt64(value);
}

/*
 * Whether a row past floor_id, up to the mark, is still there (read after
 * this drain's own deletes).  Fewer than a batch taken does not prove that
 * every row past the floor was: another drain of the database (a worker
 * leaving while the next one starts) may have deleted rows of this batch
 * after it chose them, and the rows past the batch were then stepped over
 * for good (a review: 100 committed announcements never sent).
 */
static bool
rows_below_mark(void)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(floor_id), Int64GetDatum(mark_id)};
	bool		isnull;

	if (SPI_execute_plan(worker_plan(&rest_plan,
									 "SELECT EXISTS (SELECT FROM protector_internal.outbox x"
									 " WHERE x.id OPERATOR(pg_catalog.>) $1 AND x.id OPERATOR(pg_catalog.<=) $2)",
									 2, argtypes),
						 args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "the outbox rest query failed");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The extension's outbox, locked for this transaction, or InvalidOid when
 * there is none.  The worker runs as the bootstrap superuser and finds the
 * table by name: a table of that name that is not the extension's (made
 * by a role that dropped the extension, as supautils lets a privileged
 * extension's dropper do, with a trigger of its own on it) ran its
 * owner's code with the worker's rights.  Locked first, so that the name
 * cannot move to another table until the drain commits, then checked.
 */
static Oid
locked_outbox(void)
{
	Oid			outbox;
	Oid			extension;

	for (;;)
	{
		outbox = protector_internal_relid("outbox", true);
		if (!OidIsValid(outbox))
			return InvalidOid;
		LockRelationOid(outbox, RowExclusiveLock);
		if (protector_internal_relid("outbox", true) == outbox)
			break;
		/*
		 * dropped, or made anew, while this waited: the table the name
		 * names now (the extension made again, whose rows would wait for
		 * the next announcing commit if this worker left; a review)
		 */
		UnlockRelationOid(outbox, RowExclusiveLock);
	}
	extension = get_extension_oid("protector", true);
	if (!OidIsValid(extension) || getExtensionOfObject(RelationRelationId, outbox) != extension)
	{
		ereport(LOG,
				(errmsg("protector outbox worker stopping: protector_internal.outbox is not extension protector's table"),
				 errdetail("The worker drains only the outbox that CREATE EXTENSION protector made.")));
		return InvalidOid;
	}
	return outbox;
}

/*
 * One transaction: takes up to OUTBOX_BATCH rows past floor_id, oldest
 * first, announces them and commits; then moves floor_id up where it may.
 * Returns how many were taken, or -1 when the outbox is gone (the
 * extension was dropped).
 */
static int
drain(void)
{
	int			taken = -1;
	Oid			outbox;
	bool		advance = false;
	bool		new_mark = false;
	int64		next_mark = -1;
	TransactionId next_mark_xid = InvalidTransactionId;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "protector outbox: announcing");
	outbox = locked_outbox();
	if (OidIsValid(outbox))
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		args[1];
		/* every transaction that drew an id up to the mark has ended */
		bool		mark_reached = mark_valid && !xid_running_below(mark_xid);

		if (outbox != floor_relid)
		{
			/* (a worker's start, or another outbox: the extension made anew) */
			floor_id = floor_kept(outbox);
			floor_relid = outbox;
			mark_valid = mark_reached = false;
		}
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		args[0] = Int64GetDatum(floor_id);
		if (SPI_execute_plan(worker_plan(&take_plan,
										 "WITH taken AS ("
										 " DELETE FROM protector_internal.outbox o"
										 " WHERE o.ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
										 "  SELECT x.ctid FROM protector_internal.outbox x"
										 "  WHERE x.id OPERATOR(pg_catalog.>) $1 ORDER BY x.id LIMIT "
										 CppAsString2(OUTBOX_BATCH) "))"
										 " RETURNING o.id, o.organization_id::pg_catalog.uuid AS organization_id,"
										 "  o.payloads::pg_catalog.text AS payloads)"
										 " SELECT organization_id, payloads FROM taken ORDER BY id",
										 1, argtypes),
							 args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "the outbox query failed");
		for (uint64 i = 0; i < SPI_processed; i++)
			announce_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		taken = (int) SPI_processed;
		/*
		 * a drain begun after the mark was reached took all past the floor
		 * when it took less than a batch and none up to the mark is left
		 */
		advance = mark_reached && taken < OUTBOX_BATCH && !rows_below_mark();
		if (advance || !mark_valid)
		{
			/* the last value first, then the xids assigned by then */
			next_mark = sequence_mark();
			next_mark_xid = ReadNextTransactionId();
			new_mark = true;
		}
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (advance)
	{
		floor_id = mark_id;
		floor_keep();
	}
	if (new_mark)
	{
		/* (a sequence set back below the floor: from the start again) */
		if (next_mark >= 0 && next_mark < floor_id)
		{
			floor_id = 0;
			floor_keep();
		}
		mark_valid = next_mark >= 0;
		mark_id = next_mark;
		mark_xid = next_mark_xid;
	}
	/* the deletes reach the statistics, and so autovacuum, as they happen */
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return taken;
}

static bool published = false;
static bool drained = false;	/* a drain of this worker took rows, committed */
static bool gone = false;		/* worker_gone() has run */

/*
 * The worker's first drain that took rows committed: its start counts as
 * a success.  One that found nothing proves nothing (it may have run
 * before the commit that started it was visible; a trigger refusing each
 * row's delete fails only the drains that take rows).
 */
static void
worker_worked(void)
{
	OutboxRegistry *r = registry;
	OutboxSlot *s;

	drained = true;
	if (r == NULL)
		return;
	SpinLockAcquire(&r->mutex);
	s = slot_of(r, MyDatabaseId, false, GetCurrentTimestamp());
	if (s != NULL && s->state == OUTBOX_RUNNING && s->pid == MyProcPid)
		s->failed_starts = 0;
	SpinLockRelease(&r->mutex);
}

/* on start: the database's worker, unless another one runs already */
static bool
worker_publish(void)
{
	for (int attempt = 0; attempt < 3; attempt++)
	{
		TimestampTz at = GetCurrentTimestamp();
		OutboxSlot	seen;
		PGPROC	   *proc;

		if (!slot_read(MyDatabaseId, true, at, &seen))
			return false;
		if (seen.state == OUTBOX_RUNNING && seen.pid != MyProcPid &&
			(proc = BackendPidGetProc(seen.pid)) != NULL && proc->databaseId == MyDatabaseId)
			return false;
		if (slot_move(&seen, OUTBOX_RUNNING, MyProcPid, at, NULL))
		{
			published = true;
			return true;
		}
	}
	return false;
}

/*
 * On leaving (idle, killed, failed, or before it could connect): no longer
 * found, so that later commits start a new worker.  A worker that never
 * reported, or failed before one of its drains that took rows committed
 * (a setting of the database or the role, or a trigger, that breaks every
 * drain), counts as a failed start.
 */
static void
worker_gone(int code, Datum dboid)
{
	OutboxRegistry *r = registry;
	TimestampTz at = GetCurrentTimestamp();
	OutboxSlot *s;

	/*
	 * Once: a worker leaving idle stops being found, drains once more and
	 * exits, and at exit a second run took the start of the next worker
	 * (starting meanwhile) for this one's failed start.
	 */
	if (r == NULL || gone)
		return;
	gone = true;
	SpinLockAcquire(&r->mutex);
	s = slot_of(r, DatumGetObjectId(dboid), false, at);
	if (s != NULL && published && s->state == OUTBOX_RUNNING && s->pid == MyProcPid)
	{
		s->state = OUTBOX_NONE;
		s->pid = 0;
		s->since = at;
		if (code != 0 && !drained)
			s->failed_starts++;
	}
	else if (s != NULL && !published && s->state == OUTBOX_STARTING)
	{
		s->state = OUTBOX_NONE;
		s->since = at;
		s->failed_starts++;
	}
	SpinLockRelease(&r->mutex);
}

/*
 * What a database or role may have set that would stop the drain; the
 * worker runs as the bootstrap superuser, whatever role or session user a
 * database's settings would make it (ALTER DATABASE ... SET role, SET
 * session_authorization).
 */
static void
worker_settings(void)
{
	/* (the name is looked up, in a transaction) */
	StartTransactionCommand();
	SetConfigOption("session_authorization", GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false),
					PGC_SUSET, PGC_S_OVERRIDE);
	CommitTransactionCommand();
	SetConfigOption("role", "none", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * The drain's plan is made once, usually when the outbox is nearly
	 * empty, where a sequential scan looks cheapest; under load the table
	 * grows (deleted rows stay until autovacuum) and every drain then read
	 * all of it: a tenth of a booking's CPU in a wide run.  The index on
	 * id and the TID scan of the rows taken cost the same at any size.
	 */
	SetConfigOption("enable_seqscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * listeners hear a batch once its deletion is durable here: committed
	 * asynchronously, a crash could lose the deletion after the batch was
	 * heard, and the batch would be announced again.  Flushed locally, not
	 * waited for by a synchronous standby ("local", not "on"): the wait
	 * held PostgreSQL's cluster-wide NOTIFY lock, and with the standby
	 * away every NOTIFY of the cluster hung behind it for good
	 */
	SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
}

void
protector_outbox_main(Datum main_arg)
{
	TimestampTz idle_since;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	/* registered first: a worker that cannot even connect is a failed start */
	(void) outbox_registry();
	before_shmem_exit(worker_gone, main_arg);
	BackgroundWorkerUnblockSignals();
	/*
	 * (also while the database takes no new connections, ALLOW_CONNECTIONS
	 * false: the rows of commits made by sessions still connected waited
	 * for the next worker, after it was reopened, and a commit that
	 * announced itself meanwhile, a review)
	 */
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg), InvalidOid,
											  BGWORKER_BYPASS_ALLOWCONN);
	worker_settings();
	if (!worker_publish())
		proc_exit(0);

	idle_since = GetCurrentTimestamp();
	for (;;)
	{
		int			taken;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			worker_settings();
		}
		taken = drain();
		if (taken < 0)
			proc_exit(0);
		if (taken > 0 && !drained)
			worker_worked();
		if (taken > 0)
		{
			/*
			 * Busy (more than one row came since the last batch): let
			 * the next batch gather for a moment instead of waking for
			 * every commit (a transaction, a commit and a context switch
			 * per booking cost a fifth of the bookings' throughput on two
			 * cores).  Commits meanwhile only set the latch; an
			 * announcement waits at most this much longer.  One commit at
			 * a time is announced at once.
			 */
			idle_since = GetCurrentTimestamp();
			if (taken > 1 && taken < OUTBOX_BATCH)
				(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 OUTBOX_GATHER_MS, PG_WAIT_EXTENSION);
			continue;
		}
		if (TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(), OUTBOX_IDLE_EXIT_MS))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 OUTBOX_IDLE_EXIT_MS / 4, PG_WAIT_EXTENSION);
	}
	/* idle: stop being found, then take what committed before that */
	worker_gone(0, main_arg);
	while (drain() > 0)
		;
	proc_exit(0);
}
