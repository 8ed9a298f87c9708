/*-------------------------------------------------------------------------
 *
 * report_changes.c
 *	  protector_internal.report_change(): logs which organizations' report
 *	  data a statement changed, so that cached reports are never stale
 *	  (sql/89_reports.sql, docs/dashboards.md#reports).
 *
 * An AFTER INSERT, UPDATE or DELETE ... FOR EACH STATEMENT trigger with a
 * transition table, on the tables with an organization_id that reports
 * read (bookings, payments, tasks, members, customers, venues, services).
 * For each organization among the statement's rows (for an update, old and
 * new: a row may move to another organization) it keeps one row
 * (organization, this transaction's id) in protector_internal.
 * report_changes: written directly (direct_insert.c) unless the
 * transaction logged that organization already: a probe of the primary
 * key that sees this transaction's own rows, and not those of its
 * rolled-back subtransactions.  The probe is skipped where its answer is
 * certainly no: an organization this backend has not logged in the
 * transaction, while nothing else can have written the table in it.
 * Before any statement writes the table (the PL/pgSQL log_report_change(),
 * which keeps what is rare: TRUNCATE, and changes of organizations
 * themselves; a prune; a superuser), its report_changes_written() trigger
 * says so, as do a change of the table's definition and a lock taken on
 * it as trigger DDL takes one; while that trigger is not in force
 * (missing, disabled, narrowed, not ALWAYS, its body replaced, or the
 * table given a parent, through which writes fire none of its triggers),
 * every check probes.  (What is left, a superuser's catalog edits, can
 * only end a booking on the duplicate key, loudly: a skipped probe only
 * ever inserts.)
 * While restoring it logs as always (a data-only restore into a live
 * database changes reports; "restoring" is only row_security off for a
 * role that bypasses RLS, which maintenance sessions are too), and after
 * an INSERT statement runs the restore's pending inserts for its table
 * (sql/98_restore.sql).
 *
 * Invariants:
 *	  - after a statement that changed an organization's rows commits, its
 *		transaction id is logged for that organization;
 *	  - (organization, transaction) is logged once (the primary key);
 *	  - an organization counts as logged only when a probe finds its row;
 *		as unlogged without a probe only when this backend has not logged
 *		it in this transaction (nor more than MAX_KNOWN others), and
 *		report_changes_written() is in force and nothing else can have
 *		written the table in the transaction.
 *
 * Why C: every booking ran the PL/pgSQL INSERT ... SELECT DISTINCT ... ON
 * CONFLICT DO NOTHING through SPI, once per statement.  Why the record of
 * what this backend logged: the probe, whose answer a transaction's first
 * booking knows, was 7,000 of the 84,000 instructions the engine adds to
 * an insert (docs/performance.md).
 *
 * Like every table written directly, report_changes stays open until the
 * transaction commits: TRUNCATE of it later in the same transaction is
 * refused as "in use" (direct_insert.c), unless DDL closed it first.
 *
 * src/report_changes.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

#include "capabilities.h"
#include "direct_insert.h"
#include "support.h"

static const TriggerProtocol report_change_protocol = {
	.function = "report_change()",
	.after = true,
	.statement_events = PROTECTOR_ON_INSERT | PROTECTOR_ON_UPDATE | PROTECTOR_ON_DELETE,
	.fired = "AFTER INSERT, UPDATE or DELETE FOR EACH STATEMENT",
	.hint = "Declare it with REFERENCING NEW TABLE AS ... (OLD TABLE for DELETE, both for UPDATE).",
};

/*
 * report_changes' organization column, and (its cache's relid) the table,
 * looked up by name once per backend and again after a relcache
 * invalidation of the table
 */
static const ProtectorColumn changes_column_list[] = {
	{"organization_id", UUIDOID, false},
	{"xid", XID8OID, false},
};
static ProtectorColumns changes_columns = {
	.columns = changes_column_list, .ncolumns = lengthof(changes_column_list)
};

/* the table, open for direct inserts until this transaction commits */
static DirectTable *
changes_table(void)
{
	return protector_direct_table(OidIsValid(changes_columns.relid) ? changes_columns.relid :
								  protector_internal_relid("report_changes", false));
}

/*
 * What makes report_changes_written() a witness of every write: it is
 * protector's C function (not a body put in its place), and the table has
 * no parent (a write through an inheritance parent or a partitioned table
 * fires no statement trigger of the table's).  Looked up again after an
 * invalidation of the table or of any function.
 */
static struct
{
	bool		valid;
	Oid			relid;
	Oid			fn;				/* report_changes_written(), when it is ours */
	bool		inherits;		/* the table has a parent */
}			witness;

extern Datum protector_report_changes_written(PG_FUNCTION_ARGS);

static void
witness_function_changed(Datum arg pg_attribute_unused(),
						 int cacheid pg_attribute_unused(),
						 uint32 hashvalue pg_attribute_unused())
{
	witness.valid = false;
}

/*
 * What this backend knows of the report_changes rows of one transaction:
 * the organizations it logged there (or in a subtransaction since rolled
 * back), and whether anything else may have written the table.  Only "not
 * logged" is taken from it: an organization it lists is probed, so a row
 * removed behind its back (by a rolled-back subtransaction, say) is logged
 * again, never taken as there.
 */
#define MAX_KNOWN 16

static struct
{
	LocalTransactionId lxid;	/* the transaction; another: nothing known */
	Oid			relid;			/* the table; another: nothing known */
	bool		written;		/* something else may have written the table */
	bool		overflowed;		/* more organizations logged than listed */
	int			n;
	pg_uuid_t	orgs[MAX_KNOWN];
}			known;

/*
 * A change of the table's definition (its triggers disabled and enabled
 * again, say) may have let a statement write it unseen: probe; and the
 * witness (its parents) is looked up again.
 */
static void
table_changed(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == known.relid)
		known.written = true;
	if (relid == InvalidOid || relid == witness.relid)
		witness.valid = false;
}

/*
 * The record of this transaction's rows in the table, reset when either
 * changed.  A transaction that locked the table as trigger DDL and
 * TRUNCATE do (ShareRowExclusiveLock or more) before its first row here
 * may have written it unseen, as the relcache callback says later on.
 */
static void
register_callbacks(void)
{
	static bool registered = false;

	if (registered)
		return;
	protector_on_relcache_change(table_changed);
	CacheRegisterSyscacheCallback(PROCOID, witness_function_changed, (Datum) 0);
	registered = true;
}

static void
known_for(Relation changes)
{
	bool		same_transaction;

	register_callbacks();
	same_transaction = known.lxid == MyProc->lxid;
	if (same_transaction && known.relid == RelationGetRelid(changes))
		return;
	known.lxid = MyProc->lxid;
	known.relid = RelationGetRelid(changes);
	/*
	 * Another table within the transaction (the extension dropped and made
	 * again, or that undone to a savepoint, which brings back a table this
	 * record was reset away from): what was logged in it is not known here.
	 */
	known.written = same_transaction ||
		CheckRelationLockedByMe(changes, ShareRowExclusiveLock, true);
	known.overflowed = false;
	known.n = 0;
}

/* is the organization certainly not logged in this transaction? */
static bool
known_unlogged(const pg_uuid_t *org)
{
	if (known.written || known.overflowed)
		return false;
	for (int i = 0; i < known.n; i++)
	{
		if (memcmp(known.orgs[i].data, org->data, UUID_LEN) == 0)
			return false;
	}
	return true;
}

static void
remember_logged(const pg_uuid_t *org)
{
	if (known.n == MAX_KNOWN)
		known.overflowed = true;
	else
		known.orgs[known.n++] = *org;
}

/* has this transaction logged the organization already?  A probe */
static bool
probe_logged(Relation changes, Relation index, const pg_uuid_t *org, FullTransactionId xid)
{
	ScanKeyData keys[2];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		found;

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(org));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_XID8EQ, FullTransactionIdGetDatum(xid));
	slot = table_slot_create(changes, NULL);
	/* this transaction's own rows, whatever their command */
	scan = index_beginscan(changes, index, SnapshotSelf, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

static void
load_witness(Relation changes)
{
	Oid			fn = protector_function_oid("protector_internal", "report_changes_written", true);

	witness.valid = false;
	witness.relid = RelationGetRelid(changes);
	witness.fn = InvalidOid;
	if (OidIsValid(fn))
	{
		FmgrInfo	finfo;

		fmgr_info(fn, &finfo);
		if (finfo.fn_addr == protector_report_changes_written)
			witness.fn = fn;
	}
	witness.inherits = has_superclass(witness.relid);
	witness.valid = true;
}

/*
 * Is report_changes_written() in force on the table: BEFORE each
 * statement that writes it, however session_replication_role is set,
 * whatever columns it updates, without a WHEN, and the only way in?
 * Without it (a database from before it, a trigger disabled, dropped or
 * narrowed, a body replaced, a parent table) nothing would tell a
 * statement's writes: probe.
 */
static bool
written_trigger_in_force(Relation changes)
{
	TriggerDesc *td = changes->trigdesc;
	const int16 events = TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE | TRIGGER_TYPE_TRUNCATE;

	if (!witness.valid || witness.relid != RelationGetRelid(changes))
		load_witness(changes);
	if (td == NULL || !OidIsValid(witness.fn) || witness.inherits)
		return false;
	for (int i = 0; i < td->numtriggers; i++)
	{
		const Trigger *trig = &td->triggers[i];

		if (trig->tgfoid == witness.fn && trig->tgenabled == TRIGGER_FIRES_ALWAYS &&
			TRIGGER_FOR_BEFORE(trig->tgtype) && !TRIGGER_FOR_ROW(trig->tgtype) &&
			(trig->tgtype & events) == events && trig->tgqual == NULL && trig->tgnattr == 0)
			return true;
	}
	return false;
}

/* has this transaction logged the organization already? */
static bool
logged(DirectTable *t, const pg_uuid_t *org, FullTransactionId xid)
{
	Relation	changes = protector_direct_relation(t);
	/* the primary key, open with the table */
	Relation	index = protector_direct_index(t, protector_primary_key(changes));

	static const Oid key_types[] = {UUIDOID, XID8OID};

	if (index == NULL)
		elog(ERROR, "the primary key of %s is not open", RelationGetRelationName(changes));
	/* (organization_id, xid): the probe's keys, and the rows' uniqueness */
	protector_check_key_index(index, 2, protector_columns(&changes_columns, changes), key_types);
	known_for(changes);
	if (known_unlogged(org) && written_trigger_in_force(changes))
		return false;
	return probe_logged(changes, index, org, xid);
}

static void
log_change(const pg_uuid_t *org)
{
	DirectTable *t = changes_table();
	Relation	changes = protector_direct_relation(t);
	/* (locked now: an invalidation of its definition has reset the cache) */
	AttrNumber	org_att = protector_columns(&changes_columns, changes)[0];
	TupleDesc	desc = RelationGetDescr(changes);
	Datum	   *values;
	bool	   *nulls;

	if (logged(t, org, GetTopFullTransactionId()))
		return;
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	protector_direct_defaults(t, values, nulls);	/* xid: pg_current_xact_id() */
	values[org_att - 1] = UUIDPGetDatum(org);
	nulls[org_att - 1] = false;
	protector_direct_insert(t, values, nulls);
	remember_logged(org);
	pfree(values);
	pfree(nulls);
}

/* logs the organizations of one transition table's rows */
static void
log_rows(Relation rel, Tuplestorestate *rows)
{
	TupleTableSlot *slot;
	OrgCounts	orgs;

	/* a read pointer of our own: other triggers may read the same store */
	tuplestore_select_read_pointer(rows, tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND));
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	protector_org_counts_init(&orgs);
	protector_orgs_of_rows(rows, slot, protector_column_required(rel, "organization_id", UUIDOID), &orgs);
	ExecDropSingleTupleTableSlot(slot);
	for (int i = 0; i < orgs.n; i++)
		log_change(&orgs.orgs[i].org);
}

/*
 * While restoring, after an INSERT statement (a table's load): the rows
 * set aside whose references are there now go in
 * (insert_restored_pending(), sql/98_restore.sql), as the
 * z_insert_restored_pending trigger of tables without this one does; not
 * under session_replication_role = replica, where that trigger does not
 * fire either.  A trigger of its own cost every insert into these tables
 * a WHEN clause compiled per statement while no restore ran.
 */
static void
insert_restored_pending(FunctionCallInfo fcinfo)
{
	FmgrInfo	flinfo;

	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		return;
	fmgr_info(protector_internal_function("insert_restored_pending"), &flinfo);
	(void) protector_fire_trigger(fcinfo, &flinfo, NULL);
}

static const TriggerProtocol written_protocol = {
	.function = "report_changes_written()",
	.after = false,
	.statement_events = PROTECTOR_ON_INSERT | PROTECTOR_ON_UPDATE | PROTECTOR_ON_DELETE | PROTECTOR_ON_TRUNCATE,
	.fired = "BEFORE INSERT, UPDATE, DELETE or TRUNCATE FOR EACH STATEMENT",
	.hint = "It belongs on protector_internal.report_changes (sql/89_reports.sql).",
};

/*
 * protector_internal.report_changes_written(): trigger, before any
 * statement that writes report_changes: from now on this transaction's
 * checks probe the table (the statement may log or remove rows; before,
 * not after it: the statement may change bookings too, in a WITH, whose
 * report_change() runs before the statement's AFTER triggers).
 */
PG_FUNCTION_INFO_V1(protector_report_changes_written);
Datum
protector_report_changes_written(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = protector_trigger_data(fcinfo, &written_protocol);
	Oid			relid = RelationGetRelid(trigdata->tg_relation);

	if (relid != protector_internal_relid("report_changes", false))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("report_changes_written() fired on %s", RelationGetRelationName(trigdata->tg_relation)),
				 errhint("%s", written_protocol.hint)));
	known_for(trigdata->tg_relation);
	known.written = true;
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(protector_report_change);
Datum
protector_report_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = protector_trigger_data(fcinfo, &report_change_protocol);
	Relation	rel = trigdata->tg_relation;
	bool		deleted = TRIGGER_FIRED_BY_DELETE(trigdata->tg_event);
	bool		updated = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
	Tuplestorestate *rows = deleted ? trigdata->tg_oldtable : trigdata->tg_newtable;

	/* an update names both tables: a row may move to another organization */
	if (rows == NULL || (updated && trigdata->tg_oldtable == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("report_change() needs the statement's transition tables"),
				 errhint("%s", report_change_protocol.hint)));
	log_rows(rel, rows);
	if (updated)
		log_rows(rel, trigdata->tg_oldtable);
	if (protector_restoring_row(trigdata))
		insert_restored_pending(fcinfo);
	return PointerGetDatum(NULL);
}
