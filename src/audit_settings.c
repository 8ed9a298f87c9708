/*-------------------------------------------------------------------------
 *
 * audit_settings.c
 *	  What protector_internal.audit_settings says of a table: whether it
 *	  is audited and which columns are masked, for protector's own tables
 *	  (sql/80_audit.sql).  pg_dump leaves out the triggers of an extension's
 *	  tables, so a restore brings back their audit triggers as CREATE
 *	  EXTENSION makes them (with the defaults) but this table's rows as they
 *	  were: the audit trigger reads them beside its trigger's arguments.
 *
 * Invariants:
 *	  - a column masked by either the trigger's arguments or the table's
 *		row is masked (a restore can only add masks back, never lose one);
 *	  - a table whose row says "not audited" writes no audit row;
 *	  - the row is read past RLS (the writer of an audited table may see
 *		nothing of protector_internal), on the latest snapshot, and a change
 *		of it invalidates the table's relcache entry, which rebuilds the
 *		audit trigger's cached layout (audit_settings_changed()).
 *
 * src/audit_settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "audit_settings.h"
#include "support.h"

enum
{
	AS_AUDITED, AS_MASKED
};
static const ProtectorColumn settings_column_list[] = {
	[AS_AUDITED] = {"audited", BOOLOID},
	[AS_MASKED] = {"masked", TEXTARRAYOID},
};
static ProtectorColumns settings_columns = {
	.columns = settings_column_list, .ncolumns = lengthof(settings_column_list)
};

/* the masked column names of an array (its NULL elements skipped) */
static void
read_masked(Datum array, AuditSetting *setting)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	setting->masked = palloc(sizeof(char *) * Max(n, 1));
	setting->nmasked = 0;
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			setting->masked[setting->nmasked++] = TextDatumGetCString(elems[i]);
}

void
protector_audit_setting(Oid relid, AuditSetting *setting)
{
	static const Oid oid_key[] = {OIDOID};
	Oid			settings_relid = protector_internal_relid("audit_settings", true);
	Relation	rel;
	Relation	index;
	TupleTableSlot *slot;
	ScanKeyData key;
	IndexScanDesc scan;
	Snapshot	snapshot;

	setting->found = false;
	setting->audited = true;
	setting->nmasked = 0;
	setting->masked = NULL;
	if (!OidIsValid(settings_relid))
		return;					/* (an upgrade that has not made it yet) */
	rel = table_open(settings_relid, AccessShareLock);
	index = index_open(protector_primary_key(rel), AccessShareLock);
	protector_check_key_index(index, 1, NULL, oid_key);
	slot = table_slot_create(rel, NULL);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = index_beginscan(rel, index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		const AttrNumber *c = protector_columns(&settings_columns, rel);

		setting->found = true;
		setting->audited = DatumGetBool(protector_slot_notnull(slot, c[AS_AUDITED], "audit_settings"));
		read_masked(protector_slot_notnull(slot, c[AS_MASKED], "audit_settings"), setting);
	}
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
}

bool
protector_audit_setting_masks(const AuditSetting *setting, const char *name)
{
	for (int i = 0; i < setting->nmasked; i++)
		if (strcmp(setting->masked[i], name) == 0)
			return true;
	return false;
}

/*
 * protector_internal.audit_settings_changed(regclass) returns void: the
 * table's audit trigger reads its row again (a relcache invalidation,
 * sent to every backend at commit)
 */
PG_FUNCTION_INFO_V1(protector_audit_settings_changed);
Datum
protector_audit_settings_changed(PG_FUNCTION_ARGS)
{
	Oid			relid;

	protector_require_arg(fcinfo, 0, "p_table");
	relid = PG_GETARG_OID(0);
	if (get_rel_relkind(relid) == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table with OID %u does not exist", relid)));
	CacheInvalidateRelcacheByRelid(relid);
	PG_RETURN_VOID();
}
