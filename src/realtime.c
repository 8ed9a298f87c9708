/*-------------------------------------------------------------------------
 *
 * realtime.c
 *	  protector.notify_trigger(): tells listening dashboards, after commit,
 *	  which rows of a table changed.
 *
 * An AFTER ... FOR EACH STATEMENT trigger with a transition table (one per
 * event: PostgreSQL allows transition tables only on single-event
 * triggers).  On channel protector_<organization uuid, 32 hex digits> it
 * announces each changed row,
 *	  {"op":"UPDATE","table":"bookings","id":"…","status":"confirmed","at":"…",
 *	   "tx":…,"n":…}
 * until protector.notify_batch_limit rows of that table, operation and
 * organization have been announced in the transaction; a statement that
 * would go past the limit is not announced row by row, and everything not
 * announced is summed up in one notification per table, operation and
 * organization sent at commit,
 *	  {"op":"UPDATE","table":"bookings","count":5000,"at":"…","tx":…,"n":…}
 * after which a dashboard reloads instead of patching row by row.  The
 * limit holds per transaction, not per statement, so triggers that insert
 * rows one statement at a time (review tasks for a bulk import) cannot
 * flood listeners either.
 *
 * protector.notify = off silences it (dashboards on Supabase Realtime do
 * not need it).
 *
 * What a transaction announces is kept here until it commits (a rolled-back
 * subtransaction takes back its announcements and the budget they spent),
 * then left to the outbox worker (outbox.c), which sends it after the
 * commit: PostgreSQL serializes the commits of transactions that NOTIFY,
 * and bookings no longer do.  When no worker can be had, or with
 * protector.notify_worker = off, the transaction notifies at its own
 * commit.
 *
 * NOTIFY ignores RLS (anyone who may LISTEN hears every channel), so the
 * payload carries ids and a status, never personal data; it stays under
 * 250 bytes, far below NOTIFY's 8000.  Nothing is sent before the
 * transaction commits, and nothing for a rolled-back one.
 *
 * src/realtime.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "capabilities.h"
#include "direct_insert.h"
#include "outbox.h"
#include "output_style.h"
#include "realtime.h"
#include "support.h"

bool		protector_notify = true;
int			protector_notify_batch_limit = 100;


/*
 * What this transaction announced so far, per organization, table and
 * operation; lives in TopTransactionContext, forgotten at transaction end.
 */
typedef struct BudgetKey
{
	pg_uuid_t	org;
	Oid			relid;
	char		op[8];			/* zero-padded: hashed as bytes */
} BudgetKey;

typedef struct NotifyBudget
{
	BudgetKey	key;
	struct NotifyBudget *next;
	char	   *table;
	int64		announced;		/* rows notified one by one */
	int64		summed;			/* rows left for the summary at commit */
} NotifyBudget;

/* the budgets by key, once a transaction has more than a scan finds fast */
#define BUDGETS_SCANNED 8

/* the longest status a payload carries, as JSON without its quotes */
#define PAYLOAD_STATUS_MAX (NAMEDATALEN - 1)

typedef struct BudgetEntry
{
	BudgetKey	key;
	NotifyBudget *budget;
} BudgetEntry;

static NotifyBudget *budgets = NULL;
static int	nbudgets = 0;
static HTAB *budget_index = NULL;	/* NULL while nbudgets <= BUDGETS_SCANNED */
static bool callback_registered = false;

/*
 * What a subtransaction spent of a budget, so that rolling it back gives it
 * back (the top level needs no record: its abort forgets everything).
 */
typedef struct BudgetSpend
{
	NotifyBudget *budget;
	SubTransactionId subid;		/* the subtransaction that spent it */
	int64		announced;
	int64		summed;
} BudgetSpend;

static List *sub_spends = NIL;	/* of BudgetSpend, in TopTransactionContext */

/*
 * A payload is {"op":..., "table":..., then what the kind of payload adds
 * (a row's id and status, or a summary's count), then "at"}: the two
 * kinds share its start and its end.
 */
static void
payload_start(StringInfo payload, const char *op, const char *table)
{
	resetStringInfo(payload);
	appendStringInfo(payload, "{\"op\":\"%s\",\"table\":", op);
	escape_json(payload, table);
}

/*
 * ... and then "tx" and "n": the transaction's id and the payload's number
 * within it on its organization's channel.  NOTIFY sends identical
 * payloads of one transaction once, and the worker sends many
 * transactions' payloads in one: "at" (the statement's start) is the same
 * for every statement of one client message or CALL, so a booking
 * confirmed, set back to pending and confirmed again in three transactions
 * of one procedure lost its last announcement.  No two payloads of a
 * channel are alike now.  Numbered per channel, not per transaction: the
 * gaps in a listener's numbers counted other tenants' payloads of the
 * same transaction (a sweep's expired holds).
 */
static void
payload_finish(StringInfo payload, const pg_uuid_t *org, const char *at)
{
	static LocalTransactionId numbered_in = InvalidLocalTransactionId;
	static OrgCounts numbered;	/* in TopTransactionContext */
	OrgCount   *channel;

	if (numbered_in != MyProc->lxid)
	{
		MemoryContext oldcontext = MemoryContextSwitchTo(TopTransactionContext);

		protector_org_counts_init(&numbered);
		MemoryContextSwitchTo(oldcontext);
		numbered_in = MyProc->lxid;
	}
	channel = protector_org_count(&numbered, org, true);
	appendStringInfo(payload, ",\"at\":\"%s\",\"tx\":" UINT64_FORMAT ",\"n\":" INT64_FORMAT "}", at,
					 U64FromFullTransactionId(GetTopFullTransactionIdIfAny()), ++channel->rows);
}

/*
 * What this transaction announces, in order, until it commits: a rolled-back
 * subtransaction takes back its own (as async.c does for NOTIFY).
 */
typedef struct Pending
{
	SubTransactionId subid;		/* the subtransaction that announced it */
	pg_uuid_t	org;			/* whose channel */
	char	   *payload;
} Pending;

static List *pending = NIL;		/* of Pending, in TopTransactionContext */
static bool wake_worker = false;	/* wrote outbox rows: wake after commit */
static bool writing_outbox = false; /* at commit, the outbox rows */

/*
 * A change announced while the outbox rows are written at commit, by code
 * a DEFAULT or CHECK of the outbox runs: its budget was summed up already,
 * and its own outbox row would run that code again.  Refused.
 */
static void
refuse_while_writing(void)
{
	if (writing_outbox)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a change was announced while protector wrote this transaction's announcements"),
				 errdetail("A DEFAULT, CHECK constraint or trigger of protector_internal.outbox changes a table whose changes protector announces.")));
}

static void register_callbacks(void);

/*
 * Where a list of records, each with the id of the subtransaction that
 * made it (the SubTransactionId at subid_offset), holds those made since
 * subtransaction subid began: its tail.  Ids grow with each subtransaction
 * begun, and records are appended as they are made, so every record made
 * since subid began, by it or by a child, committed or not, has an id of
 * at least subid, and every record before has a lower one.  A
 * subtransaction that commits changes nothing (its records are its
 * parent's as they are: relabelling them at each commit cost nested
 * savepoints, N of them, N * N / 2 steps), and one that ends reads its own
 * records only, not the whole transaction's.
 */
static int
subtransaction_tail(List *records, Size subid_offset, SubTransactionId subid)
{
	int			from = list_length(records);

	while (from > 0 &&
		   *(SubTransactionId *) ((char *) list_nth(records, from - 1) + subid_offset) >= subid)
		from--;
	return from;
}

/* at the summaries and at transaction end (the memory goes with it) */
static void
forget_budgets(void)
{
	budgets = NULL;
	nbudgets = 0;
	budget_index = NULL;
}

static void
announce_later(const pg_uuid_t *org, const char *payload)
{
	MemoryContext old;
	Pending    *p;

	refuse_while_writing();
	old = MemoryContextSwitchTo(TopTransactionContext);
	p = palloc(sizeof(Pending));
	register_callbacks();
	p->subid = GetCurrentSubTransactionId();
	p->org = *org;
	p->payload = pstrdup(payload);
	pending = lappend(pending, p);
	MemoryContextSwitchTo(old);
}

/*
 * One outbox row per organization, in the order first announced, its
 * payloads one per line, in order.
 */
static void
write_outbox(void)
{
	OrgCounts	orgs;
	StringInfoData *lines = palloc(sizeof(StringInfoData) * 4);
	int			cap = 4;
	ListCell   *lc;

	protector_org_counts_init(&orgs);
	foreach(lc, pending)
	{
		Pending    *p = lfirst(lc);
		OrgCount   *oc = protector_org_count(&orgs, &p->org, true);
		int			i = oc - orgs.orgs;

		if (oc->rows++ == 0)
		{
			protector_grow(lines, cap, i);
			initStringInfo(&lines[i]);
		}
		else
			appendStringInfoChar(&lines[i], '\n');
		appendStringInfoString(&lines[i], p->payload);
	}
	for (int i = 0; i < orgs.n; i++)
		protector_outbox_write(&orgs.orgs[i].org, lines[i].data);
	wake_worker = true;
}

/* NOTIFY, sent by PostgreSQL at this transaction's own commit */
static void
notify_now(void)
{
	ListCell   *lc;
	char		channel[NAMEDATALEN];

	foreach(lc, pending)
	{
		Pending    *p = lfirst(lc);

		protector_notify_channel(channel, &p->org);
		Async_Notify(channel, p->payload);
	}
}

/*
 * Before commit: to the worker through the outbox (outbox.c), or, when no
 * worker can be had, or the transaction was made read-only after its
 * changes (SET TRANSACTION READ ONLY: it may commit, but writes no outbox
 * row), NOTIFY at this transaction's commit.
 */
static void
flush_pending(void)
{
	if (pending == NIL)
		return;
	if (!XactReadOnly && protector_outbox_usable())
	{
		writing_outbox = true;
		write_outbox();
		/*
		 * what others' triggers on the outbox queued as deferred (a
		 * deferrable foreign key of a table they write): the transaction's
		 * deferred events fired before this, and these were dropped
		 * unchecked (a review); fired now, as COMMIT fires them
		 */
		AfterTriggerFireDeferred();
		writing_outbox = false;
		/*
		 * tables code of the outbox's DEFAULTs wrote to directly, which
		 * may have been closed for commit already
		 */
		protector_direct_close_all();
	}
	else
		notify_now();
	pending = NIL;
}

/*
 * PREPARE TRANSACTION: PostgreSQL cannot prepare a transaction that
 * notifies, and the outbox row would be announced before the transaction
 * is committed or rolled back: refused, saying why.
 */
static void
refuse_prepare(void)
{
	if (pending == NIL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot PREPARE a transaction whose changes protector announces"),
			 errdetail("Changes of bookings, tasks and notifications are announced on their organization's channel when they commit (protector.notify)."),
			 errhint("SET LOCAL protector.notify = off before the changes of a transaction to be prepared; listeners then learn of them from Supabase Realtime or their next reload.")));
}

/* the summaries of what went past the budget, announced at commit */
static void
announce_summaries(void)
{
	char		at[MAXDATELEN + 1];
	StringInfoData payload;

	JsonEncodeDateTime(at, TimestampTzGetDatum(GetCurrentTimestamp()),
					   TIMESTAMPTZOID, &protector_utc_offset);
	initStringInfo(&payload);
	for (NotifyBudget *b = budgets; b != NULL; b = b->next)
	{
		if (b->summed == 0)
			continue;
		payload_start(&payload, b->key.op, b->table);
		appendStringInfo(&payload, ",\"count\":" INT64_FORMAT, b->summed);
		payload_finish(&payload, &b->key.org, at);
		announce_later(&b->key.org, payload.data);
	}
	forget_budgets();
}

static void
notify_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	MemoryContext caller;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:

			/*
			 * in the transaction's memory, freed as it ends: the memory
			 * current at a COMMIT inside a procedure is the procedure's,
			 * which lives until its CALL returns, and a procedure
			 * committing each of 3,000 bookings grew by 3 kB a commit (an
			 * attack on procedures)
			 */
			caller = MemoryContextSwitchTo(TopTransactionContext);
			announce_summaries();
			if (event == XACT_EVENT_PRE_COMMIT)
				flush_pending();
			else
				refuse_prepare();
			MemoryContextSwitchTo(caller);
			break;
		case XACT_EVENT_COMMIT:
			if (wake_worker)
				protector_outbox_wake();
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			forget_budgets();	/* their memory goes with the transaction */
			pending = NIL;
			writing_outbox = false;
			sub_spends = NIL;
			wake_worker = false;
			break;
		default:
			break;
	}
}

/*
 * A subtransaction's end, as async.c treats NOTIFY: rolled back, its
 * announcements and what they spent of the budgets are taken back;
 * committed, they become its parent's.
 */
static void
notify_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg pg_attribute_unused())
{
	bool		abort = event == SUBXACT_EVENT_ABORT_SUB;
	int			from;

	/* (a commit into a subtransaction leaves its records as they are) */
	if (!abort && !(event == SUBXACT_EVENT_COMMIT_SUB && parentSubid == TopSubTransactionId))
		return;
	if (abort)
		pending = list_truncate(pending, subtransaction_tail(pending, offsetof(Pending, subid), mySubid));
	from = subtransaction_tail(sub_spends, offsetof(BudgetSpend, subid), mySubid);
	if (abort)
		for (int i = from; i < list_length(sub_spends); i++)
		{
			BudgetSpend *spend = list_nth(sub_spends, i);

			spend->budget->announced -= spend->announced;
			spend->budget->summed -= spend->summed;
		}
	/* the top level needs no record: its abort forgets everything */
	sub_spends = list_truncate(sub_spends, from);
}

static void
register_callbacks(void)
{
	if (callback_registered)
		return;
	RegisterXactCallback(notify_xact_callback, NULL);
	RegisterSubXactCallback(notify_subxact_callback, NULL);
	callback_registered = true;
}

/* the budgets so far, hashed when one more comes (in TopTransactionContext) */
static void
index_budgets(void)
{
	HASHCTL		ctl;
	HTAB	   *index;

	ctl.keysize = sizeof(BudgetKey);
	ctl.entrysize = sizeof(BudgetEntry);
	ctl.hcxt = TopTransactionContext;
	index = hash_create("protector announcement budgets", 64, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (NotifyBudget *b = budgets; b != NULL; b = b->next)
		((BudgetEntry *) hash_search(index, &b->key, HASH_ENTER, NULL))->budget = b;
	budget_index = index;		/* (complete, or not at all) */
}

static NotifyBudget *
notify_budget(const pg_uuid_t *org, Relation rel, const char *op)
{
	BudgetKey	key;
	NotifyBudget *b;

	refuse_while_writing();
	memset(&key, 0, sizeof(key));
	key.org = *org;
	key.relid = RelationGetRelid(rel);
	strlcpy(key.op, op, sizeof(key.op));
	if (budget_index != NULL)
	{
		BudgetEntry *entry = hash_search(budget_index, &key, HASH_FIND, NULL);

		if (entry != NULL)
			return entry->budget;
	}
	else
		for (b = budgets; b != NULL; b = b->next)
			if (memcmp(&b->key, &key, sizeof(key)) == 0)
				return b;
	register_callbacks();
	b = MemoryContextAllocZero(TopTransactionContext, sizeof(NotifyBudget));
	b->key = key;
	b->table = MemoryContextStrdup(TopTransactionContext, RelationGetRelationName(rel));
	/* (indexed before it is listed: an error in between lists nothing) */
	if (budget_index != NULL)
		((BudgetEntry *) hash_search(budget_index, &key, HASH_ENTER, NULL))->budget = b;
	b->next = budgets;
	budgets = b;
	if (budget_index == NULL && ++nbudgets > BUDGETS_SCANNED)
		index_budgets();
	return b;
}

static AttrNumber
notify_column(TupleDesc desc, const char *name, Oid typid, bool required,
			  Relation rel)
{
	AttrNumber	attnum = protector_column(desc, name, typid);

	if (attnum == InvalidAttrNumber && required)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("notify_trigger() needs a uuid column \"%s\" in table \"%s\"",
						name, RelationGetRelationName(rel))));
	return attnum;
}

void
protector_notify_channel(char *channel, const pg_uuid_t *org)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p = channel + strlen("protector_");

	strcpy(channel, "protector_");
	for (int i = 0; i < UUID_LEN; i++)
	{
		*p++ = hex[org->data[i] >> 4];
		*p++ = hex[org->data[i] & 0x0F];
	}
	*p = '\0';
}

static const TriggerProtocol notify_protocol = {
	.function = "notify_trigger()",
	.after = true,
	.statement_events = PROTECTOR_ON_INSERT | PROTECTOR_ON_UPDATE | PROTECTOR_ON_DELETE,
	.fired = "AFTER INSERT, UPDATE or DELETE FOR EACH STATEMENT",
};

/* the statement's transition table, and its operation in *op */
static Tuplestorestate *
notify_rows(TriggerData *trigdata, const char **op)
{
	bool		deleted = TRIGGER_FIRED_BY_DELETE(trigdata->tg_event);
	Tuplestorestate *rows = deleted ? trigdata->tg_oldtable : trigdata->tg_newtable;

	*op = deleted ? "DELETE" : TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ? "INSERT" : "UPDATE";
	if (rows == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("notify_trigger() needs a transition table"),
				 errhint("Declare the trigger with REFERENCING %s TABLE AS ...", deleted ? "OLD" : "NEW")));
	return rows;
}

/*
 * Within the budget the rows are announced one by one; a statement that
 * would go past it is left to the summary at commit, whole (rows = -1).
 */
static bool
budget_spend(NotifyBudget *b, int64 rows)
{
	bool		one_by_one = b->summed == 0 && b->announced + rows <= protector_notify_batch_limit;
	if (one_by_one)
		b->announced += rows;
	else
		b->summed += rows;
	if (GetCurrentTransactionNestLevel() > 1)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		BudgetSpend *spend = palloc(sizeof(BudgetSpend));

		spend->budget = b;
		spend->subid = GetCurrentSubTransactionId();
		spend->announced = one_by_one ? rows : 0;
		spend->summed = one_by_one ? 0 : rows;
		sub_spends = lappend(sub_spends, spend);
		MemoryContextSwitchTo(old);
	}
	return one_by_one;
}

/* each organization's rows spent; those left to the summary: rows -1 */
static void
spend_budgets(OrgCounts *orgs, Relation rel, const char *op)
{
	for (int i = 0; i < orgs->n; i++)
		if (!budget_spend(notify_budget(&orgs->orgs[i].org, rel, op), orgs->orgs[i].rows))
			orgs->orgs[i].rows = -1;
}

/*
 * a row's payload on org's channel: op, table, id (when there is one),
 * status (or NULL), at
 */
static void
row_payload(StringInfo payload, const pg_uuid_t *org, const char *op, Relation rel, Datum id, bool no_id,
			const char *status, const char *at)
{
	payload_start(payload, op, RelationGetRelationName(rel));
	if (!no_id)
		appendStringInfo(payload, ",\"id\":\"%s\"", DatumGetCString(DirectFunctionCall1(uuid_out, id)));
	if (status != NULL)
	{
		StringInfoData quoted;

		/*
		 * (a status of a table of a user's own can be any text: past an
		 * enum label's 63 bytes it is left out, or NOTIFY refused the
		 * payload at commit, or the worker skipped it)
		 */
		initStringInfo(&quoted);
		escape_json(&quoted, status);
		if (quoted.len <= PAYLOAD_STATUS_MAX + 2)
			appendStringInfo(payload, ",\"status\":%s", quoted.data);
		pfree(quoted.data);
	}
	payload_finish(payload, org, at);
}

/* the statement's start, as payloads carry it (in UTC, whatever the writer's TimeZone) */
static void
statement_at(char *at)
{
	JsonEncodeDateTime(at, TimestampTzGetDatum(GetCurrentStatementStartTimestamp()), TIMESTAMPTZOID,
					   &protector_utc_offset);
}

/*
 * Rows an UPDATE moved to another organization left the old one's view: its
 * channel hears a DELETE of each (the new one's hears the UPDATE), within
 * the old organization's budget for DELETE.  The old and new transition
 * tables hold the updated rows pairwise, in the same order.
 */
static void
announce_moves(Relation rel, Tuplestorestate *before, Tuplestorestate *after,
			   AttrNumber org_att, AttrNumber id_att, const char *at)
{
	TupleTableSlot *old_slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	TupleTableSlot *new_slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	OrgCounts	orgs;
	List	   *moved = NIL;	/* old organization, id: pg_uuid_t pairs */
	ListCell   *lc;
	StringInfoData payload;

	protector_org_counts_init(&orgs);
	tuplestore_select_read_pointer(before, tuplestore_alloc_read_pointer(before, EXEC_FLAG_REWIND));
	tuplestore_select_read_pointer(after, tuplestore_alloc_read_pointer(after, EXEC_FLAG_REWIND));
	tuplestore_rescan(before);
	tuplestore_rescan(after);
	while (tuplestore_gettupleslot(before, true, false, old_slot) &&
		   tuplestore_gettupleslot(after, true, false, new_slot))
	{
		bool		old_null,
					new_null,
					no_id;
		Datum		old_org = slot_getattr(old_slot, org_att, &old_null);
		Datum		new_org = slot_getattr(new_slot, org_att, &new_null);
		Datum		id = slot_getattr(old_slot, id_att, &no_id);
		pg_uuid_t  *pair;

		if (old_null || no_id ||
			(!new_null && memcmp(DatumGetUUIDP(old_org), DatumGetUUIDP(new_org), UUID_LEN) == 0))
			continue;
		pair = palloc(sizeof(pg_uuid_t) * 2);
		pair[0] = *DatumGetUUIDP(old_org);
		pair[1] = *DatumGetUUIDP(id);
		moved = lappend(moved, pair);
		protector_org_count(&orgs, &pair[0], true)->rows++;
	}
	ExecDropSingleTupleTableSlot(old_slot);
	ExecDropSingleTupleTableSlot(new_slot);
	if (moved == NIL)
		return;
	spend_budgets(&orgs, rel, "DELETE");
	initStringInfo(&payload);
	foreach(lc, moved)
	{
		pg_uuid_t  *pair = (pg_uuid_t *) lfirst(lc);
		if (protector_org_count(&orgs, &pair[0], false)->rows < 0)
			continue;
		row_payload(&payload, &pair[0], "DELETE", rel, UUIDPGetDatum(&pair[1]), false, NULL, at);
		announce_later(&pair[0], payload.data);
	}
}

PG_FUNCTION_INFO_V1(protector_notify_trigger);
Datum
protector_notify_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	rel;
	Tuplestorestate *rows;
	TupleTableSlot *slot;
	const char *op;
	AttrNumber	org_att,
				id_att,
				status_att;
	OrgCounts	orgs;
	char		at[MAXDATELEN + 1];
	StringInfoData payload;

	trigdata = protector_trigger_data(fcinfo, &notify_protocol);
	if (!protector_notify || protector_restoring_row(trigdata))
		return PointerGetDatum(NULL);
	rows = notify_rows(trigdata, &op);
	rel = trigdata->tg_relation;
	org_att = notify_column(RelationGetDescr(rel), "organization_id", UUIDOID, true, rel);
	id_att = notify_column(RelationGetDescr(rel), "id", UUIDOID, true, rel);
	status_att = notify_column(RelationGetDescr(rel), "status", InvalidOid, false, rel);
	statement_at(at);

	/* a read pointer of our own: other triggers may read the same store */
	tuplestore_select_read_pointer(rows, tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND));
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	protector_org_counts_init(&orgs);
	protector_orgs_of_rows(rows, slot, org_att, &orgs);
	spend_budgets(&orgs, rel, op);

	/* pass 2: one notification per row of the organizations within budget */
	initStringInfo(&payload);
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, org_att, &isnull);
		OrgCount   *oc = isnull ? NULL : protector_org_count(&orgs, DatumGetUUIDP(d), false);
		bool		no_id;
		Datum		id;
		Datum		status = (Datum) 0;
		bool		no_status = true;

		if (oc == NULL || oc->rows < 0)
			continue;
		id = slot_getattr(slot, id_att, &no_id);
		if (status_att != InvalidAttrNumber)
			status = slot_getattr(slot, status_att, &no_status);
		row_payload(&payload, &oc->org, op, rel, id, no_id,
					no_status ? NULL : protector_value_text(TupleDescAttr(RelationGetDescr(rel), status_att - 1)->atttypid,
															 status), at);
		announce_later(&oc->org, payload.data);
	}
	ExecDropSingleTupleTableSlot(slot);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && trigdata->tg_oldtable != NULL)
		announce_moves(rel, trigdata->tg_oldtable, rows, org_att, id_att, at);
	return PointerGetDatum(NULL);
}

/*
 * One row inserted past the executor (direct_insert.c), where the
 * statement trigger does not fire: announced as notify_trigger would
 * announce it, one by one within the transaction's budget for its
 * organization, table and INSERT, else in the summary at commit.
 */
void
protector_announce_insert(Relation rel, const pg_uuid_t *org, const pg_uuid_t *id, const char *status)
{
	char		at[MAXDATELEN + 1];
	StringInfoData payload;

	/* (only rows the restore loads are history: restoring() is the statement's) */
	if (!protector_notify || protector_restoring_rel(rel))
		return;
	if (!budget_spend(notify_budget(org, rel, "INSERT"), 1))
		return;
	statement_at(at);
	initStringInfo(&payload);
	row_payload(&payload, org, "INSERT", rel, UUIDPGetDatum(id), false, status, at);
	announce_later(org, payload.data);
}
