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
 *	  - a transaction that cannot get a worker (no free max_worker_processes
 *		slot, more than OUTBOX_SLOTS databases announcing at once) notifies
 *		at its own commit as before: nothing waits for a worker that will
 *		not come.
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
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
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

#define OUTBOX_SLOTS 64
#define OUTBOX_IDLE_EXIT_MS 2000	/* below DROP DATABASE's 5 s wait */
#define OUTBOX_START_TIMEOUT_MS 10000	/* a start that never reported */
#define OUTBOX_BATCH 1000		/* outbox rows per worker transaction */
/* NOTIFY's own limit (async.c's NOTIFY_PAYLOAD_MAX_LENGTH, not exported) */
#define OUTBOX_PAYLOAD_MAX (BLCKSZ - NAMEDATALEN - 128)

bool		protector_notify_worker = true;

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
	TimestampTz since;			/* STARTING: when it was asked for */
} OutboxSlot;

typedef struct OutboxRegistry
{
	slock_t		mutex;
	OutboxSlot	slot[OUTBOX_SLOTS];
} OutboxRegistry;

static OutboxRegistry *registry = NULL;

/* the registry, allocated by the first process that needs it */
static OutboxRegistry *
outbox_registry(void)
{
	bool		found;

	if (registry != NULL)
		return registry;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	registry = ShmemInitStruct("protector outbox workers", sizeof(OutboxRegistry), &found);
	if (!found)
	{
		SpinLockInit(&registry->mutex);
		memset(registry->slot, 0, sizeof(registry->slot));
	}
	LWLockRelease(AddinShmemInitLock);
	return registry;
}

/*
 * The database's slot (the mutex held); with claim, a free one or one
 * whose database has no worker is taken when it has none.
 */
static OutboxSlot *
slot_of(OutboxRegistry *r, Oid dboid, bool claim)
{
	OutboxSlot *spare = NULL;

	for (int i = 0; i < OUTBOX_SLOTS; i++)
	{
		OutboxSlot *s = &r->slot[i];

		if (s->dboid == dboid)
			return s;
		if (spare == NULL && (s->dboid == InvalidOid || s->state == OUTBOX_NONE))
			spare = s;
	}
	if (!claim || spare == NULL)
		return NULL;
	spare->dboid = dboid;
	spare->state = OUTBOX_NONE;
	spare->pid = 0;
	return spare;
}

/* a copy of the database's slot, taken under the mutex */
static bool
slot_read(Oid dboid, bool claim, OutboxSlot *copy)
{
	OutboxRegistry *r = outbox_registry();
	OutboxSlot *s;

	SpinLockAcquire(&r->mutex);
	s = slot_of(r, dboid, claim);
	if (s != NULL)
		*copy = *s;
	SpinLockRelease(&r->mutex);
	return s != NULL;
}

/* moves the slot from state seen to next, if nobody moved it meanwhile */
static bool
slot_move(Oid dboid, const OutboxSlot *seen, OutboxState next, pid_t pid)
{
	OutboxRegistry *r = outbox_registry();
	OutboxSlot *s;
	bool		moved = false;

	SpinLockAcquire(&r->mutex);
	s = slot_of(r, dboid, false);
	if (s != NULL && s->state == seen->state && s->pid == seen->pid)
	{
		s->state = next;
		s->pid = pid;
		s->since = GetCurrentTimestamp();
		moved = true;
	}
	SpinLockRelease(&r->mutex);
	return moved;
}

static bool
start_worker(void)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

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
	return RegisterDynamicBackgroundWorker(&worker, &handle);
}

/*
 * Makes sure the database has a worker running or starting, starting one
 * if needed; false when none can be had.  The latch of a running worker
 * goes to *latch (NULL while it starts: it drains once it is up).
 */
static bool
ensure_worker(Latch **latch)
{
	*latch = NULL;
	for (int attempt = 0; attempt < 3; attempt++)
	{
		OutboxSlot	seen;
		PGPROC	   *proc;

		if (!slot_read(MyDatabaseId, true, &seen))
			return false;		/* every slot busy with other databases */
		if (seen.state == OUTBOX_RUNNING &&
			(proc = BackendPidGetProc(seen.pid)) != NULL)
		{
			*latch = &proc->procLatch;
			return true;
		}
		if (seen.state == OUTBOX_STARTING &&
			!TimestampDifferenceExceeds(seen.since, GetCurrentTimestamp(), OUTBOX_START_TIMEOUT_MS))
			return true;
		/* none, gone, or a start that never reported: start one */
		if (!slot_move(MyDatabaseId, &seen, OUTBOX_STARTING, 0))
			continue;			/* someone else moved it: look again */
		if (start_worker())
			return true;
		seen.state = OUTBOX_STARTING;
		seen.pid = 0;
		(void) slot_move(MyDatabaseId, &seen, OUTBOX_NONE, 0);
		return false;
	}
	return false;
}

/* protector_internal's relation name, or InvalidOid */
static Oid
internal_relid(const char *name)
{
	Oid			nsp = get_namespace_oid("protector_internal", true);

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
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
		!OidIsValid(internal_relid("outbox")))
		return false;
	return ensure_worker(&latch);
}

/*
 * After commit: the transaction's outbox rows are visible; wake the
 * worker, or start one if the last one left meanwhile.  Raises nothing
 * (the transaction is committed): a failure to start is a WARNING, and
 * the rows wait for the next worker.
 */
void
protector_outbox_wake(void)
{
	Latch	   *latch;

	if (!ensure_worker(&latch))
		ereport(WARNING,
				(errmsg("protector could not start its announcement worker"),
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
	Oid			relid = internal_relid("outbox");
	DirectTable *t;
	Relation	rel;
	Datum		values[3];
	bool		nulls[3];

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("protector_internal.outbox is missing"),
				 protector_errhint_damaged()));
	t = protector_direct_table_once(relid);
	rel = protector_direct_relation(t);
	if (RelationGetDescr(rel)->natts != 3 ||
		protector_column(RelationGetDescr(rel), "id", INT8OID) != 1 ||
		protector_column(RelationGetDescr(rel), "organization_id", UUIDOID) != 2 ||
		protector_column(RelationGetDescr(rel), "payloads", TEXTOID) != 3)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("protector_internal.outbox is not (id bigint, organization_id uuid, payloads text)"),
				 protector_errhint_damaged()));
	protector_direct_defaults(t, values, nulls);
	values[1] = UUIDPGetDatum(org);
	nulls[1] = false;
	values[2] = CStringGetTextDatum(payloads);
	nulls[2] = false;
	protector_direct_insert(t, values, nulls);
	protector_direct_close(t);
}

/* ---- the worker ---- */

PGDLLEXPORT void protector_outbox_main(Datum main_arg);

static SPIPlanPtr take_plan = NULL;

/* one line of a row's payloads to NOTIFY, unless it is empty or too long */
static void
announce(const char *channel, const char *payload)
{
	if (payload[0] == '\0' || strlen(payload) >= OUTBOX_PAYLOAD_MAX)
	{
		ereport(WARNING,
				(errmsg("protector outbox: skipped an announcement NOTIFY would refuse"),
				 errdetail("Channel \"%s\", payload of %zu bytes.", channel, strlen(payload))));
		return;
	}
	Async_Notify(channel, payload);
}

static void
announce_row(HeapTuple row, TupleDesc desc)
{
	bool		isnull;
	Datum		org = SPI_getbinval(row, desc, 1, &isnull);
	char	   *payloads = TextDatumGetCString(SPI_getbinval(row, desc, 2, &isnull));
	char	   *line = payloads;
	char		channel[NAMEDATALEN];

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

/*
 * One transaction: takes up to OUTBOX_BATCH rows, oldest first, announces
 * them and commits.  Returns how many were taken, or -1 when the outbox is
 * gone (the extension was dropped).
 */
static int
drain(void)
{
	int			taken = -1;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "protector outbox: announcing");
	if (OidIsValid(internal_relid("outbox")))
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (take_plan == NULL)
		{
			take_plan = SPI_prepare("WITH taken AS ("
									" DELETE FROM protector_internal.outbox o"
									" WHERE o.ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
									"  SELECT x.ctid FROM protector_internal.outbox x ORDER BY x.id LIMIT "
									CppAsString2(OUTBOX_BATCH) "))"
									" RETURNING o.id, o.organization_id, o.payloads)"
									" SELECT organization_id, payloads FROM taken ORDER BY id",
									0, NULL);
			if (take_plan == NULL || SPI_keepplan(take_plan) != 0)
				elog(ERROR, "could not prepare the outbox query: %s", SPI_result_code_string(SPI_result));
		}
		if (SPI_execute_plan(take_plan, NULL, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "the outbox query failed");
		for (uint64 i = 0; i < SPI_processed; i++)
			announce_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		taken = (int) SPI_processed;
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return taken;
}

/* on start: the database's worker, unless another one runs already */
static bool
worker_publish(void)
{
	for (int attempt = 0; attempt < 3; attempt++)
	{
		OutboxSlot	seen;

		if (!slot_read(MyDatabaseId, true, &seen))
			return false;
		if (seen.state == OUTBOX_RUNNING && seen.pid != MyProcPid &&
			BackendPidGetProc(seen.pid) != NULL)
			return false;
		if (slot_move(MyDatabaseId, &seen, OUTBOX_RUNNING, MyProcPid))
			return true;
	}
	return false;
}

/* on leaving: no longer found, so that later commits start a new worker */
static void
worker_unpublish(int code, Datum arg)
{
	OutboxSlot	seen;

	if (slot_read(MyDatabaseId, false, &seen) && seen.state == OUTBOX_RUNNING &&
		seen.pid == MyProcPid)
		(void) slot_move(MyDatabaseId, &seen, OUTBOX_NONE, 0);
}

void
protector_outbox_main(Datum main_arg)
{
	TimestampTz idle_since;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg), InvalidOid, 0);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	if (!worker_publish())
		proc_exit(0);
	before_shmem_exit(worker_unpublish, (Datum) 0);

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
		}
		taken = drain();
		if (taken < 0)
			proc_exit(0);
		if (taken > 0)
		{
			idle_since = GetCurrentTimestamp();
			continue;
		}
		if (TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(), OUTBOX_IDLE_EXIT_MS))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 OUTBOX_IDLE_EXIT_MS / 4, PG_WAIT_EXTENSION);
	}
	/* idle: stop being found, then take what committed before that */
	worker_unpublish(0, (Datum) 0);
	while (drain() > 0)
		;
	proc_exit(0);
}
