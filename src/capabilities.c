/*-------------------------------------------------------------------------
 *
 * capabilities.c
 *	  Who may do what: the one capability map (member role -> action), and
 *	  the checks that RLS policies and RPCs ask of it.
 *
 * Invariant: no role list is written anywhere but capability_map[] below.
 * Policies ask protector_internal.orgs_with('bookings.read'), RPCs ask
 * protector_internal.authorize() / authorize_row(), the column guard asks
 * orgs_with() too, and docs/security.md's role table is checked against
 * protector.capability_map() by the test suite.  An action whose roles
 * changed since 0.1.0 carries 0.1.0's too, for the databases of the
 * cluster not yet updated (roles_of()).
 *
 * "Trusted" callers (the role in force outside any SECURITY DEFINER
 * function is a superuser or has BYPASSRLS, e.g. service_role) may do
 * everything, as RLS lets them.
 *
 * The membership reads run as the owner of protector's tables with forced
 * RLS lifted for one kept plan (elevation.c), as PostgreSQL's
 * referential-integrity checks do; the visibility read of authorize_row()
 * runs as the caller, so RLS alone decides whether a row exists for them.
 *
 * src/capabilities.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "replication/origin.h"
#include "storage/proc.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "capabilities.h"
#include "elevation.h"
#include "errors.h"
#include "identity.h"
#include "locks.h"
#include "spi_scope.h"
#include "support.h"

/* member roles, in protector.member_role's order */
static const char *const member_roles[] = {
	"owner", "admin", "manager", "operator", "agent", "finance", "viewer"
};

#define R_OWNER		(1 << 0)
#define R_ADMIN		(1 << 1)
#define R_MANAGER	(1 << 2)
#define R_OPERATOR	(1 << 3)
#define R_AGENT		(1 << 4)
#define R_FINANCE	(1 << 5)
#define R_VIEWER	(1 << 6)
#define R_ALL		0x7F
#define R_MGMT		(R_OWNER | R_ADMIN | R_MANAGER)
#define R_DESK		(R_MGMT | R_OPERATOR)

typedef struct Capability
{
	const char *action;
	int			roles;			/* R_* bits */
	const char *what;			/* "your role may not <what>" */
	bool		own_bookings;	/* a customer may, on a booking of theirs */
	int			first_release_roles;	/* 0.1.0's, where they differ (0: not) */
} Capability;

/*
 * The capability map.  Row rules that are not about roles (a member sees
 * their own membership, a customer their own bookings) live in the
 * policies; every role list lives here.
 */
static const Capability capability_map[] = {
	{"organizations.read", R_ALL, "see this organization", false, 0},
	{"organizations.update", R_OWNER | R_ADMIN, "change the organization", false, 0},
	{"organizations.delete", R_OWNER, "delete the organization", false, 0},
	{"members.read", R_DESK, "see the staff list", false, 0},
	{"members.manage", R_OWNER | R_ADMIN, "manage members", false, 0},
	{"members.manage_owners", R_OWNER, "manage owners", false, 0},
	{"venues.read", R_ALL, "see venues and services", false, 0},
	{"venues.manage", R_MGMT, "change venues, closures and services", false, 0},
	{"venues.delete", R_OWNER | R_ADMIN, "delete venues", false, 0},
	{"venues.rotate_key", R_OWNER | R_ADMIN, "rotate a venue's embed key", false, 0},
	{"venues.analytics", R_MGMT | R_FINANCE, "see venue analytics", false, 0},
	{"customers.read", R_DESK | R_FINANCE, "see customers", false, 0},
	{"customers.read_assigned", R_AGENT, "see the customers of bookings assigned to them", false, 0},
	{"customers.create", R_DESK, "create customers", false, 0},
	{"customers.manage", R_MGMT, "change or delete customers", false, 0},
	{"customers.find_duplicates", R_DESK, "look for duplicate customers", false, 0},
	{"customers.merge", R_MGMT, "merge customers", false, 0},
	{"analytics.customer", R_DESK, "see customers' individual analytics", false, 0},
	{"analytics.aggregate", R_DESK | R_FINANCE | R_VIEWER, "see aggregate analytics", false, 0},
	{"bookings.read", R_DESK | R_FINANCE, "see the organization's bookings", false, 0},
	{"bookings.assigned", R_AGENT, "see and update bookings assigned to them", false, 0},
	{"bookings.create", R_DESK, "create bookings", false, 0},
	{"bookings.reschedule", R_DESK, "reschedule bookings", false, 0},
	{"bookings.update", R_DESK, "update bookings", false, 0},
	{"bookings.update_any_column", R_MGMT, "change a booking's prices, customer or service directly", false, 0},
	{"bookings.confirm", R_DESK, "confirm bookings", true, 0},
	{"bookings.cancel", R_DESK, "cancel bookings", true, 0},
	{"bookings.delete", R_OWNER | R_ADMIN, "delete bookings", false, 0},
	{"payments.read", R_MGMT | R_FINANCE, "see payments", false, 0},
	/* 0.1.0: managers, not finance (before the payments ledger's checks) */
	{"payments.create", R_OWNER | R_ADMIN | R_FINANCE, "record payments", false, R_MGMT},
	{"payments.manage", R_OWNER | R_ADMIN, "change or delete payments", false, 0},
	{"vouchers.read", R_MGMT | R_FINANCE, "see gift vouchers", false, 0},
	{"vouchers.manage", R_MGMT, "issue, change or delete gift vouchers", false, 0},
	{"vouchers.redeem", R_DESK | R_FINANCE, "pay bookings with gift vouchers", true, 0},
	{"promo_codes.read", R_MGMT | R_FINANCE, "see promo codes", false, 0},
	{"promo_codes.manage", R_MGMT, "create, change or delete promo codes", false, 0},
	{"tasks.read", R_DESK, "see the organization's tasks", false, 0},
	{"tasks.assigned", R_AGENT, "see and update tasks assigned to them", false, 0},
	{"tasks.create", R_DESK, "create tasks", false, 0},
	{"tasks.update", R_DESK, "update tasks", false, 0},
	{"tasks.delete", R_MGMT, "delete tasks", false, 0},
	{"notifications.desk", R_DESK, "see and update the desk's notifications", false, 0},
	{"notifications.own", R_ALL, "see notifications addressed to them", false, 0},
	{"notifications.create", R_DESK, "create notifications", false, 0},
	{"notifications.delete", R_OWNER | R_ADMIN, "delete notifications", false, 0},
	{"audit.read", R_OWNER | R_ADMIN, "read the audit log", false, 0},
	{"audit.purge", R_OWNER, "purge old audit history", false, 0},
	{"customers.erase", R_OWNER | R_ADMIN, "erase a customer's personal data", false, 0},
	{"shifts.read", R_DESK, "see every staff member's shifts", false, 0},
	{"shifts.manage", R_MGMT, "schedule shifts and assign staff to venues", false, 0},
	{"staff.activity", R_OWNER | R_ADMIN, "read the staff activity log", false, 0},
	{"staff.performance", R_MGMT, "see staff performance", false, 0},
	{"messages.read", R_DESK, "read every message thread of the organization", false, 0},
	{"messages.send", R_DESK | R_AGENT, "message customers (agents: on their bookings)", false, 0},
	{"waivers.read", R_DESK, "see waivers and the signed submissions", false, 0},
	{"waivers.manage", R_MGMT, "create and change waiver templates", false, 0},
	{"waivers.collect", R_DESK | R_AGENT, "collect waiver signatures (agents: for their bookings)", true, 0},
	{"reminders.read", R_DESK, "see the reminders of the organization's bookings", false, 0},
	{"reminders.send", R_DESK, "send a booking reminder now", false, 0},
};

/*
 * The rows an action's RPC locks before changing them (authorize_row's
 * p_lock): a table of schema protector per action.  The check stands
 * for the lock, and authorize_row is the caller's to call: a viewer named
 * venues.read, which they may do, and held a service FOR UPDATE for as
 * long as they liked, new bookings' foreign keys waiting on it past
 * protector.lock_timeout.
 */
typedef struct LockGrant
{
	const char *action;
	const char *table;
} LockGrant;

static const LockGrant lock_grants[] = {
	{"venues.manage", "venues"}, {"venues.delete", "venues"}, {"venues.rotate_key", "venues"},
	{"customers.manage", "customers"}, {"customers.merge", "customers"},
	{"customers.erase", "customers"},
	{"bookings.confirm", "bookings"}, {"bookings.reschedule", "bookings"},
	{"bookings.cancel", "bookings"}, {"payments.create", "bookings"},
	{"members.manage", "members"},
	{"waivers.collect", "waiver_submissions"},
};

/* may cap's RPC lock the rows of relid (a table of schema protector)? */
static bool
action_locks(const Capability *cap, Oid relid)
{
	char	   *rel = get_rel_name(relid);

	for (size_t i = 0; rel != NULL && i < lengthof(lock_grants); i++)
	{
		if (strcmp(lock_grants[i].action, cap->action) == 0 &&
			strcmp(lock_grants[i].table, rel) == 0)
			return true;
	}
	return false;
}

static SPIPlanPtr member_orgs_plan = NULL;
static SPIPlanPtr customer_ids_plan = NULL;
static SPIPlanPtr customer_orgs_plan = NULL;

static ArrayType *own_customer_ids(void);
static ArrayType *own_customer_orgs(void);

/* ---------- the map ---------- */

/*
 * The roles that may do cap in this database.  The library is shared by
 * every database of the cluster, and one not yet updated from 0.1.0
 * (ALTER EXTENSION protector UPDATE) keeps that release's roles: its
 * tables have none of the later checks the new roles were given with.
 */
static int
roles_of(const Capability *cap)
{
	if (cap->first_release_roles != 0)
	{
		char	   *version = protector_installed_version();

		if (version != NULL && strcmp(version, "0.1.0") == 0)
			return cap->first_release_roles;
	}
	return cap->roles;
}

static const Capability *
find_capability(const char *action)
{
	for (size_t i = 0; i < lengthof(capability_map); i++)
	{
		if (strcmp(capability_map[i].action, action) == 0)
			return &capability_map[i];
	}
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
			 errmsg("\"%s\" is not a protector action", protector_clip(action, strlen(action), 80)),
			 errhint("protector.capability_map() lists the actions.")));
	pg_unreachable();
}

static const Capability *
capability_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	protector_require_arg(fcinfo, argno, name);
	return find_capability(text_to_cstring(PG_GETARG_TEXT_PP(argno)));
}

/* "owner, admin and manager" */
static char *
role_list(int roles)
{
	StringInfoData buf;
	int			n = 0;
	int			total = 0;

	for (size_t i = 0; i < lengthof(member_roles); i++)
		total += (roles >> i) & 1;
	initStringInfo(&buf);
	for (size_t i = 0; i < lengthof(member_roles); i++)
	{
		if (!(roles & (1 << i)))
			continue;
		if (n > 0)
			appendStringInfoString(&buf, n == total - 1 ? " and " : ", ");
		appendStringInfoString(&buf, member_roles[i]);
		n++;
	}
	return buf.data;
}

/* the roles as a text[] datum, for the membership query */
static Datum
role_array(int roles)
{
	Datum		elems[lengthof(member_roles)];
	int			n = 0;

	for (size_t i = 0; i < lengthof(member_roles); i++)
	{
		if (roles & (1 << i))
			elems[n++] = CStringGetTextDatum(member_roles[i]);
	}
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* ---------- who is calling ---------- */

/*
 * The role that made the request (outside SECURITY DEFINER functions the
 * current user, inside them the user they were called by) is a superuser
 * or bypasses RLS.
 */
static bool
requester_is_trusted(void)
{
	Oid			outer = GetOuterUserId();

	return superuser_arg(outer) || has_bypassrls_privilege(outer);
}

/*
 * Trusted: the role that made the request (outside SECURITY DEFINER
 * functions the current user, inside them the user they were called by) is
 * a superuser or bypasses RLS, or protector's own code is running as the
 * owner of its tables (a SECURITY DEFINER function or trigger of protector,
 * which authorized the request itself, e.g. the widget).
 */
bool
protector_caller_is_trusted(void)
{
	return requester_is_trusted() ||
		GetUserId() == protector_table_owner("bookings");
}

/*
 * A restore is running: pg_dump's output (restored by pg_restore or psql)
 * sets row_security = off, and a superuser runs it (docs/operations.md:
 * who restores).  The rows it writes are history, not changes: the audit,
 * workflow, live-update and reservation triggers leave them alone.  Any
 * session may turn row_security off, so the role matters: the role that
 * made the request, not the owner a SECURITY DEFINER function of protector
 * runs as, or an anonymous visitor could switch the reservation check off
 * through the widget; and a superuser, not any role that bypasses RLS:
 * service_role may set the internal settings a restore's own code sets
 * (any role may set a protector_internal.* placeholder), and with
 * protector_internal.reoffering on it booked past the reservation check,
 * unaudited, with row_security off.  And so does
 * the statement: a restore loads rows (COPY ... FROM, or a plain INSERT
 * with pg_dump --inserts), and what those statements' triggers write is
 * part of it; an UPDATE, a DELETE, an RPC's SELECT, COPY (UPDATE ...) TO,
 * an INSERT with a writable CTE or ON CONFLICT DO UPDATE is a change,
 * audited and checked whoever makes it (service_role with row_security off
 * changed bookings and payments with no audit row, the reservation check
 * and the ledger off).  The C triggers ask protector_restoring_row() as
 * well: only a row inserted is a restored one.
 */
static bool
restore_statement(void)
{
	PlannedStmt *stmt;

	if (ActivePortal == NULL || list_length(ActivePortal->stmts) != 1)
		return false;
	stmt = linitial_node(PlannedStmt, ActivePortal->stmts);
	if (stmt->commandType == CMD_INSERT)
		return !stmt->hasModifyingCTE &&
			!(IsA(stmt->planTree, ModifyTable) &&
			  ((ModifyTable *) stmt->planTree)->onConflictAction == ONCONFLICT_UPDATE);
	if (stmt->commandType == CMD_UTILITY && IsA(stmt->utilityStmt, CopyStmt))
		return ((CopyStmt *) stmt->utilityStmt)->is_from;
	return false;
}

/*
 * The rows a restore set aside, inserted into their tables while
 * protector_internal.reoffering is on (offer_restore_pending(),
 * sql/98_restore.sql): by a later load's end, or by finish_restore(),
 * whose statement is a SELECT.
 */
static bool
setting_on(const char *name)
{
	const char *value = GetConfigOption(name, true, false);

	return value != NULL && strcmp(value, "on") == 0;
}

static bool
reoffering(void)
{
	return setting_on("protector_internal.reoffering");
}

bool
protector_restoring(void)
{
	return !row_security && superuser_arg(GetOuterUserId()) && (restore_statement() || reoffering());
}

/*
 * COPY FROM's table, resolved once per statement: the same statement of
 * the same portal, naming the same table.  The statements of one query
 * string share their start time, and one's memory may be reused for the
 * next, so the PlannedStmt's address and the portal's creation time alone
 * took a later COPY for an earlier one (its rows' triggers then judged
 * them by the earlier COPY's table: a table between two restored ones
 * was audited).
 */
static Oid
copy_target(Portal portal, PlannedStmt *stmt)
{
	static const PlannedStmt *copy_stmt = NULL;
	static TimestampTz copy_created = 0;
	static char copy_schema[NAMEDATALEN];
	static char copy_name[NAMEDATALEN];
	static Oid	copy_relid = InvalidOid;
	CopyStmt   *copy = (CopyStmt *) stmt->utilityStmt;
	const char *schema;
	const char *name;

	if (copy->relation == NULL)
		return InvalidOid;		/* COPY (query): no table of its own */
	schema = copy->relation->schemaname != NULL ? copy->relation->schemaname : "";
	name = copy->relation->relname;
	if (copy_stmt != stmt || copy_created != portal->creation_time ||
		strncmp(copy_schema, schema, NAMEDATALEN) != 0 || strncmp(copy_name, name, NAMEDATALEN) != 0)
	{
		copy_relid = RangeVarGetRelid(copy->relation, NoLock, true);
		copy_stmt = stmt;
		copy_created = portal->creation_time;
		strlcpy(copy_schema, schema, NAMEDATALEN);
		strlcpy(copy_name, name, NAMEDATALEN);
	}
	return copy_relid;
}

/*
 * Is relid what the restoring statement loads: the INSERT's target, or
 * COPY FROM's table (resolved once per statement), or a partition of it?
 * A row an RPC called inside such a statement writes elsewhere (INSERT
 * INTO t SELECT protector.create_booking(...) with row_security off) is a
 * change, not history: it was booked past the reservation check, and
 * audited nowhere.  The rows a parallel restore set aside, which a later
 * load's trigger inserts into their tables (sql/98_restore.sql, while
 * protector_internal.reoffering is on), are the restore's too.
 */
static bool
restore_target(Oid relid)
{
	Portal		portal = ActivePortal;
	PlannedStmt *stmt;
	Oid			target = InvalidOid;
	ListCell   *lc;

	if (reoffering())
		return true;
	if (portal == NULL || list_length(portal->stmts) != 1)
		return false;			/* (restore_statement() said otherwise) */
	stmt = linitial_node(PlannedStmt, portal->stmts);
	if (stmt->commandType == CMD_INSERT)
	{
		foreach(lc, stmt->resultRelations)
		{
			Oid			result = rt_fetch(lfirst_int(lc), stmt->rtable)->relid;

			if (result == relid)
				return true;
			target = result;
		}
	}
	else
		target = copy_target(portal, stmt);
	if (!OidIsValid(target) || target == relid)
		return OidIsValid(target);
	/* (a partitioned target loads its partitions: their triggers fire) */
	if (get_rel_relispartition(relid))
	{
		List	   *ancestors = get_partition_ancestors(relid);

		foreach(lc, ancestors)
		{
			if (lfirst_oid(lc) == target)
				return true;
		}
	}
	return false;
}

/* the same for a trigger's row: only a row inserted into what the restore loads */
bool
protector_restoring_row(TriggerData *trigdata)
{
	return TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) &&
		protector_restoring_rel(trigdata->tg_relation);
}

/*
 * A restored booking the reservation check leaves alone: history, restored
 * whole as the backup held it.  Not the rows finish_restore() offers again
 * (protector_internal.finishing_restore on): bookings may have been made
 * in their slots since the restore, and a restored booking that overlaps
 * one is refused (sql/98_restore.sql); not one that has ended
 * (reserve.c).  (Shifts need no such care: those
 * set aside wait for their member, without whom none was made meanwhile.)
 */
bool
protector_restoring_unchecked(TriggerData *trigdata)
{
	return protector_restoring_row(trigdata) &&
		!setting_on("protector_internal.finishing_restore");
}

/* the same for a row about to be inserted into rel (a BEFORE trigger's) */
bool
protector_restoring_rel(Relation rel)
{
	return protector_restoring() && restore_target(RelationGetRelid(rel));
}

/*
 * protector_internal.restoring() returns boolean
 */
/*
 * Does the running statement load a table of protector's own schemas (an
 * INSERT into it, or a COPY FROM)?  What the SQL triggers' WHEN
 * conditions ask with restoring(): they guard protector's tables, and a
 * restore loads them with statements naming them.  A superuser's INSERT
 * INTO a table of their own SELECT protector.record_payment(...), run
 * with row_security off, is no restore: the payment's triggers were
 * passed over, and its booking's amount_paid was never summed.
 */
static bool
loads_protector_table(void)
{
	Portal		portal = ActivePortal;
	PlannedStmt *stmt;
	Oid			target = InvalidOid;
	char	   *schema;

	if (portal == NULL || list_length(portal->stmts) != 1)
		return false;
	stmt = linitial_node(PlannedStmt, portal->stmts);
	if (stmt->commandType == CMD_INSERT && stmt->resultRelations != NIL)
		target = rt_fetch(linitial_int(stmt->resultRelations), stmt->rtable)->relid;
	else if (stmt->commandType == CMD_UTILITY && IsA(stmt->utilityStmt, CopyStmt))
		target = copy_target(portal, stmt);
	if (!OidIsValid(target))
		return false;
	schema = get_namespace_name(get_rel_namespace(target));
	return schema != NULL && (strcmp(schema, "protector") == 0 || strcmp(schema, "protector_internal") == 0);
}

PG_FUNCTION_INFO_V1(protector_restoring_sql);
Datum
protector_restoring_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(protector_restoring() && (reoffering() || loads_protector_table()));
}

/*
 * protector_internal.restoring_into(p_table regclass) returns boolean: is
 * the running statement a restore's load of p_table (its INSERT or COPY,
 * or finish_restore's offer)?  For SQL triggers that must tell a restored
 * row from one an RPC writes inside an INSERT ... SELECT run with
 * row_security off, as protector_restoring_row() does for C's.
 */
PG_FUNCTION_INFO_V1(protector_restoring_into_sql);
Datum
protector_restoring_into_sql(PG_FUNCTION_ARGS)
{
	protector_require_arg(fcinfo, 0, "p_table");
	PG_RETURN_BOOL(protector_restoring() && restore_target(PG_GETARG_OID(0)));
}

/*
 * protector_internal.applying_replicated_changes() returns boolean: is this
 * session applying another database's changes (a logical replication
 * subscription's apply worker, or any session that set up a replication
 * origin)?  Such a change brings the publisher's own bookkeeping with it
 * when that is published (record_customer_move, sql/97_lifecycle.sql).
 */
PG_FUNCTION_INFO_V1(protector_applying_replicated_changes);
Datum
protector_applying_replicated_changes(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(replorigin_session_origin != InvalidRepOriginId);
}

/*
 * protector_internal.written_by_this_transaction(p_xmin xid) returns
 * boolean: was a row version with this xmin written by the current
 * transaction (or one of its subtransactions not rolled back)?  How a
 * SECURITY DEFINER helper, which cannot tell who called it, tells a change
 * its caller just made from one it only names (record_staff_activity).
 */
PG_FUNCTION_INFO_V1(protector_written_by_this_transaction);
Datum
protector_written_by_this_transaction(PG_FUNCTION_ARGS)
{
	TransactionId xid = DatumGetTransactionId(PG_GETARG_DATUM(0));

	PG_RETURN_BOOL(TransactionIdIsNormal(xid) && TransactionIdIsCurrentTransactionId(xid));
}

/* organizations where the caller is an active member with one of roles */
static ArrayType *
member_orgs(int roles)
{
	pg_uuid_t	uid;
	Oid			argtypes[2] = {UUIDOID, TEXTARRAYOID};
	Datum		values[2];

	if (!protector_get_current_user_id(&uid))
		return construct_empty_array(UUIDOID);
	values[0] = UUIDPGetDatum(&uid);
	values[1] = role_array(roles);
	return DatumGetArrayTypeP(protector_select_uuid_array(&member_orgs_plan,
														  "SELECT COALESCE(pg_catalog.array_agg(DISTINCT organization_id), '{}'::pg_catalog.uuid[])"
														  " FROM protector.members"
														  " WHERE user_id OPERATOR(pg_catalog.=) $1 AND active"
														  " AND role OPERATOR(pg_catalog.=) ANY ($2::protector.member_role[])",
														  2, argtypes, values));
}

static bool
array_has_uuid(ArrayType *arr, const pg_uuid_t *id)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(arr, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (!nulls[i] && memcmp(DatumGetUUIDP(elems[i])->data, id->data, UUID_LEN) == 0)
			return true;
	}
	return false;
}

static bool
caller_may(const pg_uuid_t *org, const Capability *cap)
{
	return protector_caller_is_trusted() || array_has_uuid(member_orgs(roles_of(cap)), org);
}

static void
refuse(const Capability *cap)
{
	/* (read before the error is being built: roles_of scans a catalog) */
	char	   *roles = role_list(roles_of(cap));

	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_FORBIDDEN),
			 errmsg("your role may not %s", cap->what),
			 errdetail("The action %s is for %s.", cap->action, roles)));
}

static void
not_found(const char *entity)
{
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_NOT_FOUND),
			 errmsg("%s not found", entity),
			 errdetail("It does not exist, or you may not see it.")));
}

static char *
entity_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *entity;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return "organization";
	entity = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strlen(entity) == 0 || strlen(entity) > 40)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_entity must be 1 to 40 characters")));
	return entity;
}

/* ---------- SQL functions ---------- */

/*
 * protector.capability_map() returns table (action text, roles member_role[],
 * description text)
 */
PG_FUNCTION_INFO_V1(protector_capability_map);
Datum
protector_capability_map(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			role_type;

	InitMaterializedSRF(fcinfo, 0);
	/* protector.member_role, from the declared result (member_role[]) */
	role_type = get_element_type(TupleDescAttr(rsinfo->setDesc, 1)->atttypid);
	for (size_t i = 0; i < lengthof(capability_map); i++)
	{
		const Capability *cap = &capability_map[i];
		int			may = roles_of(cap);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		Datum		roles[lengthof(member_roles)];
		int			n = 0;

		for (size_t r = 0; r < lengthof(member_roles); r++)
		{
			if (may & (1 << r))
				roles[n++] = DirectFunctionCall2(enum_in,
												 CStringGetDatum(member_roles[r]),
												 ObjectIdGetDatum(role_type));
		}
		values[0] = CStringGetTextDatum(cap->action);
		values[1] = PointerGetDatum(construct_array(roles, n, role_type, 4, true, TYPALIGN_INT));
		values[2] = CStringGetTextDatum(cap->what);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * protector_internal.orgs_with(p_action text) returns uuid[]
 *
 * The organizations in which the caller is an active member whose role may
 * do p_action: the role check of every RLS policy.  Empty without a user.
 */
PG_FUNCTION_INFO_V1(protector_orgs_with);
Datum
protector_orgs_with(PG_FUNCTION_ARGS)
{
	const Capability *cap = capability_arg(fcinfo, 0, "p_action");

	PG_RETURN_ARRAYTYPE_P(member_orgs(roles_of(cap)));
}

/*
 * May the caller see org's venues and services: trusted, an active
 * member of it, or one of its customers (the policies show them its
 * venues and services)?  For errors that name them; anyone else is
 * answered as for ids that do not exist.
 */
bool
protector_caller_sees_org(const pg_uuid_t *org)
{
	return protector_caller_is_trusted() || array_has_uuid(member_orgs(R_ALL), org) ||
		array_has_uuid(own_customer_orgs(), org);
}

/*
 * May the caller write a booking of org for customer, as far as a lock of
 * the customer's record may tell them: trusted, a member whose role may do
 * action (bookings.create for a new booking, as the policy bookings_insert
 * asks; bookings.update for one given another customer), or that customer.
 * Checks that lock the record ask it first: anyone else's row the policies
 * or guards refuse, and a lock taken for it told them by its wait that the
 * record existed (a viewer, an agent, or a customer naming another's).
 */
bool
protector_caller_may_book_for(const char *action, const pg_uuid_t *org, const pg_uuid_t *customer)
{
	return protector_caller_is_trusted() ||
		array_has_uuid(member_orgs(roles_of(find_capability(action))), org) ||
		array_has_uuid(own_customer_ids(), customer);
}

/*
 * Returns if trusted or the caller's user is an active member of org whose
 * role may do cap, else raises 42501 (a member whose role may not) or
 * "<entity> not found" (anyone else): authorize() and authorize_requester()
 * differ only in whom they trust.
 */
static void
authorize_member(const pg_uuid_t *org, const Capability *cap, const char *entity,
				 bool trusted)
{
	if (trusted || array_has_uuid(member_orgs(roles_of(cap)), org))
		return;
	if (array_has_uuid(member_orgs(R_ALL), org))
		refuse(cap);
	not_found(entity);
}

/*
 * The check of protector_internal.authorize() for C callers: returns if the
 * caller may do action in org, else raises 42501 (a member whose role may
 * not) or "<entity> not found" (anyone else).
 */
void
protector_authorize(const pg_uuid_t *org, const char *action, const char *entity)
{
	authorize_member(org, find_capability(action), entity, protector_caller_is_trusted());
}

/*
 * protector_internal.authorize_requester(p_organization_id uuid, p_action
 *		text, p_entity text) returns boolean
 *
 * authorize() for the inside of protector's own SECURITY DEFINER helpers:
 * there the role in force is the owner, which authorize() trusts (so that
 * the widget may book); this asks about the request only: the role that
 * made it (a superuser or BYPASSRLS role is trusted) and its JWT user's
 * memberships.
 */
PG_FUNCTION_INFO_V1(protector_authorize_requester);
Datum
protector_authorize_requester(PG_FUNCTION_ARGS)
{
	const Capability *cap = capability_arg(fcinfo, 1, "p_action");
	char	   *entity = entity_arg(fcinfo, 2);

	if (PG_ARGISNULL(0))
		not_found(entity);
	authorize_member(PG_GETARG_UUID_P(0), cap, entity, requester_is_trusted());
	PG_RETURN_BOOL(true);
}

/*
 * protector_internal.authorize(p_organization_id uuid, p_action text,
 *								p_entity text default 'organization')
 * returns boolean
 *
 * True if the caller may do p_action in the organization.  Otherwise
 * raises 42501 for a member of it whose role may not, and for anyone else
 * the same "<entity> not found" a missing row gets.  A NULL organization
 * of an RPC's own (p_entity 'organization': its p_organization_id) is a
 * missing argument (22023), as the RPCs that check it first say.
 */
PG_FUNCTION_INFO_V1(protector_authorize_sql);
Datum
protector_authorize_sql(PG_FUNCTION_ARGS)
{
	const Capability *cap = capability_arg(fcinfo, 1, "p_action");
	char	   *entity = entity_arg(fcinfo, 2);
	pg_uuid_t  *org;

	if (PG_ARGISNULL(0) && strcmp(entity, "organization") == 0)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_organization_id must not be null")));
	if (PG_ARGISNULL(0))
		not_found(entity);
	org = PG_GETARG_UUID_P(0);
	protector_authorize(org, cap->action, entity);
	PG_RETURN_BOOL(true);
}

/* ---------- one row: visible, allowed, locked ---------- */

#define ROW_PLANS 16

typedef struct RowPlans
{
	Oid			relid;
	bool		stale;			/* the table changed: its texts are rewritten */
	bool		has_customer;	/* the table has a customer_id column */
	SPIPlanPtr	visible;		/* organization_id [, customer_id], as the caller */
	SPIPlanPtr	lock;			/* SELECT ... FOR UPDATE, as the owner */
} RowPlans;

static RowPlans row_plans[ROW_PLANS];
static int	row_plans_next;		/* the slot replaced when all are taken */

/*
 * A plan is replanned after ALTER TABLE, but its text stays: whether it
 * reads customer_id and skips soft-deleted rows was decided from the
 * columns the table had (an update that adds deleted_at, or drops a
 * column, would otherwise keep the old text for the session's life).
 * The plans are freed at the next use, not here: a callback may run in
 * the middle of anything.
 */
static void
row_plans_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	for (int i = 0; i < ROW_PLANS; i++)
		if (OidIsValid(row_plans[i].relid) &&
			(relid == InvalidOid || row_plans[i].relid == relid))
			row_plans[i].stale = true;
}

/* a table of protector's whose row lookup cannot read uuids where it needs them */
static void
refuse_row_table(const char *rel, const char *name, Oid type)
{
	if (!OidIsValid(type))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("protector.%s has no uuid id and organization_id", rel),
				 errdetail("It has no column %s.", name)));
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
			 errmsg("protector.%s has no uuid id and organization_id", rel),
			 errdetail("Its column %s is of type %s.", name, format_type_be(type))));
}

/* a column the row lookup reads is there and a uuid (or, where a domain may be, over one) */
static void
check_uuid_column(Oid relid, const char *rel, const char *name, AttrNumber att, bool domain_may)
{
	Oid			type = att == InvalidAttrNumber ? InvalidOid : get_atttype(relid, att);

	if (!OidIsValid(type) || (domain_may ? getBaseType(type) : type) != UUIDOID)
		refuse_row_table(rel, name, type);
}

static RowPlans *
row_plans_for(Oid relid)
{
	char	   *nsp;
	char	   *rel;
	AttrNumber	id_att;
	AttrNumber	org_att;
	int			slot = -1;

	/* an empty slot's relid is InvalidOid: never look one up */
	if (!OidIsValid(relid))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_table must be a table of schema protector")));
	for (int i = 0; i < ROW_PLANS; i++)
	{
		if (row_plans[i].relid == relid && !row_plans[i].stale)
			return &row_plans[i];
		if (row_plans[i].relid == relid ||
			(slot < 0 && row_plans[i].relid == InvalidOid))
			slot = i;
	}
	nsp = get_namespace_name(get_rel_namespace(relid));
	rel = get_rel_name(relid);
	/* (an index or a composite type: the plan's preparation failed bare) */
	if (nsp == NULL || rel == NULL || strcmp(nsp, "protector") != 0 ||
		(get_rel_relkind(relid) != RELKIND_RELATION &&
		 get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_table must be a table of schema protector")));
	id_att = get_attnum(relid, "id");
	org_att = get_attnum(relid, "organization_id");
	check_uuid_column(relid, rel, "id", id_att, false);
	check_uuid_column(relid, rel, "organization_id", org_att, true);
	if (slot < 0)
	{
		/* more tables asked of than slots: replace the slots in turn */
		slot = row_plans_next;
		row_plans_next = (row_plans_next + 1) % ROW_PLANS;
	}
	protector_on_relcache_change(row_plans_relcache_callback);
	if (OidIsValid(row_plans[slot].relid))
	{
		SPI_freeplan(row_plans[slot].visible);
		SPI_freeplan(row_plans[slot].lock);
	}
	row_plans[slot].relid = InvalidOid;
	row_plans[slot].stale = false;
	{
		Oid			argtypes[1] = {UUIDOID};
		bool		soft = get_attnum(relid, "deleted_at") != InvalidAttrNumber;
		char	   *qual = quote_qualified_identifier("protector", rel);
		bool		has_customer = get_attnum(relid, "customer_id") != InvalidAttrNumber;
		char	   *visible = psprintf("SELECT organization_id%s FROM %s WHERE id OPERATOR(pg_catalog.=) $1%s",
									   has_customer ? ", customer_id" : "", qual,
									   soft ? " AND deleted_at IS NULL" : "");
		/*
		 * (the lock skips soft-deleted rows too: after waiting for a
		 * deletion, READ COMMITTED re-checks the whole condition against
		 * the row as it committed, so a call that waited for it is "not
		 * found", as one after it; it restored an active venue before)
		 */
		char	   *lock = psprintf("SELECT 1 FROM %s WHERE id OPERATOR(pg_catalog.=) $1%s FOR UPDATE",
									qual, soft ? " AND deleted_at IS NULL" : "");

		row_plans[slot].has_customer = has_customer;

		row_plans[slot].visible = NULL;
		row_plans[slot].lock = NULL;
		protector_keep_plan(&row_plans[slot].visible, visible, 1, argtypes);
		protector_keep_plan(&row_plans[slot].lock, lock, 1, argtypes);
	}
	row_plans[slot].relid = relid;
	return &row_plans[slot];
}

/*
 * protector_internal.authorize_row(p_table regclass, p_id uuid,
 *		p_action text, p_entity text, p_lock boolean default false,
 *		p_customer_may boolean default false)
 * returns uuid
 *
 * The one "load, not found unless visible, forbidden unless allowed" check.
 * The row must be visible to the caller under RLS (and not soft-deleted);
 * otherwise "<entity> not found", the same for another tenant's id and an
 * id that does not exist.  With p_action, the caller's role in the row's
 * organization must allow it, or with p_customer_may, for an action the
 * map lets customers do on their own bookings (own_bookings), the row's
 * customer_id must be one of the caller's own customer records (42501
 * otherwise: a customer asking for any other action's permit is refused).
 * With p_lock the row is then locked FOR UPDATE.  Returns the row's
 * organization_id.
 */
/* ---------- permits: authorizations proven earlier in the transaction ---------- */

/*
 * A SECURITY DEFINER helper runs as protector's owner and cannot tell who
 * called it: protector_caller_is_trusted() is true inside it for anyone.
 * So the RPC that authorized the request leaves a permit for the row of
 * its table and the action (authorize_row() does on success; permit() in
 * an RPC's trusted branch), and the helper requires one
 * (require_permit()).  A permit is the requester's (the role that made
 * the request and its JWT's user); it goes with the subtransaction that
 * gave it when that is rolled back, and with the transaction at its end.
 * A backend keeps the last MAX_PERMITS.
 */
#define MAX_PERMITS 32

typedef struct Permit
{
	Oid			relid;
	pg_uuid_t	row;
	const Capability *cap;
	Oid			requester;		/* the role that made the request */
	bool		has_user;		/* ... and its JWT's user, if any */
	pg_uuid_t	user;
	SubTransactionId subid;		/* given in this subtransaction */
} Permit;

static Permit permits[MAX_PERMITS];
static int	npermits = 0;
static LocalTransactionId permits_lxid = InvalidLocalTransactionId;

/* a new transaction starts without permits */
static void
forget_old_permits(void)
{
	if (permits_lxid != MyProc->lxid)
	{
		npermits = 0;
		permits_lxid = MyProc->lxid;
	}
}

/* a rolled-back subtransaction takes its permits (and its children's) along */
static void
permits_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid pg_attribute_unused(),
						 void *arg pg_attribute_unused())
{
	int			kept = 0;

	if (event != SUBXACT_EVENT_ABORT_SUB || permits_lxid != MyProc->lxid)
		return;
	for (int i = 0; i < npermits; i++)
	{
		if (permits[i].subid < mySubid)
			permits[kept++] = permits[i];
	}
	npermits = kept;
}

/* a permit for the table's row and the action, for whoever is asking now */
static Permit
permit_for(Oid relid, const pg_uuid_t *row, const Capability *cap)
{
	Permit		p = {0};

	p.relid = relid;
	p.row = *row;
	p.cap = cap;
	p.requester = GetOuterUserId();
	p.has_user = protector_get_current_user_id(&p.user);
	p.subid = GetCurrentSubTransactionId();
	return p;
}

static void
grant_permit(Oid relid, const pg_uuid_t *row, const Capability *cap)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterSubXactCallback(permits_subxact_callback, NULL);
		registered = true;
	}
	forget_old_permits();
	if (npermits == MAX_PERMITS)
	{
		memmove(&permits[0], &permits[1], sizeof(Permit) * (MAX_PERMITS - 1));
		npermits--;
	}
	permits[npermits++] = permit_for(relid, row, cap);
}

/* (a transaction that switches roles or users does not carry permits over) */
static bool
has_permit(Oid relid, const pg_uuid_t *row, const Capability *cap)
{
	Permit		wanted = permit_for(relid, row, cap);

	forget_old_permits();
	for (int i = 0; i < npermits; i++)
	{
		const Permit *p = &permits[i];

		if (p->relid == wanted.relid && p->cap == wanted.cap && p->requester == wanted.requester &&
			memcmp(&p->row, &wanted.row, UUID_LEN) == 0 && p->has_user == wanted.has_user &&
			(!p->has_user || memcmp(&p->user, &wanted.user, UUID_LEN) == 0))
			return true;
	}
	return false;
}

/* permit()'s and require_permit()'s arguments: the table, the row, the action */
static const Capability *
permit_args(FunctionCallInfo fcinfo, Oid *relid, pg_uuid_t **row)
{
	const Capability *cap = capability_arg(fcinfo, 2, "p_action");

	protector_require_arg(fcinfo, 0, "p_table");
	protector_require_arg(fcinfo, 1, "p_id");
	*relid = PG_GETARG_OID(0);
	*row = PG_GETARG_UUID_P(1);
	return cap;
}

/*
 * protector_internal.permit(p_table regclass, p_id uuid, p_action text)
 * returns void
 *
 * For an RPC's trusted branch (the widget's functions as protector's
 * owner, a role that bypasses RLS): a permit for p_action on the row.
 * Anyone else is refused: authorize_row() gives theirs.
 */
PG_FUNCTION_INFO_V1(protector_permit);
Datum
protector_permit(PG_FUNCTION_ARGS)
{
	Oid			relid;
	pg_uuid_t  *row;
	const Capability *cap = permit_args(fcinfo, &relid, &row);

	if (!protector_caller_is_trusted())
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_FORBIDDEN),
				 errmsg("only protector's own functions and trusted roles give permits"),
				 errhint("authorize_row() gives one for a row the caller may act on.")));
	grant_permit(relid, row, cap);
	PG_RETURN_VOID();
}

/*
 * protector_internal.require_permit(p_table regclass, p_id uuid, p_action
 * text) returns void
 *
 * For SECURITY DEFINER helpers: 42501 unless this transaction authorized
 * p_action on the row of p_table for the requester (authorize_row(),
 * permit()).
 */
PG_FUNCTION_INFO_V1(protector_require_permit);
Datum
protector_require_permit(PG_FUNCTION_ARGS)
{
	Oid			relid;
	pg_uuid_t  *row;
	const Capability *cap = permit_args(fcinfo, &relid, &row);

	if (!has_permit(relid, row, cap))
		refuse(cap);
	PG_RETURN_VOID();
}

/*
 * The columns the visibility query read are uuids (or domains over uuid)
 * as this call finds them: a table of protector's that a superuser gave
 * another organization_id or customer_id type, before or after its plan
 * was made, is refused rather than read as a pointer.
 */
static void
check_uuid_columns(Oid relid, TupleDesc desc)
{
	for (int i = 1; i <= desc->natts; i++)
		if (getBaseType(SPI_gettypeid(desc, i)) != UUIDOID)
			refuse_row_table(get_rel_name(relid), SPI_fname(desc, i), SPI_gettypeid(desc, i));
}

/*
 * The row's organization, and its customer if the table has one, as the
 * user who made the request sees the row (RLS applying); "not found"
 * when they cannot.
 */
static void
visible_row(RowPlans *plans, Datum id, const char *entity, pg_uuid_t *org,
			pg_uuid_t *customer, bool *has_customer)
{
	Oid			save_userid;
	int			save_sec;
	int			ret;
	bool		isnull;
	Datum		d;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(GetOuterUserId(),
						   (save_sec | SECURITY_LOCAL_USERID_CHANGE) & ~SECURITY_NOFORCE_RLS);
	ret = SPI_execute_plan(plans->visible, &id, NULL, true, 1);
	SetUserIdAndSecContext(save_userid, save_sec);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "visibility query failed: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
		not_found(entity);
	check_uuid_columns(plans->relid, SPI_tuptable->tupdesc);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		not_found(entity);
	*org = *DatumGetUUIDP(d);
	*has_customer = false;
	if (plans->has_customer)
	{
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		if (!isnull)
		{
			*customer = *DatumGetUUIDP(d);
			*has_customer = true;
		}
	}
}

typedef struct RowWait
{
	SPIPlanPtr	plan;
	Datum		id;
	int			ret;
} RowWait;

static void
wait_for_row(void *arg)
{
	RowWait    *w = (RowWait *) arg;

	w->ret = SPI_execute_plan(w->plan, &w->id, NULL, false, 1);
}

/*
 * locks the row as its table's owner, waiting at most as long as for a
 * service's lock (40001 "the booking is busy" after that); "not found" if
 * it went meanwhile, or was soft-deleted (deleted_at set)
 */
static void
lock_row(RowPlans *plans, Oid relid, Datum id, const char *entity)
{
	ProtectorElevation saved;
	RowWait		w = {plans->lock, id, 0};
	char	   *busy = psprintf("the %s is busy, try again", entity);

	protector_elevate(protector_table_owner(get_rel_name(relid)), &saved);
	protector_bounded_wait(wait_for_row, &w, busy, "Another request changing it", relid, InvalidTransactionId);
	protector_restore(&saved);
	if (w.ret != SPI_OK_SELECT)
		elog(ERROR, "row lock failed: %s", SPI_result_code_string(w.ret));
	if (SPI_processed != 1)
		not_found(entity);		/* deleted concurrently */
}

/*
 * For C code: locks the row of id of protector's table relid FOR UPDATE
 * as its owner, as protector_internal.lock_row() does
 */
void
protector_lock_row(Oid relid, Datum id, const char *entity)
{
	int			nestlevel = protector_spi_connect();

	lock_row(row_plans_for(relid), relid, id, entity);
	protector_spi_finish(nestlevel);
}

/*
 * protector_internal.lock_row(p_table regclass, p_id uuid, p_entity text)
 * returns void
 *
 * For protector's own SECURITY DEFINER code (granted to nobody): locks a
 * row of one of protector's tables FOR UPDATE as its owner, waiting at
 * most protector.lock_timeout (40001 "the <entity> is busy"); "not found"
 * if there is no such row.
 */
PG_FUNCTION_INFO_V1(protector_lock_row_sql);
Datum
protector_lock_row_sql(PG_FUNCTION_ARGS)
{
	char	   *entity;

	protector_require_arg(fcinfo, 0, "p_table");
	protector_require_arg(fcinfo, 1, "p_id");
	protector_require_arg(fcinfo, 2, "p_entity");
	entity = entity_arg(fcinfo, 2);
	protector_lock_row(PG_GETARG_OID(0), PG_GETARG_DATUM(1), entity);
	PG_RETURN_VOID();
}

/*
 * An owner's membership is changed by owners alone (members.manage_owners):
 * members.manage locks it for no one else.  An admin held an owner's row
 * locked through authorize_row for as long as they liked, and the owners'
 * own writes, which lock their rows, were told to retry meanwhile.
 */
static SPIPlanPtr owner_row_plan = NULL;

static void
refuse_owner_row_lock(const Capability *cap, Datum id, const pg_uuid_t *org, Snapshot snapshot)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1] = {id};
	bool		found;
	Datum		is_owner;
	const Capability *owners;

	if (strcmp(cap->action, "members.manage") != 0)
		return;
	is_owner = protector_select_datum_on(&owner_row_plan,
										 "SELECT m.role OPERATOR(pg_catalog.=) 'owner'::protector.member_role"
										 " FROM protector.members m WHERE m.id OPERATOR(pg_catalog.=) $1",
										 1, argtypes, values, snapshot, &found);
	if (!found || !DatumGetBool(is_owner))
		return;
	owners = find_capability("members.manage_owners");
	if (!caller_may(org, owners))
		refuse(owners);
}

PG_FUNCTION_INFO_V1(protector_authorize_row);
Datum
protector_authorize_row(PG_FUNCTION_ARGS)
{
	const Capability *cap = NULL;
	char	   *entity = entity_arg(fcinfo, 3);
	bool		lock = PG_NARGS() > 4 && !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
	bool		customer_may = PG_NARGS() > 5 && !PG_ARGISNULL(5) && PG_GETARG_BOOL(5);
	pg_uuid_t	customer;
	bool		has_customer;
	RowPlans   *plans;
	Datum		id;
	pg_uuid_t	org;
	int			nestlevel;

	protector_require_arg(fcinfo, 0, "p_table");
	if (!PG_ARGISNULL(2))
		cap = capability_arg(fcinfo, 2, "p_action");
	if (lock && cap == NULL)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_lock needs p_action"),
				 errdetail("A row is locked only for an action the caller may do.")));
	if (lock && !action_locks(cap, PG_GETARG_OID(0)))
	{
		char	   *rel = get_rel_name(PG_GETARG_OID(0));

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s does not lock rows of %s", cap->action, rel != NULL ? rel : "no table"),
				 errdetail("Rows are locked only for the actions that change them.")));
	}
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_%s_id must not be null", entity)));
	id = PG_GETARG_DATUM(1);

	nestlevel = protector_spi_connect();
	plans = row_plans_for(PG_GETARG_OID(0));

	visible_row(plans, id, entity, &org, &customer, &has_customer);

	if (cap != NULL && !caller_may(&org, cap) &&
		!(customer_may && cap->own_bookings && has_customer &&
		  array_has_uuid(own_customer_ids(), &customer)))
		refuse(cap);
	if (cap != NULL)
		grant_permit(PG_GETARG_OID(0), DatumGetUUIDP(id), cap);

	if (lock)
	{
		/*
		 * (before the lock, and as the row is once the lock is held, read
		 * on the latest snapshot: made an owner while this waited, it is
		 * one)
		 */
		refuse_owner_row_lock(cap, id, &org, NULL);
		lock_row(plans, PG_GETARG_OID(0), id, entity);
		refuse_owner_row_lock(cap, id, &org, GetLatestSnapshot());
	}
	protector_spi_finish(nestlevel);
	{
		pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));

		*result = org;
		PG_RETURN_UUID_P(result);
	}
}

/*
 * A uuid[] read from the caller's own customer records (merged-away ones
 * excluded) by sql, whose one parameter is the caller's user id; empty
 * when there is no caller.
 */
static ArrayType *
own_customer_uuids(SPIPlanPtr *plan, const char *sql)
{
	pg_uuid_t	uid;
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];

	if (!protector_get_current_user_id(&uid))
		return construct_empty_array(UUIDOID);
	values[0] = UUIDPGetDatum(&uid);
	return DatumGetArrayTypeP(protector_select_uuid_array(plan, sql, 1, argtypes, values));
}

/* the caller's own customer records */
static ArrayType *
own_customer_ids(void)
{
	return own_customer_uuids(&customer_ids_plan,
							  "SELECT COALESCE(pg_catalog.array_agg(id), '{}'::pg_catalog.uuid[])"
							  " FROM protector.customers"
							  " WHERE user_id OPERATOR(pg_catalog.=) $1 AND merged_into IS NULL");
}

/*
 * protector_internal.current_customer_ids() returns uuid[]
 *
 * The customer records (in any organization) linked to the caller's
 * account, merged-away records excluded.  Empty when there is no caller.
 */
PG_FUNCTION_INFO_V1(protector_current_customer_ids);
Datum
protector_current_customer_ids(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(own_customer_ids());
}

/*
 * protector_internal.customer_organizations() returns uuid[]
 *
 * The organizations in which the caller has a customer record: where a
 * customer sees the venues and services they may book.
 */
PG_FUNCTION_INFO_V1(protector_customer_organizations);
Datum
protector_customer_organizations(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(own_customer_orgs());
}

/* the organizations of the caller's own customer records */
static ArrayType *
own_customer_orgs(void)
{
	return own_customer_uuids(&customer_orgs_plan,
							  "SELECT COALESCE(pg_catalog.array_agg(DISTINCT organization_id), '{}'::pg_catalog.uuid[])"
							  " FROM protector.customers"
							  " WHERE user_id OPERATOR(pg_catalog.=) $1 AND merged_into IS NULL");
}

/*
 * protector_internal.caller_is_trusted() returns boolean
 */
PG_FUNCTION_INFO_V1(protector_caller_is_trusted_sql);
Datum
protector_caller_is_trusted_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(protector_caller_is_trusted());
}

/*
 * protector_internal.requester_is_trusted() returns boolean: for
 * protector's SECURITY DEFINER code asking about the request, not itself
 */
PG_FUNCTION_INFO_V1(protector_requester_is_trusted_sql);
Datum
protector_requester_is_trusted_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(requester_is_trusted());
}
