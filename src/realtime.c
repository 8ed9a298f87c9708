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
#include "realtime.h"
#include "support.h"

bool		protector_notify = true;
int			protector_notify_batch_limit = 100;


/*
 * What this transaction announced so far, per organization, table and
 * operation; lives in TopTransactionContext, forgotten at transaction end.
 */
typedef struct NotifyBudget
{
	struct NotifyBudget *next;
	pg_uuid_t	org;
	Oid			relid;
	char		op[8];
	char	   *table;
	int64		announced;		/* rows notified one by one */
	int64		summed;			/* rows left for the summary at commit */
} NotifyBudget;

static NotifyBudget *budgets = NULL;
static bool callback_registered = false;

/*
 * What a subtransaction spent of a budget, so that rolling it back gives it
 * back (the top level needs no record: its abort forgets everything).
 */
typedef struct BudgetSpend
{
	NotifyBudget *budget;
	int			level;			/* subtransaction nesting level */
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
 * within it.  NOTIFY sends identical payloads of one transaction once, and
 * the worker sends many transactions' payloads in one: "at" (the
 * statement's start) is the same for every statement of one client
 * message or CALL, so a booking confirmed, set back to pending and
 * confirmed again in three transactions of one procedure lost its last
 * announcement.  No two payloads are alike now.
 */
static void
payload_finish(StringInfo payload, const char *at)
{
	static LocalTransactionId numbered_in = InvalidLocalTransactionId;
	static uint32 n = 0;

	if (numbered_in != MyProc->lxid)
	{
		numbered_in = MyProc->lxid;
		n = 0;
	}
	appendStringInfo(payload, ",\"at\":\"%s\",\"tx\":" UINT64_FORMAT ",\"n\":%u}", at,
					 U64FromFullTransactionId(GetTopFullTransactionIdIfAny()), ++n);
}

/*
 * What this transaction announces, in order, until it commits: a rolled-back
 * subtransaction takes back its own (as async.c does for NOTIFY).
 */
typedef struct Pending
{
	int			level;			/* subtransaction nesting level */
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
				 errdetail("A DEFAULT or CHECK constraint of protector_internal.outbox changes a table whose changes protector announces.")));
}

static void register_callbacks(void);

static void
announce_later(const pg_uuid_t *org, const char *payload)
{
	MemoryContext old;
	Pending    *p;

	refuse_while_writing();
	old = MemoryContextSwitchTo(TopTransactionContext);
	p = palloc(sizeof(Pending));
	register_callbacks();
	p->level = GetCurrentTransactionNestLevel();
	p->org = *org;
	p->payload = pstrdup(payload);
	pending = lappend(pending, p);
	MemoryContextSwitchTo(old);
}

/* one outbox row per organization, its payloads one per line, in order */
static void
write_outbox(void)
{
	List	   *done = NIL;
	ListCell   *lc;
	StringInfoData lines;

	initStringInfo(&lines);
	foreach(lc, pending)
	{
		Pending    *p = lfirst(lc);
		ListCell   *d;
		bool		seen = false;

		foreach(d, done)
			seen = seen || memcmp(((pg_uuid_t *) lfirst(d))->data, p->org.data, UUID_LEN) == 0;
		if (seen)
			continue;
		done = lappend(done, &p->org);
		resetStringInfo(&lines);
		for (ListCell *same = lc; same != NULL; same = lnext(pending, same))
		{
			Pending    *q = lfirst(same);

			if (memcmp(q->org.data, p->org.data, UUID_LEN) != 0)
				continue;
			if (lines.len > 0)
				appendStringInfoChar(&lines, '\n');
			appendStringInfoString(&lines, q->payload);
		}
		protector_outbox_write(&p->org, lines.data);
	}
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
					   TIMESTAMPTZOID, NULL);
	initStringInfo(&payload);
	for (NotifyBudget *b = budgets; b != NULL; b = b->next)
	{
		if (b->summed == 0)
			continue;
		payload_start(&payload, b->op, b->table);
		appendStringInfo(&payload, ",\"count\":" INT64_FORMAT, b->summed);
		payload_finish(&payload, at);
		announce_later(&b->org, payload.data);
	}
	budgets = NULL;
}

static void
notify_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			announce_summaries();
			flush_pending();
			break;
		case XACT_EVENT_PRE_PREPARE:
			announce_summaries();
			refuse_prepare();
			break;
		case XACT_EVENT_COMMIT:
			if (wake_worker)
				protector_outbox_wake();
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			budgets = NULL;		/* their memory goes with the transaction */
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
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	bool		abort = event == SUBXACT_EVENT_ABORT_SUB;
	ListCell   *lc;

	if (!abort && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	foreach(lc, pending)
	{
		Pending    *p = lfirst(lc);

		if (p->level < level)
			continue;
		if (abort)
			pending = foreach_delete_current(pending, lc);
		else
			p->level = level - 1;
	}
	foreach(lc, sub_spends)
	{
		BudgetSpend *spend = lfirst(lc);

		if (spend->level < level)
			continue;
		if (abort)
		{
			spend->budget->announced -= spend->announced;
			spend->budget->summed -= spend->summed;
			sub_spends = foreach_delete_current(sub_spends, lc);
		}
		else
			spend->level = level - 1;
	}
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

static NotifyBudget *
notify_budget(const pg_uuid_t *org, Relation rel, const char *op)
{
	NotifyBudget *b;

	refuse_while_writing();
	for (b = budgets; b != NULL; b = b->next)
	{
		if (b->relid == RelationGetRelid(rel) && strcmp(b->op, op) == 0 &&
			memcmp(b->org.data, org->data, UUID_LEN) == 0)
			return b;
	}
	register_callbacks();
	b = MemoryContextAllocZero(TopTransactionContext, sizeof(NotifyBudget));
	memcpy(b->org.data, org->data, UUID_LEN);
	b->relid = RelationGetRelid(rel);
	strlcpy(b->op, op, sizeof(b->op));
	b->table = MemoryContextStrdup(TopTransactionContext, RelationGetRelationName(rel));
	b->next = budgets;
	budgets = b;
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
	int			level = GetCurrentTransactionNestLevel();

	if (one_by_one)
		b->announced += rows;
	else
		b->summed += rows;
	if (level > 1)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		BudgetSpend *spend = palloc(sizeof(BudgetSpend));

		spend->budget = b;
		spend->level = level;
		spend->announced = one_by_one ? rows : 0;
		spend->summed = one_by_one ? 0 : rows;
		sub_spends = lappend(sub_spends, spend);
		MemoryContextSwitchTo(old);
	}
	return one_by_one;
}

static void
spend_budgets(OrgCount *orgs, int norgs, Relation rel, const char *op)
{
	for (int i = 0; i < norgs; i++)
		if (!budget_spend(notify_budget(&orgs[i].org, rel, op), orgs[i].rows))
			orgs[i].rows = -1;
}

/* a row's payload: op, table, id (when there is one), status (or NULL), at */
static void
row_payload(StringInfo payload, const char *op, Relation rel, Datum id, bool no_id,
			const char *status, const char *at)
{
	payload_start(payload, op, RelationGetRelationName(rel));
	if (!no_id)
		appendStringInfo(payload, ",\"id\":\"%s\"", DatumGetCString(DirectFunctionCall1(uuid_out, id)));
	if (status != NULL)
	{
		appendStringInfoString(payload, ",\"status\":");
		escape_json(payload, status);
	}
	payload_finish(payload, at);
}

/* the statement's start, as payloads carry it */
static void
statement_at(char *at)
{
	JsonEncodeDateTime(at, TimestampTzGetDatum(GetCurrentStatementStartTimestamp()), TIMESTAMPTZOID, NULL);
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
	OrgCount   *orgs = NULL;
	int			norgs = 0;
	int			cap = 0;
	List	   *moved = NIL;	/* old organization, id: pg_uuid_t pairs */
	ListCell   *lc;
	StringInfoData payload;

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
		OrgCount   *oc;

		if (old_null || no_id ||
			(!new_null && memcmp(DatumGetUUIDP(old_org), DatumGetUUIDP(new_org), UUID_LEN) == 0))
			continue;
		pair = palloc(sizeof(pg_uuid_t) * 2);
		pair[0] = *DatumGetUUIDP(old_org);
		pair[1] = *DatumGetUUIDP(id);
		moved = lappend(moved, pair);
		oc = protector_find_org(orgs, norgs, &pair[0]);
		if (oc == NULL)
		{
			orgs = norgs == 0 ? palloc(sizeof(OrgCount) * (cap = 4)) :
				protector_grow_array(orgs, &cap, norgs, sizeof(OrgCount));
			oc = &orgs[norgs++];
			oc->org = pair[0];
			oc->rows = 0;
		}
		oc->rows++;
	}
	ExecDropSingleTupleTableSlot(old_slot);
	ExecDropSingleTupleTableSlot(new_slot);
	if (moved == NIL)
		return;
	spend_budgets(orgs, norgs, rel, "DELETE");
	initStringInfo(&payload);
	foreach(lc, moved)
	{
		pg_uuid_t  *pair = (pg_uuid_t *) lfirst(lc);
		OrgCount   *oc = protector_find_org(orgs, norgs, &pair[0]);

		if (oc->rows < 0)
			continue;
		row_payload(&payload, "DELETE", rel, UUIDPGetDatum(&pair[1]), false, NULL, at);
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
	OrgCount   *orgs;
	int			norgs;
	char		at[MAXDATELEN + 1];
	StringInfoData payload;

	trigdata = protector_trigger_data(fcinfo, &notify_protocol);
	if (!protector_notify || protector_restoring_row(trigdata->tg_event))
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
	orgs = protector_orgs_of_rows(rows, slot, org_att, &norgs);
	spend_budgets(orgs, norgs, rel, op);

	/* pass 2: one notification per row of the organizations within budget */
	initStringInfo(&payload);
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, org_att, &isnull);
		OrgCount   *oc = isnull ? NULL : protector_find_org(orgs, norgs, DatumGetUUIDP(d));
		bool		no_id;
		Datum		id;
		Datum		status = (Datum) 0;
		bool		no_status = true;

		if (oc == NULL || oc->rows < 0)
			continue;
		id = slot_getattr(slot, id_att, &no_id);
		if (status_att != InvalidAttrNumber)
			status = slot_getattr(slot, status_att, &no_status);
		row_payload(&payload, op, rel, id, no_id,
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

	if (!protector_notify || protector_restoring())
		return;
	if (!budget_spend(notify_budget(org, rel, "INSERT"), 1))
		return;
	statement_at(at);
	initStringInfo(&payload);
	row_payload(&payload, "INSERT", rel, UUIDPGetDatum(id), false, status, at);
	announce_later(org, payload.data);
}
